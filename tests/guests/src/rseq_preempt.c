/* rseq critical sections of a thread that runs alone: no other thread, no timer, no syscall
 * inside the section. Only a preemption (Linux: the tick, the host's other work) can end them,
 * and rseq_preempt makes the kernel abort them on the way back (kernel/rseq.c):
 * - a section entered right after registering resumes at its abort handler, rseq_cs cleared,
 *   and (printed only with RSEQ_SHOW_NIVCSW set: natively it depends on what else the host
 *   runs, as a migration aborts a section too) the thread's involuntary context switches grew;
 * - the abort handler may lie before the section;
 * - rseq_cs armed outside any section is cleared by the next preemption;
 * - an abort handler without the registered signature, or inside the section, is a SIGSEGV.
 * glibc registers its own area first: it is unregistered (musl registers none). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "probe.h"
#ifdef __GLIBC__
#include <sys/rseq.h>
#endif


struct cs_desc {
  uint32_t version, flags;
  uint64_t start_ip, post_commit_offset, abort_ip;
} __attribute__((aligned(32)));

#define SIG 0x53053053
static struct rseq_area area;

static long rseq_(void *p, uint32_t len, int flags, uint32_t sig) {
  return syscall(SYS_rseq, p, len, flags, sig);
}

/* The section [cs_start, cs_end) is one jump to itself; the signature precedes cs_abort (and
 * cs_early_abort, before the section); cs_bad_abort lies inside the section. Each entry point
 * returns: rdi = the area, rsi = the descriptor. */
extern char cs_start[], cs_end[], cs_abort[], cs_early_abort[], cs_bad_abort[];
extern void spin(struct rseq_area *a, struct cs_desc *cs);
__asm__(".text\n"
        ".globl spin, cs_start, cs_end, cs_abort, cs_early_abort, cs_bad_abort\n"
        "spin:\n\t"
        "jmp 1f\n\t"
        ".long 0x53053053\n"
        "cs_early_abort:\n\t"
        "ret\n"
        "1:\n\t"
        "mov %rsi, 8(%rdi)\n"
        "cs_start:\n\t"
        "jmp cs_start\n"
        "cs_bad_abort:\n\t"
        ".long 0x53053053\n\t"
        "nop\n"
        "cs_end:\n\t"
        ".long 0x53053053\n"
        "cs_abort:\n\t"
        "ret\n");

static long nivcsw(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_nivcsw;
}

static int register_own(uint32_t sig) {
#ifdef __GLIBC__
  if (__rseq_size > 0) {
    uint32_t glen = __rseq_size <= 32 ? 32 : (__rseq_size + 31) & ~31u;
    if (rseq_((char *)__builtin_thread_pointer() + __rseq_offset, glen, RSEQ_FLAG_UNREGISTER,
              RSEQ_SIG))
      return -1;
  }
#endif
  return (int)rseq_(&area, sizeof area, 0, sig);
}

static struct cs_desc desc(char *abort_ip) {
  struct cs_desc cs = {0, 0, (uint64_t)cs_start, (uint64_t)(cs_end - cs_start), (uint64_t)abort_ip};
  return cs;
}

/* in a child: register with ``sig``, spin with the abort handler at ``abort_ip``; the exit
 * status or the signal that ended it */
static void child(const char *name, uint32_t sig, char *abort_ip) {
  fflush(stdout);
  pid_t p = fork();
  if (p == 0) {
    if (register_own(sig))
      _exit(10);
    struct cs_desc cs = desc(abort_ip);
    spin(&area, &cs);
    _exit(area.rseq_cs == 0 ? 0 : 11);
  }
  int st;
  waitpid(p, &st, 0);
  if (WIFSIGNALED(st))
    printf("%s: killed by %s\n", name, strsignal(WTERMSIG(st)));
  else
    printf("%s: exit %d\n", name, WEXITSTATUS(st));
}

int main(void) {
  child("abort", SIG, cs_abort);
  child("abort before the section", SIG, cs_early_abort);
  child("another signature", SIG + 1, cs_abort);
  child("abort inside the section", SIG, cs_bad_abort);

  /* in this process: the switches it was preempted by, rseq_cs cleared */
  printf("registered %d\n", register_own(SIG));
  long before = nivcsw();
  struct cs_desc cs = desc(cs_abort);
  spin(&area, &cs);
  printf("aborted, rseq_cs cleared %d\n", area.rseq_cs == 0);
  if (getenv("RSEQ_SHOW_NIVCSW"))
    printf("involuntary switches grew %d\n", nivcsw() > before);
  /* rseq_cs armed outside a section: cleared by the next preemption */
  __atomic_store_n(&area.rseq_cs, (uint64_t)&cs, __ATOMIC_RELAXED);
  while (__atomic_load_n(&area.rseq_cs, __ATOMIC_RELAXED))
    ;
  printf("rseq_cs outside a section cleared\n");
  /* again, after work without syscalls: a section entered after a while is aborted too once
   * the kernel has seen this thread use one */
  for (volatile long i = 0; i < 3000000; i++)
    ;
  spin(&area, &cs);
  printf("aborted again, rseq_cs cleared %d\n", area.rseq_cs == 0);
  return 0;
}
