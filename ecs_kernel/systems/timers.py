"""Timers and sleeps: setitimer/getitimer/alarm, POSIX timers, RLIMIT_CPU, nanosleep.

gVisor: kernel/task_acct.go (Getitimer, Setitimer), kernel/ptimer.go (IntervalTimer),
syscalls/linux/sys_timer.go, sys_time.go. Linux: kernel/time/itimer.c, posix-timers.c,
posix-cpu-timers.c (check_cpu_itimer, check_process_timers, bump_cpu_timer), hrtimer.c.

Timers are rows (components/timers.py); firing is :func:`timer_system`, in phase TIMERS after the
CPU accounting system (so CPU timers see the time folded this tick). It:

1. frees timers whose owner thread group is gone (a row-and-generation check, vectorised);
2. marks timers whose signal was dequeued since the last pass (their sigqueue row is gone, or the
   pending bit cleared): ``timer_getoverrun`` now reports the overrun of that delivery;
3. reads every armed timer's clock (one gather per base) and calls the ``jit/timers.py`` kernel,
   which finds the expired ones, counts elapsed periods and re-arms or disarms them;
4. notifies the expired timers (a loop over the *expired* rows only): SIGALRM / SIGVTALRM /
   SIGPROF to the group for the itimers; for POSIX timers a signal with ``si_code = SI_TIMER``,
   unless the previous one is still queued, in which case the overrun count grows instead;
5. RLIMIT_CPU: SIGXCPU once the group's CPU time passes the soft limit (Linux raises the soft
   limit by one second each time, so it comes again every second), SIGKILL at the hard limit;
6. ends sleeps whose deadline passed (ret 0) and records the remaining time of sleeps that a
   signal interrupted this tick (``sleep_rem_ns``; -ERESTARTSYS becomes -EINTR, as nanosleep is
   never restarted after a handler).

A timer expires at the first pass where its clock reads ``>= expiry``: time moves per tick, so
expiry is rounded up to the tick. The siginfo of a POSIX timer signal puts the timer id in the
``si_pid`` slot and the overrun in the ``si_uid`` slot, where Linux's siginfo union has
``si_tid`` / ``si_overrun``; the overrun in the queued siginfo is kept current while it waits.

As in Linux, a periodic ITIMER_REAL or POSIX timer whose signal is queued is not re-armed at
once: it waits (``tm_rearm``) until its signal is dequeued, then is forwarded past now, and the
periods it missed become the overrun (posixtimer_rearm). So getitimer shows 0 while SIGALRM is
blocked or ignored, exactly as on Linux. A dequeue by a kernel call between ticks is noticed at the
next pass (one tick late).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..abi import (INT_MAX, BASE_MONO, BASE_PROF, BASE_REAL, BASE_THREAD, BASE_VIRT, Block, CLOCK_BOOTTIME,
                   CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE,
                   CLOCK_MONOTONIC_RAW, CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME,
                   CLOCK_REALTIME_ALARM, CLOCK_REALTIME_COARSE, CLOCK_TAI, CLOCK_THREAD_CPUTIME_ID,
                   CPUCLOCK_PERTHREAD_MASK, CPUCLOCK_VIRT, EOPNOTSUPP, ExitState, ITIMER_PROF,
                   ITIMER_REAL, ITIMER_VIRTUAL, KTIME_MAX, NSEC_PER_SEC, NSIG, RLIMIT_CPU,
                   RLIM_INFINITY, RunState, SIGALRM, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD,
                   SIGEV_THREAD_ID, SIGKILL, SIGPROF, SIGVTALRM, SIGXCPU, SI_TIMER, TIMER_ABSTIME)
from ..components import links, pidns, rlimits
from ..components.signals import sigmask
from ..components.timers import KIND_POSIX
from ..errors import E, KernelError
from ..jit.scatter import first_seen
from ..jit.timers import end_sleeps, expire
from ..schedule import Phase, system
from . import cpu_clocks as C
from .signals_batch import send_many
from .task_block import BLOCKED
from .task_signals import send_group_signal, send_group_signal_current, send_signal

_ITIMER_SIGNALS = (SIGALRM, SIGVTALRM, SIGPROF)


class ItimerVal(NamedTuple):
    """struct itimerval: ``interval`` and ``value`` as (sec, usec)."""

    interval: tuple[int, int]
    value: tuple[int, int]


class ItimerSpec(NamedTuple):
    """struct itimerspec: ``interval`` and ``value`` as (sec, nsec)."""

    interval: tuple[int, int]
    value: tuple[int, int]


class Sigevent(NamedTuple):
    notify: int = SIGEV_SIGNAL
    signo: int = SIGALRM
    value: int = 0
    tid: int = 0  # SIGEV_THREAD_ID: sigev_notify_thread_id


def _timeval_ns(tv) -> int:
    sec, usec = tv
    if sec < 0 or not 0 <= usec < 1_000_000:
        raise KernelError(E.EINVAL, f"invalid timeval {tv}")
    return sec * NSEC_PER_SEC + usec * 1000


def _timespec_ns(ts) -> int:
    sec, nsec = ts
    if sec < 0 or not 0 <= nsec < NSEC_PER_SEC:
        raise KernelError(E.EINVAL, f"invalid timespec {ts}")
    return sec * NSEC_PER_SEC + nsec


def _tv(ns: int) -> tuple[int, int]:
    return ns // NSEC_PER_SEC, ns % NSEC_PER_SEC // 1000


def _ts(ns: int) -> tuple[int, int]:
    return ns // NSEC_PER_SEC, ns % NSEC_PER_SEC


# -- clocks of timers ------------------------------------------------------------------------------

def base_now(world, base: int, target: int) -> int:
    """The current reading (stage included) of a base's clock."""
    if base == BASE_MONO:
        return world.now_ns
    if base == BASE_REAL:
        return world.now_ns + C.realtime_offset(world)
    if base == BASE_THREAD:
        return sum(C.thread_cputime(world, target))
    u, s = C.group_cputime(world, target)
    return u if base == BASE_VIRT else u + s


