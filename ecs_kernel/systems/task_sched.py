"""Scheduling attributes: nice values, policies and priorities, I/O priorities.

Linux: kernel/sys.c (getpriority, setpriority), kernel/sched/syscalls.c (sched_setscheduler,
sched_setattr, sched_getattr, __checkparam_dl, user_check_sched_setscheduler), kernel/sched/core.c
(sched_fork), block/ioprio.c. gVisor: sys_sched.go, sys_thread.go (Getpriority, Setpriority).

Every attribute is a TaskSched column of the thread it belongs to (components/task.py). They are
stored, inherited by clone (with SCHED_RESET_ON_FORK), kept across exec and reported with Linux's
rules and errnos, but this kernel's run loop does not order tasks by them. Admission of
SCHED_DEADLINE tasks is counted against one CPU's bandwidth (95% of it, as sched_rt_runtime_us).
"""
from __future__ import annotations

import numpy as np

from ..abi import (CAP_SYS_ADMIN, CAP_SYS_NICE, DL_BW_SHIFT, DL_PERIOD_MAX_NS, DL_PERIOD_MIN_NS,
                   DL_SCALE, ExitState, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE, IOPRIO_CLASS_NONE,
                   IOPRIO_CLASS_RT, IOPRIO_CLASS_SHIFT, IOPRIO_LEVEL_MASK, IOPRIO_WHO_PGRP,
                   IOPRIO_WHO_PROCESS, IOPRIO_WHO_USER, MAX_NICE, MAX_RT_PRIO, MIN_NICE,
                   PRIO_PGRP, PRIO_PROCESS, PRIO_USER, RLIMIT_NICE, RLIMIT_RTPRIO, SCHED_BATCH,
                   SCHED_DEADLINE, SCHED_FIFO, SCHED_FLAG_ALL, SCHED_FLAG_RESET_ON_FORK,
                   SCHED_BASE_SLICE_NS, SCHED_FLAG_SUGOV, SCHED_FLAG_UTIL_CLAMP, SCHED_IDLE,
                   SCHED_SLICE_MAX_NS, SCHED_SLICE_MIN_NS, SCHED_NORMAL, SCHED_RR,
                   SCHED_RR_TIMESLICE_NS, SCHED_RT_PERIOD_NS, SCHED_RT_RUNTIME_NS)
from ..components import links, pidns, rlimits
from ..errors import E, KernelError
from .task_identity import capable

SETPARAM_POLICY = -1  # sched_setparam: keep the policy
VALID_POLICIES = (SCHED_NORMAL, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE)


def _fair(policy: int) -> bool:
    return policy in (SCHED_NORMAL, SCHED_BATCH)


def _rt(policy: int) -> bool:
    return policy in (SCHED_FIFO, SCHED_RR)


# -- finding tasks --------------------------------------------------------------------------------

def find_task(world, t: int, pid: int) -> int:
    """find_process_by_pid: the caller for 0, else the thread with id ``pid`` in the caller's
    namespace (a zombie leader still counts); ESRCH if none."""
    if pid == 0:
        return t
    T = world.tasks
    r = pidns.task_by_tid(world, int(T.ns[t]), pid) if pid > 0 else -1
    if r < 0 or not T.alive[r] or T.exit_state[r] == ExitState.DEAD:
        raise KernelError(E.ESRCH, f"no thread {pid}")
    return r


def _threads_of_pgrp(world, t: int, who: int) -> list[int]:
    T, G, P = world.tasks, world.thread_groups, world.process_groups
    ns = int(T.ns[t])
    if who == 0:
        pg = int(G.pgrp[int(T.tg[t])])
    else:
        pg = pidns.pidmap(world, ns).lookup("pgrp", who) if who > 0 else -1
        if pg < 0:
            return []
    out = []
    for g in links.members(P.tg_head, pg, G.pg_next):
        out.extend(r for r in links.members(G.task_head, g, T.tg_next)
                   if T.exit_state[r] != ExitState.DEAD)
    return out


