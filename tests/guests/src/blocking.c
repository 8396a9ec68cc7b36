/* Every blocking syscall at once: threads (and child processes) block in wait4, waitid, futex
   waits (with and without a timeout), nanosleep, clock_nanosleep, a pipe read, a write to a full
   pipe, poll, ppoll, select, pselect6, epoll_wait, pause, sigsuspend, rt_sigtimedwait (with and
   without a timeout), a read a handler interrupts with and without SA_RESTART, and a vfork
   parent. The main thread lets them all block (a 300 ms sleep: under ecs-kernel the tests stop the
   World there and find each as a row), then wakes each the Linux way (a child's exit, a futex
   wake, a timer, a pipe write or read, a signal) and prints what each call returned, in a fixed
   order. Output must match native Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FUTEX_WAIT_PRIVATE 128  /* linux/futex.h, which musl-gcc does not see */
#define FUTEX_WAKE_PRIVATE 129

enum { FUTEX, FUTEX_TIMED, NANOSLEEP, CLOCK_NANOSLEEP, READ, WRITE, POLL, PPOLL, SELECT, PSELECT,
       EPOLL, PAUSE, SIGSUSPEND, SIGTIMEDWAIT, SIGTIMEDWAIT_TIMED, READ_RESTART, READ_EINTR,
       WAIT4, WAITID, VFORK, N };
static const char *names[N] = {
    "futex", "futex-timed", "nanosleep", "clock_nanosleep", "read", "write", "poll", "ppoll",
    "select", "pselect6", "epoll_wait", "pause", "sigsuspend", "sigtimedwait",
    "sigtimedwait-timed", "read-restart", "read-eintr", "wait4", "waitid", "vfork"};

static long ret[N];
static int err[N];
static char detail[N][64];
static pid_t tid[N];
static volatile int started[N];
static uint32_t word, word_timed;
static int p_read[2], p_write[2], p_poll[2], p_ppoll[2], p_select[2], p_pselect[2], p_epoll[2],
    p_restart[2], p_eintr[2], p_wait4[2], p_waitid[2], p_vfork[2];
static volatile sig_atomic_t handled_usr1, handled_rt;

static void on_usr1(int s) { (void)s; handled_usr1++; }
static void on_rt(int s) { (void)s; handled_rt++; }

static long sys_futex(uint32_t *w, int op, uint32_t val, const struct timespec *ts) {
    return syscall(SYS_futex, w, op, val, ts, NULL, 0);
}

static void done(int i, long r) {
    ret[i] = r;
    err[i] = r < 0 ? errno : 0;
}

