"""System information: uname, sysinfo, getrandom, syslog, sethostname/setdomainname.

gVisor: ``sys_utsname.go``, ``sys_sysinfo.go``, ``sys_random.go``. uname reads the task's UTS
namespace row (components/uts.py).
"""
from __future__ import annotations

import struct

from ..abi import (CAP_SYS_ADMIN, FSHIFT, GRND_INSECURE, GRND_NONBLOCK, GRND_RANDOM, NEW_UTS_LEN,
                   NSEC_PER_SEC, SI_LOAD_SHIFT)
from ..errors import E, KernelError
from ..systems.task_identity import ns_capable
from .context import s32, u32
from .registry import FULL, PARTIAL, syscall

# Memory, as sysinfo(2) and /proc/meminfo report it: nominal figures (guest memory is host
# buffers the kernel does not count against a total).
MEMORY_TOTAL = 4 << 30
MEMORY_FREE = MEMORY_TOTAL // 2

SYSNAME = b"Linux"
RELEASE = b"6.1.0-ecs-kernel"
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
    raw = b"".join(_field(x) for x in (SYSNAME, host, RELEASE, VERSION, MACHINE, dom))
    t.mm.copy_out(buf, raw)
    return 0


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


@syscall("sysinfo", PARTIAL, "uptime, loads and task count are the kernel's; memory figures are "
         "nominal (MEMORY_TOTAL, MEMORY_FREE)", args=("osysinfo",))
def sysinfo(t, info):
    """Implements sysinfo(2): what /proc/uptime, /proc/loadavg and /proc/meminfo say."""
    m = t.machine
    m.sync_clock()
    up = m.monotonic_ns() // NSEC_PER_SEC
    m.sample_load()
    loads = [x << (SI_LOAD_SHIFT - FSHIFT) for x in t.world.index.avenrun]
    procs = m.task_counts()[2]
    raw = struct.pack("<q3Q6QHHxxxxQQI", up, *loads, MEMORY_TOTAL, MEMORY_FREE, 0, 0, 0, 0,
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


@syscall("personality", PARTIAL, "PER_LINUX only", args=("x",))
def personality(t, persona):
    """Implements personality(2): query (0xffffffff) or set PER_LINUX."""
    return 0
