"""``ecs-kernel sim``: run a synthetic workload, record its per-tick counters, check invariants.

    ecs-kernel sim WORKLOAD --tasks N --ticks T [--seed S] [--out run.json|run.csv]
                   [--plot run.png] [--check K] [--no-progress]
                   [--checkpoint-every K --checkpoint-to DIR]
    ecs-kernel sim --resume FILE [--ticks T] [--out ...] [--plot ...] [--checkpoint-every ...]

WORKLOAD is a shipped workload's name (``ecs-kernel sim --list``) or a ``.toml``/``.json`` file
(docs/sim.md). A progress bar goes to stderr while it runs, a summary to stdout at the end. Nothing
is written unless ``--out`` (JSON or CSV by its extension) or ``--plot`` (an image, needs
matplotlib) asks. ``--check K`` runs the kernel invariants (sim/invariants.py) and the deadlock
pass (sim/deadlock.py) every K ticks; deadlock cycles are reported as they are found (each once)
and the run goes on, and the deadlock pass also runs once at the end of every run.

``--checkpoint-every K --checkpoint-to DIR`` saves the whole run every K ticks (after the tick's
counters and checks) as ``DIR/tick-NNNNNN.ckpt`` (DIR is made if missing; each file is written
atomically). ``--resume FILE`` continues such a run: the workload, tasks, seed and ``--check``
come from the checkpoint, as do the counters of the ticks before it (``--out`` writes the whole
run), and ``--ticks T`` is the run's total, as at the start: the resumed run goes from the
checkpoint's tick to T (default: the T the run was started with). Its counters are the
uninterrupted run's, tick for tick. Checkpointing does not carry over: pass
``--checkpoint-every``/``--checkpoint-to`` again to go on saving.

Exit status: 0 when the run completed; 1 when ``--check`` found a broken invariant (the run stops
there, its report on stderr, the ticks recorded so far still written); 2 for bad arguments, a bad
workload file (one line naming the file, line and field), a checkpoint that cannot be resumed
(missing, damaged, not a simulation's: one line), a checkpoint that cannot be written, or
``--plot`` without matplotlib; 3 when the run completed but tasks deadlocked on futexes (each
cycle is on stderr and in the summary); 130 when interrupted (Ctrl-C: what was recorded is still
written).
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
    p.add_argument("--tasks", type=int, help=f"synthetic tasks to start (default {DEFAULTS['tasks']})")
    p.add_argument("--ticks", type=int, help=f"ticks to run (default {DEFAULTS['ticks']}); with "
                   "--resume, the run's total (default: the total it was started with)")
    p.add_argument("--seed", type=int, help="seed of every random draw (default 0)")
    p.add_argument("--out", metavar="FILE", help="write the per-tick counters (.json or .csv)")
    p.add_argument("--plot", metavar="FILE", help="draw the counters into an image (.png, .svg, .pdf)")
    p.add_argument("--check", type=int, metavar="K",
                   help="check kernel invariants and look for futex deadlocks every K ticks")
    p.add_argument("--checkpoint-every", type=int, metavar="K",
                   help="save the whole run every K ticks (with --checkpoint-to)")
    p.add_argument("--checkpoint-to", metavar="DIR",
                   help="where --checkpoint-every saves: DIR/tick-NNNNNN.ckpt (made if missing)")
    p.add_argument("--resume", metavar="FILE",
                   help="continue the run saved in a checkpoint FILE (to --ticks in all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--list", action="store_true", help="list the shipped workloads and exit")
    p.set_defaults(fn=sim_cmd)


DEFAULTS = {"tasks": 1000, "ticks": 100, "seed": 0, "check": 0}


class RunState:
    """What the command line keeps of a run besides the Simulation (checkpointed in its
    ``extra``): the name, the ticks asked for, the checks and the deadlocks seen so far."""

    def __init__(self, name: str, ticks: int, check: int):
        self.name, self.ticks, self.check = name, ticks, check
        self.checks = 0
        self.deadlocks: list = []  # (tick, Deadlock or its text)
        self.seen_cycles: set = set()  # each cycle's task rows, to report it once

    def to_extra(self) -> dict:
        return {"cli": {"name": self.name, "ticks": self.ticks, "check": self.check,
                        "checks": self.checks,
                        "deadlocks": [[tick, str(d)] for tick, d in self.deadlocks],
                        "seen_cycles": [sorted(c) for c in self.seen_cycles]}}

    @classmethod
    def from_extra(cls, extra) -> RunState:
        from .checkpoint_file import CheckpointError
        c = extra.get("cli") if isinstance(extra, dict) else None

        def ok_int(v, lo=0):
            return type(v) is int and v >= lo
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not ok_int(c.get("ticks"), 1) \
                or not ok_int(c.get("check")) or not ok_int(c.get("checks")) \
                or not isinstance(c.get("deadlocks"), list) or not isinstance(c.get("seen_cycles"), list) \
                or not all(isinstance(d, list) and len(d) == 2 and ok_int(d[0]) and isinstance(d[1], str)
                           for d in c["deadlocks"]) \
                or not all(isinstance(k, list) and all(ok_int(x) for x in k) for k in c["seen_cycles"]):
            raise CheckpointError("not a checkpoint of `ecs-kernel sim` (its run settings are "
                                  "missing or malformed)")
        st = cls(c["name"], c["ticks"], c["check"])
        st.checks = c["checks"]
        st.deadlocks = [(tick, text) for tick, text in c["deadlocks"]]
        st.seen_cycles = {frozenset(k) for k in c["seen_cycles"]}
        return st


def _err(msg: str) -> int:
    print(f"ecs-kernel sim: {msg}", file=sys.stderr)
    return EXIT_USAGE


def _check_args(args) -> str | None:
    if args.resume:
        given = [o for o, v in (("WORKLOAD", args.workload), ("--tasks", args.tasks),
                                ("--seed", args.seed), ("--check", args.check)) if v is not None]
        if given:
            return (f"--resume continues the checkpoint's workload, tasks, seed and checks: "
                    f"drop {', '.join(given)}")
    else:
        for k, v in DEFAULTS.items():
            if getattr(args, k) is None and k != "ticks":
                setattr(args, k, v)
        if args.tasks < 1:
            return "--tasks must be at least 1"
        if args.check < 0:
            return "--check must be 0 (off) or a number of ticks"
    if args.ticks is not None and args.ticks < 1:
        return "--ticks must be at least 1"
    if (args.checkpoint_every is None) != (args.checkpoint_to is None):
        return "--checkpoint-every K and --checkpoint-to DIR go together"
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        return "--checkpoint-every must be at least 1 tick"
    if args.checkpoint_to and os.path.exists(args.checkpoint_to) and not os.path.isdir(args.checkpoint_to):
        return f"--checkpoint-to {args.checkpoint_to}: not a directory"
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
    if not args.workload and not args.resume:
        return _err("name a workload (one of: " + ", ".join(spec.workload_names()) + ") or a file, "
                    "or --resume a checkpoint")
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
    if args.checkpoint_to:
        try:
            os.makedirs(args.checkpoint_to, exist_ok=True)
        except OSError as e:
            return _err(f"--checkpoint-to {args.checkpoint_to}: {e.strerror}")
    if args.resume:
        return resume_sim(args)
    try:
        workload = spec.load(args.workload)
    except spec.SpecError as e:
        return _err(str(e))
    if args.ticks is None:
        args.ticks = DEFAULTS["ticks"]
    return run_sim(workload, args)


def checkpoint_name(tick: int) -> str:
    """The file ``--checkpoint-to DIR`` gets at ``tick`` (zero-padded: they sort by tick)."""
    return f"tick-{tick:06d}.ckpt"


def run_sim(workload, args) -> int:
    from .sim import invariants
    from .sim.engine import Simulation

    name = getattr(workload, "name", None) or str(args.workload)
    t0 = time.perf_counter()
    sim = Simulation(workload, args.tasks, args.seed)
    setup_s = time.perf_counter() - t0
    if args.check:
        invariants.install(sim.world)
    return _run(sim, RunState(name, args.ticks, args.check), args, setup_s, "setup")


def resume_sim(args) -> int:
    from .checkpoint_file import CheckpointError
    from .sim.engine import Simulation

    t0 = time.perf_counter()
    try:
        sim = Simulation.resume(args.resume)
        if "cli" in sim.extra:
            state = RunState.from_extra(sim.extra)
        else:  # saved from Python (Simulation.checkpoint): the command line takes its checks over
            if args.ticks is None:
                return _err(f"{args.resume} was saved from Python: say how many ticks the run "
                            f"has in all with --ticks")
            state = RunState(sim.workload.name, args.ticks, sim.check_every)
            sim.check_every = 0
    except CheckpointError as e:
        return _err(f"cannot resume {args.resume}: {e}")
    setup_s = time.perf_counter() - t0
    if args.ticks is not None:
        if args.ticks < sim.tick:
            return _err(f"--ticks {args.ticks} is before the checkpoint's tick {sim.tick} "
                        f"(--ticks is the run's total)")
        state.ticks = args.ticks
    args.tasks, args.seed, args.check = sim.tasks, sim.seed, state.check
    return _run(sim, state, args, setup_s, f"loading tick {sim.tick}")


def _run(sim, state: RunState, args, setup_s: float, setup_what: str) -> int:
    from tqdm import tqdm

    from .sim import deadlock, invariants

    world = sim.world
    name = state.name
    rec = sim.history
    rec.meta.update({"workload": name, "tasks": sim.tasks, "seed": sim.seed,
                     "ticks_requested": state.ticks, "check_every": state.check})
    violation = None
    status = 0
    saved: list = []  # (path, seconds) of the checkpoints written
    start_tick = sim.tick

    def look_for_deadlocks(tick: int, bar=None) -> None:
        for d in deadlock.find_deadlocks(world):
            key = frozenset(w.task for w in d.cycle)
            if key in state.seen_cycles:
                continue
            state.seen_cycles.add(key)
            state.deadlocks.append((tick, d))
            msg = f"ecs-kernel sim: tick {tick}: {d}"
            (bar.write(msg, file=sys.stderr) if bar is not None else print(msg, file=sys.stderr))

    bar = tqdm(total=state.ticks, initial=sim.tick, unit="tick", file=sys.stderr,
               disable=args.no_progress, desc=name, dynamic_ncols=True, mininterval=0.5)
    t1 = time.perf_counter()
    try:
        while sim.tick < state.ticks:
            counters = sim.step()
            bar.update(1)
            if state.check and sim.tick % state.check == 0:
                state.checks += 1
                violation = invariants.check(world)
                if violation is not None:
                    status = EXIT_VIOLATION
                    break
                look_for_deadlocks(sim.tick, bar)
            if args.checkpoint_every and sim.tick % args.checkpoint_every == 0:
                path = os.path.join(args.checkpoint_to, checkpoint_name(sim.tick))
                t2 = time.perf_counter()
                try:
                    sim.checkpoint(path, state.to_extra())
                except OSError as e:
                    bar.close()
                    print(f"ecs-kernel sim: cannot write the checkpoint {path}: {e.strerror}",
                          file=sys.stderr)
                    status = EXIT_USAGE
                    break
                saved.append((path, time.perf_counter() - t2))
            if bar.n % 16 == 0:
                bar.set_postfix(alive=counters["tasks_alive"], blocked=counters["blocked"], refresh=False)
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    finally:
        bar.close()
    run_s = time.perf_counter() - t1 - sum(t for _, t in saved)
    if status not in (EXIT_INTERRUPTED, EXIT_USAGE):
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
            rec.plot(args.plot, title=f"{name}: {sim.tasks} tasks, seed {sim.seed}")
            written.append(args.plot)
    except OSError as e:
        print(f"ecs-kernel sim: cannot write {e.filename}: {e.strerror}", file=sys.stderr)
        status = status or EXIT_USAGE
    _summary(name, sim, state, rec, setup_s, setup_what, run_s, sim.tick - start_tick, violation,
             written, saved)
    if status == 0 and state.deadlocks:
        status = EXIT_DEADLOCK
    return status


def _summary(name, sim, state, rec, setup_s, setup_what, run_s, ran, violation, written,
             saved) -> None:
    totals = rec.totals()
    last = rec.last()
    rate = sim.tasks * ran / run_s if run_s > 0 else float("inf")
    out = [f"{name}: {sim.tasks} tasks, {rec.ticks} ticks, seed {sim.seed}",
           (f"  time        {setup_s:.2f} s {setup_what}, {run_s:.2f} s running {ran} ticks: "
            f"{rate:,.0f} task-ticks/s"),
           f"  memory      {sim.world.nbytes() / max(sim.tasks, 1):.0f} B per task (columns and indexes)",
           "  at the end  " + ", ".join(f"{k} {last[k]}" for k in
                                        ("tasks_alive", "running", "blocked", "stopped", "zombie")
                                        if k in last)]
    events = [k for k in rec.names if k not in ("running", "blocked", "stopped", "zombie", "tasks_alive")]
    out.append("  totals      " + ", ".join(f"{k} {totals[k]}" for k in events))
    if state.check:
        out.append(f"  checks      {state.checks} (every {state.check} ticks): "
                   + ("no violation" if violation is None else f"violation at tick {violation.tick}"))
    out.append(f"  deadlocks   {len(state.deadlocks)}" + "".join(
        f"\n    tick {tick}: {d}" for tick, d in state.deadlocks))
    if saved:
        size = os.path.getsize(saved[-1][0])
        out.append(f"  checkpoints {len(saved)}, the last {saved[-1][0]} ({size / max(sim.tasks, 1):.0f} "
                   f"B per task, saved in {saved[-1][1]:.2f} s)")
    if written:
        out.append("  wrote       " + ", ".join(written))
    print("\n".join(out))
