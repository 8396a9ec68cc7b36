"""Process and thread syscalls: exit, ids, credentials, rlimits, prctl, arch_prctl, thread setup.

gVisor: ``sys_thread.go``, ``sys_identity.go``, ``sys_rlimit.go``, ``sys_prctl.go``, ``sys_tls.go``.
Ids are the Kernel's (PID-namespace aware); rlimits are the thread group's copy-on-write set
(components/rlimits.py); credentials are the TaskCreds columns.
"""
from __future__ import annotations

import struct

from ..abi import (SYSCTL_NR_OPEN, RUSAGE_CHILDREN, ARCH_GET_CPUID, ARCH_GET_FS, ARCH_GET_GS, ARCH_SET_CPUID, ARCH_SET_FS,
                   ARCH_SET_GS, AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, CAP_SYS_RESOURCE,
                   CLD_CONTINUED, CLD_STOPPED, CLD_TRAPPED, CLONE_ARGS_SIZE_VER0,
                   CLONE_ARGS_SIZE_VER2, CLONE_CLEAR_SIGHAND, CLONE_DETACHED, CLONE_INTO_CGROUP,
                   CLONE_NEWTIME, CLONE_PARENT, CLONE_PARENT_SETTID, CLONE_PIDFD, CLONE_SETTLS,
                   CLONE_SIGHAND, CLONE_THREAD, CLONE_VFORK, CLONE_VM, CSIGNAL, MAX_ARG_STRLEN,
                   NSIG, P_PID, P_PIDFD, PAGE_SIZE, PATH_MAX, PR_CAP_AMBIENT, PR_CAPBSET_DROP, PR_CAPBSET_READ,
                   PR_GET_CHILD_SUBREAPER, PR_GET_DUMPABLE, PR_GET_KEEPCAPS, PR_GET_NAME,
                   PR_GET_NO_NEW_PRIVS, PR_GET_PDEATHSIG, PR_GET_SECCOMP, PR_SET_SECCOMP, PR_GET_SECUREBITS,
                   PR_GET_THP_DISABLE, PR_GET_TID_ADDRESS, PR_GET_TIMERSLACK, PR_SET_THP_DISABLE,
                   PR_SET_TIMERSLACK, PR_THP_DISABLE_EXCEPT_ADVISED,
                   PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, PR_SET_KEEPCAPS, PR_SET_MM,
                   PR_SET_MM_AUXV, PR_SET_MM_MAP, PR_SET_MM_MAP_SIZE, PR_SET_NAME,
                   PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, PR_SET_SECUREBITS, RLIMIT_AS,
                   RLIMIT_DATA, RLIMIT_NOFILE, RLIMIT_STACK, RLIM_NLIMITS, RunState,
                   SECURE_KEEP_CAPS, SIGCHLD, SIGCONT, TASK_SIZE, WNOHANG)
from ..components import pidns, rlimits
from ..components.pidns import MAX_PID_NS_LEVEL
from ..errors import E, KernelError
from ..systems import cpu_clocks, fd_table, futex, sessions, task_exit, task_identity, task_sched
from ..systems import task_wait as W
from ..systems import user_namespace
from ..systems.task_block import BLOCKED
from ..systems.task_exec import arg_strings_limit
from . import sys_seccomp
from .context import KernelBlocked, TaskExit, copy_struct_from_user, s32, s64, u32
from .registry import FULL, PARTIAL, completion, syscall
from . import sys_pidfd

_U64 = (1 << 64) - 1


# -- exit -------------------------------------------------------------------------------------------

@syscall("exit", FULL, args=("i",))
def exit_(t, code):
    """Implements exit(2)."""
    task_exit.exit_task(t.world, t.row, s32(code))
    raise TaskExit()


@syscall("exit_group", FULL, args=("i",))
def exit_group(t, code):
    """Implements exit_group(2)."""
    task_exit.exit_group(t.world, t.row, s32(code))
    raise TaskExit()


# -- execve -------------------------------------------------------------------------------------------


