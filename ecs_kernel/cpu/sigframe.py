"""The x86-64 signal frame (Linux ``struct rt_sigframe``), as bytes in guest memory.

Linux: arch/x86/kernel/signal.c (get_sigframe, x64_setup_rt_frame, restore_sigcontext),
arch/x86/include/uapi/asm/sigcontext.h, include/uapi/asm-generic/ucontext.h, siginfo.h.

Layout, from the frame address ``sp`` (16-byte aligned minus 8, as right after a ``call``)::

    sp + 0    pretcode      the handler's return address: sa_restorer (SA_RESTORER is required)
    sp + 8    ucontext      uc_flags, uc_link, uc_stack (24 bytes), uc_mcontext (struct sigcontext,
                            256 bytes), uc_sigmask (8 bytes): 304 bytes
    sp + 312  siginfo       128 bytes
    above     fpstate       the 512-byte FXSAVE image (x87, MXCSR, XMM0-15), 64-byte aligned,
                            pointed to by uc_mcontext.fpstate

glibc's ``ucontext_t`` reads the same offsets (its uc_sigmask is longer, but starts at the same
place). No XSAVE header is written (sw_reserved magic is 0), so a handler sees legacy FP state, as
on a CPU without XSAVE.
"""
from __future__ import annotations

import ctypes
import struct

from unicorn import UcError
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from ..abi import SS_DISABLE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS, USER_CS, USER_SS

# struct sigcontext's general registers, in order.
GREGS = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx",
         "rdx", "rax", "rcx", "rsp", "rip")
UC_REG = {name: getattr(X, f"UC_X86_REG_{name.upper()}") for name in GREGS}
UC_REG["eflags"] = X.UC_X86_REG_EFLAGS

UCONTEXT_OFF = 8
MCONTEXT_OFF = UCONTEXT_OFF + 40  # after uc_flags, uc_link, uc_stack
SIGMASK_OFF = MCONTEXT_OFF + 256
SIGINFO_OFF = SIGMASK_OFF + 8  # 312
FRAME_SIZE = SIGINFO_OFF + 128  # 440
FPSTATE_SIZE = 512
REDZONE = 128

# EFLAGS bits a sigreturn may change (Linux FIX_EFLAGS), and those cleared at handler entry.
FLAG_CF, FLAG_PF, FLAG_AF, FLAG_ZF, FLAG_SF, FLAG_TF, FLAG_DF, FLAG_OF = (
    0x1, 0x4, 0x10, 0x40, 0x80, 0x100, 0x400, 0x800)
FLAG_RF, FLAG_AC = 0x10000, 0x40000
FIX_EFLAGS = (FLAG_AC | FLAG_OF | FLAG_DF | FLAG_TF | FLAG_SF | FLAG_ZF | FLAG_AF | FLAG_PF |
              FLAG_CF | FLAG_RF)
ENTRY_CLEAR_EFLAGS = FLAG_DF | FLAG_RF | FLAG_TF

_MCTX = struct.Struct("<17QQHHHHQQQQQ8Q")  # gregs, eflags, cs gs fs ss, err trapno oldmask cr2, fpstate, reserved
_STACK = struct.Struct("<QiiQ")
_SIGINFO_HEAD = struct.Struct("<iii4x")
assert _MCTX.size == 256


def frame_address(sp: int, altstack: tuple[int, int, int] | None, use_altstack: bool) -> tuple[int, int]:
    """get_sigframe: (frame address, fpstate address) below ``sp`` (skipping the red zone), or on
    the alternate stack when the handler asked for it and the task is not already on it."""
    if use_altstack and altstack is not None:
        ss_sp, ss_flags, ss_size = altstack
        if not ss_flags & SS_DISABLE and not on_stack(sp, altstack):
            sp = ss_sp + ss_size
        else:
            sp -= REDZONE
    else:
        sp -= REDZONE
    fp = (sp - FPSTATE_SIZE) & ~63
    frame = ((fp - FRAME_SIZE) & ~15) - 8
    return frame, fp


def on_stack(sp: int, altstack: tuple[int, int, int] | None) -> bool:
    if altstack is None or altstack[1] & SS_DISABLE:
        return False
    return altstack[0] < sp <= altstack[0] + altstack[2]


