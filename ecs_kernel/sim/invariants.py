"""Kernel invariants at scale: vectorised checks over a whole World, first violation reported.

``check_sanity`` (schedule.py) runs each component's ``check``, which walks lists in Python and
asserts: right for tests of tens of tasks, too slow for a million. The checks here hold the same
rules (and the behavioural ones a simulation cares about) with numpy over whole columns and one
numba pass over each intrusive-list family (jit/invariants.py). Each returns ``None`` or a
:class:`Violation` naming the rule, the task row and its tid.

Rules (:data:`RULES`)::

    signal-delivered-while-blocked  a signal was dequeued (delivered, or its default action run)
                                    while the mask in force at that moment blocked it
    futex-lost-wakeup               a task blocked on a futex has no waiter row (nothing can wake
                                    it); a waiter row stays queued past its wake (its task is no
                                    longer waiting on it, or a wake took a waiter queued behind it
                                    on the same word first); a waiter row of a dead or exited task
    zombie-leaked                   a zombie whose parent is gone, exited, or absent (no one can
                                    reap it); a zombie its parent autoreaps (SIGCHLD ignored or
                                    SA_NOCLDWAIT at the time it died) left unreleased
    thread-group-membership         a live task outside a live thread group, or a group whose
                                    leader is not a live member
    session-membership              a thread group outside a live process group, or a process
                                    group outside a live session
    ids-unique                      two tasks share a tid in one PID namespace, a task lacks an id
                                    in a namespace of its chain, or the id maps disagree
    list-consistency                an intrusive list (thread group members, children, process
                                    group and session members, futex queues, signal queues) is
                                    broken (see jit/invariants.py for the ways)

Three rules need to see events, not only state: whether a signal was blocked *when* it was
delivered, whether a parent autoreaped *when* its child died, and whether a futex wake skipped a
waiter. :func:`install` adds probe systems to the World's schedule that snapshot the few rows that
matter at the start of the SIGNALS, RUN and EXIT phases (the phases that deliver signals, make
zombies and wake futex waiters) and compare at their end; the first violation they see is kept in
``world.index.sim_probes`` (:class:`Probes`) and :func:`check` reports it. Without
:func:`install`, the state rules still run.

What the delivery probe compares. Delivery (systems/task_signals.py ``get_signal``) dequeues a
signal: it clears the signal's pending bit (the task's own, or the group's) and, for a caught
signal, pushes a ``sigframes`` row whose ``f_mask`` is the mask in force (sigsuspend: the mask it
restores, so the probe uses the mask it saw instead). A violation is a pending bit cleared in the
phase while the task's mask in force blocked it (sigtimedwait's waited set counts as unblocked, as
Linux's ``real_blocked``), a group pending bit cleared while every thread of the group blocked it,
or a new frame for a signal its mask in force blocked.

What the futex probe compares. A wake takes waiters oldest first (FIFO per word; we have one
priority). Within a RUN or EXIT phase a waiter row leaves its queue only by a wake, a requeue, or
its task's exit (a signal interrupts a wait in the SIGNALS phase, a timeout in TIMERS); so a
waiter row of a live task that left with ``ret == 0`` and has not run since (still in
runSyscallExit) was woken, and a waiter with a match-any bitset still queued where it was,
*ahead* of it, was skipped.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..abi import Block, ExitState, RunState, SA_NOCLDWAIT, SIG_IGN, SIGCHLD, UNBLOCKABLE
from ..components.task import state_name
from ..jit.invariants import LIST_CODES, LIST_OK, blocked_pending, queue_ranks, walk_lists
from ..schedule import Phase, system
from ..checkpoint_objects import state_class

RULES = ("signal-delivered-while-blocked", "futex-lost-wakeup", "zombie-leaked",
         "thread-group-membership", "session-membership", "ids-unique", "list-consistency")

_FULL = np.uint64(0xFFFFFFFFFFFFFFFF)
_KEEP = np.uint64(~UNBLOCKABLE & 0xFFFFFFFFFFFFFFFF)  # masks never block SIGKILL/SIGSTOP


@dataclass(frozen=True)
class Violation:
    """The first broken invariant: the rule, what broke, the task row and its tid (root
    namespace; 0 if none), and the tick it was seen at."""

    rule: str
    message: str
    task: int = -1
    tid: int = 0
    tick: int = -1

    def __str__(self) -> str:
        who = f" (task row {self.task}, tid {self.tid})" if self.task >= 0 else ""
        when = f"tick {self.tick}: " if self.tick >= 0 else ""
        return f"{when}invariant {self.rule} violated{who}: {self.message}"


def _tid(world, t: int) -> int:
    T = world.tasks
    if t < 0 or t >= T.n or not T.alive[t]:
        return 0
    return int(T.tids[t, 0])


def _v(world, rule: str, message: str, task: int = -1) -> Violation:
    return Violation(rule, message, int(task), _tid(world, int(task)), int(world.ticks))


def _first(mask: np.ndarray) -> int:
    i = np.flatnonzero(mask)
    return int(i[0]) if len(i) else -1


def _signame(bits: int) -> str:
    signo = (bits & -bits).bit_length()
    return f"signal {signo}"


# -- state rules ----------------------------------------------------------------------------------

def check_membership(world) -> Violation | None:
    """Every live task in exactly one live thread group, whose leader is a live member."""
    T, G = world.tasks, world.thread_groups
    n = T.n
    live = T.alive[:n]
    tg = T.tg[:n].astype(np.int64)
    bad = live & ((tg < 0) | (tg >= G.n))
    bad |= live & ~bad & ~G.alive[np.clip(tg, 0, max(G.n - 1, 0))]
    r = _first(bad)
    if r >= 0:
        return _v(world, "thread-group-membership", f"task is in no live thread group (tg {tg[r]})", r)
    grows = G.live_rows()
    lead = G.leader[grows].astype(np.int64)
    okl = (lead >= 0) & (lead < n)
    okl[okl] &= T.alive[lead[okl]] & (T.tg[lead[okl]] == grows[okl])
    if not okl.all():
        g = int(grows[~okl][0])
        return _v(world, "thread-group-membership",
                  f"thread group {g}'s leader {int(G.leader[g])} is not a live member", int(G.leader[g]))
    return None


def check_sessions(world) -> Violation | None:
    """Every live thread group in exactly one live process group, each in one live session."""
    G, P, S = world.thread_groups, world.process_groups, world.sessions
    grows = G.live_rows()
    pg = G.pgrp[grows].astype(np.int64)
    ok = (pg >= 0) & (pg < P.n)
    ok[ok] &= P.alive[pg[ok]]
    if not ok.all():
        g = int(grows[~ok][0])
        return _v(world, "session-membership", f"thread group {g} is in no live process group",
                  int(G.leader[g]))
    prows = P.live_rows()
    s = P.session[prows].astype(np.int64)
    ok = (s >= 0) & (s < S.n)
    ok[ok] &= S.alive[s[ok]]
    if not ok.all():
        p = int(prows[~ok][0])
        return _v(world, "session-membership", f"process group {p} is in no live session")
    return None


def check_ids(world) -> Violation | None:
    """Tids unique per PID namespace; every task has an id in each namespace of its chain and the
    namespace's id map names it back."""
    T, N = world.tasks, world.pid_namespaces
    rows = T.live_rows()
    if len(rows) == 0:
        return None
    ns = T.ns[rows].astype(np.int64)
    okns = (ns >= 0) & (ns < N.n)
    okns[okns] &= N.alive[ns[okns]]
    if not okns.all():
        r = int(rows[~okns][0])
        return _v(world, "ids-unique", f"task lives in no live PID namespace (ns {T.ns[r]})", r)
    level = N.level[ns].astype(np.int64)
    maps = world.index.pidmaps
    for L in range(int(level.max()) + 1):
        sel = level >= L
        anc = ns[sel].copy()
        while True:  # climb to the ancestor at level L (depth <= 33)
            up = N.level[anc] > L
            if not up.any():
                break
            anc[up] = N.parent[anc[up]]
        trows = rows[sel]
        tid = T.tids[trows, L].astype(np.int64)
        if (tid <= 0).any():
            r = int(trows[tid <= 0][0])
            return _v(world, "ids-unique", f"task has no id at namespace level {L}", r)
        # The map holds one task per id, so "every task's id maps back to it" is uniqueness too.
        spaces = [int(anc[0])] if (anc == anc[0]).all() else np.unique(anc).tolist()
        for space in spaces:
            m = anc == space
            pm = maps[space].task
            t_here, id_here = trows[m], tid[m]
            inside = id_here < len(pm)
            back = np.full(len(t_here), -1, np.int64)
            back[inside] = pm[id_here[inside]]
            wrong = back != t_here
            if wrong.any():
                r, i, other = int(t_here[wrong][0]), int(id_here[wrong][0]), int(back[wrong][0])
                if other >= 0 and other < T.n and T.alive[other] and int(T.tids[other, L]) == i:
                    return _v(world, "ids-unique",
                              f"tasks {other} and {r} share id {i} in namespace {space}", r)
                return _v(world, "ids-unique",
                          f"namespace {space}'s id map does not name the task at id {i}", r)
    for space in N.live_rows().tolist():
        pm = maps[space].task
        mapped = np.flatnonzero(pm >= 0)
        t_m = pm[mapped].astype(np.int64)
        bad = (t_m >= T.n)
        bad[~bad] |= ~T.alive[t_m[~bad]]
        if bad.any():
            return _v(world, "ids-unique",
                      f"namespace {space} maps id {int(mapped[bad][0])} to a dead task row {int(t_m[bad][0])}")
    return None


