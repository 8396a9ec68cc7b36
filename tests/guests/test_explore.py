"""The schedule explorer (issue 14): it finds a lost update, an ABBA deadlock and a signal-handler
race in unmodified programs (tests/guests/src/races.c) within 300 runs, shrinks each, and the
replay reproduces it exactly; the correct twins pass the same budget with no report."""
from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings

from ecs_kernel import explore as ex

CLI = [sys.executable, "-c", "import sys; from ecs_kernel.cli import main; sys.exit(main())"]
BUDGET = 300


@pytest.fixture(scope="module")
def races(tmp_path_factory):
    from .conftest import COMPILERS, SRC
    d = tmp_path_factory.mktemp("races", numbered=True)
    # under /var/tmp: the guest's /tmp is its own
    out = subprocess.run(["mktemp", "-d", "/var/tmp/races-XXXXXX"], capture_output=True,
                         text=True, check=True).stdout.strip()
    prog = f"{out}/races"
    subprocess.run([*COMPILERS["gcc"], "-o", prog, str(SRC / "races.c")], check=True)
    del d
    return prog


@pytest.mark.parametrize("mode,reason", [("counter", "stdout differs from the expected"),
                                         ("abba", "deadlock"),
                                         ("signal", "stdout differs from the expected")])
def test_the_explorer_finds_shrinks_and_replays_the_bug(races, mode, reason, tmp_path):
    prog = ex.Program([races, mode])
    found = ex.explore(prog, runs=BUDGET)
    assert found.reason == reason, ex.describe(found)
    assert found.runs <= BUDGET
    # shrunk: a handful of decisions that are not the default
    assert 1 <= len(found.outcome.log) <= 6, ex.describe(found)
    again = ex.run_schedule(prog, found.outcome.choices)
    assert (again.status, again.stdout, again.deadlock) == \
        (found.outcome.status, found.outcome.stdout, found.outcome.deadlock)
    # the replay file, in a new process, through the command
    path = tmp_path / f"{mode}.replay"
    ex.save_replay(path, prog, found.outcome, found.reason)
    r = subprocess.run([*CLI, "replay", str(path)], capture_output=True, timeout=300)
    assert r.stdout == found.outcome.stdout
    if reason == "deadlock":
        assert r.returncode == 3 and b"deadlock" in r.stderr and b"held by" in r.stderr
    else:
        assert r.returncode == 0


@pytest.mark.parametrize("mode", ["counter-locked", "ordered", "signal-masked"])
def test_correct_twins_pass_the_same_budget(races, mode):
    found = ex.explore(ex.Program([races, mode]), runs=BUDGET)
    assert found.reason is None, ex.describe(found)
    assert found.runs >= BUDGET  # hypothesis counts valid examples: it may try a few more


@settings(max_examples=15, deadline=None)
@given(schedule=ex.schedules())
def test_users_state_their_own_invariants_over_schedules(races, schedule):
    """The Python API: any schedule of the locked counter prints 4000."""
    out = ex.run_schedule(ex.Program([races, "counter-locked"]), schedule)
    assert (out.status, out.stdout) == (0, b"counter 4000\n")


def test_explore_command_reports_and_writes_the_replay(races, tmp_path):
    path = tmp_path / "found.replay"
    r = subprocess.run([*CLI, "explore", "--runs", str(BUDGET), "--replay-to", str(path), "--",
                        races, "abba"], capture_output=True, timeout=900)
    assert r.returncode == 1, r.stderr
    assert b"failure: deadlock" in r.stdout and b"decisive decisions" in r.stdout
    assert path.exists()
    ok = subprocess.run([*CLI, "explore", "--runs", "20", "--", races, "ordered"],
                        capture_output=True, timeout=900)
    assert ok.returncode == 0 and b"no failure in " in ok.stdout


def test_bad_replay_files_are_one_line(tmp_path):
    for content in (b"", b"{}", b'{"format": "ecs-kernel-replay", "version": 9}',
                    b'{"format": "ecs-kernel-replay", "version": 1, "argv": 5}'):
        path = tmp_path / "bad.replay"
        path.write_bytes(content)
        r = subprocess.run([*CLI, "replay", str(path)], capture_output=True, timeout=120)
        assert r.returncode == 2 and r.stderr.count(b"\n") == 1, (content, r.stderr)


@pytest.mark.parametrize("mode", ["counter", "abba", "signal"])
def test_a_run_from_the_shared_prefix_is_the_same_run(races, mode):
    """explore restores the default run saved at its first decision instead of starting each
    run over (Prefix): under any schedule the outcome is the whole run's (status, output,
    decisions and their log, the deadlock report)."""
    import random
    prog = ex.Program([races, mode])
    kept = {}
    ex.run_schedule(prog, [], keep_prefix=kept)
    prefix = kept["prefix"]
    assert prefix is not None and prefix.blob
    rng = random.Random(mode)
    for _ in range(6):
        choices = [rng.choice([0, 0, 1, 2, rng.randrange(4097)]) for _ in range(40)]
        assert ex.run_schedule(prog, choices, prefix=prefix) == ex.run_schedule(prog, choices)
