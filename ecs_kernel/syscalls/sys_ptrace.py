"""ptrace(2) (gVisor: syscalls/linux/sys_thread.go Ptrace, kernel/ptrace.go; Linux:
kernel/ptrace.c ptrace_request, arch/x86/kernel/ptrace.c arch_ptrace).

The kernel half (links, permission, resuming, events) is systems/ptrace.py; this module reads the
requests and does what needs the tracee's CPU: its registers (``struct user_regs_struct``, the
user area, NT_PRSTATUS and NT_PRFPREG register sets), its memory, and re-running a syscall the
tracer let go on from its entry stop.
"""
from __future__ import annotations

import struct

from unicorn import x86_const as X

from ..abi import (AUDIT_ARCH_X86_64, NT_PRFPREG, NT_PRSTATUS, PTRACE_ATTACH, PTRACE_CONT,
                   PTRACE_DETACH, PTRACE_GET_SYSCALL_INFO, PTRACE_GETEVENTMSG, PTRACE_GETFPREGS,
                   PTRACE_GETREGS, PTRACE_GETREGSET, PTRACE_GETSIGINFO, PTRACE_GETSIGMASK,
                   PTRACE_INTERRUPT, PTRACE_KILL, PTRACE_LISTEN, PTRACE_PEEKSIGINFO,
                   PTRACE_PEEKSIGINFO_SHARED, PTRACE_SECCOMP_GET_FILTER, PTRACE_PEEKDATA,
                   PTRACE_PEEKTEXT, PTRACE_PEEKUSR, PTRACE_POKEDATA, PTRACE_POKETEXT,
                   PTRACE_POKEUSR, PTRACE_SEIZE, PTRACE_SETFPREGS, PTRACE_SETOPTIONS,
                   PTRACE_SETREGS, PTRACE_SETREGSET, PTRACE_SETSIGINFO, PTRACE_SETSIGMASK,
                   PTRACE_EVENT_SECCOMP, PTRACE_SINGLESTEP, PTRACE_SYSCALL, PTRACE_SYSEMU,
                   PTRACE_SYSEMU_SINGLESTEP,
                   PTRACE_SYSCALL_INFO_ENTRY, PTRACE_SYSCALL_INFO_SECCOMP,
                   PTRACE_SYSCALL_INFO_EXIT, PTRACE_SYSCALL_INFO_NONE, PTRACE_TRACEME,
                   SIGTRAP, TASK_SIZE, UNBLOCKABLE, USER_AREA_SIZE, USER_CS,
                   USER_DEBUGREG_OFFSET as DEBUGREG_OFF, USER_FPREGS_SIZE, USER_REGS_SIZE, USER_SS)
from ..components import pidns
from ..components import ptrace as P
from ..errors import E, KernelError
from ..systems import ptrace, seccomp, task_signals
from .context import s64
from .registry import PARTIAL, syscall

MASK64 = (1 << 64) - 1
FLAG_MASK = 0x3F7FD5  # the eflags bits a tracer may change (arch/x86 FLAG_MASK)

# struct user_regs_struct, in order: the engine's register, or None for orig_rax / a segment
REGS = ("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx",
        "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds",
        "es", "fs", "gs")
_UC = {name: getattr(X, f"UC_X86_REG_{name.upper()}") for name in REGS
       if name not in ("orig_rax", "cs", "ss", "ds", "es", "fs", "gs")}
_FIXED = {"cs": USER_CS, "ss": USER_SS, "ds": 0, "es": 0, "fs": 0, "gs": 0}


def get_regs(t, row: int) -> list[int]:
    """The tracee's user_regs_struct as 27 integers."""
    uc = t.machine.tracee_engine(row)
    T = t.world.tasks
    out = []
    for name in REGS:
        if name == "orig_rax":
            out.append(int(T.ptrace_orig_ax[row]) & MASK64)
        elif name in _FIXED:
            out.append(_FIXED[name])
        else:
            out.append(uc.reg_read(_UC[name]) & MASK64)
    return out


