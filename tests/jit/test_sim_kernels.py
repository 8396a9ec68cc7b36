"""Kernels of the simulation engine (jit/sim.py) against naive Python versions."""
import math

import numpy as np
import pytest

from ecs_kernel.jit import sim as K
from ecs_kernel.sim import spec
from ecs_kernel.sim.engine import Simulation

M64 = (1 << 64) - 1


def naive_mix(x):
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def naive_draw(seed, key, ctr):
    return naive_mix((seed * 0x9E3779B97F4A7C15 & M64) ^ naive_mix((key + 0x9E3779B97F4A7C15) & M64)
                     ^ (ctr * 0x94D049BB133111EB & M64))


def naive_sample(kind, a, b, pool, seed, key, ctr):
    if kind == K.D_CONST:
        return a, ctr
    if kind == K.D_PER_TASK:
        r = naive_mix(naive_draw(seed, key, 0) ^ naive_mix(a * 1000003 + b))
        return a + r % (b - a + 1), ctr
    r = naive_draw(seed, key, ctr)
    if kind == K.D_UNIFORM:
        return a + r % (b - a + 1), ctr + 1
    if kind == K.D_CHOICE:
        return int(pool[a + r % b]), ctr + 1
    u = (r >> 11) / 2.0 ** 53
    v = -math.log1p(-u) * (a / 1024)
    return (b if v >= b else int(v)), ctr + 1


@pytest.mark.parametrize("seed,key,ctr", [(0, 0, 0), (1, 5, 3), (2**40 + 7, (9 << 32) | 123, 2**31),
                                          (123456789, 2**62, 4000000000)])
def test_draw_matches_naive_splitmix(seed, key, ctr):
    assert int(K.draw(seed, key, ctr)) == naive_draw(seed, key, ctr)


def test_sample_matches_naive_for_every_distribution():
    pool = np.array([5, 9, 13, 17], np.int64)
    cases = [(K.D_CONST, 7, 0), (K.D_UNIFORM, 3, 11), (K.D_CHOICE, 1, 3), (K.D_PER_TASK, 0, 63),
             (K.D_EXPONENTIAL, 10 * 1024, 1000), (K.D_EXPONENTIAL, 3 * 1024, 4)]
    for kind, a, b in cases:
        for key in range(50):
            got = K.sample(kind, a, b, pool, 42, key, key * 3)
            assert (int(got[0]), int(got[1])) == naive_sample(kind, a, b, pool, 42, key, key * 3)


def test_distributions_have_their_shape():
    pool = np.array([0], np.int64)
    u = np.array([K.sample(K.D_UNIFORM, 2, 5, pool, 1, 9, c)[0] for c in range(4000)])
    assert u.min() == 2 and u.max() == 5 and abs(u.mean() - 3.5) < 0.1
    e = np.array([K.sample(K.D_EXPONENTIAL, 20 * 1024, 10**9, pool, 1, 9, c)[0] for c in range(4000)])
    assert abs(e.mean() - 19.5) < 1.5  # floor of an exponential of mean 20
    per = {int(K.sample(K.D_PER_TASK, 0, 1000, pool, 1, 77, c)[0]) for c in range(10)}
    assert len(per) == 1  # fixed for the task


def naive_bare_storm(pending, mask, budget, rng, seed, lo, hi, ticks):
    n = len(pending)
    got = 0
    for _ in range(ticks):
        for t in range(n):
            if budget[t] > 0:
                budget[t] -= 1
                continue
            r = naive_draw(seed, t, int(rng[t]))
            rng[t] += 1
            budget[t] = lo + r % (hi - lo + 1)
            peer = (r >> 20) % n
            pending[peer] = int(pending[peer]) | (1 << (9 + 2 * (r & 1)))
        for t in range(n):
            x = int(pending[t]) & ~int(mask[t]) & M64
            if x:
                pending[t] = int(pending[t]) & ~(x & -x) & M64
                got += 1
    return got


def test_bare_storm_matches_naive():
    rs = np.random.default_rng(3)
    n = 37
    mask = rs.integers(0, 2**63, n).astype(np.uint64) & np.uint64(0xFFFF)
    args = [np.zeros(n, np.uint64), mask, np.zeros(n, np.int64), np.zeros(n, np.uint32)]
    copies = [a.copy() for a in args]
    got = K.bare_storm(*args, 5, 1, 8, 30)
    want = naive_bare_storm(*copies, 5, 1, 8, 30)
    assert got == want > 0
    for a, b in zip(args, copies):
        assert np.array_equal(a, b)


