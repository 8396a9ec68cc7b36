"""The compiled syscall hook (numba ``cfunc``) and its handlers. See ``fastpath/__init__.py``.

Every handler mirrors a Python handler in ``ecs_kernel/syscalls/sys_*.py`` line by line (the same
checks in the same order, so the same errno wins) and returns either the value for rax or
``SLOW``: "let Python do it", which the hook turns into one call of the Python hook before
anything was changed. Function addresses and column pointers are data in the control block, not
constants, so the compiled code is the same in every process and numba can cache it on disk.

Safety: the hook dereferences column pointers only at rows the kernel gave it (the current row,
its thread group, its rlimit set, its namespaces), and guest memory only inside a page-table
row's ``[HOST, HOST + END - START)``, as ``pagewalk.copy_out`` does; :meth:`FastPath.sync`
refreshes every pointer whenever Python could have reallocated what it points at.
"""
from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ecs_kernel.abi import (CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC,
                            CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW, CLOCK_PROCESS_CPUTIME_ID,
                            CLOCK_REALTIME, CLOCK_REALTIME_ALARM, CLOCK_REALTIME_COARSE, CLOCK_TAI,
                            CLOCK_THREAD_CPUTIME_ID, EFAULT, EINVAL, ENOSYS, ESRCH,
                            FUTEX_CLOCK_REALTIME, FUTEX_CMD_MASK, FUTEX_WAKE, FUTEX_WAKE_BITSET,
                            NR_BRK, NR_CLOCK_GETRES, NR_CLOCK_GETTIME, NR_FUTEX, NR_GETEGID,
                            NR_GETEUID, NR_GETGID, NR_GETPID, NR_GETPPID, NR_GETRLIMIT, NR_GETTID,
                            NR_GETTIMEOFDAY, NR_GETUID, NR_PRLIMIT64, NR_RT_SIGPROCMASK,
                            NR_SCHED_YIELD, NR_TIME, NSEC_PER_SEC, PAGE_SIZE, PROT_EXEC, PROT_READ,
                            PROT_WRITE, RLIM_INFINITY, RLIM_NLIMITS, SIG_BLOCK, SIG_SETMASK,
                            SIG_UNBLOCK, UNBLOCKABLE)
from ecs_kernel.jit import pagewalk as pw
from ecs_kernel.jit.pagewalk import (BRK_CURRENT, BRK_END_DATA, BRK_RLIMIT_DATA, BRK_START,
                                     BRK_START_DATA, FAULT)
from ecs_kernel.jit.fastpath.layout import (C_CLOCK_GETTIME, C_COUNTS, C_CPU0, C_CURRENT, C_ENABLED,
                                            C_FAST_CALLS, C_FUTEX_WAITERS, C_G_LEADER, C_G_PENDING,
                                            C_MM_BRK, C_G_RLIMITS, C_MM_CAP, C_MM_N, C_MM_T,
                                            C_N_LEVEL, C_N_PARENT, C_ONLY_RUNNABLE, C_R_CUR,
                                            C_R_MAX, C_REG_READ, C_REG_WRITE, C_SCRATCH,
                                            C_SLOW_CALLS, C_SLOW_HOOK, C_T_EGID, C_T_EUID, C_T_NS,
                                            C_T_PARENT, C_T_RGID, C_T_RUID, C_T_SIG_MASK,
                                            C_T_SIG_PENDING, C_T_TG, C_T_TIDS, C_TASK_SIZE,
                                            C_TIDS_STRIDE, CTL_SIZE, MAX_COUNTED, C_TIMER_DEADLINE,
                                            C_HOST_CLOCK, C_HOST_SIGNAL)
from ecs_kernel.jit.fastpath.layout import (
    C_CONTENDED, C_CPU_SEEN, C_CTX, C_CTX_REG_READ, C_CTX_RESTORE, C_CTX_SAVE, C_FEW, C_FLT_SEEN,
    C_FX_HANDOFFS, C_FX_ON, C_FX_VALID, C_FX_WAITS, C_FX_WANTED, C_FX_WAKES, C_G_EXITING, C_GETRUSAGE, C_HANDOFF_OK, C_LOG,
    C_MAIN_TG, C_MONO, C_NLOG, C_PENDING, C_Q_A, C_Q_ALIVE, C_Q_B, C_Q_CAP, C_Q_COUNT, C_Q_FREE,
    C_Q_GEN, C_Q_HEAD, C_Q_KIND, C_Q_META, C_Q_TAIL, C_REAL, C_SWITCHES, C_T_ALIVE, C_T_BLOCK,
    C_T_CAP, C_T_CPU_USER, C_T_CPUS_ALLOWED, C_T_EXIT_STATE, C_T_FUTEX_WAITER, C_T_GUEST,
    C_T_MIN_FLT, C_T_MM, C_T_N, C_T_NVCSW, C_T_PTRACE_EVENT_PENDING, C_T_PTRACE_INJECT,
    C_T_PTRACE_RESTART_SHOWN, C_T_RESTART_FLAGS, C_T_RET, C_T_RSEQ_ADDR, C_T_RSEQ_EVENT,
    C_T_RUN_STATE, C_T_SIG_WAIT_SET, C_T_STOP_BLOCK, C_T_STOP_RUN_STATE, C_T_SYSCALL_WORK,
    C_T_USERNS, C_UNBOUNDED, C_W_ALIVE, C_W_BITSET, C_W_CAP, C_W_DEADLINE, C_W_FLAGS, C_W_FREE,
    C_W_GEN,
    C_W_META, C_W_NEXT, C_W_PREV, C_W_QUEUE, C_W_TASK, C_W_UADDR, C_W_VAL, LOG_ROWS)
from ecs_kernel.abi import (BLOCK_EXEC, BLOCK_FUTEX, BLOCK_NONE, BLOCK_PTRACE,
                            BLOCK_SIGTIMEDWAIT, BLOCK_STOPPED, BLOCK_VFORK, ERESTART_RESTARTBLOCK,
                            ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS, EAGAIN,
                            FUTEX_BITSET_MATCH_ANY, FUTEX_PRIVATE_FLAG, FUTEX_WAIT,
                            FUTEX_WAIT_BITSET, KEY_PRIVATE, RUN_APP, RUN_BLOCKED,
                            RUN_SYSCALL_EXIT, TASK_EXIT_INITIATED, TASK_EXIT_NONE, WF_PRIVATE)
from ecs_kernel.jit.options import cfunc, jit, promote

promote()  # this module is imported only to build the hook: its kernels are numba's from the start
# (kernels of other modules imported after promote(): numba dispatchers, not placeholders)
from ecs_kernel.jit.futex_batch import LOG_COLS, LOG_FREE, LOG_NEW, NO_DEADLINE  # noqa: E402
from ecs_kernel.jit.links import append_one, unlink_one  # noqa: E402
from ecs_kernel.jit.rows import table_alloc, table_free, table_has_room  # noqa: E402

SLOW = -(1 << 62)  # "not handled here": the Python hook runs
HANDED = SLOW + 1  # the call blocked and another thread runs on: rax is that thread's

U32 = 0xFFFF_FFFF

