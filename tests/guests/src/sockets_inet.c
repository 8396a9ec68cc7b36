/* TCP and UDP over loopback, IPv4 and IPv6, between processes: bind/listen/accept/connect,
 * ephemeral ports, SO_REUSEADDR, non-blocking connect, SO_ERROR, FIN and reset, options servers
 * set, readiness, a transfer larger than the buffers. Ports and pids are never printed (Linux
 * picks ephemeral ports at random): only how they compare. Argument "unreach": a non-loopback
 * destination (ENETUNREACH under ecs-kernel; not run natively, the host has a network). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* errno names (musl has no strerrorname_np) */
#include "errname.h"
#include "ports.h"

static void check(const char *what, long r) {
    if (r < 0) printf("%s: -1 %s\n", what, errname(errno));
    else printf("%s: %ld\n", what, r);
    fflush(stdout);
}
#define T(x) check(#x, (long)(x))
#define B(x) do { printf("%s: %s\n", #x, (x) ? "yes" : "no"); fflush(stdout); } while (0)

static struct sockaddr_in v4(const char *ip, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static struct sockaddr_in6 v6(const char *ip, int port) {
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

static int getint(int fd, int level, int opt) {
    int v = -99;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, opt, &v, &l) < 0) return -errno;
    return v;
}

static void tcp4(void) {
    printf("-- TCP over 127.0.0.1\n");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    printf("fresh: reuseaddr %d nodelay %d keepidle %d v6only-level %d rcvlowat %d\n",
           getint(s, SOL_SOCKET, SO_REUSEADDR), getint(s, IPPROTO_TCP, TCP_NODELAY),
           getint(s, IPPROTO_TCP, TCP_KEEPIDLE), getint(s, IPPROTO_IPV6, IPV6_V6ONLY),
           getint(s, SOL_SOCKET, SO_RCVLOWAT));
    int one = 1;
    T(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    printf("reuseaddr %d\n", getint(s, SOL_SOCKET, SO_REUSEADDR));
    struct sockaddr_in a = v4("127.0.0.1", 0);
    T(bind(s, (struct sockaddr *)&a, sizeof a));
    int port = port_of(s);
    B(port >= 1024);
    T(bind(s, (struct sockaddr *)&a, sizeof a));        /* EINVAL: bound already */
    T(listen(s, 8));
    printf("acceptconn %d\n", getint(s, SOL_SOCKET, SO_ACCEPTCONN));
    /* another socket on the same port: EADDRINUSE, with or without SO_REUSEADDR (it listens) */
    int t = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = htons(port);
    T(bind(t, (struct sockaddr *)&a, sizeof a));
    T(setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    T(bind(t, (struct sockaddr *)&a, sizeof a));
    struct sockaddr_in any = v4("0.0.0.0", port);
    T(bind(t, (struct sockaddr *)&any, sizeof any));
    struct sockaddr_in other = v4("127.0.0.2", port);
    T(bind(t, (struct sockaddr *)&other, sizeof other)); /* another loopback address: fine */
    close(t);
    struct sockaddr_in far = v4("10.1.2.3", 0);
    t = socket(AF_INET, SOCK_STREAM, 0);
    T(bind(t, (struct sockaddr *)&far, sizeof far));     /* EADDRNOTAVAIL */
    close(t);
    pid_t child = fork();
    if (child == 0) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        int nd = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &nd, sizeof nd);
        if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) _exit(2);
        char buf[64];
        const char *msg = "GET / HTTP/1.0\r\n\r\n";
        write(c, msg, strlen(msg));
        long total = 0, n;
        while ((n = read(c, buf, sizeof buf)) > 0) total += n;
        _exit(n == 0 && total == 12 ? 0 : 3);
    }
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int c = accept(s, (struct sockaddr *)&peer, &pl);
    T(c >= 0);
    char ip[32];
    inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    printf("peer %s len %u ephemeral %d\n", ip, pl, ntohs(peer.sin_port) >= 1024);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    T(getsockname(c, (struct sockaddr *)&me, &ml));
    inet_ntop(AF_INET, &me.sin_addr, ip, sizeof ip);
    printf("local %s same port %d\n", ip, ntohs(me.sin_port) == port);
    printf("accepted reuseaddr %d\n", getint(c, SOL_SOCKET, SO_REUSEADDR));
    char buf[64];
    T(read(c, buf, sizeof buf));
    T(write(c, "HTTP/1.0 200", 12));
    T(shutdown(c, SHUT_WR));
    T(send(c, "late", 4, MSG_NOSIGNAL));                 /* EPIPE */
    int status;
    waitpid(child, &status, 0);
    printf("child exit %d\n", WEXITSTATUS(status));
    T(read(c, buf, sizeof buf));                         /* the child's close: EOF */
    close(c);
    close(s);
    /* the port is free again once nothing holds it (bind with SO_REUSEADDR as servers do) */
    s = socket(AF_INET, SOCK_STREAM, 0);
    T(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    T(bind(s, (struct sockaddr *)&a, sizeof a));
    close(s);
}