def _lists(world):
    """(name, walk_lists arguments) for every intrusive-list family of the standard World."""
    T, G, P, S = world.tasks, world.thread_groups, world.process_groups, world.sessions
    n, gn, pn, sn = T.n, G.n, P.n, S.n
    tl, gl, pl = T.alive[:n], G.alive[:gn], P.alive[:pn]
    out = [("thread group member list", "thread_groups",
            (G.task_head[:gn], G.task_tail[:gn], gl, G.tasks_count[:gn], T.tg_next[:n], T.tg_prev[:n],
             T.tg[:n], tl, tl))]
    tg = np.clip(T.tg[:n], 0, max(gn - 1, 0))
    leader = tl & (G.leader[tg] == np.arange(n)) if gn else np.zeros(n, bool)
    out.append(("children list", "tasks",
                (T.child_head[:n], T.child_tail[:n], tl, np.full(n, -1), T.sib_next[:n], T.sib_prev[:n],
                 T.parent[:n], tl, leader & (T.parent[:n] >= 0))))
    out.append(("process group member list", "process_groups",
                (P.tg_head[:pn], P.tg_tail[:pn], pl, P.members[:pn], G.pg_next[:gn], G.pg_prev[:gn],
                 G.pgrp[:gn], gl, gl)))
    out.append(("session list", "sessions",
                (S.pg_head[:sn], S.pg_tail[:sn], S.alive[:sn], S.ngroups[:sn], P.sess_next[:pn],
                 P.sess_prev[:pn], P.session[:pn], pl, pl)))
    W, Q = world.futex_waiters, world.futex_queues
    wn, qn = W.n, Q.n
    out.append(("futex queue", "futex_queues",
                (Q.q_head[:qn], Q.q_tail[:qn], Q.alive[:qn], Q.q_count[:qn], W.w_next[:wn], W.w_prev[:wn],
                 W.queue[:wn], W.alive[:wn], W.alive[:wn])))
    SQ = world.sigqueue
    qn2 = SQ.n
    ql = SQ.alive[:qn2]
    grp = SQ.q_group[:qn2]
    own = SQ.q_owner[:qn2].astype(np.int64)
    out.append(("signal queue", "tasks",
                (T.q_head[:n], T.q_tail[:n], tl, np.full(n, -1), SQ.q_next[:qn2], SQ.q_prev[:qn2],
                 np.where(grp, -2, own), ql, ql & ~grp)))
    out.append(("group signal queue", "thread_groups",
                (G.gq_head[:gn], G.gq_tail[:gn], gl, np.full(gn, -1), SQ.q_next[:qn2], SQ.q_prev[:qn2],
                 np.where(grp, own, -2), ql, ql & grp)))
    return out