def pack_siginfo(signo: int, code: int, fields: bytes, errno: int = 0) -> bytes:
    """128 bytes: si_signo, si_errno, si_code, then the union (``fields``, padded)."""
    return (_SIGINFO_HEAD.pack(signo, errno, code) + fields).ljust(128, b"\0")[:128]


def pack_frame(regs: dict[str, int], *, restorer: int, sigmask: int, siginfo: bytes,
               fpstate_addr: int, uc_stack: tuple[int, int, int]) -> bytes:
    """The rt_sigframe bytes (without the FP image) for ``regs`` (GREGS and eflags)."""
    gregs = [regs[name] & (2 ** 64 - 1) for name in GREGS]
    mctx = _MCTX.pack(*gregs, regs["eflags"], USER_CS, 0, 0, USER_SS, 0, 0,
                      sigmask & 0xFFFF_FFFF_FFFF_FFFF, 0, fpstate_addr, *([0] * 8))
    ss_sp, ss_flags, ss_size = uc_stack
    uc = struct.pack("<QQ", UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, 0) + \
        _STACK.pack(ss_sp, ss_flags, 0, ss_size) + mctx + struct.pack("<Q", sigmask)
    return struct.pack("<Q", restorer) + uc + siginfo


def unpack_frame(data: bytes) -> tuple[dict[str, int], int, int, tuple[int, int, int]]:
    """(regs, sigmask, fpstate address, uc_stack) from the first FRAME_SIZE bytes of a frame."""
    ss_sp, ss_flags, _, ss_size = _STACK.unpack_from(data, UCONTEXT_OFF + 16)
    vals = _MCTX.unpack_from(data, MCONTEXT_OFF)
    regs = dict(zip(GREGS, vals[:17]))
    regs["eflags"] = vals[17]
    fpstate = vals[26]
    sigmask, = struct.unpack_from("<Q", data, SIGMASK_OFF)
    return regs, sigmask, fpstate, (ss_sp, ss_flags, ss_size)


# -- the FXSAVE image ---------------------------------------------------------------------------------

# Physical x87 registers R0-R7 as (mantissa, exponent); ST(i) is R[(TOP + i) % 8].
_FP = [getattr(X, f"UC_X86_REG_FP{i}") for i in range(8)]
_XMM = [getattr(X, f"UC_X86_REG_XMM{i}") for i in range(16)]
_FX_HEAD = struct.Struct("<HHBxHQQII")  # fcw fsw ftw(abridged) fop rip rdp mxcsr mxcsr_mask
MXCSR_MASK = 0xFFFF


class _RegBatch:
    """Registers read or written in one ``uc_reg_read_batch``/``uc_reg_write_batch`` call through
    ctypes, each in a 16-byte slot (an XMM register, an x87 register's mantissa and exponent,
    or a narrower one zero-extended): one call instead of one binding call a register (~2 us
    each: a fork and every signal frame move ~60 of them)."""

    _read = _write = None

    def __init__(self, regs):
        n = len(regs)
        self.n = n
        self.ids = (ctypes.c_int * n)(*regs)
        self.buf = (ctypes.c_uint64 * (2 * n))()
        base = ctypes.addressof(self.buf)
        self.ptrs = (ctypes.c_void_p * n)(*[base + 16 * i for i in range(n)])
        if _RegBatch._read is None:
            raw = ctypes.CDLL(uclib._name)  # own function objects: argtypes of our own
            for f in (raw.uc_reg_read_batch, raw.uc_reg_write_batch):
                f.restype = ctypes.c_int
                f.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
            _RegBatch._read, _RegBatch._write = raw.uc_reg_read_batch, raw.uc_reg_write_batch

    def read(self, uc) -> list[int]:
        """The slots as 64-bit words: register i's low word at 2i, high word at 2i+1."""
        ctypes.memset(self.buf, 0, ctypes.sizeof(self.buf))
        status = _RegBatch._read(uc._uch, self.ids, self.ptrs, self.n)
        if status:
            raise UcError(status)
        return self.buf[:]

    def write(self, uc, words) -> None:
        """Write the registers from ``words`` (as :meth:`read` returns them)."""
        self.buf[:] = words
        status = _RegBatch._write(uc._uch, self.ids, self.ptrs, self.n)
        if status:
            raise UcError(status)


