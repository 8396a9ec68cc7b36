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
  choices to the fewest non-default decisions that still fail; batched (:func:`explore_batch`),
  the runs are fixed batches, each a hypothesis search with its own seed, which a cluster
  backend spreads over workers: the lowest-numbered failing batch is the answer, on any backend;
- :func:`save_replay`/:func:`load_replay` keep a run in a replay file that ``ecs-kernel replay``
  runs again, byte for byte; with the host input a recorded run read (``run --record``:
  fs/host_view.py), on another machine too.
"""
from __future__ import annotations

import hashlib
import io
import os
import sys
import tempfile
import time
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from hypothesis import seed as hyp_seed

from . import checkpoint_file, replay_file
from .cli_run import EXIT_DEADLOCK, EXIT_INTERNAL, drive, exit_code, run
from .cpu import checkpoint as guest_checkpoint
from .cpu import scheduler as sched
from .cpu.task_run import DEADLOCKED
from .fs.host_view import ReplayDiverged
from .replay_file import Program, Replay, ReplayError, load_replay

DRAWN = 400  # decisions hypothesis draws per run (then defaults): well inside its 8 KiB buffer


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


@dataclass
class Prefix:
    """A run saved in memory at its first scheduling decision (until there every schedule is the
    same run), with what it had written and read of its stdio by then: later runs restore it
    instead of running the program's start again (``bench_deterministic`` measures the gain)."""

    blob: bytes  # checkpoint_file's bytes of the run (cpu/checkpoint.py)
    stdout: bytes
    stderr: bytes
    stdin_offset: int


def run_schedule(prog: Program, choices=None, *, choose=None, strace: bool = False,
                 limit: int = 2000, timeout: float | None = 120, prefix: Prefix | None = None,
                 keep_prefix: dict | None = None) -> Outcome:
    """Run ``prog`` deterministically with its decisions from ``choices`` (a list of ints, each
    taken modulo the options it chooses among; then defaults) or from ``choose(n)``.
    ``prefix``: start from that saved run instead of from the program's start (same outcome).
    ``keep_prefix``: a dict that gets this run's :class:`Prefix` under "prefix" (None when the
    run never had two tasks runnable)."""
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
        stdio = (fin.fileno(), fout.fileno(), ferr.fileno())
        errlog = open(ferr.fileno(), "w", closefd=False)
        if prefix is not None and not strace:
            os.lseek(fin.fileno(), prefix.stdin_offset, os.SEEK_SET)
            machine = guest_checkpoint.loads(prefix.blob, stdio=stdio, stderr=errlog)
            machine.scheduler = decisions
            decisions.attach(machine)
            status = drive(machine, stderr=errlog, report=report, timeout=timeout)
            head_out, head_err = prefix.stdout, prefix.stderr
        else:
            stop_at = None
            if keep_prefix is not None:
                keep_prefix["prefix"] = None

                def save(machine):
                    errlog.flush()
                    keep_prefix["prefix"] = Prefix(
                        checkpoint_file.dumps(*guest_checkpoint.to_state(machine)),
                        os.pread(fout.fileno(), 1 << 30, 0), os.pread(ferr.fileno(), 1 << 30, 0),
                        os.lseek(fin.fileno(), 0, os.SEEK_CUR))
                stop_at = (lambda m: m.choice_ahead(), save)
            status = run(os.fsencode(prog.argv[0]), [os.fsencode(a) for a in prog.argv], envp,
                         root=prog.root, cwd=prog.cwd, strace=log, seed=prog.seed,
                         stdio=stdio, stderr=errlog, report=report, timeout=timeout,
                         deterministic=True, scheduler=decisions, stop_at=stop_at)
            head_out = head_err = b""
        errlog.flush()
        fout.seek(0)
        ferr.seek(0)
        out, err = head_out + fout.read(), head_err + ferr.read()
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
    batch: int | None = None  # a batched search: the batch that failed


def explore(prog: Program, *, runs: int = 300, seconds: float | None = None,
            expected: Expected | None = None, progress=None, share_prefix: bool = True,
            backend=None, batch_runs: int | None = None) -> Finding:
    """Run ``prog`` under ``runs`` schedules hypothesis draws (or as many as ``seconds`` allow at
    the first run's pace; hypothesis may add a few it does not count); return the first
    failure, shrunk, or a Finding with ``reason`` None. ``Finding.runs`` is every run made.
    With ``share_prefix``, runs start from the default run saved at its first decision
    (:class:`Prefix`), once a restored default run proved to be the same run.

    ``backend`` (a cluster backend: ``map_unordered``) or ``batch_runs`` makes the search
    batched (:func:`explore_batch`): the same Finding in this process and on any backend."""
    t0 = time.monotonic()
    kept: dict = {}
    base = run_schedule(prog, [], keep_prefix=kept)  # the default schedule: what the program does
    if expected is None or (expected.status is None and expected.stdout is None):
        reason = judge(base, Expected())
        if reason is not None:
            return Finding(reason, base, 1, time.monotonic() - t0, Expected())
        expected = Expected(base.status, base.stdout)
    prefix = kept.get("prefix") if share_prefix else None
    if prefix is not None and run_schedule(prog, [], prefix=prefix) != base:
        prefix = None  # (never seen: a restored run that is not the same run is not used)
    if seconds is not None:
        # hypothesis cannot be stopped halfway (a run that draws less than the same run before
        # is an error), so a time budget becomes a run budget at the first runs' pace
        if time.monotonic() - t0 < 1e-3:
            run_schedule(prog, [])
        pace = max(time.monotonic() - t0, 1e-3)
        runs = max(1, min(runs, int(seconds / pace)))
    if backend is not None or batch_runs is not None:
        return _explore_batched(prog, runs, expected, prefix, t0, progress, backend,
                                batch_runs or BATCH_RUNS)
    reason, out, n = _search(prog, runs, expected, prefix, progress)
    return Finding(reason, out, n, time.monotonic() - t0, expected)


