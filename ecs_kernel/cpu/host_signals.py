"""Host signals reach the guest: what a terminal does for the job in its foreground.

SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH sent to the ecs-kernel process
while a guest runs are sent by the kernel to the guest's *foreground process group*: the process
group ``ecs-kernel run`` started the program in (a shell's job), or the one the guest made the
terminal's foreground if the session names one (``sessions.foreground``, tcsetpgrp). The guests'
own dispositions then apply: a handler runs and the program goes on, a default action kills, stops
or ignores (SIGWINCH), blocked signals stay pending, a blocked syscall is interrupted as by any
kernel signal (EINTR or a restart, systems/task_signals.interrupt_syscall). A second SIGINT within
:data:`DOUBLE_SIGINT_S` of the previous one stops ecs-kernel itself (one line on stderr, every
guest dies of SIGINT: status 130), so a guest that ignores SIGINT still yields to the keyboard.

The siginfo: SI_USER with si_pid 0 and si_uid 0, what a process gets from kill(2) by a sender
outside its PID namespace, and what runsc gives the signals it forwards to a sandbox. ecs-kernel
cannot tell a terminal's Ctrl-C (SI_KERNEL natively) from someone's ``kill``, and "sent by a
process outside the sandbox" is true of both.

Data, not a second thread in the kernel: the host's signal handler only writes the number to a
pipe (``signal.set_wakeup_fd``); a helper thread reads it and posts it in the Machine's
:class:`HostSignalBox` (a list under a lock) and asks the running guest to stop at a safe point.
Only the run loop, between two turns, takes the box and sends the signals
(:func:`deliver`). The safe points (DESIGN.md: an engine stopped asynchronously re-executes an
instruction, so a task that runs on may be stopped only from inside a hook or at a quantum's end):

- blocked tasks: the run loop's idle wait watches the box's wake pipe;
- a syscall: the Python hook stops the engine after the call (``Machine.after_syscall``), and
  the compiled fast path sends every call to Python while ``C_HOST_SIGNAL`` is set;
- a task running in quanta (a timer armed, another task runnable): the quantum's end;
- a task computing without syscalls and without quanta: if the signal's default action kills its
  thread group, the helper thread stops the engine at once (:meth:`HostSignalForwarder.poke`) and
  the run loop ends that group with the signal (:func:`kill_stopped`): the re-executed
  instruction never matters, and a fatal signal kills at send time on Linux too
  (complete_signal). Otherwise (it has a handler, or blocks or ignores the signal) the signal
  waits for the task's next syscall or quantum: a compute loop that makes neither never sees it
  (a second SIGINT still ends the run). The handler then runs at that syscall's return, which
  may be the last step before a sleep that looks at no flag: Python's time.sleep calls
  clock_gettime, then clock_nanosleep, and a SIGINT that arrives while it computes just before
  is taken at the clock_gettime, so KeyboardInterrupt comes when the sleep ends (natively the
  same window is nanoseconds wide).
"""
from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time

from unicorn.unicorn_py3.unicorn import uclib

from ..abi import SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH
from ..components import pidns
from ..jit.fastpath.layout import C_HOST_SIGNAL
from ..systems import sessions, task_exit, task_signals
from . import host_limits

FORWARDED = (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH)
DOUBLE_SIGINT_S = 1.0  # a second SIGINT this soon after the previous one stops ecs-kernel
RETRY_S = 0.02  # while a signal waits, the helper thread asks for a stop again this often


