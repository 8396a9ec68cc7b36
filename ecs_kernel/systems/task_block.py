"""Blocked tasks as data: what each waits for, and when the kernel next has something to do.

gVisor: kernel/task_block.go. A blocked task is a row in run state ``blocked`` whose ``block``
column names what it waits for; the request is in that kind's columns:

    Block.WAIT          wait4/waitid        WaitState (idtype, id, options)    wait_system
    Block.FUTEX         futex waits         a futex_waiters row                a wake, futex_timeout_system
    Block.SLEEP         nanosleep           SleepState (clock, deadline)       timer_system
    Block.SIGSUSPEND    sigsuspend, pause   SigMask (the saved mask)           a handler
    Block.SIGTIMEDWAIT  rt_sigtimedwait     SigWait (set, deadline)            a signal of the set, signal_system
    Block.IO, POLL      read/write, poll    io_waits rows (fds, deadline)      io_wait_system
    Block.VFORK         a vfork parent      the child's vfork_parent           the child's exec or exit
    Block.STOPPED       a group stop        SigWait (the state it interrupted) SIGCONT
    Block.PTRACE        a ptrace stop       TaskPtrace (the stop, its report)  its tracer's resume
    Block.EXEC          exec in a thread    ThreadGroupCore.exec_task          the old leader's exit

A kernel call that leaves its task blocked returns :data:`BLOCKED`. The systems named last wake a
task by moving it to ``runSyscallExit`` with its result in ``ret`` (or a restart code); a signal
with a handler ends an interruptible wait (task_signals.interrupt_syscall; a sleep it ends keeps
its remainder, :func:`end_interrupted_sleeps`). :func:`next_deadline` is when the earliest timed
wait or timer falls due, for a driver that must sleep until then (the guest run loop).

Every blocking call imports this module, so it imports no system that blocks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..abi import BASE_MONO, BASE_REAL, Block, RunState
from ..components.futex import NO_DEADLINE
from ..jit.timers import end_sleep_rows
from . import cpu_clocks, io_wait


class Blocked:
    """What a kernel call returns when it left its task blocked; the result will land in the
    task's row."""

    def __repr__(self):
        return "BLOCKED"


BLOCKED = Blocked()


@dataclass(frozen=True)
class BlockedTask:
    """One blocked task and its request, as the columns hold it (for listings and tests)."""

    row: int
    block: int  # Block.*
    request: dict


def blocked(world) -> list[BlockedTask]:
    """Every blocked task (group stops included) with its request, in row order."""
    T = world.tasks
    n = T.n
    out = []
    for t in np.flatnonzero(T.alive[:n] & (T.run_state[:n] == RunState.blocked)).tolist():
        b = int(T.block[t])
        inner = int(T.stop_block[t]) if b == Block.STOPPED else b
        out.append(BlockedTask(t, b, _request(world, t, inner)))
    return out


def _request(world, t: int, b: int) -> dict:
    T = world.tasks
    if b == Block.WAIT:
        return {"idtype": int(T.wait_idtype[t]), "id": int(T.wait_id[t]),
                "options": int(T.wait_options[t])}
    if b == Block.FUTEX:
        W = world.futex_waiters
        w = int(T.futex_waiter[t])
        return {} if w < 0 else {"uaddr": int(W.uaddr[w]), "val": int(W.val[w]),
                                 "bitset": int(W.bitset[w]), "deadline": _d(W.deadline[w])}
    if b == Block.SLEEP:
        return {"base": int(T.sleep_base[t]), "deadline": int(T.sleep_deadline[t])}
    if b == Block.SIGSUSPEND:
        return {"mask": int(T.sig_mask[t]), "saved_mask": int(T.sig_saved_mask[t])
                if T.has_saved_mask[t] else None}
    if b == Block.SIGTIMEDWAIT:
        d = int(T.sig_deadline[t])
        return {"set": int(T.sig_wait_set[t]), "deadline": None if d < 0 else d}
    if b in (Block.IO, Block.POLL):
        W = world.io_waits
        mine = io_wait._rows(world, t)
        fds = [(int(W.iw_fd[r]), int(W.iw_events[r])) for r in mine.tolist()]
        first = mine[0] if len(mine) else -1
        return {"fds": fds, "deadline": _d(W.iw_deadline[first]) if first >= 0 else None,
                "nr": int(W.iw_nr[first]) if first >= 0 else -1}
    if b == Block.VFORK:
        n = T.n
        kids = np.flatnonzero(T.alive[:n] & (T.vfork_parent[:n] == t))
        return {"child": int(kids[0]) if len(kids) else -1}
    if b == Block.EXEC:
        return {"leader": int(world.thread_groups.leader[int(T.tg[t])])}
    if b == Block.PTRACE:
        return {"tracer": int(T.ptracer[t]), "stop": int(T.ptrace_stop[t]),
                "code": int(T.ptrace_code[t])}
    return {}


