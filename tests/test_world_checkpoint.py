"""World checkpoints in the checkpoint file format: a World comes back row for row (kernel and
simulation state alike), and a file whose digests are right but whose content is not (forged:
unknown components, systems or classes, arrays of the wrong type or shape, rows that do not
add up) is refused with CheckpointError before a World is built. Nothing is unpickled."""
import numpy as np
import pytest

from ecs_kernel import checkpoint_file as CF
from ecs_kernel.abi import CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, SIGUSR1
from ecs_kernel.checkpoint_file import CheckpointError
from ecs_kernel.kernel import Kernel
from ecs_kernel.sim.engine import Simulation
from ecs_kernel.systems import futex as F
from ecs_kernel.testing.compare import assert_same_worlds
from ecs_kernel.world import World


def busy_kernel() -> Kernel:
    k = Kernel()
    F.install_sim_memory(k.world, k.task(k.init_task))
    p = k.fork(k.init_task)
    k.clone(p, CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)
    q = k.fork(p)
    k.sigaction(p, SIGUSR1, (0x401000, 0, 0))
    k.kill(k.init_task, 2, SIGUSR1)
    k.futex(q, 0x10000, 0x80, 0)  # FUTEX_WAIT_PRIVATE: blocked as a waiter row
    k.tick(3)
    return k


def test_a_kernel_world_comes_back_row_for_row_and_runs_on():
    k = busy_kernel()
    back = World.restore(k.checkpoint())
    assert_same_worlds(k.world, back, ("saved", "restored"))
    k.tick(5)
    back.tick(5)
    assert_same_worlds(k.world, back, ("ran on", "restored, ran on"))


def test_a_simulation_comes_back_and_gives_the_same_counters():
    sim = Simulation("mixed", tasks=300, seed=3)
    sim.run(20)
    blob = sim.world.checkpoint()
    back = World.restore(blob)
    assert_same_worlds(sim.world, back, ("sim", "restored"))
    assert back.index.sim.totals == sim.world.index.sim.totals


def test_a_world_with_objects_that_are_not_state_is_not_saved_silently():
    """An open file the checkpoint does not know (not a registered state class) stops the save
    with a one-line TypeError instead of being dropped."""
    k = busy_kernel()
    from ecs_kernel.components.fd_table import store
    store(k.world).files[0] = {0: object()}
    with pytest.raises(TypeError, match="cannot be checkpointed"):
        k.checkpoint()


def _forged(mutate) -> bytes:
    meta, arrays = busy_kernel().world.to_state()
    mutate(meta, arrays)
    return CF.dumps(meta, arrays)  # right digests around the forged content


@pytest.mark.parametrize("what,mutate", [
    ("an unknown component", lambda m, a: m["tables"]["tasks"]["components"][0].update(name="Evil")),
    ("an unknown system", lambda m, a: m["schedule"].append("os:system")),
    ("an unknown class", lambda m, a: m["objects"].append({"class": "Popen", "meta": {}})
     or m["index"].update(fd_store=len(m["objects"]) - 1)),
    ("a column of another type", lambda m, a: a.update({"t.tasks.parent":
                                                        a["t.tasks.parent"].astype(np.int64)})),
    ("a column of another length", lambda m, a: a.update({"t.tasks.parent":
                                                          a["t.tasks.parent"][:-1]})),
    ("a missing column", lambda m, a: a.pop("t.tasks.parent")),
    ("rows that do not add up", lambda m, a: m["tables"]["tasks"].update(count=999)),
    ("a bad free stack", lambda m, a: a.update({"t.tasks._free": np.array([0], np.int64)})),
    ("a bad setting", lambda m, a: m["settings"].update(tick_ns="fast")),
    ("an unknown setting", lambda m, a: m["settings"].update(run_this="rm -rf /")),
    ("more CPUs than a World models", lambda m, a: m["settings"].update(cpus=10**9)),
    ("no CPU", lambda m, a: m["settings"].update(cpus=0)),
    ("bad load averages", lambda m, a: m["index"].update(avenrun=[1, 2])),
    ("a self-reference", lambda m, a: m["objects"].append(
        {"class": "SimMemory", "meta": {"base": 0, "sealed": False,
                                        "shared": [[0, len(m["objects"])]]}})
     or a.update({f"o{len(m['objects']) - 1}.words": np.zeros(1, np.uint32)})
     or m["index"]["address_spaces"].append([99, len(m["objects"]) - 1])),
    ("a wrong kind of object", lambda m, a: m["index"].update(sim=m["index"]["pidmaps"][0][1])),
])
def test_forged_world_checkpoints_are_refused(what, mutate):
    blob = _forged(mutate)
    with pytest.raises(CheckpointError) as e:
        World.restore(blob)
    assert "\n" not in str(e.value), what


def test_a_world_checkpoint_is_a_checkpoint_file_not_a_pickle():
    blob = busy_kernel().checkpoint()
    assert blob[:8] == CF.MAGIC and b"numpy" not in blob[:4096]
    meta, arrays = CF.loads(blob)
    assert meta["kind"] == "world" and all(a.dtype != object for a in arrays.values())
