"""Our C programs, built with gcc -static and musl-gcc -static, run natively and under
ecs-kernel: stdout and the exit status must match (Linux is the oracle)."""
import os
import shutil

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


def test_sendfile_rules(guest_build, libc):
    """sendfile's input and output checks in Linux's order (directories, pipes, sockets,
    eventfds, /dev/null and a process's /proc files do not splice; O_APPEND; ranges past the
    largest offset), nothing consumed when the output refuses, a file sent into itself."""
    same([guest_build("sendfile_rules", libc)])


def test_getdents_buffers_and_lseek_on_proc_and_sys(guest_build, libc):
    """getdents/getdents64's count and buffer checks, records written one by one up to an
    unwritable page; lseek's SEEK_END on /proc and /sys directories and files."""
    same([guest_build("dirents_seek", libc)])


def test_statx_mount_id_matches_mountinfo(guest_build, libc):
    """statx always reports STATX_MNT_ID; stx_mnt_id is mountinfo's id of the mount a path (or
    an fd) lies in."""
    same([guest_build("statx_mnt_id", libc)])


def test_extended_attributes(guest_build, libc):
    """xattr.c: the *xattr and *xattrat calls on tmpfs files, their namespaces, limits and
    errnos, an unprivileged child's permission checks, a forked child's view."""
    same([guest_build("xattr", libc)])


def test_utime_utimes_futimesat_fchmodat2(guest_build, libc):
    """utimes.c: do_utimes's four callers (times, flags, NULL paths and fds, the touch and
    explicit-time permission rules) and fchmodat2's flags."""
    same([guest_build("utimes", libc)])


def test_preadv2_pwritev2_sync_file_range_syncfs(guest_build, libc):
    """rwv2.c: offsets (-1 the file position), RWF_* flags on each kind of file, RWF_APPEND and
    RWF_NOAPPEND, RWF_NOWAIT on an empty pipe, RWF_NOSIGNAL; sync_file_range's and syncfs's
    argument checks."""
    same([guest_build("rwv2", libc)])


def test_openat2_open_how_and_resolve_flags(guest_build, libc):
    """openat2.c: open_how's size and fields, build_open_flags's EINVALs, and every RESOLVE_*
    flag on a tmpfs tree, /proc's magic links and mount crossings."""
    same([guest_build("openat2", libc)])


def test_kcmp(guest_build, libc):
    """kcmp.c: every type between a process, its thread, forked and unprivileged children
    (undo lists made by SEM_UNDO and by CLONE_SYSVSEM, io_contexts by ioprio_set),
    KCMP_EPOLL_TFD, and the errnos."""
    same([guest_build("kcmp", libc)])


def test_chroot(guest_build, libc):
    """chroot.c: the errnos, the walk from the new root, a working directory left outside it,
    fds from before, a nested chroot, fork and exec inside, /proc/PID/root from outside."""
    same([guest_build("chroot", libc)])


def test_socketpair_epoll_eventfd_memfd(guest_build, libc):
    same([guest_build("events", libc)])


def test_epoll_edge_oneshot_exclusive_nesting(guest_build, libc):
    """EPOLLET reports once per wakeup (a second write is a new edge), EPOLLONESHOT until MOD,
    EPOLLEXCLUSIVE's EINVALs, ELOOP for cycles and nesting past EP_MAX_NESTS."""
    same([guest_build("epoll_edge", libc)])


def test_epoll_interests_are_keyed_by_file_and_fd(guest_build, libc):
    """epoll_reuse.c: an fd closed while a dup keeps its file open keeps its interest; the fd
    number reused for another file is added beside it; MOD/DEL reach the file the fd holds now;
    the old interest goes at its file's last close."""
    same([guest_build("epoll_reuse", libc)])


def test_inotify_events_wake_waiters_of_a_thread_that_never_blocks(guest_build, libc):
    """inotify_wake.c: an edge-triggered epoll_wait on an empty inotify queue and a blocking
    read of another wake as soon as a thread that never blocks makes events (fsnotify's wake_up);
    they used to sleep until that thread gave up the CPU."""
    same([guest_build("inotify_wake", libc)])


def test_inotify_unlinked_files_times_and_getdents(guest_build, libc):
    """IN_DELETE_SELF after the last close of an unlinked file, IN_EXCL_UNLINK hiding I/O but
    not inode changes, utimensat's IN_ACCESS/IN_MODIFY/IN_ATTRIB, getdents' IN_ACCESS."""
    same([guest_build("inotify_unlink", libc)])


