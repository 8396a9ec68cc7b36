"""The ``ecs-kernel`` command.

    ecs-kernel --version                                  print the version
    ecs-kernel                                            the version and a short usage (status 2)
    ecs-kernel lifecycle [--processes N] [--threads M]   create, exit and reap N processes of M threads
    ecs-kernel schedule                                   print the systems in tick order
    ecs-kernel components                                 print every component table and its columns

    ecs-kernel sim WORKLOAD --tasks N --ticks T ...       run a synthetic workload (cli_sim.py)
    ecs-kernel ps FILE [--pid N] [--json]                 list the tasks in a checkpoint (cli_checkpoint.py)
    ecs-kernel run [OPTIONS] -- PROGRAM [ARG...]          run a Linux program (cli_run.py)
    ecs-kernel serve [--socket PATH]                      keep the kernel loaded for run --server (cli_serve.py)
    ecs-kernel sweep WORKLOAD --seeds A..B --out F.jsonl  a simulation per seed and parameter (cli_sweep.py)
    ecs-kernel campaign MACHINE --runs N                  hypothesis state machines over many seeds (cli_campaign.py)
    ecs-kernel bench [NAME] [ARG...]                      the benchmarks (bench/), from anywhere

An option a command does not know is reported with that command's usage (status 2).
"""
from __future__ import annotations

import gc
import importlib
import os
import sys


def _import_numpy_with_one_blas_thread() -> None:
    """Import numpy with OpenBLAS limited to one thread, then put the environment back.

    numpy's wheel links OpenBLAS, which starts a thread per CPU and allocates a buffer for each
    when numpy is imported: ~70 ms of a ~0.3 s ``ecs-kernel run`` of a hello world on this 2-core
    machine (docs/measurements.md, start-up). The kernel never calls BLAS. The variable is
    removed again once numpy is loaded, so ``--inherit-env`` guests and child processes see the
    host's environment unchanged."""
    if "numpy" in sys.modules:
        return
    key = "OPENBLAS_NUM_THREADS"
    before = os.environ.get(key)
    os.environ[key] = "1"
    try:
        import numpy  # noqa: F401  (loaded now, while the variable is set)
    finally:
        if before is None:
            del os.environ[key]
        else:
            os.environ[key] = before


from . import __version__  # noqa: E402

# The source tree's bench/ (the wheel does not install it): `ecs-kernel bench NAME` runs
# bench/bench_NAME.py, without a NAME the suite (bench/__main__.py).
def _bench_dir():
    from pathlib import Path  # (the command line's start-up: `run --server` does without)
    return Path(__file__).resolve().parent.parent / "bench"


def _benchmarks() -> list[str]:
    return sorted(p.stem[len("bench_"):] for p in _bench_dir().glob("bench_*.py"))


def _lifecycle(args) -> int:
    from .sim.churn import fork_exit_churn
    fork_exit_churn(8, 2)  # load (or, on the first run ever, compile) the numba kernels
    r = fork_exit_churn(args.processes, args.threads, batch=not args.scalar)
    print(f"{r['processes']} processes x {r['threads']} threads = {r['tasks']} tasks "
          f"created, exited and reaped in one World ({r['mode']} path)")
    print(f"  clone      {r['clone_us']:8.2f} us per task")
    print(f"  exit       {r['exit_us']:8.2f} us per task")
    print(f"  wait       {r['wait_us']:8.2f} us per process reaped")
    print(f"  amortised  {r['amortised_us']:8.2f} us per operation")
    print(f"  memory     {r['columns_bytes_per_task']:8.0f} B per task (columns and indexes at the peak)")
    return 0


def _schedule(args) -> int:
    from .kernel import standard_schedule
    print(standard_schedule().describe())
    return 0


def _components(args) -> int:
    from .kernel import new_world
    w = new_world()
    for kind, table in w.tables.items():
        print(kind)
        for name, comp in table.components.items():
            cols = ", ".join(f"{c}:{spec.dtype if isinstance(spec.dtype, str) else spec.dtype.__name__}"
                             f"{list(spec.shape) if spec.shape else ''}" for c, spec in comp.columns.items())
            print(f"    {name:<24} {cols}")
    return 0


