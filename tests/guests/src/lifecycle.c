/* Process lifecycle: clone3 (struct clone_args and its errnos, CLONE_CLEAR_SIGHAND, set_tid's
 * checks, a TLS base outside user space), CLONE_PARENT, PR_SET_PDEATHSIG when the parent thread
 * exits, SIGKILL to a process whose only thread has exited, and rseq registration (glibc
 * registers every thread; musl none). Run as root. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include "probe.h"
#ifdef __GLIBC__
#include <sys/rseq.h>
#endif

#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld errno %d\n", name, r_, r_ < 0 ? e_ : 0); } while (0)

struct clone_args_v2 {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
      set_tid_size, cgroup;
};
#define CLONE_CLEAR_SIGHAND_ 0x100000000ULL
#define CLONE_INTO_CGROUP_ 0x200000000ULL

static long clone3_(void *args, size_t size) { return syscall(SYS_clone3, args, size); }

static int reap(pid_t p, int opts) {
  int st;
  if (waitpid(p, &st, opts) != p)
    return -errno;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* clone3 that forks: the child exits at once with ``code`` (what happened, if it runs). */
static long fork3(struct clone_args_v2 *a, size_t size, int code) {
  long r = clone3_(a, size);
  if (r == 0)
    syscall(SYS_exit_group, code);
  return r;
}

static void args_checks(void) {
  struct clone_args_v2 a;
  memset(&a, 0, sizeof a);
  a.exit_signal = SIGCHLD;
  long p = fork3(&a, 64, 5);
  printf("clone3 fork %d child %d\n", p > 0, p > 0 ? reap(p, 0) : -1);
  p = fork3(&a, sizeof a, 6);
  printf("clone3 size 88 %d child %d\n", p > 0, p > 0 ? reap(p, 0) : -1);
  pid_t ptid = 0, ctid = 0;
  a.flags = CLONE_PARENT_SETTID | CLONE_CHILD_SETTID;
  a.parent_tid = (uintptr_t)&ptid;
  a.child_tid = (uintptr_t)&ctid;
  p = clone3_(&a, sizeof a);
  if (p == 0)
    syscall(SYS_exit_group, ctid == getpid() ? 7 : 8);
  printf("parent_tid is the pid %d, child saw its child_tid %d\n", ptid == p, reap(p, 0));
  a.flags = 0;
  a.parent_tid = a.child_tid = 0;
  T("size 63", clone3_(&a, 63));
  T("size 4097", clone3_(&a, 4097));
  T("NULL args", clone3_(NULL, 64));
  T("args at a bad address", clone3_((void *)16, 64));
  char big[128] = {0};
  memcpy(big, &a, sizeof a);
  big[100] = 1;
  T("non-zero past the struct", clone3_(big, sizeof big));
  big[100] = 0;
  p = clone3_(big, sizeof big);
  if (p == 0)
    syscall(SYS_exit_group, 9);
  printf("zeros past the struct %d child %d\n", p > 0, p > 0 ? reap(p, 0) : -1);
  a.exit_signal = 65;
  T("exit_signal 65", clone3_(&a, sizeof a));
  a.exit_signal = 1ULL << 32 | SIGCHLD;
  T("exit_signal high bits", clone3_(&a, sizeof a));
  a.exit_signal = 0;
  a.flags = SIGCHLD;
  T("a signal in flags", clone3_(&a, sizeof a));
  a.flags = 0x00400000;  /* CLONE_DETACHED */
  T("CLONE_DETACHED", clone3_(&a, sizeof a));
  a.flags = 1ULL << 40;
  T("unknown flag", clone3_(&a, sizeof a));
  a.flags = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM;
  a.exit_signal = SIGCHLD;
  T("a thread with an exit signal", clone3_(&a, sizeof a));
  a.flags = CLONE_PARENT;
  T("CLONE_PARENT with an exit signal", clone3_(&a, sizeof a));
  a.flags = 0;
  a.stack = (uintptr_t)big;
  T("a stack without a size", clone3_(&a, sizeof a));
  a.stack = 0;
  a.stack_size = 4096;
  T("a size without a stack", clone3_(&a, sizeof a));
  a.stack_size = 0;
  a.flags = CLONE_SIGHAND | CLONE_VM | CLONE_CLEAR_SIGHAND_;
  T("CLONE_SIGHAND with CLONE_CLEAR_SIGHAND", clone3_(&a, sizeof a));
  a.flags = 0;
  a.set_tid_size = 1;
  T("set_tid_size without set_tid", clone3_(&a, sizeof a));
  pid_t want[40] = {0};
  a.set_tid = (uintptr_t)want;
  a.set_tid_size = 0;
  T("set_tid without a size", clone3_(&a, sizeof a));
  a.set_tid_size = 33;
  T("set_tid_size 33", clone3_(&a, sizeof a));
  a.set_tid_size = 2;
  want[0] = 5000;
  T("set_tid for two namespaces", clone3_(&a, sizeof a));
  a.set_tid_size = 1;
  want[0] = 0;
  T("set_tid 0", clone3_(&a, sizeof a));
  want[0] = getpid();
  T("set_tid in use", clone3_(&a, sizeof a));
  a.set_tid = a.set_tid_size = 0;
  a.flags = CLONE_INTO_CGROUP_;
  a.cgroup = open("/dev/null", O_RDONLY);
  T("CLONE_INTO_CGROUP, struct too short", clone3_(&a, 80));
  a.cgroup = 1ULL << 31;
  T("CLONE_INTO_CGROUP, fd above INT_MAX", clone3_(&a, sizeof a));
  a.flags = CLONE_SETTLS;
  a.tls = 1ULL << 63;
  T("clone3 TLS outside user space", clone3_(&a, sizeof a));
  T("clone TLS outside user space", syscall(SYS_clone, CLONE_SETTLS | SIGCHLD, 0, 0, 0, 1ULL << 47));
  a.flags = 0;
  a.tls = 0;
  a.flags = CLONE_VFORK;  /* (not CLONE_VM: the child would run on our stack) */
  a.exit_signal = SIGCHLD;
  p = fork3(&a, sizeof a, 10);
  printf("clone3 vfork %d child %d\n", p > 0, p > 0 ? reap(p, 0) : -1);
}

