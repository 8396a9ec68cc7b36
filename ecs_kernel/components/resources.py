"""Per-task resources shared by reference under clone flags, copied otherwise.

``signal_handlers`` (CLONE_SIGHAND), ``fd_tables`` (CLONE_FILES), ``address_spaces`` (CLONE_VM) and
``fs_contexts`` (CLONE_FS: the working directory and umask, Linux's fs_struct) are each a table of
refcounted rows; tasks point at them. The contents of each belong to later components (sigaction
tables, the fd bitmap, the guest memory object, the guest's FSContext); this module owns only the
sharing rules, which are the same for all: share = ``refs + 1``; copy = a new row with every
column copied (and, for a row that carries a Python object in ``world.index.objects(kind)``,
that object's ``fork()``); release = ``refs - 1``, the last reference frees the row.

Invariant (:func:`check`): ``refs`` equals the number of live tasks pointing at the row.
"""
from __future__ import annotations

from itertools import repeat

import numpy as np

from ..jit.scatter import subtract_at, unique
from ..world import Column, Component

KINDS = {"signal_handlers": "sighand", "fd_tables": "fdtable", "address_spaces": "mm",
         "fs_contexts": "fsctx"}

TaskResources = Component("TaskResources", "tasks", {
    "sighand": Column(np.int32, -1),
    "fdtable": Column(np.int32, -1),
    "mm": Column(np.int32, -1),
    "fsctx": Column(np.int32, -1),  # guests only: synthetic tasks have no file system
}, doc="Rows of the task's signal handlers, FD table, address space and file-system context.")

RESOURCE_COMPONENTS = [
    Component(f"{kind}Refs", kind, {"refs": Column(np.int32, 0)}, doc=f"Reference count of {kind}.")
    for kind in KINDS
]

AddressSpaceFlags = Component("AddressSpaceFlags", "address_spaces", {
    "dumpable": Column(np.uint8, 1),  # PR_SET_DUMPABLE (Linux keeps it in mm->flags)
    "membarrier_state": Column(np.uint16, 0),  # the MEMBARRIER_CMD_REGISTER_* bits registered
    # PR_SET_THP_DISABLE: 1 disabled, | PR_THP_DISABLE_EXCEPT_ADVISED (Linux's MMF_DISABLE_THP_*
    # bits); kept across exec (MMF_INIT_MASK). There are no huge pages here to disable.
    "thp_disable": Column(np.uint8, 0),
}, doc="Per-address-space flags: a fork copies them with the address space, exec starts afresh "
       "but for thp_disable (systems/task_exec.py).")

COMPONENTS = [TaskResources, *RESOURCE_COMPONENTS, AddressSpaceFlags]

# Per-kind hooks for state a resource keeps outside its table columns (e.g. the FD table's
# bitmaps, the signal handlers' action table): ``NEW_HOOKS[kind](world, row)`` after a new row,
# ``COPY_HOOKS[kind](world, src, dst)`` after a copy, ``RELEASE_HOOKS[kind](world, row)`` before
# the row is freed. Modules register them at import; they are code, not World state.
NEW_HOOKS: dict = {}  # (world, row): after a new row is made
COPY_HOOKS: dict = {}
COPY_MANY_HOOKS: dict = {}  # (world, src_rows, dst_rows): the batch form, used when present
RELEASE_HOOKS: dict = {}
RELEASE_MANY_HOOKS: dict = {}  # (world, rows): the batch form, used when present


def new(world, kind: str) -> int:
    t = world.tables[kind]
    row = t.alloc()
    t.refs[row] = 1
    hook = NEW_HOOKS.get(kind)
    if hook is not None:
        hook(world, row)
    return row


def share(world, kind: str, row: int) -> int:
    world.tables[kind].refs[row] += 1
    return row


def fork_object(world, kind: str, row: int):
    """The copy of ``row``'s object (an address space's engine and memory) that :func:`copy`
    would make, made first: it may fail (KernelError, ENOMEM) before the caller has changed
    anything. None if the row has no object."""
    objs = world.index.objects(kind)
    if objs is not None and row in objs:
        return objs[row].fork()
    return None


def copy(world, kind: str, row: int, obj=None) -> int:
    """A new row copied from ``row``; its object is ``obj`` (from :func:`fork_object`) or a
    fork of ``row``'s."""
    t = world.tables[kind]
    new_row = t.alloc()
    for name, col in t.columns():
        col[new_row] = col[row]
    t.refs[new_row] = 1
    objs = world.index.objects(kind)
    if obj is not None:
        objs[new_row] = obj
    elif objs is not None and row in objs:
        objs[new_row] = objs[row].fork()
    hook = COPY_HOOKS.get(kind)
    if hook is not None:
        hook(world, row, new_row)
    return new_row


def copy_many(world, kind: str, rows: np.ndarray) -> np.ndarray:
    """:func:`copy` for many rows at once; returns the new rows in the same order."""
    t = world.tables[kind]
    new_rows = t.alloc_many(len(rows))
    for name, col in t.columns():
        col[new_rows] = col[rows]
    t.refs[new_rows] = 1
    objs = world.index.objects(kind)
    if objs:
        objs.update({nr: objs[r].fork() for r, nr in zip(rows.tolist(), new_rows.tolist())
                     if r in objs})
    many = COPY_MANY_HOOKS.get(kind)
    if many is not None:
        many(world, rows, new_rows)
    elif kind in COPY_HOOKS:
        for r, nr in zip(rows.tolist(), new_rows.tolist()):
            COPY_HOOKS[kind](world, r, nr)
    return new_rows


def release(world, kind: str, row: int) -> None:
    t = world.tables[kind]
    t.refs[row] -= 1
    if t.refs[row] == 0:
        hook = RELEASE_HOOKS.get(kind)
        if hook is not None:
            hook(world, row)
        objs = world.index.objects(kind)
        if objs is not None:
            obj = objs.pop(row, None)
            if obj is not None and hasattr(obj, "release"):
                obj.release()
        t.free(row)


def release_many(world, kind: str, rows: np.ndarray) -> None:
    """:func:`release` for many references at once (a row may appear several times); rows whose
    count reaches zero are freed at the next sync point."""
    if len(rows) == 0:
        return
    t = world.tables[kind]
    subtract_at(t.refs, rows, 1)
    dead = unique(rows[t.refs[rows] == 0])
    if len(dead) == 0:
        return
    many = RELEASE_MANY_HOOKS.get(kind)
    if many is not None:
        many(world, dead)
    elif kind in RELEASE_HOOKS:
        for r in dead.tolist():
            RELEASE_HOOKS[kind](world, r)
    dead = dead.tolist()
    objs = world.index.objects(kind)
    if objs:
        # one release per object (a sealed SimMemory is one object behind many rows)
        gone = {id(o): o for o in map(objs.pop, dead, repeat(None)) if o is not None}
        for obj in gone.values():
            if hasattr(obj, "release"):
                obj.release()
    world.commands.frees.setdefault(kind, []).extend(dead)


def check(world) -> None:
    T = world.tasks
    tl = T.live_rows()
    for kind, col in KINDS.items():
        t = world.tables[kind]
        rows = t.live_rows()
        users = getattr(T, col)[tl]
        users = users[users >= 0]
        counts = np.bincount(users, minlength=t.n)[: t.n] if len(users) else np.zeros(t.n, np.int64)
        assert (counts[rows] == t.refs[rows]).all(), f"{kind} refcounts do not match their tasks"
        assert (counts[~t.alive[: t.n]] == 0).all(), f"a task points at a freed {kind} row"


TaskResources.check = check
