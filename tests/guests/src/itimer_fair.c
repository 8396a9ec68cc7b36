/* ITIMER_PROF's SIGPROF goes to the thread whose CPU time made it expire (Linux: the tick's
 * check_cpu_itimer sends it to the running thread, complete_signal keeps that one when it can
 * take it), so threads that share the work share the signals. Two workers take turns through
 * a socketpair: each spins for a while, sleeps (the whole process is idle then), and hands the
 * turn over; the main thread only waits. Each worker counts the SIGPROFs it handled. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static __thread int samples;
static int worker_samples[2], main_samples;
static volatile int done;

static void on_prof(int s) {
  (void)s;
  samples++;
}

static long long thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct arg {
  int fd, idx;
  long long budget_ns, sleep_ns;
};

static void *worker(void *p) {
  struct arg *a = p;
  long long end = thread_cpu_ns() + a->budget_ns;
  char c;
  while (thread_cpu_ns() < end) {
    if (read(a->fd, &c, 1) != 1)
      break; /* the other one is done */
    for (volatile int i = 0; i < 300000; i++)
      ;
    if (a->sleep_ns) {
      struct timespec ts = {0, a->sleep_ns};
      while (nanosleep(&ts, &ts))
        ;
    }
    if (send(a->fd, &c, 1, MSG_NOSIGNAL) != 1)
      break;
  }
  worker_samples[a->idx] = samples;
  shutdown(a->fd, SHUT_RDWR);
  return NULL;
}

static void run(const char *name, long long sleep_ns) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  samples = 0;
  struct arg a0 = {sv[0], 0, 400000000LL, sleep_ns}, a1 = {sv[1], 1, 400000000LL, sleep_ns};
  pthread_t t0, t1;
  pthread_create(&t0, NULL, worker, &a0);
  pthread_create(&t1, NULL, worker, &a1);
  struct itimerval it = {{0, 10000}, {0, 10000}}; /* every 10 ms of process CPU time */
  setitimer(ITIMER_PROF, &it, NULL);
  char c = 0;
  write(sv[1], &c, 1); /* the first turn is worker 0's */
  pthread_join(t0, NULL);
  pthread_join(t1, NULL);
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_PROF, &off, NULL);
  main_samples = samples;
  int a = worker_samples[0], b = worker_samples[1], total = a + b;
  /* each worker used the same CPU time: each gets a share (at least a fifth: the host's own
   * scheduling skews it natively; a thread that takes what the other's CPU time expired does
   * far worse) */
  printf("%s: both workers sampled %d, fair %d, main thread fewer %d\n", name, a > 0 && b > 0,
         total > 0 && a * 5 >= total && b * 5 >= total, main_samples < a && main_samples < b);
  if (getenv("ITIMER_FAIR_VERBOSE"))
    fprintf(stderr, "%s: %d %d main %d\n", name, a, b, main_samples);
  close(sv[0]);
  close(sv[1]);
}

int main(void) {
  struct sigaction sa = {0};
  sa.sa_handler = on_prof;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGPROF, &sa, NULL);
  run("active", 0);
  run("idle", 1000000);
  return 0;
}
