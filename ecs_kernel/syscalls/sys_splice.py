"""splice, tee, vmsplice (gVisor: ``sys_splice.go``; Linux: fs/splice.c).

Pipes hold copies of the bytes (fs/pipe.py), so "moving pages" is copying them: splice moves up
to ``len`` bytes between a pipe and a file (or two pipes), tee copies from one pipe into another
without consuming them, vmsplice moves user memory into a pipe (write end) or out of it (read
end). A call that finds its pipe empty (with writers) or full waits on it like read/write
(EAGAIN under SPLICE_F_NONBLOCK or O_NONBLOCK); one that finds no readers gets EPIPE and SIGPIPE.
"""
from __future__ import annotations

from ..abi import O_APPEND, O_NONBLOCK, POLLIN, POLLOUT, SPLICE_F_ALL, SPLICE_F_NONBLOCK
from ..abi import NR_SPLICE
from ..errors import E, KernelError
from ..net.socket import Socket
from ..fs.pipe import PAGE, BrokenPipe, PipeFile
from ..systems import fd_table, io_wait
from .context import WouldBlock, s32, s64
from .registry import FULL, PARTIAL, syscall
from ..fs.file import RegularFileDescription
from .sys_file import MAX_RW_COUNT, fsize_limit, verify_area
from .sys_signal import send_sigpipe



def _pipe(desc):
    return desc.pipe if isinstance(desc, PipeFile) else None


def _free(pipe) -> int:
    """Bytes a splice may add: whole free pages (splice never fills a page another write began)."""
    return (pipe.slots - len(pipe.pages)) * PAGE


def _wait_data(t, fd: int, pipe, nonblock: bool) -> bool:
    """ipipe_prep / splice_from_pipe_next: False at end of file (empty, no writers); waits on
    an empty pipe with writers."""
    if pipe.pages:
        return True
    if pipe.writers == 0:
        return False
    if nonblock:
        raise KernelError(E.EAGAIN, "pipe empty")
    raise WouldBlock([(fd, POLLIN)])


def _wait_space(t, fd: int, pipe, nonblock: bool) -> None:
    """opipe_prep / wait_for_space: EPIPE (and SIGPIPE) without readers; waits on a full pipe."""
    if pipe.readers == 0:
        send_sigpipe(t)
        raise KernelError(E.EPIPE, "no reader")
    if not pipe.full:
        return
    if nonblock:
        raise KernelError(E.EAGAIN, "pipe full")
    raise WouldBlock([(fd, POLLOUT)])


def _wait_room(t, fd: int, dst) -> None:
    """splice_to_socket's sock_sendmsg blocks on a full socket as send(2) does, bounded by
    SO_SNDTIMEO (then EAGAIN); other files that say EAGAIN wait for POLLOUT."""
    timeout = dst.sndtimeo if isinstance(dst, Socket) else 0
    t.machine.sync_clock()
    deadline = io_wait.deadline_for(t.world, t.row, NR_SPLICE, timeout or None)
    if io_wait.timed_out(t.world, deadline):
        raise KernelError(E.EAGAIN, "send timeout")
    raise WouldBlock([(fd, POLLOUT)], deadline)


def _peek(pipe, n: int) -> bytes:
    out = bytearray()
    for page in pipe.pages:
        if len(out) >= n:
            break
        out += page[: n - len(out)]
    return bytes(out)


@syscall("splice", FULL, "the bytes are copied (pipes hold copies)",
         args=("fd", "p", "fd", "p", "u", "x"))
