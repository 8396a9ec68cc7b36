"""The console as the guests' controlling terminal (systems/tty.py): job control under a terminal.

Each program runs on a fresh pty, natively (leading the pty's session, in its foreground, as a
shell's job would be) and under ``ecs-kernel run`` (the pty is then the host terminal the guest
gets as its console); the two outputs must be the same.
"""
from __future__ import annotations

import fcntl
import os
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_on_pty(argv: list[str], timeout: float = 120, settings: list | None = None
               ) -> tuple[int, str]:
    """Run ``argv`` as the leader of a new session whose controlling terminal is a fresh pty
    (its stdio); returns the exit status and what it wrote, with the pty's \\r\\n as \\n.
    ``settings``: gets the pty's termios as the program left it."""
    master, slave = os.openpty()
    keep = os.dup(slave)

    def take_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
           "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "")}
    env = {k: v for k, v in env.items() if v}
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                         preexec_fn=take_terminal, env=env, cwd="/")
    os.close(slave)
    out = bytearray()
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            p.kill()
            break
        r, _, _ = select.select([master], [], [], min(left, 1.0))
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every holder of the pty's other side has closed it
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    status = p.wait()
    if settings is not None:
        settings.extend(termios.tcgetattr(keep))
    os.close(keep)
    os.close(master)
    return status, out.decode(errors="replace").replace("\r\n", "\n")


def ecs_kernel(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from ecs_kernel.cli import main; sys.exit(main())",
            *args]


@pytest.fixture(scope="module")
def ttyjobs(guest_build):
    return str(guest_build("ttyjobs"))


def test_job_control_on_the_console_is_what_a_terminal_does(ttyjobs):
    native = run_on_pty([ttyjobs])
    assert native[0] == 0, native[1]
    left = []
    emulated = run_on_pty(ecs_kernel("run", ttyjobs), settings=left)
    assert emulated == native
    assert left[3] & termios.ECHO  # the guest turned echo off; ecs-kernel put it back
    # what the program saw, so a change in both cannot pass unnoticed
    out = native[1]
    assert "in front: 1\n" in out
    assert "background tcsetpgrp: stopped by Stopped (tty output)\n" in out
    assert "child (SIGTTIN ignored): read Input/output error\n" in out
    assert "child (SIGTTIN handler): read Interrupted system call, caught" in out
    assert "tcsetpgrp to a group of another session: Operation not permitted\n" in out


def test_without_a_terminal_there_is_no_console(ttyjobs):
    from .harness import run_guest
    # natively in a session of its own: no controlling terminal, whatever pytest runs under
    n = subprocess.run([ttyjobs], stdin=subprocess.DEVNULL, capture_output=True, env={},
                       start_new_session=True, timeout=60)
    g = run_guest([ttyjobs])
    assert (g.status, g.stdout) == (n.returncode, n.stdout)
    assert b"isatty: 0\nin front: 0\n" in g.stdout
    assert b"open /dev/tty: No such device or address\n" in g.stdout
