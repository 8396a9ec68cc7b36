"""FD-table kernels: descriptor allocation over uint64 bitmaps, one row of words per table.

``bitmap`` has shape ``(n_tables, n_words)`` and dtype uint64; bit ``fd % 64`` of word ``fd // 64``
of row ``table`` is set when ``fd`` is open in that table (Linux ``fdtable->open_fds``). The
capacity of every table is ``n_words * 64`` descriptors.

Allocation follows Linux ``alloc_fd(start, end)`` (fs/file.c): the lowest free fd ``>= start``;
``-EMFILE`` when that fd is ``>= end`` (``end`` is ``RLIMIT_NOFILE``, so a limit of 256 allows fds
0..255 and need not be a multiple of 64). Scans are word-level: a full word (``~word == 0``) is
skipped whole and the lowest zero bit of the first non-full word is found with bit tricks.

Growth is the caller's job. The kernels never resize ``bitmap`` (a kernel cannot reallocate the
caller's array, and a batch must not move it mid-flight). When the lowest free fd lies beyond the
capacity but under the limit, an allocation returns :data:`NEED_GROWTH` and changes nothing: the
caller widens the bitmap (``words_needed(fd + 1)`` words or more, zero-filled, e.g. doubling like
Linux ``expand_fdtable``) and retries. Sizing tables to ``words_needed(limit)`` up front means
``NEED_GROWTH`` never happens.

Each kernel is a private ``_name`` behind a public wrapper that checks dtypes, shapes and ranges
and raises ``ValueError`` for misuse by the caller. Guest-level failures are returned as negative
errnos (``-EMFILE``, ``-EBADF``), never raised.
"""
from __future__ import annotations

import operator

import numpy as np

from ecs_kernel.abi import EBADF, EMFILE
from ecs_kernel.jit.checks import check_vec
from ecs_kernel.jit.options import jit
# The same bit scan the signal kernels use. numba's disk cache does not notice edits in another
# file, so after changing ctz64 clear the cache (CI always does).
from ecs_kernel.jit.signals import ctz64

#: Returned by an allocation whose lowest free fd is beyond the bitmap's capacity but below the
#: limit: grow the table and retry. Outside Linux's errno range (1..4095), so never confused with
#: ``-errno``.
NEED_GROWTH = -4096

BITS_PER_WORD = 64

#: Scalar fds and limits above this are clamped to it by the wrappers (the kernels take int64):
#: a limit of RLIM_INFINITY (2**64 - 1) then means "no limit", and no table is ever this big.
_FD_CLAMP = 1 << 62


def words_needed(limit):
    """Words per table row needed to hold fds ``0 .. limit - 1``."""
    limit = operator.index(limit)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return (limit + BITS_PER_WORD - 1) // BITS_PER_WORD


# --------------------------------------------------------------------------------------------
# Bit helpers
# --------------------------------------------------------------------------------------------

@jit
def popcount64(x):
    """Number of set bits of the uint64 ``x`` (SWAR; no multiply, so nothing overflows)."""
    x = np.uint64(x)
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    x = x + (x >> np.uint64(8))
    x = x + (x >> np.uint64(16))
    x = x + (x >> np.uint64(32))
    return np.int64(x & np.uint64(0x7F))


@jit
def _range_mask(w, w0, w1, first, last):
    """The bits of word ``w`` that lie in ``[first, last]`` (``w0 = first // 64``, ``w1 = last // 64``)."""
    m = ~np.uint64(0)
    if w == w0:
        m &= ~np.uint64(0) << np.uint64(first & 63)
    if w == w1:
        m &= ~np.uint64(0) >> np.uint64(63 - (last & 63))
    return m


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------

@jit
def _alloc_lowest(bitmap, table, min_fd, limit):
    """Lowest free fd in ``[min_fd, limit)`` of row ``table``, marked used; ``-EMFILE`` if none
    below the limit; ``NEED_GROWTH`` if the lowest free fd is past the capacity but below the limit.

    Preconditions: ``0 <= table < n_tables``, ``min_fd >= 0``, ``limit >= 0``.
    """
    n_words = bitmap.shape[1]
    if min_fd >= limit:
        return -EMFILE
    zero = np.uint64(0)
    w = min_fd >> 6
    if w < n_words:
        # Free bits of the first word, without those below min_fd.
        free = ~bitmap[table, w] & (~zero << np.uint64(min_fd & 63))
        while True:
            if free != zero:
                fd = w * 64 + ctz64(free)
                if fd >= limit:
                    return -EMFILE
                bitmap[table, w] |= np.uint64(1) << np.uint64(fd & 63)
                return fd
            w += 1
            if w >= n_words or w * 64 >= limit:
                break
            free = ~bitmap[table, w]
        # Every fd in [min_fd, w * 64) is taken.
        if w * 64 >= limit:
            return -EMFILE
        return NEED_GROWTH  # w == n_words: the lowest free fd is the capacity, below the limit
    # min_fd is past the capacity (and below the limit): min_fd itself is free but not storable.
    return NEED_GROWTH


