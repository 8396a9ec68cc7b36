"""exit, exit_group, reparenting, zombies, namespaces' init, pdeath signals."""
import numpy as np
import pytest

from ecs_kernel.abi import (CLONE_NEWPID, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, ExitState,
                            RunState, SA_NOCLDWAIT, SIG_DFL, SIG_IGN, SIGCHLD, SIGUSR1)
from ecs_kernel.components import sigactions
from ecs_kernel.components.signals import sigmask
from ecs_kernel.errors import E, KernelError, StaleHandleError
from ecs_kernel.kernel import Kernel
from ecs_kernel.schedule import check_sanity
from ecs_kernel.abi import CLD_DUMPED, CLD_EXITED, CLD_KILLED, SIGKILL, SIGQUIT, SIGSEGV, SIGTERM
from ecs_kernel.components import pidns
from ecs_kernel.systems import task_exit
from ecs_kernel.world import Settings

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM


def state(k, h):
    return int(k.world.tasks.exit_state[k.task(h)])


def test_exit_group_kills_siblings_and_leaves_one_zombie():
    k = Kernel(Settings(sanitize=True))
    p = k.fork(k.init_task)
    threads = [k.clone(p, THREAD) for _ in range(3)]
    k.exit_group(threads[1], 7)
    k.tick()
    for t in threads:
        with pytest.raises(StaleHandleError):
            k.task(t)  # non-leaders are released at once
    assert state(k, p) == ExitState.ZOMBIE
    r = k.wait4(k.init_task, -1, 0)
    assert (r.pid, r.status) == (2, 7 << 8)


def test_leader_stays_zombie_until_its_group_is_empty():
    k = Kernel(Settings(sanitize=True))
    p = k.fork(k.init_task)
    t = k.clone(p, THREAD)
    k.exit(p, 5)  # the leader alone: pthread_exit from main
    k.tick()
    assert state(k, p) == ExitState.ZOMBIE
    assert k.wait4(k.init_task, -1, 1) is None  # WNOHANG: not waitable while a thread lives
    k.exit(t, 9)
    k.tick()
    r = k.wait4(k.init_task, -1, 1)
    # Linux reports the leader's own exit code when there was no group exit.
    assert (r.pid, r.status) == (2, 5 << 8)


def test_exit_twice_is_esrch():
    k = Kernel()
    p = k.fork(k.init_task)
    k.exit(p, 0)
    with pytest.raises(KernelError) as e:
        k.exit(p, 0)
    assert e.value.errno == E.ESRCH


def test_parent_is_sent_its_childs_termination_signal_when_it_handles_it():
    k = Kernel()
    w = k.world
    p = k.fork(k.init_task)
    prow = k.task(p)
    ptg = w.tasks.tg[prow]
    c = k.fork(p)
    k.exit(c, 0)
    k.tick()
    assert w.thread_groups.group_pending[ptg] == 0  # SIGCHLD with SIG_DFL is ignored: dropped
    for sig in (SIGCHLD, SIGUSR1):
        sigactions.set_action(w, int(w.tasks.sighand[prow]), sig, 0x401000, 0, 0, 0)  # a handler
    q = k.clone(p, SIGUSR1)  # a clone child with another exit signal
    k.exit(q, 0)
    p2 = k.fork(p)
    k.exit(p2, 0)
    k.tick()  # the exit phase sends; delivery comes in the next tick's signal phase
    assert int(w.thread_groups.group_pending[ptg]) == int(sigmask(SIGCHLD)) | int(sigmask(SIGUSR1))


@pytest.mark.parametrize("how", ["ignore", "nocldwait"])
def test_children_of_a_parent_that_ignores_sigchld_are_reaped_at_once(how):
    k = Kernel(Settings(sanitize=True))
    w = k.world
    sh = w.tasks.sighand[k.task(k.init_task)]
    if how == "ignore":
        sigactions.set_action(w, int(sh), SIGCHLD, SIG_IGN, 0, 0, 0)
    else:
        sigactions.set_action(w, int(sh), SIGCHLD, SIG_DFL, SA_NOCLDWAIT, 0, 0)
    p = k.fork(k.init_task)
    k.exit(p, 0)
    k.tick()
    with pytest.raises(StaleHandleError):
        k.task(p)
    with pytest.raises(KernelError) as e:
        k.wait4(k.init_task, -1, 0)
    assert e.value.errno == E.ECHILD


def test_orphans_go_to_a_live_sibling_thread_first():
    k = Kernel(Settings(sanitize=True))
    p = k.fork(k.init_task)
    t = k.clone(p, THREAD)
    g = k.fork(p)  # child of the leader thread
    k.exit(p, 0)
    k.tick()
    w = k.world
    assert w.tasks.parent[k.task(g)] == k.task(t)
    assert k.getppid(g) == 2  # still the same process


