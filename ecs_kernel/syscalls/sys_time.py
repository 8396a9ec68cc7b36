"""Clocks and sleeps: clock_gettime, clock_getres, gettimeofday, time, times, nanosleep,
clock_nanosleep. gVisor: ``sys_time.go``.

Time comes from the machine (``t.machine.realtime_ns()`` / ``monotonic_ns()``, the host's clocks
unless a deterministic mode replaces them). A sleep blocks the task as data (a deadline) and the run
loop waits for it; a restarted sleep keeps its first deadline.
"""
from __future__ import annotations

import struct

from ..errors import E, KernelError
from .context import Block, s32, s64
from .table import FULL, PARTIAL, syscall

CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID = 0, 1, 2, 3
CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME = 4, 5, 6, 7
CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_TAI = 8, 9, 11
TIMER_ABSTIME = 1
_TS = struct.Struct("<qq")
NS = 1_000_000_000


def clock_now(t, clock: int) -> int:
    m = t.machine
    if clock in (CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_REALTIME_ALARM):
        return m.realtime_ns()
    if clock == CLOCK_TAI:
        return m.realtime_ns() + 37 * NS
    if clock in (CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME,
                 CLOCK_BOOTTIME_ALARM):
        return m.monotonic_ns()
    if clock in (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID):
        return m.cpu_time_ns()
    if clock < 0:  # CPU clocks of other processes/threads (clockid from a pid): only our own
        raise KernelError(E.EINVAL)
    raise KernelError(E.EINVAL)


def _put_ts(t, addr: int, ns: int) -> None:
    t.mm.copy_out(addr, _TS.pack(ns // NS, ns % NS))


def _get_ts(t, addr: int) -> int:
    sec, nsec = _TS.unpack(t.mm.copy_in(addr, 16))
    if sec < 0 or not 0 <= nsec < NS:
        raise KernelError(E.EINVAL)
    return sec * NS + nsec


@syscall("clock_gettime", FULL, "host clocks; CPU-time clocks are the emulator's own", args=("i", "p"))
def clock_gettime(t, clock, tp):
    """Implements clock_gettime(2)."""
    _put_ts(t, tp, clock_now(t, s32(clock)))
    return 0


@syscall("clock_getres", FULL, args=("i", "p"))
def clock_getres(t, clock, tp):
    """Implements clock_getres(2)."""
    c = s32(clock)
    clock_now(t, c)  # EINVAL for bad clocks
    if tp:
        coarse = c in (CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE)
        _put_ts(t, tp, 4_000_000 if coarse else 1)
    return 0


@syscall("gettimeofday", FULL, args=("p", "p"))
def gettimeofday(t, tv, tz):
    """Implements gettimeofday(2)."""
    ns = t.machine.realtime_ns()
    if tv:
        t.mm.copy_out(tv, _TS.pack(ns // NS, ns % NS // 1000))
    if tz:
        t.mm.copy_out(tz, bytes(8))
    return 0


@syscall("time", FULL, args=("p",))
def time_(t, tloc):
    """Implements time(2)."""
    sec = t.machine.realtime_ns() // NS
    if tloc:
        t.mm.copy_out_u64(tloc, sec)
    return sec


@syscall("times", PARTIAL, "user time is the emulator's CPU time; children none", args=("p",))
def times(t, buf):
    """Implements times(2)."""
    ticks = t.machine.cpu_time_ns() // (NS // 100)
    if buf:
        t.mm.copy_out(buf, struct.pack("<qqqq", ticks, 0, 0, 0))
    return t.machine.monotonic_ns() // (NS // 100)


def _sleep(t, nr: int, duration_ns: int | None, deadline_abs: int | None = None, clock: int = 1):
    """Sleep until an absolute time of ``clock``, or for ``duration_ns`` (monotonic)."""
    if deadline_abs is not None:
        now = clock_now(t, clock)
        if now >= deadline_abs:
            return 0
        raise Block(deadline=t.machine.monotonic_ns() + (deadline_abs - now))
    now = t.machine.monotonic_ns()
    deadline = t.deadline_for(nr, now, duration_ns)
    if now >= deadline:
        t.clear_restart()
        return 0
    raise Block(deadline=deadline)


@syscall("nanosleep", FULL, "one task: the run loop sleeps on the host", args=("p", "p"))
def nanosleep(t, req, rem):
    """Implements nanosleep(2)."""
    return _sleep(t, 35, _get_ts(t, req))


@syscall("clock_nanosleep", FULL, args=("i", "x", "p", "p"))
def clock_nanosleep(t, clock, flags, req, rem):
    """Implements clock_nanosleep(2) (returns the error number, not -1/errno)."""
    c = s32(clock)
    if c in (CLOCK_THREAD_CPUTIME_ID,):
        raise KernelError(E.EINVAL)
    if c not in (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI,
                 CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM):
        raise KernelError(E.EINVAL if c >= 0 else E.EINVAL)
    ns = _get_ts(t, req)
    if s64(flags) & TIMER_ABSTIME:
        return _sleep(t, 230, None, ns, c)
    return _sleep(t, 230, ns, None, c)