def test_gauges_match_numpy():
    sim = Simulation(spec.load("mixed"), 200, 2)
    for _ in range(30):
        sim.step()
    T = sim.world.tasks
    n = T.n
    out = np.zeros(5, np.int64)
    K.gauges(n, T.alive, T.exit_state, T.run_state, T.block, T.gen, out)
    live = T.alive[:n] & (T.exit_state[:n] == 0)
    rs, blk = T.run_state[:n], T.block[:n]
    assert out[0] == (live & (rs <= 2)).sum()
    assert out[1] == (live & (rs == 7) & (blk != 5)).sum()
    assert out[2] == (live & (rs == 7) & (blk == 5)).sum()
    assert out[3] == (T.alive[:n] & (T.exit_state[:n] == 2)).sum()
    assert out[4] == T.gen[:n].astype(np.int64).sum()


def _programs_args(sim):
    w = sim.world
    st, T, G = w.index["sim"], w.tasks, w.thread_groups
    n = T.n
    cols = [T.alive, T.gen, T.exit_state, T.run_state, T.ret, T.handling, T.tg, G.leader, T.parent,
            T.sim_prog, T.sim_pc, T.sim_budget, T.sim_loop, T.sim_rng]
    tail = [st.step_op, st.step_kind, st.step_a, st.step_b, st.pool, st.step_next,
            T.cpu_used_user_ns, T.cpu_used_sys_ns]
    outs = [np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros((n, K.NARGS), np.int64),
            np.zeros(n, np.int8), np.zeros(2, np.int64)]
    return [n, st.seed, 1_000_000] + [c.copy() for c in cols] + [c.copy() for c in tail] + outs


@pytest.mark.parametrize("name", spec.workload_names())
def test_run_programs_matches_its_python_body(name):
    """The interpreter compiled and run as plain Python (numba's py_func) from the same state:
    catches typing differences (int widths, unsigned arithmetic, float rounding)."""
    sim = Simulation(spec.load(name), 120, 9)
    for _ in range(20):
        sim.step()
    a = _programs_args(sim)
    b = [x.copy() if isinstance(x, np.ndarray) else x for x in a]
    ka = K.run_programs(*a)
    kb = K.run_programs.py_func(*b)
    assert ka == kb
    for x, y in zip(a, b):
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, y)


def _serve_model(words, r, op, word, flag, task, tid0):
    """A stand-in for the scalar futex server (engine.serve_one): a lock that finds its word 0
    and an unlock without waiters do what the kernel does; anything else changes only its own
    word, in a way that depends on the order of the calls on that word. Returns True if the
    request needed more than the uncontended halves."""
    w, t = word[r], task[r]
    if op[r] == K.OP_LOCK and words[w] == 0:
        words[w] = int(tid0[t]) | (K.FUTEX_WAITERS if flag[r] else 0)
        return False
    if op[r] == K.OP_UNLOCK and not words[w] & K.FUTEX_WAITERS:
        words[w] = 0
        return False
    words[w] = np.uint32((int(words[w]) * 3 + 7 + int(t)) & 0xFFFFFFFF)
    return True


@pytest.mark.parametrize("seed", range(20))
def test_mutex_pass_equals_serving_one_by_one(seed):
    """mutex_pass then the deferred requests in order leaves the words that serving every request
    one by one leaves; it defers exactly the requests from the first contended one of each word
    on; the compiled kernel agrees with its Python body."""
    rng = np.random.default_rng(seed)
    n, nw = 60, 5
    op = rng.choice([K.OP_LOCK, K.OP_UNLOCK, K.OP_FUTEX_WAKE, K.OP_FUTEX_WAIT], n,
                    p=[0.45, 0.45, 0.05, 0.05]).astype(np.int8)
    word = rng.integers(0, nw, n).astype(np.int64)
    flag = rng.integers(0, 2, n).astype(np.int8)
    task = rng.permutation(n).astype(np.int64)
    exit_state = (rng.random(n) < 0.1).astype(np.int8)
    tid0 = (1000 + np.arange(n)).astype(np.int32)
    w0 = rng.choice([0, 0, 1000, 1000 | K.FUTEX_WAITERS], nw).astype(np.uint32)

    ref = w0.copy()
    first = {}  # word -> its first request that needed the scalar server
    for r in range(n):
        if exit_state[task[r]]:
            continue
        if _serve_model(ref, r, op, word, flag, task, tid0) and word[r] not in first:
            first[word[r]] = r
    assert first, "the case should contend somewhere"

    for fn in (K.mutex_pass, K.mutex_pass.py_func):
        got = w0.copy()
        held = np.zeros(nw, np.uint8)
        out = np.ones(n, np.int8)
        m = fn(0, n, task, op, word, flag, exit_state, tid0, got, held, out)
        assert m == int((out == 2).sum())
        for r in np.flatnonzero(out == 2):
            _serve_model(got, r, op, word, flag, task, tid0)
        assert got.tolist() == ref.tolist()
        for r in range(n):
            if exit_state[task[r]]:
                assert out[r] == 1
            else:
                assert out[r] == (2 if word[r] in first and r >= first[word[r]] else 0)
