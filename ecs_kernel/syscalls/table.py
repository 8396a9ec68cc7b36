"""The x86-64 syscall table as data: number -> name, handler, support level, note, argument kinds.

Like gVisor's ``pkg/sentry/syscalls/linux/linux64.go``: every number Linux x86-64 defines has a row
(so an unknown call is reported by its name), whether or not we implement it. Support levels:

- ``full``: behaves as Linux does for everything a guest can pass (within this kernel's model);
- ``partial``: works for common use; the note says what is missing;
- ``unimplemented``: returns -ENOSYS to the guest and is counted (the note says why, or what a
  guest sees instead).

Handlers are registered by the ``sys_<family>.py`` modules with registry.py's ``@syscall`` (and
``@completion``); this module imports every family and :func:`table` builds the table.

``args`` are the kinds of a call's arguments, one per register the handler takes (in order: rdi,
rsi, rdx, r10, r8, r9), which is also how ``--strace`` prints them (syscalls/strace.py has the
printer of each kind):

- numbers: ``i`` int, ``l`` long, ``u`` unsigned long, ``x`` hex, ``p`` pointer (``NULL``), ``fd``,
  ``dirfd`` (``AT_FDCWD``), ``m`` a mode in octal, ``cm`` open's mode (shown with O_CREAT only);
- strings and buffers: ``s`` a path, ``str`` a string (cut at 32 bytes), ``b<k>`` a buffer of
  argument k's length, ``o<k>`` one the call fills (printed at exit, up to the result), ``ox<k>``
  the same in hex, ``argv``, ``envp``;
- flags and names: ``of`` open flags, ``prot``, ``mapflags``, ``signo``, ``sighow``, ``clockid``,
  ``whence``, ``amode``, ``atflags``, ``faflags``, ``unlinkflags``, ``renameflags``,
  ``waitopts``, ``idtype``, ``rlimres``, ``rusagewho``, ``arch``, ``madv``, ``mremapflags``,
  ``msflags``, ``grnd``, ``fcntlcmd``/``fcntlarg``, ``lockop``, ``family``, ``socktype``,
  ``shut``, ``msgflags``, ``epollop``, ``efdflags``, ``mfdflags``, ``itimer``, ``timerflags``,
  ``ioctl``/``ioctlarg``, ``prctl``/``prctlarg``, ``priowhich``, ``crflags``, ``statxflags``,
  ``statxmask``, ``epollflags``, ``ofl`` (open flags without the access mode), ``newaddr``
  (mremap's, with MREMAP_FIXED);
- structures read at entry: ``sigset``, ``sigaction``, ``ts`` (timespec), ``tv`` (timeval),
  ``itv``, ``its``, ``rlimit``, ``stack_t``; filled by the call (printed at exit): ``osigset``,
  ``osigaction``, ``ots``, ``otv``, ``oitv``, ``oits``, ``orlimit``, ``orlimit_old``, ``ostat``,
  ``wstatus``, ``fds`` (an int pair), ``outsname``, ``oaddr``, ``ostack_t``, ``ostatx``, ``oint``
  (``[N]``), ``opath``, ``odirents``, ``orem`` (nanosleep's remainder), ``osiginfo``, ``ocpus``,
  ``osysinfo``;
  ``iov``/``oiov`` (an iovec array of the next argument's length), ``siginfo``, ``cpus``;
- whole calls: ``futex`` and ``clone`` decode every argument (the others are ``+``);
  ``@sigframe`` takes no register (rt_sigreturn's ``{mask=[...]}``).

``CLASSES`` are strace's classes of calls (``-e trace=%file`` ...), from its syscall table for
x86-64.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

# every family registers its handlers as it is imported
from . import (sys_epoll, sys_file, sys_futex, sys_identity, sys_info, sys_inotify,  # noqa: F401
               sys_ipc, sys_mm, sys_mqueue, sys_namespace, sys_pidfd, sys_process, sys_ptrace,
               sys_rseq, sys_sched, sys_seccomp, sys_signal, sys_signalfd, sys_socket, sys_splice,
               sys_time, sys_timerfd, sys_vm, sys_xattr, sys_kcmp)
from .registry import _COMPLETIONS, _REGISTRY, FULL, LEVELS, PARTIAL, UNIMPLEMENTED

# Linux x86-64 (arch/x86/entry/syscalls/syscall_64.tbl, common and 64-bit entries), index = number.
# "" marks numbers Linux leaves unused (335-423).
NAMES = (
    "read", "write", "open", "close", "stat", "fstat", "lstat", "poll", "lseek", "mmap",
    "mprotect", "munmap", "brk", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "ioctl",
    "pread64", "pwrite64", "readv", "writev", "access", "pipe", "select", "sched_yield", "mremap",
    "msync", "mincore", "madvise", "shmget", "shmat", "shmctl", "dup", "dup2", "pause",
    "nanosleep", "getitimer", "alarm", "setitimer", "getpid", "sendfile", "socket", "connect",
    "accept", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown", "bind", "listen",
    "getsockname", "getpeername", "socketpair", "setsockopt", "getsockopt", "clone", "fork",
    "vfork", "execve", "exit", "wait4", "kill", "uname", "semget", "semop", "semctl", "shmdt",
    "msgget", "msgsnd", "msgrcv", "msgctl", "fcntl", "flock", "fsync", "fdatasync", "truncate",
    "ftruncate", "getdents", "getcwd", "chdir", "fchdir", "rename", "mkdir", "rmdir", "creat",
    "link", "unlink", "symlink", "readlink", "chmod", "fchmod", "chown", "fchown", "lchown",
    "umask", "gettimeofday", "getrlimit", "getrusage", "sysinfo", "times", "ptrace", "getuid",
    "syslog", "getgid", "setuid", "setgid", "geteuid", "getegid", "setpgid", "getppid", "getpgrp",
    "setsid", "setreuid", "setregid", "getgroups", "setgroups", "setresuid", "getresuid",
    "setresgid", "getresgid", "getpgid", "setfsuid", "setfsgid", "getsid", "capget", "capset",
    "rt_sigpending", "rt_sigtimedwait", "rt_sigqueueinfo", "rt_sigsuspend", "sigaltstack", "utime",
    "mknod", "uselib", "personality", "ustat", "statfs", "fstatfs", "sysfs", "getpriority",
    "setpriority", "sched_setparam", "sched_getparam", "sched_setscheduler", "sched_getscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval", "mlock",
    "munlock", "mlockall", "munlockall", "vhangup", "modify_ldt", "pivot_root", "_sysctl", "prctl",
    "arch_prctl", "adjtimex", "setrlimit", "chroot", "sync", "acct", "settimeofday", "mount",
    "umount2", "swapon", "swapoff", "reboot", "sethostname", "setdomainname", "iopl", "ioperm",
    "create_module", "init_module", "delete_module", "get_kernel_syms", "query_module", "quotactl",
    "nfsservctl", "getpmsg", "putpmsg", "afs_syscall", "tuxcall", "security", "gettid",
    "readahead", "setxattr", "lsetxattr", "fsetxattr", "getxattr", "lgetxattr", "fgetxattr",
    "listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr",
    "tkill", "time", "futex", "sched_setaffinity", "sched_getaffinity", "set_thread_area",
    "io_setup", "io_destroy", "io_getevents", "io_submit", "io_cancel", "get_thread_area",
    "lookup_dcookie", "epoll_create", "epoll_ctl_old", "epoll_wait_old", "remap_file_pages",
    "getdents64", "set_tid_address", "restart_syscall", "semtimedop", "fadvise64", "timer_create",
    "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete", "clock_settime",
    "clock_gettime", "clock_getres", "clock_nanosleep", "exit_group", "epoll_wait", "epoll_ctl",
    "tgkill", "utimes", "vserver", "mbind", "set_mempolicy", "get_mempolicy", "mq_open",
    "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr", "kexec_load",
    "waitid", "add_key", "request_key", "keyctl", "ioprio_set", "ioprio_get", "inotify_init",
    "inotify_add_watch", "inotify_rm_watch", "migrate_pages", "openat", "mkdirat", "mknodat",
    "fchownat", "futimesat", "newfstatat", "unlinkat", "renameat", "linkat", "symlinkat",
    "readlinkat", "fchmodat", "faccessat", "pselect6", "ppoll", "unshare", "set_robust_list",
    "get_robust_list", "splice", "tee", "sync_file_range", "vmsplice", "move_pages", "utimensat",
    "epoll_pwait", "signalfd", "timerfd_create", "eventfd", "fallocate", "timerfd_settime",
    "timerfd_gettime", "accept4", "signalfd4", "eventfd2", "epoll_create1", "dup3", "pipe2",
    "inotify_init1", "preadv", "pwritev", "rt_tgsigqueueinfo", "perf_event_open", "recvmmsg",
    "fanotify_init", "fanotify_mark", "prlimit64", "name_to_handle_at", "open_by_handle_at",
    "clock_adjtime", "syncfs", "sendmmsg", "setns", "getcpu", "process_vm_readv",
    "process_vm_writev", "kcmp", "finit_module", "sched_setattr", "sched_getattr", "renameat2",
    "seccomp", "getrandom", "memfd_create", "kexec_file_load", "bpf", "execveat", "userfaultfd",
    "membarrier", "mlock2", "copy_file_range", "preadv2", "pwritev2", "pkey_mprotect",
    "pkey_alloc", "pkey_free", "statx", "io_pgetevents", "rseq", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "pidfd_send_signal", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
    "pidfd_open", "clone3", "close_range", "openat2", "pidfd_getfd", "faccessat2",
    "process_madvise", "epoll_pwait2", "mount_setattr", "quotactl_fd", "landlock_create_ruleset",
    "landlock_add_rule", "landlock_restrict_self", "memfd_secret", "process_mrelease",
    "futex_waitv", "set_mempolicy_home_node", "cachestat", "fchmodat2", "map_shadow_stack",
    "futex_wake", "futex_wait", "futex_requeue", "statmount", "listmount", "lsm_get_self_attr",
    "lsm_set_self_attr", "lsm_list_modules", "mseal", "setxattrat", "getxattrat", "listxattrat",
    "removexattrat", "open_tree_attr", "file_getattr", "file_setattr",
)
MAX_NR = len(NAMES)  # numbers at or above this have no name: "syscall_<n>"
NR_RESTART_SYSCALL = NAMES.index("restart_syscall")


@dataclass(frozen=True)
class Syscall:
    nr: int
    name: str
    handler: Callable | None
    support: str
    note: str
    args: tuple[str, ...]
    complete: Callable | None = None  # ``complete(t, ret, *args)`` once a blocked call is done
    result: str = "d"  # how --strace prints the result (registry.syscall's ``ret``)

    @property
    def nargs(self) -> int:
        """Registers the handler takes: one per argument kind, except the "@" kinds."""
        return sum(1 for a in self.args if not a.startswith("@"))


# Known-unimplemented calls and what the guest sees (ENOSYS unless the note says otherwise).
UNIMPLEMENTED_NOTES = {
    "io_uring_setup": "not modelled", "bpf": "not modelled", "perf_event_open": "not modelled",
    "userfaultfd": "not modelled",
}


# Argument kinds of unimplemented calls glibc makes at start-up, so --strace shows their arguments.
UNIMPLEMENTED_ARGS = {"rseq": ("p", "x", "i", "x"), "clone3": ("p", "u")}

# strace's classes of syscalls (its x86-64 syscall table's flags): ``-e trace=%NAME``.
CLASSES: dict[str, tuple[str, ...]] = {name: tuple(names.split()) for name, names in {
    "desc": """read write open close fstat poll lseek mmap ioctl pread64 pwrite64 readv writev pipe
        select dup dup2 sendfile fcntl flock fsync fdatasync ftruncate getdents fchdir creat fchmod
        fchown fstatfs readahead fsetxattr fgetxattr flistxattr fremovexattr epoll_create
        getdents64 fadvise64 epoll_wait epoll_ctl mq_open mq_timedsend mq_timedreceive mq_notify
        mq_getsetattr inotify_init inotify_add_watch inotify_rm_watch openat mkdirat mknodat
        fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat
        faccessat pselect6 ppoll splice tee sync_file_range vmsplice utimensat epoll_pwait signalfd
        timerfd_create eventfd fallocate timerfd_settime timerfd_gettime signalfd4 eventfd2
        epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev perf_event_open fanotify_init
        fanotify_mark name_to_handle_at open_by_handle_at syncfs setns finit_module renameat2
        memfd_create kexec_file_load bpf execveat userfaultfd copy_file_range preadv2 pwritev2
        statx pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree
        move_mount fsopen fsconfig fsmount fspick pidfd_open openat2 pidfd_getfd faccessat2
        process_madvise epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset
        landlock_add_rule landlock_restrict_self memfd_secret process_mrelease cachestat
        fchmodat2 setxattrat getxattrat""",
    "file": """open stat lstat access execve truncate getcwd chdir rename mkdir rmdir creat link
        unlink symlink readlink chmod chown lchown utime mknod uselib statfs pivot_root chroot acct
        mount umount2 swapon swapoff quotactl setxattr lsetxattr getxattr lgetxattr listxattr
        llistxattr removexattr lremovexattr utimes inotify_add_watch openat mkdirat mknodat
        fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat
        faccessat utimensat fanotify_mark name_to_handle_at renameat2 execveat statx open_tree
        move_mount fsconfig fspick openat2 faccessat2 mount_setattr fchmodat2 setxattrat
        getxattrat""",
    "ipc": "shmget shmat shmctl semget semop semctl shmdt msgget msgsnd msgrcv msgctl semtimedop",
    "network": """sendfile socket connect accept sendto recvfrom sendmsg recvmsg shutdown bind listen
        getsockname getpeername socketpair setsockopt getsockopt getpmsg putpmsg accept4 recvmmsg
        sendmmsg""",
    "process": """clone fork vfork execve exit wait4 kill rt_sigqueueinfo tkill exit_group tgkill
        waitid rt_tgsigqueueinfo execveat pidfd_send_signal clone3""",
    "signal": """rt_sigaction rt_sigprocmask rt_sigreturn pause kill rt_sigpending rt_sigtimedwait
        rt_sigqueueinfo rt_sigsuspend sigaltstack tkill tgkill signalfd signalfd4
        rt_tgsigqueueinfo pidfd_send_signal io_uring_enter""",
    "memory": """mmap mprotect munmap brk mremap msync mincore madvise shmat shmdt mlock munlock
        mlockall munlockall io_setup io_destroy remap_file_pages mbind set_mempolicy get_mempolicy
        migrate_pages move_pages mlock2 pkey_mprotect io_uring_register set_mempolicy_home_node
        map_shadow_stack mseal""",
    "creds": """getuid getgid setuid setgid geteuid getegid setreuid setregid getgroups setgroups
        setresuid getresuid setresgid getresgid setfsuid setfsgid capget capset prctl""",
    "clock": """gettimeofday adjtimex settimeofday time clock_settime clock_gettime clock_getres
        clock_adjtime""",
    "pure": "getpid getuid getgid geteuid getegid getppid getpgrp gettid",
    "stat": "stat",
    "lstat": "lstat",
    "fstat": "fstat newfstatat statx",
    "%stat": "stat fstat lstat newfstatat statx",
    "statfs": "statfs",
    "fstatfs": "fstatfs",
    "%statfs": "ustat statfs fstatfs",
}.items()}

_TABLE: list[Syscall] | None = None


def table() -> list[Syscall]:
    """Every syscall number 0..MAX_NR-1 (unused numbers included, unimplemented)."""
    global _TABLE
    if _TABLE is None:
        unknown = set(_REGISTRY) - set(NAMES)
        if unknown:
            raise ValueError(f"handlers for unknown syscalls: {sorted(unknown)}")
        rows = []
        for nr, name in enumerate(NAMES):
            if name in _REGISTRY:
                fn, support, note, args, ret = _REGISTRY[name]
                rows.append(Syscall(nr, name, fn, support, note, args, _COMPLETIONS.get(name), ret))
            else:
                note = UNIMPLEMENTED_NOTES.get(name, "" if name else "not a Linux x86-64 syscall")
                rows.append(Syscall(nr, name or f"syscall_{nr}", None, UNIMPLEMENTED, note,
                                    UNIMPLEMENTED_ARGS.get(name, ())))
        _TABLE = rows
    return _TABLE


def name_of(nr: int) -> str:
    return NAMES[nr] if 0 <= nr < MAX_NR and NAMES[nr] else f"syscall_{nr}"


def number_of(name: str) -> int:
    return NAMES.index(name)


def counts() -> dict[str, int]:
    """How many defined syscalls are at each support level (unused numbers not counted)."""
    out = {lvl: 0 for lvl in LEVELS}
    for s in table():
        if NAMES[s.nr]:
            out[s.support] += 1
    return out


def render(fmt: str = "text") -> str:
    """The table as text, a markdown table, or JSON (what ``ecs-kernel syscalls`` prints)."""
    rows = [s for s in table() if NAMES[s.nr]]
    if fmt == "json":
        import json  # only for `ecs-kernel syscalls --format json`, not every run's start-up
        return json.dumps([{"nr": s.nr, "name": s.name, "support": s.support, "note": s.note}
                           for s in rows], indent=1)
    c = counts()
    summary = f"{len(rows)} syscalls: {c[FULL]} full, {c[PARTIAL]} partial, {c[UNIMPLEMENTED]} unimplemented"
    if fmt == "markdown":
        lines = ["| nr | name | support | note |", "|---:|---|---|---|"]
        lines += [f"| {s.nr} | `{s.name}` | {s.support} | {s.note.replace('|', '/')} |" for s in rows]
        return "\n".join(lines) + f"\n\n{summary}\n"
    if fmt != "text":
        raise ValueError(f"unknown format {fmt!r}")
    lines = [f"{s.nr:>4}  {s.name:<24} {s.support:<14} {s.note}".rstrip() for s in rows]
    return "\n".join(lines) + f"\n\n{summary}\n"


__all__ = ["FULL", "PARTIAL", "UNIMPLEMENTED", "NAMES", "MAX_NR", "NR_RESTART_SYSCALL", "Syscall",
           "CLASSES",
           "table", "name_of", "number_of", "counts", "render"]
