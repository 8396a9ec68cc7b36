"""Timers and sleeps: itimers, alarm, POSIX timers and overruns, RLIMIT_CPU, nanosleep.

Errnos and rounding were checked against the host's Linux (a C program calling each of these);
the comments say which."""
import errno

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from ecs_kernel import abi
from ecs_kernel.abi import (Block, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, ExitState, ITIMER_PROF,
                            ITIMER_REAL, ITIMER_VIRTUAL, RLIMIT_CPU, RunState, SA_NODEFER,
                            SA_RESTART, SI_TIMER, SIG_IGN, SIGALRM, SIGCONT, SIGEV_NONE,
                            SIGEV_SIGNAL, SIGEV_THREAD_ID, SIGKILL, SIGPROF, SIGRTMIN, SIGSTOP,
                            SIGUSR1, SIGVTALRM, SIGXCPU)
from ecs_kernel.components import rlimits
from ecs_kernel.components.signals import sigmask
from ecs_kernel.errors import E, KernelError
from ecs_kernel.jit.timers import expire, expire_naive
from ecs_kernel.kernel import BLOCKED, Kernel
from ecs_kernel.systems import cpu_clocks as C
from ecs_kernel.systems import task_signals as S
from ecs_kernel.systems import task_exit
from ecs_kernel.systems import timers as TM
from ecs_kernel.testing.compare import assert_same_worlds
from ecs_kernel.world import Settings, World

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM
H = 0x401000
MS = 1_000_000
NS = 1_000_000_000


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


def pending(k, t):
    w = k.world
    return int(w.thread_groups.group_pending[w.tasks.tg[t]])


def catch(k, t, *sigs, flags=SA_NODEFER):
    for s in sigs:
        S.sigaction(k.world, t, s, (H, flags, 0))


def block(k, t, *sigs):
    S.sigprocmask(k.world, t, abi.SIG_BLOCK, sum(1 << (s - 1) for s in sigs))


def iv(value_us, interval_us=0):
    return TM.ItimerVal(divmod(interval_us, 10**6), divmod(value_us, 10**6))


def spec(value_ns, interval_ns=0):
    return TM.ItimerSpec(divmod(interval_ns, NS), divmod(value_ns, NS))


# -- the kernel -----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_expire_kernel_matches_naive(seed):
    rng = np.random.default_rng(seed)
    n = 500
    armed = rng.random(n) < 0.7
    expiry = rng.integers(-50, 200, n).astype(np.int64)
    interval = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 40, n)).astype(np.int64)
    now = rng.integers(0, 150, n).astype(np.int64)
    once = rng.random(n) < 0.3
    a1, e1, p1 = armed.copy(), expiry.copy(), np.zeros(n, np.int64)
    a2, e2, p2 = armed.copy(), expiry.copy(), np.zeros(n, np.int64)
    assert expire(a1, e1, interval, now, once, p1) == expire_naive(a2, e2, interval, now, once, p2)
    assert (a1 == a2).all() and (e1 == e2).all() and (p1 == p2).all()
    fwd = (p1 > 0) & (interval > 0) & ~once
    assert (e1[fwd] > now[fwd]).all()


def test_expire_checks_its_inputs():
    z = np.zeros(3, np.int64)
    with pytest.raises(ValueError):
        expire(np.zeros(3, bool), z.copy(), z, z.astype(np.int32), np.zeros(3, bool), z.copy())


# -- setitimer, getitimer, alarm -------------------------------------------------------------------

def test_setitimer_errnos(k):
    """Linux: usec 1000000 or a negative sec is EINVAL, and so is a bad which."""
    w = k.world
    _, p = proc(k)
    assert errno_of(TM.setitimer, w, p, ITIMER_REAL, TM.ItimerVal((0, 0), (0, 1_000_000))) == E.EINVAL
    assert errno_of(TM.setitimer, w, p, ITIMER_REAL, TM.ItimerVal((0, 0), (-1, 0))) == E.EINVAL
    assert errno_of(TM.setitimer, w, p, ITIMER_REAL, TM.ItimerVal((0, -1), (0, 0))) == E.EINVAL
    for which in (3, -1):
        assert errno_of(TM.setitimer, w, p, which, iv(5)) == E.EINVAL
        assert errno_of(TM.getitimer, w, p, which) == E.EINVAL


