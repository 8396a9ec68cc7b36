"""The World: component tables, entity ids, the tick, checkpoint and restore.

Storage model
-------------
An *entity kind* (tasks, thread groups, PID namespaces, sessions, process groups, ...) owns one
:class:`Table`: a set of named numpy columns that share a row index and grow together by amortised
doubling. A *component* (:class:`Component`) is a small, named group of columns attached to one
kind (``SigPending`` on tasks, ``ProcessGroupMembership`` on thread groups, ...); each lives in its
own module under ``ecs_kernel/components`` that states its invariants and which system writes each
column. Systems declare reads and writes by component name (see ``schedule.py``).

Entity ids are generational. Inside the kernel, entities refer to each other by *row* (int32
columns such as ``Task.parent``); links are cleared before a row is freed, so a stored row is always
live. At the Python API, entities are named by *handles*: ints that pack the row, the row's
generation, the table's tag and the World's serial::

    handle = world_serial << 64 | table_tag << 56 | generation << 32 | row

so a handle to a recycled row (generation moved on) raises :class:`StaleHandleError`, and a handle
from another table or World raises :class:`ForeignHandleError`; neither can alias a live entity.

Column arrays are reallocated when a table grows: never keep a column reference across a call that
may allocate rows. Rows are freed only at sync points (``World.flush``), so a vector of rows computed
at the start of a system stays valid for the whole system.
"""
from __future__ import annotations

import itertools
import os
import pickle
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from .abi import GEN_MASK
from .errors import ForeignHandleError, StaleHandleError

_ROW_BITS = 32
_ROW_MASK = (1 << _ROW_BITS) - 1
_world_serials = itertools.count(1)


@dataclass(frozen=True)
class Column:
    """One column of a component: dtype, the value of a fresh row, and extra dimensions."""

    dtype: Any
    default: Any = 0
    shape: tuple[int, ...] = ()


@dataclass
class Component:
    """A named group of columns attached to one entity kind.

    ``columns`` maps column name -> :class:`Column`. Column names are unique within a kind, so a
    system reads ``world.tasks.parent`` without naming the component; the component name is what
    schedules declare and what the sanitizer fingerprints.
    """

    name: str
    kind: str
    columns: dict[str, Column]
    doc: str = ""
    check: Callable[["World"], None] | None = None
    interleaved: bool = False
    """Store the columns as the fields of one record per row (each column is then a strided
    view): for rows that kernels reach at random and read or write whole, one or two cache
    lines per row instead of one per column."""


