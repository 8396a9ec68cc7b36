"""futex(2) for guests (gVisor: ``sys_futex.go``): systems/futex.py does the work on waiter rows,
shared with synthetic tasks. A wait that blocks leaves the task blocked as a row (KernelBlocked);
a wake, a timeout or a signal completes it with ``tasks.ret``, which the run loop hands back.
PI futexes are only served uncontended (a single thread taking or releasing its own lock).
"""
from __future__ import annotations

import struct

from ..abi import (FUTEX_CLOCK_REALTIME, FUTEX_CMD_MASK, FUTEX_CMP_REQUEUE_PI, FUTEX_LOCK_PI,
                   FUTEX_LOCK_PI2, FUTEX_TID_MASK, FUTEX_TRYLOCK_PI, FUTEX_UNLOCK_PI,
                   FUTEX_WAIT_REQUEUE_PI, NR_FUTEX)
from ..errors import E, KernelError
from .context import Block, KernelBlocked, s32
from .table import PARTIAL, syscall


@syscall("futex", PARTIAL, "WAIT/WAKE/REQUEUE/CMP_REQUEUE/WAKE_OP/BITSET on systems/futex "
         "(waiters are rows); PI ops only uncontended", args=("p", "i", "u", "p", "p", "u"))
def futex(t, uaddr, op, val, timeout, uaddr2, val3):
    """Implements futex(2)."""
    from ..systems import futex as F
    from ..systems.task_wait import BLOCKED
    op = s32(op)
    cmd = op & FUTEX_CMD_MASK
    if cmd not in (FUTEX_LOCK_PI, FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI, FUTEX_LOCK_PI2,
                   FUTEX_WAIT_REQUEUE_PI, FUTEX_CMP_REQUEUE_PI):
        ts = None
        if F.futex_cmd_has_timeout(op) and timeout:
            ts = struct.unpack("<qq", t.mm.copy_in(timeout, 16))
        if F.futex_cmd_has_timeout(op):
            t.machine.sync_clock()  # deadlines are on the kernel clock, which follows the host's
        r = F.futex(t.world, t.row, uaddr, op, val, ts, uaddr2, val3, val2=s32(timeout))
        if r is BLOCKED:
            t.machine.update_timer_deadline()  # a timed wait is due on the kernel clock
            raise KernelBlocked(NR_FUTEX)
        return r
    if op & FUTEX_CLOCK_REALTIME and cmd not in (FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2):
        raise KernelError(E.ENOSYS)
    if uaddr & 3:
        raise KernelError(E.EINVAL)
    if cmd == FUTEX_UNLOCK_PI:
        from .sys_process import gettid
        word = t.mm.copy_in_u32(uaddr)
        if word & FUTEX_TID_MASK != gettid(t):
            raise KernelError(E.EPERM)
        t.mm.copy_out_u32(uaddr, 0)
        return 0
    if cmd in (FUTEX_LOCK_PI, FUTEX_LOCK_PI2, FUTEX_TRYLOCK_PI):
        from .sys_process import gettid
        word = t.mm.copy_in_u32(uaddr)
        tid = gettid(t)
        if word == 0:
            t.mm.copy_out_u32(uaddr, tid)
            return 0
        if word & FUTEX_TID_MASK == tid:
            raise KernelError(E.EDEADLK)
        if cmd == FUTEX_TRYLOCK_PI:
            raise KernelError(E.EAGAIN)
        raise Block()
    raise KernelError(E.ENOSYS)
