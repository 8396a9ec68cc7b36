/* A thread blocked in epoll_wait (edge-triggered) on an empty inotify queue, and one in a
 * blocking read of another, are woken by events that a thread which never blocks generates:
 * fsnotify wakes the queue's waiters at once (a lone runnable task must not keep them asleep).
 * Prints what it sees; must match Linux. */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int efd, rfd;
static atomic_int ready, woken;
static int epoll_n, epoll_events, read_event;
static char dir[] = "/var/tmp/inotify-wake-XXXXXX";

static void *epoller(void *a) {
    (void)a;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET};
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    struct epoll_event r[1];
    ready++;
    epoll_n = epoll_wait(ep, r, 1, -1);
    epoll_events = epoll_n > 0 ? (int)r[0].events : 0;
    woken++;
    return 0;
}

static void *reader(void *a) {
    (void)a;
    char buf[4096];
    ready++;
    read_event = read(rfd, buf, sizeof buf) >= 16;
    woken++;
    return 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    mkdtemp(dir);
    efd = inotify_init1(IN_NONBLOCK);
    rfd = inotify_init1(0);
    inotify_add_watch(efd, dir, IN_ACCESS);
    inotify_add_watch(rfd, dir, IN_ACCESS);
    pthread_t t[2];
    pthread_create(&t[0], 0, epoller, 0);
    pthread_create(&t[1], 0, reader, 0);
    while (ready < 2)  /* no syscall: the others get the CPU by preemption */
        ;
    double start = now();
    usleep(0);
    while (now() - start < 0.2)  /* both are (about to be) asleep: let them get there */
        ;
    /* generate events, never blocking, until both woke (or 10 s) */
    while (woken < 2 && now() - start < 10) {
        DIR *d = opendir(dir);
        while (readdir(d))
            ;
        closedir(d);
    }
    printf("both woke: %d\n", woken == 2);
    if (woken == 2) {
        pthread_join(t[0], 0);
        pthread_join(t[1], 0);
        printf("epoll_wait: %d, events %#x; blocking read got an event: %d\n", epoll_n,
               epoll_events, read_event);
    }
    rmdir(dir);
    return woken == 2 ? 0 : 1;
}
