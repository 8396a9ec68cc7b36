"""setsid, setpgid, getpgid, getsid and orphaned process groups."""
import pytest

from ecs_kernel.abi import CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, SIGCONT, SIGHUP
from ecs_kernel.components import sigactions
from ecs_kernel.components.signals import sigmask
from ecs_kernel.errors import E, KernelError
from ecs_kernel.kernel import Kernel
from ecs_kernel.schedule import check_sanity
from ecs_kernel.systems import sessions
from ecs_kernel.world import Settings

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM


def errno_of(fn, *a):
    with pytest.raises(KernelError) as e:
        fn(*a)
    return e.value.errno


def test_setsid_makes_a_new_session_and_group():
    k = Kernel()
    c = k.fork(k.init_task)
    assert k.setsid(c) == 2
    assert k.getsid(c) == k.getpgid(c) == 2
    assert k.getsid(k.init_task, 2) == 2
    check_sanity(k.world)


def test_setsid_by_a_group_leader_is_eperm():
    k = Kernel()
    assert errno_of(k.setsid, k.init_task) == E.EPERM
    c = k.fork(k.init_task)
    k.setpgid(c, 0, 0)
    assert errno_of(k.setsid, c) == E.EPERM


def test_setpgid_rules():
    k = Kernel()
    a = k.fork(k.init_task)
    b = k.fork(k.init_task)
    g = k.fork(a)
    t = k.clone(a, THREAD)
    assert errno_of(k.setpgid, k.init_task, 0, -1) == E.EINVAL
    assert errno_of(k.setpgid, k.init_task, 999, 0) == E.ESRCH
    assert errno_of(k.setpgid, k.init_task, k.gettid(t), 0) == E.EINVAL  # not a leader
    assert errno_of(k.setpgid, k.init_task, k.gettid(g), 0) == E.ESRCH  # a grandchild
    assert errno_of(k.setpgid, a, k.gettid(b), 0) == E.ESRCH  # a sibling
    assert errno_of(k.setpgid, k.init_task, 0, 0) == E.EPERM  # init leads its session
    assert errno_of(k.setpgid, k.init_task, 2, 77) == E.EPERM  # no group 77
    k.setpgid(k.init_task, 2, 0)
    k.setpgid(k.init_task, 3, 2)  # b joins a's group
    assert k.getpgid(b) == 2
    k.setsid(g)
    assert errno_of(k.setpgid, a, k.gettid(g), 0) == E.EPERM  # child in another session
    k.world.thread_groups.did_exec[k.world.tasks.tg[k.task(b)]] = True
    assert errno_of(k.setpgid, k.init_task, 3, 3) == E.EACCES
    check_sanity(k.world)


def test_group_outlives_its_leader_and_keeps_its_id():
    k = Kernel()
    a = k.fork(k.init_task)
    k.setpgid(a, 0, 0)
    b = k.fork(a)  # in a's group
    k.exit(a, 0)
    k.tick()
    k.wait4(k.init_task, 2, 0)
    assert k.getpgid(b) == 2
    # id 2 is still held by the group: not reused for a new task
    assert k.gettid(k.fork(k.init_task)) == 4


def test_getpgid_of_unknown_pid_is_esrch():
    k = Kernel()
    assert errno_of(k.getpgid, k.init_task, 55) == E.ESRCH
    assert errno_of(k.getsid, k.init_task, 55) == E.ESRCH


def test_orphaned_stopped_group_gets_sighup_and_sigcont():
    k = Kernel(Settings(sanitize=True))
    w = k.world
    shell = k.fork(k.init_task)
    k.setsid(shell)
    job = k.fork(shell)
    k.setpgid(job, 0, 0)
    jtg = int(w.tasks.tg[k.task(job)])
    sh = w.tasks.sighand[k.task(job)]
    sigactions.set_action(w, int(sh), SIGHUP, 0x401000, 0, 0, 0)  # caught, so they are queued
    sigactions.set_action(w, int(sh), SIGCONT, 0x401000, 0, 0, 0)
    w.thread_groups.stopped[jtg] = True
    assert not sessions.will_become_orphaned(w, int(w.thread_groups.pgrp[jtg]))
    k.exit(shell, 0)
    k.tick()
    pend = int(w.thread_groups.group_pending[jtg])
    assert pend & int(sigmask(SIGHUP)) and pend & int(sigmask(SIGCONT))


def test_orphaned_group_without_stopped_jobs_gets_nothing():
    k = Kernel()
    w = k.world
    shell = k.fork(k.init_task)
    k.setsid(shell)
    job = k.fork(shell)
    k.setpgid(job, 0, 0)
    k.exit(shell, 0)
    k.tick()
    assert w.thread_groups.group_pending[w.tasks.tg[k.task(job)]] == 0


def test_setpgid_to_a_new_group_keeps_the_session_whose_last_group_it_leaves():
    """B: setsid, fork C; B exits and is reaped; C (alone in B's old group, the session's only
    group) calls setpgid(0, 0): the new group lives in the same, still live, session."""
    from ecs_kernel.kernel import Kernel
    k = Kernel()
    init = k.init_task
    b = k.fork(init)
    k.setsid(b)
    c = k.fork(b)
    k.exit_group(b, 0)
    k.tick()
    k.wait4(init, -1, 0)
    sid = k.getsid(c)
    k.setpgid(c, 0, 0)
    assert k.getpgid(c) == k.getpid(c) and k.getsid(c) == sid
    from ecs_kernel.schedule import check_sanity
    check_sanity(k.world)
    w = k.world
    pg = int(w.thread_groups.pgrp[int(w.tasks.tg[k.task(c)])])
    assert w.sessions.alive[int(w.process_groups.session[pg])]
