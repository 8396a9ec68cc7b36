"""``ecs-kernel serve`` and ``ecs-kernel run --server`` (cli_serve.py): a run in a fork of the
server gives what a plain ``ecs-kernel run`` gives (output, exit status, environment, stdin,
signals), the client loads neither numpy nor the kernel, and a server refuses what it must."""
import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from ecs_kernel import cli_serve
from tests.tools import children

PY = sys.executable
CLI = [PY, "-m", "ecs_kernel.cli"]


def start_server(path: str, *options: str) -> subprocess.Popen:
    """``ecs-kernel serve --socket PATH OPTIONS``, once it listens."""
    p = subprocess.Popen([*CLI, "serve", "--socket", path, *options], stderr=subprocess.PIPE,
                         stdout=subprocess.DEVNULL)
    line = b""
    deadline = time.monotonic() + 60
    while b"\n" not in line and time.monotonic() < deadline:
        if select.select([p.stderr], [], [], 1)[0]:
            line += os.read(p.stderr.fileno(), 4096)
    assert b"listening on" in line, line
    return p


def stop_server(p: subprocess.Popen, path: str) -> None:
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    assert p.returncode == 0 and not os.path.exists(path)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("serve") / "s")
    p = start_server(path)
    yield p, path
    stop_server(p, path)


def both(path, *args, input=b"", env=None):
    """(plain run, run --server) of the same command line."""
    e = {**os.environ, "ECS_KERNEL_SOCKET": path, **(env or {})}
    plain = subprocess.run([*CLI, "run", *args], capture_output=True, input=input, env=e,
                           timeout=120)
    served = subprocess.run([*CLI, "run", "--server", *args], capture_output=True, input=input,
                            env=e, timeout=120)
    return plain, served


@pytest.mark.parametrize("args", [
    ("--", "/bin/echo", "hello", "world"),
    ("--", "/bin/sh", "-c", "echo out; echo err >&2; exit 3"),
    ("--", "/bin/sh", "-c", "kill -TERM $$"),
    ("--env", "A=1", "--env", "B=two words", "--", "/usr/bin/env"),
    ("--inherit-env", "--", "/bin/sh", "-c", "echo $SERVE_TEST_VAR; pwd"),
    ("--", "/no/such/program"),
    ("--", "/bin/cat"),
])
def test_a_run_through_the_server_is_a_plain_run(server, args):
    plain, served = both(server[1], *args, input=b"from stdin\n", env={"SERVE_TEST_VAR": "x y"})
    assert (served.returncode, served.stdout, served.stderr) == \
        (plain.returncode, plain.stdout, plain.stderr)


def test_the_client_loads_neither_numpy_nor_the_kernel(server):
    code = ("import sys, os; from ecs_kernel import cli; "
            "rc = cli.main(['run', '--server', '--', '/bin/true']); "
            "heavy = [m for m in ('numpy', 'unicorn', 'ecs_kernel.world', 'ecs_kernel.cpu', "
            "'ecs_kernel.abi', 'argparse') "
            "if m in sys.modules]; print(rc, heavy)")
    r = subprocess.run([PY, "-c", code], capture_output=True, timeout=60,
                       env={**os.environ, "ECS_KERNEL_SOCKET": server[1]})
    assert r.stdout == b"0 []\n", r.stderr


def test_the_guest_args_may_say_server(server):
    plain, served = both(server[1], "--", "/bin/echo", "--server")
    assert served.stdout == plain.stdout == b"--server\n"