def test_orphans_go_to_the_nearest_subreaper_then_init():
    k = Kernel(Settings(sanitize=True))
    a = k.fork(k.init_task)
    k.set_child_subreaper(a)
    b = k.fork(a)
    c = k.fork(b)
    d = k.fork(c)
    k.exit(c, 0)
    k.tick()
    assert k.getppid(d) == k.getpid(a)  # skips b, which is no subreaper
    k.exit(a, 0)
    k.tick()
    assert k.getppid(b) == 1


def test_zombie_child_is_renotified_to_its_new_parent():
    k = Kernel(Settings(sanitize=True))
    p = k.fork(k.init_task)
    c = k.fork(p)
    k.exit(c, 3)
    k.tick()
    k.exit(p, 0)
    k.tick()
    got = sorted((r.pid, r.status) for r in (k.wait4(k.init_task, -1, 0), k.wait4(k.init_task, -1, 0)))
    assert got == [(2, 0), (3, 3 << 8)]


def test_pdeath_signal_fires_when_the_parent_thread_exits():
    k = Kernel()
    w = k.world
    p = k.fork(k.init_task)
    c = k.fork(p)
    w.tasks.pdeath_signal[k.task(c)] = SIGUSR1
    sigactions.set_action(w, int(w.tasks.sighand[k.task(c)]), SIGUSR1, 0x401000, 0, 0, 0)
    k.exit(p, 0)
    k.tick()
    assert int(w.thread_groups.group_pending[w.tasks.tg[k.task(c)]]) == int(sigmask(SIGUSR1))


def test_death_of_a_namespace_init_kills_every_task_in_it():
    k = Kernel(Settings(sanitize=True))
    ns_init = k.clone(k.init_task, CLONE_NEWPID | SIGCHLD)
    a = k.fork(ns_init)
    b = k.fork(a)
    t = k.clone(b, THREAD)
    outside = k.fork(k.init_task)
    k.exit_group(ns_init, 0)
    for _ in range(4):
        k.tick()
    for h in (a, b, t):
        with pytest.raises(StaleHandleError):
            k.task(h)
    assert state(k, outside) == ExitState.NONE
    from ecs_kernel.components.pidns import tid_in
    w = k.world
    r = k.wait4(k.init_task, tid_in(w, k.task(ns_init), w.index.root_pidns), 0)
    assert (r.pid, r.status) == (2, 0)
    assert k.world.pid_namespaces.count == 1  # the dead namespace's row is gone
    check_sanity(k.world)


def test_a_dead_namespace_refuses_new_tasks_with_enomem():
    k = Kernel()
    ns_init = k.clone(k.init_task, CLONE_NEWPID | SIGCHLD)
    a = k.fork(ns_init)
    k.exit(ns_init, 0)
    k.tick()  # init waits for its namespace to empty; a is being killed
    w = k.world
    ns = int(w.tasks.ns[k.task(a)])
    assert w.pid_namespaces.exiting[ns]
    with pytest.raises(KernelError) as e:
        from ecs_kernel.systems.task_clone import clone
        w.tasks.sig_pending[k.task(a)] = 0
        w.tasks.exit_state[k.task(a)] = ExitState.NONE
        w.thread_groups.exiting[w.tasks.tg[k.task(a)]] = False
        clone(w, k.task(a), SIGCHLD)
    assert e.value.errno == E.ENOMEM


def test_killed_blocked_waiter_leaves_its_wait():
    k = Kernel(Settings(sanitize=True))
    p = k.fork(k.init_task)
    t = k.clone(p, THREAD)
    k.fork(p)
    assert k.wait4(t, -1, 0) is not None  # BLOCKED
    assert k.world.tasks.run_state[k.task(t)] == RunState.blocked
    k.exit_group(p, 1)
    k.tick()
    with pytest.raises(StaleHandleError):
        k.task(t)


# -- the SIGCHLD a child's death sends (do_notify_parent's siginfo) -----------------------------------

def take_sigchld(k, h):
    """Dequeue parent ``h``'s pending SIGCHLD (it blocks SIGCHLD); its (si_code, si_pid, si_uid,
    si_status). si_status travels in the value slot (offset 24 of a guest's siginfo)."""
    assert k.sigtimedwait(h, int(sigmask(SIGCHLD)), 0) == SIGCHLD
    T, t = k.world.tasks, k.task(h)
    return int(T.si_code[t]), int(T.si_pid[t]), int(T.si_uid[t]), int(T.si_value[t])


