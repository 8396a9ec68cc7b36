"""The batch forms of two release hooks against one call at a time, on twin Worlds:
sessions.forget_leaders (release of many thread groups: process group lists, originators,
session leaders) and the sigactions release hook (shared action tables unreferenced, the ones
left unnamed freed in the order the references went)."""
import numpy as np
import pytest
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
                                                           w.index.root_pidns))
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


def _forget_leaders(world, tasks):
    sessions.forget_leaders(world, np.array([world.tasks.tg[t] for t in tasks], np.int64))


def _forget_leader_each(world, tasks):
    for t in tasks:
        sessions.forget_leader(world, int(world.tasks.tg[t]))


def _release_handlers(world, tasks):
    sigactions._on_release_many(world, np.array([world.tasks.sighand[t] for t in tasks], np.int64))


def _release_handlers_each(world, tasks):
    for t in tasks:
        sigactions._on_release(world, int(world.tasks.sighand[t]))


@pytest.mark.parametrize("batch, one_at_a_time", [(_forget_leaders, _forget_leader_each),
                                                  (_release_handlers, _release_handlers_each)])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ww=worlds(), data=st.data())
def test_batch_equals_one_call_at_a_time_in_order(batch, one_at_a_time, ww, data):
    w, procs = ww
    chosen = data.draw(st.lists(st.sampled_from(procs), unique=True, min_size=1))
    a, b = twins(w)
    batch(a, chosen)
    one_at_a_time(b, chosen)
    assert_same_worlds(a, b, ("batch", "one at a time"))
