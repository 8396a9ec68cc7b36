"""``ecs-kernel campaign``: a hypothesis state machine run many times with distinct seeds.

    ecs-kernel campaign MACHINE --runs N [--seed S] [--examples E] [--steps K] [--no-progress]
                        [--workers N | --cluster ADDR]
    ecs-kernel campaign --list

MACHINE is a state machine of ``ecs_kernel.testing`` (``--list``: ``LifecycleMachine``,
``SignalMachine``, ...; the name without ``Machine`` and any case will do) or a user's
``module:Class``. Run ``i`` seeds hypothesis with ``S + i`` and tries E examples of at most K steps
(cluster/campaign.py); runs go to the backend and a progress bar counts them. At the end: one line
per failing run (its seed and error), and for the first failing run the shrunk example and the one
command that reproduces it on this machine. The report is the same on every backend.

Exit status: 0 no run failed; 1 a run failed; 2 bad arguments or a machine that cannot be loaded
(one line); 130 interrupted.
"""
from __future__ import annotations

import sys

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def add_campaign_parser(sub) -> None:
    from .cluster.options import add_backend_args
    p = sub.add_parser("campaign", help="run a hypothesis state machine over many seeds",
                       description="Run a hypothesis state machine (ecs_kernel.testing's or "
                                   "module:Class) once per seed; report failures shrunk, with "
                                   "the command that reproduces each.")
    p.add_argument("machine", nargs="?", help="a machine of ecs_kernel.testing (--list) or module:Class")
    p.add_argument("--runs", type=int, default=10, help="runs, each with its own seed (default 10)")
    p.add_argument("--seed", type=int, default=0, help="run i uses seed S+i (default 0)")
    p.add_argument("--examples", type=int, default=25, help="examples per run (default 25)")
    p.add_argument("--steps", type=int, default=30, help="steps per example at most (default 30)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--list", action="store_true", help="list the shipped machines and exit")
    add_backend_args(p)
    p.set_defaults(fn=campaign_cmd)


def _err(msg: str) -> int:
    print(f"ecs-kernel campaign: {msg}", file=sys.stderr)
    return EXIT_USAGE


def run_campaign(machine: str, runs: int, seed: int, examples: int, steps: int, backend,
                 progress=None) -> list[dict]:
    """Every run's result, in run order (what the backend finished first does not matter)."""
    from .cluster import campaign as cp
    items = [cp.Run(machine, i, cp.run_seed(seed, i), examples, steps) for i in range(runs)]
    results: list = [None] * runs
    for i, res in backend.map_unordered(cp.run_machine, items):
        results[i] = res
        if progress is not None:
            progress(res)
    return results


def report(machine: str, results: list[dict], examples: int, steps: int) -> str:
    from .cluster.campaign import reproduce_command
    failed = [r for r in results if r["failed"]]
    lines = [f"campaign {machine}: {len(results)} runs ({examples} examples of up to {steps} "
             f"steps each), {len(failed)} failed"]
    for r in failed:
        lines.append(f"  run {r['run']} (seed {r['seed']}): {r['error']}")
    if failed:
        first = failed[0]
        lines.append(f"first failure (run {first['run']}, seed {first['seed']}), shrunk:")
        lines += [f"  {x}" for x in first["example"].splitlines()]
        lines.append("reproduce: " + reproduce_command(machine, first["seed"], examples, steps))
    return "\n".join(lines)


def campaign_cmd(args) -> int:
    from tqdm import tqdm

    from .cluster import campaign as cp
    from .cluster.backend import BackendError, backend_from_args

    if args.list:
        for name, path in cp.shipped_machines().items():
            print(f"{name:<18} {path}")
        return 0
    if not args.machine:
        return _err("name a machine (ecs-kernel campaign --list) or a module:Class")
    for opt, v in (("--runs", args.runs), ("--examples", args.examples), ("--steps", args.steps)):
        if v < 1:
            return _err(f"{opt} must be at least 1")
    if args.seed < 0:
        return _err("--seed must be at least 0")
    try:
        machine = cp.resolve(args.machine)
    except cp.CampaignError as e:
        return _err(str(e))
    bar = None
    try:
        with backend_from_args(args, on_lost=lambda m: _note(bar, m)) as backend:
            bar = tqdm(total=args.runs, unit="run", file=sys.stderr, disable=args.no_progress,
                       desc=f"campaign {machine.rpartition(':')[2]}", dynamic_ncols=True,
                       mininterval=0.5)
            failed = [0]

            def progress(res):
                failed[0] += res["failed"]
                bar.set_postfix_str(f"failed={failed[0]}", refresh=False)
                bar.update(1)
            results = run_campaign(machine, args.runs, args.seed, args.examples, args.steps,
                                   backend, progress)
            bar.close()
    except BackendError as e:
        return _err(str(e))
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print("ecs-kernel campaign: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(report(machine, results, args.examples, args.steps))
    return EXIT_FAILED if any(r["failed"] for r in results) else 0


def _note(bar, msg: str) -> None:
    line = f"ecs-kernel campaign: {msg}"
    if bar is not None:
        bar.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)
