"""Whole-World comparison for differential tests: two Worlds that ran the same calls down two
paths (a batch kernel and the scalar handlers, say) must hold the same state, row for row.

    from ecs_kernel.testing.compare import assert_same_worlds
    assert_same_worlds(batched_world, scalar_world)
"""
from __future__ import annotations

import numpy as np


def world_snapshot(world) -> dict:
    """Every table's live range (alive, generations, free stack, count, every column) and the
    per-uid counters and dicts kept in the World's index (``KernelIndex``)."""
    out = {}
    for kind, t in world.tables.items():
        out[f"{kind}.alive"] = t.alive[: t.n].copy()
        out[f"{kind}.gen"] = t.gen[: t.n].copy()
        out[f"{kind}.free"] = t._free[: t._nfree].copy()
        out[f"{kind}.count"] = t.count
        for name, col in t.columns():
            out[f"{kind}.{name}"] = col[: t.n].copy()
    ix = world.index
    out["futex_keys"] = sorted(ix.futex_keys.items())
    counters = {"sigpending_by_uid": ix.sigpending_by_uid, "signal_stats": vars(ix.signal_stats),
                "nproc": ix.nproc}
    for key, d in counters.items():  # a 0 is no entry
        out[key] = sorted((k, v) for k, v in d.items() if v)
    return out


def assert_same_worlds(a, b, labels: tuple[str, str] = ("first", "second")) -> None:
    """Raise AssertionError naming the first entry of :func:`world_snapshot` that differs."""
    sa, sb = world_snapshot(a), world_snapshot(b)
    assert sa.keys() == sb.keys(), f"tables differ: {sorted(sa.keys() ^ sb.keys())}"
    for key in sa:
        x, y = sa[key], sb[key]
        same = (x.shape == y.shape and np.array_equal(x, y)) if isinstance(x, np.ndarray) else x == y
        assert same, f"{key}: {labels[0]} {x} {labels[1]} {y}"
