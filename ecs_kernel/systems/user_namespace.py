"""User namespaces: id maps, capabilities in a namespace, creating and entering one.

gVisor: kernel/auth/user_namespace.go, id_map.go, credentials.go (HasCapabilityIn); Linux:
kernel/user_namespace.c (create_user_ns, map_write, new_idmap_permitted, proc_setgroups_write),
security/commoncap.c (cap_capable), include/linux/uidgid.h (make_kuid, from_kuid_munged).

The credentials columns of tasks hold kernel ids (Linux's kuid_t/kgid_t): what a task sees is
its namespace's view of them (:func:`from_kid`, unmapped ids reading as 65534), and an id a task
names is put through its namespace's map first (:func:`to_kid`, INVALID_ID when unmapped). The
initial namespace (row 0) maps every id to itself.

A capability is held *in a namespace* (:func:`cap_capable`): a task holds its effective set in
its own user namespace and in every namespace below it, and the owner of a namespace (its
creator's euid, while the creator's namespace is the parent) holds every capability in it. The
objects a capability check is about name their owning user namespace (UTS, IPC, mount and PID
namespaces record it when made; a task's is its own).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..abi import (CAP_FULL_SET, CAP_SETFCAP, CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN, INVALID_ID,
                   OVERFLOW_GID, OVERFLOW_UID, PAGE_SIZE, UID_GID_MAP_MAX_EXTENTS,
                   USER_NS_MAX_LEVEL)
from ..checkpoint_objects import state_class
from ..components.user_namespace import GID, UID
from ..errors import E, KernelError

INIT_USER_NS = 0
_MAP_COUNT = ("uid_extents", "gid_extents")
_SHOWN_IN_ORDER = 5  # UID_GID_MAP_MAX_BASE_EXTENTS: longer maps are shown sorted by first id


def init_namespace(world) -> int:
    """The initial user namespace, row 0 (kernel.new_world): no parent, owned by root, the
    identity maps, setgroups allowed."""
    U = world.user_namespaces
    r = U.alloc()
    assert r == INIT_USER_NS, "the initial user namespace must be row 0"
    U.parent[r] = -1
    U.level[r] = 0
    U.owner[r] = U.group[r] = 0
    U.setgroups_ok[r] = True
    U.parent_could_setfcap[r] = True
    return r


# -- maps ------------------------------------------------------------------------------------------

def extents(world, ns: int, which: int) -> list[tuple[int, int, int]]:
    """The lines of ``ns``'s uid map (``which`` UID) or gid map (GID) as (first, lower_first,
    count), lower ids being kernel ids, in the order written."""
    if int(world.user_namespaces.parent[ns]) < 0:
        return [(0, 0, INVALID_ID)]
    X = world.id_map_extents
    rows = X.live_rows()
    rows = rows[(X.ns[rows] == ns) & (X.which[rows] == which)]
    return [(int(X.first[r]), int(X.lower_first[r]), int(X.length[r])) for r in np.sort(rows)]


def to_kid(world, ns: int, which: int, ident: int) -> int:
    """make_kuid/make_kgid: the kernel id ``ns``'s id ``ident`` maps to, or INVALID_ID."""
    ident &= INVALID_ID
    if ns == INIT_USER_NS:
        return ident
    for first, lower, count in extents(world, ns, which):
        if first <= ident < first + count:
            return lower + (ident - first)
    return INVALID_ID


def from_kid(world, ns: int, which: int, kid: int) -> int:
    """from_kuid/from_kgid: kernel id ``kid`` as ``ns`` sees it, or INVALID_ID (no mapping)."""
    kid &= INVALID_ID
    if ns == INIT_USER_NS:
        return kid
    for first, lower, count in extents(world, ns, which):
        if lower <= kid < lower + count:
            return first + (kid - lower)
    return INVALID_ID


def munged(world, ns: int, which: int, kid: int) -> int:
    """from_kuid_munged: as :func:`from_kid`, an unmapped id reading as the overflow id. The
    initial namespace shows a column as it is (the compiled get*id path reads the columns
    straight; no credential change stores (uid_t)-1)."""
    if ns == INIT_USER_NS:
        return kid & INVALID_ID
    v = from_kid(world, ns, which, kid)
    if v == INVALID_ID:
        return OVERFLOW_UID if which == UID else OVERFLOW_GID
    return v


def uid_of(world, t: int, kuid: int) -> int:
    """Kernel uid ``kuid`` as task ``t`` sees it."""
    return munged(world, int(world.tasks.userns[t]), UID, kuid)


