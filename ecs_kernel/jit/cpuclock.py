"""CPU-clock kernels: per-task user/system time accounting and the thread-group CPU clock.

Columns (one entry per task row unless said otherwise):

- ``state`` (uint8): what the task's CPU did during the interval being charged:
  :data:`CPU_IDLE` (0, not running: blocked, stopped, runnable but not scheduled),
  :data:`CPU_USER` (1, running application code: gVisor ``TaskGoroutineRunningApp``),
  :data:`CPU_SYS` (2, running in the kernel, e.g. a syscall: ``TaskGoroutineRunningSys``).
  Any other value is treated as not running (``check_sanity`` is the place to reject it).
- ``utime``, ``stime`` (int64 nanoseconds): the task's user and system CPU clocks.
- ``task_tg`` (int32 or int64): the task's thread-group row.
- ``alive`` (bool): rows holding a live task. Dead rows are never charged nor summed, and their
  ``task_tg`` may hold anything (it is not read); the branch-free accounting kernels do rewrite
  dead rows' clocks, with the values they already had.

DESIGN says measure, don't sample: :func:`account_tick_measured` charges what each task actually
used (``used_ns``); :func:`account_tick` charges a whole tick to every running task, for synthetic
tasks whose "CPU" is the tick itself.

The thread-group clock (:func:`sum_by_group`) sums the *live* threads only. Linux's process CPU
clock (``thread_group_cputime``) also counts threads that have exited, which Linux keeps in
``signal->utime``/``stime``; add the group's own accumulator of dead threads' time to the result.

Each kernel is a private ``_name`` behind a public wrapper that checks dtypes and shapes and raises
``ValueError``. Kernels that mutate ``utime``/``stime`` roll back what they charged when they meet a
bad row (a group out of range, a negative measured time), so an error leaves the clocks as they
were. Clocks are int64 nanoseconds and are not checked for overflow (2**63 ns is 292 years).
"""
from __future__ import annotations

import operator

import numpy as np

from ecs_kernel.jit.checks import check_vec as _check
from ecs_kernel.jit.options import jit, prange

CPU_IDLE = 0
CPU_USER = 1
CPU_SYS = 2


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------

@jit
def _account_tick(state, utime, stime, alive, tick_ns):
    """Add ``tick_ns`` to utime where state is CPU_USER, to stime where CPU_SYS (live rows).
    Returns the number of tasks charged.

    Branch-free (a select per column instead of a branch on a data-dependent state), so LLVM
    vectorises it; every row's clocks are rewritten, dead and idle ones with +0.
    """
    charged = 0
    for i in range(state.shape[0]):
        a = alive[i]
        s = state[i]
        du = tick_ns if (a & (s == CPU_USER)) else 0
        ds = tick_ns if (a & (s == CPU_SYS)) else 0
        utime[i] += du
        stime[i] += ds
        charged += a & ((s == CPU_USER) | (s == CPU_SYS))
    return charged


@jit(parallel=True)
def _account_tick_parallel(state, utime, stime, alive, tick_ns):
    """:func:`_account_tick` over ``prange`` (rows are independent)."""
    charged = 0
    for i in prange(state.shape[0]):
        a = alive[i]
        s = state[i]
        du = tick_ns if (a & (s == CPU_USER)) else 0
        ds = tick_ns if (a & (s == CPU_SYS)) else 0
        utime[i] += du
        stime[i] += ds
        charged += a & ((s == CPU_USER) | (s == CPU_SYS))
    return charged


@jit
def _account_tick_measured(state, utime, stime, alive, used_ns):
    """Add ``used_ns[i]`` to utime or stime by state (live rows). Returns the number of tasks
    charged, or ``-(i + 1)`` if row ``i`` is the first running row with a negative ``used_ns``;
    then every charge is rolled back (a second pass) so nothing has changed."""
    charged = 0
    n_negative = 0
    for i in range(state.shape[0]):
        a = alive[i]
        s = state[i]
        d = used_ns[i]
        du = d if (a & (s == CPU_USER)) else 0
        ds = d if (a & (s == CPU_SYS)) else 0
        utime[i] += du
        stime[i] += ds
        running = a & ((s == CPU_USER) | (s == CPU_SYS))
        charged += running
        n_negative += running & (d < 0)
    if n_negative == 0:
        return charged
    first = -1
    for i in range(state.shape[0]):
        a = alive[i]
        s = state[i]
        d = used_ns[i]
        utime[i] -= d if (a and s == CPU_USER) else 0
        stime[i] -= d if (a and s == CPU_SYS) else 0
        if first < 0 and a and (s == CPU_USER or s == CPU_SYS) and d < 0:
            first = i
    return -(first + 1)


