"""ecs_kernel.jit.fdtable against a slow oracle: a table is a Python set of open fds.

Linux facts encoded (fs/file.c alloc_fd): the lowest free fd >= start; EMFILE when it is >= the
limit (RLIMIT_NOFILE); close(2) of a descriptor that is not open is EBADF.
"""
from __future__ import annotations

import errno

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ecs_kernel.jit import fdtable as F

EMFILE, EBADF = errno.EMFILE, errno.EBADF
FULL = (1 << 64) - 1
SETTINGS = settings(max_examples=80, deadline=None)


# ---------------------------------------------------------------------------------------------
# Oracle
# ---------------------------------------------------------------------------------------------

def to_sets(bitmap) -> list[set[int]]:
    return [{w * 64 + b for w, word in enumerate(row) for b in range(64) if (int(word) >> b) & 1}
            for row in bitmap]


def oracle_alloc(used: set[int], capacity: int, min_fd: int, limit: int) -> int:
    fd = min_fd
    while fd in used:
        fd += 1
    if fd >= limit:
        return -EMFILE
    if fd >= capacity:
        return F.NEED_GROWTH
    used.add(fd)
    return fd


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

words = st.one_of(st.integers(0, FULL), st.sampled_from([0, FULL, FULL ^ 1, FULL ^ (1 << 63),
                                                         1 << 63, (1 << 32) - 1]))


@st.composite
def bitmaps(draw, max_tables=4, max_words=4):
    n_tables = draw(st.integers(1, max_tables))
    n_words = draw(st.integers(0, max_words))
    rows = draw(st.lists(st.lists(words, min_size=n_words, max_size=n_words),
                         min_size=n_tables, max_size=n_tables))
    return np.array(rows, dtype=np.uint64).reshape(n_tables, n_words)


def fd_values(bitmap):
    cap = bitmap.shape[1] * 64
    return st.one_of(st.integers(0, cap + 70), st.sampled_from([0, 1, 63, 64, 65, 100, 127, 128,
                                                                 cap - 1 if cap else 0, cap]))


# ---------------------------------------------------------------------------------------------
# alloc_lowest / alloc_lowest_batch
# ---------------------------------------------------------------------------------------------

@given(st.data())
@SETTINGS
def test_alloc_lowest_matches_oracle(data):
    bitmap = data.draw(bitmaps())
    table = data.draw(st.integers(0, bitmap.shape[0] - 1))
    min_fd = data.draw(fd_values(bitmap))
    limit = data.draw(fd_values(bitmap))
    expect = to_sets(bitmap)
    want = oracle_alloc(expect[table], bitmap.shape[1] * 64, min_fd, limit)
    assert F.alloc_lowest(bitmap, table, min_fd, limit) == want
    assert to_sets(bitmap) == expect


@given(st.data())
@SETTINGS
def test_alloc_lowest_batch_matches_oracle_in_request_order(data):
    bitmap = data.draw(bitmaps())
    m = data.draw(st.integers(0, 12))
    tables = data.draw(st.lists(st.integers(0, bitmap.shape[0] - 1), min_size=m, max_size=m))
    min_fds = data.draw(st.lists(fd_values(bitmap), min_size=m, max_size=m))
    limits = data.draw(st.lists(fd_values(bitmap), min_size=m, max_size=m))
    dtype = data.draw(st.sampled_from([np.int32, np.int64]))
    expect = to_sets(bitmap)
    want = [oracle_alloc(expect[t], bitmap.shape[1] * 64, lo, hi)
            for t, lo, hi in zip(tables, min_fds, limits)]
    out = np.full(m, 12345, np.int64)
    ok = F.alloc_lowest_batch(bitmap, np.array(tables, dtype), np.array(min_fds, dtype),
                              np.array(limits, dtype), out)
    assert out.tolist() == want
    assert ok == sum(1 for fd in want if fd >= 0)
    assert to_sets(bitmap) == expect


def test_full_words_are_skipped():
    bitmap = np.array([[FULL, FULL, FULL ^ (1 << 5)]], np.uint64)
    assert F.alloc_lowest(bitmap, 0, 0, 192) == 128 + 5
    assert int(bitmap[0, 2]) == FULL


