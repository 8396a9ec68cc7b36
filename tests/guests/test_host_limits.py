"""Limits that protect the host (cpu/host_limits.py): a fork bomb, a memory hog and an fd leak
under ``ecs-kernel run`` end with the guest's errors (EAGAIN, ENOMEM or an OOM kill, EMFILE)
and ecs-kernel's normal exit, never an internal error, Unicorn's exit(1) or the host's OOM
killer. Each run is a subprocess with small --pids/--memory, under an address-space limit and a
timeout, so a regression cannot take the machine down."""
import os
import resource
import signal
import subprocess
import sys
import threading

import pytest

from tests.guests.harness import run_native

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# Runs the command (argv[2:]) as its own child and writes that child's peak RSS (kB) to the
# descriptor argv[1]. The peak must
# come from a process forked by a small one: Linux folds the memory a process had before exec
# into its ru_maxrss (exec_mmap's setmax_mm_hiwater_rss), and a child forked straight from this
# test process starts with this process's resident pages (hundreds of MB late in the suite).
_PEAK_WRAPPER = """
import os, signal, sys
fd = int(sys.argv[1])
pid = os.fork()
if pid == 0:
    os.set_inheritable(fd, False)
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
os.write(fd, str(usage.ru_maxrss).encode())
if os.WIFSIGNALED(status):  # end as the child did
    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
sys.exit(os.WEXITSTATUS(status))
"""


def ecs_run(args, as_limit=8 << 30, timeout=300, nofile=None):
    """``ecs-kernel run ARGS`` in a child process whose address space is limited; returns
    (status, stdout, stderr, the child's peak RSS in bytes), the peak measured by a small
    wrapper process (_PEAK_WRAPPER) that forks and waits for it."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
        if nofile is not None:  # (soft, hard): the guest starts with ecs-kernel's limits
            resource.setrlimit(resource.RLIMIT_NOFILE, nofile)

    env = {"PYTHONPATH": ROOT, "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "")}
    peak_r, peak_w = os.pipe()
    p = subprocess.Popen([sys.executable, "-c", _PEAK_WRAPPER, str(peak_w), sys.executable,
                          "-m", "ecs_kernel.cli", "run", *map(str, args)],
                         env=env, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         pass_fds=(peak_w,), start_new_session=True, preexec_fn=limit)
    os.close(peak_w)
    got = {}
    readers = [threading.Thread(target=lambda k=k, f=f: got.__setitem__(k, f.read()))
               for k, f in (("out", p.stdout), ("err", p.stderr))]
    for r in readers:
        r.start()
    killer = threading.Timer(timeout, lambda: os.killpg(p.pid, signal.SIGKILL))  # both
    killer.start()
    try:
        status = p.wait()
    finally:
        killer.cancel()
    for r in readers:
        r.join()
    with os.fdopen(peak_r, "rb") as f:
        peak_kb = f.read()
    return status, got["out"].decode(), got["err"].decode(), int(peak_kb or 0) * 1024


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