def _short_usage(sub) -> str:
    """What a bare ``ecs-kernel`` prints: the version, then each command and its help."""
    helps = {a.dest: a.help for a in getattr(sub, "_choices_actions", ())}  # argparse keeps them there
    width = max(map(len, sub.choices))
    lines = [f"ecs-kernel {__version__}: a data-oriented emulation of the core Linux kernel",
             "usage: ecs-kernel COMMAND [ARGS]  (ecs-kernel COMMAND --help: its options)", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {helps.get(name) or ''}".rstrip() for name in sub.choices]
    return "\n".join(lines) + "\n"


def _bench(args) -> int:
    """The benchmarks live beside the package in the source tree (bench/, which the wheel does
    not install): put that tree first on the path, so any working directory will do."""
    bench_dir = _bench_dir()
    if not (bench_dir / "__main__.py").is_file():
        print("ecs-kernel bench: the benchmarks come with the source tree (bench/), which this "
              "installation does not have: clone the repository and `pip install -e .`",
              file=sys.stderr)
        return 2
    sys.path.insert(0, str(bench_dir.parent))
    bench = importlib.import_module("bench")
    bench.INVOKED_AS = "ecs-kernel bench"
    rest = list(args.args)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if rest and rest[0] in _benchmarks():
        return importlib.import_module(f"bench.bench_{rest[0]}").main(rest[1:]) or 0
    return importlib.import_module("bench.__main__").main(rest)


def main(argv=None) -> int:
    # Start-up makes hundreds of thousands of objects that live as long as the process (modules,
    # classes, numpy's and Unicorn's tables): the cyclic collector, which would walk them again
    # and again while they are made, waits until the command's modules are loaded (~4% of the CPU
    # time of `ecs-kernel run` of a hello world), and for run and restore they are then frozen
    # out of its sight.
    given = sys.argv[1:] if argv is None else list(argv)
    if given[:1] == ["run"] and "--server" in given:  # a small client: no argparse, no numpy
        from .cli_serve import server_option_at
        at = server_option_at(given)
        if at is not None:
            return _run_on_server(given[1:at] + given[at + 1:])
    collecting = gc.isenabled()
    gc.disable()
    try:
        _import_numpy_with_one_blas_thread()
        args = _parse(given)
        if args.cmd in ("run", "restore"):
            from .cpu import task_run  # noqa: F401  (what the command loads)
            gc.freeze()
    finally:
        if collecting:
            gc.enable()
    if args.cmd is None:
        return 2
    if args.cmd == "run" and args.server:  # --server as argparse reads it (an abbreviation, ...)
        rest = given[1:]
        del rest[next(i for i, a in enumerate(rest) if len(a) > 3 and "--server".startswith(a))]
        return _run_on_server(rest)
    try:
        return args.fn(args)
    except BrokenPipeError:  # e.g. piped into head: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:  # Ctrl-C outside a guest's run (or again while it ends): no traceback
        print("ecs-kernel: interrupted", file=sys.stderr)
        return 130


def _run_on_server(args: list[str]) -> int:
    """``run --server``: the server's child parses ``run ARGS`` and runs it (cli_serve.py)."""
    from .cli_serve import run_client
    try:
        return run_client(args)
    except KeyboardInterrupt:
        return 130


def _before_serving() -> None:
    """What ``main`` does before a run, done once by ``ecs-kernel serve`` before its forks."""
    _import_numpy_with_one_blas_thread()
    _parse(["run", "--", "/bin/true"])  # argparse's and gettext's first-call work


# The commands cli_run.add_run_parser adds: given one of them first, only its parsers are built
# (argparse's help strings go through gettext, which looks up message catalogues at every call,
# and the other commands' modules are not imported: a few ms of every `ecs-kernel run`).
_RUN_COMMANDS = ("run", "restore", "syscalls")


_run_parsers = None  # (ap, sub) with run's parsers, built once (serve's children find them built)


def _top_parser():
    import argparse  # (the command line's start-up: `run --server` does without)
    ap = argparse.ArgumentParser(prog="ecs-kernel", description="A data-oriented emulation of the core Linux kernel.")
    ap.add_argument("--version", action="version", version=f"ecs-kernel {__version__}")
    return ap, ap.add_subparsers(dest="cmd", metavar="COMMAND")


def _parse(argv):
    """The command line's namespace (``cmd`` None: the short usage was printed)."""
    global _run_parsers
    import argparse
    given = sys.argv[1:] if argv is None else list(argv)
    if given[:1] and given[0] in _RUN_COMMANDS:
        if _run_parsers is None:
            from .cli_run import add_run_parser
            ap, sub = _top_parser()
            add_run_parser(sub)
            _run_parsers = (ap, sub)
        return _parse_args(*_run_parsers, given)
    ap, sub = _top_parser()
    if given[:1] == ["serve"]:
        from .cli_serve import add_serve_parser
        add_serve_parser(sub, main, _before_serving)
        return _parse_args(ap, sub, given)
    p = sub.add_parser("lifecycle",
                       help="create, exit and reap processes; print the cost per operation",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--processes", type=int, default=10_000, help="processes to create")
    p.add_argument("--threads", type=int, default=10, help="threads per process")
    p.add_argument("--scalar", action="store_true", help="one clone per call, one exit at a time")
    p.set_defaults(fn=_lifecycle)
    sub.add_parser("schedule", help="print the systems in tick order").set_defaults(fn=_schedule)
    sub.add_parser("components", help="print the component tables").set_defaults(fn=_components)
    from .cli_run import add_run_parser
    add_run_parser(sub)
    from .cli_serve import add_serve_parser
    add_serve_parser(sub, main, _before_serving)
    from .cli_sim import add_sim_parser
    add_sim_parser(sub)
    from .cli_explore import add_explore_parsers
    add_explore_parsers(sub)
    from .cli_checkpoint import add_ps_parser
    add_ps_parser(sub)
    from .cli_sweep import add_sweep_parser
    add_sweep_parser(sub)
    from .cli_campaign import add_campaign_parser
    add_campaign_parser(sub)
    b = sub.add_parser("bench", add_help=False, prefix_chars="\0",
                       help=f"the benchmark suite, or one of {', '.join(_benchmarks())} "
                            "(ARGs go to it: `ecs-kernel bench --help`)")
    b.add_argument("args", nargs=argparse.REMAINDER)
    b.set_defaults(fn=_bench)
    return _parse_args(ap, sub, given)


def _parse_args(ap, sub, argv):
    args, unknown = ap.parse_known_args(argv)
    if args.cmd is None:
        if unknown:
            ap.error(f"unrecognized arguments: {' '.join(unknown)}")
        sys.stderr.write(_short_usage(sub))
        return args
    if unknown:  # reported with the usage of the command they were given to
        sub.choices[args.cmd].error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "processes", 1) < 1 or getattr(args, "threads", 1) < 1:
        ap.error("--processes and --threads must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(main())
