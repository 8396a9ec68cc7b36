/* Threads: mutexes and condition variables under contention, joins, thread-directed signals,
   thread-local storage, pthread_exit from main, exit_group from a thread. argv[1] picks. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define N 4
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter, queue[64], head, tail, consumed;
static __thread long tls_value;
static volatile sig_atomic_t got[N + 1];

static void *contend(void *arg) {
    long id = (long)arg;
    tls_value = id;
    for (int i = 0; i < 200000; i++) {
        pthread_mutex_lock(&m);
        long c = counter;
        for (volatile int k = 0; k < 3; k++) ;
        counter = c + 1;
        pthread_mutex_unlock(&m);
    }
    return (void *)(tls_value * 100);
}

static void *producer(void *arg) {
    (void)arg;
    for (long i = 1; i <= 1000; i++) {
        pthread_mutex_lock(&m);
        while (tail - head == 64) pthread_cond_wait(&cv, &m);
        queue[tail++ % 64] = i;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&m);
    }
    return NULL;
}

static void *consumer(void *arg) {
    long sum = 0;
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&m);
        while (tail == head && consumed < 1000) pthread_cond_wait(&cv, &m);
        if (consumed == 1000) { pthread_mutex_unlock(&m); break; }
        sum += queue[head++ % 64];
        consumed++;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&m);
    }
    return (void *)sum;
}

static void on_usr1(int s) { (void)s; got[tls_value] = 1; }

static void *waiter(void *arg) {
    tls_value = (long)arg;
    sigset_t all;
    sigemptyset(&all);
    while (!got[tls_value]) sigsuspend(&all);
    return NULL;
}

static void *exiter(void *arg) {
    (void)arg;
    usleep(20000);
    printf("exit_group from a thread\n");
    exit(9);
}

static void *exec_thread(void *arg) {
    (void)arg;
    char *args[] = {"/bin/sh", "-c", "echo exec from a thread; exit 6", NULL};
    execv(args[0], args);
    return NULL;
}

static void *late(void *arg) {
    (void)arg;
    usleep(20000);
    printf("last thread done\n");
    return NULL;
}

int main(int argc, char **argv) {
    const char *w = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    pthread_t t[N];
    if (!strcmp(w, "mutex")) {
        long sum = 0;
        for (long i = 0; i < N; i++) pthread_create(&t[i], NULL, contend, (void *)(i + 1));
        for (int i = 0; i < N; i++) { void *r; pthread_join(t[i], &r); sum += (long)r; }
        printf("counter %ld sum %ld\n", counter, sum);
        return 0;
    }
    if (!strcmp(w, "condvar")) {
        pthread_t p, c[2];
        pthread_create(&p, NULL, producer, NULL);
        for (int i = 0; i < 2; i++) pthread_create(&c[i], NULL, consumer, NULL);
        long total = 0;
        pthread_join(p, NULL);
        for (int i = 0; i < 2; i++) { void *r; pthread_join(c[i], &r); total += (long)r; }
        printf("consumed %ld total %ld\n", consumed, total);
        return 0;
    }
    if (!strcmp(w, "signals")) {
        signal(SIGUSR1, on_usr1);
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        pthread_sigmask(SIG_BLOCK, &s, NULL);  /* inherited: each waiter unblocks in sigsuspend */
        for (long i = 0; i < N; i++) pthread_create(&t[i], NULL, waiter, (void *)(i + 1));
        for (int i = N - 1; i >= 0; i--) pthread_kill(t[i], SIGUSR1);
        for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
        printf("each thread got its signal: %d %d %d %d; main: %d\n", got[1], got[2], got[3], got[4], got[0]);
        return 0;
    }
    if (!strcmp(w, "exit-group")) {
        pthread_create(&t[0], NULL, exiter, NULL);
        for (;;) pause();
    }
    if (!strcmp(w, "main-exit")) {
        pthread_create(&t[0], NULL, late, NULL);
        pthread_exit(NULL);
    }
    if (!strcmp(w, "exec") || !strcmp(w, "exec-from-thread")) {
        /* execve with other threads running: they are gone in the new image */
        for (long i = 0; i < 2; i++) pthread_create(&t[i], NULL, waiter, (void *)(i + 1));
        if (!strcmp(w, "exec")) {
            char *args[] = {"/bin/sh", "-c", "echo exec from main; exit 5", NULL};
            execv(args[0], args);
        } else {
            pthread_create(&t[2], NULL, exec_thread, NULL);
            for (;;) pause();
        }
        return 98;
    }
    if (!strcmp(w, "tids")) {
        pid_t main_tid = syscall(SYS_gettid);
        printf("main tid is pid %d\n", main_tid == getpid());
        return 0;
    }
    return 99;
}
