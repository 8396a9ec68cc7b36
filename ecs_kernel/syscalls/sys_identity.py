"""Credentials: user and group ids, supplementary groups, capabilities.

gVisor: ``sys_identity.go``, ``sys_capability.go``. The rules live in systems/task_identity.py;
these handlers copy arguments in and results out. Ids and capabilities are per thread, as in
Linux (glibc's setuid and friends change every thread with its SIGSETXID broadcast).
"""
from __future__ import annotations

import struct

from ..abi import (CAP_SETGID, LINUX_CAPABILITY_VERSION_1, LINUX_CAPABILITY_VERSION_2,
                   LINUX_CAPABILITY_VERSION_3)
from ..errors import E, KernelError
from ..components.user_namespace import GID, UID
from ..systems import task_identity as ident
from ..systems import user_namespace as userns
from .context import s32, u32
from .registry import FULL, syscall

_IDS_NOTE = ("ids through the caller's user namespace's maps (EINVAL when unmapped); "
             "capabilities follow uid changes as Linux's commoncap")


def _getter(name, col):
    which = GID if col.endswith("gid") else UID

    def handler(t):
        w = t.world
        return userns.munged(w, int(w.tasks.userns[t.row]), which, int(getattr(w.tasks, col)[t.row]))
    handler.__name__ = name
    handler.__doc__ = f"Implements {name}(2)."
    return handler


for _n, _c in (("getuid", "ruid"), ("geteuid", "euid"), ("getgid", "rgid"), ("getegid", "egid")):
    syscall(_n, FULL)(_getter(_n, _c))


def _get3(t, a, b, c, cols):
    w, r = t.world, t.row
    T = w.tasks
    which = GID if cols[0].endswith("gid") else UID
    ns = int(T.userns[r])
    for addr, col in zip((a, b, c), cols):
        t.mm.copy_out(addr, struct.pack("<I", userns.munged(w, ns, which, int(getattr(T, col)[r]))))
    return 0


@syscall("getresuid", FULL, args=("oint", "oint", "oint"))
def getresuid(t, r, e, s):
    """Implements getresuid(2)."""
    return _get3(t, r, e, s, ("ruid", "euid", "suid"))


@syscall("getresgid", FULL, args=("oint", "oint", "oint"))
def getresgid(t, r, e, s):
    """Implements getresgid(2)."""
    return _get3(t, r, e, s, ("rgid", "egid", "sgid"))


@syscall("setuid", FULL, _IDS_NOTE, args=("i",))
def setuid(t, uid):
    """Implements setuid(2)."""
    ident.setuid(t.world, t.row, u32(uid))
    return 0


@syscall("setgid", FULL, _IDS_NOTE, args=("i",))
def setgid(t, gid):
    """Implements setgid(2)."""
    ident.setgid(t.world, t.row, u32(gid))
    return 0


@syscall("setreuid", FULL, _IDS_NOTE, args=("i", "i"))
def setreuid(t, ruid, euid):
    """Implements setreuid(2)."""
    ident.setreuid(t.world, t.row, u32(ruid), u32(euid))
    return 0


@syscall("setregid", FULL, _IDS_NOTE, args=("i", "i"))
def setregid(t, rgid, egid):
    """Implements setregid(2)."""
    ident.setregid(t.world, t.row, u32(rgid), u32(egid))
    return 0


@syscall("setresuid", FULL, _IDS_NOTE, args=("i", "i", "i"))
def setresuid(t, r, e, s):
    """Implements setresuid(2)."""
    ident.setresuid(t.world, t.row, u32(r), u32(e), u32(s))
    return 0


@syscall("setresgid", FULL, _IDS_NOTE, args=("i", "i", "i"))
def setresgid(t, r, e, s):
    """Implements setresgid(2)."""
    ident.setresgid(t.world, t.row, u32(r), u32(e), u32(s))
    return 0


@syscall("setfsuid", FULL, _IDS_NOTE, args=("i",))
def setfsuid(t, uid):
    """Implements setfsuid(2): returns the old fsuid."""
    return ident.setfsuid(t.world, t.row, u32(uid))


@syscall("setfsgid", FULL, _IDS_NOTE, args=("i",))
def setfsgid(t, gid):
    """Implements setfsgid(2): returns the old fsgid."""
    return ident.setfsgid(t.world, t.row, u32(gid))