static volatile sig_atomic_t usr1;
static void on_usr1(int s) { (void)s; usr1++; }

static void clear_sighand(void) {
  signal(SIGUSR1, on_usr1);
  signal(SIGUSR2, SIG_IGN);
  struct clone_args_v2 a;
  memset(&a, 0, sizeof a);
  a.flags = CLONE_CLEAR_SIGHAND_;
  a.exit_signal = SIGCHLD;
  long p = clone3_(&a, sizeof a);
  if (p == 0) {
    struct sigaction s1, s2;
    sigaction(SIGUSR1, NULL, &s1);
    sigaction(SIGUSR2, NULL, &s2);
    syscall(SYS_exit_group, (s1.sa_handler == SIG_DFL) * 10 + (s2.sa_handler == SIG_IGN));
  }
  printf("CLONE_CLEAR_SIGHAND: handled->default, ignored->ignored: %d\n", reap(p, 0));
  struct sigaction s;
  sigaction(SIGUSR1, NULL, &s);
  printf("the parent's handler kept %d\n", s.sa_handler == on_usr1);
  signal(SIGUSR2, SIG_DFL);
}

/* CLONE_PARENT: the middle child, itself made with exit signal SIGUSR1, makes a sibling; the
 * sibling is our child and its death is announced with SIGUSR1 too. */
static void clone_parent(void) {
  int ready[2];
  pipe(ready);
  struct clone_args_v2 a;
  memset(&a, 0, sizeof a);
  a.exit_signal = SIGUSR1;
  usr1 = 0;
  long mid = clone3_(&a, sizeof a);
  if (mid == 0) {
    pid_t sib = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
    if (sib == 0)
      syscall(SYS_exit_group, 33);
    T("middle: wait for its sibling", waitpid(sib, NULL, __WALL));
    write(ready[1], &sib, sizeof sib);
    syscall(SYS_exit_group, 22);
  }
  pid_t sib;
  read(ready[0], &sib, sizeof sib);
  /* a child whose exit signal is not SIGCHLD waits only for __WALL or __WCLONE */
  T("the sibling without __WALL", waitpid(sib, NULL, 0));
  printf("sibling status %d\n", reap(sib, __WALL));
  printf("middle status %d\n", reap(mid, __WALL));
  printf("SIGUSR1 came %d\n", usr1 > 0);
  T("no child left", waitpid(-1, NULL, WNOHANG));
}