static void *blocker(void *arg) {
    int i = (int)(intptr_t)arg;
    tid[i] = (pid_t)syscall(SYS_gettid);
    started[i] = 1;
    char buf[16];
    struct timespec ts;
    switch (i) {
    case FUTEX:
        done(i, sys_futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL));
        break;
    case FUTEX_TIMED:
        ts.tv_sec = 0; ts.tv_nsec = 600 * 1000000L;
        done(i, sys_futex(&word_timed, FUTEX_WAIT_PRIVATE, 0, &ts));
        break;
    case NANOSLEEP:
        ts.tv_sec = 0; ts.tv_nsec = 500 * 1000000L;
        done(i, nanosleep(&ts, NULL));
        break;
    case CLOCK_NANOSLEEP:
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 500 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        errno = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        done(i, errno ? -1 : 0);
        break;
    case READ: {
        long r = read(p_read[0], buf, sizeof buf);
        done(i, r);
        if (r > 0) snprintf(detail[i], sizeof detail[i], "%.*s", (int)r, buf);
        break;
    }
    case WRITE:
        done(i, write(p_write[1], "w", 1));
        break;
    case POLL: {
        struct pollfd pf = {p_poll[0], POLLIN, 0};
        done(i, poll(&pf, 1, -1));
        snprintf(detail[i], sizeof detail[i], "revents %#x", pf.revents);
        break;
    }
    case PPOLL: {
        struct pollfd pf = {p_ppoll[0], POLLIN, 0};
        ts.tv_sec = 0; ts.tv_nsec = 500 * 1000000L;
        done(i, ppoll(&pf, 1, &ts, NULL));
        snprintf(detail[i], sizeof detail[i], "revents %#x", pf.revents);
        break;
    }
    case SELECT: {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(p_select[0], &r);
        done(i, select(p_select[0] + 1, &r, NULL, NULL, NULL));
        snprintf(detail[i], sizeof detail[i], "set %d", FD_ISSET(p_select[0], &r));
        break;
    }
    case PSELECT: {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(p_pselect[0], &r);
        ts.tv_sec = 0; ts.tv_nsec = 500 * 1000000L;
        done(i, pselect(p_pselect[0] + 1, &r, NULL, NULL, &ts, NULL));
        snprintf(detail[i], sizeof detail[i], "set %d", FD_ISSET(p_pselect[0], &r));
        break;
    }
    case EPOLL: {
        int ep = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42}, out;
        epoll_ctl(ep, EPOLL_CTL_ADD, p_epoll[0], &ev);
        long r = epoll_wait(ep, &out, 1, -1);
        done(i, r);
        snprintf(detail[i], sizeof detail[i], "data %llu", r > 0 ? (unsigned long long)out.data.u64 : 0ULL);
        close(ep);
        break;
    }
    case PAUSE:
        done(i, pause());
        break;
    case SIGSUSPEND: {
        sigset_t m;
        sigfillset(&m);
        sigdelset(&m, SIGUSR1);
        done(i, sigsuspend(&m));
        break;
    }
    case SIGTIMEDWAIT: {
        sigset_t m;
        siginfo_t si;
        sigemptyset(&m);
        sigaddset(&m, SIGUSR2);
        long r = sigtimedwait(&m, &si, NULL);
        done(i, r);
        snprintf(detail[i], sizeof detail[i], "si_code %d from us %d", si.si_code,
                 si.si_pid == getpid());
        break;
    }
    case SIGTIMEDWAIT_TIMED: {
        sigset_t m;
        sigemptyset(&m);
        sigaddset(&m, SIGPWR);
        ts.tv_sec = 0; ts.tv_nsec = 500 * 1000000L;
        done(i, sigtimedwait(&m, NULL, &ts));
        break;
    }
    case READ_RESTART: {
        long r = read(p_restart[0], buf, sizeof buf);
        done(i, r);
        if (r > 0) snprintf(detail[i], sizeof detail[i], "%.*s after %d handler(s)", (int)r, buf,
                            (int)handled_rt);
        break;
    }
    case READ_EINTR:
        done(i, read(p_eintr[0], buf, sizeof buf));
        break;
    }
    return NULL;
}

/* A child process that blocks reading its pipe, then exits with the byte it read. */
static pid_t child_reading(int fds[2]) {
    pid_t c = fork();
    if (c == 0) {
        char b = 0;
        close(fds[1]);
        if (read(fds[0], &b, 1) != 1) _exit(99);
        _exit(b);
    }
    close(fds[0]);
    return c;
}

static pid_t wait4_child, waitid_child;

