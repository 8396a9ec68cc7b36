"""wait4(2) and waitid(2): ``Task.wait`` with the full WaitOptions semantics.

gVisor: task_exit.go (Task.Wait). Linux: kernel/exit.c (do_wait, wait_consider_task,
eligible_child, wait_task_zombie, wait_task_stopped, wait_task_continued).

A wait that finds nothing and may block does not hold a Python stack: the task's row becomes
``blocked`` on ``Block.WAIT`` with the request in its WaitState columns, and ``wait_system``
retries it whenever its thread group's ``child_seq`` moved (a child died, stopped or continued).
The result lands in the row (``ret``, ``wait_status``, ``wait_code``, ``wait_uid``) and the task
moves to ``runSyscallExit``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..abi import (Block, CLD_CONTINUED, CLD_DUMPED, CLD_EXITED, CLD_KILLED, CLD_STOPPED,
                   CLD_TRAPPED, ExitState, P_ALL, P_PGID, P_PID, RunState, SIGCHLD, WALL, WCLONE, WCONTINUED,
                   WEXITED, WNOHANG, WNOTHREAD, WNOWAIT, WSTATUS_CONTINUED,
                   WSTATUS_STOPPED, WSTOPPED, WUNTRACED)
from ..components import links, pidns
from ..errors import E, KernelError
from ..jit import wait_batch as K
from ..schedule import Phase, system
from . import cpu_clocks, ptrace, task_exit
from .task_block import BLOCKED, Blocked


_WAIT4_OPTIONS = WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WCLONE | WALL
_WAITID_OPTIONS = WNOHANG | WNOWAIT | WEXITED | WSTOPPED | WCONTINUED | WNOTHREAD | WCLONE | WALL
_NO_TARGET = -2  # a pid that named nobody: matches no task (Linux: NULL struct pid)


@dataclass(frozen=True)
class WaitOptions:
    """A validated wait request: which children (idtype, id) and which events (options)."""

    idtype: int
    id: int
    options: int

    @staticmethod
    def for_wait4(pid: int, options: int) -> "WaitOptions":
        """wait4(pid, options): pid < -1 a group, -1 any, 0 the caller's group, > 0 one child."""
        options &= 0xFFFFFFFF  # a C int
        if options & ~_WAIT4_OPTIONS:
            raise KernelError(E.EINVAL, f"bad wait4 options {options:#x}")
        options |= WEXITED
        if pid == -(2 ** 31):
            raise KernelError(E.ESRCH, "pid INT_MIN")
        if pid == -1:
            return WaitOptions(P_ALL, 0, options)
        if pid < 0:
            return WaitOptions(P_PGID, -pid, options)
        if pid == 0:
            return WaitOptions(P_PGID, 0, options)
        return WaitOptions(P_PID, pid, options)

    @staticmethod
    def for_waitid(idtype: int, id: int, options: int) -> "WaitOptions":
        options &= 0xFFFFFFFF
        if options & ~_WAITID_OPTIONS:
            raise KernelError(E.EINVAL, f"bad waitid options {options:#x}")
        if not options & (WEXITED | WSTOPPED | WCONTINUED):
            raise KernelError(E.EINVAL, "waitid needs WEXITED, WSTOPPED or WCONTINUED")
        if idtype == P_ALL:
            return WaitOptions(P_ALL, 0, options)
        if idtype == P_PID:
            if id <= 0:
                raise KernelError(E.EINVAL, "P_PID with id <= 0")
            return WaitOptions(P_PID, id, options)
        if idtype == P_PGID:
            if id < 0:
                raise KernelError(E.EINVAL, "P_PGID with a negative id")
            return WaitOptions(P_PGID, id, options)
        raise KernelError(E.EINVAL, f"unsupported idtype {idtype}")


