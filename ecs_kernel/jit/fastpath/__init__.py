"""The compiled syscall fast path: a numba ``cfunc`` installed as Unicorn's syscall hook.

gVisor keeps its hottest syscalls (getpid, clock_gettime via the vDSO, ...) off the slow path too;
here the hook itself is compiled. At every ``syscall`` instruction Unicorn calls
:func:`~ecs_kernel.jit.fastpath.kernel.hook`, which reads rax and the arguments it needs with
``uc_reg_read`` and handles, without entering the interpreter, the calls whose work is a read or
a small update of component columns or guest memory:

getpid, getppid, gettid, getuid, geteuid, getgid, getegid, clock_gettime, clock_getres,
gettimeofday, time, rt_sigprocmask (when the new mask makes no pending signal deliverable),
sched_yield (when nothing else is runnable), futex FUTEX_WAKE / FUTEX_WAKE_BITSET (when no task
waits, and on a private futex with waiters), FUTEX_WAIT / FUTEX_WAIT_BITSET on a private futex
without a timeout (EAGAIN, and a wait that blocks when the run loop's next turn would be another
thread of this engine: the turn is taken in the hook, as Machine.hand_off takes it), getrlimit
and prlimit64 reads, brk when the break stays inside its current pages (and brk(0), the query).

The futex calls change World columns only; what Python keeps beside them (the futex tables' row
counts, the key -> queue dict, the Machine's current task and counters) is brought up to date by
:meth:`FastPath.catch_up` at the next way into Python, and loaded back by :meth:`FastPath.fx_load`
when a futex call asks (``tests/guests/test_futex_handoff.py`` compares both ways).

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

from ..futex_batch import LOG_COLS
from ..options import cfunc_address

import numpy as np

from . import layout as L
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
# The futex section's (kernel.py: waits that block, wakes with waiters, the hand-off).
FX_COLUMNS = (
    (L.C_T_MM, "tasks", "mm", np.int32), (L.C_T_GUEST, "tasks", "guest", np.bool_),
    (L.C_T_ALIVE, "tasks", "alive", np.bool_), (L.C_T_RUN_STATE, "tasks", "run_state", np.uint8),
    (L.C_T_BLOCK, "tasks", "block", np.uint8), (L.C_T_EXIT_STATE, "tasks", "exit_state", np.uint8),
    (L.C_T_RET, "tasks", "ret", np.int64),
    (L.C_T_FUTEX_WAITER, "tasks", "futex_waiter", np.int32),
    (L.C_T_RESTART_FLAGS, "tasks", "futex_restart_flags", np.uint8),
    (L.C_T_STOP_RUN_STATE, "tasks", "stop_run_state", np.uint8),
    (L.C_T_STOP_BLOCK, "tasks", "stop_block", np.uint8),
    (L.C_T_SYSCALL_WORK, "tasks", "syscall_work", np.uint8),
    (L.C_T_PTRACE_INJECT, "tasks", "ptrace_inject", np.uint8),
    (L.C_T_SIG_WAIT_SET, "tasks", "sig_wait_set", np.uint64),
    (L.C_T_RSEQ_ADDR, "tasks", "rseq_addr", np.uint64),
    (L.C_T_RSEQ_EVENT, "tasks", "rseq_event", np.bool_),
    (L.C_T_CPUS_ALLOWED, "tasks", "cpus_allowed", np.uint64),
    (L.C_T_NVCSW, "tasks", "nvcsw", np.int64), (L.C_T_CPU_USER, "tasks", "cpu_used_user_ns", np.int64),
    (L.C_T_MIN_FLT, "tasks", "min_flt", np.int64),
    (L.C_T_PTRACE_EVENT_PENDING, "tasks", "ptrace_event_pending", np.uint8),
    (L.C_T_PTRACE_RESTART_SHOWN, "tasks", "ptrace_restart_shown", np.bool_),
    (L.C_T_USERNS, "tasks", "userns", np.int32),
    (L.C_G_EXITING, "thread_groups", "exiting", np.bool_),
    (L.C_W_TASK, "futex_waiters", "task", np.int32), (L.C_W_QUEUE, "futex_waiters", "queue", np.int32),
    (L.C_W_BITSET, "futex_waiters", "bitset", np.uint32),
    (L.C_W_DEADLINE, "futex_waiters", "deadline", np.int64),
    (L.C_W_NEXT, "futex_waiters", "w_next", np.int32), (L.C_W_PREV, "futex_waiters", "w_prev", np.int32),
    (L.C_W_UADDR, "futex_waiters", "uaddr", np.uint64), (L.C_W_VAL, "futex_waiters", "val", np.uint32),
    (L.C_W_FLAGS, "futex_waiters", "flags", np.uint8), (L.C_W_ALIVE, "futex_waiters", "alive", np.bool_),
    (L.C_W_GEN, "futex_waiters", "gen", np.uint32),
    (L.C_Q_HEAD, "futex_queues", "q_head", np.int32), (L.C_Q_TAIL, "futex_queues", "q_tail", np.int32),
    (L.C_Q_COUNT, "futex_queues", "q_count", np.int32),
    (L.C_Q_KIND, "futex_queues", "key_kind", np.uint8), (L.C_Q_A, "futex_queues", "key_a", np.int64),
    (L.C_Q_B, "futex_queues", "key_b", np.uint64), (L.C_Q_ALIVE, "futex_queues", "alive", np.bool_),
    (L.C_Q_GEN, "futex_queues", "gen", np.uint32),
)
TABLES = ("tasks", "thread_groups", "rlimit_sets", "pid_namespaces", "futex_waiters", "futex_queues")

# Syscalls the compiled hook may answer (the rest always go to Python).
FAST_SYSCALLS = ("getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid",
                 "clock_gettime", "clock_getres", "gettimeofday", "time", "rt_sigprocmask",
                 "sched_yield", "futex", "getrlimit", "prlimit64", "brk")

_HOOK_INSN_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
HOOK_SIGNATURE = "void(voidptr, voidptr)"
_hook = []  # (address, what keeps it alive)


def _build_hook():
    from . import kernel  # numba: compiled or loaded from its disk cache here, not at import
    return kernel.compile_hook()


def hook_address() -> int:
    """The C address of the compiled hook, ``void hook(uc_engine *, void *ctl)``: its machine
    code mapped from the last build (jit/objcache.py), or numba's cfunc."""
    if not _hook:
        _hook.append(cfunc_address("fastpath_hook", HOOK_SIGNATURE, _build_hook))
    return _hook[0][0]


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
        # What compiled futex calls changed is brought into Python first (catch_up).
        slow = make_slow_hook(self.after_slow)
        pending = memoryview(self.ctl).cast("B").cast("q")

        def slow_hook(uch, user_data):
            if pending[L.C_PENDING]:
                self.catch_up()
            pending[L.C_FX_VALID] = 0  # Python may change what the futex slots mirror
            slow(uch, user_data)

        self._slow = _HOOK_INSN_CB(slow_hook)  # alive as long as the hook
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
        # the futex section (kernel.py): meta arrays, the key log, the tasks' saved contexts
        self._wmeta = np.zeros(4, np.int64)
        self._qmeta = np.zeros(4, np.int64)
        self._log = np.zeros((L.LOG_ROWS, LOG_COLS), np.int64)
        self._ctxs = np.zeros(0, np.int64)
        self._ctx_objs: dict = {}  # row -> the UcContext whose address is in _ctxs (kept alive)
        self._wfree = self._qfree = None
        ctl[L.C_W_META] = self._wmeta.ctypes.data
        ctl[L.C_Q_META] = self._qmeta.ctypes.data
        ctl[L.C_LOG] = self._log.ctypes.data
        ctl[L.C_CTX_SAVE] = _addr(uclib.uc_context_save)
        ctl[L.C_CTX_RESTORE] = _addr(uclib.uc_context_restore)
        ctl[L.C_CTX_REG_READ] = _addr(uclib.uc_context_reg_read)
        ctl[L.C_GETRUSAGE] = _addr(ctypes.CDLL(None).getrusage)
        self.hook_address = hook_address()

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
            for slot, table, col, dtype in FX_COLUMNS:
                arr = getattr(getattr(w, table), col)
                if arr.dtype != dtype or not arr.flags.c_contiguous:
                    raise TypeError(f"{table}.{col}: the fast path expects contiguous {np.dtype(dtype)}")
                ctl[slot] = arr.ctypes.data
                keep.append(arr)
            ctl[C_TIDS_STRIDE] = w.tasks.tids.shape[1]
            ctl[L.C_T_CAP] = w.tasks.capacity
            ctl[L.C_W_CAP] = w.futex_waiters.capacity
            ctl[L.C_Q_CAP] = w.futex_queues.capacity
            self._keep = tuple(keep)
            self._key = key
            self._rebuild_ctxs()
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
        self.fx_load()

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
        tasks, groups, rlimit_sets, namespaces, waiters, queues = self._tables
        if (tasks.capacity, groups.capacity, rlimit_sets.capacity,
                namespaces.capacity, waiters.capacity, queues.capacity) != self._caps:
            self.sync()
        elif self._ctl_mv[L.C_FX_WANTED]:
            self.fx_load()

    # -- the futex section (kernel.py) ---------------------------------------------------------------
    def fx_load(self) -> None:
        """Before compiled code runs again (Python may have changed anything): the futex tables'
        row counts and free stacks, the tasks' count, and Machine.hand_off's machine-wide
        conditions as one slot."""
        m = self.machine
        w = m.world
        mv = self._ctl_mv
        W, Q = w.futex_waiters, w.futex_queues
        if len(W._free) < W.capacity or W._free is not self._wfree:
            W.kernel_meta()  # (makes the free stack as long as the table)
            self._wfree = W._free
            mv[L.C_W_FREE] = W._free.ctypes.data
        if len(Q._free) < Q.capacity or Q._free is not self._qfree:
            Q.kernel_meta()
            self._qfree = Q._free
            mv[L.C_Q_FREE] = Q._free.ctypes.data
        wm, qm = self._wmeta, self._qmeta
        wm[0], wm[1], wm[2], wm[3] = W.n, W._nfree, W.count, W.capacity
        qm[0], qm[1], qm[2], qm[3] = Q.n, Q._nfree, Q.count, Q.capacity
        mv[L.C_T_N] = w.tasks.n
        mv[L.C_FX_ON] = 1 if m.futex_compiled else 0
        p = m.platform
        ok = m.futex_compiled and m.main_row >= 0 and m.hand_off_allowed()
        mv[L.C_HANDOFF_OK] = 1 if ok else 0
        mv[L.C_FX_WANTED] = 0
        mv[L.C_FX_VALID] = 1
        if ok:
            mv[L.C_FEW] = 1 if len(m.tasks) <= m.few_tasks else 0
            mv[L.C_MAIN_TG] = int(w.tasks.tg[m.main_row])
            mv[L.C_UNBOUNDED] = 1 if p.running_unbounded else 0
            mv[L.C_CPU_SEEN] = m._cpu_seen
            mv[L.C_FLT_SEEN] = m._flt_seen

    def catch_up(self) -> None:
        """At a way into Python after compiled futex calls: the futex tables' row counts and
        the key -> queue dict from the calls' meta and key log, and, after hand-offs taken in
        compiled code, what Machine.hand_off would have set (the current task, the counters,
        the clocks' last reads)."""
        mv = self._ctl_mv
        if not mv[L.C_PENDING]:
            return
        mv[L.C_PENDING] = 0
        m = self.machine
        w = m.world
        w.futex_waiters.set_kernel_meta(self._wmeta)
        w.futex_queues.set_kernel_meta(self._qmeta)
        n = mv[L.C_NLOG]
        mv[L.C_NLOG] = 0
        k = mv[L.C_SWITCHES]
        if k:
            mv[L.C_SWITCHES] = 0
            row = mv[C_CURRENT]
            m.hand_offs += k
            m.context_switches += k
            m.last_turn = row
            m.current = row
            m.current_task = m.tasks[row]
            m.memory_of(row).loaded_row = row
            m.contended = bool(mv[L.C_CONTENDED])
            m._cpu_seen = mv[L.C_CPU_SEEN]
            m._flt_seen = mv[L.C_FLT_SEEN]
            mono = mv[L.C_MONO]
            if mono > w.now_ns:
                w.now_ns = mono
        m.catch_up_compiled_futexes(self._log, n, mv[L.C_REAL] if k else None)
        mv[C_FUTEX_WAITERS] = w.futex_waiters.count

    def note_ctx(self, row: int, ctx) -> None:
        """Task ``row``'s saved registers are now ``ctx`` (a UcContext; None: it has none, or a
        new thread's first registers wait to be loaded): what the compiled hand-off restores."""
        if row >= len(self._ctxs):
            self._rebuild_ctxs()
            return
        if ctx is None:
            self._ctxs[row] = 0
            self._ctx_objs.pop(row, None)
        else:
            self._ctxs[row] = ctx.context.value
            self._ctx_objs[row] = ctx

    def _rebuild_ctxs(self) -> None:
        m = self.machine
        cap = m.world.tasks.capacity
        self._ctxs = np.zeros(cap, np.int64)
        self._ctx_objs = {}
        for r, t in m.tasks.items():
            if t.ctx is not None and t.initial_regs is None:
                self._ctxs[r] = t.ctx.context.value
                self._ctx_objs[r] = t.ctx
        self._ctl_mv[L.C_CTX] = self._ctxs.ctypes.data

    @property
    def fx_counts(self) -> tuple[int, int, int]:
        """(waits that blocked, wakes with waiters, hand-offs) served in compiled code."""
        c = self.ctl
        return int(c[L.C_FX_WAITS]), int(c[L.C_FX_WAKES]), int(c[L.C_FX_HANDOFFS])

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
