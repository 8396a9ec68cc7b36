"""The compiled block-quantum hook (numba ``cfunc``). See ``blockquantum/__init__.py``."""
from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ecs_kernel.jit.blockquantum.layout import BQ_BUDGET, BQ_ENDED, BQ_SIZE, BQ_STOP
from ecs_kernel.jit.fastpath.kernel import _as_ptr, _ptr_int
from ecs_kernel.jit.options import cfunc


@intrinsic
def _call_stop(typingctx, fn, uch):
    """``int uc_emu_stop(uc_engine *)`` at address ``fn``."""
    sig = types.int32(types.int64, types.voidptr)

    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        f = builder.inttoptr(args[0], ir.FunctionType(ir.IntType(32), [i8p]).as_pointer())
        return builder.call(f, [args[1]])

    return sig, codegen


def _block(uch, address, size, user_data):
    ctl = numba.carray(_as_ptr(_ptr_int(user_data), numba.int64), (BQ_SIZE,))
    left = ctl[BQ_BUDGET]
    if left <= 0:
        return  # disarmed
    left -= 1
    ctl[BQ_BUDGET] = left
    if left == 0:
        ctl[BQ_ENDED] = 1
        _call_stop(ctl[BQ_STOP], uch)


def compile_hook():
    return cfunc(types.void(types.voidptr, types.uint64, types.uint32, types.voidptr), _block)
