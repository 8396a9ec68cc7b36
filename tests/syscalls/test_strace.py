"""``--strace`` against the host's strace: the same static programs traced both ways, line by line.

The oracle is ``strace -f -o FILE`` on the host (strace 5 or newer). What legitimately differs is
normalized away, and nothing else:

- pids (the guest's are its own namespace's), where strace prints them: line prefixes, the results
  of getpid/gettid/clone/fork/wait4/set_tid_address, kill/tgkill/tkill targets, si_pid, parent_tid;
- addresses (``0x`` and five or more hex digits: stacks and heaps lie elsewhere) and the padding
  before `` = `` that their lengths move;
- the order in which two tasks' lines interleave (the host runs them in parallel): each task's
  lines are compared as a sequence, with ``<unfinished ...>`` and ``<... resumed>`` joined;
- ``--- SIGCHLD`` lines: Linux keeps a default-ignored signal for a traced process (strace sees
  it), discards it for an untraced one; this kernel models the untraced process;
- the C library's start-up in an execve'd image (rseq, which this kernel leaves unimplemented,
  random bytes, stack limits), and everything before the programs' marker line;
- statx's ``stx_mask``: this kernel fills in the basic stats only (its table says so);
- in the threaded program, futex calls (whether pthread_join has to wait is a race).
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ecs_kernel.cli_run import run
from ecs_kernel.cpu.clock import VirtualClock
from ecs_kernel.syscalls import strace as S
from ecs_kernel.syscalls.table import CLASSES, NAMES

HOST_STRACE = shutil.which("strace")
SRC = Path(__file__).resolve().parent.parent / "guests" / "src"
MARKER = 'write(-1, "strace-test-begin", 17)'
RUN = [sys.executable, "-m", "ecs_kernel.cli", "run"]


def _strace_works() -> bool:
    if HOST_STRACE is None:
        return False
    r = subprocess.run([HOST_STRACE, "-f", "-o", "/dev/null", "/bin/true"], capture_output=True)
    return r.returncode == 0


pytestmark = pytest.mark.skipif(not _strace_works(),
                                reason="needs a working strace on the host (ptrace allowed)")


@pytest.fixture(scope="module")
def progs():
    d = Path(tempfile.mkdtemp(prefix="ecs-strace-", dir="/var/tmp"))
    out = {}
    for name, cc in (("gcc", ["gcc", "-static", "-O1", "-pthread"]),
                     ("musl", ["musl-gcc", "-static", "-O1"])):
        if shutil.which(cc[0]) is None:
            continue
        for src in ("strace", "strace_threads"):
            if src == "strace_threads" and name != "musl":
                continue  # glibc makes threads with clone3, which this kernel leaves to clone
            exe = d / f"{src}-{name}"
            subprocess.run([*cc, "-o", str(exe), str(SRC / f"{src}.c")], check=True,
                           capture_output=True)
            out[src, name] = exe
    yield out
    shutil.rmtree(d, ignore_errors=True)


def native(prog, *opts: str) -> str:
    with tempfile.NamedTemporaryFile("r", dir="/var/tmp", suffix=".strace") as f:
        subprocess.run([HOST_STRACE, "-f", "-o", f.name, *opts, str(prog)], env={},
                       capture_output=True, timeout=120, check=False)
        return f.read()


def ours(prog, *, to_file: bool = True, trace: str | None = None) -> str:
    """ecs-kernel run of ``prog`` with a Strace to a string (as ``-o FILE``, or as stderr). The
    kernel clock is virtual, so a timer the program arms fires after the call it then makes has
    blocked, however slow the host is (natively, 100 ms after: two syscalls later)."""
    out = io.StringIO()
    tracer = S.Strace(out, to_file=to_file, trace=S.parse_trace(trace) if trace else None)
    with tempfile.TemporaryFile(dir="/var/tmp") as f:
        run(str(prog), [str(prog)], [], stdio=(f.fileno(), f.fileno(), f.fileno()),
            strace=tracer, strict=True, timeout=120, clock=VirtualClock())
    return out.getvalue()


# -- normalizing -----------------------------------------------------------------------------------

_PID_RESULT = {"getpid", "gettid", "clone", "fork", "vfork", "wait4", "waitid", "set_tid_address"}
_STARTUP = {"brk", "arch_prctl", "set_tid_address", "set_robust_list", "rseq", "prlimit64",
            "readlink", "getrandom", "mprotect"}


def per_task(text: str, *, from_marker: bool = True, drop: tuple[str, ...] = ()) -> dict:
    """``-o FILE`` lines as {task label: [line, ...]} with what may differ normalized."""
    lines = []
    for line in text.splitlines():
        m = re.match(r"(\d+) +(.*)", line)
        if m:  # (our own "ecs-kernel: ..." notes carry no pid)
            lines.append((int(m.group(1)), m.group(2)))
    if from_marker:
        start = next(i for i, (_, t) in enumerate(lines) if t.startswith(MARKER))
        lines = lines[start:]
    labels: dict[int, str] = {}
    for pid, _ in lines:
        labels.setdefault(pid, f"P{len(labels)}")

    def label(m):
        return labels.get(int(m.group(0)), "P?")

    def pid_arg(m):
        return m.group(1) + labels.get(int(m.group(2)), m.group(2))

    tasks: dict[str, list[str]] = {}
    pending: dict[str, str] = {}
    after_exec: set[str] = set()
    for pid, t in lines:
        who = labels[pid]
        if t.endswith(" <unfinished ...>"):
            pending[who] = t[: -len(" <unfinished ...>")]
            continue
        m = re.match(r"<\.\.\. (\w+) resumed>(.*)", t)
        if m and who in pending:
            t = pending.pop(who) + m.group(2)
        name = re.match(r"[\w+-]+", t).group(0) if re.match(r"[\w]", t) else ""
        if t.startswith("--- SIGCHLD ") or name in drop:
            continue
        if who in after_exec and name in _STARTUP:
            continue
        after_exec.discard(who)
        if name == "execve" and t.endswith("= 0"):
            after_exec.add(who)
        t = re.sub(r"0x[0-9a-f]{5,}", "0xADDR", t)
        t = re.sub(r"stx_mask=[A-Z_|]+", "stx_mask=...", t)
        t = re.sub(r"\) +(= )", r") \1", t)
        if name in _PID_RESULT:
            t = re.sub(r"(?<== )\d+$", label, t)
        t = re.sub(r"(?<=si_pid=)\d+|(?<=parent_tid=\[)\d+", label, t)
        t = re.sub(r"^((?:kill|tkill|wait4|tgkill)\()(\d+)", pid_arg, t)  # (0: no pid)
        t = re.sub(r"^(tgkill\(\w+, )(\d+)", pid_arg, t)
        tasks.setdefault(who, []).append(t)
    return tasks


def assert_same(ours_text: str, native_text: str, **kw) -> None:
    got, want = per_task(ours_text, **kw), per_task(native_text, **kw)
    assert got.keys() == want.keys(), (sorted(got), sorted(want))
    for who in want:
        if got[who] != want[who]:
            diff = "\n".join(f"{'=' if a == b else '!'} ours:   {a}\n  strace: {b}"
                             for a, b in zip(got[who] + [""] * 99, want[who] + [""] * 99)
                             if a or b)
            pytest.fail(f"task {who} differs from the host's strace:\n{diff}")


# -- the comparisons -------------------------------------------------------------------------------

@pytest.mark.parametrize("libc", ["gcc", "musl"])
def test_lines_match_the_hosts_strace(progs, libc):
    """Every argument kind the program's calls use, their results and errors, signals delivered,
    blocked calls a handler interrupts (restart codes), children that exit, die of a signal and
    execve, each line as the host's strace prints it."""
    if ("strace", libc) not in progs:
        pytest.skip(f"no {libc} compiler")
    prog = progs["strace", libc]
    assert_same(ours(prog), native(prog))


