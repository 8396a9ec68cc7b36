/* Large requests: brk and mmap past the host's RAM + swap fail as the overcommit heuristic
   decides natively; MAP_NORESERVE reservations and a 16 GiB heap succeed; exit stays fast. */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    long cur = syscall(SYS_brk, 0);
    printf("brk +1TiB refused %d\n", syscall(SYS_brk, cur + (1L << 40)) == cur);
    long r = syscall(SYS_brk, cur + (16L << 30));
    printf("brk +16GiB %d\n", r == cur + (16L << 30));
    if (r == cur + (16L << 30)) ((char *)cur)[(16L << 30) - 1] = 1;
    void *p = mmap(0, 1L << 40, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap 1TiB refused %d\n", p == MAP_FAILED);
    p = mmap(0, 1L << 40, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    printf("mmap 1TiB MAP_NORESERVE %d\n", p != MAP_FAILED);
    if (p != MAP_FAILED) ((char *)p)[(1L << 40) - 1] = 1;
    p = mmap(0, 1L << 40, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("reserve 1TiB PROT_NONE %d\n", p != MAP_FAILED);
    return 0;
}
