"""System V semaphores: semget, semop/semtimedop, semctl, and SEM_UNDO at exit.

gVisor: kernel/semaphore/semaphore.go; Linux: ipc/sem.c (newary, do_semtimedop,
perform_atomic_semop_slow, update_queue, count_semcnt, semctl_main, semctl_setval, freeary,
exit_sem).

A semaphore set is a :class:`SemSet` (an ``IPCObject``). An operation list applies atomically:
every operation in order on a copy of the values, committed only if none would block and none
overflows (ERANGE). A call that would block registers its operations on the set
(``waiters[task] = (tgid, blocking index, n, num, op, flg, ...)``: Linux's sem_queue) and blocks
on the set's channel (systems/ipc.py). Whoever changes the values next (semop, SETVAL, SETALL, an
exit's undo) runs :func:`update_queue`, which completes the waiting lists that can now go, oldest
first (waits for zero before the others, as Linux's do_smart_update), in the waker's turn: the
waiter's semop returns 0 with its operations already done. IPC_RMID fails every waiter with EIDRM;
a signal ends a wait with EINTR; a timeout (semtimedop) with EAGAIN.

SEM_UNDO adjustments are kept per set and per thread group (Linux's undo list is per process,
shared by CLONE_SYSVSEM, which threads use): the group's last exiting task applies them
(:func:`exit_sem`, clamping to 0..SEMVMX as Linux does).
"""
from __future__ import annotations

from ..abi import (Block, GETALL, GETNCNT, GETPID, GETVAL, GETZCNT, IPC_INFO, IPC_NOWAIT, IPC_RMID,
                   IPC_SET, IPC_STAT, SEM_INFO, SEM_STAT, SEM_STAT_ANY, SEM_UNDO, SEMAEM, SEMMNS,
                   SEMUME, SEMUSZ, SEMVMX, SETALL, SETVAL)
from ..checkpoint_objects import state_class
from ..errors import E, KernelError
from . import io_wait, ipc
from .task_block import BLOCKED


@state_class
class SemSet(ipc.IPCObject):
    """sem_array: the values, the pid of each one's last operation, times, undo adjustments."""

    __state__ = {"nsems": "int", "semval": "list[int]", "sempid": "list[int]", "otime": "int",
                 "ctime": "int", "undo": "dict[int,list[int]]"}

    def __init__(self, key: int, uid: int, gid: int, mode: int, nsems: int, now: int):
        super().__init__(key, uid, gid, mode)
        self.nsems = nsems
        self.semval = [0] * nsems
        self.sempid = [0] * nsems
        self.otime = 0
        self.ctime = now
        self.undo: dict[int, list[int]] = {}  # thread group row -> semadj per semaphore


def _find(world, t: int, semid: int) -> SemSet:
    return ipc.namespace_of(world, t).sem.find(semid)


# -- semget ------------------------------------------------------------------------------------------

def semget(world, t: int, key: int, nsems: int, semflg: int) -> int:
    """Implements semget(2)."""
    ns = ipc.namespace_of(world, t)
    semmsl, semmns, _semopm, semmni = ns.sem_ctls

    def create() -> int:
        # newary
        if not 0 < nsems <= semmsl:
            raise KernelError(E.EINVAL, "bad number of semaphores")
        if ns.sem_used + nsems > semmns:
            raise KernelError(E.ENOSPC, "SEMMNS reached")
        uid, gid = ipc.creds_of(world, t)
        s = SemSet(key, uid, gid, semflg, nsems, ipc.now_seconds(world))
        s.wait_key = ipc.new_wait_key(world)
        ident = ns.sem.add(s, semmni)
        ns.sem_used += nsems
        return ident

    def check(obj: SemSet) -> None:
        # sem_more_checks
        if nsems > obj.nsems:
            raise KernelError(E.EINVAL, "the set has fewer semaphores")

    if nsems < 0 or nsems > semmsl:
        raise KernelError(E.EINVAL, "bad number of semaphores")
    return ipc.ipcget(world, t, ns.sem, key, semflg, create, check)


# -- semop ---------------------------------------------------------------------------------------------

