"""Sessions and process groups: setsid(2), setpgid(2), getpgid(2), getsid(2), orphaned groups.

gVisor: sessions.go. Linux: kernel/sys.c (setpgid, setsid), kernel/exit.c (orphaned groups: the
test is here, for signal delivery's too; what an exit does to a newly orphaned group, sending it
SIGHUP and SIGCONT, is task_exit.kill_orphaned_pgrp).
"""
from __future__ import annotations

import numpy as np

from ..abi import ExitState
from ..components import links, pidns
from ..errors import E, KernelError
from ..jit.links import unlink_many
from ..jit.scatter import subtract_at


def _set_ids(world, kind: str, row: int, leader_task: int, value: int) -> None:
    """Reserve (value=row) or release (value=-1) the id of ``leader_task`` for a group/session."""
    T, N = world.tasks, world.pid_namespaces
    table = world.tables[kind]
    for ns in pidns.chain(world, int(T.ns[leader_task])):
        lvl = int(N.level[ns])
        i = int(T.tids[leader_task, lvl])
        if value >= 0:
            table.ids[row, lvl] = i
        pidns.pidmap(world, ns).set("pgrp" if kind == "process_groups" else "session", i, value)


def _release_ids(world, kind: str, row: int) -> None:
    N = world.pid_namespaces
    table = world.tables[kind]
    name = "pgrp" if kind == "process_groups" else "session"
    for ns in pidns.chain(world, int(table.ns[row])):
        lvl = int(N.level[ns])
        pidns.pidmap(world, ns).set(name, int(table.ids[row, lvl]), -1)


def new_session(world, tg: int) -> int:
    """Make thread group ``tg`` the leader of a new session with a new process group."""
    S, G, T = world.sessions, world.thread_groups, world.tasks
    leader = int(G.leader[tg])
    s = S.alloc()
    S.leader_tg[s] = tg
    S.ns[s] = T.ns[leader]
    _set_ids(world, "sessions", s, leader, s)
    G.is_session_leader[tg] = True
    pg = _new_pgrp(world, tg, s)
    if G.pgrp[tg] >= 0:
        leave_pgrp(world, tg)
    join_pgrp(world, tg, pg)
    return s


def _new_pgrp(world, tg: int, session: int) -> int:
    S, P, G = world.sessions, world.process_groups, world.thread_groups
    leader = int(G.leader[tg])
    pg = P.alloc()
    P.session[pg] = session
    P.originator[pg] = tg
    P.ns[pg] = world.tasks.ns[leader]
    _set_ids(world, "process_groups", pg, leader, pg)
    links.append(S.pg_head, S.pg_tail, session, P.sess_next, P.sess_prev, pg)
    S.ngroups[session] += 1
    return pg


def join_pgrp(world, tg: int, pg: int) -> None:
    P, G = world.process_groups, world.thread_groups
    G.pgrp[tg] = pg
    links.append(P.tg_head, P.tg_tail, pg, G.pg_next, G.pg_prev, tg)
    P.members[pg] += 1


def leave_pgrp(world, tg: int) -> None:
    """Remove ``tg`` from its process group; the last member frees the group (and its session)."""
    S, P, G = world.sessions, world.process_groups, world.thread_groups
    pg = int(G.pgrp[tg])
    links.unlink(P.tg_head, P.tg_tail, pg, G.pg_next, G.pg_prev, tg)
    G.pgrp[tg] = -1
    P.members[pg] -= 1
    if P.originator[pg] == tg:
        P.originator[pg] = -1
    if P.members[pg] == 0:
        s = int(P.session[pg])
        if S.foreground[s] == pg:
            S.foreground[s] = -1  # the row is reused: no foreground (Linux keeps the bare id)
        links.unlink(S.pg_head, S.pg_tail, s, P.sess_next, P.sess_prev, pg)
        S.ngroups[s] -= 1
        _release_ids(world, "process_groups", pg)
        P.free(pg)
        if S.ngroups[s] == 0:
            _release_ids(world, "sessions", s)
            S.free(s)


