"""``ecs-kernel run`` and ``ecs-kernel syscalls``.

    ecs-kernel run [--root DIR] [--cwd DIR] [--env K=V]... [--inherit-env] [--strace]
                   [--no-fast-path] -- PROGRAM [ARG...]
    ecs-kernel syscalls [--format text|markdown|json]

``run`` follows DESIGN.md's contract: PROGRAM is a path inside the root (default the host's /),
argv is exactly PROGRAM ARG..., the guest environment is exactly the ``--env`` pairs (or the
host's with ``--inherit-env``), the host's stdin/stdout/stderr are fds 0-2, nothing on the host is
written, and the exit status is the guest's, 128+N when signal N killed it, 127 when PROGRAM does
not exist and 126 when it cannot be executed (one line on stderr, like a shell). Signals sent to
ecs-kernel go to the guest's foreground job (cpu/host_signals.py).
"""
from __future__ import annotations

import argparse
import fcntl
import os
import sys

EXIT_NOT_FOUND = 127
EXIT_CANNOT_EXEC = 126
EXIT_INTERNAL = 70  # EX_SOFTWARE: an internal error of the emulator
# Tiering of the command (a fresh process per guest): numba costs ~0.5 s to import and load, more
# than a short program's whole run. Kernels run interpreted for their first KERNEL_CALLS_INTERPRETED
# calls, syscalls take the Python hook for the first FAST_PATH_AFTER; whichever runs out first
# loads numba, and from then on kernels and the syscall fast path are compiled. Both bounds keep
# the interpreted detour under ~0.1 s.
KERNEL_CALLS_INTERPRETED = 20_000
FAST_PATH_AFTER = 10_000


def add_run_parser(sub) -> None:
    p = sub.add_parser("run", help="run a Linux x86-64 program on the emulated kernel")
    p.add_argument("--root", default="/", help="the guest's / (read-only; default: the host's /)")
    p.add_argument("--cwd", default="/", help="the guest's working directory (a guest path)")
    p.add_argument("--env", action="append", default=[], metavar="K=V",
                   help="an environment variable of the guest (repeatable)")
    p.add_argument("--inherit-env", action="store_true", help="give the guest the host's environment")
    p.add_argument("--strace", action="store_true",
                   help="print each syscall to stderr (every syscall then takes the Python path)")
    p.add_argument("--no-fast-path", dest="fast_path", action="store_false",
                   help="handle every syscall in Python (no compiled syscall hook)")
    p.add_argument("--seed", type=int, default=None, help="seed of the guest's random numbers")
    p.add_argument("program", help="the program (a path inside the root)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    p.set_defaults(fn=_run_cmd)
    s = sub.add_parser("syscalls", help="print the syscall table with support levels")
    s.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    s.set_defaults(fn=_syscalls_cmd)


def _syscalls_cmd(args) -> int:
    from .syscalls.table import render
    sys.stdout.write(render(args.format))
    return 0


def _run_cmd(args) -> int:
    env = []
    if args.inherit_env:
        env = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in os.environ.items()]
    for kv in args.env:
        if "=" not in kv:
            print(f"ecs-kernel run: --env {kv!r} is not K=V", file=sys.stderr)
            return 2
        env.append(os.fsencode(kv))
    rest = list(args.args)
    if rest and rest[0] == "--":
        rest = rest[1:]
    from .jit.options import interpret_first
    interpret_first(KERNEL_CALLS_INTERPRETED)
    return run(args.program, [args.program] + rest, env, root=args.root, cwd=args.cwd,
               strace=sys.stderr if args.strace else None, seed=args.seed,
               fast_path=args.fast_path, fast_path_after=FAST_PATH_AFTER)


def _host_stdio(fd: int):
    from . import abi
    from .fs.stdio import HostStdioFile
    try:
        fl = fcntl.fcntl(fd, fcntl.F_GETFL)
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


