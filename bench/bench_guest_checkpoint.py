"""Checkpoint and restore of a running guest: save and load time, bytes on disk.

    python -m bench.bench_guest_checkpoint [--repeat R] [--program PATH ARG...]

The guest (default: the host's python3 running a script that sleeps) is run under ecs-kernel until
its first task blocks; there the whole run is saved (cpu/checkpoint.py: ``to_state`` and the file
write with its fsync) and loaded back (file read with every digest checked, then ``from_state``:
the World, the file tree, new engines with the memory mapped). Best of R each.

Baseline, measured in the same run: plain I/O of the same number of bytes (one write with fsync
into a file under /var/tmp, one read back), the floor any checkpoint of that size pays here.
Issue 13's goal for a guest Python interpreter: under 0.3 s each way.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import bench
from ecs_kernel import checkpoint_file
from ecs_kernel.abi import RunState
from ecs_kernel.cli_run import run
from ecs_kernel.cpu import checkpoint

PY_SCRIPT = b"import json, time; d = {i: str(i) for i in range(10000)}; time.sleep(0.2); print(len(d))"


def _first_block(m) -> bool:
    T = m.world.tasks
    return any(T.alive[r] and int(T.run_state[r]) == int(RunState.blocked) for r in m.tasks)


def measure(argv: list[bytes], repeat: int, d: str) -> dict:
    path = os.path.join(d, "guest.ckpt")
    out: dict = {}

    def visit(m):
        saves = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            meta, arrays = checkpoint.to_state(m)
            size = checkpoint_file.write(path, meta, arrays)
            saves.append(time.perf_counter() - t0)
        out["save_s"], out["bytes"] = min(saves), size
        out["pages_bytes"] = sum(int(a.nbytes) for k, a in arrays.items() if k.endswith(".data"))
        out["tasks"] = len(arrays["machine.rows"])

    with open(os.devnull, "wb") as null:
        status = run(argv[0], argv, [], stdio=(0, null.fileno(), 2), stop_at=(_first_block, visit))
    if "save_s" not in out:
        raise SystemExit(f"the guest never blocked (exit status {status}): nothing to checkpoint")
    loads = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        checkpoint.load(path)
        loads.append(time.perf_counter() - t0)
    out["load_s"] = min(loads)
    out.update(_plain_io(out["bytes"], repeat, d))
    return out


def _plain_io(n: int, repeat: int, d: str) -> dict:
    """Write ``n`` bytes with fsync and read them back: the I/O floor."""
    data = os.urandom(min(n, 1 << 20)) * (n // (1 << 20) + 1)
    data = data[:n]
    path = os.path.join(d, "plain.bin")
    w, r = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        w.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            f.read()
        r.append(time.perf_counter() - t0)
    return {"plain_write_s": min(w), "plain_read_s": min(r)}


def main(argv=None) -> int:
    ap = bench.parser(__doc__, "guest_checkpoint")
    ap.add_argument("--repeat", type=int, default=5, help="best of this many (default 5)")
    ap.add_argument("--program", nargs=argparse.REMAINDER,
                    help="the guest and its arguments (default: python3 -c a sleeping script)")
    args = ap.parse_args(argv)
    guest = [os.fsencode(a) for a in args.program] if args.program else \
        [b"/usr/bin/python3", b"-c", PY_SCRIPT]
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        r = measure(guest, max(1, args.repeat), d)
    mib = r["bytes"] / (1 << 20)
    print(f"guest: {' '.join(os.fsdecode(a) for a in guest[:2])} ... ({r['tasks']} task(s), "
          f"{mib:.1f} MiB checkpoint, {r['pages_bytes'] / (1 << 20):.1f} MiB of it memory pages)")
    print("| step | ecs-kernel | plain I/O of the same bytes | ratio | goal |")
    print("|---|---|---|---|---|")
    for step, mine, base in (("save", r["save_s"], r["plain_write_s"]),
                             ("load", r["load_s"], r["plain_read_s"])):
        ok = "met" if mine < 0.3 else "missed"
        print(f"| {step} | {mine * 1e3:.0f} ms | {base * 1e3:.0f} ms | {mine / base:.1f}x | "
              f"< 300 ms: {ok} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
