"""The page-walk kernels against naive pure-Python oracles (one per kernel).

Tables are random: rows of pages with random protections, each backed by its own numpy buffer
whose host address goes in the HOST column, exactly as the AddressSpace builds them.
"""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

warnings.filterwarnings("ignore", message="nopython is set for njit")

from ecs_kernel.jit import pagewalk as pw  # noqa: E402

P = 4096
BASE = 0x10000


class Table:
    """A range table plus the arrays backing it (kept alive here)."""

    def __init__(self, rows):
        # rows: list of (start_page, npages, prot, growsdown, fill_seed[, eof_page]): eof_page,
        # if given, is the row's first page wholly past the end of its file (LIMIT)
        self.arrays = []
        n = len(rows)
        self.t = np.zeros((pw.NCOLS, max(n, 1) + 3), dtype=np.int64)
        self.limits = []
        for i, (sp, npg, prot, gd, seed, *eof) in enumerate(rows):
            limit = pw.NO_LIMIT if not eof or eof[0] is None else BASE + (sp + eof[0]) * P
            self.limits.append(limit)
            arr = np.random.default_rng(seed).integers(0, 4, npg * P + 2 * P).astype(np.uint8)
            boff = P  # start one page into the buffer, as split rows do
            self.arrays.append(arr)
            self.t[:, i] = (BASE + sp * P, BASE + (sp + npg) * P, prot,
                            arr.ctypes.data + boff, pw.VM_GROWSDOWN if gd else 0, i, boff,
                            0, 0, 0, limit)
        self.n = n
        self.rows = rows

    # --- oracles: byte by byte, row by row, no binary search, no cleverness
    def row_of(self, addr):
        for i in range(self.n):
            if self.t[pw.START, i] <= addr < self.t[pw.END, i]:
                return i
        return -1

    def prot_of(self, addr):
        i = self.row_of(addr)
        if i < 0:
            return None
        p = int(self.t[pw.PROT, i])
        return p | 1 if p & 6 else p

    def past_eof(self, addr):
        i = self.row_of(addr)
        return i >= 0 and addr >= self.limits[i]

    def byte(self, addr):
        i = self.row_of(addr)
        return int(self.arrays[i][self.t[pw.BOFF, i] + addr - self.t[pw.START, i]])

    def set_byte(self, addr, v):
        i = self.row_of(addr)
        self.arrays[i][self.t[pw.BOFF, i] + addr - self.t[pw.START, i]] = v


@st.composite
def tables(draw):
    rows = []
    page = draw(st.integers(0, 3))
    for _ in range(draw(st.integers(0, 6))):
        npg = draw(st.integers(1, 3))
        rows.append((page, npg, draw(st.sampled_from([0, 1, 2, 3, 4, 5, 7])),
                     draw(st.booleans()), draw(st.integers(0, 1000)),
                     draw(st.one_of(st.none(), st.none(), st.integers(0, npg)))))
        page += npg + draw(st.sampled_from([0, 0, 1, 2]))  # often adjacent, sometimes a hole
    return Table(rows)


addrs = st.integers(BASE - 2 * P, BASE + 30 * P)
lengths = st.integers(0, 3 * P)
needs = st.sampled_from([0, 1, 2, 4, 3])
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def oracle_check(tb, addr, length, need):
    for a in range(addr, addr + length):
        p = tb.prot_of(a)
        if p is None or (p & need) != need or tb.past_eof(a):
            return -1
    return 0


@SETTINGS
@given(tables(), addrs)
def test_find_row_matches_linear_scan(tb, addr):
    assert pw.find_row(tb.t, tb.n, addr) == tb.row_of(addr)


@SETTINGS
@given(tables(), addrs)
def test_first_row_ending_after_matches_linear_scan(tb, addr):
    expect = next((i for i in range(tb.n) if tb.t[pw.END, i] > addr), tb.n)
    assert pw.first_row_ending_after(tb.t, tb.n, addr) == expect


@SETTINGS
@given(tables(), addrs, lengths, needs)
def test_check_range_matches_byte_walk(tb, addr, length, need):
    assert pw.check_range(tb.t, tb.n, addr, length, need) == oracle_check(tb, addr, length, need)


