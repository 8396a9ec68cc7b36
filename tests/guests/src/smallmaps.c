/* Many small anonymous mappings, as gVisor's CreateFragmentedRegion makes them: a PROT_NONE
 * region of N pages, then for each page one page mapped MAP_FIXED over it and one unrelated
 * page mapped elsewhere (2N single-page mmaps), each written once. Linux merges them (vma_merge)
 * into a few VMAs; /proc/self/maps, the bytes, copies across the pieces, fork and the munmaps
 * afterwards must behave exactly as there. Also MAP_FIXED over the middle of private anonymous
 * memory (the pages become fresh zero pages, the rest stays), with other protections, locked,
 * after fork, over executable memory, and anonymous mappings next to each other.
 * Usage: smallmaps SCENARIO [N] (fragmented, fixed, adjacent), or smallmaps time N: the
 * pattern's nanoseconds (mmaps, first writes and munmaps), the last word printed.
 * Prints what it sees; the output must match Linux's exactly. */
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
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "probe.h"

#define PG 4096UL

/* The VMAs of /proc/self/maps meeting [lo, hi), clipped to it, in pages relative to base. (What
 * lies next to the window is the C library's and the loader's, placed differently.) */
static void show_maps(const char *what, uintptr_t lo, uintptr_t hi, uintptr_t base) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512], perms[8];
    unsigned long s, e, off;
    int n = 0;
    printf("%s:\n", what);
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lx-%lx %7s %lx", &s, &e, perms, &off) != 4 || e <= lo || s >= hi)
            continue;
        s = s < lo ? lo : s;
        e = e > hi ? hi : e;
        printf("  [%+ld, %+ld) %s\n", (long)(s - base) / (long)PG, (long)(e - base) / (long)PG,
               perms);
        n++;
    }
    printf("  %d VMAs\n", n);
    if (f) fclose(f);
}

