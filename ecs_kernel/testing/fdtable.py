"""A hypothesis state machine for FD tables beside a plain-Python reference model.

Tasks share tables under CLONE_FILES and copy them on fork; the model is a dict per table of
fd -> (file, cloexec). Checked after every step: the open fds and the file behind each, the
close-on-exec flags, each file's reference count, and that a file is released exactly when its
last fd closes. The classic bug this finds: an fd reused while still open.
"""
from __future__ import annotations

import hypothesis.strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ..abi import (CLONE_FILES, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, CLOSE_RANGE_CLOEXEC,
                   CLOSE_RANGE_UNSHARE, O_CLOEXEC, RLIMIT_NOFILE, WALL, WNOHANG)
from ..components import rlimits
from ..errors import E, KernelError
from ..kernel import Kernel
from ..schedule import check_sanity
from ..systems import fd_table as F
from ..world import Settings

# Mostly small fds (the ones that are open), sometimes anything (negative, past the limit).
fds = st.one_of(st.integers(0, 6), st.integers(0, 6), st.integers(min_value=-2, max_value=140))


class FakeFile:
    """A file description that records its release."""

    serial = 0

    def __init__(self):
        FakeFile.serial += 1
        self.name = FakeFile.serial
        self.released = 0

    def release(self):
        self.released += 1

    def __repr__(self):
        return f"file{self.name}"


class RefTables:
    def __init__(self):
        self.tables: dict[int, dict[int, list]] = {0: {}}  # table id -> fd -> [file, cloexec]
        self.task_table: dict[int, int] = {}
        self.limit: dict[int, int] = {}  # per task (its process's RLIMIT_NOFILE)
        self.next = 1

    def lowest(self, t: int, min_fd: int) -> int:
        tab = self.tables[self.task_table[t]]
        fd = min_fd
        while fd in tab:
            fd += 1
        if fd >= self.limit[t]:
            raise KernelError(E.EMFILE)
        return fd


class FDTableMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.k = Kernel(Settings(sanitize=True))
        self.w = self.k.world
        self.tasks = [self.k.task(self.k.init_task)]
        self.ref = RefTables()
        self.ref.task_table[self.tasks[0]] = 0
        self.ref.limit[self.tasks[0]] = 1024
        self.files: list[FakeFile] = []

    def _t(self, i):
        return self.tasks[i % len(self.tasks)]

    def _same(self, impl, ref):
        try:
            a = impl()
        except KernelError as e:
            a = ("errno", e.errno)
        try:
            b = ref()
        except KernelError as e:
            b = ("errno", e.errno)
        assert a == b, f"ecs-kernel {a!r} != reference {b!r}"
        return a

    def _reftab(self, t):
        return self.ref.tables[self.ref.task_table[t]]

    def _refget(self, t, fd):
        tab = self._reftab(t)
        if fd not in tab:
            raise KernelError(E.EBADF)
        return tab[fd][0]

    @rule(i=st.integers(0, 9), cloexec=st.booleans())
    def open(self, i, cloexec):
        t = self._t(i)
        f = FakeFile()
        self.files.append(f)

        def ref():
            fd = self.ref.lowest(t, 0)
            self._reftab(t)[fd] = [f, cloexec]
            return fd
        self._same(lambda: F.new_fd(self.w, t, f, cloexec=cloexec), ref)

    @rule(i=st.integers(0, 9), fd=fds)
    def close(self, i, fd):
        t = self._t(i)

        def ref():
            self._refget(t, fd)
            del self._reftab(t)[fd]
        self._same(lambda: F.close_fd(self.w, t, fd), ref)

    @rule(i=st.integers(0, 9), fd=fds)
    def dup(self, i, fd):
        t = self._t(i)

        def ref():
            f = self._refget(t, fd)
            new = self.ref.lowest(t, 0)
            self._reftab(t)[new] = [f, False]
            return new
        self._same(lambda: F.dup(self.w, t, fd), ref)

    @rule(i=st.integers(0, 9), fd=fds, min_fd=fds, cloexec=st.booleans())
    def dupfd(self, i, fd, min_fd, cloexec):
        t = self._t(i)

        def ref():
            f = self._refget(t, fd)
            if min_fd < 0 or min_fd >= self.ref.limit[t]:
                raise KernelError(E.EINVAL)
            new = self.ref.lowest(t, min_fd)
            self._reftab(t)[new] = [f, cloexec]
            return new
        self._same(lambda: F.dupfd(self.w, t, fd, min_fd, cloexec), ref)

    @rule(i=st.integers(0, 9), old=fds, new=fds, three=st.booleans(), cloexec=st.booleans())
    def dup2(self, i, old, new, three, cloexec):
        t = self._t(i)

        def ref():
            if three and old == new:
                raise KernelError(E.EINVAL)
            f = self._refget(t, old)
            if old == new:
                return new
            if new < 0 or new >= self.ref.limit[t]:
                raise KernelError(E.EBADF)
            self._reftab(t)[new] = [f, three and cloexec]
            return new
        impl = (lambda: F.dup3(self.w, t, old, new, O_CLOEXEC if cloexec else 0)) if three \
            else (lambda: F.dup2(self.w, t, old, new))
        self._same(impl, ref)

    @rule(i=st.integers(0, 9), fd=fds, on=st.booleans())
    def set_cloexec(self, i, fd, on):
        t = self._t(i)

        def ref():
            self._refget(t, fd)
            self._reftab(t)[fd][1] = on
        self._same(lambda: F.set_cloexec(self.w, t, fd, on), ref)

    @rule(i=st.integers(0, 9), first=fds, last=st.integers(-1, 200), flags=st.sampled_from([0, 2, 4, 6, 8]))
    def close_range(self, i, first, last, flags):
        t = self._t(i)

        def ref():
            if flags & ~6 or first > last or first < 0:
                raise KernelError(E.EINVAL)
            if flags & CLOSE_RANGE_UNSHARE:
                self._unshare_ref(t)
            tab = self._reftab(t)
            for fd in [fd for fd in tab if first <= fd <= last]:
                if flags & CLOSE_RANGE_CLOEXEC:
                    tab[fd][1] = True
                else:
                    del tab[fd]
        self._same(lambda: F.close_range(self.w, t, first, last, flags), ref)

    def _unshare_ref(self, t):
        tid = self.ref.task_table[t]
        if sum(1 for x in self.ref.task_table.values() if x == tid) > 1:
            new = self.ref.next
            self.ref.next += 1
            self.ref.tables[new] = {fd: list(v) for fd, v in self.ref.tables[tid].items()}
            self.ref.task_table[t] = new

    @precondition(lambda self: len(self.tasks) < 6)
    @rule(i=st.integers(0, 9), share=st.booleans())
    def clone(self, i, share):
        t = self._t(i)
        flags = (CLONE_FILES | CLONE_VM | CLONE_SIGHAND | CLONE_THREAD) if share else 17
        c = self.k.task(self.k.clone(self.k.handle(t), flags))
        self.tasks.append(c)
        if share:
            self.ref.task_table[c] = self.ref.task_table[t]
        else:
            new = self.ref.next
            self.ref.next += 1
            self.ref.tables[new] = {fd: list(v) for fd, v in self._reftab(t).items()}
            self.ref.task_table[c] = new
        self.ref.limit[c] = self.ref.limit[t]
        if share:  # same process, same limit
            pass

    @rule(i=st.integers(0, 9))
    def exec_closes_cloexec(self, i):
        t = self._t(i)
        F.do_close_on_exec(self.w, t)
        tab = self._reftab(t)
        for fd in [fd for fd, v in tab.items() if v[1]]:
            del tab[fd]

    @rule(i=st.integers(0, 9), limit=st.integers(0, 140))
    def set_nofile(self, i, limit):
        t = self._t(i)
        tg = int(self.w.tasks.tg[t])
        row = rlimits.writable(self.w, tg)
        self.w.rlimit_sets.rlim_cur[row, RLIMIT_NOFILE] = limit
        for task, _ in self.ref.limit.items():
            if int(self.w.tasks.tg[task]) == tg:
                self.ref.limit[task] = limit

    @precondition(lambda self: len(self.tasks) > 1)
    @rule(i=st.integers(1, 9))
    def exit(self, i):
        t = self.tasks.pop(1 + i % (len(self.tasks) - 1))
        self.k.exit(self.k.handle(t), 0)
        self.k.tick()
        tab = self.ref.task_table.pop(t)
        del self.ref.limit[t]
        if tab not in self.ref.task_table.values():
            del self.ref.tables[tab]
        # reap zombies so rows stay tidy
        while True:
            try:
                if not self.k.wait4(self.k.init_task, -1, WNOHANG | WALL):
                    break
            except KernelError:
                break

    @invariant()
    def tables_agree(self):
        check_sanity(self.w)
        refs = {}
        for t in self.tasks:
            tab = self._reftab(t)
            assert F.open_fds(self.w, t) == sorted(tab), f"task {t}: fds differ"
            for fd, (f, ce) in tab.items():
                assert F.get_file(self.w, t, fd) is f
                assert F.get_cloexec(self.w, t, fd) == ce, f"task {t} fd {fd}: cloexec differs"
        for tid, tab in self.ref.tables.items():
            if tid in self.ref.task_table.values():
                for f, _ in tab.values():
                    refs[f] = refs.get(f, 0) + 1
        for f in self.files:
            n = refs.get(f, 0)
            assert getattr(f, "_fd_refs", 0) == n, f"{f}: {getattr(f, '_fd_refs', 0)} refs, expected {n}"
            assert f.released == (1 if n == 0 and hasattr(f, "_fd_refs") else 0), f"{f} released {f.released}x"
