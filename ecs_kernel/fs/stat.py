"""What stat(2) and friends hand user space: ``struct stat`` (x86-64), ``dev_t`` and ``d_type``.

The numbers (S_IF*, DT_*, open flags, ...) live in ecs_kernel/abi.py; this module holds the
helpers that encode them.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from ecs_kernel.abi import S_IFMT


def dtype_of(mode: int) -> int:
    """The d_type for a full st_mode (Linux: fs_umode_to_dtype)."""
    return (mode & S_IFMT) >> 12


def makedev(major: int, minor: int) -> int:
    """A dev_t as the kernel reports it to user space (new_encode_dev)."""
    return (minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & ~0xFF) << 12) | ((major & ~0xFFF) << 32)


_STAT_STRUCT = struct.Struct("<QQQIIIiQqqqqqqqqq24x")  # struct stat, x86-64: 144 bytes


@dataclass(frozen=True)
class Stat:
    """What stat(2) returns; ``pack()`` gives the x86-64 ``struct stat`` bytes."""

    st_dev: int
    st_ino: int
    st_mode: int
    st_nlink: int
    st_uid: int
    st_gid: int
    st_rdev: int
    st_size: int
    st_blksize: int
    st_blocks: int
    st_atime_ns: int
    st_mtime_ns: int
    st_ctime_ns: int

    def pack(self) -> bytes:
        ns = 1_000_000_000
        return _STAT_STRUCT.pack(
            self.st_dev, self.st_ino, self.st_nlink, self.st_mode, self.st_uid, self.st_gid, 0,
            self.st_rdev, self.st_size, self.st_blksize, self.st_blocks,
            self.st_atime_ns // ns, self.st_atime_ns % ns,
            self.st_mtime_ns // ns, self.st_mtime_ns % ns,
            self.st_ctime_ns // ns, self.st_ctime_ns % ns,
        )

    @property
    def file_type(self) -> int:
        return self.st_mode & S_IFMT


STAT_SIZE = _STAT_STRUCT.size
assert STAT_SIZE == 144
