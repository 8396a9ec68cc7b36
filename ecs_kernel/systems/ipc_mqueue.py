"""POSIX message queues: the names of an IPC namespace, opening and unlinking, send, receive and
mq_notify (Linux: ipc/mqueue.c do_mq_open, mq_attr_ok, do_mq_timedsend, do_mq_timedreceive,
__do_notify, do_mq_notify; gVisor: kernel/mq).

The queue and its open descriptions are files (fs/mqueue.py); a namespace keeps them by name
(``IPCNamespace.mqueues``). A send or a receive that must wait is the caller's to turn into an
I/O wait on the descriptor (POLLOUT, POLLIN: syscalls/sys_mqueue.py), which the queue's ``poll``
ends; :func:`send` and :func:`receive` return None for "would wait".
"""
from __future__ import annotations

from ..abi import (CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_SYS_RESOURCE, HARD_MSGMAX, HARD_MSGSIZEMAX,
                   NAME_MAX, NR_MQ_TIMEDRECEIVE, O_ACCMODE, O_CREAT, O_EXCL, O_NONBLOCK, O_RDONLY,
                   O_RDWR, O_WRONLY, SI_MESGQ, SIGEV_NONE, SIGEV_SIGNAL, RunState, Block)
from ..errors import E, KernelError
from ..fs.mqueue import MQueue, MQueueFile
from . import fd_table, ipc, task_identity, task_signals

MQ_OPEN_FLAGS = O_ACCMODE | O_CREAT | O_EXCL | O_NONBLOCK


def _check_name(name: bytes) -> str:
    """lookup_one_len's rules for the name (glibc and musl drop the leading '/')."""
    if len(name) > NAME_MAX:
        raise KernelError(E.ENAMETOOLONG, "name too long")
    if not name or name in (b".", b"..") or b"/" in name:
        raise KernelError(E.EACCES, "bad queue name")
    return name.decode("latin-1")


def _permission(world, t: int, q: MQueue, want: int) -> bool:
    """inode_permission on the queue: ``want`` of 4 (read) and 2 (write)."""
    T = world.tasks
    fsuid, fsgid = int(T.fsuid[t]), int(T.fsgid[t])
    mode = q.mode
    if fsuid == q.uid:
        granted = mode >> 6 & 7
    elif fsgid == q.gid:
        granted = mode >> 3 & 7
    else:
        granted = mode & 7
    return not (want & ~granted) or task_identity.capable(world, t, CAP_DAC_OVERRIDE)


def mq_open(world, t: int, name: bytes, oflag: int, mode: int, umask: int,
            attr: tuple[int, int] | None) -> MQueueFile:
    """do_mq_open: the new open description (the caller installs it close-on-exec)."""
    ns = ipc.namespace_of(world, t)
    key = _check_name(name)
    q = ns.mqueues.get(key)
    acc = oflag & O_ACCMODE
    if q is not None:
        if oflag & O_CREAT and oflag & O_EXCL:
            raise KernelError(E.EEXIST, "queue exists")
        if acc == O_ACCMODE:
            raise KernelError(E.EINVAL, "bad access mode")
        want = {O_RDONLY: 4, O_WRONLY: 2, O_RDWR: 6}[acc]
        if not _permission(world, t, q, want):
            raise KernelError(E.EACCES, "permission denied")
    else:
        if not oflag & O_CREAT:
            raise KernelError(E.ENOENT, "no such queue")
        if acc == O_ACCMODE:
            raise KernelError(E.EINVAL, "bad access mode")
        if attr is None:
            maxmsg, msgsize = ns.mq_msg_default, ns.mq_msgsize_default
        else:
            maxmsg, msgsize = attr
            if maxmsg <= 0 or msgsize <= 0:
                raise KernelError(E.EINVAL, "bad attributes")
            if task_identity.capable(world, t, CAP_SYS_RESOURCE):
                if maxmsg > HARD_MSGMAX or msgsize > HARD_MSGSIZEMAX:
                    raise KernelError(E.EINVAL, "attributes above the hard limits")
            elif maxmsg > ns.mq_msg_max or msgsize > ns.mq_msgsize_max:
                raise KernelError(E.EINVAL, "attributes above the limits")
        if ns.mq_queues_count >= ns.mq_queues_max \
                and not task_identity.capable(world, t, CAP_SYS_RESOURCE):
            raise KernelError(E.ENOSPC, "queues_max reached")
        T = world.tasks
        q = MQueue(key, mode & ~umask & 0o7777, int(T.fsuid[t]), int(T.fsgid[t]), maxmsg, msgsize)
        ns.mqueues[key] = q
        ns.mq_queues_count += 1
    return MQueueFile(q, oflag & (O_ACCMODE | O_NONBLOCK))


