"""A plain-Python reference model of futexes, for differential tests.

Written from futex(2) and kernel/futex/*.c, not from ecs-kernel's code: waiters are Python lists
per key (fine here: this is the oracle, not the kernel), memory is a dict of words, time is an
int. Processes are numbered; each has private words, and all share one shared segment.

Keys: ``("P", proc, addr)`` for a private op, ``("M", proc, addr)`` for a shared op on private
memory (Linux's FUT_OFF_MMSHARED key: never equal to the private one), ``("S", offset)`` for a
shared op on the shared segment.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..abi import (ERESTART_RESTARTBLOCK, ERESTARTSYS, FUTEX_OWNER_DIED, FUTEX_TID_MASK,
                   FUTEX_WAITERS)
from ..errors import E, KernelError

U32 = 0xFFFFFFFF


@dataclass
class RefWaiter:
    tid: int
    proc: int
    state: str = "run"  # run | blocked | dead
    bitset: int = 0
    deadline: int | None = None
    result: int | None = None  # ret of a finished blocking wait, until the test consumes it
    addr: int = 0  # what a blocked wait waits on (tests aim wakes with it)
    private: bool = True


class RefFutex:
    def __init__(self, shared_base: int, shared_words: int, tick_ns: int,
                 private_range: tuple[int, int] = (0, 1 << 47)):
        self.private_range = private_range  # [lo, hi) of each process's private words
        self.shared_base = shared_base
        self.shared_end = shared_base + 4 * shared_words
        self.tick_ns = tick_ns
        self.now = 0
        self.words: dict[tuple, int] = {}
        self.tasks: dict[int, RefWaiter] = {}
        self.queues: dict[tuple, list[int]] = {}

    # -- memory and keys ---------------------------------------------------------------------------
    def _loc(self, proc: int, addr: int) -> tuple:
        if self.shared_base <= addr < self.shared_end:
            return ("s", addr)
        return ("p", proc, addr)

    def read(self, proc: int, addr: int) -> int:
        return self.words.get(self._loc(proc, addr), 0)

    def write(self, proc: int, addr: int, v: int) -> None:
        self.words[self._loc(proc, addr)] = v & U32

    def mapped(self, addr: int) -> bool:
        lo, hi = self.private_range
        return lo <= addr and addr + 4 <= hi or self.shared_base <= addr < self.shared_end

    def read_u64(self, proc: int, addr: int) -> int:
        if not (self.mapped(addr) and self.mapped(addr + 4)):
            raise KernelError(E.EFAULT)
        return self.read(proc, addr) | self.read(proc, addr + 4) << 32

    def write_u64(self, proc: int, addr: int, v: int) -> None:
        self.write(proc, addr, v & U32)
        self.write(proc, addr + 4, v >> 32)

    def key(self, proc: int, addr: int, private: bool) -> tuple:
        if private:
            return ("P", proc, addr)
        if self.shared_base <= addr < self.shared_end:
            return ("S", addr - self.shared_base)
        return ("M", proc, addr)

    # -- waking --------------------------------------------------------------------------------------
    def _finish(self, tid: int, ret: int) -> None:
        t = self.tasks[tid]
        t.state, t.result, t.deadline = "run", ret, None

    def _wake(self, key, nr: int, bitset: int = U32) -> int:
        q = self.queues.get(key, [])
        n = 0
        for tid in list(q):
            if self.tasks[tid].bitset & bitset:
                q.remove(tid)
                self._finish(tid, 0)
                n += 1
                if n >= max(nr, 1):
                    break
        if not q:
            self.queues.pop(key, None)
        return n

    # -- operations ------------------------------------------------------------------------------------
    def wait(self, tid: int, addr: int, val: int, bitset: int, private: bool, deadline: int | None):
        t = self.tasks[tid]
        if bitset & U32 == 0:
            raise KernelError(E.EINVAL)
        if self.read(t.proc, addr) != val & U32:
            raise KernelError(E.EAGAIN)
        if deadline is not None and deadline <= self.now:
            raise KernelError(E.ETIMEDOUT)
        t.state, t.bitset, t.deadline = "blocked", bitset & U32, deadline
        t.addr, t.private = addr, private
        self.queues.setdefault(self.key(t.proc, addr, private), []).append(tid)
        return "BLOCKED"

    def wake(self, tid: int, addr: int, nr: int, bitset: int, private: bool) -> int:
        if bitset & U32 == 0:
            raise KernelError(E.EINVAL)
        return self._wake(self.key(self.tasks[tid].proc, addr, private), nr, bitset)

    def requeue(self, tid, addr, addr2, nr_wake, nr_requeue, cmpval, private) -> int:
        if nr_wake < 0 or nr_requeue < 0:
            raise KernelError(E.EINVAL)
        proc = self.tasks[tid].proc
        if cmpval is not None and self.read(proc, addr) != cmpval & U32:
            raise KernelError(E.EAGAIN)
        k1, k2 = self.key(proc, addr, private), self.key(proc, addr2, private)
        q = self.queues.get(k1, [])
        wake, move = q[:nr_wake], q[nr_wake:nr_wake + nr_requeue]
        for x in wake:
            self._finish(x, 0)
        if k1 != k2:
            rest = q[nr_wake + nr_requeue:]
            self.queues.setdefault(k2, []).extend(move)
        else:
            rest = move + q[nr_wake + nr_requeue:]
        self.queues[k1] = rest
        for k in (k1, k2):
            if not self.queues.get(k):
                self.queues.pop(k, None)
        return len(wake) + len(move)

    def wake_op(self, tid, addr, addr2, nr, nr2, op, oparg, cmp, cmparg, private) -> int:
        proc = self.tasks[tid].proc
        if op > 4:
            raise KernelError(E.ENOSYS)
        old = self.read(proc, addr2)
        new = {0: oparg, 1: old + oparg, 2: old | oparg, 3: old & ~oparg, 4: old ^ oparg}[op]
        self.write(proc, addr2, new)
        s = old - (1 << 32) if old >> 31 else old
        if cmp > 5:
            raise KernelError(E.ENOSYS)
        ok = (s == cmparg, s != cmparg, s < cmparg, s <= cmparg, s > cmparg, s >= cmparg)[cmp]
        n = self._wake(self.key(proc, addr, private), nr)
        if ok:
            n += self._wake(self.key(proc, addr2, private), nr2)
        return n

    def interrupt(self, tid: int) -> int:
        t = self.tasks[tid]
        for k, q in list(self.queues.items()):
            if tid in q:
                q.remove(tid)
                if not q:
                    del self.queues[k]
        ret = -(ERESTART_RESTARTBLOCK if t.deadline is not None else ERESTARTSYS)
        self._finish(tid, ret)
        return ret

    def tick(self) -> None:
        """One kernel tick: the clock advances, expired waits end with ETIMEDOUT."""
        self.now += self.tick_ns
        for tid, t in self.tasks.items():
            if t.state == "blocked" and t.deadline is not None and t.deadline <= self.now:
                for k, q in list(self.queues.items()):
                    if tid in q:
                        q.remove(tid)
                        if not q:
                            del self.queues[k]
                self._finish(tid, -E.ETIMEDOUT)

    def _futex_death(self, proc: int, tid_value: int, uaddr: int, pi: bool, pending: bool) -> bool:
        """handle_futex_death (kernel/futex/core.c); False stops the walk."""
        if uaddr % 4 or not self.mapped(uaddr):
            return False
        uval = self.read(proc, uaddr)
        owner = uval & FUTEX_TID_MASK
        if pending and not pi and not owner:
            self._wake(self.key(proc, uaddr, False), 1)
            return True
        if owner != tid_value:
            return True
        self.write(proc, uaddr, (uval & FUTEX_WAITERS) | FUTEX_OWNER_DIED)
        if not pi and uval & FUTEX_WAITERS:
            self._wake(self.key(proc, uaddr, False), 1)
        return True

    def exit_robust_list(self, proc: int, tid_value: int, head: int) -> None:
        """exit_robust_list: walk the list at ``head`` (at most 2048 entries), then the pending one."""
        if not head:
            return
        m64 = (1 << 64) - 1
        try:
            raw = self.read_u64(proc, head)
            offset = self.read_u64(proc, head + 8)
            praw = self.read_u64(proc, head + 16)
        except KernelError:
            return
        entry, pi = raw & ~1, raw & 1
        pending, pip = praw & ~1, praw & 1
        offset = offset - (1 << 64) if offset >> 63 else offset
        limit = 2048
        while entry != head:
            try:
                nraw = self.read_u64(proc, entry)
                failed = False
            except KernelError:
                nraw, failed = 0, True
            if entry != pending and not self._futex_death(proc, tid_value, (entry + offset) & m64,
                                                           bool(pi), False):
                return
            if failed:
                return
            entry, pi = nraw & ~1, nraw & 1
            limit -= 1
            if not limit:
                break
        if pending:
            self._futex_death(proc, tid_value, (pending + offset) & m64, bool(pip), True)

    def exit_thread(self, tid: int, ctid: int, tid_value: int = 0, robust_head: int = 0) -> None:
        """The thread exits (after the tick's timeouts): its robust list is walked, then
        mm_release clears and wakes its clear_child_tid word with a shared FUTEX_WAKE of 1 if
        other threads still use the mm."""
        t = self.tasks[tid]
        self.exit_robust_list(t.proc, tid_value, robust_head)
        users = sum(1 for x in self.tasks.values() if x.proc == t.proc and x.state != "dead")
        t.state = "dead"
        if ctid and users > 1:
            self.write(t.proc, ctid, 0)
            self._wake(self.key(t.proc, ctid, False), 1)
