"""futex(2) for guests (gVisor: ``sys_futex.go``): systems/futex.py does the work on waiter rows,
shared with synthetic tasks. A wait that blocks leaves the task blocked as a row (KernelBlocked);
a wake, a timeout or a signal completes it with ``tasks.ret``, which the run loop hands back. PI
futexes are waiter rows too: FUTEX_UNLOCK_PI hands the lock to the first waiter (one priority,
nothing to inherit).
"""
from __future__ import annotations

import struct

from ..systems import futex as F
from ..systems.task_block import BLOCKED
from .context import KernelBlocked, s32
from .registry import PARTIAL, syscall


@syscall("futex", PARTIAL, "WAIT/WAKE/REQUEUE/CMP_REQUEUE/WAKE_OP/BITSET and LOCK_PI/UNLOCK_PI/"
         "TRYLOCK_PI on systems/futex (waiters are rows); no requeue-PI, no priority inheritance",
         args=("futex", "+", "+", "+", "+", "+"))
def futex(t, uaddr, op, val, timeout, uaddr2, val3):
    """Implements futex(2)."""
    op = s32(op)
    ts = None
    if F.futex_cmd_has_timeout(op) and timeout:
        ts = struct.unpack("<qq", t.mm.copy_in(timeout, 16))
        # the deadline is on the kernel clock, which follows the host's (a wait without one
        # reads no clock: the CPU it used is charged when the next task is switched in)
        t.machine.sync_clock()
    r = F.futex(t.world, t.row, uaddr, op, val, ts, uaddr2, val3, val2=s32(timeout))
    if r is BLOCKED:
        raise KernelBlocked()
    return r
