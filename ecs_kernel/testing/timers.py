"""A state machine for interval timers, POSIX timers, CPU clocks and sleeps, beside a reference model.

The model (``RefTimers``) is plain Python written from setitimer(2), alarm(2), timer_create(2),
timer_settime(2), nanosleep(2) and kernel/time/{itimer,posix-timers,posix-cpu-timers}.c, not from
ecs-kernel's code. One process (a child of init) with handlers (SA_NODEFER) for the timer signals
sets its itimers, alarms, creates/sets/deletes POSIX timers on the monotonic and process CPU clocks,
charges itself CPU time, blocks and unblocks the timer signals, sleeps, and ticks. After every
step the machine compares, through the kernel calls, each timer's remaining time and interval,
each POSIX timer's overrun count, the pending signal set, and the sleep's outcome (ret and the
remaining time of an interrupted sleep) with the model.

Time model both sides agree on: a tick advances the clock by ``TICK``; then pending unblocked
signals are delivered (a sleeping task is interrupted); then CPU time is folded, periodic timers
whose signal was dequeued are re-armed past now (missed periods are the overrun), and every timer
whose clock reads ``>= expiry`` fires; then sleeps whose deadline passed return 0.

Strategies for your own tests: :data:`itimervals`, :data:`itimerspecs`.
"""
from __future__ import annotations

import hypothesis.strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ..abi import (Block, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, ITIMER_PROF, ITIMER_REAL,
                   ITIMER_VIRTUAL, NSEC_PER_SEC, RunState, SA_NODEFER, SIG_BLOCK, SIG_UNBLOCK,
                   SIGALRM, SIGEV_NONE, SIGEV_SIGNAL, SIGPROF, SIGRTMIN, SIGVTALRM, TIMER_ABSTIME)
from ..errors import E, KernelError
from ..kernel import Kernel
from ..schedule import check_sanity
from ..systems import cpu_clocks as C
from ..systems import task_signals as S
from ..systems import timers as TM
from ..world import Settings

TICK = 1_000_000  # 1 ms
HANDLER = 0x401000
TIMER_SIGNALS = (SIGALRM, SIGVTALRM, SIGPROF, SIGRTMIN, SIGRTMIN + 1)
ITIMER_SIGNAL = {ITIMER_REAL: SIGALRM, ITIMER_VIRTUAL: SIGVTALRM, ITIMER_PROF: SIGPROF}
ITIMER_CLOCK = {ITIMER_REAL: "real", ITIMER_VIRTUAL: "virt", ITIMER_PROF: "prof"}

_usec = st.one_of(st.integers(0, 12_000), st.sampled_from([0, 1000, 2000, 5000, 999_999]))
#: (interval, value) timevals for setitimer, small against a 1 ms tick.
itimervals = st.builds(lambda i, v: TM.ItimerVal((0, i), (0, v)), _usec, _usec)
_nsec = st.one_of(st.integers(0, 12 * TICK), st.sampled_from([0, 1, TICK, 2 * TICK, TICK - 1]))
#: (interval, value) timespecs for timer_settime.
itimerspecs = st.builds(lambda i, v: TM.ItimerSpec((0, i), (0, v)), _nsec, _nsec)


def bit(s: int) -> int:
    return 1 << (s - 1)


def _tv(ns):
    return ns // NSEC_PER_SEC, ns % NSEC_PER_SEC // 1000


def _ts(ns):
    return ns // NSEC_PER_SEC, ns % NSEC_PER_SEC


class RefTimer:
    def __init__(self, clock, notify, signo):
        self.clock, self.notify, self.signo = clock, notify, signo
        self.armed = self.rearm = self.queued = False
        self.expiry = self.interval = 0
        self.overrun = self.overrun_last = 0


