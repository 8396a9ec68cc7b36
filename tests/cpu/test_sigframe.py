"""sigframe's register transfers (one uc_reg_*_batch call) against the binding's one-register
calls they replace, on random register states: the same FXSAVE image, the same engine state."""
import random
import struct

from unicorn import x86_const as X

from ecs_kernel.cpu import platform as P
from ecs_kernel.cpu import sigframe as S


def _fxsave_one_by_one(uc) -> bytes:
    tag = uc.reg_read(X.UC_X86_REG_FPTAG)
    fsw = uc.reg_read(X.UC_X86_REG_FPSW)
    top = (fsw >> 11) & 7
    out = bytearray(S.FPSTATE_SIZE)
    S._FX_HEAD.pack_into(out, 0, uc.reg_read(X.UC_X86_REG_FPCW), fsw,
                         sum(1 << i for i in range(8) if (tag >> (2 * i)) & 3 == 0), 0, 0, 0,
                         uc.reg_read(X.UC_X86_REG_MXCSR), S.MXCSR_MASK)
    for i in range(8):
        m, e = uc.reg_read(S._FP[(top + i) & 7])
        out[32 + 16 * i: 42 + 16 * i] = struct.pack("<QH", m, e)
    for i, r in enumerate(S._XMM):
        out[160 + 16 * i: 176 + 16 * i] = int(uc.reg_read(r)).to_bytes(16, "little")
    return bytes(out)


def _fxrstor_one_by_one(uc, image: bytes) -> None:
    fcw, fsw, abridged, _, _, _, mxcsr, _ = S._FX_HEAD.unpack_from(image, 0)
    uc.reg_write(X.UC_X86_REG_FPCW, fcw)
    uc.reg_write(X.UC_X86_REG_FPSW, fsw)
    uc.reg_write(X.UC_X86_REG_FPTAG, sum((0 if abridged >> i & 1 else 1) << (2 * i) for i in range(8)))
    uc.reg_write(X.UC_X86_REG_MXCSR, mxcsr & S.MXCSR_MASK)
    top = (fsw >> 11) & 7
    for i in range(8):
        uc.reg_write(S._FP[(top + i) & 7], struct.unpack_from("<QH", image, 32 + 16 * i))
    for i, r in enumerate(S._XMM):
        uc.reg_write(r, int.from_bytes(image[160 + 16 * i: 176 + 16 * i], "little"))


def _state(uc) -> tuple:
    regs = [X.UC_X86_REG_FPCW, X.UC_X86_REG_FPSW, X.UC_X86_REG_FPTAG, X.UC_X86_REG_MXCSR,
            *S._FP, *S._XMM, *S.UC_REG.values()]
    return tuple(uc.reg_read(r) for r in regs)


def test_batched_register_transfers_match_the_one_register_calls():
    rnd = random.Random(15)
    a, b = P.new_engine(), P.new_engine()
    for trial in range(100):
        image = rnd.randbytes(S.FPSTATE_SIZE)
        regs = {n: rnd.getrandbits(64) for n in S.UC_REG}
        regs["rip"] = rnd.getrandbits(47)
        regs["eflags"] = 0x202 | rnd.choice((0, S.FLAG_DF, S.FLAG_CF | S.FLAG_ZF))
        _fxrstor_one_by_one(a, image)
        S.restore_fpstate(b, image)
        for name, reg in S.UC_REG.items():
            a.reg_write(reg, regs[name])
        S.write_regs(b, regs)
        assert _state(a) == _state(b), trial
        assert S.save_fpstate(b) == _fxsave_one_by_one(b), trial
        assert S.read_regs(b) == {n: b.reg_read(r) for n, r in S.UC_REG.items()}, trial
        assert all(S.read_regs(b)[n] == regs[n] for n in S.GREGS), trial
