"""POSIX message queues as files (Linux: ipc/mqueue.c; gVisor: pkg/sentry/fsimpl/mqfs and
kernel/mq).

An :class:`MQueue` is the queue's inode (mqueue filesystem): its attributes, its messages by
priority (highest first, oldest first within one priority) and the process registered for
mq_notify. An :class:`MQueueFile` is an open description of it (mq_open's fd): readable when a
message is there, writable when there is room (poll, select, epoll see that), and ``read()``
gives the queue's status line as Linux's does. Naming, permissions, notification and blocking are
the kernel's (systems/ipc_mqueue.py, syscalls/sys_mqueue.py).
"""
from __future__ import annotations

import time

from ecs_kernel import abi
from ecs_kernel.abi import S_IFREG
from ecs_kernel.checkpoint_objects import state_class, state_global
from ecs_kernel.fs.file import FileDescription
from ecs_kernel.fs.inodes import DirInode, Inode, SuperBlock
from ecs_kernel.fs.stat import makedev


@state_class
class MQueue(Inode):
    """mqueue_inode_info: attributes, messages ``(priority, data)`` and the notification
    (``notify_tg``: the registered thread group row, -1 for none; its signal and value)."""

    ftype = S_IFREG

    __state__ = {"name": "str", "maxmsg": "int", "msgsize": "int",
                 "messages": "list[(int,bytes)]", "notify_tg": "int", "notify_pid": "int",
                 "notify_kind": "int", "notify_signo": "int", "notify_value": "int",
                 "unlinked": "bool"}

    def __init__(self, name: str, mode: int, uid: int, gid: int, maxmsg: int, msgsize: int):
        super().__init__(_mqueuefs, mode, uid, gid)
        self.name = name
        self.maxmsg = maxmsg
        self.msgsize = msgsize
        self.messages: list[tuple[int, bytes]] = []
        self.notify_tg = -1
        self.notify_pid = 0
        self.notify_kind = abi.SIGEV_NONE
        self.notify_signo = 0
        self.notify_value = 0
        self.unlinked = False

    @property
    def curmsgs(self) -> int:
        return len(self.messages)

    @property
    def qsize(self) -> int:
        return sum(len(d) for _p, d in self.messages)

    def full(self) -> bool:
        return len(self.messages) >= self.maxmsg

    def insert(self, prio: int, data: bytes) -> None:
        """msg_insert: after every message of the same or a higher priority."""
        i = len(self.messages)
        while i > 0 and self.messages[i - 1][0] < prio:
            i -= 1
        self.messages.insert(i, (prio, bytes(data)))

    def take(self) -> tuple[int, bytes]:
        """msg_get: the oldest message of the highest priority."""
        return self.messages.pop(0)

    def open_description(self, flags: int, path: str):
        """open(2) of the queue's name in an mqueue mount: a queue description like mq_open's."""
        return MQueueFile(self, flags)

    def status_line(self) -> bytes:
        """What read() of the fd shows (mqueue_read_file)."""
        return (f"QSIZE:{self.qsize:<10d} NOTIFY:{self.notify_kind if self.notify_tg >= 0 else 0:<5d} "
                f"SIGNO:{self.notify_signo if self.notify_tg >= 0 else 0:<5d} "
                f"NOTIFY_PID:{self.notify_pid if self.notify_tg >= 0 else 0:<6d}\n").encode()


@state_class
class MQueueFile(FileDescription):
    """An open message queue (mq_open's fd)."""

    rw_iter = (False, False)  # mqueue_read_file is a .read

    seekable = False

    __state__ = {"queue": "@MQueue"}

    def __init__(self, queue: MQueue, flags: int):
        super().__init__(queue, flags, f"/{queue.name}")
        self.queue = queue

    def _read(self, n: int) -> bytes:
        line = self.queue.status_line()
        if self.offset >= len(line):
            return b""
        out = line[self.offset:self.offset + n]
        self.offset += len(out)
        return out

    def readable(self) -> bool:
        return bool(self.queue.messages)

    def writable(self) -> bool:
        return not self.queue.full()

    def poll(self) -> int:
        """mqueue_poll_file: IN with a message, OUT with room."""
        mask = 0
        if self.queue.messages:
            mask |= abi.POLLIN | abi.POLLRDNORM
        if not self.queue.full():
            mask |= abi.POLLOUT | abi.POLLWRNORM
        return mask


@state_class
class MQueueRoot(DirInode):
    """The root of a mount of the mqueue filesystem (``mount -t mqueue``): the queues of the
    mounter's IPC namespace (``ns``, an IPCNamespace: its ``mqueues`` by name and its
    ``unlink_queue``) as files, sticky and writable by all (S_ISVTX | 0777). Opening a name
    gives the queue's description; unlink(2) is mq_unlink. Creating a queue by open(O_CREAT)
    here is not modelled (EPERM)."""

    __state__ = {"ns": "@IPCNamespace"}
    unlinkable = True

    def __init__(self, ns):
        super().__init__(_mqueuefs, abi.S_ISVTX | 0o777)
        self.ns = ns

    def lookup(self, name: str) -> Inode | None:
        return self.ns.mqueues.get(name)

    def list_entries(self) -> list[tuple[str, int, int]]:
        return [(name, q.ino, abi.DT_REG) for name, q in sorted(self.ns.mqueues.items())]

    def remove(self, name: str) -> None:
        self.ns.unlink_queue(name)


_mqueuefs = SuperBlock("mqueue", makedev(0, 19), time.time_ns)
state_global("mqueue._mqueuefs", _mqueuefs)

__all__ = ["MQueue", "MQueueFile", "MQueueRoot"]
