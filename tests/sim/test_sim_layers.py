"""sim/ drives the kernel and never writes its state itself.

The rule, as the ast of every module of ecs_kernel/sim/ can show it: no statement there stores
into a column of a kernel component (a column of any table of a simulation's World but the
engine's own SimTask columns): no assignment or augmented assignment whose target is
``<expr>.<column>`` or ``<expr>.<column>[...]``, no ``<expr>.<column>.fill/put/itemset/sort(...)``,
no ``np.copyto(<expr>.<column>, ...)`` and no ``out=<expr>.<column>``. Kernel state moves only in
systems/ (kernel calls and their batched forms). What the scan cannot see: columns handed to a
compiled kernel (jit/sim.py's run_programs moves a task from runSyscallExit to runApp, as a CPU
driver's syscall exit does; jit/sim.futex_steps reaches the futex tables only through
jit/futex_batch's calls), and helpers of components/ called from sim/.
"""
from __future__ import annotations

import ast
from pathlib import Path

from ecs_kernel.sim import spec
from ecs_kernel.sim.engine import SimTask, Simulation

SIM = Path(__file__).resolve().parents[2] / "ecs_kernel" / "sim"
_IN_PLACE = {"fill", "put", "itemset", "sort", "resize"}


def kernel_columns() -> set[str]:
    world = Simulation(spec.load("mixed"), 2, 0).world
    names = {name for table in world.tables.values() for name, _ in table.columns()}
    return names - set(SimTask.columns)


def _column(node: ast.AST, columns: set[str]) -> str | None:
    """The kernel column ``node`` stores into (``x.col`` or ``x.col[...]``), if any."""
    while isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute) and node.attr in columns:
        return node.attr
    return None


def _targets(node: ast.AST):
    if isinstance(node, ast.Assign):
        todo = list(node.targets)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        todo = [node.target]
    else:
        return
    while todo:
        t = todo.pop()
        if isinstance(t, (ast.Tuple, ast.List)):
            todo.extend(t.elts)
        elif isinstance(t, ast.Starred):
            todo.append(t.value)
        else:
            yield t


def kernel_writes(root: Path, columns: set[str]) -> list[str]:
    """``file:line: column`` for every store into a kernel column under ``root``."""
    out = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            hits = [_column(t, columns) for t in _targets(node)]
            if isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Attribute) and f.attr in _IN_PLACE:
                    hits.append(_column(f.value, columns))
                if isinstance(f, ast.Attribute) and f.attr == "copyto" and node.args:
                    hits.append(_column(node.args[0], columns))
                hits += [_column(k.value, columns) for k in node.keywords if k.arg == "out"]
            out += [f"{path.relative_to(root.parent)}:{node.lineno}: {c}" for c in hits if c]
    return out


def test_sim_writes_no_kernel_column():
    columns = kernel_columns()
    assert {"run_state", "block", "wait_seq", "sleep_deadline", "sig_mask", "exit_state",
            "exit_code", "group_exit_code"} <= columns
    assert not columns & {"sim_pc", "sim_prog"}
    assert kernel_writes(SIM, columns) == []


def test_the_scan_catches_each_kind_of_store(tmp_path):
    (tmp_path / "sim").mkdir()
    (tmp_path / "sim" / "bad.py").write_text(
        "def f(world, t, np):\n"
        "    T = world.tasks\n"
        "    T.run_state[t] = 1\n"
        "    T.sig_mask[t] |= 4\n"
        "    a, world.thread_groups.exiting[0] = 1, True\n"
        "    T.block.fill(0)\n"
        "    np.copyto(T.wait_seq, 0)\n"
        "    np.add(T.ret, 1, out=T.ret)\n"
        "    T.sim_pc[t] = 3\n"
        "    x = T.run_state[t]\n")
    got = kernel_writes(tmp_path / "sim", {"run_state", "sig_mask", "exiting", "block", "wait_seq",
                                           "ret"})
    assert [g.split(": ")[1] for g in got] == ["run_state", "sig_mask", "exiting", "block",
                                               "wait_seq", "ret"]