@jit
def _sum_by_group(task_tg, utime, stime, alive, out_utime, out_stime):
    """Per-group sums of the live rows' clocks into the (overwritten) outputs. Returns 0, or
    ``-(i + 1)`` for the first live row whose ``task_tg`` is out of range.

    The sums go to one interleaved ``(n_groups, 2)`` scratch first, so each row touches one cache
    line instead of two (9.1 vs 11.0 ns/row at 10^6 rows with random groups), then are copied out.
    """
    n_groups = out_utime.shape[0]
    acc = np.zeros((n_groups, 2), dtype=np.int64)
    for i in range(task_tg.shape[0]):
        if alive[i]:
            g = task_tg[i]
            if g < 0 or g >= n_groups:
                return -(i + 1)
            acc[g, 0] += utime[i]
            acc[g, 1] += stime[i]
    for g in range(n_groups):
        out_utime[g] = acc[g, 0]
        out_stime[g] = acc[g, 1]
    return 0


@jit
def _account_and_sum(state, utime, stime, alive, task_tg, tick_ns, out_utime, out_stime):
    """:func:`_account_tick` then :func:`_sum_by_group`, in one call.

    Two loops, not one: a single loop that both updates ``utime[i]`` and scatter-adds into the
    group sums measured 2.5-4x slower on the dev VM (10^4 rows: 53 us vs 5.7 + 16.3 us; 10^5:
    882 us vs 54 + 225 us): the accounting loop no longer vectorises, and the scatter's loads wait
    behind the clock stores. Returns the number of tasks charged, or ``-(i + 1)`` for the first
    live row whose ``task_tg`` is out of range, after taking the charges back (``-tick_ns`` is an
    exact inverse in int64).
    """
    charged = _account_tick(state, utime, stime, alive, tick_ns)
    code = _sum_by_group(task_tg, utime, stime, alive, out_utime, out_stime)
    if code < 0:
        _account_tick(state, utime, stime, alive, -tick_ns)
        return code
    return charged


@jit
def _account_and_sum_measured(state, utime, stime, alive, task_tg, used_ns, out_utime, out_stime):
    """:func:`_account_tick_measured` then :func:`_sum_by_group`, in one call (two loops, as in
    :func:`_account_and_sum`). ``-(i + 1)`` for a negative charge or a bad ``task_tg`` at row
    ``i``; nothing has changed then."""
    charged = _account_tick_measured(state, utime, stime, alive, used_ns)
    if charged < 0:
        return charged
    code = _sum_by_group(task_tg, utime, stime, alive, out_utime, out_stime)
    if code < 0:
        for i in range(state.shape[0]):  # take the charges back
            a = alive[i]
            s = state[i]
            d = used_ns[i]
            utime[i] -= d if (a & (s == CPU_USER)) else 0
            stime[i] -= d if (a & (s == CPU_SYS)) else 0
        return code
    return charged


