"""Path operations the syscall handlers call: open, stat, access, readlink, unlink, rmdir, mkdir,
rename, symlink, link, chdir/getcwd, chmod, chown, truncate, utimens.

Mixed into :class:`ecs_kernel.fs.vfs.FileSystem`, whose resolver they use. Each follows the order of
checks in Linux's fs/namei.c and fs/open.c, so the errno a guest gets is the one Linux gives: e.g.
unlink() checks write permission on the directory before saying EISDIR, rename() of a directory into
its own subtree is EINVAL, rename() onto an ancestor is ENOTEMPTY.

Common keyword arguments: ``cwd`` is where relative paths start (a directory inode or an open
description of one; None: the root), ``creds`` the caller's :class:`Creds` (None: root), ``umask``
the caller's umask (creation modes are ``mode & ~umask``).

Writes never reach the host and never fail with EROFS: they land in the overlay (copy-up).
Each mount is its own filesystem (its SuperBlock): link(2) and rename(2) across two give EXDEV
(the overlay and /tmp's tmpfs included, as on a Linux whose /tmp is a tmpfs); /proc refuses
changes (EPERM, or EACCES for open(O_CREAT)), as procfs does.
"""
from __future__ import annotations

import os
from typing import Callable, NamedTuple

from ecs_kernel.abi import (IN_ATTRIB, IN_CREATE, IN_DELETE, IN_ISDIR, IN_MODIFY, IN_MOVE_SELF,
                            IN_MOVED_FROM, IN_MOVED_TO, IN_OPEN, O_ACCMODE, O_CREAT, O_DIRECTORY, O_EXCL, O_LARGEFILE, O_NOATIME,
                            O_NOFOLLOW, O_PATH, O_RDONLY, O_TMPFILE, O_TRUNC, O_WRONLY,
                            RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, S_IFMT, S_ISGID,
                            S_ISUID, S_ISVTX, S_IXGRP, S_IXUGO)
from ecs_kernel import abi
from ecs_kernel.errors import E, KernelError
from ecs_kernel.fs import host_view, notify
from ecs_kernel.fs.devices import DeviceNode
from ecs_kernel.fs.stat import Stat
from ecs_kernel.fs.file import FileDescription, PathDescription
from ecs_kernel.fs.inodes import (
    MAY_EXEC, MAY_READ, MAY_WRITE, Creds, DirInode, Directory, Inode, RegularFile, Symlink,
    check_permission, permitted,
)

class Resolved(NamedTuple):
    """Where a resolution ended: the directory and name it was found under, and the inode.

    ``parent`` is None when a magic link (/proc/self/fd/N) jumped straight to an inode.
    """

    parent: DirInode | None
    name: str
    inode: Inode


# Pass as atime_ns/mtime_ns to utimens to leave that time alone (what UTIME_OMIT asks for).
OMIT = object()

# The kind of a path's last component (Linux: nd->last_type); vfs.py's walk returns it.
LAST_NORM, LAST_DOT, LAST_DOTDOT, LAST_ROOT = range(4)


