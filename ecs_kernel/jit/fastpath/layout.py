"""The compiled syscall hook's control block: what each int64 slot of ``FastPath.ctl`` holds.

Shared by the Python side (``fastpath/__init__.py``, which fills the block) and the compiled hook
(``fastpath/kernel.py``, which reads it); both import it from here.
"""
from __future__ import annotations

# -- the control block (int64 slots) ---------------------------------------------------------------
C_CURRENT = 0  # task row of the current task
C_SLOW_HOOK = 1  # address of the Python hook: void (*)(uc_engine *, void *)
C_REG_READ = 2  # address of uc_reg_read
C_REG_WRITE = 3  # address of uc_reg_write
C_CLOCK_GETTIME = 4  # address of a clock_gettime(clockid_t, struct timespec *); 0: clocks are slow
C_CPU0 = 5  # the machine's CPU-clock origin (ns), subtracted from CLOCK_PROCESS_CPUTIME_ID
C_ONLY_RUNNABLE = 6  # 1: no other task is runnable (sched_yield returns at once)
C_FUTEX_WAITERS = 7  # tasks waiting on any futex of this machine (WAKE with none: 0 woken)
C_FAST_CALLS = 8  # syscalls handled in compiled code
C_SLOW_CALLS = 9  # syscalls passed to the Python hook
C_TASK_SIZE = 10  # top of user space: copies past it fault (AddressSpace._check_user)
C_MM_T = 11  # address of the page table (int64 [NCOLS, capacity], C order)
C_MM_N = 12  # live rows of the page table
C_MM_CAP = 13  # its capacity (the stride between columns)
C_TIDS_STRIDE = 14  # tasks.tids.shape[1]
C_ENABLED = 15  # 0: every syscall goes to the Python hook (a switch for tests and debugging)
C_MM_BRK = 33  # address of the address space's brk state (uint64[5], pagewalk.py BRK_*)
C_TIMER_DEADLINE = 34  # Machine.timer_deadline_ns (host CLOCK_MONOTONIC), -1: no timer armed
C_HOST_CLOCK = 35  # address of the host's clock_gettime (timer deadlines are host time)
C_HOST_SIGNAL = 36  # nonzero: a host signal waits for the run loop (cpu/host_signals.py), so
#                     every syscall goes to Python, which stops the engine to let it be sent
# Column pointers.
C_T_TG = 16
C_T_NS = 17
C_T_TIDS = 18
C_T_PARENT = 19
C_T_RUID = 20
C_T_EUID = 21
C_T_RGID = 22
C_T_EGID = 23
C_T_SIG_MASK = 24
C_T_SIG_PENDING = 25
C_G_LEADER = 26
C_G_PENDING = 27
C_G_RLIMITS = 28
C_R_CUR = 29
C_R_MAX = 30
C_N_LEVEL = 31
C_N_PARENT = 32
C_SCRATCH = 40  # 8 slots the hook uses as register buffers
C_COUNTS = 64  # C_COUNTS + nr: fast-path calls per syscall number
MAX_COUNTED = 512

