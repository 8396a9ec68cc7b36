"""Intrusive doubly-linked lists over int32 columns (Linux's list_head, as rows).

A list lives in four columns: ``heads[owner]`` / ``tails[owner]`` are the first and last members'
rows (-1: empty) and ``nxt[row]`` / ``prv[row]`` link members. Members are appended at the tail, so
iteration order is insertion order, as with Linux's ``list_add_tail`` (wait reaps the oldest child
first). Insert and unlink are O(1): a parent with a million children reaps any one without a scan.
Pass the arrays at call time: tables reallocate columns when they grow.
"""
from __future__ import annotations

import numpy as np


def append(heads: np.ndarray, tails: np.ndarray, owner: int, nxt: np.ndarray, prv: np.ndarray,
           row: int) -> None:
    last = int(tails[owner])
    prv[row] = last
    nxt[row] = -1
    if last >= 0:
        nxt[last] = row
    else:
        heads[owner] = row
    tails[owner] = row


def unlink(heads: np.ndarray, tails: np.ndarray, owner: int, nxt: np.ndarray, prv: np.ndarray,
           row: int) -> None:
    p = int(prv[row])
    n = int(nxt[row])
    if p >= 0:
        nxt[p] = n
    else:
        if heads[owner] != row:
            raise AssertionError(f"row {row} is not the head of list {owner} and has no predecessor")
        heads[owner] = n
    if n >= 0:
        prv[n] = p
    else:
        tails[owner] = p
    nxt[row] = -1
    prv[row] = -1


def members(heads: np.ndarray, owner: int, nxt: np.ndarray) -> list[int]:
    """The rows in list ``owner``, in insertion order."""
    out = []
    r = int(heads[owner])
    while r >= 0:
        out.append(r)
        r = int(nxt[r])
    return out


def iterate(heads: np.ndarray, owner: int, nxt: np.ndarray):
    """Iterate list ``owner`` lazily (stop early without walking the rest). Do not unlink the
    current member and then continue: its link is cleared by ``unlink``."""
    r = int(heads[owner])
    while r >= 0:
        yield r
        r = int(nxt[r])
