"""The console: the host terminal behind the guest's stdio, as the guests' controlling terminal.

Linux: drivers/tty/tty_jobctrl.c (tty_check_change, tiocgpgrp, tiocspgrp, tiocgsid, tiocsctty,
disassociate_ctty), drivers/tty/n_tty.c (job_control on read, TOSTOP on write). gVisor:
kernel/tty.go, kernel/sessions.go (ForegroundProcessGroup, SetForegroundProcessGroup).

There is one terminal a guest can have: when ``ecs-kernel run`` finds a host terminal among the
guest's stdio, the guest's session gets it as its controlling terminal with the guest's process
group in the foreground, as a shell starts a job (cli_run). The state is data:

- ``sessions.console``: this session owns the console (Linux ``tty->ctrl.session``); at most one;
- ``sessions.foreground``: that session's foreground process group (``tty->ctrl.pgrp``; -1 none);
- ``thread_groups.tty``: the console is this process's controlling terminal (``signal->tty``):
  inherited by fork, dropped by setsid and TIOCNOTTY.

The terminal itself (its settings, its input) stays the host's (fs/stdio.HostStdioFile); this
module is the kernel's side: who may read, write and change it, and the signals that stop a
background job which tries (SIGTTIN, SIGTTOU).
"""
from __future__ import annotations

import numpy as np

from ..abi import CAP_SYS_ADMIN, ERESTARTSYS, SI_KERNEL, SIGCONT, SIGHUP, SIGTTOU, SIG_IGN
from ..components import links, pidns
from ..errors import E, KernelError
from . import sessions, task_identity, task_signals


def session_of(world, task: int) -> int:
    G = world.thread_groups
    return int(world.process_groups.session[int(G.pgrp[int(world.tasks.tg[task])])])


def has_console(world, task: int) -> bool:
    """Is the console ``task``'s controlling terminal (``current->signal->tty == tty``)?"""
    return bool(world.thread_groups.tty[int(world.tasks.tg[task])])


def attach(world, session: int, pg: int) -> None:
    """The console becomes ``session``'s controlling terminal with ``pg`` in the foreground, for
    every process of the session (what a login shell's terminal is to the jobs it starts)."""
    S, P, G = world.sessions, world.process_groups, world.thread_groups
    _own(world, session, pg)
    for p in links.members(S.pg_head, session, P.sess_next):
        for g in links.members(P.tg_head, p, G.pg_next):
            G.tty[g] = True


def _own(world, session: int, fg: int) -> None:
    S = world.sessions
    S.console[:] = False
    S.console[session] = True
    S.foreground[session] = fg


def _clear_session(world, session: int) -> None:
    """session_clear_tty: no process of ``session`` has the console any more."""
    S, P, G = world.sessions, world.process_groups, world.thread_groups
    for p in links.members(S.pg_head, session, P.sess_next):
        for g in links.members(P.tg_head, p, G.pg_next):
            G.tty[g] = False
    S.console[session] = False
    S.foreground[session] = -1


def _is_ignored(world, task: int, sig: int) -> bool:
    """tty_jobctrl's is_ignored: blocked by the task, or its action is SIG_IGN."""
    blocked = int(world.tasks.sig_mask[task]) >> (sig - 1) & 1
    return bool(blocked) or task_signals.handler_of(world, task, sig) == SIG_IGN


def check_change(world, task: int, sig: int = SIGTTOU) -> None:
    """__tty_check_change: a process of a background group that touches its terminal (reads:
    SIGTTIN; changes it, or writes under TOSTOP: SIGTTOU) stops its whole group: the signal goes
    to the group and the call ends with -ERESTARTSYS, so it runs again once the group continues
    (or fails with EINTR if a handler without SA_RESTART catches it). A blocked or ignored
    signal lets a change through but fails a read with EIO; so does an orphaned group."""
    if not has_console(world, task):
        return
    S, G = world.sessions, world.thread_groups
    s = session_of(world, task)
    fg = int(S.foreground[s])
    pg = int(G.pgrp[int(world.tasks.tg[task])])
    if fg < 0 or pg == fg:
        return
    if _is_ignored(world, task, sig):
        if sig != SIGTTOU:
            raise KernelError(E.EIO, "a background read with SIGTTIN ignored")
        return
    if sessions.will_become_orphaned(world, pg):
        raise KernelError(E.EIO, "an orphaned background process group touched its terminal")
    _kill_pgrp(world, pg, sig)
    raise KernelError(ERESTARTSYS, "the background job was stopped")


def _kill_pgrp(world, pg: int, sig: int) -> None:
    """kill_pgrp(pgrp, sig, 1): from the kernel (SI_KERNEL), to every process of the group."""
    P, G = world.process_groups, world.thread_groups
    for g in links.members(P.tg_head, pg, G.pg_next):
        task_signals.send_group_signal(world, g, sig, code=SI_KERNEL, force=True)


