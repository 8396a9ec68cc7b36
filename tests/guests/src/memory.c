/* brk, malloc of large blocks, mmap/mprotect/mremap/madvise patterns. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; printf("%s %ld errno %d\n", name, r_, r_ < 0 || r_ == 1 ? e_ : 0); } while (0)
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static unsigned long sum(const unsigned char *p, size_t n) {
    unsigned long s = 0;
    for (size_t i = 0; i < n; i += 4096) s += p[i];
    return s;
}

int main(void) {
    /* brk */
    char *b0 = sbrk(0);
    char *b1 = sbrk(1 << 20);
    printf("sbrk grew %d\n", b1 == b0);
    memset(b1, 7, 1 << 20);
    printf("sbrk sum %lu\n", sum((unsigned char *)b1, 1 << 20));
    printf("brk shrink %d\n", brk(b0) == 0 && sbrk(0) == b0);

    /* malloc of large and many small blocks */
    for (int mb = 1; mb <= 64; mb *= 4) {
        unsigned char *p = malloc((size_t)mb << 20);
        if (!p) { printf("malloc %d MiB failed\n", mb); continue; }
        memset(p, mb, (size_t)mb << 20);
        printf("malloc %d MiB sum %lu\n", mb, sum(p, (size_t)mb << 20));
        free(p);
    }
    void *ptrs[2000];
    for (int i = 0; i < 2000; i++) { ptrs[i] = malloc(16 + i * 8); memset(ptrs[i], i & 0xff, 16 + i * 8); }
    unsigned long s = 0;
    for (int i = 0; i < 2000; i++) { s += ((unsigned char *)ptrs[i])[i * 8]; free(ptrs[i]); }
    printf("small blocks %lu\n", s);
    char *r = malloc(100);
    strcpy(r, "realloc keeps data");
    r = realloc(r, 10 << 20);
    printf("%s\n", r);
    free(r);

    /* anonymous mmap is zeroed; mprotect; munmap of the middle */
    size_t n = 16 * 4096;
    unsigned char *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap ok %d zero %lu\n", m != MAP_FAILED, sum(m, n));
    memset(m, 1, n);
    printf("mprotect ro %d\n", mprotect(m, 4096, PROT_READ));
    printf("still readable %d\n", m[0]);
    printf("munmap middle %d\n", munmap(m + 4 * 4096, 4 * 4096));
    T("msync hole", msync(m + 4 * 4096, 4096, MS_SYNC));
    printf("mincore hole %d\n", mincore(m + 4 * 4096, 4096, (unsigned char[1]){0}) == -1 && errno == ENOMEM);

    /* MAP_FIXED over an existing mapping replaces it with zeros */
    unsigned char *f = mmap(m + 8 * 4096, 4096, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("fixed same %d zero %d\n", f == m + 8 * 4096, f[0]);
    unsigned char *nr = mmap(m, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    T("noreplace", nr == MAP_FAILED);

    /* madvise DONTNEED zeroes private anonymous memory */
    memset(m + 12 * 4096, 9, 4096);
    printf("dontneed %d value %d\n", madvise(m + 12 * 4096, 4096, MADV_DONTNEED), m[12 * 4096]);

    /* mremap grows and moves, keeping data */
    unsigned char *g = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy((char *)g, "remapped");
    unsigned char *g2 = mremap(g, 4096, 256 * 4096, MREMAP_MAYMOVE);
    printf("mremap %s tail zero %d\n", g2 != MAP_FAILED ? (char *)g2 : "failed", g2[255 * 4096]);

    /* errors */
    errno = 0;
    T("mmap len 0", mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
    errno = 0;
    T("mmap bad fd", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, -1, 0) == MAP_FAILED);
    errno = 0;
    T("munmap unaligned", munmap(m + 1, 4096));
    errno = 0;
    T("mprotect unaligned", mprotect(m + 1, 4096, PROT_READ));
    errno = 0;
    printf("huge malloc %d\n", malloc((size_t)1 << 50) == NULL);

    /* a file mapping in /tmp */
    int fd = open("/tmp/ecs_mmap_test", O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(fd, "file contents here", 18);
    char *fm = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("file map '%.18s' past eof %d\n", fm, fm[100]);
    char *sm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    memcpy(sm, "FILE", 4);
    msync(sm, 4096, MS_SYNC);
    char back[19] = {0};
    pread(fd, back, 18, 0);
    printf("shared write-back '%s'\n", back);
    munmap(sm, 4096);
    int ro = open("/tmp/ecs_mmap_test", O_RDONLY);
    errno = 0;
    T("shared writable on O_RDONLY", mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED);
    close(ro);
    close(fd);
    unlink("/tmp/ecs_mmap_test");
    return 0;
}