# x86 register ids (unicorn/x86_const.py).
UC_X86_REG_RAX = 35
UC_X86_REG_RDI = 39
UC_X86_REG_RSI = 43
UC_X86_REG_RDX = 40
UC_X86_REG_R10 = 108
UC_X86_REG_R9 = 107
UC_X86_REG_RIP = 41
from ecs_kernel.abi import RUSAGE_THREAD  # noqa: E402
RSEQ_AREA_LEN = 28  # sys_rseq._AREA: what notify_resume reads and writes


# -- raw pointers and calls ------------------------------------------------------------------------

@intrinsic
def _ptr_int(typingctx, p):
    """A ``void *`` as an int64 address."""
    sig = types.int64(types.voidptr)

    def codegen(context, builder, signature, args):
        return builder.ptrtoint(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _as_ptr(typingctx, addr, ty):
    """An int64 address as a typed pointer (``ty`` is a numba number type, e.g. ``numba.int32``)."""
    elt = ty.instance_type
    sig = types.CPointer(elt)(types.int64, ty)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(types.CPointer(elt)))

    return sig, codegen


@intrinsic
def _call_reg(typingctx, fn, uch, regid, buf):
    """``int (*fn)(uc_engine *, int, void *)`` at address ``fn``: uc_reg_read / uc_reg_write."""
    sig = types.int32(types.int64, types.voidptr, types.int32, types.int64)

    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(32), [i8p, ir.IntType(32), i8p])
        f = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(f, [args[1], args[2], builder.inttoptr(args[3], i8p)])

    return sig, codegen


@intrinsic
def _call_clock(typingctx, fn, clock, ts):
    """``int clock_gettime(clockid_t, struct timespec *)`` at address ``fn``."""
    sig = types.int32(types.int64, types.int32, types.int64)

    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(32), [ir.IntType(32), i8p])
        f = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(f, [args[1], builder.inttoptr(args[2], i8p)])

    return sig, codegen


@intrinsic
def _call_hook(typingctx, fn, uch, user_data):
    """``void (*fn)(uc_engine *, void *)`` at address ``fn``: the Python hook."""
    sig = types.void(types.int64, types.voidptr, types.voidptr)

    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i8p])
        f = builder.inttoptr(args[0], fnty.as_pointer())
        builder.call(f, [args[1], args[2]])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _call_ctx(typingctx, fn, uch, ctx):
    """``int (*fn)(uc_engine *, uc_context *)`` at address ``fn``: uc_context_save / restore."""
    sig = types.int32(types.int64, types.voidptr, types.int64)

    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(32), [i8p, i8p])
        f = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(f, [args[1], builder.inttoptr(args[2], i8p)])

    return sig, codegen


@intrinsic
def _call_ctx_reg(typingctx, fn, ctx, regid, buf):
    """``int (*fn)(uc_context *, int, void *)`` at address ``fn``: uc_context_reg_read."""
    sig = types.int32(types.int64, types.int64, types.int32, types.int64)

    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(32), [i8p, ir.IntType(32), i8p])
        f = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(f, [builder.inttoptr(args[1], i8p), args[2],
                                builder.inttoptr(args[3], i8p)])

    return sig, codegen


# -- component columns --------------------------------------------------------------------------------

@jit
def _i32(ctl, slot, i):
    return numba.int64(_as_ptr(ctl[slot], numba.int32)[i])


@jit
def _u32(ctl, slot, i):
    return numba.int64(_as_ptr(ctl[slot], numba.uint32)[i])


@jit
def _u64(ctl, slot, i):
    return _as_ptr(ctl[slot], numba.uint64)[i]


@jit
def tid_in(ctl, task, ns):
    """pidns.tid_in: the id of ``task`` in namespace ``ns``, 0 if it is not visible there."""
    tns = _i32(ctl, C_T_NS, task)
    level = _i32(ctl, C_N_LEVEL, ns)
    if level > _i32(ctl, C_N_LEVEL, tns):
        return 0
    while _i32(ctl, C_N_LEVEL, tns) > level:
        tns = _i32(ctl, C_N_PARENT, tns)
    if tns != ns:
        return 0
    return _i32(ctl, C_T_TIDS, task * ctl[C_TIDS_STRIDE] + level)


@jit
def _leader(ctl, row):
    return _i32(ctl, C_G_LEADER, _i32(ctl, C_T_TG, row))


@jit
def getpid(ctl, row):
    return tid_in(ctl, _leader(ctl, row), _i32(ctl, C_T_NS, row))


@jit
def gettid(ctl, row):
    return tid_in(ctl, row, _i32(ctl, C_T_NS, row))


@jit
def getppid(ctl, row):
    p = _i32(ctl, C_T_PARENT, _leader(ctl, row))
    if p < 0:
        return 0
    return tid_in(ctl, _leader(ctl, p), _i32(ctl, C_T_NS, row))


# -- guest memory (AddressSpace.copy_in / copy_out for at most 16 bytes in one row) ------------------

@jit
def _page_table(ctl):
    return numba.carray(_as_ptr(ctl[C_MM_T], numba.int64), (pw.NCOLS, ctl[C_MM_CAP]))


@jit
def guest_ptr(ctl, addr, length, write):
    """Host address of guest ``[addr, addr+length)`` for a kernel copy; FAULT where Python's copy
    raises EFAULT; SLOW where Python must do it (the range spans rows, or a write lands in
    executable memory and translated code must be dropped)."""
    if addr < 0 or addr > ctl[C_TASK_SIZE] - length:  # addr >= 2**63 arrives negative
        return FAULT
    t = _page_table(ctl)
    n = ctl[C_MM_N]
    need = PROT_WRITE if write else PROT_READ
    i = pw.find_row(t, n, addr)
    if i < 0:
        return FAULT
    if addr + length <= t[pw.END, i]:
        prot = t[pw.PROT, i]
        if (pw.effective_prot(prot) & need) != need or addr + length > t[pw.LIMIT, i]:
            return FAULT
        if write and prot & PROT_EXEC:
            return SLOW
        return t[pw.HOST, i] + (addr - t[pw.START, i])
    if pw.check_range(t, n, addr, length, need) != 0:
        return FAULT
    return SLOW


@jit
def _store(host, off, v):
    b = numba.carray(_as_ptr(host + off, numba.uint8), (8,))
    for k in range(8):
        b[k] = numba.uint8((v >> (8 * k)) & 0xFF)


@jit
def _load(host):
    b = numba.carray(_as_ptr(host, numba.uint8), (8,))
    v = numba.uint64(0)
    for k in range(8):
        v |= numba.uint64(b[k]) << numba.uint64(8 * k)
    return v


@jit
def copy_out_2(ctl, addr, a, b, length):
    """Write ``length`` (8 or 16) bytes: ``a`` then ``b`` (little-endian). 0, FAULT or SLOW."""
    host = guest_ptr(ctl, addr, length, True)
    if host == FAULT or host == SLOW:
        return host
    _store(host, 0, numba.uint64(a))
    if length == 16:
        _store(host, 8, numba.uint64(b))
    return 0


# -- clocks (sys_time.py) ---------------------------------------------------------------------------

