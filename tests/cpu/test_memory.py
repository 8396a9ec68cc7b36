"""AddressSpace: Linux mm semantics, errnos, copies, and real x86-64 code running on it in Unicorn."""
import ctypes
import errno
import re
import struct
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from unicorn import (UC_ARCH_X86, UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_PROT, UC_HOOK_INSN,
                     UC_HOOK_MEM_WRITE_UNMAPPED, UC_MODE_64, Uc, UcError)
from unicorn.x86_const import (UC_X86_INS_SYSCALL, UC_X86_REG_RAX, UC_X86_REG_RDI,
                                UC_X86_REG_RSP)

warnings.filterwarnings("ignore", message="nopython is set for njit")

from ecs_kernel import abi
from ecs_kernel.abi import (MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_GROWSDOWN,
                            MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE)
from ecs_kernel.cpu import memory as M  # noqa: E402
from ecs_kernel.cpu.memory import AddressSpace
from ecs_kernel.errors import E, KernelError  # noqa: E402

P = 4096
ANON = MAP_PRIVATE | MAP_ANONYMOUS
SHANON = MAP_SHARED | MAP_ANONYMOUS
RW = PROT_READ | PROT_WRITE
RWX = RW | PROT_EXEC
RX = PROT_READ | PROT_EXEC
BASE = M.DEFAULT_MMAP_BASE


def new_as(**kw) -> AddressSpace:
    return AddressSpace(Uc(UC_ARCH_X86, UC_MODE_64), **kw)


def errno_of(fn, *args, **kw) -> int:
    try:
        fn(*args, **kw)
    except KernelError as e:
        return e.errno
    return 0


class BytesFile:
    """A file as the mm layer sees one."""

    def __init__(self, data: bytes, *, writable=True, readable=True, path="/data/f.bin"):
        self.data = bytearray(data)
        self.readable = readable
        self.writable = writable
        self.path = path
        self.dev = (0xfe, 0x01)
        self.ino = 4242

    def read_at(self, off, n):
        return bytes(self.data[off:off + n])

    def write_at(self, off, b):
        end = off + len(b)
        if end > len(self.data):
            self.data.extend(b"\0" * (end - len(self.data)))
        self.data[off:end] = b


@pytest.fixture
def mm():
    a = new_as()
    yield a
    a.check_sanity()


# ---------------------------------------------------------------------------------------- mmap

def test_anonymous_mmaps_go_top_down_below_mmap_base(mm):
    a = mm.mmap(0, 3 * P, RW, ANON)
    b = mm.mmap(0, P, RW, ANON)
    assert a == BASE - 3 * P == 0x7FFFF7FFC000
    assert b == a - P


def test_length_is_rounded_up_to_pages(mm):
    a = mm.mmap(0, 1, RW, ANON)
    b = mm.mmap(0, 1, RW, ANON)
    assert a - b == P


def test_free_hint_is_used_and_taken_hint_is_ignored(mm):
    assert mm.mmap(0x20000000, P, RW, ANON) == 0x20000000
    again = mm.mmap(0x20000000, P, RW, ANON)
    assert again != 0x20000000 and again == BASE - P
    assert mm.mmap(0x30000123, P, RW, ANON) == 0x30000000  # x86 rounds the hint down


def test_hint_below_mmap_min_addr_is_raised_to_it(mm):
    assert mm.mmap(0x1000, P, RW, ANON) == abi.MMAP_MIN_ADDR


@pytest.mark.parametrize("args, errno", [
    ((0, 0, RW, ANON), E.EINVAL),  # zero length
    ((0x20000123, P, RW, ANON | MAP_FIXED), E.EINVAL),  # unaligned fixed address
    ((0, P, RW, MAP_ANONYMOUS), E.EINVAL),  # neither private nor shared
    ((0, P, RW, abi.MAP_SHARED_VALIDATE | MAP_ANONYMOUS), E.EINVAL),
    ((0, P, RW, MAP_PRIVATE), E.EBADF),  # a file mapping without a file
    ((abi.TASK_SIZE, P, RW, ANON | MAP_FIXED), E.ENOMEM),  # beyond user space
    ((abi.TASK_SIZE - P, 2 * P, RW, ANON | MAP_FIXED), E.ENOMEM),
    ((0, abi.TASK_SIZE + P, RW, ANON), E.ENOMEM),  # longer than user space
    ((0, (1 << 64) - 1, RW, ANON), E.ENOMEM),  # PAGE_ALIGN overflows
    ((0x1000, P, RW, ANON | MAP_FIXED), E.EPERM),  # below vm.mmap_min_addr
    ((0, P, RW, SHANON | MAP_GROWSDOWN), E.EINVAL),
    ((0, P, RW, ANON | abi.MAP_HUGETLB), E.ENOMEM),  # no huge pages reserved
])
def test_mmap_errors(mm, args, errno):
    assert errno_of(mm.mmap, *args) == errno
    assert mm.vmas() == []


def test_unaligned_offset_is_einval(mm):
    assert errno_of(mm.mmap, 0, P, PROT_READ, MAP_PRIVATE, BytesFile(b"x" * P), 100) == E.EINVAL


def test_map_fixed_replaces_existing_pages_with_fresh_zeros(mm):
    a = mm.mmap(0, 4 * P, RW, ANON)
    mm.copy_out(a, b"\x11" * 4 * P)
    assert mm.mmap(a + P, P, PROT_READ, ANON | MAP_FIXED) == a + P
    assert mm.copy_in(a + P - 1, 3) == b"\x11\x00\x00"
    assert mm.copy_in(a + 2 * P - 1, 2) == b"\x00\x11"
    assert [(v.start, v.end, v.prot) for v in mm.vmas()] == [
        (a, a + P, RW), (a + P, a + 2 * P, PROT_READ), (a + 2 * P, a + 4 * P, RW)]


def test_map_fixed_noreplace_refuses_taken_ranges_and_changes_nothing(mm):
    a = mm.mmap(0, 2 * P, RW, ANON)
    mm.copy_out(a, b"keep")
    assert errno_of(mm.mmap, a + P, 2 * P, RW, ANON | MAP_FIXED_NOREPLACE) == E.EEXIST
    assert mm.copy_in(a, 4) == b"keep"
    assert mm.mmap(a + 2 * P, P, RW, ANON | MAP_FIXED_NOREPLACE) == a + 2 * P


def test_top_down_search_keeps_the_stack_guard_gap(mm):
    stack = mm.mmap(BASE - 4 * P, 4 * P, RW, ANON | MAP_FIXED | MAP_GROWSDOWN)
    assert mm.mmap(0, P, RW, ANON) == stack - M.STACK_GUARD_GAP - P
    # a hint inside the guard gap is not honoured either
    assert mm.mmap(stack - 2 * P, P, RW, ANON) != stack - 2 * P


def test_placement_falls_back_to_bottom_up_when_below_mmap_base_is_full():
    mm = new_as(mmap_base=abi.MMAP_MIN_ADDR + P)
    assert mm.mmap(0, 2 * P, RW, ANON) == M.TASK_UNMAPPED_BASE == 0x2AAAAAAAB000


def test_map_32bit_lands_in_the_first_two_gigabytes(mm):
    assert mm.mmap(0, P, RW, ANON | abi.MAP_32BIT) == 0x40000000


def test_max_map_count_is_enforced():
    mm = new_as()
    mm.max_map_count = 3
    for k in range(4):  # alternate protections so the VMAs do not merge
        mm.mmap(0x20000000 + 2 * k * P, P, RW if k % 2 else PROT_READ, ANON | MAP_FIXED)
    assert errno_of(mm.mmap, 0, P, RW, ANON) == E.ENOMEM


# ---------------------------------------------------------------------------------- file maps

def test_private_file_mapping_reads_the_file_and_zero_fills_past_eof(mm):
    data = bytes(range(256)) * 20  # 5120 bytes
    f = BytesFile(data)
    a = mm.mmap(0, 3 * P, RW, MAP_PRIVATE, f, 0)
    assert mm.copy_in(a, len(data)) == data
    assert mm.copy_in(a + len(data), 3 * P - len(data)) == bytes(3 * P - len(data))
    mm.copy_out(a, b"private")
    mm.munmap(a, 3 * P)
    assert bytes(f.data) == data  # private writes never reach the file


def test_private_file_mapping_at_an_offset(mm):
    f = BytesFile(b"A" * P + b"B" * P)
    a = mm.mmap(0, P, PROT_READ, MAP_PRIVATE, f, P)
    assert mm.copy_in(a, 3) == b"BBB"
    assert mm.vmas()[0].offset == P


def test_shared_file_mapping_writes_back_on_msync_and_on_munmap(mm):
    f = BytesFile(b"." * (P + 10))
    a = mm.mmap(0, 2 * P, RW, MAP_SHARED, f, 0)
    mm.copy_out(a + 1, b"hello")
    mm.msync(a, P, abi.MS_SYNC)
    assert bytes(f.data[:7]) == b".hello."
    mm.copy_out(a + P + 2, b"XY")
    mm.copy_out(a + P + 100, b"past eof")  # not written back: the file was shorter at map time
    mm.munmap(a, 2 * P)
    assert bytes(f.data) == b".hello." + b"." * (P - 7) + b"..XY" + b"." * 6


def test_shared_file_mappings_are_shared_with_a_forked_child(mm):
    f = BytesFile(bytes(P))
    a = mm.mmap(0, P, RW, MAP_SHARED, f, 0)
    child = mm.fork(Uc(UC_ARCH_X86, UC_MODE_64))
    child.copy_out(a, b"from child")
    assert mm.copy_in(a, 10) == b"from child"
    child.release()
    assert bytes(f.data[:10]) == b"from child"


