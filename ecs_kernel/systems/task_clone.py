"""Creating tasks: the init process and clone(2) (gVisor task_clone.go, Linux copy_process).

A clone either adds a thread to the caller's thread group (CLONE_THREAD: shares the group, and with
it signal handlers, FD table and address space, which CLONE_THREAD requires through CLONE_SIGHAND
and CLONE_VM) or creates a process: a new thread group in the caller's process group and session,
with copies of whatever the flags do not share.

Preconditions: called at a sync point or from a syscall handler (it allocates rows).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..abi import (Block, CAP_CHECKPOINT_RESTORE, CAP_SYS_ADMIN, CAP_SYS_RESOURCE,
                   CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID, CLONE_DETACHED, CLONE_FILES, CLONE_FS,
                   CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID,
                   CLONE_NEWTIME, CLONE_NEWUSER, CLONE_NEWUTS, CLONE_PARENT, CLONE_PARENT_SETTID,
                   CLONE_PIDFD, CLONE_SIGHAND, CLONE_SYSVSEM, CLONE_THREAD, CLONE_VFORK, CLONE_VM,
                   CSIGNAL, ExitState, NSIG, RLIMIT_NPROC, RunState, SCHED_DEADLINE, SIGCHLD)
from ..components import links, pidns, resources, rlimits, sigactions
from ..components.task import INHERITED, all_cpus
from ..errors import E, KernelError
from ..jit.links import append_many
from ..jit.scatter import add_at
from . import (futex, ipc_sem, namespaces, seccomp, sessions, task_identity, task_sched,
               task_signals, user_namespace)


# Namespaces we model; the others are refused with EINVAL (documented in the syscall table).
SUPPORTED_NS = (CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNS | CLONE_NEWUSER
                | CLONE_NEWNET)
UNSUPPORTED_NS = CLONE_NEWCGROUP | CLONE_NEWTIME
# every flag bit above CSIGNAL has a meaning in Linux; CLONE_NEWTIME (in CSIGNAL's bits) reaches
# here only from clone3, whose exit signal is apart
KNOWN_FLAGS = 0xFFFFFF00 | CLONE_NEWTIME


@dataclass(frozen=True)
class Creds:
    uid: int = 0
    gid: int = 0


def _new_task_row(world, creator: int) -> int:
    T = world.tasks
    t = T.alloc()
    if creator >= 0:
        for name in INHERITED:
            col = getattr(T, name)
            col[t] = col[creator]
        T.default_timer_slack_ns[t] = T.timer_slack_ns[creator]  # copy_process
    T.start_ns[t] = world.now_ns
    T.run_state[t] = RunState.runApp
    T.exit_state[t] = ExitState.NONE
    return t


def _assign_ids(world, t: int, ns: int, set_tid: tuple[int, ...] = (), creator: int = -1) -> None:
    """Give task ``t`` an id in ``ns`` and each ancestor namespace (alloc_pid). ``set_tid``
    (clone3) asks for ids: ``set_tid[k]`` in the k-th namespace from ``ns`` up; each needs
    CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE in ``creator``, a namespace with an init (unless it
    is 1), and must be free (EEXIST)."""
    N = world.pid_namespaces
    ch = pidns.chain(world, ns)
    if len(set_tid) > len(ch):
        raise KernelError(E.EINVAL, "set_tid names more namespaces than there are")
    if N.exiting[ns]:
        raise KernelError(E.ENOMEM, "the PID namespace's init has exited")
    for x, tid in zip(ch, set_tid):
        if tid < 1 or tid >= world.settings.pid_max:
            raise KernelError(E.EINVAL, f"set_tid {tid} out of range")
        if tid != pidns.INIT_TID and N.init_task[x] < 0:
            raise KernelError(E.EINVAL, "set_tid in a namespace without an init")
        owner = int(N.userns[x])  # checkpoint_restore_ns_capable(the namespace's owner)
        if not (task_identity.ns_capable(world, creator, owner, CAP_SYS_ADMIN)
                or task_identity.ns_capable(world, creator, owner, CAP_CHECKPOINT_RESTORE)):
            raise KernelError(E.EPERM, "set_tid needs CAP_CHECKPOINT_RESTORE")
    for x, tid in zip(ch, set_tid):
        if not pidns.pidmap(world, x).is_free(tid):
            raise KernelError(E.EEXIST, f"id {tid} is in use")
    ids = [set_tid[k] if k < len(set_tid) else pidns.alloc_id(world, x) for k, x in enumerate(ch)]
    T = world.tasks
    T.ns[t] = ns
    for x, i in zip(ch, ids):
        lvl = int(N.level[x])
        T.tids[t, lvl] = i
        pidns.pidmap(world, x).set("task", i, t)
        N.ntasks[x] += 1
        N.forks[x] += 1
        if i == pidns.INIT_TID and N.init_task[x] < 0:
            N.init_task[x] = t
    nproc = world.index.nproc
    uid = int(T.ruid[t])
    nproc[uid] = nproc.get(uid, 0) + 1


def _new_thread_group(world, leader: int, termination_signal: int) -> int:
    G, T = world.thread_groups, world.tasks
    g = G.alloc()
    G.leader[g] = leader
    G.termination_signal[g] = termination_signal
    T.tg[leader] = g
    _join_thread_group(world, leader, g)
    return g


def _join_thread_group(world, t: int, g: int) -> None:
    G, T = world.thread_groups, world.tasks
    T.tg[t] = g
    links.append(G.task_head, G.task_tail, g, T.tg_next, T.tg_prev, t)
    G.tasks_count[g] += 1
    G.active_tasks[g] += 1


def set_parent(world, child_leader: int, parent: int) -> None:
    """Put a thread group leader on ``parent``'s children list (its threads follow the leader)."""
    T = world.tasks
    T.parent[child_leader] = parent
    if parent >= 0:
        links.append(T.child_head, T.child_tail, parent, T.sib_next, T.sib_prev, child_leader)


