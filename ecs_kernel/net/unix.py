"""UNIX domain sockets (unix(7); Linux net/unix/af_unix.c; gVisor pkg/sentry/socket/unix).

A socket's name ``name`` is what bind gave it: ``None`` (unnamed), a path (bytes, no NUL: the
file tree holds a :class:`~ecs_kernel.fs.inodes.SocketNode` for it) or an abstract name (a NUL
then any bytes: the NetStack's table). getsockname/getpeername/accept/recvfrom give it back as a
sockaddr_un of the length Linux gives: 2 for an unnamed socket, 2 + len + 1 for a path, 2 + len
for an abstract name.

Connection-oriented sockets follow unix_stream_connect: connect makes the server-side socket at
once (copying the listener's name), pairs it with the client and queues it on the listener; the
client's SO_PEERCRED is the listener's credentials at listen(2), the server side's the client's at
connect(2). shutdown sets the mirror bits at the peer; close sets all of the peer's and, when
unread data or an unaccepted connection is thrown away, gives the peer ECONNRESET.
"""
from __future__ import annotations

import struct

from ecs_kernel import abi
from ecs_kernel.abi import (AF_UNIX, RCV_SHUTDOWN, SHUTDOWN_MASK, SOCK_DGRAM, SOCK_SEQPACKET,
                            SOCK_STREAM)
from ecs_kernel.checkpoint_objects import state_class
from ecs_kernel.errors import E, KernelError
from ecs_kernel.fs.pipe import BrokenPipe
from ecs_kernel.net.socket import CONNECTED, LISTENING, Message, Socket

_FAMILY = struct.pack("<H", AF_UNIX)


def sockaddr(name: bytes | None) -> bytes:
    """The sockaddr_un of a name, as long as Linux reports it."""
    if name is None:
        return _FAMILY
    if name.startswith(b"\0"):
        return _FAMILY + name
    return _FAMILY + name + b"\0"


def parse_sockaddr(raw: bytes, *, for_bind: bool) -> bytes | None:
    """The name in a guest's sockaddr_un of ``len(raw)`` bytes (unix_validate_addr,
    unix_mkname_bsd): None asks bind for an autobind name. EINVAL for a bad length or family."""
    if len(raw) < 2 or struct.unpack_from("<H", raw)[0] != AF_UNIX:
        raise KernelError(E.EINVAL)
    if len(raw) == 2:
        if for_bind:
            return None
        raise KernelError(E.EINVAL)
    if len(raw) > 2 + abi.UNIX_PATH_MAX:
        raise KernelError(E.EINVAL)
    path = raw[2:]
    if path[0] == 0:
        return bytes(path)
    return bytes(path.split(b"\0", 1)[0])


