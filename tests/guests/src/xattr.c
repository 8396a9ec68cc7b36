/* Extended attributes: the twelve *xattr calls and the four *xattrat ones on tmpfs files (a
   tmpfs directory natively: /tmp when it is tmpfs, else /dev/shm), their namespaces, flags,
   limits, errnos and permission checks (an unprivileged child), inheritance across fork. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; printf("%s %ld errno %d\n", name, r_, r_ < 0 ? e_ : 0); } while (0)
#define NR_setxattrat 463
#define NR_getxattrat 464
#define NR_listxattrat 465
#define NR_removexattrat 466

static long sx(const char *p, const char *n, const void *v, size_t s, int f) { return syscall(SYS_setxattr, p, n, v, s, f); }
static long lsx(const char *p, const char *n, const void *v, size_t s, int f) { return syscall(SYS_lsetxattr, p, n, v, s, f); }
static long fsx(int fd, const char *n, const void *v, size_t s, int f) { return syscall(SYS_fsetxattr, fd, n, v, s, f); }
static long gx(const char *p, const char *n, void *v, size_t s) { return syscall(SYS_getxattr, p, n, v, s); }
static long lgx(const char *p, const char *n, void *v, size_t s) { return syscall(SYS_lgetxattr, p, n, v, s); }
static long fgx(int fd, const char *n, void *v, size_t s) { return syscall(SYS_fgetxattr, fd, n, v, s); }
static long lx(const char *p, char *l, size_t s) { return syscall(SYS_listxattr, p, l, s); }
static long llx(const char *p, char *l, size_t s) { return syscall(SYS_llistxattr, p, l, s); }
static long flx(int fd, char *l, size_t s) { return syscall(SYS_flistxattr, fd, l, s); }
static long rx(const char *p, const char *n) { return syscall(SYS_removexattr, p, n); }
static long lrx(const char *p, const char *n) { return syscall(SYS_lremovexattr, p, n); }
static long frx(int fd, const char *n) { return syscall(SYS_fremovexattr, fd, n); }

struct xattr_args { uint64_t value; uint32_t size; uint32_t flags; };
#define XATTR_CREATE_ 1

static void show_list(const char *what, const char *buf, long n) {
    printf("%s [", what);
    for (long i = 0; i < n; i++) putchar(buf[i] ? buf[i] : '|');
    printf("]\n");
}

static void show_value(const char *what, const unsigned char *buf, long n) {
    printf("%s %ld:", what, n);
    for (long i = 0; i < n; i++) printf(" %02x", buf[i]);
    printf("\n");
}

static char D[256], F[300], G[300], L[300], P[300], S[300], O[300];

static void unprivileged(void) {
    /* fsuid 65534, no capabilities: permission through the file mode */
    if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) { printf("setresuid failed\n"); _exit(1); }
    char buf[64];
    T("u get user on 0600", gx(F, "user.a", buf, sizeof buf));
    T("u get trusted", gx(F, "trusted.t", buf, sizeof buf));
    T("u get security", gx(F, "security.s", buf, sizeof buf));
    char lst[256];
    long n = lx(F, lst, sizeof lst);
    show_list("u list (no trusted.*)", lst, n);
    T("u set user on 0600", sx(F, "user.b", "x", 1, 0));
    T("u set trusted", sx(O, "trusted.b", "x", 1, 0));
    T("u set security", sx(O, "security.b", "x", 1, 0));
    T("u set user on 0666", sx(O, "user.b", "x", 1, 0));
    T("u get user on 0666", gx(O, "user.b", buf, sizeof buf));
    T("u remove user on 0666", rx(O, "user.b"));
    T("u remove user on 0600", rx(F, "user.a"));
    T("u remove trusted", rx(O, "trusted.t"));
    T("u remove security", rx(O, "security.s"));
    T("u set unknown prefix 0600", sx(F, "foo.b", "x", 1, 0));
    T("u set unknown prefix 0666", sx(O, "foo.b", "x", 1, 0));
    T("u set user on sticky dir", sx(S, "user.b", "x", 1, 0));
    unsigned char cap[20] = {1, 0, 0, 2};
    T("u set capability", sx(O, "security.capability", cap, sizeof cap, 0));
    T("u remove capability", rx(O, "security.capability"));
    T("u set empty capability", sx(O, "security.capability", "", 0, 0));
    fflush(stdout);
    _exit(0);
}