class HostSignalBox:
    """Host signals on their way to the guest: posted by the helper thread, taken by the run loop.

    ``pending`` is read without the lock (by the syscall hook, once per Python syscall): a hint
    that the run loop must look. ``fatal`` is a signal the helper thread stopped the running task
    for (it dies of it); it is set only under ``Platform.run_lock`` while the task runs without
    quanta, so once ``Platform.run`` has returned it is final for that run. ``job_pgid`` is the
    foreground job's process group id in the root PID namespace."""

    def __init__(self):
        self._lock = threading.Lock()
        self._signals: list[int] = []
        self.pending = False
        self.fatal = 0
        self.job_pgid = 0
        self.checkpoint_requested = False  # run --checkpoint-on's signal came (not the guest's)
        self.oom = False  # the memory watch asks for an OOM kill (cpu/host_limits.py)
        self.oom_stop = False  # ``fatal`` is the OOM killer's SIGKILL
        self.wake_r = self.wake_w = -1  # a pipe that ends the run loop's idle wait

    @property
    def wake_fds(self) -> list[int]:
        return [self.wake_r] if self.wake_r >= 0 else []

    def post(self, signo: int, fastpath) -> None:
        """From the helper thread: ``signo`` arrived."""
        with self._lock:
            self._signals.append(signo)
            self.pending = True
            self._mark(fastpath)
        self.wake()

    def request_checkpoint(self, fastpath) -> None:
        """From the helper thread: the host asked for a checkpoint. The run loop takes it at the
        next safe point, as it takes a signal (``pending`` brings it there)."""
        with self._lock:
            self.checkpoint_requested = True
            self.pending = True
            self._mark(fastpath)
        self.wake()

    def post_oom(self, fastpath) -> None:
        """From the memory watch: ecs-kernel holds more than ``run --memory``; the run loop
        OOM-kills at the next safe point, as it sends a signal."""
        with self._lock:
            self.oom = True
            self.pending = True
            self._mark(fastpath)
        self.wake()

    def take_oom(self) -> bool:
        with self._lock:
            oom, self.oom = self.oom, False
        return oom

    def mark(self, fastpath) -> None:
        """From the helper thread: (again) send the compiled hook's calls to Python while a signal
        waits (the hook may have been installed since the signal came)."""
        with self._lock:
            self._mark(fastpath)

    def _mark(self, fastpath) -> None:
        if self.pending and fastpath is not None:
            fastpath.ctl[C_HOST_SIGNAL] = 1

    def wake(self) -> None:
        if self.wake_w >= 0:
            try:
                os.write(self.wake_w, b"\0")
            except (BlockingIOError, OSError):
                pass  # full: the run loop will wake anyway; closed: the run is over

    def drain(self) -> None:
        """From the run loop after an idle wait: empty the wake pipe."""
        if self.wake_r >= 0:
            try:
                while os.read(self.wake_r, 256):
                    pass
            except (BlockingIOError, OSError):
                pass

    def take(self, fastpath) -> list[int]:
        """From the run loop: the signals that came, in order (the box is then empty)."""
        with self._lock:
            signals, self._signals = self._signals, []
            self.pending = False
            if fastpath is not None:
                fastpath.ctl[C_HOST_SIGNAL] = 0
        return signals

    def peek(self) -> list[int]:
        with self._lock:
            return list(self._signals)

    def open_wake_pipe(self) -> None:
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def close_wake_pipe(self) -> None:
        for fd in (self.wake_r, self.wake_w):
            if fd >= 0:
                os.close(fd)
        self.wake_r = self.wake_w = -1


# -- the run loop's side (main thread) ---------------------------------------------------------------

def foreground_pgrp(world, job_pgid: int) -> int:
    """The process-group row of the foreground job: the session's foreground group if one was set
    (tcsetpgrp), else the group ``job_pgid``; -1 when it is gone (nobody receives the signal)."""
    P, S = world.process_groups, world.sessions
    pg = pidns.pidmap(world, world.index.root_pidns).lookup("pgrp", job_pgid)
    if pg < 0 or not P.alive[pg]:
        return -1
    fg = int(S.foreground[int(P.session[pg])])
    return fg if fg >= 0 and P.alive[fg] else pg


def deliver(machine) -> None:
    """Between two turns of the run loop: send what the host sent to the foreground job."""
    box = machine.host_signals
    w = machine.world
    if box.oom and box.take_oom():
        # engines parked for recycling go first: the memory may then be under the limit
        pool = machine.platform.engine_pool
        if not pool.drain() or host_limits.current().over():
            host_limits.oom_kill(machine)
    for signo in box.take(machine.platform.fastpath):
        pg = foreground_pgrp(w, box.job_pgid)
        if pg >= 0:
            task_signals.kill_pgrp_from_outside(w, pg, signo)


def kill_stopped(machine, row: int) -> bool:
    """After a run of ``row``: if the helper thread stopped it from outside (``box.fatal``), its
    thread group dies of that signal now, even if it changed its mind since (a handler installed
    by a syscall the engine was in): the signal arrived when its default action still killed.
    Returns True if so."""
    box = machine.host_signals
    signo, box.fatal = box.fatal, 0
    oom, box.oom_stop = box.oom_stop, False
    if not signo:
        return False
    w = machine.world
    tg = int(w.tasks.tg[row])
    if not w.thread_groups.exiting[tg]:
        task_exit.kill_by_signal(w, tg, signo)
        if oom:
            host_limits.report_oom(machine, tg)
    return True


# -- the host's side (the helper thread) -------------------------------------------------------------