def _d(v) -> int | None:
    v = int(v)
    return None if v == NO_DEADLINE else v


def deadline_of(world, t: int) -> int | None:
    """When blocked task ``t``'s wait times out (kernel time), or None: a cheap per-task look for
    a driver that keeps :func:`next_deadline` up to date as tasks block. A sleep on a CPU clock
    gives the next tick (its time moves with the CPU, not the clock)."""
    T = world.tasks
    b = int(T.block[t])
    if b == Block.FUTEX:
        w = int(T.futex_waiter[t])
        return _d(world.futex_waiters.deadline[w]) if w >= 0 else None
    if b == Block.SLEEP:
        base = int(T.sleep_base[t])
        if base == BASE_MONO:
            return int(T.sleep_deadline[t])
        if base == BASE_REAL:
            return int(T.sleep_deadline[t]) - cpu_clocks.realtime_offset(world)
        return world.now_ns + world.settings.tick_ns
    if b == Block.SIGTIMEDWAIT:
        d = int(T.sig_deadline[t])
        return None if d < 0 else d
    if b in (Block.IO, Block.POLL):
        mine = io_wait._rows(world, t)
        return _d(io_wait.wake_at(world, t, mine.tolist())) if len(mine) else None
    return None


def end_interrupted_sleeps(world, rows: np.ndarray) -> None:
    """The sleeps signals just ended (``rows``) keep their remainders for nanosleep's ``rem``
    (jit.timers.end_sleep_rows; the timer system's pass does the same for a whole table)."""
    T, G = world.tasks, world.thread_groups
    now = int(world.now_ns)
    end_sleep_rows(np.ascontiguousarray(rows, np.int64), T.sleeping, T.run_state, T.block,
                   T.stop_run_state, T.stop_block, T.sleep_base, T.sleep_target, T.sleep_deadline,
                   T.ret, T.sleep_rem_ns, G.group_utime, G.group_stime, now,
                   now + cpu_clocks.realtime_offset(world))


def next_deadline(world) -> tuple[int | None, bool]:
    """``(deadline, cpu)``: the earliest kernel time (``world.now_ns``'s clock) at which a timed
    wait (futex, sleep, sigtimedwait, I/O) or a monotonic/realtime timer falls due, or None; and
    whether a CPU-time timer or sleep is armed (its time moves with the CPU, not the clock: the
    driver looks every tick)."""
    T, M = world.tasks, world.timers
    soon = []
    cpu = False
    Wt = world.futex_waiters
    if Wt.count:
        d = Wt.deadline[: Wt.n][Wt.alive[: Wt.n]]
        d = d[d != NO_DEADLINE]  # a wait without a timeout has no deadline
        if len(d):
            soon.append(int(d.min()))
    n = T.n
    sleeping = np.flatnonzero(T.sleeping[:n] & T.alive[:n])
    if len(sleeping):
        base = T.sleep_base[sleeping]
        dl = T.sleep_deadline[sleeping]
        mono = dl[base == BASE_MONO]
        real = dl[base == BASE_REAL]
        if len(mono):
            soon.append(int(mono.min()))
        if len(real):
            soon.append(int(real.min()) - cpu_clocks.realtime_offset(world))
        cpu = cpu or bool(((base != BASE_MONO) & (base != BASE_REAL)).any())
    waiting = np.flatnonzero((T.run_state[:n] == RunState.blocked) & (T.block[:n] == Block.SIGTIMEDWAIT)
                             & (T.sig_deadline[:n] >= 0))
    if len(waiting):
        soon.append(int(T.sig_deadline[waiting].min()))
    d = io_wait.next_deadline(world)
    if d is not None:
        soon.append(d)
    if M.n:
        m = M.n
        # A periodic timer whose signal was queued is re-armed by the timer system once the
        # signal is dequeued: look at it every tick, like a CPU timer, until then.
        armed = (M.tm_armed[:m] | M.tm_rearm[:m]) & M.alive[:m]
        if armed.any():
            base = M.tm_base[:m]
            clock = armed & ~M.tm_rearm[:m] & ((base == BASE_MONO) | (base == BASE_REAL))
            if clock.any():
                exp = M.tm_expiry[:m][clock].astype(np.int64)
                exp = np.where(base[clock] == BASE_REAL, exp - cpu_clocks.realtime_offset(world), exp)
                soon.append(int(exp.min()))
            cpu = cpu or bool((armed & ~clock).any())
    return (min(soon) if soon else None), cpu


__all__ = ["BLOCKED", "Blocked", "blocked", "BlockedTask", "deadline_of", "end_interrupted_sleeps",
           "next_deadline"]