def test_itimer_real_fires_sigalrm_at_the_first_tick_past_expiry(k):
    w = k.world
    _, p = proc(k)
    block(k, p, SIGALRM)
    assert TM.setitimer(w, p, ITIMER_REAL, iv(2500)) == iv(0)
    assert TM.getitimer(w, p, ITIMER_REAL) == iv(2500)
    k.tick(2)
    assert TM.getitimer(w, p, ITIMER_REAL) == iv(500) and not pending(k, p)
    k.tick()
    assert pending(k, p) == int(sigmask(SIGALRM))
    assert TM.getitimer(w, p, ITIMER_REAL) == iv(0)


def test_periodic_itimer_real_waits_for_sigalrm_to_be_dequeued(k):
    """Linux re-arms ITIMER_REAL when SIGALRM is dequeued: blocked, getitimer reads 0 (host)."""
    w = k.world
    _, p = proc(k)
    catch(k, p, SIGALRM)
    block(k, p, SIGALRM)
    TM.setitimer(w, p, ITIMER_REAL, iv(1000, 3000))
    k.tick(10)
    assert TM.getitimer(w, p, ITIMER_REAL) == iv(0, 3000)
    S.sigprocmask(w, p, abi.SIG_UNBLOCK, int(sigmask(SIGALRM)))
    k.tick()  # delivered at 11 ms; forwarded from 1 ms by 3 ms periods: next at 13 ms
    assert w.tasks.handling[p] == SIGALRM
    assert TM.getitimer(w, p, ITIMER_REAL) == iv(2000, 3000)
    k.tick(2)  # 13 ms: fires again
    assert pending(k, p) == int(sigmask(SIGALRM))
    k.tick()
    assert pending(k, p) == 0 and w.sigframes.count == 2


def test_ignored_sigalrm_stops_a_periodic_itimer(k):
    """Host: periodic ITIMER_REAL with SIGALRM ignored reads 0 after its first expiry."""
    w = k.world
    _, p = proc(k)
    S.sigaction(w, p, SIGALRM, (SIG_IGN, 0, 0))
    TM.setitimer(w, p, ITIMER_REAL, iv(1000, 1000))
    k.tick(5)
    assert TM.getitimer(w, p, ITIMER_REAL) == iv(0, 1000)


def test_virtual_and_prof_count_cpu_time_with_one_tick_added(k):
    """Linux adds TICK_NSEC to a CPU itimer's value (host: 1 s reads 1.004 s at HZ=250)."""
    w = k.world
    _, p = proc(k)
    block(k, p, SIGVTALRM, SIGPROF)
    TM.setitimer(w, p, ITIMER_VIRTUAL, iv(2000))
    TM.setitimer(w, p, ITIMER_PROF, iv(2000, 500))
    assert TM.getitimer(w, p, ITIMER_VIRTUAL) == iv(3000)
    C.charge(w, p, 0, 3 * MS)  # system time: PROF only
    k.tick()
    assert pending(k, p) == int(sigmask(SIGPROF))
    assert TM.getitimer(w, p, ITIMER_PROF) == iv(500, 500)  # expires += incr, once per pass
    assert TM.getitimer(w, p, ITIMER_VIRTUAL) == iv(3000)
    C.charge(w, p, 3 * MS, 0)
    k.tick()
    assert pending(k, p) == int(sigmask(SIGPROF) | sigmask(SIGVTALRM))
    assert TM.getitimer(w, p, ITIMER_VIRTUAL) == iv(0)


def test_cpu_itimer_disarm_keeps_its_interval(k):
    """Host: setitimer(ITIMER_VIRTUAL, {interval 5 us, value 0}) reads back interval 5 us."""
    w = k.world
    _, p = proc(k)
    TM.setitimer(w, p, ITIMER_VIRTUAL, iv(0, 5))
    assert TM.getitimer(w, p, ITIMER_VIRTUAL) == iv(0, 5)
    assert TM.setitimer(w, p, ITIMER_REAL, iv(0, 5)) == iv(0)
    assert TM.getitimer(w, p, ITIMER_REAL) == iv(0, 0)  # REAL drops it


