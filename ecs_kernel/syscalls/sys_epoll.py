"""epoll, eventfd, memfd and a few file extras (gVisor: ``sys_epoll.go``, ``sys_eventfd.go``,
``sys_memfd.go``).

Readiness is what the descriptions' ``poll()`` says; an edge-triggered interest reports once per
wakeup of the file's wait queue (see :class:`EpollFile`), EPOLLONESHOT disarms after one report,
EPOLLEXCLUSIVE is checked as ep_ctl checks it (waking one waiter or several is the same here: every
waiter polls again), and epoll instances watching each other are refused past a cycle or
EP_MAX_NESTS levels (ELOOP). epoll_wait blocks on the epoll fd itself (readable while an interest
is ready) as an io_waits row, like poll (systems/io_wait.py).
"""
from __future__ import annotations

import struct

from ..abi import (Block, EFD_SEMAPHORE, EP_MAX_NESTS, EPOLLERR, EPOLLET, EPOLLEXCLUSIVE, EPOLLHUP,
                   EPOLLIN, EPOLLONESHOT, EPOLLOUT, EPOLLWAKEUP,
                   EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, FALLOC_FL_KEEP_SIZE,
                   MFD_ALLOW_SEALING, MFD_CLOEXEC, MFD_EXEC, MFD_NOEXEC_SEAL, O_CLOEXEC, O_NONBLOCK,
                   O_RDWR)
from .. import abi
from ..checkpoint_objects import state_class
from ..errors import E, KernelError
from ..fs.anon import AnonInode
from ..fs.file import (DirectoryDescription, FileDescription, RegularFileDescription, WaitQueue)
from ..fs.memfd import WRITE_SEALS, MemfdInode
from ..systems import fd_table, io_wait
from .context import WouldBlock, s32, s64, u32
from .registry import FULL, PARTIAL, syscall
from .sys_file import _with_sigmask, dirents

EP_MAX_EVENTS = 0x7FFF_FFFF // 12
_EVENT = struct.Struct("<IQ")  # struct epoll_event is packed on x86-64: 12 bytes


# Interest entry fields (EpollFile.interest values): Linux's struct epitem; IT_FD only in
# EpollFile.shadowed's entries (the interest dict's key holds it).
IT_FILE, IT_EVENTS, IT_DATA, IT_SEEN_SEQ, IT_SEEN_MASK, IT_FD = range(6)
# ep_ctl: with EPOLLEXCLUSIVE, only these may be asked (EPOLLEXCLUSIVE_OK_BITS)
EXCLUSIVE_OK = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE
PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE  # EP_PRIVATE_BITS