def _strings(t, addr: int, limit: int) -> list[bytes]:
    """A NULL-terminated array of string pointers (argv, envp); NULL itself is an empty array."""
    out = []
    if not addr:
        return out
    total = 0
    while True:
        ptr = t.mm.copy_in_u64(addr + 8 * len(out))
        if ptr == 0:
            return out
        try:
            s = t.mm.copy_in_string(ptr, MAX_ARG_STRLEN)
        except KernelError as e:
            if e.errno == E.ENAMETOOLONG:
                raise KernelError(E.E2BIG) from None
            raise
        total += len(s) + 1 + 8
        if total > limit:
            raise KernelError(E.E2BIG)
        out.append(s)


def _execve(t, path_addr, argv_addr, envp_addr, cwd=None, empty_fd=None):
    stack, _ = rlimits.get(t.world, t.tg, RLIMIT_STACK)
    limit = arg_strings_limit(min(stack, 1 << 40))
    path = t.mm.copy_in_string(path_addr, 4096)
    argv = _strings(t, argv_addr, limit)
    envp = _strings(t, envp_addr, limit)
    if empty_fd is not None:
        path = empty_fd
    elif not path:
        raise KernelError(E.ENOENT)
    t.machine.execve(t, path, argv, envp, cwd)
    return 0  # not reached: execve raises ExecDone


@syscall("execve", PARTIAL, "replaces the process's image; from a thread, the others exit and "
         "the caller waits for the old leader, then takes its pid; no set-user-ID",
         args=("s", "argv", "envp"))
def execve(t, path, argv, envp):
    """Implements execve(2)."""
    return _execve(t, path, argv, envp)


@syscall("execveat", PARTIAL, "as execve; AT_EMPTY_PATH executes the fd's file by its path",
         args=("dirfd", "s", "argv", "envp", "atflags"))
def execveat(t, dirfd, path, argv, envp, flags):
    """Implements execveat(2)."""
    flags = u32(flags)
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise KernelError(E.EINVAL)
    p = t.mm.copy_in_string(path, PATH_MAX)
    dfd = s32(dirfd)
    if not p and flags & AT_EMPTY_PATH:
        desc = fd_table.get_file(t.world, t.row, dfd)
        return _execve(t, path, argv, envp, empty_fd=desc.path)
    cwd = None
    if not p.startswith(b"/") and dfd != AT_FDCWD:
        cwd = fd_table.get_file(t.world, t.row, dfd)
    return _execve(t, path, argv, envp, cwd=cwd)


# -- ids ----------------------------------------------------------------------------------------------

def _leader(w, row):
    return int(w.thread_groups.leader[int(w.tasks.tg[row])])


@syscall("getpid", FULL)
def getpid(t):
    """Implements getpid(2).

    Cached on the Task: a thread group's id in the caller's namespace never changes (an exec by a
    non-leader thread, which takes over the leader's id, must clear ``t.pid_cache``)."""
    pid = t.pid_cache
    if pid is None:
        w = t.world
        pid = t.pid_cache = pidns.tid_in(w, _leader(w, t.row), int(w.tasks.ns[t.row]))
    return pid


@syscall("gettid", FULL)
def gettid(t):
    """Implements gettid(2) (cached on the Task: a thread's id never changes)."""
    tid = t.tid_cache
    if tid is None:
        w = t.world
        tid = t.tid_cache = pidns.tid_in(w, t.row, int(w.tasks.ns[t.row]))
    return tid


@syscall("getppid", FULL)
def getppid(t):
    """Implements getppid(2)."""
    w = t.world
    p = int(w.tasks.parent[_leader(w, t.row)])
    if p < 0:
        return 0
    return pidns.tid_in(w, _leader(w, p), int(w.tasks.ns[t.row]))


@syscall("getpgrp", FULL)
def getpgrp(t):
    """Implements getpgrp(2)."""
    return sessions.getpgid(t.world, t.row, 0)


@syscall("getpgid", FULL, args=("i",))
def getpgid(t, pid):
    """Implements getpgid(2)."""
    return sessions.getpgid(t.world, t.row, s32(pid))


