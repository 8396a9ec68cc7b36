"""I/O waits: tasks blocked until file descriptors are ready (Linux: ``poll_wqueues`` and the wait
queues of pipes and sockets; gVisor: ``waiter.Queue``).

A task blocked in read/write on a pipe, socket or host fd (``Block.IO``), or in poll, ppoll,
select, pselect6 or epoll_wait (``Block.POLL``), is a row in a blocked run state whose request is
data:

``IOWaits`` (table ``io_waits``)
    One row per file descriptor and the poll events the task waits for (``iw_fd`` -1: no fd, a
    wait for the deadline alone, as ``poll(NULL, 0, ms)``). Rows of one task are listed through
    ``iw_next`` from ``io_head``.

``IOWait`` (on tasks)
    ``io_head``: the task's first io_waits row (-1: none). ``io_deadline``: the absolute deadline
    of the blocked call on ``world.now_ns`` (``NO_DEADLINE``: none) and ``io_nr``: the syscall it
    belongs to (-1). Linux keeps a poll's end time in its frame while it sleeps and in the
    restart block across a restart; here the deadline stays in the row while the call is woken to
    look again, so the call goes on with the same deadline (see systems/io_wait.py).

Invariants (:func:`check`): every live io_waits row belongs to a live task that is blocked on
``Block.IO`` or ``Block.POLL`` (or stopped while so blocked) and is on that task's list.
Writers: systems/io_wait.py only.
"""
from __future__ import annotations

import numpy as np

from ..abi import Block, RunState
from ..world import Column, Component
from .futex import NO_DEADLINE

IOWaits = Component("IOWaits", "io_waits", {
    "iw_task": Column(np.int32, -1),
    "iw_fd": Column(np.int32, -1),  # -1: no fd (the deadline alone)
    "iw_events": Column(np.uint32, 0),  # poll(2) events wanted (POLLIN, POLLOUT, ...)
    "iw_next": Column(np.int32, -1),
}, doc="The file descriptors and events each task blocked on I/O waits for.")

IOWait = Component("IOWait", "tasks", {
    "io_head": Column(np.int32, -1),
    "io_deadline": Column(np.int64, NO_DEADLINE),  # absolute, on world.now_ns
    "io_nr": Column(np.int16, -1),  # the syscall the deadline belongs to
}, doc="A blocked I/O wait: its io_waits rows and its deadline.")

COMPONENTS = [IOWait, IOWaits]


def check(world) -> None:
    T, W = world.tasks, world.io_waits
    rows = W.live_rows()
    if len(rows) == 0:
        return
    t = W.iw_task[rows]
    assert T.alive[t].all(), "an io_waits row of a dead task"
    blocked = (T.run_state[t] == RunState.blocked) & (
        np.isin(T.block[t], (Block.IO, Block.POLL))
        | ((T.block[t] == Block.STOPPED) & np.isin(T.stop_block[t], (Block.IO, Block.POLL))))
    dying = T.exit_state[t] != 0
    assert (blocked | dying).all(), "an io_waits row of a task not blocked on I/O"
    listed = 0
    for task in np.unique(t).tolist():
        r = int(T.io_head[task])
        while r >= 0:
            assert int(W.iw_task[r]) == task, f"io_waits row {r} on the list of another task"
            listed += 1
            r = int(W.iw_next[r])
    assert listed == len(rows), "io_waits rows missing from their task's list"


IOWaits.check = check
