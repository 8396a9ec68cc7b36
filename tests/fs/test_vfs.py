"""Path resolution, the overlay over a read-only host root, mounts, and permissions."""
from __future__ import annotations

import errno
import os
import pickle
import shutil
import stat
import subprocess
import tempfile

import pytest

from ecs_kernel.abi import O_CREAT, O_RDONLY, O_RDWR, O_WRONLY
from ecs_kernel import abi
from ecs_kernel.errors import KernelError
from ecs_kernel.fs.inodes import Creds
from ecs_kernel.fs.vfs import FileSystem

from fsutil import guest_listdir, guest_listdir_raw, make_seed_tree, snapshot


def errno_of(fn, *args, **kw) -> str:
    with pytest.raises(KernelError) as ei:
        fn(*args, **kw)
    return errno.errorcode[ei.value.errno]


def host_errno(fn, *args, **kw) -> str:
    with pytest.raises(OSError) as ei:
        fn(*args, **kw)
    return errno.errorcode[ei.value.errno]


def read_all(fs, path, **kw) -> bytes:
    return fs.open(path, O_RDONLY, **kw).read(1 << 20)


@pytest.fixture
def tree(tmp_path):
    """(guest root dir, a directory just outside it holding a decoy /etc/passwd)."""
    outside = tmp_path / "outside"
    (outside / "etc").mkdir(parents=True)
    (outside / "etc" / "passwd").write_bytes(b"OUTSIDE\n")
    root = tmp_path / "outside" / "jail" / "root"
    root.mkdir(parents=True)
    make_seed_tree(str(root))
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_bytes(b"INSIDE\n")
    return str(root)


@pytest.fixture
def fs(tree):
    before = snapshot(os.path.dirname(os.path.dirname(tree)))
    yield FileSystem(tree)
    assert snapshot(os.path.dirname(os.path.dirname(tree))) == before, "the host changed"


# -- escaping the root ---------------------------------------------------------------------------
@pytest.mark.parametrize("target", [
    "/etc/passwd", "../../../../../../etc/passwd", "../../etc/passwd", "/../../etc/passwd",
    "a/../../../etc/passwd", "//etc//passwd",
])
def test_symlinks_resolve_inside_the_guest_root(fs, target):
    fs.symlink(target, "/esc")
    assert read_all(fs, "/esc") == b"INSIDE\n"
    assert fs.readlink("/esc") == target.encode()


def test_dotdot_of_the_root_is_the_root(fs):
    assert read_all(fs, "/../../../etc/passwd") == b"INSIDE\n"
    assert read_all(fs, "../../etc/passwd", cwd=fs.chdir("/a/sub")) == b"INSIDE\n"
    assert fs.stat("/..").st_ino == fs.stat("/").st_ino
    assert fs.getcwd(fs.chdir("/a/sub/../../..")) == b"/"


def test_a_symlink_to_a_host_path_missing_in_the_root_is_enoent(fs):
    fs.symlink("/usr/bin/env", "/host_env")
    assert os.path.exists("/usr/bin/env")
    assert errno_of(fs.stat, "/host_env") == "ENOENT"


def test_a_symlink_to_the_root_and_then_up(fs):
    fs.symlink("/", "/r")
    fs.symlink("../../..", "/a/up")
    assert fs.stat("/r/..").st_ino == fs.stat("/").st_ino
    assert read_all(fs, "/a/up/etc/passwd") == b"INSIDE\n"
    assert fs.getcwd(fs.chdir("/a/up/a")) == b"/a"


def test_creating_through_an_escaping_symlink_creates_inside(fs, tree):
    fs.symlink("../../../../newfile", "/a/esc")
    f = fs.open("/a/esc", O_CREAT | O_WRONLY)
    f.write(b"x")
    assert fs.stat("/newfile").st_size == 1
    assert not os.path.exists(os.path.join(tree, "newfile"))
    assert not os.path.exists(os.path.join(os.path.dirname(tree), "newfile"))


