"""Futex components: waiters and wait queues as rows (gVisor: kernel/futex; Linux: kernel/futex/).

Three components:

``FutexWaiters`` (table ``futex_waiters``)
    One row per task blocked in FUTEX_WAIT / FUTEX_WAIT_BITSET (Linux's ``struct futex_q``):
    the task, the queue it is linked on, its bitset, its deadline on ``world.now_ns``
    (``NO_DEADLINE`` = none), the list links, and what a restart needs (uaddr, val, flags).

``FutexQueues`` (table ``futex_queues``)
    One row per futex *key* that has at least one waiter (Linux's hash-bucket chain, restricted
    to one key): head/tail of the intrusive FIFO list of waiter rows, the waiter count and the
    key itself. ``world.index.futex_keys`` maps the key tuple ``(kind, a, b)`` to the queue
    row; that dict is the only Python-side index, and it holds rows, never lists of waiters.
    A queue row is freed as soon as its last waiter leaves.

``FutexState`` (on tasks)
    ``futex_waiter`` (the task's waiter row, -1), ``robust_list`` (set_robust_list's head), and
    the restart block of an interrupted timed wait (Linux ``restart_block.futex``).

Key kinds (see systems/futex.py for how they are computed)::

    KEY_PRIVATE     (mm row, address)           FUTEX_PRIVATE_FLAG
    KEY_SHARED_MM   (mm row, address)           shared op on private (anonymous or file) memory;
                                                Linux sets FUT_OFF_MMSHARED, so it never matches
                                                a private-op key on the same word
    KEY_SHARED_OBJ  (object identity, offset)   shared op on MAP_SHARED memory

The key kinds and the waiter ``flags`` (WF_PRIVATE, WF_HAS_TIMEOUT: what a restart needs to know)
are codes in ecs_kernel/abi.py, which the batch kernels share.

Invariants (:func:`check`):
- every live waiter is on the list of its queue, each list's count equals its length, every
  live queue is non-empty and is the one ``futex_keys`` names for its key;
- a waiter's task is live, ``futex_waiter`` points back at the waiter, and the task is blocked
  on ``Block.FUTEX`` (also under a group stop that saved that state), or is dying (its exit
  removes the row in the EXIT phase).

Writers: systems/futex.py only (the kernel calls futex_wait/wake/requeue/wake_op/interrupt/exit
and the systems ``futex_orphan_system`` and ``futex_timeout_system``); ``robust_list`` also by
set_robust_list.
"""
from __future__ import annotations

import numpy as np

from ..abi import Block, ExitState, RunState
from ..world import Column, Component

I32 = np.int32
NO_DEADLINE = np.iinfo(np.int64).max

FutexWaiters = Component("FutexWaiters", "futex_waiters", {
    "task": Column(I32, -1),
    "queue": Column(I32, -1),  # futex_queues row (the key)
    "bitset": Column(np.uint32, 0),
    "deadline": Column(np.int64, NO_DEADLINE),  # absolute, on world.now_ns
    "w_next": Column(I32, -1),
    "w_prev": Column(I32, -1),
    "uaddr": Column(np.uint64, 0),  # the address waited on (restart block)
    "val": Column(np.uint32, 0),
    "flags": Column(np.uint8, 0),  # WF_*
}, doc="Tasks blocked in FUTEX_WAIT(_BITSET): one row each, FIFO-linked per key.")

FutexQueues = Component("FutexQueues", "futex_queues", {
    "q_head": Column(I32, -1),
    "q_tail": Column(I32, -1),
    "q_count": Column(I32, 0),
    "key_kind": Column(np.uint8, 0),
    "key_a": Column(np.int64, 0),
    "key_b": Column(np.uint64, 0),
}, doc="One row per futex key with waiters: the head of its FIFO waiter list.")

FutexState = Component("FutexState", "tasks", {
    "futex_waiter": Column(I32, -1),
    "robust_list": Column(np.uint64, 0),  # set_robust_list(2) head (0: none)
    "futex_restart_uaddr": Column(np.uint64, 0),  # restart block of an interrupted timed wait
    "futex_restart_val": Column(np.uint32, 0),
    "futex_restart_bitset": Column(np.uint32, 0),
    "futex_restart_deadline": Column(np.int64, NO_DEADLINE),
    "futex_restart_flags": Column(np.uint8, 0),  # WF_*; 0 = no restart block
}, doc="Per-task futex state: the waiter row, the robust list head, the restart block.")

COMPONENTS = [FutexWaiters, FutexQueues, FutexState]


def check(world) -> None:
    W, Q, T = world.futex_waiters, world.futex_queues, world.tasks
    keys = world.index.futex_keys
    qrows = Q.live_rows()
    assert len(keys) == len(qrows), f"{len(keys)} futex keys but {len(qrows)} live queues"
    seen = 0
    for q in qrows.tolist():
        key = (int(Q.key_kind[q]), int(Q.key_a[q]), int(Q.key_b[q]))
        assert keys.get(key) == q, f"futex queue {q} for {key} is not indexed"
        n = 0
        prev = -1
        r = int(Q.q_head[q])
        while r >= 0:
            assert W.alive[r] and int(W.queue[r]) == q, f"waiter {r} on queue {q} belongs elsewhere"
            assert int(W.w_prev[r]) == prev, f"waiter {r}: broken back link"
            prev = r
            n += 1
            assert n <= W.count, f"futex queue {q} is circular"
            r = int(W.w_next[r])
        assert prev == int(Q.q_tail[q]), f"futex queue {q}: tail is not the last waiter"
        assert n == int(Q.q_count[q]) and n > 0, f"futex queue {q}: {n} waiters, count {Q.q_count[q]}"
        seen += n
    wrows = W.live_rows()
    assert seen == len(wrows), f"{len(wrows)} futex waiters but {seen} on queues"
    if len(wrows):
        t = W.task[wrows]
        assert (t >= 0).all() and T.alive[t].all(), "a futex waiter's task is not live"
        assert (T.futex_waiter[t] == wrows).all(), "a task does not point back at its futex waiter"
        blocked = T.run_state[t] == RunState.blocked
        stopped = blocked & (T.block[t] == Block.STOPPED)
        if hasattr(T, "stop_block"):  # a group stop saved the futex wait (components/signals.py)
            stopped &= (T.stop_block[t] == Block.FUTEX) & (T.stop_run_state[t] == RunState.blocked)
        ok = (blocked & (T.block[t] == Block.FUTEX)) | stopped | (T.exit_state[t] != ExitState.NONE)
        assert ok.all(), "a futex waiter's task is not blocked on a futex"
    tl = T.live_rows()
    fw = T.futex_waiter[tl]
    has = fw >= 0
    assert W.alive[fw[has]].all() and (W.task[fw[has]] == tl[has]).all(), \
        "a task points at a futex waiter that is not its own"


FutexWaiters.check = check
