"""Sockets on a machine without networking (gVisor: ``sys_socket.go``).

socket(2) fails for every family with EAFNOSUPPORT: there is no network stack, not even
loopback, and no AF_UNIX namespace. socketpair(AF_UNIX) works, because a connected pair needs
neither: two byte streams (the fs layer's pipe buffers), one each way, which is what Python's
asyncio self-pipe and similar wake-up tricks use. send/recv (sendto/recvfrom with no address,
sendmsg/recvmsg with plain iovecs) and shutdown work on such a pair; everything else about
sockets is ENOTSOCK on other files, EOPNOTSUPP or EINVAL on the pair.
"""
from __future__ import annotations

import struct

from ..abi import (AF_UNIX, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_PEEK, O_NONBLOCK, O_RDWR, S_IFSOCK,
                   SHUT_RD, SHUT_RDWR, SHUT_WR, SO_DOMAIN, SO_ERROR, SO_PROTOCOL, SO_RCVBUF,
                   SO_SNDBUF, SO_TYPE, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_SEQPACKET,
                   SOCK_STREAM, SOL_SOCKET)
from .. import abi
from ..checkpoint_objects import state_class
from ..errors import E, KernelError
from ..fs.file import FileDescription
from ..fs.inodes import Inode
from ..fs.pipe import BrokenPipe, Pipe
from ..systems import fd_table
from .context import s32, u32
from .sys_epoll import ANON_SB
from .sys_file import _blocked_io, _do_read, _do_write, _file
from .registry import PARTIAL, syscall

NOTE = "no network: socket() is EAFNOSUPPORT; socketpair(AF_UNIX) gives a connected stream pair"


@state_class
class SocketInode(Inode):
    ftype = S_IFSOCK

    __state__ = {}

    def __init__(self):
        super().__init__(ANON_SB, 0o777)


@state_class
class UnixStreamEnd(FileDescription):
    """One end of a socketpair: reads ``rx``, writes ``tx``."""

    seekable = False

    __state__ = {"rx": "@Pipe", "tx": "@Pipe", "sock_type": "int", "rd_open": "bool", "wr_open": "bool"}

    def __init__(self, rx: Pipe, tx: Pipe, flags: int, sock_type: int):
        inode = SocketInode()
        super().__init__(inode, O_RDWR | (flags & O_NONBLOCK), f"socket:[{inode.ino}]")
        self.rx, self.tx, self.sock_type = rx, tx, sock_type
        rx.readers += 1
        tx.writers += 1
        self.rd_open = self.wr_open = True

    def _read(self, n: int) -> bytes:
        if not self.rd_open:
            return b""
        return self.rx.read(n)

    def _write(self, data: bytes) -> int:
        if not self.wr_open:
            raise BrokenPipe("shut down for writing")
        return self.tx.write(data)

    def readable(self) -> bool:
        return not self.rd_open or self.rx.readable()

    def writable(self) -> bool:
        return not self.wr_open or self.tx.writable()

    def poll(self) -> int:
        mask = 0
        if self.rx.pages or not self.rd_open:
            mask |= abi.POLLIN | abi.POLLRDNORM
        if self.rx.writers == 0:
            mask |= abi.POLLIN | abi.POLLRDNORM | abi.POLLRDHUP
        if self.wr_open and not self.tx.full:
            mask |= abi.POLLOUT | abi.POLLWRNORM
        if self.rx.writers == 0 and not self.wr_open:
            mask |= abi.POLLHUP
        return mask

    def ioctl(self, request: int, arg: bytes | int = 0):
        if request == abi.FIONREAD:
            return 0, struct.pack("<i", len(self.rx))
        raise KernelError(E.ENOTTY)

    def shutdown(self, how: int) -> None:
        if how in (SHUT_RD, SHUT_RDWR) and self.rd_open:
            self.rd_open = False
            self.rx.readers -= 1
        if how in (SHUT_WR, SHUT_RDWR) and self.wr_open:
            self.wr_open = False
            self.tx.writers -= 1

    def release(self) -> None:
        if self.released:
            return
        self.shutdown(SHUT_RDWR)
        self.released = True


