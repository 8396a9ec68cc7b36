"""The Kernel: a World with every standard component and system, and a handle-based API.

This is the front door for users and tests::

    k = Kernel()
    init = k.init_task                      # tid 1 of the root PID namespace
    child = k.clone(init, flags=SIGCHLD)    # fork
    k.exit_group(child, 3)
    k.tick()                                # systems run: the child becomes a zombie
    res = k.wait4(init, -1, 0)              # WaitResult(..., status=0x300, code=CLD_EXITED, ...)

Every method takes and returns *handles* (see world.py), validated on the way in: a stale or
foreign handle raises StaleHandleError / ForeignHandleError naming it. Kernel-level failures raise
:class:`ecs_kernel.errors.KernelError` with the errno Linux gives.
"""
from __future__ import annotations

from .abi import SIGCHLD
from .components import (fd_table, io_wait as io_wait_components, nsproxy, pidns, ptrace,
                         resources, rlimits, seccomp, session, sigactions, signals, task,
                         thread_group, user_namespace as user_namespace_components, uts)
from .components import futex as futex_components
from .components import cpu_clocks as cpu_clock_components, timers as timer_components
from .errors import E, KernelError
from .schedule import Schedule
from .systems import futex, sessions, task_clone, task_exit, task_signals, task_wait
from .systems import cpu_clocks, fasync, io_wait, timers, user_namespace
from .systems.task_block import BLOCKED
from .systems.task_wait import WaitOptions, WaitResult
from .world import Settings, World

DEFAULT_PIDNS_LEVELS = 8


def standard_components(levels: int = DEFAULT_PIDNS_LEVELS):
    comps = [*task.COMPONENTS, pidns.task_ids_component(levels), *thread_group.COMPONENTS,
             *pidns.COMPONENTS, *session.COMPONENTS, session.ids_component("process_groups", levels),
             session.ids_component("sessions", levels), *rlimits.COMPONENTS, *uts.COMPONENTS,
             *resources.COMPONENTS, *signals.COMPONENTS, *sigactions.COMPONENTS,
             *fd_table.COMPONENTS, *futex_components.COMPONENTS, *cpu_clock_components.COMPONENTS,
             *timer_components.COMPONENTS, *io_wait_components.COMPONENTS, *seccomp.COMPONENTS,
             *ptrace.COMPONENTS, *nsproxy.COMPONENTS, *user_namespace_components.COMPONENTS]
    return comps


def standard_schedule() -> Schedule:
    return Schedule([task_exit.interrupt_system, task_signals.signal_system, task_exit.exit_system,
                     task_wait.wait_system, *futex.SYSTEMS, *cpu_clocks.SYSTEMS, *timers.SYSTEMS,
                     *io_wait.SYSTEMS, *fasync.SYSTEMS])


def new_world(settings: Settings | None = None, pidns_levels: int = DEFAULT_PIDNS_LEVELS) -> World:
    """A World with the standard components, schedule and a root PID namespace (no tasks)."""
    if not 1 <= pidns_levels <= pidns.MAX_PID_NS_LEVEL + 1:
        raise ValueError(f"pidns_levels must be in 1..{pidns.MAX_PID_NS_LEVEL + 1}")
    world = World(settings)
    for comp in standard_components(pidns_levels):
        world.add_component(comp)
    world.schedule = standard_schedule()
    world.index.root_pidns = pidns.new_namespace(world, -1)
    user_namespace.init_namespace(world)
    return world


