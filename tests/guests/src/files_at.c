/* *at calls with directory fds, sendfile, statx, poll/select on pipes, ioctl on files, O_APPEND,
   utimensat, fchdir. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>
#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; printf("%s %ld errno %d\n", name, r_, r_ < 0 ? e_ : 0); } while (0)

int main(void) {
    const char *D = "/tmp/ecs_at_dir";
    unlinkat(AT_FDCWD, "/tmp/ecs_at_dir/sub/f", 0);
    unlinkat(AT_FDCWD, "/tmp/ecs_at_dir/sub", AT_REMOVEDIR);
    unlinkat(AT_FDCWD, "/tmp/ecs_at_dir/g", 0);
    rmdir(D);
    T("mkdirat", mkdirat(AT_FDCWD, D, 0755));
    int dfd = open(D, O_RDONLY | O_DIRECTORY);
    printf("dirfd ok %d\n", dfd >= 0);
    T("mkdirat rel", mkdirat(dfd, "sub", 0700));
    int fd = openat(dfd, "sub/f", O_CREAT | O_RDWR | O_APPEND, 0640);
    printf("openat ok %d\n", fd >= 0);
    T("write", write(fd, "hello ", 6));
    lseek(fd, 0, SEEK_SET);
    T("append write", write(fd, "world\n", 6));
    T("offset after append", lseek(fd, 0, SEEK_CUR));
    int n = 0;
    T("FIONREAD", ioctl(fd, FIONREAD, &n));
    lseek(fd, 2, SEEK_SET);
    T("FIONREAD after seek", (ioctl(fd, FIONREAD, &n), n));
    struct termios tio;
    T("TCGETS on a file", ioctl(fd, TCGETS, &tio));
    struct winsize ws;
    T("TIOCGWINSZ on a file", ioctl(fd, TIOCGWINSZ, &ws));
    T("ftruncate", ftruncate(fd, 20));
    struct stat st;
    T("fstatat empty path", fstatat(fd, "", &st, AT_EMPTY_PATH));
    printf("size %ld mode %o\n", (long)st.st_size, st.st_mode & 0777);
    T("fstatat rel", fstatat(dfd, "sub/f", &st, 0));
    T("fstatat missing", fstatat(dfd, "nope", &st, 0));
    T("fstatat bad flags", fstatat(dfd, "sub/f", &st, 0x40000000));
    unsigned char sx[256];  /* struct statx by offset: musl's headers lack it */
    T("statx", syscall(SYS_statx, dfd, "sub/f", 0, 0x7ff, sx));
    unsigned long long sx_size; unsigned short sx_mode; unsigned int sx_nlink;
    memcpy(&sx_size, sx + 40, 8); memcpy(&sx_mode, sx + 28, 2); memcpy(&sx_nlink, sx + 16, 4);
    printf("statx size %llu mode %o nlink %u\n", sx_size, sx_mode & 0777, sx_nlink);
    T("faccessat W", faccessat(dfd, "sub/f", W_OK, 0));
    T("faccessat bad mode", faccessat(dfd, "sub/f", 0x100, 0));
    T("renameat", renameat(dfd, "sub/f", dfd, "g"));
    T("renameat2 noreplace", syscall(SYS_renameat2, dfd, "g", dfd, "g", 1));
    T("linkat", linkat(dfd, "g", dfd, "sub/f", 0));
    struct timespec ts[2] = {{1000000000, 0}, {1200000000, 500}};
    T("utimensat", utimensat(dfd, "g", ts, 0));
    stat("/tmp/ecs_at_dir/g", &st);
    printf("mtime %ld %ld atime %ld\n", (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (long)st.st_atim.tv_sec);
    T("symlinkat", symlinkat("g", dfd, "sym"));
    char buf[64] = {0};
    T("readlinkat", readlinkat(dfd, "sym", buf, sizeof buf));
    printf("target %s\n", buf);
    T("unlinkat sym", unlinkat(dfd, "sym", 0));
    T("unlinkat dir without flag", unlinkat(dfd, "sub", 0));
    T("unlinkat bad flag", unlinkat(dfd, "sub", 0x1));

    /* sendfile from a file into a pipe, then poll and select see the data */
    int p[2];
    pipe(p);
    int in = openat(dfd, "g", O_RDONLY);
    off_t off = 6;
    T("sendfile with offset", sendfile(p[1], in, &off, 100));
    printf("offset now %ld, file offset %ld\n", (long)off, (long)lseek(in, 0, SEEK_CUR));
    struct pollfd pf[3] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}, {99, POLLIN, 0}};
    T("poll", poll(pf, 3, 1000));
    printf("revents %x %x %x\n", pf[0].revents, pf[1].revents, pf[2].revents);
    memset(buf, 0, sizeof buf);
    read(p[0], buf, sizeof buf);
    printf("sent '%s'\n", buf);
    struct pollfd empty = {p[0], POLLIN, 0};
    T("poll timeout", poll(&empty, 1, 30));
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {0, 20000};
    T("select timeout", select(p[0] + 1, &rs, NULL, NULL, &tv));
    write(p[1], "x", 1);
    FD_SET(p[0], &rs);
    T("select ready", select(p[0] + 1, &rs, NULL, NULL, NULL));
    printf("isset %d\n", FD_ISSET(p[0], &rs));
    T("select bad fd", select(200, &rs, NULL, NULL, &tv));

    /* readv into two buffers, pread without moving the offset */
    char a[4] = {0}, b[8] = {0};
    struct iovec iov[2] = {{a, 3}, {b, 7}};
    lseek(in, 0, SEEK_SET);
    T("readv", readv(in, iov, 2));
    printf("'%s' '%s'\n", a, b);
    T("preadv", preadv(in, iov, 2, 1));

    T("fchdir", fchdir(dfd));
    char cwd[64];
    printf("cwd %s\n", getcwd(cwd, sizeof cwd));
    T("getcwd too small", syscall(SYS_getcwd, cwd, 4));
    T("fchdir to a file", fchdir(in));
    T("O_DIRECTORY on a file", openat(dfd, "g", O_RDONLY | O_DIRECTORY));
    T("O_NOFOLLOW", (symlinkat("g", dfd, "s2"), openat(dfd, "s2", O_RDONLY | O_NOFOLLOW)));
    T("dup3 cloexec", dup3(in, 50, O_CLOEXEC));
    T("F_GETFD", fcntl(50, F_GETFD));
    T("close_range", syscall(SYS_close_range, 50, 60, 0));
    T("F_GETFD closed", fcntl(50, F_GETFD));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    T("F_SETLK write lock on O_RDONLY", fcntl(in, F_SETLK, &fl));
    fl.l_type = F_RDLCK;
    T("F_SETLK read lock", fcntl(in, F_SETLK, &fl));

    unlinkat(dfd, "s2", 0);
    unlinkat(dfd, "sub/f", 0);
    unlinkat(dfd, "sub", AT_REMOVEDIR);
    unlinkat(dfd, "g", 0);
    chdir("/");
    T("rmdir", rmdir(D));
    return 0;
}