@dataclass(frozen=True)
class WaitResult:
    """What wait reports: the child's id in the waiter's namespace, its status and si_code."""

    task: int  # row of the child (already released if the wait reaped it)
    pid: int
    status: int
    code: int  # CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_STOPPED, CLD_CONTINUED
    uid: int
    utime: int = 0  # a reaped child's CPU time, its waited-for children's included (rusage), ns
    stime: int = 0
    maxrss: int = 0  # the rest of its rusage (cpu_clocks.ChildUsage)
    min_flt: int = 0
    nvcsw: int = 0
    nivcsw: int = 0

    def __repr__(self) -> str:
        """The status in hex (``0x300``: exit code 3) and the si_code by name (``CLD_EXITED``)."""
        code = _CLD_NAMES.get(self.code, str(self.code))
        return (f"WaitResult(task={self.task}, pid={self.pid}, status={self.status:#x}, "
                f"code={code}, uid={self.uid}, utime={self.utime}, stime={self.stime})")


_CLD_NAMES = {CLD_EXITED: "CLD_EXITED", CLD_KILLED: "CLD_KILLED", CLD_DUMPED: "CLD_DUMPED",
              CLD_TRAPPED: "CLD_TRAPPED", CLD_STOPPED: "CLD_STOPPED", CLD_CONTINUED: "CLD_CONTINUED"}


def _resolve(world, t: int, opts: WaitOptions) -> int:
    """The target row: a task for P_PID (leader only), a process group for P_PGID, -1 for P_ALL.

    ``_NO_TARGET`` when the id names nothing (do_wait's ``pid_has_task`` failing: ECHILD).
    """
    T, G = world.tasks, world.thread_groups
    ns = int(T.ns[t])
    if opts.idtype == P_ALL:
        return -1
    if opts.idtype == P_PID:
        r = pidns.task_by_tid(world, ns, opts.id)
        return r if r >= 0 else _NO_TARGET
    if opts.id == 0:
        return int(G.pgrp[int(T.tg[t])])
    pg = pidns.pidmap(world, ns).lookup("pgrp", opts.id)
    return pg if pg >= 0 else _NO_TARGET


def _eligible(world, c: int, opts: WaitOptions, target: int) -> bool:
    """eligible_pid + eligible_child (the __WCLONE / __WALL rules)."""
    T, G = world.tasks, world.thread_groups
    ctg = int(T.tg[c])
    if opts.idtype == P_PID and c != target:
        return False
    if opts.idtype == P_PGID and int(G.pgrp[ctg]) != target:
        return False
    if opts.options & WALL:
        return True
    is_clone = int(G.termination_signal[ctg]) != SIGCHLD
    return is_clone == bool(opts.options & WCLONE)


class _Search:
    def __init__(self):
        self.notask_error = True  # ECHILD unless some eligible child could still report


def _consider(world, waiter: int, c: int, opts: WaitOptions, st: _Search) -> WaitResult | None:
    """wait_consider_task for child leader ``c``."""
    T, G = world.tasks, world.thread_groups
    es = int(T.exit_state[c])
    if es == ExitState.DEAD:
        return None
    ctg = int(T.tg[c])
    ns = int(T.ns[waiter])
    traced = int(T.ptracer[c]) >= 0
    if traced and task_exit.traced_elsewhere(world, c):
        # a zombie tracee is only visible to its tracer; its stops are the tracer's too
        st.notask_error = False
        if es == ExitState.ZOMBIE:
            return None
    elif traced:
        traced = False  # traced by the waiter's group: it sees the tracee's reports instead
        if es == ExitState.NONE and ptrace.stopped(world, c):
            st.notask_error = False
            return None
    if es == ExitState.ZOMBIE:
        if G.tasks_count[ctg] == 1:  # not delay_group_leader
            if not opts.options & WEXITED:
                return None
            status = task_exit.wait_status(world, c)
            code, _ = task_exit.child_siginfo(status)
            if opts.options & WNOWAIT:
                usage = cpu_clocks.usage_both(world, c)
            else:
                usage = cpu_clocks.join_child(world, waiter, c)  # JoinedChildCPUStats
                task_exit.release(world, c)
            return WaitResult(c, pidns.tid_in(world, c, ns), status, code, int(T.ruid[c]),
                              *usage)
        if opts.options & (WCONTINUED | WEXITED):
            st.notask_error = False
    else:
        st.notask_error = False
    if opts.options & WSTOPPED and G.stop_report[ctg] and es == ExitState.NONE:
        sig = int(G.stop_signal[ctg])
        if not opts.options & WNOWAIT:
            G.stop_report[ctg] = False
        status = (sig << 8) | WSTATUS_STOPPED
        return WaitResult(c, pidns.tid_in(world, c, ns), status, CLD_STOPPED, int(T.ruid[c]),
                          *cpu_clocks.usage_both(world, c))
    if opts.options & WCONTINUED and G.continued_report[ctg]:
        if not opts.options & WNOWAIT:
            G.continued_report[ctg] = False
        return WaitResult(c, pidns.tid_in(world, c, ns), WSTATUS_CONTINUED, CLD_CONTINUED,
                          int(T.ruid[c]), *cpu_clocks.usage_both(world, c))
    return None


