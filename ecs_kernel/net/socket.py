"""What every socket shares (Linux: net/core/sock.c, net/socket.c; gVisor: pkg/sentry/socket).

A :class:`Socket` is an open file description (fs/file.py) whose data live in the kernel: there
is no host socket anywhere, so a run stays a function of its input (checkpoint, --deterministic).
Its receive queue ``rx`` holds :class:`Message` rows — the bytes, the file descriptions an
SCM_RIGHTS message carries, the sender's credentials and its address — and a peer writes into it.

The shapes (the family modules fill in addresses and errors):

- connection-oriented (SOCK_STREAM, SOCK_SEQPACKET): ``listen`` makes an accept queue; a
  ``connect`` creates the server side at once (Linux's unix_stream_connect and, on loopback, a
  TCP handshake that never leaves the machine), pairs it with the client, and queues it for
  ``accept``. ``shut`` holds sk_shutdown's bits (RCV_SHUTDOWN, SEND_SHUTDOWN) that shutdown(2),
  close and a reset set;
- datagram (SOCK_DGRAM): every send is one message to the socket its address names.

Blocking follows fs/file.py: an operation that cannot go on raises EAGAIN and ``poll()`` says when
it can; the syscall layer turns that into EAGAIN for O_NONBLOCK/MSG_DONTWAIT or an io_waits row.

Buffer space: a stream writer may have ``send_limit()`` bytes unread at its peer (SO_SNDBUF for
UNIX sockets, what TCP's two buffers hold on loopback); a datagram socket's receive queue holds at
most SO_RCVBUF bytes of payload (UNIX: also at most net.unix.max_dgram_qlen messages from senders
that are not its peer).
"""
from __future__ import annotations

import struct
import time
from collections import deque

from ecs_kernel import abi
from ecs_kernel.abi import (MSG_PEEK, MSG_TRUNC, O_NONBLOCK, O_RDWR, RCV_SHUTDOWN, S_IFSOCK,
                            SEND_SHUTDOWN, SHUTDOWN_MASK, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM)
from ecs_kernel.checkpoint_objects import state_class, state_global
from ecs_kernel.errors import E, KernelError
from ecs_kernel.fs.file import FileDescription, WaitQueue, drop_in_flight, hold_in_flight
from ecs_kernel.fs.inodes import Inode, SuperBlock
from ecs_kernel.fs.pipe import BrokenPipe
from ecs_kernel.fs.stat import makedev

SOCKFS = SuperBlock("sockfs", makedev(0, 0x08), time.time_ns)
state_global("net.SOCKFS", SOCKFS)

# connection states (a subset of Linux's TCP states, used by every family)
UNCONNECTED = 0   # TCP_CLOSE
CONNECTING = 1    # TCP_SYN_SENT: a non-blocking connect waiting for room in a full backlog
CONNECTED = 2     # TCP_ESTABLISHED
LISTENING = 3     # TCP_LISTEN

# netdevice(7) requests any socket answers about the machine's interfaces (sock_do_ioctl's
# dev_ioctl): their argument is a struct ifreq the syscall layer copies in (IFREQ_SIZE bytes).
NETDEVICE_IOCTLS = (abi.SIOCGIFINDEX, abi.SIOCGIFNAME, abi.SIOCGIFFLAGS, abi.SIOCGIFMTU,
                    abi.SIOCSIFFLAGS)

# An io_waits event no file's poll() has (as fs/locks.LOCK_WAIT): a stream receive with
# MSG_WAITALL waits until the row's generation column (the bytes it wants) are queued, or no more
# can come (Socket.wait_all_ready), as tcp_recvmsg's sk_wait_data sleeps for its target.
RCV_LOWAT_WAIT = 1 << 28

NOBODY = (0, 65534, 65534)  # SCM_CREDENTIALS of a message sent without: pid 0, overflowuid/gid
NO_PEER = (0, 0xFFFF_FFFF, 0xFFFF_FFFF)  # SO_PEERCRED with no peer (cred_to_ucred): pid 0, -1, -1