def check_lists(world) -> Violation | None:
    """Every intrusive list family, one numba pass each."""
    for name, owner_kind, args in _lists(world):
        code, owner, row = walk_lists(*args)
        if code == LIST_OK:
            continue
        task = -1
        if name in ("thread group member list", "children list") and 0 <= row < world.tasks.n:
            task = row
        elif owner_kind == "tasks" and owner >= 0:
            task = owner
        where = f"{name} of {owner_kind[:-1].replace('_', ' ')} {owner}" if owner >= 0 else name
        return _v(world, "list-consistency", f"{where} {LIST_CODES[code]} (row {row})", task)
    return None


def _futex_waiting(T, t: np.ndarray) -> np.ndarray:
    """Tasks (rows ``t``) waiting on a futex: blocked on it, or stopped with that wait saved."""
    rs, b = T.run_state[t], T.block[t]
    blocked = rs == RunState.blocked
    return blocked & ((b == Block.FUTEX) | ((b == Block.STOPPED) & (T.stop_block[t] == Block.FUTEX)
                                            & (T.stop_run_state[t] == RunState.blocked)))


def check_futex(world) -> Violation | None:
    """No lost futex wakeup. Meant for tick boundaries: within a tick, a killed waiter's row
    lives until the INTERRUPT phase's orphan system or its exit drops it."""
    T, W = world.tasks, world.futex_waiters
    n = T.n
    b = T.block[:n]
    # whole-column passes over uint8 columns first: only blocked tasks can be futex waiters
    rows = np.flatnonzero(T.alive[:n] & (T.run_state[:n] == RunState.blocked)
                          & (T.exit_state[:n] == ExitState.NONE)
                          & ((b == Block.FUTEX) | (b == Block.STOPPED)))
    waiting = _futex_waiting(T, rows)
    w = T.futex_waiter[rows].astype(np.int64)
    has = (w >= 0) & (w < W.n)
    has[has] &= W.alive[w[has]]
    has[has] &= W.task[w[has]] == rows[has]
    r = _first(waiting & ~has)
    if r >= 0:
        t = int(rows[r])
        return _v(world, "futex-lost-wakeup",
                  "task is blocked on a futex but has no waiter row: no wake can reach it", t)
    wrows = W.live_rows()
    if len(wrows) == 0:
        return None
    wt = W.task[wrows].astype(np.int64)
    gone = (wt < 0) | (wt >= n)
    gone[~gone] |= ~T.alive[wt[~gone]]
    r = _first(gone)
    if r >= 0:
        return _v(world, "futex-lost-wakeup", f"futex waiter row {int(wrows[r])} belongs to a dead task "
                  f"row {int(wt[r])}")
    es = T.exit_state[wt]
    # An exiting task keeps its row only until exit_main (futex_exit) in the EXIT phase.
    done = (es >= ExitState.ZOMBIE) | ((es == ExitState.INITIATED) & (T.run_state[wt] != RunState.runExit))
    r = _first(done)
    if r >= 0:
        return _v(world, "futex-lost-wakeup",
                  f"futex waiter row {int(wrows[r])} outlives its task's exit", int(wt[r]))
    stale = (es == ExitState.NONE) & ~_futex_waiting(T, wt)
    r = _first(stale)
    if r >= 0:
        return _v(world, "futex-lost-wakeup",
                  f"futex waiter row {int(wrows[r])} stays queued past its wake (the task is "
                  f"{_state(T, int(wt[r]))}, no longer waiting on it)", int(wt[r]))
    back = T.futex_waiter[wt] != wrows
    r = _first(back)
    if r >= 0:
        return _v(world, "futex-lost-wakeup",
                  f"futex waiter row {int(wrows[r])} is not the one its task points at "
                  f"({int(T.futex_waiter[wt[r]])})", int(wt[r]))
    return None