def create_init(world, *, creds: Creds = Creds(), ns: int | None = None) -> int:
    """Create the first process of a PID namespace (root by default): tid 1, its own session.

    Returns the task row. The process has fresh signal handlers, an empty FD table and address
    space, default rlimits, and no parent.
    """
    if ns is None:
        ns = world.index.root_pidns
    N = world.pid_namespaces
    if N.init_task[ns] >= 0:
        raise KernelError(E.EEXIST, f"PID namespace {ns} already has an init")
    _check_limits(world, -1)
    T, G = world.tasks, world.thread_groups
    t = _new_task_row(world, -1)
    task_identity.init_creds(world, t, creds.uid, creds.gid)
    T.cpus_allowed[t] = all_cpus(world)
    try:
        _assign_ids(world, t, ns)
    except KernelError:
        T.free(t)
        raise
    g = _new_thread_group(world, t, SIGCHLD)
    G.rlimits[g] = rlimits.new_set(world, *rlimits.default_limits(world.settings.tasks_limit))
    for kind, col in resources.KINDS.items():
        if kind != "fs_contexts":  # a file-system context comes with a guest (cpu/task_run.py)
            getattr(T, col)[t] = resources.new(world, kind)
    U = world.uts_namespaces
    u = U.alloc()
    U.refs[u] = 1
    T.uts[t] = u
    sessions.new_session(world, g)
    return t


def _check_limits(world, creator: int) -> None:
    if world.tasks.count >= world.settings.tasks_limit:
        raise KernelError(E.EAGAIN, f"tasks limit {world.settings.tasks_limit} reached")
    if creator >= 0:
        T = world.tasks
        uid = int(T.ruid[creator])
        # Linux exempts the root user (INIT_USER) and CAP_SYS_RESOURCE/ADMIN holders.
        if uid == 0 or task_identity.capable(world, creator, CAP_SYS_RESOURCE) \
                or task_identity.capable(world, creator, CAP_SYS_ADMIN):
            return
        cur, _ = rlimits.get(world, int(T.tg[creator]), RLIMIT_NPROC)
        if world.index.nproc.get(uid, 0) >= cur:
            raise KernelError(E.EAGAIN, f"RLIMIT_NPROC ({cur}) reached for uid {uid}")


