/* Clocks: monotonic, realtime, sleeping, resolution. */
#include <errno.h>
#include <stdio.h>
#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; printf("%s %ld errno %d\n", name, r_, r_ < 0 ? e_ : 0); } while (0)
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(void) {
    struct timespec a, b, r;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct timespec req = {0, 20 * 1000 * 1000};
    printf("nanosleep %d\n", nanosleep(&req, NULL));
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long d = ns(b) - ns(a);
    printf("slept at least 20ms %d, less than 2s %d\n", d >= 20000000, d < 2000000000);
    clock_gettime(CLOCK_MONOTONIC, &a);
    printf("clock_nanosleep %d\n", clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL));
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("clock_nanosleep slept %d\n", ns(b) - ns(a) >= 20000000);
    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_nsec += 10000000;
    if (abs.tv_nsec >= 1000000000) { abs.tv_sec++; abs.tv_nsec -= 1000000000; }
    printf("abstime %d\n", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL));
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("abstime reached %d\n", ns(b) >= ns(abs));

    struct timeval tv;
    gettimeofday(&tv, NULL);
    time_t t = time(NULL);
    clock_gettime(CLOCK_REALTIME, &a);
    printf("realtime agree %d\n", (tv.tv_sec - t) <= 1 && (a.tv_sec - t) <= 1 && t > 1600000000);
    int rc = clock_getres(CLOCK_MONOTONIC, &r);
    printf("getres mono %d %ld\n", rc, r.tv_nsec);
    T("bad clock", clock_gettime(12345, &a));
    req.tv_nsec = 2000000000;
    T("bad nanosleep", nanosleep(&req, NULL));
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    volatile unsigned long x = 0;
    for (unsigned long i = 0; i < 2000000; i++) x += i;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    printf("cpu clock advances %d\n", ns(b) > ns(a));
    printf("usleep %d\n", usleep(1000));
    return 0;
}
