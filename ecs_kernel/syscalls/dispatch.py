"""Syscall dispatch: from the raw Unicorn hook to a handler and back (gVisor: ``task_syscall.go``).

:meth:`Dispatcher.hook` is the ctypes callback Unicorn calls at every ``syscall`` instruction. It
reads rax, the six argument registers and rip with one ``uc_reg_read_batch`` into preallocated
buffers, looks the number up in a flat list built from the syscall table, calls the handler with
the current :class:`~ecs_kernel.syscalls.context.Task`, and writes the result (or ``-errno``) into
rax. Unknown and unimplemented numbers get -ENOSYS and are counted per number
(:attr:`Dispatcher.unimplemented`), like gVisor's unimplemented-syscall events.

A handler that must wait leaves its task a row in a blocked run state (a kernel call did, and the
handler raises :class:`KernelBlocked`; or it raises :class:`WouldBlock` naming the files, and the
dispatcher records them as io_waits rows, systems/io_wait.py). The hook then stops the engine
without writing rax: the number stays there (Linux's orig_ax) and the run loop finishes the call
when a system has completed it (:meth:`Dispatcher.complete`, then ``Machine.syscall_exit``).

With the Machine's ``strace`` set (a :class:`~ecs_kernel.syscalls.strace.Strace`), the hook hands
it each call's entry and exit (a call that blocks ends when :meth:`Dispatcher.complete` runs), so
every syscall is printed as strace prints it. Under the compiled fast path
(``ecs_kernel/jit/fastpath``) this hook is what the cfunc calls for every syscall it does not
answer itself (:meth:`Dispatcher.hook_with`); --strace keeps every call on this hook.
"""
from __future__ import annotations

import ctypes
from collections import Counter

from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from ..abi import (ENOSYS, ERESTARTNOINTR, PTRACE_EVENT_SECCOMP, PTRACE_O_TRACESYSGOOD, SIGTRAP, SYSCALL_WORK_SECCOMP,
                   SYSCALL_WORK_TRACE, Block, RunState)
from ..components import ptrace as P
from ..errors import KernelError
from ..systems import io_wait, seccomp, task_block, task_signals
from .context import ContextRestored, ExecDone, KernelBlocked, TaskExit, WouldBlock
from .table import MAX_NR, name_of, table

MASK64 = (1 << 64) - 1
_STOPPED = object()  # entry_work: the task stopped or dies before its call runs
_REGS = (X.UC_X86_REG_RAX, X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX,
         X.UC_X86_REG_R10, X.UC_X86_REG_R8, X.UC_X86_REG_R9, X.UC_X86_REG_RIP)
_N = len(_REGS)
_ARG_REGS = _REGS[1:7]


