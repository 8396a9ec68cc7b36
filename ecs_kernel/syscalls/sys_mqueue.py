"""POSIX message queue syscalls (gVisor: ``sys_mq.go``): mq_open, mq_unlink, mq_timedsend,
mq_timedreceive, mq_notify, mq_getsetattr. The queues are files (fs/mqueue.py) named in the
caller's IPC namespace (systems/ipc_mqueue.py); a send to a full queue or a receive from an empty
one waits on the descriptor like a pipe (WouldBlock: POLLOUT, POLLIN), until the absolute
CLOCK_REALTIME timeout (ETIMEDOUT); a handler ends the wait as SA_RESTART says.
"""
from __future__ import annotations

import struct

from ..abi import (MQ_PRIO_MAX, NR_MQ_TIMEDRECEIVE, NR_MQ_TIMEDSEND, NSEC_PER_SEC, NSIG, O_CREAT,
                   O_NONBLOCK,
                   POLLIN, POLLOUT, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD)
from ..errors import E, KernelError
from ..systems import cpu_clocks, fd_table, io_wait, ipc, ipc_mqueue
from .context import WouldBlock, s32, u32
from .registry import PARTIAL, syscall

MQ_ATTR = struct.Struct("<4q32x")  # struct mq_attr: flags, maxmsg, msgsize, curmsgs, reserved
TIMESPEC = struct.Struct("<qq")
SIGEVENT_HEAD = struct.Struct("<qii")  # sigev_value, sigev_signo, sigev_notify


def _abs_timeout(t, addr: int) -> int | None:
    """prepare_timeout: the absolute CLOCK_REALTIME timeout as a kernel-clock deadline."""
    if not addr:
        return None
    sec, nsec = TIMESPEC.unpack(t.mm.copy_in(addr, TIMESPEC.size))
    if sec < 0 or not 0 <= nsec < NSEC_PER_SEC:
        raise KernelError(E.EINVAL, "bad timeout")
    t.machine.sync_clock()
    return sec * NSEC_PER_SEC + nsec - cpu_clocks.realtime_offset(t.world)


def _deadline(t, nr: int, abs_deadline: int | None) -> int:
    if abs_deadline is None:
        return io_wait.deadline_for(t.world, t.row, nr, None)
    return io_wait.deadline_for(t.world, t.row, nr, abs_deadline - t.world.now_ns)


@syscall("mq_open", PARTIAL, "queues show in mqueue mounts (none at /dev/mqueue); RLIMIT_MSGQUEUE not charged; SIGEV_THREAD "
         "notification refused (no netlink)", args=("str", "of", "m", "p"))
def mq_open(t, name, oflag, mode, attr):
    """Implements mq_open(2) (the name without glibc's leading '/')."""
    oflag = s32(oflag)
    a = None
    if attr:
        flags, maxmsg, msgsize, _cur = MQ_ATTR.unpack(t.mm.copy_in(attr, MQ_ATTR.size))
        a = (maxmsg, msgsize)
    raw = t.mm.copy_in_string(name, 4096)
    ns = ipc.namespace_of(t.world, t.row)
    existed = raw.decode("latin-1") in ns.mqueues
    f = ipc_mqueue.mq_open(t.world, t.row, raw, oflag, u32(mode), t.fsctx.umask,
                           a if oflag & O_CREAT else None)
    try:
        return fd_table.new_fd(t.world, t.row, f, cloexec=True)
    except KernelError:
        if not existed:
            ipc_mqueue.mq_unlink(t.world, t.row, raw)
        raise


@syscall("mq_unlink", PARTIAL, "the mqueue root's sticky bit: the owner or CAP_FOWNER", args=("str",))
def mq_unlink(t, name):
    """Implements mq_unlink(2)."""
    return ipc_mqueue.mq_unlink(t.world, t.row, t.mm.copy_in_string(name, 4096))


@syscall("mq_timedsend", PARTIAL, "a waiting receiver is woken to take the message (no direct "
         "handoff), waiters wake in arrival order, not by priority",
         args=("fd", "p", "u", "u", "ts"))
