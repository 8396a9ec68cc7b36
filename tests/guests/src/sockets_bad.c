/* Bad guest input to the socket calls: wild pointers, bad lengths, malformed control messages.
 * Each line: the call, its result and errno (the same numbers natively and emulated). */
#define _GNU_SOURCE
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <unistd.h>
#define BAD ((void *)0x10)
#define R(x) do { errno = 0; long r_ = (long)(x); printf("%-60s = %ld %d\n", #x, r_, r_ < 0 ? errno : 0); } while (0)
int main(void) {
    int s = socket(AF_UNIX, SOCK_DGRAM, 0), sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    socklen_t l = sizeof a;
    R(bind(s, BAD, sizeof a));
    R(bind(s, (void *)&a, -1));
    R(bind(s, (void *)&a, 1));
    R(bind(s, (void *)&a, 200));
    R(connect(s, BAD, 20));
    R(getsockname(s, BAD, &l));
    R(getsockname(s, (void *)&a, BAD));
    l = -1; R(getsockname(s, (void *)&a, &l));
    R(socketpair(AF_UNIX, SOCK_STREAM, 0, BAD));
    R(sendto(sv[0], BAD, 10, 0, NULL, 0));
    R(send(sv[0], "x", 1, 0));
    R(recv(sv[1], BAD, 10, 0));
    R(sendmsg(sv[0], BAD, 0));
    R(recvmsg(sv[1], BAD, 0));
    struct msghdr m = {0};
    struct iovec iov = {"ab", 2};
    m.msg_iov = &iov; m.msg_iovlen = 1;
    m.msg_control = BAD; m.msg_controllen = 32;
    R(sendmsg(sv[0], &m, 0));
    m.msg_control = NULL; m.msg_controllen = 0; m.msg_iovlen = 5000;
    R(sendmsg(sv[0], &m, 0));
    m.msg_iovlen = 1; m.msg_iov = BAD;
    R(sendmsg(sv[0], &m, 0));
    char cb[64] = {0}; m.msg_iov = &iov; m.msg_control = cb; m.msg_controllen = 12;
    R(sendmsg(sv[0], &m, 0));
    struct cmsghdr *c = (void *)cb; c->cmsg_len = 100; m.msg_controllen = 64;
    R(sendmsg(sv[0], &m, 0));
    c->cmsg_len = 20; c->cmsg_level = 99; c->cmsg_type = 1;
    R(sendmsg(sv[0], &m, 0));
    int v; socklen_t vl = 4;
    R(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, BAD, &vl));
    R(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, BAD));
    vl = -1; R(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &vl));
    vl = 2; R(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &vl)); printf("vl %u\n", vl);
    R(setsockopt(sv[0], SOL_SOCKET, SO_REUSEADDR, BAD, 4));
    R(setsockopt(sv[0], SOL_SOCKET, SO_REUSEADDR, &v, -1));
    R(accept(s, BAD, BAD));
    R(shutdown(sv[0], -1));
    R(listen(sv[0], 5));
    int t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET};
    R(bind(t, (void *)&in, 8));
    R(connect(t, (void *)&in, 8));
    R(sendto(t, "x", 1, 0, BAD, 16));
    R(recvmmsg(sv[1], BAD, 2, 0, NULL));
    R(sendmmsg(sv[0], BAD, 2, 0));
    return 0;
}
