"""FD table calls: allocate, install, close, dup family, close-on-exec, close_range.

Linux: fs/file.c (alloc_fd, do_dup2, ksys_dup3, f_dupfd, __close_range, do_close_on_exec).
gVisor: kernel/fd_table.go. Every call names a task; the table is the task's ``fdtable`` row.
Errors are KernelError with Linux's errno: EBADF for an fd that is not open or out of range,
EMFILE past RLIMIT_NOFILE, EINVAL for bad flags or ranges.

Preconditions: called from syscall handlers (or systems) of the task; not during a vectorised pass
over the same table.
"""
from __future__ import annotations

import numpy as np

from ..abi import CLOSE_RANGE_CLOEXEC, CLOSE_RANGE_UNSHARE, O_CLOEXEC, RLIMIT_NOFILE
from ..components import resources, rlimits
from ..components.fd_table import drop_ref, store
from ..errors import E, KernelError
from ..jit import fdtable as K

_U64_1 = np.uint64(1)


def _row(world, task: int) -> int:
    row = int(world.tasks.fdtable[task])
    if row < 0:
        raise KernelError(E.EBADF, "task has no FD table")
    return row


def nofile(world, task: int) -> int:
    cur, _ = rlimits.get(world, int(world.tasks.tg[task]), RLIMIT_NOFILE)
    return min(cur, 1 << 30)  # Linux caps at sysctl nr_open (1 << 20 by default); both fit


def _bit(fd: int) -> tuple[int, np.uint64]:
    return fd >> 6, _U64_1 << np.uint64(fd & 63)


def get_file(world, task: int, fd: int):
    """The open file description of ``fd`` (EBADF if not open)."""
    if fd < 0:
        raise KernelError(E.EBADF, f"bad fd {fd}")
    st = store(world)
    if st.held:
        f = st.held.get(task, {}).get(fd)
        if f is not None:
            return f  # the call blocked on it and runs again: it still has its file
    f = st.files.get(_row(world, task), {}).get(fd)
    if f is None:
        raise KernelError(E.EBADF, f"fd {fd} is not open")
    return f


def _alloc(world, row: int, min_fd: int, limit: int) -> int:
    st = store(world)
    st.ensure(row + 1, 1)
    while True:
        fd = K.alloc_lowest(st.used, row, min_fd, limit)
        if fd == K.NEED_GROWTH:
            st.ensure(row + 1, st.words * 2)
            continue
        if fd < 0:
            raise KernelError(-fd, f"no fd free below {limit} (RLIMIT_NOFILE)")
        return fd


def _set(world, row: int, fd: int, f, cloexec: bool) -> None:
    st = store(world)
    w, m = _bit(fd)
    st.ensure(row + 1, w + 1)
    st.used[row, w] |= m
    if cloexec:
        st.cloexec[row, w] |= m
    else:
        st.cloexec[row, w] &= ~m
    f._fd_refs = getattr(f, "_fd_refs", 0) + 1
    st.files.setdefault(row, {})[fd] = f


def new_fd(world, task: int, f, *, min_fd: int = 0, cloexec: bool = False) -> int:
    """Install ``f`` at the lowest free fd >= ``min_fd`` (EMFILE past RLIMIT_NOFILE)."""
    row = _row(world, task)
    fd = _alloc(world, row, min_fd, nofile(world, task))
    _set(world, row, fd, f, cloexec)
    return fd


def hold(world, task: int, fd: int, f) -> None:
    """A blocked call of ``task`` holds ``f`` (the file of its ``fd``; -1: the end a waiting
    open made) until it ends: :func:`get_file` gives it that file for ``fd`` when it runs
    again, whatever the table holds by then."""
    held = store(world).held.setdefault(task, {})
    old = held.get(fd)
    if old is f:
        return
    f._fd_refs = getattr(f, "_fd_refs", 0) + 1
    held[fd] = f
    if old is not None:
        drop_ref(old)


def take(world, task: int, fd: int):
    """The held file of ``fd`` (None if none), no longer held: the call keeps it (an open
    installs the end it made)."""
    st = store(world)
    held = st.held.get(task)
    f = held.pop(fd, None) if held else None
    if f is not None:
        f._fd_refs -= 1
        if not held:
            del st.held[task]
    return f


def release_held(world, task: int) -> None:
    """The blocked call of ``task`` ended (a result, a signal, the task's exit): what it held
    goes; an open's waiting end closes, as fifo_open's error path takes its count back."""
    st = world.index.fd_store
    if st is not None and st.held:
        for f in st.held.pop(task, {}).values():
            drop_ref(f)


def opening(world, task: int):
    """The end ``task``'s waiting open made, or None."""
    st = world.index.fd_store
    if st is None or not st.held:
        return None
    return st.held.get(task, {}).get(-1)


def _drop(world, row: int, fd: int):
    """Remove ``fd`` from the table; returns its file (whose reference the caller drops)."""
    st = store(world)
    f = st.files.get(row, {}).pop(fd, None)
    if f is None:
        return None
    w, m = _bit(fd)
    st.used[row, w] &= ~m
    st.cloexec[row, w] &= ~m
    return f