/* PR_SET_PDEATHSIG: the signal comes when the parent *thread* exits, the process living on. */
static int pipes[2][2];
static void *forking_thread(void *arg) {
  pid_t *kid = arg;
  *kid = fork();
  if (*kid == 0) {
    signal(SIGUSR2, on_usr1);
    usr1 = 0;
    prctl(PR_SET_PDEATHSIG, SIGUSR2);
    write(pipes[0][1], "r", 1);
    char c;
    read(pipes[1][0], &c, 1);  /* the parent thread has exited */
    for (int i = 0; i < 2000 && !usr1; i++)
      usleep(1000);
    syscall(SYS_exit_group, usr1 ? 44 : 45);
  }
  char c;
  read(pipes[0][0], &c, 1);
  return NULL;
}

static void pdeathsig(void) {
  T("PR_SET_PDEATHSIG 65", prctl(PR_SET_PDEATHSIG, 65));
  pipe(pipes[0]);
  pipe(pipes[1]);
  pid_t kid;
  pthread_t t;
  pthread_create(&t, NULL, forking_thread, &kid);
  pthread_join(t, NULL);
  write(pipes[1][1], "g", 1);
  printf("child got the parent-death signal: %d\n", reap(kid, 0));
}

/* SIGKILL to a process whose one thread called exit(2): no group exit, the status stays. */
static void kill_exited(void) {
  int fds[2];
  pipe(fds);
  pid_t p = fork();
  if (p == 0) {
    close(fds[0]);
    syscall(SYS_exit, 0);
  }
  close(fds[1]);
  char c;
  T("its files are closed", read(fds[0], &c, 1));
  T("SIGKILL", kill(p, SIGKILL));
  printf("status %d\n", reap(p, 0));
  close(fds[0]);
}

/* rseq ------------------------------------------------------------------------------------- */
#define SIG 0x53053053
static struct rseq_area area[2];

static long rseq_(void *p, uint32_t len, int flags, uint32_t sig) {
  return syscall(SYS_rseq, p, len, flags, sig);
}

/* A critical section that spins until the kernel aborts it: arm rseq_cs with a descriptor of
 * [1b, 2b), loop at 1b; the signature precedes the abort handler at 4f. */
static __attribute__((noinline)) int spin_in_cs(struct rseq_area *a) {
  int aborted = 0;
  __asm__ volatile(
      "lea 3f(%%rip), %%rax\n\t"
      "mov %%rax, 8(%[area])\n\t"
      "1:\n\t"
      "jmp 1b\n\t"
      "2:\n\t"
      ".pushsection .data.rseq_cs, \"aw\"\n\t"
      ".balign 32\n\t"
      "3:\n\t"
      ".long 0, 0\n\t"
      ".quad 1b, 2b - 1b, 4f\n\t"
      ".popsection\n\t"
      ".long 0x53053053\n\t"
      "4:\n\t"
      "movl $1, %[ab]\n\t"
      : [ab] "=m"(aborted)
      : [area] "r"(a)
      : "rax", "memory");
  return aborted;
}

static volatile sig_atomic_t alarms, competitor_done;
static void on_alarm(int s) { (void)s; alarms++; }

static void *competitor(void *arg) {
  (void)arg;
  while (!competitor_done)
    ;
  return NULL;
}

static void rseq_aborts(void) {
  /* a signal delivered inside the section: the handler's frame resumes at the abort handler */
  signal(SIGALRM, on_alarm);
  struct itimerval it = {{0, 0}, {0, 20000}};
  setitimer(ITIMER_REAL, &it, NULL);
  int ab = spin_in_cs(&area[0]);  /* (natively a preemption may come first) */
  while (!alarms)
    pause();
  printf("signal: aborted %d handler ran %d rseq_cs cleared %d\n", ab, alarms,
         area[0].rseq_cs == 0);
  /* preempted by another thread on the same CPU */
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  sched_setaffinity(0, sizeof one, &one);
  pthread_t t;
  pthread_create(&t, NULL, competitor, NULL);
  ab = spin_in_cs(&area[0]);
  competitor_done = 1;
  pthread_join(t, NULL);
  printf("preempted: aborted %d rseq_cs cleared %d\n", ab, area[0].rseq_cs == 0);
}