def _gather_now(world, rows: np.ndarray) -> np.ndarray:
    """Each timer's clock as of the last accounting pass (what the timer system compares)."""
    M, T, G = world.timers, world.tasks, world.thread_groups
    base = M.tm_base[rows]
    tgt = M.tm_target[rows].astype(np.int64)
    now = np.full(len(rows), world.now_ns, np.int64)
    real = base == BASE_REAL
    now[real] += C.realtime_offset(world)
    cpu = (base == BASE_PROF) | (base == BASE_VIRT)
    if cpu.any():
        g = tgt[cpu]
        v = G.group_utime[g].copy()
        v[base[cpu] == BASE_PROF] += G.group_stime[g][base[cpu] == BASE_PROF]
        now[cpu] = v
    th = base == BASE_THREAD
    if th.any():
        t = tgt[th]
        now[th] = T.utime[t] + T.stime[t]
    return now


def _clock_base(world, task: int, clockid: int) -> tuple[int, int]:
    """(base, target) of a clock id for timers and sleeps."""
    if clockid in (CLOCK_MONOTONIC, CLOCK_BOOTTIME):
        return BASE_MONO, -1
    if clockid in (CLOCK_REALTIME, CLOCK_TAI):
        return BASE_REAL, -1
    thread, row, which = C.resolve_cpu_clock(world, task, clockid, gettime=False)
    if thread:
        return BASE_THREAD, row
    return (BASE_VIRT if which == CPUCLOCK_VIRT else BASE_PROF), row


def _target_gen(world, base: int, target: int) -> int:
    if base == BASE_THREAD:
        return int(world.tasks.gen[target])
    if base in (BASE_PROF, BASE_VIRT):
        return int(world.thread_groups.gen[target])
    return 0


# -- interval timers: setitimer(2), getitimer(2), alarm(2) -------------------------------------------

def _new_timer(world, tg: int) -> int:
    M = world.timers
    r = M.alloc()
    M.tm_owner[r] = tg
    M.tm_owner_gen[r] = world.thread_groups.gen[tg]
    return r


def _itimer_row(world, tg: int, which: int, create: bool) -> int:
    G, M = world.thread_groups, world.timers
    r = int(G.itimer_rows[tg, which])
    if r >= 0 or not create:
        return r
    r = _new_timer(world, tg)
    M.tm_kind[r] = which
    M.tm_target[r] = tg
    M.tm_target_gen[r] = G.gen[tg]
    M.tm_base[r] = (BASE_MONO, BASE_VIRT, BASE_PROF)[which]
    M.tm_once[r] = which != ITIMER_REAL
    M.tm_notify[r] = SIGEV_SIGNAL
    M.tm_signo[r] = _ITIMER_SIGNALS[which]
    G.itimer_rows[tg, which] = r
    return r


def _real_remaining(world, r: int) -> int:
    """itimer_get_remtime: ns left, at least 1 us while armed."""
    M = world.timers
    if r < 0 or not M.tm_armed[r]:
        return 0
    rem = int(M.tm_expiry[r]) - world.now_ns
    return rem if rem > 0 else 1000


def _cpu_remaining(world, r: int, tg: int, which: int, strict: bool) -> int:
    """get_cpu_itimer (``strict``: expiry < now is about to fire) and set_process_cpu_timer
    (expiry <= now): one tick when due, else what is left."""
    M = world.timers
    if r < 0 or not M.tm_armed[r]:
        return 0
    now = base_now(world, int(M.tm_base[r]), tg)
    exp = int(M.tm_expiry[r])
    due = exp < now if strict else exp <= now
    return int(world.settings.tick_ns) if due else exp - now