def tiocgpgrp(world, task: int) -> int:
    """TIOCGPGRP (tcgetpgrp): the foreground group's id as the caller sees it; 0 for none."""
    if not has_console(world, task):
        raise KernelError(E.ENOTTY, "not the caller's controlling terminal")
    fg = int(world.sessions.foreground[session_of(world, task)])
    return sessions.pgrp_id(world, fg, int(world.tasks.ns[task])) if fg >= 0 else 0


def tiocspgrp(world, task: int, pgid: int) -> None:
    """TIOCSPGRP (tcsetpgrp): a process group of the caller's session becomes the foreground."""
    try:
        check_change(world, task, SIGTTOU)
    except KernelError as e:
        if e.errno == E.EIO:
            raise KernelError(E.ENOTTY, "orphaned") from None
        raise
    if not has_console(world, task):
        raise KernelError(E.ENOTTY, "not the caller's controlling terminal")
    if pgid < 0:
        raise KernelError(E.EINVAL, "negative process group id")
    s = session_of(world, task)
    pg = pidns.pidmap(world, int(world.tasks.ns[task])).lookup("pgrp", pgid) if pgid else -1
    if pg < 0 or not world.process_groups.alive[pg]:
        raise KernelError(E.ESRCH, f"no process group {pgid}")
    if int(world.process_groups.session[pg]) != s:
        raise KernelError(E.EPERM, "the process group is in another session")
    world.sessions.foreground[s] = pg


def tiocgsid(world, task: int) -> int:
    """TIOCGSID (tcgetsid): the id of the session the console belongs to."""
    if not has_console(world, task):
        raise KernelError(E.ENOTTY, "not the caller's controlling terminal")
    s = session_of(world, task)
    return sessions.session_id(world, s, int(world.tasks.ns[task]))


def tiocsctty(world, task: int, steal: int, readable: bool) -> None:
    """TIOCSCTTY: a session leader without a terminal takes the console; from another session
    only with ``steal`` 1 and CAP_SYS_ADMIN; the fd must be open for reading (or the caller have
    CAP_SYS_ADMIN)."""
    S, G = world.sessions, world.thread_groups
    tg = int(world.tasks.tg[task])
    s = session_of(world, task)
    if G.is_session_leader[tg] and S.console[s]:
        return  # already its terminal
    if not G.is_session_leader[tg] or G.tty[tg]:
        raise KernelError(E.EPERM, "not a session leader, or it has a terminal already")
    admin = task_identity.capable(world, task, CAP_SYS_ADMIN)
    owners = np.flatnonzero(S.console[: S.n] & S.alive[: S.n])
    if len(owners):
        if steal == 1 and admin:
            _clear_session(world, int(owners[0]))
        else:
            raise KernelError(E.EPERM, "the terminal is another session's")
    if not readable and not admin:
        raise KernelError(E.EPERM, "the terminal is not open for reading")
    _own(world, s, int(G.pgrp[tg]))  # proc_set_tty: the leader's group in the foreground
    G.tty[tg] = True


def tiocnotty(world, task: int) -> None:
    """TIOCNOTTY: the caller gives up the console; a session leader takes it from the whole
    session, and its foreground group gets SIGHUP and SIGCONT (disassociate_ctty)."""
    if not has_console(world, task):
        raise KernelError(E.ENOTTY, "not the caller's controlling terminal")
    tg = int(world.tasks.tg[task])
    if world.thread_groups.is_session_leader[tg]:
        disassociate(world, session_of(world, task), on_exit=False)
    world.thread_groups.tty[tg] = False


def disassociate(world, session: int, *, on_exit: bool) -> None:
    """disassociate_ctty: the session loses the console; its foreground group gets SIGHUP (and
    SIGCONT unless the leader is exiting)."""
    S = world.sessions
    if not S.console[session]:
        return
    fg = int(S.foreground[session])
    if fg >= 0 and world.process_groups.alive[fg]:
        _kill_pgrp(world, fg, SIGHUP)
        if not on_exit:
            _kill_pgrp(world, fg, SIGCONT)
    _clear_session(world, session)


def leader_exit(world, tg: int) -> None:
    """A session leader's group is dead (do_exit: group_dead && signal->leader)."""
    G = world.thread_groups
    if G.is_session_leader[tg] and G.tty[tg] and G.pgrp[tg] >= 0:
        disassociate(world, int(world.process_groups.session[int(G.pgrp[tg])]), on_exit=True)


def tpgid(world, task: int, ns: int) -> int:
    """/proc/PID/stat's tpgid: the foreground group of the process's terminal, -1 for none."""
    if not has_console(world, task):
        return -1
    fg = int(world.sessions.foreground[session_of(world, task)])
    return sessions.pgrp_id(world, fg, ns) if fg >= 0 else -1
