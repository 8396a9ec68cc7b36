"""Who may bind a port (net/inet.py's InetSocket.bind and listen) against a plain-Python reference
of Linux's rules, written from net/ipv4/inet_connection_sock.c (inet_csk_bind_conflict,
inet_csk_get_port's relaxed check at listen), net/ipv4/udp.c (udp_lib_lport_inuse) and the
address overlap of inet_rcv_saddr_equal / ipv6_rcv_saddr_equal, with __inet6_bind's
IPV6_V6ONLY for a socket bound to an IPv6 address. tests/guests/src/sockets_addr.c holds the
same rules to native Linux (its bind matrix); this explores sequences of binds, listens and
closes with several owners."""
from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ecs_kernel import abi
from ecs_kernel.errors import E, KernelError
from ecs_kernel.net.inet import InetSocket, V4MAPPED
from ecs_kernel.net.stack import NetStack

# the addresses: (family, text); IPv4 ones as a v4 socket sees them, v4-mapped ones on IPv6
ADDRESSES = {
    "0.0.0.0": (abi.AF_INET, b"\0\0\0\0"),
    "127.0.0.1": (abi.AF_INET, b"\x7f\0\0\x01"),
    "127.0.0.2": (abi.AF_INET, b"\x7f\0\0\x02"),
    "::": (abi.AF_INET6, bytes(16)),
    "::1": (abi.AF_INET6, bytes(15) + b"\x01"),
    "::ffff:127.0.0.1": (abi.AF_INET6, V4MAPPED + b"\x7f\0\0\x01"),
    "::ffff:127.0.0.2": (abi.AF_INET6, V4MAPPED + b"\x7f\0\0\x02"),
}
PORTS = (40000, 40001)


@dataclass
class Ref:
    """One socket of the reference: what the rules look at."""
    family: int
    addr: str
    port: int
    reuseaddr: bool
    reuseport: bool
    v6only: bool
    uid: int
    listening: bool = False

    @property
    def v4(self) -> bytes | None:
        """The IPv4 address it answers for (inet_rcv_saddr), None if it takes no IPv4."""
        raw = ADDRESSES[self.addr][1]
        if self.family == abi.AF_INET:
            return raw
        if raw[:12] == V4MAPPED:
            return raw[12:]
        return None if self.v6only or any(raw) else b"\0\0\0\0"


def v4_equal(a: bytes, b_ref: Ref) -> bool:
    """ipv4_rcv_saddr_equal with both wildcards matching: ``b_ref`` IPv6-only takes nothing."""
    b = b_ref.v4
    if b is None:
        return False
    return a == b or a == b"\0\0\0\0" or b == b"\0\0\0\0"


def overlap(s: Ref, o: Ref) -> bool:
    """inet_rcv_saddr_equal(s, o, true)."""
    if s.family == abi.AF_INET:
        return v4_equal(s.v4, o)
    mine = ADDRESSES[s.addr][1]
    theirs = ADDRESSES[o.addr][1] if o.family == abi.AF_INET6 else None
    mapped = mine[:12] == V4MAPPED
    mapped2 = theirs is None or theirs[:12] == V4MAPPED
    if mapped and mapped2:  # both IPv4: as ipv4_rcv_saddr_equal
        return v4_equal(mine[12:], o)
    any1, any2 = not any(mine), theirs is not None and not any(theirs)
    if any1 and any2:
        return True
    if any2 and not (o.v6only and mapped):
        return True
    if any1 and not (s.v6only and mapped2):
        return True
    return theirs is not None and mine == theirs


def bind_conflict(s: Ref, others: list[Ref], tcp: bool, at_listen: bool) -> bool:
    for o in others:
        if o.port != s.port or not overlap(s, o):
            continue
        if s.reuseport and o.reuseport and s.uid == o.uid:
            continue  # a SO_REUSEPORT group of one owner
        if tcp:
            if at_listen:
                if o.listening:  # the relaxed check: only listeners are in the way
                    return True
                continue
            if s.reuseaddr and o.reuseaddr and not o.listening:
                continue
            return True
        if s.reuseaddr and o.reuseaddr:
            continue  # udp_lib_lport_inuse
        return True
    return False


class BindMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.stack = NetStack()
        self.socks: list[tuple[InetSocket, Ref]] = []

    @rule(tcp=st.booleans(), addr=st.sampled_from(sorted(ADDRESSES)), port=st.sampled_from(PORTS),
          reuseaddr=st.booleans(), reuseport=st.booleans(), v6only=st.booleans(),
          uid=st.sampled_from((0, 1000)))
    def bind(self, tcp, addr, port, reuseaddr, reuseport, v6only, uid):
        family, raw = ADDRESSES[addr]
        ip = V4MAPPED + raw if family == abi.AF_INET else raw
        stype, proto = (abi.SOCK_STREAM, abi.IPPROTO_TCP) if tcp else (abi.SOCK_DGRAM,
                                                                        abi.IPPROTO_UDP)
        sock = InetSocket(self.stack, family, stype, proto, 0, (1, uid, uid))
        if reuseaddr:
            sock.set_opt(abi.SOL_SOCKET, abi.SO_REUSEADDR, 1)
        if reuseport:
            sock.set_opt(abi.SOL_SOCKET, abi.SO_REUSEPORT, 1)
        v6only = v6only and family == abi.AF_INET6
        if v6only:
            sock.set_opt(abi.IPPROTO_IPV6, abi.IPV6_V6ONLY, 1)
        if v6only and raw[:12] == V4MAPPED:
            return  # EINVAL: an IPv6-only socket has no v4-mapped address (checked elsewhere)
        ref = Ref(family, addr, port, reuseaddr, reuseport, v6only, uid)
        others = [r for s, r in self.socks if s.tcp == tcp]
        want = bind_conflict(ref, others, tcp, False)
        try:
            sock.bind(ip, port, low_ports=True)
            got = False
        except KernelError as e:
            assert e.errno == E.EADDRINUSE, e
            got = True
        assert got == want, (ref, others)
        if not got:
            if family == abi.AF_INET6 and any(raw) and raw[:12] != V4MAPPED:
                ref.v6only = True  # __inet6_bind
            self.socks.append((sock, ref))

    @rule(data=st.data())
    def listen(self, data):
        tcp = [(s, r) for s, r in self.socks if s.tcp and not r.listening]
        if not tcp:
            return
        sock, ref = data.draw(st.sampled_from(tcp))
        others = [r for s, r in self.socks if s.tcp and r is not ref]
        want = bind_conflict(ref, others, True, True)
        try:
            sock.listen(8)
            got = False
        except KernelError as e:
            assert e.errno == E.EADDRINUSE, e
            got = True
        assert got == want, (ref, others)
        ref.listening = not got

    @rule(data=st.data())
    def close(self, data):
        if not self.socks:
            return
        i = data.draw(st.integers(0, len(self.socks) - 1))
        sock, _ = self.socks.pop(i)
        sock.release()

    @invariant()
    def v6only_reads_as_linux(self):
        for sock, ref in self.socks:
            assert bool(sock.v6only) == ref.v6only


TestBindRules = BindMachine.TestCase
TestBindRules.settings = settings(max_examples=300, stateful_step_count=30, deadline=None)


def test_the_reference_agrees_with_the_native_matrix_corner():
    """The reference itself against lines of the native matrix (sockets_addr.c's output on
    Linux): a dual-stack [::] holds every address; an IPv6-only one only IPv6; [::1] and
    127.0.0.1 are apart."""
    dual = Ref(abi.AF_INET6, "::", 1, False, False, False, 0)
    only = Ref(abi.AF_INET6, "::", 1, False, False, True, 0)
    lo6 = Ref(abi.AF_INET6, "::1", 1, False, False, True, 0)
    for a in ADDRESSES:
        fam = ADDRESSES[a][0]
        s = Ref(fam, a, 1, False, False, fam == abi.AF_INET6 and a == "::1", 0)
        assert bind_conflict(s, [dual], True, False)
        assert bind_conflict(s, [only], True, False) == (fam == abi.AF_INET6 and "." not in a)
    assert not bind_conflict(Ref(abi.AF_INET, "127.0.0.1", 1, False, False, False, 0), [lo6],
                             False, False)
