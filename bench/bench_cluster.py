"""A sweep of short simulations in this process, on a local process pool and on a private local Ray
cluster: wall time and speed-up against the serial run, measured in the same run.

    python -m bench.bench_cluster [--runs 200] [--workload mixed] [--tasks 500] [--ticks 20]
                                  [--workers N] [--no-ray] [--json PATH]

The jobs are what ``ecs-kernel sweep WORKLOAD --seeds 0..RUNS-1 --tasks T --ticks K`` runs
(cluster/sweep.py ``plan`` and ``run_job``), sent through each backend's ``map_unordered``. Each
backend is first started and warmed (every worker runs a one-tick job, so numba kernels are loaded
from the disk cache, never compiled, before the clock starts); that start-up is reported on its
own. Printed per backend: start-up, the sweep's wall time, runs per second, and the speed-up
against serial, on the sweep alone and with the start-up counted. The rows of every backend are
checked to be the serial rows (the same answers, in whatever order they finished).
"""
from __future__ import annotations

import json
import os
import time

import bench
from ecs_kernel.cluster import sweep as sw
from ecs_kernel.cluster.backend import open_backend
from ecs_kernel.sim import spec


def _warm(backend, workload, n: int) -> None:
    jobs = sw.plan(workload, list(range(n)), {}, tasks=8, ticks=1)
    for _ in backend.map_unordered(sw.run_job, jobs):
        pass


def measure(backend_kw: dict, jobs, workload) -> tuple[float, float, dict, str]:
    """(start-up s, sweep s, rows by key, what ran) of one backend."""
    t0 = time.perf_counter()
    with open_backend(**backend_kw) as b:
        _warm(b, workload, 2 * b.workers)
        t1 = time.perf_counter()
        rows = {}
        for _, row in b.map_unordered(sw.run_job, jobs):
            rows[row["key"]] = row
        t2 = time.perf_counter()
        what = b.describe()
    return t1 - t0, t2 - t1, rows, what


def main(argv=None) -> int:
    ap = bench.parser(__doc__, "cluster", whole=True)
    ap.add_argument("--runs", type=int, default=200, help="simulations in the sweep")
    ap.add_argument("--workload", default="mixed")
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--ticks", type=int, default=20)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="pool processes")
    ap.add_argument("--no-ray", action="store_true", help="leave Ray out")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    workload = spec.load(args.workload)
    jobs = sw.plan(workload, list(range(args.runs)), {}, tasks=args.tasks, ticks=args.ticks)
    backends = [("serial", {}), ("process pool", {"workers": args.workers})]
    if not args.no_ray:
        backends.append(("local Ray", {"cluster": "local"}))
    results = []
    serial_rows = None
    for label, kw in backends:
        start, run, rows, what = measure(kw, jobs, workload)
        if serial_rows is None:
            serial_rows = rows
        elif rows != serial_rows:
            raise SystemExit(f"{label}: the rows differ from the serial run's")
        results.append({"backend": label, "what": what, "startup_s": start, "sweep_s": run,
                        "runs_per_s": len(jobs) / run})
    base = results[0]
    for r in results:
        r["speedup"] = base["sweep_s"] / r["sweep_s"]
        r["speedup_with_startup"] = (base["startup_s"] + base["sweep_s"]) / (r["startup_s"] + r["sweep_s"])
    print(f"sweep of {len(jobs)} simulations: {args.workload}, {args.tasks} tasks, {args.ticks} "
          f"ticks each; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end")
    print()
    print("| backend | start-up | sweep | runs/s | speed-up vs serial | with start-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['what']} | {r['startup_s']:.2f} s | {r['sweep_s']:.2f} s | "
              f"{r['runs_per_s']:.1f} | {r['speedup']:.2f}x | {r['speedup_with_startup']:.2f}x |")
    print("\nevery backend's rows equal the serial rows")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": len(jobs), "workload": args.workload, "tasks": args.tasks,
                       "ticks": args.ticks, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
