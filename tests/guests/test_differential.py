"""Our C programs, built with gcc -static and musl-gcc -static, run natively and under
ecs-kernel: stdout and the exit status must match (Linux is the oracle)."""
import os

import pytest

from tests.guests.harness import run_guest, run_native


def same(argv, env=None, stdin=b"", cwd="/"):
    native = run_native(argv, env=env, stdin=stdin, cwd=cwd)
    guest = run_guest(argv, env=env, stdin=stdin, cwd=cwd)
    assert guest.stdout.decode(errors="replace") == native.stdout.decode(errors="replace")
    assert guest.status == native.status, guest.stderr
    return native, guest


def test_stdio(guest_build, libc):
    p = guest_build("stdio", libc)
    native, guest = same([p, "9"], stdin=b"line one\nline two\n")
    assert guest.status == 9
    assert guest.stderr == native.stderr == b"to stderr\n"


def test_stdio_empty_stdin(guest_build, libc):
    same([guest_build("stdio", libc)])


def test_argv_envp_auxv(guest_build, libc):
    p = guest_build("args", libc)
    same([p, "one", "two words", "", "last"], env={"A": "1", "EMPTY": "", "PATH": "/bin"})


def test_no_environment(guest_build, libc):
    same([guest_build("args", libc)], env={})


def test_memory(guest_build, libc):
    same([guest_build("memory", libc)])


def test_files(guest_build, libc):
    same([guest_build("files", libc)])


def test_files_at_sendfile_poll(guest_build, libc):
    same([guest_build("files_at", libc)])


def test_socketpair_epoll_eventfd_memfd(guest_build, libc):
    same([guest_build("events", libc)])


def test_clocks(guest_build, libc):
    same([guest_build("clocks", libc)])


def test_limits_prctl_ids(guest_build, libc):
    same([guest_build("limits", libc)])


def test_bad_input(guest_build, libc):
    same([guest_build("badinput", libc)])


@pytest.mark.parametrize("fault", ["segv", "abort", "kill", "raise", "ignored", "blocked", "pipe"])
def test_faults_and_default_signal_actions(guest_build, fault):
    native, guest = same([guest_build("faults", "gcc"), fault])
    assert guest.status == native.status


def test_musl_faults(guest_build):
    same([guest_build("faults", "musl"), "segv"])
    same([guest_build("faults", "musl"), "abort"])


HANDLER_SCENARIOS = ["basic", "queue", "blocked", "nested", "resethand", "fpu", "segv", "ud2", "hlt",
                     "again", "unmap-after-quanta",
                     "altstack", "ignore-pending", "sigtimedwait", "alarm-pause", "alarm-kill",
                     "itimer", "sleep-eintr", "read-eintr", "read-restart", "sigsuspend",
                     "spin-alarm", "spin-virtual", "spin-prof", "exec-timers"]


@pytest.mark.parametrize("scenario", HANDLER_SCENARIOS)
def test_signal_handlers(guest_build, libc, scenario):
    """Handlers run on guest stacks with Linux's frame: siginfo, masks, nesting, FP state kept,
    faults resumed or jumped out of, alternate stacks, timers, EINTR and SA_RESTART."""
    same([guest_build("handlers", libc), scenario])


@pytest.mark.parametrize("case", ["badhandler", "badaltstack", "sigreturn", "norestorer"])
def test_bad_signal_input_is_sigsegv(guest_build, case):
    native, guest = same([guest_build("badsignals", "gcc"), case])
    assert guest.status == native.status == 139 and b"Traceback" not in guest.stderr


def test_big_memory_requests_follow_the_overcommit_heuristic(guest_build, libc):
    same([guest_build("bigmem", libc)])


@pytest.mark.parametrize("scenario", ["pipe", "signals", "waitid", "exec", "many", "fdshare",
                                      "rusage", "exec-shared"])
def test_processes(guest_build, libc, scenario):
    """fork/vfork, pipes between processes, wait4/waitid with stop/continue reports, signals to
    children, exec in a child (one sharing our handler and fd tables, too), a shared file
    offset."""
    same([guest_build("procs", libc), scenario])


