"""``ecs-kernel run`` and ``ecs-kernel syscalls``.

    ecs-kernel run [--root DIR] [--cwd DIR] [--env K=V]... [--inherit-env]
                   [--strace] [-e trace=SET] [-t|-tt|-ttt] [-o FILE]
                   [--cpus N] [--no-fast-path] [--deterministic [--seed N]] [--checkpoint-at TICK]
                   [--checkpoint-on SIG] [--checkpoint-to FILE] [--leave-running] -- PROGRAM [ARG...]
    ecs-kernel restore [--strace ...] [--checkpoint-at TICK --checkpoint-to FILE [--leave-running]] FILE
    ecs-kernel syscalls [--format text|markdown|json]

``run`` follows DESIGN.md's contract: PROGRAM is a path inside the root (default the host's /),
argv is exactly PROGRAM ARG..., the guest environment is exactly the ``--env`` pairs (or the
host's with ``--inherit-env``), the host's stdin/stdout/stderr are fds 0-2, nothing on the host is
written, and the exit status is the guest's, 128+N when signal N killed it, 127 when PROGRAM does
not exist and 126 when it cannot be executed (one line on stderr, like a shell). Signals sent to
ecs-kernel go to the guest's foreground job (cpu/host_signals.py).

A PROGRAM without a ``/`` is looked up in the guest's PATH (its environment's, else
``/usr/local/bin:/usr/bin:/bin``) inside the root, as env(1), sudo and runsc do; argv[0] stays as
given. The guest starts in ``--cwd``, by default in the host's working directory when that lies
inside the root (as qemu-user does) and the guest has it, else in /. ``--cpus N`` is how many CPUs
the kernel models (default: the CPUs this process may run on, at most 64; 2 with
``--deterministic``).

``--strace`` prints every syscall of every task as ``strace -f`` does (syscalls/strace.py), on
stderr; strace's own options choose what and how, and each of them turns ``--strace`` on:
``-e trace=SET`` (names and classes: ``-e trace=%file,%process``), ``-t``/``-tt``/``-ttt``
(timestamps) and ``-o FILE`` (the trace goes to FILE, every line starting with the pid).

``--checkpoint-at TICK --checkpoint-to FILE`` saves the whole run (cpu/checkpoint.py) at the start of
kernel tick TICK and stops (status 0; 1 if it could not be saved, with the reason on stderr);
``--checkpoint-on SIG`` saves when the host sends SIG to ecs-kernel (the guest does not get it);
``--leave-running`` goes on. ``restore FILE`` continues it: the program's output before the
checkpoint followed by its output after equals an uninterrupted run's, and the exit status is the
program's. A damaged, truncated or forged file gets one line on stderr and status 2, before
anything runs.
"""
from __future__ import annotations

import argparse
import os
import sys
from functools import partial

from .abi import MAX_CPUS

EXIT_NOT_FOUND = 127
EXIT_CANNOT_EXEC = 126
EXIT_INTERNAL = 70  # EX_SOFTWARE: an internal error of the emulator
EXIT_CHECKPOINT_FAILED = 1  # --checkpoint-to could not be written (one line on stderr says why)
EXIT_BAD_CHECKPOINT = 2  # restore/ps of a file that is not a sound checkpoint
EXIT_DEADLOCK = 3  # a deterministic run in which every task waits on another (as sim's)
# Tiering of the command (a fresh process per guest): numba costs ~0.5 s to import and load, more
# than a short program's whole run. Kernels run interpreted for their first KERNEL_CALLS_INTERPRETED
# calls, syscalls take the Python hook until FAST_PATH_AFTER calls of the kinds the compiled hook
# answers were made (a read-heavy program never loads it: cpu/platform.py _counting_hook), and
# Unicorn's TLB misses the Python fill hook for the first TLB_FILLS_BEFORE_COMPILE (~2-3 us each;
# `python3 -c pass` makes ~16,000); whichever runs out first loads numba, and from then on kernels
# and the TLB-fill hook are compiled (the syscall hook at its own count). The bounds keep the
# interpreted detour under ~0.1 s; KERNEL_SECONDS_INTERPRETED bounds the kernels' interpreted
# time itself, which a count of calls does not when each call walks every task row (300
# threads: ~0.7 ms of interpreted kernels a tick).
KERNEL_CALLS_INTERPRETED = 20_000
KERNEL_SECONDS_INTERPRETED = 0.2
FAST_PATH_AFTER = 10_000
TLB_FILLS_BEFORE_COMPILE = 40_000


