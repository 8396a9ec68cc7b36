"""Batched serving of the engine's syscall requests (see engine.serve).

- kill/tgkill: systems/signals_batch.send_many (the numba send kernel);
- sigaction: systems/signals_batch.sigaction_many (numba; each distinct new action table is
  built once, components/sigactions.edited);
- sigprocmask: one numpy expression (each task has at most one request per tick, and changing
  a mask has no other effect, so the order of the requests does not matter);
- futex_wait, futex_wake, lock and unlock: numba over the shared words and the futex waiter
  and queue rows (jit.futex_batch);
- clone: runs of one kind through task_clone.clone_many (the batch path of clone);
- exit, exit_group: numpy for exit_group from one-thread processes and for runs of exit
  requests; exit_group from a multi-threaded process stays scalar;
- wait: task_wait.wait_many (the numba scan; zombie children reaped in batches);
- nanosleep: numpy over the SleepState columns (clock_nanosleep on CLOCK_MONOTONIC, relative, as
  systems/timers.nanosleep does); setitimer in the same class stays scalar.

What a kernel does not cover is handed back to the scalar server (sim/requests.serve_one) one
request at a time, in order.
"""
from __future__ import annotations

import numpy as np

from ..abi import (BASE_MONO, Block, ExitState, FULL_MASK, KEY_SHARED_OBJ, P_ALL, RunState,
                   SIG_BLOCK, SIG_UNBLOCK, SIGCHLD, SIGKILL, UNBLOCKABLE, WEXITED)
from ..components.signals import sigmask
from ..components.task import begin_exit
from ..jit import futex_batch as F
from ..jit import sim as K
from ..jit import wait_batch as W
from ..systems import signals_batch, task_wait
from ..systems.futex import apply_key_log
from ..systems.task_clone import clone_many
from .requests import HANDLER_ADDR, SEGMENT_ADDR, THREAD_FLAGS, serve_one


def serve_kills(world, st, req, i: int, j: int) -> None:
    """Requests ``i..j-1`` (all kill or tgkill), in order."""
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
    T = world.tasks
    t = req.task[i:j]
    live = T.exit_state[t] == ExitState.NONE
    t = t[live]
    how = req.args[i:j, 0][live]
    sigset = req.args[i:j, 1][live].astype(np.uint64)
    old = T.sig_mask[t]
    new = np.where(how == SIG_BLOCK, old | sigset,
                   np.where(how == SIG_UNBLOCK, old & ~sigset, sigset))
    T.sig_mask[t] = new & np.uint64(~UNBLOCKABLE & FULL_MASK)
    _advance(world, st, t)


def serve_sleeps(world, st, req, i: int, j: int) -> None:
    """nanosleep requests of ``i..j-1`` in numpy; the class's setitimer requests one by one."""
    T = world.tasks
    sl = np.arange(i, j)[req.op[i:j] == K.OP_NANOSLEEP]
    for r in np.arange(i, j)[req.op[i:j] != K.OP_NANOSLEEP].tolist():
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
    """futex_wait, futex_wake, lock and unlock (requests ``i..j-1``, in order) with the numba
    kernel jit.futex_batch.sim_futex_batch; a request it does not cover goes to the scalar
    server, and the kernel resumes after it."""
    seg = st.segment
    word = np.ascontiguousarray(req.args[:, 0])
    count = np.ascontiguousarray(req.args[:, 1])
    log = np.empty((j - i, F.LOG_COLS), np.int64)
    counts = np.zeros(2, np.int64)
    r = i
    while r < j:
        T, W, Q = world.tasks, world.futex_waiters, world.futex_queues
        # this segment's entries of the key -> queue dict, as an array by word
        seg_queue = np.full(len(seg.words), -1, np.int64)
        live = np.flatnonzero(Q.alive[: Q.n] & (Q.key_kind[: Q.n] == KEY_SHARED_OBJ)
                              & (Q.key_a[: Q.n] == seg.ino))
        seg_queue[(Q.key_b[live] >> np.uint64(2)).astype(np.int64)] = live
        wm, qm = W.kernel_meta(), Q.kernel_meta()
        nlog = np.zeros(1, np.int64)
        r, status = F.sim_futex_batch(
            r, j, req.task, req.op, word, count, req.flag, SEGMENT_ADDR, seg.ino,
            T.exit_state, T.run_state, T.block, T.stop_run_state, T.stop_block, T.ret, T.tids[:, 0],
            T.futex_waiter, T.futex_restart_flags, T.sim_pc, st.step_next, seg.words, seg_queue,
            W.task, W.queue, W.bitset, W.deadline, W.w_next, W.w_prev, W.uaddr, W.val, W.flags,
            W.alive, W.gen, W._free, wm,
            Q.q_head, Q.q_tail, Q.q_count, Q.key_kind, Q.key_a, Q.key_b, Q.alive, Q.gen, Q._free,
            qm,
            log, nlog, counts)
        W.set_kernel_meta(wm)
        Q.set_kernel_meta(qm)
        apply_key_log(world, log, int(nlog[0]))
        if status == F.FALLBACK:
            serve_one(world, st, req, r)
            r += 1
        elif status == F.GROW_W:
            signals_batch.grow(W)
        elif status == F.GROW_Q:
            signals_batch.grow(Q)
    st.totals["futex_waits"] += int(counts[0])
    st.totals["futex_wakes"] += int(counts[1])


