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
from ..fs.file import FileMapping, PathDescription
from ..fs.memfd import WRITE_SEALS, MemfdInode
from ..fs.inodes import MAY_WRITE, RegularFile, permitted
from ..components import rlimits
from ..jit.pagewalk import VM_LOCKED, VM_LOCKONFAULT
from ..systems import fd_table, ipc_shm, task_identity
from .context import s32, u32
from .registry import FULL, syscall


@syscall("brk", FULL, args=("p",), ret="x")
def brk(t, addr):
    """Implements brk(2): the new break, or the old one when it cannot move."""
    return t.mm.brk(addr)


@syscall("mmap", FULL, "MAP_SHARED of an in-memory file maps its page cache (coherent with "
         "write and other mappings); a host file mapped shared read-only is a copy; SIGBUS past EOF",
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
        if isinstance(desc, PathDescription):
            raise KernelError(E.EBADF, "an O_PATH descriptor")
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
        elif not desc.can_read:
            raise KernelError(E.EACCES, "not open for reading")  # do_mmap checks it first
        else:
            raise KernelError(E.ENODEV)
    if flags & abi.MAP_LOCKED or t.mm.def_flags & VM_LOCKED:
        _check_future_lock(t, flags, length)
    # MAP_FIXED unmaps what was there first: a System V shm attach among it is detached
    over = _shm_in(t, addr, length) if flags & abi.MAP_FIXED else []
    ret = t.mm.mmap(addr, length, _read_implies_exec(t, prot), flags, file, offset)
    ipc_shm.closed(t.world, t.row, over)
    return ret


def _shm_in(t, addr: int, length: int) -> list:
    """The System V shm segments attached in ``[addr, addr + length)`` (page-rounded), which an
    unmap of that range detaches (Linux's shm_close of each closed VMA)."""
    return ipc_shm.attached_in(t.mm, addr, addr + ((length + ~PAGE_MASK) & PAGE_MASK))


def _read_implies_exec(t, prot: int) -> int:
    """personality's READ_IMPLIES_EXEC: a readable mapping is executable too (no mount here is
    noexec)."""
    if prot & abi.PROT_READ and t.world.tasks.personality[t.row] & abi.READ_IMPLIES_EXEC:
        return prot | abi.PROT_EXEC
    return prot


MREMAP_FLAGS = abi.MREMAP_MAYMOVE | abi.MREMAP_FIXED | abi.MREMAP_DONTUNMAP


def _check_future_lock(t, flags: int, length: int) -> None:
    """do_mmap's locking checks: MAP_LOCKED needs can_do_mlock (EPERM), and memory locked at
    map time (MAP_LOCKED, mlockall's MCL_FUTURE) must fit RLIMIT_MEMLOCK (mlock_future_ok:
    EAGAIN)."""
    limit = _memlock_limit(t, refuse=bool(flags & abi.MAP_LOCKED))
    if limit is not None and t.mm.locked_bytes() + ((length + ~PAGE_MASK) & PAGE_MASK) > limit:
        raise KernelError(E.EAGAIN, "RLIMIT_MEMLOCK")


@syscall("munmap", FULL, args=("p", "u"))
def munmap(t, addr, length):
    """Implements munmap(2). A System V shared memory attach it unmaps, whole or in part, is
    a detach for shmctl's shm_dtime and shm_lpid (Linux's shm_close of the VMA)."""
    segs = _shm_in(t, addr, length)
    ret = t.mm.munmap(addr, length)
    ipc_shm.closed(t.world, t.row, segs)
    return ret


@syscall("mprotect", FULL, args=("p", "u", "prot"))
def mprotect(t, addr, length, prot):
    """Implements mprotect(2)."""
    return t.mm.mprotect(addr, length, _read_implies_exec(t, u32(prot)))


@syscall("mremap", FULL, args=("p", "u", "u", "mremapflags", "newaddr"), ret="x")
def mremap(t, addr, old_len, new_len, flags, new_addr):
    """Implements mremap(2)."""
    flags = u32(flags)
    grow = ((new_len + ~PAGE_MASK) & PAGE_MASK) - ((old_len + ~PAGE_MASK) & PAGE_MASK)
    if grow > 0 and not addr & ~PAGE_MASK and not flags & ~MREMAP_FLAGS:
        v = t.mm.vma_at(addr)
        if v is not None and v.flags & VM_LOCKED:  # vma_to_resize: mlock_future_ok
            limit = _memlock_limit(t, refuse=False)
            if limit is not None and t.mm.locked_bytes() + grow > limit:
                raise KernelError(E.EAGAIN, "RLIMIT_MEMLOCK")
    # what mremap unmaps (a shrunk tail, MREMAP_FIXED's target) detaches a shm attach there
    gone = _shm_in(t, addr + new_len, old_len - new_len) if new_len < old_len else []
    if flags & abi.MREMAP_FIXED:
        gone += _shm_in(t, new_addr, new_len)
    new = t.mm.mremap(addr, old_len, new_len, flags, new_addr)
    ipc_shm.closed(t.world, t.row, gone)
    v = t.mm.vma_at(new) if grow > 0 else None
    if v is not None and v.flags & (VM_LOCKED | VM_LOCKONFAULT) == VM_LOCKED:
        t.mm.mlock_range(new, new + ((new_len + ~PAGE_MASK) & PAGE_MASK), VM_LOCKED)  # populate
    return new


@syscall("madvise", FULL, "MADV_DONTNEED zeroes; paging advice is accepted and ignored",
         args=("p", "u", "madv"))
def madvise(t, addr, length, advice):
    """Implements madvise(2)."""
    return t.mm.madvise(addr, length, s32(advice))


@syscall("msync", FULL, args=("p", "u", "msflags"))
def msync(t, addr, length, flags):
    """Implements msync(2)."""
    return t.mm.msync(addr, length, u32(flags))


@syscall("mincore", FULL, "residency from the host's page tables for the guest's memory, which "
         "is host memory", args=("p", "u", "p"))
def mincore(t, addr, length, vec):
    """Implements mincore(2)."""
    creds = t.creds()

    def owns(mapping) -> bool:  # can_do_mincore: the owner, or one who may write the file
        inode = getattr(mapping, "inode", None)
        if inode is None:
            return True
        return (inode.owner()[1] == creds.uid or creds.capable(abi.CAP_FOWNER)
                or permitted(inode, creds, MAY_WRITE))

    t.mm.copy_out(vec, t.mm.mincore(addr, length, owns))
    return 0


def _lock_range(addr: int, length: int) -> tuple[int, int]:
    """mlock's range: the pages ``[addr, addr + length)`` touches; EINVAL if it wraps."""
    start = addr & PAGE_MASK
    end = (addr + length + ~PAGE_MASK) & PAGE_MASK
    if addr + length >= 1 << 64 or end >= 1 << 64:
        raise KernelError(E.EINVAL)
    return start, end


def _memlock_limit(t, refuse: bool = True) -> int | None:
    """RLIMIT_MEMLOCK's soft limit in bytes (RLIM_INFINITY: None), or None when the caller may
    lock without limit (CAP_IPC_LOCK). With ``refuse``, EPERM when it may not lock at all
    (can_do_mlock: the limit is 0)."""
    if task_identity.capable(t.world, t.row, abi.CAP_IPC_LOCK):
        return None
    cur = rlimits.get(t.world, int(t.world.tasks.tg[t.row]), abi.RLIMIT_MEMLOCK)[0]
    if cur == 0 and refuse:
        raise KernelError(E.EPERM)
    return None if cur == abi.RLIM_INFINITY else cur


def _do_mlock(t, addr: int, length: int, flags: int) -> int:
    start, end = _lock_range(addr, length)
    limit = _memlock_limit(t)
    if limit is not None:
        # what stays locked afterwards: the range, and every lock outside it
        if t.mm.locked_bytes() - t.mm.locked_bytes(start, end) + (end - start) > limit:
            raise KernelError(E.ENOMEM, "RLIMIT_MEMLOCK")
    if not t.mm.mlock_range(start, end, flags):
        raise KernelError(E.ENOMEM, "a page could not be faulted in")  # PROT_NONE
    return 0


@syscall("mlock", FULL, "locks are kept (VmLck, RLIMIT_MEMLOCK); nothing is ever swapped",
         args=("p", "u"))
def mlock(t, addr, length):
    """Implements mlock(2)."""
    return _do_mlock(t, addr, length, VM_LOCKED)


@syscall("mlock2", FULL, "as mlock; MLOCK_ONFAULT locks pages as they are touched",
         args=("p", "u", "x"))
def mlock2(t, addr, length, flags):
    """Implements mlock2(2)."""
    flags = u32(flags)
    if flags & ~abi.MLOCK_ONFAULT:
        raise KernelError(E.EINVAL)
    return _do_mlock(t, addr, length,
                     VM_LOCKED | (VM_LOCKONFAULT if flags & abi.MLOCK_ONFAULT else 0))


@syscall("munlock", FULL, args=("p", "u"))
def munlock(t, addr, length):
    """Implements munlock(2)."""
    start, end = _lock_range(addr, length)
    t.mm.mlock_range(start, end, 0)
    return 0


@syscall("mlockall", FULL, "locks are kept (VmLck, RLIMIT_MEMLOCK); MCL_FUTURE locks later "
         "mmap and brk memory", args=("x",))
def mlockall(t, flags):
    """Implements mlockall(2)."""
    flags = u32(flags)
    if not flags or flags & ~(abi.MCL_CURRENT | abi.MCL_FUTURE | abi.MCL_ONFAULT) \
            or flags == abi.MCL_ONFAULT:
        raise KernelError(E.EINVAL)
    limit = _memlock_limit(t)
    lock = VM_LOCKED | (VM_LOCKONFAULT if flags & abi.MCL_ONFAULT else 0)
    mm = t.mm
    if flags & abi.MCL_CURRENT and limit is not None and mm.mapped_bytes()[0] > limit:
        raise KernelError(E.ENOMEM, "RLIMIT_MEMLOCK")
    mm.def_flags = lock if flags & abi.MCL_FUTURE else 0
    if flags & abi.MCL_CURRENT:
        mm.mlock_all(lock, current=True)
    return 0


@syscall("munlockall", FULL)
def munlockall(t):
    """Implements munlockall(2)."""
    t.mm.def_flags = 0
    t.mm.mlock_all(0, current=True)
    return 0
