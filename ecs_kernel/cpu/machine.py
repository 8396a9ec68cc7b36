"""The guest CPU side of the kernel: Unicorn engines, the syscall hook and the run loop.

gVisor: ``platform`` (one address space per engine) plus ``kernel/task_run.go`` (the run loop)
and ``kernel/task_syscall.go`` (syscall dispatch). One :class:`GuestMemory` per address space row
holds a Unicorn engine and its :class:`~ecs_kernel.cpu.memory.AddressSpace`. The syscall hook
(``UC_HOOK_INSN`` + ``UC_X86_INS_SYSCALL`` through ``uc_hook_add`` on the engine handle) is the
compiled fast path (:mod:`ecs_kernel.jit.fastpath`, a numba ``cfunc``) that answers the cheap
syscalls itself and calls the Python hook for the rest; with ``fast_path=False`` (``ecs-kernel run
--no-fast-path``) or ``strace`` it is the Python hook alone: one raw ctypes callback that reads rax
and the six argument registers with one ``uc_reg_read_batch`` into preallocated buffers, calls the
handler from the syscall table and writes rax back.

Unicorn hazards (DESIGN.md) and how they are met here:

- the engine is stopped only from inside a hook (exit, exit_group, a blocking syscall, a fault
  seen by the interrupt hook), never from another thread and never with a timeout;
- Unicorn adds 2 to rip after a syscall hook returns, so a restarted syscall is written as
  ``rip - 2`` (the ``syscall`` instruction again once Unicorn adds its 2);
- every unknown or unimplemented syscall sets rax to -ENOSYS and is counted.

Tasks and scheduling. "The current task" is a row index (:attr:`Machine.current`) with its
:class:`Task` object. Every guest task (processes from fork/vfork/clone, threads from
clone(CLONE_THREAD)) runs on the one host thread, in turns (:meth:`Machine.run`): the current
task runs until it blocks, exits, or, while another task is runnable or a timer is armed, its
quantum of instructions ends (``emu_start(count=)``); then the next runnable row runs. Threads
share their process's engine; each has a Unicorn context that :meth:`Machine.switch_to` saves and
restores. A syscall that must wait blocks in one of two ways:

- as a *guest-level* Block (a pipe, a sleep, host stdio, wait4): rip is rewound onto the
  ``syscall`` instruction and the run loop retries the call when its host fds are ready, its
  deadline passed, or (no fds, no deadline) another task made progress;
- as a *kernel row* (a futex wait, KernelBlocked): the kernel's systems complete it with
  ``tasks.ret`` (a wake, a timeout, a signal) and the run loop hands the result to the guest.

Time: while guests run, the kernel clock (``world.now_ns``) is the host's CLOCK_MONOTONIC and the
realtime offset the host's CLOCK_REALTIME; the World ticks when a timer or futex deadline is due
and after exits. Signals are delivered on the way back to user mode (cpu/signals.py).

Guest faults are signals forced on the task (a handler may catch them); without one, the default
action ends it: SIGSEGV for a bad access, SIGILL for an invalid instruction, SIGFPE for a divide
error, SIGTRAP for int3, SIGBUS for an alignment check; the exit status is the signal. A guest
never causes a Python traceback; a bug in a handler is reported in one line (or raised with
``strict=True``, which the tests use) and the guest sees -ENOSYS for that call.
"""
from __future__ import annotations

import ctypes
import os
import random
import select
import sys
import time
import traceback

import numpy as np
from unicorn import (UC_ARCH_X86, UC_HOOK_INSN, UC_HOOK_INTR, UC_HOOK_MEM_INVALID,
                     UC_MODE_64, Uc, UcError)
from unicorn import unicorn_const as _ucc
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from ..abi import Block as BlockKind
from ..abi import (BASE_MONO, BASE_REAL, BUS_ADRALN, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID,
                   CLONE_FS, CLONE_PARENT_SETTID, CLONE_SETTLS, CLONE_THREAD, CLONE_VFORK,
                   CLONE_VM, ENOSYS, ERESTART_RESTARTBLOCK, ERESTARTNOHAND, ERESTARTNOINTR,
                   ERESTARTSYS, FPE_INTDIV, ILL_ILLOPN, NR_RESTART_SYSCALL, RLIMIT_AS, RLIMIT_DATA,
                   RLIMIT_STACK, RunState, SEGV_ACCERR, SEGV_MAPERR, SI_KERNEL, SIGBUS, SIGFPE,
                   SIGILL, SIGKILL, SIGSEGV, SIGTRAP)
from ..components import sigactions
from ..errors import KernelError
from ..systems import task_exit
from .memory import AddressSpace, default_mmap_base

WAIT_SLICE = 0.2  # seconds: the longest host wait before the run loop looks at host signals
TIMER_QUANTUM = 1_000_000  # guest instructions between timer checks while a timer is armed
MASK64 = (1 << 64) - 1

_HOOK_INSN_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
# rax first (the number), then the x86-64 syscall argument registers, then rip.
_SYSCALL_REGS = (X.UC_X86_REG_RAX, X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX,
                 X.UC_X86_REG_R10, X.UC_X86_REG_R8, X.UC_X86_REG_R9, X.UC_X86_REG_RIP)
_NREGS = len(_SYSCALL_REGS)

# CPU exceptions (interrupt vectors) and the signal Linux sends for each.
_VECTOR_SIGNALS = {0: SIGFPE, 1: SIGTRAP, 3: SIGTRAP, 4: SIGSEGV, 5: SIGSEGV, 6: SIGILL,
                   7: SIGFPE, 13: SIGSEGV, 14: SIGSEGV, 16: SIGFPE, 17: SIGBUS, 19: SIGFPE}
