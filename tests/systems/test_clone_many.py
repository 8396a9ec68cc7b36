"""clone_many (the batch path) gives exactly what one clone per request gives."""
import numpy as np
from hypothesis import given, settings, strategies as st

from ecs_kernel.abi import CLONE_FILES, CLONE_NEWPID, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM
from ecs_kernel.components.fd_table import store
from ecs_kernel.errors import E, KernelError
from ecs_kernel.kernel import Kernel
from ecs_kernel.schedule import check_sanity
from ecs_kernel.systems import fd_table
from ecs_kernel.systems.task_clone import clone, clone_many
from ecs_kernel.world import Settings

FLAGS = [17, 0, 10, CLONE_THREAD | CLONE_SIGHAND | CLONE_VM, CLONE_VM | CLONE_FILES | 17,
         CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_FILES, CLONE_NEWPID | 17, CLONE_THREAD]


class F:
    def release(self):
        pass


def assert_worlds_equal(a, b):
    for kind, ta in a.tables.items():
        tb = b.tables[kind]
        assert (ta.n, ta.count) == (tb.n, tb.count), kind
        assert (ta.alive[: ta.n] == tb.alive[: tb.n]).all(), kind
        for name, col in ta.columns():
            assert (col[: ta.n] == getattr(tb, name)[: tb.n]).all(), f"{kind}.{name}"
    for ns, pm in a.index.pidmaps.items():
        pb = b.index.pidmaps[ns]
        n = max(len(pm.task), len(pb.task))
        for name in ("task", "pgrp", "session"):
            x, y = np.full(n, -1), np.full(n, -1)
            x[: len(getattr(pm, name))] = getattr(pm, name)
            y[: len(getattr(pb, name))] = getattr(pb, name)
            assert (x == y).all(), f"pidmap {ns}.{name}"
    assert a.index.nproc == b.index.nproc
    sa, sb = store(a), store(b)
    assert {r: sorted(f) for r, f in sa.files.items() if f} == {r: sorted(f) for r, f in sb.files.items() if f}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 50), min_size=1, max_size=12), st.sampled_from(FLAGS)),
                min_size=1, max_size=6),
       st.integers(8, 60))
def test_clone_many_equals_sequential_clones(batches, limit):
    ka, kb = Kernel(Settings(tasks_limit=limit)), Kernel(Settings(tasks_limit=limit))
    for k in (ka, kb):
        fd_table.new_fd(k.world, 0, F())
    for picks, flags in batches:
        live = ka.world.tasks.live_rows()
        creators = live[np.array(picks) % len(live)]
        got = clone_many(ka.world, creators, flags)
        want = []
        for c in creators:
            try:
                want.append(clone(kb.world, int(c), flags))
            except KernelError as e:
                want.append(-e.errno)
        assert got.tolist() == want
        ka.world.flush()
        kb.world.flush()
        assert_worlds_equal(ka.world, kb.world)
        check_sanity(ka.world)


def test_clone_many_reports_per_request_errors():
    k = Kernel(Settings(tasks_limit=3))
    out = clone_many(k.world, np.zeros(4, np.int64), 17)
    assert out.tolist() == [1, 2, -E.EAGAIN, -E.EAGAIN]
    out = clone_many(k.world, np.zeros(1, np.int64), CLONE_THREAD)
    assert out.tolist() == [-E.EINVAL]


@settings(max_examples=40, deadline=None)
@given(st.integers(40, 90), st.lists(st.tuples(st.integers(1, 30), st.integers(0, 30)), min_size=1,
                                     max_size=8))
def test_clone_many_wraps_past_pid_max_as_sequential_clones_do(pid_max, rounds):
    """Batches that cross pid_max get the ids one clone at a time would (a free block after the
    last id is the fast case; a wrap goes id by id) and the id maps grow to hold them."""
    # The tasks limit binds before the id space runs out (that case is the test below).
    ka, kb = (Kernel(Settings(pid_max=pid_max, tasks_limit=pid_max - 2)) for _ in range(2))
    for n, reap in rounds:
        init = ka.task(ka.init_task)
        got = clone_many(ka.world, np.full(n, init, np.int64), 17)
        want = []
        for _ in range(n):
            try:
                want.append(clone(kb.world, init, 17))
            except KernelError as e:
                want.append(-e.errno)
        assert got.tolist() == want
        assert all(ka.world.tasks.tids[r, 0] < pid_max for r in got if r >= 0)
        # Reap the oldest children in both, freeing low ids for the next wrap.
        for k in (ka, kb):
            kids = sorted((int(k.world.tasks.tids[r, 0]), int(r)) for r in k.world.tasks.live_rows()
                          if r != init)[:reap]
            for _, r in kids:
                k.exit(k.handle(r), 0)
            k.tick()
            for _ in kids:
                k.wait4(k.init_task, -1, 0)
        assert_worlds_equal(ka.world, kb.world)
        check_sanity(ka.world)


def test_clone_many_gets_eagain_when_the_pid_space_runs_out():
    ka, kb = (Kernel(Settings(pid_max=40, tasks_limit=100)) for _ in range(2))
    init = ka.task(ka.init_task)
    got = clone_many(ka.world, np.full(45, init, np.int64), 17)
    want = []
    for _ in range(45):
        try:
            want.append(clone(kb.world, init, 17))
        except KernelError as e:
            want.append(-e.errno)
    assert got.tolist() == want
    assert (got[38:] == -E.EAGAIN).all() and (got[:38] >= 0).all()  # ids 2..39
    check_sanity(ka.world)
