"""sim/report.py: the counter recorder, its JSON and CSV files, and plots."""
from __future__ import annotations

import builtins
import json

import numpy as np
import pytest

from ecs_kernel.sim import report as R

NAMES = ("running", "blocked", "signals_sent", "futex_waits", "cpu_time_ns", "mystery")


def filled(ticks, capacity=4):
    rec = R.CounterRecorder(NAMES, capacity=capacity, meta={"workload": "w", "seed": 3})
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 2 ** 40, (ticks, len(NAMES)))
    for row in rows:
        rec.record(dict(zip(NAMES, row.tolist())))
    return rec, rows


def test_recorder_grows_past_its_capacity_and_keeps_every_tick():
    rec, rows = filled(37, capacity=4)
    assert rec.ticks == 37 and rec.data.shape == (37, len(NAMES))
    assert (rec.data == rows).all()
    assert rec.totals()["running"] == int(rows[:, 0].sum())
    assert rec.last()["mystery"] == int(rows[-1, -1])
    assert (rec.column("futex_waits") == rows[:, 3]).all()


def test_recorder_refuses_missing_or_unknown_counters():
    rec = R.CounterRecorder(("a", "b"))
    with pytest.raises(KeyError, match="missing"):
        rec.record({"a": 1})
    with pytest.raises(KeyError, match="unknown"):
        rec.record({"a": 1, "b": 2, "c": 3})
    with pytest.raises(ValueError):
        R.CounterRecorder(("a", "a"))


@pytest.mark.parametrize("ext", ["json", "csv"])
def test_files_round_trip(tmp_path, ext):
    rec, rows = filled(10)
    path = tmp_path / f"run.{ext}"
    assert rec.write(path) == ext
    names, data, meta = R.read(path)
    assert names == NAMES and (data == rows).all()
    if ext == "json":
        assert meta == {"workload": "w", "seed": 3}
        doc = json.loads(path.read_text())
        assert doc["format"] == R.FORMAT and doc["ticks"] == 10
    else:
        lines = path.read_text().splitlines()
        assert lines[0] == "tick," + ",".join(NAMES)
        assert lines[1].startswith("1,") and lines[-1].startswith("10,")


def test_an_empty_run_writes_valid_files(tmp_path):
    rec = R.CounterRecorder(NAMES)
    for ext in ("json", "csv"):
        rec.write(tmp_path / f"e.{ext}")
        names, data, _ = R.read(tmp_path / f"e.{ext}")
        assert names == NAMES and data.shape == (0, len(NAMES))


def test_unknown_extension_is_refused(tmp_path):
    rec, _ = filled(2)
    with pytest.raises(ValueError, match=r"\.json or \.csv"):
        rec.write(tmp_path / "run.txt")


def test_plot_draws_an_image_with_a_panel_per_group(tmp_path):
    rec, _ = filled(50)
    path = tmp_path / "run.png"
    rec.plot(path, title="t")
    head = path.read_bytes()[:8]
    assert head == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread
    img = imread(path)
    # 4 panels (run states, signals, futex, CPU) + "other" for the unknown counter: 2.4 in each
    assert img.shape[0] == int(2.4 * 5 * 100)


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *a, **kw):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    rec, _ = filled(3)
    with pytest.raises(R.PlotUnavailable, match=r"pip install 'ecs-kernel\[plot\]'"):
        rec.plot(tmp_path / "run.png")
    assert not (tmp_path / "run.png").exists()


def test_a_recorder_from_data_goes_on_recording():
    data = np.arange(6, dtype=np.int64).reshape(3, 2)
    rec = R.CounterRecorder.from_data(("a", "b"), data, meta={"k": 1})
    data[0, 0] = 99  # copied: the caller's array is its own
    rec.record({"a": 7, "b": 8})
    assert rec.ticks == 4 and rec.data.tolist() == [[0, 1], [2, 3], [4, 5], [7, 8]]
    assert rec.meta == {"k": 1}
    with pytest.raises(ValueError):
        R.CounterRecorder.from_data(("a",), data)
