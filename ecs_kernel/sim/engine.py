"""The simulation engine: synthetic tasks whose CPU is a small program in arrays.

A synthetic task is a task like any other: it is created by clone, has the same components
(tasks, thread groups, signal columns, futex waiter rows, timers, CPU clocks) and is moved by the
same systems. Only its CPU differs: instead of a Unicorn context it has a few columns
(``SimTask``: program, pc, compute budget, loop counter, RNG counter) and a system in the RUN
phase, :func:`sim_run_system`, that runs every program for one tick:

1. a task whose caught signal was delivered (``handling``) runs its handler: the synthetic
   handler does nothing but return, so the kernel's rt_sigreturn bookkeeping runs (frames pop,
   masks come back);
2. the interpreter kernel (jit/sim.py) advances every program: compute ticks, loops, and at most
   one syscall per task per tick, written as request rows;
3. the requests are served by op class, in this order, each class in task-row order::

       sigaction, sigprocmask, kill/tgkill, futex (futex_wait, futex_wake, lock, unlock),
       nanosleep/setitimer, clone, exit/exit_group, wait

   by the same kernel calls guests use (systems/task_signals, systems/futex, systems/timers,
   systems/task_clone, systems/task_exit, systems/task_wait), except kill/tgkill, which are
   posted as mail and sent after the tick's last phase in the order of the senders' keys
   (sim/mail.py: :meth:`Simulation.begin` runs the phases and returns the mail,
   :meth:`Simulation.finish` sends it and counts; a sharded run, cluster/shards.py, routes the
   mail between the two). ``batched=True`` (the default)
   serves each class with the batched form of those calls, which lives beside its scalar twin
   in systems/ (sim/batch.py drives them: signals_batch.sigaction_many,
   task_signals.sigprocmask_many, the futex steps over jit/futex_batch's calls through
   futex.on_shared_words, timers.nanosleep_many, task_clone.clone_many, task_exit.exit_many,
   task_wait.wait4_many), returns handlers with the numba rt_sigreturn kernel, and lets the
   signal system deliver with its numba pass; each falls back to the scalar call for the rare
   cases it does not cover. ``batched=False`` calls the scalar handlers once per request
   (sim/requests.serve_one) and delivers with the Python get_signal loop: the differential
   tests hold the two to the same state and counters. Either way the engine itself writes only
   its own columns (SimTask) and the programs' shared words: kernel state moves in systems/.

A blocking syscall (futex_wait, lock, nanosleep, wait) leaves the task ``blocked`` on the step;
when a system or a wake moves it to runSyscallExit, the program goes on (or retries: a lock is
retried after every wake, a syscall that returned -ERESTARTSYS is restarted).

CPU time: a compute tick charges ``tick_ns`` of user time, a syscall tick ``tick_ns`` of system
time, through the CPU clock stage (``cpu_used_user_ns``/``cpu_used_sys_ns``) the accounting
system folds.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

import numpy as np

from .. import checkpoint_file
from ..abi import SIG_IGN, SIGCHLD
from ..checkpoint_file import CheckpointError
from ..checkpoint_objects import StateWriter, state_class
from ..components import signals as S
from ..jit import sim as K
from ..kernel import new_world
from ..schedule import Phase, SanityError, system
from ..systems import futex as futex_sys
from ..systems import task_clone, task_signals
from ..systems.signals_batch import sigreturn_many
from ..world import Column, Component, Settings, World, WorldReader
from . import batch, invariants, mail
from . import spec as specmod
from .mail import MAIL
from .report import CounterRecorder
from .requests import SEGMENT_ADDR, THREAD_FLAGS, Requests, serve_one

SimTask = Component("SimTask", "tasks", {
    "sim_prog": Column(np.int8, -1),  # program index, -1: not a synthetic task
    "sim_pc": Column(np.int32, 0),  # absolute step index (SimState.step_*)
    "sim_budget": Column(np.int32, 0),  # compute ticks left in the current compute step
    "sim_loop": Column(np.int32, 0),  # iterations left in the current counted loop
    "sim_rng": Column(np.uint32, 0),  # draws made so far (the counter of the counter-based RNG)
    # the RNG key: the task's identity across shards (initial task j: j; a clone: jit/sim.child_key
    # of its parent's key and clone count), never its row, which differs between shards
    "sim_key": Column(np.uint64, 0),
    "sim_clones": Column(np.uint32, 0),  # clones made so far (the child_key counter)
}, doc="A synthetic task's CPU: its program, pc, compute budget, loop counter, RNG counter and key.")



COUNTERS = (
    "running", "blocked", "stopped", "zombie", "tasks_alive",
    "signals_sent", "signals_delivered", "signals_dropped",
    "futex_waits", "futex_wakes", "group_stops", "zombies", "reaped", "cpu_time_ns",
    "syscalls", "syscall_errors", "clones", "exits", "compute_ticks",
)
"""Per-tick counters, in this order. Gauges (the state at the end of the tick): ``running``
(synthetic or not: runApp, runSyscallExit, runInterrupt), ``blocked`` (blocked, not stopped),
``stopped`` (held by a group stop), ``zombie`` (tasks that are zombies now), ``tasks_alive``.
Events during the tick: signals sent / delivered / dropped (ignored at send, or the group was
exiting), futex waits (calls that blocked) and wakes (tasks woken), group stops (thread groups that
entered a stop), ``zombies`` (tasks that became zombies), ``reaped`` (task rows released),
``cpu_time_ns`` (CPU time charged), syscalls issued and failed, clones and exits done, compute
ticks run. ``group_stops``, ``zombies`` and ``reaped`` count from the end of the previous step,
so what a kernel call between two steps does counts in the next."""

# op class -> serving order (see the module comment)
_CLASS = np.zeros(16, np.int8)
for _op, _cls in (("sigaction", 0), ("sigprocmask", 1), ("kill", 2), ("tgkill", 2), ("futex_wait", 3),
                  ("futex_wake", 3), ("lock", 3), ("unlock", 3), ("nanosleep", 4), ("setitimer", 4),
                  ("clone", 5), ("exit", 6), ("exit_group", 6), ("wait", 7)):
    _CLASS[specmod.OP_CODES[_op]] = _cls
_NCLASSES = int(_CLASS.max()) + 1


@state_class
@dataclass
class SimState:
    """A workload compiled to arrays, and the engine's running totals. Kept in
    ``world.index.sim`` so it is checkpointed with the World."""

    seed: int
    batched: bool
    step_op: np.ndarray  # int8[S]
    step_kind: np.ndarray  # int8[S, 3]
    step_a: np.ndarray  # int64[S, 3]
    step_b: np.ndarray  # int64[S, 3]
    step_next: np.ndarray  # int32[S]: the step after this one (each program ends in an exit(0))
    pool: np.ndarray  # int64: values of choice distributions
    prog_first: np.ndarray  # int32[P]
    prog_names: tuple
    segment: object = None  # the SharedSegment of futex words
    totals: dict = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    # slots: the initial tasks 0..nslots-1 of the whole run; this World holds shard ``shard`` of
    # ``nshards``: the slots shard_bounds[shard]..shard_bounds[shard + 1] - 1, at rows slot_row
    nslots: int = 0
    shard: int = 0
    nshards: int = 1
    shard_bounds: np.ndarray = None  # int64[nshards + 1]
    slot_row: np.ndarray = None  # int64[this shard's slots]
    outbox: list = field(default_factory=list)  # MAIL arrays posted this tick (empty between ticks)

    _ARRAYS = (("step_op", np.int8, (None,)), ("step_kind", np.int8, (None, 3)),
               ("step_a", np.int64, (None, 3)), ("step_b", np.int64, (None, 3)),
               ("step_next", np.int32, (None,)), ("pool", np.int64, (None,)),
               ("prog_first", np.int32, (None,)))

    def to_state(self, w, name: str) -> dict:
        for k, _, _ in self._ARRAYS:
            w.array(f"{name}.{k}", getattr(self, k))
        w.array(f"{name}.shard_bounds", self.shard_bounds)
        w.array(f"{name}.slot_row", self.slot_row)
        return {"seed": int(self.seed), "batched": bool(self.batched),
                "prog_names": list(self.prog_names), "segment": w.ref(self.segment),
                "totals": {k: int(v) for k, v in self.totals.items()},
                "nslots": int(self.nslots), "shard": int(self.shard), "nshards": int(self.nshards)}

    @classmethod
    def from_state(cls, r, name: str, meta) -> SimState:
        arrays = {k: r.array(f"{name}.{k}", np.dtype(dt), shape) for k, dt, shape in cls._ARRAYS}
        steps = len(arrays["step_op"])
        if any(len(arrays[k]) != steps for k in ("step_kind", "step_a", "step_b", "step_next")) \
                or ((arrays["step_next"] < 0) | (arrays["step_next"] >= max(steps, 1))).any() \
                or ((arrays["prog_first"] < 0) | (arrays["prog_first"] >= max(steps, 1))).any():
            r.fail("a simulation's program arrays do not agree")
        names, totals = meta.get("prog_names"), meta.get("totals")
        if not isinstance(names, list) or not all(isinstance(x, str) for x in names) \
                or len(names) != len(arrays["prog_first"]) or not isinstance(totals, dict) \
                or set(totals) != set(COUNTERS) or not isinstance(meta.get("batched"), bool):
            r.fail("a simulation's meta is malformed")
        nshards = r.int(meta, "nshards", 1, 1 << 20)
        bounds = r.array(f"{name}.shard_bounds", np.dtype(np.int64), (nshards + 1,))
        nslots = r.int(meta, "nslots", 1, 1 << 40)
        shard = r.int(meta, "shard", 0, nshards - 1)
        if bounds[0] != 0 or bounds[-1] != nslots or (np.diff(bounds) < 0).any():
            r.fail("a simulation's shard bounds do not cover its slots")
        slot_row = r.array(f"{name}.slot_row", np.dtype(np.int64),
                           (int(bounds[shard + 1] - bounds[shard]),))
        return cls(seed=r.int(meta, "seed", 0, 1 << 63), batched=meta["batched"],
                   prog_names=tuple(names), segment=r.obj(meta.get("segment"), ("SharedSegment",)),
                   totals={k: r.int(totals, k, 0, 1 << 62) for k in COUNTERS}, nslots=nslots,
                   shard=shard, nshards=nshards, shard_bounds=bounds, slot_row=slot_row, **arrays)

    def shard_of_slots(self, slots: np.ndarray) -> np.ndarray:
        """The shard holding each of ``slots``."""
        return np.searchsorted(self.shard_bounds, slots, side="right") - 1


def compile_workload(w: specmod.Workload, seed: int, batched: bool) -> SimState:
    """Lay the programs out as step arrays. Step args are in OPS order, one slot each (the
    sigprocmask set is one const bitmask; a loop's ``to`` becomes an absolute step index)."""
    ops, kinds, a_s, b_s, pool, firsts = [], [], [], [], [], []
    for p in w.programs:
        first = len(ops)
        firsts.append(first)
        for st in (*p.steps, specmod.Step("exit", (("code", specmod.Dist.const(0)),))):
            k, a, b = [0] * 3, [0] * 3, [0] * 3
            for j, (name, v) in enumerate(st.args):
                if name == "sigs":
                    v = S.mask_of(v)
                elif name == "to":
                    v = first + v
                if isinstance(v, specmod.Dist):
                    k[j] = v.kind
                    if v.kind == specmod.D_CHOICE:
                        a[j], b[j] = len(pool), len(v.values)
                        pool.extend(v.values)
                    elif v.kind == specmod.D_CONST:
                        a[j] = v.values[0]
                    else:
                        a[j], b[j] = v.values
                else:
                    a[j] = int(v)
            ops.append(specmod.OP_CODES[st.op])
            kinds.append(k)
            a_s.append(a)
            b_s.append(b)
    nxt = np.arange(1, len(ops) + 1, dtype=np.int32)
    ends = np.array(firsts[1:] + [len(ops)]) - 1
    nxt[ends] = ends  # the trailing exit never runs twice; keep the pc in range
    return SimState(seed=int(seed), batched=batched, step_op=np.array(ops, np.int8),
                    step_kind=np.array(kinds, np.int8).reshape(-1, 3),
                    step_a=np.array(a_s, np.int64).reshape(-1, 3),
                    step_b=np.array(b_s, np.int64).reshape(-1, 3), step_next=nxt,
                    pool=np.array(pool or [0], np.int64), prog_first=np.array(firsts, np.int32),
                    prog_names=tuple(p.name for p in w.programs))


def _shares(weights, total: int) -> np.ndarray:
    """Split ``total`` by ``weights`` (largest remainder; ties to the earlier program)."""
    w = np.asarray(weights, np.float64)
    exact = w / w.sum() * total
    base = np.floor(exact).astype(np.int64)
    rest = total - int(base.sum())
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:rest]] += 1
    return base


