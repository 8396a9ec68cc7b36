"""The guest's file tree: mounts, the overlay over the host root, and path resolution.

Mounts (the contract in DESIGN.md):

    /        the host directory ``root_dir`` (default the host's /), READ-ONLY, under an in-memory
             overlay: guest writes land in memory, the host never changes
    /tmp     an empty in-memory directory (tmpfs)
    /dev     null, zero, full, random, urandom, tty, stdin/stdout/stderr/fd links, shm/
    /proc    self, <pid>/{exe, cwd, root, cmdline, environ, maps, status, stat, comm, fd/, task/},
             the kernel's files (fs/proc.py), from a ProcProvider the kernel passes in
    /sys     devices/system/cpu: the CPUs the kernel models (fs/sysfs.py), from the same provider

The mount table (:meth:`FileSystem.mounts_text`, :meth:`FileSystem.mountinfo_text`) is what
/proc/<pid>/mounts and mountinfo show; each mount's st_dev is its superblock's (the root's is the
host root directory's), so df and findmnt match files to mounts as on Linux.

Path resolution follows path_resolution(7) and fs/namei.c (link_path_walk / walk_component):

- each component needs search (exec) permission on the directory it is looked up in (EACCES);
- ``..`` of the guest root is the root, and a symlink target is resolved inside the guest root
  (an absolute target starts at the guest root), like a chroot: nothing escapes ``root_dir``; host
  symlinks are read with readlink and never followed by the host;
- more than 40 symlinks followed in one resolution give ELOOP (MAXSYMLINKS);
- a non-directory used as a directory gives ENOTDIR; a path of 4096 bytes or more, or a component of
  more than 255 bytes, gives ENAMETOOLONG; an empty path gives ENOENT;
- a trailing slash requires a directory and makes a final symlink be followed.

Paths are ``str`` or ``bytes`` (bytes are decoded with the filesystem encoding, surrogateescape, so
any byte string round-trips); outputs meant for guest memory (readlink, getcwd) are bytes.

The path operations themselves (open, stat, mkdir, rename, ...) are in ecs_kernel.fs.ops.
"""
from __future__ import annotations

import inspect
import os
import stat as _stat
import time
import types
from typing import Callable

from ecs_kernel.abi import (CAP_DAC_READ_SEARCH, MAXSYMLINKS, NAME_MAX, PATH_MAX, RESOLVE_BENEATH,
                            RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS,
                            RESOLVE_NO_XDEV)
from ecs_kernel.checkpoint_objects import state_class
from ecs_kernel.errors import E, KernelError
from ecs_kernel.fs import host_view
from ecs_kernel.fs.stat import makedev
from ecs_kernel.fs.devices import devices_of, make_dev_dir
from ecs_kernel.fs.file import FileDescription
from ecs_kernel.fs.inodes import (
    MAY_EXEC, ROOT_CREDS, Creds, DirInode, Directory, Inode, SuperBlock, Symlink, check_permission,
    host_inode,
)
from ecs_kernel.fs.ops import LAST_DOT, LAST_DOTDOT, LAST_NORM, LAST_ROOT, PathOps, Resolved
from ecs_kernel.fs.pipe import PipeFile, make_pipe
from ecs_kernel.fs.proc import ProcProvider, ProcRootDir
from ecs_kernel.fs.sysfs import make_sys_dir


MOUNT_OPTIONS = "rw,relatime"  # every mount: writable (the root in its overlay), atime as relatime


def _escape(path: str) -> str:
    """A path as the mount tables write it: space, tab, newline and backslash in octal."""
    for ch in "\\ \t\n":
        path = path.replace(ch, f"\\{ord(ch):03o}")
    return path


class Walk:
    """The state of one path resolution (Linux: struct nameidata). ``resolve``: openat2's
    RESOLVE_* flags; ``scope``: the directory RESOLVE_BENEATH keeps the walk under (for
    RESOLVE_IN_ROOT it is ``root`` itself)."""

    __slots__ = ("root", "creds", "links", "resolve", "scope")

    def __init__(self, root: DirInode, creds: Creds, resolve: int = 0, scope: DirInode | None = None):
        self.root = root
        self.creds = creds
        self.links = 0  # symlinks followed so far, across nested targets
        self.resolve = resolve
        self.scope = scope


