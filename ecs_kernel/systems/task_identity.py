"""Credentials: user and group ids, capabilities, securebits (gVisor task_identity.go; Linux
kernel/sys.c set*id, kernel/cred.c commit_creds, kernel/capability.c, security/commoncap.c).

A task's credentials are its TaskCreds and TaskCaps columns (components/task.py). Every change
goes through :func:`_commit`, which does what Linux's commit_creds does beside the new values:

- the per-user process count (``world.index.nproc``, what RLIMIT_NPROC is checked against) moves
  with the real uid, so a task is always released under the uid it is charged to;
- a change of euid, egid, fsuid or fsgid, or a permitted set that is no longer a subset of the
  old one, makes the process not dumpable and clears the parent-death signal.

Capabilities follow uid changes as commoncap's cap_emulate_setxuid does (unless
SECURE_NO_SETUID_FIXUP): leaving uid 0 in every one of r/e/s uid clears the permitted and
effective sets (kept with SECURE_KEEP_CAPS) and the ambient set; euid 0 -> non-0 clears the
effective set, non-0 -> 0 raises it to the permitted set; fsuid changes drop or raise CAP_FS_MASK.
exec applies cap_bprm_creds_from_file for files without file capabilities or set-user-ID bits
(:func:`exec_creds`).

User namespaces (systems/user_namespace.py): the id columns hold kernel ids; the ids a caller
names are its namespace's (mapped with make_kuid: EINVAL when unmapped), "root" is whatever its
namespace's uid 0 maps to, and CAP_SETUID/CAP_SETGID are checked in the caller's own namespace
(ns_capable_setid). :func:`capable` is Linux's capable(): the initial namespace.
"""
from __future__ import annotations

from ..abi import (CAP_FS_MASK, CAP_FULL_SET, CAP_LAST_CAP, CAP_SETGID, CAP_SETPCAP, CAP_SETUID,
                   CAP_SYS_PTRACE,
                   SECBIT_KEEP_CAPS, SECURE_ALL_BITS, SECURE_ALL_LOCKS, SECURE_KEEP_CAPS,
                   SECURE_NO_CAP_AMBIENT_RAISE, SECURE_NO_SETUID_FIXUP, SECURE_NOROOT)
from ..components import pidns
from ..components.user_namespace import GID, UID
from ..errors import E, KernelError
from . import user_namespace as userns

NO_ID = 0xFFFF_FFFF  # (uid_t)-1: "unchanged" for set*id, an invalid id for setuid/setgid
SUID_DUMP_DISABLE = 0  # fs.suid_dumpable's default: what a credential change sets dumpable to
SUID_DUMP_USER = 1  # get_dumpable(): the memory may be dumped and traced by its owner

UIDS = ("ruid", "euid", "suid", "fsuid")
GIDS = ("rgid", "egid", "sgid", "fsgid")
CAPS = ("cap_effective", "cap_permitted", "cap_inheritable", "cap_bset", "cap_ambient")


# -- reading ----------------------------------------------------------------------------------------

def capable(world, t: int, cap: int) -> bool:
    """Linux capable(): does task ``t`` hold ``cap`` in the initial user namespace?"""
    T = world.tasks
    if int(T.userns[t]) == userns.INIT_USER_NS:
        return bool((int(T.cap_effective[t]) >> cap) & 1)
    return userns.ns_capable(world, t, userns.INIT_USER_NS, cap)


def own_capable(world, t: int, cap: int) -> bool:
    """ns_capable(current_user_ns(), cap): ``cap`` in the task's own user namespace (what
    the set*id calls, capset and friends check)."""
    return bool((int(world.tasks.cap_effective[t]) >> cap) & 1)


def ns_capable(world, t: int, ns: int, cap: int) -> bool:
    """ns_capable(ns, cap): ``cap`` in user namespace ``ns``."""
    return userns.ns_capable(world, t, ns, cap)


def _root_uid(world, t: int) -> int:
    """make_kuid(user_ns, 0): the kernel uid of root in ``t``'s user namespace (INVALID_ID,
    matching nobody, when 0 is unmapped)."""
    return userns.to_kid(world, int(world.tasks.userns[t]), UID, 0)


def _kid(world, t: int, which: int, ident: int) -> int:
    """make_kuid/make_kgid in ``t``'s namespace (INVALID_ID for -1 or an unmapped id)."""
    ident &= NO_ID
    if ident == NO_ID:
        return NO_ID
    return userns.to_kid(world, int(world.tasks.userns[t]), which, ident)


