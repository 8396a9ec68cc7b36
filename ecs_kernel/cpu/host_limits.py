"""Limits that protect the host: how much memory the guests may make ecs-kernel hold, how many
tasks they may have, and what happens at the edge (gVisor: the sandbox's memory cgroup and
``TasksLimit``; Linux: the memory and pids cgroup controllers and the OOM killer).

- ``pids``: tasks (threads included) in the kernel, as a pids cgroup counts them: a fork or
  clone past it fails with EAGAIN (``Settings.tasks_limit``, systems/task_clone.py).
- ``memory``: bytes ecs-kernel may hold: its anonymous resident memory (guest pages it wrote,
  engines and their translated code, the kernel's own state) plus the copy-on-write snapshots'
  pages (cpu/host_pages.py), which live in the host's shared memory. Like a memory cgroup's
  ``memory.max`` it covers everything the sandbox holds, ecs-kernel's own ~60-150 MB included.
  Past it: a single private writable mapping larger than the limit fails with ENOMEM (the
  overcommit heuristic with the limit as the machine's memory), a fork whose engine would not
  fit fails with ENOMEM, and once the total is over the limit the OOM killer kills (SIGKILL) the
  process holding the most memory (:func:`oom_kill`), from the run loop, between two turns.
  :class:`MemoryWatch` (a thread) looks every :data:`WATCH_S` and stops a guest that computes
  without syscalls when it is the one to kill.
- ``tb_size``: each engine's translation buffer (cpu/platform.py ``TB_SIZE``): Unicorn's own
  default, 1 GiB of address space per engine, ends ecs-kernel with its ``exit(1)`` ("Could not
  allocate dynamic translator buffer") under an address-space limit; a fork first checks that an
  engine fits under the host's RLIMIT_AS (:meth:`HostLimits.check_engine`).

Host allocation failures (MemoryError, OSError from mmap) in guest memory become ENOMEM
(cpu/memory.py), never an internal error.
"""
from __future__ import annotations

import contextlib
import resource
import threading
import time
from dataclasses import dataclass

import numpy as np

from unicorn.unicorn_py3.unicorn import uclib

from ..abi import (SYSCTL_NR_OPEN, PAGE_SIZE, RLIM_INFINITY, RLIM_NLIMITS, RLIMIT_NOFILE,
                   SIGKILL)
from ..components import pidns, rlimits
from ..errors import E, KernelError
from ..systems import task_exit
from . import host_pages

TB_SIZE = 64 << 20
"""Bytes of each engine's translation buffer (cpu/platform.py new_engine). Unicorn's default is
1 GiB of address space per engine, which a few thousand processes cannot have; when a process's
translated code fills the buffer, QEMU flushes it and translates again. docs/measurements.md
("Guest memory") measures the sizes."""

ENGINE_RESERVE = 8 << 20  # what a new process costs before it runs (engine, tables, first pages)
WATCH_S = 0.02  # how often MemoryWatch samples
OOM_GRACE_S = 0.5  # after an OOM kill, the victim's memory has this long to go back
MIN_MEMORY = 128 << 20  # ecs-kernel itself needs about this much