static void *waiter(void *arg) {
    int i = (int)(intptr_t)arg;
    tid[i] = (pid_t)syscall(SYS_gettid);
    started[i] = 1;
    if (i == WAIT4) {
        int st = 0;
        long r = wait4(wait4_child, &st, 0, NULL);
        done(i, r == wait4_child ? 1 : r);
        snprintf(detail[i], sizeof detail[i], "exited %d code %d", WIFEXITED(st), WEXITSTATUS(st));
    } else if (i == WAITID) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        long r = waitid(P_PID, waitid_child, &si, WEXITED);
        done(i, r);
        snprintf(detail[i], sizeof detail[i], "code %d status %d pid ok %d", si.si_code,
                 si.si_status, si.si_pid == waitid_child);
    } else {  /* VFORK: the parent waits until the child exits */
        pid_t c = vfork();
        if (c == 0) {
            char b = 0;
            if (read(p_vfork[0], &b, 1) != 1) _exit(98);
            _exit(b);
        }
        int st = 0;
        waitpid(c, &st, 0);
        done(i, c > 0 ? 1 : c);
        snprintf(detail[i], sizeof detail[i], "child code %d", WEXITSTATUS(st));
    }
    return NULL;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void) {
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    int *pipes[] = {p_read, p_write, p_poll, p_ppoll, p_select, p_pselect, p_epoll, p_restart,
                    p_eintr, p_wait4, p_waitid, p_vfork};
    for (unsigned k = 0; k < sizeof pipes / sizeof *pipes; k++)
        if (pipe(pipes[k])) return 2;
    {   /* fill p_write so that the writer blocks */
        char chunk[4096];
        memset(chunk, 'f', sizeof chunk);
        int flags = fcntl(p_write[1], F_GETFL);
        fcntl(p_write[1], F_SETFL, flags | O_NONBLOCK);
        while (write(p_write[1], chunk, sizeof chunk) > 0) {}
        fcntl(p_write[1], F_SETFL, flags);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;  /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_rt;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGRTMIN + 1, &sa, NULL);
    /* SIGUSR2 and SIGPWR are taken by sigtimedwait: blocked in every thread */
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR2);
    sigaddset(&m, SIGPWR);
    pthread_sigmask(SIG_BLOCK, &m, NULL);

    wait4_child = child_reading(p_wait4);
    waitid_child = child_reading(p_waitid);
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        void *(*fn)(void *) = (i == WAIT4 || i == WAITID || i == VFORK) ? waiter : blocker;
        if (pthread_create(&th[i], NULL, fn, (void *)(intptr_t)i)) return 3;
    }
    for (int i = 0; i < N; i++)
        while (!started[i]) sched_yield();
    sleep_ms(300);  /* everyone blocks (the tests stop the World here) */

    /* wake each the Linux way */
    word = 1;
    sys_futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL);                 /* futex wake */
    if (write(p_read[1], "data", 4) != 4) return 4;                /* pipe write */
    char drain[8192];
    if (read(p_write[0], drain, sizeof drain) <= 0) return 5;      /* room in the full pipe */
    if (write(p_poll[1], "p", 1) != 1) return 6;
    if (write(p_select[1], "s", 1) != 1) return 7;
    if (write(p_epoll[1], "e", 1) != 1) return 8;
    syscall(SYS_tgkill, getpid(), tid[PAUSE], SIGUSR1);            /* handler, no SA_RESTART */
    syscall(SYS_tgkill, getpid(), tid[SIGSUSPEND], SIGUSR1);
    syscall(SYS_tgkill, getpid(), tid[SIGTIMEDWAIT], SIGUSR2);     /* the signal waited for */
    syscall(SYS_tgkill, getpid(), tid[READ_EINTR], SIGUSR1);       /* EINTR */
    syscall(SYS_tgkill, getpid(), tid[READ_RESTART], SIGRTMIN + 1);  /* SA_RESTART: restarted */
    sleep_ms(50);
    if (write(p_restart[1], "again", 5) != 5) return 9;
    if (write(p_wait4[1], "\x07", 1) != 1) return 10;               /* the child exits 7 */
    if (write(p_waitid[1], "\x09", 1) != 1) return 11;
    if (write(p_vfork[1], "\x05", 1) != 1) return 12;
    /* the timed ones (futex-timed, nanosleep, clock_nanosleep, ppoll, pselect6,
       sigtimedwait-timed) end by their timers; ppoll and pselect6 see nothing ready */
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++)
        printf("%-20s ret %ld errno %d %s\n", names[i], ret[i], err[i], detail[i]);
    printf("handlers: usr1 %d rt %d\n", (int)handled_usr1, (int)handled_rt);
    return 0;
}