def test_writable_shared_mapping_of_a_read_only_file_is_eacces(mm):
    ro = BytesFile(b"x" * P, writable=False)
    assert errno_of(mm.mmap, 0, P, RW, MAP_SHARED, ro, 0) == E.EACCES
    a = mm.mmap(0, P, PROT_READ, MAP_SHARED, ro, 0)
    assert errno_of(mm.mprotect, a, P, RW) == E.EACCES
    b = mm.mmap(0, P, PROT_READ, MAP_PRIVATE, ro, 0)
    assert mm.mprotect(b, P, RW) == 0  # a private copy may be written


def test_file_not_open_for_reading_is_eacces(mm):
    assert errno_of(mm.mmap, 0, P, PROT_READ, MAP_PRIVATE, BytesFile(b"", readable=False)) \
        == E.EACCES


def test_shared_validate_refuses_unknown_flags_but_shared_ignores_them(mm):
    f = BytesFile(b"x" * P)
    assert errno_of(mm.mmap, 0, P, PROT_READ, abi.MAP_SHARED_VALIDATE | abi.MAP_SYNC, f, 0) \
        == errno.EOPNOTSUPP
    assert mm.mmap(0, P, PROT_READ, MAP_SHARED | abi.MAP_SYNC, f, 0) > 0


def test_file_mapping_cannot_grow_down(mm):
    assert errno_of(mm.mmap, 0, P, RW, MAP_PRIVATE | MAP_GROWSDOWN, BytesFile(b"x")) == E.EINVAL


# ---------------------------------------------------------------------------------- munmap

@pytest.mark.parametrize("addr, length", [(0x20000001, P), (0x20000000, 0),
                                          (0x20000000, abi.TASK_SIZE), (abi.TASK_SIZE + P, P)])
def test_munmap_errors(mm, addr, length):
    assert errno_of(mm.munmap, addr, length) == E.EINVAL


def test_munmap_of_a_hole_succeeds(mm):
    assert mm.munmap(0x20000000, 10 * P) == 0


def test_munmap_in_the_middle_splits_and_keeps_both_ends(mm):
    a = mm.mmap(0, 3 * P, RW, ANON)
    mm.copy_out(a, b"\x01" * 3 * P)
    mm.munmap(a + P, P)
    assert mm.copy_in(a + P - 2, 2) == b"\x01\x01"
    assert mm.copy_in(a + 2 * P, 2) == b"\x01\x01"
    assert errno_of(mm.copy_in, a + P, 1) == E.EFAULT
    assert errno_of(mm.copy_in, a + P - 1, 2) == E.EFAULT
    assert [(v.start, v.end) for v in mm.vmas()] == [(a, a + P), (a + 2 * P, a + 3 * P)]


def test_remapping_a_freed_piece_gives_zeros(mm):
    a = mm.mmap(0, 3 * P, RW, ANON)
    mm.copy_out(a, b"\xff" * 3 * P)
    mm.munmap(a + P, P)
    mm.mmap(a + P, P, RW, ANON | MAP_FIXED)
    assert mm.copy_in(a + P, P) == bytes(P)


# -------------------------------------------------------------------------------- mprotect

def test_read_only_pages_make_kernel_writes_efault_and_write_nothing(mm):
    a = mm.mmap(0, 2 * P, RW, ANON)
    mm.mprotect(a + P, P, PROT_READ)
    assert errno_of(mm.copy_out, a + P - 4, b"12345678") == E.EFAULT
    assert mm.copy_in(a + P - 4, 8) == bytes(8)
    mm.copy_out(a + P - 4, b"1234")


def test_prot_none_makes_kernel_reads_efault(mm):
    a = mm.mmap(0, P, PROT_NONE, ANON)
    assert errno_of(mm.copy_in, a, 1) == E.EFAULT
    assert errno_of(mm.copy_in_string, a, 10) == E.EFAULT


def test_write_only_pages_are_readable_like_on_x86(mm):
    a = mm.mmap(0, P, PROT_WRITE, ANON)
    mm.copy_out(a, b"wo")
    assert mm.copy_in(a, 2) == b"wo"
    assert "-w-p" in mm.maps_text()


def test_mprotect_over_a_hole_is_enomem_after_changing_the_pages_before_it(mm):
    a = mm.mmap(0x20000000, P, RW, ANON | MAP_FIXED)
    mm.mmap(0x20000000 + 2 * P, P, RW, ANON | MAP_FIXED)
    assert errno_of(mm.mprotect, a, 3 * P, PROT_READ) == E.ENOMEM
    assert [(v.start, v.prot) for v in mm.vmas()] == [(a, PROT_READ), (a + 2 * P, RW)]


def test_mprotect_starting_in_a_hole_changes_nothing(mm):
    a = mm.mmap(0x20000000 + P, P, RW, ANON | MAP_FIXED)
    assert errno_of(mm.mprotect, a - P, 2 * P, PROT_READ) == E.ENOMEM
    assert mm.vmas()[0].prot == RW
    assert errno_of(mm.mprotect, a + P, P, PROT_READ) == E.ENOMEM  # past the last mapping


@pytest.mark.parametrize("addr_off, length, prot, errno", [
    (1, P, PROT_READ, E.EINVAL),  # unaligned
    (0, P, 0x10, E.EINVAL),  # unknown bit
    (0, P, PROT_READ | abi.PROT_GROWSDOWN | abi.PROT_GROWSUP, E.EINVAL),
    (0, P, PROT_READ | abi.PROT_GROWSUP, E.EINVAL),  # x86 has no grows-up mappings
    (0, P, PROT_READ | abi.PROT_GROWSDOWN, E.EINVAL),  # not a grows-down mapping
])
def test_mprotect_errors(mm, addr_off, length, prot, errno):
    a = mm.mmap(0, P, RW, ANON)
    assert errno_of(mm.mprotect, a + addr_off, length, prot) == errno


def test_mprotect_of_zero_length_succeeds_even_on_a_hole(mm):
    assert mm.mprotect(0x20000000, 0, PROT_READ) == 0


def test_prot_sem_is_accepted_and_ignored(mm):
    a = mm.mmap(0, P, RW, ANON)
    assert mm.mprotect(a, P, PROT_READ | abi.PROT_SEM) == 0
    assert mm.vmas()[0].prot == PROT_READ


def test_mprotect_growsdown_reaches_the_start_of_the_stack(mm):
    s = mm.mmap(0x30000000, 4 * P, RW, ANON | MAP_FIXED | MAP_GROWSDOWN)
    mm.mprotect(s + 2 * P, P, RX | abi.PROT_GROWSDOWN)
    assert [(v.start, v.end, v.prot) for v in mm.vmas()] == [
        (s, s + 3 * P, RX), (s + 3 * P, s + 4 * P, RW)]


def test_mprotect_round_trip_merges_rows_back_into_one_region(mm):
    a = mm.mmap(0, 8 * P, RW, ANON)
    mm.mprotect(a + 3 * P, 2 * P, PROT_READ)
    assert len(list(mm.uc.mem_regions())) == 3
    mm.mprotect(a + 3 * P, 2 * P, RW)
    assert list(mm.uc.mem_regions()) == [(a, a + 8 * P - 1, RW)]


# ---------------------------------------------------------------------------------- mremap

def test_mremap_shrinks_in_place(mm):
    a = mm.mmap(0, 4 * P, RW, ANON)
    assert mm.mremap(a, 4 * P, P, 0) == a
    assert [(v.start, v.end) for v in mm.vmas()] == [(a, a + P)]


def test_mremap_grows_in_place_when_the_next_pages_are_free(mm):
    a = mm.mmap(0x20000000, 2 * P, RW, ANON | MAP_FIXED)
    mm.copy_out(a, b"abc")
    assert mm.mremap(a, 2 * P, 5 * P, 0) == a
    assert mm.copy_in(a, 3) == b"abc"
    assert mm.copy_in(a + 2 * P, 3 * P) == bytes(3 * P)
    mm.copy_out(a + 5 * P - 1, b"z")
    assert [(v.start, v.end) for v in mm.vmas()] == [(a, a + 5 * P)]


def test_mremap_cannot_grow_into_a_mapping_without_maymove(mm):
    a = mm.mmap(0x20000000, P, RW, ANON | MAP_FIXED)
    mm.mmap(a + P, P, PROT_READ, ANON | MAP_FIXED)
    assert errno_of(mm.mremap, a, P, 2 * P, 0) == E.ENOMEM


def test_mremap_maymove_moves_the_contents_and_frees_the_old_range(mm):
    a = mm.mmap(0x20000000, 2 * P, RW, ANON | MAP_FIXED)
    mm.mmap(a + 2 * P, P, PROT_READ, ANON | MAP_FIXED)
    mm.copy_out(a + P - 2, b"move me")
    b = mm.mremap(a, 2 * P, 4 * P, abi.MREMAP_MAYMOVE)
    assert b != a and b == BASE - 4 * P
    assert mm.copy_in(b + P - 2, 7) == b"move me"
    assert errno_of(mm.copy_in, a, 1) == E.EFAULT
    assert mm.copy_in(b + 2 * P, 2 * P) == bytes(2 * P)


def test_mremap_fixed_moves_to_the_given_address_replacing_what_is_there(mm):
    a = mm.mmap(0x20000000, P, RW, ANON | MAP_FIXED)
    mm.copy_out(a, b"payload")
    t = mm.mmap(0x30000000, 2 * P, PROT_READ, ANON | MAP_FIXED)
    assert mm.mremap(a, P, P, abi.MREMAP_MAYMOVE | abi.MREMAP_FIXED, t) == t
    assert mm.copy_in(t, 7) == b"payload"
    assert [(v.start, v.end, v.prot) for v in mm.vmas()] == [(t, t + P, RW),
                                                             (t + P, t + 2 * P, PROT_READ)]