@state_class
class EpollFile(FileDescription):
    """An epoll instance (Linux struct eventpoll): the interest list, each entry
    ``[file, events, data, seen_seq, seen_mask]`` (an epitem).

    Linux keys an epitem by (file, fd): an fd closed while its file stays open (a dup) keeps
    its interest, still reporting, and the fd number reused for another file may be added
    beside it. ``interest`` holds, by fd, the entry of the file that fd held when it was last
    looked at; ``shadowed`` the others (``[..., fd]``), until their file's last close or until
    their file is back at their fd (:meth:`find`).

    Level-triggered interests report while the file's ``poll()`` has a wanted event. An
    edge-triggered one (EPOLLET) reports once per edge, as Linux's ready list holds it once per
    wakeup: when the file's wait queue (fs/file.py ``WaitQueue``) was woken for a wanted event
    since the entry last reported (``seen_seq``), or a wanted event appeared that was not there
    then (``seen_mask``: files that change with no call to wake them, a timerfd's expiry).
    EPOLLONESHOT disarms the entry after one report until EPOLL_CTL_MOD. ``nested_in``: the
    epoll instances watching this one, for the nesting limit (ep_loop_check)."""

    rw_ops = (False, False)

    seekable = False

    __state__ = {"interest": "dict[int,[@FileDescription,int,int,int,int]]",
                 "shadowed": "~list[[@FileDescription,int,int,int,int,int]]",
                 "nested_in": "~list[@EpollFile]"}

    def __init__(self, flags: int):
        super().__init__(AnonInode("eventpoll"), O_RDWR | (flags & O_CLOEXEC), "anon_inode:[eventpoll]")
        self.interest: dict[int, list] = {}
        self.shadowed: list[list] = []
        self.nested_in: list[EpollFile] = []

    def entries(self) -> list[list]:
        """Every interest entry (an epitem), the shadowed ones too."""
        return [*self.interest.values(), *self.__dict__.get("shadowed", ())]

    def find(self, fd: int, desc: FileDescription) -> list | None:
        """ep_find(ep, file, fd): the entry of (``desc``, ``fd``), or None. The entry under
        ``fd`` of another file (the fd was closed and reused) moves to ``shadowed`` while that
        file is open; a shadowed entry of ``desc`` at ``fd`` (its file is back there) returns."""
        cur = self.interest.get(fd)
        if cur is not None and cur[IT_FILE] is desc:
            return cur
        shadowed = self.__dict__.setdefault("shadowed", [])
        if cur is not None:
            del self.interest[fd]
            if not cur[IT_FILE].released:
                shadowed.append(cur + [fd])
        for i, e in enumerate(shadowed):
            if e[IT_FD] == fd and e[IT_FILE] is desc:
                del shadowed[i]
                self.interest[fd] = e = e[:IT_FD]
                return e
        return None

    def ready_events(self, maxevents: int, *, consume: bool = True, world=None,
                     task: int = -1) -> list[tuple[int, int]]:
        """``(revents, data)`` of up to ``maxevents`` ready interests (Linux ep_send_events), as
        task ``task`` of ``world`` sees them (None: as any task); ``consume``: the report is
        made (an edge is used up, an EPOLLONESHOT entry disarmed), else only looked at."""
        ready = []
        shadowed = self.__dict__.get("shadowed", [])
        for fd, entry in [*self.interest.items(), *((e[IT_FD], e) for e in shadowed)]:
            desc, want = entry[IT_FILE], entry[IT_EVENTS]
            if desc.released:  # its last close (eventpoll_release)
                if self.interest.get(fd) is entry:
                    del self.interest[fd]
                else:
                    shadowed.remove(entry)
                continue
            # what was asked (with ERR, HUP); no flag bits
            rev = (desc.poll() if world is None else desc.poll_task(world, task)) & want & 0xFFFF
            entry[IT_SEEN_MASK] &= rev  # an event that went away may come back as an edge
            if not rev or len(ready) >= maxevents:
                continue
            if want & EPOLLET:
                q = desc.wait_queue()
                if not (rev & ~entry[IT_SEEN_MASK] or q.notified_since(entry[IT_SEEN_SEQ], want)):
                    continue
                if consume:
                    entry[IT_SEEN_SEQ], entry[IT_SEEN_MASK] = q.seq, rev
            ready.append((rev, entry[IT_DATA]))
            if consume and want & EPOLLONESHOT:
                entry[IT_EVENTS] = want & PRIVATE_BITS  # disarmed: nothing reports
        return ready

    def arm(self, fd: int, desc: FileDescription, events: int, data: int) -> None:
        """EPOLL_CTL_ADD or MOD: (re)arm the entry for ``fd``; a file ready now reports once
        even edge-triggered (ep_insert/ep_modify poll it and queue it if ready)."""
        self.interest[fd] = [desc, events, data, desc.wait_queue().seq, 0]

    def poll(self) -> int:
        """An epoll fd is readable while one of its interests is ready (ep_eventpoll_poll)."""
        return abi.POLLIN | abi.POLLRDNORM if self.ready_events(1, consume=False) else 0

    def poll_task(self, world, task: int) -> int:
        ready = self.ready_events(1, consume=False, world=world, task=task)
        return abi.POLLIN | abi.POLLRDNORM if ready else 0

    def children(self) -> list["EpollFile"]:
        """The epoll instances this one watches."""
        return [e[IT_FILE] for e in self.entries()
                if isinstance(e[IT_FILE], EpollFile) and not e[IT_FILE].released]

    def depth_down(self, inserting: "EpollFile", depth: int = 0) -> int:
        """Levels of epoll instances below this one (ep_loop_check_proc): past EP_MAX_NESTS when
        ``inserting`` is among them (a cycle) or the chain is too deep."""
        result = 0
        for child in self.children():
            if child is inserting or depth > EP_MAX_NESTS:
                return EP_MAX_NESTS + 1
            result = max(result, child.depth_down(inserting, depth + 1) + 1)
        return result

    def depth_up(self, depth: int = 0) -> int:
        """Levels of epoll instances above this one (ep_get_upwards_depth_proc)."""
        if depth > EP_MAX_NESTS:
            return depth
        parents = [p for p in self.__dict__.get("nested_in", ()) if not p.released
                   and any(e[IT_FILE] is self for e in p.entries())]
        return max((p.depth_up(depth + 1) for p in parents), default=depth)

    @property
    def readiness_notified(self) -> bool:
        """Its readiness is its interests' and moves with epoll_ctl, which counts a wakeup: it
        is announced when every interest's is (not with a timerfd or a signalfd among them).
        Time moves it as its interests' wake_at says (below)."""
        return all(desc.readiness_notified for desc, *_ in self.entries() if not desc.released)

    def wake_at(self, world) -> int | None:
        times = [w for desc, want, *_ in self.entries() if want & 0xFFFF and not desc.released
                 for w in (desc.wake_at(world),) if w is not None]
        return min(times) if times else None

    def host_fds(self, events: int) -> tuple[list[int], list[int]]:
        rfds, wfds = [], []
        for desc, want, *_ in self.entries():
            r, w = desc.host_fds(want)
            rfds += r
            wfds += w
        return rfds, wfds


