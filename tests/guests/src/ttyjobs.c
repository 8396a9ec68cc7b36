/* Job control on the controlling terminal: run with a terminal on stdin/stdout, in the
 * foreground (natively: a pty whose session this program leads; under ecs-kernel: the host
 * terminal is the console). Prints what it sees; native and emulated output must match. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static pid_t parent_pg;

static const char *err(int r) { return r < 0 ? strerror(errno) : "ok"; }

/* /proc/self/stat: tty_nr (field 7) and tpgid (field 8). */
static void stat_tty(long *tty_nr, long *tpgid) {
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *p = strrchr(buf, ')');
    char state;
    long ppid, pgrp, session;
    sscanf(p + 2, "%c %ld %ld %ld %ld %ld", &state, &ppid, &pgrp, &session, tty_nr, tpgid);
}

static void status(const char *what, int st) {
    if (WIFSTOPPED(st))
        printf("%s: stopped by %s\n", what, strsignal(WSTOPSIG(st)));
    else if (WIFSIGNALED(st))
        printf("%s: killed by %s\n", what, strsignal(WTERMSIG(st)));
    else
        printf("%s: exit %d\n", what, WEXITSTATUS(st));
}

static volatile sig_atomic_t caught;
static void on_sig(int s) { caught = s; }

/* A child in its own (background) process group runs fn; returns its pid. */
static pid_t background(void (*fn)(void)) {
    pid_t c = fork();
    if (c == 0) {
        setpgid(0, 0);
        fn();
        _exit(0);
    }
    setpgid(c, c);
    return c;
}

static void bg_tcsetpgrp(void) {
    int r = tcsetpgrp(0, getpgrp());  /* stops with SIGTTOU; runs again once continued */
    printf("child: tcsetpgrp after the stop: %s, in front: %d\n", err(r), tcgetpgrp(0) == getpgrp());
    r = tcsetpgrp(0, parent_pg);
    printf("child: hands the terminal back: %s\n", err(r));
}

static void bg_tcsetpgrp_ignored(void) {
    signal(SIGTTOU, SIG_IGN);
    int r = tcsetpgrp(0, getpgrp());
    printf("child (SIGTTOU ignored): tcsetpgrp %s, in front: %d\n", err(r), tcgetpgrp(0) == getpgrp());
    tcsetpgrp(0, parent_pg);
}

static void bg_tcsetpgrp_blocked(void) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTTOU);
    sigprocmask(SIG_BLOCK, &s, NULL);
    struct termios t;
    tcgetattr(0, &t);
    int r = tcsetattr(0, TCSANOW, &t);
    printf("child (SIGTTOU blocked): tcsetattr %s\n", err(r));
    r = tcsetpgrp(0, getpgrp());
    printf("child (SIGTTOU blocked): tcsetpgrp %s\n", err(r));
    tcsetpgrp(0, parent_pg);
}

static void bg_read_ignored(void) {
    signal(SIGTTIN, SIG_IGN);
    char c;
    ssize_t n = read(0, &c, 1);
    printf("child (SIGTTIN ignored): read %s\n", n < 0 ? strerror(errno) : "ok");
}

static void bg_read(void) {
    char c;
    read(0, &c, 1);  /* stops with SIGTTIN */
    printf("child: read returned\n");
}

static void bg_read_handler(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_sig;  /* no SA_RESTART */
    sigaction(SIGTTIN, &sa, NULL);
    char c;
    ssize_t n = read(0, &c, 1);
    printf("child (SIGTTIN handler): read %s, caught %s\n", n < 0 ? strerror(errno) : "ok",
           caught ? strsignal(caught) : "nothing");
}

