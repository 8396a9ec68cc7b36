"""Signals: sending, dequeuing, delivery, default actions, group stop and continue.

gVisor: kernel/task_signals.go. Linux: kernel/signal.c (send_signal_locked, prepare_signal,
complete_signal, dequeue_signal, get_signal, do_signal_stop, do_sigaction, sigprocmask,
do_sigtimedwait, kill_something_info), arch/x86/kernel/signal.c (handle_signal).

Sending happens when a kernel call asks (kill, tgkill, a timer, a child's death); the side effects
Linux applies at send time happen then: a stop signal discards pending SIGCONT, SIGCONT ends a
group stop and discards pending stop signals, an ignored unblocked signal is dropped, a fatal
signal that some thread can take kills the whole group at once. Delivery happens in
:func:`signal_system` (phase SIGNALS) for every task the numba scan finds with a deliverable
signal: default actions (ignore, stop, terminate, core) are carried out there; a caught signal
pushes a frame (the mask to restore at rt_sigreturn), updates the mask, interrupts a blocked
syscall (-EINTR, or -ERESTARTSYS with SA_RESTART) and leaves ``handling`` set for the CPU driver
(a guest builds its signal frame from it; a synthetic program runs its handler step).
"""
from __future__ import annotations

import numpy as np

from ..abi import (Block, CAP_KILL, CLD_CONTINUED, CLD_STOPPED, CLD_TRAPPED, PTRACE_EVENT_EXIT,
                   PTRACE_EVENT_STOP, PTRACE_O_TRACEEXIT, SIGTRAP, COREDUMP_SIGNALS, DEFAULT_IGNORE,
                   ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS, ERESTART_RESTARTBLOCK,
                   ExitState, FULL_MASK, MINSIGSTKSZ, NSIG,
                   RLIMIT_SIGPENDING, RunState, SA_NOCLDSTOP, SA_NODEFER, SA_RESETHAND, SA_RESTART,
                   SIGCHLD, SIGCONT, SIGKILL, SIGRTMIN, SIGSEGV, SIGSTOP, SIG_BLOCK, SIG_DFL,
                   SIG_IGN, SIG_SETMASK, SIG_UNBLOCK, SI_KERNEL, SI_SIGIO, SI_TIMER, SI_TKILL,
                   SI_USER, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, STOP_MASK, STOP_SIGNALS,
                   SYNCHRONOUS_MASK, UNBLOCKABLE)
from ..components import links, pidns, rlimits, sigactions
from ..components import ptrace as P
from ..components.signals import sigmask
from ..components.user_namespace import UID
from ..components.task import begin_exit
from ..errors import E, KernelError
from ..jit.scatter import first_seen
from ..jit.signals import _raise_bad_row
from ..jit.signals_batch import deliverable_rows, interrupted_ret
from ..schedule import Phase, system
from . import futex, io_wait, sessions, signals_batch, user_namespace
from .task_identity import ns_capable
from .task_block import BLOCKED, end_interrupted_sleeps


# -- handlers -------------------------------------------------------------------------------------

def handler_of(world, task: int, signo: int) -> int:
    sh = int(world.tasks.sighand[task])
    if sh < 0:
        return SIG_DFL
    return int(world.sigactions.sa_handler[sigactions.table_of(world, sh), signo - 1])


def flags_of(world, task: int, signo: int) -> int:
    sh = int(world.tasks.sighand[task])
    if sh < 0:
        return 0
    return int(world.sigactions.sa_flags[sigactions.table_of(world, sh), signo - 1])


def _handler_ignores(handler: int, signo: int) -> bool:
    return handler == SIG_IGN or (handler == SIG_DFL and signo in DEFAULT_IGNORE)


def _blocked(world, task: int, signo: int) -> bool:
    T = world.tasks
    m = int(T.sig_mask[task])
    if T.block[task] == Block.SIGTIMEDWAIT and T.run_state[task] == RunState.blocked:
        m |= int(T.sig_wait_set[task])  # real_blocked: what sigtimedwait unblocked still counts
    return bool(m >> (signo - 1) & 1)


def unkillable(world, tg: int) -> int:
    """SIGNAL_UNKILLABLE: 2 for the global init's group, 1 for a namespace init's, else 0."""
    T, N = world.tasks, world.pid_namespaces
    leader = int(world.thread_groups.leader[tg])
    ns = int(T.ns[leader])
    if int(N.init_task[ns]) != leader:
        return 0
    return 2 if ns == world.index.root_pidns else 1


def sig_ignored(world, task: int, signo: int, force: bool = False) -> bool:
    """Linux ``sig_ignored``: an unblocked signal whose action is to ignore it is dropped at send.

    An init (SIGNAL_UNKILLABLE) also drops what it has no handler for; a namespace init takes
    SIGKILL and SIGSTOP only from an ancestor namespace (``force``), the global init never.
    """
    if signo not in (SIGKILL, SIGSTOP) and int(world.tasks.sig_mask[task]) >> (signo - 1) & 1:
        # blocked or real_blocked: sigtimedwait's set counts only if the mask held it before
        return False
    if signo != SIGKILL and world.tasks.ptracer[task] >= 0:
        return False  # a tracer sees even an ignored signal
    handler = handler_of(world, task, signo)
    level = unkillable(world, int(world.tasks.tg[task]))
    if level == 2 and signo in (SIGKILL, SIGSTOP):
        return True
    if level and handler == SIG_DFL and not (force and signo in (SIGKILL, SIGSTOP)):
        return True
    if signo in (SIGKILL, SIGSTOP):
        return False
    return _handler_ignores(handler, signo)


def _fatal_default(world, task: int, signo: int) -> bool:
    """sig_fatal: default action terminates (not ignore, not stop) and the handler is SIG_DFL."""
    return (signo not in DEFAULT_IGNORE and signo not in STOP_SIGNALS
            and handler_of(world, task, signo) == SIG_DFL)


# -- queues -----------------------------------------------------------------------------------------

def _queue_cols(world, group: bool):
    if group:
        G = world.thread_groups
        return G.gq_head, G.gq_tail, G.group_pending
    T = world.tasks
    return T.q_head, T.q_tail, T.sig_pending


def _enqueue(world, receiver: int, owner: int, group: bool, signo: int, code: int, pid: int,
             uid: int, value: int, errno: int = 0) -> bool:
    """Queue a siginfo, charged to the receiver's user (RLIMIT_SIGPENDING). False when over."""
    T = world.tasks
    ruid = int(T.ruid[receiver])
    counts = world.index.sigpending_by_uid
    # Linux: standard signals from the kernel or kill() may exceed the limit (override_rlimit).
    override = signo < SIGRTMIN and code >= 0
    limit, _ = rlimits.get(world, int(T.tg[receiver]), RLIMIT_SIGPENDING)
    if not override and counts.get(ruid, 0) >= limit:
        return False
    Q = world.sigqueue
    q = Q.alloc()
    Q.q_owner[q] = owner
    Q.q_group[q] = group
    Q.q_signo[q] = signo
    Q.q_code[q] = code
    Q.q_pid[q] = pid
    Q.q_uid[q] = uid
    Q.q_value[q] = value
    Q.q_errno[q] = errno
    Q.q_charged[q] = ruid
    counts[ruid] = counts.get(ruid, 0) + 1
    heads, tails, _ = _queue_cols(world, group)
    links.append(heads, tails, owner, Q.q_next, Q.q_prev, q)
    world.index.signal_stats.queued_info += 1
    return True


