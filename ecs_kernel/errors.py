"""Errors that cross the kernel boundary.

Kernel-level calls (the ones a syscall handler makes) report failure the way Linux does: by an errno.
Inside the package they raise :class:`KernelError`; the syscall layer turns it into ``-errno`` for the
guest. Misuse of the Python API by a *user* of the World (a stale or foreign handle) raises the
specific exceptions below, which name the handle, because that is a bug in the caller, not a guest
error.
"""
from __future__ import annotations

import errno as _errno


class KernelError(Exception):
    """A kernel call failed with ``errno`` (a positive Linux errno number)."""

    def __init__(self, errno: int, message: str = ""):
        self.errno = int(errno)
        name = _errno.errorcode.get(self.errno, str(self.errno))
        super().__init__(f"{name}: {message}" if message else name)

    @property
    def name(self) -> str:
        return _errno.errorcode.get(self.errno, str(self.errno))


class HandleError(LookupError):
    """A handle does not name a live entity of the table it was used with."""


class StaleHandleError(HandleError):
    """The handle's row was freed (and maybe reused): its generation does not match."""


class ForeignHandleError(HandleError):
    """The handle belongs to another table or another World."""


# Kernel-internal restart codes (include/linux/errno.h): never seen by a guest; signal delivery
# turns them into a restart of the syscall or into -EINTR.
ERESTARTSYS = 512
ERESTARTNOINTR = 513
ERESTARTNOHAND = 514
ERESTART_RESTARTBLOCK = 516


# Re-export the errno constants we use so handlers write ``E.ESRCH``.
class E:
    EPERM = _errno.EPERM
    ENOENT = _errno.ENOENT
    ESRCH = _errno.ESRCH
    EINTR = _errno.EINTR
    EIO = _errno.EIO
    E2BIG = _errno.E2BIG
    ENOEXEC = _errno.ENOEXEC
    EBADF = _errno.EBADF
    ECHILD = _errno.ECHILD
    EAGAIN = _errno.EAGAIN
    EDEADLK = _errno.EDEADLK
    ENOMEM = _errno.ENOMEM
    EACCES = _errno.EACCES
    EFAULT = _errno.EFAULT
    EBUSY = _errno.EBUSY
    EEXIST = _errno.EEXIST
    ENOTDIR = _errno.ENOTDIR
    EISDIR = _errno.EISDIR
    EINVAL = _errno.EINVAL
    ENFILE = _errno.ENFILE
    EMFILE = _errno.EMFILE
    ENOTTY = _errno.ENOTTY
    ENOSPC = _errno.ENOSPC
    ESPIPE = _errno.ESPIPE
    EROFS = _errno.EROFS
    EPIPE = _errno.EPIPE
    ERANGE = _errno.ERANGE
    ENAMETOOLONG = _errno.ENAMETOOLONG
    ENOSYS = _errno.ENOSYS
    ENOTEMPTY = _errno.ENOTEMPTY
    ELOOP = _errno.ELOOP
    EUSERS = _errno.EUSERS
    ETIMEDOUT = _errno.ETIMEDOUT
    EAFNOSUPPORT = _errno.EAFNOSUPPORT
    EOVERFLOW = _errno.EOVERFLOW
    EXDEV = _errno.EXDEV
