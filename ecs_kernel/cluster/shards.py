"""One simulation split into N Worlds (shards), run in-process, on a local process pool or on Ray.

A sharded run is the unsharded run cut by process tree: shard s holds a contiguous run of the
initial processes (engine.shard_bounds) and everything they clone, in a World of its own with a
replica of init (which reaps the shard's orphans; the first shard's init is the one signals reach).
Every tick, each shard runs its phases (``Simulation.begin``) and hands back the kill/tgkill mail
its programs posted (sim/mail.py), split by the shard each record is for; the coordinator hands
each shard what every shard addressed to it, and the shard puts it in sender-key order, sends it
and counts (``Simulation.finish``). On Ray the mail itself goes from actor to actor through the
object store; the coordinator passes references.
The shards' counters summed are the unsharded run's, tick for tick, on every backend
(tests/cluster/test_shards.py): docs/sim.md, Sharding, says why and what cannot be sharded.

Hosts: a :class:`ShardHost` holds some shards' Simulations in one process. The coordinator talks
to hosts through one of three transports, all with the same calls:

- in-process (the default): one host, called directly;
- a local process pool (``workers=W``): W persistent worker processes (spawned, each with a pipe;
  shard s on worker s % W);
- Ray (``cluster="local" | "auto" | "HOST:PORT" | "ray://..."``): one ``ray.remote`` actor per
  shard. Ray is imported only then.

A tick costs one round trip to every host: the end of tick t (send the mail, count) and the phases
of tick t+1 go in one call (``finish_begin``) when another tick follows. A host that dies (its
process exits, its actor is lost) raises :class:`ShardLost` naming the shard and the tick; a
run that was checkpointed (``checkpoint``) starts new hosts from its last checkpoint
(``recover``) and goes on. A sharded checkpoint is one checkpoint file (checkpoint_file.py) of
kind ``sharded-simulation`` holding each shard's own simulation checkpoint as a byte array.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import pickle
import signal
import time

import numpy as np

from .. import checkpoint_file
from . import backend
from ..checkpoint_file import CheckpointError
from ..sim import mail
from ..sim import spec as specmod
from ..sim.engine import COUNTERS, Simulation, shard_bounds, why_not_shardable
from ..sim.report import CounterRecorder

CHECKPOINT_KIND = "sharded-simulation"
CHECKPOINT_VERSION = 1


class ShardLost(RuntimeError):
    """A shard's host died: ``shard`` (the first shard it held), ``shards`` (all of them),
    ``tick`` (the tick that did not complete), ``why``."""

    def __init__(self, shards, tick: int, why: str):
        self.shards = tuple(int(s) for s in shards)
        self.shard = self.shards[0]
        self.tick = int(tick)
        self.why = why
        names = ", ".join(str(s) for s in self.shards)
        super().__init__(f"shard{'s' if len(self.shards) > 1 else ''} {names} lost at tick "
                         f"{self.tick}: {why}")


def _limit_threads(threads: int | None) -> None:
    if threads:
        import numba
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


class ShardHost:
    """Some shards of one run, in one process (the coordinator's, a pool worker, a Ray actor).
    Every call returns ``(result, seconds spent)``; results are keyed by shard.

    Mail leaves a host split by the shard it is for (``{src: [chunk for dst 0..N-1]}``, and the
    bytes of the chunks for other shards) and arrives as ``{dst: [chunk from src 0..N-1]}``; the
    host puts each inbox in order itself. Mail between two shards of one host stays in it
    (``None`` in its place goes out and comes back). ``by_ref`` (a Ray actor): chunks bigger than
    ``INLINE`` bytes leave as ``ray.put`` references and arrive as references, so they go from
    actor to actor through Ray's object store, never through the coordinator."""

    INLINE = 64 * 1024

    def __init__(self, threads: int | None = None, by_ref: bool = False):
        _limit_threads(threads)
        self.sims: dict[int, Simulation] = {}
        self.nshards = 1
        self.by_ref = by_ref
        self.kept: dict = {}  # (src, dst) -> the mail between two shards of this host

    def build(self, workload, tasks: int, seed: int, shards: int, ids, options: dict):
        t0 = time.perf_counter()
        self.nshards = int(shards)
        self.sims = {int(s): Simulation(workload, tasks, seed, shard=int(s), shards=shards, **options)
                     for s in ids}
        return None, time.perf_counter() - t0

    def load(self, blobs: dict):
        """Each shard from its own simulation checkpoint's bytes."""
        t0 = time.perf_counter()
        self.sims = {int(s): Simulation.from_state(*checkpoint_file.loads(b)) for s, b in blobs.items()}
        self.nshards = next(iter(self.sims.values())).world.index.sim.nshards
        return None, time.perf_counter() - t0

    def _begin(self):
        out, moved = {}, 0
        self.kept = {}
        for s, sim in sorted(self.sims.items()):
            chunks = mail.split(sim.begin(), self.nshards)
            moved += sum(c.nbytes for d, c in enumerate(chunks) if d != s)
            for d in self.sims:  # mail for a shard of this host stays here (None goes out)
                self.kept[s, d], chunks[d] = chunks[d], None
            if self.by_ref:
                import ray
                chunks = [ray.put(c) if c is not None and c.nbytes > self.INLINE else c
                          for c in chunks]
            out[s] = chunks
        return out, moved

    def _finish(self, inboxes: dict):
        inboxes = {d: [self.kept[s, d] if c is None else c for s, c in enumerate(chunks)]
                   for d, chunks in inboxes.items()}
        if self.by_ref:
            import ray
            refs = [c for chunks in inboxes.values() for c in chunks if isinstance(c, ray.ObjectRef)]
            got = dict(zip(refs, ray.get(refs))) if refs else {}
            inboxes = {d: [got.get(c, c) if isinstance(c, ray.ObjectRef) else c for c in chunks]
                       for d, chunks in inboxes.items()}
        return {s: np.array([c[k] for k in COUNTERS], np.int64)
                for s, c in ((s, sim.finish(mail.merge(inboxes[s])))
                             for s, sim in sorted(self.sims.items()))}

    def begin(self):
        t0 = time.perf_counter()
        out = self._begin()
        return out, time.perf_counter() - t0

    def finish(self, inboxes: dict):
        t0 = time.perf_counter()
        out = self._finish(inboxes)
        return out, time.perf_counter() - t0

    def finish_begin(self, inboxes: dict):
        t0 = time.perf_counter()
        counters = self._finish(inboxes)
        out = self._begin()
        return (counters, out), time.perf_counter() - t0

    def blobs(self):
        """Each shard's simulation checkpoint, as bytes."""
        t0 = time.perf_counter()
        out = {s: checkpoint_file.dumps(*sim.to_state()) for s, sim in sorted(self.sims.items())}
        return out, time.perf_counter() - t0

    def gauges(self):
        return {s: sim.gauges() for s, sim in self.sims.items()}, 0.0

    def nbytes(self):
        return sum(sim.world.nbytes() for sim in self.sims.values()), 0.0

    def pid(self):
        return os.getpid(), 0.0

    def ping(self, payload=None):
        return payload, 0.0

    def busy(self, seconds: float):
        """Spin for ``seconds`` (the benchmark's stand-in for a tick's work: Ray's own round trip
        around the same busy time, bench/bench_shards.py)."""
        t0 = time.perf_counter()
        x = 0
        while time.perf_counter() - t0 < seconds:
            x += 1
        return None, time.perf_counter() - t0


# -- transports ------------------------------------------------------------------------------------

class _InProcess:
    """One host in this process holding every shard: a list of Worlds."""

    kind = "in-process"

    def __init__(self, shards: int):
        self.assign = [list(range(shards))]
        self.hosts = [ShardHost()]

    def call(self, method: str, args_per_host: list, tick: int) -> list:
        return [getattr(h, method)(*a) for h, a in zip(self.hosts, args_per_host)]

    def close(self) -> None:
        self.hosts = []


def _context():
    """Workers fork from a forkserver that has imported this module (and numpy, the engine):
    a clean single-threaded parent (numba's threads do not survive a fork), and a worker starts
    in a fraction of a spawned interpreter's time."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def _send(conn, obj) -> None:
    """``conn.send`` with pickle protocol 5 (numpy arrays pickle ~15x faster than with the
    protocol Connection.send picks here)."""
    conn.send_bytes(pickle.dumps(obj, protocol=5))


def _recv(conn):
    return pickle.loads(conn.recv_bytes())


def _worker_main(conn, threads) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    host = ShardHost(threads)
    while True:
        try:
            method, args = _recv(conn)
        except (EOFError, OSError):
            return
        if method == "close":
            return
        try:
            res = getattr(host, method)(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the coordinator, which raises it
            try:
                _send(conn, ("err", e))
            except Exception:  # an exception that does not pickle
                _send(conn, ("err", RuntimeError(f"{type(e).__name__}: {e}")))
            continue
        _send(conn, ("ok", res))


class _Pool:
    """``workers`` persistent worker processes (from a forkserver: see _context), each with a
    pipe; shard s lives on worker s % workers."""

    kind = "process pool"

    def __init__(self, shards: int, workers: int):
        workers = min(workers, shards)
        self.assign = [list(range(w, shards, workers)) for w in range(workers)]
        ctx = _context()
        threads = max(1, (os.cpu_count() or 1) // workers)
        self.procs, self.conns = [], []
        for _ in range(workers):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker_main, args=(child, threads), daemon=True)
            p.start()
            child.close()
            self.procs.append(p)
            self.conns.append(parent)

    def _lost(self, w: int, tick: int, e: BaseException) -> ShardLost:
        p = self.procs[w]
        p.join(timeout=5)
        code = p.exitcode
        why = (f"worker process {p.pid} exited with status {code}" if code is not None and code >= 0
               else f"worker process {p.pid} was killed by signal {-code}" if code is not None
               else f"worker process {p.pid}: {type(e).__name__}")
        return ShardLost(self.assign[w], tick, why)

    def call(self, method: str, args_per_host: list, tick: int) -> list:
        lost = None
        for w, (c, a) in enumerate(zip(self.conns, args_per_host)):
            try:
                _send(c, (method, a))
            except (OSError, EOFError) as e:
                lost = lost or self._lost(w, tick, e)
        out, err = [], None
        for w, c in enumerate(self.conns):
            try:
                status, res = _recv(c)
            except (OSError, EOFError) as e:
                lost = lost or self._lost(w, tick, e)
                continue
            if status == "err":
                err = err or res
            out.append(res)
        if lost is not None:
            raise lost
        if err is not None:
            raise err
        return out

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def close(self) -> None:
        for c, p in zip(self.conns, self.procs):
            try:
                _send(c, ("close", ()))
            except (OSError, EOFError):
                pass
            c.close()
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join()
        self.procs, self.conns = [], []


def _connect_ray(cluster: str):
    """Ray, connected to ``cluster`` (backend.connect_ray: "local" is a private Ray on
    127.0.0.1)."""
    backend.connect_ray(cluster)
    return backend._import_ray()


class _Ray:
    """One Ray actor per shard."""

    kind = "Ray"

    def __init__(self, shards: int, cluster: str):
        ray = self.ray = _connect_ray(cluster)
        cpus = ray.cluster_resources().get("CPU", 0)
        # a private cluster runs every shard on this machine: share its cores out
        threads = max(1, (os.cpu_count() or 1) // shards) if cluster == "local" else None
        actor = ray.remote(num_cpus=1 if cpus >= shards else 0, max_restarts=0,
                           scheduling_strategy="SPREAD")(ShardHost)
        self.assign = [[s] for s in range(shards)]
        self.hosts = [actor.remote(threads, True) for _ in range(shards)]

    def call(self, method: str, args_per_host: list, tick: int) -> list:
        from ray.exceptions import RayActorError
        refs = [getattr(h, method).remote(*a) for h, a in zip(self.hosts, args_per_host)]
        try:
            return self.ray.get(refs)  # one wait for all (one get per ref costs more)
        except RayActorError:
            pass  # find which
        out, lost = [], None
        for s, ref in enumerate(refs):
            try:
                out.append(self.ray.get(ref))
            except RayActorError as e:
                lost = lost or ShardLost(self.assign[s], tick, f"its Ray actor died "
                                         f"({type(e).__name__})")
        if lost is not None:
            raise lost
        return out

    def pids(self) -> list[int]:
        return [r for r, _ in self.call("pid", [()] * len(self.hosts), -1)]

    def close(self) -> None:
        for h in self.hosts:
            try:
                self.ray.kill(h)
            except Exception:  # already dead
                pass
        self.hosts = []


def open_hosts(shards: int, workers: int = 0, cluster: str | None = None):
    """The transport for ``shards`` shards: Ray when ``cluster`` is given, else a process pool of
    ``workers`` processes when ``workers`` > 1, else in-process."""
    if cluster:
        return _Ray(shards, cluster)
    if workers and workers > 1:
        return _Pool(shards, workers)
    return _InProcess(shards)


# -- the coordinator -------------------------------------------------------------------------------

class ShardedSimulation:
    """``ShardedSimulation(workload, tasks, seed, shards)``: the simulation
    ``Simulation(workload, tasks, seed)`` runs, as ``shards`` Worlds on the transport
    :func:`open_hosts` picks from ``workers`` and ``cluster``. ``step()`` runs one tick and
    returns the counters the unsharded run gives for it; ``history`` keeps every tick's;
    ``moved`` the bytes of mail that went from one shard to another, per tick. A workload that
    cannot be sharded exactly is a ValueError (engine.why_not_shardable). ``hosts``: a transport
    of :func:`open_hosts` for this many shards to use (and leave open) instead of opening one:
    several runs in a row on the same worker processes or actors."""

    def __init__(self, workload, tasks: int, seed: int, shards: int, *, workers: int = 0,
                 cluster: str | None = None, check_every: int = 0, batched: bool = True,
                 tick_ns: int = 1_000_000, tasks_limit: int | None = None, hosts=None):
        if isinstance(workload, str) or hasattr(workload, "__fspath__"):
            workload = specmod.load(workload)
        shards = int(shards)
        shard_bounds(workload, int(tasks), shards)  # ValueError: too few processes
        why = why_not_shardable(workload)
        if why and shards > 1:
            raise ValueError(f"{workload.name} cannot be sharded: {why}")
        self.workload, self.tasks, self.seed, self.shards = workload, int(tasks), int(seed), shards
        self.check_every = int(check_every)
        self.workers, self.cluster = int(workers or 0), cluster
        self.tick = 0
        self.history = CounterRecorder(COUNTERS)
        self.moved: list[int] = []  # bytes of mail between shards, per tick
        self.host_seconds: list[float] = []  # each host's seconds inside the last step's calls
        self._fresh = True
        self.extra: dict = {}
        self.last_checkpoint = None  # the path recover() starts from
        self._outboxes = None  # the mail of a tick begun and not finished
        if hosts is not None and sum(len(a) for a in hosts.assign) != shards:
            raise ValueError(f"hosts for {sum(len(a) for a in hosts.assign)} shards, not {shards}")
        self._own_hosts = hosts is None
        self.hosts = open_hosts(shards, self.workers, cluster) if hosts is None else hosts
        options = {"check_every": self.check_every, "batched": batched, "tick_ns": int(tick_ns),
                   "tasks_limit": tasks_limit}
        try:
            self._call("build", [(workload, self.tasks, self.seed, shards, ids, options)
                                 for ids in self.hosts.assign])
        except BaseException:
            self.close()
            raise

    @property
    def backend(self) -> str:
        return self.hosts.kind

    def _call(self, method: str, args_per_host: list | None = None) -> list:
        args = args_per_host if args_per_host is not None else [()] * len(self.hosts.assign)
        res = self.hosts.call(method, args, self.tick + 1)
        secs = [s for _, s in res]
        self.host_seconds = secs if self._fresh else [a + b for a, b in zip(self.host_seconds, secs)]
        self._fresh = False
        return [r for r, _ in res]

    def _merged(self, per_host: list) -> dict:
        out = {}
        for d in per_host:
            out.update(d)
        return out

    def _mail(self, begun: list) -> None:
        """Keep what hosts' ``begin`` returned: every shard's mail and the bytes moved."""
        self._outboxes = self._merged([m for m, _ in begun])
        self._moved = sum(b for _, b in begun)

    def step(self, more: bool = False) -> dict[str, int]:
        """Run one tick; return its counters. ``more``: another tick follows at once (its phases
        run in the same round trip as this tick's end)."""
        self._fresh = True  # host_seconds: this step's calls only
        if self._outboxes is None:
            self._mail(self._call("begin"))
        out = self._outboxes
        args = [({d: [out[s][d] for s in range(self.shards)] for d in ids},)
                for ids in self.hosts.assign]
        moved = self._moved
        if more:
            res = self._call("finish_begin", args)
            counters = self._merged([c for c, _ in res])
            self._mail([b for _, b in res])
        else:
            counters = self._merged(self._call("finish", args))
            self._outboxes = None
        total = sum(counters.values())
        out = {k: int(v) for k, v in zip(COUNTERS, total)}
        self.tick += 1
        self.history.record(out)
        self.moved.append(moved)
        return out

    def run(self, ticks: int) -> list[dict[str, int]]:
        ticks = int(ticks)
        return [self.step(more=i + 1 < ticks) for i in range(ticks)]

    def gauges(self) -> dict[str, int]:
        """The run-state gauges, summed over the shards (before the first step: the tasks made)."""
        per = self._merged(self._call("gauges"))
        return {k: sum(g[k] for g in per.values()) for k in next(iter(per.values()))}

    def nbytes(self) -> int:
        return sum(self._call("nbytes"))

    def pids(self) -> list[int]:
        """The host processes (pool or Ray), one per host (``hosts.assign`` lists their shards)."""
        return self.hosts.pids() if hasattr(self.hosts, "pids") else [os.getpid()]

    # -- checkpoints --------------------------------------------------------------------------------
    def to_state(self, extra: dict | None = None) -> tuple[dict, dict]:
        if self._outboxes is not None:
            raise RuntimeError("a tick is in progress (step(more=True) was the last call)")
        blobs = self._merged(self._call("blobs"))
        arrays = {f"shard{s}": np.frombuffer(blobs[s], np.uint8) for s in range(self.shards)}
        arrays["sharded.history"] = self.history.data
        arrays["sharded.moved"] = np.array(self.moved, np.int64)
        meta = {"kind": CHECKPOINT_KIND, "version": CHECKPOINT_VERSION, "shards": self.shards,
                "tick": self.tick, "tasks": self.tasks, "seed": self.seed,
                "check_every": self.check_every, "workload": specmod.to_data(self.workload),
                "workload_source": self.workload.source, "counters": list(COUNTERS),
                "extra": dict(extra or {})}
        return meta, arrays

    def checkpoint(self, path, extra: dict | None = None) -> int:
        """Save every shard (and the counters so far) into one file, atomically; it is what
        :meth:`recover` starts again from if a shard is lost. Returns the file's size."""
        size = checkpoint_file.write(path, *self.to_state(extra))
        self.last_checkpoint = os.fspath(path)
        return size

    @classmethod
    def resume(cls, path, *, workers: int = 0, cluster: str | None = None) -> ShardedSimulation:
        meta, arrays = checkpoint_file.read(path)
        sim = cls.from_state(meta, arrays, workers=workers, cluster=cluster)
        sim.last_checkpoint = os.fspath(path)
        return sim

    @classmethod
    def from_state(cls, meta: dict, arrays: dict, *, workers: int = 0,
                   cluster: str | None = None) -> ShardedSimulation:
        kind = meta.get("kind") if isinstance(meta, dict) else None
        if kind != CHECKPOINT_KIND:
            raise CheckpointError(f"not a sharded simulation checkpoint (it holds {kind or 'something else'})")
        if meta.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(f"sharded simulation checkpoint version {meta.get('version')!r}; "
                                  f"this ecs-kernel reads version {CHECKPOINT_VERSION}")
        shards, tick, tasks, seed = (meta.get(k) for k in ("shards", "tick", "tasks", "seed"))
        if not all(type(v) is int and v >= 0 for v in (shards, tick, tasks, seed)) or shards < 1 \
                or meta.get("counters") != list(COUNTERS) or not isinstance(meta.get("extra"), dict) \
                or not isinstance(meta.get("workload_source"), str):
            raise CheckpointError("a sharded simulation checkpoint with a malformed meta")
        history = arrays.get("sharded.history")
        moved = arrays.get("sharded.moved")
        if history is None or history.shape != (tick, len(COUNTERS)) or moved is None \
                or moved.shape != (tick,) or any(f"shard{s}" not in arrays for s in range(shards)):
            raise CheckpointError("a sharded simulation checkpoint without its arrays")
        try:
            workload = specmod.parse(meta.get("workload"), "<checkpoint>")
        except specmod.SpecError as e:
            raise CheckpointError(f"the workload: {e}") from None
        sim = cls.__new__(cls)
        sim.workload = dataclasses.replace(workload, source=meta["workload_source"])
        sim.tasks, sim.seed, sim.shards, sim.tick = tasks, seed, shards, tick
        sim.check_every = int(meta.get("check_every") or 0)
        sim.workers, sim.cluster = int(workers or 0), cluster
        sim.history = CounterRecorder.from_data(COUNTERS, history.astype(np.int64))
        sim.moved = [int(x) for x in moved]
        sim.host_seconds = []
        sim._fresh = True
        sim.extra = meta["extra"]
        sim.last_checkpoint = None
        sim._outboxes = None
        sim._own_hosts = True
        sim.hosts = open_hosts(shards, sim.workers, cluster)
        try:
            sim._load({s: arrays[f"shard{s}"].tobytes() for s in range(shards)})
        except BaseException:
            sim.close()
            raise
        return sim

    def _load(self, blobs: dict) -> None:
        self._call("load", [({s: blobs[s] for s in ids},) for ids in self.hosts.assign])

    def recover(self) -> int:
        """After :class:`ShardLost`: close the hosts, start new ones from the last checkpoint and
        return its tick (the run goes on from there, with the counters it had then). A
        RuntimeError if nothing was checkpointed."""
        if self.last_checkpoint is None:
            raise RuntimeError("no checkpoint to resume from")
        meta, arrays = checkpoint_file.read(self.last_checkpoint)
        self.close()
        back = ShardedSimulation.from_state(meta, arrays, workers=self.workers, cluster=self.cluster)
        path = self.last_checkpoint
        self.__dict__.update(back.__dict__)
        self.last_checkpoint = path
        return self.tick

    def close(self) -> None:
        """Close the hosts (unless they were lent: ``hosts=``)."""
        if getattr(self, "hosts", None) is not None and self._own_hosts:
            self.hosts.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
