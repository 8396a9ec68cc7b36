"""System V IPC syscalls: shared memory, semaphores, message queues (gVisor: ``sys_shm.go``,
``sys_sem.go``, ``sys_msgqueue.go``). The objects and their semantics are in systems/ipc*.py;
these handlers decode registers, copy structures in and out (x86-64 layouts: ipc64_perm,
shmid64_ds, semid64_ds, msqid64_ds, shminfo64, shm_info, seminfo, msginfo), and turn a wait into
KernelBlocked (the task is an io_waits row on the object's channel).
"""
from __future__ import annotations

import struct

from ..abi import (GETALL, GETNCNT, GETPID, GETVAL, GETZCNT, IPC_INFO, IPC_RMID, IPC_SET,
                   IPC_STAT, MSG_INFO, MSG_NOERROR, MSG_STAT, MSG_STAT_ANY, NR_MSGRCV, NR_MSGSND,
                   NR_SEMOP, NR_SEMTIMEDOP, NSEC_PER_SEC, SEM_INFO, SEM_STAT, SEM_STAT_ANY, SETALL,
                   SETVAL, SHM_INFO, SHM_LOCK, SHM_STAT, SHM_STAT_ANY, SHM_UNLOCK)
from ..errors import E, KernelError
from ..systems import ipc, ipc_msg, ipc_sem, ipc_shm
from ..systems.task_block import BLOCKED
from .context import KernelBlocked, s32, s64, u32
from .registry import FULL, syscall

PERM = "iIIIIIHH4xQQ"  # struct ipc64_perm
SHMID_DS = struct.Struct("<" + PERM + "QqqqiiQQQ")  # struct shmid64_ds (112 bytes)
SEMID_DS = struct.Struct("<" + PERM + "qQqQQQQ")  # struct semid64_ds (104 bytes)
MSQID_DS = struct.Struct("<" + PERM + "qqqQQQiiQQ")  # struct msqid64_ds (120 bytes)
SHMINFO = struct.Struct("<9Q")  # struct shminfo64
SHM_INFO_ST = struct.Struct("<i4x5Q")  # struct shm_info
SEMINFO = struct.Struct("<10i")  # struct seminfo
MSGINFO = struct.Struct("<7iH2x")  # struct msginfo
SEMBUF = struct.Struct("<HhH")  # struct sembuf (sem_flg read as unsigned: the flag bits)
TIMESPEC = struct.Struct("<qq")


def _perm(obj) -> tuple:
    return (s32(obj.key), obj.uid, obj.gid, obj.cuid, obj.cgid, obj.mode, obj.seq & 0xFFFF, 0, 0, 0)


def _perm_in(raw: tuple) -> tuple[int, int, int]:
    """What IPC_SET takes from the caller's ipc64_perm: uid, gid, mode."""
    return raw[1], raw[2], raw[5]


# -- shared memory ----------------------------------------------------------------------------------

@syscall("shmget", FULL, "segments are shared host buffers mapped by every attach",
         args=("x", "u", "x"))
def shmget(t, key, size, shmflg):
    """Implements shmget(2)."""
    return ipc_shm.shmget(t.world, t.row, s32(key), size, s32(shmflg))


@syscall("shmat", FULL, "SHM_RDONLY, SHM_RND, SHM_REMAP, SHM_EXEC", args=("i", "p", "x"), ret="x")
def shmat(t, shmid, addr, shmflg):
    """Implements shmat(2)."""
    return ipc_shm.shmat(t.world, t.row, t.mm, s32(shmid), addr, s32(shmflg))


@syscall("shmdt", FULL, args=("p",))
def shmdt(t, addr):
    """Implements shmdt(2)."""
    return ipc_shm.shmdt(t.world, t.row, t.mm, addr)


@syscall("shmctl", FULL, "IPC_STAT/SHM_STAT(_ANY)/IPC_SET/IPC_RMID/IPC_INFO/SHM_INFO/"
         "SHM_LOCK/SHM_UNLOCK; shm_nattch counts mappings; shm_dtime/shm_lpid move at every "
         "detach (shmdt, munmap, a mapping over the attach, mremap, exit, exec)",
         args=("i", "i", "p"))
