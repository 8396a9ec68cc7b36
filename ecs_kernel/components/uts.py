"""UTS namespaces (uts_namespaces(7)): hostname and domain name, shared by reference.

Invariant: ``refs`` equals the number of live tasks whose ``uts`` is the row.
Writers: clone (share or, with CLONE_NEWUTS, copy), sethostname/setdomainname, release.
"""
from __future__ import annotations

import numpy as np

from ..world import Column, Component

UTSNamespace = Component("UTSNamespace", "uts_namespaces", {
    "hostname": Column("S65", b"ecs-kernel"),
    "domainname": Column("S65", b"(none)"),
    "refs": Column(np.int32, 0),
    "userns": Column(np.int32, 0),  # the user namespace that owns it (its creator's)
}, doc="Host and domain name.")

COMPONENTS = [UTSNamespace]


def check(world) -> None:
    U, T = world.uts_namespaces, world.tasks
    rows = U.live_rows()
    tl = T.live_rows()
    counts = np.bincount(T.uts[tl], minlength=U.n)[: U.n] if len(tl) else np.zeros(U.n, np.int64)
    assert (counts[rows] == U.refs[rows]).all(), "UTS namespace refcounts do not match their tasks"


UTSNamespace.check = check
