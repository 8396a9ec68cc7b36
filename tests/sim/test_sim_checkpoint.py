"""Simulation checkpoints: a simulation saved at tick k and resumed (in this process or a new
one) runs on to the uninterrupted run's counters, tick for tick; `ecs-kernel sim
--checkpoint-every/--checkpoint-to/--resume`; and every checkpoint that cannot be resumed
(missing, damaged, forged, not a simulation's) is refused in one line, status 2 at the command
line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecs_kernel import checkpoint_file as CF
from ecs_kernel.checkpoint_file import CheckpointError
from ecs_kernel.cli import main
from ecs_kernel.cli_sim import checkpoint_name
from ecs_kernel.sim import report as R
from ecs_kernel.sim import spec
from ecs_kernel.sim.engine import COUNTERS, Simulation
from ecs_kernel.testing.compare import assert_same_worlds

from .test_cli_sim import LOCK_ORDER

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = st.sampled_from(spec.workload_names())


def sim_cli(*args):
    return main(["sim", *map(str, args), "--no-progress"])


@st.composite
def runs(draw, max_ticks=20):
    """(workload, tasks, seed, total ticks, checkpoint tick)."""
    total = draw(st.integers(2, max_ticks))
    return (draw(WORKLOADS), draw(st.integers(1, 120)), draw(st.integers(0, 2**32)), total,
            draw(st.integers(1, total - 1)))


# -- the Python API ---------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(runs(), st.booleans(), st.sampled_from([0, 2]))
def test_a_resumed_simulation_gives_the_uninterrupted_counters(run, batched, check_every):
    name, tasks, seed, total, k = run
    whole = Simulation(name, tasks, seed, batched=batched, check_every=check_every)
    expected = whole.run(total)
    cut = Simulation(name, tasks, seed, batched=batched, check_every=check_every)
    cut.run(k)
    with tempfile.TemporaryDirectory() as d:
        cut.checkpoint(os.path.join(d, "s.ckpt"))
        back = Simulation.resume(os.path.join(d, "s.ckpt"))
    assert back.tick == k and (back.history.data == whole.history.data[:k]).all()
    assert back.run(total - k) == expected[k:], "the ticks after the checkpoint"
    assert (back.history.data == whole.history.data).all()
    assert_same_worlds(whole.world, back.world, ("uninterrupted", "resumed"))
    assert (back.tasks, back.seed, back.check_every) == (tasks, seed, check_every)
    assert spec.to_data(back.workload) == spec.to_data(whole.workload)
    assert back.workload.source == whole.workload.source


def test_extra_data_comes_back_with_the_simulation(tmp_path):
    sim = Simulation("signal-storm", 40, seed=1)
    sim.run(3)
    sim.checkpoint(tmp_path / "s.ckpt", extra={"note": "mine", "n": [1, 2]})
    assert Simulation.resume(tmp_path / "s.ckpt").extra == {"note": "mine", "n": [1, 2]}


def test_a_workload_built_in_python_comes_back(tmp_path):
    wl = spec.loads(LOCK_ORDER, "lock-order.toml")
    sim = Simulation(wl, 6, seed=2)
    sim.run(4)
    sim.checkpoint(tmp_path / "s.ckpt")
    back = Simulation.resume(tmp_path / "s.ckpt")
    assert back.workload.name == "lock-order" and back.workload.source == "lock-order.toml"
    assert back.run(5) == Simulation(wl, 6, seed=2).run(9)[4:]


# -- forged and damaged checkpoints ----------------------------------------------------------------

def _small():
    sim = Simulation("mixed", 30, seed=4)
    sim.run(5)
    return sim


def _forged(mutate) -> bytes:
    meta, arrays = _small().to_state()
    mutate(meta, arrays)
    return CF.dumps(meta, arrays)  # right digests around the forged content


def _other_program(m, a):
    m["simulation"]["workload"]["programs"][0]["steps"][0] = {"op": "compute", "ticks": 3}


@pytest.mark.parametrize("what,mutate,says", [
    ("a World checkpoint", lambda m, a: m.update(kind="world"), "not a simulation checkpoint"),
    ("another version", lambda m, a: m.update(version=99), "version 99"),
    ("no simulation section", lambda m, a: m.pop("simulation"), "sections"),
    ("extra not an object", lambda m, a: m.update(extra=[1]), "sections"),
    ("other counters", lambda m, a: m["simulation"]["counters"].reverse(), "counters"),
    ("history of other ticks", lambda m, a: a.update({"sim.history": a["sim.history"][:-1]}),
     "sim.history"),
    ("history of floats", lambda m, a: a.update({"sim.history": a["sim.history"] * 1.0}),
     "sim.history"),
    ("a bad tick", lambda m, a: m["simulation"].update(tick=-1), "tick"),
    ("a bad workload", lambda m, a: m["simulation"]["workload"].update(programs=[]), "workload"),
    ("a workload the programs are not", _other_program, "does not match"),
    ("another seed", lambda m, a: m["simulation"].update(seed=m["simulation"]["seed"] + 1),
     "seed"),
    ("no World", lambda m, a: m.update(world=None), "sections"),
])
def test_forged_simulation_checkpoints_are_refused(tmp_path, what, mutate, says):
    path = tmp_path / "f.ckpt"
    path.write_bytes(_forged(mutate))
    with pytest.raises(CheckpointError) as e:
        Simulation.resume(path)
    msg = str(e.value)
    assert says in msg and "\n" not in msg, (what, msg)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_simulation_checkpoints_are_refused(data):
    blob = _BLOB.get("b") or _BLOB.setdefault("b", CF.dumps(*_small().to_state()))
    i = data.draw(st.integers(0, len(blob) - 1))
    how = data.draw(st.sampled_from(["flip", "truncate"]))
    damaged = blob[:i] + bytes([blob[i] ^ data.draw(st.integers(1, 255))]) + blob[i + 1:] \
        if how == "flip" else blob[:i]
    with pytest.raises(CheckpointError) as e:
        Simulation.from_state(*CF.loads(damaged))
    assert "\n" not in str(e.value)


_BLOB: dict = {}


# -- the command line -------------------------------------------------------------------------------

def test_checkpoints_are_files_named_by_tick_and_nothing_else_is_left(tmp_path, capsys):
    d = tmp_path / "new" / "ckpts"  # made, parents too
    assert sim_cli("signal-storm", "--tasks", 50, "--ticks", 10, "--checkpoint-every", 4,
                   "--checkpoint-to", d) == 0
    assert sorted(os.listdir(d)) == [checkpoint_name(4), checkpoint_name(8)] == \
        ["tick-000004.ckpt", "tick-000008.ckpt"]
    assert "checkpoints 2, the last" in capsys.readouterr().out


def test_resume_runs_to_the_total_and_writes_the_whole_run(tmp_path, capsys):
    d, full, rest = tmp_path / "c", tmp_path / "full.json", tmp_path / "rest.json"
    plain = tmp_path / "plain.json"
    assert sim_cli("mixed", "--tasks", 80, "--ticks", 15, "--seed", 9, "--check", 3,
                   "--out", plain) == 0
    assert sim_cli("mixed", "--tasks", 80, "--ticks", 15, "--seed", 9, "--check", 3,
                   "--checkpoint-every", 5, "--checkpoint-to", d, "--out", full) == 0
    assert full.read_bytes() == plain.read_bytes(), "checkpointing changes nothing"
    capsys.readouterr()
    assert sim_cli("--resume", d / "tick-000005.ckpt", "--out", rest) == 0
    out = capsys.readouterr().out
    assert "mixed: 80 tasks, 15 ticks, seed 9" in out and "loading tick 5" in out
    assert "running 10 ticks" in out and "checks      5 (every 3 ticks)" in out
    assert rest.read_bytes() == full.read_bytes()
    # further than the run was started for, saving again: the same checkpoints as an unbroken
    # run's (but the World's serial number, which tells Worlds of one process apart)
    d2, d3 = tmp_path / "c2", tmp_path / "c3"
    assert sim_cli("--resume", d / "tick-000010.ckpt", "--ticks", 20, "--checkpoint-every", 5,
                   "--checkpoint-to", d2) == 0
    assert sim_cli("mixed", "--tasks", 80, "--ticks", 20, "--seed", 9, "--check", 3,
                   "--checkpoint-every", 5, "--checkpoint-to", d3) == 0
    assert sorted(os.listdir(d2)) == ["tick-000015.ckpt", "tick-000020.ckpt"]
    for name in os.listdir(d2):
        (m2, a2), (m3, a3) = CF.read(d2 / name), CF.read(d3 / name)
        m2["world"].pop("serial"), m3["world"].pop("serial")
        assert m2 == m3 and list(a2) == list(a3), name
        assert all(a2[k].tobytes() == a3[k].tobytes() for k in a2), name


def test_a_deadlock_seen_before_the_checkpoint_is_still_reported_once(tmp_path, capsys):
    wl = tmp_path / "lock-order.toml"
    wl.write_text(LOCK_ORDER)
    d = tmp_path / "c"
    assert sim_cli(wl, "--tasks", 4, "--ticks", 12, "--check", 2, "--checkpoint-every", 8,
                   "--checkpoint-to", d) == 3
    first = capsys.readouterr()
    assert first.err.count("deadlock of") == 1
    assert sim_cli("--resume", d / "tick-000008.ckpt") == 3
    again = capsys.readouterr()
    assert "deadlock of" not in again.err, "found before the checkpoint: not reported again"
    def section(out):
        return out.split("  deadlocks")[1].split("  checkpoints")[0]
    assert "deadlocks   1" in again.out and section(again.out) == section(first.out)


def test_a_checkpoint_saved_from_python_resumes_with_ticks(tmp_path, capsys):
    sim = Simulation("timer-sleepers", 60, seed=3)
    sim.run(4)
    sim.checkpoint(tmp_path / "p.ckpt")
    assert sim_cli("--resume", tmp_path / "p.ckpt") == 2
    assert "--ticks" in capsys.readouterr().err
    out = tmp_path / "r.json"
    assert sim_cli("--resume", tmp_path / "p.ckpt", "--ticks", 9, "--out", out) == 0
    _, data, meta = R.read(out)
    whole = Simulation("timer-sleepers", 60, seed=3)
    whole.run(9)
    assert (data == whole.history.data).all()
    assert meta["workload"] == "timer-sleepers" and meta["ticks"] == 9


def _flip(path: Path, at: int) -> Path:
    b = bytearray(path.read_bytes())
    b[at] ^= 0x10
    out = path.with_name(f"flip-{at}.ckpt")
    out.write_bytes(bytes(b))
    return out


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("saved")
    assert sim_cli("fork-exit-churn", "--tasks", 40, "--ticks", 6, "--checkpoint-every", 3,
                   "--checkpoint-to", d) == 0
    sim = Simulation("fork-exit-churn", 40, seed=0)
    sim.world.save(d / "world.ckpt")
    (d / "counters.json").write_text(json.dumps({"not": "a checkpoint"}))
    return d


@pytest.mark.parametrize("argv, says", [
    (lambda d: ["--resume", d / "missing.ckpt"], "cannot read"),
    (lambda d: ["--resume", d / "counters.json"], "not a checkpoint"),
    (lambda d: ["--resume", d / "world.ckpt"], "not a simulation checkpoint"),
    (lambda d: ["--resume", _flip(d / "tick-000003.ckpt", 100)], "corrupt checkpoint"),
    (lambda d: ["--resume", _flip(d / "tick-000003.ckpt", 5000)], "corrupt checkpoint"),
    (lambda d: ["--resume", d], "cannot read"),
    (lambda d: ["--resume", d / "tick-000006.ckpt", "--ticks", 4], "before the checkpoint's tick 6"),
    (lambda d: ["--resume", d / "tick-000003.ckpt", "--tasks", 5], "drop --tasks"),
    (lambda d: ["mixed", "--resume", d / "tick-000003.ckpt", "--seed", 1], "drop WORKLOAD, --seed"),
    (lambda d: ["--resume", d / "tick-000003.ckpt", "--check", 1], "drop --check"),
    (lambda d: ["mixed", "--checkpoint-every", 5], "go together"),
    (lambda d: ["mixed", "--checkpoint-to", d], "go together"),
    (lambda d: ["mixed", "--checkpoint-every", 0, "--checkpoint-to", d], "at least 1"),
    (lambda d: ["mixed", "--checkpoint-every", 2, "--checkpoint-to", d / "counters.json"],
     "not a directory"),
])
def test_bad_resumes_and_checkpoint_arguments_get_one_line_and_status_2(saved, argv, says, capsys):
    assert main(["sim", *map(str, argv(saved)), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_truncated_checkpoints_are_refused_at_the_command_line(saved, tmp_path, capsys):
    blob = (saved / "tick-000003.ckpt").read_bytes()
    for n in (0, 10, len(blob) // 2, len(blob) - 1):
        p = tmp_path / f"t{n}.ckpt"
        p.write_bytes(blob[:n])
        assert sim_cli("--resume", p) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"ecs-kernel sim: cannot resume {p}: ") and err.count("\n") == 1


# -- in a new process ---------------------------------------------------------------------------------

def _cli_in_new_process(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "ecs_kernel.cli", "sim", *map(str, args),
                           "--no-progress"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


@settings(max_examples=4, deadline=None)
@given(runs(max_ticks=16))
def test_a_checkpoint_resumes_in_a_new_process_to_the_same_counters(run):
    name, tasks, seed, total, k = run
    with tempfile.TemporaryDirectory() as tmp:
        d, full, rest = Path(tmp) / "c", Path(tmp) / "full.csv", Path(tmp) / "rest.csv"
        assert sim_cli(name, "--tasks", tasks, "--ticks", total, "--seed", seed,
                       "--checkpoint-every", k, "--checkpoint-to", d, "--out", full) == 0
        p = _cli_in_new_process("--resume", d / checkpoint_name(k), "--out", rest)
        assert p.returncode == 0, p.stderr
        assert f"loading tick {k}" in p.stdout
        assert rest.read_text() == full.read_text()
        names, data, _ = R.read(rest)
    uninterrupted = Simulation(name, tasks, seed)
    uninterrupted.run(total)
    assert names == COUNTERS and (data == uninterrupted.history.data).all()