def proto_name(family: int, stype: int) -> str:
    """struct proto's name for a socket of ``family`` and ``stype`` (af_unix.c: stream sockets
    use unix_stream_proto, the others unix_dgram_proto; tcp_prot, udp_prot and their v6 twins)."""
    if family == abi.AF_UNIX:
        return "UNIX-STREAM" if stype == SOCK_STREAM else "UNIX"
    six = "v6" if family == abi.AF_INET6 else ""
    return ("TCP" if stype == SOCK_STREAM else "UDP") + six


@state_class
class SocketInode(Inode):
    """The sockfs inode behind a socket's description (what fstat shows: S_IFSOCK)."""

    ftype = S_IFSOCK

    # the protocol's name (sk_prot_creator->name): the socket's dentry name, what the
    # system.sockprotoname attribute shows (fs/xattr.py)
    __state__ = {"proto_name": "~str"}
    proto_name = ""

    def __init__(self):
        super().__init__(SOCKFS, 0o777)


@state_class
class Message:
    """One queued send: ``data``, the descriptions it passes (SCM_RIGHTS, each held in flight),
    the sender's ``cred`` (pid, uid, gid; None when the send attached none: UNIX sockets attach
    them only under SO_PASSCRED or an explicit SCM_CREDENTIALS) and its address ``src`` as the
    family encodes it."""

    __slots__ = ("data", "fds", "cred", "src")

    __state__ = {"data": "bytearray", "fds": "list[@FileDescription]", "cred": "?(int,int,int)",
                 "src": "?bytes"}

    def __init__(self, data: bytes, fds: list, cred: tuple[int, int, int] | None,
                 src: bytes | None):
        self.data = bytearray(data)
        self.fds = list(fds)
        self.cred = None if cred is None else tuple(cred)
        self.src = src
        for f in self.fds:
            hold_in_flight(f)

    def drop_fds(self) -> None:
        fds, self.fds = self.fds, []
        for f in fds:
            drop_in_flight(f)


class Received:
    """What one receive took: the bytes, the descriptions passed with them (the receiver installs
    them or drops them, :meth:`Socket.drop_received`), the first sender's credentials and
    address, the msg_flags bits (MSG_TRUNC) and the datagram's full length; ``control``: the
    control messages ``(level, type, body)`` a read of the error queue gives (else None)."""

    __slots__ = ("data", "fds", "cred", "src", "flags", "full", "control")

    def __init__(self, data: bytes, fds=(), cred=None, src=None, flags: int = 0, full: int = 0,
                 control=None):
        self.data, self.fds, self.cred, self.src = data, list(fds), cred, src
        self.flags, self.full, self.control = flags, full, control


