"""Futexes: futex(2) as kernel calls over waiter rows, a timeout system, exit and robust lists.

gVisor: kernel/futex (Manager, Waiter, Key). Linux: kernel/futex/{syscalls,waitwake,requeue,
core}.c, kernel/fork.c (mm_release).

Blocking is data. FUTEX_WAIT(_BITSET) checks the word and, if it still holds ``val``, allocates a
``futex_waiters`` row linked at the tail of its key's FIFO list (components/futex.py), and leaves
the task ``blocked`` on ``Block.FUTEX``. Nothing holds a Python stack. A waiter leaves its row in
exactly one of these ways, each of which frees the row and moves the task:

    woken       FUTEX_WAKE(_BITSET), FUTEX_REQUEUE/CMP_REQUEUE, FUTEX_WAKE_OP, a robust-list or
                clear_child_tid wake: ret = 0, run_state = runSyscallExit
    timed out   ``futex_timeout_system`` (TIMERS phase) when ``deadline <= world.now_ns``:
                ret = -ETIMEDOUT, run_state = runSyscallExit
    interrupted ``futex_interrupt`` (called by signal delivery): ret = -ERESTARTSYS, or
                -ERESTART_RESTARTBLOCK with a restart block when the wait had a timeout
    killed      its exit (``futex_exit``, from the EXIT phase) or ``futex_orphan_system``
                (INTERRUPT phase, right after the kill is noticed): the row goes, nothing is woken

Wake order within a key is FIFO (Linux orders by priority, FIFO among equals; we have one
priority). A wake is synchronous, as in Linux: the woken task is runnable when the call returns.

Keys (Linux get_futex_key)::

    FUTEX_PRIVATE_FLAG         (KEY_PRIVATE, mm row, address): only the address range is checked
                               (access_ok), so a private wake on an unmapped word returns 0
    shared, MAP_SHARED memory  (KEY_SHARED_OBJ, backing object identity, offset in it): the
                               AddressSpace's shared HostBuffer ``ino`` (or a SimMemory
                               SharedSegment's), so processes mapping it anywhere meet
    shared, private memory     (KEY_SHARED_MM, mm row, address). Linux keys anonymous pages this
                               way and marks them FUT_OFF_MMSHARED, so a shared op never meets a
                               private op on the same word. Private *file* mappings are keyed the
                               same way here (Linux keys an un-COWed file page by inode: waiters in
                               two processes mapping one file privately would meet there, not here).
                               A shared op on read-only anonymous memory is EFAULT, as in Linux.

Guest memory is reached through a tiny protocol: ``world.index.address_spaces[mm_row]`` is an
object with ``copy_in_u32(addr)`` / ``copy_out_u32(addr, v)`` / ``copy_in_u64(addr)`` raising
KernelError(EFAULT), ``task_size`` and ``futex_shared_key(mm, addr, write)`` (the key of a shared
op, above): cpu/memory.py's AddressSpace (or a cpu/platform.py GuestMemory wrapping one), or a
:class:`SimMemory` for synthetic tasks (a numpy word array per address space, with optional
:class:`SharedSegment` s that fork keeps shared).

Supported ops and their errnos (Linux 6.x order of checks):

    op                     notes
    FUTEX_WAIT             val3 ignored (bitset = all); relative timeout; CLOCK_REALTIME: ENOSYS
    FUTEX_WAKE             val <= 0 wakes one (Linux's ``++ret >= nr_wake``)
    FUTEX_REQUEUE          val2 (the timeout slot) = nr_requeue; negative nr: EINVAL
    FUTEX_CMP_REQUEUE      *uaddr != val3: EAGAIN; uaddr == uaddr2 is allowed (no EINVAL: that
                           rule is requeue-PI's): the requeued waiters stay where they are
    FUTEX_WAKE_OP          the op is applied to *uaddr2 even when the comparison is invalid
                           (then ENOSYS); bad op: ENOSYS; shift > 31 is masked (Linux warns)
    FUTEX_WAIT_BITSET      absolute timeout on CLOCK_MONOTONIC, or CLOCK_REALTIME with the flag;
                           bitset 0: EINVAL
    FUTEX_WAKE_BITSET      bitset 0: EINVAL
    PI ops, FUTEX_FD,      ENOSYS (no priority inheritance here; FUTEX_FD left Linux in 2.6.26)
    *_REQUEUE_PI, others

Common errnos: a timeout timespec with tv_sec < 0 or tv_nsec outside [0, 1e9): EINVAL (checked
first, only for ops that take a timeout); FUTEX_CLOCK_REALTIME on another op: ENOSYS; a uaddr not
4-byte aligned: EINVAL; outside the address range or unmapped where the word must be read or
written: EFAULT; *uaddr != val: EAGAIN; a deadline already past: ETIMEDOUT.

Time: deadlines are on ``world.now_ns`` (the kernel's monotonic clock). CLOCK_REALTIME deadlines
are converted once, at wait time, with ``world.index.realtime_offset_ns`` (realtime =
monotonic + offset); a later clock_settime does not move them (Linux would).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..abi import (Block, ERESTARTNOINTR, ERESTARTSYS, ERESTART_RESTARTBLOCK, ExitState,
                   FUTEX_BITSET_MATCH_ANY, FUTEX_CLOCK_REALTIME, FUTEX_CMD_MASK, FUTEX_CMP_REQUEUE,
                   FUTEX_LOCK_PI, FUTEX_LOCK_PI2, FUTEX_OP_ADD, FUTEX_OP_ANDN, FUTEX_OP_CMP_EQ,
                   FUTEX_OP_CMP_GE, FUTEX_OP_CMP_GT, FUTEX_OP_CMP_LE, FUTEX_OP_CMP_LT,
                   FUTEX_OP_CMP_NE, FUTEX_OP_OPARG_SHIFT, FUTEX_OP_OR, FUTEX_OP_SET, FUTEX_OP_XOR,
                   FUTEX_OWNER_DIED, FUTEX_PRIVATE_FLAG, FUTEX_REQUEUE, FUTEX_TID_MASK,
                   FUTEX_TRYLOCK_PI, FUTEX_UNLOCK_PI, FUTEX_WAIT, FUTEX_WAITERS, FUTEX_WAIT_BITSET,
                   FUTEX_WAIT_REQUEUE_PI, FUTEX_WAKE, FUTEX_WAKE_BITSET, FUTEX_WAKE_OP, KEY_PRIVATE,
                   KEY_SHARED_MM, KEY_SHARED_OBJ, KTIME_MAX, NSEC_PER_SEC, ROBUST_LIST_HEAD_SIZE,
                   ROBUST_LIST_LIMIT, RunState, WF_HAS_TIMEOUT, WF_PI, WF_PRIVATE)
from ..components import links, pidns
from ..components.futex import NO_DEADLINE
from ..errors import E, KernelError
from ..jit import futex_batch as FB
from ..jit.futex_batch import LOG_NEW, orphan_candidates
from ..schedule import Phase, system
from ..checkpoint_objects import state_class
from .task_identity import may_access
from .task_block import BLOCKED




_TIMEOUT_CMDS = (FUTEX_WAIT, FUTEX_LOCK_PI, FUTEX_LOCK_PI2, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI)
_U32 = 0xFFFFFFFF


def futex_op(op: int, oparg: int, cmp: int, cmparg: int) -> int:
    """FUTEX_OP(op, oparg, cmp, cmparg): the encoded val3 of FUTEX_WAKE_OP (linux/futex.h)."""
    return (((op & 0xF) << 28) | ((cmp & 0xF) << 24) | ((oparg & 0xFFF) << 12) | (cmparg & 0xFFF))


def futex_cmd_has_timeout(op: int) -> bool:
    """True if futex(2)'s fourth argument is a timespec pointer for ``op`` (else it is val2)."""
    return (op & FUTEX_CMD_MASK) in _TIMEOUT_CMDS