def _state(T, t: int) -> str:
    s = state_name(RunState, int(T.run_state[t]))
    if T.run_state[t] == RunState.blocked:
        s += f" on {state_name(Block, int(T.block[t]))}"
    return s


def _autoreaps(world, parents: np.ndarray) -> np.ndarray:
    """Does each parent row autoreap a SIGCHLD child (SIGCHLD ignored, or SA_NOCLDWAIT)?"""
    T, H = world.tasks, world.signal_handlers
    sh = T.sighand[parents].astype(np.int64)
    out = np.zeros(len(parents), bool)
    has = sh >= 0
    i = SIGCHLD - 1
    a = H.actions[sh[has]]
    A = world.sigactions
    out[has] = (A.sa_handler[a, i] == SIG_IGN) | ((A.sa_flags[a, i] & np.uint64(SA_NOCLDWAIT)) != 0)
    return out


def check_zombies(world) -> Violation | None:
    """No zombie that no one can reap. (Whether its parent autoreaped when it died is an event:
    the EXIT-phase probe checks that, see :func:`install`.)"""
    T = world.tasks
    z = np.flatnonzero(T.alive[: T.n] & (T.exit_state[: T.n] == ExitState.ZOMBIE))
    if len(z) == 0:
        return None
    G = world.thread_groups
    tg = T.tg[z].astype(np.int64)
    leader = G.leader[tg] == z
    z = z[leader]  # a zombie thread that is not a leader is released at once; see check_lists
    p = T.parent[z].astype(np.int64)
    r = _first(p < 0)
    if r >= 0:
        return _v(world, "zombie-leaked", "zombie has no parent: no one will ever reap it", int(z[r]))
    gone = p >= T.n
    gone[~gone] |= ~T.alive[p[~gone]]
    r = _first(gone)
    if r >= 0:
        return _v(world, "zombie-leaked", f"zombie's parent row {int(p[r])} is dead", int(z[r]))
    # A parent that finished its own exit reparented its children; INITIATED parents still will.
    exited = T.exit_state[p] >= ExitState.ZOMBIE
    r = _first(exited)
    if r >= 0:
        return _v(world, "zombie-leaked",
                  f"zombie's parent (row {int(p[r])}, tid {_tid(world, int(p[r]))}) has exited and "
                  f"cannot wait", int(z[r]))
    return None


