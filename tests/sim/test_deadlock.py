"""sim/deadlock.py: futex wait-for cycles on worlds built with the Kernel facade, and the pointer-
jumping cycle finder against a plain per-node walk."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from ecs_kernel import abi
from ecs_kernel.abi import CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, SIGCHLD
from ecs_kernel.kernel import Kernel
from ecs_kernel.sim.deadlock import Deadlock, find_deadlocks, functional_cycles, wait_for_graph
from ecs_kernel.systems import futex as F
from ecs_kernel.world import Settings

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM
BASE = 0x10000


def word(i):
    return BASE + 4 * i


class Locks:
    """Threads of one process and glibc-style mutex words in its memory."""

    def __init__(self, n):
        self.k = Kernel(Settings(sanitize=True))
        self.w = self.k.world
        init = self.k.task(self.k.init_task)
        F.install_sim_memory(self.w, init, F.SimMemory(256))
        self.t = [self.k.task(self.k.clone(self.k.init_task, THREAD)) for _ in range(n)]

    def tid(self, i):
        return int(self.w.tasks.tids[self.t[i], 0])

    def hold(self, i, lock):
        F.write_u32(self.w, self.t[i], word(lock), self.tid(i))

    def wait(self, i, lock):
        """Task i finds the lock taken: sets FUTEX_WAITERS and sleeps on it."""
        t = self.t[i]
        v = F.read_u32(self.w, t, word(lock)) | abi.FUTEX_WAITERS
        F.write_u32(self.w, t, word(lock), v)
        F.futex_wait(self.w, t, word(lock), v)

    def cycle_rows(self, d: Deadlock):
        return [w.task for w in d.cycle]


def test_two_tasks_each_holding_what_the_other_wants():
    L = Locks(2)
    L.hold(0, 0)
    L.hold(1, 1)
    L.wait(0, 1)
    L.wait(1, 0)
    (d,) = find_deadlocks(L.w)
    assert L.cycle_rows(d) == [L.t[0], L.t[1]] and d.behind == ()
    a, b = d.cycle
    assert (a.uaddr, a.owner_tid, a.tid) == (word(1), L.tid(1), L.tid(0))
    assert (b.uaddr, b.owner_tid) == (word(0), L.tid(0))
    assert a.word == L.tid(1) | abi.FUTEX_WAITERS
    text = str(d)
    assert f"tid {L.tid(0)}" in text and f"{word(1):#x}" in text and "back to" in text


def test_a_long_cycle_is_reported_in_wait_for_order():
    n = 40
    L = Locks(n)
    for i in range(n):
        L.hold(i, i)
    order = np.random.default_rng(5).permutation(n).tolist()
    for j, i in enumerate(order):  # task order[j] waits for the lock of order[j+1]
        L.wait(i, order[(j + 1) % n])
    (d,) = find_deadlocks(L.w)
    got = L.cycle_rows(d)
    assert len(got) == n
    start = got.index(L.t[order[0]])
    assert got[start:] + got[:start] == [L.t[i] for i in order]
    for a, b in zip(d.cycle, d.cycle[1:] + d.cycle[:1]):
        assert a.owner_tid == b.tid  # each waits for the next


def test_several_cycles_and_a_self_deadlock():
    L = Locks(8)
    for i in range(8):
        L.hold(i, i)
    L.wait(0, 1); L.wait(1, 0)                          # 2-cycle
    L.wait(2, 3); L.wait(3, 4); L.wait(4, 2)            # 3-cycle
    L.wait(5, 5)                                        # relocks its own mutex
    L.wait(6, 7)                                        # waits for a running owner
    found = find_deadlocks(L.w)
    assert [sorted(L.cycle_rows(d)) for d in found] == [
        sorted([L.t[0], L.t[1]]), sorted([L.t[2], L.t[3], L.t[4]]), [L.t[5]]]


def test_a_chain_into_a_cycle_is_behind_it_not_on_it():
    L = Locks(5)
    for i in range(5):
        L.hold(i, i)
    L.wait(0, 1); L.wait(1, 0)
    L.wait(2, 0)  # 2 -> 0 (on the cycle)
    L.wait(3, 2)  # 3 -> 2 -> 0
    (d,) = find_deadlocks(L.w)
    assert sorted(L.cycle_rows(d)) == sorted([L.t[0], L.t[1]])
    assert sorted(d.behind) == sorted([L.t[2], L.t[3]])


def test_no_cycle_no_report():
    L = Locks(5)
    L.hold(0, 0)
    L.wait(1, 0)
    L.hold(1, 1)
    L.wait(2, 1)             # a chain ending at task 0, which runs
    F.futex_wait(L.w, L.t[3], word(2), 0)  # a free word (no owner)
    F.write_u32(L.w, L.t[4], word(3), 99999)  # an owner tid that names no task
    L.wait(4, 3)
    assert find_deadlocks(L.w) == []
    tasks, succ, uaddr, words = wait_for_graph(L.w)
    assert len(tasks) == 4
    i = {int(t): j for j, t in enumerate(tasks)}
    assert succ[i[L.t[1]]] == -1 and succ[i[L.t[2]]] == i[L.t[1]]


def test_a_woken_cycle_member_breaks_the_cycle():
    L = Locks(2)
    L.hold(0, 0); L.hold(1, 1)
    L.wait(0, 1); L.wait(1, 0)
    assert len(find_deadlocks(L.w)) == 1
    F.futex_wake(L.w, L.t[0], word(0), 1)  # a spurious wake of task 1
    assert find_deadlocks(L.w) == []


def test_a_cycle_across_processes_on_a_shared_segment():
    k = Kernel(Settings(sanitize=True))
    w = k.world
    seg = F.new_shared_segment(w, 16)
    addr = 0x7000_0000
    procs = []
    for _ in range(2):
        p = k.task(k.clone(k.init_task, SIGCHLD))
        F.install_sim_memory(w, p).map_shared(addr, seg)
        procs.append(p)
    tid = [int(w.tasks.tids[p, 0]) for p in procs]
    seg.words[0] = tid[0] | abi.FUTEX_WAITERS
    seg.words[1] = tid[1] | abi.FUTEX_WAITERS
    F.futex_wait(w, procs[0], addr + 4, int(seg.words[1]), private=False)
    F.futex_wait(w, procs[1], addr, int(seg.words[0]), private=False)
    (d,) = find_deadlocks(w)
    assert [x.task for x in d.cycle] == procs


# -- functional_cycles against a per-node walk ----------------------------------------------------------------

def naive_cycles(succ):
    m = len(succ)
    cycle, pos, reaches = [-1] * m, [-1] * m, [-1] * m
    for x in range(m):
        seen = []
        y = x
        while y >= 0 and y not in seen:
            seen.append(y)
            y = succ[y]
        if y < 0:
            continue
        ring = seen[seen.index(y):]
        lo = min(ring)
        reaches[x] = lo
        if x in ring:
            cycle[x] = lo
            # steps from lo to x along the edges
            s, z = 0, lo
            while z != x:
                z, s = succ[z], s + 1
            pos[x] = s
    return cycle, pos, reaches


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-1, 29), min_size=0, max_size=30))
def test_functional_cycles_match_a_plain_walk(raw):
    m = len(raw)
    succ = [s if s < m else -1 for s in raw]
    cycle, pos, reaches = functional_cycles(np.array(succ, np.int64))
    assert (cycle.tolist(), pos.tolist(), reaches.tolist()) == naive_cycles(succ)


def test_functional_cycles_on_a_large_permutation():
    rng = np.random.default_rng(1)
    m = 100_000
    succ = rng.permutation(m)
    succ[rng.random(m) < 0.001] = -1  # break a few cycles into chains
    cycle, pos, reaches = functional_cycles(succ)
    on = cycle >= 0
    assert (succ[on] >= 0).all() and (cycle[succ[on]] == cycle[on]).all()
    length = np.bincount(cycle[on], minlength=m)
    assert ((pos[succ[on]] - pos[on]) % length[cycle[on]] == 1 % length[cycle[on]]).all()
    assert (reaches[~on] == -1).all()  # in a permutation, a node off every cycle reaches none
