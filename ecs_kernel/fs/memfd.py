"""memfd files and their seals (Linux: mm/memfd.c, the seal checks of mm/shmem.c; gVisor:
``fsimpl/tmpfs`` seals).

A memfd is an unlinked tmpfs regular file whose inode carries ``seals`` (F_SEAL_*): F_SEAL_SEAL
forbids more seals, F_SEAL_SHRINK and F_SEAL_GROW forbid truncates (and writes past the end) that
would change the size that way, F_SEAL_WRITE and F_SEAL_FUTURE_WRITE forbid write(2) and new
shared writable mappings (an existing shared writable mapping keeps F_SEAL_WRITE from being
added: EBUSY, which the mmap side checks), F_SEAL_EXEC freezes the exec bits. A memfd made without
MFD_ALLOW_SEALING starts with F_SEAL_SEAL.
"""
from __future__ import annotations

from ..abi import (F_SEAL_EXEC, F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK,
                   F_SEAL_WRITE, O_APPEND)
from ..checkpoint_objects import state_class
from ..errors import E, KernelError
from .file import RegularFileDescription
from .inodes import RegularFile

ALL_SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC
WRITE_SEALS = F_SEAL_WRITE | F_SEAL_FUTURE_WRITE


@state_class
class MemfdInode(RegularFile):
    """The inode of a memfd: a memory file with seals."""

    __state__ = {"seals": "int"}

    def __init__(self, sb, mode: int, seals: int):
        super().__init__(sb, mode)
        self.nlink = 0
        self.seals = seals

    def check_size(self, new_size: int) -> None:
        """EPERM if the seals forbid the file's size becoming ``new_size`` (shmem_setattr)."""
        if new_size < self.size and self.seals & F_SEAL_SHRINK:
            raise KernelError(E.EPERM, "F_SEAL_SHRINK")
        if new_size > self.size and self.seals & F_SEAL_GROW:
            raise KernelError(E.EPERM, "F_SEAL_GROW")

    def add_seals(self, seals: int, writably_mapped: bool) -> None:
        """F_ADD_SEALS (memfd_add_seals): EINVAL for unknown bits, EPERM once sealed, EBUSY for
        F_SEAL_WRITE while a shared writable mapping exists."""
        if seals & ~ALL_SEALS:
            raise KernelError(E.EINVAL, "unknown seals")
        if self.seals & F_SEAL_SEAL:
            raise KernelError(E.EPERM, "F_SEAL_SEAL")
        if seals & F_SEAL_WRITE and not self.seals & F_SEAL_WRITE and writably_mapped:
            raise KernelError(E.EBUSY, "a shared writable mapping exists")
        self.seals |= seals

    def open_description(self, flags: int, path: str):
        return MemfdDescription(self, flags, path)


@state_class
class MemfdDescription(RegularFileDescription):
    """An open memfd: writes and truncates checked against its inode's seals."""

    __state__ = {}

    def _check_write(self, offset: int, n: int) -> None:
        seals = self.inode.seals
        if seals & WRITE_SEALS:
            raise KernelError(E.EPERM, "the memfd is sealed against writes")
        if seals & F_SEAL_GROW and offset + n > self.inode.size:
            raise KernelError(E.EPERM, "F_SEAL_GROW")

    def _write(self, data: bytes) -> int:
        if data:
            self._check_write(self.inode.size if self.flags & O_APPEND else self.offset, len(data))
        return super()._write(data)

    def _pwrite(self, data: bytes, offset: int) -> int:
        if data:
            self._check_write(self.inode.size if self.flags & O_APPEND else offset, len(data))
        return super()._pwrite(data, offset)

    def truncate(self, length: int) -> None:
        self._need_open()
        if not self.can_write:
            raise KernelError(E.EINVAL, "not open for writing")
        self.inode.check_size(length)
        super().truncate(length)
