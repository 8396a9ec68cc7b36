"""Socket syscalls (gVisor: ``sys_socket.go``; Linux: net/socket.c, net/core/scm.c,
net/core/sock.c's options).

The sockets themselves are ecs_kernel.net: UNIX domain sockets (stream, datagram, seqpacket; paths
in the guest's file tree, the abstract namespace) and TCP/UDP over loopback for AF_INET and
AF_INET6. There is no host network: any other destination is ENETUNREACH. Other families
(netlink, packet) are EAFNOSUPPORT.

This layer copies addresses, message headers, iovecs and control messages (SCM_RIGHTS,
SCM_CREDENTIALS) in and out, turns a socket's EAGAIN into a wait (an io_waits row on the socket's
fd: systems/io_wait.py) or into EAGAIN for O_NONBLOCK and MSG_DONTWAIT, honours SO_RCVTIMEO and
SO_SNDTIMEO on the socket calls, and sends SIGPIPE for EPIPE unless MSG_NOSIGNAL.
"""
from __future__ import annotations

import struct

from .. import abi
from ..abi import (AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC, CAP_NET_ADMIN, CAP_NET_BIND_SERVICE,
                   CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP,
                   IPPROTO_UDP, MSG_CMSG_CLOEXEC, MSG_CTRUNC, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_OOB,
                   MSG_PEEK, MSG_TRUNC, MSG_WAITALL, MSG_WAITFORONE, O_NONBLOCK, O_RDWR, POLLIN,
                   POLLOUT, POLLRDNORM, POLLWRNORM, SCM_CREDENTIALS, SCM_MAX_FD,
                   SCM_RIGHTS, SHUT_RD, SHUT_RDWR, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK,
                   SOCK_RAW, SOCK_SEQPACKET, SOCK_STREAM, SOCK_TYPE_MASK, SOL_SOCKET,
                   TASK_SIZE)
from ..errors import E, KernelError
from ..fs.file import WaitQueue, drop_in_flight
from ..fs.inodes import MAY_WRITE, SocketNode, check_permission
from ..net import inet, unix
from ..net.inet import (CONGESTION, CONGESTION_DEFAULT, InetSocket, retrans_to_secs,
                        secs_to_retrans)
from ..net.socket import (CONNECTED, LISTENING, NO_PEER, NOBODY, RCV_LOWAT_WAIT, Socket,
                          new_buffer_size)
from ..net import stack
from ..net.stack import NetStack
from ..net.unix import UnixSocket
from ..components import pidns
from ..components.user_namespace import GID, UID
from ..systems import fd_table, io_wait, task_identity, task_sched
from ..systems import user_namespace as userns
from .context import WouldBlock, s32, u32
from .registry import FULL, PARTIAL, syscall
from .sys_file import MAX_RW_COUNT, _iov, _timespec_in, write_all
from .sys_process import _leader, getpid
from .sys_signal import send_sigpipe

_MSGHDR = struct.Struct("<QI4xQQQQi4x")  # name, namelen, iov, iovlen, control, controllen, flags
_CMSGHDR = struct.Struct("<QiI")         # cmsg_len, cmsg_level, cmsg_type
_MMSGHDR = 64                            # struct mmsghdr: a msghdr and msg_len, padded


def _align(n: int) -> int:
    return (n + 7) & ~7


# -- helpers ------------------------------------------------------------------------------------------

def net_stack(t) -> NetStack:
    """The network namespace of the calling task (where its new sockets belong)."""
    return stack.stack_of(t.world, t.row)


def _sock_net(t, sock: Socket) -> NetStack:
    """sock_net: the network namespace ``sock`` was made in (UNIX sockets made before
    namespaces were modelled: the caller's)."""
    return getattr(sock, "stack", None) or net_stack(t)


def _sock(t, fd) -> Socket:
    desc = fd_table.get_file(t.world, t.row, s32(fd))
    if not isinstance(desc, Socket):
        raise KernelError(E.ENOTSOCK)
    # A socket call may make this socket or another ready (a connection queued, backlog room,
    # a buffer resized) without waking a queue: the sockets' readiness_notified stands on this.
    WaitQueue.changed()
    return desc


def _global_pid(w, task: int) -> int:
    """A task's id in the root PID namespace: what a socket keeps of a process (Linux keeps
    its struct pid), shown in each reader's namespace by :func:`_pid_seen`."""
    return int(w.tasks.tids[task, 0])


def _pid_seen(t, pid: int) -> int:
    """pid_vnr of the process whose root-namespace id is ``pid``, for the caller: its id in
    the caller's namespace, 0 where it is not visible. A process gone from the tables (it
    exited) is shown by its root id to root-namespace readers, as 0 to others."""
    if pid <= 0:
        return 0
    w = t.world
    ns = int(w.tasks.ns[t.row])
    root = pidns.chain(w, ns)[-1]
    task = pidns.task_by_tid(w, root, pid)
    if task < 0:
        return pid if ns == root else 0
    return pidns.tid_in(w, task, ns)


def _peer_cred(t) -> tuple[int, int, int]:
    """What SO_PEERCRED shows of the caller: its process (root-namespace id), effective uid
    and gid."""
    T = t.world.tasks
    return _global_pid(t.world, _leader(t.world, t.row)), int(T.euid[t.row]), int(T.egid[t.row])


def _scm_cred(t) -> tuple[int, int, int]:
    """The credentials a message carries by default (scm_set_cred: the process, real uid and
    gid)."""
    T = t.world.tasks
    return _global_pid(t.world, _leader(t.world, t.row)), int(T.ruid[t.row]), int(T.rgid[t.row])


def _capable(t, cap: int) -> bool:
    return task_identity.capable(t.world, t.row, cap)


def _seen_cred(t, cred: tuple[int, int, int] | None) -> tuple[int, int, int]:
    """Credentials kept in kernel ids as the caller's user namespace sees them (scm_recv's and
    cred_to_ucred's from_kuid_munged); none is NOBODY."""
    if not cred:
        return NOBODY
    pid, uid, gid = cred
    return (_pid_seen(t, pid), userns.uid_of(t.world, t.row, uid),
            userns.gid_of(t.world, t.row, gid))


def _addr_in(t, addr: int, addrlen: int) -> bytes:
    """move_addr_to_kernel: EINVAL for a negative or oversized length, EFAULT for bad memory."""
    n = s32(addrlen)
    if n < 0 or n > abi.SOCKADDR_STORAGE_SIZE:
        raise KernelError(E.EINVAL)
    return t.mm.copy_in(addr, n) if n else b""


def _addr_out(t, addr: int, addrlen_ptr: int, raw: bytes | None) -> None:
    """move_addr_to_user: the first min(*addrlen, len) bytes, and the full length in *addrlen."""
    if not addr or not addrlen_ptr:
        return
    room = s32(t.mm.copy_in_u32(addrlen_ptr))
    if room < 0:
        raise KernelError(E.EINVAL)
    raw = raw or b""
    if raw and room:
        t.mm.copy_out(addr, raw[:room])
    t.mm.copy_out(addrlen_ptr, struct.pack("<I", len(raw)))


def _wait(t, fd, sock: Socket, events: int, nr: int, timeout_ns: int, nonblock: bool,
          timeout_errno: int = E.EAGAIN, gen: int = 0):
    """The call cannot go on: EAGAIN when it must not block, else wait for ``events`` on ``fd``
    (at most the socket's timeout, after which it fails with ``timeout_errno``; ``gen``: the
    io_waits row's generation column, what a RCV_LOWAT_WAIT waits for)."""
    if nonblock or sock.nonblocking:
        raise KernelError(E.EAGAIN)
    t.machine.sync_clock()
    deadline = io_wait.deadline_for(t.world, t.row, nr, timeout_ns or None)
    if io_wait.timed_out(t.world, deadline):
        raise KernelError(timeout_errno)
    raise WouldBlock([(s32(fd), events)], deadline, lock_gen=gen)