def _memory_size(text: str) -> int:
    from .cpu.host_limits import MIN_MEMORY, parse_size
    try:
        n = parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 512M, 2G)") from None
    if n < MIN_MEMORY:
        raise argparse.ArgumentTypeError(f"at least {MIN_MEMORY >> 20}M (ecs-kernel's own needs)")
    return n


def _pids_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 2 <= n <= 1 << 22:
        raise argparse.ArgumentTypeError("from 2 to 4194304")
    return n


def add_run_parser(sub) -> None:
    p = sub.add_parser("run", help="run a Linux x86-64 program on the emulated kernel")
    p.add_argument("--root", default="/", help="the guest's / (read-only; default: the host's /)")
    p.add_argument("--cwd", default=None,
                   help="the guest's working directory (a guest path; default: the host's working "
                        "directory if it lies inside the root, else /)")
    p.add_argument("--env", action="append", default=[], metavar="K=V", type=_env_pair,
                   help="an environment variable of the guest (repeatable)")
    p.add_argument("--inherit-env", action="store_true", help="give the guest the host's environment")
    p.add_argument("--cpus", type=_cpu_count, default=None, metavar="N",
                   help=f"CPUs the kernel models, 1..{MAX_CPUS} (default: the CPUs this process "
                        f"may run on; {DETERMINISTIC_CPUS} with --deterministic)")
    add_strace_args(p)
    p.add_argument("--no-fast-path", dest="fast_path", action="store_false",
                   help="handle every syscall in Python (no compiled syscall hook)")
    p.add_argument("--seed", type=int, default=None, help="seed of the guest's random numbers")
    p.add_argument("--deterministic", action="store_true",
                   help="the same --seed gives the same run: virtual time, seeded randomness and "
                        "scheduling, nothing from the host but the program's input")
    p.add_argument("--record", metavar="FILE",
                   help="with --deterministic: keep the run's host input (the files it read from "
                        "the root, its stdin) in FILE, which `ecs-kernel replay FILE` runs again "
                        "exactly, on another machine too")
    p.add_argument("--memory", metavar="SIZE", type=_memory_size, default=None,
                   help="memory ecs-kernel may hold for the guests, itself included (512M, 4G; "
                        "default: half the host's RAM, at most what is available less 1 GiB): "
                        "past it mmap/brk/fork fail with ENOMEM and the process holding the "
                        "most is killed (SIGKILL), as under a memory cgroup")
    p.add_argument("--pids", metavar="N", type=_pids_count, default=None,
                   help="tasks (threads included) the guests may have; fork and clone past it "
                        "fail with EAGAIN, as under a pids cgroup (default: 1024)")
    _checkpoint_args(p)
    p.add_argument("--server", action="store_true",
                   help="run in a fork of a running `ecs-kernel serve` (warm start-up; cli_serve.py)")
    p.add_argument("program", help="the program (a path inside the root)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    p.set_defaults(fn=_run_cmd)
    r = sub.add_parser("restore", help="continue a program from a checkpoint file",
                       description="Continue a program saved by run --checkpoint-to, with run's "
                                   "stdio conventions and exit status.")
    add_strace_args(r)
    _checkpoint_args(r)
    r.add_argument("file", help="a checkpoint written by run --checkpoint-to")
    r.set_defaults(fn=_restore_cmd)
    s = sub.add_parser("syscalls", help="print the syscall table with support levels")
    s.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    s.set_defaults(fn=_syscalls_cmd)


def _env_pair(kv: str) -> str:
    """``--env K=V``: K must be a non-empty name."""
    key, eq, _ = kv.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"{kv!r} is not K=V")
    return kv


