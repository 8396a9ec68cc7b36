"""The Kernel facade: signal, futex, timer and clock calls through handles."""
import pytest

from ecs_kernel import abi
from ecs_kernel.abi import (Block, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, ITIMER_REAL, RunState,
                            SIG_BLOCK, SIG_UNBLOCK, SIGKILL, SIGUSR1, SIGUSR2)
from ecs_kernel.components.signals import sigmask
from ecs_kernel.errors import E, KernelError, StaleHandleError
from ecs_kernel.kernel import BLOCKED, Kernel, Settings
from ecs_kernel.systems import futex
from ecs_kernel.systems.timers import ItimerVal

HANDLER = 0x401000


@pytest.fixture
def k():
    return Kernel(Settings(sanitize=True))


def errno_of(fn, *a, **kw):
    with pytest.raises(KernelError) as ei:
        fn(*a, **kw)
    return ei.value.errno


def test_a_caught_signal_runs_its_handler_with_the_mask_and_sigreturn_restores_it(k):
    init = k.init_task
    child = k.fork(init)
    k.sigaction(child, SIGUSR1, (HANDLER, 0, int(sigmask(SIGUSR2))))
    k.kill(init, k.getpid(child), SIGUSR1)
    k.tick()
    T = k.world.tasks
    row = k.task(child)
    assert int(T.handling[row]) == SIGUSR1
    assert int(T.sig_mask[row]) == int(sigmask(SIGUSR1) | sigmask(SIGUSR2))
    assert k.sigreturn(child) == SIGUSR1
    assert int(T.sig_mask[row]) == 0


def test_a_blocked_signal_stays_pending_until_unblocked(k):
    init = k.init_task
    child = k.fork(init)
    k.sigaction(child, SIGUSR1, (HANDLER, 0, 0))
    assert k.sigprocmask(child, SIG_BLOCK, int(sigmask(SIGUSR1))) == 0
    k.tkill(init, k.gettid(child), SIGUSR1)
    k.tick()
    assert k.sigpending(child) == int(sigmask(SIGUSR1))
    assert int(k.world.tasks.handling[k.task(child)]) == 0
    k.sigprocmask(child, SIG_UNBLOCK, int(sigmask(SIGUSR1)))
    k.tick()
    assert k.sigpending(child) == 0
    assert int(k.world.tasks.handling[k.task(child)]) == SIGUSR1


def test_sigtimedwait_takes_a_signal_sent_later_and_times_out_with_eagain(k):
    init = k.init_task
    child = k.fork(init)
    k.sigprocmask(child, SIG_BLOCK, int(sigmask(SIGUSR2)))
    assert k.sigtimedwait(child, int(sigmask(SIGUSR2))) is BLOCKED
    k.kill(init, k.getpid(child), SIGUSR2)
    k.tick()
    assert k.syscall_result(child) == SIGUSR2
    tick = k.world.settings.tick_ns
    assert k.sigtimedwait(child, int(sigmask(SIGUSR2)), 2 * tick) is BLOCKED
    k.tick(4)
    assert k.syscall_result(child) == -E.EAGAIN


def test_sigsuspend_ends_with_eintr_when_a_handler_runs(k):
    init = k.init_task
    child = k.fork(init)
    k.sigaction(child, SIGUSR1, (HANDLER, 0, 0))
    k.sigprocmask(child, SIG_BLOCK, int(sigmask(SIGUSR1)))
    assert k.sigsuspend(child, 0) is BLOCKED
    k.kill(init, k.getpid(child), SIGUSR1)
    k.tick()
    assert k.syscall_result(child) == -E.EINTR
    k.sigreturn(child)  # the mask saved by sigsuspend comes back
    assert int(k.world.tasks.sig_mask[k.task(child)]) == int(sigmask(SIGUSR1))


def test_signal_errnos_and_sigkill_through_the_facade(k):
    init = k.init_task
    child = k.fork(init)
    assert errno_of(k.sigaction, child, 0, (HANDLER, 0, 0)) == E.EINVAL
    assert errno_of(k.sigaction, child, 65, (HANDLER, 0, 0)) == E.EINVAL
    assert errno_of(k.sigaction, child, SIGKILL, (HANDLER, 0, 0)) == E.EINVAL
    assert errno_of(k.kill, init, 4242, SIGUSR1) == E.ESRCH
    assert errno_of(k.kill, init, k.getpid(child), 65) == E.EINVAL
    k.kill(init, k.getpid(child), SIGKILL)
    k.tick()
    res = k.wait4(init, -1, 0)
    assert res.status == SIGKILL
    with pytest.raises(StaleHandleError):
        k.kill(child, 1, 0)


def test_futex_wait_and_wake_between_threads(k):
    init = k.init_task
    futex.install_sim_memory(k.world, k.task(init))
    a = k.clone(init, CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)
    addr = 0x10000  # SimMemory's private words start here
    assert k.futex(a, addr, abi.FUTEX_WAIT | abi.FUTEX_PRIVATE_FLAG, 0) is BLOCKED
    assert errno_of(k.futex, init, addr, abi.FUTEX_WAIT | abi.FUTEX_PRIVATE_FLAG, 1) == E.EAGAIN
    assert k.futex(init, addr, abi.FUTEX_WAKE | abi.FUTEX_PRIVATE_FLAG, 1) == 1
    assert k.world.tasks.run_state[k.task(a)] == RunState.runSyscallExit
    assert k.syscall_result(a) == 0


def test_itimer_real_sends_sigalrm_on_the_kernel_clock(k):
    init = k.init_task
    child = k.fork(init)
    k.sigaction(child, 14, (HANDLER, 0, 0))
    tick_us = k.world.settings.tick_ns // 1000
    k.setitimer(child, ITIMER_REAL, ItimerVal((0, 0), (0, 3 * tick_us)))
    k.tick(2)
    assert int(k.world.tasks.handling[k.task(child)]) == 0
    k.tick(2)
    assert int(k.world.tasks.handling[k.task(child)]) == 14
    assert k.getitimer(child, ITIMER_REAL).value == (0, 0)


def test_nanosleep_blocks_for_its_ticks(k):
    child = k.fork(k.init_task)
    tick = k.world.settings.tick_ns
    assert k.nanosleep(child, (0, 3 * tick)) is BLOCKED
    row = k.task(child)
    k.tick(2)
    assert k.world.tasks.block[row] == Block.SLEEP
    k.tick(2)
    assert k.world.tasks.run_state[row] != RunState.blocked
    assert k.syscall_result(child) == 0


def test_child_cpu_time_is_joined_on_wait(k):
    from ecs_kernel.systems import cpu_clocks
    init = k.init_task
    child = k.fork(init)
    cpu_clocks.charge(k.world, k.task(child), 5_000_000, 1_000_000)
    k.exit_group(child, 0)
    k.tick()
    k.wait4(init, -1, 0)
    ru = k.getrusage(init, -1)  # RUSAGE_CHILDREN
    assert ru.utime_ns == 5_000_000 and ru.stime_ns == 1_000_000
