"""Hypothesis strategies and a state machine for signals, beside a plain-Python reference model.

The model (``RefSignals``) knows single-threaded processes, children of init, and is written from
signal(7), sigaction(2), sigprocmask(2) and kernel/signal.c, not from ecs-kernel's code. The
machine sends, blocks, catches, ignores, stops, continues and kills at random, ticks, and after
every step compares each process's pending sets, mask, handlers, stop state, frames and exit
status with the model; wait reports are compared as they are taken. The classic bugs it catches:
a signal delivered while blocked, an ignored signal that stays pending, a stop that never
completes, a continue that leaves a thread stopped.

Strategies for your own tests: :data:`signals`, :data:`sigsets`, :data:`sigactions`.
"""
from __future__ import annotations

import hypothesis.strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ..abi import (Block, COREDUMP_SIGNALS, DEFAULT_IGNORE, ExitState, FULL_MASK, SA_NODEFER,
                   SA_RESETHAND, SI_QUEUE, SIG_DFL, SIG_IGN, SIGBUS, SIGCHLD, SIGCONT, SIGFPE,
                   SIGILL, SIGKILL, SIGRTMIN, SIGSEGV, SIGSTOP, SIGSYS, SIGTERM, SIGTRAP, SIGTSTP,
                   SIGUSR1, SIGUSR2, STOP_SIGNALS, UNBLOCKABLE, WCONTINUED, WNOHANG,
                   WSTATUS_CONTINUED, WSTATUS_STOPPED, WUNTRACED)
from ..errors import KernelError
from ..kernel import Kernel
from ..schedule import check_sanity
from ..systems import task_signals as S
from ..world import Settings

HANDLER = 0x401000
SYNC = frozenset({SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV, SIGSYS})  # dequeued first
FULL = FULL_MASK

#: Every valid signal number.
signals = st.integers(min_value=1, max_value=64)
#: Signal sets (uint64 as int), biased towards a few interesting signals.
sigsets = st.one_of(st.integers(min_value=0, max_value=FULL),
                    st.sets(st.sampled_from([SIGUSR1, SIGUSR2, SIGTERM, SIGCHLD, SIGCONT, SIGTSTP,
                                             SIGRTMIN, SIGRTMIN + 1, SIGSEGV])).map(
                        lambda s: sum(1 << (x - 1) for x in s)))
#: (handler, flags, mask) triples for sigaction.
sigactions = st.tuples(st.sampled_from([SIG_DFL, SIG_IGN, HANDLER]),
                       st.sampled_from([0, SA_NODEFER, SA_RESETHAND, SA_NODEFER | SA_RESETHAND]),
                       sigsets)

_SIGS = [SIGUSR1, SIGUSR2, SIGTERM, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGKILL, SIGRTMIN,
         SIGRTMIN + 1, SIGSEGV]


def bit(s: int) -> int:
    return 1 << (s - 1)


class RefProc:
    def __init__(self, pid: int):
        self.pid = pid
        self.handlers = {}  # signo -> (handler, flags, mask)
        self.mask = 0
        self.pending = {False: 0, True: 0}  # thread queue, group queue
        self.queue = {False: [], True: []}  # [(signo, value)]
        self.stopped = False
        self.stop_report = self.cont_report = False
        self.dying = None  # exit status once a fatal signal hit
        self.frames = []  # masks to restore
        self.handling = 0
        self.stop_signal = 0

    def action(self, s):
        return self.handlers.get(s, (SIG_DFL, 0, 0))


