"""`ecs-kernel explore` spread over a backend: fixed batches, the lowest failing batch wins, so the
failure, its shrunk run and the replay file are the same in this process and on the pool."""
import subprocess
import sys

from ecs_kernel import explore as ex
from ecs_kernel.cluster.backend import open_backend

from .conftest import EXPLORE, explore_answer

CLI = [sys.executable, "-c", "import sys; from ecs_kernel.cli import main; sys.exit(main())"]


def test_a_batched_search_finds_and_shrinks_the_deadlock(serial_explore, races):
    (reason, choices, status, stdout, deadlock, runs, batch), _ = serial_explore
    assert reason == "deadlock" and deadlock is not None
    again = ex.run_schedule(races, choices)
    assert again.deadlock is not None and again.status == status


def test_the_pool_finds_the_same_failure_and_writes_the_same_replay(serial_explore, races, tmp_path):
    with open_backend(workers=2) as b:
        assert explore_answer(races, b, tmp_path / "pool.replay") == serial_explore


def test_the_lowest_failing_batch_wins_whatever_finishes_first(races):
    """A backend that hands batches back in reverse order gives the same answer."""
    class Reversed:
        def map_unordered(self, fn, items):
            items = list(items)
            for i in reversed(range(len(items))):
                yield i, fn(items[i])
    rev = ex.explore(races, backend=Reversed(), runs=20, batch_runs=10)
    fwd = ex.explore(races, runs=20, batch_runs=10)
    assert (rev.reason, rev.outcome.choices, rev.runs, rev.batch) == \
        (fwd.reason, fwd.outcome.choices, fwd.runs, fwd.batch)


def test_the_command_on_the_pool_writes_the_same_replay_file(serial_explore, races, tmp_path):
    path = tmp_path / "cli.replay"
    r = subprocess.run([*CLI, "explore", "--runs", str(EXPLORE["runs"]), "--batch-runs",
                        str(EXPLORE["batch_runs"]), "--workers", "2", "--replay-to", str(path), "--",
                        *races.argv], capture_output=True, timeout=600)
    assert r.returncode == 1, r.stderr
    (reason, *_, runs, batch), replay = serial_explore
    assert path.read_bytes() == replay
    assert f"found in batch {batch} ".encode() in r.stdout
    assert f"failure: {reason} (found in {runs} runs,".encode() in r.stdout
