"""ecs_kernel.jit.cpuclock against slow oracles: plain Python loops over Python ints."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ecs_kernel.jit import cpuclock as C

IDLE, USER, SYS = 0, 1, 2
SETTINGS = settings(max_examples=60, deadline=None)


# ---------------------------------------------------------------------------------------------
# Oracles
# ---------------------------------------------------------------------------------------------

def oracle_account(state, utime, stime, alive, charge):
    """``charge(i)`` is what row i used. Returns new (utime, stime) lists and the charged count."""
    ut, stt, charged = list(map(int, utime)), list(map(int, stime)), 0
    for i in range(len(state)):
        if not alive[i]:
            continue
        if state[i] == USER:
            ut[i] += charge(i)
            charged += 1
        elif state[i] == SYS:
            stt[i] += charge(i)
            charged += 1
    return ut, stt, charged


def oracle_sum(task_tg, utime, stime, alive, n_groups):
    su, ss = [0] * n_groups, [0] * n_groups
    for i in range(len(task_tg)):
        if alive[i]:
            su[task_tg[i]] += int(utime[i])
            ss[task_tg[i]] += int(stime[i])
    return su, ss


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

@st.composite
def task_clocks(draw, max_tasks=30, max_groups=6):
    n = draw(st.integers(0, max_tasks))
    n_groups = draw(st.integers(0, max_groups)) if n == 0 else draw(st.integers(1, max_groups))
    alive = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    # States include values other than 0/1/2: those are not running.
    state = draw(st.lists(st.one_of(st.sampled_from([IDLE, USER, SYS]), st.integers(3, 255)),
                          min_size=n, max_size=n))
    clock = st.integers(0, 2**40)
    tg = [draw(st.integers(0, n_groups - 1)) if a else draw(st.integers(-3, n_groups + 3))
          for a in alive]
    return dict(
        state=np.array(state, np.uint8),
        utime=np.array(draw(st.lists(clock, min_size=n, max_size=n)), np.int64),
        stime=np.array(draw(st.lists(clock, min_size=n, max_size=n)), np.int64),
        alive=np.array(alive, bool),
        task_tg=np.array(tg, draw(st.sampled_from([np.int32, np.int64]))),
        used_ns=np.array(draw(st.lists(st.integers(0, 10**7), min_size=n, max_size=n)), np.int64),
        n_groups=n_groups,
    )


ticks = st.one_of(st.integers(0, 10**9), st.just(0), st.just(1))


# ---------------------------------------------------------------------------------------------
# Accounting
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("parallel", [False, True])
@given(task_clocks(), ticks)
@SETTINGS
def test_account_tick_matches_oracle(parallel, t, tick):
    ut, stt, charged = oracle_account(t["state"], t["utime"], t["stime"], t["alive"],
                                      lambda i: tick)
    got = C.account_tick(t["state"], t["utime"], t["stime"], t["alive"], tick, parallel=parallel)
    assert got == charged
    assert t["utime"].tolist() == ut and t["stime"].tolist() == stt


@given(task_clocks())
@SETTINGS
def test_account_tick_measured_matches_oracle(t):
    used = t["used_ns"]
    ut, stt, charged = oracle_account(t["state"], t["utime"], t["stime"], t["alive"],
                                      lambda i: int(used[i]))
    assert C.account_tick_measured(t["state"], t["utime"], t["stime"], t["alive"], used) == charged
    assert t["utime"].tolist() == ut and t["stime"].tolist() == stt


def test_user_time_and_system_time_go_to_their_own_clocks():
    state = np.array([IDLE, USER, SYS, USER, 7], np.uint8)
    alive = np.array([True, True, True, False, True])
    ut, st_ = np.zeros(5, np.int64), np.zeros(5, np.int64)
    assert C.account_tick(state, ut, st_, alive, 10) == 2
    assert ut.tolist() == [0, 10, 0, 0, 0] and st_.tolist() == [0, 0, 10, 0, 0]
    used = np.array([1, 2, 3, 4, 5], np.int64)
    assert C.account_tick_measured(state, ut, st_, alive, used) == 2
    assert ut.tolist() == [0, 12, 0, 0, 0] and st_.tolist() == [0, 0, 13, 0, 0]


def test_a_negative_measured_time_is_rejected_and_nothing_is_charged():
    state = np.array([USER, SYS, USER, IDLE], np.uint8)
    alive = np.ones(4, bool)
    ut, st_ = np.array([5, 5, 5, 5], np.int64), np.array([7, 7, 7, 7], np.int64)
    used = np.array([1, 1, -1, -9], np.int64)  # row 3 is idle: its value does not matter
    with pytest.raises(ValueError, match=r"used_ns\[2\] = -1"):
        C.account_tick_measured(state, ut, st_, alive, used)
    assert ut.tolist() == [5, 5, 5, 5] and st_.tolist() == [7, 7, 7, 7]


# ---------------------------------------------------------------------------------------------
# Group sums
# ---------------------------------------------------------------------------------------------

@given(task_clocks())
@SETTINGS
def test_sum_by_group_matches_oracle(t):
    g = t["n_groups"]
    ou, os_ = np.full(g, -1, np.int64), np.full(g, -1, np.int64)
    C.sum_by_group(t["task_tg"], t["utime"], t["stime"], t["alive"], g, ou, os_)
    assert (ou.tolist(), os_.tolist()) == oracle_sum(t["task_tg"], t["utime"], t["stime"],
                                                     t["alive"], g)


@given(task_clocks(), ticks, st.booleans())
@SETTINGS
def test_account_and_sum_matches_account_then_sum(t, tick, measured):
    g = t["n_groups"]
    used = t["used_ns"]
    charge = (lambda i: int(used[i])) if measured else (lambda i: tick)
    ut, stt, charged = oracle_account(t["state"], t["utime"], t["stime"], t["alive"], charge)
    su, ss = oracle_sum(t["task_tg"], ut, stt, t["alive"], g)
    ou, os_ = np.full(g, -1, np.int64), np.full(g, -1, np.int64)
    kw = dict(used_ns=used) if measured else dict(tick_ns=tick)
    got = C.account_and_sum(t["state"], t["utime"], t["stime"], t["alive"], t["task_tg"], g,
                            ou, os_, **kw)
    assert got == charged
    assert t["utime"].tolist() == ut and t["stime"].tolist() == stt
    assert ou.tolist() == su and os_.tolist() == ss


def test_group_clock_counts_live_threads_only():
    tg = np.array([0, 0, 1, 0], np.int32)
    alive = np.array([True, True, True, False])
    ut = np.array([1, 2, 4, 100], np.int64)
    st_ = np.array([10, 20, 40, 1000], np.int64)
    ou, os_ = np.empty(3, np.int64), np.empty(3, np.int64)
    C.sum_by_group(tg, ut, st_, alive, 3, ou, os_)
    assert ou.tolist() == [3, 4, 0] and os_.tolist() == [30, 40, 0]


@pytest.mark.parametrize("measured", [False, True])
def test_a_bad_group_row_is_rejected_and_nothing_changes(measured):
    state = np.array([USER, SYS, USER], np.uint8)
    alive = np.ones(3, bool)
    tg = np.array([0, 1, 2], np.int64)  # n_groups = 2: row 2 is bad
    ut, st_ = np.array([1, 1, 1], np.int64), np.array([2, 2, 2], np.int64)
    ou, os_ = np.full(2, -5, np.int64), np.full(2, -5, np.int64)
    kw = dict(used_ns=np.full(3, 3, np.int64)) if measured else dict(tick_ns=3)
    with pytest.raises(ValueError, match=r"task_tg\[2\] = 2"):
        C.account_and_sum(state, ut, st_, alive, tg, 2, ou, os_, **kw)
    assert ut.tolist() == [1, 1, 1] and st_.tolist() == [2, 2, 2]
    assert ou.tolist() == [-5, -5] and os_.tolist() == [-5, -5]
    with pytest.raises(ValueError, match=r"task_tg\[2\] = 2"):
        C.sum_by_group(tg, ut, st_, alive, 2, ou, os_)


def test_account_and_sum_rejects_a_negative_measured_time_unchanged():
    state = np.array([SYS, USER], np.uint8)
    alive = np.ones(2, bool)
    ut, st_ = np.array([1, 1], np.int64), np.array([2, 2], np.int64)
    ou, os_ = np.zeros(1, np.int64), np.zeros(1, np.int64)
    with pytest.raises(ValueError, match=r"used_ns\[1\] = -4"):
        C.account_and_sum(state, ut, st_, alive, np.zeros(2, np.int32), 1, ou, os_,
                          used_ns=np.array([3, -4], np.int64))
    assert ut.tolist() == [1, 1] and st_.tolist() == [2, 2]


# ---------------------------------------------------------------------------------------------
# Wrapper validation
# ---------------------------------------------------------------------------------------------

def test_misuse_is_rejected_with_value_error():
    state, alive = np.zeros(2, np.uint8), np.ones(2, bool)
    ut, st_ = np.zeros(2, np.int64), np.zeros(2, np.int64)
    tg = np.zeros(2, np.int32)
    ou, os_ = np.zeros(1, np.int64), np.zeros(1, np.int64)
    with pytest.raises(ValueError, match="state must have dtype uint8"):
        C.account_tick(state.astype(np.int8), ut, st_, alive, 1)
    with pytest.raises(ValueError, match="utime must have dtype int64"):
        C.account_tick(state, ut.astype(np.uint64), st_, alive, 1)
    with pytest.raises(ValueError, match="stime must have length 2"):
        C.account_tick(state, ut, st_[:1], alive, 1)
    with pytest.raises(ValueError, match="tick_ns must be >= 0"):
        C.account_tick(state, ut, st_, alive, -1)
    with pytest.raises(ValueError, match="tick_ns must be an integer"):
        C.account_tick(state, ut, st_, alive, 1.5)
    with pytest.raises(ValueError, match="out_utime must have length 2"):
        C.sum_by_group(tg, ut, st_, alive, 2, ou, os_)
    with pytest.raises(ValueError, match="exactly one of tick_ns"):
        C.account_and_sum(state, ut, st_, alive, tg, 1, ou, os_)
    with pytest.raises(ValueError, match="exactly one of tick_ns"):
        C.account_and_sum(state, ut, st_, alive, tg, 1, ou, os_, tick_ns=1,
                          used_ns=np.zeros(2, np.int64))
    frozen = ut.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="utime must be writeable"):
        C.account_tick(state, frozen, st_, alive, 1)


# ---------------------------------------------------------------------------------------------
# The fused pass the accounting system runs (fold_stages)
# ---------------------------------------------------------------------------------------------

@given(task_clocks(), st.data())
@SETTINGS
def test_fold_stages_matches_charging_both_stages_then_summing(t, data):
    """Live rows: utime += user stage, stime += system stage; every stage zeroed; per-group sums
    of live rows with a group (a live row may have none: -1); the count of rows with time
    staged. Compiled and as its Python body."""
    n, ng = len(t["alive"]), t["n_groups"]
    tg = np.minimum(t["task_tg"], ng - 1).astype(t["task_tg"].dtype)  # dead rows: anything
    tg[t["alive"] & np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool)] = -1
    uu = np.array(data.draw(st.lists(st.sampled_from([0, 1, 10**6]), min_size=n, max_size=n)),
                  np.int64)
    us = t["used_ns"]
    want_u = [int(u) + (int(x) if a else 0) for u, x, a in zip(t["utime"], uu, t["alive"])]
    want_s = [int(s) + (int(x) if a else 0) for s, x, a in zip(t["stime"], us, t["alive"])]
    want_charged = sum(1 for a, x, y in zip(t["alive"], uu, us) if a and (x or y))
    su, ss = [0] * ng, [0] * ng
    for i in range(n):
        if t["alive"][i] and tg[i] >= 0:
            su[tg[i]] += want_u[i]
            ss[tg[i]] += want_s[i]
    def python_body(*a):
        return C._fold_stages.py_func(*(a[:6] + a[7:]))  # without n_groups

    for fold in (C.fold_stages, python_body):
        ut, st_, u, s = t["utime"].copy(), t["stime"].copy(), uu.copy(), us.copy()
        ou, os_ = np.full(ng, -5, np.int64), np.full(ng, -5, np.int64)
        assert fold(t["alive"], ut, st_, u, s, tg, ng, ou, os_) == want_charged
        assert ut.tolist() == want_u and st_.tolist() == want_s
        assert not u.any() and not s.any()
        assert ou.tolist() == su and os_.tolist() == ss


def test_fold_stages_refuses_a_negative_stage_or_a_bad_group_and_changes_nothing():
    alive = np.array([True, True, False])
    for uu, tg, match in (([5, -1, 0], [0, 0, 0], "negative"),
                          ([5, 1, 0], [0, 2, 0], "not a thread-group row")):
        ut, st_ = np.array([1, 2, 3], np.int64), np.array([4, 5, 6], np.int64)
        u, s = np.array(uu, np.int64), np.array([7, 8, 9], np.int64)
        ou, os_ = np.zeros(2, np.int64), np.zeros(2, np.int64)
        with pytest.raises(ValueError, match=match):
            C.fold_stages(alive, ut, st_, u, s, np.array(tg, np.int32), 2, ou, os_)
        assert ut.tolist() == [1, 2, 3] and st_.tolist() == [4, 5, 6]
        assert u.tolist() == uu and s.tolist() == [7, 8, 9] and not ou.any()
