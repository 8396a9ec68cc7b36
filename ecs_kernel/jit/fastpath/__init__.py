"""The compiled syscall fast path: a numba ``cfunc`` installed as Unicorn's syscall hook.

gVisor keeps its hottest syscalls (getpid, clock_gettime via the vDSO, ...) off the slow path too;
here the hook itself is compiled. At every ``syscall`` instruction Unicorn calls
:func:`~ecs_kernel.jit.fastpath.kernel.hook`, which reads rax and the arguments it needs with
``uc_reg_read`` and handles, without entering the interpreter, the calls whose work is a read or
a small update of component columns or guest memory:

getpid, getppid, gettid, getuid, geteuid, getgid, getegid, clock_gettime, clock_getres,
gettimeofday, time, rt_sigprocmask (when the new mask makes no pending signal deliverable),
sched_yield (when nothing else is runnable), futex FUTEX_WAKE / FUTEX_WAKE_BITSET (when no task
waits), getrlimit and prlimit64 reads, brk when the break stays inside its current pages (and
brk(0), the query).

On the way back to user mode Python runs due timers and delivers signals
(``Machine.after_syscall``); the compiled hook answers only when that would do nothing: no
deliverable signal is pending for the task, no timer deadline has passed and no host signal waits
to be sent (``C_HOST_SIGNAL``, set from the host-signal thread, cpu/host_signals.py). Anything else, and
any case the compiled handler is not sure of (a write that spans page-table
rows or hits executable memory, a mask change that unblocks a pending signal, ...), goes to the
Python dispatcher (:mod:`ecs_kernel.syscalls.dispatch`): the cfunc calls it through one ctypes
function pointer, so a slow syscall costs one Python entry and a fast one none. Both paths follow
the handlers in ``ecs_kernel/syscalls/sys_*.py``; ``tests/jit/test_fastpath_differential.py`` runs
every fast-path syscall both ways over random arguments and compares results, errnos, guest memory
and component state.

The hook finds everything through one int64 *control block* (:class:`FastPath.ctl`, its address
is the hook's user data): function pointers (``uc_reg_read``, ``uc_reg_write``, the Python hook,
the host's ``clock_gettime``), the current task's row, raw pointers to the component columns it
reads, and the current address space's page table. Column arrays are reallocated when a table
grows (world.py), so :meth:`FastPath.sync` re-reads the pointers when a table's capacity, the
World or the address space changed. Tables only change while Python runs, so ``sync`` runs after
each slow syscall and before each ``emu_start``, never per fast syscall.

"The current task" is the row in ``ctl[C_CURRENT]``: a scheduler switches tasks by writing it
(and ``sync``), so a later task switch at a futex can stay in compiled code.

Nothing here imports numba: the kernel module is compiled (or loaded from the disk cache) when a
Machine first installs the hook.
"""
from __future__ import annotations

import ctypes

import numpy as np

from .layout import (CTL_SIZE, C_CLOCK_GETTIME, C_COUNTS, C_CPU0, C_CURRENT, C_ENABLED,
                     C_FAST_CALLS, C_FUTEX_WAITERS, C_G_LEADER, C_G_PENDING, C_G_RLIMITS,
                     C_HOST_CLOCK, C_MM_BRK, C_MM_CAP, C_MM_N, C_MM_T, C_N_LEVEL, C_N_PARENT,
                     C_ONLY_RUNNABLE, C_REG_READ, C_REG_WRITE, C_R_CUR, C_R_MAX, C_SLOW_CALLS,
                     C_SLOW_HOOK, C_TASK_SIZE, C_TIDS_STRIDE, C_TIMER_DEADLINE, C_T_EGID, C_T_EUID,
                     C_T_NS, C_T_PARENT, C_T_RGID, C_T_RUID, C_T_SIG_MASK, C_T_SIG_PENDING, C_T_TG,
                     C_T_TIDS)

