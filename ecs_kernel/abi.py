"""Linux x86-64 ABI constants: the one home of every Linux number the package uses.

The values are Linux's for x86-64, written out rather than taken from Python's ``os``, ``signal``
or ``errno`` modules, so the emulated kernel answers the same on any host (tests/test_abi.py holds
them to the host's where Python has them). Each group names the Linux header it comes from.

The last groups are kernel-internal codes that Python code, numba kernels and the compiled fast
path share: the restart errnos, run states, block kinds, exit states, timer bases, futex key
kinds. Everything here is a plain module-level int (or a frozenset / tuple of them), because
numba's nopython code can read module globals (it freezes them into the compiled code) but not
attributes of a Python class: kernels write ``from ..abi import SIGKILL, RUN_APP``.

This module imports nothing from the package: it is the bottom layer. Nothing here is restated
elsewhere (tests/test_abi.py fails on a module that binds one of these names to a literal).
"""
from __future__ import annotations

# --- include/uapi/asm-generic/errno-base.h, errno.h ----------------------------------------------

EPERM = 1
ENOENT = 2
ESRCH = 3
EINTR = 4
EIO = 5
ENXIO = 6
E2BIG = 7
ENOEXEC = 8
EBADF = 9
ECHILD = 10
EAGAIN = 11
ENOMEM = 12
EACCES = 13
EFAULT = 14
EBUSY = 16
EEXIST = 17
EXDEV = 18
ENODEV = 19
ENOTDIR = 20
EISDIR = 21
EINVAL = 22
ENFILE = 23
EMFILE = 24
ENOTTY = 25
EFBIG = 27
ENOSPC = 28
ESPIPE = 29
EROFS = 30
EPIPE = 32
EDOM = 33
ERANGE = 34
EDEADLK = 35
ENAMETOOLONG = 36
ENOSYS = 38
ENOTEMPTY = 39
ELOOP = 40
ENOMSG = 42
EIDRM = 43
ENODATA = 61
EPROTO = 71
EOVERFLOW = 75
ELIBBAD = 80
EUSERS = 87
ENOTSOCK = 88
EDESTADDRREQ = 89
EMSGSIZE = 90
EPROTOTYPE = 91
ENOPROTOOPT = 92
EPROTONOSUPPORT = 93
ESOCKTNOSUPPORT = 94
EOPNOTSUPP = 95
EAFNOSUPPORT = 97
EADDRINUSE = 98
EADDRNOTAVAIL = 99
ENETUNREACH = 101
ECONNABORTED = 103
ECONNRESET = 104
ENOBUFS = 105
EISCONN = 106
ENOTCONN = 107
ECONNREFUSED = 111
EALREADY = 114
EINPROGRESS = 115
ETIMEDOUT = 110
ECANCELED = 125

# Every errno's name by number ("" where Linux has none: 41, 58), as strace and glibc spell them:
# the first of two aliases (EAGAIN, not EWOULDBLOCK; EDEADLK, not EDEADLOCK; EOPNOTSUPP, not
# ENOTSUP). tests/test_abi.py holds the named constants above to it.
ERRNO_NAMES = (
    "", "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF", "ECHILD",
    "EAGAIN", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST", "EXDEV", "ENODEV",
    "ENOTDIR", "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY", "ETXTBSY", "EFBIG", "ENOSPC",
    "ESPIPE", "EROFS", "EMLINK", "EPIPE", "EDOM", "ERANGE", "EDEADLK", "ENAMETOOLONG", "ENOLCK",
    "ENOSYS", "ENOTEMPTY", "ELOOP", "", "ENOMSG", "EIDRM", "ECHRNG", "EL2NSYNC", "EL3HLT",
    "EL3RST", "ELNRNG", "EUNATCH", "ENOCSI", "EL2HLT", "EBADE", "EBADR", "EXFULL", "ENOANO",
    "EBADRQC", "EBADSLT", "", "EBFONT", "ENOSTR", "ENODATA", "ETIME", "ENOSR", "ENONET", "ENOPKG",
    "EREMOTE", "ENOLINK", "EADV", "ESRMNT", "ECOMM", "EPROTO", "EMULTIHOP", "EDOTDOT", "EBADMSG",
    "EOVERFLOW", "ENOTUNIQ", "EBADFD", "EREMCHG", "ELIBACC", "ELIBBAD", "ELIBSCN", "ELIBMAX",
    "ELIBEXEC", "EILSEQ", "ERESTART", "ESTRPIPE", "EUSERS", "ENOTSOCK", "EDESTADDRREQ", "EMSGSIZE",
    "EPROTOTYPE", "ENOPROTOOPT", "EPROTONOSUPPORT", "ESOCKTNOSUPPORT", "EOPNOTSUPP",
    "EPFNOSUPPORT", "EAFNOSUPPORT", "EADDRINUSE", "EADDRNOTAVAIL", "ENETDOWN", "ENETUNREACH",
    "ENETRESET", "ECONNABORTED", "ECONNRESET", "ENOBUFS", "EISCONN", "ENOTCONN", "ESHUTDOWN",
    "ETOOMANYREFS", "ETIMEDOUT", "ECONNREFUSED", "EHOSTDOWN", "EHOSTUNREACH", "EALREADY",
    "EINPROGRESS", "ESTALE", "EUCLEAN", "ENOTNAM", "ENAVAIL", "EISNAM", "EREMOTEIO", "EDQUOT",
    "ENOMEDIUM", "EMEDIUMTYPE", "ECANCELED", "ENOKEY", "EKEYEXPIRED", "EKEYREVOKED",
    "EKEYREJECTED", "EOWNERDEAD", "ENOTRECOVERABLE", "ERFKILL", "EHWPOISON",
)

# --- include/linux/errno.h: kernel-internal restart codes -----------------------------------------
# Never seen by a guest: signal delivery turns them into a restart of the syscall or into -EINTR.

ERESTARTSYS = 512
ERESTARTNOINTR = 513
ERESTARTNOHAND = 514
ERESTART_RESTARTBLOCK = 516

# --- arch/x86/include/uapi/asm/signal.h -----------------------------------------------------------

SIGHUP = 1
SIGINT = 2
SIGQUIT = 3
SIGILL = 4
SIGTRAP = 5
SIGABRT = 6
SIGBUS = 7
SIGFPE = 8
SIGKILL = 9
SIGUSR1 = 10
SIGSEGV = 11
SIGUSR2 = 12
SIGPIPE = 13
SIGALRM = 14
SIGTERM = 15
SIGSTKFLT = 16
SIGCHLD = 17
SIGCONT = 18
SIGSTOP = 19
SIGTSTP = 20
SIGTTIN = 21
SIGTTOU = 22
SIGURG = 23
SIGXCPU = 24
SIGXFSZ = 25
SIGVTALRM = 26
SIGPROF = 27
SIGWINCH = 28
SIGIO = 29
SIGPWR = 30
SIGSYS = 31
SIGRTMIN = 32  # the kernel's SIGRTMIN; glibc reserves 32 and 33 and reports 34
SIGRTMAX = 64
NSIG = 64  # _NSIG: signals are 1..64, a sigset_t is one uint64 (bit signo - 1)

SA_NOCLDSTOP = 0x00000001
SA_NOCLDWAIT = 0x00000002
SA_SIGINFO = 0x00000004
SA_RESTORER = 0x04000000
SA_ONSTACK = 0x08000000
SA_RESTART = 0x10000000
SA_NODEFER = 0x40000000
SA_RESETHAND = 0x80000000

# The legacy constant, also AT_MINSIGSTKSZ's default here: Linux puts get_sigframe_size() in
# AT_MINSIGSTKSZ (11952 on an AVX-512 host); the signal-frame code should pass its own.
MINSIGSTKSZ = 2048

# --- include/uapi/asm-generic/signal-defs.h -------------------------------------------------------

SIG_BLOCK = 0
SIG_UNBLOCK = 1
SIG_SETMASK = 2

SIG_DFL = 0
SIG_IGN = 1

# --- include/uapi/linux/signal.h: sigaltstack(2) ---------------------------------------------------

SS_ONSTACK = 1
SS_DISABLE = 2
SS_AUTODISARM = 1 << 31

# --- include/uapi/asm-generic/siginfo.h -----------------------------------------------------------

# si_code: who sent it (<= 0: user space).
SI_USER = 0
SI_KERNEL = 0x80
SI_QUEUE = -1
SI_TIMER = -2
SI_MESGQ = -3
SI_ASYNCIO = -4
SI_SIGIO = -5
SI_TKILL = -6
SI_DETHREAD = -7

# si_code of SIGILL, SIGFPE, SIGSEGV, SIGBUS, SIGTRAP (the CPU exceptions raise these).
ILL_ILLOPC = 1
ILL_ILLOPN = 2
ILL_ILLADR = 3
ILL_ILLTRP = 4
ILL_PRVOPC = 5
ILL_PRVREG = 6
ILL_COPROC = 7
ILL_BADSTK = 8
FPE_INTDIV = 1
FPE_INTOVF = 2
FPE_FLTDIV = 3
FPE_FLTOVF = 4
FPE_FLTUND = 5
FPE_FLTRES = 6
FPE_FLTINV = 7
FPE_FLTSUB = 8
SEGV_MAPERR = 1
SEGV_ACCERR = 2
SEGV_BNDERR = 3
SEGV_PKUERR = 4
BUS_ADRALN = 1
BUS_ADRERR = 2
BUS_OBJERR = 3
TRAP_BRKPT = 1
TRAP_TRACE = 2

