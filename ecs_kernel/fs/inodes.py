"""Inodes: the objects a path resolves to (gVisor: vfs.Dentry + the filesystem's inode).

Two origins, one set of classes:

- *memory* inodes (``lower is None``) live only in Python: files created by the guest, ``/tmp``,
  ``/dev``, pipes, ``/proc`` entries;
- *host-backed* inodes (``lower`` is a host path under the guest root) show a host file READ-ONLY.
  Until they are copied up, ``stat()`` is the host's ``lstat`` and reads go to the host file, both
  through fs/host_view.py (which a deterministic run's ``--record`` records and a replay serves).
  Copy-up (``copy_up_meta`` for metadata, ``RegularFile.copy_up`` for contents) moves the state into
  memory *in place*, so every open description of the inode sees the change, and the host file is
  never written. st_dev/st_ino stay the host's across copy-up, as overlayfs keeps them.

A :class:`Directory` is also the dentry of its name: it knows its ``parent`` and ``name`` (directories
have exactly one name), which is what ``..`` and getcwd use. Its children are ``entries`` (upper
layer, and a cache of host lookups) over the host directory ``lower``, minus ``whiteouts`` (host
names the guest removed).

The library never writes to the host: the only host calls (host_view.py) are lstat, open(O_RDONLY),
pread, readlink, getdents.
"""
from __future__ import annotations

import os
import stat as _stat
import time
from dataclasses import dataclass
from typing import Callable

from ecs_kernel.abi import S_IFDIR, S_IFLNK, S_IFMT, S_IFREG
from ecs_kernel import abi
from ecs_kernel.checkpoint_objects import state_class, state_function
from ecs_kernel.errors import E, KernelError
from ecs_kernel.fs import host_view
from ecs_kernel.fs.file import DirectoryDescription, RegularFileDescription, SnapshotDescription
from ecs_kernel.fs.stat import dtype_of, Stat

MAY_EXEC = 1
MAY_WRITE = 2
MAY_READ = 4

# tmpfs counts a directory's size in bogus 20-byte dirents (mm/shmem.c BOGO_DIRENT_SIZE).
BOGO_DIRENT_SIZE = 20
# A memory file may not grow past this (bytes really held); truncate can still make it sparse-larger.
MAX_MEMORY_FILE = 1 << 31


@dataclass(frozen=True)
class Creds:
    """The filesystem credentials of the calling task (fsuid, fsgid, supplementary groups) and
    its effective capabilities (``caps``, one bit per CAP_*; None: every capability for uid 0,
    none otherwise), held in its user namespace, whose id maps are ``idmap``: the kernel uid
    and gid ranges ``((lo, end), ...)`` it maps, or None for the initial namespace (every id)."""

    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    caps: int | None = None
    idmap: tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]] | None = None

    def in_group(self, gid: int) -> bool:
        return gid == self.gid or gid in self.groups

    def capable(self, cap: int) -> bool:
        """ns_capable(current_user_ns(), cap)."""
        if self.caps is None:
            return self.uid == 0
        return bool((self.caps >> cap) & 1)

    def mapped(self, uid: int, gid: int) -> bool:
        """privileged_wrt_inode_uidgid: both ids have a mapping in the caller's namespace."""
        if self.idmap is None:
            return True
        uids, gids = self.idmap
        return any(lo <= uid < end for lo, end in uids) and any(lo <= gid < end for lo, end in gids)

    def capable_wrt(self, cap: int, inode: "Inode") -> bool:
        """capable_wrt_inode_uidgid: ``cap`` in the caller's namespace, over an inode whose
        owner and group it maps."""
        if not self.capable(cap):
            return False
        if self.idmap is None:
            return True
        _, uid, gid = inode.owner()
        return self.mapped(uid, gid)


ROOT_CREDS = Creds()

# The clocks and byte sources a checkpointed file system may name (superblocks, /dev/urandom).
state_function(time.time_ns, "time.time_ns")
state_function(os.urandom, "os.urandom")


