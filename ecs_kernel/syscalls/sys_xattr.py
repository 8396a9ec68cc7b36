"""Extended attribute syscalls: set/get/list/remove, by path, by path without following the last
symlink, by fd, and the *xattrat forms (Linux 6.13) that take a dirfd, a path and AT_* flags.

gVisor: ``sys_xattr.go``. Linux: fs/xattr.c (path_setxattrat and friends). What is stored and the
namespace rules are fs/xattr.py's.

Every call copies its arguments in first (the flags, the name: empty or longer than
XATTR_NAME_MAX is ERANGE; a value longer than XATTR_SIZE_MAX is E2BIG), then finds the file: an
fd (fdget: EBADF for an O_PATH fd) or a path (getname: an empty path is ENOENT unless the call
took AT_EMPTY_PATH, then it names the dirfd, or the working directory for AT_FDCWD).
"""
from __future__ import annotations

import struct

from .. import abi
from ..abi import (AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, IN_ATTRIB, PAGE_SIZE, PATH_MAX,
                   XATTR_ARGS_SIZE_VER0, XATTR_CREATE, XATTR_LIST_MAX, XATTR_NAME_MAX,
                   XATTR_REPLACE, XATTR_SIZE_MAX)
from ..errors import E, KernelError
from ..fs import notify, xattr
from ..fs.inodes import DirInode
from ..systems import fd_table
from .context import s32, u32
from .registry import FULL, syscall

NOTE = ("user.*, trusted.* (CAP_SYS_ADMIN) and security.* (security.capability checked and "
        "converted as commoncap does) on tmpfs and overlay files, as Linux's tmpfs; a host file "
        "seen through the overlay shows none of the host's attributes (a copy-up starts from none); "
        "sockets show system.sockprotoname; /proc, /sys, pipes and other system.* names (POSIX "
        "ACLs are not modelled): EOPNOTSUPP")


def _name(t, addr: int) -> str:
    """import_xattr_name: ERANGE for an empty name or one of more than XATTR_NAME_MAX bytes."""
    try:
        raw = t.mm.copy_in_string(addr, XATTR_NAME_MAX + 1)
    except KernelError as e:
        if e.errno == E.ENAMETOOLONG:
            raise KernelError(E.ERANGE, "attribute name too long") from None
        raise
    if not raw:
        raise KernelError(E.ERANGE, "empty attribute name")
    return raw.decode("latin-1")


class _Target:
    """The file a call works on: its inode, and how to tell inotify (IN_ATTRIB)."""

    def __init__(self, inode, desc=None, res=None):
        self.inode, self.desc, self.res = inode, desc, res

    def changed(self) -> None:
        if self.desc is not None:
            notify.file_event(self.desc, IN_ATTRIB)
        else:
            isdir = abi.IN_ISDIR if isinstance(self.inode, DirInode) else 0
            notify.notify(self.inode, IN_ATTRIB | isdir, parent=self.res.parent, name=self.res.name)


def _target(t, dfd: int, path_addr: int, at_flags: int) -> _Target:
    """getname_maybe_null, then the fd (CLASS(fd): EBADF, O_PATH included) or the path lookup."""
    dfd = s32(dfd)
    path = None
    if path_addr or not at_flags & AT_EMPTY_PATH:
        path = t.mm.copy_in_string(path_addr, PATH_MAX)
        if not path:
            if not at_flags & AT_EMPTY_PATH:
                raise KernelError(E.ENOENT, "an empty path")
            path = None
    if path is None:
        if dfd >= 0:
            desc = fd_table.get_file(t.world, t.row, dfd)
            desc._need_open()
            return _Target(desc.inode, desc=desc)
        if dfd != AT_FDCWD:
            raise KernelError(E.EBADF)
        path = b"."  # the empty path names the working directory
    cwd = None
    if not path.startswith(b"/"):
        cwd = t.fsctx.cwd if dfd == AT_FDCWD else fd_table.get_file(t.world, t.row, dfd)
    res = t.fs.resolve(path, cwd=cwd, follow=not at_flags & AT_SYMLINK_NOFOLLOW, creds=t.creds())
    return _Target(res.inode, res=res)


