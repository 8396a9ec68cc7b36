"""Batched futex calls on one shared segment's words: FUTEX_WAIT and FUTEX_WAKE as
systems/futex.py does them, and the glibc-style mutex the synthetic programs use (sim/engine.py
``_lock`` and the unlock beside it), for many requests in one call.

The synthetic tasks' futex words live in one SharedSegment that every synthetic process maps at
the same address, so each word's futex key is ``(KEY_SHARED_OBJ, segment ino, 4 * word)``. The
key -> queue map is a Python dict (``world.index.futex_keys``); the kernel works on
``seg_queue[word]`` (that dict's entries for this segment, as rows of ``futex_queues``) and logs
each queue it creates or frees, in order, for the wrapper to apply to the dict afterwards
(systems/futex.apply_key_log). Signal delivery's kernel (jit/signals_batch.py) uses
:func:`futex_drop` the same way when a handler interrupts a futex wait.

Waiter and queue rows are allocated and freed exactly as ``Table.alloc``/``free`` do (jit/rows.py),
and a waiter's row and task move as systems/futex.py's ``_link``/``_drop``/``_complete`` move
them, so a batch leaves the World as serving the requests one at a time leaves it
(tests/sim/test_sim_differential.py).

The kernel stops at a request it does not cover and returns ``(index, status)``:

    DONE      every request was served
    FALLBACK  request ``index`` needs the scalar path (a word outside the segment)
    GROW_W    the futex_waiters table is full: grow it and resume at ``index``
    GROW_Q    the futex_queues table is full: grow it and resume at ``index``
"""
from __future__ import annotations

import numpy as np

from ..abi import (BLOCK_FUTEX, BLOCK_NONE, BLOCK_STOPPED, FUTEX_BITSET_MATCH_ANY, FUTEX_WAITERS,
                   KEY_SHARED_OBJ, RUN_BLOCKED, RUN_SYSCALL_EXIT, TASK_EXIT_NONE)
from .links import append_one, unlink_one
from .options import jit
from .rows import table_alloc, table_free, table_has_room
from .sim import OP_FUTEX_WAKE, OP_LOCK, OP_UNLOCK

DONE, FALLBACK, GROW_W, GROW_Q = 0, 1, 2, 3

NO_DEADLINE = np.iinfo(np.int64).max
LOG_NEW, LOG_FREE = 1, 0  # key log rows: (LOG_NEW | LOG_FREE, key kind, key a, key b, queue row)
LOG_COLS = 5


@jit(inline="always")
def _waiting(t, exit_state, run_state, block, stop_run_state, stop_block):
    """futex._waiting: still blocked on its futex (also under a group stop that saved that)."""
    if exit_state[t] != TASK_EXIT_NONE or run_state[t] != RUN_BLOCKED:
        return False
    b = block[t]
    if b == BLOCK_FUTEX:
        return True
    return b == BLOCK_STOPPED and stop_block[t] == BLOCK_FUTEX and stop_run_state[t] == RUN_BLOCKED


@jit(inline="always")
def _log_key(log, nlog, what, q, q_kind, q_a, q_b):
    k = nlog[0]
    log[k, 0] = what
    log[k, 1] = q_kind[q]
    log[k, 2] = q_a[q]
    log[k, 3] = np.int64(q_b[q])
    log[k, 4] = q
    nlog[0] = k + 1


@jit(inline="always")
def futex_drop(w, futex_waiter, w_task, w_queue, w_bitset, w_deadline, w_next, w_prev, w_uaddr,
               w_val, w_flags, w_alive, w_gen, w_free, w_meta, q_head, q_tail, q_count, q_kind,
               q_a, q_b, q_alive, q_gen, q_free, q_meta, log, nlog):
    """futex._drop: unlink waiter ``w`` (freeing its queue if it empties: logged), free the row.
    Returns its task."""
    t = w_task[w]
    q = w_queue[w]
    unlink_one(q_head, q_tail, q, w_next, w_prev, w)
    q_count[q] -= 1
    if q_count[q] == 0:
        _log_key(log, nlog, LOG_FREE, q, q_kind, q_a, q_b)
        q_head[q] = -1
        q_tail[q] = -1
        q_kind[q] = 0
        q_a[q] = 0
        q_b[q] = 0
        table_free(q_meta, q_free, q_alive, q_gen, q)
    w_task[w] = -1
    w_queue[w] = -1
    w_bitset[w] = 0
    w_deadline[w] = NO_DEADLINE
    w_next[w] = -1
    w_prev[w] = -1
    w_uaddr[w] = 0
    w_val[w] = 0
    w_flags[w] = 0
    table_free(w_meta, w_free, w_alive, w_gen, w)
    if futex_waiter[t] == w:
        futex_waiter[t] = -1
    return t