def _cpu_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_CPUS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of CPUs in 1..{MAX_CPUS}")
    return n


DETERMINISTIC_CPUS = 2  # what a deterministic run models without --cpus (not the host's count)


def host_cpus() -> int:
    """The CPUs the kernel models by default: those this process may run on (what nproc says
    natively), at most MAX_CPUS."""
    return max(1, min(len(os.sched_getaffinity(0)), MAX_CPUS))


def default_cwd(root: str) -> str:
    """The guest path of the host's working directory when it lies inside ``root``, else /."""
    try:
        here = os.getcwd()
    except OSError:  # removed meanwhile
        return "/"
    rel = os.path.relpath(here, os.path.realpath(root))
    if rel == "." or rel == ".." or rel.startswith("../"):
        return "/"
    return "/" + rel


def add_strace_args(p) -> None:
    g = p.add_argument_group("strace", "--strace and strace's options (each turns --strace on)")
    g.add_argument("--strace", action="store_true",
                   help="print each syscall of every task to stderr, as strace -f does (every "
                        "syscall then takes the Python path)")
    g.add_argument("-e", dest="strace_expr", metavar="trace=SET",
                   help="trace only these syscalls: names, classes (%%file, %%process, "
                        "%%network, %%signal, %%ipc, %%desc, %%memory, %%creds, %%clock, ...), "
                        "/REGEX; ! in front inverts")
    g.add_argument("-t", dest="strace_time", action="count", default=0,
                   help="print the time of day (-tt: with microseconds, -ttt: seconds since "
                        "the epoch)")
    g.add_argument("-o", dest="strace_out", metavar="FILE",
                   help="write the trace to FILE (each line starts with the pid)")


def strace_from_args(args):
    """The Strace the options ask for (None without them), or a str for a usage error."""
    if not (args.strace or args.strace_expr is not None or args.strace_time
            or args.strace_out is not None):
        return None
    from .syscalls.strace import Strace, TraceExprError, parse_trace  # (only a traced run's)
    trace = None
    if args.strace_expr is not None:
        try:
            trace = parse_trace(args.strace_expr)
        except TraceExprError as e:
            return f"-e {args.strace_expr}: {e}"
    out, to_file = sys.stderr, False
    if args.strace_out is not None:
        try:
            out = open(args.strace_out, "w")
        except OSError as e:
            return f"-o {args.strace_out}: {e.strerror}"
        to_file = True
    return Strace(out, trace=trace, timestamps=min(args.strace_time, 3), to_file=to_file,
                  owns_out=to_file)


def _checkpoint_args(p) -> None:
    p.add_argument("--checkpoint-at", type=int, metavar="TICK",
                   help="save the run at the start of kernel tick TICK (1 ms of kernel time each) "
                        "and stop")
    p.add_argument("--checkpoint-on", metavar="SIGNAL",
                   help="save the run when ecs-kernel gets SIGNAL (e.g. USR1; not forwarded to "
                        "the guest), and stop")
    p.add_argument("--checkpoint-to", metavar="FILE",
                   help="where --checkpoint-at and --checkpoint-on save")
    p.add_argument("--leave-running", action="store_true",
                   help="go on running after a checkpoint is saved (each signal saves again)")


def _signal_number(name: str) -> int | None:
    import signal as _signal
    n = name.upper()
    n = n if n.startswith("SIG") else f"SIG{n}"
    sig = getattr(_signal.Signals, n, None) if n.isidentifier() else None
    if sig is None and name.isdigit():
        try:
            sig = _signal.Signals(int(name))
        except ValueError:
            sig = None
    if sig is None or sig in (_signal.SIGKILL, _signal.SIGSTOP):
        return None
    return int(sig)