# si_code of each vector's signal (Linux do_trap / do_error_trap).
_VECTOR_CODES = {0: FPE_INTDIV, 4: SI_KERNEL, 5: SI_KERNEL, 6: ILL_ILLOPN, 7: SI_KERNEL,
                 13: SI_KERNEL, 16: SI_KERNEL, 17: BUS_ADRALN, 19: SI_KERNEL}
# UC_MEM_*_UNMAPPED access types (the rest are protection faults).
UC_HOOK_MEM_UNMAPPED_ACCESSES = 0
for _name in ("UC_MEM_READ_UNMAPPED", "UC_MEM_WRITE_UNMAPPED", "UC_MEM_FETCH_UNMAPPED"):
    UC_HOOK_MEM_UNMAPPED_ACCESSES |= 1 << getattr(_ucc, _name)
_UC_ERR_SIGNALS = {
    _ucc.UC_ERR_READ_UNMAPPED: SIGSEGV, _ucc.UC_ERR_WRITE_UNMAPPED: SIGSEGV,
    _ucc.UC_ERR_FETCH_UNMAPPED: SIGSEGV, _ucc.UC_ERR_READ_PROT: SIGSEGV,
    _ucc.UC_ERR_WRITE_PROT: SIGSEGV, _ucc.UC_ERR_FETCH_PROT: SIGSEGV,
    _ucc.UC_ERR_INSN_INVALID: SIGILL, _ucc.UC_ERR_READ_UNALIGNED: SIGBUS,
    _ucc.UC_ERR_WRITE_UNALIGNED: SIGBUS, _ucc.UC_ERR_FETCH_UNALIGNED: SIGBUS,
    _ucc.UC_ERR_EXCEPTION: SIGSEGV, _ucc.UC_ERR_MAP: SIGSEGV,
}


def new_engine() -> Uc:
    """A fresh x86-64 Unicorn engine (long mode, flat segments)."""
    return Uc(UC_ARCH_X86, UC_MODE_64)


class GuestMemory:
    """The object behind an ``address_spaces`` row (``world.index["address_spaces"][row]``): one
    Unicorn engine and the AddressSpace mapped into it. ``fork()``/``release()`` are what
    components/resources.py calls on copy and on the last unref."""

    def __init__(self, aspace: AddressSpace | None = None, uc: Uc | None = None):
        self.uc = uc if uc is not None else new_engine()
        self.aspace = aspace if aspace is not None else AddressSpace(self.uc)
        self.hooks: list = []  # keep ctypes callbacks alive as long as the engine
        self.install_hooks = None  # the Machine's hook installer, applied to forked engines too

    def fork(self) -> "GuestMemory":
        uc = new_engine()
        child = GuestMemory(self.aspace.fork(uc), uc)
        if self.install_hooks is not None:
            self.install_hooks(child)
        return child

    def release(self) -> None:
        self.aspace.release()