def test_alarm_rounds_what_was_left_to_nearest_and_at_least_one():
    """Host: alarm(10), 0.4 s later alarm(0) returns 10; 0.6 s later, 9."""
    k = Kernel(Settings(tick_ns=100 * MS))
    w = k.world
    _, p = proc(k)
    assert TM.alarm(w, p, 10) == 0
    k.tick(4)
    assert TM.alarm(w, p, 10) == 10
    k.tick(6)
    assert TM.alarm(w, p, 0) == 9
    TM.setitimer(w, p, ITIMER_REAL, iv(1))
    assert TM.alarm(w, p, 0) == 1  # 1 us left: still 1


def test_itimers_are_not_inherited_by_fork(k):
    w = k.world
    hp, p = proc(k)
    TM.setitimer(w, p, ITIMER_REAL, iv(5000))
    _, c = proc(k, hp)
    assert TM.getitimer(w, c, ITIMER_REAL) == iv(0)


# -- POSIX timers -------------------------------------------------------------------------------------

def test_timer_create_errnos_match_linux(k):
    """Host: clocks 4, 5, 6, 8, 9 EOPNOTSUPP (no timers / no RTC); 10, 12 EINVAL; signo 65,
    notify 7 and a SIGEV_THREAD_ID tid of another process EINVAL; SIGEV_NONE with signo 0 fine."""
    w = k.world
    hp, p = proc(k)
    hq, q = proc(k)
    for c in (0, 1, 2, 3, 7, 11):
        TM.timer_create(w, p, c)
    for c in (4, 5, 6, 8, 9):
        assert errno_of(TM.timer_create, w, p, c) == errno.EOPNOTSUPP
    for c in (10, 12, 16):
        assert errno_of(TM.timer_create, w, p, c) == E.EINVAL
    assert errno_of(TM.timer_create, w, p, 1, TM.Sigevent(SIGEV_SIGNAL, 65)) == E.EINVAL
    assert errno_of(TM.timer_create, w, p, 1, TM.Sigevent(7, SIGUSR1)) == E.EINVAL
    assert errno_of(TM.timer_create, w, p, 1,
                    TM.Sigevent(SIGEV_THREAD_ID, SIGUSR1, 0, k.getpid(hq))) == E.EINVAL
    TM.timer_create(w, p, 1, TM.Sigevent(SIGEV_NONE, 0))
    assert errno_of(TM.timer_settime, w, p, 99, 0, spec(1)) == E.EINVAL
    assert errno_of(TM.timer_delete, w, p, 99) == E.EINVAL
    assert errno_of(TM.timer_settime, w, p, 0, 0, TM.ItimerSpec((0, 0), (0, NS))) == E.EINVAL
    assert errno_of(TM.timer_create, w, p, C.make_process_cpuclock(99999, 2)) == E.EINVAL
    assert errno_of(TM.timer_create, w, p, C.make_thread_cpuclock(k.getpid(hq), 2)) == E.EINVAL


def test_timer_ids_are_per_process_and_in_sequence(k):
    """Host: create, create, delete the first, create: ids 0, 1, 2."""
    w = k.world
    _, p = proc(k)
    _, q = proc(k)
    assert [TM.timer_create(w, p, 1), TM.timer_create(w, p, 1)] == [0, 1]
    TM.timer_delete(w, p, 0)
    assert TM.timer_create(w, p, 1) == 2
    assert TM.timer_create(w, q, 1) == 0
    assert TM.timer_count(w, p) == 2
    assert errno_of(TM.timer_gettime, w, q, 2) == E.EINVAL


def test_timer_signal_carries_si_timer_id_and_value(k):
    w = k.world
    _, p = proc(k)
    catch(k, p, SIGRTMIN)
    tid = TM.timer_create(w, p, 1, TM.Sigevent(SIGEV_SIGNAL, SIGRTMIN, 0xBEEF))
    TM.timer_settime(w, p, tid, 0, spec(MS))
    k.tick(2)  # fires at 1 ms, delivered at 2 ms
    T = w.tasks
    assert (T.si_signo[p], T.si_code[p], T.si_pid[p], T.si_value[p]) == (SIGRTMIN, SI_TIMER, tid, 0xBEEF)
    assert TM.timer_gettime(w, p, tid) == spec(0)


