"""System V shared memory: shmget, shmat, shmdt, shmctl.

gVisor: kernel/shm/shm.go; Linux: ipc/shm.c (newseg, do_shmat, ksys_shmdt, shmctl_stat,
shmctl_ipc_info, shmctl_shm_info, shm_destroy).

A segment is a :class:`ShmSegment` (an ``IPCObject``) whose pages are one shared host buffer
(cpu/memory.py's HostBuffer, made at the first attach): every attach maps that buffer, so every
process that attached sees every write at once, and fork keeps attachments (MAP_SHARED memory
stays shared). The segment is also the "file" of the mappings (``/SYSV<key> (deleted)`` in
/proc/PID/maps, inode = the id), which is how shmdt finds them and how ``shm_nattch`` is counted:
the mappings of the segment in every address space (Linux counts its VMAs as they open and
close). IPC_RMID of an attached segment marks it SHM_DEST (its key goes); it is destroyed once no
mapping is left, found when a later shm call looks (:func:`reap`).

The address spaces are handed in (``mm``: the caller's cpu/memory.AddressSpace); this module
reaches every address space through ``world.index.address_spaces`` (their ``aspace``).
"""
from __future__ import annotations

from ..abi import (IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, PAGE_SIZE, PROT_EXEC, PROT_READ,
                   PROT_WRITE, SHM_DEST, SHM_EXEC, SHM_INFO, SHM_LOCK, SHM_LOCKED, SHM_RDONLY,
                   SHM_REMAP, SHM_RND, SHM_STAT, SHM_STAT_ANY, SHM_UNLOCK, SHMLBA, SHMMIN,
                   SHMMNI, CAP_IPC_LOCK)
from ..checkpoint_objects import state_class
from ..errors import E, KernelError
from . import ipc, task_identity


@state_class
class ShmSegment(ipc.IPCObject):
    """shmid_kernel: size, pages (``buf``), creator and last operator pids, times."""

    __state__ = {"size": "int", "buf": "?@HostBuffer", "cpid": "int", "lpid": "int",
                 "atime": "int", "dtime": "int", "ctime": "int"}

    def __init__(self, key: int, uid: int, gid: int, mode: int, size: int, cpid: int, now: int):
        super().__init__(key, uid, gid, mode)
        self.size = size
        self.buf = None
        self.cpid = cpid
        self.lpid = 0
        self.atime = self.dtime = 0
        self.ctime = now

    # what /proc/PID/maps shows of an attach (cpu/memory.py reads these of a mapping's file)
    @property
    def path(self) -> str:
        return f"/SYSV{self.key & 0xFFFFFFFF:08x} (deleted)"

    @property
    def dev(self) -> tuple[int, int]:
        return (0, 1)

    @property
    def ino(self) -> int:
        return self.id

    @property
    def pages(self) -> int:
        return (self.size + PAGE_SIZE - 1) // PAGE_SIZE


def _address_spaces(world):
    for gm in list(world.index.address_spaces.values()):
        a = getattr(gm, "aspace", None)
        if a is not None:
            yield a


def nattch(world, seg: ShmSegment) -> int:
    """The segment's attaches: its mappings in every address space."""
    return sum(1 for a in _address_spaces(world) for v in a.vmas() if v.file is seg)


def _destroy(ns, seg: ShmSegment) -> None:
    """shm_destroy: the segment and its pages go (mappings gone, the buffer is dropped)."""
    ns.shm_tot -= seg.pages
    ns.shm.remove(seg)
    seg.buf = None


def reap(world, ns) -> None:
    """Destroy the segments marked SHM_DEST that nothing maps any more."""
    for seg in [s for s in ns.shm.objects.values() if s.mode & SHM_DEST]:
        if nattch(world, seg) == 0:
            _destroy(ns, seg)


def shmget(world, t: int, key: int, size: int, shmflg: int) -> int:
    """Implements shmget(2)."""
    ns = ipc.namespace_of(world, t)
    reap(world, ns)

    def create() -> int:
        # newseg
        numpages = (size + PAGE_SIZE - 1) // PAGE_SIZE
        if size < SHMMIN or size > ns.shm_ctlmax:
            raise KernelError(E.EINVAL, "bad segment size")
        if numpages << 12 < size:
            raise KernelError(E.ENOSPC, "size overflows")
        if ns.shm_tot + numpages < ns.shm_tot or ns.shm_tot + numpages > ns.shm_ctlall:
            raise KernelError(E.ENOSPC, "SHMALL reached")
        uid, gid = ipc.creds_of(world, t)
        seg = ShmSegment(key, uid, gid, shmflg, size, ipc.tgid_of(world, t), ipc.now_seconds(world))
        ident = ns.shm.add(seg, ns.shm_ctlmni)
        ns.shm_tot += numpages
        return ident

    def check(seg: ShmSegment) -> None:
        # shm_more_checks
        if seg.size < size:
            raise KernelError(E.EINVAL, "segment smaller than asked")

    return ipc.ipcget(world, t, ns.shm, key, shmflg, create, check)


