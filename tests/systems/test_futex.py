"""futex(2): waits, wakes, requeues, wake_op, timeouts, keys, exit and robust lists."""
import pytest

from ecs_kernel import abi
from ecs_kernel.abi import (Block, CLONE_CHILD_CLEARTID, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM,
                            RunState)
from ecs_kernel.components import pidns
from ecs_kernel.errors import E, KernelError
from ecs_kernel.kernel import Kernel
from ecs_kernel.schedule import check_sanity
from ecs_kernel.systems import futex as F
from ecs_kernel.systems.task_block import BLOCKED
from ecs_kernel.world import Settings

THREAD = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM
A, B, C = 0x10000, 0x10004, 0x10008
PRIV = abi.FUTEX_PRIVATE_FLAG


@pytest.fixture
def k():
    k = Kernel(Settings(sanitize=True))
    F.install_sim_memory(k.world, k.task(k.init_task))
    return k


def threads(k, n, flags=THREAD, **kw):
    return [k.task(k.clone(k.init_task, flags, **kw)) for _ in range(n)]


def fx(k, t, uaddr, op, val=0, timeout=None, uaddr2=0, val3=0, val2=0):
    return F.futex(k.world, t, uaddr, op, val, timeout, uaddr2, val3, val2=val2)


def errno(fn, *a, **kw):
    with pytest.raises(KernelError) as e:
        fn(*a, **kw)
    return e.value.errno


def woken(k, t):
    T = k.world.tasks
    return T.run_state[t] == RunState.runSyscallExit and T.ret[t] == 0


def blocked(k, t):
    T = k.world.tasks
    return T.run_state[t] == RunState.blocked and T.block[t] == Block.FUTEX


# -- wait and wake ---------------------------------------------------------------------------------------

def test_wait_blocks_only_while_the_word_holds_val(k):
    a, b = threads(k, 2)
    F.write_u32(k.world, a, A, 7)
    assert errno(fx, k, a, A, abi.FUTEX_WAIT | PRIV, 8) == E.EAGAIN
    assert k.world.tasks.run_state[a] == RunState.runApp
    assert fx(k, a, A, abi.FUTEX_WAIT | PRIV, 7) is BLOCKED
    assert blocked(k, a) and F.waiters(k.world, b, A) == [a]
    check_sanity(k.world)


def test_wake_is_fifo_and_counts(k):
    ts = threads(k, 4)
    for t in ts[:3]:
        fx(k, t, A, abi.FUTEX_WAIT | PRIV, 0)
    assert fx(k, ts[3], A, abi.FUTEX_WAKE | PRIV, 2) == 2
    assert woken(k, ts[0]) and woken(k, ts[1]) and blocked(k, ts[2])
    assert fx(k, ts[3], A, abi.FUTEX_WAKE | PRIV, 10) == 1
    assert fx(k, ts[3], A, abi.FUTEX_WAKE | PRIV, 10) == 0
    assert k.world.futex_waiters.count == 0 and k.world.futex_queues.count == 0
    assert k.world.index.futex_keys == {}


def test_wake_of_zero_or_negative_wakes_one_as_linux_does(k):
    ts = threads(k, 3)
    for t in ts[:2]:
        fx(k, t, A, abi.FUTEX_WAIT | PRIV, 0)
    assert fx(k, ts[2], A, abi.FUTEX_WAKE | PRIV, 0) == 1
    assert fx(k, ts[2], A, abi.FUTEX_WAKE | PRIV, 0xFFFFFFFF) == 1


def test_bitset_wake_skips_waiters_without_a_common_bit(k):
    a, b, c = threads(k, 3)
    fx(k, a, A, abi.FUTEX_WAIT_BITSET | PRIV, 0, val3=0b01)
    fx(k, b, A, abi.FUTEX_WAIT_BITSET | PRIV, 0, val3=0b10)
    assert fx(k, c, A, abi.FUTEX_WAKE_BITSET | PRIV, 5, val3=0b10) == 1
    assert blocked(k, a) and woken(k, b)
    assert fx(k, c, A, abi.FUTEX_WAKE | PRIV, 5) == 1  # FUTEX_WAKE matches any bitset


