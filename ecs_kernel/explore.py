"""Schedule exploration: find an interleaving that breaks an unmodified program, shrink it, replay it.

Every scheduling decision of a deterministic run (``run --deterministic``) is the run loop's own
(cpu/scheduler.py): which runnable task runs next, and how many instructions it may run before it
is preempted. Timer expiries and signals from other tasks land where those decisions put them,
since time is virtual. A run is therefore fixed by its seed and a list of small integers, the
*choices* (0 always meaning "as the default would"), and:

- :func:`run_schedule` runs a program under one such list and returns its :class:`Outcome`;
- :func:`schedules` is a hypothesis strategy of lists, for users' own ``@given`` tests;
- :func:`explore` lets hypothesis draw the choices run after run, judges each run against what is
  expected (exit status, stdout, no fatal signal, no deadlock), and on a failure shrinks the
  choices to the fewest non-default decisions that still fail;
- :func:`save_replay`/:func:`load_replay` keep a run in a replay file that ``ecs-kernel replay``
  runs again, byte for byte; with the host input a recorded run read (``run --record``:
  fs/host_view.py), on another machine too.
"""
from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from .cli_run import EXIT_DEADLOCK, EXIT_INTERNAL, exit_code, run
from .cpu import scheduler as sched
from .cpu.task_run import DEADLOCKED

DRAWN = 400  # decisions hypothesis draws per run (then defaults): well inside its 8 KiB buffer
REPLAY_FORMAT = "ecs-kernel-replay"
REPLAY_VERSION = 2  # 2: checkpoint_file's format, with the recorded host input


