"""The floor under a futex hand-off and a fork, on bare Unicorn 2.1.4 (no ecs-kernel code but
``platform.new_engine``): what the engine alone costs for the minimum number of operations.

    python -m bench.probe_handoff [--rounds N] [--engines K] [--no-numba]

Two guest "threads" run the same loop in one engine: ``syscall`` (a wake), ``syscall`` (a wait
that hands the CPU over). A round trip is four syscalls and two hand-offs, as in
tests/guests/src/pingpong.c. Hand-off variants:

- ``python hook, switch in the hook``: a ctypes Python syscall hook; at a wait it saves the
  running thread's registers (``uc_context_save`` into a kept context) and restores the other's
  (``uc_context_restore``) and returns: the engine never stops.
- ``python hook, stop per hand-off``: at a wait the hook calls ``uc_emu_stop``; the loop outside
  saves and restores the contexts and calls ``emu_start`` again (what the run loop does: one
  stop and one start per blocking wait).
- ``compiled hook, switch in the hook``: the first variant as a numba ``cfunc`` (the compiled
  fast path's way of calling Unicorn), so no Python runs per round trip at all.

Also: the pieces alone (a Python hook entry, ``emu_start`` + ``emu_stop``, a context switch
through ctypes), and per fork: a bare ``Uc()``, ``platform.new_engine`` (CPL 3 set-up), mapping
and unmapping host buffers with ``mem_map_ptr``, and running code on a fresh engine (cold
translation) against the same code on a warm one.
"""
from __future__ import annotations

import argparse
import ctypes
import mmap
import time

from unicorn import UC_ARCH_X86, UC_HOOK_INSN, UC_MODE_64, UC_PROT_ALL, Uc
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from ecs_kernel.cpu import platform as P

CODE, STACK = 0x400000, 0x800000
# loop: mov eax, 1; syscall (wake); mov eax, 2; syscall (wait); jmp loop
LOOP = bytes.fromhex("b801000000 0f05 b802000000 0f05 ebf0")
_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_raw = ctypes.CDLL(uclib._name)
for _f in ("uc_context_save", "uc_context_restore"):
    getattr(_raw, _f).restype = ctypes.c_int
    getattr(_raw, _f).argtypes = (ctypes.c_void_p, ctypes.c_void_p)
_raw.uc_emu_stop.restype = ctypes.c_int
_raw.uc_emu_stop.argtypes = (ctypes.c_void_p,)


def _engine():
    uc = P.new_engine()
    uc.mem_map(CODE, 0x1000, UC_PROT_ALL)
    uc.mem_write(CODE, LOOP)
    uc.mem_map(STACK, 0x1000, UC_PROT_ALL)
    return uc


def _contexts(uc):
    ctx = [ctypes.c_void_p(), ctypes.c_void_p()]
    for c in ctx:
        assert uclib.uc_context_alloc(uc._uch, ctypes.byref(c)) == 0
    return ctx


def _hook(uc, fn, user_data=None):
    h = ctypes.c_size_t()
    assert uclib.uc_hook_add(uc._uch, ctypes.byref(h), UC_HOOK_INSN, fn, user_data, ctypes.c_uint64(1),
                             ctypes.c_uint64(0), ctypes.c_int(X.UC_X86_INS_SYSCALL)) == 0


def handoff_in_python_hook(rounds: int) -> float:
    uc = _engine()
    ctx = _contexts(uc)
    st = {"n": 0, "cur": 0, "started": False}
    save, restore, stop = _raw.uc_context_save, _raw.uc_context_restore, _raw.uc_emu_stop

    def hook(uch, _ud):
        st["n"] += 1
        if st["n"] & 1:
            return  # a wake: nothing to switch
        if st["n"] >= 4 * rounds:
            stop(uch)
            return
        cur = st["cur"]
        save(uch, ctx[cur])
        if st["started"]:
            restore(uch, ctx[cur ^ 1])  # RIP on its syscall: Unicorn adds 2 on return
        st["started"] = True  # the other thread starts as a copy (same loop)
        st["cur"] = cur ^ 1

    cb = _CB(hook)
    _hook(uc, cb)
    t = time.perf_counter()
    uc.emu_start(CODE, 0)
    return (time.perf_counter() - t) / rounds