class RefTimers:
    """The reference model: one single-threaded process."""

    def __init__(self):
        self.now = 0
        self.cpu_u = self.cpu_s = 0
        self.blocked = False
        self.pending: list[tuple[int, int | None]] = []  # (signo, POSIX timer id or None)
        self.it = {w: RefTimer(ITIMER_CLOCK[w], SIGEV_SIGNAL, ITIMER_SIGNAL[w]) for w in ITIMER_SIGNAL}
        self.timers: dict[int, RefTimer] = {}
        self.next_id = 0
        self.sleep = None  # deadline on the monotonic clock
        self.sleep_ret = None
        self.sleep_rem = 0

    # clocks
    def clock(self, clock) -> int:
        """A clock's reading: an itimer's (``ITIMER_CLOCK``) or a POSIX timer's clock id."""
        if clock in ("real", CLOCK_MONOTONIC):
            return self.now
        if clock == "virt":
            return self.cpu_u
        return self.cpu_u + self.cpu_s  # "prof", CLOCK_PROCESS_CPUTIME_ID

    def pending_bits(self) -> int:
        m = 0
        for s, _ in self.pending:
            m |= bit(s)
        return m

    def send(self, signo, tid=None):
        if signo < SIGRTMIN and any(s == signo for s, _ in self.pending):
            return  # a standard signal is pending once
        self.pending.append((signo, tid))

    # itimers
    def itimer_get(self, which, setting=False):
        t = self.it[which]
        if not t.armed:
            return 0, t.interval
        if which == ITIMER_REAL:
            rem = t.expiry - self.now
            return (rem if rem > 0 else 1000), t.interval
        cur = self.clock(t.clock)
        due = t.expiry <= cur if setting else t.expiry < cur
        return (TICK if due else t.expiry - cur), t.interval

    def setitimer(self, which, value, interval):
        t = self.it[which]
        old = self.itimer_get(which, setting=True)
        if which == ITIMER_REAL:
            t.rearm = t.queued = False
            t.armed = bool(value)
            t.interval = interval if value else 0
            if value:
                t.expiry = self.now + value
        else:
            t.armed = bool(value)
            if value:
                t.expiry = self.clock(t.clock) + value + TICK
            t.interval = interval
        return old

    # POSIX timers
    def remaining(self, t: RefTimer) -> int:
        if not t.armed and not t.rearm:
            return 0
        rem = t.expiry - self.clock(t.clock)
        if t.rearm:
            return rem if rem > 0 else rem + ((-rem) // t.interval + 1) * t.interval
        if rem > 0:
            return rem
        if t.notify == SIGEV_NONE:
            if t.interval:
                t.expiry += ((-rem) // t.interval + 1) * t.interval
                return t.expiry - self.clock(t.clock)
            t.armed = False
            return 0
        return 1

    def settime(self, tid, abstime, value, interval):
        t = self.timers[tid]
        old = (self.remaining(t), t.interval)
        t.overrun_last = 0
        t.rearm = False
        t.armed = bool(value)
        if value:
            t.expiry = value if abstime else self.clock(t.clock) + value
            t.interval = interval
        else:
            t.interval = 0 if t.clock == CLOCK_MONOTONIC else interval
        return old

    # time passes
    def tick(self):
        self.now += TICK
        # SIGNALS: every unblocked pending signal is delivered to its handler
        if self.pending and not self.blocked:
            self.pending = []
            if self.sleep is not None:
                self.sleep_ret = -E.EINTR
                self.sleep_rem = max(self.sleep - self.now, 0)
                self.sleep = None
        # TIMERS: re-arm what was dequeued, then fire
        queued = {(s, tid) for s, tid in self.pending}
        timers = [(None, w, t) for w, t in self.it.items()] + [(i, None, t) for i, t in self.timers.items()]
        for tid, which, t in timers:
            if not t.queued:
                continue
            if (t.signo, tid) in queued:
                continue
            if t.rearm:
                c = self.clock(t.clock)
                k = (c - t.expiry) // t.interval + 1 if c >= t.expiry else 0
                t.expiry += k * t.interval
                t.armed, t.rearm = True, False
                if tid is not None:
                    t.overrun_last = max(k - 1, 0)
            t.overrun = 0
            t.queued = False
        for tid, which, t in timers:
            c = self.clock(t.clock)
            if not t.armed or c < t.expiry:
                continue
            fired_at = t.expiry
            if tid is None and which != ITIMER_REAL:
                if t.interval:
                    t.expiry += t.interval
                else:
                    t.armed = False
                self.send(t.signo)
                continue
            periods = (c - t.expiry) // t.interval + 1 if t.interval else 1
            if t.interval:
                t.expiry += periods * t.interval
            else:
                t.armed = False
            if tid is None:  # ITIMER_REAL
                self.send(SIGALRM)
                if t.interval:
                    t.armed, t.expiry, t.rearm, t.queued = False, fired_at, True, True
                continue
            if t.notify == SIGEV_NONE:
                continue
            if t.queued:
                t.overrun += periods
            else:
                self.send(t.signo, tid)
                t.queued, t.overrun = True, 0
            if t.interval:
                t.armed, t.expiry, t.rearm = False, fired_at, True
        if self.sleep is not None and self.now >= self.sleep:
            self.sleep = None
            self.sleep_ret = 0
            self.sleep_rem = 0


class TimerMachine(RuleBasedStateMachine):
    """ecs-kernel's timers against :class:`RefTimers`. Subclass it to add rules or invariants."""

    def __init__(self):
        super().__init__()
        self.k = Kernel(Settings(tick_ns=TICK, sanitize=True))
        self.w = self.k.world
        self.p = self.k.task(self.k.fork(self.k.init_task))
        for s in TIMER_SIGNALS:
            S.sigaction(self.w, self.p, s, (HANDLER, SA_NODEFER, 0))
        self.ref = RefTimers()

    # -- rules ---------------------------------------------------------------------------------
    @rule(which=st.sampled_from([ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF]), new=itimervals)
    def setitimer(self, which, new):
        old = TM.setitimer(self.w, self.p, which, new)
        rv, ri = self.ref.setitimer(which, new.value[1] * 1000, new.interval[1] * 1000)
        assert old == TM.ItimerVal(_tv(ri), _tv(rv)), (old, rv, ri)

    @rule(seconds=st.integers(0, 2))
    def alarm(self, seconds):
        rem, _ = self.ref.itimer_get(ITIMER_REAL, setting=True)
        expect = rem // NSEC_PER_SEC + (1 if (rem and rem < NSEC_PER_SEC)
                                        or rem % NSEC_PER_SEC >= NSEC_PER_SEC // 2 else 0)
        assert TM.alarm(self.w, self.p, seconds) == expect
        self.ref.setitimer(ITIMER_REAL, seconds * NSEC_PER_SEC, 0)

    @rule(clock=st.sampled_from([CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID]),
          notify=st.sampled_from([SIGEV_SIGNAL, SIGEV_SIGNAL, SIGEV_NONE]),
          signo=st.sampled_from([SIGRTMIN, SIGRTMIN + 1]))
    def timer_create(self, clock, notify, signo):
        if len(self.ref.timers) >= 4:
            return
        tid = TM.timer_create(self.w, self.p, clock, TM.Sigevent(notify, signo, 0))
        assert tid == self.ref.next_id
        self.ref.next_id += 1
        self.ref.timers[tid] = RefTimer(clock, notify, signo if notify != SIGEV_NONE else 0)

    @precondition(lambda self: self.ref.timers)
    @rule(data=st.data(), spec=itimerspecs, abstime=st.booleans())
    def timer_settime(self, data, spec, abstime):
        tid = data.draw(st.sampled_from(sorted(self.ref.timers)))
        value = spec.value[1]
        if abstime and value:
            value += self.ref.clock(self.ref.timers[tid].clock)
            spec = TM.ItimerSpec(spec.interval, _ts(value))
        old = TM.timer_settime(self.w, self.p, tid, TIMER_ABSTIME if abstime else 0, spec)
        rv, ri = self.ref.settime(tid, abstime, value, spec.interval[1])
        assert old == TM.ItimerSpec(_ts(ri), _ts(rv)), (old, rv, ri)

    @precondition(lambda self: self.ref.timers)
    @rule(data=st.data())
    def timer_delete(self, data):
        tid = data.draw(st.sampled_from(sorted(self.ref.timers)))
        TM.timer_delete(self.w, self.p, tid)
        del self.ref.timers[tid]

    @rule(tid=st.integers(-1, 8))
    def unknown_timer_is_einval(self, tid):
        if tid in self.ref.timers:
            return
        try:
            TM.timer_gettime(self.w, self.p, tid)
        except KernelError as e:
            assert e.errno == E.EINVAL
        else:
            raise AssertionError(f"timer {tid} should not exist")

    @rule(user=st.integers(0, 3 * TICK), sys=st.integers(0, 2 * TICK))
    def charge(self, user, sys):
        C.charge(self.w, self.p, user, sys)
        self.ref.cpu_u += user
        self.ref.cpu_s += sys

    @rule(block=st.booleans())
    def mask(self, block):
        m = sum(bit(s) for s in TIMER_SIGNALS)
        S.sigprocmask(self.w, self.p, SIG_BLOCK if block else SIG_UNBLOCK, m)
        self.ref.blocked = block

    @precondition(lambda self: self.ref.sleep is None)
    @rule(ns=st.integers(0, 8 * TICK), abstime=st.booleans())
    def sleep(self, ns, abstime):
        if abstime:  # an absolute deadline, sometimes already past
            deadline = max(self.ref.now + ns - 2 * TICK, 0)
            req = _ts(deadline)
        else:
            deadline = self.ref.now + ns
            req = _ts(ns)
        res = TM.clock_nanosleep(self.w, self.p, CLOCK_MONOTONIC, TIMER_ABSTIME if abstime else 0, req)
        if deadline <= self.ref.now:
            assert res == 0  # returned at once: nothing lands in the row
            self.ref.sleep_ret, self.ref.sleep_rem = None, 0
        else:
            assert res is not None and res != 0
            self.ref.sleep = deadline
            self.ref.sleep_ret = None

    @rule(n=st.integers(1, 12))
    def tick(self, n):
        for _ in range(n):
            self.k.tick()
            self.ref.tick()
            while int(self.w.tasks.frame_top[self.p]) >= 0:  # the handlers return
                S.sigreturn(self.w, self.p)
            self.check_all()

    # -- invariants ---------------------------------------------------------------------------------
    @invariant()
    def agrees(self):
        self.check_all()

    def check_all(self):
        w, p, ref = self.w, self.p, self.ref
        tg = int(w.tasks.tg[p])
        assert int(w.thread_groups.group_pending[tg]) == ref.pending_bits(), (
            f"pending {int(w.thread_groups.group_pending[tg]):#x} != {ref.pending_bits():#x} at {ref.now}")
        for which in ITIMER_SIGNAL:
            rv, ri = ref.itimer_get(which)
            assert TM.getitimer(w, p, which) == TM.ItimerVal(_tv(ri), _tv(rv)), (which, ref.now)
        for tid, t in ref.timers.items():
            got = TM.timer_gettime(w, p, tid)
            want = TM.ItimerSpec(_ts(t.interval), _ts(ref.remaining(t)))
            assert got == want, (tid, got, want, ref.now)
            assert TM.timer_getoverrun(w, p, tid) == t.overrun_last, (tid, ref.now)
        u, s = C.group_cputime(w, tg)
        assert (u, s) == (ref.cpu_u, ref.cpu_s)
        T = w.tasks
        if ref.sleep is not None:
            assert T.run_state[p] == RunState.blocked and T.block[p] == Block.SLEEP
        elif ref.sleep_ret is not None:
            assert T.run_state[p] != RunState.blocked
            assert int(T.ret[p]) == ref.sleep_ret, (int(T.ret[p]), ref.sleep_ret)
            if ref.sleep_ret:
                assert int(T.sleep_rem_ns[p]) == ref.sleep_rem
        check_sanity(w)


__all__ = ["TimerMachine", "RefTimers", "itimervals", "itimerspecs"]
