"""What the cluster tests share: the reference answers, computed once in this process (serial
backend), that the pool and Ray must give too, and the races program the explorer searches."""
import json
import subprocess
from pathlib import Path

import pytest

from ecs_kernel import explore as ex
from ecs_kernel.cli import main
from ecs_kernel.cli_campaign import run_campaign
from ecs_kernel.cluster.backend import open_backend

from . import planted

SRC = Path(__file__).resolve().parent.parent / "guests" / "src"

# a sweep: 2 task counts x 4 seeds of a small signal storm
SWEEP = ["signal-storm", "--seeds", "0..3", "--param", "tasks=40,60", "--ticks", "12",
         "--no-progress"]
# a campaign with the planted bug: some seeds find it, others do not
MACHINE = f"{planted.__name__}:PlantedExitCode"
CAMPAIGN = dict(runs=10, seed=0, examples=3, steps=8)
# the explorer: the ABBA deadlock, in batches of 10
EXPLORE = dict(runs=30, batch_runs=10)


def sweep_rows(tmp_path: Path, *backend_flags: str) -> list[str]:
    out = tmp_path / f"sweep-{'-'.join(backend_flags) or 'serial'}.jsonl"
    assert main(["sweep", *SWEEP, "--out", str(out), *backend_flags]) == 0
    return sorted(out.read_text().splitlines())


def explore_answer(prog, backend, path: Path):
    """What a batched search finds and the replay file it writes: (reason, choices, status,
    stdout, deadlock, runs, batch), the file's bytes."""
    f = ex.explore(prog, backend=backend, **EXPLORE)
    ex.save_replay(path, prog, f.outcome, f.reason)
    o = f.outcome
    return (f.reason, o.choices, o.status, o.stdout, o.deadlock, f.runs, f.batch), path.read_bytes()


@pytest.fixture(scope="session")
def serial_sweep(tmp_path_factory):
    return sweep_rows(tmp_path_factory.mktemp("sweep"))


@pytest.fixture(scope="session")
def serial_campaign():
    with open_backend() as b:
        return run_campaign(MACHINE, backend=b, **CAMPAIGN)


@pytest.fixture(scope="session")
def races():
    d = subprocess.run(["mktemp", "-d", "/var/tmp/races-XXXXXX"], capture_output=True, text=True,
                       check=True).stdout.strip()  # under /var/tmp: the guest's /tmp is its own
    prog = f"{d}/races"
    subprocess.run(["gcc", "-static", "-O1", "-pthread", "-o", prog, str(SRC / "races.c")], check=True)
    return ex.Program([prog, "abba"])


@pytest.fixture(scope="session")
def serial_explore(races, tmp_path_factory):
    return explore_answer(races, None, tmp_path_factory.mktemp("explore") / "serial.replay")


def rows_of(lines):
    return [json.loads(x) for x in lines]
