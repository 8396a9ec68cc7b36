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
"""
from __future__ import annotations

import struct
import time
from collections import deque

from ecs_kernel.abi import O_CLOEXEC, O_DIRECT, O_NONBLOCK, O_RDONLY, O_WRONLY, S_IFIFO
from ecs_kernel import abi
from ecs_kernel.checkpoint_objects import state_class, state_global
from ecs_kernel.errors import E, KernelError
from ecs_kernel.fs.stat import makedev
from ecs_kernel.fs.file import FileDescription, WaitQueue, queue_of
from ecs_kernel.fs.inodes import Inode, SuperBlock

PAGE = abi.PAGE_SIZE
DEFAULT_SLOTS = 16          # PIPE_DEF_BUFFERS
PIPE_MAX_SIZE = 1 << 20     # /proc/sys/fs/pipe-max-size: the unprivileged F_SETPIPE_SZ limit


class BrokenPipe(KernelError):
    """EPIPE from a pipe write: the kernel must also send SIGPIPE to the writer."""

    sigpipe = True

    def __init__(self, message: str = "no reader"):
        super().__init__(E.EPIPE, message)


@state_class
class Pipe:
    """The shared buffer of one pipe and the counts of its open ends."""

    __state__ = {"pages": "deque[bytearray]", "page_end": "deque[int]", "slots": "int",
                 "readers": "int", "writers": "int", "waiters": "~@WaitQueue"}

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
        self.slots = pages
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

    __state__ = {"pipe": "@Pipe"}

    def __init__(self, inode: PipeInode, flags: int, path: str = ""):
        super().__init__(inode, flags, path or f"pipe:[{inode.ino}]")
        self.pipe = inode.pipe
        if self.can_read:
            self.pipe.readers += 1
        if self.can_write:
            self.pipe.writers += 1

    def wait_queue(self) -> WaitQueue:
        """Both ends wait on the pipe's queue (pipe_poll: rd_wait and wr_wait of the pipe)."""
        return queue_of(self.pipe)

    def _read(self, n: int) -> bytes:
        return self.pipe.read(n)

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
            if p.writers == 0:
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