@pytest.mark.parametrize("old, new, flags, new_addr, errno", [
    (P, P, 8, 0, E.EINVAL),  # unknown flag
    (P, 0, abi.MREMAP_MAYMOVE, 0, E.EINVAL),  # zero new length
    (P, P, abi.MREMAP_FIXED, 0x30000000, E.EINVAL),  # FIXED without MAYMOVE
    (P, P, abi.MREMAP_FIXED | abi.MREMAP_MAYMOVE, 0x30000001, E.EINVAL),  # unaligned target
    (2 * P, 2 * P, abi.MREMAP_FIXED | abi.MREMAP_MAYMOVE, 0x20000000 + P, E.EINVAL),  # overlap
    (P, 2 * P, abi.MREMAP_DONTUNMAP | abi.MREMAP_MAYMOVE, 0, E.EINVAL),  # DONTUNMAP resizes
    (3 * P, 4 * P, abi.MREMAP_MAYMOVE, 0, E.EFAULT),  # old range crosses into another VMA
    (0, P, abi.MREMAP_MAYMOVE, 0, E.EINVAL),  # duplicating a private mapping
])
def test_mremap_errors(mm, old, new, flags, new_addr, errno):
    a = mm.mmap(0x20000000, 2 * P, RW, ANON | MAP_FIXED)
    mm.mmap(a + 2 * P, P, PROT_READ, ANON | MAP_FIXED)
    before = mm.maps_text()
    assert errno_of(mm.mremap, a, old, new, flags, new_addr) == errno
    assert mm.maps_text() == before


def test_mremap_of_an_unmapped_or_unaligned_address(mm):
    assert errno_of(mm.mremap, 0x20000000, P, 2 * P, abi.MREMAP_MAYMOVE) == E.EFAULT
    assert errno_of(mm.mremap, 0x20000010, P, 2 * P, abi.MREMAP_MAYMOVE) == E.EINVAL


def test_mremap_dontunmap_leaves_zero_pages_behind(mm):
    a = mm.mmap(0x20000000, 2 * P, RW, ANON | MAP_FIXED)
    mm.copy_out(a, b"data")
    b = mm.mremap(a, 2 * P, 2 * P, abi.MREMAP_MAYMOVE | abi.MREMAP_DONTUNMAP)
    assert b != a
    assert mm.copy_in(b, 4) == b"data"
    assert mm.copy_in(a, 4) == bytes(4)


def test_mremap_with_zero_old_length_duplicates_a_shared_mapping(mm):
    a = mm.mmap(0, 2 * P, RW, SHANON)
    b = mm.mremap(a, 0, 2 * P, abi.MREMAP_MAYMOVE)
    assert b != a
    mm.copy_out(a + P, b"same")
    assert mm.copy_in(b + P, 4) == b"same"


def test_repeated_growth_stays_a_few_rows(mm):
    a = mm.mmap(0x20000000, P, RW, ANON | MAP_FIXED)
    for k in range(2, 200):
        assert mm.mremap(a, (k - 1) * P, k * P, 0) == a
    mm.copy_out(a + 199 * P - 8, b"the tail")
    assert len(list(mm.uc.mem_regions())) <= 8  # geometric slack: O(log n) rows, no copies


# ------------------------------------- many small anonymous mappings (Linux's vma_merge, as cost)

def _fragment(mm, n):
    """gVisor's CreateFragmentedRegion: a PROT_NONE region of n pages, then per page one page
    MAP_FIXED over it and one unrelated page elsewhere, each written once."""
    region = mm.mmap(0, n * P, PROT_NONE, ANON)
    pages = []
    for i in range(n):
        pages.append(mm.mmap(region + i * P, P, RW, ANON | MAP_FIXED))
        mm.copy_out(pages[-1], bytes([i % 251 + 1]))
        pages.append(mm.mmap(0, P, RW, ANON))
        mm.copy_out(pages[-1], bytes([i % 241 + 1]))
    return region, pages


def test_fragmented_region_stays_a_few_rows_and_engine_regions(mm):
    n = 256
    region, pages = _fragment(mm, n)
    assert pages[1] == region - P and all(pages[2 * i + 1] == region - (i + 1) * P
                                          for i in range(n))  # top-down, each below the last
    assert [(v.start, v.end, v.prot) for v in mm.vmas()] == [(region - n * P, region + n * P, RW)]
    assert mm.range_count <= 12  # O(log n): the region's buffer, and geometric slack below it
    assert len(list(mm.uc.mem_regions())) == mm.range_count
    for i in range(n):
        assert mm.copy_in(pages[2 * i], 2) == bytes([i % 251 + 1, 0])
        assert mm.copy_in(pages[2 * i + 1], 2) == bytes([i % 241 + 1, 0])
    mm.check_sanity()
    for p in pages:
        mm.munmap(p, P)
    assert mm.range_count == 0 and not list(mm.uc.mem_regions())
    assert not [hb for hb in mm._bufs if hb is not None]


def test_map_fixed_over_anonymous_memory_zeroes_the_pages_in_their_buffer(mm):
    a = mm.mmap(0, 8 * P, RW, ANON)
    mm.copy_out(a, b"\x22" * 8 * P)
    buf = _buf_at(mm, a)
    assert mm.mmap(a + 3 * P, 2 * P, RW, ANON | MAP_FIXED) == a + 3 * P
    assert _buf_at(mm, a + 3 * P) is buf and mm.range_count == 1  # same attributes: one row
    assert M.resident_pages(buf.arr[3 * P:5 * P]).size == 0  # given back to the host
    assert mm.copy_in(a + 3 * P - 1, 2 * P + 2) == b"\x22" + bytes(2 * P) + b"\x22"
    # other attributes: rows of the same buffer, merged back when they are equal again
    mm.mmap(a + 6 * P, P, PROT_READ, ANON | MAP_FIXED)
    assert _buf_at(mm, a + 6 * P) is buf and mm.range_count == 3
    assert errno_of(mm.copy_out, a + 6 * P, b"x") == E.EFAULT
    mm.mmap(a + 6 * P, P, RW, ANON | MAP_FIXED)
    assert mm.range_count == 1 and mm.copy_in(a + 6 * P, 1) == b"\0"


def test_map_fixed_over_anonymous_memory_in_a_forked_child_leaves_the_parent_alone(mm):
    a = mm.mmap(0, 4 * P, RW, ANON)
    mm.copy_out(a, b"p" * 4 * P)
    child = mm.fork(Uc(UC_ARCH_X86, UC_MODE_64))
    child.mmap(a + P, P, RW, ANON | MAP_FIXED)
    assert child.copy_in(a + P - 1, 3) == b"p\0\0"
    assert mm.copy_in(a + P - 1, 3) == b"ppp"
    mm.mmap(a + 2 * P, P, RW, ANON | MAP_FIXED)
    assert child.copy_in(a + 2 * P, 1) == b"p" and mm.copy_in(a + 2 * P, 1) == b"\0"
    child.check_sanity()
    child.release()


def test_map_fixed_over_executable_anonymous_memory_drops_its_translated_code(mm):
    a = mm.mmap(0x400000, P, RWX, ANON | MAP_FIXED)
    mm.copy_out(a, bytes.fromhex("b803000000" "f4"))
    mm.uc.emu_start(a, a + 5)
    assert mm.mmap(a, P, RWX, ANON | MAP_FIXED) == a  # the same row, the same region
    assert mm.copy_in(a, 6) == bytes(6)
    mm.uc.mem_write(a, bytes.fromhex("b804000000" "f4"))  # behind the kernel's back
    mm.uc.emu_start(a, a + 5)
    assert mm.uc.reg_read(UC_X86_REG_RAX) == 4


def test_map_fixed_over_shared_file_or_special_memory_is_a_new_mapping(mm):
    s = mm.mmap(0, 2 * P, RW, SHANON)
    mm.copy_out(s, b"s" * 2 * P)
    mm.mmap(s, P, RW, ANON | MAP_FIXED)
    assert _buf_at(mm, s) is not _buf_at(mm, s + P)
    assert mm.copy_in(s + P - 1, 2) == b"\0s"
    f = mm.mmap(0, 2 * P, RW, MAP_PRIVATE, BytesFile(b"f" * 2 * P), 0)
    mm.mmap(f + P, P, RW, ANON | MAP_FIXED)
    assert mm.copy_in(f + P - 1, 2) == b"f\0"
    assert [v.file is None for v in mm.vmas() if f <= v.start < f + 2 * P] == [False, True]


def test_adjacent_anonymous_mappings_grow_one_row_with_slack(mm):
    first = mm.mmap(0, P, RW, ANON)
    for k in range(1, 100):
        assert mm.mmap(0, P, RW, ANON) == first - k * P
    assert mm.range_count <= 8
    assert [(v.start, v.end) for v in mm.vmas()] == [(first - 99 * P, first + P)]
    ro = mm.mmap(0, P, PROT_READ, ANON)  # other attributes: a row of its own
    assert ro == first - 100 * P and len(mm.vmas()) == 2
    mm.munmap(first - 50 * P, P)  # a hole in the middle, filled again (its buffer's bytes)
    assert mm.mmap(first - 50 * P, P, RW, ANON | MAP_FIXED) == first - 50 * P
    assert mm.copy_in(first - 50 * P, P) == bytes(P)
    assert mm.range_count <= 9


# ------------------------------------------------------------------------------------- brk