def shmat(world, t: int, mm, shmid: int, addr: int, shmflg: int) -> int:
    """do_shmat: attach the segment at ``addr`` (0: where the kernel chooses) in ``mm``."""
    ns = ipc.namespace_of(world, t)
    if shmid < 0:
        raise KernelError(E.EINVAL, "negative shmid")
    if addr:
        if addr & (SHMLBA - 1):
            if shmflg & SHM_RND:
                addr &= ~(SHMLBA - 1)
                if not addr and shmflg & SHM_REMAP:
                    raise KernelError(E.EINVAL, "SHM_RND to 0 with SHM_REMAP")
            else:
                raise KernelError(E.EINVAL, "unaligned address")
    elif shmflg & SHM_REMAP:
        raise KernelError(E.EINVAL, "SHM_REMAP without an address")
    if shmflg & SHM_RDONLY:
        prot, acc = PROT_READ, ipc.S_IRUGO
    else:
        prot, acc = PROT_READ | PROT_WRITE, ipc.S_IRUGO | ipc.S_IWUGO
    if shmflg & SHM_EXEC:
        prot |= PROT_EXEC
        acc |= 0o111
    seg = ns.shm.find(shmid)
    if not ipc.ipcperms(world, t, seg, acc):
        raise KernelError(E.EACCES, "permission denied")
    if addr and addr + seg.size < addr:
        raise KernelError(E.EINVAL, "address overflows")
    # SHM_REMAP maps over what is there: an attach among it is detached (shm_close)
    over = attached_in(mm, addr, addr + seg.size) if shmflg & SHM_REMAP else []
    at = mm.attach_shared(addr, prot, seg, fixed=bool(addr), replace=bool(shmflg & SHM_REMAP))
    closed(world, t, over)
    seg.atime = ipc.now_seconds(world)
    seg.lpid = ipc.tgid_of(world, t)
    return at


