"""Who runs next, and for how long: the run loop's scheduling decisions, as an object.

The run loop (cpu/task_run.py) asks its scheduler two things, and nothing else decides:

- ``pick(ready, last)``: which runnable task runs next (``ready``: their rows, sorted);
- ``quantum(row, contended, default)``: how many guest instructions it may run before the loop
  takes the CPU back (0: until it makes a syscall that blocks or stops); ``contended`` says
  another task is runnable;

and it says, as ``slice_ns``, how much kernel time a turn may take while another task is
runnable (None: no limit but the quantum). Linux preempts a task whose slice is spent, or when a
task it woke (a sleeper's timer) should run, and acts on it on the way back to user mode; the run
loop does that after a syscall (Machine.after_syscall): a thread that makes syscalls in a loop
(a trylock spinning while the holder sleeps) costs far more than a quantum of instructions, and
without a slice the others would wait for its whole quantum.

:class:`RoundRobin` is the normal one. In a deterministic run (``run --deterministic``)
:class:`Seeded` draws the next task from the seed. :class:`Decisions` takes each decision from a
chooser (the explorer's hypothesis draws, or a replay file's list) and records what it chose, so
a run is a list of small integers: 0 always means "as the default would" (the first ready task in
turn, a whole quantum), which is what shrinking moves toward.
"""
from __future__ import annotations

import random
from typing import Callable

from ..components import pidns

QUANTUM = 1_000_000  # guest instructions per turn while another task or a deadline waits
TIME_SLICE_NS = 4_000_000  # a turn's kernel time while another task is runnable (HZ=250's tick)
PREEMPT_MAX = 4096  # the shortest quanta the explorer tries: 1 to this many instructions
# A thread alone whose rseq area may hold a critical section runs in quanta and is preempted at
# their ends (Machine.lone_preempt); just after it registers, the first one is this short: a
# program that enters a section at once is caught, one that does not (a libc's registration)
# soon runs without quanta again.
RSEQ_PEEK = 10_000


class RoundRobin:
    """The next runnable task after the last one, by row; a quantum only when needed; a turn
    ends at a syscall once its time slice is spent or a timer woke another task."""

    slice_ns: int | None = TIME_SLICE_NS

    def attach(self, machine) -> None:
        """The Machine this scheduler decides for (to name tasks in logs)."""

    def preempted(self, row: int, rip: int) -> None:
        """A quantum it set ended at instruction address ``rip`` of ``row``."""

    def pick(self, ready: list[int], last: int) -> int:
        for r in ready:
            if r > last:
                return r
        return ready[0]

    def quantum(self, row: int, contended: bool, default: int) -> int:
        return default


class Seeded(RoundRobin):
    """Deterministic mode: the next task drawn from a seeded generator. Quanta as normal: a task
    alone with no deadline armed runs until its next syscall (nothing could preempt it: another
    task becomes runnable, and a timer is armed, only in a syscall, which stops the engine), so
    the run does not pay Unicorn's per-instruction count where it needs none."""

    slice_ns = None  # the schedule is a function of the seed: never of the host's clock

    def __init__(self, rng: random.Random):
        self.rng = rng

    def pick(self, ready: list[int], last: int) -> int:
        return self.rng.choice(ready) if len(ready) > 1 else ready[0]


class Decisions(RoundRobin):
    """Each decision from ``choose(n) -> int in [0, n)`` while ``limit`` decisions last, then the
    default (choice 0). ``log`` keeps the decisions that changed something: ``[kind, tid, value,
    rip]`` with kind "pick" (value: index into the ready tasks, round robin's first) or
    "preempt" (value: that many instructions; rip: where the task was stopped)."""

    slice_ns = None  # every decision is the chooser's

    def __init__(self, choose: Callable[[int], int], limit: int = 2000):
        self.choose = choose
        self.limit = limit
        self.choices: list[int] = []
        self.log: list[list] = []  # [kind, tid, value, rip or None]
        self._tid = lambda row: row
        self._open: dict[int, list] = {}  # row -> its preemption entry until the quantum ends

    def attach(self, machine) -> None:
        w = machine.world
        self._tid = lambda row: pidns.tid_in(w, row, int(w.index.root_pidns))

    def preempted(self, row: int, rip: int) -> None:
        entry = self._open.pop(row, None)
        if entry is not None:
            entry[3] = rip

    def _next(self, n: int) -> int:
        if len(self.choices) >= self.limit:
            return 0
        c = int(self.choose(n))
        if not 0 <= c < n:
            raise ValueError(f"a schedule decision {c} outside 0..{n - 1}")
        self.choices.append(c)
        return c

    def pick(self, ready: list[int], last: int) -> int:
        if len(ready) == 1:
            return ready[0]
        # choice 0 is round robin's pick: the first ready row after the last one
        rotated = [r for r in ready if r > last] + [r for r in ready if r <= last]
        c = self._next(len(rotated))
        if c:
            self.log.append(["pick", self._tid(rotated[c]), c, None])
        return rotated[c]

    def quantum(self, row: int, contended: bool, default: int) -> int:
        if not contended:
            return QUANTUM
        c = self._next(PREEMPT_MAX + 1)
        if c:
            entry = ["preempt", self._tid(row), c, None]
            self.log.append(entry)
            self._open[row] = entry
        return c if c else QUANTUM


def replaying(choices: list[int]) -> Decisions:
    """A scheduler that takes the recorded ``choices`` in order (then the defaults)."""
    it = iter(choices)

    def choose(n: int) -> int:
        return next(it, 0)

    return Decisions(choose, limit=len(choices))


__all__ = ["QUANTUM", "TIME_SLICE_NS", "PREEMPT_MAX", "RSEQ_PEEK", "RoundRobin", "Seeded", "Decisions", "replaying"]
