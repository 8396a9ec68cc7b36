"""Credentials: set*id rules, the per-user process count a uid change moves, capabilities."""
import pytest

from ecs_kernel.abi import (CAP_FULL_SET, CAP_KILL, CAP_SETUID, CAP_SYS_ADMIN, RLIMIT_NPROC,
                            SIGUSR1)
from ecs_kernel.components import rlimits
from ecs_kernel.errors import E, KernelError
from ecs_kernel.kernel import Kernel
from ecs_kernel.schedule import check_sanity
from ecs_kernel.systems import task_identity as ident
from ecs_kernel.world import Settings

NO = ident.NO_ID


def ids(k, h):
    T, r = k.world.tasks, k.task(h)
    return tuple(int(getattr(T, c)[r]) for c in ("ruid", "euid", "suid", "fsuid"))


def test_setuid_then_exit_releases_the_count_where_it_was_moved():
    k = Kernel(Settings(sanitize=True))
    p = k.fork(k.init_task)
    ident.setuid(k.world, k.task(p), 1000)
    assert k.world.index.nproc == {0: 1, 1000: 1}
    k.exit(p, 0)
    k.tick()
    assert k.wait4(k.init_task, -1, 0).pid == 2
    assert k.world.index.nproc == {0: 1}
    check_sanity(k.world)


def test_a_thread_changing_its_uid_moves_only_its_own_charge():
    k = Kernel(Settings(sanitize=True))
    p = k.fork(k.init_task)
    t = k.clone(p, 0x10000 | 0x800 | 0x100)  # CLONE_THREAD | CLONE_SIGHAND | CLONE_VM
    ident.setresuid(k.world, k.task(t), 7, 7, 7)
    assert k.world.index.nproc == {0: 2, 7: 1}
    k.exit_group(p, 0)
    k.tick(3)
    k.wait4(k.init_task, -1, 0)
    assert k.world.index.nproc == {0: 1}
    check_sanity(k.world)


def test_fork_counts_against_the_new_uids_rlimit_nproc():
    k = Kernel(Settings(sanitize=True))
    p = k.fork(k.init_task)
    w, row = k.world, k.task(p)
    r = rlimits.writable(w, int(w.tasks.tg[row]))
    w.rlimit_sets.rlim_cur[r, RLIMIT_NPROC] = w.rlimit_sets.rlim_max[r, RLIMIT_NPROC] = 1
    ident.setuid(w, row, 5)
    with pytest.raises(KernelError) as ei:
        k.fork(p)
    assert ei.value.errno == E.EAGAIN


def test_setuid_and_setgid_of_minus_one_are_einval():
    k = Kernel()
    for fn in (ident.setuid, ident.setgid):
        with pytest.raises(KernelError) as ei:
            fn(k.world, k.task(k.init_task), NO)
        assert ei.value.errno == E.EINVAL


def test_setreuid_saved_uid_rules():
    k = Kernel()
    p = k.fork(k.init_task)
    ident.setreuid(k.world, k.task(p), 1000, 2000)
    assert ids(k, p) == (1000, 2000, 2000, 2000)  # a new real uid: saved = effective
    ident.setreuid(k.world, k.task(p), NO, 1000)
    assert ids(k, p) == (1000, 1000, 2000, 1000)  # euid back to the real uid: saved kept
    with pytest.raises(KernelError) as ei:
        ident.setreuid(k.world, k.task(p), 3000, NO)
    assert ei.value.errno == E.EPERM


def test_leaving_uid_0_drops_capabilities_unless_keepcaps():
    k = Kernel()
    w = k.world
    a, b = k.fork(k.init_task), k.fork(k.init_task)
    ident.setuid(w, k.task(a), 1000)
    assert ident.capget(w, k.task(a), 0) == (0, 0, 0)
    ident.set_keepcaps(w, k.task(b), 1)
    ident.setuid(w, k.task(b), 1000)
    assert ident.capget(w, k.task(b), 0) == (0, CAP_FULL_SET, 0)
    # euid 0 again (the saved uid is gone): EPERM; effective raised by capset instead
    ident.capset(w, k.task(b), CAP_FULL_SET, CAP_FULL_SET, 0)
    assert ident.capable(w, k.task(b), CAP_SETUID)


def test_an_euid_change_brings_effective_capabilities_back_and_forth():
    k = Kernel()
    w, p = k.world, k.fork(k.init_task)
    ident.setresuid(w, k.task(p), NO, 1000, NO)
    assert ident.capget(w, k.task(p), 0) == (0, CAP_FULL_SET, 0)
    ident.setresuid(w, k.task(p), NO, 0, NO)
    assert ident.capget(w, k.task(p), 0) == (CAP_FULL_SET, CAP_FULL_SET, 0)


def test_capset_rules():
    k = Kernel()
    w, p = k.world, k.fork(k.init_task)
    r = k.task(p)
    no_kill = CAP_FULL_SET & ~(1 << CAP_KILL)
    ident.capset(w, r, no_kill, no_kill, 0)
    for eff, perm in ((CAP_FULL_SET, no_kill), (no_kill, CAP_FULL_SET)):
        with pytest.raises(KernelError) as ei:
            ident.capset(w, r, eff, perm, 0)
        assert ei.value.errno == E.EPERM
    assert not ident.capable(w, r, CAP_KILL) and ident.capable(w, r, CAP_SYS_ADMIN)


def test_a_credential_change_clears_the_parent_death_signal_and_dumpable():
    k = Kernel()
    w, p = k.world, k.fork(k.init_task)
    r = k.task(p)
    w.tasks.pdeath_signal[r] = SIGUSR1
    ident.setresuid(w, r, NO, 1000, NO)
    assert w.tasks.pdeath_signal[r] == 0
    assert w.address_spaces.dumpable[int(w.tasks.mm[r])] == 0


def test_exec_gives_root_its_bounding_set_and_others_only_ambient():
    k = Kernel()
    w = k.world
    root, user = k.fork(k.init_task), k.fork(k.init_task)
    ident.capset(w, k.task(root), 0, 0, 0)
    ident.exec_creds(w, k.task(root))
    assert ident.capget(w, k.task(root), 0) == (CAP_FULL_SET, CAP_FULL_SET, 0)
    ident.setresuid(w, k.task(user), 1000, 1000, 1000)
    ident.exec_creds(w, k.task(user))
    assert ident.capget(w, k.task(user), 0) == (0, 0, 0)
