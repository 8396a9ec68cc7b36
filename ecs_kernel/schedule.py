"""Phases and systems, run in a documented order. The order IS the lock order.

A system is a plain function ``fn(world, commands)`` declared with :func:`system`, naming the phase
it runs in and the components it reads and writes. Within a tick, phases run in this order, and
systems within a phase in registration order::

    INTERRUPT    tasks with a fatal signal pending leave what they were doing (-> runExit)
    SIGNALS      signal delivery, group stop and continue (signals issue)
    TIMERS       interval timers, POSIX timers, CPU-clock limits (timers issue)
    RUN          synthetic programs and guests run their application step (runApp)
    EXIT         runExit -> runExitMain -> runExitNotify: reparent, zombie, notify the parent
    WAIT         blocked waiters whose thread group saw a child event retry their wait

Each phase ends at a sync point: the structural changes its systems queued (rows freed) are
applied before the next phase starts.

gVisor writes its lock order as a tree in the package comment; ours is this list: a system may
read what an earlier phase wrote in the same tick, never the reverse.

With ``ECS_KERNEL_SANITIZE=1`` (or ``Settings.sanitize``), :func:`check_sanity` runs after every
phase: it fails loudly if a system changed a component it did not declare in ``writes``, or if any
component's invariants (its module's ``check``) broke.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable

try:  # hashlib's own blake2b without importing hashlib, which loads OpenSSL (~3 ms of start-up)
    from _blake2 import blake2b
except ImportError:  # an interpreter without CPython's builtin module
    from hashlib import blake2b

from . import world as world_module


class Phase(enum.IntEnum):
    INTERRUPT = 10
    SIGNALS = 20
    TIMERS = 30
    RUN = 40
    EXIT = 50
    WAIT = 60


@dataclass(frozen=True)
class System:
    fn: Callable
    phase: Phase
    reads: tuple[str, ...]
    writes: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.fn.__qualname__

    def __call__(self, world, commands):
        return self.fn(world, commands)



def system(*, phase: Phase, reads: tuple[str, ...] = (), writes: tuple[str, ...] = ()):
    """Declare a system: ``@system(phase=Phase.EXIT, reads=("TaskTree",), writes=("ExitState",))``."""

    def wrap(fn):
        s = System(fn, Phase(phase), tuple(reads), tuple(writes))
        world_module.SYSTEMS[world_module.system_name(s)] = s  # a checkpoint names it so
        return s

    return wrap


class SanityError(AssertionError):
    """A system broke its declaration or a component invariant. Always a kernel bug."""


class Schedule:
    def __init__(self, systems: list[System] | None = None):
        self.systems: list[System] = []
        for s in systems or []:
            self.add(s)

    def add(self, s: System) -> None:
        if not isinstance(s, System):
            raise TypeError(f"{s!r} is not declared with @system")
        self.systems.append(s)
        self.systems.sort(key=lambda x: x.phase)  # stable: keeps registration order in a phase

    def phases(self):
        out: dict[Phase, list[System]] = {}
        for s in self.systems:
            out.setdefault(s.phase, []).append(s)
        return sorted(out.items())

    def run(self, world) -> None:
        sanitize = world.settings.sanitize
        for phase, systems in self.phases():
            for s in systems:
                before = fingerprints(world) if sanitize else None
                s(world, world.commands)
                if sanitize:
                    _check_writes(world, s, before)
            world.flush()  # the phase's sync point
            if sanitize:
                check_sanity(world)

    def describe(self) -> str:
        lines = []
        for phase, systems in self.phases():
            lines.append(phase.name)
            for s in systems:
                lines.append(f"    {s.name}  reads={list(s.reads)} writes={list(s.writes)}")
        return "\n".join(lines)


def fingerprints(world) -> dict[str, str]:
    """A digest of every component's columns (live prefix). Debug only: it reads everything."""
    out = {}
    for name, comp in world.components.items():
        table = world.tables[comp.kind]
        h = blake2b(digest_size=16)
        for col in comp.columns:
            h.update(getattr(table, col)[: table.n].tobytes())
        out[name] = h.hexdigest()
    return out


def _check_writes(world, s: System, before: dict[str, str]) -> None:
    after = fingerprints(world)
    bad = [name for name, digest in after.items()
           if before.get(name) is not None and digest != before[name] and name not in s.writes]
    if bad:
        raise SanityError(f"system {s.name} wrote {bad} but declares writes={list(s.writes)}")


def check_sanity(world) -> None:
    """Run every component's invariant check. Raises :class:`SanityError` on the first violation."""
    for comp in world.components.values():
        if comp.check is not None:
            try:
                comp.check(world)
            except SanityError:
                raise
            except AssertionError as e:
                raise SanityError(f"{comp.name}: {e}") from e


world_module.SCHEDULE_TYPE = Schedule  # what a restored World's schedule is built with