def try_wait(world, t: int, opts: WaitOptions) -> WaitResult | None:
    """One pass of do_wait. Returns a result, None if a child may still report (WNOHANG's 0 or
    block), or raises ECHILD when nothing can ever match."""
    T, G = world.tasks, world.thread_groups
    target = _resolve(world, t, opts)
    st = _Search()
    tg = int(T.tg[t])
    if target != _NO_TARGET:
        if opts.idtype == P_PID:
            # do_wait_pid: the target must be a thread group leader whose parent is one of ours.
            if int(G.leader[int(T.tg[target])]) == target:
                p = int(T.parent[target])
                if p == t or (p >= 0 and not opts.options & WNOTHREAD and int(T.tg[p]) == tg):
                    if _eligible(world, target, opts, target):
                        res = _consider(world, t, target, opts, st)
                        if res is not None:
                            return res
        else:
            threads = [t] if opts.options & WNOTHREAD else links.members(G.task_head, tg, T.tg_next)
            for th in threads:
                for c in links.iterate(T.child_head, th, T.sib_next):
                    if _eligible(world, c, opts, target):
                        res = _consider(world, t, c, opts, st)
                        if res is not None:
                            return res
    if world.index.ptraced and target != _NO_TARGET:
        res = _try_tracees(world, t, opts, target, st)
        if res is not None:
            return res
    if st.notask_error:
        raise KernelError(E.ECHILD, "no child can match this wait")
    return None


def _try_tracees(world, t: int, opts: WaitOptions, target: int, st: _Search) -> WaitResult | None:
    """ptrace_do_wait: the tasks the waiter (or, without __WNOTHREAD, its group) traces: a
    ptrace stop not yet reported (status ``code << 8 | 0x7f``, CLD_TRAPPED), or the exit of a
    zombie tracee whose real parent is elsewhere (reaped for the tracer: the parent hears of it
    then). Tracees are eligible whatever __WCLONE says."""
    T, G = world.tasks, world.thread_groups
    tg = int(T.tg[t])
    threads = [t] if opts.options & WNOTHREAD else links.members(G.task_head, tg, T.tg_next)
    n = T.n
    rows = np.flatnonzero(np.isin(T.ptracer[:n], threads) & T.alive[:n]).tolist()
    ns = int(T.ns[t])
    for r in rows:
        if opts.idtype == P_PID and r != target:
            continue
        if opts.idtype == P_PGID and int(G.pgrp[int(T.tg[r])]) != target:
            continue
        es = int(T.exit_state[r])
        if es == ExitState.DEAD:
            continue
        st.notask_error = False
        if es == ExitState.ZOMBIE and T.ptrace_report[r]:
            if not opts.options & WEXITED:
                continue
            status = task_exit.wait_status(world, r)
            code, _ = task_exit.child_siginfo(status)
            res = WaitResult(r, pidns.tid_in(world, r, ns), status, code, int(T.ruid[r]))
            if not opts.options & WNOWAIT:
                task_exit.release_traced_zombie(world, r)
            return res
        if es != ExitState.ZOMBIE and ptrace.stopped(world, r) and T.ptrace_report[r]:
            status = (int(T.ptrace_code[r]) << 8) | WSTATUS_STOPPED
            if not opts.options & WNOWAIT:
                T.ptrace_report[r] = False
            return WaitResult(r, pidns.tid_in(world, r, ns), status, CLD_TRAPPED, int(T.ruid[r]))
    return None