@jit(allocates=False)
def _fold_stages(alive, utime, stime, used_user, used_sys, task_tg, out_utime, out_stime):
    """The accounting pass of a tick in one loop over the rows: each live row's stage (user and
    system ns measured since the last pass) goes into its clocks, every row's stage is zeroed,
    and live rows with a group (``task_tg >= 0``) are summed into the per-group outputs
    (overwritten). Returns the number of live rows with time staged, or ``-(i + 1)`` for the first
    live row with a negative stage or a group out of range (checked first: nothing has changed
    then)."""
    n = alive.shape[0]
    n_groups = out_utime.shape[0]
    for i in range(n):
        if alive[i] and (used_user[i] < 0 or used_sys[i] < 0 or task_tg[i] >= n_groups):
            return -(i + 1)
    for g in range(n_groups):
        out_utime[g] = 0
        out_stime[g] = 0
    charged = 0
    for i in range(n):
        u = used_user[i]
        s = used_sys[i]
        if alive[i]:
            ut = utime[i] + u
            st = stime[i] + s
            utime[i] = ut
            stime[i] = st
            charged += (u | s) != 0
            g = task_tg[i]
            if g >= 0:
                out_utime[g] += ut
                out_stime[g] += st
        if u != 0:
            used_user[i] = 0
        if s != 0:
            used_sys[i] = 0
    return charged


# --------------------------------------------------------------------------------------------
# Validation and public wrappers
# --------------------------------------------------------------------------------------------

_U8 = np.dtype(np.uint8)
_I64 = np.dtype(np.int64)
_BOOL = np.dtype(np.bool_)
_TG_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))

#: From this many rows :func:`account_tick` uses its ``prange`` kernel. On the 2-core dev VM
#: (idle), serial vs ``prange``: 4.1 vs 5.4 us at 4000 rows, 9.3 vs 8.6 us at 16000, 30.5 vs
#: 19.1 us at 64000, 179 vs 75 us at 256000. Same caveat as ``signals.PARALLEL_MIN_ROWS`` on a
#: machine whose cores are busy with other work.
PARALLEL_MIN_ROWS = 1 << 14


def _check_clocks(state, utime, stime, alive, writeable=True):
    _check("state", state, (_U8,))
    n = state.shape[0]
    _check("utime", utime, (_I64,), n, writeable)
    _check("stime", stime, (_I64,), n, writeable)
    _check("alive", alive, (_BOOL,), n)
    return n


def _check_groups(n_groups, out_utime, out_stime):
    try:
        n_groups = operator.index(n_groups)
    except TypeError:
        raise ValueError(f"n_groups must be an integer, got {type(n_groups).__name__}") from None
    if n_groups < 0:
        raise ValueError(f"n_groups must be >= 0, got {n_groups}")
    what = "one per thread group"
    _check("out_utime", out_utime, (_I64,), n_groups, writeable=True, what=what)
    _check("out_stime", out_stime, (_I64,), n_groups, writeable=True, what=what)


def _tick(tick_ns):
    try:
        tick_ns = operator.index(tick_ns)
    except TypeError:
        raise ValueError(f"tick_ns must be an integer (nanoseconds), got "
                         f"{type(tick_ns).__name__}") from None
    if tick_ns < 0:
        raise ValueError(f"tick_ns must be >= 0, got {tick_ns}")
    return np.int64(tick_ns)


def _raise_bad_tg(code, task_tg, n_groups):
    i = -code - 1
    raise ValueError(f"task_tg[{i}] = {int(task_tg[i])} is not a thread-group row "
                     f"(n_groups = {n_groups}) though alive[{i}] is True")


def account_tick(state, utime, stime, alive, tick_ns, *, parallel=None):
    """Charge ``tick_ns`` to every live running task: utime if CPU_USER, stime if CPU_SYS.

    Returns the number of tasks charged. ``parallel``: None picks by size, True/False forces the
    ``prange`` or the serial kernel.
    """
    n = _check_clocks(state, utime, stime, alive)
    tick_ns = _tick(tick_ns)
    if parallel is None:
        parallel = n >= PARALLEL_MIN_ROWS
    kernel = _account_tick_parallel if parallel else _account_tick
    return int(kernel(state, utime, stime, alive, tick_ns))


def account_tick_measured(state, utime, stime, alive, used_ns):
    """Charge each live running task what it was measured to use: ``used_ns[i]`` (int64 ns) to
    utime if CPU_USER, to stime if CPU_SYS. Returns the number of tasks charged.

    A negative charge for a running row raises ValueError and changes nothing.
    """
    n = _check_clocks(state, utime, stime, alive)
    _check("used_ns", used_ns, (_I64,), n)
    code = _account_tick_measured(state, utime, stime, alive, used_ns)
    if code < 0:
        i = -code - 1
        raise ValueError(f"used_ns[{i}] = {int(used_ns[i])} is negative for a running task")
    return int(code)


