"""process_vm_readv/writev's target (mm/process_vm_access.c's mm_access): the memory of a task
the caller may access as ptrace_may_access(PTRACE_MODE_ATTACH_REALCREDS) says
(systems/task_identity.may_access).
"""
from __future__ import annotations

from ..components import pidns
from ..errors import E, KernelError
from .task_identity import may_access


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


__all__ = ["target_mm"]
