"""Deadlines are kernel time: with a virtual clock (cpu/clock.VirtualClock) a guest's sleeps,
poll timeouts, timed futex waits and alarms take their full kernel time and no host time."""
import time

import pytest

from ecs_kernel.cpu.clock import VirtualClock
from tests.guests.harness import run_guest


@pytest.mark.parametrize("libc", ["gcc", "musl"])
def test_timed_waits_run_on_the_kernel_clock(guest_build, libc):
    p = guest_build("virtualtime", libc)
    t0 = time.monotonic()
    guest = run_guest([p], clock=VirtualClock())
    wall = time.monotonic() - t0
    assert guest.status == 0, guest.stderr
    assert guest.stdout.decode() == ("nanosleep 10 s: 10000 ms\npoll 5 s: 5000 ms\n"
                                     "cond_timedwait 3 s: 3000 ms, timed out 1\n"
                                     "alarm 2 s: 2000 ms\n")
    assert wall < 8  # 20 s of kernel time
