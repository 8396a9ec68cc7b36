"""Deadlocks: cycles in the futex wait-for graph, found by pointer jumping over whole arrays.

A task blocked in FUTEX_WAIT on a lock word waits for the word's owner. The owner is named the
way glibc's mutexes (and the simulation's ``lock`` step) name it: the owner's tid in the low 30
bits (``FUTEX_TID_MASK``), ``FUTEX_WAITERS`` (0x80000000) and ``FUTEX_OWNER_DIED`` above; 0 is a
free lock. The tid is read in the waiter's PID namespace. Each waiting task waits on one word, so
the graph has out-degree at most one (a *functional graph*): every path ends in a task that is not
waiting (it can still release the lock: no deadlock) or in a cycle (nobody on it can ever run
again: a deadlock). Tasks whose path runs into a cycle without being on it are *behind* that
cycle: stuck, but not part of it.

The pass is vectorised: waiter rows come from ``futex_waiters`` (components/futex.py), words are
read once per futex queue (one per distinct word with waiters, through the same memory objects
systems/futex.py uses: a SharedSegment's words gathered with numpy, a private SimMemory or a
guest AddressSpace one word at a time), owners are looked up
in the namespaces' id maps with numpy, and the cycles come from :func:`functional_cycles`, which
doubles the successor array ``log2(n)`` times (no per-task walk).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..abi import Block, ExitState, FUTEX_TID_MASK, KEY_SHARED_OBJ, RunState
from ..components.pidns import tid_in
from ..errors import KernelError
from ..systems.futex import memory_of, read_u32, SimMemory


def functional_cycles(succ: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cycles of the graph ``x -> succ[x]`` (``succ[x] < 0``: no edge).

    Returns ``(cycle, pos, reaches)``, one entry per node: ``cycle[x]`` is the smallest node of
    the cycle ``x`` lies on (-1 if none); ``pos[x]`` its place on that cycle counting from that
    smallest node along the edges (-1 if none); ``reaches[x]`` the cycle ``x``'s path ends in
    (its own for a cycle node; -1 if the path ends at a node with no edge).
    """
    succ = np.asarray(succ, np.int64)
    m = len(succ)
    if m == 0:
        e = np.zeros(0, np.int64)
        return e, e.copy(), e.copy()
    if (succ >= m).any():
        raise ValueError("succ names a node out of range")
    sink = m
    nxt = np.append(np.where(succ < 0, sink, succ), sink)  # the sink absorbs paths that end
    rounds = int(m).bit_length() + 1  # 2**rounds > m: longer than any path into a cycle
    far = nxt
    low = np.arange(m + 1)
    hop = nxt
    for _ in range(rounds):
        far = far[far]
        low = np.minimum(low, low[hop])  # min over the next 2**k nodes from each node
        hop = hop[hop]
    on = np.zeros(m + 1, bool)
    on[far] = True  # 2**rounds steps from anywhere lands on a cycle (or the sink); all cycle
    on[sink] = False  # nodes are such landings, since the cycle maps onto itself
    cycle = np.where(on, low, -1)[:m]
    reaches = np.where(far[:m] == sink, -1, low[far[:m]])
    # list ranking: distance from each cycle node to its cycle's smallest node
    term = on & (low == np.arange(m + 1))
    h = np.where(term | ~on, np.arange(m + 1), nxt)
    d = np.where(term | ~on, 0, 1)
    for _ in range(rounds):
        d = d + d[h]
        h = h[h]
    length = np.bincount(cycle[cycle >= 0], minlength=m)
    pos = np.full(m, -1, np.int64)
    c = np.flatnonzero(cycle >= 0)
    dist = d[c]
    pos[c] = np.where(dist == 0, 0, length[cycle[c]] - dist)
    return cycle, pos, reaches


@dataclass(frozen=True)
class Waiter:
    """One task of a deadlock cycle: who it is, the word it waits on, what the word holds."""

    task: int  # row
    tid: int  # in the task's own namespace
    uaddr: int  # the futex word's address, as the task sees it
    word: int  # the word's value when the pass ran
    owner_tid: int  # word & FUTEX_TID_MASK: the next task on the cycle


@dataclass(frozen=True)
class Deadlock:
    """A cycle of futex waiters, in wait-for order (each waits for the next; the last for the
    first), and the rows of the tasks stuck behind it."""

    cycle: tuple[Waiter, ...]
    behind: tuple[int, ...] = ()

    def __str__(self) -> str:
        hops = " -> ".join(f"tid {w.tid} (row {w.task}) waits on {w.uaddr:#x}={w.word:#x}"
                           for w in self.cycle)
        tail = f"; {len(self.behind)} more task(s) wait behind it" if self.behind else ""
        return f"deadlock of {len(self.cycle)} task(s): {hops} -> back to tid {self.cycle[0].tid}{tail}"