@jit
def _check_requests(n_tables, tables, min_fds, limits):
    """-(j + 1) for the first malformed request ``j``, else 0."""
    for j in range(tables.shape[0]):
        t = tables[j]
        if t < 0 or t >= n_tables or min_fds[j] < 0 or limits[j] < 0:
            return -(j + 1)
    return 0


@jit
def _alloc_lowest_batch(bitmap, tables, min_fds, limits, out):
    """One :func:`_alloc_lowest` per request, in order. Returns the number that got an fd.

    Preconditions: the requests passed ``_check_requests``.
    """
    ok = 0
    for j in range(tables.shape[0]):
        fd = _alloc_lowest(bitmap, tables[j], min_fds[j], limits[j])
        out[j] = fd
        if fd >= 0:
            ok += 1
    return ok


@jit
def _free_fd(bitmap, table, fd):
    """Clear ``fd``: 0 if it was open, ``-EBADF`` if it was not (or is out of range)."""
    if fd < 0 or fd >= bitmap.shape[1] * 64:
        return -EBADF
    bit = np.uint64(1) << np.uint64(fd & 63)
    w = fd >> 6
    if bitmap[table, w] & bit == np.uint64(0):
        return -EBADF
    bitmap[table, w] &= ~bit
    return 0


@jit
def _is_used(bitmap, table, fd):
    if fd < 0 or fd >= bitmap.shape[1] * 64:
        return False
    return (bitmap[table, fd >> 6] & (np.uint64(1) << np.uint64(fd & 63))) != np.uint64(0)


@jit
def _close_range(bitmap, table, first, last):
    """Clear every open fd in ``[first, last]`` of row ``table``; returns them ascending (int64).

    Preconditions: ``0 <= first <= last``.
    """
    n_words = bitmap.shape[1]
    zero = np.uint64(0)
    if first >= n_words * 64:
        return np.empty(0, dtype=np.int64)
    if last >= n_words * 64:
        last = n_words * 64 - 1
    w0 = first >> 6
    w1 = last >> 6
    total = 0
    for w in range(w0, w1 + 1):
        total += popcount64(bitmap[table, w] & _range_mask(w, w0, w1, first, last))
    out = np.empty(total, dtype=np.int64)
    k = 0
    for w in range(w0, w1 + 1):
        # np.uint64(): run interpreted after the budget promoted _range_mask, the compiled
        # helper hands back a Python int, whose ~ is negative
        m = np.uint64(_range_mask(w, w0, w1, first, last))
        x = bitmap[table, w] & m
        if x == zero:
            continue
        bitmap[table, w] &= ~m
        while x != zero:
            out[k] = w * 64 + ctz64(x)
            k += 1
            x &= x - np.uint64(1)  # clear the lowest set bit (x != 0: no wrap)
    return out


@jit
def _count_used(bitmap, table):
    total = 0
    for w in range(bitmap.shape[1]):
        total += popcount64(bitmap[table, w])
    return total


@jit
def _count_used_all(bitmap, out):
    for t in range(bitmap.shape[0]):
        total = 0
        for w in range(bitmap.shape[1]):
            total += popcount64(bitmap[t, w])
        out[t] = total


# --------------------------------------------------------------------------------------------
# Validation and public wrappers
# --------------------------------------------------------------------------------------------

_U64 = np.dtype(np.uint64)
_INT_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def _check_bitmap(bitmap, writeable=False):
    if not isinstance(bitmap, np.ndarray):
        raise ValueError(f"bitmap must be a numpy array, got {type(bitmap).__name__}")
    if bitmap.dtype != _U64:
        raise ValueError(f"bitmap must have dtype uint64, got {bitmap.dtype}")
    if bitmap.ndim != 2:
        raise ValueError(f"bitmap must be 2-D (n_tables, n_words), got shape {bitmap.shape}")
    if writeable and not bitmap.flags.writeable:
        raise ValueError("bitmap must be writeable")


def _int(name, value, lo=None, hi=None):
    try:
        v = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}") from None
    if lo is not None and v < lo:
        raise ValueError(f"{name} must be >= {lo}, got {v}")
    if hi is not None and v >= hi:
        raise ValueError(f"{name} must be < {hi}, got {v}")
    return v