def gid_of(world, t: int, kgid: int) -> int:
    """Kernel gid ``kgid`` as task ``t`` sees it."""
    return munged(world, int(world.tasks.userns[t]), GID, kgid)


def _map_range_down(world, ns: int, which: int, first: int, count: int) -> int:
    """map_id_range_down: the kernel id of ``first`` when the whole range lies in one extent of
    ``ns``'s map, else INVALID_ID."""
    last = first + count - 1
    for f, lower, c in extents(world, ns, which):
        if f <= first and last <= f + c - 1:
            return lower + (first - f)
    return INVALID_ID


# -- capabilities ---------------------------------------------------------------------------------

@state_class
@dataclass(frozen=True)
class CredView:
    """What a capability check reads of a task's credentials (Linux's struct cred): its user
    namespace, effective uid and gid (kernel ids) and effective capabilities. A /proc map file
    keeps its opener's (file->f_cred)."""

    __state__ = {"userns": "int", "euid": "int", "egid": "int", "caps": "int"}

    userns: int
    euid: int
    egid: int
    caps: int


def cred_view(world, t: int) -> CredView:
    T = world.tasks
    return CredView(int(T.userns[t]), int(T.euid[t]), int(T.egid[t]), int(T.cap_effective[t]))


def cap_capable(world, cred: CredView, target: int, cap: int) -> bool:
    """security/commoncap.c cap_capable: does ``cred`` hold ``cap`` in user namespace
    ``target``? Its own namespace: its effective set; a namespace below it: all of them when
    ``cred`` owns that namespace's ancestor just below its own, nothing otherwise."""
    U = world.user_namespaces
    ns = target
    mine = cred.userns
    my_level = int(U.level[mine])
    while True:
        if ns == mine:
            return bool((cred.caps >> cap) & 1)
        if int(U.level[ns]) <= my_level:
            return False
        parent = int(U.parent[ns])
        if parent == mine and int(U.owner[ns]) == cred.euid:
            return True
        ns = parent


def ns_capable(world, t: int, target: int, cap: int) -> bool:
    """ns_capable: does task ``t`` hold ``cap`` in user namespace ``target``?"""
    T = world.tasks
    mine = int(T.userns[t])
    if mine == target:  # the common case, without building a CredView
        return bool((int(T.cap_effective[t]) >> cap) & 1)
    return cap_capable(world, cred_view(world, t), target, cap)


# -- creating and entering --------------------------------------------------------------------------

def create(world, t: int) -> int:
    """create_user_ns for task ``t``'s credentials: a child of its user namespace owned by its
    euid and egid. ENOSPC past 32 levels; EPERM when its euid or egid has no mapping in its
    namespace. Returns the new row; the task's credentials are :func:`enter`'s to change."""
    T, U = world.tasks, world.user_namespaces
    parent = int(T.userns[t])
    if int(U.level[parent]) > USER_NS_MAX_LEVEL:
        raise KernelError(E.ENOSPC, "user namespaces nest 32 deep at most")
    owner, group = int(T.euid[t]), int(T.egid[t])
    if from_kid(world, parent, UID, owner) == INVALID_ID \
            or from_kid(world, parent, GID, group) == INVALID_ID:
        raise KernelError(E.EPERM, "the creator's ids have no mapping in its user namespace")
    r = U.alloc()
    U.parent[r] = parent
    U.level[r] = int(U.level[parent]) + 1
    U.owner[r] = owner
    U.group[r] = group
    U.setgroups_ok[r] = U.setgroups_ok[parent]  # ns->flags = parent_ns->flags
    U.parent_could_setfcap[r] = bool((int(T.cap_effective[t]) >> CAP_SETFCAP) & 1)
    U.uid_extents[r] = U.gid_extents[r] = 0
    return r


def enter(world, t: int, ns: int) -> None:
    """set_cred_user_ns: task ``t`` now lives in ``ns`` with every capability in it and default
    securebits; its ids (kernel ids) do not change."""
    T = world.tasks
    T.userns[t] = ns
    T.securebits[t] = 0
    T.cap_inheritable[t] = 0
    T.cap_permitted[t] = CAP_FULL_SET
    T.cap_effective[t] = CAP_FULL_SET
    T.cap_ambient[t] = 0
    T.cap_bset[t] = CAP_FULL_SET


def is_ancestor(world, ancestor: int, ns: int) -> bool:
    """Is ``ancestor`` ``ns`` or one of its ancestors?"""
    U = world.user_namespaces
    while ns >= 0:
        if ns == ancestor:
            return True
        ns = int(U.parent[ns])
    return False


# -- /proc/PID/uid_map, gid_map, setgroups -------------------------------------------------------------

