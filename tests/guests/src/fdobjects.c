/* File-descriptor objects: timerfd, signalfd, eventfd, pidfd, memfd seals, close_range, inotify.
 * argv[1] names the object; each section prints what Linux answers (counts and errnos, never
 * times, which differ from run to run). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
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
#include <sys/time.h>
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

/* the lines of /proc/self/fdinfo/FD that start with one of the prefixes */
static void fdinfo(int fd, const char *const *prefixes) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    if (!f) { printf("fdinfo: open errno %d\n", errno); return; }
    while (fgets(line, sizeof line, f))
        for (const char *const *p = prefixes; *p; p++)
            if (!strncmp(line, *p, strlen(*p))) { printf("fdinfo %s", line); break; }
    fclose(f);
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
    fdinfo(fd, (const char *const[]){"pos:", "flags:", "clockid:", "ticks:", "settime flags:", "it_interval:", NULL});
    T("gettime", timerfd_gettime(fd, &cur));
    printf("value >95s %d interval %ld\n", cur.it_value.tv_sec >= 95, (long)cur.it_interval.tv_sec);
    its.it_value.tv_sec = 5; its.it_value.tv_nsec = 0; its.it_interval.tv_sec = 0; its.it_interval.tv_nsec = 0;
    T("settime 5s one-shot", timerfd_settime(fd, 0, &its, &old));
    printf("old value >90s %d old interval %ld\n", old.it_value.tv_sec >= 90, (long)old.it_interval.tv_sec);
    struct pollfd p = {fd, POLLIN, 0};
    T("poll before", poll(&p, 1, 0));
    its.it_value.tv_sec = 0; its.it_value.tv_nsec = 30000000;
    T("settime 30ms one-shot", timerfd_settime(fd, 0, &its, &old));
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
    fdinfo(fd, (const char *const[]){"ticks: 0", "it_interval:", NULL});
    T("read periodic", read(fd, &ticks, 8));
    printf("ticks >= 5: %d\n", ticks >= 5);
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
    fdinfo(fd, (const char *const[]){"pos:", "flags:", "sigmask:", NULL});
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

