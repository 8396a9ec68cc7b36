"""I/O waits: tasks blocked until file descriptors are ready (Linux: ``poll_wqueues`` and the wait
queues of pipes and sockets; gVisor: ``waiter.Queue``).

A task blocked in read/write on a pipe, socket or host fd (``Block.IO``), or in poll, ppoll,
select, pselect6 or epoll_wait (``Block.POLL``), is a row in a blocked run state whose request is
rows of one table, ``io_waits``:

    one row per file descriptor and the poll events the task waits for (``iw_fd`` -1: no fd, a
    wait for the deadline alone, as ``poll(NULL, 0, ms)``), each carrying the call's absolute
    deadline on ``world.now_ns`` (``NO_DEADLINE``: none), its syscall number and how many bytes
    it had already moved (a blocking write writes everything, as pipe_write and sock_sendmsg do:
    run again, it goes on after them; a handler that interrupts it makes it return that count).

The rows outlive the wait by one step: woken, the task runs its call again (Linux's loop looks
again after a wakeup), and the call finds its deadline there and goes on with it (Linux keeps a
poll's end time in its frame while it sleeps, and in the restart block across a restart). The
call's end (a result, an error, a handler) frees them. Nothing is kept per task: synthetic tasks,
which never wait on files, pay no bytes for this.

Invariants (:func:`check`): every live io_waits row belongs to a live task that is blocked on
``Block.IO`` or ``Block.POLL`` (or stopped while so blocked), or woken and about to run its call
again (runSyscallExit), or dying; a task's rows agree on the deadline and the syscall.
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
    "iw_deadline": Column(np.int64, NO_DEADLINE),  # the call's, absolute, on world.now_ns
    "iw_nr": Column(np.int16, -1),  # the syscall the wait belongs to
    "iw_done": Column(np.int64, 0),  # bytes the call moved before it blocked (a write goes on)
    "iw_lock_gen": Column(np.int64, 0),  # a lock wait: the inode's lock generation (fs/locks.py)
}, doc="The file descriptors and events each task blocked on I/O waits for, and its deadline.")

COMPONENTS = [IOWaits]


def check(world) -> None:
    T, W = world.tasks, world.io_waits
    rows = W.live_rows()
    if len(rows) == 0:
        return
    t = W.iw_task[rows]
    assert T.alive[t].all(), "an io_waits row of a dead task"
    io = (Block.IO, Block.POLL)
    blocked = (T.run_state[t] == RunState.blocked) & (
        np.isin(T.block[t], io) | ((T.block[t] == Block.STOPPED) & np.isin(T.stop_block[t], io)))
    woken = T.run_state[t] == RunState.runSyscallExit
    dying = T.exit_state[t] != 0
    assert (blocked | woken | dying).all(), "an io_waits row of a task not waiting on I/O"
    for task in np.unique(t).tolist():
        mine = rows[t == task]
        assert len(set(W.iw_deadline[mine].tolist())) == 1 and len(set(W.iw_nr[mine].tolist())) == 1, \
            f"task {task}'s io_waits rows disagree on the deadline or the call"


IOWaits.check = check