@syscall("getgroups", FULL, args=("i", "p"))
def getgroups(t, size, lst):
    """Implements getgroups(2): the count when ``size`` is 0, EINVAL when the list does not
    fit, EFAULT for a list it cannot write."""
    size = s32(size)
    if size < 0:
        raise KernelError(E.EINVAL)
    # from_kgid_munged: as the caller's user namespace sees them
    groups = [userns.gid_of(t.world, t.row, g) for g in ident.groups_of(t.world, t.row)]
    if size == 0:
        return len(groups)
    if size < len(groups):
        raise KernelError(E.EINVAL)
    if groups:
        t.mm.copy_out(lst, struct.pack(f"<{len(groups)}I", *groups))
    return len(groups)


@syscall("setgroups", FULL, "the calling thread's list (glibc makes every thread call it), kept "
         "as kernel gids; CAP_SETGID in the caller's user namespace, setgroups allowed there and "
         "its gid map written", args=("i", "p"))
def setgroups(t, size, lst):
    """Implements setgroups(2): may_setgroups (EPERM), at most NGROUPS_MAX (EINVAL), the list
    read (EFAULT) and every gid mapped in the caller's namespace (EINVAL) before it replaces
    the caller's."""
    w, r = t.world, t.row
    ns = int(w.tasks.userns[r])
    if not ident.own_capable(w, r, CAP_SETGID) or not userns.may_setgroups(w, ns):
        raise KernelError(E.EPERM)
    n = s32(size)
    if not 0 <= n <= 65536:
        raise KernelError(E.EINVAL)
    kgids = []
    for g in struct.unpack(f"<{n}I", t.mm.copy_in(lst, 4 * n)) if n else ():
        k = userns.to_kid(w, ns, GID, g)
        if k == ident.NO_ID:
            raise KernelError(E.EINVAL, f"gid {g} has no mapping")
        kgids.append(k)
    ident.set_groups(w, r, kgids)
    return 0


# -- capabilities ------------------------------------------------------------------------------------

def _cap_header(t, hdr) -> tuple[int, int]:
    """cap_validate_magic: (how many 32-bit words of each set, the header's pid). An unknown
    version is answered with the one we speak, written into the header, and EINVAL."""
    version = struct.unpack("<I", t.mm.copy_in(hdr, 4))[0]
    if version == LINUX_CAPABILITY_VERSION_1:
        words = 1
    elif version in (LINUX_CAPABILITY_VERSION_2, LINUX_CAPABILITY_VERSION_3):
        words = 2
    else:
        t.mm.copy_out(hdr, struct.pack("<I", LINUX_CAPABILITY_VERSION_3))
        raise KernelError(E.EINVAL, f"capability version {version:#x}")
    return words, struct.unpack("<i", t.mm.copy_in(hdr + 4, 4))[0]


@syscall("capget", FULL, "the effective, permitted and inheritable sets of any thread",
         args=("p", "p"))
def capget(t, hdr, data):
    """Implements capget(2). A NULL data pointer only checks the version (0 even for an unknown
    one, whose answer is in the header)."""
    try:
        words, pid = _cap_header(t, hdr)
    except KernelError as e:
        if e.errno == E.EINVAL and not data:
            return 0
        raise
    if not data:
        return 0
    eff, perm, inh = ident.capget(t.world, t.row, pid)
    out = b"".join(struct.pack("<III", (eff >> s) & 0xFFFF_FFFF, (perm >> s) & 0xFFFF_FFFF,
                               (inh >> s) & 0xFFFF_FFFF) for s in (0, 32)[:words])
    t.mm.copy_out(data, out)
    return 0


@syscall("capset", FULL, "the caller's own sets, with commoncap's rules", args=("p", "p"))
def capset(t, hdr, data):
    """Implements capset(2): only the caller (pid 0 or its own thread id; else EPERM)."""
    words, pid = _cap_header(t, hdr)
    if pid != 0 and pid != ident.own_tid(t.world, t.row):
        raise KernelError(E.EPERM, "capset on another thread")
    raw = t.mm.copy_in(data, 12 * words) + bytes(12 * (2 - words))
    lo, hi = struct.unpack("<III", raw[:12]), struct.unpack("<III", raw[12:24])
    eff, perm, inh = (lo[i] | hi[i] << 32 for i in range(3))
    ident.capset(t.world, t.row, eff, perm, inh)
    return 0