def _issecure(world, t: int, bit: int) -> bool:
    return bool((int(world.tasks.securebits[t]) >> bit) & 1)


def _snapshot(world, t: int) -> dict[str, int]:
    T = world.tasks
    return {c: int(getattr(T, c)[t]) for c in (*UIDS, *GIDS, *CAPS, "securebits")}


def init_creds(world, t: int, uid: int, gid: int) -> None:
    """The credentials of a first task: every id ``uid``/``gid``; root (uid 0) holds every
    capability (init's full sets), anyone else none."""
    T = world.tasks
    for c in UIDS:
        getattr(T, c)[t] = uid
    for c in GIDS:
        getattr(T, c)[t] = gid
    full = CAP_FULL_SET if uid == 0 else 0
    T.cap_effective[t] = T.cap_permitted[t] = full
    T.cap_inheritable[t] = T.cap_ambient[t] = 0
    T.cap_bset[t] = CAP_FULL_SET
    T.securebits[t] = 0


# -- commit_creds ---------------------------------------------------------------------------------

def new_creds(world, t: int) -> None:
    """Task ``t`` has a new struct cred (what file->f_cred comparisons see)."""
    world.tasks.cred_seq[t] += 1


def _commit(world, t: int, old: dict[str, int], new: dict[str, int]) -> None:
    """Write ``new`` (a full snapshot) over task ``t``'s credentials, as commit_creds."""
    T = world.tasks
    if new["ruid"] != old["ruid"]:
        nproc = world.index.nproc
        nproc[new["ruid"]] = nproc.get(new["ruid"], 0) + 1
        left = nproc.get(old["ruid"], 0) - 1
        if left > 0:
            nproc[old["ruid"]] = left
        else:
            nproc.pop(old["ruid"], None)
    for c, v in new.items():
        getattr(T, c)[t] = v
    new_creds(world, t)
    if (new["euid"] != old["euid"] or new["egid"] != old["egid"] or new["fsuid"] != old["fsuid"]
            or new["fsgid"] != old["fsgid"]
            or new["cap_permitted"] & ~old["cap_permitted"]):
        mm = int(T.mm[t])
        if mm >= 0:
            world.address_spaces.dumpable[mm] = SUID_DUMP_DISABLE
        T.pdeath_signal[t] = 0


def _fix_setuid(world, t: int, old: dict[str, int], new: dict[str, int]) -> None:
    """cap_task_fix_setuid for LSM_SETID_ID/RE/RES: cap_emulate_setxuid, then the fsuid rule."""
    if _issecure(world, t, SECURE_NO_SETUID_FIXUP):
        return
    root = _root_uid(world, t)
    was_root = root in (old["ruid"], old["euid"], old["suid"])
    is_root = root in (new["ruid"], new["euid"], new["suid"])
    if was_root and not is_root:
        if not _issecure(world, t, SECURE_KEEP_CAPS):
            new["cap_permitted"] = 0
            new["cap_effective"] = 0
        new["cap_ambient"] = 0
    if old["euid"] == root and new["euid"] != root:
        new["cap_effective"] = 0
    if old["euid"] != root and new["euid"] == root:
        new["cap_effective"] = new["cap_permitted"]


def _fix_setfsuid(world, t: int, old: dict[str, int], new: dict[str, int]) -> None:
    """cap_task_fix_setuid for LSM_SETID_FS: CAP_FS_MASK follows fsuid to and from 0."""
    if _issecure(world, t, SECURE_NO_SETUID_FIXUP):
        return
    root = _root_uid(world, t)
    if old["fsuid"] == root and new["fsuid"] != root:
        new["cap_effective"] &= ~CAP_FS_MASK
    if old["fsuid"] != root and new["fsuid"] == root:
        new["cap_effective"] |= new["cap_permitted"] & CAP_FS_MASK


# -- user ids ---------------------------------------------------------------------------------------

def _checked(world, t: int, which: int, ids: tuple[int, ...]) -> tuple[int, ...]:
    """The kernel ids of set*id's arguments: -1 stays -1 (unchanged), an id without a mapping
    in the caller's namespace is EINVAL."""
    out = []
    for ident in ids:
        ident &= NO_ID
        k = _kid(world, t, which, ident)
        if ident != NO_ID and k == NO_ID:
            raise KernelError(E.EINVAL, f"id {ident} has no mapping")
        out.append(k)
    return tuple(out)


