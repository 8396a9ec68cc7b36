"""signalfd (gVisor: ``sys_signalfd.go``, ``fsimpl/signalfd``; Linux: fs/signalfd.c).

A signalfd holds only its mask. Reading it dequeues signals of the mask from the *reader's*
pending sets (its own queue, then its thread group's: task_signals.dequeue, with the siginfo in
the task's SigInfo columns), as ``struct signalfd_siginfo`` records; it is readable while the
polling task has one of them pending. A blocked read is an io_waits row that the I/O wait system
wakes when such a signal arrives.
"""
from __future__ import annotations

import struct

from ..abi import (CLD_CONTINUED, FULL_MASK, O_RDWR, SFD_CLOEXEC, SFD_NONBLOCK, SI_QUEUE,
                   SI_TIMER, SIGBUS, SIGCHLD, SIGFPE, SIGILL, SIGNALFD_SIGINFO_SIZE, SIGSEGV,
                   SIGTRAP, UNBLOCKABLE)
from .. import abi
from ..checkpoint_objects import state_class
from ..errors import E, KernelError
from ..fs.anon import AnonInode
from ..fs.file import FileDescription
from ..systems import fd_table, task_signals
from .context import s32, u32
from .registry import FULL, syscall

# struct signalfd_siginfo: signo errno code pid uid fd tid band overrun trapno status int ptr
# utime stime addr addr_lsb (pad) syscall call_addr arch, padded to 128 bytes.
_SSI = struct.Struct("<IiiIIiIIIIiiQQQQHHiQI")
_SETTABLE = FULL_MASK & ~UNBLOCKABLE
_FAULT_SIGNALS = (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP)  # siginfo_layout's SIL_FAULT


def siginfo_record(signo: int, code: int, pid: int, uid: int, value: int, errno: int = 0) -> bytes:
    """One ``struct signalfd_siginfo`` (signalfd_copyinfo): the fields of the siginfo's layout."""
    value &= (1 << 64) - 1
    sint = value & 0xFFFF_FFFF
    sint = sint - (1 << 32) if sint >> 31 else sint
    pid_, uid_, tid, overrun, status, sival, ptr, addr = 0, 0, 0, 0, 0, 0, 0, 0
    if 0 < code < 0x80 and signo in _FAULT_SIGNALS:
        addr = value
    elif 0 < code <= CLD_CONTINUED and signo == SIGCHLD:
        pid_, uid_, status = pid, uid, sint
    elif code == SI_TIMER:
        tid, overrun, sival, ptr = pid & 0xFFFF_FFFF, uid & 0xFFFF_FFFF, sint, value
    elif code < 0 or code == SI_QUEUE:
        pid_, uid_, sival, ptr = pid, uid, sint, value
    else:  # SI_USER, SI_KERNEL: kill's layout
        pid_, uid_ = pid, uid
    rec = _SSI.pack(signo, errno, code, pid_ & 0xFFFF_FFFF, uid_ & 0xFFFF_FFFF, 0, tid, 0, overrun, 0,
                    status, sival, ptr, 0, 0, addr, 0, 0, 0, 0, 0)
    return rec + bytes(SIGNALFD_SIGINFO_SIZE - len(rec))


@state_class
class SignalFile(FileDescription):
    """signalfd(2)'s description: the signals it reports (never SIGKILL or SIGSTOP)."""

    rw_ops = (True, False)

    seekable = False

    __state__ = {"mask": "int"}

    def __init__(self, mask: int, flags: int):
        super().__init__(AnonInode("signalfd"), O_RDWR | (flags & SFD_NONBLOCK), "anon_inode:[signalfd]")
        self.mask = mask & _SETTABLE

    def _pending(self, world, task: int) -> int:
        T = world.tasks
        return (int(T.sig_pending[task]) | int(world.thread_groups.group_pending[int(T.tg[task])])) & self.mask

    def read_task(self, world, task: int, n: int) -> bytes:
        if n < SIGNALFD_SIGINFO_SIZE:
            raise KernelError(E.EINVAL, "a signalfd read takes 128 bytes")
        out = []
        T = world.tasks
        while len(out) < n // SIGNALFD_SIGINFO_SIZE and self._pending(world, task):
            signo = task_signals.dequeue(world, task, ~self.mask & FULL_MASK)
            if not signo:
                break
            out.append(siginfo_record(signo, int(T.si_code[task]), int(T.si_pid[task]),
                                      int(T.si_uid[task]), int(T.si_value[task]),
                                      int(T.si_errno[task])))
        if not out:
            raise KernelError(E.EAGAIN)
        return b"".join(out)

    def read(self, n: int) -> bytes:
        raise KernelError(E.EINVAL, "a signalfd is read by a task")

    def poll_task(self, world, task: int) -> int:
        return abi.POLLIN | abi.POLLRDNORM if self._pending(world, task) else 0

    def poll(self) -> int:
        return 0

    def fdinfo(self, world) -> str:
        return f"sigmask:\t{self.mask:016x}\n"


def _signalfd(t, fd, mask_addr, sizemask, flags) -> int:
    fd, flags = s32(fd), s32(flags)
    if u32(sizemask) != 8 or flags & ~(SFD_CLOEXEC | SFD_NONBLOCK):
        raise KernelError(E.EINVAL)
    mask = struct.unpack("<Q", t.mm.copy_in(mask_addr, 8))[0]
    if fd == -1:
        return fd_table.new_fd(t.world, t.row, SignalFile(mask, flags),
                               cloexec=bool(flags & SFD_CLOEXEC))
    desc = fd_table.get_file(t.world, t.row, fd)
    if not isinstance(desc, SignalFile):
        raise KernelError(E.EINVAL, "not a signalfd")
    desc.mask = mask & _SETTABLE
    return fd


_NOTE = "a SIGCHLD record's ssi_utime/ssi_stime are 0"


@syscall("signalfd", FULL, _NOTE, args=("fd", "sigset", "u"))
def signalfd(t, fd, mask, sizemask):
    """Implements signalfd(2)."""
    return _signalfd(t, fd, mask, sizemask, 0)


@syscall("signalfd4", FULL, _NOTE, args=("fd", "sigset", "u", "x"))
def signalfd4(t, fd, mask, sizemask, flags):
    """Implements signalfd4(2)."""
    return _signalfd(t, fd, mask, sizemask, flags)
