"""Scatter-adds, unique values and first occurrences for the batch paths, where numpy's own are
slow at scale.

numpy's ``ufunc.at`` (``np.add.at``) costs ~250 ns per index (25 ms for 100,000 indices here),
and numpy 2.x's hash-based ``np.unique`` ~300 ns per value (30 ms for 100,000), where a compiled
loop and a sort take ~1 ms. The batch paths of clone, exit, wait and release call them once per
batch with up to a few hundred thousand rows at 10^6 tasks. The answers are numpy's: tests hold
each to it.
"""
from __future__ import annotations

import numpy as np

from .options import jit

SMALL = 64  # below this, numpy's own calls cost less than a kernel call


@jit(allocates=False)
def _add_at(arr, idx, vals, sign):
    if sign > 0:
        for k in range(idx.shape[0]):
            arr[idx[k]] += vals[k]
    else:
        for k in range(idx.shape[0]):
            arr[idx[k]] -= vals[k]


def _scatter(arr: np.ndarray, idx, values, sign: int) -> None:
    idx = np.asarray(idx)
    if len(idx) < SMALL or idx.ndim != 1 or arr.ndim != 1:
        (np.add if sign > 0 else np.subtract).at(arr, idx, values)
        return
    if idx.dtype.kind not in "iu":
        raise IndexError("arrays used as indices must be of integer type")
    if int(idx.min()) < 0 or int(idx.max()) >= len(arr):
        raise IndexError(f"index out of bounds for an array of {len(arr)}")
    vals = np.broadcast_to(np.asarray(values).astype(arr.dtype, copy=False), idx.shape)
    _add_at(arr, idx, vals, sign)


def add_at(arr: np.ndarray, idx, values) -> None:
    """``np.add.at(arr, idx, values)``: repeated indices add up. Indices must be in range (no
    negative indexing): an IndexError otherwise, nothing changed."""
    _scatter(arr, idx, values, 1)


def subtract_at(arr: np.ndarray, idx, values) -> None:
    """``np.subtract.at(arr, idx, values)``; see :func:`add_at`."""
    _scatter(arr, idx, values, -1)


def unique(x, return_counts: bool = False):
    """``np.unique`` of a 1-d array (sorted values, and their counts if asked), by a sort."""
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError("unique takes a 1-d array")
    s = np.sort(x)
    first = np.empty(len(s), np.bool_)
    if len(s):
        first[0] = True
        np.not_equal(s[1:], s[:-1], out=first[1:])
    u = s[first]
    if not return_counts:
        return u
    starts = np.flatnonzero(first)
    return u, np.diff(np.append(starts, len(s)))


@jit(allocates=False)
def first_seen(rows, mark, first):
    """``first[k]``: ``rows[k]`` is not among ``rows[:k]`` (a batch kernel call that must serve a
    repeated row after the earlier one). ``mark`` (uint8, an entry per possible row value) is a
    work array whose contents do not matter and are left changed. Returns how many repeats."""
    for k in range(rows.shape[0]):
        mark[rows[k]] = 0
    repeats = 0
    for k in range(rows.shape[0]):
        r = rows[k]
        if mark[r]:
            first[k] = False
            repeats += 1
        else:
            mark[r] = 1
            first[k] = True
    return repeats
