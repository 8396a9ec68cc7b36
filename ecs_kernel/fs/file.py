"""Open file descriptions (gVisor: vfs.FileDescription; Linux: struct file).

A description holds the access mode and status flags, the offset, and the inode. File descriptors
(the FD table, O_CLOEXEC) belong to the kernel; several fds and several tasks may share one
description (dup, fork). The kernel calls ``release()`` once, when the last fd referring to the
description is closed: pipes count their reader and writer ends there.

Blocking convention (never a Python stack, DESIGN principle 3): an operation that would block
raises ``KernelError(EAGAIN)`` whatever O_NONBLOCK says. If the description is O_NONBLOCK
(``nonblocking``), the kernel returns EAGAIN to the guest; otherwise it blocks the task as data and
retries when ``readable()`` / ``writable()`` turns true. A blocking write that returned a short count
must be continued by the kernel with the rest of the buffer (Linux writes it all before returning).

Descriptions sit below the inodes (fs/inodes.py, whose ``open_description`` makes them): they
reach their ``inode`` (an fs/inodes.py ``Inode``, or None) only through its methods. The host's
stdio passed through is fs/stdio.py.

``ioctl(request, arg)`` returns ``(retval, out)``: ``out`` is ``None`` or the bytes the kernel copies
to the guest's ``arg`` pointer. Requests a description does not know give ENOTTY, as Linux does. The
generic requests FIOCLEX, FIONCLEX, FIONBIO and FIOASYNC are the kernel's to handle before calling
here (as do_vfs_ioctl does), with the FD table and ``set_status_flags``.
"""
from __future__ import annotations

import os
import struct

from ecs_kernel.abi import (IN_ACCESS, IN_MODIFY, O_ACCMODE, O_APPEND, O_NONBLOCK, O_PATH, O_RDONLY, O_RDWR, O_WRONLY,
                            OPEN_ONLY_FLAGS, SEEK_CUR, SEEK_DATA, SEEK_END, SEEK_HOLE, SEEK_SET,
                            SETFL_MASK)
from ecs_kernel import abi
from ecs_kernel.checkpoint_objects import state_class
from ecs_kernel.errors import E, KernelError
from ecs_kernel.fs import locks, notify
from ecs_kernel.fs.stat import Stat


@state_class
class WaitQueue:
    """Where a file announces that its readiness may have changed (gVisor: ``waiter.Queue``;
    Linux: the ``wait_queue_head`` its ``poll`` registers on, woken with a key of poll events).

    Nothing sleeps here (a blocked task is an io_waits row that polls again): what is kept is
    *when* the file was last woken for each event bit, counted in notifications (``seq``), so
    an edge-triggered epoll interest (syscalls/sys_epoll.py) can tell "woken since I last
    reported" — a second write to a pipe that is already readable is a new edge, as on Linux."""

    __state__ = {"seq": "int", "last": "list[int]"}

    BITS = 16  # the poll event bits a wakeup key carries (EPOLLIN .. EPOLLRDHUP)
    # Every queue's notifications so far, in this process: the run loop asks whether any file
    # was woken during a syscall (Machine.after_syscall) before polling the I/O waiters again.
    # Not kernel state (a checkpoint does not need it: the waiters are polled at a restore).
    wakeups = 0

    def __init__(self):
        self.seq = 0
        self.last = [0] * self.BITS  # last[i]: seq of the latest wakeup whose key had bit i

    def __restored__(self, r) -> None:
        if len(self.last) != self.BITS or not all(0 <= v <= self.seq for v in self.last):
            r.fail("a wait queue's wakeups do not add up")

    @classmethod
    def changed(cls) -> None:
        """Readiness somewhere may have changed with no queue of ours to wake (a file's last
        reference went, a socket call ran): count a wakeup, so that the next look at the I/O
        waiters polls them all (systems/io_wait.py), and make no edge for epoll."""
        cls.wakeups += 1

    def notify(self, mask: int) -> None:
        """Wake the queue with the events ``mask`` (0: every event, as ``wake_up`` with no key)."""
        mask &= (1 << self.BITS) - 1
        WaitQueue.wakeups += 1
        self.seq += 1
        last, seq = self.last, self.seq
        for i in range(self.BITS):
            if not mask or mask >> i & 1:
                last[i] = seq

    def notified_since(self, seq: int, mask: int) -> bool:
        """Was the queue woken with one of the events ``mask`` after notification ``seq``?"""
        if self.seq <= seq:
            return False
        last = self.last
        return any(last[i] > seq for i in range(self.BITS) if mask >> i & 1)


