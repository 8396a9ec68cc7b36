"""Clocks and sleeps: clock_gettime, clock_getres, gettimeofday, time, times, nanosleep,
clock_nanosleep. gVisor: ``sys_time.go``.

Time comes from the machine (``t.machine.realtime_ns()`` / ``monotonic_ns()``: its clock source,
cpu/clock.py). A sleep is the kernel's (systems/timers.clock_nanosleep): the task blocks as a row
with its deadline on the kernel clock, and the timer system ends it.
"""
from __future__ import annotations

import struct

from ..abi import (CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE,
                   CLOCK_MONOTONIC_RAW, CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME,
                   CLOCK_REALTIME_ALARM, CLOCK_REALTIME_COARSE, CLOCK_TAI, CLOCK_THREAD_CPUTIME_ID,
                   NSEC_PER_SEC, TIMER_ABSTIME)
from ..errors import E, KernelError
from ..systems import cpu_clocks, timers
from ..systems.task_block import BLOCKED
from .context import KernelBlocked, s32, s64
from .registry import FULL, completion, syscall

_TS = struct.Struct("<qq")


def clock_now(t, clock: int) -> int:
    m = t.machine
    if clock in (CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_REALTIME_ALARM):
        return m.realtime_ns()
    if clock == CLOCK_TAI:
        return m.realtime_ns() + 37 * NSEC_PER_SEC
    if clock in (CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME,
                 CLOCK_BOOTTIME_ALARM):
        return m.monotonic_ns()
    if clock in (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID) or clock < 0:
        # the caller's thread or process, or one a clock id names (pthread_getcpuclockid,
        # clock_getcpuclockid): the CPU time charged to it, up to now (systems/cpu_clocks.py)
        m.sync_clock()
        return cpu_clocks.clock_gettime(t.world, t.row, clock)
    raise KernelError(E.EINVAL)


