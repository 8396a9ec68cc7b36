/* utime, utimes, futimesat, utimensat (one do_utimes) and fchmodat2 on tmpfs files: times,
   flags, errnos, and the owner/write-permission rules as an unprivileged child. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>
#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; printf("%s %ld errno %d\n", name, r_, r_ < 0 ? e_ : 0); } while (0)
#define NR_fchmodat2 452

static char D[256], F[300], L[300], R[300];

static long utime_(const char *p, struct utimbuf *b) { return syscall(SYS_utime, p, b); }
static long utimes_(const char *p, struct timeval *tv) { return syscall(SYS_utimes, p, tv); }
static long futimesat_(int d, const char *p, struct timeval *tv) { return syscall(SYS_futimesat, d, p, tv); }
static long utimensat_(int d, const char *p, struct timespec *ts, int fl) { return syscall(SYS_utimensat, d, p, ts, fl); }
static long fchmodat2_(int d, const char *p, mode_t m, int fl) { return syscall(NR_fchmodat2, d, p, m, fl); }

static void times_of(const char *what, const char *p, int follow) {
    struct stat st;
    int r = follow ? stat(p, &st) : lstat(p, &st);
    if (r) { printf("%s stat failed %d\n", what, errno); return; }
    printf("%s atime %ld.%09ld mtime %ld.%09ld\n", what, (long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
           (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static void mode_of(const char *what, const char *p) {
    struct stat st;
    if (lstat(p, &st)) { printf("%s lstat failed %d\n", what, errno); return; }
    printf("%s mode %o\n", what, st.st_mode & 07777);
}

int main(void) {
    struct statfs sf;
    const char *base = (statfs("/tmp", &sf) == 0 && sf.f_type == 0x01021994) ? "/tmp" : "/dev/shm";
    snprintf(D, sizeof D, "%s/ecs_utimes_dir", base);
    snprintf(F, sizeof F, "%s/f", D);
    snprintf(L, sizeof L, "%s/l", D);
    snprintf(R, sizeof R, "%s/ro", D);
    unlink(F); unlink(L); unlink(R); rmdir(D);
    T("mkdir", mkdir(D, 0755));
    chmod(D, 0755);
    int fd = open(F, O_CREAT | O_RDWR, 0666);
    fchmod(fd, 0666);
    int rfd = open(R, O_CREAT | O_RDWR, 0644);
    fchmod(rfd, 0644);
    T("symlink", symlink("f", L));
    int dfd = open(D, O_RDONLY | O_DIRECTORY);
    int pfd = open(F, O_PATH);

    struct utimbuf ub = {1000, 2000};
    T("utime", utime_(F, &ub));
    times_of("after utime", F, 1);
    T("utime NULL", utime_(F, NULL));
    struct stat st;
    stat(F, &st);
    printf("utime NULL moved mtime %d\n", st.st_mtim.tv_sec > 2000);
    T("utime missing", utime_("/nonexistent", &ub));
    T("utime NULL path", utime_(NULL, &ub));
    T("utime bad times", utime_(F, (void *)8));
    struct utimbuf neg = {-5, -1};
    T("utime negative", utime_(F, &neg));
    times_of("after utime negative", F, 1);

    struct timeval tv[2] = {{1, 500000}, {2, 999999}};
    T("utimes", utimes_(F, tv));
    times_of("after utimes", F, 1);
    tv[0].tv_usec = 1000000;
    T("utimes usec 1000000", utimes_(F, tv));
    tv[0].tv_usec = -1;
    T("utimes usec -1", utimes_(F, tv));
    tv[0].tv_usec = (1 << 30) - 1;  /* UTIME_NOW is utimensat's */
    T("utimes usec UTIME_NOW", utimes_(F, tv));
    tv[0].tv_usec = 0;
    T("utimes bad usec missing file", utimes_("/nonexistent", (struct timeval[2]){{0, -1}, {0, 0}}));
    T("utimes missing", utimes_("/nonexistent", tv));
    T("utimes bad pointer", utimes_(F, (void *)8));
    T("utimes through symlink", utimes_(L, (struct timeval[2]){{30, 3}, {40, 4}}));
    times_of("after utimes through symlink", F, 1);

    T("futimesat rel", futimesat_(dfd, "f", (struct timeval[2]){{50, 5}, {60, 6}}));
    times_of("after futimesat rel", F, 1);
    T("futimesat fd NULL path", futimesat_(fd, NULL, (struct timeval[2]){{70, 7}, {80, 8}}));
    times_of("after futimesat fd", F, 1);
    T("futimesat AT_FDCWD NULL path", futimesat_(AT_FDCWD, NULL, tv));
    T("futimesat O_PATH NULL path", futimesat_(pfd, NULL, tv));
    T("futimesat bad fd", futimesat_(99, NULL, tv));
    T("futimesat bad dirfd", futimesat_(99, "f", tv));
    T("futimesat not a dir", futimesat_(fd, "x", tv));
    T("futimesat abs ignores dirfd", futimesat_(99, F, tv));
    T("futimesat empty path", futimesat_(dfd, "", tv));

    struct timespec ts[2] = {{100, 1}, {200, 2}};
    T("utimensat", utimensat_(dfd, "f", ts, 0));
    times_of("after utimensat", F, 1);
    T("utimensat bad flags", utimensat_(dfd, "f", ts, 0x8000));
    T("utimensat fd NULL path flags", utimensat_(fd, NULL, ts, AT_SYMLINK_NOFOLLOW));
    T("utimensat fd NULL path", utimensat_(fd, NULL, (struct timespec[2]){{300, 3}, {400, 4}}, 0));
    times_of("after utimensat fd", F, 1);
    T("utimensat AT_FDCWD NULL path", utimensat_(AT_FDCWD, NULL, ts, 0));
    T("utimensat O_PATH NULL path", utimensat_(pfd, NULL, ts, 0));
    T("utimensat O_PATH empty path", utimensat_(pfd, "", (struct timespec[2]){{500, 5}, {600, 6}}, AT_EMPTY_PATH));
    times_of("after utimensat O_PATH empty", F, 1);
    T("utimensat empty path no flag", utimensat_(fd, "", ts, 0));
    T("utimensat both OMIT missing", utimensat_(AT_FDCWD, "/nonexistent", (struct timespec[2]){{0, UTIME_OMIT}, {0, UTIME_OMIT}}, 0));
    T("utimensat bad nsec missing", utimensat_(AT_FDCWD, "/nonexistent", (struct timespec[2]){{0, -1}, {0, 0}}, 0));
    T("utimensat bad nsec", utimensat_(AT_FDCWD, F, (struct timespec[2]){{0, 1000000000}, {0, 0}}, 0));
    T("utimensat OMIT atime", utimensat_(AT_FDCWD, F, (struct timespec[2]){{0, UTIME_OMIT}, {700, 7}}, 0));
    times_of("after OMIT atime", F, 1);
    T("utimensat nofollow symlink", utimensat_(AT_FDCWD, L, (struct timespec[2]){{800, 8}, {900, 9}}, AT_SYMLINK_NOFOLLOW));
    times_of("symlink after nofollow", L, 0);
    times_of("file after nofollow", F, 1);

    /* fchmodat2 */
    T("fchmodat2", fchmodat2_(dfd, "f", 0640, 0));
    mode_of("after fchmodat2", F);
    T("fchmodat2 nofollow regular", fchmodat2_(dfd, "f", 0660, AT_SYMLINK_NOFOLLOW));
    mode_of("after nofollow regular", F);
    T("fchmodat2 nofollow symlink", fchmodat2_(dfd, "l", 0600, AT_SYMLINK_NOFOLLOW));
    mode_of("symlink", L);
    T("fchmodat2 through symlink", fchmodat2_(dfd, "l", 0664, 0));
    mode_of("after through symlink", F);
    T("fchmodat2 bad flags", fchmodat2_(dfd, "f", 0600, 0x400));
    T("fchmodat2 empty path O_PATH", fchmodat2_(pfd, "", 0666, AT_EMPTY_PATH));
    mode_of("after empty path", F);
    T("fchmodat2 empty path no flag", fchmodat2_(pfd, "", 0600, 0));
    T("fchmodat2 missing", fchmodat2_(dfd, "nope", 0600, 0));
    T("fchmodat2 bad dirfd", fchmodat2_(99, "f", 0600, 0));
    T("fchmodat2 NULL path", fchmodat2_(dfd, NULL, 0600, 0));
    T("fchmodat2 high bits", fchmodat2_(dfd, "f", 0170666, 0));
    mode_of("after high bits", F);

    /* unprivileged */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) _exit(1);
        T("u utime NULL writable", utime_(F, NULL));
        T("u utimes NULL writable", utimes_(F, NULL));
        T("u utimensat NULL writable", utimensat_(AT_FDCWD, F, NULL, 0));
        T("u utimensat NOW NOW writable", utimensat_(AT_FDCWD, F, (struct timespec[2]){{0, UTIME_NOW}, {0, UTIME_NOW}}, 0));
        T("u utimensat NOW OMIT writable", utimensat_(AT_FDCWD, F, (struct timespec[2]){{0, UTIME_NOW}, {0, UTIME_OMIT}}, 0));
        T("u utime explicit writable", utime_(F, &ub));
        T("u utimes explicit writable", utimes_(F, tv));
        T("u utime NULL read-only", utime_(R, NULL));
        T("u utimes NULL read-only", utimes_(R, NULL));
        T("u futimesat fd read-only", futimesat_(rfd, NULL, NULL));
        T("u fchmodat2 not owner", fchmodat2_(dfd, "f", 0600, 0));
        T("u fchmodat2 symlink not owner", fchmodat2_(dfd, "l", 0600, AT_SYMLINK_NOFOLLOW));
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(c, &status, 0);
    printf("child status %d\n", status);
    close(fd); close(rfd); close(dfd); close(pfd);
    unlink(F); unlink(L); unlink(R); rmdir(D);
    return 0;
}