def test_threads_match_the_hosts_strace(progs):
    if ("strace_threads", "musl") not in progs:
        pytest.skip("no musl-gcc")
    prog = progs["strace_threads", "musl"]
    assert_same(ours(prog), native(prog), drop=("futex",))


@pytest.mark.parametrize("expr", ["trace=%file", "trace=%process,%signal", "%memory,%desc",
                                  "trace=!%desc,%clock", "trace=/^(open|read)", "trace=wait4,kill"])
def test_trace_sets_choose_what_the_hosts_strace_chooses(progs, expr):
    prog = progs["strace", "gcc"] if ("strace", "gcc") in progs else progs["strace", "musl"]
    assert_same(ours(prog, trace=expr), native(prog, "-e", expr), from_marker=False,
                drop=("execve", "rseq", "getrandom", "brk", "prlimit64", "set_tid_address"))


def test_classes_are_the_hosts(progs):
    """Each class holds exactly the calls the host's strace puts in it, for every call the
    program makes (the oracle: ``strace -e trace=%CLASS`` of the same program)."""
    prog = next(iter(p for k, p in progs.items() if k[0] == "strace"))

    def names(text):
        return {m.group(1) for m in re.finditer(r"^\d+ +(?:<\.\.\. )?(\w+)", text, re.M)} & set(NAMES)

    seen = names(native(prog))
    assert len(seen) >= 45
    for cls in CLASSES:
        assert names(native(prog, "-e", f"trace=%{cls}")) == seen & set(CLASSES[cls]), cls