def test_file_size_limit_and_offsets(guest_build, libc):
    """RLIMIT_FSIZE (a write cut at the limit, EFBIG and SIGXFSZ past it, ftruncate/truncate,
    O_APPEND, pwritev, death by SIGXFSZ) and rw_verify_area's offset checks."""
    same([guest_build("fsize", libc)])


def test_signal_driven_io(guest_build, libc):
    """F_SETOWN/F_SETOWN_EX/F_SETSIG and O_ASYNC (systems/fasync.py): SIGIO on a pipe write,
    F_SETSIG's siginfo (POLL_IN, si_band, the fd O_ASYNC was set through), a child owner."""
    same([guest_build("sigio", libc)])


@pytest.mark.parametrize("scenario", ["posix", "ofd", "flock", "errors"])
def test_file_locks(guest_build, libc, scenario):
    """Advisory locks between processes (fs/locks.py): POSIX record locks (conflicts, F_GETLK's
    answer, splitting, F_SETLKW waiting for an unlock, a close of any fd dropping them), OFD
    locks, flock (conversion, inheritance, a wait ended by the last close), the errnos, and a
    signal ending a wait."""
    same([guest_build("locks", libc), scenario])


@pytest.mark.parametrize("scenario", ["exit", "term", "abort", "quit", "stop", "leader",
                                      "selfstop"])
def test_sigchld_siginfo(guest_build, libc, scenario):
    """An SA_SIGINFO SIGCHLD handler sees Linux's si_code, si_pid, si_uid and si_status for a
    child's exit, death by SIGTERM, by a core-dump signal (RLIMIT_CORE 0: CLD_KILLED), stop and
    continue, for a process that stops itself (it must not run on), and for a leader that ended
    before its group's exit_group."""
    same([guest_build("sigchld", libc), scenario])


@pytest.mark.parametrize("scenario", ["mutex", "condvar", "signals", "exit-group", "main-exit",
                                      "tids", "exec", "exec-from-thread"])
def test_threads(guest_build, libc, scenario):
    """pthreads: contended mutexes and condition variables (futex waiters as rows), joins
    (clear_child_tid), pthread_kill, TLS, pthread_exit from main, exit from a thread."""
    same([guest_build("threads", libc), scenario])


# Credentials and scheduling attributes need a root caller natively (the guest is root).
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="compares with a root process")


@needs_root
def test_credentials_capabilities_and_no_new_privs(guest_build, libc):
    """set*id (setuid(-1) EINVAL, saved ids, fsuid), a thread's setuid and exit then a fork
    (the per-user count moves), capabilities following the uids, capget/capset, keepcaps,
    bounding and ambient sets, no_new_privs and dumpable through fork and exec, what a euid
    change does to dumpable and the parent-death signal."""
    same([guest_build("creds", libc)])


@needs_root
def test_nice_policies_ioprio_membarrier(guest_build, libc):
    """getpriority/setpriority (ESRCH for a reaped pid, EACCES, PGRP, USER; inherited by fork
    and threads, kept by exec), sched_setscheduler/setparam/getattr/setattr with their checks
    and SCHED_RESET_ON_FORK, ioprio_get/set, membarrier's registrations."""
    same([guest_build("sched", libc)])


@needs_root
def test_clone3_clone_parent_pdeathsig_rseq(guest_build, libc):
    """clone3's struct checks and errnos, CLONE_CLEAR_SIGHAND, a TLS base outside user space,
    CLONE_PARENT with an inherited exit signal, PR_SET_PDEATHSIG on the parent thread's exit,
    SIGKILL to a process whose one thread has exited (its status stays), rseq registration by glibc and by hand (EBUSY, EPERM, EINVAL, EFAULT, the cpu fields, fork,
    unregistration, SIGSEGV for an area the kernel cannot write)."""
    same([guest_build("lifecycle", libc)])


@pytest.mark.parametrize("case", ["protect", "guard", "unmap", "exec", "remap", "brk", "fork",
                                  "stack"])
