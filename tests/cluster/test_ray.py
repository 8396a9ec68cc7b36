"""The Ray backend, on one private local cluster that every test of this module shares (the `ray`
marker: `pytest -m ray` runs the group): a sweep, a campaign and an explorer search give what they
give in this process, a lost Ray worker is retried and reported, and the cluster is private."""
import os
import subprocess
import sys

import pytest

from ecs_kernel.cli import main
from ecs_kernel.cli_campaign import run_campaign
from ecs_kernel.cluster.backend import connect_ray, open_backend

from . import helpers
from .conftest import CAMPAIGN, MACHINE, explore_answer, sweep_rows

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module", autouse=True)
def local_cluster():
    """One private cluster for the module: every open_backend(cluster="local") joins it."""
    connect_ray("local")  # as the command line does: before anything imported Ray
    import ray  # README's install line for the tests installs Ray: CI runs this group
    yield ray
    ray.shutdown()


@pytest.fixture
def ray_backend():
    with open_backend(cluster="local") as b:
        yield b


def test_the_local_cluster_is_private_and_ray_is_joined_once(local_cluster, ray_backend):
    ray = local_cluster
    ctx = ray.get_runtime_context()
    assert ray_backend.name == "ray" and ray_backend.workers == os.cpu_count()
    connect_ray("local")  # idempotent: the same cluster
    assert ray.get_runtime_context().get_node_id() == ctx.get_node_id()
    node = ray.nodes()[0]
    assert node["NodeManagerAddress"] == "127.0.0.1"
    # every Ray server of ours (this process's descendants: other jobs on the machine may run
    # clusters of their own) listens on the loopback address only
    ours = _descendants(os.getpid())
    ss = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout.splitlines()
    listening = [ln for ln in ss if any(f"pid={p}," in ln for p in ours)]
    assert any("gcs_server" in ln for ln in listening) and any("raylet" in ln for ln in listening)
    assert all("127.0.0.1" in ln.split()[3] for ln in listening), listening


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for line in subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True,
                               text=True).stdout.splitlines():
        c, p = map(int, line.split())
        children.setdefault(p, []).append(c)
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), ()):
            out.add(c)
            todo.append(c)
    return out


def test_a_sweep_on_ray_writes_the_same_rows(serial_sweep, tmp_path):
    assert sweep_rows(tmp_path, "--cluster", "local") == serial_sweep


def test_a_campaign_on_ray_gives_the_same_results(serial_campaign, ray_backend):
    assert run_campaign(MACHINE, backend=ray_backend, **CAMPAIGN) == serial_campaign


def test_an_explorer_search_on_ray_finds_the_same_failure_and_replay(serial_explore, races,
                                                                     ray_backend, tmp_path):
    assert explore_answer(races, ray_backend, tmp_path / "ray.replay") == serial_explore


def test_a_lost_ray_worker_is_retried_and_reported(ray_backend, tmp_path):
    items = [(str(tmp_path / f"m{i}"), i, i == 1) for i in range(4)]
    got = dict(ray_backend.map_unordered(helpers.die_once, items))
    assert got == {i: i * i for i in range(4)}
    assert len(ray_backend.lost) == 1 and "item 1" in ray_backend.lost[0]


def test_an_exception_in_a_ray_task_is_the_exception(ray_backend):
    with pytest.raises(ValueError, match="item 5 is bad"):
        list(ray_backend.map_unordered(helpers.fail, [5]))


def test_the_environment_variable_joins_the_cluster(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ECS_KERNEL_CLUSTER", "local")
    out = tmp_path / "env.jsonl"
    assert main(["sweep", "signal-storm", "--seeds", "0", "--tasks", "20", "--ticks", "3",
                 "--out", str(out), "--no-progress"]) == 0
    assert "on ray (local" in capsys.readouterr().out


def test_another_command_joins_the_running_cluster_by_its_address(local_cluster, tmp_path):
    """`--cluster HOST:PORT` from another process: it joins this cluster (no second one)."""
    address = local_cluster.get_runtime_context().gcs_address
    out = tmp_path / "joined.jsonl"
    r = subprocess.run([sys.executable, "-c", "import sys; from ecs_kernel.cli import main; "
                        "sys.exit(main())", "sweep", "signal-storm", "--seeds", "0..1", "--tasks",
                        "20", "--ticks", "3", "--out", str(out), "--no-progress", "--cluster",
                        address], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"on ray ({address}, {os.cpu_count()} CPUs)" in r.stdout
    assert len(out.read_text().splitlines()) == 2


def test_an_address_where_no_cluster_runs_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-c", "import sys; from ecs_kernel.cli import main; "
                        "sys.exit(main())", "sweep", "signal-storm", "--seeds", "0", "--out",
                        str(tmp_path / "x.jsonl"), "--no-progress", "--cluster", "127.0.0.1:9"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr == "ecs-kernel sweep: cannot reach the Ray cluster '127.0.0.1:9': Connection refused\n"