class HostSignalForwarder:
    """While the guest runs (a ``with`` block in the main thread): the host's signals of
    :data:`FORWARDED` go to :attr:`Machine.host_signals` instead of ecs-kernel. A signal the host
    ignored when we started (``nohup``, a shell's background job) stays ignored."""

    def __init__(self, machine, stderr=None, checkpoint_on: int | None = None):
        self.machine = machine
        self.checkpoint_on = checkpoint_on  # this signal asks for a checkpoint instead
        self.box = machine.host_signals
        self.stderr = stderr or sys.stderr
        self.active = False
        self.last_sigint = None
        self.stopped = False  # a second SIGINT stopped everything: later signals change nothing

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        m = self.machine
        w = m.world
        row = m.main_row if m.main_row >= 0 else m.current
        pg = int(w.thread_groups.pgrp[int(w.tasks.tg[row])])
        self.box.job_pgid = sessions.pgrp_id(w, pg, w.index.root_pidns)
        self.box.open_wake_pipe()
        self.r, self.w = os.pipe()
        os.set_blocking(self.w, False)
        self.old_fd = signal.set_wakeup_fd(self.w, warn_on_full_buffer=False)
        self.old = {}
        for sig in FORWARDED:
            if signal.getsignal(sig) == signal.SIG_IGN:
                continue
            self.old[sig] = signal.signal(sig, _noted)
        if self.checkpoint_on is not None and self.checkpoint_on not in self.old:
            self.old[self.checkpoint_on] = signal.signal(self.checkpoint_on, _noted)
        self.thread = threading.Thread(target=self._watch, name="ecs-kernel host signals",
                                       daemon=True)
        self.thread.start()
        self.active = True
        return self

    def __exit__(self, *exc):
        if not self.active:
            return False
        signal.set_wakeup_fd(self.old_fd)
        for sig, h in self.old.items():
            signal.signal(sig, h)
        os.close(self.w)  # the thread reads end-of-file and returns
        self.thread.join(timeout=1)
        if not self.thread.is_alive():  # (else it may still write to them: left open)
            os.close(self.r)
            self.box.close_wake_pipe()
        self.active = False
        return False

    def _watch(self) -> None:
        while True:
            timeout = RETRY_S if self.box.pending else None
            try:
                ready, _, _ = select.select([self.r], [], [], timeout)
                data = os.read(self.r, 64) if ready else b""
            except OSError:
                return
            if ready and not data:
                return
            for signo in data:
                if signo in self.old:
                    self.arrived(signo)
            if self.box.pending:
                self.poke()

    def arrived(self, signo: int) -> None:
        """The host sent ``signo``: post it (or, for a second SIGINT within a second, stop)."""
        if self.stopped:
            return
        if signo == self.checkpoint_on:
            self.box.request_checkpoint(self.machine.platform.fastpath)
            return
        if signo == SIGINT:
            now = time.monotonic()
            if self.last_sigint is not None and now - self.last_sigint < DOUBLE_SIGINT_S:
                self.stopped = True
                print("ecs-kernel: interrupted", file=self.stderr, flush=True)
                self.machine.interrupt(SIGINT)
                return
            self.last_sigint = now
        self.box.post(signo, self.machine.platform.fastpath)

    def poke(self) -> None:
        """Ask the running guest to stop where it safely can (the module's safe points); a task
        computing without quanta whose group a waiting signal kills is stopped at once."""
        m, box = self.machine, self.box
        p = m.platform
        box.mark(p.fastpath)
        with p.run_lock:
            if not p.running_unbounded or p.current_uch is None:
                return
            if not box.fatal:
                box.fatal = self._fatal_to_current()
                if not box.fatal:
                    return
            # An asynchronous stop may re-execute an instruction: harmless, the task never runs
            # again (kill_stopped). Repeated while the signal waits: a stop that comes before
            # emu_start has begun is lost.
            uclib.uc_emu_stop(p.current_uch)

    def _fatal_to_current(self) -> int:
        """A waiting signal whose default action kills the running task's process, if it is in
        the foreground job; else 0. Called under ``run_lock`` while the task runs without
        quanta, so the run loop is inside Platform.run of ``machine.current``; a syscall
        handler may run in Python meanwhile, so what we read may be a moment old (kill_stopped
        makes it the truth), or torn: then 0, the conservative answer."""
        m = self.machine
        w = m.world
        try:
            row = m.current
            pg = foreground_pgrp(w, self.box.job_pgid)
            if pg < 0 or int(w.thread_groups.pgrp[int(w.tasks.tg[row])]) != pg:
                return 0
            for signo in self.box.peek():
                if task_signals.default_action_kills(w, row, signo):
                    return signo
        except (IndexError, KeyError, ValueError):
            pass
        return 0


def _noted(signo, frame) -> None:
    """The Python-level handler: the number already went through the wakeup fd."""


__all__ = ["DOUBLE_SIGINT_S", "FORWARDED", "HostSignalBox", "HostSignalForwarder", "deliver",
           "foreground_pgrp", "kill_stopped"]