@state_class
class FileSystem(PathOps):
    """The file tree one emulated kernel shows its guests.

    ``root_dir``: the host directory shown read-only as /; ``proc_provider``: the kernel's
    :class:`ProcProvider` (default: an empty /proc); ``urandom(n)``: the byte source of /dev/urandom
    (default os.urandom); ``clock()``: nanoseconds since the epoch for timestamps (default
    time.time_ns); ``special_mounts=False`` leaves /tmp, /dev and /proc to the host view.
    """

    __state__ = {"clock": "fn", "root_dir": "ctx:fs_root", "overlay_sb": "@SuperBlock",
                 "tmpfs_sb": "@SuperBlock", "devtmpfs_sb": "@SuperBlock", "proc_sb": "@SuperBlock",
                 "sysfs_sb": "@SuperBlock", "pipefs_sb": "@SuperBlock", "root": "@Directory",
                 "mounts": "list[(str,@DirInode)]", "proc_provider": "ctx:proc",
                 "inotify_cookie": "~int", "devices": "~dict[int,@CharDevice]",
                 "covered": "~dict[str,@DirInode]"}

    def __init__(self, root_dir: str = "/", proc_provider: ProcProvider | None = None, *,
                 urandom: Callable[[int], bytes] | None = None, clock: Callable[[], int] | None = None,
                 special_mounts: bool = True):
        self.clock = clock or time.time_ns
        self.root_dir = os.path.realpath(root_dir)
        st = host_view.current().lstat(self.root_dir)
        if not _stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(self.root_dir)
        # Memory inodes of the overlay share the host root's st_dev; their numbers start far above
        # what host filesystems hand out, so they do not collide with host inode numbers.
        self.overlay_sb = SuperBlock("overlay", st.st_dev, self.clock, first_ino=1 << 40)
        self.tmpfs_sb = SuperBlock("tmpfs", makedev(0, 0x21), self.clock)
        self.devtmpfs_sb = SuperBlock("devtmpfs", makedev(0, 0x05), self.clock)
        self.proc_sb = SuperBlock("proc", makedev(0, 0x16), self.clock)
        self.sysfs_sb = SuperBlock("sysfs", makedev(0, 0x17), self.clock)
        self.pipefs_sb = SuperBlock("pipefs", makedev(0, 0x0F), self.clock)
        root = host_inode(self.overlay_sb, self.root_dir, st)
        assert isinstance(root, Directory)
        root.parent, root.name, root.mount_root = root, "", True
        self.root: Directory = root
        self.mounts: list[tuple[str, DirInode]] = [("/", root)]  # (mount point, its root), in order
        self.proc_provider = proc_provider or ProcProvider()
        if special_mounts:
            self.mount("/tmp", Directory(self.tmpfs_sb, 0o1777))
            dev = make_dev_dir(self.devtmpfs_sb, urandom, self.proc_provider)
            self.mount("/dev", dev)
            self.devices = devices_of(dev)  # what a mknod'd device node opens
            self.mount("/proc", ProcRootDir(self.proc_sb, self.proc_provider))
            self.mount("/sys", make_sys_dir(self.sysfs_sb, self.proc_provider))

    # -- mounts and pipes --------------------------------------------------------------------------
    def mount(self, path: str, directory: DirInode) -> None:
        """Show ``directory`` at ``path`` (whose parent must exist), hiding what was there."""
        walk = Walk(self.root, ROOT_CREDS)
        parent, last, kind, _ = self._walk_parent(self._path_str(path), self.root, walk)
        if kind != LAST_NORM or not isinstance(parent, Directory):
            raise KernelError(E.EINVAL, f"cannot mount at {path!r}")
        parent.whiteouts.discard(last)
        parent.entries[last] = directory
        directory.parent, directory.name, directory.mount_root = parent, last, True
        self.mounts.append((self.path_of(directory), directory))

    def mount_over(self, target: DirInode, root: DirInode) -> str:
        """mount(2) of a new file system (``root``) on the directory ``target``, which it hides
        until :meth:`umount`; returns the mount point's path. The tree is one for every mount
        namespace (only /proc is per namespace, systems/namespaces.py)."""
        parent, name = target.parent, target.name
        if target is self.root or not isinstance(parent, Directory) or parent.entries.get(name) is not target:
            raise KernelError(E.EINVAL, "cannot mount there")
        path = self.path_of(target)
        covered = self.__dict__.setdefault("covered", {})
        if path in covered:
            raise KernelError(E.EBUSY, "already a mount point")  # stacking is not modelled
        covered[path] = target
        parent.entries[name] = root
        root.parent, root.name, root.mount_root = parent, name, True
        self.mounts.append((path, root))
        return path

    def umount(self, path: str) -> None:
        """umount(2) of a mount :meth:`mount_over` made: the directory it hid is back."""
        covered = self.__dict__.get("covered", {})
        target = covered.pop(path)
        root = dict(self.mounts)[path]
        self.mounts.remove((path, root))
        target.parent.entries[target.name] = target
        root.mount_root = False

    def mounts_text(self) -> str:
        """/proc/<pid>/mounts: ``source mountpoint fstype options 0 0`` per mount (fstab(5))."""
        return "".join(f"{d.sb.name} {_escape(path)} {d.sb.name} {MOUNT_OPTIONS} 0 0\n"
                       for path, d in self.mounts)

    def mountinfo_text(self) -> str:
        """/proc/<pid>/mountinfo (proc(5)): ``id parent major:minor root mountpoint options -
        fstype source super_options``; mount ids count from 1 in mount order, the root's parent
        is 0 (outside the guest's view)."""
        lines = []
        for i, (path, d) in enumerate(self.mounts, 1):
            parent = 0 if i == 1 else 1 + self._mount_index(d.parent)
            major, minor = os.major(d.sb.dev), os.minor(d.sb.dev)
            lines.append(f"{i} {parent} {major}:{minor} / {_escape(path)} {MOUNT_OPTIONS} - "
                         f"{d.sb.name} {d.sb.name} rw\n")
        return "".join(lines)

    def mount_id(self, d: DirInode | None, inode=None) -> int:
        """The id (as mountinfo numbers it) of the mount directory ``d`` lies in; without a
        directory, the first mount of ``inode``'s superblock (statx's stx_mnt_id)."""
        if d is not None:
            return 1 + self._mount_index(d)
        for i, (_, root) in enumerate(self.mounts):
            if root.sb is getattr(inode, "sb", None):
                return i + 1
        return 1

    def _mount_index(self, d: DirInode) -> int:
        """The index in ``mounts`` of the mount ``d`` lies in."""
        roots = {id(root): i for i, (_, root) in enumerate(self.mounts)}
        while id(d) not in roots and d.parent is not d:
            d = d.parent
        return roots.get(id(d), 0)

    def pipe(self, flags: int = 0, creds: Creds | None = None) -> tuple[PipeFile, PipeFile]:
        """pipe2(2): (read end, write end)."""
        creds = creds or ROOT_CREDS
        return make_pipe(flags, self.pipefs_sb, creds.uid, creds.gid)

    # -- rendering ---------------------------------------------------------------------------------
    def path_of(self, d: DirInode) -> str:
        """The absolute guest path of directory ``d`` (ENOENT if it was removed)."""
        parts = []
        seen = 0
        while d is not self.root:
            if d.dead:
                raise KernelError(E.ENOENT, "directory was removed")
            if d.parent is d or seen > 4096:
                raise KernelError(E.ENOENT, "directory is not under the root")
            parts.append(d.name)
            d = d.parent
            seen += 1
        return "/" + "/".join(reversed(parts))

    def _render(self, res: Resolved, fallback: str) -> str:
        if res.parent is None and res.name.startswith("/"):
            return res.name  # reached through a magic link: the path it shows
        try:
            if isinstance(res.inode, DirInode):
                return self.path_of(res.inode)
            if res.parent is not None:
                base = self.path_of(res.parent)
                return base.rstrip("/") + "/" + res.name
        except KernelError:
            pass
        return fallback

    # -- resolution --------------------------------------------------------------------------------
    def _walk(self, creds: Creds | None) -> Walk:
        return Walk(self.root, creds or ROOT_CREDS)

    @staticmethod
    def _path_str(path: str | bytes | os.PathLike) -> str:
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if isinstance(path, (bytes, bytearray, memoryview)):
            raw = bytes(path)
            text = os.fsdecode(raw)
        elif isinstance(path, str):
            text = path
            raw = os.fsencode(path)
        else:
            raise TypeError(f"path must be str or bytes, not {type(path).__name__}")
        if not raw:
            raise KernelError(E.ENOENT, "empty path")
        if len(raw) >= PATH_MAX:
            raise KernelError(E.ENAMETOOLONG, "path too long")
        if b"\0" in raw:
            raise KernelError(E.EINVAL, "NUL in path")
        return text

    def _start(self, path: str, cwd) -> DirInode:
        """The directory a relative ``path`` starts from: ``cwd`` (a directory inode or an open
        description of one, as for *at(dirfd)), or the root when None."""
        if path.startswith("/") or cwd is None:
            return self.root
        inode = cwd.inode if isinstance(cwd, FileDescription) else cwd
        if not isinstance(inode, DirInode):
            raise KernelError(E.ENOTDIR, "dirfd is not a directory")
        return inode

    def _parent_dir(self, d: DirInode, walk: Walk) -> DirInode:
        """``..`` of ``d`` (follow_dotdot): the root stays; RESOLVE_BENEATH may not climb out of
        its scope, RESOLVE_NO_XDEV not out of a mount (EXDEV)."""
        if d is walk.root:
            if walk.resolve & RESOLVE_BENEATH:
                raise KernelError(E.EXDEV, "'..' out of the RESOLVE_BENEATH scope")
            return d
        if walk.resolve:
            if d is walk.scope:
                raise KernelError(E.EXDEV, "'..' out of the RESOLVE_BENEATH scope")
            if walk.resolve & RESOLVE_NO_XDEV and d.mount_root:
                raise KernelError(E.EXDEV, "'..' crosses a mount")
        return d.parent

    @staticmethod
    def _crossing(child, walk: Walk) -> None:
        """RESOLVE_NO_XDEV: stepping onto a mounted directory is EXDEV."""
        if walk.resolve & RESOLVE_NO_XDEV and isinstance(child, DirInode) and child.mount_root:
            raise KernelError(E.EXDEV, "crosses a mount")

    def _link_start(self, link: Symlink, d: DirInode, walk: Walk):
        """pick_link's checks before ``link`` (found in ``d``) is followed, under openat2's
        RESOLVE_* flags: no symlinks (ELOOP); a magic link's jump (RESOLVE_NO_MAGICLINKS: ELOOP;
        RESOLVE_NO_XDEV onto another file system, a scoped walk: EXDEV); an absolute target
        (RESOLVE_BENEATH: EXDEV; RESOLVE_NO_XDEV from another mount than the root's: EXDEV).
        Returns the magic link's inode, or None for a plain link."""
        if walk.resolve & RESOLVE_NO_SYMLINKS:
            raise KernelError(E.ELOOP, "RESOLVE_NO_SYMLINKS")
        jumped = link.jump()
        if walk.resolve and getattr(link, "magic", False):
            if walk.resolve & RESOLVE_NO_MAGICLINKS:
                raise KernelError(E.ELOOP, "RESOLVE_NO_MAGICLINKS")
            if walk.resolve & RESOLVE_NO_XDEV:
                target = jumped if jumped is not None else self._resolve(
                    link.readlink(), self.root, Walk(self.root, walk.creds), True).inode
                target = target.inode if isinstance(target, Resolved) else target
                if target.sb is not d.sb:
                    raise KernelError(E.EXDEV, "a magic link to another mount")
            if walk.resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT):
                raise KernelError(E.EXDEV, "a magic link in a scoped walk")
        if jumped is not None:
            return jumped
        if walk.resolve and link.readlink().startswith("/"):
            if walk.resolve & RESOLVE_BENEATH:
                raise KernelError(E.EXDEV, "an absolute symlink under RESOLVE_BENEATH")
            if walk.resolve & RESOLVE_NO_XDEV and d.sb is not walk.root.sb:
                raise KernelError(E.EXDEV, "an absolute symlink from another mount")
        return None

    def _may_lookup(self, d: DirInode, walk: Walk) -> None:
        if not walk.creds.capable_wrt(CAP_DAC_READ_SEARCH, d):  # which may search any directory
            check_permission(d, walk.creds, MAY_EXEC)

    def _lookup_child(self, d: DirInode, name: str, walk: Walk) -> Inode | None:
        if len(name) > NAME_MAX // 4 and len(os.fsencode(name)) > NAME_MAX:
            raise KernelError(E.ENAMETOOLONG, "file name too long")
        if d.dead:
            return None
        return d.lookup(name)

    def _walk_parent(self, path: str, start: DirInode, walk: Walk) -> tuple[DirInode, str, int, bool]:
        """Resolve all but the last component: (directory, last name, LAST_* kind, trailing slash)."""
        d = walk.root if path.startswith("/") else start
        parts = [p for p in path.split("/") if p]
        if not parts:
            return d, "", LAST_ROOT, False
        for comp in parts[:-1]:
            d = self._step(d, comp, walk)
        last = parts[-1]
        kind = LAST_DOT if last == "." else LAST_DOTDOT if last == ".." else LAST_NORM
        return d, last, kind, path.endswith("/")

    def _step(self, d: DirInode, comp: str, walk: Walk) -> DirInode:
        """One intermediate component: the directory it names (symlinks followed)."""
        self._may_lookup(d, walk)
        if comp == ".":
            return d
        if comp == "..":
            return self._parent_dir(d, walk)
        child = self._lookup_child(d, comp, walk)
        if child is None:
            raise KernelError(E.ENOENT, comp)
        self._crossing(child, walk)
        if isinstance(child, Symlink):
            child = self._follow(child, d, walk).inode
        if not isinstance(child, DirInode):
            raise KernelError(E.ENOTDIR, comp)
        return child

    def _follow(self, link: Symlink, d: DirInode, walk: Walk) -> Resolved:
        """Resolve what ``link`` (found in ``d``) points to, inside the guest root."""
        walk.links += 1
        if walk.links > MAXSYMLINKS:
            raise KernelError(E.ELOOP, "too many levels of symbolic links")
        jumped = self._link_start(link, d, walk)
        if isinstance(jumped, Resolved):  # a magic link that knows where its target lives
            return jumped
        if jumped is not None:
            return Resolved(None, link.readlink(), jumped)  # no parent: the name is the link's text
        target = link.readlink()
        if not target:
            raise KernelError(E.ENOENT, "empty symlink")
        start = walk.root if target.startswith("/") else d
        return self._resolve(target, start, walk, follow=True)

    def _resolve(self, path: str, start: DirInode, walk: Walk, follow: bool) -> Resolved:
        d, last, kind, trailing = self._walk_parent(path, start, walk)
        return self._resolve_last(d, last, kind, trailing, walk, follow)

    def _resolve_last(self, d: DirInode, last: str, kind: int, trailing: bool, walk: Walk,
                      follow: bool) -> Resolved:
        if kind == LAST_ROOT:
            return Resolved(d.parent, d.name, d)
        self._may_lookup(d, walk)
        if kind == LAST_DOT:
            return Resolved(d.parent, d.name, d)
        if kind == LAST_DOTDOT:
            p = self._parent_dir(d, walk)
            return Resolved(p.parent, p.name, p)
        child = self._lookup_child(d, last, walk)
        if child is None:
            raise KernelError(E.ENOENT, last)
        self._crossing(child, walk)
        res = Resolved(d, last, child)
        if isinstance(child, Symlink) and (follow or trailing):
            res = self._follow(child, d, walk)
        if trailing and not isinstance(res.inode, DirInode):
            raise KernelError(E.ENOTDIR, last)
        return res

    def resolve(self, path, *, cwd=None, follow: bool = True, creds: Creds | None = None) -> Resolved:
        """Resolve ``path`` to an existing inode (with where it was found)."""
        p = self._path_str(path)
        return self._resolve(p, self._start(p, cwd), self._walk(creds), follow)

    def lookup(self, path, *, cwd=None, follow: bool = True, creds: Creds | None = None) -> Inode:
        """The inode ``path`` names (AT_SYMLINK_NOFOLLOW is ``follow=False``)."""
        return self.resolve(path, cwd=cwd, follow=follow, creds=creds).inode


