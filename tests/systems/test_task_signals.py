"""Signals: send-time rules, dequeue order, delivery, default actions, stop/continue, errnos."""
import pytest

from ecs_kernel import abi
from ecs_kernel.abi import (Block, CLD_CONTINUED, CLD_STOPPED, CLONE_NEWPID, CLONE_SIGHAND,
                            CLONE_THREAD, CLONE_VM, ExitState, RLIMIT_SIGPENDING, RunState,
                            SA_NOCLDSTOP, SA_NODEFER, SA_RESETHAND, SA_RESTART, SIGALRM, SIGCHLD,
                            SIGCONT, SIGINT, SIGKILL, SIGRTMIN, SIGSEGV, SIGSTOP, SIGTERM, SIGTSTP,
                            SIGTTIN, SIGUSR1, SIGUSR2, SIG_DFL, SIG_IGN, SI_QUEUE, SI_USER,
                            WCONTINUED, WNOHANG, WUNTRACED)
from ecs_kernel.components.signals import sigmask
from ecs_kernel.components import rlimits
from ecs_kernel.errors import E, KernelError, StaleHandleError
from ecs_kernel.kernel import BLOCKED, Kernel
from ecs_kernel.systems import task_signals as S
from ecs_kernel.world import Settings

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM
H = 0x401000  # a handler address


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


def test_sigaction_rejects_bad_signals_and_kill_stop(k):
    t = k.task(k.init_task)
    w = k.world
    for sig in (0, 65, -1):
        assert errno_of(S.sigaction, w, t, sig, (H, 0, 0)) == E.EINVAL
    for sig in (SIGKILL, SIGSTOP):
        assert errno_of(S.sigaction, w, t, sig, (SIG_IGN, 0, 0)) == E.EINVAL
        assert S.sigaction(w, t, sig) == (SIG_DFL, 0, 0)  # reading is allowed
    assert S.sigaction(w, t, SIGUSR1, (H, SA_RESTART, int(sigmask(SIGKILL)) | 1)) == (0, 0, 0)
    assert S.sigaction(w, t, SIGUSR1) == (H, SA_RESTART, 1)  # SIGKILL stripped from sa_mask


def test_sigkill_and_sigstop_cannot_be_blocked(k):
    w = k.world
    t = k.task(k.init_task)
    S.sigprocmask(w, t, abi.SIG_SETMASK, (1 << 64) - 1)
    assert S.sigprocmask(w, t, abi.SIG_BLOCK, None) == ((1 << 64) - 1) & ~(int(sigmask(SIGKILL)) | int(sigmask(SIGSTOP)))
    assert errno_of(S.sigprocmask, w, t, 7, 0) == E.EINVAL


def test_signal_delivered_while_blocked_waits_until_unblocked(k):
    w = k.world
    h, p = proc(k)
    S.sigaction(w, p, SIGUSR1, (H, 0, 0))
    S.sigprocmask(w, p, abi.SIG_BLOCK, int(sigmask(SIGUSR1)))
    S.kill(w, 0, k.getpid(h), SIGUSR1)
    k.tick(3)
    assert w.tasks.handling[p] == 0 and S.sigpending(w, p) == int(sigmask(SIGUSR1))
    S.sigprocmask(w, p, abi.SIG_UNBLOCK, int(sigmask(SIGUSR1)))
    k.tick()
    assert w.tasks.handling[p] == SIGUSR1
    # The handler runs with the signal blocked (no SA_NODEFER); sigreturn restores the mask.
    assert int(w.tasks.sig_mask[p]) == int(sigmask(SIGUSR1))
    assert S.sigreturn(w, p) == SIGUSR1
    assert int(w.tasks.sig_mask[p]) == 0


