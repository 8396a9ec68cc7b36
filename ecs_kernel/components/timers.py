"""Timers and sleeps: interval timers, POSIX timers, deadlines of sleeping tasks (rows).

gVisor: kernel/ptimer.go (IntervalTimer), kernel/task_acct.go (itimers of the ThreadGroup).
Linux: kernel/time/itimer.c, posix-timers.c, posix-cpu-timers.c, hrtimer.c (nanosleep).

Every timer is a row of the ``timers`` table: setitimer's three per-process timers (created on
first use, found through ``itimer_rows`` of the thread group) and timer_create's POSIX timers
(found by ``(tm_owner, tm_id)``). A timer's clock is a *base*:

    BASE_MONO    the kernel clock ``world.now_ns`` (CLOCK_MONOTONIC, CLOCK_BOOTTIME)
    BASE_REAL    ``world.now_ns`` + the realtime offset (CLOCK_REALTIME, CLOCK_TAI)
    BASE_PROF    user + system time of thread group ``tm_target`` (ITIMER_PROF, process CPU clocks)
    BASE_VIRT    user time of thread group ``tm_target`` (ITIMER_VIRTUAL)
    BASE_THREAD  user + system time of task ``tm_target`` (thread CPU clocks)

(codes in ecs_kernel/abi.py, which the sleep kernel shares) and ``tm_expiry`` is in that base. A
timer row names its owner thread group by row *and generation*: the timer system frees rows whose
owner is gone (a recycled group row does not inherit them).

Invariants (:func:`check`): an armed timer has ``tm_interval >= 0``; a live thread group's
``itimer_rows`` name live timers it owns.
Writers: systems/timers.py only (kernel calls and the timer system).
"""
from __future__ import annotations

import numpy as np

from ..abi import BASE_MONO, SIGEV_SIGNAL
from ..world import Column, Component

KIND_POSIX = 3  # tm_kind of a timer_create timer; setitimer's are ITIMER_REAL/VIRTUAL/PROF (0..2)

Timers = Component("Timers", "timers", {
    "tm_kind": Column(np.uint8, 0),  # ITIMER_* or KIND_POSIX
    "tm_owner": Column(np.int32, -1),  # owner thread group row
    "tm_owner_gen": Column(np.uint32, 0),
    "tm_id": Column(np.int32, -1),  # POSIX timer id (per process); -1 for itimers
    "tm_clockid": Column(np.int32, 0),  # the clockid given to timer_create
    "tm_base": Column(np.uint8, BASE_MONO),
    "tm_target": Column(np.int32, -1),  # CPU clocks: the thread group or task measured
    "tm_target_gen": Column(np.uint32, 0),
    "tm_armed": Column(np.bool_, False),
    "tm_expiry": Column(np.int64, 0),  # in the base's clock
    "tm_interval": Column(np.int64, 0),  # ns, 0: one-shot
    "tm_once": Column(np.bool_, False),  # step by one interval per pass (CPU itimers)
}, doc="Interval and POSIX timers: clock, expiry, period.")

TimerNotify = Component("TimerNotify", "timers", {
    "tm_notify": Column(np.uint8, SIGEV_SIGNAL),  # SIGEV_SIGNAL / NONE / THREAD / THREAD_ID
    "tm_signo": Column(np.uint8, 0),
    "tm_value": Column(np.int64, 0),  # sigev_value
    "tm_task": Column(np.int32, -1),  # SIGEV_THREAD_ID: the thread signalled
    "tm_task_gen": Column(np.uint32, 0),
    "tm_overrun": Column(np.int64, 0),  # expiries since the pending signal was queued
    "tm_overrun_last": Column(np.int64, 0),  # timer_getoverrun: overrun of the last delivery
    "tm_queued": Column(np.bool_, False),  # its signal is pending (not yet dequeued)
    "tm_rearm": Column(np.bool_, False),  # periodic, expired, re-armed when its signal is dequeued
    "tm_qrow": Column(np.int32, -1),  # the sigqueue row holding its siginfo, -1: bit only
    "tm_qgen": Column(np.uint32, 0),
}, doc="How a timer notifies, and its overrun accounting.")

GroupTimers = Component("GroupTimers", "thread_groups", {
    "itimer_rows": Column(np.int32, -1, (3,)),  # timer rows of ITIMER_REAL/VIRTUAL/PROF
    "next_timer_id": Column(np.int32, 0),  # posix_timer_add: ids are handed out in sequence
}, doc="A process's interval timers and POSIX timer id counter.")

SleepState = Component("SleepState", "tasks", {
    "sleeping": Column(np.bool_, False),  # a nanosleep/clock_nanosleep is in progress
    "sleep_base": Column(np.uint8, BASE_MONO),
    "sleep_target": Column(np.int32, -1),  # BASE_PROF: the thread group measured
    "sleep_deadline": Column(np.int64, 0),  # absolute, in the base's clock
    "sleep_abs": Column(np.bool_, False),  # TIMER_ABSTIME: Linux does not write the remainder
    "sleep_rem_ns": Column(np.int64, 0),  # time left when a signal interrupted the sleep
}, doc="A sleep with a deadline (Block.SLEEP) and what it left when interrupted.")

COMPONENTS = [Timers, TimerNotify, GroupTimers, SleepState]


def check(world) -> None:
    M, G = world.timers, world.thread_groups
    rows = M.live_rows()
    assert (M.tm_interval[rows] >= 0).all(), "a timer with a negative interval"
    g = G.live_rows()
    it = G.itimer_rows[g]
    for k in range(3):
        col = it[:, k]
        has = col >= 0
        r = col[has]
        assert M.alive[r].all(), "an itimer row is not live"
        assert (M.tm_owner[r] == g[has]).all() and (M.tm_kind[r] == k).all(), "itimer row mismatch"


Timers.check = check