def _threads_of_user(world, t: int, who: int) -> list[int]:
    """Every thread whose real uid is ``who`` (0: the caller's) and that has an id in the
    caller's namespace."""
    T = world.tasks
    uid = int(T.ruid[t]) if who == 0 else who & 0xFFFF_FFFF
    rows = T.live_rows()
    rows = rows[(T.ruid[rows] == uid) & (T.exit_state[rows] != ExitState.DEAD)]
    ns = int(T.ns[t])
    if ns == world.index.root_pidns:
        return rows.tolist()
    return [r for r in rows.tolist() if pidns.tid_in(world, r, ns)]


def _targets(world, t: int, kind: str, who: int) -> list[int]:
    """The threads a get/setpriority or ioprio_get/set names: ``kind`` is "process" (one
    thread), "pgrp" or "user"."""
    if kind == "process":
        try:
            return [find_task(world, t, who)]
        except KernelError:
            return []
    if kind == "pgrp":
        return _threads_of_pgrp(world, t, who)
    return _threads_of_user(world, t, who)


_PRIO_WHICH = {PRIO_PROCESS: "process", PRIO_PGRP: "pgrp", PRIO_USER: "user"}
_IOPRIO_WHO = {IOPRIO_WHO_PROCESS: "process", IOPRIO_WHO_PGRP: "pgrp", IOPRIO_WHO_USER: "user"}


# -- nice -----------------------------------------------------------------------------------------

def can_nice(world, caller: int, target: int, nice: int) -> bool:
    """can_nice: the target's RLIMIT_NICE soft limit (as 20 - nice) allows ``nice``, or the
    caller has CAP_SYS_NICE."""
    cur, _ = rlimits.get(world, int(world.tasks.tg[target]), RLIMIT_NICE)
    return 20 - nice <= cur or capable(world, caller, CAP_SYS_NICE)


def getpriority(world, t: int, which: int, who: int) -> int:
    """getpriority(2) as the raw syscall answers: 20 - nice, the highest among the targets
    (a thread, every thread of a process group, or of a user); ESRCH for none."""
    if which not in _PRIO_WHICH:
        raise KernelError(E.EINVAL, f"which {which}")
    rows = _targets(world, t, _PRIO_WHICH[which], who)
    if not rows:
        raise KernelError(E.ESRCH, "no such process")
    return int(20 - world.tasks.nice[rows].min())


def setpriority(world, t: int, which: int, who: int, nice: int) -> None:
    """setpriority(2): the nice value (clamped to -20..19) of each target. Another user's task
    needs CAP_SYS_NICE (EPERM); lowering a nice value needs RLIMIT_NICE or CAP_SYS_NICE (EACCES).
    Every target is tried; the last error is the result, as Linux's loop gives."""
    if which not in _PRIO_WHICH:
        raise KernelError(E.EINVAL, f"which {which}")
    nice = min(max(nice, MIN_NICE), MAX_NICE)
    T = world.tasks
    err = E.ESRCH
    euid = int(T.euid[t])
    for r in _targets(world, t, _PRIO_WHICH[which], who):
        if euid not in (int(T.ruid[r]), int(T.euid[r])) and not capable(world, t, CAP_SYS_NICE):
            err = E.EPERM
            continue
        if nice < int(T.nice[r]) and not can_nice(world, t, r, nice):
            err = E.EACCES
            continue
        if err == E.ESRCH:
            err = 0
        T.nice[r] = nice
    if err:
        raise KernelError(err, "setpriority")


# -- policies ---------------------------------------------------------------------------------------

def sched_fork(world, parent: int, child: int) -> None:
    """sched_fork: the child has its creator's attributes (copied with the row); with
    SCHED_RESET_ON_FORK a real-time or deadline policy goes back to SCHED_NORMAL and a negative
    nice to 0, and the flag is cleared."""
    T = world.tasks
    if not T.sched_reset_on_fork[child]:
        return
    if is_rt_or_dl(world, child):
        T.sched_policy[child] = SCHED_NORMAL
        T.nice[child] = 0
        T.rt_priority[child] = 0
        T.dl_runtime[child] = T.dl_deadline[child] = T.dl_period[child] = 0
    elif T.nice[child] < 0:
        T.nice[child] = 0
    T.sched_reset_on_fork[child] = False


