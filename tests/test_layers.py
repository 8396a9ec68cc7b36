"""The package's layers, held by its imports (the ast of every module is read, nothing is imported).

Bottom to top. A module may import its own layer and the layers its row names, nothing above::

    layer       may import                                  what it is
    abi         -                                           Linux's numbers, the kernel's codes
    checkpoint_file  -                                      the checkpoint file format (arrays and
                                                            a manifest; numpy and the stdlib only)
    checkpoint_objects  checkpoint_file                     registered state classes and the
                                                            codec that saves objects as data
    errors      abi                                         KernelError and its kin
    world       abi errors                                  tables, handles, the tick, Settings,
                                                            the World's typed index
    schedule    abi errors world                            phases, systems, the sanitizer
    jit         abi jit (numpy, numba)                      kernels over arrays and scalars: no
                                                            World, component or system objects
    fs          abi errors checkpoint_objects fs            the guest file layer; below
                                                            components and systems, whose fd
                                                            tables hold its file descriptions
    net         abi errors checkpoint_objects fs net        sockets: file descriptions whose
                                                            data live in the kernel
    components  abi errors world schedule jit fs net        columns, invariants, row helpers
    systems     ... components systems                      kernel calls and per-tick systems
    kernel      ... systems kernel                          the Kernel front door
    syscalls    ... kernel syscalls                         handlers; they reach the CPU only
                                                            through the objects they are given
                                                            (``t.mm``, ``t.machine``)
    cpu         ... syscalls cpu                            Unicorn, ELF, guest memory, the run loop
    replay_file ... cpu replay_file                         replay files (run --record writes one)
    sim         abi errors world schedule jit components    synthetic tasks: they drive the
                systems kernel sim                          systems, never a CPU or a syscall
    testing     abi errors world schedule jit fs            what users import to test: never a
                components systems kernel testing           CPU or a syscall
    cli*,       anything                                    the command line, the cluster
    cluster,                                                backends and the schedule explorer
    explore                                                 sit on top

A lower layer that needs something of a higher one gets an interface instead: an object it is
handed (``AddressSpace.futex_shared_key``, the syscall's ``t.machine``), or the shared piece moves
down (``BLOCKED`` lives in systems/task_block.py, which every blocking call imports).

Also: no import cycle among the package's modules (imports inside functions count), and no
import inside a function except of the heavy optional modules and the command line's start-up
listed below. An import inside a function to dodge a cycle hides the cycle; move the shared
piece down a layer instead.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ecs_kernel"

_BASE = {"abi", "checkpoint_file", "checkpoint_objects", "errors", "world", "schedule"}
_BELOW_SYSCALLS = _BASE | {"jit", "fs", "net", "components", "systems", "kernel"}
MAY_IMPORT: dict[str, set[str]] = {
    "abi": {"abi"},
    "checkpoint_file": {"checkpoint_file"},
    "checkpoint_objects": {"checkpoint_file", "checkpoint_objects"},
    "errors": {"abi", "errors"},
    "world": {"abi", "checkpoint_file", "checkpoint_objects", "errors", "world"},
    "schedule": {"abi", "checkpoint_file", "checkpoint_objects", "errors", "world", "schedule"},
    "jit": {"abi", "jit"},
    "fs": {"abi", "checkpoint_file", "checkpoint_objects", "errors", "fs"},
    "net": {"abi", "checkpoint_file", "checkpoint_objects", "errors", "fs", "net"},
    "components": _BASE | {"jit", "fs", "net", "components"},
    "systems": _BASE | {"jit", "fs", "net", "components", "systems"},
    "kernel": _BELOW_SYSCALLS,
    "syscalls": _BELOW_SYSCALLS | {"syscalls"},
    "cpu": _BELOW_SYSCALLS | {"syscalls", "cpu"},
    "sim": (_BELOW_SYSCALLS - {"fs", "net"}) | {"sim"},
    "testing": _BELOW_SYSCALLS | {"testing"},
    "cli": None,  # anything
    "cluster": None,
    "explore": None,  # the schedule explorer: runs whole programs, as the command line does
    "replay_file": _BELOW_SYSCALLS | {"syscalls", "cpu", "replay_file"},  # read by cli_run too
}

# Imports allowed inside a function: modules that are slow to import and needed only on some
# paths, so importing the package (and `ecs-kernel run` of a short program) does not pay for them.
HEAVY_OPTIONAL = {
    "numba": "~0.5 s with its CPU target: jit/options.py loads it when a kernel first compiles",
    "llvmlite": "numba's backend, loaded with it",
    "unicorn": "~60 ms: only the CPU driver and the compiled hook need it",
        "matplotlib": "plots of `ecs-kernel sim --plot`, an optional extra",
    "ray": "the Ray cluster backend, an optional extra",
    "tqdm": "the progress bar of `ecs-kernel sim`",
    "importlib": "importlib.metadata, ~15 ms: only to stamp the version in a checkpoint written "
                 "(checkpoint_file.py)",
    "json": "~1.5 ms: only a checkpoint's manifest (checkpoint_file.py) and `ecs-kernel syscalls "
            "--format json` (syscalls/table.py) need it, not a run's start-up",
}
# Modules of the package that are heavy in the same way: "path:module" -> why.
HEAVY_PACKAGE_MODULES = {
    "jit/fastpath/__init__.py:ecs_kernel.jit.fastpath.kernel":
        "the compiled syscall hook: importing it imports numba and llvmlite and builds the "
        "cfunc; FastPath loads it when a guest tiers up",
    "jit/tlbfill/__init__.py:ecs_kernel.jit.tlbfill.kernel":
        "the compiled TLB-fill hook: numba and llvmlite, loaded when a guest tiers up",
    "cpu/task_run.py:ecs_kernel.syscalls.strace":
        "--strace's printer (~120 KB of bytecode, ~2-4 ms of start-up): a Machine loads it only "
        "when a run traces",
    "jit/blockquantum/__init__.py:ecs_kernel.jit.blockquantum.kernel":
        "the compiled block-quantum hook: numba and llvmlite, loaded when quanta need it",
}
# The command line's start-up: each subcommand imports what it runs only when it is chosen, so
# `ecs-kernel run` does not load sim/ and `ecs-kernel sim` does not load the CPU.
CLI_STARTUP = {
    "cli.py": "lifecycle, schedule, components and the run/sim parsers",
    "cli_run.py": "`ecs-kernel run`: the Machine, the file system and the syscall table",
    "cli_sim.py": "`ecs-kernel sim`: the engine, the checks and the report",
    "cli_explore.py": "`ecs-kernel explore`/`replay`: the explorer and the CPU",
    "cli_checkpoint.py": "`ecs-kernel ps`: the checkpoint reader, the kernel's and the simulation's "
                         "registries, the listing",
    "cli_sweep.py": "`ecs-kernel sweep`: the backends, the engine, the progress bar",
    "cli_campaign.py": "`ecs-kernel campaign`: the backends, hypothesis and the state machines",
    "cli_serve.py": "`ecs-kernel serve`: what a run loads, imported once before the forks; "
                    "the client of `run --server` imports none of it",
}


@functools.cache
def modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module under ``root`` (a package directory)."""
    out = {}
    for p in sorted(root.rglob("*.py")):
        parts = [root.name, *p.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


class Import:
    """One import statement's target in the package (or outside it, ``module`` not ours)."""

    def __init__(self, path: Path, line: int, text: str, module: str, in_function: bool):
        self.path, self.line, self.text = path, line, text
        self.module = module
        self.in_function = in_function

    def where(self, root: Path) -> str:
        return f"{root.name}/{self.path.relative_to(root)}:{self.line}: {self.text}"


def _resolve(name: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = name.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


@functools.cache
def imports(root: Path) -> dict[str, list[Import]]:
    """Every import of every module under ``root``: for ``from X import a``, the module
    ``X.a`` when it is one, else ``X``."""
    mods = modules(root)
    out: dict[str, list[Import]] = {}
    for name, path in mods.items():
        src = path.read_text()
        lines = src.splitlines()
        found: list[Import] = []

        def visit(node, in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                          ast.Lambda))
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    text = lines[child.lineno - 1].strip()
                    if isinstance(child, ast.Import):
                        targets = [a.name for a in child.names]
                    else:
                        mod = _resolve(name, path, child)
                        subs = [f"{mod}.{a.name}" for a in child.names]
                        targets = [s for s in subs if s in mods] or [mod]
                    found.extend(Import(path, child.lineno, text, t, inner) for t in targets)
                visit(child, inner)

        visit(ast.parse(src), False)
        out[name] = found
    return out


def layer(module: str) -> str:
    """The layer of a package module: its first name under the package (``cli_run`` is cli)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "cli"  # the package's __init__: the version string
    top = parts[1]
    return "cli" if top.startswith("cli") else top


def upward_imports(root: Path) -> list[str]:
    mods = modules(root)
    bad = []
    for name, found in imports(root).items():
        allowed = MAY_IMPORT[layer(name)]
        for imp in found:
            if allowed is None or imp.module not in mods:
                continue
            to = layer(imp.module)
            if to not in allowed:
                bad.append(f"{imp.where(root)}  ({layer(name)} may not import {to})")
    return bad


def cycles(root: Path) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself),
    over every import, those inside functions included (Tarjan, iterative)."""
    mods = modules(root)
    graph = {n: sorted({i.module for i in found if i.module in mods})
             for n, found in imports(root).items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(graph[w])))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in graph[v]:
                    out.append(sorted(comp))
    return out