# -- futex waits and wakes with waiters, and the hand-off (kernel.py's futex section) ------------
# Python keeps these up to date at every way back into compiled code (FastPath.fx_load) and
# reads back what the compiled calls changed at every way into Python (FastPath.catch_up).
C_FX = C_COUNTS + MAX_COUNTED
C_FX_ON = C_FX + 0  # 1: FUTEX_WAIT that blocks and FUTEX_WAKE with waiters are served here
C_HANDOFF_OK = C_FX + 1  # Machine.hand_off's machine-wide conditions hold (0 after any stop)
C_UNBOUNDED = C_FX + 2  # Platform.running_unbounded
C_MAIN_TG = C_FX + 3  # the thread group of the program's first task (Machine.main_row)
C_T_N = C_FX + 4  # tasks.n: the rows the hand-off's scans look at
C_T_CAP = C_FX + 5  # tasks.capacity (the length of every task column and of the contexts)
C_W_CAP = C_FX + 6  # futex_waiters.capacity
C_Q_CAP = C_FX + 7  # futex_queues.capacity
C_FEW = C_FX + 8  # 1: at most FEW_TASKS guest tasks (task_run.py: which signal check hand_off asks)
C_PENDING = C_FX + 9  # 1: compiled futex calls changed what Python mirrors (catch_up applies it)
C_SWITCHES = C_FX + 10  # hand-offs taken here since the last catch_up
C_CONTENDED = C_FX + 11  # Machine.contended after the last of them
C_CPU_SEEN = C_FX + 12  # Machine._cpu_seen (the emulator thread's CPU time last charged)
C_FLT_SEEN = C_FX + 13  # Machine._flt_seen (its minor faults last charged)
C_MONO = C_FX + 14  # host CLOCK_MONOTONIC at the last hand-off here (world.now_ns follows it)
C_REAL = C_FX + 15  # host CLOCK_REALTIME then (cpu_clocks.set_realtime)
C_NLOG = C_FX + 16  # rows in the key log (futex queues made and freed, jit/futex_batch.py's rows)
C_LOG = C_FX + 17  # address of the key log (int64 [LOG_ROWS, LOG_COLS])
C_CTX = C_FX + 18  # address of int64[tasks capacity]: each task's saved uc_context (0: none)
C_CTX_SAVE = C_FX + 19  # address of uc_context_save
C_CTX_RESTORE = C_FX + 20  # address of uc_context_restore
C_CTX_REG_READ = C_FX + 21  # address of uc_context_reg_read
C_GETRUSAGE = C_FX + 22  # address of the host's getrusage
C_W_META = C_FX + 23  # address of futex_waiters' int64[4] meta (jit/rows.py)
C_Q_META = C_FX + 24  # address of futex_queues' meta
C_FX_WAITS = C_FX + 25  # counters: waits that blocked here, wakes with waiters served here,
C_FX_WAKES = C_FX + 26  # hand-offs taken here (statistics for tests and the bench)
C_FX_HANDOFFS = C_FX + 27
C_FX_VALID = C_FX + 28  # 1: the slots above are Python's state (fx_load ran since the last entry)
C_FX_WANTED = C_FX + 29  # a futex call found them stale: after_slow runs fx_load
# Column pointers of the futex section.
C_X = C_FX + 32
C_T_MM, C_T_GUEST, C_T_ALIVE, C_T_RUN_STATE, C_T_BLOCK, C_T_EXIT_STATE, C_T_RET = range(C_X, C_X + 7)
C_T_FUTEX_WAITER, C_T_RESTART_FLAGS, C_T_STOP_RUN_STATE, C_T_STOP_BLOCK = range(C_X + 7, C_X + 11)
C_T_SYSCALL_WORK, C_T_PTRACE_INJECT, C_T_SIG_WAIT_SET, C_T_RSEQ_ADDR = range(C_X + 11, C_X + 15)
C_T_RSEQ_EVENT, C_T_CPUS_ALLOWED, C_T_NVCSW, C_T_CPU_USER, C_T_MIN_FLT = range(C_X + 15, C_X + 20)
C_T_PTRACE_EVENT_PENDING, C_T_PTRACE_RESTART_SHOWN, C_G_EXITING = range(C_X + 20, C_X + 23)
C_W_TASK, C_W_QUEUE, C_W_BITSET, C_W_DEADLINE, C_W_NEXT, C_W_PREV = range(C_X + 23, C_X + 29)
C_W_UADDR, C_W_VAL, C_W_FLAGS, C_W_ALIVE, C_W_GEN, C_W_FREE = range(C_X + 29, C_X + 35)
C_Q_HEAD, C_Q_TAIL, C_Q_COUNT, C_Q_KIND, C_Q_A, C_Q_B = range(C_X + 35, C_X + 41)
C_Q_ALIVE, C_Q_GEN, C_Q_FREE = range(C_X + 41, C_X + 44)
C_T_USERNS = C_X + 44
LOG_ROWS = 64  # key-log rows; a call that could overflow it goes to Python (which drains it)
CTL_SIZE = C_X + 48