# -- resolution errors, against the host as oracle ----------------------------------------------
def test_symlink_hop_limit_is_40_like_linux(fs, tree, tmp_path):
    host = tmp_path / "h"
    host.mkdir()
    (host / "f0").write_bytes(b"")
    fs.open("/f0", O_CREAT | O_WRONLY)
    for i in range(1, 42):
        os.symlink(f"f{i-1}", host / f"f{i}")
        fs.symlink(f"f{i-1}", f"/f{i}")
    os.stat(host / "f40")
    fs.stat("/f40")
    assert host_errno(os.stat, host / "f41") == errno_of(fs.stat, "/f41") == "ELOOP"
    assert stat.S_ISLNK(fs.lstat("/f41").st_mode)


def test_symlink_loops_are_eloop(fs):
    fs.symlink("loop2", "/loop1")
    fs.symlink("loop1", "/loop2")
    fs.symlink("self/x", "/self")
    assert errno_of(fs.stat, "/loop1") == "ELOOP"
    assert errno_of(fs.stat, "/loop1/x") == "ELOOP"
    assert errno_of(fs.open, "/self", O_CREAT | O_WRONLY) == "ELOOP"


def test_name_and_path_length_limits_match_linux(fs, tmp_path):
    host = str(tmp_path)
    os.mkdir(os.path.join(host, "d"))
    fs.mkdir("/d")
    for comp in ("a" * 255, "a" * 256):
        assert host_errno(os.stat, os.path.join(host, comp)) == errno_of(fs.stat, "/" + comp)
    assert errno_of(fs.stat, "/" + "a" * 256) == "ENAMETOOLONG"
    assert errno_of(fs.stat, "/nodir/" + "a" * 300) == "ENOENT"  # the missing dir is met first
    assert errno_of(fs.open, "/" + "b" * 256, O_CREAT | O_WRONLY) == "ENAMETOOLONG"
    ok = "d" + "/" * 4094  # 4095 bytes
    fs.stat(ok)
    hostfd = os.open(host, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.stat(ok, dir_fd=hostfd)
        assert host_errno(os.stat, ok + "/", dir_fd=hostfd) == errno_of(fs.stat, ok + "/") == "ENAMETOOLONG"
    finally:
        os.close(hostfd)
    assert errno_of(fs.stat, b"") == "ENOENT"


def test_files_used_as_directories_and_trailing_slashes(fs):
    assert errno_of(fs.stat, "/b/x") == "ENOTDIR"
    assert errno_of(fs.stat, "/b/") == "ENOTDIR"
    assert errno_of(fs.stat, "/b/.") == "ENOTDIR"
    assert errno_of(fs.lstat, "/lf/") == "ENOTDIR"
    assert stat.S_ISDIR(fs.lstat("/l/").st_mode)  # a trailing slash follows the link
    assert stat.S_ISLNK(fs.lstat("/l").st_mode)
    assert errno_of(fs.open, "/b/", O_RDONLY) == "ENOTDIR"
    assert errno_of(fs.open, "/new/", O_CREAT | O_WRONLY) == "EISDIR"
    assert errno_of(fs.unlink, "/l/") == "ENOTDIR"
    assert errno_of(fs.rmdir, "/l/") == "ENOTDIR"
    fs.mkdir("/newdir/")
    fs.rename("/newdir/", "/newdir2/")
    assert errno_of(fs.symlink, "x", "/news/") == "ENOENT"


def test_nofollow_flags(fs):
    assert errno_of(fs.open, "/lf", O_RDONLY | abi.O_NOFOLLOW) == "ELOOP"
    assert errno_of(fs.open, "/lf", O_CREAT | O_WRONLY | abi.O_NOFOLLOW) == "ELOOP"
    fs.open("/l/", O_RDONLY | abi.O_NOFOLLOW)  # the trailing slash wins
    p = fs.open("/lf", abi.O_PATH | abi.O_NOFOLLOW)
    assert stat.S_ISLNK(p.fstat().st_mode)
    assert errno_of(p.read, 1) == "EBADF"
    assert fs.stat("/lf", follow=False).st_size == 1  # AT_SYMLINK_NOFOLLOW: the link itself
    assert fs.stat("/lf").st_size == 3


def test_open_flag_rules(fs):
    assert errno_of(fs.open, "/x", O_CREAT | abi.O_DIRECTORY) == "EINVAL"
    assert errno_of(fs.open, "/a", abi.O_TMPFILE | O_RDWR) == errno.errorcode[errno.EOPNOTSUPP]
    assert errno_of(fs.open, "/b", O_CREAT | abi.O_EXCL | O_WRONLY) == "EEXIST"
    assert errno_of(fs.open, "/lf", O_CREAT | abi.O_EXCL | O_WRONLY) == "EEXIST"
    assert errno_of(fs.open, "/a", O_CREAT | O_RDONLY) == "EISDIR"
    assert errno_of(fs.open, "/a", O_WRONLY) == "EISDIR"
    assert errno_of(fs.open, "/a", O_RDONLY | abi.O_TRUNC) == "EISDIR"
    assert errno_of(fs.open, "/b", abi.O_DIRECTORY) == "ENOTDIR"
    fs.open("/dangle", O_CREAT | O_WRONLY).write(b"made")
    assert read_all(fs, "/nothere") == b"made"  # O_CREAT follows a dangling link
    fs.open("/b", O_RDONLY | abi.O_TRUNC)  # O_RDONLY|O_TRUNC truncates, as Linux does
    assert fs.stat("/b").st_size == 0


def test_relative_paths_use_the_cwd_or_dirfd(fs):
    a = fs.chdir("/a")
    assert read_all(fs, "f", cwd=a) == b"hello"
    d = fs.open("/a", O_RDONLY | abi.O_DIRECTORY)
    assert read_all(fs, "f", cwd=d) == b"hello"
    assert read_all(fs, "/b", cwd=fs.open("/b", O_RDONLY)) == b"bee"  # ignored when absolute
    assert errno_of(fs.stat, "f", cwd=fs.open("/b", O_RDONLY)) == "ENOTDIR"
    assert errno_of(fs.chdir, "/b") == "ENOTDIR"


def test_getcwd_follows_renames_and_fails_after_rmdir(fs):
    sub = fs.chdir("/a/sub")
    fs.rename("/a", "/z")
    assert fs.getcwd(sub) == b"/z/sub"
    fs.rmdir("/z/sub")
    assert errno_of(fs.getcwd, sub) == "ENOENT"
    assert errno_of(fs.open, "new", O_CREAT | O_WRONLY, cwd=sub) == "ENOENT"


# -- the overlay ---------------------------------------------------------------------------------
def test_writes_to_host_files_stay_in_memory(fs, tree):
    ino = fs.stat("/a/f").st_ino
    reader = fs.open("/a/f", O_RDONLY)
    w = fs.open("/a/f", O_WRONLY | abi.O_APPEND)
    w.write(b" world")
    assert read_all(fs, "/a/f") == b"hello world"
    assert reader.read(100) == b"hello world"  # copy-up is in place: open descriptions see it
    assert fs.stat("/a/f").st_size == 11 and fs.stat("/a/f").st_ino == ino
    with open(os.path.join(tree, "a", "f"), "rb") as f:
        assert f.read() == b"hello"


def test_read_only_opens_do_not_copy_up(fs, tree):
    fs.open("/b", O_RDONLY).read(1)
    assert fs.stat("/b").st_mtime_ns == os.stat(os.path.join(tree, "b")).st_mtime_ns
    assert fs.lookup("/b").data is None


def test_unlinked_host_files_are_whited_out(fs, tree):
    fs.unlink("/b")
    assert errno_of(fs.stat, "/b") == "ENOENT"
    assert "b" not in guest_listdir(fs, "/")
    assert os.path.exists(os.path.join(tree, "b"))
    fs.open("/b", O_CREAT | O_WRONLY).write(b"new")
    assert read_all(fs, "/b") == b"new"
    assert guest_listdir(fs, "/").count("b") == 1


def native_ls_f(path) -> list[str]:
    """``ls -f``: the names in the order the host's getdents gives them."""
    out = subprocess.run(["ls", "-f", path], capture_output=True, check=True).stdout
    return out.decode().splitlines()


def test_host_directories_list_in_the_hosts_order(tmp_path):
    host = tmp_path / "root" / "many"
    host.mkdir(parents=True)
    for i in range(40):
        (host / f"n{i:02d}").touch()
    (host / "sub").mkdir()
    native = native_ls_f(str(host))
    assert native != sorted(native)  # the host's order is not the names' (else nothing is shown)
    fs = FileSystem(str(tmp_path / "root"))
    assert guest_listdir_raw(fs, "/many") == native  # "." and ".." where the host has them


def test_overlay_listings_are_stable_and_keep_the_hosts_order(tmp_path):
    host = tmp_path / "root" / "d"
    host.mkdir(parents=True)
    for name in ("k1", "k2", "k3", "k4", "k5", "k6"):
        (host / name).touch()
    native = native_ls_f(str(host))
    fs = FileSystem(str(tmp_path / "root"))
    fs.open("/d/new1", O_CREAT | O_WRONLY)
    fs.mkdir("/d/new2")
    fs.unlink("/d/k3")
    fs.unlink("/d/k5")
    fs.open("/d/k5", O_CREAT | O_WRONLY).write(b"again")  # a host name, recreated in place
    want = [n for n in native if n != "k3"] + ["new2", "new1"]  # the guest's names newest first
    assert guest_listdir_raw(fs, "/d") == want
    assert guest_listdir_raw(fs, "/d") == want


def test_memory_directories_list_as_linux_tmpfs_does(tmp_path):
    """The guest's /tmp and its new directories list like tmpfs: the host's /dev/shm is the
    oracle (Linux lists a tmpfs directory newest first)."""
    shm = "/dev/shm"
    if not os.path.isdir(shm) or not os.access(shm, os.W_OK):
        pytest.skip("no writable /dev/shm (tmpfs) to compare with")
    d = tempfile.mkdtemp(dir=shm)
    try:
        fs = FileSystem(str(tmp_path))
        fs.mkdir("/tmp/d")
        steps = [("touch", "b"), ("touch", "a"), ("mkdir", "z"), ("touch", "c"), ("rm", "a"),
                 ("touch", "a")]
        for op, name in steps:
            host, guest = os.path.join(d, name), "/tmp/d/" + name
            if op == "touch":
                open(host, "w").close()
                fs.open(guest, O_CREAT | O_WRONLY)
            elif op == "mkdir":
                os.mkdir(host)
                fs.mkdir(guest)
            else:
                os.unlink(host)
                fs.unlink(guest)
        assert guest_listdir_raw(fs, "/tmp/d") == native_ls_f(d)
    finally:
        shutil.rmtree(d)


def test_a_recreated_host_directory_is_opaque(fs):
    fs.unlink("/a/f")
    fs.rmdir("/a/sub")
    fs.rmdir("/a")
    fs.mkdir("/a")
    assert guest_listdir(fs, "/a") == []
    assert errno_of(fs.stat, "/a/f") == "ENOENT"


def test_renamed_host_directory_keeps_its_host_children(fs):
    fs.rename("/a", "/c/moved")
    assert read_all(fs, "/c/moved/f") == b"hello"
    assert guest_listdir(fs, "/c/moved") == ["f", "sub"]
    assert errno_of(fs.stat, "/a") == "ENOENT"
    assert errno_of(fs.stat, "/l") == "ENOENT"  # l -> a, which is gone


def test_metadata_changes_and_links_copy_up(fs, tree):
    fs.chmod("/b", 0o600)
    assert stat.S_IMODE(fs.stat("/b").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(tree, "b")).st_mode) == 0o644
    fs.link("/a/f", "/hard")
    assert fs.stat("/a/f").st_nlink == fs.stat("/hard").st_nlink == 2
    fs.open("/hard", O_WRONLY | abi.O_TRUNC).write(b"H")
    assert read_all(fs, "/a/f") == b"H"
    fs.truncate("/b", 1)
    assert read_all(fs, "/b") == b"b"
    fs.chown("/b", 5, 6)
    assert (fs.stat("/b").st_uid, fs.stat("/b").st_gid) == (5, 6)


