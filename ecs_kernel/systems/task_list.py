"""Every task of a World as ``ps -eL`` would list it: ids, state, what it waits on, signals.

Linux: fs/proc/array.c (``task_state_array``: the STAT letters) and the ``wchan`` of procps. A
:class:`TaskList` reads the columns of every live task in one vectorised pass (ids as the root PID
namespace sees them, which is what ``ps`` on the host shows); the strings of a row (its STAT, what
it waits on, its signal names, its command) are built only when a row is asked for, so a listing
of a million tasks costs a few array gathers plus the printing.

STAT is the state letter and ``ps``'s flags:

    R   running or runnable (runApp, runSyscallExit, runInterrupt, and an exit in progress)
    S   interruptible sleep: wait4/waitid, futex, nanosleep, sigsuspend, sigtimedwait, I/O, poll
    D   uninterruptible (killable) sleep: a vfork parent until its child execs or exits
    T   stopped by a group stop (job control)
    Z   zombie: exited, not yet reaped
        then ``s`` (a session leader's tasks: pid == sid), ``l`` (a multi-threaded process) and
        ``+`` (in the foreground group of its terminal: systems/tty.py).

Not modelled, so never shown: ``t`` (ptrace stop), ``<``/``N`` (nice values are kept, systems/task_sched.py, but this listing does not read them).

What a blocked task waits on (:meth:`TaskList.wchan`) is read from its request columns (the table
in task_block.py); ids in it are the root namespace's too:

    wait4(pid=N) wait4(pgid=N, WUNTRACED) wait4(any)     (WEXITED, implied by wait4, not shown)
    futex(0x7f001000) futex(0x7f001000, until 2.5s) futex_lock_pi(0x...)
    nanosleep(until 1.003s) clock_nanosleep(REALTIME|CPU, until ...)
    sigsuspend sigtimedwait(USR1,USR2[, until T])
    read(fd 3) poll(fds 3:IN,4:OUT[, until T]) epoll_wait(fds 5:IN)
    vfork(child N)  stopped (SIGSTOP)  stopped (SIGTSTP) in futex(0x...)

Times are kernel time (``world.now_ns``'s clock) in seconds. Signal sets are names without the
``SIG`` prefix (``INT,USR1``); real-time signals are ``RTMIN``, ``RTMIN+1``, ... ``RTMAX`` (the
kernel's numbering: RTMIN is 32). ``pending`` is the task's own pending set, ``shared_pending``
its process's (process-directed signals, Linux's ``ShdPnd``), ``blocked`` its signal mask.

The command is what ``cmdline(row)`` says (the guest layer reads argv from the address space),
else the task's ``comm``; a zombie is ``[comm] <defunct>`` (``cmdline``'s name when it has no
comm, as a simulation's tasks).

Reads only: no column is written.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import abi
from ..abi import NSIG, P_ALL, P_PGID, P_PID, WEXITED, WF_PI, Block, ExitState, RunState
from ..components.futex import NO_DEADLINE
from ..components.pidns import pidmap

# -- names -----------------------------------------------------------------------------------------

_STANDARD = ("HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV",
             "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN",
             "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS")


def _signal_names() -> tuple[str, ...]:
    names = [""] * (NSIG + 1)
    for name in _STANDARD:
        names[getattr(abi, "SIG" + name)] = name
    for signo in range(abi.SIGRTMIN, abi.SIGRTMAX + 1):
        names[signo] = ("RTMIN" if signo == abi.SIGRTMIN else "RTMAX" if signo == abi.SIGRTMAX
                        else f"RTMIN+{signo - abi.SIGRTMIN}")
    return tuple(names)


SIGNAL_NAMES = _signal_names()
"""``SIGNAL_NAMES[signo]``: the name without ``SIG`` (index 0 is empty)."""


@functools.lru_cache(maxsize=4096)
def signal_set_names(mask: int) -> tuple[str, ...]:
    """The names of the signals in a sigset (bit ``signo - 1``), lowest first (a listing sees
    the same few sets again and again: they are remembered)."""
    mask = int(mask)
    return tuple(SIGNAL_NAMES[s] for s in range(1, NSIG + 1) if mask >> (s - 1) & 1)


@functools.lru_cache(maxsize=4096)
def signal_set_text(mask: int) -> str:
    """``"INT,USR1"``; ``"-"`` for the empty set."""
    return ",".join(signal_set_names(mask)) or "-"


_WAIT_OPTIONS = ((abi.WNOHANG, "WNOHANG"), (abi.WUNTRACED, "WUNTRACED"),
                 (abi.WCONTINUED, "WCONTINUED"), (abi.WNOWAIT, "WNOWAIT"),
                 (abi.WNOTHREAD, "__WNOTHREAD"), (abi.WALL, "__WALL"), (abi.WCLONE, "__WCLONE"))
_POLL_EVENTS = tuple((getattr(abi, "POLL" + name), name) for name in
                     ("IN", "PRI", "OUT", "ERR", "HUP", "NVAL", "RDNORM", "RDBAND", "WRNORM", "RDHUP"))
_SYSCALLS = {getattr(abi, "NR_" + name.upper()): name for name in
             ("read", "poll", "select", "epoll_wait", "pselect6", "ppoll", "epoll_pwait",
              "epoll_pwait2")}
"""Names of the syscalls an I/O wait can be in that the ABI module numbers (a caller with the
whole syscall table passes ``syscall_name``)."""
_INTERRUPTIBLE = (Block.WAIT, Block.FUTEX, Block.SLEEP, Block.SIGSUSPEND, Block.SIGTIMEDWAIT,
                  Block.IO, Block.POLL)


def _flag_names(value: int, table) -> str:
    return "|".join(name for bit, name in table if value & bit)


def _poll_events(events: int) -> str:
    return _flag_names(events, _POLL_EVENTS) or f"{events:#x}"


def seconds(ns: int) -> str:
    """Kernel nanoseconds as seconds, no trailing zeros: ``2500000000`` is ``"2.5s"``."""
    s, f = divmod(int(ns), 1_000_000_000)
    return f"{s}.{f:09d}".rstrip("0").rstrip(".") + "s"


def _until(deadline: int | None) -> str:
    return "" if deadline is None else f", until {seconds(deadline)}"


def _deadline(v) -> int | None:
    v = int(v)
    return None if v == NO_DEADLINE else v


# -- the listing -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskRecord:
    """One task as ``ps`` shows it (ids in the root PID namespace)."""

    pid: int  # the thread group's id (tgid)
    tid: int
    ppid: int  # 0: no parent (the root namespace's init)
    pgid: int
    sid: int
    stat: str  # state letter and flags: "S", "Ss", "Rl", "T", "Z", ...
    wchan: str  # what it waits on, "-" when it does not wait
    wait: dict | None  # the same, as data (see TaskList.wait)
    pending: tuple[str, ...]  # signals pending for the task itself
    shared_pending: tuple[str, ...]  # signals pending for its whole process
    blocked: tuple[str, ...]  # its signal mask
    cmd: str
    row: int  # the task's row in the World (not a stable name: rows are reused)

    def to_json(self) -> dict:
        """The fields of :data:`JSON_FIELDS` (signal sets as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in ((k, getattr(self, k)) for k in JSON_FIELDS)}