def test_bad_arguments_get_linux_errnos(k):
    a, = threads(k, 1)
    assert errno(fx, k, a, A, abi.FUTEX_WAIT_BITSET | PRIV, 0, val3=0) == E.EINVAL
    assert errno(fx, k, a, A, abi.FUTEX_WAKE_BITSET | PRIV, 1, val3=0) == E.EINVAL
    assert errno(fx, k, a, A + 2, abi.FUTEX_WAIT | PRIV, 0) == E.EINVAL
    assert errno(fx, k, a, A + 2, abi.FUTEX_WAKE | PRIV, 1) == E.EINVAL
    assert errno(fx, k, a, 0x900000, abi.FUTEX_WAIT | PRIV, 0) == E.EFAULT  # unmapped
    assert errno(fx, k, a, 1 << 48, abi.FUTEX_WAKE | PRIV, 1) == E.EFAULT  # beyond TASK_SIZE
    for op in (abi.FUTEX_FD, abi.FUTEX_WAIT_REQUEUE_PI, abi.FUTEX_CMP_REQUEUE_PI, 14, 99):
        assert errno(fx, k, a, A, op | PRIV, 0) == E.ENOSYS
    for op in (abi.FUTEX_LOCK_PI, abi.FUTEX_UNLOCK_PI, abi.FUTEX_TRYLOCK_PI, abi.FUTEX_LOCK_PI2):
        assert errno(fx, k, a, A + 2, op | PRIV, 0) == E.EINVAL
    # Timeout validity comes first, and only for ops that take a timeout.
    assert errno(fx, k, a, A + 2, abi.FUTEX_WAIT | PRIV, 0, (-1, 0)) == E.EINVAL
    assert errno(fx, k, a, A, abi.FUTEX_WAIT | PRIV, 0, (0, 10**9)) == E.EINVAL
    assert errno(fx, k, a, A, abi.FUTEX_LOCK_PI | PRIV, 0, (0, -1)) == E.EINVAL
    # CLOCK_REALTIME: only WAIT_BITSET (and the PI ops) take it; FUTEX_WAIT lost it in Linux 5.13.
    assert errno(fx, k, a, A, abi.FUTEX_WAIT | PRIV | abi.FUTEX_CLOCK_REALTIME, 0) == E.ENOSYS
    assert errno(fx, k, a, A, abi.FUTEX_WAKE | PRIV | abi.FUTEX_CLOCK_REALTIME, 1) == E.ENOSYS
    assert fx(k, a, A, abi.FUTEX_WAIT_BITSET | PRIV | abi.FUTEX_CLOCK_REALTIME, 0,
              val3=abi.FUTEX_BITSET_MATCH_ANY) is BLOCKED


def test_private_wake_on_unmapped_word_is_zero_but_shared_is_efault(k):
    a, = threads(k, 1)
    assert fx(k, a, 0x900000, abi.FUTEX_WAKE | PRIV, 1) == 0
    assert errno(fx, k, a, 0x900000, abi.FUTEX_WAKE, 1) == E.EFAULT


def test_task_without_memory_gets_efault(k):
    w = k.world
    t = k.task(k.fork(k.init_task))
    w.index.address_spaces.pop(int(w.tasks.mm[t]))
    assert errno(fx, k, t, A, abi.FUTEX_WAIT | PRIV, 0) == E.EFAULT


# -- timeouts ----------------------------------------------------------------------------------------------

def test_relative_timeout_expires_on_the_kernel_clock(k):
    w = k.world
    a, = threads(k, 1)
    tick = w.settings.tick_ns
    fx(k, a, A, abi.FUTEX_WAIT | PRIV, 0, (0, 2 * tick + 1))
    k.tick(2)
    assert blocked(k, a)
    k.tick()
    assert w.tasks.run_state[a] == RunState.runSyscallExit and w.tasks.ret[a] == -E.ETIMEDOUT
    assert w.futex_waiters.count == 0
    check_sanity(w)


def test_expired_deadline_is_etimedout_but_a_changed_word_is_eagain_first(k):
    w = k.world
    a, = threads(k, 1)
    assert errno(fx, k, a, A, abi.FUTEX_WAIT | PRIV, 0, (0, 0)) == E.ETIMEDOUT
    k.tick(5)
    assert errno(fx, k, a, A, abi.FUTEX_WAIT_BITSET | PRIV, 0, (0, w.now_ns), val3=1) == E.ETIMEDOUT
    assert errno(fx, k, a, A, abi.FUTEX_WAIT | PRIV, 1, (0, 0)) == E.EAGAIN


def test_wait_bitset_deadline_is_absolute_monotonic_or_realtime(k):
    w = k.world
    a, b = threads(k, 2)
    w.index.realtime_offset_ns = 10**12
    tick = w.settings.tick_ns
    fx(k, a, A, abi.FUTEX_WAIT_BITSET | PRIV, 0, (0, w.now_ns + tick), val3=1)
    fx(k, b, A, abi.FUTEX_WAIT_BITSET | PRIV | abi.FUTEX_CLOCK_REALTIME, 0,
       divmod(10**12 + w.now_ns + 3 * tick, 10**9), val3=1)
    k.tick()
    assert w.tasks.ret[a] == -E.ETIMEDOUT and blocked(k, b)
    k.tick(2)
    assert w.tasks.ret[b] == -E.ETIMEDOUT


def test_a_woken_waiter_does_not_time_out_later(k):
    w = k.world
    a, b = threads(k, 2)
    fx(k, a, A, abi.FUTEX_WAIT | PRIV, 0, (0, 1))
    assert fx(k, b, A, abi.FUTEX_WAKE | PRIV, 1) == 1
    k.tick(3)
    assert w.tasks.ret[a] == 0


# -- requeue, wake_op -------------------------------------------------------------------------------------

