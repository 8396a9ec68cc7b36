"""Table rows in compiled code: ``world.Table.alloc`` and ``free`` for batch kernels.

A kernel that allocates or frees rows of a table gets the table's free stack, ``alive`` and
``gen`` columns and a ``meta`` array ``[n, nfree, count, capacity]`` (the wrappers read it with
``Table.kernel_meta`` and write it back with ``Table.set_kernel_meta``), and leaves the
table exactly as the same sequence of ``Table.alloc``/``Table.free`` calls would: same rows, same
free stack, same generations. A kernel checks :func:`table_has_room` before it allocates and
returns to Python to grow the table when there is none.
"""
from __future__ import annotations

import numpy as np

from ..abi import GEN_MASK  # the handle layout (world.py's)
from .options import jit

M_N, M_NFREE, M_COUNT, M_CAP = 0, 1, 2, 3


@jit(inline="always")
def table_alloc(meta, free, alive):
    """Table.alloc: pop the free stack, else the next fresh row. The caller checked room."""
    if meta[M_NFREE] > 0:
        meta[M_NFREE] -= 1
        row = free[meta[M_NFREE]]
    else:
        row = meta[M_N]
        meta[M_N] += 1
    alive[row] = True
    meta[M_COUNT] += 1
    return row


@jit(inline="always")
def table_has_room(meta):
    return meta[M_NFREE] > 0 or meta[M_N] < meta[M_CAP]


@jit(inline="always")
def table_free(meta, free, alive, gen, row):
    """Table.free after the caller reset the row's columns: generation, count, free stack."""
    alive[row] = False
    gen[row] = (gen[row] + np.uint32(1)) & np.uint32(GEN_MASK)
    meta[M_COUNT] -= 1
    free[meta[M_NFREE]] = row
    meta[M_NFREE] += 1