def _set_itimer_ns(world, task: int, which: int, value: int, interval: int) -> tuple[int, int]:
    """do_setitimer in ns. Returns the old (value, interval) in ns."""
    M = world.timers
    tg = int(world.tasks.tg[task])
    r = _itimer_row(world, tg, which, create=True)
    old_interval = int(M.tm_interval[r])
    if which == ITIMER_REAL:
        old = _real_remaining(world, r)
        M.tm_rearm[r] = False
        M.tm_queued[r] = False
        if value:
            M.tm_armed[r] = True
            M.tm_expiry[r] = world.now_ns + value
            M.tm_interval[r] = interval
        else:
            M.tm_armed[r] = False
            M.tm_interval[r] = 0
        return old, old_interval
    old = _cpu_remaining(world, r, tg, which, strict=False)
    if value:
        M.tm_armed[r] = True
        M.tm_expiry[r] = base_now(world, int(M.tm_base[r]), tg) + value + int(world.settings.tick_ns)
    else:
        M.tm_armed[r] = False
    M.tm_interval[r] = interval  # Linux keeps it->incr even when disarming
    return old, old_interval


def setitimer(world, task: int, which: int, new: ItimerVal | None) -> ItimerVal:
    """setitimer(2). ``new`` None disarms (as Linux does for a NULL value). Returns the old
    setting. EINVAL for a bad timeval (usec outside 0..999999, negative sec) or a bad ``which``."""
    if new is None:
        value = interval = 0
    else:
        value, interval = _timeval_ns(new.value), _timeval_ns(new.interval)
    if which not in (ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF):
        raise KernelError(E.EINVAL, f"bad itimer {which}")
    old, old_interval = _set_itimer_ns(world, task, which, value, interval)
    return ItimerVal(_tv(old_interval), _tv(old))


def getitimer(world, task: int, which: int) -> ItimerVal:
    """getitimer(2). EINVAL for a bad ``which``."""
    if which not in (ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF):
        raise KernelError(E.EINVAL, f"bad itimer {which}")
    tg = int(world.tasks.tg[task])
    r = _itimer_row(world, tg, which, create=False)
    if r < 0:
        return ItimerVal((0, 0), (0, 0))
    interval = int(world.timers.tm_interval[r])
    if which == ITIMER_REAL:
        return ItimerVal(_tv(interval), _tv(_real_remaining(world, r)))
    return ItimerVal(_tv(interval), _tv(_cpu_remaining(world, r, tg, which, strict=True)))


def alarm(world, task: int, seconds: int) -> int:
    """alarm(2): ITIMER_REAL for ``seconds`` (0 cancels). Returns the seconds left of the old
    alarm, rounded to nearest, and at least 1 if any time was left (alarm_setitimer)."""
    seconds &= 0xFFFFFFFF  # unsigned int
    old, _ = _set_itimer_ns(world, task, ITIMER_REAL, seconds * NSEC_PER_SEC, 0)
    sec, nsec = divmod(old, NSEC_PER_SEC)
    if (not sec and nsec) or nsec >= NSEC_PER_SEC // 2:
        sec += 1
    return sec


# -- POSIX timers ---------------------------------------------------------------------------------

def _posix_base(world, task: int, clockid: int) -> tuple[int, int]:
    if clockid in (CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE,
                   CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM):
        raise KernelError(EOPNOTSUPP, f"clock {clockid} has no timers here")
    if clockid >= 0 and clockid not in (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME,
                                        CLOCK_TAI, CLOCK_PROCESS_CPUTIME_ID,
                                        CLOCK_THREAD_CPUTIME_ID):
        raise KernelError(E.EINVAL, f"bad clock {clockid}")
    return _clock_base(world, task, clockid)


def _find_posix(world, task: int, timer_id: int) -> int:
    M = world.timers
    tg = int(world.tasks.tg[task])
    n = M.n
    hit = np.flatnonzero(M.alive[:n] & (M.tm_kind[:n] == KIND_POSIX) & (M.tm_owner[:n] == tg)
                         & (M.tm_id[:n] == timer_id)
                         & (M.tm_owner_gen[:n] == world.thread_groups.gen[tg]))
    if len(hit) == 0:
        raise KernelError(E.EINVAL, f"no timer {timer_id}")
    return int(hit[0])