def test_requeue_wakes_then_moves_in_order(k):
    w = k.world
    ts = threads(k, 6)
    for t in ts[:5]:
        fx(k, t, A, abi.FUTEX_WAIT | PRIV, 0)
    fx(k, ts[5], B, abi.FUTEX_WAIT | PRIV, 0)
    assert fx(k, ts[0], A, abi.FUTEX_REQUEUE | PRIV, 1, uaddr2=B, val2=2) == 3
    assert woken(k, ts[0])
    assert F.waiters(w, ts[0], B) == [ts[5], ts[1], ts[2]]
    assert F.waiters(w, ts[0], A) == [ts[3], ts[4]]
    check_sanity(w)


def test_requeue_of_zero_and_zero_does_nothing_and_negative_is_einval(k):
    ts = threads(k, 2)
    fx(k, ts[0], A, abi.FUTEX_WAIT | PRIV, 0)
    assert fx(k, ts[1], A, abi.FUTEX_REQUEUE | PRIV, 0, uaddr2=B, val2=0) == 0
    assert blocked(k, ts[0])
    assert errno(fx, k, ts[1], A, abi.FUTEX_REQUEUE | PRIV, -1, uaddr2=B, val2=0) == E.EINVAL
    assert errno(fx, k, ts[1], A, abi.FUTEX_REQUEUE | PRIV, 0, uaddr2=B, val2=0x80000000) == E.EINVAL
    assert errno(fx, k, ts[1], A, abi.FUTEX_REQUEUE | PRIV, 0, uaddr2=B + 1, val2=1) == E.EINVAL


def test_cmp_requeue_checks_the_word_and_allows_the_same_address(k):
    w = k.world
    ts = threads(k, 4)
    for t in ts[:3]:
        fx(k, t, A, abi.FUTEX_WAIT | PRIV, 0)
    assert errno(fx, k, ts[3], A, abi.FUTEX_CMP_REQUEUE | PRIV, 1, uaddr2=B, val2=1, val3=5) == E.EAGAIN
    assert all(blocked(k, t) for t in ts[:3])
    assert fx(k, ts[3], A, abi.FUTEX_CMP_REQUEUE | PRIV, 1, uaddr2=A, val2=5, val3=0) == 3
    assert woken(k, ts[0]) and F.waiters(w, ts[3], A) == [ts[1], ts[2]]


def test_wake_op_applies_the_op_and_wakes_the_second_word_on_a_true_comparison(k):
    w = k.world
    ts = threads(k, 5)
    fx(k, ts[0], A, abi.FUTEX_WAIT | PRIV, 0)
    fx(k, ts[1], B, abi.FUTEX_WAIT | PRIV, 0)
    fx(k, ts[2], B, abi.FUTEX_WAIT | PRIV, 0)
    op = F.futex_op(abi.FUTEX_OP_ADD, 5, abi.FUTEX_OP_CMP_EQ, 0)
    assert fx(k, ts[4], A, abi.FUTEX_WAKE_OP | PRIV, 1, uaddr2=B, val2=1, val3=op) == 2
    assert F.read_u32(w, ts[4], B) == 5
    assert woken(k, ts[0]) and woken(k, ts[1]) and blocked(k, ts[2])
    op = F.futex_op(abi.FUTEX_OP_OR, 2, abi.FUTEX_OP_CMP_LT, 0)  # 5 < 0 is false
    assert fx(k, ts[4], A, abi.FUTEX_WAKE_OP | PRIV, 1, uaddr2=B, val2=1, val3=op) == 0
    assert F.read_u32(w, ts[4], B) == 7 and blocked(k, ts[2])


@pytest.mark.parametrize("op,oparg,old,new", [
    (abi.FUTEX_OP_SET, 9, 3, 9), (abi.FUTEX_OP_ADD, -1, 3, 2), (abi.FUTEX_OP_OR, 4, 3, 7),
    (abi.FUTEX_OP_ANDN, 1, 3, 2), (abi.FUTEX_OP_XOR, 1, 3, 2),
    (abi.FUTEX_OP_SET | abi.FUTEX_OP_OPARG_SHIFT, 4, 0, 16),
    (abi.FUTEX_OP_SET | abi.FUTEX_OP_OPARG_SHIFT, 33, 0, 2),  # Linux masks the shift to 0..31
])
def test_wake_op_arithmetic(k, op, oparg, old, new):
    a, = threads(k, 1)
    F.write_u32(k.world, a, B, old)
    fx(k, a, A, abi.FUTEX_WAKE_OP | PRIV, 1, uaddr2=B, val2=1, val3=F.futex_op(op, oparg, 0, 0))
    assert F.read_u32(k.world, a, B) == new


def test_wake_op_comparisons_are_signed(k):
    a, = threads(k, 1)
    F.write_u32(k.world, a, B, 0xFFFFFFFF)  # -1 as an int
    for cmp, want in ((abi.FUTEX_OP_CMP_LT, 1), (abi.FUTEX_OP_CMP_GE, 0), (abi.FUTEX_OP_CMP_EQ, 1)):
        fx(k, a, B, abi.FUTEX_WAIT | PRIV, 0xFFFFFFFF)
        op = F.futex_op(abi.FUTEX_OP_SET, -1, cmp, -1 if cmp == abi.FUTEX_OP_CMP_EQ else 0)
        assert fx(k, threads(k, 1)[0], A, abi.FUTEX_WAKE_OP | PRIV, 1, uaddr2=B, val2=1, val3=op) == want
        F.futex_interrupt(k.world, a)
        k.world.tasks.run_state[a] = RunState.runApp


