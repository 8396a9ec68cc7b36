"""The futex hand-off in compiled code (jit/fastpath/kernel.py's futex section): FUTEX_WAIT that
blocks with the switch to the next thread, and FUTEX_WAKE with waiters, served in the compiled
syscall hook must leave the kernel exactly as the Python path (systems/futex.py and
Machine.hand_off) leaves it. The same guest runs both ways; at each of its progress lines (a
write(2), which Python serves: the compiled calls before it have been caught up) the whole World
is snapshotted, and the snapshots, the hand-off counts and the output must agree (and the output
with Linux's)."""
import signal
import subprocess
import sys

import numpy as np
import pytest

from ecs_kernel.abi import NR_WRITE
from ecs_kernel.cpu import scheduler, task_run
from ecs_kernel.cpu.clock import HostClock
from ecs_kernel.jit.fastpath import FastPath
from ecs_kernel.jit.fastpath.layout import C_NLOG
from ecs_kernel.testing.compare import world_snapshot
from tests.guests.harness import run_guest, run_native

CLI = [sys.executable, "-c", "import sys; from ecs_kernel.cli import main; sys.exit(main())"]

# Host time and what follows from it: the CPU and faults each task is charged (the emulator
# thread's, between two reads of the host's clocks), the kernel clock's marks.
HOST_TIME = tuple(f"tasks.{c}" for c in (
    "cpu_used_user_ns", "cpu_used_sys_ns", "utime", "stime", "min_flt", "start_ns", "wait_utime",
    "wait_stime", "wait_min_flt", "wait_maxrss")) + tuple(f"thread_groups.{c}" for c in (
        "dead_utime", "dead_stime", "group_utime", "group_stime", "cutime", "cstime",
        "dead_min_flt", "maxrss", "c_min_flt", "cmaxrss"))


def _snapshot(world) -> dict:
    return {k: v for k, v in world_snapshot(world).items() if k not in HOST_TIME}


def _run(p, args, monkeypatch, compiled: bool, plant=None, clock=None):
    snaps = []
    machines = []
    after = task_run.Machine.after_syscall

    def after_syscall(self, task, rip, rax, nr=-1):
        if nr == NR_WRITE:
            snaps.append(_snapshot(self.world))
        return after(self, task, rip, rax, nr)

    with monkeypatch.context() as mp:
        mp.setattr(task_run.Machine, "after_syscall", after_syscall)
        mp.setattr(task_run.Machine, "futex_compiled", compiled)
        # no time slices: preemption by the host's clock would make each run's schedule its own
        # (with none, both runs take the same turns, which the hand-off counts check)
        mp.setattr(scheduler.RoundRobin, "slice_ns", None)
        if plant is not None:
            plant(mp)
        guest = run_guest([p, *args], report=machines.append, clock=clock)
    return guest, machines[0], snaps


def _first_difference(a: list, b: list):
    """(snapshot index, key) of the first entry that differs, or None."""
    if len(a) != len(b):
        return (min(len(a), len(b)), "number of snapshots")
    for i, (x, y) in enumerate(zip(a, b)):
        for key in x:
            u, v = x[key], y.get(key)
            same = (isinstance(v, np.ndarray) and u.shape == v.shape and np.array_equal(u, v)) \
                if isinstance(u, np.ndarray) else u == v
            if not same:
                return (i, key)
    return None


@pytest.fixture(scope="module")
def futexdiff(guest_build):
    return guest_build("futexdiff")


def test_compiled_futex_hand_offs_leave_the_world_as_python_does(futexdiff, monkeypatch):
    native = run_native([futexdiff, "400"])
    fast, mf, sf = _run(futexdiff, ["400"], monkeypatch, True)
    slow, ms, ss = _run(futexdiff, ["400"], monkeypatch, False)
    assert fast.stdout == slow.stdout == native.stdout
    assert fast.status == slow.status == native.status == 0, fast.stderr
    waits, wakes, hand_offs = mf.platform.fastpath.fx_counts
    assert waits > 1000 and wakes > 1000 and hand_offs == waits  # served in compiled code
    assert ms.platform.fastpath.fx_counts == (0, 0, 0)  # ... and here all in Python
    assert mf.hand_offs == ms.hand_offs > 1000  # the same turns, taken in the hook both ways
    assert mf.context_switches == ms.context_switches
    assert len(sf) == 9  # 8 progress lines and the output at exit
    assert _first_difference(sf, ss) is None


