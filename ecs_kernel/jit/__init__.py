"""numba kernels: the hot paths. ``options.py`` is the only place numba options live.

Kernels are pure functions over arrays and scalars. Nothing here compiles at import time: every
kernel is a lazily compiled ``njit`` with ``cache=True`` (see ``options.jit``).
"""
