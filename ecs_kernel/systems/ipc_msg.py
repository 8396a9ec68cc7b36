"""System V message queues: msgget, msgsnd, msgrcv, msgctl.

gVisor: kernel/msgqueue/msgqueue.go; Linux: ipc/msg.c (newque, do_msgsnd, do_msgrcv, find_msg,
pipelined_send, ss_wakeup, expunge_all, msgctl_down, freeque).

A queue is a :class:`MsgQueue` (an ``IPCObject``): its messages ``(type, bytes)`` in arrival
order and their byte count against ``qbytes``. Waiting is Linux's, with tasks as rows (see
systems/ipc.py for the channel): a receiver that finds no message registers what it looks for
(``waiters[task] = (RECV, type, mode, maxsize)``) and blocks; a sender whose message does not fit
registers its size (``(SEND, size)``). A message sent while a receiver waits for it is handed to
that receiver at once (pipelined_send: it never enters the queue; the receiver's call runs again
and finds it in ``delivered``), or fails the receiver with E2BIG when its buffer is too small;
a receive that frees space makes the senders whose message now fits run their call again
(ss_wakeup). IPC_RMID fails every waiter with EIDRM; a signal's handler ends a wait with EINTR.
"""
from __future__ import annotations

from ..abi import (INT_MAX, Block, CAP_SYS_RESOURCE, IPC_INFO, IPC_NOWAIT, IPC_RMID, IPC_SET, IPC_STAT,
                   MSG_COPY, MSG_EXCEPT, MSG_INFO, MSG_NOERROR, MSG_STAT, MSG_STAT_ANY, MSGMAP,
                   MSGPOOL, MSGSEG, MSGSSZ, MSGTQL)
from ..checkpoint_objects import state_class
from ..components.futex import NO_DEADLINE
from ..errors import E, KernelError
from . import io_wait, ipc, task_identity
from .task_block import BLOCKED

SEARCH_ANY, SEARCH_EQUAL, SEARCH_NOTEQUAL, SEARCH_LESSEQUAL, SEARCH_NUMBER = 1, 2, 3, 4, 5
RECV, SEND = 0, 1
LONG_MIN = -(1 << 63)
LONG_MAX = (1 << 63) - 1


@state_class
class MsgQueue(ipc.IPCObject):
    """msg_queue: the messages, their bytes, the limit, last pids and times, and the messages
    handed to receivers that have not run yet."""

    __state__ = {"messages": "list[(int,bytes)]", "cbytes": "int", "qbytes": "int",
                 "lspid": "int", "lrpid": "int", "stime": "int", "rtime": "int", "ctime": "int",
                 "delivered": "dict[int,(int,bytes)]"}

    def __init__(self, key: int, uid: int, gid: int, mode: int, qbytes: int, now: int):
        super().__init__(key, uid, gid, mode)
        self.messages: list[tuple[int, bytes]] = []
        self.cbytes = 0
        self.qbytes = qbytes
        self.lspid = self.lrpid = 0
        self.stime = self.rtime = 0
        self.ctime = now
        self.delivered: dict[int, tuple[int, bytes]] = {}

    def fits(self, size: int) -> bool:
        """msg_fits_inqueue."""
        return size + self.cbytes <= self.qbytes and 1 + len(self.messages) <= self.qbytes


def msgget(world, t: int, key: int, msgflg: int) -> int:
    """Implements msgget(2)."""
    ns = ipc.namespace_of(world, t)

    def create() -> int:
        uid, gid = ipc.creds_of(world, t)
        q = MsgQueue(key, uid, gid, msgflg, ns.msg_ctlmnb, ipc.now_seconds(world))
        q.wait_key = ipc.new_wait_key(world)
        return ns.msg.add(q, ns.msg_ctlmni)

    return ipc.ipcget(world, t, ns.msg, key, msgflg, create, lambda q: None)


def _testmsg(mtype: int, want: int, mode: int) -> bool:
    if mode in (SEARCH_ANY, SEARCH_NUMBER):
        return True
    if mode == SEARCH_LESSEQUAL:
        return mtype <= want
    if mode == SEARCH_EQUAL:
        return mtype == want
    return mtype != want  # SEARCH_NOTEQUAL


