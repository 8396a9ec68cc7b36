"""File syscalls: open/read/write/stat/... over the fs layer and the task's FD table.

gVisor: ``sys_file.go``, ``sys_read_write.go``, ``sys_stat.go``, ``sys_getdents.go``,
``sys_poll.go``, ``sys_pipe.go``. Linux: fs/open.c, fs/read_write.c, fs/stat.c, fs/namei.c,
fs/fcntl.c, fs/ioctl.c, fs/select.c.

Paths are copied from guest memory with CopyInString (EFAULT, ENAMETOOLONG) and resolved by the
FileSystem, which keeps them inside the guest root. ``dirfd`` arguments follow openat(2): AT_FDCWD
is the working directory, an absolute path ignores dirfd, a relative one needs a directory fd
(EBADF if not open, ENOTDIR if not a directory).
"""
from __future__ import annotations

import dataclasses
import os
import struct

from ..abi import (AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_NO_AUTOMOUNT, AT_REMOVEDIR,
                   AT_STATX_DONT_SYNC, AT_STATX_FORCE_SYNC, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW,
                   Block, FD_CLOEXEC, F_ADD_SEALS, F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_GETFL,
                   F_GETLK, F_GETOWN, F_GETSIG, F_GET_SEALS, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW,
                   F_RDLCK, F_SETFD, F_SETFL, F_SETLK, F_SETLKW, F_SETOWN, F_SETSIG, F_UNLCK,
                   F_WRLCK, LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN, NR_POLL, NR_PPOLL, NR_PSELECT6,
                   NR_SELECT, NSEC_PER_SEC,
                   O_CLOEXEC, O_NONBLOCK, PATH_MAX, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT,
                   POLLPRI, POLLRDNORM, POLLWRNORM, POSIX_FADV_NOREUSE, SEEK_HOLE,
                   STATX_BASIC_STATS, STICKY_TIMEOUTS, TASK_SIZE, TMPFS_MAGIC, UTIME_NOW, UTIME_OMIT,
                   OVERLAYFS_SUPER_MAGIC, PIPEFS_MAGIC, PROC_SUPER_MAGIC, SOCKFS_MAGIC,
                   SYSFS_MAGIC, MQUEUE_MAGIC)
from .. import abi
from ..abi import SEEK_CUR, SEEK_END, SEEK_SET
from ..errors import E, KernelError
from ..components import pidns, rlimits
from ..components.user_namespace import GID, UID
from ..fs import locks
from ..fs.file import RegularFileDescription
from ..fs.inodes import DirInode
from ..fs import notify
from ..fs.memfd import MemfdInode
from ..fs.devices import DeviceNode
from ..fs.inodes import RegularFile, SocketNode
from ..fs.pipe import FIFO_OPEN_WAIT, FifoInode, PipeFile
from ..fs.stat import makedev
from ..fs.ops import OMIT
from ..systems import fasync, fd_table, io_wait, task_identity, task_signals, tty
from ..systems import user_namespace as userns
from .context import WouldBlock, s32, s64, u32
from .registry import FULL, PARTIAL, completion, syscall
from .sys_signal import send_sig, send_sigpipe

MAX_RW_COUNT = 0x7FFF_F000
_BIG_READ = 1 << 20  # INT_MAX & PAGE_MASK: Linux clamps every read/write to this


# -- helpers -----------------------------------------------------------------------------------------

def _path(t, addr: int) -> bytes:
    return t.mm.copy_in_string(addr, PATH_MAX)


def _file(t, fd: int):
    return fd_table.get_file(t.world, t.row, s32(fd))


def _at(t, dirfd: int, path: bytes, empty_ok: bool = False):
    """The ``cwd`` argument for the fs layer: where a relative ``path`` starts. An empty path is
    ENOENT before ``dirfd`` is looked at (getname), unless the call took AT_EMPTY_PATH
    (``empty_ok``: the path names ``dirfd`` itself)."""
    if not path and not empty_ok:
        raise KernelError(E.ENOENT, "an empty path")
    if path.startswith(b"/"):
        return None
    dirfd = s32(dirfd)
    if dirfd == AT_FDCWD:
        return t.fsctx.cwd
    return fd_table.get_file(t.world, t.row, dirfd)


def _blocked_io(t, desc, write: bool, nr: int | None = None):
    """A read/write that would block: EAGAIN for O_NONBLOCK, else the task waits (as io_waits
    rows) until the file is readable or writable, and the call runs again. A socket's
    SO_RCVTIMEO/SO_SNDTIMEO bounds the wait of syscall ``nr`` (sock_rcvtimeo: EAGAIN after)."""
    if desc.nonblocking:
        raise KernelError(E.EAGAIN)
    fd = fd_table.fd_of(t.world, t.row, desc)
    waits = [(fd, (POLLOUT | POLLWRNORM) if write else (POLLIN | POLLRDNORM))]
    deadline = _io_deadline(t, desc, write, nr)
    if deadline is None:
        raise WouldBlock(waits)
    raise WouldBlock(waits, deadline)


def _io_deadline(t, desc, write: bool, nr: int | None):
    """The deadline of a read or write of ``desc`` in syscall ``nr`` that must wait: None for a
    file without a timeout (a socket's SO_SNDTIMEO/SO_RCVTIMEO, in ns; 0 is none); EAGAIN when
    it has passed."""
    timeout = getattr(desc, "sndtimeo" if write else "rcvtimeo", 0)
    if not timeout or nr is None:
        return None
    t.machine.sync_clock()
    deadline = io_wait.deadline_for(t.world, t.row, nr, timeout)
    if io_wait.timed_out(t.world, deadline):
        raise KernelError(E.EAGAIN)
    return deadline


def _check_count(count: int) -> int:
    if count >> 63:  # a negative ssize_t
        raise KernelError(E.EINVAL)
    return min(count, MAX_RW_COUNT)


def verify_area(offset: int, count: int) -> None:
    """rw_verify_area for a positioned call: EINVAL for a negative offset or an end past the
    largest offset (no file here takes unsigned offsets)."""
    if offset < 0 or offset + count > abi.OFFSET_MAX:
        raise KernelError(E.EINVAL, "the range ends past the largest file offset")


def fsize_limit(t, pos: int, count: int) -> int:
    """generic_write_check_limits: what of ``count`` bytes at ``pos`` RLIMIT_FSIZE lets through;
    a write that starts at or past the limit gets SIGXFSZ and EFBIG."""
    w = t.world
    limit = rlimits.get(w, int(w.tasks.tg[t.row]), abi.RLIMIT_FSIZE)[0]
    if limit == abi.RLIM_INFINITY:
        return count
    if pos >= limit:
        send_sig(t, abi.SIGXFSZ)
        raise KernelError(E.EFBIG, "past RLIMIT_FSIZE")
    return min(count, limit - pos)


def _check_new_size(t, length: int) -> None:
    """inode_newsize_ok: a size past RLIMIT_FSIZE gets SIGXFSZ and EFBIG."""
    w = t.world
    limit = rlimits.get(w, int(w.tasks.tg[t.row]), abi.RLIMIT_FSIZE)[0]
    if limit != abi.RLIM_INFINITY and length > limit:
        send_sig(t, abi.SIGXFSZ)
        raise KernelError(E.EFBIG, "past RLIMIT_FSIZE")


def _do_read(t, desc, buf: int, count: int, offset: int | None = None,
             nr: int | None = None) -> int:
    count = _check_count(count)
    if desc.is_terminal:
        tty.check_change(t.world, t.row, abi.SIGTTIN)  # n_tty_read's job_control
    if buf + count > TASK_SIZE:  # access_ok: the range must lie in user space
        raise KernelError(E.EFAULT)
    if count > _BIG_READ and not t.mm.access_ok(buf, count, write=True):
        raise KernelError(E.EFAULT)  # do not read gigabytes for a buffer that cannot take them
    if offset is None and type(desc) is RegularFileDescription:
        # Regular files: read at the offset and advance it only once the copy succeeded, as
        # filemap_read does (a fault leaves the offset where it was).
        desc._need_read()
        data = desc.pread(count, desc.offset) if count else b""
        if data:
            data = _copy_out_prefix(t, buf, data)
            desc.offset += len(data)
        return len(data)
    if desc.clocked:
        t.machine.sync_clock()  # a timerfd counts its expiries up to now
    if desc.read_fitting is not None and count and offset is None:
        fits = t.mm.accessible_prefix(buf, count, write=True)
        if fits < count:  # take only what the buffer holds; the rest stays (pipe_read)
            count = desc.read_fitting(count, fits)
    try:
        data = desc.read_task(t.world, t.row, count) if offset is None else desc.pread(count, offset)
    except KernelError as e:
        if e.errno == E.EAGAIN:
            _blocked_io(t, desc, False, nr)
        raise
    if data:
        data = _copy_out_prefix(t, buf, data)
    return len(data)


def _copy_out_prefix(t, buf: int, data: bytes) -> bytes:
    """CopyOut of ``data``, or of what fits before the first byte that faults (filemap_read,
    pipe_read: the count so far); EFAULT if the first byte faults. Returns what was copied."""
    try:
        t.mm.copy_out(buf, data)
        return data
    except KernelError as e:
        if e.errno != E.EFAULT:
            raise
        k = t.mm.accessible_prefix(buf, len(data), write=True)
        if not k:
            raise
        data = data[:k]
        t.mm.copy_out(buf, data)
        return data


def write_all(t, desc, data: bytes, write_some, nonblock: bool = False, deadline=None,
              sigpipe: bool = True) -> int:
    """A write that moves everything unless the file is non-blocking (pipe_write, sock_sendmsg):
    ``write_some(rest, done)`` writes some of ``rest`` (EAGAIN when nothing fits). Blocked, the
    task waits for POLLOUT with the count so far in its io_waits rows, and the call, run again,
    goes on after it (systems/io_wait.progress); a handler that interrupts it returns the count.
    A non-blocking write returns what fit, or EAGAIN. An error after some bytes returns them
    (EPIPE still sends SIGPIPE, as pipe_write does, unless ``sigpipe`` is off: MSG_NOSIGNAL)."""
    done = io_wait.progress(t.world, t.row)
    while True:
        try:
            n = write_some(data[done:], done)
        except KernelError as e:
            if e.errno == E.EAGAIN and not nonblock and not desc.nonblocking:
                break
            if done:
                if e.errno == E.EPIPE and sigpipe:
                    send_sigpipe(t)
                return done
            raise
        done += n
        if done >= len(data) or n <= 0:
            return done
    fd = fd_table.fd_of(t.world, t.row, desc)
    if deadline is None:
        raise WouldBlock([(fd, POLLOUT | POLLWRNORM)], done=done)
    raise WouldBlock([(fd, POLLOUT | POLLWRNORM)], deadline, done=done)


