"""jit/scatter.py against numpy's own add.at, subtract.at and unique."""
import numpy as np
import pytest

from ecs_kernel.jit import scatter


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32])
def test_add_and_subtract_at_match_numpy(seed, dtype):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    arr = rng.integers(0, 1000, n).astype(dtype)
    idx = rng.integers(0, n, int(rng.integers(0, 500)))  # repeats, and sizes on both sides of SMALL
    vals = rng.integers(0, 50, len(idx)).astype(dtype)
    for mine, theirs in ((scatter.add_at, np.add.at), (scatter.subtract_at, np.subtract.at)):
        for v in (vals, 1):
            a, b = arr.copy(), arr.copy()
            mine(a, idx, v)
            theirs(b, idx, v)
            assert np.array_equal(a, b)


def test_out_of_range_index_raises_and_changes_nothing():
    arr = np.zeros(10, np.int64)
    idx = np.r_[np.zeros(scatter.SMALL, np.int64), 10]
    with pytest.raises(IndexError):
        scatter.add_at(arr, idx, 1)
    with pytest.raises(IndexError):
        scatter.add_at(arr, np.r_[idx[:-1], -1], 1)
    assert not arr.any()


@pytest.mark.parametrize("seed", range(8))
def test_unique_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-5, int(rng.integers(1, 100)), int(rng.integers(0, 400)))
    assert np.array_equal(scatter.unique(x), np.unique(x))
    u, c = scatter.unique(x, return_counts=True)
    uu, cc = np.unique(x, return_counts=True)
    assert np.array_equal(u, uu) and np.array_equal(c, cc)