@state_class
class UnixSocket(Socket):
    __state__ = {"name": "?bytes", "node": "?@SocketNode", "waiting_on": "?@Socket",
                 "embryo": "bool", "stack": "~?@NetStack"}
    stack = None  # the network namespace it was made in (sock_net): its abstract names
    # Its readiness moves only in socket calls, read and write on it or a peer, and a last
    # close, and each of those counts a wakeup (sys_socket._sock, Socket.read/write, drop_ref).
    readiness_notified = True

    def __init__(self, stype: int, flags: int, cred):
        super().__init__(AF_UNIX, stype, 0, flags, cred)
        self.name: bytes | None = None
        self.node = None  # the SocketNode a path bind made
        # the socket whose full backlog or receive queue our last connect or send met: we are not
        # writable until it has room (unix_wait_for_peer)
        self.waiting_on: UnixSocket | None = None
        # a connect's server side not yet accepted (Linux: no sk_socket yet)
        self.embryo = False

    # -- family hooks ----------------------------------------------------------------------------
    def send_limit(self) -> int:
        """About what Linux lets a writer queue: each send costs its payload and as much again
        in skb overhead against SO_SNDBUF (which setsockopt doubled for that reason)."""
        return self.sndbuf // 2

    def not_connected_send(self) -> KernelError:
        return KernelError(E.ENOTCONN)

    def not_connected_recv(self) -> KernelError:
        return KernelError(E.EINVAL)

    def peer_gone(self, peer: Socket) -> None:
        self.shut = SHUTDOWN_MASK

    def released_with_data(self) -> None:
        if self.peer is not None:
            self.peer.so_error = E.ECONNRESET

    def creds_for(self, target: "UnixSocket | None", explicit, current):
        """The credentials a send attaches (unix_scm_to_skb, maybe_add_creds): the explicit
        SCM_CREDENTIALS, else the sender's ``current`` ones when either end has SO_PASSCRED or
        the receiver is not accepted yet, else none (the receiver sees pid 0, overflow ids)."""
        if explicit is not None:
            return explicit
        if self.opt(abi.SOL_SOCKET, abi.SO_PASSCRED) or target is None or target.embryo or \
                target.opt(abi.SOL_SOCKET, abi.SO_PASSCRED):
            return current
        return None

    # -- names ---------------------------------------------------------------------------------------
    @property
    def sockname(self) -> bytes:
        return sockaddr(self.name)

    @property
    def peername(self) -> bytes:
        peer = self.peer
        if peer is None or (self.stype == SOCK_DGRAM and peer.released):
            raise KernelError(E.ENOTCONN)
        return sockaddr(peer.name)

    # -- connections -----------------------------------------------------------------------------------
    def connect_to(self, target: "UnixSocket", cred) -> None:
        """unix_stream_connect once the name resolved to ``target``: EAGAIN while its backlog is
        full (the caller blocks or says EAGAIN)."""
        if target.stype != self.stype:
            raise KernelError(E.EPROTOTYPE)
        if target.released or target.state != LISTENING or target.shut & RCV_SHUTDOWN:
            raise KernelError(E.ECONNREFUSED)
        if self.state == CONNECTED:
            raise KernelError(E.EISCONN)
        if self.state == LISTENING:
            raise KernelError(E.EINVAL)
        if target.backlog_full():
            self.waiting_on = target
            raise KernelError(E.EAGAIN)
        self.waiting_on = None
        server = UnixSocket(self.stype, 0, target.cred)
        server.stack = target.stack
        server.embryo = True
        server.name = target.name
        server.peer_cred = tuple(cred)
        self.peer_cred = target.peer_cred or target.cred
        self.pair_with(server)
        target.accept_q.append(server)

    def accept(self, now: int | None = None) -> "UnixSocket":
        """unix_accept: the new socket is a socket now and takes the listener's SO_PASSCRED
        (unix_sock_inherit_flags)."""
        new = super().accept(now)
        new.embryo = False
        if self.opt(abi.SOL_SOCKET, abi.SO_PASSCRED):
            new.set_opt(abi.SOL_SOCKET, abi.SO_PASSCRED, 1)
        return new

    def connect_dgram(self, target: "UnixSocket | None") -> None:
        """connect(2) of a datagram socket: the default destination and the only sender it takes
        from; AF_UNSPEC (``None``) dissolves it."""
        if target is None:
            self.peer = None
            return
        if target.stype != self.stype:
            raise KernelError(E.EPROTOTYPE)
        if target.released:
            raise KernelError(E.ECONNREFUSED)
        if target.peer is not None and target.peer is not self and not target.peer.released:
            raise KernelError(E.EPERM)
        self.peer = target

    # -- datagrams --------------------------------------------------------------------------------------
    def send_dgram(self, data: bytes, fds: list, cred, target: "UnixSocket | None",
                   current=None) -> int:
        """unix_dgram_sendmsg to ``target`` (None: the connected peer). ``cred``: an explicit
        SCM_CREDENTIALS or None; ``current``: the sender's (``creds_for``)."""
        if self.shut & abi.SEND_SHUTDOWN:
            raise BrokenPipe("shut down")
        if target is None:
            target = self.peer
            if target is None:
                raise KernelError(E.ENOTCONN)
            if target.released:
                self.peer = None  # unix_dgram_disconnected: the next send says ENOTCONN
                raise KernelError(E.ECONNREFUSED)
        if target.released:
            raise KernelError(E.ECONNREFUSED)
        if target.stype != self.stype:
            raise KernelError(E.EPROTOTYPE)
        if target.peer is not None and target.peer is not self and not target.peer.released:
            raise KernelError(E.EPERM)
        if target.shut & RCV_SHUTDOWN:
            raise BrokenPipe("the receiver shut down")
        if len(data) > self.sndbuf - 32:
            raise KernelError(E.EMSGSIZE)
        if self.dgram_full(target):
            self.waiting_on = target
            raise KernelError(E.EAGAIN)
        self.waiting_on = None
        cred = self.creds_for(target, cred, self.cred if current is None else current)
        target.queue(Message(data, fds, cred, sockaddr(self.name)))
        return len(data)

    def dgram_full(self, target: "UnixSocket") -> bool:
        if target.peer is not self and len(target.rx) > abi.UNIX_MAX_DGRAM_QLEN:
            return True  # unix_recvq_full
        return bool(target.rx) and target.rx_bytes >= self.sndbuf

    def send(self, data: bytes, fds: list, cred) -> int:
        """A plain write(2): ``cred`` is the writer's, attached as ``creds_for`` says."""
        if self.stype == SOCK_DGRAM:
            return self.send_dgram(data, fds, None, None, cred)
        return self.send_stream(data, fds, self.creds_for(self.peer, None, cred),
                                sockaddr(self.name) if self.name else None)

    # -- readiness (unix_poll, unix_dgram_poll) -------------------------------------------------------
    def _still_blocked(self) -> bool:
        t = self.waiting_on
        if t is None or t.released:
            return False
        return t.backlog_full() if t.state == LISTENING else self.dgram_full(t)

    def poll(self) -> int:
        mask = self._poll()
        if self.waiting_on is not None and self._still_blocked():
            # a task sleeps in connect or send until the other side has room (unix_wait_for_peer)
            mask &= ~(abi.POLLOUT | abi.POLLWRNORM | abi.POLLWRBAND | abi.POLLHUP)
        return mask

    def _poll(self) -> int:
        mask = 0
        if self.so_error:
            mask |= abi.POLLERR
        if self.shut == SHUTDOWN_MASK:
            mask |= abi.POLLHUP
        if self.shut & RCV_SHUTDOWN:
            mask |= abi.POLLRDHUP | abi.POLLIN | abi.POLLRDNORM
        if self.rx or (self.state == LISTENING and self.accept_q):
            mask |= abi.POLLIN | abi.POLLRDNORM
        if self.stype in (SOCK_STREAM, SOCK_SEQPACKET):
            if self.state not in (CONNECTED, LISTENING):
                mask |= abi.POLLHUP
            if self.state != LISTENING and (self.state != CONNECTED or self.stream_space() > 0):
                mask |= abi.POLLOUT | abi.POLLWRNORM | abi.POLLWRBAND
            return mask
        peer = self.peer
        if peer is None or peer.released or not self.dgram_full(peer):
            mask |= abi.POLLOUT | abi.POLLWRNORM | abi.POLLWRBAND
        return mask

    def src_name(self, src: bytes | None) -> bytes | None:
        return src

    def _read(self, n: int) -> bytes:
        got = self.recv(n, 0)
        self.drop_received(got)
        return got.data

    def _write(self, data: bytes) -> int:
        return self.send(data, [], self.cred)


def socketpair(stype: int, flags: int, cred) -> tuple[UnixSocket, UnixSocket]:
    """socketpair(2): two connected sockets, each with the creator's credentials as the peer's."""
    a, b = UnixSocket(stype, flags, cred), UnixSocket(stype, flags, cred)
    if stype == SOCK_DGRAM:
        a.peer, b.peer = b, a
    else:
        a.pair_with(b)
    a.peer_cred = b.peer_cred = tuple(cred)
    return a, b


__all__ = ["UnixSocket", "socketpair", "sockaddr", "parse_sockaddr"]