@state_class
class Socket(FileDescription):
    """A socket of any family; see the module docstring."""

    seekable = False
    sigpipe_after_partial_write = False
    ifreq_ioctls = NETDEVICE_IOCTLS  # ioctls whose argument the syscall layer copies in

    __state__ = {"family": "int", "stype": "int", "protocol": "int", "state": "int",
                 "shut": "int", "so_error": "int", "opts": "dict[int,int]", "sndbuf": "int",
                 "rcvbuf": "int", "rcvtimeo": "int", "sndtimeo": "int", "linger": "(int,int)",
                 "rx": "deque[@Message]", "rx_bytes": "int", "peer": "?@Socket",
                 "cred": "(int,int,int)", "peer_cred": "?(int,int,int)", "backlog": "int",
                 "accept_q": "deque[@Socket]"}

    def __init__(self, family: int, stype: int, protocol: int, flags: int,
                 cred: tuple[int, int, int]):
        inode = SocketInode()
        super().__init__(inode, O_RDWR | (flags & O_NONBLOCK), f"socket:[{inode.ino}]")
        self.family, self.stype, self.protocol = family, stype, protocol
        inode.proto_name = proto_name(family, stype)
        self.state = UNCONNECTED
        self.shut = 0
        self.so_error = 0
        self.opts: dict[int, int] = {}   # (level << 32 | name) -> value of the plain options
        self.sndbuf, self.rcvbuf = self.default_buffers()
        self.rcvtimeo = self.sndtimeo = 0  # SO_RCVTIMEO / SO_SNDTIMEO in ns; 0: none, -1: zero
        self.linger = (0, 0)
        self.rx: deque[Message] = deque()
        self.rx_bytes = 0
        self.peer: Socket | None = None
        self.cred = tuple(cred)           # who made it (pid, uid, gid): what peers see
        self.peer_cred: tuple[int, int, int] | None = None
        self.backlog = 0
        self.accept_q: deque[Socket] = deque()

    # -- family hooks ---------------------------------------------------------------------------
    def default_buffers(self) -> tuple[int, int]:
        return abi.WMEM_DEFAULT, abi.RMEM_DEFAULT

    def send_limit(self) -> int:
        """Bytes this stream socket may have unread at its peer."""
        return self.sndbuf

    def not_connected_send(self) -> KernelError:
        return KernelError(E.ENOTCONN)

    def not_connected_recv(self) -> KernelError:
        return KernelError(E.EINVAL)

    def peer_gone(self, peer: "Socket") -> None:
        """``peer``, our connected peer, was closed (Linux unix_release_sock, tcp_close)."""

    def released_with_data(self) -> None:
        """Release of a connected socket that still held unread data or was never accepted."""

    # -- options that every family keeps ------------------------------------------------------
    def opt(self, level: int, name: int, default: int = 0) -> int:
        return self.opts.get(level << 32 | name, default)

    def set_opt(self, level: int, name: int, value: int) -> None:
        self.opts[level << 32 | name] = value

    @property
    def connection_based(self) -> bool:
        return self.stype in (SOCK_STREAM, SOCK_SEQPACKET)

    @property
    def listening(self) -> bool:
        return self.state == LISTENING

    # -- the receive queue ------------------------------------------------------------------------
    def queue(self, msg: Message) -> None:
        self.rx.append(msg)
        self.rx_bytes += len(msg.data)
        self.notify(abi.POLLIN | abi.POLLRDNORM)  # sk_data_ready

    def _pop(self) -> Message:
        m = self.rx.popleft()
        self.rx_bytes -= len(m.data)
        return m

    def space_freed(self) -> None:
        """A read took data from our queue: the connected writer may have room again (Linux
        sock_wfree -> sk_write_space wakes the sender's queue with EPOLLOUT)."""
        peer = self.peer
        if peer is not None and not peer.released:
            peer.notify(abi.POLLOUT | abi.POLLWRNORM | abi.POLLWRBAND)

    def purge(self) -> None:
        """Drop what was never read (and the descriptions it carried)."""
        while self.rx:
            self._pop().drop_fds()

    @staticmethod
    def drop_received(got: Received) -> None:
        """The receiver could not take the descriptions ``got`` carries (no room for them)."""
        fds, got.fds = got.fds, []
        for f in fds:
            drop_in_flight(f)

    # -- connections ------------------------------------------------------------------------------
    def listen(self, backlog: int) -> None:
        if not self.connection_based:
            raise KernelError(E.EOPNOTSUPP)
        if self.state not in (UNCONNECTED, LISTENING):
            raise KernelError(E.EINVAL)
        self.backlog = max(0, min(backlog, abi.SOMAXCONN))
        self.state = LISTENING

    def backlog_full(self) -> bool:
        """sk_acceptq_is_full: more queued than the backlog (backlog 0 still takes one)."""
        return len(self.accept_q) > self.backlog

    def pair_with(self, server: "Socket") -> None:
        """Connect this socket to ``server``, the new socket a listener's connect made."""
        self.peer, server.peer = server, self
        self.state = server.state = CONNECTED

    def accept_ready(self, now: int | None) -> bool:
        """Has accept something to take (``now``: the kernel time, None if unknown)?"""
        return bool(self.accept_q)

    def accept(self, now: int | None = None) -> "Socket":
        if self.state != LISTENING:
            raise KernelError(E.EINVAL)
        if not self.accept_q:
            raise KernelError(E.EAGAIN)
        return self.accept_q.popleft()

    def shutdown(self, how: int) -> None:
        """shutdown(2): SHUT_RD, SHUT_WR, SHUT_RDWR as 0, 1, 2 (the caller checked ``how``)."""
        if self.state != CONNECTED and not (self.family == abi.AF_UNIX and (
                self.state == LISTENING or not self.connection_based)):
            raise KernelError(E.ENOTCONN)  # inet_shutdown: TCP_CLOSE (UDP unconnected too)
        mask = how + 1  # SHUT_RD -> RCV_SHUTDOWN, SHUT_WR -> SEND_SHUTDOWN, both -> both
        self.shut |= mask
        self.shutdown_peer(mask)
        self.notify(0)  # sk_state_change, here and at the peer
        if self.peer is not None:
            self.peer.notify(0)

    def shutdown_peer(self, mask: int) -> None:
        """What the peer sees of our shutdown (UNIX: the mirror bits, unix_shutdown)."""
        peer = self.peer
        if peer is not None and self.connection_based:
            if mask & RCV_SHUTDOWN:
                peer.shut |= SEND_SHUTDOWN
            if mask & SEND_SHUTDOWN:
                peer.shut |= RCV_SHUTDOWN

    def take_error(self) -> int:
        err, self.so_error = self.so_error, 0
        return err

    # -- data ----------------------------------------------------------------------------------------
    def stream_space(self) -> int:
        peer = self.peer
        if peer is None:
            return 0
        return max(0, self.send_limit() - peer.rx_bytes)

    def send_stream(self, data: bytes, fds: list, cred, src: bytes | None = None) -> int:
        """Queue ``data`` at the peer; the count queued (EAGAIN when nothing fits)."""
        if self.so_error and self.family != abi.AF_UNIX:
            raise KernelError(self.take_error())
        if self.state != CONNECTED:
            if self.shut & SEND_SHUTDOWN:
                raise BrokenPipe("shut down")
            raise self.not_connected_send()
        if self.shut & SEND_SHUTDOWN or self.peer is None or self.peer.released:
            raise BrokenPipe("the peer is gone")
        if self.stype == SOCK_SEQPACKET:
            if len(data) > self.sndbuf - 32:
                raise KernelError(E.EMSGSIZE)  # unix_dgram_sendmsg
            # sock_alloc_send_pskb: a message goes out while what we have unread at the peer is
            # under our limit, however large the message is
            if self.peer.rx and self.peer.rx_bytes >= self.send_limit():
                raise KernelError(E.EAGAIN)
            self.peer.queue(Message(data, fds, cred, src))
            return len(data)
        if not data:
            return 0  # a stream carries no empty sends (their descriptions are not passed)
        room = self.stream_space()
        if room <= 0:
            raise KernelError(E.EAGAIN)
        part = data[:room]
        self.peer.queue(Message(part, fds, cred, src))
        return len(part)

    def wait_all_ready(self, want: int) -> bool:
        """Can a MSG_WAITALL receive of ``want`` bytes go on: that much is queued, or waiting
        would not bring more (not connected, shut down, an error, the peer gone, or the peer
        cannot send because the buffers are full: then it takes what there is)?"""
        peer = self.peer
        return (self.state != CONNECTED or self.rx_bytes >= want or bool(self.shut & RCV_SHUTDOWN)
                or bool(self.so_error) or peer is None or peer.released
                or peer.stream_space() <= 0)

    def recv_stream(self, n: int, flags: int, passcred: bool) -> Received:
        """Take up to ``n`` bytes (unix_stream_read_generic / tcp_recvmsg): across queued sends,
        stopping after one that carried descriptions, and (with SO_PASSCRED) before one from
        another writer."""
        if self.state == LISTENING:
            raise self.not_connected_recv()
        if not self.rx:
            if self.so_error:
                raise KernelError(self.take_error())
            if self.shut & RCV_SHUTDOWN:
                return Received(b"")
            if self.state != CONNECTED:
                raise self.not_connected_recv()
            raise KernelError(E.EAGAIN)
        out = bytearray()
        fds: list = []
        cred, src = self.rx[0].cred, self.rx[0].src
        if flags & MSG_PEEK:
            for i, m in enumerate(self.rx):
                if i and (len(out) >= n or passcred and m.cred != cred):
                    break
                out += m.data[:n - len(out)]
                if m.fds:
                    fds = list(m.fds)
                    for f in fds:
                        hold_in_flight(f)
                    break
        else:
            first = True  # unix_stream_read_generic's do { } while (size): a zero-length read
            while self.rx and (first or len(out) < n):  # still takes the descriptions
                first = False
                m = self.rx[0]
                if passcred and m.cred != cred:
                    break
                take = min(n - len(out), len(m.data))
                out += m.data[:take]
                del m.data[:take]
                self.rx_bytes -= take
                carried, m.fds = m.fds, []
                if not m.data:
                    self.rx.popleft()
                if carried:
                    fds = carried
                    break
            if out:
                self.space_freed()
        return Received(bytes(out), fds, cred, src)

    def recv_message(self, n: int, flags: int) -> Received:
        """One whole message (SOCK_DGRAM, SOCK_SEQPACKET): truncated to ``n`` with MSG_TRUNC."""
        if self.stype == SOCK_SEQPACKET and self.state == LISTENING:
            raise self.not_connected_recv()
        if not self.rx:
            if self.so_error:
                raise KernelError(self.take_error())
            if self.shut & RCV_SHUTDOWN:
                return Received(b"")
            if self.stype == SOCK_SEQPACKET and self.state != CONNECTED:
                raise self.not_connected_recv()
            raise KernelError(E.EAGAIN)
        peek = bool(flags & MSG_PEEK)
        m = self.rx[0]
        if peek:
            fds = list(m.fds)
            for f in fds:
                hold_in_flight(f)
        else:
            self._pop()
            fds, m.fds = m.fds, []
            self.space_freed()
        full = len(m.data)
        return Received(bytes(m.data[:n]), fds, m.cred, m.src,
                        MSG_TRUNC if full > n else 0, full)

    def next_read_size(self, n: int) -> int:
        """At most how many bytes a receive of ``n`` would copy now (what the caller's buffer
        must take: Linux faults only on the bytes it copies)."""
        if self.stype == SOCK_STREAM:
            return min(n, self.rx_bytes)
        return min(n, len(self.rx[0].data)) if self.rx else 0

    def recv(self, n: int, flags: int, passcred: bool = False) -> Received:
        if self.stype == SOCK_STREAM:
            return self.recv_stream(n, flags, passcred)
        return self.recv_message(n, flags)

    def read(self, n: int) -> bytes:
        """read(2): sock_read_iter returns at once for an empty buffer. Like every socket call
        (sys_socket._sock), a read or write counts a wakeup: the families' readiness_notified
        stands on it (systems/io_wait.py)."""
        WaitQueue.changed()
        return super().read(n) if n else b""

    def write(self, data: bytes) -> int:
        WaitQueue.changed()
        return super().write(data)

    def readable(self) -> bool:
        return bool(self.poll() & (abi.POLLIN | abi.POLLERR | abi.POLLHUP))

    def writable(self) -> bool:
        return bool(self.poll() & (abi.POLLOUT | abi.POLLERR | abi.POLLHUP))

    def ioctl(self, request: int, arg: bytes | int = 0):
        if request == abi.SIOCINQ:
            if self.state == LISTENING:
                raise KernelError(E.EINVAL)
            n = self.rx_bytes if self.stype == SOCK_STREAM else (
                len(self.rx[0].data) if self.rx else 0)
            return 0, struct.pack("<i", min(n, 0x7FFF_FFFF))
        if request == abi.SIOCOUTQ:
            if self.state == LISTENING:
                raise KernelError(E.EINVAL)
            peer = self.peer
            n = peer.rx_bytes if peer is not None and self.stype == SOCK_STREAM else 0
            return 0, struct.pack("<i", min(n, 0x7FFF_FFFF))
        if request in NETDEVICE_IOCTLS:
            return 0, netdevice_ioctl(request, bytes(arg), getattr(self, "stack", None))
        raise KernelError(E.ENOTTY)

    # -- the end ------------------------------------------------------------------------------------
    def release(self) -> None:
        if self.released:
            return
        self.released = True
        unread = bool(self.rx)
        self.purge()
        while self.accept_q:
            embryo = self.accept_q.popleft()
            embryo.released_with_data()
            embryo.release()
        peer = self.peer
        if peer is not None and self.connection_based:
            if unread:
                self.released_with_data()
            peer.peer_gone(self)
            peer.notify(0)  # the peer hangs up (sk_state_change)
        self.shut = SHUTDOWN_MASK


