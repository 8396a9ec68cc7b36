"""The host's strace (Debian's /usr/bin/strace, dynamically linked) run inside a guest: it traces
a guest program and its child with ptrace (PTRACE_SEIZE, PTRACE_SYSCALL, GET_SYSCALL_INFO,
PEEKDATA or process_vm_readv, fork events). Its output must name the calls native strace names
for the same program, process by process."""
import re

from tests.guests.harness import run_guest, run_native

STRACE = "/usr/bin/strace"
_LINE = re.compile(r"^(?:\[pid\s+(\d+)\] )?(?:<\.\.\. (\w+) resumed>|(\w+)\(|(\+\+\+ .*\+\+\+)|"
                   r"(--- \w+))")


def calls_by_process(text: str) -> list[list[str]]:
    """strace -f's lines as one list per process (in order of first appearance): each call's
    name (a resumed call counted once, at its start), '+++ exited with N +++' and '--- SIGNAME'.
    Lines without a ``[pid N]`` are the first process's (strace shows pids only while two are
    traced), whose pid is what its set_tid_address returned."""
    first = re.search(r"^set_tid_address\(.*\) += (\d+)$", text, re.M)
    main = first.group(1) if first else None
    procs: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m or m.group(2):
            continue
        pid = m.group(1) or main
        pid = "main" if pid == main else pid
        procs.setdefault(pid, []).append(m.group(3) or m.group(4) or m.group(5))
    return list(procs.values())


def calls(proc: list[str]) -> list[str]:
    return [c for c in proc if not c.startswith("--- ")]


def signals(proc: list[str]) -> list[str]:
    return sorted(c for c in proc if c.startswith("--- "))


def test_host_strace_follows_a_fork_inside_the_guest(guest_build):
    prog = guest_build("forkwait", "gcc")
    native = run_native([STRACE, "-f", prog])
    guest = run_guest([STRACE, "-f", prog])
    assert guest.status == native.status == 0, guest.stderr.decode(errors="replace")[-2000:]
    assert guest.stdout == native.stdout == b"parent 1\nchild\nchild status 3\n"
    want = calls_by_process(native.stderr.decode())
    got = calls_by_process(guest.stderr.decode())
    # Where the parent's SIGCHLD falls against its wait4 is a race natively too (does the child
    # exit before the parent's wait4 starts?): the calls in order, the signals as a set.
    assert [calls(p) for p in got] == [calls(p) for p in want], guest.stderr.decode(errors="replace")
    assert [signals(p) for p in got] == [signals(p) for p in want], guest.stderr.decode()
    assert ["set_robust_list", "write", "exit_group", "+++ exited with 3 +++"] in got
    assert "--- SIGCHLD" in got[0] and "wait4" in got[0] and "clone" in got[0]
