"""The public strategies produce what they promise."""
from hypothesis import assume, given, settings

from ecs_kernel import abi
from ecs_kernel.kernel import Kernel
from ecs_kernel.systems import task_signals as S
from ecs_kernel.testing.strategies import clone_flags, sigactions, signals, sigsets


@settings(max_examples=60, deadline=None)
@given(clone_flags)
def test_clone_flags_are_accepted_from_a_plain_process(flags):
    k = Kernel()
    p = k.fork(k.init_task)
    c = k.clone(p, flags)
    assert k.gettid(c) >= 1


@settings(max_examples=60, deadline=None)
@given(signals, sigactions, sigsets)
def test_sigactions_install_on_every_catchable_signal(signo, act, mask):
    assume(signo not in (9, 19))  # SIGKILL and SIGSTOP cannot be caught
    k = Kernel()
    t = k.task(k.fork(k.init_task))
    S.sigaction(k.world, t, signo, act)
    h, f, m = S.sigaction(k.world, t, signo)
    assert (h, f) == act[:2] and m == act[2] & ~((1 << 8) | (1 << 18))
    S.sigprocmask(k.world, t, abi.SIG_SETMASK, mask)
