"""The /proc the guest sees, fed by the kernel through a :class:`ProcProvider`.

The tree (Linux fs/proc: root.c, base.c, array.c)::

    /proc/self           -> <pid> of the calling process
    /proc/thread-self    -> <pid>/task/<tid> of the calling thread
    /proc/mounts         -> self/mounts
    /proc/<file>         the provider's top-level files (stat, uptime, loadavg, meminfo, cpuinfo, ...)
    /proc/sys/...        the provider's sysctls ("kernel/pid_max" is /proc/sys/kernel/pid_max)
    /proc/<pid>/         one per process the provider lists (a thread's id is found too, unlisted):
        exe cwd root     symlinks
        cmdline environ maps mounts mountinfo statm   the process's (any thread gives the same)
        stat status comm                        the process's view (for a process directory)
        uid_map gid_map setgroups   its user namespace's maps and setgroups switch; written
                         once through the provider, which judges the writer and the opener
        fd/              a magic link per open fd
        task/<tid>/      one per thread: the same files, stat/status/comm of that thread

File contents are generated when the file is read, as seq_file does: at the first read and at every
read from offset 0 (procfs reports size 0, and so do we).
``/proc/<pid>/fd/N`` are magic links: if the provider hands back the open description, following
the link reaches its inode directly (so a pipe can be reopened), otherwise the link text is
resolved as a path.

The provider answers for "the calling task": the FileSystem is shared by all tasks, so the kernel
makes ``self_pid()`` return the thread group id of the task whose syscall is running. Ids are the
provider's (the kernel gives those of the PID namespace /proc was mounted for).
"""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ecs_kernel.checkpoint_objects import state_class, state_function
from ecs_kernel.errors import E, KernelError
from ecs_kernel.abi import O_ACCMODE, O_RDWR, O_WRONLY
from ecs_kernel.fs.file import SnapshotDescription
from ecs_kernel.fs.inodes import (DataFile, DynamicSymlink, Inode, SuperBlock, Symlink,
                                  SyntheticDir)

if TYPE_CHECKING:
    from ecs_kernel.fs.file import FileDescription


class ProcProvider:
    """What the kernel tells /proc. Override what you have; the defaults describe an empty process.

    Every per-process method takes ``pid`` (a thread group id from ``pids()``, or any thread's
    id: it names the thread's process) and may raise ``KernelError(ENOENT)`` when the process has
    gone. ``stat``, ``status`` and ``comm`` also take ``tid``: 0 for the process's own files,
    a thread id for those under ``task/``.
    """

    def self_pid(self) -> int:
        """The thread group id of the calling task (what /proc/self points to)."""
        raise KernelError(E.ENOENT, "no current process")

    def controlling_terminal(self, flags: int, path: str):
        """An open description of the calling process's controlling terminal (/dev/tty)."""
        raise KernelError(E.ENXIO, "no controlling terminal")

    def self_tid(self) -> int:
        """The thread id of the calling task (/proc/thread-self)."""
        return self.self_pid()

    def pids(self) -> list[int]:
        """The processes /proc lists (default: just the caller)."""
        try:
            return [self.self_pid()]
        except KernelError:
            return []

    def has_pid(self, pid: int) -> bool:
        """Does /proc/<pid> exist? A process's id, or the id of one of its threads (Linux finds
        /proc/<tid> though it lists only processes)."""
        return pid in self.pids()

    def tids(self, pid: int) -> list[int]:
        """The thread ids of process ``pid`` (its task/ directory)."""
        return [pid]

    def file_names(self) -> list[str]:
        """The top-level /proc files (their contents come from :meth:`file`)."""
        return []

    def file(self, name: str) -> bytes:
        raise KernelError(E.ENOENT, f"no /proc/{name}")

    def cpu_count(self) -> int:
        """The CPUs the kernel models (/sys/devices/system/cpu)."""
        return 1

    def sysctl_names(self) -> list[str]:
        """The files under /proc/sys, as paths ("kernel/pid_max")."""
        return []

    def sysctl(self, name: str) -> bytes:
        raise KernelError(E.ENOENT, f"no /proc/sys/{name}")

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

    def mounts(self, pid: int) -> bytes:
        """The mount table as /proc/<pid>/mounts (fstab format)."""
        return b""

    def mountinfo(self, pid: int) -> bytes:
        return b""

    def statm(self, pid: int) -> bytes:
        """Memory in pages: size resident shared text lib data dt."""
        return b""

    def limits(self, pid: int) -> bytes:
        """The process's resource limits, one line each (fs/proc/base.c proc_pid_limits)."""
        return b""

    def status(self, pid: int, tid: int = 0) -> bytes:
        return b""

    def stat(self, pid: int, tid: int = 0) -> bytes:
        return b""

    def comm(self, pid: int, tid: int = 0) -> bytes:
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

    def fd_info(self, pid: int, fd: int) -> bytes:
        """/proc/<pid>/fdinfo/<fd>: pos, flags, mnt_id, ino and the object's own lines."""
        raise KernelError(E.ENOENT, "no such fd")

    def ns_names(self) -> list[str]:
        """The entries of /proc/<pid>/ns (none: no namespace files)."""
        return []

    def ns_link(self, pid: int, name: str) -> str:
        """readlink /proc/<pid>/ns/<name>: ``ipc:[4026531839]``."""
        raise KernelError(E.ENOENT, "no such namespace")

    def ns_inode(self, pid: int, name: str) -> Inode | None:
        """The nsfs inode that following /proc/<pid>/ns/<name> reaches."""
        return None

    def exe_inode(self, pid: int):
        """Where /proc/<pid>/exe leads (a magic link: no search permission on the way): an
        inode, or where it was found (fs/ops.Resolved); None: follow the path."""
        return None

    def id_file(self, pid: int, name: str) -> bytes:
        """uid_map, gid_map or setgroups of process ``pid``'s user namespace, as the caller
        sees it."""
        raise KernelError(E.ENOENT, f"no {name}")

    def id_file_open(self, pid: int, name: str, writing: bool):
        """Open one of those files: (the opener's credentials, the namespace), or an errno."""
        raise KernelError(E.ENOENT, f"no {name}")

    def id_file_write(self, name: str, ns: int, opener, offset: int, data: bytes) -> int:
        """A write to one of those files by the calling task: the count, or an errno."""
        raise KernelError(E.EPERM, f"{name} is not writable")