def _checkpoint_opt(args, cmd: str):
    """``(tick, path, leave_running, signo)`` from the options (tick or signo may be None), None
    without them; a str for a usage error."""
    at, on, to = args.checkpoint_at, args.checkpoint_on, args.checkpoint_to
    if at is None and on is None and to is None:
        return "--leave-running needs --checkpoint-at or --checkpoint-on" if args.leave_running else None
    if to is None or (at is None and on is None):
        return "--checkpoint-to goes with --checkpoint-at or --checkpoint-on"
    if at is not None and at < 0:
        return "--checkpoint-at must be a tick number (0 or more)"
    signo = None
    if on is not None:
        signo = _signal_number(on)
        if signo is None:
            return f"--checkpoint-on {on}: not a signal that can be caught"
    return (at, to, args.leave_running, signo)


def _restore_cmd(args) -> int:
    from .checkpoint_file import CheckpointError
    from .cpu import checkpoint as guest_checkpoint
    ck = _checkpoint_opt(args, "restore")
    if isinstance(ck, str):
        print(f"ecs-kernel restore: {ck}", file=sys.stderr)
        return 2
    strace = strace_from_args(args)
    if isinstance(strace, str):
        print(f"ecs-kernel restore: {strace}", file=sys.stderr)
        return 2
    from .jit.options import interpret_first
    interpret_first(KERNEL_CALLS_INTERPRETED, KERNEL_SECONDS_INTERPRETED)
    try:
        machine = guest_checkpoint.load(args.file, strace=strace)
    except CheckpointError as e:
        print(f"ecs-kernel restore: {args.file}: {e}", file=sys.stderr)
        return EXIT_BAD_CHECKPOINT
    except OSError as e:
        print(f"ecs-kernel restore: {args.file}: {e.strerror}", file=sys.stderr)
        return EXIT_BAD_CHECKPOINT
    return drive(machine, checkpoint=ck)


def _syscalls_cmd(args) -> int:
    from .syscalls.table import render
    sys.stdout.write(render(args.format))
    return 0


def _run_cmd(args) -> int:
    env = []
    if args.inherit_env:
        env = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in os.environ.items()]
    env += [os.fsencode(kv) for kv in args.env]
    rest = list(args.args)
    if rest and rest[0] == "--":
        rest = rest[1:]
    ck = _checkpoint_opt(args, "run")
    if isinstance(ck, str):
        print(f"ecs-kernel run: {ck}", file=sys.stderr)
        return 2
    recorder = None
    if args.record is not None:
        problem = _record_problem(args)
        if problem:
            print(f"ecs-kernel run: {problem}", file=sys.stderr)
            return 2
        from .fs.host_view import Recorder
        recorder = Recorder()
        if args.cwd is None:  # the replay must start where this run did, on any machine
            args.cwd = default_cwd(args.root)
    strace = strace_from_args(args)
    if isinstance(strace, str):
        print(f"ecs-kernel run: {strace}", file=sys.stderr)
        return 2
    from .jit.options import interpret_first
    from .cpu import host_limits
    interpret_first(KERNEL_CALLS_INTERPRETED, KERNEL_SECONDS_INTERPRETED)
    pids = args.pids if args.pids is not None else host_limits.DEFAULT_PIDS
    # the guest starts with our limits, as a native child would (a deterministic run, a
    # function of its input, with Linux's boot ones)
    limits = None if args.deterministic else host_limits.host_rlimits(pids)
    # and the host's socket buffer limits (net.core.[wr]mem_max)
    sysctls = None if args.deterministic else host_limits.host_net_buffer_limits()
    host_limits.host_process_limits()
    memory = args.memory if args.memory is not None else host_limits.default_memory()
    status = run(args.program, [args.program] + rest, env, root=args.root, cwd=args.cwd,
                 cpus=args.cpus, strace=strace, seed=args.seed, memory=memory, pids=pids,
                 fast_path=args.fast_path, fast_path_after=FAST_PATH_AFTER, checkpoint=ck,
                 deterministic=args.deterministic, host=recorder, rlimits=limits,
                 sysctls=sysctls)
    if recorder is not None:
        from . import replay_file
        envd = dict(os.fsdecode(kv).partition("=")[::2] for kv in env)
        prog = replay_file.Program([args.program] + rest, envd, args.root, args.cwd,
                                   0 if args.seed is None else args.seed)
        try:
            replay_file.save(args.record, prog, status=status, cpus=args.cpus, recorder=recorder)
        except OSError as e:
            print(f"ecs-kernel run: --record {args.record}: {e.strerror}", file=sys.stderr)
            return EXIT_CHECKPOINT_FAILED if status == 0 else status
    return status


