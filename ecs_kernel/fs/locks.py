"""Advisory file locks: flock(2), POSIX record locks and open file description locks (fcntl(2)).

Linux: fs/locks.c (posix_lock_inode, flock_lock_inode, locks_remove_posix, locks_remove_file).
gVisor: pkg/sentry/fsimpl/lock (FileLocks: BSD and POSIX locks per inode).

Each inode that was ever locked has a :class:`FileLocks` (``inode.locks``, saved with the inode):

- POSIX record locks, as records ``(type, start, end, pid, owner, ofd)`` over the inclusive byte
  range [start, end] (``end`` OFFSET_MAX: to the end of any file). A process lock (F_SETLK) is
  owned by the fd table of the locker (Linux's ``current->files``: threads, and CLONE_FILES
  processes, share it; ``owner`` is its resource row, ``ofd`` None) and goes when that table
  closes *any* fd of the inode; an open file description lock (F_OFD_SETLK) is owned by the
  description (``ofd``; ``owner`` -1) and goes with its last fd. The locks of one owner never
  overlap: setting a range splits and replaces what the owner had there, and neighbours of the
  same type merge. Locks of different owners conflict when they overlap and one is a write lock.
- flock locks, ``(type, description)``: one per open file description; a shared lock conflicts
  with another description's exclusive one, an exclusive lock with any. A conversion drops the
  old lock first, as Linux does (it is not atomic). flock and POSIX locks ignore each other.

A caller that must wait blocks as data: an ``io_waits`` row on its fd with the :data:`LOCK_WAIT`
event whose ``iw_lock_gen`` holds the inode's lock ``generation`` when it blocked. Every change that
can let a waiter in (an unlock, a downgrade, a close) bumps the generation; the I/O wait system
then wakes the waiter, which runs its call again (and waits again if it still conflicts).
Not modelled: deadlock detection (F_SETLKW never fails with EDEADLK; a cycle of waiters is a
deadlock the run loop reports), leases, mandatory locking.
"""
from __future__ import annotations

from ..abi import F_RDLCK, F_UNLCK, F_WRLCK, LOCK_EX, LOCK_SH, OFFSET_MAX
from ..checkpoint_objects import state_class
from ..errors import E, KernelError

LOCK_WAIT = 1 << 30  # an io_waits event no file's poll() has: "the inode's locks changed"


