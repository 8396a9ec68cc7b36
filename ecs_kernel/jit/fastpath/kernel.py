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
from ecs_kernel.jit.options import cfunc, jit, promote

promote()  # this module is imported only to build the hook: its kernels are numba's from the start

SLOW = -(1 << 62)  # "not handled here": the Python hook runs

U32 = 0xFFFF_FFFF

# x86 register ids (unicorn/x86_const.py).
UC_X86_REG_RAX = 35
UC_X86_REG_RDI = 39
UC_X86_REG_RSI = 43
UC_X86_REG_RDX = 40
UC_X86_REG_R10 = 108


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
        return futex_wake(ctl, _arg(uch, ctl, UC_X86_REG_RDI), _arg(uch, ctl, UC_X86_REG_RSI),
                          _arg(uch, ctl, UC_X86_REG_R10))
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
    return 0


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
    ctl[C_SCRATCH] = ret
    _call_reg(ctl[C_REG_WRITE], uch, numba.int32(UC_X86_REG_RAX), _ptr_int(user_data) + 8 * C_SCRATCH)


_COMPILED = None


def hook_address() -> int:
    """The C address of the compiled hook, ``void hook(uc_engine *, void *ctl)`` (compiled, or
    loaded from numba's disk cache, on the first call)."""
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = cfunc(types.void(types.voidptr, types.voidptr), _hook)
    return _COMPILED.address
