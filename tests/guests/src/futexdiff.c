/* Futex traffic for the compiled hand-off's differential test: THREADS threads pass a token
   round a ring with FUTEX_WAIT_BITSET / FUTEX_WAKE_BITSET and plain FUTEX_WAIT / FUTEX_WAKE in
   turn (wakes of several waiters, waits that find the word changed: EAGAIN), then take a
   pthread mutex and condition variable (glibc's own futex calls) in turns. Every 50 rounds
   thread 0 writes a progress line (the test compares the kernel's state there). The output does
   not depend on the schedule. Linux is the oracle.
   futexdiff [ROUNDS] */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREADS 4
static _Atomic int turn;
static long rounds;
static unsigned long sums[THREADS];
static long again[THREADS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cturn;
static unsigned long shared_sum;

static long fx(_Atomic int *w, int op, int v, unsigned bits) {
    return syscall(SYS_futex, w, op, v, NULL, NULL, bits);
}

static void *ring(void *arg) {
    long me = (long)arg;
    unsigned long x = 0x9e3779b97f4a7c15UL * (me + 1);
    for (long i = 0; i < rounds; i++) {
        int t;
        while ((t = atomic_load(&turn)) != me) {
            long r = (i & 1) ? fx(&turn, FUTEX_WAIT_BITSET_PRIVATE, t, 1u << me)
                             : fx(&turn, FUTEX_WAIT_PRIVATE, t, 0);
            if (r < 0 && errno == EAGAIN) again[me]++;
        }
        if (i % 7 == 3)  /* the word is not 12345: EAGAIN at once */
            if (fx(&turn, FUTEX_WAIT_PRIVATE, 12345, 0) < 0 && errno == EAGAIN) again[me]--;
        x = x * 6364136223846793005UL + (unsigned long)i;
        if (me == 0 && i % 50 == 0) {
            char line[64];
            int n = snprintf(line, sizeof line, "round %ld\n", i);
            write(1, line, n);
        }
        int nxt = (me + 1) % THREADS;
        atomic_store(&turn, nxt);
        if (i & 1)  /* only the next thread's bit: the others stay queued */
            fx(&turn, FUTEX_WAKE_BITSET_PRIVATE, THREADS, 1u << nxt);
        else
            fx(&turn, FUTEX_WAKE_PRIVATE, THREADS, 0);
    }
    for (long i = 0; i < rounds / 10; i++) {
        pthread_mutex_lock(&mu);
        while (cturn != me) pthread_cond_wait(&cv, &mu);
        shared_sum = shared_sum * 31 + (unsigned long)(me + i);
        cturn = (me + 1) % THREADS;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    sums[me] = x;
    return NULL;
}

int main(int argc, char **argv) {
    rounds = argc > 1 ? atol(argv[1]) : 1000;
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, ring, (void *)i);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++)
        printf("thread %d: %016lx\n", i, sums[i]);
    printf("shared %016lx\n", shared_sum);
    return 0;
}
