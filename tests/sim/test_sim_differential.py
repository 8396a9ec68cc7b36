"""Batched and scalar serving of synthetic syscalls give the same World and the same counters.

Random small workloads (every op, signals whose actions stop, continue, kill, are ignored or
caught, real-time signals, masks, locks, clones, exits, waits, sleeps and timers) run twice from
the same seed: once with the batched kernel calls of systems/ (send, sigaction, sigprocmask,
futex, nanosleep, clone, exit, wait; numba delivery and sigreturn) and once calling the scalar
handlers one request at a time in the same order with the Python get_signal loop. Every column of every table, and every tick's counters,
must be equal.
"""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecs_kernel.abi import ExitState
from ecs_kernel.sim import spec
from ecs_kernel.sim.engine import Simulation
from ecs_kernel.testing.compare import assert_same_worlds

SIGNALS = ["SIGUSR1", "SIGUSR2", "SIGURG", "SIGCHLD", "SIGWINCH", "SIGHUP", "SIGTERM", "SIGSTOP",
           "SIGCONT", "SIGTSTP", "SIGKILL", 34, 35]
CATCHABLE = [s for s in SIGNALS if s not in ("SIGKILL", "SIGSTOP")]
TARGETS = ["random", "random_process", "parent", "self"]
WORDS = 3


def small(lo, hi):
    return st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)).map(
        lambda ab: {"uniform": [min(ab), max(ab)]}))


def steps_for(names):
    sig = st.sampled_from(SIGNALS)
    word = st.integers(0, WORDS - 1)
    return st.one_of(
        st.fixed_dictionaries({"op": st.just("compute"), "ticks": small(0, 4)}),
        st.fixed_dictionaries({"op": st.sampled_from(["kill", "tgkill"]), "target": st.sampled_from(TARGETS),
                               "sig": st.one_of(sig, st.just({"choice": ["SIGUSR1", "SIGUSR2", 34]}))}),
        st.fixed_dictionaries({"op": st.just("sigprocmask"),
                               "how": st.sampled_from(["block", "unblock", "setmask"]),
                               "sigs": st.lists(st.sampled_from(SIGNALS), max_size=3)}),
        st.fixed_dictionaries({"op": st.just("sigaction"), "sig": st.sampled_from(CATCHABLE),
                               "action": st.sampled_from(["default", "ignore", "catch"]),
                               "flags": st.sampled_from([0, 0x10000000, 0x40000000, 0x80000000])}),
        st.fixed_dictionaries({"op": st.just("futex_wait"), "word": word}),
        st.fixed_dictionaries({"op": st.just("futex_wake"), "word": word, "count": st.integers(1, 3)}),
        st.fixed_dictionaries({"op": st.sampled_from(["lock", "unlock"]), "word": word}),
        st.fixed_dictionaries({"op": st.just("nanosleep"), "ticks": small(0, 4)}),
        st.fixed_dictionaries({"op": st.just("setitimer"), "which": st.sampled_from(["real", "virtual", "prof"]),
                               "value": st.integers(0, 4), "interval": st.integers(0, 4)}),
        st.fixed_dictionaries({"op": st.just("clone"), "kind": st.sampled_from(["thread", "process"]),
                               "program": st.sampled_from(names)}),
        st.fixed_dictionaries({"op": st.sampled_from(["exit", "exit_group"]), "code": st.integers(0, 3)}),
        st.fixed_dictionaries({"op": st.just("wait")}),
    )


@st.composite
def workloads(draw):
    nprog = draw(st.integers(1, 3))
    names = [f"p{i}" for i in range(nprog)]
    progs = []
    for i, name in enumerate(names):
        steps = draw(st.lists(steps_for(names), min_size=1, max_size=6))
        if draw(st.booleans()):
            steps.append({"op": "loop", "to": 0, "times": "forever"})
        progs.append({"name": name, "share": 1.0 if i == 0 else draw(st.sampled_from([0.0, 1.0])),
                      "steps": steps})
    return spec.parse({"futex_words": WORDS, "threads_per_process": draw(st.integers(1, 4)),
                       "programs": progs})


def assert_same(a, b):
    assert_same_worlds(a.world, b.world, ("batched", "scalar"))
    assert np.array_equal(a.world.index.sim.segment.words, b.world.index.sim.segment.words)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=workloads(), tasks=st.integers(2, 24), seed=st.integers(0, 2**32 - 1))