static void refused_and_nonblocking(void) {
    printf("-- refused, non-blocking connect, SO_ERROR\n");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = v4("127.0.0.1", 0);
    bind(s, (struct sockaddr *)&a, sizeof a);
    int port = port_of(s);
    close(s);                                            /* nobody on this port now */
    a.sin_port = htons(port);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&a, sizeof a));      /* ECONNREFUSED */
    close(c);
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    T(connect(c, (struct sockaddr *)&a, sizeof a));      /* EINPROGRESS */
    struct pollfd p = {c, POLLOUT, 0};
    T(poll(&p, 1, 1000));
    printf("revents has ERR %d\n", !!(p.revents & POLLERR));
    printf("so_error %s\n", errname(getint(c, SOL_SOCKET, SO_ERROR)));
    printf("so_error again %d\n", getint(c, SOL_SOCKET, SO_ERROR));
    close(c);
    s = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = 0;
    bind(s, (struct sockaddr *)&a, sizeof a);
    listen(s, 4);
    a.sin_port = htons(port_of(s));
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    T(connect(c, (struct sockaddr *)&a, sizeof a));      /* EINPROGRESS */
    p.fd = c; p.events = POLLOUT;
    T(poll(&p, 1, 1000));
    printf("revents %#x so_error %d\n", p.revents, getint(c, SOL_SOCKET, SO_ERROR));
    T(connect(c, (struct sockaddr *)&a, sizeof a));      /* EISCONN */
    int d = accept4(s, NULL, NULL, SOCK_NONBLOCK);
    T(d >= 0);
    char buf[16];
    T(recv(d, buf, sizeof buf, 0));                      /* EAGAIN */
    T(send(c, "ping", 4, 0));
    T(recv(d, buf, 2, MSG_PEEK));
    T(recv(d, buf, sizeof buf, 0));
    close(c); close(d); close(s);
}

static void resets(void) {
    printf("-- resets\n");
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = v6("::1", 0);
    T(bind(s, (struct sockaddr *)&a, sizeof a));
    T(listen(s, 4));
    a.sin6_port = htons(port_of(s));
    int c = socket(AF_INET6, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&a, sizeof a));
    int d = accept(s, NULL, NULL);
    T(write(c, "unread", 6));
    close(d);                                            /* unread data: a reset */
    char buf[16];
    T(read(c, buf, sizeof buf));                          /* ECONNRESET */
    close(c);
    c = socket(AF_INET6, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&a, sizeof a));
    d = accept(s, NULL, NULL);
    close(d);                                            /* a clean close: FIN */
    T(read(c, buf, sizeof buf));                          /* EOF */
    T(send(c, "x", 1, MSG_NOSIGNAL));                    /* goes out, draws a reset */
    T(send(c, "x", 1, MSG_NOSIGNAL));                    /* EPIPE */
    close(c);
    close(s);
}

