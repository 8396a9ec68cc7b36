"""Campaigns: a hypothesis state machine run many times, each run with its own seed.

A run is ``run_state_machine_as_test`` of the machine with hypothesis seeded by the run's seed
(``seed + run``), ``examples`` examples of at most ``steps`` steps each, no example database, no
deadline: a function of (machine, seed, examples, steps) alone, so it gives the same answer in
any process and on any backend, and a failing run's seed reproduces its failure, shrunk the same
way, on the user's machine (:func:`reproduce_command`).

Machines: the ``RuleBasedStateMachine`` subclasses in ``ecs_kernel.testing`` by class name
(:func:`shipped_machines`; ``SignalMachine``, ``signal`` or its module's name ``signals``), or
anyone's by ``module:Class`` (the module must import in the workers too: installed, or on
``PYTHONPATH``; a local cluster's workers get this process's import path).
"""
from __future__ import annotations

import contextlib
import importlib
import io
import pkgutil
import shlex
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, reporting, seed as hyp_seed, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from .. import testing as testing_pkg


class CampaignError(ValueError):
    """A machine that cannot be found or is not a state machine: one line."""


def shipped_machines() -> dict[str, str]:
    """Class name -> ``module:Class`` of every state machine in ``ecs_kernel.testing``."""
    out = {}
    for info in pkgutil.iter_modules(testing_pkg.__path__):
        mod = importlib.import_module(f"{testing_pkg.__name__}.{info.name}")
        for name, obj in vars(mod).items():
            if isinstance(obj, type) and issubclass(obj, RuleBasedStateMachine) \
                    and obj is not RuleBasedStateMachine and obj.__module__ == mod.__name__:
                out[name] = f"{mod.__name__}:{name}"
    return dict(sorted(out.items()))


def resolve(name: str) -> str:
    """The ``module:Class`` path of a machine named on the command line (checked: it imports
    and is a RuleBasedStateMachine)."""
    if ":" not in name:
        shipped = shipped_machines()
        by_lower = {k.lower(): v for k, v in shipped.items()}
        by_lower.update({k.lower().removesuffix("machine"): v for k, v in shipped.items()})
        by_lower.update({v.partition(":")[0].rpartition(".")[2]: v for v in shipped.values()})
        path = by_lower.get(name.lower())
        if path is None:
            raise CampaignError(f"{name}: no such machine in ecs_kernel.testing (one of "
                                f"{', '.join(shipped)}; or a module:Class of your own)")
        return path
    load(name)
    return name


def load(path: str) -> type:
    mod_name, _, cls_name = path.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except Exception as e:  # the user's module: any error it raises is its own
        raise CampaignError(f"{path}: cannot import {mod_name}: {type(e).__name__}: {e}") from None
    obj = mod
    for part in cls_name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise CampaignError(f"{path}: {mod_name} has no {cls_name}")
    if not (isinstance(obj, type) and issubclass(obj, RuleBasedStateMachine)):
        raise CampaignError(f"{path}: not a hypothesis RuleBasedStateMachine")
    return obj


@dataclass(frozen=True)
class Run:
    """One run of a campaign (what a worker gets)."""

    machine: str  # module:Class
    index: int
    seed: int
    examples: int
    steps: int


def run_seed(base: int, index: int) -> int:
    return base + index


def run_machine(run: Run) -> dict:
    """Run one campaign run; its result: ``{"run", "seed", "failed", "error", "example"}`` with
    the shrunk failing example as hypothesis prints it (a program of rule calls) when it failed."""
    machine = load(run.machine)
    # a subclass per run carries the seed, so the user's class is left as it was
    seeded = hyp_seed(run.seed)(type(machine.__name__, (machine,), {"__module__": machine.__module__}))
    conf = settings(max_examples=run.examples, stateful_step_count=run.steps, database=None,
                    deadline=None, derandomize=False, print_blob=False,
                    report_multiple_bugs=False, phases=[Phase.generate, Phase.shrink],
                    suppress_health_check=list(HealthCheck))
    lines: list[str] = []
    buf = io.StringIO()
    with reporting.with_reporter(lines.append), contextlib.redirect_stdout(buf):
        try:
            run_state_machine_as_test(seeded, settings=conf)
        except BaseException as e:  # what the machine raised (assertion, kernel error, ...)
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            notes = [str(n) for n in getattr(e, "__notes__", ())]
            text = "\n".join(x for x in lines + notes if x.strip())
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            return {"run": run.index, "seed": run.seed, "failed": True,
                    "error": f"{type(e).__name__}: {first}" if first else type(e).__name__,
                    "example": text}
    return {"run": run.index, "seed": run.seed, "failed": False, "error": None, "example": ""}


def reproduce_command(machine: str, seed: int, examples: int, steps: int) -> str:
    return (f"ecs-kernel campaign {shlex.quote(machine)} --runs 1 --seed {seed} "
            f"--examples {examples} --steps {steps}")