def test_pid_prefixes_while_several_tasks_live(progs):
    """On stderr, as with ``strace -f``: ``[pid N]`` on every line while more than one task is
    alive, and on none otherwise; the host's strace output obeys the same rule. (Between a
    clone and the child's first line either is right: strace counts the child once it sees it.)"""
    prog = progs["strace", "gcc"] if ("strace", "gcc") in progs else progs["strace", "musl"]

    def check(text: str) -> int:
        lines = [line for line in text.splitlines() if not line.startswith("ecs-kernel:")]
        children = {int(m.group(1)) for m in re.finditer(
            r"(?:^|\] )(?:(?:clone|fork|vfork)\(|<\.\.\. (?:clone|fork|vfork) resumed>).* = (\d+)$",
            "\n".join(lines), re.M)}
        assert children
        live, window, seen, prefixed = 1, 0, set(), 0
        for line in lines:
            m = re.match(r"\[pid +(\d+)\] (.*)", line)
            rest = m.group(2) if m else line
            if m and int(m.group(1)) in children and int(m.group(1)) not in seen:
                seen.add(int(m.group(1)))
                live += 1
                window = max(0, window - 1)
            if window == 0:
                assert bool(m) == (live > 1), (live, line)
            prefixed += bool(m)
            if re.match(r"(clone|fork|vfork)\(", rest) and " = -1 " not in rest:
                window += 1
            elif rest.startswith("+++ "):
                live -= 1
        return prefixed

    r = subprocess.run([HOST_STRACE, "-f", str(prog)], env={}, capture_output=True, text=True,
                       timeout=120)
    # the host's strace writes "strace: Process N attached" into the middle of a line
    host = re.sub(r"\S*strace: Process \d+ attached\n", "", r.stderr)
    assert check(host) > 0
    assert check(ours(prog, to_file=False)) > 0


# -- the command line (the real entry point, in a subprocess) --------------------------------------

def cli(*args, timeout=120):
    return subprocess.run([*RUN, *args], capture_output=True, text=True, timeout=timeout)


def test_cli_o_e_and_tt(tmp_path):
    out = tmp_path / "trace.txt"
    r = cli("-o", str(out), "-e", "trace=%process", "-tt", "--", "/bin/true")
    # the trace goes to the file; stderr has only our own note of unimplemented calls
    assert r.returncode == 0 and all(line.startswith("ecs-kernel: unimplemented")
                                     for line in r.stderr.splitlines()), r.stderr
    lines = out.read_text().splitlines()
    assert all(re.match(r"\d+ +\d\d:\d\d:\d\d\.\d{6} ", line) for line in lines), lines
    names = [re.sub(r"^\d+ +\S+ ", "", line).split("(")[0] for line in lines]
    host = tmp_path / "host.txt"
    subprocess.run([HOST_STRACE, "-f", "-o", str(host), "-e", "trace=%process", "-tt",
                    "/bin/true"], env={}, check=True)
    want = [re.sub(r"^\d+ +\S+ ", "", line).split("(")[0] for line in host.read_text().splitlines()]
    assert names == want == ["execve", "exit_group", "+++ exited with 0 +++"]


