"""What /proc and /sys show about the guest: the kernel's :class:`ProcProvider` for the fs layer.

Linux: fs/proc/array.c (stat, status), base.c, stat.c, uptime.c, loadavg.c, meminfo.c, cpuinfo.
/proc lists every guest process (the thread groups the Machine runs, zombies included; the
kernel's own init, which runs no code, is not shown), with ids as the root PID namespace has
them. /proc/self is the thread group of the task whose syscall is running (``machine.current``).

Everything is read from the kernel's rows when a file is opened, so the files agree with each
other and with the syscalls:

- times are kernel time: uptime is CLOCK_MONOTONIC (= CLOCK_BOOTTIME here), ``btime`` is
  CLOCK_REALTIME minus it, a task's starttime its creation (``start_ns``), in USER_HZ ticks;
- CPU times are the CpuClock columns (what getrusage and times(2) report); /proc/stat charges
  every task's time to cpu0 (guest tasks take turns on one host thread) and the rest is idle;
- the CPUs are ``Settings.cpus`` (as sched_getaffinity, /sys/devices/system/cpu and getcpu);
- the task counts of /proc/stat and /proc/loadavg are sysinfo(2)'s (``Machine.task_counts``),
  and so are the load averages and memory;
- state letters are Linux's, as ``ecs-kernel ps`` shows them (systems/task_list.py): R running
  or runnable, S interruptible wait, D a vfork parent (uninterruptible), T stopped, Z zombie.
"""
from __future__ import annotations

import os

import numpy as np

from ..abi import (O_CLOEXEC, NSEC_PER_SEC, PAGE_SIZE, RLIM_INFINITY, RLIMIT_RSS, RLIMIT_SIGPENDING, SIG_DFL, SIG_IGN,
                   USER_HZ, VSYSCALL_ADDR, ExitState)
from ..abi import MAX_NUMNODES, RMEM_DEFAULT, WMEM_DEFAULT
from ..checkpoint_objects import state_function
from ..components import pidns, rlimits
from ..components.task import task_cpu
from ..components.user_namespace import GID, UID
from ..errors import E, KernelError
from ..fs.proc import ProcProvider
from ..fs.sysfs import cpu_list
from ..fs import host_view
from ..fs.nsfs import NsInode
from ..fs.stdio import HostStdioFile
from ..systems import (cpu_clocks, fd_table, loadavg, namespaces, ptrace, seccomp, task_identity,
                       task_sched, tty)
from ..systems import user_namespace as userns
from ..systems.task_list import TaskList
from ..systems.task_signals import handler_of
from .sys_info import RELEASE, SYSNAME, VERSION

_VSYSCALL_MAPS_LINE = (f"{VSYSCALL_ADDR:08x}-{VSYSCALL_ADDR + PAGE_SIZE:08x} --xp 00000000 00:00 0 "
                       .ljust(72) + " [vsyscall]\n").encode()

