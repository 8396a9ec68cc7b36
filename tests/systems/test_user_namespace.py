"""User namespaces against plain-Python reference models: what a uid_map write accepts and the ids
it maps (user_namespaces(7)'s rules, written independently of systems/user_namespace.py), and who
holds a capability in which namespace (the man page's three rules)."""
import re

import pytest
from hypothesis import given, settings, strategies as st

from ecs_kernel.abi import CAP_FULL_SET, CAP_SETUID, CAP_SYS_ADMIN, INVALID_ID
from ecs_kernel.components.user_namespace import GID, UID
from ecs_kernel.errors import E, KernelError
from ecs_kernel.kernel import Kernel
from ecs_kernel.schedule import check_sanity
from ecs_kernel.systems import task_identity as ident
from ecs_kernel.systems import user_namespace as userns
from ecs_kernel.world import Settings

U32 = 1 << 32
_LINE = re.compile(rb"[ \t\v\f\r]*(\d+)[ \t\v\f\r]+(\d+)[ \t\v\f\r]+(\d+)[ \t\v\f\r]*")


def reference_parse(text: bytes):
    """The extents a map write installs, or None for EINVAL: three numbers per line (u32s), no
    id (u32)-1, a non-empty range that stays below 2**32, no two ranges overlapping above or
    below, at most 340 lines."""
    lines = text.split(b"\n")
    if len(lines) > 1 and lines[-1] == b"":
        lines.pop()
    out = []
    for line in lines:
        m = _LINE.fullmatch(line)
        if not m:
            return None
        first, lower, count = (int(g) % U32 for g in m.groups())
        if INVALID_ID in (first, lower) or count == 0 or first + count >= U32 \
                or lower + count >= U32:
            return None
        if any(set(range(f, f + c)) & set(range(first, first + count))
               or set(range(lo, lo + c)) & set(range(lower, lower + count)) for f, lo, c in out):
            return None
        out.append((first, lower, count))
    return out if 0 < len(out) <= 340 else None


def fresh():
    """A World, a root task that made a child user namespace, and the child's row."""
    k = Kernel(Settings(sanitize=True))
    w = k.world
    root = k.task(k.init_task)
    child = k.task(k.fork(k.init_task))
    userns.enter(w, child, userns.create(w, child))
    return k, w, root, child


ids = st.one_of(*[st.integers(0, 400)] * 7,
                st.sampled_from([INVALID_ID, INVALID_ID - 1, U32 + 3, 1 << 40]))
spaces = st.sampled_from([b" ", b"  ", b"\t", b" \v "])
lines = st.builds(lambda a, s1, b, s2, c, lead, trail: lead + b"%d" % a + s1 + b"%d" % b + s2
                  + b"%d" % c + trail, ids, spaces, ids, spaces, st.integers(0, 40),
                  st.sampled_from([b"", b" "]), st.sampled_from([b"", b" ", b"\t"]))
junk = st.sampled_from([b"", b"x", b"1 2", b"-1 0 1", b"\n", b"1 2 3 4"])


# maps of disjoint ranges (in any order), so about half the writes are accepted
disjoint = st.integers(1, 5).flatmap(lambda k: st.tuples(
    st.permutations(range(k)), st.permutations(range(k)),
    st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(1, 50)), min_size=k,
             max_size=k))).map(lambda p: [b"%d %d %d" % (a * 100 + x, 1000 + b * 100 + y, c)
                                          for a, b, (x, y, c) in zip(p[0], p[1], p[2])])


@settings(max_examples=300, deadline=None)
@given(st.one_of(disjoint, st.lists(st.one_of(*[lines] * 6, junk), min_size=0, max_size=5)),
       st.booleans(), st.lists(st.integers(0, 1600), min_size=1, max_size=8))
def test_a_privileged_map_write_installs_what_the_reference_accepts(parts, final_nl, probes):
    k, w, root, child = fresh()
    ns = int(w.tasks.userns[child])
    text = b"\n".join(parts) + (b"\n" if final_nl else b"")
    want = reference_parse(text)
    opener = userns.cred_view(w, root)
    try:
        n = userns.write_map(w, root, opener, ns, UID, text, 0)
    except KernelError as e:
        assert want is None and e.errno == E.EINVAL, (text, want, e)
        assert userns.extents(w, ns, UID) == []
        return
    assert want is not None and n == len(text), text
    assert userns.extents(w, ns, UID) == want
    for x in probes:  # make_kuid and from_kuid against the extents, by brute force
        down = [lo + x - f for f, lo, c in want if f <= x < f + c]
        assert userns.to_kid(w, ns, UID, x) == (down[0] if down else INVALID_ID)
        up = [f + x - lo for f, lo, c in want if lo <= x < lo + c]
        assert userns.from_kid(w, ns, UID, x) == (up[0] if up else INVALID_ID)
        assert userns.munged(w, ns, UID, x) == (up[0] if up else 65534)
    with pytest.raises(KernelError) as again:  # written once
        userns.write_map(w, root, opener, ns, UID, b"0 0 1", 0)
    assert again.value.errno == E.EPERM
    check_sanity(w)


