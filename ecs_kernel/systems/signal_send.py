"""Sending signals: the part of kill(2) the lifecycle needs (SIGKILL, SIGCHLD, pdeath and
orphaned-process-group signals). Linux: kernel/signal.c ``send_signal``, ``sig_ignored``.

Preconditions: called between or inside systems of the SIGNALS/EXIT phases (writes SigPending,
GroupSigPending, ThreadGroupCore for group kills).
"""
from __future__ import annotations

from ..components import links
from ..components.signals import (DEFAULT_IGNORE, SIG_DFL, SIG_IGN, SIGKILL, SIGSTOP, sigmask)
from ..components.task import ExitState


def handler_of(world, task: int, signo: int) -> int:
    sh = int(world.tasks.sighand[task])
    if sh < 0:
        return SIG_DFL
    return int(world.signal_handlers.sa_handler[sh, signo - 1])


def flags_of(world, task: int, signo: int) -> int:
    sh = int(world.tasks.sighand[task])
    if sh < 0:
        return 0
    return int(world.signal_handlers.sa_flags[sh, signo - 1])


def sig_ignored(world, task: int, signo: int) -> bool:
    """Linux ``sig_ignored``: an unblocked signal whose action is to ignore it is dropped at send."""
    if signo in (SIGKILL, SIGSTOP):
        return False
    if int(world.tasks.sig_mask[task]) & int(sigmask(signo)):
        return False
    h = handler_of(world, task, signo)
    return h == SIG_IGN or (h == SIG_DFL and signo in DEFAULT_IGNORE)


def group_kill(world, tg: int, code: int) -> None:
    """Start a group exit with status ``code`` and SIGKILL every task of the group (zap_other_threads)."""
    G, T = world.thread_groups, world.tasks
    if not G.exiting[tg]:
        G.exiting[tg] = True
        G.group_exit_code[tg] = code
    kill = sigmask(SIGKILL)
    for t in links.members(G.task_head, tg, T.tg_next):
        if T.exit_state[t] == ExitState.NONE:
            T.sig_pending[t] |= kill


def send_group_signal(world, tg: int, signo: int) -> bool:
    """A process-directed signal. Returns False if it was dropped as ignored."""
    G, T = world.thread_groups, world.tasks
    if signo == 0:
        return True
    leader = int(G.leader[tg])
    if G.exiting[tg]:
        return True  # a dying group takes no new signals (Linux prepare_signal)
    if signo == SIGKILL:
        group_kill(world, tg, SIGKILL)
        return True
    if sig_ignored(world, leader, signo):
        return False
    G.group_pending[tg] |= sigmask(signo)
    return True


def send_task_signal(world, task: int, signo: int) -> bool:
    """A thread-directed signal (tgkill). Returns False if dropped as ignored."""
    T = world.tasks
    if signo == 0:
        return True
    tg = int(T.tg[task])
    if world.thread_groups.exiting[tg]:
        return True
    if signo == SIGKILL:
        group_kill(world, tg, SIGKILL)
        return True
    if sig_ignored(world, task, signo):
        return False
    T.sig_pending[task] |= sigmask(signo)
    return True