def _check_at_flags(at_flags: int) -> int:
    at_flags = u32(at_flags)
    if at_flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise KernelError(E.EINVAL, "unknown AT_* flags")
    return at_flags


# -- the four operations, as path_*xattrat does them ----------------------------------------------

def _setxattrat(t, dfd, path, at_flags, name, value, size, flags) -> int:
    at_flags = _check_at_flags(at_flags)
    flags = s32(flags)
    if flags & ~(XATTR_CREATE | XATTR_REPLACE):
        raise KernelError(E.EINVAL, "unknown XATTR_* flags")
    kname = _name(t, name)
    if size > XATTR_SIZE_MAX:
        raise KernelError(E.E2BIG, "attribute value too large")
    kvalue = t.mm.copy_in(value, size) if size else b""
    target = _target(t, dfd, path, at_flags)
    xattr.set_value(target.inode, kname, kvalue, flags, t.creds())
    target.changed()
    return 0


def _getxattrat(t, dfd, path, at_flags, name, value, size) -> int:
    at_flags = _check_at_flags(at_flags)
    kname = _name(t, name)
    target = _target(t, dfd, path, at_flags)
    size = min(size, XATTR_SIZE_MAX)  # no value is longer: ERANGE never becomes E2BIG here
    data = xattr.get(target.inode, kname, t.creds())
    if size:
        if size < len(data):
            raise KernelError(E.ERANGE, "value buffer too small")
        t.mm.copy_out(value, data)
    return len(data)


def _listxattrat(t, dfd, path, at_flags, lst, size) -> int:
    at_flags = _check_at_flags(at_flags)
    target = _target(t, dfd, path, at_flags)
    size = min(size, XATTR_LIST_MAX)
    names = xattr.list_names(target.inode, t.creds())
    if size:
        if size < len(names):
            if size >= XATTR_LIST_MAX:
                raise KernelError(E.E2BIG, "the names do not fit in XATTR_LIST_MAX")
            raise KernelError(E.ERANGE, "list buffer too small")
        if names:
            t.mm.copy_out(lst, names)
    return len(names)


def _removexattrat(t, dfd, path, at_flags, name) -> int:
    at_flags = _check_at_flags(at_flags)
    kname = _name(t, name)
    target = _target(t, dfd, path, at_flags)
    xattr.remove(target.inode, kname, t.creds())
    target.changed()
    return 0


# -- the twelve classic calls and the four *at ones --------------------------------------------------

@syscall("setxattr", FULL, NOTE, args=("s", "str", "p", "u", "x"))
def setxattr(t, path, name, value, size, flags):
    """Implements setxattr(2)."""
    return _setxattrat(t, AT_FDCWD, path, 0, name, value, size, flags)


@syscall("lsetxattr", FULL, NOTE, args=("s", "str", "p", "u", "x"))
def lsetxattr(t, path, name, value, size, flags):
    """Implements lsetxattr(2)."""
    return _setxattrat(t, AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, name, value, size, flags)


@syscall("fsetxattr", FULL, NOTE, args=("fd", "str", "p", "u", "x"))
def fsetxattr(t, fd, name, value, size, flags):
    """Implements fsetxattr(2)."""
    return _setxattrat(t, fd, 0, AT_EMPTY_PATH, name, value, size, flags)


@syscall("getxattr", FULL, NOTE, args=("s", "str", "p", "u"))
def getxattr(t, path, name, value, size):
    """Implements getxattr(2)."""
    return _getxattrat(t, AT_FDCWD, path, 0, name, value, size)


@syscall("lgetxattr", FULL, NOTE, args=("s", "str", "p", "u"))
def lgetxattr(t, path, name, value, size):
    """Implements lgetxattr(2)."""
    return _getxattrat(t, AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, name, value, size)


