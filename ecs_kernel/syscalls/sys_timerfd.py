"""timerfd (gVisor: ``sys_timerfd.go``, ``fsimpl/timerfd``; Linux: fs/timerfd.c).

A timerfd is a file description whose timer is kept as numbers on the description (its clock
base, the next expiry in that base's clock, the period and the expiries not yet read), which a
checkpoint saves with the fd table. Expiries are counted when the timer is looked at (a read, a
poll, gettime, settime), from the kernel clock: the count is the same as Linux's hrtimer
callback plus ``hrtimer_forward_now`` would give. A task blocked reading one is an io_waits row
(systems/io_wait.py) and the run loop ticks at the expiry (``wake_at``).

TFD_TIMER_CANCEL_ON_SET: an absolute CLOCK_REALTIME timer is cancelled (read gives ECANCELED)
when the realtime clock is set; here that is a step of the host's realtime clock
(``world.index.clock_set_seq``, systems/cpu_clocks.set_realtime), as the guest cannot set it.
"""
from __future__ import annotations

import struct

from ..abi import (BASE_MONO, BASE_REAL, CAP_WAKE_ALARM, CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM,
                   CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_REALTIME_ALARM, NSEC_PER_SEC, O_RDWR,
                   TFD_CLOEXEC,
                   TFD_NONBLOCK, TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET)
from .. import abi
from ..checkpoint_objects import state_class
from ..errors import E, KernelError
from ..fs.anon import AnonInode
from ..fs.file import FileDescription
from ..systems import cpu_clocks, fd_table
from .context import s32, u32
from .registry import FULL, syscall

_ITS = struct.Struct("<qqqq")  # struct itimerspec: it_interval, it_value
_CLOCKS = (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM)


@state_class
class TimerFile(FileDescription):
    """timerfd_create(2)'s description: ``expiry`` (0: disarmed) and ``interval`` in ns of the
    clock's base, ``ticks`` the expiries not yet read."""

    rw_ops = (True, False)

    seekable = False
    clocked = True

    __state__ = {"clockid": "int", "base": "int", "expiry": "int", "interval": "int",
                 "ticks": "int", "settime_flags": "int", "set_seq": "int", "canceled": "bool"}

    def __init__(self, clockid: int, flags: int):
        super().__init__(AnonInode("timerfd"), O_RDWR | (flags & TFD_NONBLOCK), "anon_inode:[timerfd]")
        self.clockid = clockid
        self.base = BASE_REAL if clockid in (CLOCK_REALTIME, CLOCK_REALTIME_ALARM) else BASE_MONO
        self.expiry = 0
        self.interval = 0
        self.ticks = 0
        self.settime_flags = 0
        self.set_seq = 0
        self.canceled = False

    # -- the clock -----------------------------------------------------------------------------
    def _now(self, world) -> int:
        if self.base == BASE_REAL:
            return world.now_ns + cpu_clocks.realtime_offset(world)
        return world.now_ns

    def _might_cancel(self) -> bool:
        return (self.base == BASE_REAL and self.settime_flags & TFD_TIMER_ABSTIME
                and self.settime_flags & TFD_TIMER_CANCEL_ON_SET) != 0

    def update(self, world) -> None:
        """Count the expiries up to now (the hrtimer callback and hrtimer_forward_now), and a
        clock set under a TFD_TIMER_CANCEL_ON_SET timer (timerfd_clock_was_set)."""
        if self._might_cancel() and world.index.clock_set_seq != self.set_seq:
            self.set_seq = int(world.index.clock_set_seq)
            self.canceled = True
            self.expiry = 0
        if not self.expiry:
            return
        now = self._now(world)
        if now < self.expiry:
            return
        if self.interval:
            n = 1 + (now - self.expiry) // self.interval
            self.ticks += n
            self.expiry += n * self.interval
        else:
            self.ticks += 1
            self.expiry = 0

    def get(self, world) -> tuple[int, int]:
        """(value, interval) in ns: the time to the next expiry, and the period."""
        self.update(world)
        value = self.expiry - self._now(world) if self.expiry else 0
        return value, self.interval

    def set(self, world, flags: int, value: int, interval: int) -> tuple[int, int]:
        """timerfd_settime: arm (``value`` 0 disarms; TFD_TIMER_ABSTIME: an absolute time of the
        clock), forget unread expiries; returns the old setting."""
        old = self.get(world)
        self.ticks = 0
        self.canceled = False
        self.settime_flags = flags
        self.set_seq = int(world.index.clock_set_seq)
        self.interval = interval if value else 0
        if not value:
            self.expiry = 0
        else:
            self.expiry = value if flags & TFD_TIMER_ABSTIME else self._now(world) + value
            self.expiry = max(self.expiry, 1)
        return old

    # -- the file ------------------------------------------------------------------------------
    def read_task(self, world, task: int, n: int) -> bytes:
        if n < 8:
            raise KernelError(E.EINVAL, "a timerfd read takes 8 bytes")
        self.update(world)
        if self.canceled:
            self.canceled = False
            self.ticks = 0
            raise KernelError(E.ECANCELED, "the realtime clock was set")
        if not self.ticks:
            raise KernelError(E.EAGAIN)
        ticks, self.ticks = self.ticks, 0
        return struct.pack("<Q", ticks)

    def read(self, n: int) -> bytes:
        raise KernelError(E.EINVAL, "a timerfd is read by a task")

    def poll_task(self, world, task: int) -> int:
        self.update(world)
        return abi.POLLIN | abi.POLLRDNORM if self.ticks or self.canceled else 0

    def poll(self) -> int:
        return abi.POLLIN | abi.POLLRDNORM if self.ticks or self.canceled else 0

    def wake_at(self, world) -> int | None:
        if self.ticks or self.canceled:
            return world.now_ns
        if not self.expiry:
            return None
        if self.base == BASE_REAL:
            return self.expiry - cpu_clocks.realtime_offset(world)
        return self.expiry

    lseek = FileDescription.noop_lseek

    def ioctl(self, request: int, arg: bytes | int = 0) -> tuple[int, bytes | None]:
        raise KernelError(E.ENOTTY, "inappropriate ioctl for device")  # TFD_IOC_SET_TICKS: no

    def fdinfo(self, world) -> str:
        value, interval = self.get(world)
        return (f"clockid: {self.clockid}\nticks: {self.ticks}\nsettime flags: 0{self.settime_flags:o}\n"
                f"it_value: ({value // NSEC_PER_SEC}, {value % NSEC_PER_SEC})\n"
                f"it_interval: ({interval // NSEC_PER_SEC}, {interval % NSEC_PER_SEC})\n")