def timer_create(world, task: int, clockid: int, sev: Sigevent | None = None) -> int:
    """timer_create(2). Returns the timer id (per process, handed out in sequence). EINVAL for a
    bad clock, a bad sigevent or a SIGEV_THREAD_ID thread outside the caller's process;
    EOPNOTSUPP for clocks without timers."""
    T, G, M = world.tasks, world.thread_groups, world.timers
    base, target = _posix_base(world, task, clockid)
    tg = int(T.tg[task])
    thread = -1
    if sev is not None:
        if sev.notify == SIGEV_SIGNAL | SIGEV_THREAD_ID:
            thread = pidns.task_by_tid(world, int(T.ns[task]), sev.tid) if sev.tid > 0 else -1
            if thread < 0 or int(T.tg[thread]) != tg or T.exit_state[thread] == ExitState.DEAD:
                raise KernelError(E.EINVAL, f"SIGEV_THREAD_ID: {sev.tid} is not a thread of the caller")
        elif sev.notify not in (SIGEV_SIGNAL, SIGEV_THREAD, SIGEV_NONE):
            raise KernelError(E.EINVAL, f"bad sigev_notify {sev.notify}")
        if sev.notify != SIGEV_NONE and not 1 <= sev.signo <= NSIG:
            raise KernelError(E.EINVAL, f"bad sigev_signo {sev.signo}")
    # posix_timer_add: the next free id from the process's counter, wrapping at INT_MAX.
    n = M.n
    used = set(M.tm_id[:n][M.alive[:n] & (M.tm_kind[:n] == KIND_POSIX) & (M.tm_owner[:n] == tg)
                           & (M.tm_owner_gen[:n] == G.gen[tg])].tolist())
    tid = int(G.next_timer_id[tg])
    for _ in range(len(used) + 1):
        if tid not in used:
            break
        tid = (tid + 1) & INT_MAX
    G.next_timer_id[tg] = (tid + 1) & INT_MAX
    r = _new_timer(world, tg)
    M.tm_kind[r] = KIND_POSIX
    M.tm_id[r] = tid
    M.tm_clockid[r] = clockid
    M.tm_base[r] = base
    M.tm_target[r] = target
    M.tm_target_gen[r] = _target_gen(world, base, target)
    if sev is None:
        sev = Sigevent(SIGEV_SIGNAL, SIGALRM, tid)
    M.tm_notify[r] = sev.notify
    M.tm_signo[r] = sev.signo if sev.notify != SIGEV_NONE else 0
    M.tm_value[r] = sev.value
    if thread >= 0:
        M.tm_task[r] = thread
        M.tm_task_gen[r] = T.gen[thread]
    return tid


