"""ptrace's kernel half: links, permission, resuming and detaching, events at clone and exec.

Linux: kernel/ptrace.c (ptrace_traceme, ptrace_attach, ptrace_check_attach, ptrace_resume,
ptrace_detach, exit_ptrace, __ptrace_may_access), kernel/signal.c (ptrace_stop, ptrace_signal:
here systems/task_signals.ptrace_stop). gVisor: kernel/ptrace.go.

A tracee is a row with ``ptracer`` set (components/ptrace.py); its stops are rows too (blocked on
Block.PTRACE). What needs a CPU (the registers a tracer reads and writes, re-running a syscall
after its entry stop) is the CPU driver's (syscalls/sys_ptrace.py); the tracer's wait is
systems/task_wait.py's (tracees are looked at beside children); a tracee's exit and its tracer's
are systems/task_exit.py's.
"""
from __future__ import annotations

from ..abi import (Block, CLONE_VFORK, NSIG, PTRACE_EVENT_CLONE, PTRACE_EVENT_EXEC,
                   PTRACE_EVENT_FORK, PTRACE_EVENT_STOP, PTRACE_EVENT_VFORK, PTRACE_O_MASK,
                   PTRACE_O_TRACECLONE, PTRACE_O_TRACEEXEC, PTRACE_O_TRACEFORK,
                   PTRACE_O_TRACEVFORK, RunState, SIGCHLD, SIGKILL, SIGSTOP, SIGTRAP, SI_USER,
                   SYSCALL_WORK_TRACE, ExitState)
from ..components import pidns
from ..components import ptrace as P
from ..errors import E, KernelError
from . import task_signals
from .task_identity import may_access

MASK8 = 0xFF


def stopped(world, t: int) -> bool:
    """Is ``t`` in a ptrace stop (TASK_TRACED)?"""
    T = world.tasks
    return int(T.run_state[t]) == RunState.blocked and int(T.block[t]) == Block.PTRACE


def _link(world, tracer: int, t: int, flags: int) -> None:
    """__ptrace_link."""
    T = world.tasks
    T.ptracer[t] = tracer
    T.ptrace_tracees[tracer] += 1
    world.index.ptraced += 1
    T.ptrace_flags[t] = flags
    T.ptrace_stop[t] = P.STOP_NONE
    T.ptrace_report[t] = False
    T.ptrace_resume[t] = P.RESUME_CONT
    T.ptrace_inject[t] = 0
    T.ptrace_entry_done[t] = False
    T.ptrace_notify[t] = False
    T.ptrace_listening[t] = False


def unlink(world, t: int) -> None:
    """__ptrace_unlink: ``t`` is no longer traced; a ptrace stop it is in ends (a group stop it
    was part of goes on as a group stop)."""
    T, G = world.tasks, world.thread_groups
    tracer = int(T.ptracer[t])
    if tracer < 0:
        return
    T.ptrace_tracees[tracer] -= 1
    world.index.ptraced -= 1
    T.ptracer[t] = -1
    T.ptrace_flags[t] = 0
    T.syscall_work[t] &= ~SYSCALL_WORK_TRACE & MASK8
    T.ptrace_report[t] = False
    T.ptrace_inject[t] = 0
    T.ptrace_entry_done[t] = False
    T.ptrace_notify[t] = False
    T.ptrace_listening[t] = False
    if stopped(world, t):
        T.ptrace_stop[t] = P.STOP_NONE
        if G.stopped[int(T.tg[t])]:  # the group is stopped: so is it, as a plain group stop
            T.stop_run_state[t] = T.ptrace_stop_run_state[t]
            T.stop_block[t] = T.ptrace_stop_block[t]
            T.block[t] = Block.STOPPED
        else:
            T.run_state[t] = T.ptrace_stop_run_state[t]
            T.block[t] = T.ptrace_stop_block[t]
    T.ptrace_stop[t] = P.STOP_NONE


def traceme(world, t: int) -> None:
    """PTRACE_TRACEME: the parent traces the caller."""
    T, G = world.tasks, world.thread_groups
    if T.ptracer[t] >= 0:
        raise KernelError(E.EPERM, "already traced")
    parent = int(T.parent[int(G.leader[int(T.tg[t])])])
    if parent < 0:
        raise KernelError(E.EPERM, "no parent")
    _link(world, parent, t, 0)