def _record_problem(args) -> str | None:
    """Why ``--record`` cannot be honoured (checked before the run), or None."""
    if not args.deterministic:
        return "--record needs --deterministic (only a deterministic run can be replayed)"
    if args.checkpoint_at is not None or args.checkpoint_on is not None:
        return "--record and --checkpoint-at/--checkpoint-on cannot be combined"
    path = os.path.abspath(args.record)
    if os.path.isdir(path):
        return f"--record {args.record}: is a directory"
    if not os.access(os.path.dirname(path), os.W_OK):
        return f"--record {args.record}: cannot write in {os.path.dirname(path)}"
    return None


def _host_stdio(fd: int):
    from . import abi
    from .fs import host_view
    from .fs.stdio import HostStdioFile
    try:
        fl = host_view.current().fd_flags(fd)
    except OSError:
        return None
    acc = fl & os.O_ACCMODE
    flags = {os.O_RDONLY: abi.O_RDONLY, os.O_WRONLY: abi.O_WRONLY}.get(acc, abi.O_RDWR)
    if fl & os.O_APPEND:
        flags |= abi.O_APPEND
    return HostStdioFile(fd, flags, f"host fd {fd}")


def exit_code(status: int) -> int:
    """A wait status as a shell's ``$?``."""
    if status & 0x7F:
        return 128 + (status & 0x7F)
    return (status >> 8) & 0xFF


def run(program, argv, envp, *, host=None, stdio=(0, 1, 2), **kw) -> int:
    """Run ``program`` in a fresh Kernel; return the shell-style exit status (:func:`_run` has
    the options). ``host``: what answers for the host's files and stdio (fs/host_view.py: a
    Recorder keeps the run's host input, a Replayer serves a recorded one; default the host)."""
    from .fs import host_view
    with host_view.using(host) as view:
        view.bind_stdio(stdio)
        return _run(program, argv, envp, stdio=stdio, **kw)