@state_class
class EventFile(FileDescription):
    """eventfd(2): a 64-bit counter."""

    rw_iter = (True, False)  # eventfd_read is a read_iter, eventfd_write a .write

    seekable = False
    readiness_notified = True  # the counter moves only in read and write, which wake
    MAX = (1 << 64) - 2

    __state__ = {"count": "int", "semaphore": "bool"}

    def __init__(self, initval: int, flags: int, semaphore: bool):
        super().__init__(AnonInode("eventfd"), O_RDWR | (flags & O_NONBLOCK), "anon_inode:[eventfd]")
        self.count = initval
        self.semaphore = semaphore

    def read(self, n: int) -> bytes:
        if n < 8:
            raise KernelError(E.EINVAL)
        if self.count == 0:
            raise KernelError(E.EAGAIN)
        v = 1 if self.semaphore else self.count
        self.count -= v
        self.notify(abi.POLLOUT)  # eventfd_read wakes the writers
        return struct.pack("<Q", v)

    def write(self, data: bytes) -> int:
        if len(data) != 8:  # Linux >= 6.9: exactly one counter (reads may be bigger)
            raise KernelError(E.EINVAL)
        v = struct.unpack_from("<Q", data)[0]
        if v == (1 << 64) - 1:
            raise KernelError(E.EINVAL)
        if self.count + v > self.MAX:
            raise KernelError(E.EAGAIN)
        self.count += v
        self.notify(abi.POLLIN)  # eventfd_write wakes the readers
        return 8

    lseek = FileDescription.noop_lseek

    def fdinfo(self, world) -> str:
        return f"eventfd-count: {self.count:16x}\neventfd-semaphore: {int(self.semaphore)}\n"

    def readable(self) -> bool:
        return self.count > 0

    def writable(self) -> bool:
        return self.count < self.MAX


# -- epoll ----------------------------------------------------------------------------------------------

def _new(t, desc, cloexec: bool) -> int:
    return fd_table.new_fd(t.world, t.row, desc, cloexec=cloexec)


@syscall("epoll_create", FULL, args=("i",))
def epoll_create(t, size):
    """Implements epoll_create(2)."""
    if s32(size) <= 0:
        raise KernelError(E.EINVAL)
    return _new(t, EpollFile(0), False)


@syscall("epoll_create1", FULL, args=("epollflags",))
def epoll_create1(t, flags):
    """Implements epoll_create1(2)."""
    flags = u32(flags)
    if flags & ~O_CLOEXEC:
        raise KernelError(E.EINVAL)
    return _new(t, EpollFile(flags), bool(flags & O_CLOEXEC))


def _epoll(t, epfd: int) -> EpollFile:
    ep = fd_table.get_file(t.world, t.row, s32(epfd))
    if not isinstance(ep, EpollFile):
        raise KernelError(E.EINVAL)
    return ep