# si_code of SIGCHLD.
CLD_EXITED = 1
CLD_KILLED = 2
CLD_DUMPED = 3
CLD_TRAPPED = 4
CLD_STOPPED = 5
CLD_CONTINUED = 6

SIGEV_SIGNAL = 0
SIGEV_NONE = 1
SIGEV_THREAD = 2
SIGEV_THREAD_ID = 4

# --- signal sets (kernel/signal.c, signal(7)) -----------------------------------------------------


def _mask(*signals: int) -> int:
    m = 0
    for s in signals:
        m |= 1 << (s - 1)
    return m


# Default actions (signal(7)): ignore, stop, core dump; the rest terminate.
DEFAULT_IGNORE = frozenset({SIGCHLD, SIGCONT, SIGURG, SIGWINCH})
STOP_SIGNALS = frozenset({SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU})
COREDUMP_SIGNALS = frozenset({SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGXCPU,
                              SIGXFSZ, SIGSYS})

UNBLOCKABLE = _mask(SIGKILL, SIGSTOP)  # Linux strips these from every mask it installs
STOP_MASK = _mask(*STOP_SIGNALS)
DEFAULT_IGNORE_MASK = _mask(*DEFAULT_IGNORE)
# kernel/signal.c SYNCHRONOUS_MASK: the fault signals next_signal() dequeues first.
SYNCHRONOUS_MASK = _mask(SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS)
FULL_MASK = (1 << NSIG) - 1

# --- include/uapi/linux/sched.h: clone(2) flags ---------------------------------------------------

CSIGNAL = 0x000000FF  # the exit signal sent to the parent
CLONE_VM = 0x00000100
CLONE_FS = 0x00000200
CLONE_FILES = 0x00000400
CLONE_SIGHAND = 0x00000800
CLONE_PIDFD = 0x00001000
CLONE_PTRACE = 0x00002000
CLONE_VFORK = 0x00004000
CLONE_PARENT = 0x00008000
CLONE_THREAD = 0x00010000
CLONE_NEWNS = 0x00020000
CLONE_SYSVSEM = 0x00040000
CLONE_SETTLS = 0x00080000
CLONE_PARENT_SETTID = 0x00100000
CLONE_CHILD_CLEARTID = 0x00200000
CLONE_DETACHED = 0x00400000
CLONE_UNTRACED = 0x00800000
CLONE_CHILD_SETTID = 0x01000000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_IO = 0x80000000
# clone3(2) only (they do not fit clone's 32-bit flags word) and struct clone_args sizes.
CLONE_CLEAR_SIGHAND = 0x100000000
CLONE_INTO_CGROUP = 0x200000000
CLONE_NEWTIME = 0x00000080  # a namespace flag that only clone3 and unshare accept
CLONE_ARGS_SIZE_VER0 = 64
CLONE_ARGS_SIZE_VER1 = 80  # + set_tid, set_tid_size
CLONE_ARGS_SIZE_VER2 = 88  # + cgroup

# scheduling policies.
SCHED_NORMAL = 0  # SCHED_OTHER
SCHED_FIFO = 1
SCHED_RR = 2
SCHED_BATCH = 3
SCHED_IDLE = 5
SCHED_DEADLINE = 6

# getpriority(2) / setpriority(2) ``which`` (include/uapi/linux/resource.h).
PRIO_PROCESS = 0
PRIO_PGRP = 1
PRIO_USER = 2

# capget(2) header versions (include/uapi/linux/capability.h: _LINUX_CAPABILITY_VERSION_*).
LINUX_CAPABILITY_VERSION_1 = 0x19980330
LINUX_CAPABILITY_VERSION_2 = 0x20071026
LINUX_CAPABILITY_VERSION_3 = 0x20080522
# User namespaces (include/linux/user_namespace.h, kernel/user_namespace.c, include/linux/uidgid.h).
OVERFLOW_UID = 65534  # overflowuid: what an id without a mapping reads as
OVERFLOW_GID = 65534
INVALID_ID = 0xFFFF_FFFF  # INVALID_UID / INVALID_GID: (uid_t)-1
UID_GID_MAP_MAX_EXTENTS = 340  # lines of one uid_map or gid_map
USER_NS_MAX_LEVEL = 32  # create_user_ns: a parent deeper than this gives ENOSPC (32 nested)
CAP_LAST_CAP = 40  # CAP_CHECKPOINT_RESTORE
CAP_FULL_SET = (1 << (CAP_LAST_CAP + 1)) - 1  # CAP_VALID_MASK
# include/uapi/linux/capability.h: the capabilities (bit numbers).
CAP_CHOWN = 0
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_FOWNER = 3
CAP_FSETID = 4
CAP_KILL = 5
CAP_SETGID = 6
CAP_SETUID = 7
CAP_SETPCAP = 8
CAP_LINUX_IMMUTABLE = 9
CAP_NET_BIND_SERVICE = 10
CAP_NET_BROADCAST = 11
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAP_IPC_LOCK = 14
CAP_IPC_OWNER = 15
CAP_SYS_MODULE = 16
CAP_SYS_RAWIO = 17
CAP_SYS_CHROOT = 18
CAP_SYS_PTRACE = 19
CAP_SYS_PACCT = 20
CAP_SYS_ADMIN = 21
CAP_SYS_BOOT = 22
CAP_SYS_NICE = 23
CAP_SYS_RESOURCE = 24
CAP_SYS_TIME = 25
CAP_SYS_TTY_CONFIG = 26
CAP_MKNOD = 27
CAP_LEASE = 28
CAP_AUDIT_WRITE = 29
CAP_AUDIT_CONTROL = 30
CAP_SETFCAP = 31
CAP_MAC_OVERRIDE = 32
CAP_MAC_ADMIN = 33
CAP_SYSLOG = 34
CAP_WAKE_ALARM = 35
CAP_BLOCK_SUSPEND = 36
CAP_AUDIT_READ = 37
CAP_PERFMON = 38
CAP_BPF = 39
CAP_CHECKPOINT_RESTORE = 40
# include/linux/capability.h CAP_FS_MASK: what a change of fsuid to or from 0 drops or raises.
CAP_FS_MASK = ((1 << CAP_CHOWN) | (1 << CAP_MKNOD) | (1 << CAP_DAC_OVERRIDE)
               | (1 << CAP_DAC_READ_SEARCH) | (1 << CAP_FOWNER) | (1 << CAP_FSETID)
               | (1 << CAP_MAC_OVERRIDE) | (1 << CAP_LINUX_IMMUTABLE))
# include/uapi/linux/securebits.h (bit numbers; each has a _LOCKED bit one above).
SECURE_NOROOT = 0
SECURE_NO_SETUID_FIXUP = 2
SECURE_KEEP_CAPS = 4
SECURE_NO_CAP_AMBIENT_RAISE = 6
SECURE_EXEC_RESTRICT_FILE = 8
SECURE_EXEC_DENY_INTERACTIVE = 10
SECBIT_KEEP_CAPS = 1 << SECURE_KEEP_CAPS
SECURE_ALL_BITS = 0x55 | (1 << SECURE_EXEC_RESTRICT_FILE) | (1 << SECURE_EXEC_DENY_INTERACTIVE)
SECURE_ALL_LOCKS = SECURE_ALL_BITS << 1

# include/linux/sched/prio.h, include/uapi/linux/sched.h, include/uapi/linux/sched/types.h.
MIN_NICE = -20
MAX_NICE = 19
MAX_RT_PRIO = 100
SCHED_RESET_ON_FORK = 0x40000000
SCHED_FLAG_RESET_ON_FORK = 0x01
SCHED_FLAG_RECLAIM = 0x02
SCHED_FLAG_DL_OVERRUN = 0x04
SCHED_FLAG_KEEP_POLICY = 0x08
SCHED_FLAG_KEEP_PARAMS = 0x10
SCHED_FLAG_UTIL_CLAMP_MIN = 0x20
SCHED_FLAG_UTIL_CLAMP_MAX = 0x40
SCHED_FLAG_UTIL_CLAMP = SCHED_FLAG_UTIL_CLAMP_MIN | SCHED_FLAG_UTIL_CLAMP_MAX
SCHED_FLAG_ALL = 0x7F
SCHED_FLAG_SUGOV = 0x10000000  # kernel-internal: never from user space
SCHED_ATTR_SIZE_VER0 = 48  # struct sched_attr without the utilization clamps
SCHED_ATTR_SIZE_VER1 = 56
SCHED_CAPACITY_SCALE = 1024  # the default sched_util_max
DL_SCALE = 10  # SCHED_DEADLINE runtimes below 1 << DL_SCALE ns are refused
DL_PERIOD_MIN_NS = 100 * 1000  # kernel.sched_deadline_period_min_us (100)
DL_PERIOD_MAX_NS = (1 << 22) * 1000  # kernel.sched_deadline_period_max_us (4194304)
DL_BW_SHIFT = 20  # BW_SHIFT: bandwidths are fractions of 1 << 20
SCHED_RT_RUNTIME_NS = 950_000_000  # kernel.sched_rt_runtime_us / sched_rt_period_us: what
SCHED_RT_PERIOD_NS = 1_000_000_000  # SCHED_DEADLINE tasks may reserve of a CPU
SCHED_RR_TIMESLICE_NS = 100_000_000  # RR_TIMESLICE: sched_rr_get_interval of SCHED_RR
SCHED_BASE_SLICE_NS = 700_000  # normalized_sysctl_sched_base_slice (Linux 6.18), before scaling
SCHED_SLICE_MIN_NS = 100_000  # a custom slice (sched_attr.sched_runtime of a fair task) is
SCHED_SLICE_MAX_NS = 100_000_000  # clamped to 0.1..100 ms