def _cycle_edges(root: Path, comp: list[str]) -> list[str]:
    members = set(comp)
    lines = [f"    {imp.where(root)}" for name in comp for imp in imports(root)[name]
             if imp.module in members]
    return list(dict.fromkeys(lines))  # one line per statement


def function_imports(root: Path) -> list[str]:
    mods = modules(root)
    bad = []
    for name, found in imports(root).items():
        rel = mods[name].relative_to(root).as_posix()
        if rel in CLI_STARTUP:
            continue
        for imp in found:
            if not imp.in_function:
                continue
            if imp.module in mods or imp.module.startswith(root.name + "."):
                if f"{rel}:{imp.module}" in HEAVY_PACKAGE_MODULES:
                    continue
            elif imp.module.split(".")[0] in HEAVY_OPTIONAL:
                continue
            bad.append(imp.where(root))
    return bad


# -- the rules -------------------------------------------------------------------------------------

def test_no_module_imports_a_layer_above_its_own():
    bad = upward_imports(PACKAGE)
    assert not bad, f"{len(bad)} imports of a higher layer:\n" + "\n".join(bad)


def test_no_import_cycles():
    found = cycles(PACKAGE)
    msg = [f"{len(found)} import cycles (inside functions too):"]
    for comp in found:
        msg.append("  " + ", ".join(comp) + ", through:")
        msg.extend(_cycle_edges(PACKAGE, comp))
    assert not found, "\n".join(msg)


