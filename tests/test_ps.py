"""`ecs-kernel ps FILE`: the tasks of a checkpoint listed like ``ps -eL`` (systems/task_list.py,
cli_checkpoint.py).

A Kernel is driven by hand into known states (a shell in wait4 for its job's process group, threads
on futexes with and without a timeout, a sleeper, signals pending and blocked, a stopped process, a
zombie, a vfork parent, a wait in a child PID namespace), saved, and listed; every field of every
row is held to what the test set up, written out here, not read back through the listing."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecs_kernel import checkpoint_file as CF
from ecs_kernel.abi import (
    CLONE_NEWPID,
    CLONE_SIGHAND,
    CLONE_THREAD,
    CLONE_VFORK,
    CLONE_VM,
    NR_POLL,
    NR_READ,
    POLLIN,
    POLLOUT,
    POLLPRI,
    SIG_BLOCK,
    SIGCHLD,
    SIGHUP,
    SIGINT,
    SIGSTOP,
    SIGTERM,
    SIGUSR1,
    SIGUSR2,
    WEXITED,
    WUNTRACED,
    Block,
)
from ecs_kernel.cli import main
from ecs_kernel.cli_checkpoint import _sim_cmdline
from ecs_kernel.components.futex import NO_DEADLINE
from ecs_kernel.components.signals import mask_of
from ecs_kernel.kernel import Kernel
from ecs_kernel.sim.engine import Simulation
from ecs_kernel.sim.requests import SEGMENT_ADDR
from ecs_kernel.syscalls.table import NAMES
from ecs_kernel.systems import futex as F
from ecs_kernel.systems import io_wait
from ecs_kernel.systems.task_block import BLOCKED, blocked
from ecs_kernel.systems.task_list import JSON_FIELDS, task_list
from ecs_kernel.world import World

REPO = Path(__file__).resolve().parent.parent
FUTEX_WAIT_PRIVATE = 0x80


def _name(k: Kernel, h: int, comm: str) -> None:
    k.world.tasks.comm[k.task(h)] = comm.encode()


def hand_kernel() -> Kernel:
    """Sixteen tasks in known states; pids are handed out in creation order (1, 2, 3, ...)."""
    k = Kernel()
    k.tick(2)  # now = 2 ms: deadlines below are 2 ms past their timeouts
    init = k.init_task
    _name(k, init, "init")
    sh = k.fork(init)  # 2
    _name(k, sh, "sh")
    k.setsid(sh)  # session 2, process group 2
    job = k.fork(sh)  # 3
    _name(k, job, "worker")
    k.setpgid(job, 0, 0)  # process group 3 in session 2
    assert k.wait4(sh, -3, WUNTRACED) is BLOCKED
    F.install_sim_memory(k.world, k.task(job))
    t1 = k.clone(job, CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)  # tid 4
    t2 = k.clone(job, CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)  # tid 5
    assert k.futex(t1, 0x10000, FUTEX_WAIT_PRIVATE, 0) is BLOCKED
    assert k.futex(t2, 0x10004, FUTEX_WAIT_PRIVATE, 0, timeout=(2, 0)) is BLOCKED
    sleeper = k.fork(sh)  # 6, in the shell's group and session
    _name(k, sleeper, "sleep")
    assert k.nanosleep(sleeper, (1, 500_000_000)) is BLOCKED
    sigs = k.fork(init)  # 7
    _name(k, sigs, "sigs")
    k.sigprocmask(sigs, SIG_BLOCK, mask_of([SIGUSR1, SIGINT]))
    k.tkill(init, 7, SIGUSR1)  # thread-directed: the task's own pending set
    k.kill(init, 7, SIGINT)  # process-directed: the shared set
    assert k.sigtimedwait(sigs, mask_of([SIGUSR2, SIGHUP]), 3_000_000_000) is BLOCKED
    susp = k.fork(init)  # 8
    _name(k, susp, "susp")
    assert k.sigsuspend(susp, mask_of([SIGTERM])) is BLOCKED
    stopme = k.fork(init)  # 9
    _name(k, stopme, "stopme")
    assert k.nanosleep(stopme, (10, 0)) is BLOCKED
    k.kill(init, 9, SIGSTOP)
    dead = k.fork(init)  # 10
    _name(k, dead, "dead")
    k.exit_group(dead, 3)
    vp = k.fork(init)  # 11
    _name(k, vp, "vp")
    k.clone(vp, CLONE_VFORK | CLONE_VM | SIGCHLD)  # 12, "vp" too (clone copies comm)
    nsinit = k.clone(init, CLONE_NEWPID | SIGCHLD)  # 13, pid 1 in its namespace
    _name(k, nsinit, "nsinit")
    nschild = k.fork(nsinit)  # 14, pid 2 in the namespace
    _name(k, nschild, "nschild")
    assert k.getpid(nschild) == 2
    assert k.wait4(nsinit, 2, 0) is BLOCKED  # the namespace's pid 2 is the root's 14
    gw = k.fork(init)  # 15
    _name(k, gw, "gw")
    k.fork(gw)  # 16
    assert k.wait4(gw, 0, 0) is BLOCKED  # 0: its own process group, 1
    k.tick(1)  # the stop and the exit happen; now = 3 ms
    return k


# (pid, tid, ppid, pgid, sid, stat, wchan, pending, shared_pending, blocked, cmd)
EXPECTED = [
    (1, 1, 0, 1, 1, "Rs", "-", [], [], [], "init"),
    (2, 2, 1, 2, 2, "Ss", "wait4(pgid=3, WUNTRACED)", [], [], [], "sh"),
    (3, 3, 2, 3, 2, "Rl", "-", [], [], [], "worker"),
    (3, 4, 2, 3, 2, "Sl", "futex(0x10000)", [], [], [], "worker"),
    (3, 5, 2, 3, 2, "Sl", "futex(0x10004, until 2.002s)", [], [], [], "worker"),
    (6, 6, 2, 2, 2, "S", "nanosleep(until 1.502s)", [], [], [], "sleep"),
    (7, 7, 1, 1, 1, "S", "sigtimedwait(HUP,USR2, until 3.002s)", ["USR1"], ["INT"],
     ["INT", "USR1"], "sigs"),
    (8, 8, 1, 1, 1, "S", "sigsuspend", [], [], ["TERM"], "susp"),
    (9, 9, 1, 1, 1, "T", "stopped (SIGSTOP) in nanosleep(until 10.002s)", [], [], [], "stopme"),
    (10, 10, 1, 1, 1, "Z", "-", [], [], [], "[dead] <defunct>"),
    (11, 11, 1, 1, 1, "D", "vfork(child 12)", [], [], [], "vp"),
    (12, 12, 11, 1, 1, "R", "-", [], [], [], "vp"),
    (13, 13, 1, 1, 1, "S", "wait4(pid=14)", [], [], [], "nsinit"),
    (14, 14, 13, 1, 1, "R", "-", [], [], [], "nschild"),
    (15, 15, 1, 1, 1, "S", "wait4(pgid=1)", [], [], [], "gw"),
    (16, 16, 15, 1, 1, "R", "-", [], [], [], "gw"),
]
FIELDS = ("pid", "tid", "ppid", "pgid", "sid", "stat", "wchan", "pending", "shared_pending",
          "blocked", "cmd")
WAITS = {  # tid -> the "wait" object of --json
    2: {"call": "wait4", "options": WUNTRACED | WEXITED, "idtype": "pgid", "id": 3},
    4: {"call": "futex", "uaddr": 0x10000, "deadline_ns": None},
    5: {"call": "futex", "uaddr": 0x10004, "deadline_ns": 2_002_000_000},
    6: {"call": "nanosleep", "clock": "monotonic", "deadline_ns": 1_502_000_000},
    7: {"call": "sigtimedwait", "set": ["HUP", "USR2"], "deadline_ns": 3_002_000_000},
    8: {"call": "sigsuspend"},
    9: {"call": "stopped", "signal": "STOP",
        "in": {"call": "nanosleep", "clock": "monotonic", "deadline_ns": 10_002_000_000}},
    11: {"call": "vfork", "child": 12},
    13: {"call": "wait4", "options": WEXITED, "idtype": "pid", "id": 14},
    15: {"call": "wait4", "options": WEXITED, "idtype": "pgid", "id": 1},
}


def expected_json() -> list[dict]:
    return [{**dict(zip(FIELDS, row)), "wait": WAITS.get(row[1])} for row in EXPECTED]


@pytest.fixture(scope="module")
def hand_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ps") / "hand.ckpt"
    hand_kernel().world.save(path)
    return path


def parse_table(text: str) -> list[tuple]:
    """Rows of the aligned table, cut at the header's columns: numbers end under their header,
    text starts under its header, CMD is the rest of the line."""
    lines = text.splitlines()
    head = lines[0]
    names = head.split()
    assert names == ["PID", "TID", "PPID", "PGID", "SID", "STAT", "WCHAN", "PENDING", "SHPENDING",
                     "BLOCKED", "CMD"]
    starts = []
    for n in names:
        starts.append(head.index(n, starts[-1] + 1 if starts else 0))
    ends = [s + len(n) for s, n in zip(starts, names)]
    out = []
    for line in lines[1:]:
        nums = []
        prev = 0
        for e in ends[:5]:
            assert line[e:e + 1] == " ", f"a number overflows its column: {line!r}"
            nums.append(int(line[prev:e]))
            prev = e
        texts = [line[s:starts[j + 6]].rstrip() for j, s in enumerate(starts[5:10])]
        assert all(line[s - 1] == " " for s in starts[5:]), f"text out of its column: {line!r}"
        sets = [[] if t == "-" else t.split(",") for t in texts[2:]]
        out.append((*nums, texts[0], texts[1], *sets, line[starts[10]:]))
    return out


# -- the listing ----------------------------------------------------------------------------------

def test_every_task_is_listed_with_the_state_it_was_left_in():
    k = hand_kernel()
    got = [tuple(getattr(r, f) for f in FIELDS) for r in task_list(k.world)]
    want = [(*row[:7], *(tuple(s) for s in row[7:10]), row[10]) for row in EXPECTED]
    assert got == want


def test_a_cmdline_function_names_what_it_knows_and_comm_the_rest():
    k = hand_kernel()
    sh = k.task(k.find_task(2))
    tl = task_list(k.world, cmdline=lambda row: "/bin/sh -i" if row == sh else None)
    cmds = {r.tid: r.cmd for r in tl}
    assert cmds[2] == "/bin/sh -i" and cmds[1] == "init" and cmds[10] == "[dead] <defunct>"


def test_io_waits_name_their_call_their_fds_and_deadline(tmp_path, capsys):
    """Guests' read/write/poll waits (io_waits rows, blocked as the syscall dispatcher blocks
    them); the command names any syscall from the syscall table."""
    k = Kernel()
    w = k.world
    nr_write = NAMES.index("write")
    rd, wr, pl, sl = (k.fork(k.init_task) for _ in range(4))
    io_wait.block(w, k.task(rd), Block.IO, [(3, POLLIN)], int(NO_DEADLINE), NR_READ)
    io_wait.block(w, k.task(wr), Block.IO, [(1, POLLOUT)], int(NO_DEADLINE), nr_write)
    io_wait.block(w, k.task(pl), Block.POLL, [(3, POLLIN), (4, POLLOUT | POLLPRI)], 250_000_000,
                  NR_POLL)
    io_wait.block(w, k.task(sl), Block.POLL, [], 1_000_000_000, NR_POLL)  # poll(NULL, 0, 1000)
    path = tmp_path / "io.ckpt"
    w.save(path)
    assert main(["ps", str(path), "--json"]) == 0
    got = {o["pid"]: (o["stat"], o["wchan"], o["wait"]) for o in json.loads(capsys.readouterr()[0])}
    assert got == {
        1: ("Rs", "-", None),
        2: ("S", "read(fd 3)", {"call": "read", "poll": False, "fds": [[3, POLLIN]],
                                "deadline_ns": None}),
        3: ("S", "write(fd 1)", {"call": "write", "poll": False, "fds": [[1, POLLOUT]],
                                 "deadline_ns": None}),
        4: ("S", "poll(fds 3:IN,4:PRI|OUT, until 0.25s)",
            {"call": "poll", "poll": True, "fds": [[3, POLLIN], [4, POLLOUT | POLLPRI]],
             "deadline_ns": 250_000_000}),
        5: ("S", "poll(until 1s)", {"call": "poll", "poll": True, "fds": [], "deadline_ns": 1_000_000_000}),
    }


# -- the command ----------------------------------------------------------------------------------

def test_ps_prints_the_aligned_table(hand_file, capsys):
    assert main(["ps", str(hand_file)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert parse_table(out) == EXPECTED


def test_ps_json_round_trips(hand_file, capsys):
    assert main(["ps", str(hand_file), "--json"]) == 0
    out, _ = capsys.readouterr()
    got = json.loads(out)
    assert got == expected_json()
    assert [list(o) for o in got] == [list(JSON_FIELDS)] * len(got)
    assert got == [r.to_json() for r in task_list(World.load(hand_file))]


def test_ps_pid_keeps_a_process_and_its_threads(hand_file, capsys):
    assert main(["ps", str(hand_file), "--pid", "3", "--pid", "14", "--json"]) == 0
    got = json.loads(capsys.readouterr()[0])
    assert [(o["pid"], o["tid"]) for o in got] == [(3, 3), (3, 4), (3, 5), (14, 14)]
    assert main(["ps", str(hand_file), "--pid", "999"]) == 0
    assert parse_table(capsys.readouterr()[0]) == []


def test_ps_runs_as_a_command(hand_file):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "ecs_kernel.cli", "ps", str(hand_file)],
                       capture_output=True, text=True, env=env, timeout=120, check=False)
    assert (r.returncode, r.stderr) == (0, "")
    assert parse_table(r.stdout) == EXPECTED
    r = subprocess.run([sys.executable, "-m", "ecs_kernel.cli", "ps", str(hand_file) + ".missing"],
                       capture_output=True, text=True, env=env, timeout=120, check=False)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"ecs-kernel ps: {hand_file}.missing: No such file or directory\n"


STATES = """
name = "ps-states"
description = "synthetic tasks left in every state ps shows"
futex_words = 4
threads_per_process = 2

