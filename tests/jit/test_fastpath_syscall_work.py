"""A task with syscall work leaves the compiled fast path: a seccomp filter sees (and answers)
getppid, a call the fast path would otherwise answer itself, and a tracer under PTRACE_SYSCALL
sees every getpid stop, with the compiled hook installed from the first syscall."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ecs_kernel.cli_run import run

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the guest")

SRC = r"""
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

struct sock_filter { unsigned short code; unsigned char jt, jf; unsigned int k; };
struct sock_fprog { unsigned short len; struct sock_filter *filter; };

int main(void) {
    long fast = 0;
    for (int i = 0; i < 500; i++) fast += syscall(SYS_getppid) > 0;  /* answered compiled */
    pid_t c = fork();
    if (c == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        for (int i = 0; i < 100; i++) syscall(SYS_getpid);
        _exit(0);
    }
    int st, getpids = 0;
    waitpid(c, &st, 0);
    for (;;) {
        ptrace(PTRACE_SYSCALL, c, 0, 0);
        if (waitpid(c, &st, 0) < 0 || !WIFSTOPPED(st)) break;
        struct user_regs_struct r;
        ptrace(PTRACE_GETREGS, c, 0, &r);
        getpids += r.orig_rax == SYS_getpid;
    }
    struct sock_filter f[] = {
        {0x20, 0, 0, 0},                          /* A = nr */
        {0x15, 0, 1, SYS_getppid},                /* nr == getppid ? */
        {0x06, 0, 0, 0x00050000 | 77},            /* ERRNO(77) */
        {0x06, 0, 0, 0x7fff0000},                 /* ALLOW */
    };
    struct sock_fprog p = {4, f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    long r = syscall(SYS_seccomp, 1, 0, &p);
    long denied = 0;
    for (int i = 0; i < 500; i++) denied += syscall(SYS_getppid) == -1 && errno == 77;
    printf("fast=%ld getpid_stops=%d filter=%ld denied=%ld\n", fast, getpids, r, denied);
    return 0;
}
"""


@pytest.fixture(scope="module")
def program():
    d = Path(tempfile.mkdtemp(prefix="ecs-syscall-work-", dir="/var/tmp"))
    (d / "work.c").write_text(SRC)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(d / "work"), str(d / "work.c")],
                   check=True, capture_output=True)
    yield d / "work"
    shutil.rmtree(d, ignore_errors=True)


def test_traced_and_filtered_tasks_leave_the_fast_path(program):
    native = subprocess.run([str(program)], capture_output=True, check=True).stdout
    assert native == b"fast=500 getpid_stops=200 filter=0 denied=500\n"
    with tempfile.TemporaryFile(dir="/var/tmp") as out:
        machines = []
        status = run(str(program), [str(program)], [], stdio=(None, out.fileno(), 2),
                     strict=True, report=machines.append, fast_path_after=0)
        out.seek(0)
        assert (status, out.read()) == (0, native)
    m = machines[0]
    assert m.fastpath is not None and m.fastpath.fast_calls >= 500  # the first loop compiled
