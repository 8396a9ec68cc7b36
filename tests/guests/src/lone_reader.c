/* A thread blocked reading stdin (a pipe) while the main thread spins without a syscall until it
 * has read: the input must wake the reader though the spinning task never enters the kernel.
 * Prints "spinning" once the reader is blocked, then "got=1" (or "got=0" after 20 s). */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static volatile int got;

static void *reader(void *arg) {
    char c;
    got = read(0, &c, 1) == 1 ? 1 : -1;
    return arg;
}

int main(void) {
    pthread_t th;
    struct timespec t0, t1;
    pthread_create(&th, 0, reader, 0);
    usleep(100 * 1000);  /* the reader is in read(2) by now */
    printf("spinning\n");
    fflush(stdout);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned long spins = 1; !got; spins++) {
        if ((spins & 0xfffff) == 0) {  /* the vDSO's clock: no syscall on Linux */
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if (t1.tv_sec - t0.tv_sec > 20)
                break;
        }
    }
    printf("got=%d\n", got);
    return 0;
}