def test_open_with_o_trunc_reports_in_open_before_in_modify(guest_build, libc):
    """Linux 6.5's order: IN_OPEN, then the truncation's IN_MODIFY; none for a new file."""
    same([guest_build("inotify_open_trunc", libc)])


def test_pidfd_thread(guest_build, libc):
    """PIDFD_THREAD: a thread's pidfd is readable when that thread exits and signals it;
    without the flag a non-leader thread is ENOENT."""
    same([guest_build("pidfd_thread", libc)])


def test_kernel_version_and_the_behaviours_that_follow_it(guest_build, libc):
    """uname, /proc/sys/kernel/osrelease and /proc/version agree on one release (at least
    6.12), and what depends on it: CLONE_PIDFD with CLONE_THREAD, eventfd's 8-byte writes,
    sched_getattr's fair runtime as the slice sched_setattr sets (clamped, inherited, reset)."""
    same([guest_build("kversion", libc)])


def test_clocks(guest_build, libc):
    same([guest_build("clocks", libc)])


def test_limits_prctl_ids(guest_build, libc):
    same([guest_build("limits", libc)])


def test_resource_limits_come_from_the_host_and_show_in_proc(guest_build, libc):
    """The guest starts with the limits of the process that runs ecs-kernel (as the command
    line gives them), /proc/PID/limits shows them, setrlimit within the hard limit needs no
    privilege."""
    from ecs_kernel.cpu.host_limits import DEFAULT_PIDS, host_rlimits
    argv = [guest_build("rlimits_host", libc)]
    native = run_native(argv)
    guest = run_guest(argv, rlimits=host_rlimits(DEFAULT_PIDS))
    assert guest.stdout.decode() == native.stdout.decode()
    assert guest.status == native.status == 0, guest.stderr


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
def test_linkat_empty_path_needs_the_openers_creds_or_cap_dac_read_search(guest_build, libc):
    """Linux 6.10's linkat(AT_EMPTY_PATH): the opener's unchanged credentials (the same task or
    a thread sharing them), or CAP_DAC_READ_SEARCH in the opener's user namespace; ENOENT
    without. AT_FDCWD with a path needs neither."""
    same([guest_build("link_empty", libc)])


@needs_root
def test_mqueue_filesystem_mounts(guest_build, libc):
    """mount -t mqueue (three times): the IPC namespace's queues as files (stat, statfs,
    readdir, open and read, unlink as mq_unlink), a mount point's rmdir EBUSY, umount."""
    same([guest_build("mq_mount", libc)])


@needs_root
def test_ptrace_access_checks_and_pidfds_naming_pids(guest_build, libc):
    """ptrace_may_access behind pidfd_getfd, setns by pidfd and process_vm_readv (another user
    namespace, a missing permitted capability, a non-dumpable target); a leader's PIDFD_THREAD
    pidfd follows the thread that exec'd in its place, that thread's own reports its end."""
    same([guest_build("pidfd_access", libc)])


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


@pytest.mark.parametrize("insn", ["in", "out", "inl", "outw"])
def test_port_io_in_user_mode_is_a_general_protection_fault(guest_build, libc, insn):
    """in/out at CPL 3 without I/O permission: SIGSEGV, SI_KERNEL, no address, the saved rip on
    the instruction (Unicorn would run them)."""
    same([guest_build("ioports", libc), insn])


def _host_has_vsyscall() -> bool:
    with open("/proc/self/maps") as f:
        return "[vsyscall]" in f.read()


@pytest.mark.parametrize("scenario", ["calls", "errno", "trap", "kill", "bad"])
def test_vsyscall_page_calls_are_emulated_and_filtered(guest_build, libc, scenario):
    """The legacy vsyscall page (vsyscall=xonly): time, gettimeofday and getcpu at its entry
    points, its /proc/self/maps line, seccomp's ERRNO/TRAP/KILL on a call through it (SIGSYS's
    si_call_addr the entry), SIGSEGV for a misaligned entry, a read and a bad pointer."""
    if not _host_has_vsyscall():
        pytest.skip("the host has no vsyscall page (vsyscall=none): no oracle to compare with")
    same([guest_build("vsyscall", libc), scenario])


@pytest.mark.parametrize("scenario", ["count", "peekpoke", "regs", "signal", "fork", "seize",
                                      "attach", "seccomp", "step", "wclone", "sysemu",
                                      "restart", "detachsig", "vforkdone", "listen", "thread",
                                      "peeksiginfo", "getfilter", "threadexec"])