@SETTINGS
@given(tables(), addrs, st.integers(1, 64), needs)
def test_locate_matches_oracle(tb, addr, length, need):
    b, off, prot = pw.locate(tb.t, tb.n, addr, length, need)
    if oracle_check(tb, addr, length, need) < 0:
        assert b == pw.FAULT
    elif tb.row_of(addr) != tb.row_of(addr + length - 1):
        assert b == pw.NOT_FOUND
    else:
        i = tb.row_of(addr)
        assert (b, off, prot) == (i, tb.t[pw.BOFF, i] + addr - tb.t[pw.START, i], tb.t[pw.PROT, i])


@SETTINGS
@given(tables(), addrs, lengths, needs)
def test_translate_pieces_cover_the_range_in_order(tb, addr, length, need):
    out = np.zeros((8, 3), dtype=np.int64)
    k = pw.translate(tb.t, tb.n, addr, length, need, out)
    if length == 0:
        assert k == 0
        return
    if oracle_check(tb, addr, length, need) < 0:
        assert k == pw.FAULT
        return
    # oracle: byte by byte (buffer, offset), then group runs
    pieces = []
    for a in range(addr, addr + length):
        i = tb.row_of(a)
        key = (i, int(tb.t[pw.BOFF, i] + a - tb.t[pw.START, i]))
        if pieces and pieces[-1][0] == i and pieces[-1][1] + pieces[-1][2] == key[1]:
            pieces[-1][2] += 1
        else:
            pieces.append([i, key[1], 1])
    assert out[:k].tolist() == pieces


def test_translate_reports_a_too_small_output():
    tb = Table([(0, 1, 3, False, 1), (1, 1, 3, False, 2), (2, 1, 3, False, 3)])
    out = np.zeros((2, 3), dtype=np.int64)
    assert pw.translate(tb.t, tb.n, BASE, 3 * P, 1, out) == pw.NOT_FOUND


@SETTINGS
@given(tables(), addrs, lengths)
def test_copy_in_matches_byte_reads(tb, addr, length):
    dst = np.full(length, 0xAA, dtype=np.uint8)
    r = pw.copy_in(tb.t, tb.n, addr, dst)
    if oracle_check(tb, addr, length, 1) < 0:
        assert r == pw.FAULT
        assert np.all(dst == 0xAA), "nothing may be copied on a fault"
    else:
        assert r == 0
        assert dst.tolist() == [tb.byte(a) for a in range(addr, addr + length)]


@SETTINGS
@given(tables(), addrs, lengths, st.integers(0, 255))
def test_copy_out_matches_byte_writes(tb, addr, length, value):
    before = [a.copy() for a in tb.arrays]
    src = (np.arange(length) + value).astype(np.uint8)
    r = pw.copy_out(tb.t, tb.n, addr, src)
    if oracle_check(tb, addr, length, 2) < 0:
        assert r == pw.FAULT
        assert all(np.array_equal(a, b) for a, b in zip(tb.arrays, before))
        return
    expect_exec = any(tb.t[pw.PROT, tb.row_of(a)] & 4 for a in range(addr, addr + length))
    assert r == (1 if expect_exec else 0)
    assert [tb.byte(a) for a in range(addr, addr + length)] == src.tolist()
    # and nothing outside the range changed
    for i, (a, b) in enumerate(zip(tb.arrays, before)):
        s = int(tb.t[pw.START, i])
        boff = int(tb.t[pw.BOFF, i])
        changed = np.flatnonzero(a != b)
        for c in changed:
            assert addr <= s + c - boff < addr + length


def oracle_strnlen(tb, addr, maxlen):
    for k in range(maxlen):
        p = tb.prot_of(addr + k)
        if p is None or not p & 1 or tb.past_eof(addr + k):
            return pw.FAULT
        if tb.byte(addr + k) == 0:
            return k
    return pw.NOT_FOUND


@SETTINGS
@given(tables(), addrs, st.integers(0, 2 * P + 10))
def test_strnlen_matches_byte_walk(tb, addr, maxlen):
    # make strings long: only a few NULs, placed near boundaries
    for arr in tb.arrays:
        arr[arr == 0] = 7
    if tb.n:
        s = int(tb.t[pw.START, 0])
        for k in (P - 1, P, 2 * P + 3):
            if tb.row_of(s + k) >= 0:
                tb.set_byte(s + k, 0)
    assert pw.strnlen(tb.t, tb.n, addr, maxlen) == oracle_strnlen(tb, addr, maxlen)


