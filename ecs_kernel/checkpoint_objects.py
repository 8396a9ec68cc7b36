"""The Python objects of a checkpoint: which classes may be saved, and how they are written and read.

A checkpoint (checkpoint_file.py) holds plain-number arrays and a JSON manifest. Kernel state that
is not a component column (the index's maps, a guest's files, inodes, pipes, memory) goes in as
*objects*: entries ``{"class": name, "meta": {...}}`` in the manifest's object list, referred to by
number (an object two places share is written once, and cycles such as a directory and its parent
are fine). Only a class registered here can be named; loading never imports a module or builds
an object of a class the file chose.

A class is registered in one of two ways:

- ``@state_class`` with its own ``to_state(self, w, name) -> meta`` and classmethod
  ``from_state(cls, r, name, meta)`` (for objects with arrays or engines to rebuild: guest memory,
  PID maps);
- ``@state_class`` with a ``__state__`` dict of *declared fields* ``{attribute: type}``, merged along
  the class's bases: the attributes are written and read back by type, and a value of the wrong
  kind is refused (a forged file cannot put a string where an inode belongs). Types::

      int bool str float bytes bytearray     the value itself (bytes: hex, or an array if long)
      ?T                                     None or T
      ~T                                     T, or the attribute is absent (set lazily)
      list[T] set[T] deque[T] tuple[T]       homogeneous containers
      dict[K,V]                              K is int or str
      (T1,T2,...)                            a fixed tuple
      [T1,T2,...]                            a fixed list (mutable in place)
      @Name                                  an object whose class or a base is named Name
      fn                                     a registered function or a functools.partial of one
      ctx:name                               what the restoring side provides under ``name`` (the
                                             file system's clock, the /proc provider): written as
                                             the name only

  ``__restored__(self, r)`` runs once the whole checkpoint is read (rebuild what is derived,
  check the host); ``__checkpoint_check__(self)`` may refuse to save (TypeError: one line).

Objects that are module globals (a superblock shared by every pipe) are registered with
:func:`state_global`: their fields are saved and loaded into the existing object.
"""
from __future__ import annotations

import contextlib
import functools
import re
from collections import deque
from typing import Any, Callable

import numpy as np

from .checkpoint_file import CheckpointError

STATE_CLASSES: dict[str, type] = {}
"""Classes whose objects a checkpoint may hold, by name (:func:`state_class`)."""

STATE_FUNCTIONS: dict[str, Callable] = {}
"""Functions a saved ``fn`` field may name (:func:`state_function`)."""

STATE_GLOBALS: dict[str, Any] = {}
"""Module-level objects restored in place (:func:`state_global`)."""

SHORT_BYTES = 64  # bytes up to this length are hex in the manifest; longer ones are arrays


def state_class(cls):
    """Register ``cls`` (see the module docstring for the two ways)."""
    if not hasattr(cls, "from_state") and getattr(cls, "__state__", None) is None:
        raise TypeError(f"{cls.__name__}: a state class needs __state__ or to_state/from_state")
    STATE_CLASSES[cls.__name__] = cls
    if getattr(cls, "__state__", None) is not None:
        cls._state_fields = _fields_of(cls)
    return cls


def state_function(fn, name: str | None = None):
    """Register ``fn`` as a function a checkpoint may name (default: module.qualname)."""
    STATE_FUNCTIONS[name or f"{fn.__module__}.{fn.__qualname__}"] = fn
    return fn


def state_global(name: str, obj) -> None:
    """Register a module-level object of a state class: a checkpoint names it, saves its fields
    and loads them into the same object."""
    STATE_GLOBALS[name] = obj


def _fields_of(cls) -> dict[str, "_Type"]:
    out: dict[str, _Type] = {}
    for klass in reversed(cls.__mro__):
        spec = klass.__dict__.get("__state__")
        if spec:
            for k, v in spec.items():
                out[k] = _parse(v)
    return out


# -- the type language of declared fields -----------------------------------------------------------

class _Type:
    __slots__ = ("kind", "args", "optional", "absent")

    def __init__(self, kind: str, args=(), optional=False, absent=False):
        self.kind, self.args, self.optional, self.absent = kind, tuple(args), optional, absent


