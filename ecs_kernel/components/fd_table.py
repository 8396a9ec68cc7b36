"""FD tables (Linux ``files_struct`` / gVisor ``FDTable``): which fds are open, close-on-exec flags,
and the open file description behind each fd.

A task's ``fdtable`` column names a row of the ``fd_tables`` table (shared under CLONE_FILES,
copied on fork: components/resources.py). The bitmaps of all tables are two uint64 arrays of shape
``(rows, words)`` kept in :class:`FDStore` (``world.index.fd_store``): bit ``fd % 64`` of word
``fd // 64`` is set in ``used`` while ``fd`` is open, and in ``cloexec`` while it is close-on-exec.
Allocation is the numba kernel ``jit/fdtable.alloc_lowest``. The width starts at one word (64 fds)
and doubles when some table needs a higher fd, so a million small tables cost 16 bytes each.
File descriptions are Python objects (``fs/``), held per table in ``files[row][fd]``; each carries
``_fd_refs``, the number of fds (in all tables) and of SCM_RIGHTS messages in flight that
refer to it; the last close calls ``release()`` (fs/file.drop_ref). ``held[task row]`` maps fds to
the descriptions a blocked call of that task holds, as Linux's call holds its ``struct file``
from fdget to its return: a read blocked on a pipe whose fd another thread closed goes on reading
that pipe (systems/io_wait.block holds them, its ``finish`` lets them go). Fd -1 is the end a
waiting open made (a FIFO's end waiting for its partner, fifo_open's ``struct file``) until the
call installs it. Each held description counts one reference.

Invariants (:func:`check`): the bits of ``used`` are exactly the keys of ``files[row]``;
``cloexec`` is a subset of ``used``; rows of freed tables are all zero.
Writers: systems/fd_table.py only.
"""
from __future__ import annotations

import numpy as np

from . import resources
from ..checkpoint_objects import state_class
from ..fs.file import drop_ref
from ..world import Component


@state_class
class FDStore:
    def __init__(self):
        self.used = np.zeros((64, 1), np.uint64)
        self.cloexec = np.zeros((64, 1), np.uint64)
        self.files: dict[int, dict[int, object]] = {}
        self.held: dict[int, dict[int, object]] = {}

    @property
    def words(self) -> int:
        return self.used.shape[1]

    def ensure(self, rows: int, words: int) -> None:
        r, w = self.used.shape
        if rows <= r and words <= w:
            return
        nr, nw = max(r, 1), max(w, 1)
        while nr < rows:
            nr *= 2
        while nw < words:
            nw *= 2
        for name in ("used", "cloexec"):
            old = getattr(self, name)
            new = np.zeros((nr, nw), np.uint64)
            new[: old.shape[0], : old.shape[1]] = old
            setattr(self, name, new)

    def nbytes(self) -> int:
        return self.used.nbytes + self.cloexec.nbytes

    def to_state(self, w, name: str) -> dict:
        w.array(f"{name}.used", self.used)
        w.array(f"{name}.cloexec", self.cloexec)
        # open files: the file layer's registered classes (fs/), each description written once
        return {"files": [[row, [[fd, w.ref(f)] for fd, f in sorted(files.items())]]
                          for row, files in sorted(self.files.items()) if files],
                "held": [[row, [[fd, w.ref(f)] for fd, f in sorted(files.items())]]
                         for row, files in sorted(self.held.items()) if files]}

    @classmethod
    def from_state(cls, r, name: str, meta) -> "FDStore":
        st = cls.__new__(cls)
        st.used = r.array(f"{name}.used", np.dtype(np.uint64), (None, None))
        st.cloexec = r.array(f"{name}.cloexec", np.dtype(np.uint64), st.used.shape)
        if (st.cloexec & ~st.used).any():
            r.fail("a close-on-exec fd that is not open")
        st.files = {}
        rows = meta.get("files") if isinstance(meta, dict) else None
        if not isinstance(rows, list):
            r.fail("the open files are not listed")
        nrows, words = st.used.shape
        for entry in rows:
            if not (isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int
                    and 0 <= entry[0] < nrows and isinstance(entry[1], list)) or entry[0] in st.files:
                r.fail("an fd table's files are malformed")
            row, files = entry[0], {}
            for pair in entry[1]:
                if not (isinstance(pair, list) and len(pair) == 2 and type(pair[0]) is int
                        and 0 <= pair[0] < words * 64) or pair[0] in files:
                    r.fail(f"fd table {row} lists a bad fd")
                fd = pair[0]
                if not int(st.used[row, fd >> 6]) >> (fd & 63) & 1:
                    r.fail(f"fd {fd} of table {row} has a file but is not open")
                files[fd] = r.obj(pair[1], ("FileDescription",))
            st.files[row] = files
        st.held = {}
        for entry in meta.get("held", []):
            if not (isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int
                    and entry[0] >= 0 and isinstance(entry[1], list)) or entry[0] in st.held:
                r.fail("the files of a blocked call are malformed")
            held = {}
            for pair in entry[1]:
                if not (isinstance(pair, list) and len(pair) == 2 and type(pair[0]) is int
                        and -1 <= pair[0] < words * 64) or pair[0] in held:
                    r.fail(f"task {entry[0]}'s blocked call holds a bad fd")
                held[pair[0]] = r.obj(pair[1], ("FileDescription",))
            st.held[entry[0]] = held
        refs: dict[int, int] = {}
        for files in [*st.files.values(), *st.held.values()]:
            for f in files.values():
                refs[id(f)] = refs.get(id(f), 0) + 1
        for files in [*st.files.values(), *st.held.values()]:
            for f in files.values():
                # counted again, not trusted from the file; SCM_RIGHTS messages in flight hold
                # the rest (fs/file.hold_in_flight)
                f._fd_refs = refs[id(f)] + getattr(f, "_in_flight", 0)
        return st


