"""Deterministic mode's cost, and the schedule explorer's throughput.

    python -m bench.bench_deterministic [--syscalls N] [--loops N] [--repeat R] [--runs N]

Measured in this run, best of R, seconds in the run loop (loading excluded), the same guests as
``python -m bench`` (bench/suite.py): a getpid loop (the compiled fast path) and a compute loop
(add/dec/jnz), each under a normal Machine (the baseline) and a deterministic one (virtual time,
seeded scheduling, always in quanta: ``run --deterministic``). Issue 14's goal: under 2x.

Then the explorer on a small threaded program (tests/guests/src/races.c, the mutex-protected
counter: two threads, 2000 locked increments each): runs per second of ``explore.run_schedule``
under drawn schedules, whole runs each (a fresh Kernel, the ELF loaded, the run, its judgement).

Last, whether runs would gain by sharing their common prefix through a checkpoint (issue 14: "where
that is faster than re-running"): the run is saved in memory at its first scheduling decision (the
first quantum with two tasks runnable, before which every schedule is the same run), and a run
restored from there (cpu/checkpoint.loads, then the rest) is timed against a whole run.
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.suite import GETPID_S, LOOP_S, _asm, _ecs_run_seconds

SRC = Path(__file__).resolve().parent.parent / "tests" / "guests" / "src"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_deterministic",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--syscalls", type=int, default=1_000_000, help="getpid calls")
    ap.add_argument("--loops", type=int, default=50_000_000, help="compute-loop iterations")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many")
    ap.add_argument("--runs", type=int, default=50, help="explorer runs to time")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir="/var/tmp") as td:
        d = Path(td)
        getpid = _asm(d, "getpid", GETPID_S.format(n=args.syscalls))
        loop = _asm(d, "loop", LOOP_S.format(n=args.loops))
        rows = []
        for name, path, n, unit in (("getpid", getpid, args.syscalls, "us/call"),
                                    ("compute loop", loop, args.loops * 3, "ns/insn")):
            _ecs_run_seconds(path)  # warm: numba, the hook
            base = min(_ecs_run_seconds(path) for _ in range(args.repeat))
            det = min(_ecs_run_seconds(path, deterministic=True) for _ in range(args.repeat))
            scale = 1e6 if unit == "us/call" else 1e9
            rows.append((name, base / n * scale, det / n * scale, det / base, unit))
        print("| workload | normal run | --deterministic | ratio | goal |")
        print("|---|---|---|---|---|")
        for name, b, dt, ratio, unit in rows:
            print(f"| {name} | {b:.3f} {unit} | {dt:.3f} {unit} | {ratio:.2f}x | "
                  f"< 2x: {'met' if ratio < 2 else 'missed'} |")

        prog_path = d / "races"
        subprocess.run(["gcc", "-static", "-O1", "-pthread", "-o", str(prog_path),
                        str(SRC / "races.c")], check=True, capture_output=True)
        from ecs_kernel import explore as ex
        prog = ex.Program([str(prog_path), "counter-locked"])
        ex.run_schedule(prog, [])  # warm
        rng = random.Random(0)
        t0 = time.perf_counter()
        for _ in range(args.runs):
            out = ex.run_schedule(prog, [rng.randrange(0, 4097) for _ in range(40)])
            assert out.stdout == b"counter 4000\n"
        dt = time.perf_counter() - t0
        print(f"\nexplorer: {args.runs / dt:.1f} runs/s ({dt / args.runs * 1e3:.0f} ms per run) of "
              f"races.c counter-locked under random schedules")
        _prefix_sharing(prog, args.repeat)
    return 0


def _prefix_sharing(prog, repeat: int) -> None:
    import os
    import statistics

    from ecs_kernel import checkpoint_file
    from ecs_kernel import explore as ex
    from ecs_kernel.cli_run import run
    from ecs_kernel.cpu import checkpoint as ck
    whole = statistics.median(_timed(lambda: ex.run_schedule(prog, [])) for _ in range(repeat + 2))
    saved = {}

    def save(m):
        saved["blob"] = checkpoint_file.dumps(*ck.to_state(m))

    null = os.open(os.devnull, os.O_RDWR)
    try:
        run(os.fsencode(prog.argv[0]), [os.fsencode(a) for a in prog.argv], [],
            stdio=(null, null, null), deterministic=True,
            stop_at=(lambda m: m.contended, save))
        loads, rests = [], []
        for _ in range(repeat + 2):
            t0 = time.perf_counter()
            m = ck.loads(saved["blob"], stdio=(null, null, null))
            t1 = time.perf_counter()
            m.run()
            loads.append(t1 - t0)
            rests.append(time.perf_counter() - t1)
    finally:
        os.close(null)
    load, rest = statistics.median(loads), statistics.median(rests)
    verdict = "faster" if load + rest < whole else "slower"
    print(f"prefix sharing: restored at the first decision {1e3 * (load + rest):.0f} ms "
          f"(restore {1e3 * load:.0f} ms of a {len(saved['blob']) / 1e6:.1f} MB checkpoint + the "
          f"rest {1e3 * rest:.0f} ms) against {1e3 * whole:.0f} ms from the start: {verdict}")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
