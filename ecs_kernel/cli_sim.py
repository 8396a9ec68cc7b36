"""``ecs-kernel sim``: run a synthetic workload, record its per-tick counters, check invariants.

    ecs-kernel sim WORKLOAD --tasks N --ticks T [--seed S] [--out run.json|run.csv]
                   [--plot run.png] [--check K] [--no-progress]

WORKLOAD is a shipped workload's name (``ecs-kernel sim --list``) or a ``.toml``/``.json`` file
(docs/sim.md). A progress bar goes to stderr while it runs, a summary to stdout at the end. Nothing
is written unless ``--out`` (JSON or CSV by its extension) or ``--plot`` (an image, needs
matplotlib) asks. ``--check K`` runs the kernel invariants (sim/invariants.py) and the deadlock
pass (sim/deadlock.py) every K ticks; deadlock cycles are reported as they are found (each once)
and the run goes on, and the deadlock pass also runs once at the end of every run.

Exit status: 0 when the run completed; 1 when ``--check`` found a broken invariant (the run stops
there, its report on stderr, the ticks recorded so far still written); 2 for bad arguments, a bad
workload file (one line naming the file, line and field) or ``--plot`` without matplotlib; 3 when
the run completed but tasks deadlocked on futexes (each cycle is on stderr and in the summary);
130 when interrupted (Ctrl-C: what was recorded is still written).
"""
from __future__ import annotations

import os
import sys
import time

EXIT_VIOLATION = 1
EXIT_USAGE = 2
EXIT_DEADLOCK = 3
EXIT_INTERRUPTED = 130


def add_sim_parser(sub) -> None:
    p = sub.add_parser("sim", help="run a synthetic workload of many tasks and record its counters",
                       description="Run a synthetic workload (a shipped name or a .toml/.json file) "
                                   "and record per-tick counters.")
    p.add_argument("workload", nargs="?", help="a shipped workload name or a workload file")
    p.add_argument("--tasks", type=int, default=1000, help="synthetic tasks to start (default 1000)")
    p.add_argument("--ticks", type=int, default=100, help="ticks to run (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--out", metavar="FILE", help="write the per-tick counters (.json or .csv)")
    p.add_argument("--plot", metavar="FILE", help="draw the counters into an image (.png, .svg, .pdf)")
    p.add_argument("--check", type=int, default=0, metavar="K",
                   help="check kernel invariants and look for futex deadlocks every K ticks")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--list", action="store_true", help="list the shipped workloads and exit")
    p.set_defaults(fn=sim_cmd)


def _err(msg: str) -> int:
    print(f"ecs-kernel sim: {msg}", file=sys.stderr)
    return EXIT_USAGE


def _check_args(args) -> str | None:
    if args.tasks < 1:
        return "--tasks must be at least 1"
    if args.ticks < 1:
        return "--ticks must be at least 1"
    if args.check < 0:
        return "--check must be 0 (off) or a number of ticks"
    if args.out:
        ext = os.path.splitext(args.out)[1].lower()
        if ext not in (".json", ".csv"):
            return f"--out {args.out}: the extension must be .json or .csv"
    for opt, path in (("--out", args.out), ("--plot", args.plot)):
        if path:
            d = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(d):
                return f"{opt} {path}: no such directory {d}"
    return None


def sim_cmd(args) -> int:
    from .sim import spec
    if args.list:
        for name in spec.workload_names():
            print(name)
        return 0
    if not args.workload:
        return _err("name a workload (one of: " + ", ".join(spec.workload_names()) + ") or a file")
    bad = _check_args(args)
    if bad:
        return _err(bad)
    if args.plot:
        from .sim.report import PlotUnavailable, plot_formats
        try:
            formats = plot_formats()  # fail before the run, not after it
        except PlotUnavailable as e:
            return _err(str(e))
        ext = os.path.splitext(args.plot)[1].lower().lstrip(".")
        if ext not in formats:
            return _err(f"--plot {args.plot}: the extension must be one of "
                        + ", ".join("." + f for f in sorted(formats)))
    try:
        workload = spec.load(args.workload)
    except spec.SpecError as e:
        return _err(str(e))
    return run_sim(workload, args)


