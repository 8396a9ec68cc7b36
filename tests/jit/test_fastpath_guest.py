"""The fast path in whole programs: the same output with and without it, natively where Linux
gives the same answers, and ``--strace`` still sees every syscall."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ecs_kernel.cli_run import run

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the guest")

# Calls the fast path answers, in a loop, printing what a native run prints too (ids and limits
# are the same under ecs-kernel when run as the same user; pid/ppid/tid are printed as relations).
SRC = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
#include <linux/futex.h>

int main(void) {
    long sum = 0;
    struct timespec a, b;
    int word = 0;
    for (int i = 0; i < 2000; i++) {
        sum += syscall(SYS_getpid) == getpid();
        sum += syscall(SYS_gettid) == syscall(SYS_getpid);
        clock_gettime(CLOCK_MONOTONIC, &a);
        syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &b);
        sum += (b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec));
        sched_yield();
        sum += syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0) == 0;
    }
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    sigprocmask(SIG_SETMASK, NULL, &old);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    time_t t = syscall(SYS_time, NULL);
    printf("sum=%ld usr1_blocked=%d nofile=%lu/%lu uid=%d gid=%d time_ok=%d ppid_ok=%d\n",
           sum, sigismember(&old, SIGUSR1), (unsigned long)rl.rlim_cur,
           (unsigned long)rl.rlim_max, getuid(), getgid(), t >= tv.tv_sec - 1 && t <= tv.tv_sec + 1,
           getppid() >= 0);
    return 0;
}
"""


@pytest.fixture(scope="module")
def program():
    d = Path(tempfile.mkdtemp(prefix="ecs-fastpath-", dir="/var/tmp"))
    (d / "fast.c").write_text(SRC)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(d / "fast"), str(d / "fast.c")], check=True,
                   capture_output=True)
    yield d / "fast"
    shutil.rmtree(d, ignore_errors=True)


def _guest(path, **kw):
    with tempfile.TemporaryFile(dir="/var/tmp") as out:
        machines = []
        status = run(str(path), [str(path)], [], stdio=(None, out.fileno(), 2), strict=True,
                     report=machines.append, **kw)
        out.seek(0)
        return status, out.read(), machines[0]


def test_same_output_with_and_without_fast_path(program):
    s_fast, out_fast, m = _guest(program)
    s_slow, out_slow, m_slow = _guest(program, fast_path=False)
    assert (s_fast, out_fast) == (s_slow, out_slow) == (0, b"sum=8000 usr1_blocked=1 "
                                                        b"nofile=1024/4096 uid=0 gid=0 time_ok=1 "
                                                        b"ppid_ok=1\n")
    assert m.fastpath.fast_calls >= 7 * 2000  # the loop never entered Python
    assert m_slow.fastpath is None


def test_fast_path_output_matches_native(program):
    native = subprocess.run([str(program)], capture_output=True, env={})
    status, out, _ = _guest(program)
    # A fresh kernel has boot limits (1024/4096), the host's shell its own; the guest runs as
    # uid 0, so a native run as another user differs in its ids and nothing else.
    differ = (b"nofile=",) if os.getuid() == 0 else (b"nofile=", b"uid=", b"gid=")

    def strip(b):
        return b" ".join(w for w in b.split(b" ") if not w.startswith(differ))
    assert (status, strip(out)) == (native.returncode, strip(native.stdout))


def test_strace_sees_every_syscall(program):
    log = io.StringIO()
    status, _, m = _guest(program, strace=log)
    assert status == 0 and m.fastpath is None
    lines = log.getvalue().splitlines()
    assert sum(line.startswith("getpid(") for line in lines) == 6000
    assert sum(line.startswith("sched_yield(") for line in lines) == 2000


SIGNALS_SRC = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t usr1, alarms;
static void on_usr1(int s) { (void)s; usr1++; }
static void on_alarm(int s) { (void)s; alarms++; }

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR1);                      /* pending, blocked */
    for (int i = 0; i < 1000; i++) syscall(SYS_getpid);
    int before = usr1;
    sigprocmask(SIG_UNBLOCK, &set, NULL);  /* delivered on the way back */
    int after = usr1;
    struct itimerval it = {{0, 0}, {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    long calls = 0;
    while (!alarms && calls < 200000000L) { syscall(SYS_getpid); calls++; }
    printf("usr1 %d->%d alarm %d\n", before, after, (int)alarms);
    return 0;
}
"""


def test_signals_and_timers_reach_a_task_in_fast_syscalls(program):
    """A blocked signal unblocked by rt_sigprocmask is delivered on that call's return, and a
    timer fires while the task only makes compiled-path syscalls, as natively."""
    d = program.parent
    (d / "sig.c").write_text(SIGNALS_SRC)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(d / "sig"), str(d / "sig.c")], check=True,
                   capture_output=True)
    native = subprocess.run([str(d / "sig")], capture_output=True, timeout=60)
    fast = _guest(d / "sig")
    slow = _guest(d / "sig", fast_path=False)
    want = (0, b"usr1 0->1 alarm 1\n")
    assert (native.returncode, native.stdout) == want
    assert fast[:2] == slow[:2] == want
    assert fast[2].fastpath.fast_calls >= 1000
