"""Sockets in the kernel (issue 16, item 1): UNIX domain sockets and loopback TCP/UDP between guest
processes, run natively and under ecs-kernel with the same output (Linux is the oracle), for
glibc, musl and a dynamically linked glibc build; what only the emulated machine shows (no route
off the machine); checkpoint and restore with connections and descriptors in flight."""
from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import given, strategies as st

from .harness import run_guest
from .test_checkpoint import EXAMPLES, assert_resumes
from .test_deterministic import assert_same_twice
from .test_differential import same


def test_unix_sockets_match_linux(guest_build, libc):
    native, _ = same([guest_build("sockets_unix", libc)])
    assert b"SCM_RIGHTS" in native.stdout and b"child exit 0" in native.stdout


def test_unix_socket_waits_end_when_another_thread_makes_them_ready(guest_build):
    """A thread blocked on a UNIX socket that another thread's call makes ready (a connection
    queued on its listener, backlog room, a read or a close of the receiver, SO_SNDBUF), or in
    epoll_wait as another thread adds a ready interest, wakes, as on Linux; none of these wakes
    the waiter's own queue (unix_wakeups.c). The guest conftest checks every look at the
    waiters that is skipped while no wakeup was counted."""
    native, _ = same([guest_build("unix_wakeups", "gcc")])
    assert b"timed out" not in native.stdout and native.stdout.count(b"POLLOUT") == 3


def test_inet_sockets_match_linux(guest_build, libc):
    native, _ = same([guest_build("sockets_inet", libc)])
    assert b"received 1048576" in native.stdout


def test_unix_control_messages_match_linux(guest_build, libc):
    """Control buffers too small, credentials only under SO_PASSCRED, SCM_RIGHTS with none,
    SCM_CREDENTIALS of no process, zero-length reads taking descriptors, accept's SO_PASSCRED."""
    native, _ = same([guest_build("sockets_cmsg", libc)])
    out = native.stdout.decode()
    assert "pid 0 uid 65534 gid 65534" in out and "accepted passcred 1" in out
    assert "recvmsg(room 20): 5 controllen 20 ctrunc 1" in out


def test_socket_call_edges_match_linux(guest_build, libc):
    """The netdevice ioctls about lo on any socket; recvmmsg's timeout (EINVAL before the fd,
    the time left written back)."""
    native, _ = same([guest_build("sockets_calls", libc)])
    out = native.stdout.decode()
    assert "name of 1: lo" in out and "left in (4s, 5s]: 1" in out


def test_multicast_on_lo_matches_linux(guest_build, libc):
    """IPv4 multicast over lo: memberships by index and address, IP_MULTICAST_IF, members and
    IP_MULTICAST_ALL, IP_MULTICAST_LOOP changing nothing on lo, a socket bound to the group."""
    native, _ = same([guest_build("sockets_mcast", libc)])
    out = native.stdout.decode()
    assert 'r1 (member): "hello"' in out and "r3 (IP_MULTICAST_ALL off): nothing" in out


def test_tcp_behaviour_and_options_match_linux(guest_build, libc):
    """MSG_WAITALL waiting for the whole buffer (TCP and UNIX), splice from a 1 MiB pipe into a
    socket that fills, TCP_INFO's state through a connection's life, TCP_CONGESTION,
    TCP_LINGER2, TCP_WINDOW_CLAMP, TCP_DEFER_ACCEPT (held until data or its timeout), a reset
    before accept, TCP_CORK (held until uncorked, a FIN, or 200 ms), MSG_TRUNC|MSG_PEEK, a
    blocking connect that waited for a full backlog, SO_REUSEPORT TCP listeners and UDP sockets
    sharing flows, shutdown of an unconnected UDP socket waking its reader."""
    native, _ = same([guest_build("sockets_tcp", libc)])
    out = native.stdout.decode()
    assert "spliced 1048576 read 1048576 same 1" in out and "waited for the second write: 1" in out
    assert "peer closed: state 8" in out and "set 5 -> 7" in out  # TCP_CLOSE_WAIT; retransmits
    assert "ready after the timeout: 1" in out and "held about 200 ms: 1" in out
    assert "getpeername(acc, (struct sockaddr *)&peer, &al): -1 ENOTCONN" in out
    assert "the waiting connect: 0" in out and out.count("total 300, each more than 50: 1") == 2
    assert "the blocked recvfrom: 0" in out  # an unconnected UDP socket's shutdown wakes it


