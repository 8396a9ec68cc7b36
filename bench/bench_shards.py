"""Benchmark a sharded simulation: ticks/s, mail between shards, cost against Ray's round trip.

Ticks per second, bytes of mail between shards per tick, and what sharding costs per tick
against Ray's own actor round trip, measured in the same run.

Run from the repo root::

    python -m bench.bench_shards                               # 10^6 signal-storm tasks, 2 shards
    python -m bench.bench_shards --tasks 100000 --shards 4 --ticks 10
    python -m bench.bench_shards --backends pool,ray --json out.json

For each backend (``unsharded``: one World; ``in-process``: the shards as a list of Worlds;
``pool``: one worker process per shard; ``ray``: one actor per shard on a private local Ray),
the simulation is built, run ``--warmup`` ticks (numba's kernels load, the programs' first
sigactions), then ``--ticks`` ticks, one ``step`` at a time as the command line does (each
pipelined with the next tick's phases). Figures:

- ticks/s and task-ticks/s over the timed ticks;
- mail: bytes of kill/tgkill records posted in one shard and sent in another, per tick;
- shard compute: per tick, the slowest host's own seconds inside its call (its share of the
  tick's work); coordination: the tick's wall time less that (routing the mail, pickling, the
  round trip, waiting on a host that shares a core);
- Ray's own actor round trip, in the same run: ``ray.get`` of one no-op method call to one actor,
  of one call to each of the N shard actors at once (what a tick's call is, without work), and of
  one to each carrying the tick's mail bytes (shared out) there and back (medians), and a call to
  each that spins for the tick's shard compute time, less that time (mean over ``--ticks`` calls):
  Ray's round trip with the cores as busy as in a tick: Ray's own round trip per tick, the goal's
  baseline (coordination at most 2x it). The bench prints coordination against the other two as
  well. ``--workload timer-sleepers`` posts no mail: the control for what the mail itself costs.

The machine is shared (2 cores, other jobs): the figures drift between runs; ratios in one run
hold better.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time

import bench
from ecs_kernel.cluster.shards import ShardedSimulation, open_hosts
from ecs_kernel.sim.engine import Simulation
from ecs_kernel.sim.spec import load

GOAL = 2.0


def _time_ticks(step, ticks: int, host_seconds=None) -> dict:
    walls, hosts = [], []
    for i in range(ticks):
        t0 = time.perf_counter()
        step(i + 1 < ticks)
        walls.append(time.perf_counter() - t0)
        if host_seconds is not None:
            hosts.append(max(host_seconds()))
    out = {"tick_s": statistics.mean(walls), "ticks_per_s": ticks / sum(walls)}
    if hosts:
        out["compute_s"] = statistics.mean(hosts)
        out["coordination_s"] = statistics.mean(w - h for w, h in zip(walls, hosts))
    return out


def unsharded(workload, tasks: int, seed: int, warmup: int, ticks: int) -> dict:
    t0 = time.perf_counter()
    sim = Simulation(workload, tasks, seed)
    build = time.perf_counter() - t0
    sim.run(warmup)
    r = _time_ticks(lambda more: sim.step(), ticks)
    r.update(backend="unsharded", shards=1, build_s=build, moved_per_tick=0,
             counters=sim.history.data[-ticks:].tolist())
    return r


def sharded(backend: str, workload, tasks: int, seed: int, shards: int, warmup: int,
            ticks: int) -> dict:
    kw = {"in-process": {}, "pool": {"workers": shards}, "ray": {"cluster": "local"}}[backend]
    t0 = time.perf_counter()
    sim = ShardedSimulation(workload, tasks, seed, shards, **kw)
    build = time.perf_counter() - t0
    try:
        sim.run(warmup)
        r = _time_ticks(lambda more: sim.step(more=more), ticks, lambda: sim.host_seconds)
        moved = sim.moved[-ticks:]
        r.update(backend=backend, shards=shards, build_s=build,
                 moved_per_tick=statistics.mean(moved), counters=sim.history.data[-ticks:].tolist())
    finally:
        sim.close()
    return r


def ray_round_trips(shards: int, pings: int, payload: int, busy_s: float, busy_calls: int) -> dict:
    """Ray's own actor round trips in this run: one no-op call to one actor, one to each of
    ``shards`` actors at once (the shard hosts, holding nothing), and one to each carrying
    ``payload`` bytes there and back (the mail a tick moves, shared out); and the time a call
    to each actor takes beyond the slowest actor's own ``busy_s`` seconds of spinning (a tick's
    work without the simulation: Ray's round trip while the cores are as busy as in a tick)."""
    import numpy as np
    actors = open_hosts(shards, cluster="local")
    ray = actors.ray
    try:
        ray.get([h.ping.remote() for h in actors.hosts])  # started
        one, all_, loaded = [], [], []
        blob = np.ones(max(1, payload // shards), np.uint8)
        for _ in range(max(1, pings // 10)):
            t0 = time.perf_counter()
            ray.get([h.ping.remote(blob) for h in actors.hosts])
            loaded.append(time.perf_counter() - t0)
        for _ in range(pings):
            t0 = time.perf_counter()
            ray.get(actors.hosts[0].ping.remote())
            one.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ray.get([h.ping.remote() for h in actors.hosts])
            all_.append(time.perf_counter() - t0)
        busy = []
        for _ in range(busy_calls):
            t0 = time.perf_counter()
            res = ray.get([h.busy.remote(busy_s) for h in actors.hosts])
            busy.append(time.perf_counter() - t0 - max(s for _, s in res))
    finally:
        actors.close()
    return {"one_actor_s": statistics.median(one), "all_actors_s": statistics.median(all_),
            "all_actors_payload_s": statistics.median(loaded), "payload_bytes": payload,
            "busy_s": busy_s, "around_busy_s": statistics.mean(busy)}


def main(argv=None) -> int:
    ap = bench.parser(__doc__, "shards")
    ap.add_argument("--workload", default="signal-storm", help="a shardable workload")
    ap.add_argument("--tasks", type=int, default=1_000_000, help="synthetic tasks")
    ap.add_argument("--shards", type=int, default=2, help="Worlds to split them into")
    ap.add_argument("--ticks", type=int, default=10, help="timed ticks per backend")
    ap.add_argument("--warmup", type=int, default=3, help="ticks before the timed ones")
    ap.add_argument("--seed", type=int, default=1, help="the simulation's seed")
    ap.add_argument("--pings", type=int, default=200, help="Ray round trips to time")
    ap.add_argument("--backends", default="unsharded,in-process,pool,ray",
                    help="which to run, comma-separated")
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args(argv)
    workload = load(args.workload)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    print(f"{args.workload}: {args.tasks:,} tasks, {args.shards} shards, {args.ticks} ticks after "
          f"{args.warmup} (cpus: {os.cpu_count()})", flush=True)
    rows = []
    for b in backends:
        r = (unsharded(workload, args.tasks, args.seed, args.warmup, args.ticks) if b == "unsharded"
             else sharded(b, workload, args.tasks, args.seed, args.shards, args.warmup, args.ticks))
        rows.append(r)
        extra = ""
        if "coordination_s" in r:
            extra = (f", shard compute {r['compute_s'] * 1e3:.1f} ms, coordination "
                     f"{r['coordination_s'] * 1e3:.1f} ms")
        print(f"  {b:<10} build {r['build_s']:.1f} s, {r['ticks_per_s']:.2f} ticks/s "
              f"({r['ticks_per_s'] * args.tasks:,.0f} task-ticks/s), {r['tick_s'] * 1e3:.1f} ms/tick"
              f"{extra}, mail {r['moved_per_tick']:,.0f} B/tick between shards", flush=True)
    same = all(r["counters"] == rows[0]["counters"] for r in rows)
    print(f"  counters of the timed ticks equal on every backend: {same}")
    rt = None
    if "ray" in backends:
        r = next(r for r in rows if r["backend"] == "ray")
        rt = ray_round_trips(args.shards, args.pings, int(r["moved_per_tick"]), r["compute_s"],
                             args.ticks)
        print(f"  Ray's own round trip: {rt['one_actor_s'] * 1e3:.2f} ms to one actor, "
              f"{rt['all_actors_s'] * 1e3:.2f} ms to {args.shards} actors at once, "
              f"{rt['all_actors_payload_s'] * 1e3:.2f} ms to {args.shards} actors carrying "
              f"{rt['payload_bytes']:,} B there and back, {rt['around_busy_s'] * 1e3:.2f} ms "
              f"beyond {rt['busy_s'] * 1e3:.0f} ms of busy work in each actor")
        # The goal's baseline is Ray's own round trip for a tick: one call to every actor around
        # the tick's work (busy_s). The empty round trip on idle cores is printed beside it: no
        # tick gets it on this machine (the actors' work keeps every core busy until the reply).
        ratio = r["coordination_s"] / rt["around_busy_s"]
        print(f"  sharding's cost per tick on Ray: {r['coordination_s'] * 1e3:.1f} ms = "
              f"{ratio:.2f}x Ray's own round trip per tick (a call to each of the {args.shards} "
              f"actors around the same work; goal: at most {GOAL:g}x): "
              f"{'met' if ratio <= GOAL else 'NOT met'}; "
              f"{r['coordination_s'] / rt['all_actors_s']:.2f}x Ray's empty round trip on idle "
              f"cores; {r['coordination_s'] / rt['all_actors_payload_s']:.2f}x the round trip "
              f"carrying the tick's mail")
    if args.json:
        for r in rows:
            r.pop("counters")
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows, "ray_round_trip": rt, "same": same}, f,
                      indent=1)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