class RootedView:
    """The file tree as a task after chroot(2) sees it (Linux: its fs_struct's root): every
    FileSystem method runs with ``root`` replaced by the task's root directory, so an absolute
    path, an absolute symlink target and ``..`` at the root stay under it; all else (mounts,
    superblocks, the clock) is the tree's own. Not kept anywhere: the root is the task's
    ``fs_contexts`` row's (FSContext.root) and the view is made per call."""

    __slots__ = ("_fs", "root")

    def __init__(self, fs: FileSystem, root: DirInode):
        object.__setattr__(self, "_fs", fs)
        object.__setattr__(self, "root", root)

    def __getattr__(self, name):
        fs = object.__getattribute__(self, "_fs")
        static = inspect.getattr_static(type(fs), name, None)
        if isinstance(static, types.FunctionType):
            return types.MethodType(static, self)  # the method, with this view as ``self``
        if isinstance(static, property):
            return static.__get__(self)
        return getattr(fs, name)

    def __setattr__(self, name, value):
        setattr(object.__getattribute__(self, "_fs"), name, value)

    def getcwd(self, cwd: DirInode | None) -> bytes:
        """getcwd(2) of a working directory outside the root: "(unreachable)" and its path from
        the tree's root, as Linux (2.6.36 on) gives it."""
        d = cwd if cwd is not None else self.root
        try:
            return os.fsencode(FileSystem.path_of(self, d))
        except KernelError:
            if d.dead:
                raise
        return b"(unreachable)" + os.fsencode(self._fs.path_of(d))
