"""Host signals reach the guest (cpu/host_signals.py), with Linux as the oracle.

Each scenario runs a program natively, in a session of its own, the signals sent to its process
group (``os.killpg``: what a terminal does to its foreground job), and under ``ecs-kernel run``
as a command, the signals sent to the ecs-kernel process only (``os.kill``); stdout and the exit
status must be the same. Scenarios wait for the program's "ready" lines, never for a fixed time,
and all of them run at once (each ecs-kernel process takes a second or two to start).
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import pytest

from ecs_kernel.cli_run import run
from ecs_kernel.cpu.host_signals import DOUBLE_SIGINT_S, HostSignalForwarder
from ecs_kernel.jit.fastpath.layout import C_HOST_SIGNAL

RUN = [sys.executable, "-m", "ecs_kernel.cli", "run", "--"]
TIMEOUT = 120  # seconds for any one wait: generous, for a loaded machine
# A host signal reaches guest code that is running (not blocked) at its next system call. Sent
# as "ready" is read, SIGINT reaches Python at the clock_gettime that time.sleep makes before its
# clock_nanosleep, after the interpreter's last look at its signal flag: the sleep runs out, then
# KeyboardInterrupt is raised. Natively the window is nanoseconds wide; so the sleep is short.
PYTHON_GUEST = """\
import sys, time
try:
    print("ready", flush=True)
    time.sleep(5)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    sys.exit(4)
"""


@dataclass
class Outcome:
    status: int
    stdout: bytes
    stderr: bytes
    error: str = ""  # what went wrong driving it (a timeout), if anything


# Runs the command with default dispositions and no core files, whatever the test runner had (a
# shell's background job ignores SIGINT, and exec keeps what is ignored).
PLAIN = [sys.executable, "-c", """\
import os, resource, signal, sys
for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM):
    signal.signal(sig, signal.SIG_DFL)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