def _try(sma: SemSet, sops, tg: int, pid: int, now: int) -> int:
    """perform_atomic_semop_slow: apply ``sops`` (``(num, op, flg)``) all or nothing. Returns -1
    when done, else the index of the operation that would block (nothing changed). Raises
    ERANGE (nothing changed)."""
    vals = list(sma.semval)
    adj = None
    for i, (num, op, flg) in enumerate(sops):
        cur = vals[num]
        if op == 0:
            if cur:
                return i
            continue
        r = cur + op
        if r < 0:
            return i
        if r > SEMVMX:
            raise KernelError(E.ERANGE, "semaphore value above SEMVMX")
        if flg & SEM_UNDO:
            if adj is None:
                adj = list(sma.undo.get(tg, [0] * sma.nsems))
            u = adj[num] - op
            if u < -SEMAEM - 1 or u > SEMAEM:
                raise KernelError(E.ERANGE, "undo adjustment out of range")
            adj[num] = u
        vals[num] = r
    sma.semval = vals
    for num, _op, _flg in sops:
        sma.sempid[num] = pid
    if adj is not None:
        if any(adj):
            sma.undo[tg] = adj
        else:
            sma.undo.pop(tg, None)
    sma.otime = now
    return -1


def _pack(tg: int, pid: int, blocking: int, sops) -> tuple:
    flat = [tg, pid, blocking, len(sops)]
    for s in sops:
        flat.extend(s)
    return tuple(flat)


def _unpack(entry: tuple):
    tg, pid, blocking, n = entry[:4]
    sops = [tuple(entry[4 + 3 * i: 7 + 3 * i]) for i in range(n)]
    return tg, pid, blocking, sops


def semtimedop(world, t: int, semid: int, sops, timeout_ns: int | None, nr: int):
    """do_semtimedop (after the caller copied the operations in): 0, or BLOCKED with the task
    waiting on the set. ``timeout_ns``: semtimedop's relative timeout (None: none)."""
    ns = ipc.namespace_of(world, t)
    if semid < 0:
        raise KernelError(E.EINVAL, "negative semid")
    if len(sops) > ns.sem_ctls[2]:
        raise KernelError(E.E2BIG, "more than SEMOPM operations")
    deadline = io_wait.deadline_for(world, t, nr, timeout_ns)
    if any(s[2] & SEM_UNDO for s in sops):  # get_undo_list: made before the set is looked up
        copy_semundo(world, [int(world.tasks.tg[t])])
    rerun = ipc.rerunning(world, t)
    sma = ns.sem.find(semid)
    max_num = max(s[0] for s in sops)
    alter = any(s[1] != 0 for s in sops)
    if max_num >= sma.nsems:
        raise KernelError(E.EFBIG, "semaphore number out of the set")
    if not ipc.ipcperms(world, t, sma, ipc.S_IWUGO if alter else ipc.S_IRUGO):
        raise KernelError(E.EACCES, "permission denied")
    if rerun and io_wait.timed_out(world, deadline):
        raise KernelError(E.EAGAIN, "semtimedop timed out")
    T = world.tasks
    tg = int(T.tg[t])
    pid = ipc.tgid_of(world, t)
    blocking = _try(sma, sops, tg, pid, ipc.now_seconds(world))
    if blocking < 0:
        if alter:
            update_queue(world, sma)
        return 0
    if sops[blocking][2] & IPC_NOWAIT:
        raise KernelError(E.EAGAIN, "would block (IPC_NOWAIT)")
    sma.waiters[t] = _pack(tg, pid, blocking, sops)
    io_wait.block(world, t, Block.POLL, [(ipc.channel(sma), 0)], deadline, nr)
    return BLOCKED


