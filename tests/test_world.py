"""World storage: tables, generational handles, sync points, checkpoint."""
import numpy as np
import pytest

from ecs_kernel.errors import ForeignHandleError, StaleHandleError
from ecs_kernel.kernel import Kernel
from ecs_kernel.world import Column, Component, World


def make_world():
    w = World()
    w.add_component(Component("Pos", "things", {"x": Column(np.int64, 7), "v": Column(np.uint8, 0, (3,))}))
    return w


def test_fresh_rows_hold_column_defaults_and_tables_grow_by_doubling():
    w = make_world()
    rows = [w.things.alloc() for _ in range(200)]
    assert rows == list(range(200))
    assert w.things.capacity == 256
    assert (w.things.x[:200] == 7).all() and w.things.v.shape == (256, 3)


def test_handle_to_a_recycled_row_is_rejected_not_aliased():
    w = make_world()
    r = w.things.alloc()
    h = w.things.handle(r)
    w.things.free(r)
    r2 = w.things.alloc()
    assert r2 == r  # the row is reused...
    with pytest.raises(StaleHandleError, match="stale things handle"):
        w.things.row(h)  # ...but the old handle does not name it
    assert w.things.row(w.things.handle(r2)) == r2


def test_handle_from_another_world_or_table_is_foreign():
    w1, w2 = make_world(), make_world()
    h = w1.things.handle(w1.things.alloc())
    w2.things.alloc()
    with pytest.raises(ForeignHandleError, match="not a things handle of this World"):
        w2.things.row(h)
    k = Kernel()
    with pytest.raises(ForeignHandleError):
        k.world.thread_groups.row(k.init_task)
    for bad in (-1, "3", 1.5, True):
        with pytest.raises(ForeignHandleError):
            k.task(bad)


def test_free_many_matches_one_by_one_frees():
    a, b = make_world(), make_world()
    for w in (a, b):
        for _ in range(10):
            w.things.alloc()
        w.things.x[:10] = np.arange(10)
    for r in (3, 5, 7):
        a.things.free(r)
    b.things.free_many(np.array([3, 5, 7]))
    assert (a.things.x[:10] == b.things.x[:10]).all()
    assert (a.things.gen[:10] == b.things.gen[:10]).all()
    assert sorted(a.things.alloc() for _ in range(3)) == sorted(b.things.alloc() for _ in range(3)) == [3, 5, 7]
    with pytest.raises(StaleHandleError):
        b.things.free_many(np.array([1, 1]))


def test_frees_queued_during_a_tick_apply_at_the_sync_point():
    w = make_world()
    r = w.things.alloc()
    w.commands.free("things", r)
    assert w.things.alive[r]
    assert w.flush() == 1
    assert not w.things.alive[r]


def test_checkpoint_restore_keeps_every_row_and_handle():
    k = Kernel()
    c = k.fork(k.init_task)
    t = k.clone(c, 0x10000 | 0x800 | 0x100)
    blob = k.checkpoint()
    k2 = Kernel.restore(blob)
    assert k2.gettid(t) == 3 and k2.getpid(t) == 2 and k2.getppid(c) == 1
    for kind, table in k.world.tables.items():
        t2 = k2.world.tables[kind]
        assert t2.n == table.n and t2.count == table.count
        for name, col in table.columns():
            assert (getattr(t2, name)[: table.n] == col[: table.n]).all(), f"{kind}.{name}"
    # The restored World goes on independently of the original.
    k2.exit_group(c, 1)
    k2.tick()
    assert k2.wait4(k2.init_task, -1, 0).status == 0x100
    assert k.getpid(c) == 2