def test_min_fd_in_the_middle_of_a_word():
    bitmap = np.array([[0b1011 << 40, 0]], np.uint64)  # fds 40, 41, 43 open
    assert F.alloc_lowest(bitmap, 0, 40, 128) == 42
    assert F.alloc_lowest(bitmap, 0, 40, 128) == 44
    assert F.alloc_lowest(bitmap, 0, 3, 128) == 3
    assert F.alloc_lowest(bitmap, 0, 63, 128) == 63
    assert F.alloc_lowest(bitmap, 0, 63, 128) == 64


def test_limit_not_a_multiple_of_64_gives_emfile():
    bitmap = np.zeros((1, 2), np.uint64)
    fds = [F.alloc_lowest(bitmap, 0, 0, 100) for _ in range(101)]
    assert fds[:100] == list(range(100))
    assert fds[100] == -EMFILE
    assert F.count_used(bitmap, 0) == 100


def test_min_fd_at_or_past_the_limit_is_emfile():
    bitmap = np.zeros((1, 2), np.uint64)
    assert F.alloc_lowest(bitmap, 0, 10, 10) == -EMFILE
    assert F.alloc_lowest(bitmap, 0, 10, 0) == -EMFILE
    assert F.count_used(bitmap, 0) == 0


def test_a_full_table_below_the_limit_needs_growth_and_is_unchanged():
    bitmap = np.full((1, 1), FULL, np.uint64)
    assert F.alloc_lowest(bitmap, 0, 0, 1024) == F.NEED_GROWTH
    assert F.alloc_lowest(bitmap, 0, 0, 64) == -EMFILE  # fd 64 would be past RLIMIT_NOFILE
    assert F.alloc_lowest(bitmap, 0, 500, 1024) == F.NEED_GROWTH
    assert int(bitmap[0, 0]) == FULL
    grown = np.zeros((1, F.words_needed(65)), np.uint64)
    grown[:, :1] = bitmap
    assert F.alloc_lowest(grown, 0, 0, 1024) == 64


def test_huge_values_from_python_are_clamped_not_overflowed():
    bitmap = np.array([[FULL]], np.uint64)
    rlim_infinity = 2**64 - 1
    assert F.alloc_lowest(bitmap, 0, 0, rlim_infinity) == F.NEED_GROWTH
    assert F.alloc_lowest(np.zeros((1, 1), np.uint64), 0, 3, rlim_infinity) == 3
    assert F.free_fd(bitmap, 0, 2**70) == -EBADF
    assert not F.is_used(bitmap, 0, -(2**70))
    assert F.close_range(bitmap, 0, 60, 2**64 - 1).tolist() == [60, 61, 62, 63]


def test_words_needed():
    assert [F.words_needed(x) for x in (0, 1, 64, 65, 128, 1024)] == [0, 1, 1, 2, 2, 16]
    with pytest.raises(ValueError):
        F.words_needed(-1)


# ---------------------------------------------------------------------------------------------
# free_fd / is_used / close_range / count_used
# ---------------------------------------------------------------------------------------------

@given(st.data())
@SETTINGS
def test_free_fd_and_is_used_match_oracle(data):
    bitmap = data.draw(bitmaps())
    table = data.draw(st.integers(0, bitmap.shape[0] - 1))
    fd = data.draw(st.one_of(fd_values(bitmap), st.integers(-3, -1)))
    expect = to_sets(bitmap)
    assert F.is_used(bitmap, table, fd) == (fd in expect[table])
    want = 0 if fd in expect[table] else -EBADF
    expect[table].discard(fd)
    assert F.free_fd(bitmap, table, fd) == want
    assert to_sets(bitmap) == expect
    assert not F.is_used(bitmap, table, fd)


@given(st.data())
@SETTINGS
def test_close_range_matches_oracle(data):
    bitmap = data.draw(bitmaps())
    table = data.draw(st.integers(0, bitmap.shape[0] - 1))
    first = data.draw(fd_values(bitmap))
    last = data.draw(st.one_of(st.integers(first, first + 200), st.just(2**32 - 1)))
    expect = to_sets(bitmap)
    closed = sorted(fd for fd in expect[table] if first <= fd <= last)
    expect[table] -= set(closed)
    got = F.close_range(bitmap, table, first, last)
    assert got.dtype == np.int64
    assert got.tolist() == closed
    assert to_sets(bitmap) == expect