@syscall("getsid", FULL, args=("i",))
def getsid(t, pid):
    """Implements getsid(2)."""
    return sessions.getsid(t.world, t.row, s32(pid))


@syscall("setsid", FULL)
def setsid(t):
    """Implements setsid(2)."""
    r = sessions.setsid(t.world, t.row)
    t.world.flush()
    return r


@syscall("setpgid", FULL, args=("i", "i"))
def setpgid(t, pid, pgid):
    """Implements setpgid(2)."""
    sessions.setpgid(t.world, t.row, s32(pid), s32(pgid))
    t.world.flush()
    return 0


@syscall("set_tid_address", FULL, args=("p",))
def set_tid_address(t, addr):
    """Implements set_tid_address(2)."""
    t.world.tasks.clear_child_tid[t.row] = addr
    return gettid(t)


@syscall("set_robust_list", FULL, "walked at exit (systems/futex.exit_robust_list)", args=("p", "u"))
def set_robust_list(t, head, length):
    """Implements set_robust_list(2)."""
    return futex.set_robust_list(t.world, t.row, head, length)


@syscall("restart_syscall", FULL, "a futex wait with a timeout interrupted by a stop", args=())
def restart_syscall(t):
    """Implements restart_syscall(2): resume the call a signal interrupted, with its deadline
    (the restart block; -EINTR when there is none)."""
    t.machine.sync_clock()
    if futex.futex_restart(t.world, t.row) is BLOCKED:
        raise KernelBlocked()
    return 0


@syscall("get_robust_list", FULL, args=("i", "p", "p"))
def get_robust_list(t, pid, head_ptr, len_ptr):
    """Implements get_robust_list(2)."""
    head, ln = futex.get_robust_list(t.world, t.row, s32(pid))
    t.mm.copy_out_u64(head_ptr, head)
    t.mm.copy_out_u64(len_ptr, ln)
    return 0


# -- resource limits -------------------------------------------------------------------------------------

def _sync_mm_limits(t) -> None:
    cur_as, _ = rlimits.get(t.world, t.tg, RLIMIT_AS)
    cur_data, max_data = rlimits.get(t.world, t.tg, RLIMIT_DATA)
    t.mm.rlimit_as, t.mm.rlimit_data, t.mm.rlimit_data_max = cur_as, cur_data, max_data
    t.mm.rlimit_stack, _ = rlimits.get(t.world, t.tg, RLIMIT_STACK)  # how far stacks may grow


def _prlimit(t, resource, new):
    """Get (and with ``new`` set) one limit of the caller's thread group."""
    resource = u32(resource)
    if resource >= RLIM_NLIMITS:
        raise KernelError(E.EINVAL)
    old = rlimits.get(t.world, t.tg, resource)
    if new is not None:
        cur, mx = new
        if cur > mx:
            raise KernelError(E.EINVAL)
        if mx > old[1] and not task_identity.capable(t.world, t.row, CAP_SYS_RESOURCE):
            raise KernelError(E.EPERM)
        if resource == RLIMIT_NOFILE and mx > SYSCTL_NR_OPEN:  # above fs.nr_open
            raise KernelError(E.EPERM)
        row = rlimits.writable(t.world, t.tg)
        t.world.rlimit_sets.rlim_cur[row, resource] = cur
        t.world.rlimit_sets.rlim_max[row, resource] = mx
        _sync_mm_limits(t)
    return old


@syscall("prlimit64", FULL, "the caller's own process (pid 0 or its own pid)", args=("i", "rlimres", "rlimit", "orlimit"))
def prlimit64(t, pid, resource, new_ptr, old_ptr):
    """Implements prlimit64(2)."""
    if s32(pid) not in (0, getpid(t)):
        raise KernelError(E.ESRCH)
    new = struct.unpack("<QQ", t.mm.copy_in(new_ptr, 16)) if new_ptr else None
    if old_ptr and not t.mm.access_ok(old_ptr, 16, write=True):
        raise KernelError(E.EFAULT)
    old = _prlimit(t, resource, new)
    if old_ptr:
        t.mm.copy_out(old_ptr, struct.pack("<QQ", *old))
    return 0