@jit(allocates=False)
def sim_futex_batch(start, end, req_task, req_op, req_word, req_count, req_flag, seg_base, ino,
                    exit_state, run_state, block, stop_run_state, stop_block, ret, tid0,
                    futex_waiter, restart_flags, pc, step_next, words, seg_queue,
                    w_task, w_queue, w_bitset, w_deadline, w_next, w_prev, w_uaddr, w_val, w_flags,
                    w_alive, w_gen, w_free, w_meta,
                    q_head, q_tail, q_count, q_kind, q_a, q_b, q_alive, q_gen, q_free, q_meta,
                    log, nlog, counts):
    """The futex class of synthetic requests ``start..end-1``, in order, as sim/requests.serve_one
    serves them: futex_wait(word, its current value) blocks; futex_wake(word, count); lock takes
    a free word (owner tid, FUTEX_WAITERS after a contended wait) or marks it contended and
    waits; unlock clears the word and wakes one waiter if it was contended. A request that
    completes moves its task's pc on; one that blocks leaves it on the step. ``counts``:
    [futex waits (calls that blocked), futex wakes (tasks woken)]."""
    nwords = words.shape[0]
    for r in range(start, end):
        t = req_task[r]
        if exit_state[t] != TASK_EXIT_NONE:
            continue  # killed earlier this tick: the call never completes
        word = req_word[r]
        if word < 0 or word >= nwords:
            return r, FALLBACK
        op = req_op[r]
        if op == OP_FUTEX_WAKE or op == OP_UNLOCK:
            nr = req_count[r]
            wake = True
            if op == OP_UNLOCK:
                wake = (words[word] & np.uint32(FUTEX_WAITERS)) != 0
                words[word] = 0
                nr = 1
            if wake:
                woke = 0
                q = seg_queue[word]
                x = q_head[q] if q >= 0 else -1
                while x >= 0:
                    nxt = w_next[x]
                    u = w_task[x]
                    if not _waiting(u, exit_state, run_state, block, stop_run_state, stop_block):
                        futex_drop(x, futex_waiter, w_task, w_queue, w_bitset, w_deadline, w_next,
                                   w_prev, w_uaddr, w_val, w_flags, w_alive, w_gen, w_free, w_meta,
                                   q_head, q_tail, q_count, q_kind, q_a, q_b, q_alive, q_gen,
                                   q_free, q_meta, log, nlog)
                    elif w_bitset[x] & np.uint32(FUTEX_BITSET_MATCH_ANY):
                        futex_drop(x, futex_waiter, w_task, w_queue, w_bitset, w_deadline, w_next,
                                   w_prev, w_uaddr, w_val, w_flags, w_alive, w_gen, w_free, w_meta,
                                   q_head, q_tail, q_count, q_kind, q_a, q_b, q_alive, q_gen,
                                   q_free, q_meta, log, nlog)
                        ret[u] = 0  # futex._complete
                        if block[u] == BLOCK_STOPPED:
                            stop_run_state[u] = RUN_SYSCALL_EXIT
                            stop_block[u] = BLOCK_NONE
                        else:
                            run_state[u] = RUN_SYSCALL_EXIT
                            block[u] = BLOCK_NONE
                        woke += 1
                        if woke >= nr:  # nr <= 0 wakes one, as Linux's ++ret >= nr_wake
                            break
                    x = nxt
                if q >= 0 and not q_alive[q]:
                    seg_queue[word] = -1  # the last waiter went: the queue was freed
                counts[1] += woke
            pc[t] = step_next[pc[t]]
            continue
        # futex_wait, or a lock attempt
        cur = words[word]
        if op == OP_LOCK and cur == 0:
            owner = np.uint32(tid0[t])
            words[word] = owner | np.uint32(FUTEX_WAITERS) if req_flag[r] else owner
            pc[t] = step_next[pc[t]]
            continue
        q = seg_queue[word]
        if not table_has_room(w_meta):
            return r, GROW_W
        if q < 0 and not table_has_room(q_meta):
            return r, GROW_Q
        if futex_waiter[t] >= 0:
            return r, FALLBACK  # the scalar path reports the impossible
        if op == OP_LOCK and not (cur & np.uint32(FUTEX_WAITERS)):
            cur |= np.uint32(FUTEX_WAITERS)
            words[word] = cur
        # futex_wait(word, cur): the word holds cur, so it blocks
        w = table_alloc(w_meta, w_free, w_alive)
        w_task[w] = t
        w_bitset[w] = FUTEX_BITSET_MATCH_ANY
        w_deadline[w] = NO_DEADLINE
        w_uaddr[w] = seg_base + 4 * word
        w_val[w] = cur
        w_flags[w] = 0  # shared, no timeout
        if q < 0:
            q = table_alloc(q_meta, q_free, q_alive)
            q_kind[q] = KEY_SHARED_OBJ
            q_a[q] = ino
            q_b[q] = 4 * word
            seg_queue[word] = q
            _log_key(log, nlog, LOG_NEW, q, q_kind, q_a, q_b)
        append_one(q_head, q_tail, q, w_next, w_prev, w)
        w_queue[w] = q
        q_count[q] += 1
        futex_waiter[t] = w
        run_state[t] = RUN_BLOCKED
        block[t] = BLOCK_FUTEX
        restart_flags[t] = 0
        counts[0] += 1
    return end, DONE


@jit(allocates=False)
def orphan_candidates(n, w_alive, w_task, exit_state, run_state, block, out):
    """futex_orphan_system's scan in one pass: the live waiter rows (of the first ``n``) whose
    task is not blocked on a futex now (or is exiting), into ``out``; returns how many. The
    system then checks each with ``_waiting`` (a group stop keeps the wait) and drops the rest."""
    k = 0
    for w in range(n):
        if w_alive[w]:
            t = w_task[w]
            if (exit_state[t] != TASK_EXIT_NONE or run_state[t] != RUN_BLOCKED
                    or block[t] != BLOCK_FUTEX):
                out[k] = w
                k += 1
    return k
