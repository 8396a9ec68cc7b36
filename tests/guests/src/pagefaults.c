/* Page faults as Linux reports them: a SIGSEGV handler sees si_code (SEGV_MAPERR: nothing mapped,
 * SEGV_ACCERR: mapped but the access is not allowed) and si_addr, after mprotect, PROT_NONE guard
 * pages, munmap, mremap, brk, fork, execution of data pages and stack growth. argv[1] picks the
 * case; addresses are printed as offsets from the mapping, so the output is the same natively. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096
static sigjmp_buf jb;
static volatile int got_code;
static volatile uintptr_t got_addr;

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    got_code = si->si_code;
    got_addr = (uintptr_t)si->si_addr;
    siglongjmp(jb, 1);
}

/* Run the access; print "name code=C off=O" (O: si_addr - base) or "name ok". */
#define TRY(name, base, access) do { \
        got_code = 0; \
        if (!sigsetjmp(jb, 1)) { access; printf("%s ok\n", name); } \
        else printf("%s code=%d off=%ld\n", name, got_code, (long)(got_addr - (uintptr_t)(base))); \
    } while (0)

static char *map(size_t n, int prot) {
    char *p = mmap(NULL, n, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(90); }
    return p;
}

static int ret_of(char *code) { return ((int (*)(void))code)(); }

static volatile uintptr_t sp_mark;

