"""Workload files: synthetic programs and their settings, read from TOML or JSON.

A workload names programs; a program is a list of steps; a step is one op with arguments that are
ints or seeded distributions. See docs/sim.md for the format and an example. ``load`` checks
everything and raises :class:`SpecError` naming the file, the line and the field::

    mixed.toml:14: programs[1].steps[2].op: unknown op 'kil'

Ops (arguments; ``D`` marks an argument that may be a distribution)::

    compute(ticks D)                     burn CPU for that many ticks
    kill(target, sig D)                  kill(2) the process of a target task
    tgkill(target, sig D)                tgkill(2) a target thread
    sigprocmask(how, sigs)               how = block | unblock | setmask
    sigaction(sig, action[, flags])      action = default | ignore | catch
    futex_wait(word D)                   FUTEX_WAIT on a shared word (until woken)
    futex_wake(word D, count D)          FUTEX_WAKE
    lock(word D) / unlock(word D)        a glibc-style mutex on a shared word
    nanosleep(ticks D)
    setitimer(which, value D, interval D)   which = real | virtual | prof; in ticks
    clone(kind, program)                 kind = thread | process; the child runs ``program``
    exit(code D) / exit_group(code D)
    wait()                               wait4(-1, 0)
    loop(to, times)                      jump back to step ``to``; times = N or "forever"

Targets: ``random`` (a random synthetic task), ``random_process`` (the leader of a random task's
process), ``parent``, ``self``. Distributions: ``{const = N}``, ``{uniform = [a, b]}`` (inclusive),
``{exponential = mean}`` (rounded down), ``{choice = [..]}``, and ``{per_task = [a, b]}``: uniform
in [a, b] but fixed for each task (a worker's lock and unlock name the same word). Signals are numbers or names
(``"SIGUSR1"``).
"""
from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .. import abi
from ..abi import NSIG, SIGKILL, SIGRTMIN, SIGSTOP
from ..jit.sim import (D_CHOICE, D_CONST, D_EXPONENTIAL, D_PER_TASK, D_UNIFORM, T_PARENT, T_RANDOM,
                       T_RANDOM_PROCESS, T_SELF)

WORKLOADS_DIR = Path(__file__).with_name("workloads")

# Distribution kinds (the ``kind`` of a compiled argument; the kernels' codes, jit/sim.py).
DIST_NAMES = {"const": D_CONST, "uniform": D_UNIFORM, "exponential": D_EXPONENTIAL,
              "choice": D_CHOICE, "per_task": D_PER_TASK}

TARGETS = {"random": T_RANDOM, "random_process": T_RANDOM_PROCESS, "parent": T_PARENT,
           "self": T_SELF}
HOWS = {"block": abi.SIG_BLOCK, "unblock": abi.SIG_UNBLOCK, "setmask": abi.SIG_SETMASK}
ACTIONS = {"default": 0, "ignore": 1, "catch": 2}  # an index: (SIG_DFL, SIG_IGN, a handler)
WHICH = {"real": abi.ITIMER_REAL, "virtual": abi.ITIMER_VIRTUAL, "prof": abi.ITIMER_PROF}
KINDS = {"thread": 0, "process": 1}
FOREVER = -1

# op name -> (required args, optional args with defaults); every op's args in a fixed order.
OPS: dict[str, tuple[tuple[str, ...], dict[str, object]]] = {
    "compute": (("ticks",), {}),
    "kill": (("target", "sig"), {}),
    "tgkill": (("target", "sig"), {}),
    "sigprocmask": (("how", "sigs"), {}),
    "sigaction": (("sig", "action"), {"flags": 0}),
    "futex_wait": (("word",), {}),
    "futex_wake": (("word",), {"count": 1}),
    "lock": (("word",), {}),
    "unlock": (("word",), {}),
    "nanosleep": (("ticks",), {}),
    "setitimer": (("which", "value"), {"interval": 0}),
    "clone": (("kind", "program"), {}),
    "exit": ((), {"code": 0}),
    "exit_group": ((), {"code": 0}),
    "wait": ((), {}),
    "loop": (("to",), {"times": "forever"}),
}
OP_CODES = {name: i for i, name in enumerate(OPS)}
# Arguments that may be distributions; the rest are plain values resolved at load time.
DIST_ARGS = {"ticks", "sig", "word", "count", "value", "interval", "code"}

