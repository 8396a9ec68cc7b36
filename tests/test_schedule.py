"""Systems, phases and the sanitizer."""
import pytest

from ecs_kernel.kernel import Kernel, standard_schedule
from ecs_kernel.schedule import Phase, SanityError, Schedule, check_sanity, system
from ecs_kernel.world import Settings


def test_phases_run_in_documented_order():
    order = [s.phase for s in standard_schedule().systems]
    assert order == sorted(order)
    names = [s.name for s in standard_schedule().systems]
    core = ["interrupt_system", "signal_system", "exit_system", "wait_system"]
    assert [n for n in names if n in core] == core  # others may sit between them


def test_sanitizer_catches_a_write_to_an_undeclared_component():
    k = Kernel(Settings(sanitize=True))

    @system(phase=Phase.RUN, reads=("RunState",), writes=())
    def sneaky(world, commands):
        world.tasks.ruid[0] = 1000

    k.world.schedule.add(sneaky)
    with pytest.raises(SanityError, match="sneaky wrote \\['TaskCreds'\\]"):
        k.tick()


def test_sanitizer_catches_a_broken_invariant():
    k = Kernel(Settings(sanitize=True))
    k.fork(k.init_task)

    @system(phase=Phase.RUN, writes=("ThreadGroupCore",))
    def corrupt(world, commands):
        world.thread_groups.tasks_count[1] += 1

    k.world.schedule.add(corrupt)
    with pytest.raises(SanityError, match="thread group 1"):
        k.tick()


def test_declared_writes_pass_the_sanitizer():
    k = Kernel(Settings(sanitize=True))

    @system(phase=Phase.RUN, writes=("TaskCreds",))
    def honest(world, commands):
        world.tasks.ruid[0] = 0

    k.world.schedule.add(honest)
    k.tick(3)
    check_sanity(k.world)


def test_undecorated_function_is_refused():
    with pytest.raises(TypeError):
        Schedule([lambda w, c: None])