@syscall("socket", PARTIAL, NOTE, args=("family", "socktype", "i"))
def socket(t, family, type_, protocol):
    """Implements socket(2): no address family is available."""
    if u32(type_) & ~(0xF | SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise KernelError(E.EINVAL)
    raise KernelError(E.EAFNOSUPPORT)


@syscall("socketpair", PARTIAL, NOTE, args=("family", "socktype", "i", "fds"))
def socketpair(t, family, type_, protocol, sv):
    """Implements socketpair(2) for AF_UNIX."""
    ty = u32(type_)
    flags = ty & (SOCK_NONBLOCK | SOCK_CLOEXEC)
    base = ty & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)
    if s32(family) != AF_UNIX:
        raise KernelError(E.EAFNOSUPPORT)
    if base not in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
        raise KernelError(E.EINVAL)
    if s32(protocol) not in (0, AF_UNIX):
        raise KernelError(E.EPROTONOSUPPORT)
    a2b, b2a = Pipe(), Pipe()
    a = UnixStreamEnd(b2a, a2b, flags, base)
    b = UnixStreamEnd(a2b, b2a, flags, base)
    w, row = t.world, t.row
    cloexec = bool(flags & SOCK_CLOEXEC)
    fds = []
    try:
        fds.append(fd_table.new_fd(w, row, a, cloexec=cloexec))
        fds.append(fd_table.new_fd(w, row, b, cloexec=cloexec))
        t.mm.copy_out(sv, struct.pack("<ii", *fds))
    except KernelError:
        for fd in fds:
            fd_table.close_fd(w, row, fd)
        if len(fds) < 1:
            a.release()
        if len(fds) < 2:
            b.release()
        raise
    return 0


def _sock(t, fd) -> UnixStreamEnd:
    desc = _file(t, fd)
    if not isinstance(desc, UnixStreamEnd):
        raise KernelError(E.ENOTSOCK)
    return desc


class _Flags:
    """Per-call O_NONBLOCK for MSG_DONTWAIT."""

    def __init__(self, desc, nonblock: bool):
        self.desc, self.nonblock, self.saved = desc, nonblock, desc.flags

    def __enter__(self):
        if self.nonblock:
            self.desc.flags |= O_NONBLOCK

    def __exit__(self, *exc):
        if self.nonblock:
            self.desc.flags = (self.desc.flags & ~O_NONBLOCK) | (self.saved & O_NONBLOCK)


def _send(t, desc, data: bytes, flags: int) -> int:
    with _Flags(desc, bool(flags & MSG_DONTWAIT)):
        if flags & MSG_NOSIGNAL:
            try:
                return desc.write(data)
            except KernelError as e:
                if e.errno == E.EAGAIN and not desc.nonblocking:
                    _blocked_io(t, desc, True)
                raise
        return _do_write(t, desc, data)


@syscall("sendto", PARTIAL, NOTE + "; no addresses", args=("fd", "b2", "u", "msgflags", "p", "u"))
def sendto(t, fd, buf, length, flags, addr, addrlen):
    """Implements sendto(2) on a socketpair end (no destination address)."""
    desc = _sock(t, fd)
    if addr:
        raise KernelError(E.EISCONN)
    return _send(t, desc, t.mm.copy_in(buf, min(length, 0x7FFF_F000)), u32(flags))


@syscall("recvfrom", PARTIAL, NOTE + "; no addresses, no MSG_PEEK", args=("fd", "o2", "u", "msgflags", "p", "p"))
def recvfrom(t, fd, buf, length, flags, addr, addrlen):
    """Implements recvfrom(2) on a socketpair end."""
    desc = _sock(t, fd)
    flags = u32(flags)
    if flags & MSG_PEEK:
        raise KernelError(E.EINVAL)
    with _Flags(desc, bool(flags & MSG_DONTWAIT)):
        n = _do_read(t, desc, buf, length)
    if addrlen:
        t.mm.copy_out(addrlen, struct.pack("<I", 0))
    return n


_MSGHDR = struct.Struct("<QI4xQQQQi4x")  # name, namelen, iov, iovlen, control, controllen, flags


@syscall("sendmsg", PARTIAL, NOTE + "; no control messages", args=("fd", "p", "msgflags"))
def sendmsg(t, fd, msg, flags):
    """Implements sendmsg(2) on a socketpair end."""
    desc = _sock(t, fd)
    name, _, iov, iovlen, control, controllen, _ = _MSGHDR.unpack(t.mm.copy_in(msg, 56))
    if name:
        raise KernelError(E.EISCONN)
    vecs = t.mm.copy_in_iovecs(iov, iovlen)
    data = b"".join(t.mm.copy_in(b, n) for b, n in vecs if n)
    return _send(t, desc, data, u32(flags))


