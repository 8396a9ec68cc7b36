"""The run loop of guest tasks: scheduling, contexts, the way back from a blocked syscall.

gVisor: kernel/task_run.go (the run loop of named states), task_block.go, task_syscall.go. Every
guest task (processes from fork/vfork/clone, threads from clone(CLONE_THREAD)) runs on the one
host thread, in turns: the current task runs until it blocks, exits, or, while another task is
runnable or a deadline is armed, its quantum of instructions ends; then the next runnable row
runs. What the loop does with a task follows its run state (components/task.py):

    runApp          run guest code (:meth:`Platform.run`) until a hook stops the engine
    runSyscallExit  a blocked syscall was completed by a system or another task's call (its result
                    or a restart code in ``ret``): :meth:`Machine.syscall_exit` hands it to the
                    guest, then pending signals are delivered
    blocked         nothing: the kernel's systems wake it (systems/task_block.py lists what each
                    kind waits for). A deliverable signal is delivered to it (a handler interrupts
                    the call; a stop or a death acts on it as on any task)

Blocking is data: a syscall that must wait leaves its task a row in a blocked run state with the
request in component columns, raises KernelBlocked, and the hook stops the engine (rip stays after
the ``syscall`` instruction, rax still holds the number, as Linux's orig_ax). No Python frame holds
it. When no task can run, the loop ticks the World at the clock's time (the systems wake what is
due) and otherwise sleeps on the host until the next deadline or a host fd the blocked tasks wait
on (:meth:`Machine.idle`). The Machine itself keeps only engines and CPU contexts: ``tasks`` maps a
row to its :class:`~ecs_kernel.syscalls.context.Task` (the address space, file-system context and
registers of a guest thread).

Time: kernel time is the clock's (cpu/clock.py; by default the host's CLOCK_MONOTONIC): the World
is ticked at it whenever a deadline falls due, after exits, and when nothing can run. Signals are
delivered on the way back to user mode (cpu/signals.py).

Guest faults are signals forced on the task (a handler may catch them); without one, the default
action ends it. A guest never causes a Python traceback; a bug in a handler is reported in one
line (or raised with ``strict=True``, which the tests use) and the guest sees -ENOSYS for that call.
"""
from __future__ import annotations

import os
import random
import resource
import sys
import traceback

import numpy as np
from unicorn import x86_const as X

from ..abi import (ADDR_COMPAT_LAYOUT, CLONE_SETTLS, CLONE_THREAD, CLONE_VM, ERESTARTNOHAND,
                   ERESTARTNOINTR, ERESTARTSYS, ERESTART_RESTARTBLOCK, ExitState, NR_RESTART_SYSCALL,
                   PTRACE_EVENT_VFORK_DONE, PTRACE_O_TRACESYSGOOD, PTRACE_O_TRACEVFORKDONE,
                   RLIMIT_AS, RLIMIT_DATA, RLIMIT_STACK, SEGV_MAPERR,
                   SIGTRAP, SYSCALL_WORK_TRACE, TRAP_TRACE, Block, RunState, SIGKILL, SIGSEGV,
                   UNBLOCKABLE)
from ..components import pidns, resources, sigactions
from ..components import ptrace as P
from ..components.rlimits import get as rlimit_get
from ..errors import KernelError
from ..syscalls import dispatch, sys_rseq
from ..syscalls.context import ExecDone, FSContext, Task, s64
from ..systems import (cpu_clocks, fasync, futex, io_wait, loadavg, ptrace, task_block,
                       task_clone, task_exec, task_exit, task_signals)
from ..systems.task_signals import deliverable
from . import host_limits, host_signals, loader, scheduler, sigframe, vsyscall
from ..fs.file import WaitQueue
from .clock import HostClock, VirtualClock
from .exec_args import ExecCreds
from .memory import AddressSpace, default_mmap_base, machine_memory
from .platform import BLOCK_HOOK_IDLE_RUNS, GENERAL_REGS, GuestMemory, Platform, new_engine
from .signals import INIT_FP, GuestSignals

QUANTUM = scheduler.QUANTUM  # guest instructions per turn while another task or a deadline waits
RSEQ_PEEK = scheduler.RSEQ_PEEK  # the first quantum of a thread alone after it registers rseq
MASK64 = (1 << 64) - 1
_RESTART = (-ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND)
_RESTART_CODES = (*_RESTART, -ERESTART_RESTARTBLOCK)
DEADLOCKED = -3  # run()'s status when a deterministic run deadlocked (machine.deadlock says how)
MEMORY_TOTAL = 4 << 30  # the guests' machine when no run --memory limit sizes it (in-process runs)


def _host_minflt() -> int:
    """This host thread's minor page faults so far: a guest's pages are host memory, so the
    faults its code takes while it runs are the host's (getrusage's ru_minflt)."""
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt


# Up to this many guest tasks the run loop's questions of every task (who can run, who has a
# signal to take, who is exiting) are a Python loop over them; above, numpy over the columns
# (a numpy call costs ~1 us, a task in the loop ~1 us; tests/cpu/test_machine.py holds the two
# forms to the same answers).
FEW_TASKS = 8
_BLOCKABLE = np.uint64(~UNBLOCKABLE & MASK64)  # what a signal mask can hold back
_BLOCK_NAMES = {v: k for k, v in vars(Block).items() if k.isupper() and isinstance(v, int)}