def _under(path: str, root: str) -> bool:
    path = os.path.normpath(path)
    return path == root or path.startswith(root.rstrip("/") + "/")


def host_error(exc: OSError, what: str = "") -> KernelError:
    """A host OSError as the KernelError the guest should see."""
    return KernelError(exc.errno or E.EIO, what or str(exc))


@state_class
class SuperBlock:
    """One mounted filesystem's identity: its st_dev, its inode numbers, its clock.

    Everything in the tree is plain data (no closures): its clock is a registered function, so
    the tree goes into a checkpoint (checkpoint_objects.py).
    """

    __state__ = {"name": "str", "dev": "int", "clock": "fn", "_next_ino": "int"}

    def __init__(self, name: str, dev: int, clock: Callable[[], int], first_ino: int = 1):
        self.name = name
        self.dev = dev
        self.clock = clock
        self._next_ino = first_ino

    def next_ino(self) -> int:
        ino = self._next_ino
        self._next_ino += 1
        return ino

    def now(self) -> int:
        return self.clock()


@state_class
class Inode:
    """Common metadata and the permission/stat logic of every inode.

    Fields (meaningful once ``copied_up``; before that the host's lstat answers):
    dev, ino, mode (type bits included), nlink, uid, gid, rdev, atime_ns, mtime_ns, ctime_ns.
    """

    ftype = 0  # S_IF* of this class; host special files set it per instance

    __state__ = {"sb": "@SuperBlock", "lower": "?str", "copied_up": "bool", "dev": "int", "ino": "int",
                 "mode": "~int", "nlink": "~int", "uid": "~int", "gid": "~int", "rdev": "~int",
                 "atime_ns": "~int", "mtime_ns": "~int", "ctime_ns": "~int", "_host_size": "~int",
                 "ftype": "~int", "locks": "~@FileLocks",  # locks: fs/locks.py, once locked
                 "watches": "~list[[@FileDescription,int]]", "delete_self_pending": "~bool",
                 "xattrs": "~dict[str,bytes]"}  # fs/xattr.py: name -> value, once one is set

    def __init__(self, sb: SuperBlock, mode: int = 0o644, uid: int = 0, gid: int = 0, rdev: int = 0,
                 *, lower: str | None = None, host_stat: os.stat_result | None = None):
        self.sb = sb
        self.lower = lower
        if lower is None:
            now = sb.now()
            self.copied_up = True
            self.dev = sb.dev
            self.ino = sb.next_ino()
            self.mode = self.ftype | (mode & 0o7777)
            self.nlink = 1
            self.uid, self.gid, self.rdev = uid, gid, rdev
            self.atime_ns = self.mtime_ns = self.ctime_ns = now
        else:
            st = host_stat if host_stat is not None else self._lstat()
            self.copied_up = False
            self.dev, self.ino = st.st_dev, st.st_ino  # stable for the life of the inode

    def __restored__(self, r) -> None:
        """A host-backed inode read from a checkpoint must name a path under the restoring file
        system's root (a forged file must not show the guest other host files)."""
        if self.lower is not None:
            root = r.context.get("fs_root")
            if root is None or not _under(self.lower, root):
                r.fail(f"a file {self.lower!r} outside the guest root")

    # -- host side ---------------------------------------------------------------------------
    def _lstat(self) -> os.stat_result:
        try:
            return host_view.current().lstat(self.lower)
        except OSError as e:
            raise host_error(e, self.lower) from None

    def copy_up_meta(self) -> None:
        """Take the host's metadata into memory; later changes never reach the host."""
        if self.copied_up:
            return
        st = self._lstat()
        self.mode = st.st_mode
        self.nlink = st.st_nlink if _stat.S_ISDIR(st.st_mode) else 1
        self.uid, self.gid, self.rdev = st.st_uid, st.st_gid, st.st_rdev
        self.atime_ns, self.mtime_ns, self.ctime_ns = st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns
        self._host_size = st.st_size
        self.copied_up = True

    # -- metadata ------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return 0

    def get_mode(self) -> int:
        return self.mode if self.copied_up else self._lstat().st_mode

    def owner(self) -> tuple[int, int, int]:
        """(mode, uid, gid), what permission checks need."""
        if self.copied_up:
            return self.mode, self.uid, self.gid
        st = self._lstat()
        return st.st_mode, st.st_uid, st.st_gid

    def stat(self) -> Stat:
        if not self.copied_up:
            st = self._lstat()
            return Stat(st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid, st.st_rdev,
                        st.st_size, st.st_blksize, st.st_blocks, st.st_atime_ns, st.st_mtime_ns,
                        st.st_ctime_ns)
        size = self.size
        return Stat(self.dev, self.ino, self.mode, self.nlink, self.uid, self.gid, self.rdev, size,
                    abi.PAGE_SIZE, self._blocks(size), self.atime_ns, self.mtime_ns, self.ctime_ns)

    def _blocks(self, size: int) -> int:
        return 0

    def touch(self, *, a: bool = False, m: bool = False, c: bool = False) -> None:
        """Set the named timestamps to now (copying metadata up first)."""
        self.copy_up_meta()
        now = self.sb.now()
        if a:
            self.atime_ns = now
        if m:
            self.mtime_ns = now
        if c:
            self.ctime_ns = now

    @property
    def is_dir(self) -> bool:
        return self.ftype == S_IFDIR

    @property
    def is_symlink(self) -> bool:
        return self.ftype == S_IFLNK

    @property
    def is_regular(self) -> bool:
        return self.ftype == S_IFREG

    # -- opening -------------------------------------------------------------------------------
    def open_description(self, flags: int, path: str):
        """A new open file description of this inode (permission checks are the caller's)."""
        raise KernelError(E.ENXIO, "no such device")

    def __repr__(self) -> str:
        where = self.lower if self.lower is not None else f"{self.sb.name}:{self.ino}"
        return f"<{type(self).__name__} {where}>"


