/* Syscalls whose strace lines tests/syscalls/test_strace.py compares with the host's strace: one
 * of each argument kind the syscall table decodes, with values that do not depend on the host
 * (no pids printed as data, no clocks, limits or host names). Everything before the marker write
 * (the libc's start-up) is left out of the comparison.
 *
 *   strace [child]      with "child": the execve'd image, which only exits
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#if __has_include(<linux/futex.h>)
#include <linux/futex.h>
#else /* musl-gcc sees no kernel headers */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_WAKE_OP 5
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAIT_BITSET 9
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_OP_PRIVATE (FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG)
#define FUTEX_CMP_REQUEUE_PRIVATE (FUTEX_CMP_REQUEUE | FUTEX_PRIVATE_FLAG)
#define FUTEX_BITSET_MATCH_ANY 0xffffffff
#define FUTEX_OP_SET 0
#define FUTEX_OP_CMP_GT 4
#define FUTEX_OP(op, oparg, cmp, cmparg) \
    (((op & 0xf) << 28) | ((cmp & 0xf) << 24) | ((oparg & 0xfff) << 12) | (cmparg & 0xfff))
#endif
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int pfd[2];

static void on_usr1(int s) { (void)s; }
static void on_alarm(int s) { (void)s; }
static void on_alarm_feed(int s) { (void)s; write(pfd[1], "x", 1); }

