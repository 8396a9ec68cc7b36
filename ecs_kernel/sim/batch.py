"""Batched serving of the engine's syscall requests (see engine.serve).

- kill/tgkill: systems/signals_batch.send_many (the numba send kernel);
- sigaction: systems/signals_batch.sigaction_many (numba);
- sigprocmask: one numpy expression (each task has at most one request per tick, and changing
  a mask has no other effect, so the order of the requests does not matter);
- lock/unlock without contention: numba over the shared words (jit.sim.mutex_pass);
- nanosleep: numpy over the SleepState columns (clock_nanosleep on CLOCK_MONOTONIC, relative, as
  systems/timers.nanosleep does); setitimer in the same class stays scalar.

What a kernel does not cover is handed back to the engine's scalar server one request at a time,
in order.
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


def _advance(world, st, rows: np.ndarray) -> None:
    T = world.tasks
    T.sim_pc[rows] = st.step_next[T.sim_pc[rows]]


def serve_sigactions(world, st, req, i: int, j: int) -> None:
    from .engine import HANDLER_ADDR, serve_one
    served = np.zeros(len(req), np.bool_)

    def scalar(r: int) -> int:
        served[r] = True
        serve_one(world, st, req, r)
        return 0

    handlers = np.zeros(len(req), np.uint64)
    handlers[i:j] = np.array([0, 1, HANDLER_ADDR], np.uint64)[req.args[i:j, 1]]
    err = signals_batch.sigaction_many(world, req.task, req.args[:, 0], handlers,
                                       req.args[:, 2].astype(np.uint64), scalar, i, j)
    rng = np.arange(i, j)
    done = rng[~served[i:j] & (err[i:j] != 1)]
    st.totals["syscall_errors"] += int((err[done] < 0).sum())
    _advance(world, st, req.task[done])


def serve_sigprocmask(world, st, req, i: int, j: int) -> None:
    """rt_sigprocmask(2) with how = SIG_BLOCK / SIG_UNBLOCK / SIG_SETMASK (the spec allows no
    other), as task_signals.sigprocmask."""
    from ..components.signals import FULL_MASK, UNBLOCKABLE
    from ..components.task import ExitState
    T = world.tasks
    t = req.task[i:j]
    live = T.exit_state[t] == ExitState.NONE
    t = t[live]
    how = req.args[i:j, 0][live]
    sigset = req.args[i:j, 1][live].astype(np.uint64)
    old = T.sig_mask[t]
    new = np.where(how == 0, old | sigset, np.where(how == 1, old & ~sigset, sigset))
    T.sig_mask[t] = new & np.uint64(~UNBLOCKABLE & FULL_MASK)
    _advance(world, st, t)


def serve_sleeps(world, st, req, i: int, j: int) -> None:
    """nanosleep requests of ``i..j-1`` in numpy; the class's setitimer requests one by one."""
    from ..components.task import Block, ExitState, RunState
    from ..components.timers import BASE_MONO
    from ..jit.sim import OP_NANOSLEEP
    from .engine import serve_one
    T = world.tasks
    sl = np.arange(i, j)[req.op[i:j] == OP_NANOSLEEP]
    for r in np.arange(i, j)[req.op[i:j] != OP_NANOSLEEP].tolist():
        serve_one(world, st, req, r)
    t = req.task[sl]
    live = T.exit_state[t] == ExitState.NONE
    t, ticks = t[live], req.args[sl, 0][live]
    T.sleep_rem_ns[t] = 0
    now = t[ticks <= 0]
    _advance(world, st, now)
    t, ticks = t[ticks > 0], ticks[ticks > 0]
    T.sleeping[t] = True
    T.sleep_base[t] = BASE_MONO
    T.sleep_target[t] = -1
    T.sleep_deadline[t] = world.now_ns + ticks * int(world.settings.tick_ns)
    T.sleep_abs[t] = False
    T.run_state[t] = RunState.blocked
    T.block[t] = Block.SLEEP


def serve_futex(world, st, req, i: int, j: int) -> None:
    """lock/unlock without contention in numba (jit.sim.mutex_pass) on the shared words, in one
    pass; every other futex request (futex_wait, futex_wake, a contended lock or unlock), and
    every later one on its word, by the scalar server afterwards, in order (see mutex_pass for
    why that order gives the same state)."""
    from ..jit.sim import mutex_pass
    from .engine import serve_one
    out = np.ones(len(req), np.int8)
    words = st.segment.words
    held = np.zeros(len(words), np.uint8)
    T = world.tasks
    m = mutex_pass(i, j, req.task, req.op, np.ascontiguousarray(req.args[:, 0]), req.flag,
                   T.exit_state, T.tids[:, 0], words, held, out)
    _advance(world, st, req.task[i:j][out[i:j] == 0])
    if m:
        for r in (np.flatnonzero(out[i:j] == 2) + i).tolist():
            serve_one(world, st, req, r)