# -- guest memory ------------------------------------------------------------------------------------

@state_class
class SharedSegment:
    """Shared words (MAP_SHARED anonymous memory) that several SimMemory objects map.

    ``ino`` is the object identity futex keys use; allocate one with :func:`new_shared_segment` so
    identities are unique within a World and survive checkpoint/restore."""

    def __init__(self, nwords: int, ino: int):
        self.words = np.zeros(int(nwords), np.uint32)
        self.ino = int(ino)

    def to_state(self, w, name: str) -> dict:
        w.array(f"{name}.words", self.words)
        return {"ino": self.ino}

    @classmethod
    def from_state(cls, r, name: str, meta) -> "SharedSegment":
        seg = cls.__new__(cls)
        seg.words = r.array(f"{name}.words", np.dtype(np.uint32), (None,))
        seg.ino = r.int(meta, "ino", 0, 1 << 62)
        return seg


def new_shared_segment(world, nwords: int) -> SharedSegment:
    ino = world.index.next_shared_ino
    world.index.next_shared_ino = ino + 1
    return SharedSegment(nwords, ino)


@state_class
class SimMemory:
    """Word memory for synthetic tasks: a private uint32 array at ``[base, base + 4*nwords)`` plus
    shared segments mapped at fixed addresses. Everything else is unmapped (EFAULT). All mapped
    words are readable and writable. Registered per address space row in
    ``world.index.address_spaces`` (see :func:`install_sim_memory`), so clone shares it under
    CLONE_VM and copies it (``fork``) otherwise, and the last release drops it."""

    task_size = 1 << 47
    sealed = False  # see seal(); the class default also covers memories checkpointed before it

    def __init__(self, nwords: int = 1024, base: int = 0x10000):
        if base & 3:
            raise ValueError("base must be 4-byte aligned")
        self.base = int(base)
        self.words = np.zeros(int(nwords), np.uint32)
        self.shared: list[tuple[int, SharedSegment]] = []  # (address, segment)
        self.sealed = False

    def seal(self) -> "SimMemory":
        """No private words and no more mappings: the memory has no state of its own, so fork
        shares this object (a simulation's processes all hold one) and release keeps it."""
        if len(self.words):
            raise ValueError("only a memory without private words can be sealed")
        self.sealed = True
        return self

    def map_shared(self, addr: int, seg: SharedSegment) -> None:
        if addr & 3:
            raise ValueError("address must be 4-byte aligned")
        if self.sealed:
            raise ValueError("a sealed memory takes no new mappings")
        self.shared.append((int(addr), seg))

    def _locate(self, addr: int):
        """(array, index, segment or None) for the word at ``addr``; EFAULT if unmapped/misaligned."""
        if addr & 3 == 0:
            i = (addr - self.base) >> 2
            if 0 <= i < len(self.words):
                return self.words, i, None
            for a, seg in self.shared:
                j = (addr - a) >> 2
                if 0 <= j < len(seg.words) and addr >= a:
                    return seg.words, j, seg
        raise KernelError(E.EFAULT, f"word {addr:#x} is not mapped")

    def copy_in_u32(self, addr: int) -> int:
        arr, i, _ = self._locate(int(addr))
        return int(arr[i])

    def copy_out_u32(self, addr: int, value: int) -> int:
        arr, i, _ = self._locate(int(addr))
        arr[i] = int(value) & _U32
        return 4

    def copy_in_u64(self, addr: int) -> int:
        lo = self.copy_in_u32(addr)
        return lo | (self.copy_in_u32(addr + 4) << 32)

    def copy_out_u64(self, addr: int, value: int) -> int:
        self.copy_out_u32(addr, value & _U32)
        self.copy_out_u32(addr + 4, (value >> 32) & _U32)
        return 8

    def to_state(self, w, name: str) -> dict:
        w.array(f"{name}.words", self.words)
        return {"base": self.base, "sealed": bool(self.sealed),
                "shared": [[a, w.ref(seg)] for a, seg in self.shared]}

    @classmethod
    def from_state(cls, r, name: str, meta) -> "SimMemory":
        m = cls.__new__(cls)
        m.base = r.int(meta, "base", 0, 1 << 47)
        m.words = r.array(f"{name}.words", np.dtype(np.uint32), (None,))
        m.sealed = meta.get("sealed") is True
        shared = meta.get("shared")
        if not isinstance(shared, list) or not all(
                isinstance(p, list) and len(p) == 2 and type(p[0]) is int and 0 <= p[0] < 1 << 47
                for p in shared):
            r.fail("a SimMemory's shared mappings are malformed")
        m.shared = [(a, r.obj(i, ("SharedSegment",))) for a, i in shared]
        return m

    def futex_shared_key(self, mm: int, addr: int, write: bool = False) -> tuple[int, int, int]:
        """get_futex_key for a shared op (AddressSpace.futex_shared_key for guests)."""
        arr, i, seg = self._locate(int(addr))
        if seg is not None:
            return (KEY_SHARED_OBJ, seg.ino, i * 4)
        return (KEY_SHARED_MM, mm, int(addr))

    def fork(self) -> "SimMemory":
        if self.sealed:
            return self
        child = SimMemory.__new__(SimMemory)
        child.base = self.base
        child.words = self.words.copy()
        child.shared = list(self.shared)
        return child

    def release(self) -> None:
        if self.sealed:
            return
        self.words = np.zeros(0, np.uint32)
        self.shared = []

    def nbytes(self) -> int:
        return int(self.words.nbytes)