def check_fork(world, creator: int) -> None:
    """A SCHED_DEADLINE task cannot fork unless SCHED_RESET_ON_FORK is set (EAGAIN)."""
    T = world.tasks
    if T.sched_policy[creator] == SCHED_DEADLINE and not T.sched_reset_on_fork[creator]:
        raise KernelError(E.EAGAIN, "a SCHED_DEADLINE task forks")


def get_attr(world, r: int) -> dict[str, int]:
    """sched_getattr's view of task ``r`` (get_params): the policy and flags, then the nice value
    (fair and idle policies), the real-time priority, or the deadline parameters. As a kernel
    without CONFIG_UCLAMP_TASK; a fair task's runtime is its slice (Linux 6.12's custom slices)."""
    T = world.tasks
    policy = int(T.sched_policy[r])
    a = {"policy": policy, "flags": SCHED_FLAG_RESET_ON_FORK if T.sched_reset_on_fork[r] else 0,
         "nice": 0, "priority": 0, "runtime": 0, "deadline": 0, "period": 0,
         "util_min": 0, "util_max": 0}
    if policy == SCHED_DEADLINE:
        a["runtime"], a["deadline"], a["period"] = \
            int(T.dl_runtime[r]), int(T.dl_deadline[r]), int(T.dl_period[r])
    elif _rt(policy):
        a["priority"] = int(T.rt_priority[r])
    else:
        a["nice"] = int(T.nice[r])
        a["runtime"] = int(T.sched_slice[r]) or base_slice(world)
    return a


def base_slice(world) -> int:
    """sysctl_sched_base_slice: 0.7 ms scaled by 1 + ilog2(CPUs, at most 8), as
    SCHED_TUNABLESCALING_LOG scales it at boot (kernel/sched/fair.c get_update_sysctl_factor)."""
    cpus = min(max(int(world.settings.cpus), 1), 8)
    return SCHED_BASE_SLICE_NS * (1 + cpus.bit_length() - 1)


def _checkparam_dl(a: dict[str, int]) -> bool:
    """__checkparam_dl: 0 < runtime (at least 1 << DL_SCALE ns) <= deadline <= period (a period of
    0 is the deadline), the period within kernel.sched_deadline_period_{min,max}_us."""
    if a["flags"] & SCHED_FLAG_SUGOV:
        return True
    deadline, runtime, period = a["deadline"], a["runtime"], a["period"]
    if deadline == 0 or runtime < (1 << DL_SCALE):
        return False
    if deadline >> 63 or period >> 63:
        return False
    if period == 0:
        period = deadline
    if period < deadline or deadline < runtime:
        return False
    return DL_PERIOD_MIN_NS <= period <= DL_PERIOD_MAX_NS


def _dl_bw(runtime: int, period: int) -> int:
    return (runtime << DL_BW_SHIFT) // period if period else 0


def _dl_overflow(world, r: int, a: dict[str, int]) -> bool:
    """sched_dl_overflow for one CPU: the deadline tasks' total bandwidth may not pass 95%."""
    T = world.tasks
    rows = T.live_rows()
    rows = rows[(T.sched_policy[rows] == SCHED_DEADLINE) & (rows != r)]
    periods = np.where(T.dl_period[rows] > 0, T.dl_period[rows], T.dl_deadline[rows])
    used = sum(_dl_bw(int(rt), int(p)) for rt, p in zip(T.dl_runtime[rows], periods))
    if a["policy"] == SCHED_DEADLINE:
        used += _dl_bw(a["runtime"], a["period"] or a["deadline"])
    return used > _dl_bw(SCHED_RT_RUNTIME_NS, SCHED_RT_PERIOD_NS)


