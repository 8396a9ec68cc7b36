"""A simulation split into shards gives the unsharded run's counters, tick for tick, on every
backend (in-process, a local process pool, a private local Ray), and the same state per task
(matched by sim_key); a lost shard is reported with its shard and tick and the run goes on from
its last checkpoint to the same counters. (ecs_kernel/cluster/shards.py, docs/sim.md, Sharding.)
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ecs_kernel.cluster.shards import ShardedSimulation, ShardLost, open_hosts
from ecs_kernel.sim import mail, spec
from ecs_kernel.sim.engine import COUNTERS, Simulation
from ecs_kernel.sim.report import read as read_counters
from tests.tools import children

ROOT = Path(__file__).resolve().parents[2]
SHARDABLE = ["signal-storm", "fork-exit-churn", "timer-sleepers"]
TASKS, TICKS, SEED = 256, 30, 5
_REF: dict = {}


def reference(name: str, ticks: int = TICKS, tasks: int = TASKS, seed: int = SEED, **kw):
    key = (name, ticks, tasks, seed, tuple(sorted(kw.items())))
    if key not in _REF:
        _REF[key] = Simulation(spec.load(name), tasks, seed, **kw).run(ticks)
    return _REF[key]


# per-task state compared between the unsharded World and the shards' Worlds, by sim_key
TASK_COLUMNS = ("sim_pc", "sim_rng", "sim_budget", "sim_loop", "sim_clones", "run_state",
                "exit_state", "sig_pending", "sig_mask", "cpu_used_user_ns")


def per_key(worlds) -> dict:
    out = {}
    for w in worlds:
        T = w.tasks
        rows = np.flatnonzero(T.alive[: T.n] & (T.sim_prog[: T.n] >= 0))
        for r in rows.tolist():
            k = int(T.sim_key[r])
            assert k not in out, "two tasks with one key"
            out[k] = tuple(int(getattr(T, c)[r]) for c in TASK_COLUMNS)
    return out


@pytest.mark.parametrize("name", SHARDABLE)
def test_four_shards_in_process_give_the_unsharded_counters_and_task_states(name):
    ref = Simulation(spec.load(name), TASKS, SEED)
    want = ref.run(TICKS)
    with ShardedSimulation(name, TASKS, SEED, 4) as sim:
        assert sim.backend == "in-process"
        got = sim.run(TICKS)
        assert got == want
        assert sim.history.data.tolist() == ref.history.data.tolist()
        worlds = [s.world for s in sim.hosts.hosts[0].sims.values()]
        assert per_key(worlds) == per_key([ref.world])
    if name == "signal-storm":  # random targets cross shards: mail moves, and is counted
        assert sum(sim.moved) > 0 and all(m % mail.MAIL.itemsize == 0 for m in sim.moved)
    else:
        assert sum(sim.moved) == 0


def test_shards_on_the_scalar_path_give_the_scalar_counters():
    want = reference("signal-storm", batched=False)
    with ShardedSimulation("signal-storm", TASKS, SEED, 3, batched=False) as sim:
        assert sim.run(TICKS) == want


def test_one_step_at_a_time_or_pipelined_is_the_same():
    with ShardedSimulation("signal-storm", TASKS, SEED, 4) as sim:
        got = [sim.step() for _ in range(10)] + sim.run(TICKS - 10)
    assert got == reference("signal-storm")


def test_four_shards_on_the_process_pool_give_the_unsharded_counters():
    workers = open_hosts(4, workers=2)
    try:
        for name in SHARDABLE:
            with ShardedSimulation(name, TASKS, SEED, 4, hosts=workers) as sim:
                assert sim.backend == "process pool" and sim.hosts.assign == [[0, 2], [1, 3]]
                assert sim.run(TICKS) == reference(name), name
        assert all(p.is_alive() for p in workers.procs)  # lent hosts stay open
    finally:
        workers.close()


@pytest.mark.parametrize("name,why", [
    ("futex-contention", "futex words every process shares"),
    ("mixed", "futex words every process shares"),
])
def test_workloads_that_cannot_be_sharded_exactly_are_refused(name, why):
    with pytest.raises(ValueError, match=f"{name} cannot be sharded: .*{why}"):
        ShardedSimulation(name, TASKS, SEED, 2)
    ShardedSimulation(name, TASKS, SEED, 1).close()  # one shard is the unsharded run


def test_a_workload_cloning_threads_is_refused_and_too_many_shards_too():
    wl = spec.loads('[[programs]]\nname = "p"\nsteps = [{ op = "clone", kind = "thread", program = "p" }]\n',
                    "t.toml")
    with pytest.raises(ValueError, match="clones a thread at run time"):
        ShardedSimulation(wl, 8, 1, 2)
    with pytest.raises(ValueError, match="5 shards need 5 processes; 64 tasks at 16 threads"):
        ShardedSimulation("signal-storm", 64, 1, 5)


def test_a_sharded_checkpoint_resumes_to_the_same_counters(tmp_path):
    path = tmp_path / "s.ckpt"
    with ShardedSimulation("fork-exit-churn", TASKS, SEED, 4) as sim:
        sim.run(12)
        sim.checkpoint(path, extra={"mine": 1})
    with ShardedSimulation.resume(path, workers=2) as back:
        assert back.tick == 12 and back.extra == {"mine": 1} and back.backend == "process pool"
        back.run(TICKS - 12)
        assert back.history.data.tolist() == \
            [[c[k] for k in COUNTERS] for c in reference("fork-exit-churn")]


def test_a_killed_shard_worker_is_reported_and_the_run_goes_on_from_its_checkpoint(tmp_path):
    with ShardedSimulation("signal-storm", TASKS, SEED, 3, workers=3) as sim:
        sim.run(6)
        sim.checkpoint(tmp_path / "c.ckpt")
        sim.run(3)
        pid = sim.pids()[2]  # shard 2's worker
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(ShardLost) as e:
            sim.step()
        assert e.value.shard == 2 and e.value.tick == 10
        assert str(e.value) == f"shard 2 lost at tick 10: worker process {pid} was killed by signal 9"
        assert sim.recover() == 6
        assert pid not in sim.pids()
        sim.run(TICKS - 6)
        assert sim.history.data.tolist() == [[c[k] for k in COUNTERS] for c in reference("signal-storm")]


def test_without_a_checkpoint_a_lost_shard_cannot_be_recovered():
    with ShardedSimulation("signal-storm", TASKS, SEED, 2, workers=2) as sim:
        sim.run(2)
        os.kill(sim.pids()[1], signal.SIGKILL)
        with pytest.raises(ShardLost, match="shard 1 lost at tick 3"):
            sim.run(2)
        with pytest.raises(RuntimeError, match="no checkpoint"):
            sim.recover()


# -- the command line ------------------------------------------------------------------------------

def ecs_sim(*args, cwd, timeout=240):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("ECS_KERNEL_CLUSTER", None)
    return subprocess.run([sys.executable, "-m", "ecs_kernel.cli", "sim", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def test_the_command_line_shards_give_the_unsharded_csv_and_resume(tmp_path):
    common = ("signal-storm", "--tasks", 200, "--ticks", 12, "--seed", 3, "--no-progress")
    a = ecs_sim(*common, "--out", "a.csv", cwd=tmp_path)
    b = ecs_sim(*common, "--out", "b.csv", "--shards", 4, "--checkpoint-every", 5,
                "--checkpoint-to", "ck", cwd=tmp_path)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert "  shards      4 in this process: " in b.stdout
    c = ecs_sim("--resume", "ck/tick-000010.ckpt", "--out", "c.csv", "--no-progress", cwd=tmp_path)
    assert c.returncode == 0, c.stderr
    assert (tmp_path / "c.csv").read_text() == (tmp_path / "a.csv").read_text()
    assert "  shards      4 in this process: " in c.stdout


@pytest.mark.parametrize("args,msg", [
    (("mixed", "--shards", 2), "mixed cannot be sharded: program 'locker' step 3 (lock) uses the "
                               "futex words every process shares"),
    (("signal-storm", "--shards", 0), "--shards must be at least 1"),
    (("signal-storm", "--shards", 2, "--workers", 0), "--workers must be at least 1"),
    (("signal-storm", "--workers", 2), "--workers and --cluster place shards: give --shards N too"),
    (("signal-storm", "--shards", 2, "--cluster", "nowhere"), "--cluster nowhere: expected local, "
                                                               "auto, HOST:PORT or ray://HOST:PORT"),
    (("signal-storm", "--shards", 2, "--cluster", "local", "--workers", 2),
     "--workers (local worker processes) and --cluster (Ray) exclude each other"),
])
def test_bad_shard_flags_are_one_line(tmp_path, args, msg):
    r = ecs_sim(*args, "--tasks", 64, "--ticks", 2, "--no-progress", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == f"ecs-kernel sim: {msg}\n" and r.stdout == ""


# -- Ray --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_local():
    pytest.importorskip("ray", reason="the ray extra: pip install 'ecs-kernel[ray]'")
    from ecs_kernel.cluster.shards import _connect_ray
    ray = _connect_ray("local")
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_four_shards_on_local_ray_give_the_unsharded_counters(ray_local):
    actors = open_hosts(4, cluster="local")  # one actor per shard, used by each run in turn
    try:
        for name in SHARDABLE:
            with ShardedSimulation(name, TASKS, SEED, 4, hosts=actors) as sim:
                assert sim.backend == "Ray" and len(set(sim.pids())) == 4
                assert sim.run(TICKS) == reference(name), name
    finally:
        actors.close()


@pytest.mark.ray
def test_a_lost_ray_actor_is_reported_and_the_run_goes_on_from_its_checkpoint(ray_local, tmp_path):
    with ShardedSimulation("signal-storm", TASKS, SEED, 2, cluster="local") as sim:
        sim.run(5)
        sim.checkpoint(tmp_path / "c.ckpt")
        sim.run(2)
        os.kill(sim.pids()[1], signal.SIGKILL)
        with pytest.raises(ShardLost) as e:
            sim.run(3)
        assert e.value.shard == 1 and e.value.tick == 8 and "Ray actor died" in str(e.value)
        assert sim.recover() == 5
        sim.run(TICKS - 5)
        assert sim.history.data.tolist() == [[c[k] for k in COUNTERS] for c in reference("signal-storm")]


def test_the_command_line_reports_a_lost_shard_and_goes_on_from_its_checkpoint(tmp_path):
    """A worker killed mid-run: stderr names the shard and tick, the run goes back to the last
    checkpoint on new workers, and the counters are the unsharded run's."""
    tasks, ticks = 2000, 100
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("ECS_KERNEL_CLUSTER", None)
    p = subprocess.Popen([sys.executable, "-m", "ecs_kernel.cli", "sim", "signal-storm", "--tasks",
                          str(tasks), "--ticks", str(ticks), "--seed", "2", "--shards", "2",
                          "--workers", "2", "--checkpoint-every", "5", "--checkpoint-to", "ck",
                          "--out", "run.csv", "--no-progress"],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.time() + 120
        while not (tmp_path / "ck" / "tick-000005.ckpt").exists() and time.time() < deadline:
            time.sleep(0.05)
        # the workers are the forkserver's children; the forkserver is the command's child
        workers = [w for k in children(p.pid) for w in children(k)]
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        out, err = p.communicate(timeout=180)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    m = re.search(r"ecs-kernel sim: shard (\d) lost at tick (\d+): worker process (\d+) was killed "
                  r"by signal 9; going on from tick (\d+) \(ck/tick-(\d+)\.ckpt\)", err)
    assert m, err
    assert int(m.group(3)) == workers[0] and int(m.group(4)) == int(m.group(5))
    assert int(m.group(4)) % 5 == 0 and int(m.group(4)) < int(m.group(2))
    assert f"shard {m.group(1)} lost at tick {m.group(2)}, went on from tick {m.group(4)}" in out
    names, data, _ = read_counters(tmp_path / "run.csv")
    want = reference("signal-storm", ticks=ticks, tasks=tasks, seed=2)
    assert data.tolist() == [[c[k] for k in names] for c in want]


# -- any shardable workload ------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SIGNALS = ["SIGUSR1", "SIGUSR2", "SIGURG", "SIGCHLD", "SIGWINCH", "SIGHUP", "SIGTERM", "SIGSTOP",
           "SIGCONT", "SIGTSTP", "SIGKILL", 34, 35]