_SCALARS = {"int", "bool", "str", "float", "bytes", "bytearray", "fn"}
_CONTAINER = re.compile(r"^(list|set|deque|tuple|dict)\[(.*)\]$")


@functools.lru_cache(maxsize=None)
def _parse(spec: str) -> _Type:
    s = spec.strip()
    if s.startswith("~"):
        t = _parse(s[1:])
        return _Type(t.kind, t.args, t.optional, True)
    if s.startswith("?"):
        t = _parse(s[1:])
        return _Type(t.kind, t.args, True, t.absent)
    if s in _SCALARS:
        return _Type(s)
    if s.startswith("@"):
        return _Type("ref", (s[1:],))
    if s.startswith("ctx:"):
        return _Type("ctx", (s[4:],))
    if s.startswith("(") and s.endswith(")"):
        return _Type("fixed", [_parse(p) for p in _split(s[1:-1])])
    if s.startswith("[") and s.endswith("]"):
        return _Type("fixedlist", [_parse(p) for p in _split(s[1:-1])])
    m = _CONTAINER.match(s)
    if m:
        parts = [_parse(p) for p in _split(m.group(2))]
        if (m.group(1) == "dict") != (len(parts) == 2):
            raise ValueError(f"bad state type {spec!r}")
        return _Type(m.group(1), parts)
    raise ValueError(f"bad state type {spec!r}")