def _free_entry(world, q: int, group: bool, owner: int) -> None:
    Q = world.sigqueue
    heads, tails, _ = _queue_cols(world, group)
    links.unlink(heads, tails, owner, Q.q_next, Q.q_prev, q)
    uid = int(Q.q_charged[q])
    if uid >= 0:
        counts = world.index.sigpending_by_uid
        counts[uid] -= 1
        if not counts[uid]:
            del counts[uid]
    Q.free(q)


def _flush(world, owner: int, group: bool, mask: int) -> None:
    """Discard pending signals in ``mask`` (bits and queued siginfo) from one queue."""
    heads, tails, pending = _queue_cols(world, group)
    if not int(pending[owner]) & mask:
        return
    pending[owner] &= np.uint64(~mask & FULL_MASK)
    Q = world.sigqueue
    for q in links.members(heads, owner, Q.q_next):
        if mask >> (int(Q.q_signo[q]) - 1) & 1:
            _free_entry(world, q, group, owner)


def flush_all(world, tg: int, mask: int) -> None:
    """Discard ``mask`` from the group's shared queue and every thread's private queue."""
    G, T = world.thread_groups, world.tasks
    _flush(world, tg, True, mask)
    for t in links.members(G.task_head, tg, T.tg_next):
        _flush(world, t, False, mask)


def queued_info(world, task: int, signo: int) -> tuple[int, int, int, int, int] | None:
    """The siginfo (code, pid, uid, value, errno) of the first queued ``signo`` of ``task``, its own
    queue first, then its group's; None if none is queued. Nothing changes (a tracer's look)."""
    Q = world.sigqueue
    for group, owner in ((False, task), (True, int(world.tasks.tg[task]))):
        heads, _, _ = _queue_cols(world, group)
        for q in links.iterate(heads, owner, Q.q_next):
            if Q.q_signo[q] == signo:
                return (int(Q.q_code[q]), int(Q.q_pid[q]), int(Q.q_uid[q]), int(Q.q_value[q]),
                        int(Q.q_errno[q]))
    return None


def _collect(world, owner: int, group: bool, signo: int) -> tuple[int, int, int, int, int]:
    """Take the first queued instance of ``signo`` (collect_signal). Returns (code, pid, uid,
    value, errno)."""
    heads, tails, pending = _queue_cols(world, group)
    Q = world.sigqueue
    first = -1
    again = False
    for q in links.iterate(heads, owner, Q.q_next):
        if Q.q_signo[q] == signo:
            if first < 0:
                first = q
            else:
                again = True
                break
    if not again:
        pending[owner] &= ~sigmask(signo)
    if first < 0:
        return SI_USER, 0, 0, 0, 0  # fast-pathed, or info lost to the queue limit
    info = (int(Q.q_code[first]), int(Q.q_pid[first]), int(Q.q_uid[first]), int(Q.q_value[first]),
            int(Q.q_errno[first]))
    _free_entry(world, first, group, owner)
    return info


def _next_signal(pending: int, blocked: int) -> int:
    """Linux next_signal: synchronous fault signals first, then the lowest number."""
    x = pending & ~(blocked & ~UNBLOCKABLE) & FULL_MASK
    if not x:
        return 0
    if x & SYNCHRONOUS_MASK:
        x &= SYNCHRONOUS_MASK
    return (x & -x).bit_length()


def dequeue(world, task: int, blocked: int, *, allow_group: bool = True) -> int:
    """dequeue_signal: the task's own queue first, then the group's. Records the siginfo in the
    task's SigInfo columns; returns the signal, or 0."""
    T = world.tasks
    tg = int(T.tg[task])
    signo = _next_signal(int(T.sig_pending[task]), blocked)
    group = False
    if not signo and allow_group:
        signo = _next_signal(int(world.thread_groups.group_pending[tg]), blocked)
        group = True
    if not signo:
        return 0
    code, pid, uid, value, errno = _collect(world, tg if group else task, group, signo)
    T.si_signo[task] = signo
    T.si_code[task] = code
    T.si_pid[task] = pid
    T.si_uid[task] = uid
    T.si_value[task] = value
    T.si_errno[task] = errno
    return signo


# -- sending ----------------------------------------------------------------------------------------

def group_kill(world, tg: int, code: int) -> None:
    """Start a group exit with status ``code`` and SIGKILL every task of the group (zap_other_threads)."""
    G, T = world.thread_groups, world.tasks
    if not G.exiting[tg]:
        G.exiting[tg] = True
        G.group_exit_code[tg] = code
    kill = sigmask(SIGKILL)
    for t in links.members(G.task_head, tg, T.tg_next):
        if T.exit_state[t] == ExitState.NONE:
            T.sig_pending[t] |= kill


def _threads(world, tg: int) -> list[int]:
    return links.members(world.thread_groups.task_head, tg, world.tasks.tg_next)


def _notify_parent_cldstop(world, tg: int, why: int) -> None:
    """do_notify_parent_cldstop: wake the parent's waiters; SIGCHLD unless it opted out. Its
    si_status (in the value slot): the stop signal for CLD_STOPPED, SIGCONT for CLD_CONTINUED.
    si_utime and si_stime stay 0, as for do_notify_parent (task_exit.py)."""
    T, G = world.tasks, world.thread_groups
    leader = int(G.leader[tg])
    parent = int(T.parent[leader])
    if parent < 0:
        return
    ptg = int(T.tg[parent])
    G.child_seq[ptg] += 1
    if handler_of(world, parent, SIGCHLD) == SIG_IGN or flags_of(world, parent, SIGCHLD) & SA_NOCLDSTOP:
        return
    pid = pidns.tid_in(world, leader, int(T.ns[parent]))
    status = SIGCONT if why == CLD_CONTINUED else int(G.stop_signal[tg])
    send_signal(world, parent, SIGCHLD, group=True, code=why, pid=pid, uid=int(T.ruid[leader]),
                value=status)


def _continue_group(world, tg: int) -> None:
    """SIGCONT's side effect on a stopped group: resume every thread, report CLD_CONTINUED."""
    G, T = world.thread_groups, world.tasks
    if not G.stopped[tg]:
        return
    G.stopped[tg] = False
    G.stop_report[tg] = False
    G.continued_report[tg] = True
    for t in _threads(world, tg):
        if T.run_state[t] == RunState.blocked and T.block[t] == Block.STOPPED:
            T.run_state[t] = T.stop_run_state[t]
            T.block[t] = T.stop_block[t]
        elif T.run_state[t] == RunState.blocked and T.block[t] == Block.PTRACE \
                and T.ptrace_flags[t] & P.PT_SEIZED:
            # ptrace_trap_notify: a seized tracee stays in its trap; a listening one traps again
            T.ptrace_notify[t] = True
            if T.ptrace_listening[t]:
                ptrace_retrap(world, t)
    _notify_parent_cldstop(world, tg, CLD_CONTINUED)