def permitted(inode: Inode, creds: Creds, want: int) -> bool:
    """Linux generic_permission for ``want`` (MAY_READ|MAY_WRITE|MAY_EXEC bits): the owner, group
    or other bits; failing them, CAP_DAC_READ_SEARCH reads files and reads and searches
    directories, CAP_DAC_OVERRIDE does anything to a directory and reads and writes files, and
    executes a file that has some execute bit.
    """
    mode, uid, gid = inode.owner()
    if creds.uid == uid:
        bits = mode >> 6
    elif creds.in_group(gid):
        bits = mode >> 3
    else:
        bits = mode
    if (bits & want) == want:
        return True
    if (mode & S_IFMT) == S_IFDIR:
        if not want & MAY_WRITE and creds.capable_wrt(abi.CAP_DAC_READ_SEARCH, inode):
            return True
        return creds.capable_wrt(abi.CAP_DAC_OVERRIDE, inode)
    want &= MAY_READ | MAY_WRITE | MAY_EXEC
    if want == MAY_READ and creds.capable_wrt(abi.CAP_DAC_READ_SEARCH, inode):
        return True
    return (not want & MAY_EXEC or bool(mode & 0o111)) \
        and creds.capable_wrt(abi.CAP_DAC_OVERRIDE, inode)


def check_permission(inode: Inode, creds: Creds, want: int) -> None:
    if not permitted(inode, creds, want):
        raise KernelError(E.EACCES, "permission denied")