JSON_FIELDS = ("pid", "tid", "ppid", "pgid", "sid", "stat", "wchan", "wait", "pending",
               "shared_pending", "blocked", "cmd")
"""A record's fields as ``ps --json`` writes them, in order (``row`` is not one: rows are reused)."""


class TaskList:
    """The live tasks of a World, one entry per task, ordered by (pid, tid).

    The numeric columns are arrays (``pid``, ``tid``, ``ppid``, ``pgid``, ``sid``, ``state``: the
    STAT letter as one byte, ``pending``, ``shared_pending``, ``blocked``: uint64 sigsets, ``row``);
    :meth:`stat`, :meth:`wchan`, :meth:`wait`, :meth:`cmd` and :meth:`record` build entry ``i``'s
    strings. Built by :func:`task_list`; it reads the World while it is built and, for the rare
    kinds of wait, when :meth:`wait` is asked (a wait4's ids in the namespace maps, the io_waits
    rows): list a World before it runs on.
    """

    def __init__(self, world, rows: np.ndarray, cmdline: Callable[[int], str | None] | None,
                 syscall_name: Callable[[int], str | None] | None):
        T, G = world.tasks, world.thread_groups
        P, S = world.process_groups, world.sessions
        self._world = world
        self._cmdline = cmdline
        self._syscall_name = syscall_name
        tg = _follow(T.tg, rows, G, "thread group")
        leader = _follow(G.leader, tg, T, "leader")
        self.tid = T.tids[rows, 0].astype(np.int64)
        self.pid = T.tids[leader, 0].astype(np.int64)
        order = np.lexsort((self.tid, self.pid))
        rows, tg, leader = rows[order], tg[order], leader[order]
        self.row = rows
        self.tid, self.pid = self.tid[order], self.pid[order]
        par = T.parent[leader]
        has = par >= 0
        par_leader = G.leader[_follow(T.tg, _follow(T.parent, leader[has], T, "parent"), G,
                                      "thread group")]
        self.ppid = np.zeros(len(rows), np.int64)
        self.ppid[has] = T.tids[par_leader, 0]
        pg = _follow(G.pgrp, tg, P, "process group")
        self._pg_of = pg
        self.pgid = P.ids[pg, 0].astype(np.int64)
        sess = _follow(P.session, pg, S, "session")
        self.sid = S.ids[sess, 0].astype(np.int64)
        self.foreground = G.tty[tg] & (S.foreground[sess] == pg)

        run, block = T.run_state[rows], T.block[rows]
        is_blocked = run == RunState.blocked
        self.block = np.where(is_blocked, block, Block.NONE).astype(np.uint8)
        # what a group stop interrupted (Block.NONE: the task was running)
        self.inner = np.where(self.block == Block.STOPPED, T.stop_block[rows], self.block).astype(np.uint8)
        zombie = T.exit_state[rows] == ExitState.ZOMBIE
        state = np.full(len(rows), ord("R"), np.uint8)
        state[is_blocked & np.isin(block, _INTERRUPTIBLE)] = ord("S")
        state[is_blocked & ((block == Block.VFORK) | (block == Block.EXEC))] = ord("D")
        state[is_blocked & (block == Block.STOPPED)] = ord("T")
        state[is_blocked & (block == Block.PTRACE)] = ord("t")  # a ptrace stop
        state[zombie] = ord("Z")
        self.state = state
        self.session_leader = self.pid == self.sid
        self.multithreaded = G.tasks_count[tg] > 1
        self.zombie = zombie

        self.pending = T.sig_pending[rows].copy()
        self.shared_pending = G.group_pending[tg].copy()
        self.blocked = T.sig_mask[rows].copy()
        self._comm = T.comm[rows].copy()
        self._stop_signal = G.stop_signal[tg].copy()
        self._requests(world)

    def _requests(self, world) -> None:
        """Gather each waiting task's request columns (one array per field, all entries)."""
        T, rows, inner = world.tasks, self.row, self.inner
        self._ns = T.ns[rows].copy()
        self._wait_idtype = T.wait_idtype[rows].copy()
        self._wait_id = T.wait_id[rows].copy()
        self._wait_options = T.wait_options[rows].copy()
        W = world.futex_waiters
        w = np.where(inner == Block.FUTEX, T.futex_waiter[rows], -1)
        mine = np.flatnonzero(w >= 0)
        self._futex_waiter = w
        self._futex_uaddr = np.zeros(len(rows), np.uint64)
        self._futex_deadline = np.full(len(rows), NO_DEADLINE, np.int64)
        self._futex_flags = np.zeros(len(rows), np.uint8)
        self._futex_uaddr[mine] = W.uaddr[w[mine]]
        self._futex_deadline[mine] = W.deadline[w[mine]]
        self._futex_flags[mine] = W.flags[w[mine]]
        self._sleep_base = T.sleep_base[rows].copy()
        self._sleep_deadline = T.sleep_deadline[rows].copy()
        self._sig_wait_set = T.sig_wait_set[rows].copy()
        self._sig_deadline = T.sig_deadline[rows].copy()
        # I/O waits and vfork children are few: maps from task row
        self._io: dict[int, list[int]] = {}
        IW = world.io_waits
        if IW.count:
            live = IW.live_rows()
            for r, t in zip(live.tolist(), IW.iw_task[live].tolist()):
                self._io.setdefault(t, []).append(r)
        n = T.n
        kids = np.flatnonzero(T.alive[:n] & (T.vfork_parent[:n] >= 0))
        self._vfork_child = {int(T.vfork_parent[k]): int(T.tids[k, 0]) for k in kids.tolist()}

    def __len__(self) -> int:
        return len(self.row)

    def __iter__(self):
        """Every entry's :class:`TaskRecord`, in order (built from the whole-list forms)."""
        stats, wchans, waits, cmds = self.stats(), self.wchans(), self.waits(), self.cmds()
        sets = [self.set_names(m) for m in (self.pending, self.shared_pending, self.blocked)]
        ids = [a.tolist() for a in (self.pid, self.tid, self.ppid, self.pgid, self.sid, self.row)]
        for i in range(len(self.row)):
            yield TaskRecord(ids[0][i], ids[1][i], ids[2][i], ids[3][i], ids[4][i], stats[i],
                             wchans[i], waits[i], sets[0][i], sets[1][i], sets[2][i], cmds[i],
                             ids[5][i])

    def only(self, keep: np.ndarray) -> TaskList:
        """The entries where boolean array ``keep`` is true (same order)."""
        out = TaskList.__new__(TaskList)
        for k, v in vars(self).items():
            setattr(out, k, v[keep] if isinstance(v, np.ndarray) and len(v) == len(keep) else v)
        return out

    # -- one entry's strings -------------------------------------------------------------------
    def stat(self, i: int) -> str:
        return _stat_text(int(self.state[i]), bool(self.session_leader[i]),
                          bool(self.multithreaded[i]), bool(self.foreground[i]))

    def cmd(self, i: int) -> str:
        comm = self._comm[i].decode("utf-8", "replace")
        row = int(self.row[i])
        if self.zombie[i]:
            return _defunct(comm or (self._cmdline(row) if self._cmdline is not None else None))
        if self._cmdline is not None:
            c = self._cmdline(row)
            if c is not None:
                return c
        return comm or "-"

    def wait(self, i: int) -> dict | None:
        """What entry ``i`` waits on, as data: ``{"call": ..., ...}`` or None (not waiting).
        Deadlines are kernel ns (``deadline_ns``), ids the root namespace's."""
        b = int(self.block[i])
        if b == Block.NONE:
            return None
        if b == Block.STOPPED:
            sig = int(self._stop_signal[i])
            return {"call": "stopped", "signal": SIGNAL_NAMES[sig] if 0 < sig <= NSIG else None,
                    "in": self._request(i, int(self.inner[i]))}
        return self._request(i, b)

    def _request(self, i: int, b: int) -> dict | None:
        if b == Block.NONE:
            return None
        if b == Block.WAIT:
            return self._wait4(i)
        if b == Block.FUTEX:
            if self._futex_waiter[i] < 0:
                return {"call": "futex", "uaddr": None, "deadline_ns": None}
            pi = bool(self._futex_flags[i] & WF_PI)
            return {"call": "futex_lock_pi" if pi else "futex", "uaddr": int(self._futex_uaddr[i]),
                    "deadline_ns": _deadline(self._futex_deadline[i])}
        if b == Block.SLEEP:
            base = int(self._sleep_base[i])
            mono = base == abi.BASE_MONO
            clock = "monotonic" if mono else "realtime" if base == abi.BASE_REAL else "cpu"
            return {"call": "nanosleep" if mono else "clock_nanosleep", "clock": clock,
                    "deadline_ns": int(self._sleep_deadline[i])}
        if b == Block.SIGSUSPEND:
            return {"call": "sigsuspend"}
        if b == Block.SIGTIMEDWAIT:
            d = int(self._sig_deadline[i])
            return {"call": "sigtimedwait", "set": list(signal_set_names(int(self._sig_wait_set[i]))),
                    "deadline_ns": None if d < 0 else d}
        if b in (Block.IO, Block.POLL):
            return self._io_wait(i, b)
        if b == Block.VFORK:
            return {"call": "vfork", "child": self._vfork_child.get(int(self.row[i]))}
        if b == Block.PTRACE:
            T = self._world.tasks
            r = int(self.row[i])
            return {"call": "ptrace stop", "tracer": int(T.tids[int(T.ptracer[r]), 0])
                    if T.ptracer[r] >= 0 else None, "report": int(T.ptrace_code[r])}
        return {"call": f"block {b}"}

    def _wait4(self, i: int) -> dict:
        idtype, wid = int(self._wait_idtype[i]), int(self._wait_id[i])
        opts = int(self._wait_options[i])
        out = {"call": "wait4", "options": opts}
        if idtype == P_ALL:
            return {**out, "idtype": "any", "id": None}
        pm = pidmap(self._world, int(self._ns[i]))
        P = self._world.process_groups
        if idtype == P_PID:
            r = pm.lookup("task", wid)
            return {**out, "idtype": "pid", "id": int(self._world.tasks.tids[r, 0]) if r >= 0 else None}
        if idtype == P_PGID:
            g = int(self._pg_of[i]) if wid == 0 else pm.lookup("pgrp", wid)  # 0: the caller's group
            return {**out, "idtype": "pgid", "id": int(P.ids[g, 0]) if g >= 0 else None}
        return {**out, "idtype": str(idtype), "id": wid}

    def _io_wait(self, i: int, b: int) -> dict:
        IW = self._world.io_waits
        mine = self._io.get(int(self.row[i]), [])
        nr = int(IW.iw_nr[mine[0]]) if mine else -1
        name = (self._syscall_name(nr) if self._syscall_name is not None else None) \
            or _SYSCALLS.get(nr) or (f"syscall {nr}" if nr >= 0 else "io")
        fds = [[int(IW.iw_fd[r]), int(IW.iw_events[r])] for r in mine if IW.iw_fd[r] >= 0]
        return {"call": name, "poll": b == Block.POLL, "fds": fds,
                "deadline_ns": _deadline(IW.iw_deadline[mine[0]]) if mine else None}

    def wchan(self, i: int) -> str:
        """What entry ``i`` waits on, as text (the module's table); ``"-"`` when it does not."""
        if self.block[i] == Block.NONE:
            return "-"
        return wait_text(self.wait(i))

    # -- every entry's strings at once (a listing of a million tasks) ------------------------------
    # Each gives what the one-entry form gives, for all entries: the same few values (STAT
    # strings, signal sets, names) are built once and shared; only waiting tasks cost a call.

    def stats(self) -> list[str]:
        code = ((self.state.astype(np.int32) << 3) | (self.session_leader << 2)
                | (self.multithreaded << 1) | self.foreground)
        return _expand(code, lambda c: _stat_text(c >> 3, c >> 2 & 1, c >> 1 & 1, c & 1))

    def set_names(self, masks: np.ndarray) -> list[tuple[str, ...]]:
        """Signal names of each entry of ``masks`` (one of the sigset arrays)."""
        return _expand(masks, signal_set_names)

    def set_texts(self, masks: np.ndarray) -> list[str]:
        return _expand(masks, signal_set_text)

    def _bulk(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Entries waiting on a plain futex, in a monotonic nanosleep (the kinds a simulation
        holds by the hundred thousand, formatted from whole columns), and the other waiting ones."""
        waiting = self.block != Block.NONE
        futex = waiting & (self.block == Block.FUTEX) & (self._futex_waiter >= 0) \
            & ((self._futex_flags & WF_PI) == 0)
        sleep = waiting & (self.block == Block.SLEEP) & (self._sleep_base == abi.BASE_MONO)
        return np.flatnonzero(futex), np.flatnonzero(sleep), np.flatnonzero(waiting & ~futex & ~sleep)

    def waits(self) -> list[dict | None]:
        out: list[dict | None] = [None] * len(self.row)
        futex, sleep, rest = self._bulk()
        for i, a, d in zip(futex.tolist(), self._futex_uaddr[futex].tolist(),
                           self._futex_deadline[futex].tolist()):
            out[i] = {"call": "futex", "uaddr": a, "deadline_ns": None if d == NO_DEADLINE else d}
        for i, d in zip(sleep.tolist(), self._sleep_deadline[sleep].tolist()):
            out[i] = {"call": "nanosleep", "clock": "monotonic", "deadline_ns": d}
        for i in rest.tolist():
            out[i] = self.wait(i)
        return out

    def wchans(self) -> list[str]:
        out = ["-"] * len(self.row)
        futex, sleep, rest = self._bulk()
        for i, a, d in zip(futex.tolist(), self._futex_uaddr[futex].tolist(),
                           self._futex_deadline[futex].tolist()):
            out[i] = f"futex({a:#x})" if d == NO_DEADLINE else f"futex({a:#x}, until {seconds(d)})"
        for i, d in zip(sleep.tolist(), self._sleep_deadline[sleep].tolist()):
            out[i] = f"nanosleep(until {seconds(d)})"
        for i in rest.tolist():
            out[i] = wait_text(self.wait(i))
        return out

    def cmds(self) -> list[str]:
        names: dict[bytes, str] = {}
        comms = [names[c] if c in names else names.setdefault(c, c.decode("utf-8", "replace"))
                 for c in self._comm.tolist()]
        if self._cmdline is None:
            given = [None] * len(comms)
        else:
            cmdline = self._cmdline
            given = [cmdline(r) for r in self.row.tolist()]
        out = [(c or "-") if g is None else g for g, c in zip(given, comms)]
        for i in np.flatnonzero(self.zombie).tolist():
            out[i] = _defunct(comms[i] or given[i])
        return out

    def record(self, i: int) -> TaskRecord:
        wait = self.wait(i)
        return TaskRecord(int(self.pid[i]), int(self.tid[i]), int(self.ppid[i]), int(self.pgid[i]),
                          int(self.sid[i]), self.stat(i), wait_text(wait), wait,
                          signal_set_names(int(self.pending[i])),
                          signal_set_names(int(self.shared_pending[i])),
                          signal_set_names(int(self.blocked[i])), self.cmd(i), int(self.row[i]))


def _expand(values: np.ndarray, fn) -> list:
    """``[fn(v) for v in values]``, calling ``fn`` once per distinct value."""
    uniq, inv = np.unique(values, return_inverse=True)
    made = [fn(int(v)) for v in uniq.tolist()]
    return [made[j] for j in inv.ravel().tolist()]


def _follow(column: np.ndarray, rows: np.ndarray, table, what: str) -> np.ndarray:
    """``column[rows]``, each a live row of ``table``: a checkpoint whose references do not hold
    (right digests, forged content) gets a ValueError rather than rows read at random (a negative
    index would read the end of the array)."""
    to = column[rows]
    ok = (to >= 0) & (to < table.n)
    ok[ok] = table.alive[to[ok]]
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"the {what} of row {int(rows[i])} ({int(to[i])}) is not a live "
                         f"{table.kind} row")
    return to


def _defunct(name: str | None) -> str:
    return f"[{name}] <defunct>" if name else "<defunct>"


def _stat_text(state: int, session_leader: int, multithreaded: int, foreground: int = 0) -> str:
    s = chr(state)
    if s == "Z":
        return s
    return (s + ("s" if session_leader else "") + ("l" if multithreaded else "")
            + ("+" if foreground else ""))


def wait_text(wait: dict | None) -> str:
    """:meth:`TaskList.wait`'s data as the WCHAN text."""
    if wait is None:
        return "-"
    call = wait["call"]
    if call == "stopped":
        inner = wait["in"]
        text = f"stopped (SIG{wait['signal']})" if wait["signal"] else "stopped"
        return text if inner is None else f"{text} in {wait_text(inner)}"
    if call == "wait4":
        who = "any" if wait["idtype"] == "any" else f"{wait['idtype']}={wait['id']}"
        opts = _flag_names(wait["options"] & ~WEXITED, _WAIT_OPTIONS)
        return f"wait4({who}, {opts})" if opts else f"wait4({who})"
    if call in ("futex", "futex_lock_pi"):
        if wait["uaddr"] is None:
            return call
        return f"{call}({wait['uaddr']:#x}{_until(wait['deadline_ns'])})"
    if call in ("nanosleep", "clock_nanosleep"):
        clock = "" if wait["clock"] == "monotonic" else wait["clock"].upper() + ", "
        return f"{call}({clock}until {seconds(wait['deadline_ns'])})"
    if call == "sigsuspend":
        return "sigsuspend"
    if call == "sigtimedwait":
        return f"sigtimedwait({','.join(wait['set']) or '-'}{_until(wait['deadline_ns'])})"
    if call == "vfork":
        return "vfork" if wait["child"] is None else f"vfork(child {wait['child']})"
    if "fds" in wait:
        fds = wait["fds"]
        until = _until(wait["deadline_ns"])
        if not wait["poll"] and len(fds) == 1:
            return f"{call}(fd {fds[0][0]}{until})"
        if not fds:
            return f"{call}({until[2:]})"
        listed = ",".join(f"{fd}:{_poll_events(ev)}" for fd, ev in fds)
        return f"{call}(fds {listed}{until})"
    return call


def task_list(world, cmdline: Callable[[int], str | None] | None = None,
              syscall_name: Callable[[int], str | None] | None = None) -> TaskList:
    """Every live task of ``world`` (zombies included), ordered by (pid, tid).

    ``cmdline(row)`` gives a task's command line (a guest's argv), or None for the ``comm``
    column; ``syscall_name(nr)`` names the syscall an I/O wait is in (default: the few the ABI
    module names, else ``syscall N``)."""
    T = world.tasks
    n = T.n
    rows = np.flatnonzero(T.alive[:n] & (T.exit_state[:n] != ExitState.DEAD))
    return TaskList(world, rows, cmdline, syscall_name)


__all__ = ["JSON_FIELDS", "SIGNAL_NAMES", "TaskList", "TaskRecord", "seconds", "signal_set_names",
           "signal_set_text", "task_list", "wait_text"]
