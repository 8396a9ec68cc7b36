"""Scheduling syscalls: yield, affinity, nice values, policies and priorities, I/O priorities,
membarrier.

gVisor: ``sys_sched.go``, ``sys_thread.go`` (getpriority/setpriority), ``sys_membarrier.go``.
The attributes are per-thread columns with Linux's rules (systems/task_sched.py); the CPU
affinity is the CpuAffinity column over the ``Settings.cpus`` CPUs the kernel models (--cpus, as
/proc and /sys show them), but one host thread runs every task in turn, and the run loop does not
order tasks by policy, nice value or affinity.
"""
from __future__ import annotations

import struct

from ..abi import (CAP_SYS_NICE, MAX_NICE, MAX_RT_PRIO, MEMBARRIER_CMD_FLAG_CPU, MIN_NICE,
                   MEMBARRIER_CMD_GET_REGISTRATIONS, MEMBARRIER_CMD_GLOBAL,
                   MEMBARRIER_CMD_GLOBAL_EXPEDITED, MEMBARRIER_CMD_PRIVATE_EXPEDITED,
                   MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
                   MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, MEMBARRIER_CMD_QUERY,
                   MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
                   MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                   MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ,
                   MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, PAGE_SIZE, SCHED_BATCH,
                   SCHED_DEADLINE, SCHED_FIFO, SCHED_FLAG_KEEP_PARAMS, SCHED_FLAG_KEEP_POLICY,
                   SCHED_FLAG_RESET_ON_FORK, SCHED_FLAG_UTIL_CLAMP, SCHED_IDLE, SCHED_NORMAL, SCHED_RESET_ON_FORK,
                   SCHED_RR, SCHED_ATTR_SIZE_VER0, SCHED_ATTR_SIZE_VER1)
from ..components.task import all_cpus, task_cpu
from ..errors import E, KernelError
from ..systems import task_sched
from ..systems.task_identity import capable
from .context import copy_struct_from_user, copy_struct_to_user, s32, u32
from .registry import FULL, syscall

_SCHED_NOTE = ("stored per thread with Linux's checks and errnos; the run loop does not schedule "
               "by it")


def _find(t, pid: int) -> int:
    return task_sched.find_task(t.world, t.row, pid)


@syscall("sched_yield", FULL)
def sched_yield(t):
    """Implements sched_yield(2): with another task runnable, the engine stops after the call
    (from the hook: safe) and the run loop runs the next task."""
    t.machine.yield_cpu()
    return 0


# -- affinity -------------------------------------------------------------------------------------

def _cpumask_size(t) -> int:
    """Linux cpumask_size(): the mask in whole longs (one while MAX_CPUS is 64)."""
    return (t.world.settings.cpus + 63) // 64 * 8


@syscall("sched_getaffinity", FULL, "the task's mask over the CPUs the kernel models (--cpus)",
         args=("i", "u", "ocpus"))
def sched_getaffinity(t, pid, size, mask):
    """Implements sched_getaffinity(2): the raw call returns the bytes written (a mask in whole
    longs); ``size`` must hold every CPU and be a multiple of a long (checked before the pid)."""
    size = u32(size)
    if size * 8 < t.world.settings.cpus or size & 7:
        raise KernelError(E.EINVAL)
    r = _find(t, s32(pid))
    n = min(size, _cpumask_size(t))
    t.mm.copy_out(mask, int(t.world.tasks.cpus_allowed[r]).to_bytes(8, "little")[:n])
    return n


@syscall("sched_setaffinity", FULL, "the mask is kept per thread; CPUs past --cpus are ignored",
         args=("i", "u", "cpus"))
