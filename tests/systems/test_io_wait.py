"""io_wait.waiting, the grouping every turn of the run loop asks for, against a plain loop over
the tasks (its form before it was one sort), on random io_waits tables and task states."""
import numpy as np
from hypothesis import given, settings, strategies as st

from ecs_kernel.abi import Block, ExitState, RunState
from ecs_kernel.kernel import Kernel
from ecs_kernel.systems import io_wait

STATES = [(RunState.blocked, Block.IO), (RunState.blocked, Block.POLL),
          (RunState.blocked, Block.FUTEX), (RunState.runSyscallExit, Block.NONE),
          (RunState.runApp, Block.NONE)]


def naive_waiting(world) -> dict[int, list[int]]:
    W, T = world.io_waits, world.tasks
    rows = W.live_rows()
    tasks = W.iw_task[rows]
    out = {}
    for t in np.unique(tasks).tolist():
        if (T.run_state[t] == RunState.blocked and T.block[t] in (Block.IO, Block.POLL)
                and T.exit_state[t] == ExitState.NONE):
            out[t] = rows[tasks == t].tolist()
    return out


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_waiting_groups_as_the_plain_loop(data):
    k = Kernel()
    w = k.world
    rows = [k.task(k.fork(k.init_task)) for _ in range(5)]
    T, W = w.tasks, w.io_waits
    saved = [(T.run_state[r], T.block[r], T.exit_state[r]) for r in rows]
    ops = data.draw(st.lists(st.tuples(st.booleans(), st.sampled_from(rows)), max_size=40))
    live = []
    for add, t in ops:
        if add or not live:
            r = W.alloc()
            W.iw_task[r] = t
            live.append(r)
        else:
            W.free(live.pop(data.draw(st.integers(0, len(live) - 1))))
    for t in rows:
        rs, b = data.draw(st.sampled_from(STATES))
        T.run_state[t], T.block[t] = rs, b
        T.exit_state[t] = data.draw(st.sampled_from([ExitState.NONE, ExitState.INITIATED]))
    got = {t: r.tolist() for t, r in io_wait.waiting(w).items()}
    assert list(got.items()) == list(naive_waiting(w).items())  # same tasks, order and rows
    for r in live:  # leave the World as it was for its checks
        W.free(r)
    for t, (rs, b, es) in zip(rows, saved):
        T.run_state[t], T.block[t], T.exit_state[t] = rs, b, es
