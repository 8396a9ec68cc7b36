"""Linux x86-64 ABI numbers the file layer speaks: open flags, file types, seek, ioctl, stat layout.

The values are Linux's (x86-64), written out rather than taken from Python's ``os`` module, so the
emulated kernel answers the same on any host.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

# open(2) flags (asm-generic/fcntl.h, x86-64).
O_ACCMODE = 0o3
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_CREAT = 0o100
O_EXCL = 0o200
O_NOCTTY = 0o400
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_NONBLOCK = 0o4000
O_DSYNC = 0o10000
O_ASYNC = 0o20000  # FASYNC
O_DIRECT = 0o40000
O_LARGEFILE = 0o100000
O_DIRECTORY = 0o200000
O_NOFOLLOW = 0o400000
O_NOATIME = 0o1000000
O_CLOEXEC = 0o2000000
O_SYNC = 0o4010000
O_PATH = 0o10000000
O_TMPFILE = 0o20000000 | O_DIRECTORY

# Flags that only matter while opening; Linux clears them from f_flags (do_dentry_open).
OPEN_ONLY_FLAGS = O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC
# Flags fcntl(F_SETFL) may change (fs/fcntl.c SETFL_MASK).
SETFL_MASK = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME

# *at flags.
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_EACCESS = 0x200
AT_EMPTY_PATH = 0x1000

# renameat2(2) flags.
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RENAME_WHITEOUT = 4

# access(2) modes.
F_OK = 0
X_OK = 1
W_OK = 2
R_OK = 4

# lseek(2) whence.
SEEK_SET = 0
SEEK_CUR = 1
SEEK_END = 2
SEEK_DATA = 3
SEEK_HOLE = 4

# File type bits (stat.h).
S_IFMT = 0o170000
S_IFSOCK = 0o140000
S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFBLK = 0o060000
S_IFDIR = 0o040000
S_IFCHR = 0o020000
S_IFIFO = 0o010000
S_ISUID = 0o4000
S_ISGID = 0o2000
S_ISVTX = 0o1000
S_IXGRP = 0o0010
S_IXUGO = 0o0111

# getdents64 d_type values.
DT_UNKNOWN = 0
DT_FIFO = 1
DT_CHR = 2
DT_DIR = 4
DT_BLK = 6
DT_REG = 8
DT_LNK = 10
DT_SOCK = 12


def dtype_of(mode: int) -> int:
    """The d_type for a full st_mode (Linux: fs_umode_to_dtype)."""
    return (mode & S_IFMT) >> 12


# Limits.
PATH_MAX = 4096  # including the terminating NUL: a path of 4096 bytes is ENAMETOOLONG
NAME_MAX = 255
MAXSYMLINKS = 40
PIPE_BUF = 4096
PAGE_SIZE = 4096
MAX_LFS_FILESIZE = (1 << 63) - 1

# ioctl requests (asm-generic/ioctls.h).
TCGETS = 0x5401
TCSETS = 0x5402
TCSETSW = 0x5403
TCSETSF = 0x5404
TIOCGPGRP = 0x540F
TIOCSPGRP = 0x5410
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414
FIONREAD = 0x541B
FIONBIO = 0x5421
FIOCLEX = 0x5451
FIONCLEX = 0x5450

# poll(2) event bits.
POLLIN = 0x001
POLLPRI = 0x002
POLLOUT = 0x004
POLLERR = 0x008
POLLHUP = 0x010
POLLNVAL = 0x020
POLLRDNORM = 0x040
POLLRDBAND = 0x080
POLLWRNORM = 0x100
DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM  # files without a poll method

# fcntl pipe sizing.
F_SETPIPE_SZ = 1031
F_GETPIPE_SZ = 1032


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