def test_ptrace(guest_build, libc, scenario):
    """ptrace: syscall stops counted and their numbers, PEEK/POKE, GETREGS/SETREGS changing a
    call and its result, signal-delivery stops (suppressed, delivered, changed), fork events and
    the auto-attached child's exit, SEIZE/INTERRUPT/GET_SYSCALL_INFO and TracerPid, ATTACH/DETACH,
    EXITKILL; a zombie tracee reaped by its tracer-parent with __WCLONE; PTRACE_SYSEMU; a
    blocked call's exit stop (-ERESTARTNOHAND) before the signal's stop, restarts and EINTR; a
    DETACH delivering the signal SETSIGINFO chose; PTRACE_EVENT_VFORK_DONE; PTRACE_LISTEN; a
    traced thread's exit reaped by its tracer; PEEKSIGINFO; SECCOMP_GET_FILTER; an exec from a
    non-leader thread (the leader's exit stop first, the old leader's tid taken over, the exec
    event) and SIGKILL's PTRACE_EVENT_EXIT stop."""
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


@pytest.mark.parametrize("scenario", ["fragmented", "fixed", "adjacent"])
def test_many_small_anonymous_mappings_merge_as_on_linux(guest_build, libc, scenario):
    """smallmaps.c: gVisor's CreateFragmentedRegion (2,000 single-page mmaps, half MAP_FIXED over
    a PROT_NONE region) shows Linux's VMAs in /proc/self/maps, keeps every byte, copies across
    the pieces, forks and unmaps them; MAP_FIXED over private anonymous memory gives fresh zero
    pages whatever the protection (locked, after fork, over code); mappings placed next to each
    other merge. (1000 pages: a region of a multiple of 2 MiB is THP-aligned by Linux, which
    ecs-kernel's placement does not model.)"""
    argv = [guest_build("smallmaps", libc), scenario] + (["1000"] if scenario == "fragmented" else [])
    same(argv, cwd="/var/tmp")


@pytest.mark.parametrize("scenario", ["coherent", "memfd", "sigbus", "private"])
def test_shared_file_mappings_are_the_page_cache(guest_build, libc, scenario):
    """shmap.c: MAP_SHARED mappings of a file see write(2), truncate and each other at once (in
    a forked child too, no msync); two mappings of a memfd and its dup share content, and
    F_SEAL_WRITE is EBUSY while a shared mapping that may write exists; a page wholly past the
    end of a mapped file (shared or private, after a truncate, in the child) is SIGBUS with
    BUS_ADRERR at the byte, system calls copying from or to it fail with EFAULT, and growing the
    file maps it again with zeros."""
    same([guest_build("shmap", libc), scenario], cwd="/var/tmp")


def test_copies_that_fault_part_way_return_the_bytes_moved(guest_build, libc):
    """partial_iov.c: readv/writev/preadv/pwritev, read/write/pread/pwrite across a PROT_NONE
    page or a page past the end of a mapped file return the bytes before the fault (EFAULT when
    there are none, for a pipe too); an iovec outside the address space is EFAULT even with
    length 0."""
    same([guest_build("partial_iov", libc)], cwd="/var/tmp")


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


@pytest.mark.parametrize("scenario", ["nodes", "opens", "block", "signals", "lifetime", "held",
                                      "ckpt"])
def test_mknod_and_named_pipes(guest_build, libc, scenario):
    """mknod(2)/mknodat(2) of every type (EPERM, EINVAL, EEXIST, umask, dirfds, CAP_MKNOD, device
    nodes opening the devices of their number or ENXIO, socket names refusing connections) and
    FIFOs as fifo(7) says: who blocks in open and who does not, ENXIO, a reader blocked in open
    counting as a reader, signals (EINTR, SA_RESTART, SIGKILL, SIGSTOP) during the wait, the
    buffer's lifetime with the open ends, hard links and /proc/self/fd reopens; a read blocked
    on a pipe whose fd another thread closes still reads (the call holds its file)."""
    same([guest_build("fifo", libc), scenario])


def test_mkfifo_shell_pipeline():
    """busybox's mkfifo and a shell writing and reading through the FIFO."""
    busybox = shutil.which("busybox")
    assert busybox is not None, "busybox-static is not installed (README: apt-get install)"
    script = ("d=$(mktemp -d); mkfifo -m 640 $d/p; ls -l $d/p | cut -c1-10; "
              "(echo hello through a fifo > $d/p &); tr a-z A-Z < $d/p; "
              "(for i in 1 2 3; do echo line $i; done > $d/p &); wc -l < $d/p; "
              "test -p $d/p && echo is a fifo; rm -r $d")
    native, guest = same([busybox, "sh", "-c", script], env={"PATH": "/usr/bin:/bin"})
    assert native.stdout == b"prw-r-----\nHELLO THROUGH A FIFO\n3\nis a fifo\n"