def test_default_sigevent_is_sigalrm_with_the_timer_id(k):
    w = k.world
    _, p = proc(k)
    block(k, p, SIGALRM)
    TM.timer_create(w, p, 1)
    tid = TM.timer_create(w, p, 1)
    TM.timer_settime(w, p, tid, 0, spec(MS))
    k.tick()
    assert pending(k, p) == int(sigmask(SIGALRM))
    q = w.thread_groups.gq_head[w.tasks.tg[p]]
    assert (w.sigqueue.q_pid[q], w.sigqueue.q_value[q]) == (tid, tid)


def test_overrun_counts_the_periods_missed_while_the_signal_was_queued(k):
    """Host: a 1 ms periodic timer, SIGRTMIN blocked, taken 10.5 ms in: si_overrun 9, and
    timer_getoverrun 9."""
    w = k.world
    _, p = proc(k)
    block(k, p, SIGRTMIN)
    tid = TM.timer_create(w, p, 1, TM.Sigevent(SIGEV_SIGNAL, SIGRTMIN, 0))
    TM.timer_settime(w, p, tid, 0, spec(MS, MS))
    k.tick(10)
    assert TM.timer_gettime(w, p, tid) == spec(MS, MS)  # forwarded when read
    assert w.sigqueue.count == 1  # queued once
    assert S.sigtimedwait(w, p, int(sigmask(SIGRTMIN)), 0) == SIGRTMIN
    k.tick()  # the dequeue is noticed at the next pass (11 ms): 10 periods missed after the first
    assert TM.timer_getoverrun(w, p, tid) == 10
    assert w.tasks.si_uid[p] == 10  # si_overrun's slot of the delivered siginfo


def test_overrun_through_delivery_in_the_tick(k):
    w = k.world
    _, p = proc(k)
    catch(k, p, SIGRTMIN)
    block(k, p, SIGRTMIN)
    tid = TM.timer_create(w, p, 1, TM.Sigevent(SIGEV_SIGNAL, SIGRTMIN, 0))
    TM.timer_settime(w, p, tid, 0, spec(MS, 2 * MS))
    k.tick(8)  # expiries at 1, 3, 5, 7 ms: the first queued
    S.sigprocmask(w, p, abi.SIG_UNBLOCK, int(sigmask(SIGRTMIN)))
    k.tick()  # delivered at 9 ms: 9 is also an expiry point, so 4 missed
    assert TM.timer_getoverrun(w, p, tid) == 4
    assert w.tasks.si_uid[p] == 4 and w.tasks.handling[p] == SIGRTMIN
    assert TM.timer_gettime(w, p, tid) == spec(2 * MS, 2 * MS)


def test_sigev_none_never_signals_and_reads_zero_once_expired(k):
    w = k.world
    _, p = proc(k)
    a = TM.timer_create(w, p, 1, TM.Sigevent(SIGEV_NONE, 0))
    b = TM.timer_create(w, p, 1, TM.Sigevent(SIGEV_NONE, 0))
    TM.timer_settime(w, p, a, 0, spec(2 * MS))
    TM.timer_settime(w, p, b, 0, spec(2 * MS, 3 * MS))
    k.tick(3)
    assert pending(k, p) == 0
    assert TM.timer_gettime(w, p, a) == spec(0)
    assert TM.timer_gettime(w, p, b) == spec(2 * MS, 3 * MS)
    assert TM.timer_getoverrun(w, p, b) == 0


def test_abstime_and_settime_returns_the_old_setting(k):
    w = k.world
    _, p = proc(k)
    block(k, p, SIGUSR1)
    tid = TM.timer_create(w, p, 1, TM.Sigevent(SIGEV_SIGNAL, SIGUSR1))
    k.tick(2)
    assert TM.timer_settime(w, p, tid, abi.TIMER_ABSTIME, spec(5 * MS, MS)) == spec(0)
    assert TM.timer_gettime(w, p, tid) == spec(3 * MS, MS)
    assert TM.timer_settime(w, p, tid, 0, spec(0)) == spec(3 * MS, MS)
    assert TM.timer_gettime(w, p, tid) == spec(0)
    TM.timer_settime(w, p, tid, abi.TIMER_ABSTIME, spec(MS))  # in the past: fires at the next pass
    k.tick()
    assert pending(k, p) == int(sigmask(SIGUSR1))