def queue_of(obj) -> WaitQueue:
    """``obj``'s wait queue (its ``waiters``), made on first use."""
    q = obj.__dict__.get("waiters")
    if q is None:
        q = obj.waiters = WaitQueue()
    return q


@state_class
class FileDescription:
    """Base description: the flag checks every file shares; data operations say EINVAL."""

    seekable = True
    is_terminal = False  # a terminal: the console's job control applies (systems/tty.py)
    # Every change that makes this file more ready (poll() gains a bit) counts a wakeup in the
    # same call (a queue's notify, or WaitQueue.changed), and time moves it only as wake_at
    # says: a task blocked on it need not be polled again until one is counted (systems/
    # io_wait.py's quiet look). False, the safe answer, for a file whose readiness moves with
    # the host, the polling task or a clock it does not tell (a host pipe, a signalfd, a timerfd).
    readiness_notified = False
    clocked = False  # its state moves with the kernel clock (a timerfd): sync it before a read
    # A blocking write that wrote some bytes and then found no reader returns them; pipe_write
    # still sends SIGPIPE, a socket's sendmsg does not.
    sigpipe_after_partial_write = True
    # A file whose read(2) copies out as it takes and leaves in place what did not fit (a pipe:
    # whole pipe buffers at a time) says how much to take for a buffer that faults after its
    # first ``fits`` bytes: ``read_fitting(n, fits)`` (PipeFile's); None: the read takes ``n``
    read_fitting = None
    # What preadv2/pwritev2's RWF_* flags depend on (kiocb_set_rw_flags), as (read, write): a
    # read/write method at all (FMODE_CAN_READ/WRITE: EINVAL without), read_iter/write_iter
    # (without them only RWF_HIPRI is taken); and FMODE_NOWAIT (RWF_NOWAIT). Measured on Linux
    # 6.18 for each kind of file (tests/guests/src/rwv2.c).
    rw_ops = (True, True)
    rw_iter = (True, True)
    rw_nowait = True
    # splice_read / splice_write (what sendfile and splice need, fs/splice.c): most files have
    # them through read_iter and write_iter (copy_splice_read, iter_file_splice_write)
    splice_ops: tuple[bool, bool] | None = None  # (read, write); None: as rw_iter

    def can_splice(self, write: bool) -> bool:
        return (self.splice_ops or self.rw_iter)[write]

    __state__ = {"inode": "@Inode", "flags": "int", "path": "str", "offset": "int",
                 "released": "bool", "_fd_refs": "~int", "_in_flight": "~int",
                 "fown_type": "~int", "fown_id": "~int", "fsig": "~int", "fasync_fd": "~int",
                 "fasync_seen": "~int", "dentry": "~(@DirInode,str)", "waiters": "~@WaitQueue",
                 "f_cred": "~list[int]", "f_cred_ns": "~int"}
    # signal-driven I/O (systems/fasync.py): no owner, plain SIGIO, until fcntl sets them
    fown_type, fown_id, fsig, fasync_fd, fasync_seen = -1, 0, 0, -1, 0

    def __init__(self, inode, flags: int, path: str = ""):
        self.inode = inode
        self.flags = flags & ~OPEN_ONLY_FLAGS
        self.path = path  # the guest path it was opened by (for /proc/self/fd), best effort
        self.offset = 0
        self.released = False
        if inode is not None:
            notify.opened(self)

    def __restored__(self, r) -> None:
        """Read from a checkpoint: the inode's open files (derived, weak) know it again."""
        if self.inode is not None:
            notify.opened(self)

    # -- flags ---------------------------------------------------------------------------------
    @property
    def accmode(self) -> int:
        return self.flags & O_ACCMODE

    @property
    def is_path(self) -> bool:
        return bool(self.flags & O_PATH)

    @property
    def can_read(self) -> bool:
        return not self.is_path and self.accmode in (O_RDONLY, O_RDWR)

    @property
    def can_write(self) -> bool:
        return not self.is_path and self.accmode in (O_WRONLY, O_RDWR)

    @property
    def nonblocking(self) -> bool:
        return bool(self.flags & O_NONBLOCK)

    def get_status_flags(self) -> int:
        """fcntl(F_GETFL)."""
        return self.flags

    def set_status_flags(self, flags: int) -> None:
        """fcntl(F_SETFL): only O_APPEND, O_NONBLOCK, O_ASYNC, O_DIRECT, O_NOATIME change."""
        if self.is_path:
            raise KernelError(E.EBADF, "O_PATH description")
        self.flags = (self.flags & ~SETFL_MASK) | (flags & SETFL_MASK)

    def _need_open(self) -> None:
        if self.is_path:
            raise KernelError(E.EBADF, "O_PATH description")

    def _need_read(self) -> None:
        if not self.can_read:
            raise KernelError(E.EBADF, "not open for reading")

    def _need_write(self) -> None:
        if not self.can_write:
            raise KernelError(E.EBADF, "not open for writing")

    # -- data ----------------------------------------------------------------------------------
    def read(self, n: int) -> bytes:
        """read(2): up to ``n`` bytes at the offset, advancing it."""
        self._need_read()
        if n < 0:
            raise KernelError(E.EINVAL, "negative count")
        data = self._read(n)
        if data and ("dentry" in self.__dict__ or notify.watched(self.inode)):
            notify.file_event(self, IN_ACCESS)
        return data

    def write(self, data: bytes) -> int:
        """write(2): returns the count written."""
        self._need_write()
        n = self._write(bytes(data))
        if n > 0 and ("dentry" in self.__dict__ or notify.watched(self.inode)):
            notify.file_event(self, IN_MODIFY)
        return n

    def pread(self, n: int, offset: int) -> bytes:
        """pread64(2): read at ``offset`` without moving the file offset.

        Checks in ksys_pread64's order: negative offset (EINVAL), O_PATH (EBADF), not seekable
        (ESPIPE), not open for reading (EBADF)."""
        if offset < 0 or n < 0:
            raise KernelError(E.EINVAL, "negative offset")
        self._need_open()
        if not self.seekable:
            raise KernelError(E.ESPIPE, "not seekable")
        self._need_read()
        data = self._pread(n, offset)
        if data and ("dentry" in self.__dict__ or notify.watched(self.inode)):
            notify.file_event(self, IN_ACCESS)
        return data

    def pwrite(self, data: bytes, offset: int) -> int:
        """pwrite64(2), with pread's order of checks."""
        if offset < 0:
            raise KernelError(E.EINVAL, "negative offset")
        self._need_open()
        if not self.seekable:
            raise KernelError(E.ESPIPE, "not seekable")
        self._need_write()
        n = self._pwrite(bytes(data), offset)
        if n > 0 and ("dentry" in self.__dict__ or notify.watched(self.inode)):
            notify.file_event(self, IN_MODIFY)
        return n

    def lseek(self, offset: int, whence: int) -> int:
        """lseek(2): the new offset. EINVAL for a bad whence or a negative result."""
        self._need_open()
        if not self.seekable:
            raise KernelError(E.ESPIPE, "not seekable")
        if whence == SEEK_SET:
            new = offset
        elif whence == SEEK_CUR:
            new = self.offset + offset
        elif whence == SEEK_END:
            new = self._end() + offset
        elif whence in (SEEK_DATA, SEEK_HOLE):
            size = self._end()
            if offset < 0 or offset >= size:
                raise KernelError(E.ENXIO, "offset beyond the data")
            new = offset if whence == SEEK_DATA else size  # all data, one hole at EOF
        else:
            raise KernelError(E.EINVAL, "bad whence")
        if new < 0 or new > abi.MAX_LFS_FILESIZE:
            raise KernelError(E.EINVAL, "resulting offset out of range")
        self.offset = new
        return new

    def _read(self, n: int) -> bytes:
        raise KernelError(E.EINVAL, "not readable")

    def noop_lseek(self, offset: int, whence: int) -> int:
        """Linux noop_llseek (eventfd, timerfd): the offset, unchanged, whatever is asked."""
        self._need_open()
        return self.offset

    def _write(self, data: bytes) -> int:
        raise KernelError(E.EINVAL, "not writable")

    def _pread(self, n: int, offset: int) -> bytes:
        raise KernelError(E.EINVAL, "not readable")

    def _pwrite(self, data: bytes, offset: int) -> int:
        raise KernelError(E.EINVAL, "not writable")

    def _end(self) -> int:
        return self.inode.size if self.inode is not None else 0

    # -- metadata and the rest -------------------------------------------------------------------
    def fstat(self) -> Stat:
        return self.inode.stat()

    def getdents64(self, bufsize: int) -> bytes:
        self._need_open()
        raise KernelError(E.ENOTDIR, "not a directory")

    def truncate(self, length: int) -> None:
        """ftruncate(2). EINVAL unless open for writing on a regular file."""
        self._need_open()
        if not self.can_write:
            raise KernelError(E.EINVAL, "not open for writing")
        raise KernelError(E.EINVAL, "cannot truncate this file")

    def ioctl(self, request: int, arg: bytes | int = 0) -> tuple[int, bytes | None]:
        self._need_open()
        raise KernelError(E.ENOTTY, "inappropriate ioctl for device")

    def readable(self) -> bool:
        """Would read() return now rather than EAGAIN?"""
        return True

    def writable(self) -> bool:
        """Would write() make progress now rather than EAGAIN?"""
        return True

    def poll(self) -> int:
        """The poll(2) revents bits ready now (POLLIN, POLLOUT, POLLHUP, POLLERR, ...), before masking
        with the requested events: from :meth:`readable` and :meth:`writable` (regular files,
        directories and devices are always ready: DEFAULT_POLLMASK)."""
        mask = 0
        if self.readable():
            mask |= abi.POLLIN | abi.POLLRDNORM
        if self.writable():
            mask |= abi.POLLOUT | abi.POLLWRNORM
        return mask

    def poll_task(self, world, task: int) -> int:
        """:meth:`poll` as task ``task`` of ``world`` sees it: the same for most files; a
        signalfd answers for the polling task's pending signals, a timerfd reads the kernel
        clock (Linux's f_op->poll runs as ``current``)."""
        return self.poll()

    def read_task(self, world, task: int, n: int) -> bytes:
        """read(2) by task ``task``: :meth:`read` for most files (a signalfd dequeues the
        reader's signals, a timerfd counts on the kernel clock)."""
        return self.read(n)

    def wake_at(self, world) -> int | None:
        """The kernel time (``world.now_ns``'s clock) at which this file becomes ready by itself
        (a timerfd's next expiry), for the run loop to tick then; None: only an event does."""
        return None

    def fdinfo(self, world) -> str:
        """The lines /proc/PID/fdinfo/FD shows after pos, flags and mnt_id (eventfd-count,
        a timerfd's clock and ticks, a signalfd's sigmask, inotify watches)."""
        return ""

    def host_fds(self, events: int) -> tuple[list[int], list[int]]:
        """Host fds whose readiness decides this file's (for reading, for writing), for the run
        loop to sleep on when every task waits: none for files the kernel alone makes ready."""
        return [], []

    def wait_queue(self) -> WaitQueue:
        """The queue this file's readiness changes are announced on: its own by default; the
        ends of a pipe share the pipe's."""
        return queue_of(self)

    def notify(self, mask: int) -> None:
        """The file's readiness for ``mask`` (0: anything) may have changed: wake its queue."""
        self.wait_queue().notify(mask)

    def release(self) -> None:
        """The last fd went away."""
        self.released = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path or self.inode!r} flags={self.flags:#o} off={self.offset}>"


def drop_ref(f: FileDescription, owner: int = -1) -> None:
    """One reference to ``f`` (an fd, or a message in flight) went away: the last calls
    ``release()`` (Linux fput). ``owner``: the fd table whose fd it was (filp_close drops that
    table's record locks on the inode, fs/locks.py)."""
    if owner >= 0:
        locks.on_close(f, owner)
    WaitQueue.changed()  # a task blocked on the fd finds it closed; a peer may hang up
    f._fd_refs -= 1
    if f._fd_refs == 0:
        locks.on_release(f)
        inode = getattr(f, "inode", None)
        if "dentry" in f.__dict__ or notify.watched(inode) or (
                inode is not None and inode.__dict__.get("delete_self_pending")):
            notify.closed(f)
        f.release()


def hold_in_flight(f: FileDescription) -> None:
    """A SCM_RIGHTS message queued on a socket holds ``f`` until it is received or dropped."""
    f._fd_refs = getattr(f, "_fd_refs", 0) + 1
    f._in_flight = getattr(f, "_in_flight", 0) + 1


def drop_in_flight(f: FileDescription) -> None:
    """The message holding ``f`` was received (its fds installed anew) or dropped."""
    f._in_flight -= 1
    drop_ref(f)


@state_class
class RegularFileDescription(FileDescription):
    """A regular file of the overlay or tmpfs (host-backed reads until copy-up)."""

    rw_nowait = False  # tmpfs files are not FMODE_NOWAIT

    __state__ = {}

    def _read(self, n: int) -> bytes:
        data = self.inode.read_at(self.offset, n)
        self.offset += len(data)
        return data

    def _write(self, data: bytes) -> int:
        if not data:  # generic_write_checks returns before O_APPEND moves the offset
            return 0
        if self.flags & O_APPEND:
            self.offset = self.inode.size
        n = self.inode.write_at(self.offset, data)
        self.offset += n
        return n

    def _pread(self, n: int, offset: int) -> bytes:
        return self.inode.read_at(offset, n)

    def _pwrite(self, data: bytes, offset: int) -> int:
        if self.flags & O_APPEND:  # Linux appends even for pwrite on O_APPEND (see pwrite(2) BUGS)
            offset = self.inode.size
        return self.inode.write_at(offset, data)

    def truncate(self, length: int) -> None:
        self._need_open()
        if not self.can_write:
            raise KernelError(E.EINVAL, "not open for writing")
        self.inode.truncate(length)
        notify.file_event(self, IN_MODIFY, through_path=False)

    def ioctl(self, request: int, arg: bytes | int = 0) -> tuple[int, bytes | None]:
        self._need_open()
        if request == abi.FIONREAD:
            return 0, struct.pack("<i", max(0, min(self.inode.size - self.offset, 0x7FFFFFFF)))
        raise KernelError(E.ENOTTY, "inappropriate ioctl for device")


@state_class
class SnapshotDescription(FileDescription):
    """A /proc file's bytes, made as seq_file makes them: at the first read, and again at every
    read from offset 0 (seq_read_iter starts over there), so a file opened before a change and
    read after it shows the change; reads past 0 continue the bytes made last. Writes give
    EINVAL. ``content`` (given: fixed bytes, never made again) is None until the first read."""

    rw_iter = (False, True)  # proc files: .read, no read_iter (RWF_* but HIPRI: EOPNOTSUPP)

    def can_splice(self, write: bool) -> bool:
        """Most /proc and /sys files splice (copy_splice_read); a process's own files do not
        (proc_single_file_operations and its kin: ``DataFile.splice_read``)."""
        return not write and self.inode.splice_read

    __state__ = {"content": "?bytes", "fixed": "bool"}

    def __init__(self, inode, flags: int, path: str, content: bytes | None = None):
        super().__init__(inode, flags, path)
        self.content = content
        self.fixed = content is not None

    def _bytes(self, offset: int) -> bytes:
        if not self.fixed and (self.content is None or offset == 0):
            self.content = bytes(self.inode.content_fn())
        return self.content

    def _read(self, n: int) -> bytes:
        data = self._bytes(self.offset)[self.offset:self.offset + n]
        self.offset += len(data)
        return data

    def _pread(self, n: int, offset: int) -> bytes:
        return self._bytes(offset)[offset:offset + n]

    def _end(self) -> int:
        return len(self._bytes(-1))

    def lseek(self, offset: int, whence: int) -> int:
        """seq_lseek: SEEK_SET and SEEK_CUR only (the end of generated bytes is not known
        before they are read); a negative result EINVAL. sysfs and sysctl files
        (``seek_end``) seek from their reported size too, as generic_file_llseek."""
        self._need_open()
        if whence == SEEK_SET:
            new = offset
        elif whence == SEEK_CUR:
            new = self.offset + offset
        elif whence == SEEK_END and self.inode.seek_end:
            new = self.inode.size + offset
        else:
            raise KernelError(E.EINVAL, "a /proc file seeks from its start or position only")
        if new < 0:
            raise KernelError(E.EINVAL, "negative offset")
        self.offset = new
        return new


def _dirent64(ino: int, off: int, dtype: int, name: bytes) -> bytes:
    reclen = (19 + len(name) + 1 + 7) & ~7  # d_ino 8, d_off 8, d_reclen 2, d_type 1, name, NUL
    return struct.pack("<QqHB", ino, off, reclen, dtype) + name + bytes(reclen - 19 - len(name))


@state_class
class DirectoryDescription(FileDescription):
    """An open directory: getdents64 over a snapshot taken at the first read (or after rewind).

    The offset is an index into that snapshot: d_off of each record is the index of the next one,
    so telldir/seekdir (lseek SEEK_SET to a d_off) continue where they left off.
    """

    rw_iter = (False, True)  # generic_read_dir is a .read
    splice_ops = (False, False)

    __state__ = {"_snapshot": "?list[(bytes,int,int)]"}

    def __init__(self, inode, flags: int, path: str = ""):
        super().__init__(inode, flags, path)
        self._snapshot: list[tuple[bytes, int, int]] | None = None

    def read(self, n: int) -> bytes:
        self._need_read()
        raise KernelError(E.EISDIR, "is a directory")

    def _pread(self, n: int, offset: int) -> bytes:
        raise KernelError(E.EISDIR, "is a directory")

    def lseek(self, offset: int, whence: int) -> int:
        self._need_open()
        if whence == SEEK_SET:
            new = offset
        elif whence == SEEK_CUR:
            new = self.offset + offset
        elif whence == SEEK_END and getattr(self.inode, "generic_llseek", False):
            new = offset  # /proc and /sys directories: generic_file_llseek at size 0
        else:  # tmpfs (dcache_dir_lseek) knows only SET and CUR
            raise KernelError(E.EINVAL, "bad whence for a directory")
        if new < 0:
            raise KernelError(E.EINVAL, "negative offset")
        if new == 0:
            self._snapshot = None  # rewinddir sees entries added since
        self.offset = new
        return new

    def _entries(self) -> list[tuple[bytes, int, int]]:
        if self._snapshot is None:
            self._snapshot = [(os.fsencode(name), ino, dt) for name, ino, dt in self.inode.listing()]
        return self._snapshot

    def getdents64(self, bufsize: int) -> bytes:
        """getdents64(2): packed linux_dirent64 records that fit in ``bufsize`` bytes; b"" at the end."""
        self._need_open()
        if self.inode.dead:
            raise KernelError(E.ENOENT, "directory was removed")
        entries = self._entries()
        out = bytearray()
        i = self.offset
        while i < len(entries):
            name, ino, dt = entries[i]
            rec = _dirent64(ino, i + 1, dt, name)
            if len(out) + len(rec) > bufsize:
                if not out:
                    raise KernelError(E.EINVAL, "result buffer is too small")
                break
            out += rec
            i += 1
        self.offset = i
        return bytes(out)


@state_class
class PathDescription(FileDescription):
    """An O_PATH description: fstat, fchdir and *at work; everything else is EBADF."""

    __state__ = {}

    def __init__(self, inode, flags: int, path: str = ""):
        super().__init__(inode, (flags & (O_PATH | abi.O_DIRECTORY | abi.O_NOFOLLOW)) | O_PATH, path)


@state_class
class FileMapping:
    """An open file as cpu/memory.py's ``AddressSpace`` wants one for mmap: ``read_at`` and the
    open mode.

    Wraps a :class:`FileDescription` of a regular file so a MAP_SHARED writable mapping is allowed
    only when the description was opened for writing, and writes go to the inode (the overlay,
    never the host).
    """

    __state__ = {"desc": "@FileDescription", "inode": "@Inode", "readable": "bool",
                 "writable": "bool", "path": "str", "dev": "(int,int)", "ino": "int"}

    def __init__(self, desc):
        self.desc = desc
        self.inode = desc.inode
        self.readable = bool(desc.can_read)
        self.writable = bool(desc.can_write)
        self.path = desc.path
        st = self.inode.stat()
        self.dev = (os.major(st.st_dev), os.minor(st.st_dev))
        self.ino = st.st_ino

    def read_at(self, offset: int, n: int) -> bytes:
        return self.inode.read_at(offset, n)

    def write_at(self, offset: int, data: bytes) -> int:
        return self.inode.write_at(offset, data)

    def file_size(self) -> int:
        """The file's size now (pages of a mapping wholly past it fault with SIGBUS)."""
        return self.inode.size

    def content_key(self):
        """What names this file's bytes while the guest has not written them (a host file not
        copied up: its path and the host's identity and times), or None (memory files change
        under us). cpu/memory.py holds one snapshot of a segment per key (``file_snapshot``)."""
        inode = self.inode
        if getattr(inode, "lower", None) is None or getattr(inode, "data", b"") is not None:
            return None
        st = inode.stat()
        return (inode.lower, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
