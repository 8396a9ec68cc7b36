/* preadv2/pwritev2 (offset -1 = the file position; RWF_* flags per kind of file, measured on
   Linux: which files take RWF_NOWAIT, which have no iter methods and take only RWF_HIPRI),
   RWF_APPEND/RWF_NOAPPEND, RWF_NOWAIT on an empty pipe, RWF_NOSIGNAL; sync_file_range and
   syncfs argument checks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>
#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; printf("%s %ld errno %d\n", name, r_, r_ < 0 ? e_ : 0); } while (0)

static long pr2(int fd, void *buf, size_t n, long off, int flags) {
    struct iovec iov = {buf, n};
    return syscall(SYS_preadv2, fd, &iov, 1, off, 0L, flags);
}
static long pw2(int fd, const void *buf, size_t n, long off, int flags) {
    struct iovec iov = {(void *)buf, n};
    return syscall(SYS_pwritev2, fd, &iov, 1, off, 0L, flags);
}
static void show(const char *what, int fd) {
    char buf[64] = {0};
    long n = pread(fd, buf, sizeof buf - 1, 0);
    printf("%s [%.*s] pos %ld\n", what, (int)(n > 0 ? n : 0), buf, (long)lseek(fd, 0, SEEK_CUR));
}

static int sigpipes;
static void on_pipe(int s) { (void)s; sigpipes++; }

int main(void) {
    struct statfs sf;
    const char *base = (statfs("/tmp", &sf) == 0 && sf.f_type == 0x01021994) ? "/tmp" : "/dev/shm";
    char F[256];
    snprintf(F, sizeof F, "%s/ecs_rwv2", base);
    unlink(F);
    int f = open(F, O_CREAT | O_RDWR | O_TRUNC, 0644);
    char buf[64];

    /* offsets */
    T("pwritev2 at 0", pw2(f, "hello world", 11, 0, 0));
    show("after pwritev2 at 0", f);
    T("pwritev2 at -1", pw2(f, "ABC", 3, -1, 0));
    show("after pwritev2 at -1", f);
    T("preadv2 at 6", pr2(f, buf, 5, 6, 0));
    printf("read [%.5s] pos %ld\n", buf, (long)lseek(f, 0, SEEK_CUR));
    T("preadv2 at -1", pr2(f, buf, 4, -1, 0));
    printf("read [%.4s] pos %ld\n", buf, (long)lseek(f, 0, SEEK_CUR));
    T("preadv2 at -2", pr2(f, buf, 4, -2, 0));
    T("pwritev2 at -2", pw2(f, "x", 1, -2, 0));
    T("preadv2 at -2 bad fd", pr2(99, buf, 4, -2, 0));
    T("preadv2 bad fd", pr2(99, buf, 4, 0, 0));
    T("preadv2 bad fd -1", pr2(99, buf, 4, -1, 0));
    T("preadv2 past end", pr2(f, buf, 4, 100, 0));
    T("preadv2 huge offset", pr2(f, buf, 4, 0x7fffffffffffffffL, 0));
    T("preadv2 bad iovcnt", syscall(SYS_preadv2, f, buf, -1, 0L, 0L, 0));
    T("preadv2 1025 iovecs", syscall(SYS_preadv2, f, buf, 1025, 0L, 0L, 0));
    T("preadv2 bad iov pointer", syscall(SYS_preadv2, f, (void *)8, 1, 0L, 0L, 0));
    T("preadv2 bad buffer", pr2(f, (void *)8, 4, 0, 0));
    T("preadv2 zero iovecs bad flags", syscall(SYS_preadv2, f, buf, 0, 0L, 0L, 0x200));
    T("preadv2 zero length bad flags", pr2(f, buf, 0, 0, 0x200));
    T("pwritev2 zero length bad flags", pw2(f, buf, 0, 0, 0x200));
    struct iovec two[2] = {{buf, 3}, {buf + 10, 4}};
    T("preadv2 two iovecs", syscall(SYS_preadv2, f, two, 2, 0L, 0L, 0));
    printf("two [%.3s][%.4s]\n", buf, buf + 10);
    int ro = open(F, O_RDONLY), wo = open(F, O_WRONLY), po = open(F, O_PATH);
    T("preadv2 on O_WRONLY", pr2(wo, buf, 4, 0, 0));
    T("pwritev2 on O_RDONLY", pw2(ro, "x", 1, 0, 0));
    T("preadv2 on O_PATH", pr2(po, buf, 4, 0, 0));

    /* flags on a tmpfs file */
    int fl[] = {0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x30, 0x40, 0x80, 0x100, 0x200, 0x80000000};
    for (unsigned i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        errno = 0; long r = pr2(f, buf, 2, 0, fl[i]); int e1 = r < 0 ? errno : 0;
        errno = 0; long w = pw2(f, "zz", 2, 20, fl[i]); int e2 = w < 0 ? errno : 0;
        printf("file flags %#x read %ld/%d write %ld/%d\n", fl[i], r, e1, w, e2);
    }
    ftruncate(f, 11);

    /* RWF_APPEND and RWF_NOAPPEND */
    lseek(f, 2, SEEK_SET);
    T("pwritev2 APPEND at 0", pw2(f, "+1", 2, 0, 0x10));
    show("after APPEND at 0", f);
    T("pwritev2 APPEND at -1", pw2(f, "+2", 2, -1, 0x10));
    show("after APPEND at -1", f);
    int ap = open(F, O_RDWR | O_APPEND);
    T("pwritev2 on O_APPEND at 0", pw2(ap, "@@", 2, 0, 0));
    show("after O_APPEND at 0", f);
    T("pwritev2 NOAPPEND on O_APPEND at 0", pw2(ap, "##", 2, 0, 0x20));
    show("after NOAPPEND at 0", f);
    lseek(ap, 1, SEEK_SET);
    T("pwritev2 NOAPPEND on O_APPEND at -1", pw2(ap, "$", 1, -1, 0x20));
    show("after NOAPPEND at -1", ap);
    T("fcntl still O_APPEND", (fcntl(ap, F_GETFL) & O_APPEND) != 0);
    T("pwritev2 APPEND|NOAPPEND", pw2(f, "x", 1, 0, 0x30));

    /* pipes: -1 works, an offset is ESPIPE, RWF_NOWAIT on an empty blocking pipe is EAGAIN */
    int p[2];
    pipe(p);
    T("pwritev2 pipe -1", pw2(p[1], "pipe", 4, -1, 0));
    T("pwritev2 pipe offset", pw2(p[1], "pipe", 4, 0, 0));
    T("preadv2 pipe offset", pr2(p[0], buf, 4, 0, 0));
    T("preadv2 pipe -1", pr2(p[0], buf, 4, -1, 0));
    T("preadv2 pipe NOWAIT empty", pr2(p[0], buf, 4, -1, 0x8));
    T("pwritev2 pipe NOWAIT", pw2(p[1], "q", 1, -1, 0x8));
    T("preadv2 pipe NOWAIT", pr2(p[0], buf, 4, -1, 0x8));
    for (unsigned i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        errno = 0; long w = pw2(p[1], "ab", 2, -1, fl[i]); int e2 = w < 0 ? errno : 0;
        errno = 0; long r = pr2(p[0], buf, 2, -1, fl[i] == 0x8 ? 0 : fl[i]); int e1 = r < 0 ? errno : 0;
        printf("pipe flags %#x write %ld/%d read %ld/%d\n", fl[i], w, e2, r, e1);
        if (w > 0 && r < 0) read(p[0], buf, 2);
    }
    signal(SIGPIPE, on_pipe);
    close(p[0]);
    T("pwritev2 no reader", pw2(p[1], "x", 1, -1, 0));
    printf("sigpipes %d\n", sigpipes);
    T("pwritev2 no reader NOSIGNAL", pw2(p[1], "x", 1, -1, 0x100));
    printf("sigpipes %d\n", sigpipes);
    close(p[1]);

    /* other kinds of file */
    int s[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s);
    int efd = eventfd(0, EFD_NONBLOCK);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    int ifd = inotify_init1(IN_NONBLOCK);
    int nul = open("/dev/null", O_RDWR), zero = open("/dev/zero", O_RDWR);
    int proc = open("/proc/self/status", O_RDONLY);
    int fds[] = {s[0], efd, tfd, ifd, nul, zero, proc};
    const char *names[] = {"socket", "eventfd", "timerfd", "inotify", "null", "zero", "proc"};
    for (int i = 0; i < 7; i++) {
        for (unsigned j = 0; j < sizeof fl / sizeof fl[0]; j++) {
            unsigned long long one = 1;
            errno = 0; long w = pw2(fds[i], &one, 8, -1, fl[j]); int e2 = w < 0 ? errno : 0;
            errno = 0; long r = pr2(fds[i], buf, 8, -1, fl[j]); int e1 = r < 0 ? errno : 0;
            printf("%s flags %#x write %ld/%d read %ld/%d\n", names[i], fl[j], w, e2, r, e1);
            if (i == 0 && w > 0 && r < 0) read(s[1], buf, 8);
            if (i == 0 && w > 0) read(s[1], buf, 8);
        }
    }

    /* sync_file_range and syncfs */
    T("sync_file_range", syscall(SYS_sync_file_range, f, 0L, 0L, 0));
    T("sync_file_range all flags", syscall(SYS_sync_file_range, f, 0L, 100L, 7));
    T("sync_file_range bad flags", syscall(SYS_sync_file_range, f, 0L, 0L, 8));
    T("sync_file_range negative offset", syscall(SYS_sync_file_range, f, -1L, 0L, 0));
    T("sync_file_range negative nbytes", syscall(SYS_sync_file_range, f, 0L, -1L, 0));
    T("sync_file_range overflow", syscall(SYS_sync_file_range, f, 0x7fffffffffffffffL, 2L, 0));
    T("sync_file_range huge end", syscall(SYS_sync_file_range, f, 1L, 0x7fffffffffffffffL, 0));
    T("sync_file_range bad fd", syscall(SYS_sync_file_range, 99, 0L, 0L, 0));
    T("sync_file_range bad fd bad flags", syscall(SYS_sync_file_range, 99, 0L, 0L, 8));
    T("sync_file_range O_PATH", syscall(SYS_sync_file_range, po, 0L, 0L, 0));
    T("sync_file_range O_RDONLY", syscall(SYS_sync_file_range, ro, 0L, 0L, 0));
    int p2[2];
    pipe(p2);
    T("sync_file_range pipe", syscall(SYS_sync_file_range, p2[0], 0L, 0L, 0));
    T("sync_file_range socket", syscall(SYS_sync_file_range, s[0], 0L, 0L, 0));
    T("sync_file_range dir", syscall(SYS_sync_file_range, open("/", O_RDONLY | O_DIRECTORY), 0L, 0L, 0));
    T("sync_file_range /dev/null", syscall(SYS_sync_file_range, nul, 0L, 0L, 0));
    T("syncfs", syscall(SYS_syncfs, f));
    T("syncfs pipe", syscall(SYS_syncfs, p2[0]));
    T("syncfs O_PATH", syscall(SYS_syncfs, po));
    T("syncfs bad fd", syscall(SYS_syncfs, 99));
    T("syncfs -1", syscall(SYS_syncfs, -1));
    unlink(F);
    return 0;
}