def test_realtime_timer_follows_the_realtime_offset(k):
    w = k.world
    _, p = proc(k)
    block(k, p, SIGUSR1)
    C.set_realtime(w, 1000 * NS)
    tid = TM.timer_create(w, p, abi.CLOCK_REALTIME, TM.Sigevent(SIGEV_SIGNAL, SIGUSR1))
    TM.timer_settime(w, p, tid, abi.TIMER_ABSTIME, spec(1000 * NS + 2 * MS))
    k.tick()
    assert not pending(k, p)
    k.tick()
    assert pending(k, p)


def test_sigev_thread_id_signals_that_thread(k):
    w = k.world
    hp, p = proc(k)
    t = k.task(k.clone(hp, THREAD))
    block(k, t, SIGUSR1)
    tid = TM.timer_create(w, p, 1, TM.Sigevent(SIGEV_THREAD_ID, SIGUSR1, 0, k.gettid(k.handle(t))))
    TM.timer_settime(w, p, tid, 0, spec(MS))
    k.tick()
    assert int(w.tasks.sig_pending[t]) == int(sigmask(SIGUSR1)) and not pending(k, p)


def test_thread_and_process_cpu_timers(k):
    w = k.world
    hp, p = proc(k)
    t = k.task(k.clone(hp, THREAD))
    block(k, p, SIGUSR1, SIGRTMIN)
    block(k, t, SIGUSR1, SIGRTMIN)
    a = TM.timer_create(w, t, abi.CLOCK_THREAD_CPUTIME_ID, TM.Sigevent(SIGEV_SIGNAL, SIGUSR1))
    b = TM.timer_create(w, p, abi.CLOCK_PROCESS_CPUTIME_ID, TM.Sigevent(SIGEV_SIGNAL, SIGRTMIN))
    TM.timer_settime(w, t, a, 0, spec(2 * MS))
    TM.timer_settime(w, p, b, 0, spec(3 * MS))
    C.charge(w, p, 2 * MS, 0)
    k.tick()
    assert pending(k, p) == 0
    assert TM.timer_gettime(w, p, a) == spec(2 * MS)
    C.charge(w, t, 1 * MS, 1 * MS)
    k.tick()
    assert pending(k, p) == int(sigmask(SIGUSR1) | sigmask(SIGRTMIN))


def test_timers_of_a_dead_process_are_freed(k):
    w = k.world
    hp, p = proc(k)
    TM.timer_create(w, p, 1)
    TM.setitimer(w, p, ITIMER_REAL, iv(10_000))
    k.exit_group(hp, 0)
    k.tick()
    k.wait4(k.init_task, -1, 0)
    k.tick()
    assert w.timers.count == 0
    _, q = proc(k)  # may reuse the group row: it starts with no timers
    assert errno_of(TM.timer_gettime, w, q, 0) == E.EINVAL
    assert TM.getitimer(w, q, ITIMER_REAL) == iv(0)


# -- RLIMIT_CPU -------------------------------------------------------------------------------------

def test_rlimit_cpu_sends_sigxcpu_each_second_then_sigkill():
    k = Kernel(Settings(tick_ns=100 * MS, sanitize=True))
    w = k.world
    hp, p = proc(k)
    catch(k, p, SIGXCPU)
    block(k, p, SIGXCPU)
    row = rlimits.writable(w, int(w.tasks.tg[p]))
    w.rlimit_sets.rlim_cur[row, RLIMIT_CPU] = 1
    w.rlimit_sets.rlim_max[row, RLIMIT_CPU] = 3
    C.charge(w, p, NS - 1, 0)
    k.tick()
    assert not pending(k, p)
    C.charge(w, p, 1, 0)
    k.tick()
    assert pending(k, p) == int(sigmask(SIGXCPU))
    assert rlimits.get(w, int(w.tasks.tg[p]), RLIMIT_CPU) == (2, 3)  # Linux raises the soft limit
    S.sigprocmask(w, p, abi.SIG_UNBLOCK, int(sigmask(SIGXCPU)))
    k.tick()
    assert not pending(k, p)
    C.charge(w, p, NS, 0)
    k.tick()  # 2 s: the second SIGXCPU
    assert rlimits.get(w, int(w.tasks.tg[p]), RLIMIT_CPU) == (3, 3)
    C.charge(w, p, NS, 0)
    k.tick(3)  # 3 s: the hard limit
    assert w.tasks.exit_state[p] != ExitState.NONE or not w.tasks.alive[p]
    assert k.wait4(k.init_task, -1, 0).status == SIGKILL


