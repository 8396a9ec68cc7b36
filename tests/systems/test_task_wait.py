"""wait4 / waitid: the WaitOptions rules, ECHILD, blocking as data."""
import pytest

from ecs_kernel.abi import (CLD_CONTINUED, CLD_EXITED, CLD_KILLED, CLD_STOPPED, CLONE_SIGHAND,
                            CLONE_THREAD, CLONE_VM, P_ALL, P_PGID, P_PID, RunState, SIGCHLD,
                            SIGKILL, SIGUSR1, WALL, WCLONE, WCONTINUED, WEXITED, WNOHANG,
                            WNOTHREAD, WNOWAIT, WSTOPPED, WUNTRACED)
from ecs_kernel.errors import E, KernelError
from ecs_kernel.kernel import BLOCKED, Kernel
from ecs_kernel.world import Settings

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM


def errno_of(fn, *a):
    with pytest.raises(KernelError) as e:
        fn(*a)
    return e.value.errno


def zombie(k, parent, code=0, flags=SIGCHLD):
    c = k.clone(parent, flags)
    k.exit(c, code)
    k.tick()
    return c


def test_no_children_is_echild_even_with_wnohang():
    k = Kernel()
    assert errno_of(k.wait4, k.init_task, -1, 0) == E.ECHILD
    assert errno_of(k.wait4, k.init_task, -1, WNOHANG) == E.ECHILD


def test_wnohang_with_a_live_child_returns_none():
    k = Kernel()
    k.fork(k.init_task)
    assert k.wait4(k.init_task, -1, WNOHANG) is None


@pytest.mark.parametrize("options", [0x10, WNOWAIT, WEXITED << 8])
def test_wait4_rejects_unknown_options(options):
    k = Kernel()
    assert errno_of(k.wait4, k.init_task, -1, options) == E.EINVAL


def test_waitid_needs_an_event_and_a_valid_idtype():
    k = Kernel()
    k.fork(k.init_task)
    assert errno_of(k.waitid, k.init_task, P_ALL, 0, WNOHANG) == E.EINVAL
    assert errno_of(k.waitid, k.init_task, 7, 0, WEXITED) == E.EINVAL
    assert errno_of(k.waitid, k.init_task, P_PID, 0, WEXITED) == E.EINVAL
    assert errno_of(k.waitid, k.init_task, P_PGID, -1, WEXITED) == E.EINVAL


def test_wait_for_a_thread_id_is_echild():
    k = Kernel()
    p = k.fork(k.init_task)
    t = k.clone(p, THREAD)
    assert errno_of(k.wait4, k.init_task, k.gettid(t), WNOHANG) == E.ECHILD


def test_wait_for_a_grandchild_or_unknown_pid_is_echild():
    k = Kernel()
    p = k.fork(k.init_task)
    g = k.fork(p)
    assert errno_of(k.wait4, k.init_task, k.gettid(g), WNOHANG) == E.ECHILD
    assert errno_of(k.wait4, k.init_task, 4242, WNOHANG) == E.ECHILD
    assert errno_of(k.wait4, k.init_task, -4242, WNOHANG) == E.ECHILD
    assert errno_of(k.wait4, k.init_task, -(2 ** 31), 0) == E.ESRCH


def test_status_and_si_code_for_exit_and_kill():
    k = Kernel()
    a = zombie(k, k.init_task, 300)
    r = k.wait4(k.init_task, k.gettid(a) if False else 2, 0)
    assert (r.status, r.code) == ((300 & 0xFF) << 8, CLD_EXITED)
    b = k.fork(k.init_task)
    from ecs_kernel.systems.task_signals import send_group_signal
    w = k.world
    send_group_signal(w, int(w.tasks.tg[k.task(b)]), SIGKILL)
    k.tick()
    r = k.wait4(k.init_task, -1, 0)
    assert (r.pid, r.status, r.code) == (3, SIGKILL, CLD_KILLED)


def test_wnowait_leaves_the_zombie_waitable():
    k = Kernel()
    zombie(k, k.init_task, 4)
    r1 = k.waitid(k.init_task, P_ALL, 0, WEXITED | WNOWAIT)
    r2 = k.waitid(k.init_task, P_ALL, 0, WEXITED)
    assert r1 == r2 and r1.status == 4 << 8
    assert errno_of(k.waitid, k.init_task, P_ALL, 0, WEXITED | WNOHANG) == E.ECHILD