# -- probes: events the state cannot show ---------------------------------------------------------

@state_class
@dataclass
class Probes:
    """What the probe systems keep in ``world.index.sim_probes`` (checkpointed with the World):
    each probe's snapshot from the start of its phase, by probe name, until the phase's end
    compares, and the first violation a probe saw."""

    record: Violation | None = None
    snapshots: dict[str, dict] = field(default_factory=dict)

    def to_state(self, w, name: str) -> dict:
        if self.snapshots:  # taken and compared within one tick: none between ticks
            raise TypeError("a probe snapshot is in flight (checkpoint between ticks)")
        v = self.record
        return {"record": None if v is None else
                {"rule": v.rule, "message": v.message, "task": v.task, "tid": v.tid,
                 "tick": v.tick}}

    @classmethod
    def from_state(cls, r, name: str, meta) -> "Probes":
        rec = meta.get("record") if isinstance(meta, dict) else None
        if rec is None:
            return cls()
        if not isinstance(rec, dict) or not isinstance(rec.get("rule"), str) \
                or not isinstance(rec.get("message"), str):
            r.fail("a probe record is malformed")
        return cls(Violation(rec["rule"], rec["message"], r.int(rec, "task", -1, 1 << 31),
                             r.int(rec, "tid", 0, 1 << 31), r.int(rec, "tick", -1, 1 << 62)))


def _probes(world) -> Probes:
    if world.index.sim_probes is None:
        world.index.sim_probes = Probes()
    return world.index.sim_probes


def _record(world, v: Violation | None) -> None:
    p = _probes(world)
    if v is not None and p.record is None:
        p.record = v


