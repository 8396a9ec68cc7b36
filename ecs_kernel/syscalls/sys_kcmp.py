"""kcmp(2): do two tasks share a kernel resource? (Linux: kernel/kcmp.c.)

Both pids are looked up in the caller's PID namespace (ESRCH), the caller must pass
ptrace_may_access(PTRACE_MODE_READ_REALCREDS) on both (EPERM), then the type picks what is
compared. A resource is its row in the World (address space, fd table, fs context, signal
handlers), a file its open description, the SysV undo list its thread group's (once it did a
SEM_UNDO semop: systems/ipc.py), the I/O context the task's own once ioprio_set gave it one. An
absent one (an exited task's files, no undo list) is NULL, and two NULLs are equal, as Linux
compares the pointers.

The result is Linux's: 0 equal, 1 and 2 an order of the two (Linux orders obfuscated pointers, so
only equality and the antisymmetry of the order mean anything to a program).
"""
from __future__ import annotations

import struct

from .. import abi
from ..components import pidns
from ..errors import E, KernelError
from ..systems import fd_table, task_identity
from .context import s32
from .registry import FULL, syscall
from .sys_epoll import EpollFile


def _order(a: int, b: int) -> int:
    """kcmp_ptr: 0 equal, 1 less, 2 greater."""
    return 0 if a == b else 1 if a < b else 2


def _row_key(col, task: int) -> int:
    row = int(col[task])
    return row + 1 if row >= 0 else 0


def _file_key(world, task: int, fd: int) -> int:
    """get_file_raw_ptr: the description behind ``fd`` (an unsigned int) of ``task`` (O_PATH ones
    too); 0 when there is none."""
    fd &= 0xFFFF_FFFF  # an unsigned int: the high bits of the register are not looked at
    if fd > 0x7FFF_FFFF or int(world.tasks.fdtable[task]) < 0:
        return 0
    try:
        return id(fd_table.get_file(world, task, fd))
    except KernelError:
        return 0


def _io_key(world, task: int) -> int:
    """The task's io_context: made by ioprio_set (set_task_ioprio), otherwise NULL."""
    return task + 1 if int(world.tasks.ioprio[task]) else 0


def _sysvsem_key(world, task: int) -> int:
    reg = world.index.ipc
    tg = int(world.tasks.tg[task])
    return tg + 1 if reg is not None and tg in getattr(reg, "undo_lists", ()) else 0


@syscall("kcmp", FULL, "a file's order is stable within a run (equality also across checkpoints); "
         "CLONE_IO is not modelled: an io_context is the task's own once ioprio_set gave it one",
         args=("i", "i", "i", "x", "x"))
def kcmp(t, pid1, pid2, type_, idx1, idx2):
    """Implements kcmp(2)."""
    w = t.world
    T = w.tasks
    ns = int(T.ns[t.row])
    task1 = pidns.task_by_tid(w, ns, s32(pid1))
    task2 = pidns.task_by_tid(w, ns, s32(pid2))
    if task1 < 0 or task2 < 0:
        raise KernelError(E.ESRCH, "no such task")
    if not (task_identity.may_access(w, t.row, task1) and task_identity.may_access(w, t.row, task2)):
        raise KernelError(E.EPERM, "may not inspect that task")
    type_ = s32(type_)
    if type_ == abi.KCMP_FILE:
        a, b = _file_key(w, task1, idx1), _file_key(w, task2, idx2)
        if not a or not b:
            raise KernelError(E.EBADF, "no such fd")
        return _order(a, b)
    if type_ == abi.KCMP_VM:
        return _order(_row_key(T.mm, task1), _row_key(T.mm, task2))
    if type_ == abi.KCMP_FILES:
        return _order(_row_key(T.fdtable, task1), _row_key(T.fdtable, task2))
    if type_ == abi.KCMP_FS:
        return _order(_row_key(T.fsctx, task1), _row_key(T.fsctx, task2))
    if type_ == abi.KCMP_SIGHAND:
        return _order(_row_key(T.sighand, task1), _row_key(T.sighand, task2))
    if type_ == abi.KCMP_IO:
        return _order(_io_key(w, task1), _io_key(w, task2))
    if type_ == abi.KCMP_SYSVSEM:
        return _order(_sysvsem_key(w, task1), _sysvsem_key(w, task2))
    if type_ == abi.KCMP_EPOLL_TFD:
        efd, tfd, toff = struct.unpack("<III", t.mm.copy_in(idx2, 12))  # struct kcmp_epoll_slot
        a = _file_key(w, task1, idx1)
        if not a:
            raise KernelError(E.EBADF, "no such fd")
        try:
            ep = fd_table.get_file(w, task2, efd) if int(T.fdtable[task2]) >= 0 else None
        except KernelError:
            ep = None
        if ep is None or ep.is_path:  # fget_task: not an O_PATH file
            raise KernelError(E.EBADF, "no such epoll fd")
        if not isinstance(ep, EpollFile):
            raise KernelError(E.EINVAL, "not an epoll instance")
        entry = ep.interest.get(tfd)
        if entry is None or toff != 0:  # one registration per fd number here
            raise KernelError(E.ENOENT, "not registered")
        return _order(a, id(entry[0]))
    raise KernelError(E.EINVAL, "unknown kcmp type")


__all__ = ["kcmp"]