def test_ignored_unblocked_signal_is_dropped_at_send_but_blocked_one_is_kept(k):
    w = k.world
    h, p = proc(k)
    S.sigaction(w, p, SIGUSR1, (SIG_IGN, 0, 0))
    S.kill(w, 0, k.getpid(h), SIGUSR1)
    assert w.thread_groups.group_pending[w.tasks.tg[p]] == 0
    S.sigprocmask(w, p, abi.SIG_BLOCK, int(sigmask(SIGUSR1)))
    S.kill(w, 0, k.getpid(h), SIGUSR1)
    assert S.sigpending(w, p) == int(sigmask(SIGUSR1))
    # Setting SIG_IGN again discards the pending signal, blocked or not (POSIX).
    S.sigaction(w, p, SIGUSR1, (SIG_IGN, 0, 0))
    assert S.sigpending(w, p) == 0


def test_default_fatal_signal_kills_the_whole_group_with_its_number(k):
    w = k.world
    h, p = proc(k)
    t = k.clone(h, THREAD)
    S.kill(w, 0, k.getpid(h), SIGTERM)
    k.tick()
    with pytest.raises(StaleHandleError):
        k.task(t)
    r = k.wait4(k.init_task, -1, 0)
    assert (r.status, r.code) == (SIGTERM, 2)  # CLD_KILLED


def test_core_signal_dies_at_delivery(k):
    w = k.world
    h, p = proc(k)
    S.force_signal(w, p, SIGSEGV)
    k.tick()
    assert k.wait4(k.init_task, -1, 0).status == SIGSEGV  # no core written: no 0x80


def test_init_ignores_signals_it_has_no_handler_for(k):
    w = k.world
    S.kill(w, 0, 1, SIGTERM)
    S.kill(w, 0, 1, SIGKILL)
    k.tick()
    assert w.tasks.exit_state[0] == ExitState.NONE and not w.thread_groups.exiting[0]


def test_namespace_init_dies_by_sigkill_only_from_outside():
    k = Kernel()
    w = k.world
    nsinit = k.task(k.clone(k.init_task, CLONE_NEWPID | SIGCHLD))
    inner = k.task(k.fork(k.handle(nsinit)))
    S.kill(w, inner, 1, SIGKILL)  # from inside: ignored
    k.tick()
    assert w.tasks.exit_state[nsinit] == ExitState.NONE
    S.kill(w, 0, 2, SIGKILL)  # from the parent namespace
    k.tick(3)
    assert k.wait4(k.init_task, 2, 0).status == SIGKILL


def test_dequeue_order_sync_first_then_lowest_task_queue_before_group(k):
    w = k.world
    h, p = proc(k)
    for sig in (SIGUSR2, SIGINT, SIGSEGV, SIGUSR1):
        S.sigaction(w, p, sig, (H, SA_NODEFER, 0))
    S.sigprocmask(w, p, abi.SIG_BLOCK, (1 << 64) - 1)
    S.send_signal(w, p, SIGINT, group=True)
    S.send_signal(w, p, SIGUSR2, group=False)
    S.send_signal(w, p, SIGSEGV, group=True)
    S.send_signal(w, p, SIGUSR1, group=True)
    order = [S.dequeue(w, p, 0) for _ in range(5)]
    assert order == [SIGUSR2, SIGSEGV, SIGINT, SIGUSR1, 0]


def test_standard_signals_queue_once_realtime_ones_queue_each_send(k):
    w = k.world
    h, p = proc(k)
    S.sigprocmask(w, p, abi.SIG_BLOCK, (1 << 64) - 1)
    for v in range(3):
        S.sigqueueinfo(w, 0, k.getpid(h), SIGUSR1, SI_QUEUE, v)
        S.sigqueueinfo(w, 0, k.getpid(h), SIGRTMIN + 1, SI_QUEUE, v)
    got = []
    while (s := S.dequeue(w, p, 0)):
        got.append((s, int(w.tasks.si_value[p]), int(w.tasks.si_code[p]), int(w.tasks.si_pid[p])))
    assert got == [(SIGUSR1, 0, SI_QUEUE, 1)] + [(SIGRTMIN + 1, v, SI_QUEUE, 1) for v in range(3)]