@pytest.fixture
def heap():
    mm = new_as()
    mm.mmap(0x400000, 2 * P, RW, ANON | MAP_FIXED)  # "the executable's data"
    mm.start_data, mm.end_data = 0x400000, 0x401000
    mm.set_brk_base(0x401234)  # end of bss
    yield mm
    mm.check_sanity()


def test_brk_zero_returns_the_current_break(heap):
    assert heap.brk(0) == 0x402000 == heap.start_brk


def test_brk_grows_keeps_contents_and_shrinks(heap):
    assert heap.brk(0x402000 + 3 * P + 5) == 0x402000 + 3 * P + 5
    heap.copy_out(0x402000 + 3 * P, b"12345")  # the partial last page is mapped
    assert heap.brk(0x402000 + 10 * P) == 0x402000 + 10 * P
    assert heap.copy_in(0x402000 + 3 * P, 5) == b"12345"
    assert heap.brk(0x402000 + P) == 0x402000 + P
    assert errno_of(heap.copy_in, 0x402000 + P, 1) == E.EFAULT
    assert "[heap]" in heap.maps_text()


def test_brk_below_its_start_fails_returning_the_current_break(heap):
    heap.brk(0x403000)
    assert heap.brk(0x401000) == 0x403000


def test_brk_keeps_a_page_of_gap_before_the_next_mapping(heap):
    heap.mmap(0x410000, P, RW, ANON | MAP_FIXED)
    assert heap.brk(0x410000) == 0x402000  # would leave no gap
    assert heap.brk(0x410000 - P) == 0x410000 - P


def test_brk_obeys_rlimit_data_counting_the_data_segment(heap):
    heap.end_data = heap.start_data + 3 * P  # a 3-page data segment
    heap.rlimit_data = 7 * P
    assert heap.brk(0x402000 + 4 * P) == 0x402000 + 4 * P
    # 4 pages of heap + 3 of data segment is the limit, though only 2+5 data pages would be mapped
    assert heap.brk(0x402000 + 4 * P + 1) == 0x402000 + 4 * P


def test_brk_obeys_rlimit_data_counting_private_writable_mappings(heap):
    heap.rlimit_data = 6 * P  # the 2-page data mapping counts
    assert heap.brk(0x402000 + 4 * P) == 0x402000 + 4 * P
    assert heap.brk(0x402000 + 4 * P + 1) == 0x402000 + 4 * P


def test_brk_heap_stays_one_region_across_many_small_growths(heap):
    for k in range(1, 300):
        heap.brk(0x402000 + k * 0x2100)
    heap.copy_out(heap.current_brk - 4, b"tail")
    regions = [r for r in heap.uc.mem_regions() if r[0] >= 0x402000]
    assert len(regions) == 1


def test_brk_regrowth_gives_zero_pages(heap):
    heap.brk(0x402000 + 3 * P)
    heap.copy_out(0x402000, b"\xee" * 3 * P)
    heap.brk(0x402000 + P)
    heap.brk(0x402000 + 3 * P)
    assert heap.copy_in(0x402000 + P, 2 * P) == bytes(2 * P)
    assert heap.copy_in(0x402000, 1) == b"\xee"


def test_mremap_regrowth_into_released_pages_gives_zeros(mm):
    a = mm.mmap(0x20000000, P, RW, ANON | MAP_FIXED)
    mm.mremap(a, P, 8 * P, 0)
    mm.copy_out(a, b"\xdd" * 8 * P)
    mm.mremap(a, 8 * P, 2 * P, 0)
    mm.mremap(a, 2 * P, 8 * P, 0)
    assert mm.copy_in(a + 2 * P, 6 * P) == bytes(6 * P)


def test_heap_is_its_own_vma_next_to_the_bss(heap):
    """No ASLR: the heap starts right after the bss; Linux 6.x keeps them apart."""
    heap.mmap(0x402000, P, RW, ANON | MAP_FIXED)  # the bss
    heap.set_brk_base(0x403000)
    heap.brk(0x403000 + 2 * P)
    lines = heap.maps_text().splitlines()
    assert lines[-2] == "00400000-00403000 rw-p 00000000 00:00 0 "
    assert lines[-1].startswith("00403000-00405000 rw-p ") and lines[-1].endswith(" [heap]")


def test_brk_shrink_fails_when_nothing_is_mapped_there(heap):
    heap.brk(0x402000 + 4 * P)
    heap.munmap(0x402000, 4 * P)
    assert heap.brk(0x402000) == 0x402000 + 4 * P


# ------------------------------------------------------------------------------ stack growth

def test_stack_grows_down_on_demand_and_stays_one_vma(mm):
    top = 0x7FF000000000
    s = mm.mmap(top - 4 * P, 4 * P, RW, ANON | MAP_FIXED | MAP_GROWSDOWN)
    mm.copy_out(s, b"old top")
    assert mm.expand_stack(s - 10)
    mm.copy_out(s - 10, b"0123456789")
    for k in range(2, 100):
        assert mm.expand_stack(s - k * P)
    assert mm.copy_in(s - 10, 10) == b"0123456789"
    assert mm.copy_in(s, 7) == b"old top"
    assert [(v.start, v.end) for v in mm.vmas()] == [(s - 99 * P, top)]
    assert len(list(mm.uc.mem_regions())) <= 6
    assert mm.expand_stack(s + P)  # already mapped


def test_stack_growth_is_refused_like_linux(mm):
    s = mm.mmap(0x30000000, P, RW, ANON | MAP_FIXED | MAP_GROWSDOWN)
    plain = mm.mmap(0x20000000, P, RW, ANON | MAP_FIXED)
    assert not mm.expand_stack(plain - 8)  # nothing grows down above it
    mm.mmap(s - M.STACK_GUARD_GAP, P, RW, ANON | MAP_FIXED)  # an accessible mapping too close
    assert not mm.expand_stack(s - P)
    mm.mprotect(s - M.STACK_GUARD_GAP, P, PROT_NONE)  # a PROT_NONE guard does not count
    assert mm.expand_stack(s - P)
    mm.rlimit_stack = 3 * P
    assert mm.expand_stack(s - 2 * P)
    assert not mm.expand_stack(s - 3 * P)


def test_guest_push_below_the_stack_is_served_by_expand_stack(mm):
    code = mm.mmap(0x400000, P, RX, ANON | MAP_FIXED)
    mm.copy_out(code, bytes.fromhex("488907" "f4"), force=True)  # mov [rdi], rax ; hlt
    s = mm.mmap(0x7FF000000000 - P, P, RW, ANON | MAP_FIXED | MAP_GROWSDOWN)
    faults = []

    def on_unmapped(uc, access, address, size, value, _):
        faults.append(address)
        return mm.expand_stack(address)

    mm.uc.hook_add(UC_HOOK_MEM_WRITE_UNMAPPED, on_unmapped)
    mm.uc.reg_write(UC_X86_REG_RAX, 0x1122334455667788)
    mm.uc.reg_write(UC_X86_REG_RDI, s - 3 * P + 8)
    mm.uc.emu_start(code, code + 3)
    assert faults == [s - 3 * P + 8]
    assert mm.copy_in_u64(s - 3 * P + 8) == 0x1122334455667788


# --------------------------------------------------------------------------------- rlimits

def test_rlimit_as_refuses_new_mappings_but_counts_what_map_fixed_replaces(mm):
    a = mm.mmap(0, 4 * P, RW, ANON)
    mm.rlimit_as = 4 * P
    assert errno_of(mm.mmap, 0, P, RW, ANON) == E.ENOMEM
    assert mm.mmap(a, 2 * P, PROT_READ, ANON | MAP_FIXED) == a
    assert errno_of(mm.mremap, a, 2 * P, 3 * P, abi.MREMAP_MAYMOVE) == E.ENOMEM


def test_rlimit_data_counts_private_writable_mappings_only(mm):
    mm.rlimit_data = 2 * P
    mm.mmap(0, 2 * P, RW, ANON)
    assert errno_of(mm.mmap, 0, P, RW, ANON) == E.ENOMEM
    r = mm.mmap(0, P, PROT_READ, ANON)
    mm.mmap(0, P, RW, SHANON)
    assert errno_of(mm.mprotect, r, P, RW) == E.ENOMEM


# --------------------------------------------------------------------------------- madvise

def test_madv_dontneed_zeroes_private_anonymous_memory_only(mm):
    a = mm.mmap(0, P, RW, ANON)
    s = mm.mmap(0, P, RW, SHANON)
    mm.copy_out(a, b"private")
    mm.copy_out(s, b"shared")
    mm.madvise(a, P, abi.MADV_DONTNEED)
    mm.madvise(s, P, abi.MADV_DONTNEED)
    assert mm.copy_in(a, 7) == bytes(7)
    assert mm.copy_in(s, 6) == b"shared"


def test_madv_dontneed_reverts_private_file_pages_to_the_file(mm):
    f = BytesFile(b"original" + bytes(P - 8))
    a = mm.mmap(0, P, RW, MAP_PRIVATE, f, 0)
    mm.copy_out(a, b"scribble")
    mm.madvise(a, P, abi.MADV_DONTNEED)
    assert mm.copy_in(a, 8) == b"original"