def _run(program, argv, envp, *, root: str = "/", cwd: str | None = "/", strace=None, seed=None,
         stdio=(0, 1, 2), strict: bool = False, stderr=None, report=None,
         timeout: float | None = None, fast_path: bool = True, fast_path_after: int = 0,
         stop_at=None, clock=None, checkpoint=None, deterministic: bool = False,
         scheduler=None, cpus: int | None = None, memory: int | None = None,
         pids: int | None = None, rlimits=None, sysctls: dict | None = None) -> int:
    """Run ``program`` in a fresh Kernel; return the shell-style exit status.

    ``program`` without a ``/`` is looked up in the guest's PATH (:func:`find_program`).
    ``cwd=None``: the host's working directory if the guest has it (:func:`default_cwd`), else /.
    ``cpus``: the CPUs the kernel models (default :func:`host_cpus`; DETERMINISTIC_CPUS in a
    deterministic run, whose guest sees nothing of the host).
    ``stdio`` are the host fds shown as guest fds 0-2. ``strict`` re-raises kernel bugs (tests).
    ``report``, if given, is called with the Machine after the run (counters, tests).
    ``timeout`` (seconds): after it the guest is killed with SIGKILL (status 137).
    ``fast_path=False`` handles every syscall in Python (``--no-fast-path``); with
    ``fast_path_after=N`` the first N syscalls do, then the compiled hook is installed.
    ``stop_at=(until, visit)``: the first time ``until(machine)`` is true between two turns of
    the run loop, the run stops, ``visit(machine)`` looks at the kernel (every task a row), and
    the run goes on. ``clock``: where kernel time comes from (cpu/clock.py; default the host's).
    ``checkpoint=(tick, path, leave_running)``: see :func:`drive`. ``deterministic``: nothing
    the guest sees depends on the host but its input (cpu/task_run.Machine): two runs with the
    same ``seed`` are the same run. ``scheduler``: who runs next and for how long
    (cpu/scheduler.py; the explorer's decisions), instead of the mode's own.
    ``memory`` (bytes) and ``pids`` (tasks): the limits that protect the host
    (cpu/host_limits.py; None: none but the host's and Settings' tasks limit).
    ``rlimits``: (soft, hard) arrays of the guest's first resource limits (None: Linux's boot
    values; ``ecs-kernel run`` gives the host's, cpu/host_limits.host_rlimits). ``sysctls``:
    Settings fields the run starts with instead of Linux's built-in values (``ecs-kernel run``
    gives the host's net.core.[wr]mem_max, cpu/host_limits.host_net_buffer_limits).
    """
    from .components import rlimits as rlimit_sets
    from .cpu import host_limits
    from .cpu.elf import ExecError
    from .cpu.host_limits import HostLimits, MemoryWatch
    from .cpu.task_run import Machine
    from .errors import E, KernelError
    from .fs.vfs import FileSystem
    from .kernel import Kernel, Settings
    from .cpu.clock import VirtualClock
    from .syscalls.procfs import KernelProc, guest_random, guest_realtime
    from .systems import fd_table, tty

    err = stderr or sys.stderr
    prog_name = os.fsdecode(program)
    try:
        if deterministic:
            # the file layer's clock and /dev/urandom are the run's too (syscalls/procfs.py)
            clock = clock if clock is not None else VirtualClock()
            proc = KernelProc(None, clock)
            fs = FileSystem(root, proc, urandom=partial(guest_random, proc),
                            clock=partial(guest_realtime, proc))
        else:
            proc = KernelProc(None)
            fs = FileSystem(root, proc)
    except OSError as e:
        print(f"ecs-kernel: --root {root}: {e.strerror}", file=err)
        return EXIT_CANNOT_EXEC
    if cpus is None:
        cpus = DETERMINISTIC_CPUS if deterministic else host_cpus()
    extra = dict(sysctls or {})
    if pids is not None:
        extra["tasks_limit"] = pids
    k = Kernel(Settings(cpus=cpus, **extra))
    machine = Machine(k, fs, strace=strace, seed=seed, strict=strict, stderr=err,
                      fast_path=fast_path, fast_path_after=fast_path_after, clock=clock,
                      deterministic=deterministic,
                      tlb_fills_before_compile=TLB_FILLS_BEFORE_COMPILE if fast_path_after else 0)
    if scheduler is not None:
        machine.scheduler = scheduler
        scheduler.attach(machine)
    proc.machine = machine
    machine.stdio = tuple(stdio)
    # The guest is a child of the kernel's init in its own process group, as a shell runs a
    # job: init's signal immunity (SIGNAL_UNKILLABLE) must not shield it.
    guest = k.fork(k.init_task)
    k.setpgid(guest, 0, 0)
    row = k.task(guest)
    if rlimits is not None:  # (cur, max): the limits the guest starts with, else Linux's boot ones
        rlimit_sets.set_all(k.world, int(k.world.tasks.tg[row]), *rlimits)
    console = False
    for guest_fd, host_fd in enumerate(stdio):
        if host_fd is None:
            continue
        f = _host_stdio(host_fd)
        if f is not None:
            fd_table.install_fd(k.world, row, guest_fd, f)
            if f.is_terminal and not console:
                # a host terminal is the guest session's console, the guest's job in front
                tty.attach(k.world, tty.session_of(k.world, row), int(
                    k.world.thread_groups.pgrp[int(k.world.tasks.tg[row])]))
                console = True
    try:
        cwd_inode = fs.chdir(cwd if cwd is not None else default_cwd(root))
    except KernelError as e:
        if cwd is not None:
            print(f"ecs-kernel: --cwd {cwd}: {os.strerror(e.errno)}", file=err)
            return EXIT_CANNOT_EXEC
        cwd_inode = fs.chdir("/")  # the host's directory is not in the guest's tree (its /tmp)
    found = find_program(fs, program, envp, cwd_inode)
    if found is None:
        print(f"ecs-kernel: {prog_name}: {os.strerror(E.ENOENT)}", file=err)
        return EXIT_NOT_FOUND
    try:
        machine.exec_first(row, found, argv, envp, cwd=cwd_inode)
    except ExecError as e:
        msg = str(e).split(": ", 1)[1] if ": " in str(e) else str(e)
        if not msg.startswith(prog_name):
            msg = f"{prog_name}: {msg}"
        print(f"ecs-kernel: {msg}", file=err)
        return EXIT_NOT_FOUND if e.errno in (E.ENOENT, E.ENOTDIR) else EXIT_CANNOT_EXEC
    except KernelError as e:
        print(f"ecs-kernel: {prog_name}: {os.strerror(e.errno)}", file=err)
        return EXIT_NOT_FOUND if e.errno in (E.ENOENT, E.ENOTDIR) else EXIT_CANNOT_EXEC
    limits = HostLimits(memory=memory, pids=pids)
    with host_limits.using(limits), MemoryWatch(machine, limits):
        return drive(machine, strict=strict, stderr=err, report=report,
                     timeout=timeout, stop_at=stop_at, checkpoint=checkpoint)


