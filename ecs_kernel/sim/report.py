"""Per-tick counters of a simulation: recorded into one preallocated array, written as JSON or
CSV, drawn with matplotlib.

:class:`CounterRecorder` keeps one int64 row per tick in a ``(capacity, len(names))`` array that
doubles when full, so recording a tick is one row write (no list of dicts to convert at the end).

Files (the format is chosen by the extension of the path)::

    .json   {"format": "ecs-kernel-sim-counters", "version": 1,
             "meta": {"workload": ..., "tasks": ..., "seed": ..., ...},
             "ticks": T, "counters": {"running": [..T values..], ...}}
    .csv    a header ``tick,running,blocked,...`` and one line per tick (tick numbers from 1)

:func:`read` loads either back. :func:`figure` draws one panel per counter group (run states,
signals, futexes, lifecycle, syscalls, CPU time) against the tick and ``plot`` saves it; matplotlib
is imported only then, and if it is missing :class:`PlotUnavailable` says how to install it. Each
panel has its own scale: symmetric-log where its values span two orders of magnitude or more (so a
series at 0..10 stays visible beside one at 100,000, and 0 is still drawn), linear otherwise, with
integer ticks for counts and no offset. Within a panel every series has its own line style and
width (series that coincide, as exits, zombies and reaped often do, stay visible and the legend
says which ones are equal); CPU time is drawn in seconds. Legends sit outside the plot, each entry
with the series' total (events) or its last value (gauges).
"""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping

import numpy as np

FORMAT = "ecs-kernel-sim-counters"
VERSION = 1
EXTENSIONS = (".json", ".csv")

#: Panels of a plot: (title, y-axis label, counters). Counters in no group go to a last "other"
#: panel.
GROUPS = (
    ("tasks by run state (at the end of each tick)", "tasks",
     ("running", "blocked", "stopped", "zombie", "tasks_alive")),
    ("signals per tick", "signals", ("signals_sent", "signals_delivered", "signals_dropped")),
    ("futex calls per tick", "calls", ("futex_waits", "futex_wakes")),
    ("lifecycle events per tick", "events", ("clones", "exits", "zombies", "reaped", "group_stops")),
    ("syscalls per tick", "count", ("syscalls", "syscall_errors", "compute_ticks")),
    ("CPU time charged per tick", "seconds", ("cpu_time_ns",)),
)

#: Counters drawn in another unit: name -> (label, divisor, unit).
UNITS = {"cpu_time_ns": ("cpu_time", 1e9, "s")}

#: Gauges (a state at the end of each tick; the legend gives the last value, not a total).
GAUGES = ("running", "blocked", "stopped", "zombie", "tasks_alive")

#: Line styles within a panel, in order: dash pattern and width (wider first, so a series drawn
#: over an equal one leaves it visible).
LINE_STYLES = (("-", 2.6), ("--", 2.0), (":", 2.0), ("-.", 1.4), ((0, (6, 2, 1, 2, 1, 2)), 1.2),
               ((0, (1, 1)), 1.0))

#: A panel whose positive values span this ratio or more gets a symmetric-log scale.
LOG_SPAN = 100


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


