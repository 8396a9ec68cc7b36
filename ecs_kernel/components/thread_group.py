"""ThreadGroup components: one row per thread group (a process; Linux's ``signal_struct``).

Invariants (checked by :func:`check`):
- ``leader`` is a live task of this group for as long as the group exists (a leader outlives its
  threads as a zombie; the group row is freed when the leader is released);
- ``tasks_count`` is the number of tasks on the member list (not yet released); ``active_tasks``
  counts those whose exit has not begun, so ``active_tasks <= tasks_count``;
- the group is on its process group's member list exactly once.

Writers: ``ThreadGroupCore`` by systems/task_clone.py and systems/task_exit.py;
``ProcessGroupMembership`` by systems/sessions.py and clone; ``ChildEvents`` by exit notification
and (later) group-stop notification, read by systems/task_wait.py; ``GroupStopState`` by the signal
systems, consumed by wait.
"""
from __future__ import annotations

import numpy as np

from ..world import Column, Component

I32 = np.int32

ThreadGroupCore = Component("ThreadGroupCore", "thread_groups", {
    "leader": Column(I32, -1),
    "task_head": Column(I32, -1),
    "task_tail": Column(I32, -1),
    "tasks_count": Column(I32, 0),
    "active_tasks": Column(I32, 0),
    "exiting": Column(np.bool_, False),  # exit_group (or a fatal signal) began: SIGNAL_GROUP_EXIT
    "group_exit_code": Column(I32, 0),  # wait status of the group exit
    "termination_signal": Column(np.int8, 0),  # sent to the parent when the group dies
    "did_exec": Column(np.bool_, False),  # setpgid on a child that has exec'd: EACCES
    # de_thread (signal->group_exec_task): the non-leader thread whose exec waits for the old
    # leader to be a zombie, then takes its place and its ids (systems/task_exit.promote_exec)
    "exec_task": Column(I32, -1),
    "is_session_leader": Column(np.bool_, False),
    "tty": Column(np.bool_, False),  # the console is its controlling terminal (systems/tty.py)
    "rlimits": Column(I32, -1),  # row of the (copy-on-write) rlimit set
}, doc="The thread group proper: leader, members, exit status.")

ProcessGroupMembership = Component("ProcessGroupMembership", "thread_groups", {
    "pgrp": Column(I32, -1),
    "pg_next": Column(I32, -1),
    "pg_prev": Column(I32, -1),
}, doc="Which process group the thread group is in.")

ChildSubreaper = Component("ChildSubreaper", "thread_groups", {
    "child_subreaper": Column(np.bool_, False),  # PR_SET_CHILD_SUBREAPER
    "has_child_subreaper": Column(np.bool_, False),  # an ancestor is a subreaper (inherited)
}, doc="Subreaper flags for reparenting orphans.")

ChildEvents = Component("ChildEvents", "thread_groups", {
    "child_seq": Column(np.uint32, 0),  # bumped whenever a child's state changes (wakes waiters)
}, doc="The wait queue of waiters in wait4/waitid, as a sequence number.")

GroupStopState = Component("GroupStopState", "thread_groups", {
    "stopped": Column(np.bool_, False),  # the group is in a completed group stop
    "stop_signal": Column(np.uint8, 0),
    "stop_report": Column(np.bool_, False),  # a WSTOPPED event waits for the parent
    "continued_report": Column(np.bool_, False),  # a WCONTINUED event waits for the parent
}, doc="Job-control state that wait reports (written by the signal systems).")

COMPONENTS = [ThreadGroupCore, ProcessGroupMembership, ChildSubreaper, ChildEvents, GroupStopState]


def check(world) -> None:
    G, T = world.thread_groups, world.tasks
    rows = G.live_rows()
    if len(rows) == 0:
        return
    lead = G.leader[rows]
    assert (lead >= 0).all() and T.alive[lead].all(), "a thread group's leader is not a live task"
    assert (T.tg[lead] == rows).all(), "a leader belongs to another thread group"
    assert (G.active_tasks[rows] <= G.tasks_count[rows]).all(), "active_tasks > tasks_count"
    assert (G.active_tasks[rows] >= 0).all(), "negative active_tasks"
    pg = G.pgrp[rows]
    assert (pg >= 0).all() and world.process_groups.alive[pg].all(), "thread group outside a live process group"


ThreadGroupCore.check = check