@state_class
class FileLocks:
    """The locks of one inode (the module's docstring)."""

    __state__ = {"posix": "list[(int,int,int,int,int,?@FileDescription)]",
                 "flocks": "list[(int,@FileDescription)]", "generation": "int"}

    def __init__(self):
        self.posix: list[tuple] = []
        self.flocks: list[tuple] = []
        self.generation = 0

    # -- POSIX and OFD record locks -------------------------------------------------------------
    @staticmethod
    def _mine(rec, owner: int, ofd) -> bool:
        return rec[5] is ofd if ofd is not None else (rec[5] is None and rec[4] == owner)

    def conflict(self, ltype: int, start: int, end: int, owner: int, ofd):
        """The first lock of another owner that a ``ltype`` lock on [start, end] conflicts with
        (F_GETLK's answer), or None."""
        for rec in self.posix:
            if self._mine(rec, owner, ofd) or rec[2] < start or rec[1] > end:
                continue
            if ltype == F_WRLCK or rec[0] == F_WRLCK:
                return rec
        return None

    def set(self, ltype: int, start: int, end: int, owner: int, ofd, pid: int) -> bool:
        """F_SETLK: lock (or unlock: F_UNLCK) [start, end] for the owner. False if another owner's
        lock is in the way (nothing changes: the caller fails with EAGAIN or waits)."""
        if ltype != F_UNLCK and self.conflict(ltype, start, end, owner, ofd) is not None:
            return False
        kept, changed = [], False
        new_start, new_end = start, end
        for rec in self.posix:
            if not self._mine(rec, owner, ofd):
                kept.append(rec)
                continue
            rtype, rs, re_ = rec[0], rec[1], rec[2]
            # neighbours (or overlaps) of the same type merge into the new lock
            if ltype != F_UNLCK and rtype == ltype and rs <= (end + 1 if end < OFFSET_MAX else end) \
                    and (re_ + 1 if re_ < OFFSET_MAX else re_) >= start:
                new_start, new_end = min(new_start, rs), max(new_end, re_)
                continue
            if re_ < start or rs > end:
                kept.append(rec)
                continue
            changed = True  # part of it is replaced: what it held there is given up
            if rs < start:
                kept.append((rtype, rs, start - 1, *rec[3:]))
            if re_ > end:
                kept.append((rtype, end + 1, re_, *rec[3:]))
        if ltype != F_UNLCK:
            kept.append((ltype, new_start, new_end, pid, owner if ofd is None else -1, ofd))
        kept.sort(key=lambda r: (r[1], r[2]))
        self.posix = kept
        if changed:
            self.generation += 1
        return True

    def remove_owner(self, owner: int) -> None:
        """locks_remove_posix: the fd table ``owner`` closed an fd of the inode."""
        kept = [r for r in self.posix if r[5] is not None or r[4] != owner]
        if len(kept) != len(self.posix):
            self.posix = kept
            self.generation += 1

    # -- flock ----------------------------------------------------------------------------------
    def flock(self, desc, ltype: int) -> bool:
        """flock(2) for ``desc``: F_RDLCK (LOCK_SH), F_WRLCK (LOCK_EX) or F_UNLCK. False if
        another description's lock is in the way (the old lock of ``desc`` is gone by then)."""
        mine = [f for f in self.flocks if f[1] is desc]
        if mine and mine[0][0] == ltype:
            return True
        if mine:
            self.flocks = [f for f in self.flocks if f[1] is not desc]
            self.generation += 1
        if ltype == F_UNLCK:
            return True
        if any(f[0] == F_WRLCK or ltype == F_WRLCK for f in self.flocks):
            return False
        self.flocks.append((ltype, desc))
        return True

    def remove_description(self, desc) -> None:
        """locks_remove_file: the last fd of ``desc`` closed: its flock and OFD locks go."""
        flocks = [f for f in self.flocks if f[1] is not desc]
        posix = [r for r in self.posix if r[5] is not desc]
        if len(flocks) != len(self.flocks) or len(posix) != len(self.posix):
            self.flocks, self.posix = flocks, posix
            self.generation += 1


def locks_of(inode) -> FileLocks:
    locks = getattr(inode, "locks", None)
    if locks is None:
        locks = inode.locks = FileLocks()
    return locks


def flock_type(op: int) -> int:
    """flock(2)'s operation (without LOCK_NB) as a lock type."""
    return F_WRLCK if op & LOCK_EX else F_RDLCK if op & LOCK_SH else F_UNLCK


def lock_range(whence_base: int, l_start: int, l_len: int) -> tuple[int, int]:
    """flock_to_posix_lock: the inclusive range of a struct flock whose l_whence resolves to
    ``whence_base``. EINVAL for a start before 0, EOVERFLOW past the largest offset."""
    start = whence_base + l_start
    if start < 0:
        raise KernelError(E.EINVAL, "a lock range starting before 0")
    if l_len > 0:
        end = start + l_len - 1
        if end > OFFSET_MAX:
            raise KernelError(E.EOVERFLOW, "a lock range past the largest offset")
    elif l_len < 0:
        end = start - 1
        start += l_len
        if start < 0:
            raise KernelError(E.EINVAL, "a lock range starting before 0")
    else:
        end = OFFSET_MAX
    if start > OFFSET_MAX:
        raise KernelError(E.EOVERFLOW, "a lock range past the largest offset")
    return start, end


def on_close(desc, owner: int) -> None:
    """An fd of ``desc`` closed in fd table ``owner``: that table's POSIX locks on the inode go."""
    locks = getattr(getattr(desc, "inode", None), "locks", None)
    if locks is not None and locks.posix:
        locks.remove_owner(owner)


def on_release(desc) -> None:
    """The last fd of ``desc`` closed: its flock and OFD locks go."""
    locks = getattr(getattr(desc, "inode", None), "locks", None)
    if locks is not None:
        locks.remove_description(desc)