__attribute__((noinline)) static void touch_below(long depth) {
    volatile char here = 0;
    uintptr_t a = (uintptr_t)&here - (uintptr_t)depth;
    sp_mark = (uintptr_t)&here;
    *(volatile char *)a = 7;
    if (*(volatile char *)a != 7) exit(91);
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    static char altstack[1 << 16];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    setvbuf(stdout, NULL, _IONBF, 0);

    if (!strcmp(what, "protect")) {
        char *p = map(2 * PG, PROT_READ | PROT_WRITE);
        p[8] = 1;
        mprotect(p, PG, PROT_READ);
        TRY("write read-only", p, p[8] = 2);
        TRY("read read-only", p, (void)*(volatile char *)(p + 8));
        TRY("write next page", p, p[PG + 8] = 3);
        mprotect(p, PG, PROT_READ | PROT_WRITE);
        TRY("write after PROT_WRITE again", p, p[8] = 4);
        printf("value %d\n", p[8]);
        /* The TLB must not remember a protection that changed. */
        int faults = 0;
        for (int i = 0; i < 50; i++) {
            mprotect(p, PG, PROT_READ | PROT_WRITE);
            p[16] = (char)i;
            mprotect(p, PG, PROT_READ);
            got_code = 0;
            if (!sigsetjmp(jb, 1)) p[16] = 0; else faults += got_code == SEGV_ACCERR;
        }
        printf("faults %d last %d\n", faults, p[16]);
    } else if (!strcmp(what, "guard")) {
        char *p = map(3 * PG, PROT_READ | PROT_WRITE);
        mprotect(p + PG, PG, PROT_NONE);
        TRY("read guard", p, (void)*(volatile char *)(p + PG + 16));
        TRY("write guard", p, p[PG + 24] = 1);
        TRY("read below", p, (void)*(volatile char *)(p + 16));
        TRY("write above", p, p[2 * PG] = 1);
        TRY("exec guard", p, ret_of(p + PG));
    } else if (!strcmp(what, "unmap")) {
        char *p = map(3 * PG, PROT_READ | PROT_WRITE);
        p[PG] = 5;
        munmap(p + PG, PG);
        TRY("read unmapped", p, (void)*(volatile char *)(p + PG + 24));
        TRY("write unmapped", p, p[PG + 32] = 1);
        TRY("read after hole", p, (void)*(volatile char *)(p + 2 * PG));
        munmap(p, 3 * PG);
        TRY("read all unmapped", p, (void)*(volatile char *)(p + 8));
        char *q = mmap(p, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        TRY("remapped is zero", q, if (q[8] != 0) exit(92));
    } else if (!strcmp(what, "exec")) {
        char *p = map(PG, PROT_READ | PROT_WRITE);
        p[0] = (char)0xb8; p[1] = 42; p[2] = p[3] = p[4] = 0; p[5] = (char)0xc3; /* mov $42,%eax; ret */
        TRY("exec data page", p, ret_of(p));
        mprotect(p, PG, PROT_READ | PROT_EXEC);
        printf("exec after PROT_EXEC %d\n", ret_of(p));
        TRY("write code page", p, p[1] = 43);
        mprotect(p, PG, PROT_READ | PROT_WRITE | PROT_EXEC);
        p[1] = 44;
        printf("rewritten code %d\n", ret_of(p));
        mprotect(p, PG, PROT_READ | PROT_WRITE);
        TRY("exec after exec removed", p, ret_of(p));
        TRY("write own text", (char *)main, *(volatile char *)main = 0);
        TRY("jump to unmapped", (char *)0x10000, ret_of((char *)0x10000));
        TRY("read page zero", (char *)0, (void)*(volatile char *)16);
    } else if (!strcmp(what, "remap")) {
        char *p = map(PG, PROT_READ | PROT_WRITE);
        char *r = map(4 * PG, PROT_NONE);
        p[0] = 42;
        char *q = mremap(p, PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, r + PG);
        printf("moved %d value %d\n", q == r + PG, q[0]);
        TRY("read old address", p, (void)*(volatile char *)(p + 8));
        TRY("write grown tail", q, q[PG + 8] = 1);
        TRY("read PROT_NONE below", r, (void)*(volatile char *)(r + 8));
        TRY("read PROT_NONE above", r, (void)*(volatile char *)(r + 3 * PG + 8));
        q = mremap(q, 2 * PG, PG, 0);
        TRY("read shrunk tail", r, (void)*(volatile char *)(r + 2 * PG + 8));
    } else if (!strcmp(what, "brk")) {
        uintptr_t b = (uintptr_t)syscall(SYS_brk, 0);
        uintptr_t a = (b + PG - 1) & ~(uintptr_t)(PG - 1);
        if ((uintptr_t)syscall(SYS_brk, a + 3 * PG) != a + 3 * PG) { printf("brk failed\n"); return 0; }
        char *h = (char *)a;
        TRY("write heap", h, h[2 * PG + 8] = 1);
        syscall(SYS_brk, a + PG);
        TRY("read freed heap", h, (void)*(volatile char *)(h + 2 * PG + 8));
        TRY("write kept heap", h, h[8] = 1);
        syscall(SYS_brk, a + 3 * PG);
        TRY("grown again is zero", h, if (h[2 * PG + 8] != 0) exit(93));
    } else if (!strcmp(what, "fork")) {
        char *p = map(2 * PG, PROT_READ | PROT_WRITE);
        p[0] = 1;
        mprotect(p + PG, PG, PROT_READ);
        pid_t c = fork();
        if (c == 0) {
            p[0] = 2;
            TRY("child writes read-only", p, p[PG + 8] = 1);
            _exit(p[0]);
        }
        int st;
        waitpid(c, &st, 0);
        printf("child exit %d parent sees %d\n", WEXITSTATUS(st), p[0]);
        TRY("parent writes read-only", p, p[PG + 8] = 1);
    } else if (!strcmp(what, "stack")) {
        struct rlimit rl = {64 << 20, RLIM_INFINITY};
        setrlimit(RLIMIT_STACK, &rl);
        for (long d = 9 << 20; d <= 12 << 20; d += PG) touch_below(d);
        printf("grew to 12 MiB\n");
        TRY("beyond RLIMIT_STACK", sp_mark - (80 << 20), touch_below(80 << 20));
    } else {
        return 2;
    }
    return 0;
}
