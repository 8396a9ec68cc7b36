"""rseq(2): restartable sequences registration (Linux kernel/rseq.c; gVisor sys_rseq.go,
kernel/rseq.go).

A thread registers one ``struct rseq`` (its address, length and the signature its abort handlers
carry: the Rseq columns). On registration and on unregistration the kernel writes the area's
cpu fields as Linux does: registered, ``cpu_id_start`` and ``cpu_id`` hold the CPU (always 0:
one CPU) and ``node_id`` and ``mm_cid`` 0; unregistered, ``cpu_id`` is
RSEQ_CPU_ID_UNINITIALIZED (-1). A failed write of a registered area is a SIGSEGV, as on
Linux's way back to user space. fork keeps the registration, clone(CLONE_VM) and exec drop it.

Not modelled: aborting a critical section (``rseq_cs``) when its thread is preempted or gets a
signal. The one CPU never migrates a thread, so ``cpu_id`` never changes under a sequence.
"""
from __future__ import annotations

import struct

from ..abi import (ORIG_RSEQ_SIZE, RSEQ_ALIGN, RSEQ_CPU_ID_UNINITIALIZED, RSEQ_FEATURE_SIZE,
                   RSEQ_FLAG_UNREGISTER, RSEQ_OFF_CPU_ID_START, RSEQ_OFF_NODE_ID, RSEQ_OFF_RSEQ_CS, SIGSEGV, TASK_SIZE)
from ..errors import E, KernelError
from ..systems.task_signals import force_signal
from .context import s32, u32
from .registry import FULL, syscall


def _write_ids(t, addr: int, cpu_id_start: int, cpu_id: int) -> None:
    """cpu_id_start and cpu_id, then node_id and mm_cid (0: one node, one concurrency id)."""
    t.mm.copy_out(addr + RSEQ_OFF_CPU_ID_START, struct.pack("<Ii", cpu_id_start, cpu_id))
    t.mm.copy_out(addr + RSEQ_OFF_NODE_ID, struct.pack("<II", 0, 0))  # node_id, mm_cid


@syscall("rseq", FULL, "registration, the cpu fields, unregistration; no critical-section "
         "aborts (one CPU, no migration)", args=("p", "u", "x", "x"))
def rseq(t, addr, length, flags, sig):
    """Implements rseq(2)."""
    length, flags, sig = u32(length), s32(flags), u32(sig)
    T, r = t.world.tasks, t.row
    cur, cur_len, cur_sig = int(T.rseq_addr[r]), int(T.rseq_len[r]), int(T.rseq_sig[r])
    if flags & RSEQ_FLAG_UNREGISTER:
        if flags & ~RSEQ_FLAG_UNREGISTER:
            raise KernelError(E.EINVAL)
        if not cur or cur != addr or length != cur_len:
            raise KernelError(E.EINVAL, "not the registered area")
        if sig != cur_sig:
            raise KernelError(E.EPERM, "wrong signature")
        # EFAULT (and still registered) if the area cannot be written
        _write_ids(t, addr, 0, RSEQ_CPU_ID_UNINITIALIZED)
        T.rseq_addr[r] = T.rseq_len[r] = T.rseq_sig[r] = 0
        return 0
    if flags:
        raise KernelError(E.EINVAL)
    if cur:
        if cur != addr or length != cur_len:
            raise KernelError(E.EINVAL, "another area is registered")
        if sig != cur_sig:
            raise KernelError(E.EPERM, "wrong signature")
        raise KernelError(E.EBUSY, "already registered")
    # the original 32-byte struct aligned to 32, or one that holds every field we know
    if length < ORIG_RSEQ_SIZE or (length == ORIG_RSEQ_SIZE and addr % ORIG_RSEQ_SIZE) or \
            (length != ORIG_RSEQ_SIZE and (addr % RSEQ_ALIGN or length < RSEQ_FEATURE_SIZE)):
        raise KernelError(E.EINVAL, "bad length or alignment")
    if addr + length > TASK_SIZE:
        raise KernelError(E.EFAULT)
    # a leftover rseq_cs pointer is cleared, not refused (older libcs reuse areas)
    if t.mm.copy_in_u64(addr + RSEQ_OFF_RSEQ_CS):
        t.mm.copy_out_u64(addr + RSEQ_OFF_RSEQ_CS, 0)
    T.rseq_addr[r], T.rseq_len[r], T.rseq_sig[r] = addr, length, sig
    try:  # on the way back to user space (rseq_handle_notify_resume)
        _write_ids(t, addr, 0, 0)
    except KernelError:
        force_signal(t.world, r, SIGSEGV)
    return 0
