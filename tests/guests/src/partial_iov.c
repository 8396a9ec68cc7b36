/* Copies that fault part way: readv/writev/preadv/pwritev, read and write return the bytes moved
 * before the first byte that faults (an unmapped or PROT_NONE page, a page past the end of a
 * mapped file), EFAULT only when nothing moved; an iovec outside the address space is EFAULT
 * even with length 0 (import_iovec's access_ok). Prints what it sees; must match Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define PG 4096

static void show(const char *what, long r) {
    int e = errno;
    if (r < 0) printf("%s: %ld %s\n", what, r, strerror(e));
    else printf("%s: %ld\n", what, r);
}

static int tmpfile_fd(void) {
    char name[] = "partial-XXXXXX";
    int fd = mkstemp(name);
    if (fd < 0) { perror("mkstemp"); exit(2); }
    unlink(name);
    return fd;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    /* two readable pages, the third PROT_NONE */
    char *m = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(m, 'p', 3 * PG);
    mprotect(m + 2 * PG, PG, PROT_NONE);
    int fd = tmpfile_fd();
    struct iovec iov[2] = {{m, PG}, {m + PG, 2 * PG}};
    show("writev across a PROT_NONE page", writev(fd, iov, 2));
    show("pwritev across a PROT_NONE page", pwritev(fd, iov, 2, 0));
    struct iovec bad[1] = {{m + 2 * PG, 16}};
    show("writev from the PROT_NONE page", writev(fd, bad, 1));
    show("write across a PROT_NONE page", write(fd, m + PG, 2 * PG));
    show("pwrite across a PROT_NONE page", pwrite(fd, m + PG + 100, 2 * PG, 10));
    show("size", lseek(fd, 0, SEEK_END));
    /* reads into a buffer that faults part way */
    char big[4 * PG];
    memset(big, 'f', sizeof big);
    pwrite(fd, big, sizeof big, 0);
    lseek(fd, 0, SEEK_SET);
    show("read across a PROT_NONE page", read(fd, m + PG, 2 * PG));
    show("offset after", lseek(fd, 0, SEEK_CUR));
    lseek(fd, 0, SEEK_SET);
    struct iovec rv[2] = {{m, 100}, {m + PG + 50, 2 * PG}};
    show("readv across a PROT_NONE page", readv(fd, rv, 2));
    show("offset after", lseek(fd, 0, SEEK_CUR));
    show("preadv across a PROT_NONE page", preadv(fd, rv, 2, 5));
    show("pread into the PROT_NONE page", pread(fd, m + 2 * PG, 10, 0));
    /* import_iovec: a segment outside user space is EFAULT, zero length or not */
    struct iovec outside[2] = {{(void *)~(uintptr_t)0, 0}, {big, 10}};
    show("readv with a zero-length iovec at ~0", readv(fd, outside, 2));
    show("writev with a zero-length iovec at ~0", writev(fd, outside, 2));
    struct iovec zero[2] = {{NULL, 0}, {big, 10}};
    show("readv with a NULL zero-length iovec", preadv(fd, zero, 2, 0));
    /* a shared file mapping whose third page is past the end of the file */
    int f2 = tmpfile_fd();
    pwrite(f2, big, 2 * PG, 0);
    char *fm = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, f2, 0);
    struct iovec sv[2] = {{fm, PG}, {fm + PG, 2 * PG}};
    show("pwritev from a mapping past the end of its file", pwritev(fd, sv, 2, 0));
    show("read into a mapping past the end of its file", pread(fd, fm + PG, 2 * PG, 0));
    /* pipes: nothing before the fault is EFAULT */
    int p[2];
    pipe(p);
    show("write(pipe) from the PROT_NONE page", write(p[1], m + 2 * PG, 10));
    show("write(pipe) across the PROT_NONE page", write(p[1], m + PG, 2 * PG));
    /* pipe_read stops at the faulting page and leaves the rest in the pipe */
    show("read(pipe) across the PROT_NONE page", read(p[0], m + PG + PG / 2, PG));
    show("read(pipe) into the PROT_NONE page with data there", read(p[0], m + 2 * PG, 10));
    char rest[2 * PG];
    long got = read(p[0], rest, sizeof rest);
    show("read(pipe) of what is left", got);
    int same_bytes = got > 0 && memcmp(rest, m + PG, got) == 0;
    printf("what is left is the writer's bytes: %d\n", same_bytes);
    /* two pipe buffers: the first fits, the second does not: the first is read */
    write(p[1], m, 100);
    write(p[1], m, PG);
    show("read(pipe) of two buffers, the second across the PROT_NONE page",
         read(p[0], m + 2 * PG - 200, 4 * PG));
    show("read(pipe) of what is left", read(p[0], rest, sizeof rest));
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    show("read(pipe) into the PROT_NONE page, empty", read(p[0], m + 2 * PG, 10));
    close(p[1]);
    show("read(pipe) into the PROT_NONE page at EOF", read(p[0], m + 2 * PG, 10));
    return 0;
}