def test_page_faults_report_si_code_and_si_addr_as_linux(guest_build, libc, case):
    """SIGSEGV's si_code (SEGV_MAPERR / SEGV_ACCERR) and exact si_addr after mprotect, PROT_NONE
    guards, munmap, mremap, brk, fork and NX data pages; stacks grow on a fault up to
    RLIMIT_STACK (raised at run time) and no further."""
    same([guest_build("pagefaults", libc), case])


def test_seccomp_strict_and_filters(guest_build, libc):
    """seccomp: ERRNO, TRAP's siginfo, KILL_PROCESS (status SIGSYS), KILL_THREAD, strict mode,
    inheritance by fork and across exec, the checks on programs, TSYNC, /proc status."""
    native, guest = same([guest_build("seccomp", libc)])
    assert "kill: signal 31" in native.stdout.decode()


@pytest.mark.parametrize("scenario", ["count", "peekpoke", "regs", "signal", "fork", "seize",
                                      "attach", "seccomp", "step"])
def test_ptrace(guest_build, libc, scenario):
    """ptrace: syscall stops counted and their numbers, PEEK/POKE, GETREGS/SETREGS changing a
    call and its result, signal-delivery stops (suppressed, delivered, changed), fork events and
    the auto-attached child's exit, SEIZE/INTERRUPT/GET_SYSCALL_INFO and TracerPid, ATTACH/DETACH,
    EXITKILL."""
    native, guest = same([guest_build("ptrace", libc), scenario])
    assert native.status == 0 and native.stdout


@pytest.mark.parametrize("section", ["timerfd", "signalfd", "eventfd", "pidfd", "memfd", "closerange",
                                     "inotify", "pwait"])
def test_fd_objects(guest_build, libc, section):
    """timerfd, signalfd, eventfd, pidfd (+ CLONE_PIDFD, waitid P_PIDFD), memfd seals,
    close_range and inotify: each object's answers and errnos, blocking reads woken by time,
    by another process's signal or write, and readiness through poll and epoll; pwait: the
    signal mask of ppoll, pselect6 and epoll_pwait, and the time left written back."""
    same([guest_build("fdobjects", libc), section])


@pytest.mark.parametrize("scenario", ["private", "shared", "advice", "many", "file", "rss"])
def test_fork_copy_on_write_and_memory_accounting(guest_build, libc, scenario):
    """After fork each process sees its own writes to private memory (heap, stack, globals, a
    private file mapping, through grandchildren too), MAP_SHARED memory stays shared both ways,
    madvise/mprotect in the child do not reach the parent (MADV_WIPEONFORK, MADV_DONTFORK, a
    write to a page made read-only is SIGSEGV/SEGV_ACCERR at the byte), and /proc/self/status
    and statm count pages as Linux does (copy-on-write pages in both, RSS growing by the pages
    written)."""
    same([guest_build("cow", libc), scenario], cwd="/var/tmp")


def test_mlock_mincore(guest_build, libc):
    """mlock/mlock2/munlock/mlockall, MAP_LOCKED and MAP_POPULATE: mincore's residency, VmLck,
    RLIMIT_MEMLOCK and the errnos, as root and as a user without CAP_IPC_LOCK."""
    same([guest_build("mlock", libc)])


def test_personality(guest_build, libc):
    """personality(2): kept, inherited by fork, READ_IMPLIES_EXEC dropped by exec; UNAME26 and
    PER_LINUX32 in uname, READ_IMPLIES_EXEC in mmap/mprotect, STICKY_TIMEOUTS in select."""
    same([guest_build("persona", libc)])


def test_rusage(guest_build, libc):
    """getrusage/wait4/waitid rusage: maxrss, page faults and switches behave as Linux's do
    (their exact counts differ between runs natively too: the program prints facts about them)."""
    same([guest_build("rusage", libc)])


def test_proc_files_seek_and_are_made_at_read(guest_build, libc):
    """lseek on /proc files (SEEK_SET/SEEK_CUR only) and /proc, /sys and tmpfs directories, and a
    /proc file opened before a change and read after it shows the change."""
    same([guest_build("procseek", libc)])