def validate_flags(world, creator: int, flags: int, exit_signal: int) -> None:
    """copy_process's flag checks, with Linux's errnos."""
    T, N = world.tasks, world.pid_namespaces
    if flags & ~KNOWN_FLAGS & 0xFFFFFFFF or flags >> 32:
        raise KernelError(E.EINVAL, f"unknown clone flags {flags:#x}")
    if (flags & (CLONE_NEWNS | CLONE_FS)) == (CLONE_NEWNS | CLONE_FS):
        raise KernelError(E.EINVAL, "CLONE_NEWNS with CLONE_FS")
    if (flags & (CLONE_NEWUSER | CLONE_FS)) == (CLONE_NEWUSER | CLONE_FS):
        raise KernelError(E.EINVAL, "CLONE_NEWUSER with CLONE_FS")
    if flags & CLONE_THREAD and not flags & CLONE_SIGHAND:
        raise KernelError(E.EINVAL, "CLONE_THREAD requires CLONE_SIGHAND")
    if flags & CLONE_SIGHAND and not flags & CLONE_VM:
        raise KernelError(E.EINVAL, "CLONE_SIGHAND requires CLONE_VM")
    if flags & CLONE_PARENT:
        init = int(N.init_task[int(T.ns[creator])])
        if init >= 0 and T.tg[init] == T.tg[creator]:
            raise KernelError(E.EINVAL, "CLONE_PARENT from a PID namespace's init")
    if (flags & (CLONE_NEWIPC | CLONE_SYSVSEM)) == (CLONE_NEWIPC | CLONE_SYSVSEM):
        raise KernelError(E.EINVAL, "CLONE_NEWIPC with CLONE_SYSVSEM")
    if flags & CLONE_THREAD and flags & (CLONE_NEWUSER | CLONE_NEWPID):
        raise KernelError(E.EINVAL, "CLONE_THREAD with a new user or PID namespace")
    if flags & CLONE_PIDFD and flags & CLONE_DETACHED:  # with CLONE_THREAD: a thread's (6.9)
        raise KernelError(E.EINVAL, "CLONE_PIDFD with CLONE_DETACHED")
    if not 0 <= exit_signal <= NSIG:
        raise KernelError(E.EINVAL, f"exit signal {exit_signal} out of range")
    # a new user namespace needs no capability and owns the others made with it (copy_creds
    # runs before copy_namespaces); without one, CAP_SYS_ADMIN in the creator's own
    if flags & (SUPPORTED_NS | UNSUPPORTED_NS) & ~CLONE_NEWUSER and not flags & CLONE_NEWUSER \
            and not task_identity.own_capable(world, creator, CAP_SYS_ADMIN):
        raise KernelError(E.EPERM, "creating a namespace needs CAP_SYS_ADMIN")
    if flags & UNSUPPORTED_NS:
        raise KernelError(E.EINVAL, f"namespace flags {flags & UNSUPPORTED_NS:#x} are not supported")
    if flags & CLONE_PIDFD:
        raise KernelError(E.EINVAL, "CLONE_PIDFD is not supported yet")


