"""What ``ecs-kernel sim --check`` costs: the invariant probes per tick and a full check, as ratios
to the simulation's own tick measured in the same run.

    python -m bench.bench_sim_checks [--workload mixed] [--sizes 10000,100000,1000000] [--reps 5]

For each size: a Simulation of the workload runs a few warm-up ticks, then ticks alternate between
no probes and the probes installed (sim/invariants.py ``install``), and each rule of
``invariants.check`` and the deadlock pass are timed on the World as it stands. Printed: the median
tick without and with probes and their ratio, each rule's time, and a full check (all rules plus
the deadlock pass) in ticks of the plain simulation.

``--bare`` measures the same on a World of N idle tasks (processes of 4 threads made with
``clone_many``, no programs): its tick is the cheapest a World of that size has, so the probes'
own cost shows instead of drowning in the simulation's.
"""
from __future__ import annotations

import json
import statistics
import time

import bench
from ecs_kernel.abi import CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, SIGCHLD


def measure(workload: str, tasks: int, reps: int, seed: int = 1) -> dict:
    from ecs_kernel.sim import deadlock, invariants
    from ecs_kernel.sim.engine import Simulation

    sim = Simulation(workload, tasks, seed)
    w = sim.world
    for _ in range(3):  # warm-up: programs leave their first steps, kernels load
        sim.step()
    invariants.install(w)
    sim.step()  # compile the probes
    plain, probed = [], []
    for _ in range(reps):
        invariants.uninstall(w)
        t = time.perf_counter()
        sim.step()
        plain.append(time.perf_counter() - t)
        invariants.install(w)
        t = time.perf_counter()
        sim.step()
        probed.append(time.perf_counter() - t)
    v = invariants.check(w)
    if v is not None:
        raise SystemExit(f"a violation in a correct run: {v}")
    rules = {}
    for fn in invariants.CHECKS + (deadlock.find_deadlocks,):
        fn(w)
        t = time.perf_counter()
        fn(w)
        rules[fn.__name__] = time.perf_counter() - t
    tick = statistics.median(plain)
    full = sum(rules.values())
    return {"workload": workload, "tasks": tasks, "tick_s": tick, "probed_tick_s": statistics.median(probed),
            "probe_ratio": statistics.median(probed) / tick, "rules_s": rules, "check_s": full,
            "check_in_ticks": full / tick}


def measure_bare(tasks: int, reps: int) -> dict:
    import numpy as np

    from ecs_kernel.kernel import new_world
    from ecs_kernel.sim import deadlock, invariants
    from ecs_kernel.systems import task_clone
    from ecs_kernel.world import Settings

    w = new_world(Settings(tasks_limit=tasks + 16))
    init = task_clone.create_init(w)
    w.flush()
    leaders = task_clone.clone_many(w, np.full(tasks // 4, init, np.int64), SIGCHLD)
    task_clone.clone_many(w, np.repeat(leaders, 3),
                          CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)
    w.flush()
    w.tick(2)
    invariants.install(w)
    w.tick()
    plain, probed = [], []
    for _ in range(reps):
        invariants.uninstall(w)
        t = time.perf_counter()
        w.tick()
        plain.append(time.perf_counter() - t)
        invariants.install(w)
        t = time.perf_counter()
        w.tick()
        probed.append(time.perf_counter() - t)
    rules = {}
    for fn in invariants.CHECKS + (deadlock.find_deadlocks,):
        fn(w)
        t = time.perf_counter()
        fn(w)
        rules[fn.__name__] = time.perf_counter() - t
    tick = statistics.median(plain)
    full = sum(rules.values())
    return {"workload": "bare", "tasks": w.tasks.count - 1, "tick_s": tick,
            "probed_tick_s": statistics.median(probed), "probe_ratio": statistics.median(probed) / tick,
            "rules_s": rules, "check_s": full, "check_in_ticks": full / tick}


def main(argv=None) -> None:
    ap = bench.parser(__doc__, "sim_checks", whole=True)
    ap.add_argument("--workload", default="mixed")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--bare", action="store_true", help="idle tasks, no simulation (see above)")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    out = []
    for n in (int(x) for x in args.sizes.split(",")):
        r = measure_bare(n, args.reps) if args.bare else measure(args.workload, n, args.reps)
        out.append(r)
        print(f"{r['workload']}, {r['tasks']} tasks")
        print(f"  tick              {r['tick_s'] * 1e3:9.1f} ms   (the baseline)")
        print(f"  tick with probes  {r['probed_tick_s'] * 1e3:9.1f} ms   x{r['probe_ratio']:.2f}")
        for name, s in r["rules_s"].items():
            print(f"    {name:<18}{s * 1e3:9.1f} ms")
        print(f"  full check        {r['check_s'] * 1e3:9.1f} ms   = {r['check_in_ticks']:.2f} ticks")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
