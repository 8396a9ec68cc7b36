"""Ordinary file I/O on in-memory files: what the page cache of shared mappings costs the
common case (a small file read and written with pread/pwrite, never mapped).

    python -m bench.bench_file_io [--baseline CHECKOUT] [--rounds N] [--ops N]

Each round runs, in a fresh interpreter per checkout (interleaved, so a busy machine slows them
alike): a guest program (tests/guests/src-like C, built here) that pwrites and preads 4 KiB at
random offsets of a 64 KiB file in /tmp ``--ops`` times, under ``ecs-kernel run`` (the CPU time
of a run of ``--ops`` less that of a run of ``--ops``/10, so start-up, which differs between
checkouts with and without compiled bytecode, cancels), and the inode layer alone
(``RegularFile.write_at``/``read_at`` of 4 KiB, no guest). Printed: the median CPU seconds of
each, and each checkout's ratio to this one. ``--baseline`` is another checkout
(e.g. /work/main) measured in the same rounds; without it only this checkout runs. The same
inode-layer loop on a file mapped MAP_SHARED (its bytes in the page cache) is printed too.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import bench

ROOT = Path(__file__).resolve().parent.parent

GUEST_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long ops = atol(argv[1]);
    char buf[4096];
    int fd = open("/tmp/bench-io", O_RDWR | O_CREAT | O_TRUNC, 0600);
    for (int i = 0; i < 16; i++) write(fd, buf, sizeof buf);
    unsigned x = 12345;
    long sum = 0;
    for (long i = 0; i < ops; i++) {
        x = x * 1103515245 + 12345;
        off_t off = (off_t)((x >> 8) % 16) * 4096;
        pwrite(fd, buf, sizeof buf, off);
        sum += pread(fd, buf, sizeof buf, off);
    }
    printf("%ld\n", sum);
    return 0;
}
"""

INODE_SNIPPET = r"""
import resource, sys
from ecs_kernel.fs.inodes import RegularFile, SuperBlock
ops, mapped = int(sys.argv[1]), sys.argv[2] == "1"
sb = SuperBlock("tmpfs", 1, lambda: 0)
f = RegularFile(sb)
buf = bytes(4096)
for i in range(16):
    f.write_at(i * 4096, buf)
if mapped:
    from ecs_kernel.cpu.memory import PageCache
    class FM:
        inode = f
        writable = True
    PageCache.buffer_for(FM(), 16 * 4096)
x = 12345
r0 = resource.getrusage(resource.RUSAGE_SELF)
for i in range(ops):
    x = (x * 1103515245 + 12345) & 0xFFFFFFFF
    off = ((x >> 8) % 16) * 4096
    f.write_at(off, buf)
    f.read_at(off, 4096)
r1 = resource.getrusage(resource.RUSAGE_SELF)
print((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
"""


def _env(checkout: str) -> dict:
    return dict(os.environ, PYTHONPATH=checkout, PYTHONDONTWRITEBYTECODE="1")


def _guest_cpu(checkout: str, prog: str, ops: int) -> float:
    r0 = os.times()
    subprocess.run([sys.executable, "-m", "ecs_kernel.cli", "run", "--", prog, str(ops)],
                   cwd="/", env=_env(checkout), check=True, stdout=subprocess.DEVNULL)
    r1 = os.times()
    return (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)


def _inode_cpu(checkout: str, ops: int, mapped: bool) -> float:
    p = subprocess.run([sys.executable, "-c", INODE_SNIPPET, str(ops), "1" if mapped else "0"],
                       cwd="/", env=_env(checkout), check=True, capture_output=True)
    return float(p.stdout.split()[-1])


def main(argv=None) -> int:
    ap = bench.parser(__doc__, "file_io")
    ap.add_argument("--baseline", help="another checkout measured in the same rounds")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ops", type=int, default=20000, help="pwrite+pread pairs per run")
    args = ap.parse_args(argv)
    checkouts = {"this": str(ROOT)}
    if args.baseline:
        checkouts["baseline"] = str(Path(args.baseline).resolve())
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        src = os.path.join(d, "io.c")
        prog = os.path.join(d, "io")
        Path(src).write_text(GUEST_C)
        subprocess.run(["gcc", "-O1", "-static", "-o", prog, src], check=True)
        res: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for name, co in checkouts.items():
                res.setdefault((name, "guest"), []).append(
                    _guest_cpu(co, prog, args.ops) - _guest_cpu(co, prog, args.ops // 10))
                res.setdefault((name, "inode"), []).append(_inode_cpu(co, args.ops * 5, False))
            res.setdefault(("this", "inode, mapped shared"), []).append(
                _inode_cpu(checkouts["this"], args.ops * 5, True))
    print("| what | checkout | median CPU s | ratio to this |")
    print("|---|---|---|---|")
    for (name, what), v in sorted(res.items(), key=lambda kv: (kv[0][1], kv[0][0] != "this")):
        base = statistics.median(res[("this", what)])
        med = statistics.median(v)
        n = args.ops - args.ops // 10 if what == "guest" else args.ops * 5
        print(f"| {what} ({n} pairs) | {name} | "
              f"{med:.3f} | {med / base:.3f} |")
    m, u = statistics.median(res[("this", "inode, mapped shared")]), \
        statistics.median(res[("this", "inode")])
    print(f"\nmapped shared / unmapped (inode layer, this checkout): {m / u:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