class Table:
    """Rows of one entity kind. Columns are attributes: ``table.parent[row]``."""

    def __init__(self, kind: str, tag: int, world_serial: int, capacity: int = 64):
        self.kind = kind
        self.tag = tag
        self.world_serial = world_serial
        self.capacity = max(int(capacity), 1)
        self.n = 0  # high-water mark: rows [0, n) have ever been allocated
        self.count = 0  # live rows
        self.components: dict[str, Component] = {}
        self.specs: dict[str, Column] = {}
        self.gen = np.zeros(self.capacity, np.uint32)
        self.alive = np.zeros(self.capacity, np.bool_)
        self._free = np.zeros(16, np.int64)  # stack of freed rows, reused LIFO
        self._nfree = 0
        self.reserved = {"kind", "tag", "world_serial", "capacity", "n", "count", "components",
                         "specs", "gen", "alive"}

    # -- schema -----------------------------------------------------------------------------
    def add_component(self, comp: Component) -> None:
        if comp.kind != self.kind:
            raise ValueError(f"component {comp.name} is for {comp.kind}, not {self.kind}")
        if comp.name in self.components:
            return
        for name, spec in comp.columns.items():
            if name in self.specs or name in self.reserved or name.startswith("_"):
                raise ValueError(f"column {self.kind}.{name} declared twice")
        self.specs.update(comp.columns)
        self.components[comp.name] = comp
        self._allocate(comp, self.capacity, None, 0)

    def _allocate(self, comp: Component, cap: int, old: dict | None, keep: int) -> None:
        """Fresh arrays of ``cap`` rows for ``comp``'s columns: the first ``keep`` rows from
        ``old`` (name -> array), the rest at their defaults."""
        if comp.interleaved:
            rec = np.empty(cap, np.dtype([(n, c.dtype, c.shape) for n, c in comp.columns.items()],
                                         align=True))
            arrays = {name: rec[name] for name in comp.columns}
        else:
            arrays = {name: np.empty((cap, *c.shape), c.dtype) for name, c in comp.columns.items()}
        for name, arr in arrays.items():
            if keep:
                arr[:keep] = old[name][:keep]
            arr[keep:] = comp.columns[name].default
            setattr(self, name, arr)

    def columns(self) -> Iterable[tuple[str, np.ndarray]]:
        for name in self.specs:
            yield name, getattr(self, name)

    # -- rows -------------------------------------------------------------------------------
    def make_room(self) -> None:
        """Room for at least one more row (a batch kernel found the table full: GROW_*)."""
        self._grow(self.capacity + 1)

    def _grow(self, need: int) -> None:
        cap = self.capacity
        while cap < need:
            cap *= 2
        if cap == self.capacity:
            return
        for comp in self.components.values():
            old = {name: getattr(self, name) for name in comp.columns}
            self._allocate(comp, cap, old, self.capacity)
        self.gen = np.concatenate([self.gen, np.zeros(cap - self.capacity, np.uint32)])
        self.alive = np.concatenate([self.alive, np.zeros(cap - self.capacity, np.bool_)])
        self.capacity = cap

    def alloc(self) -> int:
        """Allocate a row set to every column's default. Returns the row."""
        if self._nfree:
            self._nfree -= 1
            row = int(self._free[self._nfree])
        else:
            if self.n == self.capacity:
                self._grow(self.n + 1)
            row = self.n
            self.n += 1
        self.alive[row] = True
        self.count += 1
        return row

    def alloc_many(self, k: int) -> np.ndarray:
        """Allocate ``k`` rows at once (reusing freed rows first). Returns them as int64."""
        take = min(k, self._nfree)
        rows = np.empty(k, np.int64)
        if take:
            rows[:take] = self._free[self._nfree - take: self._nfree][::-1]
            self._nfree -= take
        rest = k - take
        if rest:
            if self.n + rest > self.capacity:
                self._grow(self.n + rest)
            rows[take:] = np.arange(self.n, self.n + rest)
            self.n += rest
        self.alive[rows] = True
        self.count += k
        return rows

    def free(self, row: int) -> None:
        """Free a row: reset its columns, bump its generation, push it for reuse."""
        if not self.alive[row]:
            raise StaleHandleError(f"{self.kind} row {row} freed twice")
        for name, spec in self.specs.items():
            getattr(self, name)[row] = spec.default
        self.alive[row] = False
        self.gen[row] = (int(self.gen[row]) + 1) & GEN_MASK
        self.count -= 1
        if self._nfree == len(self._free):
            self._free = np.concatenate([self._free, np.empty(len(self._free), np.int64)])
        self._free[self._nfree] = row
        self._nfree += 1

    def free_many(self, rows: np.ndarray) -> None:
        """Free many rows at once (what sync points do): one vector write per column."""
        rows = np.asarray(rows, np.int64)
        if len(rows) == 0:
            return
        if not self.alive[rows].all() or (np.diff(np.sort(rows)) == 0).any():
            raise StaleHandleError(f"{self.kind}: freeing a row twice")
        for name, spec in self.specs.items():
            getattr(self, name)[rows] = spec.default
        self.alive[rows] = False
        self.gen[rows] = (self.gen[rows] + np.uint32(1)) & np.uint32(GEN_MASK)
        self.count -= len(rows)
        need = self._nfree + len(rows)
        if need > len(self._free):
            grown = np.empty(max(need, 2 * len(self._free)), np.int64)
            grown[: self._nfree] = self._free[: self._nfree]
            self._free = grown
        self._free[self._nfree: need] = rows
        self._nfree = need

    def kernel_meta(self) -> np.ndarray:
        """``[n, nfree, count, capacity]`` for a compiled kernel that allocates and frees rows
        (jit/rows.py), with the free stack made long enough that freeing never overflows it.
        Write the kernel's changes back with :meth:`set_kernel_meta`."""
        if len(self._free) < self.capacity:
            grown = np.empty(self.capacity, np.int64)
            grown[: self._nfree] = self._free[: self._nfree]
            self._free = grown
        return np.array([self.n, self._nfree, self.count, self.capacity], np.int64)

    def set_kernel_meta(self, meta: np.ndarray) -> None:
        self.n, self._nfree, self.count = int(meta[0]), int(meta[1]), int(meta[2])

    def live_rows(self) -> np.ndarray:
        return np.flatnonzero(self.alive[: self.n])

    # -- handles ----------------------------------------------------------------------------
    def handle(self, row: int) -> int:
        row = int(row)
        return (self.world_serial << 64) | (self.tag << 56) | (int(self.gen[row]) << 32) | row

    def row(self, handle: int) -> int:
        """The row a handle names; raises if it is foreign, stale or malformed."""
        if not isinstance(handle, (int, np.integer)) or isinstance(handle, bool) or handle < 0:
            raise ForeignHandleError(f"{handle!r} is not a {self.kind} handle")
        handle = int(handle)
        serial = handle >> 64
        tag = (handle >> 56) & 0xFF
        if serial != self.world_serial or tag != self.tag:
            raise ForeignHandleError(
                f"handle {handle:#x} is not a {self.kind} handle of this World "
                f"(world {serial}, table tag {tag}; expected world {self.world_serial}, tag {self.tag})")
        row = handle & _ROW_MASK
        gen = (handle >> 32) & GEN_MASK
        if row >= self.n or not self.alive[row] or int(self.gen[row]) != gen:
            raise StaleHandleError(
                f"stale {self.kind} handle {handle:#x}: row {row} generation {gen} is no longer live")
        return row

    # -- checkpoint ---------------------------------------------------------------------------
    def __getstate__(self):
        state = dict(self.__dict__)
        n = self.n
        for name in list(self.specs) + ["gen", "alive"]:
            state[name] = np.ascontiguousarray(state[name][:n])
        state["_free"] = self._free[: self._nfree].copy()
        state["capacity"] = max(n, 1)
        # Component.check callables are module functions: pickled by reference.
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        n = self.n
        cap = max(n, 1)
        self.capacity = cap
        if n == 0:  # keep a capacity of one row so _grow's doubling works
            for name, spec in self.specs.items():
                arr = np.empty((1, *spec.shape), spec.dtype)
                arr[...] = spec.default
                setattr(self, name, arr)
            self.gen = np.zeros(1, np.uint32)
            self.alive = np.zeros(1, np.bool_)
        if len(self._free) == 0:
            self._free = np.zeros(16, np.int64)
        # pickle stored each column of an interleaved component as an array of its own
        for comp in self.components.values():
            if comp.interleaved:
                old = {name: getattr(self, name) for name in comp.columns}
                self._allocate(comp, cap, old, cap if n else 0)


