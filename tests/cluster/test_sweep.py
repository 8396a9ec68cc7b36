"""`ecs-kernel sweep`: a simulation per seed and parameter combination, the same rows in this
process and on the pool, reruns skip what is done, bad input is one line."""
import json
import os
import subprocess
import sys

import pytest

from ecs_kernel.cli import main
from ecs_kernel.sim.engine import COUNTERS

from .conftest import SWEEP, rows_of, sweep_rows


def test_a_sweep_runs_every_seed_and_combination_once(serial_sweep):
    rows = rows_of(serial_sweep)
    assert sorted((r["params"]["tasks"], r["seed"]) for r in rows) == \
        [(t, s) for t in (40, 60) for s in range(4)]
    assert all(r["ticks_run"] == 12 and r["violation"] is None for r in rows)
    assert all(r["last"]["tasks_alive"] == r["tasks"] + 1 for r in rows)  # and init
    # different seeds give different runs
    assert len({json.dumps(r["totals"], sort_keys=True) for r in rows}) > 1


def test_the_pool_writes_the_same_rows(serial_sweep, tmp_path):
    assert sweep_rows(tmp_path, "--workers", "2") == serial_sweep


def test_a_row_holds_what_ecs_kernel_sim_records(tmp_path, capsys):
    out, sim_out = tmp_path / "s.jsonl", tmp_path / "sim.json"
    assert main(["sweep", "mixed", "--seeds", "5", "--tasks", "64", "--ticks", "15", "--per-tick",
                 "--out", str(out), "--no-progress"]) == 0
    assert main(["sim", "mixed", "--tasks", "64", "--ticks", "15", "--seed", "5",
                 "--out", str(sim_out), "--no-progress"]) == 0
    row, = rows_of(out.read_text().splitlines())
    sim = json.loads(sim_out.read_text())
    assert row["counters"] == {k: sim["counters"][k] for k in COUNTERS}
    assert row["totals"]["syscalls"] == sum(sim["counters"]["syscalls"])


def test_a_rerun_skips_what_is_done_and_drops_a_cut_line(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    base = ["sweep", "signal-storm", "--tasks", "30", "--ticks", "5", "--out", str(out), "--no-progress"]
    assert main(base + ["--seeds", "0..1"]) == 0
    with open(out, "a") as f:
        f.write('{"key": "cut sh')  # a run killed while writing its line
    assert main(base + ["--seeds", "0..3"]) == 0
    assert "2 run now" in capsys.readouterr().out
    rows = rows_of(out.read_text().splitlines())
    assert sorted(r["seed"] for r in rows) == [0, 1, 2, 3]
    assert main(base + ["--seeds", "0..3"]) == 0
    assert "0 run now" in capsys.readouterr().out and len(out.read_text().splitlines()) == 4
    # another setting is another run
    assert main(base[:5] + ["6"] + base[6:] + ["--seeds", "0"]) == 0
    assert len(out.read_text().splitlines()) == 5


def test_workload_fields_and_shares_are_parameters(tmp_path):
    out = tmp_path / "p.jsonl"
    assert main(["sweep", "mixed", "--seeds", "1", "--tasks", "50", "--ticks", "8", "--param",
                 "threads_per_process=1,5", "--param", "share.forker=0,0.5", "--out", str(out),
                 "--no-progress"]) == 0
    rows = rows_of(out.read_text().splitlines())
    assert len(rows) == 4 and len({r["workload_digest"] for r in rows}) == 4
    no_forker = [r for r in rows if r["params"]["share.forker"] == 0]
    assert all(r["totals"]["clones"] == 0 for r in no_forker)


BAD_TOML = 'name = "bad"\n[[programs]]\nname = "p"\nsteps = [ { op = "kil" } ]\n'


@pytest.mark.parametrize("args,says", [
    (["--seeds", "5..2"], "--seeds '5..2'"),
    (["--seeds", "x"], "expected A..B"),
    (["--seeds", "0", "--param", "speed=1"], "--param speed: unknown key"),
    (["--seeds", "0", "--param", "tasks=1,x"], "'x' is not an integer"),
    (["--seeds", "0", "--param", "tasks"], "expected KEY=V1,V2"),
    (["--seeds", "0", "--param", "futex_words=4"], "futex_words=4"),
    (["--seeds", "0", "--param", "share.nobody=1"], "no program 'nobody'"),
    (["--seeds", "0", "--out", "OUT.json"], "must be .jsonl"),
    (["--seeds", "0", "--workers", "0"], "--workers must be at least 1"),
    (["--seeds", "0", "--workers", "2", "--cluster", "local"], "exclude each other"),
    (["--seeds", "0", "--ticks", "0"], "--ticks must be at least 1"),
])
def test_bad_arguments_are_one_line_and_status_2(args, says, tmp_path, capsys):
    argv = ["sweep", "mixed", "--ticks", "3", "--no-progress"] + args
    if "--out" not in args:
        argv += ["--out", str(tmp_path / "o.jsonl")]
    assert main([a.replace("OUT", str(tmp_path / "o")) for a in argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert err.startswith("ecs-kernel sweep: ")
    assert not (tmp_path / "o.jsonl").exists()


def test_a_malformed_workload_names_the_file_and_line(tmp_path, capsys):
    wl = tmp_path / "bad.toml"
    wl.write_text(BAD_TOML)
    assert main(["sweep", str(wl), "--seeds", "0", "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"{wl}:4:" in err and "unknown op 'kil'" in err


def test_asking_for_ray_without_it_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["sweep", *SWEEP, "--out", str(tmp_path / "o.jsonl"), "--cluster", "local"]) == 2
    err = capsys.readouterr().err
    assert err == 'ecs-kernel sweep: Ray is not installed: pip install "ecs-kernel[ray]"\n'


def test_ray_is_imported_only_when_asked_for(tmp_path):
    code = ("import sys; from ecs_kernel.cli import main; "
            f"s = main(['sweep', 'signal-storm', '--seeds', '0', '--tasks', '10', '--ticks', '2', "
            f"'--no-progress', '--out', {str(tmp_path / 'o.jsonl')!r}, '--workers', '1']); "
            "assert s == 0 and 'ray' not in sys.modules, sorted(m for m in sys.modules if 'ray' in m)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={k: v for k, v in os.environ.items() if k != "ECS_KERNEL_CLUSTER"})
    assert r.returncode == 0, r.stderr