def setscheduler(world, t: int, r: int, a: dict[str, int]) -> None:
    """__sched_setscheduler(user=true) of task ``r`` by ``t`` with the attributes ``a`` (keys as
    :func:`get_attr`; ``policy`` SETPARAM_POLICY keeps the policy and its reset flag)."""
    T = world.tasks
    policy = a["policy"]
    cur_policy = int(T.sched_policy[r])
    if policy < 0:
        reset = bool(T.sched_reset_on_fork[r])
        policy = cur_policy
    else:
        reset = bool(a["flags"] & SCHED_FLAG_RESET_ON_FORK)
        if policy not in VALID_POLICIES:
            raise KernelError(E.EINVAL, f"policy {policy}")
    if a["flags"] & ~(SCHED_FLAG_ALL | SCHED_FLAG_SUGOV):
        raise KernelError(E.EINVAL, "unknown sched flags")
    prio = a["priority"]
    if prio > MAX_RT_PRIO - 1:
        raise KernelError(E.EINVAL, f"priority {prio}")
    if (policy == SCHED_DEADLINE and not _checkparam_dl(a)) or _rt(policy) != (prio != 0):
        raise KernelError(E.EINVAL, "parameters do not fit the policy")
    nice = a["nice"]
    if not capable(world, t, CAP_SYS_NICE):
        if _fair(policy) and nice < int(T.nice[r]) and not can_nice(world, t, r, nice):
            raise KernelError(E.EPERM, "lowering nice needs RLIMIT_NICE or CAP_SYS_NICE")
        if _rt(policy):
            rtprio, _ = rlimits.get(world, int(T.tg[r]), RLIMIT_RTPRIO)
            if policy != cur_policy and not rtprio:
                raise KernelError(E.EPERM, "a real-time policy needs RLIMIT_RTPRIO")
            if prio > int(T.rt_priority[r]) and prio > rtprio:
                raise KernelError(E.EPERM, "priority above RLIMIT_RTPRIO")
        if policy == SCHED_DEADLINE:
            raise KernelError(E.EPERM, "SCHED_DEADLINE needs CAP_SYS_NICE")
        if cur_policy == SCHED_IDLE and policy != SCHED_IDLE \
                and not can_nice(world, t, r, int(T.nice[r])):
            raise KernelError(E.EPERM, "leaving SCHED_IDLE")
        euid = int(T.euid[t])
        if euid not in (int(T.euid[r]), int(T.ruid[r])):
            raise KernelError(E.EPERM, "another user's task")
        if T.sched_reset_on_fork[r] and not reset:
            raise KernelError(E.EPERM, "clearing SCHED_RESET_ON_FORK")
    if a["flags"] & SCHED_FLAG_SUGOV:
        raise KernelError(E.EINVAL, "SCHED_FLAG_SUGOV is the kernel's")
    if a["flags"] & SCHED_FLAG_UTIL_CLAMP:  # a kernel without CONFIG_UCLAMP_TASK
        raise KernelError(E.EOPNOTSUPP, "no utilization clamping")
    if (policy == SCHED_DEADLINE or cur_policy == SCHED_DEADLINE) and _dl_overflow(world, r, a):
        raise KernelError(E.EBUSY, "SCHED_DEADLINE bandwidth")
    T.sched_reset_on_fork[r] = reset
    T.sched_policy[r] = policy
    if policy == SCHED_DEADLINE:
        T.dl_runtime[r], T.dl_deadline[r] = a["runtime"], a["deadline"]
        T.dl_period[r] = a["period"] or a["deadline"]
    elif _fair(policy):
        T.nice[r] = nice
    if _fair(policy):  # __setscheduler_params: the runtime asks for a slice (0: the base one)
        runtime = a["runtime"]
        T.sched_slice[r] = min(max(runtime, SCHED_SLICE_MIN_NS), SCHED_SLICE_MAX_NS) if runtime else 0
    T.rt_priority[r] = prio
    # __setscheduler_params: real-time and deadline tasks have no timer slack; a task back on
    # another policy gets its default again
    if is_rt_or_dl(world, r):
        T.timer_slack_ns[r] = 0
    elif T.timer_slack_ns[r] == 0:
        T.timer_slack_ns[r] = T.default_timer_slack_ns[r]