@syscall("getrlimit", FULL, args=("rlimres", "orlimit_old"))
def getrlimit(t, resource, ptr):
    """Implements getrlimit(2)."""
    old = _prlimit(t, resource, None)
    t.mm.copy_out(ptr, struct.pack("<QQ", *old))
    return 0


@syscall("setrlimit", FULL, args=("rlimres", "rlimit_old"))
def setrlimit(t, resource, ptr):
    """Implements setrlimit(2)."""
    _prlimit(t, resource, struct.unpack("<QQ", t.mm.copy_in(ptr, 16)))
    return 0


@syscall("getrusage", FULL, "CPU times, maxrss, page faults (the host's while the task runs; none "
         "in a deterministic run) and context switches per thread, process and waited-for "
         "children; major faults and block I/O are 0 (files are in memory, nothing is paged in)",
         args=("rusagewho", "p"))
def getrusage(t, who, ptr):
    """Implements getrusage(2)."""
    t.machine.sync_clock()  # charge the CPU the caller used up to now
    ru = cpu_clocks.getrusage(t.world, t.row, s32(who))  # EINVAL for a bad who
    maxrss = ru.maxrss
    if s32(who) != RUSAGE_CHILDREN:  # the address space's high-water mark, as of now
        maxrss = max(maxrss, t.mm.memory_usage().hwm)
    t.mm.copy_out(ptr, pack_rusage(ru._replace(maxrss=maxrss)))
    return 0


def pack_rusage(ru: cpu_clocks.Rusage) -> bytes:
    """struct rusage (144 bytes): the times as timevals, maxrss in KiB, then minflt and the
    context switches at their places; what we do not have (majflt, block I/O, ...) is 0."""
    longs = [0] * 14  # ru_maxrss .. ru_nivcsw
    longs[0] = ru.maxrss // 1024
    longs[4] = ru.min_flt
    longs[12], longs[13] = ru.nvcsw, ru.nivcsw
    return struct.pack("<qqqq14q", *ru.ru_utime, *ru.ru_stime, *longs)


# -- prctl / arch_prctl ------------------------------------------------------------------------------------


@syscall("prctl", PARTIAL, "names, pdeath signal, dumpable, subreaper, no_new_privs, seccomp, keepcaps, "
         "securebits, the bounding and ambient capability sets, timer slack, the tid address, "
         "THP disable (stored: no huge pages here); PR_SET_MM checks its arguments "
         "and CAP_SYS_RESOURCE, then EINVAL (the mm's fields are not modelled); others EINVAL",
         args=("prctl", "prctlarg", "prctlarg", "prctlarg", "prctlarg"))