# (slot, table, column, dtype) of every column the hook reads or writes.
COLUMNS = (
    (C_T_TG, "tasks", "tg", np.int32), (C_T_NS, "tasks", "ns", np.int32),
    (C_T_TIDS, "tasks", "tids", np.int32), (C_T_PARENT, "tasks", "parent", np.int32),
    (C_T_RUID, "tasks", "ruid", np.uint32), (C_T_EUID, "tasks", "euid", np.uint32),
    (C_T_RGID, "tasks", "rgid", np.uint32), (C_T_EGID, "tasks", "egid", np.uint32),
    (C_T_SIG_MASK, "tasks", "sig_mask", np.uint64),
    (C_T_SIG_PENDING, "tasks", "sig_pending", np.uint64),
    (C_G_LEADER, "thread_groups", "leader", np.int32),
    (C_G_PENDING, "thread_groups", "group_pending", np.uint64),
    (C_G_RLIMITS, "thread_groups", "rlimits", np.int32),
    (C_R_CUR, "rlimit_sets", "rlim_cur", np.uint64), (C_R_MAX, "rlimit_sets", "rlim_max", np.uint64),
    (C_N_LEVEL, "pid_namespaces", "level", np.int32), (C_N_PARENT, "pid_namespaces", "parent", np.int32),
)
TABLES = ("tasks", "thread_groups", "rlimit_sets", "pid_namespaces")

# Syscalls the compiled hook may answer (the rest always go to Python).
FAST_SYSCALLS = ("getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid",
                 "clock_gettime", "clock_getres", "gettimeofday", "time", "rt_sigprocmask",
                 "sched_yield", "futex", "getrlimit", "prlimit64", "brk")

_HOOK_INSN_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


def _addr(fn) -> int:
    return ctypes.cast(fn, ctypes.c_void_p).value


def libc_clock_gettime() -> int:
    """Address of the host's ``clock_gettime`` (what ``time.time_ns()`` and friends call)."""
    return _addr(ctypes.CDLL(None).clock_gettime)


