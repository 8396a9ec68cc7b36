"""CPU clocks: measured charges, tick mode, group totals with exited threads, joined children,
getrusage/times/clock_gettime and the CPU-clock id encoding (checked against Linux's values)."""
import numpy as np
import pytest

from ecs_kernel import abi
from ecs_kernel.abi import (CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, P_ALL, RunState, SIG_IGN,
                            SIGCHLD, WEXITED, WNOWAIT)
from ecs_kernel.errors import E, KernelError
from ecs_kernel.kernel import Kernel
from ecs_kernel.systems import cpu_clocks as C
from ecs_kernel.systems import task_signals as S
from ecs_kernel.world import Settings

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM
MS = 1_000_000


def errno_of(fn, *a, **kw):
    with pytest.raises(KernelError) as e:
        fn(*a, **kw)
    return e.value.errno


@pytest.fixture
def k():
    return Kernel(Settings(sanitize=True))


def proc(k, parent=None):
    h = k.fork(parent or k.init_task)
    return h, k.task(h)


def test_charges_are_staged_then_folded_by_the_tick(k):
    w = k.world
    _, p = proc(k)
    C.charge(w, p, 3 * MS, 2 * MS)
    assert C.thread_cputime(w, p) == (3 * MS, 2 * MS)  # visible at once
    assert w.tasks.utime[p] == 0 and w.tasks.cpu_used_user_ns[p] == 3 * MS
    k.tick()
    assert (w.tasks.utime[p], w.tasks.stime[p]) == (3 * MS, 2 * MS)
    assert w.tasks.cpu_used_user_ns[p] == 0 and w.tasks.cpu_used_sys_ns[p] == 0
    tg = w.tasks.tg[p]
    assert (w.thread_groups.group_utime[tg], w.thread_groups.group_stime[tg]) == (3 * MS, 2 * MS)


def test_drivers_may_write_the_stage_directly(k):
    w = k.world
    _, p = proc(k)
    w.tasks.cpu_used_user_ns[p] = 7
    w.tasks.cpu_used_sys_ns[p] = 5
    k.tick()
    assert C.getrusage(w, p, abi.RUSAGE_THREAD) == C.Rusage(7, 5)


def test_negative_charge_is_refused(k):
    _, p = proc(k)
    with pytest.raises(ValueError):
        C.charge(k.world, p, -1, 0)


def test_tick_mode_charges_running_tasks_only(k):
    w = k.world
    C.set_tick_mode(w)
    _, a = proc(k)
    _, b = proc(k)
    w.tasks.run_state[b] = RunState.blocked
    _, c = proc(k)
    C.charge(w, c, 10, 0)  # measured tasks are not charged the tick as well
    k.tick(3)
    assert C.thread_cputime(w, a) == (3 * w.settings.tick_ns, 0)
    assert C.thread_cputime(w, b) == (0, 0)
    assert C.thread_cputime(w, c) == (10 + 2 * w.settings.tick_ns, 0)


def test_group_total_keeps_threads_that_exited(k):
    w = k.world
    h, p = proc(k)
    t = k.task(k.clone(h, THREAD))
    C.charge(w, p, 1 * MS, 0)
    C.charge(w, t, 4 * MS, 1 * MS)
    k.tick()
    k.exit(k.handle(t), 0)
    C.charge(w, t, 2 * MS, 0)  # its last quantum, measured as it exits
    k.tick(2)
    assert not w.tasks.alive[t] or w.tasks.tg[t] != w.tasks.tg[p]
    assert C.getrusage(w, p, abi.RUSAGE_SELF) == C.Rusage(7 * MS, 1 * MS)
    assert C.getrusage(w, p, abi.RUSAGE_THREAD) == C.Rusage(1 * MS, 0)
    assert C.clock_gettime(w, p, abi.CLOCK_PROCESS_CPUTIME_ID) == 8 * MS
    assert C.clock_gettime(w, p, abi.CLOCK_THREAD_CPUTIME_ID) == 1 * MS


def test_reaped_children_join_the_parent_with_their_own_children(k):
    w = k.world
    hp, p = proc(k)
    hc, c = proc(k, hp)
    hg, g = proc(k, hc)
    C.charge(w, g, 5 * MS, 1 * MS)
    C.charge(w, c, 2 * MS, 3 * MS)
    k.exit_group(hg, 0)
    k.tick()
    assert k.wait4(hc, -1, 0).task == g
    assert C.getrusage(w, c, abi.RUSAGE_CHILDREN) == C.Rusage(5 * MS, 1 * MS)
    k.exit_group(hc, 0)
    k.tick()
    k.wait4(hp, -1, 0)
    assert C.getrusage(w, p, abi.RUSAGE_CHILDREN) == C.Rusage(7 * MS, 4 * MS)
    assert C.getrusage(w, p, abi.RUSAGE_SELF) == C.Rusage(0, 0)
    tms = C.times(w, p)
    assert (tms.tms_cutime, tms.tms_cstime) == (0, 0)  # 7 ms and 4 ms are < 10 ms ticks


def test_autoreaped_children_are_not_counted(k):
    """Linux >= 2.6.9 (and the host, checked): SIGCHLD ignored means the child is not waited for."""
    w = k.world
    hp, p = proc(k)
    S.sigaction(w, p, SIGCHLD, (SIG_IGN, 0, 0))
    hc, c = proc(k, hp)
    C.charge(w, c, 50 * MS, 0)
    k.exit_group(hc, 0)
    k.tick(2)
    assert not w.tasks.alive[c]
    assert C.getrusage(w, p, abi.RUSAGE_CHILDREN) == C.Rusage(0, 0)


