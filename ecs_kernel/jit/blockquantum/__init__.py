"""Quanta counted in translated blocks: a compiled ``UC_HOOK_BLOCK`` that stops the engine when a
budget of blocks is spent.

Why. While another task is runnable (or a deadline is armed) a task runs in quanta, so a loop
without syscalls still lets the others run and meets its timers. Unicorn's own bound,
``emu_start(count=N)``, installs a per-*instruction* hook: every instruction of code translated
under it calls a helper, so code runs several times slower and translating it costs about twice
as much (a bash subshell's child, which translates its code afresh in its new engine, spent twice
as long in its first run: docs/measurements.md, "Fork and the futex hand-off"). This hook runs
once per translated block, before the block's first instruction (Unicorn emits it ahead of the
block's exit-request check), so a stop from it is a stop from inside a hook: the task is between
two instructions, as at the end of a count (DESIGN's hazards: never stop asynchronously).

The budget is in blocks, not instructions, so it serves the normal scheduler (a quantum is a
fairness bound, not an instruction count); deterministic runs and the schedule explorer, whose
time and decisions are instruction counts, keep ``count=`` (cpu/platform.py decides).

The control block (int64 slots, one per engine): ``BQ_BUDGET`` blocks left (0: disarmed, the hook
returns at once), ``BQ_STOP`` the address of ``uc_emu_stop``, ``BQ_ENDED`` set to 1 when the hook
stopped the engine.
"""
from __future__ import annotations

from ..options import cfunc_address
from .layout import BQ_BUDGET, BQ_ENDED, BQ_SIZE, BQ_STOP

_COMPILED = []  # (address, what keeps it alive)
HOOK_SIGNATURE = "void(voidptr, uint64, uint32, voidptr)"


def _build_hook():
    from . import kernel  # numba loads here, never at import time
    return kernel.compile_hook()


def hook_address() -> int:
    """C address of ``void hook(uc_engine *, uint64_t address, uint32_t size, void *ctl)``
    (its machine code mapped from the last build, jit/objcache.py, or numba's cfunc, compiled or
    loaded from numba's disk cache, on first call: numba loads then)."""
    if not _COMPILED:
        _COMPILED.append(cfunc_address("blockquantum_hook", HOOK_SIGNATURE, _build_hook))
    return _COMPILED[0][0]


__all__ = ["BQ_BUDGET", "BQ_ENDED", "BQ_SIZE", "BQ_STOP", "hook_address"]