def run(program, argv, envp, *, root: str = "/", cwd: str = "/", strace=None, seed=None,
        stdio=(0, 1, 2), strict: bool = False, stderr=None, report=None,
        timeout: float | None = None, fast_path: bool = True, fast_path_after: int = 0,
        stop_at=None, clock=None) -> int:
    """Run ``program`` in a fresh Kernel; return the shell-style exit status.

    ``stdio`` are the host fds shown as guest fds 0-2. ``strict`` re-raises kernel bugs (tests).
    ``report``, if given, is called with the Machine after the run (counters, tests).
    ``timeout`` (seconds): after it the guest is killed with SIGKILL (status 137).
    ``fast_path=False`` handles every syscall in Python (``--no-fast-path``); with
    ``fast_path_after=N`` the first N syscalls do, then the compiled hook is installed.
    ``stop_at=(until, visit)``: the first time ``until(machine)`` is true between two turns of
    the run loop, the run stops, ``visit(machine)`` looks at the kernel (every task a row), and
    the run goes on. ``clock``: where kernel time comes from (cpu/clock.py; default the host's).
    """
    from .cpu.elf import ExecError
    from .cpu.host_signals import HostSignalForwarder
    from .cpu.task_run import Machine
    from .errors import E, KernelError
    from .fs.vfs import FileSystem
    from .kernel import Kernel
    from .syscalls.procfs import KernelProc
    from .systems import fd_table

    err = stderr or sys.stderr
    prog_name = os.fsdecode(program)
    try:
        proc = KernelProc(None)
        fs = FileSystem(root, proc)
    except OSError as e:
        print(f"ecs-kernel: --root {root}: {e.strerror}", file=err)
        return EXIT_CANNOT_EXEC
    k = Kernel()
    machine = Machine(k, fs, strace=strace, seed=seed, strict=strict, stderr=err,
                      fast_path=fast_path, fast_path_after=fast_path_after, clock=clock)
    proc.machine = machine
    # The guest is a child of the kernel's init in its own process group, as a shell runs a
    # job: init's signal immunity (SIGNAL_UNKILLABLE) must not shield it.
    guest = k.fork(k.init_task)
    k.setpgid(guest, 0, 0)
    row = k.task(guest)
    for guest_fd, host_fd in enumerate(stdio):
        if host_fd is None:
            continue
        f = _host_stdio(host_fd)
        if f is not None:
            fd_table.install_fd(k.world, row, guest_fd, f)
    try:
        cwd_inode = fs.chdir(cwd)
    except KernelError as e:
        print(f"ecs-kernel: --cwd {cwd}: {os.strerror(e.errno)}", file=err)
        return EXIT_CANNOT_EXEC
    try:
        machine.exec_first(row, program, argv, envp, cwd=cwd_inode)
    except ExecError as e:
        msg = str(e).split(": ", 1)[1] if ": " in str(e) else str(e)
        if not msg.startswith(prog_name):
            msg = f"{prog_name}: {msg}"
        print(f"ecs-kernel: {msg}", file=err)
        return EXIT_NOT_FOUND if e.errno in (E.ENOENT, E.ENOTDIR) else EXIT_CANNOT_EXEC
    except KernelError as e:
        print(f"ecs-kernel: {prog_name}: {os.strerror(e.errno)}", file=err)
        return EXIT_NOT_FOUND if e.errno in (E.ENOENT, E.ENOTDIR) else EXIT_CANNOT_EXEC
    timer = None
    if timeout is not None:
        import threading
        timer = threading.Timer(timeout, machine.interrupt, (9,))
        timer.daemon = True
        timer.start()
    try:
        with HostSignalForwarder(machine, stderr=err):  # to the guest's foreground job
            if stop_at is not None:
                until, visit = stop_at
                if machine.run(until=until) is None:
                    visit(machine)
            status = machine.run()
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
    if strace is not None or os.environ.get("ECS_KERNEL_DEBUG"):
        unimpl = machine.dispatcher.unimplemented
        if unimpl:
            from .syscalls.table import name_of
            items = ", ".join(f"{name_of(nr)}({nr}) x{n}" for nr, n in sorted(unimpl.items()))
            print(f"ecs-kernel: unimplemented syscalls: {items}", file=strace or err)
        if status & 0x7F:
            print(f"+++ killed by signal {status & 0x7F} +++", file=strace or err)
        else:
            print(f"+++ exited with {(status >> 8) & 0xFF} +++", file=strace or err)
    if report is not None:
        report(machine)
    return exit_code(status)


__all__ = ["add_run_parser", "run", "exit_code"]
