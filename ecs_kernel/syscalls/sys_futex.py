"""futex(2) for a single-threaded guest (gVisor: ``sys_futex.go``).

glibc uses futexes even in single-threaded programs (locks, pthread_once, stdio). With one task
there is never a waiter to wake and nobody to wake a waiter: FUTEX_WAKE wakes 0 tasks, FUTEX_WAIT
returns EAGAIN when the word changed and otherwise sleeps until its timeout (ETIMEDOUT) or, with
none, forever, as Linux would. Waiter queues across tasks arrive with the futex issue.
"""
from __future__ import annotations

import struct

from ..errors import E, KernelError
from .context import Block, s32, u32
from .table import PARTIAL, syscall

FUTEX_WAIT, FUTEX_WAKE, FUTEX_FD, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP = range(6)
FUTEX_LOCK_PI, FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = range(6, 11)
FUTEX_WAIT_REQUEUE_PI, FUTEX_CMP_REQUEUE_PI, FUTEX_LOCK_PI2 = 11, 12, 13
FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME = 128, 256
NS = 1_000_000_000


@syscall("futex", PARTIAL, "single task: WAKE wakes nobody, WAIT checks the word and sleeps to its "
         "timeout; PI and requeue ops on one task", args=("p", "i", "u", "p", "p", "u"))
def futex(t, uaddr, op, val, timeout, uaddr2, val3):
    """Implements futex(2)."""
    op = s32(op)
    cmd = op & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
    if op & FUTEX_CLOCK_REALTIME and cmd not in (FUTEX_WAIT, FUTEX_WAIT_BITSET,
                                                  FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2):
        raise KernelError(E.ENOSYS)
    if uaddr & 3:
        raise KernelError(E.EINVAL)
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        if cmd == FUTEX_WAIT_BITSET and u32(val3) == 0:
            raise KernelError(E.EINVAL)
        deadline = None
        now = t.machine.monotonic_ns()
        if timeout:
            sec, nsec = struct.unpack("<qq", t.mm.copy_in(timeout, 16))
            if sec < 0 or not 0 <= nsec < NS:
                raise KernelError(E.EINVAL)
            ns = sec * NS + nsec
            if cmd == FUTEX_WAIT:  # relative
                deadline = t.deadline_for(202, now, ns)
            elif op & FUTEX_CLOCK_REALTIME:  # absolute, realtime
                deadline = now + (ns - t.machine.realtime_ns())
            else:  # absolute, monotonic
                deadline = ns
        if t.mm.copy_in_u32(uaddr) != u32(val):
            t.clear_restart()
            raise KernelError(E.EAGAIN)
        if deadline is not None and now >= deadline:
            t.clear_restart()
            raise KernelError(E.ETIMEDOUT)
        raise Block(deadline=deadline)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        if cmd == FUTEX_WAKE_BITSET and u32(val3) == 0:
            raise KernelError(E.EINVAL)
        return 0
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        if cmd == FUTEX_CMP_REQUEUE and t.mm.copy_in_u32(uaddr) != u32(val3):
            raise KernelError(E.EAGAIN)
        return 0
    if cmd == FUTEX_WAKE_OP:
        t.mm.copy_in_u32(uaddr2)
        return 0
    if cmd == FUTEX_UNLOCK_PI:
        from .sys_process import gettid
        word = t.mm.copy_in_u32(uaddr)
        if word & 0x3FFF_FFFF != gettid(t):
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
        if word & 0x3FFF_FFFF == tid:
            raise KernelError(35)  # EDEADLK
        if cmd == FUTEX_TRYLOCK_PI:
            raise KernelError(E.EAGAIN)
        raise Block()
    raise KernelError(E.ENOSYS)
