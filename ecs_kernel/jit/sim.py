"""numba kernels of the simulation engine (ecs_kernel/sim/engine.py).

- :func:`draw` / :func:`sample`: a counter-based RNG (splitmix64 of seed, task identity and a
  per-task counter), so a task's draws do not depend on which other tasks ran or in what order;
- :func:`run_programs`: one tick of every synthetic program (the RUN phase's application step):
  compute budgets, loops, and the syscall each task issues, written as request rows that the
  engine serves in batches;
- :func:`group_by_class`: the requests grouped by serving class;
- :func:`futex_steps`: the futex class's requests, user space (a glibc-style mutex) and the
  kernel's futex calls (jit/futex_batch.py) it makes.

Every kernel here is plain Python over arrays and scalars; tests run each one's ``py_func`` as
its naive oracle.
"""
from __future__ import annotations

import numpy as np

from ..abi import (BLOCK_STOPPED, ERESTART_RESTARTBLOCK, ERESTARTSYS, FUTEX_WAITERS, RUN_APP,
                   RUN_BLOCKED, RUN_INTERRUPT, RUN_SYSCALL_EXIT, TASK_EXIT_NONE, TASK_EXIT_ZOMBIE)
from .futex_batch import AGAIN as FB_AGAIN
from .futex_batch import DONE as FB_DONE
from .futex_batch import FALLBACK as FB_FALLBACK
from .futex_batch import futex_wait_word, futex_wake_word
from .options import jit, prange

# Op codes: the order of spec.OPS.
OP_COMPUTE, OP_KILL, OP_TGKILL, OP_SIGPROCMASK, OP_SIGACTION, OP_FUTEX_WAIT, OP_FUTEX_WAKE = range(7)
OP_LOCK, OP_UNLOCK, OP_NANOSLEEP, OP_SETITIMER, OP_CLONE, OP_EXIT, OP_EXIT_GROUP = range(7, 14)
OP_WAIT, OP_LOOP = 14, 15
NARGS = 3

D_CONST, D_UNIFORM, D_EXPONENTIAL, D_CHOICE, D_PER_TASK = range(5)
T_RANDOM, T_RANDOM_PROCESS, T_PARENT, T_SELF = range(4)

MAX_FREE_STEPS = 16  # loops and zero-length computes a task may take in one tick before it yields
CHUNKS = 64  # run_programs' work units (rows split evenly; threads take chunks)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TOP = np.uint64(1) << np.uint64(63)


@jit
def mix64(x):
    """splitmix64's finaliser: a bijection of uint64 with good avalanche."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


@jit
def draw(seed, key, ctr):
    """The ``ctr``-th random uint64 of the task with identity ``key`` (its sim_key: the same in a
    sharded and an unsharded run)."""
    return mix64(np.uint64(seed) * _GOLDEN ^ mix64(np.uint64(key) + _GOLDEN) ^ (np.uint64(ctr) * _M2))


@jit(inline="always")  # per task: no call (run_programs compiles with allocates=False)
def sample(kind, a, b, pool, seed, key, ctr):
    """One value of a distribution; returns (value, counter after). per_task draws do not advance
    the counter: the value is fixed for the task."""
    if kind == D_CONST:
        return a, ctr
    if kind == D_PER_TASK:
        r = mix64(draw(seed, key, 0) ^ mix64(np.uint64(a * 1000003 + b)))
        return a + np.int64(r % np.uint64(b - a + 1)), ctr
    r = draw(seed, key, ctr)
    ctr += 1
    if kind == D_UNIFORM:
        return a + np.int64(r % np.uint64(b - a + 1)), ctr
    if kind == D_CHOICE:
        return pool[a + np.int64(r % np.uint64(b))], ctr
    # exponential: inverse CDF on 53 random bits; a = mean * 1024, b = ceiling
    u = np.float64(r >> np.uint64(11)) * (1.0 / 9007199254740992.0)
    v = -np.log1p(-u) * (np.float64(a) / 1024.0)
    if v >= np.float64(b):
        return b, ctr
    return np.int64(v), ctr


@jit(inline="always")  # per task: no call (run_programs compiles with allocates=False)
def _pick_target(mode, t, nslots, parent, seed, key, ctr):
    """What a kill/tgkill names: a slot (``random``, ``random_process``: one of the initial tasks,
    ``0..nslots-1``, whoever holds it now is found when the signal is sent, at the end of the
    tick), or a row (``self``, ``parent``). Reads no other task's columns."""
    if mode == T_SELF:
        return t, ctr
    if mode == T_PARENT:
        return parent[t], ctr
    r = draw(seed, key, ctr)
    ctr += 1
    return np.int64(r % np.uint64(nslots)), ctr


