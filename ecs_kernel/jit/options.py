"""The one place numba options live, and when numba itself is loaded.

Every kernel in the package is declared with :func:`jit` so the options (disk cache, no Python
fallback, fastmath off: kernels must give the same answers as their naive oracles) are set once.
Compilation is lazy: it happens on a kernel's first call, never at import time, and is cached on
disk (``NUMBA_CACHE_DIR`` if set, else ``__pycache__`` beside the source). numba's disk cache does
not notice changes in *other* files a kernel calls into, so CI clears it before running.

numba itself is not imported until a kernel is first needed compiled. Importing numba and
initialising its CPU target costs ~0.5 s, more than the whole of a short guest's run, so
``ecs-kernel run`` lets the first kernel calls of a process run interpreted (:func:`interpret_first`:
a kernel is a plain Python function over numpy arrays, numba's own ``NUMBA_DISABLE_JIT`` mode) and
loads numba only once the guest has shown it needs more. Until :func:`promote` runs, a kernel is a
:class:`Kernel` and the names a kernel module takes from numba (``prange``, intrinsics, the
``numba`` module) are :class:`Lazy` placeholders; :func:`promote` imports numba and replaces, in
every kernel module, each :class:`Kernel` by its numba dispatcher and each placeholder by the real
object, so compiled kernels see plain numba globals. With no budget (the default: libraries, tests)
the first kernel call promotes, and every kernel runs compiled exactly as before.
"""
from __future__ import annotations

import ctypes
import functools
import sys
import time
from typing import Self

import numpy as np

from . import objcache

JIT_OPTIONS = {"nogil": True, "cache": True, "fastmath": False, "boundscheck": False}

_KERNELS: list[Kernel] = []
_LAZY_MODULES: set[str] = set()  # modules whose globals hold Kernels or Lazy placeholders
_budget = 0  # kernel calls that may still run interpreted
_budget_ns = 0  # and the time they may still take (an outermost call's, measured)
_running = 0  # interpreted kernel calls under way (nested ones included)
_promoted = False


class Lazy:
    """A numba object a kernel module names at import time without importing numba: ``factory``
    builds it (numba imported) when :func:`promote` runs. Interpreted kernels never touch one,
    except ``prange`` (a ``range`` until then) and attribute access, which promotes."""

    def __init__(self, factory, interpreted=None, attrs=None):
        self.factory = factory
        self.interpreted = interpreted
        self.attrs = attrs or {}  # what attributes are while kernels run interpreted

    def __call__(self, *args):
        if self.interpreted is not None:
            return self.interpreted(*args)
        promote()
        return self.factory()(*args)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if not _promoted and name in self.attrs:
            return self.attrs[name]
        promote()
        return getattr(self.factory(), name)


def _numba_module():
    import numba
    return numba


def _prange():
    import numba
    return numba.prange


def _carray(addr, shape, dtype=None):
    """``numba.carray`` for interpreted kernels, where a pointer is an int address (what
    :func:`intrinsic` pointer casts give while interpreted): a numpy view of that memory."""
    dt = np.dtype(np.uint8 if dtype is None else dtype)
    n = 1
    for d in (shape if isinstance(shape, tuple) else (shape,)):  # (np.prod: ~5 us a call)
        n *= int(d)
    buf = (ctypes.c_char * (n * dt.itemsize)).from_address(int(addr))
    return np.frombuffer(buf, dtype=dt, count=n).reshape(shape)


# Use as ``numba = numba_module`` in a kernel module.
numba_module = Lazy(_numba_module, attrs={"carray": _carray})
prange = Lazy(_prange, interpreted=range)


class Kernel:
    """A kernel before numba is loaded: calls run ``py_func`` interpreted while the budget lasts
    (and the kernel allows it), otherwise :func:`promote` and call the numba dispatcher."""

    def __init__(self, fn, opts: dict, interpret: bool):
        functools.update_wrapper(self, fn)
        self.py_func = fn
        self.opts = opts
        self.interpretable = interpret
        self.dispatcher = None
        _KERNELS.append(self)
        _LAZY_MODULES.add(fn.__module__)

    @property
    def signatures(self):
        return [] if self.dispatcher is None else self.dispatcher.signatures

    def __call__(self, *args):
        global _budget, _budget_ns, _running
        if self.dispatcher is None:
            # a kernel called from an interpreted one is interpreted too, budget or not:
            # promoting in the middle would swap the outer kernel's globals (its intrinsics)
            # for numba's, which plain Python cannot call
            if self.interpretable and _running:
                _running += 1
                try:
                    return self.py_func(*args)
                finally:
                    _running -= 1
            if self.interpretable and _budget > 0 and _budget_ns > 0:
                _budget -= 1
                _running += 1
                t0 = time.perf_counter_ns()
                try:
                    return self.py_func(*args)
                finally:
                    _running -= 1
                    _budget_ns -= time.perf_counter_ns() - t0
            promote()
        return self.dispatcher(*args)

    def __repr__(self):
        return f"<Kernel {self.py_func.__module__}.{self.py_func.__qualname__}>"


def promote() -> None:
    """Import numba and make every kernel a numba dispatcher (compiled, or loaded from the disk
    cache, on its first call as usual)."""
    global _promoted, _budget, _budget_ns
    if _promoted:
        return
    import numba
    _budget = _budget_ns = 0
    for k in _KERNELS:
        k.dispatcher = numba.njit(**k.opts)(k.py_func)
    # this module's own placeholders too, so a kernel module imported after promotion gets the
    # real objects
    for name in [__name__, *_LAZY_MODULES]:
        g = sys.modules[name].__dict__
        for key, v in list(g.items()):
            if isinstance(v, Kernel):
                g[key] = v.dispatcher
            elif isinstance(v, Lazy):
                g[key] = v.factory()
    _promoted = True


