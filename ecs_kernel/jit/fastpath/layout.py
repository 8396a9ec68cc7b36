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
CTL_SIZE = C_COUNTS + MAX_COUNTED
