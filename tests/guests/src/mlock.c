/* mlock, mlock2, munlock, mlockall, munlockall, MAP_LOCKED and MAP_POPULATE, and what mincore
 * and /proc/self/status's VmLck say about them; the errnos of each. Run as root natively and
 * under ecs-kernel, then again after dropping CAP_IPC_LOCK (a child with a small RLIMIT_MEMLOCK).
 * Only what Linux fixes is printed: residency of pages this program made, locked kB, errnos. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096

static long vmlck(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static void core(const char *what, void *p, size_t pages) {
    unsigned char vec[64];
    if (mincore(p, pages * PG, vec) != 0) {
        printf("%s: mincore %s\n", what, strerror(errno));
        return;
    }
    printf("%s: ", what);
    for (size_t i = 0; i < pages; i++)
        putchar('0' + (vec[i] & 1));
    putchar('\n');
}

static void r(const char *what, int rc) {
    printf("%s = %d%s%s\n", what, rc, rc ? " " : "", rc ? strerror(errno) : "");
}

static void unprivileged(void) {
    /* drop CAP_IPC_LOCK: a non-root uid without capabilities */
    struct rlimit rl = {2 * PG, 2 * PG};
    setrlimit(RLIMIT_MEMLOCK, &rl);
    if (setresuid(1000, 1000, 1000) != 0) {
        printf("setresuid %s\n", strerror(errno));
        return;
    }
    char *p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    r("user mlock 2 pages", mlock(p, 2 * PG));
    r("user mlock 3 pages", mlock(p, 3 * PG));
    r("user mlock same 2 again", mlock(p, 2 * PG));
    void *m = mremap(p, 2 * PG, 3 * PG, MREMAP_MAYMOVE);
    printf("user mremap grows a locked mapping past the limit: %s\n",
           m == MAP_FAILED ? strerror(errno) : "ok");
    printf("user VmLck %ld\n", vmlck());
    r("user mlock2 other page", mlock(p + 4 * PG, PG));
    r("user munlock", munlock(p, 8 * PG));
    void *q = mmap(NULL, 3 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
    printf("user MAP_LOCKED 3 pages: %s\n", q == MAP_FAILED ? strerror(errno) : "ok");
    r("user mlockall current", mlockall(MCL_CURRENT));
    rl.rlim_cur = 0;
    setrlimit(RLIMIT_MEMLOCK, &rl);
    r("user mlock with limit 0", mlock(p, PG));
    q = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
    printf("user MAP_LOCKED with limit 0: %s\n", q == MAP_FAILED ? strerror(errno) : "ok");
    r("user munlockall", munlockall());
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char *p = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    core("fresh", p, 16);
    p[0] = 1;
    p[3 * PG] = 1;
    volatile char c = p[5 * PG];
    (void)c;
    core("touched 0 3 read 5", p, 16);
    madvise(p, PG, MADV_DONTNEED);
    core("dontneed 0", p, 16);
    r("mlock pages 8-9 (unaligned start)", mlock(p + 8 * PG + 100, PG));
    core("after mlock", p, 16);
    printf("VmLck %ld\n", vmlck());
    r("madvise dontneed locked", madvise(p + 8 * PG, PG, MADV_DONTNEED));
    r("msync invalidate locked", msync(p + 8 * PG, PG, MS_ASYNC | MS_INVALIDATE));
    r("msync invalidate unlocked", msync(p + 10 * PG, PG, MS_ASYNC | MS_INVALIDATE));
    r("mlock2 onfault 12", syscall(SYS_mlock2, p + 12 * PG, PG, MLOCK_ONFAULT));
    core("after onfault", p, 16);
    printf("VmLck %ld\n", vmlck());
    r("mlock2 bad flags", syscall(SYS_mlock2, p, PG, 2));
    r("munlock 8", munlock(p + 8 * PG, PG));
    printf("VmLck %ld\n", vmlck());
    munmap(p + 14 * PG, PG);
    r("mlock over a hole", mlock(p + 13 * PG, 2 * PG));
    printf("VmLck after hole %ld\n", vmlck());
    r("munlock over a hole", munlock(p, 16 * PG));
    printf("VmLck %ld\n", vmlck());
    r("mlock wraps", mlock((void *)-PG, 2 * PG));
    r("mincore unaligned", mincore(p + 1, PG, (unsigned char[4]){0}));
    r("mincore hole", mincore(p + 14 * PG, PG, (unsigned char[4]){0}));
    r("mincore bad vec", mincore(p, PG, (unsigned char *)8));
    r("mincore beyond", mincore((void *)0x7ffffffff000, 2 * PG, (unsigned char[4]){0}));
    char *q = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    core("MAP_POPULATE", q, 4);
    char *l = mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
    core("MAP_LOCKED", l, 4);
    printf("VmLck %ld\n", vmlck());
    char *n = mmap(NULL, 2 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    core("PROT_NONE", n, 2);
    r("mlock PROT_NONE", mlock(n, 2 * PG));
    core("PROT_NONE locked", n, 2);
    r("mlockall 0", mlockall(0));
    r("mlockall onfault only", mlockall(MCL_ONFAULT));
    r("mlockall bad", mlockall(8));
    r("mlockall future", mlockall(MCL_FUTURE));
    char *f = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    core("mapped after MCL_FUTURE", f, 3);
    long before = vmlck();
    pid_t pid = fork();
    if (pid == 0) {
        printf("child VmLck %ld\n", vmlck());
        char *g = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        core("child mapping", g, 2);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    printf("VmLck before the fork %ld\n", before);
    r("munlockall", munlockall());
    printf("VmLck %ld\n", vmlck());
    pid = fork();
    if (pid == 0) {
        unprivileged();
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    return 0;
}
