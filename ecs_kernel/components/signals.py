"""Signal state: pending sets, masks, queued siginfo, handlers, frames (signal(7)).

Signal sets are one uint64 per row, bit ``signo - 1`` for signal ``signo`` (1..64), as Linux's
sigset_t on x86-64. The pending *bits* say which signals are pending; the *siginfo* of queued
instances are rows of the ``sigqueue`` table, on an intrusive list per task (thread-directed) or
per thread group (process-directed): a standard signal is queued once, a real-time signal once per
send, up to the receiver's RLIMIT_SIGPENDING (counted per user, like Linux's ucounts).

Signal numbers, sigaction flags, si_codes and the masks built from them (UNBLOCKABLE, STOP_MASK,
...) are in ecs_kernel/abi.py.

Invariants (:func:`check`): a signal with a queued siginfo has its pending bit set; SIGKILL and
SIGSTOP are never in a mask; ``frame_top`` chains are well formed.
Writers: systems/task_signals.py (send, dequeue, sigaction, sigprocmask, delivery, frames);
systems/task_exit.py (group kill, exit).
"""
from __future__ import annotations

import numpy as np

from ..abi import UNBLOCKABLE
from ..world import Column, Component


def sigmask(signo: int) -> np.uint64:
    return np.uint64(1) << np.uint64(signo - 1)


def mask_of(signals) -> int:
    m = 0
    for s in signals:
        m |= 1 << (s - 1)
    return m


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
    "si_errno": Column(np.int32, 0),  # what a user-supplied siginfo carried (rt_sigqueueinfo)
    "frame_top": Column(np.int32, -1),  # innermost signal frame (sigframes row)
    "altstack": Column(np.int32, -1),  # the alternate signal stack (sigaltstacks row), -1: none
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
    "q_errno": Column(np.int32, 0),  # si_errno (a user-supplied siginfo's; the kernel's are 0)
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

SigAltStacks = Component("SigAltStacks", "sigaltstacks", {
    "ss_sp": Column(np.uint64, 0),
    "ss_size": Column(np.uint64, 0),
    "ss_flags": Column(np.uint32, 0),  # SS_AUTODISARM (SS_DISABLE rows are freed)
}, doc="Alternate signal stacks (sigaltstack(2)), one row per task that set one (Linux's "
       "sas_ss_sp/sas_ss_size/sas_ss_flags); a task without one costs 4 bytes.")

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
              SigFrames, SigAltStacks, SignalHandlers]