# The standard signals and SIGRTMIN by name (SIGRTMIN+n is parsed in _signal).
_SIGNAMES = {name: v for name, v in vars(abi).items() if re.fullmatch(r"SIG[A-Z0-9]+", name)
             and isinstance(v, int) and 1 <= v <= SIGRTMIN}


class SpecError(ValueError):
    """A bad workload: the message names the file, line and field."""


@dataclass(frozen=True)
class Dist:
    """A seeded distribution of ints: ``kind`` is one of D_*, ``values`` its parameters
    (const: (v,); uniform and per_task: (a, b); exponential: (mean * 1024, ceiling);
    choice: the values)."""

    kind: int
    values: tuple[int, ...]

    @staticmethod
    def const(v: int) -> "Dist":
        return Dist(D_CONST, (int(v),))

    def bounds(self) -> tuple[int, int]:
        if self.kind == D_EXPONENTIAL:
            return 0, self.values[1]
        return min(self.values), max(self.values)


@dataclass(frozen=True)
class Step:
    op: str
    args: tuple[tuple[str, object], ...]  # (name, Dist or int or tuple) in OPS order
    line: int = 0

    def arg(self, name: str):
        for k, v in self.args:
            if k == name:
                return v
        raise KeyError(name)


@dataclass(frozen=True)
class Program:
    name: str
    steps: tuple[Step, ...]
    share: float = 1.0  # weight of the initial tasks running this program
    line: int = 0


@dataclass(frozen=True)
class Workload:
    name: str
    programs: tuple[Program, ...]
    futex_words: int = 16  # shared futex words, one SharedSegment mapped in every process
    threads_per_process: int = 1  # initial tasks are grouped into processes of this many threads
    description: str = ""
    source: str = ""

    def program_index(self, name: str) -> int:
        for i, p in enumerate(self.programs):
            if p.name == name:
                return i
        raise KeyError(name)


# -- line numbers --------------------------------------------------------------------------------