# include/uapi/linux/ioprio.h
IOPRIO_CLASS_SHIFT = 13
IOPRIO_CLASS_NONE = 0
IOPRIO_CLASS_RT = 1
IOPRIO_CLASS_BE = 2
IOPRIO_CLASS_IDLE = 3
IOPRIO_LEVEL_MASK = 0x7
IOPRIO_NR_LEVELS = 8
IOPRIO_WHO_PROCESS = 1
IOPRIO_WHO_PGRP = 2
IOPRIO_WHO_USER = 3

# include/uapi/linux/membarrier.h
MEMBARRIER_CMD_QUERY = 0
MEMBARRIER_CMD_GLOBAL = 1 << 0
MEMBARRIER_CMD_GLOBAL_EXPEDITED = 1 << 1
MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED = 1 << 2
MEMBARRIER_CMD_PRIVATE_EXPEDITED = 1 << 3
MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED = 1 << 4
MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE = 1 << 5
MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE = 1 << 6
MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ = 1 << 7
MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ = 1 << 8
MEMBARRIER_CMD_GET_REGISTRATIONS = 1 << 9
MEMBARRIER_CMD_FLAG_CPU = 1 << 0

# include/uapi/linux/rseq.h, kernel/rseq.c
RSEQ_FLAG_UNREGISTER = 1 << 0
RSEQ_CPU_ID_UNINITIALIZED = -1
RSEQ_CPU_ID_REGISTRATION_FAILED = -2
ORIG_RSEQ_SIZE = 32  # struct rseq up to and including ``flags``
RSEQ_ALIGN = 32  # the area's alignment (AT_RSEQ_ALIGN)
# offsets in struct rseq
RSEQ_OFF_CPU_ID_START = 0
RSEQ_OFF_CPU_ID = 4
RSEQ_OFF_RSEQ_CS = 8
RSEQ_OFF_FLAGS = 16
RSEQ_OFF_NODE_ID = 20
RSEQ_OFF_MM_CID = 24
RSEQ_FEATURE_SIZE = 28  # offsetofend(struct rseq, mm_cid): AT_RSEQ_FEATURE_SIZE

# --- include/uapi/linux/wait.h --------------------------------------------------------------------

WNOHANG = 0x00000001
WUNTRACED = 0x00000002
WSTOPPED = WUNTRACED
WEXITED = 0x00000004
WCONTINUED = 0x00000008
WNOWAIT = 0x01000000
WNOTHREAD = 0x20000000  # __WNOTHREAD
WALL = 0x40000000  # __WALL
WCLONE = 0x80000000  # __WCLONE

P_ALL = 0
P_PID = 1
P_PGID = 2

# The wait status (kernel/exit.c, glibc bits/waitstatus.h): exit code << 8, or the killing signal
# with WCOREFLAG for a core dump; a stop is signal << 8 | WSTATUS_STOPPED (glibc __W_STOPCODE), a
# continue WSTATUS_CONTINUED (__W_CONTINUED).
WCOREFLAG = 0x80
WSTATUS_STOPPED = 0x7F
WSTATUS_CONTINUED = 0xFFFF

# --- include/uapi/linux/futex.h -------------------------------------------------------------------

FUTEX_WAIT = 0
FUTEX_WAKE = 1
FUTEX_FD = 2
FUTEX_REQUEUE = 3
FUTEX_CMP_REQUEUE = 4
FUTEX_WAKE_OP = 5
FUTEX_LOCK_PI = 6
FUTEX_UNLOCK_PI = 7
FUTEX_TRYLOCK_PI = 8
FUTEX_WAIT_BITSET = 9
FUTEX_WAKE_BITSET = 10
FUTEX_WAIT_REQUEUE_PI = 11
FUTEX_CMP_REQUEUE_PI = 12
FUTEX_LOCK_PI2 = 13
FUTEX_PRIVATE_FLAG = 128
FUTEX_CLOCK_REALTIME = 256
FUTEX_CMD_MASK = ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF

# FUTEX_WAKE_OP's encoded operation and comparison.
FUTEX_OP_SET = 0
FUTEX_OP_ADD = 1
FUTEX_OP_OR = 2
FUTEX_OP_ANDN = 3
FUTEX_OP_XOR = 4
FUTEX_OP_OPARG_SHIFT = 8
FUTEX_OP_CMP_EQ = 0
FUTEX_OP_CMP_NE = 1
FUTEX_OP_CMP_LT = 2
FUTEX_OP_CMP_LE = 3
FUTEX_OP_CMP_GT = 4
FUTEX_OP_CMP_GE = 5

# The futex word of a PI lock and of a robust list entry.
FUTEX_WAITERS = 0x80000000
FUTEX_OWNER_DIED = 0x40000000
FUTEX_TID_MASK = 0x3FFFFFFF
ROBUST_LIST_LIMIT = 2048  # kernel/futex: entries walked at exit before giving up
ROBUST_LIST_HEAD_SIZE = 24  # sizeof(struct robust_list_head) on x86-64

# --- include/uapi/linux/time.h, include/linux/posix-timers.h ---------------------------------------

CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 1
CLOCK_PROCESS_CPUTIME_ID = 2
CLOCK_THREAD_CPUTIME_ID = 3
CLOCK_MONOTONIC_RAW = 4
CLOCK_REALTIME_COARSE = 5
CLOCK_MONOTONIC_COARSE = 6
CLOCK_BOOTTIME = 7
CLOCK_REALTIME_ALARM = 8
CLOCK_BOOTTIME_ALARM = 9
CLOCK_TAI = 11

TIMER_ABSTIME = 0x01

ITIMER_REAL = 0
ITIMER_VIRTUAL = 1
ITIMER_PROF = 2

# The clockid encoding of CPU clocks (clock_getcpuclockid, pthread_getcpuclockid).
CPUCLOCK_PROF = 0  # user + system
CPUCLOCK_VIRT = 1  # user
CPUCLOCK_SCHED = 2  # user + system here (Linux: sum_exec_runtime)
CPUCLOCK_MAX = 3
CPUCLOCK_PERTHREAD_MASK = 4
CPUCLOCK_CLOCK_MASK = 3

NSEC_PER_SEC = 1_000_000_000  # include/vdso/time64.h: a timespec's tv_nsec stays below it
KTIME_MAX = (1 << 63) - 1  # include/linux/ktime.h: times saturate here
USER_HZ = 100  # arch/x86 asm/param.h: times(2) clock ticks per second (sysconf(_SC_CLK_TCK))

# --- include/uapi/asm-generic/resource.h, linux/resource.h ---------------------------------------

RLIMIT_CPU = 0
RLIMIT_FSIZE = 1
RLIMIT_DATA = 2
RLIMIT_STACK = 3
RLIMIT_CORE = 4
RLIMIT_RSS = 5
RLIMIT_NPROC = 6
RLIMIT_NOFILE = 7
RLIMIT_MEMLOCK = 8
RLIMIT_AS = 9
RLIMIT_LOCKS = 10
RLIMIT_SIGPENDING = 11
RLIMIT_MSGQUEUE = 12
RLIMIT_NICE = 13
RLIMIT_RTPRIO = 14
RLIMIT_RTTIME = 15
RLIM_NLIMITS = 16
SYSCTL_NR_OPEN = 1 << 20  # sysctl fs.nr_open: no RLIMIT_NOFILE above it
RLIM_INFINITY = 0xFFFF_FFFF_FFFF_FFFF  # ~0UL
STK_LIM = 8 * 1024 * 1024  # _STK_LIM (linux/resource.h): the default RLIMIT_STACK

RUSAGE_SELF = 0
RUSAGE_CHILDREN = -1
RUSAGE_THREAD = 1

# --- include/uapi/asm-generic/fcntl.h (x86-64) ----------------------------------------------------

O_ACCMODE = 0o3
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_CREAT = 0o100
O_EXCL = 0o200
O_NOCTTY = 0o400
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_NONBLOCK = 0o4000
O_DSYNC = 0o10000
O_ASYNC = 0o20000  # FASYNC
O_DIRECT = 0o40000
O_LARGEFILE = 0o100000
O_DIRECTORY = 0o200000
O_NOFOLLOW = 0o400000
O_NOATIME = 0o1000000
O_CLOEXEC = 0o2000000
O_SYNC = 0o4010000
O_PATH = 0o10000000
O_TMPFILE = 0o20000000 | O_DIRECTORY

# Flags that only matter while opening; Linux clears them from f_flags (do_dentry_open).
OPEN_ONLY_FLAGS = O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC
# Flags fcntl(F_SETFL) may change (fs/fcntl.c SETFL_MASK).
SETFL_MASK = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME

F_DUPFD = 0
F_GETFD = 1
F_SETFD = 2
F_GETFL = 3
F_SETFL = 4
F_GETLK = 5
F_SETLK = 6
F_SETLKW = 7
F_SETOWN = 8
F_GETOWN = 9
F_SETSIG = 10
F_GETSIG = 11
F_SETOWN_EX = 15
F_GETOWN_EX = 16
F_OWNER_TID = 0  # struct f_owner_ex's type
F_OWNER_PID = 1
F_OWNER_PGRP = 2
POLL_IN = 1  # a SIGPOLL's si_code (why)
POLL_OUT = 2
POLL_HUP = 6
F_OFD_GETLK = 36
F_OFD_SETLK = 37
F_OFD_SETLKW = 38
F_DUPFD_CLOEXEC = 1030  # F_LINUX_SPECIFIC_BASE + 6
F_SETPIPE_SZ = 1031
F_GETPIPE_SZ = 1032
F_ADD_SEALS = 1033
F_GET_SEALS = 1034
F_RDLCK = 0
F_WRLCK = 1
F_UNLCK = 2
FD_CLOEXEC = 1

# flock(2) operations.
LOCK_SH = 1
LOCK_EX = 2
LOCK_NB = 4
LOCK_UN = 8

# *at flags (include/uapi/linux/fcntl.h).
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_EACCESS = 0x200  # faccessat: the same bit as AT_REMOVEDIR
AT_SYMLINK_FOLLOW = 0x400
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
AT_STATX_SYNC_AS_STAT = 0x0000
AT_STATX_FORCE_SYNC = 0x2000
AT_STATX_DONT_SYNC = 0x4000
AT_STATX_SYNC_TYPE = 0x6000

# renameat2(2) flags.
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RENAME_WHITEOUT = 4

# access(2) modes (unistd.h).
F_OK = 0
X_OK = 1
W_OK = 2
R_OK = 4

# lseek(2) whence (include/uapi/linux/fs.h).
SEEK_SET = 0
SEEK_CUR = 1
SEEK_END = 2
SEEK_DATA = 3
SEEK_HOLE = 4

# posix_fadvise(2) advice (include/uapi/linux/fadvise.h, x86-64).
POSIX_FADV_NORMAL = 0
POSIX_FADV_NOREUSE = 5

# fallocate(2) mode (include/uapi/linux/falloc.h).
FALLOC_FL_KEEP_SIZE = 0x01

# utimensat(2) (include/uapi/linux/stat.h).
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2

# statx(2) mask bits (include/uapi/linux/stat.h).
STATX_TYPE = 0x0001
STATX_MODE = 0x0002
STATX_NLINK = 0x0004
STATX_UID = 0x0008
STATX_GID = 0x0010
STATX_ATIME = 0x0020
STATX_MTIME = 0x0040
STATX_CTIME = 0x0080
STATX_INO = 0x0100
STATX_SIZE = 0x0200
STATX_BLOCKS = 0x0400
STATX_BASIC_STATS = 0x7FF
STATX_BTIME = 0x0800
STATX_MNT_ID = 0x1000
STATX_DIOALIGN = 0x2000

# close_range(2) (include/uapi/linux/close_range.h).
CLOSE_RANGE_UNSHARE = 1 << 1
CLOSE_RANGE_CLOEXEC = 1 << 2

# --- include/uapi/linux/stat.h, linux/fs_types.h: file types -------------------------------------

S_IFMT = 0o170000
S_IFSOCK = 0o140000
S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFBLK = 0o060000
S_IFDIR = 0o040000
S_IFCHR = 0o020000
S_IFIFO = 0o010000
S_ISUID = 0o4000
S_ISGID = 0o2000
S_ISVTX = 0o1000
S_IXGRP = 0o0010
S_IXUGO = 0o0111

# getdents64 d_type values.
DT_UNKNOWN = 0
DT_FIFO = 1
DT_CHR = 2
DT_DIR = 4
DT_BLK = 6
DT_REG = 8
DT_LNK = 10
DT_SOCK = 12

# --- include/uapi/asm-generic/poll.h, linux/eventpoll.h -------------------------------------------

POLLIN = 0x001
POLLPRI = 0x002
POLLOUT = 0x004
POLLERR = 0x008
POLLHUP = 0x010
POLLNVAL = 0x020
POLLRDNORM = 0x040
POLLRDBAND = 0x080
POLLWRNORM = 0x100
POLLWRBAND = 0x200
POLLRDHUP = 0x2000
DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM  # files without a poll method

EPOLLIN = 0x001
EPOLLPRI = 0x002
EPOLLOUT = 0x004
EPOLLERR = 0x008
EPOLLHUP = 0x010
EPOLLRDNORM = 0x040
EPOLLWRNORM = 0x100
EPOLLWRBAND = 0x200
EPOLLRDHUP = 0x2000
EPOLLEXCLUSIVE = 1 << 28
EPOLLWAKEUP = 1 << 29
EPOLLONESHOT = 1 << 30
EPOLLET = 1 << 31
EPOLL_CTL_ADD = 1
EPOLL_CTL_DEL = 2
EPOLL_CTL_MOD = 3
EP_MAX_NESTS = 4  # fs/eventpoll.c: how deep epoll instances may watch each other

EFD_SEMAPHORE = 1  # linux/eventfd.h

# memfd_create(2) (include/uapi/linux/memfd.h).
MFD_CLOEXEC = 0x0001
MFD_ALLOW_SEALING = 0x0002
MFD_HUGETLB = 0x0004
MFD_NOEXEC_SEAL = 0x0008
MFD_EXEC = 0x0010

TMPFS_MAGIC = 0x01021994  # statfs(2) f_type (include/uapi/linux/magic.h)
OVERLAYFS_SUPER_MAGIC = 0x794C7630
PROC_SUPER_MAGIC = 0x9FA0
SYSFS_MAGIC = 0x62656572
PIPEFS_MAGIC = 0x50495045
SOCKFS_MAGIC = 0x534F434B
MQUEUE_MAGIC = 0x19800202

# --- include/uapi/asm-generic/ioctls.h ------------------------------------------------------------

TCGETS = 0x5401
TCSETS = 0x5402
TCSETSW = 0x5403
TCSETSF = 0x5404
TIOCSCTTY = 0x540E
TIOCGPGRP = 0x540F
TIOCSPGRP = 0x5410
TIOCNOTTY = 0x5422
TIOCGSID = 0x5429
TERMIOS_SIZE = 36  # the kernel's struct termios (TCGETS): four flag words, c_line, c_cc[19]
TOSTOP = 0o400  # termios c_lflag: background writes stop the job (SIGTTOU)
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414
FIONREAD = 0x541B
FIONBIO = 0x5421
FIOASYNC = 0x5452
FIONCLEX = 0x5450
FIOCLEX = 0x5451

# --- include/uapi/asm-generic/mman-common.h, mman.h, asm/mman.h -----------------------------------

PROT_NONE = 0x0
PROT_READ = 0x1
PROT_WRITE = 0x2
PROT_EXEC = 0x4
PROT_SEM = 0x8
PROT_GROWSDOWN = 0x01000000
PROT_GROWSUP = 0x02000000

MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_SHARED_VALIDATE = 0x03
MAP_TYPE = 0x0F
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_32BIT = 0x40
MAP_GROWSDOWN = 0x0100
MAP_DENYWRITE = 0x0800
MAP_EXECUTABLE = 0x1000
MAP_LOCKED = 0x2000
MAP_NORESERVE = 0x4000
MAP_POPULATE = 0x8000
MAP_NONBLOCK = 0x10000
MAP_STACK = 0x20000
MAP_HUGETLB = 0x40000
MAP_SYNC = 0x80000
MAP_FIXED_NOREPLACE = 0x100000
MAP_UNINITIALIZED = 0x4000000
MAP_HUGE_2MB = 21 << 26  # MAP_HUGE_SHIFT 26: log2 of the page size
MAP_HUGE_1GB = 30 << 26

MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2
MREMAP_DONTUNMAP = 4

MS_ASYNC = 1
MS_INVALIDATE = 2
MS_SYNC = 4

# personality(2) (include/uapi/linux/personality.h): the execution domain in the low byte, flags
PER_LINUX = 0x0000
PER_LINUX32 = 0x0008
PER_MASK = 0x00FF
UNAME26 = 0x0020000
ADDR_NO_RANDOMIZE = 0x0040000
FDPIC_FUNCPTRS = 0x0080000
MMAP_PAGE_ZERO = 0x0100000
ADDR_COMPAT_LAYOUT = 0x0200000
READ_IMPLIES_EXEC = 0x0400000
ADDR_LIMIT_32BIT = 0x0800000
SHORT_INODE = 0x1000000
WHOLE_SECONDS = 0x2000000
STICKY_TIMEOUTS = 0x4000000
ADDR_LIMIT_3GB = 0x8000000
PER_CLEAR_ON_SETID = READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE | ADDR_COMPAT_LAYOUT | MMAP_PAGE_ZERO
MCL_CURRENT = 1  # mlockall(2)
MCL_FUTURE = 2
MCL_ONFAULT = 4
MLOCK_ONFAULT = 1  # mlock2(2)
MADV_NORMAL = 0
MADV_RANDOM = 1
MADV_SEQUENTIAL = 2
MADV_WILLNEED = 3
MADV_DONTNEED = 4
MADV_FREE = 8
MADV_REMOVE = 9
MADV_DONTFORK = 10
MADV_DOFORK = 11
MADV_MERGEABLE = 12
MADV_UNMERGEABLE = 13
MADV_HUGEPAGE = 14
MADV_NOHUGEPAGE = 15
MADV_DONTDUMP = 16
MADV_DODUMP = 17
MADV_WIPEONFORK = 18
MADV_KEEPONFORK = 19
MADV_COLD = 20
MADV_PAGEOUT = 21
MADV_POPULATE_READ = 22
MADV_POPULATE_WRITE = 23
MADV_DONTNEED_LOCKED = 24
MADV_COLLAPSE = 25
MADV_HWPOISON = 100
MADV_SOFT_OFFLINE = 101
MADV_GUARD_INSTALL = 102
MADV_GUARD_REMOVE = 103