def test_wake_op_bad_op_is_enosys_untouched_bad_cmp_is_enosys_after_the_write(k):
    a, = threads(k, 1)
    assert errno(fx, k, a, A, abi.FUTEX_WAKE_OP | PRIV, 1, uaddr2=B, val2=1,
                 val3=F.futex_op(6, 1, 0, 0)) == E.ENOSYS
    assert F.read_u32(k.world, a, B) == 0
    assert errno(fx, k, a, A, abi.FUTEX_WAKE_OP | PRIV, 1, uaddr2=B, val2=1,
                 val3=F.futex_op(abi.FUTEX_OP_SET, 3, 7, 0)) == E.ENOSYS
    assert F.read_u32(k.world, a, B) == 3
    assert errno(fx, k, a, A, abi.FUTEX_WAKE_OP | PRIV, 1, uaddr2=0x900000, val2=1, val3=0) == E.EFAULT


# -- keys ----------------------------------------------------------------------------------------------------

def test_private_and_shared_ops_on_private_memory_do_not_meet(k):
    a, b = threads(k, 2)
    fx(k, a, A, abi.FUTEX_WAIT | PRIV, 0)
    assert fx(k, b, A, abi.FUTEX_WAKE, 1) == 0
    fx(k, b, B, abi.FUTEX_WAIT, 0)
    assert fx(k, a, B, abi.FUTEX_WAKE | PRIV, 1) == 0
    assert fx(k, a, B, abi.FUTEX_WAKE, 1) == 1


def test_processes_meet_on_shared_memory_with_shared_keys_only(k):
    w = k.world
    init = k.task(k.init_task)
    seg = F.new_shared_segment(w, 16)
    F.memory_of(w, init).map_shared(0x50000, seg)
    p = k.task(k.fork(k.init_task))
    q = k.task(k.fork(k.init_task))
    assert F.memory_of(w, p) is not F.memory_of(w, q)
    F.write_u32(w, p, 0x50008, 4)
    assert F.read_u32(w, q, 0x50008) == 4  # one shared word
    fx(k, p, 0x50008, abi.FUTEX_WAIT, 4)
    fx(k, p_ := q, A, abi.FUTEX_WAIT, 0)  # private memory: a different word in each process
    assert fx(k, init, A, abi.FUTEX_WAKE, 1) == 0
    assert fx(k, init, 0x50008, abi.FUTEX_WAKE | PRIV, 1) == 0
    assert fx(k, init, 0x50008, abi.FUTEX_WAKE, 1) == 1 and woken(k, p)
    assert blocked(k, p_)


def test_shared_keys_on_an_address_space(k):
    from ecs_kernel.cpu.platform import GuestMemory
    w = k.world
    init = k.task(k.init_task)
    gm = GuestMemory()
    w.index.address_spaces[int(w.tasks.mm[init])] = gm
    sh = gm.aspace.mmap(0, 4096, abi.PROT_READ | abi.PROT_WRITE, abi.MAP_SHARED | abi.MAP_ANONYMOUS)
    ro = gm.aspace.mmap(0, 4096, abi.PROT_READ, abi.MAP_PRIVATE | abi.MAP_ANONYMOUS)
    p = k.task(k.fork(k.init_task))
    fx(k, p, sh + 8, abi.FUTEX_WAIT, 0)
    assert fx(k, init, sh + 8, abi.FUTEX_WAKE, 1) == 1 and woken(k, p)
    assert errno(fx, k, init, ro, abi.FUTEX_WAKE, 1) == E.EFAULT  # shared op, read-only anonymous
    assert fx(k, init, ro, abi.FUTEX_WAKE | PRIV, 1) == 0
    assert errno(fx, k, init, A, abi.FUTEX_WAKE_OP | PRIV, 1, uaddr2=ro, val2=1, val3=0) == E.EFAULT
    F.write_u32(w, init, sh, 5)
    assert F.cmpxchg_u32(w, p, sh, 5, 6) == 5 and F.read_u32(w, init, sh) == 6


# -- interrupts, exit, robust lists -----------------------------------------------------------------------

def test_interrupt_without_timeout_is_erestartsys(k):
    w = k.world
    a, = threads(k, 1)
    fx(k, a, A, abi.FUTEX_WAIT | PRIV, 0)
    assert F.futex_interrupt(w, a) == -abi.ERESTARTSYS
    assert w.tasks.run_state[a] == RunState.runSyscallExit and w.futex_waiters.count == 0
    assert errno(F.futex_restart, w, a) == E.EINTR  # no restart block
    assert F.futex_interrupt(w, a) == 0  # not waiting: nothing happens