@jit
def _host_clock(ctl, clockid):
    ts = C_SCRATCH + 2
    base = _ctl_base(ctl)
    _call_clock(ctl[C_CLOCK_GETTIME], numba.int32(clockid), base + 8 * ts)
    return ctl[ts] * NSEC_PER_SEC + ctl[ts + 1]


@jit
def _valid_clock(c):
    return c in (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID,
                 CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME,
                 CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_TAI)


@jit
def _cpu_clock(c):
    """A CPU-time clock: its value is the kernel's accounting (the Python path)."""
    return c < 0 or c == CLOCK_PROCESS_CPUTIME_ID or c == CLOCK_THREAD_CPUTIME_ID


@jit
def clock_now(ctl, c):
    """sys_time.clock_now for a valid clock id ``c`` that is not a CPU clock."""
    if c == CLOCK_REALTIME or c == CLOCK_REALTIME_COARSE or c == CLOCK_REALTIME_ALARM:
        return _host_clock(ctl, CLOCK_REALTIME)  # machine.realtime_ns
    if c == CLOCK_TAI:
        return _host_clock(ctl, CLOCK_REALTIME) + 37 * NSEC_PER_SEC
    if c == CLOCK_PROCESS_CPUTIME_ID or c == CLOCK_THREAD_CPUTIME_ID:
        # machine.cpu_time_ns (the process clock)
        return _host_clock(ctl, CLOCK_PROCESS_CPUTIME_ID) - ctl[C_CPU0]
    return _host_clock(ctl, CLOCK_MONOTONIC)  # machine.monotonic_ns


@jit
def _s32(x):
    x &= U32
    if x & 0x8000_0000:
        return x - (1 << 32)
    return x


@jit
def _errno(r, e):
    """A copy's result as the syscall's: FAULT -> -EFAULT, SLOW stays, 0 -> ``e``."""
    if r == FAULT:
        return -EFAULT
    if r == SLOW:
        return SLOW
    return e


# -- the handlers ------------------------------------------------------------------------------------

@jit
def _arg(uch, ctl, reg):
    _call_reg(ctl[C_REG_READ], uch, numba.int32(reg), _ctl_base(ctl) + 8 * C_SCRATCH)
    return ctl[C_SCRATCH]


@jit
def _ctl_base(ctl):
    return numba.int64(ctl.ctypes.data)


@jit
def back_to_user_is_quiet(ctl, row):
    """Machine.after_syscall would do nothing: no deliverable signal (signals.deliverable), no
    timer deadline passed (run_timers), no host signal waiting to be sent (it stops the engine)."""
    if ctl[C_HOST_SIGNAL]:
        return False
    tg = _i32(ctl, C_T_TG, row)
    pend = _u64(ctl, C_T_SIG_PENDING, row) | _u64(ctl, C_G_PENDING, tg)
    if pend & ~(_u64(ctl, C_T_SIG_MASK, row) & ~numba.uint64(UNBLOCKABLE)):
        return False
    deadline = ctl[C_TIMER_DEADLINE]
    if deadline >= 0:
        ts = C_SCRATCH + 4
        _call_clock(ctl[C_HOST_CLOCK], numba.int32(CLOCK_MONOTONIC), _ctl_base(ctl) + 8 * ts)
        if ctl[ts] * NSEC_PER_SEC + ctl[ts + 1] >= deadline:
            return False
    return True


@jit
def handle(uch, ctl, nr):
    """The result for rax of syscall ``nr`` by the current task, or SLOW."""
    row = ctl[C_CURRENT]
    if not back_to_user_is_quiet(ctl, row):
        return SLOW
    if nr == NR_GETPID:
        return getpid(ctl, row)
    if nr == NR_BRK:
        return brk(ctl, _arg(uch, ctl, UC_X86_REG_RDI))
    if nr == NR_GETTID:
        return gettid(ctl, row)
    if nr == NR_GETPPID:
        return getppid(ctl, row)
    if nr == NR_GETUID:
        return _u32(ctl, C_T_RUID, row)
    if nr == NR_GETEUID:
        return _u32(ctl, C_T_EUID, row)
    if nr == NR_GETGID:
        return _u32(ctl, C_T_RGID, row)
    if nr == NR_GETEGID:
        return _u32(ctl, C_T_EGID, row)
    if nr == NR_SCHED_YIELD:
        return 0 if ctl[C_ONLY_RUNNABLE] else SLOW
    if nr == NR_CLOCK_GETTIME or nr == NR_GETTIMEOFDAY or nr == NR_TIME or nr == NR_CLOCK_GETRES:
        if ctl[C_CLOCK_GETTIME] == 0:
            return SLOW
        return _clocks(uch, ctl, nr)
    if nr == NR_RT_SIGPROCMASK:
        return rt_sigprocmask(ctl, row, _arg(uch, ctl, UC_X86_REG_RDI), _arg(uch, ctl, UC_X86_REG_RSI),
                              _arg(uch, ctl, UC_X86_REG_RDX), _arg(uch, ctl, UC_X86_REG_R10))
    if nr == NR_FUTEX:
        return futex(uch, ctl, row)
    if nr == NR_GETRLIMIT:
        return getrlimit(ctl, row, _arg(uch, ctl, UC_X86_REG_RDI), _arg(uch, ctl, UC_X86_REG_RSI))
    if nr == NR_PRLIMIT64:
        return prlimit64(ctl, row, _arg(uch, ctl, UC_X86_REG_RDI), _arg(uch, ctl, UC_X86_REG_RSI),
                         _arg(uch, ctl, UC_X86_REG_RDX), _arg(uch, ctl, UC_X86_REG_R10))
    return SLOW


