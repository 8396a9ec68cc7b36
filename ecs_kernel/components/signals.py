"""Signal state: pending sets, masks, queued siginfo, handlers, frames (signal(7)).

Signal sets are one uint64 per row, bit ``signo - 1`` for signal ``signo`` (1..64), as Linux's
sigset_t on x86-64. The pending *bits* say which signals are pending; the *siginfo* of queued
instances are rows of the ``sigqueue`` table, on an intrusive list per task (thread-directed) or
per thread group (process-directed): a standard signal is queued once, a real-time signal once per
send, up to the receiver's RLIMIT_SIGPENDING (counted per user, like Linux's ucounts).

Invariants (:func:`check`): a signal with a queued siginfo has its pending bit set; SIGKILL and
SIGSTOP are never in a mask; ``frame_top`` chains are well formed.
Writers: systems/task_signals.py (send, dequeue, sigaction, sigprocmask, delivery, frames);
systems/task_exit.py (group kill, exit).
"""
from __future__ import annotations

import numpy as np

from ..world import Column, Component

SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL = range(1, 10)
SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT, SIGCHLD = range(10, 18)
SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGXCPU, SIGXFSZ = range(18, 26)
SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR, SIGSYS = range(26, 32)
SIGRTMIN = 32
NSIG = 64

SIG_DFL = 0
SIG_IGN = 1
SA_NOCLDSTOP = 0x1
SA_NOCLDWAIT = 0x2
SA_SIGINFO = 0x4
SA_RESTORER = 0x04000000
SA_ONSTACK = 0x08000000
SA_RESTART = 0x10000000
SA_NODEFER = 0x40000000
SA_RESETHAND = 0x80000000

# si_code values (asm-generic/siginfo.h)
SI_USER = 0
SI_KERNEL = 0x80
SI_QUEUE = -1
SI_TIMER = -2
SI_TKILL = -6
CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_TRAPPED, CLD_STOPPED, CLD_CONTINUED = range(1, 7)

# Default actions (signal(7)).
DEFAULT_IGNORE = frozenset({SIGCHLD, SIGCONT, SIGURG, SIGWINCH})
STOP_SIGNALS = frozenset({SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU})
COREDUMP_SIGNALS = frozenset({SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGXCPU,
                              SIGXFSZ, SIGSYS})


def sigmask(signo: int) -> np.uint64:
    return np.uint64(1) << np.uint64(signo - 1)


def mask_of(signals) -> int:
    m = 0
    for s in signals:
        m |= 1 << (s - 1)
    return m


UNBLOCKABLE = mask_of((SIGKILL, SIGSTOP))
STOP_MASK = mask_of(STOP_SIGNALS)
FULL_MASK = (1 << 64) - 1

TaskSigPending = Component("SigPending", "tasks", {
    "sig_pending": Column(np.uint64, 0),  # thread-directed pending signals
    "q_head": Column(np.int32, -1),  # queued siginfo (sigqueue rows)
    "q_tail": Column(np.int32, -1),
}, doc="Signals pending for one task.")

TaskSigMask = Component("SigMask", "tasks", {
    "sig_mask": Column(np.uint64, 0),
    "sig_saved_mask": Column(np.uint64, 0),  # sigsuspend: restored when the handler returns
    "has_saved_mask": Column(np.bool_, False),
}, doc="Blocked signals of each task.")

TaskSigWait = Component("SigWait", "tasks", {
    "sig_wait_set": Column(np.uint64, 0),  # sigtimedwait: the signals waited for
    "sig_deadline": Column(np.int64, -1),  # kernel-clock deadline of a timed wait, -1: none
    "stop_run_state": Column(np.uint8, 0),  # run state and block saved by a group stop
    "stop_block": Column(np.uint8, 0),
}, doc="Signal waits and what a group stop interrupted.")

TaskSigInfo = Component("SigInfo", "tasks", {
    "si_signo": Column(np.uint8, 0),  # the last signal dequeued by sigtimedwait or delivered
    "si_code": Column(np.int32, 0),
    "si_pid": Column(np.int32, 0),
    "si_uid": Column(np.uint32, 0),
    "si_value": Column(np.int64, 0),
    "frame_top": Column(np.int32, -1),  # innermost signal frame (sigframes row)
    "handling": Column(np.uint8, 0),  # the signal whose handler the task is to run now
}, doc="siginfo handed to the task, and its stack of signal frames.")

GroupSigPending = Component("GroupSigPending", "thread_groups", {
    "group_pending": Column(np.uint64, 0),  # process-directed pending signals
    "gq_head": Column(np.int32, -1),
    "gq_tail": Column(np.int32, -1),
    "curr_target": Column(np.int32, -1),  # thread that last took a process-directed signal
}, doc="Signals pending for a whole thread group.")

SigQueue = Component("SigQueue", "sigqueue", {
    "q_owner": Column(np.int32, -1),  # task row, or thread-group row when q_group
    "q_group": Column(np.bool_, False),
    "q_signo": Column(np.uint8, 0),
    "q_code": Column(np.int32, 0),
    "q_pid": Column(np.int32, 0),
    "q_uid": Column(np.uint32, 0),
    "q_value": Column(np.int64, 0),
    "q_charged": Column(np.int64, -1),  # uid charged against RLIMIT_SIGPENDING, -1: none
    "q_next": Column(np.int32, -1),
    "q_prev": Column(np.int32, -1),
}, doc="Queued siginfo, in send order per owner.", interleaved=True)

SigFrames = Component("SigFrames", "sigframes", {
    "f_task": Column(np.int32, -1),
    "f_signo": Column(np.uint8, 0),
    "f_mask": Column(np.uint64, 0),  # mask restored by rt_sigreturn
    "f_prev": Column(np.int32, -1),
}, doc="Signal frames pushed by handler delivery (a guest keeps them on its stack).",
   interleaved=True)

SignalHandlers = Component("SignalHandlers", "signal_handlers", {
    "actions": Column(np.int32, -1),  # sigactions row (components/sigactions.py)
}, doc="A task's signal handlers, shared under CLONE_SIGHAND: its sigaction(2) table.")


def check(world) -> None:
    T, G, Q = world.tasks, world.thread_groups, world.sigqueue
    rows = T.live_rows()
    assert not (T.sig_mask[rows] & np.uint64(UNBLOCKABLE)).any(), "SIGKILL or SIGSTOP is blocked"
    for q in Q.live_rows():
        owner = int(Q.q_owner[q])
        pend = G.group_pending[owner] if Q.q_group[q] else T.sig_pending[owner]
        assert int(pend) >> (int(Q.q_signo[q]) - 1) & 1, f"queued signal {Q.q_signo[q]} not pending"


TaskSigPending.check = check

COMPONENTS = [TaskSigPending, TaskSigMask, TaskSigWait, TaskSigInfo, GroupSigPending, SigQueue,
              SigFrames, SignalHandlers]