def serve_clones(world, st, req, i: int, j: int) -> None:
    """clone requests ``i..j-1`` in order, each run of one kind (thread or process) in one
    ``task_clone.clone_many`` call (which gives what one clone per request gives)."""
    T = world.tasks
    live = np.flatnonzero(T.exit_state[req.task[i:j]] == 0) + i  # killed this tick: never served
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
        st.totals["clones"] += int(ok.sum())
        st.totals["syscall_errors"] += int((~ok).sum())
        _advance(world, st, req.task[rows])


def serve_waits(world, st, req, i: int, j: int) -> None:
    """wait4(-1, 0) requests ``i..j-1`` in order through task_wait.wait_many: a child ready is
    reaped (the call returns), none blocks the task (wait_system retries it when a child
    reports), no child at all is ECHILD."""
    T, G = world.tasks, world.thread_groups
    live = np.flatnonzero(T.exit_state[req.task[i:j]] == 0) + i  # killed this tick: never served
    if len(live) == 0:
        return
    rows = req.task[live]
    kind = task_wait.wait_many(world, rows, np.ones(len(rows), np.bool_),
                               lambda k: serve_one(world, st, req, int(live[k])))[0]
    st.totals["syscall_errors"] += int((kind == W.NO_CHILD).sum())
    _advance(world, st, rows[(kind == W.FOUND) | (kind == W.NO_CHILD)])
    t = rows[kind == W.NONE]
    T.run_state[t] = RunState.blocked
    T.block[t] = Block.WAIT
    T.wait_idtype[t] = P_ALL
    T.wait_id[t] = 0
    T.wait_options[t] = WEXITED
    T.wait_seq[t] = G.child_seq[T.tg[t]]


def serve_exits(world, st, req, i: int, j: int) -> None:
    """exit and exit_group requests ``i..j-1`` as task_exit.exit_task / exit_group serve them
    in order. An exit_group from a one-thread process touches only that process: those go in
    one numpy pass. The rest in order: each run of exit requests in one numpy pass (exit_task
    touches only the task's row and reads its group's exit status, which no exit changes),
    exit_group from a multi-threaded process one at a time (group_kill)."""
    T, G = world.tasks, world.thread_groups
    r = np.arange(i, j)
    t = req.task[r]
    live = T.exit_state[t] == ExitState.NONE  # killed this tick: the call never completes
    alone = live & (req.op[r] == K.OP_EXIT_GROUP) & (G.tasks_count[T.tg[t]] == 1)
    a, tg = t[alone], T.tg[t[alone]]
    first = ~G.exiting[tg]  # group_kill: the first group exit's status wins
    G.group_exit_code[tg[first]] = (req.args[r[alone], 0][first] & 0xFF) << 8
    G.exiting[tg] = True
    T.sig_pending[a] &= ~np.uint64(sigmask(SIGKILL))
    T.exit_code[a] = G.group_exit_code[tg]
    begin_exit(world, a)
    st.totals["exits"] += len(a)
    rest = r[live & ~alone]
    ex = req.op[rest] == K.OP_EXIT
    bounds = [0, *(np.flatnonzero(np.diff(ex)) + 1).tolist(), len(rest)]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if lo == hi:
            continue
        if not ex[lo]:
            for q in rest[lo:hi].tolist():
                serve_one(world, st, req, q)
            continue
        t = req.task[rest[lo:hi]]
        code = req.args[rest[lo:hi], 0]
        tg = T.tg[t]
        T.exit_code[t] = np.where(G.exiting[tg], G.group_exit_code[tg], (code & 0xFF) << 8)
        begin_exit(world, t)
        st.totals["exits"] += len(t)