static void ipv6(void) {
    printf("-- IPv6 and dual stack\n");
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    printf("v6only %d\n", getint(s, IPPROTO_IPV6, IPV6_V6ONLY));
    struct sockaddr_in6 any = v6("::", 0);
    T(bind(s, (struct sockaddr *)&any, sizeof any));
    T(listen(s, 4));
    int port = port_of(s);
    struct sockaddr_in a4 = v4("127.0.0.1", port);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&a4, sizeof a4));    /* the dual-stack listener takes it */
    struct sockaddr_in6 peer;
    socklen_t pl = sizeof peer;
    int d = accept(s, (struct sockaddr *)&peer, &pl);
    char ip[64];
    inet_ntop(AF_INET6, &peer.sin6_addr, ip, sizeof ip);
    printf("peer %s len %u\n", ip, pl);
    close(c); close(d);
    struct sockaddr_in6 a6 = v6("::1", port);
    c = socket(AF_INET6, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&a6, sizeof a6));
    d = accept(s, (struct sockaddr *)&peer, &pl);
    inet_ntop(AF_INET6, &peer.sin6_addr, ip, sizeof ip);
    printf("peer %s\n", ip);
    close(c); close(d); close(s);
    s = socket(AF_INET6, SOCK_STREAM, 0);
    int one = 1;
    any.sin6_port = htons(free_port(SOCK_STREAM));  /* the v4 connect and bind below use it too */
    T(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    printf("v6only %d\n", getint(s, IPPROTO_IPV6, IPV6_V6ONLY));
    T(bind(s, (struct sockaddr *)&any, sizeof any));
    T(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));  /* EINVAL once bound */
    T(listen(s, 4));
    a4.sin_port = htons(port_of(s));
    c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&a4, sizeof a4));    /* ECONNREFUSED: v6 only */
    /* a v4 socket on the same port: allowed beside a v6-only one */
    int s4 = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in any4 = v4("0.0.0.0", port_of(s));
    T(bind(s4, (struct sockaddr *)&any4, sizeof any4));
    close(s4); close(c); close(s);
    T(connect(socket(AF_INET6, SOCK_STREAM, 0), (struct sockaddr *)&a4, sizeof a4)); /* EAFNOSUPPORT */
}

static void udp(void) {
    printf("-- UDP\n");
    int r = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = v4("127.0.0.1", 0);
    T(bind(r, (struct sockaddr *)&a, sizeof a));
    a.sin_port = htons(port_of(r));
    int w = socket(AF_INET, SOCK_DGRAM, 0);
    T(send(w, "x", 1, 0));                               /* EDESTADDRREQ */
    T(sendto(w, "first", 5, 0, (struct sockaddr *)&a, sizeof a));
    T(sendto(w, "second!", 7, 0, (struct sockaddr *)&a, sizeof a));
    T(sendto(w, "", 0, 0, (struct sockaddr *)&a, sizeof a));
    char buf[16];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    T(recvfrom(r, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl));
    char ip[32];
    inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip);
    printf("from %s same port %d len %u\n", ip, ntohs(from.sin_port) == port_of(w), fl);
    T(recv(r, buf, 3, 0));                               /* truncated */
    T(recv(r, buf, sizeof buf, 0));                      /* the empty datagram */
    T(recv(r, buf, sizeof buf, MSG_DONTWAIT));           /* EAGAIN */
    int big = 70000;
    char *huge = calloc(1, big);
    T(sendto(w, huge, big, 0, (struct sockaddr *)&a, sizeof a));  /* EMSGSIZE */
    free(huge);
    T(connect(w, (struct sockaddr *)&a, sizeof a));
    T(send(w, "conn", 4, 0));
    T(recv(r, buf, sizeof buf, 0));
    int port = port_of(r);
    close(r);
    T(send(w, "gone", 4, 0));                            /* dropped: nobody listens */
    T(recv(w, buf, sizeof buf, MSG_DONTWAIT));           /* ECONNREFUSED (port unreachable) */
    struct sockaddr_in unspec = {.sin_family = AF_UNSPEC};
    T(connect(w, (struct sockaddr *)&unspec, sizeof unspec));
    T(send(w, "x", 1, 0));                               /* EDESTADDRREQ again */
    (void)port;
    close(w);
    /* two UDP sockets may share a port with SO_REUSEADDR */
    int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
    int one = 1;
    setsockopt(u1, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(u2, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in b = v4("127.0.0.1", 0);
    T(bind(u1, (struct sockaddr *)&b, sizeof b));
    b.sin_port = htons(port_of(u1));
    T(bind(u2, (struct sockaddr *)&b, sizeof b));
    close(u1); close(u2);
    int u6 = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 l6 = v6("::1", 0);
    T(bind(u6, (struct sockaddr *)&l6, sizeof l6));
    l6.sin6_port = htons(port_of(u6));
    int s6 = socket(AF_INET6, SOCK_DGRAM, 0);
    T(sendto(s6, "six", 3, 0, (struct sockaddr *)&l6, sizeof l6));
    struct sockaddr_in6 f6;
    fl = sizeof f6;
    T(recvfrom(u6, buf, sizeof buf, 0, (struct sockaddr *)&f6, &fl));
    inet_ntop(AF_INET6, &f6.sin6_addr, ip, sizeof ip);
    printf("from %s len %u\n", ip, fl);
    close(u6); close(s6);
    int q = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in qa = v4("127.0.0.1", 0);
    T(bind(q, (struct sockaddr *)&qa, sizeof qa));
    struct timeval tv = {0, 100000};
    T(setsockopt(q, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    T(recv(q, buf, sizeof buf, 0));                      /* EAGAIN after 0.1 s */
    close(q);
}

static void options(void) {
    printf("-- options\n");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int v = 1;
    T(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v));
    T(setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v));
    T(setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &v, sizeof v));
    v = 30;
    T(setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v));
    v = 0;
    T(setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v));   /* EINVAL */
    printf("nodelay %d keepalive %d reuseport %d keepidle %d keepintvl %d keepcnt %d\n",
           getint(s, IPPROTO_TCP, TCP_NODELAY), getint(s, SOL_SOCKET, SO_KEEPALIVE),
           getint(s, SOL_SOCKET, SO_REUSEPORT), getint(s, IPPROTO_TCP, TCP_KEEPIDLE),
           getint(s, IPPROTO_TCP, TCP_KEEPINTVL), getint(s, IPPROTO_TCP, TCP_KEEPCNT));
    printf("type %d domain %d protocol %d sndbuf %d rcvbuf %d ttl %d\n",
           getint(s, SOL_SOCKET, SO_TYPE), getint(s, SOL_SOCKET, SO_DOMAIN),
           getint(s, SOL_SOCKET, SO_PROTOCOL), getint(s, SOL_SOCKET, SO_SNDBUF),
           getint(s, SOL_SOCKET, SO_RCVBUF), getint(s, IPPROTO_IP, IP_TTL));
    struct linger lg = {1, 5};
    T(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    socklen_t l = sizeof lg;
    T(getsockopt(s, SOL_SOCKET, SO_LINGER, &lg, &l));
    printf("linger %d %d\n", lg.l_onoff, lg.l_linger);
    struct timeval tv = {2, 500000};
    T(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    l = sizeof tv;
    T(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &l));
    printf("rcvtimeo %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
    T(setsockopt(s, SOL_SOCKET, 9999, &v, sizeof v));       /* ENOPROTOOPT */
    T(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, 2));      /* EINVAL */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    printf("udp protocol %d tcp-level %d\n", getint(u, SOL_SOCKET, SO_PROTOCOL),
           getint(u, IPPROTO_TCP, TCP_NODELAY));
    T(listen(u, 1));                                     /* EOPNOTSUPP */
    T(accept(u, NULL, NULL));                            /* EOPNOTSUPP */
    T(socketpair(AF_INET, SOCK_STREAM, 0, (int[2]){0}));  /* EOPNOTSUPP */
    close(s); close(u);
}

