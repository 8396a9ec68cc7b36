"""System V IPC, POSIX message queues and namespaces between guest processes: the same C
programs natively and under ecs-kernel (glibc and musl), stdout and exit status compared."""
import os

import pytest

from tests.guests.test_differential import same


@pytest.mark.parametrize("scenario", ["shm", "sem", "semwait", "semundo", "msg", "msgwait"])
def test_sysv_ipc(guest_build, libc, scenario):
    same([guest_build("sysv", libc), scenario])


def test_posix_mqueue(guest_build, libc):
    same([guest_build("mqueue", libc)])


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="native namespaces need root (the oracle)")


@root_only
@pytest.mark.parametrize("scenario", ["uts", "ipc", "pid", "mnt", "setns", "errors"])
def test_namespaces(guest_build, libc, scenario):
    same([guest_build("ns", libc), scenario])


@root_only
@pytest.mark.skipif(not os.path.exists("/usr/bin/busybox"), reason="no busybox on this host")
def test_busybox_unshare_mount_proc_ps():
    native, guest = same(["/usr/bin/busybox", "unshare", "-p", "-f", "--mount-proc", "busybox", "ps"])
    assert b"    1 root     busybox ps" in guest.stdout


@root_only
@pytest.mark.skipif(not os.path.exists("/usr/bin/unshare"), reason="no util-linux unshare here")
def test_util_linux_unshare_mount_proc_ps():
    native, guest = same(["/usr/bin/unshare", "--pid", "--fork", "--mount-proc", "/usr/bin/ps"])
    assert guest.stdout.splitlines()[1].split()[0] == b"1"


@pytest.mark.parametrize("scenario", ["splice", "vm"])
def test_splice_tee_vmsplice_process_vm(guest_build, libc, scenario):
    same([guest_build("splice", libc), scenario])