def _split(s: str) -> list[str]:
    """Split at top-level commas."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def _attributes(obj) -> set[str]:
    """The instance attributes ``obj`` holds (its __dict__ and the __slots__ that are set)."""
    out = set(getattr(obj, "__dict__", ()))
    for klass in type(obj).__mro__:
        for k in klass.__dict__.get("__slots__", ()):
            if k != "__dict__" and hasattr(obj, k):
                out.add(k)
    return out


def _is_a(obj, name: str) -> bool:
    return any(k.__name__ == name for k in type(obj).__mro__)


# -- writing --------------------------------------------------------------------------------------

class StateWriter:
    """Collects a checkpoint's arrays and objects (each object once). ``context`` maps a name to
    the object a ``ctx:name`` field must hold (compared with ``==``: bound methods are new objects
    at each access)."""

    def __init__(self, context: dict[str, Any] | None = None):
        self.arrays: dict[str, np.ndarray] = {}
        self.objects: list = []
        self.context = context or {}
        self._ids: dict[int, int] = {}
        self._keep: list = []  # objects whose id() is a key above stay alive while we write
        self._globals = {id(o): n for n, o in STATE_GLOBALS.items()}
        self._fn_names = {id(f): n for n, f in STATE_FUNCTIONS.items()}

    def array(self, name: str, arr) -> None:
        if name in self.arrays:
            raise ValueError(f"checkpoint array {name!r} written twice")
        self.arrays[name] = np.asarray(arr)

    def ref(self, obj) -> int | None:
        """The id of ``obj`` in this checkpoint (written now if new); None for None."""
        if obj is None:
            return None
        i = self._ids.get(id(obj))
        if i is not None:
            return i
        cls = type(obj).__name__
        if STATE_CLASSES.get(cls) is not type(obj):
            raise TypeError(f"a {cls} cannot be checkpointed (no registered state class)")
        check = getattr(obj, "__checkpoint_check__", None)
        if check is not None:
            check()
        i = len(self.objects)
        self._ids[id(obj)] = i
        self._keep.append(obj)
        self.objects.append(None)  # its sub-objects come after it
        name = f"o{i}"
        fields = getattr(type(obj), "_state_fields", None)
        if fields is not None:
            extra = _attributes(obj) - fields.keys()
            if extra:
                # a field added to the class but not to its __state__ would be lost silently
                raise TypeError(f"{cls}.{sorted(extra)[0]} is not in its __state__")
            meta = {k: self._value(t, getattr(obj, k), f"{name}.{k}")
                    for k, t in fields.items() if not (t.absent and not hasattr(obj, k))}
        else:
            meta = obj.to_state(self, name)
        entry = {"class": cls, "meta": meta}
        g = self._globals.get(id(obj))
        if g is not None:
            entry["global"] = g
        self.objects[i] = entry
        return i

    def _value(self, t: _Type, v, where: str):
        if v is None:
            if not t.optional:
                raise TypeError(f"{where} is None")
            return None
        k = t.kind
        if k == "int":
            return int(v)
        if k == "bool":
            return bool(v)
        if k == "float":
            return float(v)
        if k == "str":
            if not isinstance(v, str):
                raise TypeError(f"{where} is a {type(v).__name__}, not a str")
            return v
        if k in ("bytes", "bytearray"):
            b = bytes(v)
            if len(b) <= SHORT_BYTES:
                return b.hex()
            name = f"bytes.{len(self.arrays)}"
            self.array(name, np.frombuffer(b, np.uint8))
            return {"a": name}
        if k == "ref":
            if not _is_a(v, t.args[0]):
                raise TypeError(f"{where} is a {type(v).__name__}, not a {t.args[0]}")
            return self.ref(v)
        if k == "ctx":
            want = self.context.get(t.args[0], _MISSING)
            if want is _MISSING or not (v is want or v == want):
                raise TypeError(f"{where}: {v!r} is not this checkpoint's {t.args[0]}")
            return t.args[0]
        if k == "fn":
            return self._fn(v, where)
        if k in ("fixed", "fixedlist"):
            if len(v) != len(t.args):
                raise TypeError(f"{where} has {len(v)} items, not {len(t.args)}")
            return [self._value(a, x, f"{where}.{j}") for j, (a, x) in enumerate(zip(t.args, v))]
        if k == "dict":
            kt, vt = t.args
            return [[self._value(kt, a, where), self._value(vt, b, f"{where}[{a!r}]")]
                    for a, b in v.items()]
        items = sorted(v) if k == "set" else v  # a set in a stable order
        return [self._value(t.args[0], x, f"{where}[{j}]") for j, x in enumerate(items)]

    def _fn(self, f, where: str):
        if isinstance(f, functools.partial):
            if f.keywords:
                raise TypeError(f"{where}: a partial with keywords")
            return {"fn": self._fn_name(f.func, where),
                    "args": [self._any(a, f"{where}.arg{j}") for j, a in enumerate(f.args)]}
        for n, want in self.context.items():
            if f is want or f == want:
                return {"ctx": n}
        return {"fn": self._fn_name(f, where), "args": []}

    def _fn_name(self, f, where: str) -> str:
        n = self._fn_names.get(id(f))
        if n is None:
            raise TypeError(f"{where}: function {getattr(f, '__qualname__', f)!r} is not registered")
        return n

    def _any(self, v, where: str):
        """A partial's argument: None, bool, int, str, a registered object or a context value."""
        if v is None or isinstance(v, (bool, int, str)):
            return v
        for n, want in self.context.items():
            if v is want:
                return {"ctx": n}
        return {"r": self.ref(v)}


_MISSING = object()


# -- reading --------------------------------------------------------------------------------------

