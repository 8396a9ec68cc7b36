/* Shared file mappings are the file's page cache: write(2), truncate and every other shared
 * mapping of the file (in this process or a forked one) see each other at once; an access to a
 * page wholly past the end of a mapped file is SIGBUS (BUS_ADRERR at the address), and a system
 * call copying from or to such a page fails with EFAULT.
 * Usage: shmap SCENARIO (coherent, memfd, sigbus, private). Run in a writable directory.
 * Prints what it sees; the output must match Linux's exactly. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "probe.h"

#define PG 4096

/* Print "what: result" or "what: -1 ERRNO", the call evaluated before errno is read. */
static void show(const char *what, long r) {
    int e = errno;
    if (r < 0) printf("%s: %ld %s\n", what, r, strerror(e));
    else printf("%s: %ld\n", what, r);
}

static int tmpfile_fd(void) {
    char name[] = "shmap-XXXXXX";
    int fd = mkstemp(name);
    if (fd < 0) { perror("mkstemp"); exit(2); }
    unlink(name);
    return fd;
}

static void coherent(void) {
    int fd = tmpfile_fd();
    char buf[2 * PG];
    memset(buf, 'a', sizeof buf);
    printf("write %zd\n", write(fd, buf, sizeof buf));
    char *m1 = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *m2 = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 0);
    char *m3 = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, PG);  /* second page */
    if (m1 == MAP_FAILED || m2 == MAP_FAILED || m3 == MAP_FAILED) { perror("mmap"); exit(2); }
    printf("mapped: %c %c %c\n", m1[0], m2[PG + 1], m3[2]);
    /* write(2) reaches every mapping at once */
    printf("pwrite %zd\n", pwrite(fd, "bbbb", 4, PG - 2));
    printf("after pwrite: %c%c%c%c %c%c%c%c %c%c\n", m1[PG - 2], m1[PG - 1], m1[PG], m1[PG + 1],
           m2[PG - 2], m2[PG - 1], m2[PG], m2[PG + 1], m3[0], m3[1]);
    /* a store through one mapping reaches the others and read(2), with no msync */
    m1[10] = 'x';
    m3[20] = 'y';
    char r[2];
    pread(fd, r, 1, 10);
    pread(fd, r + 1, 1, PG + 20);
    printf("after stores: m2 %c %c, pread %c %c, m1 %c\n", m2[10], m2[PG + 20], r[0], r[1],
           m1[PG + 20]);
    /* across fork, both ways */
    pid_t pid = fork();
    if (pid == 0) {
        m1[100] = 'c';
        pwrite(fd, "d", 1, 101);
        char s[2];
        for (int i = 0; i < 1000 && m2[200] != 'p'; i++) usleep(1000);
        s[0] = m2[200];
        pread(fd, s + 1, 1, 201);
        printf("child saw parent's: %c %c\n", s[0], s[1]);
        fflush(stdout);
        _exit(0);
    }
    m1[201] = 'q';
    m3[0] = 'r';
    m1[200] = 'p';
    int st;
    waitpid(pid, &st, 0);
    printf("parent saw child's: %c %c (status %d)\n", m2[100], m1[101], st);
    /* growing the file with write(2) makes a mapping's page past the old end readable */
    char *m4 = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("pwrite at 2 pages: %zd\n", pwrite(fd, "zz", 2, 2 * PG + 5));
    printf("third page: %c %d\n", m4[2 * PG + 5], m4[2 * PG + 7]);
    m4[2 * PG + 8] = 'e';
    pread(fd, r, 1, 2 * PG + 8);
    printf("store past the old end reads back: %c, size %ld\n", r[0], (long)lseek(fd, 0, SEEK_END));
    /* truncate then regrow: the cut bytes read as zeros in every mapping */
    ftruncate(fd, 50);
    ftruncate(fd, 2 * PG);
    printf("after truncate down and up: %d %d %d %c\n", m1[60], m2[PG + 1], m1[10], m1[0]);
    /* a store past the end in the last page of a tmpfs file (a memfd; a disk file system
     * zeroes it instead): kept by a truncate up, cut by a truncate down */
    int t = (int)syscall(SYS_memfd_create, "tail", 0);
    ftruncate(t, 100);
    char *t1 = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, t, 0);
    char *t2 = mmap(NULL, PG, PROT_READ, MAP_SHARED, t, 0);
    t1[200] = 'X';
    ftruncate(t, 300);
    pread(t, r, 1, 200);
    printf("store past the end, then truncate up: %d %d\n", r[0], t2[200]);
    t1[250] = 'Y';
    ftruncate(t, 50);
    ftruncate(t, 300);
    pread(t, r, 1, 250);
    printf("then down and up: %d %d\n", r[0], t2[250]);
    close(t);
    munmap(m1, 2 * PG);
    munmap(m2, 2 * PG);
    munmap(m3, PG);
    munmap(m4, 3 * PG);
    close(fd);
}