class Dispatcher:
    """The syscall hook of one Machine and its per-number counters."""

    def __init__(self, machine):
        self.machine = machine
        rows = table()
        self.handlers = [(s.handler, s.nargs) if s.handler is not None else None for s in rows]
        self.completions = [s.complete for s in rows]
        self.kinds = [s.args for s in rows]  # argument kinds, for strace
        self.results = [s.result for s in rows]
        self.rows = rows
        self.unimplemented: Counter = Counter()
        self.calls = 0
        self._ids = (ctypes.c_int * _N)(*_REGS)
        self._vals = (ctypes.c_uint64 * _N)()
        base = ctypes.addressof(self._vals)
        self._ptrs = (ctypes.c_void_p * _N)(*[base + 8 * i for i in range(_N)])
        # rax (the number), the six arguments and rip of the call the hook serves (or served
        # last), as it read them: the tier-up counts calls by number (cpu/platform.py)
        self.entry_regs = self._vals
        self._out = ctypes.c_uint64()
        self._out_ref = ctypes.byref(self._out)
        self.hook = self._make_hook()
        raw = ctypes.CDLL(uclib._name)
        self._reg_write = raw.uc_reg_write
        self._reg_write.restype = ctypes.c_int

    def _make_hook(self, post=None):
        """The hook; ``post()``, if given, runs after a handler that returned (the compiled fast
        path's pointer refresh: one Python entry per slow syscall, not two)."""
        # Fresh function objects without argtypes: ctypes then passes our prebuilt arrays and
        # c_void_p handles as they are, with no per-call conversion (~1 us saved per call each).
        raw = ctypes.CDLL(uclib._name)
        read_batch = raw.uc_reg_read_batch
        reg_write = raw.uc_reg_write
        for f in (read_batch, reg_write):
            f.restype = ctypes.c_int
        ids, vals, ptrs = self._ids, self._vals, self._ptrs
        out, out_ref = self._out, self._out_ref
        handlers = self.handlers
        machine = self.machine
        platform = machine.platform
        world = machine.world
        unimpl = self.unimplemented
        RAX = X.UC_X86_REG_RAX
        tracer = machine.strace  # a Strace, or None
        kinds, results = self.kinds, self.results

        def hook(_uch, _user_data):
            uch = platform.current_uch  # the engine handle (a c_void_p) of the running task
            read_batch(uch, ids, ptrs, _N)
            nr = vals[0]
            if world.tasks.syscall_work[machine.current_task.row]:
                # syscall entry work (a tracer's stop, seccomp): the call may not run at all
                skip = self.entry_work(machine.current_task, nr, uch)
                if skip is not None:
                    if skip is not _STOPPED:
                        out.value = skip & MASK64
                        reg_write(uch, RAX, out_ref)
                        if world.tasks.ptracer[machine.current_task.row] >= 0 and \
                                self.exit_work(machine.current_task, nr, uch):
                            return  # the skipped call's exit stop (seccomp's ERRNO, TRAP)
                        machine.after_syscall(machine.current_task, vals[7] + 2, skip)
                        if platform.stop_requested:
                            platform.stop("killed")
                        elif post is not None:
                            post()
                    return
            entry = handlers[nr] if nr < MAX_NR else None
            if entry is None:
                unimpl[nr] += 1
                if tracer is not None and nr < MAX_NR:
                    k = kinds[nr]
                    call = tracer.enter(machine.current_task, nr,
                                        vals[1:1 + sum(1 for a in k if a[0] != "@")], k)
                    if call is not None:
                        tracer.leave(call, -ENOSYS, k)
                elif tracer is not None:
                    tracer.unknown(machine.current_task, nr)
                out.value = -ENOSYS & MASK64
                reg_write(uch, RAX, out_ref)
                return
            fn, n = entry
            task = machine.current_task
            args = vals[1:n + 1]
            call = tracer.enter(task, nr, args, kinds[nr]) if tracer is not None else None
            try:
                ret = fn(task, *args)
            except KernelError as e:
                ret = -e.errno
            except (KernelBlocked, WouldBlock) as b:
                if isinstance(b, WouldBlock):
                    io_wait.block(world, task.row, b.kind, b.waits, b.deadline, nr, b.done,
                                  b.lock_gen)
                d = task_block.deadline_of(world, task.row)
                if d is not None:
                    machine.arm_deadline(d)  # a timed wait falls due on the kernel clock
                elif call is None and machine.hand_off(task.row, vals[7]):
                    return  # the next thread of this engine runs on: a turn taken here
                platform.stop("blocked")
                if call is not None:
                    tracer.blocked(call, world.tasks.block[task.row], d is not None)
                return
            except ExecDone:
                platform.stop("exec", uch)  # the old image's engine: current_uch is the new one
                if call is not None:
                    tracer.leave(call, 0, kinds[nr])
                if world.index.ptraced and world.tasks.ptracer[task.row] >= 0:
                    if world.tasks.block[task.row] == Block.EXEC:  # de_thread: the report later
                        world.tasks.ptrace_orig_ax[task.row] = nr
                    else:
                        self.exit_work(task, nr, platform.current_uch, stop=False)  # stopping already
                return
            except TaskExit:
                if world.index.ptraced and world.tasks.ptracer[task.row] >= 0:
                    task_signals.ptrace_exit_event(world, task.row)
                platform.stop("exit")
                if call is not None:
                    tracer.leave_without_return(call)
                return
            except ContextRestored as ctx:  # rt_sigreturn wrote every register itself
                if call is not None:
                    tracer.leave(call, signed(ctx.rax), kinds[nr])
                if world.tasks.syscall_work[task.row] & SYSCALL_WORK_TRACE:
                    self.syscall_stop(task, nr, uch, entry=False)
                    return
                machine.after_syscall(task, ctx.rip, ctx.rax)
                if platform.stop_requested:
                    platform.stop("killed")
                elif post is not None:
                    post()
                return
            except Exception as exc:  # a kernel bug: never the guest's fault, never a traceback
                machine.report_internal_error(nr, name_of(nr), exc)
                ret = -ENOSYS
                if machine.strict:
                    platform.stop("internal-error")
            T = world.tasks  # (its columns move when the table grows: no cached column)
            if T.ret[task.row] == -ERESTARTNOINTR:
                # the call had waited on files and ran again after a wakeup: it is over now
                T.ret[task.row] = 0
                io_wait.finish(world, task.row)
            out.value = ret & MASK64
            reg_write(uch, RAX, out_ref)
            if call is not None:
                tracer.leave(call, ret, kinds[nr], results[nr])
            if world.index.ptraced and T.ptracer[task.row] >= 0 and self.exit_work(task, nr, uch):
                return  # a ptrace stop: signals are delivered once the tracer resumes it
            # Back to user mode: due timers, then signals (a handler entry rewrites rip/rax).
            machine.after_syscall(task, vals[7] + 2, ret, nr)
            if platform.stop_requested:  # the call killed the task (SIGPIPE's default action)
                platform.stop("killed")
            elif post is not None:
                post()

        return hook

    def entry_work(self, task, nr: int, uch):
        """syscall_trace_enter for a task with syscall work: seccomp's verdict (Linux runs it
        after a tracer's syscall-entry stop). None: the call runs; an int: it does not, and that
        is its result (rax); ``_STOPPED``: the task stopped or dies, the engine is stopped."""
        machine, world = self.machine, self.machine.world
        row = task.row
        vals = self._vals
        T = world.tasks
        if T.syscall_work[row] & SYSCALL_WORK_TRACE:
            if T.ptrace_entry_done[row]:  # re-run after its entry stop: the call goes on
                T.ptrace_entry_done[row] = False
            else:
                self.syscall_stop(task, nr, uch, entry=True)
                return _STOPPED
        if T.syscall_work[row] & SYSCALL_WORK_SECCOMP:
            kind, value = seccomp.syscall_entry(world, row, nr, vals[7] + 2, list(vals[1:7]))
            if kind == seccomp.SKIP:
                return value
            if kind == seccomp.TRACE:  # PTRACE_EVENT_SECCOMP: the tracer decides, then the call runs
                T.ptrace_orig_ax[row] = nr
                self._out.value = -ENOSYS & MASK64
                self._reg_write(uch, X.UC_X86_REG_RAX, self._out_ref)
                task_signals.ptrace_event_stop(world, row, PTRACE_EVENT_SECCOMP, value)
                machine.platform.stop("blocked")
                return _STOPPED
            if kind == seccomp.KILLED:
                if machine.strace is not None and nr < MAX_NR:
                    call = machine.strace.enter(task, nr, vals[1:1 + self.rows[nr].nargs],
                                                self.kinds[nr])
                    if call is not None:
                        machine.strace.leave_without_return(call)
                if int(world.tasks.exit_state[row]) != 0:
                    self.machine.platform.stop("exit")  # SECCOMP_RET_KILL_THREAD: this thread
                else:
                    machine.after_syscall(task, vals[7] + 2, nr)  # the forced signal kills
                    self.machine.platform.stop("killed")
                return _STOPPED
        return None

    def syscall_stop(self, task, nr: int, uch, *, entry: bool, stop: bool = True) -> None:
        """ptrace_report_syscall_entry/exit, in the hook: the task stops (a row) for its tracer
        and the engine stops; at the entry rax reads -ENOSYS and orig_rax the number."""
        world = self.machine.world
        T = world.tasks
        row = task.row
        T.ptrace_orig_ax[row] = nr
        if entry:
            self._out.value = -ENOSYS & MASK64
            self._reg_write(uch, X.UC_X86_REG_RAX, self._out_ref)
        code = SIGTRAP | (0x80 if T.ptrace_flags[row] & PTRACE_O_TRACESYSGOOD else 0)
        task_signals.ptrace_stop(world, row, P.STOP_SYSCALL_ENTRY if entry else P.STOP_SYSCALL_EXIT,
                                 code)
        if stop:
            self.machine.platform.stop("blocked")

    def exit_work(self, task, nr: int, uch, stop: bool = True) -> bool:
        """syscall_exit_work for a traced task, in the hook after the result is in rax: an event
        stop the call made (fork, exec) puts its exit stop after the resume; otherwise, under
        PTRACE_SYSCALL, the exit stop now. True if the task stopped (the engine stops)."""
        world = self.machine.world
        T = world.tasks
        row = task.row
        event = int(T.ptrace_event_pending[row])
        if event:
            T.ptrace_event_pending[row] = 0
            task_signals.ptrace_event_stop(world, row, event, int(T.ptrace_msg[row]))
        if int(T.run_state[row]) == RunState.blocked and int(T.block[row]) == Block.PTRACE:
            T.ptrace_exit_due[row] = True
            T.ptrace_orig_ax[row] = nr
            if stop:
                self.machine.platform.stop("blocked")
            return True
        if T.syscall_work[row] & SYSCALL_WORK_TRACE:
            self.syscall_stop(task, nr, uch, entry=False, stop=stop)
            return True
        return False

    def hook_with(self, post):
        """A second hook that calls ``post()`` after each handler that returned."""
        return self._make_hook(post)

    # -- completion of a blocked call --------------------------------------------------------------
    def complete(self, task, nr: int, ret: int, uc) -> int:
        """What a blocked syscall ``nr`` returns once a system completed it with ``ret``: its
        table row's completion (wait4 writes the status, nanosleep the remainder, ...) with the
        arguments still in the registers, or ``ret`` itself. -errno for a fault there."""
        fn = self.completions[nr] if 0 <= nr < MAX_NR else None
        if fn is not None:
            n = self.rows[nr].nargs
            args = [uc.reg_read(r) for r in _ARG_REGS[:n]]
            try:
                ret = fn(task, ret, *args)
            except KernelError as e:
                ret = -e.errno
        if self.machine.strace is not None and 0 <= nr < MAX_NR:
            self.machine.strace.resumed(task, nr, ret, self.kinds[nr], self.results[nr])
        return ret

    def strace_restart(self, task, nr: int, code: int) -> None:
        """A blocked call ends with a restart code (``code``, -ERESTART*): strace's view."""
        if self.machine.strace is not None and 0 <= nr < MAX_NR:
            self.machine.strace.restart(task, nr, code, self.kinds[nr])


def signed(v: int) -> int:
    v &= MASK64
    return v - (1 << 64) if v >> 63 else v


__all__ = ["Dispatcher"]
