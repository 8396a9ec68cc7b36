"""nsfs: what /proc/PID/ns/<name> opens to (Linux: fs/nsfs.c). The inode carries the kernel's
namespace reference (systems/namespaces.NamespaceFile, opaque here) and the namespace's inode
number, so fstat of two links to one namespace agree; setns(2) takes the open description.
"""
from __future__ import annotations

import time

from ecs_kernel.abi import S_IFREG
from ecs_kernel.checkpoint_objects import state_class, state_global
from ecs_kernel.fs.file import FileDescription
from ecs_kernel.fs.inodes import Inode, SuperBlock
from ecs_kernel.fs.stat import makedev


@state_class
class NsInode(Inode):
    """One namespace as a file."""

    ftype = S_IFREG

    __state__ = {"ns": "@NamespaceFile"}

    def __init__(self, ns, ino: int):
        super().__init__(_nsfs, 0o444)
        self.ns = ns
        self.ino = ino

    def open_description(self, flags: int, path: str):
        return NsfsFile(self, flags, path)


@state_class
class NsfsFile(FileDescription):
    """An open namespace file (for setns)."""

    rw_ops = (False, False)

    seekable = False

    __state__ = {"ns": "@NamespaceFile"}

    def __init__(self, inode: NsInode, flags: int, path: str = ""):
        super().__init__(inode, flags, path)
        self.ns = inode.ns


_nsfs = SuperBlock("nsfs", makedev(0, 4), time.time_ns)
state_global("nsfs._nsfs", _nsfs)

__all__ = ["NsInode", "NsfsFile"]
