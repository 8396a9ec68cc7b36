"""Quanta: programs that make progress only if a loop without syscalls is preempted (threads and
processes spinning on each other, SIGALRM ending a loop), run natively and under ecs-kernel.

The normal scheduler's quanta are counted in translated blocks by a compiled block hook
(jit/blockquantum) once numba is loaded, and by Unicorn's count= before that; deterministic runs
and the explorer always count instructions (tests/guests/test_deterministic.py, test_explore.py).
"""
import pytest

from ecs_kernel.cpu.platform import Platform
from tests.guests.harness import run_guest, run_native


@pytest.mark.parametrize("count_first", [0, 3])
def test_spinning_tasks_progress_under_block_quanta(guest_build, monkeypatch, count_first):
    """``count_first``: count= quanta before the block hook takes over (0: blocks from the
    first quantum). The hook is installed for bounded runs and removed when the engine runs
    alone again (phase 2 of quanta.c), and the output is Linux's."""
    p = guest_build("quanta")
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
