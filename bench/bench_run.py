"""``ecs-kernel run`` against its baselines, measured in the same run.

    python -m bench.bench_run [--loops N] [--syscalls N] [--repeat R]

Prints:
1. a static hello world: native, ``ecs-kernel run`` as a command (interpreter start, imports, numba
   cache loads included), and the run itself in a warm process (load + execute);
2. guest instructions per second on a compute loop under ecs-kernel (the syscall hook installed,
   the kernel in charge) against the same loop on bare Unicorn with no hooks (goal: >= 0.9x);
3. the cost of one syscall round trip (getpid in a loop) through the compiled fast path
   (``python -m bench`` has the full table: native, the floor, --no-fast-path).
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

HELLO_C = '#include <stdio.h>\nint main(void){puts("hello, world");return 0;}\n'
# rcx iterations of 3 instructions (add, dec, jnz), then exit_group(0).
LOOP_S = """.intel_syntax noprefix
.globl _start
_start:
    mov rcx, {n}
    xor eax, eax
1:  add rax, rcx
    dec rcx
    jnz 1b
loop_end:
    xor edi, edi
    mov eax, 231
    syscall
"""
GETPID_S = """.intel_syntax noprefix
.globl _start
_start:
    mov rbx, {n}
1:  mov eax, 39
    syscall
    dec rbx
    jnz 1b
    xor edi, edi
    mov eax, 231
    syscall
"""


def _build(d: Path) -> dict:
    out = {}
    (d / "hello.c").write_text(HELLO_C)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(d / "hello"), str(d / "hello.c")], check=True)
    out["hello"] = d / "hello"
    return out


def _asm(d: Path, name: str, src: str) -> Path:
    (d / f"{name}.s").write_text(src)
    subprocess.run(["gcc", "-nostdlib", "-static", "-o", str(d / name), str(d / f"{name}.s")],
                   check=True)
    return d / name


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _run_in_process(path: Path, devnull: int) -> None:
    from ecs_kernel.cli_run import run
    run(str(path), [str(path)], [], stdio=(devnull, devnull, 2))


def _machine_run_seconds(path: Path) -> float:
    """Seconds spent in Machine.run (the guest executing), loading excluded."""
    from ecs_kernel.cpu.machine import Machine
    from ecs_kernel.fs.vfs import FileSystem
    from ecs_kernel.kernel import Kernel
    k = Kernel()
    m = Machine(k, FileSystem("/"))
    row = k.task(k.init_task)
    m.exec_first(row, str(path), [str(path)], [])
    t0 = time.perf_counter()
    m.run()
    return time.perf_counter() - t0


def _bare_unicorn_seconds(path: Path) -> float:
    """The same loop on a bare Unicorn engine, no hooks: map the ELF's text, run to loop_end."""
    from elftools.elf.elffile import ELFFile
    from unicorn import UC_ARCH_X86, UC_MODE_64, UC_PROT_ALL, Uc
    from unicorn.x86_const import UC_X86_REG_RSP
    with open(path, "rb") as f:
        ef = ELFFile(f)
        entry = ef.header.e_entry
        end = next(s["st_value"] for s in ef.get_section_by_name(".symtab").iter_symbols()
                   if s.name == "loop_end")
        uc = Uc(UC_ARCH_X86, UC_MODE_64)
        for seg in ef.iter_segments():
            if seg["p_type"] != "PT_LOAD":
                continue
            lo = seg["p_vaddr"] & ~0xFFF
            hi = (seg["p_vaddr"] + seg["p_memsz"] + 0xFFF) & ~0xFFF
            uc.mem_map(lo, hi - lo, UC_PROT_ALL)
            uc.mem_write(seg["p_vaddr"], seg.data())
    uc.mem_map(0x7FFF0000, 0x10000)
    uc.reg_write(UC_X86_REG_RSP, 0x7FFFF000)
    t0 = time.perf_counter()
    uc.emu_start(entry, end)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loops", type=int, default=100_000_000, help="compute-loop iterations")
    ap.add_argument("--syscalls", type=int, default=200_000, help="getpid calls")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    if shutil.which("gcc") is None:
        print("gcc is needed to build the benchmark programs", file=sys.stderr)
        return 1
    d = Path(tempfile.mkdtemp(prefix="ecs-bench-", dir="/var/tmp"))  # the guest's /tmp is its own
    try:
        hello = _build(d)["hello"]
        loop = _asm(d, "loop", LOOP_S.format(n=args.loops))
        getpid = _asm(d, "getpid", GETPID_S.format(n=args.syscalls))
        devnull = os.open(os.devnull, os.O_WRONLY)

        print("static hello world (best of %d)" % args.repeat)
        t_native = _best(lambda: subprocess.run([str(hello)], stdout=subprocess.DEVNULL, check=True),
                         args.repeat)
        cmd = [sys.executable, "-m", "ecs_kernel.cli", "run", "--", str(hello)]
        t_cli = _best(lambda: subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True), args.repeat)
        _run_in_process(hello, devnull)  # warm: imports, numba caches
        t_warm = _best(lambda: _run_in_process(hello, devnull), args.repeat)
        print(f"  native                         {t_native * 1e3:9.2f} ms")
        print(f"  ecs-kernel run (command)       {t_cli * 1e3:9.2f} ms   {t_cli / t_native:7.1f}x native")
        print(f"  ecs-kernel run (warm process)  {t_warm * 1e3:9.2f} ms   {t_warm / t_native:7.1f}x native")

        n_insns = 3 * args.loops + 4
        print(f"compute loop: {n_insns / 1e6:.0f} M guest instructions (best of {min(args.repeat, 3)})")
        # Interleaved, best of each: other load on the machine hits both sides alike.
        t_bare = t_ek = float("inf")
        for _ in range(min(args.repeat, 3)):
            t_bare = min(t_bare, _bare_unicorn_seconds(loop))
            t_ek = min(t_ek, _machine_run_seconds(loop))
        print(f"  bare Unicorn, no hooks         {n_insns / t_bare / 1e6:9.0f} M instructions/s")
        print(f"  ecs-kernel                     {n_insns / t_ek / 1e6:9.0f} M instructions/s   "
              f"{t_bare / t_ek:5.2f}x bare Unicorn (goal >= 0.9x)")

        t_sys = min(_machine_run_seconds(getpid) for _ in range(min(args.repeat, 3)))
        print(f"getpid round trip ({args.syscalls} calls): {t_sys / args.syscalls * 1e6:.2f} us per syscall "
              f"(the compiled fast path; python -m bench compares it with --no-fast-path)")
        os.close(devnull)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
