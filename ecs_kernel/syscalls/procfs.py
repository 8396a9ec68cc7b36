"""What /proc shows about guest processes: the kernel's :class:`ProcProvider` for the fs layer.

/proc/self is the thread group of the task whose syscall is running (``machine.current``).
"""
from __future__ import annotations

import os

from ..abi import MAX_RT_PRIO, SCHED_DEADLINE, SCHED_FIFO, SCHED_RR
from ..checkpoint_objects import state_function
from ..errors import E, KernelError
from ..fs.proc import ProcProvider
from ..systems import fd_table
from .sys_process import getpid, getppid


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

    def _task(self, pid: int):
        m = self.machine
        t = m.current_task
        if t is None:
            raise KernelError(E.ENOENT, "no process")
        if getpid(t) != pid:
            raise KernelError(E.ENOENT, f"no process {pid}")
        return t

    def self_pid(self) -> int:
        t = self.machine.current_task
        if t is None:
            raise KernelError(E.ENOENT, "no current process")
        return getpid(t)

    def files(self) -> dict[str, bytes]:
        return {"meminfo": b"MemTotal:        4194304 kB\nMemFree:         2097152 kB\n"
                           b"MemAvailable:    2097152 kB\n",
                "cpuinfo": b"processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: ecs-kernel "
                           b"Unicorn x86-64\nflags\t\t: fpu sse sse2\n\n",
                "uptime": f"{self.machine.monotonic_ns() / 1e9:.2f} 0.00\n".encode()}

    def owner(self, pid: int) -> tuple[int, int]:
        t = self._task(pid)
        T = t.world.tasks
        return int(T.euid[t.row]), int(T.egid[t.row])

    def exe(self, pid: int) -> str:
        return self._task(pid).exe_path

    def cwd(self, pid: int) -> str:
        t = self._task(pid)
        return os.fsdecode(t.fs.getcwd(t.fsctx.cwd))

    def cmdline(self, pid: int) -> bytes:
        return b"".join(a + b"\0" for a in self._task(pid).argv)

    def environ(self, pid: int) -> bytes:
        return b"".join(e + b"\0" for e in self._task(pid).envp)

    def maps(self, pid: int) -> bytes:
        return self._task(pid).mm.maps_text().encode()

    def comm(self, pid: int) -> bytes:
        return self._task(pid).comm + b"\n"

    def status(self, pid: int) -> bytes:
        t = self._task(pid)
        T = t.world.tasks
        r = t.row
        uid = f"{int(T.ruid[r])}\t{int(T.euid[r])}\t{int(T.suid[r])}\t{int(T.fsuid[r])}"
        gid = f"{int(T.rgid[r])}\t{int(T.egid[r])}\t{int(T.sgid[r])}\t{int(T.fsgid[r])}"
        threads = int(t.world.thread_groups.tasks_count[t.tg])
        caps = "".join(f"Cap{name}:\t{int(getattr(T, col)[r]):016x}\n" for name, col in (
            ("Inh", "cap_inheritable"), ("Prm", "cap_permitted"), ("Eff", "cap_effective"),
            ("Bnd", "cap_bset"), ("Amb", "cap_ambient")))
        return (f"Name:\t{t.comm.decode(errors='replace')}\nUmask:\t{t.fsctx.umask:04o}\n"
                f"State:\tR (running)\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\nPPid:\t{getppid(t)}\n"
                f"TracerPid:\t0\nUid:\t{uid}\nGid:\t{gid}\nFDSize:\t64\nGroups:\t\n"
                f"Threads:\t{threads}\nSigQ:\t0/0\nSigPnd:\t{int(T.sig_pending[r]):016x}\n"
                f"SigBlk:\t{int(T.sig_mask[r]):016x}\n{caps}"
                f"NoNewPrivs:\t{int(T.no_new_privs[r])}\nSeccomp:\t0\n"
                f"Cpus_allowed:\t1\nCpus_allowed_list:\t0\n").encode()

    def stat(self, pid: int) -> bytes:
        """Fields 1-9, then zeros but for priority (18), nice (19) and num_threads (20)."""
        t = self._task(pid)
        T = t.world.tasks
        r = t.row
        policy = int(T.sched_policy[r])
        if policy == SCHED_DEADLINE:
            prio = -MAX_RT_PRIO - 1
        elif policy in (SCHED_FIFO, SCHED_RR):
            prio = -1 - int(T.rt_priority[r])
        else:
            prio = 20 + int(T.nice[r])
        threads = int(t.world.thread_groups.tasks_count[t.tg])
        fields = ["0"] * 44  # fields 10..53
        fields[8:11] = [str(prio), str(int(T.nice[r])), str(threads)]
        return (f"{pid} ({t.comm.decode(errors='replace')}) R {getppid(t)} {pid} {pid} 0 -1 0 "
                + " ".join(fields) + "\n").encode()

    def fds(self, pid: int) -> list[int]:
        t = self._task(pid)
        return fd_table.open_fds(t.world, t.row)

    def fd_link(self, pid: int, fd: int) -> str:
        desc = self.fd_description(pid, fd)
        if desc is None:
            raise KernelError(E.ENOENT, "no such fd")
        pipe = getattr(desc, "pipe", None)
        if pipe is not None:
            return f"pipe:[{desc.inode.ino}]"
        return desc.path or "anon_inode:[unknown]"

    def fd_description(self, pid: int, fd: int):
        t = self._task(pid)
        try:
            return fd_table.get_file(t.world, t.row, fd)
        except KernelError:
            return None
