"""Signal action tables (what sigaction(2) sets), shared copy-on-write between handler tables.

A ``signal_handlers`` row (Linux's sighand_struct: shared by the tasks of a CLONE_SIGHAND group,
components/resources.py) names a row of ``sigactions``: 64 entries of (handler, flags, mask,
restorer), 2 KiB. Linux gives every sighand_struct a table of its own; here handler tables with
equal contents share one ``sigactions`` row, so fork copies 4 bytes instead of 2 KiB, and 62,500
synthetic processes that installed the same handlers hold one table between them.

A ``sigactions`` row never changes while it is named: a write (sigaction, SA_RESETHAND, a fault
that resets a handler, exec) builds the new table, finds the row that holds that table (the index
``world.index.sigactions``: a 128-bit digest of the table -> row, each hit checked) or fills a
new one, and points the handler table at it. Rows count the handler tables that name them
(``refs``) and are freed at zero.

Invariant (:func:`check`): every live ``signal_handlers`` row names a live ``sigactions`` row;
``refs`` counts them; the index holds each live row once, under its own contents.
"""
from __future__ import annotations

try:  # hashlib's own blake2b without importing hashlib, which loads OpenSSL (~3 ms of start-up)
    from _blake2 import blake2b
except ImportError:  # an interpreter without CPython's builtin module
    from hashlib import blake2b

import numpy as np

from ..abi import NSIG, SIG_DFL, SIG_IGN
from ..jit.scatter import add_at, subtract_at
from ..world import Column, Component
from . import resources

COLUMNS = ("sa_handler", "sa_flags", "sa_mask", "sa_restorer")

SigActions = Component("SigActions", "sigactions", {
    "sa_handler": Column(np.uint64, SIG_DFL, (NSIG,)),
    "sa_flags": Column(np.uint64, 0, (NSIG,)),
    "sa_mask": Column(np.uint64, 0, (NSIG,)),
    "sa_restorer": Column(np.uint64, 0, (NSIG,)),
    "refs": Column(np.int32, 0),  # signal_handlers rows naming this table
}, doc="sigaction(2) tables, index signo - 1; immutable while named, shared by equal contents.")


def _index(world) -> dict:
    return world.index.sigactions


def _key(cols) -> bytes:
    """A table's index key: a 128-bit digest of its contents (a hit is checked entry by entry)."""
    h = blake2b(digest_size=16)
    for c in cols:
        h.update(c.tobytes())
    return h.digest()


def _table(A, a: int) -> list:
    """Row ``a``'s four columns of 64 entries (views: copy before editing)."""
    return [getattr(A, name)[a] for name in COLUMNS]


def _holds(A, a: int, cols) -> bool:
    return all(np.array_equal(x, c) for x, c in zip(_table(A, a), cols))


def table_of(world, sh: int) -> int:
    """The ``sigactions`` row of handler table ``sh``."""
    return int(world.signal_handlers.actions[sh])


def action(world, sh: int, signo: int) -> tuple[int, int, int, int]:
    """(handler, flags, mask, restorer) of ``signo`` in handler table ``sh``."""
    A, a, i = world.sigactions, table_of(world, sh), signo - 1
    return (int(A.sa_handler[a, i]), int(A.sa_flags[a, i]), int(A.sa_mask[a, i]),
            int(A.sa_restorer[a, i]))


def _intern(world, cols) -> int:
    """The row holding table ``cols`` (made if none does), with one more reference."""
    A, idx = world.sigactions, _index(world)
    key = _key(cols)
    a = idx.get(key)
    if a is None or not _holds(A, a, cols):
        if a is not None:  # a digest collision: never seen, but then the new table goes unshared
            key = None
        a = A.alloc()
        for name, c in zip(COLUMNS, cols):
            getattr(A, name)[a] = c
        if key is not None:
            idx[key] = a
    A.refs[a] += 1
    return a


def _unref(world, a: int) -> None:
    """One reference fewer; frees the row at zero."""
    A = world.sigactions
    A.refs[a] -= 1
    if A.refs[a] == 0:
        free_unnamed(world, a)


def _rewrite(world, sh: int, edit) -> None:
    """Point handler table ``sh`` at its table changed by ``edit(handler, flags, mask, restorer)``
    (arrays of 64, edited in place)."""
    A, H = world.sigactions, world.signal_handlers
    old = int(H.actions[sh])
    cols = [c.copy() for c in _table(A, old)]
    edit(*cols)
    H.actions[sh] = _intern(world, cols)
    _unref(world, old)