def install_sim_memory(world, t: int, mem: SimMemory | None = None) -> SimMemory:
    """Give task ``t``'s address space (and every task sharing it) a SimMemory."""
    mm = int(world.tasks.mm[t])
    if mm < 0:
        raise KernelError(E.EFAULT, "task has no address space")
    mem = mem if mem is not None else SimMemory()
    world.index.address_spaces[mm] = mem
    return mem


def memory_of(world, t: int):
    """The memory object of task ``t``'s address space (EFAULT if it has none)."""
    mm = int(world.tasks.mm[t])
    obj = world.index.address_spaces.get(mm) if mm >= 0 else None
    if obj is None:
        raise KernelError(E.EFAULT, "task has no guest memory")
    return getattr(obj, "aspace", obj)  # cpu.platform.GuestMemory wraps an AddressSpace


def read_u32(world, t: int, addr: int) -> int:
    return int(memory_of(world, t).copy_in_u32(int(addr)))


def write_u32(world, t: int, addr: int, value: int) -> None:
    memory_of(world, t).copy_out_u32(int(addr), int(value) & _U32)


def cmpxchg_u32(world, t: int, addr: int, old: int, new: int) -> int:
    """Atomic compare-and-exchange (the kernel runs one call at a time): returns the value found;
    stores ``new`` only if it equals ``old``. EFAULT if unreadable, or unwritable when it stores."""
    mem = memory_of(world, t)
    cur = int(mem.copy_in_u32(int(addr)))
    if cur == old & _U32:
        mem.copy_out_u32(int(addr), new & _U32)
    return cur


def futex_key(world, t: int, addr: int, private: bool, write: bool = False) -> tuple[int, int, int]:
    """get_futex_key: EINVAL if misaligned, EFAULT if outside the address range (and, for a
    shared key, if the word is not mapped)."""
    addr = int(addr)
    if addr & 3:
        raise KernelError(E.EINVAL, f"futex address {addr:#x} is not 4-byte aligned")
    mem = memory_of(world, t)
    if addr < 0 or addr + 4 > getattr(mem, "task_size", SimMemory.task_size):
        raise KernelError(E.EFAULT, f"futex address {addr:#x} is outside the address space")
    mm = int(world.tasks.mm[t])
    if private:
        return (KEY_PRIVATE, mm, addr)
    return mem.futex_shared_key(mm, addr, write)


# -- queues of waiter rows ---------------------------------------------------------------------------

def _keys(world) -> dict:
    return world.index.futex_keys


def _queue(world, key) -> int:
    return _keys(world).get(key, -1)


def _new_queue(world, key) -> int:
    Q = world.futex_queues
    q = Q.alloc()
    Q.key_kind[q], Q.key_a[q], Q.key_b[q] = key
    _keys(world)[key] = q
    return q


def apply_key_log(world, log: np.ndarray, n: int) -> None:
    """Bring the key -> queue dict up to date with the queues a compiled kernel made and freed
    (jit/futex_batch.py: rows of (LOG_NEW or LOG_FREE, key kind, key a, key b, queue row)), in
    order."""
    keys = _keys(world)
    for what, kind, a, b, q in log[:n].tolist():
        key = (kind, a, b & 0xFFFFFFFFFFFFFFFF)
        if what == LOG_NEW:
            keys[key] = q
        else:
            del keys[key]


def _link(world, q: int, w: int) -> None:
    W, Q = world.futex_waiters, world.futex_queues
    links.append(Q.q_head, Q.q_tail, q, W.w_next, W.w_prev, w)
    W.queue[w] = q
    Q.q_count[q] += 1


def _unlink(world, w: int) -> None:
    """Take waiter ``w`` off its queue; free the queue when it empties."""
    W, Q = world.futex_waiters, world.futex_queues
    q = int(W.queue[w])
    links.unlink(Q.q_head, Q.q_tail, q, W.w_next, W.w_prev, w)
    W.queue[w] = -1
    Q.q_count[q] -= 1
    if Q.q_count[q] == 0:
        del _keys(world)[(int(Q.key_kind[q]), int(Q.key_a[q]), int(Q.key_b[q]))]
        Q.free(q)


def _drop(world, w: int) -> int:
    """Remove waiter row ``w`` (unlinked and freed at once: nothing keeps waiter row vectors across
    kernel calls). Returns its task row."""
    W, T = world.futex_waiters, world.tasks
    t = int(W.task[w])
    _unlink(world, w)
    W.free(w)
    if T.futex_waiter[t] == w:
        T.futex_waiter[t] = -1
    return t


def _waiting(world, w: int) -> bool:
    """Is waiter ``w``'s task still waiting on it? It is while blocked on ``Block.FUTEX``, also
    under a group stop that saved that state (SigWait's ``stop_run_state``/``stop_block``). A
    dying task is not: its row is stale until the INTERRUPT phase's orphan system or its exit
    removes it; wakes skip such rows and do not count them."""
    T = world.tasks
    t = int(world.futex_waiters.task[w])
    if T.exit_state[t] != ExitState.NONE or T.run_state[t] != RunState.blocked:
        return False
    b = T.block[t]
    if b == Block.FUTEX:
        return True
    return b == Block.STOPPED and hasattr(T, "stop_block") and T.stop_block[t] == Block.FUTEX \
        and T.stop_run_state[t] == RunState.blocked