@dataclass
class Program:
    """What to run: ``argv`` (argv[0] the path inside ``root``), the environment, the seed."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    root: str = "/"
    cwd: str = "/"
    seed: int = 0
    stdin: bytes = b""


@dataclass
class Outcome:
    """One run: shell-style exit status (3: deadlock), output, and the decisions taken."""

    status: int
    stdout: bytes
    stderr: bytes
    choices: list[int]
    log: list[list]  # [kind, tid, value, rip] of each decision not the default (cpu/scheduler.py)
    deadlock: str | None = None  # the report, when every task waited on another
    strace: str = ""


class _Chooser:
    """Choices from a list (then 0), each reduced modulo the number of options."""

    def __init__(self, choices):
        self.it = iter(choices)

    def __call__(self, n: int) -> int:
        return next(self.it, 0) % n


def run_schedule(prog: Program, choices=None, *, choose=None, strace: bool = False,
                 limit: int = 2000, timeout: float | None = 120) -> Outcome:
    """Run ``prog`` deterministically with its decisions from ``choices`` (a list of ints, each
    taken modulo the options it chooses among; then defaults) or from ``choose(n)``."""
    chooser = choose if choose is not None else _Chooser(choices or [])
    decisions = sched.Decisions(chooser, limit=limit)
    log = io.StringIO() if strace else None
    seen = {}

    def report(machine):
        seen["deadlock"] = machine.deadlock_report() if machine.deadlock is not None else None

    envp = [f"{k}={v}".encode() for k, v in prog.env.items()]
    with tempfile.TemporaryFile(dir="/var/tmp") as fin, \
            tempfile.TemporaryFile(dir="/var/tmp") as fout, \
            tempfile.TemporaryFile(dir="/var/tmp") as ferr:
        fin.write(prog.stdin)
        fin.seek(0)
        errlog = open(ferr.fileno(), "w", closefd=False)
        status = run(os.fsencode(prog.argv[0]), [os.fsencode(a) for a in prog.argv], envp,
                     root=prog.root, cwd=prog.cwd, strace=log, seed=prog.seed,
                     stdio=(fin.fileno(), fout.fileno(), ferr.fileno()), stderr=errlog,
                     report=report, timeout=timeout, deterministic=True, scheduler=decisions)
        errlog.flush()
        fout.seek(0)
        ferr.seek(0)
        out, err = fout.read(), ferr.read()
    return Outcome(status, out, err, list(decisions.choices), list(decisions.log),
                   seen.get("deadlock"), log.getvalue() if log else "")


def schedules(max_decisions: int = 400):
    """A hypothesis strategy of schedules for :func:`run_schedule`: lists of choices, which
    shrink toward the default schedule (all zeros, or empty)."""
    return st.lists(st.integers(0, sched.PREEMPT_MAX), max_size=max_decisions)


@dataclass
class Expected:
    status: int | None = None
    stdout: bytes | None = None


def judge(out: Outcome, want: Expected) -> str | None:
    """Why ``out`` is a failure, or None."""
    if out.deadlock is not None:
        return "deadlock"
    if want.status is not None and out.status != want.status:
        return f"exit status {out.status}, expected {want.status}"
    if want.status is None and out.status > 128:
        return f"killed by signal {out.status - 128}"
    if want.stdout is not None and out.stdout != want.stdout:
        return "stdout differs from the expected"
    return None


@dataclass
class Finding:
    """What :func:`explore` found: the failure, its shrunk run, how many runs it took."""

    reason: str | None
    outcome: Outcome | None
    runs: int
    seconds: float
    expected: Expected


def explore(prog: Program, *, runs: int = 300, seconds: float | None = None,
            expected: Expected | None = None, progress=None) -> Finding:
    """Run ``prog`` under ``runs`` schedules hypothesis draws (or as many as ``seconds`` allow at
    the first run's pace; hypothesis may add a few it does not count); return the first
    failure, shrunk, or a Finding with ``reason`` None. ``Finding.runs`` is every run made."""
    t0 = time.monotonic()
    if expected is None or (expected.status is None and expected.stdout is None):
        base = run_schedule(prog, [])  # the default schedule says what the program does
        reason = judge(base, Expected())
        if reason is not None:
            return Finding(reason, base, 1, time.monotonic() - t0, Expected())
        expected = Expected(base.status, base.stdout)
    if seconds is not None:
        # hypothesis cannot be stopped halfway (a run that draws less than the same run before
        # is an error), so a time budget becomes a run budget at the first runs' pace
        if time.monotonic() - t0 < 1e-3:
            run_schedule(prog, [])
        pace = max(time.monotonic() - t0, 1e-3)
        runs = max(1, min(runs, int(seconds / pace)))
    count = [0]
    failures: list[tuple[str, Outcome]] = []

    class _Failed(Exception):
        pass

    @settings(max_examples=runs, deadline=None, database=None, derandomize=True,
              phases=[Phase.generate, Phase.shrink], report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(st.data())
    def probe(data):
        count[0] += 1
        if progress is not None:
            progress(count[0])
        out = run_schedule(prog, choose=lambda n: data.draw(st.integers(0, n - 1)), limit=DRAWN)
        reason = judge(out, expected)
        if reason is not None:
            failures.append((reason, out))
            raise _Failed(reason)

    try:
        probe()
    except _Failed:
        reason, out = failures[-1]  # hypothesis ran the shrunk example last
        return Finding(reason, out, count[0], time.monotonic() - t0, expected)
    return Finding(None, None, count[0], time.monotonic() - t0, expected)


def describe(f: Finding, last_syscalls: str = "", per_task: int = 4) -> str:
    """A short report of a failure: what failed, the decisive decisions, the last syscalls of
    each thread before the end (from a replay with ``--strace``)."""
    o = f.outcome
    lines = [f"failure: {f.reason} (found in {f.runs} runs, {f.seconds:.1f} s)"]
    if o is None:
        return lines[0]
    if f.reason and f.reason.startswith("stdout"):
        lines.append(f"  stdout: {o.stdout[-200:]!r}")
        lines.append(f"  expected: {(f.expected.stdout or b'')[-200:]!r}")
    lines.append(f"decisive decisions ({len(o.log)} of {len(o.choices)} not the default):")
    for kind, tid, value, rip in o.log:
        if kind == "preempt":
            at = f" at {rip:#x}" if rip is not None else " (it made a syscall first)"
            lines.append(f"  preempt tid {tid} after {value} instructions{at}")
        else:
            lines.append(f"  run tid {tid} next (choice {value})")
    if o.deadlock:
        lines.append(o.deadlock)
    if last_syscalls:
        by_pid: dict[str, list[str]] = {}
        for line in last_syscalls.splitlines():
            if line.startswith(("ecs-kernel:", "+++")):
                continue
            pid = line.split("]", 1)[0] + "]" if line.startswith("[pid") else "main"
            by_pid.setdefault(pid, []).append(line)
        lines.append("last syscalls:")
        for pid, ls in by_pid.items():
            lines += [f"  {x}" for x in ls[-per_task:]]
    return "\n".join(lines)


# -- replay files -------------------------------------------------------------------------------

@dataclass
class Replay:
    """What a replay file holds: the program, the schedule (``choices`` for an explored run, None
    for a seeded ``run --deterministic``), the status it ended with, and, when the run was
    recorded (``run --record``), its host input, so it replays where the host files differ."""

    prog: Program
    choices: list[int] | None
    status: int | None = None
    reason: str | None = None
    cpus: int | None = None
    host: object = None  # a host_view.Replayer


class ReplayError(ValueError):
    """A replay file that is not one (one line says why)."""


def save_replay(path, prog: Program, outcome: Outcome | None, reason: str | None, *,
                choices: list[int] | None = None, status: int | None = None,
                cpus: int | None = None, recorder=None) -> int:
    """Write a replay file (checkpoint_file's format: a checked manifest and arrays, nothing
    that runs code). ``outcome`` gives the choices and status of an explored run; a seeded run
    passes ``choices=None`` and its ``status``. ``recorder``: the run's host_view.Recorder."""
    from . import checkpoint_file
    if outcome is not None:
        choices, status = outcome.choices, outcome.status
    doc = {"format": REPLAY_FORMAT, "version": REPLAY_VERSION,
           "argv": prog.argv, "env": prog.env, "root": prog.root, "cwd": prog.cwd,
           "seed": prog.seed, "stdin": prog.stdin.hex(), "choices": choices,
           "status": status, "reason": reason, "cpus": cpus, "host": None}
    arrays = {}
    if recorder is not None:
        doc["host"], arrays = recorder.state()
    return checkpoint_file.write(path, {"kind": "replay", "replay": doc}, arrays)


def load_replay(path) -> Replay:
    from . import checkpoint_file
    from .fs.host_view import Replayer, ReplayDiverged
    try:
        meta, arrays = checkpoint_file.read(path)
    except checkpoint_file.CheckpointError as e:
        raise ReplayError(f"{path} is not a replay file ({e})") from None
    doc = meta.get("replay") if meta.get("kind") == "replay" else None
    if not isinstance(doc, dict) or doc.get("format") != REPLAY_FORMAT:
        raise ReplayError(f"{path} is not an ecs-kernel replay file")
    if doc.get("version") != REPLAY_VERSION:
        raise ReplayError(f"{path}: replay format {doc.get('version')!r}, this ecs-kernel reads "
                          f"{REPLAY_VERSION}")
    try:
        argv, env, choices, cpus = doc["argv"], doc["env"], doc["choices"], doc["cpus"]
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)
                and isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in env.items())
                and (choices is None or isinstance(choices, list)
                     and all(type(c) is int and 0 <= c <= sched.PREEMPT_MAX for c in choices))
                and (cpus is None or type(cpus) is int and cpus >= 1)
                and type(doc["seed"]) is int and isinstance(doc["root"], str)
                and isinstance(doc["cwd"], str)):
            raise TypeError
        prog = Program(argv, env, doc["root"], doc["cwd"], doc["seed"], bytes.fromhex(doc["stdin"]))
        host = Replayer(doc["host"], arrays) if doc["host"] is not None else None
    except (KeyError, TypeError, ValueError):
        raise ReplayError(f"{path}: a malformed replay file") from None
    except ReplayDiverged as e:
        raise ReplayError(f"{path}: {e}") from None
    status = doc.get("status") if type(doc.get("status")) is int else None
    reason = doc.get("reason") if isinstance(doc.get("reason"), str) else None
    return Replay(prog, choices, status, reason, cpus, host)