static void bg_tcsetattr(void) {
    struct termios t;
    tcgetattr(0, &t);
    tcsetattr(0, TCSANOW, &t);  /* a background change: SIGTTOU */
    printf("child: tcsetattr returned\n");
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    parent_pg = getpgrp();
    long tty_nr, tpgid;
    struct stat st;
    fstat(0, &st);
    printf("isatty: %d\n", isatty(0));
    printf("in front: %d\n", tcgetpgrp(0) == parent_pg);
    printf("tcgetsid is our session: %d\n", tcgetsid(0) == getsid(0));
    stat_tty(&tty_nr, &tpgid);
    printf("stat: tpgid is our group: %d, tty_nr is the terminal: %d\n", tpgid == parent_pg,
           tty_nr == (isatty(0) ? (long)((minor(st.st_rdev) & 0xff) | (major(st.st_rdev) << 8)
                                         | ((minor(st.st_rdev) & ~0xffu) << 12)) : 0));
    int fd = open("/dev/tty", O_RDWR);
    printf("open /dev/tty: %s\n", err(fd));
    if (fd >= 0) {
        printf("/dev/tty in front: %d\n", tcgetpgrp(fd) == parent_pg);
        close(fd);
    }
    struct termios t0, t1;
    tcgetattr(0, &t0);
    t1 = t0;
    t1.c_lflag &= ~ECHO;
    printf("echo off: %s", err(tcsetattr(0, TCSANOW, &t1)));
    tcgetattr(0, &t1);
    printf(", seen: %d\n", !(t1.c_lflag & ECHO));  /* the terminal keeps it off */
    printf("tcsetpgrp -1: %s\n", err(tcsetpgrp(0, -1)));
    printf("tcsetpgrp to no group: %s\n", err(tcsetpgrp(0, 999999)));

    int st2;
    pid_t c = background(bg_tcsetpgrp);
    waitpid(c, &st2, WUNTRACED);
    status("background tcsetpgrp", st2);
    printf("parent: gives the terminal: %s\n", err(tcsetpgrp(0, c)));
    kill(c, SIGCONT);
    waitpid(c, &st2, 0);
    status("child", st2);
    printf("parent in front again: %d\n", tcgetpgrp(0) == parent_pg);

    c = background(bg_tcsetpgrp_ignored);
    waitpid(c, &st2, 0);
    status("child", st2);
    c = background(bg_tcsetpgrp_blocked);
    waitpid(c, &st2, 0);
    status("child", st2);
    printf("parent in front: %d\n", tcgetpgrp(0) == parent_pg);

    c = background(bg_read_ignored);
    waitpid(c, &st2, 0);
    status("child", st2);
    c = background(bg_read);
    waitpid(c, &st2, WUNTRACED);
    status("background read", st2);
    kill(c, SIGKILL);
    waitpid(c, &st2, 0);
    status("child", st2);
    c = background(bg_read_handler);
    waitpid(c, &st2, 0);
    status("child", st2);
    c = background(bg_tcsetattr);
    waitpid(c, &st2, WUNTRACED);
    status("background tcsetattr", st2);
    kill(c, SIGKILL);
    waitpid(c, &st2, 0);

    /* A child in another session: the terminal is not its own. */
    int p[2], q[2];
    pipe(p);
    pipe(q);
    c = fork();
    if (c == 0) {
        setsid();
        printf("new session: tcgetpgrp %s\n", err(tcgetpgrp(0)));
        printf("new session: open /dev/tty %s\n", err(open("/dev/tty", O_RDWR)));
        stat_tty(&tty_nr, &tpgid);
        printf("new session: stat tty_nr %ld tpgid %ld\n", tty_nr, tpgid);
        printf("new session: TIOCSCTTY %s\n", err(ioctl(0, TIOCSCTTY, 0)));
        write(q[1], "r", 1);
        char b;
        read(p[0], &b, 1);
        _exit(0);
    }
    char r;
    read(q[0], &r, 1);
    printf("tcsetpgrp to a group of another session: %s\n", err(tcsetpgrp(0, c)));
    write(p[1], "x", 1);
    waitpid(c, &st2, 0);
    status("child", st2);

    c = fork();
    if (c == 0) {
        printf("TIOCSCTTY, not a leader: %s\n", err(ioctl(0, TIOCSCTTY, 0)));
        printf("TIOCNOTTY: %s\n", err(ioctl(0, TIOCNOTTY)));
        printf("after TIOCNOTTY: tcgetpgrp %s\n", err(tcgetpgrp(0)));
        printf("after TIOCNOTTY: open /dev/tty %s\n", err(open("/dev/tty", O_RDWR)));
        _exit(0);
    }
    waitpid(c, &st2, 0);
    status("child", st2);
    printf("parent in front: %d\n", tcgetpgrp(0) == parent_pg);
    return 0;
}
