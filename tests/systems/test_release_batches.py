"""The batch forms of two release hooks against one call at a time, on twin Worlds:
sessions.forget_leaders (release of many thread groups: process group lists, originators,
session leaders) and the sigactions release hook (shared action tables unreferenced, the ones
left unnamed freed in the order the references went)."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecs_kernel.components import sigactions
from ecs_kernel.errors import KernelError
from ecs_kernel.kernel import Kernel
from ecs_kernel.systems import sessions
from ecs_kernel.testing.compare import assert_same_worlds
from ecs_kernel.world import World


@st.composite
def worlds(draw):
    k = Kernel()
    w = k.world
    procs = [k.task(k.fork(k.init_task))]
    for _ in range(draw(st.integers(1, 12))):
        parent = draw(st.sampled_from(procs))
        procs.append(k.task(k.fork(k.handle(parent))))
    for p in procs:  # new sessions and process groups, some emptied by the release below
        how = draw(st.sampled_from(["stay", "stay", "setsid", "setpgid_self", "join"]))
        try:
            if how == "setsid":
                sessions.setsid(w, p)
            elif how == "setpgid_self":
                sessions.setpgid(w, p, 0, 0)
            elif how == "join":
                other = draw(st.sampled_from(procs))
                sessions.setpgid(w, p, 0, sessions.pgrp_id(w, int(w.thread_groups.pgrp[w.tasks.tg[other]]),
                                                           w.index["root_pidns"]))
        except KernelError:
            pass
        if draw(st.booleans()):  # a table of its own, or one equal to another's
            sigactions.set_action(w, int(w.tasks.sighand[p]), draw(st.sampled_from([10, 12])),
                                  0x400000, 0, 0, 0)
    w.flush()
    return w, procs


def twins(w):
    blob = w.checkpoint()
    return World.restore(blob), World.restore(blob)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.data())
def test_forget_leaders_equals_forget_leader_in_order(ww, data):
    w, procs = ww
    chosen = data.draw(st.lists(st.sampled_from(procs), unique=True, min_size=1))
    a, b = twins(w)
    sessions.forget_leaders(a, np.array([a.tasks.tg[t] for t in chosen], np.int64))
    for t in chosen:
        sessions.forget_leader(b, int(b.tasks.tg[t]))
    assert_same_worlds(a, b, ("batch", "one at a time"))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.data())
def test_sigactions_release_many_equals_release_in_order(ww, data):
    w, procs = ww
    chosen = data.draw(st.lists(st.sampled_from(procs), unique=True, min_size=1))
    a, b = twins(w)
    sigactions._on_release_many(a, np.array([a.tasks.sighand[t] for t in chosen], np.int64))
    for t in chosen:
        sigactions._on_release(b, int(b.tasks.sighand[t]))
    assert_same_worlds(a, b, ("batch", "one at a time"))
