"""Batched signal kernels: send (kill/tgkill), delivery (get_signal + handle_signal) and
rt_sigreturn over many tasks in one call.

They do what systems/task_signals.py does one call at a time, for the common cases, in the same
order (request by request, row by row), on the same columns, and allocate and free ``sigqueue``
and ``sigframes`` rows exactly as ``world.Table.alloc``/``free`` do (same free stack, same
generations), so a batch leaves the World in the state the scalar calls leave it.

A kernel stops at the first item it does not cover and returns ``(index, status)``:

    DONE      every item was served
    FALLBACK  item ``index`` needs the scalar path (stop/continue signals, SIGKILL, a fatal default
              action, an init target, a futex wait to interrupt, another uid or namespace, ...);
              nothing of that item was changed, so the caller serves it in Python and resumes
    GROW_Q    the sigqueue table is full: grow it and resume at ``index``
    GROW_F    the sigframes table is full: grow it and resume at ``index``

Table state travels in ``meta`` arrays ``[n, nfree, count, capacity]`` that the wrappers
(systems/signals_batch.py) read from and write back to the Table.
"""
from __future__ import annotations

import numpy as np

from ..abi import (BLOCK_FUTEX, BLOCK_IO, BLOCK_NONE, BLOCK_POLL, BLOCK_SIGTIMEDWAIT, BLOCK_SLEEP,
                   BLOCK_EXEC, BLOCK_STOPPED, BLOCK_VFORK, BLOCK_WAIT,
                   DEFAULT_IGNORE_MASK, EAGAIN, EINTR, EINVAL, ERESTARTSYS, ESRCH, NSIG, RUN_APP,
                   RUN_BLOCKED, RUN_SYSCALL_EXIT, SA_NODEFER, SA_RESETHAND, SA_RESTART, SI_KERNEL,
                   SI_TKILL, SI_USER, SIG_DFL, SIG_IGN, SIGCONT, SIGKILL, SIGRTMIN, SIGSTOP,
                   STOP_MASK, TASK_EXIT_NONE, UNBLOCKABLE, WF_HAS_TIMEOUT, WF_PI)
from .options import jit
from .futex_batch import futex_drop
from .links import append_one, unlink_one
from .rows import table_alloc, table_free, table_has_room
from .signals import next_signal

DONE, FALLBACK, GROW_Q, GROW_F = 0, 1, 2, 3
MISS, FREED = 4, 5  # sigaction_batch: a transition to learn; an action table to free

# What the batch leaves to the scalar path: stop and continue signals, and SIGKILL.
STOP_OR_CONT = STOP_MASK | (1 << (SIGCONT - 1)) | (1 << (SIGKILL - 1))

# The helpers below take arrays and run once or more per item: inline="always" puts them in the
# kernel's own IR (no call), and the kernels compile with allocates=False (no reference counts).


@jit
def _bit(signo):
    return np.uint64(1) << np.uint64(signo - 1)


@jit
def interrupted_ret(block, sa_restart):
    """What a blocked syscall returns when a handler interrupts it (Linux's restart codes as
    handle_signal leaves them): a wait for a child, an I/O wait and a futex wait without a
    timeout restart with SA_RESTART (-ERESTARTSYS) and fail with -EINTR without it; nanosleep
    (-ERESTART_RESTARTBLOCK), pause, sigsuspend, poll and select (-ERESTARTNOHAND),
    sigtimedwait and epoll_wait always fail with -EINTR. (A timed futex wait is -EINTR too:
    its caller passes ``sa_restart`` False.) The scalar path (task_signals.interrupt_syscall)
    and the batch kernel below both use this."""
    if sa_restart and (block == BLOCK_WAIT or block == BLOCK_IO or block == BLOCK_FUTEX):
        return -ERESTARTSYS
    return -EINTR


