"""User namespaces (issue 16): userns.c natively and under ecs-kernel (glibc and musl), util-linux's
and busybox's ``unshare -U``/``-r``, and a checkpoint taken inside a user namespace. Native runs
need root (the host's unprivileged cases drop to uid 1000 themselves)."""
import os
import tempfile

import pytest

from ecs_kernel import checkpoint_file
from ecs_kernel.cpu import checkpoint as guest_checkpoint
from ecs_kernel.cpu.clock import VirtualClock
from tests.guests.harness import run_guest
from tests.guests.test_checkpoint import cli
from tests.guests.test_differential import same

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="native user namespaces as the oracle "
                               "need root (the program drops to uid 1000 itself)")


@root_only
@pytest.mark.parametrize("scenario", ["basic", "rules", "parent", "nesting", "clone", "setns",
                                      "owners", "exec", "ckpt", "scm"])
def test_user_namespaces(guest_build, libc, scenario):
    same([guest_build("userns", libc), scenario])


@root_only
@pytest.mark.parametrize("argv", [
    ["/usr/bin/unshare", "-Ur", "id"],
    ["/usr/bin/unshare", "-U", "id"],
    ["/usr/bin/unshare", "-U", "--map-user=1234", "--map-group=55", "id"],
    ["/usr/bin/unshare", "-Ur", "cat", "/proc/self/uid_map", "/proc/self/gid_map",
     "/proc/self/setgroups"],
    ["/usr/bin/unshare", "-Urpf", "--mount-proc", "/usr/bin/ps"],
    ["/usr/bin/busybox", "unshare", "-U", "id"],
    ["/usr/bin/busybox", "unshare", "-r", "id"],
], ids=lambda a: " ".join(os.path.basename(x) for x in a))
def test_unshare_tools(argv):
    native, guest = same(argv)
    if argv[-1] == "id":
        assert guest.stdout.startswith(b"uid=")


def _userns_tasks(path) -> int:
    """How many guest tasks of the checkpoint at ``path`` live below the initial user
    namespace."""
    machine = guest_checkpoint.from_state(*checkpoint_file.read(path))
    T = machine.world.tasks
    rows = T.live_rows()
    return int((T.userns[rows] != 0).sum())


@pytest.mark.parametrize("libc", ["gcc", "musl"])
def test_checkpoint_inside_a_user_namespace_resumes(guest_build, libc):
    """userns.c ckpt sleeps 300 ms in a user namespace with its uid map written and its gid map
    open for writing: a checkpoint taken in the sleep restores in a new process, the held
    file writes the gid map, and the run prints what an uninterrupted one prints."""
    prog = guest_build("userns", libc)
    ends = []
    full = run_guest([prog, "ckpt"], clock=VirtualClock(),
                     report=lambda m: ends.append(m.kernel_tick()))
    assert full.status == 0 and b"gid_map through an fd opened before = 8" in full.stdout
    end = ends[0]
    for back in (250, 120):
        with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
            path = os.path.join(d, "run.ckpt")
            first = run_guest([prog, "ckpt"], clock=VirtualClock(),
                              checkpoint=(end - back, path, False))
            assert first.status == 0 and os.path.exists(path), first.stderr
            assert _userns_tasks(path) == 1
            second = cli("restore", path)
        assert (first.stdout + second.stdout, second.returncode) == (full.stdout, full.status), \
            second.stderr