def setuid(world, t: int, uid: int) -> None:
    """setuid(2): with CAP_SETUID every uid; otherwise the effective (and filesystem) uid, to the
    real or saved uid only. (uid_t)-1 and a uid without a mapping are EINVAL."""
    uid = _kid(world, t, UID, uid)
    if uid == NO_ID:
        raise KernelError(E.EINVAL, "setuid(-1) or an unmapped uid")
    old = _snapshot(world, t)
    new = dict(old)
    if own_capable(world, t, CAP_SETUID):
        new["ruid"] = new["suid"] = uid
    elif uid not in (old["ruid"], old["suid"]):
        raise KernelError(E.EPERM, "setuid without CAP_SETUID")
    new["euid"] = new["fsuid"] = uid
    _fix_setuid(world, t, old, new)
    _commit(world, t, old, new)


def setreuid(world, t: int, ruid: int, euid: int) -> None:
    """setreuid(2): -1 keeps an id. The saved uid becomes the new euid when the real uid is set or
    the euid is set to something other than the old real uid."""
    ruid, euid = _checked(world, t, UID, (ruid, euid))
    old = _snapshot(world, t)
    new = dict(old)
    priv = own_capable(world, t, CAP_SETUID)
    if ruid != NO_ID:
        if ruid not in (old["ruid"], old["euid"]) and not priv:
            raise KernelError(E.EPERM, "setreuid: real uid")
        new["ruid"] = ruid
    if euid != NO_ID:
        if euid not in (old["ruid"], old["euid"], old["suid"]) and not priv:
            raise KernelError(E.EPERM, "setreuid: effective uid")
        new["euid"] = euid
    if ruid != NO_ID or (euid != NO_ID and euid != old["ruid"]):
        new["suid"] = new["euid"]
    new["fsuid"] = new["euid"]
    _fix_setuid(world, t, old, new)
    _commit(world, t, old, new)


def setresuid(world, t: int, ruid: int, euid: int, suid: int) -> None:
    """setresuid(2): -1 keeps an id; without CAP_SETUID each new id must be one of the three."""
    vals = _checked(world, t, UID, (ruid, euid, suid))
    old = _snapshot(world, t)
    cur = (old["ruid"], old["euid"], old["suid"])
    if any(v != NO_ID and v not in cur for v in vals) and not own_capable(world, t, CAP_SETUID):
        raise KernelError(E.EPERM, "setresuid without CAP_SETUID")
    new = dict(old)
    for c, v in zip(("ruid", "euid", "suid"), vals):
        if v != NO_ID:
            new[c] = v
    new["fsuid"] = new["euid"]
    _fix_setuid(world, t, old, new)
    _commit(world, t, old, new)


def setfsuid(world, t: int, uid: int) -> int:
    """setfsuid(2): returns the old fsuid; changes it only to one of the task's uids (or any with
    CAP_SETUID). -1 or an unmapped uid only asks. The old fsuid is the caller's view of it."""
    uid = _kid(world, t, UID, uid)
    old = _snapshot(world, t)
    shown = userns.uid_of(world, t, old["fsuid"])
    if uid == NO_ID or uid == old["fsuid"]:
        return shown
    if uid in (old["ruid"], old["euid"], old["suid"]) or own_capable(world, t, CAP_SETUID):
        new = dict(old)
        new["fsuid"] = uid
        _fix_setfsuid(world, t, old, new)
        _commit(world, t, old, new)
    return shown


# -- group ids ----------------------------------------------------------------------------------------

def setgid(world, t: int, gid: int) -> None:
    """setgid(2), as setuid with CAP_SETGID."""
    gid = _kid(world, t, GID, gid)
    if gid == NO_ID:
        raise KernelError(E.EINVAL, "setgid(-1) or an unmapped gid")
    old = _snapshot(world, t)
    new = dict(old)
    if own_capable(world, t, CAP_SETGID):
        new["rgid"] = new["sgid"] = gid
    elif gid not in (old["rgid"], old["sgid"]):
        raise KernelError(E.EPERM, "setgid without CAP_SETGID")
    new["egid"] = new["fsgid"] = gid
    _commit(world, t, old, new)