def test_interrupt_with_timeout_restarts_with_the_same_deadline(k):
    w = k.world
    a, = threads(k, 1)
    tick = w.settings.tick_ns
    fx(k, a, A, abi.FUTEX_WAIT | PRIV, 0, (0, 3 * tick))
    k.tick()
    assert F.futex_interrupt(w, a) == -abi.ERESTART_RESTARTBLOCK
    assert F.futex_restart(w, a) is BLOCKED
    k.tick()
    assert blocked(k, a)
    k.tick()
    assert w.tasks.ret[a] == -E.ETIMEDOUT


def test_interrupt_with_restart_false_is_eintr(k):
    a, = threads(k, 1)
    fx(k, a, A, abi.FUTEX_WAIT | PRIV, 0)
    assert F.futex_interrupt(k.world, a, restart=False) == -E.EINTR


def test_a_killed_waiter_loses_its_row_and_is_not_counted(k):
    w = k.world
    p = k.task(k.fork(k.init_task))
    seg = F.new_shared_segment(w, 4)
    F.memory_of(w, p).map_shared(0x50000, seg)
    F.memory_of(w, k.task(k.init_task)).map_shared(0x50000, seg)
    fx(k, p, 0x50000, abi.FUTEX_WAIT, 0)
    q = k.task(k.fork(k.init_task))
    fx(k, q, 0x50000, abi.FUTEX_WAIT, 0)
    from ecs_kernel.systems.task_signals import send_group_signal
    send_group_signal(w, int(w.tasks.tg[p]), 9)
    k.tick()
    assert [t for t in F.waiters(w, q, 0x50000, private=False)] == [q]
    assert fx(k, k.task(k.init_task), 0x50000, abi.FUTEX_WAKE, 5) == 1
    check_sanity(w)


def test_clear_child_tid_is_cleared_and_woken_when_a_thread_exits(k):
    w = k.world
    ctid = C
    joiner, = threads(k, 1)
    t = k.task(k.clone(k.init_task, THREAD | CLONE_CHILD_CLEARTID, child_tid_addr=ctid))
    F.write_u32(w, t, ctid, int(w.tasks.tids[t, 0]))
    fx(k, joiner, ctid, abi.FUTEX_WAIT, int(w.tasks.tids[t, 0]))  # glibc waits with a shared key
    k.exit(k.handle(t), 0)
    k.tick()
    assert F.read_u32(w, joiner, ctid) == 0 and woken(k, joiner)


def test_clear_child_tid_is_left_alone_by_the_last_user_of_the_mm(k):
    w = k.world
    p = k.task(k.fork(k.init_task))
    w.tasks.clear_child_tid[p] = C
    F.write_u32(w, p, C, 42)
    mem = F.memory_of(w, p)
    k.exit(k.handle(p), 0)
    k.tick()
    assert mem.words.size == 0 or mem.copy_in_u32(C) == 42  # released or untouched


def _robust_list(w, t, head, entries, offset=-8, pending=0):
    """Lay out a robust_list_head at ``head`` and entries (``lock word = entry + offset``)."""
    nodes = list(entries) + [head]
    F.memory_of(w, t).copy_out_u64(head, nodes[0])
    for e, nxt in zip(entries, nodes[1:]):
        F.memory_of(w, t).copy_out_u64(e, nxt)
    F.memory_of(w, t).copy_out_u64(head + 8, offset & ((1 << 64) - 1))
    F.memory_of(w, t).copy_out_u64(head + 16, pending)


def test_robust_list_marks_owner_died_and_wakes_one_waiter_per_lock(k):
    w = k.world
    owner, x, y, z = threads(k, 4)
    tid = int(w.tasks.tids[owner, 0])
    head, e1, e2 = 0x10100, 0x10140, 0x10180
    lock1, lock2 = e1 - 8, e2 - 8
    F.write_u32(w, owner, lock1, tid | abi.FUTEX_WAITERS)
    F.write_u32(w, owner, lock2, tid)  # held, no waiters flag: no wake
    _robust_list(w, owner, head, [e1, e2])
    F.set_robust_list(w, owner, head, 24)
    assert F.get_robust_list(w, x, tid) == (head, 24)
    for t in (x, y):
        fx(k, t, lock1, abi.FUTEX_WAIT, tid | abi.FUTEX_WAITERS)
    fx(k, z, lock2, abi.FUTEX_WAIT, tid)
    k.exit(k.handle(owner), 0)
    k.tick()
    assert F.read_u32(w, x, lock1) == abi.FUTEX_WAITERS | abi.FUTEX_OWNER_DIED
    assert F.read_u32(w, x, lock2) == abi.FUTEX_OWNER_DIED
    assert woken(k, x) and blocked(k, y) and blocked(k, z)