def sched_setaffinity(t, pid, size, mask):
    """Implements sched_setaffinity(2): a mask shorter than a cpumask is zero-extended, a longer
    one cut; the CPUs it names that the kernel models become the thread's (EINVAL if none).
    Another user's task needs CAP_SYS_NICE. Linux's order: the mask is read (EFAULT), then the
    task found (ESRCH), then the permission (EPERM), then the mask checked (EINVAL). A thread
    whose CPU changes migrates: with an rseq area, its critical section is aborted and its
    cpu_id rewritten before it runs user code again (rseq_migrate; the caller's on this
    syscall's return, Machine.after_syscall)."""
    n = min(u32(size), _cpumask_size(t))
    raw = t.mm.copy_in(mask, n) if n else b""
    r = _find(t, s32(pid))
    w = t.world
    T = w.tasks
    if int(T.euid[t.row]) not in (int(T.euid[r]), int(T.ruid[r])) \
            and not capable(w, t.row, CAP_SYS_NICE):
        raise KernelError(E.EPERM)
    want = int.from_bytes(raw[:8].ljust(8, b"\0"), "little") & all_cpus(w)
    if not want:
        raise KernelError(E.EINVAL)
    before = task_cpu(w, r)
    T.cpus_allowed[r] = want
    if T.rseq_addr[r] and task_cpu(w, r) != before:
        T.rseq_event[r] = True  # rseq_migrate
    return 0


@syscall("getcpu", FULL, "the lowest CPU the caller may run on; one node", args=("oint", "oint", "p"))
def getcpu(t, cpu, node, cache):
    """Implements getcpu(2). Guest tasks take turns on one host thread; each says it runs on the
    first CPU of its affinity mask."""
    if cpu:
        t.mm.copy_out(cpu, struct.pack("<I", task_cpu(t.world, t.row)))
    if node:
        t.mm.copy_out(node, struct.pack("<I", 0))
    return 0


# -- nice values --------------------------------------------------------------------------------------

@syscall("getpriority", FULL, _SCHED_NOTE, args=("priowhich", "i"))
def getpriority(t, which, who):
    """Implements getpriority(2) (the raw syscall returns 20 - nice)."""
    return task_sched.getpriority(t.world, t.row, s32(which), s32(who))


@syscall("setpriority", FULL, _SCHED_NOTE, args=("priowhich", "i", "i"))
def setpriority(t, which, who, prio):
    """Implements setpriority(2)."""
    task_sched.setpriority(t.world, t.row, s32(which), s32(who), s32(prio))
    return 0


# -- policies and priorities --------------------------------------------------------------------------

@syscall("sched_getscheduler", FULL, _SCHED_NOTE, args=("i",))
def sched_getscheduler(t, pid):
    """Implements sched_getscheduler(2): the policy, with SCHED_RESET_ON_FORK when set."""
    pid = s32(pid)
    if pid < 0:
        raise KernelError(E.EINVAL)
    r = _find(t, pid)
    T = t.world.tasks
    return int(T.sched_policy[r]) | (SCHED_RESET_ON_FORK if T.sched_reset_on_fork[r] else 0)


@syscall("sched_getparam", FULL, _SCHED_NOTE, args=("i", "p"))
def sched_getparam(t, pid, param):
    """Implements sched_getparam(2): the real-time priority (0 under the other policies)."""
    pid = s32(pid)
    if not param or pid < 0:
        raise KernelError(E.EINVAL)
    r = _find(t, pid)
    prio = task_sched.get_attr(t.world, r)["priority"]
    t.mm.copy_out(param, struct.pack("<i", prio))
    return 0


def _setscheduler(t, pid: int, policy: int, param: int) -> int:
    """do_sched_setscheduler (``policy`` SETPARAM_POLICY for sched_setparam)."""
    if not param or pid < 0:
        raise KernelError(E.EINVAL)
    prio = struct.unpack("<I", t.mm.copy_in(param, 4))[0]
    r = _find(t, pid)
    a = task_sched.get_attr(t.world, r)
    a.update(flags=0, priority=prio, nice=int(t.world.tasks.nice[r]))
    if policy != task_sched.SETPARAM_POLICY and policy & SCHED_RESET_ON_FORK:
        a["flags"] = SCHED_FLAG_RESET_ON_FORK
        policy &= ~SCHED_RESET_ON_FORK
    a["policy"] = policy
    # struct sched_param has no deadline parameters; a custom slice stays (_sched_setscheduler)
    a.update(runtime=int(t.world.tasks.sched_slice[r]), deadline=0, period=0)
    task_sched.setscheduler(t.world, t.row, r, a)
    return 0


