"""pidfd: pidfd_open, pidfd_send_signal, pidfd_getfd, CLONE_PIDFD and waitid(P_PIDFD) (Linux:
kernel/pid.c, kernel/signal.c, fs/pidfs.c; gVisor: ``sys_pidfd.go``).

A pidfd names a process by its thread-group leader's task row and that row's generation, so a
reaped process (its row freed, perhaps reused) is seen as gone, never as the row's next tenant.
It is readable once the process has exited (every thread: a leader that exited before its
threads does not count), and readable and hung up once it was reaped (pidfd_poll).
"""
from __future__ import annotations

import struct

from ..abi import NSIG, O_EXCL, O_RDWR, PIDFD_NONBLOCK, ExitState
from .. import abi
from ..checkpoint_objects import state_class
from ..components import pidns
from ..errors import E, KernelError
from ..fs.anon import AnonInode
from ..fs.file import FileDescription
from ..systems import fd_table, task_identity, task_signals
from .context import s32, u32
from .registry import FULL, syscall

PIDFD_THREAD = O_EXCL  # include/uapi/linux/pidfd.h
PIDFD_SIGNAL_THREAD = 1 << 0
PIDFD_SIGNAL_THREAD_GROUP = 1 << 1
PIDFD_SIGNAL_PROCESS_GROUP = 1 << 2


@state_class
class PidFile(FileDescription):
    """A pidfd: the process (its leader's row and generation) it refers to, or with
    PIDFD_THREAD (``thread``) the thread: readable once that thread exited, where a process's
    pidfd waits for every thread (a leader's thread pidfd waits as a process's does)."""

    rw_ops = (False, False)

    seekable = False

    __state__ = {"row": "int", "gen": "int", "thread": "~bool", "pid": "~int", "tg": "~int",
                 "tg_gen": "~int"}
    thread = False
    pid = 0  # the pid (a number of the root PID namespace) the file names, as Linux's struct pid
    tg = tg_gen = -1  # and its thread group then

    def __init__(self, row: int, gen: int, flags: int, thread: bool = False, pid: int = 0,
                 tg: int = -1, tg_gen: int = -1):
        super().__init__(AnonInode("pidfd"), O_RDWR | (flags & PIDFD_NONBLOCK), "anon_inode:[pidfd]")
        self.row = row
        self.gen = gen
        if thread:
            self.thread = True
        if pid:
            self.pid, self.tg, self.tg_gen = pid, tg, tg_gen

    def task(self, world) -> int:
        """The row of the task that holds the pid, while it is not reaped, else -1. A pidfd names
        a pid, not a task: an exec from a non-leader thread swaps its pid with the leader's
        (exchange_tids), so the leader's pidfd then names the thread that exec'd, and that
        thread's own pidfd the old leader, released (Linux 6.15: no notification for the
        leader's PIDFD_THREAD pidfd, the exec'ing thread's reports its end)."""
        T = world.tasks
        r = self.row
        if self.pid:
            if not (0 <= r < T.n and T.alive[r] and int(T.gen[r]) == self.gen
                    and int(T.tids[r, 0]) == self.pid):
                r = pidns.task_by_tid(world, int(world.index.root_pidns), self.pid)
                G = world.thread_groups
                if r < 0 or int(T.tg[r]) != self.tg or not G.alive[self.tg] \
                        or int(G.gen[self.tg]) != self.tg_gen:
                    return -1
                self.row, self.gen = r, int(T.gen[r])
        if r < 0 or r >= T.n or not T.alive[r] or int(T.gen[r]) != self.gen \
                or int(T.exit_state[r]) == ExitState.DEAD:
            return -1
        return r

    def poll_task(self, world, task: int) -> int:
        r = self.task(world)
        if r < 0:
            return abi.POLLIN | abi.POLLRDNORM | abi.POLLHUP
        T = world.tasks
        if int(T.exit_state[r]) == ExitState.NONE:
            return 0
        if self.thread and int(world.thread_groups.leader[int(T.tg[r])]) != r:
            return abi.POLLIN | abi.POLLRDNORM  # a thread's pidfd: that thread exited
        if not world.thread_groups.active_tasks[int(T.tg[r])]:
            return abi.POLLIN | abi.POLLRDNORM
        return 0

    def poll(self) -> int:
        return 0

    def read(self, n: int) -> bytes:
        raise KernelError(E.EINVAL, "a pidfd is not readable")

    def fdinfo(self, world) -> str:
        r = self.task(world)
        pid = int(world.tasks.tids[r, 0]) if r >= 0 else -1
        return f"Pid:\t{pid}\nNSpid:\t{pid}\n"


def new_pidfd(t, row: int, flags: int = 0, thread: bool = False) -> int:
    """A pidfd (close-on-exec, as Linux makes them) in ``t``'s table for the process of ``row``
    (``thread``: for the thread ``row`` itself, PIDFD_THREAD)."""
    w = t.world
    T = w.tasks
    r = row if thread else int(w.thread_groups.leader[int(T.tg[row])])
    tg = int(T.tg[r])
    f = PidFile(r, int(T.gen[r]), flags, thread, int(T.tids[r, 0]), tg, int(w.thread_groups.gen[tg]))
    return fd_table.new_fd(w, t.row, f, cloexec=True)


