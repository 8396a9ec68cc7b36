"""``ecs-kernel ps FILE``: list the tasks in a checkpoint, like ``ps -eL``.

    ecs-kernel ps FILE [--pid N]... [--json]

FILE is a checkpoint (``World.save``, ``Kernel`` checkpoints, simulations). One line per task
(threads and zombies included), ordered by pid then tid, with ids as the checkpoint's root PID
namespace sees them::

    PID TID PPID PGID SID STAT WCHAN                                 PENDING SHPENDING BLOCKED  CMD
      1   1    0    1   1 Rs   -                                     -       -         -        init
      2   2    1    2   2 Ss   wait4(pgid=3, WUNTRACED)              -       -         -        sh
      3   3    2    3   2 Rl   -                                     -       -         -        worker
      3   4    2    3   2 Sl   futex(0x10000)                        -       -         -        worker
      3   5    2    3   2 Sl   futex(0x10004, until 2.002s)          -       -         -        worker
      6   6    2    2   2 S    nanosleep(until 1.502s)               -       -         -        sleep
      7   7    1    1   1 S    sigtimedwait(HUP,USR2, until 3.002s)  USR1    INT       INT,USR1 sigs
     10  10    1    1   1 Z    -                                     -       -         -        [dead] <defunct>
     11  11    1    1   1 D    vfork(child 12)                       -       -         -        vp

Columns: STAT is the state letter (R running or runnable, S sleeping, D uninterruptible, T
stopped, Z zombie) and ``s`` for a session leader's tasks, ``l`` for a multi-threaded process;
WCHAN is what a blocked task waits on (wait4 of whom, a futex address, a deadline in kernel
seconds, an fd, the stop signal); PENDING the signals pending for the task itself, SHPENDING those
pending for its whole process, BLOCKED its signal mask (names without ``SIG``); CMD the command
line, or the task's name, or a simulation's program name. systems/task_list.py says what each
value means.

``--pid N`` (repeatable) keeps the tasks of process N (and the thread N); ``--json`` writes a JSON
list of objects instead (``pid tid ppid pgid sid stat wchan wait pending shared_pending blocked
cmd``; ``wait`` is what WCHAN says as data, deadlines in kernel ns).

The file is checked entirely before anything is listed (checkpoint_file.py). A missing, damaged
or foreign file gets one line on stderr, ``ecs-kernel ps: FILE: what is wrong``, and exit status 2.
"""
from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Callable

EXIT_BAD_FILE = 2

HEADER = ("PID", "TID", "PPID", "PGID", "SID", "STAT", "WCHAN", "PENDING", "SHPENDING", "BLOCKED",
          "CMD")


def add_ps_parser(sub) -> None:
    p = sub.add_parser("ps", help="list the tasks in a checkpoint, like ps -eL",
                       description="List the tasks of a checkpoint file: ids, state, what each "
                                   "waits on, pending and blocked signals, command.")
    p.add_argument("file", metavar="FILE", help="a checkpoint file")
    p.add_argument("--pid", type=int, action="append", metavar="N",
                   help="only the tasks of process N (or thread N); repeatable")
    p.add_argument("--json", action="store_true", help="a JSON list of objects, one per task")
    p.set_defaults(fn=ps_cmd)


class NotListable(Exception):
    """A checkpoint ``ps`` cannot list: the message is one line."""


# -- loading: one loader per checkpoint kind -------------------------------------------------------
#
# A loader takes a validated checkpoint's (meta, arrays) and returns the World to list and the
# ``cmdline(row)`` to list it with (None: the comm column).

def _load_world(meta: dict, arrays: dict):
    """A ``World.save`` file (kernel or simulation)."""
    from .kernel import standard_components
    from .sim import engine  # noqa: F401  (registers the simulation's components and state)
    from .world import World
    standard_components()  # registers the components built per World (the PID ids)
    world = World.from_state(meta, arrays)
    return world, _sim_cmdline(world)


def _load_guest(meta: dict, arrays: dict):
    """A running program's checkpoint (``run --checkpoint-to``): the whole run is restored (not
    run) and each task is named by its image's argv, as /proc/PID/cmdline shows it."""
    from .cpu import checkpoint as guest_checkpoint
    machine = guest_checkpoint.from_state(meta, arrays)
    world = machine.world
    spaces = world.index.address_spaces

    def cmdline(row: int) -> str | None:
        gm = spaces.get(int(world.tasks.mm[row]))
        argv = getattr(getattr(gm, "aspace", None), "argv", None)
        return " ".join(a.decode(errors="replace") for a in argv) if argv else None
    return world, cmdline


LOADERS: dict[str, Callable] = {"world": _load_world, "guest": _load_guest}


def load(path) -> tuple[object, Callable | None]:
    """The World in checkpoint ``path`` and its cmdline function. NotListable (one line) for a
    file that cannot be read, is damaged, or holds something ps does not list."""
    from .checkpoint_file import CheckpointError, loads
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise NotListable(e.strerror or str(e)) from None
    try:
        meta, arrays = loads(blob)
        kind = meta.get("kind")
        loader = LOADERS.get(kind) if isinstance(kind, str) else None
        if loader is None:
            raise NotListable(f"not a checkpoint ecs-kernel ps can read: kind {kind!r}")
        return loader(meta, arrays)
    except CheckpointError as e:
        raise NotListable(_one_line(str(e))) from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        # the reader names what is wrong with CheckpointError; anything else a file makes it
        # raise is still one line, never a traceback
        raise NotListable(f"unreadable checkpoint: {type(e).__name__}: {_one_line(str(e))}") from None


