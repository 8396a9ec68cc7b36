"""Benchmarks: the suite is ``python -m bench``, each other one ``python -m bench.bench_NAME``, from
the repository root; ``ecs-kernel bench [NAME] [ARG...]`` runs the same from any directory.

:func:`parser` gives each its command line: the module's docstring as the description (without
its reStructuredText markup) and every option's default in ``--help``.
"""
from __future__ import annotations

import argparse
import re

INVOKED_AS: str | None = None  # "ecs-kernel bench" when the ecs-kernel command runs a benchmark


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def plain(doc: str) -> str:
    """``literal`` and :role:`text` as the words alone (what a terminal should show)."""
    return re.sub(r"(?::\w+:)?`{1,2}([^`]+)`{1,2}", r"\1", doc)


def parser(doc: str, name: str | None = None, *, whole: bool = False) -> argparse.ArgumentParser:
    """The ArgumentParser of benchmark ``name`` (None: the suite): its docstring's first line
    (``whole``: all of it) as the description."""
    if INVOKED_AS is not None:
        prog = INVOKED_AS if name is None else f"{INVOKED_AS} {name}"
    else:
        prog = "python -m bench" if name is None else f"python -m bench.bench_{name}"
    text = doc.strip() if whole else doc.strip().split("\n")[0]
    return argparse.ArgumentParser(prog=prog, description=plain(text), formatter_class=_Formatter)