class _Lines:
    """Find the line of a field path (``programs[1].steps[2].op``) in the text of the file.

    tomllib and json give no positions; this scanner follows the few shapes workload files use:
    ``[[programs]]`` tables (or a JSON ``"programs": [ {...} ]`` list), their ``steps`` as an inline
    list of ``{...}`` or as ``[[programs.steps]]`` tables, and ``key = value`` / ``"key": value``."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines()

    def _line_of(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1

    def _elements(self, start: int, end: int, key: str) -> list[tuple[int, int]]:
        """(start, end) offsets of the elements of list ``key`` found in text[start:end]:
        ``[[...key]]`` tables, else the ``{...}`` items of ``key = [ ... ]``."""
        t = self.text
        heads = [m.start() for m in re.finditer(r"^\s*\[\[\s*(?:programs\.)?" + re.escape(key) + r"\s*\]\]",
                                                t[start:end], re.M)]
        if heads:
            heads = [start + h for h in heads]
            # a [[programs]] table runs to the next one; a step's table to the next header
            out = []
            for i, h in enumerate(heads):
                if key == "programs":
                    out.append((h, heads[i + 1] if i + 1 < len(heads) else end))
                    continue
                nxt = re.search(r"^\s*\[", t[h + 1:end], re.M)
                out.append((h, h + 1 + nxt.start() if nxt else end))
            return out
        m = re.search(r'(^|[{,\s])"?' + re.escape(key) + r'"?\s*[=:]\s*\[', t[start:end], re.M)
        if not m:
            return []
        i = start + m.end()
        out, depth, s, q = [], 0, -1, None
        while i < end:
            c = t[i]
            if q:
                if c == "\\":
                    i += 1
                elif c == q:
                    q = None
            elif c in "\"'":
                q = c
            elif c == "#":
                nl = t.find("\n", i)
                i = end if nl < 0 else nl
                continue
            elif c in "[{":
                if depth == 0:
                    s = i
                depth += 1
            elif c in "]}":
                if depth == 0:
                    break
                depth -= 1
                if depth == 0:
                    out.append((s, i + 1))
            elif depth == 0 and c not in " \t\r\n,":
                # a scalar element: it runs to the next comma or bracket
                j = i
                while j < end and t[j] not in ",]\n":
                    j += 1
                out.append((i, j))
                i = j
                continue
            i += 1
        return out

    def find(self, path: list) -> int:
        start, end = 0, len(self.text)
        line = 1
        for part in path:
            if isinstance(part, tuple):
                key, idx = part
                els = self._elements(start, end, key)
                if idx >= len(els):
                    return line
                start, end = els[idx]
            else:
                m = re.search(r'(^|[{,\s])"?' + re.escape(part) + r'"?\s*[=:]', self.text[start:end], re.M)
                if not m:
                    return line
                start = start + m.start() + len(m.group(1))
            line = self._line_of(start)
        return line


# -- parsing ---------------------------------------------------------------------------------------

class _Ctx:
    def __init__(self, fname: str, text: str):
        self.fname = fname
        self.lines = _Lines(text)

    def fail(self, path: list, msg: str):
        line = self.lines.find(path)
        raise SpecError(f"{self.fname}:{line}: {_path_str(path)}: {msg}")


def _path_str(path: list) -> str:
    out = ""
    for p in path:
        if isinstance(p, tuple):
            out += f"{'.' if out else ''}{p[0]}[{p[1]}]"
        else:
            out += f"{'.' if out else ''}{p}"
    return out or "<top>"


def _int(ctx, path, v, lo=None, hi=None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        ctx.fail(path, f"expected an integer, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        ctx.fail(path, f"{v} is outside [{lo}, {hi if hi is not None else 'inf'}]")
    return v


def _signal(ctx, path, v) -> int:
    if isinstance(v, str):
        name = v.upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        if name.startswith("SIGRTMIN+") and name[9:].isdigit():
            return _int(ctx, path, SIGRTMIN + int(name[9:]), 1, NSIG)
        if name not in _SIGNAMES:
            ctx.fail(path, f"unknown signal {v!r}")
        return _SIGNAMES[name]
    return _int(ctx, path, v, 1, NSIG)


def _dist(ctx, path, v, lo: int, hi: int, conv=None) -> Dist:
    conv = conv or (lambda p, x: _int(ctx, p, x, lo, hi))
    if not isinstance(v, dict):
        return Dist.const(conv(path, v))
    if len(v) != 1:
        ctx.fail(path, f"a distribution has exactly one of {sorted(DIST_NAMES)}, got {sorted(v)}")
    (kind, p), = v.items()
    sub = path + [kind]
    if kind not in DIST_NAMES:
        ctx.fail(sub, f"unknown distribution {kind!r} (one of {', '.join(DIST_NAMES)})")
    if kind == "const":
        return Dist.const(conv(sub, p))
    if kind in ("uniform", "per_task"):
        if not isinstance(p, list) or len(p) != 2:
            ctx.fail(sub, f"{kind} takes [low, high], got {p!r}")
        a, b = conv(sub, p[0]), conv(sub, p[1])
        if a > b:
            ctx.fail(sub, f"{kind} low {a} > high {b}")
        return Dist(DIST_NAMES[kind], (a, b))
    if kind == "exponential":
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1e9:
            ctx.fail(sub, f"exponential takes a mean > 0, got {p!r}")
        if lo > 0:
            ctx.fail(sub, f"exponential draws from 0 up; this argument must be >= {lo}")
        return Dist(D_EXPONENTIAL, (max(1, round(p * 1024)), hi))  # mean in 1/1024ths, clamp
    if not isinstance(p, list) or not p or len(p) > 64:
        ctx.fail(sub, f"choice takes a list of 1..64 values, got {p!r}")
    return Dist(D_CHOICE, tuple(conv(sub + [(kind, i)], x) for i, x in enumerate(p)))


def _enum(ctx, path, v, table: dict) -> int:
    if v not in table:
        ctx.fail(path, f"unknown value {v!r} (one of {', '.join(table)})")
    return table[v]


_TOP_KEYS = {"name", "description", "futex_words", "threads_per_process", "programs"}
_PROG_KEYS = {"name", "share", "steps"}
MAX_STEPS = 4096
MAX_TICKS = 10 ** 9


def _step(ctx, path, raw, nsteps: int, names: list[str], futex_words: int) -> Step:
    if not isinstance(raw, dict):
        ctx.fail(path, f"a step is a table with an 'op', got {raw!r}")
    if "op" not in raw:
        ctx.fail(path, "missing 'op'")
    op = raw["op"]
    if op not in OPS:
        close = [o for o in OPS if o[:2] == str(op)[:2]]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        ctx.fail(path + ["op"], f"unknown op {op!r}{hint}")
    required, optional = OPS[op]
    for k in raw:
        if k != "op" and k not in required and k not in optional:
            ctx.fail(path + [k], f"{op} takes no argument {k!r} (it takes {', '.join(required + tuple(optional)) or 'none'})")
    args = []
    for k in (*required, *optional):
        if k not in raw:
            if k in required:
                ctx.fail(path, f"{op} needs {k!r}")
            v = optional[k]
        else:
            v = raw[k]
        p = path + [k]
        if k in ("ticks", "value", "interval"):
            val = _dist(ctx, p, v, 0, MAX_TICKS)
        elif k == "sig":
            val = _dist(ctx, p, v, 1, NSIG, conv=lambda pp, x: _signal(ctx, pp, x))
        elif k == "word":
            val = _dist(ctx, p, v, 0, futex_words - 1)
        elif k == "count":
            val = _dist(ctx, p, v, 1, 2 ** 31 - 1)
        elif k == "code":
            val = _dist(ctx, p, v, 0, 255)
        elif k == "target":
            val = _enum(ctx, p, v, TARGETS)
        elif k == "how":
            val = _enum(ctx, p, v, HOWS)
        elif k == "action":
            val = _enum(ctx, p, v, ACTIONS)
        elif k == "which":
            val = _enum(ctx, p, v, WHICH)
        elif k == "kind":
            val = _enum(ctx, p, v, KINDS)
        elif k == "flags":
            val = _int(ctx, p, v, 0, 2 ** 32 - 1)
        elif k == "sigs":
            if not isinstance(v, list):
                ctx.fail(p, f"sigs is a list of signals, got {v!r}")
            val = tuple(_signal(ctx, p + [("sigs", i)], x) for i, x in enumerate(v))
        elif k == "program":
            if v not in names:
                ctx.fail(p, f"no program named {v!r} (programs: {', '.join(names)})")
            val = names.index(v)
        elif k == "to":
            val = _int(ctx, p, v, 0, nsteps - 1)
        elif k == "times":
            val = FOREVER if v == "forever" else _int(ctx, p, v, 1, 2 ** 31 - 1)
        else:  # pragma: no cover - OPS and this table agree
            raise AssertionError(k)
        args.append((k, val))
    if op == "sigaction":
        sig = dict(args)["sig"]
        if sig.kind == D_CONST and sig.values[0] in (SIGKILL, SIGSTOP) and dict(args)["action"] != 0:
            ctx.fail(path + ["sig"], "SIGKILL and SIGSTOP cannot be caught or ignored")
    return Step(op, tuple(args), ctx.lines.find(path))


def parse(data: dict, fname: str = "<workload>", text: str = "") -> Workload:
    """Check and build a Workload from parsed TOML/JSON ``data`` (``text`` gives line numbers)."""
    ctx = _Ctx(fname, text)
    if not isinstance(data, dict):
        ctx.fail([], "a workload is a table")
    for k in data:
        if k not in _TOP_KEYS:
            ctx.fail([k], f"unknown setting {k!r} (one of {', '.join(sorted(_TOP_KEYS))})")
    name = data.get("name", Path(fname).stem)
    if not isinstance(name, str) or not name:
        ctx.fail(["name"], "name is a non-empty string")
    desc = data.get("description", "")
    if not isinstance(desc, str):
        ctx.fail(["description"], "description is a string")
    fw = _int(ctx, ["futex_words"], data.get("futex_words", 16), 1, 1 << 20)
    tpp = _int(ctx, ["threads_per_process"], data.get("threads_per_process", 1), 1, 1 << 16)
    progs = data.get("programs")
    if not isinstance(progs, list) or not progs:
        ctx.fail(["programs"], "a workload needs a non-empty list of programs")
    names = []
    for i, p in enumerate(progs):
        if not isinstance(p, dict):
            ctx.fail([("programs", i)], "a program is a table")
        n = p.get("name")
        if not isinstance(n, str) or not n:
            ctx.fail([("programs", i), "name"], "a program needs a name")
        if n in names:
            ctx.fail([("programs", i), "name"], f"two programs named {n!r}")
        names.append(n)
    if len(progs) > 127:
        ctx.fail(["programs"], "at most 127 programs")
    out = []
    for i, p in enumerate(progs):
        pp = [("programs", i)]
        for k in p:
            if k not in _PROG_KEYS:
                ctx.fail(pp + [k], f"unknown program setting {k!r} (one of {', '.join(sorted(_PROG_KEYS))})")
        share = p.get("share", 1.0)
        if isinstance(share, bool) or not isinstance(share, (int, float)) or share < 0:
            ctx.fail(pp + ["share"], f"share is a number >= 0, got {share!r}")
        steps = p.get("steps")
        if not isinstance(steps, list) or not steps:
            ctx.fail(pp + ["steps"], "a program needs a non-empty list of steps")
        if len(steps) > MAX_STEPS:
            ctx.fail(pp + ["steps"], f"at most {MAX_STEPS} steps")
        built = tuple(_step(ctx, pp + [("steps", j)], s, len(steps), names, fw) for j, s in enumerate(steps))
        _check_loops(ctx, pp, built)
        out.append(Program(names[i], built, float(share), ctx.lines.find(pp)))
    if sum(p.share for p in out) <= 0:
        ctx.fail(["programs"], "no program has a share > 0: nothing would run")
    return Workload(name, tuple(out), fw, tpp, desc, fname)


def _check_loops(ctx, pp, steps) -> None:
    """Counted loops share one counter per task: they must not nest or overlap. A loop may not
    jump forward (that is not a loop)."""
    spans = []
    for j, s in enumerate(steps):
        if s.op != "loop":
            continue
        to = s.arg("to")
        if to > j:
            ctx.fail(pp + [("steps", j), "to"], f"a loop jumps back: to={to} is after the loop (step {j})")
        if s.arg("times") != FOREVER:
            for a, b, k in spans:
                if not (j < a or to > b):
                    ctx.fail(pp + [("steps", j)], f"counted loops may not nest or overlap (this one and step {k})")
            spans.append((to, j, j))


def loads(text: str, fname: str = "<workload>.toml") -> Workload:
    """Parse workload text; the extension of ``fname`` picks TOML or JSON."""
    try:
        if fname.endswith(".json"):
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"{fname}:{e.lineno}: not valid JSON: {e.msg}") from None
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise SpecError(f"{fname}:{m.group(1) if m else 1}: not valid TOML: {e}") from None
    return parse(data, fname, text)


def load(path_or_name) -> Workload:
    """A Workload from a ``.toml`` / ``.json`` file, or a shipped workload by bare name."""
    s = os.fspath(path_or_name)
    p = Path(s)
    if not p.suffix and os.sep not in s and not p.exists():
        p = WORKLOADS_DIR / f"{s}.toml"
        if not p.exists():
            raise SpecError(f"{s}: no such workload (shipped: {', '.join(workload_names())})")
    elif p.suffix not in (".toml", ".json"):
        raise SpecError(f"{s}: a workload file ends in .toml or .json")
    try:
        text = p.read_text()
    except OSError as e:
        raise SpecError(f"{s}: {e.strerror}") from None
    return loads(text, p.name if p.parent == WORKLOADS_DIR else s)


_ENUMS = {"target": TARGETS, "how": HOWS, "action": ACTIONS, "which": WHICH, "kind": KINDS}


def to_data(w: Workload) -> dict:
    """The TOML/JSON data that :func:`parse` reads back as ``w`` (line numbers aside): how a
    simulation checkpoint keeps its workload, whatever file or code it came from."""
    names = [p.name for p in w.programs]
    progs = []
    for p in w.programs:
        steps = []
        for st in p.steps:
            d = {"op": st.op}
            for k, v in st.args:
                d[k] = _arg_data(k, v, names)
            steps.append(d)
        progs.append({"name": p.name, "share": p.share, "steps": steps})
    return {"name": w.name, "description": w.description, "futex_words": w.futex_words,
            "threads_per_process": w.threads_per_process, "programs": progs}


def _arg_data(k: str, v, names: list[str]):
    if isinstance(v, Dist):
        kind = next(n for n, code in DIST_NAMES.items() if code == v.kind)
        if v.kind == D_CONST:
            return v.values[0]
        if v.kind == D_EXPONENTIAL:
            return {kind: v.values[0] / 1024}  # (the mean in 1/1024ths: exact as a float)
        return {kind: list(v.values)}
    if k in _ENUMS:
        return next(n for n, code in _ENUMS[k].items() if code == v)
    if k == "sigs":
        return list(v)
    if k == "program":
        return names[v]
    if k == "times":
        return "forever" if v == FOREVER else v
    return v  # flags, to


def workload_names() -> list[str]:
    """The shipped workloads, by name."""
    return sorted(f.stem for f in WORKLOADS_DIR.glob("*.toml"))
