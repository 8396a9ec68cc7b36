"""Batched serving of the engine's syscall requests (see engine.serve).

kill/tgkill requests go through systems/signals_batch.send_many (the numba send kernel), which
hands what it does not cover back to the engine's scalar server one request at a time, in order.
"""
from __future__ import annotations

import numpy as np

from ..jit import sim as K
from ..systems import signals_batch


def serve_kills(world, st, req, i: int, j: int) -> None:
    """Requests ``i..j-1`` (all kill or tgkill), in order."""
    from .engine import serve_one
    T = world.tasks
    served = np.zeros(len(req), np.bool_)

    def scalar(r: int) -> int:
        served[r] = True
        serve_one(world, st, req, r)
        return 0

    err = signals_batch.send_many(world, req.task, req.args[:, 0], req.args[:, 1],
                                  (req.op == K.OP_TGKILL).astype(np.int8), scalar, i, j)
    rng = np.arange(i, j)
    done = rng[~served[i:j] & (err[i:j] != 1)]
    st.totals["syscall_errors"] += int((err[done] < 0).sum())
    t = req.task[done]
    T.sim_pc[t] = st.step_next[T.sim_pc[t]]
