"""Memory syscalls: brk, mmap, munmap, mprotect, mremap, madvise, msync, mincore, mlock family.

gVisor: ``sys_mmap.go``. The semantics (and Linux's errnos, in Linux's order) live in
:class:`ecs_kernel.cpu.memory.AddressSpace`, the task's ``t.mm``; these handlers decode registers
and find the file behind an fd.
"""
from __future__ import annotations


from ..abi import MAP_ANONYMOUS, MAP_SHARED, MAP_TYPE, PAGE_MASK
from ..errors import E, KernelError
from ..fs.devices import ZeroDevice
from .. import abi
from ..fs.file import FileMapping
from ..fs.memfd import WRITE_SEALS, MemfdInode
from ..fs.inodes import RegularFile
from ..systems import fd_table
from .context import s32, u32
from .registry import FULL, PARTIAL, syscall


@syscall("brk", FULL, args=("p",), ret="x")
def brk(t, addr):
    """Implements brk(2): the new break, or the old one when it cannot move."""
    return t.mm.brk(addr)


@syscall("mmap", FULL, "file mappings are copies: MAP_SHARED writes reach the file at msync/munmap",
         args=("p", "u", "prot", "mapflags", "fd", "x"), ret="x")
def mmap(t, addr, length, prot, flags, fd, offset):
    """Implements mmap(2)."""
    flags = u32(flags)
    prot = u32(prot)
    if offset & ~PAGE_MASK & 0xFFFF_FFFF_FFFF_FFFF:
        raise KernelError(E.EINVAL)
    file = None
    if not flags & MAP_ANONYMOUS:
        desc = fd_table.get_file(t.world, t.row, s32(fd))
        inode = desc.inode
        if isinstance(inode, RegularFile):
            file = FileMapping(desc)
            if isinstance(inode, MemfdInode) and inode.seals & WRITE_SEALS \
                    and (flags & MAP_TYPE) != abi.MAP_PRIVATE:
                if prot & abi.PROT_WRITE:
                    raise KernelError(E.EPERM, "the memfd is sealed against writes")
                file.writable = False  # seal_check_write: the mapping may not become writable
        elif isinstance(inode, ZeroDevice):
            if (flags & MAP_TYPE) != MAP_SHARED:
                flags |= MAP_ANONYMOUS
            else:
                flags |= MAP_ANONYMOUS
        else:
            raise KernelError(E.ENODEV)
    return t.mm.mmap(addr, length, prot, flags, file, offset)


@syscall("munmap", FULL, args=("p", "u"))
def munmap(t, addr, length):
    """Implements munmap(2)."""
    return t.mm.munmap(addr, length)


@syscall("mprotect", FULL, args=("p", "u", "prot"))
def mprotect(t, addr, length, prot):
    """Implements mprotect(2)."""
    return t.mm.mprotect(addr, length, u32(prot))


@syscall("mremap", FULL, args=("p", "u", "u", "mremapflags", "newaddr"), ret="x")
def mremap(t, addr, old_len, new_len, flags, new_addr):
    """Implements mremap(2)."""
    return t.mm.mremap(addr, old_len, new_len, u32(flags), new_addr)


@syscall("madvise", FULL, "MADV_DONTNEED zeroes; paging advice is accepted and ignored",
         args=("p", "u", "madv"))
def madvise(t, addr, length, advice):
    """Implements madvise(2)."""
    return t.mm.madvise(addr, length, s32(advice))


@syscall("msync", FULL, args=("p", "u", "msflags"))
def msync(t, addr, length, flags):
    """Implements msync(2)."""
    return t.mm.msync(addr, length, u32(flags))


@syscall("mincore", PARTIAL, "every mapped page is reported resident", args=("p", "u", "p"))
def mincore(t, addr, length, vec):
    """Implements mincore(2)."""
    t.mm.copy_out(vec, t.mm.mincore(addr, length))
    return 0


def _lock(name):
    def handler(t, addr, length, *rest):
        return 0
    handler.__name__ = name
    handler.__doc__ = f"Implements {name}(2): memory is never paged out, so locking is a no-op."
    return handler


syscall("mlock", FULL, "nothing is ever swapped", args=("x", "u"))(_lock("mlock"))
syscall("munlock", FULL, "nothing is ever swapped", args=("x", "u"))(_lock("munlock"))
syscall("mlock2", FULL, "nothing is ever swapped", args=("x", "u", "x"))(_lock("mlock2"))


@syscall("mlockall", FULL, "nothing is ever swapped", args=("x",))
def mlockall(t, flags):
    """Implements mlockall(2)."""
    if not u32(flags) or u32(flags) & ~7:
        raise KernelError(E.EINVAL)
    return 0


@syscall("munlockall", FULL, "nothing is ever swapped")
def munlockall(t):
    """Implements munlockall(2)."""
    return 0