@syscall("recvmsg", PARTIAL, NOTE + "; no control messages", args=("fd", "p", "msgflags"))
def recvmsg(t, fd, msg, flags):
    """Implements recvmsg(2) on a socketpair end."""
    desc = _sock(t, fd)
    name, _, iov, iovlen, control, controllen, _ = _MSGHDR.unpack(t.mm.copy_in(msg, 56))
    vecs = t.mm.copy_in_iovecs(iov, iovlen)
    done = 0
    with _Flags(desc, bool(u32(flags) & MSG_DONTWAIT)):
        for base, ln in vecs:
            if not ln:
                continue
            try:
                n = _do_read(t, desc, base, ln)
            except KernelError:
                if done:
                    break
                raise
            done += n
            if n < ln:
                break
    # msg_namelen = 0, msg_controllen = 0, msg_flags = 0
    t.mm.copy_out(msg + 8, struct.pack("<I", 0))
    t.mm.copy_out(msg + 40, struct.pack("<Q", 0))
    t.mm.copy_out(msg + 48, struct.pack("<i", 0))
    return done


@syscall("shutdown", PARTIAL, NOTE, args=("fd", "shut"))
def shutdown(t, fd, how):
    """Implements shutdown(2) on a socketpair end."""
    desc = _sock(t, fd)
    how = s32(how)
    if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
        raise KernelError(E.EINVAL)
    desc.shutdown(how)
    return 0


@syscall("getsockopt", PARTIAL, NOTE + "; SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ERROR, buffer sizes",
         args=("fd", "i", "i", "p", "p"))
def getsockopt(t, fd, level, optname, optval, optlen):
    """Implements getsockopt(2) on a socketpair end."""
    desc = _sock(t, fd)
    if s32(level) != SOL_SOCKET:
        raise KernelError(E.EOPNOTSUPP)
    opt = s32(optname)
    values = {SO_TYPE: desc.sock_type, SO_DOMAIN: AF_UNIX, SO_PROTOCOL: 0, SO_ERROR: 0,
              SO_SNDBUF: desc.tx.capacity, SO_RCVBUF: desc.rx.capacity}
    if opt not in values:
        raise KernelError(E.ENOPROTOOPT)
    ln = s32(t.mm.copy_in_u32(optlen))
    if ln < 0:
        raise KernelError(E.EINVAL)
    raw = struct.pack("<i", values[opt])[:ln]
    t.mm.copy_out(optval, raw)
    t.mm.copy_out(optlen, struct.pack("<I", len(raw)))
    return 0


@syscall("setsockopt", PARTIAL, NOTE + "; accepted and ignored", args=("fd", "i", "i", "p", "u"))
def setsockopt(t, fd, level, optname, optval, optlen):
    """Implements setsockopt(2) on a socketpair end."""
    _sock(t, fd)
    return 0


@syscall("getsockname", PARTIAL, NOTE + "; unnamed AF_UNIX", args=("fd", "p", "p"))
def getsockname(t, fd, addr, addrlen):
    """Implements getsockname(2): a socketpair end is unnamed (just sa_family)."""
    _sock(t, fd)
    ln = s32(t.mm.copy_in_u32(addrlen))
    if ln < 0:
        raise KernelError(E.EINVAL)
    t.mm.copy_out(addr, struct.pack("<H", AF_UNIX)[:ln])
    t.mm.copy_out(addrlen, struct.pack("<I", 2))
    return 0


@syscall("getpeername", PARTIAL, NOTE + "; unnamed AF_UNIX", args=("fd", "p", "p"))
def getpeername(t, fd, addr, addrlen):
    """Implements getpeername(2)."""
    return getsockname(t, fd, addr, addrlen)


def _unsupported(name: str):
    def handler(t, fd):
        _sock(t, fd)
        raise KernelError(E.EOPNOTSUPP if name in ("listen", "accept", "accept4")
                          else E.EINVAL)
    handler.__name__ = name
    handler.__doc__ = (f"Implements {name}(2): EBADF or ENOTSOCK for non-sockets; a socketpair "
                       f"end is already connected.")
    return handler


for _name in ("connect", "accept", "accept4", "bind", "listen", "sendmmsg", "recvmmsg"):
    syscall(_name, PARTIAL, NOTE, args=("fd",))(_unsupported(_name))
