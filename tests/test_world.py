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


REC = Component("Rec", "things", {"a": Column(np.int32, -1), "b": Column(np.uint64, 7),
                                  "v": Column(np.int16, 0, (3,))}, interleaved=True)


def _rec_world():
    w = World()
    w.add_component(REC)
    return w


def _interleaved(table):  # every column a view of one record array
    return table.a.base is not None and table.a.base is table.b.base is table.v.base


def test_an_interleaved_component_keeps_its_values_through_growth_frees_and_restore():
    """One record per row (columns are views of it): the same values a plain layout gives."""
    w = _rec_world()
    T = w.things
    assert _interleaved(T) and T.a.strides[0] == T.b.strides[0] > T.b.itemsize
    rows = [T.alloc() for _ in range(200)]  # grows 64 -> 256
    for r in rows:
        T.a[r], T.b[r], T.v[r] = r, 2 * r, (r, -r, 1)
    T.free(rows[5])
    T.free_many(np.array(rows[10:20]))
    assert _interleaved(T) and T.capacity == 256
    back = World.restore(w.checkpoint())
    for x in (T, back.things):
        assert _interleaved(x)
        live = np.array([r for r in rows if r != 5 and not 10 <= r < 20])
        assert (x.a[live] == live).all() and (x.b[live] == 2 * live).all()
        assert (x.v[live, 1] == -live).all()
        dead = np.array([5, *range(10, 20)])
        assert (x.a[dead] == -1).all() and (x.b[dead] == 7).all() and (x.v[dead] == 0).all()
    r = back.things.alloc()  # the restored table grows on, interleaved
    assert r == 19 and back.things.b[r] == 7
    while back.things.n < back.things.capacity:
        back.things.alloc()
    back.things.alloc()
    assert _interleaved(back.things) and back.things.a[live][-1] == live[-1]
