"""ptrace's kernel half on synthetic tasks: links and their counts, signal-delivery stops as rows
that the tracer's wait reports, the tracer's choice of signal, a zombie tracee seen by its tracer
before its real parent, EXITKILL, and a stopped tracee across a checkpoint."""
import pytest

from ecs_kernel.abi import (WALL, WNOHANG, Block, PTRACE_O_EXITKILL, RunState, SIGKILL,
                            SIGUSR1, SIGUSR2)
from ecs_kernel.components import ptrace as P
from ecs_kernel.errors import KernelError
from ecs_kernel.kernel import Kernel
from ecs_kernel.schedule import check_sanity
from ecs_kernel.systems import ptrace
from ecs_kernel.testing.compare import assert_same_worlds
from ecs_kernel.world import World


def traced_pair():
    """init forks a tracer and a tracee (siblings): the tracer SEIZEs the tracee."""
    k = Kernel()
    tracer = k.fork(k.init_task)
    tracee = k.fork(k.init_task)
    ptrace.attach(k.world, k.task(tracer), k.task(tracee), True)
    return k, tracer, tracee


def test_a_link_is_counted_and_a_second_tracer_or_the_group_itself_is_refused():
    k, tracer, tracee = traced_pair()
    w = k.world
    assert w.tasks.ptrace_tracees[k.task(tracer)] == 1 and w.index.ptraced == 1
    with pytest.raises(KernelError) as e:
        ptrace.attach(w, k.task(k.init_task), k.task(tracee), True)
    assert e.value.errno == 1
    with pytest.raises(KernelError):
        ptrace.attach(w, k.task(tracer), k.task(tracer), False)
    check_sanity(w)


def test_a_signal_stops_the_tracee_and_the_tracer_chooses_what_it_becomes():
    k, tracer, tracee = traced_pair()
    w = k.world
    t = k.task(tracee)
    k.kill(k.init_task, k.getpid(tracee), SIGUSR1)
    k.tick()
    assert w.tasks.run_state[t] == RunState.blocked and w.tasks.block[t] == Block.PTRACE
    assert w.tasks.ptrace_stop[t] == P.STOP_SIGNAL
    res = k.wait4(tracer, -1, WALL)
    assert res.pid == k.getpid(tracee) and res.status == (SIGUSR1 << 8) | 0x7F
    assert k.wait4(tracer, -1, WALL | WNOHANG) is None  # reported once
    check_sanity(w)
    # resumed with SIGUSR2 instead: its default action kills the tracee
    ptrace.resume(w, t, P.RESUME_CONT, SIGUSR2)
    k.tick(2)
    assert k.wait4(tracer, -1, WALL).status == SIGUSR2  # the exit, reported to the tracer
    pid = k.getpid(tracee)
    res = k.wait4(k.init_task, -1, 0)  # and then to the real parent
    assert res.pid == pid and res.status == SIGUSR2
    check_sanity(w)


def test_a_suppressed_signal_is_gone():
    k, tracer, tracee = traced_pair()
    w = k.world
    t = k.task(tracee)
    k.kill(k.init_task, k.getpid(tracee), SIGUSR1)
    k.tick()
    ptrace.resume(w, t, P.RESUME_CONT, 0)
    k.tick(2)
    assert w.tasks.run_state[t] == RunState.runApp and w.tasks.exit_state[t] == 0


def test_the_real_parent_does_not_see_a_zombie_tracee_before_its_tracer():
    k, tracer, tracee = traced_pair()
    k.exit_group(tracee, 4)
    k.tick(2)
    assert k.wait4(k.init_task, k.getpid(tracee), WNOHANG) is None
    assert k.wait4(tracer, -1, WALL).status == 4 << 8
    assert k.wait4(k.init_task, k.getpid(tracee), 0).status == 4 << 8
    check_sanity(k.world)


def test_exitkill_takes_the_tracee_with_its_tracer():
    k = Kernel()
    tracer = k.fork(k.init_task)
    tracee = k.fork(k.init_task)
    w = k.world
    pid = k.getpid(tracee)
    ptrace.attach(w, k.task(tracer), k.task(tracee), True, PTRACE_O_EXITKILL)
    k.exit_group(tracer, 0)
    k.tick(3)
    assert k.wait4(k.init_task, pid, 0).status == SIGKILL
    assert w.index.ptraced == 0
    check_sanity(w)


def test_a_stopped_tracee_comes_back_from_a_checkpoint():
    k, tracer, tracee = traced_pair()
    k.kill(k.init_task, k.getpid(tracee), SIGUSR1)
    k.tick()
    back = World.restore(k.checkpoint())
    assert_same_worlds(k.world, back, ("saved", "restored"))
    check_sanity(back)
    kb = Kernel(world=back)
    assert kb.wait4(tracer, -1, WALL).status == (SIGUSR1 << 8) | 0x7F
