"""Errors that cross the kernel boundary.

Kernel-level calls (the ones a syscall handler makes) report failure the way Linux does: by an errno.
Inside the package they raise :class:`KernelError`; the syscall layer turns it into ``-errno`` for the
guest. Misuse of the Python API by a *user* of the World (a stale or foreign handle) raises the
specific exceptions below, which name the handle, because that is a bug in the caller, not a guest
error.
"""
from __future__ import annotations

import errno as _errno

from . import abi


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


# Errno numbers as ``E.ESRCH``: abi.py is their one home (with the kernel-internal ERESTART* codes
# that signal delivery turns into a restart or -EINTR).
E = abi
