/* Two threads hand a token back and forth through futexes; prints ns per round trip.
   pingpong ROUNDS [IDLE]: IDLE more threads wait on another futex meanwhile (the switch cost
   must not grow with them). */
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic int turn;  /* 0: main's turn, 1: the other thread's */
static _Atomic int done;  /* the idle threads' futex: 1 when they may exit */
static long rounds;

static void wait_for(int want) {
    int v;
    while ((v = atomic_load(&turn)) != want)
        syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}
static void give(int to) {
    atomic_store(&turn, to);
    syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
static void *other(void *arg) {
    (void)arg;
    for (long i = 0; i < rounds; i++) { wait_for(1); give(0); }
    return NULL;
}
static void *idle(void *arg) {
    (void)arg;
    while (!atomic_load(&done))
        syscall(SYS_futex, &done, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return NULL;
}
int main(int argc, char **argv) {
    rounds = argc > 1 ? atol(argv[1]) : 10000;
    int nidle = argc > 2 ? atoi(argv[2]) : 0;
    pthread_t t, *idlers = calloc(nidle > 0 ? nidle : 1, sizeof(pthread_t));
    pthread_attr_t small;
    pthread_attr_init(&small);
    pthread_attr_setstacksize(&small, 65536);
    for (int i = 0; i < nidle; i++) pthread_create(&idlers[i], &small, idle, NULL);
    pthread_create(&t, NULL, other, NULL);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < rounds; i++) { give(1); wait_for(0); }
    clock_gettime(CLOCK_MONOTONIC, &b);
    pthread_join(t, NULL);
    atomic_store(&done, 1);
    syscall(SYS_futex, &done, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    for (int i = 0; i < nidle; i++) pthread_join(idlers[i], NULL);
    printf("%.0f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / rounds);
    return 0;
}