def mq_timedsend(t, mqdes, msg_ptr, msg_len, msg_prio, abs_timeout):
    """Implements mq_timedsend(2)."""
    if u32(msg_prio) >= MQ_PRIO_MAX:
        raise KernelError(E.EINVAL, "priority too high")
    dl = _abs_timeout(t, abs_timeout)
    fd = s32(mqdes)
    f = ipc_mqueue.queue_file(t.world, t.row, fd)
    if not f.can_write:
        raise KernelError(E.EBADF, "not open for writing")
    if msg_len > f.queue.msgsize:
        raise KernelError(E.EMSGSIZE, "message longer than mq_msgsize")
    data = t.mm.copy_in(msg_ptr, msg_len)
    deadline = _deadline(t, NR_MQ_TIMEDSEND, dl)
    r = ipc_mqueue.send(t.world, t.row, f, data, u32(msg_prio))
    if r is None:
        if io_wait.timed_out(t.world, deadline):
            raise KernelError(E.ETIMEDOUT, "timed out")
        raise WouldBlock([(fd, POLLOUT)], deadline)
    return r


@syscall("mq_timedreceive", PARTIAL, "see mq_timedsend", args=("fd", "p", "u", "p", "ts"))
def mq_timedreceive(t, mqdes, msg_ptr, msg_len, msg_prio, abs_timeout):
    """Implements mq_timedreceive(2)."""
    dl = _abs_timeout(t, abs_timeout)
    fd = s32(mqdes)
    f = ipc_mqueue.queue_file(t.world, t.row, fd)
    if not f.can_read:
        raise KernelError(E.EBADF, "not open for reading")
    if msg_len < f.queue.msgsize:
        raise KernelError(E.EMSGSIZE, "buffer shorter than mq_msgsize")
    deadline = _deadline(t, NR_MQ_TIMEDRECEIVE, dl)
    r = ipc_mqueue.receive(t.world, t.row, f)
    if r is None:
        if io_wait.timed_out(t.world, deadline):
            raise KernelError(E.ETIMEDOUT, "timed out")
        raise WouldBlock([(fd, POLLIN)], deadline)
    prio, data = r
    if msg_prio:
        t.mm.copy_out(msg_prio, struct.pack("<I", prio))
    t.mm.copy_out(msg_ptr, data)
    return len(data)


@syscall("mq_notify", PARTIAL, "SIGEV_NONE and SIGEV_SIGNAL; SIGEV_THREAD needs netlink (ENOTSOCK)",
         args=("fd", "p"))
def mq_notify(t, mqdes, sevp):
    """Implements mq_notify(2)."""
    w = t.world
    sev = None
    if sevp:
        value, signo, kind = SIGEVENT_HEAD.unpack(t.mm.copy_in(sevp, SIGEVENT_HEAD.size))
        if kind not in (SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD):
            raise KernelError(E.EINVAL, "bad sigev_notify")
        if kind == SIGEV_SIGNAL and not 0 <= signo <= NSIG:
            raise KernelError(E.EINVAL, "bad signal")
        if kind == SIGEV_THREAD:
            fd_table.get_file(w, t.row, signo)  # EBADF
            raise KernelError(E.ENOTSOCK, "SIGEV_THREAD needs a netlink socket")
        sev = (value, signo, kind)
    f = ipc_mqueue.queue_file(w, t.row, s32(mqdes))
    return ipc_mqueue.notify(w, t.row, f, sev)


@syscall("mq_getsetattr", PARTIAL, args=("fd", "p", "p"))
def mq_getsetattr(t, mqdes, newattr, oldattr):
    """Implements mq_getsetattr(2): O_NONBLOCK is the only attribute that changes."""
    new = None
    if newattr:
        new = MQ_ATTR.unpack(t.mm.copy_in(newattr, MQ_ATTR.size))
        if new[0] & ~O_NONBLOCK:
            raise KernelError(E.EINVAL, "flags other than O_NONBLOCK")
    f = ipc_mqueue.queue_file(t.world, t.row, s32(mqdes))
    q = f.queue
    old = MQ_ATTR.pack(f.flags & O_NONBLOCK, q.maxmsg, q.msgsize, q.curmsgs)
    if new is not None:
        f.flags = (f.flags & ~O_NONBLOCK) | (new[0] & O_NONBLOCK)
    if oldattr:
        t.mm.copy_out(oldattr, old)
    return 0