static void arm(long usec) {
    struct itimerval it = {{0, 0}, {0, usec}};
    setitimer(ITIMER_REAL, &it, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1)
        return 7;  /* the execve'd child */
    syscall(SYS_write, -1, "strace-test-begin", 17);

    /* files: open flags, modes, buffers, offsets */
    char buf[128];
    int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
    read(fd, buf, 100);
    lseek(fd, 0, SEEK_SET);
    lseek(fd, -5, SEEK_END);
    pread(fd, buf, 10, 3);
    fcntl(fd, F_GETFD);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    int fd2 = dup(fd);
    dup2(fd, 10);
    dup3(fd, 11, O_CLOEXEC);
    close(fd2);
    close(10);
    close(11);
    close(fd);
    close(-1);
    open("/nonexistent/x", O_RDONLY);
    int w = open("/var/tmp/ecs-strace-test.tmp", O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(w, "bin\0\001\177\3779\n\t\r\v\f\"\\x", 17);
    write(w, "0123456789012345678901234567890123456789", 40);
    struct iovec iov[2] = {{"hello", 5}, {"\n", 1}};
    writev(w, iov, 2);
    lseek(w, 0, SEEK_SET);
    char a[4], b[8];
    struct iovec riov[2] = {{a, sizeof a}, {b, sizeof b}};
    readv(w, riov, 2);
    close(w);
    unlink("/var/tmp/ecs-strace-test.tmp");
    w = openat(AT_FDCWD, "/var/tmp/ecs-strace-test.tmp", O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0640);
    close(w);
    unlink("/var/tmp/ecs-strace-test.tmp");
    access("/etc/passwd", R_OK | W_OK);
    access("/etc/passwd", F_OK);
    faccessat(AT_FDCWD, "/etc", X_OK, AT_EACCESS);
    struct stat st;
    stat("/etc", &st);
    char stx[256];
    syscall(SYS_statx, AT_FDCWD, "/etc/passwd", AT_SYMLINK_NOFOLLOW, 0x2 | 0x200, stx);
    fstatat(AT_FDCWD, "/dev/null", &st, AT_SYMLINK_NOFOLLOW);
    mkdir("/var/tmp/ecs-strace-test.d", 0755);
    close(open("/var/tmp/ecs-strace-test.d/a", O_WRONLY | O_CREAT, 0644));
    close(open("/var/tmp/ecs-strace-test.d/bb", O_WRONLY | O_CREAT, 0644));
    char dents[1024];
    int dfd = open("/var/tmp/ecs-strace-test.d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    syscall(SYS_getdents64, dfd, dents, sizeof dents);
    syscall(SYS_getdents64, dfd, dents, sizeof dents);
    close(dfd);
    unlink("/var/tmp/ecs-strace-test.d/a");
    unlink("/var/tmp/ecs-strace-test.d/bb");
    rmdir("/var/tmp/ecs-strace-test.d");
    umask(027);
    chdir("/");
    getcwd(buf, sizeof buf);
    readlink("/nonexistent", buf, sizeof buf);

    /* pipes */
    pipe2(pfd, O_CLOEXEC | O_NONBLOCK);
    read(pfd[0], buf, 1);
    close(pfd[0]);
    close(pfd[1]);
    pipe(pfd);

    /* sockets: families, types, addresses, message headers, options (fixed ports on loopback) */
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    send(sv[0], "ping", 4, MSG_NOSIGNAL);
    recv(sv[1], buf, 4, MSG_PEEK);
    recvfrom(sv[1], buf, sizeof buf, MSG_DONTWAIT, NULL, NULL);
    struct iovec siov[2] = {{"ab", 2}, {"cde", 3}};
    struct msghdr mh = {.msg_iov = siov, .msg_iovlen = 2};
    sendmsg(sv[0], &mh, 0);
    char r1[8];
    struct iovec riov2[1] = {{r1, sizeof r1}};
    struct msghdr rh = {.msg_iov = riov2, .msg_iovlen = 1};
    recvmsg(sv[1], &rh, 0);
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    int passed = 1;
    memcpy(CMSG_DATA(cm), &passed, sizeof passed);
    sendmsg(sv[0], &mh, 0);
    char rcbuf[CMSG_SPACE(sizeof(int))];
    rh.msg_control = rcbuf;
    rh.msg_controllen = sizeof rcbuf;
    recvmsg(sv[1], &rh, MSG_CMSG_CLOEXEC);
    close(*(int *)CMSG_DATA(CMSG_FIRSTHDR(&rh)));
    shutdown(sv[0], SHUT_WR);
    close(sv[0]);
    close(sv[1]);
    int us = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un ua = {.sun_family = AF_UNIX};
    memcpy(ua.sun_path, "\0ecs-strace-test", 16);
    bind(us, (struct sockaddr *)&ua, offsetof(struct sockaddr_un, sun_path) + 16);
    struct sockaddr_un pa = {.sun_family = AF_UNIX, .sun_path = "/nonexistent/sock"};
    connect(us, (struct sockaddr *)&pa, sizeof pa);
    close(us);
    int ts4 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP);
    int one = 1;
    setsockopt(ts4, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(ts4, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(47211)};
    la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(ts4, (struct sockaddr *)&la, sizeof la);
    listen(ts4, 16);
    int tc = socket(AF_INET, SOCK_STREAM, 0);
    connect(tc, (struct sockaddr *)&la, sizeof la);
    int ta = accept4(ts4, NULL, NULL, SOCK_CLOEXEC);
    int got = 0;
    socklen_t gl = sizeof got;
    getsockopt(tc, SOL_SOCKET, SO_ERROR, &got, &gl);
    getsockopt(tc, SOL_SOCKET, SO_TYPE, &got, &gl);
    close(ta);
    close(tc);
    close(ts4);
    int u6 = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 l6 = {.sin6_family = AF_INET6, .sin6_port = htons(47212)};
    l6.sin6_addr = in6addr_loopback;
    bind(u6, (struct sockaddr *)&l6, sizeof l6);
    sendto(u6, "six", 3, 0, (struct sockaddr *)&l6, sizeof l6);
    recvfrom(u6, buf, sizeof buf, 0, NULL, NULL);
    close(u6);

    /* memory: protections and map flags */
    char *m = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(m, 4096, PROT_NONE);
    mprotect(m, 4096, PROT_READ | PROT_EXEC);
    madvise(m, 4096, MADV_DONTNEED);
    munmap(m, 16384);
    mmap(NULL, 4096, PROT_READ, MAP_SHARED, 1000, 0);
    mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);

    /* signals: actions, masks, sending, delivery */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sa.sa_flags = SA_RESTART | SA_NODEFER;
    sigaction(SIGUSR1, &sa, NULL);
    struct sigaction old;
    sigaction(SIGUSR1, NULL, &old);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGPIPE, SIG_DFL);
    sigset_t s, o;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGRTMIN + 3);
    sigprocmask(SIG_BLOCK, &s, &o);
    sigfillset(&s);
    sigprocmask(SIG_SETMASK, &s, &o);
    sigemptyset(&s);
    sigprocmask(SIG_SETMASK, &s, NULL);
    raise(SIGUSR1);
    syscall(SYS_kill, 0, 0);

    /* blocking calls a handler interrupts: pause, a sleep, a read restarted by SA_RESTART (the
     * timer fires 100 ms after it is armed, long after the call blocked) */
    sa.sa_handler = on_alarm;
    sa.sa_flags = 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    arm(100000);
    pause();
    arm(100000);
    struct timespec ts = {5, 0};
    nanosleep(&ts, NULL);
    sa.sa_handler = on_alarm_feed;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    arm(100000);
    read(pfd[0], buf, 1);

    /* clocks and futexes with values that do not depend on the host */
    struct timespec res;
    syscall(SYS_clock_getres, CLOCK_MONOTONIC, &res);
    ts.tv_sec = 0;
    ts.tv_nsec = 1000;
    syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL);
    ts.tv_sec = 1;
    ts.tv_nsec = 0;
    syscall(SYS_clock_nanosleep, CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
    uint32_t word = 0, word2 = 0;
    syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
    syscall(SYS_futex, &word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
    ts.tv_sec = 0;
    ts.tv_nsec = 0;
    syscall(SYS_futex, &word, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, 0, &ts, NULL,
            FUTEX_BITSET_MATCH_ANY);
    syscall(SYS_futex, &word, FUTEX_WAKE_OP_PRIVATE, 1, 1, &word2,
            FUTEX_OP(FUTEX_OP_SET, 0, FUTEX_OP_CMP_GT, 1));
    syscall(SYS_futex, &word, FUTEX_CMP_REQUEUE_PRIVATE, 1, 1, &word2, 5);
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);

    /* processes: exit statuses, a fatal signal, execve */
    pid_t c = fork();
    if (c == 0)
        _exit(3);
    int status;
    wait4(c, &status, 0, NULL);
    c = fork();
    if (c == 0) {
        raise(SIGTERM);
        _exit(0);
    }
    waitpid(-1, &status, 0);
    waitpid(-1, &status, WNOHANG);
    c = fork();
    if (c == 0) {
        char *args[] = {"strace-child", "child", NULL};
        char *env[] = {"A=1", NULL};
        execve("/proc/self/exe", args, env);
        _exit(1);
    }
    wait4(c, &status, 0, NULL);
    return 0;
}
