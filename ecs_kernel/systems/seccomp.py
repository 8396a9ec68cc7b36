"""seccomp: strict mode, filters of classic BPF, and the verdict on each syscall entry.

Linux: kernel/seccomp.c (seccomp_set_mode_strict/filter, seccomp_prepare_filter,
seccomp_check_filter, seccomp_run_filters, __seccomp_filter, seccomp_can_sync_threads),
net/core/filter.c (bpf_check_classic, check_load_and_stores). gVisor: kernel/seccomp.go.

State is rows (components/seccomp.py): a task's mode, the newest filter of its chain and its
``syscall_work``; each filter row links to the one installed before it and holds a reference
count; its checked program, followed by the program as given (what PTRACE_SECCOMP_GET_FILTER
returns), is an int64 array in ``world.index.seccomp_progs``. A filter is
installed only after :func:`check_filter` accepted the program (EINVAL for what Linux refuses) and
rewrote it the way seccomp_check_filter does (``LD|W|ABS`` reads seccomp_data, the ``LEN`` loads
become immediates of 64).

:func:`filter_verdict` runs every filter of a chain, newest first, and keeps the action of highest
precedence (the lowest as a signed 32-bit number: KILL_PROCESS first, ALLOW last; of equal actions
the newest filter's data). The compiled kernel is jit/seccomp_bpf.run_filter;
:func:`run_filter_reference` is its plain-Python reference, held to it by the tests. What the
verdict does to the call (the errno, SIGSYS, a kill) is :func:`syscall_entry`'s answer, which the
CPU driver's syscall hook applies (syscalls/dispatch.py); a task with syscall work never takes the
compiled fast path, so every one of its calls passes here.
"""
from __future__ import annotations

import numpy as np

from ..abi import (AUDIT_ARCH_X86_64, BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV,
                   BPF_H, BPF_IMM, BPF_IND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET,
                   BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MAXINSNS, BPF_MEM, BPF_MEMWORDS,
                   BPF_MISC, BPF_MOD, BPF_MSH, BPF_MUL, BPF_NEG, BPF_OR, BPF_RET, BPF_RSH, BPF_ST,
                   BPF_STX, BPF_SUB, BPF_TAX, BPF_TXA, BPF_W, BPF_X, BPF_XOR, CAP_SYS_ADMIN,
                   MAX_ERRNO, MAX_INSNS_PER_PATH, SECCOMP_DATA_SIZE, SECCOMP_FILTER_FLAG_LOG,
                   SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_FILTER_FLAG_SPEC_ALLOW,
                   SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
                   SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, SECCOMP_MODE_DISABLED,
                   SECCOMP_MODE_FILTER, SECCOMP_MODE_STRICT, SECCOMP_RET_ACTION_FULL,
                   SECCOMP_RET_ALLOW, SECCOMP_RET_DATA, SECCOMP_RET_ERRNO,
                   SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_LOG,
                   PTRACE_O_TRACESECCOMP,
                   SECCOMP_RET_TRACE, SECCOMP_RET_TRAP, SECCOMP_RET_USER_NOTIF, SIG_IGN, SIGKILL,
                   SIGSYS,
                   SKF_AD_OFF, SYS_SECCOMP, SYSCALL_WORK_SECCOMP)
from ..components import links, pidns, sigactions
from ..components.signals import sigmask
from ..components.task import begin_exit
from ..errors import E, KernelError
from ..jit.seccomp_bpf import run_filter
from . import task_signals
from .task_identity import capable

M32 = 0xFFFFFFFF

# what strict mode allows (x86-64 numbers: read, write, exit, rt_sigreturn): mode1_syscalls
STRICT_SYSCALLS = frozenset((0, 1, 60, 15))

FILTER_FLAGS = (SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW
                | SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC_ESRCH
                | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)

ACTIONS = frozenset((SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP,
                     SECCOMP_RET_ERRNO, SECCOMP_RET_USER_NOTIF, SECCOMP_RET_TRACE, SECCOMP_RET_LOG,
                     SECCOMP_RET_ALLOW))

_JUMPS = tuple(BPF_JMP | op | src for op in (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET)
               for src in (BPF_K, BPF_X))
