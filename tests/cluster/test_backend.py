"""The backend interface: serial and pool give every item once, a lost pool worker is retried and
reported, errors are one line (Ray's own tests are in test_ray.py)."""
import sys

import pytest

from ecs_kernel.cluster.backend import BackendError, open_backend

from . import helpers


def test_the_default_backend_is_serial_and_keeps_order():
    with open_backend() as b:
        assert b.name == "serial"
        assert list(b.map_unordered(helpers.square, [3, 1, 2])) == [(0, 9), (1, 1), (2, 4)]


def test_the_environment_names_a_cluster_but_an_explicit_workers_wins(monkeypatch):
    monkeypatch.setenv("ECS_KERNEL_CLUSTER", "local")
    monkeypatch.setitem(sys.modules, "ray", None)  # asking for Ray must then fail, naming the extra
    with pytest.raises(BackendError, match=r'pip install "ecs-kernel\[ray\]"'):
        open_backend()
    with open_backend(workers=1) as b:
        assert b.name == "pool"


@pytest.mark.parametrize("kw,says", [(dict(workers=0), "at least 1"),
                                     (dict(workers=2, cluster="local"), "exclude each other"),
                                     (dict(cluster=" "), "name a cluster")])
def test_bad_backend_options_are_one_line(kw, says):
    with pytest.raises(BackendError, match=says) as e:
        open_backend(**kw)
    assert "\n" not in str(e.value)


def test_the_pool_gives_every_item_once_and_passes_exceptions_through():
    with open_backend(workers=2) as b:
        assert b.name == "pool" and b.workers == 2
        got = dict(b.map_unordered(helpers.square, range(7)))
        assert got == {i: i * i for i in range(7)}
        with pytest.raises(ValueError, match="item 3 is bad"):
            list(b.map_unordered(helpers.fail, [3]))


def test_a_lost_pool_worker_is_retried_on_a_new_pool_and_reported(tmp_path):
    seen = []
    items = [(str(tmp_path / f"m{i}"), i, i == 2) for i in range(5)]
    with open_backend(workers=2, on_lost=seen.append) as b:
        got = dict(b.map_unordered(helpers.die_once, items))
        assert got == {i: i * i for i in range(5)}
        assert len(b.lost) == 1 and seen == b.lost and "run again" in b.lost[0]
        assert "2" in b.lost[0]
    # an item that kills every worker it gets is an error after the retries
    with open_backend(workers=1, retries=1, on_lost=seen.append) as b:
        with pytest.raises(BackendError, match="item 0: its worker process was lost 2 times"):
            list(b.map_unordered(helpers.always_die, [0]))


def test_pool_workers_share_this_process_numba_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    with open_backend(workers=1) as b:
        (_, env), = b.map_unordered(helpers.env, ["NUMBA_CACHE_DIR"])
    assert env == str(tmp_path)


def test_a_consumer_that_stops_early_leaves_no_work_running():
    with open_backend(workers=2) as b:
        it = b.map_unordered(helpers.slow_square, [0, 5, 5, 5])
        assert next(it) == (0, 0)
        it.close()  # the three slow items are dropped: their workers are stopped, not waited for
        assert b._pool is None
        assert dict(b.map_unordered(helpers.square, [2, 3])) == {0: 4, 1: 9}  # a new pool
