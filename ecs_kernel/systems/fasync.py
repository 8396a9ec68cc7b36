"""Signal-driven I/O: F_SETOWN/F_SETOWN_EX, F_SETSIG and O_ASYNC (fcntl(2)).

Linux: fs/fcntl.c (f_setown, f_getown_ex, send_sigio_to_task, kill_fasync). gVisor:
kernel/fasync.

The state is the open file description's (saved with it): ``fown_type`` (-1: no owner, else
F_OWNER_TID, F_OWNER_PID or F_OWNER_PGRP) and ``fown_id`` (that thread's, process's or group's id
in the root PID namespace), ``fsig`` (F_SETSIG: 0 is plain SIGIO), ``fasync_fd`` (the fd O_ASYNC
was turned on through: the signal's si_fd, even after that fd is closed) and ``fasync_seen`` (the
poll events last seen).

Linux signals from inside each file's code (a pipe write calls kill_fasync for the readers);
here :func:`scan` looks at every O_ASYNC description with an owner and signals the events that
appeared since it last looked: a description that became readable, writable, or hung up. It runs
after every guest syscall while such a description exists (Machine.after_syscall: a write's
signal is delivered as the write returns, as on Linux) and once a tick (:func:`fasync_system`:
what the host or a timer changed). A second write to a pipe that is already readable sends no
second signal (Linux sends one per write); programs that use SIGIO as "look now" see the same.
Not modelled: the sender-credential check of sigio_perm (every guest here may signal its owner).
"""
from __future__ import annotations

from ..abi import (EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDNORM, EPOLLWRBAND, EPOLLWRNORM,
                   F_OWNER_PGRP, F_OWNER_PID, F_OWNER_TID, NSIG, O_ASYNC, POLL_HUP, POLL_IN,
                   POLL_OUT, POLLERR, POLLHUP, POLLIN, POLLOUT, SI_KERNEL, SIGIO)
from . import sessions
from ..components import links, pidns
from ..components.fd_table import store
from ..errors import E, KernelError
from ..schedule import Phase, system
from . import task_signals

# why, and si_band (Linux band_table), for the events that appeared
_REASONS = ((POLLIN, POLL_IN, EPOLLIN | EPOLLRDNORM),
            (POLLOUT, POLL_OUT, EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND),
            (POLLHUP | POLLERR, POLL_HUP, EPOLLHUP | EPOLLERR))


def setown(world, task: int, desc, kind: int, who: int) -> None:
    """F_SETOWN_EX (and F_SETOWN: ``kind`` F_OWNER_PID, or F_OWNER_PGRP for a negative id): the
    owner named by ``who`` in the caller's namespace; 0 clears it. ESRCH for nobody by that id."""
    if kind not in (F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP):
        raise KernelError(E.EINVAL, f"owner type {kind}")
    if who == 0:
        desc.fown_type, desc.fown_id = -1, 0
        return
    ns = int(world.tasks.ns[task])
    pm = pidns.pidmap(world, ns)
    if kind == F_OWNER_PGRP:
        row = pm.lookup("pgrp", who) if who > 0 else -1
        if row < 0:
            raise KernelError(E.ESRCH, f"no process group {who}")
        gid = int(world.process_groups.ids[row, 0])
    else:
        row = pidns.task_by_tid(world, ns, who) if who > 0 else -1
        if row < 0:
            raise KernelError(E.ESRCH, f"no task {who}")
        gid = int(world.tasks.tids[row, 0])
    desc.fown_type, desc.fown_id = kind, gid


def getown(world, task: int, desc) -> tuple[int, int]:
    """F_GETOWN_EX: (type, id in the caller's namespace); (F_OWNER_PID, 0) for none."""
    if desc.fown_type < 0:
        return F_OWNER_PID, 0
    root = int(world.index.root_pidns)
    ns = int(world.tasks.ns[task])
    if desc.fown_type == F_OWNER_PGRP:
        row = pidns.pidmap(world, root).lookup("pgrp", desc.fown_id)
        seen = 0 if row < 0 else sessions.pgrp_id(world, row, ns)
    else:
        row = pidns.task_by_tid(world, root, desc.fown_id)
        seen = 0 if row < 0 else pidns.tid_in(world, row, ns)
    return int(desc.fown_type), seen


