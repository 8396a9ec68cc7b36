/* A siginfo given to rt_sigqueueinfo / rt_tgsigqueueinfo reaches the receiver as given (Linux
 * copy_siginfo_from_user): si_errno, si_value, and the si_pid and si_uid the caller wrote, not
 * its own ids, in a SA_SIGINFO handler, from sigtimedwait and from a signalfd, sent to itself and
 * by a child to its parent; a signal the kernel sends has si_errno 0. send_signal_locked changes
 * the ids only across namespaces: a receiver in a pid namespace where the sender has no pid gets
 * si_pid 0 (the uid kept). */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int got_errno = -1, got_code, got_int, got_pid = -1, got_uid = -1;

static void on_sig(int s, siginfo_t *si, void *uc) {
  (void)s;
  (void)uc;
  got_errno = si->si_errno;
  got_code = si->si_code;
  got_int = si->si_value.sival_int;
  got_pid = si->si_pid;
  got_uid = (int)si->si_uid;
}

static siginfo_t info(int code, int errno_, int pid, unsigned uid, int val) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  si.si_code = code;
  si.si_errno = errno_;
  si.si_pid = pid;
  si.si_uid = uid;
  si.si_value.sival_int = val;
  return si;
}

static siginfo_t queued(int errno_, int val) {  /* what sigqueue(3) would write */
  return info(SI_QUEUE, errno_, getpid(), getuid(), val);
}

static void errno_cases(void) {
  siginfo_t si = queued(0x1234, 7);
  long r = syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, &si);
  printf("rt_sigqueueinfo %ld: handler si_errno %#x si_code %d value %d\n", r, got_errno,
         got_code, got_int);

  si = queued(-5, 8);
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
  si = queued(11, 1);
  syscall(SYS_rt_sigqueueinfo, getpid(), SIGRTMIN, &si);
  si = queued(22, 2);
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
  si = queued(33, 3);
  syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR2, &si);
  struct signalfd_siginfo ssi;
  ssize_t n = read(fd, &ssi, sizeof ssi);
  printf("signalfd %d: ssi_errno %d ssi_code %d ssi_int %d\n", n == sizeof ssi, ssi.ssi_errno,
         ssi.ssi_code, ssi.ssi_int);
  close(fd);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void id_cases(void) {
  siginfo_t si = info(SI_QUEUE, 0, 4242, 777, 1);
  long r = syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, &si);
  printf("rt_sigqueueinfo %ld: si_pid %d si_uid %d si_code %d\n", r, got_pid, got_uid, got_code);

  si = info(SI_TIMER, 0, 99, 3, 2);  /* a timer's layout: tid and overrun slots, as written */
  r = syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGRTMIN, &si);
  printf("rt_tgsigqueueinfo SI_TIMER %ld: si_pid %d si_uid %d si_code %d\n", r, got_pid,
         got_uid, got_code);

  si = info(SI_MESGQ, 0, -7, 0xfffffffeu, 3);
  r = syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGRTMIN, &si);
  printf("rt_tgsigqueueinfo SI_MESGQ %ld: si_pid %d si_uid %d si_code %d\n", r, got_pid,
         got_uid, got_code);

  kill(getpid(), SIGUSR1);
  printf("kill: si_pid is getpid %d si_uid is getuid %d\n", got_pid == getpid(),
         got_uid == (int)getuid());

  /* blocked: taken by sigtimedwait, then by a signalfd */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGRTMIN);
  sigprocmask(SIG_BLOCK, &set, NULL);
  si = info(SI_QUEUE, 0, 1, 2, 4);
  syscall(SYS_rt_sigqueueinfo, getpid(), SIGRTMIN, &si);
  siginfo_t out;
  int s = sigtimedwait(&set, &out, NULL);
  printf("sigtimedwait %d: si_pid %d si_uid %d\n", s == SIGRTMIN, out.si_pid, (int)out.si_uid);
  si = info(SI_QUEUE, 0, 31337, 4000000000u, 5);
  syscall(SYS_rt_sigqueueinfo, getpid(), SIGRTMIN, &si);
  int fd = signalfd(-1, &set, 0);
  struct signalfd_siginfo ssi;
  ssize_t n = read(fd, &ssi, sizeof ssi);
  printf("signalfd %d: ssi_pid %u ssi_uid %u\n", n == (ssize_t)sizeof ssi, ssi.ssi_pid,
         ssi.ssi_uid);
  sigprocmask(SIG_UNBLOCK, &set, NULL);

  /* a child queues to its parent, naming some other process as the sender */
  got_pid = -1;
  fflush(stdout);
  pid_t c = fork();
  if (c == 0) {
    si = info(SI_QUEUE, 0, 12345, 54321, 6);
    syscall(SYS_rt_sigqueueinfo, getppid(), SIGUSR1, &si);
    _exit(0);
  }
  int st;
  waitpid(c, &st, 0);
  printf("from a child: si_pid %d si_uid %d\n", got_pid, got_uid);

  /* to a child in a new pid namespace, where the sender has no pid: si_pid 0, si_uid kept */
  sigset_t two;
  sigemptyset(&two);
  sigaddset(&two, SIGUSR2);
  sigprocmask(SIG_BLOCK, &two, NULL);
  printf("unshare(CLONE_NEWPID) %d\n", unshare(CLONE_NEWPID));
  fflush(stdout);
  c = fork();
  if (c == 0) {
    siginfo_t in;
    int g = sigwaitinfo(&two, &in);
    printf("in the new namespace (pid %d): signal %d si_pid %d si_uid %d\n", getpid(),
           g == SIGUSR2, in.si_pid, (int)in.si_uid);
    fflush(stdout);
    _exit(0);
  }
  si = info(SI_QUEUE, 0, 4242, 77, 7);
  r = syscall(SYS_rt_sigqueueinfo, c, SIGUSR2, &si);
  waitpid(c, &st, 0);
  printf("queued into it %ld\n", r);
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sig;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGRTMIN, &sa, NULL);
  errno_cases();
  id_cases();  /* last: it leaves the process in a new pid namespace for its children */
  return 0;
}
