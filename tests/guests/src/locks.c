/* Advisory locks between processes: POSIX record locks, OFD locks and flock.
 * Usage: locks posix|ofd|flock|errors|wait. Output must match native. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static char path[64];

static const char *err(int r) { return r < 0 ? strerror(errno) : "ok"; }

static int lk(int fd, int cmd, short type, off_t start, off_t len) {
    struct flock f = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &f);
}

/* F_GETLK (or F_OFD_GETLK) for [start, start+len): what would conflict. */
static void show(const char *who, int fd, int cmd, short type, off_t start, off_t len, pid_t holder) {
    struct flock f = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    if (fcntl(fd, cmd, &f) < 0) {
        printf("%s: getlk %s\n", who, strerror(errno));
        return;
    }
    if (f.l_type == F_UNLCK)
        printf("%s: [%ld,+%ld) free\n", who, (long)start, (long)len);
    else
        printf("%s: [%ld,+%ld) blocked by %s [%ld,+%ld) pid %s\n", who, (long)start, (long)len,
               f.l_type == F_WRLCK ? "WR" : "RD", (long)f.l_start, (long)f.l_len,
               f.l_pid == holder ? "holder" : f.l_pid == -1 ? "-1" : "other");
}

static void sync_read(int fd) { char c; if (read(fd, &c, 1) != 1) _exit(9); }
static void sync_write(int fd) { if (write(fd, "x", 1) != 1) _exit(9); }

