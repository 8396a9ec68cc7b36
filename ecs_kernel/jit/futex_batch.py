"""Batched futex calls on one shared segment's words: FUTEX_WAIT and FUTEX_WAKE as
systems/futex.py does them (futex_wait, futex_wake), for many calls in one pass.

The words live in one SharedSegment that every calling task maps at the same address (the
synthetic tasks' futex words: sim/engine.py maps one segment in every synthetic process), so a
word's futex key is ``(KEY_SHARED_OBJ, segment ino, 4 * word)``. The key -> queue map is a
Python dict (``world.index.futex_keys``); the kernels work on ``seg_queue[word]`` (that dict's
entries for this segment, as rows of ``futex_queues``) and log each queue they create or free, in
order, for the wrapper to apply to the dict afterwards (systems/futex.apply_key_log). Signal
delivery's kernel (jit/signals_batch.py) uses :func:`futex_drop` the same way when a handler
interrupts a futex wait.

Everything a call reads and writes travels as one :class:`FutexTables` (the waiters' task
columns, the ``futex_waiters`` and ``futex_queues`` tables, the segment, the key log), which
systems/futex.py builds and writes back. :func:`futex_wait_word` and :func:`futex_wake_word` are
the two calls, one item each, inlined into the loops that call them: :func:`futex_batch` here
(systems/futex.futex_many, calls as data) and the synthetic programs' futex steps in jit/sim.py
(whose user-space half, a glibc-style mutex, decides which call to make).

Waiter and queue rows are allocated and freed exactly as ``Table.alloc``/``free`` do (jit/rows.py),
and a waiter's row and task move as systems/futex.py's ``_link``/``_drop``/``_complete`` move
them, so a batch leaves the World as serving the calls one at a time leaves it
(tests/systems/test_futex_batch.py, tests/sim/test_sim_differential.py).

A loop stops at a call it does not cover and returns ``(index, status)``:

    DONE      every call was served
    FALLBACK  call ``index`` needs the scalar path (an address outside the segment or not
              4-byte aligned; a task that already has a waiter row)
    GROW_W    the futex_waiters table is full: grow it and resume at ``index``
    GROW_Q    the futex_queues table is full: grow it and resume at ``index``

:func:`futex_wait_word` returns one of those, or AGAIN: the word does not hold the value (EAGAIN).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..abi import (BLOCK_FUTEX, BLOCK_NONE, BLOCK_STOPPED, EAGAIN, FUTEX_BITSET_MATCH_ANY,
                   FUTEX_WAKE, KEY_SHARED_OBJ, RUN_BLOCKED, RUN_SYSCALL_EXIT, TASK_EXIT_NONE)
from .links import append_one, unlink_one
from .options import jit
from .rows import table_alloc, table_free, table_has_room

DONE, FALLBACK, GROW_W, GROW_Q = 0, 1, 2, 3
AGAIN = 4  # futex_wait_word: the word does not hold the value

NO_DEADLINE = np.iinfo(np.int64).max
LOG_NEW, LOG_FREE = 1, 0  # key log rows: (LOG_NEW | LOG_FREE, key kind, key a, key b, queue row)
LOG_COLS = 5

FutexTables = namedtuple("FutexTables", (
    # the waiting tasks' columns (tasks table)
    "exit_state", "run_state", "block", "stop_run_state", "stop_block", "ret", "futex_waiter",
    "restart_flags",
    # futex_waiters: the rows, and their table's meta / free stack (jit/rows.py)
    "w_task", "w_queue", "w_bitset", "w_deadline", "w_next", "w_prev", "w_uaddr", "w_val",
    "w_flags", "w_alive", "w_gen", "w_free", "w_meta",
    # futex_queues
    "q_head", "q_tail", "q_count", "q_kind", "q_a", "q_b", "q_alive", "q_gen", "q_free", "q_meta",
    # the segment: its address in every caller, its key identity, its words, word -> queue row
    "seg_base", "ino", "words", "seg_queue",
    # queues made and freed, in order, for the key dict (LOG_NEW / LOG_FREE rows) and their count
    "log", "nlog"))
"""What the futex kernels read and write (systems/futex.py ``_tables`` builds it)."""


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


@jit(inline="always")
def _drop(x, w):
    return futex_drop(w, x.futex_waiter, x.w_task, x.w_queue, x.w_bitset, x.w_deadline, x.w_next,
                      x.w_prev, x.w_uaddr, x.w_val, x.w_flags, x.w_alive, x.w_gen, x.w_free,
                      x.w_meta, x.q_head, x.q_tail, x.q_count, x.q_kind, x.q_a, x.q_b, x.q_alive,
                      x.q_gen, x.q_free, x.q_meta, x.log, x.nlog)


@jit(inline="always")
def futex_wake_word(x, word, nr):
    """futex_wake on the segment's ``word``: wake up to ``nr`` waiters (``nr <= 0`` wakes one, as
    Linux's ``++ret >= nr_wake``), oldest first, dropping the rows of tasks no longer waiting
    (futex._wake_key). Returns how many woke."""
    woke = 0
    q = x.seg_queue[word]
    w = x.q_head[q] if q >= 0 else -1
    while w >= 0:
        nxt = x.w_next[w]
        u = x.w_task[w]
        if not _waiting(u, x.exit_state, x.run_state, x.block, x.stop_run_state, x.stop_block):
            _drop(x, w)
        elif x.w_bitset[w] & np.uint32(FUTEX_BITSET_MATCH_ANY):
            _drop(x, w)
            x.ret[u] = 0  # futex._complete
            if x.block[u] == BLOCK_STOPPED:
                x.stop_run_state[u] = RUN_SYSCALL_EXIT
                x.stop_block[u] = BLOCK_NONE
            else:
                x.run_state[u] = RUN_SYSCALL_EXIT
                x.block[u] = BLOCK_NONE
            woke += 1
            if woke >= nr:
                break
        w = nxt
    if q >= 0 and not x.q_alive[q]:
        x.seg_queue[word] = -1  # the last waiter went: the queue was freed
    return woke


@jit(inline="always")
def futex_wait_word(x, t, word, val):
    """futex_wait of task ``t`` on the segment's ``word`` (shared, no timeout, every bit): if the
    word holds ``val``, queue a waiter row at the tail of the word's queue and block ``t`` on
    Block.FUTEX (DONE). AGAIN if the word changed (EAGAIN); GROW_W / GROW_Q with nothing changed
    when a table is full; FALLBACK when ``t`` already has a waiter row (the scalar path reports
    the impossible)."""
    if x.words[word] != np.uint32(val & 0xFFFFFFFF):
        return AGAIN
    q = x.seg_queue[word]
    if not table_has_room(x.w_meta):
        return GROW_W
    if q < 0 and not table_has_room(x.q_meta):
        return GROW_Q
    if x.futex_waiter[t] >= 0:
        return FALLBACK
    w = table_alloc(x.w_meta, x.w_free, x.w_alive)
    x.w_task[w] = t
    x.w_bitset[w] = FUTEX_BITSET_MATCH_ANY
    x.w_deadline[w] = NO_DEADLINE
    x.w_uaddr[w] = x.seg_base + 4 * word
    x.w_val[w] = x.words[word]
    x.w_flags[w] = 0  # shared, no timeout
    if q < 0:
        q = table_alloc(x.q_meta, x.q_free, x.q_alive)
        x.q_kind[q] = KEY_SHARED_OBJ
        x.q_a[q] = x.ino
        x.q_b[q] = 4 * word
        x.seg_queue[word] = q
        _log_key(x.log, x.nlog, LOG_NEW, q, x.q_kind, x.q_a, x.q_b)
    append_one(x.q_head, x.q_tail, q, x.w_next, x.w_prev, w)
    x.w_queue[w] = q
    x.q_count[q] += 1
    x.futex_waiter[t] = w
    x.run_state[t] = RUN_BLOCKED
    x.block[t] = BLOCK_FUTEX
    x.restart_flags[t] = 0
    return DONE


@jit(inline="always")
def segment_word(x, uaddr):
    """The index of the segment's word at ``uaddr``, or -1 (outside it, or not 4-byte aligned)."""
    off = uaddr - x.seg_base
    if uaddr & 3 or off < 0 or off >= 4 * x.words.shape[0]:
        return -1
    return off >> 2


@jit(allocates=False)
def futex_batch(start, end, tasks, uaddrs, ops, vals, out, x):
    """futex(2) calls ``start..end-1``, in order: ``ops[i]`` FUTEX_WAIT (block ``tasks[i]`` on
    ``uaddrs[i]`` if it holds ``vals[i]``: ``out[i]`` 0, or -EAGAIN) or FUTEX_WAKE (wake up to
    ``vals[i]`` waiters: ``out[i]`` how many), on shared words of ``x``'s segment. Returns
    ``(index, status)`` (see the module comment)."""
    for i in range(start, end):
        word = segment_word(x, uaddrs[i])
        if word < 0:
            return i, FALLBACK
        if ops[i] == FUTEX_WAKE:
            out[i] = futex_wake_word(x, word, vals[i])
            continue
        status = futex_wait_word(x, tasks[i], word, vals[i])
        if status == AGAIN:
            out[i] = -EAGAIN
        elif status != DONE:
            return i, status
        else:
            out[i] = 0
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