def test_madvise_errors_and_holes(mm):
    a = mm.mmap(0x20000000, P, RW, ANON | MAP_FIXED)
    mm.copy_out(a, b"x")
    assert errno_of(mm.madvise, a, P, 77) == E.EINVAL
    assert errno_of(mm.madvise, a + 1, P, abi.MADV_DONTNEED) == E.EINVAL
    assert mm.madvise(a + 5 * P, 0, abi.MADV_DONTNEED) == 0
    assert errno_of(mm.madvise, a, 2 * P, abi.MADV_DONTNEED) == E.ENOMEM
    assert mm.copy_in(a, 1) == b"\0"  # applied to the mapped part anyway
    s = mm.mmap(0, P, RW, SHANON)
    assert errno_of(mm.madvise, s, P, abi.MADV_FREE) == E.EINVAL
    assert errno_of(mm.madvise, a, P, abi.MADV_REMOVE) == E.EINVAL
    assert errno_of(mm.madvise, s, P, abi.MADV_WIPEONFORK) == E.EINVAL
    assert errno_of(mm.madvise, a, P, abi.MADV_HWPOISON) == E.EPERM


def test_fork_honours_dontfork_and_wipeonfork(mm):
    a = mm.mmap(0, P, RW, ANON)
    b = mm.mmap(0, P, RW, ANON)
    mm.copy_out(a, b"wipe")
    mm.copy_out(b, b"skip")
    mm.madvise(a, P, abi.MADV_WIPEONFORK)
    mm.madvise(b, P, abi.MADV_DONTFORK)
    child = mm.fork(Uc(UC_ARCH_X86, UC_MODE_64))
    child.check_sanity()
    assert child.copy_in(a, 4) == bytes(4)
    assert errno_of(child.copy_in, b, 1) == E.EFAULT
    assert mm.copy_in(a, 4) == b"wipe" and mm.copy_in(b, 4) == b"skip"


# ---------------------------------------------------------------------------------- msync

def test_msync_errors(mm):
    a = mm.mmap(0x20000000, P, RW, ANON | MAP_FIXED)
    assert errno_of(mm.msync, a, P, 8) == E.EINVAL
    assert errno_of(mm.msync, a + 1, P, abi.MS_SYNC) == E.EINVAL
    assert errno_of(mm.msync, a, P, abi.MS_SYNC | abi.MS_ASYNC) == E.EINVAL
    assert errno_of(mm.msync, a, 2 * P, abi.MS_SYNC) == E.ENOMEM
    assert mm.msync(a, P, abi.MS_ASYNC) == 0


# ---------------------------------------------------------------------------------- copies

def test_copies_cross_vma_boundaries(mm):
    a = mm.mmap(0x20000000, P, RW, ANON | MAP_FIXED)
    mm.mmap(a + P, P, RWX, ANON | MAP_FIXED)
    mm.mmap(a + 2 * P, P, RW, SHANON | MAP_FIXED)
    data = bytes(range(256)) * 40
    mm.copy_out(a + 100, data)
    assert mm.copy_in(a + 100, len(data)) == data
    assert mm.copy_in_array(a + 100, len(data)).tobytes() == data
    assert len(mm.vmas()) == 3


def test_copies_efault_on_holes_and_write_nothing(mm):
    a = mm.mmap(0x20000000, P, RW, ANON | MAP_FIXED)
    mm.mmap(a + 2 * P, P, RW, ANON | MAP_FIXED)
    assert errno_of(mm.copy_in, a + P - 2, 4) == E.EFAULT
    assert errno_of(mm.copy_out, a + P - 2, b"abcd") == E.EFAULT
    assert mm.copy_in(a + P - 2, 2) == b"\0\0"
    assert errno_of(mm.copy_in, a + 3 * P - 1, 2) == E.EFAULT
    assert errno_of(mm.copy_in, -5, 2) == E.EFAULT
    assert errno_of(mm.copy_in, (1 << 64) - 2, 1) == E.EFAULT
    assert errno_of(mm.copy_out, abi.TASK_SIZE - 1, b"ab") == E.EFAULT
    assert not mm.access_ok(a + P - 2, 4)
    assert mm.access_ok(a, P, write=True)


def test_copy_out_stops_at_read_only_pages_in_the_middle(mm):
    a = mm.mmap(0x20000000, 3 * P, RW, ANON | MAP_FIXED)
    mm.mprotect(a + P, P, PROT_READ)
    assert errno_of(mm.copy_out, a, b"\x01" * 3 * P) == E.EFAULT
    assert mm.copy_in(a, 3 * P) == bytes(3 * P)


def test_copy_out_force_writes_read_only_pages_but_not_holes(mm):
    a = mm.mmap(0, P, PROT_READ, ANON)
    mm.copy_out(a, b"loader", force=True)
    assert mm.copy_in(a, 6) == b"loader"
    assert errno_of(mm.copy_out, a + P - 1, b"ab", force=True) == E.EFAULT


def test_copy_in_string(mm):
    a = mm.mmap(0x20000000, 2 * P, RW, ANON | MAP_FIXED)
    mm.copy_out(a, b"/bin/sh\0")
    assert mm.copy_in_string(a) == b"/bin/sh"
    mm.copy_out(a + P - 3, b"across\0")
    assert mm.copy_in_string(a + P - 3, 7) == b"across"
    assert errno_of(mm.copy_in_string, a + P - 3, 6) == E.ENAMETOOLONG
    mm.copy_out(a + 2 * P - 4, b"edge")
    assert errno_of(mm.copy_in_string, a + 2 * P - 4, 100) == E.EFAULT
    assert errno_of(mm.copy_in_string, a + 2 * P - 4, 4) == E.ENAMETOOLONG
    mm.copy_out(a + 2 * P - 1, b"\0")
    assert mm.copy_in_string(a + 2 * P - 1, 1) == b""
    assert errno_of(mm.copy_in_string, 0x30000000, 10) == E.EFAULT


def test_copy_in_string_at_the_top_of_user_space_faults(mm):
    top = mm.mmap(abi.TASK_SIZE - P, P, RW, ANON | MAP_FIXED)
    mm.copy_out(top, b"x" * P)
    assert errno_of(mm.copy_in_string, top, 2 * P) == E.EFAULT


def test_copy_in_iovecs(mm):
    a = mm.mmap(0x20000000, 2 * P, RW, ANON | MAP_FIXED)
    iov = [(0x1000 * k, k) for k in range(1, 6)]
    raw = b"".join(struct.pack("<QQ", b, n) for b, n in iov)
    mm.copy_out(a + P - 24, raw)  # the array crosses a page
    assert mm.copy_in_iovecs(a + P - 24, 5) == iov
    assert mm.copy_in_iovecs(a, 0) == []
    assert errno_of(mm.copy_in_iovecs, a, abi.UIO_MAXIOV + 1) == E.EINVAL
    mm.copy_out(a, struct.pack("<QQ", 0, 1 << 63))
    assert errno_of(mm.copy_in_iovecs, a, 1) == E.EINVAL
    assert errno_of(mm.copy_in_iovecs, a + 2 * P - 16, 2) == E.EFAULT


def test_typed_copies(mm):
    a = mm.mmap(0x20000000, 2 * P, RW, ANON | MAP_FIXED)
    mm.copy_out_u32(a, 0xDEADBEEF)
    mm.copy_out_u64(a + P - 4, (1 << 64) - 2)  # crosses a page
    assert mm.copy_in_u32(a) == 0xDEADBEEF
    assert mm.copy_in_u64(a + P - 4) == (1 << 64) - 2
    ts = struct.Struct("<qq")
    mm.copy_out_struct(a + 64, ts, 3, -7)
    assert mm.copy_in_struct(a + 64, ts) == (3, -7)
    arr = mm.copy_in_dtype(a + 64, np.dtype([("sec", "<i8"), ("nsec", "<i8")]))
    assert (int(arr[0]["sec"]), int(arr[0]["nsec"])) == (3, -7)
    assert errno_of(mm.copy_in_u64, a + 2 * P - 4) == E.EFAULT
    mm.copy_out(a, np.arange(4, dtype="<u4"))
    assert mm.copy_in_array(a, 16).view("<u4").tolist() == [0, 1, 2, 3]


def test_io_views_are_the_guest_bytes(mm):
    a = mm.mmap(0x20000000, 2 * P, RW, ANON | MAP_FIXED)
    mm.mprotect(a + P, P, RWX)
    views = mm.io_views(a + P - 2, 4, write=True)
    assert [len(v) for v in views] == [2, 2]
    views[0][:] = b"ab"
    views[1][:] = b"cd"
    assert mm.copy_in(a + P - 2, 4) == b"abcd"
    mm.mprotect(a, P, PROT_READ)
    assert errno_of(mm.io_views, a, 4, write=True) == E.EFAULT


# ------------------------------------------------------------------------------------ fork

def test_fork_copies_private_memory_and_shares_shared_memory(mm):
    p = mm.mmap(0, P, RW, ANON)
    s = mm.mmap(0, P, RW, SHANON)
    r = mm.mmap(0, 64 * P, PROT_NONE, ANON)  # a reservation: never written, never copied
    mm.copy_out(p, b"parent")
    child = mm.fork(Uc(UC_ARCH_X86, UC_MODE_64))
    child.check_sanity()
    assert child.maps_text() == mm.maps_text()
    child.copy_out(p, b"child!")
    assert mm.copy_in(p, 6) == b"parent"
    child.copy_out(s, b"hello")
    assert mm.copy_in(s, 5) == b"hello"
    mm.copy_out(s, b"world")
    assert child.copy_in(s, 5) == b"world"
    child.mprotect(r, P, RW)
    assert child.copy_in(r, P) == bytes(P)
    child.release()
    assert child.maps_text() == ""  # every row gone (the engine dies with it, untouched)
    assert mm.copy_in(s, 5) == b"world"


# ------------------------------------------------------------------------------ maps text

