"""Sessions and process groups (credentials(7), setsid(2), setpgid(2)).

A process group is named by the id of the thread group that created it (its originator), in the
originator's namespace and every ancestor: ``ids[row, level]``, like ``tasks.tids``. A session is
named likewise by its leader. The ids stay reserved in the namespaces' :class:`PidMap` for as long
as the group or session exists, even after the originator is gone, so they are not reused.

Invariants (:func:`check`): every live thread group is in exactly one process group; every process
group is in exactly one session; ``members`` / ``ngroups`` equal the list lengths; a process group
with no members and a session with no process groups do not exist.
Writers: clone (a new thread group joins its creator's process group), systems/sessions.py
(setsid, setpgid), release (leave; the last member frees the group).
"""
from __future__ import annotations

import numpy as np

from ..world import Column, Component
from .links import members

I32 = np.int32

SessionC = Component("Session", "sessions", {
    "leader_tg": Column(I32, -1),  # -1 once the leader has been released
    "ns": Column(I32, -1),  # namespace the session was created in
    "pg_head": Column(I32, -1),
    "pg_tail": Column(I32, -1),
    "ngroups": Column(I32, 0),
    "foreground": Column(I32, -1),  # foreground process group (tcsetpgrp); -1: none
    "console": Column(np.bool_, False),  # owns the console (systems/tty.py); at most one session
}, doc="A session: its leader and its process groups.")

ProcessGroupC = Component("ProcessGroup", "process_groups", {
    "session": Column(I32, -1),
    "originator": Column(I32, -1),  # thread group that created it; -1 once released
    "ns": Column(I32, -1),
    "tg_head": Column(I32, -1),
    "tg_tail": Column(I32, -1),
    "members": Column(I32, 0),
    "sess_next": Column(I32, -1),
    "sess_prev": Column(I32, -1),
}, doc="A process group: its members and its session.")

COMPONENTS = [SessionC, ProcessGroupC]


def ids_component(kind: str, levels: int) -> Component:
    return Component(f"{kind}IDs", kind, {"ids": Column(np.int32, 0, (levels,))},
                     doc="Id in each namespace of the chain, by level.")


# Registered by name now, not only when a World is built (see pidns.task_ids_component).
ids_component("process_groups", 1)
ids_component("sessions", 1)


def check(world) -> None:
    S, P, G = world.sessions, world.process_groups, world.thread_groups
    total = 0
    for pg in P.live_rows():
        m = members(P.tg_head, pg, G.pg_next)
        assert len(m) == P.members[pg] > 0, f"process group {pg}: {len(m)} on list, count {P.members[pg]}"
        assert all(G.pgrp[g] == pg for g in m), f"process group {pg} lists a foreign thread group"
        assert S.alive[P.session[pg]], f"process group {pg} is in a dead session"
        total += len(m)
    assert total == G.count, f"{G.count} thread groups but {total} on process group lists"
    ntotal = 0
    for s in S.live_rows():
        m = members(S.pg_head, s, P.sess_next)
        assert len(m) == S.ngroups[s] > 0, f"session {s}: {len(m)} groups on list, count {S.ngroups[s]}"
        assert all(P.session[p] == s for p in m), f"session {s} lists a foreign process group"
        ntotal += len(m)
    assert ntotal == P.count, f"{P.count} process groups but {ntotal} on session lists"


SessionC.check = check