@syscall("epoll_ctl", FULL, args=("fd", "epollop", "fd", "p"))
def epoll_ctl(t, epfd, op, fd, event):
    """Implements epoll_ctl(2), in do_epoll_ctl's order of checks."""
    # An interest added or re-armed that is ready makes the epoll ready at once (ep_insert and
    # ep_modify queue it and wake the epoll's waiters): count a wakeup (systems/io_wait.py).
    WaitQueue.changed()
    op, fd = s32(op), s32(fd)
    ev = _EVENT.unpack(t.mm.copy_in(event, 12)) if op != EPOLL_CTL_DEL else (0, 0)
    ep_desc = fd_table.get_file(t.world, t.row, s32(epfd))
    target = fd_table.get_file(t.world, t.row, fd)
    if isinstance(target, (RegularFileDescription, DirectoryDescription)):
        raise KernelError(E.EPERM)  # regular files and directories do not support poll
    if target is ep_desc or not isinstance(ep_desc, EpollFile):
        raise KernelError(E.EINVAL)
    events = ev[0] & ~EPOLLWAKEUP  # no CAP_BLOCK_SUSPEND here: the bit is dropped, as Linux does
    if op in (EPOLL_CTL_ADD, EPOLL_CTL_MOD) and events & EPOLLEXCLUSIVE:
        if op == EPOLL_CTL_MOD:
            raise KernelError(E.EINVAL, "EPOLLEXCLUSIVE with EPOLL_CTL_MOD")
        if isinstance(target, EpollFile) or events & ~EXCLUSIVE_OK:
            raise KernelError(E.EINVAL, "EPOLLEXCLUSIVE with an epoll file or other flags")
    if op == EPOLL_CTL_ADD and isinstance(target, EpollFile):
        if target.depth_down(ep_desc) > EP_MAX_NESTS or \
                target.depth_down(ep_desc) + 1 + ep_desc.depth_up() > EP_MAX_NESTS:
            raise KernelError(E.ELOOP, "an epoll cycle or nesting deeper than EP_MAX_NESTS")
    cur = ep_desc.find(fd, target)
    if op == EPOLL_CTL_ADD:
        if cur is not None:
            raise KernelError(E.EEXIST)
        ep_desc.arm(fd, target, events | EPOLLERR | EPOLLHUP, ev[1])
        if isinstance(target, EpollFile):
            nested = target.__dict__.setdefault("nested_in", [])
            nested[:] = [p for p in nested if not p.released and p is not ep_desc] + [ep_desc]
    elif op == EPOLL_CTL_MOD:
        if cur is None:
            raise KernelError(E.ENOENT)
        if cur[IT_EVENTS] & EPOLLEXCLUSIVE:
            raise KernelError(E.EINVAL, "the entry was added with EPOLLEXCLUSIVE")
        ep_desc.arm(fd, target, events | EPOLLERR | EPOLLHUP, ev[1])
    elif op == EPOLL_CTL_DEL:
        if cur is None:
            raise KernelError(E.ENOENT)
        del ep_desc.interest[fd]
    else:
        raise KernelError(E.EINVAL)
    return 0


def _epoll_wait(t, nr, epfd, events, maxevents, timeout_ns):
    maxevents = s32(maxevents)
    if maxevents <= 0 or maxevents > EP_MAX_EVENTS:
        raise KernelError(E.EINVAL)
    if not t.mm.access_ok(events, 12 * maxevents, write=True):
        raise KernelError(E.EFAULT)
    ep = _epoll(t, epfd)
    t.machine.sync_clock()
    ready = ep.ready_events(maxevents, world=t.world, task=t.row)
    deadline = io_wait.deadline_for(t.world, t.row, nr, timeout_ns)
    if ready or timeout_ns == 0 or io_wait.timed_out(t.world, deadline):
        if ready:
            t.mm.copy_out(events, b"".join(_EVENT.pack(*r) for r in ready))
        return len(ready)
    raise WouldBlock([(s32(epfd), EPOLLIN)], deadline, Block.POLL)


def _ms(timeout) -> int | None:
    ms = s32(timeout)
    return None if ms < 0 else ms * 1_000_000


@syscall("epoll_wait", FULL, args=("fd", "p", "i", "i"))
def epoll_wait(t, epfd, events, maxevents, timeout):
    """Implements epoll_wait(2)."""
    return _epoll_wait(t, 232, epfd, events, maxevents, _ms(timeout))


@syscall("epoll_pwait", FULL, "the signal mask holds for the call",
         args=("fd", "p", "i", "i", "p", "u"))
def epoll_pwait(t, epfd, events, maxevents, timeout, sigmask, sigsetsize):
    """Implements epoll_pwait(2)."""
    return _with_sigmask(t, sigmask, u32(sigsetsize),
                         lambda: _epoll_wait(t, 281, epfd, events, maxevents, _ms(timeout)))


@syscall("epoll_pwait2", FULL, "epoll_pwait with a timespec",
         args=("fd", "p", "i", "p", "p", "u"))
def epoll_pwait2(t, epfd, events, maxevents, tsp, sigmask, sigsetsize):
    """Implements epoll_pwait2(2)."""
    timeout = None
    if tsp:
        sec, ns = struct.unpack("<qq", t.mm.copy_in(tsp, 16))
        if sec < 0 or not 0 <= ns < 1_000_000_000:
            raise KernelError(E.EINVAL)
        timeout = sec * 1_000_000_000 + ns
    return _with_sigmask(t, sigmask, u32(sigsetsize),
                         lambda: _epoll_wait(t, 441, epfd, events, maxevents, timeout))


# -- eventfd ---------------------------------------------------------------------------------------------