class StateReader:
    """Reads a checkpoint's manifest and arrays back, checking each thing it hands out; every
    failure is a :class:`CheckpointError` with one line. ``context``: what ``ctx:`` fields get.
    Call :meth:`finish` once everything is read (runs the ``__restored__`` hooks)."""

    def __init__(self, meta: dict, arrays: dict[str, np.ndarray], context: dict[str, Any] | None = None):
        if not isinstance(meta, dict):
            self.fail("the manifest's meta is not an object")
        self.arrays = arrays
        self.context = context or {}
        objects = meta.get("objects", [])
        if not isinstance(objects, list):
            self.fail("the object list is not a list")
        self._objects = objects
        self._built: dict[int, Any] = {}
        self._building: set[int] = set()
        self._restored: list = []
        self._kinds_ok: set[tuple] = set()  # (class, kinds) pairs that passed obj's check

    @staticmethod
    def fail(message: str):
        raise CheckpointError(f"corrupt checkpoint: {message}")

    @staticmethod
    @contextlib.contextmanager
    def guard():
        """Around a whole load: a value the explicit checks let through and that then does not
        fit (a list where a name belongs, a number out of a column's range) is still a one-line
        CheckpointError, never a traceback; nothing built so far escapes."""
        try:
            yield
        except CheckpointError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError,
                RecursionError, MemoryError) as e:
            raise CheckpointError(f"corrupt checkpoint: a malformed value "
                                  f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None

    def int(self, meta, key: str, lo: int, hi: int) -> int:
        v = meta.get(key) if isinstance(meta, dict) else None
        if type(v) is not int or not lo <= v <= hi:
            self.fail(f"{key} is {v!r}, not an integer in [{lo}, {hi}]")
        return v

    def array(self, name: str, dtype: np.dtype | None = None, shape=None) -> np.ndarray:
        """Array ``name``, of ``dtype`` and ``shape`` when given (a None in shape: any length)."""
        arr = self.arrays.get(name) if isinstance(name, str) else None
        if arr is None:
            self.fail(f"array {name!r} is missing")
        if dtype is not None and arr.dtype != np.dtype(dtype):
            self.fail(f"array {name!r} is {arr.dtype}, not {np.dtype(dtype)}")
        if shape is not None and (arr.ndim != len(shape) or any(
                want is not None and got != want for got, want in zip(arr.shape, shape))):
            self.fail(f"array {name!r} has shape {arr.shape}, not {tuple(shape)}")
        return arr

    def int_dict(self, name: str) -> dict[int, int]:
        keys = self.array(f"{name}.keys", np.dtype(np.int64), (None,))
        vals = self.array(f"{name}.values", np.dtype(np.int64), (len(keys),))
        return dict(zip(keys.tolist(), vals.tolist()))

    def obj(self, i, kinds: tuple[str, ...] | None = None):
        """The object with id ``i`` (built once, then shared), of a class named in ``kinds`` (or
        with a base of that name) if given."""
        if i is None:
            return None
        if type(i) is not int or not 0 <= i < len(self._objects):
            self.fail(f"a reference to object {i!r}")
        if i in self._built:
            o = self._built[i]
        else:
            o = self._build(i)
        if kinds is not None and (type(o), kinds) not in self._kinds_ok:
            if not any(_is_a(o, k) for k in kinds):
                self.fail(f"object {i} is a {type(o).__name__} where a {' or '.join(kinds)} belongs")
            self._kinds_ok.add((type(o), kinds))  # (one object shared by 10^5 rows: check once)
        return o

    def _build(self, i: int):
        if i in self._building:
            self.fail(f"object {i} refers to itself")
        entry = self._objects[i]
        if not isinstance(entry, dict) or not {"class", "meta"} <= set(entry) <= {"class", "meta", "global"}:
            self.fail(f"object {i} is malformed")
        klass = STATE_CLASSES.get(entry["class"]) if isinstance(entry["class"], str) else None
        if klass is None:
            self.fail(f"object {i} is of an unknown class {entry['class']!r}")
        fields = getattr(klass, "_state_fields", None)
        meta = entry["meta"]
        if "global" in entry:
            o = STATE_GLOBALS.get(entry["global"]) if isinstance(entry["global"], str) else None
            if o is None or type(o) is not klass:
                self.fail(f"object {i} names an unknown global {entry['global']!r}")
        elif fields is not None:
            o = klass.__new__(klass)
        else:
            self._building.add(i)
            o = klass.from_state(self, f"o{i}", meta)
            self._building.discard(i)
            self._built[i] = o
            return o
        if fields is None:
            self.fail(f"object {i}: a {klass.__name__} cannot be a global")
        # Declared fields: the shell is known first, so references back to it (cycles) resolve.
        self._built[i] = o
        if not isinstance(meta, dict) or not set(meta) <= set(fields) or any(
                k not in meta and not t.absent for k, t in fields.items()):
            self.fail(f"object {i} ({klass.__name__}) has other fields than this ecs-kernel's")
        for k, t in fields.items():
            if k in meta:
                object.__setattr__(o, k, self._value(t, meta[k], f"object {i} ({klass.__name__}).{k}"))
        if hasattr(o, "__restored__"):
            self._restored.append(o)
        return o

    def _value(self, t: _Type, v, where: str):
        if v is None:
            if not t.optional:
                self.fail(f"{where} is missing")
            return None
        k = t.kind
        if k in ("int", "bool", "str"):
            want = {"int": int, "bool": bool, "str": str}[k]
            if type(v) is not want:
                self.fail(f"{where} is {v!r}, not a {k}")
            return v
        if k == "float":
            if type(v) not in (int, float):
                self.fail(f"{where} is {v!r}, not a number")
            return float(v)
        if k in ("bytes", "bytearray"):
            if isinstance(v, str):
                try:
                    b = bytes.fromhex(v)
                except ValueError:
                    self.fail(f"{where} is not hex")
                if len(b) > SHORT_BYTES:
                    self.fail(f"{where} is too long to be inline")
            elif isinstance(v, dict) and set(v) == {"a"}:
                b = self.array(v["a"], np.uint8, (None,)).tobytes()
            else:
                self.fail(f"{where} is not bytes")
            return bytearray(b) if k == "bytearray" else b
        if k == "ref":
            if type(v) is not int:
                self.fail(f"{where} is not a reference")
            return self.obj(v, t.args)
        if k == "ctx":
            if v != t.args[0] or t.args[0] not in self.context:
                self.fail(f"{where} is not the restoring side's {t.args[0]}")
            return self.context[t.args[0]]
        if k == "fn":
            return self._fn(v, where)
        if not isinstance(v, list):
            self.fail(f"{where} is not a list")
        if k in ("fixed", "fixedlist"):
            if len(v) != len(t.args):
                self.fail(f"{where} has {len(v)} items, not {len(t.args)}")
            items = [self._value(a, x, where) for a, x in zip(t.args, v)]
            return items if k == "fixedlist" else tuple(items)
        if k == "dict":
            kt, vt = t.args
            out = {}
            for pair in v:
                if not isinstance(pair, list) or len(pair) != 2:
                    self.fail(f"{where} is not a list of pairs")
                key = self._value(kt, pair[0], where)
                if not isinstance(key, (int, str)) or key in out:
                    self.fail(f"{where} has a bad or repeated key")
                out[key] = self._value(vt, pair[1], where)
            return out
        items = [self._value(t.args[0], x, where) for x in v]
        if k == "set":
            return set(items)
        if k == "deque":
            return deque(items)
        if k == "tuple":
            return tuple(items)
        return items

    def _fn(self, v, where: str):
        if isinstance(v, dict) and set(v) == {"ctx"}:
            f = self.context.get(v["ctx"]) if isinstance(v["ctx"], str) else None
            if f is None or not callable(f):
                self.fail(f"{where} names no function of the restoring side")
            return f
        if not isinstance(v, dict) or set(v) != {"fn", "args"} or not isinstance(v["args"], list):
            self.fail(f"{where} is not a function")
        f = STATE_FUNCTIONS.get(v["fn"]) if isinstance(v["fn"], str) else None
        if f is None:
            self.fail(f"{where} names an unknown function {v['fn']!r}")
        if not v["args"]:
            return f
        return functools.partial(f, *(self._any(a, where) for a in v["args"]))

    def _any(self, v, where: str):
        if v is None or type(v) in (bool, int, str):
            return v
        if isinstance(v, dict) and set(v) == {"r"}:
            return self.obj(v["r"])
        if isinstance(v, dict) and set(v) == {"ctx"} and v["ctx"] in self.context:
            return self.context[v["ctx"]]
        self.fail(f"{where} has an argument of no known kind")

    def finish(self) -> None:
        """Run the ``__restored__`` hooks of the objects read, in the order they were built."""
        hooks, self._restored = self._restored, []
        for o in hooks:
            o.__restored__(self)


__all__ = ["STATE_CLASSES", "STATE_FUNCTIONS", "STATE_GLOBALS", "StateReader", "StateWriter",
           "state_class", "state_function", "state_global", "CheckpointError"]
