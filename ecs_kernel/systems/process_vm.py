"""ptrace_may_access for process_vm_readv/writev (Linux: kernel/ptrace.c __ptrace_may_access with
PTRACE_MODE_ATTACH_REALCREDS, mm/process_vm_access.c's mm_access; gVisor: kernel/ptrace.go
CanTrace).

A task may touch another's memory when it is in the same thread group; or when its real uid and
gid equal the target's real, effective and saved ones, or it holds CAP_SYS_PTRACE; and then the
target's memory must be dumpable (PR_SET_DUMPABLE, cleared by a credential change) unless the
caller holds CAP_SYS_PTRACE. Yama's ptrace_scope is not modelled (as scope 0).
"""
from __future__ import annotations

from ..abi import CAP_SYS_PTRACE
from ..components import pidns
from ..errors import E, KernelError
from . import task_identity

SUID_DUMP_USER = 1


def may_access(world, caller: int, target: int) -> bool:
    """__ptrace_may_access(target, PTRACE_MODE_ATTACH_REALCREDS) from ``caller``."""
    T = world.tasks
    if int(T.tg[caller]) == int(T.tg[target]):
        return True
    uid, gid = int(T.ruid[caller]), int(T.rgid[caller])
    same = (uid == int(T.euid[target]) == int(T.suid[target]) == int(T.ruid[target])
            and gid == int(T.egid[target]) == int(T.sgid[target]) == int(T.rgid[target]))
    cap = task_identity.ns_capable(world, caller, int(T.userns[target]), CAP_SYS_PTRACE)
    if not same and not cap:
        return False
    mm = int(T.mm[target])
    if mm >= 0 and int(world.address_spaces.dumpable[mm]) != SUID_DUMP_USER and not cap:
        return False
    return True


def target_mm(world, caller: int, pid: int) -> int:
    """find_get_task_by_vpid + mm_access: the address_spaces row of thread ``pid`` (in the
    caller's PID namespace). ESRCH for no such task or one without memory; EPERM when the
    caller may not."""
    T = world.tasks
    target = pidns.task_by_tid(world, int(T.ns[caller]), pid)
    if target < 0 or not T.alive[target]:
        raise KernelError(E.ESRCH, f"no task {pid}")
    if not may_access(world, caller, target):
        raise KernelError(E.EPERM, "may not access that process's memory")
    mm = int(T.mm[target])
    if mm < 0:
        raise KernelError(E.ESRCH, "the task has no memory")
    return mm


__all__ = ["may_access", "target_mm"]
