/* POSIX message queues between processes: priorities, blocking, timeouts, poll, mq_notify.
 * Names carry the pid so native runs do not meet each other's queues. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static void say(const char *what, long r) {
    if (r < 0) printf("%s = -1 %s\n", what, errname(errno));
    else printf("%s = %ld\n", what, r);
    fflush(stdout);
}

static void nap(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int status_of(pid_t pid) {
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static volatile sig_atomic_t got_signo, got_code;
static volatile int got_value;
static void on_sig(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    got_signo = sig;
    got_code = si->si_code;
    got_value = si->si_value.sival_int;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    char name[64], other[64];
    snprintf(name, sizeof name, "/ecs-mq-%d", getpid());
    snprintf(other, sizeof other, "/ecs-mq-%d-b", getpid());
    struct mq_attr attr = {0, 4, 32, 0};
    mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    say("mq_open", q < 0 ? -1 : 0);
    say("cloexec", fcntl(q, F_GETFD) & FD_CLOEXEC);
    say("mq_open excl", mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr));
    say("mq_open missing", mq_open(other, O_RDWR));
    struct mq_attr bad = {0, 0, 32, 0};
    say("mq_open maxmsg 0", mq_open(other, O_CREAT | O_RDWR, 0600, &bad));
    bad.mq_maxmsg = 100000;
    say("mq_open maxmsg huge", mq_open(other, O_CREAT | O_RDWR, 0600, &bad));
    say("mq_open bad name", mq_open("/a/b", O_CREAT | O_RDWR, 0600, NULL));
    struct mq_attr got;
    mq_getattr(q, &got);
    printf("attr flags=%ld maxmsg=%ld msgsize=%ld curmsgs=%ld\n", got.mq_flags, got.mq_maxmsg,
           got.mq_msgsize, got.mq_curmsgs);
    /* priorities: highest first, oldest first within one */
    say("send p1", mq_send(q, "one", 4, 1));
    say("send p5", mq_send(q, "five", 5, 5));
    say("send p1 again", mq_send(q, "one-b", 6, 1));
    say("send p3", mq_send(q, "three", 6, 3));
    struct pollfd pfd = {q, POLLIN | POLLOUT, 0};
    poll(&pfd, 1, 0);
    printf("poll full: in=%d out=%d\n", !!(pfd.revents & POLLIN), !!(pfd.revents & POLLOUT));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
    say("timedsend full", mq_timedsend(q, "x", 2, 0, &ts));
    say("send too long", mq_send(q, "x", 33, 0));
    say("send prio too high", mq_send(q, "x", 2, 40000));
    char buf[64];
    unsigned prio;
    for (int i = 0; i < 4; i++) {
        long n = mq_receive(q, buf, sizeof buf, &prio);
        printf("receive %ld prio %u '%s'\n", n, prio, buf);
    }
    say("receive small buffer", mq_receive(q, buf, 8, &prio));
    struct mq_attr nb = {O_NONBLOCK, 0, 0, 0}, old;
    say("setattr nonblock", mq_setattr(q, &nb, &old));
    say("receive empty nonblock", mq_receive(q, buf, sizeof buf, &prio));
    nb.mq_flags = 0;
    mq_setattr(q, &nb, NULL);
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
    say("timedreceive empty", mq_timedreceive(q, buf, sizeof buf, &prio, &ts));
    ts.tv_nsec = 2000000000;
    say("timedreceive bad timeout", mq_timedreceive(q, buf, sizeof buf, &prio, &ts));
    char st[128] = {0};
    long n = read(q, st, sizeof st - 1);
    printf("status read %ld: %s", n, st);

    /* a receiver blocks until another process sends */
    pid_t c = fork();
    if (c == 0) {
        mqd_t cq = mq_open(name, O_RDONLY);
        long r = mq_receive(cq, buf, sizeof buf, &prio);
        printf("child: %ld prio %u '%s'\n", r, prio, buf);
        fflush(stdout);
        _exit(0);
    }
    nap(100);
    mq_send(q, "wake up", 8, 7);
    printf("child exit %d\n", status_of(c));

    /* a sender blocks on a full queue until a receive makes room */
    for (int i = 0; i < 4; i++) mq_send(q, "fill", 5, 0);
    c = fork();
    if (c == 0) {
        mqd_t cq = mq_open(name, O_WRONLY);
        int r = mq_send(cq, "late", 5, 9);
        printf("child: send %d\n", r);
        fflush(stdout);
        _exit(0);
    }
    nap(100);
    mq_getattr(q, &got);
    printf("curmsgs while the sender waits=%ld\n", got.mq_curmsgs);
    mq_receive(q, buf, sizeof buf, &prio);
    printf("child exit %d\n", status_of(c));
    n = mq_receive(q, buf, sizeof buf, &prio);
    printf("next %ld prio %u '%s'\n", n, prio, buf);
    while (mq_getattr(q, &got) == 0 && got.mq_curmsgs > 0) mq_receive(q, buf, sizeof buf, &prio);

    /* mq_notify: a signal when a message reaches the empty queue, once */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sig;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR1;
    sev.sigev_value.sival_int = 4242;
    say("mq_notify", mq_notify(q, &sev));
    c = fork();
    if (c == 0) {
        mqd_t cq = mq_open(name, O_RDWR);
        say("child: mq_notify busy", mq_notify(cq, &sev));
        mq_send(cq, "ping", 5, 0);
        _exit(0);
    }
    printf("child exit %d\n", status_of(c));
    for (int i = 0; i < 100 && !got_signo; i++) nap(5);
    printf("signal %d code_is_mesgq=%d value=%d\n", got_signo, got_code == SI_MESGQ, got_value);
    got_signo = 0;
    mq_send(q, "pong", 5, 0);
    nap(20);
    printf("second send signals? %d\n", got_signo);
    say("mq_notify again", mq_notify(q, &sev));
    say("mq_notify remove", mq_notify(q, NULL));
    say("mq_unlink", mq_unlink(name));
    say("mq_unlink again", mq_unlink(name));
    n = mq_receive(q, buf, sizeof buf, &prio);
    printf("after unlink: %ld '%s'\n", n, buf);
    say("mq_close", mq_close(q));
    say("mq_send closed", mq_send(q, "x", 2, 0));
    return 0;
}