@system(phase=Phase.SIGNALS, reads=("SigPending", "SigMask", "SigWait", "GroupSigPending",
                                    "ThreadGroupMembership", "SigFrames", "RunState"))
def delivery_probe_begin(world, commands) -> None:
    """Snapshot, before delivery, the tasks with a pending signal their mask blocks or a
    sigsuspend mask, the groups with a pending signal every thread blocks, and the sigframe rows
    (one numba pass over the tasks: jit/invariants.py ``blocked_pending``)."""
    T, G, F = world.tasks, world.thread_groups, world.sigframes
    rows, mask, pend, all_block = blocked_pending(world, int(_KEEP))
    gblocked = G.group_pending[: G.n] & all_block
    groups = np.flatnonzero(gblocked != 0)
    _probes(world).snapshots["delivery"] = {
        "rows": rows, "mask": mask, "pending": pend, "saved": T.has_saved_mask[rows].copy(),
        "groups": groups, "gblocked": gblocked[groups],
        "fn": F.n, "falive": F.alive[: F.n].copy(), "fgen": F.gen[: F.n].copy(), "tick": world.ticks,
    }


@system(phase=Phase.SIGNALS, reads=("SigPending", "SigMask", "GroupSigPending", "SigFrames",
                                    "SignalHandlers", "SigActions"))
def delivery_probe_end(world, commands) -> None:
    """Compare after delivery: see the module docstring."""
    snap = _probes(world).snapshots.pop("delivery", None)
    if snap is None or snap["tick"] != world.ticks:
        return
    _record(world, _delivery_violation(world, snap))


def _delivery_violation(world, snap) -> Violation | None:
    T, G, F = world.tasks, world.thread_groups, world.sigframes
    rows = snap["rows"]
    rule = "signal-delivered-while-blocked"
    if len(rows):
        still = T.alive[rows]
        now = np.where(still, T.sig_pending[rows], np.uint64(0))
        taken = snap["pending"] & ~now & np.where(still, _FULL, np.uint64(0))
        r = _first(taken != 0)
        if r >= 0:
            t = int(rows[r])
            return _v(world, rule, f"{_signame(int(taken[r]))} was dequeued while the task's mask "
                      f"{int(snap['mask'][r]):#x} blocked it", t)
    groups = snap["groups"]
    if len(groups):
        alive = G.alive[groups]
        taken = snap["gblocked"] & ~np.where(alive, G.group_pending[groups], np.uint64(0))
        taken &= np.where(alive, _FULL, np.uint64(0))
        r = _first(taken != 0)
        if r >= 0:
            g = int(groups[r])
            return _v(world, rule, f"{_signame(int(taken[r]))} was dequeued from thread group {g}'s "
                      f"queue while every thread blocked it", int(G.leader[g]))
    fn = F.n
    if fn:
        old_n = snap["fn"]
        new = F.alive[:fn].copy()
        k = min(old_n, fn)
        new[:k] &= ~snap["falive"][:k] | (F.gen[:k] != snap["fgen"][:k])
        frames = np.flatnonzero(new)
        if len(frames):
            ft = F.f_task[frames].astype(np.int64)
            fm = F.f_mask[frames].copy()
            prev = F.f_prev[frames].astype(np.int64)
            first = (prev < 0) | ~new[np.clip(prev, 0, fn - 1)]
            # the oldest new frame of a task in sigsuspend saved the old mask, not the one in force
            pos = np.searchsorted(rows, ft)
            pos = np.clip(pos, 0, max(len(rows) - 1, 0))
            known = (len(rows) > 0) & (rows[pos] == ft) if len(rows) else np.zeros(len(ft), bool)
            use = first & known
            if use.any():
                use[use] &= snap["saved"][pos[use]]
                fm[use] = snap["mask"][pos[use]]
            bit = np.uint64(1) << (F.f_signo[frames].astype(np.uint64) - np.uint64(1))
            r = _first((fm & _KEEP & bit) != 0)
            if r >= 0:
                return _v(world, rule, f"a handler frame for signal {int(F.f_signo[frames[r]])} was "
                          f"pushed while the mask in force {int(fm[r]):#x} blocked it", int(ft[r]))
    return None