@syscall("sched_setscheduler", FULL, _SCHED_NOTE, args=("i", "i", "p"))
def sched_setscheduler(t, pid, policy, param):
    """Implements sched_setscheduler(2)."""
    policy = s32(policy)
    if policy < 0:
        raise KernelError(E.EINVAL)
    return _setscheduler(t, s32(pid), policy, param)


@syscall("sched_setparam", FULL, _SCHED_NOTE, args=("i", "p"))
def sched_setparam(t, pid, param):
    """Implements sched_setparam(2): sched_setscheduler keeping the policy."""
    return _setscheduler(t, s32(pid), task_sched.SETPARAM_POLICY, param)


_ATTR = struct.Struct("<IIQiIQQQII")  # struct sched_attr (SCHED_ATTR_SIZE_VER1 bytes)
_ATTR_KEYS = ("size", "policy", "flags", "nice", "priority", "runtime", "deadline", "period",
              "util_min", "util_max")


@syscall("sched_getattr", FULL, _SCHED_NOTE + "; no utilization clamps (reported 0), a fair "
         "task's runtime is its slice (Linux 6.12's custom slices)", args=("i", "p", "u", "x"))
def sched_getattr(t, pid, uattr, usize, flags):
    """Implements sched_getattr(2)."""
    pid, usize = s32(pid), u32(usize)
    if not uattr or pid < 0 or usize > PAGE_SIZE or usize < SCHED_ATTR_SIZE_VER0 or u32(flags):
        raise KernelError(E.EINVAL)
    r = _find(t, pid)
    a = task_sched.get_attr(t.world, r)
    a["size"] = min(usize, SCHED_ATTR_SIZE_VER1)
    copy_struct_to_user(t.mm, uattr, usize, _ATTR.pack(*(a[k] for k in _ATTR_KEYS)))
    return 0


@syscall("sched_setattr", FULL, _SCHED_NOTE + "; no utilization clamps (EOPNOTSUPP)",
         args=("i", "p", "x"))
def sched_setattr(t, pid, uattr, flags):
    """Implements sched_setattr(2) (sched_copy_attr: a short struct is zero-extended, size 0 is
    the first version, a bad size is E2BIG with the kernel's size written back)."""
    pid = s32(pid)
    if not uattr or pid < 0 or u32(flags):
        raise KernelError(E.EINVAL)
    size = struct.unpack("<I", t.mm.copy_in(uattr, 4))[0] or SCHED_ATTR_SIZE_VER0
    try:
        if size < SCHED_ATTR_SIZE_VER0 or size > PAGE_SIZE:
            raise KernelError(E.E2BIG)
        raw = copy_struct_from_user(t.mm, uattr, SCHED_ATTR_SIZE_VER1, size)
    except KernelError as e:
        if e.errno == E.E2BIG:
            t.mm.copy_out(uattr, struct.pack("<I", SCHED_ATTR_SIZE_VER1))
        raise
    a = dict(zip(_ATTR_KEYS, _ATTR.unpack(raw)))
    if a["flags"] & SCHED_FLAG_UTIL_CLAMP and size < SCHED_ATTR_SIZE_VER1:
        raise KernelError(E.EINVAL, "utilization clamps need the larger struct")
    a["nice"] = min(max(a["nice"], MIN_NICE), MAX_NICE)
    if a["policy"] >= 1 << 31:
        raise KernelError(E.EINVAL)
    if a["flags"] & SCHED_FLAG_KEEP_POLICY:
        a["policy"] = task_sched.SETPARAM_POLICY
    r = _find(t, pid)
    if a["flags"] & SCHED_FLAG_KEEP_PARAMS:
        cur = task_sched.get_attr(t.world, r)
        for k in ("nice", "priority", "runtime", "deadline", "period"):
            a[k] = cur[k]
    task_sched.setscheduler(t.world, t.row, r, a)
    return 0