def set_reg(t, row: int, index: int, value: int) -> None:
    """putreg: one register of the tracee (EIO for a segment it may not change, a base past
    TASK_SIZE)."""
    name = REGS[index]
    value &= MASK64
    if name == "orig_rax":
        t.world.tasks.ptrace_orig_ax[row] = s64(value)
        return
    if name in _FIXED:
        if value != _FIXED[name]:
            raise KernelError(E.EIO, f"{name} cannot change")
        return
    if name in ("fs_base", "gs_base") and value >= TASK_SIZE:
        raise KernelError(E.EIO, "segment base past TASK_SIZE")
    uc = t.machine.tracee_engine(row)
    if name == "eflags":
        value = (uc.reg_read(_UC[name]) & ~FLAG_MASK) | (value & FLAG_MASK)
    uc.reg_write(_UC[name], value)


def set_regs(t, row: int, values) -> None:
    for i in range(len(REGS)):  # every value is checked before the first is written
        name = REGS[i]
        if name in _FIXED and values[i] & MASK64 != _FIXED[name]:
            raise KernelError(E.EIO, f"{name} cannot change")
        if name in ("fs_base", "gs_base") and values[i] & MASK64 >= TASK_SIZE:
            raise KernelError(E.EIO, "segment base past TASK_SIZE")
    for i, v in enumerate(values):
        set_reg(t, row, i, v)


def _siginfo(t, row: int) -> bytes:
    """last_siginfo of a stopped tracee: the signal's at a signal-delivery stop, SIGTRAP and the
    report as si_code at a syscall or event stop, the stop signal at a seized group stop; EINVAL
    at a group stop of an ATTACH'ed tracee (how a tracer tells one from a signal)."""
    T = t.world.tasks
    kind = int(T.ptrace_stop[row])
    code = int(T.ptrace_code[row])
    if kind == P.STOP_SIGNAL:
        return t.machine.siginfo_of(row, int(T.si_signo[row]))
    if kind == P.STOP_GROUP and not T.ptrace_flags[row] & P.PT_SEIZED:
        raise KernelError(E.EINVAL, "a group stop has no siginfo")
    signo = code & 0x7F if kind == P.STOP_GROUP else SIGTRAP
    pid = t.machine._tid(t.machine.tasks[row])
    return struct.pack("<iii4xiI", signo, 0, code, pid, int(T.ruid[row])).ljust(128, b"\0")


def _syscall_info(t, row: int) -> bytes:
    """struct ptrace_syscall_info for PTRACE_GET_SYSCALL_INFO (its size is the op's)."""
    T = t.world.tasks
    kind = int(T.ptrace_stop[row])
    regs = dict(zip(REGS, get_regs(t, row)))
    head = struct.Struct("<B3xIQQ")
    if kind == P.STOP_SYSCALL_ENTRY:
        args = [regs[r] for r in ("rdi", "rsi", "rdx", "r10", "r8", "r9")]
        return head.pack(PTRACE_SYSCALL_INFO_ENTRY, AUDIT_ARCH_X86_64, regs["rip"], regs["rsp"]) + \
            struct.pack("<7Q", regs["orig_rax"], *args)
    if kind == P.STOP_SYSCALL_EXIT:
        rval = s64(regs["rax"])
        return head.pack(PTRACE_SYSCALL_INFO_EXIT, AUDIT_ARCH_X86_64, regs["rip"], regs["rsp"]) + \
            struct.pack("<qB", rval, 1 if -4095 <= rval < 0 else 0)
    if kind == P.STOP_EVENT and int(T.ptrace_code[row]) == SIGTRAP | PTRACE_EVENT_SECCOMP << 8:
        args = [regs[r] for r in ("rdi", "rsi", "rdx", "r10", "r8", "r9")]
        return head.pack(PTRACE_SYSCALL_INFO_SECCOMP, AUDIT_ARCH_X86_64, regs["rip"],
                         regs["rsp"]) + struct.pack("<7QI", regs["orig_rax"], *args,
                                                    int(T.ptrace_msg[row]) & 0xFFFF_FFFF)
    return head.pack(PTRACE_SYSCALL_INFO_NONE, AUDIT_ARCH_X86_64, regs["rip"], regs["rsp"])