def _prepare(world, task: int, signo: int, force: bool = False) -> bool:
    """prepare_signal: send-time side effects; False if the signal is to be dropped."""
    G = world.thread_groups
    tg = int(world.tasks.tg[task])
    if G.exiting[tg]:
        return False  # the group is dying: drop the signal
    if signo in STOP_SIGNALS:
        flush_all(world, tg, int(sigmask(SIGCONT)))
    elif signo == SIGCONT:
        flush_all(world, tg, STOP_MASK)
        _continue_group(world, tg)
    return not sig_ignored(world, task, signo, force)


def _wants(world, t: int, signo: int) -> bool:
    T = world.tasks
    if _blocked(world, t, signo) or T.exit_state[t] != ExitState.NONE:
        return False
    if signo == SIGKILL:
        return True
    return not (T.run_state[t] == RunState.blocked and T.block[t] in (Block.STOPPED, Block.PTRACE))


def _complete(world, task: int, signo: int, group: bool) -> None:
    """complete_signal: pick the thread to take it; a fatal signal kills the group now.

    ``curr_target`` is also the thread woken for the group's signals (signal_wake_up: only it
    has TIF_SIGPENDING set for them), which the others' dequeue defers to (get_signal): so a
    group signal the thread it was sent to can take goes to that thread, though the last one
    went to another (Linux leaves curr_target alone then; it only starts the search)."""
    T, G = world.tasks, world.thread_groups
    tg = int(T.tg[task])
    if _wants(world, task, signo):
        t = task
        if group:
            G.curr_target[tg] = t
    elif not group or G.tasks_count[tg] == 1:
        return
    else:
        threads = _threads(world, tg)
        cur = int(G.curr_target[tg])
        start = threads.index(cur) if cur in threads else 0
        for t in threads[start:] + threads[:start]:
            if _wants(world, t, signo):
                break
        else:
            return
        G.curr_target[tg] = t
    if (signo not in COREDUMP_SIGNALS and _fatal_default(world, t, signo) and not G.exiting[tg]
            and not int(T.sig_mask[t]) >> (signo - 1) & 1
            and (signo == SIGKILL or T.ptracer[t] < 0)):  # a tracer sees it first
        group_kill(world, tg, signo)


def send_signal(world, task: int, signo: int, *, group: bool, code: int = SI_KERNEL, pid: int = 0,
                uid: int = 0, value: int = 0, force: bool = False, errno: int = 0) -> bool:
    """send_signal_locked. ``group``: process-directed (the thread group of ``task``), else
    thread-directed. Returns False if the signal was dropped (ignored, or the group is dying);
    raises EAGAIN when a real-time signal with siginfo finds the queue limit reached."""
    st = world.index.signal_stats
    st.sent += 1
    if not _prepare(world, task, signo, force):
        st.dropped += 1
        return False
    T = world.tasks
    tg = int(T.tg[task])
    owner = tg if group else task
    _, _, pending = _queue_cols(world, group)
    bit = sigmask(signo)
    if signo < SIGRTMIN and pending[owner] & bit:
        return True  # legacy_queue: a standard signal is pending once
    if signo != SIGKILL:
        if not _enqueue(world, task, owner, group, signo, code, pid, uid, value, errno):
            if signo >= SIGRTMIN and code != SI_USER:
                st.dropped += 1
                raise KernelError(E.EAGAIN, "real-time signal queue full (RLIMIT_SIGPENDING)")
            # a silent loss of information: the signal is still pending
    pending[owner] |= bit
    _complete(world, task, signo, group)
    return True


def send_group_signal(world, tg: int, signo: int, *, code: int = SI_KERNEL, pid: int = 0,
                      uid: int = 0, value: int = 0, force: bool = False) -> bool:
    """A process-directed signal to thread group ``tg`` (from the kernel unless told otherwise).
    ``force``: the sender is outside the target's PID namespace (it may kill a namespace init).
    ``value``: the siginfo's value slot (SIGCHLD's si_status)."""
    if signo == 0:
        return True
    G = world.thread_groups
    leader = int(G.leader[tg])
    if signo == SIGKILL:
        world.index.signal_stats.sent += 1
        if G.exiting[tg] or sig_ignored(world, leader, SIGKILL, force):
            world.index.signal_stats.dropped += 1
            return False
        T = world.tasks
        if all(T.exit_state[t] != ExitState.NONE
               for t in links.members(G.task_head, tg, T.tg_next)):
            # complete_signal finds no thread that is not exiting: no group exit, and the
            # status the threads' own exits gave stays (a zombie killed keeps its status)
            return True
        group_kill(world, tg, SIGKILL)
        return True
    return send_signal(world, leader, signo, group=True, code=code, pid=pid, uid=uid, value=value,
                       force=force)


def send_group_signal_current(world, tg: int, task: int, signo: int) -> bool:
    """A process-directed signal from the kernel to group ``tg`` while ``task`` is its current
    thread (Linux check_cpu_itimer: the tick sends SIGPROF or SIGVTALRM with the running thread
    as ``p``): complete_signal keeps ``task`` when it can take the signal, and only that thread
    is woken for it (here: ``curr_target``, which gates the others' dequeue: :func:`_complete`).
    Without such a thread (``task`` < 0, gone, or of another group), as send_group_signal."""
    T = world.tasks
    if signo == SIGKILL or task < 0 or not T.alive[task] or int(T.tg[task]) != tg:
        return send_group_signal(world, tg, signo)
    return send_signal(world, task, signo, group=True)


def send_task_signal(world, task: int, signo: int, *, code: int = SI_KERNEL, pid: int = 0,
                     uid: int = 0, force: bool = False) -> bool:
    """A thread-directed signal (tgkill, a fault) to ``task``."""
    if signo == 0:
        return True
    if signo == SIGKILL:
        return send_group_signal(world, int(world.tasks.tg[task]), SIGKILL, force=force)
    return send_signal(world, task, signo, group=False, code=code, pid=pid, uid=uid, force=force)


def force_signal(world, task: int, signo: int, *, code: int = SI_KERNEL, addr: int = 0) -> None:
    """force_sig_info: a synchronous fault that cannot be ignored or blocked (the handler is reset
    to SIG_DFL if the task ignores or blocks it). ``addr`` (si_addr of a fault) is kept in the
    siginfo's value slot."""
    T = world.tasks
    sh = int(T.sighand[task])
    blocked = int(T.sig_mask[task]) >> (signo - 1) & 1
    if sh >= 0 and (blocked or handler_of(world, task, signo) == SIG_IGN):
        sigactions.reset_handler(world, sh, signo)
    if blocked:
        T.sig_mask[task] &= ~sigmask(signo)
    send_signal(world, task, signo, group=False, code=code, value=addr)


# -- kill(2) and friends ------------------------------------------------------------------------------

def _check_signo(signo: int) -> None:
    if not 0 <= signo <= NSIG:
        raise KernelError(E.EINVAL, f"invalid signal {signo}")


def _may_kill(world, sender: int, target: int, signo: int) -> bool:
    """check_kill_permission / kill_ok_by_cred: matching uids, CAP_KILL in the target's user
    namespace, or SIGCONT within the session."""
    T = world.tasks
    if ns_capable(world, sender, int(T.userns[target]), CAP_KILL):
        return True
    s_uid, s_euid = int(T.ruid[sender]), int(T.euid[sender])
    t_uid, t_suid = int(T.ruid[target]), int(T.suid[target])
    if s_euid in (t_uid, t_suid) or s_uid in (t_uid, t_suid):
        return True
    if signo == SIGCONT:
        P, G = world.process_groups, world.thread_groups
        return P.session[G.pgrp[T.tg[sender]]] == P.session[G.pgrp[T.tg[target]]]
    return False