def prctl(t, option, a2, a3, a4, a5):
    """Implements prctl(2)."""
    option = s32(option)
    w, row = t.world, t.row
    T = w.tasks
    if option == PR_SET_NAME:
        try:
            name = t.mm.copy_in_string(a2, 16)
        except KernelError as e:
            if e.errno != E.ENAMETOOLONG:
                raise
            name = t.mm.copy_in(a2, 15)
        t.comm = name[:15]
        return 0
    if option == PR_GET_NAME:
        t.mm.copy_out(a2, t.comm[:15].ljust(16, b"\0"))
        return 0
    if option == PR_SET_PDEATHSIG:
        if a2 > NSIG:
            raise KernelError(E.EINVAL)
        T.pdeath_signal[row] = a2
        return 0
    if option == PR_GET_PDEATHSIG:
        t.mm.copy_out(a2, struct.pack("<i", int(T.pdeath_signal[row])))
        return 0
    if option == PR_GET_DUMPABLE:
        return int(w.address_spaces.dumpable[int(T.mm[row])])
    if option == PR_SET_DUMPABLE:
        if a2 not in (0, 1):
            raise KernelError(E.EINVAL)
        w.address_spaces.dumpable[int(T.mm[row])] = a2
        return 0
    if option == PR_SET_CHILD_SUBREAPER:
        w.thread_groups.child_subreaper[t.tg] = bool(a2)
        return 0
    if option == PR_GET_CHILD_SUBREAPER:
        t.mm.copy_out(a2, struct.pack("<i", int(w.thread_groups.child_subreaper[t.tg])))
        return 0
    if option == PR_SET_NO_NEW_PRIVS:
        if a2 != 1 or a3 or a4 or a5:
            raise KernelError(E.EINVAL)
        T.no_new_privs[row] = True
        return 0
    if option == PR_GET_NO_NEW_PRIVS:
        if a2 or a3 or a4 or a5:
            raise KernelError(E.EINVAL)
        return int(T.no_new_privs[row])
    if option == PR_GET_SECCOMP:
        return int(T.seccomp_mode[row])
    if option == PR_SET_SECCOMP:
        return sys_seccomp.prctl_set_seccomp(t, a2, a3)
    if option == PR_CAPBSET_READ:
        return task_identity.capbset_read(w, row, min(a2, 1 << 31))
    if option == PR_CAPBSET_DROP:
        task_identity.capbset_drop(w, row, min(a2, 1 << 31))
        return 0
    if option == PR_GET_KEEPCAPS:
        return int(T.securebits[row]) >> SECURE_KEEP_CAPS & 1
    if option == PR_SET_KEEPCAPS:
        task_identity.set_keepcaps(w, row, min(a2, 2))
        return 0
    if option == PR_GET_SECUREBITS:
        return int(T.securebits[row])
    if option == PR_SET_SECUREBITS:
        task_identity.set_securebits(w, row, a2)
        return 0
    if option == PR_SET_TIMERSLACK:
        if not task_sched.is_rt_or_dl(w, row):  # their slack stays 0 (Linux 6.7 on)
            T.timer_slack_ns[row] = a2 if a2 else T.default_timer_slack_ns[row]
        return 0
    if option == PR_GET_TIMERSLACK:
        return s64(int(T.timer_slack_ns[row]))  # the unsigned long as prctl's long: ~0UL is -1
    if option == PR_GET_TID_ADDRESS:
        t.mm.copy_out(a2, struct.pack("<Q", int(T.clear_child_tid[row])))
        return 0
    if option == PR_SET_THP_DISABLE:
        if (a3 & ~PR_THP_DISABLE_EXCEPT_ADVISED) or a4 or a5 or (a3 and not a2):
            raise KernelError(E.EINVAL)
        w.address_spaces.thp_disable[int(T.mm[row])] = (1 | a3) if a2 else 0
        return 0
    if option == PR_GET_THP_DISABLE:
        if a2 or a3 or a4 or a5:
            raise KernelError(E.EINVAL)
        return int(w.address_spaces.thp_disable[int(T.mm[row])])
    if option == PR_SET_MM:
        # prctl_set_mm: the argument checks and the capability come first; the mm's fields
        # (CRIU's restore) are not modelled
        if a5 or (a4 and a2 not in (PR_SET_MM_AUXV, PR_SET_MM_MAP, PR_SET_MM_MAP_SIZE)):
            raise KernelError(E.EINVAL)
        if a2 in (PR_SET_MM_MAP, PR_SET_MM_MAP_SIZE):
            raise KernelError(E.EINVAL, "PR_SET_MM_MAP is not modelled")
        if not task_identity.capable(w, row, CAP_SYS_RESOURCE):
            raise KernelError(E.EPERM)
        raise KernelError(E.EINVAL, "PR_SET_MM's fields are not modelled")
    if option == PR_CAP_AMBIENT:
        if a4 or a5:
            raise KernelError(E.EINVAL)
        return task_identity.cap_ambient(w, row, a2, a3 if a3 < 1 << 31 else 1 << 31)
    raise KernelError(E.EINVAL)


@syscall("arch_prctl", PARTIAL, "FS/GS base and the CPUID query; no XSTATE or shadow stack options",
         args=("arch", "x"))
