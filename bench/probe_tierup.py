"""Where one ``ecs-kernel run`` of a futex ping-pong spends its wall time: start-up, the Python
path before the tier-up, the tier-up (numba's import, the hooks' load), the guest's timed loop.

    python -m bench.probe_tierup [--rounds N] [--idle K] [--runs R]
    PYTHONPATH=/work/main python bench/probe_tierup.py ...   (another checkout's ecs_kernel)

The command runs in this process (``cli.main(["run", ...])``) with its own tiering; the probe
wraps ``Platform.tier_up``, ``jit.options.promote`` and ``FastPath.__init__`` to stamp when
each starts and ends (seconds from the probe's start, which is after Python's own start-up), and
reads the guest's figure (ns per round trip) to place its timed loop: it ends just before the
exit, ``rounds * figure`` before that is its start. Printed per run: those stamps, the loop's
share of the tier-up, and whether numba was imported.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parent.parent


def _wrap(owner, name, label, marks, once=False):
    fn = getattr(owner, name, None)
    if fn is None:
        return

    def wrapped(*a, **k):
        if once and getattr(wrapped, "done", False):
            return fn(*a, **k)
        wrapped.done = True
        marks.append((time.perf_counter() - T0, label + " start"))
        try:
            return fn(*a, **k)
        finally:
            marks.append((time.perf_counter() - T0, label + " end"))
    setattr(owner, name, wrapped)


def probe(program: str, rounds: int, idle: int) -> None:
    marks = []
    import ecs_kernel.cpu.platform as P
    import ecs_kernel.jit.fastpath as FP
    import ecs_kernel.jit.options as O
    marks.append((time.perf_counter() - T0, "ecs_kernel imported"))
    promote = O.promote

    def promote_marked():
        if not O.is_promoted():
            marks.append((time.perf_counter() - T0, "numba import + promote start"))
            promote()
            marks.append((time.perf_counter() - T0, "numba import + promote end"))
    O.promote = promote_marked
    if hasattr(P, "promote"):
        P.promote = promote_marked
    _wrap(P.Platform, "tier_up", "tier_up", marks)
    _wrap(FP.FastPath, "__init__", "FastPath (the hook's load)", marks, once=True)
    from ecs_kernel import cli
    r, w = os.pipe()
    saved = os.dup(1)
    os.dup2(w, 1)
    try:
        rc = cli.main(["run", "--", program, str(rounds), str(idle)])
    finally:
        os.dup2(saved, 1)
        os.close(w)
    out = os.read(r, 4096).decode()
    end = time.perf_counter() - T0
    per = float(out.split()[-1])
    loop = per * rounds * 1e-9
    start = end - loop
    print(f"status {rc}; guest: {per / 1000:.1f} us per round trip, timed loop {loop:.3f} s "
          f"from ~{start:.3f} s; numba imported: {'numba' in sys.modules}")
    for t, what in marks:
        print(f"  {t:7.3f} s  {what}{'   (inside the timed loop)' if t > start else ''}")
    print(f"  {end:7.3f} s  exit")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.probe_tierup", description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=20_000, help="round trips (bench_real's row: 20000)")
    ap.add_argument("--idle", type=int, default=0, help="threads blocked meanwhile")
    ap.add_argument("--runs", type=int, default=2, help="runs, each in a fresh process")
    ap.add_argument("--program", help="a built pingpong (default: tests/guests/src/pingpong.c, built)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        probe(args.program, args.rounds, args.idle)
        return 0
    d = Path(tempfile.mkdtemp(prefix="ecs-probe-tierup-", dir="/var/tmp"))
    try:
        prog = args.program
        if prog is None:
            prog = str(d / "pingpong")
            subprocess.run(["gcc", "-O1", "-static", "-pthread", "-o", prog,
                            str(ROOT / "tests" / "guests" / "src" / "pingpong.c")], check=True)
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as bench_real: a user's second run
        for _ in range(args.runs):
            subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "--program", prog,
                            "--rounds", str(args.rounds), "--idle", str(args.idle)], env=env,
                           check=True)
        print(f"(load average {os.getloadavg()[0]:.1f})")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
