"""System information: uname, sysinfo, getrandom, syslog, sethostname/setdomainname.

gVisor: ``sys_utsname.go``, ``sys_sysinfo.go``, ``sys_random.go``. uname reads the task's UTS
namespace row (components/uts.py).
"""
from __future__ import annotations

import struct

from ..abi import (CAP_SYS_ADMIN, FSHIFT, GRND_INSECURE, GRND_NONBLOCK, GRND_RANDOM, NEW_UTS_LEN,
                   NSEC_PER_SEC, PER_LINUX32, PER_MASK, SI_LOAD_SHIFT, UNAME26)
from ..errors import E, KernelError
from ..systems.task_identity import ns_capable
from .context import s32, u32
from .registry import FULL, PARTIAL, syscall


SYSNAME = b"Linux"
# The one kernel version ecs-kernel reports (uname, /proc/version, /proc/sys/kernel/osrelease):
# the newest whose behaviour it models and its guest tests are checked against (6.18). The
# version-dependent rules follow it: IN_OPEN before an O_TRUNC open's IN_MODIFY (6.5),
# CLONE_PIDFD with CLONE_THREAD (6.9), eventfd writes of exactly 8 bytes (6.9),
# linkat(AT_EMPTY_PATH) without CAP_DAC_READ_SEARCH for the opener (6.10), sched_getattr's fair
# runtime, the slice (6.12), F_SEAL_GROW's refused partial write (6.12), read-only shared maps
# of a write-sealed memfd (6.13), pidfds of pids an exec moved (6.15), SO_PASSCRED outside
# AF_UNIX (6.16).
RELEASE = b"6.18.0-ecs-kernel"
VERSION = b"#1 SMP ecs-kernel"
MACHINE = b"x86_64"


def _field(b: bytes) -> bytes:
    return b[:NEW_UTS_LEN].ljust(NEW_UTS_LEN + 1, b"\0")


@syscall("uname", FULL, "hostname and domain name from the UTS namespace", args=("outsname",))
def uname(t, buf):
    """Implements uname(2)."""
    U = t.world.uts_namespaces
    u = int(t.world.tasks.uts[t.row])
    host = bytes(U.hostname[u]) if u >= 0 else b"ecs-kernel"
    dom = bytes(U.domainname[u]) if u >= 0 else b"(none)"
    persona = int(t.world.tasks.personality[t.row])
    release = _uname26(RELEASE) if persona & UNAME26 else RELEASE
    machine = b"i686" if persona & PER_MASK == PER_LINUX32 else MACHINE  # override_architecture
    raw = b"".join(_field(x) for x in (SYSNAME, host, release, VERSION, machine, dom))
    t.mm.copy_out(buf, raw)
    return 0


def _uname26(release: bytes) -> bytes:
    """override_release: "2.6.(60 + the minor version)" and what follows the version numbers."""
    i, dots = 0, 0
    while i < len(release):
        c = release[i:i + 1]
        if c == b"." and dots + 1 >= 3:
            break
        dots += c == b"."
        if not c.isdigit() and c != b".":
            break
        i += 1
    minor = int(release.split(b".")[1])
    return b"2.6.%d" % (minor + 60) + release[i:]


def _set_uts(t, col: str, name: int, length: int) -> int:
    w = t.world
    owner = int(w.uts_namespaces.userns[int(w.tasks.uts[t.row])])
    if not ns_capable(w, t.row, owner, CAP_SYS_ADMIN):  # the UTS namespace's owner
        raise KernelError(E.EPERM)
    n = s32(length)
    if not 0 <= n <= NEW_UTS_LEN:
        raise KernelError(E.EINVAL)
    value = t.mm.copy_in(name, n)
    U = t.world.uts_namespaces
    getattr(U, col)[int(t.world.tasks.uts[t.row])] = value
    return 0


@syscall("sethostname", FULL, args=("b1", "i"))
def sethostname(t, name, length):
    """Implements sethostname(2)."""
    return _set_uts(t, "hostname", name, length)


@syscall("setdomainname", FULL, args=("b1", "i"))
def setdomainname(t, name, length):
    """Implements setdomainname(2)."""
    return _set_uts(t, "domainname", name, length)


@syscall("sysinfo", FULL, "the machine is run --memory's size; free is what its guests do not "
         "hold; no swap", args=("osysinfo",))
def sysinfo(t, info):
    """Implements sysinfo(2): what /proc/uptime, /proc/loadavg and /proc/meminfo say."""
    m = t.machine
    m.sync_clock()
    up = m.monotonic_ns() // NSEC_PER_SEC
    m.sample_load()
    loads = [x << (SI_LOAD_SHIFT - FSHIFT) for x in t.world.index.avenrun]
    procs = m.task_counts()[2]
    total, free, shared = m.memory_totals()
    raw = struct.pack("<q3Q6QHHxxxxQQI", up, *loads, total, free, shared, 0, 0, 0,
                      procs, 0, 0, 0, 1)
    t.mm.copy_out(info, raw.ljust(112, b"\0"))
    return 0


@syscall("getrandom", FULL, "bytes from the machine's RNG (seeded in deterministic runs)",
         args=("ox1", "u", "grnd"))
def getrandom(t, buf, count, flags):
    """Implements getrandom(2)."""
    flags = u32(flags)
    if flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) or \
            flags & (GRND_RANDOM | GRND_INSECURE) == GRND_RANDOM | GRND_INSECURE:
        raise KernelError(E.EINVAL)
    n = min(count, 0x1FF_FFFF)  # Linux returns at most 32 MiB - 1 per call
    if n >> 63:
        raise KernelError(E.EINVAL)
    if n and not t.mm.access_ok(buf, n, write=True):
        raise KernelError(E.EFAULT)
    t.mm.copy_out(buf, t.machine.random_bytes(n))
    return n


@syscall("syslog", PARTIAL, "an empty kernel log", args=("i", "p", "i"))
def syslog(t, type_, buf, length):
    """Implements syslog(2)."""
    ty = s32(type_)
    if ty in (2, 3, 4):  # READ, READ_ALL, READ_CLEAR
        if s32(length) < 0:
            raise KernelError(E.EINVAL)
        return 0
    if ty in (0, 1, 5, 6, 7, 8, 9, 10):
        return 0
    raise KernelError(E.EINVAL)


@syscall("personality", FULL, "kept per task, inherited, READ_IMPLIES_EXEC dropped by exec; "
         "UNAME26 and PER_LINUX32 change uname, READ_IMPLIES_EXEC mmap and mprotect, "
         "STICKY_TIMEOUTS select and poll, ADDR_COMPAT_LAYOUT and MMAP_PAGE_ZERO the next exec; "
         "the layout is never randomized, with or without ADDR_NO_RANDOMIZE", args=("x",))
def personality(t, persona):
    """Implements personality(2): 0xffffffff asks; any other value is the new personality (Linux
    takes every value). Returns the old one."""
    T = t.world.tasks
    old = int(T.personality[t.row])
    persona = u32(persona)
    if persona != 0xFFFF_FFFF:
        T.personality[t.row] = persona
    return old