def _resume(t, row: int, mode: int, sig: int) -> None:
    """ptrace_resume plus the CPU's part: a syscall left at its entry stop runs now (the
    registers as the tracer left them: orig_rax is the call, -1 skips it with rax as the
    result; an entry stop under PTRACE_SYSEMU skips it whatever the resume), and an exit stop
    due after an event or a skipped call comes at once."""
    w = t.world
    T = w.tasks
    orig = int(T.ptrace_orig_ax[row])
    emulated = int(T.ptrace_resume[row]) in P.SYSEMU  # syscall_trace_enter's work at the stop
    code = int(T.ptrace_code[row])
    kind = ptrace.resume(w, row, mode, sig)
    exit_due = bool(T.ptrace_exit_due[row])
    T.ptrace_exit_due[row] = False
    seccomp_event = kind == P.STOP_EVENT and code == SIGTRAP | PTRACE_EVENT_SECCOMP << 8
    if kind == P.STOP_SYSCALL_ENTRY or seccomp_event:
        if orig == -1 or (emulated and kind == P.STOP_SYSCALL_ENTRY):
            exit_due = True  # skipped: rax holds what the tracer put there
        else:
            uc = t.machine.tracee_engine(row)
            uc.reg_write(X.UC_X86_REG_RIP, (uc.reg_read(X.UC_X86_REG_RIP) - 2) & MASK64)
            uc.reg_write(X.UC_X86_REG_RAX, orig & MASK64)
            T.ptrace_entry_done[row] = mode == P.RESUME_SYSCALL or seccomp_event
            T.seccomp_traced[row] = seccomp_event  # filtered again: a second TRACE allows it
    if exit_due and mode == P.RESUME_SYSCALL:
        T.ptrace_orig_ax[row] = orig
        task_signals.ptrace_stop(w, row, P.STOP_SYSCALL_EXIT, SIGTRAP | (
            0x80 if T.ptrace_flags[row] & 1 else 0))


