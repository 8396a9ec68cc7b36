"""Extended attributes beyond what the native differential run can show: a host file seen
through the overlay (the host's own attributes are not shown and never written), and the
attributes as kernel state a checkpoint saves and a restore in a new process brings back."""
from __future__ import annotations

import os
import tempfile

from ecs_kernel import checkpoint_file
from ecs_kernel.cpu import checkpoint as guest_checkpoint
from ecs_kernel.cpu.clock import VirtualClock

from .harness import run_guest
from .test_checkpoint import cli


def _host_file_with_xattr(d: str) -> str:
    path = os.path.join(d, "hostfile")
    with open(path, "w") as f:
        f.write("host\n")
    os.setxattr(path, "user.host", b"from the host")
    return path


def test_a_host_file_shows_none_of_the_hosts_attributes_and_keeps_them(guest_build):
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        path = _host_file_with_xattr(d)
        r = run_guest([guest_build("xattr"), "overlay", path])
        assert r.status == 0, r.stderr
        assert r.stdout.decode().splitlines() == [
            "host file list []",
            "host file get user.host -1 errno 61",
            "host file set user.g 0 errno 0",
            "host file get user.g 5 guest",
            "host file list after [user.g|]",
        ]
        assert os.listxattr(path) == ["user.host"]  # the host file is untouched


def test_attributes_survive_checkpoint_and_restore(guest_build):
    """xattr.c ckpt sets attributes (binary values, a long one, a name that is not UTF-8, a host
    file's) and sleeps 400 ms; a checkpoint taken in the sleep holds them on the inodes, and the
    restored run reads back what an uninterrupted run reads."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        host = _host_file_with_xattr(d)
        prog = guest_build("xattr")
        full, end = _baseline(prog, host)
        assert full.status == 0, full.stderr
        assert b"ckpt user.big 1000 1" in full.stdout and b"ckpt host file 1 errno 0" in full.stdout
        path = os.path.join(d, "run.ckpt")
        # the virtual clock makes ticks a function of the program: the 400 ms sleep is the end
        first = run_guest([prog, "ckpt", host], clock=VirtualClock(), checkpoint=(end - 200, path, False))
        assert first.status == 0 and os.path.exists(path), first.stderr
        machine = guest_checkpoint.from_state(*checkpoint_file.read(path))
        inode = machine.fs.lookup("/tmp/ecs_xattr_ckpt")
        assert inode.xattrs["user.small"] == b"\0\xff\x01\0\x02"
        assert inode.xattrs["user.big"] == b"q" * 1000
        assert inode.xattrs["trusted.\xc3\xa9\x01"] == b"t"
        assert machine.fs.lookup(host).xattrs == {"user.on_host_file": b"h"}
        second = cli("restore", path)
        assert (first.stdout + second.stdout, second.returncode) == (full.stdout, full.status), \
            second.stderr
        assert os.listxattr(host) == ["user.host"]


def _baseline(prog, host):
    end = []
    r = run_guest([prog, "ckpt", host], clock=VirtualClock(),
                  report=lambda m: end.append(m.kernel_tick()))
    return r, end[0]
