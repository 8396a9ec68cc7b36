"""sim/invariants.py: each rule finds a planted violation and stays silent on correct worlds.

Correct worlds come from the kernel itself (the Kernel facade and its systems, and the reference
state machines of ecs_kernel.testing driven by hypothesis); violations are planted by writing
columns directly or by swapping a kernel function for a buggy one (monkeypatch).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.stateful import invariant

from ecs_kernel import abi
from ecs_kernel.abi import (Block, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, ExitState, RunState,
                            SA_NOCLDWAIT, SIG_IGN, SIGCHLD, SIGKILL, SIGUSR1, SIGUSR2)
from ecs_kernel.components import links
from ecs_kernel.components.signals import sigmask
from ecs_kernel.jit import invariants as J
from ecs_kernel.kernel import Kernel
from ecs_kernel.schedule import Phase, system
from ecs_kernel.sim import invariants as I
from ecs_kernel.systems import futex as F
from ecs_kernel.systems import task_exit, task_signals as S
from ecs_kernel.testing.futex import FutexMachine
from ecs_kernel.testing.lifecycle import LifecycleMachine
from ecs_kernel.testing.signals import SignalMachine
from ecs_kernel.world import Settings

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM
HANDLER = 0x401000
A, B = 0x10000, 0x10004


def kernel(**kw):
    k = Kernel(Settings(**kw))
    I.install(k.world)
    F.install_sim_memory(k.world, k.task(k.init_task))
    return k


def rows(k, handles):
    return [k.task(h) for h in handles]


def procs(k, n):
    return rows(k, [k.fork(k.init_task) for _ in range(n)])


def threads(k, n):
    return rows(k, [k.clone(k.init_task, THREAD) for _ in range(n)])


def rule_of(k):
    v = I.check(k.world)
    return None if v is None else v.rule


# -- correct worlds: no violation -------------------------------------------------------------------

def test_a_busy_correct_world_has_no_violation():
    k = kernel()
    w = k.world
    init = k.task(k.init_task)
    S.sigaction(w, init, SIGCHLD, (HANDLER, 0, 0))
    ps = procs(k, 6)
    ts = threads(k, 3)
    for t in ps[:3]:
        S.sigaction(w, t, SIGUSR1, (HANDLER, 0, int(sigmask(SIGUSR2))))
        S.sigprocmask(w, t, abi.SIG_BLOCK, int(sigmask(SIGUSR2)))
        S.send_signal(w, t, SIGUSR2, group=False)  # stays pending: blocked
        S.send_signal(w, t, SIGUSR1, group=True)
    F.futex_wait(w, ts[0], A, 0)
    F.futex_wait(w, ts[1], A, 0)
    k.exit_group(k.handle(ps[4]), 3)  # a zombie for init
    for _ in range(3):
        k.tick()
        assert I.check(w) is None
    assert int(w.tasks.frame_top[ps[0]]) >= 0, "the caught signal pushed a frame"
    assert w.tasks.exit_state[ps[4]] == ExitState.ZOMBIE
    F.futex_wake(w, ts[2], A, 1)
    k.tick()
    assert I.check(w) is None


def test_sigsuspend_and_sigtimedwait_deliveries_are_not_violations():
    k = kernel()
    w = k.world
    a, b = procs(k, 2)
    S.sigaction(w, a, SIGUSR1, (HANDLER, 0, 0))
    S.sigprocmask(w, a, abi.SIG_BLOCK, int(sigmask(SIGUSR1)))
    S.sigsuspend(w, a, 0)  # the saved mask blocks SIGUSR1, the mask in force does not
    S.sigprocmask(w, b, abi.SIG_BLOCK, int(sigmask(SIGUSR2)))
    S.sigtimedwait(w, b, int(sigmask(SIGUSR2)), None)
    k.tick()
    S.send_signal(w, a, SIGUSR1, group=False)
    S.send_signal(w, b, SIGUSR2, group=False)
    k.tick()
    T = w.tasks
    assert T.handling[a] == SIGUSR1 and T.ret[b] == SIGUSR2
    assert I.check(w) is None


# -- planted: signal delivered while blocked ---------------------------------------------------------------

def _buggy_delivery(world, commands):
    """Delivers SIGUSR1 to every task that has it pending, mask or no mask."""
    T = world.tasks
    for t in np.flatnonzero(T.alive[: T.n] & ((T.sig_pending[: T.n] & sigmask(SIGUSR1)) != 0)).tolist():
        T.sig_pending[t] &= ~sigmask(SIGUSR1)
        S._handle_signal(world, t, SIGUSR1)


buggy_delivery = system(phase=Phase.SIGNALS)(_buggy_delivery)


def test_a_delivery_that_ignores_the_mask_is_found():
    k = kernel()
    w = k.world
    w.schedule.systems.insert([s.name for s in w.schedule.systems].index("signal_system"), buggy_delivery)
    a, b = procs(k, 2)
    for t in (a, b):
        S.sigaction(w, t, SIGUSR1, (HANDLER, 0, 0))
    S.sigprocmask(w, b, abi.SIG_BLOCK, int(sigmask(SIGUSR1)))
    S.send_signal(w, a, SIGUSR1, group=False)
    k.tick()
    assert I.check(w) is None  # a did not block it
    S.send_signal(w, b, SIGUSR1, group=False)
    k.tick()
    v = I.check(w)
    assert v.rule == "signal-delivered-while-blocked" and v.task == b and v.tid == int(w.tasks.tids[b, 0])
    assert "signal 10" in v.message and str(v).startswith(f"tick {w.ticks}:")


def test_a_handler_frame_for_a_blocked_signal_is_found():
    k = kernel()
    w = k.world
    (a,) = procs(k, 1)
    S.sigaction(w, a, SIGUSR2, (HANDLER, 0, 0))
    S.sigprocmask(w, a, abi.SIG_BLOCK, int(sigmask(SIGUSR2)))

    @system(phase=Phase.SIGNALS)
    def push_blocked(world, commands):
        S._handle_signal(world, a, SIGUSR2)  # no pending bit at all: only the frame tells

    w.schedule.add(push_blocked)
    I.install(w)  # the probes go back to the edges of the phase
    k.tick()
    v = I.check(w)
    assert v.rule == "signal-delivered-while-blocked" and v.task == a and "frame" in v.message


def test_a_group_signal_taken_while_every_thread_blocks_it_is_found():
    k = kernel()
    w = k.world
    (a,) = procs(k, 1)
    t2 = k.task(k.clone(k.handle(a), THREAD))
    for t in (a, t2):
        S.sigprocmask(w, t, abi.SIG_BLOCK, int(sigmask(SIGUSR1)))
    S.send_signal(w, a, SIGUSR1, group=True)
    k.tick()
    assert I.check(w) is None  # pending, blocked, left alone

    @system(phase=Phase.SIGNALS)
    def steal(world, commands):
        g = int(world.tasks.tg[a])
        S._collect(world, g, True, SIGUSR1)

    w.schedule.add(steal)
    I.install(w)
    k.tick()
    v = I.check(w)
    assert v.rule == "signal-delivered-while-blocked" and "thread group" in v.message


def test_without_install_state_rules_still_run_and_probes_are_removable():
    k = kernel()
    I.uninstall(k.world)
    assert not any(s.name.startswith(("delivery_probe", "exit_probe")) for s in k.world.schedule.systems)
    (a,) = procs(k, 1)
    k.world.tasks.tg[a] = -1
    assert rule_of(k) == "thread-group-membership"


# -- planted: futex ------------------------------------------------------------------------------------

def test_a_futex_waiter_without_a_row_is_a_lost_wakeup():
    k = kernel()
    w = k.world
    a, b = threads(k, 2)
    F.futex_wait(w, a, A, 0)
    F.futex_wait(w, b, A, 0)
    assert I.check(w) is None
    F._drop(w, int(w.tasks.futex_waiter[a]))  # the row goes, the task stays blocked
    v = I.check(w)
    assert v.rule == "futex-lost-wakeup" and v.task == a and "no waiter row" in v.message


def test_a_waiter_row_left_queued_past_its_wake_is_found():
    k = kernel()
    w = k.world
    a, b = threads(k, 2)
    F.futex_wait(w, a, A, 0)
    F.futex_wait(w, b, A, 0)
    T = w.tasks
    T.run_state[b] = RunState.runSyscallExit  # woken, but its row was never taken off the queue
    T.block[b] = Block.NONE
    v = I.check(w)
    assert v.rule == "futex-lost-wakeup" and v.task == b and "past its wake" in v.message


def test_a_waiter_row_of_a_dead_task_is_found():
    k = kernel()
    w = k.world
    a, b, c = threads(k, 3)
    F.futex_wait(w, a, A, 0)
    k.exit(k.handle(c), 0)
    k.tick()
    assert not w.tasks.alive[c]
    W = w.futex_waiters
    r = W.alloc()  # a row for the released task, linked like a real one
    W.task[r] = c
    F._link(w, int(W.queue[int(w.tasks.futex_waiter[a])]), r)
    v = I.check(w)
    assert v.rule == "futex-lost-wakeup" and "dead task" in v.message


def test_a_killed_waiter_leaves_no_row():
    k = kernel()
    w = k.world
    (a,) = procs(k, 1)
    F.install_sim_memory(w, a)
    F.futex_wait(w, a, A, 0)
    S.send_group_signal(w, int(w.tasks.tg[a]), SIGKILL)
    assert I.check(w) is None  # between calls: still blocked, SIGKILL pending
    k.tick()
    assert I.check(w) is None and w.futex_waiters.count == 0


# -- planted: zombies -------------------------------------------------------------------------------------

def test_a_zombie_without_a_parent_is_leaked():
    k = kernel()
    w = k.world
    (a,) = procs(k, 1)
    k.exit_group(k.handle(a), 1)
    k.tick()
    assert w.tasks.exit_state[a] == ExitState.ZOMBIE and I.check(w) is None
    T = w.tasks
    p = int(T.parent[a])
    links.unlink(T.child_head, T.child_tail, p, T.sib_next, T.sib_prev, a)
    T.parent[a] = -1
    v = I.check(w)
    assert v.rule == "zombie-leaked" and v.task == a and "no parent" in v.message


def test_a_zombie_whose_parent_exited_is_leaked():
    k = kernel()
    w = k.world
    (p,) = procs(k, 1)
    c = k.task(k.fork(k.handle(p)))
    k.exit_group(k.handle(c), 1)
    k.tick()
    assert I.check(w) is None
    w.tasks.exit_state[p] = ExitState.ZOMBIE  # the parent "exited" without reparenting c
    v = I.check(w)
    assert v.rule == "zombie-leaked" and v.task == c and "exited" in v.message


@pytest.mark.parametrize("how", ["ignore", "nocldwait"])
def test_a_zombie_of_an_autoreaping_parent_is_leaked(monkeypatch, how):
    k = kernel(batch_exit=False)
    w = k.world
    (p,) = procs(k, 1)
    action = (SIG_IGN, 0, 0) if how == "ignore" else (HANDLER, SA_NOCLDWAIT, 0)
    S.sigaction(w, p, SIGCHLD, action)
    c1 = k.task(k.fork(k.handle(p)))
    k.exit_group(k.handle(c1), 0)
    k.tick()
    assert not w.tasks.alive[c1] and I.check(w) is None  # autoreaped, as Linux does
    monkeypatch.setattr(task_exit, "_parent_autoreaps", lambda world, parent, signo: (False, signo))
    c2 = k.task(k.fork(k.handle(p)))
    k.exit_group(k.handle(c2), 0)
    k.tick()
    v = I.check(w)
    assert v.rule == "zombie-leaked" and v.task == c2 and "autoreaps" in v.message


def test_sigchld_ignored_after_the_child_died_leaves_a_legal_zombie():
    k = kernel()
    w = k.world
    (p,) = procs(k, 1)
    c = k.task(k.fork(k.handle(p)))
    k.exit_group(k.handle(c), 0)
    k.tick()
    S.sigaction(w, p, SIGCHLD, (SIG_IGN, 0, 0))  # Linux does not reap existing zombies
    k.tick()
    assert w.tasks.exit_state[c] == ExitState.ZOMBIE and I.check(w) is None


# -- planted: membership, sessions, ids, lists ------------------------------------------------------------

def test_a_task_outside_a_live_thread_group_is_found():
    k = kernel()
    (a,) = procs(k, 1)
    g = int(k.world.tasks.tg[a])
    k.world.thread_groups.leader[g] = -1
    v = I.check(k.world)
    assert v.rule == "thread-group-membership" and "leader" in v.message


def test_a_thread_group_outside_a_process_group_is_found():
    k = kernel()
    (a,) = procs(k, 1)
    k.world.thread_groups.pgrp[int(k.world.tasks.tg[a])] = -1
    v = I.check(k.world)
    assert v.rule == "session-membership" and v.task == a


def test_a_process_group_outside_a_session_is_found():
    k = kernel()
    (a,) = procs(k, 1)
    k.setsid(k.handle(a))
    pg = int(k.world.thread_groups.pgrp[int(k.world.tasks.tg[a])])
    k.world.process_groups.session[pg] = 10_000
    assert rule_of(k) == "session-membership"


def test_two_tasks_with_one_tid_are_found():
    k = kernel()
    a, b = procs(k, 2)
    k.world.tasks.tids[b, 0] = k.world.tasks.tids[a, 0]
    v = I.check(k.world)
    assert v.rule == "ids-unique" and v.task in (a, b) and "share id" in v.message


def test_an_id_map_that_disagrees_is_found():
    k = kernel()
    (a,) = procs(k, 1)
    w = k.world
    pm = w.index.pidmaps[w.index.root_pidns]
    pm.task[int(w.tasks.tids[a, 0])] = -1
    assert rule_of(k) == "ids-unique"


@pytest.mark.parametrize("break_it", ["back_link", "count", "children", "futex_count", "sigqueue"])
def test_broken_intrusive_lists_are_found(break_it):
    k = kernel()
    w = k.world
    T = w.tasks
    (p,) = procs(k, 1)
    ts = rows(k, [k.clone(k.handle(p), THREAD) for _ in range(3)])
    F.install_sim_memory(w, p)
    F.futex_wait(w, ts[0], A, 0)
    F.futex_wait(w, ts[1], A, 0)
    S.send_signal(w, ts[2], 40, group=False, code=-1)  # a queued real-time siginfo
    assert I.check(w) is None
    g = int(T.tg[p])
    if break_it == "back_link":
        T.tg_prev[ts[1]] = ts[2]
    elif break_it == "count":
        w.thread_groups.tasks_count[g] += 1
    elif break_it == "children":
        init = int(T.parent[p])
        links.unlink(T.child_head, T.child_tail, init, T.sib_next, T.sib_prev, p)
    elif break_it == "futex_count":
        q = int(w.futex_waiters.queue[int(T.futex_waiter[ts[0]])])
        w.futex_queues.q_count[q] = 5
    else:
        T.q_tail[ts[2]] = -1
    v = I.check(w)
    assert v.rule == "list-consistency", v


# -- the list kernel against a plain-Python walk -------------------------------------------------------------

def naive_walk(heads, tails, owner_alive, counts, nxt, prv, member_owner, member_alive, expected):
    seen = {}
    for o in range(len(heads)):
        if not owner_alive[o]:
            continue
        prev, k, r = -1, 0, int(heads[o])
        while r >= 0:
            if r >= len(nxt) or not member_alive[r]:
                return 1, o, r
            if member_owner[r] != o:
                return 2, o, r
            if prv[r] != prev:
                return 3, o, r
            if seen.get(r) == o:
                return 6, o, r
            if r in seen:
                return 8, o, r
            seen[r] = o
            k += 1
            prev, r = r, int(nxt[r])
        if tails[o] != prev:
            return 4, o, prev
        if counts[o] >= 0 and counts[o] != k:
            return 5, o, k
    for r in range(len(nxt)):
        if expected[r] and r not in seen:
            return 7, -1, r
        if r in seen and not expected[r]:
            return 9, int(member_owner[r]), r
    return 0, -1, -1


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6), st.integers(0, 12), st.integers(0, 2 ** 32 - 1), st.integers(0, 9))
def test_walk_lists_matches_the_naive_walk(owners, members, seed, mutation):
    rng = np.random.default_rng(seed)
    heads = np.full(owners, -1, np.int32)
    tails = np.full(owners, -1, np.int32)
    nxt = np.full(members, -1, np.int32)
    prv = np.full(members, -1, np.int32)
    owner_of = rng.integers(-1, owners, members).astype(np.int32)
    for r in rng.permutation(members).tolist():
        if owner_of[r] >= 0:
            links.append(heads, tails, int(owner_of[r]), nxt, prv, r)
    counts = np.bincount(owner_of[owner_of >= 0], minlength=owners).astype(np.int32)
    counts[rng.random(owners) < 0.2] = -1
    owner_alive = np.ones(owners, bool)
    member_alive = np.ones(members, bool)
    expected = owner_of >= 0
    args = [heads, tails, owner_alive, counts, nxt, prv, owner_of, member_alive, expected]
    assert J.walk_lists(*args) == (0, -1, -1) == naive_walk(*args)
    if members:
        r = int(rng.integers(members))
        arr = [nxt, prv, owner_of, heads, tails, counts, member_alive, expected, owner_alive, nxt][mutation]
        i = r if len(arr) == members else int(rng.integers(len(arr)))
        if arr.dtype == bool:
            arr[i] = not arr[i]
        else:
            arr[i] = int(rng.integers(-1, max(members, owners)))
    assert J.walk_lists(*args) == naive_walk(*args)


def test_walk_lists_rejects_mismatched_arrays():
    with pytest.raises(ValueError, match="tails"):
        J.walk_lists(np.zeros(2), np.zeros(3), np.ones(2, bool), np.zeros(2), np.zeros(1), np.zeros(1),
                     np.zeros(1), np.ones(1, bool), np.ones(1, bool))


# -- the reference state machines, with every invariant checked after every step -----------------------------

def _checked(machine):
    class Checked(machine):
        def __init__(self):
            super().__init__()
            I.install(self.k.world)

        @invariant()
        def kernel_invariants_hold(self):
            v = I.check(self.k.world)
            assert v is None, str(v)

    Checked.__name__ = f"Checked{machine.__name__}"
    return Checked


_MACHINE_SETTINGS = settings(max_examples=25, stateful_step_count=30, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])
TestCheckedLifecycle = _checked(LifecycleMachine).TestCase
TestCheckedLifecycle.settings = _MACHINE_SETTINGS
TestCheckedSignals = _checked(SignalMachine).TestCase
TestCheckedSignals.settings = _MACHINE_SETTINGS
TestCheckedFutex = _checked(FutexMachine).TestCase
TestCheckedFutex.settings = _MACHINE_SETTINGS


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 32 - 1))
def test_blocked_pending_kernel_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    k = Kernel()
    w = k.world
    for _ in range(int(rng.integers(1, 6))):
        p = k.fork(k.init_task)
        for _ in range(int(rng.integers(0, 4))):
            k.clone(p, THREAD)
    T, G = w.tasks, w.thread_groups
    n = T.n
    bits = lambda: rng.integers(0, 2 ** 63, n, dtype=np.uint64) & rng.integers(0, 2 ** 63, n, dtype=np.uint64)
    T.sig_mask[:n] = bits()
    T.sig_pending[:n] = bits()
    T.sig_wait_set[:n] = bits()
    T.has_saved_mask[:n] = rng.random(n) < 0.2
    sel = rng.random(n) < 0.3
    T.run_state[:n][sel] = RunState.blocked
    T.block[:n][sel] = rng.choice([Block.SIGTIMEDWAIT, Block.FUTEX], int(sel.sum()))
    T.exit_state[:n][rng.random(n) < 0.1] = ExitState.INITIATED
    keep = int(I._KEEP)
    rows, mask, pend, all_block = J.blocked_pending(w, keep)
    # numpy reference
    live = T.alive[:n] & (T.exit_state[:n] == ExitState.NONE)
    m = T.sig_mask[:n] & np.uint64(keep)
    timed = (T.run_state[:n] == RunState.blocked) & (T.block[:n] == Block.SIGTIMEDWAIT)
    m = np.where(timed, m & ~T.sig_wait_set[:n], m)
    p = T.sig_pending[:n] & m
    want = np.flatnonzero(live & ((p != 0) | T.has_saved_mask[:n]))
    assert rows.tolist() == want.tolist()
    assert (mask == m[want]).all() and (pend == p[want]).all()
    ref = np.where(G.alive[: G.n], np.uint64(2 ** 64 - 1), np.uint64(0))
    for t in np.flatnonzero(live):
        ref[T.tg[t]] &= m[t]
    assert (all_block == ref).all()


# -- planted: a wake that skips the oldest waiter -------------------------------------------------------------

_WAKES: dict[int, tuple[int, int]] = {}  # World serial -> (waking task, address) asked for


@system(phase=Phase.RUN)
def waker(world, commands):
    """A RUN-phase FUTEX_WAKE of one waiter when the test asks (module level: checkpointable)."""
    ask = _WAKES.pop(world.serial, None)
    if ask is not None:
        F.futex_wake(world, *ask, 1)


def _three_waiters():
    k = kernel()
    w = k.world
    ts = threads(k, 4)
    for t in ts[:3]:
        F.futex_wait(w, t, A, 0)
    w.schedule.add(waker)
    I.install(w)
    return k, w, ts


def _wake_next_tick(w, ts) -> None:
    _WAKES[w.serial] = (ts[3], A)


def test_fifo_wakes_are_not_violations():
    k, w, ts = _three_waiters()
    for i in range(3):
        _wake_next_tick(w, ts)
        k.tick()
        assert w.tasks.run_state[ts[i]] == RunState.runSyscallExit
        assert I.check(w) is None


def test_a_wake_that_skips_the_oldest_waiter_is_a_lost_wakeup(monkeypatch):
    k, w, ts = _three_waiters()

    def lifo_wake(world, key, nr_wake, bitset=abi.FUTEX_BITSET_MATCH_ANY):
        q = F._queue(world, key)
        woke = 0
        for r in reversed(list(links.iterate(world.futex_queues.q_head, q, world.futex_waiters.w_next))):
            F._complete(world, r, 0)
            woke += 1
            if woke >= max(nr_wake, 1):
                break
        return woke

    monkeypatch.setattr(F, "_wake_key", lifo_wake)
    _wake_next_tick(w, ts)
    k.tick()
    assert w.tasks.run_state[ts[2]] == RunState.runSyscallExit  # the youngest woke
    v = I.check(w)
    assert v.rule == "futex-lost-wakeup" and v.task == ts[0] and "woken first" in v.message


def test_requeue_then_wake_is_not_a_skip():
    k = kernel()
    w = k.world
    ts = threads(k, 4)
    for t in ts[:3]:
        F.futex_wait(w, t, A, 0)

    @system(phase=Phase.RUN)
    def requeue_and_wake(world, commands):
        if world.ticks == 1:
            F.futex_requeue(world, ts[3], A, B, 0, 1)  # the oldest moves to B
            F.futex_wake(world, ts[3], A, 1)  # then the next on A wakes
    w.schedule.add(requeue_and_wake)
    I.install(w)
    k.tick()
    assert w.tasks.run_state[ts[1]] == RunState.runSyscallExit
    assert F.waiters(w, ts[3], B) == [ts[0]]
    assert I.check(w) is None


def test_queue_ranks_kernel_matches_a_walk():
    k = kernel()
    w = k.world
    ts = threads(k, 9)
    for i, t in enumerate(ts):
        F.futex_wait(w, t, [A, B, A + 8][i % 3], 0)
    F.futex_wake(w, ts[0], A, 1)
    got = J.queue_ranks(w)
    W, Q = w.futex_waiters, w.futex_queues
    want = np.full(W.n, -1)
    for q in Q.live_rows().tolist():
        for i, r in enumerate(links.members(Q.q_head, q, W.w_next)):
            want[r] = i
    assert got.tolist() == want.tolist()


def test_probes_survive_checkpoint_and_restore():
    from ecs_kernel.world import World
    k, w, ts = _three_waiters()
    _wake_next_tick(w, ts)
    k.tick()
    w2 = World.restore(w.checkpoint())
    names = [s.name for s in w2.schedule.systems]
    assert names == [s.name for s in w.schedule.systems] and "futex_probe_run_end" in names
    w2.tick()
    assert I.check(w2) is None
    w2.tasks.tg[ts[1]] = -1
    assert I.check(w2).rule == "thread-group-membership"


# -- random synthetic workloads: every check, every tick, no violation ------------------------------------

_SIGS = ["SIGUSR1", "SIGUSR2", "SIGURG", "SIGCHLD", "SIGHUP", "SIGTERM", "SIGSTOP", "SIGCONT",
         "SIGTSTP", "SIGKILL", 34, 35]
_CATCH = [s for s in _SIGS if s not in ("SIGKILL", "SIGSTOP")]


def _steps(names):
    sig = st.sampled_from(_SIGS)
    word = st.integers(0, 2)
    d = st.fixed_dictionaries
    return st.one_of(
        d({"op": st.just("compute"), "ticks": st.integers(0, 3)}),
        d({"op": st.sampled_from(["kill", "tgkill"]),
           "target": st.sampled_from(["random", "random_process", "parent", "self"]), "sig": sig}),
        d({"op": st.just("sigprocmask"), "how": st.sampled_from(["block", "unblock", "setmask"]),
           "sigs": st.lists(sig, max_size=3)}),
        d({"op": st.just("sigaction"), "sig": st.sampled_from(_CATCH),
           "action": st.sampled_from(["default", "ignore", "catch"]),
           "flags": st.sampled_from([0, 0x10000000, 0x40000000, 0x80000000])}),
        d({"op": st.just("futex_wait"), "word": word}),
        d({"op": st.just("futex_wake"), "word": word, "count": st.integers(1, 3)}),
        d({"op": st.sampled_from(["lock", "unlock"]), "word": word}),
        d({"op": st.just("nanosleep"), "ticks": st.integers(0, 3)}),
        d({"op": st.just("clone"), "kind": st.sampled_from(["thread", "process"]),
           "program": st.sampled_from(names)}),
        d({"op": st.sampled_from(["exit", "exit_group"]), "code": st.integers(0, 3)}),
        d({"op": st.just("wait")}),
    )


@st.composite
def _random_workloads(draw):
    from ecs_kernel.sim import spec
    names = [f"p{i}" for i in range(draw(st.integers(1, 3)))]
    progs = []
    for i, name in enumerate(names):
        steps = draw(st.lists(_steps(names), min_size=1, max_size=6))
        if draw(st.booleans()):
            steps.append({"op": "loop", "to": 0, "times": "forever"})
        progs.append({"name": name, "share": 1.0 if i == 0 else draw(st.sampled_from([0.0, 1.0])),
                      "steps": steps})
    return spec.parse({"futex_words": 3, "threads_per_process": draw(st.integers(1, 4)),
                       "programs": progs})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_random_workloads(), st.integers(4, 16), st.integers(0, 2 ** 16))
def test_random_workloads_break_no_invariant(wl, tasks, seed):
    from ecs_kernel.sim import deadlock
    from ecs_kernel.sim.engine import Simulation
    sim = Simulation(wl, tasks, seed)
    I.install(sim.world)
    for _ in range(15):
        sim.step()
        v = I.check(sim.world)
        assert v is None, str(v)
    for d in deadlock.find_deadlocks(sim.world):  # cycles are legal here; each is well formed
        for a, b in zip(d.cycle, d.cycle[1:] + d.cycle[:1]):
            assert a.owner_tid == b.tid


BLOCKED_AND_NOT = '''
name = "blocked-and-not"
[[programs]]
name = "p"
steps = [
  { op = "sigaction", sig = "SIGUSR1", action = "catch" },
  { op = "sigaction", sig = "SIGUSR2", action = "catch" },
  { op = "sigprocmask", how = "block", sigs = ["SIGUSR2"] },
  { op = "kill", target = "self", sig = "SIGUSR2" },
  { op = "kill", target = "self", sig = "SIGUSR1" },
  { op = "compute", ticks = 3 },
  { op = "loop", to = 3, times = "forever" },
]
'''


def _run_blocked_and_not(python_delivery=False):
    from ecs_kernel.sim import spec
    from ecs_kernel.sim.engine import Simulation
    sim = Simulation(spec.loads(BLOCKED_AND_NOT, "blocked-and-not.toml"), 8, 1)
    if python_delivery:
        sim.world.settings.signal_delivery_python = True
    I.install(sim.world)
    for _ in range(12):
        sim.step()
        v = I.check(sim.world)
        if v is not None:
            return v
    w = sim.world
    assert w.thread_groups.group_pending[int(w.tasks.tg[1])] & sigmask(SIGUSR2), \
        "kill(self) left SIGUSR2 pending on the process, blocked"
    return None


@pytest.mark.parametrize("python_delivery", [False, True])
def test_a_simulation_that_keeps_a_blocked_signal_pending_is_clean(python_delivery):
    assert _run_blocked_and_not(python_delivery) is None


def test_the_numba_delivery_pass_ignoring_masks_is_found(monkeypatch):
    from ecs_kernel.systems import signals_batch
    real = signals_batch.deliver

    def deliver_ignoring_masks(world, rows, scalar):  # planted: the pass sees every mask empty
        T = world.tasks
        saved = T.sig_mask[rows].copy()
        T.sig_mask[rows] = 0
        try:
            return real(world, rows, scalar)
        finally:
            T.sig_mask[rows] |= saved

    monkeypatch.setattr(signals_batch, "deliver", deliver_ignoring_masks)
    v = _run_blocked_and_not()
    assert v is not None and v.rule == "signal-delivered-while-blocked" and "signal 12" in v.message


def test_get_signal_ignoring_masks_is_found(monkeypatch):
    real = S.dequeue
    monkeypatch.setattr(S, "dequeue", lambda world, task, blocked, allow_group=True:
                        real(world, task, 0, allow_group=allow_group))
    v = _run_blocked_and_not(python_delivery=True)
    assert v is not None and v.rule == "signal-delivered-while-blocked" and "signal 12" in v.message
