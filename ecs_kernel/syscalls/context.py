"""What a syscall handler is given: the calling task (gVisor: ``*kernel.Task``) and helpers.

Handlers are plain functions ``handler(t, *args)`` where ``t`` is a :class:`Task` and ``args`` are
the raw 64-bit register values (rdi, rsi, rdx, r10, r8, r9), as many as the handler declares.
They return a non-negative result or raise :class:`~ecs_kernel.errors.KernelError`; the dispatcher
turns that into ``-errno`` in rax. The other outcomes are exceptions too:

- :class:`KernelBlocked`: a kernel call left the task blocked as a row (a wait for a child, a
  futex, a sleep, sigsuspend, a vfork parent); a system completes it with ``tasks.ret``.
- :class:`WouldBlock`: the files are not ready; the dispatcher blocks the task on them as
  io_waits rows (systems/io_wait.py) and the call runs again when one is ready.
- :class:`TaskExit`: exit/exit_group ran; :class:`ExecDone`: execve replaced the image;
  :class:`ContextRestored`: rt_sigreturn loaded every register.

State that is rows stays in the World (``t.world.tasks.<column>[t.row]``); Python objects a task
needs (its address space, file-system context, registers while switched out) hang off this object.
"""
from __future__ import annotations

import errno as _errno

from ..abi import SECURE_NO_SETUID_FIXUP, Block
from ..components.futex import NO_DEADLINE
from ..components.user_namespace import GID, UID
from ..checkpoint_objects import state_class
from ..errors import E, KernelError
from ..fs.inodes import Creds
from ..fs.vfs import RootedView
from ..systems import task_identity
from ..systems import user_namespace as userns

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


def copy_struct_from_user(mm, addr: int, ksize: int, usize: int) -> bytes:
    """Linux copy_struct_from_user: a versioned struct of ``usize`` bytes at ``addr`` as the
    kernel's ``ksize`` bytes; a shorter one is zero-extended, a longer one must have only zeros
    past ``ksize`` (E2BIG otherwise); EFAULT for unreadable memory."""
    if usize > ksize:
        if any(mm.copy_in(addr + ksize, usize - ksize)):
            raise KernelError(E.E2BIG, "unknown non-zero fields")
        return mm.copy_in(addr, ksize)
    return mm.copy_in(addr, usize) + bytes(ksize - usize)


def copy_struct_to_user(mm, addr: int, usize: int, data: bytes) -> None:
    """Linux copy_struct_to_user: the first ``min(usize, len(data))`` bytes of ``data``, and zeros
    in what the caller's larger struct has beyond them."""
    size = min(usize, len(data))
    if usize > size:
        mm.copy_out(addr + size, bytes(usize - size))
    mm.copy_out(addr, data[:size])


class KernelBlocked(Exception):
    """A kernel call left the task blocked as a row (run state ``blocked``, its request in
    component columns); a system or another task's call completes it with ``tasks.ret``, and the
    run loop hands the result to the guest (the syscall table's completion, if any)."""


class WouldBlock(Exception):
    """The call cannot go on until one of ``waits`` — ``(fd, poll events)`` pairs — is ready or
    ``deadline`` (kernel ns) passes. The dispatcher blocks the task on them (``kind``: Block.IO
    for read/write and the like, which SA_RESTART restarts; Block.POLL for poll, select and
    epoll_wait, which a handler always ends with EINTR); woken, the call runs again."""

    def __init__(self, waits, deadline: int = int(NO_DEADLINE), kind: int = Block.IO,
                 done: int = 0, lock_gen: int = 0):
        super().__init__("would block")
        self.waits = list(waits)
        self.deadline = int(deadline)
        self.kind = kind
        self.done = int(done)  # bytes a write moved before it blocked (io_wait.progress)
        self.lock_gen = int(lock_gen)  # a lock wait: the generation it saw (fs/locks.py)


class TaskExit(Exception):
    """exit/exit_group: the task's exit has begun; stop running it."""


class ExecDone(Exception):
    """execve replaced the task's image (and engine): stop the old engine, write nothing."""


class ContextRestored(Exception):
    """rt_sigreturn loaded a whole register context (cpu/signals.py): the dispatcher writes
    nothing back; the run loop goes on at ``rip`` with ``rax``."""

    def __init__(self, rip: int, rax: int):
        super().__init__("rt_sigreturn")
        self.rip = rip
        self.rax = rax