def _search(prog: Program, runs: int, expected: Expected, prefix: Prefix | None, progress,
            seed: int | None = None) -> tuple[str | None, Outcome | None, int]:
    """One hypothesis search of ``runs`` schedules: (the failure, its shrunk run, runs made).
    Without ``seed`` hypothesis is derandomized (its seed comes from this source)."""
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
        out = run_schedule(prog, choose=lambda n: data.draw(st.integers(0, n - 1)), limit=DRAWN,
                           prefix=prefix)
        reason = judge(out, expected)
        if reason is not None:
            failures.append((reason, out))
            raise _Failed(reason)

    if seed is not None:
        probe = hyp_seed(seed)(probe)
    try:
        probe()
    except _Failed:
        reason, out = failures[-1]  # hypothesis ran the shrunk example last
        return reason, out, count[0]
    return None, None, count[0]


# -- batched search: the same answer on every backend ---------------------------------------------

BATCH_RUNS = 25  # schedules per batch (a batch is one hypothesis search, shrinking included)


@dataclass(frozen=True)
class Batch:
    """Batch ``index`` of a batched search: ``runs`` schedules that hypothesis draws from
    ``seed`` (:func:`batch_seed`), judged against ``expected``."""

    prog: Program
    expected: Expected
    prefix: Prefix | None
    index: int
    seed: int
    runs: int


def batch_seed(seed: int, index: int) -> int:
    """Hypothesis's seed for batch ``index`` of a search with the program seed ``seed``."""
    return int.from_bytes(hashlib.sha256(f"explore:{seed}:{index}".encode()).digest()[:8], "big")


def explore_batch(b: Batch) -> tuple[str | None, Outcome | None, int]:
    """Run one batch (in any process): (the failure, its shrunk run, runs made). A function of
    the batch alone: deterministic runs, a seeded hypothesis, no example database."""
    return _search(b.prog, b.runs, b.expected, b.prefix, None, seed=b.seed)


class _InProcess:
    def map_unordered(self, fn, items):
        for i, item in enumerate(items):
            yield i, fn(item)


def _explore_batched(prog, runs, expected, prefix, t0, progress, backend, batch_runs) -> Finding:
    """The runs split into batches of ``batch_runs``, batch k seeded by :func:`batch_seed`; the
    answer is the lowest-numbered batch that fails (its shrunk failure), so it does not depend on
    which batch a backend finished first. ``Finding.runs`` counts the runs of that batch and of
    every batch before it (all of them with no failure)."""
    nb = -(-runs // batch_runs)
    batches = [Batch(prog, expected, prefix, k, batch_seed(prog.seed, k),
                     min(batch_runs, runs - k * batch_runs)) for k in range(nb)]
    done: dict[int, tuple] = {}
    best = None
    it = (backend or _InProcess()).map_unordered(explore_batch, batches)
    try:
        for k, res in it:
            done[k] = res
            if progress is not None:
                progress(sum(r[2] for r in done.values()))
            if res[0] is not None and (best is None or k < best):
                best = k
            if best is not None and all(j in done for j in range(best)):
                break
    finally:
        it.close()
    last = nb - 1 if best is None else best
    n = sum(done[j][2] for j in range(last + 1))
    if best is None:
        return Finding(None, None, n, time.monotonic() - t0, expected, batch=None)
    reason, out, _ = done[best]
    return Finding(reason, out, n, time.monotonic() - t0, expected, batch=best)


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

def save_replay(path, prog: Program, outcome: Outcome | None, reason: str | None, **kw) -> int:
    """:func:`replay_file.save` of an explored run (its choices and status from ``outcome``)."""
    if outcome is not None:
        kw.update(choices=outcome.choices, status=outcome.status)
    return replay_file.save(path, prog, reason, **kw)


def replay(r: Replay, *, strace=None, stdio=(0, 1, 2), stderr=None) -> int:
    """Run a replay file's run again with run's stdio conventions; the exit status (3 with the
    report on stderr for a deadlock). Its stdin is the recorded one: the explored program's
    ``stdin`` bytes, or what a recorded run read (the host's stdin is not read)."""
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


__all__ = ["Program", "Outcome", "Prefix", "Expected", "Finding", "run_schedule", "schedules", "judge",
           "explore", "explore_batch", "Batch", "batch_seed", "BATCH_RUNS", "describe",
           "save_replay", "load_replay", "replay", "Replay", "ReplayError", "EXIT_DEADLOCK",
           "DEADLOCKED", "exit_code"]
