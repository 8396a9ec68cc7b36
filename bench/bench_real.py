"""Real programs (issue 15): whole commands natively, under qemu-user and under ``ecs-kernel run``.

    python -m bench.bench_real [--repeat R] [--quick] [--only NAME ...] [--baseline CHECKOUT]
    python -m bench --real [same options]

Each workload is one command timed as a fresh process (wall clock, best of ``--repeat``), the
three runners interleaved in every round so a busy machine slows them alike. Printed: each time,
ecs-kernel / qemu-user and ecs-kernel / native, and the geometric mean of ecs-kernel / qemu-user
over the CPU-bound rows (issue 15's goal: at most 3). The futex row is per round trip, as the
guest itself measures it (CLOCK_MONOTONIC around the loop), and the row after it is the same
runs' whole command (start-up, thread creation and ecs-kernel's tier-up included). qemu-user columns are empty when
``qemu-x86_64`` is not installed (``apt-get install qemu-user``).

Guests: the host's busybox, bash-static and python3, and three C programs built with gcc here (a
no-libc store loop, tests/guests/src/pingpong.c and tests/guests/src/smallmaps.c) plus a static
musl hello world; input files are made
under /var/tmp (the guest's /tmp is its own). ``ecs-kernel run`` is this checkout's, run with
``python -m ecs_kernel.cli`` from the repository root.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "bench" / "results" / "bench_real.json"

STORE_C = """/* A no-libc loop storing to a global array: N stores, then exit(0). */
static volatile long a[4096];
void _start(void) {
    for (long i = 0; i < %dL; i++) a[i & 4095] = i;
    __asm__ volatile("mov $60, %%%%eax; xor %%%%edi, %%%%edi; syscall" ::: "rax", "rdi");
    for (;;) ;
}
"""
# Two threads' futex ping-pong (and IDLE more threads blocked meanwhile): a guest of the tests too.
PINGPONG_C = (ROOT / "tests" / "guests" / "src" / "pingpong.c").read_text()
# gVisor's CreateFragmentedRegion: 2,048 single-page mmaps and their munmaps (issue 16).
GUEST_SRC = ROOT / "tests" / "guests" / "src"  # smallmaps.c includes probe.h from here
SMALLMAPS_C = (GUEST_SRC / "smallmaps.c").read_text()
HELLO_C = '#include <stdio.h>\nint main(void){puts("hello, world");return 0;}\n'


class Workload:
    """One row: ``argv`` (after the runner's prefix); ``cpu``: counted in the geometric mean;
    ``per_op``: the command prints its own figure (ns) instead of being timed."""

    def __init__(self, name, label, argv, *, cpu=False, per_op=False, expect=None):
        self.name, self.label, self.argv = name, label, argv
        self.cpu, self.per_op, self.expect = cpu, per_op, expect


def _gcc(cc, *args) -> None:
    subprocess.run([cc, *map(str, args)], check=True, capture_output=True)


def build(d: Path, quick: bool) -> list[Workload]:
    """Guests and inputs in ``d``; the workloads whose programs exist on this host."""
    n = 10 if quick else 1
    lines = d / "lines.txt"
    with open(lines, "w") as f:
        f.write("".join(f"{i}\n" for i in range(1_000_000 // n)))
    blob = d / "blob.bin"
    with open(blob, "wb") as f:
        f.write(os.urandom((64 << 20) // n))
    (d / "store.c").write_text(STORE_C % (100_000_000 // n))
    _gcc("gcc", "-O1", "-static", "-nostdlib", "-fno-pie", "-no-pie", "-o", d / "store", d / "store.c")
    (d / "pingpong.c").write_text(PINGPONG_C)
    _gcc("gcc", "-O1", "-static", "-pthread", "-o", d / "pingpong", d / "pingpong.c")
    (d / "smallmaps.c").write_text(SMALLMAPS_C)
    _gcc("gcc", "-O1", "-static", "-I", GUEST_SRC, "-o", d / "smallmaps", d / "smallmaps.c")
    (d / "hello.c").write_text(HELLO_C)
    hello_cc = "musl-gcc" if shutil.which("musl-gcc") else "gcc"
    _gcc(hello_cc, "-O1", "-static", "-o", d / "hello", d / "hello.c")
    bash = shutil.which("bash-static")
    busybox = shutil.which("busybox")
    python3 = shutil.which("python3", path="/usr/bin:/bin")
    loops = 200_000 // n
    subshells = 300 // n
    out = []
    if bash:
        out.append(Workload("bash-loop", f"bash-static `while ((i<{loops})); do ((i++)); done`",
                            [bash, "-c", f"i=0; while ((i<{loops})); do ((i++)); done"], cpu=True))
    if busybox:
        out.append(Workload("awk", f"busybox awk summing a {1_000_000 // n:,}-line file",
                            [busybox, "awk", "{s+=$1} END {print s}", str(lines)], cpu=True))
        out.append(Workload("sha256sum", f"busybox sha256sum of a {64 // n} MiB file",
                            [busybox, "sha256sum", str(blob)], cpu=True))
    out.append(Workload("store", f"a no-libc loop storing to a global array ({100 // n}*10^6 stores)",
                        [str(d / "store")], cpu=True))
    if python3:
        k = 3_000_000 // n
        out.append(Workload("python", f"python3 `sum(i*i for i in range({k:_}))`",
                            [python3, "-c", f"print(sum(i*i for i in range({k})))"], cpu=True))
    if bash:
        out.append(Workload("subshells", f"bash-static, {subshells} `(true)` subshells",
                            [bash, "-c", f"i=0; while ((i<{subshells})); do (true); ((i++)); done"]))
    out.append(Workload("futex", "two threads' futex ping-pong, per round trip (us)",
                        [str(d / "pingpong"), str(20_000 // n)], per_op=True))
    out.append(Workload("futex-200", "the same with 200 more threads blocked meanwhile (us)",
                        [str(d / "pingpong"), str(20_000 // n), "200"], per_op=True))
    pages = 1024 // n
    out.append(Workload("smallmaps", f"{2 * pages:,} single-page mmaps (gVisor's "
                        "CreateFragmentedRegion) and their munmaps, the whole pattern (us)",
                        [str(d / "smallmaps"), "time", str(pages)], per_op=True))
    out.append(Workload("hello", f"static hello world ({hello_cc})", [str(d / "hello")]))
    return out


ECS = [sys.executable, "-m", "ecs_kernel.cli", "run", "--"]


def runners(baseline: str | None = None) -> dict[str, tuple[list[str], str | None] | None]:
    """name -> (command prefix, checkout whose ecs_kernel runs, or None for a host program)."""
    qemu = shutil.which("qemu-x86_64")
    out = {"native": ([], None), "qemu-user": ([qemu], None) if qemu else None,
           "ecs-kernel": (ECS, str(ROOT))}
    if baseline:
        out["ecs-kernel baseline"] = (ECS, baseline)
    return out


def _env(checkout: str) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's second run has Python's bytecode cache
    env["PYTHONPATH"] = checkout + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_once(runner: tuple[list[str], str | None], w: Workload) -> tuple[float, float]:
    """(seconds for one run, or for a per-op row the guest's own figure in seconds; the whole
    command's seconds)."""
    prefix, checkout = runner
    t0 = time.perf_counter()
    # The guest environment is empty under ecs-kernel run (no --env): give the native and qemu
    # runs none either. cwd: the checkout, so ``-m ecs_kernel.cli`` is that checkout's (the
    # current directory comes first on sys.path).
    p = subprocess.run(prefix + w.argv, capture_output=True, cwd=checkout or str(ROOT),
                       env=_env(checkout) if checkout else {}, check=False)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(prefix + w.argv)}: status {p.returncode}: "
                           f"{p.stderr.decode(errors='replace')[-400:]}")
    if w.per_op:
        return float(p.stdout.split()[-1]) * 1e-9, dt
    return dt, dt