@syscall("sched_get_priority_max", FULL, args=("i",))
def sched_get_priority_max(t, policy):
    """Implements sched_get_priority_max(2)."""
    p = s32(policy)
    if p in (SCHED_FIFO, SCHED_RR):
        return MAX_RT_PRIO - 1
    if p in (SCHED_NORMAL, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE):
        return 0
    raise KernelError(E.EINVAL)


@syscall("sched_get_priority_min", FULL, args=("i",))
def sched_get_priority_min(t, policy):
    """Implements sched_get_priority_min(2)."""
    p = s32(policy)
    if p in (SCHED_FIFO, SCHED_RR):
        return 1
    if p in (SCHED_NORMAL, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE):
        return 0
    raise KernelError(E.EINVAL)


@syscall("sched_rr_get_interval", FULL, "SCHED_RR's 100 ms slice, 0 for the other policies",
         args=("i", "p"))
def sched_rr_get_interval(t, pid, ts):
    """Implements sched_rr_get_interval(2)."""
    pid = s32(pid)
    if pid < 0:
        raise KernelError(E.EINVAL)
    ns = task_sched.rr_interval(t.world, _find(t, pid))
    t.mm.copy_out(ts, struct.pack("<qq", ns // 10**9, ns % 10**9))
    return 0


# -- I/O priorities -------------------------------------------------------------------------------------

@syscall("ioprio_get", FULL, "stored per thread; nothing does I/O by it", args=("i", "i"))
def ioprio_get(t, which, who):
    """Implements ioprio_get(2)."""
    return task_sched.ioprio_get(t.world, t.row, s32(which), s32(who))


@syscall("ioprio_set", FULL, "stored per thread; nothing does I/O by it", args=("i", "i", "x"))
def ioprio_set(t, which, who, ioprio):
    """Implements ioprio_set(2)."""
    task_sched.ioprio_set(t.world, t.row, s32(which), s32(who), s32(ioprio))
    return 0


# -- membarrier ----------------------------------------------------------------------------------------

_MEMBARRIER_ALL = 0x3FF  # every command (MEMBARRIER_CMD_BITMASK with SYNC_CORE and RSEQ)
# a private expedited command -> the registration it needs
_NEEDS = {MEMBARRIER_CMD_PRIVATE_EXPEDITED: MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
          MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE:
              MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
          MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ: MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ}
_REGISTER = (MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
             MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
             MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ)


@syscall("membarrier", FULL, "one CPU runs one task at a time: every barrier is already "
         "there; registrations are kept per address space (fork keeps them, exec drops them)",
         args=("i", "x", "i"))
def membarrier(t, cmd, flags, cpu_id):
    """Implements membarrier(2). The barriers themselves need no work here (no two guest threads
    ever run at once); the commands, flags and registration rules are Linux's."""
    cmd, flags = s32(cmd), u32(flags)
    if cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ:
        if flags and flags != MEMBARRIER_CMD_FLAG_CPU:
            raise KernelError(E.EINVAL)
    elif flags:
        raise KernelError(E.EINVAL)
    mm = int(t.world.tasks.mm[t.row])
    state = t.world.address_spaces.membarrier_state
    if cmd == MEMBARRIER_CMD_QUERY:
        return _MEMBARRIER_ALL
    if cmd in (MEMBARRIER_CMD_GLOBAL, MEMBARRIER_CMD_GLOBAL_EXPEDITED):
        return 0
    if cmd in _REGISTER:
        state[mm] |= cmd
        return 0
    if cmd in _NEEDS:
        if not int(state[mm]) & _NEEDS[cmd]:
            raise KernelError(E.EPERM, "membarrier: not registered")
        return 0
    if cmd == MEMBARRIER_CMD_GET_REGISTRATIONS:
        return int(state[mm])
    raise KernelError(E.EINVAL, f"membarrier command {cmd}")