# -- sleeps ----------------------------------------------------------------------------------------

def test_nanosleep_ends_at_its_deadline(k):
    w = k.world
    _, p = proc(k)
    assert TM.nanosleep(w, p, (0, 2_500_000)) is BLOCKED
    assert (w.tasks.run_state[p], w.tasks.block[p]) == (RunState.blocked, Block.SLEEP)
    k.tick(2)
    assert w.tasks.run_state[p] == RunState.blocked
    k.tick()
    assert (w.tasks.run_state[p], w.tasks.ret[p]) == (RunState.runSyscallExit, 0)
    assert TM.nanosleep(w, p, (0, 0)) == 0


def test_sleep_errnos_match_linux(k):
    """Host: nsec 1e9 EINVAL; clock_nanosleep on clocks 4-6 EOPNOTSUPP, 10 and the thread CPU
    clock EINVAL."""
    w = k.world
    _, p = proc(k)
    assert errno_of(TM.nanosleep, w, p, (0, NS)) == E.EINVAL
    assert errno_of(TM.nanosleep, w, p, (-1, 0)) == E.EINVAL
    assert errno_of(TM.clock_nanosleep, w, p, 1, 0, (0, -1)) == E.EINVAL
    for c in (4, 5, 6):
        assert errno_of(TM.clock_nanosleep, w, p, c, 0, (0, 1)) == errno.EOPNOTSUPP
    for c in (10, abi.CLOCK_THREAD_CPUTIME_ID, C.make_thread_cpuclock(0, 2)):
        assert errno_of(TM.clock_nanosleep, w, p, c, 0, (0, 1)) == E.EINVAL


def test_interrupted_sleep_reports_what_was_left_and_eintr_even_with_sa_restart(k):
    w = k.world
    hp, p = proc(k)
    catch(k, p, SIGUSR1, flags=SA_RESTART)
    TM.nanosleep(w, p, (0, 10 * MS))
    k.tick(3)
    S.kill(w, k.task(k.init_task), k.getpid(hp), SIGUSR1)
    k.tick()
    assert (w.tasks.run_state[p], w.tasks.ret[p]) == (RunState.runSyscallExit, -E.EINTR)
    assert w.tasks.sleep_rem_ns[p] == 6 * MS
    assert not w.tasks.sleeping[p]


def test_absolute_sleep_and_a_deadline_in_the_past(k):
    w = k.world
    _, p = proc(k)
    k.tick(5)
    assert TM.clock_nanosleep(w, p, 1, abi.TIMER_ABSTIME, (0, 4 * MS)) == 0
    assert TM.clock_nanosleep(w, p, 1, abi.TIMER_ABSTIME, (0, 7 * MS)) is BLOCKED
    k.tick(2)
    assert (w.tasks.run_state[p], w.tasks.ret[p]) == (RunState.runSyscallExit, 0)


def test_sleep_on_the_process_cpu_clock(k):
    w = k.world
    hp, p = proc(k)
    t = k.task(k.clone(hp, THREAD))
    assert TM.clock_nanosleep(w, p, abi.CLOCK_PROCESS_CPUTIME_ID, 0, (0, 3 * MS)) is BLOCKED
    k.tick(5)
    assert w.tasks.run_state[p] == RunState.blocked
    C.charge(w, t, 3 * MS, 0)
    k.tick()
    assert (w.tasks.run_state[p], w.tasks.ret[p]) == (RunState.runSyscallExit, 0)