def wait(world, t: int, opts: WaitOptions) -> WaitResult | None | Blocked:
    """Task.Wait. Returns a WaitResult, None (WNOHANG and nothing ready), or BLOCKED; raises
    KernelError(ECHILD) when no child can ever match."""
    res = try_wait(world, t, opts)
    if res is not None or opts.options & WNOHANG:
        return res
    block_wait(world, t, opts)
    return BLOCKED


def block_wait(world, t, opts: WaitOptions) -> None:
    """Leave task ``t`` (or an array of tasks) blocked on ``opts``: Block.WAIT with the request
    in WaitState, and the child_seq its thread group has now (wait_system retries it when that
    moves)."""
    T, G = world.tasks, world.thread_groups
    T.run_state[t] = RunState.blocked
    T.block[t] = Block.WAIT
    T.wait_idtype[t] = opts.idtype
    T.wait_id[t] = opts.id
    T.wait_options[t] = opts.options
    T.wait_seq[t] = G.child_seq[T.tg[t]]


# -- batches: many waits at once (the simulation's wait requests, wait_system's retries) ------------

class WaitResults(NamedTuple):
    """What :func:`wait4_many` reports per item, as wait4(2) would: ``ret`` the child's pid,
    0 (WNOHANG and nothing ready, or blocked) or -errno; ``blocked`` the task now waits
    (Block.WAIT); for a child found, its wait status, si_code, uid and CPU times (rusage)."""

    ret: np.ndarray
    blocked: np.ndarray
    status: np.ndarray
    code: np.ndarray
    uid: np.ndarray
    utime: np.ndarray
    stime: np.ndarray


def wait4_many(world, tasks: np.ndarray, pids: np.ndarray, options: np.ndarray) -> WaitResults:
    """wait4(pids[i], options[i]) for ``tasks[i]``, in order: the state :func:`wait` called once
    per item (``WaitOptions.for_wait4``) gives, its blocking included. ``wait4(-1, 0)`` goes
    through :func:`wait_many` (the numba scan; zombie children reaped in batches; a waiter with
    nothing ready blocked as :func:`wait` blocks it, before the next item the scan leaves to the
    scalar path); every other request is served by :func:`wait` itself, in its turn."""
    tasks = np.ascontiguousarray(tasks, np.int64)
    pids = np.asarray(pids, np.int64)
    options = np.asarray(options, np.int64)
    n = len(tasks)
    ret = np.zeros(n, np.int64)
    blocked = np.zeros(n, np.bool_)
    served = np.zeros((5, n), np.int64)  # status, code, uid, utime, stime of what wait found

    def scalar(i: int) -> None:
        try:
            res = wait(world, int(tasks[i]), WaitOptions.for_wait4(int(pids[i]), int(options[i])))
        except KernelError as e:
            ret[i] = -e.errno
            return
        if res is BLOCKED:
            blocked[i] = True
        elif res is not None:
            ret[i] = res.pid
            served[:, i] = res.status, res.code, res.uid, res.utime, res.stime

    kind, pid, status, code, uid, utime, stime = wait_many(
        world, tasks, (pids == -1) & (options == 0), scalar, block=_SIMPLE)
    fb = kind == K.FALLBACK
    status[fb], code[fb], uid[fb], utime[fb], stime[fb] = served[:, fb]
    found = kind == K.FOUND
    ret[found] = pid[found]
    ret[kind == K.NO_CHILD] = -E.ECHILD
    blocked[kind == K.NONE] = True
    return WaitResults(ret, blocked, status, code, uid, utime, stime)


