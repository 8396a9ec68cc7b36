"""inotify_init, inotify_init1, inotify_add_watch, inotify_rm_watch (gVisor: ``sys_inotify.go``;
Linux: fs/notify/inotify/inotify_user.c). The instance and the events are fs/inotify.py's and
fs/notify.py's; a blocked read is an io_waits row like a pipe's."""
from __future__ import annotations

from ..abi import (IN_ALL_EVENTS, IN_CLOEXEC, IN_DONT_FOLLOW, IN_EXCL_UNLINK, IN_IGNORED,
                   IN_ISDIR, IN_MASK_ADD, IN_MASK_CREATE, IN_NONBLOCK, IN_ONESHOT, IN_ONLYDIR,
                   IN_Q_OVERFLOW, IN_UNMOUNT, INOTIFY_MAX_USER_WATCHES)
from ..errors import E, KernelError
from ..fs.inodes import MAY_READ, DirInode, check_permission
from ..fs.anon import AnonInode
from ..fs.inotify import InotifyFile
from ..systems import fd_table
from .context import s32, u32
from .registry import FULL, syscall

ALL_INOTIFY_BITS = (IN_ALL_EVENTS | IN_UNMOUNT | IN_Q_OVERFLOW | IN_IGNORED | IN_ONLYDIR
                    | IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_MASK_CREATE | IN_MASK_ADD | IN_ISDIR
                    | IN_ONESHOT)


def _init(t, flags: int) -> int:
    if flags & ~(IN_CLOEXEC | IN_NONBLOCK):
        raise KernelError(E.EINVAL)
    return fd_table.new_fd(t.world, t.row, InotifyFile(AnonInode("inotify"), flags),
                           cloexec=bool(flags & IN_CLOEXEC))


@syscall("inotify_init", FULL, args=())
def inotify_init(t):
    """Implements inotify_init(2)."""
    return _init(t, 0)


@syscall("inotify_init1", FULL, args=("x",))
def inotify_init1(t, flags):
    """Implements inotify_init1(2)."""
    return _init(t, s32(flags))


def _instance(t, fd: int) -> InotifyFile:
    desc = fd_table.get_file(t.world, t.row, s32(fd))
    if not isinstance(desc, InotifyFile):
        raise KernelError(E.EINVAL, "not an inotify instance")
    return desc


@syscall("inotify_add_watch", FULL, "events from the guest's own file operations (the host's "
         "changes to files it has not copied up are not seen); a directory's reads raise no "
         "IN_ACCESS; IN_DELETE_SELF comes when the last name goes, even while the file is open",
         args=("fd", "s", "x"))
def inotify_add_watch(t, fd, path, mask):
    """Implements inotify_add_watch(2)."""
    mask = u32(mask)
    if mask & IN_MASK_ADD and mask & IN_MASK_CREATE:
        raise KernelError(E.EINVAL, "IN_MASK_ADD with IN_MASK_CREATE")
    if not mask & ALL_INOTIFY_BITS:
        raise KernelError(E.EINVAL, "no events")
    inst = _instance(t, fd)
    p = t.mm.copy_in_string(path, 4096)
    res = t.fs.resolve(p, cwd=t.fsctx.cwd, follow=not mask & IN_DONT_FOLLOW, creds=t.creds())
    inode = res.inode
    if mask & IN_ONLYDIR and not isinstance(inode, DirInode):
        raise KernelError(E.ENOTDIR)
    check_permission(inode, t.creds(), MAY_READ)
    if not any(ino is inode for ino, _ in inst.watches.values()) \
            and len(inst.watches) >= INOTIFY_MAX_USER_WATCHES:
        raise KernelError(E.ENOSPC, "max_user_watches")
    return inst.add_watch(inode, mask & ~(IN_DONT_FOLLOW | IN_ONLYDIR))


@syscall("inotify_rm_watch", FULL, args=("fd", "i"))
def inotify_rm_watch(t, fd, wd):
    """Implements inotify_rm_watch(2)."""
    _instance(t, fd).rm_watch(s32(wd))
    return 0
