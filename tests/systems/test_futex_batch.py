"""futex.futex_many (the compiled loop of jit/futex_batch.py over a shared segment's words)
against futex_wait / futex_wake called once per item, on random worlds: waiters of every kind
already queued (bitsets, timeouts, held by a group stop, of dying tasks), waits whose word
changed (EAGAIN), wakes of every count, addresses outside the segment or misaligned (the scalar
path), tables full at the start (a restored World's tables have no spare rows). The results,
every table and the futex key dict must be equal."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecs_kernel.abi import CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, FUTEX_WAIT, FUTEX_WAKE, SIGSTOP
from ecs_kernel.errors import KernelError
from ecs_kernel.kernel import Kernel
from ecs_kernel.systems import futex as F
from ecs_kernel.systems import task_exit, task_signals
from ecs_kernel.testing.compare import assert_same_worlds
from ecs_kernel.world import Settings, World

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM
SEG = 0x7F0000000000
NWORDS = 3


def _segment(w):
    """The one shared segment every task of ``w`` maps at SEG."""
    init = int(w.pid_namespaces.init_task[w.index.root_pidns])
    return F.memory_of(w, init).shared[0][1]


@st.composite
def worlds(draw):
    k = Kernel(Settings())
    w = k.world
    seg = F.new_shared_segment(w, NWORDS)
    mem = F.SimMemory(nwords=0)
    mem.map_shared(SEG, seg)
    mem.seal()  # every process holds this one memory, as the simulation's do
    F.install_sim_memory(w, k.task(k.init_task), mem)
    tasks, leaders = [], []
    for _ in range(draw(st.integers(1, 4))):
        p = k.task(k.fork(k.init_task))
        leaders.append(p)
        tasks += [p] + [k.task(k.clone(w.tasks.handle(p), THREAD))
                        for _ in range(draw(st.integers(0, 3)))]
    seg.words[:] = draw(st.lists(st.sampled_from([0, 1, 7]), min_size=NWORDS, max_size=NWORDS))
    for t in tasks:
        how = draw(st.sampled_from(["run", "wait", "wait", "bitset", "timed"]))
        word = draw(st.integers(0, NWORDS - 1))
        addr, val = SEG + 4 * word, int(seg.words[word])
        if how == "wait":
            F.futex_wait(w, t, addr, val, private=False)
        elif how == "bitset":
            F.futex_wait(w, t, addr, val, bitset=draw(st.sampled_from([1, 6, 0xF0])), private=False)
        elif how == "timed":
            F.futex_wait(w, t, addr, val, private=False, deadline_ns=w.now_ns + 10**9)
    if draw(st.booleans()):  # a group stop holds its waiters' waits (stop_block FUTEX)
        task_signals.send_group_signal(w, int(w.tasks.tg[draw(st.sampled_from(leaders))]), SIGSTOP)
        k.tick()
    if draw(st.booleans()):  # a dying task's waiter row: a wake drops it and counts nobody
        t = draw(st.sampled_from(tasks))
        if w.tasks.exit_state[t] == 0:
            task_exit.exit_group(w, t, 0)
    w.flush()
    return w, tasks


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.data())
def test_futex_many_equals_futex_wait_and_futex_wake_in_order(ww, data):
    w, tasks = ww
    words = _segment(w).words
    n = data.draw(st.integers(1, 16))
    calls = []
    for _ in range(n):
        t = data.draw(st.sampled_from(tasks))
        word = data.draw(st.integers(0, NWORDS - 1))
        uaddr = data.draw(st.sampled_from([SEG + 4 * word] * 6 + [SEG + 4 * word + 2,
                                                                  SEG + 4 * NWORDS, 0x1000]))
        if data.draw(st.booleans()):
            calls.append((t, uaddr, FUTEX_WAKE, data.draw(st.sampled_from([-1, 0, 1, 1, 2, 5]))))
        else:
            val = int(words[word]) if data.draw(st.integers(0, 3)) else data.draw(st.sampled_from([3, -1]))
            calls.append((t, uaddr, FUTEX_WAIT, val))
    blob = w.checkpoint()
    a, b = World.restore(blob), World.restore(blob)
    # the scalar side first; a wait by a task that is already a waiter is an impossible call
    # (futex_wait asserts): leave those out of both sides
    kept, want = [], []
    for t, uaddr, op, val in calls:
        if op == FUTEX_WAIT and b.tasks.futex_waiter[t] >= 0:
            continue
        kept.append((t, uaddr, op, val))
        try:
            if op == FUTEX_WAKE:
                want.append(F.futex_wake(b, t, uaddr, val, private=False))
            else:
                F.futex_wait(b, t, uaddr, val, private=False)
                want.append(0)
        except KernelError as e:
            want.append(-e.errno)
    if not kept:
        return
    t, uaddr, op, val = (np.array(c, np.int64) for c in zip(*kept))
    got = F.futex_many(a, _segment(a), SEG, t, uaddr, op, val)
    assert got.tolist() == want
    assert_same_worlds(a, b, ("batched", "scalar"))
    assert np.array_equal(_segment(a).words, _segment(b).words)