@dataclass
class Settings:
    """World-wide settings (checkpointed with the World). Simulations raise ``tasks_limit``.

    The ``batch_*`` and ``*_python`` switches choose between the batch (numba) form of a behaviour
    and its scalar form, one call at a time: the differential tests hold the two to the same
    answers, and the scalar form is their reference."""

    tasks_limit: int = 65536  # gVisor's TasksLimit: tasks in the root PID namespace
    pid_max: int = 4194304  # Linux's PID_MAX_LIMIT on 64-bit: ids wrap past it
    tick_ns: int = 1_000_000  # kernel clock advance per tick (1 ms)
    batch_exit: bool = True  # the exit system's batch path (False: one task at a time)
    batch_wait: bool = True  # wait_system's batch path (False: one wait at a time)
    signal_delivery_python: bool = False  # signal_system delivers with get_signal per task
    timer_notify_python: bool = False  # timer_system sends every timer's signal with _notify
    # charge tick_ns of user time per tick to every task in runApp that staged none
    # (systems/cpu_clocks.set_tick_mode)
    cpu_tick_mode: bool = False
    sanitize: bool = field(default_factory=lambda: os.environ.get("ECS_KERNEL_SANITIZE", "") not in ("", "0"))


@dataclass
class SignalStats:
    """Signals sent, those dropped at send (ignored, or the group dying), those delivered
    (handlers and default actions), siginfo queued."""

    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    queued_info: int = 0