def show_map(world, reader_ns: int, ns: int, which: int) -> bytes:
    """uid_m_show/gid_m_show: ``ns``'s map as the reader (the opener's namespace) sees it: the
    lower ids in the reader's namespace, or its parent's when the reader reads its own."""
    lower_ns = reader_ns
    if lower_ns == ns and int(world.user_namespaces.parent[ns]) >= 0:
        lower_ns = int(world.user_namespaces.parent[ns])
    ext = extents(world, ns, which)
    if len(ext) > _SHOWN_IN_ORDER:
        ext = sorted(ext)
    return b"".join(b"%10u %10u %10u\n" % (first, from_kid(world, lower_ns, which, lower), count)
                    for first, lower, count in ext)


_SPACE = b" \t\n\v\f\r"


def _strtoul(line: bytes, pos: int) -> tuple[int, int]:
    """simple_strtoul base 10: the value (as a u32: the extent's fields are) and where the
    digits end; no digits is 0 at ``pos``."""
    end = pos
    while end < len(line) and 48 <= line[end] <= 57:
        end += 1
    return (int(line[pos:end]) & 0xFFFF_FFFF if end > pos else 0), end


def _skip(line: bytes, pos: int) -> int:
    while pos < len(line) and line[pos] in _SPACE:
        pos += 1
    return pos


def _parse_map(data: bytes) -> list[tuple[int, int, int]]:
    """map_write's parser: lines of three numbers; EINVAL for anything else, an invalid id, an
    empty or wrapping range, ranges that overlap, or more than 340 lines."""
    text = data.split(b"\0", 1)[0]  # memdup_user_nul: the string ends at a NUL
    lines = text.split(b"\n")
    if len(lines) > 1 and lines[-1] == b"":
        lines.pop()  # a final newline ends the last line
    out: list[tuple[int, int, int]] = []
    for i, line in enumerate(lines):
        vals = []
        pos = 0
        for k in range(3):
            pos = _skip(line, pos)
            v, pos = _strtoul(line, pos)
            vals.append(v)
            if k < 2 and (pos >= len(line) or line[pos] not in _SPACE):
                raise KernelError(E.EINVAL, "a map line is three numbers")
        if pos < len(line) and line[pos] not in _SPACE:
            raise KernelError(E.EINVAL, "junk after a number")
        if _skip(line, pos) != len(line):
            raise KernelError(E.EINVAL, "trailing junk on a map line")
        first, lower, count = vals
        if first == INVALID_ID or lower == INVALID_ID:
            raise KernelError(E.EINVAL, "(u32)-1 is not an id")
        if (first + count) & 0xFFFF_FFFF <= first or (lower + count) & 0xFFFF_FFFF <= lower \
                or first + count > 0xFFFF_FFFF or lower + count > 0xFFFF_FFFF:
            raise KernelError(E.EINVAL, "an empty or wrapping range")
        for f, lo, c in out:  # mappings_overlap
            if f <= first + count - 1 and first <= f + c - 1:
                raise KernelError(E.EINVAL, "overlapping ranges")
            if lo <= lower + count - 1 and lower <= lo + c - 1:
                raise KernelError(E.EINVAL, "overlapping lower ranges")
        if len(out) + 1 == UID_GID_MAP_MAX_EXTENTS and i + 1 < len(lines):
            raise KernelError(E.EINVAL, f"more than {UID_GID_MAP_MAX_EXTENTS} lines")
        out.append((first, lower, count))
    if not out:
        raise KernelError(E.EINVAL, "an empty map")
    return out


def _verify_root_map(world, opener: CredView, ns: int, new: list[tuple[int, int, int]]) -> bool:
    """verify_root_map: mapping the parent's uid 0 needs CAP_SETFCAP: the creator's at
    unshare for a process writing its own map, the opener's in the parent otherwise."""
    if not any(lower == 0 for _, lower, _ in new):
        return True
    U = world.user_namespaces
    if ns == opener.userns:
        return bool(U.parent_could_setfcap[ns])
    return cap_capable(world, opener, int(U.parent[ns]), CAP_SETFCAP)


def _idmap_permitted(world, writer: int, opener: CredView, ns: int, which: int,
                     new: list[tuple[int, int, int]]) -> bool:
    """new_idmap_permitted: one line mapping the owner's own id (for a gid map: its egid, with
    setgroups denied), or CAP_SETUID/CAP_SETGID in the parent namespace for both the writer
    and the opener."""
    U = world.user_namespaces
    cap = CAP_SETUID if which == UID else CAP_SETGID
    if which == UID and not _verify_root_map(world, opener, ns, new):
        return False
    parent = int(U.parent[ns])
    if len(new) == 1 and new[0][2] == 1 and int(U.owner[ns]) == opener.euid:
        lower = new[0][1]
        if which == UID and to_kid(world, parent, UID, lower) == opener.euid:
            return True
        if which == GID and not U.setgroups_ok[ns] \
                and to_kid(world, parent, GID, lower) == opener.egid:
            return True
    return ns_capable(world, writer, parent, cap) and cap_capable(world, opener, parent, cap)


