"""Benchmark simulation checkpoints: save time, load time and bytes per task, against plain numpy
saving the same arrays in the same run.

Run from the repo root::

    python -m bench.bench_checkpoint                          # mixed, 10^6 tasks, after 3 and 100 ticks
    python -m bench.bench_checkpoint --tasks 100000 --ticks 10 --workload signal-storm
    python -m bench.bench_checkpoint --where 25               # and the 25 biggest arrays on disk
    python -m bench.bench_checkpoint --json out.json

For each tick count (the simulation runs on from one to the next):

- checkpoint: ``Simulation.checkpoint(path)`` (the World, the workload, the counters so far, in
  checkpoint_file's format: digests, each array in its smallest encoding, atomic write with
  fsync) and ``Simulation.resume(path)`` (the whole file validated, then the World built);
- raw: the same file with every array stored raw (``encode=False``): what the encodings save;
- baseline: ``np.savez`` of the same arrays (the tables' columns, the index's arrays) into one
  file, flushed and fsynced like ours, and ``np.load`` of every array back: plain numpy, no
  digests, no checks, no World built.

Each time is the best of ``--repeat`` runs. Goals (issue 13): save and load each under 2 s,
under 200 bytes per task on disk, at 10^6 tasks. The machine is shared: the bench prints how
much CPU other processes used while it ran.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sys
import tempfile
import time

import numpy as np

from bench.bench_sim import _busy, others_share
from ecs_kernel import checkpoint_file as CF
from ecs_kernel.sim.engine import Simulation

SAVE_GOAL_S = 2.0
LOAD_GOAL_S = 2.0
BYTES_GOAL = 200


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _np_save(path: str, arrays: dict) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())


def _np_load(path: str) -> None:
    with np.load(path, allow_pickle=False) as z:
        for k in z.files:
            z[k]


def measure(sim: Simulation, d: str, repeat: int) -> dict:
    n = sim.tasks
    ours = os.path.join(d, "sim.ckpt")
    raw = os.path.join(d, "raw.ckpt")
    npz = os.path.join(d, "arrays.npz")
    meta, arrays = sim.to_state()
    out = {"tasks": n, "tick": sim.tick, "live_tasks": int(sim.world.tasks.count)}
    out["save_s"] = _best(lambda: sim.checkpoint(ours), repeat)
    out["load_s"] = _best(lambda: Simulation.resume(ours), repeat)
    out["bytes_per_task"] = os.path.getsize(ours) / n
    out["raw_save_s"] = _best(lambda: CF.write(raw, meta, arrays, encode=False), repeat)
    out["raw_load_s"] = _best(lambda: Simulation.resume(raw), repeat)
    out["raw_bytes_per_task"] = os.path.getsize(raw) / n
    out["np_save_s"] = _best(lambda: _np_save(npz, arrays), repeat)
    out["np_load_s"] = _best(lambda: _np_load(npz), repeat)
    out["np_bytes_per_task"] = os.path.getsize(npz) / n
    out["arrays"] = _where(ours, n)
    for p in (raw, npz):
        os.unlink(p)
    return out


def _where(path: str, n: int) -> list:
    """Each array's stored bytes per task and encoding, biggest first (from the manifest)."""
    with open(path, "rb") as f:
        head = f.read(48)
        mlen = int.from_bytes(head[12:16], "little")
        manifest = json.loads(f.read(mlen))
    rows = []
    for e in manifest["arrays"]:
        enc = e["enc"] if isinstance(e["enc"], str) else next(iter(e["enc"]))
        count = int(np.prod(e["shape"])) if e["shape"] else 1
        rows.append({"name": e["name"], "enc": enc, "dtype": e["dtype"],
                     "stored_per_task": e["nbytes"] / n,
                     "raw_per_task": count * np.dtype(e["dtype"]).itemsize / n})
    rows.append({"name": "(manifest)", "enc": "json", "dtype": "", "stored_per_task": mlen / n,
                 "raw_per_task": mlen / n})
    return sorted(rows, key=lambda r: -r["stored_per_task"])


