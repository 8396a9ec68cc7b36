"""The Kernel: a World with every standard component and system, and a handle-based API.

This is the front door for users and tests::

    k = Kernel()
    init = k.init_task                      # tid 1 of the root PID namespace
    child = k.clone(init, flags=SIGCHLD)    # fork
    k.exit_group(child, 3)
    k.tick()                                # systems run: the child becomes a zombie
    res = k.wait4(init, -1, 0)              # WaitResult(pid=2, status=0x300, ...)

Every method takes and returns *handles* (see world.py), validated on the way in: a stale or
foreign handle raises StaleHandleError / ForeignHandleError naming it. Kernel-level failures raise
:class:`ecs_kernel.errors.KernelError` with the errno Linux gives.
"""
from __future__ import annotations

from .components import fd_table, pidns, resources, rlimits, session, signals, task, thread_group, uts
from .components import futex as futex_components
from .components import cpu_clocks as cpu_clock_components, timers as timer_components
from .errors import E, KernelError
from .schedule import Schedule
from .systems import futex, sessions, task_clone, task_exit, task_signals, task_wait
from .systems import cpu_clocks, timers
from .systems.task_wait import BLOCKED, WaitOptions, WaitResult
from .world import Settings, World

DEFAULT_PIDNS_LEVELS = 8


def standard_components(levels: int = DEFAULT_PIDNS_LEVELS):
    comps = [*task.COMPONENTS, pidns.task_ids_component(levels), *thread_group.COMPONENTS,
             *pidns.COMPONENTS, *session.COMPONENTS, session.ids_component("process_groups", levels),
             session.ids_component("sessions", levels), *rlimits.COMPONENTS, *uts.COMPONENTS,
             *resources.COMPONENTS, *signals.COMPONENTS, *fd_table.COMPONENTS,
             *futex_components.COMPONENTS, *cpu_clock_components.COMPONENTS,
             *timer_components.COMPONENTS]
    return comps


def standard_schedule() -> Schedule:
    return Schedule([task_exit.interrupt_system, task_signals.signal_system, task_exit.exit_system,
                     task_wait.wait_system, *futex.SYSTEMS, *cpu_clocks.SYSTEMS, *timers.SYSTEMS])


def new_world(settings: Settings | None = None, pidns_levels: int = DEFAULT_PIDNS_LEVELS) -> World:
    """A World with the standard components, schedule and a root PID namespace (no tasks)."""
    if not 1 <= pidns_levels <= pidns.MAX_PID_NS_LEVEL + 1:
        raise ValueError(f"pidns_levels must be in 1..{pidns.MAX_PID_NS_LEVEL + 1}")
    world = World(settings)
    for comp in standard_components(pidns_levels):
        world.add_component(comp)
    world.schedule = standard_schedule()
    world.index["pidmaps"] = {}
    world.index["nproc"] = {}
    world.index["futex_keys"] = {}
    world.index["futex_interrupt"] = futex.futex_interrupt  # called by signal delivery
    world.index["root_pidns"] = pidns.new_namespace(world, -1)
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
        row = int(w.pid_namespaces.init_task[w.index["root_pidns"]])
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
        return self.clone(h, signals.SIGCHLD)

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
        ns = w.index["root_pidns"] if ns_of is None else int(w.tasks.ns[self.task(ns_of)])
        row = pidns.task_by_tid(w, ns, tid)
        if row < 0:
            raise KernelError(E.ESRCH, f"no task {tid}")
        return self.handle(row)

    # -- checkpoint ------------------------------------------------------------------------------
    def checkpoint(self) -> bytes:
        return self.world.checkpoint()

    @classmethod
    def restore(cls, blob: bytes) -> "Kernel":
        return cls(world=World.restore(blob))


__all__ = ["Kernel", "new_world", "WaitOptions", "WaitResult", "BLOCKED", "Settings"]
