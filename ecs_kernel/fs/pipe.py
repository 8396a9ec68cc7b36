"""Pipes with Linux's semantics (pipe(7), fs/pipe.c), without blocking the Python thread.

A :class:`Pipe` is a ring of page buffers: 16 slots of 4096 bytes (65536 bytes) by default, like
Linux. A write first merges its tail (``len % 4096`` bytes) into the last page if it fits, then fills
whole new pages, one per free slot, so

- a write of at most PIPE_BUF (4096) bytes is atomic: it needs one merge or one free slot, and when
  neither is there nothing is written and it raises EAGAIN;
- a larger write writes what fits and returns the count (EAGAIN only when nothing fit);
- a read takes what is there, up to ``n``; on an empty pipe it returns b"" (EOF) when no writer is
  left, else raises EAGAIN;
- a write with no reader left raises :class:`BrokenPipe` (errno EPIPE, ``sigpipe = True``): the
  kernel sends SIGPIPE to the writing thread, as pipe_write does, and returns -EPIPE.

See ecs_kernel.fs.file for the EAGAIN/readable()/writable() convention the kernel blocks tasks by.
Reader and writer counts are descriptions, not fds: a :class:`PipeFile` counts itself in at creation
and out at ``release()`` (the kernel calls it when the last fd sharing the description closes).

Named pipes (fifo(7)) are :class:`FifoInode`s in the file tree (mknod S_IFIFO): the same
:class:`Pipe` and :class:`PipeFile` carry their data. The pipe lives with the inode while any end
is open (fs/pipe.c's ``pipe_inode_info`` of the inode) and goes with the last end, its data with
it. ``fifo_open``'s rules are :meth:`FifoInode.open_description` (ENXIO for a non-blocking writer
without a reader) and :meth:`PipeFile.partner_wait` (a blocking reader waits for a writer, a
writer for a reader, by the pipe's ``w_counter``/``r_counter``, as ``wait_for_partner`` does); the
kernel blocks the opener as a row (syscalls/sys_file.py).
"""
from __future__ import annotations

import struct
import time
from collections import deque

from ecs_kernel.abi import O_ACCMODE, O_CLOEXEC, O_DIRECT, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY, S_IFIFO
from ecs_kernel import abi
from ecs_kernel.checkpoint_objects import state_class, state_global
from ecs_kernel.errors import E, KernelError
from ecs_kernel.fs.stat import makedev
from ecs_kernel.fs.file import FileDescription, WaitQueue, queue_of
from ecs_kernel.fs.inodes import Inode, SuperBlock

PAGE = abi.PAGE_SIZE
DEFAULT_SLOTS = 16          # PIPE_DEF_BUFFERS
PIPE_MAX_SIZE = 1 << 20     # /proc/sys/fs/pipe-max-size: the unprivileged F_SETPIPE_SZ limit
# An io_waits event no file's poll() has: "the FIFO this open waits on got its partner"
# (fs/locks.LOCK_WAIT is 1 << 30).
FIFO_OPEN_WAIT = 1 << 29


class BrokenPipe(KernelError):
    """EPIPE from a pipe write: the kernel must also send SIGPIPE to the writer."""

    sigpipe = True

    def __init__(self, message: str = "no reader"):
        super().__init__(E.EPIPE, message)