def update_queue(world, sma: SemSet) -> int:
    """do_smart_update: complete every waiting operation list that can go now, waits for zero
    first, then oldest first; after one that changed values, look again. Returns how many
    completed."""
    done = 0
    now = ipc.now_seconds(world)
    again = True
    while again:
        again = False
        waiters = ipc.live_waiters(world, sma)
        zero_first = [w for w in waiters if all(s[1] == 0 for s in _unpack(sma.waiters[w])[3])] + \
            [w for w in waiters if any(s[1] != 0 for s in _unpack(sma.waiters[w])[3])]
        for w in zero_first:
            tg, pid, _b, sops = _unpack(sma.waiters[w])
            try:
                blocking = _try(sma, sops, tg, pid, now)
            except KernelError as e:
                ipc.complete(world, w, sma, -e.errno)
                done += 1
                continue
            if blocking >= 0:
                sma.waiters[w] = _pack(tg, pid, blocking, sops)
                continue
            ipc.complete(world, w, sma, 0)
            done += 1
            if any(s[1] != 0 for s in sops):
                again = True
                break
    return done


def count_semcnt(world, sma: SemSet, num: int, zero: bool) -> int:
    """GETNCNT/GETZCNT: waiters whose blocking operation is on ``num`` and waits for an increase
    (a negative op) or for zero."""
    n = 0
    for w in ipc.live_waiters(world, sma):
        _tg, _pid, b, sops = _unpack(sma.waiters[w])
        snum, op, _flg = sops[b]
        if snum == num and ((op == 0) if zero else (op < 0)):
            n += 1
    return n


# -- semctl ---------------------------------------------------------------------------------------------

def seminfo(world, t: int, cmd: int) -> tuple[tuple, int]:
    """IPC_INFO / SEM_INFO: struct seminfo's fields (semmap, semmni, semmns, semmnu, semmsl,
    semopm, semume, semusz, semvmx, semaem) and the highest index in use (0 for none)."""
    ns = ipc.namespace_of(world, t)
    semmsl, semmns, semopm, semmni = ns.sem_ctls
    if cmd == SEM_INFO:
        semusz = ns.sem.in_use
        semaem = ns.sem_used
    else:
        semusz, semaem = SEMUSZ, SEMAEM
    info = (SEMMNS, semmni, semmns, SEMMNS, semmsl, semopm, SEMUME, semusz, SEMVMX, semaem)
    return info, max(ns.sem.max_idx(), 0)


def stat(world, t: int, semid: int, cmd: int) -> tuple[SemSet, int]:
    """IPC_STAT / SEM_STAT / SEM_STAT_ANY: the set and what the call returns (0, or the id for
    the *_STAT forms, which take an index)."""
    ns = ipc.namespace_of(world, t)
    if cmd == IPC_STAT:
        sma = ns.sem.find(semid)
        ret = 0
    else:
        sma = ns.sem.by_index(semid)
        ret = sma.id
    if cmd != SEM_STAT_ANY and not ipc.ipcperms(world, t, sma, ipc.S_IRUGO):
        raise KernelError(E.EACCES, "permission denied")
    return sma, ret


def semctl_main(world, t: int, semid: int, semnum: int, cmd: int, read_values=None):
    """GETVAL, GETPID, GETNCNT, GETZCNT, GETALL (the values) and SETALL (``read_values(n)``
    copies the caller's n values in, after the permission check), in Linux's order of checks."""
    sma = _find(world, t, semid)
    write = cmd == SETALL
    if not ipc.ipcperms(world, t, sma, ipc.S_IWUGO if write else ipc.S_IRUGO):
        raise KernelError(E.EACCES, "permission denied")
    if cmd == GETALL:
        return list(sma.semval)
    if cmd == SETALL:
        values = read_values(sma.nsems)
        if any(v > SEMVMX or v < 0 for v in values):
            raise KernelError(E.ERANGE, "value above SEMVMX")
        sma.semval = [int(v) for v in values]
        pid = ipc.tgid_of(world, t)
        sma.sempid = [pid] * sma.nsems
        sma.undo.clear()
        sma.ctime = ipc.now_seconds(world)
        update_queue(world, sma)
        return 0
    if not 0 <= semnum < sma.nsems:
        raise KernelError(E.EINVAL, "semaphore number out of the set")
    if cmd == GETVAL:
        return sma.semval[semnum]
    if cmd == GETPID:
        return sma.sempid[semnum]
    if cmd == GETNCNT:
        return count_semcnt(world, sma, semnum, False)
    if cmd == GETZCNT:
        return count_semcnt(world, sma, semnum, True)
    raise KernelError(E.EINVAL, f"bad semctl command {cmd}")


