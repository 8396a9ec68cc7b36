"""PID namespaces (pid_namespaces(7)): nested id spaces for tasks, process groups and sessions.

A task has an id in its own namespace and in every ancestor up to the root: ``tasks.tids[row, L]``
is its id in the namespace at level L of its chain (0 = root). The first task of a namespace gets
id 1 (``INIT_TID``) and is its init (child reaper). Ids are allocated cyclically as in Linux
(``alloc_pid``): from ``last_tid + 1`` up to ``pid_max``, then wrapping to ``RESERVED_PIDS``; an id
stays taken while a task, process group or session still uses it.

Each namespace's reverse maps (id -> task / process group / session row) are numpy arrays in a
:class:`PidMap`, kept in ``world.index.pidmaps[ns]``.

Invariants (:func:`check`): ids are unique per namespace; the reverse maps agree with the columns;
``ntasks`` counts the live tasks whose chain includes the namespace.
Writers: clone (allocate), release (free), setsid/setpgid (process group and session ids).
"""
from __future__ import annotations

import numpy as np

from ..errors import E, KernelError
from ..checkpoint_objects import state_class
from ..world import Column, Component

INIT_TID = 1
RESERVED_PIDS = 300
MAX_PID_NS_LEVEL = 32  # Linux's limit; deeper namespaces fail with ENOSPC

PIDNamespace = Component("PIDNamespace", "pid_namespaces", {
    "parent": Column(np.int32, -1),
    "level": Column(np.int32, 0),
    "last_tid": Column(np.int64, 0),
    "init_task": Column(np.int32, -1),  # the child reaper; -1 until the first task arrives
    "exiting": Column(np.bool_, False),  # init died: no new tasks (ENOMEM), all others killed
    "ntasks": Column(np.int64, 0),
    "forks": Column(np.int64, 0),  # tasks ever created in it (/proc/stat's "processes")
    "userns": Column(np.int32, 0),  # the user namespace that owns it (its creator's)
}, doc="One row per PID namespace.")

COMPONENTS = [PIDNamespace]


def task_ids_component(levels: int) -> Component:
    """The ``tids`` column, sized for namespaces nested ``levels`` deep (a World setting)."""
    return Component("TaskPIDs", "tasks", {"tids": Column(np.int32, 0, (levels,))},
                     doc="Thread id of the task in each namespace of its chain, by level.")


# Registered by name now, not only when a World is built: a checkpoint restored in a fresh process
# names it (and gives the width it was saved with).
task_ids_component(1)


@state_class
class PidMap:
    """Reverse maps of one namespace: id -> row, -1 where unused. Grown by doubling."""

    def __init__(self, size: int = 1024):
        self.task = np.full(size, -1, np.int32)
        self.pgrp = np.full(size, -1, np.int32)
        self.session = np.full(size, -1, np.int32)

    def ensure(self, i: int) -> None:
        """Grow the maps to hold id ``i``."""
        n = len(self.task)
        if i < n:
            return
        while n <= i:
            n *= 2
        for name in ("task", "pgrp", "session"):
            old = getattr(self, name)
            new = np.full(n, -1, np.int32)
            new[: len(old)] = old
            setattr(self, name, new)

    def is_free(self, i: int) -> bool:
        return i >= len(self.task) or (self.task[i] < 0 and self.pgrp[i] < 0 and self.session[i] < 0)

    def lookup(self, kind: str, i: int) -> int:
        arr = getattr(self, kind)
        return int(arr[i]) if 0 < i < len(arr) else -1

    def set(self, kind: str, i: int, row: int) -> None:
        self.ensure(i)
        getattr(self, kind)[i] = row

    def nbytes(self) -> int:
        return self.task.nbytes + self.pgrp.nbytes + self.session.nbytes

    def to_state(self, w, name: str) -> dict:
        for kind in ("task", "pgrp", "session"):
            w.array(f"{name}.{kind}", getattr(self, kind))
        return {}

    @classmethod
    def from_state(cls, r, name: str, meta) -> "PidMap":
        m = cls.__new__(cls)
        m.task = r.array(f"{name}.task", np.dtype(np.int32), (None,))
        n = len(m.task)
        m.pgrp = r.array(f"{name}.pgrp", np.dtype(np.int32), (n,))
        m.session = r.array(f"{name}.session", np.dtype(np.int32), (n,))
        return m