# ---------------------------------------------------------------------------------------------
# Regular files
# ---------------------------------------------------------------------------------------------
@state_class
class RegularFile(Inode):
    """A regular file: host-backed (read from the host until copy-up) or in memory.

    In memory, ``data`` holds the first ``len(data)`` bytes and ``_size`` may be larger: the rest
    reads as zeros (a sparse tail from truncate), so ftruncate(fd, 1 << 40) costs nothing.

    ``cache`` (cpu/memory.py ``PageCache``, made by the first mmap of the file): who maps the
    file, told when its size changes (SIGBUS past the end); once the file is mapped MAP_SHARED,
    its buffer holds the bytes instead of ``data`` (then empty), so write(2), truncate and every
    shared mapping see each other at once, as with Linux's page cache.
    """

    ftype = S_IFREG
    cache = None  # cpu/memory.PageCache once the file is mapped

    __state__ = {"data": "?bytearray", "_size": "int", "cache": "~?@PageCache"}

    def __init__(self, sb: SuperBlock, mode: int = 0o644, uid: int = 0, gid: int = 0, *,
                 lower: str | None = None, host_stat: os.stat_result | None = None):
        super().__init__(sb, mode, uid, gid, lower=lower, host_stat=host_stat)
        self.data: bytearray | None = bytearray() if lower is None else None
        self._size = 0

    @property
    def size(self) -> int:
        if self.data is None:
            return self._lstat().st_size
        return self._size

    def _blocks(self, size: int) -> int:
        # tmpfs charges whole pages for what is really held.
        c = self.cache
        if c is not None and c.buf is not None:
            held = min(self._size, c.buf.size)
        else:
            held = len(self.data) if self.data is not None else size
        return (held + abi.PAGE_SIZE - 1) // abi.PAGE_SIZE * (abi.PAGE_SIZE // 512)

    def check_host_readable(self) -> None:
        """EACCES (or the host's errno) if the host user cannot read the host file."""
        if self.data is None:
            try:
                host_view.current().check_open(self.lower)
            except OSError as e:
                raise host_error(e, self.lower) from None

    def copy_up(self, truncate: bool = False) -> None:
        """Copy the host contents into memory; from now on this inode is a memory file.

        With ``truncate`` (an O_TRUNC open) the contents are not read: they are about to go.
        """
        if self.data is not None:
            return
        if truncate:
            self.copy_up_meta()
            self.data = bytearray()
            self._size = 0
            return
        try:
            contents = host_view.current().read_all(self.lower)
        except OSError as e:
            raise host_error(e, self.lower) from None
        self.copy_up_meta()
        self.data = bytearray(contents)
        self._size = len(self.data)

    def read_at(self, offset: int, n: int) -> bytes:
        if n <= 0:
            return b""
        c = self.cache
        if c is not None and c.buf is not None:
            return c.read(offset, n, self._size)
        if self.data is None:
            try:
                return host_view.current().pread(self.lower, n, offset)
            except OSError as e:
                raise host_error(e, self.lower) from None
        if offset >= self._size:
            return b""
        end = min(self._size, offset + n)
        held = len(self.data)
        out = bytes(self.data[offset:min(end, held)])
        if end > held:
            out += bytes(end - max(offset, held))
        return out

    def write_at(self, offset: int, buf: bytes) -> int:
        n = len(buf)
        if n == 0:
            return 0
        if offset + n > MAX_MEMORY_FILE:
            raise KernelError(E.EFBIG, "file too large for the in-memory overlay")
        self.copy_up()
        c = self.cache
        if c is not None and c.buf is not None:
            c.write(offset, buf)
        else:
            held = len(self.data)
            if offset > held:
                self.data.extend(bytes(offset - held))
            self.data[offset:offset + n] = buf
        old = self._size
        if offset + n > old:
            self._size = offset + n
            if c is not None:
                c.resized(self, old, offset + n)
        self.touch(m=True, c=True)
        return n

    def truncate(self, length: int) -> None:
        if length < 0:
            raise KernelError(E.EINVAL, "negative length")
        if length > abi.MAX_LFS_FILESIZE:
            raise KernelError(E.EFBIG, "length too large")
        self.copy_up()
        if length < len(self.data):
            del self.data[length:]
        old = self._size
        self._size = length
        c = self.cache
        if c is not None and old != length:
            c.resized(self, old, length)
        self.touch(m=True, c=True)

    def open_description(self, flags: int, path: str):
        return RegularFileDescription(self, flags, path)