@jit(inline="always")
def _blocked_mask(t, mask, run_state, block, wait_set):
    """The mask send and delivery test: sigtimedwait's set stays blocked (real_blocked)."""
    m = mask[t]
    if run_state[t] == RUN_BLOCKED and block[t] == BLOCK_SIGTIMEDWAIT:
        m |= wait_set[t]
    return m


@jit(inline="always")
def _wants(t, signo, alive, exit_state, mask, run_state, block, wait_set):
    if not alive[t] or exit_state[t] != TASK_EXIT_NONE:
        return False
    if _blocked_mask(t, mask, run_state, block, wait_set) & _bit(signo):
        return False
    return not (run_state[t] == RUN_BLOCKED and block[t] == BLOCK_STOPPED)


@jit(allocates=False)
def send_batch(start, end, req_task, req_target, req_sig, req_tgkill, out_err, out_dropped,
               alive, exit_state, euid, ruid, ns, tg, tid0, mask, pending, q_head, q_tail,
               run_state, block, wait_set, sighand, tg_next,
               g_leader, g_exiting, g_pending, gq_head, gq_tail, g_curr, g_count, g_task_head,
               g_rlimits, rlim_sigpending, actions, handlers, root_ns, init_tg,
               q_owner, q_group, q_signo, q_code, q_pid, q_uid, q_value, q_errno, q_charged, q_next,
               q_prev, q_alive, q_free, q_meta, uid0_count, stats):
    """kill(2) (``req_tgkill`` 0: the process of ``req_target``) and tgkill(2) (1: the thread)
    from ``req_task``, requests ``start..end-1`` in order; a sender of -1 is the kernel itself
    (an interval timer's signal: si_code SI_KERNEL, no sender pid or uid, no permission check).
    ``out_err``: 0, -errno, or 1 for a sender that is exiting (its call never returns);
    ``out_dropped``: 1 where the signal was dropped (ignored at send, or the group exiting).
    ``stats``: [sent, dropped, queued_info]. Covered: root senders and receivers (uid 0) in the
    root namespace, signals whose action is ignore or a handler or that are blocked; everything
    else falls back."""
    for r in range(start, end):
        t = req_task[r]
        kernel = t < 0
        if not kernel and exit_state[t] != TASK_EXIT_NONE:
            out_err[r] = 1
            continue
        target = req_target[r]
        signo = req_sig[r]
        if target < 0:
            out_err[r] = -ESRCH
            continue
        if signo == 0:
            out_err[r] = 0
            continue
        if ns[target] != root_ns or (not kernel and (euid[t] != 0 or ns[t] != root_ns)):
            return r, FALLBACK
        if _bit(signo) & np.uint64(STOP_OR_CONT):
            return r, FALLBACK
        g = tg[target]
        if g == init_tg:
            return r, FALLBACK
        group = req_tgkill[r] == 0
        recv = g_leader[g] if group else target
        if ruid[recv] != 0 or sighand[recv] < 0:
            return r, FALLBACK
        if g_exiting[g]:
            stats[0] += 1
            stats[1] += 1
            out_err[r] = 0
            out_dropped[r] = 1
            continue
        handler = handlers[actions[sighand[recv]], signo - 1]
        # sig_ignored: blocked or real_blocked (a sigtimedwait's set counts only if the mask
        # held it before the wait)
        blocked = (mask[recv] & _bit(signo)) != np.uint64(0)
        if handler == SIG_DFL and not (np.uint64(DEFAULT_IGNORE_MASK) & _bit(signo)):
            return r, FALLBACK  # terminate, core: group exits and core dumps stay scalar
        stats[0] += 1
        if not blocked and (handler == SIG_IGN or handler == SIG_DFL):
            stats[1] += 1  # sig_ignored: dropped at send
            out_err[r] = 0
            out_dropped[r] = 1
            continue
        owner = g if group else recv
        pend = g_pending[owner] if group else pending[owner]
        if signo < SIGRTMIN and pend & _bit(signo):
            out_err[r] = 0  # legacy_queue: a standard signal is pending once
            continue
        code = SI_KERNEL if kernel else (SI_USER if group else SI_TKILL)
        override = signo < SIGRTMIN and code >= 0
        limit = rlim_sigpending[g_rlimits[tg[recv]]]
        if not override and uid0_count[0] >= limit:
            if signo >= SIGRTMIN and code != SI_USER:
                stats[1] += 1
                out_err[r] = -EAGAIN
                continue
            # a silent loss of the siginfo: the signal is still pending
        else:
            if not table_has_room(q_meta):
                stats[0] -= 1
                return r, GROW_Q
            q = table_alloc(q_meta, q_free, q_alive)
            q_owner[q] = owner
            q_group[q] = group
            q_signo[q] = signo
            q_code[q] = code
            q_pid[q] = 0 if kernel else tid0[g_leader[tg[t]]]
            q_uid[q] = 0 if kernel else ruid[t]
            q_value[q] = 0
            q_errno[q] = 0
            q_charged[q] = ruid[recv]
            uid0_count[0] += 1
            if group:
                append_one(gq_head, gq_tail, owner, q_next, q_prev, q)
            else:
                append_one(q_head, q_tail, owner, q_next, q_prev, q)
            stats[2] += 1
        if group:
            g_pending[owner] |= _bit(signo)
        else:
            pending[owner] |= _bit(signo)
        # complete_signal: pick the thread (the handler is not SIG_DFL-fatal: no group kill);
        # curr_target is the thread woken for the group's signals (task_signals._complete)
        if _wants(recv, signo, alive, exit_state, mask, run_state, block, wait_set):
            if group:
                g_curr[g] = recv
        elif group and g_count[g] > 1:
            cur = g_curr[g]
            start_row = g_task_head[g]
            x = g_task_head[g]
            while x >= 0:
                if x == cur:
                    start_row = cur
                    break
                x = tg_next[x]
            x = start_row
            for _ in range(g_count[g]):
                if _wants(x, signo, alive, exit_state, mask, run_state, block, wait_set):
                    g_curr[g] = x
                    break
                x = tg_next[x]
                if x < 0:
                    x = g_task_head[g]
        out_err[r] = 0
    return end, DONE