# --- arch/x86: the user address space (asm/page_types.h, page_64_types.h) -------------------------

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
# arch/x86/include/uapi/asm/vsyscall.h: the legacy vsyscall page (vsyscall=xonly: calls into it
# fault and the kernel emulates them, emulate_vsyscall); its three entry points, 1 KiB apart
VSYSCALL_ADDR = 0xFFFFFFFFFF600000
VSYSCALL_ENTRY_SIZE = 0x400
PAGE_MASK = ~(PAGE_SIZE - 1)
# 4-level paging: TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE, the top of user space (0x7ffffffff000).
TASK_SIZE = (1 << 47) - PAGE_SIZE
MMAP_MIN_ADDR = 0x10000  # /proc/sys/vm/mmap_min_addr default: nothing is mapped below it

# Segment selectors a 64-bit task runs with (asm/segment.h __USER_CS, __USER_DS).
USER_CS = 0x33
USER_SS = 0x2B

# uc_flags of a signal frame (arch/x86/include/uapi/asm/ucontext.h).
UC_SIGCONTEXT_SS = 0x2
UC_STRICT_RESTORE_SS = 0x4

# --- limits: include/uapi/linux/limits.h, binfmts.h, uio.h; include/linux/fs.h, namei.h ----------

PATH_MAX = 4096  # including the terminating NUL: a path of 4096 bytes is ENAMETOOLONG
NAME_MAX = 255
PIPE_BUF = 4096
ARG_MAX = 32 * PAGE_SIZE  # in bytes: 32 pages
MAX_ARG_STRLEN = 32 * PAGE_SIZE  # bounds each argv/envp string, NUL included
MAX_ARG_STRINGS = 0x7FFFFFFF  # bounds argc and envc
INT_MAX = 0x7FFFFFFF  # getdents' largest buffer
# sizeof(linux_binprm->buf), 256 since Linux 5.1 (was 128): the kernel reads this many bytes of
# the file and binfmt_script looks only at them.
BINPRM_BUF_SIZE = 256
UIO_MAXIOV = 1024
MAXSYMLINKS = 40
MAX_LFS_FILESIZE = (1 << 63) - 1
OFFSET_MAX = (1 << 63) - 1  # type_max(loff_t): the largest file offset (rw_verify_area, locks)
NEW_UTS_LEN = 64  # __NEW_UTS_LEN: a utsname field holds this many bytes and a NUL

# --- include/uapi/linux/seccomp.h, filter.h, bpf_common.h, audit.h ------------------------------

SECCOMP_MODE_DISABLED = 0
SECCOMP_MODE_STRICT = 1
SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_STRICT = 0  # seccomp(2) operations
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_GET_NOTIF_SIZES = 3
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_LOG = 2
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8
SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 16
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 32
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_DATA = 0x0000FFFF
SECCOMP_DATA_SIZE = 64  # struct seccomp_data: nr, arch, instruction_pointer, args[6]
SECCOMP_NOTIF_SIZES = (80, 24, 64)  # struct seccomp_notif, seccomp_notif_resp, seccomp_data
MAX_INSNS_PER_PATH = 32768  # kernel/seccomp.c: instructions (+4 per filter) on one task's chain
SYS_SECCOMP = 1  # SIGSYS's si_code for a seccomp trap
AUDIT_ARCH_X86_64 = 0xC000003E
MAX_ERRNO = 4095
BPF_MAXINSNS = 4096
BPF_MEMWORDS = 16
SKF_AD_OFF = 0xFFFFF000  # -0x1000: classic BPF's ancillary loads start here
# instruction classes, sizes, modes, ALU/JMP operations, sources (bpf_common.h, filter.h)
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_RET, BPF_MISC = range(8)
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_LEN, BPF_MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50
BPF_LSH, BPF_RSH, BPF_NEG, BPF_MOD, BPF_XOR = 0x60, 0x70, 0x80, 0x90, 0xA0
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET = 0x00, 0x10, 0x20, 0x30, 0x40
BPF_K, BPF_X = 0x00, 0x08
BPF_A = 0x10  # BPF_RET's source: the accumulator
BPF_TAX, BPF_TXA = 0x00, 0x80

# Task syscall work (Linux's SYSCALL_WORK_* bits, one uint8 column): a task with any set leaves
# the compiled fast path and its syscalls pass through the entry work (systems/seccomp.py,
# systems/ptrace.py).
SYSCALL_WORK_SECCOMP = 1
SYSCALL_WORK_TRACE = 2

# --- include/uapi/linux/ptrace.h, elf.h -------------------------------------------------------------

PTRACE_TRACEME = 0
PTRACE_PEEKTEXT = 1
PTRACE_PEEKDATA = 2
PTRACE_PEEKUSR = 3
PTRACE_POKETEXT = 4
PTRACE_POKEDATA = 5
PTRACE_POKEUSR = 6
PTRACE_CONT = 7
PTRACE_KILL = 8
PTRACE_SINGLESTEP = 9
PTRACE_GETREGS = 12
PTRACE_SETREGS = 13
PTRACE_GETFPREGS = 14
PTRACE_SETFPREGS = 15
PTRACE_ATTACH = 16
PTRACE_DETACH = 17
PTRACE_SYSCALL = 24
PTRACE_SYSEMU = 31
PTRACE_SYSEMU_SINGLESTEP = 32
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
PTRACE_GETSIGINFO = 0x4202
PTRACE_SETSIGINFO = 0x4203
PTRACE_GETREGSET = 0x4204
PTRACE_SETREGSET = 0x4205
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208
PTRACE_PEEKSIGINFO = 0x4209
PTRACE_PEEKSIGINFO_SHARED = 1
PTRACE_GETSIGMASK = 0x420A
PTRACE_SETSIGMASK = 0x420B
PTRACE_SECCOMP_GET_FILTER = 0x420C
PTRACE_GET_SYSCALL_INFO = 0x420E
PTRACE_O_TRACESYSGOOD = 1
PTRACE_O_TRACEFORK = 1 << 1
PTRACE_O_TRACEVFORK = 1 << 2
PTRACE_O_TRACECLONE = 1 << 3
PTRACE_O_TRACEEXEC = 1 << 4
PTRACE_O_TRACEVFORKDONE = 1 << 5
PTRACE_O_TRACEEXIT = 1 << 6
PTRACE_O_TRACESECCOMP = 1 << 7
PTRACE_O_EXITKILL = 1 << 20
PTRACE_O_SUSPEND_SECCOMP = 1 << 21
PTRACE_O_MASK = 0x000000FF | PTRACE_O_EXITKILL | PTRACE_O_SUSPEND_SECCOMP
PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_VFORK_DONE = 5
PTRACE_EVENT_EXIT = 6
PTRACE_EVENT_SECCOMP = 7
PTRACE_EVENT_STOP = 128
PTRACE_SYSCALL_INFO_NONE = 0
PTRACE_SYSCALL_INFO_ENTRY = 1
PTRACE_SYSCALL_INFO_EXIT = 2
PTRACE_SYSCALL_INFO_SECCOMP = 3
NT_PRSTATUS = 1
NT_PRFPREG = 2
USER_REGS_SIZE = 27 * 8  # struct user_regs_struct
USER_FPREGS_SIZE = 512  # struct user_fpregs_struct (the FXSAVE image)
USER_AREA_SIZE = 912  # sizeof(struct user) on x86-64: regs, FP state, ..., u_debugreg[8] at 848
USER_DEBUGREG_OFFSET = 848  # offsetof(struct user, u_debugreg)

# --- include/uapi/linux/prctl.h, arch/x86/include/uapi/asm/prctl.h --------------------------------

PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_GET_NAME = 16
PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
PR_CAPBSET_READ = 23
PR_SET_MM = 35
PR_SET_MM_MAP = 14
PR_SET_MM_MAP_SIZE = 15
PR_SET_MM_AUXV = 12
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_GET_KEEPCAPS = 7
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_GET_SECUREBITS = 27
PR_SET_SECUREBITS = 28
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_IS_SET = 1
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_LOWER = 3
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_VMA = 0x53564D41
PR_SET_TIMERSLACK = 29
PR_GET_TIMERSLACK = 30
PR_GET_TID_ADDRESS = 40
PR_SET_THP_DISABLE = 41
PR_GET_THP_DISABLE = 42
PR_THP_DISABLE_EXCEPT_ADVISED = 1 << 1  # PR_SET_THP_DISABLE's arg3 (Linux 6.18)
DEFAULT_TIMER_SLACK_NS = 50_000  # init_task.timer_slack_ns: every task's, unless told otherwise

