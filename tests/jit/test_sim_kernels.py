"""Kernels of the simulation engine (jit/sim.py) against naive Python versions."""
import math

import numpy as np
import pytest

from ecs_kernel import abi
from ecs_kernel.abi import FUTEX_WAITERS
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
    out = np.zeros(5 * (K.CHUNKS + 1), np.int64)
    K.gauges(n, T.alive, T.exit_state, T.run_state, T.block, T.gen, out)
    live = T.alive[:n] & (T.exit_state[:n] == 0)
    rs, blk = T.run_state[:n], T.block[:n]
    assert out[0] == (live & (rs <= 2)).sum()
    assert out[1] == (live & (rs == 7) & (blk != 5)).sum()
    assert out[2] == (live & (rs == 7) & (blk == 5)).sum()
    assert out[3] == (T.alive[:n] & (T.exit_state[:n] == 2)).sum()
    assert out[4] == T.gen[:n].astype(np.int64).sum()


def _programs_args(sim, chunks=K.CHUNKS):
    w = sim.world
    st, T = w.index.sim, w.tasks
    n = T.n
    cols = [T.alive, T.sim_key, T.exit_state, T.run_state, T.ret, T.handling, T.parent,
            T.sim_prog, T.sim_pc, T.sim_budget, T.sim_loop, T.sim_rng]
    tail = [st.step_op, st.step_kind, st.step_a, st.step_b, st.pool, st.step_next,
            T.cpu_used_user_ns, T.cpu_used_sys_ns]
    outs = [np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros((n, K.NARGS), np.int64),
            np.zeros(n, np.int8), np.zeros(2, np.int64), np.zeros(chunks, np.int64),
            np.zeros((chunks, 2), np.int64)]
    return [n, st.nslots, st.seed, 1_000_000] + [c.copy() for c in cols] + [c.copy() for c in tail] + outs


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


@pytest.mark.parametrize("name", ["signal-storm", "mixed"])
def test_run_programs_gives_the_same_requests_in_any_number_of_chunks(name):
    """The chunks run in parallel and their requests are moved to the front in order: one chunk
    (a plain sequential pass), a few, and more chunks than rows agree on every output and row."""
    sim = Simulation(spec.load(name), 150, 4)
    for _ in range(12):
        sim.step()
    runs = []
    for chunks in (1, 3, 7, K.CHUNKS, 400):
        a = _programs_args(sim, chunks)
        k = K.run_programs(*a)
        runs.append((k, a))
    k0, a0 = runs[0]
    assert k0 > 0
    for k, a in runs[1:]:
        assert k == k0
        state, outs = a[:-7], a[-7:-2]  # then the chunk scratch
        for x, y in zip(state, a0[:-7]):
            if isinstance(x, np.ndarray):
                assert np.array_equal(x, y)
        for x, y in zip(outs[:4], a0[-7:-3]):  # out_task, out_step, out_args, out_flag
            assert np.array_equal(x[:k], y[:k])
        assert np.array_equal(outs[4], a0[-3])  # counts


def _futex_model(n_tasks, words, reqs, exit_state, tid0):
    """A plain model of the sim's futex class: words, one FIFO of waiting tasks per word."""
    words = [int(x) for x in words]
    queues = {}
    blocked, advanced = set(), []
    waits = wakes = 0
    for t, op, w, cnt, flag in reqs:
        if exit_state[t]:
            continue
        if op in (K.OP_FUTEX_WAKE, K.OP_UNLOCK):
            nr = cnt
            wake = True
            if op == K.OP_UNLOCK:
                wake = bool(words[w] & FUTEX_WAITERS)
                words[w] = 0
                nr = 1
            if wake:
                q = queues.get(w, [])
                for _ in range(min(max(nr, 1), len(q))):
                    blocked.discard(q.pop(0))
                    wakes += 1
            advanced.append(t)
            continue
        if op == K.OP_LOCK and words[w] == 0:
            words[w] = int(tid0[t]) | (FUTEX_WAITERS if flag else 0)
            advanced.append(t)
            continue
        if op == K.OP_LOCK:
            words[w] |= FUTEX_WAITERS
        queues.setdefault(w, []).append(t)
        blocked.add(t)
        waits += 1
    return words, {w: q for w, q in queues.items() if q}, blocked, advanced, (waits, wakes)