@state_class
class FSContext:
    """gVisor ``kernel.FSContext``: working directory and umask, the object behind an
    ``fs_contexts`` row (shared under CLONE_FS, copied by ``fork()`` otherwise:
    components/resources.py)."""

    __slots__ = ("cwd", "umask", "root")

    __state__ = {"cwd": "?@DirInode", "umask": "int", "root": "~?@DirInode"}

    def __init__(self, cwd=None, umask: int = 0o022, root=None):
        self.cwd = cwd  # a DirInode; None means the root
        self.umask = umask
        self.root = root  # chroot(2)'s root directory; None: the file system's root

    def fork(self) -> "FSContext":
        return FSContext(self.cwd, self.umask, self.root)


class Task:
    """The kernel's view of one guest thread while it makes a syscall."""

    def __init__(self, world, row: int, machine, fs):
        self.world = world
        self.row = row
        self.machine = machine
        self._fs = fs
        self.mm = None  # the AddressSpace (set by the machine)
        self.pid_cache: int | None = None  # getpid/gettid answers (see sys_process.getpid)
        self.tid_cache: int | None = None
        self.ctx = None  # the Unicorn context holding its registers while another thread runs
        self.initial_regs = None  # a new thread's first registers, loaded when first switched in

    @property
    def fs(self):
        """The file tree as this task sees it: from its root directory (RootedView after a
        chroot), else the machine's FileSystem."""
        root = getattr(self.fsctx, "root", None) if int(self.world.tasks.fsctx[self.row]) >= 0 else None
        return self._fs if root is None else RootedView(self._fs, root)

    @property
    def fsctx(self) -> FSContext:
        """The working directory and umask (the task's ``fs_contexts`` row's object)."""
        return self.world.index.fs_contexts[int(self.world.tasks.fsctx[self.row])]

    # -- names: the task's own (a column) and its image's (the address space's) ------------------
    @property
    def comm(self) -> bytes:
        return bytes(self.world.tasks.comm[self.row])

    @comm.setter
    def comm(self, name: bytes) -> None:
        self.world.tasks.comm[self.row] = bytes(name)[:15]

    @property
    def exe_path(self) -> str:
        return self.mm.exe_path

    @property
    def argv(self) -> list[bytes]:
        return self.mm.argv

    @property
    def envp(self) -> list[bytes]:
        return self.mm.envp

    # -- ids and credentials --------------------------------------------------------------------
    @property
    def tg(self) -> int:
        return int(self.world.tasks.tg[self.row])

    def creds(self) -> Creds:
        """Filesystem credentials: fsuid, fsgid and the effective capabilities."""
        T, r = self.world.tasks, self.row
        return Creds(int(T.fsuid[r]), int(T.fsgid[r]), task_identity.groups_of(self.world, r),
                     caps=int(T.cap_effective[r]), idmap=self._idmap())

    def _idmap(self):
        """The kernel id ranges the task's user namespace maps (None: the initial one)."""
        w = self.world
        ns = int(w.tasks.userns[self.row])
        if ns == userns.INIT_USER_NS:
            return None
        return tuple(tuple((lo, lo + n) for _, lo, n in userns.extents(w, ns, which))
                     for which in (UID, GID))

    def real_creds(self) -> Creds:
        """access(2)'s credentials (access_override_creds): the real ids; the permitted
        capabilities for real uid 0, none for anyone else (unless SECURE_NO_SETUID_FIXUP)."""
        T, r = self.world.tasks, self.row
        ruid = int(T.ruid[r])
        root = userns.to_kid(self.world, int(T.userns[r]), UID, 0)  # the namespace's root
        if int(T.securebits[r]) >> SECURE_NO_SETUID_FIXUP & 1:
            caps = int(T.cap_effective[r])
        else:
            caps = int(T.cap_permitted[r]) if ruid == root else 0
        return Creds(ruid, int(T.rgid[r]), task_identity.groups_of(self.world, r), caps=caps,
                     idmap=self._idmap())


def errno_name(e: int) -> str:
    return _errno.errorcode.get(e, str(e))


__all__ = ["Task", "FSContext", "copy_struct_from_user", "copy_struct_to_user", "KernelBlocked", "WouldBlock", "TaskExit", "ExecDone",
           "ContextRestored", "s32", "s64", "u32", "MASK64", "E", "KernelError", "errno_name"]
