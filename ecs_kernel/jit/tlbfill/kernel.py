"""The compiled TLB-fill hook (numba ``cfunc``). See ``tlbfill/__init__.py``."""
from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ecs_kernel.abi import BUS_ADRERR, PROT_EXEC, PROT_READ, PROT_WRITE, SEGV_ACCERR, SEGV_MAPERR
from ecs_kernel.jit.fastpath.kernel import _as_ptr, _ptr_int
from ecs_kernel.jit.options import cfunc
from ecs_kernel.jit.pagewalk import NCOLS, TLB_BUSERR, TLB_MAPERR, tlb_fill
from ecs_kernel.jit.tlbfill.layout import (
    TLB_BYPASS,
    TLB_CAP,
    TLB_FAULT_ACCESS,
    TLB_FAULT_ADDR,
    TLB_FAULT_CODE,
    TLB_FAULT_SIGBUS,
    TLB_FILLS,
    TLB_MISS_HOOK,
    TLB_MISSES,
    TLB_N,
    TLB_SIZE,
    TLB_T,
)


@intrinsic
def _call_miss(typingctx, fn, addr, access):
    """``int64 (*fn)(uint64 addr, int64 access)`` at address ``fn``: the Python miss handler."""
    sig = types.int64(types.int64, types.uint64, types.int64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        f = builder.inttoptr(args[0], ir.FunctionType(i64, [i64, i64]).as_pointer())
        return builder.call(f, [args[1], args[2]])

    return sig, codegen


def _fill(uch, addr, access, entry, user_data):
    ctl = numba.carray(_as_ptr(_ptr_int(user_data), numba.int64), (TLB_SIZE,))
    a = numba.int64(addr)
    acc = numba.int64(access)
    for _attempt in range(2):  # at most one retry: after the miss handler changed the table
        t = numba.carray(_as_ptr(ctl[TLB_T], numba.int64), (NCOLS, ctl[TLB_CAP]))
        p = tlb_fill(t, ctl[TLB_N], a, acc)
        if ctl[TLB_BYPASS]:
            p = PROT_READ | PROT_WRITE | PROT_EXEC  # the kernel's lookup; flushed after
        if p >= 0:
            e = _ptr_int(entry)
            _as_ptr(e, numba.int64)[0] = a  # uc_tlb_entry.paddr: guest addresses are physical
            _as_ptr(e + 8, numba.int32)[0] = numba.int32(p)  # .perms (UC_PROT_* = PROT_*)
            ctl[TLB_FILLS] += 1
            return numba.uint8(1)
        if _attempt == 0 and ctl[TLB_MISS_HOOK] != 0 \
                and _call_miss(ctl[TLB_MISS_HOOK], addr, acc) == 1:
            continue
        ctl[TLB_MISSES] += 1
        ctl[TLB_FAULT_ADDR] = a
        ctl[TLB_FAULT_ACCESS] = acc
        if p == TLB_BUSERR:
            ctl[TLB_FAULT_CODE] = TLB_FAULT_SIGBUS | BUS_ADRERR
        else:
            ctl[TLB_FAULT_CODE] = SEGV_MAPERR if p == TLB_MAPERR else SEGV_ACCERR
        return numba.uint8(0)
    return numba.uint8(0)



def compile_hook():
    return cfunc(types.uint8(types.voidptr, types.uint64, types.int32, types.voidptr,
                             types.voidptr), _fill)
