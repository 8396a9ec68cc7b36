"""``run --deterministic --record FILE`` and ``replay FILE`` (issue 14): the recorded run's host
input (files of the root, directory listings, links, stdin) is in the file, so the replay prints
the same output and strace log where the host files are gone or changed and stdin is another."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from ecs_kernel import explore as ex

CLI = [sys.executable, "-c", "import sys; from ecs_kernel.cli import main; sys.exit(main())"]


def cli(*args, stdin=b""):
    return subprocess.run([*CLI, *map(str, args)], input=stdin, capture_output=True, timeout=300)


@pytest.fixture
def tree(guest_build):
    """A directory under /var/tmp (the guest's /tmp is its own) with the program and its input."""
    d = os.path.realpath(subprocess.run(["mktemp", "-d", "/var/tmp/ecs-rec-XXXXXX"],
                                        capture_output=True, text=True, check=True).stdout.strip())
    shutil.copy(guest_build("recorded", "gcc"), f"{d}/recorded")
    with open(f"{d}/data.txt", "w") as f:
        f.write("first version\n")
    os.symlink("data.txt", f"{d}/link")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_a_recorded_run_replays_where_its_files_and_stdin_are_gone(tree, tmp_path):
    rec = tmp_path / "run.replay"
    first = cli("run", "--deterministic", "--seed", 5, "--strace", "--record", rec, "--",
                f"{tree}/recorded", tree, stdin=b"a\nb\n")
    assert first.returncode == 0, first.stderr
    assert b"first version" in first.stdout and b"stdin: b" in first.stdout
    assert b"link -> data.txt" in first.stdout
    # Another machine: the program, its data and its link are gone; stdin says something else.
    shutil.rmtree(tree)
    again = cli("replay", "--strace", rec, stdin=b"other input\n")
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert again.stderr.splitlines() == first.stderr.splitlines()


def test_a_changed_file_does_not_change_the_replay(tree, tmp_path):
    rec = tmp_path / "run.replay"
    first = cli("run", "--deterministic", "--record", rec, "--", f"{tree}/recorded", tree)
    assert first.returncode == 0, first.stderr
    with open(f"{tree}/data.txt", "w") as f:
        f.write("second, longer version\n")
    os.unlink(f"{tree}/link")
    open(f"{tree}/new", "w").close()
    live = cli("run", "--deterministic", "--", f"{tree}/recorded", tree)
    assert b"second, longer version" in live.stdout and live.stdout != first.stdout
    assert cli("replay", rec).stdout == first.stdout


def test_a_run_that_asks_what_was_not_recorded_diverges(tree, tmp_path):
    rec = tmp_path / "run.replay"
    assert cli("run", "--deterministic", "--record", rec, "--", f"{tree}/recorded", tree,
               stdin=b"x\n").returncode == 0
    saved = ex.load_replay(rec)
    assert saved.choices is None and saved.status == 0 and saved.host is not None
    saved.prog.argv[1] = "/var/tmp/never-recorded"  # the program now looks elsewhere
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "w") as o, open(err, "w") as e:
        status = ex.replay(saved, stdio=(0, o.fileno(), e.fileno()), stderr=e)
    assert status == 2
    assert "diverged from the recording" in err.read_text()
    assert "never-recorded" in err.read_text()


def test_record_refuses_what_it_cannot_honour(tmp_path):
    r = cli("run", "--record", tmp_path / "x.replay", "--", "/bin/true")
    assert r.returncode == 2 and b"--record needs --deterministic" in r.stderr
    r = cli("run", "--deterministic", "--record", tmp_path, "--", "/bin/true")
    assert r.returncode == 2 and b"is a directory" in r.stderr
    assert not (tmp_path / "x.replay").exists()


def test_a_damaged_replay_file_is_one_line(tree, tmp_path):
    rec = tmp_path / "run.replay"
    assert cli("run", "--deterministic", "--record", rec, "--", f"{tree}/recorded", tree
               ).returncode == 0
    bad = tmp_path / "bad.replay"
    data = rec.read_bytes()
    bad.write_bytes(data[:len(data) // 2])
    r = cli("replay", bad)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert b"Traceback" not in r.stderr


def test_input_that_arrives_while_timers_run_replays_at_the_same_point(tmp_path):
    """Where stdin's line lands among a background loop's ticks depends on when it arrived in
    real time (the kernel waits for input until the next timer); the replay puts it there again
    with no waiting."""
    rec = tmp_path / "run.replay"
    script = ("i=0; while [ $i -lt 12 ]; do sleep 0.05; echo tick $i; i=$((i+1)); done & "
              "read x; echo got $x; wait")
    p = subprocess.Popen([*CLI, "run", "--deterministic", "--record", str(rec), "--",
                          "/bin/busybox", "sh", "-c", script],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()  # a tick: the loop runs, the read waits
    p.stdin.write(b"late\n")
    p.stdin.close()
    out = first + p.stdout.read()
    err = p.stderr.read()
    assert p.wait(timeout=300) == 0, err
    assert b"got late" in out and out.count(b"tick") == 12
    again = cli("replay", rec)
    assert again.returncode == 0, again.stderr
    assert again.stdout == out
