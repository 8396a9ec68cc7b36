/* sendfile(2)'s rules (do_sendfile, do_splice_direct): the input must splice (not a directory,
 * pipe, socket, eventfd, /dev/null or a process's /proc file: EINVAL), the output too and not
 * O_APPEND (a pipe may be); an offset on an unseekable input is ESPIPE; a range past the
 * largest offset is EINVAL; nothing is consumed when the output refuses; a file sent into
 * itself ahead of the read repeats its first bytes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

static void t(const char *what, int out, int in, off_t *off, size_t n) {
    errno = 0;
    long r = sendfile(out, in, off, n);
    printf("%s: %ld %s\n", what, r, r < 0 ? strerror(errno) : "");
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char dir[] = "/tmp/sendfile_rules.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char out_path[64], src_path[64];
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    snprintf(src_path, sizeof src_path, "%s/src", dir);
    int f = open(out_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int d = open(dir, O_RDONLY);
    t("from a directory", f, d, NULL, 1);
    t("from a directory, count 0", f, d, NULL, 0);
    int p[2];
    pipe(p);
    write(p[1], "ab", 2);
    t("from a pipe", f, p[0], NULL, 1);
    off_t o = 0;
    t("from a pipe at an offset", f, p[0], &o, 1);
    int e = eventfd(3, 0);
    t("from an eventfd", f, e, NULL, 8);
    int pr = open("/proc/self/status", O_RDONLY);
    t("from /proc/self/status", f, pr, NULL, 5);
    int pv = open("/proc/version", O_RDONLY);
    t("from /proc/version", f, pv, NULL, 5);
    int z = open("/dev/zero", O_RDONLY);
    t("from /dev/zero", f, z, NULL, 5);
    int nl = open("/dev/null", O_RDWR);
    t("from /dev/null", f, nl, NULL, 5);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    write(sv[1], "xy", 2);
    t("from a socket", f, sv[0], NULL, 2);

    int src = open(src_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(src, "hello", 5);
    lseek(src, 0, SEEK_SET);
    t("to an eventfd", e, src, NULL, 8);
    printf("input position kept: %ld\n", (long)lseek(src, 0, SEEK_CUR));
    t("to a pipe", p[1], src, NULL, 2);
    t("to a socket", sv[1], src, NULL, 2);
    t("to /dev/null", nl, src, NULL, 1);
    int a = open(out_path, O_WRONLY | O_APPEND);
    t("to an O_APPEND file", a, src, NULL, 2);
    int pa[2];
    pipe2(pa, O_NONBLOCK);
    fcntl(pa[1], F_SETFL, O_APPEND | O_NONBLOCK);
    t("to an O_APPEND pipe", pa[1], src, NULL, 2);
    o = 0x7ffffffffffffffeLL;
    t("past the largest offset", f, src, &o, 3);
    o = -1;
    t("a negative offset", f, src, &o, 3);
    printf("input position now: %ld\n", (long)lseek(src, 0, SEEK_CUR));

    int m = memfd_create("self", 0);
    write(m, "\1", 1);
    o = 0;
    t("into itself", m, m, &o, 0xa00000);
    printf("offset %ld size %ld\n", (long)o, (long)lseek(m, 0, SEEK_END));
    int m2 = memfd_create("self2", 0);
    write(m2, "abc", 3);
    lseek(m2, 1, SEEK_SET);
    o = 0;
    t("into itself, one byte ahead", m2, m2, &o, 10);
    char b[32] = {0};
    pread(m2, b, 31, 0);
    printf("offset %ld content %s\n", (long)o, b);
    lseek(m2, 0, SEEK_SET);
    o = 4;
    t("into itself, behind the read", m2, m2, &o, 20);
    memset(b, 0, sizeof b);
    pread(m2, b, 31, 0);
    printf("offset %ld content %s\n", (long)o, b);
    int wo = open(src_path, O_WRONLY);
    t("from a write-only fd", f, wo, NULL, 1);
    t("to a read-only fd", pr, src, NULL, 1);

    /* RLIMIT_FSIZE: splice and sendfile write up to it; at it, EFBIG and SIGXFSZ */
    sigset_t xfsz;
    sigemptyset(&xfsz);
    sigaddset(&xfsz, SIGXFSZ);
    sigprocmask(SIG_BLOCK, &xfsz, NULL);
    int big = open(out_path, O_RDWR | O_TRUNC);
    ftruncate(big, 13 << 20);
    lseek(big, 0, SEEK_END);
    struct rlimit fsz = {13 << 20, 13 << 20};
    setrlimit(RLIMIT_FSIZE, &fsz);
    int pp[2];
    pipe(pp);
    char page[4096];
    memset(page, 'p', sizeof page);
    write(pp[1], page, sizeof page);
    errno = 0;
    long sr = splice(pp[0], NULL, big, NULL, 3 * 4096, 0);
    printf("splice at RLIMIT_FSIZE: %ld %s\n", sr, sr < 0 ? strerror(errno) : "");
    sigset_t pend;
    sigpending(&pend);
    printf("SIGXFSZ pending: %d\n", sigismember(&pend, SIGXFSZ));
    printf("the pipe keeps its bytes: %zd\n", read(pp[0], page, sizeof page));
    lseek(big, (13 << 20) - 100, SEEK_SET);
    write(pp[1], page, sizeof page);
    sr = splice(pp[0], NULL, big, NULL, 4096, 0);
    printf("splice 100 bytes before it: %ld\n", sr);
    lseek(big, (13 << 20) - 3, SEEK_SET);
    o = 0;
    t("sendfile 7 bytes 3 before it", big, src, &o, 7);
    o = 0;
    t("sendfile at it", big, src, &o, 5);
    sigpending(&pend);
    printf("SIGXFSZ pending: %d\n", sigismember(&pend, SIGXFSZ));
    struct rlimit inf = {RLIM_INFINITY, RLIM_INFINITY};
    setrlimit(RLIMIT_FSIZE, &inf);
    unlink(out_path);
    unlink(src_path);
    rmdir(dir);
    return 0;
}
