"""A hypothesis state machine for clone / exit / wait / setpgid / setsid, beside the reference model.

Use it as is (``TestLifecycle = LifecycleMachine.TestCase``) or subclass it to add rules and
invariants of your own; ``self.k`` is the Kernel and ``self.ref`` the reference model. After every
step it checks that every task is in exactly one thread group and session (``check_sanity``), that
the two agree on every task's state, parent, process group and session, that no zombie is lost or
reaped twice, that every parent is alive (or is init), and, with tasks changing their uids,
that the per-user process counts follow the real uids.
"""
from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ..abi import (CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, ExitState, P_ALL, P_PID, RunState,
                   WEXITED, WNOHANG, WNOTHREAD, WNOWAIT)
from ..components import pidns
from ..errors import E, KernelError
from ..kernel import Kernel
from ..schedule import check_sanity
from ..systems import sessions, task_identity
from ..systems.task_block import BLOCKED
from ..systems.task_signals import send_group_signal
from ..world import Settings
from .reference import RefKernel

THREAD_FLAGS = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM
pick = st.integers(min_value=0, max_value=10**6)


def settle(k: Kernel, max_ticks: int = 16) -> None:
    """Tick until no task is mid-exit and no SIGKILL waits to be noticed."""
    w = k.world
    for _ in range(max_ticks):
        k.tick()
        T = w.tasks
        n = T.n
        rs = T.run_state[:n]
        busy = ((rs == RunState.runExit) | (rs == RunState.runExitNotify)) & T.alive[:n]
        pend = (T.sig_pending[:n] != 0) & (T.exit_state[:n] == ExitState.NONE) & T.alive[:n]
        if not busy.any() and not pend.any():
            return
    raise AssertionError(f"the World did not settle in {max_ticks} ticks")