def _complete(world, w: int, ret: int) -> None:
    """Finish waiter ``w``'s wait with ``ret``: the task goes to runSyscallExit (or, if a group
    stop holds it, will go there when it continues)."""
    T = world.tasks
    t = _drop(world, w)
    T.ret[t] = ret
    if T.block[t] == Block.STOPPED:
        T.stop_run_state[t] = RunState.runSyscallExit
        T.stop_block[t] = Block.NONE
        return
    T.run_state[t] = RunState.runSyscallExit
    T.block[t] = Block.NONE


def _wake_key(world, key, nr_wake: int, bitset: int = FUTEX_BITSET_MATCH_ANY) -> int:
    """Wake up to ``nr_wake`` waiters of ``key`` whose bitset meets ``bitset``, oldest first
    (``nr_wake <= 0`` wakes one, as Linux's ``++ret >= nr_wake``). Returns how many woke."""
    q = _queue(world, key)
    if q < 0:
        return 0
    W = world.futex_waiters
    woke = 0
    r = int(world.futex_queues.q_head[q])
    while r >= 0:
        nxt = int(W.w_next[r])
        if not _waiting(world, r):
            _drop(world, r)
        elif int(W.bitset[r]) & bitset:
            _complete(world, r, 0)
            woke += 1
            if woke >= nr_wake:
                break
        r = nxt
    return woke


# -- kernel calls --------------------------------------------------------------------------------------

def futex_wait(world, t: int, uaddr: int, val: int, *, bitset: int = FUTEX_BITSET_MATCH_ANY,
               private: bool = True, deadline_ns: int | None = None):
    """futex_wait: block ``t`` on ``uaddr`` if it holds ``val``. Returns BLOCKED (the outcome lands
    in ``ret`` later) or raises KernelError: EINVAL (bitset 0, misaligned), EFAULT, EAGAIN (the
    word changed), ETIMEDOUT (``deadline_ns`` on world.now_ns already past)."""
    bitset &= _U32
    if not bitset:
        raise KernelError(E.EINVAL, "FUTEX_WAIT_BITSET with bitset 0")
    key = futex_key(world, t, uaddr, private)
    if read_u32(world, t, uaddr) != val & _U32:
        raise KernelError(E.EAGAIN, "futex word changed")
    return _enqueue(world, t, key, uaddr, val, bitset, private, deadline_ns, 0)


def _enqueue(world, t: int, key, uaddr: int, val: int, bitset: int, private: bool,
             deadline_ns: int | None, flags: int):
    """Queue ``t`` as a waiter of ``key`` (FIFO) and block it on Block.FUTEX."""
    T = world.tasks
    if deadline_ns is not None and deadline_ns <= world.now_ns:
        raise KernelError(E.ETIMEDOUT, "futex timeout already expired")
    if T.futex_waiter[t] >= 0:
        raise AssertionError(f"task {t} is already a futex waiter")
    W = world.futex_waiters
    w = W.alloc()
    W.task[w] = t
    W.bitset[w] = bitset
    W.deadline[w] = NO_DEADLINE if deadline_ns is None else min(int(deadline_ns), KTIME_MAX)
    W.uaddr[w] = int(uaddr)
    W.val[w] = val & _U32
    W.flags[w] = flags | (WF_PRIVATE if private else 0) | (0 if deadline_ns is None else WF_HAS_TIMEOUT)
    q = _queue(world, key)
    _link(world, q if q >= 0 else _new_queue(world, key), w)
    T.futex_waiter[t] = w
    T.run_state[t] = RunState.blocked
    T.block[t] = Block.FUTEX
    T.futex_restart_flags[t] = 0
    return BLOCKED


def futex_wake(world, t: int, uaddr: int, nr_wake: int, *, bitset: int = FUTEX_BITSET_MATCH_ANY,
               private: bool = True) -> int:
    """futex_wake: wake up to ``nr_wake`` waiters on ``uaddr`` (<= 0 wakes one). Returns the count."""
    bitset &= _U32
    if not bitset:
        raise KernelError(E.EINVAL, "FUTEX_WAKE_BITSET with bitset 0")
    key = futex_key(world, t, uaddr, private)
    return _wake_key(world, key, nr_wake, bitset)


# -- batches: many calls on one shared segment's words (jit/futex_batch.py) -------------------------

def _tables(world, seg: SharedSegment, seg_addr: int, nlog: int) -> FB.FutexTables:
    """What the compiled futex calls on ``seg`` (mapped at ``seg_addr``) read and write: the
    World's columns themselves, the tables' meta arrays, and the key dict's entries for the
    segment as ``seg_queue[word]``."""
    T, W, Q = world.tasks, world.futex_waiters, world.futex_queues
    seg_queue = np.full(len(seg.words), -1, np.int64)
    live = np.flatnonzero(Q.alive[: Q.n] & (Q.key_kind[: Q.n] == KEY_SHARED_OBJ)
                          & (Q.key_a[: Q.n] == seg.ino))
    seg_queue[(Q.key_b[live] >> np.uint64(2)).astype(np.int64)] = live
    wm, qm = W.kernel_meta(), Q.kernel_meta()  # first: each may lengthen its table's free stack
    return FB.FutexTables(
        T.exit_state, T.run_state, T.block, T.stop_run_state, T.stop_block, T.ret, T.futex_waiter,
        T.futex_restart_flags,
        W.task, W.queue, W.bitset, W.deadline, W.w_next, W.w_prev, W.uaddr, W.val, W.flags,
        W.alive, W.gen, W._free, wm,
        Q.q_head, Q.q_tail, Q.q_count, Q.key_kind, Q.key_a, Q.key_b, Q.alive, Q.gen, Q._free,
        qm,
        int(seg_addr), int(seg.ino), seg.words, seg_queue,
        np.empty((nlog, FB.LOG_COLS), np.int64), np.zeros(1, np.int64))