static void bulk(void) {
    printf("-- bulk transfer, epoll\n");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = v4("127.0.0.1", 0);
    bind(s, (struct sockaddr *)&a, sizeof a);
    listen(s, 1);
    a.sin_port = htons(port_of(s));
    pid_t child = fork();
    if (child == 0) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) _exit(2);
        static unsigned char chunk[8192];
        for (int i = 0; i < (int)sizeof chunk; i++) chunk[i] = i * 7;
        for (int k = 0; k < 128; k++) {                  /* 1 MiB */
            size_t off = 0;
            while (off < sizeof chunk) {
                ssize_t n = write(c, chunk + off, sizeof chunk - off);
                if (n <= 0) _exit(3);
                off += n;
            }
        }
        _exit(0);
    }
    int c = accept(s, NULL, NULL);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
    T(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev));
    unsigned long sum = 0, total = 0;
    int rdhup = 0;
    for (;;) {
        struct epoll_event out;
        if (epoll_wait(ep, &out, 1, -1) != 1) break;
        if (out.events & EPOLLRDHUP) rdhup = 1;
        unsigned char buf[4096];
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) sum += buf[i];
        total += n;
    }
    printf("received %lu sum %lu rdhup %d\n", total, sum, rdhup);
    int status;
    waitpid(child, &status, 0);
    printf("child exit %d\n", WEXITSTATUS(status));
    close(c); close(s); close(ep);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && !strcmp(argv[1], "unreach")) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = v4("93.184.216.34", 80);
        T(connect(c, (struct sockaddr *)&a, sizeof a));
        int u = socket(AF_INET6, SOCK_DGRAM, 0);
        struct sockaddr_in6 b = v6("2001:db8::1", 53);
        T(sendto(u, "q", 1, 0, (struct sockaddr *)&b, sizeof b));
        T(socket(AF_NETLINK, SOCK_RAW, 0));
        return 0;
    }
    tcp4();
    refused_and_nonblocking();
    resets();
    ipv6();
    udp();
    options();
    bulk();
    return 0;
}
