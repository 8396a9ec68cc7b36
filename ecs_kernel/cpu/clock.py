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

from ..fs import host_view
from ..jit.fastpath import libc_clock_gettime

WAIT_SLICE_NS = 200_000_000  # the longest host wait before the run loop looks at host signals
NS_PER_INSN = 1  # virtual time a retired guest instruction takes (a 1 GHz, one-IPC CPU)


class HostClock:
    """Kernel time is the host's: monotonic, realtime, and the CPU time the emulator uses.

    A restored run (cpu/checkpoint.py) goes on from the kernel time it was saved at: its
    monotonic clock is the host's plus ``offset_ns``, and its process CPU time starts at
    ``cpu_ns``. With an offset the compiled syscall hook reads no clock (clock_gettime takes
    the Python path), as the host's clock_gettime would answer without it."""

    def __init__(self, offset_ns: int = 0, cpu_ns: int = 0):
        self.offset_ns = int(offset_ns)
        self._cpu0 = time.process_time_ns() - int(cpu_ns)

    @classmethod
    def resuming(cls, monotonic_ns: int, cpu_ns: int) -> "HostClock":
        """A clock whose monotonic time is ``monotonic_ns`` now and moves on with the host's."""
        return cls(monotonic_ns - time.monotonic_ns(), cpu_ns)

    def monotonic_ns(self) -> int:
        return time.monotonic_ns() + self.offset_ns

    def host_deadline(self, deadline_ns: int) -> int:
        """A kernel-time deadline on the host's CLOCK_MONOTONIC (what compiled code compares),
        kept an int64 (a deadline at the end of time stays there)."""
        return max(0, min(deadline_ns - self.offset_ns, (1 << 63) - 1))

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
        return libc_clock_gettime() if self.offset_ns == 0 else 0

    def turn(self) -> None:
        """A turn of the run loop (the host's clocks move by themselves)."""

    def retired(self, insns: int) -> None:
        """``insns`` guest instructions ran (the host's clocks moved by themselves)."""

    def idle(self, deadline_ns: int | None, rfds=(), wfds=(), wake=()) -> None:
        """No task can run: wait until ``deadline_ns`` (monotonic), a host fd is ready (``wake``:
        fds readable when a host signal came, cpu/host_signals.py), or at most WAIT_SLICE_NS."""
        timeout = WAIT_SLICE_NS
        if deadline_ns is not None:  # both on kernel time
            timeout = min(timeout, max(0, deadline_ns - self.monotonic_ns()))
        rfds = [*rfds, *wake]
        if rfds or wfds:
            try:
                select.select(rfds, list(wfds), [], timeout / 1e9)
            except (OSError, ValueError):
                pass  # a closed fd: the retried call reports it
        elif timeout:
            time.sleep(timeout / 1e9)


class VirtualClock:
    """Kernel time that is the run's own, not the host's: it starts at ``start_ns`` (realtime at
    ``realtime0_ns``), moves ``step_ns`` per turn of the run loop (a running task is charged that
    much CPU time), and jumps to the next deadline when every task waits: a guest that sleeps ten
    seconds sleeps ten virtual seconds and no host time. Host fds a blocked task waits on are
    still waited for on the host (outside input). The compiled syscall hook reads no clock then:
    clock syscalls take the Python path."""

    def __init__(self, start_ns: int = 1_000_000_000, realtime0_ns: int = 1_700_000_000 * 10**9,
                 step_ns: int = 1_000):
        self.now_ns = int(start_ns)
        self.realtime0_ns = int(realtime0_ns)
        self.step_ns = int(step_ns)
        self.cpu0_ns = 0
        self._cpu = 0

    def monotonic_ns(self) -> int:
        return self.now_ns

    def realtime_ns(self) -> int:
        return self.realtime0_ns + self.now_ns

    def cpu_time_ns(self) -> int:
        return self._cpu

    def thread_cpu_ns(self) -> int:
        return self._cpu

    def c_clock_gettime(self) -> int:
        return 0

    def host_deadline(self, deadline_ns: int) -> int:
        """None for compiled code: virtual deadlines are met at quantum ends and on the Python
        path (comparing them with the host's clock would stop it at host-timed moments)."""
        return -1

    def turn(self) -> None:
        """A turn of the run loop: time and the running task's CPU time move by ``step_ns``."""
        self.now_ns += self.step_ns
        self._cpu += self.step_ns

    def retired(self, insns: int) -> None:
        """A quantum of ``insns`` guest instructions ran: time and CPU time move with them, so a
        loop without syscalls still reaches its timers."""
        self.now_ns += insns * NS_PER_INSN
        self._cpu += insns * NS_PER_INSN

    def tsc(self) -> int:
        """What rdtsc reads: the virtual time in ns (a 1 GHz invariant TSC), strictly rising."""
        self._tsc = max(self.now_ns, getattr(self, "_tsc", 0) + 1)
        return self._tsc

    def idle(self, deadline_ns: int | None, rfds=(), wfds=(), wake=()) -> None:
        """Wait on the host only for outside input: host fds, or with nothing else to wait for,
        ``wake`` (a host signal, cpu/host_signals.py); then time jumps to ``deadline_ns``."""
        if rfds or wfds or (wake and deadline_ns is None):
            timeout = None if deadline_ns is None else max(0, deadline_ns - self.now_ns) / 1e9
            # Whether input came before the deadline is outside input too: a recorded run keeps
            # the answer (fs/host_view.py), and its replay takes it from there.
            if host_view.current().wait_input(rfds, wfds, wake, timeout):
                return
        if deadline_ns is not None:
            self.now_ns = max(self.now_ns, deadline_ns)


__all__ = ["HostClock", "VirtualClock", "WAIT_SLICE_NS"]