def interpret_first(calls: int, seconds: float | None = None) -> None:
    """Let the next ``calls`` kernel calls run interpreted, before numba is loaded (start-up of a
    short-lived command), for at most ``seconds`` of their time in all (None: no bound). The
    time bound is for kernels whose calls grow with the World (a kernel over every task row: a
    thousand threads make each call a thousand times dearer than a count of calls foresaw).
    No effect once numba is loaded."""
    global _budget, _budget_ns
    if not _promoted:
        _budget = calls
        _budget_ns = 1 << 62 if seconds is None else int(seconds * 1e9)


def is_promoted() -> bool:
    return _promoted


def jit(fn=None, *, interpret: bool = True, allocates: bool = True, **overrides):
    """``numba.njit`` with the project's options. Usable bare (``@jit``) or with overrides;
    ``interpret=False`` for a kernel that cannot run as plain Python (intrinsics, raw pointers).

    ``allocates=False`` compiles without numba's runtime (NRT): the kernel cannot create arrays,
    and the arrays it is given are used without reference counting. numba counts a reference
    (an atomic increment, and a decrement later) each time an array is bound to a new name, which
    is what an ``inline="always"`` helper taking arrays does per item; in the batched signal
    kernels those counts were ~40% of the time. numba's disk cache does not notice the change of
    flag (clear it when you add or remove one)."""
    opts = {**JIT_OPTIONS, **overrides}
    if not allocates:
        opts["_nrt"] = False

    def deco(f):
        if _promoted:
            import numba
            return numba.njit(**opts)(f)
        return Kernel(f, opts, interpret)
    if fn is None:
        return deco
    return deco(fn)


def cfunc(sig, fn):
    """``numba.cfunc`` with the disk cache: a C callable (``.address``) compiled, or loaded from
    the cache, now. Call it only when the C function is needed, never at import time."""
    promote()
    import numba
    return numba.cfunc(sig, cache=True, nopython=True)(fn)


def cfunc_address(name: str, signature: str, build) -> tuple[int, object]:
    """The C address of hook ``name`` (C signature ``signature``, e.g. ``"void(voidptr,
    voidptr)"``): mapped from its machine code kept beside numba's cache (jit/objcache.py: no
    numba loaded, a few ms), else ``build()`` (a numba ``cfunc``: numba loads, compiles or loads
    its cache) and that code kept for the next process. Returns the address and what must stay
    alive as long as it is called (the cfunc, or None)."""
    addr = objcache.load(name, signature)
    if addr is not None:
        return addr, None
    made = build()
    objcache.save(name, signature, made)
    return made.address, made


def intrinsic(fn=None, *, interpreted=None):
    """``numba.extending.intrinsic``, defined when numba is loaded (a :class:`Lazy` until then).
    ``interpreted`` is what a call does in an interpreted kernel (e.g. a pointer cast: the int)."""
    if fn is None:
        return lambda f: intrinsic(f, interpreted=interpreted)
    cell = []

    def factory():
        if not cell:
            from numba.extending import intrinsic as _intrinsic
            cell.append(_intrinsic(fn))
        return cell[0]
    if _promoted:
        return factory()
    return Lazy(factory, interpreted=interpreted)


def register_module(name: str) -> None:
    """A module that holds :class:`Lazy` globals but no kernel of its own (so :func:`promote`
    swaps them too)."""
    _LAZY_MODULES.add(name)


class JitClock:
    """How long numba spends making kernels ready while it is active (a ``with`` block):
    ``seconds`` compiling them or loading them from the disk cache (numba's
    ``numba:compiler_lock`` events, which cover both; nested ones count once) and ``compiled``,
    the kernels compiled rather than loaded (``numba:compile`` events). A command that reports a
    rate leaves this time out of it: it is paid once per process (compiling: once per machine).
    ``on_compile()`` is called when a compilation starts (a progress bar can say so). Imports
    numba: use it where kernels will run compiled anyway."""

    def __init__(self, on_compile=None):
        self.seconds = 0.0
        self.compiled = 0
        self.on_compile = on_compile
        self._depth = 0
        self._t0 = 0.0
        self._listeners = ()

    def __enter__(self) -> Self:
        from numba.core import event

        clock = self

        class Held(event.Listener):  # the compiler lock: compiling or loading from the cache
            def on_start(self, ev):
                if clock._depth == 0:
                    clock._t0 = time.perf_counter()
                clock._depth += 1

            def on_end(self, ev):
                clock._depth -= 1
                if clock._depth == 0:
                    clock.seconds += time.perf_counter() - clock._t0

        class Compiling(event.Listener):
            def on_start(self, ev):
                clock.compiled += 1
                if clock.on_compile is not None:
                    clock.on_compile()

            def on_end(self, ev):
                pass

        self._listeners = (("numba:compiler_lock", Held()), ("numba:compile", Compiling()))
        for kind, listener in self._listeners:
            event.register(kind, listener)
        return self

    def __exit__(self, *exc) -> None:
        from numba.core import event
        for kind, listener in self._listeners:
            event.unregister(kind, listener)
        self._listeners = ()
        if self._depth:  # left inside a compilation (an exception, Ctrl-C): count it up to now
            self.seconds += time.perf_counter() - self._t0
            self._depth = 0

    def now(self) -> float:
        """``seconds`` so far, a compilation in progress included."""
        return self.seconds + (time.perf_counter() - self._t0 if self._depth else 0.0)
