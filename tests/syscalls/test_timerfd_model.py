"""timerfd's expiry counting (syscalls/sys_timerfd.TimerFile) against a naive model that steps
the clock one nanosecond-exact expiry at a time, as Linux's hrtimer fires and re-arms."""
from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings, strategies as st

from ecs_kernel import abi
from ecs_kernel.errors import KernelError
from ecs_kernel.syscalls.sys_timerfd import TimerFile


def world(now: int = 1_000_000):
    return SimpleNamespace(now_ns=now, index=SimpleNamespace(realtime_offset_ns=5_000, clock_set_seq=0))


class Model:
    """Expiries: the hrtimer fires at ``expiry``, then every ``interval`` after it."""

    def __init__(self):
        self.expiry = None
        self.interval = 0
        self.ticks = 0
        self.now = 0

    def advance_to(self, now):
        while self.expiry is not None and self.expiry <= now:
            self.ticks += 1
            self.expiry = self.expiry + self.interval if self.interval else None
        self.now = now


ops = st.lists(st.one_of(
    st.tuples(st.just("wait"), st.integers(0, 50_000)),
    st.tuples(st.just("set"), st.integers(0, 30_000), st.integers(0, 7_000)),
    st.tuples(st.just("read"), st.just(0)),
    st.tuples(st.just("get"), st.just(0))), max_size=40)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_expiries_match_a_stepping_model(steps):
    w = world()
    tf = TimerFile(abi.CLOCK_MONOTONIC, 0)
    m = Model()
    m.now = w.now_ns
    for step in steps:
        if step[0] == "wait":
            w.now_ns += step[1]
            m.advance_to(w.now_ns)
        elif step[0] == "set":
            value, interval = step[1], step[2]
            tf.set(w, 0, value, interval)
            m.advance_to(w.now_ns)
            m.ticks = 0
            m.expiry = w.now_ns + value if value else None
            m.interval = interval if value else 0
        elif step[0] == "read":
            m.advance_to(w.now_ns)
            try:
                got = int.from_bytes(tf.read_task(w, 0, 8), "little")
            except KernelError as e:
                assert e.errno == abi.EAGAIN and m.ticks == 0
            else:
                assert got == m.ticks > 0
                m.ticks = 0
        else:
            m.advance_to(w.now_ns)
            value, interval = tf.get(w)
            assert value == (m.expiry - w.now_ns if m.expiry is not None else 0)
            assert interval == m.interval
        assert bool(tf.poll_task(w, 0) & abi.POLLIN) == (m.ticks > 0)


def test_an_absolute_realtime_timer_is_cancelled_by_a_clock_set_once():
    w = world()
    tf = TimerFile(abi.CLOCK_REALTIME, 0)
    tf.set(w, abi.TFD_TIMER_ABSTIME | abi.TFD_TIMER_CANCEL_ON_SET, w.now_ns + 5_000 + 10_000, 0)
    w.index.clock_set_seq += 1
    assert tf.poll_task(w, 0) & abi.POLLIN
    try:
        tf.read_task(w, 0, 8)
        raise AssertionError("no ECANCELED")
    except KernelError as e:
        assert e.errno == abi.ECANCELED
    w.now_ns += 1_000_000
    try:
        tf.read_task(w, 0, 8)
    except KernelError as e:
        assert e.errno == abi.EAGAIN  # cancelled: disarmed, no expiry comes
