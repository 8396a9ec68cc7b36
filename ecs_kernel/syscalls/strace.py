"""``ecs-kernel run --strace``: each guest syscall printed as ``strace -f`` prints it.

One line per call::

    [pid N] HH:MM:SS.uuuuuu name(arg, arg, ...)      = result

The arguments are decoded by their kinds, which the syscall table holds (``args`` of each row,
registered with ``@syscall`` in the ``sys_<family>.py`` modules; :data:`KINDS` below says what each
kind prints): signed ints, flags by name (``O_RDONLY|O_CLOEXEC``, ``PROT_READ|PROT_WRITE``,
``CLONE_VM|...``), signal names and sets (``[USR1 TERM]``), clock ids, futex operations, strings
quoted and cut at 32 bytes, structures (``{tv_sec=0, tv_nsec=1000}``, ``{st_mode=S_IFREG|0644,
st_size=3, ...}``), pointers in hex or ``NULL``. Arguments the call fills in are printed when it
returns (``read(3, "data", 100) = 4``), the others when it is entered. The result is aligned at
column 40 and an error is ``-1 ENOENT (No such file or directory)``.

What strace does around the lines, this does too:

- a call that blocks leaves its line open; a line from another task closes it with
  ``<unfinished ...>``, and the call's return is then ``<... name resumed>...) = result``;
- a blocked call a signal interrupts ends as Linux's syscall exit shows it, with the restart code
  (``= ? ERESTARTSYS (To be restarted if SA_RESTART is set)``); the conversion to EINTR happens
  in signal delivery (``rt_sigreturn({mask=[]}) = -1 EINTR``);
- ``--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER, ...} ---`` when a signal is delivered, and
  ``+++ exited with N +++`` / ``+++ killed by SIGTERM +++`` when a task ends;
- every task is traced, as with ``strace -f``: lines carry ``[pid N]`` while more than one task is
  alive; written to a file (``-o FILE``), every line starts with the pid;
- ``-e trace=SET`` (:func:`parse_trace`: names, classes such as ``%file`` or ``%process``,
  ``/regex``, ``!`` to invert, ``all``, ``none``) chooses the calls printed; ``-t``, ``-tt``,
  ``-ttt`` put the time (the guest's CLOCK_REALTIME) in front.

``ecs-kernel run`` adds one line of its own at the end, on stderr: the unimplemented syscalls the
program met (``ecs-kernel: unimplemented syscalls: rseq(334) x1``).
"""
from __future__ import annotations

import ipaddress
import os
import re
import struct
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import abi
from ..abi import (AT_FDCWD, Block, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID, CLONE_PARENT_SETTID,
                   CLONE_PIDFD, CLONE_SETTLS, CSIGNAL, EINTR, ERESTART_RESTARTBLOCK, ERESTARTNOHAND,
                   ERESTARTNOINTR, ERESTARTSYS, ERRNO_NAMES, FUTEX_BITSET_MATCH_ANY,
                   FUTEX_CLOCK_REALTIME, FUTEX_PRIVATE_FLAG, NSIG, O_ACCMODE, O_CREAT, O_TMPFILE,
                   RLIM_INFINITY, S_IFBLK, S_IFCHR, S_IFMT, SA_RESTORER, SI_KERNEL, SIGCHLD,
                   SIGRTMIN, TIMER_ABSTIME)
from ..errors import KernelError
from .context import s32, s64
from .table import CLASSES, MAX_NR, NAMES, name_of, number_of

MASK64 = (1 << 64) - 1
MAX_STRLEN = 32  # strace's default -s: bytes of a string, elements of an array
ALIGN = 40  # strace's default -a: the column of " = result"


# -- names of Linux's numbers (their values are abi.py's) ------------------------------------------

def _flags(*names: str, rename=None) -> tuple[tuple[int, str], ...]:
    """Flag bits in the order strace prints them (``rename``: where strace spells one otherwise)."""
    return tuple((getattr(abi, n), (rename or {}).get(n, n)) for n in names)


def _enum(*names: str) -> dict[int, str]:
    return {getattr(abi, n): n for n in names}


SIGNAL_NAMES = _enum(
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
    "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD",
    "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ",
    "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS")
OPEN_FLAGS = _flags("O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND", "O_NONBLOCK", "O_SYNC",
                    "O_DSYNC", "O_DIRECT", "O_LARGEFILE", "O_NOFOLLOW", "O_NOATIME", "O_CLOEXEC",
                    "O_PATH", "O_TMPFILE", "O_DIRECTORY", "O_ASYNC", rename={"O_ASYNC": "FASYNC"})
ACCESS_MODES = ("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE")
PROT_FLAGS = _flags("PROT_READ", "PROT_WRITE", "PROT_EXEC", "PROT_SEM", "PROT_GROWSDOWN",
                    "PROT_GROWSUP")
MAP_TYPES = _enum("MAP_SHARED", "MAP_PRIVATE", "MAP_SHARED_VALIDATE")
MAP_FLAGS = _flags("MAP_FIXED", "MAP_ANONYMOUS", "MAP_32BIT", "MAP_GROWSDOWN", "MAP_DENYWRITE",
                   "MAP_EXECUTABLE", "MAP_LOCKED", "MAP_NORESERVE", "MAP_POPULATE",
                   "MAP_NONBLOCK", "MAP_STACK", "MAP_HUGETLB", "MAP_SYNC", "MAP_FIXED_NOREPLACE",
                   "MAP_UNINITIALIZED")
CLONE_FLAGS = _flags("CLONE_VM", "CLONE_FS", "CLONE_FILES", "CLONE_SIGHAND", "CLONE_PIDFD",
                     "CLONE_PTRACE", "CLONE_VFORK", "CLONE_PARENT", "CLONE_THREAD",
                     "CLONE_NEWNS", "CLONE_SYSVSEM", "CLONE_SETTLS", "CLONE_PARENT_SETTID",
                     "CLONE_CHILD_CLEARTID", "CLONE_UNTRACED",
                     "CLONE_CHILD_SETTID", "CLONE_NEWCGROUP", "CLONE_NEWUTS", "CLONE_NEWIPC",
                     "CLONE_NEWUSER", "CLONE_NEWPID", "CLONE_NEWNET", "CLONE_IO")
SA_FLAGS = _flags("SA_RESTORER", "SA_ONSTACK", "SA_RESTART", "SA_NODEFER", "SA_RESETHAND",
                  "SA_SIGINFO", "SA_NOCLDSTOP", "SA_NOCLDWAIT")
SIG_HOW = _enum("SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK")
SIG_HANDLERS = _enum("SIG_DFL", "SIG_IGN")
CLOCKS = _enum("CLOCK_REALTIME", "CLOCK_MONOTONIC", "CLOCK_PROCESS_CPUTIME_ID",
               "CLOCK_THREAD_CPUTIME_ID", "CLOCK_MONOTONIC_RAW", "CLOCK_REALTIME_COARSE",
               "CLOCK_MONOTONIC_COARSE", "CLOCK_BOOTTIME", "CLOCK_REALTIME_ALARM",
               "CLOCK_BOOTTIME_ALARM", "CLOCK_TAI")
CPUCLOCKS = ("CPUCLOCK_PROF", "CPUCLOCK_VIRT", "CPUCLOCK_SCHED")
FUTEX_CMDS = _enum("FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_FD", "FUTEX_REQUEUE", "FUTEX_CMP_REQUEUE",
                   "FUTEX_WAKE_OP", "FUTEX_LOCK_PI", "FUTEX_UNLOCK_PI", "FUTEX_TRYLOCK_PI",
                   "FUTEX_WAIT_BITSET", "FUTEX_WAKE_BITSET", "FUTEX_WAIT_REQUEUE_PI",
                   "FUTEX_CMP_REQUEUE_PI", "FUTEX_LOCK_PI2")
FUTEX_OPS = _enum("FUTEX_OP_SET", "FUTEX_OP_ADD", "FUTEX_OP_OR", "FUTEX_OP_ANDN", "FUTEX_OP_XOR")
FUTEX_CMPS = _enum("FUTEX_OP_CMP_EQ", "FUTEX_OP_CMP_NE", "FUTEX_OP_CMP_LT", "FUTEX_OP_CMP_LE",
                   "FUTEX_OP_CMP_GT", "FUTEX_OP_CMP_GE")
SEEK_WHENCE = _enum("SEEK_SET", "SEEK_CUR", "SEEK_END", "SEEK_DATA", "SEEK_HOLE")
ACCESS_FLAGS = _flags("R_OK", "W_OK", "X_OK")
AT_FLAGS = _flags("AT_SYMLINK_NOFOLLOW", "AT_REMOVEDIR", "AT_SYMLINK_FOLLOW", "AT_NO_AUTOMOUNT",
                  "AT_EMPTY_PATH", "AT_STATX_FORCE_SYNC", "AT_STATX_DONT_SYNC")
FACCESSAT_FLAGS = _flags("AT_SYMLINK_NOFOLLOW", "AT_EACCESS", "AT_EMPTY_PATH")
UNLINKAT_FLAGS = _flags("AT_REMOVEDIR")
STATX_SYNC = _enum("AT_STATX_SYNC_AS_STAT", "AT_STATX_FORCE_SYNC", "AT_STATX_DONT_SYNC")
STATX_AT_FLAGS = _flags("AT_SYMLINK_NOFOLLOW", "AT_NO_AUTOMOUNT", "AT_EMPTY_PATH")
STATX_MASK = _flags("STATX_BASIC_STATS", "STATX_TYPE", "STATX_MODE", "STATX_NLINK", "STATX_UID",
                    "STATX_GID", "STATX_ATIME", "STATX_MTIME", "STATX_CTIME", "STATX_INO",
                    "STATX_SIZE", "STATX_BLOCKS", "STATX_BTIME", "STATX_MNT_ID", "STATX_DIOALIGN")
RENAME_FLAGS = _flags("RENAME_NOREPLACE", "RENAME_EXCHANGE", "RENAME_WHITEOUT")
WAIT_FLAGS = _flags("WNOHANG", "WUNTRACED", "WEXITED", "WCONTINUED", "WNOWAIT", "WNOTHREAD",
                    "WALL", "WCLONE")