@jit(allocates=False)
def deliver_batch(rows, start, alive, exit_state, tg, mask, pending, q_head, q_tail, run_state,
                  block, ret, saved_mask, has_saved, frame_top, handling, sighand, actions,
                  si_signo, si_code, si_pid, si_uid, si_value, si_errno,
                  g_exiting, g_pending, gq_head, gq_tail, g_curr, init_tg,
                  h_handler, h_flags, h_mask,
                  q_owner, q_group, q_signo, q_code, q_pid, q_uid, q_value, q_errno, q_charged,
                  q_next, q_prev, q_alive, q_gen, q_free, q_meta, uid0_count,
                  f_task, f_signo, f_mask, f_prev, f_alive, f_gen, f_free, f_meta,
                  futex_waiter, restart_uaddr, restart_val, restart_bitset, restart_deadline,
                  restart_flags,
                  w_task, w_queue, w_bitset, w_deadline, w_next, w_prev, w_uaddr, w_val, w_flags,
                  w_alive, w_gen, w_free, w_meta, wq_head, wq_tail, wq_count, wq_kind, wq_a, wq_b,
                  wq_alive, wq_gen, wq_free, wq_meta, key_log, nlog, sleep_log, nsleep, stats):
    """get_signal for ``rows[start:]`` in order: dequeue (task queue, then the group's, lowest
    unblocked first, synchronous faults first) and act: ignore, or run a handler's bookkeeping
    (frame, mask |= sa_mask | the signal, interrupt a blocked syscall; a futex wait as
    systems/futex.futex_interrupt does, its waiter and queue rows freed as
    jit/futex_batch.futex_drop does, queues freed logged in ``key_log``; a sleep is logged in
    ``sleep_log[nsleep[0]]``, for the caller to end it with its remainder as
    task_block.end_interrupted_sleeps does for the scalar path).
    A signal whose action is a stop or a termination, whose handler is SA_RESETHAND (the reset
    makes a new action table, components/sigactions.py), or that ends a sigtimedwait, falls
    back. ``stats``: [delivered]. ``actions``: the sigactions row of each signal_handlers row;
    ``h_*``: the sigactions columns."""
    for i in range(start, len(rows)):
        t = rows[i]
        if run_state[t] == RUN_BLOCKED and block[t] == BLOCK_SIGTIMEDWAIT:
            return i, FALLBACK
        g = tg[t]
        while exit_state[t] == TASK_EXIT_NONE and not g_exiting[g]:
            if run_state[t] == RUN_BLOCKED and (block[t] == BLOCK_STOPPED or block[t] == BLOCK_VFORK
                                                or block[t] == BLOCK_EXEC):
                break  # a stopped task, or a vfork parent (killable only), takes no handler
            blk = mask[t]
            cur = g_curr[g]
            group_ok = cur < 0 or cur == t or not (
                alive[cur] and exit_state[cur] == TASK_EXIT_NONE
                and not (run_state[cur] == RUN_BLOCKED and block[cur] == BLOCK_STOPPED))
            signo = next_signal(pending[t], blk)
            group = False
            if signo == 0 and group_ok:
                signo = next_signal(g_pending[g], blk)
                group = True
            if signo == 0:
                break
            sh = sighand[t]
            if sh < 0:
                return i, FALLBACK
            a = actions[sh]
            handler = h_handler[a, signo - 1]
            if handler == SIG_DFL:
                if not (np.uint64(DEFAULT_IGNORE_MASK) & _bit(signo)) or g == init_tg:
                    return i, FALLBACK
            elif handler != SIG_IGN:
                if h_flags[a, signo - 1] & SA_RESETHAND:
                    return i, FALLBACK  # a new action table: components/sigactions.py
                if run_state[t] == RUN_BLOCKED and (block[t] == BLOCK_IO or block[t] == BLOCK_POLL):
                    return i, FALLBACK  # its io_waits rows go: systems/io_wait.py
                if (run_state[t] == RUN_BLOCKED and block[t] == BLOCK_FUTEX and futex_waiter[t] >= 0
                        and w_flags[futex_waiter[t]] & WF_PI):
                    return i, FALLBACK  # a PI lock restarts whatever the handler (futex.py)
                if not table_has_room(f_meta):
                    return i, GROW_F
            # collect_signal: the first queued instance; the bit stays if another is queued
            owner = g if group else t
            first = -1
            again = False
            q = gq_head[owner] if group else q_head[owner]
            while q >= 0:
                if q_signo[q] == signo:
                    if first < 0:
                        first = q
                    else:
                        again = True
                        break
                q = q_next[q]
            if first >= 0 and q_charged[first] > 0:
                return i, FALLBACK  # charged to another uid: its count is a Python dict entry
            if not again:
                if group:
                    g_pending[owner] &= ~_bit(signo)
                else:
                    pending[owner] &= ~_bit(signo)
            if first < 0:
                si_code[t] = SI_USER
                si_pid[t] = 0
                si_uid[t] = 0
                si_value[t] = 0
                si_errno[t] = 0
            else:
                si_code[t] = q_code[first]
                si_pid[t] = q_pid[first]
                si_uid[t] = q_uid[first]
                si_value[t] = q_value[first]
                si_errno[t] = q_errno[first]
                if group:
                    unlink_one(gq_head, gq_tail, owner, q_next, q_prev, first)
                else:
                    unlink_one(q_head, q_tail, owner, q_next, q_prev, first)
                if q_charged[first] == 0:
                    uid0_count[0] -= 1
                q_owner[first] = -1
                q_group[first] = False
                q_signo[first] = 0
                q_code[first] = 0
                q_pid[first] = 0
                q_uid[first] = 0
                q_value[first] = 0
                q_errno[first] = 0
                q_charged[first] = -1
                table_free(q_meta, q_free, q_alive, q_gen, first)
            si_signo[t] = signo
            if handler == SIG_DFL or handler == SIG_IGN:
                continue
            # handle_signal
            flags = h_flags[a, signo - 1]
            if run_state[t] == RUN_BLOCKED:
                b = block[t]
                restart = (flags & SA_RESTART) != 0
                w = futex_waiter[t]
                if b == BLOCK_FUTEX and w >= 0:
                    # futex.futex_interrupt: the waiter row goes; a timed wait keeps a restart
                    # block, and then a handler makes it -EINTR whatever SA_RESTART says
                    if w_flags[w] & WF_HAS_TIMEOUT:
                        restart_uaddr[t] = w_uaddr[w]
                        restart_val[t] = w_val[w]
                        restart_bitset[t] = w_bitset[w]
                        restart_deadline[t] = w_deadline[w]
                        restart_flags[t] = w_flags[w]
                        restart = False
                    futex_drop(w, futex_waiter, w_task, w_queue, w_bitset, w_deadline, w_next,
                               w_prev, w_uaddr, w_val, w_flags, w_alive, w_gen, w_free, w_meta,
                               wq_head, wq_tail, wq_count, wq_kind, wq_a, wq_b, wq_alive, wq_gen,
                               wq_free, wq_meta, key_log, nlog)
                elif b == BLOCK_SLEEP:
                    sleep_log[nsleep[0]] = t
                    nsleep[0] += 1
                ret[t] = interrupted_ret(b, restart)
                block[t] = BLOCK_NONE
                run_state[t] = RUN_SYSCALL_EXIT
            f = table_alloc(f_meta, f_free, f_alive)
            f_task[f] = t
            f_signo[f] = signo
            if has_saved[t]:
                f_mask[f] = saved_mask[t]
                has_saved[t] = False
            else:
                f_mask[f] = mask[t]
            f_prev[f] = frame_top[t]
            frame_top[t] = f
            add = h_mask[a, signo - 1]
            if not (flags & SA_NODEFER):
                add |= _bit(signo)
            mask[t] = (mask[t] | add) & ~np.uint64(UNBLOCKABLE)
            handling[t] = signo
            if run_state[t] != RUN_SYSCALL_EXIT:
                run_state[t] = RUN_APP
            stats[0] += 1
    return len(rows), DONE