def _timer(t, fd: int) -> TimerFile:
    desc = fd_table.get_file(t.world, t.row, s32(fd))
    if not isinstance(desc, TimerFile):
        raise KernelError(E.EINVAL, "not a timerfd")
    return desc


def _its_out(t, addr: int, value: int, interval: int) -> None:
    t.mm.copy_out(addr, _ITS.pack(interval // NSEC_PER_SEC, interval % NSEC_PER_SEC,
                                  value // NSEC_PER_SEC, value % NSEC_PER_SEC))


def _ns(sec: int, nsec: int) -> int:
    if sec < 0 or not 0 <= nsec < NSEC_PER_SEC:
        raise KernelError(E.EINVAL, "invalid timespec")
    return sec * NSEC_PER_SEC + nsec


@syscall("timerfd_create", FULL, "CLOCK_REALTIME, MONOTONIC, BOOTTIME and their _ALARM forms (which "
         "wake nothing); no TFD_IOC_SET_TICKS",
         args=("clockid", "x"))
def timerfd_create(t, clockid, flags):
    """Implements timerfd_create(2)."""
    clockid, flags = s32(clockid), u32(flags)
    if flags & ~(TFD_CLOEXEC | TFD_NONBLOCK) or clockid not in _CLOCKS:
        raise KernelError(E.EINVAL)
    if clockid in (CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM) and not t.creds().capable(CAP_WAKE_ALARM):
        raise KernelError(E.EPERM)
    return fd_table.new_fd(t.world, t.row, TimerFile(clockid, flags), cloexec=bool(flags & TFD_CLOEXEC))


@syscall("timerfd_settime", FULL,
         "TFD_TIMER_CANCEL_ON_SET fires when the host's realtime clock steps (the guest cannot set it)",
         args=("fd", "x", "its", "oits"))
def timerfd_settime(t, fd, flags, new, old):
    """Implements timerfd_settime(2)."""
    flags = s32(flags)
    isec, insec, vsec, vnsec = _ITS.unpack(t.mm.copy_in(new, _ITS.size))
    if flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET):
        raise KernelError(E.EINVAL)
    interval, value = _ns(isec, insec), _ns(vsec, vnsec)
    desc = _timer(t, fd)
    t.machine.sync_clock()
    ov, oi = desc.set(t.world, flags, value, interval)
    if old:
        _its_out(t, old, ov, oi)
    return 0


@syscall("timerfd_gettime", FULL, args=("fd", "oits"))
def timerfd_gettime(t, fd, cur):
    """Implements timerfd_gettime(2)."""
    desc = _timer(t, fd)
    t.machine.sync_clock()
    value, interval = desc.get(t.world)
    _its_out(t, cur, value, interval)
    return 0
