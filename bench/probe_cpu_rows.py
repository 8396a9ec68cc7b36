"""Where the CPU-bound rows of bench_real spend what is not translated guest code (issue 15).

    python -m bench.probe_cpu_rows [--only NAME ...] [--quick] [--checkout DIR]

Each workload of ``bench.bench_real`` (bash-loop awk sha256sum store python by default) runs once
under ``ecs-kernel run`` in a fresh process whose engine and kernel calls are counted from
outside (wrappers installed before the command starts, nothing in ecs_kernel changed):

- start-up: process start to the first ``emu_start``; teardown: the last ``emu_start``'s return
  to the end of the command's ``main``;
- ``emu_start``: calls and seconds inside them (translated code, the engine, and every hook the
  engine calls: the compiled syscall hook, the TLB-fill hook, the Python syscall hook);
- Python-path syscalls: calls and seconds in their handlers, the busiest ones by name;
- TLB fills answered by the Python fill hook (the compiled one counts in ``TLB_FILLS``);
- the engine calls that drop translated code or the TLB: ``UC_CTL_TB_FLUSH``,
  ``UC_CTL_TLB_FLUSH``, ``ctl_remove_cache``, region maps/unmaps;
- the tier-up: whether it came, and its seconds (numba's load and the compiled hooks).

Times are wall seconds of one run (the wrappers add ~1 us per wrapped call): read them as
shares of the row, beside ``bench.bench_real``'s own figures.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T_START = time.perf_counter()
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROWS = ("bash-loop", "awk", "sha256sum", "store", "python")


def _child(argv: list[str]) -> int:
    """Run ``ecs-kernel run -- argv`` with counters; write them as JSON to $PROBE_OUT."""
    import collections

    from unicorn import Uc

    from ecs_kernel.cpu import memory, platform
    from ecs_kernel.jit.tlbfill import TLB_FILLS
    from ecs_kernel.syscalls import dispatch

    c: collections.Counter = collections.Counter()
    t: collections.Counter = collections.Counter()
    sys_n: collections.Counter = collections.Counter()
    sys_t: collections.Counter = collections.Counter()
    spans = []
    aspaces = []

    emu = Uc.emu_start

    def emu_start(self, *a, **k):
        t0 = time.perf_counter()
        try:
            return emu(self, *a, **k)
        finally:
            t1 = time.perf_counter()
            spans.append((t0, t1))
            t["emu_start"] += t1 - t0
            c["emu_start"] += 1
    Uc.emu_start = emu_start

    ctl = Uc.ctl

    def ctl_counted(self, op, *a):
        c[{10: "TB_FLUSH", 11: "TLB_FLUSH"}.get(op, f"ctl {op}")] += 1
        return ctl(self, op, *a)
    Uc.ctl = ctl_counted
    for name in ("ctl_remove_cache", "mem_unmap", "mem_map_ptr", "mem_protect"):
        def counted(self, *a, _f=getattr(Uc, name), _n=name, **k):
            c[_n] += 1
            return _f(self, *a, **k)
        setattr(Uc, name, counted)

    d_init = dispatch.Dispatcher.__init__

    def init(self, *a, **k):
        d_init(self, *a, **k)
        for nr, h in enumerate(self.handlers):
            if h is not None:
                def timed(*args, _fn=h[0], _nm=self.rows[nr].name):
                    t0 = time.perf_counter()
                    try:
                        return _fn(*args)
                    finally:
                        sys_n[_nm] += 1
                        sys_t[_nm] += time.perf_counter() - t0
                self.handlers[nr] = (timed, h[1])
    dispatch.Dispatcher.__init__ = init

    a_init = memory.AddressSpace.__init__

    def as_init(self, *a, **k):
        a_init(self, *a, **k)
        aspaces.append(self)
    memory.AddressSpace.__init__ = as_init

    py_fill = platform.Platform._python_fill

    def python_fill(self, gm):
        f = py_fill(self, gm)

        def fill(*a):
            c["python TLB fills"] += 1
            return f(*a)
        return fill
    platform.Platform._python_fill = python_fill

    tier = platform.Platform.tier_up

    def tier_up(self, *a):
        t0 = time.perf_counter()
        tier(self, *a)
        c["tier-up"] += 1
        t["tier-up"] += time.perf_counter() - t0
    platform.Platform.tier_up = tier_up

    from ecs_kernel.cli import main
    with open(os.devnull, "wb") as null:  # the guest's output is not the probe's
        saved = os.dup(1)
        os.dup2(null.fileno(), 1)
        try:
            status = main(["run", "--", *argv])
        finally:
            os.dup2(saved, 1)
    t_end = time.perf_counter()
    out = {
        "status": status, "wall": t_end - T_START,
        "checkout": str(Path(sys.modules["ecs_kernel"].__file__).parent.parent),
        "startup": spans[0][0] - T_START if spans else None,
        "teardown": t_end - spans[-1][1] if spans else None,
        "emu_start": t["emu_start"], "tier_up_s": t["tier-up"],
        "counts": dict(c),
        "compiled TLB fills": sum(int(a.tlb_ctl[TLB_FILLS]) for a in aspaces),
        "python syscalls": sum(sys_n.values()), "python syscall s": sum(sys_t.values()),
        "top": [(k, v, sys_t[k]) for k, v in sys_n.most_common(6)],
    }
    Path(os.environ["PROBE_OUT"]).write_text(json.dumps(out))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.probe_cpu_rows",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", default=list(DEFAULT_ROWS), help="bench_real workloads")
    ap.add_argument("--quick", action="store_true", help="a tenth of every workload")
    ap.add_argument("--checkout", default=str(ROOT),
                    help="the checkout whose ecs_kernel runs (default: this one)")
    ap.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        return _child(args.child)
    from bench.bench_real import build
    d = Path(tempfile.mkdtemp(prefix="ecs-probe-rows-", dir="/var/tmp"))
    try:
        for w in build(d, args.quick):
            if w.name not in args.only:
                continue
            out = d / f"{w.name}.json"
            # this file as a script: its directory, not the checkout's, is first on sys.path,
            # so ecs_kernel is the one PYTHONPATH names
            checkout = os.path.abspath(args.checkout)
            p = subprocess.run([sys.executable, __file__, "--child", *w.argv], cwd=checkout,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "PROBE_OUT": str(out), "PYTHONPATH": checkout},
                               check=False)
            line = out.read_text() if out.exists() else ""
            err = p.stderr
            if not line:
                print(f"{w.name}: failed: {err.decode(errors='replace')[-400:]}", file=sys.stderr)
                continue
            o = json.loads(line)
            cn = o["counts"]
            top = ", ".join(f"{k} {n} ({s * 1e3:.0f} ms)" for k, n, s in o["top"])
            print(f"{w.name} ({o['checkout']}): wall {o['wall']:.2f} s = start-up {o['startup']:.2f} + emu_start "
                  f"{o['emu_start']:.2f} ({cn.get('emu_start', 0)} calls) + teardown "
                  f"{o['teardown']:.3f}; Python-path syscalls {o['python syscalls']} in "
                  f"{o['python syscall s']:.2f} s [{top}]; TLB fills: Python "
                  f"{cn.get('python TLB fills', 0)}, compiled {o['compiled TLB fills']}; "
                  f"TB flushes {cn.get('TB_FLUSH', 0)}, TLB flushes {cn.get('TLB_FLUSH', 0)}, "
                  f"remove_cache {cn.get('ctl_remove_cache', 0)}, maps {cn.get('mem_map_ptr', 0)}"
                  f"/unmaps {cn.get('mem_unmap', 0)}/protects {cn.get('mem_protect', 0)}; "
                  f"tier-up {cn.get('tier-up', 0)} ({o['tier_up_s']:.2f} s)")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
