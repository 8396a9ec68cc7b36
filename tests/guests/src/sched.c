/* Scheduling attributes: nice values (getpriority/setpriority: inherited by fork and threads,
 * kept by exec, ESRCH, EACCES), policies and priorities (sched_setscheduler/getparam/
 * setattr/getattr, SCHED_RESET_ON_FORK), I/O priorities, membarrier. Run as root.
 *   sched           the whole story
 *   sched exec      (internal) report the nice value and policy after an exec */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld errno %d\n", name, r_, r_ < 0 ? e_ : 0); } while (0)
#define RAW_PRIO(which, who) syscall(SYS_getpriority, which, who)  /* 20 - nice, or -errno */

#define SCHED_DEADLINE_POLICY 6
struct attr {  /* struct sched_attr */
  uint32_t size, policy;
  uint64_t flags;
  int32_t nice;
  uint32_t priority;
  uint64_t runtime, deadline, period;
  uint32_t util_min, util_max;
};

/* /proc/self/stat's priority (18), nice (19), rt_priority (40) and policy (41). */
static void stat_prio(const char *what) {
  char buf[1024];
  FILE *f = fopen("/proc/self/stat", "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f) fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  long v[64] = {0};
  int k = 3;  /* the field after comm is the third */
  for (p = p ? p + 2 : buf; *p && k < 64; k++) {
    char *end;
    v[k] = strtol(p, &end, 10);
    if (k == 3) end = p + 1;  /* the state letter */
    p = *end ? end + 1 : end;
  }
  printf("%s: stat priority %ld nice %ld rt_priority %ld policy %ld\n", what, v[18], v[19],
         v[40], v[41]);
}

static int wait_child(pid_t p) {
  int st;
  waitpid(p, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void show_attr(const char *what, pid_t pid, unsigned size) {
  struct attr a;
  memset(&a, 0xEE, sizeof a);
  long r = syscall(SYS_sched_getattr, pid, &a, size, 0);
  /* a fair task's runtime is the kernel's slice on Linux 6.12 and later: not compared */
  printf("%s: %ld size %u policy %u flags %llu nice %d prio %u", what, r, a.size, a.policy,
         (unsigned long long)a.flags, a.nice, a.priority);
  if (a.policy == SCHED_DEADLINE_POLICY)
    printf(" dl %llu %llu %llu", (unsigned long long)a.runtime, (unsigned long long)a.deadline,
           (unsigned long long)a.period);
  printf("\n");
}
static void *thread_prio(void *arg) {
  (void)arg;
  printf("thread inherits nice: %ld\n", 20 - RAW_PRIO(PRIO_PROCESS, 0));
  T("thread setpriority 7 (itself)", setpriority(PRIO_PROCESS, syscall(SYS_gettid), 7));
  printf("thread nice now %ld\n", 20 - RAW_PRIO(PRIO_PROCESS, 0));
  return NULL;
}

static void nice_values(const char *self) {
  T("getpriority", RAW_PRIO(PRIO_PROCESS, 0));
  T("getpriority bad which", RAW_PRIO(3, 0));
  T("getpriority pid -1", RAW_PRIO(PRIO_PROCESS, -1));
  pid_t gone = fork();
  if (gone == 0)
    _exit(0);
  wait_child(gone);
  T("getpriority of a reaped pid", RAW_PRIO(PRIO_PROCESS, gone));
  T("setpriority of a reaped pid", setpriority(PRIO_PROCESS, gone, 1));
  T("setpriority 5", setpriority(PRIO_PROCESS, 0, 5));
  T("getpriority own pid", RAW_PRIO(PRIO_PROCESS, getpid()));
  T("setpriority 99 (clamped)", setpriority(PRIO_PROCESS, 0, 99));
  T("getpriority", RAW_PRIO(PRIO_PROCESS, 0));
  T("setpriority -25 (root, clamped)", setpriority(PRIO_PROCESS, 0, -25));
  T("getpriority", RAW_PRIO(PRIO_PROCESS, 0));
  T("setpriority 3", setpriority(PRIO_PROCESS, 0, 3));
  pthread_t t;
  pthread_create(&t, NULL, thread_prio, NULL);
  pthread_join(t, NULL);
  printf("main thread nice %ld\n", 20 - RAW_PRIO(PRIO_PROCESS, 0));
  pid_t p = fork();
  if (p == 0) {
    printf("fork child nice %ld\n", 20 - RAW_PRIO(PRIO_PROCESS, 0));
    T("setpriority 10", setpriority(PRIO_PROCESS, 0, 10));
    fflush(stdout);
    execl(self, self, "exec", (char *)NULL);
    _exit(99);
  }
  printf("exec child status %d\n", wait_child(p));
  printf("parent nice still %ld\n", 20 - RAW_PRIO(PRIO_PROCESS, 0));
  /* process groups and users */
  p = fork();
  if (p == 0) {
    setpgid(0, 0);
    pid_t q = fork();
    if (q == 0) {
      pause();
      _exit(0);
    }
    T("setpriority pgrp 12", setpriority(PRIO_PGRP, 0, 12));
    T("getpriority pgrp", RAW_PRIO(PRIO_PGRP, 0));
    printf("member nice %ld\n", 20 - RAW_PRIO(PRIO_PROCESS, q));
    T("setpriority of the member 4", setpriority(PRIO_PROCESS, q, 4));
    T("getpriority pgrp (the highest)", RAW_PRIO(PRIO_PGRP, getpgrp()));
    T("getpriority missing pgrp", RAW_PRIO(PRIO_PGRP, gone));
    kill(q, SIGKILL);
    wait_child(q);
    T("setuid 3333", syscall(SYS_setresuid, 3333, 3333, 3333));
    T("getpriority user", RAW_PRIO(PRIO_USER, 0));
    T("getpriority user 3333", RAW_PRIO(PRIO_USER, 3333));
    T("getpriority user nobody has", RAW_PRIO(PRIO_USER, 31337));
    T("lower own nice without CAP_SYS_NICE", setpriority(PRIO_PROCESS, 0, 1));
    T("raise own nice", setpriority(PRIO_PROCESS, 0, 15));
    T("another user's process", setpriority(PRIO_PROCESS, getppid(), 15));
    T("getpriority", RAW_PRIO(PRIO_PROCESS, 0));
    fflush(stdout);
    _exit(0);
  }
  printf("child %d\n", wait_child(p));
  setpriority(PRIO_PROCESS, 0, 0);
}

static void policies(void) {
  struct sched_param sp = {0};
  T("getscheduler", syscall(SYS_sched_getscheduler, 0));
  T("getscheduler -1", syscall(SYS_sched_getscheduler, -1));
  T("getparam NULL", syscall(SYS_sched_getparam, 0, NULL));
  T("priority max FIFO", sched_get_priority_max(SCHED_FIFO));
  T("priority min RR", sched_get_priority_min(SCHED_RR));
  T("priority max OTHER", sched_get_priority_max(SCHED_OTHER));
  T("priority max 42", sched_get_priority_max(42));
  T("setscheduler OTHER prio 1", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &(struct sched_param){1}));
  T("setscheduler FIFO prio 0", syscall(SYS_sched_setscheduler, 0, SCHED_FIFO, &(struct sched_param){0}));
  T("setscheduler FIFO prio 100", syscall(SYS_sched_setscheduler, 0, SCHED_FIFO, &(struct sched_param){100}));
  T("setscheduler policy 4", syscall(SYS_sched_setscheduler, 0, 4, &sp));
  T("setscheduler negative policy", syscall(SYS_sched_setscheduler, 0, -1, &sp));
  T("setscheduler DEADLINE", syscall(SYS_sched_setscheduler, 0, 6, &sp));
  pid_t p = fork();
  if (p == 0) {
    T("setscheduler RR 10", syscall(SYS_sched_setscheduler, 0, SCHED_RR, &(struct sched_param){10}));
    stat_prio("RR 10");
    T("getscheduler", syscall(SYS_sched_getscheduler, 0));
    T("getparam", ({ struct sched_param q = {-1}; syscall(SYS_sched_getparam, 0, &q); q.sched_priority; }));
    struct timespec ts;
    T("rr_get_interval", sched_rr_get_interval(0, &ts));
    printf("RR slice %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
    T("setparam 20", syscall(SYS_sched_setparam, 0, &(struct sched_param){20}));
    T("getparam", ({ struct sched_param q = {-1}; syscall(SYS_sched_getparam, 0, &q); q.sched_priority; }));
    T("setparam 0 under RR", syscall(SYS_sched_setparam, 0, &(struct sched_param){0}));
    show_attr("attr RR", 0, sizeof(struct attr));
    T("FIFO with RESET_ON_FORK", syscall(SYS_sched_setscheduler, 0, SCHED_FIFO | 0x40000000,
                                         &(struct sched_param){5}));
    T("getscheduler", syscall(SYS_sched_getscheduler, 0));
    show_attr("attr FIFO reset", 0, sizeof(struct attr));
    T("rr_get_interval FIFO", ({ struct timespec t2; sched_rr_get_interval(0, &t2); t2.tv_nsec; }));
    pid_t q = fork();
    if (q == 0) {
      T("child of RESET_ON_FORK: getscheduler", syscall(SYS_sched_getscheduler, 0));
      fflush(stdout);
      _exit(0);
    }
    wait_child(q);
    T("IDLE", syscall(SYS_sched_setscheduler, 0, SCHED_IDLE, &sp));
    show_attr("attr IDLE", 0, sizeof(struct attr));
    T("BATCH", syscall(SYS_sched_setscheduler, 0, SCHED_BATCH, &sp));
    T("setuid 2222", syscall(SYS_setresuid, 2222, 2222, 2222));
    T("unprivileged FIFO", syscall(SYS_sched_setscheduler, 0, SCHED_FIFO, &(struct sched_param){1}));
    T("unprivileged OTHER", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &sp));
    T("another user's task", syscall(SYS_sched_setscheduler, getppid(), SCHED_OTHER, &sp));
    T("getscheduler of the parent", syscall(SYS_sched_getscheduler, getppid()));
    fflush(stdout);
    _exit(0);
  }
  printf("child %d\n", wait_child(p));
  show_attr("attr", 0, sizeof(struct attr));
  show_attr("attr VER0", 0, 48);
  T("getattr size 40", syscall(SYS_sched_getattr, 0, &(struct attr){0}, 40, 0));
  T("getattr flags 1", syscall(SYS_sched_getattr, 0, &(struct attr){0}, 56, 1));
  T("getattr size 8192", syscall(SYS_sched_getattr, 0, &(struct attr){0}, 8192, 0));
  char big[96];
  memset(big, 0xAB, sizeof big);
  T("getattr into a bigger struct", syscall(SYS_sched_getattr, 0, big, sizeof big, 0));
  printf("tail zeroed %d size field %u\n", big[60] == 0 && big[95] == 0, *(uint32_t *)big);
  struct attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.policy = SCHED_OTHER;
  a.nice = 6;
  T("setattr nice 6", syscall(SYS_sched_setattr, 0, &a, 0));
  T("getpriority", RAW_PRIO(PRIO_PROCESS, 0));
  stat_prio("nice 6");
  a.nice = -40;
  T("setattr nice -40 (clamped)", syscall(SYS_sched_setattr, 0, &a, 0));
  T("getpriority", RAW_PRIO(PRIO_PROCESS, 0));
  a.nice = 0;
  T("setattr flags 1", syscall(SYS_sched_setattr, 0, &a, 1));
  a.size = 40;
  T("setattr size 40", syscall(SYS_sched_setattr, 0, &a, 0));
  printf("size written back %u\n", a.size);
  a.size = 0;
  T("setattr size 0", syscall(SYS_sched_setattr, 0, &a, 0));
  char bigattr[80] = {0};
  memcpy(bigattr, &a, sizeof a);
  ((struct attr *)bigattr)->size = 80;
  bigattr[70] = 1;
  T("setattr with a non-zero tail", syscall(SYS_sched_setattr, 0, bigattr, 0));
  bigattr[70] = 0;
  T("setattr with a zero tail", syscall(SYS_sched_setattr, 0, bigattr, 0));
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.policy = 6;
  a.runtime = 10 * 1000 * 1000;
  a.deadline = 5 * 1000 * 1000;
  a.period = 100 * 1000 * 1000;
  T("DEADLINE runtime > deadline", syscall(SYS_sched_setattr, 0, &a, 0));
  a.deadline = 30 * 1000 * 1000;
  a.period = 10 * 1000 * 1000;
  T("DEADLINE deadline > period", syscall(SYS_sched_setattr, 0, &a, 0));
  a.runtime = 100;
  a.period = 0;
  T("DEADLINE runtime below 1024 ns", syscall(SYS_sched_setattr, 0, &a, 0));
  a.policy = SCHED_OTHER;
  a.flags = 0x08;  /* SCHED_FLAG_KEEP_POLICY */
  a.nice = 2;
  T("KEEP_POLICY nice 2", syscall(SYS_sched_setattr, 0, &a, 0));
  a.flags = 0x10 | 0x08;  /* KEEP_PARAMS too */
  a.nice = 9;
  T("KEEP_PARAMS", syscall(SYS_sched_setattr, 0, &a, 0));
  T("getpriority", RAW_PRIO(PRIO_PROCESS, 0));
  a.flags = 0x80;
  T("unknown flag", syscall(SYS_sched_setattr, 0, &a, 0));
  setpriority(PRIO_PROCESS, 0, 0);
}

static void ioprio(void) {
  T("ioprio_get", syscall(SYS_ioprio_get, 1, 0));
  T("ioprio_set IDLE", syscall(SYS_ioprio_set, 1, 0, 3 << 13));
  T("ioprio_get", syscall(SYS_ioprio_get, 1, 0));
  T("ioprio_set BE 3", syscall(SYS_ioprio_set, 1, getpid(), (2 << 13) | 3));
  T("ioprio_get", syscall(SYS_ioprio_get, 1, getpid()));
  T("ioprio_set class 5", syscall(SYS_ioprio_set, 1, 0, 5 << 13));
  T("ioprio_set NONE level 1", syscall(SYS_ioprio_set, 1, 0, 1));
  T("ioprio_set bad which", syscall(SYS_ioprio_set, 7, 0, 0));
  T("ioprio_get bad which", syscall(SYS_ioprio_get, 0, 0));
  int ready[2];
  pipe(ready);
  pid_t p = fork();
  if (p == 0) {
    T("child ioprio_get (inherited)", syscall(SYS_ioprio_get, 1, 0));
    write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  char c;
  read(ready[0], &c, 1);
  T("ioprio_set child RT 4", syscall(SYS_ioprio_set, 1, p, (1 << 13) | 4));
  T("ioprio_get child", syscall(SYS_ioprio_get, 1, p));
  T("ioprio_get pgrp (the lowest)", syscall(SYS_ioprio_get, 2, 0));
  kill(p, SIGKILL);
  wait_child(p);
  T("ioprio_get reaped", syscall(SYS_ioprio_get, 1, p));
  T("ioprio_set NONE", syscall(SYS_ioprio_set, 1, 0, 0));
}

static void membarrier(const char *self) {
  T("query", syscall(SYS_membarrier, 0, 0, 0));
  T("registrations", syscall(SYS_membarrier, 1 << 9, 0, 0));
  T("private expedited unregistered", syscall(SYS_membarrier, 1 << 3, 0, 0));
  T("register private expedited", syscall(SYS_membarrier, 1 << 4, 0, 0));
  T("register again", syscall(SYS_membarrier, 1 << 4, 0, 0));
  T("private expedited", syscall(SYS_membarrier, 1 << 3, 0, 0));
  T("with flags", syscall(SYS_membarrier, 1 << 3, 1, 0));
  T("rseq unregistered", syscall(SYS_membarrier, 1 << 7, 0, 0));
  T("register rseq", syscall(SYS_membarrier, 1 << 8, 0, 0));
  T("rseq on cpu 0", syscall(SYS_membarrier, 1 << 7, 1, 0));
  T("rseq with flag 2", syscall(SYS_membarrier, 1 << 7, 2, 0));
  T("global", syscall(SYS_membarrier, 1, 0, 0));
  T("global expedited", syscall(SYS_membarrier, 2, 0, 0));
  T("sync core unregistered", syscall(SYS_membarrier, 1 << 5, 0, 0));
  T("command 3", syscall(SYS_membarrier, 3, 0, 0));
  T("command -1", syscall(SYS_membarrier, -1, 0, 0));
  T("registrations", syscall(SYS_membarrier, 1 << 9, 0, 0));
  pid_t p = fork();
  if (p == 0) {
    T("fork child registrations", syscall(SYS_membarrier, 1 << 9, 0, 0));
    fflush(stdout);
    execl(self, self, "exec", (char *)NULL);
    _exit(99);
  }
  printf("child %d\n", wait_child(p));
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1 && strcmp(argv[1], "exec") == 0) {
    printf("after exec: nice %ld policy %ld\n", 20 - RAW_PRIO(PRIO_PROCESS, 0),
           syscall(SYS_sched_getscheduler, 0));
    T("after exec: membarrier registrations", syscall(SYS_membarrier, 1 << 9, 0, 0));
    return 4;
  }
  if (getuid() != 0) {
    printf("not root\n");
    return 0;
  }
  nice_values(argv[0]);
  policies();
  ioprio();
  membarrier(argv[0]);
  return 0;
}
