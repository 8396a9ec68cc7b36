"""Signal syscalls that store state: rt_sigaction, rt_sigprocmask, rt_sigpending, sigaltstack.

gVisor: ``sys_signal.go``. The handlers table is the SignalHandlers component (shared under
CLONE_SIGHAND), the mask is ``tasks.sig_mask``. Delivery of signals to guest handlers arrives
with the signals issue; until then a stored handler is never called.
"""
from __future__ import annotations

import struct

from ..components.signals import NSIG, SIGKILL, SIGSTOP, sigmask
from ..errors import E, KernelError
from ..systems import task_signals
from .context import s32
from .table import PARTIAL, syscall

SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
_SIGACTION = struct.Struct("<QQQQ")  # handler, flags, restorer, mask (kernel struct sigaction)
_UNBLOCKABLE = int(sigmask(SIGKILL)) | int(sigmask(SIGSTOP))
SS_ONSTACK, SS_DISABLE = 1, 2
MINSIGSTKSZ = 2048


@syscall("rt_sigaction", PARTIAL, "stored (systems/task_signals.sigaction); running handlers in "
         "the guest arrives with signal delivery to Unicorn contexts", args=("i", "p", "p", "u"))
def rt_sigaction(t, signo, act, oldact, sigsetsize):
    """Implements rt_sigaction(2)."""
    sig = s32(signo)
    if sigsetsize != 8:
        raise KernelError(E.EINVAL)
    new = _SIGACTION.unpack(t.mm.copy_in(act, 32)) if act else None
    w = t.world
    sh = int(w.tasks.sighand[t.row])
    old_restorer = int(w.signal_handlers.sa_restorer[sh, sig - 1]) if 1 <= sig <= NSIG else 0
    old = task_signals.sigaction(w, t.row, sig, None if new is None else (new[0], new[1], new[3]),
                                 new[2] if new is not None else 0)
    if oldact:
        t.mm.copy_out(oldact, _SIGACTION.pack(old[0], old[1], old_restorer, old[2]))
    return 0


@syscall("rt_sigprocmask", PARTIAL, "the mask is kept (systems/task_signals.sigprocmask); "
         "unblocking a pending fatal signal acts", args=("i", "p", "p", "u"))
def rt_sigprocmask(t, how, set_, oldset, sigsetsize):
    """Implements rt_sigprocmask(2)."""
    if sigsetsize != 8:
        raise KernelError(E.EINVAL)
    T = t.world.tasks
    new = struct.unpack("<Q", t.mm.copy_in(set_, 8))[0] if set_ else None
    if new is not None and s32(how) not in (SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK):
        raise KernelError(E.EINVAL)
    old = task_signals.sigprocmask(t.world, t.row, s32(how), new)
    if new is not None and int(T.sig_pending[t.row]) & ~int(T.sig_mask[t.row]):
        _deliver_unblocked(t)
    if oldset:
        t.mm.copy_out(oldset, struct.pack("<Q", old))
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


# -- sending: only the default actions (handlers run with the signals issue) ---------------------------

_CORE = {3, 4, 5, 6, 7, 8, 11, 24, 25, 31}
_IGNORE = {17, 18, 23, 28}
_STOP = {19, 20, 21, 22}


def _act(t, sig: int) -> None:
    """What arrives when ``sig`` reaches the calling task's process (Linux: complete_signal with
    the default action). Blocked or caught signals stay pending; delivery to a handler is the
    signals issue's."""
    from ..components.signals import SIG_DFL, SIG_IGN
    w = t.world
    if sig == SIGKILL:
        t.machine.kill_current(sig)
        return
    bit = int(sigmask(sig))
    if int(w.tasks.sig_mask[t.row]) & bit:
        w.tasks.sig_pending[t.row] |= sigmask(sig)
        return
    sh = int(w.tasks.sighand[t.row])
    h = int(w.signal_handlers.sa_handler[sh, sig - 1]) if sh >= 0 else SIG_DFL
    if h == SIG_IGN or (h == SIG_DFL and (sig in _IGNORE or sig in _STOP)):
        return
    if h != SIG_DFL:
        w.tasks.sig_pending[t.row] |= sigmask(sig)
        return
    t.machine.kill_current(sig)


def _deliver_unblocked(t) -> None:
    """After the mask changed: a pending, now unblocked signal with a fatal default acts."""
    w = t.world
    pend = int(w.tasks.sig_pending[t.row]) & ~int(w.tasks.sig_mask[t.row])
    for sig in range(1, NSIG + 1):
        if pend & (1 << (sig - 1)):
            w.tasks.sig_pending[t.row] &= ~sigmask(sig)
            _act(t, sig)
            if t.machine.stop_requested:
                return


def _check_sig(sig: int) -> int:
    sig = s32(sig)
    if not 0 <= sig <= NSIG:
        raise KernelError(E.EINVAL)
    return sig


@syscall("kill", PARTIAL, "only the caller's own process exists; default actions only",
         args=("i", "i"))
def kill(t, pid, sig):
    """Implements kill(2)."""
    from .sys_process import getpgrp, getpid
    sig = _check_sig(sig)
    pid = s32(pid)
    if pid == -1:
        raise KernelError(E.ESRCH)  # every process but the caller (and init): none
    if pid not in (0, getpid(t), -getpgrp(t)):
        raise KernelError(E.ESRCH)
    if sig:
        _act(t, sig)
    return 0


@syscall("tgkill", PARTIAL, "only the caller's own thread exists; default actions only",
         args=("i", "i", "i"))
def tgkill(t, tgid, tid, sig):
    """Implements tgkill(2)."""
    from .sys_process import getpid, gettid
    sig = _check_sig(sig)
    if s32(tgid) <= 0 or s32(tid) <= 0:
        raise KernelError(E.EINVAL)
    if s32(tgid) != getpid(t) or s32(tid) != gettid(t):
        raise KernelError(E.ESRCH)
    if sig:
        _act(t, sig)
    return 0


@syscall("tkill", PARTIAL, "only the caller's own thread exists; default actions only", args=("i", "i"))
def tkill(t, tid, sig):
    """Implements tkill(2)."""
    from .sys_process import gettid
    sig = _check_sig(sig)
    if s32(tid) <= 0:
        raise KernelError(E.EINVAL)
    if s32(tid) != gettid(t):
        raise KernelError(E.ESRCH)
    if sig:
        _act(t, sig)
    return 0