@dataclass
class KernelIndex:
    """The World's Python-side registries: state derived from rows or keyed by them that is not
    a column (dicts keyed by row or uid, the objects behind resource rows). Checkpointed with the
    World. Each attribute names the module that keeps it; none holds code.

    Behaviour switches are :class:`Settings`, not entries here."""

    # the root PID namespace's row (kernel.new_world)
    root_pidns: int = -1
    # PID namespace row -> its components/pidns.PidMap (id -> task, process group, session rows)
    pidmaps: dict[int, Any] = field(default_factory=dict)
    # real uid -> tasks it owns, for RLIMIT_NPROC (systems/task_clone, task_exit); no 0 entries
    nproc: dict[int, int] = field(default_factory=dict)
    # real uid -> siginfo queued and charged to it, for RLIMIT_SIGPENDING (systems/task_signals,
    # signals_batch); no 0 entries
    sigpending_by_uid: dict[int, int] = field(default_factory=dict)
    # futex key (kind, a, b) -> its futex_queues row (systems/futex.py, jit/futex_batch.py)
    futex_keys: dict[tuple[int, int, int], int] = field(default_factory=dict)
    # digest of a sigaction table -> the sigactions row holding it (components/sigactions.py)
    sigactions: dict[bytes, int] = field(default_factory=dict)
    # address_spaces row -> its memory: a cpu/platform.GuestMemory, or a systems/futex.SimMemory
    address_spaces: dict[int, Any] = field(default_factory=dict)
    # fs_contexts row -> a guest's working directory and umask: syscalls/context.FSContext
    fs_contexts: dict[int, Any] = field(default_factory=dict)
    # the FD tables' bitmaps and open files: components/fd_table.FDStore, made on first use
    fd_store: Any = None
    # what the signal code counted (systems/task_signals.py, signals_batch.py)
    signal_stats: SignalStats = field(default_factory=SignalStats)
    # CLOCK_REALTIME minus the kernel clock (systems/cpu_clocks.set_realtime)
    realtime_offset_ns: int = 0
    # the identity of the next SimMemory shared segment (systems/futex.new_shared_segment)
    next_shared_ino: int = 1
    # a Simulation's compiled workload and totals: sim/engine.SimState
    sim: Any = None
    # what the invariant probes saw: sim/invariants.Probes, once they run
    sim_probes: Any = None

    def objects(self, kind: str) -> dict[int, Any] | None:
        """The Python objects behind the rows of resource table ``kind`` (components/resources.py
        forks and releases them with the rows), or None for a kind that has none."""
        return {"address_spaces": self.address_spaces, "fs_contexts": self.fs_contexts}.get(kind)


class Commands:
    """Structural changes queued during a tick and applied at the next sync point.

    Systems push (function, args) pairs; ``World.flush`` runs them in order. Frees of rows are the
    main user: deferring them keeps every row vector a system computed valid until the system ends.
    """

    def __init__(self):
        self.queue: list[tuple[Callable, tuple]] = []
        self.frees: dict[str, list[int]] = {}

    def push(self, fn: Callable, *args) -> None:
        self.queue.append((fn, args))

    def free(self, kind: str, row: int) -> None:
        """Free ``row`` of table ``kind`` at the sync point (after the queued functions)."""
        self.frees.setdefault(kind, []).append(row)

    def __len__(self):
        return len(self.queue) + sum(len(v) for v in self.frees.values())