class CounterRecorder:
    """Counters of every tick, in a preallocated int64 array that grows by doubling."""

    def __init__(self, names: Iterable[str], capacity: int = 1024, meta: Mapping | None = None):
        self.names = tuple(names)
        if not self.names or len(set(self.names)) != len(self.names):
            raise ValueError("counter names must be distinct and at least one")
        self.index = {n: i for i, n in enumerate(self.names)}
        self._data = np.zeros((max(int(capacity), 1), len(self.names)), np.int64)
        self.ticks = 0
        self.meta = dict(meta or {})

    @classmethod
    def from_data(cls, names: Iterable[str], data: np.ndarray, meta: Mapping | None = None) -> CounterRecorder:
        """A recorder holding ``data`` (``(ticks, len(names))``, copied) as its first ticks."""
        rec = cls(names, capacity=max(len(data), 1024), meta=meta)
        if data.shape[1:] != (len(rec.names),):
            raise ValueError(f"counters of shape {data.shape} for {len(rec.names)} names")
        rec._data[: len(data)] = data
        rec.ticks = len(data)
        return rec

    def record(self, counters: Mapping[str, int]) -> None:
        """Append one tick. Every name must be present; extra keys are an error too (a
        misspelt counter should not vanish silently)."""
        if len(counters) != len(self.names) or any(n not in counters for n in self.names):
            missing = [n for n in self.names if n not in counters]
            extra = [k for k in counters if k not in self.index]
            raise KeyError(f"counters do not match: missing {missing}, unknown {extra}")
        if self.ticks == len(self._data):
            grown = np.zeros((2 * len(self._data), len(self.names)), np.int64)
            grown[: self.ticks] = self._data
            self._data = grown
        self._data[self.ticks] = [counters[n] for n in self.names]
        self.ticks += 1

    @property
    def data(self) -> np.ndarray:
        """The recorded rows: shape ``(ticks, len(names))`` (a view: copy it to keep it)."""
        return self._data[: self.ticks]

    def column(self, name: str) -> np.ndarray:
        return self.data[:, self.index[name]]

    def totals(self) -> dict[str, int]:
        return {n: int(v) for n, v in zip(self.names, self.data.sum(axis=0))}

    def last(self) -> dict[str, int]:
        if not self.ticks:
            return {n: 0 for n in self.names}
        return {n: int(v) for n, v in zip(self.names, self._data[self.ticks - 1])}

    # -- files --------------------------------------------------------------------------------------
    def write(self, path) -> str:
        """Write as JSON or CSV by ``path``'s extension. Returns the format written."""
        ext = os.path.splitext(os.fspath(path))[1].lower()
        if ext == ".json":
            self.write_json(path)
        elif ext == ".csv":
            self.write_csv(path)
        else:
            raise ValueError(f"{os.fspath(path)}: unknown output format {ext or '(no extension)'!r}; "
                             f"use .json or .csv")
        return ext[1:]

    def write_json(self, path) -> None:
        doc = {"format": FORMAT, "version": VERSION, "meta": self.meta, "ticks": self.ticks,
               "counters": {n: self.data[:, i].tolist() for i, n in enumerate(self.names)}}
        with open(path, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")

    def write_csv(self, path) -> None:
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(("tick",) + self.names)
            ticks = np.arange(1, self.ticks + 1)
            w.writerows(np.column_stack([ticks, self.data]).tolist())

    # -- plots ---------------------------------------------------------------------------------------
    def plot(self, path, title: str | None = None) -> None:
        """Draw one panel per counter group (lines against the tick) into an image file."""
        plot(self.names, self.data, path, title=title)


def read(path) -> tuple[tuple[str, ...], np.ndarray, dict]:
    """Load a file :meth:`CounterRecorder.write` wrote: ``(names, data[ticks, names], meta)``."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext == ".json":
        with open(path) as f:
            doc = json.load(f)
        if doc.get("format") != FORMAT:
            raise ValueError(f"{os.fspath(path)} is not an ecs-kernel counters file")
        names = tuple(doc["counters"])
        data = np.array([doc["counters"][n] for n in names], np.int64).T.reshape(doc["ticks"], len(names))
        return names, data, doc.get("meta", {})
    if ext == ".csv":
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        names = tuple(rows[0][1:])
        data = np.array([[int(x) for x in r[1:]] for r in rows[1:]], np.int64).reshape(len(rows) - 1, len(names))
        return names, data, {}
    raise ValueError(f"{os.fspath(path)}: unknown format {ext!r}")


def _matplotlib_figure():
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise PlotUnavailable(
            "--plot needs matplotlib, which is not installed: pip install 'ecs-kernel[plot]' "
            "(or pip install matplotlib)") from e
    return Figure


def plot_formats() -> set[str]:
    """The image formats ``plot`` can write (by extension, without the dot)."""
    Figure = _matplotlib_figure()
    return set(Figure().canvas.get_supported_filetypes())


def panels(names) -> list[tuple[str, str, list[str]]]:
    """The panels a plot of ``names`` has: (title, y-axis label, counters), in :data:`GROUPS`
    order, then "other" for counters no group names."""
    names = tuple(names)
    out, placed = [], set()
    for heading, ylabel, group in GROUPS:
        present = [n for n in group if n in names]
        if present:
            out.append((heading, ylabel, present))
            placed.update(present)
    rest = [n for n in names if n not in placed]
    if rest:
        out.append(("other", "count", rest))
    return out


def panel_scale(columns) -> str:
    """``"symlog"`` when the panel's positive values span :data:`LOG_SPAN` or more (orders of
    magnitude: a linear scale would flatten the small series onto 0), else ``"linear"``."""
    pos = np.concatenate([np.abs(np.asarray(c, np.float64)).ravel() for c in columns]) if columns else []
    pos = pos[pos > 0] if len(pos) else pos
    if not len(pos):
        return "linear"
    return "symlog" if pos.max() / pos.min() >= LOG_SPAN else "linear"


def figure(names, data: np.ndarray, title: str | None = None):
    """A matplotlib ``Figure`` of counters (``data[tick, name]``): one panel per group of
    :func:`panels`, each with its own scale (:func:`panel_scale`), line styles
    (:data:`LINE_STYLES`) and a legend outside the plot."""
    Figure = _matplotlib_figure()
    from matplotlib.ticker import FuncFormatter, MaxNLocator, ScalarFormatter

    names = tuple(names)
    data = np.asarray(data)
    groups = panels(names)
    fig = Figure(figsize=(11, 2.4 * len(groups)), layout="constrained")
    axes = fig.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
    ticks = np.arange(1, len(data) + 1)
    for ax, (heading, ylabel, group) in zip(axes, groups):
        columns = {}  # name -> (label, the counter as recorded, the values drawn)
        for n in group:
            raw = data[:, names.index(n)]
            label, div, _ = UNITS.get(n, (n, 1, ""))
            columns[n] = (label, raw, raw / div if n in UNITS else raw)
        counts = not any(n in UNITS for n in group)
        scale = panel_scale([v for _, _, v in columns.values()])
        for i, n in enumerate(group):
            label, raw, values = columns[n]
            same = next((columns[m][0] for m in group[:i] if np.array_equal(columns[m][1], raw)), None)
            if len(raw) and not raw.any():
                what = "0 throughout"
            else:
                if n in GAUGES:
                    what = f"last {int(raw[-1]):,}" if len(raw) else "no ticks"
                else:
                    total = values.sum()
                    what = (f"total {int(total):,}" if n not in UNITS
                            else f"total {total:,.1f} {UNITS[n][2]}")
                if same is not None:
                    what += f"; same as {same}"
            style, width = LINE_STYLES[i % len(LINE_STYLES)]
            ax.plot(ticks, values, label=f"{label} ({what})", linestyle=style, linewidth=width,
                    color=f"C{i}")
        # counts start at 0 (a series at 0 drawn just above the axis line, not on it)
        if scale == "symlog":  # linear below the smallest step (1 for counts), so 0 is drawn
            pos = np.concatenate([v[v > 0] for _, _, v in columns.values()])
            linthresh = 1.0 if counts else float(pos.min())
            ax.set_yscale("symlog", linthresh=linthresh, linscale=0.3)
            ax.set_ylim(bottom=-0.25 * linthresh)
        else:
            if counts:  # 0..1 when nothing happened at all
                ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
                ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.0f}"))
                top = max((float(v.max()) for _, _, v in columns.values() if len(v)), default=0)
                top = top * 1.05 if top > 0 else 1
                ax.set_ylim(-0.03 * top, top)
            else:
                fmt = ScalarFormatter(useOffset=False)
                fmt.set_scientific(False)
                ax.yaxis.set_major_formatter(fmt)
        ax.set_title(heading, fontsize=10, loc="left")
        ax.set_ylabel(ylabel + (" (log)" if scale == "symlog" else ""), fontsize=9)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("tick")
    if title:
        fig.suptitle(title)
    return fig


def plot(names, data: np.ndarray, path, title: str | None = None) -> None:
    """Draw counters (``data[tick, name]``) into ``path`` (the extension picks PNG, SVG, PDF):
    :func:`figure`, saved."""
    figure(names, data, title=title).savefig(path, dpi=100)
