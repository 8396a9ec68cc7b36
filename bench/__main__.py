"""``python -m bench``: the benchmark suite, one table with each figure beside its baseline.

    python -m bench [--syscalls N] [--loops N] [--repeat R] [--cold K] [--json PATH] [--no-qiling]
    python -m bench --real [--repeat R] [--quick] [--only NAME ...]   (bench/bench_real.py)
    ecs-kernel bench [the same options]        (the same, from any directory)

Builds its guests with gcc into a temporary directory, measures (see bench/suite.py), prints a
markdown table and writes the same results as JSON (default bench/results/bench.json, which git
ignores). The other benchmarks run on their own: ``python -m bench.bench_kernels``,
``python -m bench.bench_lifecycle``, ``python -m bench.bench_sim``, ``python -m bench.bench_checkpoint``,
``python -m bench.bench_threads`` (``ecs-kernel bench kernels``, ...).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import bench
from bench import bench_real, suite

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "bench.json"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--real" in argv:  # real programs natively, under qemu-user and ecs-kernel (issue 15)
        argv.remove("--real")
        return bench_real.main(argv)
    ap = bench.parser(__doc__)
    ap.add_argument("--syscalls", type=int, default=2_000_000, help="getpid calls (fast path)")
    ap.add_argument("--loops", type=int, default=100_000_000, help="compute-loop iterations")
    ap.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    ap.add_argument("--cold", type=int, default=1, help="cold-cache start-ups to measure (0: none)")
    ap.add_argument("--json", default=str(DEFAULT_JSON), help="where to write the results")
    ap.add_argument("--no-qiling", action="store_true", help="skip Qiling even if installed")
    args = ap.parse_args(argv)
    if shutil.which("gcc") is None:
        print("python -m bench: gcc is needed to build the benchmark guests", file=sys.stderr)
        return 1
    if args.syscalls < 20 or args.loops < 1 or args.repeat < 1 or args.cold < 0:
        ap.error("--syscalls >= 20, --loops >= 1, --repeat >= 1, --cold >= 0")
    res = suite.run(args)
    print(suite.render(res))
    suite.write_json(res, args.json)
    print(f"\n(written to {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