class World:
    """All kernel state of one emulated machine: tables, the kernel clock, settings, and the
    Python-side registries (``index``, a :class:`KernelIndex`).

    Build one with :func:`ecs_kernel.kernel.Kernel` (which registers the standard components and
    creates the root PID namespace); a bare World has only what you add.
    """

    def __init__(self, settings: Settings | None = None):
        self.serial = next(_world_serials)
        self.settings = settings or Settings()
        self.tables: dict[str, Table] = {}
        self.components: dict[str, Component] = {}
        self.commands = Commands()
        self.now_ns = 0  # the kernel's monotonic clock
        self.ticks = 0
        self.schedule = None  # set by Kernel: the ordered systems
        self.in_tick = False
        self._scratch: dict = {}  # work arrays systems reuse tick after tick (see scratch)
        self.index = KernelIndex()  # Python-side registries keyed by rows (pickled with the World)

    # -- schema -----------------------------------------------------------------------------
    def add_component(self, comp: Component) -> None:
        if comp.name in self.components:
            return
        table = self.tables.get(comp.kind)
        if table is None:
            table = Table(comp.kind, len(self.tables) + 1, self.serial)
            setattr(self, comp.kind, table)
            self.tables[comp.kind] = table
        table.add_component(comp)
        self.components[comp.name] = comp

    # -- sync points --------------------------------------------------------------------------
    def flush(self) -> int:
        """Apply queued structural changes. Returns how many were applied."""
        k = 0
        cmds = self.commands
        while cmds.queue or cmds.frees:
            queue, cmds.queue = cmds.queue, []
            for fn, args in queue:
                fn(self, *args)
                k += 1
            frees, cmds.frees = cmds.frees, {}
            for kind, rows in frees.items():
                self.tables[kind].free_many(np.array(rows, np.int64))
                k += len(rows)
        return k

    def tick(self, n: int = 1) -> None:
        """Advance the kernel clock by ``settings.tick_ns`` and run every system once per tick,
        in schedule order."""
        for _ in range(n):
            self._run_tick(self.now_ns + self.settings.tick_ns)

    def tick_at(self, now_ns: int) -> None:
        """One tick that ends at kernel time ``now_ns``: for a driver whose clock is not the
        tick's (guests: the host's monotonic clock). The clock never goes back."""
        self._run_tick(max(self.now_ns, int(now_ns)))

    def _run_tick(self, now_ns: int) -> None:
        self.ticks += 1
        self.now_ns = now_ns
        self.in_tick = True
        try:
            self.schedule.run(self)
        finally:
            self.in_tick = False
        self.flush()

    # -- checkpoint -----------------------------------------------------------------------------
    def checkpoint(self) -> bytes:
        """Serialise the whole World (every table, index and the clock) to bytes."""
        self.flush()
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def restore(blob: bytes) -> "World":
        """Rebuild a World from :meth:`checkpoint` bytes. Handles of the old World remain valid."""
        world = pickle.loads(blob)
        if not isinstance(world, World):
            raise TypeError("checkpoint does not hold a World")
        return world

    def __getstate__(self):
        state = dict(self.__dict__)
        state["commands"] = Commands()  # flushed before checkpoint
        state["_scratch"] = {}  # contents are garbage between uses
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("_scratch", {})
        for kind, table in self.tables.items():
            setattr(self, kind, table)

    def scratch(self, name: str, n: int, dtype, width: int = 0) -> np.ndarray:
        """A work array named ``name`` of ``n`` rows (``(n, width)`` if ``width``) whose contents
        are garbage, for a system's per-tick temporaries. The memory is kept and reused from tick
        to tick: a fresh array of millions of rows each tick costs the page faults of its first
        touch. Never checkpointed; counted by :meth:`nbytes`. ``"task_rows"`` (int64, a row per
        task) is shared by the systems that list task rows (interrupts, signals, the simulation's
        handler returns): hold it only within one system's call."""
        buf = self._scratch.get(name)
        shape = (width,) if width else ()
        if buf is None or buf.dtype != np.dtype(dtype) or buf.shape[1:] != shape or len(buf) < n:
            buf = np.empty((max(n, 1), width) if width else max(n, 1), dtype)
            self._scratch[name] = buf
        return buf[:n]

    # -- introspection -----------------------------------------------------------------------------
    def nbytes(self) -> int:
        """Bytes held by all columns (allocated capacity, not just live rows), indexes and scratch
        arrays."""
        total = 0
        for table in self.tables.values():
            total += table.gen.nbytes + table.alive.nbytes + table._free.nbytes
            for _, col in table.columns():
                total += col.nbytes
        for value in vars(self.index).values():
            total += _index_nbytes(value)
        return total + sum(buf.nbytes for buf in self._scratch.values())


def _index_nbytes(value) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (list, tuple)):
        return sum(_index_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_index_nbytes(v) for v in value.values())
    nb = getattr(value, "nbytes", None)
    return int(nb() if callable(nb) else nb or 0)
