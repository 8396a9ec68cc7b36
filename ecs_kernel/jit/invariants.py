"""Invariant kernels: walk every intrusive list of one family in one pass (sim/invariants.py).

An intrusive list family (components/links.py) is four int32 columns: ``heads``/``tails`` per
owner row, ``nxt``/``prv`` per member row. :func:`walk_lists` walks the lists of every live owner
once (O(owners + members) in total) and checks what the scalar ``components.*.check`` functions
check one list at a time in Python:

    code  meaning
    0     every list is consistent
    1     a list names a member row that is out of range or not live
    2     a member's owner column names another owner
    3     a broken back link (``prv[r]`` is not the row before ``r``)
    4     ``tails[o]`` is not the last member
    5     the owner's count column disagrees with the list length
    6     the list is circular (it comes back to a row it holds)
    7     a row that must be on a list (``expected``) is on none
    8     a row is on two lists, or twice on one
    9     a row that must be on no list is on one

The result is ``(code, owner, row)`` of the first failure in owner order (then row order for codes
7 and 9), or ``(0, -1, -1)``. Tests hold the kernel to a plain-Python walk.
"""
from __future__ import annotations

import numpy as np

from ..abi import Block, RunState
from .options import jit

LIST_OK = 0
LIST_BAD_MEMBER = 1
LIST_WRONG_OWNER = 2
LIST_BAD_BACK_LINK = 3
LIST_BAD_TAIL = 4
LIST_BAD_COUNT = 5
LIST_CIRCULAR = 6
LIST_MISSING = 7
LIST_TWICE = 8
LIST_UNEXPECTED = 9

LIST_CODES = {
    LIST_BAD_MEMBER: "names a member row that is not live",
    LIST_WRONG_OWNER: "holds a member whose owner column names another owner",
    LIST_BAD_BACK_LINK: "has a broken back link",
    LIST_BAD_TAIL: "has a tail that is not its last member",
    LIST_BAD_COUNT: "has a length that disagrees with its count",
    LIST_CIRCULAR: "is circular",
    LIST_MISSING: "misses a row that must be on it",
    LIST_TWICE: "holds a row that is on another list too (or twice)",
    LIST_UNEXPECTED: "holds a row that must be on no list",
}


@jit
def _walk_lists(heads, tails, owner_alive, counts, nxt, prv, member_owner, member_alive, expected):
    n_rows = nxt.shape[0]
    seen_on = np.full(n_rows, -1, np.int64)  # the owner whose list holds the row
    for o in range(heads.shape[0]):
        if not owner_alive[o]:
            continue
        prev = -1
        k = 0
        r = heads[o]
        while r >= 0:
            if r >= n_rows or not member_alive[r]:
                return LIST_BAD_MEMBER, o, r
            if member_owner[r] != o:
                return LIST_WRONG_OWNER, o, r
            if prv[r] != prev:
                return LIST_BAD_BACK_LINK, o, r
            if seen_on[r] == o:
                return LIST_CIRCULAR, o, r
            if seen_on[r] >= 0:
                return LIST_TWICE, o, r
            seen_on[r] = o
            k += 1
            prev = r
            r = nxt[r]
        if tails[o] != prev:
            return LIST_BAD_TAIL, o, prev
        if counts[o] >= 0 and counts[o] != k:
            return LIST_BAD_COUNT, o, k
    for r in range(n_rows):
        if expected[r] and seen_on[r] < 0:
            return LIST_MISSING, -1, r
        if seen_on[r] >= 0 and not expected[r]:
            return LIST_UNEXPECTED, member_owner[r], r
    return LIST_OK, -1, -1