def shmctl(t, shmid, cmd, buf):
    """Implements shmctl(2)."""
    w, r = t.world, t.row
    shmid, cmd = s32(shmid), s32(cmd)
    if shmid < 0:
        raise KernelError(E.EINVAL, "negative shmid")
    if cmd == IPC_INFO:
        info, ret = ipc_shm.shminfo(w, r)
        t.mm.copy_out(buf, SHMINFO.pack(*info, 0, 0, 0, 0))
        return ret
    if cmd == SHM_INFO:
        info, ret = ipc_shm.shm_info(w, r)
        t.mm.copy_out(buf, SHM_INFO_ST.pack(*info))
        return ret
    if cmd in (IPC_STAT, SHM_STAT, SHM_STAT_ANY):
        seg, nattch, ret = ipc_shm.stat(w, r, shmid, cmd)
        t.mm.copy_out(buf, SHMID_DS.pack(*_perm(seg), seg.size, seg.atime, seg.dtime, seg.ctime,
                                         seg.cpid, seg.lpid, nattch, 0, 0))
        return ret
    if cmd == IPC_SET:
        raw = SHMID_DS.unpack(t.mm.copy_in(buf, SHMID_DS.size))
        return ipc_shm.shmctl_down(w, r, shmid, cmd, _perm_in(raw))
    if cmd == IPC_RMID:
        return ipc_shm.shmctl_down(w, r, shmid, cmd)
    if cmd in (SHM_LOCK, SHM_UNLOCK):
        return ipc_shm.shm_lock(w, r, shmid, cmd)
    raise KernelError(E.EINVAL, f"bad shmctl command {cmd}")


# -- semaphores ------------------------------------------------------------------------------------------

@syscall("semget", FULL, args=("x", "i", "x"))
def semget(t, key, nsems, semflg):
    """Implements semget(2)."""
    return ipc_sem.semget(t.world, t.row, s32(key), s32(nsems), s32(semflg))


def _semtimedop(t, semid, sops, nsops, timeout, nr):
    w = t.world
    semid, nsops = s32(semid), u32(nsops)
    if nsops < 1 or semid < 0:
        raise KernelError(E.EINVAL, "no operations or a negative id")
    ts = None
    if timeout:
        ts = TIMESPEC.unpack(t.mm.copy_in(timeout, TIMESPEC.size))
    if nsops > ipc.namespace_of(w, t.row).sem_ctls[2]:
        raise KernelError(E.E2BIG, "more than SEMOPM operations")
    raw = t.mm.copy_in(sops, SEMBUF.size * nsops)
    ops = [SEMBUF.unpack_from(raw, i * SEMBUF.size) for i in range(nsops)]
    timeout_ns = None
    if ts is not None:
        if ts[0] < 0 or not 0 <= ts[1] < NSEC_PER_SEC:
            raise KernelError(E.EINVAL, "bad timeout")
        timeout_ns = ts[0] * NSEC_PER_SEC + ts[1]
        t.machine.sync_clock()  # deadlines are on the kernel clock
    r = ipc_sem.semtimedop(w, t.row, semid, ops, timeout_ns, nr)
    if r is BLOCKED:
        raise KernelBlocked()
    return r


@syscall("semop", FULL, "operations apply atomically; waiters are completed by whoever makes "
         "them possible, oldest first (waits for zero first)", args=("i", "p", "u"))
def semop(t, semid, sops, nsops):
    """Implements semop(2)."""
    return _semtimedop(t, semid, sops, nsops, 0, NR_SEMOP)


@syscall("semtimedop", FULL, args=("i", "p", "u", "ts"))
def semtimedop(t, semid, sops, nsops, timeout):
    """Implements semtimedop(2)."""
    return _semtimedop(t, semid, sops, nsops, timeout, NR_SEMTIMEDOP)


