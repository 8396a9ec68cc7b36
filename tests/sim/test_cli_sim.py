"""``ecs-kernel sim``: outputs, determinism, checks, deadlock reports and bad input."""
from __future__ import annotations

import builtins
import json

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


def test_an_unwritable_output_is_one_line_not_a_traceback(tmp_path, capsys):
    out = tmp_path / "d.json"
    out.mkdir()  # a directory where the file should go
    assert sim("signal-storm", "--tasks", 20, "--ticks", 2, "--out", out) == 2
    err = capsys.readouterr().err
    assert f"cannot write {out}" in err and "Traceback" not in err


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
