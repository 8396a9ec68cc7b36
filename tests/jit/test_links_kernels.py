"""jit/links batch kernels against the scalar list functions (the naive oracle)."""
import numpy as np
from hypothesis import given, settings, strategies as st

from ecs_kernel.components import links
from ecs_kernel.jit.links import append_many, unlink_many


def fresh(n_owners, n_rows):
    return [np.full(n_owners, -1, np.int32), np.full(n_owners, -1, np.int32),
            np.full(n_rows, -1, np.int32), np.full(n_rows, -1, np.int32)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.lists(st.tuples(st.integers(0, 3), st.integers(0, 29)), max_size=12)),
                max_size=8))
def test_batches_match_one_by_one(script):
    a, b = fresh(4, 30), fresh(4, 30)
    where = {}  # row -> owner, the model of membership
    for is_append, reqs in script:
        owners, rows = [], []
        for o, r in reqs:
            if is_append and r not in where and r not in rows:
                owners.append(o), rows.append(r)
            elif not is_append and r in where and r not in rows:
                owners.append(where[r]), rows.append(r)
        for o, r in zip(owners, rows):
            (links.append if is_append else links.unlink)(b[0], b[1], o, b[2], b[3], r)
            if is_append:
                where[r] = o
            else:
                del where[r]
        (append_many if is_append else unlink_many)(a[0], a[1], np.array(owners), a[2], a[3], np.array(rows))
        for x, y in zip(a, b):
            assert (x == y).all()
        for o in range(4):
            assert sorted(links.members(a[0], o, a[2])) == sorted(r for r, w in where.items() if w == o)
