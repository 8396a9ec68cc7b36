/* CPU-time clocks: each thread's own (CLOCK_THREAD_CPUTIME_ID, pthread_getcpuclockid), the
 * process's the sum of its threads' (CLOCK_PROCESS_CPUTIME_ID), clock_getres on them, clock
 * ids of pids that do not exist. Output must match native. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now(clockid_t c) {
    struct timespec ts;
    if (clock_gettime(c, &ts) < 0)
        return -errno;
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static volatile int go_on = 1;
static long long spun;

static void *spinner(void *arg) {
    (void)arg;
    long long start = now(CLOCK_THREAD_CPUTIME_ID);
    while (now(CLOCK_THREAD_CPUTIME_ID) - start < 300000000LL)
        for (volatile int i = 0; i < 100000; i++) {
        }
    spun = now(CLOCK_THREAD_CPUTIME_ID);
    while (go_on)
        usleep(1000);
    return 0;
}

int main(void) {
    long long p0 = now(CLOCK_PROCESS_CPUTIME_ID);
    pthread_t t;
    pthread_create(&t, 0, spinner, 0);
    clockid_t tc;
    printf("pthread_getcpuclockid %d\n", pthread_getcpuclockid(t, &tc));
    while (!spun)
        usleep(1000);  /* the main thread sleeps while the other spins */
    long long other = now(tc);
    long long mine = now(CLOCK_THREAD_CPUTIME_ID);
    long long p1 = now(CLOCK_PROCESS_CPUTIME_ID);
    printf("the other thread's clock read through its id: %d\n", other >= spun && other > 0);
    printf("the spinner spun 300 ms of its own CPU: %d\n", spun >= 300000000LL);
    printf("the sleeping main thread used less: %d\n", mine < spun);
    printf("the process clock counts both: %d\n", p1 - p0 >= spun);
    struct timespec r;
    const char *names[] = {"the thread's clock", "thread cputime", "process cputime"};
    clockid_t ids[] = {tc, CLOCK_THREAD_CPUTIME_ID, CLOCK_PROCESS_CPUTIME_ID};
    for (int i = 0; i < 3; i++) {
        r.tv_sec = r.tv_nsec = 9;
        int rc = clock_getres(ids[i], &r);
        printf("getres of %s %d %ld.%09ld\n", names[i], rc, (long)r.tv_sec, r.tv_nsec);
    }
    clockid_t pc;
    int e = clock_getcpuclockid(0, &pc);
    printf("clock_getcpuclockid(0) %d, reads %d\n", e, now(pc) >= p1);
    e = clock_getcpuclockid(getpid(), &pc);
    printf("clock_getcpuclockid(self) %d, reads %d\n", e, now(pc) >= p1);
    e = clock_getcpuclockid(999999, &pc);
    printf("clock_getcpuclockid(no such pid) %s\n", strerror(e));
    clockid_t bad = (clockid_t)((~999999u << 3) | 6);  /* a thread clock of no such thread */
    printf("gettime of no such thread's clock: %s\n", strerror(-(int)now(bad)));
    go_on = 0;
    pthread_join(t, 0);
    return 0;
}