@jit(allocates=False)
def sigkill_rows(n, alive, exit_state, pending, out):
    """interrupt_system's scan: rows ``< n``, ascending, of live tasks not yet exiting with
    SIGKILL pending, into ``out``; returns how many."""
    kill = _bit(SIGKILL)
    k = 0
    for i in range(n):
        if pending[i] & kill and alive[i] and exit_state[i] == TASK_EXIT_NONE:
            out[k] = i
            k += 1
    return k


@jit(allocates=False)
def deliverable_rows(n, alive, exit_state, tg, run_state, block, wait_set, mask, pending,
                     g_pending, out):
    """The signal system's scan in one pass (no temporaries): rows ``< n``, ascending, of live,
    non-exiting tasks with a signal pending, privately or in their group, that their mask does
    not block (a task in sigtimedwait has its wait set unblocked; SIGKILL and SIGSTOP never
    are). Returns ``(k, waiting)``: ``out[:k]`` holds the rows and ``waiting`` counts the tasks
    in sigtimedwait; ``k`` is ``-(i + 1)`` for a live row ``i`` whose group is out of range."""
    ng = g_pending.shape[0]
    keep = ~np.uint64(UNBLOCKABLE)
    k = 0
    waiting = 0
    for i in range(n):
        if not alive[i] or exit_state[i] != TASK_EXIT_NONE:
            continue
        m = mask[i]
        if run_state[i] == RUN_BLOCKED and block[i] == BLOCK_SIGTIMEDWAIT:
            m &= ~wait_set[i]
            waiting += 1
        g = tg[i]
        if g < 0 or g >= ng:
            return -(i + 1), waiting
        if (pending[i] | g_pending[g]) & ~(m & keep) != np.uint64(0):
            out[k] = i
            k += 1
    return k, waiting