class RefSignals:
    def __init__(self):
        self.procs: dict[int, RefProc] = {}
        self.zombies: dict[int, int] = {}  # pid -> status
        self.delivered = 0

    def _ignored(self, p: RefProc, s: int) -> bool:
        if s in (SIGKILL, SIGSTOP) or p.mask & bit(s):
            return False
        h = p.action(s)[0]
        return h == SIG_IGN or (h == SIG_DFL and s in DEFAULT_IGNORE)

    def _flush(self, p: RefProc, mask: int):
        for g in (False, True):
            p.pending[g] &= ~mask
            p.queue[g] = [(s, v) for s, v in p.queue[g] if not mask & bit(s)]

    def send(self, pid: int, s: int, group: bool, value: int = 0):
        p = self.procs[pid]
        if p.dying is not None:
            return
        if s == SIGKILL:
            p.dying = SIGKILL
            return
        if s in STOP_SIGNALS:
            self._flush(p, bit(SIGCONT))
        elif s == SIGCONT:
            self._flush(p, sum(bit(x) for x in STOP_SIGNALS))
            if p.stopped:
                p.stopped = False
                p.stop_report = False
                p.cont_report = True
        if self._ignored(p, s):
            return
        if s < SIGRTMIN and p.pending[group] & bit(s):
            return
        p.pending[group] |= bit(s)
        p.queue[group].append((s, value))
        # complete_signal: a fatal default signal that the (only) thread can take kills now.
        wants = not p.mask & bit(s) and not p.stopped
        if (wants and s not in COREDUMP_SIGNALS and s not in DEFAULT_IGNORE and s not in STOP_SIGNALS
                and p.action(s)[0] == SIG_DFL):
            p.dying = s

    def _dequeue(self, p: RefProc) -> int:
        for g in (False, True):
            x = p.pending[g] & ~p.mask
            if x:
                if x & sum(bit(y) for y in SYNC):
                    x &= sum(bit(y) for y in SYNC)
                s = (x & -x).bit_length()
                idx = next(i for i, (q, _) in enumerate(p.queue[g]) if q == s)
                p.queue[g].pop(idx)
                if not any(q == s for q, _ in p.queue[g]):
                    p.pending[g] &= ~bit(s)
                return s
        return 0

    def tick(self):
        for p in self.procs.values():
            if p.dying is not None or p.stopped:
                continue
            while True:
                s = self._dequeue(p)
                if not s:
                    break
                h, flags, smask = p.action(s)
                if h == SIG_IGN:
                    continue
                if h != SIG_DFL:
                    p.frames.append(p.mask)
                    add = smask | (0 if flags & SA_NODEFER else bit(s))
                    p.mask = (p.mask | add) & ~UNBLOCKABLE
                    if flags & SA_RESETHAND:
                        p.handlers[s] = (SIG_DFL, flags, smask)
                    p.handling = s
                    self.delivered += 1
                    continue
                if s in DEFAULT_IGNORE:
                    continue
                if s in STOP_SIGNALS:
                    if s != SIGSTOP:
                        continue  # children of init form orphaned process groups
                    p.stopped = True
                    p.stop_signal = s
                    p.stop_report, p.cont_report = True, False
                    break
                p.dying = s
                break
        for pid in [pid for pid, p in self.procs.items() if p.dying is not None]:
            self.zombies[pid] = self.procs.pop(pid).dying


class SignalMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.k = Kernel(Settings(sanitize=True))
        self.w = self.k.world
        self.ref = RefSignals()
        self.rows: dict[int, int] = {}
        for _ in range(3):
            self._fork()

    def _fork(self):
        h = self.k.fork(self.k.init_task)
        pid = self.k.getpid(h)
        self.rows[pid] = self.k.task(h)
        self.ref.procs[pid] = RefProc(pid)

    def _pick(self, i):
        live = sorted(self.ref.procs)
        return live[i % len(live)] if live else None

    @precondition(lambda self: len(self.ref.procs) < 6)
    @rule()
    def fork(self):
        self._fork()

    @precondition(lambda self: self.ref.procs)
    @rule(i=st.integers(0, 99), s=st.sampled_from([x for x in _SIGS if x not in (SIGKILL, SIGSTOP)]),
          act=sigactions)
    def sigaction(self, i, s, act):
        pid = self._pick(i)
        p = self.ref.procs[pid]
        if p.dying is not None:
            return
        S.sigaction(self.w, self.rows[pid], s, act)
        p.handlers[s] = (act[0], act[1], act[2] & ~UNBLOCKABLE)
        if act[0] == SIG_IGN or (act[0] == SIG_DFL and s in DEFAULT_IGNORE):
            self.ref._flush(p, bit(s))

    @precondition(lambda self: self.ref.procs)
    @rule(i=st.integers(0, 99), how=st.sampled_from([0, 1, 2]), sigset=sigsets)
    def sigprocmask(self, i, how, sigset):
        pid = self._pick(i)
        p = self.ref.procs[pid]
        if p.dying is not None:
            return
        S.sigprocmask(self.w, self.rows[pid], how, sigset)
        new = {0: p.mask | sigset, 1: p.mask & ~sigset, 2: sigset}[how]
        p.mask = new & ~UNBLOCKABLE

    @precondition(lambda self: self.ref.procs)
    @rule(i=st.integers(0, 99), s=st.sampled_from(_SIGS), thread=st.booleans())
    def send(self, i, s, thread):
        pid = self._pick(i)
        if thread:
            S.tgkill(self.w, 0, pid, pid, s)
        else:
            S.kill(self.w, 0, pid, s)
        self.ref.send(pid, s, group=not thread)

    @precondition(lambda self: self.ref.procs)
    @rule(i=st.integers(0, 99), s=st.sampled_from([SIGRTMIN, SIGRTMIN + 1, SIGUSR1]),
          value=st.integers(0, 1000))
    def sigqueue(self, i, s, value):
        pid = self._pick(i)
        try:
            S.sigqueueinfo(self.w, 0, pid, s, SI_QUEUE, value)
        except KernelError as e:
            raise AssertionError(f"sigqueue failed: {e}")
        self.ref.send(pid, s, group=True, value=value)

    @precondition(lambda self: any(p.frames for p in self.ref.procs.values()))
    @rule(i=st.integers(0, 99))
    def sigreturn(self, i):
        framed = sorted(pid for pid, p in self.ref.procs.items() if p.frames and p.dying is None)
        if not framed:
            return
        pid = framed[i % len(framed)]
        p = self.ref.procs[pid]
        S.sigreturn(self.w, self.rows[pid])
        p.mask = p.frames.pop() & ~UNBLOCKABLE
        p.handling = 0

    @rule()
    def tick(self):
        self.k.tick()
        self.ref.tick()
        for pid, status in list(self.ref.zombies.items()):
            r = self.k.wait4(self.k.init_task, pid, WNOHANG)
            assert r is not None and r.status == status, f"{pid}: wait gave {r}, expected status {status}"
            del self.ref.zombies[pid]

    @precondition(lambda self: self.ref.procs)
    @rule(i=st.integers(0, 99))
    def wait_stopped_or_continued(self, i):
        pid = self._pick(i)
        p = self.ref.procs[pid]
        r = self.k.wait4(self.k.init_task, pid, WNOHANG | WUNTRACED | WCONTINUED)
        if p.dying is not None:
            return  # it dies at the next tick; the report may or may not be consumed first
        if p.stop_report:
            stopped = (p.stop_signal << 8) | WSTATUS_STOPPED
            assert r is not None and r.status == stopped, f"{pid}: {r}"
            p.stop_report = False
        elif p.cont_report:
            assert r is not None and r.status == WSTATUS_CONTINUED, f"{pid}: {r}"
            p.cont_report = False
        else:
            assert r is None, f"{pid}: unexpected report {r}"

    @invariant()
    def agrees(self):
        check_sanity(self.w)
        T, G = self.w.tasks, self.w.thread_groups
        for pid, p in self.ref.procs.items():
            t = self.rows[pid]
            tg = int(T.tg[t])
            dying = bool(G.exiting[tg]) or T.exit_state[t] != ExitState.NONE
            assert dying == (p.dying is not None), f"{pid}: dying {dying} vs {p.dying}"
            if dying:
                continue
            assert int(T.sig_mask[t]) == p.mask, f"{pid}: mask {int(T.sig_mask[t]):#x} vs {p.mask:#x}"
            assert int(T.sig_pending[t]) == p.pending[False], f"{pid}: thread pending differs"
            assert int(G.group_pending[tg]) == p.pending[True], \
                f"{pid}: group pending {int(G.group_pending[tg]):#x} vs {p.pending[True]:#x}"
            stopped = T.block[t] == Block.STOPPED
            assert stopped == p.stopped == bool(G.stopped[tg]), f"{pid}: stopped {stopped} vs {p.stopped}"
            depth, f = 0, int(T.frame_top[t])
            while f >= 0:
                depth, f = depth + 1, int(self.w.sigframes.f_prev[f])
            assert depth == len(p.frames), f"{pid}: {depth} frames vs {len(p.frames)}"
            assert int(T.handling[t]) == p.handling, f"{pid}: handling {T.handling[t]} vs {p.handling}"
            for s in _SIGS:
                if s in (SIGKILL, SIGSTOP):
                    continue
                h, fl, m = S.sigaction(self.w, t, s)
                assert (h, fl, m) == p.action(s), f"{pid}: action of {s} differs"
