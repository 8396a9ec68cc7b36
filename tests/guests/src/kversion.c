/* The kernel version a program sees, and the behaviours that depend on it: uname's release,
 * /proc/sys/kernel/osrelease and /proc/version agree and say at least 6.12; CLONE_PIDFD with
 * CLONE_THREAD gives the thread's pidfd (6.9); an eventfd write other than 8 bytes is EINVAL
 * (6.9); a fair task's sched_getattr runtime is its slice, settable by sched_setattr (6.12). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif

struct attr { uint32_t size, policy; uint64_t flags; int32_t nice; uint32_t prio;
              uint64_t runtime, deadline, period; uint32_t umin, umax; };

static unsigned long long runtime(void) {
    struct attr a;
    memset(&a, 0, sizeof a);
    if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) < 0) return 0;
    return a.runtime;
}

static long setattr(int policy, uint64_t rt) {
    struct attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.policy = policy;
    a.runtime = rt;
    return syscall(SYS_sched_setattr, 0, &a, 0) < 0 ? -errno : 0;
}

static void show(const char *what, long ret) {  /* the call first, then the runtime it left */
    printf("%s: %ld -> %llu\n", what, ret, runtime());
}

static int read_file(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = 0;
    fclose(f);
    return (int)got;
}

static int thread_fn(void *arg) {
    (void)arg;
    syscall(SYS_exit, 0);
    return 0;
}

static char stack[1 << 16] __attribute__((aligned(16)));

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct utsname u;
    uname(&u);
    char rel[256], ver[512];
    read_file("/proc/sys/kernel/osrelease", rel, sizeof rel);
    rel[strcspn(rel, "\n")] = 0;
    int vn = read_file("/proc/version", ver, sizeof ver);
    char want[300];
    snprintf(want, sizeof want, "Linux version %s ", u.release);
    int major = 0, minor = 0;
    sscanf(u.release, "%d.%d", &major, &minor);
    printf("osrelease is uname's: %d\n", strcmp(rel, u.release) == 0);
    printf("/proc/version names it: %d\n", vn > 0 && strncmp(ver, want, strlen(want)) == 0);
    printf("at least 6.12: %d\n", major > 6 || (major == 6 && minor >= 12));

    /* CLONE_PIDFD | CLONE_THREAD: the new thread's pidfd, readable once that thread exits */
    int pidfd = -1;
    long tid = clone(thread_fn, stack + sizeof stack,
                     CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                     CLONE_SYSVSEM | CLONE_PIDFD, NULL, &pidfd);
    printf("clone thread with pidfd: %s\n", tid > 0 ? "ok" : strerror(errno));
    if (tid > 0) {
        struct pollfd p = {pidfd, POLLIN, 0};
        int n = poll(&p, 1, 10000);
        printf("thread pidfd poll %d revents %#x\n", n, p.revents);
        printf("signal 0 to the exited thread: %s\n",
               syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0 ? "ok" : strerror(errno));
        close(pidfd);
    }
    pidfd = -1;
    long r = clone(thread_fn, stack + sizeof stack, CLONE_PIDFD | 0x00400000 /* CLONE_DETACHED */
                   | SIGCHLD, NULL, &pidfd);
    printf("CLONE_PIDFD with CLONE_DETACHED: %s\n", r > 0 ? "ok" : strerror(errno));
    if (r > 0) waitpid(r, NULL, 0);

    /* eventfd: writes are exactly one 8-byte counter */
    int efd = eventfd(0, EFD_NONBLOCK);
    uint64_t big[2] = {5, 0};
    printf("eventfd write 16: %s\n", write(efd, big, 16) == 16 ? "ok" : strerror(errno));
    printf("eventfd write 4: %s\n", write(efd, big, 4) == 4 ? "ok" : strerror(errno));
    printf("eventfd write 8: %zd\n", write(efd, big, 8));
    printf("eventfd read 16: %zd value %llu\n", read(efd, big, 16), (unsigned long long)big[0]);

    /* sched_getattr: a fair task's runtime is its slice; sched_setattr's runtime sets it */
    int cpus = get_nprocs();
    int factor = 1;
    for (int c = cpus < 8 ? cpus : 8; c > 1; c >>= 1) factor++;
    printf("base slice per factor: %llu\n", runtime() / factor);
    show("set 3 ms", setattr(SCHED_OTHER, 3000000));
    pid_t child = fork();
    if (child == 0) {
        printf("child inherits: %llu\n", runtime());
        _exit(0);
    }
    waitpid(child, NULL, 0);
    struct sched_param sp = {0};
    sched_setscheduler(0, SCHED_OTHER, &sp);
    printf("sched_setscheduler keeps it: %llu\n", runtime());
    show("set 50 us", setattr(SCHED_OTHER, 50000));
    show("set 1 s", setattr(SCHED_OTHER, 1000000000ULL));
    show("batch 5 ms", setattr(SCHED_BATCH, 5000000));
    long z = setattr(SCHED_OTHER, 0);
    unsigned long long base = runtime();
    printf("set 0: %ld -> the base slice: %d\n", z, base % factor == 0 && base / factor == 700000);
    return 0;
}
