"""``ecs-kernel sweep``: many independent simulations, one per seed and parameter combination.

    ecs-kernel sweep WORKLOAD --seeds A..B [--param KEY=V1,V2,...]... --out FILE.jsonl
                     [--tasks N] [--ticks T] [--check K] [--per-tick] [--no-progress]
                     [--workers N | --cluster ADDR]

Each run is ``ecs-kernel sim WORKLOAD --tasks N --ticks T --seed S`` (the same Simulation, the
same counters); ``--seeds A..B`` includes both ends. ``--param`` keys (cluster/sweep.py):
``tasks``, ``ticks``, ``tick_ns``, ``futex_words``, ``threads_per_process``, ``share.PROGRAM``;
every combination of the values given runs once per seed. Runs go to the backend (in this
process by default, ``--workers N`` local processes, ``--cluster`` Ray); each result is one JSON
line appended to ``--out`` as it finishes (the event totals, the run states at the end, the
deadlocks found at the end, the seed and the parameters; ``--per-tick``: every tick's counters),
with a progress bar on stderr. A rerun with the same ``--out`` skips the runs already in it (a
line cut short by a kill is dropped). A worker lost in the middle is reported and its run done
again elsewhere.

Exit status: 0 every run done; 1 some run broke an invariant (``--check K``: its row says which);
2 bad arguments or workload (one line); 130 interrupted (the finished runs are in the file: run
the same command again to go on).
"""
from __future__ import annotations

import json
import os
import sys

EXIT_VIOLATION = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def add_sweep_parser(sub) -> None:
    from .cluster.options import add_backend_args
    p = sub.add_parser("sweep", help="run a simulation per seed and parameter combination",
                       description="Run one simulation per seed and parameter combination; write "
                                   "each result as a JSON line as it finishes.",
                       epilog="--param keys: tasks, ticks, tick_ns, futex_words, "
                              "threads_per_process, share.PROGRAM (see docs/cluster.md)")
    p.add_argument("workload", help="a shipped workload name or a workload file (as for sim)")
    p.add_argument("--seeds", required=True, metavar="A..B", help="seeds A to B, both included (or one N)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="values of a parameter to sweep (repeatable: every combination runs)")
    p.add_argument("--out", required=True, metavar="FILE.jsonl", help="where the results go (appended)")
    p.add_argument("--tasks", type=int, default=1000, help="synthetic tasks (default 1000)")
    p.add_argument("--ticks", type=int, default=100, help="ticks per run (default 100)")
    p.add_argument("--check", type=int, default=0, metavar="K",
                   help="check kernel invariants every K ticks (as sim --check)")
    p.add_argument("--per-tick", action="store_true", help="write every tick's counters, not only totals")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_backend_args(p)
    p.set_defaults(fn=sweep_cmd)


def _err(msg: str) -> int:
    print(f"ecs-kernel sweep: {msg}", file=sys.stderr)
    return EXIT_USAGE


def read_done(path: str) -> set[str]:
    """The keys of the rows already in ``path`` (none if it does not exist). A last line without
    its newline (a run killed while writing) is cut off the file."""
    if not os.path.exists(path):
        return set()
    with open(path, "rb") as f:
        data = f.read()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
    done = set()
    for n, line in enumerate(data[:end].splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise ValueError(f"{path}:{n}: not a JSON line (is this a sweep's output?)") from None
        if isinstance(row, dict) and isinstance(row.get("key"), str):
            done.add(row["key"])
    return done


def sweep_cmd(args) -> int:
    from tqdm import tqdm

    from .cli_sim import unwritable
    from .cluster import sweep as sw
    from .cluster.backend import BackendError, backend_from_args
    from .sim import spec

    if not args.out.endswith(".jsonl"):
        return _err(f"--out {args.out}: the extension must be .jsonl (one JSON line per run)")
    if args.check < 0:
        return _err("--check must be 0 (off) or a number of ticks")
    try:
        seeds = sw.parse_seeds(args.seeds)
        params = sw.parse_params(args.param)
        workload = spec.load(args.workload)
        jobs = sw.plan(workload, seeds, params, tasks=args.tasks, ticks=args.ticks,
                       check=args.check, per_tick=args.per_tick)
    except (sw.SweepError, spec.SpecError) as e:
        return _err(str(e))
    why = unwritable(args.out)
    if why:
        return _err(f"--out {args.out}: {why}")
    try:
        done = read_done(args.out)
    except (OSError, ValueError) as e:
        return _err(str(e))
    todo = [j for j in jobs if j.key not in done]
    skipped = len(jobs) - len(todo)
    bar = None
    try:
        with backend_from_args(args, on_lost=lambda m: _note(bar, m)) as backend:
            bar = tqdm(total=len(jobs), initial=skipped, unit="run", file=sys.stderr,
                       disable=args.no_progress, desc=f"sweep {workload.name}",
                       dynamic_ncols=True, mininterval=0.5)
            bar.set_postfix_str(backend.describe(), refresh=False)
            violations = 0
            with open(args.out, "a") as out:
                for _, row in backend.map_unordered(sw.run_job, todo):
                    out.write(json.dumps(row, separators=(",", ":")) + "\n")
                    out.flush()
                    violations += row["violation"] is not None
                    bar.update(1)
            bar.close()
            lost = len(backend.lost)
            where = backend.describe()
    except BackendError as e:
        return _err(str(e))
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print(f"ecs-kernel sweep: interrupted; the finished runs are in {args.out} (run the same "
              f"command to go on)", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"sweep {workload.name}: {len(jobs)} runs ({len(todo)} run now on {where}, {skipped} "
          f"already in {args.out})" + (f", {lost} lost worker(s) recovered" if lost else "")
          + (f", {violations} broke an invariant" if violations else ""))
    return EXIT_VIOLATION if violations else 0


def _note(bar, msg: str) -> None:
    line = f"ecs-kernel sweep: {msg}"
    if bar is not None:
        bar.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)