def test_signals_reach_the_run_and_a_killed_client_kills_it(server):
    p, path = server
    env = {**os.environ, "ECS_KERNEL_SOCKET": path}
    c = subprocess.Popen([*CLI, "run", "--server", "--", "/bin/sleep", "30"], env=env)
    deadline = time.monotonic() + 30
    while not children(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    c.send_signal(signal.SIGINT)
    assert c.wait(timeout=30) == 130  # sleep died of the forwarded SIGINT
    c = subprocess.Popen([*CLI, "run", "--server", "--", "/bin/sleep", "30"], env=env)
    while not children(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children(p.pid)
    c.kill()
    c.wait(timeout=10)
    while children(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not children(p.pid)  # the server killed and reaped the run of the dead client


def test_a_server_refuses_another_checkouts_client(server):
    req = cli_serve.Request([b"--", b"/bin/true"], [], b"/", 0o22, [], (), stamp=b"/elsewhere")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(server[1])
        s.sendall(req.encode())
        reply = s.makefile("rb").read()
    assert reply.startswith(b"error ") and b"checkout" in reply


def test_a_server_refuses_once_a_source_it_loaded_changed(server):
    from ecs_kernel.cpu import vsyscall
    st = os.stat(vsyscall.__file__)
    env = {**os.environ, "ECS_KERNEL_SOCKET": server[1]}
    try:
        os.utime(vsyscall.__file__, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        r = subprocess.run([*CLI, "run", "--server", "--", "/bin/true"], capture_output=True,
                           timeout=60, env=env)
    finally:
        os.utime(vsyscall.__file__, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert r.returncode == 2 and b"vsyscall.py changed" in r.stderr and b"restart" in r.stderr
    r = subprocess.run([*CLI, "run", "--server", "--", "/bin/true"], capture_output=True,
                       timeout=60, env=env)
    assert r.returncode == 0, r.stderr


def test_usage_errors_come_from_the_run_as_from_a_plain_run(server):
    plain, served = both(server[1], "--cpus", "0", "--", "/bin/true")
    assert served.returncode == plain.returncode == 2
    assert served.stderr == plain.stderr and b"--cpus" in plain.stderr
    # an abbreviation argparse takes: cli.main falls back to argparse, then to the server
    e = {**os.environ, "ECS_KERNEL_SOCKET": server[1]}
    r = subprocess.run([*CLI, "run", "--serv", "--", "/bin/echo", "x"], capture_output=True,
                       env=e, timeout=60)
    assert r.returncode == 0 and r.stdout == b"x\n", r.stderr


def test_the_value_options_the_client_skips_are_runs():
    import argparse
    from ecs_kernel.cli_run import add_run_parser
    sub = argparse.ArgumentParser().add_subparsers()
    add_run_parser(sub)
    run = sub.choices["run"]
    takes_value = {o for a in run._actions if a.option_strings and a.nargs != 0
                   for o in a.option_strings}
    assert takes_value == cli_serve.RUN_VALUE_OPTIONS


@pytest.mark.parametrize("given, at", [
    (["run", "--server", "--", "/bin/true"], 1),
    (["run", "--root", "/", "--env", "A=--server", "--server", "/bin/true"], 5),
    (["run", "-e", "--server", "/bin/true"], None),   # -e's value (argparse: an error)
    (["run", "--", "/bin/echo", "--server"], None),
    (["run", "/bin/echo", "--server"], None),
    (["run", "-tt", "--inherit-env", "--server", "x"], 3),
])
def test_the_client_finds_the_server_option_without_argparse(given, at):
    assert cli_serve.server_option_at(given) == at


def test_a_malformed_request_is_refused(server):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(server[1])
        s.sendall(cli_serve.pack([b"not", b"a", b"request"]))
        reply = s.makefile("rb").read()
    assert reply.startswith(b"error ")


def test_a_silent_client_does_not_hold_up_the_others(tmp_path):
    """A client that connected and says nothing waits alone: the next one is served meanwhile,
    and the silent one is still unanswered (its timeout, 120 s here, has not come)."""
    path = str(tmp_path / "s")
    p = start_server(path, "--request-timeout", "120")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
            silent.connect(path)  # and sends nothing
            served = subprocess.run([*CLI, "run", "--server", "--", "/bin/echo", "next"],
                                    capture_output=True, env={**os.environ,
                                                              "ECS_KERNEL_SOCKET": path},
                                    timeout=100)
            assert served.stdout == b"next\n", served.stderr
            silent.setblocking(False)
            with pytest.raises(BlockingIOError):
                silent.recv(1)  # no answer yet: not refused, not served
    finally:
        stop_server(p, path)


def test_a_silent_client_is_refused_after_the_request_timeout(tmp_path):
    """--request-timeout after it connected (REQUEST_TIMEOUT_S unless told), a client that sent
    nothing gets an error."""
    path = str(tmp_path / "s")
    p = start_server(path, "--request-timeout", "0.5")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
            silent.connect(path)  # and sends nothing
            reply = silent.makefile("rb").read()
        assert reply == b"error no request came within 0.5 s of connecting\n"
    finally:
        stop_server(p, path)


def test_a_bad_request_timeout_is_a_usage_error(tmp_path):
    r = subprocess.run([*CLI, "serve", "--socket", str(tmp_path / "s"), "--request-timeout",
                        "soon"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not a positive number of seconds: 'soon'" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "s").exists()


def test_without_a_server_the_client_fails_in_one_line(tmp_path):
    r = subprocess.run([*CLI, "run", "--server", "--", "/bin/true"], capture_output=True,
                       timeout=60, env={**os.environ, "ECS_KERNEL_SOCKET": str(tmp_path / "none")})
    assert r.returncode == 2 and r.stderr.count(b"\n") == 1 and b"ecs-kernel serve" in r.stderr


def test_a_second_server_on_the_same_socket_is_refused(server):
    r = subprocess.run([*CLI, "serve", "--socket", server[1]], capture_output=True, timeout=60)
    assert r.returncode == 2 and b"already" in r.stderr


def test_requests_round_trip():
    req = cli_serve.Request([b"--", b"/bin/echo", "é".encode()], [b"A=1", b"B=\xff"], None,
                            0o27, [(7, 1024, 4096)], (0, 2), b"stamp")
    back = cli_serve.Request.decode(req.encode()[4:])
    assert (back.args, back.env, back.cwd, back.umask, back.rlimits, back.present, back.stamp) == \
        (["--", "/bin/echo", "é"], [b"A=1", b"B=\xff"], None, 0o27, [(7, 1024, 4096)], (0, 2),
         b"stamp")
    with pytest.raises(ValueError):
        cli_serve.unpack(req.encode()[4:-1])
