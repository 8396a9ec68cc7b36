"""Signal syscalls: sigaction, masks, sending, waiting, rt_sigreturn, sigaltstack.

gVisor: ``sys_signal.go``. The kernel's rules are systems/task_signals.py (the handlers table is
the SignalHandlers component, shared under CLONE_SIGHAND; the mask is ``tasks.sig_mask``). A signal
made deliverable by a syscall is delivered as the syscall returns (Machine.after_syscall), with a
frame built by cpu/signals.py; rt_sigreturn undoes it.
"""
from __future__ import annotations

import struct

from ..abi import NSIG, SI_TKILL, SI_USER, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK, SIGPIPE
from ..components import sigactions
from ..errors import E, KernelError
from ..systems import task_signals
from ..systems.task_block import BLOCKED
from .context import KernelBlocked, s32
from .registry import FULL, completion, syscall
from .sys_process import getpid

_SIGACTION = struct.Struct("<QQQQ")  # handler, flags, restorer, mask (kernel struct sigaction)


@syscall("rt_sigaction", FULL, args=("signo", "sigaction", "osigaction", "u"))
def rt_sigaction(t, signo, act, oldact, sigsetsize):
    """Implements rt_sigaction(2)."""
    sig = s32(signo)
    if sigsetsize != 8:
        raise KernelError(E.EINVAL)
    new = _SIGACTION.unpack(t.mm.copy_in(act, 32)) if act else None
    w = t.world
    sh = int(w.tasks.sighand[t.row])
    old_restorer = sigactions.action(w, sh, sig)[3] if 1 <= sig <= NSIG else 0
    old = task_signals.sigaction(w, t.row, sig, None if new is None else (new[0], new[1], new[3]),
                                 new[2] if new is not None else 0)
    if oldact:
        t.mm.copy_out(oldact, _SIGACTION.pack(old[0], old[1], old_restorer, old[2]))
    return 0


@syscall("rt_sigprocmask", FULL, args=("sighow", "sigset", "osigset", "u"))
def rt_sigprocmask(t, how, set_, oldset, sigsetsize):
    """Implements rt_sigprocmask(2)."""
    if sigsetsize != 8:
        raise KernelError(E.EINVAL)
    new = struct.unpack("<Q", t.mm.copy_in(set_, 8))[0] if set_ else None
    if new is not None and s32(how) not in (SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK):
        raise KernelError(E.EINVAL)
    old = task_signals.sigprocmask(t.world, t.row, s32(how), new)
    if oldset:
        t.mm.copy_out(oldset, struct.pack("<Q", old))
    return 0


@syscall("rt_sigpending", FULL, args=("osigset", "u"))
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


@syscall("sigaltstack", FULL, args=("stack_t", "ostack_t"))
def sigaltstack(t, ss, old_ss):
    """Implements sigaltstack(2) (systems/task_signals.sigaltstack): SS_ONSTACK is reported while
    running on the stack, which then cannot be changed (EPERM)."""
    new = None
    if ss:
        ss_sp, flags, _, size = _STACK.unpack(t.mm.copy_in(ss, 24))
        new = (ss_sp, flags & 0xFFFF_FFFF, size)
    old = task_signals.sigaltstack(t.world, t.row, t.machine.user_sp(t.row), new)
    if old_ss:  # after the change, as Linux: a fault here leaves the new stack installed
        t.mm.copy_out(old_ss, _STACK.pack(old[0], old[1], 0, old[2]))
    return 0


# -- sending (systems/task_signals); delivery happens on the way back to user mode -------------------

def send_sig(t, signo: int) -> None:
    """Linux send_sig(sig, current, 0): a signal to the calling thread, from itself (SI_USER),
    delivered when its syscall returns."""
    task_signals.send_signal(t.world, t.row, signo, group=False, code=SI_USER, pid=getpid(t),
                             uid=int(t.world.tasks.ruid[t.row]))


def send_sigpipe(t) -> None:
    """pipe_write: SIGPIPE to the writer, delivered when its write returns EPIPE."""
    send_sig(t, SIGPIPE)


@syscall("kill", FULL, args=("i", "signo"))
def kill(t, pid, sig):
    """Implements kill(2)."""
    task_signals.kill(t.world, t.row, s32(pid), s32(sig))
    return 0


@syscall("tgkill", FULL, args=("i", "i", "signo"))
def tgkill(t, tgid, tid, sig):
    """Implements tgkill(2)."""
    tgid = s32(tgid)
    if tgid <= 0:
        raise KernelError(E.EINVAL)
    task_signals.tgkill(t.world, t.row, tgid, s32(tid), s32(sig))
    return 0


