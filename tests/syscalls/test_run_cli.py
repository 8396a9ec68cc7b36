"""``ecs-kernel run`` as a command: the contract in DESIGN.md, through a real subprocess."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.tools import installed

RUN = [sys.executable, "-m", "ecs_kernel.cli", "run"]


def run(*args, env=None, input=b""):
    return subprocess.run([*RUN, *args], capture_output=True, input=input, timeout=120,
                          env={**os.environ, **(env or {})})


def test_ls_root_and_python(tmp_path):
    r = run("--", "/bin/ls", "-l", "/")
    assert r.returncode == 0 and b" usr" in r.stdout, r.stderr
    r = run("--", "/usr/bin/python3", "-c", "print(6*7)")
    assert r.returncode == 0 and r.stdout == b"42\n", r.stderr


def test_environment_is_exactly_the_env_pairs():
    r = run("--env", "A=1", "--env", "B=two words", "--", "/usr/bin/env",
            env={"HOST_ONLY": "x"})
    assert r.stdout == b"A=1\nB=two words\n"
    r = run("--inherit-env", "--", "/usr/bin/env", env={"HOST_ONLY": "x"})
    assert b"HOST_ONLY=x\n" in r.stdout


def test_the_one_blas_thread_of_the_command_is_not_the_guests():
    """cli.py imports numpy with OPENBLAS_NUM_THREADS=1 (start-up): an --inherit-env guest still
    gets the host's environment, without that variable or with the host's value."""
    host = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    r = subprocess.run([*RUN, "--inherit-env", "--", "/usr/bin/env"], capture_output=True,
                       timeout=120, env=host)
    assert r.returncode == 0 and b"PATH=" in r.stdout and b"OPENBLAS" not in r.stdout, r.stderr
    r = run("--inherit-env", "--", "/usr/bin/env", env={"OPENBLAS_NUM_THREADS": "7"})
    assert b"OPENBLAS_NUM_THREADS=7\n" in r.stdout


def test_exit_status_and_signal_death():
    assert run("--", "/bin/sh", "-c", "exit 3").returncode == 3
    assert run("--", "/bin/false").returncode == 1
    r = run("--", "/usr/bin/python3", "-c", "import os; os.kill(os.getpid(), 15)")
    assert r.returncode == 128 + 15


def test_missing_and_unrunnable_programs():
    r = run("--", "/no/such/program")
    assert r.returncode == 127 and r.stderr.count(b"\n") == 1 and b"Traceback" not in r.stderr
    r = run("--", "/etc")
    assert r.returncode == 126 and r.stderr.count(b"\n") == 1
    r = run("--", "/etc/passwd")
    assert r.returncode == 126 and r.stderr.count(b"\n") == 1


def test_cwd():
    r = run("--cwd", "/usr", "--", "/bin/pwd")
    assert r.stdout == b"/usr\n"
    r = run("--cwd", "/nonexistent", "--", "/bin/true")
    assert r.returncode == 126 and r.stderr.count(b"\n") == 1


def test_root_directory(tmp_path):
    root = tmp_path / "root"  # the host's view; inside, the guest sees it as /
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc" / "msg").write_text("inside the root\n")
    src = "/usr/bin/busybox" if os.path.exists("/usr/bin/busybox") else "/bin/busybox"
    if not os.path.exists(src):
        pytest.skip("busybox-static is not installed (a static program to copy into the root)")
    import shutil
    shutil.copy(src, root / "bin" / "busybox")
    r = run("--root", str(root), "--", "/bin/busybox", "cat", "/etc/msg")
    assert r.stdout == b"inside the root\n", r.stderr
    r = run("--root", str(root), "--", "/bin/busybox", "cat", "/../../../etc/passwd")
    assert r.returncode == 1 and r.stdout == b""


def test_strace_lines_go_to_stderr():
    r = run("--strace", "--", "/bin/echo", "hi")
    assert r.stdout == b"hi\n"
    err = r.stderr.decode()
    assert re.search(r'^write\(1, "hi\\n", 3\) += 3$', err, re.M)  # (aligned, as strace does)
    assert re.search(r"^exit_group\(0\) += \?$", err, re.M)
    assert "+++ exited with 0 +++" in err


def test_stdin_is_the_hosts():
    r = run("--", "/bin/cat", input=b"piped in\n")
    assert r.stdout == b"piped in\n"


def test_nothing_on_the_host_changes():
    probe = "/etc/ecs-kernel-run-probe"
    r = run("--", "/usr/bin/python3", "-c",
            f"open({probe!r}, 'w').write('x'); import os; print(os.path.exists({probe!r}))")
    assert r.stdout == b"True\n", r.stderr
    assert not os.path.exists(probe)


def test_sigpipe_when_the_host_reader_goes_away():
    # `yes | head -1`: yes dies of SIGPIPE (141), like natively.
    p = subprocess.Popen([*RUN, "--", "/usr/bin/yes"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    assert p.wait(timeout=120) == 128 + 13


def test_read_blocks_until_the_host_writes():
    # The task blocks (as data) on an empty host pipe; the run loop waits and restarts the read.
    p = subprocess.Popen([*RUN, "--", "/bin/cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    import time
    time.sleep(3.0)
    out, err = p.communicate(b"late input\n", timeout=120)
    assert out == b"late input\n" and p.returncode == 0, err


@pytest.mark.parametrize("sig", [2, 15])
def test_host_signal_kills_a_spinning_guest(tmp_path, sig):
    # A guest in a loop that makes no syscalls still dies of SIGINT/SIGTERM sent to ecs-kernel.
    import time
    d = tmp_path
    # it says "r" once running, then spins without syscalls
    (d / "spin.s").write_text(".globl _start\n_start:\nmov $1, %eax\nmov $1, %edi\n"
                              "lea msg(%rip), %rsi\nmov $1, %edx\nsyscall\n1: jmp 1b\n"
                              "msg: .ascii \"r\"\n")
    subprocess.run(["gcc", "-nostdlib", "-static", "-o", str(d / "spin"), str(d / "spin.s")],
                   check=True)
    import shutil
    exe = "/var/tmp/ecs-spin-%d" % os.getpid()  # outside /tmp: the guest's /tmp is its own
    shutil.copy(d / "spin", exe)
    try:
        p = subprocess.Popen([*RUN, "--", exe], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert p.stdout.read(1) == b"r"  # the guest runs (a fixed sleep lost to a loaded machine)
        time.sleep(0.5)
        p.send_signal(sig)
        assert p.wait(timeout=60) == 128 + sig
    finally:
        os.unlink(exe)


def test_dev_stdout_and_proc_self_fd_reopen_host_stdio(tmp_path):
    """/dev/stdout, /dev/stderr and /proc/self/fd/N of host stdio open the same host object again
    (Linux's magic links), so `echo x > /dev/stdout` works as in a shell."""
    r = run("--", "/bin/sh", "-c", "echo out > /dev/stdout; echo err > /dev/stderr; "
            "exec cat /proc/self/fd/0", input=b"from stdin\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"out\nfrom stdin\n" and r.stderr == b"err\n"
    r = run("--", "/usr/bin/python3", "-c", "open('/proc/self/fd/1', 'w').write('py\\n')")
    assert r.returncode == 0 and r.stdout == b"py\n", r.stderr


def test_an_internal_error_is_one_line_and_status_70(monkeypatch):
    import io
    from ecs_kernel import cli_run
    from ecs_kernel.cpu.task_run import Machine

    def broken(self):
        raise RuntimeError("planted")
    monkeypatch.setattr(Machine, "run", broken)
    err = io.StringIO()
    assert cli_run.run("/bin/true", [b"/bin/true"], [], stderr=err, stdio=(None, None, None)) == 70
    assert err.getvalue().count("\n") == 1 and "planted" in err.getvalue()
    assert "Traceback" not in err.getvalue()


# -- the command's conventions (issue 17) ----------------------------------------------------------

# this checkout first, whatever the subprocess's working directory
_ENV = {**os.environ,
        "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))}


def ecs(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ecs_kernel.cli", *args], capture_output=True,
                          timeout=120, cwd=cwd, env=_ENV)


def test_version_and_a_bare_command():
    from ecs_kernel import __version__
    r = ecs("--version")
    assert r.returncode == 0 and r.stdout == f"ecs-kernel {__version__}\n".encode()
    r = ecs()
    err = r.stderr.decode()
    assert r.returncode == 2 and err.startswith(f"ecs-kernel {__version__}")
    assert "usage: ecs-kernel COMMAND" in err
    assert all(f"\n  {cmd} " in err for cmd in ("run", "sim", "syscalls", "restore"))


@pytest.mark.parametrize("argv,usage", [
    (["run", "--bogus", "--", "/bin/true"], "usage: ecs-kernel run"),
    (["sim", "--bogus"], "usage: ecs-kernel sim"),
    (["run", "--env", "=x", "--", "/usr/bin/env"], "usage: ecs-kernel run"),
    (["run", "--env", "NOVALUE", "--", "/usr/bin/env"], "usage: ecs-kernel run"),
    (["run", "--cpus", "0", "--", "/bin/true"], "usage: ecs-kernel run"),
    (["run", "--cpus", "65", "--", "/bin/true"], "usage: ecs-kernel run"),
])
def test_bad_options_get_the_commands_own_usage(argv, usage):
    r = ecs(*argv)
    assert r.returncode == 2 and r.stderr.decode().startswith(usage), r.stderr
    assert r.stdout == b""


def test_the_program_is_looked_up_in_the_guests_path():
    # no PATH given: /usr/local/bin:/usr/bin:/bin; argv[0] stays as given
    r = run("--", "sh", "-c", 'echo "$0"; cat /proc/$$/comm')
    assert r.returncode == 0 and r.stdout == b"sh\nsh\n", r.stderr
    r = run("--cwd", "/usr", "--env", "PATH=/nonexistent:bin", "--", "env")  # relative entries
    assert r.returncode == 0 and r.stdout == b"PATH=/nonexistent:bin\n", r.stderr
    r = run("--env", "PATH=/nonexistent", "--", "ls")
    assert r.returncode == 127 and r.stderr == b"ecs-kernel: ls: No such file or directory\n"


def test_path_lookup_skips_what_cannot_be_executed(tmp_path):
    src = installed("busybox", "busybox-static")  # a static program to copy into the root
    root = tmp_path / "root"
    for d in ("a", "b", "c"):
        (root / d).mkdir(parents=True)
    (root / "a" / "hello").write_text("not executable\n")
    (root / "b" / "hello").mkdir()
    shutil.copy(src, root / "c" / "hello")  # busybox runs the applet its name says: none
    r = run("--root", str(root), "--env", "PATH=/a:/b:/c", "--", "hello")
    assert b"applet not found" in r.stderr and r.returncode == 127, r.stderr
    r = run("--root", str(root), "--env", "PATH=/a:/b", "--", "hello")
    assert r.returncode == 126 and r.stderr.count(b"\n") == 1  # found, but not executable


def test_cwd_defaults_to_the_hosts_inside_the_root(tmp_path):
    r = ecs("run", "--", "pwd", cwd="/usr/share")
    assert r.stdout == b"/usr/share\n", r.stderr
    r = ecs("run", "--", "./true", cwd="/usr/bin")
    assert r.returncode == 0, r.stderr
    src = installed("busybox", "busybox-static")
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "in" / "side").mkdir(parents=True)
    shutil.copy(src, root / "bin" / "busybox")
    for cwd, want in ((root / "in" / "side", b"/in/side\n"), (tmp_path, b"/\n")):
        r = ecs("run", "--root", str(root), "--", "/bin/busybox", "pwd", cwd=cwd)
        assert r.stdout == want, (cwd, r.stderr)


def test_cpus_is_what_every_count_says():
    r = run("--cpus", "3", "--", "sh", "-c", "nproc; grep -c ^processor /proc/cpuinfo; "
            "cat /sys/devices/system/cpu/online")
    assert r.stdout == b"3\n3\n0-2\n", r.stderr


def test_ctrl_c_outside_a_guest_run_is_one_line():
    """A SIGINT that reaches ecs-kernel's own Python code (here: a long `lifecycle`; in `run`, a
    third Ctrl-C while the run ends) gives one line and status 130, not a traceback."""
    import signal
    import time
    p = subprocess.Popen([sys.executable, "-m", "ecs_kernel.cli", "lifecycle", "--processes",
                          "100000000"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(4)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and err == b"ecs-kernel: interrupted\n", err
