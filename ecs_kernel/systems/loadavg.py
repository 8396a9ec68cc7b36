"""The load average: /proc/loadavg and sysinfo(2)'s loads (Linux kernel/sched/loadavg.c).

Every LOAD_FREQ_NS of kernel time the number of active tasks (runnable, or in an uninterruptible
wait) is folded into three exponentially decaying averages, kept in fixed point with FSHIFT
fraction bits as Linux keeps ``avenrun``::

    avenrun[i] = avenrun[i] * EXP_i + active * (FIXED_1 - EXP_i)      (calc_load, rounded up
                                                                        while the load rises)

Periods in which nobody sampled (the kernel did not tick) are folded in at once with the count
of now, as a NO_HZ kernel catches up (calc_load_n). The CPU driver says which tasks are active
(the guest Machine counts the tasks it runs) and calls :func:`sample` when it ticks; readers call
it too, so what they show is never older than one period.

State: ``world.index.avenrun`` (three ints, fixed point) and ``world.index.load_next_ns`` (the
kernel time of the next fold; 0 until the first sample).
"""
from __future__ import annotations

from ..abi import EXP_1, EXP_5, EXP_15, FIXED_1, FSHIFT, LOAD_FREQ_NS

EXPS = (EXP_1, EXP_5, EXP_15)


def fixed_power_int(x: int, frac_bits: int, n: int) -> int:
    """x ** n in fixed point with ``frac_bits`` fraction bits, rounding as Linux does."""
    result = 1 << frac_bits
    half = 1 << (frac_bits - 1)
    while n:
        if n & 1:
            result = (result * x + half) >> frac_bits
        n >>= 1
        if n:
            x = (x * x + half) >> frac_bits
    return result


def calc_load(load: int, exp: int, active: int) -> int:
    """One fold of ``active`` (fixed point) into ``load``."""
    new = load * exp + active * (FIXED_1 - exp)
    if active >= load:
        new += FIXED_1 - 1
    return new // FIXED_1


def calc_load_n(load: int, exp: int, active: int, n: int) -> int:
    """``n`` folds of the same ``active`` at once."""
    return calc_load(load, fixed_power_int(exp, FSHIFT, n), active)


def due(world) -> bool:
    """Is a fold due (or the first sample)? Callers count the active tasks only then."""
    ix = world.index
    return ix.load_next_ns == 0 or world.now_ns >= ix.load_next_ns


def sample(world, active: int) -> None:
    """Fold the periods that ended by now (``world.now_ns``) with ``active`` tasks active."""
    ix = world.index
    now = world.now_ns
    if ix.load_next_ns == 0:
        ix.load_next_ns = now + LOAD_FREQ_NS
        return
    if now < ix.load_next_ns:
        return
    n = 1 + (now - ix.load_next_ns) // LOAD_FREQ_NS
    a = int(active) * FIXED_1
    ix.avenrun = [calc_load_n(load, exp, a, n) for load, exp in zip(ix.avenrun, EXPS)]
    ix.load_next_ns += n * LOAD_FREQ_NS


def loadavg_text(avenrun) -> str:
    """The three averages as /proc/loadavg prints them ("0.52 0.31 0.12")."""
    out = []
    for load in avenrun:
        x = load + FIXED_1 // 200  # get_avenrun's offset: round to the nearest hundredth
        out.append(f"{x >> FSHIFT}.{((x & (FIXED_1 - 1)) * 100) >> FSHIFT:02d}")
    return " ".join(out)
