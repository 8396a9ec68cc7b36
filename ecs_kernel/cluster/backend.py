"""Where independent pieces of work run: in this process, on a local process pool, or on Ray.

    with open_backend(workers=None, cluster=None) as b:   # serial: the default
        for index, result in b.map_unordered(fn, items):
            ...                                            # as each item finishes

Three backends share one interface (:class:`Backend`):

- ``serial`` (no option): every item in this process, in order;
- ``pool`` (``--workers N``): N local worker processes (``spawn``: a worker shares nothing with
  this process but the environment and ``sys.path``);
- ``ray`` (``--cluster ADDR`` or the ``ECS_KERNEL_CLUSTER`` environment variable): Ray tasks.
  ``local`` starts a private single-machine Ray bound to the loopback address (usage statistics
  and the dashboard off, a small object store); ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``
  joins an existing cluster (what ``ray.init(address=...)`` accepts).

``fn`` and the items travel by pickle: ``fn`` is a module-level function. ``map_unordered``
submits items in index order, keeps at most a few per worker in flight, and yields
``(index, result)`` as each finishes; a consumer that stops early (closes the generator) drops
what is still queued and stops what runs (the pool's workers are stopped, Ray's tasks cancelled). An exception raised by ``fn`` reaches the consumer as itself. A worker
process lost in the middle of an item (killed, crashed, its node gone) is not an error: the item
runs again elsewhere (Ray: the task's ``max_retries``; the pool: a new pool, the unfinished items
resubmitted) and the loss is reported through ``on_lost`` (default: one line on stderr) and kept in
``Backend.lost``. An item whose worker is lost more than ``retries`` times raises
:class:`BackendError`.

numba's disk cache: workers load compiled kernels from the same cache as this process, never
compile them again. Local workers (pool, ``--cluster local``) use the same source tree and
environment, so the same cache (``NUMBA_CACHE_DIR`` if set, else ``__pycache__`` beside the
source); a joined cluster's workers get this process's ``NUMBA_CACHE_DIR`` when it is set.

Ray is imported only when a Ray backend is asked for; without it that is one line
(:data:`NEED_RAY`), raised as :class:`BackendError`.
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .options import ENV_CLUSTER, NEED_RAY
#: The private local cluster's object store (Ray's minimum is 75 MiB): the work here moves small
#: results; a big object spills to disk rather than failing.
LOCAL_OBJECT_STORE = 100 * 1024 * 1024
RETRIES = 3  # times an item may lose its worker before it is an error
INFLIGHT_PER_WORKER = 2  # items submitted ahead per worker: enough to keep each busy


class BackendError(RuntimeError):
    """A backend that cannot start or an item that cannot be run: one line for the user."""


def _report_lost(msg: str) -> None:
    print(f"ecs-kernel: {msg}", file=sys.stderr)


class Backend:
    """The interface: ``name`` ("serial", "pool" or "ray"), ``workers`` (how many items run at
    once), ``map_unordered``, ``close`` (also as a context manager), ``lost`` (one line per lost
    worker) and ``on_lost`` (called with each of those lines)."""

    name = "?"

    def __init__(self, workers: int, retries: int = RETRIES,
                 on_lost: Callable[[str], None] | None = None):
        self.workers = workers
        self.retries = retries
        self.on_lost = on_lost or _report_lost
        self.lost: list[str] = []

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name} ({self.workers} worker{'s' if self.workers != 1 else ''})"

    def _lost(self, msg: str) -> None:
        self.lost.append(msg)
        self.on_lost(msg)

    def close(self) -> None:
        pass

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SerialBackend(Backend):
    """Every item in this process, in index order."""

    name = "serial"

    def __init__(self, **kw):
        super().__init__(1, **kw)

    def map_unordered(self, fn, items):
        for i, item in enumerate(items):
            yield i, fn(item)


class PoolBackend(Backend):
    """``workers`` local processes (``concurrent.futures.ProcessPoolExecutor``, spawned)."""

    name = "pool"

    def __init__(self, workers: int, **kw):
        super().__init__(workers, **kw)
        self._pool: cf.ProcessPoolExecutor | None = None

    def _executor(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(self.workers,
                                                mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def map_unordered(self, fn, items):
        items = list(items)
        queue = list(range(len(items)))[::-1]  # next index at the end
        attempts = [0] * len(items)
        pending: dict[cf.Future, int] = {}
        limit = self.workers * INFLIGHT_PER_WORKER
        try:
            while queue or pending:
                while queue and len(pending) < limit:
                    i = queue.pop()
                    pending[self._executor().submit(fn, items[i])] = i
                done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                if not any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                    for f in done:
                        yield pending.pop(f), f.result()
                    continue
                # A worker died: the pool is broken and fails every unfinished item. Keep what
                # finished, run the rest again on a new pool.
                cf.wait(pending)
                again = []
                for f, i in sorted(pending.items(), key=lambda kv: kv[1]):
                    if isinstance(f.exception(), BrokenProcessPool):
                        again.append(i)
                pending_done = [(i, f) for f, i in pending.items() if i not in again]
                pending.clear()
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
                for i in again:
                    attempts[i] += 1
                    if attempts[i] > self.retries:
                        raise BackendError(f"item {i}: its worker process was lost "
                                           f"{attempts[i]} times")
                self._lost(f"a pool worker process was lost; item(s) {_ranges(again)} run again "
                           f"on a new pool")
                queue.extend(sorted(again, reverse=True))
                for i, f in sorted(pending_done, key=lambda x: x[0]):
                    yield i, f.result()
        finally:
            running = [f for f in pending if not f.cancel()]
            if running and self._pool is not None:
                # the consumer stopped early: stop the work it dropped rather than wait for it
                # (the next map starts a new pool)
                self._abandon()

    def _abandon(self) -> None:
        """Stop the pool's workers now and leave it. Not shutdown(wait=True): a worker killed
        while it held the call queue's lock leaves the others (and that wait) blocked forever."""
        pool, self._pool = self._pool, None
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for p in procs:
            p.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        later = (getattr(pool, "_processes", None) or {}).values()  # (None once shut down)
        for p in procs + [q for q in later if q not in procs]:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _ranges(ix: list[int]) -> str:
    return ", ".join(map(str, ix)) if len(ix) <= 8 else f"{', '.join(map(str, ix[:8]))}, ..."