_SIMPLE = WaitOptions(P_ALL, 0, WEXITED)  # wait4(-1, 0), what wait_many's scan covers


def wait_many(world, rows: np.ndarray, simple: np.ndarray, scalar,
              block: WaitOptions | None = None):
    """try_wait for each waiter of ``rows``, in order; ``simple[i]``: row i's request is
    wait4(-1, 0). The numba scan (jit/wait_batch.py) classifies every row; each run of rows it
    covers reaps its zombie children in one batch (wait_task_zombie: the status, the waiter
    group's joined child CPU time, release_many), and ``scalar(i)`` serves each row it does not,
    in between. ``block`` (the request of the simple rows): each run's rows with nothing ready
    are blocked on it (:func:`block_wait`) before the next ``scalar`` call, as :func:`wait`
    leaves them; without it they are left as they are (wait_system's retries of waits already
    blocked). Returns ``(kind, pid, status, code, uid, utime, stime)`` per row: kind NONE
    (nothing ready yet), NO_CHILD (ECHILD), FOUND (the reaped child's pid in the root namespace,
    wait status, si_code, uid and CPU times) or FALLBACK (served by ``scalar``)."""
    T, G = world.tasks, world.thread_groups
    rows = np.ascontiguousarray(rows, np.int64)
    n = len(rows)
    kind = np.empty(n, np.int8)
    child = np.empty(n, np.int64)
    claimed, tainted = np.zeros(T.n, np.bool_), np.zeros(G.n, np.bool_)
    K.wait_scan(rows, np.ascontiguousarray(simple, np.bool_), world.index.root_pidns, T.ns,
                T.tg, T.exit_state, T.child_head, T.sib_next, G.task_head, T.tg_next,
                G.tasks_count, G.termination_signal, claimed, tainted, kind, child)
    pid, status, code, uid, utime, stime = (np.zeros(n, np.int64) for _ in range(6))
    fb = np.flatnonzero(kind == K.FALLBACK)
    for a, b in zip([0, *(fb + 1).tolist()], [*fb.tolist(), n]):
        found = np.flatnonzero(kind[a:b] == K.FOUND) + a
        if len(found):
            (pid[found], status[found], code[found], uid[found], utime[found],
             stime[found]) = _reap_many(world, rows[found], child[found])
        if block is not None:
            # a reap moves no child_seq (see jit/wait_batch.py), so these block as they would
            # have in their turn
            block_wait(world, rows[a:b][kind[a:b] == K.NONE], block)
        if b < n:
            scalar(b)
    return kind, pid, status, code, uid, utime, stime


def _reap_many(world, waiters: np.ndarray, children: np.ndarray):
    """wait_task_zombie without WNOWAIT for the (waiter, zombie child leader) pairs the scan
    found: each child once, children of one-thread groups, all in the root namespace (threads
    of one group may each reap one: their group's joined times add up)."""
    T = world.tasks
    status = task_exit.wait_status(world, children)
    code, _ = task_exit.child_siginfo(status)
    pid = T.tids[children, 0].astype(np.int64)
    uid = T.ruid[children].astype(np.int64)
    # the child group's total (its one thread, stage included, and its released threads) and
    # its own joined children's; the rusage beyond CPU times goes to the waiters' rows here
    u, s, T.wait_maxrss[waiters], T.wait_min_flt[waiters], T.wait_nvcsw[waiters], \
        T.wait_nivcsw[waiters] = cpu_clocks.join_children(world, waiters, children)
    task_exit.release_many(world, children)
    return pid, status, code, uid, u, s


def store_result(world, t: int, res: WaitResult) -> None:
    T = world.tasks
    T.ret[t] = res.pid
    T.wait_status[t] = res.status
    T.wait_code[t] = res.code
    T.wait_uid[t] = res.uid
    T.wait_utime[t] = res.utime
    T.wait_stime[t] = res.stime
    T.wait_maxrss[t], T.wait_min_flt[t] = res.maxrss, res.min_flt
    T.wait_nvcsw[t], T.wait_nivcsw[t] = res.nvcsw, res.nivcsw