def _posix_remaining(world, r: int) -> int:
    """common_timer_get / posix_cpu_timer_get: ns left; 1 ns for a due timer whose signal has
    not gone yet; a SIGEV_NONE timer is forwarded (periodic) or reads 0 (one-shot)."""
    M = world.timers
    if not M.tm_armed[r] and not M.tm_rearm[r]:
        return 0
    now = base_now(world, int(M.tm_base[r]), int(M.tm_target[r]))
    rem = int(M.tm_expiry[r]) - now
    if M.tm_rearm[r]:  # expired, signal queued: Linux forwards the timer when it is read
        iv = int(M.tm_interval[r])
        return rem if rem > 0 else rem + ((-rem) // iv + 1) * iv
    if rem > 0:
        return rem
    if M.tm_notify[r] == SIGEV_NONE:
        iv = int(M.tm_interval[r])
        if iv:
            k = (-rem) // iv + 1
            M.tm_expiry[r] += k * iv
            return int(M.tm_expiry[r]) - now
        M.tm_armed[r] = False
        return 0
    return 1


def timer_gettime(world, task: int, timer_id: int) -> ItimerSpec:
    """timer_gettime(2). EINVAL for an unknown id."""
    r = _find_posix(world, task, timer_id)
    return ItimerSpec(_ts(int(world.timers.tm_interval[r])), _ts(_posix_remaining(world, r)))


def timer_settime(world, task: int, timer_id: int, flags: int, new: ItimerSpec) -> ItimerSpec:
    """timer_settime(2): arm (relative, or TIMER_ABSTIME in the timer's clock) or disarm (value 0).
    Returns the old setting. EINVAL for a bad timespec or an unknown id."""
    value, interval = _timespec_ns(new.value), _timespec_ns(new.interval)
    M = world.timers
    r = _find_posix(world, task, timer_id)
    old = ItimerSpec(_ts(int(M.tm_interval[r])), _ts(_posix_remaining(world, r)))
    M.tm_overrun_last[r] = 0
    M.tm_rearm[r] = False
    if not value:
        M.tm_armed[r] = False
        M.tm_interval[r] = 0 if M.tm_base[r] in (BASE_MONO, BASE_REAL) else interval
        return old
    now = base_now(world, int(M.tm_base[r]), int(M.tm_target[r]))
    M.tm_armed[r] = True
    M.tm_expiry[r] = value if flags & TIMER_ABSTIME else now + value
    M.tm_interval[r] = interval
    return old


def timer_getoverrun(world, task: int, timer_id: int) -> int:
    """timer_getoverrun(2): the overrun count of the last delivered expiry (capped at INT_MAX)."""
    r = _find_posix(world, task, timer_id)
    _refresh_queued(world, np.array([r], np.int64))
    return min(int(world.timers.tm_overrun_last[r]), INT_MAX)


def timer_delete(world, task: int, timer_id: int) -> None:
    """timer_delete(2). EINVAL for an unknown id. A signal already queued stays queued."""
    r = _find_posix(world, task, timer_id)
    world.timers.free(r)


def delete_posix_timers(world, tg: int) -> int:
    """exit_itimers at execve: every POSIX timer of thread group ``tg`` goes (the interval
    timers stay). Returns how many were deleted."""
    M = world.timers
    n = M.n
    rows = np.flatnonzero(M.alive[:n] & (M.tm_kind[:n] == KIND_POSIX) & (M.tm_owner[:n] == tg)
                          & (M.tm_owner_gen[:n] == world.thread_groups.gen[tg]))
    for r in rows.tolist():
        M.free(r)
    return len(rows)


def timer_count(world, task: int) -> int:
    """How many POSIX timers the caller's process holds (a test and /proc helper)."""
    M = world.timers
    tg = int(world.tasks.tg[task])
    n = M.n
    return int((M.alive[:n] & (M.tm_kind[:n] == KIND_POSIX) & (M.tm_owner[:n] == tg)
                & (M.tm_owner_gen[:n] == world.thread_groups.gen[tg])).sum())


# -- sleeps ------------------------------------------------------------------------------------------

def nanosleep(world, task: int, req: tuple[int, int]):
    """nanosleep(2): 0 at once for a zero request, else BLOCKED (Block.SLEEP) until the timer
    system ends it (ret 0) or a signal does (-EINTR; ``sleep_rem_ns`` holds what was left).
    EINVAL for a bad timespec."""
    return clock_nanosleep(world, task, CLOCK_MONOTONIC, 0, req)


def clock_nanosleep(world, task: int, clockid: int, flags: int, req: tuple[int, int]):
    """clock_nanosleep(2), relative or TIMER_ABSTIME. EINVAL for a bad timespec, a thread CPU
    clock or an unknown clock; EOPNOTSUPP for clocks without sleeps. Returns 0 or BLOCKED."""
    if clockid in (CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE,
                   CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM):
        raise KernelError(EOPNOTSUPP, f"clock {clockid} cannot sleep")
    if clockid == CLOCK_THREAD_CPUTIME_ID or (clockid < 0 and clockid & CPUCLOCK_PERTHREAD_MASK):
        raise KernelError(E.EINVAL, "clock_nanosleep on a thread CPU clock")
    if clockid >= 0 and clockid not in (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME,
                                        CLOCK_TAI, CLOCK_PROCESS_CPUTIME_ID):
        raise KernelError(E.EINVAL, f"bad clock {clockid}")
    base, target = _clock_base(world, task, clockid)
    ns = _timespec_ns(req)
    now = base_now(world, base, target)
    deadline = min(ns if flags & TIMER_ABSTIME else now + ns, KTIME_MAX)  # ktime saturates
    T = world.tasks
    T.sleep_rem_ns[task] = 0
    if deadline <= now:
        return 0
    T.sleeping[task] = True
    T.sleep_base[task] = base
    T.sleep_target[task] = target
    T.sleep_deadline[task] = deadline
    T.sleep_abs[task] = bool(flags & TIMER_ABSTIME)
    T.run_state[task] = RunState.blocked
    T.block[task] = Block.SLEEP
    return BLOCKED


def nanosleep_many(world, tasks: np.ndarray, sec: np.ndarray,
                   nsec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """nanosleep(2) for ``tasks[i]`` asking for ``(sec[i], nsec[i])``, in order: the state
    :func:`nanosleep` (clock_nanosleep on CLOCK_MONOTONIC, relative) called once per item gives.
    Returns ``(err, blocked)``: -EINVAL for a bad timespec, else 0; ``blocked[i]`` when the task
    now sleeps (Block.SLEEP), False when the call returned at once (a zero request). One numpy
    pass when no task repeats (an item writes only its own task's sleep columns, from values no
    other item changes); a batch that names a task twice is served one item at a time."""
    T = world.tasks
    tasks = np.ascontiguousarray(tasks, np.int64)
    sec = np.asarray(sec, np.int64)
    nsec = np.asarray(nsec, np.int64)
    first = np.empty(len(tasks), np.bool_)
    if first_seen(tasks, world.scratch("task_marks", T.n, np.uint8), first):
        err = np.zeros(len(tasks), np.int64)
        blocked = np.zeros(len(tasks), np.bool_)
        for i in range(len(tasks)):
            try:
                blocked[i] = nanosleep(world, int(tasks[i]), (int(sec[i]), int(nsec[i]))) is BLOCKED
            except KernelError as e:
                err[i] = -e.errno
        return err, blocked
    ok = (sec >= 0) & (nsec >= 0) & (nsec < NSEC_PER_SEC)  # _timespec_ns
    err = np.where(ok, 0, -E.EINVAL).astype(np.int64)
    now = int(world.now_ns)
    # min(now + ns, KTIME_MAX) without overflowing int64
    room = KTIME_MAX - now
    fits = (sec < room // NSEC_PER_SEC) | ((sec == room // NSEC_PER_SEC) & (nsec <= room % NSEC_PER_SEC))
    deadline = np.where(fits, now + np.where(fits, sec, 0) * NSEC_PER_SEC + nsec, KTIME_MAX)
    T.sleep_rem_ns[tasks[ok]] = 0
    blocked = ok & (deadline > now)
    t = tasks[blocked]
    T.sleeping[t] = True
    T.sleep_base[t] = BASE_MONO
    T.sleep_target[t] = -1
    T.sleep_deadline[t] = deadline[blocked]
    T.sleep_abs[t] = False
    T.run_state[t] = RunState.blocked
    T.block[t] = Block.SLEEP
    return err, blocked


# -- the system ----------------------------------------------------------------------------------------

def _forward(expiry: np.ndarray, interval: np.ndarray, now: np.ndarray) -> np.ndarray:
    """hrtimer_forward: how many intervals move ``expiry`` past ``now`` (0 if already past)."""
    iv = np.maximum(interval, 1)
    return np.where(now >= expiry, (now - expiry) // iv + 1, 0)


def _refresh_queued(world, rows: np.ndarray) -> None:
    """Timers whose signal was dequeued since the last look (its sigqueue row is gone, or the
    pending bit is clear). A periodic one waiting for that is re-armed past now (Linux's
    posixtimer_rearm / the SIGALRM case of dequeue_signal); the periods it missed are the overrun
    that ``timer_getoverrun`` reports, and are put into the delivered siginfo."""
    M, Q, T, G = world.timers, world.sigqueue, world.tasks, world.thread_groups
    rows = rows[M.tm_queued[rows]]
    if len(rows) == 0:
        return
    q = M.tm_qrow[rows].astype(np.int64)
    has = q >= 0
    still = np.zeros(len(rows), np.bool_)
    qq = np.where(has, q, 0)
    still[has] = (Q.alive[qq] & (Q.gen[qq] == M.tm_qgen[rows]))[has]
    bit = np.left_shift(np.uint64(1), (M.tm_signo[rows].astype(np.uint64) - np.uint64(1)))
    thread = M.tm_task[rows] >= 0
    pend = np.where(thread, T.sig_pending[np.where(thread, M.tm_task[rows], 0)],
                    G.group_pending[M.tm_owner[rows]])
    still[~has] = ((pend & bit) != 0)[~has]
    gone = rows[~still]
    if len(gone) == 0:
        return
    re = gone[M.tm_rearm[gone]]
    if len(re):
        k = _forward(M.tm_expiry[re], M.tm_interval[re], _gather_now(world, re))
        M.tm_expiry[re] += k * M.tm_interval[re]
        M.tm_armed[re] = True
        M.tm_rearm[re] = False
        posix = re[M.tm_kind[re] == KIND_POSIX]
        M.tm_overrun_last[posix] = np.maximum(k[M.tm_kind[re] == KIND_POSIX] - 1, 0)
    rearmed = set(re.tolist())
    for r in gone[M.tm_kind[gone] == KIND_POSIX].tolist():
        missed = int(M.tm_overrun_last[r]) if r in rearmed else 0
        _fix_siginfo(world, r, min(missed + int(M.tm_overrun[r]), INT_MAX))
    M.tm_overrun[gone] = 0
    M.tm_queued[gone] = False
    M.tm_qrow[gone] = -1


def _fix_siginfo(world, r: int, overrun: int) -> None:
    """Put the overrun into the siginfo the timer's signal left with the task that took it (the
    SigInfo columns hold the last signal a task dequeued; si_uid is si_overrun's slot)."""
    M, T, G = world.timers, world.tasks, world.thread_groups
    tg = int(M.tm_owner[r])
    signo, tid = int(M.tm_signo[r]), int(M.tm_id[r])
    for t in links.iterate(G.task_head, tg, T.tg_next):
        if T.si_signo[t] == signo and T.si_code[t] == SI_TIMER and T.si_pid[t] == tid:
            T.si_uid[t] = overrun


def _send_posix(world, r: int) -> bool:
    """Send a POSIX timer's signal; True if it is now queued (its sigqueue row or pending bit)."""
    M, T, G, Q = world.timers, world.tasks, world.thread_groups, world.sigqueue
    tg = int(M.tm_owner[r])
    signo = int(M.tm_signo[r])
    thread = int(M.tm_task[r])
    if thread >= 0:
        if (not T.alive[thread] or T.gen[thread] != M.tm_task_gen[r]
                or T.exit_state[thread] != ExitState.NONE):
            return False
        target, group, owner, tails = thread, False, thread, T.q_tail
    else:
        target, group, owner, tails = int(G.leader[tg]), True, tg, G.gq_tail
    before = int(tails[owner])
    try:
        if signo == SIGKILL:
            sent = send_group_signal(world, tg, SIGKILL)
        else:
            sent = send_signal(world, target, signo, group=group, code=SI_TIMER,
                               pid=int(M.tm_id[r]), uid=0, value=int(M.tm_value[r]))
    except KernelError:  # RLIMIT_SIGPENDING: Linux preallocates; we lose this expiry
        return False
    if not sent:
        return False
    after = int(tails[owner])
    pending = T.sig_pending[target] if not group else G.group_pending[tg]
    if after >= 0 and after != before and Q.q_signo[after] == signo and Q.q_code[after] == SI_TIMER:
        M.tm_qrow[r] = after
        M.tm_qgen[r] = Q.gen[after]
    elif int(pending) & int(sigmask(signo)):
        M.tm_qrow[r] = -1
    else:
        return False
    M.tm_queued[r] = True
    M.tm_overrun[r] = 0
    return True


def _notify(world, r: int, fired_at: int, periods: int) -> None:
    """One expired timer. A periodic timer whose signal is queued waits, disarmed at the expiry
    that fired, until the signal is dequeued (see _refresh_queued)."""
    M, G, Q = world.timers, world.thread_groups, world.sigqueue
    kind = int(M.tm_kind[r])
    if kind in (ITIMER_VIRTUAL, ITIMER_PROF):  # to the thread whose CPU time expired it
        tg = int(M.tm_owner[r])
        send_group_signal_current(world, tg, int(G.cpu_clock_last[tg]), _ITIMER_SIGNALS[kind])
        return
    if kind == ITIMER_REAL:
        tg = int(M.tm_owner[r])
        sent = send_group_signal(world, tg, SIGALRM)
        if M.tm_interval[r] and sent and int(G.group_pending[tg]) & int(sigmask(SIGALRM)):
            M.tm_queued[r] = True
            M.tm_qrow[r] = -1
            M.tm_rearm[r] = True
        if M.tm_interval[r]:
            M.tm_armed[r] = False  # Linux: re-armed when SIGALRM is dequeued, or never
            M.tm_expiry[r] = fired_at
        return
    if M.tm_notify[r] == SIGEV_NONE:
        return
    if M.tm_queued[r]:  # send_sigqueue on a queued siginfo: si_overrun++
        M.tm_overrun[r] += periods
        q = int(M.tm_qrow[r])
        if q >= 0:
            Q.q_uid[q] = min(int(M.tm_overrun[r]), INT_MAX)
        queued = True
    else:
        queued = _send_posix(world, r)
    if queued and M.tm_interval[r]:
        M.tm_armed[r] = False
        M.tm_expiry[r] = fired_at
        M.tm_rearm[r] = True


BATCH_MIN = 16  # fired interval timers below which the scalar _notify is cheaper than a batch


def _notify_all(world, rows: np.ndarray, fired_at: np.ndarray, periods: np.ndarray) -> None:
    """_notify for each fired timer, in row order. Runs of interval timers send their signals
    (process-directed, from the kernel) through the numba send kernel (signals_batch.send_many,
    which hands back to _notify what it does not cover); POSIX timers go one by one."""
    M = world.timers
    itimer = M.tm_kind[rows] != KIND_POSIX
    if len(rows) < BATCH_MIN or world.settings.timer_notify_python:
        itimer[:] = False
    bounds = [0, *(np.flatnonzero(np.diff(itimer)) + 1).tolist(), len(rows)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        if itimer[a]:
            _notify_itimers(world, rows[a:b], fired_at[a:b], periods[a:b])
        else:
            for i in range(a, b):
                _notify(world, int(rows[i]), int(fired_at[i]), int(periods[i]))


def _notify_itimers(world, rows: np.ndarray, fired_at: np.ndarray, periods: np.ndarray) -> None:
    """_notify of interval timers (ITIMER_REAL/VIRTUAL/PROF), in order, in one batched send."""
    M, G = world.timers, world.thread_groups
    n = len(rows)
    kind = M.tm_kind[rows]
    served = np.zeros(n, np.bool_)

    def scalar(i: int) -> int:
        served[i] = True
        _notify(world, int(rows[i]), int(fired_at[i]), int(periods[i]))
        return 0

    dropped = np.zeros(n, np.int8)
    targets = G.leader[M.tm_owner[rows]].astype(np.int64)
    signos = np.array(_ITIMER_SIGNALS, np.int64)[kind]
    send_many(world, np.full(n, -1, np.int64), targets, signos, np.zeros(n, np.int8), scalar,
              dropped=dropped)
    # what _notify does after an ITIMER_REAL send; a send the kernel served that was not dropped
    # left SIGALRM pending in the group (queued, or already pending)
    real = np.flatnonzero(~served & (kind == ITIMER_REAL) & (M.tm_interval[rows] != 0))
    r = rows[real]
    wait = r[dropped[real] == 0]
    M.tm_queued[wait] = True
    M.tm_qrow[wait] = -1
    M.tm_rearm[wait] = True
    M.tm_armed[r] = False  # Linux: re-armed when SIGALRM is dequeued, or never
    M.tm_expiry[r] = fired_at[real]


def _rlimit_cpu(world) -> None:
    G, R = world.thread_groups, world.rlimit_sets
    g = G.live_rows()
    if len(g) == 0:
        return
    g = g[(G.rlimits[g] >= 0) & ~G.exiting[g]]
    rl = G.rlimits[g]
    soft = R.rlim_cur[rl, RLIMIT_CPU]
    hard = R.rlim_max[rl, RLIMIT_CPU]
    finite = soft != RLIM_INFINITY
    if not finite.any():
        return
    g, soft, hard = g[finite], soft[finite], hard[finite]
    ptime = G.group_utime[g] + G.group_stime[g]
    big = np.uint64(2 ** 33)
    never = np.iinfo(np.int64).max
    soft_ns = np.where(soft < big, np.minimum(soft, big).astype(np.int64) * NSEC_PER_SEC, never)
    hard_ns = np.where(hard < big, np.minimum(hard, big).astype(np.int64) * NSEC_PER_SEC, never)
    for i in np.flatnonzero((ptime >= soft_ns) | (ptime >= hard_ns)).tolist():
        tg = int(g[i])
        if hard[i] != RLIM_INFINITY and ptime[i] >= hard_ns[i]:
            send_group_signal(world, tg, SIGKILL)
            continue
        send_group_signal(world, tg, SIGXCPU)
        row = rlimits.writable(world, tg)
        R.rlim_cur[row, RLIMIT_CPU] = min(int(soft[i]) + 1, int(R.rlim_max[row, RLIMIT_CPU]))


def _sleeps(world) -> None:
    """End the sleeps whose deadline passed, and close the ones a signal or a kill ended
    (jit.timers.end_sleeps, one pass over the rows)."""
    T, G = world.tasks, world.thread_groups
    n = T.n
    if n == 0:
        return
    end_sleeps(n, T.alive, T.sleeping, T.run_state, T.block, T.stop_run_state, T.stop_block,
               T.sleep_base, T.sleep_target, T.sleep_deadline, T.ret, T.sleep_rem_ns,
               G.group_utime, G.group_stime, int(world.now_ns),
               int(world.now_ns) + C.realtime_offset(world))


@system(phase=Phase.TIMERS,
        reads=("ThreadGroupMembership", "ThreadGroupCore", "CpuClock", "GroupCpuClock", "SigPending",
               "GroupSigPending", "Rlimits"),
        writes=("Timers", "TimerNotify", "SleepState", "RunState", "SigWait", "SigQueue", "SigPending",
                "GroupSigPending", "Rlimits", "ThreadGroupCore", "GroupStopState", "ChildEvents",
                "SigMask", "SigInfo", "SigFrames", "SignalHandlers", "SigActions", "ExitState"))
def timer_system(world, commands) -> None:
    """Fire expired timers, enforce RLIMIT_CPU, end sleeps whose deadline passed. The interval
    timers' signals go out in batches (``_notify_all``); ``Settings.timer_notify_python``
    sends every one with the scalar ``_notify`` (the differential tests' reference)."""
    M, G = world.timers, world.thread_groups
    n = M.n
    if n:
        rows = np.flatnonzero(M.alive[:n])
        owner = M.tm_owner[rows]
        live = G.alive[owner] & (G.gen[owner] == M.tm_owner_gen[rows])
        for r in rows[~live].tolist():
            commands.free("timers", r)
        rows = rows[live]
        # CPU timers of a thread or group that is gone never fire again.
        base = M.tm_base[rows]
        tgt = M.tm_target[rows]
        th = base == BASE_THREAD
        gr = (base == BASE_PROF) | (base == BASE_VIRT)
        safe = np.where(tgt >= 0, tgt, 0)
        ok = np.ones(len(rows), np.bool_)
        T = world.tasks
        ok[th] = (T.alive[safe] & (T.gen[safe] == M.tm_target_gen[rows]))[th]
        ok[gr] = (G.alive[safe] & (G.gen[safe] == M.tm_target_gen[rows]))[gr]
        M.tm_armed[rows[~ok]] = False
        _refresh_queued(world, rows)
        rows = rows[M.tm_armed[rows] & ~G.exiting[M.tm_owner[rows]]]
        if len(rows):
            armed = M.tm_armed[rows].copy()
            before = M.tm_expiry[rows].copy()
            expiry = before.copy()
            periods = np.zeros(len(rows), np.int64)
            fired = expire(armed, expiry, M.tm_interval[rows].copy(), _gather_now(world, rows),
                           M.tm_once[rows].copy(), periods)
            M.tm_armed[rows] = armed
            M.tm_expiry[rows] = expiry
            if fired:
                i = np.flatnonzero(periods)
                _notify_all(world, rows[i], before[i], periods[i])
    _rlimit_cpu(world)
    _sleeps(world)


SYSTEMS = [timer_system]