@syscall("semctl", FULL, "every command; SEM_UNDO adjustments are per process", args=("i", "i", "i", "x"))
def semctl(t, semid, semnum, cmd, arg):
    """Implements semctl(2)."""
    w, r = t.world, t.row
    semid, semnum, cmd = s32(semid), s32(semnum), s32(cmd)
    if semid < 0:
        raise KernelError(E.EINVAL, "negative semid")
    if cmd in (IPC_INFO, SEM_INFO):
        info, ret = ipc_sem.seminfo(w, r, cmd)
        t.mm.copy_out(arg, SEMINFO.pack(*info))
        return ret
    if cmd in (IPC_STAT, SEM_STAT, SEM_STAT_ANY):
        sma, ret = ipc_sem.stat(w, r, semid, cmd)
        t.mm.copy_out(arg, SEMID_DS.pack(*_perm(sma), sma.otime, 0, sma.ctime, 0, sma.nsems, 0, 0))
        return ret
    if cmd == GETALL:
        vals = ipc_sem.semctl_main(w, r, semid, semnum, cmd)
        t.mm.copy_out(arg, struct.pack(f"<{len(vals)}H", *vals))
        return 0
    if cmd == SETALL:
        def read_values(n):
            return list(struct.unpack(f"<{n}H", t.mm.copy_in(arg, 2 * n)))
        return ipc_sem.semctl_main(w, r, semid, semnum, cmd, read_values)
    if cmd in (GETVAL, GETPID, GETNCNT, GETZCNT):
        return ipc_sem.semctl_main(w, r, semid, semnum, cmd)
    if cmd == SETVAL:
        return ipc_sem.semctl_setval(w, r, semid, semnum, s32(arg))
    if cmd == IPC_SET:
        raw = SEMID_DS.unpack(t.mm.copy_in(arg, SEMID_DS.size))
        return ipc_sem.semctl_down(w, r, semid, cmd, _perm_in(raw))
    if cmd == IPC_RMID:
        return ipc_sem.semctl_down(w, r, semid, cmd)
    raise KernelError(E.EINVAL, f"bad semctl command {cmd}")


# -- message queues ------------------------------------------------------------------------------------------

@syscall("msgget", FULL, args=("x", "x"))
def msgget(t, key, msgflg):
    """Implements msgget(2)."""
    return ipc_msg.msgget(t.world, t.row, s32(key), s32(msgflg))


@syscall("msgsnd", FULL, "a message for a waiting receiver is handed to it (pipelined_send)",
         args=("i", "p", "u", "x"))
def msgsnd(t, msqid, msgp, msgsz, msgflg):
    """Implements msgsnd(2)."""
    w, r = t.world, t.row
    msqid, msgflg = s32(msqid), s32(msgflg)
    mtype = s64(t.mm.copy_in_u64(msgp))
    ipc_msg.check_send(w, r, msqid, s64(msgsz), mtype)
    data = t.mm.copy_in(msgp + 8, msgsz)
    res = ipc_msg.msgsnd(w, r, msqid, mtype, data, msgflg, NR_MSGSND)
    if res is BLOCKED:
        raise KernelBlocked()
    return res


@syscall("msgrcv", FULL, "MSG_NOERROR, MSG_EXCEPT, MSG_COPY, negative types",
         args=("i", "p", "u", "l", "x"))
def msgrcv(t, msqid, msgp, msgsz, msgtyp, msgflg):
    """Implements msgrcv(2)."""
    msgflg = s32(msgflg)
    bufsz = s64(msgsz)
    res = ipc_msg.msgrcv(t.world, t.row, s32(msqid), bufsz, s64(msgtyp), msgflg, NR_MSGRCV)
    if res is BLOCKED:
        raise KernelBlocked()
    mtype, data = res
    n = min(bufsz, len(data)) if msgflg & MSG_NOERROR else len(data)
    t.mm.copy_out(msgp, struct.pack("<q", mtype))
    t.mm.copy_out(msgp + 8, data[:n])
    return n


@syscall("msgctl", FULL, args=("i", "i", "p"))
def msgctl(t, msqid, cmd, buf):
    """Implements msgctl(2)."""
    w, r = t.world, t.row
    msqid, cmd = s32(msqid), s32(cmd)
    if msqid < 0 or cmd < 0:
        raise KernelError(E.EINVAL, "negative id or command")
    if cmd in (IPC_INFO, MSG_INFO):
        info, ret = ipc_msg.msginfo(w, r, cmd)
        t.mm.copy_out(buf, MSGINFO.pack(*info))
        return ret
    if cmd in (IPC_STAT, MSG_STAT, MSG_STAT_ANY):
        q, ret = ipc_msg.stat(w, r, msqid, cmd)
        t.mm.copy_out(buf, MSQID_DS.pack(*_perm(q), q.stime, q.rtime, q.ctime, q.cbytes,
                                         len(q.messages), q.qbytes, q.lspid, q.lrpid, 0, 0))
        return ret
    if cmd == IPC_SET:
        raw = MSQID_DS.unpack(t.mm.copy_in(buf, MSQID_DS.size))
        return ipc_msg.msgctl_down(w, r, msqid, cmd, _perm_in(raw), raw[15])
    if cmd == IPC_RMID:
        return ipc_msg.msgctl_down(w, r, msqid, cmd)
    raise KernelError(E.EINVAL, f"bad msgctl command {cmd}")

