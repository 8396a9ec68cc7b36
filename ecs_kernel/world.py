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
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from . import checkpoint_file
from .abi import GEN_MASK, MAX_CPUS, RMEM_MAX, WMEM_MAX
from .checkpoint_objects import StateReader, StateWriter
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

    def __post_init__(self):
        COMPONENTS_BY_NAME[self.name] = self


COMPONENTS_BY_NAME: dict[str, Component] = {}
"""Every component defined so far, by name (the last definition of a name wins: components
built per World, such as the PID levels' ids, share a name). A checkpoint names components;
restore takes their invariant checks and layout from here and refuses a name it does not know."""


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
    def save_rows(self, w: "StateWriter") -> dict:
        """This table's rows ``[0, n)`` for a checkpoint: every column, generations, liveness and
        the free stack as arrays; its components' layouts as the returned meta."""
        n = self.n
        comps = []
        for comp in self.components.values():
            comps.append({"name": comp.name, "columns": {
                c: {"dtype": np.dtype(spec.dtype).str, "shape": list(spec.shape),
                    "default": _json_value(spec.default)} for c, spec in comp.columns.items()}})
            for c in comp.columns:
                w.array(f"t.{self.kind}.{c}", getattr(self, c)[:n])
        w.array(f"t.{self.kind}._gen", self.gen[:n])
        w.array(f"t.{self.kind}._alive", self.alive[:n])
        w.array(f"t.{self.kind}._free", self._free[: self._nfree])
        return {"tag": self.tag, "n": n, "count": self.count, "components": comps}

    def load_rows(self, r: "StateReader", meta: dict) -> None:
        """Rows from :meth:`save_rows`' output into this (empty) table, every array checked
        against the columns' dtypes and shapes and the rows' bookkeeping against itself."""
        n = r.int(meta, "n", 0, _ROW_MASK)
        kind = self.kind
        rows = {name: r.array(f"t.{kind}.{name}", np.dtype(spec.dtype), (n, *spec.shape))
                for name, spec in self.specs.items()}
        cap = self.capacity
        while cap < n:
            cap *= 2
        for comp in self.components.values():  # rows [0, n) from the file, defaults after
            self._allocate(comp, cap, rows, n)
        self.gen = np.zeros(cap, np.uint32)
        self.gen[:n] = r.array(f"t.{kind}._gen", np.dtype(np.uint32), (n,))
        alive = r.array(f"t.{kind}._alive", np.dtype(np.bool_), (n,))
        self.alive = np.zeros(cap, np.bool_)
        self.alive[:n] = alive
        self.capacity = cap
        free = r.array(f"t.{kind}._free", np.dtype(np.int64), None)
        if free.ndim != 1 or ((free < 0) | (free >= max(n, 1))).any() or \
                (n and alive[free[free < n]].any()) or len(np.unique(free)) != len(free):
            r.fail(f"table {kind}: a bad free-row stack")
        count = r.int(meta, "count", 0, n)
        if count != int(alive.sum()) or count + len(free) != n:
            r.fail(f"table {kind}: {count} live rows, {len(free)} free, {n} in all do not add up")
        self.n, self.count = n, count
        self._free = np.concatenate([free, np.empty(max(16, len(free)), np.int64)])
        self._nfree = len(free)