def test_clone_children_need_wclone_or_wall():
    k = Kernel()
    zombie(k, k.init_task, 1, flags=SIGUSR1)
    assert errno_of(k.wait4, k.init_task, -1, WNOHANG) == E.ECHILD
    assert k.wait4(k.init_task, -1, WCLONE | WNOHANG).pid == 2
    zombie(k, k.init_task, 1, flags=0)  # no exit signal at all: also a clone child
    zombie(k, k.init_task, 1, flags=SIGCHLD)
    assert errno_of(k.wait4, k.init_task, 4, WCLONE | WNOHANG) == E.ECHILD
    assert {k.wait4(k.init_task, -1, WALL).pid for _ in range(2)} == {3, 4}


def test_children_of_sibling_threads_are_waitable_unless_wnothread():
    k = Kernel()
    p = k.fork(k.init_task)
    t = k.clone(p, THREAD)
    zombie(k, t, 6)
    assert errno_of(k.wait4, p, -1, WNOTHREAD | WNOHANG) == E.ECHILD
    assert k.wait4(p, -1, 0).status == 6 << 8


def test_wait_by_process_group():
    k = Kernel()
    a = k.fork(k.init_task)
    b = k.fork(k.init_task)
    k.setpgid(b, 0, 0)  # b leads its own group
    k.exit(a, 1)
    k.exit(b, 2)
    k.tick()
    assert k.wait4(k.init_task, -3, 0).pid == 3
    assert k.wait4(k.init_task, 0, 0).pid == 2  # 0: the caller's own group
    assert errno_of(k.wait4, k.init_task, -3, WNOHANG) == E.ECHILD  # group 3 is gone


def test_stopped_and_continued_reports():
    k = Kernel()
    c = k.fork(k.init_task)
    w = k.world
    G = w.thread_groups
    g = int(w.tasks.tg[k.task(c)])
    G.stopped[g], G.stop_signal[g], G.stop_report[g] = True, 19, True
    assert k.wait4(k.init_task, -1, WNOHANG) is None  # WEXITED only
    r = k.wait4(k.init_task, -1, WUNTRACED)
    assert (r.status, r.code) == ((19 << 8) | 0x7F, CLD_STOPPED)
    assert k.wait4(k.init_task, -1, WUNTRACED | WNOHANG) is None  # consumed
    G.stopped[g], G.continued_report[g] = False, True
    r = k.waitid(k.init_task, P_ALL, 0, WCONTINUED | WNOWAIT)
    assert (r.status, r.code) == (0xFFFF, CLD_CONTINUED)
    assert k.waitid(k.init_task, P_ALL, 0, WCONTINUED).code == CLD_CONTINUED
    assert k.waitid(k.init_task, P_ALL, 0, WCONTINUED | WNOHANG) is None


def test_zombie_is_not_reported_to_a_wstopped_only_wait():
    # wait_task_zombie returns before clearing notask_error: Linux gives ECHILD here.
    k = Kernel()
    zombie(k, k.init_task)
    assert errno_of(k.waitid, k.init_task, P_ALL, 0, WSTOPPED | WNOHANG) == E.ECHILD


def test_blocked_wait_is_a_row_state_completed_by_the_wait_system():
    k = Kernel(Settings(sanitize=True))
    c = k.fork(k.init_task)
    assert k.wait4(k.init_task, -1, 0) is BLOCKED
    T = k.world.tasks
    assert T.run_state[0] == RunState.blocked
    k.tick()
    assert T.run_state[0] == RunState.blocked  # nothing happened
    k.exit(c, 9)
    k.tick()
    assert T.run_state[0] == RunState.runSyscallExit
    assert k.wait_result(k.init_task) == (2, 9 << 8, CLD_EXITED, 0)


def test_blocked_wait_survives_checkpoint_and_restore():
    k = Kernel()
    c = k.fork(k.init_task)
    assert k.wait4(k.init_task, k.gettid(c), 0) is BLOCKED
    k2 = Kernel.restore(k.checkpoint())
    k2.exit(c, 3)
    k2.tick()
    assert k2.wait_result(k2.init_task)[:2] == (2, 3 << 8)