static void reap(const char *what, pid_t c) {
    int st;
    waitpid(c, &st, 0);
    printf("%s: exit %d\n", what, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static void posix(void) {
    int fd = open(path, O_RDWR);
    pid_t me = getpid();
    printf("parent: WR [0,100): %s\n", err(lk(fd, F_SETLK, F_WRLCK, 0, 100)));
    printf("parent: RD [10,20) over its own lock: %s\n", err(lk(fd, F_SETLK, F_RDLCK, 10, 10)));
    int go[2], back[2];
    pipe(go);
    pipe(back);
    pid_t c = fork();
    if (c == 0) {
        int f2 = open(path, O_RDWR);
        printf("child: RD [50,60): %s\n", err(lk(f2, F_SETLK, F_RDLCK, 50, 10)));
        show("child", f2, F_GETLK, F_RDLCK, 50, 10, me);
        show("child", f2, F_GETLK, F_RDLCK, 10, 5, me);  /* the parent's read lock there */
        show("child", f2, F_GETLK, F_WRLCK, 10, 5, me);
        show("child", f2, F_GETLK, F_WRLCK, 100, 0, me);
        printf("child: WR [100,EOF): %s\n", err(lk(f2, F_SETLK, F_WRLCK, 100, 0)));
        printf("child: waits for WR [0,10)\n");
        sync_write(back[1]);
        printf("child: WR [0,10) (F_SETLKW): %s\n", err(lk(f2, F_SETLKW, F_WRLCK, 0, 10)));
        sync_write(back[1]);
        sync_read(go[0]);
        _exit(0);  /* its locks go with it */
    }
    sync_read(back[0]);
    show("parent", fd, F_GETLK, F_WRLCK, 150, 10, c);
    usleep(100000);  /* the child is blocked in F_SETLKW by now */
    printf("parent: unlocks [0,50)\n");
    lk(fd, F_SETLK, F_UNLCK, 0, 50);
    sync_read(back[0]);
    show("parent", fd, F_GETLK, F_WRLCK, 0, 200, c);
    sync_write(go[1]);
    reap("child", c);
    show("parent", fd, F_GETLK, F_WRLCK, 0, 200, c);
    /* closing any fd of the file drops the process's locks */
    lk(fd, F_SETLK, F_WRLCK, 0, 0);
    int other = open(path, O_RDONLY);
    close(other);
    c = fork();
    if (c == 0) {
        int f2 = open(path, O_RDWR);
        show("child after the parent closed another fd", f2, F_GETLK, F_WRLCK, 0, 0, me);
        _exit(0);
    }
    reap("child", c);
    close(fd);
}

static void ofd(void) {
    int a = open(path, O_RDWR), b = open(path, O_RDWR);
    printf("OFD WR [0,10) on a: %s\n", err(lk(a, F_OFD_SETLK, F_WRLCK, 0, 10)));
    printf("OFD WR [5,10) on b: %s\n", err(lk(b, F_OFD_SETLK, F_WRLCK, 5, 5)));
    show("b", b, F_OFD_GETLK, F_RDLCK, 0, 1, 0);
    printf("POSIX WR [0,1) on b, same process: %s\n", err(lk(b, F_SETLK, F_WRLCK, 0, 1)));
    struct flock f = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 1, .l_pid = 1};
    printf("OFD with l_pid set: %s\n", err(fcntl(b, F_OFD_SETLK, &f)));
    int d = dup(a);
    close(a);
    printf("after closing a (its dup lives): WR [0,1) on b: %s\n", err(lk(b, F_OFD_SETLK, F_WRLCK, 0, 1)));
    close(d);
    printf("after the last fd: WR [0,1) on b: %s\n", err(lk(b, F_OFD_SETLK, F_WRLCK, 0, 1)));
    close(b);
}

static void flocks(void) {
    int a = open(path, O_RDONLY), b = open(path, O_RDONLY);
    printf("flock EX a: %s\n", err(flock(a, LOCK_EX)));
    printf("flock SH|NB b: %s\n", err(flock(b, LOCK_SH | LOCK_NB)));
    printf("flock EX again a: %s\n", err(flock(a, LOCK_EX | LOCK_NB)));
    printf("flock SH a (conversion): %s\n", err(flock(a, LOCK_SH | LOCK_NB)));
    printf("flock SH|NB b: %s\n", err(flock(b, LOCK_SH | LOCK_NB)));
    printf("flock EX|NB b: %s\n", err(flock(b, LOCK_EX | LOCK_NB)));
    flock(b, LOCK_UN);
    flock(a, LOCK_EX);
    int go[2];
    pipe(go);
    pid_t c = fork();
    if (c == 0) {
        printf("child: EX|NB on the inherited description: %s\n", err(flock(a, LOCK_EX | LOCK_NB)));
        close(a);  /* the parent's fd still holds the description and its lock */
        int own = open(path, O_RDONLY);
        printf("child: EX|NB on its own open: %s\n", err(flock(own, LOCK_EX | LOCK_NB)));
        sync_write(go[1]);
        printf("child: EX on its own open (waits): %s\n", err(flock(own, LOCK_EX)));
        _exit(0);
    }
    sync_read(go[0]);
    usleep(100000);
    printf("parent: closes its fds of the locked description\n");
    close(a);
    reap("child", c);
    printf("flock bad op: %s\n", err(flock(b, LOCK_SH | LOCK_EX)));
    close(b);
}

static void on_alarm(int s) { (void)s; }

static void errors(void) {
    int w = open(path, O_WRONLY), r = open(path, O_RDONLY);
    printf("RD lock on O_WRONLY: %s\n", err(lk(w, F_SETLK, F_RDLCK, 0, 1)));
    printf("WR lock on O_RDONLY: %s\n", err(lk(r, F_SETLK, F_WRLCK, 0, 1)));
    printf("bad type: %s\n", err(lk(r, F_SETLK, 7, 0, 1)));
    printf("negative start: %s\n", err(lk(r, F_SETLK, F_RDLCK, -1, 1)));
    printf("negative length: %s\n", err(lk(r, F_SETLK, F_RDLCK, 10, -5)));
    show("negative length lock seen from itself", r, F_GETLK, F_WRLCK, 0, 0, getpid());
    printf("range before 0: %s\n", err(lk(r, F_SETLK, F_RDLCK, 2, -5)));
    printf("GETLK of F_UNLCK: %s\n", err(lk(r, F_GETLK, F_UNLCK, 0, 1)));
    struct flock f = {.l_type = F_RDLCK, .l_whence = 9};
    printf("bad whence: %s\n", err(fcntl(r, F_SETLK, &f)));
    printf("bad pointer: %s\n", err(fcntl(r, F_SETLK, (struct flock *)8)));
    /* a signal interrupts a waiting F_SETLKW (no SA_RESTART): EINTR */
    lk(w, F_SETLK, F_WRLCK, 0, 0);
    pid_t c = fork();
    if (c == 0) {
        struct sigaction sa = {0};
        sa.sa_handler = on_alarm;
        sigaction(SIGALRM, &sa, NULL);
        alarm(1);
        int f2 = open(path, O_RDWR);
        printf("child: F_SETLKW interrupted: %s\n", err(lk(f2, F_SETLKW, F_WRLCK, 0, 1)));
        _exit(0);
    }
    reap("child", c);
    close(w);
    close(r);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    snprintf(path, sizeof path, "/tmp/ecs-locks-%d", (int)getpid());
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    write(fd, "0123456789", 10);
    close(fd);
    const char *w = argc > 1 ? argv[1] : "posix";
    if (!strcmp(w, "posix")) posix();
    if (!strcmp(w, "ofd")) ofd();
    if (!strcmp(w, "flock")) flocks();
    if (!strcmp(w, "errors")) errors();
    unlink(path);
    return 0;
}