static void memfd(void) {
    int fd = (int)syscall(SYS_memfd_create, "shmap", MFD_ALLOW_SEALING);
    if (fd < 0) { perror("memfd_create"); exit(2); }
    int fd2 = dup(fd);
    char buf[PG];
    memset(buf, 'm', sizeof buf);
    write(fd, buf, sizeof buf);
    char *a = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *b = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
    a[0] = 'A';
    b[1] = 'B';
    char r[3] = {0};
    pread(fd2, r, 2, 0);
    printf("memfd and dup: %c%c %c%c read %s\n", a[0], a[1], b[0], b[1], r);
    show("seal write with writable mapping", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    munmap(a, PG);
    munmap(b, PG);
    char *c = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
    show("seal write with read-only shared mapping", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    munmap(c, PG);
    char *d = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    show("seal write with private mapping", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    printf("private mapping sees: %c%c\n", d[0], d[1]);
    show("write after seal", write(fd, "x", 1));
    void *e = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    show("writable shared map after seal", e == MAP_FAILED ? -1 : 0);
    close(fd);
    close(fd2);
}

static void sigbus(void) {
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    int fd = tmpfile_fd();
    char buf[PG + 100];
    memset(buf, 's', sizeof buf);
    write(fd, buf, sizeof buf);
    char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    touch("first page", m + 5, 0);
    touch("in the last page, past the end", m + PG + 200, 0);
    touch("page past the end", m + 2 * PG, 0);
    touch("page past the end, inside", m + 2 * PG + 123, 0);
    touch("store to a page past the end", m + 3 * PG + 8, 1);
    int p[2];
    pipe(p);
    show("write(pipe) from past the end", write(p[1], m + 2 * PG, 16));
    int z = open("/dev/zero", O_RDONLY);
    show("read(/dev/zero) into past the end", read(z, m + 2 * PG, 16));
    show("read(/dev/zero) up to the end", read(z, m + PG + 4000, 96));
    show("stat of a path past the end", syscall(SYS_stat, m + 3 * PG, buf));
    /* growing the file maps the page again */
    ftruncate(fd, 4 * PG);
    touch("page past the old end, after growing", m + 2 * PG, 0);
    touch("the byte the refused store aimed at", m + 3 * PG + 8, 0);
    touch("store there", m + 2 * PG + 1, 1);
    /* truncating cuts every mapping at once, in a child too */
    ftruncate(fd, PG);
    touch("second page after truncate", m + PG, 0);
    touch("first page after truncate", m + 10, 0);
    pid_t pid = fork();
    if (pid == 0) {
        touch("child: second page", m + PG + 7, 0);
        ftruncate(fd, 0);
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    touch("first page after the child truncated to 0", m, 0);
    /* a mapping made wholly past the end */
    char *beyond = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 4 * PG);
    printf("map past the end: %s\n", beyond == MAP_FAILED ? "failed" : "ok");
    touch("mapping past the end", beyond, 0);
    /* an unhandled SIGBUS kills */
    pid = fork();
    if (pid == 0) {
        signal(SIGBUS, SIG_DFL);
        volatile char c = m[3 * PG];
        (void)c;
        _exit(0);
    }
    waitpid(pid, &st, 0);
    printf("child killed by signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    close(fd);
}

static void private_map(void) {
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    int fd = tmpfile_fd();
    char buf[PG];
    memset(buf, 'v', sizeof buf);
    write(fd, buf, sizeof buf);
    /* MapOffsetBeyondEnd: a private mapping past the end faults too */
    char *beyond = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 2 * PG);
    touch("private mapping past the end (store)", beyond, 1);
    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    touch("private first page", m, 0);
    touch("private second page", m + PG, 0);
    /* TruncateAfterCOWBreak: a page written (copied) is cut by truncate all the same */
    m[0] = 'w';
    printf("private write: %c, file still %c\n", m[0], (pread(fd, buf, 1, 0), buf[0]));
    ftruncate(fd, 0);
    touch("copied page after truncate", m, 0);
    close(fd);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *s = argc > 1 ? argv[1] : "";
    if (!strcmp(s, "coherent")) coherent();
    else if (!strcmp(s, "memfd")) memfd();
    else if (!strcmp(s, "sigbus")) sigbus();
    else if (!strcmp(s, "private")) private_map();
    else { fprintf(stderr, "usage: shmap coherent|memfd|sigbus|private\n"); return 2; }
    return 0;
}
