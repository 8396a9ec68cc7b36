"""Signal delivery to guest tasks: handler frames on the guest stack, rt_sigreturn.

Linux: kernel/signal.c (get_signal), arch/x86/kernel/signal.c (handle_signal, setup_rt_frame,
restore_sigcontext), kernel/signal.c (restore_altstack). gVisor: kernel/task_signals.go
(deliverSignal), arch/signal_amd64.go (SignalSetup, SignalRestore).

The kernel side (which signal, which action, the mask while the handler runs, the kernel's own
``sigframes`` row, what an interrupted blocked syscall returns) is systems/task_signals, shared
with synthetic tasks. This module adds what only a CPU has: the registers and FP state saved in an
``rt_sigframe`` (cpu/sigframe.py) on the guest's stack (or its alternate stack) and the handler's
entry registers. A blocked syscall the handler interrupts is finished first (the run loop's
``syscall_exit``: -EINTR in rax, or rip back on the ``syscall`` instruction to restart it), so the
frame saves the registers the call returns with.

Signals are delivered where Linux delivers them, on the way back to user mode: after every
syscall (from the dispatcher's hook), at the end of a quantum, and to blocked tasks (from the run
loop).
"""
from __future__ import annotations

import struct

from unicorn import x86_const as X

from ..abi import (AUDIT_ARCH_X86_64, EFAULT, EINTR, ERESTART_RESTARTBLOCK, ERESTARTNOHAND,
                   ERESTARTNOINTR, ERESTARTSYS, RunState, SA_ONSTACK, SA_RESTART, SA_RESTORER,
                   SIGBUS, SIGFPE, SIGILL, SIGKILL, SIGSEGV, SIGSYS, SIGTRAP, SS_AUTODISARM,
                   SS_DISABLE, SS_ONSTACK, SYS_SECCOMP, UNBLOCKABLE)
from ..components import sigactions
from ..errors import KernelError
from ..syscalls.context import ContextRestored
from ..systems import io_wait, task_signals
from . import sigframe as SF

MASK64 = (1 << 64) - 1
FAULT_SIGNALS = (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP)

# The FP state a handler starts with (Linux fpu__clear_user_states): x87 control word 0x37f,
# MXCSR 0x1f80, every register empty.
_INIT_FP = bytearray(SF.FPSTATE_SIZE)
struct.pack_into("<HHBx", _INIT_FP, 0, 0x37F, 0, 0)
struct.pack_into("<II", _INIT_FP, 24, 0x1F80, SF.MXCSR_MASK)
INIT_FP = bytes(_INIT_FP)


