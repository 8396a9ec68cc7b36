"""Task exit: exit(2), exit_group(2), reparenting, zombies, notifying the parent, release.

gVisor: task_exit.go. Linux: kernel/exit.c (do_exit, exit_notify, forget_original_parent,
release_task, do_notify_parent, kill_orphaned_pgrp).

A task's exit moves through named run states, one system step each, so a World can be checkpointed
between any two of them::

    runExit        exit initiated (exit, exit_group, or a fatal signal noticed by interrupt_system)
    runExitMain    resources released (address space, FD table, signal handlers); the thread
                   group's live count drops (group_dead when it hits zero)
    runExitNotify  children reparented; the task becomes a zombie; its parent is notified when the
                   whole group is dead; non-leaders are released at once. A dying PID namespace
                   init waits here (as data) until every other task of its namespace is gone.
    runExitDone    zombie until reaped (or released already)

Exit statuses are wait statuses as Linux encodes them: ``(code & 0xff) << 8`` for exit, the signal
number for death by signal.
"""
from __future__ import annotations

import numpy as np

from ..abi import (CLD_DUMPED, CLD_EXITED, CLD_KILLED, Block, ExitState, PTRACE_O_EXITKILL,
                   PTRACE_O_TRACESYSGOOD, RunState, SA_NOCLDWAIT, SIGTRAP, SYSCALL_WORK_TRACE,
                   SIGCHLD, SIGCONT, SIGHUP, SIGKILL, SIG_IGN)
from ..components import links, pidns, resources, rlimits
from ..components import ptrace as P
from ..components.signals import sigmask
from ..components.task import begin_exit
from ..errors import E, KernelError
from ..jit.links import unlink_many
from ..jit.scatter import add_at, first_seen, subtract_at, unique
from ..jit.signals_batch import sigkill_rows
from ..schedule import Phase, system
from . import (cpu_clocks, futex, io_wait, ipc_sem, ipc_shm, ptrace, seccomp, sessions, task_clone,
               tty)
from .task_signals import (flags_of, group_kill, handler_of, ptrace_exit_event, ptrace_stop,
                           release_group_signals, release_task_signals, send_group_signal)


# -- kernel calls ----------------------------------------------------------------------------------

def exit_task(world, t: int, code: int) -> None:
    """exit(2): end this thread with status ``code`` (only the low 8 bits count)."""
    T = world.tasks
    if T.exit_state[t] != ExitState.NONE:
        raise KernelError(E.ESRCH, "task is already exiting")
    tg = int(T.tg[t])
    G = world.thread_groups
    T.exit_code[t] = G.group_exit_code[tg] if G.exiting[tg] else (code & 0xFF) << 8
    begin_exit(world, t)


def exit_group(world, t: int, code: int) -> None:
    """exit_group(2): end every thread of the group; the first group exit's status wins."""
    T, G = world.tasks, world.thread_groups
    if T.exit_state[t] != ExitState.NONE:
        raise KernelError(E.ESRCH, "task is already exiting")
    tg = int(T.tg[t])
    if not G.exiting[tg]:
        group_kill(world, tg, (code & 0xFF) << 8)
    T.sig_pending[t] &= ~sigmask(SIGKILL)
    T.exit_code[t] = G.group_exit_code[tg]
    begin_exit(world, t)


def exit_many(world, tasks: np.ndarray, codes: np.ndarray,
              group: np.ndarray | None = None) -> np.ndarray:
    """exit(2) (``group[i]`` False, the default) or exit_group(2) (True) for ``tasks[i]`` with
    status ``codes[i]``, in order: the state :func:`exit_task` / :func:`exit_group` called once
    per item gives. Returns the errors (0, or -ESRCH for a task already exiting, or named again
    after its own exit earlier in the batch).

    An exit_group from a one-thread process touches only that process (its group's status, the
    task's SIGKILL bit and exit columns): those go in one numpy pass. The rest in order: each run
    of exits in one numpy pass (exit_task touches only the task's row and reads its group's exit
    status, which no exit changes), an exit_group from a multi-threaded process one at a time
    (group_kill walks the group's threads)."""
    T, G = world.tasks, world.thread_groups
    tasks = np.ascontiguousarray(tasks, np.int64)
    codes = np.asarray(codes, np.int64)
    group = np.zeros(len(tasks), np.bool_) if group is None else np.asarray(group, np.bool_)
    first = np.empty(len(tasks), np.bool_)
    first_seen(tasks, world.scratch("task_marks", T.n, np.uint8), first)
    # only a task's own exit moves its exit_state: a later item naming it finds it exiting
    live = first & (T.exit_state[tasks] == ExitState.NONE)
    err = np.where(live, 0, -E.ESRCH).astype(np.int64)
    tg = T.tg[tasks]
    alone = live & group & (G.tasks_count[tg] == 1)
    a, atg = tasks[alone], tg[alone]
    lead = ~G.exiting[atg]  # group_kill: the first group exit's status wins
    G.group_exit_code[atg[lead]] = (codes[alone][lead] & 0xFF) << 8
    G.exiting[atg] = True
    T.sig_pending[a] &= ~np.uint64(sigmask(SIGKILL))  # group_kill's SIGKILL, taken back
    T.exit_code[a] = G.group_exit_code[atg]
    begin_exit(world, a)
    rest = np.flatnonzero(live & ~alone)
    grp = group[rest]
    bounds = [0, *(np.flatnonzero(np.diff(grp)) + 1).tolist(), len(rest)]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if lo == hi:
            continue
        items = rest[lo:hi]
        if grp[lo]:
            for i in items.tolist():
                exit_group(world, int(tasks[i]), int(codes[i]))
            continue
        t = tasks[items]
        ttg = T.tg[t]
        T.exit_code[t] = np.where(G.exiting[ttg], G.group_exit_code[ttg], (codes[items] & 0xFF) << 8)
        begin_exit(world, t)
    return err


