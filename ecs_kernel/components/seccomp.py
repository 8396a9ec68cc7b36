"""seccomp state (seccomp(2)): each task's mode and filter chain, and the filters themselves.

Linux: ``task->seccomp`` (mode, filter) and ``struct seccomp_filter`` (prev, refs, prog, log).
A task's ``seccomp_filter`` is the newest filter of its chain; each filter names the one installed
before it (``prev``), so a child made by clone shares its parent's whole chain by reference and a
filter added later extends only the adder's chain. A filter's program (its ``struct sock_filter``
instructions, checked and rewritten by systems/seccomp.check_filter) is an int64 array in
``world.index.seccomp_progs`` under the filter's row.

Invariant (:func:`check`): a filter's ``refs`` counts the live tasks whose ``seccomp_filter`` is
the row plus the filters whose ``prev`` is; a task in filter mode has a filter; ``syscall_work``
has SYSCALL_WORK_SECCOMP exactly when the mode is not disabled.
Writers: systems/seccomp.py (install, TSYNC), clone (share), release (drop).
"""
from __future__ import annotations

import numpy as np

from ..abi import SECCOMP_MODE_DISABLED, SECCOMP_MODE_FILTER, SYSCALL_WORK_SECCOMP
from ..world import Column, Component

TaskSeccomp = Component("TaskSeccomp", "tasks", {
    "seccomp_mode": Column(np.uint8, SECCOMP_MODE_DISABLED),
    "seccomp_filter": Column(np.int32, -1),  # the newest filter of the chain (seccomp_filters row)
    # SYSCALL_WORK_* bits: work on every syscall entry (seccomp, a tracer's syscall stops); a task
    # with any leaves the compiled fast path
    "syscall_work": Column(np.uint8, 0),
}, doc="A task's seccomp mode, filter chain and syscall-entry work.")

SeccompFilters = Component("SeccompFilters", "seccomp_filters", {
    "prev": Column(np.int32, -1),
    "refs": Column(np.int32, 0),
    "insns": Column(np.int32, 0),  # the program's length
    "path_insns": Column(np.int32, 0),  # instructions on the chain ending here, +4 per filter
    "log": Column(np.bool_, False),  # SECCOMP_FILTER_FLAG_LOG
}, doc="seccomp filters: a chain link, a reference count, the program's size.")

COMPONENTS = [TaskSeccomp, SeccompFilters]


def check(world) -> None:
    T, F = world.tasks, world.seccomp_filters
    rows = T.live_rows()
    want = np.zeros(F.n, np.int64)
    f = T.seccomp_filter[rows]
    np.add.at(want, f[f >= 0], 1)
    live = F.live_rows()
    p = F.prev[live]
    np.add.at(want, p[p >= 0], 1)
    assert (want[live] == F.refs[live]).all(), "seccomp filter refcounts do not match their users"
    assert F.alive[f[f >= 0]].all(), "a task's seccomp filter is not a live row"
    mode = T.seccomp_mode[rows]
    assert (f[mode == SECCOMP_MODE_FILTER] >= 0).all(), "a task in filter mode has no filter"
    work = (T.syscall_work[rows] & SYSCALL_WORK_SECCOMP) != 0
    assert (work == (mode != SECCOMP_MODE_DISABLED)).all(), "syscall_work disagrees with seccomp mode"
    progs = world.index.seccomp_progs
    assert set(progs) == set(live.tolist()), "seccomp programs and filter rows differ"


TaskSeccomp.check = check
