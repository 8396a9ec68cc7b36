"""Action tables shared copy-on-write (components/sigactions.py) against a plain model: each
handler table has its own 64 actions, as in Linux, whatever rows they share underneath."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecs_kernel.abi import (CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, NSIG, SIG_DFL, SIG_IGN, SIGKILL,
                            SIGSTOP)
from ecs_kernel.components import sigactions
from ecs_kernel.kernel import Kernel
from ecs_kernel.systems import task_signals as S
from ecs_kernel.world import Settings

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM
DEFAULT = (SIG_DFL, 0, 0, 0)
SIGS = [s for s in range(1, NSIG + 1) if s not in (SIGKILL, SIGSTOP)]


def test_forks_share_one_table_until_one_writes_and_equal_writes_share_again():
    k = Kernel()
    w = k.world
    init = k.task(k.init_task)
    kids = [k.task(k.fork(k.init_task)) for _ in range(3)]
    rows = {sigactions.table_of(w, int(w.tasks.sighand[t])) for t in [init, *kids]}
    assert len(rows) == 1 and w.sigactions.count == 1  # fork copied no table
    for t in kids[:2]:
        S.sigaction(w, t, 10, (0x401000, 0, 0))
    a, b, c = (sigactions.table_of(w, int(w.tasks.sighand[t])) for t in kids)
    assert a == b != c and w.sigactions.count == 2  # the same edit of the same table: one row
    assert S.sigaction(w, kids[2], 10) == (SIG_DFL, 0, 0)
    assert S.sigaction(w, kids[0], 10) == (0x401000, 0, 0)
    S.sigaction(w, kids[0], 10, (SIG_DFL, 0, 0))
    S.sigaction(w, kids[1], 10, (SIG_DFL, 0, 0))
    assert w.sigactions.count == 1  # back to the default table; the other row was freed
    sigactions.check(w)


def test_exec_flush_keeps_ignored_handlers_and_clears_every_flag():
    k = Kernel()
    w = k.world
    t = k.task(k.fork(k.init_task))
    S.sigaction(w, t, 10, (0x401000, 0x10000000, 1 << 3), restorer=0x400100)
    S.sigaction(w, t, 12, (SIG_IGN, 0x10000000, 1 << 4), restorer=0x400100)
    sigactions.flush_handlers(w, int(w.tasks.sighand[t]))
    sh = int(w.tasks.sighand[t])
    assert sigactions.action(w, sh, 10) == DEFAULT
    assert sigactions.action(w, sh, 12) == (SIG_IGN, 0, 0, 0)  # Linux flush_signal_handlers


def test_check_catches_a_wrong_reference_count():
    k = Kernel()
    w = k.world
    k.fork(k.init_task)
    w.sigactions.refs[sigactions.table_of(w, int(w.tasks.sighand[k.task(k.init_task)]))] += 1
    with pytest.raises(AssertionError, match="refs"):
        sigactions.check(w)


OPS = st.one_of(
    st.tuples(st.just("fork"), st.integers(0, 50)),
    st.tuples(st.just("thread"), st.integers(0, 50)),
    st.tuples(st.just("sigaction"), st.integers(0, 50), st.sampled_from(SIGS[:6]),
              st.sampled_from([SIG_DFL, SIG_IGN, 0x401000, 0x402000]),
              st.sampled_from([0, 0x10000000]), st.integers(0, 3)),
    st.tuples(st.just("resethand"), st.integers(0, 50), st.sampled_from(SIGS[:6])),
    st.tuples(st.just("exec"), st.integers(0, 50)),
    st.tuples(st.just("exit"), st.integers(0, 50)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, max_size=40))
def test_tables_behave_as_if_each_handler_table_had_its_own(ops):
    k = Kernel(Settings(sanitize=True))
    w = k.world
    T = w.tasks
    live = [k.task(k.init_task)]
    model = {int(T.sighand[live[0]]): {}}  # handler table -> {signo: action} (absent: default)

    def table(t):
        return model[int(T.sighand[t])]

    for op, i, *args in ops:
        t = live[i % len(live)]
        if op == "fork":
            c = k.task(k.fork(T.handle(t)))
            model[int(T.sighand[c])] = dict(table(t))
            live.append(c)
        elif op == "thread":
            live.append(k.task(k.clone(T.handle(t), THREAD)))
        elif op == "sigaction":
            sig, handler, flags, mask = args
            S.sigaction(w, t, sig, (handler, flags, mask))
            table(t)[sig] = (handler, flags, mask, 0)
        elif op == "resethand":
            sigactions.reset_handler(w, int(T.sighand[t]), args[0])
            old = table(t).get(args[0], DEFAULT)
            table(t)[args[0]] = (SIG_DFL, *old[1:])
        elif op == "exec":
            sigactions.flush_handlers(w, int(T.sighand[t]))
            tab = table(t)
            for sig in list(tab):
                tab[sig] = (SIG_IGN, 0, 0, 0) if tab[sig][0] == SIG_IGN else DEFAULT
        elif op == "exit" and t != live[0]:
            k.exit(T.handle(t), 0)
            k.tick()
            live.remove(t)
        for x in live:
            for sig in SIGS[:6]:
                assert sigactions.action(w, int(T.sighand[x]), sig) == table(x).get(sig, DEFAULT)
        sigactions.check(w)


def test_batched_sigaction_equals_one_call_at_a_time_when_rows_are_freed_and_reused():
    """The batch kernel remembers transitions between action tables; one that frees a table and
    makes another in its row must not reuse a transition it learned for the freed table."""
    from ecs_kernel.systems import signals_batch as B
    twins = []
    for _ in range(2):
        k = Kernel()
        w = k.world
        tasks = [k.task(k.fork(k.init_task)) for _ in range(2)]
        twins.append((w, tasks))
    (w, (a, b)), (v, _) = twins  # the same rows in both worlds
    reqs = [(a, 10, 0x401000), (a, 10, SIG_DFL), (b, 12, 0x402000), (a, 10, 0x401000),
            (b, 12, SIG_DFL), (a, 12, 0x402000)]
    cols = list(zip(*reqs))
    err = B.sigaction_many(w, np.array(cols[0]), np.array(cols[1]), np.array(cols[2], np.uint64),
                           np.zeros(len(reqs), np.uint64), lambda i: 1 / 0)
    assert not err.any()
    for t, sig, h in reqs:
        S.sigaction(v, t, sig, (h, 0, 0))
    for x in (w, v):
        sigactions.check(x)
    for t in (a, b):
        for sig in (10, 12):
            assert S.sigaction(w, t, sig) == S.sigaction(v, t, sig)
    assert S.sigaction(w, b, 12) == (SIG_DFL, 0, 0) and S.sigaction(w, a, 12) == (0x402000, 0, 0)
    assert w.sigactions.n == v.sigactions.n and w.sigactions.count == v.sigactions.count
