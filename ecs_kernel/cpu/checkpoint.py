"""Checkpoint and restore of running guest programs (gVisor: ``runsc checkpoint``/``restore``).

A guest checkpoint is one checkpoint file (checkpoint_file.py) whose manifest has ``"kind":
"guest"``: the World (every task a row, blocked ones with their request in columns, as issue 12
made them), the objects behind it (address spaces with their non-zero pages, the file tree, open
files, pipes with the bytes in flight: checkpoint_objects.py), and a ``machine`` section: each guest
thread's registers, FPU/SSE state and FS/GS bases, which task is the program, the kernel clock, the
run's random state and its stdio.

It is taken between two turns of the run loop, where no syscall is half done: a task in a syscall
is either blocked (a row; its registers stand just after ``syscall`` with the number in rax) or
waiting in ``runSyscallExit`` for its result. Restored, the run loop goes on exactly there: a
blocked futex, wait4, nanosleep, pipe read or sigsuspend completes or restarts as it would have.

Kernel time goes on from where it was saved (the restored clock is the host's plus an offset), so
deadlines the guest computed stay right; wall-clock time is the host's, as after CRIU's restore.
"""
from __future__ import annotations

import os
import random

import numpy as np
from unicorn import x86_const as X

from .. import checkpoint_file
from ..checkpoint_file import CheckpointError
from ..checkpoint_objects import StateWriter
from ..fs import devices as _devices, pipe as _pipe, stdio as _stdio  # noqa: F401  (their
from ..fs import proc as _proc, vfs as _vfs  # noqa: F401                   state classes)
from ..kernel import Kernel
from ..world import World, WorldReader
from ..syscalls.context import Task
from ..syscalls.procfs import KernelProc
from . import sigframe
from .clock import HostClock, VirtualClock
from .task_run import Machine

KIND = "guest"
REGS = sigframe.GREGS + ("eflags",)  # a thread's general registers, in the saved order
FP_SIZE = sigframe.FPSTATE_SIZE
_MT_WORDS = 625  # random.Random's state: 624 words and an index


def thread_context(machine: Machine, row: int) -> tuple[dict, bytes, int, int] | None:
    """``(regs, fpstate, fs_base, gs_base)`` of guest thread ``row`` wherever they are now: its
    first registers if it never ran, the engine if it is the one loaded, else its saved context
    (loaded into the engine for a moment and put back). None for a thread without memory."""
    task = machine.tasks[row]
    if task.initial_regs is not None:
        return task.initial_regs
    mm_row = int(machine.world.tasks.mm[row])
    gm = machine.world.index.address_spaces.get(mm_row)
    if gm is None:
        return None
    uc = gm.uc
    loaded = gm.loaded_row if gm.loaded_row >= 0 else row
    if loaded == row or task.ctx is None:
        return _read_engine(uc)
    here = uc.context_save()
    uc.context_restore(task.ctx)
    try:
        return _read_engine(uc)
    finally:
        uc.context_restore(here)


def _read_engine(uc) -> tuple[dict, bytes, int, int]:
    return (sigframe.read_regs(uc), sigframe.save_fpstate(uc),
            uc.reg_read(X.UC_X86_REG_FS_BASE), uc.reg_read(X.UC_X86_REG_GS_BASE))


