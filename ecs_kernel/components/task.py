"""Task components: one row per task (gVisor's ``Task``, Linux's ``task_struct``).

Invariants (checked by :func:`check`):
- every live task is in exactly one live thread group and on that group's member list;
- ``parent`` is a live task or -1 (only the root namespace's init has no parent); a thread group
  leader is on its parent's ``child_head`` list, a non-leader is on no children list (as in Linux:
  only leaders are children; a thread's ``parent`` is its leader's);
- ``exit_state`` only moves forward: NONE -> INITIATED -> ZOMBIE -> DEAD (DEAD rows are freed at
  the next sync point).

Writers: ``TaskTree`` and ``ThreadGroupMembership`` by systems/task_clone.py (create) and
systems/task_exit.py (reparent, release); ``RunState`` by every system that moves a task between
run states, ``guest`` by cpu/task_run.py; ``ExitState`` by systems/task_exit.py (and
:func:`begin_exit`); ``WaitState`` by systems/task_wait.py;
``TaskCreds`` and ``TaskCaps`` by clone, exec and systems/task_identity.py; ``TaskSched`` by
clone and systems/task_sched.py; ``TaskIDs`` by clone and release; ``CpuAffinity`` by clone and
sched_setaffinity (syscalls/sys_sched.py).
"""
from __future__ import annotations

import numpy as np

from ..abi import CAP_FULL_SET, DEFAULT_TIMER_SLACK_NS, SCHED_NORMAL, Block, ExitState, RunState
from ..world import Column, Component
from .links import members


def state_name(cls, value: int) -> str:
    """The attribute name of ``value`` in ``cls`` (``state_name(RunState, 7)`` is ``"blocked"``)."""
    for k, v in vars(cls).items():
        if not k.startswith("_") and v == value:
            return k
    return str(value)


I32 = np.int32

TaskTree = Component("TaskTree", "tasks", {
    "parent": Column(I32, -1),      # task row of the parent (real_parent)
    "child_head": Column(I32, -1),  # first child (a thread group leader) of this task
    "child_tail": Column(I32, -1),
    "sib_next": Column(I32, -1),    # links in the parent's children list
    "sib_prev": Column(I32, -1),
}, doc="The process tree: parents and children lists.")

ThreadGroupMembership = Component("ThreadGroupMembership", "tasks", {
    "tg": Column(I32, -1),
    "tg_next": Column(I32, -1),
    "tg_prev": Column(I32, -1),
}, doc="Which thread group a task belongs to, and the group's member list links.")

TaskIDs = Component("TaskIDs", "tasks", {
    "ns": Column(I32, -1),  # the PID namespace the task lives in (its deepest)
}, doc="Thread ids: ``tids[row, level]`` is the task's id in its namespace's ancestor at that level "
       "(added by components/pidns.py with the World's namespace depth).")

RunStateC = Component("RunState", "tasks", {
    "run_state": Column(np.uint8, RunState.runApp),
    "block": Column(np.uint8, Block.NONE),
    "ret": Column(np.int64, 0),  # result of the last syscall (>= 0) or -errno
    # A guest: its CPU driver (cpu/task_run.py) delivers its signals, building each handler's
    # frame in guest memory; the signal system passes it by.
    "guest": Column(np.bool_, False),
}, doc="Named run state, what a blocked task waits for, and who runs it.")

ExitStateC = Component("ExitState", "tasks", {
    "exit_state": Column(np.uint8, ExitState.NONE),
    "exit_code": Column(I32, 0),  # wait status as Linux encodes it: code << 8, or the signal
}, doc="Exit progress of each task.")

def begin_exit(world, t) -> None:
    """The first step of every exit (exit, exit_group, a fatal signal's delivery): the task (or
    array of tasks) leaves any wait for runExit; systems/task_exit.py's exit system takes it from
    there. Here, beside its columns, because signal delivery starts exits too."""
    T = world.tasks
    T.exit_state[t] = ExitState.INITIATED
    T.run_state[t] = RunState.runExit
    T.block[t] = Block.NONE


WaitState = Component("WaitState", "tasks", {
    "wait_idtype": Column(np.uint8, 0),  # P_ALL / P_PID / P_PGID of a blocked wait
    "wait_id": Column(I32, 0),  # the pid or pgid, in the waiter's namespace
    "wait_options": Column(np.uint32, 0),
    "wait_seq": Column(np.uint32, 0),  # the thread group's child_seq when the wait last looked
    "wait_status": Column(I32, 0),  # result of a completed wait: status, si_code, uid
    "wait_code": Column(np.uint8, 0),
    "wait_uid": Column(np.uint32, 0),
    "wait_utime": Column(np.uint64, 0),  # the reaped child's CPU time (wait4's rusage), ns
    "wait_stime": Column(np.uint64, 0),
    "wait_maxrss": Column(np.int64, 0),  # and its maxrss (bytes), page faults and switches
    "wait_min_flt": Column(np.int64, 0),
    "wait_nvcsw": Column(np.int64, 0),
    "wait_nivcsw": Column(np.int64, 0),
}, doc="A wait4/waitid in progress (blocked) and its result.")

