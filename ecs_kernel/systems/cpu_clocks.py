"""CPU clocks: accounting, getrusage(2), times(2), clock_gettime(2) for every clock.

gVisor: kernel/task_acct.go, kernel/thread_group.go, kernel/task_clock.go. Linux:
kernel/sys.c (getrusage, times), kernel/time/posix-cpu-timers.c (the CPU clocks and their clockid
encoding), kernel/exit.c (wait_task_zombie adds the reaped child to cutime/cstime).

Accounting happens in :func:`cpu_account_system`, the first system of phase TIMERS: it folds what
CPU drivers staged during the previous tick's RUN phase (and kernel calls between ticks) into the
task clocks, then recomputes the thread-group totals, so the timer system right after it in the
same phase sees fresh CPU clocks. A task released before the fold (it exited in RUN) has its stage
folded by :func:`on_release`, so no measured time is lost.

Two ways to charge:

- measured (the default): drivers write ``cpu_used_user_ns`` / ``cpu_used_sys_ns`` or call
  :func:`charge`;
- tick mode (:func:`set_tick_mode`, for synthetic tasks whose CPU *is* the tick): every live task
  in ``runApp`` at the fold that staged nothing is charged ``settings.tick_ns`` of user time.

Clocks (clock_gettime): CLOCK_MONOTONIC/_RAW/_COARSE and CLOCK_BOOTTIME are the kernel clock
``world.now_ns``; CLOCK_REALTIME/_COARSE and CLOCK_TAI are ``world.now_ns`` plus a World-level
offset (:func:`set_realtime`, 0 until set); CPU clocks read the task and group clocks.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..abi import (CLOCK_STEP_NS, CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE,
                   CLOCK_MONOTONIC_RAW, CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME,
                   CLOCK_REALTIME_ALARM, CLOCK_REALTIME_COARSE, CLOCK_TAI, CLOCK_THREAD_CPUTIME_ID,
                   CPUCLOCK_CLOCK_MASK, CPUCLOCK_MAX, CPUCLOCK_PERTHREAD_MASK, CPUCLOCK_SCHED,
                   CPUCLOCK_VIRT, NSEC_PER_SEC, RunState, RUSAGE_CHILDREN, RUSAGE_SELF,
                   RUSAGE_THREAD, USER_HZ)
from ..components import links, pidns
from ..errors import E, KernelError
from ..jit.cpuclock import CPU_USER, account_tick, fold_stages
from ..jit.scatter import add_at
from ..schedule import Phase, system



# The CPU-clock encoding of include/linux/posix-timers.h.


def make_process_cpuclock(pid: int, clock: int) -> int:
    """MAKE_PROCESS_CPUCLOCK: ``clock_getcpuclockid(pid)`` is ``make_process_cpuclock(pid, CPUCLOCK_SCHED)``."""
    return _s32(((~pid) << 3) | clock)


def make_thread_cpuclock(tid: int, clock: int) -> int:
    """MAKE_THREAD_CPUCLOCK (``pthread_getcpuclockid``)."""
    return _s32(make_process_cpuclock(tid, clock) | CPUCLOCK_PERTHREAD_MASK)


def cpuclock_pid(clock: int) -> int:
    return _s32(~(clock >> 3))


def _s32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


# -- modes and the realtime offset ----------------------------------------------------------------

def set_tick_mode(world, on: bool = True) -> None:
    """Charge ``tick_ns`` of user time per tick to every task in runApp that staged nothing
    (``Settings.cpu_tick_mode``, checkpointed with the World)."""
    world.settings.cpu_tick_mode = bool(on)


def set_realtime(world, realtime_ns: int) -> None:
    """Set CLOCK_REALTIME to ``realtime_ns`` now (the offset from the kernel clock is kept). A
    step of more than ``CLOCK_STEP_NS`` from the offset before (the host's clock was set, not
    slewed) counts as a clock set: ``clock_set_seq`` moves, as Linux's clock_was_set does."""
    new = int(realtime_ns) - world.now_ns
    if abs(new - int(world.index.realtime_offset_ns)) > CLOCK_STEP_NS and world.index.realtime_offset_ns:
        world.index.clock_set_seq += 1
    world.index.realtime_offset_ns = new


def realtime_offset(world) -> int:
    return int(world.index.realtime_offset_ns)


# -- accounting --------------------------------------------------------------------------------------

def charge(world, task: int, user_ns: int, sys_ns: int = 0) -> None:
    """A CPU driver reports ``user_ns`` / ``sys_ns`` of CPU that ``task`` used (staged; folded at
    the next accounting pass, visible to readers at once)."""
    if user_ns < 0 or sys_ns < 0:
        raise ValueError(f"negative CPU time charged to task {task}: {user_ns}, {sys_ns}")
    T = world.tasks
    T.cpu_used_user_ns[task] += user_ns
    T.cpu_used_sys_ns[task] += sys_ns