@syscall("fgetxattr", FULL, NOTE, args=("fd", "str", "p", "u"))
def fgetxattr(t, fd, name, value, size):
    """Implements fgetxattr(2)."""
    return _getxattrat(t, fd, 0, AT_EMPTY_PATH, name, value, size)


@syscall("listxattr", FULL, NOTE, args=("s", "p", "u"))
def listxattr(t, path, lst, size):
    """Implements listxattr(2)."""
    return _listxattrat(t, AT_FDCWD, path, 0, lst, size)


@syscall("llistxattr", FULL, NOTE, args=("s", "p", "u"))
def llistxattr(t, path, lst, size):
    """Implements llistxattr(2)."""
    return _listxattrat(t, AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, lst, size)


@syscall("flistxattr", FULL, NOTE, args=("fd", "p", "u"))
def flistxattr(t, fd, lst, size):
    """Implements flistxattr(2)."""
    return _listxattrat(t, fd, 0, AT_EMPTY_PATH, lst, size)


@syscall("removexattr", FULL, NOTE, args=("s", "str"))
def removexattr(t, path, name):
    """Implements removexattr(2)."""
    return _removexattrat(t, AT_FDCWD, path, 0, name)


@syscall("lremovexattr", FULL, NOTE, args=("s", "str"))
def lremovexattr(t, path, name):
    """Implements lremovexattr(2)."""
    return _removexattrat(t, AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, name)


@syscall("fremovexattr", FULL, NOTE, args=("fd", "str"))
def fremovexattr(t, fd, name):
    """Implements fremovexattr(2)."""
    return _removexattrat(t, fd, 0, AT_EMPTY_PATH, name)


def _xattr_args(t, uargs: int, usize: int) -> tuple[int, int, int]:
    """copy_struct_from_user of a struct xattr_args {u64 value; u32 size; u32 flags}: E2BIG past
    a page or for non-zero bytes past what we know, EINVAL below the first version."""
    if usize > PAGE_SIZE:
        raise KernelError(E.E2BIG, "xattr_args larger than a page")
    if usize < XATTR_ARGS_SIZE_VER0:
        raise KernelError(E.EINVAL, "xattr_args too small")
    raw = t.mm.copy_in(uargs, usize)
    if any(raw[XATTR_ARGS_SIZE_VER0:]):
        raise KernelError(E.E2BIG, "unknown xattr_args fields set")
    return struct.unpack_from("<QII", raw)


@syscall("setxattrat", FULL, NOTE, args=("dirfd", "s", "atflags", "str", "p", "u"))
def setxattrat(t, dfd, path, at_flags, name, uargs, usize):
    """Implements setxattrat(2)."""
    value, size, flags = _xattr_args(t, uargs, usize)
    return _setxattrat(t, dfd, path, at_flags, name, value, size, flags)


@syscall("getxattrat", FULL, NOTE, args=("dirfd", "s", "atflags", "str", "p", "u"))
def getxattrat(t, dfd, path, at_flags, name, uargs, usize):
    """Implements getxattrat(2): the args' flags must be 0."""
    value, size, flags = _xattr_args(t, uargs, usize)
    if flags:
        raise KernelError(E.EINVAL, "getxattrat takes no flags")
    return _getxattrat(t, dfd, path, at_flags, name, value, size)


@syscall("listxattrat", FULL, NOTE, args=("dirfd", "s", "atflags", "p", "u"))
def listxattrat(t, dfd, path, at_flags, lst, size):
    """Implements listxattrat(2)."""
    return _listxattrat(t, dfd, path, at_flags, lst, size)


@syscall("removexattrat", FULL, NOTE, args=("dirfd", "s", "atflags", "str"))
def removexattrat(t, dfd, path, at_flags, name):
    """Implements removexattrat(2)."""
    return _removexattrat(t, dfd, path, at_flags, name)


__all__ = ["NOTE"]