def _sim_cmdline(world) -> Callable[[int], str | None] | None:
    """A simulation's tasks are named by their program."""
    sim = getattr(world.index, "sim", None)
    prog = getattr(world.tasks, "sim_prog", None)
    if sim is None or prog is None:
        return None
    names = list(sim.prog_names)
    progs = prog[: world.tasks.n].tolist()  # a list: indexing it is ~10x cheaper than an array

    def cmdline(row: int) -> str | None:
        p = progs[row]
        return names[p] if 0 <= p < len(names) else None  # -1: not a synthetic task
    return cmdline


def _one_line(msg: str) -> str:
    return " ".join(msg.split()) or "unreadable"


# -- the command -----------------------------------------------------------------------------------

def ps_cmd(args) -> int:
    import numpy as np

    from .systems.task_list import task_list
    try:
        world, cmdline = load(args.file)
    except NotListable as e:
        return _bad(args.file, str(e))
    try:
        tasks = task_list(world, cmdline=cmdline, syscall_name=_syscall_namer(world))
        if args.pid:
            want = np.array(args.pid, np.int64)
            tasks = tasks.only(np.isin(tasks.pid, want) | np.isin(tasks.tid, want))
        # each writer builds every string before it writes the first line
        (write_json if args.json else write_table)(tasks, sys.stdout)
    except (IndexError, ValueError, KeyError) as e:  # columns that load but do not hang together
        return _bad(args.file, f"inconsistent checkpoint: {type(e).__name__}: {_one_line(str(e))}")
    sys.stdout.flush()
    return 0


def _bad(path, what: str) -> int:
    print(f"ecs-kernel ps: {os.fspath(path)}: {what}", file=sys.stderr)
    return EXIT_BAD_FILE


def _syscall_namer(world) -> Callable[[int], str | None] | None:
    """Names for the syscalls I/O waits are in (only guests wait on files: the table is loaded
    only when some task does)."""
    if not world.io_waits.count:
        return None
    from .syscalls.table import NAMES

    def name(nr: int) -> str | None:
        return NAMES[nr] if 0 <= nr < len(NAMES) and NAMES[nr] else None
    return name


def write_table(tasks, out, chunk: int = 8192) -> None:
    """Aligned columns under a header; the last column (CMD) is not padded."""
    nums = [a.tolist() for a in (tasks.pid, tasks.tid, tasks.ppid, tasks.pgid, tasks.sid)]
    text = [tasks.stats(), tasks.wchans(), tasks.set_texts(tasks.pending),
            tasks.set_texts(tasks.shared_pending), tasks.set_texts(tasks.blocked)]
    cmds = tasks.cmds()
    widths = [max(len(h), len(str(max(col, default=0)))) for h, col in zip(HEADER, nums)]
    widths += [max([len(h), *map(len, set(col))]) for h, col in zip(HEADER[5:], text)]
    head = " ".join([*(f"%{w}s" for w in widths[:5]), *(f"%-{w}s" for w in widths[5:]), "%s"])
    fmt = " ".join([*(f"%{w}d" for w in widths[:5]), *(f"%-{w}s" for w in widths[5:]), "%s"])
    out.write((head % HEADER).rstrip() + "\n")
    rows = zip(*nums, *text, cmds)
    while True:
        lines = [fmt % r for r in itertools.islice(rows, chunk)]
        if not lines:
            break
        out.write("\n".join(lines) + "\n")


def write_json(tasks, out, chunk: int = 8192) -> None:
    """A JSON list, one object per task and per line (TaskRecord.to_json's), written as it goes.
    The objects have fixed keys: each line is filled in from a template, its strings escaped as
    json.dumps escapes them (``json.dumps`` per object costs 4x more at a million tasks)."""
    from .systems.task_list import JSON_FIELDS
    dumps = json.JSONEncoder(separators=(", ", ": ")).encode
    esc = json.encoder.encode_basestring_ascii
    kinds = {"pid": "%d", "tid": "%d", "ppid": "%d", "pgid": "%d", "sid": "%d"}
    line = "{" + ", ".join(f'"{k}": {kinds.get(k, "%s")}' for k in JSON_FIELDS) + "}"
    waits = tasks.waits()
    known: dict = {}

    def sets(masks):
        return [known[t] if t in known else known.setdefault(t, dumps(list(t)))
                for t in tasks.set_names(masks)]
    cols = {"pid": tasks.pid.tolist(), "tid": tasks.tid.tolist(), "ppid": tasks.ppid.tolist(),
            "pgid": tasks.pgid.tolist(), "sid": tasks.sid.tolist(),
            "stat": [esc(s) for s in tasks.stats()], "wchan": [esc(s) for s in tasks.wchans()],
            "wait": ["null" if w is None else dumps(w) for w in waits],
            "pending": sets(tasks.pending), "shared_pending": sets(tasks.shared_pending),
            "blocked": sets(tasks.blocked), "cmd": [esc(s) for s in tasks.cmds()]}
    rows = zip(*(cols[k] for k in JSON_FIELDS))
    out.write("[")
    first = True
    while True:
        lines = [line % r for r in itertools.islice(rows, chunk)]
        if not lines:
            break
        out.write(("\n" if first else ",\n") + ",\n".join(lines))
        first = False
    out.write("]\n" if first else "\n]\n")


__all__ = ["LOADERS", "NotListable", "add_ps_parser", "load", "ps_cmd", "write_json", "write_table"]