def parent_blocking_sigchld(k):
    p = k.fork(k.init_task)
    k.sigprocmask(p, 0, int(sigmask(SIGCHLD)))  # SIG_BLOCK: it stays queued for sigtimedwait
    return p


def spy_batch_notify(monkeypatch):
    """Count the leaders the exit system's batch path notifies (task_exit.notify_parents_many)."""
    seen = []
    real = task_exit.notify_parents_many

    def spy(world, leaders):
        seen.extend(leaders.tolist())
        return real(world, leaders)

    monkeypatch.setattr(task_exit, "notify_parents_many", spy)
    return seen


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "scalar"])
@pytest.mark.parametrize("how, code, status", [
    ("exit", CLD_EXITED, 3),
    ("exit_group", CLD_EXITED, 255),
    (SIGTERM, CLD_KILLED, SIGTERM),
    (SIGKILL, CLD_KILLED, SIGKILL),
    # a core-dump signal: no core is written, so no core bit (Linux with RLIMIT_CORE 0 says the same)
    (SIGQUIT, CLD_KILLED, SIGQUIT),
    (SIGSEGV, CLD_KILLED, SIGSEGV),
])
def test_sigchld_siginfo_says_how_the_child_died(monkeypatch, batch, how, code, status):
    seen = spy_batch_notify(monkeypatch)
    k = Kernel(Settings(batch_exit=batch, sanitize=True), uid=1000)
    p = parent_blocking_sigchld(k)
    c = k.fork(p)
    pid = k.getpid(c)
    if how == "exit":
        k.exit(c, 3)
    elif how == "exit_group":
        k.exit_group(c, 255)
    else:
        k.kill(p, pid, how)
    k.tick(2)
    assert take_sigchld(k, p) == (code, pid, 1000, status)
    assert bool(seen) == batch  # the path under test is the one that sent it
    r = k.wait4(p, -1, 0)
    assert (r.pid, r.code) == (pid, code)


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "scalar"])
def test_sigchld_of_a_leader_that_ended_before_its_group_exit_carries_the_group_code(batch):
    # Native Linux 6.18 (tests/guests/src/sigchld.c "leader"): the main thread exit(2)s with 6, a
    # thread then exit_group(4)s: SIGCHLD says CLD_EXITED 4, as wait does.
    k = Kernel(Settings(batch_exit=batch, sanitize=True))
    p = parent_blocking_sigchld(k)
    c = k.fork(p)
    th = k.clone(c, THREAD)
    k.exit(c, 6)
    k.tick()
    assert k.sigpending(p) == 0  # a zombie leader with a live thread: not yet
    k.exit_group(th, 4)
    k.tick()
    assert take_sigchld(k, p)[0::3] == (CLD_EXITED, 4)
    assert k.wait4(p, -1, 0).status == 4 << 8


def test_sigchld_si_pid_is_the_child_as_its_parents_namespace_sees_it():
    k = Kernel(Settings(sanitize=True))
    w = k.world
    root = w.index.root_pidns
    q = parent_blocking_sigchld(k)
    p = k.clone(q, CLONE_NEWPID | SIGCHLD)  # init of a new namespace
    k.sigprocmask(p, 0, int(sigmask(SIGCHLD)))
    c = k.fork(p)
    assert k.getpid(c) == 2 and pidns.tid_in(w, k.task(c), root) == 4
    k.exit(c, 0)
    k.tick(2)
    assert take_sigchld(k, p)[:2] == (CLD_EXITED, 2)  # p's namespace, not the root's 4
    k.wait4(p, -1, 0)
    p_root_pid = pidns.tid_in(w, k.task(p), root)
    k.exit(p, 7)
    k.tick(2)
    assert take_sigchld(k, q) == (CLD_EXITED, p_root_pid, 0, 7)


def test_child_siginfo_decodes_wait_statuses():
    assert task_exit.child_siginfo(3 << 8) == (CLD_EXITED, 3)
    assert task_exit.child_siginfo(0) == (CLD_EXITED, 0)
    assert task_exit.child_siginfo(SIGTERM) == (CLD_KILLED, SIGTERM)
    assert task_exit.child_siginfo(0x80 | SIGQUIT) == (CLD_DUMPED, SIGQUIT)  # a core was written
    codes, statuses = task_exit.child_siginfo(np.array([255 << 8, SIGKILL, 0x80 | SIGSEGV]))
    assert codes.tolist() == [CLD_EXITED, CLD_KILLED, CLD_DUMPED]
    assert statuses.tolist() == [255, SIGKILL, SIGSEGV]