def arch_prctl(t, code, addr):
    """Implements arch_prctl(2)."""
    code = s32(code)
    if code in (ARCH_SET_FS, ARCH_SET_GS):
        if addr >= TASK_SIZE:
            raise KernelError(E.EPERM)
        t.machine.set_segment_base(t, code == ARCH_SET_FS, addr)
        return 0
    if code in (ARCH_GET_FS, ARCH_GET_GS):
        val = t.machine.get_segment_base(t, code == ARCH_GET_FS)
        t.mm.copy_out_u64(addr, val)
        return 0
    if code == ARCH_GET_CPUID:
        return 1
    if code == ARCH_SET_CPUID:
        raise KernelError(E.ENODEV)
    raise KernelError(E.EINVAL)


# -- fork, clone, wait ------------------------------------------------------------------------------


def _clone(t, flags: int, stack: int = 0, ptid: int = 0, ctid: int = 0, tls: int = 0, *,
           exit_signal: int | None = None, set_tid: tuple[int, ...] = (),
           clear_sighand: bool = False, pidfd_addr: int = 0) -> int:
    """kernel_clone for a guest: a process, or a thread (CLONE_THREAD, sharing the engine). A
    vfork parent is left blocked (its ``ret`` is the child's pid) until the child execs or exits.
    ``exit_signal`` (clone3) is given apart from ``flags``; legacy clone keeps it in the low
    byte. CLONE_PIDFD: a pidfd of the child goes in the parent's table and its number to
    ``pidfd_addr`` (the kernel half of clone knows no fds)."""
    if flags & CLONE_SETTLS and tls >= TASK_SIZE:  # copy_thread -> do_arch_prctl_64(ARCH_SET_FS)
        raise KernelError(E.EPERM, "a TLS base outside the user address space")
    if flags & CLONE_PIDFD:
        if flags & CLONE_DETACHED:
            raise KernelError(E.EINVAL, "CLONE_PIDFD with CLONE_DETACHED")
        if not t.mm.access_ok(pidfd_addr, 4, write=True):
            raise KernelError(E.EFAULT, "the pidfd address")
        if fd_table.nofile(t.world, t.row) <= len(fd_table.open_fds(t.world, t.row)):
            raise KernelError(E.EMFILE)
    pid = t.machine.fork_task(t, flags & ~CLONE_PIDFD, stack=stack, ptid=ptid, ctid=ctid, tls=tls,
                              exit_signal=exit_signal, set_tid=set_tid,
                              clear_sighand=clear_sighand)
    if flags & CLONE_PIDFD:
        child = pidns.task_by_tid(t.world, int(t.world.tasks.ns[t.row]), pid)
        # with CLONE_THREAD the new thread's own pidfd, as PIDFD_THREAD (Linux 6.9)
        fd = sys_pidfd.new_pidfd(t, child, thread=bool(flags & CLONE_THREAD))
        t.mm.copy_out(pidfd_addr, struct.pack("<i", fd))
    if t.world.tasks.run_state[t.row] == RunState.blocked:
        raise KernelBlocked()
    return pid


@syscall("fork", FULL, args=())
def fork(t):
    """Implements fork(2): the child's memory is a copy (copied now, not copy-on-write)."""
    return _clone(t, SIGCHLD)


@syscall("vfork", PARTIAL, "the child gets a copy of memory; the parent waits until it execs or "
         "exits, as vfork promises", args=())
def vfork(t):
    """Implements vfork(2)."""
    return _clone(t, CLONE_VM | CLONE_VFORK | SIGCHLD)


_CLONE_NOTE = ("threads share the address space and engine; CLONE_VM without CLONE_THREAD copies "
               "memory (posix_spawn's vfork-style child works; the handler and fd tables are "
               "shared as asked); CLONE_PIDFD (with CLONE_THREAD a PIDFD_THREAD pidfd, as since Linux 6.9); "
               "of the namespaces user (systems/user_namespace.py: the child holds every "
               "capability in it, and it owns the other namespaces made with it), PID, UTS, IPC, "
               "mount and network (systems/namespaces.py), not cgroup or time")