def _do_write(t, desc, data: bytes, offset: int | None = None, whole: bool = True,
              sigpipe: bool = True, nr: int | None = None) -> int:
    """write(2) of ``data`` (at ``offset``: pwrite). ``whole``: a blocking write waits until all
    is written; else it returns what fit, EAGAIN when nothing did (sendfile). ``sigpipe`` off
    (RWF_NOSIGNAL): EPIPE without SIGPIPE."""
    if desc.is_terminal and desc.tostop():
        tty.check_change(t.world, t.row, abi.SIGTTOU)  # n_tty_write under TOSTOP
    if isinstance(desc, RegularFileDescription) and data:
        pos = desc.inode.size if desc.flags & abi.O_APPEND else desc.offset if offset is None else offset
        data = data[:fsize_limit(t, pos, len(data))]
    try:
        if offset is not None:
            try:
                return desc.pwrite(data, offset)
            except KernelError as e:
                if e.errno == E.EAGAIN:
                    _blocked_io(t, desc, True)
                raise
        deadline = None
        if whole and not desc.nonblocking:
            try:
                deadline = _io_deadline(t, desc, True, nr)
            except KernelError:  # the timeout passed: what was written, else EAGAIN
                done = io_wait.progress(t.world, t.row)
                if done:
                    return done
                raise
        return write_all(t, desc, data, lambda rest, done: desc.write(rest), not whole,
                         deadline, sigpipe=desc.sigpipe_after_partial_write and sigpipe)
    except KernelError as e:
        if e.errno == E.EPIPE and sigpipe:
            # A pipe without readers (ours, or the host's stdout): SIGPIPE, then EPIPE if the
            # signal is ignored or blocked (pipe_write / send_sig).
            send_sigpipe(t)
        raise


# -- open / close ---------------------------------------------------------------------------------------

def cred_key(t) -> list[int]:
    """What stands for the caller's ``struct cred`` (its identity, not only its values): the
    process, the count of its credential commits (``cred_seq``: a change back to the same
    values is new creds too), then every credential. A forked child has its own creds (its
    process is part of the key); threads share theirs until one changes them."""
    w, r = t.world, t.row
    T = w.tasks
    tg = int(T.tg[r])
    cols = (T.ruid, T.euid, T.suid, T.fsuid, T.rgid, T.egid, T.sgid, T.fsgid, T.cap_effective,
            T.cap_permitted, T.cap_inheritable, T.cap_bset, T.cap_ambient, T.securebits, T.userns,
            T.cred_seq)
    return [tg, int(w.thread_groups.gen[tg]), *(int(c[r]) for c in cols),
            *task_identity.groups_of(w, r)]


def opened_by(t, desc) -> None:
    """file->f_cred: the opener's credentials, kept on the description (linkat(AT_EMPTY_PATH)
    asks whether they are still the caller's)."""
    desc.f_cred = cred_key(t)
    desc.f_cred_ns = int(t.world.tasks.userns[t.row])


def _open(t, dirfd: int, path_addr: int, flags: int, mode: int) -> int:
    w = t.world
    flags = u32(flags)
    desc = fd_table.opening(w, t.row)
    if desc is not None:
        # This call waited for a FIFO's partner and runs again: the end it made goes on.
        gen = io_wait.wait_gen(w, t.row)
    else:
        path = _path(t, path_addr)
        cwd = _at(t, dirfd, path)
        desc = t.fs.open(path, flags, mode & 0o7777, cwd=cwd, creds=t.creds(), umask=t.fsctx.umask)
        gen = desc.partner_wait() if isinstance(desc, PipeFile) else None
    if gen is not None and not desc.partner_arrived(gen):
        # fifo_open's wait_for_partner: the end is counted while its opener waits (a writer
        # opened O_NONBLOCK meanwhile finds this reader); a handler ends the wait with
        # -ERESTARTSYS (io_wait.finish closes the end).
        fd_table.hold(w, t.row, -1, desc)
        raise WouldBlock([(-1, FIFO_OPEN_WAIT)], lock_gen=gen)
    fd_table.take(w, t.row, -1)
    opened_by(t, desc)
    try:
        return fd_table.new_fd(w, t.row, desc, cloexec=bool(flags & O_CLOEXEC))
    except KernelError:
        desc.release()
        raise


@syscall("open", FULL, args=("s", "of", "cm"))
def open_(t, path, flags, mode):
    """Implements open(2)."""
    return _open(t, AT_FDCWD, path, flags, mode)


@syscall("openat", FULL, args=("dirfd", "s", "of", "cm"))
def openat(t, dirfd, path, flags, mode):
    """Implements openat(2)."""
    return _open(t, dirfd, path, flags, mode)


@syscall("openat2", FULL, "RESOLVE_CACHED: every lookup counts as cached (only O_CREAT and "
         "O_TRUNC give EAGAIN)", args=("dirfd", "s", "p", "u"))
def openat2(t, dirfd, path, how, usize):
    """Implements openat2(2): struct open_how {u64 flags, mode, resolve} as copy_struct_from_user
    reads it (EINVAL below its first size, E2BIG past a page or for unknown non-zero fields),
    then build_open_flags's checks (unknown flags or resolve bits, BENEATH with IN_ROOT, a mode
    without O_CREAT/O_TMPFILE or with bits past 07777, O_DIRECTORY|O_CREAT, O_TMPFILE without
    write access, O_PATH with other flags: EINVAL; RESOLVE_CACHED with O_CREAT/O_TRUNC: EAGAIN)."""
    if usize < abi.OPEN_HOW_SIZE_VER0:
        raise KernelError(E.EINVAL, "open_how too small")
    if usize > abi.PAGE_SIZE:
        raise KernelError(E.E2BIG, "open_how larger than a page")
    raw = t.mm.copy_in(how, usize)
    if any(raw[abi.OPEN_HOW_SIZE_VER0:]):
        raise KernelError(E.E2BIG, "unknown open_how fields set")
    flags, mode, resolve = struct.unpack_from("<QQQ", raw)
    if flags & ~abi.VALID_OPEN_FLAGS:
        raise KernelError(E.EINVAL, "unknown O_* flags")
    if resolve & ~abi.VALID_RESOLVE_FLAGS:
        raise KernelError(E.EINVAL, "unknown RESOLVE_* flags")
    if resolve & abi.RESOLVE_BENEATH and resolve & abi.RESOLVE_IN_ROOT:
        raise KernelError(E.EINVAL, "RESOLVE_BENEATH with RESOLVE_IN_ROOT")
    tmpfile = abi.O_TMPFILE & ~abi.O_DIRECTORY
    if flags & (abi.O_CREAT | tmpfile):
        if mode & ~abi.S_IALLUGO:
            raise KernelError(E.EINVAL, "mode bits past 07777")
    elif mode:
        raise KernelError(E.EINVAL, "a mode without O_CREAT or O_TMPFILE")
    if flags & (abi.O_DIRECTORY | abi.O_CREAT) == abi.O_DIRECTORY | abi.O_CREAT:
        raise KernelError(E.EINVAL, "O_DIRECTORY with O_CREAT")
    if flags & tmpfile:
        if flags & abi.O_TMPFILE != abi.O_TMPFILE:
            raise KernelError(E.EINVAL, "O_TMPFILE without O_DIRECTORY")
        if flags & abi.O_ACCMODE not in (abi.O_WRONLY, abi.O_RDWR):
            raise KernelError(E.EINVAL, "O_TMPFILE needs write access")
    if flags & abi.O_PATH and flags & ~(abi.O_PATH_FLAGS | abi.O_CLOEXEC):
        raise KernelError(E.EINVAL, "O_PATH with other flags")
    if resolve & abi.RESOLVE_CACHED and flags & (abi.O_TRUNC | abi.O_CREAT | tmpfile):
        raise KernelError(E.EAGAIN, "RESOLVE_CACHED cannot create or truncate")
    p = _path(t, path)
    if not p:
        raise KernelError(E.ENOENT, "an empty path")
    cwd = _at(t, dirfd, p)
    if resolve & abi.RESOLVE_IN_ROOT and p.startswith(b"/"):
        cwd = t.fsctx.cwd if s32(dirfd) == AT_FDCWD else _file(t, dirfd)
    desc = t.fs.open(p, flags, mode, cwd=cwd, creds=t.creds(), umask=t.fsctx.umask,
                     resolve=resolve)
    opened_by(t, desc)
    try:
        return fd_table.new_fd(t.world, t.row, desc, cloexec=bool(flags & O_CLOEXEC))
    except KernelError:
        desc.release()
        raise


@syscall("creat", FULL, args=("s", "m"))
def creat(t, path, mode):
    """Implements creat(2)."""
    return _open(t, AT_FDCWD, path, abi.O_CREAT | abi.O_WRONLY | abi.O_TRUNC, mode)


@syscall("close", FULL, args=("fd",))
def close(t, fd):
    """Implements close(2)."""
    fd_table.close_fd(t.world, t.row, s32(fd))
    return 0


@syscall("close_range", FULL, args=("u", "u", "crflags"))
def close_range(t, first, last, flags):
    """Implements close_range(2)."""
    fd_table.close_range(t.world, t.row, u32(first), u32(last), u32(flags))
    return 0


# -- read / write ---------------------------------------------------------------------------------

@syscall("read", FULL, args=("fd", "o2", "u"))
def read(t, fd, buf, count):
    """Implements read(2)."""
    return _do_read(t, _file(t, fd), buf, count, nr=abi.NR_READ)


@syscall("write", FULL, args=("fd", "b2", "u"))
def write(t, fd, buf, count):
    """Implements write(2)."""
    desc = _file(t, fd)
    count = _check_count(count)
    desc._need_write()
    return _do_write(t, desc, _copy_in_prefix(t, buf, count), nr=abi.NR_WRITE)


@syscall("pread64", FULL, args=("fd", "o2", "u", "l"))
def pread64(t, fd, buf, count, offset):
    """Implements pread64(2)."""
    if s64(offset) < 0:
        raise KernelError(E.EINVAL)  # ksys_pread64, before the fd
    desc = _file(t, fd)
    verify_area(s64(offset), _check_count(count))
    return _do_read(t, desc, buf, count, s64(offset))


@syscall("pwrite64", FULL, args=("fd", "b2", "u", "l"))
def pwrite64(t, fd, buf, count, offset):
    """Implements pwrite64(2)."""
    if s64(offset) < 0:
        raise KernelError(E.EINVAL)  # ksys_pwrite64, before the fd
    desc = _file(t, fd)
    count = _check_count(count)
    verify_area(s64(offset), count)
    return _do_write(t, desc, _copy_in_prefix(t, buf, count), s64(offset))


def _iov(t, iov, iovcnt):
    n = s32(iovcnt)
    if n < 0:
        raise KernelError(E.EINVAL)
    vecs = t.mm.copy_in_iovecs(iov, n)
    total = 0
    for _, ln in vecs:
        total += ln
        if total > 0x7FFF_FFFF_FFFF_FFFF:
            raise KernelError(E.EINVAL)
    # __import_iovec: every segment must lie in user space (access_ok, a zero-length one too),
    # and the segments are cut so that they add up to MAX_RW_COUNT at most.
    total = 0
    out = []
    for base, ln in vecs:
        if base + ln > TASK_SIZE:
            raise KernelError(E.EFAULT, "an iovec outside the address space")
        ln = min(ln, MAX_RW_COUNT - total)
        total += ln
        out.append((base, ln))
    return out


def _copy_in_prefix(t, addr: int, n: int) -> bytes:
    """CopyIn of ``n`` bytes, or of the bytes before the first that faults (a write(2) from a
    buffer that faults part way writes what came before: generic_perform_write); EFAULT if the
    first byte faults."""
    try:
        return t.mm.copy_in(addr, n)
    except KernelError as e:
        if e.errno != E.EFAULT:
            raise
        k = t.mm.accessible_prefix(addr, n)
        if not k:
            raise
        return t.mm.copy_in(addr, k)