def measure(workloads, repeat: int, names=None, baseline=None) -> list[dict]:
    rs = runners(baseline)
    rows = []
    for w in workloads:
        if names and w.name not in names:
            continue
        live = {k: v for k, v in rs.items() if v is not None}
        best = dict.fromkeys(live, math.inf)
        whole = dict.fromkeys(live, math.inf)
        for _ in range(repeat):
            for k, runner in live.items():  # interleaved: each round runs every runner once
                figure, dt = run_once(runner, w)
                best[k] = min(best[k], figure)
                whole[k] = min(whole[k], dt)
        rows.append({"name": w.name, "label": w.label, "cpu": w.cpu, "per_op": w.per_op,
                     **{k: best.get(k) for k in rs}})
        print(f"  {w.name}: " + ", ".join(f"{k} {v:.3g}" for k, v in best.items()), file=sys.stderr)
        if w.per_op:
            # The guest's figure leaves out what the command does before and after its timed
            # loop (start-up, the tier-up at its first thread): the whole command's wall time,
            # from the same runs, is the row beside it.
            rows.append({"name": w.name + "-cmd", "label": "the same, whole command (s)",
                         "cpu": False, "per_op": False, **{k: whole.get(k) for k in rs}})
    return rows


def render(rows: list[dict]) -> str:
    def fmt(r, k):
        v = r.get(k)
        if v is None:
            return "-"
        return f"{v * 1e6:.1f} us" if r["per_op"] else f"{v:.2f} s"

    base = any(r.get("ecs-kernel baseline") for r in rows)
    head = "| workload | native | qemu-user | ecs-kernel |"
    if base:
        head += " baseline ecs-kernel | baseline / qemu-user |"
    out = [head + " ecs-kernel / qemu-user | ecs-kernel / native |",
           "|---" * (head.count("|") + 1) + "|"]
    logs, blogs = [], []
    for r in rows:
        q, e, n, b = r.get("qemu-user"), r["ecs-kernel"], r["native"], r.get("ecs-kernel baseline")
        line = f"| {r['label']} | {fmt(r, 'native')} | {fmt(r, 'qemu-user')} | {fmt(r, 'ecs-kernel')} |"
        if base:
            line += f" {fmt(r, 'ecs-kernel baseline')} | {f'{b / q:.1f}x' if q and b else '-'} |"
        out.append(line + f" {f'{e / q:.1f}x' if q else '-'} | {e / n:.1f}x |")
        if r["cpu"] and q:
            logs.append(math.log(e / q))
            if b:
                blogs.append(math.log(b / q))
    if logs:
        out.append(f"\nGeometric mean of ecs-kernel / qemu-user over the {len(logs)} CPU-bound rows: "
                   f"**{math.exp(sum(logs) / len(logs)):.2f}x** (issue 15's goal: at most 3)")
    if blogs:
        out.append(f"Baseline checkout, same rows: {math.exp(sum(blogs) / len(blogs)):.2f}x")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_real", description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="best of this many rounds")
    ap.add_argument("--quick", action="store_true", help="a tenth of every workload")
    ap.add_argument("--only", nargs="*", help="workload names (bash-loop awk sha256sum store "
                    "python subshells futex futex-200 smallmaps hello)")
    ap.add_argument("--json", default=str(DEFAULT_JSON), help="where to write the results")
    ap.add_argument("--baseline", metavar="CHECKOUT",
                    help="also run another checkout's ecs-kernel (e.g. main) in the same rounds")
    args = ap.parse_args(argv)
    if shutil.which("gcc") is None:
        print("bench_real: gcc is needed to build the guests", file=sys.stderr)
        return 1
    d = Path(tempfile.mkdtemp(prefix="ecs-bench-real-", dir="/var/tmp"))
    try:
        rows = measure(build(d, args.quick), max(args.repeat, 1), args.only,
                       os.path.abspath(args.baseline) if args.baseline else None)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(render(rows))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\n(written to {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
