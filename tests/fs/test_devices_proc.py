"""/dev nodes and the /proc tree fed by a fake ProcProvider."""
from __future__ import annotations

import errno
import os
import random
import stat

import pytest

from ecs_kernel.abi import O_RDONLY, O_RDWR, O_WRONLY
from ecs_kernel import abi
from ecs_kernel.errors import E, KernelError
from ecs_kernel.fs.proc import ProcProvider
from ecs_kernel.fs.vfs import FileSystem

from fsutil import guest_listdir, make_seed_tree


def errno_of(fn, *args, **kw) -> str:
    with pytest.raises(KernelError) as ei:
        fn(*args, **kw)
    return errno.errorcode[ei.value.errno]


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    r.mkdir()
    make_seed_tree(str(r))
    (r / "bin").mkdir()
    (r / "bin" / "prog").write_bytes(b"\x7fELF fake")
    return str(r)


# -- /dev ------------------------------------------------------------------------------------------------
def test_null_zero_full(root):
    fs = FileSystem(root)
    null = fs.open("/dev/null", O_RDWR)
    assert null.read(100) == b"" and null.write(b"abc") == 3
    assert null.lseek(100, abi.SEEK_SET) == 0
    zero = fs.open("/dev/zero", O_RDWR)
    assert zero.read(5) == bytes(5) and zero.pread(3, 77) == bytes(3) and zero.write(b"x") == 1
    full = fs.open("/dev/full", O_RDWR)
    assert full.read(2) == bytes(2)
    assert errno_of(full.write, b"x") == "ENOSPC"
    assert errno_of(fs.open, "/dev/tty", O_RDWR) == "ENXIO"
    assert fs.open("/dev/null", O_WRONLY | abi.O_TRUNC).write(b"ok") == 2  # O_TRUNC ignored


def test_device_stat_matches_the_host_nodes(root):
    fs = FileSystem(root)
    for name in ("null", "zero", "full", "urandom", "random"):
        host = os.stat(f"/dev/{name}")
        guest = fs.stat(f"/dev/{name}")
        assert stat.S_ISCHR(guest.st_mode)
        assert guest.st_rdev == host.st_rdev, name
        assert stat.S_IMODE(guest.st_mode) == 0o666


def test_urandom_is_seedable_for_deterministic_runs(root):
    a = FileSystem(root, urandom=random.Random(7).randbytes).open("/dev/urandom", O_RDONLY).read(32)
    b = FileSystem(root, urandom=random.Random(7).randbytes).open("/dev/urandom", O_RDONLY).read(32)
    c = FileSystem(root).open("/dev/urandom", O_RDONLY).read(32)
    assert a == b and len(c) == 32 and c != a


def test_dev_lists_its_nodes_and_stdio_links(root):
    fs = FileSystem(root)
    names = guest_listdir(fs, "/dev")
    assert {"null", "zero", "urandom", "random", "full", "stdin", "stdout", "stderr", "fd", "shm"} <= set(names)
    assert fs.readlink("/dev/stdout") == b"/proc/self/fd/1"


# -- /proc -----------------------------------------------------------------------------------------------
class FakeProvider(ProcProvider):
    def __init__(self, fs_ref):
        self.fs_ref = fs_ref
        self.current = 42
        self.descs = {}

    def self_pid(self):
        return self.current

    def pids(self):
        return [1, 42]

    def exe(self, pid):
        return "/bin/prog"

    def cwd(self, pid):
        return "/a"

    def cmdline(self, pid):
        return b"prog\0--flag\0"

    def maps(self, pid):
        return b"00400000-00401000 r-xp 00000000 00:00 0 /bin/prog\n"

    def status(self, pid, tid=0):
        return f"Name:\tprog\nPid:\t{tid or pid}\n".encode()

    def fds(self, pid):
        return [0, 1, 2, *self.descs]

    def fd_link(self, pid, fd):
        if fd in self.descs:
            return self.descs[fd].path
        if fd in (0, 1, 2):
            return "/dev/pts/0"
        raise KernelError(E.ENOENT, "no fd")

    def fd_description(self, pid, fd):
        return self.descs.get(fd)


@pytest.fixture
def fsp(root):
    holder = {}
    provider = FakeProvider(holder)
    fs = FileSystem(root, provider)
    return fs, provider


def test_proc_self_points_at_the_calling_process(fsp):
    fs, p = fsp
    assert fs.readlink("/proc/self") == b"42"
    assert fs.getcwd(fs.chdir("/proc/self")) == b"/proc/42"
    p.current = 1
    assert fs.readlink("/proc/self") == b"1"
    assert set(guest_listdir(fs, "/proc")) >= {"self", "1", "42"}
    assert errno_of(fs.stat, "/proc/99") == "ENOENT"


def test_proc_files_come_from_the_provider(fsp):
    fs, _ = fsp
    assert fs.readlink("/proc/self/exe") == b"/bin/prog"
    assert fs.open("/proc/self/exe", O_RDONLY).read(100) == b"\x7fELF fake"  # followed in the root
    assert fs.open("/proc/self/cmdline", O_RDONLY).read(100) == b"prog\0--flag\0"
    maps = fs.open("/proc/self/maps", O_RDONLY)
    assert maps.read(8) == b"00400000" and maps.read(1000).endswith(b"/bin/prog\n")
    assert fs.stat("/proc/self/maps").st_size == 0  # like procfs
    assert b"Pid:\t42" in fs.open("/proc/42/status", O_RDONLY).read(100)
    assert fs.getcwd(fs.chdir("/proc/self/cwd")) == b"/a"
    w = fs.open("/proc/self/status", O_WRONLY)
    assert errno_of(w.write, b"x") == "EINVAL"


def test_proc_fd_links_and_magic_reopen(fsp):
    fs, p = fsp
    r, w = fs.pipe()
    f = fs.open("/a/f", O_RDONLY)
    p.descs = {5: r, 6: f}
    assert guest_listdir(fs, "/proc/self/fd") == ["0", "1", "2", "5", "6"]
    assert fs.readlink("/proc/self/fd/5") == f"pipe:[{r.inode.ino}]".encode()
    assert fs.readlink("/proc/self/fd/6") == b"/a/f"
    again = fs.open("/proc/self/fd/5", O_RDONLY)  # a new reader of the same pipe
    w.write(b"through proc")
    assert again.read(100) == b"through proc"
    assert fs.open("/proc/self/fd/6", O_RDONLY).read(5) == b"hello"
    assert stat.S_ISFIFO(fs.stat("/proc/self/fd/5").st_mode)
    assert errno_of(fs.stat, "/proc/self/fd/1") == "ENOENT"  # /dev/pts/0 is not in this tree
    assert errno_of(fs.stat, "/proc/self/fd/9") == "ENOENT"


def test_proc_refuses_changes(fsp):
    fs, _ = fsp
    assert errno_of(fs.mkdir, "/proc/self/x") == "EPERM"
    assert errno_of(fs.unlink, "/proc/self/maps") == "EPERM"
    assert errno_of(fs.rmdir, "/proc/self/fd") == "EPERM"
    assert errno_of(fs.symlink, "x", "/proc/x") == "EPERM"


def test_proc_without_a_provider_is_empty(root):
    fs = FileSystem(root)
    assert guest_listdir(fs, "/proc") == []
    assert errno_of(fs.stat, "/proc/self") == "ENOENT"
