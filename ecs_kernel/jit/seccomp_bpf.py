"""The seccomp filter kernel: one classic BPF program run over one ``struct seccomp_data``.

Linux: kernel/seccomp.c (seccomp_run_filters), net/core/filter.c (the classic BPF machine the
checked program runs on). gVisor: pkg/bpf/interpreter.go.

``prog`` is an int64 array, one ``struct sock_filter`` per item as its 8 little-endian bytes read
as one integer (``code`` in bits 0-15, ``jt`` 16-23, ``jf`` 24-31, ``k`` 32-63); ``data`` the
seccomp_data as 16 uint32 words (nr, arch, instruction_pointer low and high, args[6] low and
high). The program must have passed :func:`ecs_kernel.systems.seccomp.check_filter` (Linux's
bpf_check_classic and seccomp_check_filter): every jump lands inside it, every memory word is
stored before it is loaded, the last instruction returns, and only the instructions seccomp allows
appear (``BPF_LD|BPF_W|BPF_ABS`` reads seccomp_data; the ``LEN`` loads were rewritten to
immediates of 64 by the check). The machine is 32 bits wide: A, X and the 16 scratch words.

Division by an X of zero ends the program with 0 (classic BPF's rule, kept by Linux's conversion
to eBPF: SECCOMP_RET_KILL_THREAD); shifts by X use its low 5 bits, as Linux's interpreter and JIT
do. The plain-Python reference is :func:`ecs_kernel.systems.seccomp.run_filter_reference`; the
tests hold the two to the same verdict on random programs.
"""
from __future__ import annotations

import numpy as np

from ecs_kernel.abi import (BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_DIV, BPF_IMM, BPF_JA,
                            BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_LD, BPF_LDX, BPF_LSH,
                            BPF_MEM, BPF_MISC, BPF_MUL, BPF_NEG, BPF_OR, BPF_RET, BPF_RSH, BPF_ST,
                            BPF_STX, BPF_SUB, BPF_TAX, BPF_TXA, BPF_W, BPF_X, BPF_XOR)
from ecs_kernel.jit.options import jit

M32 = 0xFFFFFFFF

# the codes the kernel distinguishes (after seccomp_check_filter's rewriting)
LD_ABS = BPF_LD | BPF_W | BPF_ABS
LD_IMM = BPF_LD | BPF_IMM
LDX_IMM = BPF_LDX | BPF_IMM
LD_MEM = BPF_LD | BPF_MEM
LDX_MEM = BPF_LDX | BPF_MEM
RET_K = BPF_RET
RET_A = BPF_RET | BPF_A
TAX = BPF_MISC | BPF_TAX
TXA = BPF_MISC | BPF_TXA
JA = BPF_JMP | BPF_JA
NEG = BPF_ALU | BPF_NEG


@jit
def run_filter(prog, data):
    """The 32-bit value the program returns for ``data`` (an action and its data)."""
    a = 0
    x = 0
    mem = np.zeros(16, np.int64)
    pc = 0
    n = prog.shape[0]
    while pc < n:
        ins = prog[pc]
        code = ins & 0xFFFF
        jt = (ins >> 16) & 0xFF
        jf = (ins >> 24) & 0xFF
        k = (ins >> 32) & M32
        pc += 1
        cls = code & 7
        if cls == BPF_RET:
            return a if code == RET_A else k
        if cls == BPF_LD:
            if code == LD_ABS:
                a = np.int64(data[k >> 2])
            elif code == LD_IMM:
                a = k
            elif code == LD_MEM:
                a = mem[k]
        elif cls == BPF_LDX:
            if code == LDX_IMM:
                x = k
            elif code == LDX_MEM:
                x = mem[k]
        elif cls == BPF_ST:
            mem[k] = a
        elif cls == BPF_STX:
            mem[k] = x
        elif cls == BPF_MISC:
            if code == TAX:
                x = a
            else:
                a = x
        elif cls == BPF_ALU:
            if code == NEG:
                a = (-a) & M32
                continue
            v = x if code & BPF_X else k
            op = code & 0xF0
            if op == BPF_ADD:
                a = (a + v) & M32
            elif op == BPF_SUB:
                a = (a - v) & M32
            elif op == BPF_MUL:
                a = (a * v) & M32
            elif op == BPF_DIV:
                if v == 0:
                    return 0
                a = a // v
            elif op == BPF_AND:
                a = a & v
            elif op == BPF_OR:
                a = a | v
            elif op == BPF_XOR:
                a = a ^ v
            elif op == BPF_LSH:
                a = (a << (v & 31)) & M32
            elif op == BPF_RSH:
                a = a >> (v & 31)
        elif cls == BPF_JMP:
            if code == JA:
                pc += k
                continue
            v = x if code & BPF_X else k
            op = code & 0xF0
            if op == BPF_JEQ:
                taken = a == v
            elif op == BPF_JGT:
                taken = a > v
            elif op == BPF_JGE:
                taken = a >= v
            else:  # BPF_JSET
                taken = (a & v) != 0
            pc += jt if taken else jf
    return 0  # not reached by a checked program (its last instruction returns)


__all__ = ["run_filter"]