def pidmap(world, ns: int) -> PidMap:
    return world.index.pidmaps[ns]


def new_namespace(world, parent: int, userns: int = 0) -> int:
    """create_pid_namespace: a child of ``parent`` (-1: the root one) owned by user namespace
    ``userns``."""
    N = world.pid_namespaces
    level = 0 if parent < 0 else int(N.level[parent]) + 1
    if level >= world.tasks.tids.shape[1] or level > MAX_PID_NS_LEVEL:
        raise KernelError(E.ENOSPC, f"PID namespaces nested deeper than {level} levels")
    ns = N.alloc()
    N.parent[ns] = parent
    N.level[ns] = level
    N.userns[ns] = userns
    world.index.pidmaps[ns] = PidMap()
    return ns


def chain(world, ns: int) -> list[int]:
    """The namespace and its ancestors, deepest first."""
    N = world.pid_namespaces
    out = []
    while ns >= 0:
        out.append(ns)
        ns = int(N.parent[ns])
    return out


def alloc_id(world, ns: int) -> int:
    """A free id in ``ns``, allocated cyclically like Linux's alloc_pid. EAGAIN when none is left.

    Ids run from 1 to ``pid_max - 1`` (pid_max is "one greater than the maximum PID", proc(5);
    alloc_pid's idr_alloc_cyclic excludes its end)."""
    N = world.pid_namespaces
    pm = pidmap(world, ns)
    pid_max = world.settings.pid_max
    last = int(N.last_tid[ns])
    i = last + 1
    if i < pid_max and (i >= len(pm.task) or (pm.task[i] < 0 and pm.pgrp[i] < 0 and pm.session[i] < 0)):
        return _take(N, ns, i)  # the common case: the next id is free
    lo = RESERVED_PIDS if last > RESERVED_PIDS and pid_max > RESERVED_PIDS else 1
    start = last + 1 if last + 1 < pid_max else lo
    for a, b in ((start, pid_max), (lo, start)):
        i = a
        while i < b:
            if i >= len(pm.task):
                return _take(N, ns, i)
            end = min(b, len(pm.task), i + 4096)
            free = np.flatnonzero((pm.task[i:end] < 0) & (pm.pgrp[i:end] < 0) & (pm.session[i:end] < 0))
            if len(free):
                return _take(N, ns, i + int(free[0]))
            i = end
    raise KernelError(E.EAGAIN, "PID space exhausted")


def _take(N, ns: int, i: int) -> int:
    N.last_tid[ns] = i
    return i


def tid_in(world, task: int, ns: int) -> int:
    """The id of ``task`` in namespace ``ns``; 0 if the task is not visible there (Linux pid_vnr)."""
    T, N = world.tasks, world.pid_namespaces
    tns = int(T.ns[task])
    level = int(N.level[ns])
    if level > int(N.level[tns]):
        return 0
    # The task's ancestor at ``level`` must be ``ns`` itself.
    while int(N.level[tns]) > level:
        tns = int(N.parent[tns])
    if tns != ns:
        return 0
    return int(T.tids[task, level])


def task_by_tid(world, ns: int, tid: int) -> int:
    if tid <= 0:
        return -1
    return pidmap(world, ns).lookup("task", tid)


def check(world) -> None:
    T, N = world.tasks, world.pid_namespaces
    rows = T.live_rows()
    for ns in N.live_rows():
        level = int(N.level[ns])
        pm = pidmap(world, ns)
        mapped = np.flatnonzero(pm.task >= 0)
        tasks = pm.task[mapped]
        assert len(np.unique(tasks)) == len(tasks), f"namespace {ns}: a task has two ids"
        assert T.alive[tasks].all(), f"namespace {ns} maps an id to a dead task row"
        assert (T.tids[tasks, level] == mapped).all(), f"namespace {ns}: id map disagrees with tids"
        assert len(tasks) == N.ntasks[ns], f"namespace {ns}: {len(tasks)} ids, ntasks {N.ntasks[ns]}"
    # every live task has an id in each namespace of its chain
    for t in rows:
        for ns in chain(world, int(T.ns[t])):
            lvl = int(N.level[ns])
            assert pidmap(world, ns).lookup("task", int(T.tids[t, lvl])) == t, \
                f"task {t} has no id in namespace {ns}"


PIDNamespace.check = check