def _readv(t, desc, vecs, offset=None, nr: int | None = None) -> int:
    done = 0
    for base, ln in vecs:
        if ln == 0:
            continue
        if not t.mm.access_ok(base, ln, write=True):
            # Reads stop at the first byte that faults: what fits before it, else EFAULT.
            ln = t.mm.accessible_prefix(base, ln, write=True)
            if ln == 0:
                if done:
                    return done
                raise KernelError(E.EFAULT)
        try:
            n = _do_read(t, desc, base, ln, None if offset is None else offset + done, nr)
        except (KernelError, WouldBlock):
            if done:
                return done
            raise
        done += n
        if n < ln:
            break
    return done


def _writev(t, desc, vecs, offset=None, sigpipe: bool = True, nr: int | None = None) -> int:
    parts = []
    for b, ln in vecs:
        if not ln:
            continue
        try:
            parts.append(t.mm.copy_in(b, ln))
        except KernelError as e:
            if e.errno != E.EFAULT:
                raise
            # The bytes before the first fault are written (copy_from_user's partial count).
            k = t.mm.accessible_prefix(b, ln)
            if k:
                parts.append(t.mm.copy_in(b, k))
            if not parts:
                raise
            break
    data = b"".join(parts)
    if not data:
        desc._need_write()
        return 0
    return _do_write(t, desc, data[:MAX_RW_COUNT], offset, sigpipe=sigpipe, nr=nr)


@syscall("readv", FULL, args=("fd", "oiov", "i"))
def readv(t, fd, iov, iovcnt):
    """Implements readv(2)."""
    desc = _file(t, fd)
    return _readv(t, desc, _iov(t, iov, iovcnt), nr=abi.NR_READV)


@syscall("writev", FULL, args=("fd", "iov", "i"))
def writev(t, fd, iov, iovcnt):
    """Implements writev(2)."""
    desc = _file(t, fd)
    return _writev(t, desc, _iov(t, iov, iovcnt), nr=abi.NR_WRITEV)


def _rw_flags(desc, flags: int, write: bool) -> None:
    """kiocb_set_rw_flags for this kind of file (FileDescription.rw_iter, rw_nowait): a file
    without read_iter/write_iter takes RWF_HIPRI only; RWF_APPEND with RWF_NOAPPEND is EINVAL;
    RWF_NOWAIT needs FMODE_NOWAIT; no file here does RWF_ATOMIC or RWF_DONTCACHE."""
    if not flags:
        return
    if not desc.rw_iter[write]:
        if flags & ~abi.RWF_HIPRI:
            raise KernelError(E.EOPNOTSUPP, "RWF_* flags on a file without iter methods")
        return
    if flags & ~abi.RWF_SUPPORTED:
        raise KernelError(E.EOPNOTSUPP, "unknown RWF_* flags")
    if flags & abi.RWF_APPEND and flags & abi.RWF_NOAPPEND:
        raise KernelError(E.EINVAL, "RWF_APPEND with RWF_NOAPPEND")
    if flags & abi.RWF_NOWAIT and not desc.rw_nowait:
        raise KernelError(E.EOPNOTSUPP, "RWF_NOWAIT on a file that is not FMODE_NOWAIT")
    if flags & (abi.RWF_ATOMIC | abi.RWF_DONTCACHE):
        raise KernelError(E.EOPNOTSUPP, "RWF_ATOMIC/RWF_DONTCACHE: no file here supports them")


def _rw_vectors(t, fd, iov, iovcnt, pos, flags, write: bool) -> int:
    """preadv2/pwritev2 and preadv/pwritev (``pos`` -1: the file position, as readv/writev;
    other negative positions EINVAL before the fd is looked at), in vfs_readv's order: the fd
    (EBADF, O_PATH too), ESPIPE for a position on an unseekable file, the access mode (EBADF),
    a file without the method (EINVAL), the iovecs (EINVAL, EFAULT), nothing to move (0, the
    flags unchecked), the range, the flags. RWF_NOWAIT makes the call non-blocking (EAGAIN),
    RWF_APPEND/RWF_NOAPPEND set or clear O_APPEND for the call, RWF_NOSIGNAL keeps SIGPIPE
    back; RWF_HIPRI, RWF_DSYNC and RWF_SYNC change nothing for files kept in memory."""
    pos, flags = s64(pos), u32(flags)
    if pos < -1:
        raise KernelError(E.EINVAL, "negative offset")
    desc = _file(t, fd)
    desc._need_open()
    offset = None if pos == -1 else pos
    if offset is not None and not desc.seekable:
        raise KernelError(E.ESPIPE, "not seekable")
    desc._need_write() if write else desc._need_read()
    if not desc.rw_ops[write]:
        raise KernelError(E.EINVAL, "the file has no such method")
    vecs = _iov(t, iov, iovcnt)
    total = sum(ln for _, ln in vecs)
    if not total:
        return 0
    if offset is not None:
        verify_area(offset, total)
    _rw_flags(desc, flags, write)
    saved = desc.flags
    if flags & abi.RWF_NOWAIT:
        desc.flags |= O_NONBLOCK
    if write and flags & abi.RWF_APPEND:
        desc.flags |= abi.O_APPEND
    if write and flags & abi.RWF_NOAPPEND:
        desc.flags &= ~abi.O_APPEND
    try:
        if write:
            return _writev(t, desc, vecs, offset, sigpipe=not flags & abi.RWF_NOSIGNAL)
        return _readv(t, desc, vecs, offset)
    finally:
        desc.flags = (desc.flags & ~(O_NONBLOCK | abi.O_APPEND)) | (saved & (O_NONBLOCK | abi.O_APPEND))


@syscall("preadv", FULL, args=("fd", "oiov", "i", "l"))
def preadv(t, fd, iov, iovcnt, offset):
    """Implements preadv(2)."""
    if s64(offset) < 0:
        raise KernelError(E.EINVAL)
    return _rw_vectors(t, fd, iov, iovcnt, offset, 0, False)


@syscall("pwritev", FULL, args=("fd", "iov", "i", "l"))
def pwritev(t, fd, iov, iovcnt, offset):
    """Implements pwritev(2)."""
    if s64(offset) < 0:
        raise KernelError(E.EINVAL)
    return _rw_vectors(t, fd, iov, iovcnt, offset, 0, True)


@syscall("preadv2", FULL, args=("fd", "oiov", "i", "l", "l", "x"))
def preadv2(t, fd, iov, iovcnt, pos_l, pos_h, flags):
    """Implements preadv2(2) (x86-64: the position is ``pos_l``; ``pos_h`` is not used)."""
    return _rw_vectors(t, fd, iov, iovcnt, pos_l, flags, False)


@syscall("pwritev2", FULL, args=("fd", "iov", "i", "l", "l", "x"))
def pwritev2(t, fd, iov, iovcnt, pos_l, pos_h, flags):
    """Implements pwritev2(2)."""
    return _rw_vectors(t, fd, iov, iovcnt, pos_l, flags, True)


@syscall("lseek", FULL, args=("fd", "l", "whence"))
def lseek(t, fd, offset, whence):
    """Implements lseek(2)."""
    desc = _file(t, fd)
    whence = u32(whence)
    if whence > SEEK_HOLE:
        raise KernelError(E.EINVAL)
    return desc.lseek(s64(offset), whence)


@syscall("sendfile", FULL, args=("fd", "fd", "p", "u"))
def sendfile(t, out_fd, in_fd, offset_ptr, count):
    """Implements sendfile(2) (do_sendfile): the input's checks, then the output's, then the
    copy. The input must splice (a seekable file with splice_read: not a pipe, socket,
    directory or a process's /proc file: EINVAL), the output too, and not be O_APPEND (a pipe
    excepted). Nothing is taken from the input before the output is known to take it."""
    src = _file(t, in_fd)
    if not src.can_read:
        raise KernelError(E.EBADF)
    if offset_ptr:
        off = s64(t.mm.copy_in_u64(offset_ptr))
        if not src.seekable:
            raise KernelError(E.ESPIPE, "an offset on an unseekable input")
    else:
        off = src.offset if src.seekable else 0
    count = _check_count(count)
    verify_area(off, count)
    dst = _file(t, out_fd)
    if not dst.can_write:
        raise KernelError(E.EBADF)
    if not isinstance(dst, PipeFile):  # do_splice_direct
        if dst.flags & abi.O_APPEND:
            raise KernelError(E.EINVAL, "sendfile to an O_APPEND file")
        verify_area(dst.offset if dst.seekable else 0, count)
        if not count:
            return 0
        if not src.seekable:  # splice_direct_to_actor: no data dropped between sockets
            raise KernelError(E.EINVAL, "sendfile from an unseekable file")
    if not src.can_splice(False) or not dst.can_splice(True):
        raise KernelError(E.EINVAL, "the file does not splice")
    if count and not dst.poll_task(t.world, t.row) & (POLLOUT | POLLERR | POLLHUP):
        _blocked_io(t, dst, True)  # wait before taking anything from the source
    if offset_ptr:
        data = _chase(src, dst, off, count)
    elif src.seekable:
        data = _chase(src, dst, src.offset, count)
        src.lseek(len(data), abi.SEEK_CUR)
    else:
        try:
            data = src.read(count)
        except KernelError as e:
            if e.errno == E.EAGAIN:
                _blocked_io(t, src, False)
            raise
    try:
        n = _do_write(t, dst, data, whole=False) if data else 0
    except KernelError as e:
        if e.errno == E.EAGAIN:
            if not offset_ptr and src.seekable:
                src.lseek(-len(data), abi.SEEK_CUR)
            _blocked_io(t, dst, True)
        raise
    if offset_ptr:
        t.mm.copy_out_u64(offset_ptr, off + n)
    elif n < len(data) and src.seekable:
        src.lseek(n - len(data), abi.SEEK_CUR)
    return n


