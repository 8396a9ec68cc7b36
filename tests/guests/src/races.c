/* Concurrency bugs for the schedule explorer, each with a correct twin (argv[1]):
   counter  / counter-locked   two threads add 1 to a shared counter 2000 times each, without and
                               with a mutex: a preemption between the load and the store loses an
                               update;
   abba     / ordered          two threads take two mutexes in opposite orders / the same order:
                               a preemption between the two locks deadlocks the first;
   signal   / signal-masked    the main thread adds to a total while another thread signals it,
                               and the handler adds too; masked, the signal waits for the end of
                               the update.
   Every correct run prints the same line and exits 0. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define N 2000
static volatile long counter;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER, a = PTHREAD_MUTEX_INITIALIZER,
                       b = PTHREAD_MUTEX_INITIALIZER;
static int locked, ordered, masked;
static pthread_t main_thread;

static void *adder(void *arg) {
    (void)arg;
    for (int i = 0; i < N; i++) {
        if (locked) pthread_mutex_lock(&mu);
        long v = counter;  /* load ... */
        counter = v + 1;   /* ... store: a preemption in between loses the other's updates */
        if (locked) pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static void *lock_pair(void *arg) {
    int second = (int)(long)arg;
    pthread_mutex_t *first = second && !ordered ? &b : &a, *then = first == &a ? &b : &a;
    for (int i = 0; i < 20; i++) {
        pthread_mutex_lock(first);
        for (volatile int k = 0; k < 50; k++) {}
        pthread_mutex_lock(then);
        counter++;
        pthread_mutex_unlock(then);
        pthread_mutex_unlock(first);
    }
    return NULL;
}

static volatile sig_atomic_t handled;
static void on_usr1(int s) { (void)s; counter += 1000; handled++; }

static void *signaller(void *arg) {
    (void)arg;
    for (int i = 0; i < 5; i++) {
        pthread_kill(main_thread, SIGUSR1);
        for (volatile int k = 0; k < 2000; k++) {}
    }
    return NULL;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "counter";
    locked = strstr(mode, "locked") != NULL;
    ordered = strcmp(mode, "ordered") == 0;
    masked = strstr(mode, "masked") != NULL;
    pthread_t t1, t2;
    if (strncmp(mode, "counter", 7) == 0) {
        pthread_create(&t1, NULL, adder, NULL);
        pthread_create(&t2, NULL, adder, NULL);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        printf("counter %ld\n", counter);  /* 4000 */
    } else if (strcmp(mode, "abba") == 0 || ordered) {
        pthread_create(&t1, NULL, lock_pair, (void *)0);
        pthread_create(&t2, NULL, lock_pair, (void *)1);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        printf("pairs %ld\n", counter);  /* 40 */
    } else {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, NULL);
        main_thread = pthread_self();
        sigset_t usr1;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        pthread_create(&t1, NULL, signaller, NULL);
        for (int i = 0; i < 3000; i++) {
            if (masked) pthread_sigmask(SIG_BLOCK, &usr1, NULL);
            long v = counter;
            counter = v + 1;  /* the handler's += 1000 is lost if it runs in between */
            if (masked) pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
        }
        pthread_join(t1, NULL);
        /* pending signals merge: what reached the handler is counted, not what was sent */
        printf("total ok %d\n", counter == 3000 + 1000L * handled && handled > 0);
    }
    return 0;
}
