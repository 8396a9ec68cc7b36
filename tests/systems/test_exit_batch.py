"""The exit system's batch path gives what the one-task-at-a-time path gives."""
from hypothesis import given, settings, strategies as st

from ecs_kernel.abi import CLONE_NEWPID, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, SIG_IGN, SIGCHLD
from ecs_kernel.components import sigactions
from ecs_kernel.abi import CLD_EXITED, CLD_KILLED, SIGQUIT, SIGTERM
from ecs_kernel.components.signals import sigmask
from ecs_kernel.errors import KernelError
from ecs_kernel.kernel import Kernel
from ecs_kernel.schedule import check_sanity
from ecs_kernel.systems import sessions, task_exit
from ecs_kernel.systems.task_signals import send_group_signal
from ecs_kernel.systems.task_clone import clone
from ecs_kernel.testing.compare import assert_same_worlds
from ecs_kernel.world import Settings

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM


def semantic_view(w):
    """Every live task by root tid: its state, ids, parent, group, and its group's events."""
    T, G = w.tasks, w.thread_groups
    root = w.index.root_pidns
    out = {}
    for t in T.live_rows().tolist():
        tg = int(T.tg[t])
        p = int(T.parent[t])
        out[int(T.tids[t, 0])] = (
            int(T.exit_state[t]), int(T.run_state[t]), int(T.exit_code[t]),
            int(T.tids[p, 0]) if p >= 0 else 0, int(T.tids[int(G.leader[tg]), 0]),
            sessions.pgrp_id(w, int(G.pgrp[tg]), root), int(G.tasks_count[tg]), int(G.active_tasks[tg]),
            int(G.child_seq[tg]), int(G.group_pending[tg]), int(T.sig_pending[t]),
            [int(T.tids[c, 0]) for c in __import__("ecs_kernel.components.links", fromlist=["x"]).members(T.child_head, t, T.sib_next)])
    counts = {k: t.count for k, t in w.tables.items()}
    return out, counts, dict(w.index.nproc)