@jit
def child_key(parent_key, clones):
    """The RNG key of the ``clones``-th child a task with key ``parent_key`` clones: a hash of
    the two with the top bit set (initial tasks have keys 0..tasks-1), so a task's key depends
    on its ancestry, never on the row it got (which differs between shards)."""
    return mix64(mix64(np.uint64(parent_key) ^ _GOLDEN) + np.uint64(clones)) | _TOP


@jit(allocates=False)
def child_keys(parents, keys, clones, out):
    """:func:`child_key` for each of ``parents`` (rows), in order, counting each parent's clones
    (``clones``, the sim_clones column) as it goes: a parent cloning twice gives two keys."""
    for i in range(parents.shape[0]):
        p = parents[i]
        out[i] = child_key(keys[p], clones[p])
        clones[p] += 1


@jit(allocates=False, parallel=True)
def run_programs(n, nslots, seed, tick_ns, alive, keys, exit_state, run_state, ret, handling,
                 parent, prog, pc, budget, loopc, rng,
                 step_op, step_kind, step_a, step_b, pool, step_next,
                 used_user, used_sys, out_task, out_step, out_args, out_flag, counts,
                 chunk_k, chunk_counts):
    """One tick of every synthetic program. A task in runSyscallExit first finishes its blocking
    step (advances past it, or stays on it to retry a lock or restart after -ERESTARTSYS); a task
    in runApp then runs steps: a compute tick ends its tick, as does a syscall step, which is
    written to the request rows (task, step, drawn args, flag = a lock retried after a wait) for
    the engine to serve. Returns the number of requests, in row order. ``counts``: [compute
    ticks, syscalls].

    Tasks are independent here (a task writes only its own row and reads no other's: a random
    target is a slot number, resolved when the signal is sent), so the rows run in ``len(chunk_k)`` chunks on all
    cores: chunk c writes its requests from its first row on, then the chunks' requests move
    to the front in chunk order (``chunk_k``, ``chunk_counts``: int64 scratch, [chunks] and
    [chunks, 2]). The result does not depend on the number of threads."""
    nchunks = chunk_k.shape[0]
    size = (n + nchunks - 1) // nchunks
    for c in prange(nchunks):
        lo = c * size
        hi = min(n, lo + size)
        k = lo
        computed = 0
        calls = 0
        for t in range(lo, hi):
            p = prog[t]
            if p < 0 or not alive[t] or exit_state[t] != TASK_EXIT_NONE:
                continue
            rs = run_state[t]
            retry = 0
            if rs == RUN_SYSCALL_EXIT:
                op = step_op[pc[t]]
                r = ret[t]
                if op == OP_LOCK:
                    retry = 1  # woken (or interrupted): try the lock again, as glibc does
                elif r != -ERESTARTSYS and r != -ERESTART_RESTARTBLOCK:
                    pc[t] = step_next[pc[t]]
                run_state[t] = RUN_APP
            elif rs != RUN_APP:
                continue
            key = keys[t]
            ctr = rng[t]
            for _ in range(MAX_FREE_STEPS):
                s = pc[t]
                op = step_op[s]
                if op == OP_COMPUTE:
                    if budget[t] == 0:
                        v, ctr = sample(step_kind[s, 0], step_a[s, 0], step_b[s, 0], pool, seed,
                                        key, ctr)
                        if v == 0:
                            pc[t] = step_next[s]
                            continue
                        budget[t] = v
                    budget[t] -= 1
                    used_user[t] += tick_ns
                    computed += 1
                    if budget[t] == 0:
                        pc[t] = step_next[s]
                    break
                if op == OP_LOOP:
                    times = step_a[s, 1]
                    if times < 0:
                        pc[t] = step_a[s, 0]
                        continue
                    if loopc[t] == 0:
                        loopc[t] = times
                    loopc[t] -= 1
                    pc[t] = step_a[s, 0] if loopc[t] > 0 else step_next[s]
                    continue
                # a syscall: draw its arguments, write the request, and the tick is spent
                out_task[k] = t
                out_step[k] = s
                out_flag[k] = retry if op == OP_LOCK else 0
                for j in range(NARGS):
                    kind = step_kind[s, j]
                    if (op == OP_KILL or op == OP_TGKILL) and j == 0:
                        v, ctr = _pick_target(step_a[s, 0], t, nslots, parent, seed, key, ctr)
                    else:
                        v, ctr = sample(kind, step_a[s, j], step_b[s, j], pool, seed, key, ctr)
                    out_args[k, j] = v
                used_sys[t] += tick_ns
                calls += 1
                k += 1
                break
            rng[t] = ctr
        chunk_k[c] = k - lo
        chunk_counts[c, 0] = computed
        chunk_counts[c, 1] = calls
    k = 0
    for c in range(nchunks):  # each chunk's requests to the front, in order
        lo = c * size
        m = chunk_k[c]
        if k != lo:
            for i in range(m):
                out_task[k + i] = out_task[lo + i]
                out_step[k + i] = out_step[lo + i]
                out_flag[k + i] = out_flag[lo + i]
                for j in range(NARGS):
                    out_args[k + i, j] = out_args[lo + i, j]
        k += m
        counts[0] += chunk_counts[c, 0]
        counts[1] += chunk_counts[c, 1]
    return k