# One memory node, node 0: a nodemask of MAX_NUMNODES bits as %*pb prints it (32-bit words, the
# highest first, comma-separated).
_MEMS_ALLOWED = ",".join(["00000000"] * (MAX_NUMNODES // 32 - 1) + ["00000001"])
_STATE_NAMES = {"R": "R (running)", "S": "S (sleeping)", "D": "D (disk sleep)",
                "T": "T (stopped)", "t": "t (tracing stop)", "Z": "Z (zombie)",
                "X": "X (dead)"}


def _ticks(ns: int) -> int:
    return ns * USER_HZ // NSEC_PER_SEC


def _centi(ns: int) -> str:
    """Seconds with two decimals, as /proc/uptime prints them."""
    cs = ns // (NSEC_PER_SEC // 100)
    return f"{cs // 100}.{cs % 100:02d}"


def guest_random(provider: "KernelProc", n: int) -> bytes:
    """/dev/urandom's bytes in a deterministic run: the Machine's seeded generator."""
    return provider.machine.random_bytes(n)


def guest_realtime(provider: "KernelProc") -> int:
    """File timestamps in a deterministic run: the kernel's (virtual) wall clock; the clock the
    run was given before its Machine exists."""
    m = provider.machine
    return (m.clock if m is not None else provider.clock).realtime_ns()


for _f in (guest_random, guest_realtime):
    state_function(_f)


class KernelProc(ProcProvider):
    def __init__(self, machine, clock=None):
        self.machine = machine
        self.clock = clock  # until the Machine is made (guest_realtime)

    # -- tasks -----------------------------------------------------------------------------------
    @property
    def world(self):
        return self.machine.world

    def _view(self) -> int:
        """The PID namespace /proc shows the calling task: its mount namespace's proc mount's
        (systems/namespaces.proc_view; the root namespace before any)."""
        t = self.machine.current_task
        return namespaces.proc_view(self.world, t.row if t is not None else -1)

    def _level(self) -> int:
        return int(self.world.pid_namespaces.level[self._view()])

    def _row(self, tid: int) -> int:
        """The live guest task with thread id ``tid`` in the namespace /proc shows (ENOENT if
        none)."""
        w = self.world
        row = pidns.task_by_tid(w, self._view(), tid)
        if row < 0 or not w.tasks.alive[row] or not w.tasks.guest[row] \
                or int(w.tasks.exit_state[row]) == ExitState.DEAD:
            raise KernelError(E.ENOENT, f"no process {tid}")
        return row

    def _leader(self, row: int) -> int:
        w = self.world
        return int(w.thread_groups.leader[int(w.tasks.tg[row])])

    def _tid(self, row: int) -> int:
        """``row``'s id in the namespace /proc shows (0: not in it)."""
        return int(self.world.tasks.tids[row, self._level()])

    def _visible(self, row: int) -> bool:
        tid = self._tid(row)
        return tid > 0 and pidns.task_by_tid(self.world, self._view(), tid) == row

    def _pid(self, row: int) -> int:
        return self._tid(self._leader(row))

    def _thread(self, pid: int, tid: int) -> int:
        """The row of thread ``tid`` of process ``pid``; for tid 0 the task ``pid`` names (the
        leader, or the thread /proc/<tid> was looked up by)."""
        row = self._row(pid)
        if not tid:
            return row
        t = self._row(tid)
        if int(self.world.tasks.tg[t]) != int(self.world.tasks.tg[row]):
            raise KernelError(E.ENOENT, f"no thread {tid} in process {pid}")
        return t

    def _threads(self, row: int) -> list[int]:
        w = self.world
        tg = int(w.tasks.tg[row])
        return [r for r in self.machine.tasks if w.tasks.alive[r] and int(w.tasks.tg[r]) == tg
                and int(w.tasks.exit_state[r]) != ExitState.DEAD]

    def _aspace(self, row: int):
        """The address space of ``row``'s process, None once it exited (a zombie has none)."""
        w = self.world
        mm = int(w.tasks.mm[self._leader(row)])
        if mm < 0:
            mm = next((int(w.tasks.mm[r]) for r in self._threads(row) if w.tasks.mm[r] >= 0), -1)
        return w.index.address_spaces[mm].aspace if mm >= 0 else None

    def _live_aspace(self, pid: int):
        a = self._aspace(self._row(pid))
        if a is None:
            raise KernelError(E.ENOENT, f"process {pid} has exited")
        return a

    def self_pid(self) -> int:
        t = self.machine.current_task
        if t is None or not self._visible(t.row):
            raise KernelError(E.ENOENT, "no current process")
        return self._pid(t.row)

    def _console_fd(self) -> int | None:
        """The host fd behind the console: the first of the guest's stdio that is a terminal."""
        hv = host_view.current()
        for fd in getattr(self.machine, "stdio", ()) or ():
            if fd is not None and hv.fd_isatty(fd):
                return fd
        return None

    def controlling_terminal(self, flags: int, path: str):
        """/dev/tty: the console, for a process whose controlling terminal it is."""
        t = self.machine.current_task
        fd = self._console_fd() if t is not None and tty.has_console(self.world, t.row) else None
        if fd is None:
            raise KernelError(E.ENXIO, "no controlling terminal")
        return HostStdioFile(fd, flags, path)

    def _terminal(self, row: int) -> tuple[int, int]:
        """/proc/PID/stat's tty_nr (new_encode_dev of the terminal's device) and tpgid; 0 and -1
        for a process without one."""
        w = self.world
        leader = self._leader(row)
        fd = self._console_fd() if tty.has_console(w, leader) else None
        if fd is None:
            return 0, -1
        rdev = host_view.current().fd_stat(fd).st_rdev
        major, minor = os.major(rdev), os.minor(rdev)
        return ((minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12),
                tty.tpgid(w, leader, int(w.index.root_pidns)))

    def self_tid(self) -> int:
        t = self.machine.current_task
        if t is None or not self._visible(t.row):
            raise KernelError(E.ENOENT, "no current process")
        return self._tid(t.row)

    def pids(self) -> list[int]:
        w = self.world
        T = w.tasks
        return sorted(self._tid(r) for r in self.machine.tasks
                      if T.alive[r] and int(T.exit_state[r]) != ExitState.DEAD
                      and self._leader(r) == r and self._visible(r))

    def has_pid(self, pid: int) -> bool:
        try:
            self._row(pid)
        except KernelError:
            return False
        return True

    def tids(self, pid: int) -> list[int]:
        return sorted(self._tid(r) for r in self._threads(self._row(pid)))

    def cpu_count(self) -> int:
        return self.world.settings.cpus

    # -- per process -------------------------------------------------------------------------------
    def owner(self, pid: int) -> tuple[int, int]:
        T = self.world.tasks
        r = self._leader(self._row(pid))
        return int(T.euid[r]), int(T.egid[r])

    def exe(self, pid: int) -> str:
        return self._live_aspace(pid).exe_path

    def exe_inode(self, pid: int):
        """The program's file and where it is, found by the kernel (without the caller's
        permissions on the directories on the way, as Linux's mm->exe_file); None when it is
        gone or its path leads back into /proc."""
        path = self.exe(pid)
        if path.startswith("/proc/"):
            return None
        try:
            return self.machine.fs.resolve(path)
        except KernelError:
            return None

    def cwd(self, pid: int) -> str:
        w = self.world
        row = self._leader(self._row(pid))
        fsrow = int(w.tasks.fsctx[row])
        if fsrow < 0:
            raise KernelError(E.ENOENT, f"process {pid} has exited")
        return os.fsdecode(self.machine.fs.getcwd(w.index.fs_contexts[fsrow].cwd))

    def root(self, pid: int) -> str:
        """The process's root directory (chroot(2)) as a path from the tree's root."""
        w = self.world
        fsrow = int(w.tasks.fsctx[self._leader(self._row(pid))])
        if fsrow < 0:
            raise KernelError(E.ENOENT, f"process {pid} has exited")
        root = getattr(w.index.fs_contexts[fsrow], "root", None)
        return "/" if root is None else self.machine.fs.path_of(root)

    def cmdline(self, pid: int) -> bytes:
        a = self._aspace(self._row(pid))
        return b"" if a is None else b"".join(x + b"\0" for x in a.argv)

    def environ(self, pid: int) -> bytes:
        a = self._aspace(self._row(pid))
        return b"" if a is None else b"".join(x + b"\0" for x in a.envp)

    def maps(self, pid: int) -> bytes:
        """The address space's VMAs, then the gate VMA: the vsyscall page (cpu/vsyscall.py
        emulates calls into it), as Linux prints it under vsyscall=xonly."""
        a = self._aspace(self._row(pid))
        return b"" if a is None else a.maps_text().encode() + _VSYSCALL_MAPS_LINE

    def statm(self, pid: int) -> bytes:
        """Pages (fs/proc/task_mmu.c task_statm): size, resident, shared (file and shmem),
        text, lib (always 0 since Linux 2.6), data + stack, dirty (always 0)."""
        a = self._aspace(self._row(pid))
        if a is None:
            return b"0 0 0 0 0 0 0\n"
        u = a.memory_usage()
        pg = PAGE_SIZE
        return (f"{u.size // pg} {u.rss // pg} {(u.file + u.shmem) // pg} {u.exe // pg} 0 "
                f"{(u.data + u.stack) // pg} 0\n").encode()

    # fs/proc/base.c lnames: each limit's name and unit, in RLIMIT_* order
    _LIMIT_NAMES = (("Max cpu time", "seconds"), ("Max file size", "bytes"),
                    ("Max data size", "bytes"), ("Max stack size", "bytes"),
                    ("Max core file size", "bytes"), ("Max resident set", "bytes"),
                    ("Max processes", "processes"), ("Max open files", "files"),
                    ("Max locked memory", "bytes"), ("Max address space", "bytes"),
                    ("Max file locks", "locks"), ("Max pending signals", "signals"),
                    ("Max msgqueue size", "bytes"), ("Max nice priority", ""),
                    ("Max realtime priority", ""), ("Max realtime timeout", "us"))

    def limits(self, pid: int) -> bytes:
        """/proc/PID/limits (proc_pid_limits): soft and hard limit of each resource."""
        w = self.world
        tg = int(w.tasks.tg[self._leader(self._row(pid))])
        out = [f"{'Limit':<25} {'Soft Limit':<20} {'Hard Limit':<20} {'Units':<10}\n"]
        for res, (name, unit) in enumerate(self._LIMIT_NAMES):
            cur, mx = (("unlimited" if v == RLIM_INFINITY else str(v))
                       for v in rlimits.get(w, tg, res))
            out.append(f"{name:<25} {cur:<20} {mx:<20} " + (f"{unit:<10}" if unit else "") + "\n")
        return "".join(out).encode()

    def mounts(self, pid: int) -> bytes:
        self._row(pid)
        return self.machine.fs.mounts_text().encode()

    def mountinfo(self, pid: int) -> bytes:
        self._row(pid)
        return self.machine.fs.mountinfo_text().encode()

    def comm(self, pid: int, tid: int = 0) -> bytes:
        return bytes(self.world.tasks.comm[self._thread(pid, tid)]) + b"\n"

    def fds(self, pid: int) -> list[int]:
        w = self.world
        row = self._leader(self._row(pid))
        if int(w.tasks.fdtable[row]) < 0:
            return []
        return fd_table.open_fds(w, row)

    def fd_link(self, pid: int, fd: int) -> str:
        desc = self.fd_description(pid, fd)
        if desc is None:
            raise KernelError(E.ENOENT, "no such fd")
        pipe = getattr(desc, "pipe", None)
        if pipe is not None:
            return f"pipe:[{desc.inode.ino}]"
        return desc.path or "anon_inode:[unknown]"

    def fd_info(self, pid: int, fd: int) -> bytes:
        desc = self.fd_description(pid, fd)
        if desc is None:
            raise KernelError(E.ENOENT, "no such fd")
        w = self.world
        flags = desc.flags
        if fd_table.get_cloexec(w, self._leader(self._row(pid)), fd):
            flags |= O_CLOEXEC
        ino = desc.inode.stat().st_ino if desc.inode is not None else 0
        self.machine.sync_clock()
        # mount ids as mountinfo numbers them (from 1); a kernel-internal mount (pipes, anon
        # inodes) is not in the guest's mountinfo: 0
        mnt = 0
        sb = getattr(desc.inode, "sb", None)
        for i, (_, root) in enumerate(self.machine.fs.mounts, 1):
            if root.sb is sb:
                mnt = i
                break
        head = f"pos:\t{desc.offset}\nflags:\t0{flags:o}\nmnt_id:\t{mnt}\nino:\t{ino}\n"
        return (head + desc.fdinfo(w)).encode()

    def fd_description(self, pid: int, fd: int):
        w = self.world
        row = self._leader(self._row(pid))
        if int(w.tasks.fdtable[row]) < 0:
            return None
        try:
            return fd_table.get_file(w, row, fd)
        except KernelError:
            return None

    # -- namespaces ---------------------------------------------------------------------------------
    def ns_names(self) -> list[str]:
        return list(namespaces.NS_NAMES)

    def ns_link(self, pid: int, name: str) -> str:
        return namespaces.ns_link(self.world, self._thread(pid, 0), name)

    def ns_inode(self, pid: int, name: str):
        w = self.world
        row = self._thread(pid, 0)
        f = namespaces.ns_file(w, row, name)
        return NsInode(f, namespaces.ns_inode(w, f.kind, f.number))

    # -- the user namespace's files -------------------------------------------------------------------
    def _reader_ns(self) -> int:
        """The user namespace of the task reading /proc (seq_user_ns: the opener's)."""
        t = self.machine.current_task
        return int(self.world.tasks.userns[t.row]) if t is not None else userns.INIT_USER_NS

    def id_file(self, pid: int, name: str) -> bytes:
        w = self.world
        ns = int(w.tasks.userns[self._thread(pid, 0)])
        if name == "setgroups":
            return userns.setgroups_text(w, ns)
        return userns.show_map(w, self._reader_ns(), ns, UID if name == "uid_map" else GID)

    def id_file_open(self, pid: int, name: str, writing: bool):
        w = self.world
        ns = int(w.tasks.userns[self._thread(pid, 0)])
        t = self.machine.current_task
        if t is None:
            raise KernelError(E.EPERM, "no opener")
        opener = userns.cred_view(w, t.row)
        if name == "setgroups":
            userns.open_setgroups(w, opener, ns, writing)
        return opener, ns

    def id_file_write(self, name: str, ns: int, opener, offset: int, data: bytes) -> int:
        w = self.world
        t = self.machine.current_task
        if t is None:
            raise KernelError(E.EPERM, "no writer")
        if name == "setgroups":
            return userns.write_setgroups(w, ns, data, offset)
        return userns.write_map(w, t.row, opener, ns, UID if name == "uid_map" else GID, data,
                                offset)

    # -- stat and status ---------------------------------------------------------------------------
    def _state(self, row: int) -> str:
        """The state letter, as ``ecs-kernel ps`` gives it (systems/task_list.py)."""
        return chr(TaskList(self.world, np.array([row]), None, None).state[0])

    def _ids(self, row: int) -> tuple[int, int, int, int]:
        """(ppid, pgid, sid, tgid) of ``row``'s process in the namespace /proc shows (0 for
        what lies outside it, as a parent in an ancestor namespace)."""
        w = self.world
        T, G, P, S = w.tasks, w.thread_groups, w.process_groups, w.sessions
        leader = self._leader(row)
        tg = int(T.tg[leader])
        parent = int(T.parent[leader])
        ppid = self._pid(parent) if parent >= 0 else 0
        pg = int(G.pgrp[tg])
        lvl = self._level()
        pgid = int(P.ids[pg, lvl]) if pg >= 0 else 0
        sid = int(S.ids[int(P.session[pg]), lvl]) if pg >= 0 and int(P.session[pg]) >= 0 else 0
        return ppid, pgid, sid, self._tid(leader)

    def _signal_sets(self, row: int) -> tuple[int, int]:
        """(ignored, caught) signal masks of ``row``'s handlers."""
        w = self.world
        if int(w.tasks.sighand[row]) < 0:
            return 0, 0
        ign = cgt = 0
        for signo in range(1, 65):
            h = handler_of(w, row, signo)
            if h == SIG_IGN:
                ign |= 1 << (signo - 1)
            elif h != SIG_DFL:
                cgt |= 1 << (signo - 1)
        return ign, cgt

    def stat(self, pid: int, tid: int = 0) -> bytes:
        """/proc/<pid>/stat (the process: its leader's state, its threads' CPU time together)
        or /proc/<pid>/task/<tid>/stat (the thread), fs/proc/array.c do_task_stat's 52 fields."""
        self.machine.sync_clock()
        w = self.world
        T, G = w.tasks, w.thread_groups
        row = self._thread(pid, tid)
        tg = int(T.tg[row])
        ppid, pgid, sid, tgid = self._ids(row)
        if tid:
            utime, stime = cpu_clocks.thread_cputime(w, row)
        else:
            utime, stime = cpu_clocks.group_cputime(w, tg)
        cutime, cstime = cpu_clocks.children_cputime(w, tg)
        a = self._aspace(row)
        u = a.memory_usage() if a is not None else None
        vsize, rss = (u.size, u.rss // PAGE_SIZE) if u is not None else (0, 0)
        rss_lim = rlimits.get(w, tg, RLIMIT_RSS)[0]
        ign, cgt = self._signal_sets(row)
        pending = int(T.sig_pending[row]) | (0 if tid else int(G.group_pending[tg]))
        cpu = task_cpu(w, row)
        leader = row == self._leader(row)
        exit_signal = int(G.termination_signal[tg]) if leader else -1
        exit_code = int(T.exit_code[row]) if int(T.exit_state[row]) >= ExitState.ZOMBIE else 0
        mm = (0,) * 3 if a is None else (a.start_data, a.end_data, a.start_brk)
        fields = [
            self._tid(row) if tid else tgid, f"({self._comm(row)})", self._state(row), ppid,
            pgid, sid, *self._terminal(row),  # tty_nr, tpgid
            0, 0, 0, 0, 0,  # flags; page faults are not counted
            _ticks(utime), _ticks(stime), _ticks(cutime), _ticks(cstime),
            task_sched.task_prio(w, row), int(T.nice[row]),  # priority, nice
            int(G.tasks_count[tg]), 0,  # threads, itrealvalue
            _ticks(int(T.start_ns[row])), vsize, rss, rss_lim,
            0, 0, 0 if a is None else a.start_stack, 0, 0,  # code bounds not kept; esp, eip
            pending & 0x7FFFFFFF, int(T.sig_mask[row]) & 0x7FFFFFFF, ign & 0x7FFFFFFF,
            cgt & 0x7FFFFFFF, 0, 0, 0,  # the obsolete signal fields; wchan, nswap, cnswap
            exit_signal, cpu, int(T.rt_priority[row]), int(T.sched_policy[row]),
            0, 0, 0,  # blkio, guest time
            *mm, 0, 0, 0, 0, exit_code,  # arg/env bounds not kept
        ]
        return (" ".join(map(str, fields)) + "\n").encode()

    def _comm(self, row: int) -> str:
        return bytes(self.world.tasks.comm[row]).decode(errors="replace")

    def status(self, pid: int, tid: int = 0) -> bytes:
        """/proc/<pid>/status (fs/proc/array.c proc_pid_status): the fields the kernel keeps."""
        w = self.world
        T, G = w.tasks, w.thread_groups
        row = self._thread(pid, tid)
        tg = int(T.tg[row])
        ppid, pgid, sid, tgid = self._ids(row)
        r = row
        reader = self._reader_ns()  # ids as the reader's user namespace sees them
        uid = "\t".join(str(userns.munged(w, reader, UID, int(getattr(T, c)[r])))
                        for c in ("ruid", "euid", "suid", "fsuid"))
        gid = "\t".join(str(userns.munged(w, reader, GID, int(getattr(T, c)[r])))
                        for c in ("rgid", "egid", "sgid", "fsgid"))
        fsrow = int(T.fsctx[r])
        umask = f"Umask:\t{w.index.fs_contexts[fsrow].umask:04o}\n" if fsrow >= 0 else ""
        fds = self.fds(pid)
        fdsize = 64
        while fds and fds[-1] >= fdsize:
            fdsize *= 2
        a = self._aspace(row)
        vm = ""
        if a is not None:  # fs/proc/task_mmu.c task_mem, its order
            u = a.memory_usage()
            vm = "".join(f"{k}:\t{v // 1024:8d} kB\n" for k, v in (
                ("VmPeak", u.peak), ("VmSize", u.size), ("VmLck", a.locked_bytes()), ("VmPin", 0),
                ("VmHWM", u.hwm), ("VmRSS", u.rss), ("RssAnon", u.anon), ("RssFile", u.file),
                ("RssShmem", u.shmem), ("VmData", u.data), ("VmStk", u.stack), ("VmExe", u.exe),
                ("VmLib", u.lib), ("VmPTE", u.pte), ("VmSwap", 0)))
        ign, cgt = self._signal_sets(row)
        queued = w.index.sigpending_by_uid.get(int(T.ruid[r]), 0)
        caps = "".join(f"Cap{name}:\t{int(getattr(T, col)[r]):016x}\n" for name, col in (
            ("Inh", "cap_inheritable"), ("Prm", "cap_permitted"), ("Eff", "cap_effective"),
            ("Bnd", "cap_bset"), ("Amb", "cap_ambient")))
        allowed = int(T.cpus_allowed[r])
        # proc_pid_status: each gid, then one space (even after none)
        groups = " ".join(map(str, task_identity.groups_of(w, r))) + " "
        lines = (f"Name:\t{self._comm(row)}\n{umask}State:\t{_STATE_NAMES[self._state(row)]}\n"
                 f"Tgid:\t{tgid}\nNgid:\t0\nPid:\t{self._tid(row)}\nPPid:\t{ppid}\n"
                 f"TracerPid:\t{ptrace.tracer_pid(w, r, int(w.index.root_pidns))}\nUid:\t{uid}\nGid:\t{gid}\nFDSize:\t{fdsize}\nGroups:\t{groups}\n"
                 f"NStgid:\t{tgid}\nNSpid:\t{self._tid(row)}\nNSpgid:\t{pgid}\nNSsid:\t{sid}\n"
                 f"Kthread:\t0\n"
                 # no hugetlbfs, no core dumps written, no transparent huge pages, no LAM
                 f"{vm}HugetlbPages:\t{0:8d} kB\nCoreDumping:\t0\nTHP_enabled:\t0\n"
                 f"untag_mask:\t{(1 << 64) - 1:#x}\n"
                 f"Threads:\t{int(G.tasks_count[tg])}\n"
                 f"SigQ:\t{queued}/{rlimits.get(w, tg, RLIMIT_SIGPENDING)[0]}\n"
                 f"SigPnd:\t{int(T.sig_pending[r]):016x}\nShdPnd:\t{int(G.group_pending[tg]):016x}\n"
                 f"SigBlk:\t{int(T.sig_mask[r]):016x}\nSigIgn:\t{ign:016x}\nSigCgt:\t{cgt:016x}\n"
                 f"{caps}NoNewPrivs:\t{int(T.no_new_privs[r])}\nSeccomp:\t{int(T.seccomp_mode[r])}\n"
                 f"Seccomp_filters:\t{seccomp.filter_count(w, r)}\n"
                 # prctl(PR_GET_SPECULATION_CTRL) is EINVAL here: proc_pid_status's "unknown"
                 f"Speculation_Store_Bypass:\tunknown\nSpeculationIndirectBranch:\tunknown\n"
                 f"Cpus_allowed:\t{allowed:x}\nCpus_allowed_list:\t{cpu_list(allowed)}\n"
                 f"Mems_allowed:\t{_MEMS_ALLOWED}\nMems_allowed_list:\t0\n"
                 f"voluntary_ctxt_switches:\t{int(T.nvcsw[r])}\n"
                 f"nonvoluntary_ctxt_switches:\t{int(T.nivcsw[r])}\n")
        return lines.encode()

    # -- system-wide files -------------------------------------------------------------------------
    _FILES = ("cpuinfo", "filesystems", "loadavg", "meminfo", "stat", "uptime", "version")

    def file_names(self) -> list[str]:
        return list(self._FILES)

    def file(self, name: str) -> bytes:
        if name not in self._FILES:
            raise KernelError(E.ENOENT, f"no /proc/{name}")
        self.machine.sync_clock()
        return getattr(self, "_proc_" + name)().encode()

    def _busy_ns(self) -> tuple[int, int]:
        """(user, system) ns every task used since boot: each live process's own and its
        waited-for children's (a reaped process is in its reaper's children's time)."""
        w = self.world
        u = s = 0
        for tg in w.thread_groups.live_rows():
            gu, gs = cpu_clocks.group_cputime(w, int(tg))
            cu, cs = cpu_clocks.children_cputime(w, int(tg))
            u += gu + cu
            s += gs + cs
        return u, s

    def _proc_uptime(self) -> str:
        up = self.machine.monotonic_ns()
        user, system = self._busy_ns()
        idle = max(self.cpu_count() * up - user - system, 0)
        return f"{_centi(up)} {_centi(idle)}\n"

    def _proc_stat(self) -> str:
        m = self.machine
        up = m.monotonic_ns()
        user, system = self._busy_ns()
        n = self.cpu_count()
        lines = []
        for cpu in range(-1, n):
            u, s = (user, system) if cpu <= 0 else (0, 0)
            idle = max((n if cpu < 0 else 1) * up - u - s, 0) if cpu <= 0 else up
            name = "cpu " if cpu < 0 else f"cpu{cpu}"
            lines.append(f"{name} {_ticks(u)} 0 {_ticks(s)} {_ticks(idle)} 0 0 0 0 0 0")
        running, blocked, _ = m.task_counts()
        btime = (m.realtime_ns() - up) // NSEC_PER_SEC
        w = self.world
        forks = int(w.pid_namespaces.forks[w.index.root_pidns])
        lines += ["intr 0", f"ctxt {m.context_switches}", f"btime {btime}",
                  f"processes {forks}", f"procs_running {running}", f"procs_blocked {blocked}"]
        return "\n".join(lines) + "\n"

    def _proc_loadavg(self) -> str:
        m = self.machine
        m.sample_load()
        running, _, total = m.task_counts()
        w = self.world
        last = int(w.pid_namespaces.last_tid[w.index.root_pidns])
        return f"{loadavg.loadavg_text(w.index.avenrun)} {running}/{total} {last}\n"

    def _proc_meminfo(self) -> str:
        total, free, shared = self.machine.memory_totals()
        kb = {"MemTotal": total // 1024, "MemFree": free // 1024,
              "MemAvailable": free // 1024, "Buffers": 0, "Cached": 0, "SwapCached": 0,
              "Shmem": shared // 1024, "SReclaimable": 0, "SwapTotal": 0, "SwapFree": 0}
        return "".join(f"{k + ':':<16}{v:>8} kB\n" for k, v in kb.items())

    def _proc_version(self) -> str:
        """/proc/version (fs/proc/version.c): the utsname's sysname, release and version."""
        return f"{SYSNAME.decode()} version {RELEASE.decode()} (ecs-kernel) {VERSION.decode()}\n"

    # the file system types modelled, in Linux's order of registration; none needs a device
    _FILESYSTEMS = ("sysfs", "tmpfs", "proc", "devtmpfs", "sockfs", "pipefs", "mqueue", "overlay")

    def _proc_filesystems(self) -> str:
        """/proc/filesystems (fs/filesystems.c): ``nodev`` and the name, one per line."""
        return "".join(f"nodev\t{name}\n" for name in self._FILESYSTEMS)

    def _proc_cpuinfo(self) -> str:
        n = self.cpu_count()
        return "".join(
            f"processor\t: {i}\nvendor_id\t: GenuineIntel\nmodel name\t: ecs-kernel Unicorn "
            f"x86-64\nphysical id\t: 0\nsiblings\t: {n}\ncore id\t\t: {i}\ncpu cores\t: {n}\n"
            f"apicid\t\t: {i}\nflags\t\t: fpu sse sse2\n\n" for i in range(n))

    # -- /proc/sys -------------------------------------------------------------------------------
    _SYSCTLS = ("kernel/hostname", "kernel/osrelease", "kernel/ostype", "kernel/pid_max",
                "net/core/rmem_default", "net/core/rmem_max", "net/core/wmem_default",
                "net/core/wmem_max")

    def sysctl_names(self) -> list[str]:
        return list(self._SYSCTLS)

    def sysctl(self, name: str) -> bytes:
        w = self.world
        if name == "kernel/pid_max":
            return f"{w.settings.pid_max}\n".encode()
        if name in ("net/core/wmem_max", "net/core/rmem_max"):
            return f"{getattr(w.settings, name[9:])}\n".encode()
        if name == "net/core/wmem_default":
            return f"{WMEM_DEFAULT}\n".encode()
        if name == "net/core/rmem_default":
            return f"{RMEM_DEFAULT}\n".encode()
        if name == "kernel/ostype":
            return SYSNAME + b"\n"
        if name == "kernel/osrelease":
            return RELEASE + b"\n"
        if name == "kernel/hostname":
            t = self.machine.current_task
            u = int(w.tasks.uts[t.row]) if t is not None else -1
            return (bytes(w.uts_namespaces.hostname[u]) if u >= 0 else b"ecs-kernel") + b"\n"
        raise KernelError(E.ENOENT, f"no /proc/sys/{name}")


__all__ = ["KernelProc"]