def clone(world, creator: int, flags: int, *, exit_signal: int | None = None,
          child_tid_addr: int = 0, parent_tid_addr: int = 0, set_tid: tuple[int, ...] = (),
          clear_sighand: bool = False) -> int:
    """clone(2): create a task from ``creator``. Returns the new task's row.

    ``flags`` may carry the exit signal in its low byte (legacy clone) or it can be given as
    ``exit_signal`` (clone3). Raises KernelError with Linux's errno on failure, leaving no trace.
    ``child_tid_addr`` is clone's child_tid (CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID),
    ``parent_tid_addr`` its parent_tid (CLONE_PARENT_SETTID). clone3 adds ``set_tid`` (the ids
    to take, :func:`_assign_ids`) and ``clear_sighand`` (CLONE_CLEAR_SIGHAND: the child's copy of
    the handlers goes back to SIG_DFL, as exec does).
    """
    T, G, N = world.tasks, world.thread_groups, world.pid_namespaces
    if exit_signal is None:
        exit_signal = flags & CSIGNAL
        flags &= ~CSIGNAL
    validate_flags(world, creator, flags, exit_signal)
    _check_limits(world, creator)
    task_sched.check_fork(world, creator)
    ctg = int(T.tg[creator])
    if G.exiting[ctg] or T.exit_state[creator] != ExitState.NONE:
        # Linux: a fatal signal pending in the creator aborts the fork (ERESTARTNOINTR); the
        # caller never sees it because it dies. EINTR is what a kernel-level caller observes.
        raise KernelError(E.EINTR, "the creating thread group is exiting")

    ns = namespaces.children_pidns(world, creator)  # pid_ns_for_children
    if flags & CLONE_THREAD and ns != int(T.ns[creator]):
        raise KernelError(E.EINVAL, "a thread in another PID namespace")
    share = {"signal_handlers": flags & CLONE_SIGHAND, "fd_tables": flags & CLONE_FILES,
             "address_spaces": flags & CLONE_VM, "fs_contexts": flags & CLONE_FS}
    # The new memory first (an engine and the address space shared copy-on-write): the part
    # that can fail for want of host memory (ENOMEM), before anything else changes.
    forked = {}
    mm = int(T.mm[creator])
    if not share["address_spaces"] and mm >= 0:
        forked["address_spaces"] = resources.fork_object(world, "address_spaces", mm)
    new_userns = user_namespace.create(world, creator) if flags & CLONE_NEWUSER \
        else int(T.userns[creator])
    new_ns = -1
    if flags & CLONE_NEWPID:
        try:
            new_ns = pidns.new_namespace(world, ns, new_userns)
        except KernelError:
            if flags & CLONE_NEWUSER:
                world.user_namespaces.free(new_userns)
            raise
        ns = new_ns
    t = _new_task_row(world, creator)
    if flags & CLONE_NEWUSER:
        user_namespace.enter(world, t, new_userns)
    try:
        _assign_ids(world, t, ns, set_tid, creator)
    except KernelError:
        T.free(t)
        if flags & CLONE_NEWUSER:
            world.user_namespaces.free(new_userns)
        if new_ns >= 0:
            world.index.pidmaps.pop(new_ns, None)
            N.free(new_ns)
        for obj in forked.values():
            if obj is not None:
                obj.release()
        raise
    task_sched.sched_fork(world, creator, t)
    seccomp.on_clone(world, t)
    if flags & CLONE_SYSVSEM:
        ipc_sem.copy_semundo(world, [int(T.tg[creator])])
    if flags & CLONE_VM:  # rseq_fork: a new thread of the same memory registers its own
        T.rseq_addr[t] = T.rseq_len[t] = T.rseq_sig[t] = T.rseq_watch[t] = 0

    if flags & CLONE_THREAD:
        _join_thread_group(world, t, ctg)
        T.parent[t] = T.parent[int(G.leader[ctg])]  # threads share the leader's parent
    else:
        if flags & CLONE_PARENT:
            parent = int(T.parent[creator])
            term = int(G.termination_signal[ctg])
        else:
            parent = creator
            term = exit_signal
        g = _new_thread_group(world, t, term)
        G.rlimits[g] = rlimits.ref(world, int(G.rlimits[ctg]))
        G.has_child_subreaper[g] = G.has_child_subreaper[ctg] or G.child_subreaper[ctg]
        G.tty[g] = G.tty[ctg]
        set_parent(world, t, parent)
        sessions.join_pgrp(world, g, int(G.pgrp[ctg]))

    for kind, col in resources.KINDS.items():
        src = int(getattr(T, col)[creator])
        if src >= 0:
            getattr(T, col)[t] = (resources.share(world, kind, src) if share[kind] else
                                  resources.copy(world, kind, src, forked.get(kind)))
    if clear_sighand and T.sighand[t] >= 0:
        sigactions.flush_handlers(world, int(T.sighand[t]))
    U = world.uts_namespaces
    u = int(T.uts[creator])
    if flags & CLONE_NEWUTS:
        nu = U.alloc()
        U.hostname[nu] = U.hostname[u]
        U.domainname[nu] = U.domainname[u]
        U.userns[nu] = new_userns
        u = nu
    U.refs[u] += 1
    T.uts[t] = u
    namespaces.clone_namespaces(world, creator, t, flags)
    if flags & CLONE_CHILD_CLEARTID:
        T.clear_child_tid[t] = child_tid_addr
    # The new tid in user memory, as kernel_clone and schedule_tail write it (a fault is
    # ignored): the parent's view into parent_tid, the child's own into child_tid (its memory,
    # the parent's too under CLONE_VM).
    if flags & CLONE_PARENT_SETTID and parent_tid_addr:
        _put_tid(world, creator, parent_tid_addr, pidns.tid_in(world, t, int(T.ns[creator])))
    if flags & CLONE_CHILD_SETTID and child_tid_addr:
        _put_tid(world, t, child_tid_addr, pidns.tid_in(world, t, int(T.ns[t])))
    if (flags & (CLONE_VM | CLONE_VFORK)) != CLONE_VM:  # sas_ss_reset for a new thread of an mm
        task_signals.set_altstack(world, t, task_signals.altstack(world, creator))
    if flags & CLONE_VFORK:
        # The creator waits (killably) until the child execs or exits (vfork_release); its
        # clone then returns the child's id.
        T.vfork_parent[t] = creator
        T.ret[creator] = pidns.tid_in(world, t, int(T.ns[creator]))
        T.run_state[creator] = RunState.blocked
        T.block[creator] = Block.VFORK
    return t