def attach(world, tracer: int, t: int, seize: bool, options: int = 0) -> None:
    """PTRACE_ATTACH (a SIGSTOP stops the tracee) or PTRACE_SEIZE (no stop, ``options`` set)."""
    T, G = world.tasks, world.thread_groups
    if seize and options & ~PTRACE_O_MASK:
        raise KernelError(E.EIO, "unknown options")
    if int(T.tg[t]) == int(T.tg[tracer]):
        raise KernelError(E.EPERM, "a thread group cannot trace itself")
    if int(T.exit_state[t]) != ExitState.NONE or G.exiting[int(T.tg[t])]:
        raise KernelError(E.EPERM, "the task is exiting")
    if T.ptracer[t] >= 0:
        raise KernelError(E.EPERM, "already traced")
    if not may_access(world, tracer, t):
        raise KernelError(E.EPERM, "no permission to trace")
    _link(world, tracer, t, (P.PT_SEIZED | options) if seize else 0)
    if not seize:
        task_signals.send_signal(world, t, SIGSTOP, group=False)  # SEND_SIG_PRIV
    if T.run_state[t] == RunState.blocked and T.block[t] == Block.STOPPED:
        # already in a group stop: it re-traps as a ptrace stop the tracer sees
        sig = int(G.stop_signal[int(T.tg[t])]) or SIGSTOP
        task_signals.ptrace_stop(world, t, P.STOP_GROUP,
                                 sig | (PTRACE_EVENT_STOP << 8 if seize else 0))


def tracee(world, tracer: int, pid: int, *, need_stop: bool = True) -> int:
    """ptrace_check_attach: the row of ``pid`` (in the tracer's namespace), traced by ``tracer``
    and, unless ``need_stop`` is False, in a ptrace stop; ESRCH otherwise."""
    T = world.tasks
    t = pidns.task_by_tid(world, int(T.ns[tracer]), pid) if pid > 0 else -1
    if t < 0 or int(T.ptracer[t]) != tracer:
        raise KernelError(E.ESRCH, "not a tracee of the caller")
    if need_stop and (not stopped(world, t) or T.ptrace_listening[t]):
        # ptrace_freeze_traced: a tracee that listens (PTRACE_LISTEN) is in no ptrace stop
        raise KernelError(E.ESRCH, "the tracee is not stopped")
    return t


def set_options(world, t: int, options: int) -> None:
    if options & ~PTRACE_O_MASK:
        raise KernelError(E.EINVAL, "unknown options")
    T = world.tasks
    T.ptrace_flags[t] = (int(T.ptrace_flags[t]) & P.PT_SEIZED) | options


def resume(world, t: int, mode: int, sig: int) -> int:
    """ptrace_resume: how ``t`` leaves its stop. Returns the kind of stop it was in (the CPU
    driver re-runs a syscall left at its entry stop). ``sig`` (EIO if not a signal): the signal
    a signal-delivery stop goes on with (0: none), or one sent after a syscall stop."""
    T = world.tasks
    if not 0 <= sig <= NSIG:
        raise KernelError(E.EIO, "bad signal")
    kind = int(T.ptrace_stop[t])
    T.ptrace_resume[t] = mode
    if mode in P.TRACE_SYSCALLS:
        T.syscall_work[t] |= SYSCALL_WORK_TRACE
    else:
        T.syscall_work[t] &= ~SYSCALL_WORK_TRACE & MASK8
        T.ptrace_entry_done[t] = False
    if kind == P.STOP_SIGNAL:
        if sig and sig != int(T.si_signo[t]):
            # the tracer changed the signal: its siginfo is now the tracer's (ptrace_signal)
            tracer = int(T.ptracer[t])
            T.si_signo[t] = sig
            T.si_code[t] = SI_USER
            T.si_pid[t] = pidns.tid_in(world, int(world.thread_groups.leader[int(T.tg[tracer])]),
                                       int(T.ns[t]))
            T.si_uid[t] = T.ruid[tracer]
            T.si_value[t] = 0
            T.si_errno[t] = 0
        T.ptrace_inject[t] = sig
    elif sig and kind in (P.STOP_SYSCALL_ENTRY, P.STOP_SYSCALL_EXIT):
        task_signals.send_signal(world, t, sig, group=False)  # ptrace_report_syscall's send_sig
    T.ptrace_stop[t] = P.STOP_NONE
    T.ptrace_report[t] = False
    T.ptrace_listening[t] = False
    T.ptrace_notify[t] = False
    T.run_state[t] = T.ptrace_stop_run_state[t]
    T.block[t] = T.ptrace_stop_block[t]
    return kind


def detach(world, t: int) -> None:
    """PTRACE_DETACH's unlink (ptrace_detach), after the tracee was resumed as by PTRACE_CONT
    with the detach's signal: the signal a signal-delivery stop goes on with (child->exit_code)
    is kept past the unlink."""
    inject = int(world.tasks.ptrace_inject[t])
    unlink(world, t)
    world.tasks.ptrace_inject[t] = inject


