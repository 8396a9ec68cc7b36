"""The compiled syscall fast path against the Python handlers it mirrors.

Each example builds two identical guests (same World state, same guest memory, same fake clocks),
runs one ``syscall`` instruction with the same registers in each, one Machine with the compiled
hook and one with ``fast_path=False``, and compares rax, every byte of the test mappings and the
component columns the syscalls read or write. Pointers are drawn around mapping edges: writable,
read-only, executable and unmapped pages, two adjacent rows, NULL and past the top of user space.
"""
from __future__ import annotations

import ctypes
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unicorn import x86_const as X

from ecs_kernel.abi import (MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, RLIMIT_NOFILE, TASK_SIZE,
                            UNBLOCKABLE)
from ecs_kernel.components.user_namespace import UID
from ecs_kernel.cpu.clock import HostClock
from ecs_kernel.cpu.task_run import Machine
from ecs_kernel.fs.vfs import FileSystem
from ecs_kernel.kernel import Kernel
from ecs_kernel.syscalls.table import number_of
from ecs_kernel.systems import user_namespace as userns

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the guest")

BASE = 0x1000_0000
PAGE = 0x1000
# (offset from BASE, pages, prot): two adjacent writable rows, a hole, read-only, hole, RWX.
REGIONS = ((0, 1, 3), (PAGE, 1, 3), (3 * PAGE, 1, 1), (6 * PAGE, 1, 7))
CLOCK_NS = {}  # clock id -> ns, what both machines' clocks say in this example
NS = 1_000_000_000


@pytest.fixture(scope="module")
def guest():
    """A static program whose entry point is one ``syscall`` (then hlt). Built under /var/tmp:
    the guest's /tmp is its own."""
    d = Path(tempfile.mkdtemp(prefix="ecs-fastpath-", dir="/var/tmp"))
    src = d / "one.s"
    src.write_text(".globl _start\n_start:\n    syscall\n    hlt\n")
    out = d / "one"
    subprocess.run(["gcc", "-nostdlib", "-static", "-o", str(out), str(src)], check=True)
    yield str(out)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(autouse=True)
def _default_clocks():
    _set_clocks((1_700_000_000 * NS + 5, 42 * NS + 7, 3 * NS))


@ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
def _fake_clock_gettime(clockid, ts):
    ns = CLOCK_NS[clockid]
    ctypes.memmove(ts, np.array([ns // NS, ns % NS], np.int64).ctypes.data, 16)
    return 0


class FakeClock(HostClock):
    """Clocks from CLOCK_NS for both paths: Python reads them, the cfunc calls the fake. Process
    CPU time counts from 0 on the fake clock (not from the host's process time when the machine
    was made, which differs between the fast and the Python machine of one example)."""

    def __init__(self):
        super().__init__()
        # The process CPU clock's base: HostClock takes the real process time at construction,
        # which differs between the two machines of an example by the CPU used in between (the
        # two paths then disagreed, under load, on CLOCK_PROCESS_CPUTIME_ID).
        self._cpu0 = 0

    def realtime_ns(self):
        return CLOCK_NS[0]

    def monotonic_ns(self):
        return CLOCK_NS[1]

    def cpu_time_ns(self):
        return CLOCK_NS[2] - self.cpu0_ns

    def c_clock_gettime(self):
        return ctypes.cast(_fake_clock_gettime, ctypes.c_void_p).value


def _setup(path, fast, state, mem):
    k = Kernel()
    h = k.init_task
    for flags in state["clones"]:
        h = k.clone(h, flags)
    m = Machine(k, FileSystem("/"), fast_path=fast, clock=FakeClock())
    row = k.task(h)
    prog = m.exec_first(row, path, [path], [])
    w = k.world
    T, G = w.tasks, w.thread_groups
    T.ruid[row], T.euid[row], T.rgid[row], T.egid[row] = state["ids"]
    T.sig_mask[row] = state["mask"]
    T.sig_pending[row] = state["pending"]
    tg = int(T.tg[row])
    G.group_pending[tg] = state["group_pending"]
    rs = int(G.rlimits[tg])
    res, cur, mx = state["rlimit"]
    w.rlimit_sets.rlim_cur[rs, res] = cur
    w.rlimit_sets.rlim_max[rs, res] = mx
    aspace = m.tasks[row].mm
    if state.get("heap"):
        aspace.brk(aspace.start_brk + state["heap"])
    for off, pages, prot in REGIONS:
        aspace.mmap(BASE + off, pages * PAGE, prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, None, 0)
        aspace.copy_out(BASE + off, mem[off:off + pages * PAGE], force=True)
    if state.get("rlimit_data") is not None:
        aspace.rlimit_data = state["rlimit_data"]
    return m, row, prog.entry


def _run(m, entry, regs):
    uc = m.memory_of(m.current).uc
    for reg, v in zip((X.UC_X86_REG_RAX, X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX,
                       X.UC_X86_REG_R10, X.UC_X86_REG_R8, X.UC_X86_REG_R9), regs):
        uc.reg_write(reg, v)
    if m.fastpath is not None:
        m.fastpath.sync()  # what the run loop does before emu_start
    uc.emu_start(entry, entry + 2)
    return uc.reg_read(X.UC_X86_REG_RAX)


def _observe(m, row):
    w = m.world
    T, G = w.tasks, w.thread_groups
    aspace = m.tasks[row].mm
    tg = int(T.tg[row])
    rs = int(G.rlimits[tg])
    memory = b"".join(aspace.copy_in(BASE + off, pages * PAGE) for off, pages, _ in REGIONS)
    return dict(memory=memory, mask=int(T.sig_mask[row]), pending=int(T.sig_pending[row]),
                group_pending=int(G.group_pending[tg]),
                rlim=(w.rlimit_sets.rlim_cur[rs].tolist(), w.rlimit_sets.rlim_max[rs].tolist()),
                run_state=int(T.run_state[row]), exiting=bool(G.exiting[tg]),
                brk=(aspace.start_brk, aspace.current_brk), rows=aspace._n)


def both_ways(path, nr, args, state, mem):
    """(fast result, handled in compiled code?) after checking the two paths agree."""
    out = []
    for fast in (True, False):
        m, row, entry = _setup(path, fast, state, mem)
        before = m.fastpath.fast_calls if fast else 0
        rax = _run(m, entry, (nr, *args))
        assert m.internal_error is None, m.internal_error
        handled = fast and m.fastpath.fast_calls > before
        out.append((rax, _observe(m, row), handled))
    (fr, fobs, handled), (sr, sobs, _) = out
    assert fr == sr, f"rax: fast {fr:#x} != python {sr:#x}"
    for key in sobs:
        assert fobs[key] == sobs[key], f"{key} differs"
    return fr, handled


# -- strategies -------------------------------------------------------------------------------------

U64 = st.integers(0, (1 << 64) - 1)


def pointers():
    """Guest addresses: mostly inside or at the edges of the test mappings, some special."""
    region = st.sampled_from([0, PAGE, 2 * PAGE, 3 * PAGE, 4 * PAGE, 6 * PAGE])
    offset = st.one_of(st.sampled_from([0, 4, 8, 12, 64, PAGE - 16, PAGE - 12, PAGE - 8, PAGE - 4,
                                        PAGE - 1]),
                       st.integers(0, PAGE - 1))
    near = st.builds(lambda r, off: BASE + r + off, region, offset)
    writable = st.builds(lambda off: BASE + off, st.integers(0, 2 * PAGE - 16))
    special = st.sampled_from([0, TASK_SIZE - 8, TASK_SIZE - 16, TASK_SIZE, 1 << 63,
                               (1 << 64) - 8, (1 << 64) - 1, 8])
    return st.one_of(near, writable, writable, special)


def signal_sets():
    return st.one_of(st.just(0), U64, st.sampled_from([1 << 1, 1 << 9, 1 << 16, UNBLOCKABLE]))


@st.composite
def world_states(draw):
    res = draw(st.integers(0, 15))
    mx = draw(U64)
    return dict(
        clones=draw(st.lists(st.sampled_from([0, 0x2000_0000]), max_size=2)),  # CLONE_NEWPID
        ids=tuple(draw(st.integers(0, 0xFFFF_FFFF)) for _ in range(4)),
        mask=draw(st.one_of(U64, signal_sets())) & ~UNBLOCKABLE,
        pending=draw(st.one_of(st.just(0), st.just(0), signal_sets())),
        group_pending=draw(st.one_of(st.just(0), st.just(0), signal_sets())),
        rlimit=(res, draw(st.integers(0, mx)), mx),
    )


def _random_bytes(seed):
    if seed == 0:
        return bytes(7 * PAGE)
    return np.random.default_rng(seed).integers(0, 256, 7 * PAGE, dtype=np.uint8).tobytes()


def memories():
    """The test mappings' contents: zeros or seeded noise (a seed shrinks; 28 KiB does not)."""
    return st.integers(0, 1 << 32).map(_random_bytes)


def clocks():
    return st.tuples(st.integers(0, 1 << 62), st.integers(0, 1 << 62), st.integers(0, 1 << 40))


SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def deliverable(state) -> bool:
    unblockable = (1 << 8) | (1 << 18)
    return bool((state["pending"] | state["group_pending"]) & ~(state["mask"] & ~unblockable))


def _set_clocks(c):
    real, mono, cpu = c
    CLOCK_NS.clear()
    CLOCK_NS.update({0: real, 1: mono, 2: cpu})


# -- the tests ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["getpid", "getppid", "gettid", "getuid", "geteuid", "getgid",
                                  "getegid", "sched_yield"])
@SETTINGS
@given(state=world_states())
def test_id_getters_agree(guest, name, state):
    _, handled = both_ways(guest, number_of(name), (), state, bytes(7 * PAGE))
    # a deliverable signal sends every call to Python (delivery on the way back to user mode)
    assert handled == (not deliverable(state))


@pytest.mark.parametrize("name,seen", [("getuid", 0), ("geteuid", 0), ("getgid", 65534),
                                       ("getegid", 65534)])
def test_a_task_in_a_user_namespace_takes_the_python_path(guest, name, seen):
    """A task below the initial user namespace sees its ids through the maps (uid 1000 mapped
    to 0, no gid map): the compiled hook leaves its get*id calls to Python."""
    state = {"clones": [], "ids": (1000, 1000, 1000, 1000), "mask": 0, "pending": 0,
             "group_pending": 0, "rlimit": (RLIMIT_NOFILE, 1024, 4096)}
    m, row, entry = _setup(guest, True, state, bytes(7 * PAGE))
    w = m.world
    ns = userns.create(w, row)
    userns.enter(w, row, ns)
    userns.write_map(w, row, userns.cred_view(w, row), ns, UID, b"0 1000 1", 0)
    before = m.fastpath.fast_calls
    assert _run(m, entry, (number_of(name),)) == seen
    assert m.fastpath.fast_calls == before


@pytest.mark.parametrize("name", ["clock_gettime", "clock_getres"])
@SETTINGS
@given(clock=st.one_of(st.integers(-3, 12), st.integers(0, (1 << 64) - 1)), tp=pointers(),
       c=clocks(), mem=memories())
def test_clock_calls_agree(guest, name, clock, tp, c, mem):
    _set_clocks(c)
    both_ways(guest, number_of(name), (clock, tp), _STATE, mem)


@SETTINGS
@given(tv=pointers(), tz=pointers(), c=clocks(), mem=memories())
def test_gettimeofday_agrees(guest, tv, tz, c, mem):
    _set_clocks(c)
    both_ways(guest, number_of("gettimeofday"), (tv, tz), _STATE, mem)


@SETTINGS
@given(tloc=pointers(), c=clocks(), mem=memories())
def test_time_agrees(guest, tloc, c, mem):
    _set_clocks(c)
    both_ways(guest, number_of("time"), (tloc,), _STATE, mem)


@SETTINGS
@given(state=world_states(), how=st.one_of(st.integers(0, 2), st.integers(0, 3), U64),
       set_=pointers(), oldset=pointers(), size=st.sampled_from([8, 8, 8, 8, 4, 16, 0]),
       mem=memories())
def test_rt_sigprocmask_agrees(guest, state, how, set_, oldset, size, mem):
    both_ways(guest, number_of("rt_sigprocmask"), (how, set_, oldset, size), state, mem)


@SETTINGS
@given(uaddr=pointers(), op=st.one_of(st.sampled_from([1, 129, 10, 138, 257, 266, 0x181]),
                                     st.sampled_from([1, 129, 10, 138, 257, 266, 0x181]), U64),
       val3=st.one_of(st.just(0), U64), mem=memories())
def test_futex_wake_agrees(guest, uaddr, op, val3, mem):
    both_ways(guest, number_of("futex"), (uaddr, op, 1, 0, 0, val3), _STATE, mem)


@pytest.mark.parametrize("op", [1, 10, 129, 138])  # FUTEX_WAKE(_BITSET), shared and private
@pytest.mark.parametrize("uaddr", [8, BASE + 6 * PAGE, BASE])
def test_futex_wake_of_an_unmapped_word_agrees(guest, uaddr, op):
    """get_futex_key: a shared key needs the word mapped (EFAULT), a private one does not."""
    both_ways(guest, number_of("futex"), (uaddr, op, 1, 0, 0, 1), _STATE, bytes(7 * PAGE))


@SETTINGS
@given(state=world_states(), res=st.one_of(st.integers(0, 17), U64), ptr=pointers(), mem=memories())
def test_getrlimit_agrees(guest, state, res, ptr, mem):
    both_ways(guest, number_of("getrlimit"), (res, ptr), state, mem)


@SETTINGS
@given(state=world_states(), pid=st.one_of(st.integers(-1, 3), U64),
       res=st.one_of(st.integers(0, 17), U64), old=pointers(), mem=memories())
def test_prlimit64_read_agrees(guest, state, pid, res, old, mem):
    both_ways(guest, number_of("prlimit64"), (pid, res, 0, old), state, mem)


@SETTINGS
@given(heap=st.sampled_from([0, 1, 100, PAGE - 1, PAGE, 3 * PAGE + 17]),
       rlimit_data=st.sampled_from([None, 0, PAGE, 1 << 20]),
       base=st.sampled_from(["zero", "start", "current"]),
       delta=st.one_of(st.integers(-2 * PAGE, 2 * PAGE), st.sampled_from([1 << 46, 1 << 63, -1])))
def test_brk_agrees(guest, heap, rlimit_data, base, delta):
    state = dict(_STATE, heap=heap, rlimit_data=rlimit_data)
    m, _, _ = _setup(guest, False, state, bytes(7 * PAGE))
    aspace = m.tasks[m.current].mm
    origin = {"zero": 0, "start": aspace.start_brk, "current": aspace.current_brk}[base]
    both_ways(guest, number_of("brk"), ((origin + delta) % (1 << 64),), state, bytes(7 * PAGE))


def test_brk_query_and_moves_within_a_page_stay_compiled(guest):
    state = dict(_STATE, heap=100)
    m, _, _ = _setup(guest, False, state, bytes(7 * PAGE))
    cur = m.tasks[m.current].mm.current_brk
    for new in (0, cur + 50, cur - 50):
        rax, handled = both_ways(guest, number_of("brk"), (new,), state, bytes(7 * PAGE))
        assert handled and rax == (cur if new == 0 else new)


_STATE = dict(clones=[], ids=(0, 0, 0, 0), mask=0, pending=0, group_pending=0, rlimit=(0, 1, 2))


def test_common_calls_never_enter_python(guest):
    """The calls a program makes in a loop are answered in compiled code."""
    _set_clocks((1_700_000_000 * NS + 5, 42 * NS + 7, 3 * NS))
    buf = BASE + 64
    cases = [("getpid", ()), ("clock_gettime", (1, buf)), ("clock_gettime", (0, buf)),
             ("gettimeofday", (buf, 0)), ("time", (buf,)), ("clock_getres", (1, buf)),
             ("rt_sigprocmask", (0, buf, buf + 16, 8)), ("rt_sigprocmask", (2, 0, buf, 8)),
             ("futex", (buf, 129, 1, 0, 0, 0)), ("getrlimit", (3, buf)),
             ("prlimit64", (0, 7, 0, buf)), ("sched_yield", ())]
    for name, args in cases:
        rax, handled = both_ways(guest, number_of(name), args, _STATE, bytes(7 * PAGE))
        assert handled, name
        assert rax < (1 << 63), (name, rax)


def test_clock_gettime_writes_the_clock(guest):
    _set_clocks((1_700_000_000 * NS + 5, 42 * NS + 7, 3 * NS))
    m, row, entry = _setup(guest, True, _STATE, bytes(7 * PAGE))
    assert _run(m, entry, (number_of("clock_gettime"), 1, BASE + 8)) == 0
    sec, nsec = np.frombuffer(m.tasks[row].mm.copy_in(BASE + 8, 16), np.int64)
    assert (sec, nsec) == (42, 7)


@pytest.mark.parametrize("how", [0, 1, 2])
@SETTINGS
@given(old=U64, new=U64, mem=memories())
def test_rt_sigprocmask_sets_the_mask_linux_computes(guest, how, old, new, mem):
    """Nothing pending: every how is answered in compiled code, with Linux's new mask."""
    mem = bytearray(mem)
    mem[64:72] = new.to_bytes(8, "little")
    state = dict(_STATE, mask=old & ~UNBLOCKABLE)
    rax, handled = both_ways(guest, number_of("rt_sigprocmask"), (how, BASE + 64, BASE + 128, 8),
                             state, bytes(mem))
    assert rax == 0 and handled
    m, row, entry = _setup(guest, True, state, bytes(mem))
    _run(m, entry, (number_of("rt_sigprocmask"), how, BASE + 64, BASE + 128, 8))
    want = {0: old | new, 1: old & ~new, 2: new}[how] & ~UNBLOCKABLE
    assert int(m.world.tasks.sig_mask[row]) == want
    assert m.tasks[row].mm.copy_in_u64(BASE + 128) == old & ~UNBLOCKABLE


def test_unblocking_a_pending_signal_goes_to_python(guest):
    state = dict(_STATE, mask=1 << 9, pending=1 << 9)  # SIGUSR1 pending and blocked
    mem = bytearray(7 * PAGE)
    mem[64:72] = (1 << 9).to_bytes(8, "little")
    _, handled = both_ways(guest, number_of("rt_sigprocmask"), (1, BASE + 64, 0, 8), state, bytes(mem))
    assert not handled


def test_write_to_executable_memory_goes_to_python(guest):
    _set_clocks((5, 6, 7))
    _, handled = both_ways(guest, number_of("clock_gettime"), (0, BASE + 6 * PAGE), _STATE,
                           bytes(7 * PAGE))
    assert not handled


def test_a_grown_task_table_is_seen(guest):
    """Column arrays move when a table doubles: sync() must hand the hook the new ones."""
    m, row, entry = _setup(guest, True, _STATE, bytes(7 * PAGE))
    k = m.kernel
    T = m.world.tasks
    cap = T.capacity
    h = k.handle(row)
    while T.capacity == cap:
        k.fork(k.init_task)
    T.euid[row] = 4242
    assert _run(m, entry, (number_of("geteuid"),)) == 4242
    assert _run(m, entry, (number_of("getpid"),)) == k.getpid(h)
