"""Which UDP socket takes a datagram (net/inet.py's InetSocket.find through send_udp), against a
plain-Python reference of Linux's lookup (net/ipv4/udp.c udp4_lib_lookup2 and compute_score,
net/ipv6/udp.c): the sockets bound to the port that take the destination address, scored (an
AF_INET socket for IPv4 traffic, an exact address, a socket connected to the sender); the best
bound last wins, and one in a SO_REUSEPORT group hands the choice to the group."""
from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from ecs_kernel import abi
from ecs_kernel.net.inet import ANY4, ANY6, LOOPBACK4, LOOPBACK6, InetSocket, V4MAPPED
from ecs_kernel.net.stack import NetStack

PORT = 42000
RECEIVERS = {  # name -> (family, address as 16 bytes, v6only)
    "0.0.0.0": (abi.AF_INET, ANY4, False),
    "127.0.0.1": (abi.AF_INET, LOOPBACK4, False),
    "::": (abi.AF_INET6, ANY6, False),
    ":: v6only": (abi.AF_INET6, ANY6, True),
    "::1": (abi.AF_INET6, LOOPBACK6, True),  # __inet6_bind makes it IPv6-only
    "::ffff:127.0.0.1": (abi.AF_INET6, V4MAPPED + LOOPBACK4[12:], False),
}
# senders: (family, bound address, port); what they send to
SENDERS = [(abi.AF_INET, LOOPBACK4, 41000), (abi.AF_INET6, LOOPBACK6, 41001),
           (abi.AF_INET6, ANY6, 41002)]
DESTS = {0: [LOOPBACK4], 1: [LOOPBACK6], 2: [V4MAPPED + LOOPBACK4[12:], LOOPBACK6]}


@dataclass
class Ref:
    family: int
    laddr: bytes
    v6only: bool
    reuseport: bool
    peer: tuple[bytes, int] | None = None

    def takes(self, dst: bytes) -> bool:
        v4 = dst[:12] == V4MAPPED
        if self.laddr == dst:
            return True
        if self.laddr not in (ANY4, ANY6):
            return False
        if self.family == abi.AF_INET:
            return v4
        return not (v4 and self.v6only)


def expected(refs: list[Ref], src: bytes, sport: int, dst: bytes) -> set[int]:
    """The receivers (indexes) Linux may hand the datagram to."""
    best, top = [], -1
    for i, r in enumerate(refs):
        if not r.takes(dst):
            continue
        score = (2 if r.family == abi.AF_INET else 1) + (4 if r.laddr == dst else 0)
        if r.peer is not None:
            if r.peer != (src, sport):
                continue
            score += 8
        if score > top:
            top, best = score, [i]
        elif score == top:
            best.append(i)
    if not best:
        return set()
    last = refs[best[-1]]
    if last.reuseport and last.peer is None:
        return {i for i in best if refs[i].reuseport}
    return {best[-1]}


class DeliveryMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.stack = NetStack()
        self.senders = []
        for fam, ip, port in SENDERS:
            s = InetSocket(self.stack, fam, abi.SOCK_DGRAM, abi.IPPROTO_UDP, 0, (1, 0, 0))
            s.bind(ip, port, low_ports=True)
            self.senders.append(s)
        self.socks: list[InetSocket] = []
        self.refs: list[Ref] = []

    @rule(name=st.sampled_from(sorted(RECEIVERS)), reuseport=st.booleans())
    def bind(self, name, reuseport):
        fam, ip, v6only = RECEIVERS[name]
        s = InetSocket(self.stack, fam, abi.SOCK_DGRAM, abi.IPPROTO_UDP, 0, (1, 0, 0))
        s.set_opt(abi.SOL_SOCKET, abi.SO_REUSEADDR, 1)
        if reuseport:
            s.set_opt(abi.SOL_SOCKET, abi.SO_REUSEPORT, 1)
        if v6only and ip == ANY6:
            s.set_opt(abi.IPPROTO_IPV6, abi.IPV6_V6ONLY, 1)
        s.bind(ip, PORT, low_ports=True)  # every socket sets SO_REUSEADDR: all may share it
        self.socks.append(s)
        self.refs.append(Ref(fam, ip, v6only, reuseport))

    @rule(data=st.data(), j=st.integers(0, len(SENDERS) - 1))
    def connect(self, data, j):
        if not self.socks:
            return
        i = data.draw(st.integers(0, len(self.socks) - 1))
        s, r, snd = self.socks[i], self.refs[i], self.senders[j]
        src = snd.laddr if snd.laddr not in (ANY4, ANY6) else LOOPBACK6
        if s.family == abi.AF_INET and src[:12] != V4MAPPED or r.v6only and src[:12] == V4MAPPED \
                or r.laddr[:12] == V4MAPPED and src[:12] != V4MAPPED:
            return  # not a peer this socket can have
        if r.laddr not in (ANY4, ANY6) and (r.laddr[:12] == V4MAPPED) != (src[:12] == V4MAPPED):
            return
        s.connect_udp(abi.AF_INET6, src, snd.lport)
        if r.laddr in (ANY4, ANY6):  # ip4_datagram_connect: the route's source becomes its own
            r.laddr = LOOPBACK4 if src[:12] == V4MAPPED else LOOPBACK6
        r.peer = (src, snd.lport)

    @rule(j=st.integers(0, len(SENDERS) - 1), data=st.data())
    def send(self, j, data):
        snd = self.senders[j]
        dst = data.draw(st.sampled_from(DESTS[j]))
        src = snd.source_for(dst)
        want = expected(self.refs, src, snd.lport, dst)
        before = [s.rx_bytes for s in self.socks]
        snd.send_udp(b"x", (abi.AF_INET6, dst, PORT))
        got = {i for i, s in enumerate(self.socks) if s.rx_bytes != before[i]}
        if not want:
            assert not got
        else:
            assert len(got) == 1 and got <= want, (got, want, self.refs)


TestDelivery = DeliveryMachine.TestCase
TestDelivery.settings = settings(max_examples=300, stateful_step_count=25, deadline=None)