ARCH_SET_GS = 0x1001
ARCH_SET_FS = 0x1002
ARCH_GET_FS = 0x1003
ARCH_GET_GS = 0x1004
ARCH_GET_CPUID = 0x1011
ARCH_SET_CPUID = 0x1012

# --- include/linux/socket.h, linux/net.h, asm-generic/socket.h ------------------------------------

AF_UNSPEC = 0
AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16
AF_PACKET = 17
AF_MAX = 46
SOCKADDR_STORAGE_SIZE = 128  # sizeof(struct sockaddr_storage): move_addr_to_kernel's limit
SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
SOCK_RDM = 4
SOCK_SEQPACKET = 5
SOCK_PACKET = 10
SOCK_TYPE_MASK = 0xF
SOCK_NONBLOCK = O_NONBLOCK
SOCK_CLOEXEC = O_CLOEXEC
MSG_OOB = 0x1
MSG_PEEK = 0x2
MSG_DONTROUTE = 0x4
MSG_CTRUNC = 0x8
MSG_TRUNC = 0x20
MSG_DONTWAIT = 0x40
MSG_EOR = 0x80
MSG_WAITALL = 0x100
MSG_CONFIRM = 0x800
MSG_ERRQUEUE = 0x2000
MSG_NOSIGNAL = 0x4000
MSG_MORE = 0x8000
MSG_WAITFORONE = 0x10000
MSG_CMSG_CLOEXEC = 0x40000000
SHUT_RD = 0
SHUT_WR = 1
SHUT_RDWR = 2
# sk_shutdown bits (include/net/sock.h)
RCV_SHUTDOWN = 1
SEND_SHUTDOWN = 2
SHUTDOWN_MASK = 3
SOL_SOCKET = 1
SCM_RIGHTS = 1
SCM_CREDENTIALS = 2
SCM_MAX_FD = 253
SO_DEBUG = 1
SO_REUSEADDR = 2
SO_TYPE = 3
SO_ERROR = 4
SO_DONTROUTE = 5
SO_BROADCAST = 6
SO_SNDBUF = 7
SO_RCVBUF = 8
SO_KEEPALIVE = 9
SO_OOBINLINE = 10
SO_NO_CHECK = 11
SO_PRIORITY = 12
SO_LINGER = 13
SO_BSDCOMPAT = 14
SO_REUSEPORT = 15
SO_PASSCRED = 16
SO_PEERCRED = 17
SO_RCVLOWAT = 18
SO_SNDLOWAT = 19
SO_RCVTIMEO = 20
SO_SNDTIMEO = 21
SO_BINDTODEVICE = 25
SO_TIMESTAMP = 29
SO_ACCEPTCONN = 30
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
SO_PASSSEC = 34
SO_MARK = 36
SO_PROTOCOL = 38
SO_DOMAIN = 39
SO_RXQ_OVFL = 40
SO_PEEK_OFF = 42
SO_BUSY_POLL = 46
SO_INCOMING_CPU = 49
SO_ZEROCOPY = 60
# net.core.{w,r}mem_default and _max; SOCK_MIN_SNDBUF / SOCK_MIN_RCVBUF (include/net/sock.h)
WMEM_DEFAULT = 212992
RMEM_DEFAULT = 212992
WMEM_MAX = 212992
RMEM_MAX = 212992
SOCK_MIN_SNDBUF = 4608
SOCK_MIN_RCVBUF = 2304
SOMAXCONN = 4096             # net.core.somaxconn
UNIX_PATH_MAX = 108
UNIX_MAX_DGRAM_QLEN = 10     # net.unix.max_dgram_qlen
IPPROTO_IP = 0
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_ICMPV6 = 58
IPPROTO_RAW = 255
TCP_NODELAY = 1
TCP_MAXSEG = 2
TCP_CORK = 3
TCP_KEEPIDLE = 4
TCP_KEEPINTVL = 5
TCP_KEEPCNT = 6
TCP_SYNCNT = 7
TCP_LINGER2 = 8
TCP_DEFER_ACCEPT = 9
TCP_WINDOW_CLAMP = 10
TCP_INFO = 11
TCP_QUICKACK = 12
TCP_USER_TIMEOUT = 18
TCP_FASTOPEN = 23
TCP_NOTSENT_LOWAT = 25
TCP_CONGESTION = 13
TCP_CA_NAME_MAX = 16
# include/net/tcp_states.h: what TCP_INFO's tcpi_state says
TCP_ESTABLISHED = 1
TCP_SYN_SENT = 2
TCP_FIN_WAIT1 = 4
TCP_FIN_WAIT2 = 5
TCP_TIME_WAIT = 6
TCP_CLOSE = 7
TCP_CLOSE_WAIT = 8
TCP_LAST_ACK = 9
TCP_LISTEN = 10
TCPI_OPT_TIMESTAMPS = 1
TCPI_OPT_SACK = 2
TCPI_OPT_WSCALE = 4
TCP_INFO_SIZE = 248          # sizeof(struct tcp_info), Linux 6.7 (up to tcpi_total_rto_time)
TCP_FIN_TIMEOUT = 60         # net.ipv4.tcp_fin_timeout (s): TCP_LINGER2's default
TCP_FIN_TIMEOUT_MAX = 120    # TCP_LINGER2's ceiling (s)
TCP_RTO_MIN_US = 200000      # TCP_RTO_MIN
TCP_TIMEOUT_INIT_US = 1000000  # TCP_TIMEOUT_INIT: the RTO before a connection measured one
TCP_INIT_CWND = 10
TCP_INFINITE_SSTHRESH = 0x7FFFFFFF
# net.ipv4.tcp_wmem[1], tcp_rmem[1]: a TCP socket's buffer sizes before autotuning
TCP_WMEM_DEFAULT = 16384
TCP_RMEM_DEFAULT = 131072
TCP_MSS_DEFAULT = 536
IP_TOS = 1
INET_ECN_MASK = 3             # the TOS/traffic class bits TCP keeps for ECN (inet_ecn.h)
IP_TTL = 2
IP_HDRINCL = 3
IP_OPTIONS = 4
IP_PKTINFO = 8
IP_MTU_DISCOVER = 10
IP_RECVERR = 11
IP_RECVTTL = 12
IP_RECVTOS = 13
IP_FREEBIND = 15
IP_MULTICAST_TTL = 33
IP_MULTICAST_LOOP = 34
IP_MULTICAST_IF = 32
IP_ADD_MEMBERSHIP = 35
IP_DROP_MEMBERSHIP = 36
IP_RECVORIGDSTADDR = 20
IP_ORIGDSTADDR = 20          # the control message's type: the option's number
IP_MREQ_SIZE = 8             # struct ip_mreq: the smallest IP_ADD_MEMBERSHIP argument
IP_MREQN_SIZE = 12           # struct ip_mreqn: ip_mreq and an interface index
IP_MULTICAST_ALL = 49
IGMP_MAX_MEMBERSHIPS = 20    # net.ipv4.igmp_max_memberships
IPV6_UNICAST_HOPS = 16
IPV6_MULTICAST_HOPS = 18
IPV6_MULTICAST_LOOP = 19
IPV6_V6ONLY = 26
IPV6_RECVPKTINFO = 49
IPV6_RECVERR = 25
IPV6_RECVTCLASS = 66
IPV6_RECVORIGDSTADDR = 74
IPV6_TCLASS = 67
IP_DEFAULT_TTL = 64          # net.ipv4.ip_default_ttl
IP_PORT_RANGE = (32768, 60999)  # net.ipv4.ip_local_port_range
IP_UNPRIVILEGED_PORT_START = 1024
UDP_MAX_PAYLOAD_V4 = 65507   # 65535 - 20 (IP) - 8 (UDP)
UDP_MAX_PAYLOAD_V6 = 65527   # 65535 - 8 (UDP): the IPv6 header is outside the payload length
SIOCINQ = 0x541B             # FIONREAD
SIOCOUTQ = 0x5411            # TIOCOUTQ
SIOCGSTAMP = 0x8906
SIOCGIFNAME = 0x8910
SIOCGIFCONF = 0x8912
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
SIOCGIFINDEX = 0x8933
SIOCGIFMTU = 0x8921
IFNAMSIZ = 16
IFREQ_SIZE = 40              # struct ifreq: the name and a 24-byte union
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFF_RUNNING = 0x40
LOOPBACK_IFINDEX = 1         # lo, the machine's one interface
LOOPBACK_MTU = 65536
IP_MAX_MTU = 0xFFFF            # an IPv4 route's MTU is at most this (lo's 65536 shows as 65535)
SO_EE_ORIGIN_LOCAL = 1        # struct sock_extended_err's ee_origin of a local error (errqueue.h)
SOCK_EXTENDED_ERR_SIZE = 16

# --- CPUs: kernel/sched (sched_getaffinity), include/linux/sched/loadavg.h ------------------------

