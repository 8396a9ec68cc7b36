"""Linux is the oracle: the same random operations on a host directory (through ``os``) and on a
FileSystem whose root is an identical, separate host directory must give the same results and the
same errnos, step by step; the guest's host directory must be unchanged afterwards."""
from __future__ import annotations

import ctypes
import errno
import os
import shutil
import stat
import tempfile

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ecs_kernel import abi
from ecs_kernel.errors import KernelError
from ecs_kernel.fs.inodes import Creds
from ecs_kernel.fs.vfs import FileSystem

from fsutil import guest_listdir, make_seed_tree, snapshot

NAMES = ["a", "b", "c", "f", "sub", "l", "lf", "dangle", "n"]


def _depth_ok(parts: list[str]) -> bool:
    # '..' never climbs above the start (symlink targets below never contain '.' or '..', so a
    # link resolves at least as deep as it sits: literal depth is a lower bound of the real one).
    depth = 0
    for p in parts:
        depth += -1 if p == ".." else 0 if p == "." else 1
        if depth < 0:
            return False
    return True


component = st.sampled_from(NAMES + [".", ".."])
random_paths = st.builds(
    lambda parts, slash: "/".join(parts) + ("/" if slash else ""),
    st.lists(component, min_size=1, max_size=3).filter(_depth_ok),
    st.sampled_from([False, False, False, True]),  # a trailing slash now and then
)
# Paths that mostly exist in the seed tree or just next to it, so that operations succeed often.
LIKELY = ["a", "a/f", "a/sub", "a/sub/f", "b", "c", "c/f", "l", "l/f", "l/sub", "lf", "dangle",
          "n", "a/n", "c/sub", "a/sub/", "c/", "a/./f", "a/sub/../f", "l/../b"]
paths = st.one_of(st.sampled_from(LIKELY), st.sampled_from(LIKELY), random_paths)
targets = st.lists(st.sampled_from(NAMES), min_size=1, max_size=2).map("/".join)
data = st.binary(max_size=40)

ops = st.one_of(
    st.tuples(st.just("mkdir"), paths),
    st.tuples(st.just("create"), paths, data),
    st.tuples(st.just("create_excl"), paths),
    st.tuples(st.just("append"), paths, data),
    st.tuples(st.just("read"), paths),
    st.tuples(st.just("rename"), paths, paths),
    st.tuples(st.just("unlink"), paths),
    st.tuples(st.just("rmdir"), paths),
    st.tuples(st.just("symlink"), targets, paths),
    st.tuples(st.just("link"), paths, paths),
    st.tuples(st.just("stat"), paths),
    st.tuples(st.just("lstat"), paths),
    st.tuples(st.just("readlink"), paths),
    st.tuples(st.just("listdir"), paths),
    st.tuples(st.just("truncate"), paths, st.integers(0, 12)),
    st.tuples(st.just("open_nofollow"), paths),
    st.tuples(st.just("open_dir"), paths),
    st.tuples(st.just("open_rdwr"), paths),
    st.tuples(st.just("rename2"), paths, paths, st.sampled_from([abi.RENAME_NOREPLACE, abi.RENAME_EXCHANGE])),
    st.tuples(st.just("chmod"), paths, st.sampled_from([0o600, 0o755, 0o1777, 0o4711])),
)

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_renameat2 = 316


def _stat_view(mode: int, size: int, nlink: int) -> tuple:
    fmt = stat.S_IFMT(mode)
    if fmt == stat.S_IFDIR:
        return ("dir", stat.S_IMODE(mode), nlink)  # directory sizes are filesystem-specific
    return (fmt, stat.S_IMODE(mode), size, nlink)