static int wait_child(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

static unsigned long sum(const unsigned char *p, size_t n) {
    unsigned long s = 0;
    for (size_t i = 0; i < n; i++) s = s * 31 + p[i];
    return s;
}

struct frag {
    char *region;
    char **pages; /* 2n: page i of the region at 2i, the unrelated page at 2i+1 */
    long n;
};

/* CreateFragmentedRegion(n pages); returns 0, or -1 with errno. */
static int fragment(struct frag *fr, long n) {
    fr->n = n;
    fr->pages = calloc(2 * n, sizeof *fr->pages);
    fr->region = mmap(NULL, n * PG, PROT_NONE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (fr->region == MAP_FAILED) return -1;
    for (long i = 0; i < n; i++) {
        char *p = mmap(fr->region + i * PG, PG, PROT_READ | PROT_WRITE,
                       MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1, 0);
        if (p != fr->region + i * PG) return -1;
        *(volatile char *)p = 42;
        fr->pages[2 * i] = p;
        p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        if (p == MAP_FAILED) return -1;
        *(volatile char *)p = 42;
        fr->pages[2 * i + 1] = p;
    }
    return 0;
}

/* ~Mapping of every page, in the order the vector holds them. */
static int unfragment(struct frag *fr) {
    for (long i = 0; i < 2 * fr->n; i++)
        if (munmap(fr->pages[i], PG)) return -1;
    free(fr->pages);
    return 0;
}

static uintptr_t lowest(struct frag *fr) {
    uintptr_t lo = (uintptr_t)fr->region;
    for (long i = 0; i < 2 * fr->n; i++)
        if ((uintptr_t)fr->pages[i] < lo) lo = (uintptr_t)fr->pages[i];
    return lo;
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int timed(long n) {
    struct frag fr;
    long long t0 = now_ns();
    if (fragment(&fr, n) || unfragment(&fr)) { perror("pattern"); return 1; }
    printf("%lld\n", now_ns() - t0);
    return 0;
}

static void fragmented(long n) {
    struct frag fr;
    if (fragment(&fr, n)) { perror("fragment"); exit(2); }
    uintptr_t base = (uintptr_t)fr.region, top = base + n * PG, lo = lowest(&fr);
    long unrelated_inside = 0, adjacent = 0;
    for (long i = 0; i < n; i++) {
        uintptr_t u = (uintptr_t)fr.pages[2 * i + 1];
        unrelated_inside += u >= base && u < top;
        adjacent += i > 0 && u + PG == (uintptr_t)fr.pages[2 * i - 1];
    }
    printf("unrelated pages inside the region: %ld, each just below the one before: %ld\n",
           unrelated_inside, adjacent);
    show_maps("after the pattern", lo, top, base);
    /* every page holds 42 at its start, zeros after */
    long bad = 0;
    for (long i = 0; i < 2 * n; i++) {
        unsigned char *p = (unsigned char *)fr.pages[i];
        bad += p[0] != 42 || p[1] != 0 || p[PG - 1] != 0;
    }
    printf("pages as written: %ld bad\n", bad);
    /* the whole region through a file and back: copies across every piece */
    for (long i = 0; i < n; i++) memset(fr.region + i * PG, (int)(i * 7 + 1), PG);
    unsigned long want = sum((unsigned char *)fr.region, n * PG);
    char name[] = "/var/tmp/smallmaps-XXXXXX";
    int fd = mkstemp(name);
    if (fd < 0) { perror("mkstemp"); exit(2); }
    unlink(name);
    printf("write region: %zd\n", write(fd, fr.region, n * PG));
    memset(fr.region, 0, n * PG);
    struct iovec iov[2] = {{fr.region, n * PG / 2}, {fr.region + n * PG / 2, n * PG / 2}};
    ssize_t got = preadv(fd, iov, 2, 0);
    printf("preadv back: %zd, same: %d\n", got, sum((unsigned char *)fr.region, n * PG) == want);
    close(fd);
    /* fork: the child changes its copy, maps a page over one of it, unmaps the unrelated pages */
    pid_t pid = fork();
    if (pid == 0) {
        memset(fr.region, 'c', n * PG / 2);
        char *p = mmap(fr.region + 3 * PG, PG, PROT_READ | PROT_WRITE,
                       MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1, 0);
        printf("child: fixed page at +3: %d, reads %d %d, next page %c\n", p == fr.region + 3 * PG,
               p[0], p[PG - 1], fr.region[4 * PG]);
        /* (no maps here: Linux merges a child's new VMA with none of its inherited ones) */
        for (long i = 0; i < n; i++) munmap(fr.pages[2 * i + 1], PG);
        fflush(stdout);
        _exit(0);
    }
    printf("child status %d\n", wait_child(pid));
    printf("parent's region unchanged: %d\n", sum((unsigned char *)fr.region, n * PG) == want);
    show_maps("parent after the child", lo, top, base);
    if (unfragment(&fr)) { perror("munmap"); exit(2); }
    show_maps("after the munmaps", lo, top, base);
}

/* MAP_FIXED anonymous private over private anonymous memory. */
static void fixed(void) {
    char *m = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    uintptr_t base = (uintptr_t)m;
    for (int i = 0; i < 16; i++) memset(m + i * PG, 'a' + i, PG);
    /* the same attributes over the middle: fresh zeros there, one VMA still */
    char *p = mmap(m + 5 * PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED,
                   -1, 0);
    printf("same attributes: at +5 %d, reads %d %d %d, around %c %c\n", p == m + 5 * PG, p[0],
           p[PG], p[2 * PG - 1], m[5 * PG - 1], m[7 * PG]);
    show_maps("same attributes", base, base + 16 * PG, base);
    /* read-only over pages 8-9: a write there faults, reads see zeros */
    p = mmap(m + 8 * PG, 2 * PG, PROT_READ, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1, 0);
    touch("read-only piece read", p + 10, 0);
    touch("read-only piece write", p + PG + 10, 1);
    show_maps("read-only piece", base, base + 16 * PG, base);
    /* writable again over the read-only piece and one page past it: merges back */
    p = mmap(m + 8 * PG, 3 * PG, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED,
             -1, 0);
    printf("writable again: reads %d %d, page 11 %c\n", p[0], p[2 * PG], m[11 * PG]);
    show_maps("writable again", base, base + 16 * PG, base);
    /* PROT_NONE over the last pages, then writable over all 16: one zero mapping */
    mmap(m + 14 * PG, 2 * PG, PROT_NONE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1, 0);
    touch("PROT_NONE piece", m + 15 * PG, 0);
    p = mmap(m, 16 * PG, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1, 0);
    long nz = 0;
    for (unsigned long i = 0; i < 16 * PG; i++) nz += p[i] != 0;
    printf("all over again: %ld bytes not zero\n", nz);
    show_maps("all over again", base, base + 16 * PG, base);
    /* over a range with a hole: the hole is mapped too */
    munmap(m + 4 * PG, 2 * PG);
    memset(m, 'x', 4 * PG);
    p = mmap(m + 2 * PG, 6 * PG, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED,
             -1, 0);
    printf("over a hole: %d, reads %d %d, page 1 %c\n", p == m + 2 * PG, p[0], p[3 * PG], m[PG]);
    show_maps("over a hole", base, base + 16 * PG, base);
    /* locked memory: the new pages are not locked (VmLck drops), unless MAP_LOCKED */
    long lck0 = status_field("VmLck");
    if (mlock(m, 16 * PG) == 0) {
        long lck1 = status_field("VmLck");
        mmap(m + 6 * PG, 4 * PG, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED,
             -1, 0);
        long lck2 = status_field("VmLck");
        mmap(m + 6 * PG, 2 * PG, PROT_READ | PROT_WRITE,
             MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED | MAP_LOCKED, -1, 0);
        printf("VmLck: locked +%ld kB, after a fixed map %+ld kB, after MAP_LOCKED %+ld kB\n",
               lck1 - lck0, lck2 - lck1, status_field("VmLck") - lck2);
        show_maps("locked", base, base + 16 * PG, base);
        munlock(m, 16 * PG);
    } else {
        printf("mlock: %s\n", strerror(errno));
    }
    /* after fork: the parent's pages stay, the child's fixed page is zero */
    memset(m, 'p', 16 * PG);
    pid_t pid = fork();
    if (pid == 0) {
        mmap(m + 3 * PG, PG, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1, 0);
        printf("child: fixed page reads %d, next %c\n", m[3 * PG], m[4 * PG]);
        m[4 * PG] = 'k';
        fflush(stdout);
        _exit(0);
    }
    wait_child(pid);
    printf("parent after fork: %c %c\n", m[3 * PG], m[4 * PG]);
    mmap(m + 3 * PG, PG, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1, 0);
    printf("parent's own fixed page reads %d, next %c\n", m[3 * PG], m[4 * PG]);
    /* executable memory: code written and run, then a fresh page over it, then new code */
    unsigned char *x = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE | PROT_EXEC,
                            MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    static const unsigned char ret7[] = {0xb8, 7, 0, 0, 0, 0xc3}; /* mov eax, 7; ret */
    static const unsigned char ret9[] = {0xb8, 9, 0, 0, 0, 0xc3};
    memcpy(x + PG, ret7, sizeof ret7);
    printf("code: %d\n", ((int (*)(void))(x + PG))());
    mmap(x + PG, PG, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED,
         -1, 0);
    printf("code page after a fixed map: %d %d\n", x[PG], x[PG + 5]);
    memcpy(x + PG, ret9, sizeof ret9);
    printf("new code: %d\n", ((int (*)(void))(x + PG))());
    show_maps("code", (uintptr_t)x, (uintptr_t)x + 2 * PG, (uintptr_t)x);
    /* a shared mapping under a fixed private one: a separate VMA, zeros, the object keeps its */
    char *s = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_SHARED, -1, 0);
    memset(s, 's', 4 * PG);
    p = mmap(s + PG, PG, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1, 0);
    printf("over shared: reads %d, around %c %c\n", p[0], s[0], s[2 * PG]);
    show_maps("over shared", (uintptr_t)s, (uintptr_t)s + 4 * PG, (uintptr_t)s);
}

/* Anonymous mappings placed next to each other: merged when their attributes are equal. */
static void adjacent(void) {
    char *a[8];
    /* a free window of 64 pages, and each mapping asked for just below the one before (where
     * top-down placement puts it when nothing else is free higher up) */
    char *top = mmap(NULL, 64 * PG, PROT_NONE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    munmap(top, 64 * PG);
    top += 64 * PG;
    for (int i = 0; i < 8; i++) {
        int prot = i == 5 ? PROT_READ : PROT_READ | PROT_WRITE;
        char *want = (i ? a[i - 1] : top) - (i + 1) * PG;
        a[i] = mmap(want, (i + 1) * PG, prot, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        if (a[i] == MAP_FAILED) { perror("mmap"); exit(2); }
        if (prot & PROT_WRITE) memset(a[i], '0' + i, (i + 1) * PG);
    }
    uintptr_t base = (uintptr_t)a[0] + PG, lo = (uintptr_t)a[7];
    for (int i = 1; i < 8; i++)
        printf("mapping %d ends where %d starts: %d\n", i, i - 1, a[i] + (i + 1) * PG == a[i - 1]);
    show_maps("eight mappings", lo, base, base);
    long bad = 0;
    for (int i = 0; i < 8; i++)
        for (long j = 0; j < (i + 1) * (long)PG; j++)
            bad += a[i][j] != (i == 5 ? 0 : '0' + i);
    printf("contents: %ld bad\n", bad);
    touch("read-only one", a[5] + 3, 1);
    /* the middle of a merged one goes, another comes back there */
    munmap(a[2], 3 * PG);
    show_maps("one unmapped", lo, base, base);
    char *b = mmap(a[2], 3 * PG, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    printf("a new one in the hole: %d, reads %d, neighbours %c %c\n", b == a[2], b[0], a[1][0],
           a[3][0]);
    show_maps("hole filled", lo, base, base);
    /* one made PROT_NONE leaves its VMA. (Not here: a never-written one made writable between
     * two written ones; Linux's anon_vma rules keep it apart from one of them, which we do not
     * model.) */
    mprotect(a[3], 4 * PG, PROT_NONE);
    show_maps("mprotect", lo, base, base);
    touch("PROT_NONE one", a[3] + 5, 0);
    /* the group through a file and back */
    char name[] = "/var/tmp/smallmaps-XXXXXX";
    int fd = mkstemp(name);
    unlink(name);
    size_t len = (uintptr_t)a[5] - (uintptr_t)a[7]; /* mappings 7 and 6: one VMA */
    for (size_t j = 0; j < len; j++) a[7][j] = (char)(j * 13);
    unsigned long want = sum((unsigned char *)a[7], len);
    printf("write: %zd\n", pwrite(fd, a[7], len, 0));
    memset(a[7], 0, len);
    ssize_t got = pread(fd, a[7], len, 0);
    printf("read back: %zd, same %d\n", got, sum((unsigned char *)a[7], len) == want);
    close(fd);
    /* fork: the child's writes stay its own */
    pid_t pid = fork();
    if (pid == 0) {
        memset(a[7], 'k', len);
        char *c = mmap(a[7] - PG, PG, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        printf("child: new page below %d, reads %d\n", c + PG == a[7], c[0]);
        fflush(stdout);
        _exit(0);
    }
    wait_child(pid);
    printf("parent's copy same: %d\n", sum((unsigned char *)a[7], len) == want);
    char *c = mmap(a[7] - PG, PG, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    printf("parent: new page below %d, reads %d\n", c + PG == a[7], c[0]);
    show_maps("at the end", (uintptr_t)c, base, base);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    const char *what = argc > 1 ? argv[1] : "fragmented";
    long n = argc > 2 ? atol(argv[2]) : 1024;
    if (!strcmp(what, "time")) return timed(n);
    if (!strcmp(what, "fragmented")) fragmented(n);
    else if (!strcmp(what, "fixed")) fixed();
    else if (!strcmp(what, "adjacent")) adjacent();
    else { fprintf(stderr, "unknown scenario %s\n", what); return 2; }
    return 0;
}
