"""Per-tick counters of a simulation: recorded into one preallocated array, written as JSON or
CSV, drawn with matplotlib.

:class:`CounterRecorder` keeps one int64 row per tick in a ``(capacity, len(names))`` array that
doubles when full, so recording a tick is one row write (no list of dicts to convert at the end).

Files (the format is chosen by the extension of the path)::

    .json   {"format": "ecs-kernel-sim-counters", "version": 1,
             "meta": {"workload": ..., "tasks": ..., "seed": ..., ...},
             "ticks": T, "counters": {"running": [..T values..], ...}}
    .csv    a header ``tick,running,blocked,...`` and one line per tick (tick numbers from 1)

:func:`read` loads either back. ``plot`` draws one panel per counter group (run states, signals,
futexes, lifecycle, CPU time, ...) against the tick; matplotlib is imported only then, and if it
is missing :class:`PlotUnavailable` says how to install it.
"""
from __future__ import annotations

import csv
import json
import os
from typing import Iterable, Mapping

import numpy as np

FORMAT = "ecs-kernel-sim-counters"
VERSION = 1
EXTENSIONS = (".json", ".csv")

#: Panels of a plot: (title, counters). Counters in no group go to a last "other" panel.
GROUPS = (
    ("tasks by run state", ("running", "blocked", "stopped", "zombie", "tasks_alive")),
    ("signals per tick", ("signals_sent", "signals_delivered", "signals_dropped")),
    ("futex per tick", ("futex_waits", "futex_wakes")),
    ("lifecycle per tick", ("clones", "exits", "zombies", "reaped", "group_stops")),
    ("syscalls per tick", ("syscalls", "syscall_errors", "compute_ticks")),
    ("CPU time per tick (ns)", ("cpu_time_ns",)),
)


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


def plot(names, data: np.ndarray, path, title: str | None = None) -> None:
    """Draw counters (``data[tick, name]``) into ``path`` (the extension picks PNG, SVG, PDF)."""
    Figure = _matplotlib_figure()
    names = tuple(names)
    panels = []
    placed = set()
    for heading, group in GROUPS:
        present = [n for n in group if n in names]
        if present:
            panels.append((heading, present))
            placed.update(present)
    rest = [n for n in names if n not in placed]
    if rest:
        panels.append(("other", rest))
    fig = Figure(figsize=(10, 2.4 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    ticks = np.arange(1, len(data) + 1)
    for ax, (heading, group) in zip(axes, panels):
        for n in group:
            ax.plot(ticks, data[:, names.index(n)], label=n, linewidth=1)
        ax.set_title(heading, fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("tick")
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)