def set_action(world, sh: int, signo: int, handler: int, flags: int, mask: int,
               restorer: int) -> None:
    """sigaction's write of one entry."""
    if action(world, sh, signo) == (handler, flags, mask, restorer):
        return
    i = signo - 1

    def edit(h, f, m, r):
        h[i], f[i], m[i], r[i] = handler, flags, mask, restorer
    _rewrite(world, sh, edit)


def reset_handler(world, sh: int, signo: int) -> None:
    """The handler of ``signo`` back to SIG_DFL, the rest of its entry kept (SA_RESETHAND,
    force_sig_info)."""
    if action(world, sh, signo)[0] == SIG_DFL:
        return

    def edit(h, f, m, r):
        h[signo - 1] = SIG_DFL
    _rewrite(world, sh, edit)


def flush_handlers(world, sh: int) -> None:
    """exec (Linux flush_signal_handlers): every handler that is not SIG_IGN becomes SIG_DFL, and
    every entry loses its flags, mask and restorer."""
    def edit(h, f, m, r):
        h[h != SIG_IGN] = SIG_DFL
        f[:] = 0
        m[:] = 0
        r[:] = 0
    _rewrite(world, sh, edit)


def edited(world, a: int, signo: int, handler: int, flags: int) -> int:
    """The row holding table ``a`` with ``signo``'s entry set to (handler, flags, no mask, no
    restorer), made if none does, *without* a reference: the caller moves a handler table to it
    at once (the batched sigaction kernel, jit/signals_batch.sigaction_batch)."""
    A = world.sigactions
    cols = [c.copy() for c in _table(A, a)]
    i = signo - 1
    cols[0][i], cols[1][i], cols[2][i], cols[3][i] = handler, flags, 0, 0
    new = _intern(world, cols)
    A.refs[new] -= 1
    return new


def free_unnamed(world, a: int) -> None:
    """Free table ``a``, which a kernel left with no reference."""
    A, idx = world.sigactions, _index(world)
    key = _key(_table(A, a))
    if idx.get(key) == a:
        del idx[key]
    A.free(a)


# -- the resource hooks: a handler table is made, copied (fork) and released ----------------------

def _on_new(world, sh: int) -> None:
    default = [np.full(NSIG, SIG_DFL, np.uint64), *(np.zeros(NSIG, np.uint64) for _ in range(3))]
    world.signal_handlers.actions[sh] = _intern(world, default)


def _on_copy(world, src: int, dst: int) -> None:
    world.sigactions.refs[world.signal_handlers.actions[dst]] += 1


def _on_copy_many(world, src: np.ndarray, dst: np.ndarray) -> None:
    add_at(world.sigactions.refs, world.signal_handlers.actions[dst], 1)


def _on_release(world, sh: int) -> None:
    H = world.signal_handlers
    _unref(world, int(H.actions[sh]))
    H.actions[sh] = -1


def _on_release_many(world, rows: np.ndarray) -> None:
    """_on_release of each row in order: the tables whose last reference goes are freed in the
    order the references went (the free stack sees what one call at a time gives it)."""
    H, A = world.signal_handlers, world.sigactions
    a = H.actions[rows].astype(np.int64)
    H.actions[rows] = -1
    subtract_at(A.refs, a, 1)
    gone, first_from_end = np.unique(a[::-1], return_index=True)
    last = len(a) - 1 - first_from_end
    zero = A.refs[gone] == 0
    for t in gone[zero][np.argsort(last[zero])].tolist():
        free_unnamed(world, t)


resources.NEW_HOOKS["signal_handlers"] = _on_new
resources.COPY_HOOKS["signal_handlers"] = _on_copy
resources.COPY_MANY_HOOKS["signal_handlers"] = _on_copy_many
resources.RELEASE_HOOKS["signal_handlers"] = _on_release
resources.RELEASE_MANY_HOOKS["signal_handlers"] = _on_release_many


def check(world) -> None:
    A, H = world.sigactions, world.signal_handlers
    named = H.actions[H.live_rows()]
    assert (named >= 0).all() and A.alive[named].all(), "a handler table names no action table"
    counts = np.bincount(named, minlength=A.n)[: A.n]
    live = A.live_rows()
    assert (counts[live] == A.refs[live]).all(), "sigactions refs do not match their handler tables"
    idx = _index(world)
    assert sorted(idx.values()) == live.tolist(), "the sigactions index does not hold each row once"
    for a in live.tolist():
        assert idx.get(_key(_table(A, a))) == a, \
            f"sigactions row {a} is indexed under other contents"


SigActions.check = check

COMPONENTS = [SigActions]
