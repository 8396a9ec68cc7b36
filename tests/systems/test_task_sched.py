"""Scheduling attributes: nice values, policies, SCHED_RESET_ON_FORK, deadline admission, I/O
priorities."""
import pytest

from ecs_kernel.abi import (CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, PRIO_PGRP,
                            PRIO_PROCESS, SCHED_DEADLINE, SCHED_FIFO, SCHED_FLAG_RESET_ON_FORK,
                            SCHED_NORMAL)
from ecs_kernel.errors import E, KernelError
from ecs_kernel.kernel import Kernel
from ecs_kernel.systems import task_identity as ident
from ecs_kernel.systems import task_sched as S

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM


def errno_of(fn, *args):
    with pytest.raises(KernelError) as ei:
        fn(*args)
    return ei.value.errno


def attrs(k, h, **kw):
    a = S.get_attr(k.world, k.task(h))
    a.update({"flags": 0, **kw})
    return a


def test_nice_is_inherited_by_threads_and_processes():
    k = Kernel()
    w = k.world
    p = k.fork(k.init_task)
    S.setpriority(w, k.task(p), PRIO_PROCESS, 0, 7)
    t, c = k.clone(p, THREAD), k.fork(p)
    assert [S.getpriority(w, k.task(h), PRIO_PROCESS, 0) for h in (t, c)] == [13, 13]


def test_getpriority_of_a_missing_pid_is_esrch():
    k = Kernel()
    assert errno_of(S.getpriority, k.world, k.task(k.init_task), PRIO_PROCESS, 4242) == E.ESRCH


def test_lowering_nice_without_cap_sys_nice_is_eacces():
    k = Kernel()
    w, p = k.world, k.fork(k.init_task)
    ident.capset(w, k.task(p), 0, 0, 0)
    assert errno_of(S.setpriority, w, k.task(p), PRIO_PROCESS, 0, -1) == E.EACCES
    S.setpriority(w, k.task(p), PRIO_PROCESS, 0, 5)  # raising is always allowed


def test_a_process_groups_priority_is_its_highest():
    k = Kernel()
    w = k.world
    a, b = k.fork(k.init_task), k.fork(k.init_task)
    S.setpriority(w, k.task(a), PRIO_PROCESS, 0, 10)
    S.setpriority(w, k.task(b), PRIO_PROCESS, 0, -3)
    assert S.getpriority(w, k.task(a), PRIO_PGRP, 0) == 23


def test_reset_on_fork_gives_the_child_the_normal_policy():
    k = Kernel()
    w, p = k.world, k.fork(k.init_task)
    S.setscheduler(w, k.task(p), k.task(p),
                   attrs(k, p, policy=SCHED_FIFO, priority=5, flags=SCHED_FLAG_RESET_ON_FORK))
    c = k.fork(p)
    assert (int(w.tasks.sched_policy[k.task(c)]), bool(w.tasks.sched_reset_on_fork[k.task(c)])) \
        == (SCHED_NORMAL, False)
    assert int(w.tasks.sched_policy[k.task(p)]) == SCHED_FIFO


def test_real_time_needs_cap_sys_nice_or_rlimit_rtprio():
    k = Kernel()
    w, p = k.world, k.fork(k.init_task)
    ident.capset(w, k.task(p), 0, 0, 0)  # no CAP_SYS_NICE; RLIMIT_RTPRIO is 0
    assert errno_of(S.setscheduler, w, k.task(p), k.task(p),
                    attrs(k, p, policy=SCHED_FIFO, priority=1)) == E.EPERM


def test_deadline_parameters_admission_and_fork():
    k = Kernel()
    w = k.world
    a, b = k.fork(k.init_task), k.fork(k.init_task)
    ms = 1_000_000
    bad = attrs(k, a, policy=SCHED_DEADLINE, runtime=20 * ms, deadline=10 * ms, period=100 * ms)
    assert errno_of(S.setscheduler, w, k.task(a), k.task(a), bad) == E.EINVAL
    S.setscheduler(w, k.task(a), k.task(a),
                   attrs(k, a, policy=SCHED_DEADLINE, runtime=60 * ms, deadline=100 * ms,
                         period=100 * ms))
    more = attrs(k, b, policy=SCHED_DEADLINE, runtime=40 * ms, deadline=100 * ms, period=100 * ms)
    assert errno_of(S.setscheduler, w, k.task(b), k.task(b), more) == E.EBUSY  # 100% > 95%
    assert errno_of(k.fork, a) == E.EAGAIN


def test_ioprio_classes_and_the_child_pid():
    k = Kernel()
    w = k.world
    me = k.task(k.init_task)
    assert errno_of(S.ioprio_set, w, me, 1, 0, 5 << 13) == E.EINVAL
    assert errno_of(S.ioprio_set, w, me, 1, 0, 1) == E.EINVAL  # class NONE with a level
    c = k.fork(k.init_task)
    S.ioprio_set(w, me, 1, k.gettid(c), 3 << 13)
    assert S.ioprio_get(w, me, 1, k.gettid(c)) == 3 << 13
    assert S.ioprio_get(w, me, 1, 0) == 0


def test_task_prio_is_what_proc_stat_reports_per_policy():
    """/proc/<pid>/stat's priority: 20 + nice (fair), -1 - rt_priority (FIFO/RR), -101
    (DEADLINE)."""
    k = Kernel()
    w = k.world
    ms = 1_000_000
    fair, rt, dl = (k.fork(k.init_task) for _ in range(3))
    S.setpriority(w, k.task(fair), PRIO_PROCESS, 0, 5)
    S.setscheduler(w, k.task(rt), k.task(rt), attrs(k, rt, policy=SCHED_FIFO, priority=10))
    S.setscheduler(w, k.task(dl), k.task(dl),
                   attrs(k, dl, policy=SCHED_DEADLINE, runtime=10 * ms, deadline=30 * ms,
                         period=100 * ms))
    assert [S.task_prio(w, k.task(h)) for h in (fair, rt, dl)] == [25, -11, -101]