def _chase(src, dst, pos: int, count: int) -> bytes:
    """What sendfile reads from ``src`` at ``pos`` for ``count`` bytes. From a file into itself
    ahead of the read (the output's position ``d`` bytes past ``pos``), Linux's splice hands the
    written pages back to the read (the pipe holds page references), so the bytes read are the
    first ``d`` repeated: the file grows under the read until ``count`` bytes are sent."""
    if dst.inode is not src.inode or not isinstance(dst, RegularFileDescription):
        return src.pread(count, pos)
    d = dst.offset - pos
    if d <= 0 or not count:
        return src.pread(count, pos)
    head = src.pread(min(d, count), pos)
    head += bytes(min(d, count) - len(head))  # a hole between the end and the output
    return (head * (count // d + 1))[:count]


@syscall("ftruncate", FULL, args=("fd", "l"))
def ftruncate(t, fd, length):
    """Implements ftruncate(2)."""
    desc = _file(t, fd)
    length = s64(length)
    if length < 0:
        raise KernelError(E.EINVAL)
    if isinstance(desc, RegularFileDescription) and desc.can_write:
        _check_new_size(t, length)
    desc.truncate(length)
    return 0


@syscall("truncate", FULL, args=("s", "l"))
def truncate(t, path, length):
    """Implements truncate(2)."""
    p = _path(t, path)
    length = s64(length)
    if length < 0:
        raise KernelError(E.EINVAL)
    _check_new_size(t, length)
    t.fs.truncate(p, length, cwd=t.fsctx.cwd, creds=t.creds())
    return 0


@syscall("fsync", FULL, args=("fd",))
def fsync(t, fd):
    """Implements fsync(2): memory files are always in sync."""
    _file(t, fd)
    return 0


@syscall("fdatasync", FULL, args=("fd",))
def fdatasync(t, fd):
    """Implements fdatasync(2)."""
    _file(t, fd)
    return 0


@syscall("sync_file_range", FULL, "our files have no backing store to write back: the "
         "argument checks only, as gVisor", args=("fd", "l", "l", "x"))
def sync_file_range(t, fd, offset, nbytes, flags):
    """Implements sync_file_range(2): the fd (EBADF, O_PATH too), then the flags and the range
    (EINVAL), then the kind of file (ESPIPE but for regular files, directories, symlinks)."""
    desc = _file(t, fd)
    desc._need_open()
    offset, nbytes, flags = s64(offset), s64(nbytes), u32(flags)
    if flags & ~abi.VALID_SYNC_FILE_RANGE_FLAGS:
        raise KernelError(E.EINVAL, "unknown SYNC_FILE_RANGE_* flags")
    end = offset + nbytes
    if offset < 0 or end < 0 or end > abi.OFFSET_MAX or end < offset:
        raise KernelError(E.EINVAL, "a bad range")
    fmt = desc.inode.get_mode() & abi.S_IFMT if desc.inode is not None else 0
    if fmt not in (abi.S_IFREG, abi.S_IFDIR, abi.S_IFLNK, abi.S_IFBLK):
        raise KernelError(E.ESPIPE, "not a file with pages")
    return 0


@syscall("syncfs", FULL, "nothing to write back (every file system is in memory or read-only)",
         args=("fd",))
def syncfs(t, fd):
    """Implements syncfs(2): EBADF for a bad or O_PATH fd."""
    _file(t, fd)._need_open()
    return 0


@syscall("fadvise64", FULL, args=("fd", "l", "l", "i"))
def fadvise64(t, fd, offset, length, advice):
    """Implements fadvise64(2): advice is accepted and ignored."""
    desc = _file(t, fd)
    if u32(advice) > POSIX_FADV_NOREUSE:
        raise KernelError(E.EINVAL)
    if not desc.seekable:
        raise KernelError(E.ESPIPE)
    return 0


@syscall("sync", FULL)
def sync(t):
    """Implements sync(2)."""
    return 0


# -- stat -----------------------------------------------------------------------------------------

def _mount_id(t, dirfd, path_addr, flags) -> int:
    """stx_mnt_id: the mount the path (or the fd) lies in: a directory's own, else its parent's
    (an fd of a file its dentry's, else the first mount of its file system)."""
    fs = t.fs
    inode, res, desc = _at_target(t, dirfd, path_addr, flags)
    if isinstance(inode, DirInode):
        return fs.mount_id(inode)
    if res is not None and res.parent is not None:
        return fs.mount_id(res.parent)
    dentry = desc.__dict__.get("dentry") if desc is not None else None
    return fs.mount_id(dentry[0] if dentry else None, inode)


def _stat_at(t, dirfd, path_addr, flags):
    path = _path(t, path_addr)
    flags = u32(flags)
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_FORCE_SYNC
                 | AT_STATX_DONT_SYNC):
        raise KernelError(E.EINVAL)
    if not path:
        if not flags & AT_EMPTY_PATH:
            raise KernelError(E.ENOENT)
        if s32(dirfd) == AT_FDCWD:
            return t.fs.stat(".", cwd=t.fsctx.cwd, creds=t.creds())
        return fd_table.get_file(t.world, t.row, s32(dirfd)).fstat()
    return t.fs.stat(path, cwd=_at(t, dirfd, path), follow=not flags & AT_SYMLINK_NOFOLLOW,
                     creds=t.creds())


@syscall("stat", FULL, args=("s", "ostat"))
def stat(t, path, buf):
    """Implements stat(2)."""
    st = t.fs.stat(_path(t, path), cwd=t.fsctx.cwd, creds=t.creds())
    t.mm.copy_out(buf, _seen(t, st).pack())
    return 0


@syscall("lstat", FULL, args=("s", "ostat"))
def lstat(t, path, buf):
    """Implements lstat(2)."""
    st = t.fs.stat(_path(t, path), cwd=t.fsctx.cwd, follow=False, creds=t.creds())
    t.mm.copy_out(buf, _seen(t, st).pack())
    return 0


@syscall("fstat", FULL, args=("fd", "ostat"))
def fstat(t, fd, buf):
    """Implements fstat(2)."""
    t.mm.copy_out(buf, _seen(t, _file(t, fd).fstat()).pack())
    return 0


@syscall("newfstatat", FULL, args=("dirfd", "s", "ostat", "atflags"))
def newfstatat(t, dirfd, path, buf, flags):
    """Implements newfstatat(2) (fstatat)."""
    t.mm.copy_out(buf, _seen(t, _stat_at(t, dirfd, path, flags)).pack())
    return 0


_STATX = struct.Struct("<IIQIIIHHQQQQ" + "qIi" * 4 + "IIIIQ")  # ... dev_minor, stx_mnt_id


def _ts(ns: int) -> tuple[int, int, int]:
    return ns // 1_000_000_000, ns % 1_000_000_000, 0


@syscall("statx", PARTIAL, "basic stats only: no birth time, attributes or mount ids",
         args=("dirfd", "s", "statxflags", "statxmask", "ostatx"))
def statx(t, dirfd, path, flags, mask, buf):
    """Implements statx(2)."""
    if u32(mask) & 0x8000_0000:  # STATX__RESERVED
        raise KernelError(E.EINVAL)
    sync = AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC
    if u32(flags) & sync == sync:
        raise KernelError(E.EINVAL)
    st = _seen(t, _stat_at(t, dirfd, path, flags))
    rdev = st.st_rdev
    raw = _STATX.pack(STATX_BASIC_STATS | abi.STATX_MNT_ID, st.st_blksize, 0, st.st_nlink, st.st_uid, st.st_gid,
                      st.st_mode & 0xFFFF, 0, st.st_ino, st.st_size, st.st_blocks, 0,
                      *_ts(st.st_atime_ns), 0, 0, 0, *_ts(st.st_ctime_ns), *_ts(st.st_mtime_ns),
                      os.major(rdev), os.minor(rdev), os.major(st.st_dev), os.minor(st.st_dev),
                      _mount_id(t, dirfd, path, flags))
    t.mm.copy_out(buf, raw.ljust(256, b"\0"))
    return 0


_STATFS = struct.Struct("<qqQQQQQqqq5q")
# f_type by superblock; proc, sysfs, pipefs and sockfs hold no blocks (df leaves them out)
_FS_MAGIC = {"overlay": OVERLAYFS_SUPER_MAGIC, "tmpfs": TMPFS_MAGIC, "devtmpfs": TMPFS_MAGIC,
             "proc": PROC_SUPER_MAGIC, "sysfs": SYSFS_MAGIC, "pipefs": PIPEFS_MAGIC,
             "sockfs": SOCKFS_MAGIC, "mqueue": MQUEUE_MAGIC}
_NO_BLOCKS = (PROC_SUPER_MAGIC, SYSFS_MAGIC, PIPEFS_MAGIC, SOCKFS_MAGIC, MQUEUE_MAGIC)


def _statfs_bytes(inode) -> bytes:
    """struct statfs of the file system ``inode`` lies in: its f_type; sizes are nominal (4 GiB,
    half free) where there are blocks."""
    sb = getattr(inode, "sb", None)
    magic = _FS_MAGIC.get(getattr(sb, "name", ""), TMPFS_MAGIC)
    if magic in _NO_BLOCKS:
        blocks = files = 0
    else:
        blocks = files = 1 << 20
    # f_type, bsize, blocks, bfree, bavail, files, ffree, fsid, namelen, frsize, flags
    return _STATFS.pack(magic, 4096, blocks, blocks // 2, blocks // 2, files, files // 2, 0, 255,
                        4096, 0, 0, 0, 0, 0)


@syscall("statfs", PARTIAL, "each mount's f_type; nominal sizes", args=("s", "p"))
def statfs(t, path, buf):
    """Implements statfs(2)."""
    inode = t.fs.lookup(_path(t, path), cwd=t.fsctx.cwd, creds=t.creds())
    t.mm.copy_out(buf, _statfs_bytes(inode))
    return 0


@syscall("fstatfs", PARTIAL, "each mount's f_type; nominal sizes", args=("fd", "p"))
def fstatfs(t, fd, buf):
    """Implements fstatfs(2)."""
    t.mm.copy_out(buf, _statfs_bytes(getattr(_file(t, fd), "inode", None)))
    return 0


# -- directories ----------------------------------------------------------------------------------

@syscall("getdents64", FULL, args=("fd", "odirents", "u"))
def getdents64(t, fd, dirp, count):
    """Implements getdents64(2)."""
    data = dirents(t, _file(t, fd), dirp, count)
    if data:
        t.mm.copy_out(dirp, data)
    return len(data)


def dirents(t, desc, dirp: int, count: int) -> bytes:
    """The records getdents and getdents64 give for a buffer of ``count`` bytes at ``dirp``:
    a count above INT_MAX is EINVAL, a buffer outside user space EFAULT; filldir writes record
    by record, so a buffer whose end is not writable takes the records that fit before it (the
    directory's position stays on the first one not written; none fits: EFAULT)."""
    count = u32(count)
    if count > abi.INT_MAX:
        desc.getdents64(0)  # not a directory: ENOTDIR first
        raise KernelError(E.EINVAL, "a buffer above INT_MAX")
    if dirp + count > t.mm.task_size:
        raise KernelError(E.EFAULT)
    start = desc.offset
    data = desc.getdents64(count)
    accessed(desc)
    room = _writable_prefix(t, dirp, len(data))
    if room < len(data):
        pos = end = 0
        while pos < len(data):
            reclen = struct.unpack_from("<H", data, pos + 16)[0]
            if pos + reclen > room:
                break
            pos += reclen
            end = pos
        if not end:
            desc.lseek(start, SEEK_SET)
            raise KernelError(E.EFAULT)
        last = data[:end]
        off = struct.unpack_from("<q", last, _last_record(last) + 8)[0]
        desc.lseek(off, SEEK_SET)  # d_off: where the next record starts
        data = last
    return data


def _last_record(data: bytes) -> int:
    pos = last = 0
    while pos < len(data):
        last = pos
        pos += struct.unpack_from("<H", data, pos + 16)[0]
    return last


def _writable_prefix(t, addr: int, n: int) -> int:
    """How many of the ``n`` bytes at ``addr`` can be written, page by page."""
    if n == 0 or t.mm.access_ok(addr, n, write=True):
        return n
    done = 0
    while done < n:
        step = min(n - done, abi.PAGE_SIZE - (addr + done) % abi.PAGE_SIZE)
        if not t.mm.access_ok(addr + done, step, write=True):
            break
        done += step
    return done


def accessed(desc) -> None:
    """iterate_dir reports IN_ACCESS on the directory after every read of its entries, the
    last one (nothing left) too."""
    if "dentry" in desc.__dict__ or notify.watched(desc.inode):
        notify.file_event(desc, abi.IN_ACCESS)


@syscall("getcwd", FULL, args=("opath", "u"))
def getcwd(t, buf, size):
    """Implements getcwd(2)."""
    path = t.fs.getcwd(t.fsctx.cwd) + b"\0"
    if size < len(path):
        raise KernelError(E.ERANGE)
    t.mm.copy_out(buf, path)
    return len(path)


@syscall("chdir", FULL, args=("s",))
def chdir(t, path):
    """Implements chdir(2)."""
    t.fsctx.cwd = t.fs.chdir(_path(t, path), cwd=t.fsctx.cwd, creds=t.creds())
    return 0


@syscall("chroot", FULL, args=("s",))
def chroot(t, path):
    """Implements chroot(2): the directory (followed; ENOTDIR, ENOENT, ...), search permission
    on it (EACCES), then CAP_SYS_CHROOT (EPERM). The task's fs_contexts row (shared under
    CLONE_FS) takes it as its root; the working directory stays where it was, outside the new
    root if it was."""
    p = _path(t, path)
    creds = t.creds()
    inode = t.fs.chdir_inode(t.fs.lookup(p, cwd=t.fsctx.cwd, follow=True, creds=creds), creds)
    if not creds.capable(abi.CAP_SYS_CHROOT):
        raise KernelError(E.EPERM, "chroot needs CAP_SYS_CHROOT")
    ctx = t.fsctx
    if ctx.cwd is None:
        ctx.cwd = t.fs.root  # "the root" meant the old one: keep naming it
    ctx.root = inode
    return 0


@syscall("fchdir", FULL, args=("fd",))
def fchdir(t, fd):
    """Implements fchdir(2)."""
    desc = _file(t, fd)
    t.fsctx.cwd = t.fs.chdir_inode(desc.inode, t.creds())
    return 0


@syscall("mkdir", FULL, args=("s", "m"))
def mkdir(t, path, mode):
    """Implements mkdir(2)."""
    t.fs.mkdir(_path(t, path), u32(mode) & 0o7777, cwd=t.fsctx.cwd, creds=t.creds(),
               umask=t.fsctx.umask)
    return 0


@syscall("mkdirat", FULL, args=("dirfd", "s", "m"))
def mkdirat(t, dirfd, path, mode):
    """Implements mkdirat(2)."""
    p = _path(t, path)
    t.fs.mkdir(p, u32(mode) & 0o7777, cwd=_at(t, dirfd, p), creds=t.creds(), umask=t.fsctx.umask)
    return 0


def _mknod(t, dirfd: int, path_addr: int, mode: int, dev: int) -> int:
    """do_mknodat: the type is checked first (EPERM for a directory, EINVAL for no type Linux
    knows), then the name (filename_create: EEXIST, ENOENT, ...), may_create (EACCES), and
    CAP_MKNOD for a device node (not for the whiteout, a character device 0:0)."""
    mode = u32(mode) & 0xFFFF  # umode_t
    fmt = mode & abi.S_IFMT
    if fmt == abi.S_IFDIR:
        raise KernelError(E.EPERM, "mknod of a directory")
    if fmt not in (0, abi.S_IFREG, abi.S_IFCHR, abi.S_IFBLK, abi.S_IFIFO, abi.S_IFSOCK):
        raise KernelError(E.EINVAL, "not a file type mknod makes")
    path = _path(t, path_addr)
    cwd = _at(t, dirfd, path)
    creds = t.creds()
    dev = u32(dev)
    rdev = makedev((dev & 0xFFF00) >> 8, (dev & 0xFF) | ((dev >> 12) & 0xFFF00))  # new_decode_dev

    def make(sb, fmode: int, uid: int, gid: int):
        if fmt in (0, abi.S_IFREG):
            return RegularFile(sb, fmode, uid, gid)
        if fmt == abi.S_IFIFO:
            return FifoInode(sb, fmode, uid, gid)
        if fmt == abi.S_IFSOCK:
            return SocketNode(sb, fmode, uid, gid)  # bound by nobody: connect is ECONNREFUSED
        if not (fmt == abi.S_IFCHR and rdev == 0) and not creds.capable(abi.CAP_MKNOD):
            raise KernelError(E.EPERM, "a device node needs CAP_MKNOD")
        return DeviceNode(sb, fmt, fmode, uid, gid, rdev)

    t.fs.mknod(path, make, mode & 0o7777, cwd=cwd, creds=creds, umask=t.fsctx.umask)
    return 0


@syscall("mknod", FULL, "regular files, FIFOs, socket names; device nodes (CAP_MKNOD) open the "
         "devices /dev models by number, ENXIO for others", args=("s", "fmode", "fdev"))
def mknod(t, path, mode, dev):
    """Implements mknod(2)."""
    return _mknod(t, AT_FDCWD, path, mode, dev)


@syscall("mknodat", FULL, "as mknod", args=("dirfd", "s", "fmode", "fdev"))
def mknodat(t, dirfd, path, mode, dev):
    """Implements mknodat(2)."""
    return _mknod(t, dirfd, path, mode, dev)


@syscall("rmdir", FULL, args=("s",))
def rmdir(t, path):
    """Implements rmdir(2)."""
    t.fs.rmdir(_path(t, path), cwd=t.fsctx.cwd, creds=t.creds())
    return 0


@syscall("unlink", FULL, args=("s",))
def unlink(t, path):
    """Implements unlink(2)."""
    t.fs.unlink(_path(t, path), cwd=t.fsctx.cwd, creds=t.creds())
    return 0


@syscall("unlinkat", FULL, args=("dirfd", "s", "unlinkflags"))
def unlinkat(t, dirfd, path, flags):
    """Implements unlinkat(2)."""
    flags = u32(flags)
    if flags & ~AT_REMOVEDIR:
        raise KernelError(E.EINVAL)
    p = _path(t, path)
    cwd = _at(t, dirfd, p)
    if flags & AT_REMOVEDIR:
        t.fs.rmdir(p, cwd=cwd, creds=t.creds())
    else:
        t.fs.unlink(p, cwd=cwd, creds=t.creds())
    return 0


@syscall("rename", FULL, args=("s", "s"))
def rename(t, old, new):
    """Implements rename(2)."""
    t.fs.rename(_path(t, old), _path(t, new), cwd=t.fsctx.cwd, creds=t.creds())
    return 0


@syscall("renameat", FULL, args=("dirfd", "s", "dirfd", "s"))
def renameat(t, olddirfd, old, newdirfd, new):
    """Implements renameat(2)."""
    return renameat2(t, olddirfd, old, newdirfd, new, 0)


@syscall("renameat2", FULL, args=("dirfd", "s", "dirfd", "s", "renameflags"))
def renameat2(t, olddirfd, old, newdirfd, new, flags):
    """Implements renameat2(2)."""
    op, np_ = _path(t, old), _path(t, new)
    t.fs.rename(op, np_, cwd=_at(t, olddirfd, op), new_cwd=_at(t, newdirfd, np_),
                flags=u32(flags), creds=t.creds())
    return 0


@syscall("symlink", FULL, args=("s", "s"))
def symlink(t, target, linkpath):
    """Implements symlink(2)."""
    t.fs.symlink(_path(t, target), _path(t, linkpath), cwd=t.fsctx.cwd, creds=t.creds())
    return 0


@syscall("symlinkat", FULL, args=("s", "dirfd", "s"))
def symlinkat(t, target, dirfd, linkpath):
    """Implements symlinkat(2)."""
    tp, lp = _path(t, target), _path(t, linkpath)
    t.fs.symlink(tp, lp, cwd=_at(t, dirfd, lp), creds=t.creds())
    return 0


@syscall("link", FULL, args=("s", "s"))
def link(t, old, new):
    """Implements link(2)."""
    t.fs.link(_path(t, old), _path(t, new), cwd=t.fsctx.cwd, creds=t.creds())
    return 0


@syscall("linkat", FULL, args=("dirfd", "s", "dirfd", "s", "atflags"))
def linkat(t, olddirfd, old, newdirfd, new, flags):
    """Implements linkat(2)."""
    flags = u32(flags)
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        raise KernelError(E.EINVAL)
    op, np_ = _path(t, old), _path(t, new)
    if not op and flags & AT_EMPTY_PATH:
        if s32(olddirfd) != AT_FDCWD:
            # Linux 6.10 (path_init, LOOKUP_LINKAT_EMPTY): the file's opener must still have
            # the caller's credentials, else CAP_DAC_READ_SEARCH in the opener's user namespace
            f = _file(t, olddirfd)
            mine = cred_key(t)  # (a file not made by open(2) counts as another's)
            if f.__dict__.get("f_cred") != mine and not task_identity.ns_capable(
                    t.world, t.row, f.__dict__.get("f_cred_ns", 0), abi.CAP_DAC_READ_SEARCH):
                raise KernelError(E.ENOENT, "linkat(AT_EMPTY_PATH) of another's file")
        inode, _res, _desc = _at_target(t, olddirfd, old, flags)
        t.fs.link_inode(inode, np_, new_cwd=_at(t, newdirfd, np_), creds=t.creds())
        return 0
    t.fs.link(op, np_, cwd=_at(t, olddirfd, op, bool(flags & AT_EMPTY_PATH)),
              new_cwd=_at(t, newdirfd, np_),
              follow=bool(flags & AT_SYMLINK_FOLLOW), creds=t.creds())
    return 0


def _readlink(t, dirfd, path, buf, size):
    size = s32(size)
    if size <= 0:
        raise KernelError(E.EINVAL)
    p = _path(t, path)
    if not p:
        raise KernelError(E.ENOENT)
    target = t.fs.readlink(p, cwd=_at(t, dirfd, p), creds=t.creds())[:size]
    t.mm.copy_out(buf, target)
    return len(target)


@syscall("readlink", FULL, args=("s", "o2", "u"))
def readlink(t, path, buf, size):
    """Implements readlink(2)."""
    return _readlink(t, AT_FDCWD, path, buf, size)


@syscall("readlinkat", FULL, args=("dirfd", "s", "o3", "u"))
def readlinkat(t, dirfd, path, buf, size):
    """Implements readlinkat(2)."""
    return _readlink(t, dirfd, path, buf, size)


def _access(t, dirfd, path, mode, flags):
    flags = u32(flags)
    if flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise KernelError(E.EINVAL)
    p = _path(t, path)
    creds = t.creds() if flags & AT_EACCESS else t.real_creds()
    t.fs.access(p, u32(mode), cwd=_at(t, dirfd, p, bool(flags & AT_EMPTY_PATH)),
                follow=not flags & AT_SYMLINK_NOFOLLOW,
                creds=creds)
    return 0


@syscall("access", FULL, args=("s", "amode"))
def access(t, path, mode):
    """Implements access(2)."""
    return _access(t, AT_FDCWD, path, mode, 0)


@syscall("faccessat", FULL, args=("dirfd", "s", "amode"))
def faccessat(t, dirfd, path, mode):
    """Implements faccessat(2) (the syscall has no flags argument)."""
    return _access(t, dirfd, path, mode, 0)


@syscall("faccessat2", FULL, args=("dirfd", "s", "amode", "faflags"))
def faccessat2(t, dirfd, path, mode, flags):
    """Implements faccessat2(2)."""
    return _access(t, dirfd, path, mode, flags)


@syscall("chmod", FULL, args=("s", "m"))
def chmod(t, path, mode):
    """Implements chmod(2)."""
    t.fs.chmod(_path(t, path), u32(mode) & 0o7777, cwd=t.fsctx.cwd, creds=t.creds())
    return 0


@syscall("fchmod", FULL, args=("fd", "m"))
def fchmod(t, fd, mode):
    """Implements fchmod(2)."""
    desc = _file(t, fd)
    desc._need_open()  # fdget: EBADF for an O_PATH fd
    t.fs.chmod_inode(desc.inode, u32(mode) & 0o7777, t.creds())
    notify.file_event(desc, abi.IN_ATTRIB, through_path=False)
    return 0


@syscall("fchmodat", FULL, args=("dirfd", "s", "m"))
def fchmodat(t, dirfd, path, mode):
    """Implements fchmodat(2)."""
    p = _path(t, path)
    t.fs.chmod(p, u32(mode) & 0o7777, cwd=_at(t, dirfd, p), creds=t.creds())
    return 0


@syscall("fchmodat2", FULL, args=("dirfd", "s", "m", "atflags"))
def fchmodat2(t, dirfd, path, mode, flags):
    """Implements fchmodat2(2): AT_SYMLINK_NOFOLLOW (a symlink itself: EOPNOTSUPP, as
    notify_change refuses it) and AT_EMPTY_PATH (the dirfd itself, an O_PATH fd too)."""
    flags = u32(flags)
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise KernelError(E.EINVAL, "unknown AT_* flags")
    inode, res, desc = _at_target(t, dirfd, path, flags)
    t.fs.chmod_inode(inode, u32(mode) & 0o7777, t.creds())
    _attrib_changed(inode, res, desc)
    return 0


def _id(t, x: int, which: int) -> int:
    """chown's id: -1 (unchanged), or the kernel id the caller's namespace maps it to (EINVAL
    when it has no mapping)."""
    x = u32(x)
    if x == 0xFFFF_FFFF:
        return -1
    k = userns.to_kid(t.world, int(t.world.tasks.userns[t.row]), which, x)
    if k == abi.INVALID_ID:
        raise KernelError(E.EINVAL, f"id {x} has no mapping")
    return k


def _seen(t, st):
    """A stat's owner as the caller's user namespace sees it (from_kuid_munged)."""
    ns = int(t.world.tasks.userns[t.row])
    if ns == userns.INIT_USER_NS:
        return st
    w = t.world
    return dataclasses.replace(st, st_uid=userns.munged(w, ns, UID, st.st_uid),
                               st_gid=userns.munged(w, ns, GID, st.st_gid))


@syscall("chown", FULL, args=("s", "i", "i"))
def chown(t, path, uid, gid):
    """Implements chown(2)."""
    t.fs.chown(_path(t, path), _id(t, uid, UID), _id(t, gid, GID), cwd=t.fsctx.cwd, creds=t.creds())
    return 0


@syscall("lchown", FULL, args=("s", "i", "i"))
def lchown(t, path, uid, gid):
    """Implements lchown(2)."""
    t.fs.chown(_path(t, path), _id(t, uid, UID), _id(t, gid, GID), cwd=t.fsctx.cwd, follow=False, creds=t.creds())
    return 0


@syscall("fchown", FULL, args=("fd", "i", "i"))
def fchown(t, fd, uid, gid):
    """Implements fchown(2)."""
    desc = _file(t, fd)
    desc._need_open()  # fdget: EBADF for an O_PATH fd
    t.fs.chown_inode(desc.inode, _id(t, uid, UID), _id(t, gid, GID), t.creds())
    notify.file_event(desc, abi.IN_ATTRIB, through_path=False)
    return 0


@syscall("fchownat", FULL, args=("dirfd", "s", "i", "i", "atflags"))
def fchownat(t, dirfd, path, uid, gid, flags):
    """Implements fchownat(2)."""
    flags = u32(flags)
    p = _path(t, path)
    if not p and flags & AT_EMPTY_PATH:
        t.fs.chown_inode(_file(t, dirfd).inode, _id(t, uid, UID), _id(t, gid, GID), t.creds())
        return 0
    t.fs.chown(p, _id(t, uid, UID), _id(t, gid, GID), cwd=_at(t, dirfd, p),
               follow=not flags & AT_SYMLINK_NOFOLLOW, creds=t.creds())
    return 0


def _at_target(t, dirfd: int, path_addr: int, flags: int):
    """user_path_at with LOOKUP_EMPTY when ``flags`` has AT_EMPTY_PATH: (inode, Resolved or
    None, description or None). An empty path names ``dirfd`` itself (an O_PATH fd too; the
    working directory for AT_FDCWD); without AT_EMPTY_PATH it is ENOENT."""
    p = _path(t, path_addr)
    if not p and flags & AT_EMPTY_PATH:
        if s32(dirfd) == AT_FDCWD:
            cwd = t.fsctx.cwd
            return (cwd if cwd is not None else t.fs.root), None, None
        desc = _file(t, dirfd)
        return desc.inode, None, desc
    res = t.fs.resolve(p, cwd=_at(t, dirfd, p), follow=not flags & AT_SYMLINK_NOFOLLOW,
                       creds=t.creds())
    return res.inode, res, None


def _attrib_changed(inode, res, desc, event: int = abi.IN_ATTRIB) -> None:
    """fsnotify_change: ``event`` (IN_ATTRIB, or a utimensat's notify.times_event) for the file
    (and its directory's watches); a change made through an fd is the inode's
    (``through_path=False``: IN_EXCL_UNLINK watches still see it)."""
    if desc is not None:
        notify.file_event(desc, event, through_path=False)
    else:
        isdir = abi.IN_ISDIR if isinstance(inode, DirInode) else 0
        notify.notify(inode, event | isdir, parent=res.parent if res else None,
                      name=res.name if res else "")


def do_utimes(t, dirfd: int, path_addr: int, times, flags: int) -> int:
    """do_utimes, the one home of utimensat, futimesat, utimes and utime: ``times`` is None
    (both now) or two (sec, nsec) pairs whose nsec may be UTIME_NOW or UTIME_OMIT.

    A NULL path with a real dirfd is the fd itself (flags must be 0; fdget: EBADF for O_PATH),
    else the path is looked up (AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH; other flags EINVAL). Then
    vfs_utimes: a bad nsec is EINVAL (after the lookup), both UTIME_NOW is a touch (the owner,
    CAP_FOWNER or write permission: EACCES), any explicit time needs the owner or CAP_FOWNER
    (EPERM)."""
    dirfd, flags = s32(dirfd), u32(flags)
    if path_addr == 0 and dirfd != AT_FDCWD:
        if flags:
            raise KernelError(E.EINVAL, "flags with a NULL path")
        desc = _file(t, dirfd)
        desc._need_open()
        inode, res = desc.inode, None
    else:
        if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
            raise KernelError(E.EINVAL, "unknown AT_* flags")
        inode, res, desc = _at_target(t, dirfd, path_addr, flags)
    if times is not None:
        for _, ns in times:
            if ns not in (UTIME_NOW, UTIME_OMIT) and not 0 <= ns < NSEC_PER_SEC:
                raise KernelError(E.EINVAL, "nanoseconds out of range")
        if times[0][1] == UTIME_NOW and times[1][1] == UTIME_NOW:
            times = None
    vals = [None, None]  # None: now
    if times is not None:
        for i, (sec, ns) in enumerate(times):
            if ns == UTIME_OMIT:
                vals[i] = OMIT
            elif ns != UTIME_NOW:
                vals[i] = sec * NSEC_PER_SEC + ns
    t.fs.utimens_inode(inode, vals[0], vals[1], t.creds(), times_set=times is not None)
    if not (vals[0] is OMIT and vals[1] is OMIT):
        _attrib_changed(inode, res, desc, notify.times_event(vals[0] is not OMIT,
                                                             vals[1] is not OMIT))
    return 0


@syscall("utimensat", FULL, args=("dirfd", "s", "p", "atflags"))
def utimensat(t, dirfd, path, times, flags):
    """Implements utimensat(2)."""
    tv = None
    if times:
        a_s, a_ns, m_s, m_ns = struct.unpack("<qqqq", t.mm.copy_in(times, 32))
        if a_ns == UTIME_OMIT and m_ns == UTIME_OMIT:
            return 0  # nothing to do: not even the path is looked at
        tv = [(a_s, a_ns), (m_s, m_ns)]
    return do_utimes(t, dirfd, path, tv, flags)


def _futimesat(t, dirfd, path, utimes) -> int:
    """do_futimesat: two struct timeval; a microsecond count outside [0, 1000000) is EINVAL
    (UTIME_NOW and UTIME_OMIT are utimensat's only)."""
    tv = None
    if utimes:
        a_s, a_us, m_s, m_us = struct.unpack("<qqqq", t.mm.copy_in(utimes, 32))
        if not (0 <= a_us < 1_000_000 and 0 <= m_us < 1_000_000):
            raise KernelError(E.EINVAL, "microseconds out of range")
        tv = [(a_s, a_us * 1000), (m_s, m_us * 1000)]
    return do_utimes(t, dirfd, path, tv, 0)


@syscall("futimesat", FULL, args=("dirfd", "s", "p"))
def futimesat(t, dirfd, path, utimes):
    """Implements futimesat(2)."""
    return _futimesat(t, dirfd, path, utimes)


@syscall("utimes", FULL, args=("s", "p"))
def utimes(t, path, utimes):
    """Implements utimes(2)."""
    return _futimesat(t, AT_FDCWD, path, utimes)


@syscall("utime", FULL, args=("s", "p"))
def utime(t, path, times):
    """Implements utime(2): a struct utimbuf of whole seconds, or NULL for now."""
    tv = None
    if times:
        actime, modtime = struct.unpack("<qq", t.mm.copy_in(times, 16))
        tv = [(actime, 0), (modtime, 0)]
    return do_utimes(t, AT_FDCWD, path, tv, 0)


@syscall("umask", FULL, args=("m",), ret="o")
def umask(t, mask):
    """Implements umask(2)."""
    old = t.fsctx.umask
    t.fsctx.umask = u32(mask) & 0o777
    return old


# -- fd table ---------------------------------------------------------------------------------------

@syscall("dup", FULL, args=("fd",))
def dup(t, fd):
    """Implements dup(2)."""
    return fd_table.dup(t.world, t.row, s32(fd))


@syscall("dup2", FULL, args=("fd", "fd"))
def dup2(t, old, new):
    """Implements dup2(2)."""
    return fd_table.dup2(t.world, t.row, s32(old), s32(new))


@syscall("dup3", FULL, args=("fd", "fd", "ofl"))
def dup3(t, old, new, flags):
    """Implements dup3(2)."""
    return fd_table.dup3(t.world, t.row, s32(old), s32(new), u32(flags))


@syscall("fcntl", PARTIAL, "record and OFD locks without deadlock detection (EDEADLK); SIGIO "
         "when a description's poll events grow (not once per write); no leases or notify",
         args=("fd", "fcntlcmd", "fcntlarg"), ret="fcntl")
def fcntl(t, fd, cmd, arg):
    """Implements fcntl(2)."""
    w, row = t.world, t.row
    fd, cmd = s32(fd), s32(cmd)
    desc = fd_table.get_file(w, row, fd)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        return fd_table.dupfd(w, row, fd, s32(arg), cmd == F_DUPFD_CLOEXEC)
    if cmd == F_GETFD:
        return FD_CLOEXEC if fd_table.get_cloexec(w, row, fd) else 0
    if cmd == F_SETFD:
        fd_table.set_cloexec(w, row, fd, bool(arg & FD_CLOEXEC))
        return 0
    if cmd == F_GETFL:
        return desc.get_status_flags()
    if cmd == F_SETFL:
        _setfl(t, fd, desc, u32(arg))
        return 0
    if cmd in (F_GETLK, F_OFD_GETLK, F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW):
        return _record_lock(t, fd, desc, cmd, arg)
    if cmd in (F_SETOWN, F_GETOWN, abi.F_SETOWN_EX, abi.F_GETOWN_EX):
        desc._need_open()  # EBADF for an O_PATH fd
        if cmd == F_SETOWN:
            who = s32(arg)
            if who == -(1 << 31):
                raise KernelError(E.EINVAL, "F_SETOWN of INT_MIN")
            fasync.setown(w, row, desc, abi.F_OWNER_PGRP if who < 0 else abi.F_OWNER_PID, abs(who))
            return 0
        if cmd == abi.F_SETOWN_EX:
            kind, who = struct.unpack("<ii", t.mm.copy_in(arg, 8))
            fasync.setown(w, row, desc, kind, who)
            return 0
        kind, who = fasync.getown(w, row, desc)
        if cmd == abi.F_GETOWN_EX:
            t.mm.copy_out(arg, struct.pack("<ii", kind, who))
            return 0
        return -who if kind == abi.F_OWNER_PGRP else who
    if cmd == F_SETSIG:
        fasync.setsig(desc, s32(arg))
        return 0
    if cmd == F_GETSIG:
        return int(desc.fsig)
    if cmd in (abi.F_GETPIPE_SZ, abi.F_SETPIPE_SZ):
        pipe = getattr(desc, "pipe", None)
        if pipe is None:
            raise KernelError(E.EBADF)
        if cmd == abi.F_GETPIPE_SZ:
            return pipe.capacity
        return pipe.set_capacity(u32(arg), privileged=t.creds().uid == 0)
    if cmd in (F_ADD_SEALS, F_GET_SEALS):
        inode = desc.inode
        if not isinstance(inode, MemfdInode):
            raise KernelError(E.EINVAL, "not a memfd")
        if cmd == F_GET_SEALS:
            return inode.seals
        if not desc.can_write:
            raise KernelError(E.EPERM, "not open for writing")
        inode.add_seals(u32(arg), _writably_mapped(t.world, inode))
        return 0
    raise KernelError(E.EINVAL)


_FLOCK = struct.Struct("<hh4xqqi4x")  # struct flock: l_type, l_whence, l_start, l_len, l_pid


def _setfl(t, fd: int, desc, flags: int) -> None:
    """F_SETFL; O_ASYNC turned on records the fd for SIGIO's si_fd (systems/fasync.py)."""
    was = desc.flags & abi.O_ASYNC
    desc.set_status_flags(flags)
    if desc.flags & abi.O_ASYNC and not was:
        fasync.async_on(t.world, desc, fd)
        fasync.note_async(t.world)


def _record_lock(t, fd: int, desc, cmd: int, arg: int) -> int:
    """fcntl's POSIX record locks (F_GETLK/F_SETLK/F_SETLKW) and open file description locks
    (F_OFD_*), fs/locks.py: owned by the caller's fd table, or by the description."""
    desc._need_open()  # EBADF for an O_PATH fd
    raw = t.mm.copy_in(arg, _FLOCK.size)
    ltype, whence, l_start, l_len, l_pid = _FLOCK.unpack(raw)
    ofd = desc if cmd in (F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW) else None
    if ofd is not None and l_pid != 0:
        raise KernelError(E.EINVAL, "an OFD lock with l_pid set")
    if whence == SEEK_SET:
        base = 0
    elif whence == SEEK_CUR:
        base = desc.offset
    elif whence == SEEK_END:
        base = desc._end()
    else:
        raise KernelError(E.EINVAL, f"l_whence {whence}")
    getlk = cmd in (F_GETLK, F_OFD_GETLK)
    if ltype not in ((F_RDLCK, F_WRLCK) if getlk else (F_RDLCK, F_WRLCK, F_UNLCK)):
        raise KernelError(E.EINVAL, f"l_type {ltype}")
    start, end = locks.lock_range(base, l_start, l_len)
    if desc.inode is None:
        raise KernelError(E.EINVAL, "no inode to lock")
    table = locks.locks_of(desc.inode)
    owner = int(t.world.tasks.fdtable[t.row])
    if getlk:
        rec = table.conflict(ltype, start, end, owner, ofd)
        if rec is None:
            out = (F_UNLCK, whence, l_start, l_len, l_pid)
        else:
            length = 0 if rec[2] == abi.OFFSET_MAX else rec[2] - rec[1] + 1
            pid = -1 if rec[5] is not None else _pid_as_seen(t, rec[3])
            out = (rec[0], SEEK_SET, rec[1], length, pid)
        t.mm.copy_out(arg, _FLOCK.pack(*out) + raw[_FLOCK.size:])
        return 0
    if (ltype == F_RDLCK and not desc.can_read) or (ltype == F_WRLCK and not desc.can_write):
        raise KernelError(E.EBADF, "the fd is not open for this lock's kind of access")
    if table.set(ltype, start, end, owner, ofd, _tgid(t)):
        return 0
    if cmd in (F_SETLK, F_OFD_SETLK):
        raise KernelError(E.EAGAIN, "a conflicting lock is held")
    raise WouldBlock([(fd, locks.LOCK_WAIT)], lock_gen=table.generation)


def _tgid(t) -> int:
    """The caller's process id in the root namespace (a lock's fl_pid)."""
    T, G = t.world.tasks, t.world.thread_groups
    return int(T.tids[int(G.leader[int(T.tg[t.row])]), 0])


def _pid_as_seen(t, tgid: int) -> int:
    """A lock holder's process id (root namespace) as the caller sees it (0: not visible)."""
    w = t.world
    row = pidns.task_by_tid(w, int(w.index.root_pidns), tgid)
    return pidns.tid_in(w, row, int(w.tasks.ns[t.row])) if row >= 0 else 0


def _writably_mapped(world, inode) -> bool:
    """Does a shared writable mapping of ``inode`` exist in any address space
    (mapping_writably_mapped)?"""
    for mem in world.index.address_spaces.values():
        aspace = getattr(mem, "aspace", None)
        if aspace is not None and aspace.writably_maps(inode):
            return True
    return False


@syscall("flock", FULL, "locks of open file descriptions, shared and exclusive, between every "
         "process; a conversion is not atomic (as Linux)", args=("fd", "lockop"))
def flock(t, fd, op):
    """Implements flock(2)."""
    desc = _file(t, fd)
    op = u32(op)
    if op & ~LOCK_NB not in (LOCK_SH, LOCK_EX, LOCK_UN):
        raise KernelError(E.EINVAL)
    desc._need_open()  # EBADF for an O_PATH fd
    if desc.inode is None:
        raise KernelError(E.EINVAL, "no inode to lock")
    table = locks.locks_of(desc.inode)
    if table.flock(desc, locks.flock_type(op)):
        return 0
    if op & LOCK_NB:
        raise KernelError(E.EAGAIN, "a conflicting flock is held")  # EWOULDBLOCK
    raise WouldBlock([(s32(fd), locks.LOCK_WAIT)], lock_gen=table.generation)


@syscall("ioctl", PARTIAL, "FIOCLEX/FIONCLEX/FIONBIO/FIOASYNC/FIONREAD; on the console (a host "
         "terminal on stdio): job control (TIOCGPGRP/TIOCSPGRP/TIOCGSID/TIOCSCTTY/TIOCNOTTY) and "
         "the host terminal's settings and size (TCGETS/TCSETS*/TIOCGWINSZ/TIOCSWINSZ)",
         args=("fd", "ioctl", "ioctlarg"))
def ioctl(t, fd, request, arg):
    """Implements ioctl(2)."""
    w, row = t.world, t.row
    fd, request = s32(fd), u32(request)
    desc = fd_table.get_file(w, row, fd)
    if request == abi.FIOCLEX:
        fd_table.set_cloexec(w, row, fd, True)
        return 0
    if request == abi.FIONCLEX:
        fd_table.set_cloexec(w, row, fd, False)
        return 0
    if request == abi.FIONBIO:
        on = t.mm.copy_in_u32(arg)
        flags = desc.get_status_flags()
        desc.set_status_flags(flags | O_NONBLOCK if on else flags & ~O_NONBLOCK)
        return 0
    if request == abi.FIOASYNC:
        on = t.mm.copy_in_u32(arg)
        flags = desc.get_status_flags()
        _setfl(t, fd, desc, flags | abi.O_ASYNC if on else flags & ~abi.O_ASYNC)
        return 0
    if desc.is_terminal and request in _JOB_CONTROL_IOCTLS:
        return _tty_ioctl(t, desc, request, arg)
    if request in getattr(desc, "ifreq_ioctls", ()):
        arg_in = t.mm.copy_in(arg, abi.IFREQ_SIZE)  # a struct ifreq in and out (netdevice(7))
        net = getattr(desc, "stack", None)
        if request == abi.SIOCSIFFLAGS and not task_identity.ns_capable(
                t.world, t.row, net.userns if net is not None else 0, abi.CAP_NET_ADMIN):
            raise KernelError(E.EPERM)  # dev_ioctl: CAP_NET_ADMIN over the namespace
        ret, out = desc.ioctl(request, arg_in)
    else:
        ret, out = desc.ioctl(request, arg)
    if out:
        t.mm.copy_out(arg, out)
    return ret


_JOB_CONTROL_IOCTLS = (abi.TIOCGPGRP, abi.TIOCSPGRP, abi.TIOCGSID, abi.TIOCSCTTY, abi.TIOCNOTTY,
                       abi.TCSETS, abi.TCSETSW, abi.TCSETSF, abi.TIOCSWINSZ)


def _tty_ioctl(t, desc, request, arg):
    """The console's job-control ioctls (tty_jobctrl.c), served by systems/tty.py."""
    w, row = t.world, t.row
    if request == abi.TIOCGPGRP:
        pgid = tty.tiocgpgrp(w, row)
        t.mm.copy_out(arg, struct.pack("<i", pgid))
        return 0
    if request == abi.TIOCGSID:
        t.mm.copy_out(arg, struct.pack("<i", tty.tiocgsid(w, row)))
        return 0
    if request == abi.TIOCSPGRP:
        tty.tiocspgrp(w, row, struct.unpack("<i", t.mm.copy_in(arg, 4))[0])
        return 0
    if request == abi.TIOCSCTTY:
        tty.tiocsctty(w, row, arg & 0xFFFFFFFF, desc.can_read)
        return 0
    if request == abi.TIOCNOTTY:
        tty.tiocnotty(w, row)
        return 0
    if request != abi.TIOCSWINSZ:
        tty.check_change(w, row)  # TCSETS*: a background job may not change the terminal
    desc.set_terminal(request, t.mm.copy_in(arg, desc.SETS[request]))
    return 0


# -- pipes and polling --------------------------------------------------------------------------------

def _pipe(t, fds_addr, flags):
    flags = u32(flags)
    if flags & ~(O_CLOEXEC | O_NONBLOCK | abi.O_DIRECT):
        raise KernelError(E.EINVAL)
    r, wr = t.fs.pipe(flags & ~O_CLOEXEC, t.creds())
    cloexec = bool(flags & O_CLOEXEC)
    w, row = t.world, t.row
    try:
        rfd = fd_table.new_fd(w, row, r, cloexec=cloexec)
    except KernelError:
        r.release()
        wr.release()
        raise
    try:
        wfd = fd_table.new_fd(w, row, wr, cloexec=cloexec)
    except KernelError:
        fd_table.close_fd(w, row, rfd)
        wr.release()
        raise
    try:
        t.mm.copy_out(fds_addr, struct.pack("<ii", rfd, wfd))
    except KernelError:
        fd_table.close_fd(w, row, rfd)
        fd_table.close_fd(w, row, wfd)
        raise
    return 0


@syscall("pipe", FULL, args=("fds",))
def pipe(t, fds):
    """Implements pipe(2)."""
    return _pipe(t, fds, 0)


@syscall("pipe2", FULL, args=("fds", "ofl"))
def pipe2(t, fds, flags):
    """Implements pipe2(2)."""
    return _pipe(t, fds, flags)


def _poll_once(t, entries):
    """Fill revents (Linux do_pollfd): the ready count and the entries with their revents."""
    ready = 0
    out = []
    for fd, events, _ in entries:
        rev = 0
        if fd >= 0:
            try:
                desc = fd_table.get_file(t.world, t.row, fd)
            except KernelError:
                rev = POLLNVAL
            else:
                rev = desc.poll_task(t.world, t.row) & (events | POLLERR | POLLHUP)
        if rev:
            ready += 1
        out.append((fd, events, rev))
    return ready, out


def _do_poll(t, nr, fds, nfds, timeout_ns):
    nfds = u32(nfds)
    if nfds > fd_table.nofile(t.world, t.row):
        raise KernelError(E.EINVAL)
    raw = t.mm.copy_in(fds, 8 * nfds)
    entries = list(struct.iter_unpack("<ihh", raw))
    t.machine.sync_clock()
    ready, out = _poll_once(t, entries)
    deadline = io_wait.deadline_for(t.world, t.row, nr, timeout_ns)
    if ready or timeout_ns == 0 or io_wait.timed_out(t.world, deadline):
        t.mm.copy_out(fds, b"".join(struct.pack("<ihh", *e) for e in out))
        return ready
    raise WouldBlock([(fd, events & 0xFFFF) for fd, events, _ in entries if fd >= 0], deadline,
                     Block.POLL)


@syscall("poll", FULL, args=("p", "u", "i"))
def poll(t, fds, nfds, timeout):
    """Implements poll(2)."""
    ms = s32(timeout)
    return _do_poll(t, NR_POLL, fds, nfds, None if ms < 0 else ms * 1_000_000)


def _timespec_in(t, tsp) -> int | None:
    if not tsp:
        return None
    sec, ns = struct.unpack("<qq", t.mm.copy_in(tsp, 16))
    if sec < 0 or not 0 <= ns < NSEC_PER_SEC:
        raise KernelError(E.EINVAL)
    return sec * NSEC_PER_SEC + ns


def _with_sigmask(t, mask_addr: int, size: int, call):
    """Run ``call()`` under the caller's temporary signal mask (set_user_sigmask): EINVAL for a
    size other than 8; the old mask comes back when the call returns (a handler that interrupts
    it restores it from its frame)."""
    if mask_addr:
        if size != 8:
            raise KernelError(E.EINVAL, "sigsetsize")
        mask = struct.unpack("<Q", t.mm.copy_in(mask_addr, 8))[0]
        task_signals.set_user_sigmask(t.world, t.row, mask)
    try:
        ret = call()
    except WouldBlock:
        raise  # blocked: the temporary mask holds while it waits
    except BaseException:
        if mask_addr:
            task_signals.restore_saved_sigmask(t.world, t.row)
        raise
    if mask_addr:
        task_signals.restore_saved_sigmask(t.world, t.row)
    return ret


def _time_left_out(t, addr: int, ns: int, usec: bool = False) -> None:
    """poll_select_finish: the timeout left, written back (a fault there is ignored, as Linux
    ignores it once the call is done). Not under personality's STICKY_TIMEOUTS."""
    if t.world.tasks.personality[t.row] & STICKY_TIMEOUTS:
        return
    sec, rest = divmod(max(0, ns), NSEC_PER_SEC)
    try:
        t.mm.copy_out(addr, struct.pack("<qq", sec, rest // 1000 if usec else rest))
    except KernelError:
        pass


@syscall("ppoll", FULL, "the signal mask holds for the call", args=("p", "u", "p", "p", "u"))
def ppoll(t, fds, nfds, tsp, sigmask, sigsetsize):
    """Implements ppoll(2)."""
    timeout = _timespec_in(t, tsp)

    def call():
        ret = _do_poll(t, NR_PPOLL, fds, nfds, timeout)
        if tsp:
            _time_left_out(t, tsp, io_wait.remaining(t.world, t.row, NR_PPOLL, timeout))
        return ret
    return _with_sigmask(t, sigmask, u32(sigsetsize), call)


@completion("ppoll")
def ppoll_done(t, ret, fds, nfds, tsp, sigmask, sigsetsize):
    """A ppoll a handler interrupted: the time left goes back to ``tsp``."""
    if ret == -E.EINTR and tsp:
        _time_left_out(t, tsp, int(t.world.tasks.sleep_rem_ns[t.row]))
    return ret


# -- select ------------------------------------------------------------------------------------------

# fs/select.c: the poll events that put an fd in select's read, write and except sets
POLLIN_SET = abi.POLLRDNORM | abi.POLLRDBAND | POLLIN | POLLHUP | POLLERR
POLLOUT_SET = abi.POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR
POLLEX_SET = POLLPRI

def _do_select(t, nr, nfds, rfds, wfds, efds, timeout_ns):
    nfds = s32(nfds)
    if nfds < 0:
        raise KernelError(E.EINVAL)
    nfds = min(nfds, fd_table.nofile(t.world, t.row))
    nbytes = (nfds + 63) // 64 * 8
    sets = []
    for addr in (rfds, wfds, efds):
        sets.append(int.from_bytes(t.mm.copy_in(addr, nbytes), "little") if addr and nbytes else 0)
    rin, win, ein = sets
    rout = wout = eout = 0
    waits = []
    t.machine.sync_clock()
    for fd in range(nfds):
        bit = 1 << fd
        if not (rin | win | ein) & bit:
            continue
        desc = fd_table.get_file(t.world, t.row, fd)  # EBADF, as Linux
        mask = desc.poll_task(t.world, t.row)
        if rin & bit and mask & POLLIN_SET:
            rout |= bit
        if win & bit and mask & POLLOUT_SET:
            wout |= bit
        if ein & bit and mask & POLLEX_SET:
            eout |= bit
        waits.append((fd, (POLLIN if rin & bit else 0) | (POLLOUT if win & bit else 0)
                      | (POLLPRI if ein & bit else 0)))
    ready = bin(rout).count("1") + bin(wout).count("1") + bin(eout).count("1")
    t.machine.sync_clock()
    deadline = io_wait.deadline_for(t.world, t.row, nr, timeout_ns)
    if ready or timeout_ns == 0 or io_wait.timed_out(t.world, deadline):
        for addr, val in ((rfds, rout), (wfds, wout), (efds, eout)):
            if addr and nbytes:
                t.mm.copy_out(addr, val.to_bytes(nbytes, "little"))
        return ready
    raise WouldBlock(waits, deadline, Block.POLL)


@syscall("select", FULL, args=("i", "p", "p", "p", "p"))
def select(t, nfds, rfds, wfds, efds, tvp):
    """Implements select(2): the time left is written back to ``tvp``, as Linux does."""
    timeout = None
    if tvp:
        sec, usec = struct.unpack("<qq", t.mm.copy_in(tvp, 16))
        if sec < 0 or not 0 <= usec < 1_000_000:
            raise KernelError(E.EINVAL)
        timeout = sec * 1_000_000_000 + usec * 1000
    ret = _do_select(t, NR_SELECT, nfds, rfds, wfds, efds, timeout)
    if tvp:
        _time_left_out(t, tvp, io_wait.remaining(t.world, t.row, NR_SELECT, timeout), usec=True)
    return ret


@completion("select")
def select_done(t, ret, nfds, rfds, wfds, efds, tvp):
    if ret == -E.EINTR and tvp:
        _time_left_out(t, tvp, int(t.world.tasks.sleep_rem_ns[t.row]), usec=True)
    return ret


@syscall("pselect6", FULL, "the signal mask holds for the call", args=("i", "p", "p", "p", "p", "p"))
def pselect6(t, nfds, rfds, wfds, efds, tsp, sig):
    """Implements pselect6(2): ``sig`` points to {const sigset_t *ss; size_t ss_len}."""
    timeout = _timespec_in(t, tsp)
    mask_addr = size = 0
    if sig:
        mask_addr, size = struct.unpack("<QQ", t.mm.copy_in(sig, 16))

    def call():
        ret = _do_select(t, NR_PSELECT6, nfds, rfds, wfds, efds, timeout)
        if tsp:
            _time_left_out(t, tsp, io_wait.remaining(t.world, t.row, NR_PSELECT6, timeout))
        return ret
    return _with_sigmask(t, mask_addr, size, call)


@completion("pselect6")
def pselect6_done(t, ret, nfds, rfds, wfds, efds, tsp, sig):
    if ret == -E.EINTR and tsp:
        _time_left_out(t, tsp, int(t.world.tasks.sleep_rem_ns[t.row]))
    return ret


@syscall("copy_file_range", FULL, args=("fd", "p", "fd", "p", "u", "x"))
def copy_file_range(t, fd_in, off_in_ptr, fd_out, off_out_ptr, length, flags):
    """Implements copy_file_range(2) (between regular files of the guest's file system)."""
    if flags:
        raise KernelError(E.EINVAL)
    src, dst = _file(t, fd_in), _file(t, fd_out)
    if not src.can_read or not dst.can_write:
        raise KernelError(E.EBADF)
    if dst.flags & abi.O_APPEND:
        raise KernelError(E.EBADF)
    if type(src) is not RegularFileDescription or type(dst) is not RegularFileDescription:
        raise KernelError(E.EINVAL)
    off_in = s64(t.mm.copy_in_u64(off_in_ptr)) if off_in_ptr else src.offset
    off_out = s64(t.mm.copy_in_u64(off_out_ptr)) if off_out_ptr else dst.offset
    if off_in < 0 or off_out < 0:
        raise KernelError(E.EINVAL)
    length = min(_check_count(length), 1 << 26)
    if src.inode is dst.inode and off_in < off_out + length and off_out < off_in + length:
        raise KernelError(E.EINVAL)  # overlapping ranges of one file
    data = src.pread(length, off_in)
    n = dst.pwrite(data, off_out) if data else 0
    if off_in_ptr:
        t.mm.copy_out_u64(off_in_ptr, off_in + n)
    else:
        src.offset += n
    if off_out_ptr:
        t.mm.copy_out_u64(off_out_ptr, off_out + n)
    else:
        dst.offset += n
    return n