# -- addresses ---------------------------------------------------------------------------------------

def _unix_target(t, sock: UnixSocket, name: bytes) -> UnixSocket:
    """The socket a UNIX name refers to: ECONNREFUSED when nobody is bound there, ENOENT (and the
    other path errors) when a path does not resolve, EACCES without write permission on it.
    An abstract name is looked up in ``sock``'s network namespace."""
    if name.startswith(b"\0"):
        target = _sock_net(t, sock).abstract_lookup(name)
        if target is None:
            raise KernelError(E.ECONNREFUSED)
        return target
    creds = t.creds()
    res = t.fs.resolve(name, cwd=t.fsctx.cwd, creds=creds)
    node = res.inode
    if not isinstance(node, SocketNode):
        raise KernelError(E.ECONNREFUSED)
    check_permission(node, creds, MAY_WRITE)
    target = node.bound
    if not isinstance(target, UnixSocket) or target.released:
        raise KernelError(E.ECONNREFUSED)
    return target


def _unix_bind(t, sock: UnixSocket, name: bytes | None) -> None:
    if sock.name is not None:
        raise KernelError(E.EINVAL)
    net = _sock_net(t, sock)
    if name is None:
        name = net.autobind_name()
    if name.startswith(b"\0"):
        net.abstract_bind(name, sock)
    else:
        try:
            sock.node = t.fs.mknod(  # unix_bind: the socket inode's mode less the umask
                name, lambda sb, mode, uid, gid: SocketNode(sb, mode, uid, gid, sock),
                sock.inode.mode & 0o777,
                cwd=t.fsctx.cwd, creds=t.creds(), umask=t.fsctx.umask)
        except KernelError as e:
            if e.errno == E.EEXIST:
                raise KernelError(E.EADDRINUSE) from None
            raise
    sock.name = name


def _inet_dest(sock: InetSocket, raw: bytes, connecting: bool = False) -> tuple[int, bytes, int]:
    """The destination of a connect or send: a sockaddr of the socket's family (or AF_UNSPEC).
    An IPv6 UDP socket also takes a sockaddr_in (ip6_datagram_connect, udpv6_sendmsg): not
    under IPV6_V6ONLY (connect: EAFNOSUPPORT; send: ENETUNREACH)."""
    if len(raw) >= 2 and struct.unpack_from("<H", raw)[0] == AF_UNSPEC and connecting:
        # inet_dgram_connect / inet_stream_connect: AF_UNSPEC disconnects, whatever the length
        return AF_UNSPEC, (inet.ANY4 if sock.family == AF_INET else inet.ANY6), 0
    if sock.family == AF_INET6 and not sock.tcp and len(raw) >= 2 and \
            struct.unpack_from("<H", raw)[0] == AF_INET:
        if sock.v6only:
            raise KernelError(E.EAFNOSUPPORT if connecting else E.ENETUNREACH)
        fam, ip, port = inet.parse_sockaddr(AF_INET, raw)
        return AF_INET6, ip, port
    fam, ip, port = inet.parse_sockaddr(sock.family, raw)
    if fam != sock.family and fam != AF_UNSPEC:
        raise KernelError(E.EAFNOSUPPORT)
    return fam, ip, port


# -- creating -----------------------------------------------------------------------------------------

@syscall("socket", PARTIAL, "AF_UNIX stream/dgram/seqpacket, AF_INET and AF_INET6 TCP and UDP on "
         "loopback; other families EAFNOSUPPORT, raw sockets ESOCKTNOSUPPORT",
         args=("family", "socktype", "proto"))
