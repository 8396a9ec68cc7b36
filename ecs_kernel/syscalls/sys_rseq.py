"""rseq(2): restartable sequences registration (Linux kernel/rseq.c; gVisor sys_rseq.go,
kernel/rseq.go).

A thread registers one ``struct rseq`` (its address, length and the signature its abort handlers
carry: the Rseq columns). On registration and on unregistration the kernel writes the area's
cpu fields as Linux does: registered, ``cpu_id_start`` and ``cpu_id`` hold the thread's CPU
(components/task.task_cpu: the lowest of its affinity mask, as getcpu(2) says) and ``node_id``
and ``mm_cid`` 0; unregistered, ``cpu_id`` is RSEQ_CPU_ID_UNINITIALIZED (-1). A failed write of
a registered area is a SIGSEGV, as on Linux's way back to user space. fork keeps the
registration, clone(CLONE_VM) and exec drop it.

A critical section is aborted as Linux's rseq_ip_fixup does, on the events this kernel has: the
thread gets a signal (before its frame is built), it runs again after another thread ran (the
run loop's switch, which sets its ``rseq_event`` column), or sched_setaffinity moved it to
another CPU (rseq_migrate: the same column; the caller's own move is handled as the syscall
returns, Machine.after_syscall). If the thread's ``rseq_cs`` descriptor covers its instruction
pointer, it resumes at the descriptor's ``abort_ip`` (whose preceding 4 bytes must be the
signature) and ``rseq_cs`` is cleared; outside a section ``rseq_cs`` is just cleared; a
malformed descriptor or an unwritable area is a SIGSEGV. Tasks migrate only by
sched_setaffinity, so ``cpu_id`` changes under a sequence only then, and that aborts it.

A thread that runs alone is preempted too, as on Linux, where the tick and the host's other
work take its CPU now and then (rseq_preempt at the switch). Unicorn can be stopped safely only
from a hook or at a quantum's end (DESIGN.md: an asynchronous stop may run an instruction
twice), and a quantum costs its hook's call per block, so only a thread whose area may hold a
critical section runs alone in quanta: its ``rseq_watch`` column is WATCH_NEW after it
registers (a first short quantum looks: a program that enters a section at once) and WATCH
once the kernel saw a descriptor in ``rseq_cs`` (here, or at such a quantum's end). The end of
a watched thread's quantum while no other task can run is its preemption
(Machine.lone_preempt): with a descriptor in ``rseq_cs`` it counts an involuntary switch and
sets ``rseq_event`` (the section is aborted before it runs again); with none it changes nothing
the thread could see but ru_nivcsw, and is not counted. A thread that shows no descriptor at
its first look runs unbounded again (a libc's registration: glibc uses only the cpu fields);
one that used a descriptor stays watched. A thread whose area was idle at its first look and
that enters its first section later, with no switch, signal or migration before it (the
kernel's other looks, which watch it), spins on: that preemption is not modelled.
"""
from __future__ import annotations

import struct

from ..abi import (ORIG_RSEQ_SIZE, RSEQ_ALIGN, RSEQ_CPU_ID_UNINITIALIZED, RSEQ_FEATURE_SIZE,
                   RSEQ_FLAG_UNREGISTER, RSEQ_OFF_CPU_ID_START, RSEQ_OFF_NODE_ID,
                   RSEQ_OFF_RSEQ_CS, SIGSEGV, TASK_SIZE)
from ..components.task import task_cpu
from ..errors import E, KernelError
from ..systems.task_signals import force_signal
from .context import s32, u32
from .registry import FULL, syscall


def _write_ids(t, addr: int, cpu_id_start: int, cpu_id: int) -> None:
    """cpu_id_start and cpu_id, then node_id and mm_cid (0: one node, one concurrency id)."""
    t.mm.copy_out(addr + RSEQ_OFF_CPU_ID_START, struct.pack("<Ii", cpu_id_start, cpu_id))
    t.mm.copy_out(addr + RSEQ_OFF_NODE_ID, struct.pack("<II", 0, 0))  # node_id, mm_cid


