"""Blocking is data: a program with a thread (or child) blocked in each blocking syscall, stopped
while they all wait. Each is a row in a blocked run state with its request in component columns
(systems/task_block.blocked lists them); then the run goes on, each is woken the Linux way (a
child's exit, a futex wake, a timer, a pipe write or read, a signal with and without SA_RESTART)
and the program's output must be what it is natively."""
import pytest

from ecs_kernel.abi import (P_PID, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, SIGPWR, SIGUSR2, Block,
                            RunState)
from ecs_kernel.cpu import task_run
from ecs_kernel.systems import task_block
from ecs_kernel.systems.task_signals import deliverable
from tests.guests.harness import run_guest, run_native

TASKS = 24  # main + 20 blocking threads + the wait4, waitid and vfork children


def _all_blocked(m) -> bool:
    T = m.world.tasks
    rows = [r for r in m.tasks if T.alive[r]]
    return (len(rows) == TASKS and all(T.run_state[r] == RunState.blocked for r in rows)
            and T.block[m.main_row] == Block.SLEEP)


def _check_rows(m, seen):
    w = m.world
    T = w.tasks
    now = w.now_ns
    listed = task_block.blocked(w)
    assert {b.row for b in listed} == {r for r in m.tasks if T.alive[r]}
    by = {}
    for b in listed:
        by.setdefault(b.block, []).append(b)
    counts = {k: len(v) for k, v in by.items()}
    assert counts == {Block.SLEEP: 3, Block.FUTEX: 2, Block.IO: 7, Block.POLL: 5,
                      Block.SIGSUSPEND: 2, Block.SIGTIMEDWAIT: 2, Block.WAIT: 2,
                      Block.VFORK: 1}, counts
    # the requests, as columns hold them
    futex = by[Block.FUTEX]
    assert len({b.request["uaddr"] for b in futex}) == 2
    assert sorted(b.request["deadline"] is None for b in futex) == [False, True]
    assert all(b.request["deadline"] > now for b in by[Block.SLEEP])
    io = sorted(b.request["fds"][0][1] for b in by[Block.IO])
    assert io.count(POLLIN | POLLRDNORM) == 6 and io.count(POLLOUT | POLLWRNORM) == 1
    assert all(len(b.request["fds"]) == 1 and b.request["fds"][0][0] >= 0 for b in by[Block.IO])
    polls = by[Block.POLL]
    assert sorted(b.request["deadline"] is None for b in polls) == [False, False, True, True, True]
    assert all(b.request["deadline"] is None or b.request["deadline"] > now for b in polls)
    sets = sorted(b.request["set"] for b in by[Block.SIGTIMEDWAIT])
    assert sets == sorted([1 << (SIGUSR2 - 1), 1 << (SIGPWR - 1)])
    assert sorted(b.request["deadline"] is None for b in by[Block.SIGTIMEDWAIT]) == [False, True]
    for b in by[Block.WAIT]:
        assert b.request["idtype"] == P_PID and b.request["id"] > 0
    child = by[Block.VFORK][0].request["child"]
    assert child >= 0 and T.block[child] == Block.IO
    # The CPU driver holds engines and CPU contexts, nothing of the kernel's: a guest thread's
    # Python object names its row, World and address space and keeps its registers (and id
    # caches), no wait, restart, signal or name state.
    for task in m.tasks.values():
        assert set(vars(task)) <= {"world", "row", "machine", "_fs", "mm", "ctx", "initial_regs",
                                   "pid_cache", "tid_cache"}, vars(task)
    seen.append(counts)


@pytest.mark.parametrize("libc", ["gcc", "musl"])
def test_every_blocking_call_is_a_row_and_wakes_as_on_linux(guest_build, libc):
    p = guest_build("blocking", libc)
    native = run_native([p])
    assert native.status == 0, native.stderr
    seen = []
    guest = run_guest([p], stop_at=(_all_blocked, lambda m: _check_rows(m, seen)))
    assert seen, "the run never had every task blocked at once"
    assert guest.stdout.decode() == native.stdout.decode()
    assert guest.status == native.status == 0, guest.stderr


def _both_forms(m):
    """The run loop's questions of every task asked both ways (task_run.FEW_TASKS: a Python loop
    over the tasks, or numpy over the columns)."""
    T = m.world.tasks
    saved = task_run.FEW_TASKS
    out = []
    try:
        for few in (1 << 30, 0):
            task_run.FEW_TASKS = few
            out.append((m._runnable_rows(), m._group_alive(int(T.tg[m.main_row])),
                        m.exits_pending(), m.choice_ahead()))
        may = m._blocked_may_take_signal()  # (numpy's: FEW_TASKS is 0)
    finally:
        task_run.FEW_TASKS = saved
    return out, may, any(T.alive[r] and T.run_state[r] == RunState.blocked and T.exit_state[r] == 0
                         and deliverable(m.world, r) for r in m.tasks)


@pytest.mark.parametrize("program, args", [("blocking", []), ("pingpong", ["300", "12"])])
def test_the_run_loop_asks_the_same_of_a_few_tasks_and_of_many(guest_build, program, args):
    """With many tasks the run loop asks who can run, who is exiting and who may take a signal
    over the columns at once (a turn costs the same with 20 or 200 threads); with a few, in a
    Python loop. At every turn of a program with 24 tasks blocked every way (signals with
    handlers, sigtimedwait, stops, exits) and of a futex ping-pong beside 12 blocked threads,
    both forms give the same answers, and the columns' signal check never misses a task that
    has a signal to take."""
    p = guest_build(program)
    turns = []

    def until(m):
        (loop, columns), may, some = _both_forms(m)
        assert loop == columns
        assert may or not some
        turns.append(len(m.tasks))
        return False

    guest = run_guest([p, *args], stop_at=(until, lambda m: None))
    native = run_native([p, *args])
    assert guest.status == native.status == 0, guest.stderr
    if program == "blocking":
        assert guest.stdout == native.stdout
    assert max(turns) > task_run.FEW_TASKS and len(turns) > 50
