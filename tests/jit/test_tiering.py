"""Tiering of ``ecs-kernel run``: kernels interpreted and the Python syscall hook first, numba and
the compiled hook once the guest has made enough calls (jit/options.py, cpu/machine.py)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ecs_kernel.cli_run import run

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the guests")
ROOT = Path(__file__).resolve().parents[2]
HELLO = '#include <stdio.h>\nint main(void){puts("hello, world");return 0;}\n'
GETPIDS = r"""
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(void) {
    long s = 0;
    for (int i = 0; i < 3000; i++) s += syscall(SYS_getpid);
    printf("%ld\n", s);
    return 0;
}
"""
READS = r"""
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char buf[64];
    long s = 0;
    int fd = open("/dev/zero", O_RDONLY);
    for (int i = 0; i < 3000; i++) s += read(fd, buf, sizeof buf);
    printf("%ld\n", s);
    return 0;
}
"""


@pytest.fixture(scope="module")
def progs():
    d = Path(tempfile.mkdtemp(prefix="ecs-tiering-", dir="/var/tmp"))
    out = {}
    pingpong = (ROOT / "tests" / "guests" / "src" / "pingpong.c").read_text()
    for name, src in (("hello", HELLO), ("getpids", GETPIDS), ("pingpong", pingpong),
                      ("reads", READS)):
        (d / f"{name}.c").write_text(src)
        subprocess.run(["gcc", "-static", "-O1", "-pthread", "-o", str(d / name),
                        str(d / f"{name}.c")], check=True, capture_output=True)
        out[name] = d / name
    yield out
    shutil.rmtree(d, ignore_errors=True)


def _command(script: str):
    """Run ``script`` in a fresh interpreter (numba not yet imported) from the repository root."""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=str(ROOT), timeout=300)


def test_hello_world_command_never_loads_numba(progs):
    r = _command("import sys\nfrom ecs_kernel.cli import main\n"
                 f"rc = main(['run', '--', {str(progs['hello'])!r}])\n"
                 "print('numba' in sys.modules, rc)")
    assert r.stdout == "hello, world\nFalse 0\n", r.stderr


def test_the_budget_running_out_inside_an_interpreted_kernel_does_not_promote_mid_call():
    """A string crossing a page boundary with one interpreted call left: strnlen (an
    interpreted kernel) calls find_row, which finds the budget spent; promoting then would
    give strnlen numba's _host_ptr, which plain Python cannot call (an internal error seen in
    inotify_add_watch). The nested call stays interpreted; the next call promotes."""
    r = _command("import mmap, sys\n"
                 "from ecs_kernel.jit import options, pagewalk\n"
                 "from ecs_kernel.cpu.memory import AddressSpace\n"
                 "from ecs_kernel.cpu.platform import new_engine\n"
                 "options.interpret_first(10**6)\n"
                 "a = AddressSpace(new_engine())\n"
                 "addr = a.mmap(0, 2 * mmap.PAGESIZE, 3, 0x22, None, 0)\n"
                 "a.copy_out(addr + mmap.PAGESIZE - 2, b'abcd\\0')\n"
                 "options.interpret_first(1)\n"
                 "n = pagewalk.strnlen(a._t, a._n, addr + mmap.PAGESIZE - 2, 4096)\n"
                 "print(n, options.is_promoted(), 'numba' in sys.modules)\n"
                 "print(pagewalk.strnlen(a._t, a._n, addr + mmap.PAGESIZE - 2, 4096), "
                 "options.is_promoted())")
    assert r.stdout == "4 False False\n4 True\n", r.stderr


def test_the_interpreted_time_runs_out_before_the_calls_do():
    """interpret_first's time bound: a kernel whose calls are dear (a long array, as a kernel
    over a thousand task rows) promotes once its interpreted time is spent, though the count
    of calls allows far more; the compiled answer is the interpreted one."""
    r = _command("import sys\nimport numpy as np\nfrom ecs_kernel.jit import options\n"
                 "options.interpret_first(10**6, 0.05)\n"
                 "@options.jit(cache=False)\n"
                 "def total(a):\n"
                 "    s = 0\n"
                 "    for x in a:\n"
                 "        s += x\n"
                 "    return s\n"
                 "a = np.arange(100_000)\n"
                 "first, calls = total(a), 1\n"
                 "while not options.is_promoted():\n"
                 "    total(a)\n"
                 "    calls += 1\n"
                 "print(calls < 100, total(a) == first == a.sum(), 'numba' in sys.modules)")
    assert r.stdout == "True True True\n", r.stderr


def _ls(budget: int, fast_after: int, extra=()):
    return _command("import sys\nimport ecs_kernel.cli_run as c\n"
                    f"c.KERNEL_CALLS_INTERPRETED = {budget}\nc.FAST_PATH_AFTER = {fast_after}\n"
                    "from ecs_kernel.cli import main\n"
                    f"rc = main(['run', *{list(extra)!r}, '--', '/bin/ls', '-la', '/usr/lib'])\n"
                    "print('numba' in sys.modules, rc, file=sys.stderr)")


def test_interpreted_kernels_give_the_compiled_answers():
    """A dynamically linked ls (strings, copies, mmap placement, many rows) with every kernel
    interpreted, then with every kernel compiled: the same listing."""
    interpreted = _ls(10**9, 10**9)
    compiled = _ls(0, 0, ["--no-fast-path"])
    assert interpreted.stderr.endswith("False 0\n"), interpreted.stderr
    assert compiled.stderr.endswith("True 0\n"), compiled.stderr
    assert interpreted.stdout == compiled.stdout and len(interpreted.stdout) > 100


def test_tier_up_mid_run(progs):
    """The compiled hook replaces the Python one after N syscalls; the answers do not change."""
    outs = []
    for kw in (dict(fast_path_after=500), dict(fast_path=False)):
        with tempfile.TemporaryFile(dir="/var/tmp") as f:
            ms = []
            status = run(str(progs["getpids"]), [str(progs["getpids"])], [],
                         stdio=(None, f.fileno(), 2), strict=True, report=ms.append, **kw)
            f.seek(0)
            outs.append((status, f.read()))
        if "fast_path_after" in kw:
            fp = ms[0].fastpath
            assert fp is not None and 2000 < fp.fast_calls < 3000
    assert outs[0] == outs[1] and outs[0][0] == 0
    assert int(outs[0][1]) % 3000 == 0 and int(outs[0][1]) > 0  # 3000 times the guest's pid


def _report(prog, args, **kw):
    ms = []
    with tempfile.TemporaryFile(dir="/var/tmp") as f:
        status = run(str(prog), [str(prog), *args], [], stdio=(None, f.fileno(), 2), strict=True,
                     report=ms.append, **kw)
        f.seek(0)
        return status, f.read(), ms[0]


def test_a_second_thread_tiers_up_at_its_clone(progs):
    """A process's first clone(CLONE_THREAD) installs the compiled hook, whatever the countdown
    had left, so the threads' futex hand-offs are compiled from the start; a single-threaded
    program keeps its countdown (here longer than its run: no compiled hook)."""
    status, out, m = _report(progs["pingpong"], ["500"], fast_path_after=10**6)
    assert status == 0 and int(out) > 0
    assert m.platform.hooks_compiled and m.fastpath is not None
    assert m.fastpath.fx_counts[2] > 990  # two hand-offs a round trip, compiled
    status, out, m = _report(progs["getpids"], [], fast_path_after=10**6)
    assert status == 0 and int(out) % 3000 == 0
    assert not m.platform.hooks_compiled and m.fastpath is None


def test_calls_the_compiled_hook_never_answers_do_not_count_to_the_tier_up(progs):
    """3000 reads past fast_path_after=500: no compiled hook is loaded (every read would reach
    the Python hook through it anyway); 3000 getpids past the same bound: it is."""
    for prog, tiered in (("reads", False), ("getpids", True)):
        with tempfile.TemporaryFile(dir="/var/tmp") as f:
            ms = []
            status = run(str(progs[prog]), [str(progs[prog])], [], stdio=(None, f.fileno(), 2),
                         strict=True, report=ms.append, fast_path_after=500)
            f.seek(0)
            out = f.read()
        assert status == 0 and int(out) == (64 * 3000 if prog == "reads" else int(out))
        assert (ms[0].fastpath is not None) == tiered, prog


def test_no_fast_path_and_strace_flags(progs):
    """The command-line switches: --no-fast-path runs the same program to the same end, and
    --strace prints every one of its syscalls (none is answered silently in compiled code)."""
    base = [sys.executable, "-m", "ecs_kernel.cli", "run"]
    prog = str(progs["getpids"])
    plain = subprocess.run([*base, "--", prog], capture_output=True, cwd=str(ROOT), timeout=300)
    slow = subprocess.run([*base, "--no-fast-path", "--", prog], capture_output=True,
                          cwd=str(ROOT), timeout=300)
    traced = subprocess.run([*base, "--strace", "--", prog], capture_output=True, cwd=str(ROOT),
                            timeout=300)
    assert plain.returncode == slow.returncode == traced.returncode == 0
    assert plain.stdout == slow.stdout == traced.stdout and int(plain.stdout) % 3000 == 0
    assert len(re.findall(rb"^getpid\(\) += \d+$", traced.stderr, re.M)) == 3000
