"""The legacy vsyscall page (Linux arch/x86/entry/vsyscall/vsyscall_64.c, vsyscall=xonly).

Old binaries call gettimeofday, time and getcpu at fixed addresses in a page at
``VSYSCALL_ADDR``. Linux maps it execute-only (/proc/<pid>/maps shows ``[vsyscall]``): a call
faults, and emulate_vsyscall runs the syscall as if the caller had made it (seccomp filters it,
with the entry address as the instruction pointer), then returns to the caller as a ``ret``
would. /proc/<pid>/maps shows the page last (syscalls/procfs.py). The engine has nothing
mapped there: the fetch faults, and the run loop's fault handler
asks :func:`emulate` before forcing SIGSEGV. A PTRACE_EVENT_SECCOMP stop for a vsyscall (the
filter's SECCOMP_RET_TRACE) is not modelled: the call fails with -ENOSYS as without a tracer.
"""
from __future__ import annotations

from unicorn import x86_const as X

from ..abi import (NR_GETCPU, NR_GETTIMEOFDAY, NR_TIME, PAGE_SIZE, SI_KERNEL, SIGSEGV,
                   SYSCALL_WORK_SECCOMP, VSYSCALL_ADDR, VSYSCALL_ENTRY_SIZE)
from ..errors import E, KernelError
from ..systems import seccomp

MASK64 = (1 << 64) - 1
_ENTRIES = {0: NR_GETTIMEOFDAY, 1: NR_TIME, 2: NR_GETCPU}
_ARGS = (X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX, X.UC_X86_REG_R10,
         X.UC_X86_REG_R8, X.UC_X86_REG_R9)


def in_page(addr: int) -> bool:
    return VSYSCALL_ADDR <= addr & MASK64 < VSYSCALL_ADDR + PAGE_SIZE


def emulate(machine, row: int, fault_addr: int) -> bool:
    """emulate_vsyscall for a fault at ``fault_addr`` of task ``row`` (switched in). True if it
    was a call into the page that is now done (rax the result, rip the caller's, rsp past the
    return address; a seccomp verdict may have sent SIGSYS or killed the task; a misaligned
    entry or a bad pointer argument is a SIGSEGV (SI_KERNEL) at the entry); False for a fault
    the caller turns into SIGSEGV (a data access, an unreadable return address)."""
    uc = machine.memory_of(row).uc
    regs = machine.platform.regs
    rip = regs.read(uc, X.UC_X86_REG_RIP) & MASK64
    if not in_page(fault_addr) or rip != fault_addr & MASK64:
        return False
    off = rip - VSYSCALL_ADDR
    if off % VSYSCALL_ENTRY_SIZE or off // VSYSCALL_ENTRY_SIZE not in _ENTRIES:
        machine.signals.fault(row, SIGSEGV, SI_KERNEL, 0)  # "misaligned vsyscall": force_sig
        return True
    nr = _ENTRIES[off // VSYSCALL_ENTRY_SIZE]
    task = machine.tasks[row]
    rsp = regs.read(uc, X.UC_X86_REG_RSP)
    try:
        caller = task.mm.copy_in_u64(rsp)
    except KernelError:
        return False
    args = [regs.read(uc, r) for r in _ARGS]
    w = machine.world
    ret = None
    if w.tasks.syscall_work[row] & SYSCALL_WORK_SECCOMP:
        kind, value = seccomp.syscall_entry(w, row, nr, rip, args)
        if kind == seccomp.KILLED:
            return True  # the task dies (or its thread exits); nothing returns
        if kind == seccomp.SKIP:
            ret = value
        elif kind != seccomp.ALLOW:
            ret = -E.ENOSYS  # SECCOMP_RET_TRACE: no event stop for a vsyscall (see above)
    if ret is None:
        fn, n = machine.dispatcher.handlers[nr]
        try:
            ret = fn(task, *args[:n])
        except KernelError as e:
            ret = -e.errno
    if ret == -E.EFAULT:
        # a bad pointer: "vsyscall fault (exploit attempt?)", force_sig(SIGSEGV), and the ret
        # is not emulated (rip stays on the entry, rax reads -ENOSYS)
        regs.write(uc, X.UC_X86_REG_RAX, -E.ENOSYS & MASK64)
        machine.signals.fault(row, SIGSEGV, SI_KERNEL, 0)
        return True
    regs.write(uc, X.UC_X86_REG_RAX, ret & MASK64)
    regs.write(uc, X.UC_X86_REG_RIP, caller)  # emulate a ret instruction
    regs.write(uc, X.UC_X86_REG_RSP, (rsp + 8) & MASK64)
    return True


__all__ = ["emulate", "in_page"]