TaskCreds = Component("TaskCreds", "tasks", {
    "ruid": Column(np.uint32, 0), "euid": Column(np.uint32, 0), "suid": Column(np.uint32, 0),
    "fsuid": Column(np.uint32, 0),
    "rgid": Column(np.uint32, 0), "egid": Column(np.uint32, 0), "sgid": Column(np.uint32, 0),
    "fsgid": Column(np.uint32, 0),
    # the supplementary group list: an index into world.index.group_lists (0: none), interned
    # by systems/task_identity.set_groups
    "groups": Column(np.int32, 0),
}, doc="Real, effective, saved and filesystem user and group ids and the supplementary groups "
       "(credentials(7)).")

TaskCaps = Component("TaskCaps", "tasks", {
    # capability sets, one bit per CAP_* (capabilities(7)); the bounding set starts full
    "cap_effective": Column(np.uint64, 0),
    "cap_permitted": Column(np.uint64, 0),
    "cap_inheritable": Column(np.uint64, 0),
    "cap_bset": Column(np.uint64, CAP_FULL_SET),
    "cap_ambient": Column(np.uint64, 0),
    "securebits": Column(np.uint32, 0),  # SECBIT_* (PR_SET_KEEPCAPS, PR_SET_SECUREBITS)
    "no_new_privs": Column(np.bool_, False),  # PR_SET_NO_NEW_PRIVS: kept by clone and exec
    # bumped by every commit of new credentials (commit_creds makes a new struct cred): a file
    # remembers its opener's (file->f_cred), linkat(AT_EMPTY_PATH) compares
    "cred_seq": Column(np.uint32, 0),
}, doc="Capability sets, securebits and no_new_privs: the rest of a task's credentials.")

TaskSched = Component("TaskSched", "tasks", {
    "nice": Column(np.int8, 0),  # -20..19 (setpriority, sched_setattr): Linux's static_prio
    "sched_policy": Column(np.uint8, SCHED_NORMAL),
    "rt_priority": Column(np.uint8, 0),  # 1..99 under SCHED_FIFO/SCHED_RR, else 0
    "sched_reset_on_fork": Column(np.bool_, False),
    "dl_runtime": Column(np.uint64, 0),  # SCHED_DEADLINE parameters (ns)
    "dl_deadline": Column(np.uint64, 0),
    "dl_period": Column(np.uint64, 0),
    "sched_slice": Column(np.uint64, 0),  # a fair task's custom slice (se.slice, ns); 0: the base
    "ioprio": Column(np.uint16, 0),  # ioprio_set(2): class << 13 | data; 0 is IOPRIO_CLASS_NONE
}, doc="Scheduling attributes (sched(7)) and the I/O priority: stored, inherited and reported; "
       "the run loop does not order tasks by them.")

ThreadState = Component("ThreadState", "tasks", {
    "clear_child_tid": Column(np.uint64, 0),  # CLONE_CHILD_CLEARTID / set_tid_address
    "pdeath_signal": Column(np.uint8, 0),  # PR_SET_PDEATHSIG
    # PR_SET_TIMERSLACK: the current slack (0 under a real-time or deadline policy) and the one
    # PR_SET_TIMERSLACK(0) goes back to (the creator's current slack when the task was made).
    # Stored and reported: the kernel's timers do not coalesce.
    "timer_slack_ns": Column(np.uint64, DEFAULT_TIMER_SLACK_NS),
    "default_timer_slack_ns": Column(np.uint64, DEFAULT_TIMER_SLACK_NS),
    "uts": Column(I32, -1),  # UTS namespace row
    "vfork_parent": Column(I32, -1),  # CLONE_VFORK: the parent held until this child execs or exits
    "comm": Column(np.dtype("S16"), b""),  # the task's name (exec's basename, PR_SET_NAME), <= 15
    "personality": Column(np.uint32, 0),  # personality(2): PER_LINUX and its flags
    "start_ns": Column(np.int64, 0),  # kernel time it was created (/proc/<pid>/stat's starttime)
}, doc="Per-thread odds and ends that clone, prctl, exit and /proc use.")

