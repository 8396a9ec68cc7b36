/* A parent and a forked child hand a counter back and forth through shared file mappings (a
 * memfd and a file in the working directory): each turn is written with write(2) or a store
 * through a mapping and checked in the other process's mapping or with pread(2), with a pipe
 * saying whose turn it is. A checkpoint taken anywhere in the run must keep the mappings one
 * page cache, in both processes. Prints the rounds; exits 1 at the first turn not seen. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096
#define ROUNDS 60

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int mfd = (int)syscall(SYS_memfd_create, "ckpt", 0);
    char name[] = "shmap-ckpt-XXXXXX";
    int ffd = mkstemp(name);
    unlink(name);
    char zero[PG] = {0};
    write(mfd, zero, PG);
    write(ffd, zero, PG);
    volatile int *a = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    volatile int *b = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ffd, 0);
    int p2c[2], c2p[2];
    pipe(p2c);
    pipe(c2p);
    char tok = 't';
    pid_t pid = fork();
    if (pid == 0) {
        close(p2c[1]);
        close(c2p[0]);
        for (int i = 1; i <= ROUNDS; i++) {
            if (read(p2c[0], &tok, 1) != 1) _exit(2);
            if (a[0] != 2 * i - 1) { printf("child: turn %d: saw %d\n", i, a[0]); _exit(1); }
            int v = 2 * i;
            pwrite(ffd, &v, sizeof v, 0);  /* the parent sees it in its mapping b */
            b[1] = i;                       /* and this with pread */
            a[2] = -i;                      /* and this in its mapping a */
            write(c2p[1], &tok, 1);
        }
        _exit(0);
    }
    close(p2c[0]);
    close(c2p[1]);
    for (int i = 1; i <= ROUNDS; i++) {
        int v = 2 * i - 1;
        pwrite(mfd, &v, sizeof v, 0);  /* the child sees it in its mapping a */
        write(p2c[1], &tok, 1);
        if (read(c2p[0], &tok, 1) != 1) return 2;
        int r[2];
        pread(ffd, r, sizeof r, 0);
        if (b[0] != 2 * i || r[0] != 2 * i || r[1] != i || a[2] != -i) {
            printf("parent: turn %d: saw %d %d %d %d\n", i, b[0], r[0], r[1], a[2]);
            return 1;
        }
        if (i % 10 == 0) printf("round %d: %d %d %d\n", i, a[0], b[0], r[1]);
        usleep(2000);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}
