"""Replay files: a deterministic run kept so that ``ecs-kernel replay FILE`` runs it again.

Written by ``explore --replay-to`` (the program and the schedule's choices that made it fail) and
by ``run --deterministic --record`` (the program, its seed, and the host input it read:
fs/host_view.py). The format is checkpoint_file's: a checked manifest and arrays, nothing that
runs code. Running a replay is explore.replay's (it needs the run command; this module does not).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import checkpoint_file
from .cpu import scheduler as sched
from .fs.host_view import Replayer, ReplayDiverged

REPLAY_FORMAT = "ecs-kernel-replay"
REPLAY_VERSION = 2  # 2: checkpoint_file's format, with the recorded host input


@dataclass
class Program:
    """What to run: ``argv`` (argv[0] the path inside ``root``), the environment, the seed."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    root: str = "/"
    cwd: str = "/"
    seed: int = 0
    stdin: bytes = b""


@dataclass
class Replay:
    """What a replay file holds: the program, the schedule (``choices`` for an explored run, None
    for a seeded ``run --deterministic``), the status it ended with, and, when the run was
    recorded (``run --record``), its host input, so it replays where the host files differ."""

    prog: Program
    choices: list[int] | None
    status: int | None = None
    reason: str | None = None
    cpus: int | None = None
    host: object = None  # a host_view.Replayer


class ReplayError(ValueError):
    """A replay file that is not one (one line says why)."""


def save(path, prog: Program, reason: str | None = None, *, choices: list[int] | None = None,
         status: int | None = None, cpus: int | None = None, recorder=None) -> int:
    """Write a replay file (checkpoint_file's format: a checked manifest and arrays, nothing
    that runs code): ``choices`` of an explored run (None: a seeded run), the ``status`` it
    ended with, and ``recorder``, the run's host_view.Recorder (None: not recorded)."""
    doc = {"format": REPLAY_FORMAT, "version": REPLAY_VERSION,
           "argv": prog.argv, "env": prog.env, "root": prog.root, "cwd": prog.cwd,
           "seed": prog.seed, "stdin": prog.stdin.hex(), "choices": choices,
           "status": status, "reason": reason, "cpus": cpus, "host": None}
    arrays = {}
    if recorder is not None:
        doc["host"], arrays = recorder.state()
    return checkpoint_file.write(path, {"kind": "replay", "replay": doc}, arrays)


def load_replay(path) -> Replay:
    """A replay file, every field checked (:class:`ReplayError`: one line says why)."""
    try:
        meta, arrays = checkpoint_file.read(path)
    except checkpoint_file.CheckpointError as e:
        raise ReplayError(f"{path} is not a replay file ({e})") from None
    doc = meta.get("replay") if meta.get("kind") == "replay" else None
    if not isinstance(doc, dict) or doc.get("format") != REPLAY_FORMAT:
        raise ReplayError(f"{path} is not an ecs-kernel replay file")
    if doc.get("version") != REPLAY_VERSION:
        raise ReplayError(f"{path}: replay format {doc.get('version')!r}, this ecs-kernel reads "
                          f"{REPLAY_VERSION}")
    try:
        argv, env, choices, cpus = doc["argv"], doc["env"], doc["choices"], doc["cpus"]
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)
                and isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in env.items())
                and (choices is None or isinstance(choices, list)
                     and all(type(c) is int and 0 <= c <= sched.PREEMPT_MAX for c in choices))
                and (cpus is None or type(cpus) is int and cpus >= 1)
                and type(doc["seed"]) is int and isinstance(doc["root"], str)
                and isinstance(doc["cwd"], str)):
            raise TypeError
        prog = Program(argv, env, doc["root"], doc["cwd"], doc["seed"], bytes.fromhex(doc["stdin"]))
        host = Replayer(doc["host"], arrays) if doc["host"] is not None else None
    except (KeyError, TypeError, ValueError):
        raise ReplayError(f"{path}: a malformed replay file") from None
    except ReplayDiverged as e:
        raise ReplayError(f"{path}: {e}") from None
    status = doc.get("status") if type(doc.get("status")) is int else None
    reason = doc.get("reason") if isinstance(doc.get("reason"), str) else None
    return Replay(prog, choices, status, reason, cpus, host)


__all__ = ["Program", "Replay", "ReplayError", "save", "load_replay", "REPLAY_FORMAT",
           "REPLAY_VERSION"]