def test_robust_list_leaves_other_owners_and_handles_the_pending_op(k):
    w = k.world
    owner, x = threads(k, 2)
    head, e1, pend = 0x10100, 0x10140, 0x10180
    F.write_u32(w, owner, e1 - 8, 12345)  # someone else's lock
    F.write_u32(w, owner, pend - 8, 0)  # unlocked, pending: a waiter is woken, the word kept
    _robust_list(w, owner, head, [e1], pending=pend)
    F.set_robust_list(w, owner, head, 24)
    fx(k, x, pend - 8, abi.FUTEX_WAIT, 0)
    k.exit(k.handle(owner), 0)
    k.tick()
    assert F.read_u32(w, x, e1 - 8) == 12345 and F.read_u32(w, x, pend - 8) == 0
    assert woken(k, x)


def test_robust_list_errors_and_a_circular_list_terminates(k):
    w = k.world
    a, = threads(k, 1)
    assert errno(F.set_robust_list, w, a, 0x10100, 16) == E.EINVAL
    assert errno(F.get_robust_list, w, a, 9999) == E.ESRCH
    e = 0x10140
    F.memory_of(w, a).copy_out_u64(0x10100, e)
    F.memory_of(w, a).copy_out_u64(e, e)  # a loop that never returns to the head
    F.set_robust_list(w, a, 0x10100, 24)
    k.exit(k.handle(a), 0)
    k.tick()  # stops at ROBUST_LIST_LIMIT


def test_get_robust_list_of_another_process_asks_ptrace_may_access(k):
    """Linux: ptrace_may_access(PTRACE_MODE_READ_REALCREDS), else EPERM: the caller's real ids
    must be the target's real, effective and saved ones (or CAP_SYS_PTRACE over it)."""
    w = k.world
    T = w.tasks
    me, other = k.task(k.fork(k.init_task)), k.task(k.fork(k.init_task))
    F.set_robust_list(w, other, 0x10100, 24)
    tid = pidns.tid_in(w, other, int(T.ns[me]))
    for col in ("ruid", "euid", "suid"):
        getattr(T, col)[me] = 1000
        getattr(T, col)[other] = 1000
    T.cap_effective[me] = T.cap_permitted[me] = 0
    T.cap_permitted[other] = 0
    assert F.get_robust_list(w, me, tid) == (0x10100, 24)
    T.suid[other] = 0  # a set-user-ID process that kept root as its saved id
    assert errno(F.get_robust_list, w, me, tid) == E.EPERM
    T.cap_effective[me] = T.cap_permitted[me] = 1 << abi.CAP_SYS_PTRACE
    assert F.get_robust_list(w, me, tid) == (0x10100, 24)


def test_batch_and_scalar_exit_agree_on_clear_child_tid(k):
    def run(batch):
        kk = Kernel(Settings(sanitize=True, batch_exit=batch))
        w = kk.world
        F.install_sim_memory(w, kk.task(kk.init_task))
        p = kk.task(kk.fork(kk.init_task))
        ts = [kk.task(kk.clone(kk.handle(p), THREAD)) for _ in range(3)]
        for i, t in enumerate([p] + ts):
            w.tasks.clear_child_tid[t] = A + 4 * i
            F.write_u32(w, t, A + 4 * i, 100 + i)
        mem = F.memory_of(w, p)
        snapshot = []
        orig = mem.release
        mem.release = lambda: (snapshot.append(mem.words[:4].tolist()), orig())
        kk.exit_group(kk.handle(p), 0)
        kk.tick(3)
        return snapshot
    # Linux: every thread but the last user of the mm clears its word.
    assert run(True) == run(False) == [[0, 0, 0, 103]]


def test_checkpoint_keeps_waiters(k):
    a, b = threads(k, 2)
    fx(k, a, A, abi.FUTEX_WAIT | PRIV, 0, (1, 0))
    k2 = Kernel.restore(k.checkpoint())
    w2 = k2.world
    assert F.waiters(w2, b, A) == [a]
    assert F.futex(w2, b, A, abi.FUTEX_WAKE | PRIV, 1) == 1
    assert w2.tasks.ret[a] == 0 and w2.tasks.run_state[a] == RunState.runSyscallExit


# -- signals (systems/task_signals.interrupt_syscall calls futex_interrupt) -------------------------

@pytest.mark.parametrize("sa_flags, timeout, want", [
    (0, None, -E.EINTR),                    # no SA_RESTART: EINTR
    (0x10000000, None, -abi.ERESTARTSYS),     # SA_RESTART, untimed: the wait restarts
    (0x10000000, (5, 0), -E.EINTR),         # SA_RESTART, timed: -ERESTART_RESTARTBLOCK -> EINTR
])
def test_a_caught_signal_ends_a_futex_wait_and_its_row(sa_flags, timeout, want):
    from ecs_kernel.systems import task_signals as S
    # Sanitized: signal_system declares the futex components futex_interrupt writes.
    k = Kernel(Settings(sanitize=True))
    w = k.world
    F.install_sim_memory(w, k.task(k.init_task))
    t, = threads(k, 1)
    S.sigaction(w, t, 10, (0x1234, sa_flags, 0))
    fx(k, t, A, abi.FUTEX_WAIT | PRIV, 0, timeout)
    S.tgkill(w, k.task(k.init_task), 1, int(w.tasks.tids[t, 0]), 10)
    k.tick()
    assert w.futex_waiters.count == 0 and w.tasks.futex_waiter[t] == -1
    assert w.tasks.run_state[t] != RunState.blocked
    assert int(w.tasks.ret[t]) == want


