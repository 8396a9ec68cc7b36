"""Sweeps: one simulation per seed and parameter combination, each an independent job.

:func:`plan` turns a workload, the seeds and ``--param`` values into :class:`Job` s (every
combination checked here, before any run); :func:`run_job` runs one, in whichever process the
backend gives it, and returns its result row: a plain dict, one JSON line of the output file.

Parameters (``--param KEY=V1,V2,...``; a sweep runs every combination of every key's values):

    tasks                  synthetic tasks at the start (as ``sim --tasks``)
    ticks                  ticks to run (as ``sim --ticks``)
    tick_ns                kernel time per tick, in ns (default 1,000,000)
    futex_words            the workload's shared futex words
    threads_per_process    the workload's initial threads per process
    share.PROGRAM          the share of the program named PROGRAM (a number >= 0)

A workload field set this way is checked as the workload file is: a value the file's steps do not
allow (a futex word past ``futex_words``) is the same one-line error.

A row::

    {"key": "...", "workload": "mixed", "workload_digest": "a1b2...", "seed": 3,
     "params": {"tasks": 1000}, "tasks": 1000, "ticks": 100,
     "totals": {...event counters summed over the ticks...},
     "last": {...run-state gauges after the last tick...}, "deadlocks": 0,
     "violation": null, "counters": {name: [per tick]}   (with per_tick only)}

``key`` names the run (workload and its digest, seed, params, tasks, ticks, tick_ns, check): a
rerun skips the jobs whose key is in the output already. Rows carry no timings, so a sweep writes
the same rows on every backend (in the order runs finish).
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass

from ..schedule import SanityError
from ..sim import deadlock
from ..sim import spec as specmod
from ..sim.engine import COUNTERS, Simulation

PARAM_KEYS = ("tasks", "ticks", "tick_ns", "futex_words", "threads_per_process", "share.PROGRAM")
WORKLOAD_FIELDS = ("futex_words", "threads_per_process")
GAUGES = ("running", "blocked", "stopped", "zombie", "tasks_alive")


class SweepError(ValueError):
    """A bad seed range, parameter or workload: one line."""


@dataclass(frozen=True)
class Job:
    """One simulation of a sweep."""

    key: str
    workload: specmod.Workload
    digest: str
    seed: int
    params: dict
    tasks: int
    ticks: int
    tick_ns: int
    check: int = 0
    per_tick: bool = False


def parse_seeds(text: str) -> list[int]:
    """``A..B`` (both included) or one seed ``N``."""
    a, sep, b = text.partition("..")
    try:
        lo = int(a)
        hi = int(b) if sep else lo
    except ValueError:
        raise SweepError(f"--seeds {text!r}: expected A..B (both included) or N") from None
    if lo < 0 or hi < lo:
        raise SweepError(f"--seeds {text!r}: expected 0 <= A <= B")
    return list(range(lo, hi + 1))


def _number(key: str, v: str):
    try:
        return float(v) if key.startswith("share.") else int(v)
    except ValueError:
        kind = "a number" if key.startswith("share.") else "an integer"
        raise SweepError(f"--param {key}: {v!r} is not {kind}") from None


def parse_params(items: list[str]) -> dict[str, list]:
    """``["KEY=V1,V2", ...]`` -> ``{KEY: [V1, V2]}`` in the order given (a key twice is an error)."""
    out: dict[str, list] = {}
    for it in items:
        key, sep, vals = it.partition("=")
        key = key.strip()
        if not sep or not key or not vals.strip():
            raise SweepError(f"--param {it!r}: expected KEY=V1,V2,...")
        if key not in PARAM_KEYS[:-1] and not (key.startswith("share.") and len(key) > 6):
            raise SweepError(f"--param {key}: unknown key (one of {', '.join(PARAM_KEYS)})")
        if key in out:
            raise SweepError(f"--param {key} given twice: list its values once, comma-separated")
        values = [_number(key, v.strip()) for v in vals.split(",")]
        if len(set(values)) != len(values):
            raise SweepError(f"--param {key}: a value is listed twice")
        out[key] = values
    return out


def workload_digest(w: specmod.Workload) -> str:
    data = json.dumps(specmod.to_data(w), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def _apply(w: specmod.Workload, combo: dict) -> specmod.Workload:
    """The workload with ``combo``'s workload fields set, checked as a file is."""
    fields = {k: v for k, v in combo.items() if k in WORKLOAD_FIELDS or k.startswith("share.")}
    if not fields:
        return w
    data = specmod.to_data(w)
    names = [p["name"] for p in data["programs"]]
    for k, v in fields.items():
        if k.startswith("share."):
            prog = k[len("share."):]
            if prog not in names:
                raise SweepError(f"--param {k}: {w.name} has no program {prog!r} "
                                 f"(its programs: {', '.join(names)})")
            data["programs"][names.index(prog)]["share"] = v
        else:
            data[k] = v
    where = ", ".join(f"{k}={v}" for k, v in fields.items())
    try:
        return dataclasses.replace(specmod.parse(data, f"{w.name} with {where}"), source=w.source)
    except specmod.SpecError as e:
        raise SweepError(f"--param: {e}") from None


def plan(workload: specmod.Workload, seeds: list[int], params: dict[str, list], *, tasks: int,
         ticks: int, check: int = 0, per_tick: bool = False) -> list[Job]:
    """Every (combination, seed) job, combinations in the order of the values given, each
    combination's seeds in order. Bad values raise :class:`SweepError` before anything runs."""
    keys = list(params)
    jobs = []
    for values in itertools.product(*(params[k] for k in keys)):
        combo = dict(zip(keys, values))
        w = _apply(workload, combo)
        digest = workload_digest(w)
        t, n, tick_ns = combo.get("tasks", tasks), combo.get("ticks", ticks), combo.get("tick_ns", 1_000_000)
        for k, v in (("tasks", t), ("ticks", n), ("tick_ns", tick_ns)):
            if v < 1:
                raise SweepError(f"{'--param ' if k in combo else '--'}{k} must be at least 1")
        for seed in seeds:
            key = json.dumps({"workload": w.name, "digest": digest, "seed": seed, "params": combo,
                              "tasks": t, "ticks": n, "tick_ns": tick_ns, "check": check},
                             sort_keys=True, separators=(",", ":"))
            jobs.append(Job(key, w, digest, seed, combo, t, n, tick_ns, check, per_tick))
    return jobs


def run_job(job: Job) -> dict:
    """Run one job's simulation to its end (or its first broken invariant) and return its row."""
    sim = Simulation(job.workload, job.tasks, job.seed, check_every=job.check, tick_ns=job.tick_ns)
    violation = None
    try:
        for _ in range(job.ticks):
            sim.step()
    except SanityError as e:
        violation = str(e)
    rec = sim.history
    totals = rec.totals()
    last = rec.last() if rec.ticks else sim.gauges()
    row = {"key": job.key, "workload": job.workload.name, "workload_digest": job.digest,
           "seed": job.seed, "params": job.params, "tasks": job.tasks, "ticks": job.ticks,
           "ticks_run": rec.ticks,
           "totals": {k: int(totals[k]) for k in COUNTERS if k not in GAUGES},
           "last": {k: int(last[k]) for k in GAUGES},
           "deadlocks": len(deadlock.find_deadlocks(sim.world)),
           "violation": violation}
    if job.per_tick:
        row["counters"] = {k: rec.column(k).tolist() for k in COUNTERS}
    return row
