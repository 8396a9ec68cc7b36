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

With ``strace`` set, a slower twin of the hook prints one line per syscall, strace style (a call
that blocks as ``<unfinished ...>`` and ``<... name resumed>``). Under the compiled fast path
(``ecs_kernel/jit/fastpath``) this hook is what the cfunc calls for every syscall it does not
answer itself (:meth:`Dispatcher.hook_with`).
"""
from __future__ import annotations

import ctypes
import errno as _errno
import os
from collections import Counter

from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from ..abi import AT_FDCWD, ENOSYS, ERESTARTNOINTR
from ..components import pidns
from ..errors import KernelError
from ..systems import io_wait, task_block
from .context import ContextRestored, ExecDone, KernelBlocked, TaskExit, WouldBlock
from .table import MAX_NR, name_of, table

MASK64 = (1 << 64) - 1
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
        self.rows = rows
        self.unimplemented: Counter = Counter()
        self.calls = 0
        self._ids = (ctypes.c_int * _N)(*_REGS)
        self._vals = (ctypes.c_uint64 * _N)()
        base = ctypes.addressof(self._vals)
        self._ptrs = (ctypes.c_void_p * _N)(*[base + 8 * i for i in range(_N)])
        self._out = ctypes.c_uint64()
        self._out_ref = ctypes.byref(self._out)
        self.hook = self._make_hook()

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
        strace = machine.strace is not None

        def hook(_uch, _user_data):
            uch = platform.current_uch  # the engine handle (a c_void_p) of the running task
            read_batch(uch, ids, ptrs, _N)
            nr = vals[0]
            entry = handlers[nr] if nr < MAX_NR else None
            if entry is None:
                unimpl[nr] += 1
                if strace:
                    machine.strace.write(f"{name_of(nr)}(...) = -1 ENOSYS (Function not implemented)\n")
                out.value = -ENOSYS & MASK64
                reg_write(uch, RAX, out_ref)
                return
            fn, n = entry
            task = machine.current_task
            args = vals[1:n + 1]
            if strace:
                pre = self._format_call(task, nr, args)
            try:
                ret = fn(task, *args)
            except KernelError as e:
                ret = -e.errno
            except (KernelBlocked, WouldBlock) as b:
                if isinstance(b, WouldBlock):
                    io_wait.block(world, task.row, b.kind, b.waits, b.deadline, nr)
                d = task_block.deadline_of(world, task.row)
                if d is not None:
                    machine.arm_deadline(d)  # a timed wait falls due on the kernel clock
                platform.stop("blocked")
                if strace:
                    machine.strace.write(f"{pre} <unfinished ...>\n")
                return
            except ExecDone:
                platform.stop("exec", uch)  # the old image's engine: current_uch is the new one
                if strace:
                    machine.strace.write(f"{pre}) = 0\n")
                return
            except TaskExit:
                platform.stop("exit")
                if strace:
                    machine.strace.write(f"{pre}) = ?\n")
                return
            except ContextRestored as ctx:  # rt_sigreturn wrote every register itself
                if strace:
                    machine.strace.write(f"{pre}) = {signed(ctx.rax)}\n")
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
            if strace:
                machine.strace.write(self._format_result(task, nr, args, pre, ret) + "\n")
            # Back to user mode: due timers, then signals (a handler entry rewrites rip/rax).
            machine.after_syscall(task, vals[7] + 2, ret)
            if platform.stop_requested:  # the call killed the task (SIGPIPE's default action)
                platform.stop("killed")
            elif post is not None:
                post()

        return hook

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
        if self.machine.strace is not None:
            self.strace_resumed(task, nr, ret)
        return ret

    def strace_resumed(self, task, nr: int, ret: int | None) -> None:
        """strace's ``<... name resumed>) = ret`` (ret None: the call restarts)."""
        if ret is None:
            res = "? ERESTARTSYS (To be restarted)"
        elif ret < 0 and -ret < 4096:
            res = f"-1 {_errno.errorcode.get(-ret, -ret)} ({os.strerror(-ret)})"
        else:
            res = str(ret)
        self.machine.strace.write(f"{self._pid_prefix(task)}<... {name_of(nr)} resumed>) = {res}\n")

    # -- strace ------------------------------------------------------------------------------------
    def _format_call(self, task, nr: int, args) -> str:
        kinds = self.rows[nr].args
        parts = []
        for kind, v in zip(kinds, args):
            parts.append(self._fmt_arg(task, kind, v, args, out=None))
        if "of" in kinds and "m" in kinds:  # strace shows the mode only when a file is created
            if not args[kinds.index("of")] & 0o20000100:  # O_CREAT, O_TMPFILE
                parts.pop(kinds.index("m"))
        return f"{self._pid_prefix(task)}{name_of(nr)}({', '.join(parts)}"

    def _pid_prefix(self, task) -> str:
        """strace -f's ``[pid N] `` once the program has more than one task."""
        if len(self.machine.tasks) < 2:
            return ""
        w = task.world
        return f"[pid {pidns.tid_in(w, task.row, int(w.tasks.ns[task.row]))}] "

    def _format_result(self, task, nr: int, args, pre: str, ret: int) -> str:
        kinds = self.rows[nr].args
        if any(k.startswith("o") and k != "of" for k in kinds):
            parts = [self._fmt_arg(task, kind, v, args, out=ret) for kind, v in zip(kinds, args)]
            pre = f"{self._pid_prefix(task)}{name_of(nr)}({', '.join(parts)}"
        if ret < 0 and -ret < 4096:
            e = -ret
            res = f"-1 {_errno.errorcode.get(e, e)} ({os.strerror(e)})"
        elif name_of(nr) in ("mmap", "brk", "mremap"):
            res = hex(ret)
        else:
            res = str(ret)
        return f"{pre}) = {res}"

    def _fmt_arg(self, task, kind: str, v: int, args, out) -> str:
        mm = task.mm
        if kind in ("i", "fd"):
            v = v & 0xFFFF_FFFF if kind == "fd" else v
            v = v - (1 << 32) if kind == "fd" and v >> 31 else v
            return str(v - (1 << 64) if v >> 63 else v)
        if kind == "dirfd":
            v &= 0xFFFF_FFFF
            v = v - (1 << 32) if v >> 31 else v
            return "AT_FDCWD" if v == AT_FDCWD else str(v)
        if kind == "u":
            return str(v)
        if kind == "m":
            return f"0{v & 0o7777:o}"
        if kind == "of":
            return _open_flags(v)
        if kind == "s":
            try:
                return _quote(mm.copy_in_string(v, 4096))
            except KernelError:
                return hex(v)
        if kind[0] in "bo" and kind[1:].isdigit():
            if kind[0] == "o" and (out is None or out < 0):
                return hex(v)
            n = args[int(kind[1:])] if kind[0] == "b" else out
            try:
                data = mm.copy_in(v, min(n, 32))
            except KernelError:
                return hex(v)
            return _quote(data) + ("..." if n > 32 else "")
        return hex(v) if v else "NULL" if kind == "p" else "0"


def signed(v: int) -> int:
    v &= MASK64
    return v - (1 << 64) if v >> 63 else v


def _quote(b: bytes) -> str:
    out = []
    for c in b:
        ch = chr(c)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= c < 127:
            out.append(ch)
        else:
            out.append(f"\\{c:o}")
    return '"' + "".join(out) + '"'


_OFLAGS = [(0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"),
           (0o2000, "O_APPEND"), (0o4000, "O_NONBLOCK"), (0o200000, "O_DIRECTORY"),
           (0o400000, "O_NOFOLLOW"), (0o2000000, "O_CLOEXEC"), (0o10000000, "O_PATH")]


def _open_flags(v: int) -> str:
    parts = [("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE")[v & 3]]
    rest = v & ~3 & ~0o100000  # O_LARGEFILE is implied on x86-64
    for bit, name in _OFLAGS:
        if rest & bit:
            parts.append(name)
            rest &= ~bit
    if rest:
        parts.append(f"{rest:#o}")
    return "|".join(parts)


__all__ = ["Dispatcher"]
