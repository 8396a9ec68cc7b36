"""sim/report.py: the counter recorder, its JSON and CSV files, and plots."""
from __future__ import annotations

import builtins
import json
import re

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


# -- what the plot shows (issue 17) ------------------------------------------------------------------

def a_run_of_100000_tasks(ticks=40):
    """Counters shaped like ``mixed`` at 10^5 tasks: gauges near 10^5 beside series at 0..2,
    exits, zombies and reaped equal tick for tick, CPU time ~10^11 ns per tick."""
    from ecs_kernel.sim.engine import COUNTERS
    rng = np.random.default_rng(1)
    c = {n: np.zeros(ticks, np.int64) for n in COUNTERS}
    c["running"] = rng.integers(80_000, 82_000, ticks)
    c["tasks_alive"] = np.full(ticks, 100_001)
    c["blocked"] = c["tasks_alive"] - c["running"]
    c["zombie"] = rng.integers(0, 3, ticks)
    c["signals_sent"] = rng.integers(3_000, 5_000, ticks)
    c["signals_delivered"] = c["signals_sent"] - 1_000
    c["signals_dropped"] = rng.integers(500, 1_500, ticks)
    c["futex_waits"], c["futex_wakes"] = rng.integers(100, 300, (2, ticks))
    c["clones"] = rng.integers(40, 80, ticks)
    c["exits"] = c["zombies"] = c["reaped"] = rng.integers(10, 60, ticks)
    c["syscalls"] = rng.integers(10_000, 20_000, ticks)
    c["compute_ticks"] = rng.integers(60_000, 80_000, ticks)
    c["cpu_time_ns"] = c["running"] * 1_000_000
    return COUNTERS, np.column_stack([c[n] for n in COUNTERS])


def drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig).draw()
    return fig


def y_labels(ax) -> list[str]:
    """The y tick labels drawn (matplotlib also keeps labels for ticks outside the limits)."""
    lo, hi = ax.get_ylim()
    return [t.get_text() for t, y in zip(ax.get_yticklabels(), ax.get_yticks())
            if lo <= y <= hi and t.get_text()]


def panel(fig, title):
    return next(ax for ax in fig.axes if ax.get_title(loc="left").startswith(title))


def test_each_panel_has_its_own_scale_log_where_counts_span_orders_of_magnitude():
    names, data = a_run_of_100000_tasks()
    fig = drawn(R.figure(names, data))
    states = panel(fig, "tasks by run state")
    assert states.get_yscale() == "symlog" and "log" in states.get_ylabel()
    assert -1 < states.get_ylim()[0] < 0  # 0 is drawn, just above the axis line
    # 2 zombies and 0 are apart by a tenth of the panel's height, not 2/100000 of it
    to_axes = states.transData + states.transAxes.inverted()
    (_, y0), (_, y2) = to_axes.transform([(1, 0), (1, 2)])
    assert y2 - y0 > 0.05, (y0, y2)
    zombie = next(ln for ln in states.get_lines() if ln.get_label().startswith("zombie"))
    assert zombie.get_ydata().max() == 2
    for title in ("signals per tick", "futex calls per tick", "lifecycle events", "syscalls per tick",
                  "CPU time"):
        assert panel(fig, title).get_yscale() == "linear", title


def test_series_that_coincide_have_distinct_line_styles_and_say_so():
    names, data = a_run_of_100000_tasks()
    ax = panel(R.figure(names, data), "lifecycle events")
    lines = {ln.get_label().split()[0]: ln for ln in ax.get_lines()}
    same = [lines[n] for n in ("exits", "zombies", "reaped")]
    styles = {(ln.get_linestyle(), ln.get_linewidth()) for ln in same}
    assert len(styles) == 3 and len({ln.get_color() for ln in same}) == 3
    assert "same as exits" in lines["zombies"].get_label() and "same as exits" in lines["reaped"].get_label()
    assert "0 throughout" in lines["group_stops"].get_label()
    total = int(data[:, names.index("clones")].sum())
    assert lines["clones"].get_label() == f"clones (total {total:,})"


def test_cpu_time_is_drawn_in_seconds_with_no_offset():
    names, data = a_run_of_100000_tasks()
    fig = drawn(R.figure(names, data))
    ax = panel(fig, "CPU time")
    (line,) = ax.get_lines()
    assert np.allclose(line.get_ydata(), data[:, names.index("cpu_time_ns")] / 1e9)  # ~81 s
    assert ax.get_ylabel() == "seconds" and line.get_label().startswith("cpu_time (total ")
    assert line.get_label().endswith(" s)")
    assert ax.yaxis.get_offset_text().get_text() == ""  # no "1e11" above the axis
    labels = y_labels(ax)
    assert labels and all(70 < float(t.replace(",", "")) < 90 for t in labels), labels


def test_counts_on_a_linear_scale_are_plain_integers():
    names, data = a_run_of_100000_tasks()
    fig = drawn(R.figure(names, data))
    ax = panel(fig, "syscalls per tick")
    labels = y_labels(ax)
    assert labels and all(re.fullmatch(r"-?[\d,]+", t) for t in labels), labels
    assert ax.yaxis.get_offset_text().get_text() == ""


def test_a_panel_where_nothing_happened_reads_0_to_1():
    names, data = a_run_of_100000_tasks()
    data[:, [names.index(n) for n in ("futex_waits", "futex_wakes")]] = 0
    ax = panel(drawn(R.figure(names, data)), "futex calls per tick")
    bottom, top = ax.get_ylim()
    assert -0.1 < bottom < 0 and top == 1
    labels = y_labels(ax)
    assert labels == ["0", "1"], labels
    assert all("0 throughout" in ln.get_label() for ln in ax.get_lines())


def test_legends_name_every_series_and_sit_outside_the_data():
    names, data = a_run_of_100000_tasks()
    fig = drawn(R.figure(names, data))
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend()
        assert [t.get_text().split()[0] for t in legend.get_texts()] == \
            [ln.get_label().split()[0] for ln in ax.get_lines()]
        assert all(t.get_fontsize() >= 8 for t in legend.get_texts())
        assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1


def test_a_run_with_no_tick_still_plots(tmp_path):
    names, data = a_run_of_100000_tasks(ticks=0)
    R.plot(names, data, tmp_path / "empty.png")
    assert (tmp_path / "empty.png").read_bytes()[:4] == b"\x89PNG"