WAIT_NAMES = {"WNOTHREAD": "__WNOTHREAD", "WALL": "__WALL", "WCLONE": "__WCLONE"}
ID_TYPES = _enum("P_ALL", "P_PID", "P_PGID")
RLIMITS = _enum("RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE",
                "RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS",
                "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE",
                "RLIMIT_RTPRIO", "RLIMIT_RTTIME")
RUSAGE_WHO = _enum("RUSAGE_SELF", "RUSAGE_CHILDREN", "RUSAGE_THREAD")
ARCH_CODES = _enum("ARCH_SET_GS", "ARCH_SET_FS", "ARCH_GET_FS", "ARCH_GET_GS", "ARCH_GET_CPUID",
                   "ARCH_SET_CPUID")
MADVICE = _enum("MADV_NORMAL", "MADV_RANDOM", "MADV_SEQUENTIAL", "MADV_WILLNEED",
                "MADV_DONTNEED", "MADV_FREE", "MADV_REMOVE", "MADV_DONTFORK", "MADV_DOFORK",
                "MADV_MERGEABLE", "MADV_UNMERGEABLE", "MADV_HUGEPAGE", "MADV_NOHUGEPAGE",
                "MADV_DONTDUMP", "MADV_DODUMP", "MADV_WIPEONFORK", "MADV_KEEPONFORK", "MADV_COLD",
                "MADV_PAGEOUT", "MADV_POPULATE_READ", "MADV_POPULATE_WRITE",
                "MADV_DONTNEED_LOCKED", "MADV_COLLAPSE", "MADV_HWPOISON", "MADV_SOFT_OFFLINE",
                "MADV_GUARD_INSTALL", "MADV_GUARD_REMOVE")
MREMAP_FLAGS = _flags("MREMAP_MAYMOVE", "MREMAP_FIXED", "MREMAP_DONTUNMAP")
MSYNC_FLAGS = _flags("MS_ASYNC", "MS_INVALIDATE", "MS_SYNC")
GRND_FLAGS = _flags("GRND_NONBLOCK", "GRND_RANDOM", "GRND_INSECURE")
FCNTL_CMDS = _enum("F_DUPFD", "F_GETFD", "F_SETFD", "F_GETFL", "F_SETFL", "F_GETLK", "F_SETLK",
                   "F_SETLKW", "F_SETOWN", "F_GETOWN", "F_SETSIG", "F_GETSIG", "F_OFD_GETLK",
                   "F_OFD_SETLK", "F_OFD_SETLKW", "F_DUPFD_CLOEXEC", "F_SETPIPE_SZ",
                   "F_GETPIPE_SZ", "F_ADD_SEALS", "F_GET_SEALS")
FD_FLAGS = _flags("FD_CLOEXEC")
LOCK_OPS = _flags("LOCK_SH", "LOCK_EX", "LOCK_UN", "LOCK_NB")
ADDRESS_FAMILIES = _enum("AF_UNSPEC", "AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET")
SOCK_TYPES = _enum("SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_RDM", "SOCK_SEQPACKET",
                   "SOCK_PACKET")
SOCK_FLAGS = _flags("SOCK_CLOEXEC", "SOCK_NONBLOCK")
SHUT_HOW = _enum("SHUT_RD", "SHUT_WR", "SHUT_RDWR")
MSG_FLAGS = _flags("MSG_OOB", "MSG_PEEK", "MSG_DONTROUTE", "MSG_CTRUNC", "MSG_TRUNC",
                   "MSG_DONTWAIT", "MSG_EOR", "MSG_WAITALL", "MSG_CONFIRM", "MSG_ERRQUEUE",
                   "MSG_NOSIGNAL", "MSG_MORE", "MSG_WAITFORONE", "MSG_CMSG_CLOEXEC")
IP_PROTOCOLS = _enum("IPPROTO_IP", "IPPROTO_ICMP", "IPPROTO_TCP", "IPPROTO_UDP", "IPPROTO_IPV6",
                     "IPPROTO_ICMPV6", "IPPROTO_RAW")
SOCKOPT_LEVELS = {abi.SOL_SOCKET: "SOL_SOCKET", abi.IPPROTO_IP: "SOL_IP",
                  abi.IPPROTO_TCP: "SOL_TCP", abi.IPPROTO_UDP: "SOL_UDP",
                  abi.IPPROTO_IPV6: "SOL_IPV6"}
SOCKOPT_NAMES = {
    abi.SOL_SOCKET: _enum("SO_DEBUG", "SO_REUSEADDR", "SO_TYPE", "SO_ERROR", "SO_DONTROUTE",
                          "SO_BROADCAST", "SO_SNDBUF", "SO_RCVBUF", "SO_KEEPALIVE",
                          "SO_OOBINLINE", "SO_NO_CHECK", "SO_PRIORITY", "SO_LINGER",
                          "SO_BSDCOMPAT", "SO_REUSEPORT", "SO_PASSCRED", "SO_PEERCRED",
                          "SO_RCVLOWAT", "SO_SNDLOWAT", "SO_RCVTIMEO", "SO_SNDTIMEO",
                          "SO_BINDTODEVICE", "SO_TIMESTAMP", "SO_ACCEPTCONN", "SO_SNDBUFFORCE",
                          "SO_RCVBUFFORCE", "SO_PASSSEC", "SO_MARK", "SO_PROTOCOL", "SO_DOMAIN",
                          "SO_RXQ_OVFL", "SO_PEEK_OFF", "SO_BUSY_POLL", "SO_INCOMING_CPU",
                          "SO_ZEROCOPY"),
    abi.IPPROTO_TCP: _enum("TCP_NODELAY", "TCP_MAXSEG", "TCP_CORK", "TCP_KEEPIDLE",
                           "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_SYNCNT", "TCP_LINGER2",
                           "TCP_DEFER_ACCEPT", "TCP_WINDOW_CLAMP", "TCP_INFO", "TCP_QUICKACK",
                           "TCP_USER_TIMEOUT", "TCP_FASTOPEN", "TCP_NOTSENT_LOWAT"),
    abi.IPPROTO_IP: _enum("IP_TOS", "IP_TTL", "IP_HDRINCL", "IP_OPTIONS", "IP_PKTINFO",
                          "IP_MTU_DISCOVER", "IP_RECVERR", "IP_RECVTTL", "IP_RECVTOS",
                          "IP_FREEBIND", "IP_MULTICAST_TTL", "IP_MULTICAST_LOOP"),
    abi.IPPROTO_IPV6: _enum("IPV6_UNICAST_HOPS", "IPV6_MULTICAST_HOPS", "IPV6_MULTICAST_LOOP",
                            "IPV6_V6ONLY", "IPV6_RECVPKTINFO", "IPV6_TCLASS"),
}
SCM_TYPES = _enum("SCM_RIGHTS", "SCM_CREDENTIALS")
EPOLL_OPS = _enum("EPOLL_CTL_ADD", "EPOLL_CTL_DEL", "EPOLL_CTL_MOD")
EVENTFD_FLAGS = _flags("EFD_SEMAPHORE", "O_NONBLOCK", "O_CLOEXEC")
EVENTFD_NAMES = {"O_NONBLOCK": "EFD_NONBLOCK", "O_CLOEXEC": "EFD_CLOEXEC"}
MFD_FLAGS = _flags("MFD_CLOEXEC", "MFD_ALLOW_SEALING", "MFD_HUGETLB", "MFD_NOEXEC_SEAL",
                   "MFD_EXEC")
ITIMERS = _enum("ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF")
TIMER_FLAGS = _flags("TIMER_ABSTIME")
IOCTLS = _enum("TCGETS", "TCSETS", "TCSETSW", "TCSETSF", "TIOCGPGRP", "TIOCSPGRP", "TIOCGWINSZ",
               "TIOCSWINSZ", "TIOCSCTTY", "TIOCNOTTY", "TIOCGSID", "FIONREAD", "FIONBIO",
               "FIONCLEX", "FIOCLEX")
PRCTL_OPTIONS = _enum("PR_SET_PDEATHSIG", "PR_GET_PDEATHSIG", "PR_GET_DUMPABLE",
                      "PR_SET_DUMPABLE", "PR_SET_NAME", "PR_GET_NAME", "PR_GET_SECCOMP",
                      "PR_SET_SECCOMP", "PR_CAPBSET_READ", "PR_SET_CHILD_SUBREAPER",
                      "PR_GET_CHILD_SUBREAPER", "PR_SET_NO_NEW_PRIVS", "PR_GET_NO_NEW_PRIVS",
                      "PR_SET_VMA", "PR_SET_TIMERSLACK", "PR_GET_TIMERSLACK", "PR_GET_TID_ADDRESS",
                      "PR_SET_THP_DISABLE", "PR_GET_THP_DISABLE")
PRIO_WHICH = _enum("PRIO_PROCESS", "PRIO_PGRP", "PRIO_USER")
CLOSE_RANGE_FLAGS = _flags("CLOSE_RANGE_UNSHARE", "CLOSE_RANGE_CLOEXEC")
FILE_TYPES = _enum("S_IFSOCK", "S_IFLNK", "S_IFREG", "S_IFBLK", "S_IFDIR", "S_IFCHR", "S_IFIFO")
SI_CODES = _enum("SI_USER", "SI_KERNEL", "SI_QUEUE", "SI_TIMER", "SI_MESGQ", "SI_ASYNCIO",
                 "SI_SIGIO", "SI_TKILL", "SI_DETHREAD")
SIGNAL_CODES = {  # the si_codes of signals the kernel raises (si_code > 0)
    abi.SIGILL: _enum("ILL_ILLOPC", "ILL_ILLOPN", "ILL_ILLADR", "ILL_ILLTRP", "ILL_PRVOPC",
                      "ILL_PRVREG", "ILL_COPROC", "ILL_BADSTK"),
    abi.SIGFPE: _enum("FPE_INTDIV", "FPE_INTOVF", "FPE_FLTDIV", "FPE_FLTOVF", "FPE_FLTUND",
                      "FPE_FLTRES", "FPE_FLTINV", "FPE_FLTSUB"),
    abi.SIGSEGV: _enum("SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR"),
    abi.SIGBUS: _enum("BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR"),
    abi.SIGTRAP: _enum("TRAP_BRKPT", "TRAP_TRACE"),
    abi.SIGCHLD: _enum("CLD_EXITED", "CLD_KILLED", "CLD_DUMPED", "CLD_TRAPPED", "CLD_STOPPED",
                       "CLD_CONTINUED"),
}
FAULT_SIGNALS = (abi.SIGILL, abi.SIGFPE, abi.SIGSEGV, abi.SIGBUS, abi.SIGTRAP)
RESTART_CODES = {  # what strace shows for the kernel's restart codes
    ERESTARTSYS: "ERESTARTSYS (To be restarted if SA_RESTART is set)",
    ERESTARTNOINTR: "ERESTARTNOINTR (To be restarted)",
    ERESTARTNOHAND: "ERESTARTNOHAND (To be restarted if no handler)",
    ERESTART_RESTARTBLOCK: "ERESTART_RESTARTBLOCK (Interrupted by signal)",
}


