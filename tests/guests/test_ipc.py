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
@pytest.mark.parametrize("scenario", ["uts", "ipc", "pid", "mnt", "setns", "pidfd", "errors"])
def test_namespaces(guest_build, libc, scenario):
    same([guest_build("ns", libc), scenario])


@root_only
def test_busybox_unshare_mount_proc_ps():
    native, guest = same(["/usr/bin/busybox", "unshare", "-p", "-f", "--mount-proc", "busybox", "ps"])
    assert b"    1 root     busybox ps" in guest.stdout


@root_only
def test_util_linux_unshare_mount_proc_ps():
    native, guest = same(["/usr/bin/unshare", "--pid", "--fork", "--mount-proc", "/usr/bin/ps"])
    assert guest.stdout.splitlines()[1].split()[0] == b"1"


@pytest.mark.parametrize("scenario", ["splice", "vm"])
def test_splice_tee_vmsplice_process_vm(guest_build, libc, scenario):
    same([guest_build("splice", libc), scenario])


@pytest.mark.parametrize("prog,arg", [("sysv", "semwait"), ("sysv", "msgwait"), ("sysv", "shm"),
                                      ("sysv", "semundo"), ("mqueue", "")])
def test_ipc_state_survives_checkpoint(guest_build, tmp_path, prog, arg):
    """A deterministic run saved mid-run (waiters blocked on semaphores and queues, segments
    attached, messages queued, undo adjustments held) and restored in a new process prints what
    the whole run prints and exits the same way."""
    from tests.guests.test_checkpoint import cli
    exe = guest_build(prog, "gcc")
    argv = [exe] + ([arg] if arg else [])
    whole = cli("run", "--deterministic", "--seed", 3, "--", *argv)
    saved = 0
    for tick in (2, 5, 12, 30):
        path = tmp_path / f"ckpt-{tick}"
        first = cli("run", "--deterministic", "--seed", 3, "--checkpoint-at", tick,
                    "--checkpoint-to", path, "--", *argv)
        if not path.exists():
            assert b"no checkpoint written" in first.stderr, first.stderr
            continue
        saved += 1
        assert first.returncode == 0, first.stderr
        second = cli("restore", path)
        assert first.stdout + second.stdout == whole.stdout, second.stderr
        assert second.returncode == whole.returncode
    assert saved, "no checkpoint was taken mid-run"