[[programs]]
name = "locker"  # the first takes word 1 and keeps it: the others wait on it
share = 0.3
steps = [{ op = "lock", word = 1 }, { op = "compute", ticks = 1 },
         { op = "loop", to = 1, times = "forever" }]

[[programs]]
name = "sleeper"
share = 0.2
steps = [{ op = "nanosleep", ticks = 1000 }, { op = "loop", to = 0, times = "forever" }]

[[programs]]
name = "parent"  # never waits: its children stay zombies (init's SIGCHLD SIG_IGN is inherited)
share = 0.2
steps = [{ op = "sigaction", sig = "SIGCHLD", action = "default" },
         { op = "clone", kind = "process", program = "child" },
         { op = "compute", ticks = 1 }, { op = "loop", to = 2, times = "forever" }]

[[programs]]
name = "child"
share = 0
steps = [{ op = "exit_group", code = 3 }]

[[programs]]
name = "stopper"
share = 0.1
steps = [{ op = "kill", target = "self", sig = "SIGSTOP" }, { op = "compute", ticks = 1 },
         { op = "loop", to = 1, times = "forever" }]

[[programs]]
name = "masked"
share = 0.2
steps = [{ op = "sigprocmask", how = "block", sigs = ["SIGUSR1", "SIGUSR2"] },
         { op = "tgkill", target = "self", sig = "SIGUSR1" },
         { op = "kill", target = "self", sig = "SIGUSR2" },
         { op = "nanosleep", ticks = 1000 }, { op = "loop", to = 3, times = "forever" }]