def _occupied(tb, guard):
    occ = []
    for i in range(tb.n):
        s, e = int(tb.t[pw.START, i]), int(tb.t[pw.END, i])
        if tb.t[pw.FLAGS, i] & pw.VM_GROWSDOWN:
            s = max(0, s - guard)
        occ.append((s, e))
    return occ


def _free(occ, a, length):
    return all(a + length <= s or a >= e for s, e in occ)


@SETTINGS
@given(tables(), st.integers(1, 6), st.integers(0, 12), st.integers(0, 40), st.sampled_from([0, P, 2 * P]))
def test_find_gap_topdown_is_the_highest_free_range(tb, npages, low_pg, high_pg, guard):
    length, low, high = npages * P, BASE + low_pg * P - 4 * P, BASE + high_pg * P
    occ = _occupied(tb, guard)
    expect = pw.NOT_FOUND
    a = high - length
    while a >= low:
        if _free(occ, a, length):
            expect = a
            break
        a -= P
    assert pw.find_gap_topdown(tb.t, tb.n, length, low, high, guard) == expect


@SETTINGS
@given(tables(), st.integers(1, 6), st.integers(0, 12), st.integers(0, 40), st.sampled_from([0, P, 2 * P]))
def test_find_gap_bottomup_is_the_lowest_free_range(tb, npages, low_pg, high_pg, guard):
    """Linux unmapped_area: a free range whose next mapping above keeps its guard gap clear
    (only that mapping's gap is checked, as in Linux, not the gaps of mappings further up)."""
    length, low, high = npages * P, BASE + low_pg * P - 4 * P, BASE + high_pg * P
    rows = [(int(tb.t[pw.START, i]), int(tb.t[pw.END, i]), bool(tb.t[pw.FLAGS, i] & pw.VM_GROWSDOWN))
            for i in range(tb.n)]

    def ok(a):
        if any(a < e and s < a + length for s, e, _ in rows):
            return False
        above = [(s, gd) for s, _, gd in rows if s >= a + length]
        if above:
            s, gd = min(above)
            if gd and max(0, s - guard) < a + length:
                return False
        return True

    expect = pw.NOT_FOUND
    a = low
    while a + length <= high:
        if ok(a):
            expect = a
            break
        a += P
    assert pw.find_gap_bottomup(tb.t, tb.n, length, low, high, guard) == expect


@SETTINGS
@given(tables(), addrs, lengths)
def test_overlaps_and_mapped_bytes_match_byte_counts(tb, addr, length):
    addr -= addr % 16  # rows are page aligned: sampling every 16 bytes is exact
    length -= length % 16
    total = data = 0
    for a in range(addr, addr + length, 16):
        i = tb.row_of(a)
        if i >= 0:
            total += 16
            if tb.t[pw.PROT, i] & 2 and not tb.t[pw.FLAGS, i] & pw.VM_GROWSDOWN:
                data += 16
    assert pw.overlaps(tb.t, tb.n, addr, addr + length) == (total > 0)
    assert pw.mapped_bytes(tb.t, tb.n, addr, addr + length, pw.VM_GROWSDOWN, 0) == (total, data)


def test_effective_prot_is_x86():
    assert [pw.effective_prot(p) for p in range(8)] == [0, 1, 3, 3, 5, 5, 7, 7]


def test_nothing_compiles_at_import():
    import subprocess
    import sys
    code = ("import ecs_kernel.cpu.memory, ecs_kernel.jit.pagewalk as m, numba.core.registry as r;"
            "print(sum(len(getattr(m, k).signatures) for k in dir(m)"
            " if hasattr(getattr(m, k), 'signatures')))")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "0"


@pytest.mark.parametrize("length", [1, 8, 4096, 3 * 4096 + 5])
def test_copy_round_trip_across_rows(length):
    tb = Table([(0, 2, 3, False, 1), (2, 1, 3, False, 2), (3, 2, 7, False, 3)])
    addr = BASE + P - 3
    src = np.random.default_rng(length).integers(0, 256, length).astype(np.uint8)
    assert pw.copy_out(tb.t, tb.n, addr, src) in (0, 1)
    dst = np.empty(length, dtype=np.uint8)
    assert pw.copy_in(tb.t, tb.n, addr, dst) == 0
    assert np.array_equal(src, dst)


