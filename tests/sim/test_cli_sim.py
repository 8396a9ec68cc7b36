"""``ecs-kernel sim``: outputs, determinism, checks, deadlock reports and bad input."""
from __future__ import annotations

import builtins
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ecs_kernel.cli import main
from ecs_kernel.sim import engine
from ecs_kernel.sim import report as R

LOCK_ORDER = """\
name = "lock-order"
description = "two programs take two locks in opposite orders"
futex_words = 2
threads_per_process = 2

[[programs]]
name = "ab"
steps = [
  { op = "lock", word = 0 },
  { op = "compute", ticks = 2 },
  { op = "lock", word = 1 },
  { op = "unlock", word = 1 },
  { op = "unlock", word = 0 },
  { op = "loop", to = 0, times = "forever" },
]

[[programs]]
name = "ba"
steps = [
  { op = "lock", word = 1 },
  { op = "compute", ticks = 2 },
  { op = "lock", word = 0 },
  { op = "unlock", word = 0 },
  { op = "unlock", word = 1 },
  { op = "loop", to = 0, times = "forever" },
]
"""


def sim(*args):
    return main(["sim", *map(str, args), "--no-progress"])


def test_counters_are_written_as_json_and_csv_and_the_same_seed_repeats(tmp_path, capsys):
    a, b, c = tmp_path / "a.json", tmp_path / "b.csv", tmp_path / "c.json"
    assert sim("mixed", "--tasks", 300, "--ticks", 12, "--seed", 7, "--out", a) == 0
    assert sim("mixed", "--tasks", 300, "--ticks", 12, "--seed", 7, "--out", b) == 0
    assert sim("mixed", "--tasks", 300, "--ticks", 12, "--seed", 8, "--out", c) == 0
    na, da, meta = R.read(a)
    nb, db, _ = R.read(b)
    _, dc, _ = R.read(c)
    assert na == nb == engine.COUNTERS and da.shape == (12, len(engine.COUNTERS))
    assert (da == db).all(), "same seed, same counters"
    assert (da != dc).any(), "another seed draws other numbers"
    assert meta["workload"] == "mixed" and meta["tasks"] == 300 and meta["seed"] == 7 and meta["ticks"] == 12
    assert da[:, na.index("tasks_alive")][0] > 0
    out = capsys.readouterr().out
    assert "mixed: 300 tasks, 12 ticks, seed 7" in out and "task-ticks/s" in out and f"wrote       {c}" in out


def test_nothing_is_written_unless_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert sim("signal-storm", "--tasks", 50, "--ticks", 3) == 0
    assert list(tmp_path.iterdir()) == []
    assert "wrote" not in capsys.readouterr().out