def test_realtime_queue_full_is_eagain_for_sigqueue_but_kill_still_sets_pending(k):
    w = k.world
    h, p = proc(k)
    row = rlimits.writable(w, int(w.tasks.tg[p]))
    w.rlimit_sets.rlim_cur[row, RLIMIT_SIGPENDING] = 2
    S.sigprocmask(w, p, abi.SIG_BLOCK, (1 << 64) - 1)
    pid = k.getpid(h)
    S.sigqueueinfo(w, 0, pid, SIGRTMIN, SI_QUEUE, 1)
    S.sigqueueinfo(w, 0, pid, SIGRTMIN, SI_QUEUE, 2)
    assert errno_of(S.sigqueueinfo, w, 0, pid, SIGRTMIN, SI_QUEUE, 3) == E.EAGAIN
    S.kill(w, 0, pid, SIGRTMIN + 2)  # SI_USER: info lost, signal kept
    assert S.sigpending(w, p) == int(sigmask(SIGRTMIN)) | int(sigmask(SIGRTMIN + 2))


def test_sigqueueinfo_with_a_kernel_code_is_eperm(k):
    w = k.world
    h, p = proc(k)
    assert errno_of(S.sigqueueinfo, w, 0, k.getpid(h), SIGUSR1, 0, 0) == E.EPERM


def test_kill_errnos(k):
    w = k.world
    assert errno_of(S.kill, w, 0, 4242, SIGUSR1) == E.ESRCH
    assert errno_of(S.kill, w, 0, 1, 65) == E.EINVAL
    assert errno_of(S.kill, w, 0, -77, SIGUSR1) == E.ESRCH
    assert errno_of(S.kill, w, 0, -1, SIGUSR1) == E.ESRCH  # nobody but init and us
    assert errno_of(S.tgkill, w, 0, 0, 1, SIGUSR1) == E.EINVAL
    assert errno_of(S.tgkill, w, 0, 1, 0, SIGUSR1) == E.EINVAL
    h, p = proc(k)
    assert errno_of(S.tgkill, w, 0, 1, k.gettid(h), SIGUSR1) == E.ESRCH  # not in process 1
    S.kill(w, 0, k.getpid(h), 0)  # signal 0: existence check only


def test_unprivileged_sender_needs_a_matching_uid():
    k = Kernel(uid=1000)
    w = k.world
    a = k.task(k.fork(k.init_task))
    b = k.task(k.fork(k.init_task))
    w.tasks.ruid[b] = w.tasks.euid[b] = w.tasks.suid[b] = 2000
    assert errno_of(S.kill, w, a, 3, SIGUSR1) == E.EPERM
    S.kill(w, a, 3, SIGCONT)  # SIGCONT within the session is allowed
    w.tasks.suid[b] = 1000
    S.kill(w, a, 3, SIGUSR1)


def test_kill_minus_one_reaches_everyone_but_init_and_the_caller(k):
    w = k.world
    a = k.task(k.fork(k.init_task))
    b = k.task(k.fork(k.init_task))
    S.kill(w, a, -1, SIGTERM)
    k.tick()
    assert w.tasks.exit_state[a] == ExitState.NONE and w.tasks.exit_state[0] == ExitState.NONE
    assert w.tasks.exit_state[b] != ExitState.NONE  # b, a sibling of the caller, got it
    assert k.wait4(k.init_task, -1, 0).pid == 3


def test_stop_and_continue_with_wait_reports(k):
    w = k.world
    h, p = proc(k)
    t = k.task(k.clone(h, THREAD))
    S.kill(w, 0, 2, SIGSTOP)
    k.tick()
    for x in (p, t):
        assert w.tasks.block[x] == Block.STOPPED
    r = k.wait4(k.init_task, -1, WUNTRACED | WNOHANG)
    assert (r.status, r.code) == ((SIGSTOP << 8) | 0x7F, CLD_STOPPED)
    # A stop signal discarded pending SIGCONT; SIGCONT discards pending stop signals.
    S.kill(w, 0, 2, SIGCONT)
    assert w.tasks.block[p] == Block.NONE and w.tasks.run_state[p] == RunState.runApp
    r = k.wait4(k.init_task, -1, WCONTINUED | WNOHANG)
    assert (r.status, r.code) == (0xFFFF, CLD_CONTINUED)


