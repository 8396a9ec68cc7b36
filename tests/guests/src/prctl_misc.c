/* prctl's timer slack (a new thread's and a child's default is its creator's current slack; a
 * real-time task has none, and gets its default back with a normal policy), PR_GET_TID_ADDRESS,
 * and PR_SET_THP_DISABLE with its 6.18 flag (kept by fork and exec). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void slack(const char *what, int r) {
  errno = 0;
  long s = syscall(SYS_prctl, PR_GET_TIMERSLACK, 0, 0, 0, 0);
  printf("%s: %d, slack %ld errno %d\n", what, r, s, errno);
}

static void thp(const char *what, int r) {
  printf("%s: %d errno %d\n", what, r, r < 0 ? errno : 0);
}

static void *thread(void *arg) {
  slack("new thread", 0);
  slack("thread reset", prctl(PR_SET_TIMERSLACK, 0));
  return arg;
}

int main(int argc, char **argv) {
  if (argc > 1) {  /* the exec'd child: what the exec kept */
    thp("after exec, get", prctl(42, 0, 0, 0, 0));
    return 0;
  }
  slack("start", 0);
  slack("set 123456", prctl(PR_SET_TIMERSLACK, 123456));
  pthread_t t;
  pthread_create(&t, NULL, thread, NULL);
  pthread_join(t, NULL);
  slack("reset", prctl(PR_SET_TIMERSLACK, 0));
  slack("set 777", prctl(PR_SET_TIMERSLACK, 777));
  fflush(stdout);
  if (fork() == 0) {
    slack("child", 0);
    prctl(PR_SET_TIMERSLACK, 5);
    slack("child reset", prctl(PR_SET_TIMERSLACK, 0));
    fflush(stdout);
    _exit(0);
  }
  wait(NULL);
  struct sched_param sp = {10};
  slack("SCHED_FIFO", sched_setscheduler(0, SCHED_FIFO, &sp));
  slack("real-time, set 999", prctl(PR_SET_TIMERSLACK, 999));
  sp.sched_priority = 0;
  slack("SCHED_OTHER", sched_setscheduler(0, SCHED_OTHER, &sp));
  /* the slack comes back as prctl's long: ~0UL reads as -1 (EPERM to libc), 1 << 63 negative */
  slack("set ~0UL", prctl(PR_SET_TIMERSLACK, ~0UL));
  slack("set 1 << 63", prctl(PR_SET_TIMERSLACK, 1UL << 63));
  prctl(PR_SET_TIMERSLACK, 0);

  int *addr = (int *)1;
  int r = prctl(PR_GET_TID_ADDRESS, &addr);
  printf("PR_GET_TID_ADDRESS %d: glibc's, in the thread block %d\n", r, addr != NULL);
  syscall(SYS_set_tid_address, &r);
  prctl(PR_GET_TID_ADDRESS, &addr);
  printf("after set_tid_address: %d\n", addr == &r);

  /* PR_SET_THP_DISABLE 41, PR_GET_THP_DISABLE 42; arg3 2: PR_THP_DISABLE_EXCEPT_ADVISED */
  static const struct { const char *what; int option, a2, a3, a4; } calls[] = {
      {"get", 42, 0, 0, 0},        {"get with arg2", 42, 1, 0, 0},
      {"set 1, except advised", 41, 1, 2, 0}, {"get", 42, 0, 0, 0},
      {"set 1, flag 4", 41, 1, 4, 0}, {"set 0, except advised", 41, 0, 2, 0},
      {"set 7", 41, 7, 0, 0},      {"get", 42, 0, 0, 0},
      {"set 0", 41, 0, 0, 0},      {"get", 42, 0, 0, 0},
      {"set with arg4", 41, 1, 0, 1}, {"set 1", 41, 1, 0, 0},
  };
  for (unsigned i = 0; i < sizeof calls / sizeof *calls; i++)
    thp(calls[i].what, prctl(calls[i].option, calls[i].a2, calls[i].a3, calls[i].a4, 0));
  fflush(stdout);
  if (fork() == 0) {
    thp("child get", prctl(42, 0, 0, 0, 0));
    fflush(stdout);
    execl("/proc/self/exe", argv[0], "exec", (char *)NULL);
    _exit(1);
  }
  wait(NULL);
  return 0;
}
