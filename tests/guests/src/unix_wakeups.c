/* One thread blocks on a UNIX socket; another makes it ready by a call on another socket (or
 * on the same one): each wait must end, as on Linux. These are the readiness gains that wake no
 * wait queue of the waiting socket itself: a connection queued on a listener, backlog room an
 * accept frees for a blocked connect, room a receiver's read frees for a blocked datagram
 * sender that is not its peer, a larger SO_SNDBUF for a blocked stream writer, and a datagram
 * socket that goes away under a sender blocked on it. And an epoll_wait whose ready interest
 * another thread adds (epoll_ctl).
 * Every wait is bounded (poll with a timeout, SO_SNDTIMEO): a wait that sleeps through its
 * wakeup prints "timed out" rather than hanging. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

#define LIMIT_MS 20000 /* far beyond any wakeup here: reaching it is the failure */

static void pause_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void bounded(int fd) {
    struct timeval tv = {LIMIT_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static int waited(int fd, short events) {
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, LIMIT_MS);
    return n == 0 ? -1 : p.revents;
}

/* Poll ``fd`` for ``events`` while a thread runs ``act`` (which makes it ready after a pause):
 * print what the poll saw, under ``what``. */
static void poll_while(const char *what, int fd, short events, void *(*act)(void *), void *arg) {
    pthread_t th;
    pthread_create(&th, NULL, act, arg);
    int rev = waited(fd, events);
    printf("%s: %s\n", what, rev < 0 ? "timed out" : rev & POLLIN ? "POLLIN"
                                               : rev & POLLOUT ? "POLLOUT" : "?");
    pthread_join(th, NULL);
}

static socklen_t abstract(const char *name, struct sockaddr_un *a) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strcpy(a->sun_path + 1, name); /* an abstract name: nothing on the host's file system */
    return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
}

static int listener(const char *name, int backlog) {
    struct sockaddr_un a;
    socklen_t l = abstract(name, &a);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(s, (struct sockaddr *)&a, l) < 0 || listen(s, backlog) < 0) {
        printf("listener %s: %s\n", name, errname(errno));
        exit(1);
    }
    return s;
}

static int connector(const char *name, int flags) {
    struct sockaddr_un a;
    socklen_t l = abstract(name, &a);
    int c = socket(AF_UNIX, SOCK_STREAM | flags, 0);
    bounded(c);
    int r = connect(c, (struct sockaddr *)&a, l);
    if (r < 0 && errno != EINPROGRESS && errno != EAGAIN)
        printf("connect %s: %s\n", name, errname(errno));
    return c;
}

/* -- a connection queued on a listener wakes its poll and its accept ----------------------- */
static void *connect_later(void *name) {
    pause_ms(50);
    close(connector(name, 0));
    return NULL;
}

static void listener_wakes(void) {
    int s = listener("ecs-wake-poll", 4);
    poll_while("poll on the listener", s, POLLIN, connect_later, "ecs-wake-poll");
    int a = accept(s, NULL, NULL);
    printf("accept after it: %s\n", a >= 0 ? "ok" : errname(errno));
    close(a);
    pthread_t th;
    pthread_create(&th, NULL, connect_later, "ecs-wake-poll");
    bounded(s);
    a = accept(s, NULL, NULL); /* blocks until the connect */
    printf("blocked accept: %s\n", a >= 0 ? "ok" : errname(errno));
    pthread_join(th, NULL);
    close(a);
    close(s);
}

/* -- an accept frees backlog room: a connect blocked on the full backlog goes on ----------- */
static int backlog_listener, accepted; /* (the threads print nothing: main, after a join) */

static void *accept_later(void *unused) {
    (void)unused;
    pause_ms(50);
    int a = accept(backlog_listener, NULL, NULL);
    pause_ms(50);
    int b = accept(backlog_listener, NULL, NULL);
    accepted = a >= 0 && b >= 0;
    close(a);
    close(b);
    return NULL;
}

static void backlog_room(void) {
    backlog_listener = listener("ecs-wake-backlog", 0);
    int first = connector("ecs-wake-backlog", 0); /* backlog 0 still takes one */
    pthread_t th;
    pthread_create(&th, NULL, accept_later, NULL);
    int second = connector("ecs-wake-backlog", 0); /* full: waits for the accept */
    char c = 'x';
    printf("blocked connect went on: %s\n", write(second, &c, 1) == 1 ? "yes" : errname(errno));
    pthread_join(th, NULL);
    printf("accepted both: %s\n", accepted ? "yes" : "no");
    close(first);
    close(second);
    close(backlog_listener);
}