def test_batched_equals_scalar(w, tasks, seed):
    a = Simulation(w, tasks, seed, batched=True, tasks_limit=tasks + 40)
    b = Simulation(w, tasks, seed, batched=False, tasks_limit=tasks + 40)
    for tick in range(25):
        ca, cb = a.step(), b.step()
        assert ca == cb, f"tick {tick}: {({k: (ca[k], cb[k]) for k in ca if ca[k] != cb[k]})}"
    assert_same(a, b)


def test_shipped_workloads_batched_equals_scalar():
    for name in spec.workload_names():
        w = spec.load(name)
        a = Simulation(w, 150, 11, batched=True)
        b = Simulation(w, 150, 11, batched=False)
        for _ in range(60):
            assert a.step() == b.step(), name
        assert_same(a, b)


def test_futex_waits_interrupted_by_handlers_batched_equals_scalar():
    """Waiters on futex words and lock queues catching signals sent at them: delivery interrupts
    the waits (the waiter rows go, queues that empty are freed and leave the key dict)."""
    w = spec.parse({"futex_words": 2, "threads_per_process": 4, "programs": [
        {"name": "waiter", "steps": [
            {"op": "sigaction", "sig": "SIGUSR1", "action": "catch", "flags": 0x10000000},
            {"op": "sigaction", "sig": "SIGUSR2", "action": "catch"},
            {"op": "futex_wait", "word": 0}, {"op": "loop", "to": 2, "times": "forever"}]},
        {"name": "locker", "steps": [
            {"op": "sigaction", "sig": "SIGUSR1", "action": "catch"},
            {"op": "lock", "word": 1}, {"op": "compute", "ticks": 2}, {"op": "unlock", "word": 1},
            {"op": "loop", "to": 1, "times": "forever"}]},
        {"name": "sender", "steps": [
            {"op": "compute", "ticks": {"uniform": [0, 2]}},
            {"op": "tgkill", "target": "random", "sig": {"choice": ["SIGUSR1", "SIGUSR2"]}},
            {"op": "futex_wake", "word": 0, "count": 2},
            {"op": "loop", "to": 0, "times": "forever"}]}]})
    a = Simulation(w, 60, 5, batched=True)
    b = Simulation(w, 60, 5, batched=False)
    delivered = 0
    for _ in range(40):
        ca, cb = a.step(), b.step()
        assert ca == cb
        delivered += ca["signals_delivered"]
    assert delivered > 0 and a.world.futex_waiters.count > 0
    assert_same(a, b)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_exit_requests_batched_equal_scalar_when_groups_are_dying(seed, data):
    """exit(2) requests from threads whose group is already exiting (a SIGKILL or exit_group
    earlier in the tick: the group's status wins), from tasks already exiting (never served),
    and exit_group requests between them, from one-thread and multi-threaded processes."""
    from ecs_kernel.jit import sim as K
    from ecs_kernel.sim import batch, requests
    from ecs_kernel.systems import task_exit, task_signals
    from ecs_kernel.world import World
    w = spec.parse({"threads_per_process": data.draw(st.integers(1, 3)), "programs": [
        {"name": "p", "steps": [{"op": "compute", "ticks": 1}]}]})
    sim = Simulation(w, 12, seed)
    W0 = sim.world
    T = W0.tasks
    rows = np.flatnonzero(T.sim_prog[: T.n] >= 0)
    for t in data.draw(st.lists(st.sampled_from(rows.tolist()), max_size=4)):
        if T.exit_state[t] == ExitState.NONE:
            if data.draw(st.booleans()):
                task_signals.send_group_signal(W0, int(T.tg[t]), 9)
            else:
                task_exit.exit_group(W0, t, 5)
    order = np.array(data.draw(st.permutations(rows.tolist())), np.int64)
    ops = np.array([data.draw(st.sampled_from([K.OP_EXIT, K.OP_EXIT, K.OP_EXIT_GROUP]))
                    for _ in order], np.int8)
    args = np.zeros((len(order), K.NARGS), np.int64)
    args[:, 0] = data.draw(st.lists(st.integers(0, 300), min_size=len(order), max_size=len(order)))
    req = requests.Requests(order, T.sim_pc[order].astype(np.int64), ops, args,
                            np.zeros(len(order), np.int8))
    blob = W0.checkpoint()
    a, b = World.restore(blob), World.restore(blob)
    batch.serve_exits(a, a.index.sim, req, 0, len(order))
    for r in range(len(order)):
        requests.serve_one(b, b.index.sim, req, r)
    assert a.index.sim.totals == b.index.sim.totals
    assert_same_worlds(a, b, ("batched", "scalar"))
