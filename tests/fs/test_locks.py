"""fs/locks.py's record locks against a naive model: who holds each byte of a small file."""
from hypothesis import given, settings, strategies as st

from ecs_kernel.abi import F_RDLCK, F_UNLCK, F_WRLCK, OFFSET_MAX
from ecs_kernel.fs.locks import FileLocks

N = 24  # bytes modelled, and byte N stands for all of [N, OFFSET_MAX]: finite ranges end
# before N, so only ranges "to the end" reach it, and they cover it whole


def naive_conflict(model, ltype, start, end, owner):
    for b in range(start, min(end, N) + 1):
        for o, t in model[b].items():
            if o != owner and (ltype == F_WRLCK or t == F_WRLCK):
                return True
    return False


def owners_of(locks, b):
    return {r[4]: r[0] for r in locks.posix if r[1] <= b <= r[2]}


ops = st.tuples(st.sampled_from([F_RDLCK, F_WRLCK, F_UNLCK]), st.integers(0, N - 9),
                st.one_of(st.integers(1, 8), st.just(0)), st.integers(0, 2))


@settings(max_examples=300, deadline=None)
@given(st.lists(ops, max_size=40))
def test_record_locks_match_a_byte_map(steps):
    locks = FileLocks()
    model = [dict() for _ in range(N + 1)]  # byte -> {owner: type}
    for ltype, start, length, owner in steps:
        end = OFFSET_MAX if length == 0 else start + length - 1
        blocked = ltype != F_UNLCK and naive_conflict(model, ltype, start, end, owner)
        if ltype != F_UNLCK:  # (F_GETLK refuses F_UNLCK)
            assert (locks.conflict(ltype, start, end, owner, None) is not None) == blocked
        assert locks.set(ltype, start, end, owner, None, pid=100 + owner) == (not blocked)
        if not blocked:
            for b in range(start, min(end, N) + 1):
                if ltype == F_UNLCK:
                    model[b].pop(owner, None)
                else:
                    model[b][owner] = ltype
        for b in range(N + 1):
            assert owners_of(locks, b) == model[b], b
        # one owner's records never overlap, and same-type neighbours are merged
        for o in range(3):
            mine = sorted((r[1], r[2], r[0]) for r in locks.posix if r[4] == o)
            for (s1, e1, t1), (s2, e2, t2) in zip(mine, mine[1:]):
                assert e1 < s2 and not (t1 == t2 and e1 + 1 == s2)


def test_a_close_and_an_unlock_bump_the_generation_a_waiter_watches():
    locks = FileLocks()
    assert locks.set(F_WRLCK, 0, 9, 1, None, 1)
    g = locks.generation
    assert not locks.set(F_WRLCK, 5, 5, 2, None, 2)  # a waiter would block here, seeing g
    locks.remove_owner(2)  # nothing of owner 2's: no change
    assert locks.generation == g
    locks.remove_owner(1)
    assert locks.generation > g and locks.set(F_WRLCK, 5, 5, 2, None, 2)