def _ask(provider: ProcProvider, method: str, *args):
    """provider.method(*args): a module-level function, so partials of it are data a checkpoint
    holds (no lambdas); ``method`` is checked, as a checkpoint chose it."""
    if method not in _ASKABLE:
        raise KernelError(E.ENOENT, f"no /proc entry for {method!r}")
    return getattr(provider, method)(*args)


def _ask_str(provider: ProcProvider, method: str, *args) -> str:
    return str(_ask(provider, method, *args))


def _thread_self(provider: ProcProvider) -> str:
    return f"{provider.self_pid()}/task/{provider.self_tid()}"


def _fd_inode(provider: ProcProvider, pid: int, fd: int):
    desc = provider.fd_description(pid, fd)
    return desc.inode if desc is not None else None


def _ns_inode(provider: ProcProvider, pid: int, name: str):
    return provider.ns_inode(pid, name)


def _exe_inode(provider: ProcProvider, pid: int):
    return provider.exe_inode(pid)


_THREAD_FILES = ("comm", "stat", "status")  # a task/<tid> directory's own
_PROCESS_FILES = ("cmdline", "environ", "limits", "maps", "mountinfo", "mounts", "statm")
_PID_LINKS = ("cwd", "exe", "root")
_ID_FILES = ("gid_map", "setgroups", "uid_map")  # the user namespace's, writable once
_ASKABLE = frozenset(_THREAD_FILES + _PROCESS_FILES + _PID_LINKS
                     + ("fd_link", "fd_info", "ns_link", "self_pid", "file", "sysctl", "id_file"))
for _f in (_ask, _ask_str, _thread_self, _fd_inode, _ns_inode, _exe_inode):
    state_function(_f)


def _mode_for(name: str) -> int:
    return 0o400 if name == "environ" else 0o444


@state_class
class ProcRootDir(SyntheticDir):
    """/proc: self, thread-self, mounts, the provider's top-level files, sys/, one directory per
    process."""

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
        names = [] if self._self() is None else ["self", "thread-self", "mounts"]
        names += sorted(set(self.provider.file_names()) - set(names))
        if self.provider.sysctl_names():
            names.append("sys")
        names += [str(p) for p in sorted(self.provider.pids())]
        return names

    def lookup(self, name: str) -> Inode | None:
        if not name.isdigit():
            return super().lookup(name)
        # a process, or a thread that is not its group's leader: found though not listed
        if name != str(int(name)) or not self.provider.has_pid(int(name)):
            return None
        child = self._cache.get(name)
        if child is None:
            child = PidDir(self.sb, self.provider, int(name))
            child.parent, child.name = self, name
            self._cache[name] = child
        return child

    def make_child(self, name: str) -> Inode | None:
        p = self.provider
        if name == "self":
            return DynamicSymlink(self.sb, partial(_ask_str, p, "self_pid"))
        if name == "thread-self":
            return DynamicSymlink(self.sb, partial(_thread_self, p))
        if name == "mounts" and name not in p.file_names():
            return Symlink(self.sb, "self/mounts")
        if name == "sys":
            return ProcSysDir(self.sb, p, "")
        if name.isdigit():
            return PidDir(self.sb, p, int(name))
        if name in p.file_names():
            return DataFile(self.sb, partial(_ask, p, "file", name))
        return None


