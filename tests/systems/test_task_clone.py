"""clone(2): threads, processes, namespaces, limits and Linux's errnos."""
import pytest

from ecs_kernel.abi import (CLONE_FILES, CLONE_NEWCGROUP, CLONE_NEWPID, CLONE_NEWUTS, CLONE_PARENT,
                            CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, RLIMIT_NPROC, SIGCHLD)
from ecs_kernel.components import sigactions
from ecs_kernel.components import rlimits
from ecs_kernel.errors import E, KernelError
from ecs_kernel.kernel import Kernel
from ecs_kernel.schedule import check_sanity
from ecs_kernel.world import Settings

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM


def errno_of(fn, *a, **kw):
    with pytest.raises(KernelError) as e:
        fn(*a, **kw)
    return e.value.errno


def test_thread_shares_group_handlers_files_and_memory():
    k = Kernel()
    w = k.world
    p = k.fork(k.init_task)
    t = k.clone(p, THREAD | CLONE_FILES)
    T = w.tasks
    rp, rt = k.task(p), k.task(t)
    assert T.tg[rp] == T.tg[rt]
    for col in ("sighand", "fdtable", "mm"):
        assert getattr(T, col)[rp] == getattr(T, col)[rt]
    assert k.getpid(t) == k.getpid(p) == 2 and k.gettid(t) == 3
    assert k.getppid(t) == 1  # a thread's parent is its leader's parent
    check_sanity(w)


def test_fork_copies_handlers_files_and_memory():
    k = Kernel()
    w = k.world
    p = k.fork(k.init_task)
    T = w.tasks
    i, c = k.task(k.init_task), k.task(p)
    assert T.tg[i] != T.tg[c]
    for col in ("sighand", "fdtable", "mm"):
        assert getattr(T, col)[i] != getattr(T, col)[c]
    sigactions.set_action(w, int(T.sighand[i]), SIGCHLD, 1, 0, 0, 0)
    c2 = k.task(k.fork(k.init_task))
    assert sigactions.action(w, int(T.sighand[c2]), SIGCHLD)[0] == 1  # copied at fork
    sigactions.set_action(w, int(T.sighand[i]), SIGCHLD, 0, 0, 0, 0)
    assert sigactions.action(w, int(T.sighand[c2]), SIGCHLD)[0] == 1  # not shared


@pytest.mark.parametrize("flags,errno", [
    (CLONE_THREAD, E.EINVAL),                           # CLONE_THREAD without CLONE_SIGHAND
    (CLONE_SIGHAND, E.EINVAL),                          # CLONE_SIGHAND without CLONE_VM
    (THREAD | CLONE_NEWPID, E.EINVAL),                  # a thread in a new PID namespace
    (CLONE_NEWCGROUP, E.EINVAL),                        # a namespace we do not model
    (1 << 33, E.EINVAL),                                # not a clone flag
])
def test_bad_flag_combinations_are_einval(flags, errno):
    k = Kernel()
    assert errno_of(k.clone, k.init_task, flags) == errno
    assert k.world.tasks.count == 1  # nothing was left behind


def test_clone_parent_from_namespace_init_is_einval():
    k = Kernel()
    assert errno_of(k.clone, k.init_task, CLONE_PARENT | SIGCHLD) == E.EINVAL


def test_clone_parent_makes_a_sibling():
    k = Kernel()
    p = k.fork(k.init_task)
    s = k.clone(p, CLONE_PARENT | SIGCHLD)
    assert k.getppid(s) == 1


def test_namespaces_need_privilege():
    k = Kernel(uid=1000, gid=1000)
    assert errno_of(k.clone, k.init_task, CLONE_NEWPID | SIGCHLD) == E.EPERM
    assert errno_of(k.clone, k.init_task, CLONE_NEWUTS | SIGCHLD) == E.EPERM


def test_tasks_limit_gives_eagain():
    k = Kernel(Settings(tasks_limit=4))
    for _ in range(3):
        k.fork(k.init_task)
    assert errno_of(k.fork, k.init_task) == E.EAGAIN


def test_rlimit_nproc_gives_eagain_for_unprivileged_users():
    k = Kernel(uid=1000)
    w = k.world
    i = k.task(k.init_task)
    row = rlimits.writable(w, int(w.tasks.tg[i]))
    w.rlimit_sets.rlim_cur[row, RLIMIT_NPROC] = 3
    k.fork(k.init_task)
    k.clone(k.init_task, THREAD)
    assert errno_of(k.fork, k.init_task) == E.EAGAIN  # 3 tasks of uid 1000 exist