def exit_group_many(world, tasks: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """exit_group(2) for each item, in order (:func:`exit_many`)."""
    return exit_many(world, tasks, codes, np.ones(len(tasks), np.bool_))


def kill_by_signal(world, tg: int, signo: int) -> None:
    """A fatal signal's default action: the whole group dies with status ``signo``."""
    group_kill(world, tg, signo)


# -- systems ----------------------------------------------------------------------------------------

@system(phase=Phase.INTERRUPT, reads=("SigPending", "ThreadGroupMembership", "ThreadGroupCore"),
        writes=("RunState", "ExitState", "TaskPtrace", "ChildEvents", "GroupSigPending",
                "SigPending", "SigQueue"))
def interrupt_system(world, commands) -> None:
    """Tasks with SIGKILL pending stop what they do (even blocked) and begin their exit."""
    T, G = world.tasks, world.thread_groups
    n = T.n
    rows = world.scratch("task_rows", n, np.int64)
    rows = rows[: sigkill_rows(n, T.alive, T.exit_state, T.sig_pending, rows)]
    if len(rows) == 0:
        return
    tg = T.tg[rows]
    T.exit_code[rows] = np.where(G.exiting[tg], G.group_exit_code[tg], SIGKILL)
    begin_exit(world, rows)
    if world.index.ptraced:
        # do_exit's PTRACE_EVENT_EXIT: a tracee with PTRACE_O_TRACEEXIT stops there (a ptrace
        # stop it was in is over)
        for t in rows[T.ptracer[rows] >= 0].tolist():
            T.ptrace_stop[t] = P.STOP_NONE
            T.ptrace_report[t] = False
            ptrace_exit_event(world, t)


@system(phase=Phase.EXIT,
        reads=("TaskTree", "ThreadGroupMembership", "SignalHandlers", "SigActions", "SigMask",
               "PIDNamespace", "ChildSubreaper", "GroupStopState", "ProcessGroup", "TaskPIDs"),
        writes=("RunState", "ExitState", "TaskTree", "ThreadGroupMembership", "ThreadGroupCore",
                "ChildEvents", "GroupSigPending", "SigPending", "TaskResources", "signal_handlersRefs",
                "fd_tablesRefs", "address_spacesRefs", "fs_contextsRefs", "PIDNamespace", "ProcessGroupMembership",
                "ProcessGroup", "Session", "Rlimits", "UTSNamespace", "process_groupsIDs",
                "sessionsIDs", "TaskIDs", "TaskPIDs", "ThreadState", "SignalHandlers", "SigActions",
                "TaskCreds",
                "SigMask", "GroupStopState", "SigQueue", "SigFrames", "SigWait", "SigInfo",
                "WaitState", "FutexWaiters", "FutexQueues", "FutexState", "CpuClock", "CpuUsage",
                "GroupCpuClock", "IOWaits",
                # release drops ptrace links and seccomp chains; a tracer's exit detaches
                "TaskPtrace", "TaskSeccomp", "SeccompFilters"))
def exit_system(world, commands) -> None:
    """Advance every exiting task: runExit -> runExitMain -> runExitNotify -> runExitDone.

    Tasks whose exit needs no reparenting (no children) in the root PID namespace, outside its
    init's group, are the common case and go through the batch functions below; the others are
    taken one by one, first, in row order. ``Settings.batch_exit = False`` takes every task one by
    one (the scalar reference the batch path is tested against).
    """
    T, N = world.tasks, world.pid_namespaces
    n = T.n
    rs = T.run_state[:n]
    rows = np.flatnonzero(((rs == RunState.runExit) | (rs == RunState.runExitNotify)) & T.alive[:n])
    if len(rows) == 0:
        return
    main = rows[T.run_state[rows] == RunState.runExit]
    if world.settings.batch_exit:
        exit_main_many(world, main)
    else:
        for t in main.tolist():
            exit_main(world, t)
    root = world.index.root_pidns
    init = int(N.init_task[root])
    init_tg = int(T.tg[init]) if init >= 0 else -1
    simple = (T.child_head[rows] < 0) & (T.ns[rows] == root) & (T.tg[rows] != init_tg) \
        & (T.ptracer[rows] < 0) & (world.thread_groups.exec_task[T.tg[rows]] < 0)
    for t in rows[~simple].tolist():
        exit_notify(world, t)
    if world.settings.batch_exit:
        exit_notify_many(world, rows[simple])
    else:
        for t in rows[simple].tolist():
            exit_notify(world, t)


def exit_main(world, t: int) -> None:
    """Release what a dead thread no longer needs, and count it out of its group (do_exit)."""
    T, G = world.tasks, world.thread_groups
    futex.futex_exit(world, t)  # robust list, clear_child_tid: before the mm reference goes
    task_clone.vfork_release(world, t)  # mm_release: a vfork parent goes on
    if T.ptrace_tracees[t]:
        exit_ptrace(world, t)
    io_wait.release_task(world, t)
    mm = int(T.mm[t])
    if mm >= 0:
        cpu_clocks.keep_maxrss(world, t, world.index.address_spaces.get(mm))
        if world.tables["address_spaces"].refs[mm] == 1:
            ipc_shm.exit_mm(world, t, mm)  # its shm attaches close with it (shm_dtime, shm_lpid)
    for kind, col in resources.KINDS.items():
        row = int(getattr(T, col)[t])
        if row >= 0:
            getattr(T, col)[t] = -1
            resources.release(world, kind, row)
    tg = int(T.tg[t])
    G.active_tasks[tg] -= 1
    if G.active_tasks[tg] == 0 and world.index.ipc is not None:
        ipc_sem.exit_sem(world, t)  # the process's SEM_UNDO adjustments
    T.run_state[t] = RunState.runExitNotify


def _is_ns_init_group(world, tg: int) -> int:
    """The namespace whose init leads ``tg``, or -1."""
    T, G, N = world.tasks, world.thread_groups, world.pid_namespaces
    leader = int(G.leader[tg])
    ns = int(T.ns[leader])
    return ns if int(N.init_task[ns]) == leader else -1


def exit_notify(world, t: int) -> None:
    """Reparent children, become a zombie, notify the parent (exit_notify)."""
    T, G, N = world.tasks, world.thread_groups, world.pid_namespaces
    tg = int(T.tg[t])
    group_dead = G.active_tasks[tg] == 0
    init_ns = _is_ns_init_group(world, tg)
    if init_ns >= 0 and group_dead:
        if not N.exiting[init_ns]:
            _zap_pid_namespace(world, init_ns, tg)
        # Like zap_pid_ns_processes, init waits (as a row state) until it is alone.
        if int(N.ntasks[init_ns]) > int(G.tasks_count[tg]):
            _forget_original_parent(world, t)
            return
    _forget_original_parent(world, t)
    if group_dead:
        tty.leader_exit(world, tg)
        kill_orphaned_pgrp(world, tg)
    T.exit_state[t] = ExitState.ZOMBIE
    T.run_state[t] = RunState.runExitDone
    leader = int(G.leader[tg])
    ex = int(G.exec_task[tg])
    if t == leader and ex >= 0 and T.alive[ex] and int(T.run_state[ex]) == RunState.blocked \
            and int(T.block[ex]) == Block.EXEC:
        promote_exec(world, ex)  # de_thread's wait is over: the exec'ing thread takes over
        return
    if t == leader:
        if G.tasks_count[tg] == 1 and traced_elsewhere(world, t):
            # a zombie tracee is its tracer's to see first; its parent hears of it once the
            # tracer has waited for it or is gone (exit_ptrace)
            T.ptrace_report[t] = True
            notify_tracer_of_exit(world, t)
        elif G.tasks_count[tg] == 1 and do_notify_parent(world, t):
            release(world, t)
    elif T.ptracer[t] >= 0:
        # a traced thread: a zombie its tracer hears of (SIGCHLD) and reaps with its wait
        # (exit_notify: do_notify_parent to the tracer; wait_task_zombie then releases it)
        T.ptrace_report[t] = True
        notify_tracer_of_exit(world, t)
    else:
        release(world, t)


def promote_exec(world, t: int) -> None:
    """The end of de_thread for an exec from non-leader ``t`` once the old leader is a zombie:
    ``t`` takes the leader's ids (exchange_tids, transfer_pid) and its place among its parent's
    children, becomes the leader, and the old leader is released without a report (its tracer
    included). Then the exec's ptrace report: PTRACE_EVENT_EXEC with ``t``'s old tid as the
    message (or the legacy SIGTRAP), and under PTRACE_SYSCALL the execve's exit stop."""
    T, G, N = world.tasks, world.thread_groups, world.pid_namespaces
    tg = int(T.tg[t])
    old = int(G.leader[tg])
    G.exec_task[tg] = -1
    for ns in pidns.chain(world, int(T.ns[t])):
        lvl = int(N.level[ns])
        a, b = int(T.tids[t, lvl]), int(T.tids[old, lvl])
        T.tids[t, lvl], T.tids[old, lvl] = b, a
        pm = pidns.pidmap(world, ns)
        pm.set("task", b, t)
        pm.set("task", a, old)
    p = int(T.parent[old])
    if p >= 0:
        links.unlink(T.child_head, T.child_tail, p, T.sib_next, T.sib_prev, old)
        links.append(T.child_head, T.child_tail, p, T.sib_next, T.sib_prev, t)
    T.parent[t] = p
    G.leader[tg] = t
    T.exit_state[old] = ExitState.DEAD
    was_blocked = int(T.run_state[t]) == RunState.blocked and int(T.block[t]) == Block.EXEC
    if was_blocked:
        T.run_state[t] = RunState.runApp  # the new image's registers are in place
        T.block[t] = Block.NONE
    stopped = False
    if T.ptracer[t] >= 0:
        stopped = ptrace.exec_event(world, t, old)  # the message: t's old tid, now old's
    release(world, old)
    if was_blocked and T.ptracer[t] >= 0 and T.syscall_work[t] & SYSCALL_WORK_TRACE:
        if stopped:
            T.ptrace_exit_due[t] = True  # the execve's exit stop follows the event's resume
        else:
            ptrace_stop(world, t, P.STOP_SYSCALL_EXIT, SIGTRAP | (
                0x80 if T.ptrace_flags[t] & PTRACE_O_TRACESYSGOOD else 0))


def traced_elsewhere(world, t: int) -> bool:
    """ptrace_reparented: ``t`` is traced by a task outside its real parent's thread group."""
    T = world.tasks
    tracer, parent = int(T.ptracer[t]), int(T.parent[t])
    return tracer >= 0 and (parent < 0 or int(T.tg[tracer]) != int(T.tg[parent]))


def notify_tracer_of_exit(world, t: int) -> None:
    """do_notify_parent to the tracer of a zombie tracee: SIGCHLD with the exit's si_code and
    status (unless the tracer ignores SIGCHLD), and its waits look again."""
    T, G = world.tasks, world.thread_groups
    tracer = int(T.ptracer[t])
    ttg = int(T.tg[tracer])
    code, status = child_siginfo(wait_status(world, t))
    if handler_of(world, tracer, SIGCHLD) != SIG_IGN:
        send_group_signal(world, ttg, SIGCHLD, code=code,
                          pid=pidns.tid_in(world, t, int(T.ns[tracer])), uid=int(T.ruid[t]),
                          value=status)
    G.child_seq[ttg] += 1


def release_traced_zombie(world, t: int) -> None:
    """The tracer has seen a zombie tracee's exit (or is gone): unlink it, and its real parent
    hears of it now (and reaps it, or it is autoreaped); a thread that is not its group's
    leader is released (wait_task_zombie: EXIT_DEAD)."""
    ptrace.unlink(world, t)
    T = world.tasks
    if int(world.thread_groups.leader[int(T.tg[t])]) != t or do_notify_parent(world, t):
        release(world, t)


def exit_ptrace(world, tracer: int) -> None:
    """exit_ptrace: a tracer's exit detaches its tracees (PTRACE_O_EXITKILL ones die of
    SIGKILL); a zombie tracee goes to its real parent."""
    T = world.tasks
    for t in np.flatnonzero((T.ptracer[: T.n] == tracer) & T.alive[: T.n]).tolist():
        if T.ptrace_flags[t] & PTRACE_O_EXITKILL:
            send_group_signal(world, int(T.tg[t]), SIGKILL)
        if int(T.exit_state[t]) == ExitState.ZOMBIE and T.ptrace_report[t]:
            release_traced_zombie(world, t)
        else:
            ptrace.unlink(world, t)


def _zap_pid_namespace(world, ns: int, init_tg: int) -> None:
    """The namespace's init group died: no new tasks, SIGKILL to all others, autoreap them."""
    T, N = world.tasks, world.pid_namespaces
    N.exiting[ns] = True
    # zap_pid_ns_processes sets init's SIGCHLD to SIG_IGN so that its children autoreap. Our
    # init's handlers are already released (exit_main): mark the namespace instead (see
    # _parent_autoreaps).
    pm = pidns.pidmap(world, ns)
    for task in pm.task[pm.task >= 0]:
        g = int(T.tg[task])
        if g != init_tg:
            group_kill(world, g, SIGKILL)


def _find_alive_thread(world, tg: int) -> int:
    T, G = world.tasks, world.thread_groups
    for r in links.members(G.task_head, tg, T.tg_next):
        if T.exit_state[r] == ExitState.NONE:
            return r
    return -1


def _find_new_reaper(world, t: int) -> int:
    """find_new_reaper: a live sibling thread, a subreaper ancestor, or the namespace's init."""
    T, G, N = world.tasks, world.thread_groups, world.pid_namespaces
    tg = int(T.tg[t])
    r = _find_alive_thread(world, tg)
    if r >= 0:
        return r
    ns = int(T.ns[t])
    init = int(N.init_task[ns])
    if init >= 0 and int(T.tg[init]) == tg:
        return t  # a dying init keeps its children and reaps them (zap_pid_ns_processes)
    if G.has_child_subreaper[tg]:
        level = int(N.level[ns])
        p = int(T.parent[int(G.leader[tg])])
        while p >= 0 and int(N.level[int(T.ns[p])]) == level and p != init:
            ptg = int(T.tg[p])
            if G.child_subreaper[ptg]:
                r = _find_alive_thread(world, ptg)
                if r >= 0:
                    return r
            p = int(T.parent[int(G.leader[ptg])])
    if init < 0 or T.exit_state[init] == ExitState.DEAD:
        return -1
    return init


def _forget_original_parent(world, t: int) -> None:
    T, G = world.tasks, world.thread_groups
    if T.child_head[t] < 0:
        return
    reaper = _find_new_reaper(world, t)
    if reaper == t:
        return
    for c in links.members(T.child_head, t, T.sib_next):
        links.unlink(T.child_head, T.child_tail, t, T.sib_next, T.sib_prev, c)
        ctg = int(T.tg[c])
        # Every thread of the child changes parent; PR_SET_PDEATHSIG fires for each.
        for th in links.members(G.task_head, ctg, T.tg_next):
            T.parent[th] = reaper
            sig = int(T.pdeath_signal[th])
            if sig:
                send_group_signal(world, ctg, sig)
        if reaper >= 0:
            links.append(T.child_head, T.child_tail, reaper, T.sib_next, T.sib_prev, c)
        else:
            T.parent[c] = -1
        # A zombie child is re-notified to its new parent (reparent_leader).
        if T.exit_state[c] == ExitState.ZOMBIE and G.tasks_count[ctg] == 1:
            if reaper < 0 or do_notify_parent(world, c):
                release(world, c)
                continue
        kill_orphaned_pgrp(world, ctg, t)


def kill_orphaned_pgrp(world, tg: int, parent_task: int = -1) -> bool:
    """Linux kill_orphaned_pgrp: SIGHUP then SIGCONT to a newly orphaned group with stopped jobs.

    With ``parent_task`` < 0 this is ``tg`` exiting (it is ignored in the check and its own parent
    is the outside connection); otherwise ``tg`` is a child being reparented away from
    ``parent_task``. Returns True if the signals were sent.
    """
    P, G, T = world.process_groups, world.thread_groups, world.tasks
    pg = int(G.pgrp[tg])
    ignored = tg
    if parent_task < 0:
        parent_task = int(T.parent[int(G.leader[tg])])
    else:
        ignored = -1
    if parent_task < 0:
        return False
    ppg = int(G.pgrp[int(T.tg[parent_task])])
    if ppg == pg or P.session[ppg] != P.session[pg]:
        return False
    if not (sessions.will_become_orphaned(world, pg, ignored)
            and sessions.has_stopped_jobs(world, pg)):
        return False
    for g in links.members(P.tg_head, pg, G.pg_next):
        send_group_signal(world, g, SIGHUP)
        send_group_signal(world, g, SIGCONT)
    return True


def _parent_autoreaps(world, parent: int, signo: int) -> tuple[bool, int]:
    """do_notify_parent's SIGCHLD rules: (autoreap?, signal to send)."""
    T, N = world.tasks, world.pid_namespaces
    ns = int(T.ns[parent])
    if N.exiting[ns] and int(N.init_task[ns]) == parent:
        return True, 0  # zap_pid_ns_processes ignores SIGCHLD
    if signo != SIGCHLD:
        return False, signo
    if handler_of(world, parent, SIGCHLD) == SIG_IGN:
        return True, 0
    if flags_of(world, parent, SIGCHLD) & SA_NOCLDWAIT:
        return True, signo
    return False, signo


def do_notify_parent(world, t: int) -> bool:
    """Tell ``t``'s parent that its thread group died. Returns True if it must be autoreaped.

    The signal's siginfo is Linux's: si_code and si_status from :func:`child_siginfo`, si_pid the
    child's id in the parent's PID namespace, si_uid its real uid. si_utime and si_stime stay 0:
    the dequeued siginfo lives in per-task columns (SigInfo), and two more would cost 16 bytes a
    task."""
    T, G = world.tasks, world.thread_groups
    parent = int(T.parent[t])
    if parent < 0:
        return True  # no one will ever wait for it
    tg = int(T.tg[t])
    signo = int(G.termination_signal[tg])
    autoreap, signo = _parent_autoreaps(world, parent, signo)
    ptg = int(T.tg[parent])
    if signo > 0:
        code, status = child_siginfo(wait_status(world, t))
        pid = pidns.tid_in(world, t, int(T.ns[parent]))
        send_group_signal(world, ptg, signo, code=code, pid=pid, uid=int(T.ruid[t]), value=status)
    G.child_seq[ptg] += 1  # __wake_up_parent
    return autoreap


# -- batches: the same steps for many tasks at once (see exit_system for which) -----------------------

def exit_main_many(world, rows: np.ndarray) -> None:
    """:func:`exit_main` for many tasks."""
    if len(rows) == 0:
        return
    T, G = world.tasks, world.thread_groups
    futex.futex_exit_many(world, rows)  # as exit_main: before the mm references go
    for t in rows[T.ptrace_tracees[rows] > 0].tolist():
        exit_ptrace(world, t)
    W = world.io_waits
    waits = W.iw_task[W.live_rows()] if W.count else np.zeros(0, np.int32)
    for t in rows[(T.vfork_parent[rows] >= 0) | np.isin(rows, waits)].tolist():
        task_clone.vfork_release(world, t)
        io_wait.release_task(world, t)
    spaces, measured = world.index.address_spaces, set()
    guests = rows[T.guest[rows]]
    mms, leaving = np.unique(T.mm[guests], return_counts=True)
    refs = world.tables["address_spaces"].refs
    # exit_main measures an address space afresh at its last user's exit only: here once, when
    # every user it has left is in this batch, else the threads keep its last high-water mark
    last = {int(mm) for mm, n in zip(mms.tolist(), leaving.tolist()) if mm >= 0 and refs[mm] == n}
    for t in guests.tolist():  # a guest's address space (synthetic ones have no RSS)
        mm = int(T.mm[t])
        if mm >= 0:
            cpu_clocks.keep_maxrss(world, t, spaces.get(mm), fresh=mm in last and mm not in measured)
            if mm in last and mm not in measured:
                ipc_shm.exit_mm(world, t, mm)  # as exit_main: the last user's shm attaches close
            measured.add(mm)
    for kind, col in resources.KINDS.items():
        c = getattr(T, col)
        res = c[rows].astype(np.int64)
        res = res[res >= 0]
        c[rows] = -1
        resources.release_many(world, kind, res)
    subtract_at(G.active_tasks, T.tg[rows], 1)
    if world.index.ipc is not None:  # as exit_main: the last task of a group undoes its semops
        for t in rows[G.active_tasks[T.tg[rows]] == 0].tolist():
            ipc_sem.exit_sem(world, t)
    T.run_state[rows] = RunState.runExitNotify


def exit_notify_many(world, rows: np.ndarray) -> None:
    """:func:`exit_notify` for tasks with no children, in the root namespace, outside init's group."""
    if len(rows) == 0:
        return
    T, G, P = world.tasks, world.thread_groups, world.process_groups
    tgs = T.tg[rows].astype(np.int64)
    dead = unique(tgs[G.active_tasks[tgs] == 0])
    for tg in dead[G.tty[dead] & G.is_session_leader[dead]].tolist():
        tty.leader_exit(world, tg)
    if len(dead):
        # kill_orphaned_pgrp can only act where the parent is in another group of the same session.
        lp = T.parent[G.leader[dead]]
        has = lp >= 0
        d, lp = dead[has], lp[has]
        ppg = G.pgrp[T.tg[lp]]
        pg = G.pgrp[d]
        maybe = (ppg != pg) & (P.session[ppg] == P.session[pg])
        for tg in d[maybe].tolist():
            kill_orphaned_pgrp(world, tg)
    T.exit_state[rows] = ExitState.ZOMBIE
    T.run_state[rows] = RunState.runExitDone
    leaders = G.leader[tgs]
    release_many(world, rows[leaders != rows])
    cand = unique(tgs)
    lead = G.leader[cand].astype(np.int64)
    ready = lead[(T.exit_state[lead] == ExitState.ZOMBIE) & (G.tasks_count[cand] == 1)]
    reap = notify_parents_many(world, ready)
    release_many(world, ready[reap])


def notify_parents_many(world, leaders: np.ndarray) -> np.ndarray:
    """:func:`do_notify_parent` for many zombie leaders; returns the autoreap mask."""
    T, G, N = world.tasks, world.thread_groups, world.pid_namespaces
    if len(leaders) == 0:
        return np.zeros(0, np.bool_)
    parent = T.parent[leaders].astype(np.int64)
    orphan = parent < 0
    p = np.where(orphan, 0, parent)
    signo = G.termination_signal[T.tg[leaders]].astype(np.int64)
    sh = T.sighand[p].astype(np.int64)
    has_sh = sh >= 0
    A = world.sigactions
    a = world.signal_handlers.actions[np.where(has_sh, sh, 0)]
    handler = np.where(has_sh, A.sa_handler[a, SIGCHLD - 1], 0)
    flags = np.where(has_sh, A.sa_flags[a, SIGCHLD - 1], 0)
    pns = T.ns[p]
    zap = N.exiting[pns] & (N.init_task[pns] == p)
    is_chld = signo == SIGCHLD
    ign = is_chld & (handler == SIG_IGN)
    autoreap = orphan | zap | ign | (is_chld & ((flags & SA_NOCLDWAIT) != 0))
    send = ~orphan & ~zap & ~ign & (signo > 0)
    ptg = T.tg[p].astype(np.int64)
    code, status = child_siginfo(wait_status(world, leaders))
    # A parent's namespace is the child's or an ancestor of it: the child's id at its level.
    pid = T.tids[leaders, N.level[pns]]
    uid = T.ruid[leaders]
    for i in np.flatnonzero(send).tolist():
        send_group_signal(world, int(ptg[i]), int(signo[i]), code=int(code[i]), pid=int(pid[i]),
                          uid=int(uid[i]), value=int(status[i]))
    add_at(G.child_seq, ptg[~orphan], 1)
    return autoreap


def release_many(world, rows: np.ndarray) -> None:
    """:func:`release` for many tasks of the root namespace (none of them a namespace init)."""
    if len(rows) == 0:
        return
    T, G, N = world.tasks, world.thread_groups, world.pid_namespaces
    root = world.index.root_pidns
    cpu_clocks.on_release_many(world, rows)  # as release
    for t in rows[T.seccomp_filter[rows] >= 0].tolist():
        seccomp.on_release(world, t)
    for t in rows[T.ptracer[rows] >= 0].tolist():
        ptrace.unlink(world, t)
    T.exit_state[rows] = ExitState.DEAD
    T.run_state[rows] = RunState.runExitDone
    pidns.pidmap(world, root).task[T.tids[rows, 0]] = -1
    N.ntasks[root] -= len(rows)
    nproc = world.index.nproc
    for uid, cnt in zip(*unique(T.ruid[rows], return_counts=True)):
        uid = int(uid)
        nproc[uid] -= int(cnt)
        if not nproc[uid]:
            del nproc[uid]
    U = world.uts_namespaces
    u = T.uts[rows].astype(np.int64)
    u = u[u >= 0]
    subtract_at(U.refs, u, 1)
    for z in unique(u[U.refs[u] == 0]).tolist():
        world.commands.free("uts_namespaces", z)
    T.uts[rows] = -1
    for t in rows[(T.q_head[rows] >= 0) | (T.frame_top[rows] >= 0) | (T.altstack[rows] >= 0)].tolist():
        release_task_signals(world, t)
    tgs = T.tg[rows].astype(np.int64)
    unlink_many(G.task_head, G.task_tail, tgs, T.tg_next, T.tg_prev, rows)
    subtract_at(G.tasks_count, tgs, 1)
    lead = rows[G.leader[tgs] == rows]
    if len(lead):
        par = T.parent[lead].astype(np.int64)
        has = par >= 0
        unlink_many(T.child_head, T.child_tail, par[has], T.sib_next, T.sib_prev, lead[has])
        ltg = T.tg[lead].astype(np.int64)
        for tg in ltg[G.gq_head[ltg] >= 0].tolist():
            release_group_signals(world, tg)
        sessions.forget_leaders(world, ltg)
        R = world.rlimit_sets
        rl = G.rlimits[ltg].astype(np.int64)
        subtract_at(R.refs, rl, 1)
        for z in unique(rl[R.refs[rl] == 0]).tolist():
            world.commands.free("rlimit_sets", z)
        G.rlimits[ltg] = -1
        world.commands.frees.setdefault("thread_groups", []).extend(ltg.tolist())
    world.commands.frees.setdefault("tasks", []).extend(rows.tolist())


def wait_status(world, t):
    """The status a parent's wait sees for zombie leader ``t`` (int; for an array of leaders,
    an int64 array)."""
    T, G = world.tasks, world.thread_groups
    tg = T.tg[t]
    status = np.where(G.exiting[tg], G.group_exit_code[tg], T.exit_code[t]).astype(np.int64)
    return int(status) if status.ndim == 0 else status


def child_siginfo(status):
    """(si_code, si_status) of a dead child whose wait status is ``status`` (do_notify_parent,
    wait_task_zombie): CLD_EXITED and the exit code, or CLD_DUMPED (core bit 0x80) or CLD_KILLED
    and the signal. Ints, or two int64 arrays for an array of statuses."""
    status = np.asarray(status, np.int64)
    exited = (status & 0x7F) == 0
    code = np.where(exited, CLD_EXITED, np.where(status & 0x80, CLD_DUMPED, CLD_KILLED))
    si_status = np.where(exited, (status >> 8) & 0xFF, status & 0x7F)
    if code.ndim == 0:
        return int(code), int(si_status)
    return code.astype(np.int64), si_status.astype(np.int64)


def release(world, t: int) -> None:
    """release_task: the task is dead; unlink it everywhere and free its ids. Rows are freed at
    the next sync point. A leader's release frees its thread group."""
    T, G, N = world.tasks, world.thread_groups, world.pid_namespaces
    T.exit_state[t] = ExitState.DEAD
    T.run_state[t] = RunState.runExitDone
    cpu_clocks.on_release(world, t)  # its CPU time stays in the group's (signal->utime/stime)
    seccomp.on_release(world, t)
    ptrace.unlink(world, t)
    tg = int(T.tg[t])
    leader = int(G.leader[tg])
    for ns in pidns.chain(world, int(T.ns[t])):
        pidns.pidmap(world, ns).set("task", int(T.tids[t, int(N.level[ns])]), -1)
        N.ntasks[ns] -= 1
        if N.init_task[ns] == t:
            N.init_task[ns] = -1
    nproc = world.index.nproc
    uid = int(T.ruid[t])
    nproc[uid] -= 1
    if not nproc[uid]:
        del nproc[uid]
    u = int(T.uts[t])
    if u >= 0:
        world.uts_namespaces.refs[u] -= 1
        if world.uts_namespaces.refs[u] == 0:
            world.uts_namespaces.free(u)
        T.uts[t] = -1
    release_task_signals(world, t)
    links.unlink(G.task_head, G.task_tail, tg, T.tg_next, T.tg_prev, t)
    G.tasks_count[tg] -= 1
    if t == leader:
        release_group_signals(world, tg)
        parent = int(T.parent[t])
        if parent >= 0:
            links.unlink(T.child_head, T.child_tail, parent, T.sib_next, T.sib_prev, t)
        sessions.forget_leader(world, tg)
        rlimits.unref(world, int(G.rlimits[tg]))
        G.rlimits[tg] = -1
        world.commands.free("thread_groups", tg)
    elif G.tasks_count[tg] == 1 and T.exit_state[leader] == ExitState.ZOMBIE:
        # The last thread of a zombie leader's group: now the group is dead for the parent.
        if do_notify_parent(world, leader):
            release(world, leader)
    world.commands.free("tasks", t)
    _maybe_free_namespace(world, int(T.ns[t]))


def _maybe_free_namespace(world, ns: int) -> None:
    N = world.pid_namespaces
    if ns == world.index.root_pidns or N.ntasks[ns] > 0:
        return
    pm = pidns.pidmap(world, ns)
    if (pm.pgrp >= 0).any() or (pm.session >= 0).any():
        return  # ids still held by groups or sessions: freed with them
    world.commands.push(_free_namespace, ns)


def _free_namespace(world, ns: int) -> None:
    N = world.pid_namespaces
    if N.alive[ns] and N.ntasks[ns] == 0:
        world.index.pidmaps.pop(ns, None)
        N.free(ns)