@syscall("clone", PARTIAL, _CLONE_NOTE, args=("clone", "+", "+", "+", "+"))
def clone(t, flags, stack, ptid, ctid, tls):
    """Implements clone(2) (x86-64 argument order: flags, stack, parent_tid, child_tid, tls)."""
    flags &= 0xFFFF_FFFF
    if flags & CLONE_PIDFD and flags & CLONE_PARENT_SETTID:
        raise KernelError(E.EINVAL, "CLONE_PIDFD and CLONE_PARENT_SETTID share parent_tid")
    return _clone(t, flags, stack, ptid, ctid, tls, pidfd_addr=ptid)


_CLONE_ARGS = struct.Struct("<11Q")  # struct clone_args, CLONE_ARGS_SIZE_VER2 bytes
_CLONE3_FLAGS = 0xFFFF_FFFF | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP


@syscall("clone3", PARTIAL, _CLONE_NOTE + "; set_tid as Linux; CLONE_INTO_CGROUP EBADF (no "
         "cgroup file system)", args=("p", "u"))
def clone3(t, uargs, size):
    """Implements clone3(2): struct clone_args as copy_clone_args_from_user and
    clone3_args_valid check it, then the clone path of clone(2)."""
    if size > PAGE_SIZE:
        raise KernelError(E.E2BIG)
    if size < CLONE_ARGS_SIZE_VER0:
        raise KernelError(E.EINVAL)
    (flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid_ptr,
     set_tid_size, cgroup) = _CLONE_ARGS.unpack(
        copy_struct_from_user(t.mm, uargs, _CLONE_ARGS.size, size))
    if set_tid_size > MAX_PID_NS_LEVEL or bool(set_tid_ptr) != bool(set_tid_size):
        raise KernelError(E.EINVAL, "set_tid")
    if exit_signal & ~CSIGNAL or exit_signal > NSIG:
        raise KernelError(E.EINVAL, "exit_signal")
    if flags & CLONE_INTO_CGROUP and (cgroup > 0x7FFF_FFFF or size < CLONE_ARGS_SIZE_VER2):
        raise KernelError(E.EINVAL, "cgroup")
    set_tid: tuple[int, ...] = ()
    if set_tid_size:
        set_tid = struct.unpack(f"<{set_tid_size}i", t.mm.copy_in(set_tid_ptr, 4 * set_tid_size))
    # clone3_args_valid
    if flags & ~_CLONE3_FLAGS or flags & (CLONE_DETACHED | (CSIGNAL & ~CLONE_NEWTIME)):
        raise KernelError(E.EINVAL, "unknown clone3 flags")
    if flags & CLONE_SIGHAND and flags & CLONE_CLEAR_SIGHAND:
        raise KernelError(E.EINVAL, "CLONE_SIGHAND with CLONE_CLEAR_SIGHAND")
    if flags & (CLONE_THREAD | CLONE_PARENT) and exit_signal:
        raise KernelError(E.EINVAL, "an exit signal for a thread or a CLONE_PARENT child")
    if stack == 0:
        if stack_size:
            raise KernelError(E.EINVAL, "a stack size without a stack")
    elif not stack_size or stack + stack_size > TASK_SIZE:
        raise KernelError(E.EINVAL, "bad stack")
    # kernel_clone
    if flags & CLONE_PIDFD and flags & CLONE_PARENT_SETTID and pidfd == parent_tid:
        raise KernelError(E.EINVAL, "pidfd and parent_tid at one address")
    if flags & CLONE_INTO_CGROUP:
        raise KernelError(E.EBADF, "no cgroup file system")
    return _clone(t, flags & 0xFFFF_FFFF, stack + stack_size if stack else 0, parent_tid,
                  child_tid, tls, exit_signal=exit_signal, set_tid=set_tid,
                  clear_sighand=bool(flags & CLONE_CLEAR_SIGHAND), pidfd_addr=pidfd)


def _wait(t, opts) -> bool:
    """Task.Wait for the caller: True when a result is in its WaitState columns (``ret`` the
    pid), False for WNOHANG with nothing ready; blocks the task (a row on Block.WAIT that
    wait_system completes) when nothing is ready yet."""
    res = W.wait(t.world, t.row, opts)
    t.world.flush()  # a reaped child's rows go now
    if res is BLOCKED:
        raise KernelBlocked()
    if res is None:
        return False
    W.store_result(t.world, t.row, res)
    return True