def _put_tid(world, t: int, addr: int, tid: int) -> None:
    try:
        futex.write_u32(world, t, addr, tid)
    except KernelError:
        pass


def vfork_release(world, t: int) -> None:
    """The child ``t`` of a vfork execs or exits (Linux mm_release -> complete_vfork_done): its
    parent's clone returns."""
    T = world.tasks
    p = int(T.vfork_parent[t])
    if p < 0:
        return
    T.vfork_parent[t] = -1
    if not T.alive[p]:
        return
    if T.run_state[p] == RunState.blocked and T.block[p] == Block.VFORK:
        T.block[p] = Block.NONE
        T.run_state[p] = RunState.runSyscallExit
    elif T.run_state[p] == RunState.blocked and T.block[p] == Block.STOPPED \
            and T.stop_block[p] == Block.VFORK:
        T.stop_block[p] = Block.NONE
        T.stop_run_state[p] = RunState.runSyscallExit
    elif T.run_state[p] == RunState.blocked and T.block[p] == Block.PTRACE \
            and T.ptrace_stop_block[p] == Block.VFORK:  # its tracer holds it: it goes on after
        T.ptrace_stop_block[p] = Block.NONE
        T.ptrace_stop_run_state[p] = RunState.runSyscallExit


# -- batches -----------------------------------------------------------------------------------------

