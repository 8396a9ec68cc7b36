"""System V IPC, POSIX message queues and namespaces between guest processes: the same C
programs natively and under ecs-kernel (glibc and musl), stdout and exit status compared."""
import pytest

from tests.guests.test_differential import same


@pytest.mark.parametrize("scenario", ["shm", "sem", "semwait", "semundo", "msg", "msgwait"])
def test_sysv_ipc(guest_build, libc, scenario):
    same([guest_build("sysv", libc), scenario])


def test_posix_mqueue(guest_build, libc):
    same([guest_build("mqueue", libc)])