def sum_by_group(task_tg, utime, stime, alive, n_groups, out_utime, out_stime):
    """Thread-group CPU clocks: ``out_utime[g]`` / ``out_stime[g]`` = the sums over live tasks of
    group ``g`` (outputs overwritten; groups without live tasks get 0)."""
    _check("task_tg", task_tg, _TG_DTYPES)
    n = task_tg.shape[0]
    _check("utime", utime, (_I64,), n)
    _check("stime", stime, (_I64,), n)
    _check("alive", alive, (_BOOL,), n)
    _check_groups(n_groups, out_utime, out_stime)
    code = _sum_by_group(task_tg, utime, stime, alive, out_utime, out_stime)
    if code < 0:
        _raise_bad_tg(code, task_tg, n_groups)


def account_and_sum(state, utime, stime, alive, task_tg, n_groups, out_utime, out_stime, *,
                    tick_ns=None, used_ns=None):
    """:func:`account_tick` (``tick_ns=``) or :func:`account_tick_measured` (``used_ns=``), then
    :func:`sum_by_group` of the updated clocks, fused into one call (one validation, one
    dispatch; inside, an accounting loop and a summing loop, which measured faster than a single
    loop: see ``_account_and_sum``). Give exactly one of ``tick_ns`` and ``used_ns``. Returns the
    number of tasks charged; on a bad ``task_tg`` or a negative charge it raises ValueError and
    the clocks and outputs are unchanged."""
    n = _check_clocks(state, utime, stime, alive)
    _check("task_tg", task_tg, _TG_DTYPES, n)
    _check_groups(n_groups, out_utime, out_stime)
    if (tick_ns is None) == (used_ns is None):
        raise ValueError("give exactly one of tick_ns (a scalar) and used_ns (an array)")
    if used_ns is None:
        code = _account_and_sum(state, utime, stime, alive, task_tg, _tick(tick_ns),
                                out_utime, out_stime)
    else:
        _check("used_ns", used_ns, (_I64,), n)
        code = _account_and_sum_measured(state, utime, stime, alive, task_tg, used_ns,
                                         out_utime, out_stime)
    if code < 0:
        i = -code - 1
        if 0 <= task_tg[i] < n_groups:
            raise ValueError(f"used_ns[{i}] = {int(used_ns[i])} is negative for a running task")
        _raise_bad_tg(code, task_tg, n_groups)
    return int(code)


__all__ = [
    "CPU_IDLE", "CPU_USER", "CPU_SYS", "PARALLEL_MIN_ROWS",
    "account_tick", "account_tick_measured", "sum_by_group", "account_and_sum",
]


def fold_stages(alive, utime, stime, used_user, used_sys, task_tg, n_groups, out_utime, out_stime):
    """Charge each live task its staged time (``used_user`` to ``utime``, ``used_sys`` to
    ``stime``), zero the stages, and sum the live tasks' clocks per thread group (``task_tg``;
    rows with ``task_tg < 0`` belong to none) into ``out_utime``/``out_stime``, in one pass.
    Returns the number of live tasks that had time staged. A negative stage or a group out of
    range raises ValueError and changes nothing."""
    n = alive.shape[0]
    _check("alive", alive, (_BOOL,), n)
    for name, arr in (("utime", utime), ("stime", stime), ("used_user", used_user),
                      ("used_sys", used_sys)):
        _check(name, arr, (_I64,), n, writeable=True)
    _check("task_tg", task_tg, _TG_DTYPES, n)
    _check_groups(n_groups, out_utime, out_stime)
    code = _fold_stages(alive, utime, stime, used_user, used_sys, task_tg, out_utime, out_stime)
    if code < 0:
        i = -code - 1
        if task_tg[i] >= n_groups:
            _raise_bad_tg(code, task_tg, n_groups)
        raise ValueError(f"row {i} has a negative CPU stage ({int(used_user[i])} user ns, "
                         f"{int(used_sys[i])} system ns)")
    return int(code)
