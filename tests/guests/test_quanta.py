"""Quanta: programs that make progress only if a loop without syscalls is preempted (threads and
processes spinning on each other, SIGALRM ending a loop), run natively and under ecs-kernel.

The normal scheduler's quanta are counted in translated blocks by a compiled block hook
(jit/blockquantum) once numba is loaded, and by Unicorn's count= before that; deterministic runs
and the explorer always count instructions (tests/guests/test_deterministic.py, test_explore.py).
"""
import subprocess
import sys
import time

import pytest

from ecs_kernel.cpu import platform
from ecs_kernel.cpu.platform import Platform
from tests.guests.harness import run_guest, run_native


@pytest.mark.parametrize("count_first", [0, 3])
def test_spinning_tasks_progress_under_block_quanta(guest_build, monkeypatch, count_first):
    """``count_first``: count= quanta before the block hook takes over (0: blocks from the
    first quantum). The hook is installed for bounded runs and removed when the engine runs
    alone again (phase 2 of quanta.c; here at once: BLOCK_HOOK_IDLE_RUNS 0), and the output is
    Linux's."""
    p = guest_build("quanta")
    monkeypatch.setattr(platform, "BLOCK_HOOK_IDLE_RUNS", 0)
    changes = []
    set_hook = Platform._set_block_hook

    def recording(gm, on):
        if on != (gm.block_hook is not None):
            changes.append(on)
        set_hook(gm, on)

    monkeypatch.setattr(Platform, "_set_block_hook", staticmethod(recording))
    machines = []

    def until(m):
        if not machines:
            m.platform.count_quanta_before_blocks = count_first
            machines.append(m)
        return False

    guest = run_guest([p], stop_at=(until, lambda m: None), timeout=60)
    native = run_native([p])
    assert guest.stdout == native.stdout
    assert guest.status == native.status == 0, guest.stderr
    assert machines[0].platform.block_quanta_runs > 0
    assert True in changes and False in changes  # installed, and removed on an engine alone again


def test_a_shell_forking_and_waiting_keeps_its_block_hook(monkeypatch):
    """bash's parent runs bounded while each child is runnable and unbounded after its wait:
    the hook stays installed, disarmed, across that alternation (each install or removal
    flushes all translated code), and goes only after BLOCK_HOOK_IDLE_RUNS unbounded runs."""
    import shutil
    bash = shutil.which("bash-static") or shutil.which("bash")
    changes = []
    set_hook = Platform._set_block_hook

    def recording(gm, on):
        if on != (gm.block_hook is not None):
            changes.append(on)
        set_hook(gm, on)

    monkeypatch.setattr(Platform, "_set_block_hook", staticmethod(recording))
    machines = []

    def until(m):
        if not machines:
            m.platform.count_quanta_before_blocks = 0
            machines.append(m)
        return False

    script = "i=0; while ((i<40)); do (true); ((i++)); done; echo $i"
    guest = run_guest([bash, "-c", script], stop_at=(until, lambda m: None), timeout=120)
    assert guest.stdout == run_native([bash, "-c", script]).stdout == b"40\n"
    assert machines[0].platform.block_quanta_runs >= 40
    assert 0 < len(changes) <= 8, changes  # main: two per subshell


def _feed_after_spinning(argv) -> bytes:
    """Run ``argv`` with a pipe as stdin; once it prints "spinning", write one byte; its stdout.
    The half second lets the spinner leave the write(2) that printed the line (a call's way out
    looks at waiters whose files it readied) and get into its loop."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        first = p.stdout.readline()
        time.sleep(0.5)
        p.stdin.write(b"x")
        p.stdin.close()
        rest = p.stdout.read()
        p.wait(timeout=120)
    finally:
        p.kill()
        p.wait()
    return first + rest


def test_input_on_a_host_pipe_wakes_a_reader_while_another_task_spins(guest_build):
    """The reader's input comes with no syscall of the spinning task, which is alone on the CPU:
    it runs in quanta while a task waits on a host fd, so a turn of the run loop sees the pipe
    ready (before, the reader slept until the spinner gave up after 20 s: "got=0")."""
    p = guest_build("lone_reader")
    native = _feed_after_spinning([str(p)])
    assert native == b"spinning\ngot=1\n"
    guest = _feed_after_spinning([sys.executable, "-m", "ecs_kernel.cli", "run", "--", str(p)])
    assert guest == native
