/* A siginfo given to rt_sigqueueinfo / rt_tgsigqueueinfo reaches the receiver as given (Linux
 * copy_siginfo_from_user): si_errno and si_value included, in a SA_SIGINFO handler, from
 * sigtimedwait and from a signalfd; a signal the kernel sends has si_errno 0. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile int got_errno = -1, got_code, got_int;

static void on_sig(int s, siginfo_t *si, void *uc) {
  (void)s;
  (void)uc;
  got_errno = si->si_errno;
  got_code = si->si_code;
  got_int = si->si_value.sival_int;
}

static siginfo_t info(int errno_, int val) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  si.si_code = SI_QUEUE;
  si.si_errno = errno_;
  si.si_pid = getpid();
  si.si_uid = getuid();
  si.si_value.sival_int = val;
  return si;
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sig;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGRTMIN, &sa, NULL);

  siginfo_t si = info(0x1234, 7);
  long r = syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, &si);
  printf("rt_sigqueueinfo %ld: handler si_errno %#x si_code %d value %d\n", r, got_errno,
         got_code, got_int);

  si = info(-5, 8);
  got_errno = -1;
  r = syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGRTMIN, &si);
  printf("rt_tgsigqueueinfo %ld: handler si_errno %d si_code %d value %d\n", r, got_errno,
         got_code, got_int);

  got_errno = -1;
  kill(getpid(), SIGUSR1);
  printf("kill: handler si_errno %d si_code %d\n", got_errno, got_code);

  /* blocked, then taken by sigtimedwait: two queued real-time signals keep their own */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGRTMIN);
  sigaddset(&set, SIGUSR2);
  sigprocmask(SIG_BLOCK, &set, NULL);
  si = info(11, 1);
  syscall(SYS_rt_sigqueueinfo, getpid(), SIGRTMIN, &si);
  si = info(22, 2);
  syscall(SYS_rt_sigqueueinfo, getpid(), SIGRTMIN, &si);
  for (int i = 0; i < 2; i++) {
    siginfo_t out;
    struct timespec ts = {1, 0};
    int s = sigtimedwait(&set, &out, &ts);
    printf("sigtimedwait %d: si_errno %d value %d\n", s == SIGRTMIN, out.si_errno,
           out.si_value.sival_int);
  }

  /* a signalfd reads it into ssi_errno */
  int fd = signalfd(-1, &set, 0);
  si = info(33, 3);
  syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR2, &si);
  struct signalfd_siginfo ssi;
  ssize_t n = read(fd, &ssi, sizeof ssi);
  printf("signalfd %d: ssi_errno %d ssi_code %d ssi_int %d\n", n == sizeof ssi, ssi.ssi_errno,
         ssi.ssi_code, ssi.ssi_int);
  return 0;
}