class GuestSignals:
    """Signal delivery for the guest tasks of one Machine."""

    def __init__(self, machine):
        self.machine = machine
        self.world = machine.world

    # -- delivery -----------------------------------------------------------------------------
    def deliver(self, row: int, *, rip: int, rax: int, in_hook: bool, nr: int = -1) -> bool:
        """Deliver what is deliverable to ``row`` (switched in), whose user context resumes at
        ``rip`` with ``rax`` (what a syscall hook is about to return; outside a hook the engine's
        own registers). Builds one frame per handler (nested, newest on top) and points the
        engine at the last handler. Returns True if a handler is entered.

        ``nr`` (in a hook, or after a ptrace exit stop that showed a restart code) is the call's
        number: a call that returned a restart code (-ERESTARTSYS and kin) is finished as
        handle_signal does before the first frame: -EINTR, or run again after the handler (rip
        on the ``syscall``, rax the number) under SA_RESTART."""
        w = self.world
        T, G = w.tasks, w.thread_groups
        uc = self.machine.memory_of(row).uc
        task = self.machine.tasks[row]
        regs = fp = None
        tg = int(T.tg[row])
        ending = bool(G.exiting[tg]) or int(T.exit_state[row]) != 0  # before this delivery
        while True:
            taken = task_signals.get_signal(w, row, stop_after_handler=True)
            if taken is None:
                break
            if regs is None:
                if not in_hook and T.run_state[row] == RunState.runSyscallExit:
                    # a blocked call the handler interrupted (or one completed meanwhile)
                    self.machine.syscall_exit(row)
                regs = SF.read_regs(uc)
                if in_hook:
                    regs["rip"], regs["rax"] = rip & MASK64, rax & MASK64
                if nr >= 0:
                    rip, rax = regs["rip"], regs["rax"] - (1 << 64 if regs["rax"] >> 63 else 0)
                    if -rax in (ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK):
                        if -rax == ERESTARTNOINTR or (-rax == ERESTARTSYS and taken[2] & SA_RESTART):
                            regs["rip"], regs["rax"] = (rip - 2) & MASK64, nr
                        else:
                            regs["rax"] = -EINTR & MASK64
                io_wait.finish(w, row)  # a call to be run again starts afresh after the handler
                fp = SF.save_fpstate(uc)
            if self.machine.strace is not None:
                self._strace(row, taken[0])
            if T.rseq_addr[row]:  # rseq_signal_deliver: abort a critical section first
                regs["rip"] = self.machine.rseq_resume(task, regs["rip"], taken[0])
            entry = self._setup_frame(task, taken, regs, fp)
            if entry is not None:
                regs, fp = entry, INIT_FP
        if G.exiting[tg] or T.exit_state[row] != 0:
            self.machine.platform.stop_requested = True
            if self.machine.strace is not None:
                self._strace_fatal(row, dequeued=not ending)
        elif in_hook and T.run_state[row] == RunState.blocked:
            self.machine.platform.stop("blocked")  # a signal-delivery stop: its tracer decides
        if regs is None:
            return False
        SF.write_regs(uc, regs)
        if in_hook:  # Unicorn adds the length of `syscall` when the hook returns
            uc.reg_write(X.UC_X86_REG_RIP, (regs["rip"] - 2) & MASK64)
        SF.restore_fpstate(uc, fp)
        if G.exiting[tg] or T.exit_state[row] != 0:
            return False  # a frame failed and the SIGSEGV forced instead killed: no handler runs
        T.run_state[row] = RunState.runApp  # the handler runs next
        return True

    def _setup_frame(self, task, taken, regs: dict, fp: bytes) -> dict | None:
        """setup_rt_frame: write the frame for one handler; the handler's entry registers, or
        None when the frame could not be written (SIGSEGV is forced instead, as in Linux)."""
        signo, handler, flags, restorer = taken
        w = self.world
        T, F = w.tasks, w.sigframes
        row = task.row
        altstack = task_signals.altstack(w, row)
        frame, fp_addr = SF.frame_address(regs["rsp"], altstack, bool(flags & SA_ONSTACK))
        # get_sigframe: a frame on the alternate stack (entering it, or nested on it) that would
        # run off its bottom is not written: SIGSEGV instead
        nested = SF.on_stack(regs["rsp"], altstack)
        entering = bool(flags & SA_ONSTACK) and altstack is not None \
            and not altstack[1] & SS_DISABLE and not nested
        overflow = (nested or entering) and not SF.on_stack(frame, altstack)
        # __save_altstack: the settings as sigaltstack(2) would report them, with the
        # SS_AUTODISARM flag kept so rt_sigreturn re-arms the stack.
        if altstack is None or altstack[1] & SS_DISABLE:
            uc_stack = (0, SS_DISABLE, 0)
        else:
            on = SS_ONSTACK if SF.on_stack(regs["rsp"], altstack) else 0
            uc_stack = (altstack[0], on | altstack[1] & SS_AUTODISARM, altstack[2])
        saved_mask = int(F.f_mask[int(T.frame_top[row])])
        info = self.siginfo(row, signo)
        try:
            if not flags & SA_RESTORER:
                raise KernelError(EFAULT, "no sa_restorer")  # x86-64 requires one
            if overflow:
                raise KernelError(EFAULT, "the frame would overflow the alternate signal stack")
            task.mm.copy_out(fp_addr, fp)
            task.mm.copy_out(frame, SF.pack_frame(regs, restorer=restorer, sigmask=saved_mask,
                                                   siginfo=info, fpstate_addr=fp_addr,
                                                   uc_stack=uc_stack))
        except KernelError:
            # force_sigsegv: a SIGSEGV handler that cannot get a frame is reset first.
            task_signals.sigreturn(w, row)  # undo the kernel frame of the handler not entered
            if signo == SIGSEGV:
                sigactions.reset_handler(w, int(T.sighand[row]), SIGSEGV)
            task_signals.force_signal(w, row, SIGSEGV)
            return None
        if altstack is not None and altstack[1] & SS_AUTODISARM:
            task_signals.set_altstack(w, row, None)
        entry = dict(regs)
        entry.update(rip=handler, rsp=frame, rdi=signo, rsi=frame + SF.SIGINFO_OFF,
                     rdx=frame + SF.UCONTEXT_OFF, rax=0,
                     eflags=regs["eflags"] & ~SF.ENTRY_CLEAR_EFLAGS)
        return entry

    def _strace(self, row: int, signo: int) -> None:
        """strace's ``--- SIGUSR1 {si_signo=SIGUSR1, ...} ---`` for the signal just dequeued."""
        self.machine.strace.signal(self.machine.tasks[row], self.siginfo(row, signo))

    def _strace_fatal(self, row: int, dequeued: bool) -> None:
        """strace's line for the signal whose default action ends the process (once a process):
        the one this delivery dequeued, or the one sending it made fatal at once (Linux's
        complete_signal fast path, which a ptraced task does not take: strace shows it), whose
        siginfo is still queued."""
        w = self.world
        T, G = w.tasks, w.thread_groups
        tg = int(T.tg[row])
        signo = int(G.group_exit_code[tg]) & 0x7F
        tracer = self.machine.strace
        if not signo or signo == SIGKILL or tg in tracer.fatal_shown:
            return
        if dequeued and int(T.si_signo[row]) == signo:
            info = self.siginfo(row, signo)
        else:
            queued = task_signals.queued_info(w, row, signo)
            if queued is None:
                return
            info = self._siginfo_bytes(signo, *queued)
        tracer.fatal_shown.add(tg)
        tracer.signal(self.machine.tasks[row], info)

    def frame_mask(self, task) -> int | None:
        """The signal mask rt_sigreturn would restore from the frame at the stack pointer of
        ``task`` (switched in), or None if it cannot be read (strace's ``{mask=[...]}``)."""
        frame = self.machine.user_sp(task.row) - 8
        try:
            data = task.mm.copy_in(frame + SF.SIGMASK_OFF, 8)
        except KernelError:
            return None
        return struct.unpack("<Q", data)[0]

    def siginfo(self, row: int, signo: int) -> bytes:
        """The 128-byte siginfo of the signal ``row`` just dequeued (its SigInfo columns)."""
        T = self.world.tasks
        return self._siginfo_bytes(signo, int(T.si_code[row]), int(T.si_pid[row]),
                                   int(T.si_uid[row]), int(T.si_value[row]), int(T.si_errno[row]))

    def queued_siginfo(self, q: int) -> bytes:
        """The 128-byte siginfo of queued signal ``q`` (a sigqueue row)."""
        Q = self.world.sigqueue
        return self._siginfo_bytes(int(Q.q_signo[q]), int(Q.q_code[q]), int(Q.q_pid[q]),
                                   int(Q.q_uid[q]), int(Q.q_value[q]), int(Q.q_errno[q]))

    @staticmethod
    def _siginfo_bytes(signo: int, code: int, pid: int, uid: int, value: int,
                       errno: int = 0) -> bytes:
        value &= MASK64
        if signo == SIGSYS and code == SYS_SECCOMP:
            # force_sig_seccomp: si_call_addr, si_syscall, si_arch; the filter's data in si_errno
            fields = struct.pack("<QiI", value, pid, AUDIT_ARCH_X86_64)
            return SF.pack_siginfo(signo, code, fields, errno=uid)
        if signo in FAULT_SIGNALS and code > 0 and code != 0x80:
            fields = struct.pack("<Q", value)  # si_addr
        else:  # kill/tkill/sigqueue/timers: pid (or timer id), uid (or overrun), value
            fields = struct.pack("<iIQ", pid, uid & 0xFFFF_FFFF, value)
        return SF.pack_siginfo(signo, code, fields, errno=errno)

    # -- rt_sigreturn ----------------------------------------------------------------------------
    def sigreturn(self, task) -> ContextRestored:
        """rt_sigreturn(2) from the syscall hook: reload the context saved at ``rsp - 8``; a
        frame that cannot be read is a SIGSEGV (Linux: signal_fault + force_sig)."""
        w = self.world
        T = w.tasks
        row = task.row
        uc = self.machine.memory_of(row).uc
        rsp = uc.reg_read(X.UC_X86_REG_RSP)
        frame = rsp - 8
        try:
            regs, sigmask, fp_addr, uc_stack = SF.unpack_frame(task.mm.copy_in(frame, SF.FRAME_SIZE))
            fp = task.mm.copy_in(fp_addr, SF.FPSTATE_SIZE) if fp_addr else None
        except KernelError:
            task_signals.force_signal(w, row, SIGSEGV)
            raise
        if int(T.frame_top[row]) >= 0:
            task_signals.sigreturn(w, row)  # the kernel's bookkeeping of the handler
        T.sig_mask[row] = sigmask & ~UNBLOCKABLE & MASK64
        old_flags = uc.reg_read(X.UC_X86_REG_EFLAGS)
        regs["eflags"] = (old_flags & ~SF.FIX_EFLAGS) | (regs["eflags"] & SF.FIX_EFLAGS)
        try:  # restore_altstack: do_sigaltstack with its errors ignored (EPERM while on it)
            task_signals.sigaltstack(w, row, rsp, uc_stack)
        except KernelError:
            pass
        SF.write_regs(uc, regs, skip=("rip",))
        uc.reg_write(X.UC_X86_REG_RIP, (regs["rip"] - 2) & MASK64)  # in the hook: Unicorn adds 2
        if fp is not None:
            SF.restore_fpstate(uc, fp)
        return ContextRestored(regs["rip"], regs["rax"])

    # -- faults -------------------------------------------------------------------------------
    def fault(self, row: int, signo: int, code: int, addr: int) -> bool:
        """A CPU exception: force ``signo`` and deliver it at the faulting instruction. Returns
        True if a handler runs; otherwise the default action has ended the task."""
        addr -= (1 << 64) if addr >> 63 else 0  # kept in an int64 column (a kernel-half address)
        task_signals.force_signal(self.world, row, signo, code=code, addr=addr)
        uc = self.machine.memory_of(row).uc
        return self.deliver(row, rip=uc.reg_read(X.UC_X86_REG_RIP),
                            rax=uc.reg_read(X.UC_X86_REG_RAX), in_hook=False)


__all__ = ["GuestSignals", "INIT_FP"]
