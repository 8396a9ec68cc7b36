"""Sockets in the kernel (issue 16, item 1): UNIX domain sockets and loopback TCP/UDP between guest
processes, run natively and under ecs-kernel with the same output (Linux is the oracle), for
glibc, musl and a dynamically linked glibc build; what only the emulated machine shows (no route
off the machine); checkpoint and restore with connections and descriptors in flight."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from .harness import run_guest
from .test_checkpoint import EXAMPLES, assert_resumes
from .test_differential import same


def test_unix_sockets_match_linux(guest_build, libc):
    native, _ = same([guest_build("sockets_unix", libc)])
    assert b"SCM_RIGHTS" in native.stdout and b"child exit 0" in native.stdout


def test_inet_sockets_match_linux(guest_build, libc):
    native, _ = same([guest_build("sockets_inet", libc)])
    assert b"received 1048576" in native.stdout


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