def test_a_waiter_woken_during_a_group_stop_resumes_woken(k):
    from ecs_kernel.systems import task_signals as S
    w = k.world
    init = k.task(k.init_task)
    seg = F.new_shared_segment(w, 4)
    F.memory_of(w, init).map_shared(0x50000, seg)
    p = k.task(k.fork(k.init_task))
    fx(k, p, 0x50000, abi.FUTEX_WAIT, 0)
    S.kill(w, init, int(w.tasks.tids[p, 0]), 19)  # SIGSTOP
    k.tick()
    assert w.tasks.block[p] == Block.STOPPED and w.futex_waiters.count == 1
    assert fx(k, init, 0x50000, abi.FUTEX_WAKE, 1) == 1
    assert w.tasks.block[p] == Block.STOPPED  # still stopped
    S.kill(w, init, int(w.tasks.tids[p, 0]), 18)  # SIGCONT
    k.tick()
    assert w.tasks.run_state[p] == RunState.runSyscallExit and w.tasks.ret[p] == 0


# -- against Linux ----------------------------------------------------------------------------------------

def _host_futex():
    import ctypes
    import mmap
    import sys
    if not sys.platform.startswith("linux"):
        pytest.skip("needs Linux")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    class TS(ctypes.Structure):
        _fields_ = [("s", ctypes.c_long), ("n", ctypes.c_long)]

    buf = mmap.mmap(-1, 4096)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))

    def call(uaddr, op, val, slot, uaddr2, val3):
        arg4 = ctypes.byref(TS(*slot)) if isinstance(slot, tuple) else ctypes.c_void_p(slot or 0)
        r = libc.syscall(ctypes.c_long(202), ctypes.c_void_p(uaddr), ctypes.c_int(op),
                         ctypes.c_uint(val & 0xFFFFFFFF), arg4, ctypes.c_void_p(uaddr2),
                         ctypes.c_uint(val3 & 0xFFFFFFFF))
        return r if r >= 0 else -ctypes.get_errno()

    return call, buf, base


UNMAPPED = 0x1000
# (op, val, timeout-or-val2, word offset or UNMAPPED, uaddr2 offset or UNMAPPED, val3)
LINUX_CASES = [
    (abi.FUTEX_WAKE | PRIV, 1, None, UNMAPPED, 0, 0),
    (abi.FUTEX_WAKE, 1, None, UNMAPPED, 0, 0),
    (abi.FUTEX_WAIT | PRIV | abi.FUTEX_CLOCK_REALTIME, 0, None, 0, 0, 0),
    (abi.FUTEX_WAIT | PRIV, 0, (-1, 0), 2, 0, 0),
    (abi.FUTEX_WAIT | PRIV, 0, (0, 0), 0, 0, 0),
    (abi.FUTEX_WAIT | PRIV, 1, (0, 0), 0, 0, 0),
    (abi.FUTEX_WAIT_BITSET | PRIV, 0, (0, 0), 0, 0, 1),
    (abi.FUTEX_WAIT_BITSET | PRIV, 0, None, 2, 0, 0),
    (abi.FUTEX_WAKE_BITSET | PRIV, 1, None, 2, 0, 0),
    (abi.FUTEX_WAKE | PRIV, 1, None, 2, 0, 0),
    (abi.FUTEX_REQUEUE | PRIV, -1, 1, 0, 4, 0),
    (abi.FUTEX_REQUEUE | PRIV, 1, 0x80000000, 0, 4, 0),
    (abi.FUTEX_CMP_REQUEUE | PRIV, 1, 1, 0, 0, 0),
    (abi.FUTEX_CMP_REQUEUE | PRIV, 1, 1, 0, 4, 9),
    (abi.FUTEX_CMP_REQUEUE, 1, 1, 0, UNMAPPED, 0),
    (abi.FUTEX_WAKE_OP | PRIV, 1, 1, 0, 4, F.futex_op(6, 1, 0, 0)),
    (abi.FUTEX_WAKE_OP | PRIV, 1, 1, 0, 4, F.futex_op(abi.FUTEX_OP_SET, 3, 7, 0)),
    (abi.FUTEX_WAKE_OP | PRIV, 1, 1, 0, 8, F.futex_op(8, 33, 0, 0)),
    (abi.FUTEX_WAKE_OP | PRIV, 1, 1, 0, UNMAPPED, 0),
    (abi.FUTEX_WAKE_OP | PRIV, 1, 1, 0, UNMAPPED, F.futex_op(6, 1, 0, 0)),
    (abi.FUTEX_WAKE_OP | PRIV, 1, 1, 0, 12, F.futex_op(abi.FUTEX_OP_ADD, -1, abi.FUTEX_OP_CMP_LT, 0)),
    (abi.FUTEX_FD | PRIV, 0, None, 0, 0, 0),
    (abi.FUTEX_WAKE | PRIV, 1, None, 1 << 48, 0, 0),
]