# ---------------------------------------------------------------------------------------------
# Symbolic links
# ---------------------------------------------------------------------------------------------
@state_class
class Symlink(Inode):
    """A symbolic link. Its target is resolved inside the guest root by the VFS, never by the host."""

    ftype = S_IFLNK

    __state__ = {"target": "?str"}

    def __init__(self, sb: SuperBlock, target: str | None = None, uid: int = 0, gid: int = 0, *,
                 lower: str | None = None, host_stat: os.stat_result | None = None):
        super().__init__(sb, 0o777, uid, gid, lower=lower, host_stat=host_stat)
        self.target = target

    def readlink(self) -> str:
        if self.target is not None:
            return self.target
        try:
            return host_view.current().readlink(self.lower)
        except OSError as e:
            raise host_error(e, self.lower) from None

    @property
    def size(self) -> int:
        return len(os.fsencode(self.readlink()))

    def jump(self) -> Inode | None:
        """A "magic link" (/proc/self/fd/N) names its inode directly; plain links return None."""
        return None


@state_class
class DynamicSymlink(Symlink):
    """A symlink whose target is computed on each readlink (/proc/self, /proc/self/exe)."""

    __state__ = {"_target_fn": "fn", "_jump_fn": "?fn", "magic": "bool"}

    def __init__(self, sb: SuperBlock, target_fn: Callable[[], str],
                 jump_fn: Callable[[], Inode | None] | None = None, uid: int = 0, gid: int = 0,
                 magic: bool = False):
        super().__init__(sb, "", uid, gid)
        self._target_fn = target_fn
        self._jump_fn = jump_fn
        # a "magic link" (/proc/PID/{exe,cwd,root,fd/N,ns/*}: nd_jump_link), what openat2's
        # RESOLVE_NO_MAGICLINKS refuses; one with a jump names its inode directly
        self.magic = magic or jump_fn is not None

    def readlink(self) -> str:
        return self._target_fn()

    def jump(self) -> Inode | None:
        return self._jump_fn() if self._jump_fn is not None else None


# ---------------------------------------------------------------------------------------------
# Directories
# ---------------------------------------------------------------------------------------------
@state_class
class DirInode(Inode):
    """What the path walker needs of any directory: lookup, listing, a parent and a name."""

    ftype = S_IFDIR
    mutable = False  # may the guest create/remove entries here?
    unlinkable = False  # may it remove them (unlink) where it may not create them?

    __state__ = {"parent": "@DirInode", "name": "str", "dead": "bool", "mount_root": "bool"}

    def __init__(self, sb: SuperBlock, mode: int = 0o755, uid: int = 0, gid: int = 0, *,
                 lower: str | None = None, host_stat: os.stat_result | None = None):
        super().__init__(sb, mode, uid, gid, lower=lower, host_stat=host_stat)
        if lower is None:
            self.nlink = 2
        self.parent: DirInode = self
        self.name = ""
        self.dead = False        # removed by rmdir (or replaced by rename)
        self.mount_root = False  # the root of a mount: rmdir/rename give EBUSY

    def lookup(self, name: str) -> Inode | None:
        raise NotImplementedError

    def list_entries(self) -> list[tuple[str, int, int]]:
        """(name, d_ino, d_type) of every entry except "." and ".."."""
        raise NotImplementedError

    def listing(self) -> list[tuple[str, int, int]]:
        """Every entry, "." and ".." included, in the order getdents gives them."""
        return [(".", self.ino, abi.DT_DIR), ("..", self.parent.ino, abi.DT_DIR),
                *self.list_entries()]

    def is_empty(self) -> bool:
        return not self.list_entries()

    def open_description(self, flags: int, path: str):
        return DirectoryDescription(self, flags, path)