def test_directory_nlink_tracks_subdirectories(fs):
    n = fs.stat("/").st_nlink
    fs.mkdir("/newdir")
    assert fs.stat("/").st_nlink == n + 1
    assert fs.stat("/newdir").st_nlink == 2
    fs.mkdir("/newdir/x")
    assert fs.stat("/newdir").st_nlink == 3
    fs.rename("/newdir/x", "/x")
    assert fs.stat("/newdir").st_nlink == 2 and fs.stat("/").st_nlink == n + 2


def test_rename_rules(fs):
    assert errno_of(fs.rename, "/a", "/a/sub/x") == "EINVAL"
    assert errno_of(fs.rename, "/a/sub", "/a") == "ENOTEMPTY"
    assert errno_of(fs.rename, "/a", "/b") == "ENOTDIR"
    assert errno_of(fs.rename, "/b", "/a") == "EISDIR"
    assert errno_of(fs.rename, "/b", "/c/") == "ENOTDIR"  # the slash is checked first
    assert errno_of(fs.rename, "/b", "/nonexist/") == "ENOTDIR"
    assert errno_of(fs.rename, "/a", "/.") == "EBUSY"
    assert errno_of(fs.rename, "/", "/x") == "EBUSY"
    assert errno_of(fs.rename, "/b", "/lf", flags=abi.RENAME_NOREPLACE) == "EEXIST"
    fs.rename("/a", "/c")  # over an empty directory
    assert read_all(fs, "/c/f") == b"hello"
    fs.rename("/b", "/lf")
    assert stat.S_ISREG(fs.lstat("/lf").st_mode)
    fs.rename("/lf", "/c/f", flags=abi.RENAME_EXCHANGE)
    assert read_all(fs, "/c/f") == b"bee" and read_all(fs, "/lf") == b"hello"
    fs.link("/lf", "/lf2")
    fs.rename("/lf", "/lf2")  # same inode: nothing happens
    assert fs.stat("/lf").st_nlink == 2


