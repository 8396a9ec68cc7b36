"""ecs_kernel.jit.signals against slow, obviously-correct oracles written here.

The oracles work on Python sets of signal numbers, not on bit tricks, so they do not share the
kernels' mistakes. Linux facts they encode (kernel/signal.c): SIGKILL and SIGSTOP cannot be
blocked; next_signal() takes a pending synchronous signal (SIGSEGV, SIGBUS, SIGILL, SIGTRAP,
SIGFPE, SIGSYS) before any other, else the lowest number; dequeue_signal() looks at the task's
private queue before the thread group's shared queue.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ecs_kernel.jit import signals as S

SIGINT, SIGILL, SIGKILL, SIGSEGV, SIGUSR1, SIGSTOP, SIGSYS = 2, 4, 9, 11, 10, 19, 31
SYNCHRONOUS = {4, 5, 7, 8, 11, 31}  # SIGILL SIGTRAP SIGBUS SIGFPE SIGSEGV SIGSYS
UNBLOCKABLE = {SIGKILL, SIGSTOP}
FULL = (1 << 64) - 1
ALL = set(range(1, 65))

SETTINGS = settings(max_examples=60, deadline=None)


# ---------------------------------------------------------------------------------------------
# Oracles
# ---------------------------------------------------------------------------------------------

def to_set(mask: int) -> set[int]:
    return {s for s in ALL if (int(mask) >> (s - 1)) & 1}


def to_mask(signals) -> int:
    m = 0
    for s in signals:
        m |= 1 << (s - 1)
    return m


def oracle_deliverable(pending: int, mask: int, shared: int) -> set[int]:
    blocked = to_set(mask) - UNBLOCKABLE
    return (to_set(pending) | to_set(shared)) - blocked


def oracle_next_signal(pending: int, mask: int) -> int:
    candidates = to_set(pending) - (to_set(mask) - UNBLOCKABLE)
    if not candidates:
        return 0
    sync = candidates & SYNCHRONOUS
    return min(sync) if sync else min(candidates)


def oracle_lowest(pending: int, mask: int, shared: int) -> tuple[int, bool]:
    sig = oracle_next_signal(pending, mask)
    if sig:
        return sig, False
    sig = oracle_next_signal(shared, mask)
    return (sig, True) if sig else (0, False)


def oracle_dequeue(tp, tm, tg, tgp, alive, keep_task, keep_tg):
    """Rows in order; a kept shared signal is taken once per group per call, later takers wait."""
    tp = [int(x) for x in tp]
    tgp = [int(x) for x in tgp]
    taken = {}  # group -> signals taken from its shared queue with their bit kept
    signos, groups = [], []
    for i in range(len(tp)):
        if not alive[i]:
            signos.append(0)
            groups.append(False)
            continue
        sig = oracle_next_signal(tp[i], tm[i])
        if sig:
            signos.append(sig)
            groups.append(False)
            if keep_task is None or sig not in to_set(keep_task[i]):
                tp[i] = to_mask(to_set(tp[i]) - {sig})
            continue
        g = int(tg[i])
        sig = oracle_next_signal(tgp[g], tm[i])
        if not sig:
            signos.append(0)
            groups.append(False)
            continue
        groups.append(True)
        if sig in taken.get(g, set()):
            signos.append(-sig)
            continue
        signos.append(sig)
        if keep_tg is not None and sig in to_set(keep_tg[g]):
            taken.setdefault(g, set()).add(sig)
        else:
            tgp[g] = to_mask(to_set(tgp[g]) - {sig})
    return tp, tgp, signos, groups


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

signos = st.integers(1, 64)
interesting = st.sampled_from([0, FULL, 1 << 63, to_mask({SIGKILL}), to_mask({SIGSTOP}),
                               to_mask(SYNCHRONOUS), to_mask({SIGKILL, SIGSTOP, 64})])
sigsets = st.one_of(st.integers(0, FULL), st.sets(signos, max_size=6).map(to_mask), interesting)


@st.composite
def task_tables(draw, max_tasks=24, max_groups=5):
    n = draw(st.integers(0, max_tasks))
    n_groups = draw(st.integers(1, max_groups))
    alive = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    # Dead rows may hold anything in task_tg, including rows that do not exist.
    tg = [draw(st.integers(0, n_groups - 1)) if a else draw(st.integers(-5, n_groups + 5))
          for a in alive]
    return dict(
        task_pending=np.array(draw(st.lists(sigsets, min_size=n, max_size=n)), dtype=np.uint64),
        task_mask=np.array(draw(st.lists(sigsets, min_size=n, max_size=n)), dtype=np.uint64),
        task_tg=np.array(tg, dtype=np.int32),
        tg_pending=np.array(draw(st.lists(sigsets, min_size=n_groups, max_size=n_groups)),
                            dtype=np.uint64),
        alive=np.array(alive, dtype=bool),
    )


def cols(t):
    return t["task_pending"], t["task_mask"], t["task_tg"], t["tg_pending"], t["alive"]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def test_sigmask_of_every_signal_is_bit_signo_minus_one():
    for s in range(1, 65):
        assert int(S.sigmask_of(s)) == 1 << (s - 1)
    assert int(S.sigmask_of(64)) == 1 << 63


@given(sigsets, signos)
@SETTINGS
def test_set_helpers_match_set_semantics(m, s):
    m64 = np.uint64(m)
    assert bool(S.sigismember(m64, s)) == (s in to_set(m))
    assert to_set(S.sigaddset(m64, s)) == to_set(m) | {s}
    assert to_set(S.sigdelset(m64, s)) == to_set(m) - {s}
    assert to_set(S.effective_mask(m64)) == to_set(m) - UNBLOCKABLE
    assert S.lowest_signo(m64) == (min(to_set(m)) if m else 0)
    assert S.ctz64(m64) == ((min(to_set(m)) - 1) if m else 64)


def test_valid_signal_is_one_to_sixty_four():
    assert [s for s in range(-2, 70) if S.valid_signal(s)] == list(range(1, 65))


@given(sigsets, sigsets)
@SETTINGS
def test_next_signal_matches_linux_next_signal(pending, mask):
    assert S.next_signal(np.uint64(pending), np.uint64(mask)) == oracle_next_signal(pending, mask)


def test_next_signal_prefers_synchronous_signals_over_lower_numbers():
    # SIGINT (2) is lower than SIGSEGV (11), but Linux dequeues the fault first.
    assert S.next_signal(np.uint64(to_mask({SIGINT, SIGSEGV})), np.uint64(0)) == SIGSEGV
    # ... even ahead of SIGKILL (9): next_signal() does not special-case it.
    assert S.next_signal(np.uint64(to_mask({SIGKILL, SIGSYS})), np.uint64(0)) == SIGSYS
    # Among synchronous signals, the lowest number.
    assert S.next_signal(np.uint64(to_mask({SIGSEGV, SIGILL})), np.uint64(0)) == SIGILL
    # A blocked synchronous signal does not take priority.
    assert S.next_signal(np.uint64(to_mask({SIGINT, SIGSEGV})),
                         np.uint64(to_mask({SIGSEGV}))) == SIGINT


# ---------------------------------------------------------------------------------------------
# deliverable_scan / deliverable_tasks
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("parallel", [False, True])
@given(task_tables())
@SETTINGS
def test_deliverable_scan_matches_oracle(parallel, t):
    n = t["alive"].shape[0]
    out = np.full(n, 0xDEAD, dtype=np.uint64)
    count = S.deliverable_scan(*cols(t), out, parallel=parallel)
    expect = [oracle_deliverable(t["task_pending"][i], t["task_mask"][i],
                                 t["tg_pending"][t["task_tg"][i]]) if t["alive"][i] else set()
              for i in range(n)]
    assert [to_set(x) for x in out] == expect
    assert count == sum(1 for e in expect if e)


@given(task_tables())
@SETTINGS
def test_deliverable_tasks_lists_rows_with_a_deliverable_signal(t):
    n = t["alive"].shape[0]
    rows = S.deliverable_tasks(*cols(t))
    expect = [i for i in range(n) if t["alive"][i] and oracle_deliverable(
        t["task_pending"][i], t["task_mask"][i], t["tg_pending"][t["task_tg"][i]])]
    assert rows.tolist() == expect
    scratch = np.empty(n + 3, dtype=np.int64)
    assert S.deliverable_tasks(*cols(t), out_idx=scratch).tolist() == expect


def one_task(pending=0, mask=0, shared=0, alive=True, tg_dtype=np.int32):
    return (np.array([pending], np.uint64), np.array([mask], np.uint64),
            np.array([0], tg_dtype), np.array([shared], np.uint64), np.array([alive]))


@pytest.mark.parametrize("parallel", [False, True])
def test_sigkill_cannot_be_blocked(parallel):
    out = np.empty(1, np.uint64)
    assert S.deliverable_scan(*one_task(pending=to_mask({SIGKILL}), mask=FULL), out,
                              parallel=parallel) == 1
    assert to_set(out[0]) == {SIGKILL}


@pytest.mark.parametrize("parallel", [False, True])
def test_sigstop_from_the_group_cannot_be_blocked(parallel):
    out = np.empty(1, np.uint64)
    assert S.deliverable_scan(*one_task(shared=to_mask({SIGSTOP, SIGUSR1}), mask=FULL), out,
                              parallel=parallel) == 1
    assert to_set(out[0]) == {SIGSTOP}


@pytest.mark.parametrize("parallel", [False, True])
def test_signal_64_is_deliverable_and_blockable(parallel):
    out = np.empty(1, np.uint64)
    assert S.deliverable_scan(*one_task(pending=1 << 63), out, parallel=parallel) == 1
    assert int(out[0]) == 1 << 63
    assert S.deliverable_scan(*one_task(pending=1 << 63, mask=1 << 63), out,
                              parallel=parallel) == 0


def test_int64_group_rows_are_accepted():
    out = np.empty(1, np.uint64)
    assert S.deliverable_scan(*one_task(shared=to_mask({SIGINT}), tg_dtype=np.int64), out) == 1


def test_serial_and_prange_scans_agree_on_a_large_table():
    rng = np.random.default_rng(7)
    n, g = 50_000, 9_000
    tp = np.where(rng.random(n) < 0.1, rng.integers(0, 1 << 64, n, dtype=np.uint64), 0)
    tp = tp.astype(np.uint64)
    tm = rng.integers(0, 1 << 64, n, dtype=np.uint64)
    tg = rng.integers(0, g, n).astype(np.int64)
    tgp = np.where(rng.random(g) < 0.1, rng.integers(0, 1 << 64, g, dtype=np.uint64), 0)
    tgp = tgp.astype(np.uint64)
    alive = rng.random(n) < 0.9
    tg[~alive] = -1
    a, b = np.empty(n, np.uint64), np.empty(n, np.uint64)
    ca = S.deliverable_scan(tp, tm, tg, tgp, alive, a, parallel=False)
    cb = S.deliverable_scan(tp, tm, tg, tgp, alive, b, parallel=True)
    expect = (tp | tgp[np.where(alive, tg, 0)]) & ~(tm & np.uint64(FULL ^ to_mask(UNBLOCKABLE)))
    expect[~alive] = 0
    assert np.array_equal(a, expect) and np.array_equal(b, expect)
    assert ca == cb == np.count_nonzero(expect)


# ---------------------------------------------------------------------------------------------
# lowest_deliverable / dequeue_lowest
# ---------------------------------------------------------------------------------------------

@given(task_tables())
@SETTINGS
def test_lowest_deliverable_matches_oracle(t):
    n = t["alive"].shape[0]
    signo = np.full(n, 99, np.int32)
    from_group = np.ones(n, bool)
    before = {k: v.copy() for k, v in t.items()}
    count = S.lowest_deliverable(*cols(t), signo, from_group)
    expect = [oracle_lowest(t["task_pending"][i], t["task_mask"][i],
                            t["tg_pending"][t["task_tg"][i]]) if t["alive"][i] else (0, False)
              for i in range(n)]
    assert list(zip(signo.tolist(), from_group.tolist())) == expect
    assert count == sum(1 for s, _ in expect if s)
    assert all(np.array_equal(before[k], t[k]) for k in t)  # nothing dequeued


def test_private_queue_is_dequeued_before_the_shared_queue():
    signo, grp = np.empty(1, np.int32), np.empty(1, bool)
    # Shared SIGINT (2) is lower, and even synchronous SIGSEGV in the shared queue waits.
    S.lowest_deliverable(*one_task(pending=to_mask({30}), shared=to_mask({SIGINT, SIGSEGV})),
                         signo, grp)
    assert (signo[0], grp[0]) == (30, False)
    S.lowest_deliverable(*one_task(pending=to_mask({30}), mask=to_mask({30}),
                                   shared=to_mask({SIGINT, SIGSEGV})), signo, grp)
    assert (signo[0], grp[0]) == (SIGSEGV, True)


keeps = st.one_of(st.none(), st.just("all"), st.just("random"))


@given(task_tables(max_groups=3), keeps, keeps, st.randoms(use_true_random=False))
@SETTINGS
def test_dequeue_lowest_matches_oracle(t, keep_task_kind, keep_tg_kind, rnd):
    n, n_groups = t["alive"].shape[0], t["tg_pending"].shape[0]

    def keep(kind, size):
        if kind is None:
            return None
        if kind == "all":
            return np.full(size, FULL, np.uint64)
        return np.array([rnd.getrandbits(64) for _ in range(size)], np.uint64)

    keep_task, keep_tg = keep(keep_task_kind, n), keep(keep_tg_kind, n_groups)
    exp_tp, exp_tgp, exp_sig, exp_grp = oracle_dequeue(*cols(t), keep_task, keep_tg)
    signo, grp = np.empty(n, np.int32), np.empty(n, bool)
    count = S.dequeue_lowest(*cols(t), signo, grp, keep_task=keep_task, keep_tg=keep_tg)
    assert signo.tolist() == exp_sig
    assert grp.tolist() == exp_grp
    assert t["task_pending"].tolist() == exp_tp
    assert t["tg_pending"].tolist() == exp_tgp
    assert count == sum(1 for s in exp_sig if s > 0)


def two_threads(shared, keep_tg=None):
    cols_ = (np.zeros(2, np.uint64), np.zeros(2, np.uint64), np.zeros(2, np.int32),
             np.array([shared], np.uint64), np.ones(2, bool))
    signo, grp = np.empty(2, np.int32), np.empty(2, bool)
    count = S.dequeue_lowest(*cols_, signo, grp, keep_tg=keep_tg)
    return count, signo.tolist(), grp.tolist(), int(cols_[3][0])


def test_a_shared_signal_is_dequeued_by_one_thread_only():
    count, signo, grp, left = two_threads(to_mask({SIGUSR1}))
    assert (count, signo, grp, left) == (1, [SIGUSR1, 0], [True, False], 0)


def test_threads_of_a_group_take_successive_shared_signals():
    count, signo, _, left = two_threads(to_mask({SIGINT, SIGUSR1}))
    assert (count, signo, left) == (2, [SIGINT, SIGUSR1], 0)


def test_a_kept_shared_signal_stays_pending_and_the_second_taker_is_deferred():
    keep = np.array([to_mask({40})], np.uint64)
    count, signo, grp, left = two_threads(to_mask({40}), keep_tg=keep)
    assert (count, signo, grp, left) == (1, [40, -40], [True, True], to_mask({40}))


# ---------------------------------------------------------------------------------------------
# Wrapper validation
# ---------------------------------------------------------------------------------------------

def test_a_live_task_with_a_missing_group_is_rejected():
    tp, tm, tg, tgp, alive = one_task(pending=1)
    tg[0] = 3
    for parallel in (False, True):
        with pytest.raises(ValueError, match=r"task_tg\[0\] = 3"):
            S.deliverable_scan(tp, tm, tg, tgp, alive, np.empty(1, np.uint64), parallel=parallel)
    with pytest.raises(ValueError, match="task_tg"):
        S.lowest_deliverable(tp, tm, tg, tgp, alive, np.empty(1, np.int32), np.empty(1, bool))
    with pytest.raises(ValueError, match="task_tg"):
        S.dequeue_lowest(tp, tm, tg, tgp, alive, np.empty(1, np.int32), np.empty(1, bool))
    assert int(tp[0]) == 1  # nothing dequeued


def test_wrong_dtypes_and_shapes_are_rejected():
    tp, tm, tg, tgp, alive = one_task()
    out = np.empty(1, np.uint64)
    with pytest.raises(ValueError, match="task_mask must have dtype uint64"):
        S.deliverable_scan(tp, tm.astype(np.int64), tg, tgp, alive, out)
    with pytest.raises(ValueError, match="alive must have dtype bool"):
        S.deliverable_scan(tp, tm, tg, tgp, alive.astype(np.uint8), out)
    with pytest.raises(ValueError, match="task_tg must have dtype int32 or int64"):
        S.deliverable_scan(tp, tm, tg.astype(np.uint32), tgp, alive, out)
    with pytest.raises(ValueError, match="out must have length 1"):
        S.deliverable_scan(tp, tm, tg, tgp, alive, np.empty(2, np.uint64))
    with pytest.raises(ValueError, match="1-D"):
        S.deliverable_scan(tp.reshape(1, 1), tm, tg, tgp, alive, out)
    with pytest.raises(ValueError, match="out must not share memory"):
        S.deliverable_scan(tp, tm, tg, tgp, alive, tp)
    with pytest.raises(ValueError, match="out_signo must have dtype int32"):
        S.lowest_deliverable(tp, tm, tg, tgp, alive, np.empty(1, np.int64), np.empty(1, bool))
    with pytest.raises(ValueError, match="keep_tg must have length 1"):
        S.dequeue_lowest(tp, tm, tg, tgp, alive, np.empty(1, np.int32), np.empty(1, bool),
                         keep_tg=np.zeros(2, np.uint64))