def test_stopped_task_resumes_its_blocked_wait_after_sigcont(k):
    w = k.world
    h, p = proc(k)
    c = k.fork(h)
    assert k.wait4(h, -1, 0) is BLOCKED
    S.kill(w, 0, 2, SIGSTOP)
    k.tick()
    assert w.tasks.block[p] == Block.STOPPED
    S.kill(w, 0, 2, SIGCONT)
    assert w.tasks.block[p] == Block.WAIT
    k.exit(c, 4)
    k.tick()
    assert k.wait_result(h)[:2] == (3, 4 << 8)


def test_parent_with_sa_nocldstop_gets_no_sigchld_for_stops(k):
    w = k.world
    pa, prow = proc(k)
    S.sigaction(w, prow, SIGCHLD, (H, SA_NOCLDSTOP, 0))
    c, crow = proc(k, pa)
    S.sigprocmask(w, prow, abi.SIG_BLOCK, int(sigmask(SIGCHLD)))
    S.kill(w, 0, k.getpid(c), SIGSTOP)
    k.tick()
    assert S.sigpending(w, prow) == 0
    S.sigaction(w, prow, SIGCHLD, (H, 0, 0))
    S.kill(w, 0, k.getpid(c), SIGCONT)
    assert S.sigpending(w, prow) == int(sigmask(SIGCHLD))


def test_sigchld_for_a_stop_carries_the_stop_signal_and_for_a_continue_sigcont():
    # do_notify_parent_cldstop: si_status is the stop signal (CLD_STOPPED) or SIGCONT
    # (CLD_CONTINUED); si_pid and si_uid are the child's.
    k = Kernel(Settings(sanitize=True), uid=1000)
    w = k.world
    pa, prow = proc(k)
    S.sigprocmask(w, prow, S.SIG_BLOCK, int(sigmask(SIGCHLD)))
    c, crow = proc(k, pa)
    k.clone(c, THREAD)  # a group stop reports once, for the group
    k.setpgid(c, 0, 0)  # a group of its own, its parent's outside: not orphaned (SIGTTIN stops)
    pid = k.getpid(c)
    T = w.tasks

    def take():
        assert S.sigtimedwait(w, prow, int(sigmask(SIGCHLD)), 0) == SIGCHLD
        return int(T.si_code[prow]), int(T.si_pid[prow]), int(T.si_uid[prow]), int(T.si_value[prow])

    for stop in (SIGSTOP, SIGTTIN):
        S.kill(w, prow, pid, stop)
        k.tick()
        assert take() == (CLD_STOPPED, pid, 1000, stop)
        S.kill(w, prow, pid, SIGCONT)
        assert take() == (CLD_CONTINUED, pid, 1000, SIGCONT)
        assert S.sigpending(w, prow) == 0


def test_tstp_to_an_orphaned_group_is_discarded(k):
    w = k.world
    h, p = proc(k)
    k.setsid(h)  # its own session and group, parent (init) outside: orphaned
    S.kill(w, 0, k.getpid(h), SIGTSTP)
    k.tick()
    assert not w.thread_groups.stopped[w.tasks.tg[p]]


def test_handler_interrupts_a_blocked_wait_with_eintr_or_restart(k):
    w = k.world
    for flags, ret in ((0, -E.EINTR), (SA_RESTART, -abi.ERESTARTSYS)):
        h, p = proc(k)
        k.fork(h)
        S.sigaction(w, p, SIGUSR1, (H, flags, 0))
        assert k.wait4(h, -1, 0) is BLOCKED
        S.kill(w, 0, k.getpid(h), SIGUSR1)
        k.tick()
        assert w.tasks.run_state[p] == RunState.runSyscallExit and w.tasks.ret[p] == ret
        assert w.tasks.handling[p] == SIGUSR1


