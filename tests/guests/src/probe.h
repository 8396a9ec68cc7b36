/* Probes the guest programs share (their outputs are compared natively and under ecs-kernel):
 * touch() reads or writes one byte and prints what happened (a SIGSEGV or SIGBUS with its si_code
 * and si_addr relative to the byte: install on_fault for both first, SA_SIGINFO); status_field()
 * is the number a /proc/self/status field starts with (kB for the Vm and Rss ones; -1 if absent);
 * struct rseq_area is the kernel's struct rseq (musl has no <sys/rseq.h>). */
#ifndef ECS_GUEST_PROBE_H
#define ECS_GUEST_PROBE_H
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sigjmp_buf jb;
static volatile int got_sig, got_code;
static volatile uintptr_t got_addr;

__attribute__((unused)) static void on_fault(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    got_sig = sig;
    got_code = si->si_code;
    got_addr = (uintptr_t)si->si_addr;
    siglongjmp(jb, 1);
}

/* Read (or write) one byte at p; print what happened, with si_addr relative to p. */
__attribute__((unused)) static void touch(const char *what, volatile char *p, int write) {
    got_sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        char c;
        if (write)
            *p = 'W';
        else
            c = *p, printf("%s: read %d\n", what, c);
        if (write) printf("%s: wrote\n", what);
        return;
    }
    printf("%s: signal %s code %d at %+ld\n", what, got_sig == SIGBUS ? "SIGBUS" : "SIGSEGV",
           got_code, (long)(got_addr - (uintptr_t)p));
}

__attribute__((unused)) static long status_field(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    if (f) fclose(f);
    return v;
}

struct rseq_area {
    uint32_t cpu_id_start;
    int32_t cpu_id;
    uint64_t rseq_cs;
    uint32_t flags, node_id, mm_cid;
    char pad[4];
} __attribute__((aligned(32)));
#endif