@system(phase=Phase.EXIT, reads=("ExitState", "TaskTree", "ThreadGroupCore"))
def exit_probe_begin(world, commands) -> None:
    """Snapshot the zombies whose parent has been told (leader, alone in its group)."""
    told = _told_zombies(world)
    _probes(world).snapshots["exit"] = {
        "told": told, "parent": world.tasks.parent[told].astype(np.int64), "tick": world.ticks}


@system(phase=Phase.EXIT, reads=("ExitState", "TaskTree", "ThreadGroupCore", "SignalHandlers",
                                 "SigActions"))
def exit_probe_end(world, commands) -> None:
    """A zombie told to its parent in this phase (it died, its last thread went, or it was
    reparented) must not be left by a parent that autoreaps: do_notify_parent releases it."""
    snap = _probes(world).snapshots.pop("exit", None)
    if snap is None or snap["tick"] != world.ticks:
        return
    T, G = world.tasks, world.thread_groups
    now = _told_zombies(world)
    if len(now) == 0:
        return
    before_rows, before_parent = snap["told"], snap["parent"]
    pos = np.searchsorted(before_rows, now)
    pos = np.clip(pos, 0, max(len(before_rows) - 1, 0))
    parent = T.parent[now].astype(np.int64)
    seen = (before_rows[pos] == now) if len(before_rows) else np.zeros(len(now), bool)
    if len(before_rows):
        seen &= before_parent[pos] == parent
    fresh = now[~seen]
    if len(fresh) == 0:
        return
    p = T.parent[fresh].astype(np.int64)
    ok = p >= 0
    sigchld = G.termination_signal[T.tg[fresh]] == SIGCHLD
    cand = fresh[ok & sigchld]
    pc = p[ok & sigchld]
    live = T.alive[pc]
    cand, pc = cand[live], pc[live]
    r = _first(_autoreaps(world, pc))
    if r >= 0:
        _record(world, _v(world, "zombie-leaked",
                          f"zombie was left for a parent (tid {_tid(world, int(pc[r]))}) that "
                          f"autoreaps SIGCHLD children (SIG_IGN or SA_NOCLDWAIT)", int(cand[r])))


def _told_zombies(world) -> np.ndarray:
    T, G = world.tasks, world.thread_groups
    n = T.n
    z = np.flatnonzero(T.alive[:n] & (T.exit_state[:n] == ExitState.ZOMBIE))
    if len(z) == 0:
        return z
    tg = T.tg[z].astype(np.int64)
    return z[(G.leader[tg] == z) & (G.tasks_count[tg] == 1)]


def _futex_snapshot(world) -> dict:
    W = world.futex_waiters
    rows = W.live_rows()
    return {"rows": rows, "rank": queue_ranks(world)[rows], "queue": W.queue[rows].astype(np.int64),
            "task": W.task[rows].astype(np.int64), "gen": W.gen[rows].copy(),
            "uaddr": W.uaddr[rows].copy(), "bitset": W.bitset[rows].copy(), "tick": world.ticks}


def _futex_fifo_violation(world, snap) -> Violation | None:
    """A wake takes waiters oldest first: a waiter (matching any bitset) still queued where it was
    while one queued behind it on the same word was woken in the phase is a lost wakeup."""
    W, T = world.futex_waiters, world.tasks
    rows = snap["rows"]
    if len(rows) < 2:
        return None
    t = snap["task"]
    same = W.alive[rows] & (W.gen[rows] == snap["gen"])
    alive = T.alive[t] & (T.exit_state[t] == ExitState.NONE)
    # Woken: the row went, the wait returned 0 and the task has not run since (a guest that ran
    # on may have had its wait interrupted and then made a call that returned 0).
    rs = T.run_state[t]
    fresh = (rs == RunState.runSyscallExit) | ((rs == RunState.blocked) & (T.block[t] == Block.STOPPED)
                                              & (T.stop_run_state[t] == RunState.runSyscallExit))
    woken = ~same & alive & (T.ret[t] == 0) & fresh
    if not woken.any():
        return None
    still = same & alive & (W.task[rows] == t) & (W.queue[rows] == snap["queue"])
    still &= (W.uaddr[rows] == snap["uaddr"]) & (snap["bitset"] == np.uint32(0xFFFFFFFF))
    still &= _futex_waiting(T, t)
    youngest = np.full(int(snap["queue"].max()) + 1, -1, np.int64)
    np.maximum.at(youngest, snap["queue"][woken], snap["rank"][woken])
    skipped = still & (snap["rank"] < youngest[snap["queue"]])
    r = _first(skipped)
    if r < 0:
        return None
    return _v(world, "futex-lost-wakeup",
              f"futex waiter row {int(rows[r])} on {int(snap['uaddr'][r]):#x} stays queued past its "
              f"wake: a waiter queued behind it was woken first", int(t[r]))