def test_destinations_off_the_machine_are_unreachable(guest_build):
    r = run_guest([guest_build("sockets_inet"), "unreach"])
    assert r.status == 0, r.stderr
    assert r.stdout.decode().splitlines() == [
        "connect(c, (struct sockaddr *)&a, sizeof a): -1 ENETUNREACH",
        "sendto(u, \"q\", 1, 0, (struct sockaddr *)&b, sizeof b): -1 ENETUNREACH",
        "socket(AF_NETLINK, SOCK_RAW, 0): -1 EAFNOSUPPORT",
    ]


@pytest.mark.parametrize("libc", ["gcc", "musl"])
@EXAMPLES
@given(frac=st.floats(0.05, 0.95))
def test_connections_and_descriptors_in_flight_resume(guest_build, libc, frac):
    assert_resumes(guest_build("sockets_ckpt", libc), frac)


# The Done-when demo: the host's python3 runs `-m http.server --bind ::` (a dual-stack listener on
# ::; without --bind it takes getaddrinfo's first passive address, which glibc's RFC 3484 sort
# makes 0.0.0.0 on Linux) in the background of a guest shell, and a urllib client in the same
# shell fetches a page over 127.0.0.1 and over ::1. The port is the guest's own: nothing on the
# host listens or connects.
HTTP_DEMO = r"""
python3 -m http.server 8766 --bind :: --directory /usr/share > /tmp/server.log 2>&1 &
python3 - <<'PY'
import time, urllib.request
for attempt in range(120):
    try:
        r4 = urllib.request.urlopen("http://127.0.0.1:8766/")
        break
    except OSError:
        time.sleep(0.5)
body = r4.read()
r6 = urllib.request.urlopen("http://[::1]:8766/")
print("ipv4", r4.status, b"Directory listing" in body, "ipv6", r6.status, r6.read() == body)
PY
kill $!
wait
grep -c '"GET / HTTP/1.1" 200' /tmp/server.log
"""


def test_http_server_and_urllib_client_in_one_guest_shell():
    python = shutil.which("python3")
    assert python is not None
    env = {"PATH": os.path.dirname(python) + ":/usr/bin:/bin"}
    r = run_guest(["/bin/sh", "-c", HTTP_DEMO], env=env, timeout=900)
    assert r.status == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["ipv4 200 True ipv6 200 True", "2"], r.stderr


GAI_ORDER = """
import socket
print([a[0].name for a in socket.getaddrinfo(None, 8766, type=socket.SOCK_STREAM,
                                             flags=socket.AI_PASSIVE)])
print([a[4][0] for a in socket.getaddrinfo("::1", 1, type=socket.SOCK_DGRAM)])
"""


def test_getaddrinfo_sorts_addresses_as_on_linux():
    """glibc's RFC 3484 sort connects a UDP socket to each address (an IPv6 one also to IPv4
    addresses), reads its source with getsockname and dissolves it with AF_UNSPEC: the order it
    gives must be Linux's (the passive wildcard: 0.0.0.0 before ::)."""
    python = shutil.which("python3")
    assert python is not None
    native, _ = same([python, "-c", GAI_ORDER])
    assert native.stdout.decode().splitlines()[0] == "['AF_INET', 'AF_INET6']"


def test_bad_input_to_socket_calls_gets_linuxs_errnos(guest_build, libc):
    same([guest_build("sockets_bad", libc)])


def test_a_blocking_write_cut_short_returns_its_count(guest_build, libc):
    native, _ = same([guest_build("partial_writes", libc)])
    assert b"pipe: first wrote some 1" in native.stdout


@pytest.mark.parametrize("prog", ["sockets_inet", "sockets_ckpt"])
def test_networked_programs_run_the_same_twice_when_deterministic(guest_build, prog):
    """No host socket anywhere: ports, addresses, the data and its timing are the kernel's, so a
    deterministic run (strace log included) repeats exactly."""
    assert_same_twice(guest_build(prog))