def _sender_info(world, sender: int, target: int) -> tuple[int, int, bool]:
    """(sender's pid as the target sees it, its uid, whether it is outside the target's namespace)."""
    T, G = world.tasks, world.thread_groups
    leader = int(G.leader[int(T.tg[sender])])
    pid = pidns.tid_in(world, leader, int(T.ns[target]))
    return pid, int(T.ruid[sender]), pid == 0


def _user_ids(world, sender: int, target: int, code: int, ids: tuple[int, int],
              hidden: bool) -> tuple[int, int]:
    """si_pid and si_uid of a user-supplied siginfo as ``target`` gets them: what the caller
    wrote (copy_siginfo_from_user), changed only where send_signal_locked changes them, for the
    layouts that name a sender (has_si_pid_and_uid; here si_code <= 0 but SI_TIMER and SI_SIGIO,
    and SI_KERNEL): the uid as the target's user namespace sees it, and pid 0 from a sender
    outside the target's pid namespace."""
    pid, uid = ids
    if (0 < code < SI_KERNEL) or code in (SI_TIMER, SI_SIGIO):
        return pid, uid  # (a positive code reaches only the caller's own process)
    T = world.tasks
    mine, theirs = int(T.userns[sender]), int(T.userns[target])
    if mine != theirs:
        uid = user_namespace.munged(world, theirs, UID,
                                    user_namespace.to_kid(world, mine, UID, uid))
    return (0 if hidden else pid), uid


def _kill_tg(world, sender: int, tg: int, signo: int, code: int = SI_USER, value: int = 0,
             errno: int = 0, ids: tuple[int, int] | None = None) -> None:
    target = int(world.thread_groups.leader[tg])
    if not _may_kill(world, sender, target, signo):
        raise KernelError(E.EPERM, "not permitted to signal that process")
    if signo == 0:
        return
    pid, uid, force = _sender_info(world, sender, target)
    if ids is not None:
        pid, uid = _user_ids(world, sender, target, code, ids, force)
    if signo == SIGKILL:
        send_group_signal(world, tg, SIGKILL, force=force)
        return
    send_signal(world, target, signo, group=True, code=code, pid=pid, uid=uid, value=value,
                force=force, errno=errno)


def kill(world, sender: int, pid: int, signo: int) -> None:
    """kill(2): pid > 0 a process, 0 the caller's group, -1 everyone it may signal, < -1 a group."""
    _check_signo(signo)
    T, G = world.tasks, world.thread_groups
    ns = int(T.ns[sender])
    if pid > 0:
        t = pidns.task_by_tid(world, ns, pid)
        if t < 0 or T.exit_state[t] == ExitState.DEAD:
            raise KernelError(E.ESRCH, f"no process {pid}")
        _kill_tg(world, sender, int(T.tg[t]), signo)
        return
    if pid == -1:
        _kill_all(world, sender, signo)
        return
    if pid == 0:
        pg = int(G.pgrp[int(T.tg[sender])])
    else:
        if pid == -(2 ** 31):
            raise KernelError(E.ESRCH, "pid INT_MIN")
        pg = pidns.pidmap(world, ns).lookup("pgrp", -pid)
        if pg < 0:
            raise KernelError(E.ESRCH, f"no process group {-pid}")
    kill_pgrp(world, sender, pg, signo)


def kill_pgrp(world, sender: int, pg: int, signo: int) -> None:
    """__kill_pgrp_info: success if any member was signalled, else the last error."""
    P, G = world.process_groups, world.thread_groups
    err = E.ESRCH
    ok = False
    for g in links.members(P.tg_head, pg, G.pg_next):
        try:
            _kill_tg(world, sender, g, signo)
            ok = True
        except KernelError as e:
            err = e.errno
    if not ok:
        raise KernelError(err, "no member of the group could be signalled")


def kill_pgrp_from_outside(world, pg: int, signo: int) -> bool:
    """A signal to every process of group ``pg`` from a sender outside every guest PID namespace
    (the host: cpu/host_signals.py), needing no permission, like the tty's kill_pgrp. The siginfo
    is what a process gets from a sender it cannot name (kill(2) from outside its namespace):
    SI_USER, si_pid 0, si_uid 0. Returns True if some member took it."""
    P, G = world.process_groups, world.thread_groups
    took = False
    for g in links.members(P.tg_head, pg, G.pg_next):
        took |= send_group_signal(world, g, signo, code=SI_USER, pid=0, uid=0, force=True)
    return took


def default_action_kills(world, task: int, signo: int) -> bool:
    """Would ``signo``, sent to the process of ``task`` now, end it by its default action, taken
    by ``task``? Its group is not exiting, the action is SIG_DFL and terminates (sig_fatal: not
    ignore, not stop), an init does not drop it (sig_ignored), and ``task`` does not block it.
    (Reads a few columns of one row and its group: no list is walked.)"""
    T = world.tasks
    tg = int(T.tg[task])
    if world.thread_groups.exiting[tg] or T.exit_state[task] != ExitState.NONE:
        return False
    return (_fatal_default(world, task, signo) and not unkillable(world, tg)
            and not _blocked(world, task, signo))


def _kill_all(world, sender: int, signo: int) -> None:
    """kill(-1): every process visible in the caller's namespace but init and the caller's own."""
    T, G, N = world.tasks, world.thread_groups, world.pid_namespaces
    ns = int(T.ns[sender])
    me = int(T.tg[sender])
    init = int(N.init_task[ns])
    pm = pidns.pidmap(world, ns)
    count, ok = 0, False
    err = E.ESRCH
    for t in pm.task[pm.task >= 0].tolist():
        tg = int(T.tg[t])
        if G.leader[tg] != t or tg == me or (init >= 0 and tg == int(T.tg[init])):
            continue
        count += 1
        try:
            _kill_tg(world, sender, tg, signo)
            ok = True
        except KernelError as e:
            err = e.errno
    if not ok:
        raise KernelError(E.ESRCH if count == 0 else err, "kill(-1) signalled nobody")


def tgkill(world, sender: int, tgid: int, tid: int, signo: int, *, code: int = SI_TKILL,
           value: int = 0, errno: int = 0, ids: tuple[int, int] | None = None) -> None:
    """tgkill(2) (tgid > 0) and tkill(2) (tgid == -1); rt_tgsigqueueinfo(2) with the (si_pid,
    si_uid) it was given as ``ids``."""
    if tid <= 0 or (tgid <= 0 and tgid != -1):
        raise KernelError(E.EINVAL, "tgid and tid must be positive")
    _check_signo(signo)
    T, G = world.tasks, world.thread_groups
    ns = int(T.ns[sender])
    t = pidns.task_by_tid(world, ns, tid)
    if t < 0 or T.exit_state[t] == ExitState.DEAD:
        raise KernelError(E.ESRCH, f"no thread {tid}")
    if tgid > 0 and pidns.tid_in(world, int(G.leader[int(T.tg[t])]), ns) != tgid:
        raise KernelError(E.ESRCH, f"thread {tid} is not in process {tgid}")
    if not _may_kill(world, sender, t, signo):
        raise KernelError(E.EPERM, "not permitted to signal that thread")
    if signo == 0:
        return
    pid, uid, force = _sender_info(world, sender, t)
    if ids is not None:
        pid, uid = _user_ids(world, sender, t, code, ids, force)
    if signo == SIGKILL:
        send_group_signal(world, int(T.tg[t]), SIGKILL, force=force)
        return
    send_signal(world, t, signo, group=False, code=code, pid=pid, uid=uid, value=value, force=force,
                errno=errno)


