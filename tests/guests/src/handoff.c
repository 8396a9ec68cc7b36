/* Futex hand-offs between threads of one process, with state kept in registers across the
   waits: THREADS threads pass a token round a ring (FUTEX_WAIT / FUTEX_WAKE), each keeping
   integer, floating-point and SSE values live across every wait, and report checksums that do
   not depend on the schedule. Meanwhile one more thread waits on another futex and is sent a
   signal with a handler (pthread_kill) half-way: its wait is interrupted, it checks its word
   again and waits on; at the end it is woken for good. Linux is the oracle.
   handoff [ROUNDS] */
#include <emmintrin.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREADS 3
static _Atomic int turn;
static _Atomic int done;
static _Atomic int handled;
static long rounds;
static unsigned long sums[THREADS];
static double fsums[THREADS];
static long long vsums[THREADS];

static void fwait(_Atomic int *w, int v) { syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0); }
static void fwake(_Atomic int *w) { syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

static void *ring(void *arg) {
    long me = (long)arg;
    unsigned long x = 0x9e3779b97f4a7c15UL * (me + 1);
    double f = 1.0 + me;
    __m128i v = _mm_set_epi32(me, me + 1, me + 2, me + 3);
    for (long i = 0; i < rounds; i++) {
        int t;
        while ((t = atomic_load(&turn)) != me) fwait(&turn, t);
        x = x * 6364136223846793005UL + (unsigned long)i;  /* live across the wait below */
        f = f * 1.0000001 + 0.5;
        v = _mm_add_epi32(v, _mm_set1_epi32((int)i));
        atomic_store(&turn, (me + 1) % THREADS);
        syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, THREADS, NULL, NULL, 0);
    }
    int lanes[4];
    _mm_storeu_si128((__m128i *)lanes, v);
    sums[me] = x;
    fsums[me] = f;
    vsums[me] = (long long)lanes[0] + lanes[1] + lanes[2] + lanes[3];
    return NULL;
}

static void on_usr1(int sig) { (void)sig; atomic_fetch_add(&handled, 1); }

static void *sleeper(void *arg) {
    (void)arg;
    while (!atomic_load(&done)) fwait(&done, 0);
    return NULL;
}

int main(int argc, char **argv) {
    rounds = argc > 1 ? atol(argv[1]) : 3000;
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t s, t[THREADS];
    pthread_create(&s, NULL, sleeper, NULL);
    for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, ring, (void *)i);
    usleep(1000);
    pthread_kill(s, SIGUSR1);  /* its futex wait is interrupted; it waits again */
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    atomic_store(&done, 1);
    fwake(&done);
    pthread_join(s, NULL);
    for (int i = 0; i < THREADS; i++)
        printf("thread %d: %016lx %.6f %lld\n", i, sums[i], fsums[i], vsums[i]);
    printf("handled %d\n", atomic_load(&handled));
    return 0;
}
