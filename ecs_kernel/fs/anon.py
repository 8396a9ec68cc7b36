"""Anonymous inodes (Linux fs/anon_inodes.c): the inode behind an epoll, eventfd, timerfd,
signalfd, inotify or pidfd description, whose /proc/PID/fd link reads anon_inode:[kind]."""
from __future__ import annotations

import time

from ..checkpoint_objects import state_class, state_global
from .inodes import Inode, SuperBlock
from .stat import makedev

ANON_SB = SuperBlock("anon_inodefs", makedev(0, 0x0E), time.time_ns)
state_global("sys_epoll.ANON_SB", ANON_SB)  # the name checkpoints have always used


@state_class
class AnonInode(Inode):
    """The inode behind an epoll or eventfd description (anon_inode:[...])."""

    ftype = 0

    __state__ = {"kind": "str"}

    def __init__(self, kind: str):
        super().__init__(ANON_SB, 0o600)
        self.kind = kind


__all__ = ["ANON_SB", "AnonInode"]