def flags(v: int, table, zero: str = "0") -> str:
    """``A|B|0x...`` as strace prints a flag word (``zero`` when nothing is set)."""
    parts = []
    for bit, name in table:
        if bit and v & bit == bit:
            parts.append(name)
            v &= ~bit
    if v:
        parts.append(hex(v))
    return "|".join(parts) if parts else zero


def enum(v: int, table: dict, unknown: str = "d") -> str:
    """The name of ``v``, or the number (decimal, or hex with ``unknown="x"``)."""
    if v in table:
        return table[v]
    return hex(v) if unknown == "x" else str(v)


def signal_name(signo: int) -> str:
    """``SIGUSR1``; real-time signals as strace names them (``SIGRTMIN``, ``SIGRT_1``)."""
    if signo in SIGNAL_NAMES:
        return SIGNAL_NAMES[signo]
    if signo == SIGRTMIN:
        return "SIGRTMIN"
    if SIGRTMIN < signo <= NSIG:
        return f"SIGRT_{signo - SIGRTMIN}"
    return str(signo)


def sigset(mask: int, nsig: int = NSIG) -> str:
    """``[USR1 TERM]``, or ``~[...]`` (what is not in it) when more than half is set."""
    mask &= (1 << nsig) - 1
    inverted = mask.bit_count() > nsig // 2
    if inverted:
        mask = ~mask & ((1 << nsig) - 1)
    names = []
    for signo in range(1, nsig + 1):
        if mask >> (signo - 1) & 1:
            name = signal_name(signo)
            names.append(name.removeprefix("SIG"))
    return ("~[" if inverted else "[") + " ".join(names) + "]"


def errno_text(e: int) -> str:
    """``ENOENT (No such file or directory)``."""
    name = ERRNO_NAMES[e] if 0 < e < len(ERRNO_NAMES) and ERRNO_NAMES[e] else f"errno {e}"
    return f"{name} ({os.strerror(e)})"


def quote(data: bytes, *, more: bool = False, force_hex: bool = False) -> str:
    """A byte string as strace quotes it: printable ASCII as is, C escapes for the usual
    controls, octal for the rest (three digits when an octal digit follows); ``...`` after the
    closing quote when the string went on (``more``)."""
    out = ['"']
    n = len(data)
    for i, c in enumerate(data):
        if force_hex:
            out.append(f"\\x{c:02x}")
        elif c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif 0x20 <= c <= 0x7E:
            out.append(chr(c))
        elif i + 1 < n and 0x30 <= data[i + 1] <= 0x37:
            out.append(f"\\{c:03o}")
        else:
            out.append(f"\\{c:o}")
    out.append('"')
    if more:
        out.append("...")
    return "".join(out)


_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\", ord("\f"): "\\f", ord("\n"): "\\n",
            ord("\r"): "\\r", ord("\t"): "\\t", ord("\v"): "\\v"}


def hex0(v: int) -> str:
    """C's ``%#x``: ``0`` for zero."""
    return hex(v) if v else "0"


def pointer(v: int) -> str:
    return hex(v) if v else "NULL"


def octal(v: int) -> str:
    return f"0{v:o}" if v else "000"


# -- a call being printed -------------------------------------------------------------------------

class Call:
    """One syscall of one task while it is printed: its arguments, and at exit its result."""

    __slots__ = ("args", "block", "nr", "rerun", "ret", "task", "timed")

    def __init__(self, task, nr: int, args):
        self.task = task
        self.nr = nr
        self.args = tuple(args)
        self.ret: int | None = None  # the result, once the call returns
        self.block = Block.NONE  # what it blocked on (Block.*), if it did
        self.rerun = False  # woken from an I/O wait: the call runs again, its line stays open
        self.timed = False  # blocked with a timeout

    @property
    def name(self) -> str:
        return name_of(self.nr)

    # memory of the caller; None when it cannot be read (strace then prints the address)
    def read(self, addr: int, n: int) -> bytes | None:
        if not addr:
            return None
        try:
            return self.task.mm.copy_in(addr, n)
        except (KernelError, ValueError, OverflowError):
            return None

    def unpack(self, addr: int, layout: struct.Struct) -> tuple | None:
        data = self.read(addr, layout.size)
        return None if data is None else layout.unpack(data)

    def cstring(self, addr: int, limit: int | None = MAX_STRLEN) -> str:
        """A NUL-terminated string, cut at ``limit`` bytes (None: a path, printed whole)."""
        if not addr:
            return "NULL"
        maxlen = abi.PATH_MAX if limit is None else limit + 1
        try:
            data = self.task.mm.copy_in_string(addr, maxlen)
            more = False
        except KernelError:
            data = self._prefix(addr, maxlen)
            if data is None:
                return hex(addr)
            more = True
        if limit is not None and len(data) > limit:
            data, more = data[:limit], True
        return quote(data, more=more)

    def _prefix(self, addr: int, maxlen: int) -> bytes | None:
        """The readable bytes at ``addr`` before the first NUL, up to ``maxlen`` (a string that
        runs into unmapped memory, or longer than ``maxlen``)."""
        out = bytearray()
        while len(out) < maxlen:
            b = self.read(addr + len(out), 1)
            if b is None or b == b"\0":
                break
            out += b
        return bytes(out) if out else None


# -- argument kinds --------------------------------------------------------------------------------
# Each kind is (phase, fmt): fmt(call, i) is the text of argument i (None: left out). Phase "in":
# printed when the call is entered; "out": when it returns (the call fills it in: on an error it is
# the address); "split": a decoder of the whole call that prints its part at entry and at exit
# (call.ret None at entry). Kinds ending in a number name another argument: ``b2`` is a buffer of
# argument 2's length. Kinds starting with "@" take no register (rt_sigreturn's frame).

def _int(c, i):
    return str(s32(c.args[i]))


def _long(c, i):
    return str(s64(c.args[i]))


def _unsigned(c, i):
    return str(c.args[i] & MASK64)


def _hex(c, i):
    return hex0(c.args[i] & MASK64)


def _ptr(c, i):
    return pointer(c.args[i])


def _fd(c, i):
    return str(s32(c.args[i]))


def _dirfd(c, i):
    v = s32(c.args[i])
    return "AT_FDCWD" if v == AT_FDCWD else str(v)


def _mode(c, i):
    return octal(c.args[i] & 0o7777)


def _path(c, i):
    return c.cstring(c.args[i], None)


def _string(c, i):
    return c.cstring(c.args[i])


def _buffer(c, i, n: int, hexed: bool = False):
    addr = c.args[i]
    data = c.read(addr, min(n, MAX_STRLEN))
    if data is None:
        return pointer(addr)
    return quote(data, more=n > MAX_STRLEN, force_hex=hexed)


def _in_buffer(k):
    return lambda c, i: _buffer(c, i, c.args[k] & MASK64)


def _out_buffer(hexed=False):
    def fmt(c, i):
        if c.ret is None or c.ret < 0:
            return pointer(c.args[i])
        return _buffer(c, i, c.ret, hexed)
    return fmt


def _open_flags(c, i):
    return open_flags(c.args[i])


def open_flags(v: int) -> str:
    v &= 0xFFFF_FFFF
    acc = ACCESS_MODES[v & O_ACCMODE]
    rest = flags(v & ~O_ACCMODE, OPEN_FLAGS, "")
    return f"{acc}|{rest}" if rest else acc


def _file_mode(c, i):
    """mknod's mode: the file type's name and the permission bits (``S_IFIFO|0644``)."""
    m = c.args[i] & 0xFFFF
    kind = {abi.S_IFREG: "S_IFREG", abi.S_IFCHR: "S_IFCHR", abi.S_IFBLK: "S_IFBLK",
            abi.S_IFIFO: "S_IFIFO", abi.S_IFSOCK: "S_IFSOCK", abi.S_IFDIR: "S_IFDIR"}.get(m & abi.S_IFMT)
    if kind is None:
        return octal(m)
    return f"{kind}|{octal(m & 0o7777)}"


def _file_dev(c, i):
    """mknod's dev, which strace prints only for a device node: ``makedev(0x1, 0x3)``."""
    if c.args[i - 1] & abi.S_IFMT not in (abi.S_IFCHR, abi.S_IFBLK):
        return None
    dev = c.args[i] & 0xFFFF_FFFF
    major, minor = (dev & 0xFFF00) >> 8, (dev & 0xFF) | ((dev >> 12) & 0xFFF00)
    return f"makedev({major:#x}, {minor:#x})"


def _creat_mode(c, i):
    """open's mode, which strace prints only when a file may be created."""
    fl = c.args[i - 1]
    return _mode(c, i) if fl & O_CREAT or fl & O_TMPFILE == O_TMPFILE else None


def _prot(c, i):
    return flags(c.args[i] & 0xFFFF_FFFF, PROT_FLAGS, "PROT_NONE")


def _mmap_flags(c, i):
    v = c.args[i] & 0xFFFF_FFFF
    kind = enum(v & abi.MAP_TYPE, MAP_TYPES, "x")
    rest = flags(v & ~abi.MAP_TYPE, MAP_FLAGS, "")
    return f"{kind}|{rest}" if rest else kind


def _signo(c, i):
    return signal_name(s32(c.args[i]))


def _sighow(c, i):
    return enum(s32(c.args[i]), SIG_HOW)


def _sigset_in(c, i):
    data = c.read(c.args[i], 8)
    return pointer(c.args[i]) if data is None else sigset(struct.unpack("<Q", data)[0])


