/* RLIMIT_FSIZE and file offsets at the edge. Output must match native. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t xfsz;
static void on_xfsz(int s) { (void)s; xfsz++; }
static const char *err(long r) { return r < 0 ? strerror(errno) : "ok"; }

static int work(void) {
    char path[64], buf[256];
    memset(buf, 'x', sizeof buf);
    snprintf(path, sizeof path, "/tmp/ecs-fsize-%d", (int)getpid());
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    signal(SIGXFSZ, on_xfsz);
    struct rlimit rl = {100, 100};
    setrlimit(RLIMIT_FSIZE, &rl);
    printf("write 150 at 0: %zd\n", write(fd, buf, 150));
    ssize_t r = write(fd, buf, 10);
    printf("write at the limit: %s, SIGXFSZ %d\n", err(r), xfsz);
    printf("pwrite 100 at 50: %zd\n", pwrite(fd, buf, 100, 50));
    printf("ftruncate 200: %s, SIGXFSZ %d\n", err(ftruncate(fd, 200)), xfsz);
    printf("ftruncate 100: %s\n", err(ftruncate(fd, 100)));
    printf("truncate 101: %s, SIGXFSZ %d\n", err(truncate(path, 101)), xfsz);
    int a = open(path, O_WRONLY | O_APPEND);
    printf("append at the limit: %s, SIGXFSZ %d\n", err(write(a, buf, 1)), xfsz);
    struct iovec iov[2] = {{buf, 60}, {buf, 60}};
    printf("pwritev 120 at 10: %zd\n", pwritev(fd, iov, 2, 10));
    printf("pread at the largest offset: %s\n", err(pread(fd, buf, 16, 0x7fffffffffffffffLL)));
    printf("pwrite ending past it: %s\n", err(pwrite(fd, buf, 16, 0x7ffffffffffffff8LL)));
    printf("pread at -1: %s\n", err(pread(fd, buf, 16, -1)));
    printf("preadv at -1: %s\n", err(preadv(fd, iov, 2, -1)));
    pid_t c = fork();
    if (c == 0) {
        struct rlimit core = {0, 0};
        setrlimit(RLIMIT_CORE, &core);
        signal(SIGXFSZ, SIG_DFL);
        lseek(fd, 100, SEEK_SET);
        write(fd, buf, 1);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("child past the limit: %s\n", WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exited");
    unlink(path);
    return 0;
}

/* The limited process writes its report into a pipe (a limit on a file stdout would cut it). */
int main(void) {
    int p[2];
    pipe(p);
    pid_t c = fork();
    if (c == 0) {
        dup2(p[1], 1);
        close(p[0]);
        setvbuf(stdout, NULL, _IONBF, 0);
        _exit(work());
    }
    close(p[1]);
    char b[512];
    ssize_t n;
    while ((n = read(p[0], b, sizeof b)) > 0)
        write(1, b, n);
    int st;
    waitpid(c, &st, 0);
    printf("status %d\n", st);
    return 0;
}