@syscall("tkill", FULL, args=("i", "signo"))
def tkill(t, tid, sig):
    """Implements tkill(2)."""
    task_signals.tgkill(t.world, t.row, -1, s32(tid), s32(sig))
    return 0


_SIGINFO_HEAD = struct.Struct("<iii4xiIQ")  # signo, errno, code, pad, pid, uid, value


def _user_siginfo(t, sig: int, info: int) -> tuple[int, int, int, tuple[int, int]]:
    """(si_code, si_value, si_errno, (si_pid, si_uid)) of a user-supplied siginfo
    (rt_sigqueueinfo and friends)."""
    _, errno, code, pid, uid, value = _SIGINFO_HEAD.unpack(t.mm.copy_in(info, _SIGINFO_HEAD.size))
    return code, value, errno, (pid, uid)


@syscall("rt_sigqueueinfo", FULL, args=("i", "signo", "siginfo"))
def rt_sigqueueinfo(t, pid, sig, info):
    """Implements rt_sigqueueinfo(2)."""
    code, value, errno, ids = _user_siginfo(t, s32(sig), info)
    task_signals.sigqueueinfo(t.world, t.row, s32(pid), s32(sig), code, value, errno, ids)
    return 0


@syscall("rt_tgsigqueueinfo", FULL, args=("i", "i", "signo", "siginfo"))
def rt_tgsigqueueinfo(t, tgid, tid, sig, info):
    """Implements rt_tgsigqueueinfo(2)."""
    code, value, errno, ids = _user_siginfo(t, s32(sig), info)
    if (code >= 0 or code == SI_TKILL) and s32(tgid) != getpid(t):  # SI_TKILL is the kernel's
        raise KernelError(E.EPERM)
    if s32(tgid) <= 0:
        raise KernelError(E.EINVAL)
    task_signals.tgkill(t.world, t.row, s32(tgid), s32(tid), s32(sig), code=code, value=value,
                        errno=errno, ids=ids)
    return 0


@syscall("rt_sigreturn", FULL, "restores the registers, FP state, mask and alternate stack of "
         "the frame at rsp", args=("@sigframe",))
def rt_sigreturn(t):
    """Implements rt_sigreturn(2)."""
    raise t.machine.signals.sigreturn(t)


@syscall("pause", FULL, args=())
def pause(t):
    """Implements pause(2): sleep until a handler runs (-EINTR) or a signal kills."""
    task_signals.pause(t.world, t.row)
    raise KernelBlocked()


@syscall("rt_sigsuspend", FULL, args=("sigset", "u"))
def rt_sigsuspend(t, mask, sigsetsize):
    """Implements rt_sigsuspend(2): the mask is replaced until a handler has run."""
    if sigsetsize != 8:
        raise KernelError(E.EINVAL)
    new = struct.unpack("<Q", t.mm.copy_in(mask, 8))[0]
    task_signals.sigsuspend(t.world, t.row, new)
    raise KernelBlocked()


@syscall("rt_sigtimedwait", FULL, args=("sigset", "osiginfo", "ts", "u"), ret="signo")
def rt_sigtimedwait(t, set_, info, timeout, sigsetsize):
    """Implements rt_sigtimedwait(2)."""
    if sigsetsize != 8:
        raise KernelError(E.EINVAL)
    wanted = struct.unpack("<Q", t.mm.copy_in(set_, 8))[0]
    timeout_ns = None
    if timeout:
        sec, nsec = struct.unpack("<qq", t.mm.copy_in(timeout, 16))
        if sec < 0 or not 0 <= nsec < 1_000_000_000:
            raise KernelError(E.EINVAL)
        timeout_ns = sec * 1_000_000_000 + nsec
    t.machine.sync_clock()  # the deadline is on the kernel clock
    signo = task_signals.sigtimedwait(t.world, t.row, wanted, timeout_ns)
    if signo is BLOCKED:
        raise KernelBlocked()
    return rt_sigtimedwait_done(t, signo, set_, info, timeout, sigsetsize)


@completion("rt_sigtimedwait")
def rt_sigtimedwait_done(t, ret, set_, info, timeout, sigsetsize):
    """The signal taken (its siginfo, left in the SigInfo columns, goes to ``info``)."""
    if ret > 0 and info:
        t.mm.copy_out(info, t.machine.signals.siginfo(t.row, ret))
    return ret
