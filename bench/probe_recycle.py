"""Can a fork child run on translated code it did not translate? Bare Unicorn 2.1.4 (no
ecs-kernel code but ``platform.new_engine``), the two shapes of issue 15's fork item:

    python -m bench.probe_recycle [--engines K]

The guest code: 2000 distinct straight-line blocks (~32 KiB) ending in ``hlt``-free ``syscall``
(the code of bench/probe_handoff.cold_vs_warm), in a host buffer mapped with ``mem_map_ptr``.

- ``cold``: what a fork child costs today: ``new_engine``, map the buffer, run (every block
  translated).
- ``recycled, same code``: an engine that already ran the code gets a new process's memory: a
  memfd image with the same bytes mapped ``MAP_FIXED`` over the same host range (what
  ``HostBuffer.rebase`` does), the softmmu TLB flushed, run again: Unicorn's region (and so its
  translated blocks, keyed by ram address) is unchanged.
- ``recycled, other code + remove_cache``: the image differs (one immediate in every block): the
  stale translations must go (``uc_ctl_remove_cache`` over the range), and the result shows
  whether they did; ``recycled, other code, no flush`` shows the hazard (the old code runs).
- ``swap address spaces in one engine``: the other shape (run the child on the parent's engine):
  the cost of exchanging the host pages of ``--regions`` buffers with ``mremap`` (three moves a
  buffer), per switch; a fork+exit+wait needs two.
"""
from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import time

from unicorn import UC_PROT_ALL
from unicorn.unicorn_const import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH as _TLB_FLUSH
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib  # noqa: F401  (the library the binding loaded)

from ecs_kernel.cpu import host_pages as HP
from ecs_kernel.cpu import platform as P

CODE = 0x400000
SIZE = 0x10000
# add rbx,rax; xor rax,rbx; add rax,IMM8; jmp +0 -- IMM8 tells two images apart
_BLK = "4801c3 4831d8 4883c0{:02x} eb00"
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mremap.restype = ctypes.c_void_p
_libc.mremap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int,
                         ctypes.c_void_p)
MREMAP_MAYMOVE, MREMAP_FIXED = 1, 2


def _code(imm: int) -> bytes:
    return bytes.fromhex(_BLK.format(imm)) * 2000 + bytes.fromhex("0f05")


def _image(code: bytes) -> int:
    fd = os.memfd_create("probe", os.MFD_CLOEXEC)
    os.ftruncate(fd, SIZE)
    os.pwrite(fd, code, 0)
    return fd


def _run(uc, code) -> tuple[float, int]:
    uc.reg_write(X.UC_X86_REG_RAX, 0)
    uc.reg_write(X.UC_X86_REG_RBX, 0)
    t = time.perf_counter()
    uc.emu_start(CODE, CODE + len(code) - 2)
    return time.perf_counter() - t, uc.reg_read(X.UC_X86_REG_RAX)


def _expect(code: bytes) -> int:
    """The guest's rax, computed in Python."""
    rax = rbx = 0
    imm = code[9]
    for _ in range(2000):
        rbx = (rbx + rax) & (2**64 - 1)
        rax ^= rbx
        rax = (rax + imm) & (2**64 - 1)
    return rax


def probe(k: int) -> dict[str, float]:
    a, b = _code(1), _code(2)
    want_a, want_b = _expect(a), _expect(b)
    fa, fb = _image(a), _image(b)
    out: dict[str, list] = {}

    def add(name, v):
        out.setdefault(name, []).append(v)

    for _ in range(k):
        buf = mmap.mmap(-1, SIZE, flags=mmap.MAP_PRIVATE)
        host = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        t = time.perf_counter()
        uc = P.new_engine()
        made = time.perf_counter() - t
        HP.map_fixed(host, SIZE, fa, 0)
        uc.mem_map_ptr(CODE, SIZE, UC_PROT_ALL, host)
        dt, rax = _run(uc, a)
        assert rax == want_a
        add("cold: new_engine", made)
        add("cold: run (translate every block)", dt)
        # the same engine, a new process's memory over the same host range, same bytes
        t = time.perf_counter()
        HP.map_fixed(host, SIZE, fa, 0)
        uc.ctl(_TLB_FLUSH, UC_CTL_IO_WRITE)
        remap = time.perf_counter() - t
        dt, rax = _run(uc, a)
        assert rax == want_a
        add("recycled, same code: MAP_FIXED + TLB flush", remap)
        add("recycled, same code: run", dt)
        # other bytes, no flush: the old translation runs (the hazard)
        HP.map_fixed(host, SIZE, fb, 0)
        uc.ctl(_TLB_FLUSH, UC_CTL_IO_WRITE)
        _dt, rax = _run(uc, b)
        add("recycled, other code, no flush: did not run the new code (1 = yes)",
            1.0 if rax != want_b else 0.0)
        # other bytes, the range's translations removed
        t = time.perf_counter()
        uc.ctl_remove_cache(CODE, CODE + SIZE)
        rm = time.perf_counter() - t
        dt, rax = _run(uc, b)
        assert rax == want_b, "remove_cache left a stale translation"
        add("recycled, other code: remove_cache of 64 KiB", rm)
        add("recycled, other code: run (translate again)", dt)
        # the comparison that decides whether to flush: 64 KiB of code against the old image
        old = memoryview(buf)
        img = mmap.mmap(fa, SIZE, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
        t = time.perf_counter()
        same = old[:SIZE] == memoryview(img)[:SIZE]
        add("compare 64 KiB of code with the image (memcmp)", time.perf_counter() - t)
        assert not same
        img.close()
        old.release()
        uc.mem_unmap(CODE, SIZE)
        del uc
        buf.close()
    for fd in (fa, fb):
        os.close(fd)
    return {name: min(v) if "new code (1" not in name else sum(v) / len(v) for name, v in out.items()}


def swap(k: int, regions: int, pages: int) -> float:
    """Exchange the host pages of ``regions`` pairs of buffers (``pages`` resident pages each)
    through a spare range, per switch of address space."""
    n = pages * mmap.PAGESIZE
    mine = [mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE) for _ in range(regions)]
    other = [mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE) for _ in range(regions)]
    spare = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE)
    for m in mine + other:
        m.write(b"x" * n)
    addr = [ctypes.addressof(ctypes.c_char.from_buffer(m)) for m in mine + other + [spare]]
    sp = addr[-1]
    best = float("inf")
    for _ in range(k):
        t = time.perf_counter()
        for i in range(regions):
            x, y = addr[i], addr[regions + i]
            for src, dst in ((x, sp), (y, x), (sp, y)):
                r = _libc.mremap(src, n, n, MREMAP_MAYMOVE | MREMAP_FIXED, dst)
                assert r == dst, os.strerror(ctypes.get_errno())
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.probe_recycle",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--engines", type=int, default=10)
    ap.add_argument("--regions", type=int, default=40)
    a = ap.parse_args(argv)
    print("| what | us |\n|---|---|")
    for name, v in probe(a.engines).items():
        print(f"| {name} | {v if 'new code (1' in name else v * 1e6:.1f} |")
    print(f"| swap the host pages of {a.regions} buffers of 16 pages (mremap x3 each), per switch"
          f" | {swap(a.engines, a.regions, 16) * 1e6:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
