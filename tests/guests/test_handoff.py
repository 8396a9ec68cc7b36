"""The futex hand-off taken inside the syscall hook (Machine.hand_off): when a thread's wait
blocks and the run loop's next turn would be another thread of the same engine, the turn is taken
there without stopping the engine. Programs run natively, with hand-offs, and without them
(every turn through the run loop) must agree: registers (integer, x87/SSE) live across the
waits, and a signal with a handler interrupting a wait meanwhile."""
import pytest

from ecs_kernel.cpu import task_run
from tests.guests.harness import run_guest, run_native


def _run(p, args, monkeypatch, hand_off: bool, compiled: bool = True):
    machines = []
    with monkeypatch.context() as mp:
        if not hand_off:
            mp.setattr(task_run.Machine, "hand_off", lambda self, row, rip: False)
            mp.setattr(task_run.Machine, "hand_off_enabled", False)  # the compiled ones too
        mp.setattr(task_run.Machine, "futex_compiled", compiled)
        guest = run_guest([p, *args], report=machines.append)
    return guest, machines[0]


def test_threads_handing_a_token_round_a_ring_keep_their_registers(guest_build, monkeypatch):
    p = guest_build("handoff")
    native = run_native([p, "2000"])
    with_, m = _run(p, ["2000"], monkeypatch, True)
    python, mp = _run(p, ["2000"], monkeypatch, True, compiled=False)  # Machine.hand_off's
    without, m0 = _run(p, ["2000"], monkeypatch, False)
    assert with_.stdout == python.stdout == without.stdout == native.stdout
    assert with_.status == python.status == without.status == native.status == 0, with_.stderr
    assert m.hand_offs > 1000 and mp.hand_offs > 1000 and m0.hand_offs == 0
    assert m.platform.fastpath.fx_counts[2] > 1000 and mp.platform.fastpath.fx_counts[2] == 0
    # a hand-off is a context switch like any other (/proc/stat's ctxt)
    assert m.context_switches >= m.hand_offs


@pytest.mark.parametrize("idle", ["0", "12"])
def test_a_futex_ping_pong_switches_in_the_hook(guest_build, monkeypatch, idle):
    """Two threads' ping-pong (and 12 more threads blocked, past FEW_TASKS: the column checks):
    nearly every turn is a hand-off, and the run loop takes only the few others."""
    p = guest_build("pingpong")
    guest, m = _run(p, ["3000", idle], monkeypatch, True)
    assert guest.status == run_native([p, "300", idle]).status == 0, guest.stderr
    assert m.hand_offs > 5000