def setregid(world, t: int, rgid: int, egid: int) -> None:
    """setregid(2), as setreuid with CAP_SETGID."""
    rgid, egid = _checked(world, t, GID, (rgid, egid))
    old = _snapshot(world, t)
    new = dict(old)
    priv = own_capable(world, t, CAP_SETGID)
    if rgid != NO_ID:
        if rgid not in (old["rgid"], old["egid"]) and not priv:
            raise KernelError(E.EPERM, "setregid: real gid")
        new["rgid"] = rgid
    if egid != NO_ID:
        if egid not in (old["rgid"], old["egid"], old["sgid"]) and not priv:
            raise KernelError(E.EPERM, "setregid: effective gid")
        new["egid"] = egid
    if rgid != NO_ID or (egid != NO_ID and egid != old["rgid"]):
        new["sgid"] = new["egid"]
    new["fsgid"] = new["egid"]
    _commit(world, t, old, new)


def setresgid(world, t: int, rgid: int, egid: int, sgid: int) -> None:
    """setresgid(2), as setresuid with CAP_SETGID."""
    vals = _checked(world, t, GID, (rgid, egid, sgid))
    old = _snapshot(world, t)
    cur = (old["rgid"], old["egid"], old["sgid"])
    if any(v != NO_ID and v not in cur for v in vals) and not own_capable(world, t, CAP_SETGID):
        raise KernelError(E.EPERM, "setresgid without CAP_SETGID")
    new = dict(old)
    for c, v in zip(("rgid", "egid", "sgid"), vals):
        if v != NO_ID:
            new[c] = v
    new["fsgid"] = new["egid"]
    _commit(world, t, old, new)


def setfsgid(world, t: int, gid: int) -> int:
    """setfsgid(2): returns the old fsgid (as setfsuid, with CAP_SETGID)."""
    gid = _kid(world, t, GID, gid)
    old = _snapshot(world, t)
    shown = userns.gid_of(world, t, old["fsgid"])
    if gid == NO_ID or gid == old["fsgid"]:
        return shown
    if gid in (old["rgid"], old["egid"], old["sgid"]) or own_capable(world, t, CAP_SETGID):
        new = dict(old)
        new["fsgid"] = gid
        _commit(world, t, old, new)
    return shown


# -- capabilities -----------------------------------------------------------------------------------

def cap_target(world, t: int, pid: int) -> int:
    """cap_get_target_pid: the caller for 0 or its own tid, else the thread ``pid`` (ESRCH)."""
    if pid == 0 or pid == own_tid(world, t):
        return t
    target = pidns.task_by_tid(world, int(world.tasks.ns[t]), pid)
    if target < 0 or not world.tasks.alive[target]:
        raise KernelError(E.ESRCH, f"no thread {pid}")
    return target


def own_tid(world, t: int) -> int:
    """The caller's thread id in its own namespace (task_pid_vnr(current))."""
    return pidns.tid_in(world, t, int(world.tasks.ns[t]))


def capget(world, t: int, pid: int) -> tuple[int, int, int]:
    """capget(2): (effective, permitted, inheritable) of the thread ``pid`` (0: the caller)."""
    if pid < 0:
        raise KernelError(E.EINVAL, "negative pid")
    r = cap_target(world, t, pid)
    T = world.tasks
    return int(T.cap_effective[r]), int(T.cap_permitted[r]), int(T.cap_inheritable[r])