def run_sim(workload, args) -> int:
    from tqdm import tqdm

    from .sim import deadlock, invariants
    from .sim.engine import COUNTERS, Simulation
    from .sim.report import CounterRecorder

    name = getattr(workload, "name", None) or str(args.workload)
    t0 = time.perf_counter()
    sim = Simulation(workload, args.tasks, args.seed)
    setup_s = time.perf_counter() - t0
    world = sim.world
    if args.check:
        invariants.install(world)
    rec = CounterRecorder(COUNTERS, capacity=min(args.ticks, 1 << 16), meta={
        "workload": name, "tasks": args.tasks, "seed": args.seed, "ticks_requested": args.ticks,
        "check_every": args.check})
    seen_cycles: set = set()
    deadlocks: list = []
    violation = None
    status = 0
    checks = 0

    def look_for_deadlocks(tick: int, bar=None) -> None:
        for d in deadlock.find_deadlocks(world):
            key = frozenset(w.task for w in d.cycle)
            if key in seen_cycles:
                continue
            seen_cycles.add(key)
            deadlocks.append((tick, d))
            msg = f"ecs-kernel sim: tick {tick}: {d}"
            (bar.write(msg, file=sys.stderr) if bar is not None else print(msg, file=sys.stderr))

    bar = tqdm(total=args.ticks, unit="tick", file=sys.stderr, disable=args.no_progress,
               desc=name, dynamic_ncols=True, mininterval=0.5)
    t1 = time.perf_counter()
    try:
        for _ in range(args.ticks):
            counters = sim.step()
            rec.record(counters)
            bar.update(1)
            if args.check and sim.tick % args.check == 0:
                checks += 1
                violation = invariants.check(world)
                if violation is not None:
                    status = EXIT_VIOLATION
                    break
                look_for_deadlocks(sim.tick, bar)
            if bar.n % 16 == 0:
                bar.set_postfix(alive=counters["tasks_alive"], blocked=counters["blocked"], refresh=False)
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    finally:
        bar.close()
    run_s = time.perf_counter() - t1
    if status != EXIT_INTERRUPTED:
        look_for_deadlocks(sim.tick)
    rec.meta["ticks"] = rec.ticks
    if violation is not None:
        print(f"ecs-kernel sim: stopped: {violation}", file=sys.stderr)
    written = []
    try:
        if args.out:
            rec.write(args.out)
            written.append(args.out)
        if args.plot:
            rec.plot(args.plot, title=f"{name}: {args.tasks} tasks, seed {args.seed}")
            written.append(args.plot)
    except OSError as e:
        print(f"ecs-kernel sim: cannot write {e.filename}: {e.strerror}", file=sys.stderr)
        status = status or EXIT_USAGE
    _summary(name, args, rec, sim, setup_s, run_s, checks, deadlocks, violation, written)
    if status == 0 and deadlocks:
        status = EXIT_DEADLOCK
    return status


def _summary(name, args, rec, sim, setup_s, run_s, checks, deadlocks, violation, written) -> None:
    totals = rec.totals()
    last = rec.last()
    tt = args.tasks * rec.ticks
    rate = tt / run_s if run_s > 0 else float("inf")
    out = [f"{name}: {args.tasks} tasks, {rec.ticks} ticks, seed {args.seed}",
           f"  time        {setup_s:.2f} s setup, {run_s:.2f} s running: {rate:,.0f} task-ticks/s",
           f"  memory      {sim.world.nbytes() / max(args.tasks, 1):.0f} B per task (columns and indexes)",
           "  at the end  " + ", ".join(f"{k} {last[k]}" for k in
                                        ("tasks_alive", "running", "blocked", "stopped", "zombie")
                                        if k in last)]
    events = [k for k in rec.names if k not in ("running", "blocked", "stopped", "zombie", "tasks_alive")]
    out.append("  totals      " + ", ".join(f"{k} {totals[k]}" for k in events))
    if args.check:
        out.append(f"  checks      {checks} (every {args.check} ticks): "
                   + ("no violation" if violation is None else f"violation at tick {violation.tick}"))
    out.append(f"  deadlocks   {len(deadlocks)}" + "".join(
        f"\n    tick {tick}: {d}" for tick, d in deadlocks))
    if written:
        out.append("  wrote       " + ", ".join(written))
    print("\n".join(out))