def to_state(machine: Machine) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)`` of the whole guest run (checkpoint_file's two halves). Raises TypeError
    for what cannot be saved (a host fd that is not the run's stdio, an unregistered object)."""
    if machine.pending_release:
        raise TypeError("an address space is being released: checkpoint between turns")
    w = StateWriter({"proc": machine.fs.proc_provider, "fs_root": machine.fs.root_dir})
    meta = {"kind": KIND, "world": machine.world.write_state(w)}
    T = machine.world.tasks
    # the run loop keeps the last task it ran even once its row is freed: not a thread any more
    rows = [r for r in sorted(machine.tasks) if T.alive[r] and T.guest[r]]
    regs = np.zeros((len(rows), len(REGS)), np.uint64)
    fp = np.zeros((len(rows), FP_SIZE), np.uint8)
    seg = np.zeros((len(rows), 2), np.uint64)
    has = np.zeros(len(rows), np.bool_)
    for i, row in enumerate(rows):
        ctx = thread_context(machine, row)
        if ctx is None:
            continue
        r, f, fs_base, gs_base = ctx
        regs[i] = [r[k] & 0xFFFF_FFFF_FFFF_FFFF for k in REGS]
        fp[i] = np.frombuffer(f, np.uint8)
        seg[i] = (fs_base, gs_base)
        has[i] = True
    w.array("machine.rows", np.array(rows, np.int64))
    w.array("machine.regs", regs)
    w.array("machine.fp", fp)
    w.array("machine.seg", seg)
    w.array("machine.has_regs", has)
    version, mt, gauss = machine.rng.getstate()
    w.array("machine.rng", np.array(mt, np.int64))
    w.array("machine.sched_rng", np.array(machine.sched_rng.getstate()[1], np.int64))
    clock = machine.clock
    if isinstance(clock, VirtualClock):
        cmeta = {"type": "virtual", "now_ns": clock.now_ns, "realtime0_ns": clock.realtime0_ns,
                 "step_ns": clock.step_ns, "cpu_ns": clock._cpu, "tsc": getattr(clock, "_tsc", 0)}
    else:
        machine.sync_clock()
        cmeta = {"type": "host", "monotonic_ns": int(clock.monotonic_ns()),
                 "cpu_ns": int(clock.cpu_time_ns())}
    p = machine.platform
    meta["machine"] = {
        "fs": w.ref(machine.fs), "root_dir": machine.fs.root_dir, "main_row": machine.main_row,
        "boot_ns": int(machine.boot_ns), "tick": int(machine.kernel_tick()),
        "stdio": [int(x) if x is not None else -1 for x in machine.stdio],
        "rng_version": version, "rng_gauss": gauss, "clock": cmeta,
        "use_fast_path": bool(p.use_fast_path), "tier_up_countdown": int(p.tier_up_countdown),
        "deterministic": bool(machine.deterministic),
        "unimplemented": [[int(nr), int(n)] for nr, n in sorted(machine.dispatcher.unimplemented.items())],
        "strace": machine.strace.state() if machine.strace is not None else None,
        "last_turn": int(machine.last_turn),
        "preempted": int(machine.preempted),
    }
    meta["objects"] = w.objects
    return meta, w.arrays


def save(machine: Machine, path) -> int:
    """Write the run's checkpoint to ``path`` atomically; returns its size in bytes."""
    return checkpoint_file.write(path, *to_state(machine))


def dumps(machine: Machine) -> bytes:
    return checkpoint_file.dumps(*to_state(machine))


def kind_of(meta: dict) -> str:
    return meta.get("kind") if isinstance(meta, dict) and isinstance(meta.get("kind"), str) else "?"


def from_state(meta: dict, arrays: dict[str, np.ndarray], *, stdio=(0, 1, 2), strace=None,
               stderr=None, strict: bool = False) -> Machine:
    with WorldReader.guard():
        return _from_state(meta, arrays, stdio=stdio, strace=strace, stderr=stderr, strict=strict)


def _from_state(meta, arrays, *, stdio, strace, stderr, strict) -> Machine:
    """The Machine :func:`to_state` described, ready for ``run()``; CheckpointError (one line)
    for anything that does not fit, before any task runs. ``stdio``: the host fds the restored
    guest's stdio slots 0-2 use now."""
    if kind_of(meta) != KIND:
        raise CheckpointError(f"not a guest checkpoint (it holds a {kind_of(meta)})")
    mmeta = meta.get("machine")
    if not isinstance(mmeta, dict):
        raise CheckpointError("corrupt checkpoint: no machine section")
    root = mmeta.get("root_dir")
    if not isinstance(root, str) or not os.path.isdir(root):
        raise CheckpointError(f"the guest root {root!r} is not a directory here")
    saved_stdio = mmeta.get("stdio")
    if not isinstance(saved_stdio, list) or len(saved_stdio) != 3 or \
            not all(type(x) is int for x in saved_stdio):
        raise CheckpointError("corrupt checkpoint: the stdio slots are malformed")
    proc = KernelProc(None)
    r = WorldReader(meta, arrays, context={
        "proc": proc, "fs_root": root, "saved_stdio": tuple(saved_stdio),
        "stdio": tuple(-2 if x is None else x for x in stdio)})
    wmeta = meta.get("world")
    if not isinstance(wmeta, dict):
        r.fail("no World")
    world = World.read_state(r, wmeta)
    fs = r.obj(mmeta.get("fs"), ("FileSystem",))
    rows = r.array("machine.rows", np.dtype(np.int64), (None,))
    n = len(rows)
    regs = r.array("machine.regs", np.dtype(np.uint64), (n, len(REGS)))
    fp = r.array("machine.fp", np.dtype(np.uint8), (n, FP_SIZE))
    seg = r.array("machine.seg", np.dtype(np.uint64), (n, 2))
    has = r.array("machine.has_regs", np.dtype(np.bool_), (n,))
    mt = r.array("machine.rng", np.dtype(np.int64), (_MT_WORDS,))
    sched_mt = r.array("machine.sched_rng", np.dtype(np.int64), (_MT_WORDS,))
    r.finish()  # every object is whole: hooks check the host side (stdio fds, paths)

    T = world.tasks
    rows_l = rows.tolist()
    if len(set(rows_l)) != n or any(not 0 <= x < T.n or not T.alive[x] or not T.guest[x]
                                    for x in rows_l):
        r.fail("the guest threads are not live guest rows")
    main = r.int(mmeta, "main_row", 0, T.n - 1)
    if main not in rows_l:
        r.fail("the program's task is not a guest thread")
    for x in rows_l:
        if int(T.mm[x]) not in world.index.address_spaces and has[rows_l.index(x)]:
            r.fail(f"guest thread {x} has registers but no address space")
    clock = _clock(r, mmeta.get("clock"))
    rng, sched_rng = random.Random(), random.Random()
    try:
        rng.setstate((mmeta.get("rng_version"), tuple(mt.tolist()), mmeta.get("rng_gauss")))
        sched_rng.setstate((mmeta.get("rng_version"), tuple(sched_mt.tolist()), None))
    except (TypeError, ValueError, OverflowError):
        r.fail("the random state is malformed")
    deterministic = mmeta.get("deterministic")
    if type(deterministic) is not bool:
        r.fail("deterministic is not a bool")
    proc.clock = clock

    kernel = Kernel(world=world)
    use_fast = mmeta.get("use_fast_path")
    if type(use_fast) is not bool:
        r.fail("use_fast_path is not a bool")
    countdown = r.int(mmeta, "tier_up_countdown", 0, 1 << 62)
    machine = Machine(kernel, fs, strace=strace, strict=strict, stderr=stderr,
                      fast_path=use_fast, fast_path_after=countdown, clock=clock,
                      deterministic=deterministic)
    proc.machine = machine
    machine.rng, machine.sched_rng = rng, sched_rng
    unimpl = mmeta.get("unimplemented")
    if not isinstance(unimpl, list) or not all(
            isinstance(x, list) and len(x) == 2 and all(type(v) is int and 0 <= v < 1 << 62 for v in x)
            for x in unimpl):
        r.fail("the unimplemented-syscall counts are malformed")
    machine.dispatcher.unimplemented.update({nr: n for nr, n in unimpl})
    machine.stdio = tuple(stdio)
    for gm in world.index.address_spaces.values():
        if hasattr(gm, "uc"):
            machine.platform.add_hooks(gm)
    for i, row in enumerate(rows_l):
        task = Task(world, row, machine, fs)
        gm = world.index.address_spaces.get(int(T.mm[row]))
        task.mm = gm.aspace if gm is not None else None
        if has[i]:
            task.initial_regs = (dict(zip(REGS, (int(v) for v in regs[i]))), fp[i].tobytes(),
                                 int(seg[i, 0]), int(seg[i, 1]))
        machine.tasks[row] = task
    machine.main_row = main
    machine.last_turn = r.int(mmeta, "last_turn", -1, len(T.alive))  # round robin's position
    machine.preempted = r.int(mmeta, "preempted", -1, len(T.alive))  # its next switch: nivcsw
    machine.boot_ns = r.int(mmeta, "boot_ns", 0, world.now_ns)
    if machine.strace is not None and mmeta.get("strace") is not None:
        _resume_strace(r, machine, mmeta["strace"])
    machine.update_timer_deadline()
    return machine


def _resume_strace(r, machine, st) -> None:
    """The saved run's --strace state (syscalls/strace.py Strace.state), checked."""
    if not isinstance(st, dict) or not isinstance(st.get("calls"), list):
        r.fail("the strace state is malformed")
    big = (1 << 64) - 1
    calls = []
    for c in st["calls"]:
        if not (isinstance(c, list) and len(c) == 6 and isinstance(c[2], list) and len(c[2]) <= 6
                and all(type(a) is int and 0 <= a <= big for a in c[2])
                and type(c[1]) is int and 0 <= c[1] < 1 << 16 and type(c[3]) is int
                and 0 <= c[3] < 256 and type(c[4]) is bool and type(c[5]) is bool):
            r.fail("a traced call is malformed")
        task = machine.tasks.get(c[0]) if type(c[0]) is int else None
        if task is None:
            r.fail("a traced call belongs to no task")
        calls.append((task, c[1], c[2], c[3], c[4], c[5]))
    opened = st.get("open")
    if type(opened) is not int or (opened != -1 and opened not in machine.tasks):
        r.fail("the open strace line belongs to no task")
    shown = st.get("fatal_shown")
    if not isinstance(shown, list) or not all(type(g) is int and 0 <= g < 1 << 40 for g in shown):
        r.fail("the strace fatal-signal list is malformed")
    machine.strace.resume_state(calls, opened, r.int(st, "col", 0, 1 << 20), shown)


def _clock(r, cmeta):
    if not isinstance(cmeta, dict):
        r.fail("no clock")
    big = (1 << 63) - 1
    if cmeta.get("type") == "virtual":
        c = VirtualClock(r.int(cmeta, "now_ns", 0, big), r.int(cmeta, "realtime0_ns", 0, big),
                         r.int(cmeta, "step_ns", 0, big))
        c._cpu = r.int(cmeta, "cpu_ns", 0, big)
        c._tsc = r.int(cmeta, "tsc", 0, big)
        return c
    if cmeta.get("type") == "host":
        return HostClock.resuming(r.int(cmeta, "monotonic_ns", 0, big), r.int(cmeta, "cpu_ns", 0, big))
    r.fail(f"an unknown clock {cmeta.get('type')!r}")


def load(path, **kw) -> Machine:
    """:func:`from_state` of the checkpoint file at ``path``."""
    return from_state(*checkpoint_file.read(path), **kw)


def loads(blob: bytes, **kw) -> Machine:
    return from_state(*checkpoint_file.loads(blob), **kw)


__all__ = ["save", "dumps", "load", "loads", "to_state", "from_state", "thread_context", "KIND"]
