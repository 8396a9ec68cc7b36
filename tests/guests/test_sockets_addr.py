"""Socket addressing over loopback (issue 16, item 1), run natively and under ecs-kernel with the
same output (Linux is the oracle), glibc and musl: the dual-stack rules, the bind matrix of who
may share a port, which socket a datagram goes to, broadcast on lo, UDP shutdown, IP_TOS and
IPV6_TCLASS values, the UDP error queue, the socket buffer limits of /proc/sys/net/core, and a
blocking connect that waits for room in a backlog (tests/guests/src/sockets_addr.c)."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from ecs_kernel.abi import RMEM_MAX, WMEM_MAX

from .harness import run_guest
from .test_checkpoint import EXAMPLES, assert_resumes, cli
from .test_differential import same


@pytest.mark.parametrize("libc", ["gcc", "musl"])
def test_socket_addressing_matches_linux(guest_build, libc):
    native, _ = same([guest_build("sockets_addr", libc)])
    out = native.stdout.decode()
    assert "UDP bound to ::1: v6only 1" in out
    assert "connect(s, (struct sockaddr *)&lo6p, l6): -1 EAFNOSUPPORT" in out
    assert "reuseaddr: 0 0 0 3" in out and "child connected 3" in out


def _host_sysctl(name: str) -> str:
    with open(f"/proc/sys/net/core/{name}") as f:
        return f.read().strip()


def test_buffer_limits_follow_the_host_except_in_deterministic_runs():
    """``ecs-kernel run`` starts a guest with the host's net.core.{w,r}mem_max, as a native
    program sees them (so SO_SNDBUF can grow as far as natively); a deterministic run, a function
    of its input, and the library's ``run`` keep Linux's built-in 212992. SO_SNDBUF and SO_RCVBUF
    stop at twice them (sockets_addr.c checks that against /proc natively too)."""
    argv = ["/bin/cat", "/proc/sys/net/core/wmem_max", "/proc/sys/net/core/rmem_max"]
    r = cli("run", *argv)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == [_host_sysctl("wmem_max"), _host_sysctl("rmem_max")]
    r = cli("run", "--deterministic", *argv)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == [str(WMEM_MAX), str(RMEM_MAX)]
    r = run_guest(argv)
    assert r.status == 0, r.stderr
    assert r.stdout.decode().split() == [str(WMEM_MAX), str(RMEM_MAX)]


@pytest.mark.parametrize("libc", ["gcc", "musl"])
def test_sockets_and_namespaces_match_linux(guest_build, libc):
    """SO_PEERCRED and SCM_CREDENTIALS across a PID namespace (the reader's view of the pid,
    kept after the peer exits); a network namespace's own abstract names, lo (down until
    SIOCSIFFLAGS) and ports, sockets staying in the namespace they were made in, setns back."""
    native, _ = same([guest_build("sockets_ns", libc)])
    out = native.stdout.decode()
    assert "SO_PEERCRED pid is the child's here: yes" in out
    assert "connect(fresh, (struct sockaddr *)&an, al): -1 ECONNREFUSED" in out
    assert "lo flags 0x8\n" in out and "child in its own namespace: status 0" in out


@EXAMPLES
@given(frac=st.floats(0.05, 0.95))
def test_network_namespaces_and_their_sockets_resume(guest_build, frac):
    """A checkpoint anywhere in sockets_ns.c (namespaces made, sockets in each, a peer's
    credentials held) restores into the same run."""
    assert_resumes(guest_build("sockets_ns"), frac)