def _futex_args(n_tasks, nwords, reqs, exit_state, tid0, cap):
    """jit/sim.futex_steps' arguments (the FutexTables as ``x``) and every array among them by
    name."""
    from ecs_kernel.jit import futex_batch as F
    dtypes = (np.int64, np.int8, np.int64, np.int64, np.int8)
    task, op, word, count, flag = (np.array(c, dt) for c, dt in zip(zip(*reqs), dtypes))
    z = lambda dt, v=0, k=cap: np.full(k, v, dt)  # noqa: E731
    x = F.FutexTables(
        exit_state=exit_state.copy(), run_state=z(np.uint8, abi.RUN_APP, n_tasks),
        block=z(np.uint8, 0, n_tasks), stop_run_state=z(np.uint8, 0, n_tasks),
        stop_block=z(np.uint8, 0, n_tasks), ret=z(np.int64, 0, n_tasks),
        futex_waiter=z(np.int32, -1, n_tasks), restart_flags=z(np.uint8, 0, n_tasks),
        w_task=z(np.int32, -1), w_queue=z(np.int32, -1), w_bitset=z(np.uint32),
        w_deadline=z(np.int64, F.NO_DEADLINE),
        w_next=z(np.int32, -1), w_prev=z(np.int32, -1), w_uaddr=z(np.uint64), w_val=z(np.uint32),
        w_flags=z(np.uint8), w_alive=z(np.bool_), w_gen=z(np.uint32), w_free=z(np.int64),
        w_meta=np.array([0, 0, 0, cap], np.int64),
        q_head=z(np.int32, -1), q_tail=z(np.int32, -1), q_count=z(np.int32), q_kind=z(np.uint8),
        q_a=z(np.int64), q_b=z(np.uint64), q_alive=z(np.bool_), q_gen=z(np.uint32),
        q_free=z(np.int64),
        q_meta=np.array([0, 0, 0, cap], np.int64),
        seg_base=0x7F0000000000, ino=3, words=z(np.uint32, 0, nwords),
        seg_queue=z(np.int64, -1, nwords),
        log=np.zeros((len(reqs), F.LOG_COLS), np.int64), nlog=np.zeros(1, np.int64))
    args = dict(start=0, end=len(reqs), req_task=task, req_op=op, req_word=word, req_count=count,
                req_flag=flag, tid0=tid0, pc=z(np.int32, 0, n_tasks),
                step_next=np.array([1, 2], np.int32), x=x, counts=np.zeros(3, np.int64))
    arrays = {**{k: v for k, v in args.items() if isinstance(v, np.ndarray)},
              **{k: v for k, v in x._asdict().items() if isinstance(v, np.ndarray)}}
    return list(args.values()), arrays


