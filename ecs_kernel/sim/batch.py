"""Batched serving of the engine's syscall requests (see engine.serve): a driver.

Each class of requests goes to the batched kernel call that sits beside its scalar twin in
systems/ (the twin is what sim/requests.serve_one and a guest's syscall call; the differential
tests in tests/systems/ hold each batch to its twin called once per item, in order):

- kill/tgkill: posted (sim/mail.py), sent at the end of the tick by systems/signals_batch.send_many;
- sigaction: systems/signals_batch.sigaction_many;
- sigprocmask: systems/task_signals.sigprocmask_many;
- futex_wait, futex_wake, lock and unlock: the programs' futex steps (jit/sim.futex_steps: a
  glibc-style mutex in user space, then futex_wait_word / futex_wake_word of
  jit/futex_batch.py, the calls systems/futex.futex_many makes) through
  systems/futex.on_shared_words (the batch protocol around them);
- nanosleep: systems/timers.nanosleep_many (setitimer, in the same class, one at a time);
- clone: systems/task_clone.clone_many, each run of one kind (thread or process) in one call;
- exit, exit_group: systems/task_exit.exit_many;
- wait: systems/task_wait.wait4_many (a wait with nothing ready is left blocked there).

What the driver does itself is the synthetic CPU's part: it groups the requests, drops those of
tasks killed earlier in the tick (a killed task's call never completes: the sim's rule, as
serve_one has it), moves program counters (``sim_pc``) past calls that completed, gives new
tasks their program, and counts totals. It writes no kernel column (tests/sim/test_sim_layers.py).
What a batched call does not cover is served one request at a time by serve_one, in order.
"""
from __future__ import annotations

import numpy as np

from ..abi import ExitState, NSEC_PER_SEC, SIGCHLD
from ..jit import sim as K
from ..systems import futex, signals_batch, task_exit, task_signals, task_wait, timers
from ..systems.task_clone import clone_many
from . import mail
from .requests import HANDLER_ADDR, SEGMENT_ADDR, THREAD_FLAGS, serve_one


def _advance(world, st, rows: np.ndarray) -> None:
    T = world.tasks
    T.sim_pc[rows] = st.step_next[T.sim_pc[rows]]


def _live(world, req, i: int, j: int) -> np.ndarray:
    """The requests of ``i..j-1`` whose task is not exiting (killed this tick: never served)."""
    return np.flatnonzero(world.tasks.exit_state[req.task[i:j]] == ExitState.NONE) + i


def _scalar(world, st, req, served: np.ndarray):
    def scalar(r: int) -> int:
        served[r] = True
        serve_one(world, st, req, r)
        return 0
    return scalar


def serve_kills(world, st, req, i: int, j: int) -> None:
    """Requests ``i..j-1`` (all kill or tgkill): posted, sent at the end of the tick
    (sim/mail.py); the calls return at once."""
    r = _live(world, req, i, j)
    mail.post(world, st, req, r)
    _advance(world, st, req.task[r])


def serve_sigactions(world, st, req, i: int, j: int) -> None:
    served = np.zeros(len(req), np.bool_)
    handlers = np.zeros(len(req), np.uint64)
    handlers[i:j] = np.array([0, 1, HANDLER_ADDR], np.uint64)[req.args[i:j, 1]]
    err = signals_batch.sigaction_many(world, req.task, req.args[:, 0], handlers,
                                       req.args[:, 2].astype(np.uint64),
                                       _scalar(world, st, req, served), i, j)
    rng = np.arange(i, j)
    done = rng[~served[i:j] & (err[i:j] != 1)]
    st.totals["syscall_errors"] += int((err[done] < 0).sum())
    _advance(world, st, req.task[done])


def serve_sigprocmask(world, st, req, i: int, j: int) -> None:
    """rt_sigprocmask(2) requests ``i..j-1`` (how = SIG_BLOCK / SIG_UNBLOCK / SIG_SETMASK)."""
    r = _live(world, req, i, j)
    _, err = task_signals.sigprocmask_many(world, req.task[r], req.args[r, 0], req.args[r, 1])
    st.totals["syscall_errors"] += int((err < 0).sum())
    _advance(world, st, req.task[r])