# The CPUs a World models at most (``Settings.cpus``): a task's affinity mask is one uint64
# (components/task.py), so sched_getaffinity's mask is one long, as on a kernel with
# nr_cpu_ids <= 64.
MAX_CPUS = 64
# /proc/loadavg: averages in fixed point with FSHIFT fraction bits, updated every LOAD_FREQ
# (5 s and one tick) as avenrun = avenrun * EXP_n + active * (FIXED_1 - EXP_n) (calc_load).
FSHIFT = 11
FIXED_1 = 1 << FSHIFT
LOAD_FREQ_NS = 5 * NSEC_PER_SEC
EXP_1 = 1884  # 1/exp(5s/1min) in fixed point
EXP_5 = 2014  # 1/exp(5s/5min)
EXP_15 = 2037  # 1/exp(5s/15min)
SI_LOAD_SHIFT = 16  # include/uapi/linux/sysinfo.h: sysinfo's loads have 16 fraction bits

MAX_NUMNODES = 1024  # 1 << CONFIG_NODES_SHIFT (10 in distribution kernels): Mems_allowed's width

# --- include/uapi/linux/random.h: getrandom(2) ----------------------------------------------------

GRND_NONBLOCK = 0x0001
GRND_RANDOM = 0x0002
GRND_INSECURE = 0x0004

# --- include/uapi/linux/elf.h ---------------------------------------------------------------------

ET_EXEC = 2
ET_DYN = 3
EM_X86_64 = 62
ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFDATA2MSB = 2
PT_LOAD = 1
PT_DYNAMIC = 2
PT_INTERP = 3
PT_NOTE = 4
PT_PHDR = 6
PT_TLS = 7
PT_GNU_STACK = 0x6474E551
PF_X = 0x1
PF_W = 0x2
PF_R = 0x4

# --- include/uapi/linux/auxvec.h, arch/x86/include/uapi/asm/auxvec.h: auxiliary vector types -------

AT_NULL = 0
AT_IGNORE = 1
AT_EXECFD = 2
AT_PHDR = 3
AT_PHENT = 4
AT_PHNUM = 5
AT_PAGESZ = 6
AT_BASE = 7
AT_FLAGS = 8
AT_ENTRY = 9
AT_NOTELF = 10
AT_UID = 11
AT_EUID = 12
AT_GID = 13
AT_EGID = 14
AT_PLATFORM = 15
AT_HWCAP = 16
AT_CLKTCK = 17
AT_SECURE = 23
AT_BASE_PLATFORM = 24
AT_RANDOM = 25
AT_HWCAP2 = 26
AT_RSEQ_FEATURE_SIZE = 27
AT_RSEQ_ALIGN = 28
AT_HWCAP3 = 29
AT_HWCAP4 = 30
AT_EXECFN = 31
AT_SYSINFO_EHDR = 33
AT_MINSIGSTKSZ = 51

# --- arch/x86/entry/syscalls/syscall_64.tbl: the numbers code names ------------------------------
# syscalls/table.py holds the whole table (number -> name); tests/test_abi.py checks these against it.

NR_READ = 0
NR_WRITE = 1
NR_READV = 19
NR_WRITEV = 20
NR_SEMOP = 65
NR_MSGSND = 69
NR_MSGRCV = 70
NR_SEMTIMEDOP = 220
NR_MQ_TIMEDSEND = 242
NR_MQ_TIMEDRECEIVE = 243
NR_CONNECT = 42
NR_ACCEPT = 43
NR_SENDTO = 44
NR_RECVFROM = 45
NR_SENDMSG = 46
NR_RECVMSG = 47
NR_ACCEPT4 = 288
NR_RECVMMSG = 299
NR_SENDMMSG = 307
NR_SPLICE = 275
NR_POLL = 7
NR_BRK = 12
NR_RT_SIGPROCMASK = 14
NR_SELECT = 23
NR_SCHED_YIELD = 24
NR_PAUSE = 34
NR_NANOSLEEP = 35
NR_GETPID = 39
NR_GETTIMEOFDAY = 96
NR_GETRLIMIT = 97
NR_GETUID = 102
NR_GETGID = 104
NR_GETEUID = 107
NR_GETEGID = 108
NR_GETPPID = 110
NR_RT_SIGTIMEDWAIT = 128
NR_RT_SIGSUSPEND = 130
NR_GETTID = 186
NR_TIME = 201
NR_GETCPU = 309
NR_FUTEX = 202
NR_RESTART_SYSCALL = 219
NR_CLOCK_GETTIME = 228
NR_CLOCK_GETRES = 229
NR_CLOCK_NANOSLEEP = 230
NR_EPOLL_WAIT = 232
NR_PSELECT6 = 270
NR_PPOLL = 271
NR_EPOLL_PWAIT = 281
NR_PRLIMIT64 = 302
NR_EPOLL_PWAIT2 = 441

# === Kernel-internal codes (ours, not Linux's numbers) =============================================
# Shared by components, systems, numba kernels and the fast path; the names follow gVisor.

# What a task does next when it runs: the seed's named run states (gVisor task_run.go).
RUN_APP = 0  # runApp: executing application code (a guest CPU or a synthetic program)
RUN_SYSCALL_EXIT = 1  # runSyscallExit: a syscall finished; its result is in ``ret``
RUN_INTERRUPT = 2  # runInterrupt: handling an interrupt: signal delivery, group stop
RUN_EXIT = 3  # runExit: exit initiated; the exit system takes it from here
RUN_EXIT_MAIN = 4  # runExitMain: resources released, about to notify
RUN_EXIT_NOTIFY = 5  # runExitNotify: waiting to notify (a dying namespace init waits for it)
RUN_EXIT_DONE = 6  # runExitDone: zombie or dead: the task never runs again
RUN_BLOCKED = 7  # waiting on something named by ``block``

# What a RUN_BLOCKED task waits for. Blocking is data: never a Python stack.
BLOCK_NONE = 0
BLOCK_WAIT = 1  # wait4/waitid: woken by a child event in its thread group
BLOCK_FUTEX = 2
BLOCK_SLEEP = 3  # nanosleep / clock_nanosleep
BLOCK_SIGSUSPEND = 4
BLOCK_STOPPED = 5  # group stop
BLOCK_SIGTIMEDWAIT = 6  # rt_sigtimedwait: woken by a signal of its set, or its deadline
BLOCK_IO = 7  # read/write/accept/... on a file that is not ready (components/io_wait.py)
BLOCK_POLL = 8  # poll/ppoll/select/pselect6/epoll_wait (components/io_wait.py)
BLOCK_VFORK = 9  # a vfork parent until its child execs or exits (killable only)
BLOCK_PTRACE = 10  # a ptrace stop: until its tracer resumes it (systems/ptrace.py)
BLOCK_EXEC = 11  # de_thread: an exec from a non-leader thread until the old leader is a zombie

# Exit progress (gVisor TaskExitState); it only moves forward.
TASK_EXIT_NONE = 0
TASK_EXIT_INITIATED = 1
TASK_EXIT_ZOMBIE = 2
TASK_EXIT_DEAD = 3


class RunState:
    """Run states as a namespace (``RunState.runApp``); the values are the RUN_* ints above.

    Plain int class attributes, not an Enum: these are read on hot paths, where an Enum member
    lookup costs ~1 us. ``components.task.state_name(RunState, v)`` gives the name."""

    runApp = RUN_APP
    runSyscallExit = RUN_SYSCALL_EXIT
    runInterrupt = RUN_INTERRUPT
    runExit = RUN_EXIT
    runExitMain = RUN_EXIT_MAIN
    runExitNotify = RUN_EXIT_NOTIFY
    runExitDone = RUN_EXIT_DONE
    blocked = RUN_BLOCKED


class Block:
    """Block kinds as a namespace (``Block.FUTEX``); the values are the BLOCK_* ints above."""

    NONE = BLOCK_NONE
    WAIT = BLOCK_WAIT
    FUTEX = BLOCK_FUTEX
    SLEEP = BLOCK_SLEEP
    SIGSUSPEND = BLOCK_SIGSUSPEND
    STOPPED = BLOCK_STOPPED
    SIGTIMEDWAIT = BLOCK_SIGTIMEDWAIT
    IO = BLOCK_IO
    POLL = BLOCK_POLL
    VFORK = BLOCK_VFORK
    PTRACE = BLOCK_PTRACE
    EXEC = BLOCK_EXEC


class ExitState:
    """Exit states as a namespace (``ExitState.ZOMBIE``); the values are the TASK_EXIT_* ints."""

    NONE = TASK_EXIT_NONE
    INITIATED = TASK_EXIT_INITIATED
    ZOMBIE = TASK_EXIT_ZOMBIE
    DEAD = TASK_EXIT_DEAD


# A timer's clock (components/timers.py explains each).
BASE_MONO = 0
BASE_REAL = 1
BASE_PROF = 2
BASE_VIRT = 3
BASE_THREAD = 4

# Futex key kinds (components/futex.py): what a futex word's key is made of.
KEY_PRIVATE = 0  # (mm row, address): FUTEX_PRIVATE_FLAG
KEY_SHARED_MM = 1  # (mm row, address): a shared op on private memory
KEY_SHARED_OBJ = 2  # (object identity, offset): a shared op on MAP_SHARED memory

# Futex waiter ``flags`` (what a restart needs to know).
WF_PRIVATE = 0x1
WF_HAS_TIMEOUT = 0x2
WF_PI = 0x4  # FUTEX_LOCK_PI: FUTEX_UNLOCK_PI hands the lock to the first such waiter