def test_rmdir_and_unlink_rules(fs):
    assert errno_of(fs.rmdir, "/") == "EBUSY"
    assert errno_of(fs.rmdir, "/a/.") == "EINVAL"
    assert errno_of(fs.rmdir, "/a/..") == "ENOTEMPTY"
    assert errno_of(fs.rmdir, "/a") == "ENOTEMPTY"
    assert errno_of(fs.rmdir, "/b") == "ENOTDIR"
    assert errno_of(fs.unlink, "/a") == "EISDIR"
    assert errno_of(fs.unlink, "/a/..") == "EISDIR"
    assert errno_of(fs.mkdir, "/a") == "EEXIST"
    assert errno_of(fs.mkdir, "/") == "EEXIST"
    assert errno_of(fs.link, "/a", "/a2") == "EPERM"
    assert errno_of(fs.symlink, "", "/empty") == "ENOENT"


def test_umask_applies_to_creation_modes(fs):
    fs.open("/m1", O_CREAT | O_WRONLY, 0o666, umask=0o027)
    fs.mkdir("/m2", 0o777, umask=0o077)
    assert stat.S_IMODE(fs.stat("/m1").st_mode) == 0o640
    assert stat.S_IMODE(fs.stat("/m2").st_mode) == 0o700
    fs.symlink("x", "/m3")
    assert stat.S_IMODE(fs.lstat("/m3").st_mode) == 0o777