def _import_ray():
    try:
        import ray
    except ImportError:
        raise BackendError(NEED_RAY) from None
    return ray


def _ray_call(fn, item):
    """What a Ray task runs: ``fn(item)`` and the attempt number (0 the first time; more when
    Ray ran the task again after losing its worker), so that the loss can be reported."""
    attempt = 0
    try:  # not a public API: without it, losses are still retried, only not reported
        import ray
        attempt = ray._private.worker.global_worker.core_worker.get_current_task_attempt_number()
    except Exception:
        pass
    return attempt, fn(item)


def _worker_env(local: bool) -> dict[str, str]:
    """Environment variables Ray's workers get: the numba cache, and for a local cluster the
    import path (so a user's module named by ``module:Class`` imports there as here)."""
    env = {}
    if os.environ.get("NUMBA_CACHE_DIR"):
        env["NUMBA_CACHE_DIR"] = os.environ["NUMBA_CACHE_DIR"]
    if local:
        path = [os.path.abspath(p or os.curdir) for p in sys.path]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in path if os.path.isdir(p)))
    return env


def connect_ray(cluster: str) -> None:
    """``ray.init`` for ``cluster`` unless Ray is initialised already (then nothing: idempotent).
    ``"local"``: a private cluster on this machine, bound to 127.0.0.1, with the machine's CPUs,
    no dashboard, no usage statistics, a small object store; it ends with this process.
    ``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:PORT"``: join that cluster."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if cluster == "local" and "ray" not in sys.modules:
        # Ray binds every server to the machine's address unless "clusters" are disabled (its
        # setting for Windows and macOS), which makes the node address 127.0.0.1: a private
        # cluster then listens on the loopback address only. Read at import, hence before it.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        # token authentication, Ray's default for a new local cluster, asked for by name so that
        # Ray does not warn that it chose it (read at import too: once Ray is imported, Ray
        # chooses it itself)
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    ray = _import_ray()
    if ray.is_initialized():
        return
    try:
        if cluster == "local":
            try:
                ray._private.ray_constants.ENABLE_RAY_CLUSTER = False  # (see above) if imported before
            except AttributeError:
                pass
            ray.init(address="local", num_cpus=os.cpu_count() or 1,
                     object_store_memory=LOCAL_OBJECT_STORE, _node_ip_address="127.0.0.1",
                     include_dashboard=False, logging_level=logging.WARNING,
                     runtime_env={"env_vars": _worker_env(True)})
        else:  # the cluster's own settings (dashboard, object store) are its own
            _probe(cluster)
            env = _worker_env(False)
            kw = {} if cluster.startswith("ray://") else dict(logging_level=logging.WARNING)
            ray.init(address=cluster, runtime_env={"env_vars": env} if env else None, **kw)
    except BackendError:
        raise
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BackendError(f"cannot reach the Ray cluster {cluster!r}: {first}") from None


def _probe(cluster: str, timeout: float = 5.0) -> None:
    """A HOST:PORT (or ray://HOST:PORT) where nothing listens fails here at once: ray.init
    would wait for it for minutes."""
    addr = cluster.removeprefix("ray://")
    host, sep, port = addr.rpartition(":")
    if cluster == "auto" or not sep or not port.isdigit():
        return  # "auto" and names Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise BackendError(f"cannot reach the Ray cluster {cluster!r}: "
                           f"{e.strerror or type(e).__name__}") from None


class RayBackend(Backend):
    """Ray tasks on the cluster :func:`connect_ray` joined; ``workers`` is its CPU count."""

    name = "ray"

    def __init__(self, cluster: str, **kw):
        connect_ray(cluster)
        self._ray = _import_ray()
        super().__init__(max(1, int(self._ray.cluster_resources().get("CPU", 1))), **kw)
        self.cluster = cluster
        self._remote = self._ray.remote(max_retries=self.retries, retry_exceptions=False)(_ray_call)

    def describe(self) -> str:
        return f"ray ({self.cluster}, {self.workers} CPUs)"

    def map_unordered(self, fn, items):
        ray = self._ray
        items = list(items)
        nxt = 0
        pending: dict[Any, int] = {}
        limit = self.workers * INFLIGHT_PER_WORKER
        fn_ref = ray.put(fn)  # one copy of the function for every task
        try:
            while nxt < len(items) or pending:
                while nxt < len(items) and len(pending) < limit:
                    pending[self._remote.remote(fn_ref, items[nxt])] = nxt
                    nxt += 1
                ready, _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(ready[0])
                try:
                    attempt, result = ray.get(ready[0])
                except ray.exceptions.RayTaskError as e:
                    raise e.as_instanceof_cause() from None
                except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                        ray.exceptions.OwnerDiedError, ray.exceptions.ObjectLostError) as e:
                    raise BackendError(f"item {i}: its Ray worker was lost {self.retries + 1} "
                                       f"times ({type(e).__name__})") from None
                if attempt:
                    self._lost(f"item {i}: its Ray worker was lost; Ray ran it again "
                               f"(attempt {attempt + 1})")
                yield i, result
        finally:
            for ref in pending:
                try:
                    ray.cancel(ref)
                except Exception:
                    pass


def open_backend(workers: int | None = None, cluster: str | None = None, *,
                 retries: int = RETRIES, on_lost: Callable[[str], None] | None = None) -> Backend:
    """The backend a command line asks for: ``cluster`` (or, when neither is given, the
    ``ECS_KERNEL_CLUSTER`` environment variable) -> Ray; ``workers`` N >= 1 -> a pool of N
    processes; neither -> serial. Use it as a context manager (``with open_backend(...) as b``).
    Raises :class:`BackendError` (one line) for both at once, a bad count, or Ray missing."""
    if cluster is not None and workers is not None:
        raise BackendError("--workers and --cluster exclude each other (a pool or a Ray cluster)")
    if workers is not None and workers < 1:
        raise BackendError("--workers must be at least 1")
    if cluster is None and workers is None:
        cluster = os.environ.get(ENV_CLUSTER) or None
    kw = dict(retries=retries, on_lost=on_lost)
    if cluster is not None:
        cluster = cluster.strip()
        if not cluster:
            raise BackendError("--cluster: name a cluster (local, auto, HOST:PORT or ray://HOST:PORT)")
        return RayBackend(cluster, **kw)
    if workers is not None:
        return PoolBackend(workers, **kw)
    return SerialBackend(**kw)


def backend_from_args(args, **kw) -> Backend:
    """:func:`open_backend` for the options :func:`options.add_backend_args` added."""
    return open_backend(args.workers, args.cluster, **kw)
