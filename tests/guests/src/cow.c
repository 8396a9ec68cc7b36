/* Fork and memory: copy-on-write of private memory, MAP_SHARED staying shared, madvise and
 * mprotect after fork, and /proc/self/status accounting as pages are touched.
 * Usage: cow SCENARIO. Prints what it sees; the output must match Linux's exactly. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "probe.h"

#define PG 4096
#define NPAGES 64

static int global_var = 1;

static long statm_field(int i) {
    FILE *f = fopen("/proc/self/statm", "r");
    long v[7] = {0};
    if (f) {
        if (fscanf(f, "%ld %ld %ld %ld %ld %ld %ld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6]) != 7)
            v[i] = -1;
        fclose(f);
    }
    return v[i];
}

static int wait_child(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

static void fill(unsigned char *p, int npages, int base) {
    for (int i = 0; i < npages; i++) memset(p + i * PG, base + i, PG);
}

static int check(const unsigned char *p, int npages, int base) {
    int bad = 0;
    for (int i = 0; i < npages; i++)
        for (int j = 0; j < PG; j += 512)
            if (p[i * PG + j] != (unsigned char)(base + i)) bad++;
    return bad;
}

/* Parent and child write the same private pages in turn (pipes order them): each sees its own. */
static int scenario_private(void) {
    unsigned char *p = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *heap = malloc(100000);
    int stackv = 7;
    int to_child[2], to_parent[2];
    char c;
    fill(p, NPAGES, 10);
    memset(heap, 3, 100000);
    if (pipe(to_child) || pipe(to_parent)) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        fill(p, NPAGES / 2, 100);  /* the first half */
        global_var = 2;
        heap[50000] = 4;
        stackv = 8;
        write(to_parent[1], "w", 1);
        read(to_child[0], &c, 1);  /* the parent wrote the second half */
        printf("child: first half own %d, second half original %d, global %d heap %d stack %d\n",
               check(p, NPAGES / 2, 100), check(p + NPAGES / 2 * PG, NPAGES / 2, 10 + NPAGES / 2),
               global_var, heap[50000], stackv);
        fflush(stdout);
        _exit(0);
    }
    read(to_parent[0], &c, 1);
    fill(p + NPAGES / 2 * PG, NPAGES / 2, 200);
    printf("parent: first half original %d, global %d heap %d stack %d\n",
           check(p, NPAGES / 2, 10), global_var, heap[50000], stackv);
    fflush(stdout);
    write(to_child[1], "p", 1);
    printf("child exit %d\n", wait_child(pid));
    printf("parent: second half own %d\n", check(p + NPAGES / 2 * PG, NPAGES / 2, 200));
    return 0;
}

/* MAP_SHARED anonymous memory stays shared across fork, both ways; a private neighbour not. */
static int scenario_shared(void) {
    volatile int *s = mmap(NULL, PG * 4, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int *q = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    s[0] = 1;
    s[PG / 4] = 5;  /* the second page */
    *q = 1;
    pid_t pid = fork();
    if (pid == 0) {
        s[0] = 2;
        *q = 2;
        while (s[PG / 4] != 6) usleep(1000);  /* the parent's write reaches us */
        printf("child saw parent's shared write %d\n", s[PG / 4]);
        fflush(stdout);
        _exit(0);
    }
    while (s[0] != 2) usleep(1000);
    printf("parent saw child's shared write %d, private %d\n", s[0], *q);
    s[PG / 4] = 6;
    printf("child exit %d\n", wait_child(pid));
    /* a second generation: a grandchild shares it too */
    pid = fork();
    if (pid == 0) {
        pid_t g = fork();
        if (g == 0) { s[2] = 42; _exit(0); }
        _exit(wait_child(g));
    }
    int st = wait_child(pid);
    printf("child exit %d, grandchild wrote %d\n", st, s[2]);
    return 0;
}

/* madvise and mprotect in the child do not reach the parent; WIPEONFORK and DONTFORK. */
static sigjmp_buf jb;
static volatile int seen_code;
static volatile uintptr_t seen_addr;

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    seen_code = si->si_code;
    seen_addr = (uintptr_t)si->si_addr;
    siglongjmp(jb, 1);
}

static int scenario_advice(void) {
    unsigned char *p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
    unsigned char *w = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
    unsigned char *d = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
    struct sigaction sa = {0};
    fill(p, 8, 1);
    memset(w, 9, 2 * PG);
    memset(d, 9, 2 * PG);
    if (madvise(w, 2 * PG, MADV_WIPEONFORK)) printf("WIPEONFORK: %s\n", strerror(errno));
    if (madvise(d, 2 * PG, MADV_DONTFORK)) printf("DONTFORK: %s\n", strerror(errno));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        madvise(p, 2 * PG, MADV_DONTNEED);  /* zeros for us, not for the parent */
        printf("child: after DONTNEED %d %d, kept %d\n", p[0], p[PG + 5], check(p + 2 * PG, 6, 3));
        printf("child: wiped %d %d\n", w[0], w[2 * PG - 1]);
        mprotect(p + 4 * PG, PG, PROT_READ);
        if (sigsetjmp(jb, 1) == 0) {
            p[4 * PG + 10] = 1;
            printf("child: write to a read-only page went through\n");
        } else {
            printf("child: SIGSEGV code %d at page offset %ld\n", seen_code,
                   (long)(seen_addr - (uintptr_t)p));
        }
        if (sigsetjmp(jb, 1) == 0) {
            printf("child: dontfork page %d\n", d[0]);
        } else {
            printf("child: dontfork SIGSEGV code %d\n", seen_code);
        }
        p[5 * PG] = 77;
        fflush(stdout);
        _exit(0);
    }
    printf("child exit %d\n", wait_child(pid));
    printf("parent: pages %d, dontfork %d, wiponfork %d, p[5 pages] %d\n", check(p, 8, 1), d[0],
           w[0], p[5 * PG]);
    p[4 * PG + 10] = 2;  /* still writable here */
    printf("parent: wrote the page the child made read-only: %d\n", p[4 * PG + 10]);
    return 0;
}