def _table(bitmap, table):
    return _int("table", table, 0, bitmap.shape[0])


def alloc_lowest(bitmap, table, min_fd, limit):
    """Allocate the lowest free fd ``>= min_fd`` and ``< limit`` in ``table``; returns it.

    Returns ``-EMFILE`` when there is none below ``limit`` (``RLIMIT_NOFILE``; also when
    ``min_fd >= limit``: fcntl's F_DUPFD turns that case into EINVAL itself), and
    :data:`NEED_GROWTH` (table unchanged) when the lowest free fd is past the bitmap's capacity.
    """
    _check_bitmap(bitmap, writeable=True)
    t = _table(bitmap, table)
    min_fd = min(_int("min_fd", min_fd, 0), _FD_CLAMP)
    limit = min(_int("limit", limit, 0), _FD_CLAMP)
    return int(_alloc_lowest(bitmap, t, min_fd, limit))


def alloc_lowest_batch(bitmap, tables, min_fds, limits, out):
    """One allocation per request ``j`` (``tables[j]``, ``min_fds[j]``, ``limits[j]``), in order.

    A table may appear several times: later requests see earlier allocations. ``out[j]`` (int64)
    gets the fd, ``-EMFILE`` or :data:`NEED_GROWTH` as :func:`alloc_lowest` returns. Returns the
    number of requests that got an fd. A malformed request (table out of range, negative min_fd
    or limit) raises before anything is allocated.
    """
    _check_bitmap(bitmap, writeable=True)
    check_vec("tables", tables, _INT_DTYPES)
    m = tables.shape[0]
    check_vec("min_fds", min_fds, _INT_DTYPES, m, what="one per request")
    check_vec("limits", limits, _INT_DTYPES, m, what="one per request")
    check_vec("out", out, (np.dtype(np.int64),), m, writeable=True, what="one per request")
    code = _check_requests(bitmap.shape[0], tables, min_fds, limits)
    if code < 0:
        j = -code - 1
        raise ValueError(
            f"request {j} is malformed: tables[{j}] = {int(tables[j])} (n_tables = "
            f"{bitmap.shape[0]}), min_fds[{j}] = {int(min_fds[j])}, limits[{j}] = {int(limits[j])}")
    return int(_alloc_lowest_batch(bitmap, tables, min_fds, limits, out))


def free_fd(bitmap, table, fd):
    """Mark ``fd`` free in ``table``: 0, or ``-EBADF`` if it was not open (or out of range)."""
    _check_bitmap(bitmap, writeable=True)
    t = _table(bitmap, table)
    fd = _int("fd", fd)
    if not -_FD_CLAMP < fd < _FD_CLAMP:
        return -EBADF
    return int(_free_fd(bitmap, t, fd))


def is_used(bitmap, table, fd):
    """True if ``fd`` is open in ``table`` (False for fds outside the capacity or negative)."""
    _check_bitmap(bitmap)
    t = _table(bitmap, table)
    fd = _int("fd", fd)
    if not -_FD_CLAMP < fd < _FD_CLAMP:
        return False
    return bool(_is_used(bitmap, t, fd))


def close_range(bitmap, table, first, last):
    """Free every open fd in ``[first, last]`` of ``table``; returns them, ascending (int64).

    ``last`` may exceed the capacity (close_range(2) callers pass ``~0U``); it is clamped.
    ``first > last`` raises ValueError: close_range(2)'s EINVAL is the syscall handler's check.
    """
    _check_bitmap(bitmap, writeable=True)
    t = _table(bitmap, table)
    first = _int("first", first, 0)
    last = _int("last", last, 0)
    if first > last:
        raise ValueError(f"first ({first}) must be <= last ({last})")
    return _close_range(bitmap, t, min(first, _FD_CLAMP), min(last, _FD_CLAMP))


def count_used(bitmap, table=None):
    """Open fds in ``table`` (an int); with ``table=None``, an int64 array: one count per table."""
    _check_bitmap(bitmap)
    if table is None:
        out = np.empty(bitmap.shape[0], dtype=np.int64)
        _count_used_all(bitmap, out)
        return out
    return int(_count_used(bitmap, _table(bitmap, table)))


__all__ = [
    "EMFILE", "EBADF", "NEED_GROWTH", "BITS_PER_WORD", "words_needed", "popcount64",
    "alloc_lowest", "alloc_lowest_batch", "free_fd", "is_used", "close_range", "count_used",
]