class FastPath:
    """The control block of one Machine's compiled hook and the pointer refresh around it.

    ``make_slow_hook(post)`` builds the Python hook (a callable ``(uch, user_data)``) the cfunc
    falls back to; it must call ``post()`` after each handler that returned.
    """

    def __init__(self, machine, make_slow_hook, *, clock_gettime: int | None = None,
                 cpu0_ns: int = 0):
        from unicorn.unicorn_py3.unicorn import uclib
        self.machine = machine
        self.ctl = np.zeros(CTL_SIZE, np.int64)
        self.user_data = ctypes.c_void_p(self.ctl.ctypes.data)

        # The handler may have grown a table or mapped memory: after_slow refreshes pointers.
        self._slow = _HOOK_INSN_CB(make_slow_hook(self.after_slow))  # alive as long as the hook
        ctl = self.ctl
        ctl[C_SLOW_HOOK] = _addr(self._slow)
        ctl[C_REG_READ] = _addr(uclib.uc_reg_read)
        ctl[C_REG_WRITE] = _addr(uclib.uc_reg_write)
        ctl[C_CLOCK_GETTIME] = libc_clock_gettime() if clock_gettime is None else clock_gettime
        ctl[C_HOST_CLOCK] = libc_clock_gettime()
        ctl[C_TIMER_DEADLINE] = -1
        ctl[C_CPU0] = cpu0_ns
        ctl[C_ONLY_RUNNABLE] = 1
        ctl[C_FUTEX_WAITERS] = 0
        ctl[C_ENABLED] = 1
        self._key = None
        self._tables = ()
        self._caps = ()
        self._keep = ()  # the arrays whose addresses are in ctl
        self._ctl_mv = memoryview(self.ctl).cast("B").cast("q")  # cheaper item writes
        self._aspace = None
        self._t = None
        from . import kernel  # numba: compiled or loaded from the disk cache here, not at import
        self.hook_address = kernel.hook_address()

    # -- pointers ---------------------------------------------------------------------------------
    def sync(self) -> None:
        """Refresh what Python may have changed: the current row, column pointers after a table
        grew (or a new World), the address space and its page table."""
        m = self.machine
        ctl = self.ctl
        ctl[C_CURRENT] = m.current
        # a task with syscall work (seccomp, a tracer) takes every call to Python, and so does
        # one in a user namespace below the initial one (its ids are seen through the maps)
        ctl[C_ENABLED] = 0 if m.current >= 0 and (m.world.tasks.syscall_work[m.current]
                                                  or m.world.tasks.userns[m.current]) else 1
        ctl[C_ONLY_RUNNABLE] = 0 if getattr(m, "contended", False) else 1  # sched_yield yields
        ctl[C_FUTEX_WAITERS] = m.world.futex_waiters.count  # FUTEX_WAKE with none: answered here
        d = getattr(m, "timer_deadline_ns", None)
        ctl[C_TIMER_DEADLINE] = -1 if d is None else m.clock.host_deadline(d)
        w = m.world
        tables = tuple(getattr(w, t) for t in TABLES)
        caps = tuple(t.capacity for t in tables)
        key = (id(w),) + caps
        if key != self._key:
            keep = []
            for slot, table, col, dtype in COLUMNS:
                arr = getattr(getattr(w, table), col)
                if arr.dtype != dtype or not arr.flags.c_contiguous:
                    raise TypeError(f"{table}.{col}: the fast path expects contiguous {np.dtype(dtype)}")
                ctl[slot] = arr.ctypes.data
                keep.append(arr)
            ctl[C_TIDS_STRIDE] = w.tasks.tids.shape[1]
            self._keep = tuple(keep)
            self._key = key
        self._tables, self._caps = tables, caps
        task = m.current_task
        aspace = task.mm if task is not None else None
        if aspace is not None:
            t = aspace.range_array
            if aspace is not self._aspace or t is not self._t:
                self._aspace, self._t = aspace, t
                ctl[C_MM_T] = t.ctypes.data
                ctl[C_MM_CAP] = t.shape[1]
                ctl[C_TASK_SIZE] = aspace.task_size
                ctl[C_MM_BRK] = aspace.brk_state.ctypes.data
            ctl[C_MM_N] = aspace.range_count
        else:
            self._aspace = self._t = None
            ctl[C_MM_N] = 0

    def switched(self) -> None:
        """Inside the hook, after the run loop's turn went to another thread of the same engine
        (Machine.hand_off): the task-dependent slots; the address space and tables are the
        same ones (a table that grew is caught as in :meth:`after_slow`)."""
        m = self.machine
        mv = self._ctl_mv
        mv[C_CURRENT] = m.current
        mv[C_ENABLED] = 0 if m.world.tasks.syscall_work[m.current] else 1
        mv[C_ONLY_RUNNABLE] = 0 if m.contended else 1
        self.after_slow()

    def after_slow(self) -> None:
        """After a Python handler, inside the hook: the same task runs on (a task switch, an
        exec or an exit stops the engine, and the run loop calls :meth:`sync`), so only table
        growth and the page table can have changed."""
        m = self.machine
        T = m.world.tasks
        if T.syscall_work[m.current] or T.userns[m.current]:
            # the call installed a filter or a tracer, or entered a user namespace
            self._ctl_mv[C_ENABLED] = 0
        a = self._aspace
        if a is not None:
            if a.range_array is not self._t:
                return self.sync()
            self._ctl_mv[C_MM_N] = a.range_count
        d = self.machine.timer_deadline_ns  # a handler may arm or run timers
        self._ctl_mv[C_TIMER_DEADLINE] = -1 if d is None else self.machine.clock.host_deadline(d)
        self._ctl_mv[C_FUTEX_WAITERS] = self.machine.world.futex_waiters.count  # a wait may queue
        tasks, groups, rlimit_sets, namespaces = self._tables
        if (tasks.capacity, groups.capacity, rlimit_sets.capacity,
                namespaces.capacity) != self._caps:
            self.sync()

    # -- counters -------------------------------------------------------------------------------------
    @property
    def fast_calls(self) -> int:
        return int(self.ctl[C_FAST_CALLS])

    @property
    def slow_calls(self) -> int:
        return int(self.ctl[C_SLOW_CALLS])

    def fast_count(self, nr: int) -> int:
        return int(self.ctl[C_COUNTS + nr])


__all__ = ["FastPath", "FAST_SYSCALLS", "libc_clock_gettime"]
