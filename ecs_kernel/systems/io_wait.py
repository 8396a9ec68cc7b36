"""Blocking on file readiness as rows: read/write and friends (``Block.IO``), poll, select and
epoll_wait (``Block.POLL``).

Linux: fs/select.c (do_poll, do_select: poll every file, sleep on their wait queues until one is
ready or the timeout fires, then poll again), fs/pipe.c (pipe_read and pipe_write loop on
``wait_event_interruptible``). gVisor: ``waiter.Queue`` and ``Task.Block``.

A call that cannot go on registers what it waits for (:func:`block`): one io_waits row per file
descriptor and poll events, with the call's deadline on ``world.now_ns``, and the task ``blocked``.
Nothing else is kept: the call's arguments are still in the caller's registers. The task leaves
the rows in one of these ways:

    ready      :func:`wake_ready` (the I/O wait system, and the guest run loop between turns)
               finds one of its files ready (the description's ``poll()`` has one of the events,
               or POLLERR/POLLHUP/POLLNVAL) or its deadline passed: ``ret = -ERESTARTNOINTR``,
               ``runSyscallExit``. The CPU driver runs the call again, as Linux's loop looks
               again after a wakeup; it finds the file ready, or (same call: the deadline is
               still in its rows) the deadline passed and returns what a timeout returns
    signal     task_signals.interrupt_syscall: Block.IO follows SA_RESTART (-ERESTARTSYS or
               -EINTR), Block.POLL returns -EINTR when a handler runs (Linux's -ERESTARTNOHAND);
               with no handler the task stays blocked
    killed     its exit drops the rows (:func:`release_task`)

A file that closed under the waiter counts as ready (the call, run again, reports EBADF or
POLLNVAL). Files that wait on the host (a host pipe, a terminal) say which host fds to wait on
with ``host_fds(events)``; the run loop sleeps on them when nothing can run (:func:`host_fds`).

The run loop asks :func:`wake_ready` several times a turn, and polling every waiter's files costs
~18 us a waiter. A look that woke nobody is remembered (:func:`_quiet`) when every waiter waits on
its deadline or on files whose every readiness gain counts a wakeup
(``FileDescription.readiness_notified``: pipes, eventfds, sockets, an epoll of those): until
one is counted (``WaitQueue.wakeups``: a queue woken, a file's last reference dropped, a socket
call, an epoll_ctl), a deadline or a file's ``wake_at`` passes (a TCP cork's ceiling) or the
waiters change, another look would find the same, and is skipped. This is Linux's model, where a
waiter sleeps until its queue's wake_up. Timerfds, signalfds, host files and the rest keep the
look every turn.
"""
from __future__ import annotations

import numpy as np

from ..abi import Block, ERESTARTNOINTR, ExitState, POLLERR, POLLHUP, POLLNVAL, RunState
from ..components.futex import NO_DEADLINE
from ..errors import KernelError
from ..fs.file import WaitQueue
from ..schedule import Phase, system
from ..fs.locks import LOCK_WAIT
from ..fs.pipe import FIFO_OPEN_WAIT
from ..net.socket import RCV_LOWAT_WAIT
from . import fd_table

# Events that always count as ready, wanted or not (poll(2)).
ALWAYS = POLLERR | POLLHUP | POLLNVAL


def _rows(world, t: int) -> np.ndarray:
    """The io_waits rows of task ``t`` (the table holds only guests' waits: a scan is cheap)."""
    W = world.io_waits
    n = W.n
    return np.flatnonzero(W.alive[:n] & (W.iw_task[:n] == t))


def deadline_for(world, t: int, nr: int, timeout_ns: int | None) -> int:
    """The absolute deadline of syscall ``nr`` with ``timeout_ns`` (None: none): the one it set
    when it blocked if this is that call running again after a wakeup, else ``now + timeout``."""
    W = world.io_waits
    if W.count:
        mine = _rows(world, t)
        if len(mine) and int(W.iw_nr[mine[0]]) == nr:
            return int(W.iw_deadline[mine[0]])
    if timeout_ns is None:
        return int(NO_DEADLINE)
    return world.now_ns + max(0, int(timeout_ns))