# A row's generation (world.py's handles; jit/rows.py frees rows in compiled code): it counts the
# row's reuses modulo 2**GEN_BITS, so a handle to a recycled row is detected.
GEN_BITS = 24
GEN_MASK = (1 << GEN_BITS) - 1

# timerfd_create(2) (include/uapi/linux/timerfd.h).
TFD_TIMER_ABSTIME = 1 << 0
TFD_TIMER_CANCEL_ON_SET = 1 << 1
TFD_CLOEXEC = O_CLOEXEC
TFD_NONBLOCK = O_NONBLOCK

# signalfd(2) (include/uapi/linux/signalfd.h): struct signalfd_siginfo is 128 bytes.
SFD_CLOEXEC = O_CLOEXEC
SFD_NONBLOCK = O_NONBLOCK
SIGNALFD_SIGINFO_SIZE = 128

# memfd seals (include/uapi/linux/fcntl.h).
F_SEAL_SEAL = 0x0001
F_SEAL_SHRINK = 0x0002
F_SEAL_GROW = 0x0004
F_SEAL_WRITE = 0x0008
F_SEAL_FUTURE_WRITE = 0x0010
F_SEAL_EXEC = 0x0020

# pidfd (include/uapi/linux/pidfd.h, wait.h).
PIDFD_NONBLOCK = O_NONBLOCK
P_PIDFD = 3

# inotify(7) (include/uapi/linux/inotify.h).
IN_ACCESS = 0x00000001
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_CLOSE_NOWRITE = 0x00000010
IN_OPEN = 0x00000020
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_ALL_EVENTS = 0x00000FFF
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_MASK_CREATE = 0x10000000
IN_MASK_ADD = 0x20000000
IN_ISDIR = 0x40000000
IN_ONESHOT = 0x80000000
IN_CLOEXEC = O_CLOEXEC
IN_NONBLOCK = O_NONBLOCK
INOTIFY_EVENT_SIZE = 16  # struct inotify_event without its name
INOTIFY_MAX_QUEUED_EVENTS = 16384  # /proc/sys/fs/inotify/max_queued_events
INOTIFY_MAX_USER_WATCHES = 8192

# Kernel-internal: a change of the realtime clock's offset from the kernel clock larger than this
# between two syncs is a clock set (clock_was_set), not NTP slewing (at most 0.5 ms per second).
CLOCK_STEP_NS = 100_000_000

# -- System V IPC (include/uapi/linux/ipc.h, shm.h, sem.h, msg.h; ipc/util.h) ----------------------
IPC_PRIVATE = 0
IPC_CREAT = 0o1000
IPC_EXCL = 0o2000
IPC_NOWAIT = 0o4000
IPC_RMID = 0
IPC_SET = 1
IPC_STAT = 2
IPC_INFO = 3
IPC_64 = 0x0100  # glibc ors it into every *ctl command
IPCMNI = 32768  # ids are index + IPCMNI * sequence
SEQ_MULTIPLIER = IPCMNI
# shared memory
SHM_RDONLY = 0o10000
SHM_RND = 0o20000
SHM_REMAP = 0o40000
SHM_EXEC = 0o100000
SHM_LOCK = 11
SHM_UNLOCK = 12
SHM_STAT = 13
SHM_INFO = 14
SHM_STAT_ANY = 15
SHM_DEST = 0o1000  # shm_perm.mode: marked for destruction
SHM_LOCKED = 0o2000
SHMMIN = 1
SHMMNI = 4096
SHMMAX = 0xFFFFFFFFFFFFFFFF - (1 << 24)  # ULONG_MAX - 2**24
SHMALL = 0xFFFFFFFFFFFFFFFF - (1 << 24)
SHMLBA = 4096
# semaphores
SEM_UNDO = 0x1000
GETPID = 11
GETVAL = 12
GETALL = 13
GETNCNT = 14
GETZCNT = 15
SETVAL = 16
SETALL = 17
SEM_STAT = 18
SEM_INFO = 19
SEM_STAT_ANY = 20
SEMMNI = 32000
SEMMSL = 32000
SEMMNS = SEMMNI * SEMMSL
SEMOPM = 500
SEMVMX = 32767
SEMAEM = SEMVMX
SEMMAP = SEMMNS
SEMUME = SEMOPM
SEMUSZ = 20
# message queues
MSG_NOERROR = 0o10000
MSG_EXCEPT = 0o20000
MSG_COPY = 0o40000
MSG_STAT = 11
MSG_INFO = 12
MSG_STAT_ANY = 13
MSGMNI = 32000
MSGMAX = 8192
MSGMNB = 16384
MSGPOOL = MSGMNI * MSGMNB // 1024
MSGTQL = MSGMNB
MSGMAP = MSGMNB
MSGSSZ = 16
MSGSEG = 0xFFFF  # (MSGPOOL * 1024) / MSGSSZ, capped at 0xffff
# POSIX message queues (ipc/mqueue.c, include/linux/ipc_namespace.h)
MQ_PRIO_MAX = 32768
DFLT_QUEUESMAX = 256
DFLT_MSGMAX = 10
DFLT_MSGSIZEMAX = 8192
HARD_MSGMAX = 65536
HARD_MSGSIZEMAX = 16 * 1024 * 1024
MIN_MSGMAX = 1
MIN_MSGSIZEMAX = 128
NOTIFY_NONE = 0
NOTIFY_WOKENUP = 1
NOTIFY_REMOVED = 2

# -- mount(2) and umount2(2) flags (include/uapi/linux/mount.h) ------------------------------------
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_NOUSER = 1 << 31
MS_MGC_VAL = 0xC0ED0000
MS_MGC_MSK = 0xFFFF0000
MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8

# -- splice(2) flags (include/linux/splice.h) -------------------------------------------------------
SPLICE_F_MOVE = 0x01
SPLICE_F_NONBLOCK = 0x02
SPLICE_F_MORE = 0x04
SPLICE_F_GIFT = 0x08
SPLICE_F_ALL = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT

# -- extended attributes (include/uapi/linux/xattr.h, limits.h; include/linux/capability.h) ---------
XATTR_CREATE = 0x1
XATTR_REPLACE = 0x2
XATTR_NAME_MAX = 255  # chars in an extended attribute name
XATTR_SIZE_MAX = 65536  # size of an extended attribute value (64k)
XATTR_LIST_MAX = 65536  # size of extended attribute namelist (64k)
XATTR_ARGS_SIZE_VER0 = 16  # sizeof(struct xattr_args) first published (setxattrat, getxattrat)
XATTR_SECURITY_PREFIX = "security."
XATTR_SYSTEM_PREFIX = "system."
XATTR_TRUSTED_PREFIX = "trusted."
XATTR_USER_PREFIX = "user."
XATTR_NAME_CAPS = "security.capability"
VFS_CAP_REVISION_MASK = 0xFF000000
VFS_CAP_REVISION_2 = 0x02000000
VFS_CAP_REVISION_3 = 0x03000000
VFS_CAP_FLAGS_EFFECTIVE = 0x000001
XATTR_CAPS_SZ_2 = 20  # sizeof(struct vfs_cap_data): magic_etc and two {permitted, inheritable}
XATTR_CAPS_SZ_3 = 24  # sizeof(struct vfs_ns_cap_data): the same and rootid

# -- preadv2(2)/pwritev2(2) flags (include/uapi/linux/fs.h) -----------------------------------------
RWF_HIPRI = 0x01
RWF_DSYNC = 0x02
RWF_SYNC = 0x04
RWF_NOWAIT = 0x08
RWF_APPEND = 0x10
RWF_NOAPPEND = 0x20
RWF_ATOMIC = 0x40
RWF_DONTCACHE = 0x80
RWF_NOSIGNAL = 0x100  # Linux 6.16: a write to a pipe or socket without a reader sends no SIGPIPE
RWF_SUPPORTED = (RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND | RWF_NOAPPEND
                 | RWF_ATOMIC | RWF_DONTCACHE | RWF_NOSIGNAL)

# -- sync_file_range(2) flags (include/uapi/linux/fs.h) ---------------------------------------------
SYNC_FILE_RANGE_WAIT_BEFORE = 1
SYNC_FILE_RANGE_WRITE = 2
SYNC_FILE_RANGE_WAIT_AFTER = 4
VALID_SYNC_FILE_RANGE_FLAGS = (SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE
                               | SYNC_FILE_RANGE_WAIT_AFTER)

# -- openat2(2) (include/uapi/linux/openat2.h, include/linux/fcntl.h) -------------------------------
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE_CACHED = 0x20
VALID_RESOLVE_FLAGS = (RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH
                       | RESOLVE_IN_ROOT | RESOLVE_CACHED)
OPEN_HOW_SIZE_VER0 = 24  # sizeof(struct open_how) first published: u64 flags, mode, resolve
VALID_OPEN_FLAGS = (O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK
                    | O_SYNC | O_DSYNC | O_ASYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW
                    | O_NOATIME | O_CLOEXEC | O_PATH | O_TMPFILE)
O_PATH_FLAGS = O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC
S_IALLUGO = 0o7777

# -- kcmp(2) types (include/uapi/linux/kcmp.h) ------------------------------------------------------
KCMP_FILE = 0
KCMP_VM = 1
KCMP_FILES = 2
KCMP_FS = 3
KCMP_SIGHAND = 4
KCMP_IO = 5
KCMP_SYSVSEM = 6
KCMP_EPOLL_TFD = 7