def on_shared_words(world, seg: SharedSegment, seg_addr: int, start: int, end: int,
                    calls: Callable[[int, FB.FutexTables], tuple[int, int]],
                    scalar: Callable[[int], object]) -> None:
    """Run compiled futex calls on the words of ``seg`` for items ``start..end-1`` by the batch
    protocol: ``calls(i, tables)`` serves items from ``i`` on with jit/futex_batch's
    futex_wait_word / futex_wake_word and returns ``(index, status)``; the tables go back to the
    World (row counts, the key dict), then ``scalar(index)`` serves an item it hands back
    (FALLBACK) or a full table grows (GROW_*), and the calls resume. Every task that calls must
    map ``seg`` at ``seg_addr`` (shared futexes: the key is the segment's)."""
    W, Q = world.futex_waiters, world.futex_queues
    i = start
    while i < end:
        x = _tables(world, seg, seg_addr, end - i)
        i, status = calls(i, x)
        W.set_kernel_meta(x.w_meta)
        Q.set_kernel_meta(x.q_meta)
        apply_key_log(world, x.log, int(x.nlog[0]))
        if status == FB.FALLBACK:
            scalar(i)
            i += 1
        elif status == FB.GROW_W:
            W.make_room()
        elif status == FB.GROW_Q:
            Q.make_room()