class Machine:
    """Runs the guest tasks of one Kernel on Unicorn (one engine per address space)."""

    def __init__(self, kernel, fs, *, strace=None, seed: int | None = None, strict: bool = False,
                 stderr=None, fast_path: bool = True, fast_path_after: int = 0):
        from ..syscalls import dispatch
        self.kernel = kernel
        self.world = kernel.world
        self.fs = fs
        self.strace = strace  # a text stream for strace lines, or None
        self.strict = strict
        self.stderr = stderr or sys.stderr
        self.rng = random.Random(seed)
        self.tasks: dict[int, object] = {}  # row -> syscalls.context.Task
        self.current = -1
        self.current_task = None
        self.current_uch = None  # uc_engine handle of the current task's address space
        self.dispatcher = dispatch.Dispatcher(self)
        self.internal_error: BaseException | None = None
        self.fault_signal = 0
        self.stop_reason = None
        self.stop_requested = False
        self.pending_release: list[int] = []
        self.host_signal = 0  # a signal the host received for the guest (see interrupt())
        # The kernel clock is the host's CLOCK_MONOTONIC while guests run (guests pass absolute
        # monotonic deadlines to futex and clock_nanosleep); CLOCK_REALTIME is the host's too.
        self._t0 = 0
        self._cpu0 = time.process_time_ns()
        self._cpu_seen = time.thread_time_ns()
        from .signals import GuestSignals
        self.signals = GuestSignals(self)
        # Our tasks' signals are delivered here, with frames in guest memory, not by the
        # kernel's signal system (see systems/task_signals.signal_system).
        self.world.index["driver_delivered_tasks"] = set()
        self.timer_deadline_ns: int | None = None  # host monotonic ns of the next timer check
        self.running_unbounded = False  # emu_start runs without count= quanta
        self.contended = False  # another guest task is runnable: run in quanta
        self.progress = 0  # completed syscalls and exits: blocked tasks retry when it moves
        self.fault_addr = 0
        self.fault_code = 0
        self._cpu_seen = time.thread_time_ns()
        self.sync_clock()
        # The compiled syscall hook (jit/fastpath), built with the first engine. --strace prints
        # every syscall, so it keeps every call on the Python hook.
        self.use_fast_path = fast_path and strace is None
        self.fastpath = None
        # Tiering (ecs-kernel run): the first ``fast_path_after`` syscalls take the Python hook,
        # so a short program never loads numba; then the run loop swaps in the compiled hook.
        self.tier_up_countdown = fast_path_after if self.use_fast_path else 0

    # -- time and randomness (a deterministic mode replaces these) ---------------------------
    def realtime_ns(self) -> int:
        return time.time_ns()

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def cpu_time_ns(self) -> int:
        return time.process_time_ns() - self._cpu0

    def random_bytes(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    def fast_clock_gettime(self) -> int:
        """Address of the C ``clock_gettime`` the compiled hook reads time from: the host's, as
        the three methods above. A Machine whose clocks are not the host's (a deterministic
        mode) returns 0 so clock syscalls take the Python path, or the address of its own."""
        cls = type(self)
        if (cls.realtime_ns, cls.monotonic_ns, cls.cpu_time_ns) != \
                (Machine.realtime_ns, Machine.monotonic_ns, Machine.cpu_time_ns):
            return 0
        from ..jit.fastpath import libc_clock_gettime
        return libc_clock_gettime()

    # -- memory objects --------------------------------------------------------------------------
    def memory_of(self, row: int) -> GuestMemory:
        mm_row = int(self.world.tasks.mm[row])
        return self.world.index.setdefault("address_spaces", {})[mm_row]

    def _new_memory(self, row: int) -> GuestMemory:
        """A fresh engine and empty address space with the task's limits and our hooks."""
        from ..components.rlimits import get
        w = self.world
        tg = int(w.tasks.tg[row])
        stack, _ = get(w, tg, RLIMIT_STACK)
        uc = new_engine()
        aspace = AddressSpace(uc, mmap_base=default_mmap_base(min(stack, 1 << 40)))
        aspace.rlimit_as, _ = get(w, tg, RLIMIT_AS)
        aspace.rlimit_data, aspace.rlimit_data_max = get(w, tg, RLIMIT_DATA)
        gm = GuestMemory(aspace, uc)
        self._add_hooks(gm)
        return gm

    def _add_hooks(self, gm: GuestMemory) -> None:
        self._add_syscall_hook(gm)
        gm.hooks.append(gm.uc.hook_add(UC_HOOK_INTR, self._on_interrupt))
        gm.hooks.append(gm.uc.hook_add(UC_HOOK_MEM_INVALID, self._on_bad_access))
        gm.install_hooks = self._add_hooks

    def _add_syscall_hook(self, gm: GuestMemory) -> None:
        h = ctypes.c_size_t()
        if self.use_fast_path and self.tier_up_countdown <= 0:
            # The compiled hook (a C function) with the control block as user data; it calls
            # the Python hook itself for what it does not handle.
            fp = self.fastpath
            if fp is None:
                from ..jit.fastpath import FastPath
                fp = self.fastpath = FastPath(self, self.dispatcher.hook_with,
                                              clock_gettime=self.fast_clock_gettime())
            cb = ctypes.c_void_p(fp.hook_address)
            user_data = fp.user_data
        elif self.use_fast_path:
            cb = _HOOK_INSN_CB(self._counting_hook(self.dispatcher.hook))
            user_data = None
        else:
            cb = _HOOK_INSN_CB(self.dispatcher.hook)
            user_data = None
        status = uclib.uc_hook_add(gm.uc._uch, ctypes.byref(h), UC_HOOK_INSN, cb, user_data,
                                   ctypes.c_uint64(1), ctypes.c_uint64(0),
                                   ctypes.c_int(X.UC_X86_INS_SYSCALL))
        if status != 0:
            raise UcError(status)
        gm.hooks.append(cb)
        gm.syscall_hook = h.value

    def _counting_hook(self, hook):
        """The Python hook, counting down to the tier-up: at zero it stops the engine (after the
        syscall, from inside the hook: a safe stop) and the run loop installs the compiled hook."""
        def counting(uch, user_data):
            hook(uch, user_data)
            self.tier_up_countdown -= 1
            if self.tier_up_countdown == 0:
                if self.stop_reason is None:
                    self.stop_reason = "tier-up"
                uclib.uc_emu_stop(uch)
        return counting

    def _tier_up(self) -> None:
        """Replace the Python syscall hook of every engine by the compiled one."""
        from ..jit.options import promote
        promote()  # numba loads now: the kernels go compiled together with the hook
        for gm in self.world.index.get("address_spaces", {}).values():
            old = getattr(gm, "syscall_hook", None)
            if old is not None:
                uclib.uc_hook_del(gm.uc._uch, ctypes.c_size_t(old))
            self._add_syscall_hook(gm)

    # -- exec -----------------------------------------------------------------------------------
    def _load(self, task, path, argv, envp, cwd=None):
        """Load ``path`` into a new GuestMemory for ``task``; nothing of the task changes.
        Raises ExecError."""
        from ..components.rlimits import get
        from . import loader
        from .exec_args import ExecCreds
        w = self.world
        T = w.tasks
        row = task.row
        stack, _ = get(w, int(T.tg[row]), RLIMIT_STACK)
        gm = self._new_memory(row)
        ec = ExecCreds(int(T.ruid[row]), int(T.euid[row]), int(T.rgid[row]), int(T.egid[row]))
        try:
            prog = loader.load(self.fs, gm.aspace, path, argv, envp,
                               cwd=task.fsctx.cwd if cwd is None else cwd,
                               creds=task.creds(), exec_creds=ec,
                               random16=self.random_bytes(16), rlimit_stack=min(stack, 1 << 30))
        except BaseException:
            gm.release()
            raise
        uc = gm.uc
        for reg in (X.UC_X86_REG_RAX, X.UC_X86_REG_RBX, X.UC_X86_REG_RCX, X.UC_X86_REG_RDX,
                    X.UC_X86_REG_RSI, X.UC_X86_REG_RDI, X.UC_X86_REG_RBP, X.UC_X86_REG_R8,
                    X.UC_X86_REG_R9, X.UC_X86_REG_R10, X.UC_X86_REG_R11, X.UC_X86_REG_R12,
                    X.UC_X86_REG_R13, X.UC_X86_REG_R14, X.UC_X86_REG_R15):
            uc.reg_write(reg, 0)
        uc.reg_write(X.UC_X86_REG_FS_BASE, 0)
        uc.reg_write(X.UC_X86_REG_GS_BASE, 0)
        # The FPU state a Linux process starts with (fpstate_init): Unicorn's engine starts
        # with a zero x87 control word (single precision, exceptions unmasked) and MXCSR 0.
        from .signals import INIT_FP
        from .sigframe import restore_fpstate
        restore_fpstate(uc, INIT_FP)
        uc.reg_write(X.UC_X86_REG_RSP, prog.sp)
        uc.reg_write(X.UC_X86_REG_RIP, prog.entry)
        return gm, prog

    def _commit_exec(self, task, gm: GuestMemory, prog) -> None:
        """The point of no return of execve (Linux: begin_new_exec): the new address space,
        close-on-exec, caught signals back to SIG_DFL, the new names."""
        from ..components import resources
        from ..systems import fd_table
        w = self.world
        T = w.tasks
        row = task.row
        objs = w.index.setdefault("address_spaces", {})
        old_row = int(T.mm[row])
        if old_row in objs:
            # A new mm row; the old one is released once its engine has stopped (we may be
            # inside its syscall hook now).
            new_row = resources.new(w, "address_spaces")
            T.mm[row] = new_row
            objs[new_row] = gm
            self.pending_release.append(old_row)
        else:
            objs[old_row] = gm
        task.mm = gm.aspace
        # unshare_files, unshare_sighand: tables another process shares (CLONE_FILES,
        # CLONE_SIGHAND without CLONE_THREAD) are copied first, so the exec changes only ours
        for kind in ("fd_tables", "signal_handlers"):
            col = getattr(T, resources.KINDS[kind])
            r = int(col[row])
            if r >= 0 and w.tables[kind].refs[r] > 1:
                col[row] = resources.copy(w, kind, r)
                resources.release(w, kind, r)
        fd_table.do_close_on_exec(w, row)
        sh = int(T.sighand[row])
        if sh >= 0:
            sigactions.flush_handlers(w, sh)
        T.clear_child_tid[row] = 0
        tg = int(T.tg[row])
        w.thread_groups.did_exec[tg] = True
        # exit_itimers: POSIX timers die with the old image; setitimer's timers carry over.
        from ..systems import timers
        timers.delete_posix_timers(w, tg)
        self.update_timer_deadline()
        task.exe_path = prog.exe_path
        task.argv, task.envp = prog.argv, prog.envp
        task.comm = os.fsencode(os.path.basename(prog.exe_path))[:15]
        task.robust_list = (0, 0)
        task.fs_base = task.gs_base = 0
        task.__dict__.pop("altstack", None)
        if self.current == row:
            self.current_uch = gm.uc._uch

    def exec_first(self, row: int, path, argv, envp, *, cwd=None):
        """Load ``path`` into task ``row`` (a fresh address space) and make it the current task.
        Raises ExecError (nothing runs) when the program cannot be loaded."""
        from ..syscalls.context import FSContext, Task
        task = Task(self.world, row, self, self.fs, FSContext(cwd))
        gm, prog = self._load(task, path, argv, envp)
        self.tasks[row] = task
        self.world.index["driver_delivered_tasks"].add(row)
        self._commit_exec(task, gm, prog)
        self.switch_to(row)
        return prog

    def execve(self, task, path, argv, envp, cwd=None) -> None:
        """execve(2) from inside the syscall hook: load, commit, and stop the old engine (the
        dispatcher does, on ExecDone); the run loop continues on the new one."""
        from ..syscalls.context import ExecDone
        from ..systems import futex
        gm, prog = self._load(task, path, argv, envp, cwd)
        # Past the point of no return (Linux begin_new_exec): the other threads die (de_thread's
        # zap_other_threads), and the old mm is released as at exit (robust list, clear_child_tid).
        self._zap_other_threads(task.row)
        futex.futex_exec_release(self.world, task.row)
        self._commit_exec(task, gm, prog)
        if self.strace is not None:
            self.strace.write(f"--- exec {prog.exe_path} ---\n")
        raise ExecDone()

    def _zap_other_threads(self, row: int) -> None:
        """Every other thread of ``row``'s process exits now (they never run again; the EXIT
        system finishes them at the next tick). A non-leader that execs keeps its own tid here,
        while Linux hands it the leader's: getpid() is right, gettid() differs."""
        w = self.world
        T = w.tasks
        tg = int(T.tg[row])
        for r in list(self.tasks):
            if r != row and T.alive[r] and int(T.tg[r]) == tg and int(T.exit_state[r]) == 0:
                task_exit.exit_task(w, r, 0)

    def fork_task(self, task, flags: int, *, stack: int = 0, ptid: int = 0, ctid: int = 0,
                  tls: int = 0) -> int:
        """clone(2) from inside the syscall hook: the kernel's clone (rows, FD table, handlers;
        for a process a copy of the address space with its own engine, for a thread the same
        engine), then the child's registers: the parent's, returning 0 from the syscall.
        Returns the child's tid (its pid for a process)."""
        from ..systems import task_clone
        from .sigframe import load_context, read_regs, save_fpstate
        w = self.world
        thread = bool(flags & CLONE_THREAD)
        # CLONE_VM without CLONE_THREAD (vfork, posix_spawn): the child gets a copy; the parent
        # is held until the child execs or exits, so nobody can tell but a child that writes
        # memory for its parent to read before it execs. A thread shares the mm row, and with
        # it the engine: each thread's registers are a context switched in and out.
        strip = CLONE_VFORK | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID
        kflags = flags & ~strip
        child = task_clone.clone(w, task.row, kflags,
                                 child_tid_addr=ctid if flags & CLONE_CHILD_CLEARTID else 0)
        if not thread and flags & CLONE_VM:
            # the kernel saw CLONE_VM (CLONE_SIGHAND may come with it); the child's memory is
            # a copy all the same: an address-space row of its own
            from ..components import resources
            shared = int(w.tasks.mm[child])
            w.tasks.mm[child] = resources.copy(w, "address_spaces", shared)
            resources.release(w, "address_spaces", shared)
        w.flush()
        pid = self.kernel.gettid(w.tasks.handle(child))  # the child's TID (its pid if a process)
        puc = self.memory_of(task.row).uc
        gm = self.memory_of(child)
        from ..syscalls.context import Task
        ct = Task(w, child, self, self.fs, task.fsctx if flags & CLONE_FS else task.fsctx.fork())
        ct.mm = gm.aspace
        for name in ("comm", "exe_path", "argv", "envp", "fs_base", "gs_base"):
            setattr(ct, name, getattr(task, name))
        if hasattr(task, "altstack"):
            ct.altstack = task.altstack
        self.tasks[child] = ct
        w.index["driver_delivered_tasks"].add(child)
        regs = read_regs(puc)
        regs["rip"] = puc.reg_read(X.UC_X86_REG_RIP) + 2  # we are in the hook, on `syscall`
        regs["rax"] = 0
        if stack:
            regs["rsp"] = stack
        fs_base = tls if flags & CLONE_SETTLS else puc.reg_read(X.UC_X86_REG_FS_BASE)
        gs_base = puc.reg_read(X.UC_X86_REG_GS_BASE)
        if flags & CLONE_SETTLS:
            ct.fs_base = tls
        if thread:
            # The parent's registers stay loaded; the child's are written when it is first
            # switched in (see switch_to).
            ct.initial_regs = (regs, save_fpstate(puc), fs_base, gs_base)
        else:
            load_context(gm.uc, regs, save_fpstate(puc), fs_base, gs_base)
            gm.loaded_row = child
        tid = pid.to_bytes(4, "little")
        if flags & CLONE_PARENT_SETTID and ptid:
            for mm in (task.mm, ct.mm):  # the same address in both (a copy)
                try:
                    mm.copy_out(ptid, tid)
                except KernelError:
                    pass
        if flags & CLONE_CHILD_SETTID and ctid:
            try:
                ct.mm.copy_out(ctid, tid)
            except KernelError:
                pass
        if flags & CLONE_VFORK:
            ct.vfork_parent = task.row
            task.vfork_child = child
        self.progress += 1
        # Two tasks can run now: stop (safe: we are in the hook) so the run loop schedules in
        # quanta, or hands over at once to the child of a vfork.
        if self.current_uch is not None:
            if self.stop_reason is None:
                self.stop_reason = "requantum"
            uclib.uc_emu_stop(self.current_uch)
        return pid

    def switch_to(self, row: int) -> None:
        """Make ``row`` the current task: its engine, and on an engine shared by threads, its
        registers (the last thread's are saved in its context first)."""
        if row != self.current and self.current >= 0:
            self.sync_clock()  # the CPU used so far was the previous task's
        gm = self.memory_of(row)
        uc = gm.uc
        loaded = getattr(gm, "loaded_row", row)
        if loaded != row:
            prev = self.tasks.get(loaded)
            if prev is not None:
                if getattr(prev, "ctx", None) is None:
                    prev.ctx = uc.context_save()
                else:
                    uc.context_update(prev.ctx)
            task = self.tasks[row]
            if getattr(task, "initial_regs", None) is not None:
                from .sigframe import load_context
                load_context(uc, *task.initial_regs)
                task.initial_regs = None
            elif getattr(task, "ctx", None) is not None:
                uc.context_restore(task.ctx)
        gm.loaded_row = row
        self.current = row
        self.current_task = self.tasks[row]
        self.current_uch = uc._uch
        if self.fastpath is not None:
            self.fastpath.sync()

    def _complete_kernel_block(self, row: int) -> None:
        """A syscall the kernel blocked as a row (a futex wait) was completed by a wake, a
        timeout or a signal: hand ``tasks.ret`` to the guest, or restart the call."""
        T = self.world.tasks
        task = self.tasks[row]
        nr, rip = task.kblocked
        task.kblocked = None
        self.switch_to(row)
        uc = self.memory_of(row).uc
        ret = int(T.ret[row])
        if ret in (-ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND):
            uc.reg_write(X.UC_X86_REG_RAX, nr)
            uc.reg_write(X.UC_X86_REG_RIP, rip)
        elif ret == -ERESTART_RESTARTBLOCK:
            uc.reg_write(X.UC_X86_REG_RAX, NR_RESTART_SYSCALL)
            uc.reg_write(X.UC_X86_REG_RIP, rip)
        else:
            uc.reg_write(X.UC_X86_REG_RAX, ret & MASK64)
        T.run_state[row] = RunState.runApp
        T.block[row] = BlockKind.NONE
        self.progress += 1

    # -- registers the syscalls need --------------------------------------------------------------
    def set_segment_base(self, task, fs: bool, value: int) -> None:
        uc = self.memory_of(task.row).uc
        uc.reg_write(X.UC_X86_REG_FS_BASE if fs else X.UC_X86_REG_GS_BASE, value)
        if fs:
            task.fs_base = value
        else:
            task.gs_base = value

    def get_segment_base(self, task, fs: bool) -> int:
        uc = self.memory_of(task.row).uc
        return uc.reg_read(X.UC_X86_REG_FS_BASE if fs else X.UC_X86_REG_GS_BASE)

    # -- faults ------------------------------------------------------------------------------------
    def _on_interrupt(self, uc, intno, user_data):
        if intno == 0x80:  # int $0x80 from 64-bit code: the i386 table, which we do not have
            uc.reg_write(X.UC_X86_REG_RAX, (-ENOSYS) & MASK64)
            return
        self.fault_signal = _VECTOR_SIGNALS.get(intno, SIGSEGV)
        self.fault_addr = uc.reg_read(X.UC_X86_REG_RIP)
        self.fault_code = _VECTOR_CODES.get(intno, SI_KERNEL)
        uc.emu_stop()

    def _on_bad_access(self, uc, access, address, size, value, user_data):
        """Record what a SIGSEGV handler's si_addr / si_code report; Unicorn then fails."""
        self.fault_addr = address
        self.fault_code = SEGV_MAPERR if (1 << access) & UC_HOOK_MEM_UNMAPPED_ACCESSES else SEGV_ACCERR
        return False

    # -- the run loop -----------------------------------------------------------------------------
    def run(self) -> int:
        """Run the guest processes until the first one (the program) has exited; returns its
        wait status (``code << 8`` for exit, the signal number for a fatal signal). Processes it
        leaves behind are killed, as a sandbox ends with its program.

        Scheduling is at syscalls: the current task runs until it blocks, exits or, while
        another task is runnable (or a timer is armed), its quantum of instructions ends; then
        the next runnable task in row order runs. A blocked syscall is retried when its host fds
        are ready, its deadline passed, or (a pipe, a wait for a child) another task made
        progress; when nothing can run, the loop waits on the host for any of those."""
        w = self.world
        T, G = w.tasks, w.thread_groups
        main = self.current
        main_tg = int(T.tg[main])
        last = main
        while True:
            if self.host_signal:
                self._host_kill()
            if G.exiting[main_tg] or not self._group_alive(main_tg):
                break
            self._service_blocked()
            row = self._next_runnable(last)
            if row >= 0:
                last = row
                if row != self.current:
                    self.switch_to(row)
                self.contended = any(r != row and self._runnable(r) for r in self.tasks)
                task = self.tasks[row]
                if self.signals.deliverable(row):
                    # sent while it was not running: delivered on its way back to user mode
                    uc = self.memory_of(row).uc
                    retrying, task.retrying = getattr(task, "retrying", None), None
                    if retrying is not None:  # woken to retry a syscall: it was interrupted
                        task.blocked_on = retrying
                        self.signals.deliver_to_blocked(row)
                    else:
                        self.signals.deliver(row, rip=uc.reg_read(X.UC_X86_REG_RIP),
                                             rax=uc.reg_read(X.UC_X86_REG_RAX), in_hook=False)
                    if not self._runnable(row):
                        if self.exits_pending():
                            self.sync_clock()
                            w.tick()
                            self._forget_dead()
                        continue
                task.retrying = None
                self._run_app(row)
                if self.stop_reason in ("exit", "killed") or self.exits_pending():
                    self.sync_clock()
                    w.tick()  # exits become zombies, parents hear SIGCHLD
                    self._forget_dead()
                    self.progress += 1
                continue
            self._wait_any()
            self.run_timers()
            if self.exits_pending():
                w.tick()
                self._forget_dead()
                self.progress += 1
        status = task_exit.wait_status(w, main)
        self.exited_status = status
        for r in list(self.tasks):  # what the program left running dies with the sandbox
            tg = int(T.tg[r])
            if r != main and T.alive[r] and not G.exiting[tg] and int(T.exit_state[r]) == 0:
                task_exit.kill_by_signal(w, tg, SIGKILL)
        w.tick()
        w.tick()
        self._forget_dead()
        return status

    def _group_alive(self, tg: int) -> bool:
        """Does thread group ``tg`` still have a thread that has not begun to exit?"""
        T = self.world.tasks
        return any(T.alive[r] and int(T.tg[r]) == tg and int(T.exit_state[r]) == 0
                   for r in self.tasks)

    def exits_pending(self) -> bool:
        """Has a guest task begun exiting that the EXIT system has not yet handled?"""
        T, G = self.world.tasks, self.world.thread_groups
        return any(T.alive[r] and (int(T.exit_state[r]) == 1 or
                                   (G.exiting[int(T.tg[r])] and int(T.exit_state[r]) == 0))
                   for r in self.tasks)

    def _host_kill(self) -> None:
        """The host asked us to stop (Ctrl-C, kill): every guest process dies of that signal,
        as it would natively in the same foreground process group."""
        T, G = self.world.tasks, self.world.thread_groups
        for r in list(self.tasks):
            tg = int(T.tg[r])
            if T.alive[r] and not G.exiting[tg]:
                task_exit.kill_by_signal(self.world, tg, self.host_signal)

    def _runnable(self, row: int) -> bool:
        T, G = self.world.tasks, self.world.thread_groups
        if not T.alive[row] or int(T.exit_state[row]) != 0 or G.exiting[int(T.tg[row])]:
            return False
        if int(T.run_state[row]) != RunState.runApp:
            return False
        vc = getattr(self.tasks[row], "vfork_child", None)
        if vc is not None:  # vfork: the parent waits until the child execs or exits
            ct = self.tasks.get(vc)
            if ct is not None and getattr(ct, "vfork_parent", None) == row and T.alive[vc] \
                    and int(T.exit_state[vc]) == 0:
                return False
            self.tasks[row].vfork_child = None
        return True

    def _next_runnable(self, last: int) -> int:
        rows = sorted(self.tasks)
        order = [r for r in rows if r > last] + [r for r in rows if r <= last]
        for r in order:
            if self._runnable(r):
                return r
        return -1

    def _forget_dead(self) -> None:
        """Drop the Python side of tasks whose rows were released (rows are reused)."""
        T = self.world.tasks
        driven = self.world.index["driver_delivered_tasks"]
        for r in list(self.tasks):
            if not T.alive[r] or int(T.exit_state[r]) == 3:  # ExitState.DEAD
                if r == self.current:
                    continue  # the program's own row: its status is read after the loop
                del self.tasks[r]
                driven.discard(r)

    def _service_blocked(self) -> None:
        """Wake blocked tasks whose condition may hold (they retry their syscall), and deliver
        signals to blocked tasks (a handler interrupts the syscall: EINTR or restart)."""
        T = self.world.tasks
        for r in list(self.tasks):
            if not T.alive[r] or int(T.exit_state[r]):
                continue
            if getattr(self.tasks[r], "kblocked", None) is not None and \
                    int(T.run_state[r]) == RunState.runSyscallExit:
                self._complete_kernel_block(r)
                continue
            if int(T.run_state[r]) != RunState.blocked:
                continue
            if int(T.block[r]) == BlockKind.STOPPED:
                continue  # a group stop: only SIGCONT or SIGKILL ends it
            if self.signals.deliverable(r):
                if r != self.current:
                    self.switch_to(r)
                if self.signals.deliver_to_blocked(r):
                    self._unblock(r)
                    continue
            blk = getattr(self.tasks[r], "blocked_on", None)
            if blk is None:
                continue
            if self._ready(blk):
                self._unblock(r)
                # Still inside its syscall until the retry runs: a signal delivered before then
                # follows the interrupted-syscall rules (see the run loop).
                self.tasks[r].retrying = blk

    def _ready(self, blk) -> bool:
        if blk.deadline is not None and self.monotonic_ns() >= blk.deadline:
            return True
        if blk.read_fds or blk.write_fds:
            try:
                r, wr, _ = select.select(blk.read_fds, blk.write_fds, [], 0)
            except (OSError, ValueError):
                return True  # the retry reports the error
            return bool(r or wr)
        if blk.deadline is None and blk.progress:
            return self.progress > blk.progress_seen  # another task did something
        return False

    def _wait_any(self) -> None:
        """Nothing can run: wait on the host for the first blocked task's fds, the nearest
        deadline or timer, at most WAIT_SLICE (so host signals are noticed)."""
        T = self.world.tasks
        rfds, wfds, deadlines = [], [], []
        for r, task in self.tasks.items():
            blk = getattr(task, "blocked_on", None)
            if blk is None or not T.alive[r] or int(T.run_state[r]) != RunState.blocked:
                continue
            rfds.extend(blk.read_fds)
            wfds.extend(blk.write_fds)
            if blk.deadline is not None:
                deadlines.append(blk.deadline)
        timeout = self._timeout_until(min(deadlines) if deadlines else None)
        if rfds or wfds:
            try:
                select.select(rfds, wfds, [], timeout)
            except (OSError, ValueError):
                pass
        else:
            time.sleep(timeout)

    def _run_app(self, row: int) -> None:
        """runApp: execute guest code until the hook stops the engine or the guest faults."""
        gm = self.memory_of(row)
        uc = gm.uc
        self.fault_signal = 0
        self.fault_addr = 0
        self.fault_code = SI_KERNEL
        self.stop_reason = None
        self.stop_requested = False
        if self.use_fast_path and self.tier_up_countdown == 0 and self.fastpath is None:
            self._tier_up()
        if self.fastpath is not None:
            self.fastpath.sync()  # Python ran since the last syscall: tables may have grown
        # While a timer is armed, run in quanta of instructions so a loop without syscalls
        # still meets its SIGALRM (count= costs a per-instruction check, so only then).
        quantum = TIMER_QUANTUM if self.timer_deadline_ns is not None or self.contended else 0
        self.running_unbounded = not quantum
        try:
            uc.emu_start(uc.reg_read(X.UC_X86_REG_RIP), 0, count=quantum)
        except UcError as e:
            self.fault_signal = _UC_ERR_SIGNALS.get(e.errno, SIGSEGV)
            if self.fault_signal == SIGILL:
                self.fault_addr, self.fault_code = uc.reg_read(X.UC_X86_REG_RIP), 2  # ILL_ILLOPN
            elif self.fault_signal == SIGBUS:
                self.fault_code = 1  # BUS_ADRALN
        if self.pending_release:
            from ..components import resources
            rows, self.pending_release = self.pending_release, []
            for mm_row in rows:
                resources.release(self.world, "address_spaces", mm_row)
            if self.stop_reason == "exec":
                return
        self.running_unbounded = False
        if self.stop_reason == "requantum" and not self.fault_signal:
            return
        if self.internal_error is not None and self.strict:
            err, self.internal_error = self.internal_error, None
            raise err
        w = self.world
        T = w.tasks
        if self.host_signal:
            return  # stopped from outside: run() kills the guest with the host's signal
        if self.fault_signal:
            self._fault(row, self.fault_signal)
        elif self.stop_reason is None and int(T.run_state[row]) == RunState.runApp \
                and not w.thread_groups.exiting[int(T.tg[row])]:
            if quantum and not _after_hlt(uc):
                self._end_quantum(row, uc)
                return
            # emu_start returned on its own (hlt): #GP in user mode.
            self._fault(row, SIGSEGV)

    def _end_quantum(self, row: int, uc) -> None:
        """A quantum ended between two instructions: run due timers, deliver what they sent."""
        self.sync_clock()
        self.run_timers()
        if self.signals.deliverable(row):
            self.signals.deliver(row, rip=uc.reg_read(X.UC_X86_REG_RIP),
                                 rax=uc.reg_read(X.UC_X86_REG_RAX), in_hook=False)

    def _fault(self, row: int, signo: int) -> None:
        """A CPU exception: the signal is forced on the task (Linux force_sig_fault); a handler
        runs at the faulting instruction, or the default action ends the process."""
        if self.strace is not None:
            rip = self.memory_of(row).uc.reg_read(X.UC_X86_REG_RIP)
            self.strace.write(f"--- {_signame(signo)} {{si_code={self.fault_code}, "
                              f"si_addr={self.fault_addr:#x}}} at rip={rip:#x} ---\n")
        self.signals.fault(row, signo, self.fault_code, self.fault_addr)

    # -- clocks and timers in guest mode -------------------------------------------------------
    def sync_clock(self) -> None:
        """The kernel clock follows the host's monotonic clock while guests run, and the CPU
        time the emulator thread used since the last sync is charged to the current task."""
        from ..systems import cpu_clocks
        w = self.world
        now = time.monotonic_ns() - self._t0
        if now > w.now_ns:
            w.now_ns = now
        cpu_clocks.set_realtime(w, time.time_ns())
        cpu = time.thread_time_ns()
        if cpu > self._cpu_seen and self.current >= 0:
            cpu_clocks.charge(w, self.current, cpu - self._cpu_seen)
        self._cpu_seen = cpu

    def run_timers(self) -> None:
        """One kernel tick at the host's time if a timer or sleep may be due: timers fire,
        signals are queued; the caller delivers them."""
        if self.timer_deadline_ns is None or time.monotonic_ns() < self.timer_deadline_ns:
            return
        self.sync_clock()
        w = self.world
        tick = w.settings.tick_ns
        w.now_ns -= tick  # tick() adds it back: this tick ends now
        w.tick()
        self.update_timer_deadline()

    def update_timer_deadline(self) -> None:
        """When the run loop must next run the timers: the earliest armed clock timer, or every
        tick while a CPU-time timer is armed; None when nothing is armed."""
        w = self.world
        M = w.timers
        n = M.n
        Wt = w.futex_waiters
        from ..components.futex import NO_DEADLINE
        waits = Wt.deadline[:Wt.n][Wt.alive[:Wt.n] & (Wt.deadline[:Wt.n] < NO_DEADLINE)] if Wt.n else ()
        futex_soon = int(min(waits)) + self._t0 if len(waits) else None
        if n == 0:
            self.timer_deadline_ns = futex_soon
            return
        # A periodic timer whose signal was queued is re-armed by the timer system once the
        # signal is dequeued: poll it like a CPU timer until then.
        armed = (M.tm_armed[:n] | M.tm_rearm[:n]) & M.alive[:n]
        if not armed.any():
            self.timer_deadline_ns = futex_soon
            return
        base = M.tm_base[:n]
        clock = armed & ~M.tm_rearm[:n] & ((base == BASE_MONO) | (base == BASE_REAL))
        tick = w.settings.tick_ns
        soon = None
        if clock.any():
            from ..systems import cpu_clocks
            exp = M.tm_expiry[:n][clock].astype(np.int64)
            exp = np.where(base[clock] == BASE_REAL, exp - cpu_clocks.realtime_offset(w), exp)
            soon = int(exp.min()) + self._t0
        if (armed & ~clock).any():
            cpu_soon = time.monotonic_ns() + tick
            soon = cpu_soon if soon is None else min(soon, cpu_soon)
        if futex_soon is not None:
            soon = futex_soon if soon is None else min(soon, futex_soon)
        self.timer_deadline_ns = soon
        if soon is not None and self.running_unbounded and self.current_uch is not None:
            # Armed from a syscall while the engine runs without quanta: stop (we are in the
            # hook, so this is safe) and let the run loop start again in quanta.
            self.stop_reason = "requantum"
            uclib.uc_emu_stop(self.current_uch)

    def after_syscall(self, task, rip: int, rax: int) -> bool:
        """On the way back to user mode from a syscall (in the hook): due timers, then signal
        delivery. Returns True if the registers were redirected into a handler."""
        if self.timer_deadline_ns is not None:
            self.run_timers()
        row = task.row
        try:
            if not self.signals.deliverable(row):
                return False
            return self.signals.deliver(row, rip=rip, rax=rax, in_hook=True)
        except Exception as exc:  # a kernel bug: reported, never a traceback through Unicorn
            self.report_internal_error(-1, "signal delivery", exc)
            self.stop_requested = self.strict or self.stop_requested
            return False

    def _unblock(self, row: int) -> None:
        T = self.world.tasks
        T.run_state[row] = RunState.runApp
        T.block[row] = BlockKind.NONE
        self.tasks[row].blocked_on = None

    def block(self, row: int, blk) -> None:
        """The hook's half of a blocking syscall: remember what to wait for."""
        T = self.world.tasks
        T.run_state[row] = RunState.blocked
        T.block[row] = BlockKind.SLEEP
        blk.progress_seen = self.progress
        self.tasks[row].blocked_on = blk

    def _timeout_until(self, deadline: int | None) -> float:
        """Seconds to wait: to the deadline or the next timer, at most WAIT_SLICE."""
        now = self.monotonic_ns()
        timeout = WAIT_SLICE
        for d in (deadline, self.timer_deadline_ns):
            if d is not None:
                timeout = min(timeout, max(0.0, (d - now) / 1e9))
        return timeout

    def interrupt(self, signo: int) -> None:
        """From another thread: the host got ``signo`` (SIGINT, SIGTERM, SIGHUP) and the guest
        must die of it. Stopping Unicorn asynchronously can re-execute one instruction (DESIGN's
        hazard), which is harmless here because the guest never runs again."""
        self.host_signal = signo
        uch = self.current_uch
        if uch is not None:
            uclib.uc_emu_stop(uch)

    def report_internal_error(self, nr: int, name: str, exc: BaseException) -> None:
        self.internal_error = exc
        if self.strict:
            return
        msg = f"ecs-kernel: internal error in {name} (syscall {nr}): {type(exc).__name__}: {exc}"
        if os.environ.get("ECS_KERNEL_DEBUG"):
            msg += "\n" + "".join(traceback.format_exception(exc))
        print(msg, file=self.stderr)


def _after_hlt(uc) -> bool:
    """Did the engine stop on its own right after a ``hlt`` (0xf4)?"""
    try:
        return bytes(uc.mem_read(uc.reg_read(X.UC_X86_REG_RIP) - 1, 1)) == b"\xf4"
    except UcError:
        return False


def _signame(signo: int) -> str:
    import signal as _signal
    try:
        return _signal.Signals(signo).name
    except ValueError:
        return f"signal {signo}"


__all__ = ["Machine", "GuestMemory", "new_engine"]