@jit
def _clocks(uch, ctl, nr):
    if nr == NR_CLOCK_GETTIME:
        c = _s32(_arg(uch, ctl, UC_X86_REG_RDI))
        tp = _arg(uch, ctl, UC_X86_REG_RSI)
        if _cpu_clock(c):
            return SLOW
        if not _valid_clock(c):
            return -EINVAL
        # Python reads the clock, then copies: a fault costs the same clock read.
        host = guest_ptr(ctl, tp, 16, True)
        if host == SLOW:
            return SLOW
        ns = clock_now(ctl, c)
        if host == FAULT:
            return -EFAULT
        _store(host, 0, numba.uint64(ns // NSEC_PER_SEC))
        _store(host, 8, numba.uint64(ns % NSEC_PER_SEC))
        return 0
    if nr == NR_CLOCK_GETRES:
        c = _s32(_arg(uch, ctl, UC_X86_REG_RDI))
        tp = _arg(uch, ctl, UC_X86_REG_RSI)
        if c < 0:
            return SLOW  # a clock id naming a thread or process: the kernel looks it up
        if not _valid_clock(c):
            return -EINVAL
        if tp:
            res = 4_000_000 if (c == CLOCK_REALTIME_COARSE or c == CLOCK_MONOTONIC_COARSE) else 1
            return _errno(copy_out_2(ctl, tp, 0, res, 16), 0)
        return 0
    if nr == NR_GETTIMEOFDAY:
        tv = _arg(uch, ctl, UC_X86_REG_RDI)
        tz = _arg(uch, ctl, UC_X86_REG_RSI)
        # Decide SLOW before anything is written (Python would redo the first write).
        if tv:
            h = guest_ptr(ctl, tv, 16, True)
            if h == SLOW:
                return SLOW
        if tz:
            h2 = guest_ptr(ctl, tz, 8, True)
            if h2 == SLOW:
                return SLOW
        ns = _host_clock(ctl, CLOCK_REALTIME)
        if tv:
            r = copy_out_2(ctl, tv, ns // NSEC_PER_SEC, ns % NSEC_PER_SEC // 1000, 16)
            if r != 0:
                return _errno(r, 0)
        if tz:
            return _errno(copy_out_2(ctl, tz, 0, 0, 8), 0)
        return 0
    # time(2)
    tloc = _arg(uch, ctl, UC_X86_REG_RDI)
    if tloc:
        h = guest_ptr(ctl, tloc, 8, True)
        if h == SLOW:
            return SLOW
    sec = _host_clock(ctl, CLOCK_REALTIME) // NSEC_PER_SEC
    if tloc:
        r = copy_out_2(ctl, tloc, sec, 0, 8)
        if r != 0:
            return _errno(r, 0)
    return sec


@jit
def rt_sigprocmask(ctl, row, how, set_, oldset, sigsetsize):
    """sys_signal.rt_sigprocmask + task_signals.sigprocmask, when no pending signal becomes
    deliverable (delivery is Python's)."""
    if sigsetsize != 8:
        return -EINVAL
    old = _u64(ctl, C_T_SIG_MASK, row)
    if oldset:  # decide SLOW before the mask changes
        h = guest_ptr(ctl, oldset, 8, True)
        if h == SLOW:
            return SLOW
    if set_:
        src = guest_ptr(ctl, set_, 8, False)
        if src == FAULT:
            return -EFAULT
        if src == SLOW:
            return SLOW
        new = _load(src)
        h = _s32(how)
        if h == SIG_BLOCK:
            mask = old | new
        elif h == SIG_UNBLOCK:
            mask = old & ~new
        elif h == SIG_SETMASK:
            mask = new
        else:
            return -EINVAL
        mask &= ~numba.uint64(UNBLOCKABLE)
        tg = _i32(ctl, C_T_TG, row)
        pending = _u64(ctl, C_T_SIG_PENDING, row) | _u64(ctl, C_G_PENDING, tg)
        if pending & ~mask:
            return SLOW
        _as_ptr(ctl[C_T_SIG_MASK], numba.uint64)[row] = mask
    if oldset:
        return _errno(copy_out_2(ctl, oldset, old, 0, 8), 0)
    return 0


@jit
def futex_wake(ctl, uaddr, op, val3):
    """sys_futex.futex for FUTEX_WAKE and FUTEX_WAKE_BITSET with no waiters (0 woken)."""
    op = _s32(op)
    cmd = op & FUTEX_CMD_MASK
    if cmd != FUTEX_WAKE and cmd != FUTEX_WAKE_BITSET:
        return SLOW
    if ctl[C_FUTEX_WAITERS] != 0:
        return SLOW
    if op & FUTEX_CLOCK_REALTIME:  # for waits only
        return -ENOSYS
    if uaddr & 3:
        return -EINVAL
    if cmd == FUTEX_WAKE_BITSET and (val3 & U32) == 0:
        return -EINVAL
    if uaddr < 0 or uaddr > ctl[C_TASK_SIZE] - 4:
        return -EFAULT  # futex.futex_key: outside the address range
    if not _key_certain(ctl, uaddr, op):
        return SLOW
    return 0


@jit
def _key_certain(ctl, uaddr, op):
    """Does get_futex_key surely succeed for this aligned, in-range word? A private key always
    does; a shared one needs the word mapped (futex_shared_key): a writable word surely has one,
    and Python says which error the others get (EFAULT, read-only anonymous memory)."""
    if op & FUTEX_PRIVATE_FLAG:
        return True
    h = guest_ptr(ctl, uaddr, 4, True)
    return h != FAULT and h != SLOW


@jit
def getrlimit(ctl, row, resource, ptr):
    """sys_process.getrlimit."""
    resource &= U32
    if resource >= RLIM_NLIMITS:
        return -EINVAL
    rs = _i32(ctl, C_G_RLIMITS, _i32(ctl, C_T_TG, row))
    cur = _u64(ctl, C_R_CUR, rs * RLIM_NLIMITS + resource)
    mx = _u64(ctl, C_R_MAX, rs * RLIM_NLIMITS + resource)
    return _errno(copy_out_2(ctl, ptr, cur, mx, 16), 0)


@jit
def prlimit64(ctl, row, pid, resource, new_ptr, old_ptr):
    """sys_process.prlimit64 when it only reads (no new limit)."""
    p = _s32(pid)
    if p != 0 and p != getpid(ctl, row):
        return -ESRCH
    if new_ptr:
        return SLOW
    if old_ptr:
        h = guest_ptr(ctl, old_ptr, 16, True)
        if h == FAULT:
            return -EFAULT
        if h == SLOW:
            return SLOW
    resource &= U32
    if resource >= RLIM_NLIMITS:
        return -EINVAL
    if old_ptr:
        rs = _i32(ctl, C_G_RLIMITS, _i32(ctl, C_T_TG, row))
        cur = _u64(ctl, C_R_CUR, rs * RLIM_NLIMITS + resource)
        mx = _u64(ctl, C_R_MAX, rs * RLIM_NLIMITS + resource)
        return _errno(copy_out_2(ctl, old_ptr, cur, mx, 16), 0)
    return 0


@jit
def brk(ctl, new):
    """AddressSpace.brk when the answer needs no mapping change: a break below start_brk (brk(0)
    asks), over RLIMIT_DATA, or moving inside its current last page."""
    if new < 0 or new >= (1 << 46):  # Python's unbounded arithmetic below: keep it exact
        return SLOW
    b = _as_ptr(ctl[C_MM_BRK], numba.uint64)
    start = numba.int64(b[BRK_START])
    cur = numba.int64(b[BRK_CURRENT])
    if new < start:
        return cur
    if b[BRK_RLIMIT_DATA] != numba.uint64(RLIM_INFINITY):
        total = (new - start) + numba.int64(b[BRK_END_DATA]) - numba.int64(b[BRK_START_DATA])
        if total > 0 and numba.uint64(total) > b[BRK_RLIMIT_DATA]:
            return cur
    mask = ~numba.int64(PAGE_SIZE - 1)
    if (new + PAGE_SIZE - 1) & mask == (cur + PAGE_SIZE - 1) & mask:
        b[BRK_CURRENT] = numba.uint64(new)
        return new
    return SLOW


# -- futex waits that block, wakes with waiters, and the hand-off ------------------------------------
#
# systems/futex.py's futex_wait / futex_wake for private futexes without a timeout, and
# Machine.hand_off (cpu/task_run.py) for the wait: when the run loop's next turn would be another
# thread of this engine, the turn is taken here, registers saved and restored through
# uc_context_save / uc_context_restore on the tasks' own contexts. Every change is to World
# columns (the waiter and queue rows allocated and freed as Table.alloc / free do, jit/rows.py);
# what Python keeps beside them (the tables' row counts, the key -> queue dict, the Machine's
# current task and counters) is brought up to date by FastPath.catch_up at the next Python entry,
# from the meta arrays, the key log and the switch slots. Anything else is SLOW, decided before
# anything changed. tests/jit/test_futex_handoff.py runs guests both ways and compares.

@jit
def _c_u8(ctl, slot):
    return numba.carray(_as_ptr(ctl[slot], numba.uint8), (ctl[C_T_CAP],))


@jit
def _c_i32(ctl, slot, cap):
    return numba.carray(_as_ptr(ctl[slot], numba.int32), (ctl[cap],))


@jit
def _c_u32(ctl, slot, cap):
    return numba.carray(_as_ptr(ctl[slot], numba.uint32), (ctl[cap],))


@jit
def _c_i64(ctl, slot, cap):
    return numba.carray(_as_ptr(ctl[slot], numba.int64), (ctl[cap],))


@jit
def _c_u64(ctl, slot, cap):
    return numba.carray(_as_ptr(ctl[slot], numba.uint64), (ctl[cap],))


@jit
def _c_meta(ctl, slot):
    return numba.carray(_as_ptr(ctl[slot], numba.int64), (4,))


@jit
def _deliverable(ctl, t, rs, b):
    """task_signals.deliverable of task ``t`` were its run state ``rs`` and block ``b``."""
    pend = _u64(ctl, C_T_SIG_PENDING, t) | _u64(ctl, C_G_PENDING, _i32(ctl, C_T_TG, t))
    if _c_u8(ctl, C_T_PTRACE_INJECT)[t] and not (rs == RUN_BLOCKED and b == BLOCK_PTRACE):
        return True
    if pend == 0:
        return False
    m = _u64(ctl, C_T_SIG_MASK, t)
    if rs == RUN_BLOCKED:
        if b == BLOCK_STOPPED or b == BLOCK_VFORK or b == BLOCK_PTRACE or b == BLOCK_EXEC:
            return False
        if b == BLOCK_SIGTIMEDWAIT:
            m &= ~_c_u64(ctl, C_T_SIG_WAIT_SET, C_T_CAP)[t]
    return (pend & ~(m & ~numba.uint64(UNBLOCKABLE))) != 0


@jit
def _next_turn(ctl, row):
    """Machine.hand_off's decision, as if ``row`` were blocked on its futex now: the row the run
    loop's next turn goes to, when that turn may be taken here, else -1. ``ctl[C_SCRATCH + 6]``:
    1 if another task is runnable beside it (Machine.contended)."""
    if not ctl[C_HANDOFF_OK] or ctl[C_CLOCK_GETTIME] == 0:
        return -1
    n = ctl[C_T_N]
    alive = _c_u8(ctl, C_T_ALIVE)
    guest = _c_u8(ctl, C_T_GUEST)
    run_state = _c_u8(ctl, C_T_RUN_STATE)
    block = _c_u8(ctl, C_T_BLOCK)
    exit_state = _c_u8(ctl, C_T_EXIT_STATE)
    tg = _c_i32(ctl, C_T_TG, C_T_CAP)
    exiting = _as_ptr(ctl[C_G_EXITING], numba.uint8)  # (indexed by thread-group rows only)
    few = ctl[C_FEW]
    main_tg = ctl[C_MAIN_TG]
    main_alive = False
    first = -1
    after = -1
    ready = 0
    for r in range(n):
        if not (alive[r] and guest[r]):
            continue
        es = exit_state[r]
        rs = numba.int64(RUN_BLOCKED) if r == row else numba.int64(run_state[r])
        b = numba.int64(BLOCK_FUTEX) if r == row else numba.int64(block[r])
        g = tg[r]
        if rs == RUN_BLOCKED and es == TASK_EXIT_NONE:
            if few:
                if _deliverable(ctl, r, rs, b):
                    return -1
            else:  # Machine._blocked_may_take_signal: a superset of deliverable
                pend = _u64(ctl, C_T_SIG_PENDING, r) | _u64(ctl, C_G_PENDING, g)
                m = _u64(ctl, C_T_SIG_MASK, r) & ~_c_u64(ctl, C_T_SIG_WAIT_SET, C_T_CAP)[r]
                if pend & ~(m & ~numba.uint64(UNBLOCKABLE)):
                    return -1
        if es == TASK_EXIT_INITIATED or (exiting[g] and es == TASK_EXIT_NONE):
            return -1  # Machine.exits_pending
        if g == main_tg and es == TASK_EXIT_NONE:
            main_alive = True
        if es == TASK_EXIT_NONE and not exiting[g] and (rs == RUN_APP or rs == RUN_SYSCALL_EXIT):
            ready += 1
            if first < 0:
                first = r
            if after < 0 and r > row:
                after = r
    if exiting[main_tg] or not main_alive or ready == 0:
        return -1
    nxt = after if after >= 0 else first  # scheduler.RoundRobin.pick
    mm = _c_i32(ctl, C_T_MM, C_T_CAP)
    if nxt == row or mm[nxt] != mm[row] or _c_u8(ctl, C_T_SYSCALL_WORK)[nxt] \
            or _deliverable(ctl, nxt, run_state[nxt], block[nxt]):
        return -1
    if _c_i32(ctl, C_T_USERNS, C_T_CAP)[nxt]:
        return -1  # (a task in a user namespace takes every call to Python: FastPath.after_slow)
    contended = ready > 1
    if contended and ctl[C_UNBOUNDED]:
        return -1
    ctx = _c_i64(ctl, C_CTX, C_T_CAP)
    if ctx[row] == 0 or ctx[nxt] == 0:
        return -1  # a first switch (no saved context yet), or a new thread's first registers
    if run_state[nxt] == RUN_SYSCALL_EXIT:  # Machine.syscall_exit's plain case only
        ret = _c_i64(ctl, C_T_RET, C_T_CAP)[nxt]
        if ret == -ERESTARTSYS or ret == -ERESTARTNOINTR or ret == -ERESTARTNOHAND \
                or ret == -ERESTART_RESTARTBLOCK or _c_u8(ctl, C_T_PTRACE_RESTART_SHOWN)[nxt] \
                or _c_u8(ctl, C_T_PTRACE_EVENT_PENDING)[nxt]:
            return -1
        buf = _ctl_base(ctl) + 8 * (C_SCRATCH + 7)
        _call_ctx_reg(ctl[C_CTX_REG_READ], ctx[nxt], numba.int32(UC_X86_REG_RAX), buf)
        if ctl[C_SCRATCH + 7] != NR_FUTEX:
            return -1  # another call's completion (wait4's status, ...) is Python's
    if _c_u8(ctl, C_T_RSEQ_EVENT)[nxt]:
        addr = numba.int64(_c_u64(ctl, C_T_RSEQ_ADDR, C_T_CAP)[nxt])
        if addr:
            h = guest_ptr(ctl, addr, RSEQ_AREA_LEN, True)
            if h == FAULT or h == SLOW or _load(h + 8) != 0:
                return -1  # a critical section to abort, or an area Python must fault on
    ctl[C_SCRATCH + 6] = 1 if contended else 0
    return nxt


@jit
def _find_queue(ctl, mm, uaddr):
    """The futex_queues row of key (KEY_PRIVATE, mm, uaddr), or -1 (world.index.futex_keys)."""
    q_alive = numba.carray(_as_ptr(ctl[C_Q_ALIVE], numba.uint8), (ctl[C_Q_CAP],))
    kind = numba.carray(_as_ptr(ctl[C_Q_KIND], numba.uint8), (ctl[C_Q_CAP],))
    a = _c_i64(ctl, C_Q_A, C_Q_CAP)
    b = _c_u64(ctl, C_Q_B, C_Q_CAP)
    n = _c_meta(ctl, C_Q_META)[0]
    for q in range(n):
        if q_alive[q] and kind[q] == KEY_PRIVATE and a[q] == mm and b[q] == numba.uint64(uaddr):
            return q
    return -1


@jit
def _log_key(ctl, what, q, kind, a, b):
    log = numba.carray(_as_ptr(ctl[C_LOG], numba.int64), (LOG_ROWS, LOG_COLS))
    k = ctl[C_NLOG]
    log[k, 0] = what
    log[k, 1] = kind
    log[k, 2] = a
    log[k, 3] = b
    log[k, 4] = q
    ctl[C_NLOG] = k + 1


@jit
def _unlog_new(ctl, q):
    """Queue ``q`` goes before Python saw it made: drop its LOG_NEW row instead of logging the
    free (the key dict ends the same; a key has one live queue at a time, so no later row is
    about its key). True if there was one."""
    log = numba.carray(_as_ptr(ctl[C_LOG], numba.int64), (LOG_ROWS, LOG_COLS))
    n = ctl[C_NLOG]
    for k in range(n - 1, -1, -1):
        if log[k, 0] == LOG_NEW and log[k, 4] == q:
            for j in range(k, n - 1):
                for c in range(LOG_COLS):
                    log[j, c] = log[j + 1, c]
            ctl[C_NLOG] = n - 1
            return True
    return False


@jit
def _drop_waiter(ctl, w):
    """futex._drop: unlink waiter ``w`` (its queue freed, and logged, when it empties), free the
    row. Returns its task."""
    wcap = C_W_CAP
    w_task = _c_i32(ctl, C_W_TASK, wcap)
    w_queue = _c_i32(ctl, C_W_QUEUE, wcap)
    w_next = _c_i32(ctl, C_W_NEXT, wcap)
    w_prev = _c_i32(ctl, C_W_PREV, wcap)
    q_head = _c_i32(ctl, C_Q_HEAD, C_Q_CAP)
    q_tail = _c_i32(ctl, C_Q_TAIL, C_Q_CAP)
    q_count = _c_i32(ctl, C_Q_COUNT, C_Q_CAP)
    t = w_task[w]
    q = w_queue[w]
    unlink_one(q_head, q_tail, q, w_next, w_prev, w)
    q_count[q] -= 1
    if q_count[q] == 0:
        kind = numba.carray(_as_ptr(ctl[C_Q_KIND], numba.uint8), (ctl[C_Q_CAP],))
        a = _c_i64(ctl, C_Q_A, C_Q_CAP)
        b = _c_u64(ctl, C_Q_B, C_Q_CAP)
        if not _unlog_new(ctl, q):
            _log_key(ctl, LOG_FREE, q, numba.int64(kind[q]), a[q], numba.int64(b[q]))
        q_head[q] = -1
        q_tail[q] = -1
        kind[q] = 0
        a[q] = 0
        b[q] = 0
        table_free(_c_meta(ctl, C_Q_META), _c_i64(ctl, C_Q_FREE, C_Q_CAP),
                   numba.carray(_as_ptr(ctl[C_Q_ALIVE], numba.uint8), (ctl[C_Q_CAP],)),
                   _c_u32(ctl, C_Q_GEN, C_Q_CAP), q)
    w_task[w] = -1
    w_queue[w] = -1
    _c_u32(ctl, C_W_BITSET, wcap)[w] = 0
    _c_i64(ctl, C_W_DEADLINE, wcap)[w] = NO_DEADLINE
    w_next[w] = -1
    w_prev[w] = -1
    _c_u64(ctl, C_W_UADDR, wcap)[w] = 0
    _c_u32(ctl, C_W_VAL, wcap)[w] = 0
    numba.carray(_as_ptr(ctl[C_W_FLAGS], numba.uint8), (ctl[wcap],))[w] = 0
    table_free(_c_meta(ctl, C_W_META), _c_i64(ctl, C_W_FREE, wcap),
               numba.carray(_as_ptr(ctl[C_W_ALIVE], numba.uint8), (ctl[wcap],)),
               _c_u32(ctl, C_W_GEN, wcap), w)
    fw = _c_i32(ctl, C_T_FUTEX_WAITER, C_T_CAP)
    if fw[t] == w:
        fw[t] = -1
    return t


@jit
def _futex_args(op):
    """(cmd, private) of a futex op, or cmd -1 when the op is not one served here."""
    cmd = op & FUTEX_CMD_MASK
    return cmd, (op & FUTEX_PRIVATE_FLAG) != 0


@jit
def futex_wake_waiters(ctl, row, uaddr, op, val, val3):
    """sys_futex / futex.futex_wake for FUTEX_WAKE(_BITSET) on a private futex: wake up to
    ``val`` waiters (<= 0: one) whose bitset meets, oldest first (futex._wake_key)."""
    cmd = op & FUTEX_CMD_MASK
    if op & FUTEX_CLOCK_REALTIME:
        return -ENOSYS
    bitset = numba.int64(FUTEX_BITSET_MATCH_ANY) if cmd == FUTEX_WAKE else val3 & U32
    if bitset == 0:
        return -EINVAL
    if uaddr & 3:
        return -EINVAL
    if uaddr < 0 or uaddr > ctl[C_TASK_SIZE] - 4:
        return -EFAULT
    if not _key_certain(ctl, uaddr, op):
        return SLOW
    if _c_meta(ctl, C_W_META)[2] == 0:
        return 0  # nobody waits on any futex
    if not (op & FUTEX_PRIVATE_FLAG):
        return SLOW  # a shared key (the mapping's object) is Python's
    if ctl[C_NLOG] >= LOG_ROWS:
        return SLOW
    q = _find_queue(ctl, numba.int64(_c_i32(ctl, C_T_MM, C_T_CAP)[row]), uaddr)
    if q < 0:
        return 0
    nr = _s32(val)
    w_task = _c_i32(ctl, C_W_TASK, C_W_CAP)
    w_next = _c_i32(ctl, C_W_NEXT, C_W_CAP)
    w_bitset = _c_u32(ctl, C_W_BITSET, C_W_CAP)
    exit_state = _c_u8(ctl, C_T_EXIT_STATE)
    run_state = _c_u8(ctl, C_T_RUN_STATE)
    block = _c_u8(ctl, C_T_BLOCK)
    stop_run_state = _c_u8(ctl, C_T_STOP_RUN_STATE)
    stop_block = _c_u8(ctl, C_T_STOP_BLOCK)
    ret = _c_i64(ctl, C_T_RET, C_T_CAP)
    woke = 0
    w = _c_i32(ctl, C_Q_HEAD, C_Q_CAP)[q]
    ctl[C_PENDING] = 1
    while w >= 0:
        nxt = w_next[w]
        u = w_task[w]
        waiting = exit_state[u] == TASK_EXIT_NONE and run_state[u] == RUN_BLOCKED and (
            block[u] == BLOCK_FUTEX or (block[u] == BLOCK_STOPPED and stop_block[u] == BLOCK_FUTEX
                                        and stop_run_state[u] == RUN_BLOCKED))
        if not waiting:
            _drop_waiter(ctl, w)
        elif numba.int64(w_bitset[w]) & bitset:
            _drop_waiter(ctl, w)  # futex._complete
            ret[u] = 0
            if block[u] == BLOCK_STOPPED:
                stop_run_state[u] = RUN_SYSCALL_EXIT
                stop_block[u] = BLOCK_NONE
            else:
                run_state[u] = RUN_SYSCALL_EXIT
                block[u] = BLOCK_NONE
            woke += 1
            if woke >= nr:
                break
        w = nxt
    ctl[C_FX_WAKES] += 1
    return woke


@jit
def _host_ns(ctl, clockid):
    ts = C_SCRATCH + 2
    _call_clock(ctl[C_HOST_CLOCK], numba.int32(clockid), _ctl_base(ctl) + 8 * ts)
    return ctl[ts] * NSEC_PER_SEC + ctl[ts + 1]


@jit
def _set_reg(uch, ctl, reg, v):
    ctl[C_SCRATCH + 1] = v
    _call_reg(ctl[C_REG_WRITE], uch, numba.int32(reg), _ctl_base(ctl) + 8 * (C_SCRATCH + 1))


@jit
def _switch(uch, ctl, row, nxt, rip):
    """Machine.hand_off's turn, from ``row`` (blocked; its ``syscall`` at ``rip``) to ``nxt``:
    switch_to (sync_clock's CPU and fault charge, the registers saved and restored), the
    syscall exit of its completed wait, its rseq fixup, rip less 2."""
    _set_reg(uch, ctl, UC_X86_REG_RIP, rip + 2)  # as the stop leaves it
    nvcsw = _c_i64(ctl, C_T_NVCSW, C_T_CAP)
    nvcsw[row] += 1
    # Machine.sync_clock: kernel time, realtime, then the CPU and faults of the previous task
    ctl[C_MONO] = _host_ns(ctl, CLOCK_MONOTONIC)
    ctl[C_REAL] = _host_ns(ctl, CLOCK_REALTIME)
    cpu = _host_ns(ctl, CLOCK_THREAD_CPUTIME_ID)
    if cpu > ctl[C_CPU_SEEN]:
        _c_i64(ctl, C_T_CPU_USER, C_T_CAP)[row] += cpu - ctl[C_CPU_SEEN]
    ctl[C_CPU_SEEN] = cpu
    ru = C_SCRATCH + 8  # struct rusage (144 bytes): ru_minflt is its 9th field
    _call_clock(ctl[C_GETRUSAGE], numba.int32(RUSAGE_THREAD), _ctl_base(ctl) + 8 * ru)
    flt = ctl[ru + 8]
    alive = _c_u8(ctl, C_T_ALIVE)
    if alive[row]:
        _c_i64(ctl, C_T_MIN_FLT, C_T_CAP)[row] += flt - ctl[C_FLT_SEEN]
    ctl[C_FLT_SEEN] = flt
    rseq_addr = _c_u64(ctl, C_T_RSEQ_ADDR, C_T_CAP)
    rseq_event = _c_u8(ctl, C_T_RSEQ_EVENT)
    if alive[row] and rseq_addr[row]:
        rseq_event[row] = 1  # rseq_preempt
    ctx = _c_i64(ctl, C_CTX, C_T_CAP)
    _call_ctx(ctl[C_CTX_SAVE], uch, ctx[row])
    _call_ctx(ctl[C_CTX_RESTORE], uch, ctx[nxt])
    ctl[C_CURRENT] = nxt
    ctl[C_SWITCHES] += 1
    ctl[C_CONTENDED] = ctl[C_SCRATCH + 6]
    ctl[C_PENDING] = 1
    run_state = _c_u8(ctl, C_T_RUN_STATE)
    if run_state[nxt] == RUN_SYSCALL_EXIT:
        run_state[nxt] = RUN_APP
        _set_reg(uch, ctl, UC_X86_REG_RAX, _c_i64(ctl, C_T_RET, C_T_CAP)[nxt])
    if rseq_event[nxt]:  # sys_rseq.notify_resume outside a critical section (_next_turn checked)
        rseq_event[nxt] = 0
        addr = numba.int64(rseq_addr[nxt])
        if addr:
            h = guest_ptr(ctl, addr, RSEQ_AREA_LEN, True)
            allowed = _c_u64(ctl, C_T_CPUS_ALLOWED, C_T_CAP)[nxt]
            cpu_id = 0
            if allowed:
                while not (allowed >> numba.uint64(cpu_id)) & numba.uint64(1):
                    cpu_id += 1
            _store32(h, 0, cpu_id)  # cpu_id_start
            _store32(h, 4, cpu_id)  # cpu_id
            _store(h, 8, numba.uint64(0))  # rseq_cs (it was 0)
            _store32(h, 20, 0)  # node_id
            _store32(h, 24, 0)  # mm_cid
    ctl[C_SCRATCH] = 0
    _call_reg(ctl[C_REG_READ], uch, numba.int32(UC_X86_REG_RIP), _ctl_base(ctl) + 8 * C_SCRATCH)
    _set_reg(uch, ctl, UC_X86_REG_RIP, ctl[C_SCRATCH] - 2)  # Unicorn adds 2 when the hook returns
    ctl[C_ONLY_RUNNABLE] = 0 if ctl[C_CONTENDED] else 1  # FastPath.switched
    ctl[C_ENABLED] = 1  # (_next_turn checked: no syscall work)
    ctl[C_FX_HANDOFFS] += 1


@jit
def _load32(host):
    b = numba.carray(_as_ptr(host, numba.uint8), (4,))
    return numba.int64(b[0]) | (numba.int64(b[1]) << 8) | (numba.int64(b[2]) << 16) \
        | (numba.int64(b[3]) << 24)


@jit
def _store32(host, off, v):
    b = numba.carray(_as_ptr(host + off, numba.uint8), (4,))
    for k in range(4):
        b[k] = numba.uint8((v >> (8 * k)) & 0xFF)


@jit
def futex_wait_hand_off(uch, ctl, row, uaddr, op, val, timeout, val3, rip):
    """sys_futex / futex.futex_wait for FUTEX_WAIT(_BITSET) on a private futex without a
    timeout: -EAGAIN when the word changed; when it blocks, only with the hand-off (HANDED)."""
    cmd = op & FUTEX_CMD_MASK
    if not (op & FUTEX_PRIVATE_FLAG) or timeout != 0:
        return SLOW
    if op & FUTEX_CLOCK_REALTIME and cmd != FUTEX_WAIT_BITSET:
        return SLOW  # ENOSYS: Python's (glibc's condvars pass the flag with no timeout: served)
    bitset = numba.int64(FUTEX_BITSET_MATCH_ANY) if cmd == FUTEX_WAIT else val3 & U32
    if bitset == 0 or uaddr & 3:
        return SLOW  # EINVAL: Python's
    host = guest_ptr(ctl, uaddr, 4, False)
    if host == FAULT or host == SLOW:
        return SLOW
    word = _load32(host)  # (4 bytes: the row may end right after the word)
    if word != val & U32:
        return -EAGAIN
    fw = _c_i32(ctl, C_T_FUTEX_WAITER, C_T_CAP)
    if fw[row] >= 0 or ctl[C_NLOG] >= LOG_ROWS:
        return SLOW
    wmeta = _c_meta(ctl, C_W_META)
    qmeta = _c_meta(ctl, C_Q_META)
    mm = numba.int64(_c_i32(ctl, C_T_MM, C_T_CAP)[row])
    q = _find_queue(ctl, mm, uaddr)
    if not table_has_room(wmeta) or (q < 0 and not table_has_room(qmeta)):
        return SLOW  # Python grows the table
    nxt = _next_turn(ctl, row)
    if nxt < 0:
        return SLOW
    # futex._enqueue
    wcap = C_W_CAP
    w = table_alloc(wmeta, _c_i64(ctl, C_W_FREE, wcap),
                    numba.carray(_as_ptr(ctl[C_W_ALIVE], numba.uint8), (ctl[wcap],)))
    _c_i32(ctl, C_W_TASK, wcap)[w] = row
    _c_u32(ctl, C_W_BITSET, wcap)[w] = bitset
    _c_i64(ctl, C_W_DEADLINE, wcap)[w] = NO_DEADLINE
    _c_u64(ctl, C_W_UADDR, wcap)[w] = uaddr
    _c_u32(ctl, C_W_VAL, wcap)[w] = val & U32
    numba.carray(_as_ptr(ctl[C_W_FLAGS], numba.uint8), (ctl[wcap],))[w] = WF_PRIVATE
    if q < 0:  # futex._new_queue
        q = table_alloc(qmeta, _c_i64(ctl, C_Q_FREE, C_Q_CAP),
                        numba.carray(_as_ptr(ctl[C_Q_ALIVE], numba.uint8), (ctl[C_Q_CAP],)))
        numba.carray(_as_ptr(ctl[C_Q_KIND], numba.uint8), (ctl[C_Q_CAP],))[q] = KEY_PRIVATE
        _c_i64(ctl, C_Q_A, C_Q_CAP)[q] = mm
        _c_u64(ctl, C_Q_B, C_Q_CAP)[q] = uaddr
        _log_key(ctl, LOG_NEW, q, KEY_PRIVATE, mm, uaddr)
    append_one(_c_i32(ctl, C_Q_HEAD, C_Q_CAP), _c_i32(ctl, C_Q_TAIL, C_Q_CAP), q,
               _c_i32(ctl, C_W_NEXT, wcap), _c_i32(ctl, C_W_PREV, wcap), w)  # futex._link
    _c_i32(ctl, C_W_QUEUE, wcap)[w] = q
    _c_i32(ctl, C_Q_COUNT, C_Q_CAP)[q] += 1
    fw[row] = w
    _c_u8(ctl, C_T_RUN_STATE)[row] = RUN_BLOCKED
    _c_u8(ctl, C_T_BLOCK)[row] = BLOCK_FUTEX
    _c_u8(ctl, C_T_RESTART_FLAGS)[row] = 0
    ctl[C_PENDING] = 1
    ctl[C_FX_WAITS] += 1
    _switch(uch, ctl, row, nxt, rip)
    return HANDED


@jit
def futex(uch, ctl, row):
    """futex(2) here: FUTEX_WAKE(_BITSET) with none waiting (any futex), and with ctl[C_FX_ON]
    private wakes with waiters and private waits without a timeout (with the hand-off)."""
    uaddr = _arg(uch, ctl, UC_X86_REG_RDI)
    op = _s32(_arg(uch, ctl, UC_X86_REG_RSI))
    cmd = op & FUTEX_CMD_MASK
    # The futex section's slots are brought up to date only when a futex call asks for them
    # (C_FX_WANTED: the next after_slow loads them), not at every slow syscall.
    valid = ctl[C_FX_ON] and ctl[C_FX_VALID]
    if cmd == FUTEX_WAKE or cmd == FUTEX_WAKE_BITSET:
        val3 = _arg(uch, ctl, UC_X86_REG_R9)  # (the sixth argument)
        if not valid:
            r = futex_wake(ctl, uaddr, op, val3)
            if r == SLOW and ctl[C_FX_ON]:
                ctl[C_FX_WANTED] = 1
            return r
        return futex_wake_waiters(ctl, row, uaddr, op, _arg(uch, ctl, UC_X86_REG_RDX), val3)
    if (cmd == FUTEX_WAIT or cmd == FUTEX_WAIT_BITSET) and ctl[C_FX_ON]:
        if not valid:
            ctl[C_FX_WANTED] = 1
            return SLOW
        val = _arg(uch, ctl, UC_X86_REG_RDX)
        timeout = _arg(uch, ctl, UC_X86_REG_R10)
        val3 = _arg(uch, ctl, UC_X86_REG_R9)
        return futex_wait_hand_off(uch, ctl, row, uaddr, op, val, timeout, val3,
                                   _arg(uch, ctl, UC_X86_REG_RIP))
    return SLOW


# -- the hook ------------------------------------------------------------------------------------------

def _hook(uch, user_data):
    ctl = numba.carray(_as_ptr(_ptr_int(user_data), numba.int64), (CTL_SIZE,))
    ret = SLOW
    nr = -1
    if ctl[C_ENABLED]:
        nr = _arg(uch, ctl, UC_X86_REG_RAX)
        ret = handle(uch, ctl, nr)
    if ret == SLOW:
        ctl[C_SLOW_CALLS] += 1
        _call_hook(ctl[C_SLOW_HOOK], uch, user_data)
        return
    ctl[C_FAST_CALLS] += 1
    if 0 <= nr < MAX_COUNTED:
        ctl[C_COUNTS + nr] += 1
    if ret == HANDED:
        return
    ctl[C_SCRATCH] = ret
    _call_reg(ctl[C_REG_WRITE], uch, numba.int32(UC_X86_REG_RAX), _ptr_int(user_data) + 8 * C_SCRATCH)


_COMPILED = None


def compile_hook():
    """The numba cfunc of the hook (compiled, or loaded from numba's disk cache, on the first
    call); its signature is ``HOOK_SIGNATURE`` (fastpath/__init__.py)."""
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = cfunc(types.void(types.voidptr, types.voidptr), _hook)
    return _COMPILED


def hook_address() -> int:
    """The C address of the numba-made hook, ``void hook(uc_engine *, void *ctl)``."""
    return compile_hook().address