"""


def _sim(workload="mixed", tmp_path=None) -> tuple[Simulation, dict]:
    if workload == "states":
        path = tmp_path / "ps-states.toml"
        path.write_text(STATES)
        sim = Simulation(str(path), tasks=40, seed=1)
        last = sim.run(10)[-1]
    else:
        sim = Simulation("mixed", tasks=2000, seed=5)
        last = sim.run(120)[-1]
    return sim, last


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    return [_sim("mixed"), _sim("states", tmp_path_factory.mktemp("sim"))]


def test_the_one_entry_and_whole_list_forms_agree(sims):
    for world in (hand_kernel().world, *(s.world for s, _ in sims)):
        tl = task_list(world, cmdline=_sim_cmdline(world))
        one = [tl.record(i) for i in range(len(tl))]
        assert list(tl) == one
        assert tl.wchans() == [r.wchan for r in one]
        assert tl.waits() == [r.wait for r in one]
        assert tl.cmds() == [r.cmd for r in one]


def test_waits_agree_with_the_blocked_task_requests(sims):
    """task_block.blocked reads the same request columns one task at a time."""
    for sim, _ in sims:
        tl = task_list(sim.world)
        by_row = dict(zip(tl.row.tolist(), tl.waits()))
        seen = 0
        for b in blocked(sim.world):
            w = by_row[b.row]
            if b.block == Block.FUTEX:
                assert (w["uaddr"], w["deadline_ns"]) == (b.request["uaddr"], b.request["deadline"])
            elif b.block == Block.SLEEP:
                assert w["deadline_ns"] == b.request["deadline"]
            elif b.block == Block.WAIT:
                assert w["call"] == "wait4" and w["options"] == b.request["options"]
            elif b.block == Block.STOPPED:
                assert w["call"] == "stopped"
            seen += 1
        assert seen == sum(w is not None for w in by_row.values()) > 0


def test_ps_of_a_simulation_counts_what_its_gauges_count(sims, tmp_path, capsys):
    """The simulation counts its tasks' states itself each tick (sim/engine.py)."""
    for sim, last in sims:
        path = tmp_path / "sim.ckpt"
        sim.world.save(path)
        assert main(["ps", str(path), "--json"]) == 0
        got = json.loads(capsys.readouterr()[0])
        letters = "".join(o["stat"][0] for o in got)
        assert len(got) == last["tasks_alive"]
        assert (letters.count("R"), letters.count("S") + letters.count("D"),
                letters.count("T"), letters.count("Z")) == \
            (last["running"], last["blocked"], last["stopped"], last["zombie"])
        names = set(sim.world.index.sim.prog_names)
        assert {o["cmd"] for o in got if o["stat"] != "Z"} <= names | {"-"}
        assert main(["ps", str(path)]) == 0
        assert len(parse_table(capsys.readouterr()[0])) == len(got)


