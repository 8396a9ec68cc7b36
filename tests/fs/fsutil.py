"""Helpers shared by the fs tests: host tree snapshots, dirent parsing, seed trees."""
from __future__ import annotations

import hashlib
import os
import stat
import struct

from ecs_kernel import abi


def snapshot(root: str) -> dict[str, tuple]:
    """Everything observable about a host tree (no atime): used to prove the host is unchanged."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames, ""]:
            path = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(st.st_mode):
                extra = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
            else:
                extra = None
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                        st.st_ino, st.st_nlink, extra)
    return out


def parse_dirents(buf: bytes) -> list[tuple[int, int, int, bytes]]:
    """linux_dirent64 records -> [(d_ino, d_off, d_type, name)], checking the layout as it goes."""
    out = []
    pos = 0
    while pos < len(buf):
        ino, off, reclen, dtype = struct.unpack_from("<QqHB", buf, pos)
        assert reclen % 8 == 0 and reclen >= 24, reclen
        name = buf[pos + 19:pos + reclen]
        name = name[:name.index(b"\0")]
        out.append((ino, off, dtype, name))
        pos += reclen
    assert pos == len(buf)
    return out


def guest_listdir(fs, path, **kw) -> list[str]:
    d = fs.open(path, abi.O_RDONLY | abi.O_DIRECTORY, **kw)
    names = []
    while True:
        buf = d.getdents64(256)
        if not buf:
            break
        names += [os.fsdecode(n) for _, _, _, n in parse_dirents(buf)]
    return sorted(n for n in names if n not in (".", ".."))


def guest_listdir_raw(fs, path, **kw) -> list[str]:
    """Every name getdents64 gives, "." and ".." included, in its order."""
    d = fs.open(path, abi.O_RDONLY | abi.O_DIRECTORY, **kw)
    names = []
    while True:
        buf = d.getdents64(256)
        if not buf:
            return names
        names += [os.fsdecode(n) for _, _, _, n in parse_dirents(buf)]


def make_seed_tree(root: str) -> None:
    """A small host tree with files, directories and relative symlinks."""
    os.makedirs(os.path.join(root, "a", "sub"))
    with open(os.path.join(root, "a", "f"), "wb") as f:
        f.write(b"hello")
    with open(os.path.join(root, "b"), "wb") as f:
        f.write(b"bee")
    os.mkdir(os.path.join(root, "c"))
    os.symlink("a", os.path.join(root, "l"))
    os.symlink("b", os.path.join(root, "lf"))
    os.symlink("nothere", os.path.join(root, "dangle"))