static int eventfd_section(void) {
    T("eventfd2 bad flags", syscall(SYS_eventfd2, 0, 0x40));
    int fd = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
    fdinfo(fd, (const char *const[]){"pos:", "flags:", "eventfd-count:", "eventfd-semaphore:", NULL});
    uint64_t v = 0;
    for (int i = 0; i < 4; i++) { T("sem read", read(fd, &v, 8)); printf("v %llu\n", (unsigned long long)v); }
    v = 0xffffffffffffffffULL;
    T("write max", write(fd, &v, 8));
    v = 0xfffffffffffffffeULL;
    T("write max-1", write(fd, &v, 8));
    v = 1;
    T("write overflow", write(fd, &v, 8));
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    T("poll full", poll(&p, 1, 0));
    printf("revents %x\n", p.revents);
    T("write short", write(fd, &v, 4));
    uint64_t big[4] = {1, 0, 0, 0};
    T("write big", write(fd, big, sizeof big));
    T("read short", read(fd, &v, 4));
    close(fd);
    fd = eventfd(0, 0);
    p.fd = fd;
    T("poll zero", poll(&p, 1, 0));
    printf("revents %x\n", p.revents);
    pid_t c = fork();
    if (c == 0) { msleep(50); uint64_t one = 5; write(fd, &one, 8); _exit(0); }
    T("blocking read", read(fd, &v, 8));
    printf("v %llu\n", (unsigned long long)v);
    waitpid(c, NULL, 0);
    /* a blocking write waits for room */
    v = 0xfffffffffffffffeULL;
    write(fd, &v, 8);
    c = fork();
    if (c == 0) { msleep(50); uint64_t x; read(fd, &x, 8); _exit(0); }
    v = 2;
    T("blocking write", write(fd, &v, 8));
    waitpid(c, NULL, 0);
    T("read", read(fd, &v, 8));
    printf("v %llu\n", (unsigned long long)v);
    char path[64], link[64] = {0};
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    readlink(path, link, sizeof link - 1);
    printf("link %s\n", link);
    return 0;
}

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_DETACHED
#define CLONE_DETACHED 0x00400000
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#define SYS_pidfd_send_signal 424
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int pidfd_section(void) {
    T("open bad flags", syscall(SYS_pidfd_open, getpid(), 1));
    T("open pid 0", syscall(SYS_pidfd_open, 0, 0));
    T("open missing", syscall(SYS_pidfd_open, 999999, 0));
    int self = syscall(SYS_pidfd_open, getpid(), 0);
    printf("self ok %d cloexec %d\n", self >= 0, (fcntl(self, F_GETFD) & FD_CLOEXEC) != 0);
    T("send_signal 0", syscall(SYS_pidfd_send_signal, self, 0, NULL, 0));
    T("send_signal bad flags", syscall(SYS_pidfd_send_signal, self, 0, NULL, 8));
    T("send_signal not pidfd", syscall(SYS_pidfd_send_signal, 1, 0, NULL, 0));
    T("send_signal bad sig", syscall(SYS_pidfd_send_signal, self, 99, NULL, 0));
    T("getfd bad flags", syscall(SYS_pidfd_getfd, self, 1, 1));
    T("getfd closed fd", syscall(SYS_pidfd_getfd, self, 77, 0));
    int dup1 = syscall(SYS_pidfd_getfd, self, 1, 0);
    printf("getfd ok %d cloexec %d\n", dup1 >= 0, (fcntl(dup1, F_GETFD) & FD_CLOEXEC) != 0);
    struct pollfd p = {self, POLLIN, 0};
    T("poll self", poll(&p, 1, 0));

    int pipefd[2];
    pipe(pipefd);
    pid_t c = fork();
    if (c == 0) { char b; read(pipefd[0], &b, 1); _exit(7); }
    int pfd = syscall(SYS_pidfd_open, c, PIDFD_NONBLOCK);
    {
        char path[64], line[128];
        snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pfd);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, "Pid:", 4)) printf("fdinfo Pid is the child %d\n", atoi(line + 5) == c);
        if (f) fclose(f);
    }
    p.fd = pfd;
    T("poll running", poll(&p, 1, 0));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    T("waitid nonblock running", waitid(P_PIDFD, pfd, &si, WEXITED));
    /* the child's fd 0 duplicated here */
    int got = syscall(SYS_pidfd_getfd, pfd, pipefd[0], 0);
    struct stat a, b;
    fstat(got, &a); fstat(pipefd[0], &b);
    printf("getfd same pipe %d\n", a.st_ino == b.st_ino);
    write(pipefd[1], "x", 1);
    T("poll exit", poll(&p, 1, 5000));
    printf("revents %x\n", p.revents);
    T("getfd of a zombie", syscall(SYS_pidfd_getfd, pfd, 0, 0));
    memset(&si, 0, sizeof si);
    T("waitid pidfd", waitid(P_PIDFD, pfd, &si, WEXITED));
    printf("si_pid ok %d status %d code %d\n", si.si_pid == c, si.si_status, si.si_code);
    T("poll reaped", poll(&p, 1, 0));
    printf("revents %x\n", p.revents);
    T("send_signal reaped", syscall(SYS_pidfd_send_signal, pfd, SIGTERM, NULL, 0));
    T("waitid reaped", waitid(P_PIDFD, pfd, &si, WEXITED));
    T("waitid not a pidfd", waitid(P_PIDFD, 1, &si, WEXITED));

    /* kill through a pidfd, wait for it with a blocking poll */
    c = fork();
    if (c == 0) { for (;;) pause(); }
    pfd = syscall(SYS_pidfd_open, c, 0);
    T("send_signal SIGTERM", syscall(SYS_pidfd_send_signal, pfd, SIGTERM, NULL, 0));
    p.fd = pfd;
    T("poll killed", poll(&p, 1, 5000));
    memset(&si, 0, sizeof si);
    T("waitid", waitid(P_PIDFD, pfd, &si, WEXITED));
    printf("code %d status %d\n", si.si_code, si.si_status);

    /* CLONE_PIDFD through clone3 */
    struct { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls; } args;
    memset(&args, 0, sizeof args);
    int cpidfd = -1;
    args.flags = CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&cpidfd;
    args.exit_signal = SIGCHLD;
    long r = syscall(SYS_clone3, &args, sizeof args);
    if (r == 0) _exit(3);
    printf("clone3 ok %d pidfd ok %d cloexec %d\n", r > 0, cpidfd >= 0, (fcntl(cpidfd, F_GETFD) & FD_CLOEXEC) != 0);
    memset(&si, 0, sizeof si);
    T("waitid clone3 pidfd", waitid(P_PIDFD, cpidfd, &si, WEXITED));
    printf("si_pid ok %d status %d\n", si.si_pid == r, si.si_status);
    args.flags = CLONE_PIDFD | CLONE_DETACHED;
    T("clone3 pidfd detached", syscall(SYS_clone3, &args, sizeof args));
    /* legacy clone: pidfd and parent_tid share a register */
    T("clone pidfd+settid", syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &cpidfd, 0, 0));
    return 0;
}

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

