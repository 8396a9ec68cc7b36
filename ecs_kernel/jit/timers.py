"""Timer expiry kernel: which armed timers expired, how many periods, and their next expiry.

Columns (one entry per timer row):

- ``armed`` (bool): the timer is set. Cleared here when a one-shot timer expires.
- ``expiry`` (int64 ns, in the timer's own clock): when it expires next (``now >= expiry``).
- ``interval`` (int64 ns): the period, 0 for a one-shot timer.
- ``now`` (int64 ns): the current reading of each timer's clock (gathered by the caller).
- ``once`` (bool): step a periodic timer by one interval per pass (Linux's CPU itimers:
  ``it->expires += it->incr``) instead of forwarding it past ``now`` (hrtimer_forward).
- ``periods`` (int64, output): 0 for a timer that did not expire, else the number of periods that
  elapsed (1 + missed periods when forwarded; always 1 when ``once``).

The kernel is pure over its arrays; :func:`expire` is the checked wrapper, and the tests hold it
to a plain-Python version (``tests/systems/test_timers.py``).
"""
from __future__ import annotations

import numpy as np

from ecs_kernel.abi import (BASE_PROF, BASE_REAL, BASE_VIRT, BLOCK_NONE, BLOCK_SLEEP,
                            BLOCK_STOPPED, RUN_BLOCKED, RUN_SYSCALL_EXIT)
from ecs_kernel.jit.checks import check_vec as _check
from ecs_kernel.jit.options import jit


@jit
def _expire(armed, expiry, interval, now, once, periods):
    fired = 0
    for i in range(armed.shape[0]):
        periods[i] = 0
        if not armed[i] or now[i] < expiry[i]:
            continue
        fired += 1
        iv = interval[i]
        if iv <= 0:
            armed[i] = False
            periods[i] = 1
        elif once[i]:
            expiry[i] += iv
            periods[i] = 1
        else:
            k = (now[i] - expiry[i]) // iv + 1
            expiry[i] += k * iv
            periods[i] = k
    return fired


_B = (np.dtype(np.bool_),)
_I = (np.dtype(np.int64),)


def expire(armed, expiry, interval, now, once, periods) -> int:
    """Advance every expired timer in place; returns how many expired (see the module doc)."""
    _check("armed", armed, _B, writeable=True)
    n = armed.shape[0]
    what = "one per timer row"
    _check("expiry", expiry, _I, n, True, what)
    _check("interval", interval, _I, n, False, what)
    _check("now", now, _I, n, False, what)
    _check("once", once, _B, n, False, what)
    _check("periods", periods, _I, n, True, what)
    return int(_expire(armed, expiry, interval, now, once, periods))


def expire_naive(armed, expiry, interval, now, once, periods) -> int:
    """The oracle: the same rules, one row at a time in Python."""
    fired = 0
    for i in range(len(armed)):
        periods[i] = 0
        if armed[i] and now[i] >= expiry[i]:
            fired += 1
            if interval[i] <= 0:
                armed[i] = False
                periods[i] = 1
            elif once[i]:
                expiry[i] += interval[i]
                periods[i] = 1
            else:
                k = (int(now[i]) - int(expiry[i])) // int(interval[i]) + 1
                expiry[i] += k * interval[i]
                periods[i] = k
    return fired


__all__ = ["expire", "expire_naive"]


@jit(inline="always")
def _end_sleep(t, sleeping, run_state, block, stop_run_state, stop_block, base, target, deadline,
               ret, rem, g_utime, g_stime, now_mono, now_real):
    """One sleeper (see end_sleeps). Returns 1 if its sleep ended, else 0."""
    b = base[t]
    if b == BASE_REAL:
        now = now_real
    elif b == BASE_PROF:
        now = g_utime[target[t]] + g_stime[target[t]]
    elif b == BASE_VIRT:
        now = g_utime[target[t]]
    else:
        now = now_mono
    due = now >= deadline[t]
    if run_state[t] == RUN_BLOCKED and block[t] == BLOCK_SLEEP:
        if due:
            ret[t] = 0
            block[t] = BLOCK_NONE
            run_state[t] = RUN_SYSCALL_EXIT
            sleeping[t] = False
            return 1
    elif run_state[t] == RUN_BLOCKED and block[t] == BLOCK_STOPPED and stop_block[t] == BLOCK_SLEEP:
        if due:
            ret[t] = 0
            stop_block[t] = BLOCK_NONE
            stop_run_state[t] = RUN_SYSCALL_EXIT
            sleeping[t] = False
            return 1
    else:
        left = deadline[t] - now
        rem[t] = left if left > 0 else 0
        sleeping[t] = False
        return 1
    return 0


@jit(allocates=False)
def end_sleeps(n, alive, sleeping, run_state, block, stop_run_state, stop_block, base, target,
               deadline, ret, rem, g_utime, g_stime, now_mono, now_real):
    """The timer system's pass over sleepers (nanosleep / clock_nanosleep), one row at a time:
    a sleeper whose clock reached its deadline returns 0 (one held by a group stop returns 0
    when continued); a row that left the sleep another way (a signal: its ``ret`` is already
    -EINTR; a kill) keeps the time it had left (``rem``). ``now_mono`` and ``now_real`` are the
    monotonic and realtime clocks; a CPU-clock sleep (PROF, VIRT) reads its thread group's time.
    Returns the number of sleeps that ended."""
    ended = 0
    for t in range(n):
        if sleeping[t] and alive[t]:
            ended += _end_sleep(t, sleeping, run_state, block, stop_run_state, stop_block, base,
                                target, deadline, ret, rem, g_utime, g_stime, now_mono, now_real)
    return ended


@jit(allocates=False)
def end_sleep_rows(rows, sleeping, run_state, block, stop_run_state, stop_block, base, target,
                   deadline, ret, rem, g_utime, g_stime, now_mono, now_real):
    """end_sleeps for the given rows only (signals just ended their sleeps: the remainders now).
    Returns the number of sleeps that ended."""
    ended = 0
    for i in range(rows.shape[0]):
        t = rows[i]
        if sleeping[t]:
            ended += _end_sleep(t, sleeping, run_state, block, stop_run_state, stop_block, base,
                                target, deadline, ret, rem, g_utime, g_stime, now_mono, now_real)
    return ended