_SIGACTION = struct.Struct("<QQQQ")  # the kernel's struct sigaction: handler, flags, restorer, mask


def _sigaction_in(c, i):
    v = c.unpack(c.args[i], _SIGACTION)
    if v is None:
        return pointer(c.args[i])
    handler, fl, restorer, mask = v
    h = SIG_HANDLERS.get(handler, hex(handler))
    out = f"{{sa_handler={h}, sa_mask={sigset(mask)}, sa_flags={flags(fl, SA_FLAGS)}"
    if fl & SA_RESTORER:
        out += f", sa_restorer={pointer(restorer)}"
    return out + "}"


def _clockid(c, i):
    return clock_name(s32(c.args[i]))


def clock_name(v: int) -> str:
    if v >= 0:
        return CLOCKS.get(v, str(v))
    kind = v & abi.CPUCLOCK_CLOCK_MASK
    cpu = CPUCLOCKS[kind] if kind < len(CPUCLOCKS) else str(kind)
    who = ~(v >> 3)
    macro = "THREAD" if v & abi.CPUCLOCK_PERTHREAD_MASK else "PROCESS"
    return f"MAKE_{macro}_CPUCLOCK({who}, {cpu})"


_TIMESPEC = struct.Struct("<qq")


def timespec(c, addr: int, usec: bool = False) -> str:
    v = c.unpack(addr, _TIMESPEC)
    if v is None:
        return pointer(addr)
    return f"{{tv_sec={v[0]}, {'tv_usec' if usec else 'tv_nsec'}={v[1]}}}"


def _timespec(c, i):
    return timespec(c, c.args[i])


def _timeval(c, i):
    return timespec(c, c.args[i], usec=True)


_ITIMERVAL = struct.Struct("<qqqq")


def _itimerval(c, i):
    v = c.unpack(c.args[i], _ITIMERVAL)
    if v is None:
        return pointer(c.args[i])
    return (f"{{it_interval={{tv_sec={v[0]}, tv_usec={v[1]}}}, "
            f"it_value={{tv_sec={v[2]}, tv_usec={v[3]}}}}}")


def _itimerspec(c, i):
    v = c.unpack(c.args[i], _ITIMERVAL)
    if v is None:
        return pointer(c.args[i])
    return (f"{{it_interval={{tv_sec={v[0]}, tv_nsec={v[1]}}}, "
            f"it_value={{tv_sec={v[2]}, tv_nsec={v[3]}}}}}")


def _rlim(v: int, infinity: str) -> str:
    if v == RLIM_INFINITY:
        return infinity
    if v > 1024 and v % 1024 == 0:
        return f"{v // 1024}*1024"
    return str(v)


def _rlimit(infinity):
    def fmt(c, i):
        v = c.unpack(c.args[i], struct.Struct("<QQ"))
        if v is None:
            return pointer(c.args[i])
        return f"{{rlim_cur={_rlim(v[0], infinity)}, rlim_max={_rlim(v[1], infinity)}}}"
    return fmt


def _stat(c, i):
    v = c.unpack(c.args[i], _STAT)
    if v is None:
        return pointer(c.args[i])
    mode, rdev, size = v
    ftype = FILE_TYPES.get(mode & S_IFMT, octal(mode & S_IFMT))
    out = f"{{st_mode={ftype}|{octal(mode & 0o7777)}, "
    if mode & S_IFMT in (S_IFCHR, S_IFBLK):
        major = ((rdev >> 8) & 0xFFF) | ((rdev >> 32) & ~0xFFF)
        minor = (rdev & 0xFF) | ((rdev >> 12) & ~0xFF)
        out += f"st_rdev=makedev({major:#x}, {minor:#x}), ...}}"
    else:
        out += f"st_size={size}, ...}}"
    return out


_STAT = struct.Struct("<24xI12xQq")  # struct stat: st_mode at 24, st_rdev at 40, st_size at 48


def _statx_flags(c, i):
    v = c.args[i] & 0xFFFF_FFFF
    sync = enum(v & abi.AT_STATX_SYNC_TYPE, STATX_SYNC, "x")
    rest = flags(v & ~abi.AT_STATX_SYNC_TYPE, STATX_AT_FLAGS, "")
    return f"{sync}|{rest}" if rest else sync


_STATX = struct.Struct("<I4xQ12xH10xQ")  # stx_mask, stx_attributes, stx_mode, stx_size


def _statx(c, i):
    v = c.unpack(c.args[i], _STATX)
    if v is None:
        return pointer(c.args[i])
    mask, attributes, mode, size = v
    ftype = FILE_TYPES.get(mode & S_IFMT, octal(mode & S_IFMT))
    return (f"{{stx_mask={flags(mask, STATX_MASK)}, stx_attributes={hex0(attributes)}, "
            f"stx_mode={ftype}|{octal(mode & 0o7777)}, stx_size={size}, ...}}")


_SYSINFO = struct.Struct("<q3Q6QH6xQQI")


def _sysinfo(c, i):
    v = c.unpack(c.args[i], _SYSINFO)
    if v is None:
        return pointer(c.args[i])
    (uptime, l1, l2, l3, total, free, shared, buffer, swap, freeswap, procs, high, freehigh,
     unit) = v
    return (f"{{uptime={uptime}, loads=[{l1}, {l2}, {l3}], totalram={total}, freeram={free}, "
            f"sharedram={shared}, bufferram={buffer}, totalswap={swap}, freeswap={freeswap}, "
            f"procs={procs}, totalhigh={high}, freehigh={freehigh}, mem_unit={unit}}}")


def _wstatus(c, i):
    if c.ret is None or c.ret <= 0:
        return pointer(c.args[i])
    data = c.read(c.args[i], 4)
    if data is None:
        return pointer(c.args[i])
    return f"[{wait_status(struct.unpack('<i', data)[0])}]"


def wait_status(s: int) -> str:
    """``{WIFEXITED(s) && WEXITSTATUS(s) == 3}`` and its kin."""
    low = s & 0x7F
    if low == 0:
        out = f"WIFEXITED(s) && WEXITSTATUS(s) == {(s >> 8) & 0xFF}"
    elif s & 0xFFFF == abi.WSTATUS_CONTINUED:
        out = "WIFCONTINUED(s)"
    elif low == abi.WSTATUS_STOPPED:
        out = f"WIFSTOPPED(s) && WSTOPSIG(s) == {signal_name((s >> 8) & 0xFF)}"
    else:
        out = f"WIFSIGNALED(s) && WTERMSIG(s) == {signal_name(low)}"
        if s & abi.WCOREFLAG:
            out += " && WCOREDUMP(s)"
    extra = s & ~0xFFFF
    if extra:
        return f"{{{out}}} | {extra:#x}"
    return f"{{{out}}}"


def _fd_pair(c, i):
    if c.ret is None or c.ret < 0:
        return pointer(c.args[i])
    data = c.read(c.args[i], 8)
    if data is None:
        return pointer(c.args[i])
    a, b = struct.unpack("<ii", data)
    return f"[{a}, {b}]"


def _utsname(c, i):
    if c.ret is None or c.ret < 0:
        return pointer(c.args[i])
    data = c.read(c.args[i], 2 * (abi.NEW_UTS_LEN + 1))
    if data is None:
        return pointer(c.args[i])
    n = abi.NEW_UTS_LEN + 1
    sysname, node = (data[k * n:(k + 1) * n].split(b"\0", 1)[0] for k in range(2))
    return f"{{sysname={quote(sysname)}, nodename={quote(node)}, ...}}"


def _int_out(c, i):
    """An int the call writes (``[0x4c33c0]`` style for arch_prctl's ARCH_GET_*)."""
    if c.ret is None or c.ret < 0:
        return pointer(c.args[i])
    data = c.read(c.args[i], 8)
    return pointer(c.args[i]) if data is None else f"[{struct.unpack('<Q', data)[0]:#x}]"


def _sigset_out(c, i):
    return pointer(c.args[i]) if c.ret is None or c.ret < 0 else _sigset_in(c, i)


def _sigaction_out(c, i):
    return pointer(c.args[i]) if c.ret is None or c.ret < 0 else _sigaction_in(c, i)


def _after(fmt):
    """An out-argument printed with an in-argument's decoder once the call succeeded."""
    return lambda c, i: pointer(c.args[i]) if c.ret is None or c.ret < 0 else fmt(c, i)


def _string_array(c, i):
    addr = c.args[i]
    if not addr:
        return "NULL"
    items = []
    for k in range(MAX_STRLEN + 1):
        data = c.read(addr + 8 * k, 8)
        if data is None:
            return pointer(addr) if k == 0 else "[" + ", ".join(items) + ", ...]"
        p = struct.unpack("<Q", data)[0]
        if not p:
            break
        if k == MAX_STRLEN:
            items.append("...")
            break
        items.append(c.cstring(p))
    return "[" + ", ".join(items) + "]"


def _env_array(c, i):
    addr = c.args[i]
    if not addr:
        return "NULL"
    n = 0
    while n < 1 << 16:
        data = c.read(addr + 8 * n, 8)
        if data is None or not struct.unpack("<Q", data)[0]:
            break
        n += 1
    return f"{addr:#x} /* {n} var{'' if n == 1 else 's'} */"


def _whence(c, i):
    return enum(s32(c.args[i]), SEEK_WHENCE)


def _access_mode(c, i):
    return flags(c.args[i] & 0xFFFF_FFFF, ACCESS_FLAGS, "F_OK")


def _flag_kind(table, zero="0", rename=None):
    def fmt(c, i):
        text = flags(c.args[i] & 0xFFFF_FFFF, table, zero)
        if rename:
            text = "|".join(rename.get(p, p) for p in text.split("|"))
        return text
    return fmt


def _enum_kind(table, signed=True, unknown="d"):
    def fmt(c, i):
        v = s32(c.args[i]) if signed else c.args[i] & MASK64
        return enum(v, table, unknown)
    return fmt


def _fcntl_arg(c, i):
    cmd = s32(c.args[i - 1])
    v = c.args[i]
    if cmd in (abi.F_GETFD, abi.F_GETFL, abi.F_GETOWN, abi.F_GETSIG, abi.F_GETPIPE_SZ,
               abi.F_GET_SEALS):
        return None
    if cmd == abi.F_SETFD:
        return flags(v & 0xFFFF_FFFF, FD_FLAGS)
    if cmd == abi.F_SETFL:
        return open_flags(v)
    if cmd in (abi.F_GETLK, abi.F_SETLK, abi.F_SETLKW, abi.F_OFD_GETLK, abi.F_OFD_SETLK,
               abi.F_OFD_SETLKW):
        return pointer(v)
    if cmd == abi.F_SETSIG:
        return signal_name(s32(v))
    return str(s32(v))