def handoff_stop_per_wait(rounds: int) -> float:
    uc = _engine()
    ctx = _contexts(uc)
    st = {"n": 0}
    stop = _raw.uc_emu_stop

    def hook(uch, _ud):
        st["n"] += 1
        if not st["n"] & 1:
            stop(uch)

    cb = _CB(hook)
    _hook(uc, cb)
    save, restore = _raw.uc_context_save, _raw.uc_context_restore
    uch = uc._uch
    cur, started = 0, False
    rip = [CODE, CODE]
    t = time.perf_counter()
    for _ in range(2 * rounds):
        uc.emu_start(rip[cur], 0)
        rip[cur] = uc.reg_read(X.UC_X86_REG_RIP)
        save(uch, ctx[cur])
        if started:
            restore(uch, ctx[cur ^ 1])
        started = True
        cur ^= 1
    return (time.perf_counter() - t) / rounds


def python_hook_only(n: int) -> float:
    """A Python syscall hook that does nothing (per syscall)."""
    uc = _engine()
    st = {"n": 0}
    stop = _raw.uc_emu_stop

    def hook(uch, _ud):
        st["n"] += 1
        if st["n"] >= n:
            stop(uch)

    cb = _CB(hook)
    _hook(uc, cb)
    t = time.perf_counter()
    uc.emu_start(CODE, 0)
    return (time.perf_counter() - t) / n


def stop_start_only(n: int) -> float:
    """emu_stop from the hook at every syscall and emu_start again (per cycle, hook included)."""
    uc = _engine()
    stop = _raw.uc_emu_stop
    cb = _CB(lambda uch, _ud: stop(uch))
    _hook(uc, cb)
    rip = CODE
    t = time.perf_counter()
    for _ in range(n):
        uc.emu_start(rip, 0)
        rip = uc.reg_read(X.UC_X86_REG_RIP)
    return (time.perf_counter() - t) / n


def context_switch_only(n: int) -> float:
    uc = _engine()
    ctx = _contexts(uc)
    save, restore, uch = _raw.uc_context_save, _raw.uc_context_restore, uc._uch
    t = time.perf_counter()
    for _ in range(n):
        save(uch, ctx[0])
        restore(uch, ctx[1])
    return (time.perf_counter() - t) / n


def handoff_compiled(rounds: int) -> tuple[float, float]:
    """(seconds per round trip, seconds to compile): the switch in a numba cfunc."""
    t0 = time.perf_counter()
    import numba
    import numpy as np
    from numba import types

    save_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
    save = save_t(ctypes.cast(_raw.uc_context_save, ctypes.c_void_p).value)
    restore = save_t(ctypes.cast(_raw.uc_context_restore, ctypes.c_void_p).value)
    stop = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)(ctypes.cast(_raw.uc_emu_stop, ctypes.c_void_p).value)

    @numba.cfunc(types.void(types.voidptr, types.voidptr))
    def hook(uch, ud):
        s = numba.carray(ud, (8,), np.int64)  # n, cur, started, limit, ctx0, ctx1
        s[0] += 1
        if s[0] & 1:
            return
        if s[0] >= s[3]:
            stop(uch)
            return
        cur = s[1]
        save(uch, s[4 + cur])
        if s[2]:
            restore(uch, s[5 - cur])
        s[2] = 1
        s[1] = 1 - cur

    compile_s = time.perf_counter() - t0
    uc = _engine()
    ctx = _contexts(uc)
    state = np.zeros(8, np.int64)
    state[3] = 4 * rounds
    state[4], state[5] = ctx[0].value, ctx[1].value
    _hook(uc, ctypes.c_void_p(hook.address), ctypes.c_void_p(state.ctypes.data))
    t = time.perf_counter()
    uc.emu_start(CODE, 0)
    dt = time.perf_counter() - t
    assert state[0] == 4 * rounds, state[0]
    return dt / rounds, compile_s


def engines(k: int) -> dict[str, float]:
    out = {}
    t = time.perf_counter()
    keep = [Uc(UC_ARCH_X86, UC_MODE_64) for _ in range(k)]
    out["bare Uc()"] = (time.perf_counter() - t) / k
    for uc in keep:
        uc.ctl_set_tcg_buffer_size(64 << 20)
    t = time.perf_counter()
    for uc in keep:
        uc.mem_map(0x1000, 0x1000)  # the first map allocates the translation buffer
    out["first mem_map of a bare Uc (the 64 MiB translation buffer)"] = (time.perf_counter() - t) / k
    del keep
    t = time.perf_counter()
    keep = [P.new_engine() for _ in range(k)]
    out["platform.new_engine (Uc, buffer, CPL 3 iretq)"] = (time.perf_counter() - t) / k
    # an address space like a bash subshell's: ~40 regions
    bufs = [mmap.mmap(-1, 16 << 12) for _ in range(40)]
    uc = keep[0]
    t = time.perf_counter()
    for _ in range(k):
        for i, b in enumerate(bufs):
            uc.mem_map_ptr(0x10000000 + i * (32 << 12), 16 << 12, UC_PROT_ALL,
                           ctypes.addressof(ctypes.c_char.from_buffer(b)))
        for i in range(len(bufs)):
            uc.mem_unmap(0x10000000 + i * (32 << 12), 16 << 12)
    out["mem_map_ptr + mem_unmap of 40 regions"] = (time.perf_counter() - t) / k
    return out