def timed_out(world, deadline: int) -> bool:
    return deadline != NO_DEADLINE and world.now_ns >= deadline


def block(world, t: int, kind: int, waits, deadline: int, nr: int, done: int = 0,
          lock_gen: int = 0) -> None:
    """Block task ``t`` (``Block.IO`` or ``Block.POLL``) in syscall ``nr`` until one of
    ``waits`` — ``(fd, events)`` pairs — is ready or ``deadline`` passes; ``done``: the bytes the
    call moved so far."""
    T, W = world.tasks, world.io_waits
    _free_rows(world, t)
    for fd, events in list(waits) or [(-1, 0)]:
        r = W.alloc()
        W.iw_task[r] = t
        W.iw_fd[r] = fd
        W.iw_events[r] = events
        W.iw_deadline[r] = deadline
        W.iw_nr[r] = nr
        W.iw_done[r] = done
        W.iw_lock_gen[r] = lock_gen
        if kind == Block.IO and fd >= 0:
            try:  # the call holds its file while it waits (Linux: fdget to the call's return)
                fd_table.hold(world, t, fd, fd_table.get_file(world, t, fd))
            except KernelError:
                pass
    T.run_state[t] = RunState.blocked
    T.block[t] = kind


def progress(world, t: int) -> int:
    """The bytes the call of ``t`` moved before it blocked, when this is that call running again
    after a wakeup (its rows outlive the wait by one step), else 0."""
    W = world.io_waits
    if W.count:
        mine = _rows(world, t)
        if len(mine):
            return int(W.iw_done[mine[0]])
    return 0


def pending(world, t: int) -> bool:
    """Has ``t`` a call that waited on files and is not over yet?"""
    return bool(world.io_waits.count) and len(_rows(world, t)) > 0


def wait_gen(world, t: int) -> int:
    """The generation the call of ``t`` waited on (a lock's, a FIFO partner counter), when this
    is that call running again after a wakeup, else 0."""
    W = world.io_waits
    if W.count:
        mine = _rows(world, t)
        if len(mine):
            return int(W.iw_lock_gen[mine[0]])
    return 0


def _free_rows(world, t: int) -> None:
    W = world.io_waits
    if W.count:
        W.free_many(_rows(world, t))


def finish(world, t: int) -> None:
    """The call ended (a result, an error, -EINTR, a handler first): its rows go, and so do
    the files it held (fd_table.hold): an open's waiting end closes if the call did not take it."""
    _free_rows(world, t)
    fd_table.release_held(world, t)


def release_task(world, t: int) -> None:
    """The task exits: nothing of its waits stays."""
    finish(world, t)


def interrupt(world, t: int) -> None:
    """A signal ends the wait (task_signals.interrupt_syscall sets ``ret``); the time its
    deadline had left goes to ``sleep_rem_ns`` (ppoll and pselect6 write it back, as
    poll_select_finish does)."""
    W = world.io_waits
    if W.count:
        mine = _rows(world, t)
        if len(mine):
            d = int(W.iw_deadline[mine[0]])
            world.tasks.sleep_rem_ns[t] = 0 if d == NO_DEADLINE else max(0, d - world.now_ns)
    finish(world, t)


def remaining(world, t: int, nr: int, timeout_ns: int | None) -> int:
    """What is left of call ``nr``'s timeout now (its deadline if it blocked and was woken)."""
    if timeout_ns is None:
        return 0
    return max(0, deadline_for(world, t, nr, timeout_ns) - world.now_ns)