class LifecycleMachine(RuleBasedStateMachine):
    max_tasks = 40

    def __init__(self):
        super().__init__()
        self.k = Kernel(Settings(sanitize=True))
        self.ref = RefKernel()

    # -- helpers -----------------------------------------------------------------------------------
    def _runnable(self):
        return sorted(t.tid for t in self.ref.tasks.values() if t.state == "run" and t.wait is None)

    def _choose(self, i: int) -> int:
        r = self._runnable()
        return r[i % len(r)]

    def _h(self, tid: int) -> int:
        return self.k.find_task(tid)

    def _same(self, impl, ref):
        """Run both; they must agree on the value or on the errno."""
        try:
            a = impl()
        except KernelError as e:
            a = ("errno", e.errno)
        try:
            b = ref()
        except KernelError as e:
            b = ("errno", e.errno)
        assert a == b, f"ecs-kernel {a!r} != reference {b!r}"
        return a

    def _settle(self):
        settle(self.k)
        self.ref.settle()
        self._check_results()

    # -- rules ---------------------------------------------------------------------------------------
    @precondition(lambda self: len(self.ref.tasks) < self.max_tasks)
    @rule(i=pick)
    def fork(self, i):
        tid = self._choose(i)
        self._same(lambda: self.k.gettid(self.k.fork(self._h(tid))), lambda: self.ref.fork(tid))

    @precondition(lambda self: len(self.ref.tasks) < self.max_tasks)
    @rule(i=pick)
    def clone_thread(self, i):
        tid = self._choose(i)
        self._same(lambda: self.k.gettid(self.k.clone(self._h(tid), THREAD_FLAGS)),
                   lambda: self.ref.clone_thread(tid))

    @precondition(lambda self: len(self._runnable()) > 1)
    @rule(i=pick, code=st.integers(0, 300))
    def exit_thread(self, i, code):
        tid = self._choose(i)
        if tid == 1:
            return  # init stays: its death ends the namespace (tested on its own)
        self.k.exit(self._h(tid), code)
        self.ref.exit(tid, code)
        self._settle()

    @precondition(lambda self: len(self._runnable()) > 1)
    @rule(i=pick, code=st.integers(0, 300))
    def exit_group(self, i, code):
        tid = self._choose(i)
        if self.ref.tasks[tid].proc is self.ref.init.proc:
            return
        self.k.exit_group(self._h(tid), code)
        self.ref.exit_group(tid, code)
        self._settle()

    @rule(i=pick)
    def sigkill_process(self, i):
        tid = self._choose(i)
        proc = self.ref.tasks[tid].proc
        if proc is self.ref.init.proc:
            return
        w = self.k.world
        send_group_signal(w, int(w.tasks.tg[self.k.task(self._h(tid))]), 9)
        self.ref.kill(tid)
        self._settle()

    @rule(i=pick, which=st.sampled_from(["any", "child", "pgrp0", "pgrp", "bogus"]),
          nohang=st.booleans(), nothread=st.booleans(), j=pick)
    def wait4(self, i, which, nohang, nothread, j):
        tid = self._choose(i)
        me = self.ref.tasks[tid]
        if not nohang and any(t.wait is not None for t in me.proc.threads):
            nohang = True  # one blocked waiter per process keeps the outcome order-free
        tids = sorted(self.ref.tasks)
        pid = {"any": -1, "child": tids[j % len(tids)], "pgrp0": 0,
               "pgrp": -self.ref.tasks[tids[j % len(tids)]].proc.pgid, "bogus": 99999}[which]
        if pid == -1 and which == "pgrp":
            pid = -1
        opts = (WNOHANG if nohang else 0) | (WNOTHREAD if nothread else 0)
        r = self._same(lambda: self._impl_wait(self.k.wait4(self._h(tid), pid, opts)),
                       lambda: self.ref.wait4(tid, pid, opts))
        if r == "BLOCKED":
            self._settle()

    @rule(i=pick, j=pick, nowait=st.booleans())
    def waitid_nohang(self, i, j, nowait):
        tid = self._choose(i)
        tids = sorted(self.ref.tasks)
        target = tids[j % len(tids)] if j % 3 else -1
        opts = WEXITED | WNOHANG | (WNOWAIT if nowait else 0)
        idtype, ident = (P_ALL, 0) if target < 0 else (P_PID, target)
        self._same(lambda: self._impl_wait(self.k.waitid(self._h(tid), idtype, ident, opts)),
                   lambda: self.ref.wait4(tid, target, opts))

    @staticmethod
    def _impl_wait(r):
        if r is None or r is BLOCKED:
            return "BLOCKED" if r is BLOCKED else None
        return r.pid, r.status

    @rule(i=pick)
    def setsid(self, i):
        tid = self._choose(i)
        self._same(lambda: self.k.setsid(self._h(tid)), lambda: self.ref.setsid(tid))

    @rule(i=pick, j=pick, k=pick, zero_pid=st.booleans(), zero_pgid=st.booleans())
    def setpgid(self, i, j, k, zero_pid, zero_pgid):
        tid = self._choose(i)
        tids = sorted(self.ref.tasks)
        pid = 0 if zero_pid else tids[j % len(tids)]
        pgid = 0 if zero_pgid else self.ref.tasks[tids[k % len(tids)]].proc.pgid
        self._same(lambda: self.k.setpgid(self._h(tid), pid, pgid),
                   lambda: self.ref.setpgid(tid, pid, pgid))

    @rule(i=pick)
    def set_subreaper(self, i):
        tid = self._choose(i)
        self.k.set_child_subreaper(self._h(tid))
        self.ref.tasks[tid].proc.subreaper = True

    @rule(i=pick, uid=st.sampled_from([0, 1000, 1001]),
          how=st.sampled_from(["setuid", "setreuid", "setresuid"]))
    def change_uid(self, i, uid, how):
        """A credential change the reference does not model: the sanitizer (check_sanity, every
        step) holds the per-user process counts to the live tasks' real uids through the
        exits and reaps that follow."""
        w = self.k.world
        row = self.k.task(self._h(self._choose(i)))
        try:
            if how == "setuid":
                task_identity.setuid(w, row, uid)
            elif how == "setreuid":
                task_identity.setreuid(w, row, uid, task_identity.NO_ID)
            else:
                task_identity.setresuid(w, row, uid, uid, task_identity.NO_ID)
        except KernelError as e:
            assert e.errno == E.EPERM, e  # a task that left uid 0 has no CAP_SETUID

    # -- checks ------------------------------------------------------------------------------------
    def _check_results(self):
        w = self.k.world
        for t in list(self.ref.tasks.values()):
            row = self.k.task(self._h(t.tid))
            if t.result is not None:
                assert w.tasks.run_state[row] == RunState.runSyscallExit, f"task {t.tid} still blocked"
                ret = int(w.tasks.ret[row])
                got = (ret, int(w.tasks.wait_status[row])) if ret > 0 else (ret, 0)
                assert got == t.result, f"blocked wait of {t.tid}: {got} != {t.result}"
                w.tasks.run_state[row] = RunState.runApp
                t.result = None
            elif t.wait is not None:
                assert w.tasks.run_state[row] == RunState.blocked, f"task {t.tid} should be blocked"

    @invariant()
    def agrees_with_reference(self):
        w = self.k.world
        check_sanity(w)
        root = w.index.root_pidns
        pm = pidns.pidmap(w, root)
        impl_tids = set(int(x) for x in np.flatnonzero(pm.task >= 0))
        assert impl_tids == set(self.ref.tasks), \
            f"tasks differ: ecs-kernel only {impl_tids - set(self.ref.tasks)}, reference only {set(self.ref.tasks) - impl_tids}"
        T, G = w.tasks, w.thread_groups
        state = {"run": ExitState.NONE, "exiting": ExitState.INITIATED, "zombie": ExitState.ZOMBIE}
        for tid, rt in self.ref.tasks.items():
            row = int(pm.task[tid])
            assert T.exit_state[row] == state[rt.state], f"task {tid}: exit state {T.exit_state[row]} vs {rt.state}"
            prow = int(T.parent[row])
            ptid = 0 if prow < 0 else int(T.tids[prow, 0])
            assert ptid == (rt.parent.tid if rt.parent else 0), f"task {tid}: parent {ptid} vs {rt.parent and rt.parent.tid}"
            if rt.parent is not None:
                assert rt.parent.state == "run" or rt.parent is self.ref.init, \
                    f"task {tid}'s parent {rt.parent.tid} is {rt.parent.state}"
            pg = int(G.pgrp[int(T.tg[row])])
            assert sessions.pgrp_id(w, pg, root) == rt.proc.pgid, f"task {tid}: pgid differs"
            s = int(w.process_groups.session[pg])
            assert int(w.sessions.ids[s, 0]) == rt.proc.sid, f"task {tid}: sid differs"