CpuAffinity = Component("CpuAffinity", "tasks", {
    # bit i: the task may run on CPU i (< Settings.cpus); create_init sets every CPU, clone copies
    "cpus_allowed": Column(np.uint64, 0),
}, doc="The CPUs each task may run on (sched_setaffinity(2)).")


def all_cpus(world) -> int:
    """The affinity mask of every CPU the World models."""
    return (1 << world.settings.cpus) - 1


def task_cpu(world, r: int) -> int:
    """Linux task_cpu(): the CPU task ``r`` runs on. Guest tasks take turns on one host thread,
    so this is a convention: the lowest CPU of its affinity mask. getcpu(2), rseq's cpu_id and
    /proc/<pid>/stat's processor all say it; a new mask that changes it is a migration."""
    allowed = int(world.tasks.cpus_allowed[r])
    return (allowed & -allowed).bit_length() - 1 if allowed else 0


Rseq = Component("Rseq", "tasks", {
    "rseq_addr": Column(np.uint64, 0),  # the registered struct rseq (0: none)
    "rseq_len": Column(np.uint32, 0),
    "rseq_sig": Column(np.uint32, 0),  # the signature an abort handler must carry
    "rseq_event": Column(np.bool_, False),  # preempted since it last ran: check its rseq_cs
    # its area may hold a critical section, so a run alone is cut into quanta and preempted at
    # their ends (syscalls/sys_rseq.py: WATCH_NEW just registered, WATCH a descriptor was seen)
    "rseq_watch": Column(np.uint8, 0),
}, doc="rseq(2) registration: kept by fork, dropped by clone(CLONE_VM) and exec.")

COMPONENTS = [TaskTree, ThreadGroupMembership, TaskIDs, RunStateC, ExitStateC, WaitState, TaskCreds,
              TaskCaps, TaskSched, Rseq, ThreadState, CpuAffinity]

# What a new task copies from the task that creates it (copy_process: the credentials, the
# scheduling attributes, the CPU affinity, the signal mask, the name); clone adjusts the
# scheduling ones after (SCHED_RESET_ON_FORK) and drops the rseq registration under CLONE_VM; the
# seccomp chain is shared (systems/seccomp.on_clone counts the reference).
INHERITED = ("ruid", "euid", "suid", "fsuid", "rgid", "egid", "sgid", "fsgid", "groups",
             "cap_effective", "cap_permitted", "cap_inheritable", "cap_bset", "cap_ambient",
             "securebits", "no_new_privs", "cred_seq", "nice", "sched_policy", "rt_priority",
             "sched_reset_on_fork", "dl_runtime", "dl_deadline", "dl_period", "sched_slice", "ioprio",
             "cpus_allowed", "rseq_addr", "rseq_len", "rseq_sig", "sig_mask", "comm",
             "personality", "timer_slack_ns", "seccomp_mode", "seccomp_filter", "ipcns", "mntns", "userns", "pidns_children",
             "netns")


def check(world) -> None:
    T, G = world.tasks, world.thread_groups
    rows = T.live_rows()
    if len(rows) == 0:
        return
    tg = T.tg[rows]
    assert (tg >= 0).all() and G.alive[tg].all(), "a live task is not in a live thread group"
    # Each task appears on its group's member list exactly once.
    seen = 0
    for g in G.live_rows():
        m = members(G.task_head, g, T.tg_next)
        assert all(T.tg[r] == g for r in m), f"thread group {g} lists a task of another group"
        assert len(m) == G.tasks_count[g], f"thread group {g}: {len(m)} members, count {G.tasks_count[g]}"
        seen += len(m)
    assert seen == len(rows), f"{len(rows)} live tasks but {seen} on thread group lists"
    par = T.parent[rows]
    has = par >= 0
    assert T.alive[par[has]].all(), "a task's parent is not a live task"
    # Only leaders sit on children lists.
    for t in rows[T.sib_prev[rows] >= 0]:
        assert G.leader[T.tg[t]] == t, f"non-leader task {t} is on a children list"


TaskTree.check = check



def check_creds(world) -> None:
    """The per-user process counts (``index.nproc``, RLIMIT_NPROC's) are the live tasks per real
    uid: a credential change moves a task's charge with its real uid."""
    T = world.tasks
    rows = T.live_rows()
    rows = rows[T.exit_state[rows] != ExitState.DEAD]
    uids, counts = np.unique(T.ruid[rows], return_counts=True)
    want = {int(u): int(c) for u, c in zip(uids, counts)}
    assert world.index.nproc == want, f"nproc {world.index.nproc} but live tasks per uid {want}"


TaskCreds.check = check_creds