def _tables(rows: list) -> dict:
    """Stored bytes per task by table (``t.KIND.*``), the index, the objects, the counters."""
    out: dict = {}
    for r in rows:
        parts = r["name"].split(".")
        key = f"table {parts[1]}" if parts[0] == "t" else {"index": "index", "sim": "counters"}.get(
            parts[0], "objects" if parts[0].startswith("o") else parts[0])
        out[key] = out.get(key, 0.0) + r["stored_per_task"]
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workload", default="mixed")
    ap.add_argument("--tasks", type=int, default=10**6)
    ap.add_argument("--ticks", type=int, nargs="+", default=[3, 100],
                    help="measure after this many ticks (each; the run goes on between)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many saves and loads")
    ap.add_argument("--where", type=int, default=12, metavar="N",
                    help="print the N biggest arrays on disk (0: none)")
    ap.add_argument("--dir", help="where to write the files (default: a temporary directory)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if args.tasks < 1 or args.repeat < 1 or min(args.ticks) < 0:
        ap.error("--tasks >= 1, --repeat >= 1, --ticks >= 0")
    d = tempfile.mkdtemp(prefix="bench-ckpt-", dir=args.dir)
    print(f"bench_checkpoint: {args.workload}, {args.tasks:,} tasks, seed {args.seed}; files in {d}; "
          f"best of {args.repeat}; python {platform.python_version()}, numpy {np.__version__}")
    before = _busy()
    rows = []
    try:
        t0 = time.perf_counter()
        sim = Simulation(args.workload, args.tasks, args.seed)
        print(f"  built in {time.perf_counter() - t0:.1f} s", flush=True)
        for ticks in sorted(args.ticks):
            sim.run(ticks - sim.tick)
            r = measure(sim, d, args.repeat)
            rows.append(r)
            print(f"  after {r['tick']:>4} ticks ({r['live_tasks']:,} tasks alive):\n"
                  f"    checkpoint  save {r['save_s']:6.3f} s  load {r['load_s']:6.3f} s  "
                  f"{r['bytes_per_task']:7.1f} B/task\n"
                  f"    raw         save {r['raw_save_s']:6.3f} s  load {r['raw_load_s']:6.3f} s  "
                  f"{r['raw_bytes_per_task']:7.1f} B/task   (every array raw)\n"
                  f"    np.savez    save {r['np_save_s']:6.3f} s  load {r['np_load_s']:6.3f} s  "
                  f"{r['np_bytes_per_task']:7.1f} B/task   (baseline: the same arrays, no checks)\n"
                  f"    ratio to baseline: save {r['save_s'] / r['np_save_s']:.2f}x, load "
                  f"{r['load_s'] / r['np_load_s']:.2f}x, bytes {r['bytes_per_task'] / r['np_bytes_per_task']:.2f}x",
                  flush=True)
            print("    by table (B/task on disk): " + ", ".join(
                f"{k} {v:.1f}" for k, v in _tables(r["arrays"]).items() if v >= 0.05))
            if args.where:
                print(f"    the {args.where} biggest arrays (B/task on disk, raw, encoding):")
                for a in r["arrays"][: args.where]:
                    print(f"      {a['stored_per_task']:7.2f}  {a['raw_per_task']:7.2f}  "
                          f"{a['enc']:6s}  {a['name']} {a['dtype']}")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    share = others_share(before, _busy())
    print(f"other processes used {share:.0%} of the machine's CPU during the run")
    worst = {k: max(r[k] for r in rows) for k in ("save_s", "load_s", "bytes_per_task")}
    print(f"goals at {args.tasks:,} tasks (worst of the tick counts): save < {SAVE_GOAL_S:.0f} s: "
          f"{'met' if worst['save_s'] < SAVE_GOAL_S else 'NOT met'}; load < {LOAD_GOAL_S:.0f} s: "
          f"{'met' if worst['load_s'] < LOAD_GOAL_S else 'NOT met'}; < {BYTES_GOAL} B/task: "
          f"{'met' if worst['bytes_per_task'] < BYTES_GOAL else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"workload": args.workload, "rows": rows, "others_cpu_share": share}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