# -- mounts ----------------------------------------------------------------------------------------
def test_tmp_is_an_empty_sticky_memory_directory(tree):
    os.mkdir(os.path.join(tree, "tmp"))
    open(os.path.join(tree, "tmp", "hostfile"), "w").close()
    fs = FileSystem(tree)
    assert guest_listdir(fs, "/tmp") == []
    assert stat.S_IMODE(fs.stat("/tmp").st_mode) == 0o1777
    assert fs.stat("/tmp").st_dev != fs.stat("/").st_dev
    fs.open("/tmp/x", O_CREAT | O_WRONLY).write(b"1")
    assert errno_of(fs.rmdir, "/tmp") == "EBUSY"
    assert errno_of(fs.rename, "/tmp", "/tmp2") == "EBUSY"
    assert errno_of(fs.rename, "/c", "/tmp") == "EBUSY"
    assert {"tmp", "dev", "proc"} <= set(guest_listdir(fs, "/"))


def test_the_default_root_is_the_host_root_read_only():
    fs = FileSystem()
    with open("/etc/passwd", "rb") as f:
        host = f.read()
    assert read_all(fs, "/etc/passwd") == host
    w = fs.open("/etc/passwd", O_WRONLY | abi.O_TRUNC)
    w.write(b"guest")
    assert read_all(fs, "/etc/passwd") == b"guest"
    with open("/etc/passwd", "rb") as f:
        assert f.read() == host
    assert fs.stat("/usr").st_ino == os.stat("/usr").st_ino