class PathOps:
    """The path operations; see the module docstring."""

    devices: dict = {}  # the modelled devices by number (the FileSystem's /dev): DeviceNode opens

    # -- helpers ---------------------------------------------------------------------------------
    def _may_create(self, d: DirInode, walk, unsupported: int = E.EPERM) -> None:
        """may_create(): the directory is alive, writable and searchable, and its fs can create."""
        if d.dead:
            raise KernelError(E.ENOENT, "directory was removed")
        check_permission(d, walk.creds, MAY_WRITE | MAY_EXEC)
        if not d.mutable:
            raise KernelError(unsupported, "filesystem does not support this")

    def _may_delete(self, d: DirInode, victim: Inode, walk, isdir: bool) -> None:
        """may_delete(): permission, the sticky bit, the type of the victim, then fs support."""
        creds = walk.creds
        check_permission(d, creds, MAY_WRITE | MAY_EXEC)
        dmode, duid, _ = d.owner()
        if dmode & S_ISVTX:  # check_sticky
            _, vuid, _ = victim.owner()
            if creds.uid not in (vuid, duid) and not creds.capable_wrt(abi.CAP_FOWNER, victim):
                raise KernelError(E.EPERM, "sticky directory")
        if isdir:
            if not isinstance(victim, DirInode):
                raise KernelError(E.ENOTDIR, "not a directory")
            if victim is walk.root:
                raise KernelError(E.EBUSY, "the root")
        elif isinstance(victim, DirInode):
            raise KernelError(E.EISDIR, "is a directory")
        if d.dead:
            raise KernelError(E.ENOENT, "directory was removed")
        if not (d.mutable or d.unlinkable and not isdir):
            raise KernelError(E.EPERM, "filesystem does not support this")

    def _new_owner(self, d: DirInode, creds: Creds, mode: int, is_dir: bool) -> tuple[int, int, int]:
        """(mode, uid, gid) of a new inode in ``d`` (inode_init_owner: setgid directories)."""
        dmode, _, dgid = d.owner()
        if dmode & S_ISGID:
            gid = dgid
            if is_dir:
                mode |= S_ISGID
            elif mode & S_ISGID and mode & S_IXGRP and not creds.in_group(gid) \
                    and not creds.capable_wrt(abi.CAP_FSETID, d):
                mode &= ~S_ISGID
        else:
            gid = creds.gid
        return mode, creds.uid, gid

    @staticmethod
    def _dir_changed(d: DirInode, nlink_delta: int = 0) -> None:
        d.copy_up_meta()
        d.nlink += nlink_delta
        d.touch(m=True, c=True)

    @staticmethod
    def _drop_name(victim: Inode) -> None:
        """``victim`` lost a name (unlink, rmdir, rename over it)."""
        victim.copy_up_meta()
        if isinstance(victim, DirInode):
            victim.nlink = 0
            victim.dead = True
        else:
            victim.nlink -= 1
        victim.touch(c=True)

    def _create_lookup(self, path, cwd, walk, is_dir: bool) -> tuple[Directory, str]:
        """filename_create(): where a new name goes; EEXIST if it exists."""
        p = self._path_str(path)
        d, last, kind, trailing = self._walk_parent(p, self._start(p, cwd), walk)
        if kind != LAST_NORM:
            raise KernelError(E.EEXIST, "exists")
        self._may_lookup(d, walk)
        if self._lookup_child(d, last, walk) is not None:
            raise KernelError(E.EEXIST, last)
        if trailing and not is_dir:
            raise KernelError(E.ENOENT, "trailing slash on a new non-directory")
        return d, last

    # -- open ------------------------------------------------------------------------------------
    def open(self, path, flags: int, mode: int = 0o666, *, cwd=None, creds: Creds | None = None,
             umask: int = 0o022, resolve: int = 0) -> FileDescription:
        """open(2)/openat(2): a new open file description.

        O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW, O_PATH, O_NONBLOCK are
        honoured; O_TMPFILE gives EOPNOTSUPP; O_CLOEXEC is the caller's (an fd flag). Opening a host
        file for writing (or with O_TRUNC) copies it into memory first.
        """
        walk = self._walk(creds)
        p = self._path_str(path)
        start = self._start(p, cwd)
        if resolve:  # openat2's RESOLVE_* flags (the caller checked them)
            walk.resolve = resolve
            if resolve & (abi.RESOLVE_BENEATH | abi.RESOLVE_IN_ROOT):
                scope = self._start("", cwd) if cwd is not None else self.root
                walk.scope = scope
                if resolve & abi.RESOLVE_IN_ROOT:
                    walk.root = scope
                    start = scope if p.startswith("/") else start
                elif p.startswith("/"):
                    raise KernelError(E.EXDEV, "an absolute path under RESOLVE_BENEATH")
        if flags & O_TMPFILE == O_TMPFILE:
            raise KernelError(E.EOPNOTSUPP, "O_TMPFILE is not supported")
        if flags & O_CREAT and flags & O_DIRECTORY:
            raise KernelError(E.EINVAL, "O_CREAT with O_DIRECTORY")  # Linux >= 6.4
        if flags & O_PATH:
            flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | abi.O_CLOEXEC
        res, created = self._open_walk(p, start, walk, flags, mode, umask)
        inode = res.inode
        if flags & O_CREAT and isinstance(inode, DirInode):
            raise KernelError(E.EISDIR, "is a directory")
        if flags & O_DIRECTORY and not isinstance(inode, DirInode):
            raise KernelError(E.ENOTDIR, "not a directory")
        shown = self._render(res, p)
        if flags & O_PATH:
            return PathDescription(inode, flags, shown)
        acc = flags & O_ACCMODE
        if not created:
            want = 0
            if acc != O_WRONLY:
                want |= MAY_READ
            if acc != O_RDONLY or flags & O_TRUNC:
                want |= MAY_WRITE
            if isinstance(inode, Symlink):
                raise KernelError(E.ELOOP, "is a symbolic link")
            if isinstance(inode, DirInode) and want & MAY_WRITE:
                raise KernelError(E.EISDIR, "is a directory")
            check_permission(inode, walk.creds, want)
            if flags & O_NOATIME and walk.creds.uid != inode.owner()[1] \
                    and not walk.creds.capable_wrt(abi.CAP_FOWNER, inode):
                raise KernelError(E.EPERM, "O_NOATIME on a file the caller does not own")
            if isinstance(inode, RegularFile):
                if want & MAY_WRITE:
                    inode.copy_up(truncate=bool(flags & O_TRUNC))
                else:
                    inode.check_host_readable()
            if isinstance(inode, Directory) and inode.lower is not None:
                try:  # a host directory the host user cannot read
                    host_view.current().check_open(inode.lower, directory=True)
                except OSError as e:
                    raise KernelError(e.errno or E.EACCES, inode.lower) from None
        if isinstance(inode, DeviceNode):
            device = self.devices.get(inode.rdev) if inode.ftype == abi.S_IFCHR else None
            if device is None:
                raise KernelError(E.ENXIO, "no device of this number")
            desc = device.open_node(inode, (flags & ~O_CREAT) | O_LARGEFILE, shown)
        else:
            desc = inode.open_description((flags & ~O_CREAT) | O_LARGEFILE, shown)
        if res.parent is not None and res.name:
            desc.dentry = (res.parent, res.name)  # where fsnotify finds the watched directory
        if created:
            notify.dir_event(res.parent, IN_CREATE, res.name, inode)
        # IN_OPEN from do_dentry_open, then handle_truncate's IN_MODIFY (Linux 6.5 on)
        notify.file_event(desc, IN_OPEN)
        if flags & O_TRUNC and not created and isinstance(inode, RegularFile):
            inode.truncate(0)
            notify.file_event(desc, IN_MODIFY)
        return desc

    def _open_walk(self, path: str, start: DirInode, walk, flags: int, mode: int, umask: int):
        """Resolve for open: (Resolved, created). With O_CREAT, the last component is created if
        missing, also at the end of a dangling symlink (not with O_EXCL, which never follows)."""
        d, last, kind, trailing = self._walk_parent(path, start, walk)
        if not flags & O_CREAT:
            return self._resolve_last(d, last, kind, trailing, walk, not flags & O_NOFOLLOW), False
        if kind != LAST_NORM:
            res = self._resolve_last(d, last, kind, trailing, walk, True)
            if flags & O_EXCL:  # do_open: O_EXCL without creating is EEXIST, before EISDIR
                raise KernelError(E.EEXIST, "exists")
            return res, False
        if trailing:
            raise KernelError(E.EISDIR, "trailing slash with O_CREAT")
        self._may_lookup(d, walk)
        child = self._lookup_child(d, last, walk)
        if child is None:
            self._may_create(d, walk, unsupported=E.EACCES)
            fmode, uid, gid = self._new_owner(d, walk.creds, mode & ~umask & 0o7777, False)
            f = RegularFile(d.sb, fmode, uid, gid)
            d.add(last, f)
            self._dir_changed(d)
            return Resolved(d, last, f), True
        if flags & O_EXCL:
            raise KernelError(E.EEXIST, last)
        self._crossing(child, walk)
        if isinstance(child, Symlink):
            if flags & O_NOFOLLOW:
                raise KernelError(E.ELOOP, "is a symbolic link")
            walk.links += 1
            if walk.links > abi.MAXSYMLINKS:
                raise KernelError(E.ELOOP, "too many levels of symbolic links")
            jumped = self._link_start(child, d, walk)
            if jumped is not None:
                return Resolved(None, child.readlink(), jumped), False
            target = child.readlink()
            if not target:
                raise KernelError(E.ENOENT, "empty symlink")
            start2 = walk.root if target.startswith("/") else d
            return self._open_walk(target, start2, walk, flags, mode, umask)
        return Resolved(d, last, child), False

    def open_exec(self, path, *, cwd=None, creds: Creds | None = None) -> FileDescription:
        """For execve(2): a read-only description of a regular file the caller may execute
        (EACCES for a directory, a special file, or no execute permission)."""
        walk = self._walk(creds)
        p = self._path_str(path)
        res = self._resolve(p, self._start(p, cwd), walk, True)
        inode = res.inode
        if not isinstance(inode, RegularFile):
            raise KernelError(E.EACCES, "not a regular file")
        check_permission(inode, walk.creds, MAY_EXEC)
        inode.check_host_readable()
        desc = inode.open_description(O_RDONLY | O_LARGEFILE, self._render(res, p))
        if res.parent is not None and res.name:
            desc.dentry = (res.parent, res.name)
        notify.file_event(desc, IN_OPEN)  # do_open_execat: fsnotify_open
        return desc

    # -- queries ---------------------------------------------------------------------------------
    def stat(self, path, *, cwd=None, follow: bool = True, creds: Creds | None = None) -> Stat:
        """stat(2); ``follow=False`` is lstat(2) / AT_SYMLINK_NOFOLLOW."""
        return self.lookup(path, cwd=cwd, follow=follow, creds=creds).stat()

    def lstat(self, path, *, cwd=None, creds: Creds | None = None) -> Stat:
        return self.stat(path, cwd=cwd, follow=False, creds=creds)

    def access(self, path, amode: int, *, cwd=None, follow: bool = True,
               creds: Creds | None = None) -> None:
        """access(2)/faccessat(2): returns None or raises (EACCES, ENOENT, ...). ``creds`` should be
        the real ids for access(), the effective ones for AT_EACCESS."""
        if amode & ~(abi.R_OK | abi.W_OK | abi.X_OK):
            raise KernelError(E.EINVAL, "bad mode")
        inode = self.lookup(path, cwd=cwd, follow=follow, creds=creds)
        if amode:
            check_permission(inode, creds or Creds(), amode)  # R/W/X_OK == MAY_READ/WRITE/EXEC

    def readlink(self, path, *, cwd=None, creds: Creds | None = None) -> bytes:
        """readlink(2): the target (not NUL-terminated); EINVAL if not a symlink."""
        inode = self.lookup(path, cwd=cwd, follow=False, creds=creds)
        if not isinstance(inode, Symlink):
            raise KernelError(E.EINVAL, "not a symbolic link")
        return os.fsencode(inode.readlink())

    def chdir(self, path, *, cwd=None, creds: Creds | None = None) -> DirInode:
        """chdir(2): the new working directory (ENOTDIR, or EACCES without search permission)."""
        return self.chdir_inode(self.lookup(path, cwd=cwd, creds=creds), creds)

    @staticmethod
    def chdir_inode(inode: Inode, creds: Creds | None = None) -> DirInode:
        """fchdir(2) checks."""
        if not isinstance(inode, DirInode):
            raise KernelError(E.ENOTDIR, "not a directory")
        check_permission(inode, creds or Creds(), MAY_EXEC)
        return inode

    def getcwd(self, cwd: DirInode | None) -> bytes:
        """getcwd(2): the path of ``cwd`` (ENOENT if it was removed)."""
        return os.fsencode(self.path_of(cwd if cwd is not None else self.root))

    # -- namespace changes -----------------------------------------------------------------------
    def mkdir(self, path, mode: int = 0o777, *, cwd=None, creds: Creds | None = None,
              umask: int = 0o022) -> None:
        """mkdir(2)."""
        walk = self._walk(creds)
        d, last = self._create_lookup(path, cwd, walk, is_dir=True)
        self._may_create(d, walk)
        dmode, uid, gid = self._new_owner(d, walk.creds, mode & ~umask & 0o7777, True)
        child = Directory(d.sb, dmode, uid, gid)
        d.add(last, child)
        self._dir_changed(d, +1)
        notify.dir_event(d, IN_CREATE, last, child)

    def mknod(self, path, make: Callable[..., Inode], mode: int, *, cwd=None,
              creds: Creds | None = None, umask: int = 0o022) -> Inode:
        """A new special inode at ``path`` (mknod(2), and bind(2) of a UNIX socket):
        ``make(sb, mode, uid, gid)`` builds it with the permission bits less the umask. EEXIST
        if the name is taken."""
        walk = self._walk(creds)
        d, last = self._create_lookup(path, cwd, walk, False)
        self._may_create(d, walk)
        fmode, uid, gid = self._new_owner(d, walk.creds, mode & ~umask & 0o7777, False)
        node = make(d.sb, fmode, uid, gid)
        d.add(last, node)
        self._dir_changed(d)
        notify.dir_event(d, IN_CREATE, last, node)
        return node

    def symlink(self, target, linkpath, *, cwd=None, creds: Creds | None = None) -> None:
        """symlink(2): ``target`` is stored as given (resolved inside the guest root when followed)."""
        t = target if isinstance(target, str) else os.fsdecode(bytes(target))
        raw = os.fsencode(t)
        if not raw:
            raise KernelError(E.ENOENT, "empty target")
        if len(raw) >= abi.PATH_MAX:
            raise KernelError(E.ENAMETOOLONG, "target too long")
        walk = self._walk(creds)
        d, last = self._create_lookup(linkpath, cwd, walk, is_dir=False)
        self._may_create(d, walk)
        _, uid, gid = self._new_owner(d, walk.creds, 0o777, False)
        d.add(last, Symlink(d.sb, t, uid, gid))
        self._dir_changed(d)
        notify.dir_event(d, IN_CREATE, last)

    def link(self, oldpath, newpath, *, cwd=None, new_cwd=None, follow: bool = False,
             creds: Creds | None = None) -> None:
        """link(2)/linkat(2) (``follow`` is AT_SYMLINK_FOLLOW). A host file is copied up first."""
        walk = self._walk(creds)
        old = self._resolve_path(oldpath, cwd, walk, follow)
        self._link(old.inode, newpath, new_cwd if new_cwd is not None else cwd, walk)

    def link_inode(self, inode, newpath, *, new_cwd=None, creds: Creds | None = None) -> None:
        """linkat(2) with AT_EMPTY_PATH: a new name for the file an fd (or the cwd) holds."""
        self._link(inode, newpath, new_cwd, self._walk(creds))

    def _link(self, inode, newpath, new_cwd, walk) -> None:
        d, last = self._create_lookup(newpath, new_cwd, walk, False)
        if inode.sb is not d.sb:  # do_linkat: old_path.mnt != new_path.mnt
            raise KernelError(E.EXDEV, "a link across filesystems")
        creds = walk.creds
        if not creds.capable_wrt(abi.CAP_FOWNER, inode):  # fs.protected_hardlinks = 1
            mode, uid, _ = inode.owner()
            safe = ((mode & S_IFMT) == abi.S_IFREG and not mode & S_ISUID
                    and not (mode & S_ISGID and mode & S_IXGRP)
                    and permitted(inode, creds, MAY_READ | MAY_WRITE))
            if uid != creds.uid and not safe:
                raise KernelError(E.EPERM, "protected hardlinks")
        self._may_create(d, walk)
        if isinstance(inode, DirInode):
            raise KernelError(E.EPERM, "hard link to a directory")
        if inode.copied_up and inode.nlink == 0:
            raise KernelError(E.ENOENT, "file was removed")
        inode.copy_up_meta()
        inode.nlink += 1
        inode.touch(c=True)
        d.add(last, inode)
        self._dir_changed(d)
        notify.notify(inode, IN_ATTRIB)  # fsnotify_link: the link count changed
        notify.dir_event(d, IN_CREATE, last, inode)

    def _resolve_path(self, path, cwd, walk, follow: bool):
        p = self._path_str(path)
        return self._resolve(p, self._start(p, cwd), walk, follow)

    def unlink(self, path, *, cwd=None, creds: Creds | None = None) -> None:
        """unlink(2) (EISDIR for a directory, as Linux says)."""
        walk = self._walk(creds)
        p = self._path_str(path)
        d, last, kind, trailing = self._walk_parent(p, self._start(p, cwd), walk)
        if kind != LAST_NORM:
            raise KernelError(E.EISDIR, "is a directory")
        self._may_lookup(d, walk)
        victim = self._lookup_child(d, last, walk)
        if victim is None:
            raise KernelError(E.ENOENT, last)
        if trailing:
            raise KernelError(E.EISDIR if isinstance(victim, DirInode) else E.ENOTDIR, last)
        self._may_delete(d, victim, walk, isdir=False)
        d.remove(last)
        self._dir_changed(d)
        self._drop_name(victim)
        notify.notify(victim, IN_ATTRIB)  # fsnotify_link_count; d_delete, then the name goes
        if victim.nlink == 0:
            notify.deleted(victim)
        notify.dir_event(d, IN_DELETE, last, victim)

    def rmdir(self, path, *, cwd=None, creds: Creds | None = None) -> None:
        """rmdir(2): ENOTEMPTY, EINVAL for ".", EBUSY for "/" and mount points."""
        walk = self._walk(creds)
        p = self._path_str(path)
        d, last, kind, _ = self._walk_parent(p, self._start(p, cwd), walk)
        if kind == LAST_DOTDOT:
            raise KernelError(E.ENOTEMPTY, "..")
        if kind == LAST_DOT:
            raise KernelError(E.EINVAL, ".")
        if kind == LAST_ROOT:
            raise KernelError(E.EBUSY, "/")
        self._may_lookup(d, walk)
        victim = self._lookup_child(d, last, walk)
        if victim is None:
            raise KernelError(E.ENOENT, last)
        self._may_delete(d, victim, walk, isdir=True)
        if victim.mount_root:
            raise KernelError(E.EBUSY, "mount point")
        if not victim.is_empty():
            raise KernelError(E.ENOTEMPTY, last)
        d.remove(last)
        self._dir_changed(d, -1)
        self._drop_name(victim)
        notify.deleted(victim)
        notify.dir_event(d, IN_DELETE, last, victim)

    def rename(self, oldpath, newpath, *, cwd=None, new_cwd=None, flags: int = 0,
               creds: Creds | None = None) -> None:
        """rename(2)/renameat2(2) with RENAME_NOREPLACE and RENAME_EXCHANGE."""
        if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT):
            raise KernelError(E.EINVAL, "bad flags")
        if flags & RENAME_EXCHANGE and flags & (RENAME_NOREPLACE | RENAME_WHITEOUT):
            raise KernelError(E.EINVAL, "bad flags")
        if flags & RENAME_WHITEOUT:
            raise KernelError(E.EINVAL, "RENAME_WHITEOUT is not supported")
        walk = self._walk(creds)
        op = self._path_str(oldpath)
        np = self._path_str(newpath)
        od, olast, okind, otrail = self._walk_parent(op, self._start(op, cwd), walk)
        nd, nlast, nkind, ntrail = self._walk_parent(
            np, self._start(np, new_cwd if new_cwd is not None else cwd), walk)
        if od.sb is not nd.sb:  # do_renameat2: old_path.mnt != new_path.mnt, first
            raise KernelError(E.EXDEV, "a rename across filesystems")
        if okind != LAST_NORM:
            raise KernelError(E.EBUSY, "cannot rename . or ..")
        if nkind != LAST_NORM:
            raise KernelError(E.EEXIST if flags & RENAME_NOREPLACE else E.EBUSY, "bad target")
        exchange = bool(flags & RENAME_EXCHANGE)
        self._may_lookup(od, walk)
        self._may_lookup(nd, walk)
        # do_renameat2's order: source, target, NOREPLACE/EXCHANGE, trailing slashes, the trap.
        src = self._lookup_child(od, olast, walk)
        if src is None:
            raise KernelError(E.ENOENT, olast)
        dst = self._lookup_child(nd, nlast, walk)
        if flags & RENAME_NOREPLACE and dst is not None:
            raise KernelError(E.EEXIST, nlast)
        if exchange:
            if dst is None:
                raise KernelError(E.ENOENT, nlast)
            if not isinstance(dst, DirInode) and ntrail:
                raise KernelError(E.ENOTDIR, "trailing slash on a non-directory")
        if not isinstance(src, DirInode):
            if otrail or (ntrail and not exchange):
                raise KernelError(E.ENOTDIR, "trailing slash on a non-directory")
        trap = self._rename_trap(od, nd)
        if src is trap:
            raise KernelError(E.EINVAL, "a directory into its own subtree")
        if dst is not None and dst is trap:
            raise KernelError(E.EINVAL if exchange else E.ENOTEMPTY, "onto an ancestor")
        if src is dst:
            return
        src_dir = isinstance(src, DirInode)
        self._may_delete(od, src, walk, src_dir)
        if dst is None:
            self._may_create(nd, walk)
        else:
            self._may_delete(nd, dst, walk, src_dir if not exchange else isinstance(dst, DirInode))
        if od is not nd:
            if src_dir:
                check_permission(src, walk.creds, MAY_WRITE)  # its ".." changes
            if exchange and isinstance(dst, DirInode):
                check_permission(dst, walk.creds, MAY_WRITE)
        if src_dir and src.mount_root:
            raise KernelError(E.EBUSY, "mount point")
        if isinstance(dst, DirInode) and dst.mount_root:
            raise KernelError(E.EBUSY, "mount point")
        if exchange:
            self._exchange(od, olast, src, nd, nlast, dst)
            return
        if isinstance(dst, DirInode) and not dst.is_empty():
            raise KernelError(E.ENOTEMPTY, nlast)
        # Commit. Moving a host-backed inode needs no copy of its contents: it keeps reading the
        # host file, and the old name gets a whiteout.
        src.copy_up_meta()
        od.remove(olast)
        if dst is not None:
            nd.remove(nlast)
            self._drop_name(dst)
            if isinstance(dst, DirInode):
                self._dir_changed(nd, -1)
        nd.add(nlast, src)
        if src_dir and od is not nd:
            self._dir_changed(od, -1)
            self._dir_changed(nd, +1)
        else:
            self._dir_changed(od)
            if nd is not od:
                self._dir_changed(nd)
        src.touch(c=True)
        self._notify_move(od, olast, nd, nlast, src, dst)

    def _notify_move(self, od, olast, nd, nlast, src, dst) -> None:
        """fsnotify_move: IN_MOVED_FROM and IN_MOVED_TO with one cookie, IN_MOVE_SELF; a
        replaced target loses a link."""
        if not (notify.watched(od) or notify.watched(nd) or notify.watched(src)
                or notify.watched(dst)):
            return
        self.inotify_cookie = cookie = getattr(self, "inotify_cookie", 0) + 1
        notify.dir_event(od, IN_MOVED_FROM, olast, src, cookie)
        notify.dir_event(nd, IN_MOVED_TO, nlast, src, cookie)
        notify.notify(src, IN_MOVE_SELF)
        if dst is not None:
            notify.notify(dst, IN_ATTRIB)
            if dst.nlink == 0:
                notify.deleted(dst)

    def _exchange(self, od, olast, src, nd, nlast, dst) -> None:
        src.copy_up_meta()
        dst.copy_up_meta()
        od.add(olast, dst)
        nd.add(nlast, src)
        if od is not nd and isinstance(src, DirInode) != isinstance(dst, DirInode):
            delta = 1 if isinstance(src, DirInode) else -1
            self._dir_changed(od, -delta)
            self._dir_changed(nd, +delta)
        else:
            self._dir_changed(od)
            if nd is not od:
                self._dir_changed(nd)
        src.touch(c=True)
        dst.touch(c=True)
        self._notify_move(od, olast, nd, nlast, src, None)
        self._notify_move(nd, nlast, od, olast, dst, None)

    @staticmethod
    def _rename_trap(od: DirInode, nd: DirInode) -> DirInode | None:
        """lock_rename(): when one parent is an ancestor of the other, the child of the ancestor
        on the path to the other (renaming it, or over it, would cut the tree)."""
        if od is nd:
            return None
        for anc, desc in ((od, nd), (nd, od)):
            d = desc
            while d.parent is not d:
                if d.parent is anc:
                    return d
                d = d.parent
        return None

    # -- attributes ------------------------------------------------------------------------------
    def chmod(self, path, mode: int, *, cwd=None, follow: bool = True,
              creds: Creds | None = None) -> None:
        """chmod(2)/fchmodat(2)."""
        res = self.resolve(path, cwd=cwd, follow=follow, creds=creds)
        self.chmod_inode(res.inode, mode, creds)
        notify.notify(res.inode, IN_ATTRIB | self._isdir(res.inode), parent=res.parent, name=res.name)

    @staticmethod
    def _isdir(inode) -> int:
        return IN_ISDIR if isinstance(inode, DirInode) else 0

    @staticmethod
    def chmod_inode(inode: Inode, mode: int, creds: Creds | None = None) -> None:
        """fchmod(2): owner or root (EPERM); a symlink itself cannot be changed (EOPNOTSUPP)."""
        creds = creds or Creds()
        if isinstance(inode, Symlink):
            raise KernelError(E.EOPNOTSUPP, "cannot chmod a symlink")
        _, uid, gid = inode.owner()
        if creds.uid != uid and not creds.capable_wrt(abi.CAP_FOWNER, inode):
            raise KernelError(E.EPERM, "not the owner")
        if getattr(inode, "mutable", True) is False:
            raise KernelError(E.EPERM, "read-only filesystem object")
        if not creds.in_group(gid) and not creds.capable_wrt(abi.CAP_FSETID, inode):
            mode &= ~S_ISGID
        inode.copy_up_meta()
        inode.mode = (inode.mode & S_IFMT) | (mode & 0o7777)
        inode.touch(c=True)

    def chown(self, path, uid: int, gid: int, *, cwd=None, follow: bool = True,
              creds: Creds | None = None) -> None:
        """chown(2)/lchown(2); -1 leaves an id unchanged."""
        res = self.resolve(path, cwd=cwd, follow=follow, creds=creds)
        self.chown_inode(res.inode, uid, gid, creds)
        notify.notify(res.inode, IN_ATTRIB | self._isdir(res.inode), parent=res.parent, name=res.name)

    @staticmethod
    def chown_inode(inode: Inode, uid: int, gid: int, creds: Creds | None = None) -> None:
        creds = creds or Creds()
        mode, cur_uid, cur_gid = inode.owner()
        uid = cur_uid if uid in (-1, 0xFFFFFFFF) else uid
        gid = cur_gid if gid in (-1, 0xFFFFFFFF) else gid
        if not creds.capable_wrt(abi.CAP_CHOWN, inode):
            if uid != cur_uid or creds.uid != cur_uid or (gid != cur_gid and not creds.in_group(gid)):
                raise KernelError(E.EPERM, "not permitted to change owner")
        if getattr(inode, "mutable", True) is False:
            raise KernelError(E.EPERM, "read-only filesystem object")
        inode.copy_up_meta()
        inode.uid, inode.gid = uid, gid
        if (mode & S_IFMT) != abi.S_IFDIR and mode & S_IXUGO:
            inode.mode &= ~S_ISUID
            if mode & S_IXGRP:
                inode.mode &= ~S_ISGID
        inode.touch(c=True)

    def truncate(self, path, length: int, *, cwd=None, creds: Creds | None = None) -> None:
        """truncate(2) (a host file is copied up, then cut)."""
        if length < 0:
            raise KernelError(E.EINVAL, "negative length")
        walk = self._walk(creds)
        res = self._resolve_path(path, cwd, walk, True)
        inode = res.inode
        if isinstance(inode, DirInode):
            raise KernelError(E.EISDIR, "is a directory")
        if not isinstance(inode, RegularFile):
            raise KernelError(E.EINVAL, "not a regular file")
        check_permission(inode, walk.creds, MAY_WRITE)
        inode.truncate(length)
        notify.notify(inode, IN_MODIFY, parent=res.parent, name=res.name)

    def utimens(self, path, atime_ns=None, mtime_ns=None, *, cwd=None, follow: bool = True,
                creds: Creds | None = None, times_set: bool | None = None) -> None:
        """utimensat(2): None sets a time to now (UTIME_NOW), OMIT (UTIME_OMIT) leaves it."""
        res = self.resolve(path, cwd=cwd, follow=follow, creds=creds)
        self.utimens_inode(res.inode, atime_ns, mtime_ns, creds, times_set=times_set)
        if not (atime_ns is OMIT and mtime_ns is OMIT):
            notify.notify(res.inode, notify.times_event(atime_ns is not OMIT, mtime_ns is not OMIT)
                          | self._isdir(res.inode), parent=res.parent, name=res.name)

    @staticmethod
    def utimens_inode(inode: Inode, atime_ns=None, mtime_ns=None, creds: Creds | None = None, *,
                      times_set: bool | None = None) -> None:
        """vfs_utimes on ``inode``. ``times_set``: the caller gave times (ATTR_TIMES_SET: the
        owner or CAP_FOWNER, EPERM), rather than none (ATTR_TOUCH: the owner, CAP_FOWNER or
        write permission, EACCES); None: given when a time is neither now nor OMIT."""
        creds = creds or Creds()
        if atime_ns is OMIT and mtime_ns is OMIT:
            return
        _, uid, _ = inode.owner()
        explicit = times_set if times_set is not None else any(
            t is not None and t is not OMIT for t in (atime_ns, mtime_ns))
        if creds.uid != uid and not creds.capable_wrt(abi.CAP_FOWNER, inode):
            if explicit:
                raise KernelError(E.EPERM, "not the owner")
            if not permitted(inode, creds, MAY_WRITE):
                raise KernelError(E.EACCES, "no write permission")
        inode.copy_up_meta()
        now = inode.sb.now()
        if atime_ns is not OMIT:
            inode.atime_ns = now if atime_ns is None else int(atime_ns)
        if mtime_ns is not OMIT:
            inode.mtime_ns = now if mtime_ns is None else int(mtime_ns)
        inode.ctime_ns = now
