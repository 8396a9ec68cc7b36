"""jit.signals_batch.deliverable_rows (the signal system's scan) against a naive numpy version."""
import numpy as np
import pytest

from ecs_kernel import abi
from ecs_kernel.abi import UNBLOCKABLE
from ecs_kernel.jit import signals_batch as K


def naive(n, alive, exit_state, tg, run_state, block, wait_set, mask, pending, g_pending):
    rows, waiting = [], 0
    for i in range(n):
        if not alive[i] or exit_state[i] != 0:
            continue
        m = int(mask[i])
        if run_state[i] == abi.RUN_BLOCKED and block[i] == abi.BLOCK_SIGTIMEDWAIT:
            m &= ~int(wait_set[i])
            waiting += 1
        g = int(tg[i])
        if not 0 <= g < len(g_pending):
            return -(i + 1), waiting
        if (int(pending[i]) | int(g_pending[g])) & ~(m & ~UNBLOCKABLE):
            rows.append(i)
    return rows, waiting


def columns(rng, n, ng):
    def sigs(size):
        return (rng.integers(0, 2, size).astype(np.uint64) << rng.integers(0, 64, size).astype(np.uint64))
    return (rng.random(n) < 0.9, (rng.random(n) < 0.1).astype(np.int8), rng.integers(0, ng, n).astype(np.int64),
            rng.choice([0, 1, abi.RUN_BLOCKED], n).astype(np.int8), rng.choice([0, abi.BLOCK_SIGTIMEDWAIT, abi.BLOCK_FUTEX], n).astype(np.int8),
            sigs(n) | sigs(n), sigs(n) | sigs(n), sigs(n), sigs(ng))


@pytest.mark.parametrize("seed", range(10))
def test_deliverable_rows_matches_naive(seed):
    rng = np.random.default_rng(seed)
    n, ng = 300, 20
    cols = columns(rng, n, ng)
    want_rows, want_wait = naive(n, *cols)
    for fn in (K.deliverable_rows, K.deliverable_rows.py_func):
        out = np.empty(n, np.int64)
        k, waiting = fn(n, *cols, out)
        assert out[:k].tolist() == want_rows and waiting == want_wait
    assert want_rows and want_wait  # the case exercises both


def test_deliverable_rows_reports_a_live_row_without_group():
    rng = np.random.default_rng(1)
    n, ng = 50, 5
    cols = list(columns(rng, n, ng))
    alive, tg = cols[0], cols[2]
    alive[:] = True
    cols[1][:] = 0
    tg[17] = ng  # out of range
    k, _ = K.deliverable_rows(n, *cols, np.empty(n, np.int64))
    assert k == -18 == naive(n, *cols)[0]


@pytest.mark.parametrize("seed", range(6))
def test_sigkill_rows_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    n = 400
    alive = rng.random(n) < 0.9
    exit_state = (rng.random(n) < 0.2).astype(np.uint8)
    pending = rng.integers(0, 2, n).astype(np.uint64) << np.uint64(8)  # SIGKILL's bit, or none
    pending |= rng.integers(0, 2**40, n).astype(np.uint64) & ~np.uint64(1 << 8)
    want = np.flatnonzero(((pending >> np.uint64(8)) & np.uint64(1)).astype(bool) & alive
                          & (exit_state == 0))
    for fn in (K.sigkill_rows, K.sigkill_rows.py_func):
        out = np.empty(n, np.int64)
        k = fn(n - 3, alive, exit_state, pending, out)
        assert out[:k].tolist() == want[want < n - 3].tolist() and k > 0