@state_class
class ProcSysDir(SyntheticDir):
    """/proc/sys and its subdirectories: the provider's sysctls under ``prefix``."""

    __state__ = {"provider": "ctx:proc", "prefix": "str"}

    def __init__(self, sb: SuperBlock, provider: ProcProvider, prefix: str):
        super().__init__(sb, 0o555)
        self.provider = provider
        self.prefix = prefix  # "" for /proc/sys, "kernel/" for /proc/sys/kernel

    def child_names(self) -> list[str]:
        n = len(self.prefix)
        return sorted({s[n:].split("/", 1)[0] for s in self.provider.sysctl_names()
                       if s.startswith(self.prefix)})

    def make_child(self, name: str) -> Inode | None:
        path = self.prefix + name
        if path in self.provider.sysctl_names():
            return SysctlFile(self.sb, partial(_ask, self.provider, "sysctl", path))
        return ProcSysDir(self.sb, self.provider, path + "/")


@state_class
class PidDir(SyntheticDir):
    """/proc/<pid> (``tid`` 0), or /proc/<pid>/task/<tid>."""

    __state__ = {"provider": "ctx:proc", "pid": "int", "tid": "int"}

    def __init__(self, sb: SuperBlock, provider: ProcProvider, pid: int, tid: int = 0):
        uid, gid = provider.owner(pid)
        super().__init__(sb, 0o555, uid, gid)
        self.provider = provider
        self.pid = pid
        self.tid = tid

    def child_names(self) -> list[str]:
        names = _THREAD_FILES + _PROCESS_FILES + _PID_LINKS + _ID_FILES + ("fd", "fdinfo")
        if self.provider.ns_names():
            names += ("ns",)
        return sorted(names if self.tid else names + ("task",))

    def make_child(self, name: str) -> Inode | None:
        p, pid = self.provider, self.pid
        if name == "fd":
            return FdDir(self.sb, p, pid, self.uid, self.gid)
        if name == "fdinfo":
            return FdInfoDir(self.sb, p, pid, self.uid, self.gid)
        if name == "task" and not self.tid:
            return TaskDir(self.sb, p, pid, self.uid, self.gid)
        if name == "ns" and p.ns_names():
            return NsDir(self.sb, p, pid, self.uid, self.gid)
        if name == "exe":  # a magic link to the program's file
            return DynamicSymlink(self.sb, partial(_ask, p, name, pid), partial(_exe_inode, p, pid),
                                  uid=self.uid, gid=self.gid)
        if name in _PID_LINKS:
            return DynamicSymlink(self.sb, partial(_ask, p, name, pid), uid=self.uid, gid=self.gid,
                                  magic=True)
        if name in _THREAD_FILES:
            return PidDataFile(self.sb, partial(_ask, p, name, pid, self.tid), _mode_for(name),
                            self.uid, self.gid)
        if name in _PROCESS_FILES:
            cls = DataFile if name in ("mountinfo", "mounts") else PidDataFile
            return cls(self.sb, partial(_ask, p, name, pid), _mode_for(name), self.uid, self.gid)
        if name in _ID_FILES:
            return IDFile(self.sb, p, pid, name, self.uid, self.gid)
        return None


@state_class
class SysctlFile(DataFile):
    """A /proc/sys file (proc_sys_file_operations): lseek takes SEEK_END (default_llseek, from
    its size 0)."""

    __state__ = {}
    seek_end = True


@state_class
class PidDataFile(DataFile):
    """A process's own file (/proc/PID/status, maps, limits, ...): proc_single_file_operations
    and its kin, with no splice_read (sendfile from it is EINVAL)."""

    __state__ = {}
    splice_read = False