def install_fd(world, task: int, fd: int, f, cloexec: bool = False) -> None:
    """Put ``f`` at exactly ``fd``, closing what was there (dup2's replace step)."""
    if fd < 0 or fd >= nofile(world, task):
        raise KernelError(E.EBADF, f"fd {fd} outside RLIMIT_NOFILE")
    row = _row(world, task)
    old = _drop(world, row, fd)
    _set(world, row, fd, f, cloexec)
    if old is not None:
        drop_ref(old, row)


def close_fd(world, task: int, fd: int) -> None:
    """close(2)'s table part: EBADF if ``fd`` is not open."""
    if fd < 0:
        raise KernelError(E.EBADF, f"bad fd {fd}")
    row = _row(world, task)
    f = _drop(world, row, fd)
    if f is None:
        raise KernelError(E.EBADF, f"fd {fd} is not open")
    drop_ref(f, row)


def dup(world, task: int, fd: int) -> int:
    """dup(2): lowest free fd, close-on-exec clear."""
    return new_fd(world, task, get_file(world, task, fd))


def dupfd(world, task: int, fd: int, min_fd: int, cloexec: bool) -> int:
    """fcntl F_DUPFD / F_DUPFD_CLOEXEC: EINVAL if ``min_fd`` is negative or past RLIMIT_NOFILE."""
    f = get_file(world, task, fd)
    if min_fd < 0 or min_fd >= nofile(world, task):
        raise KernelError(E.EINVAL, f"F_DUPFD minimum {min_fd} out of range")
    return new_fd(world, task, f, min_fd=min_fd, cloexec=cloexec)


def dup2(world, task: int, old: int, new: int) -> int:
    """dup2(2): ``old == new`` only checks that ``old`` is open."""
    f = get_file(world, task, old)
    if old == new:
        return new
    install_fd(world, task, new, f)
    return new


def dup3(world, task: int, old: int, new: int, flags: int) -> int:
    """dup3(2): EINVAL for flags other than O_CLOEXEC or for ``old == new``."""
    if flags & ~O_CLOEXEC:
        raise KernelError(E.EINVAL, f"dup3 flags {flags:#x}")
    if old == new:
        raise KernelError(E.EINVAL, "dup3 with oldfd == newfd")
    f = get_file(world, task, old)
    install_fd(world, task, new, f, cloexec=bool(flags & O_CLOEXEC))
    return new


def get_cloexec(world, task: int, fd: int) -> bool:
    get_file(world, task, fd)
    w, m = _bit(fd)
    return bool(store(world).cloexec[_row(world, task), w] & m)


def set_cloexec(world, task: int, fd: int, on: bool) -> None:
    get_file(world, task, fd)
    w, m = _bit(fd)
    st = store(world)
    row = _row(world, task)
    if on:
        st.cloexec[row, w] |= m
    else:
        st.cloexec[row, w] &= ~m


def unshare(world, task: int) -> int:
    """Give the task its own copy of a shared table (unshare(CLONE_FILES))."""
    row = _row(world, task)
    if world.tables["fd_tables"].refs[row] > 1:
        new = resources.copy(world, "fd_tables", row)
        resources.release(world, "fd_tables", row)
        world.tasks.fdtable[task] = row = new
    return row


def close_range(world, task: int, first: int, last: int, flags: int) -> None:
    """close_range(2): close (or with CLOSE_RANGE_CLOEXEC mark) fds in [first, last]."""
    if flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC):
        raise KernelError(E.EINVAL, f"close_range flags {flags:#x}")
    if first > last or first < 0:
        raise KernelError(E.EINVAL, f"close_range [{first}, {last}]")
    row = unshare(world, task) if flags & CLOSE_RANGE_UNSHARE else _row(world, task)
    st = store(world)
    st.ensure(row + 1, 1)
    last = min(last, st.words * 64 - 1)
    if first > last:
        return
    if flags & CLOSE_RANGE_CLOEXEC:
        for fd in sorted(st.files.get(row, {})):
            if first <= fd <= last:
                w, m = _bit(fd)
                st.cloexec[row, w] |= m
        return
    for fd in K.close_range(st.used, row, first, last):
        fd = int(fd)
        w, m = _bit(fd)
        st.cloexec[row, w] &= ~m
        drop_ref(st.files[row].pop(fd), row)


def do_close_on_exec(world, task: int) -> None:
    """execve: close every close-on-exec fd of the (by then unshared) table."""
    row = _row(world, task)
    st = store(world)
    if row >= st.used.shape[0]:
        return
    files = st.files.get(row, {})
    for fd in [fd for fd in files if int(st.cloexec[row, fd >> 6]) >> (fd & 63) & 1]:
        drop_ref(_drop(world, row, fd), row)


def fd_of(world, task: int, desc) -> int:
    """The lowest fd of ``task`` open on the description ``desc`` (-1 if none)."""
    st = store(world)
    files = st.files.get(_row(world, task), {})
    fds = [fd for fd, f in files.items() if f is desc]
    if not fds and st.held:  # closed under a blocked call that holds it
        fds = [fd for fd, f in st.held.get(task, {}).items() if f is desc and fd >= 0]
    return min(fds) if fds else -1


def open_fds(world, task: int) -> list[int]:
    return sorted(store(world).files.get(_row(world, task), {}))