def _put_ts(t, addr: int, ns: int) -> None:
    t.mm.copy_out(addr, _TS.pack(ns // NSEC_PER_SEC, ns % NSEC_PER_SEC))


def _get_ts(t, addr: int) -> int:
    sec, nsec = _TS.unpack(t.mm.copy_in(addr, 16))
    if sec < 0 or not 0 <= nsec < NSEC_PER_SEC:
        raise KernelError(E.EINVAL)
    return sec * NSEC_PER_SEC + nsec


@syscall("clock_gettime", FULL, "host clocks; CPU-time clocks are what each thread was charged "
         "(the emulator thread's CPU time while it ran that thread)", args=("clockid", "ots"))
def clock_gettime(t, clock, tp):
    """Implements clock_gettime(2)."""
    _put_ts(t, tp, clock_now(t, s32(clock)))
    return 0


@syscall("clock_getres", FULL, args=("clockid", "ots"))
def clock_getres(t, clock, tp):
    """Implements clock_getres(2)."""
    c = s32(clock)
    clock_now(t, c)  # EINVAL for bad clocks
    if tp:
        coarse = c in (CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE)
        _put_ts(t, tp, 4_000_000 if coarse else 1)  # CPU clocks too: posix_cpu_clock_getres
    return 0


@syscall("gettimeofday", FULL, args=("otv", "p"))
def gettimeofday(t, tv, tz):
    """Implements gettimeofday(2)."""
    ns = t.machine.realtime_ns()
    if tv:
        t.mm.copy_out(tv, _TS.pack(ns // NSEC_PER_SEC, ns % NSEC_PER_SEC // 1000))
    if tz:
        t.mm.copy_out(tz, bytes(8))
    return 0


@syscall("time", FULL, args=("p",))
def time_(t, tloc):
    """Implements time(2)."""
    sec = t.machine.realtime_ns() // NSEC_PER_SEC
    if tloc:
        t.mm.copy_out_u64(tloc, sec)
    return sec


@syscall("times", FULL, "the process's and its waited-for children's CPU times", args=("p",))
def times(t, buf):
    """Implements times(2)."""
    t.machine.sync_clock()
    tms = cpu_clocks.times(t.world, t.row)
    if buf:
        t.mm.copy_out(buf, struct.pack("<qqqq", tms.tms_utime, tms.tms_stime, tms.tms_cutime,
                                       tms.tms_cstime))
    return tms.ret


def _sleep(t, clock: int, flags: int, req: int):
    """systems/timers.clock_nanosleep on the kernel clock: 0 at once for a deadline already
    past, else the task blocks as a row (Block.SLEEP) until the timer system ends the sleep."""
    ts = _TS.unpack(t.mm.copy_in(req, 16))
    t.machine.sync_clock()
    if timers.clock_nanosleep(t.world, t.row, clock, flags, ts) is BLOCKED:
        raise KernelBlocked()
    return 0


def _remainder(t, ret: int, rem: int) -> int:
    """A sleep a handler interrupted (-EINTR) writes what it had left to ``rem`` (Linux ignores
    a fault there)."""
    if ret == -E.EINTR and rem:
        try:
            _put_ts(t, rem, int(t.world.tasks.sleep_rem_ns[t.row]))
        except KernelError:
            pass
    return ret


@syscall("nanosleep", FULL, args=("ts", "orem"))
def nanosleep(t, req, rem):
    """Implements nanosleep(2)."""
    return _sleep(t, CLOCK_MONOTONIC, 0, req)


@completion("nanosleep")
def nanosleep_done(t, ret, req, rem):
    return _remainder(t, ret, rem)


@syscall("clock_nanosleep", FULL, args=("clockid", "timerflags", "ts", "orem"))
def clock_nanosleep(t, clock, flags, req, rem):
    """Implements clock_nanosleep(2) (the raw call returns -errno)."""
    return _sleep(t, s32(clock), s64(flags) & TIMER_ABSTIME, req)


@completion("clock_nanosleep")
def clock_nanosleep_done(t, ret, clock, flags, req, rem):
    if s64(flags) & TIMER_ABSTIME:
        return ret  # an absolute sleep has no remainder
    return _remainder(t, ret, rem)


# -- interval and POSIX timers (systems/timers.py on the kernel clock, which follows the host's
# while guests run; the run loop ticks the World when one is due) ---------------------------------

_TIMEVAL2 = struct.Struct("<qqqq")  # struct itimerval / itimerspec: interval, then value
_SIGEVENT = struct.Struct("<qii i")  # sigev_value, sigev_signo, sigev_notify, sigev_tid (union)


def _timers(t):
    t.machine.sync_clock()
    return timers


def _armed(t, result):
    t.machine.update_timer_deadline()
    return result


@syscall("setitimer", FULL, args=("itimer", "itv", "oitv"))
def setitimer(t, which, new, old):
    """Implements setitimer(2)."""
    timers = _timers(t)
    val = None
    if new:
        isec, iusec, vsec, vusec = _TIMEVAL2.unpack(t.mm.copy_in(new, 32))
        val = timers.ItimerVal((isec, iusec), (vsec, vusec))
    prev = timers.setitimer(t.world, t.row, s32(which), val)
    if old:
        t.mm.copy_out(old, _TIMEVAL2.pack(*prev.interval, *prev.value))
    return _armed(t, 0)


@syscall("getitimer", FULL, args=("itimer", "oitv"))
def getitimer(t, which, cur):
    """Implements getitimer(2)."""
    timers = _timers(t)
    v = timers.getitimer(t.world, t.row, s32(which))
    t.mm.copy_out(cur, _TIMEVAL2.pack(*v.interval, *v.value))
    return 0


@syscall("alarm", FULL, args=("u",))
def alarm(t, seconds):
    """Implements alarm(2)."""
    return _armed(t, _timers(t).alarm(t.world, t.row, seconds))


@syscall("timer_create", FULL, args=("clockid", "p", "oint"))
def timer_create(t, clockid, sevp, timerid):
    """Implements timer_create(2)."""
    timers = _timers(t)
    sev = None
    if sevp:
        value, signo, notify, tid = _SIGEVENT.unpack(t.mm.copy_in(sevp, _SIGEVENT.size))
        sev = timers.Sigevent(notify, signo, value, tid)
    t.mm.copy_in(timerid, 4)  # EFAULT before a timer exists
    tid_ = timers.timer_create(t.world, t.row, s32(clockid), sev)
    t.mm.copy_out(timerid, struct.pack("<i", tid_))
    return 0


@syscall("timer_settime", FULL, args=("i", "timerflags", "its", "oits"))
def timer_settime(t, timerid, flags, new, old):
    """Implements timer_settime(2)."""
    timers = _timers(t)
    isec, insec, vsec, vnsec = _TIMEVAL2.unpack(t.mm.copy_in(new, 32))
    prev = timers.timer_settime(t.world, t.row, s32(timerid), s32(flags),
                                timers.ItimerSpec((isec, insec), (vsec, vnsec)))
    if old:
        t.mm.copy_out(old, _TIMEVAL2.pack(*prev.interval, *prev.value))
    return _armed(t, 0)


@syscall("timer_gettime", FULL, args=("i", "oits"))
def timer_gettime(t, timerid, cur):
    """Implements timer_gettime(2)."""
    v = _timers(t).timer_gettime(t.world, t.row, s32(timerid))
    t.mm.copy_out(cur, _TIMEVAL2.pack(*v.interval, *v.value))
    return 0


@syscall("timer_getoverrun", FULL, args=("i",))
def timer_getoverrun(t, timerid):
    """Implements timer_getoverrun(2)."""
    return _timers(t).timer_getoverrun(t.world, t.row, s32(timerid))


@syscall("timer_delete", FULL, args=("i",))
def timer_delete(t, timerid):
    """Implements timer_delete(2)."""
    _timers(t).timer_delete(t.world, t.row, s32(timerid))
    return _armed(t, 0)
