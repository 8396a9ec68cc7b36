"""Where a fork+exit+wait and a futex round trip go inside ``ecs-kernel run`` (docs/measurements.md,
"Fork and the futex hand-off"). Each guest runs in this process with timers wrapped around the
pieces; counts (Python calls) do not depend on the machine's load, times do.

    python -m bench.probe_turns fork [--subshells N] [--unbounded]
    python -m bench.probe_turns calls [--rounds R]

``fork``: bash-static running N ``(true)`` subshells: time in each engine's runs (the parent's,
the children's first run), in GuestMemory.fork (new engine, AddressSpace.fork, hooks) and in
releases; how many runs were bounded by count= and by the block hook. ``--unbounded`` (an
experiment, not a correct scheduler: a loop without syscalls would starve the others) runs
every quantum unbounded, the floor a child's run can reach without a bound.

``calls``: Python function calls per futex round trip of tests/guests/src/pingpong.c (cProfile's
count over runs of 2R and R round trips, difference over R), the run loop's turns and the
hand-offs taken in the hook (Machine.hand_off) in the longer run, and the top callees.
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cli(argv):
    from ecs_kernel import cli
    try:
        cli.main(argv)
    except SystemExit:
        pass


def fork(subshells: int, unbounded: bool) -> None:
    from ecs_kernel.cpu import memory as M
    from ecs_kernel.cpu import platform as P
    from ecs_kernel.cpu import scheduler as S
    runs = collections.defaultdict(list)
    acc, cnt = collections.Counter(), collections.Counter()
    orig_run = P.Platform.run

    def run(self, gm, quantum, *a, **k):
        blocks0 = getattr(self, "block_quanta_runs", 0)
        t = time.perf_counter()
        orig_run(self, gm, quantum, *a, **k)
        runs[id(gm)].append(time.perf_counter() - t)
        if quantum:
            cnt["bounded by blocks" if getattr(self, "block_quanta_runs", 0) > blocks0
                else "bounded by count="] += 1

    P.Platform.run = run

    def wrap(obj, name, key):
        f = getattr(obj, name)

        def w(*a, **k):
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                acc[key] += time.perf_counter() - t
                cnt[key] += 1
        setattr(obj, name, w)

    wrap(P, "new_engine", "new_engine")
    wrap(P.GuestMemory, "fork", "GuestMemory.fork")
    wrap(M.AddressSpace, "fork", "AddressSpace.fork")
    wrap(P.GuestMemory, "release", "GuestMemory.release")
    wrap(P.Platform, "add_hooks", "add_hooks")
    if unbounded:
        S.RoundRobin.quantum = lambda self, row, contended, default: 0
    bash = shutil.which("bash-static")
    t0 = time.perf_counter()
    _cli(["run", "--", bash, "-c", f"i=0; while ((i<{subshells})); do (true); ((i++)); done"])
    total = time.perf_counter() - t0
    first, *children = list(runs.values())  # (ids of freed engines may be reused: approximate)
    ch_first = [v[0] for v in children]
    print(f"total {total:.3f} s for {subshells} subshells ({total / subshells * 1e3:.1f} ms each)")
    print(f"parent engine: {len(first)} runs, {sum(first):.3f} s ({sum(first) / subshells * 1e3:.2f} ms "
          f"per subshell, the fork inside it)")
    print(f"children's first runs: median {statistics.median(ch_first) * 1e3:.2f} ms, "
          f"sum {sum(ch_first):.3f} s")
    for k in ("new_engine", "add_hooks", "AddressSpace.fork", "GuestMemory.fork", "GuestMemory.release"):
        if cnt[k]:
            print(f"{k}: {cnt[k]} calls, {acc[k] / cnt[k] * 1e3:.2f} ms each")
    print({k: v for k, v in cnt.items() if k.startswith("bounded")})


def calls(rounds: int) -> None:
    d = Path(tempfile.mkdtemp(prefix="ecs-probe-", dir="/var/tmp"))
    try:
        exe = d / "pingpong"
        subprocess.run(["gcc", "-O1", "-static", "-pthread", "-o", str(exe),
                        str(ROOT / "tests" / "guests" / "src" / "pingpong.c")], check=True)

        from ecs_kernel.cpu import task_run
        machines, turns = [], collections.Counter()
        init, run_task = task_run.Machine.__init__, task_run.Machine._run_task

        def init_(self, *a, **k):
            init(self, *a, **k)
            machines.append(self)

        def run_task_(self, row, ready):
            turns[id(self)] += 1
            return run_task(self, row, ready)

        def count(n):
            pr = cProfile.Profile()
            pr.enable()
            _cli(["run", "--", str(exe), str(n)])
            pr.disable()
            st = pstats.Stats(pr)
            return st.total_calls, st

        count(rounds)  # numba's import and load, once per process: not in either count
        a, _ = count(rounds)
        b, st = count(2 * rounds)
        print(f"Python calls per round trip: {(b - a) / rounds:.1f}")
        task_run.Machine.__init__, task_run.Machine._run_task = init_, run_task_
        _cli(["run", "--", str(exe), str(2 * rounds)])  # once more, counting turns (unprofiled)
        m = machines[-1]
        print(f"the run of {2 * rounds} round trips: {turns[id(m)]} run-loop turns, "
              f"{getattr(m, 'hand_offs', 0)} hand-offs in the hook")
        top = sorted(((v[1], k) for k, v in st.stats.items()), reverse=True)[:20]
        for n, k in top:
            print(f"  {n / (2 * rounds):6.2f}  {k[2]}  {k[0].split('ecs_kernel/')[-1]}:{k[1]}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.probe_turns", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    f = sub.add_parser("fork")
    f.add_argument("--subshells", type=int, default=100)
    f.add_argument("--unbounded", action="store_true")
    c = sub.add_parser("calls")
    c.add_argument("--rounds", type=int, default=4000)
    a = ap.parse_args(argv)
    if a.what == "fork":
        fork(a.subshells, a.unbounded)
    else:
        calls(a.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