def fold(world) -> int:
    """Fold the stage (and, in tick mode, the tick) into the task clocks, zero the stage and
    recompute the group totals. Returns the number of tasks charged (by the tick, and for their
    stage)."""
    T, G = world.tasks, world.thread_groups
    n = T.n
    if n == 0:
        return 0
    alive = T.alive[:n]
    uu, us = T.cpu_used_user_ns[:n], T.cpu_used_sys_ns[:n]
    utime, stime = T.utime[:n], T.stime[:n]
    charged = 0
    if world.settings.cpu_tick_mode:
        state = np.where(alive & (T.run_state[:n] == RunState.runApp) & (uu == 0) & (us == 0),
                         np.uint8(CPU_USER), np.uint8(0)).astype(np.uint8)
        charged += account_tick(state, utime, stime, alive, int(world.settings.tick_ns))
    ng = G.n
    gu, gs = G.group_utime[:ng], G.group_stime[:ng]
    charged += fold_stages(alive, utime, stime, uu, us, T.tg[:n], ng, gu, gs)
    if ng:
        gu += G.dead_utime[:ng]
        gs += G.dead_stime[:ng]
    return charged


@system(phase=Phase.TIMERS, reads=("ThreadGroupMembership", "RunState"),
        writes=("CpuClock", "CpuUsage", "GroupCpuClock"))
def cpu_account_system(world, commands) -> None:
    """Fold measured CPU use into the clocks; refresh the thread-group totals."""
    fold(world)


def thread_cputime(world, t: int) -> tuple[int, int]:
    """(user, system) ns of one task, stage included."""
    T = world.tasks
    return (int(T.utime[t]) + int(T.cpu_used_user_ns[t]),
            int(T.stime[t]) + int(T.cpu_used_sys_ns[t]))


def group_cputime(world, tg: int) -> tuple[int, int]:
    """(user, system) ns of a thread group: released threads plus every thread still listed
    (thread_group_cputime), stages included."""
    T, G = world.tasks, world.thread_groups
    u, s = int(G.dead_utime[tg]), int(G.dead_stime[tg])
    for t in links.iterate(G.task_head, tg, T.tg_next):
        tu, ts = thread_cputime(world, t)
        u += tu
        s += ts
    return u, s


def children_cputime(world, tg: int) -> tuple[int, int]:
    G = world.thread_groups
    return int(G.cutime[tg]), int(G.cstime[tg])


# -- hooks at release and reap ------------------------------------------------------------------

def on_release(world, t: int) -> None:
    """A task is released (release_task / __exit_signal): its clocks, stage included, move to
    its group's ``dead_`` accumulator, so the group total keeps counting it."""
    u, s = thread_cputime(world, t)
    T, G = world.tasks, world.thread_groups
    tg = int(T.tg[t])
    G.dead_utime[tg] += u
    G.dead_stime[tg] += s
    T.utime[t] = T.stime[t] = T.cpu_used_user_ns[t] = T.cpu_used_sys_ns[t] = 0
    for c in _COUNTERS:  # getrusage's counters too (__exit_signal: sig->nvcsw += tsk->nvcsw)
        getattr(G, "dead_" + c)[tg] += getattr(T, c)[t]
        getattr(T, c)[t] = 0


def on_release_many(world, rows: np.ndarray) -> None:
    """:func:`on_release` for many tasks."""
    if len(rows) == 0:
        return
    T, G = world.tasks, world.thread_groups
    tgs = T.tg[rows].astype(np.int64)
    add_at(G.dead_utime, tgs, T.utime[rows] + T.cpu_used_user_ns[rows])
    add_at(G.dead_stime, tgs, T.stime[rows] + T.cpu_used_sys_ns[rows])
    T.utime[rows] = T.stime[rows] = T.cpu_used_user_ns[rows] = T.cpu_used_sys_ns[rows] = 0
    for c in _COUNTERS:
        add_at(getattr(G, "dead_" + c), tgs, getattr(T, c)[rows])
        getattr(T, c)[rows] = 0


def join_child(world, waiter: int, child_leader: int) -> "ChildUsage":
    """wait_task_zombie: the waiter's group adds the reaped child's total and the child's own
    joined-children time (JoinedChildCPUStats) and counters (GroupRusage). Call before the child
    is released. Children reaped automatically (SIGCHLD ignored, SA_NOCLDWAIT) are not added:
    Linux >= 2.6.9. Returns the child's usage as wait4's rusage reports it (RUSAGE_BOTH)."""
    got = join_children(world, np.array([waiter]), np.array([child_leader]))
    return ChildUsage(*(int(x[0]) for x in got))