def splice(t, fd_in, off_in, fd_out, off_out, length, flags):
    """Implements splice(2)."""
    if not length:
        return 0
    flags &= 0xFFFF_FFFF
    if flags & ~SPLICE_F_ALL:
        raise KernelError(E.EINVAL, "unknown splice flags")
    w = t.world
    fin, fout = s32(fd_in), s32(fd_out)
    src = fd_table.get_file(w, t.row, fin)
    dst = fd_table.get_file(w, t.row, fout)
    ipipe, opipe = _pipe(src), _pipe(dst)
    if ipipe is not None and off_in:
        raise KernelError(E.ESPIPE, "offset on a pipe")
    if opipe is not None and off_out:
        raise KernelError(E.ESPIPE, "offset on a pipe")
    oin = s64(t.mm.copy_in_u64(off_in)) if off_in else None
    oout = s64(t.mm.copy_in_u64(off_out)) if off_out else None
    if not src.can_read or not dst.can_write:
        raise KernelError(E.EBADF, "not open for reading or writing")
    n = min(length, MAX_RW_COUNT)
    nonblock = bool(flags & SPLICE_F_NONBLOCK)
    if ipipe is not None and opipe is not None:
        if ipipe is opipe:
            raise KernelError(E.EINVAL, "splice of a pipe to itself")
        nonblock |= bool((src.flags | dst.flags) & O_NONBLOCK)
        if not _wait_data(t, fin, ipipe, nonblock):
            return 0
        _wait_space(t, fout, opipe, nonblock)
        data = ipipe.read(min(n, len(ipipe), _free(opipe) or PAGE))
        return opipe.write(data)
    if ipipe is not None:
        if oout is not None and not dst.seekable:
            raise KernelError(E.EINVAL, "offset on an unseekable file")
        if dst.flags & O_APPEND:
            raise KernelError(E.EINVAL, "splice to an O_APPEND file")
        start = oout if oout is not None else dst.offset
        verify_area(start, n)
        nonblock |= bool(src.flags & O_NONBLOCK)
        if not _wait_data(t, fin, ipipe, nonblock):
            return 0
        data = _peek(ipipe, min(n, len(ipipe)))
        if isinstance(dst, RegularFileDescription):  # generic_write_checks: RLIMIT_FSIZE
            data = data[:fsize_limit(t, start, len(data))]
        try:
            done = dst.pwrite(data, start) if oout is not None else dst.write(data)
        except BrokenPipe:
            send_sigpipe(t)
            raise
        except KernelError as e:  # a full socket (or other file that waits): wait for room
            if e.errno == E.EAGAIN and not dst.nonblocking and not flags & SPLICE_F_NONBLOCK:
                _wait_room(t, fout, dst)
            raise
        ipipe.read(done)
        if oout is not None:
            t.mm.copy_out_u64(off_out, start + done)
        return done
    if opipe is not None:
        if oin is not None and not src.seekable:
            raise KernelError(E.EINVAL, "offset on an unseekable file")
        if oin is not None:
            verify_area(oin, n)
        nonblock |= bool(dst.flags & O_NONBLOCK)
        _wait_space(t, fout, opipe, nonblock)
        want = min(n, _free(opipe))
        if oin is not None:
            data = src.pread(want, oin)
        else:
            try:
                data = src.read(want)
            except KernelError as e:
                if e.errno == E.EAGAIN and not src.nonblocking and not nonblock:
                    raise WouldBlock([(fin, POLLIN)]) from None
                raise
        done = opipe.write(data) if data else 0
        if oin is not None:
            t.mm.copy_out_u64(off_in, oin + done)
        return done
    raise KernelError(E.EINVAL, "neither end is a pipe")


@syscall("tee", FULL, args=("fd", "fd", "u", "x"))
def tee(t, fd_in, fd_out, length, flags):
    """Implements tee(2): copy from one pipe to another, leaving the bytes in the first."""
    flags &= 0xFFFF_FFFF
    if flags & ~SPLICE_F_ALL:
        raise KernelError(E.EINVAL, "unknown flags")
    if not length:
        return 0
    w = t.world
    fin, fout = s32(fd_in), s32(fd_out)
    src = fd_table.get_file(w, t.row, fin)
    dst = fd_table.get_file(w, t.row, fout)
    if not src.can_read or not dst.can_write:
        raise KernelError(E.EBADF, "not open for reading or writing")
    ipipe, opipe = _pipe(src), _pipe(dst)
    if ipipe is None or opipe is None or ipipe is opipe:
        raise KernelError(E.EINVAL, "tee needs two different pipes")
    nonblock = bool(flags & SPLICE_F_NONBLOCK) or bool((src.flags | dst.flags) & O_NONBLOCK)
    if not _wait_data(t, fin, ipipe, nonblock):
        return 0
    _wait_space(t, fout, opipe, nonblock)
    data = _peek(ipipe, min(length, MAX_RW_COUNT, len(ipipe), _free(opipe) or PAGE))
    return opipe.write(data)


@syscall("vmsplice", PARTIAL, "copies (SPLICE_F_GIFT gives nothing away)",
         args=("fd", "iov", "u", "x"))
def vmsplice(t, fd, iov, nr_segs, flags):
    """Implements vmsplice(2)."""
    flags &= 0xFFFF_FFFF
    if flags & ~SPLICE_F_ALL:
        raise KernelError(E.EINVAL, "unknown flags")
    w = t.world
    fd = s32(fd)
    desc = fd_table.get_file(w, t.row, fd)
    if desc.can_write:
        to_pipe = True
    elif desc.can_read:
        to_pipe = False
    else:
        raise KernelError(E.EBADF, "neither readable nor writable")
    vecs = t.mm.copy_in_iovecs(iov, nr_segs)
    total = sum(n for _b, n in vecs)
    if not total:
        return 0
    pipe = _pipe(desc)
    if pipe is None:
        raise KernelError(E.EBADF, "not a pipe")
    nonblock = bool(flags & SPLICE_F_NONBLOCK) or bool(desc.flags & O_NONBLOCK)
    if to_pipe:
        _wait_space(t, fd, pipe, nonblock)
        room = _free(pipe) or PAGE
        data = bytearray()
        for base, n in vecs:
            take = min(n, room - len(data))
            if take <= 0:
                break
            data += t.mm.copy_in(base, take)
        return pipe.write(bytes(data))
    if not _wait_data(t, fd, pipe, nonblock):
        return 0
    data = pipe.read(min(total, len(pipe)))
    pos = 0
    for base, n in vecs:
        if pos >= len(data):
            break
        chunk = data[pos:pos + n]
        t.mm.copy_out(base, chunk)
        pos += len(chunk)
    return pos
