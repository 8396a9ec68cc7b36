"""Synthetic kill/tgkill as mail: posted in the RUN phase, sent at the end of the tick.

A synthetic task's kill or tgkill does not reach its target while the programs run: the request
is *posted* (:func:`post`: one :data:`MAIL` record naming the target, the signal and the sender's
key; the call returns 0 and the program moves on) and every record the tick posted is *sent* after
the tick's last phase (:func:`send`), in the order of the senders' keys (:func:`order`). A key is
the task's identity across shards (sim_key), and each task posts at most one record a tick, so
the order is the same whichever World a sender lives in: that is what lets one simulation run as
N Worlds (ecs_kernel/cluster/shards.py) with the counters of the unsharded run. Unsharded, a tick
sends its own mail (engine.Simulation.step); sharded, each shard splits its mail by the shard
each record is for (:func:`split`), the coordinator hands each shard what every shard addressed
to it, and the shard puts it in order (:func:`merge`) and sends it.

What a record names:

- ``random`` / ``random_process`` targets are *slots*: initial task ``j`` of the run (0..tasks-1),
  held by whichever shard holds its process. When the mail is sent, the slot's task must still be
  alive, not exiting and synthetic (else ESRCH); ``random_process`` means its group's leader.
- ``self`` / ``parent`` targets are rows (with their generation) of the sender's World, except
  init, which the first shard holds (the others hold a replica that only reaps orphans).

The signal is sent as the kernel sends one (si_code SI_KERNEL, no sender pid: the sender may be
in another World, where its pid names nothing), by the same calls an interval timer's signal
takes: systems/signals_batch.send_many with a sender of -1 (batched) or task_signals'
send_group_signal / send_task_signal (scalar), one record at a time, in order. A record that
finds no target, or a send that fails, counts as a syscall error of the tick.
"""
from __future__ import annotations

import numpy as np

from ..abi import (BLOCK_STOPPED, RUN_BLOCKED, RUN_INTERRUPT, TASK_EXIT_DEAD, TASK_EXIT_NONE,
                   TASK_EXIT_ZOMBIE)
from ..errors import E, KernelError
from ..jit import sim as K
from ..systems import signals_batch, task_signals

MAIL = np.dtype([("key", "<u8"), ("target", "<i8"), ("shard", "<i4"), ("sig", "<i4"),
                 ("tgen", "<u4"), ("op", "i1"), ("mode", "i1")], align=True)
"""One posted kill/tgkill: ``key`` the sender's sim_key (the sending order), ``target`` a slot
or a row, ``shard`` the shard that holds the target, ``sig``, ``tgen`` the target row's
generation (rows only), ``op`` 0 kill / 1 tgkill, ``mode`` one of MAIL_*. 32 bytes, aligned
(numpy sorts and gathers packed 30-byte records several times slower)."""
MAIL_SLOT, MAIL_SLOT_PROCESS, MAIL_ROW = range(3)


def init_row(world) -> int:
    return int(world.pid_namespaces.init_task[world.index.root_pidns])


def post(world, st, req, r: np.ndarray) -> None:
    """Post the kill/tgkill requests ``r`` (indices into ``req``, of live tasks) to
    ``st.outbox``."""
    if len(r) == 0:
        return
    T = world.tasks
    m = np.empty(len(r), MAIL)
    tasks = req.task[r]
    target = req.args[r, 0]
    how = st.step_a[req.step[r], 0]  # the step's target mode (jit/sim T_*)
    m["key"] = T.sim_key[tasks]
    m["target"] = target
    m["sig"] = req.args[r, 1]
    m["op"] = req.op[r] == K.OP_TGKILL
    m["tgen"] = 0
    slot = (how == K.T_RANDOM) | (how == K.T_RANDOM_PROCESS)
    m["mode"] = np.where(how == K.T_RANDOM, MAIL_SLOT,
                         np.where(how == K.T_RANDOM_PROCESS, MAIL_SLOT_PROCESS, MAIL_ROW))
    m["shard"] = st.shard
    if slot.any():
        m["shard"][slot] = st.shard_of_slots(target[slot])
    rows = ~slot & (target >= 0)
    if rows.any():
        m["tgen"][rows] = T.gen[target[rows]]
        m["shard"][rows & (target == init_row(world))] = 0  # init lives in the first shard
    st.outbox.append(m)


def order(mail: np.ndarray) -> np.ndarray:
    """``mail`` in sending order: by the sender's key. Each task posts at most once a tick and
    keys are distinct (initial keys are 0..tasks-1, clones' 63-bit hashes: two live tasks share
    one with odds of about n²/2^64), so the order is total and no stable sort is needed."""
    return mail[np.argsort(np.ascontiguousarray(mail["key"]))]