def cold_vs_warm(k: int) -> dict[str, float]:
    """Run 2000 distinct straight-line blocks (~32 KiB of code) on fresh engines and again."""
    blk = bytes.fromhex("4801c3 4831d8 4883c001 eb00")  # add rbx,rax; xor rax,rbx; add rax,1; jmp +0
    code = blk * 2000 + bytes.fromhex("0f05")
    out = {}
    for phase in ("cold", "warm"):
        total = 0.0
        for _ in range(k):
            if phase == "cold" or _ == 0:
                uc = P.new_engine()
                uc.mem_map(CODE, 0x10000, UC_PROT_ALL)
                uc.mem_write(CODE, code)
                if phase == "warm":
                    uc.emu_start(CODE, CODE + len(code) - 2)
            t = time.perf_counter()
            uc.emu_start(CODE, CODE + len(code) - 2)
            total += time.perf_counter() - t
        out[f"run 8000 instructions in 2000 blocks, {phase} translation cache"] = total / k
    return out


def block_loop(n: int) -> dict[str, float]:
    """ns per block of a one-block loop (``inc rbx; cmp rbx, rcx; jne``): no hook, the project's
    block-quantum hook (jit/blockquantum) disarmed and armed, and Unicorn's ``count=``."""
    import numpy as np

    from ecs_kernel.jit import blockquantum
    from ecs_kernel.jit.blockquantum import BQ_BUDGET, BQ_SIZE, BQ_STOP
    from unicorn import UC_HOOK_BLOCK
    code = bytes.fromhex("48ffc3 4839cb 75f8 0f0b")

    def one(hook, budget=0, count=0):
        uc = P.new_engine()
        uc.mem_map(CODE, 0x1000, UC_PROT_ALL)
        uc.mem_write(CODE, code)
        uc.reg_write(X.UC_X86_REG_RCX, n)
        ctl = np.zeros(BQ_SIZE, np.int64)
        ctl[BQ_BUDGET] = budget
        ctl[BQ_STOP] = ctypes.cast(_raw.uc_emu_stop, ctypes.c_void_p).value
        if hook:
            h = ctypes.c_size_t()
            assert uclib.uc_hook_add(uc._uch, ctypes.byref(h), UC_HOOK_BLOCK,
                                     ctypes.c_void_p(blockquantum.hook_address()),
                                     ctypes.c_void_p(ctl.ctypes.data), ctypes.c_uint64(1),
                                     ctypes.c_uint64(0)) == 0
        t = time.perf_counter()
        uc.emu_start(CODE, CODE + 8, count=count)
        return (time.perf_counter() - t) / n

    return {"one-block loop, no hook (ns a block)": min(one(False) for _ in range(3)),
            "the same, block-quantum hook disarmed": min(one(True) for _ in range(3)),
            "the same, block-quantum hook armed": min(one(True, budget=1 << 62) for _ in range(3)),
            "the same, count= (Unicorn's per-instruction count)": min(one(False, count=1 << 40) for _ in range(3))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.probe_handoff", description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=100_000)
    ap.add_argument("--engines", type=int, default=50)
    ap.add_argument("--no-numba", action="store_true")
    a = ap.parse_args(argv)
    n = a.rounds
    rows = [
        ("python hook entry (per syscall)", min(python_hook_only(4 * n) for _ in range(3))),
        ("emu_stop in the hook + emu_start (per cycle)", min(stop_start_only(n) for _ in range(3))),
        ("uc_context_save + uc_context_restore through ctypes", min(context_switch_only(n) for _ in range(3))),
        ("round trip: python hook, switch in the hook", min(handoff_in_python_hook(n) for _ in range(3))),
        ("round trip: python hook, stop per hand-off", min(handoff_stop_per_wait(n) for _ in range(3))),
    ]
    if not a.no_numba:
        best, comp = min(handoff_compiled(n) for _ in range(3))
        rows.append(("round trip: compiled hook, switch in the hook", best))
    print("| what | us |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v * 1e6:.3f} |")
    for k, v in {**engines(a.engines), **cold_vs_warm(min(a.engines, 20))}.items():
        print(f"| {k} | {v * 1e6:.1f} |")
    if not a.no_numba:
        for k, v in block_loop(20_000_000).items():
            print(f"| {k} | {v * 1e9:.2f} ns |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