def test_maps_text_names_and_format(mm):
    f = BytesFile(b"x" * 3 * P, path="/usr/lib/libc.so.6")
    lib = mm.mmap(0, 2 * P, RX, MAP_PRIVATE, f, P)
    sh = mm.mmap(0, P, RW, SHANON)
    mm.mmap(0x400000, P, RW, ANON | MAP_FIXED)
    mm.set_brk_base(0x500000)
    mm.brk(0x500000 + 2 * P)
    st_ = mm.mmap(0x7FFFFFFDE000, 0x21000, RW, ANON | MAP_FIXED | MAP_GROWSDOWN)
    mm.start_stack = st_ + 0x20000
    a1 = mm.mmap(0x20000000, P, RW, ANON | MAP_FIXED)
    mm.mmap(a1 + P, P, RW, ANON | MAP_FIXED)  # merges with the previous into one VMA
    text = mm.maps_text()
    lines = text.splitlines()
    assert lines[0] == "00400000-00401000 rw-p 00000000 00:00 0 "
    assert lines[1] == "00500000-00502000 rw-p 00000000 00:00 0" + " " * 34 + "[heap]"
    assert lines[2] == "20000000-20002000 rw-p 00000000 00:00 0 "
    shl = next(ln for ln in lines if ln.startswith(f"{sh:08x}"))
    assert re.fullmatch(rf"{sh:x}-{sh + P:x} rw-s 00000000 00:01 \d+ +/dev/zero \(deleted\)", shl)
    libl = next(ln for ln in lines if ln.startswith(f"{lib:08x}"))
    assert libl.startswith(f"{lib:x}-{lib + 2 * P:x} r-xp 00001000 fe:01 4242 ")
    assert libl.index("/usr/lib/libc.so.6") == 73
    assert lines[-1].endswith(" [stack]") and lines[-1].startswith("7ffffffde000-7ffffffff000")
    assert text.endswith("\n")


def test_maps_text_pads_names_like_the_host_kernel(mm):
    """Linux is the oracle: named lines in our /proc/self/maps put the name where the host does."""
    with open("/proc/self/maps") as fh:
        host = [ln.rstrip("\n") for ln in fh]
    named = [ln for ln in host if len(ln.split()) >= 6]
    assert named
    for ln in named:
        fields = ln.split()
        prefix = " ".join(fields[:5]) + " "
        start = ln.index(fields[5], len(prefix))
        assert start == max(73, len(prefix) + 1)
    anon = [ln for ln in host if len(ln.split()) == 5]
    assert all(ln.endswith(" 0 ") for ln in anon)


# ------------------------------------------------------- real x86-64 code running on the memory

# mov rax, [rdi] ; add rax, 1 ; mov [rdi], rax ; hlt   (emu_start(until=hlt) stops before it)
INC_CODE = bytes.fromhex("488b07" "4883c001" "488907" "f4")


def test_guest_code_sees_copy_out_and_the_kernel_sees_guest_writes(mm):
    code = mm.mmap(0x400000, P, RW, ANON | MAP_FIXED)
    mm.copy_out(code, INC_CODE)
    mm.mprotect(code, P, RX)
    data = mm.mmap(0, P, RW, ANON)
    mm.copy_out_u64(data + 8, 41)
    mm.uc.reg_write(UC_X86_REG_RDI, data + 8)
    mm.uc.emu_start(code, code + len(INC_CODE) - 1)
    assert mm.copy_in_u64(data + 8) == 42
    assert mm.uc.reg_read(UC_X86_REG_RAX) == 42


def test_guest_write_faults_after_mprotect_read_only(mm):
    code = mm.mmap(0x400000, P, RX, ANON | MAP_FIXED)
    mm.copy_out(code, INC_CODE, force=True)
    data = mm.mmap(0, P, RW, ANON)
    mm.uc.reg_write(UC_X86_REG_RDI, data)
    mm.uc.emu_start(code, code + len(INC_CODE) - 1)
    mm.mprotect(data, P, PROT_READ)
    mm.uc.reg_write(UC_X86_REG_RDI, data)
    with pytest.raises(UcError) as ei:
        mm.uc.emu_start(code, code + len(INC_CODE) - 1)
    assert ei.value.errno == UC_ERR_WRITE_PROT
    assert mm.copy_in_u64(data) == 1


def test_guest_read_faults_after_munmap(mm):
    code = mm.mmap(0x400000, P, RX, ANON | MAP_FIXED)
    mm.copy_out(code, INC_CODE, force=True)
    data = mm.mmap(0, 2 * P, RW, ANON)
    mm.munmap(data + P, P)
    mm.uc.reg_write(UC_X86_REG_RDI, data + P)
    with pytest.raises(UcError) as ei:
        mm.uc.emu_start(code, code + len(INC_CODE) - 1)
    assert ei.value.errno == UC_ERR_READ_UNMAPPED


def test_mprotect_inside_a_syscall_hook_splits_the_running_code_row(mm):
    # one RWX row: code at page 0, data at pages 1 and 2.
    # syscall ; mov qword [rdi], 7 ; hlt
    code = bytes.fromhex("0f05" "48c70707000000" "f4")
    a = mm.mmap(0x400000, 3 * P, RWX, ANON | MAP_FIXED)
    mm.copy_out(a, code)
    calls = []

    def on_syscall(uc, _):
        calls.append(uc.reg_read(UC_X86_REG_RAX))
        mm.mprotect(a + 2 * P, P, PROT_READ)  # splits the row the guest is executing
        uc.reg_write(UC_X86_REG_RAX, 0)

    mm.uc.hook_add(UC_HOOK_INSN, on_syscall, None, 1, 0, UC_X86_INS_SYSCALL)
    mm.uc.reg_write(UC_X86_REG_RAX, 39)
    mm.uc.reg_write(UC_X86_REG_RDI, a + P)
    mm.uc.emu_start(a, a + len(code) - 1)
    assert calls == [39]
    assert mm.copy_in_u64(a + P) == 7
    mm.check_sanity()
    mm.uc.reg_write(UC_X86_REG_RDI, a + 2 * P)
    with pytest.raises(UcError) as ei:
        mm.uc.emu_start(a, a + len(code) - 1)
    assert ei.value.errno == UC_ERR_WRITE_PROT


def test_copy_out_over_code_the_guest_ran_drops_stale_translations(mm):
    a = mm.mmap(0x400000, P, RWX, ANON | MAP_FIXED)
    mm.copy_out(a, bytes.fromhex("b801000000" "f4"))  # mov eax, 1 ; hlt
    mm.uc.emu_start(a, a + 5)
    assert mm.uc.reg_read(UC_X86_REG_RAX) == 1
    mm.copy_out(a, bytes.fromhex("b802000000"))  # mov eax, 2
    mm.uc.emu_start(a, a + 5)
    assert mm.uc.reg_read(UC_X86_REG_RAX) == 2


def test_kernel_rewriting_code_during_a_syscall_is_seen_by_the_next_call(mm):
    """Within one emulation run: call B; syscall (the kernel rewrites B); call B again."""
    a = mm.mmap(0x400000, P, RWX, ANON | MAP_FIXED)
    stack = mm.mmap(0, P, RW, ANON)
    b = a + 0x100
    code = (b"\xe8" + struct.pack("<i", b - (a + 5)) + b"\x0f\x05"
            + b"\xe8" + struct.pack("<i", b - (a + 12)) + b"\xf4")
    mm.copy_out(a, code)
    mm.copy_out(b, bytes.fromhex("b801000000" "c3"))  # mov eax, 1 ; ret
    seen = []

    def on_syscall(uc, _):
        seen.append(uc.reg_read(UC_X86_REG_RAX))
        mm.copy_out(b, bytes.fromhex("b802000000"))  # now: mov eax, 2

    mm.uc.hook_add(UC_HOOK_INSN, on_syscall, None, 1, 0, UC_X86_INS_SYSCALL)
    mm.uc.reg_write(UC_X86_REG_RSP, stack + P - 64)
    mm.uc.emu_start(a, a + 12)
    assert seen == [1]
    assert mm.uc.reg_read(UC_X86_REG_RAX) == 2


def test_new_code_mapped_at_the_same_address_runs(mm):
    a = mm.mmap(0x400000, P, RWX, ANON | MAP_FIXED)
    mm.copy_out(a, bytes.fromhex("b803000000" "f4"))
    mm.uc.emu_start(a, a + 5)
    f = BytesFile(bytes.fromhex("b804000000" "f4"))
    mm.mmap(a, P, RX, MAP_PRIVATE | MAP_FIXED, f, 0)
    mm.uc.emu_start(a, a + 5)
    assert mm.uc.reg_read(UC_X86_REG_RAX) == 4


def test_forked_child_runs_in_its_own_engine(mm):
    code = mm.mmap(0x400000, P, RX, ANON | MAP_FIXED)
    mm.copy_out(code, INC_CODE, force=True)
    data = mm.mmap(0, P, RW, ANON)
    mm.copy_out_u64(data, 100)
    child = mm.fork(Uc(UC_ARCH_X86, UC_MODE_64))
    child.uc.reg_write(UC_X86_REG_RDI, data)
    child.uc.emu_start(code, code + len(INC_CODE) - 1)
    assert child.copy_in_u64(data) == 101
    assert mm.copy_in_u64(data) == 100


# ------------------------------------------------- state machine against a page -> prot model

WIN = 0x10000000  # a 24-page window; non-fixed mmaps land just below it
WPAGES = 24


def _raw_byte(mm, addr: int) -> int:
    """The byte at ``addr`` in its row's host buffer, whatever the row's protection."""
    t = mm.table
    i = int(np.searchsorted(t[M.START], addr, side="right")) - 1
    assert 0 <= i and addr < int(t[M.END, i]), hex(addr)
    return ctypes.string_at(int(t[M.HOST, i]) + addr - int(t[M.START, i]), 1)[0]


