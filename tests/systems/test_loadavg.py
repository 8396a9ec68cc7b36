"""The load average (systems/loadavg.py) against the exponential decay it approximates, and
Linux's fixed-point rules for folding and printing."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecs_kernel.abi import EXP_1, EXP_5, EXP_15, FIXED_1, FSHIFT, LOAD_FREQ_NS
from ecs_kernel.kernel import Kernel
from ecs_kernel.systems import loadavg
from ecs_kernel.world import World

MINUTES = (1, 5, 15)


def reference(active: float, seconds: float, minutes: int) -> float:
    """What the averages approximate: a load that was 0 and has been ``active`` since."""
    return active * (1 - math.exp(-seconds / (60 * minutes)))


def run(world, active: int, seconds: int, every: int) -> None:
    """Sample ``active`` tasks every ``every`` seconds of kernel time for ``seconds``."""
    for _ in range(seconds // every):
        world.now_ns += every * 1_000_000_000
        loadavg.sample(world, active)


@pytest.mark.parametrize("every", [1, 5, 60])
def test_constant_load_converges_as_the_exponentials_do(every):
    k = Kernel()
    w = k.world
    loadavg.sample(w, 2)  # the first sample starts the clock of the folds
    assert w.index.avenrun == [0, 0, 0]
    run(w, 2, 600, every)
    for load, minutes in zip(w.index.avenrun, MINUTES):
        assert load / FIXED_1 == pytest.approx(reference(2, 600, minutes), abs=0.02)


def test_a_fold_catches_up_the_periods_nobody_sampled():
    a, b = Kernel().world, Kernel().world
    for w in (a, b):
        loadavg.sample(w, 3)
    run(a, 3, 60, 5)   # twelve folds
    run(b, 3, 60, 60)  # one sample, twelve periods at once (calc_load_n)
    assert a.index.load_next_ns == b.index.load_next_ns
    for x, y in zip(a.index.avenrun, b.index.avenrun):
        assert abs(x - y) <= 12  # fixed-point rounding of the two paths, 12/2048 at most


def test_nothing_is_folded_before_a_period_ends():
    w = Kernel().world
    loadavg.sample(w, 5)
    w.now_ns += LOAD_FREQ_NS - 1
    assert not loadavg.due(w)
    loadavg.sample(w, 5)
    assert w.index.avenrun == [0, 0, 0]
    w.now_ns += 1
    assert loadavg.due(w)
    loadavg.sample(w, 5)
    # one fold from 0: 5 * (1 - EXP_i), exactly (calc_load rounds up while the load rises)
    assert w.index.avenrun == [5 * (FIXED_1 - e) for e in (EXP_1, EXP_5, EXP_15)]
    loadavg.sample(w, 0)  # not due again yet
    w.now_ns += LOAD_FREQ_NS
    loadavg.sample(w, 0)  # falling: rounded down
    assert w.index.avenrun == [5 * (FIXED_1 - e) * e // FIXED_1 for e in (EXP_1, EXP_5, EXP_15)]


@settings(max_examples=200, deadline=None)
@given(x=st.integers(1, FIXED_1), n=st.integers(0, 200))
def test_fixed_power_is_the_power_within_rounding(x, n):
    got = loadavg.fixed_power_int(x, FSHIFT, n) / FIXED_1
    assert got == pytest.approx((x / FIXED_1) ** n, abs=(n + 1) / FIXED_1)


@pytest.mark.parametrize("load,text", [(0, "0.00"), (FIXED_1, "1.00"), (FIXED_1 * 3 // 2, "1.50"),
                                       (687, "0.34"), (FIXED_1 * 99 + FIXED_1 // 2, "99.50")])
def test_averages_print_as_linux_prints_them(load, text):
    # LOAD_INT/LOAD_FRAC after get_avenrun's FIXED_1/200 offset: 687/2048 = 0.3354 is 0.34
    assert loadavg.loadavg_text([load, load, load]) == " ".join([text] * 3)


def test_the_averages_survive_a_checkpoint():
    k = Kernel()
    loadavg.sample(k.world, 4)
    run(k.world, 4, 30, 5)
    back = World.restore(k.checkpoint())
    assert back.index.avenrun == k.world.index.avenrun != [0, 0, 0]
    assert back.index.load_next_ns == k.world.index.load_next_ns