def test_sa_resethand_and_sa_nodefer(k):
    w = k.world
    h, p = proc(k)
    S.sigaction(w, p, SIGUSR1, (H, SA_RESETHAND | SA_NODEFER, 0))
    S.kill(w, 0, k.getpid(h), SIGUSR1)
    k.tick()
    assert w.tasks.handling[p] == SIGUSR1 and int(w.tasks.sig_mask[p]) == 0
    assert S.sigaction(w, p, SIGUSR1)[0] == SIG_DFL


def test_sigsuspend_returns_eintr_and_restores_the_mask_after_the_handler(k):
    w = k.world
    h, p = proc(k)
    S.sigaction(w, p, SIGUSR1, (H, 0, 0))
    S.sigprocmask(w, p, abi.SIG_SETMASK, int(sigmask(SIGUSR1)))
    assert S.sigsuspend(w, p, 0) is BLOCKED
    k.tick()
    assert w.tasks.run_state[p] == RunState.blocked
    S.kill(w, 0, k.getpid(h), SIGUSR1)
    k.tick()
    assert w.tasks.ret[p] == -E.EINTR
    S.sigreturn(w, p)
    assert int(w.tasks.sig_mask[p]) == int(sigmask(SIGUSR1))


def test_sigtimedwait_takes_a_blocked_signal_or_times_out(k):
    w = k.world
    h, p = proc(k)
    S.sigprocmask(w, p, abi.SIG_BLOCK, int(sigmask(SIGUSR1)) | int(sigmask(SIGALRM)))
    assert errno_of(S.sigtimedwait, w, p, int(sigmask(SIGUSR1)), 0) == E.EAGAIN
    assert S.sigtimedwait(w, p, int(sigmask(SIGUSR1)), None) is BLOCKED
    S.kill(w, 0, k.getpid(h), SIGUSR1)  # blocked before the wait: not fatal, taken by the wait
    k.tick()
    assert (w.tasks.run_state[p], w.tasks.ret[p]) == (RunState.runSyscallExit, SIGUSR1)
    assert w.tasks.si_code[p] == SI_USER and w.tasks.si_pid[p] == 1
    assert S.sigtimedwait(w, p, int(sigmask(SIGALRM)), 3 * w.settings.tick_ns) is BLOCKED
    k.tick(2)
    assert w.tasks.run_state[p] == RunState.blocked
    k.tick(2)
    assert w.tasks.ret[p] == -E.EAGAIN


def test_process_signal_goes_to_a_thread_that_does_not_block_it(k):
    w = k.world
    h, p = proc(k)
    t = k.task(k.clone(h, THREAD))
    S.sigaction(w, p, SIGUSR1, (H, 0, 0))
    S.sigprocmask(w, p, abi.SIG_BLOCK, int(sigmask(SIGUSR1)))
    S.kill(w, 0, k.getpid(h), SIGUSR1)
    k.tick()
    assert w.tasks.handling[t] == SIGUSR1 and w.tasks.handling[p] == 0


def test_queued_signals_are_freed_with_their_task(k):
    w = k.world
    h, p = proc(k)
    S.sigprocmask(w, p, abi.SIG_BLOCK, (1 << 64) - 1)
    for v in range(4):
        S.sigqueueinfo(w, 0, k.getpid(h), SIGRTMIN, SI_QUEUE, v)
    assert w.sigqueue.count == 4
    S.kill(w, 0, k.getpid(h), SIGKILL)
    k.tick()
    k.wait4(k.init_task, -1, 0)
    assert w.sigqueue.count == 0 and w.index.sigpending_by_uid == {}