def test_ps_of_a_simulation_shows_each_programs_state(sims, tmp_path, capsys):
    sim, last = sims[1]
    path = tmp_path / "states.ckpt"
    sim.world.save(path)
    assert main(["ps", str(path), "--json"]) == 0
    by = {}
    for o in json.loads(capsys.readouterr()[0]):
        by.setdefault(o["cmd"], []).append(o)
    word1 = f"futex({SEGMENT_ADDR + 4:#x})"
    lockers = by.pop("locker")
    assert sorted(o["wchan"] for o in lockers) == ["-"] + [word1] * (len(lockers) - 1)
    assert {o["stat"] for o in lockers} == {"Rl", "Sl"}
    for o in by.pop("sleeper") + by.pop("masked"):
        assert o["stat"] == "Sl" and o["wchan"].startswith("nanosleep(until ")
        assert o["wait"]["deadline_ns"] > sim.world.now_ns
        masked = o["cmd"] == "masked"
        assert (o["pending"], o["shared_pending"], o["blocked"]) == \
            ((["USR1"], ["USR2"], ["USR1", "USR2"]) if masked else ([], [], []))
    for o in by.pop("stopper"):
        assert (o["stat"], o["wchan"]) == ("Tl", "stopped (SIGSTOP)")
    parents = {o["pid"] for o in by.pop("parent")}
    zombies = by.pop("[child] <defunct>")
    assert len(zombies) == last["zombie"] > 0
    assert all(o["stat"] == "Z" and o["ppid"] in parents for o in zombies)
    assert [o["pid"] for o in by.pop("-")] == [1]
    assert by == {}