@state_class
class Pipe:
    """The shared buffer of one pipe and the counts of its open ends."""

    __state__ = {"pages": "deque[bytearray]", "page_end": "deque[int]", "slots": "int",
                 "readers": "int", "writers": "int", "r_counter": "~int", "w_counter": "~int",
                 "waiters": "~@WaitQueue"}
    # how many read (write) ends were ever opened: a FIFO opener waits for its partner's to move
    r_counter = w_counter = 0

    def __restored__(self, r) -> None:
        if not (1 <= self.slots <= PIPE_MAX_SIZE // PAGE and len(self.pages) == len(self.page_end)
                <= self.slots and self.readers >= 0 and self.writers >= 0
                and all(len(p) <= e <= PAGE for p, e in zip(self.pages, self.page_end))):
            r.fail("a pipe's pages do not add up")

    def __init__(self, slots: int = DEFAULT_SLOTS):
        self.pages: deque[bytearray] = deque()  # each holds unread bytes of one page
        self.page_end: deque[int] = deque()      # position in its page where each one's data ends
        self.slots = slots
        self.readers = 0
        self.writers = 0

    @property
    def capacity(self) -> int:
        """F_GETPIPE_SZ."""
        return self.slots * PAGE

    def __len__(self) -> int:
        return sum(len(p) for p in self.pages)

    @property
    def full(self) -> bool:
        return len(self.pages) >= self.slots

    def set_capacity(self, size: int, privileged: bool = False) -> int:
        """F_SETPIPE_SZ: round up to a power-of-two number of pages; EBUSY if the data wouldn't fit."""
        if size <= 0:
            size = PAGE
        if size > (1 << 31) - 1:
            raise KernelError(E.EINVAL, "pipe size too large")
        pages = 1
        while pages * PAGE < size:
            pages *= 2
        if pages * PAGE > PIPE_MAX_SIZE and not privileged:
            raise KernelError(E.EPERM, "above pipe-max-size")
        if pages < len(self.pages):
            raise KernelError(E.EBUSY, "pipe holds more data than the new size")
        grew = pages > self.slots
        self.slots = pages
        if grew:  # pipe_resize_ring wakes the writers: a full pipe has room now
            queue_of(self).notify(abi.POLLOUT | abi.POLLWRNORM)
        return self.capacity

    def read(self, n: int) -> bytes:
        if n == 0:
            return b""
        if not self.pages:
            if self.writers == 0:
                return b""
            raise KernelError(E.EAGAIN, "pipe empty")
        was_full = self.full
        out = bytearray()
        while self.pages and len(out) < n:
            page = self.pages[0]
            take = min(n - len(out), len(page))
            out += page[:take]
            del page[:take]
            if not page:
                self.pages.popleft()
                self.page_end.popleft()
        if was_full:  # pipe_read wakes the writers when it freed a slot of a full pipe
            queue_of(self).notify(abi.POLLOUT | abi.POLLWRNORM)
        return bytes(out)

    def read_fitting(self, n: int, fits: int) -> int:
        """How many of ``n`` bytes pipe_read takes when only the first ``fits`` bytes of the
        reader's buffer can be written: it copies one pipe buffer (page) at a time and stops at
        the first that does not fit whole, leaving it in the pipe; EFAULT if that is the first.
        ``n`` when the pipe is empty (the read blocks, or sees EOF, first)."""
        if not self.pages:
            return n
        took = 0
        for page in self.pages:
            take = min(n - took, len(page))
            if took + take > fits:
                break
            took += take
            if took == n:
                break
        if not took:
            raise KernelError(E.EFAULT, "the reader's buffer faults")
        return took

    def write(self, data: bytes) -> int:
        total = len(data)
        if total == 0:
            return 0
        if self.readers == 0:
            raise BrokenPipe()
        done = 0
        chars = total & (PAGE - 1)
        if chars and self.pages and self.page_end[-1] + chars <= PAGE:
            self.pages[-1] += data[:chars]
            self.page_end[-1] += chars
            done = chars
        while done < total and not self.full:
            chunk = data[done:done + PAGE]
            self.pages.append(bytearray(chunk))
            self.page_end.append(len(chunk))
            done += len(chunk)
        if done == 0:
            raise KernelError(E.EAGAIN, "pipe full")
        # pipe_write wakes the readers after every write when the pipe is polled (epoll wants an
        # edge per write, already readable or not)
        queue_of(self).notify(abi.POLLIN | abi.POLLRDNORM)
        return done

    def readable(self) -> bool:
        return bool(self.pages) or self.writers == 0

    def writable(self) -> bool:
        return not self.full or self.readers == 0


@state_class
class PipeInode(Inode):
    """The pipefs inode of an anonymous pipe (what fstat and /proc/self/fd/N see)."""

    ftype = S_IFIFO

    __state__ = {"pipe": "@Pipe"}

    def __init__(self, sb: SuperBlock, pipe: Pipe, uid: int = 0, gid: int = 0):
        super().__init__(sb, 0o600, uid, gid)
        self.pipe = pipe

    def open_description(self, flags: int, path: str):
        """Reopening through /proc/self/fd/N gives a new end of the same pipe."""
        return PipeFile(self, flags, path)