def test_plot_draws_a_png(tmp_path):
    png = tmp_path / "run.png"
    assert sim("futex-contention", "--tasks", 64, "--ticks", 5, "--plot", png) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_plot_without_matplotlib_fails_before_running(tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_matplotlib(name, *a, **kw):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert sim("mixed", "--tasks", 10, "--ticks", 2, "--plot", tmp_path / "p.png") == 2
    err = capsys.readouterr()
    assert "pip install 'ecs-kernel[plot]'" in err.err and "Traceback" not in err.err
    assert err.out == "" and not (tmp_path / "p.png").exists()


def test_a_bad_workload_file_names_the_line_and_field(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[programs]]\nname = "p"\nsteps = [ { op = "kil", sig = 10 } ]\n')
    assert sim(bad, "--tasks", 4, "--ticks", 2) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4:" in err and "steps[0].op" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, says", [
    (["no-such-workload"], "no such workload"),
    (["mixed", "--tasks", "0"], "--tasks"),
    (["mixed", "--ticks", "0"], "--ticks"),
    (["mixed", "--check", "-1"], "--check"),
    (["mixed", "--out", "run.txt"], ".json or .csv"),
    (["mixed", "--out", "/no/such/dir/run.json"], "no such directory"),
    (["mixed", "--plot", "run.xyz"], "the extension must be one of"),
    ([], "name a workload"),
])
def test_bad_arguments_get_one_line_and_status_2(argv, says, capsys):
    assert main(["sim", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_an_output_that_fails_at_the_end_is_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    d = tmp_path / "d"
    d.mkdir()
    step = engine.Simulation.step

    def removing_the_directory(self):  # the directory goes away during the run
        if self.tick == 1:
            d.rmdir()
        return step(self)

    monkeypatch.setattr(engine.Simulation, "step", removing_the_directory)
    assert sim("signal-storm", "--tasks", 20, "--ticks", 2, "--out", d / "run.json") == 2
    err = capsys.readouterr().err
    assert f"cannot write {d / 'run.json'}: No such file or directory" in err and "Traceback" not in err


def test_an_output_through_a_dangling_link_is_written_where_it_points(tmp_path):
    link, target = tmp_path / "run.json", tmp_path / "target.json"
    link.symlink_to(target)
    assert sim("signal-storm", "--tasks", 20, "--ticks", 2, "--out", link) == 0
    assert link.is_symlink() and R.read(target)[2]["ticks"] == 2


def test_list_names_the_shipped_workloads(capsys):
    assert main(["sim", "--list"]) == 0
    names = capsys.readouterr().out.split()
    assert {"signal-storm", "futex-contention", "fork-exit-churn", "timer-sleepers", "mixed"} <= set(names)


def test_check_runs_clean_on_every_shipped_workload(capsys):
    for name in ("signal-storm", "futex-contention", "fork-exit-churn", "timer-sleepers", "mixed"):
        assert sim(name, "--tasks", 120, "--ticks", 12, "--seed", 3, "--check", 2) == 0, name
        assert "checks      6 (every 2 ticks): no violation" in capsys.readouterr().out


def test_check_stops_at_a_violation_and_names_it(tmp_path, monkeypatch, capsys):
    step = engine.Simulation.step

    def corrupting_step(self):
        counters = step(self)
        if self.tick == 5:  # plant: two tasks with one tid
            T = self.world.tasks
            live = T.live_rows()
            T.tids[live[2], 0] = T.tids[live[1], 0]
        return counters

    monkeypatch.setattr(engine.Simulation, "step", corrupting_step)
    out = tmp_path / "run.json"
    assert sim("mixed", "--tasks", 40, "--ticks", 20, "--check", 3, "--out", out) == 1
    err = capsys.readouterr().err
    assert "stopped: tick 6: invariant ids-unique violated" in err and "share id" in err
    _, data, meta = R.read(out)
    assert len(data) == 6 and meta["ticks"] == 6  # what ran is still written


def test_a_lock_order_deadlock_is_reported_with_its_cycle(tmp_path, capsys):
    wl = tmp_path / "lock-order.toml"
    wl.write_text(LOCK_ORDER)
    assert sim(wl, "--tasks", 4, "--ticks", 12, "--check", 2) == 3
    cap = capsys.readouterr()
    assert "deadlock of 2 task(s)" in cap.err and "waits on 0x" in cap.err and "back to tid" in cap.err
    assert cap.err.count("deadlock of") == 1, "each cycle is reported once"
    assert "deadlocks   1" in cap.out


def test_json_meta_is_plain_json(tmp_path):
    out = tmp_path / "r.json"
    assert sim("timer-sleepers", "--tasks", 30, "--ticks", 4, "--out", out) == 0
    doc = json.loads(out.read_text())
    assert list(doc["counters"]) == list(engine.COUNTERS) and doc["ticks"] == 4


def test_check_catches_a_delivery_that_ignores_the_mask(monkeypatch, capsys):
    from ecs_kernel.systems import task_signals
    real = task_signals.dequeue

    def dequeue_ignoring_mask(world, task, blocked, allow_group=True):
        return real(world, task, 0, allow_group=allow_group)  # planted: the mask is not consulted

    monkeypatch.setattr(task_signals, "dequeue", dequeue_ignoring_mask)
    init = engine.Simulation.__init__

    def python_delivery(self, *a, **kw):  # deliver through get_signal -> dequeue, not numba
        init(self, *a, **kw)
        self.world.settings.signal_delivery_python = True

    monkeypatch.setattr(engine.Simulation, "__init__", python_delivery)
    assert sim("mixed", "--tasks", 1000, "--ticks", 60, "--seed", 0, "--check", 2) == 1
    err = capsys.readouterr().err
    assert "invariant signal-delivered-while-blocked violated (task row" in err
    assert "blocked it" in err  # a dequeue from its own queue, or a frame for a group signal


def test_check_catches_the_numba_delivery_pass_ignoring_masks(monkeypatch, capsys):
    from ecs_kernel.systems import signals_batch
    real = signals_batch.deliver

    def deliver_ignoring_masks(world, rows, scalar):  # planted: the pass sees every mask empty
        T = world.tasks
        saved = T.sig_mask[rows].copy()
        T.sig_mask[rows] = 0
        try:
            return real(world, rows, scalar)
        finally:
            T.sig_mask[rows] |= saved

    monkeypatch.setattr(signals_batch, "deliver", deliver_ignoring_masks)
    assert sim("mixed", "--tasks", 1000, "--ticks", 60, "--seed", 0, "--check", 2) == 1
    assert "invariant signal-delivered-while-blocked violated" in capsys.readouterr().err


def test_check_catches_unlock_waking_the_newest_waiter_first(monkeypatch, capsys):
    from ecs_kernel.components import links
    from ecs_kernel.jit import sim as K

    real = K.futex_steps

    def lifo_queues(*args):  # planted: every queue newest first before a batch
        x = args[-2]  # the FutexTables
        heads, tails, nxt, prv = x.q_head, x.q_tail, x.w_next, x.w_prev
        for q in np.flatnonzero(x.q_alive).tolist():
            rows = list(links.iterate(heads, q, nxt))
            for r in rows:
                links.unlink(heads, tails, q, nxt, prv, r)
            for r in reversed(rows):
                links.append(heads, tails, q, nxt, prv, r)
        return real(*args)

    monkeypatch.setattr(K, "futex_steps", lifo_queues)
    assert sim("futex-contention", "--tasks", 2000, "--ticks", 40, "--check", 1) == 1
    err = capsys.readouterr().err
    assert "invariant futex-lost-wakeup violated" in err and "woken first" in err


# -- the real command, in its own process (issue 17) --------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
ENTRY = [sys.executable, "-m", "ecs_kernel.cli", "sim"]  # what the `ecs-kernel` script runs
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout, whatever the working directory


def ecs_sim(*args, cwd=None, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([*ENTRY, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**ENV, **(env or {})}, timeout=timeout, check=False)


def start_sim(*args, cwd=None, env=None) -> subprocess.Popen:
    """``ecs-kernel sim ARGS`` running, its stdout and stderr piped. SIGINT is caught here while
    it starts, so the child begins with SIGINT at its default (a caught signal is reset at exec,
    an ignored one would stay ignored) and Python turns it into KeyboardInterrupt, even when
    the tests run with SIGINT ignored (in the background of a shell without job control)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen([*ENTRY, *map(str, args)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=cwd, env={**ENV, **(env or {})})
    finally:
        signal.signal(signal.SIGINT, old if old is not None else signal.SIG_DFL)


def read_stderr_until(p: subprocess.Popen, pattern: str, timeout: float = 600) -> str:
    """What ``p`` wrote to stderr up to the first match of ``pattern`` (a regex); fails if the
    process ends or ``timeout`` passes first."""
    got = b""
    deadline = time.monotonic() + timeout
    fd = p.stderr.fileno()
    while not re.search(pattern, got.decode(errors="replace")):
        left = deadline - time.monotonic()
        assert left > 0, f"no {pattern!r} on stderr in {timeout} s: {got[-2000:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"the command ended before {pattern!r}: {got[-2000:]!r}"
            got += chunk
    return got.decode(errors="replace")


def summary_field(out: str, label: str) -> str:
    m = re.search(rf"^  {label} +(.*)$", out, re.MULTILINE)
    assert m, f"no {label!r} line in the summary:\n{out}"
    return m.group(1)


def at_the_end(out: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", summary_field(out, "at the end"))}


def bar_states(err: str) -> list[tuple[str, str]]:
    """(alive, blocked) of every progress bar drawn, in order, as printed."""
    return re.findall(r"alive=([^,\]]+), blocked=([^,\]\s]+)", err)


@pytest.mark.parametrize("opt, path, says", [
    ("--out", "{tmp}/a-directory.json", "is a directory"),
    ("--plot", "{tmp}/a-directory.png", "is a directory"),
    ("--out", "{tmp}/missing/run.csv", "no such directory {tmp}/missing"),
    ("--plot", "{tmp}/missing/run.png", "no such directory {tmp}/missing"),
    ("--out", "{tmp}/a-file/run.json", "{tmp}/a-file is not a directory"),
    ("--out", "/proc/ecs-kernel-sim-run.json", "cannot create a file in /proc"),  # root cannot either
    ("--plot", "/proc/ecs-kernel-sim-run.svg", "cannot create a file in /proc"),
    ("--checkpoint-to", "/proc", "cannot create a file there"),
])
def test_an_unwritable_output_is_refused_before_the_first_tick(tmp_path, opt, path, says):
    (tmp_path / "a-directory.json").mkdir()
    (tmp_path / "a-directory.png").mkdir()
    (tmp_path / "a-file").write_text("x")
    before = sorted(tmp_path.rglob("*"))
    path, says = (x.replace("{tmp}", str(tmp_path)) for x in (path, says))
    extra = ["--checkpoint-every", 1] if opt == "--checkpoint-to" else []
    # a run far too long to finish: the answer must come before it starts
    r = ecs_sim("mixed", "--tasks", 100, "--ticks", 10**9, opt, path, *extra, cwd=tmp_path,
                timeout=300)
    assert r.returncode == 2, r.stderr
    assert r.stderr == f"ecs-kernel sim: {opt} {path}: {says}\n" or \
        (r.stderr.startswith(f"ecs-kernel sim: {opt} {path}: {says}") and r.stderr.count("\n") == 1), \
        r.stderr  # one line: no progress bar (no tick ran), no traceback
    assert r.stdout == ""  # no summary: nothing ran
    assert sorted(tmp_path.rglob("*")) == before, "nothing written"
    assert not os.path.exists("/proc/ecs-kernel-sim-run.json")


def test_ctrl_c_mid_run_is_in_the_summary_the_meta_and_the_last_bar(tmp_path):
    out, png = tmp_path / "run.json", tmp_path / "run.png"
    total = 10**7
    p = start_sim("mixed", "--tasks", 300, "--ticks", total, "--out", out, "--plot", png)
    try:
        seen = read_stderr_until(p, rf"\| *[1-9]\d*/{total} \[")  # a bar after a tick or more
        p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=300)
    finally:
        p.kill()
    err = seen + stderr.decode()
    stdout = stdout.decode()
    assert p.returncode == 130, err
    assert "Traceback" not in err
    m = re.match(rf"mixed: 300 tasks, (\d+) of {total} ticks \(interrupted\), seed 0\n", stdout)
    assert m, stdout
    ran = int(m.group(1))
    assert ran >= 1
    assert f"ecs-kernel sim: interrupted at tick {ran} of {total}\n" in err
    names, data, meta = R.read(out)
    assert meta["interrupted"] is True and meta["ticks"] == ran and meta["ticks_requested"] == total
    assert len(data) == ran  # every tick that completed, and only those
    end = at_the_end(stdout)
    assert end["tasks_alive"] == data[-1, names.index("tasks_alive")]
    assert end["blocked"] == data[-1, names.index("blocked")]
    assert bar_states(err)[-1] == (str(end["tasks_alive"]), str(end["blocked"]))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote       {out}, {png}" in stdout


def test_a_ctrl_c_the_moment_the_bar_shows_still_reports(monkeypatch, capsys):
    """The window between the bar's first drawing (what a user, or the test below, sees before
    pressing Ctrl-C) and the loop: a KeyboardInterrupt there gives the summary and 130 too, not
    a bare "interrupted" (a loaded machine opened it in a suite run)."""
    import tqdm

    class InterruptedBar(tqdm.tqdm):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            raise KeyboardInterrupt  # at once after drawing

    monkeypatch.setattr(tqdm, "tqdm", InterruptedBar)
    assert main(["sim", "mixed", "--tasks", "50", "--ticks", "5"]) == 130
    out, err = capsys.readouterr()
    assert out.startswith("mixed: 50 tasks, 0 of 5 ticks (interrupted), seed 0\n"), (out, err)
    assert "interrupted at tick 0 of 5" in err


def test_ctrl_c_at_tick_0_reports_the_tasks_created(tmp_path):
    # An empty numba cache: the first tick compiles kernels for seconds, so Ctrl-C sent once the
    # bar is up lands in tick 1, as it does for a user who gives up waiting on a first run.
    out = tmp_path / "run.json"
    p = start_sim("mixed", "--tasks", 500, "--ticks", 50, "--out", out,
                  env={"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")})
    try:
        seen = read_stderr_until(p, r" 0/50 \[")
        p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=300)
    finally:
        p.kill()
    err, stdout = seen + stderr.decode(), stdout.decode()
    assert p.returncode == 130 and "Traceback" not in err, err
    assert stdout.startswith("mixed: 500 tasks, 0 of 50 ticks (interrupted), seed 0\n"), stdout
    assert "ecs-kernel sim: interrupted at tick 0 of 50\n" in err
    end = at_the_end(stdout)
    assert end["tasks_alive"] == 501 and end["running"] == 501  # the tasks and init, not 0
    assert bar_states(err)[-1] == ("501", "0")
    names, data, meta = R.read(out)
    assert meta["interrupted"] is True and meta["ticks"] == 0 and data.shape == (0, len(names))


def test_the_progress_bar_shows_integers_and_ends_where_the_summary_does():
    # 10001 tasks alive is what tqdm's own number format prints as 1e+4
    r = ecs_sim("mixed", "--tasks", 10_000, "--ticks", 21, "--seed", 2, timeout=300)
    assert r.returncode == 0, r.stderr
    states = bar_states(r.stderr)
    assert states, r.stderr
    assert all(a.isdigit() and b.isdigit() for a, b in states), states
    end = at_the_end(r.stdout)
    assert states[-1] == (str(end["tasks_alive"]), str(end["blocked"]))
    assert re.search(r"\| 21/21 \[", r.stderr.splitlines()[-1])


def test_numba_compilation_is_shown_apart_and_left_out_of_the_rate(tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}  # empty: the first run compiles
    tasks, ticks = 300, 5
    first = ecs_sim("mixed", "--tasks", tasks, "--ticks", ticks, cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "mixed (compiling numba kernels)" in first.stderr  # the bar says so while it happens
    time_line = summary_field(first.stdout, "time")
    m = re.fullmatch(r"([\d.]+) s setup, ([\d.]+) s compiling numba kernels \(first run only: "
                     r"cached on disk\), ([\d.]+) s running 5 ticks: ([\d,]+) task-ticks/s", time_line)
    assert m, time_line
    compiling, rate = float(m.group(2)), int(m.group(4).replace(",", ""))
    assert compiling > 0.5
    # a rate with the compilation in would be at most tasks * ticks / compiling
    assert rate > 10 * tasks * ticks / compiling, time_line
    again = ecs_sim("mixed", "--tasks", tasks, "--ticks", ticks, cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert "compiling" not in again.stdout + again.stderr  # loaded from the cache this time
    assert re.fullmatch(r"[\d.]+ s setup, ([\d.]+ s loading numba kernels, )?[\d.]+ s running 5 "
                        r"ticks: [\d,]+ task-ticks/s", summary_field(again.stdout, "time"))


def test_help_lists_the_exit_statuses():
    r = subprocess.run([*ENTRY, "--help"], capture_output=True, text=True, env=ENV, timeout=120,
                       check=False)
    assert r.returncode == 0
    listed = r.stdout[r.stdout.index("\nexit status:\n"):]
    from ecs_kernel.cli_sim import EXIT_STATUS
    assert [s for s, _ in EXIT_STATUS] == [0, 1, 2, 3, 4, 130]
    for status, when in EXIT_STATUS:
        assert re.search(rf"^  {status} +{re.escape(when.split()[0])}", listed, re.MULTILINE), listed
    assert "cannot be written (found before the first tick)" in " ".join(listed.split())


def test_docs_list_the_same_exit_statuses():
    from ecs_kernel.cli_sim import EXIT_STATUS
    doc = (ROOT / "docs" / "sim-cli.md").read_text()
    table = doc[doc.index("Exit status:"):]
    rows = [int(x) for x in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)]
    assert rows == [s for s, _ in EXIT_STATUS]


def test_plot_from_the_command_is_a_png(tmp_path):
    png = tmp_path / "run.png"
    r = ecs_sim("fork-exit-churn", "--tasks", 200, "--ticks", 6, "--plot", png, "--no-progress",
                cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote       {png}" in r.stdout and r.stderr == ""


def test_the_summary_in_the_docs_is_what_the_command_prints():
    doc = (ROOT / "docs" / "sim-cli.md").read_text()
    block = re.search(r"\n  \$ ecs-kernel sim (signal-storm [^\n]*)\n(.*?)\n  ```", doc, re.DOTALL)
    args, shown = block.group(1).split(), [ln[2:] for ln in block.group(2).splitlines()]
    r = ecs_sim(*args, timeout=300)
    assert r.returncode == 0, r.stderr
    printed = r.stdout.splitlines()
    assert len(printed) == len(shown)
    # times vary from run to run, and whether numba loads or compiles its kernels: not the shape
    time_line = (r"  time        \d+\.\d\d s setup, (\d+\.\d\d s (loading numba kernels|compiling "
                 r"numba kernels \(first run only: cached on disk\)), )?\d+\.\d\d s running 20 ticks: "
                 r"[\d,]+ task-ticks/s")
    for got, want in zip(printed, shown):
        if want.startswith("  time "):
            assert re.fullmatch(time_line, want) and re.fullmatch(time_line, got), got
        else:
            assert got == want