class ChildUsage(NamedTuple):
    """A reaped child's usage, its own waited-for children's included (wait4's rusage): CPU ns,
    maxrss bytes, page faults, context switches."""

    utime: int
    stime: int
    maxrss: int
    min_flt: int
    nvcsw: int
    nivcsw: int


_COUNTERS = ("nvcsw", "nivcsw", "min_flt")


def usage_both(world, leader: int) -> ChildUsage:
    """getrusage(p, RUSAGE_BOTH) of a child wait reports without reaping it (stopped,
    continued, or a zombie under WNOWAIT): its group's own and its waited-for children's."""
    T, G = world.tasks, world.thread_groups
    tg = int(T.tg[leader])
    u, s = group_cputime(world, tg)
    counts = [int(getattr(G, "dead_" + c)[tg]) + int(getattr(G, "c_" + c)[tg]) for c in _COUNTERS]
    for t in links.iterate(G.task_head, tg, T.tg_next):
        counts = [n + int(getattr(T, c)[t]) for n, c in zip(counts, _COUNTERS)]
    maxrss = max(int(G.maxrss[tg]), int(G.cmaxrss[tg]))
    mm = int(T.mm[leader])
    aspace = getattr(world.index.address_spaces.get(mm), "aspace", None) if mm >= 0 else None
    if aspace is not None:
        maxrss = max(maxrss, aspace.memory_usage().hwm)
    return ChildUsage(u + int(G.cutime[tg]), s + int(G.cstime[tg]), maxrss,
                      **dict(zip(_COUNTERS, counts)))


def join_children(world, waiters: np.ndarray, children: np.ndarray) -> tuple[np.ndarray, ...]:
    """:func:`join_child` for (waiter, zombie child leader) pairs whose children's groups have
    that one thread left, each child once: the :class:`ChildUsage` fields as arrays."""
    T, G = world.tasks, world.thread_groups
    ctg = T.tg[children].astype(np.int64)
    wtg = T.tg[waiters].astype(np.int64)
    u = G.dead_utime[ctg] + T.utime[children] + T.cpu_used_user_ns[children] + G.cutime[ctg]
    s = G.dead_stime[ctg] + T.stime[children] + T.cpu_used_sys_ns[children] + G.cstime[ctg]
    add_at(G.cutime, wtg, u)
    add_at(G.cstime, wtg, s)
    counts = []
    for c in _COUNTERS:
        v = getattr(G, "dead_" + c)[ctg] + getattr(T, c)[children] + getattr(G, "c_" + c)[ctg]
        add_at(getattr(G, "c_" + c), wtg, v)
        counts.append(v)
    maxrss = np.maximum(G.maxrss[ctg], G.cmaxrss[ctg])
    np.maximum.at(G.cmaxrss, wtg, maxrss)
    nvcsw, nivcsw, min_flt = counts
    return u, s, maxrss, min_flt, nvcsw, nivcsw  # ChildUsage's order


def keep_maxrss(world, t: int, memory, fresh: bool | None = None) -> None:
    """exit_mm: the group keeps its address space's highest RSS as a thread leaves it, measured
    afresh when ``fresh`` (default: when this thread is the last user, whose exit frees it)."""
    aspace = getattr(memory, "aspace", None)
    if aspace is None:
        return
    tg = int(world.tasks.tg[t])
    if fresh is None:
        fresh = world.tables["address_spaces"].refs[int(world.tasks.mm[t])] == 1
    hwm = aspace.memory_usage().hwm if fresh else aspace.hiwater_rss
    G = world.thread_groups
    G.maxrss[tg] = max(int(G.maxrss[tg]), int(hwm))


# -- getrusage, times ---------------------------------------------------------------------------

class Rusage(NamedTuple):
    """struct rusage as we keep it: CPU ns (``ru_utime`` / ``ru_stime`` as (sec, usec)), the
    highest RSS in bytes (0: ask the address space), page faults and context switches. Major
    faults and block I/O are always 0 (nothing is paged in from a disk; files are in memory)."""

    utime_ns: int
    stime_ns: int
    maxrss: int = 0
    min_flt: int = 0
    nvcsw: int = 0
    nivcsw: int = 0

    @property
    def ru_utime(self) -> tuple[int, int]:
        return self.utime_ns // NSEC_PER_SEC, self.utime_ns % NSEC_PER_SEC // 1000

    @property
    def ru_stime(self) -> tuple[int, int]:
        return self.stime_ns // NSEC_PER_SEC, self.stime_ns % NSEC_PER_SEC // 1000