class Host:
    """The oracle: real Linux system calls, relative to the directory fd ``dfd``."""

    def __init__(self, dfd: int):
        self.dfd = dfd

    def _open(self, p, flags, mode=0o777):
        return os.open(p, flags, mode, dir_fd=self.dfd)

    def mkdir(self, p):
        os.mkdir(p, 0o755, dir_fd=self.dfd)

    def create(self, p, d):
        fd = self._open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        try:
            return os.write(fd, d)
        finally:
            os.close(fd)

    def create_excl(self, p):
        os.close(self._open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))

    def append(self, p, d):
        fd = self._open(p, os.O_WRONLY | os.O_APPEND)
        try:
            return os.write(fd, d)
        finally:
            os.close(fd)

    def read(self, p):
        fd = self._open(p, os.O_RDONLY)
        try:
            return os.read(fd, 1000)
        finally:
            os.close(fd)

    def rename(self, p, q):
        os.rename(p, q, src_dir_fd=self.dfd, dst_dir_fd=self.dfd)

    def rename2(self, p, q, flags):
        rc = _libc.syscall(_SYS_renameat2, self.dfd, os.fsencode(p), self.dfd, os.fsencode(q), flags)
        if rc != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))

    def chmod(self, p, mode):
        os.chmod(p, mode, dir_fd=self.dfd)

    def unlink(self, p):
        os.unlink(p, dir_fd=self.dfd)

    def rmdir(self, p):
        os.rmdir(p, dir_fd=self.dfd)

    def symlink(self, t, p):
        os.symlink(t, p, dir_fd=self.dfd)

    def link(self, p, q):
        os.link(p, q, src_dir_fd=self.dfd, dst_dir_fd=self.dfd, follow_symlinks=False)

    def stat(self, p):
        s = os.stat(p, dir_fd=self.dfd)
        return _stat_view(s.st_mode, s.st_size, s.st_nlink)

    def lstat(self, p):
        s = os.stat(p, dir_fd=self.dfd, follow_symlinks=False)
        return _stat_view(s.st_mode, s.st_size, s.st_nlink)

    def readlink(self, p):
        return os.fsencode(os.readlink(p, dir_fd=self.dfd))

    def listdir(self, p):
        fd = self._open(p, os.O_RDONLY | os.O_DIRECTORY)
        try:
            return sorted(os.listdir(fd))
        finally:
            os.close(fd)

    def truncate(self, p, n):
        # truncate(2) has no *at form: /proc/self/fd/N/path is the same walk from the dirfd
        os.truncate(f"/proc/self/fd/{self.dfd}/{p}", n)

    def _open_close(self, p, flags):
        os.close(self._open(p, flags))

    def open_nofollow(self, p):
        self._open_close(p, os.O_RDONLY | os.O_NOFOLLOW)

    def open_dir(self, p):
        self._open_close(p, os.O_RDONLY | os.O_DIRECTORY)

    def open_rdwr(self, p):
        self._open_close(p, os.O_RDWR)


class Guest:
    """The same operations through ecs_kernel.fs."""

    def __init__(self, fs: FileSystem, creds: Creds, umask: int, cwd=None):
        self.fs, self.kw, self.umask = fs, {"creds": creds, "cwd": cwd}, umask

    def mkdir(self, p):
        self.fs.mkdir(p, 0o755, umask=self.umask, **self.kw)

    def _write_and_release(self, desc, d):
        try:
            return desc.write(d)
        finally:
            desc.release()

    def create(self, p, d):
        desc = self.fs.open(p, abi.O_CREAT | abi.O_WRONLY | abi.O_TRUNC, 0o644, umask=self.umask, **self.kw)
        return self._write_and_release(desc, d)

    def create_excl(self, p):
        self.fs.open(p, abi.O_CREAT | abi.O_EXCL | abi.O_WRONLY, 0o600, umask=self.umask, **self.kw).release()

    def append(self, p, d):
        return self._write_and_release(self.fs.open(p, abi.O_WRONLY | abi.O_APPEND, **self.kw), d)

    def read(self, p):
        return self.fs.open(p, abi.O_RDONLY, **self.kw).read(1000)

    def rename(self, p, q):
        self.fs.rename(p, q, **self.kw)

    def rename2(self, p, q, flags):
        self.fs.rename(p, q, flags=flags, **self.kw)

    def chmod(self, p, mode):
        self.fs.chmod(p, mode, **self.kw)

    def unlink(self, p):
        self.fs.unlink(p, **self.kw)

    def rmdir(self, p):
        self.fs.rmdir(p, **self.kw)

    def symlink(self, t, p):
        self.fs.symlink(t, p, **self.kw)

    def link(self, p, q):
        self.fs.link(p, q, **self.kw)

    def stat(self, p):
        s = self.fs.stat(p, **self.kw)
        return _stat_view(s.st_mode, s.st_size, s.st_nlink)

    def lstat(self, p):
        s = self.fs.lstat(p, **self.kw)
        return _stat_view(s.st_mode, s.st_size, s.st_nlink)

    def readlink(self, p):
        return self.fs.readlink(p, **self.kw)

    def listdir(self, p):
        return guest_listdir(self.fs, p, **self.kw)

    def truncate(self, p, n):
        self.fs.truncate(p, n, **self.kw)

    def open_nofollow(self, p):
        self.fs.open(p, abi.O_RDONLY | abi.O_NOFOLLOW, **self.kw).release()

    def open_dir(self, p):
        self.fs.open(p, abi.O_RDONLY | abi.O_DIRECTORY, **self.kw).release()

    def open_rdwr(self, p):
        self.fs.open(p, abi.O_RDWR, **self.kw).release()


