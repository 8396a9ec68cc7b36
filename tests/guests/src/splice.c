/* splice, tee, vmsplice between pipes and files; process_vm_readv/writev between processes.
 * Usage: splice splice|vm */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static void say(const char *what, long r) {
    if (r < 0) printf("%s = -1 %s\n", what, errname(errno));
    else printf("%s = %ld\n", what, r);
    fflush(stdout);
}

static int status_of(pid_t pid) {
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void splices(void) {
    int p[2], q[2];
    pipe(p);
    pipe(q);
    int fd = open("/tmp/splice-src", O_CREAT | O_RDWR | O_TRUNC, 0600);
    const char *text = "0123456789abcdefghijklmnopqrstuvwxyz";
    write(fd, text, strlen(text));
    loff_t off = 10;
    say("file -> pipe at offset", splice(fd, &off, p[1], NULL, 8, 0));
    printf("offset now %lld, file position %ld\n", (long long)off, (long)lseek(fd, 0, SEEK_CUR));
    lseek(fd, 30, SEEK_SET);
    say("file -> pipe at position", splice(fd, NULL, p[1], NULL, 100, 0));
    printf("file position %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    say("tee", tee(p[0], q[1], 5, 0));
    char buf[64] = {0};
    say("read tee copy", read(q[0], buf, sizeof buf));
    printf("tee copy '%s'\n", buf);
    say("pipe -> pipe", splice(p[0], NULL, q[1], NULL, 4, 0));
    memset(buf, 0, sizeof buf);
    read(q[0], buf, sizeof buf);
    printf("moved '%s'\n", buf);
    int out = open("/tmp/splice-dst", O_CREAT | O_RDWR | O_TRUNC, 0600);
    loff_t oo = 3;
    say("pipe -> file at offset", splice(p[0], NULL, out, &oo, 100, 0));
    printf("out offset %lld\n", (long long)oo);
    memset(buf, 0, sizeof buf);
    pread(out, buf, sizeof buf, 0);
    printf("out file '%c%c%c%s'\n", buf[0] ? buf[0] : '.', buf[1] ? buf[1] : '.', buf[2] ? buf[2] : '.', buf + 3);
    say("empty nonblock", splice(p[0], NULL, out, NULL, 10, SPLICE_F_NONBLOCK));
    say("offset on a pipe", splice(p[0], &off, out, NULL, 10, 0));
    say("no pipe", splice(fd, NULL, out, NULL, 10, 0));
    say("same pipe", splice(p[0], NULL, p[1], NULL, 10, 0));
    say("bad flags", splice(p[0], NULL, out, NULL, 10, 0x100));
    say("zero length", splice(p[0], NULL, out, NULL, 0, 0));
    say("bad fd", splice(99, NULL, out, NULL, 10, 0));
    say("tee file", tee(fd, q[1], 10, 0));
    say("tee empty nonblock", tee(p[0], q[1], 10, SPLICE_F_NONBLOCK));
    /* vmsplice both ways */
    struct iovec iov[2] = {{"hello ", 6}, {"world", 5}};
    say("vmsplice to pipe", vmsplice(p[1], iov, 2, 0));
    char a[4] = {0}, b[16] = {0};
    struct iovec rio[2] = {{a, 3}, {b, 15}};
    say("vmsplice from pipe", vmsplice(p[0], rio, 2, 0));
    printf("got '%s' '%s'\n", a, b);
    say("vmsplice not a pipe", vmsplice(fd, iov, 2, 0));
    /* end of file and a blocked reader */
    close(p[1]);
    say("splice at eof", splice(p[0], NULL, q[1], NULL, 10, 0));
    int r[2];
    pipe(r);
    pid_t c = fork();
    if (c == 0) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        write(r[1], "late", 4);
        _exit(0);
    }
    long n = splice(r[0], NULL, out, NULL, 10, 0);
    printf("child exit %d\n", status_of(c));
    say("blocked splice", n);
    /* no reader: EPIPE and SIGPIPE */
    signal(SIGPIPE, SIG_IGN);
    close(q[0]);
    lseek(fd, 0, SEEK_SET);
    say("splice to a pipe without readers", splice(fd, NULL, q[1], NULL, 10, 0));
    unlink("/tmp/splice-src");
    unlink("/tmp/splice-dst");
}

static char shared_text[64] = "the child's own text";

static void vm(void) {
    int go[2], done[2];
    pipe(go);
    pipe(done);
    pid_t c = fork();
    if (c == 0) {
        strcpy(shared_text, "changed by the child");
        write(done[1], "r", 1);
        char ch;
        read(go[0], &ch, 1);
        printf("child sees '%s'\n", shared_text);
        fflush(stdout);
        _exit(0);
    }
    char ch;
    read(done[0], &ch, 1);
    char buf[64] = {0}, part[8] = {0};
    struct iovec local[2] = {{part, 7}, {buf, sizeof buf}};
    struct iovec remote[1] = {{shared_text, 20}};
    say("readv", process_vm_readv(c, local, 2, remote, 1, 0));
    printf("read '%s' + '%s'\n", part, buf);
    struct iovec src[1] = {{"written by the parent", 22}};
    struct iovec dst[1] = {{shared_text, 22}};
    say("writev", process_vm_writev(c, src, 1, dst, 1, 0));
    say("flags", process_vm_readv(c, local, 2, remote, 1, 1));
    say("no such pid", process_vm_readv(99999, local, 2, remote, 1, 0));
    struct iovec bad[1] = {{(void *)16, 8}};
    say("remote unmapped", process_vm_readv(c, local, 1, bad, 1, 0));
    struct iovec badl[1] = {{(void *)16, 8}};
    say("local unmapped", process_vm_readv(c, badl, 1, remote, 1, 0));
    say("zero length", process_vm_readv(c, local, 0, remote, 1, 0));
    /* a read that runs into an unmapped page stops there */
    char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(two, 'x', 8192);
    munmap(two + 4096, 4096);
    struct iovec self_r[1] = {{two + 4000, 200}};
    char big[256];
    struct iovec self_l[1] = {{big, sizeof big}};
    say("partial across a hole", process_vm_readv(getpid(), self_l, 1, self_r, 1, 0));
    /* to a read-only page: no force */
    mprotect(two, 4096, PROT_READ);
    struct iovec ro[1] = {{two, 4}};
    say("write to read-only", process_vm_writev(getpid(), src, 1, ro, 1, 0));
    write(go[1], "g", 1);
    printf("child exit %d\n", status_of(c));
    /* another user may not read us */
    pid_t d = fork();
    if (d == 0) {
        if (setuid(1000) < 0) _exit(9);
        char x[8];
        struct iovec l1[1] = {{x, 8}};
        struct iovec r1[1] = {{shared_text, 8}};
        say("other user reads root", process_vm_readv(getppid(), l1, 1, r1, 1, 0));
        _exit(0);
    }
    printf("child exit %d\n", status_of(d));
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *what = argc > 1 ? argv[1] : "splice";
    if (!strcmp(what, "splice")) splices();
    else if (!strcmp(what, "vm")) vm();
    else return 2;
    return 0;
}