def serve_sleeps(world, st, req, i: int, j: int) -> None:
    """nanosleep requests of ``i..j-1`` in one call; the class's setitimer requests one by one
    (they touch timers, not sleeps: the order between the two kinds does not matter)."""
    for r in np.arange(i, j)[req.op[i:j] != K.OP_NANOSLEEP].tolist():
        serve_one(world, st, req, r)
    r = _live(world, req, i, j)
    r = r[req.op[r] == K.OP_NANOSLEEP]
    ns = req.args[r, 0] * int(world.settings.tick_ns)
    err, blocked = timers.nanosleep_many(world, req.task[r], ns // NSEC_PER_SEC, ns % NSEC_PER_SEC)
    st.totals["syscall_errors"] += int((err < 0).sum())
    _advance(world, st, req.task[r[~blocked]])


def serve_futex(world, st, req, i: int, j: int) -> None:
    """futex_wait, futex_wake, lock and unlock (requests ``i..j-1``, in order): the programs'
    futex steps (jit/sim.futex_steps) on the shared segment's words, by the batch protocol of
    systems/futex.on_shared_words; a request they hand back goes to the scalar server."""
    word = np.ascontiguousarray(req.args[:, 0])
    count = np.ascontiguousarray(req.args[:, 1])
    counts = np.zeros(3, np.int64)

    def steps(r: int, tables) -> tuple[int, int]:
        T = world.tasks
        return K.futex_steps(r, j, req.task, req.op, word, count, req.flag, T.tids[:, 0],
                             T.sim_pc, st.step_next, tables, counts)

    futex.on_shared_words(world, st.segment, SEGMENT_ADDR, i, j, steps,
                          lambda r: serve_one(world, st, req, r))
    st.totals["futex_waits"] += int(counts[0])
    st.totals["futex_wakes"] += int(counts[1])
    st.totals["syscall_errors"] += int(counts[2])


def serve_clones(world, st, req, i: int, j: int) -> None:
    """clone requests ``i..j-1`` in order, each run of one kind (thread or process) in one
    ``task_clone.clone_many`` call (which gives what one clone per request gives)."""
    live = _live(world, req, i, j)
    if len(live) == 0:
        return
    kinds = req.args[live, 0]
    bounds = [0, *(np.flatnonzero(np.diff(kinds)) + 1).tolist(), len(live)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        rows = live[a:b]
        flags = THREAD_FLAGS if kinds[a] == 0 else SIGCHLD
        kids = clone_many(world, req.task[rows], flags)
        T = world.tasks  # clone_many may have grown the table
        ok = kids >= 0
        prog = req.args[rows[ok], 1]
        T.sim_prog[kids[ok]] = prog
        T.sim_pc[kids[ok]] = st.prog_first[prog]
        keys = np.empty(int(ok.sum()), np.uint64)
        K.child_keys(req.task[rows[ok]], T.sim_key, T.sim_clones, keys)
        T.sim_key[kids[ok]] = keys
        st.totals["clones"] += int(ok.sum())
        st.totals["syscall_errors"] += int((~ok).sum())
        _advance(world, st, req.task[rows])


def serve_waits(world, st, req, i: int, j: int) -> None:
    """wait4(-1, 0) requests ``i..j-1`` in order: a child ready is reaped (the call returns),
    none leaves the task blocked (wait_system retries it when a child reports), no child at all
    is ECHILD."""
    r = _live(world, req, i, j)
    if len(r) == 0:
        return
    res = task_wait.wait4_many(world, req.task[r], np.full(len(r), -1, np.int64),
                               np.zeros(len(r), np.int64))
    st.totals["syscall_errors"] += int((res.ret < 0).sum())
    _advance(world, st, req.task[r[~res.blocked]])


def serve_exits(world, st, req, i: int, j: int) -> None:
    """exit and exit_group requests ``i..j-1``, in order (the calls do not return)."""
    r = _live(world, req, i, j)
    err = task_exit.exit_many(world, req.task[r], req.args[r, 0], req.op[r] == K.OP_EXIT_GROUP)
    st.totals["exits"] += int((err == 0).sum())
    st.totals["syscall_errors"] += int((err < 0).sum())
    _advance(world, st, req.task[r[err < 0]])
