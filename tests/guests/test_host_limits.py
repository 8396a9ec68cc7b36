"""Limits that protect the host (cpu/host_limits.py): a fork bomb, a memory hog and an fd leak
under ``ecs-kernel run`` end with the guest's errors (EAGAIN, ENOMEM or an OOM kill, EMFILE)
and ecs-kernel's normal exit, never an internal error, Unicorn's exit(1) or the host's OOM
killer. Each run is a subprocess with small --pids/--memory, under an address-space limit and a
timeout, so a regression cannot take the machine down."""
import os
import resource
import subprocess
import sys
import threading

import pytest

from tests.guests.harness import run_native

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ecs_run(args, as_limit=8 << 30, timeout=300, nofile=None):
    """``ecs-kernel run ARGS`` in a child process whose address space is limited; returns
    (status, stdout, stderr, the child's peak RSS in bytes). The peak is the child's own
    (wait4's rusage): RUSAGE_CHILDREN's is the largest of every child this test process ever
    had, so a big one earlier in the suite would be counted."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
        if nofile is not None:  # (soft, hard): the guest starts with ecs-kernel's limits
            resource.setrlimit(resource.RLIMIT_NOFILE, nofile)

    env = {"PYTHONPATH": ROOT, "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "")}
    p = subprocess.Popen([sys.executable, "-m", "ecs_kernel.cli", "run", *map(str, args)],
                         env=env, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=limit)
    got = {}
    readers = [threading.Thread(target=lambda k=k, f=f: got.__setitem__(k, f.read()))
               for k, f in (("out", p.stdout), ("err", p.stderr))]
    for r in readers:
        r.start()
    killer = threading.Timer(timeout, p.kill)
    killer.start()
    try:
        _, status, usage = os.wait4(p.pid, 0)
    finally:
        killer.cancel()
    for r in readers:
        r.join()
    p.returncode = os.waitstatus_to_exitcode(status)  # (reaped here: Popen must not wait again)
    return p.returncode, got["out"].decode(), got["err"].decode(), usage.ru_maxrss * 1024


def assert_normal_exit(status, err):
    assert "internal error" not in err, err
    assert "Could not allocate" not in err, err
    assert status >= 0, f"ecs-kernel died of signal {-status}"


def test_a_fork_bomb_ends_with_eagain_at_the_pids_limit(guest_build):
    status, out, err, _ = ecs_run(["--pids", 48, "--memory", "1G", guest_build("hog"),
                                   "forkbomb"], as_limit=32 << 30)
    assert_normal_exit(status, err)
    assert status == 0, err
    assert out == "fork failed with EAGAIN yes, with another errno 0 times\n"


def test_forks_past_the_hosts_address_space_limit_fail_with_enomem(guest_build):
    """Under RLIMIT_AS, forks fail with ENOMEM before Unicorn would end ecs-kernel ("Could not
    allocate dynamic translator buffer")."""
    status, out, err, _ = ecs_run(["--pids", 4000, "--memory", "2G", guest_build("hog"),
                                   "forkbomb"], as_limit=3 << 30)
    assert_normal_exit(status, err)
    assert status == 0, err
    assert out.startswith("fork failed with EAGAIN no, with another errno "), out


def test_a_memory_hog_gets_enomem_or_is_oom_killed(guest_build):
    limit = 300 << 20
    status, out, err, peak = ecs_run(["--memory", "300M", guest_build("hog"), "memory"])
    assert_normal_exit(status, err)
    if status == 137:  # SIGKILL from the OOM killer
        assert "ecs-kernel: out of memory (--memory 300M): killed process" in err, err
    else:
        assert status == 0, err
        assert out.startswith("mmap failed after ") and "Cannot allocate memory" in out, out
    # ecs-kernel's libraries (file pages, not counted) and one 32 MiB step of the hog past it
    assert peak < limit + (200 << 20), peak


def test_a_hog_that_makes_no_syscalls_is_oom_killed(guest_build, tmp_path):
    """The memory watch stops a guest that touches pages in a loop without syscalls."""
    status, out, err, peak = ecs_run(["--memory", "300M", guest_build("hog"), "touch"],
                                     as_limit=12 << 30)
    assert_normal_exit(status, err)
    assert status == 137, (status, out, err)
    assert "ecs-kernel: out of memory (--memory 300M): killed process" in err, err
    assert peak < (300 << 20) + (250 << 20), peak


def test_an_fd_leak_ends_with_emfile_as_natively(guest_build):
    prog = guest_build("hog")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    native = run_native(["prlimit", f"--nofile=1024:{hard}", prog, "fds"])
    status, out, err, _ = ecs_run([prog, "fds"], nofile=(1024, hard))
    assert_normal_exit(status, err)
    assert (status, out) == (native.status, native.stdout.decode())
    assert "Too many open files" in out


@pytest.mark.parametrize("arg", ["0", "12X", "-5M", "100M"])
def test_bad_memory_sizes_are_refused(arg):
    status, out, err, _ = ecs_run(["--memory", arg, "/bin/true"])
    assert status == 2 and "--memory" in err, err


def test_sysinfo_and_meminfo_show_the_machine_memory_sizes(guest_build):
    """The guests' machine is --memory's size; what they touch is no longer free, MAP_SHARED
    memory is shared, and /proc/meminfo agrees with sysinfo."""
    status, out, err, _ = ecs_run(["--memory", "2G", guest_build("sysmem")])
    assert status == 0, err
    first = out.splitlines()[0].split()
    got = dict(zip(first[0::2], first[1::2]))
    assert got["unit"] == "1" and got["total"] == "2048" and got["swap"] == "0", out
    assert 72 <= int(got["free_drop"]) <= 80, out  # 64 MiB private + 8 MiB shared, and stdio
    assert 8 <= int(got["shared_growth"]) <= 9, out
    assert out.splitlines()[1] == "meminfo total 2048 shmem_at_least_8 1", out