def _meminfo() -> dict[str, int]:
    kb = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                kb[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return kb


def default_memory() -> int:
    """Half the host's RAM, and at most what is available now less 1 GiB (so that a guest that
    fills it leaves the host room): on this 24 GiB machine about 11 GiB."""
    m = _meminfo()
    total = m.get("MemTotal", 8 << 30)
    avail = m.get("MemAvailable", total)
    return max(MIN_MEMORY, min(total // 2, avail - (1 << 30)))


DEFAULT_PIDS = 1024  # tasks; a small guest process holds ~10 MB (an engine, its code, docs/measurements.md)


def parse_size(text: str) -> int:
    """``512M``, ``2G``, ``1.5g``, ``1048576`` (bytes; K/M/G/T binary multiples)."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = 1
    for i, suffix in enumerate("KMGT"):
        if t.endswith(suffix):
            mult = 1 << (10 * (i + 1))
            t = t[:-1]
            break
    value = float(t)
    if value <= 0:
        raise ValueError(f"not a positive size: {text}")
    return int(value * mult)


@dataclass
class HostLimits:
    memory: int | None = None  # bytes; None: no limit but the host's
    pids: int | None = None  # tasks; None: Settings.tasks_limit as it is
    tb_size: int | None = None  # bytes per engine; None: platform.TB_SIZE

    def usage(self) -> int:
        """Bytes ecs-kernel holds now: anonymous resident memory + snapshot pages."""
        try:
            with open("/proc/self/statm", "rb") as f:
                fields = f.read().split()
            resident, shared = int(fields[1]), int(fields[2])
        except (OSError, ValueError, IndexError):
            return 0
        return (resident - shared) * PAGE_SIZE + host_pages.live_bytes()

    def over(self) -> bool:
        return self.memory is not None and self.usage() > self.memory

    def check_engine(self) -> None:
        """ENOMEM unless a new process (an engine and its first pages) fits: under the memory
        limit, and under the host's RLIMIT_AS, where Unicorn would otherwise end ecs-kernel."""
        tb = self.tb_size if self.tb_size is not None else TB_SIZE
        if self.memory is not None and self.usage() + ENGINE_RESERVE > self.memory:
            raise KernelError(E.ENOMEM, "the memory limit leaves no room for another process")
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            try:
                with open("/proc/self/statm", "rb") as f:
                    vsize = int(f.read().split()[0]) * PAGE_SIZE
            except (OSError, ValueError, IndexError):
                vsize = 0
            if vsize + tb + 2 * ENGINE_RESERVE > soft:
                raise KernelError(E.ENOMEM, "the host's address-space limit leaves no room for "
                                            "another engine")


NO_LIMITS = HostLimits()
_current = NO_LIMITS


def current() -> HostLimits:
    """The limits of the run in progress (none outside ``ecs-kernel run``)."""
    return _current


@contextlib.contextmanager
def using(limits: HostLimits | None):
    global _current
    before, _current = _current, limits or NO_LIMITS
    try:
        yield _current
    finally:
        _current = before


# -- the OOM killer ----------------------------------------------------------------------------------

def oom_victim(machine) -> int:
    """The thread group the OOM killer picks (Linux oom_badness: the most resident memory; here
    the host memory behind its buffers, AddressSpace.resident_estimate; never the kernel's
    init), or -1."""
    w = machine.world
    T = w.tasks
    best, best_tg = -1, -1
    seen = set()
    init = int(w.pid_namespaces.init_task[w.index.root_pidns])
    init_tg = int(T.tg[init]) if init >= 0 else -1
    for row, task in list(machine.tasks.items()):
        if not T.alive[row]:
            continue
        tg = int(T.tg[row])
        if tg in seen or tg == init_tg or w.thread_groups.exiting[tg]:
            continue
        seen.add(tg)
        gm = machine.memory_of(row)
        if gm is None:
            continue
        score = gm.aspace.resident_estimate()
        if score > best:
            best, best_tg = score, tg
    return best_tg


def oom_kill(machine) -> int:
    """From the run loop: kill the victim with SIGKILL (Linux oom_kill_process); its thread
    group, returned (-1: nobody to kill)."""
    tg = oom_victim(machine)
    if tg >= 0:
        task_exit.kill_by_signal(machine.world, tg, SIGKILL)
        report_oom(machine, tg)
    return tg


def report_oom(machine, tg: int) -> None:
    """Linux's "Out of memory: Killed process N" line, on ecs-kernel's stderr."""
    try:
        pid = _tgid(machine, tg)
    except (IndexError, KeyError, ValueError):
        pid = -1
    print(f"ecs-kernel: out of memory (--memory {machine_limit_text()}): killed process {pid}",
          file=machine.stderr, flush=True)


def machine_limit_text() -> str:
    m = current().memory
    return "none" if m is None else f"{m >> 20}M"


def _tgid(machine, tg: int) -> int:
    w = machine.world
    return pidns.tid_in(w, int(w.thread_groups.leader[tg]), w.index.root_pidns)


class MemoryWatch:
    """While the guest runs (a ``with`` block): a thread that samples :meth:`HostLimits.usage`
    and, over the limit, asks the run loop for an OOM kill (the host-signal box's safe points,
    cpu/host_signals.py) and stops the running engine at once when its process is the victim
    (it never runs again, so the asynchronous stop is harmless)."""

    def __init__(self, machine, limits: HostLimits):
        self.machine = machine
        self.limits = limits
        self.thread = None
        self.done = threading.Event()

    def __enter__(self):
        if self.limits.memory is not None:
            self.thread = threading.Thread(target=self._watch, name="ecs-kernel memory",
                                           daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        if self.thread is not None:
            self.thread.join(timeout=1)
        return False

    def _watch(self) -> None:
        m = self.machine
        box = m.host_signals
        grace_until = 0.0
        while not self.done.wait(WATCH_S):
            if box.oom:
                grace_until = time.monotonic() + OOM_GRACE_S  # the kill is on its way
                continue
            if time.monotonic() < grace_until or not self.limits.over():
                continue
            p = m.platform
            box.post_oom(p.fastpath)
            with p.run_lock:
                if not p.running_unbounded or p.current_uch is None:
                    continue
                try:
                    victim = oom_victim(m)
                    running = int(m.world.tasks.tg[m.current])
                except (IndexError, KeyError, ValueError, RuntimeError, KernelError):
                    continue  # a torn read while the run loop changes things: next time
                if victim == running and not box.fatal:
                    box.fatal = SIGKILL  # kill_stopped ends it once the engine stops
                    box.oom_stop = True  # (and says why)
                    box.take_oom()
                    uclib.uc_emu_stop(p.current_uch)


def host_rlimits(tasks_limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The resource limits of the process that runs ecs-kernel, which a guest starts with as a
    native child inherits them (read before :func:`host_process_limits` raises our own),
    RLIMIT_NOFILE clamped to fs.nr_open (SYSCTL_NR_OPEN). A guest's tasks are bounded by the
    pids limit besides (``tasks_limit``: a fork past it is EAGAIN whatever RLIMIT_NPROC says)."""
    cur, mx = rlimits.default_limits(tasks_limit)
    for res in range(RLIM_NLIMITS):
        try:
            soft, hard = resource.getrlimit(res)
        except (ValueError, OSError):
            continue  # a resource this host's Python does not know: Linux's boot value
        c, m = (RLIM_INFINITY if v == resource.RLIM_INFINITY else v for v in (soft, hard))
        if res == RLIMIT_NOFILE:
            c, m = min(c, SYSCTL_NR_OPEN), min(m, SYSCTL_NR_OPEN)
        cur[res], mx[res] = c, m
    return cur, mx


def host_net_buffer_limits() -> dict[str, int]:
    """The host's net.core.wmem_max and rmem_max (the most SO_SNDBUF / SO_RCVBUF give), which a
    guest sees as a native program on this host would: Settings field -> value. A value the host
    does not show (no /proc, a bad number) keeps Linux's built-in one."""
    out = {}
    for name in ("wmem_max", "rmem_max"):
        try:
            with open(f"/proc/sys/net/core/{name}", "rb") as f:
                v = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if 0 < v <= 0x7FFFFFFF:  # a sysctl int
            out[name] = v
    return out


def host_process_limits() -> None:
    """Let ecs-kernel use its hard RLIMIT_NOFILE: snapshots hold a memfd each."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


__all__ = ["DEFAULT_PIDS", "HostLimits", "MemoryWatch", "current", "default_memory", "host_net_buffer_limits",
           "host_rlimits",
           "oom_kill", "parse_size", "using"]
