"""Batch operations on intrusive lists (components/links.py): many appends or unlinks in one call.

Each kernel does exactly what the scalar ``links.append`` / ``links.unlink`` calls would do for the
requests in order, so batches and single calls can be mixed; tests hold them to the scalar
functions as the naive oracle.
"""
from __future__ import annotations

import numpy as np

from .options import jit


@jit(inline="always")  # per item in batch kernels: no call (they compile with allocates=False)
def append_one(heads, tails, owner, nxt, prv, row):
    """links.append in compiled code: ``row`` at the tail of list ``owner``."""
    last = tails[owner]
    prv[row] = last
    nxt[row] = -1
    if last >= 0:
        nxt[last] = row
    else:
        heads[owner] = row
    tails[owner] = row


@jit(inline="always")  # per item in batch kernels: no call (they compile with allocates=False)
def unlink_one(heads, tails, owner, nxt, prv, row):
    """links.unlink in compiled code: take ``row`` out of list ``owner``."""
    p = prv[row]
    n = nxt[row]
    if p >= 0:
        nxt[p] = n
    else:
        heads[owner] = n
    if n >= 0:
        prv[n] = p
    else:
        tails[owner] = p
    nxt[row] = -1
    prv[row] = -1


@jit(allocates=False)
def _append_many(heads, tails, owners, nxt, prv, rows):
    for j in range(rows.shape[0]):
        append_one(heads, tails, owners[j], nxt, prv, rows[j])


@jit(allocates=False)
def _unlink_many(heads, tails, owners, nxt, prv, rows):
    for j in range(rows.shape[0]):
        unlink_one(heads, tails, owners[j], nxt, prv, rows[j])


def _check(heads, tails, owners, nxt, prv, rows):
    if not (owners.shape == rows.shape and owners.ndim == 1):
        raise ValueError("owners and rows must be 1-D arrays of the same length")
    for name, a in (("heads", heads), ("tails", tails), ("nxt", nxt), ("prv", prv)):
        if a.dtype != np.int32:
            raise ValueError(f"{name} must be int32, got {a.dtype}")


def append_many(heads, tails, owners, nxt, prv, rows) -> None:
    """Append ``rows[j]`` to list ``owners[j]``, for j in order."""
    owners = np.ascontiguousarray(owners, np.int64)
    rows = np.ascontiguousarray(rows, np.int64)
    _check(heads, tails, owners, nxt, prv, rows)
    if len(rows):
        _append_many(heads, tails, owners, nxt, prv, rows)


def unlink_many(heads, tails, owners, nxt, prv, rows) -> None:
    """Unlink ``rows[j]`` from list ``owners[j]``, for j in order. Each row must be a member."""
    owners = np.ascontiguousarray(owners, np.int64)
    rows = np.ascontiguousarray(rows, np.int64)
    _check(heads, tails, owners, nxt, prv, rows)
    if len(rows):
        _unlink_many(heads, tails, owners, nxt, prv, rows)