ops = st.lists(st.tuples(st.sampled_from(["fork", "thread", "newpid", "exit", "exit_group", "kill",
                                          "tick", "ignore", "setpgid", "reap"]),
                         st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=50)


@settings(max_examples=80, deadline=None)
@given(ops)
def test_batch_exit_equals_scalar_exit(script):
    ks = [Kernel(Settings(batch_exit=b, sanitize=True)) for b in (True, False)]
    for op, i, code in script:
        results = []
        for k in ks:
            w = k.world
            # choose by root tid: the two Worlds may number their rows differently
            live = sorted((int(w.tasks.tids[t, 0]), t) for t in w.tasks.live_rows().tolist()
                          if w.tasks.exit_state[t] == 0)
            t = live[i % len(live)][1]
            try:
                if op == "fork":
                    clone(w, t, SIGCHLD)
                elif op == "thread":
                    clone(w, t, THREAD)
                elif op == "newpid":
                    clone(w, t, CLONE_NEWPID | SIGCHLD)
                elif op == "exit" and t != 0:
                    task_exit.exit_task(w, t, code)
                elif op == "exit_group" and w.tasks.tg[t] != 0:
                    task_exit.exit_group(w, t, code)
                elif op == "kill" and w.tasks.tg[t] != 0:
                    send_group_signal(w, int(w.tasks.tg[t]), 9)
                elif op == "ignore":
                    sh = w.tasks.sighand[t]
                    sigactions.set_action(w, int(sh), SIGCHLD, SIG_IGN if code & 1 else 0, 0, 0, 0)
                elif op == "setpgid":
                    sessions.setpgid(w, t, 0, 0)
                elif op == "reap":
                    k.wait4(k.handle(t), -1, 1 | 0x40000000)
                elif op == "tick":
                    k.tick()
                results.append("ok")
            except KernelError as e:
                results.append(e.errno)
            w.flush()
        assert results[0] == results[1]
        assert semantic_view(ks[0].world) == semantic_view(ks[1].world), f"after {op}"
    for k in ks:
        k.tick(3)
        check_sanity(k.world)
    assert semantic_view(ks[0].world) == semantic_view(ks[1].world)


def test_batch_and_scalar_exits_send_the_same_sigchld_siginfo():
    """Children of several parents end in one tick (exit codes, signals); each parent's queued
    SIGCHLD carries its child's si_code, pid, uid and si_status down both paths."""
    ends = [("exit", 0), ("exit", 3), ("exit_group", 200), ("kill", 9), ("kill", SIGTERM),
            ("kill", SIGQUIT)]
    want = [(CLD_EXITED, 0), (CLD_EXITED, 3), (CLD_EXITED, 200), (CLD_KILLED, 9),
            (CLD_KILLED, SIGTERM), (CLD_KILLED, SIGQUIT)]
    got = []
    for batch in (True, False):
        k = Kernel(Settings(batch_exit=batch, sanitize=True), uid=1000)
        w = k.world
        pairs = []
        for how, arg in ends:
            p = k.fork(k.init_task)
            k.sigprocmask(p, 0, int(sigmask(SIGCHLD)))
            c = k.fork(p)
            pairs.append((p, k.getpid(c)))
            if how == "exit":
                k.exit(c, arg)
            elif how == "exit_group":
                k.exit_group(c, arg)
            else:
                k.kill(p, k.getpid(c), arg)
        k.tick(2)
        got.append(w)
        info = []
        for p, pid in pairs:
            Q = w.sigqueue
            q = int(w.thread_groups.gq_head[w.tasks.tg[k.task(p)]])
            assert q >= 0 and Q.q_signo[q] == SIGCHLD
            info.append((int(Q.q_code[q]), int(Q.q_value[q]), int(Q.q_pid[q]) == pid,
                         int(Q.q_uid[q])))
        assert info == [(code, status, True, 1000) for code, status in want]
    assert_same_worlds(*got, labels=("batch", "scalar"))


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_exit_many_equals_exit_task_and_exit_group_in_order(data):
    """exit and exit_group calls, in order, from one-thread and multi-threaded processes whose
    group may be exiting already (an exit_group or a SIGKILL earlier: its status wins), from
    tasks already exiting and from tasks named twice (ESRCH): the errors and the World are what
    exit_task / exit_group called once per item give."""
    import numpy as np

    from ecs_kernel.world import World
    k = Kernel(Settings())
    w = k.world
    tasks = []
    for _ in range(data.draw(st.integers(1, 5))):
        p = k.task(k.fork(k.init_task))
        tasks.append(p)
        tasks += [k.task(k.clone(w.tasks.handle(p), THREAD)) for _ in range(data.draw(st.integers(0, 2)))]
    for t in data.draw(st.lists(st.sampled_from(tasks), max_size=3)):
        how = data.draw(st.sampled_from(["exit", "exit_group", "kill"]))
        if w.tasks.exit_state[t] != 0:
            continue
        if how == "exit":
            task_exit.exit_task(w, t, 7)
        elif how == "exit_group":
            task_exit.exit_group(w, t, 9)
        else:
            send_group_signal(w, int(w.tasks.tg[t]), 9)
    w.flush()
    if data.draw(st.booleans()):
        who = data.draw(st.permutations(tasks))[: data.draw(st.integers(1, len(tasks)))]
    else:
        who = data.draw(st.lists(st.sampled_from(tasks), min_size=1, max_size=10))
    n = len(who)
    codes = data.draw(st.lists(st.integers(-3, 600), min_size=n, max_size=n))
    group = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    blob = w.checkpoint()
    a, b = World.restore(blob), World.restore(blob)
    err = task_exit.exit_many(a, np.array(who), np.array(codes), np.array(group))
    for i in range(n):
        try:
            (task_exit.exit_group if group[i] else task_exit.exit_task)(b, who[i], codes[i])
        except KernelError as e:
            assert err[i] == -e.errno
        else:
            assert err[i] == 0
    assert_same_worlds(a, b, ("batched", "scalar"))
    for x in (a, b):
        x.tick()
    assert_same_worlds(a, b, ("batched", "scalar"))