@jit(allocates=False)
def group_by_class(k, op_class, step_op, in_task, in_step, in_args, in_flag, out_task, out_step,
                   out_op, out_args, out_flag, starts):
    """The first ``k`` requests of :func:`run_programs`, stably grouped by the serving class of
    their op (``op_class[op]``, 0 first): a counting sort, one pass to count and one to place
    (numpy's stable argsort and a gather of the (k, NARGS) arguments took ~8 ms for 180,000
    requests). ``starts``: int64 scratch of the number of classes."""
    ncls = starts.shape[0]
    for c in range(ncls):
        starts[c] = 0
    for i in range(k):
        starts[op_class[step_op[in_step[i]]]] += 1
    pos = 0
    for c in range(ncls):
        m = starts[c]
        starts[c] = pos
        pos += m
    for i in range(k):
        op = step_op[in_step[i]]
        c = op_class[op]
        j = starts[c]
        starts[c] = j + 1
        out_task[j] = in_task[i]
        out_step[j] = in_step[i]
        out_op[j] = op
        out_flag[j] = in_flag[i]
        for a in range(in_args.shape[1]):
            out_args[j, a] = in_args[i, a]


@jit(allocates=False)
def futex_steps(start, end, req_task, req_op, req_word, req_count, req_flag, tid0, pc, step_next,
                x, counts):
    """The futex class of synthetic requests ``start..end-1``, in order, as
    sim/requests.serve_one serves them: each program's step in user space, then the kernel call
    it makes, through jit/futex_batch's futex_wait_word / futex_wake_word on ``x`` (the
    segment's words and the futex tables, systems/futex.py). User space is a glibc-style mutex
    (0 free, the owner's tid, FUTEX_WAITERS when contended):

        futex_wait  futex_wait(word, the value it holds now)
        futex_wake  futex_wake(word, count)
        lock        take a free word (the owner's tid, FUTEX_WAITERS too after a contended wait,
                    as glibc does); else mark it contended and futex_wait(word, that value)
        unlock      exchange the word with 0; futex_wake(word, 1) if it was contended

    A request that completes moves its task's pc on; one that blocks leaves it on the step (a
    lock is retried when the wait ends). A task that is exiting (killed earlier in the tick) is
    skipped: its call never completes. ``counts``: [futex waits (calls that blocked), futex
    wakes (tasks woken), syscall errors]. Returns ``(index, status)`` as jit/futex_batch's loops
    do (FALLBACK for a word outside the segment)."""
    nwords = x.words.shape[0]
    for r in range(start, end):
        t = req_task[r]
        if x.exit_state[t] != TASK_EXIT_NONE:
            continue
        word = req_word[r]
        if word < 0 or word >= nwords:
            return r, FB_FALLBACK
        op = req_op[r]
        if op == OP_FUTEX_WAKE:
            counts[1] += futex_wake_word(x, word, req_count[r])
            pc[t] = step_next[pc[t]]
            continue
        if op == OP_UNLOCK:
            old = x.words[word]
            x.words[word] = 0
            if old & np.uint32(FUTEX_WAITERS):
                counts[1] += futex_wake_word(x, word, 1)
            pc[t] = step_next[pc[t]]
            continue
        cur = x.words[word]
        if op == OP_LOCK:
            if cur == 0:
                owner = np.uint32(tid0[t])
                x.words[word] = owner | np.uint32(FUTEX_WAITERS) if req_flag[r] else owner
                pc[t] = step_next[pc[t]]
                continue
            # (the mark is made again, to the same effect, if the kernel call returns GROW_*)
            cur |= np.uint32(FUTEX_WAITERS)
            x.words[word] = cur
        status = futex_wait_word(x, t, word, cur)
        if status == FB_DONE:
            counts[0] += 1
        elif status == FB_AGAIN:  # never: nothing runs between the read and the call
            if op != OP_LOCK:  # a lock retries next tick; a futex_wait fails with EAGAIN
                counts[2] += 1
                pc[t] = step_next[pc[t]]
        else:
            return r, status
    return end, FB_DONE