@system(phase=Phase.WAIT,
        reads=("ChildEvents", "TaskTree", "ThreadGroupMembership", "ProcessGroupMembership",
               "TaskPIDs", "ExitState", "ThreadGroupCore"),
        writes=("RunState", "WaitState", "GroupStopState", "TaskTree", "ThreadGroupMembership",
                "ThreadGroupCore", "ExitState", "TaskIDs", "PIDNamespace", "ProcessGroupMembership",
                "ProcessGroup", "Session", "Rlimits", "UTSNamespace", "process_groupsIDs",
                "sessionsIDs", "ThreadState", "ChildEvents", "GroupSigPending", "SigPending",
                "SigQueue", "SigFrames", "SigWait", "SigInfo", "SigMask", "TaskCreds", "TaskResources",
                "TaskPIDs", "SignalHandlers", "SigActions", "CpuClock", "CpuUsage", "GroupCpuClock",
                "JoinedChildCPUStats",
                # a reaped tracee's ptrace link and seccomp chain; a tracer's report taken
                "TaskPtrace", "TaskSeccomp", "SeccompFilters"))
def wait_system(world, commands) -> None:
    """Retry every blocked wait whose thread group saw a child event since it last looked."""
    T, G = world.tasks, world.thread_groups
    n = T.n
    blocked = (T.run_state[:n] == RunState.blocked) & (T.block[:n] == Block.WAIT) & T.alive[:n]
    rows = np.flatnonzero(blocked)
    if len(rows) == 0:
        return
    rows = rows[G.child_seq[T.tg[rows]] != T.wait_seq[rows]]
    if world.settings.batch_wait and len(rows) >= BATCH_MIN and not world.index.ptraced:
        _wait_system_batch(world, rows)
        return
    for t in rows.tolist():
        _retry(world, t)


BATCH_MIN = 2  # retries below which one at a time is cheaper than the scan's call


def _retry(world, t: int) -> None:
    """wait_system's retry of one blocked wait (the scalar path)."""
    T, G = world.tasks, world.thread_groups
    opts = WaitOptions(int(T.wait_idtype[t]), int(T.wait_id[t]), int(T.wait_options[t]))
    T.wait_seq[t] = G.child_seq[int(T.tg[t])]
    try:
        res = try_wait(world, t, opts)
    except KernelError as e:
        T.ret[t] = -e.errno
        T.run_state[t] = RunState.runSyscallExit
        T.block[t] = Block.NONE
        return
    if res is not None:
        store_result(world, t, res)
        T.run_state[t] = RunState.runSyscallExit
        T.block[t] = Block.NONE


def _wait_system_batch(world, rows: np.ndarray) -> None:
    """wait_system's retries through wait_many (what _retry gives, row by row)."""
    T, G = world.tasks, world.thread_groups
    simple = (T.wait_idtype[rows] == P_ALL) & (T.wait_options[rows] == WEXITED)
    T.wait_seq[rows] = G.child_seq[T.tg[rows]]  # a wait never moves a child_seq (see wait_batch)
    kind, pid, status, code, uid, utime, stime = wait_many(world, rows, simple,
                                                           lambda i: _retry(world, int(rows[i])))
    found = kind == K.FOUND
    f = rows[found]
    T.ret[f] = pid[found]
    T.wait_status[f] = status[found]
    T.wait_code[f] = code[found]
    T.wait_uid[f] = uid[found]
    T.wait_utime[f] = utime[found]
    T.wait_stime[f] = stime[found]
    T.ret[rows[kind == K.NO_CHILD]] = -E.ECHILD
    ended = rows[found | (kind == K.NO_CHILD)]
    T.run_state[ended] = RunState.runSyscallExit
    T.block[ended] = Block.NONE
