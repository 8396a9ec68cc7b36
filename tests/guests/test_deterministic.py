"""Deterministic runs (issue 14, step 1): with ``deterministic=True`` (``run --deterministic``)
two runs with the same seed are the same run, strace log included, for threaded glibc, musl and
Go programs; and a checkpoint of a deterministic run restores into the same run."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile

import pytest

from ecs_kernel.cli_run import run

CLI = [sys.executable, "-c", "import sys; from ecs_kernel.cli import main; sys.exit(main())"]


def traced(prog, seed: int, *, strace: bool = True):
    """(status, stdout, strace log) of one deterministic run in this process."""
    log = io.StringIO() if strace else None
    with tempfile.TemporaryFile(dir="/var/tmp") as out:
        status = run(os.fspath(prog), [os.fspath(prog)], [], strace=log, seed=seed,
                     stdio=(None, out.fileno(), 2), strict=True, deterministic=True)
        out.seek(0)
        return status, out.read(), log.getvalue() if log else ""


def assert_same_twice(prog, seed=7):
    a, b = traced(prog, seed), traced(prog, seed)
    assert a[0] == b[0] and a[1] == b[1]
    assert a[2].splitlines() == b[2].splitlines()
    assert a[2].count("\n") > 50  # threads, futexes, sleeps: a real log


@pytest.mark.parametrize("libc", ["gcc", "musl"])
def test_threaded_c_programs_run_the_same_twice(guest_build, libc):
    assert_same_twice(guest_build("checkpoint", libc))


def test_every_blocking_call_runs_the_same_twice(guest_build):
    assert_same_twice(guest_build("blocking", "gcc"))


def test_go_programs_run_the_same_twice(go_build):
    """Go reads the TSC (rdtsc) and preempts with signals on a timer: both virtual here."""
    assert_same_twice(go_build("gochan"))


def test_the_fast_path_changes_nothing_the_guest_sees(guest_build):
    prog = guest_build("checkpoint", "gcc")
    with_strace, without = traced(prog, 11), traced(prog, 11, strace=False)
    assert with_strace[:2] == without[:2]


def test_the_seed_chooses_the_schedule(go_build):
    """Different seeds are different runs (other interleavings, other random bytes); the same
    output where the program is correct."""
    prog = go_build("gochan")
    logs = {traced(prog, seed)[2] for seed in (1, 2, 3)}
    assert len(logs) > 1


def test_a_checkpoint_of_a_deterministic_run_restores_into_the_same_run(guest_build, tmp_path):
    """The strace log before the checkpoint followed by the restored run's equals the whole
    run's, line for line (clock, schedule and random state are in the checkpoint)."""
    prog = guest_build("checkpoint", "gcc")

    def cli(*args):
        return subprocess.run([*CLI, *map(str, args)], capture_output=True, timeout=300,
                              stdin=subprocess.DEVNULL)

    full = cli("run", "--deterministic", "--seed", 3, "--strace", "--", prog)
    path = tmp_path / "run.ckpt"
    first = cli("run", "--deterministic", "--seed", 3, "--strace", "--checkpoint-at", 40,
                "--checkpoint-to", path, "--", prog)
    assert first.returncode == 0 and path.exists(), first.stderr
    second = cli("restore", "--strace", path)
    assert second.returncode == full.returncode == 5
    assert first.stdout + second.stdout == full.stdout
    assert (first.stderr + second.stderr).splitlines() == full.stderr.splitlines()