@jit(allocates=False)
def tasks_with_handlers(n, alive, prog, run_state, handling, out):
    """Rows of synthetic tasks whose caught signal's handler is to run now."""
    k = 0
    for t in range(n):
        if prog[t] >= 0 and alive[t] and handling[t] != 0 and (run_state[t] == RUN_APP
                                                                or run_state[t] == RUN_SYSCALL_EXIT):
            out[k] = t
            k += 1
    return k


@jit(allocates=False)
def bare_storm(pending, mask, budget, rng, seed, lo, hi, ticks):
    """The baseline the simulation is measured against (bench/bench_sim.py): only the core of a
    signal storm, on bare arrays. Each tick every task burns one tick of its budget; a task whose
    budget ran out draws a new one (uniform lo..hi, the storm workload's compute) and sets
    SIGUSR1 or SIGUSR2 pending in a random peer; then every task dequeues its lowest unblocked
    pending signal. Returns the number of signals dequeued."""
    n = len(pending)
    got = 0
    span = np.uint64(hi - lo + 1)
    un = np.uint64(n)
    for _ in range(ticks):
        for t in range(n):
            if budget[t] > 0:
                budget[t] -= 1
                continue
            r = draw(seed, t, rng[t])
            rng[t] += 1
            budget[t] = lo + np.int64(r % span)
            peer = np.int64((r >> np.uint64(20)) % un)
            pending[peer] |= np.uint64(1) << np.uint64(9 + 2 * (r & np.uint64(1)))  # SIGUSR1/2
        for t in range(n):
            x = pending[t] & ~mask[t]
            if x != np.uint64(0):
                pending[t] &= ~(x & (~x + np.uint64(1)))
                got += 1
    return got


@jit(allocates=False, parallel=True)
def gauges(n, alive, exit_state, run_state, block, gen, out):
    """End-of-tick gauges in one pass over the rows, on all cores: out = [running, blocked (not
    stopped), stopped, zombies, sum of row generations (its growth counts released rows)].
    ``out`` is int64 of ``5 * (CHUNKS + 1)``: the chunks' partial sums go after the first five."""
    size = (n + CHUNKS - 1) // CHUNKS
    for c in prange(CHUNKS):
        running = 0
        blocked = 0
        stopped = 0
        zombies = 0
        gens = 0
        for t in range(c * size, min(n, c * size + size)):
            gens += gen[t]
            if not alive[t]:
                continue
            es = exit_state[t]
            if es == TASK_EXIT_NONE:
                rs = run_state[t]
                if rs <= RUN_INTERRUPT:  # runApp, runSyscallExit, runInterrupt
                    running += 1
                elif rs == RUN_BLOCKED:
                    if block[t] == BLOCK_STOPPED:
                        stopped += 1
                    else:
                        blocked += 1
            elif es == TASK_EXIT_ZOMBIE:
                zombies += 1
        base = 5 * (c + 1)
        out[base] = running
        out[base + 1] = blocked
        out[base + 2] = stopped
        out[base + 3] = zombies
        out[base + 4] = gens
    for j in range(5):
        out[j] = 0
        for c in range(CHUNKS):
            out[j] += out[5 * (c + 1) + j]