def interrupt(world, t: int) -> None:
    """PTRACE_INTERRUPT (a seized tracee only): a PTRACE_EVENT_STOP trap now, if not stopped."""
    T = world.tasks
    if not T.ptrace_flags[t] & P.PT_SEIZED:
        raise KernelError(E.EIO, "PTRACE_INTERRUPT needs PTRACE_SEIZE")
    if stopped(world, t) or int(T.exit_state[t]) != ExitState.NONE:
        return
    task_signals.ptrace_stop(world, t, P.STOP_GROUP, SIGTRAP | PTRACE_EVENT_STOP << 8)


def listen(world, t: int) -> None:
    """PTRACE_LISTEN: a seized tracee in a group stop stays stopped, without a report; a SIGCONT
    (the group stop ending) makes it trap again (task_signals' continue)."""
    T = world.tasks
    if not T.ptrace_flags[t] & P.PT_SEIZED or int(T.ptrace_stop[t]) != P.STOP_GROUP:
        raise KernelError(E.EIO, "PTRACE_LISTEN needs a seized tracee in a group stop")
    T.ptrace_report[t] = False
    T.ptrace_listening[t] = True
    if T.ptrace_notify[t]:  # the group stop already ended: trap again at once
        task_signals.ptrace_retrap(world, t)


def kill(world, t: int) -> None:
    """PTRACE_KILL: the tracee dies of SIGKILL."""
    task_signals.send_task_signal(world, t, SIGKILL)
    if stopped(world, t):
        resume(world, t, P.RESUME_CONT, 0)


# -- events -----------------------------------------------------------------------------------------

def clone_event(world, parent: int, child: int, flags: int) -> int:
    """ptrace_event_pid at the end of kernel_clone: which PTRACE_EVENT_* the traced ``parent``
    reports for ``child`` (0: none). With the option set, the child is traced by the same tracer
    with the same options, and starts stopped (a SIGSTOP, or under SEIZE an event-stop trap)."""
    T, G = world.tasks, world.thread_groups
    if T.ptracer[parent] < 0:
        return 0
    if flags & CLONE_VFORK:
        event, opt = PTRACE_EVENT_VFORK, PTRACE_O_TRACEVFORK
    elif int(G.termination_signal[int(T.tg[child])]) != SIGCHLD or \
            int(G.leader[int(T.tg[child])]) != child:
        event, opt = PTRACE_EVENT_CLONE, PTRACE_O_TRACECLONE
    else:
        event, opt = PTRACE_EVENT_FORK, PTRACE_O_TRACEFORK
    pflags = int(T.ptrace_flags[parent])
    if not pflags & opt:
        return 0
    tracer = int(T.ptracer[parent])
    _link(world, tracer, child, pflags)
    if pflags & P.PT_SEIZED:
        task_signals.ptrace_stop(world, child, P.STOP_GROUP, SIGTRAP | PTRACE_EVENT_STOP << 8)
    else:
        task_signals.send_signal(world, child, SIGSTOP, group=False)
    T.ptrace_msg[parent] = pidns.tid_in(world, child, int(T.ns[tracer]))
    return event


def exec_event(world, t: int, old_row: int) -> bool:
    """ptrace_event(PTRACE_EVENT_EXEC) after a successful exec: an event stop (True) with the
    thread id of ``old_row`` (the exec's caller) as its message, or for a task traced the old
    way (TRACEME, ATTACH) without the option a SIGTRAP sent to itself (False: no stop now)."""
    T = world.tasks
    tracer = int(T.ptracer[t])
    if tracer < 0:
        return False
    flags = int(T.ptrace_flags[t])
    if flags & PTRACE_O_TRACEEXEC:
        task_signals.ptrace_event_stop(world, t, PTRACE_EVENT_EXEC,
                                       pidns.tid_in(world, old_row, int(T.ns[tracer]))
                                       if old_row >= 0 else 0)
        return True
    if not flags & P.PT_SEIZED:
        task_signals.send_signal(world, t, SIGTRAP, group=False, code=SI_USER)
    return False


def tracer_pid(world, t: int, ns: int) -> int:
    """/proc/<pid>/status's TracerPid: the tracer's id in ``ns`` (0: none)."""
    tracer = int(world.tasks.ptracer[t])
    return pidns.tid_in(world, tracer, ns) if tracer >= 0 else 0


__all__ = ["traceme", "attach", "tracee", "resume", "detach", "kill", "interrupt", "listen",
           "set_options", "unlink", "clone_event", "exec_event", "stopped", "tracer_pid"]
