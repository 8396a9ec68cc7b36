/* File-descriptor objects: timerfd, signalfd, eventfd, pidfd, memfd seals, close_range, inotify.
 * argv[1] names the object; each section prints what Linux answers (counts and errnos, never
 * times, which differ from run to run). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; printf("%s %ld errno %d\n", name, r_, r_ < 0 ? e_ : 0); } while (0)
#define OK(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; printf("%s %s errno %d\n", name, r_ >= 0 ? "ok" : "fail", r_ < 0 ? e_ : 0); } while (0)

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

static int timerfd_section(void) {
    T("create bad clock", timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0));
    T("create bad flags", timerfd_create(CLOCK_MONOTONIC, 0x40));
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    printf("created %d cloexec %d\n", fd >= 0, (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    uint64_t ticks = 0;
    T("read disarmed", read(fd, &ticks, 8));
    T("read short", read(fd, &ticks, 4));
    struct itimerspec its = {0}, old = {0}, cur = {0};
    T("gettime disarmed", timerfd_gettime(fd, &cur));
    printf("value %ld.%09ld interval %ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec, (long)cur.it_interval.tv_sec);
    its.it_value.tv_nsec = 1000000000L;
    T("settime bad nsec", timerfd_settime(fd, 0, &its, NULL));
    T("settime bad flags", timerfd_settime(fd, 0x10, &its, NULL));
    T("settime not a timerfd", timerfd_settime(1, 0, &its, NULL));
    T("settime bad fd", timerfd_settime(99, 0, &its, NULL));
    T("settime fault", timerfd_settime(fd, 0, (void *)8, NULL));
    its.it_value.tv_nsec = 0;
    its.it_value.tv_sec = 100;
    its.it_interval.tv_sec = 7;
    T("settime 100s", timerfd_settime(fd, 0, &its, &old));
    T("gettime", timerfd_gettime(fd, &cur));
    printf("value >95s %d interval %ld\n", cur.it_value.tv_sec >= 95, (long)cur.it_interval.tv_sec);
    its.it_value.tv_sec = 0; its.it_value.tv_nsec = 30000000; its.it_interval.tv_sec = 0; its.it_interval.tv_nsec = 0;
    T("settime 30ms one-shot", timerfd_settime(fd, 0, &its, &old));
    printf("old value >90s %d old interval %ld\n", old.it_value.tv_sec >= 90, (long)old.it_interval.tv_sec);
    struct pollfd p = {fd, POLLIN, 0};
    T("poll before", poll(&p, 1, 0));
    T("poll until expiry", poll(&p, 1, 5000));
    printf("revents %x\n", p.revents);
    T("read", read(fd, &ticks, 8));
    printf("ticks %llu\n", (unsigned long long)ticks);
    T("read again", read(fd, &ticks, 8));
    T("gettime expired", timerfd_gettime(fd, &cur));
    printf("value %ld.%09ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);

    /* periodic: 20 ms, sleep 130 ms: at least 5 expiries are counted by one read */
    its.it_value.tv_nsec = 20000000; its.it_interval.tv_nsec = 20000000;
    timerfd_settime(fd, 0, &its, NULL);
    msleep(130);
    T("read periodic", read(fd, &ticks, 8));
    printf("ticks >= 5: %d, <= 8: %d\n", ticks >= 5, ticks <= 8);
    T("gettime periodic", timerfd_gettime(fd, &cur));
    printf("value <= 20ms %d interval %ld\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec <= 20000000, cur.it_interval.tv_nsec);
    its.it_value.tv_nsec = 0; its.it_interval.tv_nsec = 0;
    T("disarm", timerfd_settime(fd, 0, &its, &old));
    printf("old interval %ld\n", old.it_interval.tv_nsec);
    msleep(30);
    T("read disarmed", read(fd, &ticks, 8));

    /* absolute CLOCK_REALTIME in the past: expires at once */
    int rfd = timerfd_create(CLOCK_REALTIME, 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    its.it_value.tv_sec = now.tv_sec - 10;
    T("settime abs past", timerfd_settime(rfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL));
    T("blocking read abs", read(rfd, &ticks, 8));
    printf("ticks %llu\n", (unsigned long long)ticks);
    clock_gettime(CLOCK_REALTIME, &now);
    its.it_value.tv_sec = now.tv_sec; its.it_value.tv_nsec = now.tv_nsec;
    its.it_value.tv_nsec += 40000000;
    if (its.it_value.tv_nsec >= 1000000000L) { its.it_value.tv_sec++; its.it_value.tv_nsec -= 1000000000L; }
    T("settime abs +40ms", timerfd_settime(rfd, TFD_TIMER_ABSTIME, &its, NULL));
    T("blocking read", read(rfd, &ticks, 8));
    printf("ticks %llu\n", (unsigned long long)ticks);

    /* epoll sees it, blocking epoll_wait wakes at the expiry */
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42}, out[2];
    T("epoll add", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
    its.it_value.tv_sec = 0; its.it_value.tv_nsec = 25000000;
    timerfd_settime(fd, 0, &its, NULL);
    T("epoll_wait", epoll_wait(ep, out, 2, 5000));
    printf("data %llu events %x\n", (unsigned long long)out[0].data.u64, out[0].events);
    T("read", read(fd, &ticks, 8));

    /* BOOTTIME and the fd's link */
    int bfd = timerfd_create(CLOCK_BOOTTIME, 0);
    char link[64] = {0}, path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", bfd);
    T("readlink", readlink(path, link, sizeof link - 1));
    printf("link %s\n", link);
    T("lseek", lseek(bfd, 0, SEEK_SET));
    int efd = eventfd(0, 0);
    T("lseek eventfd", lseek(efd, 5, SEEK_SET));
    T("write", write(bfd, &ticks, 8));
    close(bfd); close(rfd); close(ep); close(fd);
    return 0;
}

static int signalfd_section(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &set, NULL);
    T("bad size old", syscall(SYS_signalfd, -1, &set, 16));
    T("bad size raw", syscall(SYS_signalfd4, -1, &set, 4, 0));
    T("bad flags", syscall(SYS_signalfd4, -1, &set, 8, 0x40));
    T("not a signalfd", signalfd(1, &set, 0));
    T("bad fd", signalfd(77, &set, 0));
    T("mask fault", signalfd(-1, (void *)8, 0));
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    printf("created %d cloexec %d\n", fd >= 0, (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    struct signalfd_siginfo si;
    T("read empty", read(fd, &si, sizeof si));
    T("read short", read(fd, &si, 100));
    struct pollfd p = {fd, POLLIN, 0};
    T("poll empty", poll(&p, 1, 0));
    kill(getpid(), SIGUSR1);
    T("poll pending", poll(&p, 1, 0));
    printf("revents %x\n", p.revents);
    union sigval v = {.sival_int = 77};
    sigqueue(getpid(), SIGRTMIN, v);
    sigqueue(getpid(), SIGRTMIN, (union sigval){.sival_int = 78});
    struct signalfd_siginfo many[4];
    T("read many", read(fd, many, sizeof many));
    for (int i = 0; i < 3; i++)
        printf("signo %u code %d pid ok %d uid %u int %d\n", many[i].ssi_signo, many[i].ssi_code,
               many[i].ssi_pid == (uint32_t)getpid(), many[i].ssi_uid, many[i].ssi_int);
    sigset_t pend;
    sigpending(&pend);
    printf("still pending %d\n", sigismember(&pend, SIGUSR1));

    /* a mask update: SIGUSR2 too (and SIGKILL, silently dropped) */
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGKILL);
    sigprocmask(SIG_BLOCK, &set, NULL);
    T("update", signalfd(fd, &set, 0) == fd);
    raise(SIGUSR2);
    T("read updated", read(fd, &si, sizeof si));
    printf("signo %u code %d\n", si.ssi_signo, si.ssi_code);

    /* a child's SIGCHLD */
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signalfd(fd, &set, 0);
    pid_t c = fork();
    if (c == 0) _exit(5);
    int bfd = signalfd(-1, &set, 0);
    T("blocking read chld", read(bfd, &si, sizeof si));
    printf("signo %u code %d pid ok %d status %d\n", si.ssi_signo, si.ssi_code, si.ssi_pid == (uint32_t)c, si.ssi_status);
    waitpid(c, NULL, 0);

    /* a child signals the parent blocked in read */
    pid_t parent = getpid();
    c = fork();
    if (c == 0) { msleep(50); kill(parent, SIGUSR1); _exit(0); }
    T("blocking read from another process", read(bfd, &si, sizeof si));
    printf("signo %u from child %d\n", si.ssi_signo, si.ssi_pid == (uint32_t)c);
    waitpid(c, NULL, 0);
    /* epoll readiness */
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 9}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    T("epoll nothing", epoll_wait(ep, &out, 1, 0));
    raise(SIGRTMIN);
    T("epoll ready", epoll_wait(ep, &out, 1, 1000));
    T("read", read(fd, &si, sizeof si));
    printf("signo-rtmin %d\n", (int)si.ssi_signo - SIGRTMIN);
    char link[64] = {0}, path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    readlink(path, link, sizeof link - 1);
    printf("link %s\n", link);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "timerfd")) return timerfd_section();
    if (!strcmp(what, "signalfd")) return signalfd_section();
    fprintf(stderr, "usage: fdobjects timerfd|signalfd|eventfd|pidfd|memfd|closerange|inotify\n");
    return 2;
}
