"""inotify at the file-system layer (fs/inotify.py, fs/notify.py), against a plain-Python
reference queue: merging, overflow, one-shot watches and removal (the guest differential test
fdobjects.c covers the events file operations raise, against Linux)."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st

from ecs_kernel import abi
from ecs_kernel.errors import KernelError
from ecs_kernel.fs.anon import AnonInode
from ecs_kernel.fs.inotify import InotifyFile
from ecs_kernel.fs.vfs import FileSystem

from fsutil import make_seed_tree


@pytest.fixture
def fs(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    make_seed_tree(str(root))
    return FileSystem(str(root))


def events(inst: InotifyFile) -> list[tuple[int, int, int, bytes]]:
    out = []
    while inst.events:
        data = inst.read(1 << 16)
        pos = 0
        while pos < len(data):
            wd, mask, cookie, ln = struct.unpack_from("<iIII", data, pos)
            out.append((wd, mask, cookie, data[pos + 16:pos + 16 + ln].rstrip(b"\0")))
            pos += 16 + ln
    return out


class RefQueue:
    """inotify's queue as fs/notify.c and inotify_fsnotify.c describe it."""

    def __init__(self):
        self.q = []

    def add(self, ev):
        if self.q and self.q[-1] == ev:
            return
        if len(self.q) >= abi.INOTIFY_MAX_QUEUED_EVENTS:
            if self.q[-1][1] != abi.IN_Q_OVERFLOW:
                self.q.append((-1, abi.IN_Q_OVERFLOW, 0, b""))
            return
        self.q.append(ev)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.sampled_from([abi.IN_MODIFY, abi.IN_ACCESS]),
                          st.sampled_from([b"", b"a", b"bb"])), max_size=60))
def test_the_queue_merges_a_repeat_of_the_last_event_like_linux(evs):
    inst = InotifyFile(AnonInode("inotify"), 0)
    ref = RefQueue()
    for wd, mask, name in evs:
        inst.queue(wd, mask, 0, name)
        ref.add((wd, mask, 0, name))
    assert events(inst) == ref.q
    assert inst.queued_bytes == 0


def test_past_the_queue_limit_one_overflow_event_and_nothing_more():
    inst = InotifyFile(AnonInode("inotify"), 0)
    for i in range(abi.INOTIFY_MAX_QUEUED_EVENTS + 10):
        inst.queue(1, abi.IN_MODIFY if i % 2 else abi.IN_ACCESS, 0, b"")
    got = events(inst)
    assert len(got) == abi.INOTIFY_MAX_QUEUED_EVENTS + 1
    assert got[-1] == (-1, abi.IN_Q_OVERFLOW, 0, b"")


def test_a_read_smaller_than_the_next_event_is_einval_and_keeps_it(fs):
    inst = InotifyFile(AnonInode("inotify"), 0)
    inst.queue(1, abi.IN_CREATE, 0, b"name")
    with pytest.raises(KernelError) as e:
        inst.read(16)
    assert e.value.errno == abi.EINVAL
    assert len(inst.read(32)) == 32  # 16 + the name padded to 16


def test_watches_see_file_operations_and_one_shot_ends_with_ignored(fs):
    inst = InotifyFile(AnonInode("inotify"), 0)
    d = fs.lookup("/tmp")
    wd = inst.add_watch(d, abi.IN_CREATE | abi.IN_MODIFY | abi.IN_CLOSE_WRITE | abi.IN_ONESHOT)
    f = fs.open("/tmp/x", abi.O_CREAT | abi.O_WRONLY)
    f.write(b"1")
    assert events(inst) == [(wd, abi.IN_CREATE, 0, b"x"), (wd, abi.IN_IGNORED, 0, b"")]
    assert not inst.watches and "watches" not in d.__dict__
    wd2 = inst.add_watch(fs.lookup("/tmp/x"), abi.IN_MODIFY | abi.IN_DELETE_SELF)
    assert wd2 == wd + 1
    f.write(b"2")
    fs.unlink("/tmp/x")
    assert events(inst) == [(wd2, abi.IN_MODIFY, 0, b""), (wd2, abi.IN_DELETE_SELF, 0, b""),
                            (wd2, abi.IN_IGNORED, 0, b"")]
    with pytest.raises(KernelError):
        inst.rm_watch(wd2)


def test_closing_the_instance_leaves_no_watch_on_the_inodes(fs):
    inst = InotifyFile(AnonInode("inotify"), 0)
    d = fs.lookup("/tmp")
    inst.add_watch(d, abi.IN_ALL_EVENTS)
    inst.release()
    assert "watches" not in d.__dict__
    fs.mkdir("/tmp/after")  # no instance to deliver to: nothing breaks