def test_an_unprivileged_writer_maps_only_its_own_euid_once():
    k, w, root, child = fresh()
    other = k.task(k.fork(k.init_task))  # uid 1000, gid 5, then its own namespace
    ident.setresgid(w, other, 5, 5, 5)
    ident.setresuid(w, other, 1000, 1000, 1000)
    ns = userns.create(w, other)
    userns.enter(w, other, ns)
    me = userns.cred_view(w, other)
    for text, errno in ((b"0 1000 2", E.EPERM), (b"0 0 1", E.EPERM), (b"0 1000 1\n1 1001 1", E.EPERM),
                        (b"", E.EINVAL)):
        with pytest.raises(KernelError) as e:
            userns.write_map(w, other, me, ns, UID, text, 0)
        assert e.value.errno == errno, text
    with pytest.raises(KernelError) as e:  # setgroups still allowed: no unprivileged gid map
        userns.write_map(w, other, me, ns, GID, b"0 5 1", 0)
    assert e.value.errno == E.EPERM
    assert userns.write_setgroups(w, ns, b"deny\n", 0) == 5
    assert userns.write_map(w, other, me, ns, GID, b"0 5 1", 0) == 5
    assert userns.write_map(w, other, me, ns, UID, b"7 1000 1", 0) == 8
    with pytest.raises(KernelError) as e:
        userns.write_setgroups(w, ns, b"allow", 0)
    assert e.value.errno == E.EPERM
    assert userns.uid_of(w, other, 1000) == 7 and userns.gid_of(w, other, 5) == 0
    assert userns.uid_of(w, other, 0) == 65534
    check_sanity(w)


def reference_capable(parents, owners, cred_ns, cred_euid, cred_caps, target, cap):
    """user_namespaces(7): a member of a namespace has its effective set there; a capability
    in a namespace holds in every descendant; a process in the parent whose euid owns a
    namespace has every capability in it."""
    if target == cred_ns:
        return bool(cred_caps >> cap & 1)
    p = parents[target]
    if p < 0:
        return False
    if p == cred_ns and owners[target] == cred_euid:
        return True
    return reference_capable(parents, owners, cred_ns, cred_euid, cred_caps, p, cap)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 100), st.sampled_from([0, 1000, 2000])), min_size=1,
                max_size=8),
       st.data())
def test_capabilities_in_a_namespace_follow_the_three_rules(tree, data):
    k = Kernel(Settings(sanitize=True))
    w = k.world
    U = w.user_namespaces
    rows = [0]
    for pick, owner in tree:  # a random tree below the initial namespace
        r = U.alloc()
        p = rows[pick % len(rows)]
        U.parent[r], U.level[r], U.owner[r] = p, int(U.level[p]) + 1, owner
        rows.append(r)
    parents = {r: int(U.parent[r]) for r in rows}
    owners = {r: int(U.owner[r]) for r in rows}
    mine = data.draw(st.sampled_from(rows))
    euid = data.draw(st.sampled_from([0, 1000, 2000]))
    caps = data.draw(st.sampled_from([0, 1 << CAP_SYS_ADMIN, CAP_FULL_SET]))
    cred = userns.CredView(mine, euid, 0, caps)
    for target in rows:
        for cap in (CAP_SYS_ADMIN, CAP_SETUID):
            assert userns.cap_capable(w, cred, target, cap) == reference_capable(
                parents, owners, mine, euid, caps, target, cap), (target, cap)


def test_nesting_stops_below_32_levels_and_an_unmapped_creator_cannot_nest():
    k, w, root, child = fresh()
    with pytest.raises(KernelError) as e:  # its euid has no mapping in the new namespace
        userns.create(w, child)
    assert e.value.errno == E.EPERM
    t = root
    depth = 0
    while True:
        try:
            ns = userns.create(w, t)
        except KernelError as err:
            assert err.errno == E.ENOSPC
            break
        userns.enter(w, t, ns)
        userns.write_map(w, t, userns.cred_view(w, t), ns, UID, b"0 0 1", 0)
        userns.write_setgroups(w, ns, b"deny", 0)
        userns.write_map(w, t, userns.cred_view(w, t), ns, GID, b"0 0 1", 0)
        depth += 1
    assert depth == 33  # as Linux 6.18 here: 33 unshares, the 34th ENOSPC
    check_sanity(w)
