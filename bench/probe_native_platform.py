"""What a platform that runs guest code natively would cost (issue 15's proposed design change).

    python -m bench.probe_native_platform [--stores N] [--calls N] [--repeat R]

ecs-kernel runs guest code on Unicorn: CPU-bound programs pay the engine's translation (each
translated block calls ``helper_check_exit_request`` and each load or store walks the softmmu
TLB), about 3x qemu-user and 10-40x native. gVisor runs the same kernel over several platforms;
its ptrace and systrap platforms run guest code natively and trap only its system calls. This
probe measures, with no ecs-kernel code, what such a platform would pay on this machine, each
figure against native in the same run:

- ``store`` (the CPU-bound floor): 10^8 stores round a 32 KiB array, natively and as the child
  of a tracer that intercepts every system call (``PTRACE_SYSEMU``, gVisor's ptrace platform);
- ``getpid`` per call, four ways: native; under ``PTRACE_SYSEMU`` (the tracer answers, the host
  kernel never runs the call); trapped in the caller by a seccomp filter returning
  ``SECCOMP_RET_TRAP`` and answered by its SIGSYS handler (the trap alone); and trapped so and
  sent by that handler to a second process that answers through shared memory and futexes
  (gVisor's systrap: the kernel is another process, two host context switches per call).

The C program is built with gcc into a temporary directory and run there; nothing else is
written. Compare with ``python -m bench`` (ecs-kernel's getpid fast path and compute loop) and
``python -m bench.bench_real`` (whole programs).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef PTRACE_SYSEMU
#define PTRACE_SYSEMU 31
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static volatile long arr[4096];
static void stores(long n) { for (long i = 0; i < n; i++) arr[i & 4095] = i; }
static void getpids(long n) { for (long i = 0; i < n; i++) syscall(SYS_getpid); }

/* The traced child: stop for the tracer, run the workload, report its own time through the
   shared page, exit. */
static double *shared_time;
static void child_run(int what, long n) {
    ptrace(PTRACE_TRACEME, 0, 0, 0);
    raise(SIGSTOP);
    double t0 = now();
    if (what == 0) stores(n); else getpids(n);
    *shared_time = now() - t0;
    syscall(SYS_exit_group, 0);
}

/* The tracer: PTRACE_SYSEMU stops at every system call without running it; the tracer answers
   getpid and clock_gettime-free calls itself, and lets exit_group end the child. */
static double traced(int what, long n) {
    pid_t pid = fork();
    if (pid == 0) child_run(what, n);
    int st;
    waitpid(pid, &st, 0);
    ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL);
    for (;;) {
        ptrace(PTRACE_SYSEMU, pid, 0, 0);
        if (waitpid(pid, &st, 0) < 0 || WIFEXITED(st) || WIFSIGNALED(st)) break;
        struct user_regs_struct r;
        ptrace(PTRACE_GETREGS, pid, 0, &r);
        if (r.orig_rax == SYS_exit_group || r.orig_rax == SYS_exit) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        if (r.orig_rax == SYS_getpid) r.rax = 4242;
        else if (r.orig_rax == SYS_clock_gettime) {
            /* vDSO normally; if a libc made the call, run it for real */
            r.rax = -ENOSYS;
        } else r.rax = -ENOSYS;
        ptrace(PTRACE_SETREGS, pid, 0, &r);
    }
    return *shared_time;
}

/* seccomp SECCOMP_RET_TRAP on getpid: the SIGSYS handler answers in the caller. */
struct channel { int req; int resp; long nr; long ret; };
static struct channel *chan;
static int forward;

static long futex(int *uaddr, int op, int val) {
    return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

static void on_sigsys(int sig, siginfo_t *si, void *uc_) {
    ucontext_t *uc = uc_;
    (void)sig;
    long ret = 4242;
    if (forward) {  /* systrap: hand the call to the kernel process and wait for its answer */
        chan->nr = si->si_syscall;
        __atomic_store_n(&chan->resp, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&chan->req, 1, __ATOMIC_SEQ_CST);
        futex(&chan->req, FUTEX_WAKE, 1);
        while (__atomic_load_n(&chan->resp, __ATOMIC_SEQ_CST) == 0)
            futex(&chan->resp, FUTEX_WAIT, 0);
        ret = chan->ret;
    }
    uc->uc_mcontext.gregs[REG_RAX] = ret;
}

static void kernel_process(void) {
    for (;;) {
        while (__atomic_load_n(&chan->req, __ATOMIC_SEQ_CST) == 0)
            futex(&chan->req, FUTEX_WAIT, 0);
        __atomic_store_n(&chan->req, 0, __ATOMIC_SEQ_CST);
        chan->ret = chan->nr == SYS_getpid ? 4242 : -ENOSYS;
        __atomic_store_n(&chan->resp, 1, __ATOMIC_SEQ_CST);
        futex(&chan->resp, FUTEX_WAKE, 1);
    }
}

static double trapped(long n, int fwd) {
    pid_t pid = fork();
    if (pid == 0) {
        forward = fwd;
        pid_t k = 0;
        if (fwd) {
            k = fork();
            if (k == 0) kernel_process();
        }
        struct sigaction sa = {0};
        sa.sa_sigaction = on_sigsys;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGSYS, &sa, NULL);
        struct sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpid, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {sizeof f / sizeof f[0], f};
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) { perror("seccomp"); _exit(1); }
        double t0 = now();
        getpids(n);
        *shared_time = now() - t0;
        if (syscall(SYS_getpid) != 4242) _exit(2);
        if (k) kill(k, SIGKILL);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) { fprintf(stderr, "trapped child failed\n"); exit(1); }
    return *shared_time;
}

int main(int argc, char **argv) {
    long stores_n = atol(argv[1]), calls = atol(argv[2]);
    shared_time = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    chan = (struct channel *)(shared_time + 8);
    double t0 = now();
    stores(stores_n);
    double native_store = now() - t0;
    t0 = now();
    getpids(calls);
    double native_getpid = now() - t0;
    double traced_store = traced(0, stores_n);
    double traced_getpid = traced(1, calls);
    double trap_getpid = trapped(calls, 0);
    double systrap_getpid = trapped(calls, 1);
    printf("%.6f %.6f %.6f %.6f %.6f %.6f\n", native_store, traced_store, native_getpid,
           traced_getpid, trap_getpid, systrap_getpid);
    return 0;
}
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stores", type=int, default=100_000_000, help="stores in the CPU-bound loop")
    ap.add_argument("--calls", type=int, default=200_000, help="getpid calls per variant")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="probe-native-") as d:
        src, exe = os.path.join(d, "probe.c"), os.path.join(d, "probe")
        with open(src, "w") as fh:
            fh.write(PROBE_C)
        r = subprocess.run(["gcc", "-O1", "-o", exe, src], capture_output=True, text=True)
        if r.returncode:
            print(r.stderr, file=sys.stderr)
            return 1
        best = None
        for _ in range(a.repeat):
            out = subprocess.run([exe, str(a.stores), str(a.calls)], capture_output=True,
                                 text=True, check=True).stdout.split()
            vals = [float(x) for x in out]
            best = vals if best is None else [min(x, y) for x, y in zip(best, vals)]
    ns, ts, ng, tg, trap, sys_ = best
    per = 1e6 / a.calls
    print("| figure | native | platform | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| {a.stores} stores, traced child (PTRACE_SYSEMU) | {ns:.3f} s | {ts:.3f} s | "
          f"{ts / ns:.2f}x |")
    for label, v in (("PTRACE_SYSEMU, the tracer answers", tg),
                     ("seccomp RET_TRAP, answered by the SIGSYS handler", trap),
                     ("seccomp RET_TRAP, answered by another process (systrap)", sys_)):
        print(f"| getpid, {label} | {ng * per:.3f} us | {v * per:.3f} us | {v / ng:.1f}x |")
    print(f"\nbest of {a.repeat}; {a.calls} calls per getpid row; load average "
          f"{os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
