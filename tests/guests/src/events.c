/* Event plumbing of one process: socketpair(AF_UNIX), epoll, eventfd, poll flags, memfd. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; printf("%s %ld errno %d\n", name, r_, r_ < 0 ? e_ : 0); } while (0)

int main(void) {
    int sv[2];
    T("socketpair", socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    int dummy[2];  /* Linux writes the fd numbers before failing: not into sv */
    T("socketpair inet", socketpair(AF_INET, SOCK_STREAM, 0, dummy) < 0);
    T("send", send(sv[0], "hello", 5, 0));
    char buf[64] = {0};
    T("recv", recv(sv[1], buf, sizeof buf, 0));
    printf("got '%s'\n", buf);
    T("recv DONTWAIT empty", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    int type = 0; socklen_t len = sizeof type;
    T("getsockopt SO_TYPE", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &len));
    printf("type %d len %d\n", type, (int)len);
    T("send on a file", send(1 + 100, "x", 1, 0));
    int fd = open("/etc/hostname", O_RDONLY);
    T("send on a regular file", send(fd, "x", 1, 0));

    int ep = epoll_create1(EPOLL_CLOEXEC);
    printf("epoll ok %d\n", ep >= 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1234};
    T("epoll_ctl add", epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev));
    T("epoll_ctl add again", epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev));
    T("epoll_ctl regular file", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
    T("epoll_ctl self", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
    struct epoll_event out[4];
    T("epoll_wait nothing", epoll_wait(ep, out, 4, 20));
    send(sv[0], "x", 1, 0);
    T("epoll_wait ready", epoll_wait(ep, out, 4, 1000));
    printf("events %x data %llx\n", out[0].events, (unsigned long long)out[0].data.u64);
    recv(sv[1], buf, 1, 0);
    int efd = eventfd(0, EFD_NONBLOCK);
    ev.events = EPOLLIN; ev.data.u64 = 7;
    T("epoll add eventfd", epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
    uint64_t v = 0;
    T("eventfd read empty", read(efd, &v, 8));
    v = 5;
    T("eventfd write", write(efd, &v, 8));
    T("epoll_wait eventfd", epoll_wait(ep, out, 4, 1000));
    printf("data %llu\n", (unsigned long long)out[0].data.u64);
    T("eventfd read", read(efd, &v, 8));
    printf("value %llu\n", (unsigned long long)v);
    T("eventfd short read", read(efd, &v, 4));
    T("epoll_ctl del", epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL));
    T("epoll_ctl del again", epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL));
    T("epoll_wait bad max", epoll_wait(ep, out, 0, 0));

    /* shutdown and hang-ups as poll reports them */
    T("shutdown write", shutdown(sv[0], SHUT_WR));
    T("recv after peer shutdown", recv(sv[1], buf, sizeof buf, 0));
    struct pollfd pf = {sv[1], POLLIN, 0};
    T("poll", poll(&pf, 1, 0));
    printf("revents %x\n", pf.revents & (POLLIN | POLLOUT | POLLHUP));
    int p[2];
    pipe(p);
    close(p[1]);
    struct pollfd pp = {p[0], POLLIN, 0};
    T("poll widowed pipe", poll(&pp, 1, 0));
    printf("pipe revents %x\n", pp.revents);
    T("send MSG_NOSIGNAL after close", (close(sv[1]), send(sv[0], "x", 1, MSG_NOSIGNAL)));

    int m = memfd_create("buf", MFD_CLOEXEC);
    T("memfd write", write(m, "memory file", 11));
    T("memfd ftruncate", ftruncate(m, 4096));
    char *map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, m, 0);
    printf("memfd mapped '%.11s'\n", map);
    T("memfd bad flags", memfd_create("x", 0x100));
    return 0;
}
