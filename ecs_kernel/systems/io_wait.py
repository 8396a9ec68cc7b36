"""Blocking on file readiness as rows: read/write and friends (``Block.IO``), poll, select and
epoll_wait (``Block.POLL``).

Linux: fs/select.c (do_poll, do_select: poll every file, sleep on their wait queues until one is
ready or the timeout fires, then poll again), fs/pipe.c (pipe_read and pipe_write loop on
``wait_event_interruptible``). gVisor: ``waiter.Queue`` and ``Task.Block``.

A call that cannot go on registers what it waits for (:func:`block`): one io_waits row per file
descriptor and poll events, the call's deadline on ``world.now_ns``, and the task ``blocked``.
Nothing else is kept: the call's arguments are still in the caller's registers. The task leaves
the rows in one of these ways:

    ready      :func:`wake_ready` (the I/O wait system, and the guest run loop between turns)
               finds one of its files ready (the description's ``poll()`` has one of the events,
               or POLLERR/POLLHUP/POLLNVAL) or its deadline passed: ``ret = -ERESTARTNOINTR``,
               ``runSyscallExit``. The CPU driver runs the call again, as Linux's loop looks
               again after a wakeup; it finds the file ready, or (same call, the deadline kept
               in ``io_deadline``) the deadline passed and returns what a timeout returns
    signal     task_signals.interrupt_syscall: Block.IO follows SA_RESTART (-ERESTARTSYS or
               -EINTR), Block.POLL returns -EINTR when a handler runs (Linux's -ERESTARTNOHAND);
               with no handler the task stays blocked
    killed     its exit drops the rows (:func:`release_task`)

A file that closed under the waiter counts as ready (the call, run again, reports EBADF or
POLLNVAL). Files that wait on the host (a host pipe, a terminal) say which host fds to wait on
with ``host_fds(events)``; the run loop sleeps on them when nothing can run (:func:`host_fds`).
"""
from __future__ import annotations

import numpy as np

from ..abi import Block, ERESTARTNOINTR, ExitState, POLLERR, POLLHUP, POLLNVAL, RunState
from ..components.futex import NO_DEADLINE
from ..errors import KernelError
from ..schedule import Phase, system
from . import fd_table

# Events that always count as ready, wanted or not (poll(2)).
ALWAYS = POLLERR | POLLHUP | POLLNVAL


def deadline_for(world, t: int, nr: int, timeout_ns: int | None) -> int:
    """The absolute deadline of syscall ``nr`` with ``timeout_ns`` (None: none): the one it set
    when it blocked if this is that call going on after a wakeup, else ``now + timeout``."""
    T = world.tasks
    if int(T.io_nr[t]) == nr:
        return int(T.io_deadline[t])
    if timeout_ns is None:
        return int(NO_DEADLINE)
    return world.now_ns + max(0, int(timeout_ns))


def timed_out(world, deadline: int) -> bool:
    return deadline != NO_DEADLINE and world.now_ns >= deadline


def block(world, t: int, kind: int, waits, deadline: int, nr: int) -> None:
    """Block task ``t`` (``Block.IO`` or ``Block.POLL``) in syscall ``nr`` until one of
    ``waits`` — ``(fd, events)`` pairs — is ready or ``deadline`` passes."""
    T, W = world.tasks, world.io_waits
    _drop_rows(world, t)
    waits = list(waits) or [(-1, 0)]
    prev = -1
    for fd, events in waits:
        r = W.alloc()
        W.iw_task[r] = t
        W.iw_fd[r] = fd
        W.iw_events[r] = events
        if prev < 0:
            T.io_head[t] = r
        else:
            W.iw_next[prev] = r
        prev = r
    T.io_deadline[t] = deadline
    T.io_nr[t] = nr
    T.run_state[t] = RunState.blocked
    T.block[t] = kind