def test_cpu_clocks_are_each_threads_own(guest_build, libc):
    """CLOCK_THREAD_CPUTIME_ID and pthread_getcpuclockid's ids read the CPU time charged to that
    thread, CLOCK_PROCESS_CPUTIME_ID the sum over the process's threads (systems/cpu_clocks.py),
    clock_getres answers for them, clock ids of missing pids are EINVAL."""
    same([guest_build("cpuclocks", libc)])


def test_a_frame_that_would_overflow_the_alternate_stack_is_sigsegv(guest_build, libc):
    """get_sigframe: a handler on the alternate stack that signals itself again and again
    (SA_NODEFER) until the next frame would run off the stack's bottom dies of SIGSEGV; the
    frame is never written below the stack."""
    same([guest_build("altstack_overflow", libc)])


def test_sigtimedwait_does_not_see_an_ignored_signal_it_did_not_block(guest_build, libc):
    """sig_ignored at send looks at the mask from before the wait (real_blocked): an ignored
    signal sigtimedwait waits for but the mask did not block is dropped, the wait times out."""
    same([guest_build("sigwait_ignored", libc)])


def test_supplementary_groups(guest_build, libc):
    """setgroups/getgroups (sorted, the count, EINVAL, EFAULT, EPERM without CAP_SETGID),
    /proc/self/status's Groups line, fork's copy, and access through a supplementary group."""
    same([guest_build("groups", libc)])


def test_rseq_section_of_a_lone_thread_is_aborted_by_preemption(guest_build, libc):
    """rseq_preempt.c: a thread alone (no other thread, timer or syscall) spinning in an rseq
    critical section is preempted and resumes at its abort handler (before or after the
    section), rseq_cs cleared and an involuntary switch counted; rseq_cs armed outside a
    section is cleared; a signature mismatch or an abort handler inside the section is a
    SIGSEGV."""
    same([guest_build("rseq_preempt", libc)])
    # the preemption is counted as Linux counts one (natively a migration may abort it instead)
    r = run_guest([guest_build("rseq_preempt", libc)], env={"RSEQ_SHOW_NIVCSW": "1"})
    assert "involuntary switches grew 1\n" in r.stdout.decode(), r.stdout


def test_itimer_prof_signals_the_thread_that_used_the_cpu(guest_build, libc):
    """itimer_fair.c: ITIMER_PROF's SIGPROF goes to the thread whose CPU time made it expire,
    so two workers taking turns (busy, then with the process idle between turns) share the
    signals and the waiting main thread gets fewer than either."""
    same([guest_build("itimer_fair", libc)])


def test_sigqueueinfo_delivers_the_siginfo_as_given(guest_build, libc):
    """sigqueue_info.c: rt_sigqueueinfo and rt_tgsigqueueinfo deliver the siginfo as given,
    si_errno included (a SA_SIGINFO handler, sigtimedwait, a signalfd's ssi_errno; kill's has
    si_errno 0), and the si_pid and si_uid the caller wrote, not the sender's own ids (to itself
    and from a child); a receiver in a pid namespace where the sender has no pid gets si_pid 0
    and the uid kept."""
    same([guest_build("sigqueue_info", libc)])


def test_prctl_timer_slack_tid_address_and_thp_disable(guest_build, libc):
    """prctl_misc.c: PR_SET/GET_TIMERSLACK (a new thread's and a child's default is its creator's
    current slack; a real-time task has none and gets its default back under SCHED_OTHER),
    PR_GET_TID_ADDRESS after set_tid_address, PR_SET/GET_THP_DISABLE with 6.18's
    PR_THP_DISABLE_EXCEPT_ADVISED and its EINVALs, kept by fork and exec."""
    same([guest_build("prctl_misc", libc)])


def test_a_group_signal_goes_to_the_thread_it_was_sent_to_when_it_can_take_it(guest_build, libc):
    """group_signal_leader.c: after another thread took the group's last signal, kill(getpid())
    and ITIMER_REAL's SIGALRM are taken by the main thread, which can take them (complete_signal;
    gVisor's DeliversSIGALRMToMainThread). Before, the thread that took the last one, asleep in
    pause(), took the SIGALRMs."""
    same([guest_build("group_signal_leader", libc)])