def is_rt_or_dl(world, r: int) -> bool:
    """rt_or_dl_task_policy: a real-time or deadline policy."""
    policy = int(world.tasks.sched_policy[r])
    return _rt(policy) or policy == SCHED_DEADLINE


def task_prio(world, r: int) -> int:
    """task_prio, /proc/<pid>/stat's priority: 20 + nice under the fair and idle policies,
    -1 - rt_priority under SCHED_FIFO and SCHED_RR, -101 under SCHED_DEADLINE."""
    T = world.tasks
    policy = int(T.sched_policy[r])
    if policy == SCHED_DEADLINE:
        return -MAX_RT_PRIO - 1
    if _rt(policy):
        return -1 - int(T.rt_priority[r])
    return 20 + int(T.nice[r])


def rr_interval(world, r: int) -> int:
    """sched_rr_get_interval: SCHED_RR's time slice (RR_TIMESLICE, 100 ms); 0 for every other
    policy (a fair task's slice is below one jiffy, which the call rounds down to)."""
    return SCHED_RR_TIMESLICE_NS if world.tasks.sched_policy[r] == SCHED_RR else 0


# -- I/O priorities --------------------------------------------------------------------------------

def ioprio_check(world, t: int, ioprio: int) -> None:
    """ioprio_check_cap: RT needs CAP_SYS_ADMIN or CAP_SYS_NICE; NONE takes no level; an unknown
    class is EINVAL."""
    cls = (ioprio >> IOPRIO_CLASS_SHIFT) & 0x7
    level = ioprio & IOPRIO_LEVEL_MASK
    if cls == IOPRIO_CLASS_RT:
        if not capable(world, t, CAP_SYS_ADMIN) and not capable(world, t, CAP_SYS_NICE):
            raise KernelError(E.EPERM, "IOPRIO_CLASS_RT")
    elif cls == IOPRIO_CLASS_NONE:
        if level:
            raise KernelError(E.EINVAL, "IOPRIO_CLASS_NONE with a level")
    elif cls not in (IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE):
        raise KernelError(E.EINVAL, f"I/O priority class {cls}")


def ioprio_set(world, t: int, which: int, who: int, ioprio: int) -> None:
    """ioprio_set(2) on a thread, every thread of a process group, or of a user: another real
    uid needs CAP_SYS_NICE (EPERM, which stops the loop)."""
    ioprio_check(world, t, ioprio)
    if which not in _IOPRIO_WHO:
        raise KernelError(E.EINVAL, f"which {which}")
    rows = _targets(world, t, _IOPRIO_WHO[which], who)
    if not rows:
        raise KernelError(E.ESRCH, "no such process")
    T = world.tasks
    for r in rows:
        if int(T.ruid[r]) not in (int(T.euid[t]), int(T.ruid[t])) \
                and not capable(world, t, CAP_SYS_NICE):
            raise KernelError(E.EPERM, "another user's task")
        T.ioprio[r] = ioprio & 0xFFFF


def ioprio_get(world, t: int, which: int, who: int) -> int:
    """ioprio_get(2): a thread's I/O priority; for a process group or a user, the lowest value
    among their threads (ioprio_best)."""
    if which not in _IOPRIO_WHO:
        raise KernelError(E.EINVAL, f"which {which}")
    rows = _targets(world, t, _IOPRIO_WHO[which], who)
    if not rows:
        raise KernelError(E.ESRCH, "no such process")
    return int(world.tasks.ioprio[rows].min())


__all__ = ["find_task", "getpriority", "setpriority", "can_nice", "sched_fork", "check_fork",
           "get_attr", "setscheduler", "rr_interval", "ioprio_check", "ioprio_set", "ioprio_get",
           "SETPARAM_POLICY", "VALID_POLICIES"]