@state_class
class Directory(DirInode):
    """An overlay/tmpfs directory: ``entries`` over the host directory ``lower`` minus ``whiteouts``."""

    mutable = True

    __state__ = {"entries": "dict[str,@Inode]", "whiteouts": "set[str]"}

    def __init__(self, sb: SuperBlock, mode: int = 0o755, uid: int = 0, gid: int = 0, *,
                 lower: str | None = None, host_stat: os.stat_result | None = None):
        super().__init__(sb, mode, uid, gid, lower=lower, host_stat=host_stat)
        self.entries: dict[str, Inode] = {}
        self.whiteouts: set[str] = set()

    def _host_child(self, name: str) -> str:
        return os.path.join(self.lower, name)

    def host_has(self, name: str) -> bool:
        """Does the host (lower) directory hold ``name``?"""
        if self.lower is None:
            return False
        try:
            host_view.current().lstat(self._host_child(name))
            return True
        except OSError:
            return False

    def lookup(self, name: str) -> Inode | None:
        child = self.entries.get(name)
        if child is not None or self.lower is None or name in self.whiteouts:
            return child
        path = self._host_child(name)
        try:
            st = host_view.current().lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise host_error(e, path) from None
        child = host_inode(self.sb, path, st)
        if isinstance(child, DirInode):
            child.parent, child.name = self, name
        self.entries[name] = child  # cache: the same name keeps the same inode object
        return child

    def _host_names(self) -> list[str]:
        if self.lower is None:
            return []
        try:
            return host_view.current().names(self.lower)
        except OSError as e:
            raise host_error(e, self.lower) from None

    def list_entries(self) -> list[tuple[str, int, int]]:
        return [e for e in self.listing() if e[0] not in (".", "..")]

    def listing(self) -> list[tuple[str, int, int]]:
        """The host directory's entries in the host's getdents order (the guest's own ones in
        their place: a name it replaced keeps the host's position, names the guest removed are
        gone), then the names only the guest has, newest first, as Linux's tmpfs lists a
        directory (a memory directory lists only those)."""
        if self.lower is None:
            return [(".", self.ino, abi.DT_DIR), ("..", self.parent.ino, abi.DT_DIR),
                    *((name, child.ino, dtype_of(child.ftype))
                      for name, child in reversed(self.entries.items()))]
        try:
            host = host_view.current().dirents(self.lower)
        except OSError as e:
            raise host_error(e, self.lower) from None
        out = []
        seen = set()
        for name, ino, dt in host:
            if name == ".":
                ino = self.ino
            elif name == "..":
                ino = self.parent.ino
            elif name in self.whiteouts:
                continue
            else:
                child = self.entries.get(name)
                if child is not None:
                    ino, dt = child.ino, dtype_of(child.ftype)
                elif dt == abi.DT_UNKNOWN:
                    try:
                        dt = dtype_of(host_view.current().lstat(self._host_child(name)).st_mode)
                    except OSError:
                        continue  # vanished on the host meanwhile
            seen.add(name)
            out.append((name, ino, dt))
        out += [(name, child.ino, dtype_of(child.ftype))
                for name, child in reversed(self.entries.items()) if name not in seen]
        return out

    def is_empty(self) -> bool:
        if self.entries:
            return False
        for name in self._host_names():
            if name not in self.whiteouts:
                return False
        return True

    # Structural changes: the caller (ops) checks permissions and keeps nlink and times.
    def add(self, name: str, child: Inode) -> None:
        self.whiteouts.discard(name)
        self.entries[name] = child
        if isinstance(child, DirInode):
            child.parent, child.name = self, name

    def remove(self, name: str) -> None:
        self.entries.pop(name, None)
        if self.host_has(name):
            self.whiteouts.add(name)

    @property
    def size(self) -> int:
        if self.lower is not None:
            return self._host_size
        return 2 * BOGO_DIRENT_SIZE + BOGO_DIRENT_SIZE * len(self.entries)