def split(mail: np.ndarray, nshards: int) -> list[np.ndarray]:
    """One shard's posted mail, split by the shard each record is addressed to (any order:
    the receiver puts its inbox in order, :func:`merge`)."""
    if nshards == 1:
        return [mail]
    to = np.ascontiguousarray(mail["shard"])
    return [mail[to == d] for d in range(nshards)]


def merge(chunks: list[np.ndarray]) -> np.ndarray:
    """A shard's inbox: the records every shard addressed to it, in sending order."""
    return order(np.concatenate(chunks)) if len(chunks) != 1 else order(chunks[0])


def route(outboxes: list[np.ndarray], nshards: int) -> tuple[list[np.ndarray], int]:
    """Every shard's posted mail (``outboxes[s]``: shard s's) as each shard's inbox, in sending
    order, and the bytes that move between shards (records posted in one shard and sent in
    another): :func:`split` in each sender, :func:`merge` in each receiver."""
    parts = [split(m, nshards) for m in outboxes]
    moved = sum(c.nbytes for s, p in enumerate(parts) for d, c in enumerate(p) if d != s)
    return [merge([p[d] for p in parts]) for d in range(nshards)], moved


def resolve(world, st, inbox: np.ndarray) -> np.ndarray:
    """The row each record's signal goes to (-1: no such task, ESRCH)."""
    T, G = world.tasks, world.thread_groups
    n = len(inbox)
    rows = np.full(n, -1, np.int64)
    tgt, mode = inbox["target"], inbox["mode"]
    i = np.flatnonzero(mode != MAIL_ROW)
    if len(i):
        lo = int(st.shard_bounds[st.shard])
        slot = tgt[i] - lo
        if ((slot < 0) | (slot >= len(st.slot_row))).any():
            raise ValueError(f"shard {st.shard} got mail for a slot it does not hold")
        r = st.slot_row[slot]
        r0 = np.maximum(r, 0)
        ok = (r >= 0) & T.alive[r0] & (T.sim_key[r0] == tgt[i].astype(np.uint64)) \
            & (T.exit_state[r0] == TASK_EXIT_NONE) & (T.sim_prog[r0] >= 0)
        r = np.where(mode[i] == MAIL_SLOT_PROCESS, G.leader[T.tg[r0]], r0)
        rows[i[ok]] = r[ok]
    j = np.flatnonzero(mode == MAIL_ROW)
    if len(j):
        r = tgt[j]
        ok = (r >= 0) & (r < T.n)
        r0 = np.where(ok, r, 0)
        ok &= T.alive[r0] & (T.gen[r0] == inbox["tgen"][j]) & (T.exit_state[r0] != TASK_EXIT_DEAD)
        rows[j[ok]] = r[ok]
    return rows


def send(world, st, inbox: np.ndarray) -> None:
    """Send ``inbox`` (this shard's mail, in sending order), one record after another."""
    n = len(inbox)
    if n == 0:
        return
    rows = resolve(world, st, inbox)
    sigs = inbox["sig"].astype(np.int64)
    tgkill = inbox["op"].astype(np.int8)

    def scalar(i: int) -> int:
        t = int(rows[i])
        if t < 0:
            return -E.ESRCH
        try:
            if tgkill[i]:
                task_signals.send_task_signal(world, t, int(sigs[i]))
            else:
                task_signals.send_group_signal(world, int(world.tasks.tg[t]), int(sigs[i]))
        except KernelError as e:
            return -e.errno
        return 0

    if st.batched:
        err = signals_batch.send_many(world, np.full(n, -1, np.int64), rows, sigs, tgkill, scalar)
    else:
        err = np.array([scalar(i) for i in range(n)], np.int64)
    st.totals["syscall_errors"] += int((err < 0).sum())


def init_gauge(world) -> str | None:
    """The run-state gauge of :data:`engine.COUNTERS` that init counts in now, if any."""
    T = world.tasks
    t = init_row(world)
    es = int(T.exit_state[t])
    if es == TASK_EXIT_ZOMBIE:
        return "zombie"
    if es == TASK_EXIT_NONE and int(T.run_state[t]) == RUN_BLOCKED:
        return "stopped" if int(T.block[t]) == BLOCK_STOPPED else "blocked"
    if es == TASK_EXIT_NONE and int(T.run_state[t]) <= RUN_INTERRUPT:
        return "running"
    return None