def shmdt(world, t: int, mm, addr: int) -> int:
    """ksys_shmdt: unmap the attach that starts at ``addr`` and its fragments within the
    segment's size. EINVAL when none starts there."""
    if addr & (PAGE_SIZE - 1):
        raise KernelError(E.EINVAL, "unaligned address")
    found = None
    size = 0
    vmas = [v for v in mm.vmas() if v.end > addr]
    rest = vmas
    for i, v in enumerate(vmas):
        if isinstance(v.file, ShmSegment) and v.start >= addr \
                and (v.start - addr) // PAGE_SIZE == v.offset // PAGE_SIZE:
            found = v.file
            size = found.size
            mm.munmap(v.start, v.end - v.start)
            rest = vmas[i + 1:]
            break
    if found is None:
        raise KernelError(E.EINVAL, "no segment attached there")
    size = (size + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE
    for v in rest:
        if v.end - addr > size:
            break
        if v.file is found and (v.start - addr) // PAGE_SIZE == v.offset // PAGE_SIZE:
            mm.munmap(v.start, v.end - v.start)
    found.dtime = ipc.now_seconds(world)
    found.lpid = ipc.tgid_of(world, t)
    ns = ipc.namespace_of(world, t)
    if found.mode & SHM_DEST and nattch(world, found) == 0 and ns.shm.objects.get(found.index) is found:
        _destroy(ns, found)
    return 0


def attached_in(mm, start: int, end: int) -> list:
    """The segments attached in ``[start, end)`` of address space ``mm`` (an unmap of the range
    detaches them)."""
    return [f for f in mm.files_in(start, end) if isinstance(f, ShmSegment)]


def closed(world, t: int, segs) -> None:
    """shm_close for attaches of ``segs`` that task ``t`` unmapped (munmap): the segment's
    shm_dtime and shm_lpid are the detach's, as shmdt's."""
    for seg in segs:
        seg.dtime = ipc.now_seconds(world)
        seg.lpid = ipc.tgid_of(world, t)


def exit_mm(world, t: int, mm: int) -> None:
    """Task ``t`` drops the last reference to address space ``mm`` (exit, exec: exit_mmap):
    every attach in it closes, as :func:`closed`."""
    if world.index.ipc is None:
        return  # no IPC object was ever made: nothing of ours is mapped
    a = getattr(world.index.address_spaces.get(mm), "aspace", None)
    if a is not None:
        closed(world, t, attached_in(a, 0, a.task_size))


def shminfo(world, t: int) -> tuple[tuple, int]:
    """IPC_INFO: struct shminfo64 (shmmax, shmmin, shmmni, shmseg, shmall) and the highest
    index in use (0 for none)."""
    ns = ipc.namespace_of(world, t)
    return (ns.shm_ctlmax, SHMMIN, ns.shm_ctlmni, SHMMNI, ns.shm_ctlall), max(ns.shm.max_idx(), 0)


def shm_info(world, t: int) -> tuple[tuple, int]:
    """SHM_INFO: struct shm_info (used_ids, shm_tot, shm_rss, shm_swp, swap_attempts,
    swap_successes): every page of an existing segment counts as resident."""
    ns = ipc.namespace_of(world, t)
    reap(world, ns)
    rss = sum(s.pages for s in ns.shm.objects.values() if s.buf is not None)
    return (ns.shm.in_use, ns.shm_tot, rss, 0, 0, 0), max(ns.shm.max_idx(), 0)


def stat(world, t: int, shmid: int, cmd: int) -> tuple[ShmSegment, int, int]:
    """IPC_STAT / SHM_STAT / SHM_STAT_ANY: the segment, its nattch and the call's result."""
    ns = ipc.namespace_of(world, t)
    reap(world, ns)
    if cmd == IPC_STAT:
        seg = ns.shm.find(shmid)
        ret = 0
    else:
        seg = ns.shm.by_index(shmid)
        ret = seg.id
    if cmd != SHM_STAT_ANY and not ipc.ipcperms(world, t, seg, ipc.S_IRUGO):
        raise KernelError(E.EACCES, "permission denied")
    return seg, nattch(world, seg), ret


def shmctl_down(world, t: int, shmid: int, cmd: int, perm=None) -> int:
    """IPC_RMID and IPC_SET (``perm``: uid, gid, mode)."""
    ns = ipc.namespace_of(world, t)
    seg = ns.shm.find(shmid)
    if not ipc.is_owner_or_admin(world, t, seg):
        raise KernelError(E.EPERM, "not the owner")
    if cmd == IPC_RMID:
        if nattch(world, seg) == 0:
            _destroy(ns, seg)
        else:
            seg.mode |= SHM_DEST
            if seg.key and ns.shm.keys.get(seg.key) == seg.index:
                del ns.shm.keys[seg.key]
            seg.key = 0
        return 0
    if cmd == IPC_SET:
        uid, gid, mode = perm
        ipc.set_perm(seg, uid, gid, mode)
        seg.ctime = ipc.now_seconds(world)
        return 0
    raise KernelError(E.EINVAL, f"bad shmctl command {cmd}")


def shm_lock(world, t: int, shmid: int, cmd: int) -> int:
    """SHM_LOCK / SHM_UNLOCK: the SHM_LOCKED mode bit (pages are never swapped here). Linux asks
    CAP_IPC_LOCK unless the caller owns the segment (and RLIMIT_MEMLOCK allows: not counted)."""
    ns = ipc.namespace_of(world, t)
    seg = ns.shm.find(shmid)
    if not task_identity.capable(world, t, CAP_IPC_LOCK):
        euid = int(world.tasks.euid[t])
        if euid not in (seg.uid, seg.cuid):
            raise KernelError(E.EPERM, "not the owner")
    if cmd == SHM_LOCK:
        seg.mode |= SHM_LOCKED
    else:
        seg.mode &= ~SHM_LOCKED
    return 0


def is_shmctl_cmd(cmd: int) -> bool:
    return cmd in (IPC_STAT, SHM_STAT, SHM_STAT_ANY, IPC_INFO, SHM_INFO, IPC_RMID, IPC_SET,
                   SHM_LOCK, SHM_UNLOCK)


__all__ = ["ShmSegment", "attached_in", "closed", "exit_mm", "nattch", "reap", "shmget", "shmat",
           "shmdt", "shminfo", "shm_info",
           "stat", "shmctl_down", "shm_lock", "is_shmctl_cmd"]