def netdevice_ioctl(request: int, ifr: bytes, net=None) -> bytes:
    """The ifreq a netdevice request gives back. The only interface is lo of the socket's
    network namespace ``net`` (index 1, loopback; up and running unless brought down or new);
    another name or index is ENODEV. SIOCSIFFLAGS takes lo up or down by IFF_UP (the caller
    checked CAP_NET_ADMIN)."""
    if request == abi.SIOCGIFNAME:
        if struct.unpack_from("<i", ifr, abi.IFNAMSIZ)[0] != abi.LOOPBACK_IFINDEX:
            raise KernelError(E.ENODEV)
        return b"lo".ljust(abi.IFNAMSIZ, b"\0") + ifr[abi.IFNAMSIZ:]
    name = ifr[:abi.IFNAMSIZ].split(b"\0", 1)[0]
    if name != b"lo":
        raise KernelError(E.ENODEV)
    head = ifr[:abi.IFNAMSIZ]
    if request == abi.SIOCGIFINDEX:
        body = struct.pack("<i", abi.LOOPBACK_IFINDEX)
    elif request == abi.SIOCGIFFLAGS:
        up = net is None or net.lo_up
        body = struct.pack("<h", abi.IFF_LOOPBACK | (abi.IFF_UP | abi.IFF_RUNNING if up else 0))
    elif request == abi.SIOCSIFFLAGS:
        if net is not None:
            net.lo_up = bool(struct.unpack_from("<h", ifr, abi.IFNAMSIZ)[0] & abi.IFF_UP)
        return b""  # dev_ifsioc writes nothing back
    else:
        body = struct.pack("<i", abi.LOOPBACK_MTU)
    return head + body + ifr[abi.IFNAMSIZ + len(body):]


def new_buffer_size(value: int, maximum: int, minimum: int, force: bool) -> int:
    """SO_SNDBUF/SO_RCVBUF (sock_setsockopt): the kernel doubles the request for its bookkeeping,
    caps it at {w,r}mem_max (unless the FORCE variant) and keeps a floor."""
    if force:
        value = max(0, value)  # SO_*BUFFORCE: no negative values
    else:
        value = min(value & 0xFFFF_FFFF, maximum)  # min_t(u32, ...): -1 is the largest
    return max(min(value * 2, 0x7FFF_FFFF), minimum)


__all__ = ["Socket", "SocketInode", "Message", "Received", "SOCKFS", "UNCONNECTED",
           "CONNECTING", "CONNECTED", "LISTENING", "NOBODY", "RCV_LOWAT_WAIT", "NO_PEER", "NETDEVICE_IOCTLS", "new_buffer_size", "SOCK_DGRAM"]