@state_class
class PipeFile(FileDescription):
    """One end (or, opened O_RDWR, both ends) of a pipe."""

    seekable = False
    readiness_notified = True  # write, a read of a full pipe, a resize and a close wake the pipe

    __state__ = {"pipe": "@Pipe", "seen_w": "~int"}
    # A FIFO's reader opened O_NONBLOCK with no writer: the pipe's w_counter then; POLLHUP waits
    # for a writer to come (pipe_poll's ``filp->f_pipe != pipe->w_counter``). -1: no such wait.
    seen_w = -1

    def __init__(self, inode: Inode, flags: int, path: str = ""):
        super().__init__(inode, flags, path or f"pipe:[{inode.ino}]")
        self.pipe = inode.pipe
        if self.can_read:
            self.pipe.readers += 1
            self.pipe.r_counter += 1
        if self.can_write:
            self.pipe.writers += 1
            self.pipe.w_counter += 1

    @property
    def named(self) -> bool:
        """An end of a named pipe (a FIFO in the file tree)?"""
        return isinstance(self.inode, FifoInode)

    def partner_wait(self) -> int | None:
        """fifo_open: must this new end of a FIFO wait for its partner? None: no (an anonymous
        pipe, O_RDWR, a partner is there, a non-blocking reader); else the partner counter to
        wait on (:meth:`partner_arrived`): a reader waits for a writer to open, a writer for a
        reader."""
        if not self.named or (self.can_read and self.can_write):
            return None
        p = self.pipe
        if self.can_read:
            return None if p.writers or self.nonblocking else p.w_counter
        return None if p.readers else p.r_counter

    def partner_arrived(self, gen: int) -> bool:
        """Has an end of the other kind opened since the partner counter read ``gen``?"""
        p = self.pipe
        return (p.w_counter if self.can_read else p.r_counter) != gen

    def wait_queue(self) -> WaitQueue:
        """Both ends wait on the pipe's queue (pipe_poll: rd_wait and wr_wait of the pipe)."""
        return queue_of(self.pipe)

    def _read(self, n: int) -> bytes:
        return self.pipe.read(n)

    def read_fitting(self, n: int, fits: int) -> int:
        self._need_read()
        return self.pipe.read_fitting(n, fits)

    def _write(self, data: bytes) -> int:
        n = self.pipe.write(data)
        self.inode.touch(m=True, c=True)
        return n

    def readable(self) -> bool:
        return self.pipe.readable()

    def writable(self) -> bool:
        return self.pipe.writable()

    def poll(self) -> int:
        """pipe_poll(): IN when data is there, HUP without writers (reader side); OUT when a slot is
        free, ERR without readers (writer side)."""
        p = self.pipe
        mask = 0
        if self.can_read:
            if p.pages:
                mask |= abi.POLLIN | abi.POLLRDNORM
            if p.writers == 0 and self.seen_w != p.w_counter:
                mask |= abi.POLLHUP
        if self.can_write:
            if not p.full:
                mask |= abi.POLLOUT | abi.POLLWRNORM
            if p.readers == 0:
                mask |= abi.POLLERR
        return mask

    def ioctl(self, request: int, arg: bytes | int = 0) -> tuple[int, bytes | None]:
        self._need_open()
        if request == abi.FIONREAD:
            return 0, struct.pack("<i", len(self.pipe))
        raise KernelError(E.ENOTTY, "inappropriate ioctl for device")

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        if self.can_read:
            self.pipe.readers -= 1
        if self.can_write:
            self.pipe.writers -= 1
        self.notify(0)  # pipe_release wakes both sides (EOF, EPOLLHUP or EPOLLERR)
        if self.named and self.pipe.readers == 0 and self.pipe.writers == 0 \
                and self.inode.pipe is self.pipe:
            self.inode.pipe = None  # the last end: the buffer goes (put_pipe_info)


@state_class
class FifoInode(Inode):
    """A named pipe in the file tree (mknod S_IFIFO, mkfifo(3)). ``pipe`` is its buffer while any
    end is open (None when none is)."""

    ftype = S_IFIFO

    __state__ = {"pipe": "?@Pipe"}

    def __init__(self, sb: SuperBlock, mode: int = 0o644, uid: int = 0, gid: int = 0):
        super().__init__(sb, mode, uid, gid)
        self.pipe: Pipe | None = None

    def open_description(self, flags: int, path: str):
        """fifo_open's counting: a writer opened O_NONBLOCK with no reader is ENXIO; a reader
        opened O_NONBLOCK with no writer sees no POLLHUP before a writer came. Whether the new
        end waits for its partner is :meth:`PipeFile.partner_wait`, the kernel's to do."""
        acc = flags & O_ACCMODE
        if acc not in (O_RDONLY, O_WRONLY, O_RDWR):
            raise KernelError(E.EINVAL, "a FIFO opened for neither reading nor writing")
        if acc == O_WRONLY and flags & O_NONBLOCK and (self.pipe is None or self.pipe.readers == 0):
            raise KernelError(E.ENXIO, "no reader on the FIFO")
        if self.pipe is None:
            self.pipe = Pipe()
        f = PipeFile(self, flags, path)
        if acc == O_RDONLY and flags & O_NONBLOCK and self.pipe.writers == 0:
            f.seen_w = self.pipe.w_counter
        return f


_default_pipefs = SuperBlock("pipefs", makedev(0, 15), time.time_ns)
state_global("pipe._default_pipefs", _default_pipefs)


def make_pipe(flags: int = 0, sb: SuperBlock | None = None, uid: int = 0, gid: int = 0) -> tuple[PipeFile, PipeFile]:
    """pipe2(2): (read end, write end). ``flags`` may hold O_NONBLOCK, O_CLOEXEC, O_DIRECT.

    O_CLOEXEC is the caller's (an fd flag); O_DIRECT (packet mode) is accepted but not modelled.
    """
    if flags & ~(O_NONBLOCK | O_CLOEXEC | O_DIRECT):
        raise KernelError(E.EINVAL, "bad pipe2 flags")
    inode = PipeInode(sb or _default_pipefs, Pipe(), uid, gid)
    keep = flags & (O_NONBLOCK | O_DIRECT)
    return PipeFile(inode, O_RDONLY | keep), PipeFile(inode, O_WRONLY | keep)
