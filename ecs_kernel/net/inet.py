"""TCP and UDP over loopback, for AF_INET and AF_INET6 (ip(7), ipv6(7), tcp(7), udp(7); Linux
net/ipv4/af_inet.c, inet_connection_sock.c, tcp.c, udp.c; gVisor pkg/sentry/socket/netstack).

The machine has one interface, lo: 127.0.0.0/8 and ::1. Addresses are kept as 16 bytes, IPv4 as
v4-mapped (``::ffff:a.b.c.d``), so one comparison serves both families; a socket shows them in its
own family's sockaddr. Binding to an address that is not local is EADDRNOTAVAIL, sending to one
is ENETUNREACH (there is no route off the machine). Connecting to the unspecified address goes to
loopback, as on Linux.

TCP: a connect finds the listener bound to the destination (an exact address before a wildcard)
and makes the server-side socket at once, so a connection is established before connect returns
(a non-blocking connect still says EINPROGRESS, as Linux's does on loopback; it is writable at
the next poll). No listener: ECONNREFUSED (non-blocking: EINPROGRESS, then SO_ERROR). A full
backlog makes a blocking connect wait and a non-blocking one stay in progress until there is room.
Close sends FIN (the peer reads EOF); a close that discards unread data resets the peer
(ECONNRESET). A write to a peer that closed goes out and draws a reset: the next one is EPIPE.

TCP options that change what a connection does: TCP_DEFER_ACCEPT holds a new connection back
from accept (and from the listener's POLLIN) until data or a FIN comes, or until the SYN-ACK
retransmissions its seconds round up to are spent (a deadline on the kernel clock: the listener's
``wake_at``); TCP_CORK holds bytes that make no full segment at the sender (``corked``) until the
cork is pulled, TCP_NODELAY is set, a FIN or close, or 200 ms after a reader or the sending call
first saw them (the reader's ``wake_at``); SO_REUSEPORT listeners share connections by a hash of
the 4-tuple. A reset (close with unread data or SO_LINGER 0, a write to a closed peer) ends the
connection: TCP_INFO says TCP_CLOSE and getpeername ENOTCONN, as tcp_done leaves it. TCP_INFO
(``tcp_info``) reports the state and the fixed values Linux shows on lo, no counters.

UDP: a datagram goes to the socket bound to its destination, or is dropped (a connected sender
then gets ECONNREFUSED, the ICMP port-unreachable Linux reports); a full receive buffer drops it.
When several sockets could take it (or a connection), :meth:`InetSocket.find` scores them as
Linux does; a SO_REUSEPORT group spreads flows by a hash of their addresses. A broadcast (lo's
127.255.255.255, or 255.255.255.255 from a socket bound to lo) needs SO_BROADCAST and reaches
every socket on the port bound to it or to the wildcard. An oversized datagram under IP_RECVERR
or IPV6_RECVERR also leaves a local error on the sender's error queue (MSG_ERRQUEUE).

Each network namespace (net/stack.NetStack) has its own lo, down in a new namespace until
SIOCSIFFLAGS brings it up: while down, every destination is ENETUNREACH.

IPv4 multicast on lo: a socket joins a group on lo (IP_ADD_MEMBERSHIP by lo's index or a
loopback address; ``mc_groups``). A datagram to a group needs an output interface — IP_MULTICAST_IF,
or a socket bound to a loopback address — else ENETUNREACH (no route off the machine). Sent out of
lo it comes back in (so IP_MULTICAST_LOOP changes nothing there): when lo is a member of the group
(some socket joined it), every UDP socket bound to the port and to the wildcard or the group that
joined the group or keeps IP_MULTICAST_ALL takes it (__udp4_lib_mcast_deliver, ip_mc_sf_allow).

Binding follows inet_csk_bind_conflict: two sockets may share a port when their addresses do not
overlap, when both set SO_REUSEPORT, or when both set SO_REUSEADDR and (TCP) the other does not
listen. A socket bound to an IPv6 address is IPv6-only (__inet6_bind); one bound to a v4-mapped
address reaches no IPv6 destination (EAFNOSUPPORT). Ephemeral ports come from 32768-60999 in
order (Linux: at random).
"""
from __future__ import annotations

import struct

from ecs_kernel import abi
from ecs_kernel.abi import (AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, RCV_SHUTDOWN,
                            SEND_SHUTDOWN, SHUTDOWN_MASK, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR,
                            SO_REUSEPORT)
from ecs_kernel.checkpoint_objects import state_class
from ecs_kernel.errors import E, KernelError
from ecs_kernel.net.socket import (CONNECTED, CONNECTING, LISTENING, UNCONNECTED, Message,
                                   Received, Socket)

# lo's TCP numbers (MTU 65536): the MSS a connection advertises (MTU - 40 - 12 of timestamps)
# and the send MSS tcp_bound_to_half_wnd leaves (half the largest window lo advertises).
LOOPBACK_ADVMSS = 65483
LOOPBACK_MSS_HALF_WINDOW = 32768
# TCP_CORK's ceiling (tcp(7)): held bytes go out 200 ms after they were written
CORK_CEILING_NS = 200_000_000
# TCP_CONGESTION: the algorithms a default Linux build has (net.ipv4.tcp_available_congestion_
# control: "reno cubic"); a socket starts with the default, cubic. opts holds the index.
CONGESTION = ("reno", "cubic")
CONGESTION_DEFAULT = 1

V4MAPPED = bytes(10) + b"\xff\xff"
ANY6 = bytes(16)
ANY4 = V4MAPPED + bytes(4)
LOOPBACK4 = V4MAPPED + bytes([127, 0, 0, 1])
LOOPBACK6 = bytes(15) + b"\x01"


def secs_to_retrans(seconds: int) -> int:
    """TCP_DEFER_ACCEPT's seconds as SYN-ACK retransmissions (tcp.c secs_to_retrans with
    TCP_TIMEOUT_INIT 1 s and TCP_RTO_MAX 120 s: the timeout doubles each time)."""
    res = 0
    if seconds > 0:
        timeout = period = 1
        res = 1
        while seconds > period and res < 255:
            res += 1
            timeout = min(timeout * 2, 120)
            period += timeout
    return res