def sigqueueinfo(world, sender: int, pid: int, signo: int, code: int, value: int,
                 errno: int = 0, ids: tuple[int, int] | None = None) -> None:
    """rt_sigqueueinfo(2): user-supplied si_code must be negative (or the caller's own process);
    the siginfo's si_errno goes with the signal as given, and its (si_pid, si_uid) ``ids`` as
    :func:`_user_ids` says."""
    _check_signo(signo)
    T = world.tasks
    me = pidns.tid_in(world, int(world.thread_groups.leader[int(T.tg[sender])]), int(T.ns[sender]))
    if (code >= 0 or code == SI_TKILL) and pid != me:
        raise KernelError(E.EPERM, "si_code >= 0 is reserved to the kernel")
    t = pidns.task_by_tid(world, int(T.ns[sender]), pid)
    if t < 0:
        raise KernelError(E.ESRCH, f"no process {pid}")
    _kill_tg(world, sender, int(T.tg[t]), signo, code=code, value=value, errno=errno, ids=ids)


# -- sigaction, sigprocmask, sigpending -------------------------------------------------------------------

def sigaction(world, task: int, signo: int, new: tuple[int, int, int] | None = None,
              restorer: int = 0) -> tuple[int, int, int]:
    """rt_sigaction(2): returns the old (handler, flags, mask); installs ``new`` if given."""
    if not 1 <= signo <= NSIG:
        raise KernelError(E.EINVAL, f"invalid signal {signo}")
    if new is not None and signo in (SIGKILL, SIGSTOP):
        raise KernelError(E.EINVAL, "SIGKILL and SIGSTOP cannot be caught or ignored")
    T = world.tasks
    sh = int(T.sighand[task])
    old = sigactions.action(world, sh, signo)[:3]
    if new is not None:
        handler, flags, mask = new
        sigactions.set_action(world, sh, signo, handler, flags, mask & ~UNBLOCKABLE & FULL_MASK,
                              restorer)
        if _handler_ignores(handler, signo):
            # POSIX: setting SIG_IGN discards the pending signal, blocked or not, in every
            # thread sharing these handlers.
            for tg in {int(T.tg[t]) for t in np.flatnonzero(T.sighand[: T.n] == sh).tolist()
                       if T.alive[t]}:
                flush_all(world, tg, int(sigmask(signo)))
    return old


def sigprocmask(world, task: int, how: int, sigset: int | None) -> int:
    """rt_sigprocmask(2): returns the old mask. SIGKILL and SIGSTOP are never blocked."""
    T = world.tasks
    old = int(T.sig_mask[task])
    if sigset is None:
        return old
    if how == SIG_BLOCK:
        new = old | sigset
    elif how == SIG_UNBLOCK:
        new = old & ~sigset
    elif how == SIG_SETMASK:
        new = sigset
    else:
        raise KernelError(E.EINVAL, f"bad how {how}")
    T.sig_mask[task] = new & ~UNBLOCKABLE & FULL_MASK
    return old