def test_wnowait_does_not_join(k):
    w = k.world
    hp, p = proc(k)
    hc, c = proc(k, hp)
    C.charge(w, c, 5 * MS, 0)
    k.exit_group(hc, 0)
    k.tick()
    k.waitid(hp, P_ALL, 0, WEXITED | WNOWAIT)
    assert C.getrusage(w, p, abi.RUSAGE_CHILDREN) == C.Rusage(0, 0)
    k.wait4(hp, -1, 0)
    assert C.getrusage(w, p, abi.RUSAGE_CHILDREN) == C.Rusage(5 * MS, 0)


def test_batch_exit_path_keeps_thread_time(k):
    w = k.world
    h, p = proc(k)
    threads = [k.task(k.clone(h, THREAD)) for _ in range(5)]
    for i, t in enumerate(threads):
        C.charge(w, t, (i + 1) * MS, i)
    for t in threads:
        k.exit(k.handle(t), 0)
    k.tick(2)
    assert C.getrusage(w, p, abi.RUSAGE_SELF) == C.Rusage(15 * MS, 10)


def test_getrusage_rejects_bad_who(k):
    _, p = proc(k)
    for who in (2, -2, 99):
        assert errno_of(C.getrusage, k.world, p, who) == E.EINVAL


def test_times_in_clock_ticks(k):
    w = k.world
    _, p = proc(k)
    C.charge(w, p, 25 * MS, 109 * MS)
    k.tick(30)
    t = C.times(w, p)
    assert (t.tms_utime, t.tms_stime) == (2, 10)
    assert t.ret == w.now_ns // 10_000_000


def test_cpuclock_encoding_matches_linux():
    # glibc clock_getcpuclockid(pid) on the host gave (~pid << 3) | 2: pid 29882 -> -239062.
    assert C.make_process_cpuclock(29882, abi.CPUCLOCK_SCHED) == -239062
    assert C.make_thread_cpuclock(0, abi.CPUCLOCK_SCHED) == -2
    assert C.cpuclock_pid(C.make_process_cpuclock(1234, abi.CPUCLOCK_PROF)) == 1234


def test_clock_gettime_for_pid_and_tid_clocks(k):
    w = k.world
    hp, p = proc(k)
    hq, q = proc(k)
    t = k.task(k.clone(hp, THREAD))
    C.charge(w, p, 3, 4)
    C.charge(w, t, 5, 0)
    C.charge(w, q, 100, 0)
    pid_q = k.getpid(hq)
    assert C.clock_gettime(w, p, C.make_process_cpuclock(0, abi.CPUCLOCK_SCHED)) == 12
    assert C.clock_gettime(w, p, C.make_process_cpuclock(0, abi.CPUCLOCK_VIRT)) == 8
    assert C.clock_gettime(w, p, C.make_process_cpuclock(pid_q, abi.CPUCLOCK_PROF)) == 100
    assert C.clock_gettime(w, p, C.make_thread_cpuclock(k.gettid(k.handle(t)), abi.CPUCLOCK_SCHED)) == 5
    assert C.clock_gettime(w, p, C.make_thread_cpuclock(0, abi.CPUCLOCK_SCHED)) == 7
    # a thread of another process, a pid that does not exist, a bad "which", a non-leader pid
    assert errno_of(C.clock_gettime, w, p, C.make_thread_cpuclock(pid_q, 2)) == E.EINVAL
    assert errno_of(C.clock_gettime, w, p, C.make_process_cpuclock(99999, 2)) == E.EINVAL
    assert errno_of(C.clock_gettime, w, p, C.make_process_cpuclock(0, 3)) == E.EINVAL
    assert errno_of(C.clock_gettime, w, q, C.make_process_cpuclock(k.gettid(k.handle(t)), 2)) == E.EINVAL
    assert errno_of(C.clock_gettime, w, p, 10) == E.EINVAL


def test_wall_clocks_follow_the_kernel_clock(k):
    w = k.world
    _, p = proc(k)
    k.tick(5)
    assert C.clock_gettime(w, p, abi.CLOCK_MONOTONIC) == w.now_ns == 5 * w.settings.tick_ns
    C.set_realtime(w, 1_700_000_000 * 10**9)
    k.tick()
    assert C.clock_gettime(w, p, abi.CLOCK_REALTIME) == 1_700_000_000 * 10**9 + w.settings.tick_ns
    assert C.clock_getres(w, p, abi.CLOCK_MONOTONIC) == w.settings.tick_ns
    assert C.clock_getres(w, p, abi.CLOCK_THREAD_CPUTIME_ID) == 1


def test_accounting_many_tasks_matches_a_plain_sum():
    k = Kernel()
    w = k.world
    rng = np.random.default_rng(1)
    hs = [k.fork(k.init_task) for _ in range(50)]
    rows = [k.task(h) for h in hs]
    for h in hs[:20]:
        rows.append(k.task(k.clone(h, THREAD)))
    used = rng.integers(0, 10**6, size=(len(rows), 2))
    for r, (u, s) in zip(rows, used):
        C.charge(w, r, int(u), int(s))
    k.tick()
    G, T = w.thread_groups, w.tasks
    for h in hs:
        tg = int(T.tg[k.task(h)])
        want = C.group_cputime(w, tg)
        assert (int(G.group_utime[tg]), int(G.group_stime[tg])) == want