def test_a_sleeper_stopped_past_its_deadline_returns_zero_when_continued(k):
    w = k.world
    hp, p = proc(k)
    init = k.task(k.init_task)
    TM.nanosleep(w, p, (0, 3 * MS))
    S.kill(w, init, k.getpid(hp), SIGSTOP)
    k.tick(5)
    assert w.tasks.block[p] == Block.STOPPED
    S.kill(w, init, k.getpid(hp), SIGCONT)
    k.tick()
    assert (w.tasks.run_state[p], w.tasks.ret[p]) == (RunState.runSyscallExit, 0)


def test_sigkill_ends_a_sleep(k):
    w = k.world
    hp, p = proc(k)
    TM.nanosleep(w, p, (1, 0))
    S.kill(w, k.task(k.init_task), k.getpid(hp), SIGKILL)
    k.tick()
    assert k.wait4(k.init_task, -1, 0).status == SIGKILL


def test_timers_sleeps_and_clocks_survive_checkpoint_and_restore(k):
    w = k.world
    hp, p = proc(k)
    block(k, p, SIGRTMIN, SIGPROF)  # the thread cloned below inherits the mask
    tid = TM.timer_create(w, p, 1, TM.Sigevent(SIGEV_SIGNAL, SIGRTMIN, 0))
    TM.timer_settime(w, p, tid, 0, spec(MS, 3 * MS))
    TM.setitimer(w, p, ITIMER_PROF, iv(1500))
    C.charge(w, p, 700_000, 0)
    t = k.task(k.clone(hp, THREAD))
    TM.nanosleep(w, t, (0, 4 * MS))
    k.tick(2)
    k2 = Kernel.restore(k.checkpoint())
    C.charge(w, p, 2 * MS, 0)
    C.charge(k2.world, p, 2 * MS, 0)
    for kk in (k, k2):
        kk.tick(5)
    for kk in (k, k2):
        ww = kk.world
        assert TM.timer_gettime(ww, p, tid) == TM.timer_gettime(w, p, tid)
        assert TM.getitimer(ww, p, ITIMER_PROF) == TM.getitimer(w, p, ITIMER_PROF)
        assert pending(kk, p) == pending(k, p) == int(sigmask(SIGRTMIN) | sigmask(SIGPROF))
        assert (ww.tasks.run_state[t], ww.tasks.ret[t]) == (RunState.runSyscallExit, 0)
        assert C.group_cputime(ww, int(ww.tasks.tg[p])) == (2_700_000, 0)


def _end_sleeps_naive(now_mono, now_real, rows):
    """The sleep pass as the timer system did it in numpy, one row at a time on dicts."""
    for r in rows:
        if not (r["sleeping"] and r["alive"]):
            continue
        b = r["base"]
        now = {1: now_real, 2: r["gu"] + r["gs"], 3: r["gu"]}.get(b, now_mono)
        due = now >= r["deadline"]
        if r["run_state"] == 7 and r["block"] == 3:
            if due:
                r.update(ret=0, block=0, run_state=1, sleeping=False)
        elif r["run_state"] == 7 and r["block"] == 5 and r["stop_block"] == 3:
            if due:
                r.update(ret=0, stop_block=0, stop_run_state=1, sleeping=False)
        else:
            r["rem"] = max(r["deadline"] - now, 0)
            r["sleeping"] = False