def test_imports_inside_functions_are_only_heavy_optional_modules():
    bad = function_imports(PACKAGE)
    assert not bad, (f"{len(bad)} imports inside functions (move them to the top; a cycle they "
                     f"dodge means a shared piece belongs a layer down):\n" + "\n".join(bad))


def test_every_module_has_a_layer():
    assert {layer(n) for n in modules(PACKAGE)} <= MAY_IMPORT.keys()


def test_allow_lists_name_what_is_there():
    by_file = {p.relative_to(PACKAGE).as_posix(): n for n, p in modules(PACKAGE).items()}
    assert set(CLI_STARTUP) <= by_file.keys()
    found = imports(PACKAGE)
    for entry in HEAVY_PACKAGE_MODULES:
        path, mod = entry.split(":")
        assert any(i.in_function and i.module == mod for i in found[by_file[path]]), \
            f"{entry}: no such import inside a function (drop the entry)"


# -- the checks themselves -------------------------------------------------------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "ecs_kernel"
    for rel, src in {"__init__.py": "", **files}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(src)
    return root


def test_the_checks_catch_an_upward_import(tmp_path):
    root = _tree(tmp_path, {"abi.py": "", "systems/__init__.py": "", "cpu/__init__.py": "",
                            "cpu/memory.py": "", "systems/futex.py": "from ..cpu import memory\n",
                            "jit/__init__.py": "", "world.py": "",
                            "jit/rows.py": "from ..world import Table\n"})
    bad = upward_imports(root)
    assert len(bad) == 2
    assert "systems/futex.py:1" in bad[1] or "systems/futex.py:1" in bad[0]
    assert any("jit may not import world" in b for b in bad)


def test_the_checks_catch_a_cycle_through_a_function(tmp_path):
    root = _tree(tmp_path, {"systems/__init__.py": "",
                            "systems/a.py": "from . import b\n",
                            "systems/b.py": "def f():\n    from .a import x\n",
                            "systems/c.py": "from . import a\n"})
    assert cycles(root) == [["ecs_kernel.systems.a", "ecs_kernel.systems.b"]]


def test_the_checks_catch_an_import_inside_a_function(tmp_path):
    root = _tree(tmp_path, {"systems/__init__.py": "", "systems/a.py": "",
                            "systems/b.py": ("import numpy\n"
                                             "def f():\n    from . import a\n"
                                             "def g():\n    import os\n"
                                             "def h():\n    import numba\n"),
                            "cli.py": "def main():\n    from .systems import a\n"})
    bad = function_imports(root)
    assert [b.split(": ")[0] for b in bad] == ["ecs_kernel/systems/b.py:3",
                                               "ecs_kernel/systems/b.py:5"]