def mq_unlink(world, t: int, name: bytes) -> int:
    """Implements mq_unlink(2): the name goes; open descriptors keep the queue."""
    ns = ipc.namespace_of(world, t)
    key = _check_name(name)
    q = ns.mqueues.get(key)
    if q is None:
        raise KernelError(E.ENOENT, "no such queue")
    # the mqueue root is sticky and writable by all: the owner, or CAP_FOWNER
    if int(world.tasks.fsuid[t]) != q.uid and not task_identity.capable(world, t, CAP_FOWNER):
        raise KernelError(E.EPERM, "not the owner")
    ns.unlink_queue(key)
    return 0


def queue_file(world, t: int, fd: int) -> MQueueFile:
    f = fd_table.get_file(world, t, fd)
    if not isinstance(f, MQueueFile):
        raise KernelError(E.EBADF, "not a message queue")
    return f


def _receiver_waits(world, q: MQueue) -> bool:
    """Is a task blocked in mq_timedreceive on ``q``?"""
    W, T = world.io_waits, world.tasks
    if not W.count:
        return False
    for r in W.live_rows().tolist():
        t = int(W.iw_task[r])
        if int(W.iw_nr[r]) != NR_MQ_TIMEDRECEIVE or T.run_state[t] != RunState.blocked \
                or T.block[t] != Block.IO:
            continue
        try:
            f = fd_table.get_file(world, t, int(W.iw_fd[r]))
        except KernelError:
            continue
        if isinstance(f, MQueueFile) and f.queue is q:
            return True
    return False


def send(world, t: int, f: MQueueFile, data: bytes, prio: int) -> int | None:
    """do_mq_timedsend after the message was read: 0, or None when the caller must wait."""
    q = f.queue
    if q.full():
        if f.nonblocking:
            raise KernelError(E.EAGAIN, "queue full")
        return None
    notify = q.notify_tg >= 0 and not q.messages and not _receiver_waits(world, q)
    q.insert(prio, data)
    if notify:
        _do_notify(world, t, q)
    return 0


def receive(world, t: int, f: MQueueFile) -> tuple[int, bytes] | None:
    """do_mq_timedreceive: ``(priority, data)``, or None when the caller must wait."""
    q = f.queue
    if not q.messages:
        if f.nonblocking:
            raise KernelError(E.EAGAIN, "queue empty")
        return None
    return q.take()


def _do_notify(world, t: int, q: MQueue) -> None:
    """__do_notify: a message reached an empty queue with a registered process: signal it (its
    siginfo says SI_MESGQ, the sender's pid and uid, the registered value), then forget it."""
    if q.notify_kind == SIGEV_SIGNAL:
        tg = q.notify_tg
        G = world.thread_groups
        if tg < G.n and G.alive[tg]:
            task_signals.send_group_signal(world, tg, q.notify_signo, code=SI_MESGQ,
                                           pid=ipc.tgid_of(world, t),
                                           uid=int(world.tasks.ruid[t]), value=q.notify_value)
    remove_notification(q)


def remove_notification(q: MQueue) -> None:
    q.notify_tg = -1
    q.notify_pid = 0
    q.notify_kind = SIGEV_NONE
    q.notify_signo = 0
    q.notify_value = 0


def notify(world, t: int, f: MQueueFile, sev: tuple[int, int, int] | None) -> int:
    """do_mq_notify (``sev``: value, signo, notify kind; None: unregister). SIGEV_THREAD (a
    netlink socket in Linux) is refused with EINVAL: no netlink here."""
    q = f.queue
    tg = int(world.tasks.tg[t])
    if sev is None:
        if q.notify_tg == tg:
            remove_notification(q)
        return 0
    value, signo, kind = sev
    if q.notify_tg >= 0:
        G = world.thread_groups
        if q.notify_tg < G.n and G.alive[q.notify_tg]:
            raise KernelError(E.EBUSY, "another process is registered")
    q.notify_tg = tg
    q.notify_pid = ipc.tgid_of(world, t)
    q.notify_kind = kind
    q.notify_signo = signo if kind == SIGEV_SIGNAL else 0
    q.notify_value = value
    return 0


__all__ = ["mq_open", "mq_unlink", "queue_file", "send", "receive", "notify",
           "remove_notification", "MQ_OPEN_FLAGS"]