def capset(world, t: int, effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) on the caller (cap_capset's rules): the new inheritable set within the old
    inheritable and permitted sets (unless CAP_SETPCAP) and the bounding set, the new permitted
    set within the old one, the new effective set within the new permitted one."""
    effective &= CAP_FULL_SET
    permitted &= CAP_FULL_SET
    inheritable &= CAP_FULL_SET
    old = _snapshot(world, t)
    if not own_capable(world, t, CAP_SETPCAP) and \
            inheritable & ~(old["cap_inheritable"] | old["cap_permitted"]):
        raise KernelError(E.EPERM, "new inheritable capabilities outside the permitted set")
    if inheritable & ~(old["cap_inheritable"] | old["cap_bset"]):
        raise KernelError(E.EPERM, "new inheritable capabilities outside the bounding set")
    if permitted & ~old["cap_permitted"]:
        raise KernelError(E.EPERM, "new permitted capabilities")
    if effective & ~permitted:
        raise KernelError(E.EPERM, "effective capabilities outside the permitted set")
    new = dict(old)
    new["cap_effective"], new["cap_permitted"], new["cap_inheritable"] = \
        effective, permitted, inheritable
    new["cap_ambient"] = old["cap_ambient"] & permitted & inheritable
    _commit(world, t, old, new)


def _valid_cap(cap: int) -> None:
    if not 0 <= cap <= CAP_LAST_CAP:
        raise KernelError(E.EINVAL, f"no capability {cap}")


def capbset_read(world, t: int, cap: int) -> int:
    """PR_CAPBSET_READ."""
    _valid_cap(cap)
    return (int(world.tasks.cap_bset[t]) >> cap) & 1


def capbset_drop(world, t: int, cap: int) -> None:
    """PR_CAPBSET_DROP: needs CAP_SETPCAP."""
    _valid_cap(cap)
    if not own_capable(world, t, CAP_SETPCAP):
        raise KernelError(E.EPERM, "PR_CAPBSET_DROP without CAP_SETPCAP")
    old = _snapshot(world, t)
    new = dict(old)
    new["cap_bset"] &= ~(1 << cap)
    _commit(world, t, old, new)


def cap_ambient(world, t: int, op: int, cap: int) -> int:
    """PR_CAP_AMBIENT: IS_SET (1), RAISE (2: the capability must be permitted and inheritable,
    and SECURE_NO_CAP_AMBIENT_RAISE unset), LOWER (3), CLEAR_ALL (4: ``cap`` must be 0)."""
    old = _snapshot(world, t)
    new = dict(old)
    if op == 4:
        if cap:
            raise KernelError(E.EINVAL, "PR_CAP_AMBIENT_CLEAR_ALL with an argument")
        new["cap_ambient"] = 0
        _commit(world, t, old, new)
        return 0
    _valid_cap(cap)
    bit = 1 << cap
    if op == 1:
        return int(bool(old["cap_ambient"] & bit))
    if op == 2:
        if not (old["cap_permitted"] & old["cap_inheritable"] & bit) \
                or _issecure(world, t, SECURE_NO_CAP_AMBIENT_RAISE):
            raise KernelError(E.EPERM, "cannot raise that ambient capability")
        new["cap_ambient"] |= bit
    elif op == 3:
        new["cap_ambient"] &= ~bit
    else:
        raise KernelError(E.EINVAL, f"PR_CAP_AMBIENT operation {op}")
    _commit(world, t, old, new)
    return 0


def set_keepcaps(world, t: int, on: int) -> None:
    """PR_SET_KEEPCAPS: 0 or 1; EPERM when SECURE_KEEP_CAPS is locked."""
    if on not in (0, 1):
        raise KernelError(E.EINVAL, "PR_SET_KEEPCAPS takes 0 or 1")
    T = world.tasks
    if _issecure(world, t, SECURE_KEEP_CAPS + 1):
        raise KernelError(E.EPERM, "SECURE_KEEP_CAPS is locked")
    bits = int(T.securebits[t])
    T.securebits[t] = (bits | SECBIT_KEEP_CAPS) if on else (bits & ~SECBIT_KEEP_CAPS)
    new_creds(world, t)


def set_securebits(world, t: int, bits: int) -> None:
    """PR_SET_SECUREBITS (cap_task_prctl): EPERM for a change of a locked bit, a lock removed, an
    unknown bit, or a caller without CAP_SETPCAP."""
    T = world.tasks
    old = int(T.securebits[t])
    if (((old & SECURE_ALL_LOCKS) >> 1) & (old ^ bits)
            or old & SECURE_ALL_LOCKS & ~bits
            or bits & ~(SECURE_ALL_BITS | SECURE_ALL_LOCKS)
            or not own_capable(world, t, CAP_SETPCAP)):
        raise KernelError(E.EPERM, "securebits change not permitted")
    T.securebits[t] = bits
    new_creds(world, t)


# -- execve -------------------------------------------------------------------------------------------

def exec_creds(world, t: int) -> None:
    """The credentials an execve of a file without file capabilities or set-ID bits gives
    (cap_bprm_creds_from_file): root (a real or effective uid 0, without SECURE_NOROOT) gets
    permitted = bounding | inheritable, effective too when its euid is 0; anyone else keeps only
    the ambient set. With no_new_privs a gain is cut back to the old permitted set (and the euid
    to the real uid). The saved and filesystem ids become the effective ones; SECURE_KEEP_CAPS is
    cleared."""
    T = world.tasks
    old = _snapshot(world, t)
    new = dict(old)
    effective = False
    new["cap_permitted"] = 0
    root = _root_uid(world, t)  # make_kuid(new->user_ns, 0)
    if not _issecure(world, t, SECURE_NOROOT):
        if root in (new["euid"], new["ruid"]):
            new["cap_permitted"] = old["cap_bset"] | old["cap_inheritable"]
        if new["euid"] == root:
            effective = True
    gained = bool(new["cap_permitted"] & ~old["cap_permitted"])
    if gained and T.no_new_privs[t]:
        new["euid"], new["egid"] = new["ruid"], new["rgid"]
        new["cap_permitted"] &= old["cap_permitted"]
    new["suid"] = new["fsuid"] = new["euid"]
    new["sgid"] = new["fsgid"] = new["egid"]
    new["cap_permitted"] |= new["cap_ambient"]
    new["cap_effective"] = new["cap_permitted"] if effective else new["cap_ambient"]
    new["securebits"] &= ~SECBIT_KEEP_CAPS
    _commit(world, t, old, new)  # begin_new_exec then judges the new image's dumpability


# -- supplementary groups ----------------------------------------------------------------------------

def groups_of(world, task: int) -> tuple[int, ...]:
    """The supplementary groups of ``task``, sorted (getgroups(2))."""
    lists = world.index.group_lists
    i = int(world.tasks.groups[task])
    return lists[i] if 0 <= i < len(lists) else ()


def set_groups(world, task: int, gids) -> None:
    """set_current_groups: ``task``'s supplementary groups become ``gids``, sorted as
    groups_sort sorts them; the list is kept once however many tasks hold it."""
    lists = world.index.group_lists
    key = tuple(sorted(int(g) for g in gids))
    try:
        i = lists.index(key)
    except ValueError:
        lists.append(key)
        i = len(lists) - 1
    world.tasks.groups[task] = i
    new_creds(world, task)


def may_access(world, caller: int, target: int, fscreds: bool = False) -> bool:
    """__ptrace_may_access(target, mode) from ``caller``, the one check of ptrace attach,
    get_robust_list,
    pidfd_getfd, setns by pidfd, process_vm_*v and kcmp (gVisor: kernel/ptrace.go CanTrace).

    A thread of the same group may; else the caller's real ids (its fs ids with
    PTRACE_MODE_FSCREDS: ``fscreds``) must be the target's real, effective and saved ones, or
    it holds CAP_SYS_PTRACE in the target's user namespace; then the target's memory must be
    dumpable (PR_SET_DUMPABLE, cleared by a credential change) unless the caller holds
    CAP_SYS_PTRACE over it; and commoncap's cap_ptrace_access_check: in the target's own user
    namespace the target's permitted set must be within the caller's (effective with FSCREDS,
    else permitted), or the caller holds CAP_SYS_PTRACE there. Yama is not modelled (as
    ptrace_scope 0); the READ and ATTACH modes differ only for it."""
    T = world.tasks
    if int(T.tg[caller]) == int(T.tg[target]):
        return True
    uid, gid = (int(T.fsuid[caller]), int(T.fsgid[caller])) if fscreds else \
        (int(T.ruid[caller]), int(T.rgid[caller]))
    ns = int(T.userns[target])
    cap = ns_capable(world, caller, ns, CAP_SYS_PTRACE)
    same = all(int(c[target]) == uid for c in (T.ruid, T.euid, T.suid)) and \
        all(int(c[target]) == gid for c in (T.rgid, T.egid, T.sgid))
    if not same and not cap:
        return False
    mm = int(T.mm[target])
    if mm >= 0 and int(world.address_spaces.dumpable[mm]) != SUID_DUMP_USER and not cap:
        return False
    caller_caps = int(T.cap_effective[caller] if fscreds else T.cap_permitted[caller])
    if int(T.userns[caller]) == ns and not int(T.cap_permitted[target]) & ~caller_caps:
        return True
    return cap


__all__ = ["capable", "may_access", "own_capable", "ns_capable", "init_creds", "setuid", "setreuid", "setresuid", "setfsuid", "setgid",
           "setregid", "setresgid", "setfsgid", "own_tid", "capget", "capset", "cap_target", "capbset_read",
           "capbset_drop", "cap_ambient", "set_keepcaps", "set_securebits", "exec_creds",
           "NO_ID"]