/* -- a read frees room for a datagram sender that is not the reader's peer ------------------ */
static int dgram_receiver, drained;

static void *drain_later(void *unused) {
    (void)unused;
    pause_ms(50);
    char buf[64];
    drained = 0;
    while (recv(dgram_receiver, buf, sizeof buf, MSG_DONTWAIT) > 0) drained++;
    return NULL;
}

/* dgram_receiver bound to ``name``, and a sender connected to it (returned) that filled its
 * queue: the sender's next send waits */
static int full_receiver(const char *name) {
    struct sockaddr_un a;
    socklen_t l = abstract(name, &a);
    dgram_receiver = socket(AF_UNIX, SOCK_DGRAM, 0);
    bind(dgram_receiver, (struct sockaddr *)&a, l);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    bounded(s);
    connect(s, (struct sockaddr *)&a, l);
    int sent = 0;
    while (send(s, "d", 1, MSG_DONTWAIT) == 1) sent++;
    printf("queue filled: %s\n", sent > 0 ? "yes" : "no");
    return s;
}

static void dgram_room(void) {
    int s = full_receiver("ecs-wake-dgram");
    poll_while("poll of the blocked sender", s, POLLOUT, drain_later, NULL);
    printf("drained: %s\n", drained ? "some" : "none");
    while (send(s, "d", 1, MSG_DONTWAIT) == 1) {}
    pthread_t th;
    pthread_create(&th, NULL, drain_later, NULL);
    printf("blocked send: %s\n", send(s, "e", 1, 0) == 1 ? "sent" : errname(errno));
    pthread_join(th, NULL);
    printf("drained: %s\n", drained ? "some" : "none");
    close(s);
    close(dgram_receiver);
}

/* -- the receiver goes away under a blocked datagram sender -------------------------------- */
static void *close_later(void *unused) {
    (void)unused;
    pause_ms(50);
    close(dgram_receiver);
    return NULL;
}

static void dgram_receiver_gone(void) {
    int s = full_receiver("ecs-wake-gone");
    poll_while("poll as the receiver goes", s, POLLOUT, close_later, NULL);
    printf("send after: %s\n", send(s, "e", 1, 0) == 1 ? "sent" : errname(errno));
    close(s);
}

/* -- a larger SO_SNDBUF lets a blocked stream writer go on ---------------------------------- */
static int stream_writer;

static void *grow_later(void *unused) {
    (void)unused;
    pause_ms(50);
    int size = 1 << 20;
    setsockopt(stream_writer, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    return NULL;
}

static void sndbuf_room(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    stream_writer = sv[0];
    int size = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    static char chunk[1024];
    while (send(sv[0], chunk, sizeof chunk, MSG_DONTWAIT) > 0) {}
    poll_while("poll of the full writer", sv[0], POLLOUT, grow_later, NULL);
    close(sv[0]);
    close(sv[1]);
}

/* -- an interest that is ready, added by another thread, ends an epoll_wait ------------------ */
static int epfd, ready_pipe[2];

static void *add_later(void *unused) {
    (void)unused;
    pause_ms(50);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ready_pipe[0]};
    epoll_ctl(epfd, EPOLL_CTL_ADD, ready_pipe[0], &ev);
    return NULL;
}

static void epoll_added(void) {
    epfd = epoll_create1(0);
    pipe(ready_pipe);
    write(ready_pipe[1], "r", 1);
    pthread_t th;
    pthread_create(&th, NULL, add_later, NULL);
    struct epoll_event got;
    int n = epoll_wait(epfd, &got, 1, LIMIT_MS);
    printf("epoll_wait as the interest is added: %s\n", n == 1 && got.data.fd == ready_pipe[0]
           ? "the pipe" : n == 0 ? "timed out" : errname(errno));
    pthread_join(th, NULL);
    close(ready_pipe[0]);
    close(ready_pipe[1]);
    close(epfd);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    listener_wakes();
    backlog_room();
    dgram_room();
    dgram_receiver_gone();
    sndbuf_room();
    epoll_added();
    return 0;
}