class Kernel:
    """A World plus the kernel calls, in handles. ``Kernel(world=w)`` wraps an existing World."""

    def __init__(self, settings: Settings | None = None, *, world: World | None = None,
                 uid: int = 0, gid: int = 0, pidns_levels: int = DEFAULT_PIDNS_LEVELS):
        if world is None:
            world = new_world(settings, pidns_levels)
            task_clone.create_init(world, creds=task_clone.Creds(uid, gid))
            world.flush()
        self.world = world

    # -- handles ------------------------------------------------------------------------------------
    def task(self, handle: int) -> int:
        """The row of a task handle (raises StaleHandleError / ForeignHandleError)."""
        return self.world.tasks.row(handle)

    def handle(self, row: int) -> int:
        return self.world.tasks.handle(row)

    @property
    def init_task(self) -> int:
        w = self.world
        row = int(w.pid_namespaces.init_task[w.index.root_pidns])
        if row < 0:
            raise KernelError(E.ESRCH, "the root namespace has no init")
        return w.tasks.handle(row)

    def _done(self, value):
        if not self.world.in_tick:
            self.world.flush()
        return value

    # -- lifecycle -------------------------------------------------------------------------------
    def clone(self, h: int, flags: int, *, exit_signal: int | None = None, child_tid_addr: int = 0) -> int:
        row = task_clone.clone(self.world, self.task(h), flags, exit_signal=exit_signal,
                               child_tid_addr=child_tid_addr)
        return self._done(self.handle(row))

    def fork(self, h: int) -> int:
        return self.clone(h, SIGCHLD)

    def exit(self, h: int, code: int) -> None:
        task_exit.exit_task(self.world, self.task(h), code)

    def exit_group(self, h: int, code: int) -> None:
        task_exit.exit_group(self.world, self.task(h), code)

    def wait(self, h: int, opts: WaitOptions):
        """Task.Wait: a WaitResult (child ids in the waiter's namespace), None or BLOCKED."""
        res = task_wait.wait(self.world, self.task(h), opts)
        return self._done(res)

    def wait4(self, h: int, pid: int, options: int):
        return self.wait(h, WaitOptions.for_wait4(pid, options))

    def waitid(self, h: int, idtype: int, id: int, options: int):
        return self.wait(h, WaitOptions.for_waitid(idtype, id, options))

    def wait_result(self, h: int) -> tuple[int, int, int, int]:
        """A blocked wait's outcome once the task left ``blocked``: (ret, status, si_code, uid)."""
        t = self.task(h)
        T = self.world.tasks
        return int(T.ret[t]), int(T.wait_status[t]), int(T.wait_code[t]), int(T.wait_uid[t])

    def tick(self, n: int = 1) -> None:
        self.world.tick(n)

    # -- ids, sessions -----------------------------------------------------------------------------
    def getpid(self, h: int) -> int:
        w = self.world
        t = self.task(h)
        leader = int(w.thread_groups.leader[int(w.tasks.tg[t])])
        return pidns.tid_in(w, leader, int(w.tasks.ns[t]))

    def gettid(self, h: int) -> int:
        w = self.world
        t = self.task(h)
        return pidns.tid_in(w, t, int(w.tasks.ns[t]))

    def getppid(self, h: int) -> int:
        w = self.world
        t = self.task(h)
        leader = int(w.thread_groups.leader[int(w.tasks.tg[t])])
        p = int(w.tasks.parent[leader])
        if p < 0:
            return 0
        pl = int(w.thread_groups.leader[int(w.tasks.tg[p])])
        return pidns.tid_in(w, pl, int(w.tasks.ns[t]))

    def setsid(self, h: int) -> int:
        return self._done(sessions.setsid(self.world, self.task(h)))

    def setpgid(self, h: int, pid: int, pgid: int) -> None:
        return self._done(sessions.setpgid(self.world, self.task(h), pid, pgid))

    def getpgid(self, h: int, pid: int = 0) -> int:
        return sessions.getpgid(self.world, self.task(h), pid)

    def getsid(self, h: int, pid: int = 0) -> int:
        return sessions.getsid(self.world, self.task(h), pid)

    def set_child_subreaper(self, h: int, on: bool = True) -> None:
        w = self.world
        w.thread_groups.child_subreaper[int(w.tasks.tg[self.task(h)])] = on

    def find_task(self, tid: int, ns_of: int | None = None) -> int:
        """The handle of the task with ``tid`` in the namespace of ``ns_of`` (default: root)."""
        w = self.world
        ns = w.index.root_pidns if ns_of is None else int(w.tasks.ns[self.task(ns_of)])
        row = pidns.task_by_tid(w, ns, tid)
        if row < 0:
            raise KernelError(E.ESRCH, f"no task {tid}")
        return self.handle(row)

    # -- signals (systems/task_signals.py; delivery happens in the SIGNALS phase of a tick) --------
    def kill(self, h: int, pid: int, signo: int) -> None:
        """kill(2) from task ``h``: pid > 0 a process, 0 its group, -1 all it may signal, < -1 a
        process group. Signal 0 checks existence and permission only."""
        self._done(task_signals.kill(self.world, self.task(h), pid, signo))

    def tgkill(self, h: int, tgid: int, tid: int, signo: int) -> None:
        self._done(task_signals.tgkill(self.world, self.task(h), tgid, tid, signo))

    def tkill(self, h: int, tid: int, signo: int) -> None:
        self._done(task_signals.tgkill(self.world, self.task(h), -1, tid, signo))

    def sigqueueinfo(self, h: int, pid: int, signo: int, code: int, value: int) -> None:
        self._done(task_signals.sigqueueinfo(self.world, self.task(h), pid, signo, code, value))

    def sigaction(self, h: int, signo: int, new: tuple[int, int, int] | None = None,
                  restorer: int = 0) -> tuple[int, int, int]:
        """rt_sigaction(2): ``new`` is (handler, flags, mask); returns the old triple. The handler
        is SIG_DFL (0), SIG_IGN (1) or any other value standing for a caught handler."""
        return self._done(task_signals.sigaction(self.world, self.task(h), signo, new, restorer))

    def sigprocmask(self, h: int, how: int, sigset: int | None = None) -> int:
        """rt_sigprocmask(2) with SIG_BLOCK (0), SIG_UNBLOCK (1), SIG_SETMASK (2); returns the
        old mask."""
        return task_signals.sigprocmask(self.world, self.task(h), how, sigset)

    def sigpending(self, h: int) -> int:
        return task_signals.sigpending(self.world, self.task(h))

    def sigsuspend(self, h: int, mask: int):
        """rt_sigsuspend(2): returns BLOCKED; the task leaves ``blocked`` with ret -EINTR once a
        handler runs (see :meth:`syscall_result`)."""
        return task_signals.sigsuspend(self.world, self.task(h), mask)

    def sigtimedwait(self, h: int, sigset: int, timeout_ns: int | None = None):
        """rt_sigtimedwait(2): a signal number now, or BLOCKED (then :meth:`syscall_result`
        gives the signal, -EAGAIN at the timeout, or -EINTR)."""
        return task_signals.sigtimedwait(self.world, self.task(h), sigset, timeout_ns)

    def sigreturn(self, h: int) -> int:
        """rt_sigreturn(2): leave the innermost handler; returns its signal number."""
        return task_signals.sigreturn(self.world, self.task(h))

    def syscall_result(self, h: int) -> int:
        """``ret`` of a task's last blocking call once it left ``blocked`` (-errno on failure)."""
        return int(self.world.tasks.ret[self.task(h)])

    # -- futexes, timers, CPU clocks -------------------------------------------------------------
    def futex(self, h: int, uaddr: int, op: int, val: int, timeout=None, uaddr2: int = 0,
              val3: int = 0, *, val2: int = 0):
        """futex(2) (systems/futex.py): a result or BLOCKED. Synthetic tasks need memory for
        their words: ``futex.install_sim_memory(world, row)``."""
        return self._done(futex.futex(self.world, self.task(h), uaddr, op, val, timeout, uaddr2,
                                      val3, val2=val2))

    def setitimer(self, h: int, which: int, new):
        """setitimer(2): ``new`` is a timers.ItimerVal; returns the old one."""
        return timers.setitimer(self.world, self.task(h), which, new)

    def getitimer(self, h: int, which: int):
        return timers.getitimer(self.world, self.task(h), which)

    def alarm(self, h: int, seconds: int) -> int:
        return timers.alarm(self.world, self.task(h), seconds)

    def timer_create(self, h: int, clockid: int, sev=None) -> int:
        return timers.timer_create(self.world, self.task(h), clockid, sev)

    def timer_settime(self, h: int, timer_id: int, flags: int, new):
        return timers.timer_settime(self.world, self.task(h), timer_id, flags, new)

    def timer_gettime(self, h: int, timer_id: int):
        return timers.timer_gettime(self.world, self.task(h), timer_id)

    def timer_getoverrun(self, h: int, timer_id: int) -> int:
        return timers.timer_getoverrun(self.world, self.task(h), timer_id)

    def timer_delete(self, h: int, timer_id: int) -> None:
        timers.timer_delete(self.world, self.task(h), timer_id)

    def nanosleep(self, h: int, req: tuple[int, int]):
        """nanosleep(2) on the kernel clock: BLOCKED until ``req`` (sec, nsec) of ticks pass."""
        return timers.nanosleep(self.world, self.task(h), req)

    def clock_gettime(self, h: int, clockid: int) -> int:
        """clock_gettime(2) in ns, CPU clocks of any task included (clockid from a pid)."""
        return cpu_clocks.clock_gettime(self.world, self.task(h), clockid)

    def getrusage(self, h: int, who: int):
        return cpu_clocks.getrusage(self.world, self.task(h), who)

    def times(self, h: int):
        return cpu_clocks.times(self.world, self.task(h))

    # -- checkpoint ------------------------------------------------------------------------------
    def checkpoint(self) -> bytes:
        return self.world.checkpoint()

    @classmethod
    def restore(cls, blob: bytes) -> "Kernel":
        return cls(world=World.restore(blob))


__all__ = ["Kernel", "new_world", "WaitOptions", "WaitResult", "BLOCKED", "Settings"]
