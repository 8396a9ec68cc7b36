"""Checkpoint and restore of running programs (issue 13): a run saved at a kernel tick hypothesis
picks and restored in a NEW process prints, after what it printed before the checkpoint, exactly
what an uninterrupted run prints, and exits with the same status.

The programs keep something in flight all the time: checkpoint.c (a pending signal, a pipe with
bytes in flight, a child waited for in wait4, threads handing a token over futexes between
floating-point loops, a sleeper, sigsuspend), blocking.c (every blocking syscall at once) and a
Go program (goroutines on channels, timers, a mutex), for glibc, musl and Go.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ecs_kernel import checkpoint_file
from ecs_kernel.abi import Block
from ecs_kernel.cpu.clock import VirtualClock
from ecs_kernel.systems import fd_table, task_block
from ecs_kernel.checkpoint_file import CheckpointError
from ecs_kernel.cpu import checkpoint as guest_checkpoint

from .harness import run_guest

CLI = [sys.executable, "-c", "import sys; from ecs_kernel.cli import main; sys.exit(main())"]
EXAMPLES = settings(max_examples=3, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def cli(*args, timeout=300) -> subprocess.CompletedProcess:
    """``ecs-kernel ARGS`` in a new process (stdin empty)."""
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


_BASELINES: dict = {}


def baseline(prog):
    """An uninterrupted run's result and the kernel tick it ended at."""
    if prog not in _BASELINES:
        end = []
        r = run_guest([prog], report=lambda m: end.append(m.kernel_tick()))
        _BASELINES[prog] = (r, end[0])
    return _BASELINES[prog]


def checkpoint_then_restore(prog, tick: int, path) -> tuple[bytes, bytes, int]:
    """Run ``prog`` in this process, saved and stopped at ``tick``; restore in a new process.
    Returns (stdout, stderr, status) of the two halves together."""
    first = run_guest([prog], checkpoint=(tick, os.fspath(path), False))
    if not os.path.exists(path):  # it ended before the tick: the whole run is the first half
        assert b"no checkpoint written" in first.stderr
        return first.stdout, first.stderr.split(b"ecs-kernel: the program ended")[0], first.status
    assert first.status == 0, first.stderr
    second = cli("restore", path)
    return first.stdout + second.stdout, first.stderr + second.stderr, second.returncode


def assert_resumes(prog, frac: float):
    full, end = baseline(prog)
    tick = int(frac * end)
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        out, err, status = checkpoint_then_restore(prog, tick, os.path.join(d, "run.ckpt"))
    assert (out, status) == (full.stdout, full.status), f"checkpoint at tick {tick} of {end}: {err}"
    assert err == full.stderr


@pytest.mark.parametrize("libc", ["gcc", "musl"])
@EXAMPLES
@given(frac=st.floats(0.05, 0.95))
def test_program_with_everything_in_flight_resumes(guest_build, libc, frac):
    assert_resumes(guest_build("checkpoint", libc), frac)


@EXAMPLES
@given(frac=st.floats(0.3, 0.9))
def test_epoll_interests_of_a_reused_fd_resume(guest_build, frac):
    """epoll_reuse.c sleeps 200 ms while an epoll instance holds two interests at one fd (one
    of a file whose fd was closed and reused): a checkpoint there keeps both."""
    assert_resumes(guest_build("epoll_reuse"), frac)


@pytest.mark.parametrize("libc", ["gcc", "musl"])
@EXAMPLES
@given(frac=st.floats(0.3, 0.9))
def test_every_blocking_syscall_resumes(guest_build, libc, frac):
    """blocking.c blocks a thread or child in each call during a 300 ms sleep of its main thread:
    most ticks hypothesis picks fall there."""
    assert_resumes(guest_build("blocking", libc), frac)


@EXAMPLES
@given(frac=st.floats(0.05, 0.95))
def test_go_program_resumes(go_build, frac):
    assert_resumes(go_build("gochan"), frac)


