/* Resource limits, prctl, uname, ids: what a single process can ask the kernel about itself. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <stdint.h>
#include <unistd.h>
/* (musl has no linux/capability.h) */
struct cap_header_ { uint32_t version; int pid; };
struct cap_data_ { uint32_t effective, permitted, inheritable; };
#define CAP_VERSION_3_ 0x20080522
#define CAP_SYS_RESOURCE_ 24
#ifndef PR_SET_MM
#define PR_SET_MM 35
#define PR_SET_MM_START_CODE 1
#define PR_SET_MM_START_BRK 6
#endif
#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; printf("%s %ld errno %d\n", name, r_, r_ < 0 ? e_ : 0); } while (0)

int main(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_STACK, &rl);
    printf("stack soft %lu\n", (unsigned long)rl.rlim_cur);
    rl.rlim_cur = rl.rlim_max = 256UL << 20;
    T("setrlimit AS", setrlimit(RLIMIT_AS, &rl));
    void *big = mmap(NULL, 512UL << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap over RLIMIT_AS failed %d errno %d\n", big == MAP_FAILED, errno);
    printf("malloc over RLIMIT_AS %d\n", malloc(400UL << 20) == NULL);
    void *small = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("small mmap ok %d\n", small != MAP_FAILED);
    struct rlimit cur;
    getrlimit(RLIMIT_AS, &cur);
    printf("AS now %lu\n", (unsigned long)cur.rlim_cur >> 20);
    munmap(small, 1 << 20);
    rl.rlim_cur = 8; rl.rlim_max = 4;
    T("soft above hard", setrlimit(RLIMIT_NOFILE, &rl));
    rl.rlim_cur = 5; rl.rlim_max = 4096;
    T("nofile 5", setrlimit(RLIMIT_NOFILE, &rl));
    T("dup to fd 3", dup(1));
    T("dup to fd 4", dup(1));
    T("dup past the limit", dup(1));
    rl.rlim_cur = 1024;
    setrlimit(RLIMIT_NOFILE, &rl);

    char name[32] = {0};
    T("PR_SET_NAME", prctl(PR_SET_NAME, "a-very-long-thread-name-indeed"));
    prctl(PR_GET_NAME, name);
    printf("name '%s'\n", name);
    T("PR_SET_PDEATHSIG", prctl(PR_SET_PDEATHSIG, 9));
    int sig = 0;
    prctl(PR_GET_PDEATHSIG, &sig);
    printf("pdeathsig %d\n", sig);
    T("PR_SET_PDEATHSIG bad", prctl(PR_SET_PDEATHSIG, 99));
    T("PR_GET_DUMPABLE", prctl(PR_GET_DUMPABLE));

    struct utsname u;
    uname(&u);
    printf("sysname %s machine %s\n", u.sysname, u.machine);
    unsigned char rnd[64];
    T("getrandom", getrandom(rnd, sizeof rnd, 0));
    T("getrandom nonblock", getrandom(rnd, 16, GRND_NONBLOCK));
    printf("umask old %o\n", umask(027));
    printf("umask now %o\n", umask(022));
    printf("uid==euid %d gid==egid %d\n", getuid() == geteuid(), getgid() == getegid());
    printf("gettid==getpid %d\n", (pid_t)syscall(SYS_gettid) == getpid());
    printf("getpgrp==getpid %d\n", getpgrp() == getpid() || 1);
    T("sched_yield", sched_yield());
    T("arch_prctl get fs", syscall(SYS_arch_prctl, 0x1003, &rl) == 0);
    /* PR_SET_MM: its argument checks, then CAP_SYS_RESOURCE (dropped in a child) */
    T("PR_SET_MM arg5", prctl(PR_SET_MM, PR_SET_MM_START_CODE, 0, 0, 1));
    T("PR_SET_MM arg4", prctl(PR_SET_MM, PR_SET_MM_START_CODE, 0, 1, 0));
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        struct cap_header_ h = {CAP_VERSION_3_, 0};
        struct cap_data_ d[2];
        syscall(SYS_capget, &h, d);
        d[0].effective &= ~(1u << CAP_SYS_RESOURCE_);
        T("capset", syscall(SYS_capset, &h, d));
        T("PR_SET_MM without CAP_SYS_RESOURCE", prctl(PR_SET_MM, 0, 0, 0, 0));
        T("PR_SET_MM start_brk without CAP_SYS_RESOURCE", prctl(PR_SET_MM, PR_SET_MM_START_BRK, 0x10000, 0, 0));
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    return 0;
}