@state_class
class IDFile(DataFile):
    """/proc/<pid>/uid_map, gid_map, setgroups (Linux: proc_uid_map_operations,
    proc_setgroups_operations): read as the opener sees the namespace, written once through the
    provider with the opener's credentials kept at open (file->f_cred)."""

    __state__ = {"provider": "ctx:proc", "pid": "int", "name": "str"}
    splice_read = False

    def __init__(self, sb: SuperBlock, provider: ProcProvider, pid: int, name: str, uid: int,
                 gid: int):
        super().__init__(sb, partial(_ask, provider, "id_file", pid, name), 0o644, uid, gid)
        self.provider = provider
        self.pid = pid
        self.name = name

    def open_description(self, flags: int, path: str):
        writing = (flags & O_ACCMODE) in (O_WRONLY, O_RDWR)
        opener, ns = self.provider.id_file_open(self.pid, self.name, writing)
        return IDFileDescription(self, flags, path, bytes(self.content_fn()), opener, ns)


@state_class
class IDFileDescription(SnapshotDescription):
    """An open uid_map, gid_map or setgroups: the namespace it is about and its opener. A
    seq_file: no pread or pwrite (ESPIPE)."""

    __state__ = {"opener": "@CredView", "ns": "int"}

    def __init__(self, inode: IDFile, flags: int, path: str, content: bytes, opener, ns: int):
        super().__init__(inode, flags, path, content)
        self.opener = opener
        self.ns = ns

    def _write(self, data: bytes) -> int:
        n = self.inode.provider.id_file_write(self.inode.name, self.ns, self.opener, self.offset,
                                              data)
        self.offset = n
        return n

    def pread(self, n: int, offset: int) -> bytes:
        if offset < 0 or n < 0:
            raise KernelError(E.EINVAL, "negative offset")
        self._need_open()
        raise KernelError(E.ESPIPE, "no pread on a seq_file")

    def pwrite(self, data: bytes, offset: int) -> int:
        if offset < 0:
            raise KernelError(E.EINVAL, "negative offset")
        self._need_open()
        raise KernelError(E.ESPIPE, "no pwrite on a seq_file")


@state_class
class TaskDir(SyntheticDir):
    """/proc/<pid>/task: a directory per thread of the process."""

    __state__ = {"provider": "ctx:proc", "pid": "int"}

    def __init__(self, sb: SuperBlock, provider: ProcProvider, pid: int, uid: int, gid: int):
        super().__init__(sb, 0o555, uid, gid)
        self.provider = provider
        self.pid = pid

    def child_names(self) -> list[str]:
        return [str(t) for t in sorted(self.provider.tids(self.pid))]

    def make_child(self, name: str) -> Inode | None:
        return PidDir(self.sb, self.provider, self.pid, int(name))


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


@state_class
class FdInfoDir(SyntheticDir):
    """/proc/<pid>/fdinfo: a file per open fd (its position, flags and the object's state)."""

    __state__ = {"provider": "ctx:proc", "pid": "int"}

    def __init__(self, sb: SuperBlock, provider: ProcProvider, pid: int, uid: int, gid: int):
        super().__init__(sb, 0o555, uid, gid)
        self.provider = provider
        self.pid = pid

    def child_names(self) -> list[str]:
        return [str(fd) for fd in sorted(self.provider.fds(self.pid))]

    def lookup(self, name: str) -> Inode | None:
        # an fd opened since the last listing is found; a closed one is not
        if not name.isdigit() or int(name) not in self.provider.fds(self.pid):
            return None
        return super().lookup(name)

    def make_child(self, name: str) -> Inode | None:
        return PidDataFile(self.sb, partial(_ask, self.provider, "fd_info", self.pid, int(name)), 0o444,
                        self.uid, self.gid)


@state_class
class NsDir(SyntheticDir):
    """/proc/<pid>/ns: a magic link per namespace (``ipc:[4026531839]``), which opens to the
    namespace's nsfs file."""

    __state__ = {"provider": "ctx:proc", "pid": "int"}

    def __init__(self, sb: SuperBlock, provider: ProcProvider, pid: int, uid: int, gid: int):
        super().__init__(sb, 0o511, uid, gid)
        self.provider = provider
        self.pid = pid

    def child_names(self) -> list[str]:
        return list(self.provider.ns_names())

    def make_child(self, name: str) -> Inode | None:
        p, pid = self.provider, self.pid
        if name not in p.ns_names():
            return None
        link = DynamicSymlink(self.sb, partial(_ask, p, "ns_link", pid, name),
                              partial(_ns_inode, p, pid, name), self.uid, self.gid)
        link.mode = link.ftype | 0o777
        return link
