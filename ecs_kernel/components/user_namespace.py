"""User namespaces (user_namespaces(7); gVisor: kernel/auth/user_namespace.go, id_map.go; Linux:
kernel/user_namespace.c).

A ``user_namespaces`` row is one namespace; row 0 is the initial one (kernel.new_world makes it,
its maps are the identity over every id and it has no parent). Its uid and gid maps are rows of
``id_map_extents``, one per line written to /proc/PID/uid_map or gid_map: ``first`` (the id
inside), ``lower_first`` (the kernel id, Linux's kuid/kgid: the credentials columns of tasks hold
kernel ids) and ``length`` (Linux's count). A map is written once; ``uid_extents``/``gid_extents`` count its lines
(0: not written yet).

    parent          the parent namespace's row (-1: the initial namespace)
    level           nesting depth (0: the initial namespace)
    owner, group    the creator's effective uid and gid (kernel ids)
    setgroups_ok    /proc/PID/setgroups says "allow" (Linux's USERNS_SETGROUPS_ALLOWED)
    parent_could_setfcap  the creator held CAP_SETFCAP (verify_root_map: may map uid 0)

Invariants: a namespace's parent is alive and one level up; the extents counted per namespace and
map are those in ``id_map_extents``. Writers: systems/user_namespace.py only. A namespace lives
as long as the World (Linux frees it with its last reference; rows are small and never reused, so
a number held by a task, a namespace or a checkpoint never names another one).
"""
from __future__ import annotations

import numpy as np

from ..world import Column, Component

UserNamespace = Component("UserNamespace", "user_namespaces", {
    "parent": Column(np.int32, -1),
    "level": Column(np.int32, 0),
    "owner": Column(np.uint32, 0),
    "group": Column(np.uint32, 0),
    "setgroups_ok": Column(np.bool_, True),
    "parent_could_setfcap": Column(np.bool_, True),
    "uid_extents": Column(np.int32, 0),
    "gid_extents": Column(np.int32, 0),
}, doc="A user namespace: its parent, owner, and how many lines its uid and gid maps have.")

# one line of a uid_map or gid_map (``which``: 0 uid, 1 gid)
IDMapExtent = Component("IDMapExtent", "id_map_extents", {
    "ns": Column(np.int32, -1),
    "which": Column(np.uint8, 0),
    "first": Column(np.uint32, 0),
    "lower_first": Column(np.uint32, 0),
    "length": Column(np.uint32, 0),
}, doc="One extent of a user namespace's uid or gid map.")

UID, GID = 0, 1

COMPONENTS = [UserNamespace, IDMapExtent]


def check(world) -> None:
    U, X = world.user_namespaces, world.id_map_extents
    rows = U.live_rows()
    xs = X.live_rows()
    for which, col in ((UID, U.uid_extents), (GID, U.gid_extents)):
        sel = xs[X.which[xs] == which]
        counts = np.bincount(X.ns[sel], minlength=U.n)[: U.n] if len(sel) else np.zeros(U.n, np.int64)
        assert (counts[rows] == col[rows]).all(), "id map extents do not match their counts"
    for r in rows.tolist():
        p = int(U.parent[r])
        if p >= 0:
            assert U.alive[p] and U.level[r] == U.level[p] + 1, f"user namespace {r}: bad parent"


UserNamespace.check = check