@state_class
class SyntheticDir(DirInode):
    """A read-only directory whose children come from a function (the /proc tree).

    ``children`` maps a name to a factory; created children are cached so an inode keeps its number.
    """

    __state__ = {"_cache": "dict[str,@Inode]"}
    generic_llseek = True  # lseek as procfs and kernfs directories: SEEK_END is size 0 too

    def __init__(self, sb: SuperBlock, mode: int = 0o555, uid: int = 0, gid: int = 0):
        super().__init__(sb, mode, uid, gid)
        self._cache: dict[str, Inode] = {}

    def child_names(self) -> list[str]:
        raise NotImplementedError

    def make_child(self, name: str) -> Inode | None:
        raise NotImplementedError

    def lookup(self, name: str) -> Inode | None:
        if name not in self.child_names():
            return None
        child = self._cache.get(name)
        if child is None:
            child = self.make_child(name)
            if child is None:
                return None
            if isinstance(child, DirInode):
                child.parent, child.name = self, name
            self._cache[name] = child
        return child

    def list_entries(self) -> list[tuple[str, int, int]]:
        out = []
        for name in self.child_names():
            child = self.lookup(name)
            if child is not None:
                out.append((name, child.ino, dtype_of(child.ftype)))
        return out


@state_class
class SocketNode(Inode):
    """A UNIX socket's name in the file tree (bind(2) makes it, unix(7)): ``bound`` is the socket
    description while it is open; connect(2) finds the socket through it. Opening it is ENXIO."""

    ftype = abi.S_IFSOCK

    __state__ = {"bound": "?@FileDescription"}

    def __init__(self, sb: SuperBlock, mode: int, uid: int, gid: int, bound=None):
        super().__init__(sb, mode, uid, gid)
        self.bound = bound


@state_class
class HostSpecial(Inode):
    """A host FIFO, socket or device node: visible through stat, never opened (ENXIO)."""

    __state__ = {}

    def __init__(self, sb: SuperBlock, lower: str, host_stat: os.stat_result):
        super().__init__(sb, lower=lower, host_stat=host_stat)
        self.ftype = host_stat.st_mode & S_IFMT

    def open_description(self, flags: int, path: str):
        raise KernelError(E.ENXIO, "host special files are not passed through")


def host_inode(sb: SuperBlock, path: str, st: os.stat_result) -> Inode:
    """The inode for host path ``path`` whose lstat is ``st``."""
    fmt = st.st_mode & S_IFMT
    if fmt == S_IFREG:
        return RegularFile(sb, lower=path, host_stat=st)
    if fmt == S_IFDIR:
        d = Directory(sb, lower=path, host_stat=st)
        d._host_size = st.st_size
        return d
    if fmt == S_IFLNK:
        return Symlink(sb, lower=path, host_stat=st)
    return HostSpecial(sb, path, st)


@state_class
class DataFile(Inode):
    """A read-only file whose contents a function produces when it is read (the /proc files).

    Like procfs, it reports size 0; the description (:class:`SnapshotDescription`) makes the
    bytes at its first read and again at each read from offset 0, as seq_file does.
    """

    ftype = S_IFREG
    splice_read = True  # sendfile may read it (see SnapshotDescription.can_splice)
    seek_end = False  # lseek SEEK_END: seq_lseek refuses it; sysfs and sysctl files take it

    __state__ = {"content_fn": "fn"}

    def __init__(self, sb: SuperBlock, content_fn: Callable[[], bytes], mode: int = 0o444,
                 uid: int = 0, gid: int = 0):
        super().__init__(sb, mode, uid, gid)
        self.content_fn = content_fn

    def open_description(self, flags: int, path: str):
        return SnapshotDescription(self, flags, path)
