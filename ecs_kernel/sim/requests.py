"""The syscall requests synthetic programs issue, and their scalar server.

The interpreter (jit/sim.py) writes at most one request per task per tick: the task, its step,
the op and its arguments (:class:`Requests`). :func:`serve_one` serves one request with the
handlers a guest's syscall would reach (systems/task_signals, systems/futex, systems/timers,
systems/task_clone, systems/task_exit, systems/task_wait); sim/batch.py serves whole classes of
requests with the batched forms of the same calls (beside them in systems/) and hands back to it
what they do not cover; sim/engine.py orders the classes. The lock and unlock ops are user space
(a glibc-style mutex on the shared words, :func:`_lock`) around the kernel's futex calls, as
jit/sim.futex_steps is for the batched path. ``st`` is the World's sim/engine.SimState (``world.index.sim``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..abi import (CLONE_FILES, CLONE_FS, CLONE_SIGHAND, CLONE_SYSVSEM, CLONE_THREAD, CLONE_VM,
                   ExitState, FUTEX_WAITERS, SIG_DFL, SIG_IGN, SIGCHLD)
from ..errors import KernelError
from ..jit import sim as K
from ..systems import futex as futex_sys
from ..systems import task_clone, task_exit, task_signals, task_wait, timers
from ..systems.task_block import BLOCKED
from . import mail

THREAD_FLAGS = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM
SEGMENT_ADDR = 0x7F0000000000  # where the shared futex words are mapped in every process
HANDLER_ADDR = 0x400000  # a synthetic handler's "address" (only its being neither 0 nor 1 counts)


@dataclass
class Requests:
    """One tick's requests, in serving order (grouped by op class, task rows ascending within
    one): the task row, its step, the op (jit/sim.py OP_*), the arguments, the op's flag."""

    task: np.ndarray
    step: np.ndarray
    op: np.ndarray
    args: np.ndarray
    flag: np.ndarray

    def __len__(self):
        return len(self.task)


def _advance(world, st, t: int) -> None:
    world.tasks.sim_pc[t] = st.step_next[world.tasks.sim_pc[t]]


def _tid(world, t: int) -> int:
    return int(world.tasks.tids[t, 0])


def _word_addr(word: int) -> int:
    return SEGMENT_ADDR + 4 * int(word)


def serve_one(world, st, req: Requests, r: int) -> None:
    """Serve request ``r`` with the scalar handler a guest's syscall would reach."""
    T = world.tasks
    t = int(req.task[r])
    op = int(req.op[r])
    a0, a1, a2 = req.args[r].tolist()
    tot = st.totals
    if T.exit_state[t] != ExitState.NONE:
        return  # killed earlier in this tick (a group exit): the call never completes
    try:
        if op == K.OP_SIGACTION:
            handler = (SIG_DFL, SIG_IGN, HANDLER_ADDR)[a1]
            task_signals.sigaction(world, t, a0, (handler, a2, 0))
        elif op == K.OP_SIGPROCMASK:
            task_signals.sigprocmask(world, t, a0, a1)
        elif op == K.OP_KILL or op == K.OP_TGKILL:
            mail.post(world, st, req, np.array([r]))  # sent at the end of the tick
        elif op == K.OP_FUTEX_WAIT:
            addr = _word_addr(a0)
            futex_sys.futex_wait(world, t, addr, futex_sys.read_u32(world, t, addr), private=False)
            tot["futex_waits"] += 1
            return  # blocked: the pc moves when the wait ends
        elif op == K.OP_FUTEX_WAKE:
            tot["futex_wakes"] += futex_sys.futex_wake(world, t, _word_addr(a0), a1, private=False)
        elif op == K.OP_LOCK:
            if not _lock(world, st, t, a0, bool(req.flag[r])):
                return  # blocked (or retrying next tick)
        elif op == K.OP_UNLOCK:
            words = st.segment.words  # see _lock
            old = int(words[a0])
            words[a0] = 0
            if old & FUTEX_WAITERS:
                tot["futex_wakes"] += futex_sys.futex_wake(world, t, _word_addr(a0), 1, private=False)
        elif op == K.OP_NANOSLEEP:
            ns = a0 * int(world.settings.tick_ns)
            if timers.nanosleep(world, t, (ns // 1_000_000_000, ns % 1_000_000_000)) is BLOCKED:
                return
        elif op == K.OP_SETITIMER:
            tick = int(world.settings.tick_ns)
            timers._set_itimer_ns(world, t, a0, a1 * tick, a2 * tick)
        elif op == K.OP_CLONE:
            flags = THREAD_FLAGS if a0 == 0 else SIGCHLD
            c = task_clone.clone(world, t, flags)
            T = world.tasks  # the clone may have grown the table
            T.sim_prog[c] = a1
            T.sim_pc[c] = st.prog_first[a1]
            T.sim_key[c] = K.child_key(T.sim_key[t], T.sim_clones[t])
            T.sim_clones[t] += 1
            tot["clones"] += 1
        elif op == K.OP_EXIT:
            task_exit.exit_task(world, t, a0)
            tot["exits"] += 1
            return
        elif op == K.OP_EXIT_GROUP:
            task_exit.exit_group(world, t, a0)
            tot["exits"] += 1
            return
        elif op == K.OP_WAIT:
            res = task_wait.wait(world, t, task_wait.WaitOptions.for_wait4(-1, 0))
            if res is BLOCKED:
                return
        else:  # pragma: no cover - the interpreter emits only these
            raise AssertionError(f"op {op}")
    except KernelError:
        tot["syscall_errors"] += 1
    _advance(world, st, t)


def _lock(world, st, t: int, word: int, contended: bool) -> bool:
    """One attempt at a glibc-style mutex (0 free, owner tid, FUTEX_WAITERS when contended):
    take it (True), or mark it contended and FUTEX_WAIT (False: the task blocks and retries)."""
    addr = _word_addr(word)
    # every synthetic process maps st.segment at SEGMENT_ADDR (and nothing else), so the word is
    # read and written in place, as jit.futex_batch does, not through memory_of/_locate
    words = st.segment.words
    cur = int(words[word])
    if cur == 0:
        # glibc: after a contended wait, take the lock marked contended (others may wait)
        words[word] = _tid(world, t) | (FUTEX_WAITERS if contended else 0)
        return True
    if not cur & FUTEX_WAITERS:
        cur |= FUTEX_WAITERS
        words[word] = cur
    try:
        futex_sys.futex_wait(world, t, addr, cur, private=False)
    except KernelError:
        return False  # EAGAIN: the word changed under us; retry next tick
    st.totals["futex_waits"] += 1
    return False