def _look(world, t: int, fd: int, events: int, lock_gen: int) -> tuple[bool, bool, int]:
    """(ready, announced, when): is the wait on ``fd`` over; would any change that ends it,
    but time, wake a wait queue (so that, while none is woken, looking again is not needed);
    and when time alone ends it (its file's ``wake_at``, NO_DEADLINE if never)?"""
    never = int(NO_DEADLINE)
    if events & FIFO_OPEN_WAIT:  # an open waiting for the FIFO's partner (fs/pipe.py)
        f = fd_table.opening(world, t)
        return f is None or f.partner_arrived(lock_gen), False, never
    if fd < 0:
        return False, True, never  # the deadline alone
    try:
        desc = fd_table.get_file(world, t, fd)
    except KernelError:
        return True, False, never  # closed under us: the call, run again, says so
    if events & LOCK_WAIT:  # a lock wait (fs/locks.py): woken by any change of the inode's locks
        return int(desc.inode.locks.generation) != lock_gen, False, never
    announced = desc.readiness_notified
    if events & RCV_LOWAT_WAIT:  # MSG_WAITALL (net/socket.py): the bytes it wants, or no more
        ready = desc.wait_all_ready(lock_gen)
    else:
        ready = bool(desc.poll_task(world, t) & (events | ALWAYS))
    # (asked after the poll, which may start a clock: a TCP cork's ceiling)
    when = desc.wake_at(world) if announced and not ready else None
    return ready, announced, never if when is None else int(when)


# Tests turn this on (tests/guests/conftest.py): a look that the quiet would skip is taken
# anyway and must wake nobody, so that a file that says it is readiness_notified and became
# ready without a wakeup is named at once rather than sleeping through it.
VERIFY_QUIET = False


def _verify_quiet(world) -> None:
    W = world.io_waits
    for t, mine in waiting(world).items():
        for r in mine.tolist():
            fd = int(W.iw_fd[r])
            if _look(world, t, fd, int(W.iw_events[r]), int(W.iw_lock_gen[r]))[0]:
                try:
                    what = type(fd_table.get_file(world, t, fd)).__name__
                except KernelError:
                    what = "closed"
                raise AssertionError(f"task row {t}'s fd {fd} ({what}) became ready with no "
                                     "wakeup counted: the quiet look would sleep through it")


def _waiters_key(world) -> bytes:
    """Who waits and how, as bytes: the io_waits rows (their generations change when a call
    blocks again) and their tasks' run states (a stopped task that goes on waits again)."""
    W, T = world.io_waits, world.tasks
    rows = W.live_rows()
    ts = W.iw_task[rows]
    return b"".join((rows.tobytes(), W.gen[rows].tobytes(), T.run_state[ts].tobytes(),
                     T.block[ts].tobytes(), T.exit_state[ts].tobytes()))


def _quiet(world) -> int | None:
    """The earliest deadline of the waiters if the last look woke nobody, found every wait
    announced (see the module's doc), and since then no queue woke and the waiters are the same;
    else None. (Not kernel state: a restored World looks at every waiter once.)"""
    q = world.io_waits.__dict__.get("_quiet")
    if q is None or q[1] != WaitQueue.wakeups or q[0] != _waiters_key(world):
        return None
    return q[2]


def waiting(world) -> dict[int, np.ndarray]:
    """Task row -> its io_waits rows, for the tasks blocked (not stopped) on I/O, by row."""
    W, T = world.io_waits, world.tasks
    if W.count == 0:
        return {}
    rows = W.live_rows()
    tasks = W.iw_task[rows]
    # grouped by task in one sort (a stable one keeps each task's rows in row order), not a
    # mask per task: every turn of the run loop asks this of every waiter
    order = np.argsort(tasks, kind="stable")
    rows, tasks = rows[order], tasks[order]
    firsts = np.flatnonzero(np.r_[True, tasks[1:] != tasks[:-1]])
    ts = tasks[firsts]
    ok = (T.run_state[ts] == RunState.blocked) & \
        ((T.block[ts] == Block.IO) | (T.block[ts] == Block.POLL)) & \
        (T.exit_state[ts] == ExitState.NONE)
    ends = np.r_[firsts[1:], len(rows)]
    return {t: rows[a:b] for t, a, b, keep in zip(ts.tolist(), firsts.tolist(), ends.tolist(),
                                                   ok.tolist()) if keep}