def getrusage(world, task: int, who: int) -> Rusage:
    """getrusage(2): RUSAGE_SELF (the thread group), RUSAGE_CHILDREN (waited-for children),
    RUSAGE_THREAD (the caller); anything else EINVAL."""
    T, G = world.tasks, world.thread_groups
    tg = int(T.tg[task])
    if who == RUSAGE_SELF:
        counts = [int(getattr(G, "dead_" + c)[tg]) for c in _COUNTERS]
        for t in links.iterate(G.task_head, tg, T.tg_next):
            counts = [n + int(getattr(T, c)[t]) for n, c in zip(counts, _COUNTERS)]
        return Rusage(*group_cputime(world, tg), int(G.maxrss[tg]), **dict(zip(_COUNTERS, counts)))
    if who == RUSAGE_CHILDREN:
        return Rusage(*children_cputime(world, tg), int(G.cmaxrss[tg]),
                      **{c: int(getattr(G, "c_" + c)[tg]) for c in _COUNTERS})
    if who == RUSAGE_THREAD:
        return Rusage(*thread_cputime(world, task), 0,
                      **{c: int(getattr(T, c)[task]) for c in _COUNTERS})
    raise KernelError(E.EINVAL, f"getrusage: bad who {who}")


class Tms(NamedTuple):
    """times(2): struct tms in clock ticks (USER_HZ) and the return value (ticks since boot)."""

    tms_utime: int
    tms_stime: int
    tms_cutime: int
    tms_cstime: int
    ret: int


def _clock_t(ns: int) -> int:
    return ns // (NSEC_PER_SEC // USER_HZ)  # nsec_to_clock_t


def times(world, task: int) -> Tms:
    tg = int(world.tasks.tg[task])
    u, s = group_cputime(world, tg)
    cu, cs = children_cputime(world, tg)
    return Tms(_clock_t(u), _clock_t(s), _clock_t(cu), _clock_t(cs), _clock_t(world.now_ns))


# -- clock_gettime ---------------------------------------------------------------------------------

MONO_CLOCKS = frozenset({CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE,
                         CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM})
REAL_CLOCKS = frozenset({CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_TAI, CLOCK_REALTIME_ALARM})


def resolve_cpu_clock(world, task: int, clockid: int, gettime: bool = True) -> tuple[bool, int, int]:
    """The target of a CPU clock id: (per_thread, row, which). ``row`` is a task row for a thread
    clock, a thread-group row for a process clock. EINVAL as Linux's ``pid_for_clock``: a bad
    ``which``, no such pid, a thread outside the caller's group, a pid that is not a process."""
    T, G = world.tasks, world.thread_groups
    if clockid == CLOCK_PROCESS_CPUTIME_ID:
        return False, int(T.tg[task]), CPUCLOCK_SCHED
    if clockid == CLOCK_THREAD_CPUTIME_ID:
        return True, task, CPUCLOCK_SCHED
    if clockid >= 0:
        raise KernelError(E.EINVAL, f"clock {clockid} is not a CPU clock")
    which = clockid & CPUCLOCK_CLOCK_MASK
    thread = bool(clockid & CPUCLOCK_PERTHREAD_MASK)
    if which >= CPUCLOCK_MAX:
        raise KernelError(E.EINVAL, f"bad CPU clock {clockid}")
    pid = cpuclock_pid(clockid)
    if pid == 0:
        return thread, (task if thread else int(T.tg[task])), which
    r = pidns.task_by_tid(world, int(T.ns[task]), pid) if pid > 0 else -1
    if r < 0 or not T.alive[r]:
        raise KernelError(E.EINVAL, f"CPU clock of a pid that does not exist: {pid}")
    if thread:
        if int(T.tg[r]) != int(T.tg[task]):
            raise KernelError(E.EINVAL, "a thread CPU clock of another process")
        return True, r, which
    if gettime and r == task:
        return False, int(T.tg[task]), which
    if int(G.leader[int(T.tg[r])]) != r:
        raise KernelError(E.EINVAL, f"pid {pid} is not a process")
    return False, int(T.tg[r]), which


def cpu_clock_value(world, thread: bool, row: int, which: int) -> int:
    u, s = thread_cputime(world, row) if thread else group_cputime(world, row)
    return u if which == CPUCLOCK_VIRT else u + s


def clock_gettime(world, task: int, clockid: int) -> int:
    """clock_gettime(2) in ns. EINVAL for an unknown clock."""
    if clockid in MONO_CLOCKS:
        return world.now_ns
    if clockid in REAL_CLOCKS:
        return world.now_ns + realtime_offset(world)
    if clockid in (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID) or clockid < 0:
        return cpu_clock_value(world, *resolve_cpu_clock(world, task, clockid))
    raise KernelError(E.EINVAL, f"unknown clock {clockid}")


def clock_getres(world, task: int, clockid: int) -> int:
    """clock_getres(2) in ns: the tick for the wall clocks here (time moves per tick), 1 for CPU."""
    if clockid in MONO_CLOCKS or clockid in REAL_CLOCKS:
        return int(world.settings.tick_ns)
    clock_gettime(world, task, clockid)  # validates
    return 1


SYSTEMS = [cpu_account_system]
