"""Signal syscalls that store state: rt_sigaction, rt_sigprocmask, rt_sigpending, sigaltstack.

gVisor: ``sys_signal.go``. The handlers table is the SignalHandlers component (shared under
CLONE_SIGHAND), the mask is ``tasks.sig_mask``. Delivery of signals to guest handlers arrives
with the signals issue; until then a stored handler is never called.
"""
from __future__ import annotations

import struct

from ..components.signals import NSIG, SIGKILL, SIGSTOP, sigmask
from ..errors import E, KernelError
from .context import s32, u32
from .table import PARTIAL, syscall

SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
_SIGACTION = struct.Struct("<QQQQ")  # handler, flags, restorer, mask (kernel struct sigaction)
_UNBLOCKABLE = int(sigmask(SIGKILL)) | int(sigmask(SIGSTOP))
SS_ONSTACK, SS_DISABLE = 1, 2
MINSIGSTKSZ = 2048


@syscall("rt_sigaction", PARTIAL, "stored; delivery to handlers arrives with the signals issue",
         args=("i", "p", "p", "u"))
def rt_sigaction(t, signo, act, oldact, sigsetsize):
    """Implements rt_sigaction(2)."""
    sig = s32(signo)
    if sigsetsize != 8 or not 1 <= sig <= NSIG:
        raise KernelError(E.EINVAL)
    if act and sig in (SIGKILL, SIGSTOP):
        raise KernelError(E.EINVAL)
    w = t.world
    sh = int(w.tasks.sighand[t.row])
    S = w.signal_handlers
    new = _SIGACTION.unpack(t.mm.copy_in(act, 32)) if act else None
    if oldact:
        old = (int(S.sa_handler[sh, sig - 1]), int(S.sa_flags[sh, sig - 1]),
               int(getattr(t, "restorers", {}).get(sig, 0)), int(S.sa_mask[sh, sig - 1]))
        t.mm.copy_out(oldact, _SIGACTION.pack(*old))
    if new is not None:
        handler, flags, restorer, mask = new
        S.sa_handler[sh, sig - 1] = handler
        S.sa_flags[sh, sig - 1] = flags
        S.sa_mask[sh, sig - 1] = mask & ~_UNBLOCKABLE
        if not hasattr(t, "restorers"):
            t.restorers = {}
        t.restorers[sig] = restorer
    return 0


@syscall("rt_sigprocmask", PARTIAL, "the mask is kept; pending signals are not yet delivered",
         args=("i", "p", "p", "u"))
def rt_sigprocmask(t, how, set_, oldset, sigsetsize):
    """Implements rt_sigprocmask(2)."""
    if sigsetsize != 8:
        raise KernelError(E.EINVAL)
    T = t.world.tasks
    old = int(T.sig_mask[t.row])
    new = None
    if set_:
        s = struct.unpack("<Q", t.mm.copy_in(set_, 8))[0]
        h = s32(how)
        if h == SIG_BLOCK:
            new = old | s
        elif h == SIG_UNBLOCK:
            new = old & ~s
        elif h == SIG_SETMASK:
            new = s
        else:
            raise KernelError(E.EINVAL)
    if oldset:
        t.mm.copy_out(oldset, struct.pack("<Q", old))
    if new is not None:
        T.sig_mask[t.row] = new & ~_UNBLOCKABLE & ((1 << 64) - 1)
    return 0


@syscall("rt_sigpending", PARTIAL, "pending sets as stored", args=("p", "u"))
def rt_sigpending(t, set_, sigsetsize):
    """Implements rt_sigpending(2)."""
    if sigsetsize > 8:
        raise KernelError(E.EINVAL)
    w = t.world
    pend = int(w.tasks.sig_pending[t.row]) | int(w.thread_groups.group_pending[t.tg])
    pend &= int(w.tasks.sig_mask[t.row])
    t.mm.copy_out(set_, struct.pack("<Q", pend)[:sigsetsize])
    return 0


_STACK = struct.Struct("<QiiQ")  # ss_sp, ss_flags, pad, ss_size


@syscall("sigaltstack", PARTIAL, "stored; used once signal delivery exists", args=("p", "p"))
def sigaltstack(t, ss, old_ss):
    """Implements sigaltstack(2)."""
    cur = getattr(t, "altstack", (0, SS_DISABLE, 0))
    new = None
    if ss:
        sp, flags, _, size = _STACK.unpack(t.mm.copy_in(ss, 24))
        if flags & ~(SS_DISABLE | 0x80000000):  # SS_AUTODISARM
            raise KernelError(E.EINVAL)
        if flags & SS_DISABLE:
            new = (0, SS_DISABLE, 0)
        else:
            if size < MINSIGSTKSZ:
                raise KernelError(E.ENOMEM)
            new = (sp, flags, size)
    if old_ss:
        t.mm.copy_out(old_ss, _STACK.pack(cur[0], cur[1], 0, cur[2]))
    if new is not None:
        t.altstack = new
    return 0