@syscall("eventfd", FULL, args=("u",))
def eventfd(t, initval):
    """Implements eventfd(2)."""
    return _new(t, EventFile(u32(initval), 0, False), False)


@syscall("eventfd2", FULL, args=("u", "efdflags"))
def eventfd2(t, initval, flags):
    """Implements eventfd2(2)."""
    flags = u32(flags)
    if flags & ~(O_CLOEXEC | O_NONBLOCK | EFD_SEMAPHORE):
        raise KernelError(E.EINVAL)
    return _new(t, EventFile(u32(initval), flags, bool(flags & EFD_SEMAPHORE)),
                bool(flags & O_CLOEXEC))


# -- memfd, getdents, fallocate, readahead -----------------------------------------------------------------


@syscall("memfd_create", FULL, "an unlinked tmpfs file with seals (fcntl F_ADD_SEALS); no MFD_HUGETLB",
         args=("str", "mfdflags"))
def memfd_create(t, name, flags):
    """Implements memfd_create(2)."""
    flags = u32(flags)
    raw = t.mm.copy_in_string(name, 250)  # NAME_MAX - strlen("memfd:")
    if flags & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL | MFD_EXEC) or \
            flags & MFD_NOEXEC_SEAL and flags & MFD_EXEC:
        raise KernelError(E.EINVAL)
    if flags & MFD_NOEXEC_SEAL:  # memfd_create: not executable, sealed so, sealing allowed
        mode, seals = 0o666, abi.F_SEAL_EXEC
    else:
        mode, seals = 0o777, 0 if flags & MFD_ALLOW_SEALING else abi.F_SEAL_SEAL
    inode = MemfdInode(t.fs.tmpfs_sb, mode, seals)
    desc = inode.open_description(O_RDWR | abi.O_LARGEFILE,
                                  f"/memfd:{raw.decode(errors='replace')} (deleted)")
    return _new(t, desc, bool(flags & MFD_CLOEXEC))


@syscall("getdents", FULL, "the old linux_dirent layout", args=("fd", "odirents", "u"))
def getdents(t, fd, dirp, count):
    """Implements getdents(2)."""
    desc = fd_table.get_file(t.world, t.row, s32(fd))
    data = dirents(t, desc, dirp, count)
    out = bytearray(len(data))
    pos = 0
    while pos < len(data):
        ino, off, reclen, dtype = struct.unpack_from("<QqHB", data, pos)
        name = data[pos + 19:pos + reclen].split(b"\0", 1)[0]
        # linux_dirent: ino, off, reclen, name, NUL, padding, d_type in the last byte; the same
        # record length as linux_dirent64 (8+8+2+len+2 rounded to 8).
        struct.pack_into("<QqH", out, pos, ino, off, reclen)
        out[pos + 18:pos + 18 + len(name)] = name
        out[pos + reclen - 1] = dtype
        pos += reclen
    if out:
        t.mm.copy_out(dirp, bytes(out))
    return len(out)


@syscall("fallocate", PARTIAL, "mode 0 and FALLOC_FL_KEEP_SIZE only", args=("fd", "i", "l", "l"))
def fallocate(t, fd, mode, offset, length):
    """Implements fallocate(2)."""
    desc = fd_table.get_file(t.world, t.row, s32(fd))
    mode, offset, length = s32(mode), s64(offset), s64(length)
    if offset < 0 or length <= 0:
        raise KernelError(E.EINVAL)
    if not desc.can_write:
        raise KernelError(E.EBADF)
    if not isinstance(desc, RegularFileDescription):
        raise KernelError(E.ENODEV if not desc.seekable else E.EOPNOTSUPP)
    if mode & ~FALLOC_FL_KEEP_SIZE:
        raise KernelError(E.EOPNOTSUPP)
    if isinstance(desc.inode, MemfdInode):
        if desc.inode.seals & WRITE_SEALS:
            raise KernelError(E.EPERM, "the memfd is sealed against writes")
        if not mode & FALLOC_FL_KEEP_SIZE:
            desc.inode.check_size(max(desc.inode.size, offset + length))
    if not mode & FALLOC_FL_KEEP_SIZE and offset + length > desc.inode.size:
        desc.truncate(offset + length)
    return 0


@syscall("readahead", FULL, "nothing to read ahead: memory and the host cache", args=("fd", "l", "u"))
def readahead(t, fd, offset, count):
    """Implements readahead(2)."""
    desc = fd_table.get_file(t.world, t.row, s32(fd))
    if type(desc) is not RegularFileDescription:
        raise KernelError(E.EINVAL)
    return 0