def pidfd_target(t, fd: int) -> PidFile:
    """The PidFile behind ``fd`` (EBADF for anything else, as pidfd_get_pid)."""
    desc = fd_table.get_file(t.world, t.row, s32(fd))
    if not isinstance(desc, PidFile):
        raise KernelError(E.EBADF, "not a pidfd")
    return desc


def pid_of(t, desc: PidFile) -> int:
    """The process's pid in the caller's namespace (0: not visible there), -1 once reaped."""
    r = desc.task(t.world)
    if r < 0:
        return -1
    return pidns.tid_in(t.world, r, int(t.world.tasks.ns[t.row]))


@syscall("pidfd_open", FULL, args=("i", "x"))
def pidfd_open(t, pid, flags):
    """Implements pidfd_open(2)."""
    pid, flags = s32(pid), u32(flags)
    if flags & ~(PIDFD_NONBLOCK | PIDFD_THREAD) or pid <= 0:
        raise KernelError(E.EINVAL)
    w = t.world
    T = w.tasks
    row = pidns.task_by_tid(w, int(T.ns[t.row]), pid)
    if row < 0 or int(T.exit_state[row]) == ExitState.DEAD:
        raise KernelError(E.ESRCH, f"no process {pid}")
    if not flags & PIDFD_THREAD and int(w.thread_groups.leader[int(T.tg[row])]) != row:
        raise KernelError(E.ENOENT, "not a thread-group leader")
    return new_pidfd(t, row, flags & PIDFD_NONBLOCK, bool(flags & PIDFD_THREAD))


_SIGINFO_HEAD = struct.Struct("<iii4xiIq")  # si_signo, si_errno, si_code, pid, uid, sigval


@syscall("pidfd_send_signal", FULL, "the process (default) or its group; PIDFD_SIGNAL_THREAD "
         "signals the leader thread", args=("fd", "signo", "p", "x"))
def pidfd_send_signal(t, pidfd, sig, info, flags):
    """Implements pidfd_send_signal(2)."""
    sig, flags = s32(sig), u32(flags)
    scope = PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP
    if flags & ~scope or bin(flags).count("1") > 1:
        raise KernelError(E.EINVAL)
    desc = pidfd_target(t, pidfd)
    if not 0 <= sig <= NSIG:
        raise KernelError(E.EINVAL, "bad signal")
    w = t.world
    r = desc.task(w)
    if r < 0:
        raise KernelError(E.ESRCH, "the process was reaped")
    pid = pidns.tid_in(w, r, int(w.tasks.ns[t.row]))
    if pid <= 0:
        raise KernelError(E.ESRCH, "not visible in the caller's namespace")
    if info:
        signo, _errno, code, _pid, _uid, value = _SIGINFO_HEAD.unpack(t.mm.copy_in(info, _SIGINFO_HEAD.size))
        if signo != sig:
            raise KernelError(E.EINVAL, "si_signo differs")
        if flags & PIDFD_SIGNAL_PROCESS_GROUP:
            raise KernelError(E.EINVAL, "siginfo for a process group")
        task_signals.sigqueueinfo(w, t.row, pid, sig, code, value)
        return 0
    if flags & PIDFD_SIGNAL_PROCESS_GROUP:
        task_signals.kill_pgrp(w, t.row, int(w.thread_groups.pgrp[int(w.tasks.tg[r])]), sig)
        return 0
    if flags & PIDFD_SIGNAL_THREAD or desc.thread and not flags:
        # a thread's pidfd signals that thread unless told otherwise
        tgid = pidns.tid_in(w, int(w.thread_groups.leader[int(w.tasks.tg[r])]), int(w.tasks.ns[t.row]))
        task_signals.tgkill(w, t.row, tgid, pid, sig)
        return 0
    task_signals.kill(w, t.row, pid, sig)
    return 0


@syscall("pidfd_getfd", FULL, args=("fd", "i", "x"))
def pidfd_getfd(t, pidfd, targetfd, flags):
    """Implements pidfd_getfd(2): a duplicate (close-on-exec) of another process's fd."""
    if u32(flags):
        raise KernelError(E.EINVAL)
    desc = pidfd_target(t, pidfd)
    w = t.world
    r = desc.task(w)
    if r < 0:
        raise KernelError(E.ESRCH, "the process was reaped")
    if not task_identity.may_access(w, t.row, r):  # PTRACE_MODE_ATTACH_REALCREDS
        raise KernelError(E.EPERM, "may not access that process")
    if int(w.tasks.exit_state[r]) != ExitState.NONE or int(w.tasks.fdtable[r]) < 0:
        raise KernelError(E.ESRCH, "the process has exited")
    f = fd_table.get_file(w, r, s32(targetfd))
    return fd_table.new_fd(w, t.row, f, cloexec=True)


__all__ = ["PidFile", "new_pidfd", "pidfd_target", "pid_of"]
