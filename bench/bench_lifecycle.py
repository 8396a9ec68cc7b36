"""Lifecycle benchmark: create, exit and reap P processes of T threads each in one World.

    python -m bench.bench_lifecycle --processes 100000 --threads 10

Prints the time per clone, per exit (each task's exit taken to zombie/release by the exit system)
and per wait (wait4(-1) by init reaping one process), and the memory per task at the peak: the
bytes of every component column and index (``World.nbytes``) and the growth of the process's
resident set. Goals from the foundation issue: under 10 us per operation amortised, under 1 KiB
per task. These are the kernel-level (row) calls a syscall handler makes; no handles involved.
"""
from __future__ import annotations

import argparse
import gc
import json
import resource
import time

from ecs_kernel.components.signals import SIGCHLD
from ecs_kernel.kernel import new_world
from ecs_kernel.systems import task_clone, task_exit, task_wait
from ecs_kernel.systems.task_clone import CLONE_SIGHAND, CLONE_THREAD, CLONE_VM
from ecs_kernel.world import Settings

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def run(processes: int, threads: int) -> dict:
    gc.collect()
    rss0 = rss_bytes()
    world = new_world(Settings(tasks_limit=processes * threads + 16))
    init = task_clone.create_init(world)
    world.flush()
    wait_any = task_wait.WaitOptions.for_wait4(-1, 0)

    t0 = time.perf_counter()
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
        "processes": processes, "threads": threads, "tasks": ntasks,
        "clone_us": t_clone / ntasks * 1e6,
        "exit_us": t_exit / ntasks * 1e6,
        "wait_us": t_wait / processes * 1e6,
        "amortised_us": (t_clone + t_exit + t_wait) / (2 * ntasks + processes) * 1e6,
        "columns_bytes_per_task": peak_columns / ntasks,
        "rss_bytes_per_task": peak_rss / ntasks,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processes", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=10)
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    r = run(args.processes, args.threads)
    print(f"{r['processes']} processes x {r['threads']} threads = {r['tasks']} tasks")
    print(f"  clone      {r['clone_us']:8.2f} us per task")
    print(f"  exit       {r['exit_us']:8.2f} us per task")
    print(f"  wait       {r['wait_us']:8.2f} us per process reaped")
    print(f"  amortised  {r['amortised_us']:8.2f} us per operation   (goal < 10)")
    print(f"  memory     {r['columns_bytes_per_task']:8.0f} B per task in columns and indexes, "
          f"{r['rss_bytes_per_task']:.0f} B per task of RSS growth   (goal < 1024)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=2)


if __name__ == "__main__":
    main()