os.execv(sys.argv[1], sys.argv[1:])
"""]


class Drive:
    """One run of ``argv``, natively or under ecs-kernel, and the signals a scenario sends it."""

    def __init__(self, argv, emulated: bool):
        self.emulated = emulated
        cmd = PLAIN + (RUN if emulated else []) + [os.fspath(a) for a in argv]
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, start_new_session=True)
        self.out = self.err = b""

    def send(self, sig: int) -> None:
        if self.emulated:
            os.kill(self.p.pid, sig)  # to ecs-kernel alone: it forwards to the guest's job
        else:
            os.killpg(self.p.pid, sig)

    def wait_for(self, text: bytes, timeout: float = TIMEOUT, *, stderr: bool = False) -> bool:
        """Read the output until ``text`` is in stdout (or stderr); False after ``timeout``."""
        end = time.monotonic() + timeout
        streams = {self.p.stdout.fileno(): "out", self.p.stderr.fileno(): "err"}
        while text not in (self.err if stderr else self.out):
            left = end - time.monotonic()
            if left <= 0 or not streams:
                return False
            ready, _, _ = select.select(list(streams), [], [], left)
            for fd in ready:
                data = os.read(fd, 4096)
                if data:
                    setattr(self, streams[fd], getattr(self, streams[fd]) + data)
                else:
                    del streams[fd]
        return True

    def expect(self, text: bytes) -> None:
        if not self.wait_for(text):
            raise AssertionError(f"no {text!r} in {TIMEOUT} s")

    def send_until(self, sig: int, text: bytes) -> None:
        """Send ``sig`` until ``text`` appears (a signal that came before the call blocked ran a
        quiet handler and the call waits for the next one)."""
        for _ in range(int(TIMEOUT / 0.5)):
            self.send(sig)
            if self.wait_for(text, 0.5):
                return
        raise AssertionError(f"no {text!r} after {sig} sent for {TIMEOUT} s")

    def finish(self, error: str = "") -> Outcome:
        try:
            out, err = self.p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, err = self.p.communicate()
            error = error or "did not end"
        status = self.p.returncode
        return Outcome(128 - status if status < 0 else status, self.out + out, self.err + err,
                       error)


# -- scenarios: (argv, what to do) ----------------------------------------------------------------

def _once(sig, ready=b"ready\n"):
    def go(d):
        d.expect(ready)
        d.send(sig)
    return go


def _calls(d):
    for call, nxt in ((b"nanosleep", b"ready read"), (b"read", b"ready wait4"),
                      (b"wait4", b"ready futex")):
        d.expect(b"ready " + call + b"\n")
        d.send_until(signal.SIGUSR1, nxt)
    d.send(signal.SIGWINCH)  # ignored by default: the futex wait goes on
    d.send_until(signal.SIGUSR1, b"ready sigsuspend\n")
    d.send(signal.SIGUSR1)  # SIGUSR1 is blocked until sigsuspend: it is pending or taken there


def _ignore(d):
    d.expect(b"ready\n")
    d.send(signal.SIGINT)  # ignored: the program goes on
    d.send(signal.SIGUSR1)
    d.expect(b"sigsuspend -4\nready\n")
    if not d.emulated:
        d.send(signal.SIGTERM)
        return
    # A second SIGINT within DOUBLE_SIGINT_S stops ecs-kernel (the guest dies of SIGINT). Sent
    # apart (two sent at once may arrive as one) until ecs-kernel says so, and not once more.
    for _ in range(int(TIMEOUT / (DOUBLE_SIGINT_S / 2))):
        d.send(signal.SIGINT)
        if d.wait_for(b"ecs-kernel: interrupted", DOUBLE_SIGINT_S / 2, stderr=True):
            return
    raise AssertionError("SIGINTs did not stop ecs-kernel")


SCENARIOS = {
    "handler": (["pause", "INT"], _once(signal.SIGINT)),
    "no_handler": (["pause", "none"], _once(signal.SIGINT)),
    "sighup_default": (["pause", "none"], _once(signal.SIGHUP)),
    "sigquit_default_while_spinning": (["spin"], _once(signal.SIGQUIT)),
    "blocking_calls": (["calls"], _calls),
    "ignored_sigint": (["ignore"], _ignore),
    "process_group": (["fork"], _once(signal.SIGINT)),
    "python": (None, _once(signal.SIGINT)),
}


def _play(argv, script, emulated: bool) -> Outcome:
    d = Drive(argv, emulated)
    try:
        script(d)
    except Exception as e:  # noqa: BLE001 - reported by the test that reads the outcome
        d.p.kill()
        return d.finish(f"{type(e).__name__}: {e}")
    return d.finish()


@pytest.fixture(scope="module")
def outcomes(guest_build):
    """Every scenario natively and under ecs-kernel, all at once: name -> (native, emulated)."""
    exe = guest_build("hostsig")
    results: dict[tuple[str, bool], Outcome] = {}

    def play(name, emulated):
        args, script = SCENARIOS[name]
        argv = ["/usr/bin/python3", "-c", PYTHON_GUEST] if args is None else [exe, *args]
        results[name, emulated] = _play(argv, script, emulated)

    threads = [threading.Thread(target=play, args=(name, emu))
               for name in SCENARIOS for emu in (True, False)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {name: (results[name, False], results[name, True]) for name in SCENARIOS}


def _same(outcomes, name) -> Outcome:
    native, emulated = outcomes[name]
    assert not native.error, (native.error, native)
    assert not emulated.error, (emulated.error, emulated)
    assert (emulated.stdout, emulated.status) == (native.stdout, native.status), emulated.stderr
    return native


def test_a_handler_runs_and_the_program_goes_on(outcomes):
    native = _same(outcomes, "handler")
    assert native.stdout == b"ready\nhandler 2\ngot 2\n" and native.status == 3


def test_without_a_handler_sigint_kills_with_status_130(outcomes):
    assert _same(outcomes, "no_handler").status == 130


def test_sighup_default_kills(outcomes):
    assert _same(outcomes, "sighup_default").status == 128 + signal.SIGHUP


def test_a_fatal_signal_stops_a_compute_loop(outcomes):
    # no syscall to stop at: the engine is stopped at once, as the group dies anyway
    assert _same(outcomes, "sigquit_default_while_spinning").status == 128 + signal.SIGQUIT


def test_blocked_syscalls_are_interrupted_and_sigwinch_is_ignored(outcomes):
    native = _same(outcomes, "blocking_calls")
    assert native.stdout == (b"ready nanosleep\nnanosleep -4\nready read\nread -4\n"
                             b"ready wait4\nwait4 -4\nchild killed by 9\nready futex\nfutex -4\n"
                             b"ready sigsuspend\nsigsuspend -4\n")  # -EINTR each
    assert native.status == 0


def test_every_process_of_the_foreground_group_gets_it(outcomes):
    native = _same(outcomes, "process_group")
    assert native.stdout == b"ready\nsigsuspend -4\nparent got 2\nchild exit 12\n"


def test_a_loop_of_compiled_syscalls_is_stopped_for_the_signal(guest_build):
    """The compiled hook answers getppid() without Python: a host signal sends every call to
    Python, which stops the engine so the run loop sends it. In this process, so that the
    signal comes (through the helper thread's own calls) only once compiled calls are running."""
    exe = guest_build("hostsig")
    r, w = os.pipe()
    machines = []
    out = b""

    def watch(m):
        if not machines:
            machines.append(m)
        return False

    def post():
        nonlocal out
        while b"ready\n" not in out:
            out += os.read(r, 4096)
        fp = machines[0].platform.fastpath
        seen = fp.fast_calls
        end = time.monotonic() + TIMEOUT
        while fp.fast_calls < seen + 1000 and time.monotonic() < end:
            time.sleep(0.001)
        assert fp.fast_calls >= seen + 1000, "the loop is not in compiled calls"
        helper = HostSignalForwarder(machines[0])  # what its thread does when SIGINT comes
        helper.arrived(signal.SIGINT)
        helper.poke()

    t = threading.Thread(target=post, daemon=True)
    t.start()
    with open(os.devnull, "rb") as null:
        status = run(os.fspath(exe), [os.fspath(exe), "fastpath"], [], strict=True,
                     stdio=(null.fileno(), w, 2), stop_at=(watch, None), timeout=TIMEOUT)
    t.join(TIMEOUT)
    os.close(w)
    while chunk := os.read(r, 4096):
        out += chunk
    os.close(r)
    assert (out, status) == (b"ready\ngot 2\n", 6)
    assert machines[0].platform.fastpath.ctl[C_HOST_SIGNAL] == 0  # compiled calls again


def test_a_python_guest_gets_keyboardinterrupt(outcomes):
    native = _same(outcomes, "python")
    assert native.stdout == b"ready\nKeyboardInterrupt\n" and native.status == 4


def test_a_second_sigint_within_a_second_stops_ecs_kernel(outcomes):
    native, emulated = outcomes["ignored_sigint"]
    assert not native.error and not emulated.error, (native, emulated)
    # one SIGINT is ignored as natively; the pair ends the run
    assert emulated.stdout == native.stdout == b"ready\nhandler 10\nsigsuspend -4\nready\n"
    assert native.status == 128 + signal.SIGTERM
    assert emulated.status == 130
    assert emulated.stderr.decode().splitlines()[-1:] == ["ecs-kernel: interrupted"]