def wait_for_graph(world) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The futex wait-for graph: ``(tasks, succ, uaddr, word)`` with one entry per task waiting on
    a futex: ``succ[i]`` is the index (in ``tasks``) of the waiting task that owns the word task
    ``i`` waits on, -1 if the owner is not itself waiting (or the word is free, unreadable, or
    names no task). ``word`` is -1 where the word could not be read."""
    T, W = world.tasks, world.futex_waiters
    wrows = W.live_rows()
    if len(wrows):
        t = W.task[wrows].astype(np.int64)
        ok = (T.exit_state[t] == ExitState.NONE) & (T.run_state[t] == RunState.blocked)
        b = T.block[t]
        ok &= (b == Block.FUTEX) | ((b == Block.STOPPED) & (T.stop_block[t] == Block.FUTEX))
        wrows = wrows[ok]
    tasks = W.task[wrows].astype(np.int64)
    m = len(tasks)
    uaddr = W.uaddr[wrows].astype(np.uint64)
    word = np.full(m, -1, np.int64)
    if m == 0:
        return tasks, np.zeros(0, np.int64), uaddr, word
    # one read per queue (one per distinct word), through the queue head's task and address
    queue = W.queue[wrows].astype(np.int64)
    qs, first = np.unique(queue, return_index=True)
    values = _read_queue_words(world, qs, tasks[first], uaddr[first])
    word = values[np.searchsorted(qs, queue)]
    owner_tid = np.where(word >= 0, word & FUTEX_TID_MASK, 0)
    owner = np.full(m, -1, np.int64)
    ns = T.ns[tasks].astype(np.int64)
    maps = world.index.pidmaps
    for space in np.unique(ns).tolist():
        sel = np.flatnonzero((ns == space) & (owner_tid > 0))
        pm = maps[space].task
        tid = owner_tid[sel]
        inside = tid < len(pm)
        owner[sel[inside]] = pm[tid[inside]]
    node = np.full(T.n, -1, np.int64)
    node[tasks] = np.arange(m)
    succ = np.where(owner >= 0, node[np.clip(owner, 0, T.n - 1)], -1)
    return tasks, succ, uaddr, word


def _read_queue_words(world, qs: np.ndarray, task: np.ndarray, uaddr: np.ndarray) -> np.ndarray:
    """The word of each futex queue ``qs[i]``, read as task ``task[i]`` at ``uaddr[i]`` sees it
    (-1 where it cannot be read). Words of a SimMemory shared segment (the simulation's lock
    words: key (KEY_SHARED_OBJ, segment, offset)) are gathered with one numpy index per segment;
    the rest are read one per queue through the task's memory object."""
    Q = world.futex_queues
    values = np.full(len(qs), -1, np.int64)
    todo = np.ones(len(qs), bool)
    kind, key_a, key_b = Q.key_kind[qs], Q.key_a[qs], Q.key_b[qs].astype(np.int64)
    obj = kind == KEY_SHARED_OBJ
    for ino in np.unique(key_a[obj]).tolist():
        sel = np.flatnonzero(obj & (key_a == ino))
        j = int(sel[0])
        try:
            mem = memory_of(world, int(task[j]))
        except KernelError:
            continue
        if not isinstance(mem, SimMemory):
            continue
        try:
            _, _, seg = mem._locate(int(uaddr[j]))
        except KernelError:
            continue
        if seg is None or seg.ino != ino:
            continue
        idx = key_b[sel] >> 2
        ok = (idx >= 0) & (idx < len(seg.words))
        values[sel[ok]] = seg.words[idx[ok]]
        todo[sel] = False
    for i in np.flatnonzero(todo).tolist():
        try:
            values[i] = read_u32(world, int(task[i]), int(uaddr[i]))
        except KernelError:
            pass  # the word went away (unmapped): no owner known
    return values


def find_deadlocks(world) -> list[Deadlock]:
    """Every futex deadlock cycle in ``world``, each with the tasks behind it, ordered by the
    smallest task row on the cycle."""
    tasks, succ, uaddr, word = wait_for_graph(world)
    cycle, pos, reaches = functional_cycles(succ)
    on = np.flatnonzero(cycle >= 0)
    if len(on) == 0:
        return []
    order = on[np.lexsort((pos[on], cycle[on]))]
    T = world.tasks
    out = []
    behind_all = np.flatnonzero((cycle < 0) & (reaches >= 0))
    bounds = np.flatnonzero(np.diff(cycle[order])) + 1
    for group in np.split(order, bounds):
        cid = int(cycle[group[0]])
        members = []
        for i in group.tolist():
            t = int(tasks[i])
            members.append(Waiter(t, tid_in(world, t, int(T.ns[t])), int(uaddr[i]), int(word[i]),
                                  int(word[i]) & FUTEX_TID_MASK))
        behind = tuple(int(tasks[i]) for i in behind_all[reaches[behind_all] == cid].tolist())
        out.append(Deadlock(tuple(members), behind))
    out.sort(key=lambda d: min(w.task for w in d.cycle))
    return out
