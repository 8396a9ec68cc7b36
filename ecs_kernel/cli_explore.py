"""``ecs-kernel explore`` and ``ecs-kernel replay``: find a schedule that breaks a program, replay it.

    ecs-kernel explore [--runs N] [--seconds S] [--seed S] [--expect-exit CODE]
                       [--expect-stdout FILE] [--replay-to FILE] [--root DIR] [--cwd DIR]
                       [--env K=V]... [--batch-runs B] [--workers N | --cluster ADDR]
                       -- PROGRAM [ARG...]
    ecs-kernel replay [--strace] FILE

``explore`` runs PROGRAM again and again in deterministic mode under schedules hypothesis draws
(explore.py) and judges each run: another exit status or stdout than expected (by default: what
the default schedule gives), a fatal signal, or a deadlock. On a failure it shrinks the schedule,
prints a short report, writes the replay file (``--replay-to``, default ``explore.replay``) and
exits 1; with no failure in the budget it exits 0. ``--workers N`` (local processes) or
``--cluster ADDR`` (Ray) spread the search: the runs are cut into fixed batches of
``--batch-runs`` (25), batch k a hypothesis search seeded from ``--seed`` and k, and the answer
is the lowest-numbered batch that fails, shrunk, so the report and the replay file are the same on
every backend and in this process (``--batch-runs`` alone runs the batches here). ``replay`` runs a replay file's run again:
the same output and exit status (3 and the report for a deadlock). Bad arguments or a bad replay
file: one line, status 2.
"""
from __future__ import annotations

import argparse
import os
import sys

from .cli_run import add_strace_args, strace_from_args
from .cluster.options import add_backend_args

BATCH_RUNS = 25  # explore.BATCH_RUNS (not imported here: the parser must not load the explorer)

EXIT_FOUND = 1
EXIT_USAGE = 2


def add_explore_parsers(sub) -> None:
    p = sub.add_parser("explore", help="search schedules for one that breaks a program",
                       description="Run a program under many deterministic schedules; report, "
                                   "shrink and save the first that fails.")
    p.add_argument("--runs", type=int, default=300, help="runs to try (default 300)")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.add_argument("--seed", type=int, default=0, help="seed of the runs (default 0)")
    p.add_argument("--expect-exit", type=int, default=None, metavar="CODE",
                   help="the exit status a correct run has (default: the default schedule's)")
    p.add_argument("--expect-stdout", metavar="FILE",
                   help="a file with the stdout a correct run prints (default: the default "
                        "schedule's)")
    p.add_argument("--replay-to", default="explore.replay", metavar="FILE",
                   help="where a failing run is saved (default explore.replay)")
    p.add_argument("--root", default="/", help="the guest's / (read-only)")
    p.add_argument("--cwd", default="/", help="the guest's working directory")
    p.add_argument("--env", action="append", default=[], metavar="K=V",
                   help="an environment variable of the guest (repeatable)")
    p.add_argument("--batch-runs", type=int, default=None, metavar="B",
                   help="search in batches of B runs, each with its own seed (the default with "
                        f"--workers or --cluster: {BATCH_RUNS}); the answer is the first failing "
                        "batch's, the same on every backend")
    add_backend_args(p)
    p.add_argument("program", help="the program (a path inside the root)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    p.set_defaults(fn=_explore_cmd)
    r = sub.add_parser("replay", help="run a replay file's run again",
                       description="Run the run saved by explore --replay-to or by run "
                                   "--deterministic --record again, exactly: same output, same "
                                   "exit status. A recorded run reads its host files and stdin "
                                   "from the file, so it replays on another machine too.")
    add_strace_args(r)
    r.add_argument("file", help="a replay file")
    r.set_defaults(fn=_replay_cmd)


def _usage(msg: str) -> int:
    print(f"ecs-kernel explore: {msg}", file=sys.stderr)
    return EXIT_USAGE


def _explore_cmd(args) -> int:
    from . import explore as ex
    from .cluster.backend import BackendError, backend_from_args
    if args.runs < 1:
        return _usage("--runs must be at least 1")
    if args.seconds is not None and args.seconds <= 0:
        return _usage("--seconds must be positive")
    env = {}
    for kv in args.env:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            return _usage(f"--env {kv!r} is not K=V")
        env[k] = v
    expected = ex.Expected(args.expect_exit, None)
    if args.expect_stdout:
        try:
            with open(args.expect_stdout, "rb") as f:
                expected.stdout = f.read()
        except OSError as e:
            return _usage(f"--expect-stdout {args.expect_stdout}: {e.strerror}")
    rest = list(args.args)
    if rest and rest[0] == "--":
        rest = rest[1:]
    prog = ex.Program([args.program] + rest, env, args.root, args.cwd, args.seed)
    if not os.path.isdir(args.root):
        return _usage(f"--root {args.root}: not a directory")
    if args.batch_runs is not None and args.batch_runs < 1:
        return _usage("--batch-runs must be at least 1")
    try:
        with backend_from_args(args) as backend:
            batched = backend.name != "serial" or args.batch_runs is not None
            found = ex.explore(prog, runs=args.runs, seconds=args.seconds, expected=expected,
                               backend=backend if batched else None,
                               batch_runs=(args.batch_runs or ex.BATCH_RUNS) if batched else None)
    except BackendError as e:
        return _usage(str(e))
    where = "" if not batched else f", batches of {args.batch_runs or ex.BATCH_RUNS} on {backend.describe()}"
    if found.reason is None:
        print(f"no failure in {found.runs} runs ({found.seconds:.1f} s{where})")
        return 0
    if batched:
        print(f"found in batch {found.batch} (hypothesis seed "
              f"{ex.batch_seed(args.seed, found.batch)}){where}")
    traced = ex.run_schedule(prog, found.outcome.choices, strace=True)
    ex.save_replay(args.replay_to, prog, found.outcome, found.reason)
    print(ex.describe(found, traced.strace))
    print(f"replay: ecs-kernel replay {args.replay_to}")
    return EXIT_FOUND


def _replay_cmd(args) -> int:
    from . import explore as ex
    try:
        saved = ex.load_replay(args.file)
    except ex.ReplayError as e:
        print(f"ecs-kernel replay: {e}", file=sys.stderr)
        return EXIT_USAGE
    strace = strace_from_args(args)
    if isinstance(strace, str):
        print(f"ecs-kernel replay: {strace}", file=sys.stderr)
        return EXIT_USAGE
    return ex.replay(saved, strace=strace)