@jit(allocates=False)
def sigreturn_all(rows, mask, frame_top, handling, f_task, f_signo, f_mask, f_prev, f_alive, f_gen,
                  f_free, f_meta):
    """rt_sigreturn until no frame is left, for each of ``rows`` (a synthetic handler returns at
    once): the mask comes back from each frame, innermost first."""
    for i in range(len(rows)):
        t = rows[i]
        f = frame_top[t]
        while f >= 0:
            mask[t] = f_mask[f] & ~np.uint64(UNBLOCKABLE)
            nxt = f_prev[f]
            frame_top[t] = nxt
            f_task[f] = -1
            f_signo[f] = 0
            f_mask[f] = 0
            f_prev[f] = -1
            table_free(f_meta, f_free, f_alive, f_gen, f)
            f = nxt
        handling[t] = 0


@jit(allocates=False)
def sigaction_batch(start, end, req_task, req_sig, req_handler, req_flags, out_err, exit_state,
                    sighand, tg, pending, g_pending, sh_start, sh_rows, actions,
                    a_handler, a_flags, a_mask, a_restorer, a_refs,
                    tr_from, tr_sig, tr_handler, tr_flags, tr_to, ntr, freed):
    """rt_sigaction(2) installing (handler, flags, an empty sa_mask, no restorer) for requests
    ``start..end-1`` in order. Setting an action that ignores a signal discards it where pending
    in every thread sharing the handlers: when some thread (or its group) has it pending, the
    request falls back (the scalar path frees the queued siginfo). ``sh_start``/``sh_rows``: the
    live tasks of each signal_handlers row (CSR). ``out_err``: 0, -errno, or 1 (sender exiting).

    Action tables are shared copy-on-write (components/sigactions.py): a request moves its
    handler table (``actions[sh]``) to the table the edit gives, found among the known
    transitions ``tr_*[:ntr[0]]`` (from table, signo, handler, flags -> to table). Returns
    ``(r, MISS)`` at a request whose transition is not known (nothing of it done: the caller
    builds the table, records the transition, resumes at ``r``), and ``(r + 1, FREED)`` after a
    move that dropped a table's last reference (``freed[0]``: the caller frees the row and
    forgets the transitions that name it)."""
    for r in range(start, end):
        t = req_task[r]
        if exit_state[t] != TASK_EXIT_NONE:
            out_err[r] = 1
            continue
        signo = req_sig[r]
        if signo < 1 or signo > NSIG or signo == SIGKILL or signo == SIGSTOP:
            out_err[r] = -EINVAL
            continue
        sh = sighand[t]
        if sh < 0:
            return r, FALLBACK
        handler = req_handler[r]
        flags = req_flags[r]
        ignores = handler == SIG_IGN or (handler == SIG_DFL
                                         and (np.uint64(DEFAULT_IGNORE_MASK) & _bit(signo)) != 0)
        if ignores:
            for j in range(sh_start[sh], sh_start[sh + 1]):
                x = sh_rows[j]
                if (pending[x] | g_pending[tg[x]]) & _bit(signo):
                    return r, FALLBACK
        out_err[r] = 0
        old = actions[sh]
        i = signo - 1
        if (a_handler[old, i] == handler and a_flags[old, i] == flags and a_mask[old, i] == 0
                and a_restorer[old, i] == 0):
            continue  # no change
        new = -1
        for k in range(ntr[0]):
            if tr_from[k] == old and tr_sig[k] == signo and tr_handler[k] == handler \
                    and tr_flags[k] == flags:
                new = tr_to[k]
                break
        if new < 0:
            return r, MISS
        a_refs[new] += 1
        actions[sh] = new
        a_refs[old] -= 1
        if a_refs[old] == 0:
            freed[0] = old
            return r + 1, FREED
    return end, DONE