def _drop_rows(world, t: int) -> None:
    T, W = world.tasks, world.io_waits
    r = int(T.io_head[t])
    while r >= 0:
        nxt = int(W.iw_next[r])
        W.free(r)
        r = nxt
    T.io_head[t] = -1


def finish(world, t: int) -> None:
    """The call ended (a result, an error, -EINTR): its deadline and rows go."""
    T = world.tasks
    if T.io_head[t] >= 0:
        _drop_rows(world, t)
    T.io_deadline[t] = NO_DEADLINE
    T.io_nr[t] = -1


def release_task(world, t: int) -> None:
    """The task exits: nothing of its waits stays."""
    finish(world, t)


def interrupt(world, t: int) -> None:
    """A signal ends the wait (task_signals.interrupt_syscall sets ``ret``)."""
    finish(world, t)


def _file_ready(world, t: int, fd: int, events: int) -> bool:
    if fd < 0:
        return False
    try:
        desc = fd_table.get_file(world, t, fd)
    except KernelError:
        return True  # closed under us: the call, run again, says so
    return bool(desc.poll() & (events | ALWAYS))


def ready(world, t: int) -> bool:
    """Is one of ``t``'s files ready, or its deadline passed?"""
    T, W = world.tasks, world.io_waits
    if timed_out(world, int(T.io_deadline[t])):
        return True
    r = int(T.io_head[t])
    while r >= 0:
        if _file_ready(world, t, int(W.iw_fd[r]), int(W.iw_events[r])):
            return True
        r = int(W.iw_next[r])
    return False


def waiting_tasks(world) -> np.ndarray:
    """Rows of the tasks blocked (not stopped) on I/O, ascending."""
    W, T = world.io_waits, world.tasks
    if W.count == 0:
        return np.zeros(0, np.int64)
    t = np.unique(W.iw_task[: W.n][W.alive[: W.n]]).astype(np.int64)
    return t[(T.run_state[t] == RunState.blocked) & np.isin(T.block[t], (Block.IO, Block.POLL))
             & (T.exit_state[t] == ExitState.NONE)]


def wake_ready(world) -> int:
    """Wake every task blocked on I/O whose file is ready or whose deadline passed: it runs its
    call again (``ret = -ERESTARTNOINTR``). Returns how many woke."""
    T = world.tasks
    woke = 0
    for t in waiting_tasks(world).tolist():
        if ready(world, t):
            _drop_rows(world, t)
            T.ret[t] = -ERESTARTNOINTR
            T.block[t] = Block.NONE
            T.run_state[t] = RunState.runSyscallExit
            woke += 1
    return woke


def next_deadline(world) -> int | None:
    """The earliest deadline of a task blocked on I/O (kernel time), or None."""
    t = waiting_tasks(world)
    if len(t) == 0:
        return None
    d = int(world.tasks.io_deadline[t].min())
    return None if d == NO_DEADLINE else d


def host_fds(world) -> tuple[list[int], list[int]]:
    """Host fds the blocked tasks' files wait on: (for reading, for writing)."""
    W = world.io_waits
    rfds: list[int] = []
    wfds: list[int] = []
    for t in waiting_tasks(world).tolist():
        r = int(world.tasks.io_head[t])
        while r >= 0:
            fd = int(W.iw_fd[r])
            if fd >= 0:
                try:
                    desc = fd_table.get_file(world, t, fd)
                except KernelError:
                    desc = None
                if desc is not None:
                    hr, hw = desc.host_fds(int(W.iw_events[r]))
                    rfds.extend(hr)
                    wfds.extend(hw)
            r = int(W.iw_next[r])
    return rfds, wfds


@system(phase=Phase.TIMERS, reads=("FDTables",), writes=("IOWait", "IOWaits", "RunState"))
def io_wait_system(world, commands) -> None:
    """Wake the tasks blocked on I/O whose files are ready or whose deadline passed."""
    if world.io_waits.count:
        wake_ready(world)


SYSTEMS = [io_wait_system]
