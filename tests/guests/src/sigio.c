/* Signal-driven I/O: F_SETOWN(_EX), F_SETSIG and O_ASYNC on a pipe. Output must match native. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got, got_code, got_fd;
static volatile long got_band;

static void on_sig(int s, siginfo_t *si, void *uc) {
    (void)uc;
    got = s;
    got_code = si->si_code;
    got_fd = si->si_fd;
    got_band = si->si_band;
}

static const char *err(long r) { return r < 0 ? strerror(errno) : "ok"; }

static void wait_sig(void) {
    for (int i = 0; i < 200 && !got; i++) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sig;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGIO, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    int p[2];
    pipe2(p, O_NONBLOCK);
    pid_t me = getpid();

    printf("F_GETOWN unset: %ld\n", syscall(SYS_fcntl, p[0], F_GETOWN));
    printf("F_GETSIG unset: %ld\n", syscall(SYS_fcntl, p[0], F_GETSIG));
    printf("F_SETOWN no such pid: %s\n", err(syscall(SYS_fcntl, p[0], F_SETOWN, 12345678)));
    printf("F_SETOWN INT_MIN: %s\n", err(syscall(SYS_fcntl, p[0], F_SETOWN, INT_MIN)));
    printf("F_SETSIG 65: %s\n", err(syscall(SYS_fcntl, p[0], F_SETSIG, 65)));
    struct f_owner_ex o = {.type = 7, .pid = me};
    printf("F_SETOWN_EX bad type: %s\n", err(syscall(SYS_fcntl, p[0], F_SETOWN_EX, &o)));
    o.type = F_OWNER_PGRP;
    o.pid = getpgrp();
    printf("F_SETOWN_EX pgrp: %s\n", err(syscall(SYS_fcntl, p[0], F_SETOWN_EX, &o)));
    struct f_owner_ex g = {0};
    syscall(SYS_fcntl, p[0], F_GETOWN_EX, &g);
    printf("F_GETOWN_EX: type %d is our group %d\n", g.type, g.pid == getpgrp());

    /* plain SIGIO to the process */
    syscall(SYS_fcntl, p[0], F_SETOWN, me);
    printf("F_GETOWN: is us %d\n", syscall(SYS_fcntl, p[0], F_GETOWN) == me);
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_ASYNC);
    printf("O_ASYNC in F_GETFL: %d\n", !!(fcntl(p[0], F_GETFL) & O_ASYNC));
    write(p[1], "a", 1);
    wait_sig();
    printf("write: got %s\n", got ? strsignal(got) : "nothing");
    char buf[8];
    read(p[0], buf, sizeof buf);

    /* F_SETSIG: the siginfo says why, the band and the fd O_ASYNC was set through */
    got = 0;
    int d = dup(p[0]);
    fcntl(p[0], F_SETSIG, SIGUSR1);
    printf("F_GETSIG: %s\n", strsignal(fcntl(p[0], F_GETSIG)));
    close(p[0]);
    write(p[1], "b", 1);
    wait_sig();
    printf("write: got %s code %s band %#lx fd is the closed one %d\n",
           got ? strsignal(got) : "nothing", got_code == POLL_IN ? "POLL_IN" : "?", got_band,
           got_fd == p[0]);
    read(d, buf, sizeof buf);

    /* a child owns it: the signal goes to the child */
    got = 0;
    int q[2];
    pipe(q);
    pid_t c = fork();
    if (c == 0) {
        char x;
        read(q[0], &x, 1);  /* until the parent made us the owner */
        wait_sig();
        printf("child: got %s\n", got ? strsignal(got) : "nothing");
        _exit(got == SIGUSR1 ? 0 : 1);
    }
    fcntl(d, F_SETOWN, c);
    write(q[1], "g", 1);
    write(p[1], "c", 1);
    int st;
    waitpid(c, &st, 0);
    printf("child exit %d; parent got %s\n", WEXITSTATUS(st), got ? strsignal(got) : "nothing");
    printf("FIOASYNC off: %s\n", err(ioctl(d, FIOASYNC, &(int){0})));
    printf("O_ASYNC in F_GETFL: %d\n", !!(fcntl(d, F_GETFL) & O_ASYNC));
    return 0;
}