static int memfd_section(void) {
    T("bad flags", memfd_create("x", 0x100));
    int fd = memfd_create("sealed", MFD_ALLOW_SEALING | MFD_CLOEXEC);
    printf("cloexec %d\n", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    T("get seals", fcntl(fd, F_GET_SEALS));
    T("write", write(fd, "hello world", 11));
    T("seal shrink", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
    T("truncate smaller", ftruncate(fd, 5));
    T("truncate larger", ftruncate(fd, 20));
    T("seal grow", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
    T("truncate larger sealed", ftruncate(fd, 40));
    T("truncate same", ftruncate(fd, 20));
    T("pwrite inside", pwrite(fd, "HE", 2, 0));
    T("pwrite past end", pwrite(fd, "xyz", 3, 19));
    T("fallocate past end", fallocate(fd, 0, 0, 100));
    T("seal bad bits", fcntl(fd, F_ADD_SEALS, 0x1000));
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("map ok %d\n", m != MAP_FAILED);
    T("seal write while mapped", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    munmap(m, 4096);
    T("seal write", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    T("get seals", fcntl(fd, F_GET_SEALS));
    T("write sealed", write(fd, "x", 1));
    T("map shared writable sealed", mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0);
    m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    printf("map shared ro ok %d\n", m != MAP_FAILED);
    T("mprotect writable", mprotect(m, 4096, PROT_READ | PROT_WRITE));
    void *pm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    printf("map private ok %d\n", pm != MAP_FAILED);
    char buf[32] = {0};
    T("pread", pread(fd, buf, sizeof buf - 1, 0));
    printf("data %.20s\n", buf);
    T("seal seal", fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL));
    T("seal after seal", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
    int ro = open("/proc/self/fd/3", O_RDONLY);
    (void)ro;
    int plain = memfd_create("plain", 0);
    T("plain get seals", fcntl(plain, F_GET_SEALS));
    T("plain add seals", fcntl(plain, F_ADD_SEALS, F_SEAL_WRITE));
    T("pipe get seals", fcntl(0, F_GET_SEALS));
    int fw = memfd_create("fw", MFD_ALLOW_SEALING);
    write(fw, "abc", 3);
    void *wm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fw, 0);
    T("seal future write while mapped", fcntl(fw, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
    memcpy(wm, "XY", 2);
    T("write future sealed", write(fw, "q", 1));
    msync(wm, 4096, MS_SYNC);
    memset(buf, 0, sizeof buf);
    pread(fw, buf, 3, 0);
    printf("through old mapping %s\n", buf);
    char link[64] = {0}, path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fw);
    readlink(path, link, sizeof link - 1);
    printf("link %s\n", link);
    return 0;
}

static int closerange_section(void) {
    int base = open("/dev/null", O_RDONLY);
    for (int i = 0; i < 6; i++) dup2(base, 10 + i);
    T("bad flags", syscall(SYS_close_range, 10, 20, 8));
    T("first > last", syscall(SYS_close_range, 20, 10, 0));
    T("cloexec", syscall(SYS_close_range, 10, 12, 4 /* CLOSE_RANGE_CLOEXEC */));
    for (int i = 10; i < 16; i++) printf("fd %d flags %d\n", i, fcntl(i, F_GETFD));
    T("close", syscall(SYS_close_range, 13, 14, 0));
    for (int i = 10; i < 16; i++) printf("fd %d open %d\n", i, fcntl(i, F_GETFD) >= 0);
    T("unshare", syscall(SYS_close_range, 15, ~0U, 2 /* CLOSE_RANGE_UNSHARE */));
    printf("fd 15 open %d\n", fcntl(15, F_GETFD) >= 0);
    T("empty range", syscall(SYS_close_range, 500, 600, 0));
    return 0;
}

/* The queued events; with ``prefix``, watch ``busy_wd`` (a directory of the host that other
 * programs change meanwhile) shows only the names that start so, and no FIONREAD. */
static void show_events_of(int fd, const char *prefix, int busy_wd) {
    char buf[16384] __attribute__((aligned(8)));
    int avail = 0;
    ioctl(fd, FIONREAD, &avail);
    if (!prefix) printf("FIONREAD %d\n", avail);
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) { printf("read -1 errno %d\n", errno); return; }
    for (char *p = buf; p < buf + n;) {
        struct inotify_event *e = (struct inotify_event *)p;
        const char *name = e->len ? e->name : "";
        if (prefix && e->wd == busy_wd && strncmp(name, prefix, strlen(prefix))) {
            p += sizeof *e + e->len;
            continue;
        }
        if (!strncmp(name, "ecs-in-", 7)) name = "ecs-in-PID";  /* pids differ */
        printf("  wd %d mask %08x cookie %s len %u name '%s'\n", e->wd, e->mask,
               e->cookie ? "set" : "0", e->len, name);
        p += sizeof *e + e->len;
    }
}

static void show_events(int fd) { show_events_of(fd, NULL, 0); }

static int inotify_section(void) {
    char dir[64], overlay[64];
    snprintf(dir, sizeof dir, "/tmp/in-%d", (int)getpid());
    snprintf(overlay, sizeof overlay, "/var/tmp/ecs-in-%d", (int)getpid());
    mkdir(dir, 0755);
    chdir(dir);
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    printf("cloexec %d\n", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    T("init1 bad flags", inotify_init1(0x40));
    T("add no events", inotify_add_watch(fd, dir, 0));
    T("add add+create", inotify_add_watch(fd, dir, IN_MODIFY | IN_MASK_ADD | IN_MASK_CREATE));
    T("add missing", inotify_add_watch(fd, "none", IN_MODIFY));
    T("add not inotify", inotify_add_watch(1, dir, IN_MODIFY));
    T("add bad fd", inotify_add_watch(77, dir, IN_MODIFY));
    int wd = inotify_add_watch(fd, dir, IN_ALL_EVENTS & ~(IN_ACCESS | IN_OPEN | IN_CLOSE_NOWRITE));
    printf("wd %d\n", wd);
    T("add again same wd", inotify_add_watch(fd, dir, IN_CREATE | IN_DELETE | IN_MODIFY | IN_MOVE | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE_SELF) == wd);
    T("mask create on existing", inotify_add_watch(fd, dir, IN_MODIFY | IN_MASK_CREATE));
    T("onlydir on a file", inotify_add_watch(fd, "/etc/hostname", IN_MODIFY | IN_ONLYDIR));
    T("read empty", read(fd, &wd, 4));
    int f = open("a", O_CREAT | O_WRONLY, 0644);
    write(f, "one", 3);
    write(f, "two", 3);   /* merged with the previous IN_MODIFY */
    close(f);
    char small[8];
    T("read too small", read(fd, small, sizeof small));
    show_events(fd);
    T("read drained", read(fd, small, sizeof small));
    fdinfo(fd, (const char *const[]){"pos:", "flags:", NULL});
    int fw = inotify_add_watch(fd, "a", IN_MODIFY | IN_ATTRIB | IN_ONESHOT);
    printf("file wd %d\n", fw);
    f = open("a", O_WRONLY | O_APPEND);
    write(f, "3", 1);
    write(f, "4", 1);
    close(f);
    chmod("a", 0600);
    show_events(fd);
    rename("a", "b");
    mkdir("sub", 0755);
    rmdir("sub");
    symlink("b", "l");
    link("b", "h");
    unlink("h");
    unlink("l");
    truncate("b", 1);
    show_events(fd);
    /* a watch on the file itself, removed by rm_watch */
    int w2 = inotify_add_watch(fd, "b", IN_MODIFY | IN_DELETE_SELF);
    T("rm_watch", inotify_rm_watch(fd, w2));
    T("rm_watch again", inotify_rm_watch(fd, w2));
    T("rm_watch not inotify", inotify_rm_watch(1, w2));
    show_events(fd);
    /* attribute changes through an fd, and nothing for a failed truncate */
    {
        int af = open("b", O_RDWR);
        int aw = inotify_add_watch(fd, "b", IN_ATTRIB | IN_MODIFY);
        struct timeval tv2[2] = {{1, 0}, {2, 0}};
        futimes(af, tv2);
        fchmod(af, 0640);
        fchown(af, getuid(), getgid());
        ftruncate(af, 9);
        T("ftruncate -1", ftruncate(af, -1));
        show_events(fd);
        inotify_rm_watch(fd, aw);
        close(af);
        show_events(fd);
    }
    /* IN_MASK_ADD keeps the old bits */
    w2 = inotify_add_watch(fd, "b", IN_ATTRIB);
    inotify_add_watch(fd, "b", IN_DELETE_SELF | IN_MASK_ADD);
    chmod("b", 0644);
    unlink("b");
    show_events(fd);
    /* blocking read woken by another process, and epoll readiness */
    int bfd = inotify_init();
    inotify_add_watch(bfd, dir, IN_CREATE);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 5}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, bfd, &ev);
    T("epoll none", epoll_wait(ep, &out, 1, 0));
    pid_t c = fork();
    if (c == 0) { msleep(50); close(open("child", O_CREAT | O_WRONLY, 0600)); _exit(0); }
    T("epoll wait", epoll_wait(ep, &out, 1, 5000));
    show_events(bfd);
    waitpid(c, NULL, 0);
    c = fork();
    if (c == 0) { msleep(50); mkdir("d2", 0700); _exit(0); }
    char buf[256];
    T("blocking read", read(bfd, buf, sizeof buf));
    struct inotify_event *e = (struct inotify_event *)buf;
    printf("mask %08x name %s\n", e->mask, e->name);
    waitpid(c, NULL, 0);
    unlink("child"); rmdir("d2"); chdir("/"); rmdir(dir);
    /* the overlay: a directory of the host's root view (/var/tmp) */
    mkdir(overlay, 0755);
    int ofd = inotify_init1(IN_NONBLOCK);
    int ow = inotify_add_watch(ofd, "/var/tmp", IN_CREATE | IN_DELETE | IN_MODIFY | IN_ONLYDIR);
    printf("var/tmp wd %d\n", ow);
    int ow2 = inotify_add_watch(ofd, overlay, IN_CREATE | IN_MOVE | IN_DELETE_SELF);
    chdir(overlay);
    close(open("f", O_CREAT | O_WRONLY, 0644));
    rename("f", "g");
    unlink("g");
    chdir("/");
    rmdir(overlay);
    show_events_of(ofd, "ecs-in-", ow);  /* /var/tmp's other entries change under other programs */
    printf("ow2 %d\n", ow2);
    return 0;
}

static volatile sig_atomic_t alarms;
static void on_alarm(int s) { (void)s; alarms++; }

/* ppoll, pselect6 and epoll_pwait with a signal mask for the call; the time left written back */
static int pwait_section(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct timespec ts = {0, 50000000};
    sigset_t mask, cur;
    sigemptyset(&mask);
    T("ppoll bad size", syscall(SYS_ppoll, NULL, 0, &ts, &mask, 16));
    T("ppoll timeout", syscall(SYS_ppoll, NULL, 0, &ts, NULL, 8));
    printf("left %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
    /* SIGALRM blocked for the call only: the timeout ends it, the handler runs after */
    sigaddset(&mask, SIGALRM);
    ts.tv_sec = 0; ts.tv_nsec = 300000000;
    ualarm(50000, 0);
    T("ppoll alarm blocked", syscall(SYS_ppoll, NULL, 0, &ts, &mask, 8));
    printf("alarms %d left %ld.%09ld\n", (int)alarms, (long)ts.tv_sec, ts.tv_nsec);
    sigprocmask(SIG_SETMASK, NULL, &cur);
    printf("mask restored %d\n", !sigismember(&cur, SIGALRM));
    /* SIGALRM blocked outside, allowed by the call's mask: EINTR with time left */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, NULL);
    sigemptyset(&mask);
    ts.tv_sec = 5; ts.tv_nsec = 0;
    ualarm(50000, 0);
    T("ppoll alarm allowed", syscall(SYS_ppoll, NULL, 0, &ts, &mask, 8));
    printf("alarms %d time left > 4s %d\n", (int)alarms, ts.tv_sec >= 4);
    sigprocmask(SIG_SETMASK, NULL, &cur);
    printf("blocked again %d\n", sigismember(&cur, SIGALRM));
    /* pselect6 */
    struct { const sigset_t *ss; size_t len; } arg = {&mask, 16};
    ts.tv_sec = 0; ts.tv_nsec = 20000000;
    T("pselect bad size", syscall(SYS_pselect6, 0, NULL, NULL, NULL, &ts, &arg));
    arg.len = 8;
    ualarm(50000, 0);
    ts.tv_sec = 5; ts.tv_nsec = 0;
    T("pselect alarm allowed", syscall(SYS_pselect6, 0, NULL, NULL, NULL, &ts, &arg));
    printf("alarms %d time left > 4s %d\n", (int)alarms, ts.tv_sec >= 4);
    struct timeval tv = {0, 30000};
    T("select timeout", select(0, NULL, NULL, NULL, &tv));
    printf("select left %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
    /* epoll_pwait */
    int ep = epoll_create1(0);
    struct epoll_event ev;
    T("epoll_pwait bad size", syscall(SYS_epoll_pwait, ep, &ev, 1, 10, &mask, 16));
    ualarm(50000, 0);
    T("epoll_pwait alarm allowed", epoll_pwait(ep, &ev, 1, 5000, &mask));
    printf("alarms %d\n", (int)alarms);
    sigprocmask(SIG_SETMASK, NULL, &cur);
    printf("blocked again %d\n", sigismember(&cur, SIGALRM));
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "timerfd")) return timerfd_section();
    if (!strcmp(what, "signalfd")) return signalfd_section();
    if (!strcmp(what, "eventfd")) return eventfd_section();
    if (!strcmp(what, "pidfd")) return pidfd_section();
    if (!strcmp(what, "memfd")) return memfd_section();
    if (!strcmp(what, "closerange")) return closerange_section();
    if (!strcmp(what, "inotify")) return inotify_section();
    if (!strcmp(what, "pwait")) return pwait_section();
    fprintf(stderr, "usage: fdobjects timerfd|signalfd|eventfd|pidfd|memfd|closerange|inotify\n");
    return 2;
}