class MemoryModel(RuleBasedStateMachine):
    """Random mmap/munmap/mprotect/mremap-shrink/madvise/writes vs a dict page -> [prot, byte]."""

    @initialize()
    def setup(self):
        self.mm = new_as(mmap_base=WIN + WPAGES * P)
        self.model = {}  # page address -> [prot, first byte]

    def _expect_topdown(self, npages):
        a = WIN + WPAGES * P - npages * P
        while a >= abi.MMAP_MIN_ADDR:
            if all(a + k * P not in self.model for k in range(npages)):
                return a
            a -= P
        raise AssertionError("no room")  # pragma: no cover

    @rule(page=st.integers(0, WPAGES - 1), npages=st.integers(1, 6),
          prot=st.sampled_from([0, 1, 3, 5, 7, 2]), shared=st.booleans())
    def mmap_fixed(self, page, npages, prot, shared):
        a = WIN + page * P
        self.mm.mmap(a, npages * P, prot, (SHANON if shared else ANON) | MAP_FIXED)
        for k in range(npages):
            self.model[a + k * P] = [prot, 0]

    @rule(page=st.integers(0, WPAGES - 1), npages=st.integers(1, 4),
          prot=st.sampled_from([0, 1, 3, 5]), value=st.integers(1, 255))
    def mmap_fixed_private_file(self, page, npages, prot, value):
        a = WIN + page * P
        self.mm.mmap(a, npages * P, prot, MAP_PRIVATE | MAP_FIXED,
                     BytesFile(bytes([value]) * npages * P), 0)
        for k in range(npages):
            self.model[a + k * P] = [prot, value, value]  # MADV_DONTNEED: the file's byte again

    @rule(npages=st.integers(1, 4), prot=st.sampled_from([0, 1, 3]))
    def mmap_anywhere(self, npages, prot):
        expect = self._expect_topdown(npages)
        assert self.mm.mmap(0, npages * P, prot, ANON) == expect
        for k in range(npages):
            self.model[expect + k * P] = [prot, 0]

    @rule(page=st.integers(-2, WPAGES), npages=st.integers(1, 8))
    def munmap(self, page, npages):
        a = WIN + page * P
        assert self.mm.munmap(a, npages * P) == 0
        for k in range(npages):
            self.model.pop(a + k * P, None)

    @rule(page=st.integers(-2, WPAGES), npages=st.integers(1, 8),
          prot=st.sampled_from([0, 1, 3, 4, 5, 7]))
    def mprotect(self, page, npages, prot):
        a = WIN + page * P
        expect = 0
        for k in range(npages):  # Linux: pages before the first hole are changed
            if a + k * P not in self.model:
                expect = E.ENOMEM
                break
            self.model[a + k * P][0] = prot
        assert errno_of(self.mm.mprotect, a, npages * P, prot) == expect

    @rule(page=st.integers(0, WPAGES - 1), old=st.integers(2, 6), new=st.integers(1, 5))
    def mremap_shrink(self, page, old, new):
        a = WIN + page * P
        if a not in self.model:
            assert errno_of(self.mm.mremap, a, old * P, new * P, 0) == E.EFAULT
            return
        if new >= old:
            return
        assert self.mm.mremap(a, old * P, new * P, 0) == a
        for k in range(new, old):
            self.model.pop(a + k * P, None)

    @rule(page=st.integers(0, WPAGES - 1), npages=st.integers(1, 4))
    def madvise_dontneed(self, page, npages):
        a = WIN + page * P
        hole = False
        for k in range(npages):
            ent = self.model.get(a + k * P)
            if ent is None:
                hole = True
            elif not self._shared(a + k * P):
                ent[1] = ent[2] if len(ent) > 2 else 0
        assert errno_of(self.mm.madvise, a, npages * P, abi.MADV_DONTNEED) == \
            (E.ENOMEM if hole else 0)

    def _shared(self, page):
        v = self.mm.vma_at(page)
        return bool(v.flags & M.VM_MAYSHARE)

    @rule(page=st.integers(0, WPAGES - 1), value=st.integers(1, 255))
    def write_byte(self, page, value):
        a = WIN + page * P
        ent = self.model.get(a)
        if ent is not None and ent[0] & PROT_WRITE:
            self.mm.copy_out(a, bytes([value]))
            ent[1] = value
        else:
            assert errno_of(self.mm.copy_out, a, bytes([value])) == E.EFAULT

    @rule()
    def fork_matches(self):
        child = self.mm.fork(Uc(UC_ARCH_X86, UC_MODE_64))
        child.check_sanity()
        assert list(child.uc.mem_regions()) == list(self.mm.uc.mem_regions())
        for page, (_prot, byte, *_) in self.model.items():
            assert _raw_byte(child, page) == byte
        child.release()

    @invariant()
    def table_and_unicorn_agree_with_the_model(self):
        mm = self.mm
        mm.check_sanity()
        # (a PROT_NONE page has no Unicorn region: the TLB-fill hook refuses it first)
        eff = {p: M._UC_PERM[prot] for p, (prot, _b, *_) in self.model.items() if M._UC_PERM[prot]}
        from_uc = {}
        for s, e, perm in mm.uc.mem_regions():
            for pg in range(s, e + 1, P):
                from_uc[pg] = perm
        assert from_uc == eff
        t = mm.table
        from_table = {}
        for s, e, prot in zip(t[M.START].tolist(), t[M.END].tolist(), t[M.PROT].tolist()):
            for pg in range(s, e, P):
                from_table[pg] = prot
        assert from_table == {p: prot for p, (prot, _b, *_) in self.model.items()}
        for page, (prot, byte, *_) in self.model.items():
            assert _raw_byte(mm, page) == byte
            if M._UC_PERM[prot]:
                assert bytes(mm.uc.mem_read(page, 1)) == bytes([byte])  # the engine sees it too
            if M._UC_PERM[prot] & PROT_READ:
                assert mm.copy_in(page, 1) == bytes([byte])
            else:
                assert errno_of(mm.copy_in, page, 1) == E.EFAULT


MemoryModel.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])
test_memory_state_machine = MemoryModel.TestCase


# ------------------------------------------------------------- copy-on-write fork (host_pages)

def _buf_at(a: AddressSpace, addr: int):
    return a._bufs[int(a._t[M.BUF, a._find(addr)])]


