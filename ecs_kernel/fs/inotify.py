"""inotify instances (Linux: fs/notify/inotify/; gVisor: vfs/inotify.go): watches on inodes of
the guest's file view and the queue of events fs/notify.py raises into them.

A watch is kept twice, as Linux keeps a mark on the inode and in the group: the instance's
``watches`` (wd -> [inode, mask]) and the inode's ``watches`` list of ``[instance, wd]`` (absent
on an inode nobody watches). Both sides are checkpointed with the objects. An event equal to the last one queued is merged into it; past ``INOTIFY_MAX_QUEUED_EVENTS``
one IN_Q_OVERFLOW is queued and further events are dropped. IN_ONESHOT watches and watches whose
inode was deleted go away with an IN_IGNORED event.
"""
from __future__ import annotations

import struct
from collections import deque

from ..abi import (FIONREAD, IN_IGNORED, IN_Q_OVERFLOW, INOTIFY_EVENT_SIZE,
                   INOTIFY_MAX_QUEUED_EVENTS)
from .. import abi
from ..checkpoint_objects import state_class
from ..errors import E, KernelError
from .file import FileDescription

_EVENT = struct.Struct("<iIII")  # wd, mask, cookie, len


@state_class
class InotifyFile(FileDescription):
    """An inotify instance: its watches and its queue of events ``(wd, mask, cookie, name)``."""

    rw_ops = (True, False)
    rw_iter = (False, False)  # inotify_read is a .read

    seekable = False

    __state__ = {"watches": "dict[int,[@Inode,int]]", "next_wd": "int",
                 "events": "deque[(int,int,int,bytes)]", "queued_bytes": "int"}

    def __init__(self, anon_inode, flags: int):
        super().__init__(anon_inode, abi.O_RDONLY | (flags & abi.O_NONBLOCK), "anon_inode:inotify")
        self.watches: dict[int, list] = {}
        self.next_wd = 1
        self.events: deque = deque()
        self.queued_bytes = 0

    # -- watches -------------------------------------------------------------------------------
    def add_watch(self, inode, mask: int) -> int:
        """inotify_update_watch / inotify_new_watch: the watch's descriptor."""
        for wd, (ino, old) in self.watches.items():
            if ino is inode:
                if mask & abi.IN_MASK_CREATE:
                    raise KernelError(E.EEXIST, "already watched")
                new = (old | mask) if mask & abi.IN_MASK_ADD else mask
                self.watches[wd][1] = new & ~(abi.IN_MASK_ADD | abi.IN_MASK_CREATE)
                return wd
        wd = self.next_wd
        self.next_wd += 1
        self.watches[wd] = [inode, mask & ~(abi.IN_MASK_ADD | abi.IN_MASK_CREATE)]
        if not inode.__dict__.get("watches"):
            inode.watches = []
        inode.watches.append([self, wd])
        return wd

    def rm_watch(self, wd: int, *, ignored: bool = True) -> None:
        entry = self.watches.pop(wd, None)
        if entry is None:
            raise KernelError(E.EINVAL, f"no watch {wd}")
        inode = entry[0]
        lst = inode.__dict__.get("watches")
        if lst is not None:
            lst[:] = [w for w in lst if not (w[0] is self and w[1] == wd)]
            if not lst:
                del inode.watches
        if ignored:
            self.queue(wd, IN_IGNORED, 0, b"")

    def release(self) -> None:
        for wd in list(self.watches):
            self.rm_watch(wd, ignored=False)
        super().release()

    # -- the queue -----------------------------------------------------------------------------
    @staticmethod
    def _size(name: bytes) -> int:
        return INOTIFY_EVENT_SIZE + ((len(name) + 1 + 15) // 16 * 16 if name else 0)

    def queue(self, wd: int, mask: int, cookie: int, name: bytes) -> None:
        ev = (wd, mask, cookie, name)
        if self.events and self.events[-1] == ev:
            return  # inotify_merge: the same event as the last one queued
        if len(self.events) >= INOTIFY_MAX_QUEUED_EVENTS:
            if self.events[-1][1] != IN_Q_OVERFLOW:
                self.events.append((-1, IN_Q_OVERFLOW, 0, b""))
                self.queued_bytes += INOTIFY_EVENT_SIZE
                self.notify(abi.POLLIN | abi.POLLRDNORM)
            return
        self.events.append(ev)
        self.queued_bytes += self._size(name)
        # fsnotify_insert_event wakes the readers and pollers of a queued event (a merged one,
        # or one past the overflow event, wakes nobody)
        self.notify(abi.POLLIN | abi.POLLRDNORM)

    def read(self, n: int) -> bytes:
        if not self.events:
            raise KernelError(E.EAGAIN)
        out = bytearray()
        while self.events:
            wd, mask, cookie, name = self.events[0]
            size = self._size(name)
            if len(out) + size > n:
                break
            ln = size - INOTIFY_EVENT_SIZE
            out += _EVENT.pack(wd, mask, cookie, ln) + name + bytes(ln - len(name))
            self.events.popleft()
            self.queued_bytes -= size
        if not out:
            raise KernelError(E.EINVAL, "the buffer is smaller than the next event")
        return bytes(out)

    def readable(self) -> bool:
        return bool(self.events)

    def writable(self) -> bool:
        return False

    def write(self, data: bytes) -> int:
        raise KernelError(E.EBADF, "not open for writing")

    def ioctl(self, request: int, arg: bytes | int = 0) -> tuple[int, bytes | None]:
        if request == FIONREAD:
            return 0, struct.pack("<i", self.queued_bytes)
        raise KernelError(E.ENOTTY, "inappropriate ioctl for device")

    def fdinfo(self, world) -> str:
        out = []
        for wd, (inode, mask) in sorted(self.watches.items()):
            st = inode.stat()
            dev = (st.st_dev >> 8 & 0xFFF) << 20 | (st.st_dev & 0xFF)
            out.append(f"inotify wd:{wd:x} ino:{st.st_ino:x} sdev:{dev:x} mask:{mask:x} "
                       f"ignored_mask:0\n")
        return "".join(out)


__all__ = ["InotifyFile"]