def _outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except OSError as e:
        return ("err", errno.errorcode[e.errno])
    except KernelError as e:
        return ("err", errno.errorcode[e.errno])


def _inside(root: str, rel: str) -> bool:
    real = os.path.realpath(os.path.join(root, rel))
    return real == root or real.startswith(root + os.sep)


def _guest_tree(fs: FileSystem, path: str, kw) -> dict:
    out = {}
    for name in guest_listdir(fs, path, **kw):
        sub = path.rstrip("/") + "/" + name
        s = fs.lstat(sub, **kw)
        if stat.S_ISDIR(s.st_mode):
            out[name] = ("dir", _guest_tree(fs, sub, kw))
        elif stat.S_ISLNK(s.st_mode):
            out[name] = ("link", fs.readlink(sub, **kw))
        else:
            out[name] = ("file", fs.open(sub, abi.O_RDONLY, **kw).read(1 << 16))
    return out


def _host_tree(path: str) -> dict:
    out = {}
    for name in sorted(os.listdir(path)):
        sub = os.path.join(path, name)
        s = os.lstat(sub)
        if stat.S_ISDIR(s.st_mode):
            out[name] = ("dir", _host_tree(sub))
        elif stat.S_ISLNK(s.st_mode):
            out[name] = ("link", os.fsencode(os.readlink(sub)))
        else:
            with open(sub, "rb") as f:
                out[name] = ("file", f.read())
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=1, max_size=25), st.sampled_from(["", "", "a", "a/sub"]))
def test_same_results_and_errnos_as_linux_and_host_untouched(sequence, start):
    """``start``: relative paths start at the root, or at a directory fd (which the operations
    may move or delete: lookups in a deleted directory give ENOENT on both)."""
    base = tempfile.mkdtemp(prefix="ecsfs-diff-")
    dfd = -1
    try:
        oracle_root = os.path.join(base, "oracle")
        guest_root = os.path.join(base, "guest")
        for r in (oracle_root, guest_root):
            os.mkdir(r)
            make_seed_tree(r)
        before = snapshot(guest_root)
        umask = os.umask(0o022)
        os.umask(umask)
        creds = Creds(os.getuid(), os.getgid(), tuple(os.getgroups()))
        dfd = os.open(os.path.join(oracle_root, start), os.O_RDONLY | os.O_DIRECTORY)
        host = Host(dfd)
        fs = FileSystem(guest_root, special_mounts=False)
        cwd = fs.open("/" + start, abi.O_RDONLY | abi.O_DIRECTORY) if start else None
        guest = Guest(fs, creds, umask, cwd)
        for step, (name, *args) in enumerate(sequence):
            path_args = [a for a, kind in zip(args, _ARG_KINDS[name]) if kind == "path"]
            # Belt and braces: never let the oracle touch anything outside its directory
            # (_depth_ok already keeps '..' from climbing above the start directory).
            assume(all(_inside(oracle_root, os.path.join(start, p)) for p in path_args))
            expected = _outcome(getattr(host, name), *args)
            got = _outcome(getattr(guest, name), *args)
            assert got == expected, f"step {step}: {name}{tuple(args)} from /{start}: linux {expected}, ecs {got}"
        assert _guest_tree(fs, "/", {"creds": creds}) == _host_tree(oracle_root)
        assert snapshot(guest_root) == before, "the guest changed the host directory"
    finally:
        if dfd >= 0:
            os.close(dfd)
        shutil.rmtree(base)


_ARG_KINDS = {
    "mkdir": ("path",), "create": ("path", "data"), "create_excl": ("path",),
    "append": ("path", "data"), "read": ("path",), "rename": ("path", "path"), "unlink": ("path",),
    "rmdir": ("path",), "symlink": ("target", "path"), "link": ("path", "path"), "stat": ("path",),
    "lstat": ("path",), "readlink": ("path",), "listdir": ("path",), "truncate": ("path", "n"),
    "open_nofollow": ("path",), "open_dir": ("path",), "open_rdwr": ("path",),
    "rename2": ("path", "path", "flags"), "chmod": ("path", "mode"),
}
