/* Threads for tests/syscalls/test_strace.py: a thread blocked in a read until the main thread
 * writes, then both exit; the lines of each thread are compared with the host's strace. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int p[2];

static void *reader(void *arg) {
    char c;
    read(p[0], &c, 1);
    write(1, "thread\n", 7);
    return arg;
}

int main(void) {
    syscall(SYS_write, -1, "strace-test-begin", 17);
    pipe(p);
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    write(p[1], "x", 1);
    pthread_join(t, NULL);
    write(1, "main\n", 5);
    return 0;
}
