"""Many small mappings (issue 16, gVisor's CreateFragmentedRegion): what Unicorn's region
operations cost, and the pattern on a bare AddressSpace (no guest, no syscall dispatch):

    python -m bench.probe_smallmaps [--pages N] [--baseline CHECKOUT]

- ``unicorn``: ``mem_map_ptr`` and ``mem_unmap`` of one region of 4 KiB to 64 MiB in an engine
  holding 0, 100 or 400 other one-page regions (Unicorn 2.1.4: a map costs the same whatever the
  size, an unmap walks every page; both grow with the regions already mapped).
- ``pattern``: N pages PROT_NONE, then per page one page MAP_FIXED read-write over it and one
  unrelated page mapped anywhere (each written once), then a munmap of every page in that
  order: seconds for the mmaps and for the munmaps, and the rows (= engine regions) at the end
  of the mmaps. ``--baseline``: the same in another checkout's ecs_kernel (a subprocess).
"""
from __future__ import annotations

import argparse
import mmap
import os
import subprocess
import sys
import time

import numpy as np
from unicorn import UC_ARCH_X86, UC_MODE_64, Uc

P = 4096


def unicorn_costs(reps: int = 30) -> list[tuple[int, int, float, float]]:
    """(other regions, size, us per map, us per unmap)."""
    out = []
    for others in (0, 100, 400):
        uc = Uc(UC_ARCH_X86, UC_MODE_64)
        keep = []
        for i in range(others):
            m = mmap.mmap(-1, P)
            keep.append(m)
            uc.mem_map_ptr(0x10000000 + 2 * i * P, P, 3, np.frombuffer(m, np.uint8).ctypes.data)
        for size in (P, 4 << 20, 64 << 20):
            big = mmap.mmap(-1, size)
            host = np.frombuffer(big, np.uint8).ctypes.data
            tm = tu = 0.0
            for _ in range(reps):
                t0 = time.perf_counter()
                uc.mem_map_ptr(0x7f0000000000, size, 3, host)
                t1 = time.perf_counter()
                uc.mem_unmap(0x7f0000000000, size)
                tu += time.perf_counter() - t1
                tm += t1 - t0
            out.append((others, size, tm / reps * 1e6, tu / reps * 1e6))
            del host
            big.close()
    return out


def pattern(n: int) -> tuple[float, float, int]:
    """(seconds of mmaps, seconds of munmaps, rows after the mmaps) on a bare AddressSpace."""
    from ecs_kernel.abi import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE
    from ecs_kernel.cpu.memory import AddressSpace

    anon, rw = MAP_ANONYMOUS | MAP_PRIVATE, PROT_READ | PROT_WRITE
    warm = AddressSpace(Uc(UC_ARCH_X86, UC_MODE_64))  # numba's kernels load here, not in the count
    for k in range(4):
        warm.copy_out(warm.mmap(0, P, rw, anon), b"*")
    a = AddressSpace(Uc(UC_ARCH_X86, UC_MODE_64))
    t0 = time.perf_counter()
    region = a.mmap(0, n * P, PROT_NONE, anon)
    pages = []
    for i in range(n):
        pages.append(a.mmap(region + i * P, P, rw, anon | MAP_FIXED))
        a.copy_out(pages[-1], b"*")
        pages.append(a.mmap(0, P, rw, anon))
        a.copy_out(pages[-1], b"*")
    t1 = time.perf_counter()
    rows = a.range_count
    for p in pages:
        a.munmap(p, P)
    return t1 - t0, time.perf_counter() - t1, rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.probe_smallmaps",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=1024, help="pages of the region (1024: the test's)")
    ap.add_argument("--baseline", metavar="CHECKOUT", help="also run the pattern in this checkout")
    ap.add_argument("--pattern-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not args.pattern_only:
        print("| other regions | region size | mem_map_ptr | mem_unmap |\n|---|---|---|---|")
        for others, size, tm, tu in unicorn_costs():
            print(f"| {others} | {size >> 10} KiB | {tm:.1f} us | {tu:.1f} us |")
    mm, um, rows = pattern(args.pages)
    print(f"pattern of {args.pages} pages ({2 * args.pages} mmaps): mmaps {mm:.3f} s, "
          f"munmaps {um:.3f} s, rows (engine regions) after the mmaps {rows}")
    if args.baseline:
        env = dict(os.environ, PYTHONPATH=os.path.abspath(args.baseline))
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--pattern-only",
                            "--pages", str(args.pages)], cwd="/", env=env,
                           capture_output=True, text=True, check=False)
        print(f"baseline {args.baseline}: {p.stdout.strip() or p.stderr.strip()[-300:]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