def semctl_setval(world, t: int, semid: int, semnum: int, val: int) -> int:
    """semctl_setval: ERANGE first, then the set, the number, the permission."""
    if val > SEMVMX or val < 0:
        raise KernelError(E.ERANGE, "value out of range")
    sma = _find(world, t, semid)
    if not 0 <= semnum < sma.nsems:
        raise KernelError(E.EINVAL, "semaphore number out of the set")
    if not ipc.ipcperms(world, t, sma, ipc.S_IWUGO):
        raise KernelError(E.EACCES, "permission denied")
    for adj in sma.undo.values():
        adj[semnum] = 0
    sma.undo = {k: v for k, v in sma.undo.items() if any(v)}
    sma.semval[semnum] = int(val)
    sma.sempid[semnum] = ipc.tgid_of(world, t)
    sma.ctime = ipc.now_seconds(world)
    update_queue(world, sma)
    return 0


def semctl_down(world, t: int, semid: int, cmd: int, perm=None) -> int:
    """IPC_RMID and IPC_SET (``perm``: uid, gid, mode)."""
    sma = _find(world, t, semid)
    if not ipc.is_owner_or_admin(world, t, sma):
        raise KernelError(E.EPERM, "not the owner")
    ns = ipc.namespace_of(world, t)
    if cmd == IPC_RMID:
        ns.sem.remove(sma)
        ns.sem_used -= sma.nsems
        sma.undo.clear()
        ipc.wake_removed(world, sma)
        return 0
    if cmd == IPC_SET:
        ipc.set_perm(sma, *perm)
        sma.ctime = ipc.now_seconds(world)
        return 0
    raise KernelError(E.EINVAL, f"bad semctl command {cmd}")


def is_semctl_cmd(cmd: int) -> bool:
    return cmd in (IPC_STAT, SEM_STAT, SEM_STAT_ANY, IPC_INFO, SEM_INFO, GETALL, GETVAL, GETPID,
                   GETNCNT, GETZCNT, SETVAL, SETALL, IPC_RMID, IPC_SET)


# -- exit ---------------------------------------------------------------------------------------------------

def exit_sem(world, t: int) -> None:
    """exit_sem: the last task of ``t``'s thread group is exiting: apply its undo adjustments in
    its IPC namespace (values clamped to 0..SEMVMX), then wake whom that lets go."""
    reg = world.index.ipc
    if reg is None:
        return
    T = world.tasks
    tg = int(T.tg[t])
    getattr(reg, "undo_lists", set()).discard(tg)
    ns = reg.namespaces.get(int(T.ipcns[t]))
    if ns is None:
        return
    pid = ipc.tgid_of(world, t)
    for sma in list(ns.sem.objects.values()):
        adj = sma.undo.pop(tg, None)
        if adj is None:
            continue
        for i, a in enumerate(adj):
            if a:
                v = sma.semval[i] + a
                sma.semval[i] = min(max(v, 0), SEMVMX)
                sma.sempid[i] = pid
        sma.otime = ipc.now_seconds(world)
        update_queue(world, sma)


def copy_semundo(world, tgs) -> None:
    """copy_semundo under CLONE_SYSVSEM: the creators' thread groups get their undo list (to share
    it), whether or not they did a SEM_UNDO semop yet; kcmp(KCMP_SYSVSEM) sees it."""
    reg = ipc.registry(world)
    if not hasattr(reg, "undo_lists"):
        reg.undo_lists = set()
    reg.undo_lists.update(int(g) for g in tgs)


def drop_undo(world, t: int) -> None:
    """unshare/setns of the IPC namespace: Linux runs exit_sem first (CLONE_SYSVSEM's meaning)."""
    exit_sem(world, t)


__all__ = ["SemSet", "semget", "semtimedop", "update_queue", "count_semcnt", "seminfo", "stat",
           "semctl_main", "semctl_setval", "semctl_down", "is_semctl_cmd", "exit_sem", "drop_undo",
           "copy_semundo"]