@dataclass
class Settings:
    """World-wide settings (checkpointed with the World). Simulations raise ``tasks_limit``.

    The ``batch_*`` and ``*_python`` switches choose between the batch (numba) form of a behaviour
    and its scalar form, one call at a time: the differential tests hold the two to the same
    answers, and the scalar form is their reference."""

    tasks_limit: int = 65536  # gVisor's TasksLimit: tasks in the root PID namespace
    pid_max: int = 4194304  # Linux's PID_MAX_LIMIT on 64-bit: ids wrap past it
    tick_ns: int = 1_000_000  # kernel clock advance per tick (1 ms)
    # CPUs the kernel models, 1..MAX_CPUS: every task may run on each (its affinity mask starts
    # full); sched_getaffinity, /proc/cpuinfo, /proc/stat and /sys/devices/system/cpu say so
    cpus: int = 1
    # net.core.wmem_max and rmem_max (/proc/sys/net/core): the most SO_SNDBUF / SO_RCVBUF give
    # without CAP_NET_ADMIN's FORCE variants: Linux's built-in values here; ``ecs-kernel run``
    # starts a guest with the host's (as a native program sees them), a deterministic run keeps
    # these (cpu/host_limits.host_net_buffer_limits)
    wmem_max: int = WMEM_MAX
    rmem_max: int = RMEM_MAX
    batch_exit: bool = True  # the exit system's batch path (False: one task at a time)
    batch_wait: bool = True  # wait_system's batch path (False: one wait at a time)
    signal_delivery_python: bool = False  # signal_system delivers with get_signal per task
    timer_notify_python: bool = False  # timer_system sends every timer's signal with _notify
    # charge tick_ns of user time per tick to every task in runApp that staged none
    # (systems/cpu_clocks.set_tick_mode)
    cpu_tick_mode: bool = False
    sanitize: bool = field(default_factory=lambda: os.environ.get("ECS_KERNEL_SANITIZE", "") not in ("", "0"))

    def __post_init__(self):
        if not 1 <= self.cpus <= MAX_CPUS:
            raise ValueError(f"cpus must be in 1..{MAX_CPUS}, not {self.cpus}")


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
    # real uid -> tasks it owns, for RLIMIT_NPROC (systems/task_clone, task_exit; a uid change
    # moves the charge: systems/task_identity); no 0 entries
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
    # how many times CLOCK_REALTIME was set (stepped) since boot: Linux's clock_was_set_seq,
    # which a TFD_TIMER_CANCEL_ON_SET timerfd compares (systems/cpu_clocks.set_realtime)
    clock_set_seq: int = 0
    # the load averages in fixed point and the kernel time of their next fold (systems/loadavg.py)
    avenrun: list[int] = field(default_factory=lambda: [0, 0, 0])
    load_next_ns: int = 0
    # the identity of the next SimMemory shared segment (systems/futex.new_shared_segment)
    next_shared_ino: int = 1
    # live ptrace links (components/ptrace.py): while any, waits and exits take the scalar paths
    ptraced: int = 0
    # supplementary group lists, sorted, each once; a task's ``groups`` column indexes them, 0 is
    # the empty list (systems/task_identity.set_groups)
    group_lists: list[tuple[int, ...]] = field(default_factory=lambda: [()])
    # seccomp_filters row -> its checked program, one int64 per sock_filter (components/seccomp.py)
    seccomp_progs: dict[int, Any] = field(default_factory=dict)
    # the network namespaces: bound names and ports (net/stack.NetRegistry), made on first use
    net: Any = None
    # System V IPC and POSIX message queues, per IPC namespace (systems/ipc.IPCRegistry), made on
    # first use
    ipc: Any = None
    # mount namespaces (systems/namespaces.NamespaceSet), made on first use
    namespaces: Any = None
    # a Simulation's compiled workload and totals: sim/engine.SimState
    sim: Any = None
    # what the invariant probes saw: sim/invariants.Probes, once they run
    sim_probes: Any = None

    def objects(self, kind: str) -> dict[int, Any] | None:
        """The Python objects behind the rows of resource table ``kind`` (components/resources.py
        forks and releases them with the rows), or None for a kind that has none."""
        return {"address_spaces": self.address_spaces, "fs_contexts": self.fs_contexts}.get(kind)

    # -- checkpoint: numbers in the manifest, dicts as arrays, objects by reference -------------
    _INTS = ("root_pidns", "realtime_offset_ns", "clock_set_seq", "next_shared_ino", "load_next_ns",
             "ptraced")
    _INT_DICTS = ("nproc", "sigpending_by_uid")
    _OBJECT_DICTS = ("pidmaps", "address_spaces", "fs_contexts")
    _OBJECTS = ("fd_store", "net", "ipc", "namespaces", "sim", "sim_probes")
    # the classes (state_class names) each slot may hold: a checkpoint cannot put a PidMap where
    # the simulation state belongs
    _KINDS = {"pidmaps": ("PidMap",), "address_spaces": ("GuestMemory", "SimMemory"),
              "fs_contexts": ("FSContext",), "fd_store": ("FDStore",), "net": ("NetRegistry",),
              "ipc": ("IPCRegistry",), "namespaces": ("NamespaceSet",), "sim": ("SimState",),
              "sim_probes": ("Probes",)}

    def save(self, w: "StateWriter") -> dict:
        meta = {k: int(getattr(self, k)) for k in self._INTS}
        meta["signal_stats"] = dataclasses.asdict(self.signal_stats)
        meta["avenrun"] = [int(x) for x in self.avenrun]
        for k in self._INT_DICTS:
            d = getattr(self, k)
            w.array(f"index.{k}.keys", np.fromiter(d.keys(), np.int64, len(d)))
            w.array(f"index.{k}.values", np.fromiter(d.values(), np.int64, len(d)))
        keys = list(self.futex_keys)
        w.array("index.futex_keys.kind", np.array([k[0] for k in keys], np.int64))
        w.array("index.futex_keys.a", np.array([k[1] for k in keys], np.int64))
        w.array("index.futex_keys.b", np.array([k[2] for k in keys], np.uint64))
        w.array("index.futex_keys.queue", np.array([self.futex_keys[k] for k in keys], np.int64))
        progs = self.seccomp_progs
        w.array("index.seccomp_progs.keys", np.fromiter(progs, np.int64, len(progs)))
        w.array("index.seccomp_progs.lens", np.fromiter((len(v) for v in progs.values()), np.int64,
                                                        len(progs)))
        w.array("index.seccomp_progs.insns", np.concatenate([np.zeros(0, np.int64),
                                                             *progs.values()]).astype(np.int64))
        w.array("index.group_lists.lens", np.array([len(g) for g in self.group_lists], np.int64))
        w.array("index.group_lists.gids", np.array([x for g in self.group_lists for x in g],
                                                   np.uint32))
        w.array("index.sigactions.keys", np.array(list(self.sigactions), "S16"))
        w.array("index.sigactions.values", np.array(list(self.sigactions.values()), np.int64))
        for k in self._OBJECT_DICTS:
            meta[k] = [[row, w.ref(o)] for row, o in getattr(self, k).items()]
        for k in self._OBJECTS:
            meta[k] = w.ref(getattr(self, k))
        return meta

    @classmethod
    def load(cls, r: "StateReader", meta) -> "KernelIndex":
        if not isinstance(meta, dict):
            r.fail("no index")
        index = cls()
        for k in cls._INTS:
            setattr(index, k, r.int(meta, k, -(1 << 62), 1 << 62))
        stats = meta.get("signal_stats")
        if not isinstance(stats, dict) or set(stats) != {f.name for f in dataclasses.fields(SignalStats)}:
            r.fail("bad signal counters")
        index.signal_stats = SignalStats(**{k: r.int(stats, k, 0, 1 << 62) for k in stats})
        avenrun = meta.get("avenrun")
        if not isinstance(avenrun, list) or len(avenrun) != 3:
            r.fail("bad load averages")
        index.avenrun = [r.int({"load": x}, "load", 0, 1 << 40) for x in avenrun]
        for k in cls._INT_DICTS:
            setattr(index, k, r.int_dict(f"index.{k}"))
        kinds = r.array("index.futex_keys.kind", np.dtype(np.int64), (None,))
        n = len(kinds)
        a = r.array("index.futex_keys.a", np.dtype(np.int64), (n,))
        b = r.array("index.futex_keys.b", np.dtype(np.uint64), (n,))
        q = r.array("index.futex_keys.queue", np.dtype(np.int64), (n,))
        index.futex_keys = {(int(x), int(y), int(z)): int(v)
                            for x, y, z, v in zip(kinds.tolist(), a.tolist(), b.tolist(), q.tolist())}
        keys = r.array("index.seccomp_progs.keys", np.dtype(np.int64), (None,))
        lens = r.array("index.seccomp_progs.lens", np.dtype(np.int64), (len(keys),))
        if (lens < 1).any() or (lens > 4096).any():
            r.fail("bad seccomp program lengths")
        insns = r.array("index.seccomp_progs.insns", np.dtype(np.int64), (int(lens.sum()),))
        ends = np.cumsum(lens)
        index.seccomp_progs = {int(k): insns[e - n:e].copy()
                               for k, n, e in zip(keys.tolist(), lens.tolist(), ends.tolist())}
        if "index.group_lists.lens" in r.arrays:  # (checkpoints before supplementary groups)
            lens = r.array("index.group_lists.lens", np.dtype(np.int64), (None,))
            if len(lens) < 1 or lens[0] != 0 or (lens < 0).any() or (lens > 65536).any():
                r.fail("bad supplementary group lists")
            gids = r.array("index.group_lists.gids", np.dtype(np.uint32), (int(lens.sum()),))
            ends = np.cumsum(lens)
            index.group_lists = [tuple(gids[e - n:e].tolist())
                                 for n, e in zip(lens.tolist(), ends.tolist())]
        keys = r.array("index.sigactions.keys", np.dtype("S16"), (None,))
        vals = r.array("index.sigactions.values", np.dtype(np.int64), (len(keys),))
        index.sigactions = {bytes(k).ljust(16, b"\0"): int(v) for k, v in zip(keys, vals.tolist())}
        for k in cls._OBJECT_DICTS:
            pairs = meta.get(k)
            if not isinstance(pairs, list) or not all(
                    isinstance(p, list) and len(p) == 2 and type(p[0]) is int for p in pairs):
                r.fail(f"index {k} is malformed")
            setattr(index, k, {row: r.obj(i, cls._KINDS[k]) for row, i in pairs})
        for k in cls._OBJECTS:
            setattr(index, k, r.obj(meta.get(k), cls._KINDS[k]))
        return index


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
        self.index = KernelIndex()  # Python-side registries keyed by rows (checkpointed with the World)

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
        """The whole World (every table, the index, the clock, the schedule) as checkpoint-file
        bytes (checkpoint_file.py): arrays and a manifest, no pickle."""
        return checkpoint_file.dumps(*self.to_state())

    def save(self, path) -> int:
        """:meth:`checkpoint` into a file, atomically. Returns its size."""
        return checkpoint_file.write(path, *self.to_state())

    @staticmethod
    def restore(blob: bytes) -> "World":
        """Rebuild a World from :meth:`checkpoint` bytes, checking everything first
        (CheckpointError names what is wrong). Handles of the old World remain valid."""
        return World.from_state(*checkpoint_file.loads(blob))

    @staticmethod
    def load(path) -> "World":
        return World.from_state(*checkpoint_file.read(path))

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """``(meta, arrays)`` describing the whole World (checkpoint_file's two halves)."""
        w = StateWriter()
        meta = self.write_state(w)
        meta["objects"] = w.objects
        return meta, w.arrays

    def write_state(self, w: StateWriter) -> dict:
        """The World's part of a checkpoint into ``w`` (a caller adding its own sections, the
        guest run loop's, shares the writer); returns the meta without the object list."""
        self.flush()
        tables = {kind: t.save_rows(w) for kind, t in self.tables.items()}
        schedule = None
        if self.schedule is not None:
            schedule = [system_name(s) for s in self.schedule.systems]
        return {"kind": "world", "serial": self.serial, "now_ns": int(self.now_ns),
                "ticks": int(self.ticks), "settings": dataclasses.asdict(self.settings),
                "tables": tables, "table_order": list(self.tables), "schedule": schedule,
                "index": self.index.save(w)}

    @staticmethod
    def from_state(meta: dict, arrays: dict[str, np.ndarray]) -> "World":
        """The World :meth:`to_state` described; CheckpointError for anything that does not fit
        (unknown components, systems or classes, arrays of the wrong type or shape, rows that do
        not add up). Nothing outside the registries is looked up by name."""
        with WorldReader.guard():
            r = WorldReader(meta, arrays)
            world = World.read_state(r, meta)
            r.finish()
        return world

    @staticmethod
    def read_state(r: "WorldReader", meta: dict) -> "World":
        """:meth:`from_state` with the caller's reader (call ``r.finish()`` after)."""
        if meta.get("kind") != "world":
            r.fail("this checkpoint does not hold a World")
        settings = r.settings(meta.get("settings"))
        world = World(settings)
        world.serial = r.int(meta, "serial", 1, 1 << 62)
        world.now_ns = r.int(meta, "now_ns", 0, (1 << 63) - 1)
        world.ticks = r.int(meta, "ticks", 0, (1 << 63) - 1)
        order = meta.get("table_order")
        tables = meta.get("tables")
        if not isinstance(order, list) or not isinstance(tables, dict) or set(order) != set(tables):
            r.fail("the tables are not listed")
        for kind in order:
            tmeta = tables[kind]
            if not isinstance(tmeta, dict) or not isinstance(tmeta.get("components"), list):
                r.fail(f"table {kind!r} has no components")
            for cmeta in tmeta["components"]:
                comp = r.component(cmeta, kind)
                world.add_component(comp)
            table = world.tables.get(kind)
            if table is None or r.int(tmeta, "tag", 0, 255) != table.tag:
                r.fail(f"table {kind!r} is out of order")
            table.load_rows(r, tmeta)
        if meta.get("schedule") is not None:
            names = meta["schedule"]
            if not isinstance(names, list) or SCHEDULE_TYPE is None:
                r.fail("a bad schedule")
            world.schedule = SCHEDULE_TYPE([r.system(n) for n in names])
        world.index = KernelIndex.load(r, meta.get("index"))
        return world

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