def wake_ready(world) -> int:
    """Wake every task blocked on I/O whose file is ready or whose deadline passed: it runs its
    call again (``ret = -ERESTARTNOINTR``; its rows stay, for the deadline). Returns how many
    woke."""
    T, W = world.tasks, world.io_waits
    if W.count == 0:
        return 0
    wake_ns = _quiet(world)
    if wake_ns is not None and world.now_ns < wake_ns:
        if VERIFY_QUIET:
            _verify_quiet(world)
        return 0  # nothing woke a queue and no deadline came: the last look stands
    wakeups = WaitQueue.wakeups  # (before the polls: a wakeup during them makes the next look)
    woke = 0
    announced = True
    wake_ns = int(NO_DEADLINE)
    for t, mine in waiting(world).items():
        deadline = int(W.iw_deadline[mine[0]])
        ready = timed_out(world, deadline)
        wake_ns = min(wake_ns, deadline)
        for r in () if ready else mine.tolist():
            ready, told, when = _look(world, t, int(W.iw_fd[r]), int(W.iw_events[r]),
                                      int(W.iw_lock_gen[r]))
            announced &= told
            wake_ns = min(wake_ns, when)
            if ready:
                break
        if ready:
            T.ret[t] = -ERESTARTNOINTR
            T.block[t] = Block.NONE
            T.run_state[t] = RunState.runSyscallExit
            woke += 1
    W._quiet = (_waiters_key(world), wakeups, wake_ns) if announced and not woke else None
    return woke


def wake_at(world, t: int, rows) -> int:
    """When task ``t``'s wait on ``rows`` ends by itself: its deadline, or sooner a waited file
    that becomes ready with time (a timerfd's expiry: ``FileDescription.wake_at``)."""
    W = world.io_waits
    d = int(W.iw_deadline[rows[0]])
    for r in rows:
        fd = int(W.iw_fd[r])
        if fd < 0:
            continue
        try:
            w = fd_table.get_file(world, t, fd).wake_at(world)
        except KernelError:
            continue
        if w is not None and w < d:
            d = int(w)
    return d


def next_deadline(world) -> int | None:
    """The earliest time (kernel clock) a task blocked on I/O wakes by itself, or None."""
    if world.io_waits.count == 0:
        return None
    quiet = _quiet(world)
    if quiet is not None:  # (the waiters' deadlines and their files' wake_at, as below)
        return None if quiet == NO_DEADLINE else quiet
    ds = [wake_at(world, t, m.tolist()) for t, m in waiting(world).items()]
    d = min(ds) if ds else int(NO_DEADLINE)
    return None if d == NO_DEADLINE else d


def host_fds(world) -> tuple[list[int], list[int]]:
    """Host fds the blocked tasks' files wait on: (for reading, for writing)."""
    W = world.io_waits
    rfds: list[int] = []
    wfds: list[int] = []
    if W.count == 0 or _quiet(world) is not None:
        return rfds, wfds  # (an announced file waits on nothing of the host's)
    for t, mine in waiting(world).items():
        for r in mine.tolist():
            fd = int(W.iw_fd[r])
            if fd < 0:
                continue
            try:
                desc = fd_table.get_file(world, t, fd)
            except KernelError:
                continue
            hr, hw = desc.host_fds(int(W.iw_events[r]))
            rfds.extend(hr)
            wfds.extend(hw)
    return rfds, wfds


@system(phase=Phase.TIMERS, reads=("FDTables", "IOWaits"), writes=("RunState",))
def io_wait_system(world, commands) -> None:
    """Wake the tasks blocked on I/O whose files are ready or whose deadline passed."""
    if world.io_waits.count:
        wake_ready(world)


SYSTEMS = [io_wait_system]
