"""fork-exit churn: create, exit and reap P processes of T threads each in one World.

The kernel-level (row) calls a syscall handler makes: clone, exit_group, the interrupt and exit
systems, wait4(-1). Returns the cost per operation and the memory per task at the peak.
"""
from __future__ import annotations

import gc

import numpy as np
import resource
import time

from ..abi import CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, SIGCHLD
from ..kernel import new_world
from ..systems import task_clone, task_exit, task_wait
from ..world import Settings

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def fork_exit_churn(processes: int, threads: int, batch: bool = True) -> dict:
    """Create, exit and reap; ``batch`` creates with ``clone_many`` (one call per wave of clones)
    and lets the exit system take its batch path, else one clone per call and one exit at a time."""
    gc.collect()
    rss0 = rss_bytes()
    world = new_world(Settings(tasks_limit=processes * threads + 16, batch_exit=batch))
    init = task_clone.create_init(world)
    world.flush()
    wait_any = task_wait.WaitOptions.for_wait4(-1, 0)

    t0 = time.perf_counter()
    if batch:
        leaders = task_clone.clone_many(world, np.full(processes, init, np.int64), SIGCHLD)
        if threads > 1:
            task_clone.clone_many(world, np.repeat(leaders, threads - 1), THREAD)
        leaders = leaders.tolist()
    else:
        leaders = []
        for _ in range(processes):
            leader = task_clone.clone(world, init, SIGCHLD)
            leaders.append(leader)
            for _ in range(threads - 1):
                task_clone.clone(world, leader, THREAD)
    t_clone = time.perf_counter() - t0
    ntasks = world.tasks.count - 1
    peak_columns = world.nbytes()
    peak_rss = rss_bytes() - rss0

    t0 = time.perf_counter()
    for leader in leaders:
        task_exit.exit_group(world, leader, 0)
    world.tick()  # interrupt + exit systems take every task to zombie / release
    t_exit = time.perf_counter() - t0
    assert world.tasks.count == processes + 1, "every non-leader is released at once"

    t0 = time.perf_counter()
    for _ in range(processes):
        res = task_wait.wait(world, init, wait_any)
        assert isinstance(res, task_wait.WaitResult)
    world.flush()
    t_wait = time.perf_counter() - t0
    assert world.tasks.count == 1 and world.thread_groups.count == 1

    return {
        "mode": "batch" if batch else "scalar",
        "processes": processes, "threads": threads, "tasks": ntasks,
        "clone_us": t_clone / ntasks * 1e6,
        "exit_us": t_exit / ntasks * 1e6,
        "wait_us": t_wait / processes * 1e6,
        "amortised_us": (t_clone + t_exit + t_wait) / (2 * ntasks + processes) * 1e6,
        "columns_bytes_per_task": peak_columns / ntasks,
        "rss_bytes_per_task": peak_rss / ntasks,
    }
