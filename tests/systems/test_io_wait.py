"""io_wait.waiting, the grouping every turn of the run loop asks for, against a plain loop over
the tasks (its form before it was one sort), on random io_waits tables and task states; and the
quiet look (wake_ready skips polling while no wait queue woke) against a look at every file."""
import numpy as np
from hypothesis import given, settings, strategies as st

from ecs_kernel.abi import Block, ExitState, NR_POLL, O_NONBLOCK, POLLIN, POLLOUT, RunState
from ecs_kernel.errors import KernelError
from ecs_kernel.fs.pipe import PipeFile, make_pipe
from ecs_kernel.kernel import Kernel
from ecs_kernel.net.inet import InetSocket
from ecs_kernel.net.unix import UnixSocket
from ecs_kernel.syscalls.sys_epoll import EpollFile, EventFile
from ecs_kernel.systems import fd_table, io_wait

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


# -- the quiet look: a look skipped while no queue woke would have woken nobody ------------------

def _full_look(world) -> set[int]:
    """The tasks a look that polls every waiter would wake now (wake_ready without its quiet)."""
    W = world.io_waits
    ready = set()
    for t, mine in io_wait.waiting(world).items():
        if io_wait.timed_out(world, int(W.iw_deadline[mine[0]])) or any(
                io_wait._look(world, t, int(W.iw_fd[r]), int(W.iw_events[r]),
                              int(W.iw_lock_gen[r]))[0] for r in mine.tolist()):
            ready.add(t)
    return ready


EVENTS = [POLLIN, POLLOUT, POLLIN | POLLOUT]
OPS = ["write", "read", "grow", "ev_write", "ev_read", "close", "time", "block", "block"]


def _files():
    """A kernel whose init holds two pipes (fds 0-3, non-blocking) and an eventfd (fd 4), and
    four tasks forked from it (sharing the descriptions, as a fork does)."""
    k = Kernel()
    w = k.world
    (r0, w0), (r1, w1) = make_pipe(O_NONBLOCK), make_pipe(O_NONBLOCK)
    ev = EventFile(0, O_NONBLOCK, False)
    for f in (r0, w0, r1, w1, ev):
        fd_table.new_fd(w, 0, f)
    tasks = [k.task(k.fork(k.init_task)) for _ in range(4)]
    return k, w, tasks, [(r0, w0), (r1, w1)], ev


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_skipped_look_would_have_woken_nobody(data):
    """Tasks blocked in poll on pipes and an eventfd (readiness_notified files), and the other
    tasks writing, reading, resizing, closing fds and time passing: every wake_ready wakes
    exactly the tasks a look at every waiter's files finds ready, quiet or not."""
    k, w, tasks, pipes, ev = _files()
    T = w.tasks

    def block(t):
        io_wait.finish(w, t)
        fds = data.draw(st.lists(st.integers(0, 4), min_size=1, max_size=3, unique=True))
        timeout = data.draw(st.sampled_from([None, 10, 1000]))
        deadline = io_wait.NO_DEADLINE if timeout is None else w.now_ns + timeout
        # (POLLOUT on a pipe's write end only: one that cannot fill is ready at once)
        io_wait.block(w, t, Block.POLL, [(fd, data.draw(st.sampled_from(EVENTS)) if fd in (1, 3)
                                          else POLLIN) for fd in fds], int(deadline), NR_POLL)

    for t in tasks:
        block(t)
    for op in data.draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=60)):
        r, wr = pipes[data.draw(st.integers(0, 1))]
        try:
            if op == "write":
                wr.write(bytes(data.draw(st.sampled_from([1, 4096, 70000]))))
            elif op == "read":
                r.read(data.draw(st.sampled_from([1, 4096, 70000])))
            elif op == "grow":
                r.pipe.set_capacity(data.draw(st.sampled_from([4096, 65536, 1 << 20])))
            elif op == "ev_write":
                ev.write((1).to_bytes(8, "little"))
            elif op == "ev_read":
                ev.read(8)
        except KernelError:
            pass  # EAGAIN, EBUSY, EPIPE: nothing moved
        if op == "close":
            t = data.draw(st.sampled_from(tasks))
            try:
                fd_table.close_fd(w, t, data.draw(st.integers(0, 4)))
            except KernelError:
                pass
        elif op == "time":
            w.now_ns += data.draw(st.sampled_from([1, 10, 1000]))
        elif op == "block":  # the woken run their calls again and wait anew
            for t in tasks:
                if T.run_state[t] == RunState.runSyscallExit:
                    block(t)
        # the run loop looks after every step (twice: the second finds what the first left)
        for _ in range(2):
            want = _full_look(w)
            before = {t for t in tasks if T.run_state[t] == RunState.runSyscallExit}
            assert io_wait.wake_ready(w) == len(want)
            assert {t for t in tasks if T.run_state[t] == RunState.runSyscallExit} - before == want
    for t in tasks:  # leave the World's invariants whole for its checks
        io_wait.finish(w, t)
        T.run_state[t], T.block[t] = RunState.runApp, Block.NONE