static void *register_in_thread(void *arg) {
  (void)arg;
#ifdef __GLIBC__
  uint32_t glen = __rseq_size <= 32 ? 32 : (__rseq_size + 31) & ~31u;
  printf("new thread registered by libc %d\n",
         __rseq_size > 0 && rseq_((char *)__builtin_thread_pointer() + __rseq_offset,
                                  glen, 0, RSEQ_SIG) == -1 && errno == EBUSY);
#else
  T("new thread registers", rseq_(&area[1], 32, 0, SIG));
  T("and unregisters", rseq_(&area[1], 32, 1, SIG));
#endif
  return NULL;
}

static void rseq(void) {
  pthread_t t;
  pthread_create(&t, NULL, register_in_thread, NULL);
  pthread_join(t, NULL);
#ifdef __GLIBC__
  struct rseq_area *g = (void *)((char *)__builtin_thread_pointer() + __rseq_offset);
  /* glibc registers at least the original 32 bytes (its __rseq_size may say less) */
  uint32_t glen = __rseq_size <= 32 ? 32 : (__rseq_size + 31) & ~31u;
  printf("glibc registered %d cpu fields set %d\n", __rseq_size > 0,
         g->cpu_id >= 0 && g->cpu_id_start == (uint32_t)g->cpu_id);
  T("again", rseq_(g, glen, 0, RSEQ_SIG));
  T("again, another signature", rseq_(g, glen, 0, RSEQ_SIG + 1));
  T("another area", rseq_(&area[0], 32, 0, RSEQ_SIG));
  T("unregister, another signature", rseq_(g, glen, RSEQ_FLAG_UNREGISTER, 1));
  T("unregister, another length", rseq_(g, glen + 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG));
  T("unregister glibc's", rseq_(g, glen, RSEQ_FLAG_UNREGISTER, RSEQ_SIG));
  printf("cpu_id after %d cpu_id_start %u\n", g->cpu_id, g->cpu_id_start);
#endif
  T("unregister nothing", rseq_(&area[0], 32, 1, SIG));
  T("flags 2", rseq_(&area[0], 32, 2, SIG));
  T("unregister with flags 3", rseq_(&area[0], 32, 3, SIG));
  T("length 16", rseq_(&area[0], 16, 0, SIG));
  T("misaligned", rseq_((char *)&area[0] + 8, 32, 0, SIG));
  T("length 31", rseq_(&area[0], 31, 0, SIG));
  T("unmapped", rseq_((void *)4096, 32, 0, SIG));
  area[0].rseq_cs = 0x1234;
  area[0].cpu_id = -1;
  T("register", rseq_(&area[0], 32, 0, SIG));
  printf("rseq_cs cleared %d cpu fields set %d node_id %u\n", area[0].rseq_cs == 0,
         area[0].cpu_id >= 0 && area[0].cpu_id_start == (uint32_t)area[0].cpu_id,
         area[0].node_id);
  T("busy", rseq_(&area[0], 32, 0, SIG));
  rseq_aborts();
  pid_t p = fork();
  if (p == 0)  /* a forked child keeps the registration */
    syscall(SYS_exit_group, rseq_(&area[0], 32, 0, SIG) == -1 && errno == EBUSY ? 12 : 13);
  printf("fork child still registered: %d\n", reap(p, 0));
  pthread_create(&t, NULL, register_in_thread, NULL);
  pthread_join(t, NULL);
  T("unregister", rseq_(&area[0], 32, 1, SIG));
  printf("cpu_id after %d\n", area[0].cpu_id);
  p = fork();
  if (p == 0) {  /* an area the kernel cannot write: SIGSEGV on the way back to user space */
    void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    rseq_(ro, 32, 0, SIG);
    syscall(SYS_exit_group, 14);
  }
  printf("read-only area: %d\n", reap(p, 0));
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  args_checks();
  clear_sighand();
  clone_parent();
  pdeathsig();
  kill_exited();
  rseq();
  return 0;
}