def _peek_user(t, row: int, addr: int) -> int:
    if addr & 7 or addr >= USER_AREA_SIZE:
        raise KernelError(E.EIO, "bad user-area offset")
    if addr < USER_REGS_SIZE:
        return get_regs(t, row)[addr // 8]
    return 0  # the FP image's place, sizes, debug registers: none set


@syscall("ptrace", PARTIAL, "TRACEME, ATTACH, SEIZE, INTERRUPT, LISTEN, DETACH, CONT, SYSCALL, "
         "SINGLESTEP (Unicorn's one-instruction count), SYSEMU, SYSEMU_SINGLESTEP, KILL, PEEK/POKE "
         "text, data and user, GET/SETREGS, GET/SETFPREGS, GET/SETREGSET, GET/SETSIGINFO, "
         "PEEKSIGINFO, GET/SETSIGMASK, SETOPTIONS, GETEVENTMSG, GET_SYSCALL_INFO, "
         "SECCOMP_GET_FILTER; syscall, signal-delivery, group and fork/vfork/vfork-done/clone/"
         "exec/exit/seccomp event stops (an exec from a thread after the old leader's exit "
         "stop, under its pid); a traced thread's exit is its tracer's to reap; no "
         "SECCOMP_GET_METADATA, no hardware debug registers",
         args=("x", "i", "p", "p"))
def sys_ptrace(t, request, pid, addr, data):
    """Implements ptrace(2)."""
    w, row = t.world, t.row
    request &= 0xFFFF_FFFF
    pid = s64(pid)
    if request == PTRACE_TRACEME:
        ptrace.traceme(w, row)
        return 0
    if request in (PTRACE_ATTACH, PTRACE_SEIZE):
        from_ns = int(w.tasks.ns[row])
        target = _task(w, from_ns, pid)
        if request == PTRACE_SEIZE and addr:
            raise KernelError(E.EIO, "PTRACE_SEIZE's addr must be 0")
        ptrace.attach(w, row, target, request == PTRACE_SEIZE, data & 0xFFFF_FFFF)
        return 0
    if request == PTRACE_KILL:
        ptrace.kill(w, ptrace.tracee(w, row, pid, need_stop=False))
        return 0
    if request in (PTRACE_INTERRUPT, PTRACE_LISTEN):
        tr = ptrace.tracee(w, row, pid, need_stop=request == PTRACE_LISTEN)
        (ptrace.interrupt if request == PTRACE_INTERRUPT else ptrace.listen)(w, tr)
        return 0
    tr = ptrace.tracee(w, row, pid)
    T = w.tasks
    mm = t.mm
    tmm = t.machine.tasks[tr].mm
    if request in (PTRACE_PEEKTEXT, PTRACE_PEEKDATA):
        try:
            word = tmm.copy_in(addr, 8)
        except KernelError:
            raise KernelError(E.EIO, "unreadable tracee memory") from None
        mm.copy_out(data, word)
        return 0
    if request in (PTRACE_POKETEXT, PTRACE_POKEDATA):
        try:
            tmm.copy_out(addr, struct.pack("<Q", data & MASK64), force=True)
        except KernelError:
            raise KernelError(E.EIO, "unwritable tracee memory") from None
        return 0
    if request == PTRACE_PEEKUSR:
        mm.copy_out_u64(data, _peek_user(t, tr, addr))
        return 0
    if request == PTRACE_POKEUSR:
        if addr & 7 or addr >= USER_AREA_SIZE:
            raise KernelError(E.EIO, "bad user-area offset")
        if addr < USER_REGS_SIZE:
            set_reg(t, tr, addr // 8, data)
        elif not DEBUGREG_OFF <= addr or data:
            raise KernelError(E.EIO, "only the registers may be written")
        return 0
    if request == PTRACE_GETREGS:
        mm.copy_out(data, struct.pack("<27Q", *get_regs(t, tr)))
        return 0
    if request == PTRACE_SETREGS:
        set_regs(t, tr, struct.unpack("<27Q", mm.copy_in(data, USER_REGS_SIZE)))
        return 0
    if request == PTRACE_GETFPREGS:
        mm.copy_out(data, t.machine.tracee_fpregs(tr))
        return 0
    if request == PTRACE_SETFPREGS:
        t.machine.tracee_fpregs(tr, mm.copy_in(data, USER_FPREGS_SIZE))
        return 0
    if request in (PTRACE_GETREGSET, PTRACE_SETREGSET):
        base, length = struct.unpack("<QQ", mm.copy_in(data, 16))
        if addr == NT_PRSTATUS:
            size = USER_REGS_SIZE
        elif addr == NT_PRFPREG:
            size = USER_FPREGS_SIZE
        else:
            raise KernelError(E.EINVAL, "register set not supported")
        n = min(length, size)
        if request == PTRACE_GETREGSET:
            image = struct.pack("<27Q", *get_regs(t, tr)) if addr == NT_PRSTATUS \
                else t.machine.tracee_fpregs(tr)
            mm.copy_out(base, image[:n])
        else:
            if addr == NT_PRSTATUS:
                if n % 8:
                    raise KernelError(E.EINVAL, "partial register")
                cur = get_regs(t, tr)
                new = list(struct.unpack(f"<{n // 8}Q", mm.copy_in(base, n))) + cur[n // 8:]
                set_regs(t, tr, new)
            else:
                cur = t.machine.tracee_fpregs(tr)
                t.machine.tracee_fpregs(tr, mm.copy_in(base, n) + cur[n:])
        mm.copy_out(data + 8, struct.pack("<Q", n))
        return 0
    if request == PTRACE_GETSIGINFO:
        mm.copy_out(data, _siginfo(t, tr))
        return 0
    if request == PTRACE_SETSIGINFO:
        if int(T.ptrace_stop[tr]) != P.STOP_SIGNAL:
            _siginfo(t, tr)  # EINVAL where there is none
            return 0  # (a trap's siginfo is not kept)
        signo, errno, code = struct.unpack("<iii", mm.copy_in(data, 12))
        pid_, uid, _pad, value = struct.unpack("<iIiQ", mm.copy_in(data + 16, 20))
        T.si_signo[tr] = signo  # resuming with this signal keeps the siginfo (ptrace_signal)
        T.si_code[tr] = code
        T.si_pid[tr] = pid_
        T.si_uid[tr] = uid
        T.si_value[tr] = s64(value)
        T.si_errno[tr] = errno
        return 0
    if request == PTRACE_SECCOMP_GET_FILTER:
        prog = seccomp.get_filter(w, row, tr, addr)
        if data:
            mm.copy_out(data, prog.astype("<u8").tobytes())
        return len(prog)
    if request == PTRACE_PEEKSIGINFO:
        return _peek_siginfo(t, tr, addr, data)
    if request == PTRACE_GETSIGMASK:
        if addr != 8:
            raise KernelError(E.EINVAL, "sigset size")
        mm.copy_out_u64(data, int(T.sig_mask[tr]))
        return 0
    if request == PTRACE_SETSIGMASK:
        if addr != 8:
            raise KernelError(E.EINVAL, "sigset size")
        T.sig_mask[tr] = mm.copy_in_u64(data) & ~UNBLOCKABLE & MASK64
        return 0
    if request == PTRACE_SETOPTIONS:
        ptrace.set_options(w, tr, data & MASK64)
        return 0
    if request == PTRACE_GETEVENTMSG:
        mm.copy_out_u64(data, int(T.ptrace_msg[tr]))
        return 0
    if request == PTRACE_GET_SYSCALL_INFO:
        info = _syscall_info(t, tr)
        mm.copy_out(data, info[:min(addr, len(info))])
        return len(info)
    if request in _RESUMES:
        _resume(t, tr, _RESUMES[request], data)
        return 0
    if request == PTRACE_DETACH:
        if not 0 <= data <= 64:
            raise KernelError(E.EIO, "bad signal")
        _resume(t, tr, P.RESUME_CONT, data)
        ptrace.detach(w, tr)
        return 0
    raise KernelError(E.EIO, f"unknown ptrace request {request:#x}")


def _peek_siginfo(t, row: int, addr: int, data: int) -> int:
    """PTRACE_PEEKSIGINFO (ptrace_peek_siginfo): the siginfo of queued signals ``off`` onwards,
    ``nr`` at most, of the tracee's own queue or (PTRACE_PEEKSIGINFO_SHARED) its process's;
    returns how many were copied."""
    off, flags, nr = struct.unpack("<QIi", t.mm.copy_in(addr, 16))
    if flags & ~PTRACE_PEEKSIGINFO_SHARED:
        raise KernelError(E.EINVAL, "unknown PEEKSIGINFO flags")
    if nr < 0:
        raise KernelError(E.EINVAL, "negative count")
    w = t.world
    T, Q = w.tasks, w.sigqueue
    q = int(w.thread_groups.gq_head[int(T.tg[row])]) if flags & PTRACE_PEEKSIGINFO_SHARED \
        else int(T.q_head[row])
    skip, copied = off, 0
    while q >= 0 and copied < nr:
        if skip:
            skip -= 1
        else:
            try:
                t.mm.copy_out(data + copied * 128, t.machine.signals.queued_siginfo(q))
            except KernelError:
                if copied:
                    break
                raise
            copied += 1
        q = int(Q.q_next[q])
    return copied


_RESUMES = {PTRACE_CONT: P.RESUME_CONT, PTRACE_SYSCALL: P.RESUME_SYSCALL,
            PTRACE_SINGLESTEP: P.RESUME_SINGLESTEP, PTRACE_SYSEMU: P.RESUME_SYSEMU,
            PTRACE_SYSEMU_SINGLESTEP: P.RESUME_SYSEMU_SINGLESTEP}


def _task(w, ns: int, pid: int) -> int:
    t = pidns.task_by_tid(w, ns, pid) if pid > 0 else -1
    if t < 0:
        raise KernelError(E.ESRCH, f"no task {pid}")
    return t


__all__ = ["sys_ptrace", "get_regs", "set_regs"]