def sigprocmask_many(world, tasks: np.ndarray, hows: np.ndarray,
                     sets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rt_sigprocmask(2) for ``tasks[i]`` with ``hows[i]`` and ``sets[i]``, in order: the state
    :func:`sigprocmask` called once per item gives. Returns ``(old, err)``: each item's old mask
    and its error (0, or -EINVAL for a bad ``how``, whose old mask means nothing). One numpy
    pass when no task repeats (a mask change has no other effect, so the order does not
    matter); a batch that names a task twice is served one item at a time."""
    T = world.tasks
    tasks = np.ascontiguousarray(tasks, np.int64)
    hows = np.asarray(hows, np.int64)
    sets = np.asarray(sets).astype(np.uint64)
    err = np.zeros(len(tasks), np.int64)
    first = np.empty(len(tasks), np.bool_)
    if first_seen(tasks, world.scratch("task_marks", T.n, np.uint8), first):
        old = np.zeros(len(tasks), np.uint64)
        for i in range(len(tasks)):
            try:
                old[i] = sigprocmask(world, int(tasks[i]), int(hows[i]), int(sets[i]))
            except KernelError as e:
                err[i] = -e.errno
        return old, err
    old = T.sig_mask[tasks]
    ok = (hows == SIG_BLOCK) | (hows == SIG_UNBLOCK) | (hows == SIG_SETMASK)
    err[~ok] = -E.EINVAL
    new = np.where(hows == SIG_BLOCK, old | sets, np.where(hows == SIG_UNBLOCK, old & ~sets, sets))
    T.sig_mask[tasks[ok]] = new[ok] & np.uint64(~UNBLOCKABLE & FULL_MASK)
    return old, err


def sigpending(world, task: int) -> int:
    """rt_sigpending(2): pending (own or group) and blocked."""
    T = world.tasks
    pend = int(T.sig_pending[task]) | int(world.thread_groups.group_pending[int(T.tg[task])])
    return pend & int(T.sig_mask[task])


def sigsuspend(world, task: int, mask: int):
    """rt_sigsuspend(2): replace the mask and block until a signal is delivered (-EINTR)."""
    T = world.tasks
    T.sig_saved_mask[task] = T.sig_mask[task]
    T.has_saved_mask[task] = True
    T.sig_mask[task] = mask & ~UNBLOCKABLE & FULL_MASK
    T.run_state[task] = RunState.blocked
    T.block[task] = Block.SIGSUSPEND
    return BLOCKED


def set_user_sigmask(world, task: int, mask: int) -> None:
    """ppoll, pselect6, epoll_pwait (Linux set_user_sigmask): ``mask`` is the task's mask for the
    call; the mask it had is saved (once: a call run again after a wakeup keeps the first
    save) and comes back when the call returns (:func:`restore_saved_sigmask`) or, if a handler
    interrupts it, when the handler returns (the frame holds the saved mask)."""
    T = world.tasks
    if not T.has_saved_mask[task]:
        T.sig_saved_mask[task] = T.sig_mask[task]
        T.has_saved_mask[task] = True
    T.sig_mask[task] = mask & ~UNBLOCKABLE & FULL_MASK


def restore_saved_sigmask(world, task: int) -> None:
    """The call that set a temporary mask returns without a handler: the saved mask is back."""
    T = world.tasks
    if T.has_saved_mask[task]:
        T.sig_mask[task] = T.sig_saved_mask[task]
        T.has_saved_mask[task] = False


def pause(world, task: int):
    """pause(2): block until a handler has run (-EINTR) or a signal kills; the mask stays."""
    T = world.tasks
    T.run_state[task] = RunState.blocked
    T.block[task] = Block.SIGSUSPEND
    return BLOCKED


def deliverable(world, t: int) -> bool:
    """Has ``t`` a signal to take now (get_signal would act)? The signal system's scan
    (jit.signals_batch.deliverable_rows) for one task: pending privately or in its group and not
    blocked (a task in sigtimedwait has its wait set unblocked); a stopped task or a vfork
    parent takes none (SIGKILL reaches them through the interrupt system)."""
    T = world.tasks
    pend = int(T.sig_pending[t]) | int(world.thread_groups.group_pending[int(T.tg[t])])
    if T.ptrace_inject[t] and not (T.run_state[t] == RunState.blocked and
                                   T.block[t] == Block.PTRACE):
        return True  # the signal a tracer chose (guests only: the batch scan has no tracees)
    if not pend:
        return False
    m = int(T.sig_mask[t])
    if T.run_state[t] == RunState.blocked:
        b = int(T.block[t])
        if b in (Block.STOPPED, Block.VFORK, Block.PTRACE, Block.EXEC):
            return False
        if b == Block.SIGTIMEDWAIT:
            m &= ~int(T.sig_wait_set[t])
    return bool(pend & ~(m & ~UNBLOCKABLE))


def sigtimedwait(world, task: int, sigset: int, timeout_ns: int | None):
    """rt_sigtimedwait(2): take a pending signal of ``sigset`` now, or block until one comes
    (EAGAIN when ``timeout_ns`` passes; EINTR when another signal is delivered). Returns the
    signal number or BLOCKED; the siginfo is in the task's SigInfo columns."""
    T = world.tasks
    sigset &= ~UNBLOCKABLE & FULL_MASK
    signo = dequeue(world, task, ~sigset & FULL_MASK)
    if signo:
        return signo
    if timeout_ns is not None and timeout_ns <= 0:
        raise KernelError(E.EAGAIN, "no signal pending")
    T.sig_wait_set[task] = sigset
    T.sig_deadline[task] = -1 if timeout_ns is None else world.now_ns + timeout_ns
    T.run_state[task] = RunState.blocked
    T.block[task] = Block.SIGTIMEDWAIT
    return BLOCKED


def sigreturn(world, task: int) -> int:
    """rt_sigreturn(2): pop the innermost frame and restore its mask. Returns the frame's signal.
    A task with no frame gets SIGSEGV, as Linux gives a corrupt frame."""
    T, F = world.tasks, world.sigframes
    f = int(T.frame_top[task])
    if f < 0:
        force_signal(world, task, SIGSEGV)
        raise KernelError(E.EFAULT, "rt_sigreturn without a signal frame")
    T.sig_mask[task] = int(F.f_mask[f]) & ~UNBLOCKABLE & FULL_MASK
    T.frame_top[task] = F.f_prev[f]
    signo = int(F.f_signo[f])
    F.free(f)
    T.handling[task] = 0
    return signo


def release_task_signals(world, t: int) -> None:
    """A task is released: its queued siginfo, signal frames and alternate stack go with it."""
    T, F = world.tasks, world.sigframes
    if T.q_head[t] >= 0:
        _flush(world, t, False, FULL_MASK)
    f = int(T.frame_top[t])
    while f >= 0:
        nxt = int(F.f_prev[f])
        F.free(f)
        f = nxt
    T.frame_top[t] = -1
    set_altstack(world, t, None)


# -- the alternate signal stack (sigaltstack(2); Linux kernel/signal.c do_sigaltstack) -------------

def altstack(world, t: int) -> tuple[int, int, int] | None:
    """``(ss_sp, ss_flags, ss_size)`` of ``t``'s alternate signal stack, or None (SS_DISABLE)."""
    r = int(world.tasks.altstack[t])
    if r < 0:
        return None
    A = world.sigaltstacks
    return int(A.ss_sp[r]), int(A.ss_flags[r]), int(A.ss_size[r])


def set_altstack(world, t: int, stack: tuple[int, int, int] | None) -> None:
    """Install ``(ss_sp, ss_flags, ss_size)`` as ``t``'s alternate stack (None or SS_DISABLE:
    none)."""
    T, A = world.tasks, world.sigaltstacks
    r = int(T.altstack[t])
    if stack is None or stack[1] & SS_DISABLE:
        if r >= 0:
            A.free(r)
            T.altstack[t] = -1
        return
    if r < 0:
        r = A.alloc()
        T.altstack[t] = r
    A.ss_sp[r], A.ss_flags[r], A.ss_size[r] = stack


def on_altstack(stack: tuple[int, int, int] | None, sp: int) -> bool:
    """on_sig_stack: is ``sp`` on the alternate stack ``stack``?"""
    if stack is None or stack[1] & SS_DISABLE:
        return False
    return stack[0] < sp <= stack[0] + stack[2]


def sigaltstack(world, t: int, sp: int, new: tuple[int, int, int] | None):
    """sigaltstack(2) for a task whose user stack pointer is ``sp``: returns the old settings as
    ``(ss_sp, ss_flags, ss_size)`` (SS_ONSTACK while running on it); installs ``new`` if given.
    EPERM to change it while on it, EINVAL for a bad mode, ENOMEM below MINSIGSTKSZ."""
    cur = altstack(world, t)
    onstack = on_altstack(cur, sp)
    old = cur or (0, SS_DISABLE, 0)
    old = (old[0], SS_ONSTACK if onstack else old[1], old[2])
    if new is not None:
        ss_sp, flags, size = new
        if onstack:
            raise KernelError(E.EPERM, "on the alternate stack")
        mode = flags & ~SS_AUTODISARM
        if mode not in (0, SS_ONSTACK, SS_DISABLE):
            raise KernelError(E.EINVAL, f"bad sigaltstack flags {flags:#x}")
        if mode == SS_DISABLE:
            set_altstack(world, t, None)
        else:
            if size < MINSIGSTKSZ:
                raise KernelError(E.ENOMEM, "alternate stack below MINSIGSTKSZ")
            set_altstack(world, t, (ss_sp, flags & SS_AUTODISARM, size))
    return old


def release_group_signals(world, tg: int) -> None:
    """A thread group is released: its shared queue goes with it."""
    if world.thread_groups.gq_head[tg] >= 0:
        _flush(world, tg, True, FULL_MASK)


# -- delivery --------------------------------------------------------------------------------------------

# The restart code a blocked call ends with before any handler is chosen (what a ptrace
# syscall-exit stop shows in rax), for the blocks whose code the kind alone says.
RAW_RESTART_CODES = {Block.SIGSUSPEND: -ERESTARTNOHAND, Block.WAIT: -ERESTARTSYS,
                     Block.IO: -ERESTARTSYS}


def interrupt_syscall(world, t: int, restart: bool, *, raw: bool = False) -> None:
    """A handler is about to run: the blocked syscall of ``t`` ends with what Linux returns
    (jit.signals_batch.interrupted_ret: -ERESTARTSYS to restart it under SA_RESTART, else
    -EINTR); ``restart`` is the handler's SA_RESTART. What the wait held goes: a futex waiter
    row (futex.futex_interrupt), a sleep (its remainder is kept for nanosleep's ``rem``), I/O
    wait rows. A vfork parent is not interrupted (it waits killably)."""
    T = world.tasks
    if T.run_state[t] != RunState.blocked:
        return
    b = int(T.block[t])
    if b in (Block.VFORK, Block.STOPPED, Block.EXEC):
        return
    ret = 0
    if b == Block.FUTEX:
        ret = futex.futex_interrupt(world, t)
        if ret == -ERESTART_RESTARTBLOCK:
            # A timed wait with a restart block: a handler runs, so Linux's handle_signal turns
            # -ERESTART_RESTARTBLOCK into -EINTR whatever SA_RESTART says.
            restart = False
    # a PI lock is taken again after the handler (-ERESTARTNOINTR), whatever SA_RESTART says
    T.ret[t] = ret if ret == -ERESTARTNOINTR else interrupted_ret(b, restart)
    if raw and b in RAW_RESTART_CODES:  # (``raw``: the code before the handler decides)
        T.ret[t] = RAW_RESTART_CODES[b]
    if b == Block.IO:
        done = io_wait.progress(world, t)
        if done:
            T.ret[t] = done  # a write that moved bytes returns their count (pipe_write)
    T.block[t] = Block.NONE
    T.run_state[t] = RunState.runSyscallExit
    if b == Block.SLEEP:
        end_interrupted_sleeps(world, np.array([t], np.int64))
    elif b in (Block.IO, Block.POLL):
        io_wait.interrupt(world, t)


def _push_frame(world, t: int, signo: int) -> None:
    T, F = world.tasks, world.sigframes
    f = F.alloc()
    F.f_task[f] = t
    F.f_signo[f] = signo
    if T.has_saved_mask[t]:
        F.f_mask[f] = T.sig_saved_mask[t]  # sigsuspend's mask comes back after the handler
        T.has_saved_mask[t] = False
    else:
        F.f_mask[f] = T.sig_mask[t]
    F.f_prev[f] = T.frame_top[t]
    T.frame_top[t] = f


def _handle_signal(world, t: int, signo: int) -> None:
    """handle_signal: frame, mask, SA_RESETHAND; interrupts a blocked syscall."""
    T = world.tasks
    sh = int(T.sighand[t])
    _, flags, add, _ = sigactions.action(world, sh, signo)
    interrupt_syscall(world, t, bool(flags & SA_RESTART))
    _push_frame(world, t, signo)
    if not flags & SA_NODEFER:
        add |= int(sigmask(signo))
    T.sig_mask[t] = (int(T.sig_mask[t]) | add) & ~UNBLOCKABLE & FULL_MASK
    if flags & SA_RESETHAND:
        sigactions.reset_handler(world, sh, signo)
    T.handling[t] = signo
    if T.run_state[t] != RunState.runSyscallExit:
        T.run_state[t] = RunState.runApp
    world.index.signal_stats.delivered += 1


def _do_signal_stop(world, t: int, signo: int) -> None:
    """The group stops (every live thread, in this tick) and the parent hears CLD_STOPPED."""
    G, T = world.thread_groups, world.tasks
    tg = int(T.tg[t])
    G.stopped[tg] = True
    G.stop_signal[tg] = signo
    G.stop_report[tg] = True
    G.continued_report[tg] = False
    for th in _threads(world, tg):
        if T.exit_state[th] != ExitState.NONE or T.block[th] in (Block.STOPPED, Block.PTRACE):
            continue
        if T.ptracer[th] >= 0:  # a traced thread's group stop is a trap its tracer sees
            seized = T.ptrace_flags[th] & P.PT_SEIZED
            ptrace_stop(world, th, P.STOP_GROUP,
                        signo | (PTRACE_EVENT_STOP << 8 if seized else 0))
            continue
        T.stop_run_state[th] = T.run_state[th]
        T.stop_block[th] = T.block[th]
        T.run_state[th] = RunState.blocked
        T.block[th] = Block.STOPPED
    _notify_parent_cldstop(world, tg, CLD_STOPPED)


# -- ptrace stops (Linux: kernel/signal.c ptrace_stop, ptrace_signal, do_notify_parent_cldstop) ----

def notify_tracer(world, t: int, why: int = CLD_TRAPPED) -> None:
    """do_notify_parent_cldstop(for_ptracer): wake the tracer's waits; SIGCHLD unless it opted
    out (SA_NOCLDSTOP) or ignores it. si_status: the stop's signal."""
    T, G = world.tasks, world.thread_groups
    tracer = int(T.ptracer[t])
    if tracer < 0:
        return
    G.child_seq[int(T.tg[tracer])] += 1
    if handler_of(world, tracer, SIGCHLD) == SIG_IGN or \
            flags_of(world, tracer, SIGCHLD) & SA_NOCLDSTOP:
        return
    send_signal(world, tracer, SIGCHLD, group=True, code=why,
                pid=pidns.tid_in(world, t, int(T.ns[tracer])), uid=int(T.ruid[t]),
                value=int(T.ptrace_code[t]) & 0x7F)


def ptrace_stop(world, t: int, kind: int, code: int) -> None:
    """ptrace_stop: tracee ``t`` stops (a row: blocked on Block.PTRACE, what it was doing kept)
    with the report ``code`` for its tracer's wait; the tracer hears of it. A task blocked in a
    syscall leaves it first (to be restarted, as a signal's wakeup does)."""
    T = world.tasks
    if T.run_state[t] == RunState.blocked and T.block[t] not in (Block.STOPPED, Block.PTRACE):
        interrupt_syscall(world, t, True)
    if T.run_state[t] == RunState.blocked and T.block[t] == Block.STOPPED:
        T.ptrace_stop_run_state[t] = T.stop_run_state[t]  # the group stop becomes the trap
        T.ptrace_stop_block[t] = T.stop_block[t]
    elif not (T.run_state[t] == RunState.blocked and T.block[t] == Block.PTRACE):
        T.ptrace_stop_run_state[t] = T.run_state[t]
        T.ptrace_stop_block[t] = T.block[t]
    T.run_state[t] = RunState.blocked
    T.block[t] = Block.PTRACE
    T.ptrace_stop[t] = kind
    T.ptrace_code[t] = code
    T.ptrace_report[t] = True
    notify_tracer(world, t, CLD_STOPPED if kind == P.STOP_GROUP else CLD_TRAPPED)


def ptrace_retrap(world, t: int) -> None:
    """do_jobctl_trap for a seized tracee whose group stop ended while it listened: a
    PTRACE_EVENT_STOP trap with SIGTRAP, reported anew."""
    T = world.tasks
    T.ptrace_notify[t] = False
    T.ptrace_listening[t] = False
    T.ptrace_stop[t] = P.STOP_GROUP
    T.ptrace_code[t] = SIGTRAP | PTRACE_EVENT_STOP << 8
    T.ptrace_report[t] = True
    notify_tracer(world, t, CLD_STOPPED)


def ptrace_exit_event(world, t: int) -> None:
    """ptrace_event(PTRACE_EVENT_EXIT) at the start of do_exit: a tracee with
    PTRACE_O_TRACEEXIT stops, its exit status the message, before it exits (it stays in
    runExit once resumed; SIGKILL ends the stop)."""
    T, G = world.tasks, world.thread_groups
    if T.ptracer[t] < 0 or not T.ptrace_flags[t] & PTRACE_O_TRACEEXIT:
        return
    tg = int(T.tg[t])
    status = int(G.group_exit_code[tg]) if G.exiting[tg] else int(T.exit_code[t])
    ptrace_event_stop(world, t, PTRACE_EVENT_EXIT, status)


def ptrace_event_stop(world, t: int, event: int, msg: int) -> None:
    """ptrace_event: a PTRACE_EVENT_* stop with its message (PTRACE_GETEVENTMSG)."""
    world.tasks.ptrace_msg[t] = msg & 0xFFFF_FFFF_FFFF_FFFF
    ptrace_stop(world, t, P.STOP_EVENT, SIGTRAP | event << 8)


def _pgrp_orphaned(world, tg: int) -> bool:
    return sessions.will_become_orphaned(world, int(world.thread_groups.pgrp[tg]))


def get_signal(world, t: int, *, stop_after_handler: bool = False):
    """Deliver what is deliverable to task ``t`` (get_signal + handle_signal).

    ``stop_after_handler`` (a CPU driver that builds a frame per handler, as Linux delivers one
    handler per return to user mode): stop after the first handler and return
    ``(signo, handler, flags, restorer)`` as they were before SA_RESETHAND; otherwise None."""
    T, G = world.tasks, world.thread_groups
    tg = int(T.tg[t])
    if T.run_state[t] == RunState.blocked and T.block[t] == Block.SIGTIMEDWAIT:
        wait = int(T.sig_wait_set[t])
        signo = dequeue(world, t, ~wait & FULL_MASK)
        if signo:
            T.ret[t] = signo
            T.block[t] = Block.NONE
            T.run_state[t] = RunState.runSyscallExit
            world.index.signal_stats.delivered += 1
            return
    while T.exit_state[t] == ExitState.NONE and not G.exiting[tg]:
        if T.run_state[t] == RunState.blocked and T.block[t] in (Block.STOPPED, Block.VFORK,
                                                                  Block.PTRACE, Block.EXEC):
            return  # a stopped task, or a vfork parent (killable only), takes no handler
        blocked = int(T.sig_mask[t])
        if T.ptrace_inject[t]:
            # the signal the tracer chose at a signal-delivery stop (ptrace_signal's tail)
            signo = int(T.ptrace_inject[t])
            T.ptrace_inject[t] = 0
            if blocked >> (signo - 1) & 1 and not sigmask(signo) & UNBLOCKABLE:
                send_signal(world, t, signo, group=False, code=int(T.si_code[t]),
                            pid=int(T.si_pid[t]), uid=int(T.si_uid[t]), value=int(T.si_value[t]),
                            errno=int(T.si_errno[t]))
                continue
        else:
            cur = int(G.curr_target[tg])
            group_ok = cur < 0 or cur == t or not _wants_group(world, cur)
            signo = dequeue(world, t, blocked, allow_group=group_ok)
            if not signo:
                return
            if T.ptracer[t] >= 0 and signo != SIGKILL:
                ptrace_stop(world, t, P.STOP_SIGNAL, signo)  # the tracer decides
                return
        handler = handler_of(world, t, signo)
        if handler == SIG_IGN:
            continue
        if handler != SIG_DFL:
            if stop_after_handler:
                _, flags, _, restorer = sigactions.action(world, int(T.sighand[t]), signo)
                taken = (signo, handler, flags, restorer)
                _handle_signal(world, t, signo)
                return taken
            _handle_signal(world, t, signo)
            continue
        if signo in DEFAULT_IGNORE or (unkillable(world, tg) and signo not in (SIGKILL, SIGSTOP)):
            continue
        if signo in STOP_SIGNALS:
            if signo != SIGSTOP and _pgrp_orphaned(world, tg):
                continue  # POSIX: terminal stop signals to an orphaned group are discarded
            _do_signal_stop(world, t, signo)
            world.index.signal_stats.delivered += 1
            return
        # terminate or core: the whole group dies with this signal
        group_kill(world, tg, signo)
        T.sig_pending[t] &= ~sigmask(SIGKILL)
        T.exit_code[t] = signo
        begin_exit(world, t)  # systems/task_exit.py takes it from runExit
        world.index.signal_stats.delivered += 1
        if T.ptracer[t] >= 0:
            ptrace_exit_event(world, t)
        return


def _wants_group(world, t: int) -> bool:
    T = world.tasks
    return bool(T.alive[t]) and T.exit_state[t] == ExitState.NONE and not (
        T.run_state[t] == RunState.blocked and T.block[t] in (Block.STOPPED, Block.PTRACE))


@system(phase=Phase.SIGNALS,
        reads=("SigPending", "SigMask", "GroupSigPending", "SignalHandlers", "SigActions",
               "ThreadGroupMembership"),
        writes=("SigPending", "SigMask", "SigWait", "SigInfo", "GroupSigPending", "SigQueue",
                "SigFrames", "SignalHandlers", "SigActions", "RunState", "ExitState",
                "ThreadGroupCore", "GroupStopState", "ChildEvents",
                # a handler ending a futex wait frees its waiter row (futex_interrupt); ending a
                # sleep keeps its remainder; ending an I/O wait frees its rows
                "FutexWaiters", "FutexQueues", "FutexState", "SleepState", "IOWaits",
                # a tracee's signal-delivery and group stops (ptrace_stop)
                "TaskPtrace"))
def signal_system(world, commands) -> None:
    """Deliver signals to every task that has one deliverable (found by the numba scan), and end
    sigtimedwait waits whose deadline passed."""
    T, G = world.tasks, world.thread_groups
    n = T.n
    if n == 0:
        return
    # one numba pass over the rows (sigtimedwait's set counts as unblocked), no temporaries
    gp = G.group_pending[: max(G.n, 1)]
    rows = world.scratch("task_rows", n, np.int64)
    k, waiting = deliverable_rows(n, T.alive, T.exit_state, T.tg, T.run_state, T.block,
                                  T.sig_wait_set, T.sig_mask, T.sig_pending, gp, rows)
    if k < 0:
        _raise_bad_row(k, T.tg, gp)
    rows = rows[:k]
    if waiting:
        late = np.flatnonzero((T.run_state[:n] == RunState.blocked) & (T.block[:n] == Block.SIGTIMEDWAIT)
                              & (T.sig_deadline[:n] >= 0) & (T.sig_deadline[:n] <= world.now_ns))
    else:
        late = ()
    # Guest tasks get their signals from their CPU driver (cpu/signals.py), which must build a
    # frame in guest memory for each handler; the driver delivers right after every tick.
    rows = rows[~T.guest[rows]]
    if world.index.ptraced:
        # the signal a tracer chose at a signal-delivery stop (the scan sees only pending bits)
        inject = np.flatnonzero((T.ptrace_inject[:n] != 0) & T.alive[:n] & ~T.guest[:n]
                                & (T.run_state[:n] != RunState.blocked))
        for t in inject.tolist():
            get_signal(world, t)
    if world.settings.signal_delivery_python:
        for t in rows.tolist():
            get_signal(world, t)
    elif len(rows):
        # the numba pass; it hands stops, fatal signals, futex interrupts, ... to get_signal
        signals_batch.deliver(world, rows, get_signal)
    for t in late:
        if T.run_state[t] == RunState.blocked and T.block[t] == Block.SIGTIMEDWAIT:
            T.ret[t] = -E.EAGAIN
            T.block[t] = Block.NONE
            T.run_state[t] = RunState.runSyscallExit