# -- permissions -----------------------------------------------------------------------------------
USER = Creds(1000, 1000)
OTHER = Creds(1001, 1001)


def test_mode_bits_apply_to_a_non_root_guest(fs):
    fs.open("/secret", O_CREAT | O_WRONLY, 0o600)
    fs.mkdir("/priv", 0o700)
    assert errno_of(fs.open, "/secret", O_RDONLY, creds=USER) == "EACCES"
    assert errno_of(fs.stat, "/priv/x", creds=USER) == "EACCES"
    assert errno_of(fs.open, "/b", O_WRONLY, creds=USER) == "EACCES"  # host file, 0644 root
    assert errno_of(fs.open, "/new", O_CREAT | O_WRONLY, creds=USER) == "EACCES"
    assert errno_of(fs.chmod, "/b", 0o777, creds=USER) == "EPERM"
    assert errno_of(fs.chown, "/b", 1000, -1, creds=USER) == "EPERM"
    assert errno_of(fs.unlink, "/b", creds=USER) == "EACCES"
    assert errno_of(fs.chdir, "/priv", creds=USER) == "EACCES"
    assert read_all(fs, "/b", creds=USER) == b"bee"
    assert errno_of(fs.open, "/b", O_RDONLY | abi.O_NOATIME, creds=USER) == "EPERM"
    fs.access("/b", abi.R_OK, creds=USER)
    assert errno_of(fs.access, "/b", abi.W_OK, creds=USER) == "EACCES"
    assert errno_of(fs.access, "/b", abi.X_OK) == "EACCES"  # root needs an x bit on files
    fs.access("/a", abi.X_OK)


def test_sticky_tmp_protects_other_users_files(fs):
    fs.open("/tmp/mine", O_CREAT | O_WRONLY, creds=USER)
    assert fs.stat("/tmp/mine").st_uid == 1000
    assert errno_of(fs.unlink, "/tmp/mine", creds=OTHER) == "EPERM"
    assert errno_of(fs.rename, "/tmp/mine", "/tmp/theirs", creds=OTHER) == "EPERM"
    fs.unlink("/tmp/mine", creds=USER)


def test_proc_and_dev_refuse_structural_changes(fs):
    assert errno_of(fs.mkdir, "/proc/x") == "EPERM"
    assert errno_of(fs.open, "/proc/x", O_CREAT | O_WRONLY) == "EACCES"
    fs.open("/dev/shm/seg", O_CREAT | O_RDWR).write(b"shm")  # /dev/shm is ordinary memory


