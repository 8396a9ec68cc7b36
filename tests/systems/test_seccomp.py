"""seccomp's kernel half: the check of programs (Linux's bpf_check_classic and
seccomp_check_filter), the compiled filter against its plain-Python reference on random programs,
the chain's precedence, inheritance by clone and release, and checkpoints."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ecs_kernel.abi import (BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV, BPF_IMM,
                            BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD,
                            BPF_LDX, BPF_LEN, BPF_LSH, BPF_MEM, BPF_MISC, BPF_MOD, BPF_MUL, BPF_NEG,
                            BPF_OR, BPF_RET, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_TAX, BPF_TXA,
                            BPF_W, BPF_X, BPF_XOR, SECCOMP_MODE_FILTER, SECCOMP_RET_ALLOW,
                            SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_TRAP,
                            SIGSYS)
from ecs_kernel.errors import KernelError
from ecs_kernel.jit.seccomp_bpf import run_filter
from ecs_kernel.kernel import Kernel
from ecs_kernel.schedule import check_sanity
from ecs_kernel.systems import seccomp
from ecs_kernel.world import World


def ins(code, k=0, jt=0, jf=0):
    """One sock_filter as the int64 its 8 bytes are."""
    v = code | jt << 16 | jf << 24 | (k & 0xFFFFFFFF) << 32
    return v - (1 << 64) if v >> 63 else v


def prog(*insns):
    return np.array(insns, np.int64)


def load_nr():
    return ins(BPF_LD | BPF_W | BPF_ABS, 0)


def errno_for(nr, err):
    return prog(load_nr(), ins(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
                ins(BPF_RET, SECCOMP_RET_ERRNO | err), ins(BPF_RET, SECCOMP_RET_ALLOW))


# -- the check ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    prog(),
    prog(load_nr()),  # no return at the end
    prog(ins(BPF_LD | BPF_W | BPF_ABS, 2), ins(BPF_RET | BPF_A)),  # unaligned
    prog(ins(BPF_LD | BPF_W | BPF_ABS, 64), ins(BPF_RET | BPF_A)),  # past seccomp_data
    prog(ins(BPF_LD | BPF_B | BPF_ABS, 0), ins(BPF_RET | BPF_A)),  # classic, not seccomp
    prog(ins(BPF_ALU | BPF_MOD | BPF_K, 3), ins(BPF_RET | BPF_A)),
    prog(ins(BPF_ALU | BPF_DIV | BPF_K, 0), ins(BPF_RET | BPF_A)),
    prog(ins(BPF_ALU | BPF_LSH | BPF_K, 32), ins(BPF_RET | BPF_A)),
    prog(ins(BPF_JMP | BPF_JA, 1), ins(BPF_RET)),
    prog(ins(BPF_JMP | BPF_JEQ | BPF_K, 0, 2, 0), ins(BPF_RET)),
    prog(ins(BPF_LD | BPF_MEM, 3), ins(BPF_RET | BPF_A)),  # loaded before stored
    prog(ins(BPF_ST, 16), ins(BPF_RET | BPF_A)),
    prog(ins(BPF_RET | BPF_X)),
    prog(ins(0xFFFF), ins(BPF_RET)),
    # stored on one path only
    prog(load_nr(), ins(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1), ins(BPF_ST, 0),
         ins(BPF_LD | BPF_MEM, 0), ins(BPF_RET | BPF_A)),
    np.full(4097, ins(BPF_RET), np.int64),
])
def test_programs_linux_refuses_are_einval(bad):
    with pytest.raises(KernelError) as e:
        seccomp.check_filter(bad)
    assert e.value.errno == 22


def test_len_loads_become_the_size_of_seccomp_data():
    out = seccomp.check_filter(prog(ins(BPF_LD | BPF_W | BPF_LEN), ins(BPF_RET | BPF_A)))
    assert run_filter(out, np.zeros(16, np.uint32)) == 64
    out = seccomp.check_filter(prog(ins(BPF_LDX | BPF_W | BPF_LEN), ins(BPF_MISC | BPF_TXA),
                                    ins(BPF_RET | BPF_A)))
    assert run_filter(out, np.zeros(16, np.uint32)) == 64


# -- random programs: the compiled kernel and the reference agree -------------------------------------

_ALU = [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH]
_JMP = [BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET]
_u32 = st.integers(0, 0xFFFFFFFF)


@st.composite
def programs(draw):
    """Random programs built to pass the check most of the time (every scratch word stored
    first); the ones that do not are filtered out by the check itself."""
    n = draw(st.integers(1, 40))
    out = [ins(BPF_ST, i) for i in range(16)] if draw(st.booleans()) else []
    for pc in range(n):
        left = n - pc - 1  # instructions after this one
        kind = draw(st.integers(0, 9))
        if kind == 0:
            out.append(ins(BPF_LD | BPF_W | BPF_ABS, 4 * draw(st.integers(0, 15))))
        elif kind == 1:
            out.append(ins(draw(st.sampled_from([BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM])), draw(_u32)))
        elif kind == 2:
            op = draw(st.sampled_from(_ALU))
            src = draw(st.sampled_from([BPF_K, BPF_X]))
            k = draw(_u32)
            if src == BPF_K and op == BPF_DIV:
                k = max(k, 1)
            if src == BPF_K and op in (BPF_LSH, BPF_RSH):
                k &= 31
            out.append(ins(BPF_ALU | op | src, k))
        elif kind == 3:
            out.append(ins(BPF_ALU | BPF_NEG))
        elif kind == 4:
            out.append(ins(draw(st.sampled_from([BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA]))))
        elif kind == 5:
            out.append(ins(draw(st.sampled_from([BPF_ST, BPF_STX, BPF_LD | BPF_MEM,
                                                 BPF_LDX | BPF_MEM])), draw(st.integers(0, 15))))
        elif kind == 6 and left > 0:
            op = draw(st.sampled_from(_JMP))
            out.append(ins(BPF_JMP | op | draw(st.sampled_from([BPF_K, BPF_X])), draw(_u32),
                           draw(st.integers(0, min(left - 1, 255))),
                           draw(st.integers(0, min(left - 1, 255)))))
        elif kind == 7 and left > 0:
            out.append(ins(BPF_JMP | BPF_JA, draw(st.integers(0, left - 1))))
        elif kind == 8:
            out.append(ins(BPF_RET | BPF_A))
        else:
            out.append(ins(BPF_RET, draw(_u32)))
    out.append(ins(draw(st.sampled_from([BPF_RET, BPF_RET | BPF_A])), draw(_u32)))
    return np.array(out, np.int64)


@settings(max_examples=400, deadline=None)
@given(programs(), st.lists(_u32, min_size=16, max_size=16))
def test_the_compiled_filter_gives_the_reference_verdict(p, words):
    try:
        checked = seccomp.check_filter(p)
    except KernelError:
        return
    data = np.array(words, np.uint32)
    assert int(run_filter(checked, data)) == seccomp.run_filter_reference(checked, data)


def test_division_by_x_zero_returns_zero():
    p = seccomp.check_filter(prog(ins(BPF_LD | BPF_IMM, 7), ins(BPF_LDX | BPF_IMM, 0),
                                  ins(BPF_ALU | BPF_DIV | BPF_X), ins(BPF_RET, 5)))
    d = np.zeros(16, np.uint32)
    assert run_filter(p, d) == seccomp.run_filter_reference(p, d) == 0


def test_every_alu_and_jump_against_python_arithmetic():
    a, b = 0xDEADBEEF, 13
    expect = {BPF_ADD: a + b, BPF_SUB: a - b, BPF_MUL: a * b, BPF_DIV: a // b, BPF_AND: a & b,
              BPF_OR: a | b, BPF_XOR: a ^ b, BPF_LSH: a << b, BPF_RSH: a >> b}
    for op, want in expect.items():
        p = seccomp.check_filter(prog(ins(BPF_LD | BPF_IMM, a), ins(BPF_ALU | op | BPF_K, b),
                                      ins(BPF_RET | BPF_A)))
        assert run_filter(p, np.zeros(16, np.uint32)) == want & 0xFFFFFFFF, op
    for op, fn in {BPF_JEQ: a.__eq__, BPF_JGT: a.__gt__, BPF_JGE: a.__ge__,
                   BPF_JSET: lambda v: bool(a & v)}.items():
        for v in (a, a - 1, a + 1, 1, 0):
            p = seccomp.check_filter(prog(ins(BPF_LD | BPF_IMM, a), ins(BPF_JMP | op | BPF_K, v, 0, 1),
                                          ins(BPF_RET, 1), ins(BPF_RET, 2)))
            assert run_filter(p, np.zeros(16, np.uint32)) == (1 if fn(v) else 2), (op, v)


# -- chains, clone, release, checkpoint --------------------------------------------------------------

def kernel_with_filter():
    k = Kernel()
    w = k.world
    t = k.task(k.init_task)
    w.tasks.no_new_privs[t] = True
    seccomp.set_mode_filter(w, t, 0, errno_for(39, 5))
    return k, t


def test_the_newest_filter_wins_among_equal_actions_and_kill_beats_errno():
    k, t = kernel_with_filter()
    w = k.world
    seccomp.set_mode_filter(w, t, 0, errno_for(39, 9))
    data = seccomp.seccomp_data(39, 0x1000, [0] * 6)
    assert seccomp.filter_verdict(w, int(w.tasks.seccomp_filter[t]), data) == SECCOMP_RET_ERRNO | 9
    seccomp.set_mode_filter(w, t, 0, prog(ins(BPF_RET, SECCOMP_RET_TRAP | 1)))
    assert seccomp.filter_verdict(w, int(w.tasks.seccomp_filter[t]), data) == SECCOMP_RET_TRAP | 1
    seccomp.set_mode_filter(w, t, 0, prog(ins(BPF_RET, SECCOMP_RET_KILL_PROCESS)))
    assert seccomp.filter_verdict(w, int(w.tasks.seccomp_filter[t]), data) == SECCOMP_RET_KILL_PROCESS
    check_sanity(w)


def test_a_filter_needs_no_new_privs_without_cap_sys_admin():
    k = Kernel(uid=1000, gid=1000)
    with pytest.raises(KernelError) as e:
        seccomp.set_mode_filter(k.world, k.task(k.init_task), 0, errno_for(39, 5))
    assert e.value.errno == 13


def test_children_share_the_chain_and_release_drops_it():
    k, t = kernel_with_filter()
    w = k.world
    child = k.fork(k.init_task)
    c = k.task(child)
    assert w.tasks.seccomp_mode[c] == SECCOMP_MODE_FILTER
    assert w.tasks.seccomp_filter[c] == w.tasks.seccomp_filter[t]
    assert w.seccomp_filters.refs[int(w.tasks.seccomp_filter[t])] == 2
    check_sanity(w)
    k.exit_group(child, 0)
    k.tick()
    k.wait4(k.init_task, -1, 0)
    k.tick()
    assert w.seccomp_filters.refs[int(w.tasks.seccomp_filter[t])] == 1
    check_sanity(w)


def test_a_kill_verdict_forces_sigsys_on_a_task():
    k, t = kernel_with_filter()
    w = k.world
    kind, _ = seccomp.syscall_entry(w, t, 39, 0x401000, [0] * 6)
    assert kind == seccomp.SKIP
    seccomp.set_mode_filter(w, t, 0, prog(ins(BPF_RET, SECCOMP_RET_KILL_PROCESS)))
    child = k.task(k.fork(k.init_task))
    kind, _ = seccomp.syscall_entry(w, child, 1, 0x401000, [0] * 6)
    assert kind == seccomp.KILLED
    assert int(w.tasks.sig_pending[child]) >> (SIGSYS - 1) & 1


def test_filters_survive_a_checkpoint():
    k, t = kernel_with_filter()
    k.fork(k.init_task)
    seccomp.set_mode_filter(k.world, t, 0, errno_for(102, 3))
    back = World.restore(k.checkpoint())
    for w in (k.world, back):
        check_sanity(w)
    data = seccomp.seccomp_data(102, 0, [0] * 6)
    f = int(back.tasks.seccomp_filter[t])
    assert seccomp.filter_verdict(back, f, data) == SECCOMP_RET_ERRNO | 3
    assert seccomp.filter_count(back, t) == 2
    assert back.tasks.syscall_work[t] == k.world.tasks.syscall_work[t] != 0