def replay(r: Replay, *, strace=None, stdio=(0, 1, 2), stderr=None) -> int:
    """Run a replay file's run again with run's stdio conventions; the exit status (3 with the
    report on stderr for a deadlock). Its stdin is the recorded one: the explored program's
    ``stdin`` bytes, or what a recorded run read (the host's stdin is not read)."""
    from .fs.host_view import ReplayDiverged
    err = stderr or sys.stderr
    prog = r.prog
    decisions = sched.replaying(r.choices) if r.choices is not None else None
    envp = [f"{k}={v}".encode() for k, v in prog.env.items()]
    with tempfile.TemporaryFile(dir="/var/tmp") as fin:
        fin.write(prog.stdin)
        fin.seek(0)
        stdin = fin.fileno() if r.host is None else os.open(os.devnull, os.O_RDONLY)
        try:
            return run(os.fsencode(prog.argv[0]), [os.fsencode(a) for a in prog.argv], envp,
                       root=prog.root, cwd=prog.cwd, strace=strace, seed=prog.seed,
                       stdio=(stdin, *stdio[1:]), stderr=err, deterministic=True,
                       scheduler=decisions, cpus=r.cpus, host=r.host, strict=True)
        except ReplayDiverged as e:
            print(f"ecs-kernel replay: the run diverged from the recording: {e}", file=err)
            return 2
        except Exception as e:  # strict (so that a divergence stops the run): a bug of ours
            print(f"ecs-kernel: internal error: {type(e).__name__}: {e}", file=err)
            return EXIT_INTERNAL
        finally:
            if r.host is not None:
                os.close(stdin)


__all__ = ["Program", "Outcome", "Expected", "Finding", "run_schedule", "schedules", "judge",
           "explore", "describe", "save_replay", "load_replay", "replay", "Replay", "ReplayError",
           "EXIT_DEADLOCK", "DEADLOCKED", "exit_code"]