/* Many children, each writing its own value into the same private page and global. */
static int scenario_many(void) {
    int *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int ok = 0;
    *p = -1;
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            int before = *p;
            *p = i;
            global_var = i;
            pid_t g = fork();  /* and a grandchild sees the child's values, then its own */
            if (g == 0) {
                int saw = *p;
                *p = 1000 + i;
                _exit(saw == i && global_var == i ? 0 : 1);
            }
            int gst = wait_child(g);
            _exit(before == -1 && *p == i && global_var == i && gst == 0 ? 0 : 1);
        }
        ok += wait_child(pid) == 0;
    }
    printf("children ok %d, parent's value %d global %d\n", ok, *p, global_var);
    return 0;
}

/* A private file mapping: the child's write is its own; the file and the parent keep theirs. */
static int scenario_file(void) {
    char path[] = "/tmp/cow-file-XXXXXX";
    int fd = mkstemp(path);
    unsigned char buf[8 * PG];
    for (int i = 0; i < 8; i++) memset(buf + i * PG, 'a' + i, PG);
    write(fd, buf, sizeof buf);
    unsigned char *m = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    m[PG] = 'X';
    pid_t pid = fork();
    if (pid == 0) {
        m[0] = 'C';
        m[3 * PG] = 'D';
        printf("child: %c %c %c %c\n", m[0], m[PG], m[2 * PG], m[3 * PG]);
        fflush(stdout);
        _exit(0);
    }
    printf("child exit %d\n", wait_child(pid));
    unsigned char c0;
    pread(fd, &c0, 1, 0);
    printf("parent: %c %c %c %c, file %c\n", m[0], m[PG], m[2 * PG], m[3 * PG], c0);
    unlink(path);
    return 0;
}

/* /proc/self/status and statm: consistent fields, RSS growing by the pages written, copy-on-write
 * pages counted in both processes. */
static int scenario_rss(void) {
    enum { N = 256 };
    unsigned char *pre = mmap(NULL, N * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                              -1, 0);
    unsigned char *fresh = mmap(NULL, N * PG, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    long sz = status_field("VmSize"), rss = status_field("VmRSS");
    long a = status_field("RssAnon"), f = status_field("RssFile"), s = status_field("RssShmem");
    printf("VmRSS = RssAnon + RssFile + RssShmem: %d\n", rss == a + f + s);
    printf("RssFile > 0: %d, VmSize >= VmRSS: %d, VmHWM >= VmRSS: %d\n", f > 0, sz >= rss,
           status_field("VmHWM") >= rss);
    long m0 = statm_field(0), m1 = statm_field(1), vs = status_field("VmSize");
    long vr = status_field("VmRSS");
    printf("statm size, resident match status: %d %d\n", m0 * 4 == vs, labs(m1 * 4 - vr) <= 16);
    if (getenv("COW_VERBOSE")) printf("%ld %ld %ld %ld\n", m0, m1, vs, vr);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    memset(pre, 1, N * PG);
    long a1 = status_field("RssAnon");
    getrusage(RUSAGE_SELF, &ru1);
    printf("parent: writing %d pages grew RssAnon by about that: %d\n", N,
           a1 - a >= N * 4 && a1 - a < N * 4 + 64);
    /* (Linux's rss counters are per-CPU and may lag the pages just written: only the order) */
    printf("parent: ru_maxrss set and not shrinking: %d\n", ru0.ru_maxrss > 0 &&
           ru1.ru_maxrss >= ru0.ru_maxrss && ru1.ru_maxrss >= status_field("VmRSS") / 2);
    pid_t pid = fork();
    if (pid == 0) {
        long c0 = status_field("RssAnon");
        printf("child: the parent's pages count in the child: %d\n", c0 >= N * 4);
        memset(pre, 2, N * PG);  /* copy-on-write: they were counted already */
        long c1 = status_field("RssAnon");
        printf("child: writing shared pages kept RssAnon about the same: %d\n",
               labs(c1 - c0) < 64);
        memset(fresh, 3, N * PG);
        long c2 = status_field("RssAnon");
        printf("child: writing fresh pages grew RssAnon by about that: %d\n",
               c2 - c1 >= N * 4 && c2 - c1 < N * 4 + 64);
        munmap(fresh, N * PG);
        long c3 = status_field("RssAnon");
        printf("child: munmap gave them back: %d\n", c2 - c3 >= N * 4 - 16);
        fflush(stdout);
        _exit(0);
    }
    printf("child exit %d\n", wait_child(pid));
    printf("parent: values kept %d\n", pre[0] == 1 && pre[N * PG - 1] == 1);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "private")) return scenario_private();
    if (!strcmp(argv[1], "shared")) return scenario_shared();
    if (!strcmp(argv[1], "advice")) return scenario_advice();
    if (!strcmp(argv[1], "many")) return scenario_many();
    if (!strcmp(argv[1], "file")) return scenario_file();
    if (!strcmp(argv[1], "rss")) return scenario_rss();
    return 2;
}
