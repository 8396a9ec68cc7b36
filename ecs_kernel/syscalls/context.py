"""What a syscall handler is given: the calling task (gVisor: ``*kernel.Task``) and helpers.

Handlers are plain functions ``handler(t, *args)`` where ``t`` is a :class:`Task` and ``args`` are
the raw 64-bit register values (rdi, rsi, rdx, r10, r8, r9), as many as the handler declares.
They return a non-negative result or raise :class:`~ecs_kernel.errors.KernelError`; the dispatcher
turns that into ``-errno`` in rax. Two more outcomes are exceptions too:

- :class:`Block`: the task cannot make progress now (a sleep, a read of an empty host pipe).
  The dispatcher rewinds rip onto the ``syscall`` instruction, marks the task row ``blocked`` and
  stops the engine; the run loop waits for the condition and restarts the syscall (Linux:
  ERESTARTSYS with the same registers). Deadlines live in :attr:`Task.restart_deadline`, so a
  restarted nanosleep does not start over.
- :class:`TaskExit`: exit/exit_group ran; the dispatcher stops the engine.

State that is rows stays in the World (``t.world.tasks.<column>[t.row]``); Python objects a task
needs (its address space, file-system context) hang off this object.
"""
from __future__ import annotations

import errno as _errno

from ..errors import E, KernelError
from ..fs.inodes import Creds

MASK64 = (1 << 64) - 1


def s32(x: int) -> int:
    """The low 32 bits of a register as a C ``int``."""
    x &= 0xFFFF_FFFF
    return x - (1 << 32) if x & 0x8000_0000 else x


def s64(x: int) -> int:
    """A register as a C ``long``."""
    x &= MASK64
    return x - (1 << 64) if x >> 63 else x


def u32(x: int) -> int:
    return x & 0xFFFF_FFFF


class Block(Exception):
    """The syscall must wait: for host fds to be readable/writable, until ``deadline`` (host
    monotonic ns), or for another guest task to make progress (neither given: a pipe, a child).
    The run loop restarts the syscall when that happened."""

    def __init__(self, read_fds=(), write_fds=(), deadline: int | None = None,
                 progress: bool = True):
        super().__init__("block")
        self.read_fds = tuple(read_fds)
        self.write_fds = tuple(write_fds)
        self.deadline = deadline
        self.progress = progress  # False: only a signal ends it (pause, sigsuspend)
        self.progress_seen = -1  # the Machine's progress count when it blocked


class KernelBlocked(Exception):
    """The kernel blocked the task as a row (a futex wait): its ``run_state`` is ``blocked`` and a
    system or another task's call completes it with ``tasks.ret``; the dispatcher writes nothing
    and stops the engine, and the run loop hands the result to the guest."""

    def __init__(self, nr: int):
        super().__init__("kernel block")
        self.nr = nr


class TaskExit(Exception):
    """exit/exit_group: the task's exit has begun; stop running it."""


class ExecDone(Exception):
    """execve replaced the task's image (and engine): stop the old engine, write nothing."""


class FSContext:
    """gVisor ``kernel.FSContext``: working directory and umask (shared under CLONE_FS)."""

    __slots__ = ("cwd", "umask")

    def __init__(self, cwd=None, umask: int = 0o022):
        self.cwd = cwd  # a DirInode; None means the root
        self.umask = umask

    def fork(self) -> "FSContext":
        return FSContext(self.cwd, self.umask)


class Task:
    """The kernel's view of one guest thread while it makes a syscall."""

    def __init__(self, world, row: int, machine, fs, fsctx: FSContext):
        self.world = world
        self.row = row
        self.machine = machine
        self.fs = fs
        self.fsctx = fsctx
        self.mm = None  # the AddressSpace (set by the machine)
        self.restart_deadline: int | None = None  # a restarted sleep's deadline (host ns)
        self.restart_nr = -1
        self.comm = b""
        self.exe_path = "/"
        self.argv: list[bytes] = []
        self.envp: list[bytes] = []
        self.robust_list = (0, 0)
        self.fs_base = 0
        self.gs_base = 0
        self.pid_cache: int | None = None  # getpid/gettid answers (see sys_process.getpid)
        self.tid_cache: int | None = None

    # -- ids and credentials --------------------------------------------------------------------
    @property
    def tg(self) -> int:
        return int(self.world.tasks.tg[self.row])

    def creds(self) -> Creds:
        """Filesystem credentials (fsuid/fsgid are the effective ids here)."""
        T = self.world.tasks
        return Creds(int(T.euid[self.row]), int(T.egid[self.row]))

    def real_creds(self) -> Creds:
        T = self.world.tasks
        return Creds(int(T.ruid[self.row]), int(T.rgid[self.row]))

    # -- restartable waits --------------------------------------------------------------------
    def deadline_for(self, nr: int, now: int, duration_ns: int) -> int:
        """The deadline of a sleep that began now, or of the same one being restarted."""
        if self.restart_nr == nr and self.restart_deadline is not None:
            return self.restart_deadline
        self.restart_nr = nr
        self.restart_deadline = now + duration_ns
        return self.restart_deadline

    def clear_restart(self) -> None:
        self.restart_nr = -1
        self.restart_deadline = None


def errno_name(e: int) -> str:
    return _errno.errorcode.get(e, str(e))


__all__ = ["Task", "FSContext", "Block", "KernelBlocked", "TaskExit", "ExecDone", "s32", "s64", "u32", "MASK64", "E",
           "KernelError", "errno_name"]