def forget_leaders(world, tgs: np.ndarray) -> None:
    """:func:`forget_leader` for each of ``tgs`` (distinct thread groups), in order. The common
    case, where no process group empties, in one go; otherwise one at a time."""
    S, P, G = world.sessions, world.process_groups, world.thread_groups
    tgs = np.asarray(tgs, np.int64)
    if len(tgs) == 0:
        return
    pg = G.pgrp[tgs].astype(np.int64)
    if (np.bincount(pg, minlength=P.n)[pg] >= P.members[pg]).any():
        for tg in tgs.tolist():
            forget_leader(world, tg)
        return
    lead = tgs[G.is_session_leader[tgs]]
    if len(lead):
        s = P.session[G.pgrp[lead]]
        S.leader_tg[s[S.leader_tg[s] == lead]] = -1
    unlink_many(P.tg_head, P.tg_tail, pg, G.pg_next, G.pg_prev, tgs)
    G.pgrp[tgs] = -1
    subtract_at(P.members, pg, 1)
    P.originator[pg[P.originator[pg] == tgs]] = -1


def forget_leader(world, tg: int) -> None:
    """The thread group is being released: groups and sessions it created outlive it anonymously."""
    S, G = world.sessions, world.thread_groups
    if G.is_session_leader[tg]:
        s = int(world.process_groups.session[int(G.pgrp[tg])])
        if S.leader_tg[s] == tg:
            S.leader_tg[s] = -1
    leave_pgrp(world, tg)


# -- syscalls -------------------------------------------------------------------------------------

def _lookup_tg_in_ns(world, ns: int, pid: int) -> int:
    t = pidns.task_by_tid(world, ns, pid)
    if t < 0:
        raise KernelError(E.ESRCH, f"no process {pid}")
    return t


def setsid(world, task: int) -> int:
    """setsid(2). Returns the new session id as the caller sees it; EPERM for a group leader."""
    T, G = world.tasks, world.thread_groups
    tg = int(T.tg[task])
    leader = int(G.leader[tg])
    ns = int(T.ns[task])
    tgid = pidns.tid_in(world, leader, ns)
    # EPERM if any process group already has our id (we lead one, or one outlived its creator).
    if pidns.pidmap(world, ns).lookup("pgrp", tgid) >= 0:
        raise KernelError(E.EPERM, "the caller is already a process group leader")
    new_session(world, tg)
    G.tty[tg] = False  # proc_clear_tty: a new session has no terminal
    return tgid


def setpgid(world, task: int, pid: int, pgid: int) -> None:
    """setpgid(2) with Linux's rules and errnos (kernel/sys.c)."""
    T, G, P = world.tasks, world.thread_groups, world.process_groups
    ns = int(T.ns[task])
    caller_tg = int(T.tg[task])
    if pid == 0:
        pid = pidns.tid_in(world, int(G.leader[caller_tg]), ns)
    if pgid == 0:
        pgid = pid
    if pgid < 0:
        raise KernelError(E.EINVAL, "negative process group id")
    p = _lookup_tg_in_ns(world, ns, pid)
    ptg = int(T.tg[p])
    if int(G.leader[ptg]) != p:
        raise KernelError(E.EINVAL, f"{pid} is not a thread group leader")
    caller_session = int(P.session[int(G.pgrp[caller_tg])])
    parent = int(T.parent[p])
    if parent >= 0 and int(T.tg[parent]) == caller_tg:
        if int(P.session[int(G.pgrp[ptg])]) != caller_session:
            raise KernelError(E.EPERM, "the child is in another session")
        if G.did_exec[ptg]:
            raise KernelError(E.EACCES, "the child has already called execve")
    elif ptg != caller_tg:
        raise KernelError(E.ESRCH, f"{pid} is neither the caller nor its child")
    if G.is_session_leader[ptg]:
        raise KernelError(E.EPERM, "a session leader cannot change its process group")
    if pgid == pid:
        target = pidns.pidmap(world, ns).lookup("pgrp", pgid)
        if target < 0:
            # A new group named after the process, in the caller's session. Created before the
            # old group is left: if that was the session's last group, leaving it first would
            # free the session the new group is meant to live in.
            pg = _new_pgrp(world, ptg, caller_session)
            if int(G.pgrp[ptg]) >= 0:
                leave_pgrp(world, ptg)
            join_pgrp(world, ptg, pg)
            return
    else:
        target = pidns.pidmap(world, ns).lookup("pgrp", pgid)
        if target < 0 or int(P.session[target]) != caller_session:
            raise KernelError(E.EPERM, f"no process group {pgid} in the caller's session")
    if int(P.session[target]) != caller_session:
        raise KernelError(E.EPERM, f"process group {pgid} is in another session")
    if int(G.pgrp[ptg]) != target:
        leave_pgrp(world, ptg)
        join_pgrp(world, ptg, target)