def _run_as(uid: int, fn):
    """Run ``fn`` in a forked child with the given uid/gid; return its result (or exception)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            try:
                out = ("ok", fn())
            except BaseException as e:  # noqa: BLE001 - report anything to the parent
                out = ("exc", repr(e))
            os.write(w, pickle.dumps(out))
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while True:
        c = os.read(r, 65536)
        if not c:
            break
        chunks.append(c)
    os.close(r)
    os.waitpid(pid, 0)
    kind, val = pickle.loads(b"".join(chunks))
    if kind == "exc":
        raise AssertionError(f"child failed: {val}")
    return val


PERM_TREE = [("pub", 0o777), ("priv", 0o700), ("sticky", 0o1777), ("ro", 0o755), ("x", 0o711)]
PERM_FILES = [("secret", 0o600), ("ro/file", 0o644), ("sticky/rootfile", 0o666), ("x/child", 0o644),
              ("script", 0o744)]
PERM_OPS = [
    ("read", "secret"), ("read", "ro/file"), ("write", "ro/file"), ("create", "ro/new"),
    ("create", "pub/new"), ("stat", "priv/anything"), ("unlink", "sticky/rootfile"),
    ("chmod", "ro/file"), ("listdir", "priv"), ("listdir", "x"), ("stat", "x/child"),
    ("mkdir", "pub/d"), ("rename", "pub/new", "ro/moved"), ("rename", "pub/new", "pub/moved"),
    ("access_x", "script"), ("access_r", "secret"), ("rmdir", "pub/d"), ("unlink", "ro/file"),
    ("create", "sticky/mine"), ("chmod", "sticky/mine"), ("link", "ro/file", "pub/hl"),
    ("symlink", "pub/sl"), ("truncate", "ro/file"),
]


def _perm_tree(base: str) -> None:
    os.chmod(base, 0o755)
    for d, mode in PERM_TREE:
        os.mkdir(os.path.join(base, d))
        os.chmod(os.path.join(base, d), mode)
    for f, mode in PERM_FILES:
        with open(os.path.join(base, f), "w") as fh:
            fh.write("data")
        os.chmod(os.path.join(base, f), mode)


def _host_perm_ops(base: str) -> list:
    out = []
    for op, *args in PERM_OPS:
        p = [os.path.join(base, a) for a in args]
        try:
            if op == "read":
                os.close(os.open(p[0], os.O_RDONLY))
            elif op == "write":
                os.close(os.open(p[0], os.O_WRONLY))
            elif op == "create":
                os.close(os.open(p[0], os.O_CREAT | os.O_WRONLY, 0o644))
            elif op == "stat":
                os.stat(p[0])
            elif op == "unlink":
                os.unlink(p[0])
            elif op == "chmod":
                os.chmod(p[0], 0o600)
            elif op == "listdir":
                os.listdir(p[0])
            elif op == "mkdir":
                os.mkdir(p[0])
            elif op == "rename":
                os.rename(p[0], p[1])
            elif op == "access_x":
                if not os.access(p[0], os.X_OK):
                    raise PermissionError(errno.EACCES, "access")
            elif op == "access_r":
                if not os.access(p[0], os.R_OK):
                    raise PermissionError(errno.EACCES, "access")
            elif op == "rmdir":
                os.rmdir(p[0])
            elif op == "link":
                os.link(p[0], p[1])
            elif op == "symlink":
                os.symlink("target", p[0])
            elif op == "truncate":
                os.truncate(p[0], 0)
            out.append("ok")
        except OSError as e:
            out.append(errno.errorcode[e.errno])
    return out


def _guest_perm_ops(fs: FileSystem, creds: Creds) -> list:
    out = []
    kw = {"creds": creds}
    for op, *args in PERM_OPS:
        p = ["/" + a for a in args]
        try:
            if op == "read":
                fs.open(p[0], O_RDONLY, **kw)
            elif op == "write":
                fs.open(p[0], O_WRONLY, **kw)
            elif op == "create":
                fs.open(p[0], O_CREAT | O_WRONLY, 0o644, **kw)
            elif op == "stat":
                fs.stat(p[0], **kw)
            elif op == "unlink":
                fs.unlink(p[0], **kw)
            elif op == "chmod":
                fs.chmod(p[0], 0o600, **kw)
            elif op == "listdir":
                guest_listdir(fs, p[0], **kw)
            elif op == "mkdir":
                fs.mkdir(p[0], **kw)
            elif op == "rename":
                fs.rename(p[0], p[1], **kw)
            elif op == "access_x":
                fs.access(p[0], abi.X_OK, **kw)
            elif op == "access_r":
                fs.access(p[0], abi.R_OK, **kw)
            elif op == "rmdir":
                fs.rmdir(p[0], **kw)
            elif op == "link":
                fs.link(p[0], p[1], **kw)
            elif op == "symlink":
                fs.symlink("target", p[0], **kw)
            elif op == "truncate":
                fs.truncate(p[0], 0, **kw)
            out.append("ok")
        except KernelError as e:
            out.append(errno.errorcode[e.errno])
    return out


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the oracle as another uid")


@needs_root
def test_permissions_match_linux_for_an_unprivileged_user():
    nobody = 65534
    base = tempfile.mkdtemp(prefix="ecsfs-perm-")
    try:
        oracle, guest_root = os.path.join(base, "oracle"), os.path.join(base, "guest")
        os.chmod(base, 0o755)
        for r in (oracle, guest_root):
            os.mkdir(r)
            _perm_tree(r)
        before = snapshot(guest_root)
        expected = _run_as(nobody, lambda: _host_perm_ops(oracle))
        got = _guest_perm_ops(FileSystem(guest_root, special_mounts=False), Creds(nobody, nobody))
        assert list(zip(PERM_OPS, got)) == list(zip(PERM_OPS, expected))
        assert snapshot(guest_root) == before
    finally:
        shutil.rmtree(base)


@needs_root
def test_host_files_the_host_user_cannot_read_give_eacces():
    base = tempfile.mkdtemp(prefix="ecsfs-hostperm-")
    try:
        os.chmod(base, 0o755)
        _perm_tree(base)

        def in_child():
            fs = FileSystem(base, special_mounts=False)
            res = []
            for call in (lambda: fs.open("/secret", O_RDONLY),           # guest is root: host says no
                         lambda: fs.open("/ro/file", O_WRONLY).write(b"x"),  # copy-up of a readable file
                         lambda: fs.open("/secret", O_WRONLY),           # copy-up needs to read it
                         lambda: guest_listdir(fs, "/priv")):
                try:
                    call()
                    res.append("ok")
                except KernelError as e:
                    res.append(errno.errorcode[e.errno])
            return res

        assert _run_as(65534, in_child) == ["EACCES", "ok", "EACCES", "EACCES"]
    finally:
        shutil.rmtree(base)


def test_the_tree_pickles_for_checkpoints(fs, tree):
    """Checkpoint/restore: the overlay, open descriptions and pipes survive a pickle round trip."""
    fs.open("/a/f", O_WRONLY | abi.O_APPEND).write(b"!")
    fs.unlink("/b")
    fs.mkdir("/tmp/t")
    desc = fs.open("/a/f", O_RDONLY)
    desc.read(2)
    r, w = fs.pipe()
    w.write(b"queued")
    fs.lookup("/proc")  # the synthetic trees too
    fs2, desc2, r2 = pickle.loads(pickle.dumps((fs, desc, r)))
    assert read_all(fs2, "/a/f") == b"hello!"
    assert errno_of(fs2.stat, "/b") == "ENOENT"
    assert desc2.read(100) == b"llo!"
    assert r2.read(100) == b"queued"
    fs2.open("/a/f", O_WRONLY | abi.O_TRUNC)
    assert read_all(fs, "/a/f") == b"hello!"  # independent copies