def clone_many(world, creators, flags: int, *, exit_signal: int | None = None) -> np.ndarray:
    """clone(2) for many creators at once, with one set of flags: the batch path that synthetic
    workloads use. Equivalent to calling :func:`clone` for each creator in order; returns, per
    request, the new task's row or ``-errno``.

    The vectorised path covers the common case (root-user creators in the root PID namespace, no
    new namespaces, no CLONE_PARENT); anything else is served request by request by :func:`clone`.
    """
    T, G, N = world.tasks, world.thread_groups, world.pid_namespaces
    creators = np.ascontiguousarray(creators, np.int64)
    k = len(creators)
    out = np.empty(k, np.int64)
    if exit_signal is None:
        exit_signal = flags & CSIGNAL
        flags &= ~CSIGNAL
    root = world.index.root_pidns
    simple = (not flags & (CLONE_PARENT | CLONE_VFORK | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID
                           | SUPPORTED_NS | UNSUPPORTED_NS | CLONE_PIDFD)
              and k > 0 and (T.ns[creators] == root).all() and (T.ruid[creators] == 0).all()
              and (T.altstack[creators] < 0).all() and not T.sched_reset_on_fork[creators].any()
              and not (T.sched_policy[creators] == SCHED_DEADLINE).any())
    if not simple:
        for j, c in enumerate(creators):
            try:
                out[j] = clone(world, int(c), flags, exit_signal=exit_signal)
            except KernelError as e:
                out[j] = -e.errno
        return out
    try:
        validate_flags(world, int(creators[0]), flags, exit_signal)
    except KernelError as e:
        out[:] = -e.errno
        return out
    # Requests from exiting creators fail (EINTR); past the tasks limit, the last ones get EAGAIN.
    ctg = T.tg[creators].astype(np.int64)
    dying = G.exiting[ctg] | (T.exit_state[creators] != ExitState.NONE)
    out[dying] = -E.EINTR
    ok = np.flatnonzero(~dying)
    room = max(world.settings.tasks_limit - T.count, 0)
    if len(ok) > room:
        out[ok[room:]] = -E.EAGAIN
        ok = ok[:room]
    if N.exiting[root]:
        out[ok] = -E.ENOMEM
        return out
    ids = _alloc_ids_many(world, root, len(ok))
    out[ok[len(ids):]] = -E.EAGAIN  # the PID space ran out, as alloc_pid's EAGAIN
    ok = ok[:len(ids)]
    m = len(ok)
    if m == 0:
        return out
    src = creators[ok]
    stg = ctg[ok]
    if flags & CLONE_SYSVSEM:
        ipc_sem.copy_semundo(world, stg.tolist())
    rows = T.alloc_many(m)
    out[ok] = rows
    for name in INHERITED:
        col = getattr(T, name)
        col[rows] = col[src]
    T.default_timer_slack_ns[rows] = T.timer_slack_ns[src]  # copy_process
    seccomp.on_clone(world, rows)
    if flags & CLONE_VM:
        T.rseq_addr[rows] = T.rseq_len[rows] = T.rseq_sig[rows] = T.rseq_watch[rows] = 0
    T.start_ns[rows] = world.now_ns
    T.ns[rows] = root
    T.tids[rows, 0] = ids
    pm = pidns.pidmap(world, root)
    pm.ensure(int(ids.max()))  # not ids[-1]: one by one, the ids may wrap past pid_max
    pm.task[ids] = rows
    N.ntasks[root] += m
    N.forks[root] += m
    world.index.nproc[0] = world.index.nproc.get(0, 0) + m

    if flags & CLONE_THREAD:
        T.tg[rows] = stg
        append_many(G.task_head, G.task_tail, stg, T.tg_next, T.tg_prev, rows)
        add_at(G.tasks_count, stg, 1)
        add_at(G.active_tasks, stg, 1)
        T.parent[rows] = T.parent[G.leader[stg]]
    else:
        tgs = G.alloc_many(m)
        G.leader[tgs] = rows
        G.termination_signal[tgs] = exit_signal
        G.task_head[tgs] = rows
        G.task_tail[tgs] = rows
        G.tasks_count[tgs] = 1
        G.active_tasks[tgs] = 1
        T.tg[rows] = tgs
        R = world.rlimit_sets
        G.rlimits[tgs] = G.rlimits[stg]
        add_at(R.refs, G.rlimits[stg], 1)
        G.has_child_subreaper[tgs] = G.has_child_subreaper[stg] | G.child_subreaper[stg]
        G.tty[tgs] = G.tty[stg]
        T.parent[rows] = src
        append_many(T.child_head, T.child_tail, src, T.sib_next, T.sib_prev, rows)
        P = world.process_groups
        pgs = G.pgrp[stg].astype(np.int64)
        G.pgrp[tgs] = pgs
        append_many(P.tg_head, P.tg_tail, pgs, G.pg_next, G.pg_prev, tgs)
        add_at(P.members, pgs, 1)

    share = {"signal_handlers": flags & CLONE_SIGHAND, "fd_tables": flags & CLONE_FILES,
             "address_spaces": flags & CLONE_VM, "fs_contexts": flags & CLONE_FS}
    for kind, col in resources.KINDS.items():
        srcs = getattr(T, col)[src].astype(np.int64)
        has = srcs >= 0
        if share[kind]:
            getattr(T, col)[rows[has]] = srcs[has]
            add_at(world.tables[kind].refs, srcs[has], 1)
        else:
            getattr(T, col)[rows[has]] = resources.copy_many(world, kind, srcs[has])
    U = world.uts_namespaces
    T.uts[rows] = T.uts[src]
    add_at(U.refs, T.uts[src], 1)
    return out


def _alloc_ids_many(world, ns: int, m: int) -> np.ndarray:
    """Up to ``m`` ids in ``ns`` (fewer when the PID space runs out): the block after
    ``last_tid`` when it is free, else one by one as alloc_id would give them."""
    N = world.pid_namespaces
    pm = pidns.pidmap(world, ns)
    last = int(N.last_tid[ns])
    lo, hi = last + 1, last + m
    if hi < world.settings.pid_max:
        a, b = lo, min(hi + 1, len(pm.task))
        if a >= b or ((pm.task[a:b] < 0) & (pm.pgrp[a:b] < 0) & (pm.session[a:b] < 0)).all():
            N.last_tid[ns] = hi
            return np.arange(lo, hi + 1, dtype=np.int64)
    ids = []
    for _ in range(m):
        try:
            i = pidns.alloc_id(world, ns)
        except KernelError:
            break
        pm.ensure(i)
        pm.task[i] = np.iinfo(pm.task.dtype).max  # taken: the caller writes the row
        ids.append(i)
    return np.array(ids, np.int64)