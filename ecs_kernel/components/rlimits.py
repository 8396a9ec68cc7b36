"""Resource limits (getrlimit(2)), one copy-on-write set per thread group.

Thread groups point at a row of ``rlimit_sets``; fork shares the row (``refs`` + 1) and the first
setrlimit on a shared row copies it, so a million processes with default limits cost one row.

Invariants: ``refs`` equals the number of live thread groups pointing at the row; ``cur <= max``.
Writers: clone (share), setrlimit/prlimit64 (copy on write), release (unref).
"""
from __future__ import annotations

import numpy as np

from ..abi import (RLIM_INFINITY, RLIM_NLIMITS, RLIMIT_CORE, RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE,
                   RLIMIT_NICE, RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_RTPRIO, RLIMIT_SIGPENDING,
                   RLIMIT_STACK)
from ..world import Column, Component


Rlimits = Component("Rlimits", "rlimit_sets", {
    "rlim_cur": Column(np.uint64, RLIM_INFINITY, (RLIM_NLIMITS,)),
    "rlim_max": Column(np.uint64, RLIM_INFINITY, (RLIM_NLIMITS,)),
    "refs": Column(np.int32, 0),
}, doc="Soft and hard limits per resource, shared copy-on-write.")

COMPONENTS = [Rlimits]


def default_limits(tasks_limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Limits of a fresh init process, as Linux sets them at boot (INIT_RLIMITS) on this scale."""
    cur = np.full(RLIM_NLIMITS, RLIM_INFINITY, np.uint64)
    mx = cur.copy()
    cur[RLIMIT_STACK] = 8 << 20
    cur[RLIMIT_CORE] = 0
    cur[RLIMIT_NOFILE], mx[RLIMIT_NOFILE] = 1024, 4096  # INR_OPEN_CUR / INR_OPEN_MAX
    cur[RLIMIT_MEMLOCK] = mx[RLIMIT_MEMLOCK] = 8 << 20
    cur[RLIMIT_MSGQUEUE] = mx[RLIMIT_MSGQUEUE] = 819200
    cur[RLIMIT_NICE] = mx[RLIMIT_NICE] = 0
    cur[RLIMIT_RTPRIO] = mx[RLIMIT_RTPRIO] = 0
    # Linux derives NPROC and SIGPENDING from max_threads / 2; our max is the tasks limit.
    cur[RLIMIT_NPROC] = mx[RLIMIT_NPROC] = max(tasks_limit // 2, 1)
    cur[RLIMIT_SIGPENDING] = mx[RLIMIT_SIGPENDING] = max(tasks_limit // 2, 1)
    return cur, mx


def new_set(world, cur, mx) -> int:
    R = world.rlimit_sets
    row = R.alloc()
    R.rlim_cur[row] = cur
    R.rlim_max[row] = mx
    R.refs[row] = 1
    return row


def ref(world, row: int) -> int:
    world.rlimit_sets.refs[row] += 1
    return row


def unref(world, row: int) -> None:
    R = world.rlimit_sets
    R.refs[row] -= 1
    if R.refs[row] == 0:
        R.free(row)


def get(world, tg: int, resource: int) -> tuple[int, int]:
    R = world.rlimit_sets
    row = world.thread_groups.rlimits[tg]
    return int(R.rlim_cur[row, resource]), int(R.rlim_max[row, resource])


def set_all(world, tg: int, cur, mx) -> None:
    """Every limit of thread group ``tg`` at once (its own row: copied first if shared)."""
    row = writable(world, tg)
    world.rlimit_sets.rlim_cur[row] = cur
    world.rlimit_sets.rlim_max[row] = mx


def writable(world, tg: int) -> int:
    """The thread group's own rlimit row, copied first if shared (copy on write)."""
    G, R = world.thread_groups, world.rlimit_sets
    row = int(G.rlimits[tg])
    if R.refs[row] > 1:
        new = new_set(world, R.rlim_cur[row].copy(), R.rlim_max[row].copy())
        unref(world, row)
        G.rlimits[tg] = row = new
    return row


def check(world) -> None:
    R, G = world.rlimit_sets, world.thread_groups
    rows = R.live_rows()
    gl = G.live_rows()
    counts = np.bincount(G.rlimits[gl], minlength=R.n)[: R.n] if len(gl) else np.zeros(R.n, np.int64)
    assert (counts[rows] == R.refs[rows]).all(), "rlimit set refcounts do not match their users"
    assert (R.rlim_cur[rows] <= R.rlim_max[rows]).all(), "a soft limit exceeds its hard limit"


Rlimits.check = check