CATCHABLE = [s for s in SIGNALS if s not in ("SIGKILL", "SIGSTOP")]


def _steps(clone_to):
    small = st.one_of(st.integers(0, 4), st.just({"uniform": [0, 3]}))
    ops = [
        st.fixed_dictionaries({"op": st.just("compute"), "ticks": small}),
        st.fixed_dictionaries({"op": st.sampled_from(["kill", "tgkill"]),
                               "target": st.sampled_from(["random", "random_process", "parent", "self"]),
                               "sig": st.one_of(st.sampled_from(SIGNALS),
                                                st.just({"choice": ["SIGUSR1", "SIGUSR2", 34]}))}),
        st.fixed_dictionaries({"op": st.just("sigprocmask"), "how": st.sampled_from(["block", "unblock", "setmask"]),
                               "sigs": st.lists(st.sampled_from(SIGNALS), max_size=3)}),
        st.fixed_dictionaries({"op": st.just("sigaction"), "sig": st.sampled_from(CATCHABLE),
                               "action": st.sampled_from(["default", "ignore", "catch"]),
                               "flags": st.sampled_from([0, 0x10000000, 0x40000000, 0x80000000])}),
        st.fixed_dictionaries({"op": st.just("nanosleep"), "ticks": small}),
        st.fixed_dictionaries({"op": st.just("setitimer"), "which": st.sampled_from(["real", "virtual", "prof"]),
                               "value": st.integers(0, 4), "interval": st.integers(0, 4)}),
        st.fixed_dictionaries({"op": st.sampled_from(["exit", "exit_group"]), "code": st.integers(0, 3)}),
        st.fixed_dictionaries({"op": st.just("wait")}),
    ]
    if clone_to:  # process clones only, of programs that clone nothing (no fork bomb)
        ops.append(st.fixed_dictionaries({"op": st.just("clone"), "kind": st.just("process"),
                                          "program": st.sampled_from(clone_to)}))
    return st.one_of(*ops)


