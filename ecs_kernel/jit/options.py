"""The one place numba options live.

Every kernel in the package is declared with :func:`jit` so the options (disk cache, no Python
fallback, fastmath off: kernels must give the same answers as their naive oracles) are set once.
Compilation is lazy: it happens on a kernel's first call, never at import time, and is cached on
disk (``NUMBA_CACHE_DIR`` if set, else ``__pycache__`` beside the source). numba's disk cache does
not notice changes in *other* files a kernel calls into, so CI clears it before running.
"""
from __future__ import annotations

import numba

JIT_OPTIONS = dict(nogil=True, cache=True, fastmath=False, boundscheck=False)


def jit(fn=None, **overrides):
    """``numba.njit`` with the project's options. Usable bare (``@jit``) or with overrides."""
    opts = {**JIT_OPTIONS, **overrides}
    if fn is None:
        return lambda f: numba.njit(**opts)(f)
    return numba.njit(**opts)(fn)


def cfunc(sig, fn):
    """``numba.cfunc`` with the disk cache: a C callable (``.address``) compiled, or loaded from
    the cache, now. Call it only when the C function is needed, never at import time."""
    return numba.cfunc(sig, cache=True, nopython=True)(fn)