DEFAULT_PATH = b"/usr/local/bin:/usr/bin:/bin"  # the search path when the guest has no PATH


def find_program(fs, program, envp, cwd):
    """The path execvp(3) would run for ``program``: itself when it holds a ``/``, else the first
    ``DIR/program`` of the guest's PATH (its first ``PATH=`` in ``envp``, else DEFAULT_PATH; an
    empty entry is the working directory ``cwd``) that is a file root may execute; failing that,
    one that exists but may not be executed (exec then fails with EACCES, as execvp reports).
    None when there is none."""
    from .errors import KernelError
    from .fs.inodes import MAY_EXEC, ROOT_CREDS, permitted
    name = os.fsencode(program)
    if b"/" in name or not name:
        return program
    path = next((e[5:] for e in envp if e.startswith(b"PATH=")), DEFAULT_PATH)
    denied = None
    for d in path.split(b":"):
        candidate = (d or b".").rstrip(b"/") + b"/" + name
        try:
            inode = fs.lookup(candidate, cwd=cwd)
        except KernelError:
            continue
        if inode.is_regular and permitted(inode, ROOT_CREDS, MAY_EXEC):
            return candidate
        if denied is None and not inode.is_dir:
            denied = candidate
    return denied


def _terminal_settings(fds) -> dict[int, list]:
    """The settings of each host terminal among the guest's stdio (the guest's tcsetattr
    changes them, as a program run from a shell does), to put back when the run ends."""
    import termios
    saved = {}
    for fd in fds or ():
        if fd is not None and fd not in saved:
            try:
                saved[fd] = termios.tcgetattr(fd)
            except (termios.error, OSError):
                pass
    return saved


def _restore_terminals(saved: dict[int, list]) -> None:
    import termios
    for fd, attrs in saved.items():
        try:
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except (termios.error, OSError):
            pass