_ALU_OPS = (BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH)
# net/core/filter.c chk_code_allowed: every classic BPF code
CLASSIC_CODES = frozenset((
    *(BPF_ALU | op | src for op in _ALU_OPS for src in (BPF_K, BPF_X)), BPF_ALU | BPF_NEG,
    *(BPF_LD | size | mode for size in (BPF_W, BPF_H, BPF_B) for mode in (BPF_ABS, BPF_IND)),
    BPF_LD | BPF_W | BPF_LEN, BPF_LD | BPF_IMM, BPF_LD | BPF_MEM,
    BPF_LDX | BPF_W | BPF_LEN, BPF_LDX | BPF_B | BPF_MSH, BPF_LDX | BPF_IMM, BPF_LDX | BPF_MEM,
    BPF_ST, BPF_STX, BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA, BPF_RET | BPF_K, BPF_RET | BPF_A,
    BPF_JMP | BPF_JA, *_JUMPS))
# kernel/seccomp.c seccomp_check_filter: what a seccomp program may use (besides the loads it
# rewrites)
SECCOMP_CODES = frozenset((
    BPF_RET | BPF_K, BPF_RET | BPF_A,
    *(BPF_ALU | op | src for op in _ALU_OPS if op != BPF_MOD for src in (BPF_K, BPF_X)),
    BPF_ALU | BPF_NEG, BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM, BPF_MISC | BPF_TAX,
    BPF_MISC | BPF_TXA, BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX, BPF_JMP | BPF_JA,
    *_JUMPS))


def _fields(prog: np.ndarray):
    p = prog.astype(np.int64)
    return p & 0xFFFF, (p >> 16) & 0xFF, (p >> 24) & 0xFF, (p >> 32) & M32


def _check_load_and_stores(code, jt, jf, k) -> bool:
    """check_load_and_stores: every scratch word is stored on every path before it is loaded."""
    n = len(code)
    masks = [0xFFFF] * n
    valid = 0
    for pc in range(n):
        valid &= masks[pc]
        c = code[pc]
        if c in (BPF_ST, BPF_STX):
            valid |= 1 << k[pc]
        elif c in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM):
            if not valid >> k[pc] & 1:
                return False
        elif c == BPF_JMP | BPF_JA:
            masks[pc + 1 + k[pc]] &= valid
            valid = 0xFFFF
        elif c in _JUMPS:
            masks[pc + 1 + jt[pc]] &= valid
            masks[pc + 1 + jf[pc]] &= valid
            valid = 0xFFFF
    return True


def check_filter(prog: np.ndarray) -> np.ndarray:
    """bpf_check_classic, then seccomp_check_filter: the program as seccomp runs it (a new int64
    array), or KernelError(EINVAL) for a program Linux refuses."""
    n = len(prog)
    if n == 0 or n > BPF_MAXINSNS:
        raise KernelError(E.EINVAL, "bad filter length")
    code, jt, jf, k = (a.tolist() for a in _fields(prog))
    for pc in range(n):
        c, kk = code[pc], k[pc]
        if c not in CLASSIC_CODES:
            raise KernelError(E.EINVAL, f"instruction {pc}: unknown code {c:#x}")
        if c in (BPF_ALU | BPF_DIV | BPF_K, BPF_ALU | BPF_MOD | BPF_K) and kk == 0:
            raise KernelError(E.EINVAL, "division by a constant 0")
        if c in (BPF_ALU | BPF_LSH | BPF_K, BPF_ALU | BPF_RSH | BPF_K) and kk >= 32:
            raise KernelError(E.EINVAL, "shift by 32 or more")
        if c in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX) and kk >= BPF_MEMWORDS:
            raise KernelError(E.EINVAL, "scratch word out of range")
        if c == BPF_JMP | BPF_JA and kk >= n - pc - 1:
            raise KernelError(E.EINVAL, "jump out of the program")
        if c in _JUMPS and (pc + jt[pc] + 1 >= n or pc + jf[pc] + 1 >= n):
            raise KernelError(E.EINVAL, "jump out of the program")
        if c & 7 == BPF_LD and c & 0xE0 == BPF_ABS and kk >= SKF_AD_OFF:
            raise KernelError(E.EINVAL, "ancillary load")  # seccomp supports none of them
    if code[-1] not in (BPF_RET | BPF_K, BPF_RET | BPF_A):
        raise KernelError(E.EINVAL, "the last instruction does not return")
    if not _check_load_and_stores(code, jt, jf, k):
        raise KernelError(E.EINVAL, "a scratch word is loaded before it is stored")
    out = prog.astype(np.int64).copy()
    for pc in range(n):
        c, kk = code[pc], k[pc]
        if c == BPF_LD | BPF_W | BPF_ABS:
            if kk >= SECCOMP_DATA_SIZE or kk & 3:
                raise KernelError(E.EINVAL, "load outside seccomp_data or unaligned")
        elif c == BPF_LD | BPF_W | BPF_LEN:
            out[pc] = (BPF_LD | BPF_IMM) | SECCOMP_DATA_SIZE << 32
        elif c == BPF_LDX | BPF_W | BPF_LEN:
            out[pc] = (BPF_LDX | BPF_IMM) | SECCOMP_DATA_SIZE << 32
        elif c not in SECCOMP_CODES:
            raise KernelError(E.EINVAL, f"instruction {pc}: {c:#x} is not allowed in seccomp")
    return out