def futex_many(world, seg: SharedSegment, seg_addr: int, tasks: np.ndarray, uaddrs: np.ndarray,
               ops: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """futex(2) for ``tasks[i]``, in order, on shared words: ``ops[i]`` FUTEX_WAIT (:func:`futex_wait`
    of ``uaddrs[i]`` with ``vals[i]``, shared, no timeout) or FUTEX_WAKE (:func:`futex_wake` of
    up to ``vals[i]`` waiters); the state calling those once per item gives. Returns per item
    what the call returns: 0 for a wait that blocked, a wake's count, or -errno. The compiled
    loop (jit/futex_batch.futex_batch) serves the words of ``seg``, which every task maps at
    ``seg_addr``; an address outside it goes to the scalar call."""
    tasks = np.ascontiguousarray(tasks, np.int64)
    uaddrs = np.ascontiguousarray(uaddrs, np.int64)
    ops = np.ascontiguousarray(ops, np.int64)
    vals = np.ascontiguousarray(vals, np.int64)
    out = np.zeros(len(tasks), np.int64)

    def scalar(i: int) -> None:
        t, uaddr, val = int(tasks[i]), int(uaddrs[i]), int(vals[i])
        try:
            if ops[i] == FUTEX_WAKE:
                out[i] = futex_wake(world, t, uaddr, val, private=False)
            else:
                futex_wait(world, t, uaddr, val, private=False)
        except KernelError as e:
            out[i] = -e.errno

    on_shared_words(world, seg, seg_addr, 0, len(tasks),
                    lambda i, x: FB.futex_batch(i, len(tasks), tasks, uaddrs, ops, vals, out, x),
                    scalar)
    return out


def futex_requeue(world, t: int, uaddr: int, uaddr2: int, nr_wake: int, nr_requeue: int,
                  cmpval: int | None = None, *, private: bool = True) -> int:
    """futex_requeue (FUTEX_REQUEUE, or FUTEX_CMP_REQUEUE with ``cmpval``): wake up to ``nr_wake``
    waiters of ``uaddr`` and move up to ``nr_requeue`` more to ``uaddr2``'s queue (to its tail, in
    order). Returns woken + requeued. EINVAL for a negative count, EAGAIN if *uaddr != cmpval."""
    if nr_wake < 0 or nr_requeue < 0:
        raise KernelError(E.EINVAL, "negative nr_wake or nr_requeue")
    key1 = futex_key(world, t, uaddr, private)
    key2 = futex_key(world, t, uaddr2, private)
    if cmpval is not None and read_u32(world, t, uaddr) != cmpval & _U32:
        raise KernelError(E.EAGAIN, "futex word changed")
    q1 = _queue(world, key1)
    if q1 < 0:
        return 0
    W, Q = world.futex_waiters, world.futex_queues
    count = 0
    r = int(Q.q_head[q1])
    while r >= 0:
        if count - nr_wake >= nr_requeue:
            break
        nxt = int(W.w_next[r])
        if not _waiting(world, r):
            _drop(world, r)
        else:
            count += 1
            if count <= nr_wake:
                _complete(world, r, 0)
            elif key2 != key1:
                _unlink(world, r)
                q2 = _queue(world, key2)
                _link(world, q2 if q2 >= 0 else _new_queue(world, key2), r)
                W.uaddr[r] = int(uaddr2)  # a restart waits where it was requeued to
        r = nxt
    return count


def _atomic_op(world, t: int, encoded_op: int, uaddr2: int) -> int:
    """futex_atomic_op_inuser: apply the op to *uaddr2, return the comparison (0/1) or raise."""
    op = (encoded_op & 0x70000000) >> 28
    cmp = (encoded_op & 0x0F000000) >> 24
    oparg = (encoded_op & 0x00FFF000) >> 12
    oparg = oparg - 0x1000 if oparg & 0x800 else oparg
    cmparg = encoded_op & 0xFFF
    cmparg = cmparg - 0x1000 if cmparg & 0x800 else cmparg
    if encoded_op & (FUTEX_OP_OPARG_SHIFT << 28):
        oparg = 1 << (oparg & 31)  # Linux masks (and warns about) shifts outside 0..31
    if op > FUTEX_OP_XOR:
        raise KernelError(E.ENOSYS, f"FUTEX_WAKE_OP op {op}")  # before memory is touched
    mem = memory_of(world, t)
    old = int(mem.copy_in_u32(int(uaddr2)))
    if op == FUTEX_OP_SET:
        new = oparg
    elif op == FUTEX_OP_ADD:
        new = old + oparg
    elif op == FUTEX_OP_OR:
        new = old | oparg
    elif op == FUTEX_OP_ANDN:
        new = old & ~oparg
    else:
        new = old ^ oparg
    mem.copy_out_u32(int(uaddr2), new & _U32)
    old = old - (1 << 32) if old & 0x80000000 else old  # compared as int
    if cmp == FUTEX_OP_CMP_EQ:
        return int(old == cmparg)
    if cmp == FUTEX_OP_CMP_NE:
        return int(old != cmparg)
    if cmp == FUTEX_OP_CMP_LT:
        return int(old < cmparg)
    if cmp == FUTEX_OP_CMP_GE:
        return int(old >= cmparg)
    if cmp == FUTEX_OP_CMP_LE:
        return int(old <= cmparg)
    if cmp == FUTEX_OP_CMP_GT:
        return int(old > cmparg)
    raise KernelError(E.ENOSYS, f"FUTEX_WAKE_OP comparison {cmp}")


def futex_wake_op(world, t: int, uaddr: int, uaddr2: int, nr_wake: int, nr_wake2: int,
                  encoded_op: int, *, private: bool = True) -> int:
    """futex_wake_op: apply ``encoded_op`` to *uaddr2; wake up to ``nr_wake`` waiters of ``uaddr``
    and, if the old *uaddr2 passed the comparison, up to ``nr_wake2`` of ``uaddr2`` (each count
    <= 0 wakes one; bitsets are not consulted). Returns the total woken."""
    key1 = futex_key(world, t, uaddr, private)
    key2 = futex_key(world, t, uaddr2, private, write=True)
    op_ret = _atomic_op(world, t, encoded_op & _U32, uaddr2)
    ret = _wake_key(world, key1, nr_wake)
    if op_ret > 0:
        ret += _wake_key(world, key2, nr_wake2)
    return ret


def _tid(world, t: int) -> int:
    return pidns.tid_in(world, t, int(world.tasks.ns[t]))


def futex_lock_pi(world, t: int, uaddr: int, *, private: bool = True,
                  deadline_ns: int | None = None, trylock: bool = False):
    """FUTEX_LOCK_PI, FUTEX_LOCK_PI2 and FUTEX_TRYLOCK_PI (kernel/futex/pi.c futex_lock_pi). The
    word holds the owner's tid (FUTEX_TID_MASK) and FUTEX_WAITERS while others wait. A free
    word is taken (0 returned, the waiters bit kept); a word we own is EDEADLK; one another
    task owns: TRYLOCK fails with EAGAIN (EWOULDBLOCK), else FUTEX_WAITERS is set and ``t``
    waits on the key, FIFO, until FUTEX_UNLOCK_PI hands it the lock (ret 0) or its deadline
    passes (ETIMEDOUT). An owner tid that names no task is ESRCH. There is one priority here,
    so there is nothing to inherit."""
    key = futex_key(world, t, uaddr, private, write=True)
    tid = _tid(world, t)
    word = read_u32(world, t, uaddr)
    owner = word & FUTEX_TID_MASK
    if owner == 0:
        write_u32(world, t, uaddr, tid | (word & FUTEX_WAITERS))
        return 0
    if owner == tid:
        raise KernelError(E.EDEADLK, "the caller owns this PI futex")
    if trylock:
        raise KernelError(E.EAGAIN, "PI futex owned by another task")
    if pidns.task_by_tid(world, int(world.tasks.ns[t]), owner) < 0 and not word & FUTEX_OWNER_DIED:
        raise KernelError(E.ESRCH, f"PI futex owner {owner} does not exist")
    write_u32(world, t, uaddr, word | FUTEX_WAITERS)
    return _enqueue(world, t, key, uaddr, word | FUTEX_WAITERS, FUTEX_BITSET_MATCH_ANY, private,
                    deadline_ns, WF_PI)


def futex_unlock_pi(world, t: int, uaddr: int, *, private: bool = True) -> int:
    """FUTEX_UNLOCK_PI: EPERM unless ``t`` owns the word; the lock goes to the first PI waiter
    (its tid in the word, FUTEX_WAITERS kept while others still wait) or the word becomes 0."""
    key = futex_key(world, t, uaddr, private, write=True)
    word = read_u32(world, t, uaddr)
    if word & FUTEX_TID_MASK != _tid(world, t):
        raise KernelError(E.EPERM, "the caller does not own this PI futex")
    q = _queue(world, key)
    W = world.futex_waiters
    r = int(world.futex_queues.q_head[q]) if q >= 0 else -1
    while r >= 0:
        nxt = int(W.w_next[r])
        if not _waiting(world, r):
            _drop(world, r)
        elif int(W.flags[r]) & WF_PI:
            heir = int(W.task[r])
            q = _queue(world, key)
            more = q >= 0 and int(world.futex_queues.q_count[q]) > 1
            write_u32(world, t, uaddr, _tid(world, heir) | (FUTEX_WAITERS if more else 0))
            _complete(world, r, 0)
            return 0
        r = nxt
    write_u32(world, t, uaddr, 0)
    return 0


def _deadline(world, cmd: int, op: int, timeout) -> int | None:
    """futex_init_timeout: a (tv_sec, tv_nsec) timeout as an absolute deadline on world.now_ns."""
    if timeout is None:
        return None
    sec, nsec = (int(x) for x in timeout)
    if sec < 0 or not 0 <= nsec < NSEC_PER_SEC:
        raise KernelError(E.EINVAL, "invalid timeout")
    ns = min(sec * NSEC_PER_SEC + nsec, KTIME_MAX)
    if cmd == FUTEX_WAIT:
        return min(world.now_ns + ns, KTIME_MAX)
    if cmd != FUTEX_LOCK_PI and not op & FUTEX_CLOCK_REALTIME:
        return ns
    return ns - int(world.index.realtime_offset_ns)


def futex(world, t: int, uaddr: int, op: int, val: int, timeout=None, uaddr2: int = 0,
          val3: int = 0, *, val2: int = 0):
    """futex(2) for task ``t`` (do_futex). ``timeout`` is the timespec ``(tv_sec, tv_nsec)`` the
    syscall layer read for ops that take one (see :func:`futex_cmd_has_timeout`; None = NULL);
    ``val2`` is the raw fourth argument for REQUEUE / CMP_REQUEUE / WAKE_OP (nr_requeue or
    nr_wake2, truncated to a C int). Returns the result, or BLOCKED for a wait that blocked.
    Raises KernelError with Linux's errno."""
    op &= _U32
    cmd = op & FUTEX_CMD_MASK
    deadline = _deadline(world, cmd, op, timeout) if cmd in _TIMEOUT_CMDS else None
    if op & FUTEX_CLOCK_REALTIME and cmd not in (FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI,
                                                 FUTEX_LOCK_PI2):
        raise KernelError(E.ENOSYS, "FUTEX_CLOCK_REALTIME with this op")
    private = bool(op & FUTEX_PRIVATE_FLAG)
    val = _s32(val)
    n2 = _s32(val2)
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAIT else val3
        return futex_wait(world, t, uaddr, val, bitset=bitset, private=private, deadline_ns=deadline)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAKE else val3
        return futex_wake(world, t, uaddr, val, bitset=bitset, private=private)
    if cmd == FUTEX_REQUEUE:
        return futex_requeue(world, t, uaddr, uaddr2, val, n2, None, private=private)
    if cmd == FUTEX_CMP_REQUEUE:
        return futex_requeue(world, t, uaddr, uaddr2, val, n2, val3 & _U32, private=private)
    if cmd == FUTEX_WAKE_OP:
        return futex_wake_op(world, t, uaddr, uaddr2, val, n2, val3, private=private)
    if cmd in (FUTEX_LOCK_PI, FUTEX_LOCK_PI2, FUTEX_TRYLOCK_PI):
        if uaddr & 3:
            raise KernelError(E.EINVAL, "misaligned PI futex")
        return futex_lock_pi(world, t, uaddr, private=private, deadline_ns=deadline,
                             trylock=cmd == FUTEX_TRYLOCK_PI)
    if cmd == FUTEX_UNLOCK_PI:
        if uaddr & 3:
            raise KernelError(E.EINVAL, "misaligned PI futex")
        return futex_unlock_pi(world, t, uaddr, private=private)
    raise KernelError(E.ENOSYS, f"futex op {cmd} is not supported (no requeue-PI, no FUTEX_FD)")


def _s32(v: int) -> int:
    v = int(v) & _U32
    return v - (1 << 32) if v & 0x80000000 else v


def futex_interrupt(world, t: int, *, restart: bool = True) -> int:
    """A signal interrupts ``t``'s futex wait: its waiter row goes, it leaves ``blocked`` for
    runSyscallExit, and ``ret`` says what Linux's futex_wait returns:

    - no timeout: -ERESTARTSYS (512). Signal delivery turns it into -EINTR when a handler without
      SA_RESTART runs, and restarts the call otherwise;
    - with a timeout: -ERESTART_RESTARTBLOCK (516) and a restart block (the absolute deadline,
      uaddr, val, bitset in FutexState columns): restarted through :func:`futex_restart` with the
      same deadline when no handler runs, -EINTR when one does.

    ``restart=False`` stores -EINTR directly. Returns the stored ``ret``; 0 (and nothing changes)
    if ``t`` is not waiting on a futex."""
    T, W = world.tasks, world.futex_waiters
    w = int(T.futex_waiter[t])
    if w < 0:
        return 0
    flags = int(W.flags[w])
    if flags & WF_PI:
        ret = -ERESTARTNOINTR  # futex_lock_pi: taken again after the handler, whatever it is
    elif not restart:
        ret = -E.EINTR
    elif flags & WF_HAS_TIMEOUT:
        T.futex_restart_uaddr[t] = W.uaddr[w]
        T.futex_restart_val[t] = W.val[w]
        T.futex_restart_bitset[t] = W.bitset[w]
        T.futex_restart_deadline[t] = W.deadline[w]
        T.futex_restart_flags[t] = flags
        ret = -ERESTART_RESTARTBLOCK
    else:
        ret = -ERESTARTSYS
    if _waiting(world, w):
        _complete(world, w, ret)
    else:
        _drop(world, w)
        T.ret[t] = ret
    return ret


def futex_restart(world, t: int):
    """restart_syscall(2) after -ERESTART_RESTARTBLOCK (futex_wait_restart): wait again with the
    saved uaddr, val, bitset and absolute deadline. Returns BLOCKED or raises like futex_wait;
    EINTR if there is no restart block (do_no_restart_syscall)."""
    T = world.tasks
    flags = int(T.futex_restart_flags[t])
    if not flags:
        raise KernelError(E.EINTR, "no futex restart block")
    T.futex_restart_flags[t] = 0
    return futex_wait(world, t, int(T.futex_restart_uaddr[t]), int(T.futex_restart_val[t]),
                      bitset=int(T.futex_restart_bitset[t]), private=bool(flags & WF_PRIVATE),
                      deadline_ns=int(T.futex_restart_deadline[t]))


def waiters(world, t: int, uaddr: int, *, private: bool = True) -> list[int]:
    """The task rows waiting on ``uaddr`` as ``t`` sees it, in wake order (for tests and tools)."""
    q = _queue(world, futex_key(world, t, uaddr, private))
    if q < 0:
        return []
    W = world.futex_waiters
    return [int(W.task[r]) for r in links.iterate(world.futex_queues.q_head, q, W.w_next)]


# -- robust lists, clear_child_tid, exit --------------------------------------------------------------

def set_robust_list(world, t: int, head: int, length: int) -> int:
    """set_robust_list(2): EINVAL unless ``length`` is sizeof(struct robust_list_head)."""
    if int(length) != ROBUST_LIST_HEAD_SIZE:
        raise KernelError(E.EINVAL, "robust list head size")
    world.tasks.robust_list[t] = int(head) & ((1 << 64) - 1)
    return 0


def get_robust_list(world, t: int, pid: int) -> tuple[int, int]:
    """get_robust_list(2): (head, length) of ``pid`` (0: the caller) in the caller's namespace.
    ESRCH if there is no such task; EPERM unless the caller may read the target as ptrace would
    (ptrace_may_access, PTRACE_MODE_READ_REALCREDS: systems/task_identity.may_access)."""
    T = world.tasks
    target = t
    if pid:
        target = pidns.task_by_tid(world, int(T.ns[t]), int(pid))
        if target < 0:
            raise KernelError(E.ESRCH, f"no task {pid}")
        if not may_access(world, t, target):
            raise KernelError(E.EPERM, "may not read another user's robust list")
    return int(T.robust_list[target]), ROBUST_LIST_HEAD_SIZE


def _handle_futex_death(world, t: int, uaddr: int, pi: bool, pending: bool) -> bool:
    """handle_futex_death: False stops the list walk (a fault or a misaligned entry)."""
    if uaddr & 3:
        return False
    try:
        uval = read_u32(world, t, uaddr)
    except KernelError:
        return False
    owner = uval & FUTEX_TID_MASK
    if pending and not pi and not owner:
        _wake_shared(world, t, uaddr, 1)
        return True
    if owner != pidns.tid_in(world, t, int(world.tasks.ns[t])):
        return True
    mval = (uval & FUTEX_WAITERS) | FUTEX_OWNER_DIED
    try:
        write_u32(world, t, uaddr, mval)
    except KernelError:
        return False
    if not pi and uval & FUTEX_WAITERS:
        _wake_shared(world, t, uaddr, 1)
    return True


def _wake_shared(world, t: int, uaddr: int, n: int) -> int:
    """The kernel's own FUTEX_WAKE (shared key): robust-list deaths and clear_child_tid."""
    try:
        key = futex_key(world, t, uaddr, private=False)
    except KernelError:
        return 0
    return _wake_key(world, key, n)


def exit_robust_list(world, t: int) -> None:
    """exit_robust_list: mark each futex ``t`` holds on its robust list FUTEX_OWNER_DIED and wake
    one waiter of each (then the pending one), at most ROBUST_LIST_LIMIT entries."""
    T = world.tasks
    head = int(T.robust_list[t])
    T.robust_list[t] = 0
    if not head:
        return
    mem = memory_of(world, t)

    def fetch(addr):
        u = int(mem.copy_in_u64(addr))
        return u & ~1, u & 1

    try:
        entry, pi = fetch(head)
        offset = int(mem.copy_in_u64(head + 8))
        offset = offset - (1 << 64) if offset >> 63 else offset
        pending, pip = fetch(head + 16)
    except KernelError:
        return
    limit = ROBUST_LIST_LIMIT
    while entry != head:
        try:
            nxt, next_pi = fetch(entry)
            rc = False
        except KernelError:
            nxt, next_pi, rc = 0, 0, True
        if entry != pending:
            if not _handle_futex_death(world, t, (entry + offset) & ((1 << 64) - 1), bool(pi), False):
                return
        if rc:
            return
        entry, pi = nxt, next_pi
        limit -= 1
        if not limit:
            break
    if pending:
        _handle_futex_death(world, t, (pending + offset) & ((1 << 64) - 1), bool(pip), True)


def _mm_release(world, t: int, mm_users: int) -> None:
    """mm_release's clear_child_tid: if others share the mm, *clear_child_tid = 0 and wake one."""
    T = world.tasks
    ctid = int(T.clear_child_tid[t])
    if not ctid:
        return
    T.clear_child_tid[t] = 0
    if mm_users > 1:
        try:
            write_u32(world, t, ctid, 0)
        except KernelError:
            pass  # "if userspace has not set up a proper pointer then tough luck"
        _wake_shared(world, t, ctid, 1)


def futex_exec_release(world, t: int) -> None:
    """exec_mm_release: the robust list and clear_child_tid, as at exit (before the old mm goes)."""
    T = world.tasks
    mm = int(T.mm[t])
    if not (T.robust_list[t] or T.clear_child_tid[t]) or mm < 0:
        T.robust_list[t] = 0
        T.clear_child_tid[t] = 0
        return
    try:
        exit_robust_list(world, t)
    except KernelError:
        pass
    _mm_release(world, t, int(world.address_spaces.refs[mm]))


def futex_exit(world, t: int, mm_users: int | None = None) -> None:
    """A task exits (do_exit -> exit_mm): drop its own waiter row if it was killed while waiting,
    walk its robust list, and do clear_child_tid's write and wake. Call it before the task's
    address space reference is released; ``mm_users`` defaults to that reference count."""
    T = world.tasks
    w = int(T.futex_waiter[t])
    if w >= 0:
        _drop(world, w)
    mm = int(T.mm[t])
    if mm < 0 or not (T.robust_list[t] or T.clear_child_tid[t]):
        T.robust_list[t] = 0
        T.clear_child_tid[t] = 0
        return
    if mm_users is None:
        mm_users = int(world.address_spaces.refs[mm])
    try:
        exit_robust_list(world, t)
    except KernelError:
        pass  # no guest memory: nothing to walk
    _mm_release(world, t, mm_users)


def futex_exit_many(world, rows: np.ndarray) -> None:
    """:func:`futex_exit` for the exit system's batch (called before the batch releases its
    address space references): only rows with futex state are visited, in batch order, each
    seeing the mm users left after the earlier rows of the batch on the same mm released theirs
    (what one-at-a-time exits would see)."""
    if len(rows) == 0:
        return
    T = world.tasks
    rows = np.asarray(rows, np.int64)
    busy = np.flatnonzero((T.futex_waiter[rows] >= 0) | (T.robust_list[rows] != 0)
                          | (T.clear_child_tid[rows] != 0))
    if len(busy) == 0:
        return
    mms = T.mm[rows].astype(np.int64)
    order = np.argsort(mms, kind="stable")
    sorted_mm = mms[order]
    rank = np.empty(len(rows), np.int64)
    rank[order] = np.arange(len(rows)) - np.searchsorted(sorted_mm, sorted_mm, side="left")
    refs = world.address_spaces.refs
    for i in busy.tolist():
        t, mm = int(rows[i]), int(mms[i])
        futex_exit(world, t, int(refs[mm]) - int(rank[i]) if mm >= 0 else None)


# -- systems --------------------------------------------------------------------------------------

@system(phase=Phase.INTERRUPT, reads=("RunState", "ExitState", "SigWait"),
        writes=("FutexWaiters", "FutexQueues", "FutexState"))
def futex_orphan_system(world, commands) -> None:
    """Drop the waiter rows of tasks that left ``blocked`` on a futex without a wake (a kill
    noticed by interrupt_system): nothing is woken, the wait is over."""
    W, T = world.futex_waiters, world.tasks
    if W.count == 0:
        return
    maybe = world.scratch("futex_orphans", W.n, np.int32)
    k = orphan_candidates(W.n, W.alive, W.task, T.exit_state, T.run_state, T.block, maybe)
    for w in maybe[:k].tolist():
        if not _waiting(world, w):
            _drop(world, w)


@system(phase=Phase.TIMERS, reads=("ExitState",),
        writes=("FutexWaiters", "FutexQueues", "FutexState", "RunState", "SigWait"))
def futex_timeout_system(world, commands) -> None:
    """Complete every futex wait whose deadline passed (``deadline <= world.now_ns``) with
    -ETIMEDOUT, in waiter-row order."""
    W = world.futex_waiters
    if W.count == 0:
        return
    n = W.n
    expired = np.flatnonzero(W.alive[:n] & (W.deadline[:n] <= world.now_ns))
    for w in expired.tolist():
        if _waiting(world, w):
            _complete(world, w, -E.ETIMEDOUT)
        else:
            _drop(world, w)


SYSTEMS = [futex_orphan_system, futex_timeout_system]