def write_map(world, writer: int, opener: CredView, ns: int, which: int, data: bytes,
              offset: int) -> int:
    """proc_uid_map_write / proc_gid_map_write then map_write: ``writer`` writes ``data`` at
    ``offset`` to user namespace ``ns``'s map through a file ``opener`` opened. Returns the
    count written."""
    U, X = world.user_namespaces, world.id_map_extents
    parent = int(U.parent[ns])
    if parent < 0:
        raise KernelError(E.EPERM, "the initial namespace's maps are fixed")
    if opener.userns not in (ns, parent):
        raise KernelError(E.EPERM, "the opener is neither in the namespace nor in its parent")
    if offset != 0 or len(data) >= PAGE_SIZE:
        raise KernelError(E.EINVAL, "a map is written at once, from the start, under a page")
    if int(getattr(U, _MAP_COUNT[which])[ns]):
        raise KernelError(E.EPERM, "the map was written already")
    if not cap_capable(world, opener, ns, CAP_SYS_ADMIN):
        raise KernelError(E.EPERM, "the opener lacks CAP_SYS_ADMIN in the namespace")
    new = _parse_map(bytes(data))
    if not _idmap_permitted(world, writer, opener, ns, which, new):
        raise KernelError(E.EPERM, "not permitted to map those ids")
    kernel = []
    for first, lower, count in new:
        k = _map_range_down(world, parent, which, lower, count)
        if k == INVALID_ID:
            raise KernelError(E.EPERM, "the lower ids have no mapping in the parent")
        kernel.append((first, k, count))
    for first, lower, count in kernel:
        x = X.alloc()
        X.ns[x] = ns
        X.which[x] = which
        X.first[x] = first
        X.lower_first[x] = lower
        X.length[x] = count
    getattr(U, _MAP_COUNT[which])[ns] = len(kernel)
    return len(data)


def setgroups_text(world, ns: int) -> bytes:
    """proc_setgroups_show."""
    return b"allow\n" if world.user_namespaces.setgroups_ok[ns] else b"deny\n"


def open_setgroups(world, opener: CredView, ns: int, writing: bool) -> None:
    """proc_setgroups_open: writing needs CAP_SYS_ADMIN in the namespace (EPERM)."""
    if writing and not cap_capable(world, opener, ns, CAP_SYS_ADMIN):
        raise KernelError(E.EPERM, "setgroups: CAP_SYS_ADMIN in the namespace")


def write_setgroups(world, ns: int, data: bytes, offset: int) -> int:
    """proc_setgroups_write: "allow" or "deny" (then spaces); deny is for good, and only before
    the gid map is written."""
    U = world.user_namespaces
    if offset != 0 or len(data) >= 8:
        raise KernelError(E.EINVAL, "setgroups takes allow or deny")
    text = bytes(data).split(b"\0", 1)[0]
    if text.startswith(b"allow"):
        allow, rest = True, text[5:]
    elif text.startswith(b"deny"):
        allow, rest = False, text[4:]
    else:
        raise KernelError(E.EINVAL, "setgroups takes allow or deny")
    if rest.strip(_SPACE):
        raise KernelError(E.EINVAL, "junk after allow or deny")
    if allow:
        if not U.setgroups_ok[ns]:
            raise KernelError(E.EPERM, "setgroups was denied for good")
    else:
        if int(U.gid_extents[ns]):
            raise KernelError(E.EPERM, "the gid map is written already")
        U.setgroups_ok[ns] = False
    return len(data)


def may_setgroups(world, ns: int) -> bool:
    """userns_may_setgroups: the gid map is written and setgroups is allowed."""
    U = world.user_namespaces
    return ns == INIT_USER_NS or (bool(U.gid_extents[ns]) and bool(U.setgroups_ok[ns]))


__all__ = ["INIT_USER_NS", "CredView", "init_namespace", "extents", "to_kid", "from_kid",
           "munged", "uid_of", "gid_of", "cred_view", "cap_capable", "ns_capable", "create",
           "enter", "is_ancestor", "show_map", "write_map", "setgroups_text", "open_setgroups",
           "write_setgroups", "may_setgroups"]