def test_cli_t_and_ttt_and_stderr():
    r = cli("-t", "--", "/bin/true")
    assert r.returncode == 0
    assert all(re.match(r"\d\d:\d\d:\d\d [a-z+-]", line) for line in r.stderr.splitlines()
               if not line.startswith("ecs-kernel:")), r.stderr
    r = cli("--strace", "-ttt", "-e", "trace=exit_group", "--", "/bin/true")
    lines = [line for line in r.stderr.splitlines() if not line.startswith("ecs-kernel:")]
    assert re.fullmatch(r"\d{10}\.\d{6} exit_group\(0\) += \?", lines[0]), lines
    assert re.fullmatch(r"\d{10}\.\d{6} \+\+\+ exited with 0 \+\+\+", lines[1]), lines


def test_cli_refuses_what_strace_refuses(tmp_path):
    for args, what in ((("-e", "trace=bogus"), "invalid system call 'bogus'"),
                       (("-e", "signal=all"), "invalid qualifier 'signal'"),
                       (("-o", str(tmp_path / "no" / "such" / "file")), "No such file")):
        r = cli(*args, "--", "/bin/true")
        assert r.returncode == 2 and what in r.stderr and r.stderr.count("\n") == 1, r.stderr


# -- pieces, each against what the host's strace printed above -------------------------------------

def test_quoting_is_straces():
    # write(3, "bin\0\1\177\3779\n\t\r\v\f\"\\x\0", 17) in the programs above, and the cut at 32
    assert S.quote(b"bin\0\x01\x7f\xff9\n\t\r\v\f\"\\x\0") == r'"bin\0\1\177\3779\n\t\r\v\f\"\\x\0"'
    assert S.quote(b"\x001") == r'"\0001"'  # three digits when an octal digit follows
    assert S.quote(b"ab", more=True) == '"ab"...'
    assert S.quote(b"\x61\x7f", force_hex=True) == r'"\x61\x7f"'


def test_every_kind_in_the_table_has_a_printer():
    from ecs_kernel.syscalls.table import table
    for row in table():
        for k in row.args:
            S.kind(k)  # KeyError for a kind strace.py does not print


def test_the_trace_expression_grammar():
    nr = NAMES.index
    assert S.parse_trace("trace=all") is None and S.parse_trace("!none") is None
    assert S.parse_trace("trace=none") == frozenset()
    assert S.parse_trace("open,close") == {nr("open"), nr("close")}
    assert S.parse_trace("%net") == S.parse_trace("%network") == S.parse_trace("network")
    assert nr("read") not in S.parse_trace("!read") and nr("write") in S.parse_trace("!read")
    assert S.parse_trace("?nosuchcall,read") == {nr("read")}
    assert S.parse_trace("%%stat") == {nr(n) for n in ("stat", "fstat", "lstat", "newfstatat",
                                                      "statx")}
    with pytest.raises(S.TraceExprError):
        S.parse_trace("trace=%nosuchclass")
    with pytest.raises(S.TraceExprError):
        S.parse_trace("trace=/(")


def test_no_guest_state_changes_for_tracing(progs):
    """Tracing prints; it changes nothing the guest sees: output and status are the same."""
    prog = progs["strace", "musl"] if ("strace", "musl") in progs else progs["strace", "gcc"]
    results = []
    for tracer in (None, S.Strace(io.StringIO())):
        with tempfile.TemporaryFile(dir="/var/tmp") as f:
            status = run(str(prog), [str(prog)], [], stdio=(f.fileno(), f.fileno(), f.fileno()),
                         strace=tracer, strict=True, timeout=120)
            f.seek(0)
            results.append((status, f.read()))
    assert results[0] == results[1]