def retrans_to_secs(retrans: int) -> int:
    """The seconds ``retrans`` SYN-ACK retransmissions take (tcp.c retrans_to_secs): what
    getsockopt(TCP_DEFER_ACCEPT) shows, and how long a deferred connection waits for data."""
    period = 0
    if retrans > 0:
        timeout = period = 1
        for _ in range(retrans - 1):
            timeout = min(timeout * 2, 120)
            period += timeout
    return period


def is_v4(ip: bytes) -> bool:
    return ip[:12] == V4MAPPED


def is_any(ip: bytes) -> bool:
    return ip in (ANY4, ANY6)


def is_loopback(ip: bytes) -> bool:
    return (is_v4(ip) and ip[12] == 127) or ip == LOOPBACK6


def is_multicast4(ip: bytes) -> bool:
    return is_v4(ip) and ip[12] & 0xF0 == 0xE0  # 224.0.0.0/4


def is_broadcast4(ip: bytes) -> bool:
    """255.255.255.255 and lo's subnet broadcast (127.255.255.255)."""
    return is_v4(ip) and ip[12:] in (b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff")


def reuseport_hash(src: bytes, sport: int, dst: bytes, dport: int) -> int:
    """A 32-bit hash of a flow's addresses and ports (Linux: inet_ehashfn, a jhash with a boot-time
    secret; here fixed, so a run is deterministic): the SO_REUSEPORT member it goes to."""
    h = 0x9E3779B9
    for word in (*struct.unpack(">4I", src), *struct.unpack(">4I", dst), sport << 16 | dport):
        h = ((h ^ word) * 0x01000193) & 0xFFFF_FFFF
        h ^= h >> 16  # murmur3's fmix32
        h = (h * 0x85EBCA6B) & 0xFFFF_FFFF
        h ^= h >> 13
        h = (h * 0xC2B2AE35) & 0xFFFF_FFFF
        h ^= h >> 16
    return h


def sockaddr(family: int, ip: bytes, port: int) -> bytes:
    """sockaddr_in (16 bytes) or sockaddr_in6 (28 bytes) of an address."""
    if family == AF_INET:
        return struct.pack("<H", AF_INET) + struct.pack(">H", port) + ip[12:] + bytes(8)
    return struct.pack("<H", AF_INET6) + struct.pack(">HI", port, 0) + ip + bytes(4)


def parse_sockaddr(family: int, raw: bytes) -> tuple[int, bytes, int]:
    """(sa_family, 16-byte address, port) of a guest's sockaddr for a socket of ``family``: EINVAL
    when it is too short for that family (inet_bind, inet6_bind, the connects check the length
    first); AF_UNSPEC gives family 0."""
    if len(raw) < 2:
        raise KernelError(E.EINVAL)
    fam = struct.unpack_from("<H", raw)[0]
    if family == AF_INET:
        if len(raw) < 16:
            raise KernelError(E.EINVAL)
        return fam, V4MAPPED + raw[4:8], struct.unpack_from(">H", raw, 2)[0]
    if len(raw) < 24:  # SIN6_LEN_RFC2133
        raise KernelError(E.EINVAL)
    if fam == AF_INET:
        return fam, V4MAPPED + raw[4:8], struct.unpack_from(">H", raw, 2)[0]
    return fam, bytes(raw[8:24]), struct.unpack_from(">H", raw, 2)[0]


@state_class
class InetSocket(Socket):
    __state__ = {"stack": "@NetStack", "laddr": "bytes", "lport": "int", "raddr": "bytes",
                 "rport": "int", "pending": "?@Socket", "in_progress": "bool",
                 "mc_index": "int", "mc_addr": "bytes", "mc_groups": "list[bytes]",
                 "port_locked": "bool", "addr_locked": "bool", "errq": "list[bytes]",
                 "reset": "bool", "defer_until": "int", "corked": "bytearray", "cork_since": "int"}
    # Its readiness moves in socket calls, reads and writes (each counts a wakeup: sys_socket.
    # _sock, Socket.read/write), a last close, and with time, which wake_at tells (a held connection's
    # TCP_DEFER_ACCEPT, a cork's ceiling, which starts at the first look after a send, a look
    # the send's wakeup makes happen): systems/io_wait.py's quiet look ends by then.
    readiness_notified = True

    def __init__(self, stack, family: int, stype: int, protocol: int, flags: int, cred):
        super().__init__(family, stype, protocol, flags, cred)
        self.stack = stack  # the NetStack its ports are bound in
        self.laddr = ANY4 if family == AF_INET else ANY6
        self.lport = 0
        self.raddr = self.laddr
        self.rport = 0
        self.pending = None  # the listener a non-blocking connect waits on (CONNECTING)
        self.in_progress = False  # a connect said EINPROGRESS: the next one reports the outcome
        self.mc_index = 0         # IP_MULTICAST_IF: the interface index and address (0: none)
        self.mc_addr = bytes(4)
        self.mc_groups: list[bytes] = []  # the IPv4 groups joined on lo (16-byte addresses)
        self.port_locked = False  # bind named the port (SOCK_BINDPORT_LOCK): closing keeps it
        self.addr_locked = False  # bind named the address (SOCK_BINDADDR_LOCK)
        # the error queue (sk_error_queue, IP_RECVERR / IPV6_RECVERR): per error a struct
        # sock_extended_err, then the destination's 16-byte address and 2-byte port
        self.errq: list[bytes] = []
        self.reset = False  # TCP: a reset ended the connection (tcp_done: TCP_CLOSE)
        # a connection a TCP_DEFER_ACCEPT listener holds back: accept takes it once data (or a
        # FIN) came, or at this kernel time (ns), when the last SYN-ACK retransmission draws
        # the client's ACK; 0: not held
        self.defer_until = 0
        # TCP_CORK: bytes written that make no full segment yet, held here (the unsent tail of
        # Linux's write queue) until the cork is pulled, a segment fills, or CORK_CEILING_NS
        # after cork_since (kernel time the first held byte was seen; -1: not seen yet)
        self.corked = bytearray()
        self.cork_since = -1

    # -- family hooks -------------------------------------------------------------------------------
    def default_buffers(self) -> tuple[int, int]:
        if self.protocol == IPPROTO_TCP:
            return abi.TCP_WMEM_DEFAULT, abi.TCP_RMEM_DEFAULT
        return abi.WMEM_DEFAULT, abi.RMEM_DEFAULT

    def send_limit(self) -> int:
        peer = self.peer
        return self.sndbuf + (peer.rcvbuf if peer is not None else 0)

    def not_connected_send(self) -> KernelError:
        return KernelError(E.EPIPE)

    def not_connected_recv(self) -> KernelError:
        return KernelError(E.ENOTCONN)

    def peer_gone(self, peer: Socket) -> None:
        self.shut |= RCV_SHUTDOWN  # its FIN

    def released_with_data(self) -> None:
        peer = self.peer
        if peer is not None and not peer.released:  # tcp_close with unread data: a reset
            peer.so_error = E.ECONNRESET
            peer.shut = SHUTDOWN_MASK
            peer.reset = True

    @property
    def v6only(self) -> bool:
        return bool(self.opt(abi.IPPROTO_IPV6, abi.IPV6_V6ONLY))

    @property
    def tcp(self) -> bool:
        return self.protocol == IPPROTO_TCP

    # -- names -------------------------------------------------------------------------------------
    @property
    def sockname(self) -> bytes:
        return sockaddr(self.family, self.laddr, self.lport)

    @property
    def peername(self) -> bytes:
        """getpeername: ENOTCONN unless connected (a TCP connection a reset closed is not)."""
        if self.rport == 0 or (self.tcp and (self.state != CONNECTED or self.reset)):
            raise KernelError(E.ENOTCONN)
        return self.peer_addr

    @property
    def peer_addr(self) -> bytes:
        """The remote address whatever the state (accept's, inet_getname with peer == 2)."""
        return sockaddr(self.family, self.raddr, self.rport)

    # -- TCP state and TCP_INFO -----------------------------------------------------------------
    def tcp_state(self) -> int:
        """The TCP state (tcp_states.h) of this connection as loopback runs it: every segment
        is acknowledged at once, so FIN_WAIT1, LAST_ACK and SYN_RECV are never seen, and a socket
        that sent and received FIN is TCP_CLOSE (its TIME_WAIT is a separate mini-socket)."""
        if self.state == LISTENING:
            return abi.TCP_LISTEN
        if self.state == CONNECTING:
            return abi.TCP_SYN_SENT if self.pending is not None else abi.TCP_CLOSE
        if self.state != CONNECTED or self.reset:
            return abi.TCP_CLOSE
        peer = self.peer
        fin_in = peer is None or peer.released or bool(peer.shut & SEND_SHUTDOWN)
        fin_out = bool(self.shut & SEND_SHUTDOWN)
        if fin_in and fin_out:
            return abi.TCP_CLOSE
        if fin_in:
            return abi.TCP_CLOSE_WAIT
        if fin_out:
            return abi.TCP_FIN_WAIT2
        return abi.TCP_ESTABLISHED

    def tcp_info(self) -> bytes:
        """struct tcp_info (tcp_get_info), TCP_INFO_SIZE bytes. What is filled is what a loopback
        connection here can honestly say, with the values Linux gives on lo: the state; for a
        connection that was established, the options lo negotiates (timestamps, SACK, window
        scaling 7/7 for the default buffers), lo's MSS and path MTU (snd_mss is half lo's
        largest window, as tcp_bound_to_half_wnd makes it; rcv_mss starts at TCP_MSS_DEFAULT),
        the initial congestion window and ssthresh, and an RTO of TCP_RTO_MIN (there is no
        measured round trip: rtt and rttvar are 0); before a connection, TCP_TIMEOUT_INIT and
        its rttvar; for a listener, its accept queue (unacked) and backlog (sacked). Counters
        of segments, bytes, retransmissions and times since the last packet are 0."""
        st = self.tcp_state()
        ca_state = retransmits = probes = backoff = options = wscale = 0
        rto = ato = snd_mss = rcv_mss = unacked = sacked = 0
        pmtu = rcv_ssthresh = rtt = rttvar = snd_ssthresh = advmss = rcv_space = 0
        cwnd, reordering = abi.TCP_INIT_CWND, 3  # tcp_init_sock; net.ipv4.tcp_reordering
        if st == abi.TCP_LISTEN:
            unacked, sacked = len(self.accept_q), self.backlog
        elif self.peer is None and not self.reset:  # never connected
            rto, rttvar = abi.TCP_TIMEOUT_INIT_US, abi.TCP_TIMEOUT_INIT_US // 4
            snd_mss, snd_ssthresh = abi.TCP_MSS_DEFAULT, abi.TCP_INFINITE_SSTHRESH
        else:
            options = abi.TCPI_OPT_TIMESTAMPS | abi.TCPI_OPT_SACK | abi.TCPI_OPT_WSCALE
            wscale = 7 << 4 | 7
            rto = abi.TCP_RTO_MIN_US
            snd_mss, rcv_mss = LOOPBACK_MSS_HALF_WINDOW, abi.TCP_MSS_DEFAULT
            pmtu, advmss = abi.LOOPBACK_MTU - 1, LOOPBACK_ADVMSS
            rcv_ssthresh = rcv_space = LOOPBACK_ADVMSS
            snd_ssthresh = abi.TCP_INFINITE_SSTHRESH
        head = struct.pack("<8B", st, ca_state, retransmits, probes, backoff, options, wscale, 0)
        body = struct.pack("<24I", rto, ato, snd_mss, rcv_mss, unacked, sacked, 0, 0, 0,
                           0, 0, 0, 0, pmtu, rcv_ssthresh, rtt, rttvar, snd_ssthresh, cwnd,
                           advmss, reordering, 0, rcv_space, 0)
        return (head + body).ljust(abi.TCP_INFO_SIZE, b"\0")

    def show(self, src: bytes) -> bytes:
        """A datagram's source (address + port, as queued) in this socket's sockaddr."""
        return sockaddr(self.family, src[:16], struct.unpack(">H", src[16:18])[0])

    # -- binding ------------------------------------------------------------------------------------
    def accepts(self, ip: bytes) -> bool:
        """Does this socket's bound address take traffic for ``ip``?"""
        if self.laddr == ip:
            return True
        if not is_any(self.laddr):
            return False
        if self.family == AF_INET:
            return is_v4(ip)
        return not (is_v4(ip) and self.v6only)

    def _overlaps(self, ip: bytes, other: "InetSocket") -> bool:
        if other.laddr == ip:
            return True
        if is_any(ip) and is_any(other.laddr):
            if self.family == other.family:
                return True
            six = self if self.family == AF_INET6 else other
            return not six.v6only
        if is_any(ip):
            return self.accepts(other.laddr)
        return other.accepts(ip)

    def _conflicts(self, ip: bytes, port: int, listening: bool) -> bool:
        reuse = self.opt(SOL_SOCKET, SO_REUSEADDR)
        reuseport = self.opt(SOL_SOCKET, SO_REUSEPORT)
        for other in self.stack.bound(self.protocol, port):
            if other is self or not self._overlaps(ip, other):
                continue
            if reuseport and other.opt(SOL_SOCKET, SO_REUSEPORT) and other.cred[1] == self.cred[1]:
                continue
            if listening:
                if other.state == LISTENING:
                    return True
                continue
            if reuse and other.opt(SOL_SOCKET, SO_REUSEADDR) and not (
                    self.tcp and other.state == LISTENING):
                continue
            return True
        return False

    def bind(self, ip: bytes, port: int, *, low_ports: bool) -> None:
        """inet_bind / inet6_bind with the address checked for this socket's family."""
        if self.lport or self.state != UNCONNECTED:
            raise KernelError(E.EINVAL)
        if self.family == AF_INET6 and is_v4(ip) and self.v6only:
            raise KernelError(E.EINVAL)
        if not (is_any(ip) or is_loopback(ip) or (not self.tcp and (
                is_multicast4(ip) or is_broadcast4(ip)))):
            raise KernelError(E.EADDRNOTAVAIL)  # inet_addr_valid_or_nonlocal
        if 0 < port < abi.IP_UNPRIVILEGED_PORT_START and not low_ports:
            raise KernelError(E.EACCES)
        self.port_locked = port != 0
        self.addr_locked = not is_any(ip)
        if port == 0:
            port = self.stack.ephemeral_port(self.protocol,
                                             lambda p: not self._conflicts(ip, p, False))
        elif self._conflicts(ip, port, False):
            raise KernelError(E.EADDRINUSE)
        if self.family == AF_INET6 and not is_v4(ip) and not is_any(ip):
            # __inet6_bind: a socket bound to an IPv6 address takes no IPv4 traffic
            # (sk_ipv6only); its v4-mapped connects and sends are ENETUNREACH
            self.set_opt(abi.IPPROTO_IPV6, abi.IPV6_V6ONLY, 1)
        self.laddr, self.lport = ip, port
        if self not in self.stack.inet:  # a socket that joined a group is listed already
            self.stack.inet.append(self)

    def autobind(self, dest: bytes) -> None:
        """A send or connect of an unbound socket: an ephemeral port; the source address the
        route to ``dest`` gives (loopback)."""
        if not self.lport:
            self.bind(self.laddr, 0, low_ports=True)
        if is_any(self.laddr) and self.state != LISTENING and self.tcp:
            self.laddr = self.source_for(dest)

    def source_for(self, dest: bytes) -> bytes:
        if not is_any(self.laddr):
            return self.laddr
        return LOOPBACK4 if is_v4(dest) else LOOPBACK6

    def listen(self, backlog: int) -> None:
        """inet_listen: an unbound socket gets an ephemeral port; a port shared by SO_REUSEADDR
        with another listener is EADDRINUSE now (inet_csk_get_port again)."""
        if self.stype != SOCK_STREAM:
            raise KernelError(E.EOPNOTSUPP)
        if self.state not in (UNCONNECTED, LISTENING):
            raise KernelError(E.EINVAL)
        if not self.lport:
            self.bind(self.laddr, 0, low_ports=True)
        elif self.state != LISTENING and self._conflicts(self.laddr, self.lport, True):
            raise KernelError(E.EADDRINUSE)
        super().listen(backlog)

    # -- routing ------------------------------------------------------------------------------------
    def route(self, fam: int, ip: bytes) -> bytes:
        """The destination a send or connect to ``ip`` reaches (ENETUNREACH off the machine, and
        everywhere while the namespace's lo is down)."""
        if not self.stack.lo_up:
            raise KernelError(E.ENETUNREACH)
        if self.family == AF_INET6 and is_v4(ip) and self.v6only:
            raise KernelError(E.ENETUNREACH)
        if self.family == AF_INET6 and not is_v4(ip) and is_v4(self.laddr):
            # bound (or connected) to a v4-mapped source: no IPv6 destination (tcp_v6_connect,
            # ip6_datagram_connect, udpv6_sendmsg)
            raise KernelError(E.EAFNOSUPPORT)
        if is_multicast4(ip) and not self.tcp:
            if self.mc_index or any(self.mc_addr) or is_loopback(self.laddr):
                return ip  # out through lo (IP_MULTICAST_IF, or the bound source's device)
            raise KernelError(E.ENETUNREACH)
        if is_broadcast4(ip) and not self.tcp:
            # lo's broadcast (127.255.255.255) has a route; the limited broadcast goes out of
            # the bound source's device only. Either needs SO_BROADCAST (ip_route_connect,
            # udp_sendmsg: RTCF_BROADCAST)
            if ip[12] != 127 and not is_loopback(self.laddr):
                raise KernelError(E.ENETUNREACH)
            if not self.opt(SOL_SOCKET, abi.SO_BROADCAST):
                raise KernelError(E.EACCES)
            return ip
        if is_any(ip):
            return LOOPBACK4 if is_v4(ip) else LOOPBACK6
        if not is_loopback(ip):
            raise KernelError(E.ENETUNREACH)
        return ip

    def find(self, protocol: int, ip: bytes, port: int, want_listener: bool,
             src: bytes = ANY6, sport: int = 0):
        """The socket that takes traffic for (ip, port) from (src, sport), as Linux's lookups
        score them (compute_score: an AF_INET socket over a dual-stack one for IPv4, an exact
        address over a wildcard, a UDP socket connected to the sender over one that is not; one
        connected elsewhere takes nothing). Among the best the socket bound last wins (a
        SO_REUSEADDR group: udp_lib_get_port and __inet_hash add at the bucket's head); when it
        is in a SO_REUSEPORT group (the best that set it, of its owner), the group picks one by
        a hash of the addresses (reuseport_select_sock)."""
        best: list = []
        top = -1
        for s in self.stack.bound(protocol, port):
            if want_listener and s.state != LISTENING or not s.accepts(ip):
                continue
            score = 2 if s.family == AF_INET else 1
            if s.laddr == ip:
                score += 4
            if not want_listener and s.state == CONNECTED:
                if s.rport != sport or s.raddr != src:
                    continue
                score += 8
            if score > top:
                top, best = score, [s]
            elif score == top:
                best.append(s)
        if not best:
            return None
        last = best[-1]
        if not last.opt(SOL_SOCKET, SO_REUSEPORT) or last.state == CONNECTED and not want_listener:
            return last
        group = [s for s in best if s.opt(SOL_SOCKET, SO_REUSEPORT) and s.cred[1] == last.cred[1]]
        return group[reuseport_hash(src, sport, ip, port) * len(group) >> 32]

    # -- TCP connections --------------------------------------------------------------------------
    def connect_tcp(self, dest: bytes, port: int, nonblocking: bool,
                    now: int | None = None) -> None:
        """tcp_v4_connect / tcp_v6_connect on loopback. Raises EINPROGRESS for a non-blocking
        connect, EAGAIN for a blocking one to wait for room in the backlog."""
        if self.state == CONNECTED and self.in_progress:
            self.in_progress = False  # inet_stream_connect: SS_CONNECTING becomes SS_CONNECTED
            return
        if self.state == CONNECTED or self.state == LISTENING:
            raise KernelError(E.EISCONN)
        if self.state == CONNECTING:
            if self.pending is None:  # it failed: SO_ERROR, or ECONNABORTED once that was read
                self.state, self.in_progress = UNCONNECTED, False
                raise KernelError(self.take_error() or E.ECONNABORTED)
            self.progress(now)
            if self.state == CONNECTED:
                self.in_progress = False
                return
            raise KernelError(E.EALREADY if nonblocking else E.EAGAIN)
        self.autobind(dest)
        self.raddr, self.rport = dest, port
        listener = self.find(IPPROTO_TCP, dest, port, True, self.laddr, self.lport)
        if listener is None:
            if nonblocking:
                self.state, self.pending, self.so_error = CONNECTING, None, E.ECONNREFUSED
                self.shut, self.in_progress = SHUTDOWN_MASK, True
                raise KernelError(E.EINPROGRESS)
            raise KernelError(E.ECONNREFUSED)
        self.state, self.pending = CONNECTING, listener
        self.progress(now)
        if self.state != CONNECTED and not nonblocking:
            # a blocking connect waits for room (inet_wait_for_connect): whoever completes it
            # (a poll, the listener's accept), the call made again reports success, once
            self.in_progress = True
            raise KernelError(E.EAGAIN)
        if nonblocking:
            self.in_progress = True
            raise KernelError(E.EINPROGRESS)

    def progress(self, now: int | None = None) -> None:
        """A connect in progress completes when its listener has room (or fails if it is gone).
        ``now``: the kernel time, when the caller has it (a TCP_DEFER_ACCEPT listener holds the
        new connection back from then; a connect completed by a poll is not held)."""
        if self.state != CONNECTING or self.pending is None:
            return
        listener = self.pending
        if listener.released or listener.state != LISTENING:
            self.pending, self.so_error, self.shut = None, E.ECONNREFUSED, SHUTDOWN_MASK
            return
        if listener.backlog_full():
            return
        server = InetSocket(self.stack, listener.family, SOCK_STREAM, IPPROTO_TCP, 0,
                            listener.cred)
        server.opts = dict(listener.opts)
        server.sndbuf, server.rcvbuf = listener.sndbuf, listener.rcvbuf
        server.laddr, server.lport = self.raddr, listener.lport
        server.raddr, server.rport = self.laddr, self.lport
        self.stack.inet.append(server)
        self.pending = None
        self.pair_with(server)
        defer = listener.opt(IPPROTO_TCP, abi.TCP_DEFER_ACCEPT)
        if defer and now is not None:
            server.defer_until = now + retrans_to_secs(defer) * 1_000_000_000
        listener.accept_q.append(server)

    # -- accepting (TCP_DEFER_ACCEPT) -------------------------------------------------------------
    def acceptable(self, now: int | None) -> bool:
        """May a listener's accept take this connection now (``now`` None: time unknown)?"""
        return (not self.defer_until or bool(self.rx) or bool(self.shut & RCV_SHUTDOWN)
                or bool(self.so_error) or (now is not None and now >= self.defer_until))

    def accept_ready(self, now: int | None) -> bool:
        return any(e.acceptable(now) for e in self.accept_q)

    def accept(self, now: int | None = None) -> Socket:
        """inet_csk_accept: the first connection that is established for the listener (one a
        TCP_DEFER_ACCEPT listener still holds back is not)."""
        if self.state != LISTENING:
            raise KernelError(E.EINVAL)
        for e in self.accept_q:
            if e.acceptable(now):
                self.accept_q.remove(e)
                e.defer_until = 0
                return e
        raise KernelError(E.EAGAIN)

    def poll_task(self, world, task: int) -> int:
        if self.state == LISTENING:  # a held-back connection becomes acceptable with time
            return self._poll(world.now_ns)
        self.settle_peer(world.now_ns)  # and corked bytes arrive with time
        return self.poll()

    def settle_peer(self, now: int) -> None:
        peer = self.peer
        if self.tcp and peer is not None and peer.corked:
            peer.settle(now)

    def wake_at(self, world) -> int | None:
        if self.state != LISTENING:
            peer = self.peer
            return peer.cork_due() if self.tcp and peer is not None else None
        held = [e.defer_until for e in self.accept_q if not e.acceptable(None)]
        return min(held) if held else None

    def shutdown(self, how: int) -> None:
        """inet_shutdown: a listener shut for reading stops listening (its queued connections are
        reset; it keeps its port and may listen again), for writing only it is untouched; a
        connect in progress is dropped; an unconnected socket (TCP or UDP) takes the bits, which
        wakes its blocked readers ("a hack to wake up other listeners"), but says ENOTCONN."""
        mask = how + 1
        if self.tcp and self.state == LISTENING:
            if mask & RCV_SHUTDOWN:
                self.stop_listening()
                self.notify(0)  # sk_state_change: a blocked accept fails (EINVAL)
            return
        if self.tcp and self.state == CONNECTING:
            self.state, self.pending, self.in_progress = UNCONNECTED, None, False
            return
        if self.state == UNCONNECTED:
            # inet_shutdown's "hack to wake up other listeners": the bits are taken (a blocked
            # receive returns 0), and the call says ENOTCONN
            self.shut |= mask
            self.notify(0)
            raise KernelError(E.ENOTCONN)
        if mask & SEND_SHUTDOWN:
            self.push_corked()  # the FIN goes after what was held
        super().shutdown(how)

    def stop_listening(self) -> None:
        """inet_csk_listen_stop: the connections not accepted yet are reset; a port bind did not
        name is given back (tcp_set_state(TCP_CLOSE): inet_put_port), so a new listen takes
        another."""
        while self.accept_q:
            embryo = self.accept_q.popleft()
            embryo.released_with_data()
            embryo.release()
        self.state = UNCONNECTED
        if not self.port_locked:
            self.lport = 0

    def release(self) -> None:
        """tcp_close: SO_LINGER on with a zero time aborts the connection (a reset, not a FIN)."""
        if not self.released and self.tcp and self.linger == (1, 0) and self.state == CONNECTED:
            self.corked = bytearray()
            self.released_with_data()
        elif not self.released:
            self.push_corked()  # tcp_close sends what is queued, then its FIN
        super().release()

    def shutdown_peer(self, mask: int) -> None:
        if self.tcp and mask & SEND_SHUTDOWN and self.peer is not None:
            self.peer.shut |= RCV_SHUTDOWN  # our FIN; SHUT_RD tells the peer nothing

    # -- TCP_CORK --------------------------------------------------------------------------------
    def stream_space(self) -> int:
        return max(0, super().stream_space() - len(self.corked))

    @property
    def corking(self) -> bool:
        return self.tcp and bool(self.opt(IPPROTO_TCP, abi.TCP_CORK))

    def push_corked(self) -> None:
        """Send what the cork held (tcp_push_pending_frames: the cork pulled, TCP_NODELAY set,
        a FIN, the ceiling passed)."""
        peer = self.peer
        if self.corked and peer is not None and not peer.released and self.state == CONNECTED:
            peer.queue(Message(bytes(self.corked), [], self.cred, None))
        self.corked = bytearray()
        self.cork_since = -1

    def settle(self, now: int) -> None:
        """Bring the cork up to kernel time ``now``: start its ceiling at the first look after
        bytes were held, send them once CORK_CEILING_NS passed."""
        if not self.corked:
            return
        if self.cork_since < 0:
            self.cork_since = now
        elif now >= self.cork_since + CORK_CEILING_NS:
            self.push_corked()

    def cork_due(self) -> int | None:
        """When the held bytes go out by themselves (kernel time), if known."""
        return self.cork_since + CORK_CEILING_NS if self.corked and self.cork_since >= 0 else None

    def send_stream(self, data: bytes, fds: list, cred, src: bytes | None = None) -> int:
        peer = self.peer
        if (self.corking and self.state == CONNECTED and peer is not None and not peer.released
                and data and not self.shut & SEND_SHUTDOWN and not self.so_error):
            room = self.stream_space()
            if room <= 0:
                raise KernelError(E.EAGAIN)
            part = data[:room]
            self.corked += part
            whole = len(self.corked) // LOOPBACK_MSS_HALF_WINDOW * LOOPBACK_MSS_HALF_WINDOW
            if whole:  # full segments go out at once; the tail waits
                peer.queue(Message(bytes(self.corked[:whole]), [], self.cred, None))
                del self.corked[:whole]
                if not self.corked:
                    self.cork_since = -1
            return len(part)
        if (self.state == CONNECTED and peer is not None and peer.released and data
                and not self.shut & SEND_SHUTDOWN and not self.so_error):
            # the peer closed: this goes out and draws a reset (tcp_reset in CLOSE_WAIT: EPIPE)
            self.so_error, self.shut, self.reset = E.EPIPE, SHUTDOWN_MASK, True
            return len(data)
        return super().send_stream(data, fds, cred, src)

    # -- UDP ------------------------------------------------------------------------------------------
    def connect_udp(self, fam: int, dest: bytes, port: int) -> None:
        """__ip4_datagram_connect / __ip6_datagram_connect: an unbound address becomes the
        route's source (getsockname shows it); AF_UNSPEC dissolves the association and gives
        back the address and port bind did not name (__udp_disconnect)."""
        if fam == abi.AF_UNSPEC:
            self.raddr, self.rport = (ANY4 if self.family == AF_INET else ANY6), 0
            self.state = UNCONNECTED
            if not self.addr_locked:
                self.laddr = ANY4 if self.family == AF_INET else ANY6
            if not self.port_locked:
                self.lport = 0
            return
        dest = self.route(fam, dest)
        if not self.lport:
            self.bind(self.laddr, 0, low_ports=True)
        if is_any(self.laddr):
            self.laddr = self.source_for(dest)
        self.raddr, self.rport = dest, port
        self.state = CONNECTED

    def send_udp(self, data: bytes, dest: tuple[int, bytes, int] | None) -> int:
        if dest is None:
            if self.state != CONNECTED:
                raise KernelError(E.EDESTADDRREQ)
            ip, port = self.raddr, self.rport
        else:
            fam, ip, port = dest
            ip = self.route(fam, ip)
            if port == 0:
                raise KernelError(E.EINVAL)
        limit = abi.UDP_MAX_PAYLOAD_V4 if is_v4(ip) else abi.UDP_MAX_PAYLOAD_V6
        if len(data) > limit:
            # udp_sendmsg refuses more than 0xFFFF bytes outright; past that check
            # __ip_append_data and __ip6_append_data also queue the error under IP_RECVERR /
            # IPV6_RECVERR (ip_local_error, ipv6_local_error: lo's MTU as ee_info, for IPv4 capped
            # at IP_MAX_MTU; IPv4 names the connected port)
            if is_v4(ip) and len(data) <= 0xFFFF and self.opt(abi.IPPROTO_IP, abi.IP_RECVERR):
                self.local_error(E.EMSGSIZE, ip, self.rport, min(abi.LOOPBACK_MTU, abi.IP_MAX_MTU))
            elif not is_v4(ip) and self.opt(abi.IPPROTO_IPV6, abi.IPV6_RECVERR):
                self.local_error(E.EMSGSIZE, ip, port, abi.LOOPBACK_MTU)
            raise KernelError(E.EMSGSIZE)
        if self.shut & SEND_SHUTDOWN:  # sock_alloc_send_pskb, after the address and route
            raise KernelError(E.EPIPE)
        if not self.lport:
            self.bind(self.laddr, 0, low_ports=True)
        src = self.source_for(ip)
        if is_multicast4(ip) or is_broadcast4(ip):
            self._multicast(data, src, ip, port)
            return len(data)
        target = self.find(IPPROTO_UDP, ip, port, False, src, self.lport)
        if target is None:
            if self.state == CONNECTED:
                self.so_error = E.ECONNREFUSED
            return len(data)
        if target.rx_bytes + len(data) <= target.rcvbuf and not target.shut & RCV_SHUTDOWN:
            target.queue(Message(data, [], self.cred, self._header(src, ip, port, False)))
        return len(data)

    # what one queued error counts against SO_RCVBUF (its sk_buff's truesize, about)
    ERRQ_CHARGE = 256

    def local_error(self, err: int, ip: bytes, port: int, info: int) -> None:
        """Queue a locally detected error (ip_local_error / ipv6_local_error): origin
        SO_EE_ORIGIN_LOCAL, type and code 0; dropped when the receive buffer is full
        (sock_queue_err_skb). It makes the socket POLLERR, not SO_ERROR."""
        if self.rx_bytes + (len(self.errq) + 1) * self.ERRQ_CHARGE > self.rcvbuf:
            return
        ee = struct.pack("<IBBBBII", err, abi.SO_EE_ORIGIN_LOCAL, 0, 0, 0, info, 0)
        self.errq.append(ee + ip + struct.pack(">H", port))
        self.notify(abi.POLLERR)  # sk_error_report

    def recv_error(self):
        """A read of the error queue (ip_recv_error / ipv6_recv_error): no data, the error's
        destination as the source name, its sock_extended_err and an offender address (none:
        zeros, for a local error) as IP_RECVERR or IPV6_RECVERR, MSG_ERRQUEUE. EAGAIN when
        empty: such a read never waits."""
        if not self.errq:
            raise KernelError(E.EAGAIN)
        entry = self.errq.pop(0)
        n = abi.SOCK_EXTENDED_ERR_SIZE
        if self.family == AF_INET6:
            cmsg = (abi.IPPROTO_IPV6, abi.IPV6_RECVERR, entry[:n] + bytes(28))
        else:
            cmsg = (abi.IPPROTO_IP, abi.IP_RECVERR, entry[:n] + bytes(16))
        return Received(b"", src=entry[n:], flags=abi.MSG_ERRQUEUE, control=[cmsg])

    def _header(self, src: bytes, dst: bytes, dport: int, multicast: bool) -> bytes:
        """What a queued datagram keeps of its IP and UDP headers: source address and port,
        destination address and port, TTL and TOS (the receiver's IP control messages)."""
        ttl = self.opt(abi.IPPROTO_IP, abi.IP_MULTICAST_TTL, 1) if multicast else \
            self.opt(abi.IPPROTO_IP, abi.IP_TTL, -1)
        if ttl < 0:
            ttl = abi.IP_DEFAULT_TTL
        tos = self.opt(abi.IPPROTO_IP, abi.IP_TOS) & 0xFF
        return src + struct.pack(">H", self.lport) + dst + struct.pack(">HBB", dport, ttl, tos)

    def ip_control(self, header: bytes | None) -> list[tuple[int, int, bytes]]:
        """The IP control messages an AF_INET receiver asked for, in ip_cmsg_recv_offset's
        order: IP_PKTINFO, IP_TTL, IP_TOS, IP_ORIGDSTADDR (``(level, type, body)``)."""
        if self.family != AF_INET or header is None or len(header) < 38:
            return []
        dst, dport, ttl, tos = header[18:34], *struct.unpack(">HBB", header[34:38])
        out = []
        ip = abi.IPPROTO_IP
        if self.opt(ip, abi.IP_PKTINFO):
            spec = dst[12:] if not is_multicast4(dst) else LOOPBACK4[12:]
            out.append((ip, abi.IP_PKTINFO,
                        struct.pack("<i", abi.LOOPBACK_IFINDEX) + spec + dst[12:]))
        if self.opt(ip, abi.IP_RECVTTL):
            out.append((ip, abi.IP_TTL, struct.pack("<i", ttl)))
        if self.opt(ip, abi.IP_RECVTOS):
            out.append((ip, abi.IP_TOS, bytes([tos])))
        if self.opt(ip, abi.IP_RECVORIGDSTADDR):
            out.append((ip, abi.IP_ORIGDSTADDR, sockaddr(AF_INET, dst, dport)))
        return out

    # -- multicast ------------------------------------------------------------------------------
    def join(self, group: bytes, ifindex: int, ifaddr: bytes) -> None:
        """IP_ADD_MEMBERSHIP (ip_mc_join_group): the interface by index or address must be lo;
        none given means the route to the group, and there is none (ENODEV)."""
        self._mc_interface(ifindex, ifaddr)
        if group in self.mc_groups:
            raise KernelError(E.EADDRINUSE)
        if len(self.mc_groups) >= abi.IGMP_MAX_MEMBERSHIPS:
            raise KernelError(E.ENOBUFS)
        self.mc_groups.append(group)
        if self not in self.stack.inet:  # lo's membership counts it, bound or not
            self.stack.inet.append(self)

    def leave(self, group: bytes, ifindex: int, ifaddr: bytes) -> None:
        """IP_DROP_MEMBERSHIP (ip_mc_leave_group): EADDRNOTAVAIL when not a member."""
        if group not in self.mc_groups:
            raise KernelError(E.EADDRNOTAVAIL)
        if ifindex and ifindex != abi.LOOPBACK_IFINDEX or any(ifaddr) and \
                not is_loopback(V4MAPPED + ifaddr):
            raise KernelError(E.ENODEV)
        self.mc_groups.remove(group)

    @staticmethod
    def _mc_interface(ifindex: int, ifaddr: bytes) -> None:
        if ifindex:
            if ifindex != abi.LOOPBACK_IFINDEX:
                raise KernelError(E.ENODEV)
        elif not any(ifaddr) or not is_loopback(V4MAPPED + ifaddr):
            raise KernelError(E.ENODEV)

    def set_multicast_if(self, ifindex: int, ifaddr: bytes) -> None:
        """IP_MULTICAST_IF: the interface multicast goes out of (all zero: the route's)."""
        if not ifindex and not any(ifaddr):
            self.mc_index, self.mc_addr = 0, bytes(4)
            return
        if ifindex != 0 and ifindex != abi.LOOPBACK_IFINDEX or \
                not ifindex and not is_loopback(V4MAPPED + ifaddr):
            raise KernelError(E.EADDRNOTAVAIL)
        self.mc_index, self.mc_addr = abi.LOOPBACK_IFINDEX, bytes(ifaddr)

    def _multicast(self, data: bytes, src: bytes, group: bytes, port: int) -> None:
        """A datagram to ``group`` sent out of lo comes back in (lo's transmit is a receive),
        whatever IP_MULTICAST_LOOP says (__udp4_lib_mcast_deliver). A broadcast (``group`` is
        127.255.255.255 or 255.255.255.255) goes to every socket on the port bound to it or
        to the wildcard, members or not."""
        broadcast = is_broadcast4(group)
        bound = self.stack.bound(IPPROTO_UDP)
        if not broadcast and not any(group in s.mc_groups for s in bound):
            return  # lo is not a member: the packet is not taken in
        for s in self.stack.bound(IPPROTO_UDP, port):
            if not (s.laddr == group or is_any(s.laddr) and s.accepts(group)):
                continue
            if s.state == CONNECTED and (s.rport != self.lport or s.raddr != src):
                continue
            if not broadcast and group not in s.mc_groups and \
                    not s.opt(abi.IPPROTO_IP, abi.IP_MULTICAST_ALL, 1):
                continue
            if s.rx_bytes + len(data) <= s.rcvbuf and not s.shut & RCV_SHUTDOWN:
                s.queue(Message(data, [], self.cred,
                                self._header(src, group, port, not broadcast)))

    # -- readiness (tcp_poll, udp_poll) -------------------------------------------------------------
    def poll(self) -> int:
        return self._poll(None)

    def _poll(self, now: int | None) -> int:
        mask = 0
        if self.so_error or self.errq:
            mask |= abi.POLLERR
        if self.state == LISTENING:
            return mask | (abi.POLLIN | abi.POLLRDNORM if self.accept_ready(now) else 0)
        if self.shut == SHUTDOWN_MASK or (self.tcp and self.state == UNCONNECTED):
            mask |= abi.POLLHUP
        if self.shut & RCV_SHUTDOWN:
            mask |= abi.POLLIN | abi.POLLRDNORM | abi.POLLRDHUP
        if self.rx:
            mask |= abi.POLLIN | abi.POLLRDNORM
        if self.tcp and self.state == CONNECTING:
            self.progress()  # its listener may have room now
        if self.tcp and self.state == CONNECTING:
            if self.pending is None:
                mask |= abi.POLLOUT | abi.POLLWRNORM | abi.POLLIN | abi.POLLRDNORM
            return mask
        if not self.tcp or self.shut & SEND_SHUTDOWN or self.state != CONNECTED \
                or self.stream_space() > 0:
            mask |= abi.POLLOUT | abi.POLLWRNORM | abi.POLLWRBAND
        return mask

    def _read(self, n: int) -> bytes:
        return self.recv(n, 0).data

    def _write(self, data: bytes) -> int:
        if self.tcp:
            return self.send_stream(data, [], self.cred)
        if self.state != CONNECTED:
            raise KernelError(E.EDESTADDRREQ)
        return self.send_udp(data, None)

    def send(self, data: bytes, fds: list, cred) -> int:
        return self._write(data)

    def src_name(self, src: bytes | None) -> bytes | None:
        return None if src is None else self.show(src)


__all__ = ["InetSocket", "sockaddr", "parse_sockaddr", "is_loopback", "is_any", "is_v4", "is_multicast4",
           "ANY4", "ANY6", "LOOPBACK4", "LOOPBACK6", "V4MAPPED"]