class Machine:
    """Runs the guest tasks of one Kernel on Unicorn (one engine per address space)."""

    few_tasks = FEW_TASKS  # (the compiled hand-off asks the same question as hand_off)
    hand_off_enabled = True  # the tests switch it off to compare both ways (compiled ones too)
    # FUTEX_WAIT that blocks (with the hand-off) and FUTEX_WAKE with waiters in the compiled hook
    # (jit/fastpath/kernel.py); the tests switch it off to compare both ways
    futex_compiled = True

    def __init__(self, kernel, fs, *, strace=None, seed: int | None = None, strict: bool = False,
                 stderr=None, fast_path: bool = True, fast_path_after: int = 0, clock=None,
                 deterministic: bool = False, tlb_fills_before_compile: int | None = None):
        self.kernel = kernel
        self.world = kernel.world
        self.fs = fs
        # Deterministic: nothing the guest sees comes from the host but its input. Time is
        # virtual (moved by turns, retired quanta and blocking), rdtsc reads it, randomness and
        # the choice of the next task come from the seed, and tasks switch only at syscalls and
        # at quantum ends (instruction counts), never at host-timed moments.
        self.deterministic = deterministic
        if deterministic:
            seed = 0 if seed is None else seed
            if clock is None:
                clock = VirtualClock()
        self.clock = clock if clock is not None else HostClock()
        # --strace: a Strace (syscalls/strace.py), or a text stream to print strace lines to
        if strace is not None:  # --strace's printer: a run without it never loads its ~120 KB
            from ..syscalls.strace import Strace
            if not isinstance(strace, Strace):
                strace = Strace(strace)
        self.strace = strace
        if self.strace is not None:
            self.strace.realtime_ns = self.realtime_ns
            self.strace.pid_of = self._tid
        self.stdio: tuple = (0, 1, 2)  # the host fds the guest's stdio slots were (checkpoints)
        self.strict = strict
        self.stderr = stderr or sys.stderr
        self.rng = random.Random(seed)
        self.sched_rng = random.Random(f"schedule {seed}")  # the next task, in deterministic mode
        # who runs next and for how long (cpu/scheduler.py); the explorer puts its own here
        self.scheduler = scheduler.Seeded(self.sched_rng) if deterministic else scheduler.RoundRobin()
        self.deadlock: list | None = None  # the blocked tasks, once a deterministic run deadlocked
        self._quantum = 0
        self.tasks: dict[int, Task] = {}  # row -> the guest thread's Task
        self.current = -1
        self.current_task = None
        self.main_row = -1  # the program's first task: the run ends when its process has
        self.internal_error: BaseException | None = None
        self.pending_release: list[int] = []  # address_spaces rows to release once stopped
        self.timer_deadline_ns: int | None = None  # next kernel deadline (the clock's ns)
        self.contended = False  # another guest task is runnable: run in quanta
        self.turn_start_ns = 0  # kernel time the current turn began (the scheduler's slice)
        self._wakeups_seen = 0  # fs/file.WaitQueue.wakeups at after_syscall's last look
        self.last_turn = -1  # the row of the run loop's last turn (run())
        self.preempted = -1  # the row whose turn ended while it could still run (nivcsw)
        self.context_switches = 0  # switches from one guest task to another (/proc/stat's ctxt)
        self.hand_offs = 0  # turns taken inside the syscall hook (hand_off)
        self._until = None  # run()'s until: asked between turns, so no turn is taken in a hook
        # --strace prints every syscall, so it keeps every call on the Python hook.
        fast = fast_path and self.strace is None
        self.platform = Platform(self, fast_path=fast, fast_path_after=fast_path_after,
                                 clock_gettime=self.clock.c_clock_gettime() if fast else 0,
                                 cpu0_ns=self.clock.cpu0_ns,
                                 tlb_fills_before_compile=tlb_fills_before_compile)
        self.dispatcher = dispatch.Dispatcher(self)
        # Our tasks' signals are delivered here, with frames in guest memory, not by the
        # kernel's signal system: each task we run has its ``guest`` column set.
        self.signals = GuestSignals(self)
        self.host_signals = host_signals.HostSignalBox()  # signals the host sent the guest
        self._cpu_seen = self.clock.thread_cpu_ns()
        # ru_minflt: the host's page faults since the last sync are the current task's, as its
        # CPU time is; none in a deterministic run, whose guests see nothing of the host
        self._minflt = (lambda: 0) if self.deterministic else _host_minflt
        self._flt_seen = self._minflt()
        self.stop_deadline_ns: int | None = None  # kernel time the run loop must stop by
        self.sync_clock()
        self.boot_ns = self.world.now_ns  # kernel tick 0 starts here (a checkpoint keeps it)

    def _tid(self, task) -> int:
        """A task's thread id in its PID namespace (strace's pid)."""
        w = self.world
        return pidns.tid_in(w, task.row, int(w.tasks.ns[task.row]))

    # -- the clock (cpu/clock.py) and randomness -----------------------------------------------
    def realtime_ns(self) -> int:
        return self.clock.realtime_ns()

    def monotonic_ns(self) -> int:
        return self.clock.monotonic_ns()

    def cpu_time_ns(self) -> int:
        return self.clock.cpu_time_ns()

    def random_bytes(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    @property
    def fastpath(self):
        return self.platform.fastpath

    # -- address spaces -------------------------------------------------------------------------
    def memory_of(self, row: int) -> GuestMemory:
        mm_row = int(self.world.tasks.mm[row])
        return self.world.index.address_spaces[mm_row]

    def _new_memory(self, row: int) -> GuestMemory:
        """A fresh engine and empty address space with the task's limits and our hooks."""
        w = self.world
        tg = int(w.tasks.tg[row])
        stack, _ = rlimit_get(w, tg, RLIMIT_STACK)
        uc = new_engine()
        aspace = AddressSpace(uc, mmap_base=default_mmap_base(min(stack, 1 << 40)))
        aspace.rlimit_as, _ = rlimit_get(w, tg, RLIMIT_AS)
        aspace.rlimit_data, aspace.rlimit_data_max = rlimit_get(w, tg, RLIMIT_DATA)
        aspace.rlimit_stack = stack
        gm = GuestMemory(aspace, uc)
        self.platform.add_hooks(gm)
        return gm

    # -- exec -----------------------------------------------------------------------------------
    def _load(self, task, path, argv, envp, cwd=None):
        """Load ``path`` into a new GuestMemory for ``task``; nothing of the task changes.
        Raises ExecError."""
        w = self.world
        T = w.tasks
        row = task.row
        stack, _ = rlimit_get(w, int(T.tg[row]), RLIMIT_STACK)
        gm = self._new_memory(row)
        gm.aspace.legacy_layout = int(bool(T.personality[row] & ADDR_COMPAT_LAYOUT))
        ec = ExecCreds(int(T.ruid[row]), int(T.euid[row]), int(T.rgid[row]), int(T.egid[row]))
        try:
            prog = loader.load(task.fs, gm.aspace, path, argv, envp,
                               cwd=task.fsctx.cwd if cwd is None else cwd,
                               creds=task.creds(), exec_creds=ec,
                               random16=self.random_bytes(16), rlimit_stack=min(stack, 1 << 30))
        except BaseException:
            gm.release()
            raise
        uc = gm.uc
        for reg in GENERAL_REGS:
            uc.reg_write(reg, 0)
        uc.reg_write(X.UC_X86_REG_FS_BASE, 0)
        uc.reg_write(X.UC_X86_REG_GS_BASE, 0)
        # The FPU state a Linux process starts with (fpstate_init): Unicorn's engine starts
        # with a zero x87 control word (single precision, exceptions unmasked) and MXCSR 0.
        sigframe.restore_fpstate(uc, INIT_FP)
        uc.reg_write(X.UC_X86_REG_RSP, prog.sp)
        uc.reg_write(X.UC_X86_REG_RIP, prog.entry)
        return gm, prog

    def _commit_exec(self, task, gm: GuestMemory, prog, path) -> None:
        """The point of no return (systems/task_exec.begin_new_exec), then the new image's names
        and the thread's CPU state. The task's name is the last component of ``path`` as execve
        was given it (Linux: bprm->filename: ``sh`` for /bin/sh -> dash, a script's own name)."""
        row = task.row
        old = task_exec.begin_new_exec(self.world, row, gm)
        if old >= 0:
            self.pending_release.append(old)  # its engine may be running us: release it after
        gm.loaded_row = row
        task.mm = gm.aspace
        gm.aspace.exe_path = prog.exe_path
        gm.aspace.argv, gm.aspace.envp = prog.argv, prog.envp
        task.comm = os.path.basename(os.fsencode(path))[:15]
        task.ctx = task.initial_regs = None
        self._note_ctx(row, None)
        self.update_timer_deadline()
        if self.current == row:
            self.platform.current_uch = gm.uc._uch

    def exec_first(self, row: int, path, argv, envp, *, cwd=None):
        """Load ``path`` into task ``row`` (a fresh address space) and make it the current task.
        Raises ExecError (nothing runs) when the program cannot be loaded."""
        w = self.world
        fsrow = resources.new(w, "fs_contexts")
        w.index.fs_contexts[fsrow] = FSContext(cwd)
        old = int(w.tasks.fsctx[row])
        w.tasks.fsctx[row] = fsrow
        if old >= 0:
            resources.release(w, "fs_contexts", old)
        task = Task(w, row, self, self.fs)
        gm, prog = self._load(task, path, argv, envp)
        self.tasks[row] = task
        self._note_ctx(row, None)
        self.world.tasks.guest[row] = True
        self._commit_exec(task, gm, prog, path)
        self.switch_to(row)
        if self.strace is not None:  # strace's first line: the execve that started the program
            envp_addr = prog.sp + 8 * (len(prog.argv) + 2)  # past argc and argv's NULL
            self.strace.exec_line(task, os.fsdecode(path), [os.fsdecode(a) for a in argv],
                                  len(envp), envp_addr)
        return prog

    def execve(self, task, path, argv, envp, cwd=None) -> None:
        """execve(2) from inside the syscall hook: load, commit, and stop the old engine (the
        dispatcher does, on ExecDone); the run loop continues on the new one."""
        gm, prog = self._load(task, path, argv, envp, cwd)
        self._commit_exec(task, gm, prog, path)
        w = self.world
        if int(w.thread_groups.exec_task[int(w.tasks.tg[task.row])]) == task.row:
            # from a non-leader thread: it takes the old leader's place once that is a zombie
            # (now, or blocked until then); the ptrace report comes then (task_exit.promote_exec)
            task_exec.wait_for_leader(w, task.row)
        elif w.index.ptraced:
            ptrace.exec_event(w, task.row, task.row)
        raise ExecDone()

    # -- clone ----------------------------------------------------------------------------------
    def fork_task(self, task, flags: int, *, stack: int = 0, ptid: int = 0, ctid: int = 0,
                  tls: int = 0, exit_signal: int | None = None, set_tid: tuple[int, ...] = (),
                  clear_sighand: bool = False) -> int:
        """clone(2) from inside the syscall hook: the kernel's clone (rows, FD table, handlers; a
        vfork parent blocked until the child execs or exits; for a process a copy of the address
        space with its own engine, for a thread the same engine), then the child's registers:
        the parent's, returning 0 from the syscall. Returns the child's tid (its pid for a
        process). clone3's ``exit_signal``, ``set_tid`` and ``clear_sighand`` go to the kernel's
        clone as they are."""
        w = self.world
        thread = bool(flags & CLONE_THREAD)
        self.sync_clock()  # the child's start time is now (/proc/<pid>/stat)
        child = task_clone.clone(w, task.row, flags & ~CLONE_SETTLS, exit_signal=exit_signal,
                                 child_tid_addr=ctid, parent_tid_addr=ptid, set_tid=set_tid,
                                 clear_sighand=clear_sighand)
        if not thread and flags & CLONE_VM:
            # CLONE_VM without CLONE_THREAD (vfork, posix_spawn): the kernel saw it; the child's
            # memory is a copy all the same (an address-space row of its own). The parent is held
            # until the child execs or exits, so nobody can tell but a child that writes memory
            # for its parent to read before it execs.
            shared = int(w.tasks.mm[child])
            w.tasks.mm[child] = resources.copy(w, "address_spaces", shared)
            resources.release(w, "address_spaces", shared)
        w.flush()
        # the child's TID (its pid if a process) as the parent's PID namespace sees it
        pid = pidns.tid_in(w, child, int(w.tasks.ns[task.row]))
        puc = self.memory_of(task.row).uc
        gm = self.memory_of(child)
        ct = Task(w, child, self, self.fs)  # its fs_contexts row: the kernel's clone (CLONE_FS)
        ct.mm = gm.aspace
        self.tasks[child] = ct
        self._note_ctx(child, None)
        w.tasks.guest[child] = True
        if self.strace is not None:
            self.strace.attach(ct)
        regs = sigframe.read_regs(puc)
        regs["rip"] = puc.reg_read(X.UC_X86_REG_RIP) + 2  # we are in the hook, on `syscall`
        regs["rax"] = 0
        if stack:
            regs["rsp"] = stack
        fs_base = tls if flags & CLONE_SETTLS else puc.reg_read(X.UC_X86_REG_FS_BASE)
        gs_base = puc.reg_read(X.UC_X86_REG_GS_BASE)
        if thread:
            # A second thread: its hand-offs (futex waits and wakes between threads of one
            # engine) are served compiled, and a Python one costs ~50x a compiled one, so the
            # compiled hook goes in now, before the threads start handing off (Platform.tier_up).
            self.platform.tier_up_soon()
            # The parent's registers stay loaded; the child's are kept as a thread switched out
            # keeps its own, in a context (the parent's, with what clone changes), so its first
            # turn is like any other: the compiled hand-off restores it too (jit/fastpath).
            ctx = puc.context_save()
            for reg, v in ((X.UC_X86_REG_RIP, regs["rip"]), (X.UC_X86_REG_RAX, 0),
                           (X.UC_X86_REG_RSP, regs["rsp"]), (X.UC_X86_REG_FS_BASE, fs_base),
                           (X.UC_X86_REG_GS_BASE, gs_base)):
                ctx.reg_write(reg, v)
            ct.ctx = ctx
            self._note_ctx(child, ctx)
        else:
            sigframe.load_context(gm.uc, regs, sigframe.save_fpstate(puc), fs_base, gs_base)
            gm.loaded_row = child
        event = ptrace.clone_event(w, task.row, child, flags) if w.index.ptraced else 0
        if w.index.ptraced and w.tasks.ptracer[task.row] >= 0 and \
                w.tasks.run_state[task.row] == RunState.blocked:
            # a traced vfork parent: PTRACE_EVENT_VFORK_DONE once the child releases it
            w.tasks.ptrace_event_pending[task.row] = PTRACE_EVENT_VFORK_DONE
        if event and w.tasks.run_state[task.row] == RunState.blocked:
            # a vfork parent: the event stop comes first, the wait for the child after it
            task_signals.ptrace_event_stop(w, task.row, event, int(w.tasks.ptrace_msg[task.row]))
        elif event:  # the stop comes once the call's result is in rax (the dispatcher's exit work)
            w.tasks.ptrace_event_pending[task.row] = event
        # Two tasks can run now: stop (safe: we are in the hook) so the run loop schedules in
        # quanta (or runs the child while a vfork parent waits).
        self.platform.stop("requantum")
        return pid

    def rseq_resume(self, task, rip: int, signo: int) -> int:
        """Where a thread with an rseq area resumes at ``rip`` after a preemption or, for signal
        ``signo``, before its frame (syscalls/sys_rseq.notify_resume); a bad descriptor or an
        unwritable area forces SIGSEGV (force_sigsegv: a SIGSEGV being delivered gets its
        default action)."""
        try:
            return sys_rseq.notify_resume(task, rip)
        except KernelError:
            w = self.world
            if signo == SIGSEGV:
                sigactions.reset_handler(w, int(w.tasks.sighand[task.row]), SIGSEGV)
            task_signals.force_signal(w, task.row, SIGSEGV)
            return rip

    def rseq_registered(self, row: int) -> None:
        """rseq(2) registered ``row``'s area (from the syscall hook): a run without quanta ends
        after the call (safe: we are in the hook), so the next one is cut into quanta and the
        thread can be preempted in a critical section (syscalls/sys_rseq.py)."""
        if self.platform.running_unbounded and row == self.current:
            self.platform.stop("requantum")

    def lone_preempt(self, row: int) -> None:
        """The quantum of watched ``row`` ended and no other task could run: the preemption a
        thread alone on its CPU gets from the tick and the host's other work (Linux
        rseq_preempt at the switch). With a descriptor in its area's ``rseq_cs``: an
        involuntary switch, and ``rseq_event`` (the turn that follows aborts the section or
        clears ``rseq_cs``: rseq_handle_notify_resume). With none the watch ends (nothing the
        thread sees would change but ru_nivcsw); a thread only just registered (WATCH_NEW)
        then runs without quanta again, and the block hook of its engine goes at that run (a
        call per block is the cost of a quantum)."""
        T = self.world.tasks
        try:
            cs = sys_rseq.rseq_cs(self.tasks[row])
        except KernelError:
            cs = 1  # an unreadable area: notify_resume forces SIGSEGV, as Linux's does
        if not cs:
            if T.rseq_watch[row] == sys_rseq.WATCH_NEW:
                T.rseq_watch[row] = 0
                self.memory_of(row).hook_idle_runs = BLOCK_HOOK_IDLE_RUNS
            return
        T.rseq_watch[row] = sys_rseq.WATCH
        T.rseq_event[row] = True
        T.nivcsw[row] += 1

    def yield_cpu(self) -> None:
        """sched_yield(2), from the syscall hook: with another guest task runnable, stop the
        engine after the call (safe: we are in the hook) and the run loop runs the next task."""
        if self.contended and self.platform.current_uch is not None:
            self.platform.stop("requantum")

    # -- contexts -------------------------------------------------------------------------------
    def switch_to(self, row: int) -> None:
        """Make ``row`` the current task: its engine, and on an engine shared by threads, its
        registers (the last thread's are saved in its context first)."""
        if row != self.current and self.current >= 0:
            self.sync_clock()  # the CPU used so far was the previous task's
            self.context_switches += 1
            T = self.world.tasks
            if T.alive[self.current] and T.rseq_addr[self.current]:
                T.rseq_event[self.current] = True  # rseq_preempt
        uc = self._load_registers(row)
        self.current = row
        self.current_task = self.tasks[row]
        self.platform.current_uch = uc._uch
        # (the compiled hook's view of the current task is refreshed by Platform.run, or by
        # hand_off, the one caller inside a hook)

    def hand_off_allowed(self) -> bool:
        """Nothing the run loop does between turns is due, so a turn may be taken inside the
        syscall hook (:meth:`hand_off`, and the compiled hand-off, which FastPath arms with
        this answer): hand-offs on, no ``until``, not deterministic, no strace, RoundRobin, no
        stop or host signal, no timer or stop deadline, no release pending, no file waiter, no
        tracer."""
        p = self.platform
        w = self.world
        return not (not self.hand_off_enabled or self._until is not None or self.deterministic
                    or self.strace is not None or type(self.scheduler) is not scheduler.RoundRobin
                    or p.stop_reason is not None or p.stop_requested or p.host_signal
                    or self.host_signals.pending or self.timer_deadline_ns is not None
                    or self.stop_deadline_ns is not None or self.pending_release
                    or w.io_waits.count or w.index.ptraced)

    def catch_up_compiled_futexes(self, log, n: int, realtime_ns: int | None) -> None:
        """What compiled futex calls left for Python (FastPath.catch_up): the key log's queues
        made and freed applied to the futex key dict, and the realtime clock's last read."""
        if n:
            futex.apply_key_log(self.world, log, n)
        if realtime_ns is not None:
            cpu_clocks.set_realtime(self.world, realtime_ns)

    def hand_off(self, row: int, rip: int) -> bool:
        """From the syscall hook, just after ``row``'s call blocked (its request is a row; ``rip``:
        its ``syscall`` instruction): take the run loop's next turn here, without stopping the
        engine, when that turn would be another thread of the same engine going on at once.
        Returns False (the hook then stops the engine, and the loop takes the turn) unless all
        of it holds:

        - nothing the loop does between turns is due: no ``until`` asked, no host signal, no
          timer or stop deadline armed, no exit to reap, no release pending, no file waiter to
          wake, no blocked task with a signal to take, no tracer, no strace, not deterministic
          (whose turns are instruction counts and seeded choices);
        - the scheduler's pick among the runnable tasks (RoundRobin) is a thread of this engine,
          with no syscall work, no signal to take, and no quantum needed that the running
          engine lacks (another task runnable while it runs unbounded).

        Then the turn is the loop's own: switch_to (CPU charged, registers saved and restored),
        syscall_exit of a completed wait, the rseq fixup; the registers as the stop would have
        left them (rip after the ``syscall``) go into the blocked task's context, and the next
        thread's rip is written less 2, which Unicorn adds when the hook returns. Every task is
        still a row; the saved contexts are what a stop in the hook would have saved."""
        p = self.platform
        w = self.world
        T, G = w.tasks, w.thread_groups
        if not self.hand_off_allowed():
            return False
        tasks = self.tasks
        few = len(tasks) <= FEW_TASKS
        if few:
            for r in tasks:
                if T.alive[r] and T.run_state[r] == RunState.blocked and T.exit_state[r] == 0 \
                        and deliverable(w, r):
                    return False
        elif self._blocked_may_take_signal():
            return False
        if self.exits_pending() or G.exiting[int(T.tg[self.main_row])] \
                or not self._group_alive(int(T.tg[self.main_row])):
            return False
        ready = self._runnable_rows()
        if not ready:
            return False
        nxt = self.scheduler.pick(ready, row)
        gm = self.memory_of(row)
        if nxt == row or self.memory_of(nxt) is not gm or T.syscall_work[nxt] \
                or deliverable(w, nxt):
            return False
        contended = len(ready) > 1
        if contended and p.running_unbounded:
            return False
        regs = p.regs
        uc = gm.uc
        regs.write(uc, X.UC_X86_REG_RIP, (rip + 2) & MASK64)  # as the stop leaves it
        self.last_turn = nxt
        T.nvcsw[row] += 1  # it blocked: a voluntary switch (the run loop counts the others)
        self.clock.turn()
        self.switch_to(nxt)
        self.contended = contended
        self.hand_offs += 1
        if T.run_state[nxt] == RunState.runSyscallExit:
            self.syscall_exit(nxt)
        if T.rseq_event[nxt]:
            T.rseq_event[nxt] = False
            at = regs.read(uc, X.UC_X86_REG_RIP)
            new = self.rseq_resume(self.tasks[nxt], at, 0)
            if new != at:
                regs.write(uc, X.UC_X86_REG_RIP, new)
        # Unicorn adds the length of `syscall` to rip when the hook returns
        regs.write(uc, X.UC_X86_REG_RIP, (regs.read(uc, X.UC_X86_REG_RIP) - 2) & MASK64)
        if p.fastpath is not None:
            p.fastpath.switched()  # the compiled hook's current task
        if not self._runnable(nxt) or deliverable(w, nxt):
            p.stop("requantum")  # (its rseq fixup forced a signal): the loop delivers it
        return True

    def tracee_engine(self, row: int):
        """The engine of task ``row`` (not running: a stopped tracee) with its registers loaded,
        for its tracer to read and write (the task that was loaded keeps its own in its context,
        as switch_to keeps them)."""
        return self._load_registers(row)

    def _load_registers(self, row: int):
        """Make ``row``'s registers the ones in its engine (an engine shared by threads holds
        one thread's at a time): the thread loaded there keeps its own in its context first;
        ``row`` gets its saved context, or a new thread's (a restored task's) first registers.
        Returns the engine."""
        gm = self.memory_of(row)
        uc = gm.uc
        loaded = gm.loaded_row if gm.loaded_row >= 0 else row
        task = self.tasks[row]
        if loaded != row:
            prev = self.tasks.get(loaded)
            if prev is not None:
                if prev.ctx is None:
                    prev.ctx = uc.context_save()
                    self._note_ctx(loaded, prev.ctx)
                else:
                    uc.context_update(prev.ctx)
            if task.initial_regs is None and task.ctx is not None:
                uc.context_restore(task.ctx)
        if task.initial_regs is not None:
            # a new thread's first registers, or a restored task's (its engine is new)
            sigframe.load_context(uc, *task.initial_regs)
            task.initial_regs = None
            self._note_ctx(row, task.ctx)
        gm.loaded_row = row
        return uc

    def _note_ctx(self, row: int, ctx) -> None:
        """The compiled hand-off's view of ``row``'s saved registers (FastPath.note_ctx)."""
        fp = self.platform.fastpath
        if fp is not None:
            fp.note_ctx(row, ctx)

    def tracee_fpregs(self, row: int, image: bytes | None = None) -> bytes:
        """The FXSAVE image of stopped task ``row`` (PTRACE_GETFPREGS); with ``image``, load it
        first (PTRACE_SETFPREGS)."""
        uc = self.tracee_engine(row)
        if image is not None:
            sigframe.restore_fpstate(uc, image)
        return sigframe.save_fpstate(uc)

    def siginfo_of(self, row: int, signo: int) -> bytes:
        """The 128-byte siginfo of the signal ``row`` last dequeued (its SigInfo columns)."""
        return self.signals.siginfo(row, signo)

    # -- registers the syscalls need ----------------------------------------------------------------
    def set_segment_base(self, task, fs: bool, value: int) -> None:
        uc = self.memory_of(task.row).uc
        uc.reg_write(X.UC_X86_REG_FS_BASE if fs else X.UC_X86_REG_GS_BASE, value)

    def user_sp(self, row: int) -> int:
        """The user stack pointer of ``row`` (switched in: in a syscall, the current task)."""
        return self.memory_of(row).uc.reg_read(X.UC_X86_REG_RSP)

    def get_segment_base(self, task, fs: bool) -> int:
        uc = self.memory_of(task.row).uc
        return uc.reg_read(X.UC_X86_REG_FS_BASE if fs else X.UC_X86_REG_GS_BASE)

    # -- the way back from a blocked syscall -----------------------------------------------------
    def syscall_exit(self, row: int) -> bool:
        """runSyscallExit: the blocked syscall of ``row`` (the current task) was completed: a
        result goes to rax (after its completion, e.g. wait4 writing the status, syscalls/table.py);
        a restart code puts rip back on the ``syscall`` instruction with the number in rax
        (restart_syscall's for -ERESTART_RESTARTBLOCK), as Linux's syscall exit does when no
        handler turns it into -EINTR (cpu/signals.py does that when one runs)."""
        T = self.world.tasks
        T.run_state[row] = RunState.runApp
        ret = int(T.ret[row])
        uc = self.memory_of(row).uc
        regs = self.platform.regs
        nr = regs.read(uc, X.UC_X86_REG_RAX)
        if T.ptrace_restart_shown[row]:
            # back from the exit stop that showed a restart code: the tracer may have changed
            # rax (no restart) or orig_rax; signals come first (a handler makes it -EINTR),
            # then the call restarts (restart_after_stop)
            if int(T.ptrace_orig_ax[row]) < 0 or s64(nr) not in _RESTART_CODES:
                T.ptrace_restart_shown[row] = False
            return True
        if (ret in _RESTART or ret == -ERESTART_RESTARTBLOCK) and \
                T.syscall_work[row] & SYSCALL_WORK_TRACE:
            # syscall_exit_work comes before the restart: the exit stop shows the code in rax
            regs.write(uc, X.UC_X86_REG_RAX, ret & MASK64)
            T.ptrace_orig_ax[row] = nr
            T.ptrace_restart_shown[row] = True
            T.run_state[row] = RunState.runSyscallExit  # where the resume goes on
            task_signals.ptrace_stop(self.world, row, P.STOP_SYSCALL_EXIT, SIGTRAP | (
                0x80 if T.ptrace_flags[row] & PTRACE_O_TRACESYSGOOD else 0))
            return False
        if ret in _RESTART or ret == -ERESTART_RESTARTBLOCK:
            regs.write(uc, X.UC_X86_REG_RIP, regs.read(uc, X.UC_X86_REG_RIP) - 2)
            if ret == -ERESTART_RESTARTBLOCK:
                regs.write(uc, X.UC_X86_REG_RAX, NR_RESTART_SYSCALL)
            self.dispatcher.strace_restart(self.tasks[row], nr, ret)
            return False
        ret = self.dispatcher.complete(self.tasks[row], nr, ret, uc)
        regs.write(uc, X.UC_X86_REG_RAX, ret & MASK64)
        if T.ptrace_event_pending[row] == PTRACE_EVENT_VFORK_DONE:
            # kernel_clone after wait_for_vfork_done: the event stop (the child's pid its
            # message), then the call's exit stop if the tracer resumes with PTRACE_SYSCALL
            T.ptrace_event_pending[row] = 0
            if T.ptracer[row] >= 0 and T.ptrace_flags[row] & PTRACE_O_TRACEVFORKDONE:
                T.ptrace_orig_ax[row] = nr
                T.ptrace_exit_due[row] = True
                task_signals.ptrace_event_stop(self.world, row, PTRACE_EVENT_VFORK_DONE, ret)
                return True
        if T.syscall_work[row] & SYSCALL_WORK_TRACE:  # the exit stop of a call that had blocked
            T.ptrace_orig_ax[row] = nr
            task_signals.ptrace_stop(self.world, row, P.STOP_SYSCALL_EXIT, SIGTRAP | (
                0x80 if T.ptrace_flags[row] & PTRACE_O_TRACESYSGOOD else 0))
        return True

    def restart_after_stop(self, row: int) -> None:
        """arch_do_signal_or_restart with no handler, for a call whose exit stop showed a
        restart code: rip back on the ``syscall``, rax orig_rax (restart_syscall's number for
        -ERESTART_RESTARTBLOCK)."""
        T = self.world.tasks
        T.ptrace_restart_shown[row] = False
        uc = self.memory_of(row).uc
        regs = self.platform.regs
        rax = s64(regs.read(uc, X.UC_X86_REG_RAX))
        if rax not in _RESTART_CODES:
            return
        regs.write(uc, X.UC_X86_REG_RIP, regs.read(uc, X.UC_X86_REG_RIP) - 2)
        regs.write(uc, X.UC_X86_REG_RAX, NR_RESTART_SYSCALL if rax == -ERESTART_RESTARTBLOCK
                   else int(T.ptrace_orig_ax[row]) & MASK64)

    # -- the run loop -----------------------------------------------------------------------------
    def run(self, until=None) -> int | None:
        """Run the guest processes until the first one (the program) has exited; returns its
        wait status (``code << 8`` for exit, the signal number for a fatal signal). Processes it
        leaves behind are killed, as a sandbox ends with its program.

        ``until(machine)``, if given, is asked between two turns: when it says True the run stops
        there and returns None. Every task is then a row in the World (running, or blocked with
        its request in columns); ``run()`` again goes on from there."""
        w = self.world
        T, G = w.tasks, w.thread_groups
        if self.main_row < 0:
            self.main_row = self.current
        main = self.main_row
        if self.strace is not None:  # (restored from a checkpoint: traced from here)
            for r, task in self.tasks.items():  # a zombie's "+++ exited" line came before
                if T.alive[r] and int(T.exit_state[r]) < ExitState.ZOMBIE:
                    self.strace.attach(task)
        main_tg = int(T.tg[main])
        # the task of the last turn, which round robin's next pick starts after (a checkpoint
        # keeps it: the pick after a restore is the uninterrupted run's)
        last = self.last_turn if self.last_turn >= 0 else self.current  # (a row number only)
        self._until = until
        while True:
            if until is not None and until(self):
                return None
            if self.platform.host_signal:
                self._host_kill()
            elif self.host_signals.pending:
                host_signals.deliver(self)  # to the foreground job, as a terminal does
            lead = int(G.leader[main_tg])
            if lead != main and lead >= 0 and T.alive[lead] and int(T.tg[lead]) == main_tg:
                # an exec from a thread made another row the leader (de_thread): the program's
                # status is its
                main = self.main_row = lead
            if G.exiting[main_tg] or not self._group_alive(main_tg) or self.deadlock is not None:
                break
            self._service_blocked()
            ready = self._runnable_rows()
            row = self.scheduler.pick(ready, last) if ready else -1
            if row >= 0:
                if self.preempted >= 0 and self.preempted != row and T.alive[self.preempted]:
                    T.nivcsw[self.preempted] += 1  # it could have run on: an involuntary switch
                self.last_turn = row
                self._run_task(row, ready)
                last = self.last_turn  # (a turn taken in the hook moved it: hand_off)
                # schedule()'s count: a task that blocked or stopped gave the CPU up (nvcsw;
                # hand_off counts those it switched away from); one that can run on is
                # switched out only if another is picked next
                self.preempted = -1
                if T.alive[last] and T.run_state[last] == RunState.blocked:
                    T.nvcsw[last] += 1
                elif T.alive[last]:
                    self.preempted = last
                continue
            self.preempted = -1
            self.idle()
        status = DEADLOCKED if self.deadlock is not None else task_exit.wait_status(w, main)
        self.exited_status = status
        for r in list(self.tasks):  # what the program left running dies with the sandbox
            tg = int(T.tg[r])
            if (r != main or self.deadlock is not None) and T.alive[r] and not G.exiting[tg] \
                    and int(T.exit_state[r]) == 0:
                task_exit.kill_by_signal(w, tg, SIGKILL)
        statuses = self._exit_statuses() if self.strace is not None else None
        w.tick()
        w.tick()
        if self.strace is not None:
            self._trace_exits(statuses)
        self._forget_dead()
        return status

    def _run_task(self, row: int, ready: list[int]) -> None:
        """One turn of a runnable task: finish its syscall, deliver its signals, run its code.
        ``ready``: the runnable rows the turn was picked from."""
        T = self.world.tasks
        self.clock.turn()
        if row != self.current:
            self.switch_to(row)
        self.contended = any(r != row for r in ready)
        self.turn_start_ns = self.clock.monotonic_ns()
        if T.run_state[row] == RunState.runSyscallExit:
            self.syscall_exit(row)
            if not self._runnable(row):
                return  # a ptrace exit stop
        if T.rseq_event[row]:  # back on the CPU after another task: rseq_handle_notify_resume
            T.rseq_event[row] = False
            uc = self.memory_of(row).uc
            rip = self.platform.regs.read(uc, X.UC_X86_REG_RIP)
            new = self.rseq_resume(self.tasks[row], rip, 0)
            if new != rip:
                self.platform.regs.write(uc, X.UC_X86_REG_RIP, new)
        if deliverable(self.world, row):
            # sent while it was not running: delivered on its way back to user mode
            uc = self.memory_of(row).uc
            nr = int(T.ptrace_orig_ax[row]) if T.ptrace_restart_shown[row] else -1
            if self.signals.deliver(row, rip=uc.reg_read(X.UC_X86_REG_RIP),
                                    rax=uc.reg_read(X.UC_X86_REG_RAX), in_hook=False, nr=nr):
                T.ptrace_restart_shown[row] = False  # the handler's frame has the call's end
            if not self._runnable(row):
                if self.exits_pending():
                    self.tick()
                return
        if T.ptrace_restart_shown[row]:
            self.restart_after_stop(row)
        self._run_app(row)
        if self.platform.stop_reason in ("exit", "killed") or self.exits_pending():
            self.tick()  # exits become zombies, parents hear SIGCHLD and their waits end

    def idle(self) -> None:
        """No task can run: tick the World (what is due wakes), and if still nothing can run,
        sleep on the host until the next deadline or a host fd a blocked task waits on."""
        self.tick()
        if self._runnable_rows() or self.platform.host_signal or self.host_signals.pending:
            return
        self._service_blocked()
        if self._runnable_rows():
            return
        rfds, wfds = io_wait.host_fds(self.world)
        deadline = self.timer_deadline_ns
        if self.deterministic and deadline is None and not rfds and not wfds \
                and not self.platform.host_signal:
            # Every task waits on another and no time or input can end it: on Linux the program
            # would hang. A deterministic run ends here with the waits (exit status 3).
            self.deadlock = [b for b in task_block.blocked(self.world) if b.row in self.tasks]
            self._deadlock_text = self._describe_deadlock()  # the tasks die with the run
            return
        self.clock.idle(deadline, rfds, wfds, wake=self.host_signals.wake_fds)  # or a host signal
        self.host_signals.drain()
        self.tick()

    def _run_app(self, row: int) -> None:
        """runApp: execute guest code until a hook stops the engine or the guest faults."""
        p = self.platform
        if p.use_fast_path and p.tier_up_countdown == 0 and p.fastpath is None:
            p.tier_up(self.world.index.address_spaces.values())
        gm = self.memory_of(row)
        # While a deadline is armed or another task can run, run in quanta of instructions so a
        # loop without syscalls still meets its SIGALRM and lets the others run (count= costs a
        # per-instruction check, so only then); and while its rseq area may hold a critical
        # section, so that it is preempted (lone_preempt; a short first look after it registers).
        # And while a blocked task waits on a host fd (a pipe or terminal as stdin): its input
        # comes with no syscall of this one, and only the loop's turns look (_service_blocked).
        watch = int(self.world.tasks.rseq_watch[row])
        quantum = self.scheduler.quantum(
            row, self.contended, QUANTUM if self.timer_deadline_ns is not None or self.contended
            else RSEQ_PEEK if watch == sys_rseq.WATCH_NEW else QUANTUM if watch
            else QUANTUM if self._waits_on_host() else 0)
        stepping = self.world.index.ptraced and \
            int(self.world.tasks.ptrace_resume[row]) in P.STEPPING
        if stepping:
            quantum = 1  # PTRACE_(SYSEMU_)SINGLESTEP: one instruction (Unicorn's count), then SIGTRAP
        self._quantum = quantum
        runner = row
        # The normal scheduler's quantum is a fairness bound, which a count of translated blocks
        # serves at a fraction of count='s cost; virtual time and the explorer's preemptions
        # are instruction counts, and a single step is one instruction.
        p.run(gm, quantum, blocks=not stepping and not self.deterministic
              and type(self.scheduler) is scheduler.RoundRobin)
        row = self.current  # another thread of the engine, if turns were taken in the hook
        if row != runner:
            stepping = False  # (a single step is never handed off: see hand_off)
        if stepping:
            self._single_stepped(row)
        stopped_outside = host_signals.kill_stopped(self, row)  # its group dies of a host signal
        if self.pending_release:
            rows, self.pending_release = self.pending_release, []
            for mm_row in rows:
                resources.release(self.world, "address_spaces", mm_row)
            if p.stop_reason == "exec":
                return
        if p.stop_reason == "requantum" and not p.fault_signal:
            return
        if self.internal_error is not None and self.strict:
            err, self.internal_error = self.internal_error, None
            raise err
        w = self.world
        T = w.tasks
        if p.host_signal or stopped_outside:
            return  # stopped from outside: the guest dies of the host's signal
        if p.fault_signal:
            self._fault(row, p.fault_signal)
        elif p.stop_reason is None and int(T.run_state[row]) == RunState.runApp \
                and not w.thread_groups.exiting[int(T.tg[row])]:
            # The guest runs at CPL 3 (platform.new_engine), so hlt and privileged instructions
            # fault through the interrupt hook: only the quantum or a jump to emu_start's "until"
            # address (0) ends a run with no reason.
            if p.regs.read(gm.uc, X.UC_X86_REG_RIP) == 0:
                p.fault_addr, p.fault_code = 0, SEGV_MAPERR  # a call through a NULL pointer
                self._fault(row, SIGSEGV)
            elif quantum:
                self._end_quantum(row, gm.uc)

    def _waits_on_host(self) -> bool:
        """Does a blocked task wait on a host fd? A deterministic run's input is taken only when
        every task waits (idle), so there the answer is no: nothing host-timed decides a quantum."""
        if self.deterministic or not self.world.io_waits.count:
            return False
        rfds, wfds = io_wait.host_fds(self.world)
        return bool(rfds or wfds)

    def _single_stepped(self, row: int) -> None:
        """user_single_step_report: after the instruction a tracee was resumed to step (a syscall
        included), SIGTRAP with TRAP_TRACE; its delivery is the tracer's signal-delivery stop."""
        w = self.world
        T = w.tasks
        if T.ptracer[row] < 0 or int(T.ptrace_resume[row]) not in P.STEPPING or \
                int(T.exit_state[row]) != 0:
            return
        if int(T.run_state[row]) == RunState.blocked and int(T.block[row]) == Block.PTRACE:
            return  # a syscall stop came first; the step's trap follows its resume
        if int(T.run_state[row]) == RunState.blocked:
            return  # a call that blocked: its trap comes when it returns (not modelled)
        T.ptrace_resume[row] = P.RESUME_CONT
        task_signals.force_signal(w, row, SIGTRAP, code=TRAP_TRACE)  # delivered at the quantum's end

    def _end_quantum(self, row: int, uc) -> None:
        """A quantum ended between two instructions: run what is due, deliver what it sent."""
        if not self.contended and self.world.tasks.rseq_watch[row]:
            self.lone_preempt(row)
        self.clock.retired(self._quantum)
        self.scheduler.preempted(row, uc.reg_read(X.UC_X86_REG_RIP))
        self.sync_clock()
        self.run_timers()
        if deliverable(self.world, row):
            self.signals.deliver(row, rip=uc.reg_read(X.UC_X86_REG_RIP),
                                 rax=uc.reg_read(X.UC_X86_REG_RAX), in_hook=False)

    def _fault(self, row: int, signo: int) -> None:
        """A CPU exception: the signal is forced on the task (Linux force_sig_fault); a handler
        runs at the faulting instruction, or the default action ends the process."""
        p = self.platform
        if signo == SIGSEGV and vsyscall.in_page(p.fault_addr) and \
                vsyscall.emulate(self, row, p.fault_addr):
            return  # a call into the vsyscall page, done as Linux's emulate_vsyscall does it
        self.signals.fault(row, signo, p.fault_code, p.fault_addr)

    def _service_blocked(self) -> None:
        """Blocked tasks: deliver what is deliverable (a handler ends an interruptible wait; a
        stop or a death acts as on any task), and wake those whose files became ready."""
        T, G = self.world.tasks, self.world.thread_groups
        for r in list(self.tasks) if self._blocked_may_take_signal() else ():
            if T.alive[r] and T.run_state[r] == RunState.blocked and T.exit_state[r] == 0 \
                    and deliverable(self.world, r):
                if T.ptracer[r] >= 0 and T.block[r] == Block.WAIT \
                        and G.child_seq[int(T.tg[r])] != T.wait_seq[r]:
                    continue  # do_wait looks at its children before the signal (next tick)
                if T.ptracer[r] >= 0 and T.syscall_work[r] & SYSCALL_WORK_TRACE and \
                        int(T.block[r]) in task_signals.RAW_RESTART_CODES and \
                        not G.exiting[int(T.tg[r])] and not (int(T.sig_pending[r]) | int(
                            G.group_pending[int(T.tg[r])])) >> (SIGKILL - 1) & 1:
                    # syscall_exit_work comes before get_signal: the call ends (a restart code)
                    # and its exit stop is reported before the signal's (syscall_exit)
                    task_signals.interrupt_syscall(self.world, r, True, raw=True)
                    continue
                if r != self.current:
                    self.switch_to(r)
                uc = self.memory_of(r).uc
                self.signals.deliver(r, rip=uc.reg_read(X.UC_X86_REG_RIP),
                                     rax=uc.reg_read(X.UC_X86_REG_RAX), in_hook=False)
        if self.world.io_waits.count:
            self.sync_clock()
            io_wait.wake_ready(self.world)

    def _blocked_may_take_signal(self) -> bool:
        """May a blocked task have a signal to take (:meth:`_service_blocked` then asks each)?
        With more than FEW_TASKS tasks, only one with a signal pending (privately or in its
        group) that its mask lets through (less a sigtimedwait set) may: the columns say at
        once, so a turn costs the same with 20 or 200 threads blocked. A superset of what
        deliverable() says of each."""
        if len(self.tasks) <= FEW_TASKS:
            return True
        T = self.world.tasks
        rows = self._guest_rows()
        rows = rows[(T.run_state[rows] == RunState.blocked) & (T.exit_state[rows] == 0)]
        pend = T.sig_pending[rows] | self.world.thread_groups.group_pending[T.tg[rows]]
        return bool(np.any(pend & ~(T.sig_mask[rows] & ~T.sig_wait_set[rows] & _BLOCKABLE)))

    def _guest_rows(self) -> np.ndarray:
        """The rows of the live guest tasks, sorted (``self.tasks`` holds their Python side)."""
        T = self.world.tasks
        n = T.n
        return np.flatnonzero(T.guest[:n] & T.alive[:n])

    def _runnable_rows(self) -> list[int]:
        """The runnable guest rows, sorted: :meth:`_runnable` of every task. The run loop asks
        each turn: with more than FEW_TASKS tasks over the columns at once, so a turn does not
        cost more with 200 threads than with 20 (a Python loop over the tasks did)."""
        if len(self.tasks) <= FEW_TASKS:
            return [r for r in sorted(self.tasks) if self._runnable(r)]
        T, G = self.world.tasks, self.world.thread_groups
        rows = self._guest_rows()
        rs = T.run_state[rows]
        rows = rows[((rs == RunState.runApp) | (rs == RunState.runSyscallExit))
                    & (T.exit_state[rows] == 0)]
        return rows[~G.exiting[T.tg[rows]]].tolist()

    def _runnable(self, row: int) -> bool:
        T, G = self.world.tasks, self.world.thread_groups
        if not T.alive[row] or int(T.exit_state[row]) != 0 or G.exiting[int(T.tg[row])]:
            return False
        return int(T.run_state[row]) in (RunState.runApp, RunState.runSyscallExit)

    def choice_ahead(self) -> bool:
        """Will the next turn be a scheduling decision (two tasks runnable)? Until then every
        schedule of a deterministic run is the same run (the explorer shares that prefix)."""
        return len(self._runnable_rows()) > 1

    def _group_alive(self, tg: int) -> bool:
        """Does thread group ``tg`` still have a thread that has not begun to exit?"""
        T = self.world.tasks
        if len(self.tasks) <= FEW_TASKS:
            return any(T.alive[r] and int(T.tg[r]) == tg and int(T.exit_state[r]) == 0
                       for r in self.tasks)
        rows = self._guest_rows()
        return bool(np.any((T.tg[rows] == tg) & (T.exit_state[rows] == 0)))

    def exits_pending(self) -> bool:
        """Has a guest task begun exiting that the EXIT system has not yet handled?"""
        T, G = self.world.tasks, self.world.thread_groups
        if len(self.tasks) <= FEW_TASKS:
            return any(T.alive[r] and (int(T.exit_state[r]) == ExitState.INITIATED or
                                       (G.exiting[int(T.tg[r])] and int(T.exit_state[r]) == 0))
                       for r in self.tasks)
        rows = self._guest_rows()
        es = T.exit_state[rows]
        return bool(np.any((es == ExitState.INITIATED) | (G.exiting[T.tg[rows]] & (es == 0))))

    def _host_kill(self) -> None:
        """The host asked us to stop (Ctrl-C, kill): every guest process dies of that signal,
        as it would natively in the same foreground process group."""
        T, G = self.world.tasks, self.world.thread_groups
        for r in list(self.tasks):
            tg = int(T.tg[r])
            if T.alive[r] and not G.exiting[tg]:
                task_exit.kill_by_signal(self.world, tg, self.platform.host_signal)

    def _exit_statuses(self) -> dict[int, int]:
        """The wait status of each guest task whose exit has begun, taken before a tick (whose
        systems may reap it and free its rows)."""
        T, G = self.world.tasks, self.world.thread_groups
        return {r: task_exit.wait_status(self.world, r) for r in self.tasks
                if T.alive[r] and (int(T.exit_state[r]) != 0 or G.exiting[int(T.tg[r])])}

    def _trace_exits(self, statuses: dict[int, int]) -> None:
        """strace's ``+++ exited with N +++`` for each traced task that has ended (the
        program's own task last); ``statuses`` from :meth:`_exit_statuses` before the tick."""
        T = self.world.tasks
        ended = [r for r, t in self.tasks.items() if id(t) in self.strace.live
                 and (not T.alive[r] or int(T.exit_state[r]) >= ExitState.ZOMBIE)]
        for r in sorted(ended, key=lambda r: (r == self.main_row, r)):
            status = statuses.get(r)
            if status is None:
                status = task_exit.wait_status(self.world, r)
            self.strace.exited(self.tasks[r], status)
        if ended:  # a process gone: the next one with its row may show its own fatal signal
            alive = {int(T.tg[r]) for r, t in self.tasks.items() if id(t) in self.strace.live}
            self.strace.fatal_shown &= alive

    def _forget_dead(self) -> None:
        """Drop the Python side of tasks whose rows were released (rows are reused). Every tick
        asks: the rows are looked at in the columns at once (a loop over 900 threads' dict took
        ~0.4 ms a tick)."""
        T = self.world.tasks
        rows = np.fromiter(self.tasks, np.int64, len(self.tasks))
        for r in rows[~T.alive[rows] | (T.exit_state[rows] == ExitState.DEAD)].tolist():
            if r in (self.main_row, self.current):
                continue  # the program's own row: its status is read after the loop
            del self.tasks[r]  # a freed row's ``guest`` column went back to False
            self._note_ctx(r, None)

    # -- clocks and deadlines -------------------------------------------------------------------
    def sync_clock(self) -> None:
        """Kernel time follows the clock, and the CPU time the emulator thread used since the
        last sync is charged to the current task, with the page faults it took."""
        w = self.world
        now = self.clock.monotonic_ns()
        if now > w.now_ns:
            w.now_ns = now
        cpu_clocks.set_realtime(w, self.clock.realtime_ns())
        cpu = self.clock.thread_cpu_ns()
        if cpu > self._cpu_seen and self.current >= 0:
            cpu_clocks.charge(w, self.current, cpu - self._cpu_seen)
        self._cpu_seen = cpu
        flt = self._minflt()
        if self.current >= 0 and w.tasks.alive[self.current]:
            w.tasks.min_flt[self.current] += flt - self._flt_seen
        self._flt_seen = flt

    def kernel_tick(self) -> int:
        """The kernel tick now: kernel time since boot in ``settings.tick_ns`` (1 ms) steps."""
        self.sync_clock()
        return (self.world.now_ns - self.boot_ns) // self.world.settings.tick_ns

    def stop_at_tick(self, tick: int) -> None:
        """Make the run loop get back to its top (where ``run(until=...)`` looks) by the start of
        kernel tick ``tick``, even in a loop without syscalls: it runs in quanta until then."""
        self.stop_deadline_ns = self.boot_ns + tick * self.world.settings.tick_ns
        self.update_timer_deadline()

    def tick(self) -> None:
        """One tick of the World at the clock's time: the systems run (exits, waits, timers,
        timeouts), then the next deadline is known again."""
        self.sync_clock()
        cur = self.current
        if cur >= 0 and self.world.tasks.alive[cur]:  # the thread a CPU itimer's signal goes to
            self.world.thread_groups.cpu_clock_last[int(self.world.tasks.tg[cur])] = cur
        statuses = self._exit_statuses() if self.strace is not None else None
        self.world.tick_at(self.world.now_ns)
        self.sample_load()
        self.update_timer_deadline()
        if self.strace is not None:
            self._trace_exits(statuses)
        self._forget_dead()

    def task_counts(self) -> tuple[int, int, int]:
        """(running, uninterruptible, total) guest tasks: /proc/stat's procs_running and
        procs_blocked, /proc/loadavg's R/T, sysinfo's procs. The total counts zombies (Linux's
        nr_threads: a task counts until it is reaped)."""
        T = self.world.tasks
        running = blocked = total = 0
        for r in self.tasks:
            if not T.alive[r] or int(T.exit_state[r]) == ExitState.DEAD:
                continue
            total += 1
            if int(T.exit_state[r]) == ExitState.ZOMBIE:
                continue
            if int(T.run_state[r]) == RunState.blocked:
                blocked += int(T.block[r]) in (Block.VFORK, Block.EXEC)
            elif int(T.exit_state[r]) == ExitState.NONE:
                running += 1
        return running, blocked, total

    def memory_totals(self) -> tuple[int, int, int]:
        """(total, free, shared) bytes of the machine the guests see (sysinfo, /proc/meminfo):
        ``run --memory``'s size (its default keeps the host safe: cpu/host_limits.py), or
        MEMORY_TOTAL without a limit; what the guests hold is used (memory.machine_memory), the
        rest free. Kernel memory and ecs-kernel's own are not counted, so the figures follow the
        guests alone (a deterministic run sees the same)."""
        limit = host_limits.current().memory
        total = limit if limit is not None else MEMORY_TOTAL
        spaces = [m.aspace for m in self.world.index.address_spaces.values()
                  if hasattr(m, "aspace")]
        used, shared = machine_memory(spaces)
        return total, max(0, total - used), shared

    def sample_load(self) -> None:
        """Fold the load averages up to now (systems/loadavg.py) with the active guest tasks."""
        if loadavg.due(self.world):
            running, blocked, _ = self.task_counts()
            loadavg.sample(self.world, running + blocked)

    def run_timers(self) -> bool:
        """A tick, if a deadline may be due: timers fire, waits time out, signals are queued;
        the caller delivers them. True if it ticked."""
        if self.timer_deadline_ns is None or self.clock.monotonic_ns() < self.timer_deadline_ns:
            return False
        self.tick()
        return True

    def update_timer_deadline(self) -> None:
        """When the run loop must next tick (systems/task_block.next_deadline): the earliest
        timed wait or clock timer, or every tick while a CPU-time timer or sleep is armed; None
        when nothing is armed."""
        soon, cpu = task_block.next_deadline(self.world)
        stop = self.stop_deadline_ns
        if stop is not None and stop > self.world.now_ns:
            soon = stop if soon is None else min(soon, stop)
        if cpu:
            cpu_soon = self.clock.monotonic_ns() + self.world.settings.tick_ns
            soon = cpu_soon if soon is None else min(soon, cpu_soon)
        self.timer_deadline_ns = soon
        p = self.platform
        if soon is not None and p.running_unbounded and p.current_uch is not None:
            # Armed from a syscall while the engine runs without quanta: stop (we are in the
            # hook, so this is safe) and let the run loop start again in quanta.
            p.stop("requantum")

    def arm_deadline(self, deadline: int) -> None:
        """A task blocked with a deadline (kernel time): the run loop ticks by then at the latest
        (update_timer_deadline's full look, kept up to date one wait at a time)."""
        if self.timer_deadline_ns is not None and self.timer_deadline_ns <= deadline:
            return
        self.timer_deadline_ns = deadline
        p = self.platform
        if p.running_unbounded and p.current_uch is not None:
            p.stop("requantum")

    def after_syscall(self, task, rip: int, rax: int, nr: int = -1) -> bool:
        """On the way back to user mode from a syscall (in the hook): due timers, the rseq
        fixup of a thread the call moved to another CPU, then signal delivery. Returns True if
        the registers were redirected into a handler.

        A call ``nr`` that returned a restart code (a terminal's job control: -ERESTARTSYS after
        it signalled the caller's group) runs again when no handler takes it
        (arch_do_signal_or_restart): rip back on the ``syscall``, the number in rax; a stop
        signal stops the task there, so the call runs again once it is continued."""
        if self.host_signals.pending:
            self.platform.stop("requantum")  # the run loop sends it (cpu/host_signals.py)
        if self.timer_deadline_ns is not None and self.run_timers() \
                and self.scheduler.slice_ns is not None and len(self._runnable_rows()) > 1:
            self.platform.stop("requantum")  # a timer woke a task: it runs (wakeup preemption)
        if self.world.io_waits.count and WaitQueue.wakeups != self._wakeups_seen:
            # The call woke a file others wait on (a pipe written, an inotify event): a waiter
            # whose file is now ready is runnable at once, as Linux's wake_up makes it (else a
            # lone runnable task serving its calls in the hook would keep it asleep for good)
            self._wakeups_seen = WaitQueue.wakeups
            if io_wait.wake_ready(self.world):
                self.platform.stop("requantum")  # it runs (wakeup preemption)
        slice_ns = self.scheduler.slice_ns
        if slice_ns is not None and self.contended \
                and self.clock.monotonic_ns() - self.turn_start_ns >= slice_ns:
            self.platform.stop("requantum")  # the slice is spent: the next runnable task goes
        if fasync.active(self.world):  # the call may have made an O_ASYNC file ready: SIGIO now
            fasync.scan(self.world)
        row = task.row
        T = self.world.tasks
        if T.rseq_event[row]:  # its own sched_setaffinity migrated it: rseq_handle_notify_resume
            T.rseq_event[row] = False
            new = self.rseq_resume(task, rip, 0)
            if new != rip:  # Unicorn adds the length of `syscall` when the hook returns
                self.memory_of(row).uc.reg_write(X.UC_X86_REG_RIP, (new - 2) & MASK64)
                rip = new
        try:
            entered = deliverable(self.world, row) and self.signals.deliver(
                row, rip=rip, rax=rax, in_hook=True, nr=nr)
        except Exception as exc:  # a kernel bug: reported, never a traceback through Unicorn
            self.report_internal_error(-1, "signal delivery", exc)
            self.platform.stop_requested = self.strict or self.platform.stop_requested
            return False
        if T.run_state[row] == RunState.blocked:  # a stop signal stopped it (do_signal_stop)
            self.platform.stop("blocked")
        if not entered and nr >= 0 and (rax in _RESTART or rax == -ERESTART_RESTARTBLOCK):
            uc = self.memory_of(row).uc  # Unicorn adds the length of `syscall` when the hook returns
            uc.reg_write(X.UC_X86_REG_RIP, (rip - 4) & MASK64)
            uc.reg_write(X.UC_X86_REG_RAX, NR_RESTART_SYSCALL if rax == -ERESTART_RESTARTBLOCK else nr)
        return entered

    def interrupt(self, signo: int) -> None:
        """From another thread: the host got ``signo`` and the guest must die of it."""
        self.platform.interrupt(signo)
        self.host_signals.wake()  # the run loop may be waiting on the host

    def deadlock_report(self) -> str:
        """The deadlock as lines, as seen when it was found (see _describe_deadlock)."""
        return getattr(self, "_deadlock_text", "") or self._describe_deadlock()

    def _describe_deadlock(self) -> str:
        """The deadlock as lines: each blocked thread (tid in the root namespace) and what it
        waits for; for a futex, the word and, when the word's mutex (glibc's layout: the owner
        tid 8 bytes in) names a blocked thread, the edge of the wait-for graph."""
        w = self.world
        root = int(w.index.root_pidns)
        tids = {r: pidns.tid_in(w, r, root) for r in self.tasks}
        blocked_tids = {tids[b.row] for b in self.deadlock or ()}
        lines = [f"deadlock: {len(self.deadlock or ())} threads blocked, no timer armed, no input awaited"]
        for b in self.deadlock or ():
            tid = tids[b.row]
            what = _BLOCK_NAMES.get(b.block, str(b.block)).lower()
            req = b.request
            if b.block == Block.FUTEX and req:
                mm = self.memory_of(b.row).aspace
                try:
                    word, owner = mm.copy_in_u32(req["uaddr"]), mm.copy_in_u32(req["uaddr"] + 8)
                except KernelError:
                    word, owner = None, 0
                what = f"futex {req['uaddr']:#x} (word {word})"
                if owner in blocked_tids and owner != tid:
                    what += f" held by {owner}"
            elif b.block == Block.WAIT:
                what = f"wait4 (idtype {req['idtype']}, id {req['id']})"
            rip = self.memory_of(b.row).uc.reg_read(X.UC_X86_REG_RIP) if b.row == self.current else None
            lines.append(f"  tid {tid} ({bytes(w.tasks.comm[b.row]).decode(errors='replace')}): "
                         f"{what}" + (f" at {rip:#x}" if rip else ""))
        return "\n".join(lines)

    def report_internal_error(self, nr: int, name: str, exc: BaseException) -> None:
        self.internal_error = exc
        if self.strict:
            return
        msg = f"ecs-kernel: internal error in {name} (syscall {nr}): {type(exc).__name__}: {exc}"
        if os.environ.get("ECS_KERNEL_DEBUG"):
            msg += "\n" + "".join(traceback.format_exception(exc))
        print(msg, file=self.stderr)


__all__ = ["Machine", "GuestMemory", "new_engine"]