def drive(machine, *, strict: bool = False, stderr=None, report=None,
          timeout: float | None = None, stop_at=None, checkpoint=None) -> int:
    """Run a prepared Machine (a fresh program's, or one restored from a checkpoint) to its end
    with run's conventions; returns the shell-style exit status.

    ``checkpoint=(tick, path, leave_running[, signo])``: at the start of kernel tick ``tick``
    (None: none) and each time the host sends ``signo`` the whole run is saved to ``path``
    (cpu/checkpoint.py); then the program stops (status 0) or, with ``leave_running``, goes on.
    A program that ends before that tick writes nothing (a line on stderr says so)."""
    from .cpu.host_signals import HostSignalForwarder
    err = stderr or sys.stderr
    timer = None
    terminals = _terminal_settings(getattr(machine, "stdio", ()))  # what the guest may change
    if timeout is not None:
        import threading
        timer = threading.Timer(timeout, machine.interrupt, (9,))
        timer.daemon = True
        timer.start()
    try:
        if checkpoint is not None and len(checkpoint) == 3:
            checkpoint = (*checkpoint, None)
        on = checkpoint[3] if checkpoint is not None else None
        with HostSignalForwarder(machine, stderr=err, checkpoint_on=on):  # to the foreground job
            if stop_at is not None:
                until, visit = stop_at
                if machine.run(until=until) is None:
                    visit(machine)
            if checkpoint is not None:
                stopped = _checkpoints(machine, *checkpoint, err=err)
                if stopped is not None:
                    return stopped
            status = machine.run()
            if machine.deadlock is not None:
                print(f"ecs-kernel: {machine.deadlock_report()}", file=err)
                if report is not None:
                    report(machine)
                return EXIT_DEADLOCK
    except Exception as exc:  # a bug of ours, never the guest's: one line, not a traceback
        if strict:
            raise
        msg = f"ecs-kernel: internal error: {type(exc).__name__}: {exc}"
        if os.environ.get("ECS_KERNEL_DEBUG"):
            import traceback
            msg += "\n" + "".join(traceback.format_exception(exc))
        else:
            msg += " (ECS_KERNEL_DEBUG=1 shows the traceback)"
        print(msg, file=err)
        return EXIT_INTERNAL
    finally:
        if timer is not None:
            timer.cancel()
        if machine.strace is not None:
            machine.strace.close()
        _restore_terminals(terminals)
    tracer = machine.strace  # its lines ended with each task's "+++ exited with N +++"
    if tracer is not None or os.environ.get("ECS_KERNEL_DEBUG"):
        unimpl = machine.dispatcher.unimplemented
        if unimpl:
            from .syscalls.table import name_of
            items = ", ".join(f"{name_of(nr)}({nr}) x{n}" for nr, n in sorted(unimpl.items()))
            print(f"ecs-kernel: unimplemented syscalls: {items}", file=err)
        if tracer is None:
            if status & 0x7F:
                print(f"+++ killed by signal {status & 0x7F} +++", file=err)
            else:
                print(f"+++ exited with {(status >> 8) & 0xFF} +++", file=err)
    if report is not None:
        report(machine)
    return exit_code(status)


def _checkpoints(machine, tick: int | None, path, leave_running: bool, signo: int | None, *,
                 err) -> int | None:
    """Save the run at the start of kernel tick ``tick`` and each time the host sends ``signo``
    (cpu/host_signals.py keeps that signal from the guest). Returns an exit status when the run
    stops (it ended, was saved and stopped, or the save failed), None when it goes on."""
    from .cpu import checkpoint as guest_checkpoint
    box = machine.host_signals
    while True:
        if tick is not None:
            machine.stop_at_tick(tick)
        status = machine.run(until=lambda m: box.checkpoint_requested or (
            tick is not None and m.kernel_tick() >= tick))
        if status is not None:
            if tick is not None:
                print(f"ecs-kernel: the program ended before kernel tick {tick}: no checkpoint "
                      f"written", file=err)
            return None if machine.deadlock is not None else exit_code(status)
        box.checkpoint_requested = False
        tick = None  # the tick's checkpoint is taken (or this one came first: same file)
        machine.stop_deadline_ns = None
        try:
            guest_checkpoint.save(machine, path)
        except (TypeError, ValueError) as e:  # what the checkpoint cannot hold yet (a host fd, ...)
            print(f"ecs-kernel: cannot checkpoint: {e}", file=err)
            if not leave_running:
                return EXIT_CHECKPOINT_FAILED
        except OSError as e:
            print(f"ecs-kernel: --checkpoint-to {path}: {e.strerror}", file=err)
            return EXIT_CHECKPOINT_FAILED
        machine.update_timer_deadline()
        if not leave_running:
            return 0
        if signo is None:
            return None


__all__ = ["add_run_parser", "run", "exit_code"]