# -- checkpoints: what a checkpoint may name, and the two halves of its encoding -------------------
#
# A checkpoint holds arrays of plain numbers and a JSON manifest (checkpoint_file.py); it names
# components, systems and the classes of the index's objects. Each name is looked up in one of the
# registries below, which the defining modules fill as they are imported: a name nobody
# registered is refused, so loading a checkpoint never imports a module or builds an object of a
# class it chose.

SYSTEMS: dict[str, Any] = {}
"""Every system declared (schedule.system), by ``module:qualname``."""

SCHEDULE_TYPE = None
"""schedule.Schedule (registered by schedule.py): restore builds the schedule with it."""


def system_name(s) -> str:
    return f"{s.fn.__module__}:{s.fn.__qualname__}"


def _json_value(v):
    """A column default as JSON (bytes defaults as ``{"bytes": hex}``)."""
    if isinstance(v, (bytes, np.bytes_)):
        return {"bytes": bytes(v).hex()}
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    return float(v)


class WorldReader(StateReader):
    """A :class:`StateReader` that also knows the World's registries: settings, components,
    systems."""

    def settings(self, meta) -> "Settings":
        if not isinstance(meta, dict):
            self.fail("no settings")
        fields = {f.name: f for f in dataclasses.fields(Settings)}
        kw = {}
        for k, v in meta.items():
            f = fields.get(k)
            want = bool if f is not None and f.type in ("bool", bool) else int
            if f is None or type(v) is not want:
                self.fail(f"setting {k}={v!r}")
            kw[k] = v
        try:
            return Settings(**kw)
        except ValueError as e:
            self.fail(f"settings: {e}")

    def component(self, meta, kind: str) -> Component:
        """The component ``meta`` names, as registered, with the checkpoint's column layout (a
        component built per World, the PID ids, has its width there)."""
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) \
                or not isinstance(meta.get("columns"), dict):
            self.fail(f"a component of table {kind!r} is malformed")
        name = meta["name"]
        known = COMPONENTS_BY_NAME.get(name)
        if known is None or known.kind != kind:
            self.fail(f"component {name!r} of table {kind!r} is unknown here (is the module "
                      f"that defines it imported?)")
        if set(meta["columns"]) != set(known.columns):
            self.fail(f"component {name!r} has other columns than this ecs-kernel's")
        cols = {}
        for cname, spec in known.columns.items():
            c = meta["columns"][cname]
            if not isinstance(c, dict) or c.get("dtype") != np.dtype(spec.dtype).str:
                self.fail(f"column {kind}.{cname} has another type than this ecs-kernel's")
            shape = c.get("shape")
            if not isinstance(shape, list) or len(shape) != len(spec.shape) or \
                    not all(type(x) is int and 0 < x <= 64 for x in shape):
                self.fail(f"column {kind}.{cname} has a bad shape {shape!r}")
            cols[cname] = Column(spec.dtype, spec.default, tuple(shape))
        if cols == known.columns:
            return known
        return Component(name, kind, cols, known.doc, known.check, known.interleaved)

    def system(self, name):
        s = SYSTEMS.get(name) if isinstance(name, str) else None
        if s is None:
            self.fail(f"system {name!r} is unknown here (is the module that defines it imported?)")
        return s
