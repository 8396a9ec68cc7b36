"""A plain-Python reference model of the process lifecycle, for differential tests.

It knows nothing of rows, columns or systems: tasks and processes are objects, lists keep Linux's
orders (threads and children in the order they were added), and every rule is written from the
man pages and kernel/exit.c, not from ecs-kernel's code. State machines drive it beside a Kernel
and compare the two after every step. One root PID namespace; tids are allocated sequentially
(no wrap), as both implementations do far from pid_max.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..abi import SIGKILL, WALL, WCLONE, WNOHANG, WNOTHREAD, WNOWAIT
from ..errors import E, KernelError


@dataclass
class RTask:
    tid: int
    proc: "RProc"
    parent: "RTask | None"
    state: str = "run"  # run | exiting | zombie | dead
    exit_code: int = 0
    children: list["RProc"] = field(default_factory=list)  # processes whose leader is our child
    wait: tuple | None = None  # (pid, options) of a blocked wait4
    result: tuple | None = None  # (ret, status) of a finished blocked wait


@dataclass
class RProc:
    tgid: int
    threads: list[RTask] = field(default_factory=list)  # not yet released, creation order
    pgid: int = 0
    sid: int = 0
    exiting: bool = False
    group_code: int = 0
    subreaper: bool = False
    has_subreaper: bool = False
    events: int = 0  # child events (a child died): wakes blocked waiters
    leader: "RTask | None" = None


class RefKernel:
    def __init__(self):
        self.next_tid = 1
        self.tasks: dict[int, RTask] = {}
        init = self._new_task(None, None)
        init.proc.pgid = init.proc.sid = init.tid
        self.init = init

    # -- creation ----------------------------------------------------------------------------------
    def _new_task(self, proc: RProc | None, parent: RTask | None) -> RTask:
        tid = self.next_tid
        self.next_tid += 1
        if proc is None:
            proc = RProc(tgid=tid)
        t = RTask(tid, proc, parent)
        if not proc.threads:
            proc.leader = t
        proc.threads.append(t)
        self.tasks[tid] = t
        return t

    def fork(self, tid: int) -> int:
        p = self.tasks[tid]
        c = self._new_task(None, p)
        c.proc.pgid, c.proc.sid = p.proc.pgid, p.proc.sid
        c.proc.has_subreaper = p.proc.has_subreaper or p.proc.subreaper
        p.children.append(c.proc)
        return c.tid

    def clone_thread(self, tid: int) -> int:
        p = self.tasks[tid]
        t = self._new_task(p.proc, p.proc.leader.parent)
        return t.tid

    # -- exit --------------------------------------------------------------------------------------
    def exit(self, tid: int, code: int) -> None:
        t = self.tasks[tid]
        t.exit_code = t.proc.group_code if t.proc.exiting else (code & 0xFF) << 8
        t.state = "exiting"
        t.wait = None

    def exit_group(self, tid: int, code: int) -> None:
        t = self.tasks[tid]
        self._group_kill(t.proc, (code & 0xFF) << 8)
        t.exit_code = t.proc.group_code
        t.state = "exiting"
        t.wait = None

    def kill(self, tgid: int) -> None:
        self._group_kill(self.tasks[tgid].proc, SIGKILL)

    def _group_kill(self, proc: RProc, code: int) -> None:
        if not proc.exiting:
            proc.exiting = True
            proc.group_code = code
        for th in proc.threads:
            if th.state == "run":
                th.state = "exiting"
                th.exit_code = proc.group_code
                th.wait = None

    def settle(self) -> None:
        """Run every pending exit to completion, then retry woken waiters (one tick's worth)."""
        while True:
            exiting = sorted((t for t in self.tasks.values() if t.state == "exiting"),
                             key=lambda t: t.tid)
            if not exiting:
                break
            # All are initiated before any is processed (interrupt before exit phase).
            for t in exiting:
                self._exit_notify(t)
        for t in sorted(self.tasks.values(), key=lambda t: t.tid):
            if t.wait is not None and t.state == "run" and t.proc.events != t.wait[2]:
                pid, options, _ = t.wait
                try:
                    r = self.wait4(t.tid, pid, options | WNOHANG, _retry=True)
                except KernelError as e:
                    t.wait, t.result = None, (-e.errno, 0)
                    continue
                if r is not None:
                    t.wait, t.result = None, r
                else:
                    t.wait = (pid, options, t.proc.events)

    def _alive_thread(self, proc: RProc) -> RTask | None:
        for th in proc.threads:
            if th.state == "run":
                return th
        return None

    def _reaper(self, t: RTask) -> RTask | None:
        r = self._alive_thread(t.proc)
        if r is not None:
            return r
        if t.proc.has_subreaper:
            p = t.proc.leader.parent
            while p is not None and p is not self.init:
                if p.proc.subreaper:
                    r = self._alive_thread(p.proc)
                    if r is not None:
                        return r
                p = p.proc.leader.parent
        return self.init

    def _exit_notify(self, t: RTask) -> None:
        proc = t.proc
        if t.children:
            reaper = self._reaper(t)
            for c in list(t.children):
                t.children.remove(c)
                for th in c.threads:
                    th.parent = reaper
                reaper.children.append(c)
                if c.leader.state == "zombie" and len(c.threads) == 1:
                    self._notify(c.leader)
        t.state = "zombie"
        if t is proc.leader:
            if len(proc.threads) == 1:
                self._notify(t)
        else:
            self._release(t)

    def _notify(self, leader: RTask) -> None:
        leader.parent.proc.events += 1

    def _release(self, t: RTask) -> None:
        t.state = "dead"
        proc = t.proc
        proc.threads.remove(t)
        del self.tasks[t.tid]
        if t is proc.leader:
            t.parent.children.remove(proc)
        elif len(proc.threads) == 1 and proc.leader.state == "zombie":
            self._notify(proc.leader)

    # -- wait --------------------------------------------------------------------------------------
    def wait4(self, tid: int, pid: int, options: int, _retry: bool = False):
        """Returns (pid, status), None for WNOHANG-and-nothing, "BLOCKED", or raises ECHILD."""
        t = self.tasks[tid]
        threads = [t] if options & WNOTHREAD else list(t.proc.threads)
        if pid > 0:
            target = self.tasks.get(pid)
            if target is None:
                raise KernelError(E.ECHILD)
        pgid = t.proc.pgid if pid == 0 else -pid if pid < -1 else None
        if pgid is not None and not any(p.pgid == pgid for p in self._procs()):
            raise KernelError(E.ECHILD)
        notask = True
        for th in threads:
            for c in list(th.children):
                lead = c.leader
                if pid > 0 and lead.tid != pid:
                    continue
                if pgid is not None and c.pgid != pgid:
                    continue
                if options & WCLONE and not options & WALL:
                    continue  # every child in this model is a SIGCHLD child
                if lead.state == "zombie" and len(c.threads) == 1:
                    status = c.group_code if c.exiting else lead.exit_code
                    if not options & WNOWAIT:
                        self._release(lead)
                    return lead.tid, status
                notask = False
        if notask:
            raise KernelError(E.ECHILD)
        if options & WNOHANG:
            return None
        t.wait = (pid, options, t.proc.events)
        return "BLOCKED"

    def _procs(self):
        seen = {}
        for t in self.tasks.values():
            seen[id(t.proc)] = t.proc
        return seen.values()

    # -- sessions ----------------------------------------------------------------------------------
    def setsid(self, tid: int) -> int:
        proc = self.tasks[tid].proc
        if any(p.pgid == proc.tgid for p in self._procs()):
            raise KernelError(E.EPERM)
        proc.sid = proc.pgid = proc.tgid
        return proc.tgid

    def setpgid(self, tid: int, pid: int, pgid: int) -> None:
        caller = self.tasks[tid]
        if pid == 0:
            pid = caller.proc.tgid
        if pgid == 0:
            pgid = pid
        if pgid < 0:
            raise KernelError(E.EINVAL)
        p = self.tasks.get(pid)
        if p is None:
            raise KernelError(E.ESRCH)
        if p.proc.leader is not p:
            raise KernelError(E.EINVAL)
        if p.parent is not None and p.parent.proc is caller.proc:
            if p.proc.sid != caller.proc.sid:
                raise KernelError(E.EPERM)
        elif p.proc is not caller.proc:
            raise KernelError(E.ESRCH)
        if p.proc.sid == p.proc.tgid:
            raise KernelError(E.EPERM)
        if pgid != pid:
            if not any(q.pgid == pgid and q.sid == caller.proc.sid for q in self._procs()):
                raise KernelError(E.EPERM)
        p.proc.pgid = pgid

    def getpgid(self, tid: int, pid: int) -> int:
        p = self.tasks[tid] if pid == 0 else self.tasks.get(pid)
        if p is None:
            raise KernelError(E.ESRCH)
        return p.proc.pgid

    def getsid(self, tid: int, pid: int) -> int:
        p = self.tasks[tid] if pid == 0 else self.tasks.get(pid)
        if p is None:
            raise KernelError(E.ESRCH)
        return p.proc.sid
