/* A process that blocks in turn reading a timerfd, a signalfd and an inotify instance (for
 * checkpoints taken while it waits): what it reads is the same whatever the timing. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec its = {{0, 0}, {0, 400000000}};
    timerfd_settime(tfd, 0, &its, NULL);
    uint64_t ticks = 0;
    ssize_t n = read(tfd, &ticks, 8);
    printf("timerfd read %zd ticks %llu\n", n, (unsigned long long)ticks);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, 0);
    pid_t parent = getpid();
    pid_t c = fork();
    if (c == 0) { msleep(400); kill(parent, SIGUSR1); _exit(0); }
    struct signalfd_siginfo si;
    n = read(sfd, &si, sizeof si);
    printf("signalfd read %zd signo %u from child %d\n", n, si.ssi_signo, si.ssi_pid == (uint32_t)c);
    waitpid(c, NULL, 0);

    mkdir("/tmp/w", 0755);
    int ifd = inotify_init();
    inotify_add_watch(ifd, "/tmp/w", IN_CREATE);
    c = fork();
    if (c == 0) { msleep(400); close(open("/tmp/w/new", O_CREAT | O_WRONLY, 0600)); _exit(0); }
    char buf[256];
    n = read(ifd, buf, sizeof buf);
    struct inotify_event *e = (struct inotify_event *)buf;
    printf("inotify read %zd mask %x name %s\n", n, e->mask, e->name);
    waitpid(c, NULL, 0);
    return 0;
}