def _ioctl_arg(c, i):
    return pointer(c.args[i])


def _prctl_arg(c, i):
    """prctl's arguments after the option: PR_SET_NAME's string, else hex."""
    opt = s32(c.args[0])
    if i == 1 and opt == abi.PR_SET_NAME:
        return c.cstring(c.args[i], 16)
    if i == 1 and opt == abi.PR_SET_PDEATHSIG:
        return signal_name(s32(c.args[i]))
    if opt in (abi.PR_GET_DUMPABLE, abi.PR_GET_NO_NEW_PRIVS, abi.PR_GET_SECCOMP,
               abi.PR_GET_CHILD_SUBREAPER, abi.PR_GET_NAME, abi.PR_GET_PDEATHSIG,
               abi.PR_SET_DUMPABLE, abi.PR_SET_NAME, abi.PR_SET_PDEATHSIG,
               abi.PR_SET_CHILD_SUBREAPER, abi.PR_CAPBSET_READ) and i > 1:
        return None
    if opt == abi.PR_SET_NO_NEW_PRIVS and i > 1:
        return _unsigned(c, i)
    return _hex(c, i)


def _sigaltstack(c, i):
    v = c.unpack(c.args[i], struct.Struct("<QiiQ"))
    if v is None:
        return pointer(c.args[i])
    sp, fl, _pad, size = v
    names = _flags("SS_ONSTACK", "SS_DISABLE", "SS_AUTODISARM")
    return f"{{ss_sp={pointer(sp)}, ss_flags={flags(fl & 0xFFFF_FFFF, names)}, ss_size={size}}}"


def _sock_type(c, i):
    v = c.args[i] & 0xFFFF_FFFF
    base = enum(v & 0xF, SOCK_TYPES)
    rest = flags(v & ~0xF, SOCK_FLAGS, "")
    return f"{base}|{rest}" if rest else base


def format_sockaddr(data: bytes) -> str:
    """A sockaddr as strace prints it: ``{sa_family=AF_INET, sin_port=htons(80),
    sin_addr=inet_addr("127.0.0.1")}``, ``{sa_family=AF_UNIX, sun_path="/tmp/s"}`` (``@"name"``
    for an abstract name)."""
    if len(data) < 2:
        return "{sa_family=???}" if data else "{}"
    fam = struct.unpack_from("<H", data)[0]
    head = "{sa_family=" + enum(fam, ADDRESS_FAMILIES)
    if fam == abi.AF_UNIX:
        path = data[2:]
        if not path:
            return head + "}"
        if path[0] == 0:
            return head + ", sun_path=@" + quote(path[1:]) + "}"
        return head + ", sun_path=" + quote(path.split(b"\0", 1)[0]) + "}"
    if fam == abi.AF_INET and len(data) >= 8:
        port = struct.unpack_from(">H", data, 2)[0]
        ip = ".".join(str(b) for b in data[4:8])
        return f'{head}, sin_port=htons({port}), sin_addr=inet_addr("{ip}")}}'
    if fam == abi.AF_INET6 and len(data) >= 24:
        port, flow = struct.unpack_from(">HI", data, 2)
        ip = ipaddress.IPv6Address(bytes(data[8:24])).compressed
        scope = struct.unpack_from("<I", data, 24)[0] if len(data) >= 28 else 0
        return (f"{head}, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), "
                f'inet_pton(AF_INET6, "{ip}", &sin6_addr), sin6_scope_id={scope}}}')
    return head + ", sa_data=" + quote(data[2:]) + "}"


def _sockaddr_in(c, i):
    """A sockaddr argument whose length is the next argument."""
    n = s32(c.args[i + 1])
    data = c.read(c.args[i], min(max(n, 0), 128)) if n > 0 else None
    return pointer(c.args[i]) if data is None else format_sockaddr(data)


def _sockaddr_out(c, i):
    """A sockaddr the call fills, its length in the int the next argument points to."""
    if c.ret is None or c.ret < 0 or not c.args[i]:
        return pointer(c.args[i])
    n = c.read(c.args[i + 1], 4)
    if n is None:
        return pointer(c.args[i])
    n = struct.unpack("<i", n)[0]
    data = c.read(c.args[i], min(max(n, 0), 128)) if n > 0 else b""
    return pointer(c.args[i]) if data is None else format_sockaddr(data)


def _socklen_out(c, i):
    if c.ret is None or c.ret < 0 or not c.args[i - 1]:
        return pointer(c.args[i])
    return _int_ptr(c, i)


def _protocol(c, i):
    if s32(c.args[i - 2]) in (abi.AF_INET, abi.AF_INET6):
        return enum(s32(c.args[i]), IP_PROTOCOLS)
    return str(s32(c.args[i]))


def _sockopt_level(c, i):
    return enum(s32(c.args[i]), SOCKOPT_LEVELS)


def _sockopt_name(c, i):
    return enum(s32(c.args[i]), SOCKOPT_NAMES.get(s32(c.args[i - 1]), {}))


def _optval_in(c, i):
    """setsockopt's value: ``[1]`` for an int (its length, the next argument, is 4)."""
    if s32(c.args[i + 1]) == 4:
        data = c.read(c.args[i], 4)
        if data is not None:
            return f"[{struct.unpack('<i', data)[0]}]"
    return pointer(c.args[i])


def _optval_out(c, i):
    """getsockopt's value once it succeeded: ``[1]`` for an int."""
    if c.ret is None or c.ret < 0:
        return pointer(c.args[i])
    n = c.read(c.args[i + 1], 4)
    if n is not None and struct.unpack("<i", n)[0] == 4:
        data = c.read(c.args[i], 4)
        if data is not None:
            return f"[{struct.unpack('<i', data)[0]}]"
    return pointer(c.args[i])


_MSGHDR = struct.Struct("<QI4xQQQQi4x")