def test_fork_shares_host_pages_until_one_is_written(mm):
    """Parent and child map one snapshot MAP_PRIVATE: no page is copied at fork, a write gives
    the writer its own copy of that one page, the other keeps seeing the old bytes."""
    PG = 4096
    a = mm.mmap(0, 64 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    mm.copy_out(a, bytes(range(256)) * 16 * 64)
    child = mm.fork(Uc(UC_ARCH_X86, UC_MODE_64))
    hp, hc = _buf_at(mm, a), _buf_at(child, a)
    assert hp.base is not None and hp.base is hc.base and hp is not hc
    assert len(hp.own_pages()) == 0 and len(hc.own_pages()) == 0
    child.copy_out(a + 5 * PG + 3, b"child")
    mm.copy_out(a + 9 * PG, b"parent")
    assert hc.own_pages().tolist() == [5] and hp.own_pages().tolist() == [9]
    assert mm.copy_in(a + 5 * PG + 3, 5) == bytes(range(3, 8))
    assert child.copy_in(a + 5 * PG + 3, 5) == b"child"
    assert child.copy_in(a + 9 * PG, 6) == bytes(range(6))
    mm.check_sanity()
    child.check_sanity()


def test_a_second_fork_of_an_unwritten_buffer_copies_nothing(mm):
    from ecs_kernel.cpu import host_pages
    a = mm.mmap(0, 32 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    mm.copy_out(a, b"\x01" * 32 * 4096)
    c1 = mm.fork(Uc(UC_ARCH_X86, UC_MODE_64))
    copied = host_pages.stats["bytes_copied"]
    c2 = mm.fork(Uc(UC_ARCH_X86, UC_MODE_64))
    assert host_pages.stats["bytes_copied"] == copied
    assert _buf_at(c2, a).base is _buf_at(c1, a).base
    mm.copy_out(a, b"\x02")  # written since: the next fork takes a new snapshot
    c3 = mm.fork(Uc(UC_ARCH_X86, UC_MODE_64))
    assert _buf_at(c3, a).base is not _buf_at(c1, a).base
    assert c3.copy_in(a, 2) == b"\x02\x01" and c1.copy_in(a, 2) == b"\x01\x01"


def test_munmap_and_dontneed_of_a_shared_buffer_give_zeros_not_the_snapshot(mm):
    PG = 4096
    a = mm.mmap(0, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    mm.copy_out(a, b"\x05" * 8 * PG)
    child = mm.fork(Uc(UC_ARCH_X86, UC_MODE_64))
    child.madvise(a, 2 * PG, abi.MADV_DONTNEED)
    assert child.copy_in(a, PG) == bytes(PG) and mm.copy_in(a, 4) == b"\x05" * 4
    child.munmap(a + 6 * PG, 2 * PG)  # then mapped again: zeros (the slack is reused)
    child.mmap(a + 6 * PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    assert child.copy_in(a + 6 * PG, 2 * PG) == bytes(2 * PG)
    child.check_sanity()


def test_private_mappings_of_one_file_segment_share_one_snapshot():
    class HostLike(BytesFile):
        def content_key(self):
            return ("/data/f.bin", 1, 2)
    f = HostLike(bytes(range(256)) * 64)
    a, b = new_as(), new_as()
    x = a.mmap(0, 16384, PROT_READ, MAP_PRIVATE, file=f)
    y = b.mmap(0, 16384, PROT_READ | PROT_WRITE, MAP_PRIVATE, file=f)
    assert _buf_at(a, x).base is _buf_at(b, y).base is not None
    b.copy_out(y, b"mine")
    assert a.copy_in(x, 4) == bytes(range(4)) and b.copy_in(y, 4) == b"mine"


def test_memory_usage_counts_written_pages_and_copy_on_write_pages_in_both(mm):
    PG = 4096
    a = mm.mmap(0, 100 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    base = mm.memory_usage()
    mm.copy_out(a, b"\x03" * 40 * PG)
    u = mm.memory_usage()
    assert u.anon - base.anon == 40 * PG and u.rss == u.anon + u.file + u.shmem
    mm.copy_in(a + 50 * PG, PG)  # a read of an untouched page: the zero page, not counted
    assert mm.memory_usage().anon == u.anon
    child = mm.fork(Uc(UC_ARCH_X86, UC_MODE_64))
    assert child.memory_usage().anon == 40 * PG  # copied page table entries: counted at once
    child.copy_out(a, b"\x04" * 10 * PG)
    assert child.memory_usage().anon == 40 * PG
    assert mm.memory_usage().anon == u.anon
    assert mm.memory_usage().hwm >= u.rss


def test_a_checkpoint_keeps_two_address_spaces_on_one_snapshot(mm):
    from ecs_kernel.checkpoint_objects import StateReader, StateWriter
    PG = 4096
    a = mm.mmap(0, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    mm.copy_out(a, b"\x09" * 16 * PG)
    child = mm.fork(Uc(UC_ARCH_X86, UC_MODE_64))
    child.copy_out(a + PG, b"c")
    w = StateWriter()
    m1, m2 = mm.save_state(w, "p"), child.save_state(w, "c")
    assert sum(o["class"] == "Snapshot" for o in w.objects) == 1
    r = StateReader({"objects": w.objects}, w.arrays)
    p2 = AddressSpace.load_state(Uc(UC_ARCH_X86, UC_MODE_64), r, "p", m1)
    c2 = AddressSpace.load_state(Uc(UC_ARCH_X86, UC_MODE_64), r, "c", m2)
    assert _buf_at(p2, a).base is _buf_at(c2, a).base is not None
    assert p2.copy_in(a + PG, 2) == b"\x09\x09" and c2.copy_in(a + PG, 2) == b"c\x09"
    assert len(_buf_at(c2, a).own_pages()) == 1 and len(_buf_at(p2, a).own_pages()) == 0


# ------------------------------------------------------------ the page cache of shared file maps

def _memfile(data: bytes = b""):
    """An in-memory regular file (fs/inodes.RegularFile) and the mapping handle the mmap syscall
    gives the mm layer for a read-write description of it (fs/file.FileMapping)."""
    import time

    from ecs_kernel.fs.file import FileMapping
    from ecs_kernel.fs.inodes import RegularFile, SuperBlock
    f = RegularFile(SuperBlock("tmpfs", 1, time.time_ns))  # a clock a checkpoint can name
    if data:
        f.write_at(0, data)
    return f, FileMapping(f.open_description(abi.O_RDWR, "/tmp/f"))


def _busy(a, addr, access=16):  # UC_MEM_READ
    return a.tlb_fill_py(addr, access) == M.TLB_BUSERR


def test_shared_file_mappings_write_and_truncate_see_each_other_at_once():
    f, h = _memfile(b"a" * (2 * P))
    a, b = new_as(), new_as()
    x = a.mmap(0, 3 * P, RW, MAP_SHARED, h, 0)
    y = b.mmap(0, 2 * P, RW, MAP_SHARED, h, 0)
    f.write_at(P - 1, b"bc")
    assert a.copy_in(x + P - 1, 2) == b.copy_in(y + P - 1, 2) == b"bc"
    b.copy_out(y + 5, b"store")
    assert f.read_at(5, 5) == b"store" and a.copy_in(x + 5, 5) == b"store"
    # the third page is past the end: SIGBUS for the guest, EFAULT for a copy
    assert _busy(a, x + 2 * P) and not _busy(a, x + P)
    assert errno_of(a.copy_in, x + 2 * P, 1) == E.EFAULT
    assert errno_of(a.copy_in, x + P, P + 1) == E.EFAULT
    assert a.accessible_prefix(x + 10, 3 * P) == 2 * P - 10
    f.write_at(2 * P, b"z")  # growing the file maps the page again
    assert not _busy(a, x + 2 * P) and a.copy_in(x + 2 * P, 2) == b"z\0"
    f.truncate(100)  # every mapping is cut at once, the tail of the page zeroed
    assert _busy(a, x + P) and _busy(b, y + P) and not _busy(b, y)
    f.truncate(2 * P)
    assert b.copy_in(y + 98, 4) == b"aa\0\0" and a.copy_in(x + P, 1) == b"\0"
    a.check_sanity()
    b.check_sanity()


def test_the_page_cache_grows_under_its_mappings_and_keeps_its_identity():
    f, h = _memfile(b"q" * P)
    a = new_as()
    x = a.mmap(0, P, RW, MAP_SHARED, h, 0)
    c = f.cache
    old, ino = c.buf, c.buf.ino
    f.write_at(c.buf.size + 5, b"far")  # past the buffer: it grows, the rows follow
    assert c.buf is not old and c.buf.ino == ino
    assert a.copy_in(x, 2) == b"qq"
    a.copy_out(x, b"QQ")
    assert f.read_at(0, 3) == b"QQq" and f.read_at(old.size + 5, 3) == b"far"
    a.check_sanity()


def test_shared_file_mapping_model():
    """Random writes through the file, stores through two mappings and truncates, against a
    model of tmpfs's page cache: one page-sized array of bytes and a size; the file is the array
    up to the size, a store is allowed up to the end of the size's last page (and kept there:
    a truncate up shows it, as on tmpfs), a truncate down zeroes the rest of the last page."""
    rng = np.random.default_rng(5)
    f, h = _memfile(b"")
    pages = bytearray(4 * P)
    size = 0
    a, b = new_as(), new_as()
    x = a.mmap(0, 4 * P, RW, MAP_SHARED, h, 0)
    y = b.mmap(0, 4 * P, RW, MAP_SHARED, h, 0)
    for _ in range(400):
        op = int(rng.integers(0, 4))
        off = int(rng.integers(0, 4 * P - 8))
        if rng.random() < 0.5:  # near the end of the file, where the cases are
            off = min(max(size + int(rng.integers(-50, 300)), 0), 4 * P - 8)
        data = bytes(rng.integers(0, 256, int(rng.integers(1, 8))).astype(np.uint8))
        if op == 0:
            f.write_at(off, data)
            pages[off:off + len(data)] = data
            size = max(size, off + len(data))
        elif op in (1, 2):
            m, base = (a, x) if op == 1 else (b, y)
            ok = off + len(data) <= page_align_(size)
            assert errno_of(m.copy_out, base + off, data) == (0 if ok else E.EFAULT)
            if ok:
                pages[off:off + len(data)] = data
        else:
            n = int(rng.integers(0, 4 * P)) if rng.random() < 0.5 else \
                max(0, size + int(rng.integers(-300, 300)))
            if n < size:
                pages[n:page_align_(size)] = bytes(page_align_(size) - n)
            f.truncate(n)
            size = n
        assert f.read_at(0, 4 * P) == bytes(pages[:size])
        k = page_align_(size)
        assert a.copy_in(x, k) == b.copy_in(y, k) == bytes(pages[:k])
        assert (a.tlb_fill_py(x + k, 16) == M.TLB_BUSERR) == (k < 4 * P)


def page_align_(n):
    return (n + P - 1) // P * P


def test_a_checkpoint_keeps_a_page_cache_shared_and_reads_tables_without_limits():
    from ecs_kernel.checkpoint_objects import StateReader, StateWriter
    f, h = _memfile(b"k" * (P + 10))
    a, b = new_as(), new_as()
    x = a.mmap(0, 3 * P, RW, MAP_SHARED, h, 0)
    y = b.mmap(0, 3 * P, RW, MAP_SHARED, h, 0)
    w = StateWriter()
    fref = w.ref(f)
    m1, m2 = a.save_state(w, "a"), b.save_state(w, "b")
    w.arrays["b.ranges"] = w.arrays["b.ranges"][:pw_LIMIT()]  # as a checkpoint of main wrote it
    assert sum(o["class"] == "HostBuffer" for o in w.objects) == 1
    r = StateReader({"objects": w.objects}, w.arrays)
    f2 = r.obj(fref)
    a2 = AddressSpace.load_state(Uc(UC_ARCH_X86, UC_MODE_64), r, "a", m1)
    b2 = AddressSpace.load_state(Uc(UC_ARCH_X86, UC_MODE_64), r, "b", m2)
    assert _busy(b2, y + 2 * P) and not _busy(b2, y + P)  # the limits of the old table, computed
    f2.write_at(3, b"via write")
    assert a2.copy_in(x + 3, 9) == b2.copy_in(y + 3, 9) == b"via write"
    b2.copy_out(y + P, b"Z")
    assert f2.read_at(P, 2) == b"Zk" and a2.copy_in(x + P, 1) == b"Z"
    assert _busy(a2, x + 2 * P) and not _busy(b2, y + P)
    f2.truncate(5)
    assert _busy(a2, x + P) and _busy(b2, y + P) and not _busy(b2, y)
    a2.check_sanity()
    b2.check_sanity()


def pw_LIMIT():
    from ecs_kernel.jit.pagewalk import LIMIT
    return LIMIT
