"""Signal state that the lifecycle already needs: pending sets and masks.

Signal sets are one uint64 per row, bit ``signo - 1`` for signal ``signo`` (1..64). The full
signal machinery (queues of siginfo, handlers, delivery, group stop) builds on these columns.

Writers: ``SigPending`` by the senders (kill, exit_group's SIGKILL to siblings, pdeath signals,
SIGCHLD to parents) and by dequeue in the signal systems; ``SigMask`` by sigprocmask and delivery.
"""
from __future__ import annotations

import numpy as np

from ..world import Column, Component

SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL = range(1, 10)
SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT, SIGCHLD = range(10, 18)
SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU = range(18, 23)
SIGRTMIN = 32
NSIG = 64


def sigmask(signo: int) -> np.uint64:
    return np.uint64(1) << np.uint64(signo - 1)


TaskSigPending = Component("SigPending", "tasks", {
    "sig_pending": Column(np.uint64, 0),  # thread-directed pending signals
}, doc="Signals pending for one task.")

TaskSigMask = Component("SigMask", "tasks", {
    "sig_mask": Column(np.uint64, 0),
}, doc="Blocked signals of each task.")

GroupSigPending = Component("GroupSigPending", "thread_groups", {
    "group_pending": Column(np.uint64, 0),  # process-directed pending signals
}, doc="Signals pending for a whole thread group.")

COMPONENTS = [TaskSigPending, TaskSigMask, GroupSigPending]

SIG_DFL = 0
SIG_IGN = 1
SA_NOCLDSTOP = 0x1
SA_NOCLDWAIT = 0x2
SA_SIGINFO = 0x4
SA_ONSTACK = 0x08000000
SA_RESTART = 0x10000000
SA_NODEFER = 0x40000000
SA_RESETHAND = 0x80000000

SignalHandlers = Component("SignalHandlers", "signal_handlers", {
    "sa_handler": Column(np.uint64, SIG_DFL, (NSIG,)),
    "sa_flags": Column(np.uint64, 0, (NSIG,)),
    "sa_mask": Column(np.uint64, 0, (NSIG,)),
}, doc="sigaction(2) table, index signo - 1; shared under CLONE_SIGHAND.")

COMPONENTS.append(SignalHandlers)

# Signals whose default action is to ignore them (signal(7)).
DEFAULT_IGNORE = frozenset({SIGCHLD, SIGCONT, 23, 28})  # SIGURG, SIGWINCH