def _futex_begin(world) -> None:
    _probes(world).snapshots["futex"] = _futex_snapshot(world)


def _futex_end(world) -> None:
    snap = _probes(world).snapshots.pop("futex", None)
    if snap is not None and snap["tick"] == world.ticks:
        _record(world, _futex_fifo_violation(world, snap))


@system(phase=Phase.RUN, reads=("FutexWaiters", "FutexQueues"))
def futex_probe_run_begin(world, commands) -> None:
    """Snapshot the futex queues (rows and places) before the RUN phase's wakes."""
    _futex_begin(world)


@system(phase=Phase.RUN, reads=("FutexWaiters", "FutexQueues", "RunState", "ExitState"))
def futex_probe_run_end(world, commands) -> None:
    """No wake in the RUN phase skipped an older waiter (see _futex_fifo_violation)."""
    _futex_end(world)


@system(phase=Phase.EXIT, reads=("FutexWaiters", "FutexQueues"))
def futex_probe_exit_begin(world, commands) -> None:
    """Snapshot the futex queues before exits wake robust-list and clear_child_tid waiters."""
    _futex_begin(world)


@system(phase=Phase.EXIT, reads=("FutexWaiters", "FutexQueues", "RunState", "ExitState"))
def futex_probe_exit_end(world, commands) -> None:
    """No wake at exit skipped an older waiter."""
    _futex_end(world)


_PROBES = ((delivery_probe_begin, delivery_probe_end), (exit_probe_begin, exit_probe_end),
           (futex_probe_run_begin, futex_probe_run_end), (futex_probe_exit_begin, futex_probe_exit_end))


def install(world) -> None:
    """Put the probe systems first and last in the SIGNALS and EXIT phases of ``world.schedule``.
    Call it again after adding systems to those phases: it moves the probes back to the edges.
    They cost one scan of a few task columns per tick; the state rules cost nothing per tick."""
    probes = {s.name for pair in _PROBES for s in pair}
    systems = world.schedule.systems
    systems[:] = [s for s in systems if s.name not in probes]
    for begin, end in _PROBES:
        idx = [i for i, s in enumerate(systems) if s.phase == begin.phase]
        if idx:
            systems.insert(idx[-1] + 1, end)
            systems.insert(idx[0], begin)
        else:
            systems.extend((begin, end))
            systems.sort(key=lambda s: s.phase)


def uninstall(world) -> None:
    probes = {s.name for pair in _PROBES for s in pair}
    world.schedule.systems[:] = [s for s in world.schedule.systems if s.name not in probes]
    if world.index.sim_probes is not None:
        world.index.sim_probes.snapshots.clear()


def recorded(world) -> Violation | None:
    """The first violation a probe saw, if any."""
    p = world.index.sim_probes
    return None if p is None else p.record


CHECKS = (check_membership, check_sessions, check_ids, check_lists, check_futex, check_zombies)


def check(world) -> Violation | None:
    """Every rule: the first violation a probe recorded, else the first the state shows, else None.
    Call it between ticks (after ``World.tick``: every sync point has been applied)."""
    v = recorded(world)
    if v is not None:
        return v
    for fn in CHECKS:
        v = fn(world)
        if v is not None:
            return v
    return None