def test_sigcont_discards_pending_stop_signals_and_stop_signals_discard_sigcont(k):
    w = k.world
    h, p = proc(k)
    S.sigprocmask(w, p, abi.SIG_BLOCK, int(sigmask(SIGTSTP)) | int(sigmask(SIGCONT)))
    S.sigaction(w, p, SIGCONT, (H, 0, 0))
    S.kill(w, 0, k.getpid(h), SIGTSTP)
    assert S.sigpending(w, p) == int(sigmask(SIGTSTP))
    S.kill(w, 0, k.getpid(h), SIGCONT)
    assert S.sigpending(w, p) == int(sigmask(SIGCONT))
    S.kill(w, 0, k.getpid(h), SIGTSTP)
    assert S.sigpending(w, p) == int(sigmask(SIGTSTP))


def test_blocked_process_signal_stays_pending_while_another_is_delivered(k):
    w = k.world
    h, p = proc(k)
    S.sigaction(w, p, SIGUSR1, (H, 0, 0))
    S.sigaction(w, p, SIGUSR2, (H, 0, 0))
    S.sigprocmask(w, p, abi.SIG_BLOCK, int(sigmask(SIGUSR1)))
    S.kill(w, 0, k.getpid(h), SIGUSR1)  # process-directed, blocked
    S.tgkill(w, 0, k.getpid(h), k.getpid(h), SIGUSR2)  # thread-directed, deliverable
    k.tick()
    assert w.tasks.handling[p] == SIGUSR2
    assert S.sigpending(w, p) == int(sigmask(SIGUSR1))


# -- signals from outside every guest namespace (the host: cpu/host_signals.py) ----------------------

def test_a_signal_from_outside_reaches_every_process_of_the_group_as_si_user_from_pid_0(k):
    w = k.world
    a, pa = proc(k)
    k.setpgid(a, 0, 0)
    _b, pb = proc(k, a)  # in a's group
    _c, pc = proc(k)  # in init's group
    for t in (pa, pb, pc):
        S.sigprocmask(w, t, abi.SIG_BLOCK, int(sigmask(SIGUSR1)))
    pg = int(w.thread_groups.pgrp[int(w.tasks.tg[pa])])
    assert S.kill_pgrp_from_outside(w, pg, SIGUSR1)
    for t in (pa, pb):
        assert S.dequeue(w, t, 0) == SIGUSR1
        assert (w.tasks.si_code[t], w.tasks.si_pid[t], w.tasks.si_uid[t]) == (SI_USER, 0, 0)
    assert S.dequeue(w, pc, 0) == 0
    S.sigaction(w, pb, SIGINT, (H, 0, 0))
    assert S.kill_pgrp_from_outside(w, pg, SIGINT)  # no handler in a: it dies now; b handles it
    G = w.thread_groups
    assert G.exiting[int(w.tasks.tg[pa])] and not G.exiting[int(w.tasks.tg[pb])]
    assert not S.kill_pgrp_from_outside(w, pg, abi.SIGWINCH)  # ignored by default: dropped


def test_default_action_kills_is_a_default_fatal_signal_the_task_does_not_block(k):
    w = k.world
    _h, p = proc(k)
    assert S.default_action_kills(w, p, SIGINT) and S.default_action_kills(w, p, abi.SIGQUIT)
    assert not S.default_action_kills(w, p, abi.SIGWINCH)  # default: ignore
    assert not S.default_action_kills(w, p, SIGTSTP)  # default: stop
    S.sigaction(w, p, SIGTERM, (SIG_IGN, 0, 0))
    S.sigaction(w, p, SIGUSR1, (H, 0, 0))
    S.sigprocmask(w, p, abi.SIG_BLOCK, int(sigmask(SIGUSR2)))
    assert not any(S.default_action_kills(w, p, s) for s in (SIGTERM, SIGUSR1, SIGUSR2))
    assert not S.default_action_kills(w, k.task(k.init_task), SIGINT)  # init drops it
