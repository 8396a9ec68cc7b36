"""seccomp(2) and prctl's PR_SET_SECCOMP (gVisor: syscalls/linux/sys_seccomp.go).

The kernel half (the check of a program, the chain of filters, the verdict on each syscall) is
systems/seccomp.py; this module reads the guest's arguments.
"""
from __future__ import annotations

import struct

import numpy as np

from ..abi import (SECCOMP_GET_ACTION_AVAIL, SECCOMP_GET_NOTIF_SIZES, SECCOMP_MODE_FILTER,
                   SECCOMP_MODE_STRICT, SECCOMP_NOTIF_SIZES, SECCOMP_SET_MODE_FILTER,
                   SECCOMP_SET_MODE_STRICT)
from ..errors import E, KernelError
from ..systems import seccomp
from .context import u32
from .registry import PARTIAL, syscall


def read_fprog(t, addr: int) -> np.ndarray:
    """A ``struct sock_fprog`` at ``addr`` and its instructions (EFAULT, EINVAL for a length of 0
    or past BPF_MAXINSNS)."""
    n, filt = struct.unpack("<H6xQ", t.mm.copy_in(addr, 16))
    if n == 0 or n > 4096:
        raise KernelError(E.EINVAL, "bad filter length")
    return np.frombuffer(t.mm.copy_in(filt, 8 * n), "<i8").copy()


def do_seccomp(t, op: int, flags: int, uargs: int) -> int:
    """do_seccomp: the operations of seccomp(2)."""
    w, row = t.world, t.row
    if op == SECCOMP_SET_MODE_STRICT:
        if flags or uargs:
            raise KernelError(E.EINVAL)
        seccomp.set_mode_strict(w, row)
        return 0
    if op == SECCOMP_SET_MODE_FILTER:
        if flags & ~seccomp.FILTER_FLAGS:
            raise KernelError(E.EINVAL, "unknown filter flags")
        return seccomp.set_mode_filter(w, row, flags, read_fprog(t, uargs))
    if op == SECCOMP_GET_ACTION_AVAIL:
        if flags:
            raise KernelError(E.EINVAL)
        action = t.mm.copy_in_u32(uargs)
        if action not in seccomp.ACTIONS:
            raise KernelError(E.EOPNOTSUPP)
        return 0
    if op == SECCOMP_GET_NOTIF_SIZES:
        if flags:
            raise KernelError(E.EINVAL)
        t.mm.copy_out(uargs, struct.pack("<HHH", *SECCOMP_NOTIF_SIZES))
        return 0
    raise KernelError(E.EINVAL)


@syscall("seccomp", PARTIAL, "strict and filter modes (classic BPF, TSYNC, LOG), every verdict "
         "(TRACE with PTRACE_O_TRACESECCOMP); no user-notification listener (NEW_LISTENER EINVAL, "
         "USER_NOTIF ENOSYS), SPEC_ALLOW accepted and not modelled",
         args=("i", "x", "p"))
def sys_seccomp(t, op, flags, uargs):
    """Implements seccomp(2)."""
    return do_seccomp(t, u32(op), u32(flags), uargs)


def prctl_set_seccomp(t, mode: int, filt: int) -> int:
    """prctl(PR_SET_SECCOMP, mode, filter)."""
    if mode == SECCOMP_MODE_STRICT:
        return do_seccomp(t, SECCOMP_SET_MODE_STRICT, 0, 0)
    if mode == SECCOMP_MODE_FILTER:
        return do_seccomp(t, SECCOMP_SET_MODE_FILTER, 0, filt)
    raise KernelError(E.EINVAL)


__all__ = ["do_seccomp", "prctl_set_seccomp"]