@syscall("wait4", FULL, "rusage as getrusage's", args=("i", "wstatus", "waitopts", "p"))
def wait4(t, pid, status_ptr, options, rusage):
    """Implements wait4(2)."""
    pid, options = s32(pid), u32(options)
    if status_ptr:
        t.mm.copy_in(status_ptr, 4)  # EFAULT before anything is reaped
    if not _wait(t, W.WaitOptions.for_wait4(pid, options)):
        return 0
    return wait4_done(t, int(t.world.tasks.ret[t.row]), pid, status_ptr, options, rusage)


@completion("wait4")
def wait4_done(t, ret, pid, status_ptr, options, rusage):
    """The result of a wait4 that found a child (now, or when wait_system woke it)."""
    if ret <= 0:
        return ret
    T = t.world.tasks
    if status_ptr:
        t.mm.copy_out(status_ptr, struct.pack("<i", int(T.wait_status[t.row])))
    if rusage:
        t.mm.copy_out(rusage, _wait_rusage(T, t.row))
    return ret


def _wait_rusage(T, row: int) -> bytes:
    """The rusage of the child a wait found (systems/task_wait.store_result kept it)."""
    return pack_rusage(cpu_clocks.Rusage(
        int(T.wait_utime[row]), int(T.wait_stime[row]), int(T.wait_maxrss[row]),
        int(T.wait_min_flt[row]), int(T.wait_nvcsw[row]), int(T.wait_nivcsw[row])))


@syscall("waitid", FULL, "rusage (a Linux extension) as wait4's",
         args=("idtype", "i", "p", "waitopts", "p"))
def waitid(t, idtype, id_, infop, options, rusage):
    """Implements waitid(2)."""
    idtype, id_, options = s32(idtype), s32(id_), u32(options)
    nonblock = False
    if idtype == P_PIDFD:  # the pidfd's process as P_PID (kernel_waitid: pidfd_get_pid)
        if id_ < 0:
            raise KernelError(E.EINVAL)
        desc = sys_pidfd.pidfd_target(t, id_)
        if desc.nonblocking and not options & WNOHANG:
            options |= WNOHANG
            nonblock = True
        idtype, id_ = P_PID, sys_pidfd.pid_of(t, desc)
        if id_ <= 0:
            raise KernelError(E.ECHILD, "the pidfd's process is not a child")
    found = _wait(t, W.WaitOptions.for_waitid(idtype, id_, options))
    if nonblock and not found:
        raise KernelError(E.EAGAIN, "the pidfd is non-blocking and its process runs")
    return waitid_done(t, int(t.world.tasks.ret[t.row]) if found else 0, idtype, id_, infop,
                       options, rusage, found=found)


@completion("waitid")
def waitid_done(t, ret, idtype, id_, infop, options, rusage, found=True):
    """waitid's siginfo and rusage once a child was found (zeros for WNOHANG with nothing)."""
    if ret < 0:
        return ret
    T = t.world.tasks
    r = t.row
    if infop:
        if not found:
            t.mm.copy_out(infop, bytes(128))  # WNOHANG with nothing: si_pid 0
        else:
            code, status = int(T.wait_code[r]), int(T.wait_status[r])
            if code == CLD_CONTINUED:
                st = SIGCONT
            elif code in (CLD_STOPPED, CLD_TRAPPED):
                st = (status >> 8) & 0xFF
            else:
                st = int(task_exit.child_siginfo(status)[1])
            uid = user_namespace.uid_of(t.world, r, int(T.wait_uid[r]))  # the waiter's view
            info = struct.pack("<iii4xiIi", SIGCHLD, 0, code, ret, uid, st)
            t.mm.copy_out(infop, info.ljust(128, b"\0"))
    if rusage:  # as wait4's (zeros when nothing was found)
        t.mm.copy_out(rusage, _wait_rusage(T, r) if found else bytes(144))
    return 0
