/* epoll's edge-triggered, one-shot and exclusive modes, and nesting limits (epoll(7)):
 * every epoll_wait below uses timeout 0, so the program is deterministic and fast. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; printf("%s %ld errno %d\n", name, r_, r_ < 0 ? e_ : 0); } while (0)

static int ctl(int ep, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, op, fd, &ev);
}

/* One epoll_wait(timeout 0): how many, and each event's mask and data. */
static void wait0(const char *what, int ep) {
    struct epoll_event out[8];
    int n = epoll_wait(ep, out, 8, 0);
    printf("%s: %d", what, n);
    for (int i = 0; i < n; i++)
        printf(" [%x %llu]", out[i].events, (unsigned long long)out[i].data.u64);
    printf("\n");
}

static void pipes(void) {
    int p[2];
    pipe2(p, O_NONBLOCK);
    int ep = epoll_create1(0);
    T("add pipe read end ET", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 1));
    wait0("pipe empty", ep);
    write(p[1], "ab", 2);
    wait0("pipe written", ep);
    wait0("pipe again (no new edge)", ep);
    write(p[1], "c", 1);
    wait0("pipe second write (a new edge, still readable)", ep);
    wait0("pipe after the second", ep);
    char buf[8];
    read(p[0], buf, 1);
    wait0("pipe partial read (no edge for the reader)", ep);
    read(p[0], buf, sizeof buf);
    wait0("pipe drained", ep);
    write(p[1], "d", 1);
    wait0("pipe refilled", ep);
    T("mod rearms", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLET, 2));
    wait0("pipe after mod (ready now: one report)", ep);
    wait0("pipe after mod again", ep);
    close(p[1]);
    wait0("writer closed (hangup edge)", ep);
    wait0("writer closed again", ep);
    close(p[0]);
    close(ep);

    /* the writer's side: an edge when a full pipe gets room */
    pipe2(p, O_NONBLOCK);
    ep = epoll_create1(0);
    T("add pipe write end ET", ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT | EPOLLET, 3));
    wait0("writable at first", ep);
    wait0("writable again", ep);
    static char big[65536];
    int w = write(p[1], big, sizeof big);
    printf("filled %d\n", w);
    wait0("full", ep);
    read(p[0], big, 4096);
    wait0("room again", ep);
    wait0("room again, twice", ep);
    close(p[0]);
    wait0("reader closed", ep);
    close(p[1]);
    close(ep);
}

static void eventfds(void) {
    int efd = eventfd(0, EFD_NONBLOCK);
    int ep = epoll_create1(0);
    T("add eventfd IN|OUT ET", ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLOUT | EPOLLET, 4));
    wait0("eventfd writable", ep);
    wait0("eventfd no edge", ep);
    uint64_t v = 1;
    write(efd, &v, 8);
    wait0("eventfd written", ep);
    write(efd, &v, 8);
    wait0("eventfd written twice", ep);
    wait0("eventfd quiet", ep);
    read(efd, &v, 8);
    wait0("eventfd read (the writer's edge)", ep);
    printf("read %llu\n", (unsigned long long)v);
    /* unwritable and writable again between two waits: still an edge */
    v = UINT64_MAX - 1;
    write(efd, &v, 8);
    read(efd, &v, 8);
    wait0("eventfd full then emptied", ep);
    close(ep);

    /* one-shot with edge: one report until MOD, whatever happens */
    ep = epoll_create1(0);
    T("add eventfd OUT ET ONESHOT", ctl(ep, EPOLL_CTL_ADD, efd, EPOLLOUT | EPOLLET | EPOLLONESHOT, 5));
    wait0("oneshot first", ep);
    v = 1;
    write(efd, &v, 8);
    read(efd, &v, 8);
    wait0("oneshot disarmed", ep);
    T("oneshot mod", ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLONESHOT, 6));
    wait0("oneshot IN not ready", ep);
    write(efd, &v, 8);
    wait0("oneshot IN ready", ep);
    wait0("oneshot IN disarmed (still readable)", ep);
    T("oneshot del", ctl(ep, EPOLL_CTL_DEL, efd, 0, 0));
    close(ep);
    close(efd);
}

static void sockets(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    int ep = epoll_create1(0);
    T("add socket ET", ctl(ep, EPOLL_CTL_ADD, sv[1], EPOLLIN | EPOLLRDHUP | EPOLLET, 7));
    wait0("socket empty", ep);
    send(sv[0], "x", 1, 0);
    wait0("socket sent", ep);
    wait0("socket quiet", ep);
    send(sv[0], "y", 1, 0);
    wait0("socket sent again", ep);
    shutdown(sv[0], SHUT_WR);
    wait0("socket peer shut down", ep);
    wait0("socket quiet after shutdown", ep);
    close(sv[0]);
    wait0("socket peer closed", ep);
    close(sv[1]);
    close(ep);
}