# --- the TLB fill: the kernel, the Python hook and the compiled Unicorn hook give one answer

def oracle_tlb_fill(tb, addr, access):
    p = tb.prot_of(addr)
    if p is None:
        return pw.TLB_MAPERR
    need = {pw.UC_MEM_READ: 1, pw.UC_MEM_WRITE: 2, pw.UC_MEM_FETCH: 4}[access]
    if not p & need:
        return pw.TLB_ACCERR
    return pw.TLB_BUSERR if tb.past_eof(addr) else p


def _python_hook_answer(tb, addr, access):
    from ecs_kernel.cpu.memory import AddressSpace
    a = AddressSpace.__new__(AddressSpace)  # the table alone: tlb_fill_py reads nothing else
    a._t, a._n = tb.t, tb.n
    return a.tlb_fill_py(addr, access)


def _compiled_hook_answer(tb, addr, access):
    """Call the cfunc Unicorn calls (jit/tlbfill/kernel.py) through ctypes, as Unicorn does."""
    import ctypes

    from ecs_kernel.abi import BUS_ADRERR, SEGV_ACCERR, SEGV_MAPERR
    from ecs_kernel.cpu.platform import HOOK_TLB_FILL_CB, TlbEntry
    from ecs_kernel.jit import tlbfill
    ctl = np.zeros(tlbfill.TLB_SIZE, np.int64)
    ctl[tlbfill.TLB_T], ctl[tlbfill.TLB_CAP], ctl[tlbfill.TLB_N] = \
        tb.t.ctypes.data, tb.t.shape[1], tb.n
    hook = HOOK_TLB_FILL_CB(tlbfill.hook_address())
    entry = TlbEntry(0, -1)
    ok = hook(None, addr, access, ctypes.byref(entry), ctypes.c_void_p(ctl.ctypes.data))
    if ok:
        assert entry.paddr == addr and ctl[tlbfill.TLB_FAULT_CODE] == 0
        return entry.perms
    assert ctl[tlbfill.TLB_FAULT_ADDR] == addr and ctl[tlbfill.TLB_FAULT_ACCESS] == access
    code = int(ctl[tlbfill.TLB_FAULT_CODE])
    if code == tlbfill.TLB_FAULT_SIGBUS | BUS_ADRERR:
        return pw.TLB_BUSERR
    assert code in (SEGV_MAPERR, SEGV_ACCERR)
    return pw.TLB_MAPERR if code == SEGV_MAPERR else pw.TLB_ACCERR


accesses = st.sampled_from([pw.UC_MEM_READ, pw.UC_MEM_WRITE, pw.UC_MEM_FETCH])


@SETTINGS
@given(tables(), addrs, accesses)
def test_tlb_fill_matches_the_page_protection(tb, addr, access):
    expect = oracle_tlb_fill(tb, addr, access)
    assert pw.tlb_fill(tb.t, tb.n, addr, access) == expect
    assert _python_hook_answer(tb, addr, access) == expect
    assert _compiled_hook_answer(tb, addr, access) == expect


def test_tlb_fill_never_grants_exec_to_a_data_page():
    tb = Table([(0, 1, 3, False, 1), (1, 1, 5, False, 2), (2, 1, 0, False, 3)])
    assert pw.tlb_fill(tb.t, tb.n, BASE, pw.UC_MEM_WRITE) == 3  # rw-: no exec, stores stay fast
    assert pw.tlb_fill(tb.t, tb.n, BASE, pw.UC_MEM_FETCH) == pw.TLB_ACCERR
    assert pw.tlb_fill(tb.t, tb.n, BASE + P, pw.UC_MEM_FETCH) == 5
    assert pw.tlb_fill(tb.t, tb.n, BASE + P, pw.UC_MEM_WRITE) == pw.TLB_ACCERR
    assert pw.tlb_fill(tb.t, tb.n, BASE + 2 * P, pw.UC_MEM_READ) == pw.TLB_ACCERR  # PROT_NONE
    assert pw.tlb_fill(tb.t, tb.n, BASE + 3 * P, pw.UC_MEM_READ) == pw.TLB_MAPERR