def shard_bounds(workload: specmod.Workload, tasks: int, shards: int) -> np.ndarray:
    """The first slot of each of ``shards`` shards, then ``tasks``: the initial processes (of
    ``threads_per_process`` slots each, the last one short) split into contiguous runs as even
    as can be. A ValueError if a shard would get no process."""
    tpp = workload.threads_per_process
    nproc = -(-tasks // tpp)
    if shards < 1:
        raise ValueError(f"--shards must be at least 1, not {shards}")
    if shards > nproc:
        raise ValueError(f"{shards} shards need {shards} processes; {tasks} tasks at "
                         f"{tpp} threads per process make {nproc}")
    procs = np.arange(shards + 1, dtype=np.int64) * nproc // shards
    return np.minimum(procs * tpp, tasks)


def why_not_shardable(workload: specmod.Workload) -> str | None:
    """Why ``workload`` cannot run split into shards with the unsharded run's counters, or
    None. Futex words are shared by every process (one segment), so a lock in one shard and a
    lock in another would race on one word within a tick; a thread cloned at run time gets a row
    whose place among its process's threads differs between shards, and which thread takes a
    process-directed signal follows that place (docs/sim.md, Sharding)."""
    for p in workload.programs:
        for i, step in enumerate(p.steps):
            if step.op in ("futex_wait", "futex_wake", "lock", "unlock"):
                return (f"program {p.name!r} step {i} ({step.op}) uses the futex words every "
                        "process shares")
            if step.op == "clone" and step.arg("kind") == specmod.KINDS["thread"]:
                return f"program {p.name!r} step {i} clones a thread at run time"
    return None


CHECKPOINT_KIND = "simulation"
CHECKPOINT_VERSION = 2  # of the simulation's part of the meta (the file's own version is apart)


class Simulation:
    """``Simulation(workload, tasks, seed)``: a World holding ``tasks`` synthetic tasks (in
    processes of ``workload.threads_per_process`` threads, children of init) running the
    workload's programs by their shares. ``step()`` runs one tick and returns its counters;
    ``history`` (a :class:`~ecs_kernel.sim.report.CounterRecorder`) keeps every tick's.

    ``checkpoint(path)`` saves the whole simulation (the World, the workload, the tick, the
    counters so far, the check setting) as a checkpoint file; ``Simulation.resume(path)`` builds
    it again, and it runs on to the same counters, tick for tick, as if never stopped. The random
    state is data already: every draw is splitmix64 of the seed, the task's row and generation and
    its draw counter (the ``sim_rng`` column), so there is no generator object to save.

    ``check_every=K`` runs the kernel's invariant checks at scale (sim/invariants.py, what
    ``ecs-kernel sim --check K`` runs, probes included) every K ticks and raises
    :class:`ecs_kernel.schedule.SanityError` naming the first violation (its ``violation``
    attribute holds it). ``check_sanity(sim.world)`` runs every component's own checks too,
    slower (Python over lists): for small worlds. ``batched=False``
    serves every syscall with the scalar handlers (the differential tests' reference).
    ``tasks_limit``: the World's task limit (default: 4x the tasks; clones past it get EAGAIN)."""

    def __init__(self, workload, tasks: int, seed: int, *, check_every: int = 0,
                 batched: bool = True, tick_ns: int = 1_000_000, tasks_limit: int | None = None,
                 shard: int = 0, shards: int = 1):
        if isinstance(workload, (str,)) or hasattr(workload, "__fspath__"):
            workload = specmod.load(workload)
        if not isinstance(workload, specmod.Workload):
            raise TypeError(f"workload must be a Workload or a name/path, not {type(workload).__name__}")
        tasks = int(tasks)
        if tasks < 1:
            raise ValueError("tasks must be at least 1")
        shard, shards = int(shard), int(shards)
        bounds = shard_bounds(workload, tasks, shards)  # ValueError: too few processes
        if not 0 <= shard < shards:
            raise ValueError(f"shard {shard} of {shards}")
        why = why_not_shardable(workload) if shards > 1 else None
        if why:
            raise ValueError(f"{workload.name} cannot be sharded: {why}")
        self.workload = workload
        self.tasks = tasks
        self.seed = int(seed)
        self.check_every = int(check_every)
        limit = max(65536, 4 * tasks + 1024) if tasks_limit is None else int(tasks_limit)
        if limit <= tasks:
            raise ValueError(f"tasks_limit {limit} leaves no room for {tasks} tasks and init")
        # batched=False: wait_system retries one wait at a time too (the differential reference)
        # and signals are delivered by the scalar get_signal loop
        settings = Settings(tasks_limit=limit, tick_ns=int(tick_ns), batch_wait=batched,
                            signal_delivery_python=not batched)
        # One PID namespace level: no synthetic op creates a namespace, and each level costs 4 bytes
        # per task, process group and session (a World's default is 8 levels).
        world = new_world(settings, pidns_levels=1)
        world.add_component(SimTask)
        world.schedule.add(sim_run_system)
        init = task_clone.create_init(world)
        world.flush()
        # init reaps orphans the way a real init does: SIGCHLD ignored means children autoreap.
        task_signals.sigaction(world, init, SIGCHLD, (SIG_IGN, 0, 0))
        st = compile_workload(workload, self.seed, batched)
        st.nslots, st.shard, st.nshards, st.shard_bounds = tasks, shard, shards, bounds
        seg = futex_sys.new_shared_segment(world, workload.futex_words)
        mem = futex_sys.SimMemory(nwords=0)
        mem.map_shared(SEGMENT_ADDR, seg)
        mem.seal()  # every process shares this one object (fork makes no copy)
        futex_sys.install_sim_memory(world, init, mem)
        st.segment = seg
        world.index.sim = st
        self.world = world
        self.tick = 0
        if self.check_every:
            invariants.install(world)
        self._after = None  # (gauges, stopped groups) at the end of the last step
        self.history = CounterRecorder(COUNTERS)
        self.extra: dict = {}  # what a resumed checkpoint's caller kept in it (see checkpoint)
        self._spawn_initial(init)

    def _spawn_initial(self, init: int) -> None:
        """The initial processes of this shard (all of them unsharded): process i holds slots
        i*tpp.. (its leader first, then its threads in creation order), whose keys are the slot
        numbers; the programs are shared out over all the run's processes, so a process runs the
        same program whatever shard holds it."""
        w, st, wl = self.world, self.world.index.sim, self.workload
        tpp = wl.threads_per_process
        nproc = -(-self.tasks // tpp)
        p_lo = int(st.shard_bounds[st.shard]) // tpp
        p_hi = -(-int(st.shard_bounds[st.shard + 1]) // tpp)
        sizes = np.full(nproc, tpp, np.int64)
        sizes[-1] = self.tasks - tpp * (nproc - 1)
        progs = np.repeat(np.arange(len(wl.programs), dtype=np.int8),
                          _shares([p.share for p in wl.programs], nproc))[p_lo:p_hi]
        sizes = sizes[p_lo:p_hi]
        first = np.arange(p_lo, p_hi, dtype=np.int64) * tpp  # each process's first slot
        leaders = task_clone.clone_many(w, np.full(p_hi - p_lo, init, np.int64), SIGCHLD)
        if (leaders < 0).any():
            raise RuntimeError(f"could not create the initial processes (errno {-int(leaders.min())})")
        T = w.tasks
        T.sim_prog[leaders] = progs
        T.sim_key[leaders] = first.astype(np.uint64)
        if tpp > 1:
            creators = np.repeat(leaders, sizes - 1)
            threads = task_clone.clone_many(w, creators, THREAD_FLAGS)
            if (threads < 0).any():
                raise RuntimeError(f"could not create the initial threads (errno {-int(threads.min())})")
            T = w.tasks
            T.sim_prog[threads] = T.sim_prog[creators]
            # the j-th thread of process i: slot first[i] + 1 + j
            within = np.arange(len(threads)) - np.repeat(np.cumsum(sizes - 1) - (sizes - 1), sizes - 1)
            T.sim_key[threads] = (np.repeat(first, sizes - 1) + 1 + within).astype(np.uint64)
        rows = np.flatnonzero(T.sim_prog[: T.n] >= 0)
        T.sim_pc[rows] = st.prog_first[T.sim_prog[rows]]
        lo = int(st.shard_bounds[st.shard])
        st.slot_row = np.full(int(st.shard_bounds[st.shard + 1]) - lo, -1, np.int64)
        st.slot_row[T.sim_key[rows].astype(np.int64) - lo] = rows
        w.flush()

    # -- running ------------------------------------------------------------------------------
    def step(self) -> dict[str, int]:
        """Run one tick; return its counters (see :data:`COUNTERS`). Unsharded, the kills the
        tick posted are all this World's to send: :meth:`begin`, then :meth:`finish` with them."""
        out = self.begin()
        return self.finish(mail.order(out))

    def begin(self) -> np.ndarray:
        """The first part of a tick: every phase (the programs post their kill/tgkill requests).
        Returns the tick's posted mail (a :data:`MAIL` array, in posting order); the tick ends
        with :meth:`finish` given the mail addressed to this shard, in sending order."""
        w = self.world
        st = w.index.sim
        sig = w.index.signal_stats
        self._sig0 = sig.sent, sig.delivered, sig.dropped
        G, T = w.thread_groups, w.tasks
        if self._after is None:
            g0 = np.zeros(5 * (K.CHUNKS + 1), np.int64)
            K.gauges(T.n, T.alive, T.exit_state, T.run_state, T.block, T.gen, g0)
            self._after = g0, G.stopped[: G.n].copy()
        for k in st.totals:
            st.totals[k] = 0
        st.outbox.clear()
        w.tick()
        self.tick += 1
        out = np.concatenate(st.outbox) if st.outbox else np.empty(0, MAIL)
        st.outbox.clear()
        return out

    def finish(self, inbox: np.ndarray) -> dict[str, int]:
        """The end of the tick :meth:`begin` started: send ``inbox`` (the mail addressed to this
        shard, in sending order: sim/mail.py), then count. Returns the tick's counters: this
        shard's share, which summed over the shards gives the unsharded run's (a shard other than
        the first does not count its replica of init)."""
        w = self.world
        st = w.index.sim
        mail.send(w, st, inbox)
        sig = w.index.signal_stats
        sent0, deliv0, drop0 = self._sig0
        # the previous step's end state (a gauges pass costs ~3 ms at 10^6 tasks): what happens
        # between two steps counts in the next one
        g0, stopped0 = self._after
        T, G = w.tasks, w.thread_groups
        g1 = np.zeros(5 * (K.CHUNKS + 1), np.int64)
        K.gauges(T.n, T.alive, T.exit_state, T.run_state, T.block, T.gen, g1)
        c = dict(st.totals)
        c["running"], c["blocked"], c["stopped"], c["zombie"] = (int(x) for x in g1[:4])
        c["tasks_alive"] = int(T.count)
        if st.shard:  # init's replica: the first shard counts init
            self._uncount_init(c)
        c["signals_sent"] = sig.sent - sent0
        c["signals_delivered"] = sig.delivered - deliv0
        c["signals_dropped"] = sig.dropped - drop0
        c["reaped"] = int(g1[4] - g0[4])  # a released row's generation moves on
        # zombies: tasks that finished exiting this tick (released at once, or zombies now)
        c["zombies"] = c["reaped"] + int(g1[3] - g0[3])
        ng = min(len(stopped0), G.n)
        c["group_stops"] = int((G.stopped[:ng] & ~stopped0[:ng]).sum() + G.stopped[ng: G.n].sum())
        self._after = g1, G.stopped[: G.n].copy()
        out = {k: int(c[k]) for k in COUNTERS}
        self.history.record(out)
        if self.check_every and self.tick % self.check_every == 0:
            v = invariants.check(w)
            if v is not None:
                err = SanityError(str(v) if v.tick >= 0 else f"tick {self.tick}: {v}")
                err.violation = v
                raise err
        return out

    def gauges(self) -> dict[str, int]:
        """The run-state gauges of :data:`COUNTERS` (``running``, ``blocked``, ``stopped``,
        ``zombie``, ``tasks_alive``) for the World as it is now: before the first step, the tasks
        the simulation created."""
        T = self.world.tasks
        g = np.zeros(5 * (K.CHUNKS + 1), np.int64)
        K.gauges(T.n, T.alive, T.exit_state, T.run_state, T.block, T.gen, g)
        out = dict(zip(("running", "blocked", "stopped", "zombie"), (int(x) for x in g[:4])))
        out["tasks_alive"] = int(T.count)
        if self.world.index.sim.shard:
            self._uncount_init(out)
        return out

    def _uncount_init(self, c: dict) -> None:
        g = mail.init_gauge(self.world)
        if g is not None:
            c[g] -= 1
        c["tasks_alive"] -= 1

    def run(self, ticks: int) -> list[dict[str, int]]:
        return [self.step() for _ in range(int(ticks))]

    # -- checkpoints ------------------------------------------------------------------------------
    def checkpoint(self, path, extra: dict | None = None) -> int:
        """Save the whole simulation into ``path`` (atomically; checkpoint_file.py): the World
        (tables, index, schedule, the compiled workload and the programs' RNG counters), the
        workload as data, tasks, seed, the tick, the counters of every tick so far and
        ``check_every``. ``extra``: JSON data of the caller's, kept alongside (the command line
        keeps its run's settings there); it comes back as ``resume(path).extra``. Returns the
        file's size."""
        return checkpoint_file.write(path, *self.to_state(extra))

    def to_state(self, extra: dict | None = None) -> tuple[dict, dict]:
        """``(meta, arrays)`` of :meth:`checkpoint`."""
        w = StateWriter()
        world = self.world.write_state(w)
        w.array("sim.history", self.history.data)
        meta = {"kind": CHECKPOINT_KIND, "version": CHECKPOINT_VERSION, "world": world,
                "simulation": {"workload": specmod.to_data(self.workload),
                               "workload_source": self.workload.source, "tasks": self.tasks,
                               "seed": self.seed, "check_every": self.check_every,
                               "tick": self.tick, "counters": list(COUNTERS)},
                "extra": dict(extra or {}), "objects": w.objects}
        return meta, w.arrays

    @classmethod
    def resume(cls, path) -> Simulation:
        """The simulation :meth:`checkpoint` saved in ``path``, ready to ``step()`` on. A damaged,
        forged or other kind of checkpoint raises CheckpointError (one line) before anything is
        built."""
        return cls.from_state(*checkpoint_file.read(path))

    @classmethod
    def from_state(cls, meta: dict, arrays: dict) -> Simulation:
        """:meth:`resume` from ``(meta, arrays)``."""
        kind = meta.get("kind") if isinstance(meta, dict) else None
        if kind != CHECKPOINT_KIND:
            raise CheckpointError(f"not a simulation checkpoint (it holds {kind or 'something else'}"
                                  f"{': use World.load' if kind == 'world' else ''})")
        if meta.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(f"simulation checkpoint version {meta.get('version')!r}; this "
                                  f"ecs-kernel reads version {CHECKPOINT_VERSION}")
        r = WorldReader(meta, arrays)
        s, extra = meta.get("simulation"), meta.get("extra")
        if not isinstance(s, dict) or not isinstance(meta.get("world"), dict) \
                or not isinstance(extra, dict):
            r.fail("a simulation checkpoint without its sections")
        if s.get("counters") != list(COUNTERS):
            r.fail("the simulation's counters are not this ecs-kernel's")
        tick = r.int(s, "tick", 0, (1 << 62))
        history = r.array("sim.history", np.dtype(np.int64), (tick, len(COUNTERS)))
        tasks = r.int(s, "tasks", 1, 1 << 40)
        seed = r.int(s, "seed", 0, 1 << 63)
        check_every = r.int(s, "check_every", 0, 1 << 62)
        source = s.get("workload_source")
        if not isinstance(source, str):
            r.fail("the workload has no source")
        try:
            workload = specmod.parse(s.get("workload"), "<checkpoint>")
        except specmod.SpecError as e:
            r.fail(f"the workload: {e}")
        world = World.read_state(r, meta["world"])
        r.finish()
        st = world.index.sim
        if st is None or st.seed != seed:
            r.fail("the World holds no simulation of this seed")
        want = compile_workload(workload, seed, st.batched)
        if any(not np.array_equal(getattr(want, k), getattr(st, k)) for k, _, _ in SimState._ARRAYS) \
                or want.prog_names != st.prog_names:
            r.fail("the workload does not match the simulation's compiled programs")
        sim = cls.__new__(cls)
        sim.workload = dataclasses.replace(workload, source=source)
        sim.tasks, sim.seed, sim.check_every = tasks, seed, check_every
        sim.world, sim.tick, sim._after = world, tick, None  # _after: measured at the next step
        sim.history = CounterRecorder.from_data(COUNTERS, history)
        sim.extra = extra
        return sim


# -- the RUN-phase system --------------------------------------------------------------------------

_WRITES = ("SimTask", "RunState", "SigPending", "SigMask", "SigWait", "SigInfo", "SigQueue",
           "SigFrames", "SignalHandlers", "SigActions", "GroupSigPending", "ThreadGroupCore",
           "GroupStopState",
           "ChildEvents", "ExitState", "CpuUsage", "FutexWaiters", "FutexQueues", "FutexState",
           "Timers", "TimerNotify", "GroupTimers", "SleepState", "TaskTree", "ThreadGroupMembership",
           "TaskIDs", "TaskPIDs", "TaskCreds", "ThreadState", "TaskResources", "PIDNamespace",
           "ProcessGroupMembership", "ProcessGroup", "Rlimits", "UTSNamespace", "WaitState",
           "signal_handlersRefs", "fd_tablesRefs", "address_spacesRefs", "CpuClock",
           "GroupCpuClock", "JoinedChildCPUStats", "FDTable", "ChildSubreaper")


@system(phase=Phase.RUN, reads=("SimTask", "RunState", "ExitState", "ThreadGroupMembership"),
        writes=_WRITES)
def sim_run_system(world, commands) -> None:
    """Run every synthetic program for one tick and serve the syscalls they issue."""
    st = world.index.sim
    if st is None:
        return
    T = world.tasks
    n = T.n
    if n == 0:
        return
    # 1. handlers of delivered caught signals return (rt_sigreturn of every frame)
    rows = world.scratch("task_rows", n, np.int64)
    k = K.tasks_with_handlers(n, T.alive, T.sim_prog, T.run_state, T.handling, rows)
    if k:
        _run_handlers(world, rows[:k])
    # 2. the programs
    out_task = world.scratch("sim_task", n, np.int64)
    out_step = world.scratch("sim_step", n, np.int64)
    out_args = world.scratch("sim_args", n, np.int64, K.NARGS)
    out_flag = world.scratch("sim_flag", n, np.int8)
    counts = np.zeros(2, np.int64)
    k = K.run_programs(n, st.nslots, st.seed, int(world.settings.tick_ns), T.alive, T.sim_key,
                       T.exit_state, T.run_state, T.ret, T.handling, T.parent, T.sim_prog,
                       T.sim_pc, T.sim_budget, T.sim_loop, T.sim_rng, st.step_op, st.step_kind,
                       st.step_a, st.step_b, st.pool, st.step_next, T.cpu_used_user_ns,
                       T.cpu_used_sys_ns, out_task, out_step, out_args, out_flag, counts,
                       world.scratch("sim_chunk_k", K.CHUNKS, np.int64),
                       world.scratch("sim_chunk_counts", K.CHUNKS, np.int64, 2))
    tot = st.totals
    tot["compute_ticks"] += int(counts[0])
    tot["syscalls"] += int(counts[1])
    tot["cpu_time_ns"] += int(counts[0] + counts[1]) * int(world.settings.tick_ns)
    if k == 0:
        return
    # 3. serve them, op class by op class, each in row order
    # fresh arrays of k rows (kept scratch would grow to a row per task at the first tick, when
    # every program starts with sigactions: ~40 bytes per task for good)
    req = Requests(np.empty(k, np.int64), np.empty(k, np.int64), np.empty(k, np.int8),
                   np.empty((k, K.NARGS), np.int64), np.empty(k, np.int8))
    K.group_by_class(k, _CLASS, st.step_op, out_task, out_step, out_args, out_flag, req.task,
                     req.step, req.op, req.args, req.flag, np.empty(_NCLASSES, np.int64))
    serve(world, st, req)


def _run_handlers(world, rows: np.ndarray) -> None:
    """A synthetic handler returns at once: rt_sigreturn pops each frame (innermost first)."""
    st = world.index.sim
    T = world.tasks
    if st.batched:
        sigreturn_many(world, rows)
        return
    for t in rows.tolist():  # a task handling a signal has its frame (sigreturn ends handling)
        while T.frame_top[t] >= 0:
            task_signals.sigreturn(world, t)


def serve(world, st: SimState, req: Requests) -> None:
    """Serve the requests in order: batched where sim/batch.py covers a class, else scalar."""
    cls = _CLASS[req.op]
    bounds = [0, *(np.flatnonzero(np.diff(cls)) + 1).tolist(), len(req)]
    for i, j in itertools.pairwise(bounds):
        fn = _BATCHED.get(int(cls[i])) if st.batched else None
        if fn is not None:
            fn(world, st, req, i, j)
        else:
            for r in range(i, j):
                serve_one(world, st, req, r)


# op class -> its batch server (sim/batch.py)
_BATCHED = {0: batch.serve_sigactions, 1: batch.serve_sigprocmask, 2: batch.serve_kills,
            3: batch.serve_futex, 4: batch.serve_sleeps, 5: batch.serve_clones,
            6: batch.serve_exits, 7: batch.serve_waits}


