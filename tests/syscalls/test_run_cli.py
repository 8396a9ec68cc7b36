"""``ecs-kernel run`` as a command: the contract in DESIGN.md, through a real subprocess."""
import os
import re
import subprocess
import sys

import pytest

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
    (d / "spin.s").write_text(".globl _start\n_start:\n1: jmp 1b\n")
    subprocess.run(["gcc", "-nostdlib", "-static", "-o", str(d / "spin"), str(d / "spin.s")],
                   check=True)
    import shutil
    exe = "/var/tmp/ecs-spin-%d" % os.getpid()  # outside /tmp: the guest's /tmp is its own
    shutil.copy(d / "spin", exe)
    try:
        p = subprocess.Popen([*RUN, "--", exe], stderr=subprocess.PIPE)
        time.sleep(3)
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