# -- files ps does not list -----------------------------------------------------------------------

def _one_line_exit_2(capsys, path, *why):
    assert main(["ps", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"ecs-kernel ps: {path}: ")
    assert any(w in err for w in why), err
    return err


def test_damaged_files_get_one_line_and_status_2(hand_file, tmp_path, capsys):
    blob = hand_file.read_bytes()
    rng = np.random.default_rng(13)
    for k, at in enumerate(rng.integers(0, len(blob), 12).tolist()):
        bad = bytearray(blob)
        bad[at] ^= 0x40
        p = tmp_path / f"flip{k}.ckpt"
        p.write_bytes(bytes(bad))
        _one_line_exit_2(capsys, p, "checkpoint")
    p = tmp_path / "short.ckpt"
    p.write_bytes(blob[: len(blob) // 2])
    _one_line_exit_2(capsys, p, "truncated")
    p = tmp_path / "text.txt"
    p.write_text("hello\n" * 100)
    _one_line_exit_2(capsys, p, "not a checkpoint")
    _one_line_exit_2(capsys, tmp_path / "missing.ckpt", "No such file")
    _one_line_exit_2(capsys, tmp_path, "Is a directory")


def test_a_checkpoint_of_another_kind_is_named(tmp_path, capsys):
    p = tmp_path / "other.ckpt"
    CF.write(p, {"kind": "explorer-state"}, {"x": np.zeros(3, np.uint8)})
    err = _one_line_exit_2(capsys, p, "kind")
    assert "not a checkpoint ecs-kernel ps can read: kind 'explorer-state'" in err


def test_a_guest_checkpoint_without_its_sections_is_one_line(tmp_path, capsys):
    p = tmp_path / "guest.ckpt"
    CF.write(p, {"kind": "guest"}, {"x": np.zeros(3, np.uint8)})
    _one_line_exit_2(capsys, p, "corrupt checkpoint")


@pytest.mark.parametrize("what,forge,why", [
    ("rows that do not add up", lambda m, a: m["tables"]["tasks"].update(count=999),
     "corrupt checkpoint"),
    ("a thread group outside the table", lambda m, a: a["t.tasks.tg"].__setitem__(1, -7),
     "inconsistent checkpoint"),
    ("a parent outside the table", lambda m, a: a["t.tasks.parent"].__setitem__(1, 10**6),
     "inconsistent checkpoint"),
])
def test_a_forged_world_gets_one_line(hand_file, tmp_path, capsys, what, forge, why):
    meta, arrays = CF.read(hand_file)
    forge(meta, arrays)  # right digests around content that does not hold
    p = tmp_path / "forged.ckpt"
    CF.write(p, meta, arrays)
    _one_line_exit_2(capsys, p, why)