@given(bitmaps())
@SETTINGS
def test_count_used_matches_oracle(bitmap):
    expect = [len(s) for s in to_sets(bitmap)]
    assert F.count_used(bitmap).tolist() == expect
    assert [F.count_used(bitmap, t) for t in range(bitmap.shape[0])] == expect


def test_close_range_within_one_word_and_across_words():
    bitmap = np.array([[FULL, FULL]], np.uint64)
    assert F.close_range(bitmap, 0, 3, 5).tolist() == [3, 4, 5]
    assert F.close_range(bitmap, 0, 62, 66).tolist() == [62, 63, 64, 65, 66]
    assert F.count_used(bitmap, 0) == 128 - 8
    assert F.close_range(bitmap, 0, 200, 300).tolist() == []


# ---------------------------------------------------------------------------------------------
# A table driven by a sequence of operations, beside the set model
# ---------------------------------------------------------------------------------------------

class FdTableMachine(RuleBasedStateMachine):
    LIMIT = 150  # not a multiple of 64

    def __init__(self):
        super().__init__()
        self.bitmap = np.zeros((2, F.words_needed(self.LIMIT)), np.uint64)
        self.model = [set(), set()]

    @rule(table=st.integers(0, 1), min_fd=st.integers(0, 160))
    def alloc(self, table, min_fd):
        want = oracle_alloc(self.model[table], self.bitmap.shape[1] * 64, min_fd, self.LIMIT)
        assert F.alloc_lowest(self.bitmap, table, min_fd, self.LIMIT) == want

    @precondition(lambda self: self.model[0] or self.model[1])
    @rule(data=st.data())
    def close_one(self, data):
        table = data.draw(st.sampled_from([t for t in (0, 1) if self.model[t]]))
        fd = data.draw(st.sampled_from(sorted(self.model[table])))
        self.model[table].discard(fd)
        assert F.free_fd(self.bitmap, table, fd) == 0
        assert F.free_fd(self.bitmap, table, fd) == -EBADF

    @rule(table=st.integers(0, 1), first=st.integers(0, 160), span=st.integers(0, 80))
    def close_range(self, table, first, span):
        closed = sorted(fd for fd in self.model[table] if first <= fd <= first + span)
        self.model[table] -= set(closed)
        assert F.close_range(self.bitmap, table, first, first + span).tolist() == closed

    @invariant()
    def bitmap_matches_model(self):
        assert to_sets(self.bitmap) == self.model


TestFdTableMachine = FdTableMachine.TestCase
TestFdTableMachine.settings = settings(max_examples=30, stateful_step_count=40, deadline=None)


# ---------------------------------------------------------------------------------------------
# Wrapper validation
# ---------------------------------------------------------------------------------------------

def test_misuse_is_rejected_with_value_error():
    bitmap = np.zeros((2, 1), np.uint64)
    with pytest.raises(ValueError, match="dtype uint64"):
        F.alloc_lowest(bitmap.astype(np.int64), 0, 0, 10)
    with pytest.raises(ValueError, match="2-D"):
        F.alloc_lowest(bitmap.ravel(), 0, 0, 10)
    with pytest.raises(ValueError, match="table must be < 2"):
        F.alloc_lowest(bitmap, 2, 0, 10)
    with pytest.raises(ValueError, match="min_fd must be >= 0"):
        F.alloc_lowest(bitmap, 0, -1, 10)
    with pytest.raises(ValueError, match="first .* must be <= last"):
        F.close_range(bitmap, 0, 5, 4)
    out = np.empty(2, np.int64)
    with pytest.raises(ValueError, match=r"request 1 is malformed: tables\[1\] = 7"):
        F.alloc_lowest_batch(bitmap, np.array([0, 7]), np.zeros(2, np.int64),
                             np.full(2, 10, np.int64), out)
    assert F.count_used(bitmap, 0) == 0  # request 0 was not applied
    with pytest.raises(ValueError, match="limits must have length 2"):
        F.alloc_lowest_batch(bitmap, np.array([0, 1]), np.zeros(2, np.int64),
                             np.full(3, 10, np.int64), out)
    with pytest.raises(ValueError, match="tables must have dtype"):
        F.alloc_lowest_batch(bitmap, np.array([0.0, 1.0]), np.zeros(2, np.int64),
                             np.full(2, 10, np.int64), out)