def setsig(desc, sig: int) -> None:
    """F_SETSIG: 0 (plain SIGIO) or a signal number."""
    if not 0 <= sig <= NSIG:
        raise KernelError(E.EINVAL, f"signal {sig}")
    desc.fsig = sig


def async_on(world, desc, fd: int) -> None:
    """O_ASYNC was turned on through ``fd``: it is the signals' si_fd; events already there are
    not news."""
    desc.fasync_fd = fd
    desc.fasync_seen = desc.poll()


def _targets(world, desc) -> list[tuple[int, bool]]:
    """(task row, process-directed?) for each receiver of the owner."""
    root = int(world.index.root_pidns)
    if desc.fown_type == F_OWNER_PGRP:
        pg = pidns.pidmap(world, root).lookup("pgrp", desc.fown_id)
        if pg < 0:
            return []
        P, G = world.process_groups, world.thread_groups
        return [(int(G.leader[g]), True) for g in links.members(P.tg_head, pg, G.pg_next)]
    row = pidns.task_by_tid(world, root, desc.fown_id)
    if row < 0:
        return []
    return [(row, desc.fown_type == F_OWNER_PID)]


def send_sigio(world, desc, events: int) -> None:
    """send_sigio: the owner learns that ``events`` appeared on ``desc``. With F_SETSIG the
    siginfo says why (si_code POLL_IN/OUT/HUP), si_band and si_fd (SIGPOLL's layout: the 8-byte
    si_band takes the bytes of si_pid and si_uid, si_fd those of the value); a real-time signal
    that finds its queue full becomes a plain SIGIO, as Linux's."""
    for mask, reason, band in _REASONS:
        if not events & mask:
            continue
        for row, group in _targets(world, desc):
            if desc.fsig:
                try:
                    task_signals.send_signal(world, row, int(desc.fsig), group=group, code=reason,
                                             pid=band, uid=0, value=int(desc.fasync_fd))
                    continue
                except KernelError:
                    pass
            task_signals.send_signal(world, row, SIGIO, group=group, code=SI_KERNEL)


@system(phase=Phase.TIMERS, reads=("FDTables",),
        writes=("SigQueue", "SigPending", "GroupSigPending", "ThreadGroupCore", "GroupStopState",
                "ChildEvents", "RunState", "SigInfo", "ExitState"))
def fasync_system(world, commands) -> None:
    """Signal the owners of O_ASYNC descriptions whose poll events grew since the last look."""
    scan(world)


def active(world) -> bool:
    """Is there an O_ASYNC description to look at (a cache, cleared by a scan that finds none)?"""
    st = world.index.fd_store
    return st is not None and getattr(st, "any_async", True)


def scan(world) -> None:
    """Signal the owners of O_ASYNC descriptions whose poll events grew since the last look."""
    if not active(world):
        return
    st = world.index.fd_store
    seen, found = set(), False
    for files in list(st.files.values()):
        for desc in list(files.values()):
            if id(desc) in seen or not getattr(desc, "flags", 0) & O_ASYNC:
                continue
            seen.add(id(desc))
            found = True
            if desc.fown_type < 0:
                continue
            now = desc.poll()
            new = now & ~int(desc.fasync_seen)
            desc.fasync_seen = now
            if new:
                send_sigio(world, desc, new)
    st.any_async = found  # a cache: F_SETFL's O_ASYNC sets it again


SYSTEMS = [fasync_system]


def note_async(world) -> None:
    """An O_ASYNC description appeared: the system looks again."""
    store(world).any_async = True
