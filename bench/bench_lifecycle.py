"""Lifecycle benchmark: create, exit and reap P processes of T threads each in one World.

    python -m bench.bench_lifecycle --processes 100000 --threads 10

Prints the time per clone, per exit (each task's exit taken to zombie/release by the exit system)
and per wait (wait4(-1) by init reaping one process), and the memory per task at the peak: the
bytes of every component column and index (``World.nbytes``) and the growth of the process's
resident set. Goals from the foundation issue: under 10 us per operation amortised, under 1 KiB
per task.
"""
from __future__ import annotations

import json

import bench
from ecs_kernel.sim.churn import fork_exit_churn


def main(argv=None) -> None:
    ap = bench.parser(__doc__, "lifecycle", whole=True)
    ap.add_argument("--processes", type=int, default=100_000, help="processes to create")
    ap.add_argument("--threads", type=int, default=10, help="threads per process")
    ap.add_argument("--scalar", action="store_true",
                    help="one clone per call and one exit at a time (no batch paths)")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    fork_exit_churn(8, 2)  # warm-up: load (or compile) the numba kernels outside the timing
    r = fork_exit_churn(args.processes, args.threads, batch=not args.scalar)
    print(f"{r['processes']} processes x {r['threads']} threads = {r['tasks']} tasks ({r['mode']} path)")
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