def run_filter_reference(prog, data) -> int:
    """The plain-Python reference of jit/seccomp_bpf.run_filter (same arguments, same result)."""
    a = x = 0
    mem = [0] * BPF_MEMWORDS
    pc = 0
    code, jt, jf, k = (v.tolist() for v in _fields(np.asarray(prog)))
    words = [int(w) for w in data]
    while True:
        c, kk = code[pc], k[pc]
        pc += 1
        cls = c & 7
        if cls == BPF_RET:
            return a if c == BPF_RET | BPF_A else kk
        if c == BPF_LD | BPF_W | BPF_ABS:
            a = words[kk // 4]
        elif c == BPF_LD | BPF_IMM:
            a = kk
        elif c == BPF_LDX | BPF_IMM:
            x = kk
        elif c == BPF_LD | BPF_MEM:
            a = mem[kk]
        elif c == BPF_LDX | BPF_MEM:
            x = mem[kk]
        elif c == BPF_ST:
            mem[kk] = a
        elif c == BPF_STX:
            mem[kk] = x
        elif c == BPF_MISC | BPF_TAX:
            x = a
        elif c == BPF_MISC | BPF_TXA:
            a = x
        elif c == BPF_ALU | BPF_NEG:
            a = -a & M32
        elif cls == BPF_ALU:
            v = x if c & BPF_X else kk
            op = c & 0xF0
            if op == BPF_DIV and v == 0:
                return 0
            a = {BPF_ADD: lambda: a + v, BPF_SUB: lambda: a - v, BPF_MUL: lambda: a * v,
                 BPF_DIV: lambda: a // v, BPF_AND: lambda: a & v, BPF_OR: lambda: a | v,
                 BPF_XOR: lambda: a ^ v, BPF_LSH: lambda: a << (v & 31),
                 BPF_RSH: lambda: a >> (v & 31)}[op]() & M32
        elif c == BPF_JMP | BPF_JA:
            pc += kk
        else:
            v = x if c & BPF_X else kk
            op = c & 0xF0
            taken = {BPF_JEQ: a == v, BPF_JGT: a > v, BPF_JGE: a >= v, BPF_JSET: a & v != 0}[op]
            pc += jt[pc - 1] if taken else jf[pc - 1]


def seccomp_data(nr: int, ip: int, args) -> np.ndarray:
    """struct seccomp_data as 16 uint32 words: nr, arch, instruction_pointer, args[6]."""
    d = np.zeros(16, np.uint32)
    d[0] = nr & M32
    d[1] = AUDIT_ARCH_X86_64
    for i, v in enumerate((ip, *args)):
        d[2 + 2 * i] = v & M32
        d[3 + 2 * i] = (v >> 32) & M32
    return d


def _signed_action(ret: int) -> int:
    action = ret & SECCOMP_RET_ACTION_FULL
    return action - (1 << 32) if action >> 31 else action


def filter_verdict(world, f: int, data: np.ndarray) -> int:
    """seccomp_run_filters: the 32-bit verdict of the chain ending at filter row ``f``."""
    F = world.seccomp_filters
    progs = world.index.seccomp_progs
    ret = SECCOMP_RET_ALLOW
    while f >= 0:
        cur = int(run_filter(progs[f][:int(F.insns[f])], data)) & M32
        if _signed_action(cur) < _signed_action(ret):
            ret = cur
        f = int(F.prev[f])
    return ret


def get_filter(world, tracer: int, t: int, index: int) -> np.ndarray:
    """seccomp_get_filter (PTRACE_SECCOMP_GET_FILTER): the program as installed of filter
    ``index`` of ``t``'s chain, 0 the oldest. EACCES unless the tracer has CAP_SYS_ADMIN and no
    seccomp of its own, EINVAL if ``t`` is not in filter mode, ENOENT past the chain."""
    T, F = world.tasks, world.seccomp_filters
    if not capable(world, tracer, CAP_SYS_ADMIN) or \
            int(T.seccomp_mode[tracer]) != SECCOMP_MODE_DISABLED:
        raise KernelError(E.EACCES, "PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN, no seccomp")
    if int(T.seccomp_mode[t]) != SECCOMP_MODE_FILTER:
        raise KernelError(E.EINVAL, "the tracee has no filters")
    chain = []
    f = int(T.seccomp_filter[t])
    while f >= 0:
        chain.append(f)
        f = int(F.prev[f])
    if index >= len(chain):
        raise KernelError(E.ENOENT, "no such filter")
    f = chain[len(chain) - 1 - index]
    return world.index.seccomp_progs[f][int(F.insns[f]):]


# -- installing ---------------------------------------------------------------------------------------

def _set_mode(world, t: int, mode: int) -> None:
    T = world.tasks
    T.seccomp_mode[t] = mode
    if mode == SECCOMP_MODE_DISABLED:
        T.syscall_work[t] &= ~SYSCALL_WORK_SECCOMP & 0xFF
    else:
        T.syscall_work[t] |= SYSCALL_WORK_SECCOMP


def set_mode_strict(world, t: int) -> None:
    """seccomp_set_mode_strict: only read, write, exit and rt_sigreturn from now on."""
    mode = int(world.tasks.seccomp_mode[t])
    if mode not in (SECCOMP_MODE_DISABLED, SECCOMP_MODE_STRICT):
        raise KernelError(E.EINVAL, "already in filter mode")
    _set_mode(world, t, SECCOMP_MODE_STRICT)


def _ref(world, f: int) -> None:
    if f >= 0:
        world.seccomp_filters.refs[f] += 1


def unref(world, f: int) -> None:
    """__seccomp_filter_release: drop one reference; a filter no one uses frees its chain link."""
    F = world.seccomp_filters
    while f >= 0:
        F.refs[f] -= 1
        if F.refs[f] > 0:
            return
        prev = int(F.prev[f])
        world.index.seccomp_progs.pop(f, None)
        F.free(f)
        f = prev


def _is_ancestor(world, parent: int, child: int) -> bool:
    """is_ancestor: is filter ``parent`` on the chain ending at ``child`` (-1 is everyone's)?"""
    if parent < 0:
        return True
    F = world.seccomp_filters
    while child >= 0:
        if child == parent:
            return True
        child = int(F.prev[child])
    return False


def set_mode_filter(world, t: int, flags: int, prog: np.ndarray) -> int:
    """seccomp_set_mode_filter with a program already read from the guest: check it, link it
    on top of the task's chain (every thread's, with TSYNC). Returns 0, or with TSYNC the tid of a
    thread that cannot be synchronised (0 when all were)."""
    T = world.tasks
    if flags & ~FILTER_FLAGS:
        raise KernelError(E.EINVAL, "unknown filter flags")
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER:
        raise KernelError(E.EINVAL, "user notification listeners are not modelled")
    if not T.no_new_privs[t] and not capable(world, t, CAP_SYS_ADMIN):
        raise KernelError(E.EACCES, "a filter needs no_new_privs or CAP_SYS_ADMIN")
    checked = check_filter(prog)
    mode = int(T.seccomp_mode[t])
    if mode not in (SECCOMP_MODE_DISABLED, SECCOMP_MODE_FILTER):
        raise KernelError(E.EINVAL, "already in strict mode")
    old = int(T.seccomp_filter[t])
    F = world.seccomp_filters
    total = len(checked) + 4 + (int(F.path_insns[old]) if old >= 0 else 0)
    if total > MAX_INSNS_PER_PATH:
        raise KernelError(E.ENOMEM, "filter chain too long")
    threads = [t]
    if flags & SECCOMP_FILTER_FLAG_TSYNC:
        G = world.thread_groups
        threads = [r for r in links.members(G.task_head, int(T.tg[t]), T.tg_next)
                   if int(T.exit_state[r]) == 0]
        for r in threads:  # seccomp_can_sync_threads
            if r == t:
                continue
            if int(T.seccomp_mode[r]) == SECCOMP_MODE_DISABLED or (
                    int(T.seccomp_mode[r]) == SECCOMP_MODE_FILTER
                    and _is_ancestor(world, int(T.seccomp_filter[r]), old)):
                continue
            if flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH:
                raise KernelError(E.ESRCH, "a thread cannot be synchronised")
            return pidns.tid_in(world, r, int(T.ns[t]))
    f = F.alloc()
    F.prev[f] = old  # the new filter takes over the task's reference to the old one
    F.refs[f] = 1
    F.insns[f] = len(checked)
    F.path_insns[f] = total
    F.log[f] = bool(flags & SECCOMP_FILTER_FLAG_LOG)
    # the checked program, then the one given (orig_prog: PTRACE_SECCOMP_GET_FILTER's answer)
    world.index.seccomp_progs[f] = np.concatenate([checked, np.asarray(prog).astype(np.int64)])
    T.seccomp_filter[t] = f
    _set_mode(world, t, SECCOMP_MODE_FILTER)
    for r in threads:  # seccomp_sync_threads
        if r == t:
            continue
        _ref(world, f)
        unref(world, int(T.seccomp_filter[r]))
        T.seccomp_filter[r] = f
        if T.no_new_privs[t]:
            T.no_new_privs[r] = True
        _set_mode(world, r, SECCOMP_MODE_FILTER)
    return 0


def on_clone(world, child) -> None:
    """copy_seccomp: the child (a row or rows) shares its creator's chain (the columns were copied
    with the task's inherited ones)."""
    F, T = world.seccomp_filters, world.tasks
    T.syscall_work[child] = np.where(T.seccomp_mode[child] != SECCOMP_MODE_DISABLED,
                                     SYSCALL_WORK_SECCOMP, 0)
    f = T.seccomp_filter[child]
    if np.ndim(f) == 0:
        _ref(world, int(f))
        return
    f = f[f >= 0].astype(np.int64)
    if len(f):
        np.add.at(F.refs, f, 1)


def on_release(world, t: int) -> None:
    """seccomp_filter_release: a released task drops its chain."""
    T = world.tasks
    f = int(T.seccomp_filter[t])
    if f >= 0:
        T.seccomp_filter[t] = -1
        unref(world, f)


def filter_count(world, t: int) -> int:
    """/proc/<pid>/status's Seccomp_filters: the filters on the task's chain."""
    F = world.seccomp_filters
    f, n = int(world.tasks.seccomp_filter[t]), 0
    while f >= 0:
        n += 1
        f = int(F.prev[f])
    return n


# -- the verdict on a syscall entry -------------------------------------------------------------------

ALLOW = 0  # syscall_entry: run the call
SKIP = 1  # the call does not run: the result is the answer's value
KILLED = 2  # the task dies (the call does not run)


def force_sigsys(world, t: int, nr: int, reason: int, ip: int, *, coredump: bool) -> None:
    """force_sig_seccomp: SIGSYS with si_code SYS_SECCOMP, si_syscall ``nr``, si_arch, si_errno
    ``reason`` and si_call_addr ``ip``; forced (unblocked, a SIG_IGN handler reset), and with
    ``coredump`` (a kill) the default action whatever the handler."""
    T = world.tasks
    sh = int(T.sighand[t])
    blocked = int(T.sig_mask[t]) & sigmask(SIGSYS)
    if sh >= 0 and (coredump or blocked or
                    task_signals.handler_of(world, t, SIGSYS) == SIG_IGN):
        sigactions.reset_handler(world, sh, SIGSYS)
    if blocked:
        T.sig_mask[t] &= ~sigmask(SIGSYS)
    ip &= (1 << 64) - 1  # (the vsyscall page's addresses have the top bit set)
    task_signals.send_signal(world, t, SIGSYS, group=False, code=SYS_SECCOMP, pid=nr,
                             uid=reason, value=ip - (1 << 64) if ip >> 63 else ip)


TRACE = 3  # syscall_entry: a PTRACE_EVENT_SECCOMP stop for the tracer (the value: the data)


def syscall_entry(world, t: int, nr: int, ip: int, args) -> tuple[int, int]:
    """__secure_computing for a task with seccomp on, before the call runs: (ALLOW, 0),
    (SKIP, value for rax), (KILLED, 0) or, for SECCOMP_RET_TRACE and a tracer that asked for it
    (PTRACE_O_TRACESECCOMP), (TRACE, the filter's data): the CPU driver stops the task for the
    tracer, then runs the call again, filtered once more (a second TRACE allows it)."""
    T = world.tasks
    mode = int(T.seccomp_mode[t])
    if mode == SECCOMP_MODE_STRICT:
        if nr in STRICT_SYSCALLS:
            return ALLOW, 0
        task_signals.send_task_signal(world, t, SIGKILL)  # do_exit(SIGKILL)
        return KILLED, 0
    if mode != SECCOMP_MODE_FILTER:
        return ALLOW, 0
    ret = filter_verdict(world, int(T.seccomp_filter[t]), seccomp_data(nr, ip, args))
    action = ret & SECCOMP_RET_ACTION_FULL
    data = ret & SECCOMP_RET_DATA
    if action in (SECCOMP_RET_ALLOW, SECCOMP_RET_LOG):
        return ALLOW, 0
    if action == SECCOMP_RET_ERRNO:
        return SKIP, -min(data, MAX_ERRNO)
    if action == SECCOMP_RET_TRAP:
        force_sigsys(world, t, nr, data, ip, coredump=False)
        return SKIP, nr  # syscall_rollback: the handler sees rax as orig_ax
    if action == SECCOMP_RET_TRACE:
        if T.seccomp_traced[t]:  # recheck_after_trace: the tracer has seen it
            T.seccomp_traced[t] = False
            return ALLOW, 0
        if T.ptracer[t] >= 0 and T.ptrace_flags[t] & PTRACE_O_TRACESECCOMP:
            return TRACE, data
        return SKIP, -E.ENOSYS  # no tracer asked for the event
    if action == SECCOMP_RET_USER_NOTIF:
        return SKIP, -E.ENOSYS  # no listener
    # SECCOMP_RET_KILL_THREAD, KILL_PROCESS and anything unknown
    _set_mode(world, t, mode)
    if action == SECCOMP_RET_KILL_THREAD and _other_threads_live(world, t):
        T.exit_code[t] = SIGSYS  # do_exit(SIGSYS): this thread only, as if killed by it
        begin_exit(world, t)
    elif T.ptracer[t] >= 0:
        # HANDLER_EXIT (SA_IMMUTABLE): a tracer gets no signal-delivery stop to cancel it
        task_signals.group_kill(world, int(T.tg[t]), SIGSYS)
        T.exit_code[t] = SIGSYS
        begin_exit(world, t)
    else:
        force_sigsys(world, t, nr, data, ip, coredump=True)
    return KILLED, 0


def _other_threads_live(world, t: int) -> bool:
    T, G = world.tasks, world.thread_groups
    return any(r != t and int(T.exit_state[r]) == 0
               for r in links.members(G.task_head, int(T.tg[t]), T.tg_next))


__all__ = ["check_filter", "run_filter_reference", "filter_verdict", "set_mode_strict",
           "set_mode_filter", "syscall_entry", "on_clone", "on_release", "filter_count",
           "seccomp_data", "ACTIONS", "ALLOW", "SKIP", "KILLED"]