def getpgid(world, task: int, pid: int) -> int:
    """getpgid(2): the process group id of ``pid`` (0: the caller) as the caller sees it."""
    T, G = world.tasks, world.thread_groups
    ns = int(T.ns[task])
    p = task if pid == 0 else _lookup_tg_in_ns(world, ns, pid)
    return _id_in(world, "process_groups", int(G.pgrp[int(T.tg[p])]), ns)


def getsid(world, task: int, pid: int) -> int:
    """getsid(2): the session id of ``pid`` (0: the caller) as the caller sees it."""
    T, G, P = world.tasks, world.thread_groups, world.process_groups
    ns = int(T.ns[task])
    p = task if pid == 0 else _lookup_tg_in_ns(world, ns, pid)
    return _id_in(world, "sessions", int(P.session[int(G.pgrp[int(T.tg[p])])]), ns)


def _id_in(world, kind: str, row: int, ns: int) -> int:
    """The id of a process group or session in ``ns``; 0 if it is not visible there (pid_vnr)."""
    N = world.pid_namespaces
    table = world.tables[kind]
    home = int(table.ns[row])
    lvl = int(N.level[ns])
    if lvl > int(N.level[home]):
        return 0
    x = home
    while int(N.level[x]) > lvl:
        x = int(N.parent[x])
    return int(table.ids[row, lvl]) if x == ns else 0


def pgrp_id(world, pg: int, ns: int) -> int:
    return _id_in(world, "process_groups", pg, ns)


def session_id(world, s: int, ns: int) -> int:
    return _id_in(world, "sessions", s, ns)


# -- orphaned process groups ------------------------------------------------------------------------

def will_become_orphaned(world, pg: int, ignored_tg: int = -1) -> bool:
    """Linux will_become_orphaned_pgrp: no member has a parent in another group of the same session.

    Members that are finished zombies, that are ``ignored_tg``, or whose parent is the global init
    do not count.
    """
    P, G, T = world.process_groups, world.thread_groups, world.tasks
    session = int(P.session[pg])
    root_init = int(world.pid_namespaces.init_task[world.index.root_pidns])
    for g in links.members(P.tg_head, pg, G.pg_next):
        leader = int(G.leader[g])
        if g == ignored_tg:
            continue
        if T.exit_state[leader] != ExitState.NONE and G.tasks_count[g] == 1:
            continue
        parent = int(T.parent[leader])
        if parent < 0 or parent == root_init:
            continue
        ppg = int(G.pgrp[int(T.tg[parent])])
        if ppg != pg and int(P.session[ppg]) == session:
            return False
    return True


def has_stopped_jobs(world, pg: int) -> bool:
    P, G = world.process_groups, world.thread_groups
    return any(G.stopped[g] for g in links.members(P.tg_head, pg, G.pg_next))