def _cmsgs(c, addr: int, n: int) -> str:
    data = c.read(addr, min(n, 4096))
    if data is None:
        return pointer(addr)
    items, pos = [], 0
    while pos + 16 <= len(data):
        clen, level, ctype = struct.unpack_from("<QiI", data, pos)
        if clen < 16 or pos + clen > len(data):
            break
        body = data[pos + 16:pos + clen]
        text = (f"{{cmsg_len={clen}, cmsg_level={enum(level, SOCKOPT_LEVELS)}, "
                f"cmsg_type={enum(ctype, SCM_TYPES) if level == abi.SOL_SOCKET else ctype}")
        if level == abi.SOL_SOCKET and ctype == abi.SCM_RIGHTS:
            fds = [str(x) for (x,) in struct.iter_unpack("<i", body[:len(body) // 4 * 4])]
            text += ", cmsg_data=[" + ", ".join(fds) + "]"
        elif level == abi.SOL_SOCKET and ctype == abi.SCM_CREDENTIALS and len(body) >= 12:
            pid, uid, gid = struct.unpack_from("<iII", body)
            text += f", cmsg_data={{pid={pid}, uid={uid}, gid={gid}}}"
        items.append(text + "}")
        pos += (clen + 7) & ~7
    return "[" + ", ".join(items) + "]"


def _msghdr(c, i, total: int | None):
    addr = c.args[i]
    hdr = c.read(addr, _MSGHDR.size)
    if hdr is None:
        return pointer(addr)
    name, namelen, iov, iovlen, control, controllen, mflags = _MSGHDR.unpack(hdr)
    text = "{msg_name="
    raw = c.read(name, min(namelen, 128)) if name and namelen else None
    text += format_sockaddr(raw) if raw is not None else pointer(name)
    text += f", msg_namelen={namelen}, msg_iov="
    # the iovec printer reads (addr, count) from two arguments
    text += _iovecs(types.SimpleNamespace(args=(iov, iovlen), read=c.read), 0, total)
    text += f", msg_iovlen={iovlen}"
    if control and controllen:
        text += ", msg_control=" + _cmsgs(c, control, controllen)
    text += f", msg_controllen={controllen}, msg_flags={flags(mflags, MSG_FLAGS)}}}"
    return text


def _msghdr_in(c, i):
    return _msghdr(c, i, None)


def _msghdr_out(c, i):
    if c.ret is None or c.ret < 0:
        return pointer(c.args[i])
    return _msghdr(c, i, c.ret)


def _futex(c, i):
    """futex(2)'s arguments as strace prints them for each operation."""
    uaddr, op, val, timeout, uaddr2, val3 = (c.args + (0,) * 6)[:6]
    op = s32(op)
    cmd = op & abi.FUTEX_CMD_MASK
    name = FUTEX_CMDS.get(cmd)
    if name is None:
        text = hex(op & 0xFFFF_FFFF)
    else:
        text = name + ("_PRIVATE" if op & FUTEX_PRIVATE_FLAG else "")
        if op & FUTEX_CLOCK_REALTIME:
            text += "|FUTEX_CLOCK_REALTIME"
    parts = [pointer(uaddr), text]
    val, val3 = val & 0xFFFF_FFFF, val3 & 0xFFFF_FFFF
    bitset = "FUTEX_BITSET_MATCH_ANY" if val3 == FUTEX_BITSET_MATCH_ANY else hex(val3)
    if cmd == abi.FUTEX_WAIT:
        parts += [str(val), timespec(c, timeout)]
    elif cmd in (abi.FUTEX_LOCK_PI, abi.FUTEX_LOCK_PI2):
        parts += [timespec(c, timeout)]
    elif cmd == abi.FUTEX_WAIT_BITSET:
        parts += [str(val), timespec(c, timeout), bitset]
    elif cmd == abi.FUTEX_WAKE_BITSET:
        parts += [str(val), bitset]
    elif cmd == abi.FUTEX_REQUEUE:
        parts += [str(val), str(timeout & 0xFFFF_FFFF), pointer(uaddr2)]
    elif cmd in (abi.FUTEX_CMP_REQUEUE, abi.FUTEX_CMP_REQUEUE_PI):
        parts += [str(val), str(timeout & 0xFFFF_FFFF), pointer(uaddr2), str(val3)]
    elif cmd == abi.FUTEX_WAKE_OP:
        shift = "FUTEX_OP_OPARG_SHIFT<<28|" if (val3 >> 28) & abi.FUTEX_OP_OPARG_SHIFT else ""
        fop = enum((val3 >> 28) & 7, FUTEX_OPS, "x")
        fcmp = enum((val3 >> 24) & 15, FUTEX_CMPS, "x")
        oparg, cmparg = hex0((val3 >> 12) & 0xFFF), hex0(val3 & 0xFFF)
        wake_op = f"{shift}{fop}<<28|{oparg}<<12|{fcmp}<<24|{cmparg}"
        parts += [str(val), str(timeout & 0xFFFF_FFFF), pointer(uaddr2), wake_op]
    elif cmd == abi.FUTEX_WAIT_REQUEUE_PI:
        parts += [str(val), timespec(c, timeout), pointer(uaddr2)]
    elif cmd in (abi.FUTEX_WAKE, abi.FUTEX_FD):
        parts += [str(val)]
    elif cmd in (abi.FUTEX_UNLOCK_PI, abi.FUTEX_TRYLOCK_PI):
        pass
    else:
        parts += [str(val), pointer(timeout), pointer(uaddr2), hex(val3) if val3 else "0"]
    return ", ".join(parts)


def _clone(c, i):
    """clone(2) (x86-64 order: flags, stack, parent_tid, child_tid, tls) as strace prints it:
    the stack and flags at entry, the tids and tls at exit."""
    fl, stack, ptid, ctid, tls = c.args
    if c.ret is None:
        text = flags(fl & ~CSIGNAL & MASK64, CLONE_FLAGS, "")
        sig = fl & CSIGNAL
        if sig:
            text = f"{text}|{signal_name(sig)}" if text else signal_name(sig)
        return f"child_stack={pointer(stack)}, flags={text or '0'}"
    out = ""
    if fl & (CLONE_PARENT_SETTID | CLONE_PIDFD):
        data = c.read(ptid, 4) if c.ret > 0 else None
        out += ", parent_tid=" + (f"[{struct.unpack('<i', data)[0]}]" if data else pointer(ptid))
    if fl & CLONE_SETTLS:
        out += f", tls={pointer(tls)}"
    if fl & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID):
        out += f", child_tidptr={pointer(ctid)}"
    return out


_IOVEC = struct.Struct("<QQ")


def _iovecs(c, i, total: int | None):
    """``[{iov_base="...", iov_len=5}, ...]``: the iovec array of argument i, with argument i+1
    elements; ``total`` bytes of data in all (None: every iov_len, as written)."""
    addr, count = c.args[i], s32(c.args[i + 1])
    if count < 0 or c.read(addr, _IOVEC.size * max(count, 1)) is None and count:
        return pointer(addr)
    items = []
    for k in range(count):
        if k == MAX_STRLEN:
            items.append("...")
            break
        base, length = _IOVEC.unpack(c.read(addr + _IOVEC.size * k, _IOVEC.size))
        n = length if total is None else max(0, min(length, total))
        if total is not None:
            total -= n
        data = c.read(base, min(n, MAX_STRLEN)) if n else b""
        text = pointer(base) if data is None else quote(data, more=n > MAX_STRLEN)
        items.append(f"{{iov_base={text}, iov_len={length}}}")
    return "[" + ", ".join(items) + "]"


def _iov_in(c, i):
    return _iovecs(c, i, None)


def _iov_out(c, i):
    if c.ret is None or c.ret < 0:
        return pointer(c.args[i])
    return _iovecs(c, i, c.ret)


def _remainder(c, i):
    """nanosleep's ``rem``: what was left, when a signal interrupted the sleep."""
    interrupted = c.ret is not None and (c.ret == -EINTR or -c.ret in RESTART_CODES)
    return timespec(c, c.args[i]) if interrupted else pointer(c.args[i])


def _dirents(c, i):
    """getdents: ``0x... /* 5 entries */`` (strace's short form)."""
    if c.ret is None or c.ret < 0:
        return pointer(c.args[i])
    data = c.read(c.args[i], c.ret) if c.ret else b""
    if data is None:
        return pointer(c.args[i])
    n = off = 0
    while off + 18 <= len(data):
        reclen = struct.unpack_from("<H", data, off + 16)[0]
        if reclen == 0:
            break
        off += reclen
        n += 1
    return f"{pointer(c.args[i])} /* {n} entr{'y' if n == 1 else 'ies'} */"


def _path_out(c, i):
    if c.ret is None or c.ret < 0:
        return pointer(c.args[i])
    return c.cstring(c.args[i], None)


def _int_ptr(c, i):
    """An int the call writes: ``[0]``."""
    if c.ret is None or c.ret < 0 or not c.args[i]:
        return pointer(c.args[i])
    data = c.read(c.args[i], 4)
    return pointer(c.args[i]) if data is None else f"[{struct.unpack('<i', data)[0]}]"


def _siginfo_in(c, i):
    data = c.read(c.args[i], 128)
    return pointer(c.args[i]) if data is None else format_siginfo(data)


def _siginfo_out(c, i):
    if c.ret is None or c.ret <= 0:
        return pointer(c.args[i])
    return _siginfo_in(c, i)


def _cpus(c, addr: int, size: int) -> str:
    data = c.read(addr, min(size, 1 << 12))
    if data is None:
        return pointer(addr)
    bits = int.from_bytes(data, "little")
    return "[" + " ".join(str(k) for k in range(len(data) * 8) if bits >> k & 1) + "]"


def _cpuset_in(c, i):
    return _cpus(c, c.args[i], c.args[i - 1] & MASK64)


def _cpuset_out(c, i):
    if c.ret is None or c.ret < 0:
        return pointer(c.args[i])
    return _cpus(c, c.args[i], c.ret)


def _mremap_address(c, i):
    """mremap's new address: only with MREMAP_FIXED or MREMAP_DONTUNMAP."""
    if c.args[i - 1] & (abi.MREMAP_FIXED | abi.MREMAP_DONTUNMAP):
        return pointer(c.args[i])
    return None


def _none(c, i):
    return None


def _sigframe(c, i):
    """rt_sigreturn's ``{mask=[...]}``: the mask the frame at the stack pointer restores."""
    mask = c.task.machine.signals.frame_mask(c.task)
    return "{mask=" + (sigset(mask) if mask is not None else "?") + "}"


KINDS: dict[str, tuple[str, Callable]] = {
    "i": ("in", _int), "l": ("in", _long), "u": ("in", _unsigned), "x": ("in", _hex),
    "p": ("in", _ptr), "fd": ("in", _fd), "dirfd": ("in", _dirfd), "m": ("in", _mode),
    "s": ("in", _path), "str": ("in", _string), "of": ("in", _open_flags),
    "cm": ("in", _creat_mode), "fmode": ("in", _file_mode),
    "fdev": ("in", _file_dev), "prot": ("in", _prot), "mapflags": ("in", _mmap_flags),
    "signo": ("in", _signo), "sighow": ("in", _sighow), "sigset": ("in", _sigset_in),
    "osigset": ("out", _sigset_out), "sigaction": ("in", _sigaction_in),
    "osigaction": ("out", _sigaction_out), "clockid": ("in", _clockid),
    "ts": ("in", _timespec), "ots": ("out", _after(_timespec)), "tv": ("in", _timeval),
    "otv": ("out", _after(_timeval)), "itv": ("in", _itimerval),
    "oitv": ("out", _after(_itimerval)),
    "its": ("in", _itimerspec), "oits": ("out", _after(_itimerspec)),
    "rlimit": ("in", _rlimit("RLIM64_INFINITY")),
    "orlimit": ("out", _after(_rlimit("RLIM64_INFINITY"))),
    "orlimit_old": ("out", _after(_rlimit("RLIM_INFINITY"))),
    "ostat": ("out", _after(_stat)), "wstatus": ("out", _wstatus), "fds": ("out", _fd_pair),
    "outsname": ("out", _utsname), "oaddr": ("out", _int_out), "argv": ("in", _string_array),
    "envp": ("in", _env_array), "whence": ("in", _whence), "amode": ("in", _access_mode),
    "atflags": ("in", _flag_kind(AT_FLAGS)), "faflags": ("in", _flag_kind(FACCESSAT_FLAGS)),
    "unlinkflags": ("in", _flag_kind(UNLINKAT_FLAGS)),
    "renameflags": ("in", _flag_kind(RENAME_FLAGS)),
    "waitopts": ("in", _flag_kind(WAIT_FLAGS, rename=WAIT_NAMES)),
    "idtype": ("in", _enum_kind(ID_TYPES)), "rlimres": ("in", _enum_kind(RLIMITS)),
    "rusagewho": ("in", _enum_kind(RUSAGE_WHO)),
    "arch": ("in", _enum_kind(ARCH_CODES, unknown="x")),
    "madv": ("in", _enum_kind(MADVICE)), "mremapflags": ("in", _flag_kind(MREMAP_FLAGS)),
    "msflags": ("in", _flag_kind(MSYNC_FLAGS)), "grnd": ("in", _flag_kind(GRND_FLAGS)),
    "fcntlcmd": ("in", _enum_kind(FCNTL_CMDS)), "fcntlarg": ("in", _fcntl_arg),
    "lockop": ("in", _flag_kind(LOCK_OPS)), "family": ("in", _enum_kind(ADDRESS_FAMILIES)),
    "socktype": ("in", _sock_type), "shut": ("in", _enum_kind(SHUT_HOW)),
    "msgflags": ("in", _flag_kind(MSG_FLAGS)), "epollop": ("in", _enum_kind(EPOLL_OPS)),
    "proto": ("in", _protocol), "sockflags": ("in", _flag_kind(SOCK_FLAGS)),
    "sockaddr": ("in", _sockaddr_in), "osockaddr": ("out", _sockaddr_out),
    "osocklen": ("out", _socklen_out), "msghdr": ("in", _msghdr_in),
    "omsghdr": ("out", _msghdr_out), "sockoptlevel": ("in", _sockopt_level),
    "sockoptname": ("in", _sockopt_name), "optval": ("in", _optval_in),
    "ooptval": ("out", _optval_out),
    "efdflags": ("in", _flag_kind(EVENTFD_FLAGS, rename=EVENTFD_NAMES)),
    "mfdflags": ("in", _flag_kind(MFD_FLAGS)), "itimer": ("in", _enum_kind(ITIMERS)),
    "timerflags": ("in", _flag_kind(TIMER_FLAGS)),
    "ioctl": ("in", _enum_kind(IOCTLS, signed=False, unknown="x")), "ioctlarg": ("in", _ioctl_arg),
    "prctl": ("in", _enum_kind(PRCTL_OPTIONS)), "prctlarg": ("in", _prctl_arg),
    "priowhich": ("in", _enum_kind(PRIO_WHICH)), "crflags": ("in", _flag_kind(CLOSE_RANGE_FLAGS)),
    "stack_t": ("in", _sigaltstack), "ostack_t": ("out", _after(_sigaltstack)),
    "futex": ("in", _futex), "clone": ("split", _clone), "+": ("in", _none),
    "newaddr": ("in", _mremap_address), "statxflags": ("in", _statx_flags),
    "statxmask": ("in", _flag_kind(STATX_MASK)), "ostatx": ("out", _after(_statx)),
    "osysinfo": ("out", _after(_sysinfo)),
    "iov": ("in", _iov_in), "oiov": ("out", _iov_out), "orem": ("out", _remainder),
    "odirents": ("out", _dirents), "opath": ("out", _path_out), "oint": ("out", _int_ptr),
    "siginfo": ("in", _siginfo_in), "osiginfo": ("out", _siginfo_out),
    "cpus": ("in", _cpuset_in), "ocpus": ("out", _cpuset_out),
    "epollflags": ("in", _flag_kind(_flags("O_CLOEXEC"), rename={"O_CLOEXEC": "EPOLL_CLOEXEC"})),
    "ofl": ("in", _flag_kind(OPEN_FLAGS)),
    "rlimit_old": ("in", _rlimit("RLIM_INFINITY")),
    "@sigframe": ("in", _sigframe),
}
# b<k>: a buffer of argument k's length, printed at entry; o<k>: a buffer the call fills, printed
# at exit up to the result (argument k is its size); ox<k>: the same in hex (getrandom).
_NUMBERED = {"b": "in", "o": "out", "ox": "out"}


def kind(name: str) -> tuple[str, Callable]:
    """The (phase, fmt) of an argument kind; KeyError for an unknown kind."""
    if name in KINDS:
        return KINDS[name]
    m = re.fullmatch(r"([a-z]+)(\d)", name)
    if m is None or m.group(1) not in _NUMBERED:
        raise KeyError(name)
    base, k = m.group(1), int(m.group(2))
    if base == "b":
        return "in", _in_buffer(k)
    return "out", _out_buffer(hexed=base == "ox")


def takes_register(name: str) -> bool:
    return not name.startswith("@")


# -- results --------------------------------------------------------------------------------------

def _ret_fcntl(c: Call, ret: int) -> str:
    cmd = s32(c.args[1])
    if cmd == abi.F_GETFD:
        return f"{ret:#x} (flags {flags(ret, FD_FLAGS)})" if ret else "0"
    if cmd == abi.F_GETFL:
        return f"{ret:#x} (flags {open_flags(ret)})"
    if cmd == abi.F_GETSIG:
        return f"{ret} ({signal_name(ret)})" if ret else "0"
    return str(ret)


RESULTS: dict[str, Callable[[Call, int], str]] = {
    "d": lambda c, r: str(r),
    "x": lambda c, r: hex(r & MASK64),
    "o": lambda c, r: octal(r),
    "fcntl": _ret_fcntl,
    "signo": lambda c, r: f"{r} ({signal_name(r)})" if r > 0 else str(r),
}


# What Linux's syscall exit shows for a blocked call a handler interrupted (the kernel here has
# already turned it into -EINTR where SA_RESTART does not restart it):
# jit/signals_batch.interrupted_ret lists the same codes.
def _linux_restart_code(c: Call) -> int:
    name = c.name
    if c.block in (Block.WAIT, Block.IO):
        return ERESTARTSYS
    if c.block == Block.FUTEX:
        return ERESTART_RESTARTBLOCK if c.timed else ERESTARTSYS
    if c.block == Block.SLEEP:
        absolute = name == "clock_nanosleep" and c.args[1] & TIMER_ABSTIME
        return ERESTARTNOHAND if absolute else ERESTART_RESTARTBLOCK
    if c.block == Block.SIGSUSPEND:
        return ERESTARTNOHAND
    if c.block == Block.POLL:
        return EINTR if name.startswith("epoll") else ERESTARTNOHAND
    return EINTR


# -- -e trace=SET ---------------------------------------------------------------------------------

class TraceExprError(ValueError):
    """A -e expression strace would refuse (the message is strace's)."""


# Classes strace also knows without the "%" (its older spelling).
_BARE_CLASSES = ("file", "process", "network", "signal", "ipc", "desc", "memory")


def parse_trace(expr: str) -> frozenset[int] | None:
    """The syscall numbers ``-e EXPR`` traces (None: all of them). EXPR is ``trace=SET`` or a
    bare SET: a comma list of names, classes (``%file``, ``%process``, ``%network`` or ``%net``,
    ``%signal``, ``%ipc``, ``%desc``, ``%memory``, ``%creds``, ``%clock``, ``%pure``, ``%stat``,
    ``%lstat``, ``%fstat``, ``%%stat``, ``%statfs``, ``%fstatfs``, ``%%statfs``; the first seven
    also without ``%``), ``/REGEX``, ``all``, ``none``; ``!`` in front inverts the set, ``?`` in
    front of an item ignores it if it names nothing. TraceExprError says what is wrong."""
    qual, sep, value = expr.partition("=")
    if not sep:
        qual, value = "trace", expr
    if qual not in ("trace", "t"):
        raise TraceExprError(f"invalid qualifier '{qual}': only trace= is supported")
    invert = value.startswith("!")
    if invert:
        value = value[1:]
    every = {n for n in range(MAX_NR) if NAMES[n]}
    chosen: set[int] = set()
    for item in value.split(","):
        quiet = item.startswith("?")
        name = item[1:] if quiet else item
        found: set[int] | None = None
        if name == "all":
            found = every
        elif name == "none":
            found = set()
        elif name.startswith("/"):
            try:
                rx = re.compile(name[1:])
            except re.error as e:
                raise TraceExprError(f"invalid regular expression '{name[1:]}': {e}") from None
            found = {n for n in every if rx.search(NAMES[n])} or None
        elif name.startswith("%") or name in _BARE_CLASSES:
            cls = name.removeprefix("%")
            cls = "network" if cls == "net" else cls
            if cls in CLASSES:
                found = {number_of(n) for n in CLASSES[cls]}
        elif name in NAMES and name:
            found = {number_of(name)}
        if found is None:
            if quiet:
                continue
            raise TraceExprError(f"invalid system call '{name}'")
        chosen |= found
    if invert:
        chosen = every - chosen
    return None if chosen == every else frozenset(chosen)


# -- the tracer ------------------------------------------------------------------------------------

@dataclass
class Strace:
    """Where strace lines go and how they look; the Machine hands it every event."""

    out: object  # a text stream
    trace: frozenset[int] | None = None  # syscall numbers to print (None: all)
    timestamps: int = 0  # -t 1, -tt 2, -ttt 3
    to_file: bool = False  # -o FILE: every line starts with the pid (strace -f -o)
    owns_out: bool = False  # close ``out`` at the end of the run (the file -o opened)
    realtime_ns: Callable[[], int] = time.time_ns  # the clock of -t (the Machine sets its own)
    pid_of: Callable[[object], int] = field(default=lambda task: 0)  # the Machine's
    live: dict = field(default_factory=dict)  # id(task) -> (task, pid): traced, not yet ended
    calls: dict = field(default_factory=dict)  # id(task) -> Call entered and not yet returned
    fatal_shown: set = field(default_factory=set)  # thread-group rows whose fatal signal was shown
    open_line: Call | None = None  # the call whose line has no newline yet
    col: int = 0  # characters on the current line

    # -- output ------------------------------------------------------------------------------------
    def _write(self, s: str) -> None:
        self.out.write(s)
        nl = s.rfind("\n")
        self.col = self.col + len(s) if nl < 0 else len(s) - nl - 1

    def _leader(self, task) -> None:
        """strace's printleader: close an open line, then the pid and the time."""
        if self.open_line is not None:
            self._write(" <unfinished ...>\n")
            self.open_line = None
        self.attach(task)
        if self.to_file:
            self._write(f"{self.live[id(task)][1]:<5d} ")
        elif len(self.live) > 1:
            self._write(f"[pid {self.live[id(task)][1]:5d}] ")
        if self.timestamps:
            ns = self.realtime_ns()
            sec, usec = divmod(ns // 1000, 1_000_000)
            if self.timestamps >= 3:
                self._write(f"{sec}.{usec:06d} ")
            else:
                hms = time.strftime("%H:%M:%S", time.localtime(sec))
                self._write(f"{hms}.{usec:06d} " if self.timestamps == 2 else f"{hms} ")

    def _line(self, task, text: str) -> None:
        self._leader(task)
        self._write(text + "\n")

    def flush(self) -> None:
        try:
            self.out.flush()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        """The end of the run: everything written out (and -o's file closed)."""
        self.flush()
        if self.owns_out:
            self.out.close()

    def wants(self, nr: int) -> bool:
        return self.trace is None or nr in self.trace

    # -- tasks -------------------------------------------------------------------------------------
    def attach(self, task) -> None:
        """A task to trace (the program's first, one a clone made, one a checkpoint restored)."""
        if id(task) not in self.live:
            self.live[id(task)] = (task, self.pid_of(task))

    def exited(self, task, status: int) -> None:
        """``+++ exited with N +++`` or ``+++ killed by SIG +++`` (wait ``status``); the task
        is no longer traced."""
        if id(task) not in self.live:
            return
        call = self.calls.pop(id(task), None)
        if call is not None:  # it died in a blocked call: Linux's syscall exit shows "= ?"
            self._resume(call)
            self._write(") ")
            self._pad()
            self._write("= ?\n")
            self.open_line = None
        if status & 0x7F:
            core = " (core dumped)" if status & abi.WCOREFLAG else ""
            self._line(task, f"+++ killed by {signal_name(status & 0x7F)}{core} +++")
        else:
            self._line(task, f"+++ exited with {(status >> 8) & 0xFF} +++")
        del self.live[id(task)]
        self.flush()

    # -- syscalls ----------------------------------------------------------------------------------
    def enter(self, task, nr: int, args, kinds) -> Call | None:
        """Syscall entry: print ``name(`` and the arguments known now. Returns the Call to hand
        to :meth:`leave`, or None when the call is not traced."""
        if not self.wants(nr):
            return None
        pending = self.calls.get(id(task))
        if pending is not None and pending.rerun and pending.nr == nr:
            pending.rerun = False  # woken from an I/O wait, it runs again: still the same line
            pending.args = tuple(args)
            return pending
        c = Call(task, nr, args)
        self.calls[id(task)] = c
        self._leader(task)
        self._write(f"{name_of(nr)}(" + _entry_text(c, kinds))
        self.open_line = c
        return c

    def blocked(self, c: Call, block: int, timed: bool) -> None:
        """The call blocked (a row waits for a system to complete it): its line stays open."""
        c.block, c.timed = int(block), bool(timed)
        self.flush()

    def leave(self, c: Call, ret: int, kinds, result: str = "d") -> None:
        """Syscall exit with ``ret`` (a result, ``-errno`` or a restart code)."""
        self.calls.pop(id(c.task), None)
        if c.block != Block.NONE and ret == -EINTR:
            ret = -_linux_restart_code(c)
        c.ret = ret
        self._resume(c)
        self._write(_exit_text(c, kinds) + ") ")
        self._pad()
        if ret < 0 and -ret in RESTART_CODES:
            self._write(f"= ? {RESTART_CODES[-ret]}\n")
        elif ret < 0 and -ret < 4096:
            self._write(f"= -1 {errno_text(-ret)}\n")
        else:
            self._write("= " + (_safely(lambda c, _: RESULTS[result](c, ret), c, -1) or str(ret))
                        + "\n")
        self.open_line = None

    def leave_without_return(self, c: Call) -> None:
        """exit and exit_group (``= ?``): the task is gone."""
        self.calls.pop(id(c.task), None)
        self._resume(c)
        self._write(") ")
        self._pad()
        self._write("= ?\n")
        self.open_line = None

    def restart(self, task, nr: int, code: int, kinds) -> None:
        """A blocked call ends with a restart code: an I/O wait that woke runs again (nothing
        to print); otherwise the line ends as Linux's syscall exit shows it."""
        c = self.calls.get(id(task))
        if c is None:
            if self.wants(nr):
                self._line(task, f"<... {name_of(nr)} resumed>) = ? {RESTART_CODES[-code]}")
            return
        if code == -ERESTARTNOINTR and c.block in (Block.IO, Block.POLL):
            c.rerun = True
            return
        self.leave(c, code, kinds)

    def resumed(self, task, nr: int, ret: int, kinds, result: str = "d") -> None:
        """A blocked call completed by a system: its line ends (reopened if another came)."""
        c = self.calls.get(id(task))
        if c is None:  # entered before a checkpoint this run restored
            if self.wants(nr):
                self._line(task, f"<... {name_of(nr)} resumed>) = {ret}")
            return
        self.leave(c, ret, kinds, result)

    def unknown(self, task, nr: int) -> None:
        """A number no handler serves: -ENOSYS."""
        if self.wants(nr):
            self._leader(task)
            self._write(f"{name_of(nr)}() ")
            self._pad()
            self._write(f"= -1 {errno_text(abi.ENOSYS)}\n")

    def _resume(self, c: Call) -> None:
        if self.open_line is not c:
            self._leader(c.task)
            self._write(f"<... {c.name} resumed>")

    def _pad(self) -> None:
        if self.col < ALIGN:
            self._write(" " * (ALIGN - self.col))

    # -- checkpoints -------------------------------------------------------------------------------
    def state(self) -> dict:
        """What a checkpoint keeps so that the restored run's trace goes on where this one
        stopped: the calls entered and not returned (by task row), the open line and its column.
        The trace before a checkpoint followed by the restored run's is then an uninterrupted
        run's trace."""
        return {"calls": [[c.task.row, c.nr, [a & MASK64 for a in c.args], int(c.block),
                           c.timed, c.rerun] for c in self.calls.values()],
                "open": self.open_line.task.row if self.open_line is not None else -1,
                "col": self.col, "fatal_shown": sorted(self.fatal_shown)}

    def resume_state(self, calls, open_row: int, col: int, fatal_shown) -> None:
        """The :meth:`state` of a checkpoint, with ``calls`` as (task, nr, args, block, timed,
        rerun) over the restored run's tasks."""
        for task, nr, args, block, timed, rerun in calls:
            c = Call(task, nr, args)
            c.block, c.timed, c.rerun = block, timed, rerun
            self.calls[id(task)] = c
            self.attach(task)
            if task.row == open_row:
                self.open_line = c
        self.col = col if self.open_line is not None else 0
        self.fatal_shown = set(fatal_shown)

    # -- signals -----------------------------------------------------------------------------------
    def signal(self, task, siginfo: bytes) -> None:
        """``--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER, si_pid=2, si_uid=0} ---``."""
        self._line(task, f"--- {signal_name(struct.unpack_from('<i', siginfo)[0])} "
                         f"{format_siginfo(siginfo)} ---")

    def exec_line(self, task, path: str, argv, envp_count: int, envp_addr: int) -> None:
        """The program's own execve (made by ``ecs-kernel run``, not by a guest syscall)."""
        if not self.wants(number_of("execve")):
            return
        args = ", ".join(quote(os.fsencode(a)[:MAX_STRLEN], more=len(os.fsencode(a)) > MAX_STRLEN)
                         for a in argv[:MAX_STRLEN])
        if len(argv) > MAX_STRLEN:
            args += ", ..."
        vars_ = f"{envp_count} var{'' if envp_count == 1 else 's'}"
        self._leader(task)
        self._write(f"execve({quote(os.fsencode(path))}, [{args}], "
                    f"{pointer(envp_addr)} /* {vars_} */) ")
        self._pad()
        self._write("= 0\n")


def format_siginfo(info: bytes) -> str:
    """A siginfo as strace prints it: ``{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=3, ...}``."""
    signo, err, code = struct.unpack_from("<iii", info)
    code_name = SI_CODES.get(code) or SIGNAL_CODES.get(signo, {}).get(code) or str(code)
    parts = [f"si_signo={signal_name(signo)}", f"si_code={code_name}"]
    if err:
        parts.append(f"si_errno={ERRNO_NAMES[err] if 0 < err < len(ERRNO_NAMES) else err}")
    pid, uid = struct.unpack_from("<iI", info, 16)
    value = struct.unpack_from("<Q", info, 24)[0]
    sival = [f"si_int={s32(value)}", f"si_ptr={pointer(value)}"]
    if code <= 0:  # sent by a process (SI_FROMUSER)
        if code == abi.SI_TIMER:
            parts += [f"si_timerid={pid:#x}" if pid else "si_timerid=0", f"si_overrun={s32(uid)}"]
            parts += sival
        else:
            parts += [f"si_pid={pid}", f"si_uid={uid}"]
            if code not in (abi.SI_USER, abi.SI_TKILL) and value:
                parts += sival
    elif signo == SIGCHLD:
        status, = struct.unpack_from("<i", info, 24)
        utime, stime = struct.unpack_from("<qq", info, 32)
        st = str(status) if code == abi.CLD_EXITED else signal_name(status)
        parts += [f"si_pid={pid}", f"si_uid={uid}", f"si_status={st}", f"si_utime={utime}",
                  f"si_stime={stime}"]
    elif signo in FAULT_SIGNALS:
        parts.append(f"si_addr={pointer(struct.unpack_from('<Q', info, 16)[0])}")
    elif code != SI_KERNEL or pid or uid:
        if pid or uid:
            parts += [f"si_pid={pid}", f"si_uid={uid}"]
        if value:
            parts += sival
    return "{" + ", ".join(parts) + "}"


# -- the text of a call's arguments ----------------------------------------------------------------

def _split(kinds) -> int:
    """Index of the first argument printed at exit (len(kinds) if none)."""
    for j, k in enumerate(kinds):
        if kind(k)[0] != "in":
            return j
    return len(kinds)


def _format(c: Call, kinds, lo: int, hi: int) -> list[str]:
    """The texts of arguments ``lo..hi-1`` (kinds that leave theirs out give none)."""
    parts = []
    reg = sum(1 for k in kinds[:lo] if takes_register(k))
    for k in kinds[lo:hi]:
        text = _safely(kind(k)[1], c, reg if takes_register(k) else -1)
        if text is not None:
            parts.append(text)
        if takes_register(k):
            reg += 1
    return parts


def _safely(fmt, c: Call, i: int) -> str | None:
    """A printer's text; the raw value if the printer fails (a bug of ours must not stop the
    guest: it only makes a line less readable)."""
    try:
        return fmt(c, i)
    except Exception:  # noqa: BLE001
        return hex0(c.args[i] & MASK64) if 0 <= i < len(c.args) else "?"


def _entry_text(c: Call, kinds) -> str:
    j = _split(kinds)
    parts = _format(c, kinds, 0, j)
    text = ", ".join(parts)
    if j < len(kinds):
        phase, fmt = kind(kinds[j])
        if phase == "split":
            head = _safely(fmt, c, sum(1 for k in kinds[:j] if takes_register(k)))
            text = f"{text}, {head}" if text else head
        elif text:
            text += ", "
    return text


def _exit_text(c: Call, kinds) -> str:
    j = _split(kinds)
    if j == len(kinds):
        return ""
    phase, fmt = kind(kinds[j])
    if phase == "split":
        return (_safely(fmt, c, sum(1 for k in kinds[:j] if takes_register(k))) or "") + \
            "".join(", " + p for p in _format(c, kinds, j + 1, len(kinds)))
    return ", ".join(_format(c, kinds, j, len(kinds)))


__all__ = ["KINDS", "Call", "Strace", "TraceExprError", "errno_text", "format_siginfo", "kind",
           "parse_trace", "quote", "signal_name", "sigset", "wait_status"]
