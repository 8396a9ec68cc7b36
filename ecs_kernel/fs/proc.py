"""The /proc the guest sees, fed by the kernel through a :class:`ProcProvider`.

The tree: ``/proc/self`` (a symlink to the calling process's ``/proc/<pid>``), ``/proc/<pid>/`` for
each pid the provider lists, holding exe, cwd, root (symlinks), cmdline, environ, maps, status, stat,
comm (files), and fd/ (one symlink per open fd), plus whatever top-level files the provider gives
(``files()``, e.g. meminfo). File contents are generated when the file is opened (procfs reports
size 0, and so do we). ``/proc/<pid>/fd/N`` are magic links: if the provider hands back the open
description, following the link reaches its inode directly (so a pipe can be reopened), otherwise
the link text is resolved as a path.

The provider answers for "the calling task": the FileSystem is shared by all tasks, so the kernel
makes ``self_pid()`` return the thread group id of the task whose syscall is running.
"""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ecs_kernel.checkpoint_objects import state_class, state_function
from ecs_kernel.errors import E, KernelError
from ecs_kernel.fs.inodes import DataFile, DynamicSymlink, Inode, SuperBlock, SyntheticDir

if TYPE_CHECKING:
    from ecs_kernel.fs.file import FileDescription


class ProcProvider:
    """What the kernel tells /proc. Override what you have; the defaults describe an empty process.

    Every per-process method takes ``pid`` (a thread group id from ``pids()``) and may raise
    ``KernelError(ENOENT)`` when the process has gone.
    """

    def self_pid(self) -> int:
        """The thread group id of the calling task (what /proc/self points to)."""
        raise KernelError(E.ENOENT, "no current process")

    def pids(self) -> list[int]:
        """The processes /proc lists (default: just the caller)."""
        try:
            return [self.self_pid()]
        except KernelError:
            return []

    def files(self) -> dict[str, bytes]:
        """Top-level /proc files (name -> contents), e.g. {"meminfo": b"..."}."""
        return {}

    def owner(self, pid: int) -> tuple[int, int]:
        """(uid, gid) owning /proc/<pid>."""
        return 0, 0

    def exe(self, pid: int) -> str:
        """The guest path of the executable (readlink /proc/<pid>/exe)."""
        raise KernelError(E.ENOENT, "no executable")

    def cwd(self, pid: int) -> str:
        return "/"

    def root(self, pid: int) -> str:
        return "/"

    def cmdline(self, pid: int) -> bytes:
        """argv, each NUL-terminated."""
        return b""

    def environ(self, pid: int) -> bytes:
        return b""

    def maps(self, pid: int) -> bytes:
        """The text of /proc/<pid>/maps."""
        return b""

    def status(self, pid: int) -> bytes:
        return b""

    def stat(self, pid: int) -> bytes:
        return b""

    def comm(self, pid: int) -> bytes:
        return b""

    def fds(self, pid: int) -> list[int]:
        """The open fd numbers."""
        return []

    def fd_link(self, pid: int, fd: int) -> str:
        """readlink /proc/<pid>/fd/<fd>: a guest path, or e.g. "pipe:[1234]"."""
        raise KernelError(E.ENOENT, "no such fd")

    def fd_description(self, pid: int, fd: int) -> "FileDescription | None":
        """The open description behind the fd, if the kernel can give it (magic-link reopen)."""
        return None


def _ask(provider: ProcProvider, method: str, *args):
    """provider.method(*args): a module-level function, so partials of it are data a checkpoint
    holds (no lambdas); ``method`` is checked, as a checkpoint chose it."""
    if method not in _ASKABLE:
        raise KernelError(E.ENOENT, f"no /proc entry for {method!r}")
    return getattr(provider, method)(*args)


def _ask_str(provider: ProcProvider, method: str, *args) -> str:
    return str(_ask(provider, method, *args))


def _top_file(provider: ProcProvider, name: str) -> bytes:
    return provider.files().get(name, b"")


def _fd_inode(provider: ProcProvider, pid: int, fd: int):
    desc = provider.fd_description(pid, fd)
    return desc.inode if desc is not None else None


_PID_FILES = ("cmdline", "comm", "environ", "maps", "stat", "status")
_PID_LINKS = ("cwd", "exe", "root")
_ASKABLE = frozenset(_PID_FILES + _PID_LINKS + ("fd_link", "self_pid"))
for _f in (_ask, _ask_str, _top_file, _fd_inode):
    state_function(_f)


def _mode_for(name: str) -> int:
    return 0o400 if name == "environ" else 0o444


@state_class
class ProcRootDir(SyntheticDir):
    """/proc: self, one directory per pid, and the provider's top-level files."""

    __state__ = {"provider": "ctx:proc"}

    def __init__(self, sb: SuperBlock, provider: ProcProvider):
        super().__init__(sb, 0o555)
        self.provider = provider

    def _self(self) -> int | None:
        try:
            return self.provider.self_pid()
        except KernelError:
            return None

    def child_names(self) -> list[str]:
        names = [] if self._self() is None else ["self"]
        names += sorted(self.provider.files())
        names += [str(p) for p in sorted(self.provider.pids())]
        return names

    def make_child(self, name: str) -> Inode | None:
        if name == "self":
            return DynamicSymlink(self.sb, partial(_ask_str, self.provider, "self_pid"))
        if name.isdigit():
            return PidDir(self.sb, self.provider, int(name))
        if name in self.provider.files():
            return DataFile(self.sb, partial(_top_file, self.provider, name))
        return None


@state_class
class PidDir(SyntheticDir):
    """/proc/<pid>."""

    __state__ = {"provider": "ctx:proc", "pid": "int"}

    def __init__(self, sb: SuperBlock, provider: ProcProvider, pid: int):
        uid, gid = provider.owner(pid)
        super().__init__(sb, 0o555, uid, gid)
        self.provider = provider
        self.pid = pid

    def child_names(self) -> list[str]:
        return sorted(_PID_FILES + _PID_LINKS + ("fd",))

    def make_child(self, name: str) -> Inode | None:
        p, pid = self.provider, self.pid
        if name == "fd":
            return FdDir(self.sb, p, pid, self.uid, self.gid)
        if name in _PID_LINKS:
            return DynamicSymlink(self.sb, partial(_ask, p, name, pid), uid=self.uid, gid=self.gid)
        if name in _PID_FILES:
            return DataFile(self.sb, partial(_ask, p, name, pid), _mode_for(name), self.uid, self.gid)
        return None


@state_class
class FdDir(SyntheticDir):
    """/proc/<pid>/fd: a magic link per open fd."""

    __state__ = {"provider": "ctx:proc", "pid": "int"}

    def __init__(self, sb: SuperBlock, provider: ProcProvider, pid: int, uid: int, gid: int):
        super().__init__(sb, 0o500, uid, gid)
        self.provider = provider
        self.pid = pid

    def child_names(self) -> list[str]:
        return [str(fd) for fd in sorted(self.provider.fds(self.pid))]

    def make_child(self, name: str) -> Inode | None:
        p, pid, fd = self.provider, self.pid, int(name)
        link = DynamicSymlink(self.sb, partial(_ask, p, "fd_link", pid, fd), partial(_fd_inode, p, pid, fd),
                              self.uid, self.gid)
        link.mode = link.ftype | 0o700
        return link