def store(world) -> FDStore:
    st = world.index.fd_store
    if st is None:
        st = world.index.fd_store = FDStore()
    return st


def _on_copy(world, src: int, dst: int) -> None:
    """fork without CLONE_FILES: the child gets the same fds to the same descriptions."""
    st = store(world)
    st.ensure(dst + 1, st.words)
    st.used[dst] = st.used[src]
    st.cloexec[dst] = st.cloexec[src]
    files = dict(st.files.get(src, {}))
    for f in files.values():
        f._fd_refs += 1
    st.files[dst] = files


def _on_copy_many(world, src, dst) -> None:
    st = store(world)
    st.ensure(int(dst.max()) + 1, st.words)
    st.used[dst] = st.used[src]
    st.cloexec[dst] = st.cloexec[src]
    if not st.files:
        return
    for s, d in zip(src.tolist(), dst.tolist()):
        files = st.files.get(s)
        if files:
            for f in files.values():
                f._fd_refs += 1
            st.files[d] = dict(files)


def _on_release(world, row: int) -> None:
    """The last task using the table is gone: close every fd."""
    st = store(world)
    if row < st.used.shape[0]:
        st.used[row] = 0
        st.cloexec[row] = 0
    for f in st.files.pop(row, {}).values():
        drop_ref(f, row)


def _on_release_many(world, rows) -> None:
    st = store(world)
    inside = rows[rows < st.used.shape[0]]
    st.used[inside] = 0
    st.cloexec[inside] = 0
    if st.files:
        for r in rows.tolist():
            for f in st.files.pop(r, {}).values():
                drop_ref(f, r)


resources.COPY_HOOKS["fd_tables"] = _on_copy
resources.COPY_MANY_HOOKS["fd_tables"] = _on_copy_many
resources.RELEASE_HOOKS["fd_tables"] = _on_release
resources.RELEASE_MANY_HOOKS["fd_tables"] = _on_release_many


def check(world) -> None:
    st = world.index.fd_store
    if st is None:
        return
    F = world.tables["fd_tables"]
    for row in range(min(F.n, st.used.shape[0])):
        fds = sorted(st.files.get(row, {}))
        bits = [w * 64 + b for w in range(st.words) for b in range(64)
                if int(st.used[row, w]) >> b & 1] if st.used[row].any() else []
        assert bits == fds, f"fd table {row}: bitmap {bits} != files {fds}"
        assert not (st.cloexec[row] & ~st.used[row]).any(), f"fd table {row}: cloexec on a closed fd"
        if not F.alive[row]:
            assert not fds, f"freed fd table {row} still holds files"



FDTable = Component("FDTable", "fd_tables", {}, doc="Open fds (bitmaps and files live in FDStore).",
                    check=check)
COMPONENTS = [FDTable]