@pytest.mark.parametrize("seed", range(12))
def test_futex_steps_match_a_plain_model_and_their_python_body(seed):
    """Locks, unlocks, waits and wakes on a few words: the words, each word's FIFO of waiters, who
    blocks and who moves on, the counts, and the queue-creation log agree with a plain model; the
    compiled kernel and its Python body leave identical arrays."""
    from ecs_kernel.jit import futex_batch as F
    rng = np.random.default_rng(seed)
    n_tasks, nwords = 40, 3
    exit_state = (rng.random(n_tasks) < 0.1).astype(np.uint8)
    tid0 = (1000 + np.arange(n_tasks)).astype(np.int32)
    order = rng.permutation(n_tasks)  # each task issues at most one request, as in a tick
    reqs = [(int(t), int(rng.choice([K.OP_LOCK, K.OP_UNLOCK, K.OP_FUTEX_WAIT, K.OP_FUTEX_WAKE],
                                     p=[0.4, 0.3, 0.15, 0.15])),
             int(rng.integers(0, nwords)), int(rng.integers(0, 3)), int(rng.integers(0, 2)))
            for t in order]
    words, queues, blocked, advanced, counts = _futex_model(n_tasks, np.zeros(nwords), reqs,
                                                            exit_state, tid0)
    assert blocked and advanced, "the case should block some tasks and move others on"
    results = []
    for fn in (K.futex_steps, K.futex_steps.py_func):
        args, a = _futex_args(n_tasks, nwords, reqs, exit_state, tid0, cap=64)
        assert fn(*args) == (len(reqs), F.DONE)
        results.append(a)
        assert a["words"].tolist() == words
        got = {}
        for w in range(nwords):
            q = a["seg_queue"][w]
            if q >= 0:
                assert a["q_kind"][q] == abi.KEY_SHARED_OBJ and a["q_a"][q] == 3
                assert a["q_b"][q] == 4 * w
                x, got[w] = a["q_head"][q], []
                while x >= 0:
                    got[w].append(int(a["w_task"][x]))
                    x = a["w_next"][x]
                assert a["q_count"][q] == len(got[w])
        assert got == queues
        assert {int(t) for t in np.flatnonzero(a["run_state"] == abi.RUN_BLOCKED)} == blocked
        assert all(a["block"][t] == abi.BLOCK_FUTEX and a["futex_waiter"][t] >= 0 for t in blocked)
        assert sorted(np.flatnonzero(a["pc"] == 1).tolist()) == sorted(advanced)
        assert tuple(a["counts"]) == (*counts, 0)
        log = a["log"][: a["nlog"][0]]
        assert (log[:, 1] == abi.KEY_SHARED_OBJ).all() and (log[:, 2] == 3).all()
        made = (log[log[:, 0] == F.LOG_NEW][:, 3] // 4).tolist()
        freed = (log[log[:, 0] == F.LOG_FREE][:, 3] // 4).tolist()
        for w in range(nwords):  # a word's queue is there at the end iff made once more than freed
            assert made.count(w) - freed.count(w) == (1 if w in queues else 0)
    for k, x in results[0].items():
        assert np.array_equal(x, results[1][k]), k


@pytest.mark.parametrize("seed", range(6))
def test_orphan_candidates_match_numpy_and_its_python_body(seed):
    from ecs_kernel.jit.futex_batch import orphan_candidates
    rng = np.random.default_rng(seed)
    n, ntasks = 500, 200
    w_alive = rng.random(n) < 0.7
    w_task = rng.integers(0, ntasks, n).astype(np.int32)
    exit_state = (rng.random(ntasks) < 0.1).astype(np.uint8)
    run_state = rng.choice(np.array([0, 1, 7, 7, 7], np.uint8), ntasks)
    block = rng.choice(np.array([0, 2, 2, 5], np.uint8), ntasks)
    t = w_task
    want = np.flatnonzero(w_alive & ((exit_state[t] != 0) | (run_state[t] != 7) | (block[t] != 2)))
    for fn in (orphan_candidates, orphan_candidates.py_func):
        out = np.empty(n, np.int32)
        k = fn(n - 7, w_alive, w_task, exit_state, run_state, block, out)  # only the first n - 7
        assert out[:k].tolist() == want[want < n - 7].tolist()


@pytest.mark.parametrize("seed", range(6))
def test_group_by_class_is_a_stable_argsort_by_class(seed):
    rng = np.random.default_rng(seed)
    nsteps, k, n = 12, int(rng.integers(0, 300)), 320
    op_class = rng.integers(0, 8, 16).astype(np.int8)
    step_op = rng.integers(0, 16, nsteps).astype(np.int8)
    task = rng.permutation(n)[:k].astype(np.int64)
    step = rng.integers(0, nsteps, k).astype(np.int64)
    args = rng.integers(-5, 10**6, (k, K.NARGS)).astype(np.int64)
    flag = rng.integers(0, 2, k).astype(np.int8)
    ops = step_op[step]
    order = np.argsort(op_class[ops], kind="stable")
    for fn in (K.group_by_class, K.group_by_class.py_func):
        out = (np.full(n, -1, np.int64), np.full(n, -1, np.int64), np.full(n, -1, np.int8),
               np.full((n, K.NARGS), -1, np.int64), np.full(n, -1, np.int8))
        fn(k, op_class, step_op, task, step, args, flag, *out, np.empty(8, np.int64))
        for got, want in zip(out, (task[order], step[order], ops[order], args[order], flag[order])):
            assert np.array_equal(got[:k], want)
