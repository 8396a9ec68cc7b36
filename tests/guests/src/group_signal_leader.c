/* complete_signal gives a process-directed signal to the thread it was sent to (the leader,
 * for kill(getpid()) and for ITIMER_REAL's SIGALRM) when that thread can take it, though
 * another thread took the group's last signal (curr_target only starts the search when the
 * leader cannot): gVisor's itimer test DeliversSIGALRMToMainThread. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static volatile pid_t taker;
static volatile int taken;

static void on_usr1(int s) {
  (void)s;
  taker = (pid_t)syscall(SYS_gettid);
  taken++;
}

static void *second(void *arg) {
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, NULL);
  for (;;)
    pause();  /* takes SIGUSR1 whenever it is given to it */
  return arg;
}

int main(void) {
  signal(SIGUSR1, on_usr1);
  signal(SIGALRM, on_usr1);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &one, NULL);
  pthread_t th;
  pthread_create(&th, NULL, second, NULL);
  while (taken == 0) {  /* the main thread blocks it: only the second thread can take it */
    kill(getpid(), SIGUSR1);
    usleep(20000);
  }
  printf("first taken by the second thread: %d\n", taker != getpid());
  pthread_sigmask(SIG_UNBLOCK, &one, NULL);
  for (int i = 0; i < 5; i++) {
    int before = taken;
    kill(getpid(), SIGUSR1);  /* the leader can take it now, and is running: it does */
    while (taken == before)
      ;
    printf("signal %d taken by the main thread: %d\n", i, taker == getpid());
  }
  /* again after the second thread took one, by a timer while the main thread computes */
  for (int i = 0; i < 3; i++) {
    pthread_sigmask(SIG_BLOCK, &one, NULL);
    int before = taken;
    kill(getpid(), SIGUSR1);
    while (taken == before)
      usleep(1000);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    int second_took = taker != getpid();
    before = taken;
    struct itimerval it = {{0, 0}, {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    while (taken == before)
      ;
    printf("SIGALRM %d after the second thread's signal (%d) taken by the main thread: %d\n",
           i, second_took, taker == getpid());
  }
  return 0;
}
