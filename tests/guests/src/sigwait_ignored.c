/* sigtimedwait and ignored signals: an ignored signal the mask did not block before the wait is
 * dropped when sent (sig_ignored looks at blocked and real_blocked), so the wait times out; one
 * the mask blocked is queued and taken. Output must match native. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pid_t waiter;

static void *sender(void *arg) {
    struct timespec d = {0, 50 * 1000 * 1000};
    nanosleep(&d, 0);
    syscall(SYS_tgkill, getpid(), waiter, (int)(long)arg);
    return 0;
}

static void wait_for(int sig, int block_first, void (*disposition)(int), const char *what) {
    signal(sig, disposition);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(block_first ? SIG_BLOCK : SIG_UNBLOCK, &set, 0);
    waiter = syscall(SYS_gettid);
    pthread_t t;
    pthread_create(&t, 0, sender, (void *)(long)sig);
    struct timespec timeout = {0, 400 * 1000 * 1000};
    int r;
    do
        r = sigtimedwait(&set, 0, &timeout);
    while (r < 0 && errno == EINTR);
    printf("%s: %s\n", what, r < 0 ? strerror(errno) : strsignal(r));
    pthread_join(t, 0);
    sigprocmask(SIG_UNBLOCK, &set, 0);
}

int main(void) {
    wait_for(SIGUSR1, 0, SIG_IGN, "ignored, unblocked");
    wait_for(SIGUSR2, 1, SIG_IGN, "ignored, blocked");
    wait_for(SIGCHLD, 0, SIG_DFL, "SIGCHLD at its default (ignore), unblocked");
    wait_for(SIGCHLD, 1, SIG_DFL, "SIGCHLD at its default (ignore), blocked");
    return 0;
}
