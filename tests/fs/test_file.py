"""Open file descriptions: offsets, flags, getdents64, ioctl, host stdio passthrough."""
from __future__ import annotations

import ctypes
import errno
import os
import stat
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecs_kernel.abi import O_CREAT, O_RDONLY, O_RDWR, O_WRONLY
from ecs_kernel import abi
from ecs_kernel.errors import KernelError
from ecs_kernel.fs.stdio import HostStdioFile
from ecs_kernel.fs.vfs import FileSystem

from fsutil import make_seed_tree, parse_dirents


def errno_of(fn, *args, **kw) -> str:
    with pytest.raises(KernelError) as ei:
        fn(*args, **kw)
    return errno.errorcode[ei.value.errno]


@pytest.fixture
def fs(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    make_seed_tree(str(root))
    return FileSystem(str(root))


# -- regular files against a host file -------------------------------------------------------------
file_ops = st.one_of(
    st.tuples(st.just("write"), st.binary(max_size=20)),
    st.tuples(st.just("read"), st.integers(0, 30)),
    st.tuples(st.just("pread"), st.integers(0, 30), st.integers(-2, 60)),
    st.tuples(st.just("pwrite"), st.binary(max_size=20), st.integers(-2, 60)),
    st.tuples(st.just("lseek"), st.integers(-70, 70), st.sampled_from([0, 1, 2, 9])),
    st.tuples(st.just("ftruncate"), st.integers(-1, 50)),
)


def _call(fn, *args):
    try:
        return ("ok", fn(*args))
    except (OSError, KernelError) as e:
        return ("err", errno.errorcode[e.errno])


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([os.O_RDWR, os.O_RDWR | os.O_APPEND, os.O_WRONLY, os.O_RDONLY]),
       st.lists(file_ops, max_size=25))
def test_file_offsets_and_errnos_match_a_host_file(flags, sequence):
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f")
        with open(path, "wb") as f:
            f.write(b"0123456789")
        hfd = os.open(path, flags)
        guest = FileSystem(d, special_mounts=False)
        g = guest.open("/f", flags)
        try:
            for i, (op, *args) in enumerate(sequence):
                if op == "write":
                    exp, got = _call(os.write, hfd, args[0]), _call(g.write, args[0])
                elif op == "read":
                    exp, got = _call(os.read, hfd, args[0]), _call(g.read, args[0])
                elif op == "pread":
                    exp, got = _call(os.pread, hfd, *args), _call(g.pread, *args)
                elif op == "pwrite":
                    exp, got = _call(os.pwrite, hfd, *args), _call(g.pwrite, *args)
                elif op == "lseek":
                    exp, got = _call(os.lseek, hfd, *args), _call(g.lseek, *args)
                else:
                    exp, got = _call(os.ftruncate, hfd, args[0]), _call(g.truncate, args[0])
                assert got == exp, (i, op, args)
            assert g.fstat().st_size == os.fstat(hfd).st_size
            assert guest.open("/f", O_RDONLY).read(1000) == open(path, "rb").read()
        finally:
            os.close(hfd)


def test_seek_data_and_hole_on_a_dense_file_match_linux(fs, tmp_path):
    host = tmp_path / "dense"
    host.write_bytes(b"abc")
    hfd = os.open(host, os.O_RDONLY)
    g = fs.open("/b", O_RDONLY)  # "bee": 3 bytes too
    try:
        for off in (-1, 0, 2, 3, 4):
            for whence in (abi.SEEK_DATA, abi.SEEK_HOLE):
                assert _call(g.lseek, off, whence) == _call(os.lseek, hfd, off, whence)
    finally:
        os.close(hfd)


def test_access_mode_is_enforced_by_the_description(fs):
    r = fs.open("/b", O_RDONLY)
    w = fs.open("/b", O_WRONLY)
    assert errno_of(r.write, b"x") == "EBADF"
    assert errno_of(w.read, 1) == "EBADF"
    assert errno_of(r.truncate, 0) == "EINVAL"
    both = fs.open("/b", 3)  # O_ACCMODE: neither read nor write, like Linux
    assert errno_of(both.read, 1) == "EBADF" and errno_of(both.write, b"x") == "EBADF"


def test_status_flags_and_fcntl_setfl(fs):
    d = fs.open("/b", O_WRONLY | abi.O_APPEND | abi.O_CLOEXEC | O_CREAT)
    assert d.get_status_flags() == O_WRONLY | abi.O_APPEND | abi.O_LARGEFILE
    d.set_status_flags(abi.O_NONBLOCK | O_RDWR)  # the access mode cannot change
    assert d.get_status_flags() == O_WRONLY | abi.O_NONBLOCK | abi.O_LARGEFILE
    assert d.nonblocking


def test_ioctl_on_non_terminals(fs):
    f = fs.open("/b", O_RDONLY)
    assert errno_of(f.ioctl, abi.TCGETS) == "ENOTTY"
    assert errno_of(f.ioctl, abi.TIOCGWINSZ) == "ENOTTY"
    f.read(1)
    assert f.ioctl(abi.FIONREAD) == (0, struct.pack("<i", 2))
    assert errno_of(fs.open("/dev/null", O_RDONLY).ioctl, abi.TCGETS) == "ENOTTY"


def test_sparse_truncate_reads_zeros_and_stays_cheap(fs):
    f = fs.open("/tmp/sparse", O_CREAT | O_RDWR)
    f.truncate(1 << 40)
    assert f.fstat().st_size == 1 << 40 and f.fstat().st_blocks == 0
    assert f.pread(4, (1 << 40) - 2) == b"\0\0"
    f.pwrite(b"ab", 10)
    assert f.pread(14, 0) == bytes(10) + b"ab\0\0"


