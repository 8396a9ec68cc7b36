"""A hypothesis state machine for futexes beside the reference model, and futex strategies.

Two processes of three threads each (every thread but the leader has a clear_child_tid word)
share one shared segment; each has private words at the same addresses. Rules: store a word,
FUTEX_WAIT(_BITSET) with or without a timeout, FUTEX_WAKE(_BITSET), FUTEX_(CMP_)REQUEUE,
FUTEX_WAKE_OP, private and shared, ticks (timeouts), a signal interrupting a waiter, robust
mutexes taken glibc-style (owner tid in the word, the entry on the thread's robust list or in
list_op_pending) with contending waiters, a thread's exit (robust-list walk, clear_child_tid
wake), pthread_join-style waits on clear_child_tid. After every step: every key's waiters are the same tasks in the
same (wake) order, every finished wait has the same ret, every word the same value, and the
components' invariants hold (``check_sanity``). The classic bug this finds: a lost wakeup (a
waiter that a wake, requeue, timeout or exit should have moved and did not, or moved wrongly).

Use it as is (``TestFutex = FutexMachine.TestCase``) or subclass it; ``self.k`` is the Kernel,
``self.ref`` the :class:`~ecs_kernel.testing.futex_reference.RefFutex`.
"""
from __future__ import annotations

import hypothesis.strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ..abi import (Block, CLONE_CHILD_CLEARTID, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM,
                   FUTEX_BITSET_MATCH_ANY, FUTEX_CLOCK_REALTIME, FUTEX_CMP_REQUEUE,
                   FUTEX_PRIVATE_FLAG, FUTEX_REQUEUE, FUTEX_TID_MASK, FUTEX_WAIT,
                   FUTEX_WAIT_BITSET, FUTEX_WAITERS, FUTEX_WAKE, FUTEX_WAKE_BITSET, FUTEX_WAKE_OP,
                   KEY_PRIVATE, KEY_SHARED_MM, KEY_SHARED_OBJ, RunState)
from ..errors import KernelError
from ..kernel import Kernel
from ..schedule import check_sanity
from ..systems import futex as F
from ..systems.task_block import BLOCKED
from ..world import Settings
from .futex_reference import RefFutex, RefWaiter

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM

# -- strategies (public) -------------------------------------------------------------------------------

#: futex(2) commands, mostly the supported ones.
futex_cmds = st.sampled_from([FUTEX_WAIT, FUTEX_WAKE, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE,
                              FUTEX_WAKE_OP, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET])
#: futex(2) op words: a command with or without FUTEX_PRIVATE_FLAG (and, rarely, CLOCK_REALTIME).
futex_ops = st.builds(lambda c, p, r: c | p | r, futex_cmds,
                      st.sampled_from([0, FUTEX_PRIVATE_FLAG]),
                      st.sampled_from([0, 0, 0, FUTEX_CLOCK_REALTIME]))
#: wake counts around the interesting edges (0 and negatives wake one for FUTEX_WAKE).
wake_counts = st.sampled_from([-1, 0, 1, 1, 2, 3, 0x7FFFFFFF])
#: bitsets: all, single bits, none (EINVAL).
bitsets = st.sampled_from([FUTEX_BITSET_MATCH_ANY] * 3 + [1, 2, 3, 0])
#: FUTEX_WAKE_OP encodings as (op, oparg, cmp, cmparg), including invalid op/cmp values.
wake_op_args = st.tuples(st.sampled_from([0, 1, 2, 3, 4, 0, 1, 5]), st.integers(-3, 3),
                         st.sampled_from([0, 1, 2, 3, 4, 5, 6]), st.integers(-2, 2))
#: relative timeouts in ticks (None: wait forever; 0: already expired).
timeouts_ticks = st.one_of(st.none(), st.none(), st.integers(0, 3))