@st.composite
def shardable_workloads(draw):
    nprog = draw(st.integers(1, 3))
    progs = []
    for i in range(nprog):
        steps = draw(st.lists(_steps([f"p{j}" for j in range(1, nprog)] if i == 0 else []),
                              min_size=1, max_size=6))
        if draw(st.booleans()):
            steps.append({"op": "loop", "to": 0, "times": "forever"})
        progs.append({"name": f"p{i}", "share": 1.0 if i == 0 else draw(st.sampled_from([0.0, 1.0])),
                      "steps": steps})
    return spec.parse({"threads_per_process": draw(st.integers(1, 4)), "programs": progs})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=shardable_workloads(), tasks=st.integers(4, 24), shards=st.integers(2, 4),
       seed=st.integers(0, 2**32 - 1))
def test_any_workload_without_futexes_or_thread_clones_shards_exactly(w, tasks, shards, seed):
    """Random workloads of every op but the futex ones and thread clones (signals that stop,
    continue, kill, are ignored or caught; masks, timers, sleeps, exits, waits, process clones):
    the shards' counters are the unsharded run's every tick, and every task's state is too."""
    nproc = -(-tasks // w.threads_per_process)
    shards = min(shards, nproc)
    ref = Simulation(w, tasks, seed)
    with ShardedSimulation(w, tasks, seed, shards) as sim:
        for tick in range(20):
            a, b = ref.step(), sim.step()
            assert a == b, f"tick {tick + 1}: {({k: (a[k], b[k]) for k in a if a[k] != b[k]})}"
        assert per_key(s.world for s in sim.hosts.hosts[0].sims.values()) == per_key([ref.world])