def walk_lists(heads, tails, owner_alive, counts, nxt, prv, member_owner, member_alive,
               expected) -> tuple[int, int, int]:
    """Check every list of one family; see the module docstring. ``counts`` < 0: not checked.
    Owner arrays share one length, member arrays another; all are 1-D."""
    # int32 columns go in as they are (no copy of a million rows); anything else becomes int64
    heads, tails, counts, nxt, prv, member_owner = (
        np.ascontiguousarray(a) if isinstance(a, np.ndarray) and a.dtype in (np.int32, np.int64)
        else np.ascontiguousarray(a, np.int64)
        for a in (heads, tails, counts, nxt, prv, member_owner))
    owner_alive = np.ascontiguousarray(owner_alive, np.bool_)
    member_alive = np.ascontiguousarray(member_alive, np.bool_)
    expected = np.ascontiguousarray(expected, np.bool_)
    no, nm = heads.shape[0], nxt.shape[0]
    for name, a, n in (("tails", tails, no), ("owner_alive", owner_alive, no), ("counts", counts, no),
                       ("prv", prv, nm), ("member_owner", member_owner, nm),
                       ("member_alive", member_alive, nm), ("expected", expected, nm)):
        if a.ndim != 1 or a.shape[0] != n:
            raise ValueError(f"{name} must be 1-D of length {n}, got shape {a.shape}")
    code, owner, row = _walk_lists(heads, tails, owner_alive, counts, nxt, prv, member_owner,
                                   member_alive, expected)
    return int(code), int(owner), int(row)


@jit
def _blocked_pending(n, alive, exit_state, sig_mask, sig_pending, has_saved, run_state, block,
                     wait_set, tg, group_alive, keep, blocked_state, timedwait_block, out_rows,
                     out_mask, out_pend, all_block):
    k = 0
    full = np.uint64(0xFFFFFFFFFFFFFFFF)
    for g in range(all_block.shape[0]):
        all_block[g] = full if group_alive[g] else np.uint64(0)
    for t in range(n):
        if not alive[t] or exit_state[t] != 0:
            continue
        m = sig_mask[t] & keep
        if run_state[t] == blocked_state and block[t] == timedwait_block:
            m &= ~wait_set[t]
        g = tg[t]
        if 0 <= g < all_block.shape[0]:
            all_block[g] &= m
        p = sig_pending[t] & m
        if p != 0 or has_saved[t]:
            out_rows[k] = t
            out_mask[k] = m
            out_pend[k] = p
            k += 1
    return k


def blocked_pending(world, keep: int):
    """One pass over the task rows for the delivery probe (sim/invariants.py): the live tasks with
    a pending signal their mask in force blocks, or a sigsuspend mask saved, as ``(rows, mask in
    force, pending & blocked)``; and per thread group the signals every live thread blocks (0 for
    dead groups). The mask in force leaves out SIGKILL/SIGSTOP (``keep``) and, for a task in
    sigtimedwait, the signals it waits for."""
    T, G = world.tasks, world.thread_groups
    n = T.n
    rows = np.empty(n, np.int64)
    mask = np.empty(n, np.uint64)
    pend = np.empty(n, np.uint64)
    all_block = np.empty(G.n, np.uint64)
    k = _blocked_pending(n, T.alive, T.exit_state, T.sig_mask, T.sig_pending, T.has_saved_mask,
                         T.run_state, T.block, T.sig_wait_set, T.tg, G.alive[: G.n], np.uint64(keep),
                         RunState.blocked, Block.SIGTIMEDWAIT, rows, mask, pend, all_block)
    return rows[:k].copy(), mask[:k].copy(), pend[:k].copy(), all_block


@jit
def _queue_ranks(q_head, q_alive, w_next, rank):
    for q in range(q_head.shape[0]):
        if not q_alive[q]:
            continue
        k = 0
        r = q_head[q]
        while r >= 0 and k <= rank.shape[0]:
            rank[r] = k
            k += 1
            r = w_next[r]


def queue_ranks(world) -> np.ndarray:
    """Each futex waiter row's place in its queue (0 = next to wake), -1 for rows on no queue."""
    W, Q = world.futex_waiters, world.futex_queues
    rank = np.full(W.n, -1, np.int64)
    if W.n:
        _queue_ranks(Q.q_head[: Q.n], Q.alive[: Q.n], W.w_next[: W.n], rank)
    return rank