@pytest.mark.parametrize("case", LINUX_CASES)
def test_errnos_and_results_match_linux(k, case):
    op, val, slot, off, off2, val3 = case
    call, buf, base = _host_futex()
    t, = threads(k, 1)

    def host_addr(o):
        return o if o in (UNMAPPED, 1 << 48) else base + o

    def our_addr(o):
        return o if o in (UNMAPPED, 1 << 48) else A + o

    host = call(host_addr(off), op, val, slot, host_addr(off2), val3)
    timeout = slot if isinstance(slot, tuple) else None
    val2 = slot if isinstance(slot, int) else 0
    try:
        ours = fx(k, t, our_addr(off), op, val, timeout, our_addr(off2), val3, val2)
    except KernelError as e:
        ours = -e.errno
    assert ours == host
    words = [int.from_bytes(buf[i:i + 4], "little") for i in range(0, 16, 4)]
    assert [F.read_u32(k.world, t, A + i) for i in range(0, 16, 4)] == words


def test_wake_of_zero_wakes_one_on_linux_too():
    import threading
    import time
    call, buf, base = _host_futex()
    waiter = threading.Thread(target=call, args=(base, abi.FUTEX_WAIT | PRIV, 0, None, 0, 0))
    waiter.start()
    woke, t0 = 0, time.monotonic()
    while not woke and time.monotonic() - t0 < 5:
        time.sleep(0.01)
        woke = call(base, abi.FUTEX_WAKE | PRIV, 0, None, 0, 0)
    waiter.join(5)
    assert woke == 1 and not waiter.is_alive()


def test_a_sealed_sim_memory_is_shared_by_fork_and_survives_release():
    seg = F.new_shared_segment(Kernel().world, 4)
    mem = F.SimMemory(nwords=0)
    mem.map_shared(0x7000, seg)
    mem.seal()
    child = mem.fork()
    assert child is mem
    child.release()
    assert mem.copy_in_u32(0x7004) == 0 and mem.shared
    with pytest.raises(ValueError):
        mem.map_shared(0x8000, seg)
    with pytest.raises(ValueError):
        F.SimMemory(nwords=4).seal()
    private = F.SimMemory(nwords=4)
    assert private.fork() is not private


# -- PI futexes ------------------------------------------------------------------------------------------

def test_pi_lock_is_taken_free_handed_over_by_unlock_and_checked(k):
    a, b, c = threads(k, 3)
    tid = {t: k.gettid(k.handle(t)) for t in (a, b, c)}
    assert fx(k, a, A, abi.FUTEX_LOCK_PI | PRIV) == 0
    assert F.read_u32(k.world, a, A) == tid[a]
    assert errno(fx, k, a, A, abi.FUTEX_LOCK_PI | PRIV) == E.EDEADLK
    assert errno(fx, k, b, A, abi.FUTEX_TRYLOCK_PI | PRIV) == E.EAGAIN
    assert errno(fx, k, b, A, abi.FUTEX_UNLOCK_PI | PRIV) == E.EPERM
    # contended: b then c wait in order, and the word says so
    assert fx(k, b, A, abi.FUTEX_LOCK_PI | PRIV) is BLOCKED
    assert fx(k, c, A, abi.FUTEX_LOCK_PI2 | PRIV) is BLOCKED
    assert blocked(k, b) and blocked(k, c)
    assert F.read_u32(k.world, a, A) == tid[a] | abi.FUTEX_WAITERS
    check_sanity(k.world)
    # unlock hands the lock to the first waiter, which returns 0 owning it
    assert fx(k, a, A, abi.FUTEX_UNLOCK_PI | PRIV) == 0
    assert woken(k, b) and blocked(k, c)
    assert F.read_u32(k.world, a, A) == tid[b] | abi.FUTEX_WAITERS
    k.world.tasks.run_state[b] = RunState.runApp
    assert fx(k, b, A, abi.FUTEX_UNLOCK_PI | PRIV) == 0
    assert woken(k, c)
    assert F.read_u32(k.world, a, A) == tid[c]  # nobody waits any more
    k.world.tasks.run_state[c] = RunState.runApp
    assert fx(k, c, A, abi.FUTEX_UNLOCK_PI | PRIV) == 0
    assert F.read_u32(k.world, a, A) == 0
    check_sanity(k.world)


def test_pi_lock_of_a_missing_owner_is_esrch_and_a_signal_restarts_it(k):
    a, b = threads(k, 2)
    F.write_u32(k.world, a, A, 4000)  # no task 4000
    assert errno(fx, k, a, A, abi.FUTEX_LOCK_PI | PRIV) == E.ESRCH
    F.write_u32(k.world, a, A, 0)
    assert fx(k, a, A, abi.FUTEX_LOCK_PI | PRIV) == 0
    assert fx(k, b, A, abi.FUTEX_LOCK_PI | PRIV) is BLOCKED
    assert F.futex_interrupt(k.world, b) == -abi.ERESTARTNOINTR  # taken again after any handler
    assert k.world.tasks.run_state[b] == RunState.runSyscallExit