PRIV_BASE = 0x10000
SHARED_BASE = 0x50000
PRIVATE_WORDS = [PRIV_BASE + 4 * i for i in range(3)]
SHARED_WORDS = [SHARED_BASE + 4 * i for i in range(2)]
WORDS = PRIVATE_WORDS + SHARED_WORDS
ROBUST_HEADS = PRIV_BASE + 0x40  # one struct robust_list_head per thread slot, 32 bytes apart
ROBUST_OFFSET = -0xC0  # futex_offset: entry = lock word + 0xC0 (entries 8 bytes apart)
pick = st.integers(min_value=0, max_value=10**6)
word = st.sampled_from([0, 0, 0, 1, 2, 3, 3, 4])  # indexes into WORDS, skewed so waiters meet
private_flag = st.sampled_from([True, True, True, False])
stale_val = st.sampled_from([False, False, False, True])


class FutexMachine(RuleBasedStateMachine):
    nprocs = 2
    nthreads = 3

    def __init__(self):
        super().__init__()
        self.k = k = Kernel(Settings(sanitize=True))
        w = k.world
        init = k.task(k.init_task)
        mem = F.install_sim_memory(w, init, F.SimMemory(64, PRIV_BASE))
        mem.map_shared(SHARED_BASE, F.new_shared_segment(w, len(SHARED_WORDS)))
        self.ref = RefFutex(SHARED_BASE, len(SHARED_WORDS), w.settings.tick_ns,
                            (PRIV_BASE, PRIV_BASE + 4 * 64))
        self.rows: dict[int, int] = {}  # tid -> task row
        self.ctid: dict[int, int] = {}
        self.ktid: dict[int, int] = {}  # tid -> the kernel's thread id (robust-list owner values)
        self.robust_head: dict[int, int] = {}  # tid -> its robust list head (0: none yet)
        self.slot: dict[int, int] = {}
        self.proc_of_mm: dict[int, int] = {}
        tid = 0
        for p in range(self.nprocs):
            leader = k.fork(k.init_task)
            self.proc_of_mm[int(w.tasks.mm[k.task(leader)])] = p
            for j in range(self.nthreads):
                ctid = PRIVATE_WORDS[j % len(PRIVATE_WORDS)] if j else 0
                h = leader if j == 0 else k.clone(leader, THREAD | CLONE_CHILD_CLEARTID,
                                                  child_tid_addr=ctid)
                tid += 1
                self.rows[tid] = k.task(h)
                self.ctid[tid] = ctid
                self.ktid[tid] = int(w.tasks.tids[self.rows[tid], 0])
                self.slot[tid] = j
                self.ref.tasks[tid] = _ref_task(tid, p)

    # -- helpers -----------------------------------------------------------------------------------------
    def _runnable(self):
        return sorted(t for t, x in self.ref.tasks.items() if x.state == "run")

    def _blocked(self):
        return sorted(t for t, x in self.ref.tasks.items() if x.state == "blocked")

    def _same(self, impl, ref):
        try:
            a = impl()
            a = "BLOCKED" if a is BLOCKED else a
        except KernelError as e:
            a = ("errno", e.errno)
        try:
            b = ref()
        except KernelError as e:
            b = ("errno", e.errno)
        assert a == b, f"ecs-kernel {a!r} != reference {b!r}"
        self._settle_results()
        return a

    def _settle_results(self):
        """Finished waits: same ret in both; then the task runs again."""
        T = self.k.world.tasks
        for tid, rt in self.ref.tasks.items():
            row = self.rows[tid]
            if rt.state == "dead":
                continue
            if rt.result is not None:
                assert T.run_state[row] == RunState.runSyscallExit, f"task {tid} was not woken"
                assert int(T.ret[row]) == rt.result, f"task {tid}: ret {int(T.ret[row])} != {rt.result}"
                T.run_state[row] = RunState.runApp
                rt.result = None
            elif rt.state == "blocked":
                assert T.run_state[row] == RunState.blocked and T.block[row] == Block.FUTEX, \
                    f"task {tid} should still wait"
            else:
                assert T.run_state[row] == RunState.runApp, f"task {tid} should be running"

    def _tick(self):
        self.k.tick()
        self.ref.tick()

    # -- rules ---------------------------------------------------------------------------------------------
    @precondition(lambda self: self._runnable())
    @rule(i=pick, w=word, v=st.integers(0, 2))
    def store(self, i, w, v):
        tid = self._choose(i)
        F.write_u32(self.k.world, self.rows[tid], WORDS[w], v)
        self.ref.write(self.ref.tasks[tid].proc, WORDS[w], v)

    def _choose(self, i):
        r = self._runnable()
        return r[i % len(r)]

    def _aim(self, i, aim, j, w, private):
        """(waker, address, private): with ``aim``, a blocked task's word and flag and a runnable
        waker of its process if there is one, so that wakes often meet waiters."""
        b = self._blocked()
        if not aim or not b:
            return self._choose(i), WORDS[w], private
        target = self.ref.tasks[b[j % len(b)]]
        mine = [t for t in self._runnable() if self.ref.tasks[t].proc == target.proc]
        tid = mine[i % len(mine)] if mine else self._choose(i)
        return tid, target.addr, target.private

    @precondition(lambda self: self._runnable())
    @rule(i=pick, w=word, stale=stale_val, bitset=bitsets, private=private_flag,
          ticks=timeouts_ticks, bitset_op=st.booleans())
    def wait(self, i, w, stale, bitset, private, ticks, bitset_op):
        tid = self._choose(i)
        addr = WORDS[w]
        val = self.ref.read(self.ref.tasks[tid].proc, addr) + (1 if stale else 0)
        now = self.k.world.now_ns
        rel = None if ticks is None else ticks * self.ref.tick_ns
        op = (FUTEX_WAIT_BITSET if bitset_op else FUTEX_WAIT) | (FUTEX_PRIVATE_FLAG if private else 0)
        timeout = None if rel is None else divmod(rel + now if bitset_op else rel, 10**9)
        deadline = None if rel is None else now + rel
        if not bitset_op:
            bitset = FUTEX_BITSET_MATCH_ANY
        self._same(lambda: F.futex(self.k.world, self.rows[tid], addr, op, val, timeout, 0, bitset),
                   lambda: self.ref.wait(tid, addr, val, bitset, private, deadline))

    @precondition(lambda self: len(self._runnable()) > 1)
    @rule(i=pick, w=word, n=st.integers(1, 4), private=private_flag, ticks=timeouts_ticks)
    def pile_up(self, i, w, n, private, ticks):
        """Several tasks FUTEX_WAIT on one word (one task always stays runnable)."""
        for _ in range(min(n, len(self._runnable()) - 1)):
            tid = self._choose(i)
            i += 1
            addr = WORDS[w]
            val = self.ref.read(self.ref.tasks[tid].proc, addr)
            rel = None if ticks is None else (ticks + 1) * self.ref.tick_ns
            deadline = None if rel is None else self.k.world.now_ns + rel
            op = FUTEX_WAIT | (FUTEX_PRIVATE_FLAG if private else 0)
            self._same(lambda: F.futex(self.k.world, self.rows[tid], addr, op, val,
                                       None if rel is None else divmod(rel, 10**9)),
                       lambda: self.ref.wait(tid, addr, val, FUTEX_BITSET_MATCH_ANY, private, deadline))

    def _write64(self, tid, addr, v):
        F.memory_of(self.k.world, self.rows[tid]).copy_out_u64(addr, v)
        self.ref.write_u64(self.ref.tasks[tid].proc, addr, v)

    @precondition(lambda self: self._runnable())
    @rule(i=pick, lock=st.sampled_from([0, 2]), waiters_bit=st.booleans(), pending=st.booleans(),
          contend=st.integers(0, 2))
    def robust_lock(self, i, lock, waiters_bit, pending, contend):
        """Take a robust mutex the way glibc does: owner tid in the word, the entry on the
        thread's robust list (or only in list_op_pending, as if it died mid-lock); others may
        then wait on it (shared key, as glibc's robust mutexes do)."""
        tid = self._choose(i)
        proc = self.ref.tasks[tid].proc
        addr = PRIVATE_WORDS[lock]
        if self.ref.read(proc, addr) & FUTEX_TID_MASK:
            return  # held (or looks held): a real locker would wait
        head = ROBUST_HEADS + 32 * self.slot[tid]
        entry = addr - ROBUST_OFFSET
        if not self.robust_head.get(tid):
            self._write64(tid, head, head)
            self._write64(tid, head + 8, ROBUST_OFFSET)
            self._write64(tid, head + 16, 0)
            F.set_robust_list(self.k.world, self.rows[tid], head, F.ROBUST_LIST_HEAD_SIZE)
            self.robust_head[tid] = head
        value = self.ktid[tid] | (FUTEX_WAITERS if waiters_bit else 0)
        F.write_u32(self.k.world, self.rows[tid], addr, value)
        self.ref.write(proc, addr, value)
        if pending:
            self._write64(tid, head + 16, entry)
        else:
            self._write64(tid, entry, self.ref.read_u64(proc, head))
            self._write64(tid, head, entry)
        others = [t for t in self._runnable() if t != tid and self.ref.tasks[t].proc == proc]
        for t in others[:min(contend, len(self._runnable()) - 1)]:
            self._same(lambda: F.futex(self.k.world, self.rows[t], addr, FUTEX_WAIT, value),
                       lambda: self.ref.wait(t, addr, value, FUTEX_BITSET_MATCH_ANY, False, None))

    @precondition(lambda self: len(self._runnable()) > 1)
    @rule(i=pick, j=pick)
    def join(self, i, j):
        """pthread_join: wait (shared key, as glibc does) on another thread's clear_child_tid."""
        tid = self._choose(i)
        proc = self.ref.tasks[tid].proc
        others = [t for t in self._runnable() if t != tid and self.ref.tasks[t].proc == proc
                  and self.ctid[t]]
        if not others:
            return
        addr = self.ctid[others[j % len(others)]]
        val = self.ref.read(proc, addr)
        self._same(lambda: F.futex(self.k.world, self.rows[tid], addr, FUTEX_WAIT, val),
                   lambda: self.ref.wait(tid, addr, val, FUTEX_BITSET_MATCH_ANY, False, None))

    @precondition(lambda self: self._runnable())
    @rule(i=pick, w=word, nr=wake_counts, bitset=bitsets, private=private_flag, bitset_op=st.booleans(),
          aim=st.booleans(), j=pick)
    def wake(self, i, w, nr, bitset, private, bitset_op, aim, j):
        tid, addr, private = self._aim(i, aim, j, w, private)
        if not bitset_op:
            bitset = FUTEX_BITSET_MATCH_ANY
        op = (FUTEX_WAKE_BITSET if bitset_op else FUTEX_WAKE) | (FUTEX_PRIVATE_FLAG if private else 0)
        self._same(lambda: F.futex(self.k.world, self.rows[tid], addr, op, nr, None, 0, bitset),
                   lambda: self.ref.wake(tid, addr, nr, bitset, private))

    @precondition(lambda self: self._runnable())
    @rule(i=pick, w1=word, w2=word, nr_wake=st.sampled_from([0, 1, 1, 2, 0, 1, 1, 2, 3, -1]),
          nr_requeue=st.sampled_from([0, 1, 2, 3, 0, 1, 2, 3, 9, -1]),
          cmp=st.sampled_from([None, "right", "right", "wrong"]), private=private_flag,
          aim=st.booleans(), j=pick)
    def requeue(self, i, w1, w2, nr_wake, nr_requeue, cmp, private, aim, j):
        tid, a1, private = self._aim(i, aim, j, w1, private)
        a2 = WORDS[w2]
        cur = self.ref.read(self.ref.tasks[tid].proc, a1)
        cmpval = None if cmp is None else (cur if cmp == "right" else cur + 1)
        op = (FUTEX_REQUEUE if cmp is None else FUTEX_CMP_REQUEUE) | \
            (FUTEX_PRIVATE_FLAG if private else 0)
        self._same(lambda: F.futex(self.k.world, self.rows[tid], a1, op, nr_wake, None, a2,
                                   cmpval or 0, val2=nr_requeue),
                   lambda: self.ref.requeue(tid, a1, a2, nr_wake, nr_requeue, cmpval, private))

    @precondition(lambda self: self._runnable())
    @rule(i=pick, w1=word, w2=word, nr=wake_counts, nr2=wake_counts, args=wake_op_args,
          private=private_flag, aim=st.booleans(), j=pick)
    def wake_op(self, i, w1, w2, nr, nr2, args, private, aim, j):
        tid, a1, private = self._aim(i, aim, j, w1, private)
        op, oparg, cmp, cmparg = args
        val3 = F.futex_op(op, oparg, cmp, cmparg)
        fop = FUTEX_WAKE_OP | (FUTEX_PRIVATE_FLAG if private else 0)
        self._same(lambda: F.futex(self.k.world, self.rows[tid], a1, fop, nr, None, WORDS[w2],
                                   val3, val2=nr2),
                   lambda: self.ref.wake_op(tid, a1, WORDS[w2], nr, nr2, op, oparg, cmp,
                                            cmparg, private))

    @rule()
    def tick(self):
        self._tick()
        self._settle_results()

    @precondition(lambda self: self._blocked())
    @rule(i=pick)
    def interrupt(self, i):
        b = self._blocked()
        tid = b[i % len(b)]
        self._same(lambda: F.futex_interrupt(self.k.world, self.rows[tid]),
                   lambda: self.ref.interrupt(tid))

    @precondition(lambda self: len(self._runnable()) > 1)
    @rule(i=pick)
    def exit_thread(self, i):
        tid = self._choose(i)
        row = self.rows[tid]
        self.k.exit(self.k.handle(row), 0)
        self.k.tick()
        self.ref.tick()
        self.ref.exit_thread(tid, self.ctid[tid], self.ktid[tid], self.robust_head.get(tid, 0))
        self._settle_results()

    # -- checks -------------------------------------------------------------------------------------------------
    def _impl_queues(self) -> dict:
        w = self.k.world
        Q, W = w.futex_queues, w.futex_waiters
        tid_of = {row: tid for tid, row in self.rows.items()
                  if self.ref.tasks[tid].state != "dead"}
        out = {}
        for (kind, a, b), q in w.index.futex_keys.items():
            if kind == KEY_PRIVATE:
                key = ("P", self.proc_of_mm[a], b)
            elif kind == KEY_SHARED_MM:
                key = ("M", self.proc_of_mm[a], b)
            else:
                assert kind == KEY_SHARED_OBJ
                key = ("S", b)
            rows = []
            r = int(Q.q_head[q])
            while r >= 0:
                rows.append(tid_of[int(W.task[r])])
                r = int(W.w_next[r])
            out[key] = rows
        return out

    @invariant()
    def agrees_with_reference(self):
        w = self.k.world
        check_sanity(w)
        assert self._impl_queues() == self.ref.queues, \
            f"waiters differ: ecs-kernel {self._impl_queues()} reference {self.ref.queues}"
        for tid, rt in self.ref.tasks.items():
            if rt.state == "dead":
                continue
            for a in WORDS:
                assert F.read_u32(w, self.rows[tid], a) == self.ref.read(rt.proc, a), \
                    f"word {a:#x} of task {tid} differs"


def _ref_task(tid, proc):
    return RefWaiter(tid, proc)
