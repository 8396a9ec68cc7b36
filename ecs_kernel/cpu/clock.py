"""Where kernel time comes from while guests run.

The World keeps kernel time as data (``world.now_ns``, the monotonic clock, and the realtime
offset in cpu_clocks); deadlines of blocked tasks are on that clock. A clock source moves it:
:class:`HostClock` follows the host (kernel CLOCK_MONOTONIC is the host's, so absolute deadlines a
guest computes from clock_gettime mean the same thing on both sides), and it is how the run loop
sleeps when no task can run. A virtual clock for deterministic runs implements the same methods.
"""
from __future__ import annotations

import select
import time

from ..jit.fastpath import libc_clock_gettime

WAIT_SLICE_NS = 200_000_000  # the longest host wait before the run loop looks at host signals


class HostClock:
    """Kernel time is the host's: monotonic, realtime, and the CPU time the emulator uses."""

    def __init__(self):
        self._cpu0 = time.process_time_ns()

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def realtime_ns(self) -> int:
        return time.time_ns()

    def cpu_time_ns(self) -> int:
        """CPU time the emulator used since it started (CLOCK_PROCESS_CPUTIME_ID's base)."""
        return time.process_time_ns() - self._cpu0

    @property
    def cpu0_ns(self) -> int:
        return self._cpu0

    def thread_cpu_ns(self) -> int:
        """CPU time of the thread running guests: what is charged to the running task."""
        return time.thread_time_ns()

    def c_clock_gettime(self) -> int:
        """Address of a C ``clock_gettime`` giving these clocks (the compiled syscall hook reads
        time without Python), or 0 when there is none (clock syscalls then take Python)."""
        return libc_clock_gettime()

    def idle(self, deadline_ns: int | None, rfds=(), wfds=()) -> None:
        """No task can run: wait until ``deadline_ns`` (monotonic), a host fd is ready, or at most
        WAIT_SLICE_NS (so host signals are noticed)."""
        timeout = WAIT_SLICE_NS
        if deadline_ns is not None:
            timeout = min(timeout, max(0, deadline_ns - self.monotonic_ns()))
        if rfds or wfds:
            try:
                select.select(list(rfds), list(wfds), [], timeout / 1e9)
            except (OSError, ValueError):
                pass  # a closed fd: the retried call reports it
        elif timeout:
            time.sleep(timeout / 1e9)


__all__ = ["HostClock", "WAIT_SLICE_NS"]