@syscall("rseq", FULL, "registration, the cpu fields, critical sections aborted on preemption, "
         "signals and migration (sched_setaffinity)", args=("p", "u", "x", "x"))
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
        T.rseq_addr[r] = T.rseq_len[r] = T.rseq_sig[r] = T.rseq_watch[r] = 0
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
        cpu = task_cpu(t.world, r)
        _write_ids(t, addr, cpu, cpu)
    except KernelError:
        force_signal(t.world, r, SIGSEGV)
    T.rseq_watch[r] = WATCH_NEW
    if t.machine is not None:
        t.machine.rseq_registered(r)  # (a run without quanta ends after this call)
    return 0


WATCH = 1  # rseq_watch: a descriptor was seen in rseq_cs
WATCH_NEW = 2  # rseq_watch: registered, not looked at since

_CS = struct.Struct("<IIQQQ")  # struct rseq_cs: version, flags, start_ip, post_commit_offset, abort_ip
# struct rseq up to mm_cid: cpu_id_start, cpu_id, rseq_cs, flags, node_id, mm_cid (RSEQ_OFF_*)
_AREA = struct.Struct("<IiQIII")
_MASK64 = (1 << 64) - 1


def rseq_cs(t) -> int:
    """The registered area's ``rseq_cs`` word (0 without an area); KernelError if unreadable."""
    addr = int(t.world.tasks.rseq_addr[t.row])
    return t.mm.copy_in_u64(addr + RSEQ_OFF_RSEQ_CS) if addr else 0


def notify_resume(t, rip: int) -> int:
    """rseq_handle_notify_resume for a registered thread about to resume user code at ``rip``
    after a preemption, a migration or a signal: where it resumes (``abort_ip`` inside a
    critical section), with ``rseq_cs`` cleared and the cpu fields written. A bad descriptor or area raises
    KernelError (the caller forces SIGSEGV)."""
    T, r = t.world.tasks, t.row
    addr = int(T.rseq_addr[r])
    if not addr:
        return rip
    # The area (at least 32 bytes, 32-aligned: one page) is read once and written once, as one
    # copy each way: what Linux reads and writes field by field, with no guest code between.
    _start, _cpu, ptr, thread_flags, _node, _cid = t.mm.copy_in_struct(addr, _AREA)
    if ptr:
        T.rseq_watch[r] = WATCH  # a descriptor in use: its runs alone are preempted
        if ptr >= TASK_SIZE:
            raise KernelError(E.EINVAL, "rseq_cs outside user space")
        version, flags, start, off, abort = _CS.unpack(t.mm.copy_in(ptr, _CS.size))
        if start >= TASK_SIZE or start + off >= TASK_SIZE or abort >= TASK_SIZE or version:
            raise KernelError(E.EINVAL, "bad rseq_cs")
        if (abort - start) & _MASK64 < off:
            raise KernelError(E.EINVAL, "abort_ip inside the critical section")
        sig = struct.unpack("<I", t.mm.copy_in(abort - 4, 4))[0]
        if sig != int(T.rseq_sig[r]):
            raise KernelError(E.EINVAL, "no rseq signature before abort_ip")
        if (rip - start) & _MASK64 < off:
            if flags or thread_flags:  # rseq_warn_flags: every flag is refused now
                raise KernelError(E.EINVAL, "rseq flags")
            rip = abort
        ptr = 0  # rseq_cs cleared
    cpu = task_cpu(t.world, r)
    # cpu_id_start and cpu_id, rseq_cs (cleared) and flags as they are, node_id and mm_cid (0:
    # one node, one concurrency id): _write_ids' fields
    t.mm.copy_out(addr, _AREA.pack(cpu, cpu, ptr, thread_flags, 0, 0))
    return rip
