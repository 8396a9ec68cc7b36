"""Hypothesis strategies for kernel inputs, for users' own property tests.

    from ecs_kernel.testing.strategies import clone_flags, signals, sigsets, sigactions
"""
from __future__ import annotations

import hypothesis.strategies as st

from ..abi import (CLONE_CHILD_CLEARTID, CLONE_FILES, CLONE_NEWPID, CLONE_NEWUTS, CLONE_PARENT,
                   CLONE_SIGHAND, CLONE_THREAD, CLONE_VM)
from .signals import sigactions, signals, sigsets

#: Clone flag sets Linux accepts from a root-owned task that is not a namespace init (init may not
#: use CLONE_PARENT): a thread, or a process (sharing memory or files, a sibling, in new PID or UTS
#: namespaces) with an exit
#: signal in the low byte where a process is created.
thread_flags = st.sampled_from([CLONE_THREAD | CLONE_SIGHAND | CLONE_VM,
                                CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_FILES,
                                CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_CHILD_CLEARTID])
process_flags = st.tuples(
    st.sets(st.sampled_from([CLONE_VM, CLONE_FILES, CLONE_PARENT, CLONE_NEWPID, CLONE_NEWUTS])),
    st.sampled_from([17, 17, 17, 0, 10])).map(lambda t: sum(t[0]) | t[1])
clone_flags = st.one_of(thread_flags, process_flags)
#: Anything, including invalid combinations (for errno tests).
any_clone_flags = st.integers(min_value=0, max_value=(1 << 32) - 1)

__all__ = ["clone_flags", "thread_flags", "process_flags", "any_clone_flags", "signals", "sigsets",
           "sigactions"]
