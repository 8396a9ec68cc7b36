"""ptrace links and stops (ptrace(2)): who traces a task, with which options, and the stop it is in.

Linux: ``task->ptrace`` (PT_PTRACED, PT_SEIZED, the PTRACE_O_* options), ``task->parent`` (the
tracer) beside ``real_parent``, ``task->exit_code`` (the stop's report), ``last_siginfo``,
``ptrace_message``; gVisor: kernel/ptrace.go (Task.ptraceTracer, ptraceOpts, ptraceCode,
ptraceSyscallMode, ptraceSinglestep, ptraceEventMsg).

A stopped tracee is a row: run state ``blocked`` on ``Block.PTRACE``, with ``ptrace_stop`` saying
what stopped it (a signal-delivery stop, a syscall entry or exit, an event, a group stop) and
``ptrace_code`` the report the tracer's wait sees (``status >> 8``: the signal, ``| 0x80`` for a
syscall stop under PTRACE_O_TRACESYSGOOD, ``| event << 8``). ``ptrace_report`` is set until the
tracer's wait has taken the report. The tracer resumes it (systems/ptrace.resume): the signal to
act on after a signal-delivery stop is ``ptrace_inject``, the registers the tracer set are the
task's own (its CPU context).

Invariants (:func:`check`): ``ptracer`` is -1 or a live task of another thread group; a tracer's
``ptrace_tracees`` counts the tasks it traces; ``world.index.ptraced`` counts all links; a task in
a ptrace stop is traced.
Writers: systems/ptrace.py (links, resume), systems/task_signals.py (stops), the CPU driver's
syscall stops (syscalls/dispatch.py, cpu/task_run.py).
"""
from __future__ import annotations

import numpy as np

from ..abi import Block, RunState
from ..world import Column, Component

# ptrace_stop: what a stopped tracee stopped for (Linux tells them apart by exit_code and
# last_siginfo; we keep the kind)
STOP_NONE = 0
STOP_SIGNAL = 1  # signal-delivery stop: ptrace_code is the signal
STOP_SYSCALL_ENTRY = 2
STOP_SYSCALL_EXIT = 3
STOP_EVENT = 4  # PTRACE_EVENT_* stop (SIGTRAP | event << 8), or the legacy SIGTRAP after exec
STOP_GROUP = 5  # a group stop (under PTRACE_SEIZE: PTRACE_EVENT_STOP), PTRACE_INTERRUPT's stop

# ptrace_resume: how the tracer last resumed it
RESUME_CONT = 0
RESUME_SYSCALL = 1
RESUME_SINGLESTEP = 2
RESUME_SYSEMU = 3  # PTRACE_SYSEMU: stop at the next syscall's entry and skip the call
RESUME_SYSEMU_SINGLESTEP = 4  # PTRACE_SYSEMU_SINGLESTEP: that, and step one instruction
TRACE_SYSCALLS = (RESUME_SYSCALL, RESUME_SYSEMU, RESUME_SYSEMU_SINGLESTEP)  # entry stops due
SYSEMU = (RESUME_SYSEMU, RESUME_SYSEMU_SINGLESTEP)  # the call is skipped after its entry stop
STEPPING = (RESUME_SINGLESTEP, RESUME_SYSEMU_SINGLESTEP)

PT_SEIZED = 1 << 31  # in ptrace_flags beside the PTRACE_O_* options

TaskPtrace = Component("TaskPtrace", "tasks", {
    "ptracer": Column(np.int32, -1),  # the tracing task, or -1
    "ptrace_tracees": Column(np.int32, 0),  # tasks this one traces
    "ptrace_flags": Column(np.uint32, 0),  # PTRACE_O_* | PT_SEIZED
    "ptrace_stop": Column(np.uint8, STOP_NONE),
    "ptrace_code": Column(np.int32, 0),  # the stop's report (status >> 8)
    "ptrace_report": Column(np.bool_, False),  # a stop or an exit the tracer has not waited for
    "ptrace_resume": Column(np.uint8, RESUME_CONT),
    "ptrace_inject": Column(np.uint8, 0),  # the signal to act on after a signal-delivery stop
    "ptrace_msg": Column(np.uint64, 0),  # PTRACE_GETEVENTMSG
    "ptrace_entry_done": Column(np.bool_, False),  # the entry stop of the call re-run was reported
    # an event stop (fork, exec) came inside a syscall: its exit stop follows the resume
    "ptrace_exit_due": Column(np.bool_, False),
    # a PTRACE_EVENT_* the current syscall reports once its result is in rax (clone's)
    "ptrace_event_pending": Column(np.uint8, 0),
    "ptrace_orig_ax": Column(np.int64, -1),  # orig_rax while in a syscall stop
    # the exit stop of a blocked call that ended with a restart code was reported (rax showed
    # -ERESTART*): once resumed, rax and orig_rax as the tracer left them say if it restarts
    "ptrace_restart_shown": Column(np.bool_, False),
    # JOBCTL_TRAP_NOTIFY: the group stop a seized tracee is trapped in ended (SIGCONT); it traps
    # again once it listens
    "ptrace_notify": Column(np.bool_, False),
    "ptrace_listening": Column(np.bool_, False),  # PTRACE_LISTEN: stopped, woken by a SIGCONT
    # the call re-run after its PTRACE_EVENT_SECCOMP stop: a second TRACE verdict allows it
    "seccomp_traced": Column(np.bool_, False),
    "ptrace_stop_run_state": Column(np.uint8, RunState.runApp),  # what a stop interrupted
    "ptrace_stop_block": Column(np.uint8, Block.NONE),
}, doc="ptrace: the tracer link, options and the current ptrace stop.")

COMPONENTS = [TaskPtrace]


def check(world) -> None:
    T = world.tasks
    rows = T.live_rows()
    tr = T.ptracer[rows]
    traced = rows[tr >= 0]
    assert T.alive[T.ptracer[traced]].all(), "a tracer is not a live task"
    counts = np.bincount(T.ptracer[traced], minlength=T.n)[: T.n] if len(traced) else np.zeros(T.n, np.int64)
    assert (counts[rows] == T.ptrace_tracees[rows]).all(), "ptrace_tracees does not count the tracees"
    assert world.index.ptraced == len(traced), "index.ptraced does not count the ptrace links"
    stopped = rows[(T.run_state[rows] == RunState.blocked) & (T.block[rows] == Block.PTRACE)]
    assert (T.ptracer[stopped] >= 0).all(), "a task in a ptrace stop has no tracer"


TaskPtrace.check = check
