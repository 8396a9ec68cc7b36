/* Sleeps and timed waits on the kernel clock: nanosleep, a poll timeout, a futex wait that times
   out (pthread_cond_timedwait) and an alarm, each measured with clock_gettime. Under a virtual
   clock they take no host time; the elapsed times printed are the kernel's. */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static long since(const struct timespec *a) {
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

static void on_alarm(int s) { (void)s; }

int main(void) {
    struct timespec t0, d = {10, 0};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nanosleep(&d, NULL);
    printf("nanosleep 10 s: %ld ms\n", since(&t0) / 1000 * 1000);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    poll(NULL, 0, 5000);
    printf("poll 5 s: %ld ms\n", since(&t0) / 1000 * 1000);
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 3;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&m);
    int r = pthread_cond_timedwait(&c, &m, &until);
    pthread_mutex_unlock(&m);
    printf("cond_timedwait 3 s: %ld ms, timed out %d\n", since(&t0) / 1000 * 1000, r != 0);
    signal(SIGALRM, on_alarm);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    alarm(2);
    pause();
    printf("alarm 2 s: %ld ms\n", since(&t0) / 1000 * 1000);
    return 0;
}
