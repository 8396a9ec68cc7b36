"""host_pages' small helpers against plain references."""
import mmap

import numpy as np
from hypothesis import given, strategies as st

from ecs_kernel.cpu import host_pages as HP


def _runs_reference(pages):
    out = []
    for p in pages:
        if out and out[-1][0] + out[-1][1] == p:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((p, 1))
    return out


@given(st.sets(st.integers(0, 300), max_size=150))
def test_runs_groups_consecutive_pages(pages):
    pages = np.array(sorted(pages), np.int64)
    assert HP.runs(pages) == _runs_reference(pages.tolist())


def test_resident_pages_are_the_touched_ones():
    m = mmap.mmap(-1, 64 * HP.PAGE_SIZE, flags=mmap.MAP_PRIVATE)
    arr = np.frombuffer(m, np.uint8)
    for p in (0, 5, 6, 63):
        arr[p * HP.PAGE_SIZE] = 1
    assert HP.resident_pages(arr).tolist() == [0, 5, 6, 63]
    assert HP.resident_pages(arr[5 * HP.PAGE_SIZE:7 * HP.PAGE_SIZE]).tolist() == [0, 1]
    del arr
    m.close()