def convert_mode(msgtyp: int, msgflg: int) -> tuple[int, int]:
    """convert_mode: the search mode and the type it compares with."""
    if msgflg & MSG_COPY:
        return SEARCH_NUMBER, msgtyp
    if msgtyp == 0:
        return SEARCH_ANY, msgtyp
    if msgtyp < 0:
        return SEARCH_LESSEQUAL, LONG_MAX if msgtyp == LONG_MIN else -msgtyp
    if msgflg & MSG_EXCEPT:
        return SEARCH_NOTEQUAL, msgtyp
    return SEARCH_EQUAL, msgtyp


def find_msg(q: MsgQueue, want: int, mode: int) -> int:
    """find_msg: the index of the message to take, or -1."""
    found = -1
    count = 0
    for i, (mtype, _data) in enumerate(q.messages):
        if _testmsg(mtype, want, mode):
            if mode == SEARCH_LESSEQUAL and mtype != 1:
                want = mtype - 1
                found = i
            elif mode == SEARCH_NUMBER:
                if want == count:
                    return i
                count += 1
            else:
                return i
    return found


def _ss_wakeup(world, q: MsgQueue, kill: bool) -> None:
    for w in ipc.live_waiters(world, q):
        entry = q.waiters[w]
        if entry[0] != SEND:
            continue
        if kill:
            ipc.complete(world, w, q, -E.EIDRM)
        elif q.fits(entry[1]):
            ipc.rerun(world, w, q)


def _pipelined_send(world, q: MsgQueue, mtype: int, data: bytes, pid: int) -> bool:
    """Hand the message to the first receiver waiting for it (receivers whose buffer is too
    small fail with E2BIG on the way). True if one took it."""
    for w in ipc.live_waiters(world, q):
        entry = q.waiters[w]
        if entry[0] != RECV or not _testmsg(mtype, entry[1], entry[2]):
            continue
        if entry[3] < len(data):
            ipc.complete(world, w, q, -E.E2BIG)
            continue
        q.lrpid = ipc.tgid_of(world, w)
        q.rtime = ipc.now_seconds(world)
        q.delivered[w] = (mtype, data)
        ipc.rerun(world, w, q)
        return True
    return False


def msgsnd(world, t: int, msqid: int, mtype: int, data: bytes, msgflg: int, nr: int):
    """do_msgsnd (after the caller read the message): 0, or BLOCKED with the task waiting for
    room."""
    ns = ipc.namespace_of(world, t)
    q = ns.msg.find(msqid)
    if not ipc.ipcperms(world, t, q, ipc.S_IWUGO):
        raise KernelError(E.EACCES, "permission denied")
    size = len(data)
    if not q.fits(size):
        if msgflg & IPC_NOWAIT:
            raise KernelError(E.EAGAIN, "queue full (IPC_NOWAIT)")
        q.waiters[t] = (SEND, size)
        io_wait.block(world, t, Block.POLL, [(ipc.channel(q), 0)], int(NO_DEADLINE), nr)
        return BLOCKED
    pid = ipc.tgid_of(world, t)
    q.lspid = pid
    q.stime = ipc.now_seconds(world)
    if not _pipelined_send(world, q, mtype, data, pid):
        q.messages.append((mtype, bytes(data)))
        q.cbytes += size
    return 0


def check_send(world, t: int, msqid: int, msgsz: int, mtype: int) -> None:
    """do_msgsnd's checks before the message is read."""
    ns = ipc.namespace_of(world, t)
    if msgsz > ns.msg_ctlmax or msgsz < 0 or msqid < 0:
        raise KernelError(E.EINVAL, "bad size or id")
    if mtype < 1:
        raise KernelError(E.EINVAL, "message type below 1")


