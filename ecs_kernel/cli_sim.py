"""``ecs-kernel sim``: run a synthetic workload, record its per-tick counters, check invariants.

    ecs-kernel sim WORKLOAD --tasks N --ticks T [--seed S] [--out run.json|run.csv]
                   [--plot run.png] [--check K] [--no-progress]
                   [--checkpoint-every K --checkpoint-to DIR]
    ecs-kernel sim --resume FILE [--ticks T] [--out ...] [--plot ...] [--checkpoint-every ...]
    ecs-kernel sim WORKLOAD ... --shards N [--workers W | --cluster local|auto|HOST:PORT|ray://...]

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

``--shards N`` runs the simulation as N Worlds (cluster/shards.py, docs/sim.md, Sharding) with the
unsharded run's counters: in this process, on W local worker processes (``--workers W``) or on Ray
(``--cluster``, one actor per shard; ``ECS_KERNEL_CLUSTER`` when ``--cluster`` is not given). A
shard lost in the middle is reported with its tick; with ``--checkpoint-every`` the run starts
again from the last checkpoint (up to 3 times), else it stops with status 4. A sharded checkpoint
resumes sharded (``--resume FILE``, on the backend the flags name).

Exit status (``EXIT_STATUS``, which ``ecs-kernel sim --help`` prints): 0 when the run completed;
1 when ``--check`` found a broken invariant (the run stops there, its report on stderr, the ticks
recorded so far still written); 2 for bad arguments, a bad workload file (one line naming the file,
line and field), an ``--out``, ``--plot`` or ``--checkpoint-to`` that cannot be written (found
before the first tick: nothing is written), a checkpoint that cannot be resumed (missing, damaged,
not a simulation's: one line), a checkpoint that cannot be written, or ``--plot`` without
matplotlib; 3 when the run completed but tasks deadlocked on futexes (each cycle is on stderr and in
the summary); 4 when a shard was lost and there was no checkpoint to go on from (or it was lost
again and again); 130 when interrupted (Ctrl-C: the summary and the JSON file's meta say so, and what
was recorded is still written).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time

EXIT_VIOLATION = 1
EXIT_USAGE = 2
EXIT_DEADLOCK = 3
EXIT_SHARD_LOST = 4
RECOVERIES = 3  # a run's restarts from its last checkpoint after a lost shard
EXIT_INTERRUPTED = 130

#: (status, when), as ``sim --help`` lists them.
EXIT_STATUS = (
    (0, "the run completed"),
    (EXIT_VIOLATION, ("--check found a broken invariant: the run stopped there, its report is on "
                      "stderr, the ticks run so far are still written")),
    (EXIT_USAGE, ("bad arguments, a bad workload file, an --out, --plot or --checkpoint-to that "
                  "cannot be written (found before the first tick), a checkpoint that cannot be "
                  "resumed or written, or --plot without matplotlib")),
    (EXIT_DEADLOCK, ("the run completed but tasks deadlocked on futexes (each cycle is on stderr "
                     "and in the summary)")),
    (EXIT_SHARD_LOST, ("a shard was lost (its worker process or Ray actor died) and there was no "
                       "checkpoint to go on from, or it was lost more than 3 times")),
    (EXIT_INTERRUPTED, ("interrupted (Ctrl-C): the summary and the JSON meta say so, and the ticks "
                        "run so far are still written")),
)


def _exit_status_epilog(width: int = 78) -> str:
    lines = ["exit status:"]
    for status, when in EXIT_STATUS:
        lines += textwrap.wrap(when, width, initial_indent=f"  {status:<5}",
                               subsequent_indent=" " * 7)
    return "\n".join(lines)


def add_sim_parser(sub) -> None:
    p = sub.add_parser("sim", help="run a synthetic workload of many tasks and record its counters",
                       description="Run a synthetic workload (a shipped name or a .toml/.json file) "
                                   "and record per-tick counters.",
                       epilog=_exit_status_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
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
    p.add_argument("--shards", type=int, metavar="N",
                   help="run the simulation as N Worlds with the same counters (docs/sim.md, Sharding)")
    p.add_argument("--workers", type=int, metavar="W",
                   help="with --shards: host the shards on W local worker processes")
    p.add_argument("--cluster", metavar="ADDR",
                   help="with --shards: one Ray actor per shard; local (a private Ray on "
                        "127.0.0.1), auto, HOST:PORT or ray://HOST:PORT (default: "
                        "$ECS_KERNEL_CLUSTER)")
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


def _check_cluster(args) -> str | None:
    """The sharding flags: one line for a bad value."""
    if args.cluster is None and (args.shards or args.resume):
        args.cluster = os.environ.get("ECS_KERNEL_CLUSTER") or None
        args.cluster_from_env = args.cluster is not None
    if args.shards is not None and args.shards < 1:
        return "--shards must be at least 1"
    if args.workers is not None and args.workers < 1:
        return "--workers must be at least 1"
    if args.workers is not None and args.cluster is not None and not getattr(args, "cluster_from_env", False):
        return "--workers (local worker processes) and --cluster (Ray) exclude each other"
    if args.workers is not None:
        args.cluster = None
    if args.cluster is not None:
        c = args.cluster
        host, _, port = c.rpartition(":")
        if not (c in ("local", "auto") or c.startswith("ray://") and len(c) > 6
                or host and port.isdigit() and 0 < int(port) < 65536):
            return f"--cluster {c}: expected local, auto, HOST:PORT or ray://HOST:PORT"
    if not args.shards and not args.resume and (args.workers is not None
                                                or args.cluster is not None
                                                and not getattr(args, "cluster_from_env", False)):
        return "--workers and --cluster place shards: give --shards N too"
    return None


def _check_args(args) -> str | None:
    bad = _check_cluster(args)
    if bad:
        return bad
    if args.resume:
        given = [o for o, v in (("WORKLOAD", args.workload), ("--tasks", args.tasks),
                                ("--seed", args.seed), ("--check", args.check),
                                ("--shards", args.shards)) if v is not None]
        if given:
            return (f"--resume continues the checkpoint's workload, tasks, seed, checks and "
                    f"shards: drop {', '.join(given)}")
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
    return None


def unwritable(path: str) -> str | None:
    """Why a file cannot be written at ``path``, or None: checked before the first tick, so a
    long run does not end unable to save. Nothing is left behind: a file that does not exist yet
    is created and removed at once (the only test root cannot bypass: a read-only or virtual file
    system refuses it); an existing file is opened for appending, which changes nothing. A
    symbolic link is followed (the file it names is what will be written)."""
    if os.path.isdir(path):
        return "is a directory"
    path = os.path.realpath(path)
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        return f"no such directory {d}" if not os.path.exists(d) else f"{d} is not a directory"
    try:
        if os.path.exists(path):
            if os.path.isfile(path):
                os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
            elif not os.access(path, os.W_OK):  # a device or FIFO: opening one may block
                return "not writable"
        else:
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            except OSError as e:
                return f"cannot create a file in {d}: {e.strerror}"
            os.unlink(path)
    except OSError as e:
        return f"cannot write it: {e.strerror}"
    return None


def unwritable_dir(d: str) -> str | None:
    """Why files cannot be created in the directory ``d``, or None (a probe file is made and
    removed at once)."""
    try:
        fd, probe = tempfile.mkstemp(dir=d, prefix=".ecs-kernel-sim-probe-")
    except OSError as e:
        return f"cannot create a file there: {e.strerror}"
    os.close(fd)
    os.unlink(probe)
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
    for opt, path in (("--out", args.out), ("--plot", args.plot)):
        why = path and unwritable(path)
        if why:
            return _err(f"{opt} {path}: {why}")
    if args.checkpoint_to:
        try:
            os.makedirs(args.checkpoint_to, exist_ok=True)
        except OSError as e:
            return _err(f"--checkpoint-to {args.checkpoint_to}: {e.strerror}")
        why = unwritable_dir(args.checkpoint_to)
        if why:
            return _err(f"--checkpoint-to {args.checkpoint_to}: {why}")
    try:
        if args.resume:
            return resume_sim(args)
        try:
            workload = spec.load(args.workload)
        except spec.SpecError as e:
            return _err(str(e))
        if args.ticks is None:
            args.ticks = DEFAULTS["ticks"]
        if args.shards and (args.shards > 1 or args.workers or args.cluster):
            return run_sharded(workload, args)
        return run_sim(workload, args)
    except KeyboardInterrupt:  # a second Ctrl-C, while the outputs are written
        print("ecs-kernel sim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def checkpoint_name(tick: int) -> str:
    """The file ``--checkpoint-to DIR`` gets at ``tick`` (zero-padded: they sort by tick)."""
    return f"tick-{tick:06d}.ckpt"


class Timing:
    """Where a run's time went: setting up (or loading a checkpoint), numba making kernels ready
    (a :class:`~ecs_kernel.jit.options.JitClock`: compiling them on the first run on a machine,
    loading them from the disk cache on later ones) and running ticks. The rate leaves the first
    two out."""

    def __init__(self, what: str):
        from .jit.options import JitClock
        self.what = what  # "setup" or "loading tick N"
        self.jit = JitClock()
        self.setup_s = 0.0  # wall time of the setup, numba's part included
        self.setup_jit_s = 0.0
        self.run_s = 0.0  # wall time of the ticks, numba's part and checkpoint saves left out

    def describe(self, tasks: int, ran: int) -> str:
        parts = [f"{self.setup_s - self.setup_jit_s:.2f} s {self.what}"]
        jit_s = self.jit.now()
        if self.jit.compiled:
            parts.append(f"{jit_s:.2f} s compiling numba kernels (first run only: cached on disk)")
        elif jit_s >= 0.005:
            parts.append(f"{jit_s:.2f} s loading numba kernels")
        run = f"{self.run_s:.2f} s running {ran} ticks"
        if ran and self.run_s > 0:
            run += f": {tasks * ran / self.run_s:,.0f} task-ticks/s"
        return ", ".join(parts + [run])


def _interrupted_in_setup() -> int:
    print("ecs-kernel sim: interrupted before the first tick (nothing written)", file=sys.stderr)
    return EXIT_INTERRUPTED


def run_sim(workload, args) -> int:
    from .sim import invariants
    from .sim.engine import Simulation

    name = getattr(workload, "name", None) or str(args.workload)
    timing = Timing("setup")
    with timing.jit:
        t0 = time.perf_counter()
        try:
            sim = Simulation(workload, args.tasks, args.seed)
            if args.check:
                invariants.install(sim.world)
        except KeyboardInterrupt:
            return _interrupted_in_setup()
        timing.setup_s, timing.setup_jit_s = time.perf_counter() - t0, timing.jit.now()
        return _run(sim, RunState(name, args.ticks, args.check), args, timing)


def run_sharded(workload, args) -> int:
    from .cluster.shards import ShardedSimulation

    name = getattr(workload, "name", None) or str(args.workload)
    timing = Timing("setup")
    with timing.jit:
        t0 = time.perf_counter()
        try:
            sim = ShardedSimulation(workload, args.tasks, args.seed, args.shards,
                                    workers=args.workers or 0, cluster=args.cluster,
                                    check_every=args.check)
        except (ValueError, RuntimeError) as e:  # not shardable, too few processes, no Ray
            return _err(str(e))
        except KeyboardInterrupt:
            return _interrupted_in_setup()
        with sim:
            timing.setup_s, timing.setup_jit_s = time.perf_counter() - t0, timing.jit.now()
            return _run_sharded(sim, RunState(name, args.ticks, args.check), args, timing)


def resume_sim(args) -> int:
    from . import checkpoint_file
    from .checkpoint_file import CheckpointError
    from .cluster.shards import CHECKPOINT_KIND as SHARDED, ShardedSimulation
    from .sim.engine import Simulation

    timing = Timing("loading")
    with timing.jit:
        t0 = time.perf_counter()
        try:
            meta, arrays = checkpoint_file.read(args.resume)
            sharded = isinstance(meta, dict) and meta.get("kind") == SHARDED
            if not sharded and (args.workers or args.cluster and not getattr(args, "cluster_from_env", False)):
                return _err(f"{args.resume} is not sharded: --workers and --cluster place shards")
            if sharded:
                sim = ShardedSimulation.from_state(meta, arrays, workers=args.workers or 0,
                                                   cluster=args.cluster)
                sim.last_checkpoint = args.resume
            else:
                sim = Simulation.from_state(meta, arrays)
            del meta, arrays
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
        except (RuntimeError, ValueError) as e:  # Ray missing or unreachable
            return _err(f"cannot resume {args.resume}: {e}")
        except KeyboardInterrupt:
            return _interrupted_in_setup()
        timing.setup_s, timing.setup_jit_s = time.perf_counter() - t0, timing.jit.now()
        timing.what = f"loading tick {sim.tick}"
        if args.ticks is not None:
            if args.ticks < sim.tick:
                return _err(f"--ticks {args.ticks} is before the checkpoint's tick {sim.tick} "
                            f"(--ticks is the run's total)")
            state.ticks = args.ticks
        args.tasks, args.seed, args.check = sim.tasks, sim.seed, state.check
        if sharded:
            with sim:
                return _run_sharded(sim, state, args, timing)
        return _run(sim, state, args, timing)


def _bar_postfix(gauges) -> str:
    # plain integers: tqdm's set_postfix would print 100000 as 1e+5
    return f"alive={gauges['tasks_alive']}, blocked={gauges['blocked']}"


def _run(sim, state: RunState, args, timing: Timing) -> int:
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
    start_tick = rec.ticks
    unsaved = None  # why a checkpoint could not be written
    try:  # what "at the end" is if no tick completes: the tasks the simulation created
        at_start = sim.gauges() if rec.ticks == 0 else rec.last()
    except KeyboardInterrupt:
        return _interrupted_in_setup()

    def look_for_deadlocks(tick: int, bar=None) -> None:
        for d in deadlock.find_deadlocks(world):
            key = frozenset(w.task for w in d.cycle)
            if key in state.seen_cycles:
                continue
            state.seen_cycles.add(key)
            state.deadlocks.append((tick, d))
            msg = f"ecs-kernel sim: tick {tick}: {d}"
            (bar.write(msg, file=sys.stderr) if bar is not None else print(msg, file=sys.stderr))

    shown = [name]  # the bar's description: the name, or that numba is compiling

    def on_compile() -> None:  # numba compiles inside a tick: say so until the tick ends
        if shown[0] == name:
            shown[0] = f"{name} (compiling numba kernels)"
            bar.set_description(shown[0], refresh=True)
    t1, jit1 = time.perf_counter(), timing.jit.now()
    bar = None
    try:  # (from the bar's first drawing on: a Ctrl-C the moment it shows lands here too)
        bar = tqdm(total=state.ticks, initial=sim.tick, unit="tick", file=sys.stderr,
                   disable=args.no_progress, desc=name, dynamic_ncols=True, mininterval=0.5,
                   postfix=_bar_postfix(at_start))
        if not args.no_progress:
            timing.jit.on_compile = on_compile
        while sim.tick < state.ticks:
            counters = sim.step()
            bar.set_postfix_str(_bar_postfix(counters), refresh=False)
            if shown[0] != name:
                shown[0] = name
                bar.set_description(name, refresh=False)
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
                t2, jit2 = time.perf_counter(), timing.jit.now()
                try:
                    sim.checkpoint(path, state.to_extra())
                except OSError as e:
                    unsaved = f"ecs-kernel sim: cannot write the checkpoint {path}: {e.strerror}"
                    status = EXIT_USAGE
                    break
                saved.append((path, time.perf_counter() - t2 - (timing.jit.now() - jit2)))
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    finally:
        timing.jit.on_compile = None
        if bar is not None and not bar.disable:  # the last bar shows what the summary does
            bar.set_description(name, refresh=False)
            bar.set_postfix_str(_bar_postfix(rec.last() if rec.ticks else at_start), refresh=False)
            bar.n = rec.ticks  # a Ctrl-C can land between a tick's end and the bar's update
        if bar is not None:
            bar.close()
    if unsaved:
        print(unsaved, file=sys.stderr)
    timing.run_s = (time.perf_counter() - t1 - (timing.jit.now() - jit1)
                    - sum(t for _, t in saved))
    if status not in (EXIT_INTERRUPTED, EXIT_USAGE):
        look_for_deadlocks(sim.tick)
    rec.meta["ticks"] = rec.ticks
    rec.meta["interrupted"] = status == EXIT_INTERRUPTED
    if violation is not None:
        print(f"ecs-kernel sim: stopped: {violation}", file=sys.stderr)
    if status == EXIT_INTERRUPTED:
        print(f"ecs-kernel sim: interrupted at tick {rec.ticks} of {state.ticks}", file=sys.stderr)
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
    _summary(name, sim, state, rec, timing, rec.ticks - start_tick, violation, written, saved,
             status == EXIT_INTERRUPTED, rec.last() if rec.ticks else at_start)
    if status == 0 and state.deadlocks:
        status = EXIT_DEADLOCK
    return status


def _run_sharded(sim, state: RunState, args, timing: Timing) -> int:
    """``_run`` for a ShardedSimulation: the invariant checks run inside the shards (a violation
    is a SanityError from the shard), futex workloads cannot be sharded (no deadlock pass), and a
    lost shard goes back to the last checkpoint, if there is one."""
    from tqdm import tqdm

    from .cluster.shards import ShardLost
    from .schedule import SanityError

    name = state.name
    rec = sim.history
    rec.meta.update({"workload": name, "tasks": sim.tasks, "seed": sim.seed,
                     "ticks_requested": state.ticks, "check_every": state.check,
                     "shards": sim.shards})
    violation = None
    status = 0
    saved: list = []
    lost: list = []  # (ShardLost, the tick the run went back to)
    start_tick = rec.ticks
    unsaved = None
    try:
        at_start = sim.gauges() if rec.ticks == 0 else rec.last()
    except KeyboardInterrupt:
        return _interrupted_in_setup()
    except ShardLost as e:
        print(f"ecs-kernel sim: {e}", file=sys.stderr)
        return EXIT_SHARD_LOST
    t1, jit1 = time.perf_counter(), timing.jit.now()
    every = args.checkpoint_every or 0
    bar = None
    try:  # (from the bar's first drawing on, as in _run)
        bar = tqdm(total=state.ticks, initial=sim.tick, unit="tick", file=sys.stderr,
                   disable=args.no_progress, desc=name, dynamic_ncols=True, mininterval=0.5,
                   postfix=_bar_postfix(at_start))
        while sim.tick < state.ticks:
            nxt = sim.tick + 1
            more = nxt < state.ticks and not (every and nxt % every == 0)
            try:
                counters = sim.step(more=more)
                bar.set_postfix_str(_bar_postfix(counters), refresh=False)
                bar.update(1)
                if state.check and sim.tick % state.check == 0:
                    state.checks += 1
                if every and sim.tick % every == 0:
                    path = os.path.join(args.checkpoint_to, checkpoint_name(sim.tick))
                    t2, jit2 = time.perf_counter(), timing.jit.now()
                    try:
                        sim.checkpoint(path, state.to_extra())
                    except OSError as e:
                        unsaved = f"ecs-kernel sim: cannot write the checkpoint {path}: {e.strerror}"
                        status = EXIT_USAGE
                        break
                    saved.append((path, time.perf_counter() - t2 - (timing.jit.now() - jit2)))
            except ShardLost as e:  # in a tick or while saving one
                if sim.last_checkpoint is None or len(lost) >= RECOVERIES:
                    why = "no checkpoint to go on from" if sim.last_checkpoint is None else \
                        f"lost {len(lost) + 1} times"
                    bar.write(f"ecs-kernel sim: {e} ({why})", file=sys.stderr)
                    status = EXIT_SHARD_LOST
                    break
                back = sim.recover()
                lost.append((e, back))
                rec = sim.history
                bar.write(f"ecs-kernel sim: {e}; going on from tick {back} "
                          f"({sim.last_checkpoint})", file=sys.stderr)
                bar.n = back
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    except SanityError as e:
        violation = getattr(e, "violation", None)
        print(f"ecs-kernel sim: stopped: {e}", file=sys.stderr)
        state.checks += 1
        status = EXIT_VIOLATION
    finally:
        if bar is not None and not bar.disable:
            bar.set_postfix_str(_bar_postfix(rec.last() if rec.ticks else at_start), refresh=False)
            bar.n = rec.ticks
        if bar is not None:
            bar.close()
    rec = sim.history
    if unsaved:
        print(unsaved, file=sys.stderr)
    timing.run_s = (time.perf_counter() - t1 - (timing.jit.now() - jit1)
                    - sum(t for _, t in saved))
    rec.meta.update({"workload": name, "tasks": sim.tasks, "seed": sim.seed,
                     "ticks_requested": state.ticks, "check_every": state.check,
                     "shards": sim.shards, "ticks": rec.ticks,
                     "interrupted": status == EXIT_INTERRUPTED})
    if status == EXIT_INTERRUPTED:
        print(f"ecs-kernel sim: interrupted at tick {rec.ticks} of {state.ticks}", file=sys.stderr)
    written = []
    try:
        if args.out:
            rec.write(args.out)
            written.append(args.out)
        if args.plot:
            rec.plot(args.plot, title=f"{name}: {sim.tasks} tasks, seed {sim.seed}, {sim.shards} shards")
            written.append(args.plot)
    except OSError as e:
        print(f"ecs-kernel sim: cannot write {e.filename}: {e.strerror}", file=sys.stderr)
        status = status or EXIT_USAGE
    try:
        nbytes = sim.nbytes() if status != EXIT_SHARD_LOST else None
    except (ShardLost, KeyboardInterrupt):
        nbytes = None
    moved = sim.moved[start_tick:] if len(sim.moved) > start_tick else sim.moved
    where = {"in-process": "in this process", "process pool": f"on {len(sim.hosts.assign)} worker "
             "processes", "Ray": f"on Ray ({len(sim.hosts.assign)} actors)"}.get(sim.backend, sim.backend)
    shard_line = (f"  shards      {sim.shards} {where}: "
                  f"{(sum(moved) / len(moved)) if moved else 0:,.0f} B of mail between shards per tick"
                  + "".join(f"; shard {e.shard} lost at tick {e.tick}, went on from tick {b}"
                            for e, b in lost))
    _summary(name, sim, state, rec, timing, rec.ticks - start_tick, violation, written, saved,
             status == EXIT_INTERRUPTED, rec.last() if rec.ticks else at_start,
             nbytes=nbytes, extra=[shard_line])
    return status


def _summary(name, sim, state, rec, timing, ran, violation, written, saved, interrupted,
             last, nbytes: int | None = -1, extra=()) -> None:
    totals = rec.totals()
    ticks = f"{rec.ticks} of {state.ticks} ticks (interrupted)" if interrupted else f"{rec.ticks} ticks"
    out = [f"{name}: {sim.tasks} tasks, {ticks}, seed {sim.seed}",
           f"  time        {timing.describe(sim.tasks, ran)}",
           f"  memory      {(sim.world.nbytes() if nbytes == -1 else nbytes or 0) / max(sim.tasks, 1):.0f} "
           "B per task (columns and indexes)",
           "  at the end  " + ", ".join(f"{k} {last[k]}" for k in
                                        ("tasks_alive", "running", "blocked", "stopped", "zombie")
                                        if k in last)]
    events = [k for k in rec.names if k not in ("running", "blocked", "stopped", "zombie", "tasks_alive")]
    out.append("  totals      " + ", ".join(f"{k} {totals[k]}" for k in events))
    if state.check:
        out.append(f"  checks      {state.checks} (every {state.check} ticks): "
                   + ("no violation" if violation is None else f"violation at tick {violation.tick}"))
    out.extend(extra)
    out.append(f"  deadlocks   {len(state.deadlocks)}" + "".join(
        f"\n    tick {tick}: {d}" for tick, d in state.deadlocks))
    if saved:
        size = os.path.getsize(saved[-1][0])
        out.append(f"  checkpoints {len(saved)}, the last {saved[-1][0]} ({size / max(sim.tasks, 1):.0f} "
                   f"B per task, saved in {saved[-1][1]:.2f} s)")
    if written:
        out.append("  wrote       " + ", ".join(written))
    print("\n".join(out))
