"""How the ``sys_<family>.py`` modules register their handlers: support levels and the
:func:`syscall` and :func:`completion` decorators. table.py builds the syscall table from what
they register; it imports every family, so the families import this module, not table.py.
"""
from __future__ import annotations

from typing import Callable

FULL = "full"
PARTIAL = "partial"
UNIMPLEMENTED = "unimplemented"
LEVELS = (FULL, PARTIAL, UNIMPLEMENTED)

# name -> (handler, support, note, args, result); filled by the @syscall decorators of sys_*.py.
_REGISTRY: dict[str, tuple] = {}
# name -> completion of a call that blocked (filled by @completion).
_COMPLETIONS: dict[str, Callable] = {}


def syscall(name: str, support: str = FULL, note: str = "", args: tuple[str, ...] = (),
            ret: str = "d"):
    """Register the decorated function as the handler of syscall ``name``. ``args`` are the kinds
    of its arguments (table.py lists them; the handler takes one register per kind, except the
    kinds starting with "@"); ``ret`` is how --strace prints its result: ``d`` decimal, ``x``
    hex (an address), ``o`` octal (a mode), ``fcntl``, ``signo`` (a signal number)."""
    if support not in LEVELS:
        raise ValueError(f"bad support level {support!r}")

    def deco(fn):
        if name in _REGISTRY:
            raise ValueError(f"syscall {name} registered twice")
        _REGISTRY[name] = (fn, support, note, tuple(args), ret)
        return fn
    return deco


def completion(name: str):
    """Register the decorated ``fn(t, ret, *args)`` as what syscall ``name`` does once a system
    completed it after it blocked: ``ret`` is the kernel's result (``tasks.ret``), ``args`` the
    call's registers; it returns the syscall's result (wait4 copies the status out, nanosleep
    writes the remainder of an interrupted sleep). A call without one returns ``ret``."""
    def deco(fn):
        if name in _COMPLETIONS:
            raise ValueError(f"completion of {name} registered twice")
        _COMPLETIONS[name] = fn
        return fn
    return deco


__all__ = ["FULL", "PARTIAL", "UNIMPLEMENTED", "LEVELS", "syscall", "completion"]