/* "overlay PATH": a host file seen through the overlay (run under ecs-kernel only). */
static int overlay(const char *path) {
    char buf[256], lst[1024];
    long n = lx(path, lst, sizeof lst);
    show_list("host file list", lst, n);
    T("host file get user.host", gx(path, "user.host", buf, sizeof buf));
    T("host file set user.g", sx(path, "user.g", "guest", 5, 0));
    n = gx(path, "user.g", buf, sizeof buf);
    printf("host file get user.g %ld %.*s\n", n, (int)(n > 0 ? n : 0), buf);
    n = lx(path, lst, sizeof lst);
    show_list("host file list after", lst, n);
    return 0;
}

/* "ckpt PATH": attributes set, a sleep (a checkpoint is taken there), then read back. */
static int ckpt(const char *host) {
    char buf[70000], lst[1024];
    const char *f = "/tmp/ecs_xattr_ckpt";
    close(open(f, O_CREAT | O_RDWR, 0644));
    unsigned char bin[5] = {0, 0xff, 1, 0, 2};
    memset(buf, 'q', 1000);
    sx(f, "user.small", bin, sizeof bin, 0);
    sx(f, "user.big", buf, 1000, 0);
    sx(f, "trusted.\xc3\xa9\x01", "t", 1, 0);
    sx(f, "security.s", "", 0, 0);
    sx(host, "user.on_host_file", "h", 1, 0);
    struct timespec ts = {0, 400 * 1000 * 1000};
    nanosleep(&ts, NULL);
    long n = lx(f, lst, sizeof lst);
    show_list("ckpt list", lst, n);
    n = gx(f, "user.small", buf, sizeof buf);
    show_value("ckpt user.small", (unsigned char *)buf, n);
    n = gx(f, "user.big", buf, sizeof buf);
    printf("ckpt user.big %ld %d\n", n, n == 1000 && buf[0] == 'q' && buf[999] == 'q');
    T("ckpt trusted", gx(f, "trusted.\xc3\xa9\x01", buf, sizeof buf));
    T("ckpt security", gx(f, "security.s", buf, sizeof buf));
    T("ckpt host file", gx(host, "user.on_host_file", buf, sizeof buf));
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "overlay")) return overlay(argv[2]);
    if (argc > 2 && !strcmp(argv[1], "ckpt")) return ckpt(argv[2]);
    struct statfs sf;
    const char *base = (statfs("/tmp", &sf) == 0 && sf.f_type == 0x01021994) ? "/tmp" : "/dev/shm";
    snprintf(D, sizeof D, "%s/ecs_xattr_dir", base);
    snprintf(F, sizeof F, "%s/f", D);
    snprintf(G, sizeof G, "%s/g", D);
    snprintf(L, sizeof L, "%s/l", D);
    snprintf(P, sizeof P, "%s/p", D);
    snprintf(S, sizeof S, "%s/sticky", D);
    snprintf(O, sizeof O, "%s/open", D);
    unlink(F); unlink(G); unlink(L); unlink(P); rmdir(S); unlink(O); rmdir(D);
    T("mkdir", mkdir(D, 0755));
    chmod(D, 0755);
    int fd = open(F, O_CREAT | O_RDWR, 0600);
    printf("open ok %d\n", fd >= 0);
    fchmod(fd, 0600);
    T("symlink", symlink("f", L));
    /* a special file: a UNIX socket's name */
    int sk = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strncpy(sun.sun_path, P, sizeof sun.sun_path - 1);
    T("bind", bind(sk, (struct sockaddr *)&sun, sizeof sun));
    T("mkdir sticky", mkdir(S, 0777));
    chmod(S, 01777);
    int ofd = open(O, O_CREAT | O_RDWR, 0666);
    fchmod(ofd, 0666);

    char buf[70000], lst[1024];
    T("list empty", lx(F, lst, sizeof lst));
    T("get missing", gx(F, "user.a", buf, sizeof buf));
    T("set user.a", sx(F, "user.a", "hello", 5, 0));
    T("get size query", gx(F, "user.a", NULL, 0));
    long n = gx(F, "user.a", buf, sizeof buf);
    printf("get %ld %.*s\n", n, (int)(n > 0 ? n : 0), buf);
    T("get too small", gx(F, "user.a", buf, 2));
    T("get exact", gx(F, "user.a", buf, 5));
    T("create existing", sx(F, "user.a", "x", 1, 1));
    T("replace missing", sx(F, "user.nope", "x", 1, 2));
    T("create|replace existing", sx(F, "user.a", "x", 1, 3));
    T("create|replace missing", sx(F, "user.nope", "x", 1, 3));
    T("bad flags", sx(F, "user.a", "x", 1, 4));
    T("replace existing", sx(F, "user.a", "world!", 6, 2));
    n = gx(F, "user.a", buf, sizeof buf);
    printf("get after replace %ld %.*s\n", n, (int)(n > 0 ? n : 0), buf);
    T("create new", sx(F, "user.c", "", 0, 1));
    T("get empty value", gx(F, "user.c", buf, sizeof buf));
    T("set NULL value size 0", sx(F, "user.d", NULL, 0, 0));
    T("set NULL value size 4", sx(F, "user.e", NULL, 4, 0));
    unsigned char bin[8] = {0, 1, 2, 0, 255, 254, 0, 7};
    T("set binary", fsx(fd, "user.bin", bin, sizeof bin, 0));
    n = fgx(fd, "user.bin", buf, sizeof buf);
    show_value("get binary", (unsigned char *)buf, n);

    /* the attribute change is the inode's: ctime moves (not for a read or a failed set) */
    struct stat s0, s1;
    struct timespec pause = {0, 30 * 1000 * 1000};
    stat(F, &s0); nanosleep(&pause, NULL);
    gx(F, "user.a", buf, sizeof buf);
    sx(F, "user.a", "x", 1, XATTR_CREATE_);
    stat(F, &s1);
    printf("ctime moved by get and failed set %d\n", s1.st_ctim.tv_sec != s0.st_ctim.tv_sec || s1.st_ctim.tv_nsec != s0.st_ctim.tv_nsec);
    nanosleep(&pause, NULL);
    sx(F, "user.t", "x", 1, 0);
    stat(F, &s0);
    printf("ctime moved by set %d\n", s0.st_ctim.tv_sec != s1.st_ctim.tv_sec || s0.st_ctim.tv_nsec != s1.st_ctim.tv_nsec);
    nanosleep(&pause, NULL);
    rx(F, "user.t");
    stat(F, &s1);
    printf("ctime moved by remove %d\n", s0.st_ctim.tv_sec != s1.st_ctim.tv_sec || s0.st_ctim.tv_nsec != s1.st_ctim.tv_nsec);

    /* names */
    T("empty name", sx(F, "", "x", 1, 0));
    T("get empty name", gx(F, "", buf, sizeof buf));
    char name[300];
    memset(name, 'n', sizeof name);
    memcpy(name, "user.", 5);
    name[255] = 0;
    T("name 255", sx(F, name, "x", 1, 0));
    T("get name 255", gx(F, name, buf, sizeof buf));
    T("remove name 255", rx(F, name));
    name[255] = 'n'; name[256] = 0;
    T("name 256", sx(F, name, "x", 1, 0));
    T("get name 256", gx(F, name, buf, sizeof buf));
    T("remove name 256", rx(F, name));
    T("bare prefix user.", sx(F, "user.", "x", 1, 0));
    T("get bare prefix", gx(F, "user.", buf, sizeof buf));
    T("bare prefix trusted.", sx(F, "trusted.", "x", 1, 0));
    T("bare prefix security.", sx(F, "security.", "x", 1, 0));
    T("unknown prefix", sx(F, "foo.bar", "x", 1, 0));
    T("get unknown prefix", gx(F, "foo.bar", buf, sizeof buf));
    T("remove unknown prefix", rx(F, "foo.bar"));
    T("system.foo", sx(F, "system.foo", "x", 1, 0));
    T("get system.foo", gx(F, "system.foo", buf, sizeof buf));
    T("no dot", sx(F, "user", "x", 1, 0));

    /* value sizes */
    memset(buf, 'v', sizeof buf);
    T("value 65536", sx(F, "user.big", buf, 65536, 0));
    T("get value 65536 size query", gx(F, "user.big", NULL, 0));
    T("get value 65536", gx(F, "user.big", buf, 65536));
    T("get value 65536 into 65535", gx(F, "user.big", buf, 65535));
    T("get value 65536 huge size", gx(F, "user.big", buf, sizeof buf));
    T("value 65537", sx(F, "user.big2", buf, 65537, 0));
    T("value huge", sx(F, "user.big2", buf, (size_t)1 << 40, 0));
    T("remove big", rx(F, "user.big"));

    /* other namespaces as root */
    T("set trusted", sx(F, "trusted.t", "T", 1, 0));
    T("get trusted", gx(F, "trusted.t", buf, sizeof buf));
    T("set security", sx(F, "security.s", "S", 1, 0));
    T("get security", gx(F, "security.s", buf, sizeof buf));
    T("set trusted on open", sx(O, "trusted.t", "T", 1, 0));
    T("set security on open", sx(O, "security.s", "S", 1, 0));

    /* lists */
    T("list size query", lx(F, NULL, 0));
    n = lx(F, lst, sizeof lst);
    show_list("list", lst, n);
    T("list too small", lx(F, lst, 5));
    n = flx(fd, lst, sizeof lst);
    show_list("flist", lst, n);
    n = lx(L, lst, sizeof lst);
    show_list("list through symlink", lst, n);
    T("llist symlink", llx(L, lst, sizeof lst));
    T("list dir", lx(D, lst, sizeof lst));

    /* symlinks and special files */
    T("lset user on symlink", lsx(L, "user.x", "x", 1, 0));
    T("lget user on symlink", lgx(L, "user.x", buf, sizeof buf));
    T("lremove user on symlink", lrx(L, "user.x"));
    T("lset trusted on symlink", lsx(L, "trusted.l", "L", 1, 0));
    T("lget trusted on symlink", lgx(L, "trusted.l", buf, sizeof buf));
    n = llx(L, lst, sizeof lst);
    show_list("llist symlink after", lst, n);
    T("get through symlink", gx(L, "user.a", buf, sizeof buf));
    T("lget file attr on symlink", lgx(L, "user.a", buf, sizeof buf));
    T("set user on socket node", sx(P, "user.x", "x", 1, 0));
    T("get user on socket node", gx(P, "user.x", buf, sizeof buf));
    T("set trusted on socket node", sx(P, "trusted.x", "x", 1, 0));
    T("get trusted on socket node", gx(P, "trusted.x", buf, sizeof buf));
    T("set user on dir", sx(D, "user.dir", "d", 1, 0));
    T("get user on dir", gx(D, "user.dir", buf, sizeof buf));
    T("set user on sticky dir (root)", sx(S, "user.s", "s", 1, 0));

    /* paths and fds */
    T("missing path", gx("/nonexistent/x", "user.a", buf, sizeof buf));
    T("empty path", gx("", "user.a", buf, sizeof buf));
    T("NULL path", gx(NULL, "user.a", buf, sizeof buf));
    T("NULL name", gx(F, NULL, buf, sizeof buf));
    T("bad value pointer", gx(F, "user.a", (void *)8, 100));
    T("set bad value pointer", sx(F, "user.z", (void *)8, 10, 0));
    T("bad list pointer", lx(F, (void *)8, 100));
    T("not a dir", gx("/tmp/../proc/self/status/x", "user.a", buf, sizeof buf));
    int pfd = open(F, O_PATH);
    T("fget O_PATH", fgx(pfd, "user.a", buf, sizeof buf));
    T("fset O_PATH", fsx(pfd, "user.a", "x", 1, 0));
    T("flist O_PATH", flx(pfd, lst, sizeof lst));
    T("fremove O_PATH", frx(pfd, "user.a"));
    T("fget bad fd", fgx(99, "user.a", buf, sizeof buf));
    T("fset bad fd", fsx(-1, "user.a", "x", 1, 0));
    T("fset bad fd bad flags", fsx(99, "user.a", "x", 1, 8));
    T("fset bad fd empty name", fsx(99, "", "x", 1, 0));
    int rfd = open(F, O_RDONLY);
    T("fset on O_RDONLY fd", fsx(rfd, "user.ro", "r", 1, 0));
    T("fremove on O_RDONLY fd", frx(rfd, "user.ro"));
    int pp[2];
    pipe(pp);
    T("fset user on pipe", fsx(pp[0], "user.x", "x", 1, 0));
    T("fget user on pipe", fgx(pp[0], "user.x", buf, sizeof buf));
    T("fset trusted on pipe", fsx(pp[0], "trusted.x", "x", 1, 0));
    T("fget trusted on pipe", fgx(pp[0], "trusted.x", buf, sizeof buf));
    T("flist pipe", flx(pp[0], lst, sizeof lst));
    /* sockets: one read-only attribute, the protocol's name */
    int socks[5] = {socket(AF_UNIX, SOCK_STREAM, 0), socket(AF_UNIX, SOCK_DGRAM, 0),
                    socket(AF_INET, SOCK_STREAM, 0), socket(AF_INET, SOCK_DGRAM, 0),
                    socket(AF_INET6, SOCK_STREAM, 0)};
    for (int i = 0; i < 5; i++) {
        n = flx(socks[i], lst, sizeof lst);
        show_list("socket flist", lst, n);
        memset(buf, 0, 64);
        n = fgx(socks[i], "system.sockprotoname", buf, sizeof buf);
        show_value("socket sockprotoname", (unsigned char *)buf, n);
        T("socket sockprotoname small", fgx(socks[i], "system.sockprotoname", buf, 2));
        T("socket sockprotoname size query", fgx(socks[i], "system.sockprotoname", NULL, 0));
        T("socket set sockprotoname", fsx(socks[i], "system.sockprotoname", "x", 1, 0));
        T("socket remove sockprotoname", frx(socks[i], "system.sockprotoname"));
        T("socket get user", fgx(socks[i], "user.x", buf, sizeof buf));
        T("socket set user", fsx(socks[i], "user.x", "x", 1, 0));
        T("socket get trusted", fgx(socks[i], "trusted.x", buf, sizeof buf));
        T("socket set trusted", fsx(socks[i], "trusted.x", "x", 1, 0));
        T("socket get system.other", fgx(socks[i], "system.other", buf, sizeof buf));
        T("socket flist small", flx(socks[i], lst, 5));
        close(socks[i]);
    }
    T("get user on /proc file", gx("/proc/self/status", "user.x", buf, sizeof buf));
    T("set trusted on /proc file", sx("/proc/self/status", "trusted.x", "x", 1, 0));
    T("list /proc file", lx("/proc/self/status", lst, sizeof lst));

    /* removal */
    T("remove", rx(F, "user.c"));
    T("remove again", rx(F, "user.c"));
    T("fremove", frx(fd, "user.d"));
    T("remove missing trusted", rx(F, "trusted.none"));
    T("remove empty name", rx(F, ""));
    n = lx(F, lst, sizeof lst);
    show_list("list after removes", lst, n);

    /* security.capability */
    unsigned char cap[24] = {0};
    T("cap bad size", sx(O, "security.capability", cap, 3, 0));
    T("cap bad revision", sx(O, "security.capability", cap, 20, 0));
    cap[3] = 2; cap[0] = 1; cap[4] = 0x20;      /* v2 | effective, CAP_NET_BIND_SERVICE? permitted bit 5 */
    T("cap v2 wrong size", sx(O, "security.capability", cap, 24, 0));
    T("cap v2", sx(O, "security.capability", cap, 20, 0));
    n = gx(O, "security.capability", buf, sizeof buf);
    show_value("cap v2 read", (unsigned char *)buf, n);
    T("cap v2 read small", gx(O, "security.capability", buf, 10));
    T("cap v2 read size query", gx(O, "security.capability", NULL, 0));
    cap[3] = 3;
    T("cap v3 root 0", sx(O, "security.capability", cap, 24, 0));
    n = gx(O, "security.capability", buf, sizeof buf);
    show_value("cap v3 root 0 read", (unsigned char *)buf, n);
    cap[20] = 0xe8; cap[21] = 3;  /* rootid 1000 */
    T("cap v3 root 1000", sx(O, "security.capability", cap, 24, 0));
    n = gx(O, "security.capability", buf, sizeof buf);
    show_value("cap v3 root 1000 read", (unsigned char *)buf, n);
    memset(cap + 20, 0xff, 4);
    T("cap v3 root -1", sx(O, "security.capability", cap, 24, 0));
    T("cap on a missing file", sx(G, "security.capability", "", 0, 0));
    int gfd = open(G, O_CREAT | O_RDWR, 0644);
    T("cap empty on G", sx(G, "security.capability", "", 0, 0));
    T("cap empty read", gx(G, "security.capability", buf, sizeof buf));
    T("cap remove", rx(G, "security.capability"));
    close(gfd);
    n = lx(O, lst, sizeof lst);
    show_list("list open", lst, n);

    /* an unprivileged child */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) unprivileged();
    int st;
    waitpid(c, &st, 0);
    printf("unprivileged child status %d\n", st);

    /* fork: both see one inode's attributes */
    fflush(stdout);
    c = fork();
    if (c == 0) {
        long m = gx(F, "user.a", buf, sizeof buf);
        printf("child sees %ld %.*s\n", m, (int)(m > 0 ? m : 0), buf);
        sx(F, "user.from_child", "c", 1, 0);
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, &st, 0);
    T("parent sees child's", gx(F, "user.from_child", buf, sizeof buf));

    /* the *xattrat calls */
    int dfd = open(D, O_RDONLY | O_DIRECTORY);
    struct xattr_args a = {(uint64_t)(uintptr_t)"atval", 5, 0};
    T("setxattrat", syscall(NR_setxattrat, dfd, "f", 0, "user.at", &a, sizeof a));
    a.flags = 1;
    T("setxattrat create existing", syscall(NR_setxattrat, dfd, "f", 0, "user.at", &a, sizeof a));
    a.flags = 8;
    T("setxattrat bad flags", syscall(NR_setxattrat, dfd, "f", 0, "user.at", &a, sizeof a));
    a.flags = 0;
    T("setxattrat small args", syscall(NR_setxattrat, dfd, "f", 0, "user.at", &a, 8));
    T("setxattrat huge args", syscall(NR_setxattrat, dfd, "f", 0, "user.at", &a, 4097));
    struct { struct xattr_args a; uint64_t more; } big = {a, 0};
    T("setxattrat bigger zeroed args", syscall(NR_setxattrat, dfd, "f", 0, "user.at2", &big, sizeof big));
    big.more = 1;
    T("setxattrat bigger args set", syscall(NR_setxattrat, dfd, "f", 0, "user.at2", &big, sizeof big));
    T("setxattrat bad at_flags", syscall(NR_setxattrat, dfd, "f", 0x400, "user.at", &a, sizeof a));
    T("setxattrat nofollow symlink", syscall(NR_setxattrat, dfd, "l", AT_SYMLINK_NOFOLLOW, "user.at", &a, sizeof a));
    T("setxattrat empty path on fd", syscall(NR_setxattrat, fd, "", AT_EMPTY_PATH, "user.empty", &a, sizeof a));
    T("setxattrat empty path no flag", syscall(NR_setxattrat, fd, "", 0, "user.empty", &a, sizeof a));
    T("setxattrat NULL path on fd", syscall(NR_setxattrat, fd, NULL, AT_EMPTY_PATH, "user.null", &a, sizeof a));
    T("setxattrat O_PATH fd", syscall(NR_setxattrat, pfd, "", AT_EMPTY_PATH, "user.p", &a, sizeof a));
    T("setxattrat bad args pointer", syscall(NR_setxattrat, dfd, "f", 0, "user.at", (void *)8, sizeof a));
    char vb[16] = {0};
    struct xattr_args g = {(uint64_t)(uintptr_t)vb, sizeof vb, 0};
    n = syscall(NR_getxattrat, dfd, "f", 0, "user.at", &g, sizeof g);
    printf("getxattrat %ld %.*s\n", n, (int)(n > 0 ? n : 0), vb);
    T("getxattrat empty path", syscall(NR_getxattrat, fd, "", AT_EMPTY_PATH, "user.empty", &g, sizeof g));
    g.flags = 1;
    T("getxattrat flags", syscall(NR_getxattrat, dfd, "f", 0, "user.at", &g, sizeof g));
    g.flags = 0; g.size = 2;
    T("getxattrat small", syscall(NR_getxattrat, dfd, "f", 0, "user.at", &g, sizeof g));
    n = syscall(NR_listxattrat, dfd, "f", 0, lst, sizeof lst);
    show_list("listxattrat", lst, n);
    T("listxattrat bad at_flags", syscall(NR_listxattrat, dfd, "f", 1, lst, sizeof lst));
    T("removexattrat", syscall(NR_removexattrat, dfd, "f", 0, "user.at"));
    T("removexattrat again", syscall(NR_removexattrat, dfd, "f", 0, "user.at"));
    T("removexattrat fd", syscall(NR_removexattrat, fd, NULL, AT_EMPTY_PATH, "user.empty"));

    /* fd calls on AT_FDCWD: the working directory */
    chdir(D);
    T("fset AT_FDCWD", fsx(AT_FDCWD, "user.cwd", "w", 1, 0));
    T("get on dir after fset AT_FDCWD", gx(D, "user.cwd", buf, sizeof buf));
    T("getxattrat AT_FDCWD empty", syscall(NR_getxattrat, AT_FDCWD, "", AT_EMPTY_PATH, "user.cwd", &g, sizeof g));

    n = lx(F, lst, sizeof lst);
    show_list("final list", lst, n);
    close(fd); close(rfd); close(pfd); close(ofd); close(dfd); close(sk);
    chdir("/");
    unlink(F); unlink(G); unlink(L); unlink(P); rmdir(S); unlink(O); rmdir(D);
    return 0;
}
