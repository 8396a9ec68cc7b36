"""A hypothesis state machine for System V semaphores beside the reference model
(testing/sem_reference.py), and strategies for operation lists.

Three processes of two threads each (synthetic tasks) share one set of three semaphores. Rules:
semop with one to three operations (negative, zero, positive; SEM_UNDO; IPC_NOWAIT), SETVAL, a
signal ending a wait (EINTR), a process's exit (its undo applied), IPC_RMID (every waiter gets
EIDRM; a new set is made). After every step: the values are the same, the same tasks wait, every
finished wait has the same result, GETNCNT and GETZCNT agree for every semaphore, and the
components' invariants hold (``check_sanity``). What this finds: a lost or early wakeup, an
operation list applied in part, an undo applied twice or not at all.

Use it as is (``TestSem = SemMachine.TestCase``) or subclass it.
"""
from __future__ import annotations

import hypothesis.strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ..abi import (Block, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, IPC_NOWAIT, IPC_PRIVATE,
                   IPC_RMID, NR_SEMOP, RunState, SEM_UNDO)
from ..errors import KernelError
from ..kernel import Kernel
from ..schedule import check_sanity
from ..systems import ipc, ipc_sem, task_signals
from ..systems.task_block import BLOCKED
from ..world import Settings
from .sem_reference import BLOCKED as REF_BLOCKED, RefSemSet

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM
NSEMS = 3

#: one operation: (semaphore, op, flags)
sembufs = st.tuples(st.integers(0, NSEMS - 1), st.sampled_from([-2, -1, -1, 0, 1, 1, 2]),
                    st.sampled_from([0, 0, SEM_UNDO, SEM_UNDO, IPC_NOWAIT, SEM_UNDO | IPC_NOWAIT]))
#: an operation list as semop takes it
sop_lists = st.lists(sembufs, min_size=1, max_size=3)
pick = st.integers(min_value=0, max_value=10**6)


class SemMachine(RuleBasedStateMachine):
    nprocs = 3
    nthreads = 2

    def __init__(self):
        super().__init__()
        self.k = k = Kernel(Settings(sanitize=True))
        w = k.world
        self.rows: dict[int, int] = {}  # tid -> task row
        self.proc: dict[int, int] = {}  # tid -> process index
        self.alive: set[int] = set()
        self.waiting: set[int] = set()
        tid = 0
        for p in range(self.nprocs):
            leader = k.fork(k.init_task)
            for j in range(self.nthreads):
                h = leader if j == 0 else k.clone(leader, THREAD)
                self.rows[tid] = k.task(h)
                self.proc[tid] = p
                self.alive.add(tid)
                tid += 1
        self.init = k.task(k.init_task)
        self._new_set()
        del w

    def _new_set(self):
        self.semid = ipc_sem.semget(self.k.world, self.init, IPC_PRIVATE, NSEMS, 0o600)
        self.ref = RefSemSet(NSEMS)

    def _runnable(self):
        return sorted(self.alive - self.waiting)

    def _settle(self):
        """Finished waits: the same results in both; then the task runs again."""
        T = self.k.world.tasks
        for tid in sorted(self.waiting):
            row = self.rows[tid]
            if tid in self.ref.results:
                r = self.ref.results.pop(tid)
                assert T.run_state[row] == RunState.runSyscallExit, f"task {tid} was not woken"
                assert int(T.ret[row]) == r, f"task {tid}: ret {int(T.ret[row])} != {r}"
                T.run_state[row] = RunState.runApp
                self.waiting.discard(tid)
            else:
                assert T.run_state[row] == RunState.blocked and T.block[row] == Block.POLL, \
                    f"task {tid} should still wait"

    # -- rules ----------------------------------------------------------------------------------------
    @precondition(lambda self: self._runnable())
    @rule(i=pick, sops=sop_lists)
    def semop(self, i, sops):
        r = self._runnable()
        tid = r[i % len(r)]
        try:
            a = ipc_sem.semtimedop(self.k.world, self.rows[tid], self.semid, sops, None, NR_SEMOP)
            a = REF_BLOCKED if a is BLOCKED else a
        except KernelError as e:
            a = ("errno", e.errno)
        b = self.ref.semop(tid, self.proc[tid], sops)
        assert a == b, f"semop {sops}: ecs-kernel {a!r} != reference {b!r}"
        if a == REF_BLOCKED:
            self.waiting.add(tid)
        self._settle()

    @rule(num=st.integers(0, NSEMS - 1), val=st.sampled_from([0, 0, 1, 2, 3, 32767, 32768, -1]))
    def setval(self, num, val):
        try:
            a = ipc_sem.semctl_setval(self.k.world, self.init, self.semid, num, val)
        except KernelError as e:
            a = ("errno", e.errno)
        b = self.ref.setval(num, val)
        assert a == b, f"SETVAL {val}: {a!r} != {b!r}"
        self._settle()

    @precondition(lambda self: self.waiting)
    @rule(i=pick)
    def signal(self, i):
        """A handler runs in a waiting task: its semop ends with EINTR."""
        w = sorted(self.waiting)
        tid = w[i % len(w)]
        row = self.rows[tid]
        task_signals.interrupt_syscall(self.k.world, row, False)
        T = self.k.world.tasks
        assert T.run_state[row] == RunState.runSyscallExit and int(T.ret[row]) < 0
        T.run_state[row] = RunState.runApp
        self.waiting.discard(tid)
        self.ref.interrupt(tid)
        self._settle()

    @precondition(lambda self: len({self.proc[t] for t in self.alive}) > 1)
    @rule(i=pick)
    def exit_process(self, i):
        procs = sorted({self.proc[t] for t in self.alive})
        p = procs[i % len(procs)]
        tids = [t for t in self.alive if self.proc[t] == p]
        self.k.exit_group(self.k.handle(self.rows[tids[0]]), 0)
        self.k.tick()
        self.k.tick()
        self.k.wait4(self.k.init_task, -1, 0)  # reaped: its rows may be reused by a new process
        self.k.tick()
        for t in tids:
            self.alive.discard(t)
            self.waiting.discard(t)
        self.ref.exit(p, set(tids))
        self._settle()

    @precondition(lambda self: len({self.proc[t] for t in self.alive}) < self.nprocs)
    @rule()
    def spawn(self):
        """A new process (often in the rows of one that exited): it starts with no undo."""
        p = max(self.proc.values()) + 1
        tid = max(self.rows) + 1
        self.rows[tid] = self.k.task(self.k.fork(self.k.init_task))
        self.proc[tid] = p
        self.alive.add(tid)

    @rule()
    def rmid(self):
        ipc_sem.semctl_down(self.k.world, self.init, self.semid, IPC_RMID)
        self.ref.rmid()
        self._settle()
        self._new_set()

    # -- invariants --------------------------------------------------------------------------------------
    @invariant()
    def same_values_and_waiters(self):
        w = self.k.world
        sma = ipc.namespace_of(w, self.init).sem.find(self.semid)
        assert sma.semval == self.ref.vals, f"values {sma.semval} != {self.ref.vals}"
        for num in range(NSEMS):
            for zero in (False, True):
                assert ipc_sem.count_semcnt(w, sma, num, zero) == self.ref.count(num, zero), \
                    f"{'GETZCNT' if zero else 'GETNCNT'} {num}"
        check_sanity(w)


__all__ = ["SemMachine", "sembufs", "sop_lists"]
