"""Bare Unicorn 2.1.4: what its MMU set-up does to stores and calls (issue 15's facts, checked).

    python -m bench.bench_unicorn_mmu [--n N] [--repeat R]

Two loops on a bare engine (no ecs-kernel code): ``store`` writes ``N`` qwords round a 32 KiB
array (``mov [rdi+rdx*8], rax``), ``icall`` makes ``N`` indirect calls (``call rbx; ret``: a stack
store and load each). Each runs under every MMU set-up, best of ``--repeat``, interleaved:

- ``flat``: the default (no guest paging; every page is executable to the MMU);
- ``paging``: real x86-64 4-level page tables (CR3, CR4.PAE, EFER.LME|LMA|NXE, CR0.PG|WP),
  identity mapped, NX on the data and stack pages; tables at physical 2^39;
- ``vtlb``: UC_TLB_VIRTUAL with no fill hook (Unicorn grants exactly the access asked);
- ``vtlb+fill``: UC_TLB_VIRTUAL and a TLB-fill hook answering read+write for data pages and
  read+exec for the code page (what ecs-kernel does, there from its page table);
- each ``+MEM_INVALID``: the same with a UC_HOOK_MEM_INVALID hook over all memory.

It also checks the physical-address limit that rules out identity-mapped page tables for a
Linux address space: a page-table entry (here CR3's PML4) at physical 2^40 or above faults.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from unicorn import (
    UC_ARCH_X86,
    UC_HOOK_INTR,
    UC_HOOK_MEM_INVALID,
    UC_HOOK_TLB_FILL,
    UC_MODE_64,
    UC_PROT_EXEC,
    UC_PROT_READ,
    UC_PROT_WRITE,
    UC_TLB_VIRTUAL,
    Uc,
    UcError,
)
from unicorn import x86_const as X

# store: xor eax,eax; 1: mov edx,eax; and edx,0xfff; mov [rdi+rdx*8],rax; inc rax; dec rcx; jnz 1b; hlt
# icall: lea rbx,[rip+fn]; 2: call rbx; dec rcx; jnz 2b; hlt; fn: ret
CODE = bytes.fromhex("31c089c281e2ff0f0000488904d748ffc048ffc975ecf4"
                     "488d1d08000000ffd348ffc975f9f4c3")
LOOPS = {"store": (0x0, 0x16), "icall": (0x17, 0x25)}
CODE_AT, DATA_AT, STACK_AT = 0x400000, 0x600000, 0x7F000000
P, RW, US, A, D, NX = 1, 2, 4, 0x20, 0x40, 1 << 63
EFER = 0xC0000080


def page_tables(pt_at: int, maps) -> np.ndarray:
    """4-level tables (as one array of 4 KiB tables, table 0 the PML4) identity-mapping
    ``maps``: (start, length, leaf flags)."""
    pt = np.zeros(512 * 16, np.uint64)
    used = [1]

    def walk(va):
        t = 0
        for shift in (39, 30, 21):
            i = t * 512 + ((va >> shift) & 511)
            if not pt[i]:
                pt[i] = (pt_at + used[0] * 4096) | P | RW | US | A
                used[0] += 1
            t = ((int(pt[i]) & 0xFFFFFFFFFF000) - pt_at) // 4096
        return t

    for start, length, flags in maps:
        for va in range(start, start + length, 4096):
            pt[walk(va) * 512 + ((va >> 12) & 511)] = va | flags
    return pt


def enable_paging(uc: Uc, pt_at: int) -> None:
    pt = page_tables(pt_at, [(CODE_AT, 0x1000, P | US | A),
                             (DATA_AT, 0x8000, P | RW | US | A | D | NX),
                             (STACK_AT, 0x10000, P | RW | US | A | D | NX)])
    uc.mem_map(pt_at, pt.nbytes, UC_PROT_READ | UC_PROT_WRITE)
    uc.mem_write(pt_at, pt.tobytes())
    uc.reg_write(X.UC_X86_REG_CR3, pt_at)
    uc.reg_write(X.UC_X86_REG_CR4, uc.reg_read(X.UC_X86_REG_CR4) | 0x20)  # PAE
    uc.msr_write(EFER, uc.msr_read(EFER) | 0x100 | 0x400 | 0x800)  # LME, LMA, NXE
    uc.reg_write(X.UC_X86_REG_CR0, uc.reg_read(X.UC_X86_REG_CR0) | 1 | (1 << 16) | (1 << 31))


def engine(mmu: str, mem_invalid: bool, pt_at: int = 1 << 39) -> Uc:
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(CODE_AT, 0x1000, UC_PROT_READ | UC_PROT_EXEC)
    uc.mem_write(CODE_AT, CODE)
    uc.mem_map(DATA_AT, 0x8000, UC_PROT_READ | UC_PROT_WRITE)
    uc.mem_map(STACK_AT, 0x10000, UC_PROT_READ | UC_PROT_WRITE)
    if mmu == "paging":
        enable_paging(uc, pt_at)
    elif mmu.startswith("vtlb"):
        uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
        if mmu == "vtlb+fill":
            def fill(uc_, addr, access, entry, user_data):
                entry.paddr = addr
                entry.perms = (UC_PROT_READ | UC_PROT_EXEC if CODE_AT <= addr < CODE_AT + 0x1000
                               else UC_PROT_READ | UC_PROT_WRITE)
                return True
            uc.hook_add(UC_HOOK_TLB_FILL, fill)
    if mem_invalid:
        uc.hook_add(UC_HOOK_MEM_INVALID, lambda *a: False)
    uc.reg_write(X.UC_X86_REG_RSP, STACK_AT + 0x8000)
    return uc


def run_loop(uc: Uc, loop: str, n: int) -> float:
    start, end = LOOPS[loop]
    uc.reg_write(X.UC_X86_REG_RDI, DATA_AT)
    uc.reg_write(X.UC_X86_REG_RCX, n)
    t0 = time.perf_counter()
    uc.emu_start(CODE_AT + start, CODE_AT + end)
    dt = time.perf_counter() - t0
    if loop == "store":
        got = int.from_bytes(uc.mem_read(DATA_AT + 8 * ((n - 1) & 0xFFF), 8), "little")
        assert got == n - 1, (got, n)
    return dt


def physical_limit() -> dict:
    """Where page tables may live: 2^39 works, 2^40 faults (#PF at the first fetch)."""
    out = {}
    for bits in (39, 40):
        uc = engine("paging", False, pt_at=1 << bits)
        seen = []
        uc.hook_add(UC_HOOK_INTR, lambda u, intno, ud, seen=seen: (seen.append(intno), u.emu_stop()))
        try:
            run_loop(uc, "store", 100)
            out[bits] = f"interrupt {seen[0]}" if seen else "ok"
        except (UcError, AssertionError) as e:
            out[bits] = f"interrupt {seen[0]}" if seen else str(e)
    return out


CONFIGS = [("flat", False), ("flat", True), ("paging", False), ("paging", True),
           ("vtlb", False), ("vtlb+fill", False), ("vtlb+fill", True)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_unicorn_mmu",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20_000_000, help="loop iterations")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    best = {}
    for _ in range(args.repeat):
        for mmu, inv in CONFIGS:
            for loop in LOOPS:
                k = (loop, mmu + ("+MEM_INVALID" if inv else ""))
                best[k] = min(best.get(k, float("inf")), run_loop(engine(mmu, inv), loop, args.n))
    print(f"| loop | MMU set-up | best of {args.repeat} | ns per iteration | vs flat |")
    print("|---|---|---|---|---|")
    for (loop, name), dt in sorted(best.items(), key=lambda kv: kv[0][0]):
        print(f"| {loop} | {name} | {dt:.3f} s | {dt / args.n * 1e9:.2f} | "
              f"{dt / best[(loop, 'flat')]:.2f}x |")
    lim = physical_limit()
    print(f"\npage tables at physical 2^39: {lim[39]}; at 2^40: {lim[40]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