def test_an_unchanged_look_polls_nothing(monkeypatch):
    """The quiet look holds: a second wake_ready with nothing woken polls no file, and a write
    to one of the pipes makes the next one look (and wake its readers)."""
    k, w, tasks, pipes, ev = _files()
    for t in tasks:
        io_wait.block(w, t, Block.POLL, [(0, POLLIN), (4, POLLIN)], int(io_wait.NO_DEADLINE),
                      NR_POLL)
    assert io_wait.wake_ready(w) == 0
    looks = []
    look = io_wait._look
    monkeypatch.setattr(io_wait, "_look", lambda *a: looks.append(a) or look(*a))
    assert io_wait.wake_ready(w) == 0 and io_wait.next_deadline(w) is None
    assert looks == [] and io_wait.host_fds(w) == ([], [])
    pipes[0][1].write(b"x")
    assert io_wait.wake_ready(w) == len(tasks) and len(looks) == len(tasks)
    for t in tasks:
        io_wait.finish(w, t)
        w.tasks.run_state[t], w.tasks.block[t] = RunState.runApp, Block.NONE


def test_a_resize_that_makes_room_wakes_a_writer():
    """F_SETPIPE_SZ growing a full pipe makes it writable: the writer blocked in poll wakes at the
    next look, quiet or not (pipe_resize_ring wakes wr_wait)."""
    k, w, tasks, pipes, ev = _files()
    r, wr = pipes[0]
    assert wr.write(bytes(70000)) == 65536  # full
    io_wait.block(w, tasks[0], Block.POLL, [(1, POLLOUT)], int(io_wait.NO_DEADLINE), NR_POLL)
    assert io_wait.wake_ready(w) == 0 and io_wait.wake_ready(w) == 0
    r.pipe.set_capacity(1 << 20)
    assert _full_look(w) == {tasks[0]} and io_wait.wake_ready(w) == 1
    io_wait.finish(w, tasks[0])
    w.tasks.run_state[tasks[0]], w.tasks.block[tasks[0]] = RunState.runApp, Block.NONE


def test_the_files_that_say_they_are_announced_wait_on_nothing_else():
    """A readiness_notified file waits on no host fd (the quiet look answers host_fds for its
    waiters without asking them); the one whose readiness also moves with time (InetSocket:
    its poll reads the kernel clock) says when in wake_at, which the quiet look keeps."""
    from ecs_kernel.fs.file import FileDescription

    def subclasses(c):
        for s in c.__subclasses__():
            yield s
            yield from subclasses(s)
    # (EpollFile's is a property, its interests' answer: epoll's host_fds and wake_at are theirs)
    announced = [c for c in subclasses(FileDescription) if c.readiness_notified is True]
    assert {PipeFile, EventFile, UnixSocket, InetSocket} <= set(announced)
    assert isinstance(EpollFile.__dict__["readiness_notified"], property)
    for c in announced:
        assert c.host_fds is FileDescription.host_fds, c
        timed = c.wake_at is not FileDescription.wake_at or \
            c.poll_task is not FileDescription.poll_task
        assert not timed or c is InetSocket, c