@pytest.mark.parametrize("seed", range(6))
def test_end_sleeps_matches_a_row_by_row_model(seed):
    from ecs_kernel.jit.timers import end_sleeps
    rng = np.random.default_rng(seed)
    n, ng = 400, 20
    cols = {
        "alive": rng.random(n) < 0.9, "sleeping": rng.random(n) < 0.7,
        "run_state": rng.choice(np.array([0, 1, 7, 7, 7], np.uint8), n),
        "block": rng.choice(np.array([0, 3, 3, 5], np.uint8), n),
        "stop_run_state": rng.choice(np.array([1, 7], np.uint8), n),
        "stop_block": rng.choice(np.array([0, 3], np.uint8), n),
        "base": rng.integers(0, 5, n).astype(np.uint8), "target": rng.integers(0, ng, n).astype(np.int32),
        "deadline": rng.integers(0, 2000, n).astype(np.int64),
        "ret": rng.choice(np.array([0, -512, -4, 7], np.int64), n), "rem": np.zeros(n, np.int64)}
    gu, gs = rng.integers(0, 1000, ng).astype(np.int64), rng.integers(0, 1000, ng).astype(np.int64)
    rows = [{k: v[i].item() for k, v in cols.items()} | {"gu": int(gu[cols["target"][i]]),
                                                          "gs": int(gs[cols["target"][i]])}
            for i in range(n)]
    _end_sleeps_naive(900, 1500, rows)
    for fn in (end_sleeps, end_sleeps.py_func):
        c = {k: v.copy() for k, v in cols.items()}
        fn(n, c["alive"], c["sleeping"], c["run_state"], c["block"], c["stop_run_state"],
           c["stop_block"], c["base"], c["target"], c["deadline"], c["ret"], c["rem"], gu, gs, 900, 1500)
        for k in cols:
            assert c[k].tolist() == [r[k] for r in rows], k
    # end_sleep_rows: the same pass over chosen rows (what signals ending some sleeps run)
    from ecs_kernel.jit.timers import end_sleep_rows
    live = np.flatnonzero(cols["alive"])
    for fn in (end_sleep_rows, end_sleep_rows.py_func):
        c = {k: v.copy() for k, v in cols.items()}
        fn(live, c["sleeping"], c["run_state"], c["block"], c["stop_run_state"], c["stop_block"],
           c["base"], c["target"], c["deadline"], c["ret"], c["rem"], gu, gs, 900, 1500)
        for k in cols:
            assert c[k].tolist() == [r[k] for r in rows], k


@hyp_settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_nanosleep_many_equals_nanosleep_in_order(data):
    """Sleeps of zero, short, long and saturating lengths (KTIME_MAX), bad timespecs (EINVAL),
    from running, sleeping and exiting tasks, named once each (the numpy pass) or again (one at a
    time): the same errors, the same sleepers, the same World."""
    k = Kernel(Settings())
    w = k.world
    tasks = []
    for _ in range(data.draw(st.integers(1, 4))):
        p = k.task(k.fork(k.init_task))
        tasks.append(p)
        tasks += [k.task(k.clone(w.tasks.handle(p), THREAD)) for _ in range(data.draw(st.integers(0, 2)))]
    k.tick(data.draw(st.integers(0, 3)))
    hows = [data.draw(st.sampled_from(["run", "run", "sleep", "interrupted", "exit"])) for _ in tasks]
    for t, how in zip(tasks, hows):
        if how in ("sleep", "interrupted"):
            TM.nanosleep(w, t, (0, data.draw(st.integers(2 * MS, 5 * MS))))
        if how == "interrupted":  # a handler ends the sleep: sleep_rem_ns keeps what was left
            S.sigaction(w, t, SIGUSR1, (H, 0, 0))
            S.tgkill(w, t, int(w.tasks.tids[int(w.thread_groups.leader[w.tasks.tg[t]]), 0]),
                     int(w.tasks.tids[t, 0]), SIGUSR1)
    k.tick()
    for t, how in zip(tasks, hows):
        if how == "exit" and w.tasks.exit_state[t] == ExitState.NONE:
            task_exit.exit_task(w, t, 0)
    w.flush()
    if data.draw(st.booleans()):
        who = data.draw(st.permutations(tasks))[: data.draw(st.integers(1, len(tasks)))]
    else:
        who = data.draw(st.lists(st.sampled_from(tasks), min_size=1, max_size=10))
    n = len(who)
    big = abi.KTIME_MAX // NS
    sec = data.draw(st.lists(st.sampled_from([0, 0, 0, 1, 3, -1, big - 1, big, big + 1, 2**62]),
                             min_size=n, max_size=n))
    nsec = data.draw(st.lists(st.sampled_from([0, 1, MS, NS - 1, NS, -1, 854775807, 854775808]),
                              min_size=n, max_size=n))
    blob = w.checkpoint()
    a, b = World.restore(blob), World.restore(blob)
    err, blocked = TM.nanosleep_many(a, np.array(who), np.array(sec), np.array(nsec))
    for i in range(n):
        try:
            got = TM.nanosleep(b, who[i], (sec[i], nsec[i]))
        except KernelError as e:
            assert err[i] == -e.errno
        else:
            assert err[i] == 0 and bool(blocked[i]) == (got is BLOCKED)
    assert_same_worlds(a, b, ("batched", "scalar"))