def msgrcv(world, t: int, msqid: int, bufsz: int, msgtyp: int, msgflg: int, nr: int):
    """do_msgrcv: ``(type, bytes)`` of the message taken (the caller copies it out, cut to
    ``bufsz`` under MSG_NOERROR), or BLOCKED with the task waiting for one."""
    ns = ipc.namespace_of(world, t)
    if msqid < 0 or bufsz < 0:
        raise KernelError(E.EINVAL, "bad id or size")
    if msgflg & MSG_COPY:
        if msgflg & MSG_EXCEPT or not msgflg & IPC_NOWAIT:
            raise KernelError(E.EINVAL, "MSG_COPY needs IPC_NOWAIT and no MSG_EXCEPT")
    mode, want = convert_mode(msgtyp, msgflg)
    idx = msqid % ipc.IPCMNI
    q = ns.msg.objects.get(idx)
    if q is not None and q.id == msqid and t in q.delivered:  # pipelined_send gave it one
        return q.delivered.pop(t)
    q = ns.msg.find(msqid)
    if not ipc.ipcperms(world, t, q, ipc.S_IRUGO):
        raise KernelError(E.EACCES, "permission denied")
    i = find_msg(q, want, mode)
    if i >= 0:
        mtype, data = q.messages[i]
        if bufsz < len(data) and not msgflg & MSG_NOERROR:
            raise KernelError(E.E2BIG, "message longer than the buffer")
        if msgflg & MSG_COPY:
            if len(data) > min(bufsz, ns.msg_ctlmax):  # copy_msg: the copy buffer is too small
                raise KernelError(E.EINVAL, "MSG_COPY buffer shorter than the message")
            return mtype, data
        del q.messages[i]
        q.cbytes -= len(data)
        q.rtime = ipc.now_seconds(world)
        q.lrpid = ipc.tgid_of(world, t)
        _ss_wakeup(world, q, False)
        return mtype, data
    if msgflg & IPC_NOWAIT:
        raise KernelError(E.ENOMSG, "no message of that type")
    q.waiters[t] = (RECV, want, mode, INT_MAX if msgflg & MSG_NOERROR else bufsz)
    io_wait.block(world, t, Block.POLL, [(ipc.channel(q), 0)], int(NO_DEADLINE), nr)
    return BLOCKED


def msginfo(world, t: int, cmd: int) -> tuple[tuple, int]:
    """IPC_INFO / MSG_INFO: struct msginfo (msgpool, msgmap, msgmax, msgmnb, msgmni, msgssz,
    msgtql, msgseg) and the highest index in use (0 for none)."""
    ns = ipc.namespace_of(world, t)
    if cmd == MSG_INFO:
        qs = list(ns.msg.objects.values())
        pool, mmap_, tql = ns.msg.in_use, sum(len(q.messages) for q in qs), sum(q.cbytes for q in qs)
    else:
        pool, mmap_, tql = MSGPOOL, MSGMAP, MSGTQL
    info = (pool, mmap_, ns.msg_ctlmax, ns.msg_ctlmnb, ns.msg_ctlmni, MSGSSZ, tql, MSGSEG)
    return info, max(ns.msg.max_idx(), 0)


def stat(world, t: int, msqid: int, cmd: int) -> tuple[MsgQueue, int]:
    """IPC_STAT / MSG_STAT / MSG_STAT_ANY: the queue and the call's result."""
    ns = ipc.namespace_of(world, t)
    if cmd == IPC_STAT:
        q = ns.msg.find(msqid)
        ret = 0
    else:
        q = ns.msg.by_index(msqid)
        ret = q.id
    if cmd != MSG_STAT_ANY and not ipc.ipcperms(world, t, q, ipc.S_IRUGO):
        raise KernelError(E.EACCES, "permission denied")
    return q, ret


def msgctl_down(world, t: int, msqid: int, cmd: int, perm=None, qbytes: int = 0) -> int:
    """IPC_RMID and IPC_SET (``perm``: uid, gid, mode; ``qbytes``: the new limit)."""
    ns = ipc.namespace_of(world, t)
    q = ns.msg.find(msqid)
    if not ipc.is_owner_or_admin(world, t, q):
        raise KernelError(E.EPERM, "not the owner")
    if cmd == IPC_RMID:
        ns.msg.remove(q)
        q.delivered.clear()
        ipc.wake_removed(world, q)
        return 0
    if cmd == IPC_SET:
        if qbytes > ns.msg_ctlmnb and not task_identity.capable(world, t, CAP_SYS_RESOURCE):
            raise KernelError(E.EPERM, "msg_qbytes above MSGMNB")
        ipc.set_perm(q, *perm)
        q.qbytes = qbytes
        q.ctime = ipc.now_seconds(world)
        for w in ipc.live_waiters(world, q):  # expunge_all(-EAGAIN): receivers look again
            if q.waiters[w][0] == RECV:
                ipc.rerun(world, w, q)
        _ss_wakeup(world, q, False)
        return 0
    raise KernelError(E.EINVAL, f"bad msgctl command {cmd}")


def is_msgctl_cmd(cmd: int) -> bool:
    return cmd in (IPC_STAT, MSG_STAT, MSG_STAT_ANY, IPC_INFO, MSG_INFO, IPC_RMID, IPC_SET)


__all__ = ["MsgQueue", "msgget", "msgsnd", "check_send", "msgrcv", "msginfo", "stat",
           "msgctl_down", "is_msgctl_cmd", "find_msg", "convert_mode"]
