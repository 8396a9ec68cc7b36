"""The batched wait scan (systems/task_wait.wait_many): do_wait's search for many waiters.

For each waiter it classifies what ``task_wait.try_wait`` would find, without changing anything:

    NONE      an eligible child may still report: the wait blocks (or stays blocked)
    NO_CHILD  no child can ever match (the wait fails with ECHILD)
    FOUND     ``out_child`` is a zombie leader to reap (the first in child-list order)
    FALLBACK  not covered: the scalar try_wait serves this waiter

Covered: ``wait4(-1, 0)`` (P_ALL, WEXITED only) by a waiter in the root PID namespace, reaping
a child of the root namespace. The rows can be classified in one pass and then served in order
because a wait changes nothing another waiter's search reads but the reaped child itself: a
wait reaps only a child leader whose group has no other thread (release_task then notifies
nobody, so no ``child_seq`` moves) and unlinks it from its own group's child lists. So the scan
marks each child it hands out (``claimed``) and later waiters of the same group pass over it, as
they would once it is released; and once a waiter of a group falls back, the scan cannot know
what the scalar wait will reap, so the group's later waiters fall back too (``tainted``).
"""
from __future__ import annotations

from ..abi import SIGCHLD, TASK_EXIT_DEAD, TASK_EXIT_ZOMBIE
from .options import jit

NONE, NO_CHILD, FOUND, FALLBACK = 0, 1, 2, 3


@jit(allocates=False)
def wait_scan(rows, simple, root_ns, ns, tg, exit_state, child_head, sib_next, g_task_head,
              tg_next, g_tasks_count, g_termination_signal, claimed, tainted, out_kind, out_child):
    """Classify each waiter ``rows[i]`` (``simple[i]``: its request is wait4(-1, 0)); see the
    module comment. ``claimed`` (bool per task row) and ``tainted`` (bool per thread group row)
    start all False. Returns the number of FOUND."""
    found_n = 0
    for i in range(rows.shape[0]):
        t = rows[i]
        g = tg[t]
        out_child[i] = -1
        if not simple[i] or ns[t] != root_ns or tainted[g]:
            out_kind[i] = FALLBACK
            tainted[g] = True
            continue
        notask = True
        found = -1
        th = g_task_head[g]
        while th >= 0 and found < 0:  # every thread's children (no __WNOTHREAD)
            c = child_head[th]
            while c >= 0:
                ctg = tg[c]
                # eligible_child without __WALL or __WCLONE: only children that signal SIGCHLD
                if g_termination_signal[ctg] == SIGCHLD and not claimed[c]:
                    es = exit_state[c]
                    if es == TASK_EXIT_ZOMBIE:
                        if g_tasks_count[ctg] == 1:
                            found = c
                            break
                        notask = False  # a zombie leader whose threads still run: it will report
                    elif es != TASK_EXIT_DEAD:
                        notask = False
                c = sib_next[c]
            th = tg_next[th]
        if found >= 0 and ns[found] != root_ns:
            out_kind[i] = FALLBACK
            tainted[g] = True
        elif found >= 0:
            out_kind[i] = FOUND
            out_child[i] = found
            claimed[found] = True
            found_n += 1
        elif notask:
            out_kind[i] = NO_CHILD
        else:
            out_kind[i] = NONE
    return found_n