def test_rlimit_nproc_does_not_bind_root():
    k = Kernel()
    w = k.world
    row = rlimits.writable(w, 0)
    w.rlimit_sets.rlim_cur[row, RLIMIT_NPROC] = 1
    k.fork(k.init_task)
    k.fork(k.init_task)


def test_rlimits_are_shared_until_written():
    k = Kernel()
    w = k.world
    c = k.task(k.fork(k.init_task))
    G = w.thread_groups
    assert G.rlimits[0] == G.rlimits[w.tasks.tg[c]]
    rlimits.writable(w, int(w.tasks.tg[c]))
    assert G.rlimits[0] != G.rlimits[w.tasks.tg[c]]
    check_sanity(w)


def test_new_pid_namespace_init_is_tid_1_inside_and_has_an_id_outside():
    k = Kernel()
    c = k.clone(k.init_task, CLONE_NEWPID | SIGCHLD)
    assert k.gettid(c) == 1 and k.getpid(c) == 1
    assert k.getppid(c) == 0  # its parent is outside the namespace: invisible
    w = k.world
    root = w.index.root_pidns
    from ecs_kernel.components.pidns import tid_in
    assert tid_in(w, k.task(c), root) == 2
    g = k.fork(c)
    assert k.gettid(g) == 2 and k.getppid(g) == 1
    assert tid_in(w, k.task(g), root) == 3
    assert k.getpgid(g) == 0 and k.getsid(g) == 0  # the group and session live outside
    check_sanity(w)


def test_nesting_deeper_than_the_world_allows_is_enospc():
    k = Kernel(pidns_levels=3)
    t = k.init_task
    for _ in range(2):
        t = k.clone(t, CLONE_NEWPID | SIGCHLD)
    assert errno_of(k.clone, t, CLONE_NEWPID | SIGCHLD) == E.ENOSPC


def test_new_uts_namespace_is_a_copy():
    k = Kernel()
    w = k.world
    c = k.task(k.clone(k.init_task, CLONE_NEWUTS | SIGCHLD))
    U = w.uts_namespaces
    assert w.tasks.uts[c] != w.tasks.uts[0]
    assert U.hostname[w.tasks.uts[c]] == U.hostname[w.tasks.uts[0]]
    check_sanity(w)


def test_ids_wrap_past_pid_max_and_skip_used_ones():
    k = Kernel(Settings(pid_max=400))
    kids = [k.fork(k.init_task) for _ in range(397)]  # tids 2..398
    assert k.gettid(kids[-1]) == 398
    last = k.fork(k.init_task)
    assert k.gettid(last) == 399  # the highest: pid_max is one past it
    for h in kids[:350]:
        k.exit(h, 0)
    k.tick()
    for _ in range(350):
        k.wait4(k.init_task, -1, 0)
    # Linux wraps to RESERVED_PIDS (300) once ids passed it.
    assert k.gettid(k.fork(k.init_task)) == 300
    assert k.gettid(k.fork(k.init_task)) == 301


def test_clones_start_now_and_inherit_the_cpu_affinity():
    """start_ns (/proc's starttime) is the kernel time of the clone; cpus_allowed starts with
    every CPU the World models and is copied by clone and clone_many alike."""
    import numpy as np

    from ecs_kernel.systems import task_clone
    k = Kernel(Settings(cpus=4))
    w = k.world
    init = k.task(k.init_task)
    assert int(w.tasks.cpus_allowed[init]) == 0b1111
    w.tasks.cpus_allowed[init] = 0b0100
    w.now_ns = 7_000_000_000
    one = task_clone.clone(w, init, 0)
    w.now_ns = 9_000_000_000
    many = task_clone.clone_many(w, np.full(3, init), 0)
    assert int(w.tasks.start_ns[one]) == 7_000_000_000
    assert (w.tasks.start_ns[many] == 9_000_000_000).all()
    assert int(w.tasks.cpus_allowed[one]) == 0b0100 and (w.tasks.cpus_allowed[many] == 0b0100).all()
    with pytest.raises(ValueError):
        Settings(cpus=0)
    with pytest.raises(ValueError):
        Settings(cpus=65)
