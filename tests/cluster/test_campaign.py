"""`ecs-kernel campaign`: state machines over many seeds. The planted bug (planted.py) is found on
some seeds, shrunk, and its seed reproduces it, shrunk the same, in a run of its own; the pool
gives the same results as this process."""
import pytest

from ecs_kernel.cli import main
from ecs_kernel.cli_campaign import run_campaign
from ecs_kernel.cluster import campaign as cp
from ecs_kernel.cluster.backend import open_backend

from .conftest import CAMPAIGN, MACHINE


def test_the_campaign_finds_the_planted_bug_on_some_seeds_and_shrinks_it(serial_campaign):
    failed = [r for r in serial_campaign if r["failed"]]
    assert [r["run"] for r in serial_campaign] == list(range(CAMPAIGN["runs"]))
    assert 0 < len(failed) < CAMPAIGN["runs"]  # a bug some seeds find, not every one
    for r in failed:
        assert r["seed"] == CAMPAIGN["seed"] + r["run"]
        assert "a task exited with status 200" in r["error"]  # shrunk to the smallest code
        assert "code=200" in r["example"] and "state.teardown()" in r["example"]


def test_a_failing_seed_reproduces_the_same_shrunk_failure_alone(serial_campaign):
    first = next(r for r in serial_campaign if r["failed"])
    again = cp.run_machine(cp.Run(MACHINE, 0, first["seed"], CAMPAIGN["examples"], CAMPAIGN["steps"]))
    assert (again["error"], again["example"]) == (first["error"], first["example"])


def test_the_pool_gives_the_same_results(serial_campaign):
    with open_backend(workers=2) as b:
        assert run_campaign(MACHINE, backend=b, **CAMPAIGN) == serial_campaign


def test_the_command_reports_the_failure_and_how_to_reproduce_it(serial_campaign, capsys):
    argv = ["campaign", MACHINE, "--runs", str(CAMPAIGN["runs"]), "--examples",
            str(CAMPAIGN["examples"]), "--steps", str(CAMPAIGN["steps"]), "--no-progress"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    first = next(r for r in serial_campaign if r["failed"])
    cmd = cp.reproduce_command(MACHINE, first["seed"], CAMPAIGN["examples"], CAMPAIGN["steps"])
    assert f"reproduce: {cmd}" in out and f"run {first['run']} (seed {first['seed']})" in out
    # the command it prints, run as printed, fails the same way on one run
    assert main(cmd.split()[1:] + ["--no-progress"]) == 1
    again = capsys.readouterr().out
    assert first["error"] in again and first["example"].splitlines()[-1] in again


def test_a_machine_without_the_bug_passes():
    with open_backend() as b:
        res = run_campaign("ecs_kernel.testing.lifecycle:LifecycleMachine", 2, 0, 3, 8, b)
    assert [r["failed"] for r in res] == [False, False]


def test_shipped_machines_are_found_by_name():
    names = cp.shipped_machines()
    assert {"LifecycleMachine", "SignalMachine", "FutexMachine", "FDTableMachine",
            "TimerMachine"} <= set(names)
    assert cp.resolve("signals") == cp.resolve("SignalMachine") == names["SignalMachine"]


@pytest.mark.parametrize("argv,says", [
    (["Nope"], "Nope: no such machine"),
    (["no_such_module:X"], "cannot import no_such_module"),
    (["ecs_kernel.testing.lifecycle:Kernel"], "not a hypothesis RuleBasedStateMachine"),
    (["lifecycle", "--runs", "0"], "--runs must be at least 1"),
    (["lifecycle", "--workers", "0"], "--workers must be at least 1"),
    ([], "name a machine"),
])
def test_bad_arguments_are_one_line_and_status_2(argv, says, capsys):
    assert main(["campaign", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and says in err, err
