"""The /dev the guest sees: null, zero, full, random/urandom, tty, and the stdio symlinks.

/dev is an in-memory directory (devtmpfs-like: the guest may create files there, in memory).
/dev/urandom and /dev/random read from ``urandom(n) -> bytes``, which the kernel passes in so a
deterministic run can seed it; the default is ``os.urandom``. /dev/tty gives ENXIO, as on Linux for a
process without a controlling terminal; the guest's stdio are host fds the kernel installs as 0-2
(:class:`ecs_kernel.fs.stdio.HostStdioFile`).

A device node mknod(2) makes anywhere (:class:`DeviceNode`) names a device by type and number;
opening it reaches the device of that number this kernel models (one of /dev's, which
:func:`devices_of` lists for the FileSystem), and gives ENXIO for any other, as chrdev_open does
for a number no driver registered.
"""
from __future__ import annotations

import os
from typing import Callable

from ecs_kernel.abi import S_IFBLK, S_IFCHR
from ecs_kernel.checkpoint_objects import state_class
from ecs_kernel.errors import E, KernelError
from ecs_kernel.fs.stat import makedev
from ecs_kernel.fs.file import FileDescription
from ecs_kernel.fs.inodes import Directory, Inode, SuperBlock, Symlink


@state_class
class CharDevice(Inode):
    """A character device node; subclasses say what read and write do."""

    ftype = S_IFCHR
    major = minor = 0
    splice_read = True  # sendfile may read it (copy_splice_read)

    __state__ = {}

    def __init__(self, sb: SuperBlock, mode: int = 0o666):
        super().__init__(sb, mode, 0, 0, makedev(self.major, self.minor))

    def dev_read(self, n: int) -> bytes:
        return b""

    def dev_write(self, data: bytes) -> int:
        return len(data)

    def open_description(self, flags: int, path: str):
        return DeviceDescription(self, flags, path)

    def open_node(self, node: Inode, flags: int, path: str):
        """Open this device through another node of its number (mknod's :class:`DeviceNode`):
        the description shows that node's inode and reads and writes this device."""
        return DeviceDescription(node, flags, path, self)


@state_class
class DeviceNode(Inode):
    """A character or block device node mknod(2) made: its type and number (``rdev``); the
    FileSystem opens it on the device of that number (:meth:`CharDevice.open_node`), ENXIO when
    there is none."""

    __state__ = {}

    def __init__(self, sb: SuperBlock, ftype: int, mode: int, uid: int, gid: int, rdev: int):
        if ftype not in (S_IFCHR, S_IFBLK):
            raise ValueError("a device node is S_IFCHR or S_IFBLK")
        self.ftype = ftype
        super().__init__(sb, mode, uid, gid, rdev)

    def open_description(self, flags: int, path: str):
        raise KernelError(E.ENXIO, "no device of this number")


@state_class
class NullDevice(CharDevice):
    """/dev/null: reads EOF, swallows writes."""

    major, minor = 1, 3
    splice_read = False  # null_fops: splice_write only


@state_class
class ZeroDevice(CharDevice):
    """/dev/zero: reads zeros, swallows writes."""

    major, minor = 1, 5

    def dev_read(self, n: int) -> bytes:
        return bytes(n)


@state_class
class FullDevice(CharDevice):
    """/dev/full: reads zeros, writes fail with ENOSPC."""

    major, minor = 1, 7

    def dev_read(self, n: int) -> bytes:
        return bytes(n)

    def dev_write(self, data: bytes) -> int:
        if not data:
            return 0
        raise KernelError(E.ENOSPC, "/dev/full")


@state_class
class RandomDevice(CharDevice):
    """/dev/urandom (and /dev/random, which never blocks since Linux 5.6)."""

    major, minor = 1, 9

    __state__ = {"minor": "int", "urandom": "fn"}

    def __init__(self, sb: SuperBlock, urandom: Callable[[int], bytes], minor: int = 9):
        self.minor = minor
        super().__init__(sb)
        self.urandom = urandom

    def dev_read(self, n: int) -> bytes:
        return bytes(self.urandom(n)) if n > 0 else b""


@state_class
class TtyDevice(CharDevice):
    """/dev/tty: the caller's controlling terminal (the provider's ``controlling_terminal``);
    ENXIO for a process without one."""

    major, minor = 5, 0

    __state__ = {"provider": "ctx:proc"}

    def __init__(self, sb: SuperBlock, provider=None):
        super().__init__(sb)
        self.provider = provider

    def open_description(self, flags: int, path: str):
        if self.provider is None:
            raise KernelError(E.ENXIO, "no controlling terminal")
        return self.provider.controlling_terminal(flags, path)

    def open_node(self, node: Inode, flags: int, path: str):
        return self.open_description(flags, path)


@state_class
class DeviceDescription(FileDescription):
    """An open character device: offsets are ignored; lseek always lands on 0 (null_lseek).
    ``device`` is what reads and writes (the inode itself, unless opened through a mknod node)."""

    __state__ = {"device": "~@CharDevice"}

    def __init__(self, inode, flags: int, path: str = "", device: "CharDevice | None" = None):
        super().__init__(inode, flags, path)
        if device is not None:
            self.device = device

    @property
    def _dev(self):
        return self.__dict__.get("device", self.inode)

    def can_splice(self, write: bool) -> bool:
        return write or self._dev.splice_read

    def _read(self, n: int) -> bytes:
        return self._dev.dev_read(n)

    def _write(self, data: bytes) -> int:
        return self._dev.dev_write(data)

    def _pread(self, n: int, offset: int) -> bytes:
        return self._dev.dev_read(n)

    def _pwrite(self, data: bytes, offset: int) -> int:
        return self._dev.dev_write(data)

    def lseek(self, offset: int, whence: int) -> int:
        self._need_open()
        self.offset = 0
        return 0

    def truncate(self, length: int) -> None:
        self._need_open()
        raise KernelError(E.EINVAL, "cannot truncate a device")


def make_dev_dir(sb: SuperBlock, urandom: Callable[[int], bytes] | None = None,
                 provider=None) -> Directory:
    """A fresh /dev: device nodes, stdio symlinks into /proc/self/fd, and an empty /dev/shm.
    ``provider`` (the /proc provider) opens /dev/tty."""
    urandom = urandom or os.urandom
    dev = Directory(sb, 0o755)
    nodes = {
        "null": NullDevice(sb),
        "zero": ZeroDevice(sb),
        "full": FullDevice(sb),
        "random": RandomDevice(sb, urandom, minor=8),
        "urandom": RandomDevice(sb, urandom, minor=9),
        "tty": TtyDevice(sb, provider),
    }
    for name, node in nodes.items():
        dev.add(name, node)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        dev.add(name, Symlink(sb, target))
    shm = Directory(sb, 0o1777)
    dev.add("shm", shm)
    dev.nlink += 1
    return dev


def devices_of(dev: Directory) -> dict[int, CharDevice]:
    """The devices a /dev made by :func:`make_dev_dir` holds, by number (st_rdev)."""
    return {node.rdev: node for node in dev.entries.values() if isinstance(node, CharDevice)}