def test_a_stale_free_stack_is_caught(futexdiff, monkeypatch):
    """Planted: the compiled calls see the futex waiter table's free stack as empty (a meta
    array not brought up to date), so waits take fresh rows where Python reuses freed ones."""
    load = FastPath.fx_load

    def stale(self):
        load(self)
        self._wmeta[1] = 0

    _, ms, ss = _run(futexdiff, ["400"], monkeypatch, False)
    _, mf, sf = _run(futexdiff, ["400"], monkeypatch, True,
                     plant=lambda mp: mp.setattr(FastPath, "fx_load", stale))
    assert mf.platform.fastpath.fx_counts[0] > 0
    diff = _first_difference(sf, ss)
    assert diff is not None and diff[1].startswith(("futex_waiters", "tasks.futex_waiter")), diff


class Hung(Exception):
    """Every task of the run is blocked and nothing can wake one."""


class HangStops(HostClock):
    """The host's clock, but a run that idles with no timer armed and no input awaited ends
    (Hung) rather than waits out its timeout: what a deterministic run calls a deadlock
    (Machine.idle), here where hand-offs run (a deterministic run makes none)."""

    def idle(self, deadline_ns, rfds=(), wfds=(), wake=()):
        if deadline_ns is None and not rfds and not wfds:
            raise Hung
        super().idle(deadline_ns, rfds, wfds, wake)


def test_a_forgotten_key_log_is_caught(futexdiff, monkeypatch):
    """Planted: catch_up drops the log of the futex queues compiled waits made and freed, so
    the key -> queue dict misses (or keeps) entries: the next snapshot differs, or the run
    goes wrong before it (a Python wake cannot find the queue, a free misses its key, a waiter
    sleeps for good)."""
    catch_up = FastPath.catch_up

    def forgetful(self):
        self.ctl[C_NLOG] = 0
        catch_up(self)

    _, ms, ss = _run(futexdiff, ["400"], monkeypatch, False)
    try:
        _, mf, sf = _run(futexdiff, ["400"], monkeypatch, True, clock=HangStops(),
                         plant=lambda mp: mp.setattr(FastPath, "catch_up", forgetful))
    except KeyError:  # (run_guest is strict: the kernel's internal error ends the run)
        return  # caught: Python's futex code met a queue the dict did not know
    except Hung:
        return  # caught: a wake went to a queue nobody waits on
    diff = _first_difference(sf, ss)
    assert diff is not None and diff[1] in ("futex_keys", "number of snapshots"), diff


def test_a_run_checkpointed_after_compiled_hand_offs_restores(futexdiff, tmp_path):
    """run --checkpoint-on USR1 once 10,000 rounds are done (past the tier-up: the hand-offs
    are compiled by then): the saved World, with the waiter rows compiled calls wrote and the
    mirrors caught up, restores in a new process and prints the rest as Linux does."""
    native = subprocess.run([futexdiff, "40000"], capture_output=True, timeout=300)
    path = tmp_path / "fx.ckpt"
    p = subprocess.Popen([*CLI, "run", "--checkpoint-on", "USR1", "--checkpoint-to", str(path),
                          "--", futexdiff, "40000"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    first = b"".join(p.stdout.readline() for _ in range(200))  # rounds 0 .. 9950
    p.send_signal(signal.SIGUSR1)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0 and path.exists(), err
    rest = subprocess.run([*CLI, "restore", str(path)], capture_output=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    assert rest.returncode == native.returncode == 0, rest.stderr
    assert first + out + rest.stdout == native.stdout
