"""wait_system's batch path (task_wait.wait_many over the numba scan of jit/wait_batch.py) gives
the World that retrying one wait at a time gives (Settings.batch_wait False), whatever the
waiters asked for and whatever their children did."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecs_kernel.abi import (CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, SIGCHLD, SIGUSR1, WALL, WCLONE,
                            WNOHANG, WUNTRACED)
from ecs_kernel.errors import KernelError
from ecs_kernel.jit import wait_batch as K
from ecs_kernel.kernel import Kernel
from ecs_kernel.schedule import check_sanity
from ecs_kernel.systems import cpu_clocks, task_exit, task_wait
from ecs_kernel.systems.task_clone import clone
from ecs_kernel.systems.task_wait import WaitOptions
from ecs_kernel.testing.compare import assert_same_worlds
from ecs_kernel.world import Settings

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM
# what a blocked waiter asked for: mostly wait4(-1, 0), the batch's case
WAITS = [(-1, 0)] * 4 + [(-1, WUNTRACED), (-1, WALL), (-1, WCLONE), (0, 0), ("child", 0)]

ops = st.lists(st.tuples(st.sampled_from(["fork", "fork", "clone_usr1", "thread", "exit", "exit",
                                          "exit_group", "charge", "wait", "wait_all", "family",
                                          "crowd", "tick"]),
                         st.integers(0, 10**6), st.integers(0, len(WAITS) - 1)),
               min_size=1, max_size=60)


def _live(w):
    T = w.tasks
    return sorted((int(T.tids[t, 0]), t) for t in T.live_rows().tolist() if T.exit_state[t] == 0)


def _step(k, op, i, j):
    w = k.world
    T = w.tasks
    live = _live(w)
    t = live[i % len(live)][1]
    if op == "fork":
        clone(w, t, SIGCHLD)
    elif op == "clone_usr1":  # a child that signals SIGUSR1 at exit: only __WCLONE/__WALL see it
        clone(w, t, SIGUSR1)
    elif op == "thread":
        clone(w, t, THREAD)
    elif op == "exit" and T.tg[t] != 0:
        task_exit.exit_task(w, t, i & 0xFF)
    elif op == "exit_group" and T.tg[t] != 0:
        task_exit.exit_group(w, t, i & 0xFF)
    elif op == "charge":
        cpu_clocks.charge(w, t, 1000 * (i % 97), 1000 * (i % 31))
    elif op == "wait" and T.run_state[t] <= 1:
        _wait(w, live, t, j)
    elif op == "wait_all":  # every thread of a group with children waits: many retries, and
        # several waiters on one group's children in one wait_system
        G = w.thread_groups
        parents = {int(T.tg[x]) for _, x in live if T.child_head[x] >= 0}
        for _, x in live:
            if T.run_state[x] <= 1 and int(T.tg[x]) in parents and int(G.leader[T.tg[x]]) != 0:
                try:
                    _wait(w, live, x, (j + x) % len(WAITS))
                except KernelError:
                    pass
    elif op == "crowd":  # a new process's three threads wait on one child that then exits:
        # the first with wait4(-1, 0) or, first of all, one that the scan leaves to the scalar
        # path (any other request) reaps it, and no other
        p = clone(w, t, SIGCHLD)
        threads = [p, clone(w, p, THREAD), clone(w, p, THREAD)]
        c = clone(w, threads[i % 3], SIGCHLD)
        w.flush()
        first = (j % 5) + 4 if i & 1 else 0  # WAITS[4:]: WUNTRACED, __WALL, __WCLONE, pgrp, pid
        live = _live(w)
        for n, x in enumerate(threads):
            _wait(w, live, x, first if n == 0 else 0)
        task_exit.exit_task(w, c, 2)
        k.tick()
    elif op == "family":  # a child that reaped a grandchild that used CPU: its cutime moves up
        c = clone(w, t, SIGCHLD)
        g = clone(w, c, SIGCHLD)
        cpu_clocks.charge(w, g, 7000 + i % 1000, 3000)
        cpu_clocks.charge(w, c, 5000, 1000 + i % 1000)
        task_exit.exit_task(w, g, 1)
        k.tick()
        task_wait.wait(w, c, WaitOptions.for_wait4(-1, 0))
    elif op == "tick":
        k.tick()
    w.flush()


def _wait(w, live, t, j):
    T = w.tasks
    pid, options = WAITS[j]
    if pid == "child":
        kids = [c for _, c in live if T.parent[c] == t]
        pid = int(T.tids[kids[0], 0]) if kids else 99999
    task_wait.wait(w, t, WaitOptions.for_wait4(pid, options))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_batched_wait_system_equals_one_wait_at_a_time(script):
    ks = [Kernel(Settings(batch_wait=b)) for b in (True, False)]
    old, task_wait.BATCH_MIN = task_wait.BATCH_MIN, 1
    try:
        _run(ks, script)
    finally:
        task_wait.BATCH_MIN = old


def _run(ks, script):
    for op, i, j in script:
        out = []
        for k in ks:
            try:
                _step(k, op, i, j)
                out.append("ok")
            except KernelError as e:
                out.append(e.errno)
        assert out[0] == out[1]
        assert_same_worlds(ks[0].world, ks[1].world, ("batched", "scalar"))
    for k in ks:
        k.tick(2)
        check_sanity(k.world)
    assert_same_worlds(ks[0].world, ks[1].world, ("batched", "scalar"))


def test_scan_classifies_as_try_wait_does():
    """Each outcome on a case built for it: two waiters of one group and one zombie (the second
    passes over the child the first reaps), and a group whose earlier waiter falls back."""
    k = Kernel()
    w = k.world
    T, G = w.tasks, w.thread_groups
    init = k.task(k.init_task)

    def proc():
        return k.task(k.fork(k.init_task))
    ready, running, none, only_usr1, threaded, mixed = (proc() for _ in range(6))
    z = k.task(k.fork(k.handle(ready)))
    k.exit(k.handle(z), 3)
    k.fork(k.handle(running))
    k.clone(k.handle(only_usr1), SIGUSR1)
    th = k.task(k.clone(k.handle(threaded), THREAD))
    zt = k.task(k.fork(k.handle(th)))  # the thread's child: the group's leader may reap it too
    k.exit(k.handle(zt), 4)
    m2 = k.task(k.clone(k.handle(mixed), THREAD))
    k.tick()
    rows = np.array([ready, running, none, only_usr1, threaded, th, mixed, m2, init], np.int64)
    simple = np.array([True] * 6 + [False, True, True])
    kind = np.empty(len(rows), np.int8)
    child = np.empty(len(rows), np.int64)
    K.wait_scan(rows, simple, w.index.root_pidns, T.ns, T.tg, T.exit_state, T.child_head,
                T.sib_next, G.task_head, T.tg_next, G.tasks_count, G.termination_signal,
                np.zeros(T.n, np.bool_), np.zeros(G.n, np.bool_), kind, child)
    assert kind.tolist() == [K.FOUND, K.NONE, K.NO_CHILD, K.NO_CHILD, K.FOUND, K.NO_CHILD,
                             K.FALLBACK, K.FALLBACK, K.NONE]
    assert child[0] == z and child[4] == zt
    # what try_wait says, one waiter after the other
    opts = WaitOptions.for_wait4(-1, WNOHANG)
    assert task_wait.try_wait(w, ready, opts).task == z
    assert task_wait.try_wait(w, running, opts) is None
    assert task_wait.try_wait(w, threaded, opts).task == zt
    w.flush()
    for t in (none, only_usr1, th):
        try:
            task_wait.try_wait(w, t, opts)
        except KernelError as e:
            assert e.errno == 10  # ECHILD
        else:
            raise AssertionError("ECHILD expected")


WAIT4 = [(-1, 0)] * 6 + [(-1, WNOHANG), (-1, WUNTRACED), (-1, WALL), (-1, WCLONE), (0, 0),
                         ("child", 0), ("child", WNOHANG), (-1, 0x800000), (-(2 ** 31), 0)]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops, st.data())
def test_wait4_many_equals_wait_in_order(script, data):
    """wait4 calls from the tasks of a random family (mostly wait4(-1, 0), the scan's case; the
    rest and bad options served by wait in their turn), tasks named more than once: the same
    results, the same reaped children, and the same waiters left blocked (WaitState, Block.WAIT)
    as wait called once per item."""
    from ecs_kernel.kernel import BLOCKED
    from ecs_kernel.world import World
    k = Kernel(Settings())
    for op, i, j in script:
        try:
            _step(k, op, i, j)
        except KernelError:
            pass
    w = k.world
    T = w.tasks
    live = _live(w)
    who = [t for _, t in data.draw(st.lists(st.sampled_from(live), min_size=1, max_size=12))]
    pids, options = [], []
    for t in who:
        pid, opt = WAIT4[data.draw(st.integers(0, len(WAIT4) - 1))]
        if pid == "child":
            kids = [c for _, c in live if T.parent[c] == t]
            pid = int(T.tids[kids[0], 0]) if kids else 99999
        pids.append(pid)
        options.append(opt)
    blob = w.checkpoint()
    a, b = World.restore(blob), World.restore(blob)
    got = task_wait.wait4_many(a, np.array(who), np.array(pids), np.array(options))
    for i, t in enumerate(who):
        try:
            res = task_wait.wait(b, t, WaitOptions.for_wait4(pids[i], options[i]))
        except KernelError as e:
            assert got.ret[i] == -e.errno and not got.blocked[i]
            continue
        assert bool(got.blocked[i]) == (res is BLOCKED)
        if res is None or res is BLOCKED:
            assert got.ret[i] == 0
        else:
            assert (got.ret[i], got.status[i], got.code[i], got.uid[i], got.utime[i],
                    got.stime[i]) == (res.pid, res.status, res.code, res.uid, res.utime, res.stime)
    assert_same_worlds(a, b, ("batched", "scalar"))
    for x in (a, b):
        x.tick(2)
    assert_same_worlds(a, b, ("batched", "scalar"))
