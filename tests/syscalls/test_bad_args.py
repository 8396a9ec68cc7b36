"""Every handler, called with hostile arguments, fails the way a kernel does (an errno, a block or
an exit) and never with a Python exception: the emulator does not crash because of a guest."""
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecs_kernel.cpu.task_run import Machine
from ecs_kernel.errors import KernelError
from ecs_kernel.fs.vfs import FileSystem
from ecs_kernel.kernel import Kernel
from ecs_kernel.syscalls import table as tb
from ecs_kernel.abi import Block, RunState
from ecs_kernel.syscalls.context import KernelBlocked, TaskExit, WouldBlock
from ecs_kernel.systems import io_wait
from ecs_kernel.systems.task_signals import interrupt_syscall
from ecs_kernel.syscalls.procfs import KernelProc

SKIP = {"exit", "exit_group",  # they end the task (TaskExit): covered by the guest tests
        "brk"}  # a break near the top of the address space takes seconds in cpu/memory.py (reported)
HANDLERS = [s for s in tb.table() if s.handler is not None and s.name not in SKIP]


@pytest.fixture(scope="module")
def machine():
    d = Path(tempfile.mkdtemp(prefix="ecs-badargs-", dir="/var/tmp"))
    src = d / "p.s"
    src.write_text(".globl _start\n_start:\n mov $60, %eax\n syscall\n")
    subprocess.run(["gcc", "-nostdlib", "-static", "-o", str(d / "p"), str(src)], check=True)
    proc = KernelProc(None)
    fs = FileSystem("/", proc)
    k = Kernel()
    m = Machine(k, fs, strict=True)
    proc.machine = m
    m.exec_first(k.task(k.init_task), str(d / "p"), [str(d / "p")], [])
    yield m
    shutil.rmtree(d, ignore_errors=True)


def _unblock(m):
    """A call that blocked the task: end the wait as a signal would (so the next call starts
    from a running task), and drop a sigsuspend's mask."""
    w = m.world
    T = w.tasks
    row = m.current_task.row
    if T.run_state[row] == RunState.blocked:
        interrupt_syscall(w, row, False)
        T.block[row] = Block.NONE
    if T.has_saved_mask[row]:
        T.sig_mask[row] = T.sig_saved_mask[row]
        T.has_saved_mask[row] = False
    io_wait.finish(w, row)
    T.run_state[row] = RunState.runApp


def interesting(m):
    t = m.current_task
    sp = t.mm.start_stack
    return st.one_of(
        st.sampled_from([0, 1, 2, 3, 7, 16, 4096, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF,
                         (1 << 63), (1 << 47), 0x7FFF_FFFF_F000, 0xFFFF_FFFF_FFFF_FF9C]),
        st.integers(0, (1 << 64) - 1),
        st.integers(sp - 8192, sp + 4096),  # real, writable guest memory
    )


@pytest.mark.parametrize("entry", HANDLERS, ids=lambda s: s.name)
def test_handler_survives_hostile_arguments(machine, entry):
    strat = st.lists(interesting(machine), min_size=entry.nargs, max_size=entry.nargs)

    @settings(max_examples=12, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(args=strat)
    def check(args):
        t = machine.current_task
        try:
            ret = entry.handler(t, *args)
        except (KernelError, KernelBlocked, WouldBlock, TaskExit):
            _unblock(machine)
            return
        assert isinstance(ret, int), (entry.name, args, ret)

    check()
