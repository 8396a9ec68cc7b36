"""Start-up and thread switches (issue 15 items 4 and 5), hyperfine-like: medians in one run.

    python -m bench.bench_startup [--runs N] [--baseline CHECKOUT] [--switch]

Start-up: ``ecs-kernel run`` of a static hello world (musl when musl-gcc is installed) and of the
host's dynamically linked ``/bin/true``, each a fresh process, ``--runs`` rounds with every
command once per round (interleaved, so a busy machine slows them alike), beside ``python3 -c
pass`` with the same interpreter (the floor no Python program goes under). Printed per command:
the median and the minimum of the wall time and of the CPU time (user + system of the child),
which a loaded machine inflates less than the wall time. Issue 15's goal: under 0.15 s warm.

``--switch``: CPU per futex round trip of tests/guests/src/pingpong.c (two threads handing a
token back and forth), with 0 and with 200 more threads blocked meanwhile: the CPU time of a run
of R2 round trips less that of R1 (both past the tier-up to compiled code), over R2 - R1, median
of ``--runs`` pairs (``--switch-rounds R1 R2``, default 4000 8000). A turn of the run loop must
not cost more with more tasks.

``--baseline CHECKOUT`` runs another checkout's ecs-kernel in the same rounds (e.g. main).

``--server``: also ``ecs-kernel run --server`` of the same programs (cli_serve.py), through an
``ecs-kernel serve`` of each checkout that has one, started before the rounds on a private socket
and stopped after them (its own start-up is not counted: it is paid once). The CPU time of these
rows is the client's plus the server's child's (the server's cutime + cstime before and after the
run, /proc/PID/stat: in clock ticks of 10 ms, so read its medians as +-10 ms); the wall time is
the whole run's.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_real import ECS, HELLO_C, PINGPONG_C, ROOT, _env, _gcc


def _timed(cmd: list[str], cwd: str, env: dict | None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``cmd`` (its output thrown away)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: status {p.returncode}: "
                           f"{p.stderr.decode(errors='replace')[-400:]}")
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def checkouts(baseline: str | None) -> dict[str, str]:
    out = {"ecs-kernel": str(ROOT)}
    if baseline:
        out["baseline"] = os.path.abspath(baseline)
    return out


def _start_server(co: str, path: Path) -> subprocess.Popen | None:
    """An ``ecs-kernel serve`` of checkout ``co`` on ``path`` (None: the checkout has none)."""
    if not (Path(co) / "ecs_kernel" / "cli_serve.py").is_file():
        return None
    p = subprocess.Popen([sys.executable, "-m", "ecs_kernel.cli", "serve", "--socket", str(path)],
                         cwd=co, env=_env(co), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    line = p.stderr.readline()  # "listening on ..." once everything is loaded
    if b"listening" not in line:
        p.kill()
        raise RuntimeError(f"ecs-kernel serve in {co}: {line.decode(errors='replace')}")
    return p


def _children_cpu(pid: int | None) -> float:
    """CPU seconds of the waited-for children of process ``pid`` (0 for None)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def startup(d: Path, runs: int, baseline: str | None, server: bool = False) -> str:
    (d / "hello.c").write_text(HELLO_C)
    cc = "musl-gcc" if shutil.which("musl-gcc") else "gcc"
    _gcc(cc, "-O1", "-static", "-o", d / "hello", d / "hello.c")
    cmds = {"python3 -c pass (the interpreter alone)":
            ([sys.executable, "-c", "pass"], str(ROOT), _env(str(ROOT)), None)}
    servers = []
    for name, co in checkouts(baseline).items():
        progs = ((str(d / "hello"), f"static hello world ({cc})"),
                 ("/bin/true", "/bin/true (dynamic)"))
        for prog, label in progs:
            cmds[f"{name}: {label}"] = (ECS + [prog], co, _env(co), None)
        sock = d / f"serve-{name}.sock"
        p = _start_server(co, sock) if server else None
        if p is not None:
            servers.append(p)
            for prog, label in progs:
                cmds[f"{name}: run --server, {label}"] = (
                    ECS[:-1] + ["--server", "--", prog], co,
                    {**_env(co), "ECS_KERNEL_SOCKET": str(sock)}, p.pid)
    times = {k: [] for k in cmds}
    try:
        for _ in range(runs):
            for k, (cmd, cwd, env, server_pid) in cmds.items():
                before = _children_cpu(server_pid)
                wall, cpu = _timed(cmd, cwd, env)
                times[k].append((wall, cpu + _children_cpu(server_pid) - before))
    finally:
        for p in servers:
            p.terminate()
            p.wait(timeout=30)
    lines = ["| command | wall median | wall min | CPU median | CPU min |", "|---|---|---|---|---|"]
    for k, ts in times.items():
        w = [t[0] for t in ts]
        c = [t[1] for t in ts]
        lines.append(f"| {k} | {statistics.median(w) * 1e3:.0f} ms | {min(w) * 1e3:.0f} ms | "
                     f"{statistics.median(c) * 1e3:.0f} ms | {min(c) * 1e3:.0f} ms |")
    return "\n".join(lines)


def switch(d: Path, runs: int, baseline: str | None, r1: int = 4000, r2: int = 8000) -> str:
    (d / "pingpong.c").write_text(PINGPONG_C)
    _gcc("gcc", "-O1", "-static", "-pthread", "-o", d / "pingpong", d / "pingpong.c")
    rows = []
    for name, co in checkouts(baseline).items():
        for idle in (0, 200):
            per = []
            for _ in range(runs):
                a = _timed(ECS + [str(d / "pingpong"), str(r1), str(idle)], co, _env(co))[1]
                b = _timed(ECS + [str(d / "pingpong"), str(r2), str(idle)], co, _env(co))[1]
                per.append((b - a) / (r2 - r1))
            rows.append(f"| {name} | {idle} | {statistics.median(per) * 1e6:.0f} us | "
                        f"{min(per) * 1e6:.0f} us |")
    return "\n".join(["| checkout | threads blocked meanwhile | CPU per round trip, median | min |",
                      "|---|---|---|---|", *rows])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_startup",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=11, help="rounds (medians over them)")
    ap.add_argument("--baseline", metavar="CHECKOUT", help="another checkout, in the same rounds")
    ap.add_argument("--switch", action="store_true", help="the futex round trip with 0 and 200 "
                    "threads blocked instead of start-up")
    ap.add_argument("--server", action="store_true", help="also `run --server` through an "
                    "`ecs-kernel serve` of each checkout that has one")
    ap.add_argument("--switch-rounds", type=int, nargs=2, metavar=("R1", "R2"), default=(4000, 8000),
                    help="--switch's two runs' round trips (a compiled round trip of a few us "
                    "needs R2 - R1 large enough to stand out of start-up's noise)")
    args = ap.parse_args(argv)
    d = Path(tempfile.mkdtemp(prefix="ecs-bench-startup-", dir="/var/tmp"))
    try:
        if args.switch:
            print(switch(d, max(args.runs, 1), args.baseline, *args.switch_rounds))
        else:
            print(startup(d, max(args.runs, 1), args.baseline, server=args.server))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(f"\n(load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