def socket(t, family, type_, protocol):
    """Implements socket(2)."""
    ty = u32(type_)
    if ty & ~(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise KernelError(E.EINVAL)
    flags, base = ty & (SOCK_NONBLOCK | SOCK_CLOEXEC), ty & SOCK_TYPE_MASK
    family, protocol = s32(family), s32(protocol)
    if not 0 <= family < abi.AF_MAX:
        raise KernelError(E.EAFNOSUPPORT)
    sock = new_socket(t, family, base, protocol, flags)
    return _install(t, sock, bool(flags & SOCK_CLOEXEC))


def new_socket(t, family: int, base: int, protocol: int, flags: int) -> Socket:
    if family == AF_UNIX:
        if base == SOCK_RAW:
            base = SOCK_DGRAM  # unix_create
        if base not in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
            raise KernelError(E.ESOCKTNOSUPPORT)
        if protocol not in (0, AF_UNIX):
            raise KernelError(E.EPROTONOSUPPORT)
        sock = UnixSocket(base, flags, _peer_cred(t))
        sock.stack = net_stack(t)
        return sock
    if family in (AF_INET, AF_INET6):
        if base == SOCK_STREAM and protocol in (0, IPPROTO_TCP):
            protocol = IPPROTO_TCP
        elif base == SOCK_DGRAM and protocol in (0, IPPROTO_UDP):
            protocol = IPPROTO_UDP
        elif base == SOCK_DGRAM and protocol in (abi.IPPROTO_ICMP, abi.IPPROTO_ICMPV6):
            raise KernelError(E.EACCES)  # net.ipv4.ping_group_range is "1 0": nobody
        elif base == SOCK_RAW:
            raise KernelError(E.EPERM if not _capable(t, abi.CAP_NET_RAW) else E.ESOCKTNOSUPPORT)
        elif base in (SOCK_STREAM, SOCK_DGRAM):
            raise KernelError(E.EPROTONOSUPPORT)
        else:
            raise KernelError(E.ESOCKTNOSUPPORT)
        return InetSocket(net_stack(t), family, base, protocol, flags, _peer_cred(t))
    raise KernelError(E.EAFNOSUPPORT)


def _install(t, sock: Socket, cloexec: bool) -> int:
    try:
        return fd_table.new_fd(t.world, t.row, sock, cloexec=cloexec)
    except KernelError:
        sock.release()
        raise


@syscall("socketpair", FULL, "AF_UNIX (other families: EOPNOTSUPP or EAFNOSUPPORT, as Linux)",
         args=("family", "socktype", "proto", "fds"))
def socketpair(t, family, type_, protocol, sv):
    """Implements socketpair(2)."""
    ty = u32(type_)
    if ty & ~(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise KernelError(E.EINVAL)
    flags, base = ty & (SOCK_NONBLOCK | SOCK_CLOEXEC), ty & SOCK_TYPE_MASK
    family, protocol = s32(family), s32(protocol)
    if family in (AF_INET, AF_INET6):
        new_socket(t, family, base, protocol, flags)  # its errors first, as Linux's create
        raise KernelError(E.EOPNOTSUPP)
    if family != AF_UNIX:
        raise KernelError(E.EAFNOSUPPORT)
    if base == SOCK_RAW:
        base = SOCK_DGRAM
    if base not in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
        raise KernelError(E.ESOCKTNOSUPPORT)
    if protocol not in (0, AF_UNIX):
        raise KernelError(E.EPROTONOSUPPORT)
    a, b = unix.socketpair(base, flags, _peer_cred(t))
    a.stack = b.stack = net_stack(t)
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


# -- names and connections ----------------------------------------------------------------------------

@syscall("bind", PARTIAL, "UNIX paths (a socket inode in the guest's tree), abstract names and "
         "autobind; loopback and wildcard inet addresses; no TIME_WAIT: a port is free again as "
         "soon as its sockets are closed", args=("fd", "sockaddr", "u"))
def bind(t, fd, addr, addrlen):
    """Implements bind(2)."""
    sock = _sock(t, fd)
    raw = _addr_in(t, addr, addrlen)
    if isinstance(sock, UnixSocket):
        _unix_bind(t, sock, unix.parse_sockaddr(raw, for_bind=True))
        return 0
    fam, ip, port = inet.parse_sockaddr(sock.family, raw)
    if fam != sock.family and not (sock.family == AF_INET and fam == AF_UNSPEC
                                   and ip == inet.ANY4):
        raise KernelError(E.EAFNOSUPPORT)
    sock.bind(ip, port, low_ports=_capable(t, CAP_NET_BIND_SERVICE))
    return 0


@syscall("listen", FULL, args=("fd", "i"))
def listen(t, fd, backlog):
    """Implements listen(2)."""
    sock = _sock(t, fd)
    n = s32(backlog)
    if n < 0 or n > abi.SOMAXCONN:
        n = abi.SOMAXCONN
    if isinstance(sock, UnixSocket):
        if sock.stype == SOCK_DGRAM:
            raise KernelError(E.EOPNOTSUPP)
        if sock.name is None:
            raise KernelError(E.EINVAL)
    sock.listen(n)
    sock.peer_cred = _peer_cred(t)  # init_peercred: what connecting clients see
    return 0


@syscall("connect", PARTIAL, "UNIX names; TCP and UDP on loopback, ENETUNREACH elsewhere; "
         "AF_UNSPEC does not disconnect a connected TCP socket",
         args=("fd", "sockaddr", "u"))
def connect(t, fd, addr, addrlen):
    """Implements connect(2)."""
    sock = _sock(t, fd)
    raw = _addr_in(t, addr, addrlen)
    if isinstance(sock, UnixSocket):
        if sock.stype == SOCK_DGRAM:
            if len(raw) >= 2 and struct.unpack_from("<H", raw)[0] == AF_UNSPEC:
                sock.connect_dgram(None)
                return 0
            target = _unix_target(t, sock, unix.parse_sockaddr(raw, for_bind=False))
            if sock.name is None and sock.opt(SOL_SOCKET, abi.SO_PASSCRED):
                _unix_bind(t, sock, None)
            sock.connect_dgram(target)
            return 0
        name = unix.parse_sockaddr(raw, for_bind=False)
        target = _unix_target(t, sock, name)
        if sock.name is None and sock.opt(SOL_SOCKET, abi.SO_PASSCRED):
            _unix_bind(t, sock, None)
        try:
            sock.connect_to(target, _peer_cred(t))
        except KernelError as e:
            if e.errno != E.EAGAIN:
                raise
            if sock.nonblocking:
                sock.waiting_on = None  # only a task that waits is held back from POLLOUT
            _wait(t, fd, sock, POLLOUT, abi.NR_CONNECT, sock.sndtimeo, False)
        return 0
    fam, ip, port = _inet_dest(sock, raw, connecting=True)
    if not sock.tcp:
        sock.connect_udp(fam, ip, port)
        return 0
    if fam == AF_UNSPEC:
        if sock.state in (CONNECTED, LISTENING):
            raise KernelError(E.EISCONN)  # a TCP disconnect is not modelled
        return 0
    dest = sock.route(fam, ip)
    t.machine.sync_clock()
    try:
        sock.connect_tcp(dest, port, sock.nonblocking, t.world.now_ns)
    except KernelError as e:
        if e.errno != E.EAGAIN:
            raise
        _wait(t, fd, sock, POLLOUT, abi.NR_CONNECT, sock.sndtimeo, False, E.EINPROGRESS)
    return 0


def _accept(t, fd, addr, addrlen, flags, nr):
    flags = s32(flags)
    if flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK):
        raise KernelError(E.EINVAL)
    sock = _sock(t, fd)
    if not sock.connection_based:
        raise KernelError(E.EOPNOTSUPP)
    if sock.state != LISTENING:
        raise KernelError(E.EINVAL)
    t.machine.sync_clock()
    if not sock.accept_ready(t.world.now_ns):
        _wait(t, fd, sock, POLLIN | POLLRDNORM, nr, sock.rcvtimeo, False)
    new = sock.accept(t.world.now_ns)
    new.flags = O_RDWR | (flags & O_NONBLOCK)
    try:
        _addr_out(t, addr, addrlen, new.peer_addr if isinstance(new, InetSocket) else
                  new.peername if new.peer is not None else new.sockname)
    except KernelError:
        new.release()
        raise
    return _install(t, new, bool(flags & SOCK_CLOEXEC))


@syscall("accept", FULL, args=("fd", "osockaddr", "osocklen"))
def accept(t, fd, addr, addrlen):
    """Implements accept(2)."""
    return _accept(t, fd, addr, addrlen, 0, abi.NR_ACCEPT)


@syscall("accept4", FULL, args=("fd", "osockaddr", "osocklen", "sockflags"))
def accept4(t, fd, addr, addrlen, flags):
    """Implements accept4(2)."""
    return _accept(t, fd, addr, addrlen, flags, abi.NR_ACCEPT4)


@syscall("getsockname", FULL, args=("fd", "osockaddr", "osocklen"))
def getsockname(t, fd, addr, addrlen):
    """Implements getsockname(2)."""
    sock = _sock(t, fd)
    _addr_out(t, addr, addrlen, sock.sockname)
    return 0


@syscall("getpeername", FULL, args=("fd", "osockaddr", "osocklen"))
def getpeername(t, fd, addr, addrlen):
    """Implements getpeername(2)."""
    sock = _sock(t, fd)
    _addr_out(t, addr, addrlen, sock.peername)
    return 0


@syscall("shutdown", FULL, args=("fd", "shut"))
def shutdown(t, fd, how):
    """Implements shutdown(2)."""
    sock = _sock(t, fd)
    how = s32(how)
    if how not in (SHUT_RD, abi.SHUT_WR, SHUT_RDWR):
        raise KernelError(E.EINVAL)
    sock.shutdown(how)
    return 0


# -- sending ---------------------------------------------------------------------------------------------

def _send(t, fd, sock: Socket, data: bytes, flags: int, dest: bytes | None, fds=(),
          cred=None, nr: int = abi.NR_SENDTO) -> int:
    """One send: ``dest`` is the raw sockaddr (or None). A blocking stream send moves all of
    ``data`` (sys_file.write_all: waits between pieces); a datagram goes whole or not at all.
    EPIPE sends SIGPIPE unless MSG_NOSIGNAL."""
    if flags & MSG_OOB and (isinstance(sock, UnixSocket) or not sock.tcp):
        raise KernelError(E.EOPNOTSUPP)
    current = _scm_cred(t)  # ``cred``: an explicit SCM_CREDENTIALS, or None
    nonblock = bool(flags & MSG_DONTWAIT)
    try:
        if isinstance(sock, UnixSocket) and sock.stype == SOCK_DGRAM:
            target = None
            if dest:
                target = _unix_target(t, sock, unix.parse_sockaddr(dest, for_bind=False))
            if sock.name is None and sock.opt(SOL_SOCKET, abi.SO_PASSCRED):
                _unix_bind(t, sock, None)
            try:
                return sock.send_dgram(data, list(fds), cred, target, current)
            except KernelError as e:
                if e.errno == E.EAGAIN:
                    if nonblock or sock.nonblocking:
                        sock.waiting_on = None
                    _wait(t, fd, sock, POLLOUT | POLLWRNORM, nr, sock.sndtimeo, nonblock)
                raise
        if isinstance(sock, InetSocket) and not sock.tcp:
            if fds:
                raise KernelError(E.EINVAL)
            return sock.send_udp(data, _inet_dest(sock, dest) if dest else None)
        if isinstance(sock, UnixSocket):
            if dest and sock.stype == SOCK_STREAM:
                raise KernelError(E.EISCONN if sock.state == CONNECTED else E.EOPNOTSUPP)
            # unix_seqpacket_sendmsg ignores the address
            src = unix.sockaddr(sock.name) if sock.name is not None else None
            cred = sock.creds_for(sock.peer, cred, current)
        elif fds:
            raise KernelError(E.EINVAL)
        else:
            src = None
        deadline = None
        if sock.sndtimeo:
            t.machine.sync_clock()
            deadline = io_wait.deadline_for(t.world, t.row, nr, sock.sndtimeo)
            if io_wait.timed_out(t.world, deadline):
                done = io_wait.progress(t.world, t.row)
                if done:
                    return done
                raise KernelError(E.EAGAIN)
        fds = list(fds)
        # a send cut short returns its count without SIGPIPE (unix_stream_sendmsg, tcp_sendmsg)
        n = write_all(t, sock, data, lambda rest, done: sock.send_stream(
            rest, fds if not done else [], cred, src), nonblock, deadline, sigpipe=False)
        if isinstance(sock, InetSocket) and sock.corked and sock.cork_since < 0:
            t.machine.sync_clock()
            sock.settle(t.world.now_ns)  # TCP_CORK's ceiling runs from now
        return n
    except KernelError as e:
        if e.errno == E.EPIPE and not flags & MSG_NOSIGNAL:
            send_sigpipe(t)
        raise


@syscall("sendto", PARTIAL, "no TCP urgent data (MSG_OOB is EOPNOTSUPP); MSG_MORE does not cork", args=("fd", "b2", "u", "msgflags",
                                                       "sockaddr", "u"))
def sendto(t, fd, buf, length, flags, addr, addrlen):
    """Implements sendto(2)."""
    sock = _sock(t, fd)
    flags = u32(flags)
    dest = _addr_in(t, addr, addrlen) if addr else None
    n = min(length, MAX_RW_COUNT)  # size_t: Linux clamps it to INT_MAX, then to MAX_RW_COUNT
    data = t.mm.copy_in(buf, n) if n else b""
    return _send(t, fd, sock, data, flags, dest or None)


def _control_in(t, sock: Socket, control: int, controllen: int):
    """The descriptions (SCM_RIGHTS) and credentials (SCM_CREDENTIALS) of a sendmsg (__scm_send)."""
    if controllen > 0x7FFF_FFFF:
        raise KernelError(E.ENOBUFS)
    if not controllen:
        return [], None
    buf = t.mm.copy_in(control, controllen)
    fds: list = []
    cred = None
    pos = 0
    while pos + _CMSGHDR.size <= len(buf):
        clen, level, ctype = _CMSGHDR.unpack_from(buf, pos)
        if clen < _CMSGHDR.size or pos + clen > len(buf):
            raise KernelError(E.EINVAL)
        body = buf[pos + _CMSGHDR.size:pos + clen]
        if level != SOL_SOCKET:
            raise KernelError(E.EINVAL)
        if ctype == SCM_RIGHTS:
            if not isinstance(sock, UnixSocket):
                raise KernelError(E.EINVAL)
            n = len(body) // 4
            if n == 0:
                pos += _align(clen)
                continue  # scm_fp_copy: no descriptions is no error
            if n + len(fds) > SCM_MAX_FD:
                raise KernelError(E.EINVAL)
            for (nfd,) in struct.iter_unpack("<i", body[:n * 4]):
                fds.append(fd_table.get_file(t.world, t.row, nfd))
        elif ctype == SCM_CREDENTIALS:
            if clen != _CMSGHDR.size + 12:
                raise KernelError(E.EINVAL)
            pid, uid, gid = struct.unpack("<iII", body)
            w, r = t.world, t.row
            T = w.tasks
            own = int(T.userns[r])
            uid = userns.to_kid(w, own, UID, uid)  # __scm_send: the caller's ids, mapped
            gid = userns.to_kid(w, own, GID, gid)
            if uid == abi.INVALID_ID or gid == abi.INVALID_ID:
                raise KernelError(E.EINVAL)
            pid_owner = int(w.pid_namespaces.userns[int(T.ns[r])])  # scm_check_creds
            if pid != getpid(t) and not task_identity.ns_capable(w, r, pid_owner, CAP_SYS_ADMIN):
                raise KernelError(E.EPERM)
            if uid not in (int(T.ruid[r]), int(T.euid[r]), int(T.suid[r])) and \
                    not task_identity.own_capable(w, r, CAP_SETUID):
                raise KernelError(E.EPERM)
            if gid not in (int(T.rgid[r]), int(T.egid[r]), int(T.sgid[r])) and \
                    not task_identity.own_capable(w, r, CAP_SETGID):
                raise KernelError(E.EPERM)
            try:  # __scm_send: the pid must name a task of the caller's namespace
                if pid <= 0:
                    raise KernelError(E.ESRCH)
                named = task_sched.find_task(t.world, t.row, pid)
            except KernelError:
                raise KernelError(E.ESRCH) from None
            cred = (_global_pid(w, named), uid, gid)
        else:
            raise KernelError(E.EINVAL)
        pos += _align(clen)
    return fds, cred


def _sendmsg(t, fd, sock: Socket, msg: int, flags: int, nr: int) -> int:
    name, namelen, iov, iovlen, control, controllen, _ = _MSGHDR.unpack(t.mm.copy_in(msg, 56))
    if iovlen > abi.UIO_MAXIOV:
        raise KernelError(E.EMSGSIZE)
    dest = _addr_in(t, name, namelen) if name else None
    vecs = _iov(t, iov, iovlen)
    data = b"".join(t.mm.copy_in(b, n) for b, n in vecs if n)[:MAX_RW_COUNT]
    fds, cred = _control_in(t, sock, control, controllen)
    return _send(t, fd, sock, data, flags, dest or None, fds, cred, nr)


@syscall("sendmsg", PARTIAL, "SCM_RIGHTS and SCM_CREDENTIALS on UNIX sockets; IP control "
         "messages are EINVAL",
         args=("fd", "msghdr", "msgflags"))
def sendmsg(t, fd, msg, flags):
    """Implements sendmsg(2)."""
    sock = _sock(t, fd)
    return _sendmsg(t, fd, sock, msg, u32(flags), abi.NR_SENDMSG)


@syscall("sendmmsg", PARTIAL, "a send that would block after the first ends the batch",
         args=("fd", "p", "u", "msgflags"))
def sendmmsg(t, fd, msgvec, vlen, flags):
    """Implements sendmmsg(2)."""
    sock = _sock(t, fd)
    vlen = min(u32(vlen), abi.UIO_MAXIOV)
    flags = u32(flags)
    done = 0
    for i in range(vlen):
        hdr = msgvec + i * _MMSGHDR
        try:
            n = _sendmsg(t, fd, sock, hdr, flags | (MSG_DONTWAIT if done else 0),
                         abi.NR_SENDMMSG)
        except (KernelError, WouldBlock):
            if done:
                break
            raise
        t.mm.copy_out(hdr + 56, struct.pack("<I", n))
        done += 1
    return done


# -- receiving ---------------------------------------------------------------------------------------------

def _recv(t, fd, sock: Socket, n: int, flags: int, nr: int):
    """One receive: the Received, waiting (or EAGAIN) as Linux's recvmsg."""
    if flags & MSG_OOB:
        raise KernelError(E.EOPNOTSUPP if isinstance(sock, UnixSocket) or not sock.tcp
                          else E.EINVAL)
    if flags & abi.MSG_ERRQUEUE and isinstance(sock, InetSocket):
        return sock.recv_error()  # ip_recv_error: never waits; UNIX ignores the flag
    passcred = isinstance(sock, UnixSocket) and bool(sock.opt(SOL_SOCKET, abi.SO_PASSCRED))
    if isinstance(sock, InetSocket) and sock.peer is not None and sock.peer.corked:
        t.machine.sync_clock()
        sock.settle_peer(t.world.now_ns)  # what the peer's cork held past its ceiling arrives
    if (flags & MSG_WAITALL and sock.stype == SOCK_STREAM and not flags & MSG_PEEK
            and not sock.nonblocking and not flags & MSG_DONTWAIT
            and not sock.wait_all_ready(n)):
        try:  # woken when n bytes are there (or no more can come), not at the first byte
            _wait(t, fd, sock, RCV_LOWAT_WAIT, nr, sock.rcvtimeo, False, gen=n)
        except KernelError as e:  # SO_RCVTIMEO passed: MSG_WAITALL returns what there is
            if e.errno != E.EAGAIN:
                raise
    try:
        return sock.recv(n, flags, passcred)
    except KernelError as e:
        if e.errno == E.EAGAIN:
            _wait(t, fd, sock, POLLIN | POLLRDNORM, nr, sock.rcvtimeo, bool(flags & MSG_DONTWAIT))
        raise


def _discards(sock: Socket, flags: int) -> bool:
    """tcp_recvmsg with MSG_TRUNC takes (or, with MSG_PEEK, looks at) the bytes without copying
    them to the caller."""
    return bool(flags & MSG_TRUNC) and isinstance(sock, InetSocket) and sock.tcp


def _result(sock: Socket, got, flags: int) -> int:
    if flags & MSG_TRUNC and sock.stype != SOCK_STREAM:
        return got.full
    return len(got.data)


@syscall("recvfrom", PARTIAL, "no TCP urgent data (MSG_OOB is EINVAL); the error queue (MSG_ERRQUEUE) "
         "holds UDP's local EMSGSIZE errors only", args=("fd", "o2", "u", "msgflags",
                                                         "osockaddr", "osocklen"))
def recvfrom(t, fd, buf, length, flags, addr, addrlen):
    """Implements recvfrom(2)."""
    sock = _sock(t, fd)
    flags = u32(flags)
    n = min(length, MAX_RW_COUNT)
    want = sock.next_read_size(n)
    if buf + n > TASK_SIZE or want and not t.mm.access_ok(buf, want, write=True):
        raise KernelError(E.EFAULT)  # the copy of what is there would fault
    got = _recv(t, fd, sock, n, flags, abi.NR_RECVFROM)
    sock.drop_received(got)
    if got.data and not _discards(sock, flags):
        t.mm.copy_out(buf, got.data)
    if addr and addrlen:
        _addr_out(t, addr, addrlen, sock.src_name(got.src))
    return _result(sock, got, flags)


def _control_out(t, sock: Socket, got, control: int, controllen: int, flags: int) -> tuple[int, int]:
    """Write the control messages of a receive as put_cmsg and scm_detach_fds fill the buffer:
    UNIX credentials (SO_PASSCRED) or the IP messages an AF_INET socket asked for, then the
    descriptions. A header that does not fit is MSG_CTRUNC and nothing; a body that does not
    fit is cut (cmsg_len says what is there) with MSG_CTRUNC; the descriptions take what room is
    left. Returns (bytes used, MSG_CTRUNC or 0). Descriptions that do not fit (or that the table
    cannot take) are closed."""
    plain = []
    if got.control is not None:
        plain = got.control
    elif isinstance(sock, UnixSocket):
        if sock.opt(SOL_SOCKET, abi.SO_PASSCRED):
            body = struct.pack("<iII", *_seen_cred(t, got.cred))
            plain.append((SOL_SOCKET, SCM_CREDENTIALS, body))
    elif not sock.tcp:
        plain = sock.ip_control(got.src)
    fds, got.fds = got.fds, []
    if not control:
        for f in fds:
            drop_in_flight(f)
        return 0, MSG_CTRUNC if plain or fds else 0
    used, trunc = 0, 0
    for level, ctype, body in plain:  # put_cmsg
        room = controllen - used
        if room < _CMSGHDR.size:
            trunc = MSG_CTRUNC
            continue
        cmlen = _CMSGHDR.size + len(body)
        if room < cmlen:
            trunc, cmlen = MSG_CTRUNC, room
        piece = _CMSGHDR.pack(cmlen, level, ctype) + body
        t.mm.copy_out(control + used, piece[:cmlen])
        used += min(_align(cmlen), room)
    if fds:
        room = controllen - used
        fdmax = min(len(fds), (room - _CMSGHDR.size) // 4 if room > _CMSGHDR.size else 0)
        nums = []
        for f in fds[:fdmax]:
            try:
                nums.append(fd_table.new_fd(t.world, t.row, f,
                                            cloexec=bool(flags & MSG_CMSG_CLOEXEC)))
            except KernelError:  # EMFILE: the rest are closed (scm_detach_fds)
                break
        for f in fds:
            drop_in_flight(f)  # the message's holds: the new fds hold what was installed
        if nums:
            body = struct.pack(f"<{len(nums)}i", *nums)
            cmlen = _CMSGHDR.size + len(body)
            t.mm.copy_out(control + used, _CMSGHDR.pack(cmlen, SOL_SOCKET, SCM_RIGHTS) + body)
            used += min(_align(cmlen), room)
        if len(nums) < len(fds):
            trunc = MSG_CTRUNC
    return used, trunc


def _recvmsg(t, fd, sock: Socket, msg: int, flags: int, nr: int) -> int:
    name, namelen, iov, iovlen, control, controllen, _ = _MSGHDR.unpack(t.mm.copy_in(msg, 56))
    if iovlen > abi.UIO_MAXIOV:
        raise KernelError(E.EMSGSIZE)
    vecs = _iov(t, iov, iovlen)
    total = min(sum(n for _, n in vecs), MAX_RW_COUNT)
    want = sock.next_read_size(total)
    for base, ln in vecs:
        if base + ln > TASK_SIZE or want and ln and not t.mm.access_ok(base, min(ln, want),
                                                                        write=True):
            raise KernelError(E.EFAULT)  # the copy of what is there would fault
        want -= min(ln, want)
    got = _recv(t, fd, sock, total, flags, nr)
    try:
        pos = 0
        for base, ln in vecs if not _discards(sock, flags) else ():
            if pos >= len(got.data):
                break
            piece = got.data[pos:pos + ln]
            if piece:
                t.mm.copy_out(base, piece)
            pos += len(piece)
        src = sock.src_name(got.src)
        if name and src:
            if s32(namelen) < 0:
                raise KernelError(E.EINVAL)
            t.mm.copy_out(name, src[:u32(namelen)])
        used, trunc = _control_out(t, sock, got, control, controllen if control else 0, flags)
    finally:
        sock.drop_received(got)
    t.mm.copy_out(msg + 8, struct.pack("<I", len(src) if name and src else 0))
    t.mm.copy_out(msg + 40, struct.pack("<Q", used))
    # ___sys_recvmsg starts msg_flags from the call's MSG_CMSG_CLOEXEC
    t.mm.copy_out(msg + 48, struct.pack("<i", got.flags | trunc | (flags & MSG_CMSG_CLOEXEC)))
    return _result(sock, got, flags)


@syscall("recvmsg", PARTIAL, "SCM_RIGHTS and SCM_CREDENTIALS on UNIX sockets; IP_PKTINFO, "
         "IP_TTL, IP_TOS, IP_ORIGDSTADDR on AF_INET UDP sockets; no IPv6 control messages",
         args=("fd", "omsghdr", "msgflags"))
def recvmsg(t, fd, msg, flags):
    """Implements recvmsg(2)."""
    sock = _sock(t, fd)
    return _recvmsg(t, fd, sock, msg, u32(flags), abi.NR_RECVMSG)


@syscall("recvmmsg", PARTIAL, "after the first message, one that would block ends the batch; "
         "the timeout is checked after each message, as Linux's (the first wait is not bounded "
         "by it)", args=("fd", "p", "u", "msgflags", "p"))
def recvmmsg(t, fd, msgvec, vlen, flags, timeout):
    """Implements recvmmsg(2)."""
    end = None
    if timeout:  # poll_select_set_timeout, before the fd: EINVAL for an invalid timespec
        limit = _timespec_in(t, timeout)
        t.machine.sync_clock()
        end = t.world.now_ns + limit
    sock = _sock(t, fd)
    vlen = min(u32(vlen), abi.UIO_MAXIOV)
    flags = u32(flags)
    done = 0
    for i in range(vlen):
        hdr = msgvec + i * _MMSGHDR
        try:
            n = _recvmsg(t, fd, sock, hdr, (flags & ~MSG_WAITFORONE)
                         | (MSG_DONTWAIT if done else 0), abi.NR_RECVMMSG)
        except (KernelError, WouldBlock):
            if done:
                break
            raise
        t.mm.copy_out(hdr + 56, struct.pack("<I", n))
        done += 1
        if end is not None:  # __sys_recvmmsg: the time left goes back; none left ends the batch
            t.machine.sync_clock()
            left = max(0, end - t.world.now_ns)
            t.mm.copy_out(timeout, struct.pack("<qq", left // 1_000_000_000,
                                               left % 1_000_000_000))
            if not left:
                break
    return done


# -- options -----------------------------------------------------------------------------------------------

# Plain int options: (level, name) -> (default, kind). kind "bool" stores 0/1; ("range", lo, hi)
# checks the value (EINVAL outside); "int" takes any value. Which sockets have them: the families
# in the third item (None: every socket).
_INET = (AF_INET, AF_INET6)
_OPTS: dict[tuple[int, int], tuple] = {
    (SOL_SOCKET, abi.SO_DEBUG): (0, "bool", None),
    (SOL_SOCKET, abi.SO_REUSEADDR): (0, "bool", None),
    (SOL_SOCKET, abi.SO_REUSEPORT): (0, "bool", None),
    (SOL_SOCKET, abi.SO_KEEPALIVE): (0, "bool", None),
    (SOL_SOCKET, abi.SO_BROADCAST): (0, "bool", None),
    (SOL_SOCKET, abi.SO_OOBINLINE): (0, "bool", None),
    (SOL_SOCKET, abi.SO_DONTROUTE): (0, "bool", None),
    (SOL_SOCKET, abi.SO_PASSCRED): (0, "bool", (AF_UNIX,)),  # others: EOPNOTSUPP (Linux 6.16)
    (SOL_SOCKET, abi.SO_NO_CHECK): (0, "bool", None),
    (SOL_SOCKET, abi.SO_TIMESTAMP): (0, "bool", None),
    (SOL_SOCKET, abi.SO_ZEROCOPY): (0, "bool", None),
    (SOL_SOCKET, abi.SO_RXQ_OVFL): (0, "bool", None),
    (SOL_SOCKET, abi.SO_PRIORITY): (0, ("range", 0, 6), None),
    (SOL_SOCKET, abi.SO_RCVLOWAT): (1, ("range", 0, 0x7FFF_FFFF), None),
    (SOL_SOCKET, abi.SO_BUSY_POLL): (0, ("range", 0, 0x7FFF_FFFF), None),
    (SOL_SOCKET, abi.SO_PEEK_OFF): (-1, "int", (AF_UNIX,)),
    (IPPROTO_TCP, abi.TCP_NODELAY): (0, "bool", _INET),
    (IPPROTO_TCP, abi.TCP_CORK): (0, "bool", _INET),
    (IPPROTO_TCP, abi.TCP_QUICKACK): (1, "bool", _INET),
    (IPPROTO_TCP, abi.TCP_KEEPIDLE): (7200, ("range", 1, 32767), _INET),
    (IPPROTO_TCP, abi.TCP_KEEPINTVL): (75, ("range", 1, 32767), _INET),
    (IPPROTO_TCP, abi.TCP_KEEPCNT): (9, ("range", 1, 127), _INET),
    (IPPROTO_TCP, abi.TCP_SYNCNT): (6, ("range", 1, 127), _INET),
    (IPPROTO_TCP, abi.TCP_USER_TIMEOUT): (0, ("range", 0, 0x7FFF_FFFF), _INET),
    (IPPROTO_TCP, abi.TCP_FASTOPEN): (0, ("range", 0, 0x7FFF_FFFF), _INET),
    (IPPROTO_TCP, abi.TCP_NOTSENT_LOWAT): (0, "int", _INET),
    (IPPROTO_IP, abi.IP_TOS): (0, "int", _INET),  # any int: its low byte (_tos)
    (IPPROTO_IP, abi.IP_RECVERR): (0, "bool", _INET),
    (IPPROTO_IP, abi.IP_PKTINFO): (0, "bool", _INET),
    (IPPROTO_IP, abi.IP_RECVTOS): (0, "bool", _INET),
    (IPPROTO_IP, abi.IP_RECVTTL): (0, "bool", _INET),
    (IPPROTO_IP, abi.IP_FREEBIND): (0, "bool", _INET),
    (IPPROTO_IP, abi.IP_MTU_DISCOVER): (1, ("range", 0, 5), _INET),
    (IPPROTO_IP, abi.IP_MULTICAST_TTL): (1, ("range", 0, 255), _INET),
    (IPPROTO_IP, abi.IP_MULTICAST_LOOP): (1, "bool", _INET),
    (IPPROTO_IP, abi.IP_RECVORIGDSTADDR): (0, "bool", _INET),
    (IPPROTO_IP, abi.IP_MULTICAST_ALL): (1, "bool", _INET),
    (IPPROTO_IPV6, abi.IPV6_RECVERR): (0, "bool", (AF_INET6,)),
    (IPPROTO_IPV6, abi.IPV6_RECVTCLASS): (0, "bool", (AF_INET6,)),
    (IPPROTO_IPV6, abi.IPV6_RECVORIGDSTADDR): (0, "bool", (AF_INET6,)),
    (IPPROTO_IPV6, abi.IPV6_V6ONLY): (0, "bool", (AF_INET6,)),
    (IPPROTO_IPV6, abi.IPV6_RECVPKTINFO): (0, "bool", (AF_INET6,)),
    (IPPROTO_IPV6, abi.IPV6_MULTICAST_LOOP): (1, "bool", (AF_INET6,)),
    (IPPROTO_IPV6, abi.IPV6_TCLASS): (0, ("range", -1, 255), (AF_INET6,)),
    (IPPROTO_IPV6, abi.IPV6_MULTICAST_HOPS): (1, ("range", -1, 255), (AF_INET6,)),
}
# IP options do_ip_setsockopt reads as an int or, from a shorter buffer, an unsigned char (a
# zero length is 0); those that need at least a byte.
_IP_INT_OR_CHAR = {abi.IP_TOS, abi.IP_TTL, abi.IP_PKTINFO, abi.IP_MTU_DISCOVER, abi.IP_RECVERR,
                   abi.IP_RECVTTL, abi.IP_RECVTOS, abi.IP_FREEBIND, abi.IP_MULTICAST_TTL,
                   abi.IP_MULTICAST_LOOP, abi.IP_RECVORIGDSTADDR, abi.IP_MULTICAST_ALL}
_IP_AT_LEAST_A_BYTE = {abi.IP_TTL, abi.IP_MULTICAST_TTL, abi.IP_MULTICAST_LOOP}
# TTL-like options where -1 asks for the default.
_DEFAULTING = {(IPPROTO_IP, abi.IP_TTL): abi.IP_DEFAULT_TTL,
               (IPPROTO_IPV6, abi.IPV6_UNICAST_HOPS): abi.IP_DEFAULT_TTL}


def _not_for_family(key: tuple[int, int]) -> int:
    """The errno of an option the socket's family does not have: SO_PASSCRED is EOPNOTSUPP
    outside AF_UNIX (sk_may_scm_recv, since Linux 6.16); the others ENOPROTOOPT."""
    return E.EOPNOTSUPP if key == (SOL_SOCKET, abi.SO_PASSCRED) else E.ENOPROTOOPT


def _level_ok(sock: Socket, level: int, setting: bool = False) -> None:
    """The error for a level the socket's family and protocol have no handler for (UNIX: only
    SOL_SOCKET; a UDP socket: not SOL_TCP; an IPv4 one: not SOL_IPV6). An inet socket passes
    it to the IP layer, which answers ENOPROTOOPT, except IPv4's getsockopt: EOPNOTSUPP
    (do_ip_setsockopt, do_ip_getsockopt, ipv6_{set,get}sockopt); UNIX has no handler at all:
    EOPNOTSUPP."""
    if level == SOL_SOCKET:
        return
    if isinstance(sock, UnixSocket):
        raise KernelError(E.EOPNOTSUPP)
    err = E.ENOPROTOOPT if setting or sock.family == AF_INET6 else E.EOPNOTSUPP
    if level == IPPROTO_TCP and not sock.tcp or level == IPPROTO_UDP and sock.tcp:
        raise KernelError(err)
    if level == IPPROTO_IPV6 and sock.family != AF_INET6:
        raise KernelError(err)
    if level not in (IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP):
        raise KernelError(err)


def _ip_mreqn(t, optval: int, n: int) -> tuple[bytes, bytes, int]:
    """(group, interface address, interface index) of an ip_mreqn, or of an ip_mreq (no index)."""
    raw = t.mm.copy_in(optval, abi.IP_MREQN_SIZE if n >= abi.IP_MREQN_SIZE else abi.IP_MREQ_SIZE)
    ifindex = struct.unpack_from("<i", raw, 8)[0] if len(raw) >= abi.IP_MREQN_SIZE else 0
    return bytes(raw[:4]), bytes(raw[4:8]), ifindex


def _ip_membership(t, sock: Socket, opt: int, optval: int, n: int) -> int:
    """IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP (ip_mc_join_group, ip_mc_leave_group): EPROTO on
    a TCP socket, EINVAL for a short argument or a group address that is not multicast."""
    if sock.tcp:
        raise KernelError(E.EPROTO)
    if n < abi.IP_MREQ_SIZE:
        raise KernelError(E.EINVAL)
    group, ifaddr, ifindex = _ip_mreqn(t, optval, n)
    if not inet.is_multicast4(inet.V4MAPPED + group):
        raise KernelError(E.EINVAL)
    if opt == abi.IP_ADD_MEMBERSHIP:
        sock.join(inet.V4MAPPED + group, ifindex, ifaddr)
    else:
        sock.leave(inet.V4MAPPED + group, ifindex, ifaddr)
    return 0


def _ip_multicast_if(t, sock: Socket, optval: int, n: int) -> int:
    """IP_MULTICAST_IF: an ip_mreqn, an ip_mreq (its interface address) or an in_addr."""
    if sock.tcp:
        raise KernelError(E.EPROTO)  # inet->is_icsk: multicast is for datagram sockets
    if n >= abi.IP_MREQ_SIZE:
        _, ifaddr, ifindex = _ip_mreqn(t, optval, n)
    elif n >= 4:
        ifaddr, ifindex = bytes(t.mm.copy_in(optval, 4)), 0
    else:
        raise KernelError(E.EINVAL)
    sock.set_multicast_if(ifindex, ifaddr)
    return 0


def _tos(sock: Socket, key: tuple[int, int], value: int) -> int:
    """IP_TOS keeps the low byte of any int (inet->tos is a u8, __ip_sock_set_tos); IPV6_TCLASS
    takes -1 (the default, 0) to 255, else EINVAL. A stream socket keeps its ECN bits out of
    the guest's reach."""
    if key == (IPPROTO_IP, abi.IP_TOS):
        value &= 0xFF
    elif not -1 <= value <= 255:
        raise KernelError(E.EINVAL)
    else:
        value = max(value, 0)
    if sock.stype == SOCK_STREAM:
        old = sock.opt(*key)
        value = value & ~abi.INET_ECN_MASK | old & abi.INET_ECN_MASK
    return value


def _timeval_ns(raw: bytes) -> int:
    """sock_set_timeout: EDOM for bad microseconds; {0, 0} is no timeout (0 here); a negative
    time is a timeout of zero, which fails at once (-1 here)."""
    sec, usec = struct.unpack("<qq", raw[:16])
    if usec < 0 or usec >= 1_000_000:
        raise KernelError(E.EDOM)
    if sec < 0:
        return -1
    return sec * 1_000_000_000 + usec * 1000


def _get_value(t, sock: Socket, level: int, opt: int) -> bytes:
    key = (level, opt)
    if key in _OPTS:
        default, _, fams = _OPTS[key]
        if fams is not None and sock.family not in fams:
            raise KernelError(_not_for_family(key))
        return struct.pack("<i", sock.opt(level, opt, default))
    if key in _DEFAULTING:
        v = sock.opt(level, opt, -1)
        return struct.pack("<i", _DEFAULTING[key] if v < 0 else v)
    if level == SOL_SOCKET:
        if opt == abi.SO_TYPE:
            return struct.pack("<i", sock.stype)
        if opt == abi.SO_DOMAIN:
            return struct.pack("<i", sock.family)
        if opt == abi.SO_PROTOCOL:
            return struct.pack("<i", sock.protocol)
        if opt == abi.SO_ERROR:
            if isinstance(sock, InetSocket):
                sock.progress()
            return struct.pack("<i", sock.take_error())
        if opt == abi.SO_SNDBUF:
            return struct.pack("<i", sock.sndbuf)
        if opt == abi.SO_RCVBUF:
            return struct.pack("<i", sock.rcvbuf)
        if opt == abi.SO_ACCEPTCONN:
            return struct.pack("<i", int(sock.state == LISTENING))
        if opt == abi.SO_PEERCRED:
            cred = sock.peer_cred if isinstance(sock, UnixSocket) else None
            return struct.pack("<iII", *(_seen_cred(t, cred) if cred else NO_PEER))
        if opt == abi.SO_LINGER:
            return struct.pack("<ii", *sock.linger)
        if opt in (abi.SO_RCVTIMEO, abi.SO_SNDTIMEO):
            ns = max(0, sock.rcvtimeo if opt == abi.SO_RCVTIMEO else sock.sndtimeo)
            return struct.pack("<qq", ns // 1_000_000_000, ns % 1_000_000_000 // 1000)
        if opt == abi.SO_SNDLOWAT:
            return struct.pack("<i", 1)
        if opt == abi.SO_MARK:
            return struct.pack("<i", sock.opt(level, opt))
    if level == IPPROTO_TCP and opt == abi.TCP_MAXSEG:
        return struct.pack("<i", 65483 if sock.state == CONNECTED else abi.TCP_MSS_DEFAULT)
    if level == IPPROTO_TCP and opt == abi.TCP_WINDOW_CLAMP:
        return struct.pack("<i", sock.opt(level, opt))
    if level == IPPROTO_TCP and opt == abi.TCP_INFO:
        return sock.tcp_info()
    if level == IPPROTO_TCP and opt == abi.TCP_CONGESTION:
        name = CONGESTION[sock.opt(level, opt, CONGESTION_DEFAULT)]
        return name.encode().ljust(abi.TCP_CA_NAME_MAX, b"\0")
    if level == IPPROTO_TCP and opt == abi.TCP_LINGER2:
        v = sock.opt(level, opt)  # do_tcp_getsockopt: 0 shows tcp_fin_timeout, -1 stays
        return struct.pack("<i", v if v else abi.TCP_FIN_TIMEOUT)
    if level == IPPROTO_TCP and opt == abi.TCP_DEFER_ACCEPT:
        return struct.pack("<i", retrans_to_secs(sock.opt(level, opt)))
    if level == IPPROTO_IP and opt == abi.IP_MULTICAST_IF:
        return bytes(sock.mc_addr)  # an in_addr
    raise KernelError(E.ENOPROTOOPT)


@syscall("getsockopt", PARTIAL, "SOL_SOCKET, IP, IPV6 and TCP options servers use; TCP_INFO "
         "has the state, options and lo's MSS/MTU/RTO values, no counters",
         args=("fd", "sockoptlevel", "sockoptname", "ooptval", "osocklen"))
def getsockopt(t, fd, level, optname, optval, optlen):
    """Implements getsockopt(2)."""
    sock = _sock(t, fd)
    level, opt = s32(level), s32(optname)
    n = s32(t.mm.copy_in_u32(optlen))
    if n < 0:
        raise KernelError(E.EINVAL)
    _level_ok(sock, level)
    raw = _get_value(t, sock, level, opt)
    if level == IPPROTO_IP and opt != abi.IP_MULTICAST_IF and 0 < n < 4 and len(raw) == 4 \
            and not any(raw[1:]):
        raw = raw[:1]  # do_ip_getsockopt: a value 0..255 into a short buffer is one byte
    raw = raw[:n]
    t.mm.copy_out(optval, raw)
    t.mm.copy_out(optlen, struct.pack("<I", len(raw)))
    return 0


@syscall("setsockopt", PARTIAL, "SOL_SOCKET, IP, IPV6 and TCP options servers use, stored and "
         "returned; buffer sizes bound the queued bytes; timeouts apply to the socket calls",
         args=("fd", "sockoptlevel", "sockoptname", "optval", "u"))
def setsockopt(t, fd, level, optname, optval, optlen):
    """Implements setsockopt(2)."""
    sock = _sock(t, fd)
    level, opt, n = s32(level), s32(optname), s32(optlen)
    if n < 0:
        raise KernelError(E.EINVAL)
    _level_ok(sock, level, True)
    key = (level, opt)
    if level == SOL_SOCKET and opt in (abi.SO_LINGER, abi.SO_RCVTIMEO, abi.SO_SNDTIMEO):
        size = 8 if opt == abi.SO_LINGER else 16
        if n < size:
            raise KernelError(E.EINVAL)
        raw = t.mm.copy_in(optval, size)
        if opt == abi.SO_LINGER:
            onoff, secs = struct.unpack("<ii", raw)
            sock.linger = (int(onoff != 0), secs)
        elif opt == abi.SO_RCVTIMEO:
            sock.rcvtimeo = _timeval_ns(raw)
        else:
            sock.sndtimeo = _timeval_ns(raw)
        return 0
    if level == IPPROTO_TCP and opt == abi.TCP_CONGESTION:
        if n < 1:
            raise KernelError(E.EINVAL)
        raw = t.mm.copy_in(optval, min(n, abi.TCP_CA_NAME_MAX - 1))
        name = raw.split(b"\0", 1)[0].decode("latin-1")
        if name not in CONGESTION:
            raise KernelError(E.ENOENT)  # tcp_set_congestion_control: no such module
        sock.set_opt(level, opt, CONGESTION.index(name))
        return 0
    if level == IPPROTO_IP and opt in (abi.IP_ADD_MEMBERSHIP, abi.IP_DROP_MEMBERSHIP):
        return _ip_membership(t, sock, opt, optval, n)
    if level == IPPROTO_IP and opt == abi.IP_MULTICAST_IF:
        return _ip_multicast_if(t, sock, optval, n)
    if level == IPPROTO_IP and opt in _IP_INT_OR_CHAR:
        if n >= 4:
            value = struct.unpack("<i", t.mm.copy_in(optval, 4))[0]
        elif n >= 1:
            value = t.mm.copy_in(optval, 1)[0]
        elif opt in _IP_AT_LEAST_A_BYTE:
            raise KernelError(E.EINVAL)
        else:
            value = 0
        if opt == abi.IP_MULTICAST_TTL and value == -1:
            value = 1  # the default
    elif n < 4:
        raise KernelError(E.EINVAL)
    else:
        value = struct.unpack("<i", t.mm.copy_in(optval, 4))[0]
    if key in _OPTS:
        _, kind, fams = _OPTS[key]
        if fams is not None and sock.family not in fams:
            raise KernelError(_not_for_family(key))
        if key in ((IPPROTO_IP, abi.IP_TOS), (IPPROTO_IPV6, abi.IPV6_TCLASS)):
            sock.set_opt(level, opt, _tos(sock, key, value))
            return 0
        if kind == "bool":
            value = int(value != 0)
        elif kind != "int" and not kind[1] <= value <= kind[2]:
            if key == (SOL_SOCKET, abi.SO_PRIORITY) and _capable(t, CAP_NET_ADMIN):
                pass
            elif key == (SOL_SOCKET, abi.SO_RCVLOWAT) and value < 0:
                value = 0x7FFF_FFFF
            else:
                raise KernelError(E.EINVAL)
        if key == (IPPROTO_IPV6, abi.IPV6_V6ONLY) and isinstance(sock, InetSocket) and sock.lport:
            raise KernelError(E.EINVAL)  # only before bind
        sock.set_opt(level, opt, value)
        if key in ((IPPROTO_TCP, abi.TCP_CORK), (IPPROTO_TCP, abi.TCP_NODELAY)) and \
                (value == 0) == (opt == abi.TCP_CORK):
            sock.push_corked()  # the cork pulled or TCP_NODELAY set: tcp_push_pending_frames
        return 0
    if key in _DEFAULTING:
        if not (value == -1 or 1 <= value <= 255):
            raise KernelError(E.EINVAL)
        sock.set_opt(level, opt, value)
        return 0
    if level == SOL_SOCKET:
        if opt in (abi.SO_SNDBUF, abi.SO_SNDBUFFORCE, abi.SO_RCVBUF, abi.SO_RCVBUFFORCE):
            force = opt in (abi.SO_SNDBUFFORCE, abi.SO_RCVBUFFORCE)
            if force and not _capable(t, CAP_NET_ADMIN):
                raise KernelError(E.EPERM)
            if opt in (abi.SO_SNDBUF, abi.SO_SNDBUFFORCE):
                sock.sndbuf = new_buffer_size(value, t.world.settings.wmem_max, abi.SOCK_MIN_SNDBUF, force)
            else:
                sock.rcvbuf = new_buffer_size(value, t.world.settings.rmem_max, abi.SOCK_MIN_RCVBUF, force)
            return 0
        if opt == abi.SO_MARK:
            if not _capable(t, CAP_NET_ADMIN):
                raise KernelError(E.EPERM)
            sock.set_opt(level, opt, value)
            return 0
        if opt in (abi.SO_TYPE, abi.SO_DOMAIN, abi.SO_PROTOCOL, abi.SO_ERROR, abi.SO_PEERCRED,
                   abi.SO_ACCEPTCONN, abi.SO_SNDLOWAT):
            raise KernelError(E.ENOPROTOOPT)
    if key == (IPPROTO_TCP, abi.TCP_MAXSEG):
        if not (value == 0 or 88 <= value <= 65535):
            raise KernelError(E.EINVAL)
        return 0  # the segment size is loopback's whatever the guest asks
    if key == (IPPROTO_TCP, abi.TCP_LINGER2):  # do_tcp_setsockopt: -1, 0 (the default), capped
        sock.set_opt(level, opt, -1 if value < 0 else min(value, abi.TCP_FIN_TIMEOUT_MAX))
        return 0
    if key == (IPPROTO_TCP, abi.TCP_WINDOW_CLAMP):  # tcp_set_window_clamp
        if value == 0 and sock.tcp_state() != abi.TCP_CLOSE:
            raise KernelError(E.EINVAL)
        sock.set_opt(level, opt, value and max(value, abi.SOCK_MIN_RCVBUF // 2))
        return 0
    if key == (IPPROTO_TCP, abi.TCP_DEFER_ACCEPT):  # kept as SYN-ACK retransmissions
        sock.set_opt(level, opt, secs_to_retrans(value))
        return 0
    raise KernelError(E.ENOPROTOOPT)