def test_o_append_pwrite_appends_like_linux(fs):
    f = fs.open("/tmp/app", O_CREAT | O_RDWR | abi.O_APPEND)
    f.write(b"abc")
    f.pwrite(b"Z", 0)
    assert f.pread(10, 0) == b"abcZ"


def test_stat_pack_is_the_x86_64_layout(fs):
    s = fs.stat("/b")
    raw = s.pack()
    assert len(raw) == 144
    dev, ino, nlink, mode, uid, gid = struct.unpack_from("<QQQIII", raw, 0)
    size, blksize, blocks = struct.unpack_from("<qqq", raw, 48)
    mtime, mtime_ns = struct.unpack_from("<qq", raw, 88)
    assert (dev, ino, nlink, mode, uid, gid) == (s.st_dev, s.st_ino, s.st_nlink, s.st_mode, s.st_uid, s.st_gid)
    assert (size, blksize, blocks) == (3, s.st_blksize, s.st_blocks)
    assert mtime * 10**9 + mtime_ns == s.st_mtime_ns


# -- getdents64 --------------------------------------------------------------------------------------
_libc = ctypes.CDLL(None, use_errno=True)
SYS_getdents64 = 217


def host_getdents(path: str) -> list:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    out = []
    try:
        buf = ctypes.create_string_buffer(1 << 16)
        while True:
            n = _libc.syscall(SYS_getdents64, fd, buf, len(buf))
            assert n >= 0, ctypes.get_errno()
            if n == 0:
                return out
            out += parse_dirents(buf.raw[:n])
    finally:
        os.close(fd)


def test_getdents64_records_match_the_hosts(fs, tmp_path):
    root = str(tmp_path / "root")
    d = fs.open("/a", O_RDONLY | abi.O_DIRECTORY)
    guest = parse_dirents(d.getdents64(4096))
    assert d.getdents64(4096) == b""  # the end
    host = host_getdents(os.path.join(root, "a"))
    # d_off cookies are filesystem-specific; names, inode numbers and types must agree
    assert sorted((n, i, t) for i, _, t, n in guest) == sorted((n, i, t) for i, _, t, n in host)
    top = {n: t for _, _, t, n in parse_dirents(fs.open("/", abi.O_DIRECTORY).getdents64(4096))}
    assert top[b"l"] == abi.DT_LNK and top[b"b"] == abi.DT_REG and top[b"a"] == abi.DT_DIR
    assert top[b"dev"] == abi.DT_DIR


def test_getdents64_continues_across_small_buffers(fs):
    for i in range(30):
        fs.open(f"/tmp/file-{i:02d}-" + "x" * i, O_CREAT | O_WRONLY)
    d = fs.open("/tmp", O_RDONLY | abi.O_DIRECTORY)
    assert errno_of(d.getdents64, 20) == "EINVAL"  # smaller than one record
    seen = []
    while True:
        buf = d.getdents64(100)
        if not buf:
            break
        assert len(buf) <= 100
        seen += parse_dirents(buf)
    names = [n for _, _, _, n in seen]
    assert len(names) == len(set(names)) == 32
    # seekdir to a d_off resumes right after that entry
    cookie = seen[9][1]
    d.lseek(cookie, abi.SEEK_SET)
    assert parse_dirents(d.getdents64(4096))[0][3] == names[10]
    d.lseek(0, abi.SEEK_SET)
    assert [n for _, _, _, n in parse_dirents(d.getdents64(1 << 16))] == names


def test_directory_descriptions_refuse_byte_io(fs):
    d = fs.open("/a", O_RDONLY | abi.O_DIRECTORY)
    assert errno_of(d.read, 10) == "EISDIR"
    assert errno_of(d.lseek, 0, abi.SEEK_END) == "EINVAL"
    assert errno_of(d.lseek, -1, abi.SEEK_SET) == "EINVAL"
    assert errno_of(fs.open("/b", O_RDONLY).getdents64, 4096) == "ENOTDIR"
    fs.mkdir("/tmp/gone")
    g = fs.open("/tmp/gone", O_RDONLY)
    fs.rmdir("/tmp/gone")
    assert errno_of(g.getdents64, 4096) == "ENOENT"


# -- host stdio ----------------------------------------------------------------------------------------
def test_host_stdio_over_a_pipe_never_blocks_python():
    r, w = os.pipe()
    try:
        gin = HostStdioFile(r, O_RDONLY)
        gout = HostStdioFile(w, O_WRONLY)
        assert not gin.readable()
        assert errno_of(gin.read, 10) == "EAGAIN"
        assert gout.write(b"hello") == 5
        assert gin.readable() and gin.read(10) == b"hello"
        assert errno_of(gin.lseek, 0, abi.SEEK_CUR) == "ESPIPE"
        assert errno_of(gin.ioctl, abi.TCGETS) == "ENOTTY"
        assert stat.S_ISFIFO(gin.fstat().st_mode)
        assert errno_of(gin.write, b"x") == "EBADF"
        gin.release()
        os.fstat(r)  # not closed: the host fd is not ours
    finally:
        os.close(r)
        os.close(w)


def test_host_stdio_over_a_regular_file(tmp_path):
    p = tmp_path / "in"
    p.write_bytes(b"line1\nline2\n")
    fd = os.open(p, os.O_RDONLY)
    try:
        f = HostStdioFile(fd, O_RDONLY)
        assert f.read(6) == b"line1\n"
        assert f.fstat().st_ino == os.fstat(fd).st_ino
        assert f.lseek(0, abi.SEEK_SET) == 0 and f.read(5) == b"line1"
    finally:
        os.close(fd)