def test_leave_running_and_a_second_checkpoint_of_a_restored_run(guest_build, tmp_path):
    """--leave-running keeps going to the same end; a restored run checkpoints again (the tick
    goes on from the first run's) and that checkpoint resumes too."""
    prog = guest_build("checkpoint", "gcc")
    full, end = baseline(prog)
    first = tmp_path / "first.ckpt"
    r = run_guest([prog], checkpoint=(end // 4, os.fspath(first), True))
    assert (r.stdout, r.status) == (full.stdout, full.status)
    second = tmp_path / "second.ckpt"
    mid = cli("restore", "--checkpoint-at", end // 2, "--checkpoint-to", second, first)
    if not second.exists():  # this run went faster than the baseline: it ended before that tick
        assert b"no checkpoint written" in mid.stderr
        assert full.stdout.endswith(mid.stdout) and mid.returncode == full.status
        return
    assert mid.returncode == 0, mid.stderr
    last = cli("restore", second)
    assert (mid.stdout + last.stdout, last.returncode) == (full.stdout, full.status)


# -- damaged and forged files ------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory):
    """A real checkpoint of checkpoint.c, everything in flight, run in a root of its own (so a
    host path outside it can be forged), as bytes and as its (meta, arrays)."""
    from .conftest import COMPILERS, SRC
    root = tmp_path_factory.mktemp("root")
    prog = root / "checkpoint-gcc"
    subprocess.run([*COMPILERS["gcc"], "-o", str(prog), str(SRC / "checkpoint.c")], check=True)
    end = []
    run_guest(["/checkpoint-gcc"], root=os.fspath(root), report=lambda m: end.append(m.kernel_tick()))
    path = tmp_path_factory.mktemp("ckpt") / "run.ckpt"
    for part in (2, 4, 8, 16):  # this run may go faster than the first: earlier ticks then
        run_guest(["/checkpoint-gcc"], root=os.fspath(root),
                  checkpoint=(end[0] // part, os.fspath(path), False))
        if path.exists():
            break
    blob = path.read_bytes()
    return blob, checkpoint_file.loads(blob)


def test_the_real_checkpoint_restores(real_checkpoint):
    blob, _ = real_checkpoint
    m = guest_checkpoint.loads(blob)
    assert m.main_row in m.tasks


@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=st.data())
def test_damaged_checkpoints_are_refused(real_checkpoint, data):
    """Flipped, truncated, extended and spliced files: every one refused with one line."""
    blob, _ = real_checkpoint
    how = data.draw(st.sampled_from(["flip", "truncate", "extend", "splice"]))
    if how == "flip":
        i = data.draw(st.integers(0, len(blob) - 1))
        bad = blob[:i] + bytes([blob[i] ^ data.draw(st.integers(1, 255))]) + blob[i + 1:]
    elif how == "truncate":
        bad = blob[:data.draw(st.integers(0, len(blob) - 1))]
    elif how == "extend":
        bad = blob + data.draw(st.binary(min_size=1, max_size=64))
    else:
        i = data.draw(st.integers(0, len(blob) - 1))
        j = data.draw(st.integers(i, len(blob)))
        bad = blob[:i] + blob[j:] + blob[i:j]
        if bad == blob:
            return
    with pytest.raises(CheckpointError) as e:
        guest_checkpoint.loads(bad)
    assert "\n" not in str(e.value)


def _forged(real, change) -> bytes:
    """The real checkpoint with ``change(meta, arrays)`` applied and every digest right again."""
    import copy
    _, (meta, arrays) = real
    meta = copy.deepcopy(meta)
    arrays = dict(arrays)
    change(meta, arrays)
    return checkpoint_file.dumps(meta, arrays)


def _objects_of(meta, cls):
    return [o for o in meta["objects"] if o["class"] == cls]


FORGERIES = {
    "a class that is not registered": lambda m, a: m["objects"][0].update({"class": "system"}),
    "a builtin as a class": lambda m, a: m["objects"][0].update({"class": "eval"}),
    "a module path as a function": lambda m, a: _objects_of(m, "SuperBlock")[0]["meta"].update(
        {"clock": {"fn": "os.system", "args": ["touch /tmp/pwned"]}}),
    "another kind": lambda m, a: m.update({"kind": "world"}),
    "a root that is not this one": lambda m, a: m["machine"].update({"root_dir": "/var"}),
    "a host file outside the root": lambda m, a: [
        o["meta"].update({"lower": "/etc/shadow"}) for o in m["objects"]
        if o["class"] == "RegularFile" and o["meta"].get("lower")],
    "a pipe fuller than its slots": lambda m, a: [
        o["meta"].update({"slots": 0}) for o in _objects_of(m, "Pipe")],
    "registers of another shape": lambda m, a: a.update(
        {"machine.regs": a["machine.regs"][:, :5].copy()}),
    "a mapping past its buffer": lambda m, a: [
        a.update({k: _grow_end(v)}) for k, v in list(a.items()) if k.endswith(".ranges")],
    "a guest thread that is no task": lambda m, a: a.update(
        {"machine.rows": a["machine.rows"] + 100000}),
    "an fd that is not open": lambda m, a: [
        o["meta"]["files"][0][1].append([1000, o["meta"]["files"][0][1][0][1]])
        for o in _objects_of(m, "FDStore")],
    "a stdio fd that was not the run's": lambda m, a: [
        o["meta"].update({"host_fd": 7}) for o in _objects_of(m, "HostStdioInode")],
}


def _grow_end(t):
    t = t.copy()
    t[1, -1] += 1 << 30
    return t


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forged_manifests_are_refused_before_anything_runs(real_checkpoint, name, tmp_path):
    blob = _forged(real_checkpoint, FORGERIES[name])
    with pytest.raises(CheckpointError) as e:
        guest_checkpoint.loads(blob)
    assert "\n" not in str(e.value)
    assert not os.path.exists("/tmp/pwned")


def test_a_pickle_payload_is_refused(real_checkpoint, tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch /tmp/pwned-pickle",))

    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps(Evil()))
    r = cli("restore", path)
    assert r.returncode == 2 and r.stderr.count(b"\n") == 1, r.stderr
    assert not os.path.exists("/tmp/pwned-pickle")


def test_restore_cli_errors_are_one_line(real_checkpoint, tmp_path):
    blob, _ = real_checkpoint
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(blob[:-1])
    for args in (["restore", bad], ["restore", tmp_path / "missing.ckpt"],
                 ["run", "--checkpoint-at", "5", "--", "/bin/true"],
                 ["run", "--leave-running", "--", "/bin/true"]):
        r = cli(*args)
        assert r.returncode == 2 and r.stderr.count(b"\n") == 1, (args, r.stderr)
        assert b"Traceback" not in r.stderr


def _leaves(v, path=()):
    """Every (path, value) of a JSON tree's leaves and containers."""
    yield path, v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _leaves(x, path + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _leaves(x, path + (i,))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.data())
def test_any_forged_manifest_value_is_refused_or_harmless(real_checkpoint, data):
    """Any one value of the manifest replaced (digests made right again): loading either refuses
    it with one CheckpointError line or builds a Machine; never another exception."""
    _, (meta, _) = real_checkpoint
    paths = [p for p, _ in _leaves(meta) if p]
    where = data.draw(st.sampled_from(paths))
    value = data.draw(JSON_VALUES)

    def change(m, a):
        node = m
        for k in where[:-1]:
            node = node[k]
        node[where[-1]] = value

    blob = _forged(real_checkpoint, change)
    try:
        guest_checkpoint.loads(blob)
    except CheckpointError as e:
        assert "\n" not in str(e)


def test_ps_lists_a_guest_checkpoint(real_checkpoint, tmp_path):
    """ps of a running program's checkpoint: its processes and threads with their argv; the
    threads blocked in the kernel show what they wait on."""
    import json
    blob, _ = real_checkpoint
    path = tmp_path / "run.ckpt"
    path.write_bytes(blob)
    r = cli("ps", "--json", path)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    guest = [x for x in rows if "checkpoint-gcc" in x["cmd"]]  # zombies: [comm] <defunct>
    m = guest_checkpoint.loads(blob)
    assert len(guest) == len(m.tasks)
    assert len({x["pid"] for x in guest}) >= 2  # the program and its children
    from ecs_kernel.systems.task_block import blocked
    assert sum(x["wait"] is not None for x in guest) == \
        sum(1 for b in blocked(m.world) if b.row in m.tasks)


def test_checkpoint_on_a_host_signal(guest_build, tmp_path):
    """run --checkpoint-on USR1: the signal saves the run (the guest never sees it) and stops;
    the restored run prints the rest."""
    import signal
    import time
    prog = guest_build("ticker", "gcc")
    native = subprocess.run([prog, "3000"], capture_output=True, timeout=120)
    path = tmp_path / "sig.ckpt"
    p = subprocess.Popen([*CLI, "run", "--checkpoint-on", "USR1", "--checkpoint-to", str(path),
                          "--", prog, "3000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    first = p.stdout.readline()
    assert first == b"ready\n"
    time.sleep(0.2)
    p.send_signal(signal.SIGUSR1)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0 and path.exists(), err
    rest = cli("restore", path)
    assert rest.returncode == native.returncode == 9
    assert first + out + rest.stdout == native.stdout


def test_checkpoint_options_are_checked():
    for args in (["--checkpoint-on", "KILL", "--checkpoint-to", "x"],
                 ["--checkpoint-on", "NOPE", "--checkpoint-to", "x"],
                 ["--checkpoint-on", "USR1"]):
        r = cli("run", *args, "--", "/bin/true")
        assert r.returncode == 2 and r.stderr.count(b"\n") == 1, (args, r.stderr)


@EXAMPLES
@given(frac=st.floats(0.2, 0.9))
def test_file_locks_and_a_lock_wait_resume(guest_build, frac):
    """locks.c's default scenario holds POSIX locks in two processes, and a child waits in
    F_SETLKW during a 100 ms sleep of its parent: the locks (fs/locks.py, on the inode) and the
    waiter's io_waits row are saved and restored."""
    assert_resumes(guest_build("locks"), frac)


@pytest.mark.parametrize("libc", ["gcc", "musl"])
@EXAMPLES
@given(frac=st.floats(0.1, 0.9))
def test_traced_and_seccomp_filtered_program_resumes(guest_build, libc, frac):
    """ptrace_ckpt.c: a tracer following every syscall stop of a child whose seccomp filter
    answers getppid: the links, stops and filters are rows and come back."""
    assert_resumes(guest_build("ptrace_ckpt", libc), frac)


def _blocked_reading(path) -> set[str]:
    """The kinds of file a guest task of the checkpoint at ``path`` is blocked reading."""
    machine = guest_checkpoint.from_state(*checkpoint_file.read(path))
    w = machine.world
    kinds = set()
    for b in task_block.blocked(w):
        if b.block == Block.IO:
            for fd, _ in b.request["fds"]:
                kinds.add(type(fd_table.get_file(w, b.row, fd)).__name__)
    return kinds


@pytest.mark.parametrize("libc", ["gcc", "musl"])
def test_checkpoints_while_blocked_on_timerfd_signalfd_inotify_resume(guest_build, libc):
    """fdblock.c blocks reading a timerfd, then a signalfd (a child signals it), then an
    inotify instance (a child creates a file): a checkpoint taken in each wait restores in a new
    process and the read completes with what an uninterrupted run reads."""
    prog = guest_build("fdblock", libc)
    ends = []  # the virtual clock makes kernel ticks a function of the program: each wait is
    full = run_guest([prog], clock=VirtualClock(), report=lambda m: ends.append(m.kernel_tick()))
    end = ends[0]  # 400 ms of the last 1200 or so
    seen = set()
    for back in (1000, 600, 200):
        with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
            path = os.path.join(d, "run.ckpt")
            first = run_guest([prog], clock=VirtualClock(), checkpoint=(end - back, path, False))
            assert first.status == 0 and os.path.exists(path), first.stderr
            seen |= _blocked_reading(path)
            second = cli("restore", path)
        assert (first.stdout + second.stdout, second.returncode) == (full.stdout, full.status), \
            second.stderr
    assert {"TimerFile", "SignalFile", "InotifyFile"} <= seen


@pytest.mark.parametrize("libc", ["gcc", "musl"])
def test_checkpoint_while_blocked_opening_fifos_resumes(guest_build, libc):
    """fifo.c's default scenario: a child blocks opening a FIFO for reading, another opening
    one for writing, while their parent sleeps 300 ms before opening the other ends. A
    checkpoint taken then holds both waits (io_waits rows on FIFO_OPEN_WAIT, the ends they made
    in FDStore.opening); restored in a new process, both opens complete and the data flows as in
    an uninterrupted run."""
    from ecs_kernel.fs.pipe import FIFO_OPEN_WAIT
    prog = guest_build("fifo", libc)
    ends = []
    full = run_guest([prog], clock=VirtualClock(), report=lambda m: ends.append(m.kernel_tick()))
    assert full.status == 0, full.stderr
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        path = os.path.join(d, "run.ckpt")
        first = run_guest([prog], clock=VirtualClock(), checkpoint=(ends[0] // 2, path, False))
        assert first.status == 0 and os.path.exists(path), first.stderr
        machine = guest_checkpoint.from_state(*checkpoint_file.read(path))
        w = machine.world
        waiting = {}
        for b in task_block.blocked(w):
            if b.block == Block.IO and any(ev & FIFO_OPEN_WAIT for _, ev in b.request["fds"]):
                end = fd_table.opening(w, b.row)
                waiting[b.row] = "r" if end.can_read else "w"
        assert sorted(waiting.values()) == ["r", "w"], waiting
        second = cli("restore", path)
    assert (first.stdout + second.stdout, second.returncode) == (full.stdout, full.status), \
        second.stderr


@pytest.mark.parametrize("frac", [0.3, 0.7])
def test_shared_file_mappings_stay_one_page_cache_across_a_checkpoint(guest_build, frac):
    """shmap_ckpt.c: a parent and a child hand a counter over through MAP_SHARED mappings of a
    memfd and of a file, seen through write(2) and the other's mapping; restored, the mappings
    of both processes and the files are still one page cache (a lost share never sees a turn)."""
    assert_resumes(guest_build("shmap_ckpt", "gcc"), frac)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts mqueue")
def test_mqueue_mount_pidfd_file_creds_slice_and_limits_survive_a_checkpoint(guest_build):
    """ckpt_misc.c sleeps with an mqueue mount, a queue, a pidfd, an open file (its opener's
    credentials), a custom slice and changed limits; a checkpoint in the sleep restores in a
    new process, which uses each as an uninterrupted run does."""
    prog = guest_build("ckpt_misc")
    ends = []
    full = run_guest([prog], clock=VirtualClock(), report=lambda m: ends.append(m.kernel_tick()))
    assert full.status == 0, full.stderr
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        path = os.path.join(d, "run.ckpt")
        first = run_guest([prog], clock=VirtualClock(), checkpoint=(ends[0] - 200, path, False))
        assert first.status == 0 and os.path.exists(path), first.stderr
        assert first.stdout == b"mount: ok\n"  # saved in the sleep
        second = cli("restore", path)
    assert (first.stdout + second.stdout, second.returncode) == (full.stdout, full.status), \
        second.stderr
    assert b"linkat of the opened file: ok" in full.stdout
