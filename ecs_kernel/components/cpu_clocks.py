"""CPU clocks: per-task user and system time, per-thread-group totals, waited-for children.

gVisor: kernel/task_acct.go, kernel/thread_group.go (``JoinedChildCPUStats``). Linux:
``task->utime/stime``, ``signal->utime/stime`` (threads already released),
``signal->cutime/cstime`` (children reaped by wait), kernel/sched/cputime.c.

All times are int64 nanoseconds. *Measured, not sampled*: a CPU driver (a Unicorn guest, a
synthetic program) reports the time a task actually used in the staging columns
``cpu_used_user_ns`` / ``cpu_used_sys_ns`` (or through ``systems.cpu_clocks.charge``); the
accounting system folds the stage into ``utime`` / ``stime`` once per tick with the numba kernels of
``jit/cpuclock.py`` and zeroes it. Readers add the stage, so a clock read between ticks is exact.

Invariants (:func:`check`): every clock and stage of a live row is >= 0.
Writers: systems/cpu_clocks.py (accounting, release, join); CPU drivers write the stage only.
"""
from __future__ import annotations

import numpy as np

from ..world import Column, Component

I64 = np.int64

CpuClock = Component("CpuClock", "tasks", {
    "utime": Column(I64, 0),  # user CPU time accounted so far
    "stime": Column(I64, 0),  # system CPU time accounted so far
}, doc="A task's own CPU clocks (CLOCK_THREAD_CPUTIME_ID, RUSAGE_THREAD).")

CpuUsage = Component("CpuUsage", "tasks", {
    "cpu_used_user_ns": Column(I64, 0),  # measured by the CPU driver since the last fold
    "cpu_used_sys_ns": Column(I64, 0),
}, doc="Staged CPU use, written by CPU drivers, folded into CpuClock each tick.")

GroupCpuClock = Component("GroupCpuClock", "thread_groups", {
    "dead_utime": Column(I64, 0),  # Linux signal->utime: threads of the group already released
    "dead_stime": Column(I64, 0),
    "group_utime": Column(I64, 0),  # the group's total at the last accounting pass (timers read it)
    "group_stime": Column(I64, 0),
    # the group's thread that was on the CPU when the World was last ticked (the CPU driver
    # sets it; gVisor appSysCPUClockLast; Linux's tick finds an expired CPU itimer on the
    # running thread): SIGPROF and SIGVTALRM go to it (-1: none, the leader's group signal)
    "cpu_clock_last": Column(np.int32, -1),
}, doc="Thread-group CPU clock (CLOCK_PROCESS_CPUTIME_ID, RUSAGE_SELF).")

JoinedChildCPUStats = Component("JoinedChildCPUStats", "thread_groups", {
    "cutime": Column(I64, 0),  # children reaped by wait, and their own reaped children
    "cstime": Column(I64, 0),
}, doc="CPU time of waited-for children (RUSAGE_CHILDREN, times' tms_cutime/tms_cstime).")

TaskRusage = Component("TaskRusage", "tasks", {
    "nvcsw": Column(I64, 0),  # voluntary context switches: it blocked or stopped and left the CPU
    "nivcsw": Column(I64, 0),  # involuntary: its turn ended while it could run and another ran
    "min_flt": Column(I64, 0),  # page faults taken while its code ran (the host's, as they are)
}, doc="getrusage's counters of one task (RUSAGE_THREAD); a new task starts at zero.")

GroupRusage = Component("GroupRusage", "thread_groups", {
    "dead_nvcsw": Column(I64, 0),  # released threads' counters (signal->nvcsw, ...)
    "dead_nivcsw": Column(I64, 0),
    "dead_min_flt": Column(I64, 0),
    "maxrss": Column(I64, 0),  # bytes: its address space's highest RSS, kept as threads exit
    "c_nvcsw": Column(I64, 0),  # waited-for children's, their own children's included
    "c_nivcsw": Column(I64, 0),
    "c_min_flt": Column(I64, 0),
    "cmaxrss": Column(I64, 0),  # bytes: the largest maxrss of a waited-for child (or its children)
}, doc="getrusage's counters of a thread group (RUSAGE_SELF, RUSAGE_CHILDREN, wait4's rusage).")

COMPONENTS = [CpuClock, CpuUsage, GroupCpuClock, JoinedChildCPUStats, TaskRusage, GroupRusage]


def check(world) -> None:
    T, G = world.tasks, world.thread_groups
    rows = T.live_rows()
    for name in ("utime", "stime", "cpu_used_user_ns", "cpu_used_sys_ns"):
        assert (getattr(T, name)[rows] >= 0).all(), f"a task has a negative {name}"
    g = G.live_rows()
    for name in ("dead_utime", "dead_stime", "cutime", "cstime"):
        assert (getattr(G, name)[g] >= 0).all(), f"a thread group has a negative {name}"


CpuClock.check = check
