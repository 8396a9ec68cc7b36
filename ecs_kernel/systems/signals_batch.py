"""Batched signal handlers: many kill/tgkill calls, the delivery pass and rt_sigreturn, served by
the numba kernels of jit/signals_batch.py, with systems/task_signals.py for what they do not cover.

Each function here gives the World the state that calling the scalar handler once per item, in
the same order, gives it (tests/systems/test_signals_batch.py holds them to that): the kernels
stop at an item they do not cover, the scalar handler serves it, and the kernel resumes after it.
The caller passes the scalar handler (``scalar``): task_signals, which runs the signal system,
sits above this module.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..abi import RLIMIT_SIGPENDING
from ..components import sigactions
from ..jit import futex_batch
from ..jit import signals_batch as K
from . import futex
from .task_block import end_interrupted_sleeps


def grow(table) -> None:
    """Room for one more row (a kernel returned GROW_*)."""
    table.make_room()


def _uid0(world) -> np.ndarray:
    return np.array([world.index.sigpending_by_uid.get(0, 0)], np.int64)


def _store_uid0(world, c: np.ndarray) -> None:
    counts = world.index.sigpending_by_uid
    if c[0]:
        counts[0] = int(c[0])
    else:
        counts.pop(0, None)


def _init_tg(world) -> int:
    init = int(world.pid_namespaces.init_task[world.index.root_pidns])
    return int(world.tasks.tg[init]) if init >= 0 else -1


def send_many(world, senders: np.ndarray, targets: np.ndarray, signos: np.ndarray,
              tgkill: np.ndarray, scalar: Callable[[int], int], start: int = 0,
              end: int | None = None, dropped: np.ndarray | None = None) -> np.ndarray:
    """kill(2) to the process of ``targets[i]`` (``tgkill[i]`` 0) or tgkill(2) to the thread
    ``targets[i]`` (1), from ``senders[i]``, in order, for i in ``start..end-1``; a sender of -1
    is the kernel (send_group_signal / send_task_signal with si_code SI_KERNEL). ``scalar(i)``
    serves item i with the scalar handler and returns its error (0, -errno, or 1: not served)
    when the kernel cannot. Returns the errors per item (entries outside the range: 0).
    ``dropped`` (int8, one per item), if given, gets 1 for each item the kernel served whose
    signal was dropped (ignored at send, or the group exiting)."""
    end = len(senders) if end is None else end
    if dropped is None:
        dropped = np.zeros(len(senders), np.int8)
    senders = np.ascontiguousarray(senders, np.int64)
    targets = np.ascontiguousarray(targets, np.int64)
    signos = np.ascontiguousarray(signos, np.int64)
    tgkill = np.ascontiguousarray(tgkill, np.int8)
    out = np.zeros(len(senders), np.int64)
    st = world.index.signal_stats
    root = world.index.root_pidns
    init_tg = _init_tg(world)
    i = start
    while i < end:
        T, G, Q, R = world.tasks, world.thread_groups, world.sigqueue, world.rlimit_sets
        meta = Q.kernel_meta()
        uid0 = _uid0(world)
        stats = np.zeros(3, np.int64)
        i, status = K.send_batch(
            i, end, senders, targets, signos, tgkill, out, dropped,
            T.alive, T.exit_state, T.euid, T.ruid, T.ns, T.tg, T.tids[:, 0], T.sig_mask,
            T.sig_pending, T.q_head, T.q_tail, T.run_state, T.block, T.sig_wait_set, T.sighand,
            T.tg_next, G.leader, G.exiting, G.group_pending, G.gq_head, G.gq_tail, G.curr_target,
            G.tasks_count, G.task_head, G.rlimits, R.rlim_cur[:, RLIMIT_SIGPENDING],
            world.signal_handlers.actions, world.sigactions.sa_handler, root, init_tg,
            Q.q_owner, Q.q_group, Q.q_signo, Q.q_code, Q.q_pid, Q.q_uid, Q.q_value, Q.q_errno,
            Q.q_charged, Q.q_next, Q.q_prev, Q.alive, Q._free, meta, uid0, stats)
        Q.set_kernel_meta(meta)
        _store_uid0(world, uid0)
        st.sent += int(stats[0])
        st.dropped += int(stats[1])
        st.queued_info += int(stats[2])
        if status == K.FALLBACK:
            out[i] = scalar(i)
            i += 1
        elif status == K.GROW_Q:
            grow(Q)
    return out


def deliver(world, rows: np.ndarray, scalar: Callable[[object, int], object]) -> None:
    """get_signal for each of ``rows`` in order (the signal system's delivery pass); ``scalar``
    is task_signals.get_signal, called as ``scalar(world, row)`` for a row the kernel hands
    back."""
    rows = np.ascontiguousarray(rows, np.int64)
    st = world.index.signal_stats
    init_tg = _init_tg(world)
    key_log = np.empty((len(rows), futex_batch.LOG_COLS), np.int64)
    # the sleeps the kernel's handlers interrupt (a row's at most once: its block is gone then)
    slept = np.empty(len(rows), np.int64)
    nslept = np.zeros(1, np.int64)
    i = 0
    while i < len(rows):
        T, G, Q, F = world.tasks, world.thread_groups, world.sigqueue, world.sigframes
        A = world.sigactions
        W, WQ = world.futex_waiters, world.futex_queues
        qm, fm, wm, wqm = Q.kernel_meta(), F.kernel_meta(), W.kernel_meta(), WQ.kernel_meta()
        uid0 = _uid0(world)
        stats = np.zeros(1, np.int64)
        nlog = np.zeros(1, np.int64)
        i, status = K.deliver_batch(
            rows, i, T.alive, T.exit_state, T.tg, T.sig_mask, T.sig_pending, T.q_head, T.q_tail,
            T.run_state, T.block, T.ret, T.sig_saved_mask, T.has_saved_mask, T.frame_top,
            T.handling, T.sighand, world.signal_handlers.actions, T.si_signo, T.si_code, T.si_pid,
            T.si_uid, T.si_value, T.si_errno,
            G.exiting, G.group_pending, G.gq_head, G.gq_tail, G.curr_target, init_tg,
            A.sa_handler, A.sa_flags, A.sa_mask,
            Q.q_owner, Q.q_group, Q.q_signo, Q.q_code, Q.q_pid, Q.q_uid, Q.q_value, Q.q_errno,
            Q.q_charged, Q.q_next, Q.q_prev, Q.alive, Q.gen, Q._free, qm, uid0,
            F.f_task, F.f_signo, F.f_mask, F.f_prev, F.alive, F.gen, F._free, fm,
            T.futex_waiter, T.futex_restart_uaddr, T.futex_restart_val,
            T.futex_restart_bitset, T.futex_restart_deadline, T.futex_restart_flags,
            W.task, W.queue, W.bitset, W.deadline, W.w_next, W.w_prev, W.uaddr, W.val, W.flags,
            W.alive, W.gen, W._free, wm, WQ.q_head, WQ.q_tail, WQ.q_count, WQ.key_kind, WQ.key_a,
            WQ.key_b, WQ.alive, WQ.gen, WQ._free, wqm, key_log, nlog, slept, nslept, stats)
        Q.set_kernel_meta(qm)
        F.set_kernel_meta(fm)
        W.set_kernel_meta(wm)
        WQ.set_kernel_meta(wqm)
        futex.apply_key_log(world, key_log, int(nlog[0]))
        _store_uid0(world, uid0)
        st.delivered += int(stats[0])
        if status == K.FALLBACK:
            scalar(world, int(rows[i]))
            i += 1
        elif status == K.GROW_F:
            grow(F)
    # Sleeps the kernel's handlers ended keep their remainders, as interrupt_syscall does, though
    # the row has moved on since (a fatal signal get_signal took after the handler). Only those:
    # a sleeper a signal killed keeps its sleep until the timer system's pass, as get_signal
    # leaves it. (No time passes within the pass, so ending them here or at the handler is one.)
    if nslept[0]:
        end_interrupted_sleeps(world, slept[: int(nslept[0])])


def sigreturn_many(world, rows: np.ndarray) -> None:
    """rt_sigreturn of every frame of each of ``rows`` (each has at least one frame)."""
    T, F = world.tasks, world.sigframes
    fm = F.kernel_meta()
    K.sigreturn_all(np.ascontiguousarray(rows, np.int64), T.sig_mask, T.frame_top, T.handling,
                    F.f_task, F.f_signo, F.f_mask, F.f_prev, F.alive, F.gen, F._free, fm)
    F.set_kernel_meta(fm)


def sigaction_many(world, tasks: np.ndarray, signos: np.ndarray, handlers: np.ndarray,
                   flags: np.ndarray, scalar: Callable[[int], int], start: int = 0,
                   end: int | None = None) -> np.ndarray:
    """rt_sigaction(2) for ``tasks[i]`` installing ``(handlers[i], flags[i], mask 0, restorer 0)``,
    in order; ``scalar(i)`` serves what the kernel hands back. Returns the errors per item (0,
    -errno, or 1: the task is exiting and its call never completes). The kernel moves handler
    tables between shared action tables (components/sigactions.py) by transitions it learns
    here: each distinct new table is built once."""
    end = len(tasks) if end is None else end
    tasks = np.ascontiguousarray(tasks, np.int64)
    signos = np.ascontiguousarray(signos, np.int64)
    handlers = np.ascontiguousarray(handlers, np.uint64)
    flags = np.ascontiguousarray(flags, np.uint64)
    out = np.zeros(len(tasks), np.int64)
    T, G, H, A = world.tasks, world.thread_groups, world.signal_handlers, world.sigactions
    n = T.n
    live = np.flatnonzero(T.alive[:n] & (T.sighand[:n] >= 0))
    sh = T.sighand[live]
    order = np.argsort(sh, kind="stable")
    sh_rows = live[order].astype(np.int64)
    sh_start = np.searchsorted(sh[order], np.arange(H.n + 1)).astype(np.int64)
    cap = 64  # transitions remembered (a handful in practice: one per distinct edit)
    tr = np.zeros((3, cap), np.int64)  # from table, signo, to table
    tr_h, tr_f = np.zeros(cap, np.uint64), np.zeros(cap, np.uint64)  # handler, flags
    ntr, freed = np.zeros(1, np.int64), np.zeros(1, np.int64)
    i = start
    while i < end:
        i, status = K.sigaction_batch(i, end, tasks, signos, handlers, flags, out, T.exit_state,
                                      T.sighand, T.tg, T.sig_pending, G.group_pending, sh_start,
                                      sh_rows, H.actions, A.sa_handler, A.sa_flags, A.sa_mask,
                                      A.sa_restorer, A.refs, tr[0], tr[1], tr_h, tr_f, tr[2], ntr,
                                      freed)
        if status == K.FALLBACK:
            out[i] = scalar(i)
            i += 1
            ntr[0] = 0  # the scalar call may have freed a table a transition names
        elif status == K.MISS:
            if ntr[0] == cap:
                ntr[0] = 0
            k = int(ntr[0])
            old = int(H.actions[T.sighand[tasks[i]]])
            tr[0, k], tr[1, k], tr_h[k], tr_f[k] = old, signos[i], handlers[i], flags[i]
            tr[2, k] = sigactions.edited(world, old, int(signos[i]), int(handlers[i]),
                                         int(flags[i]))
            ntr[0] = k + 1
        elif status == K.FREED:
            gone = int(freed[0])
            sigactions.free_unnamed(world, gone)
            keep = [k for k in range(int(ntr[0])) if gone not in (tr[0, k], tr[2, k])]
            tr[:, : len(keep)] = tr[:, keep]
            tr_h[: len(keep)], tr_f[: len(keep)] = tr_h[keep], tr_f[keep]
            ntr[0] = len(keep)
    return out
