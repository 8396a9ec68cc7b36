/* pidfd_open(tid, PIDFD_THREAD) (Linux 6.9+): a pidfd for one thread, readable once that thread
 * exits while its process lives on; without the flag a thread that is not the leader gives
 * ENOENT (6.15+); a leader's thread pidfd waits for the whole group; a thread pidfd signals its
 * thread. Build with -pthread. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PIDFD_THREAD 0200  /* O_EXCL */
#define PIDFD_SIGNAL_THREAD 1

static atomic_int tid, stop, got_signal_in;

static void on_usr1(int sig) {
    (void)sig;
    got_signal_in = (int)syscall(SYS_gettid);
}

static void *sibling(void *arg) {
    (void)arg;
    tid = (int)syscall(SYS_gettid);
    while (!stop)
        usleep(1000);
    return NULL;
}

static int ready(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, 0);
    return n < 0 ? -errno : p.revents;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGUSR1, on_usr1);
    pthread_t th;
    pthread_create(&th, NULL, sibling, NULL);
    while (!tid)
        usleep(1000);
    errno = 0;
    long r = syscall(SYS_pidfd_open, tid, 0);
    printf("pidfd_open thread without the flag: %ld errno %d\n", r, r < 0 ? errno : 0);
    int tfd = syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
    int pfd = syscall(SYS_pidfd_open, getpid(), 0);
    int lfd = syscall(SYS_pidfd_open, getpid(), PIDFD_THREAD);
    printf("opened %d %d %d\n", tfd >= 0, pfd >= 0, lfd >= 0);
    printf("thread alive: thread %x process %x leader %x\n", ready(tfd), ready(pfd), ready(lfd));
    /* a thread pidfd signals its own thread */
    printf("send to thread %ld\n", syscall(SYS_pidfd_send_signal, tfd, SIGUSR1, NULL, 0));
    for (int i = 0; i < 1000 && !got_signal_in; i++)
        usleep(1000);
    printf("signal ran in the sibling %d\n", got_signal_in == tid);
    got_signal_in = 0;
    printf("send to leader thread %ld\n",
           syscall(SYS_pidfd_send_signal, pfd, SIGUSR1, NULL, PIDFD_SIGNAL_THREAD));
    printf("signal ran in the leader %d\n", got_signal_in == getpid());
    stop = 1;
    pthread_join(th, NULL);
    struct pollfd p = {.fd = tfd, .events = POLLIN};
    int n = poll(&p, 1, 5000);
    printf("thread exited: poll %d revents has POLLIN %d\n", n, !!(p.revents & POLLIN));
    printf("process and leader pidfds still quiet: %x %x\n", ready(pfd), ready(lfd));
    return 0;
}
