/* A program with something in flight all the time, for checkpoint tests: a signal pending while
   blocked, a child writing 256 KiB into a pipe the parent drains slowly (bytes in flight), a child
   the parent waits for in wait4, threads passing a token under a mutex and condition variable
   (futex waits) between floating-point loops (SSE state mid-computation), a sleeper, and a
   sigsuspend another thread ends. Whenever a checkpoint is taken and restored, the output and the
   exit status must be those of an uninterrupted run. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 3
#define ROUNDS 40
#define PIPE_BYTES (256 * 1024)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int turn, passes;
static double sums[THREADS];
static volatile sig_atomic_t usr1, usr2;

static void on_usr1(int s) { (void)s; usr1++; }
static void on_usr2(int s) { (void)s; usr2++; }

static void nap(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

static void *worker(void *arg) {
    int me = (int)(intptr_t)arg;
    double x = 1.0 + me;
    for (int r = 0; r < ROUNDS; r++) {
        pthread_mutex_lock(&mu);
        while (turn != me)
            pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        for (int i = 0; i < 20000; i++)  /* registers and SSE state change all the time */
            x = x * 1.0000001 + 1e-9 * i;
        if (r % 10 == 0)
            nap(3);
        pthread_mutex_lock(&mu);
        passes++;
        turn = (turn + 1) % THREADS;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    sums[me] = x;
    if (me == THREADS - 1) {
        nap(20);
        kill(getpid(), SIGUSR2);  /* ends main's sigsuspend */
    }
    return NULL;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, &old);
    raise(SIGUSR1);  /* pending until unblocked */

    int p[2];
    if (pipe(p) != 0)
        return 1;
    pid_t writer = fork();
    if (writer == 0) {
        close(p[0]);
        static unsigned char buf[4096];
        for (int k = 0; k < PIPE_BYTES / 4096; k++) {
            for (int i = 0; i < 4096; i++)
                buf[i] = (unsigned char)(k * 7 + i);
            for (size_t done = 0; done < sizeof buf;) {
                ssize_t n = write(p[1], buf + done, sizeof buf - done);
                if (n <= 0)
                    _exit(2);
                done += (size_t)n;
            }
        }
        _exit(0);
    }
    close(p[1]);
    pid_t sleeper = fork();
    if (sleeper == 0) {
        nap(150);
        _exit(3);
    }

    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);

    /* drain the pipe slowly: bytes stay in flight for a while */
    unsigned long sum = 0, total = 0;
    unsigned char buf[8192];
    for (;;) {
        ssize_t n = read(p[0], buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            sum = sum * 31 + buf[i];
        total += (unsigned long)n;
        if (total % (64 * 1024) < sizeof buf)
            nap(10);
    }

    printf("usr1 before unblocking: %d\n", (int)usr1);
    sigset_t usr1_only;
    sigemptyset(&usr1_only);
    sigaddset(&usr1_only, SIGUSR1);
    sigprocmask(SIG_UNBLOCK, &usr1_only, NULL);  /* the pending SIGUSR1's handler runs here */
    printf("usr1 after unblocking: %d\n", (int)usr1);
    sigset_t wait_usr2 = old;  /* SIGUSR2 open only while suspended */
    while (!usr2)
        sigsuspend(&wait_usr2);
    printf("usr2 after sigsuspend: %d\n", (int)usr2);

    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    int st;
    waitpid(writer, &st, 0);
    printf("writer exited %d\n", WEXITSTATUS(st));
    waitpid(sleeper, &st, 0);
    printf("sleeper exited %d\n", WEXITSTATUS(st));
    printf("pipe %lu bytes checksum %lx\n", total, sum);
    printf("passes %d\n", passes);
    for (int i = 0; i < THREADS; i++)
        printf("sum[%d] = %.6f\n", i, sums[i]);
    return 5;
}