static void level_and_flags(void) {
    int efd = eventfd(1, EFD_NONBLOCK);
    int ep = epoll_create1(0);
    T("add level", ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 8));
    wait0("level first", ep);
    wait0("level again", ep);
    int ep2 = epoll_create1(0);
    T("exclusive add", ctl(ep2, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE, 9));
    wait0("exclusive wait", ep2);
    T("exclusive mod", ctl(ep2, EPOLL_CTL_MOD, efd, EPOLLIN, 9));
    T("exclusive mod with the flag", ctl(ep2, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLEXCLUSIVE, 9));
    int other = eventfd(0, 0);
    T("exclusive with oneshot", ctl(ep, EPOLL_CTL_ADD, other, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 9));
    T("exclusive with RDHUP", ctl(ep, EPOLL_CTL_ADD, other, EPOLLIN | EPOLLEXCLUSIVE | EPOLLRDHUP, 9));
    T("exclusive on an epoll fd", ctl(ep, EPOLL_CTL_ADD, ep2, EPOLLIN | EPOLLEXCLUSIVE, 9));
    T("mod of a missing entry", ctl(ep, EPOLL_CTL_MOD, other, EPOLLIN, 9));
    T("exclusive with ET", ctl(ep, EPOLL_CTL_ADD, other, EPOLLIN | EPOLLEXCLUSIVE | EPOLLET, 9));
    close(other);
    T("bad op", ctl(ep, 42, efd, EPOLLIN, 9));
    close(ep2);
    close(ep);
    close(efd);
}

static void nesting(void) {
    int e[8];
    for (int i = 0; i < 8; i++)
        e[i] = epoll_create1(0);
    T("self", ctl(e[0], EPOLL_CTL_ADD, e[0], EPOLLIN, 0));
    T("e0 watches e1", ctl(e[0], EPOLL_CTL_ADD, e[1], EPOLLIN, 1));
    T("e1 watches e2", ctl(e[1], EPOLL_CTL_ADD, e[2], EPOLLIN, 2));
    T("e2 watches e0 (cycle)", ctl(e[2], EPOLL_CTL_ADD, e[0], EPOLLIN, 0));
    T("e1 watches e0 (cycle)", ctl(e[1], EPOLL_CTL_ADD, e[0], EPOLLIN, 0));
    T("e2 watches e3", ctl(e[2], EPOLL_CTL_ADD, e[3], EPOLLIN, 3));
    T("e3 watches e4", ctl(e[3], EPOLL_CTL_ADD, e[4], EPOLLIN, 4));
    T("e4 watches e5 (too deep)", ctl(e[4], EPOLL_CTL_ADD, e[5], EPOLLIN, 5));
    T("e6 watches e0 (too deep above)", ctl(e[6], EPOLL_CTL_ADD, e[0], EPOLLIN, 0));
    T("e5 watches e6", ctl(e[5], EPOLL_CTL_ADD, e[6], EPOLLIN, 6));
    T("e6 watches e7", ctl(e[6], EPOLL_CTL_ADD, e[7], EPOLLIN, 7));
    /* readiness passes up the chain: an eventfd at the bottom makes e0 readable */
    int efd = eventfd(1, 0);
    T("e4 watches an eventfd", ctl(e[4], EPOLL_CTL_ADD, efd, EPOLLIN, 9));
    wait0("e0 sees e1 ready", e[0]);
    T("e1 drops e2", ctl(e[1], EPOLL_CTL_DEL, e[2], 0, 0));
    wait0("e0 quiet", e[0]);
    T("e2 watches e0 (no cycle now)", ctl(e[2], EPOLL_CTL_ADD, e[0], EPOLLIN, 0));
    for (int i = 0; i < 8; i++)
        close(e[i]);
    close(efd);
}

static void closing(void) {
    int efd = eventfd(1, 0);
    int ep = epoll_create1(0);
    int dup_fd = dup(efd);
    T("add eventfd", ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 10));
    close(efd);
    wait0("closed but still open through a dup", ep);
    close(dup_fd);
    wait0("closed everywhere", ep);
    close(ep);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    pipes();
    eventfds();
    sockets();
    level_and_flags();
    nesting();
    closing();
    return 0;
}