# written in this order, as the one-register writes were: FPCW, FPSW, the tag word, MXCSR
_FP_HEAD_REGS = (X.UC_X86_REG_FPCW, X.UC_X86_REG_FPSW, X.UC_X86_REG_FPTAG, X.UC_X86_REG_MXCSR)
_FP_ALL = _RegBatch(_FP_HEAD_REGS + tuple(_FP) + tuple(_XMM))  # R0-R7 physical order
_GREGS_BATCH = _RegBatch(tuple(UC_REG.values()))
_M64 = 0xFFFF_FFFF_FFFF_FFFF


def save_fpstate(uc) -> bytes:
    """The FXSAVE image of the engine's x87/SSE state."""
    w = _FP_ALL.read(uc)
    # Unicorn keeps the full tag word with 00 for a valid register and 01 (not x87's 11) for
    # an empty one; FXSAVE's abridged tag has one bit per physical register, 1 = valid.
    fcw, fsw, tag, mxcsr = w[0], w[2], w[4], w[6]
    abridged = sum(1 << i for i in range(8) if (tag >> (2 * i)) & 3 == 0)
    top = (fsw >> 11) & 7
    out = bytearray(FPSTATE_SIZE)
    _FX_HEAD.pack_into(out, 0, fcw, fsw, abridged, 0, 0, 0, mxcsr, MXCSR_MASK)
    for i in range(8):
        k = 2 * (4 + ((top + i) & 7))
        struct.pack_into("<QH", out, 32 + 16 * i, w[k], w[k + 1] & 0xFFFF)
    for i in range(16):
        k = 2 * (12 + i)
        struct.pack_into("<QQ", out, 160 + 16 * i, w[k], w[k + 1])
    return bytes(out)


def restore_fpstate(uc, image: bytes) -> None:
    """Load an FXSAVE image (as a sigreturn does); reserved MXCSR bits are dropped."""
    fcw, fsw, abridged, _, _, _, mxcsr, _ = _FX_HEAD.unpack_from(image, 0)
    w = [0] * (2 * _FP_ALL.n)
    w[0], w[2], w[6] = fcw, fsw, mxcsr & MXCSR_MASK
    w[4] = sum((0 if abridged >> i & 1 else 1) << (2 * i) for i in range(8))
    top = (fsw >> 11) & 7
    for i in range(8):
        k = 2 * (4 + ((top + i) & 7))
        w[k], w[k + 1] = struct.unpack_from("<QH", image, 32 + 16 * i)
    for i in range(16):
        k = 2 * (12 + i)
        w[k], w[k + 1] = struct.unpack_from("<QQ", image, 160 + 16 * i)
    _FP_ALL.write(uc, w)


def read_regs(uc) -> dict[str, int]:
    return dict(zip(UC_REG, _GREGS_BATCH.read(uc)[::2]))


def write_regs(uc, regs: dict[str, int], *, skip: tuple[str, ...] = ()) -> None:
    """Write :func:`read_regs`'s registers (all but ``skip``) back to an engine."""
    if skip:
        for name, reg in UC_REG.items():
            if name not in skip:
                uc.reg_write(reg, regs[name] & _M64)
        return
    w = [0] * (2 * _GREGS_BATCH.n)
    w[::2] = [regs[name] & _M64 for name in UC_REG]
    _GREGS_BATCH.write(uc, w)


def load_context(uc, regs: dict[str, int], fp: bytes, fs_base: int, gs_base: int) -> None:
    """A whole user context into an engine: registers, FP state, segment bases."""
    write_regs(uc, regs)
    restore_fpstate(uc, fp)
    uc.reg_write(X.UC_X86_REG_FS_BASE, fs_base)
    uc.reg_write(X.UC_X86_REG_GS_BASE, gs_base)


__all__ = ["frame_address", "on_stack", "pack_siginfo", "pack_frame", "unpack_frame",
           "save_fpstate", "restore_fpstate", "read_regs", "write_regs", "load_context", "FRAME_SIZE", "SIGINFO_OFF",
           "UCONTEXT_OFF", "FIX_EFLAGS", "ENTRY_CLEAR_EFLAGS"]
