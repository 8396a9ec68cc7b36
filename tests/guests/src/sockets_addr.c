/* Socket addressing over loopback: the dual-stack rules (a socket bound to an IPv6 address is
 * IPv6-only; one bound to a v4-mapped address cannot reach IPv6), who may bind a port another
 * socket holds (addresses that overlap across families, IPV6_V6ONLY, SO_REUSEADDR,
 * SO_REUSEPORT, listening), which socket a datagram goes to (SO_REUSEADDR: the last bound;
 * SO_REUSEPORT: spread), broadcast on lo, shutdown of an unconnected UDP socket, IP_TOS and
 * IPV6_TCLASS edge values, the UDP error queue (IP_RECVERR, IPV6_RECVERR), the socket buffer
 * limits /proc/sys/net/core shows, and a blocking connect that waits for room in a backlog.
 * Ports are never printed (Linux picks ephemeral ports at random): only outcomes. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* struct sock_extended_err (linux/errqueue.h, which musl's headers do not carry) */
struct ext_err {
    unsigned int ee_errno;
    unsigned char ee_origin, ee_type, ee_code, ee_pad;
    unsigned int ee_info, ee_data;
};

#include "errname.h"
#include "ports.h"

static void check(const char *what, long r) {
    if (r < 0) printf("%s: -1 %s\n", what, errname(errno));
    else printf("%s: %ld\n", what, r);
    fflush(stdout);
}
#define T(x) check(#x, (long)(x))

/* the addresses of the bind matrix */
enum { V4ANY, V4LO, V6ANY, V6ANY_ONLY, V6LO, MAPPED_LO, NADDR };
static const char *addr_name[NADDR] = {"0.0.0.0", "127.0.0.1", "[::]", "[::] v6only", "[::1]",
                                       "[::ffff:127.0.0.1]"};

static socklen_t make_addr(int which, int port, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    if (which == V4ANY || which == V4LO) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        a->sin_addr.s_addr = which == V4ANY ? htonl(INADDR_ANY) : htonl(INADDR_LOOPBACK);
        return sizeof *a;
    }
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    if (which == V6LO) a->sin6_addr = in6addr_loopback;
    if (which == MAPPED_LO) inet_pton(AF_INET6, "::ffff:127.0.0.1", &a->sin6_addr);
    return sizeof *a;
}

/* a socket for ``which`` with the options of ``opts`` (1: SO_REUSEADDR, 2: SO_REUSEPORT) bound
 * to ``port`` (0: an ephemeral one): the fd, or -errno of the bind */
static int bound(int which, int type, int opts, int port) {
    int fam = which == V4ANY || which == V4LO ? AF_INET : AF_INET6;
    int s = socket(fam, type, 0), one = 1;
    if (which == V6ANY_ONLY) setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (opts & 1) setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (opts & 2) setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_storage ss;
    socklen_t l = make_addr(which, port, &ss);
    if (bind(s, (struct sockaddr *)&ss, l) < 0) {
        int e = errno;
        close(s);
        return -e;
    }
    return s;
}

/* Who may bind a port another socket holds: for each first socket (bound to a free port,
 * perhaps listening) and each second address, with neither, both SO_REUSEADDR or both
 * SO_REUSEPORT. */
static void bind_matrix(int type) {
    static const char *optname[] = {"plain", "reuseaddr", "reuseport"};
    static const int optbits[] = {0, 1, 2};
    printf("-- %s bind matrix\n", type == SOCK_STREAM ? "TCP" : "UDP");
    for (int listening = 0; listening < (type == SOCK_STREAM ? 2 : 1); listening++)
        for (int o = 0; o < 3; o++)
            for (int a = 0; a < NADDR; a++) {
                printf("%s%s %-20s:", optname[o], listening ? " listening" : "", addr_name[a]);
                for (int b = 0; b < NADDR; b++) {
                    int first = bound(a, type, optbits[o], free_port(type));
                    if (first < 0) {
                        printf(" first %s", errname(-first));
                        continue;
                    }
                    if (listening) listen(first, 1);
                    int second = bound(b, type, optbits[o], port_of(first));
                    printf(" %s", second < 0 ? errname(-second) : "ok");
                    if (second >= 0) close(second);
                    close(first);
                }
                printf("\n");
            }
    fflush(stdout);
}

static void dual_stack(void) {
    printf("-- dual stack\n");
    struct sockaddr_storage lo6, mapped, lo6p, mappedp;
    socklen_t l6 = make_addr(V6LO, 0, &lo6);
    make_addr(MAPPED_LO, 0, &mapped);
    for (int type = SOCK_STREAM; type <= SOCK_DGRAM; type++) {
        const char *name = type == SOCK_STREAM ? "TCP" : "UDP";
        /* a listener on the loopback of each family, so that a connect has somewhere to go */
        int l4 = bound(V4LO, type, 0, 0), l6s = bound(V6LO, type, 0, 0);
        if (type == SOCK_STREAM) {
            listen(l4, 4);
            listen(l6s, 4);
        }
        make_addr(MAPPED_LO, port_of(l4), &mappedp);
        make_addr(V6LO, port_of(l6s), &lo6p);
        int s = socket(AF_INET6, type, 0), v = -1;
        socklen_t vl = sizeof v;
        getsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl);
        printf("%s fresh v6only %d\n", name, v);
        T(bind(s, (struct sockaddr *)&lo6, l6));
        getsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl);
        printf("%s bound to ::1: v6only %d\n", name, v);
        T(connect(s, (struct sockaddr *)&mappedp, l6));
        if (type == SOCK_DGRAM)
            T(sendto(s, "x", 1, 0, (struct sockaddr *)&mappedp, l6));
        close(s);
        s = socket(AF_INET6, type, 0);
        T(bind(s, (struct sockaddr *)&mapped, l6));
        getsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl);
        printf("%s bound to ::ffff:127.0.0.1: v6only %d\n", name, v);
        T(connect(s, (struct sockaddr *)&lo6p, l6));
        if (type == SOCK_DGRAM)
            T(sendto(s, "x", 1, 0, (struct sockaddr *)&lo6p, l6));
        T(connect(s, (struct sockaddr *)&mappedp, l6));
        close(s);
        close(l4);
        close(l6s);
    }
    fflush(stdout);
}

/* Which socket of a group bound to one port takes a datagram. */
static void delivery(void) {
    printf("-- delivery\n");
    int socks[4], n = 4;
    socks[0] = bound(V4LO, SOCK_DGRAM, 1, 0);
    int port = port_of(socks[0]);
    for (int i = 1; i < n; i++) socks[i] = bound(V4LO, SOCK_DGRAM, 1, port);
    struct sockaddr_storage to;
    socklen_t tl = make_addr(V4LO, port, &to);
    for (int k = 0; k < 3; k++) {
        int snd = socket(AF_INET, SOCK_DGRAM, 0);
        sendto(snd, "r", 1, 0, (struct sockaddr *)&to, tl);
        close(snd);
    }
    printf("reuseaddr:");
    for (int i = 0; i < n; i++) {
        char buf[4];
        int got = 0;
        while (recv(socks[i], buf, sizeof buf, MSG_DONTWAIT) > 0) got++;
        printf(" %d", got);
        close(socks[i]);
    }
    printf("\n");
    /* SO_REUSEPORT: the datagrams of many senders spread over the group (each gets some) */
    socks[0] = bound(V4LO, SOCK_DGRAM, 2, 0);
    port = port_of(socks[0]);
    socks[1] = bound(V4LO, SOCK_DGRAM, 2, port);
    tl = make_addr(V4LO, port, &to);
    for (int k = 0; k < 64; k++) {
        int snd = socket(AF_INET, SOCK_DGRAM, 0);
        sendto(snd, "p", 1, 0, (struct sockaddr *)&to, tl);
        close(snd);
    }
    int total = 0, each = 1;
    for (int i = 0; i < 2; i++) {
        char buf[4];
        int got = 0;
        while (recv(socks[i], buf, sizeof buf, MSG_DONTWAIT) > 0) got++;
        total += got;
        each &= got > 0;
        close(socks[i]);
    }
    printf("reuseport: %d in all, each got some: %s\n", total, each ? "yes" : "no");
    /* a connected UDP socket takes its peer's datagrams before a wildcard one on the port */
    int wild = bound(V4ANY, SOCK_DGRAM, 1, 0);
    port = port_of(wild);
    int conn = bound(V4LO, SOCK_DGRAM, 1, port);
    int peer = bound(V4LO, SOCK_DGRAM, 0, 0), other = bound(V4LO, SOCK_DGRAM, 0, 0);
    struct sockaddr_storage pa;
    socklen_t pl = make_addr(V4LO, port_of(peer), &pa);
    connect(conn, (struct sockaddr *)&pa, pl);
    tl = make_addr(V4LO, port, &to);
    sendto(peer, "a", 1, 0, (struct sockaddr *)&to, tl);
    sendto(other, "b", 1, 0, (struct sockaddr *)&to, tl);
    char c1 = 0, c2 = 0;
    recv(conn, &c1, 1, MSG_DONTWAIT);
    recv(wild, &c2, 1, MSG_DONTWAIT);
    printf("connected one took '%c', the wildcard one '%c'\n", c1 ? c1 : '-', c2 ? c2 : '-');
    close(wild);
    close(conn);
    /* IPv4 traffic: an AF_INET wildcard socket before a dual-stack one bound after it; IPv6
     * traffic: only the dual-stack one */
    int w4 = bound(V4ANY, SOCK_DGRAM, 1, free_port(SOCK_DGRAM));
    port = port_of(w4);
    int w6 = bound(V6ANY, SOCK_DGRAM, 1, port);
    tl = make_addr(V4LO, port, &to);
    sendto(peer, "4", 1, 0, (struct sockaddr *)&to, tl);
    int p6 = socket(AF_INET6, SOCK_DGRAM, 0);
    tl = make_addr(V6LO, port, &to);
    sendto(p6, "6", 1, 0, (struct sockaddr *)&to, tl);
    char got4[4] = "--", got6[4] = "--";
    for (int k = 0; k < 2; k++) {
        recv(w4, &got4[k], 1, MSG_DONTWAIT);
        recv(w6, &got6[k], 1, MSG_DONTWAIT);
    }
    printf("AF_INET wildcard took %s, the dual-stack one %s\n", got4, got6);
    close(w4);
    close(w6);
    close(p6);
    close(peer);
    close(other);
    fflush(stdout);
}

static void broadcast(void) {
    printf("-- broadcast\n");
    struct sockaddr_in bc = {.sin_family = AF_INET};
    inet_pton(AF_INET, "255.255.255.255", &bc.sin_addr);
    int r = socket(AF_INET, SOCK_DGRAM, 0);
    T(bind(r, (struct sockaddr *)&bc, sizeof bc));
    int any = bound(V4ANY, SOCK_DGRAM, 1, 0);
    close(any);
    bc.sin_port = htons(port_of(r));
    int s = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
    struct sockaddr_storage lo;
    socklen_t ll = make_addr(V4LO, 0, &lo);
    T(bind(s, (struct sockaddr *)&lo, ll));
    T(sendto(s, "b", 1, 0, (struct sockaddr *)&bc, sizeof bc)); /* EACCES: no SO_BROADCAST */
    T(setsockopt(s, SOL_SOCKET, SO_BROADCAST, &one, sizeof one));
    T(sendto(s, "b", 1, 0, (struct sockaddr *)&bc, sizeof bc));
    char buf[8];
    T(recv(r, buf, sizeof buf, MSG_DONTWAIT));
    /* lo's own broadcast address reaches a wildcard socket on the port */
    int w = bound(V4ANY, SOCK_DGRAM, 0, 0);
    struct sockaddr_in lob = {.sin_family = AF_INET, .sin_port = htons(port_of(w))};
    inet_pton(AF_INET, "127.255.255.255", &lob.sin_addr);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    T(sendto(u, "c", 1, 0, (struct sockaddr *)&lob, sizeof lob));
    T(setsockopt(u, SOL_SOCKET, SO_BROADCAST, &one, sizeof one));
    T(sendto(u, "c", 1, 0, (struct sockaddr *)&lob, sizeof lob));
    T(recv(w, buf, sizeof buf, MSG_DONTWAIT));
    close(r);
    close(s);
    close(w);
    close(u);
}

static void udp_shutdown(void) {
    printf("-- shutdown of an unconnected UDP socket\n");
    int s = bound(V4LO, SOCK_DGRAM, 0, 0);
    T(shutdown(s, SHUT_RD));
    char buf[4];
    T(recv(s, buf, sizeof buf, 0)); /* 0: the bits were taken */
    struct pollfd p = {.fd = s, .events = POLLIN};
    poll(&p, 1, 0);
    printf("revents in %d hup %d\n", !!(p.revents & POLLIN), !!(p.revents & POLLHUP));
    close(s);
}

static int getint(int fd, int level, int opt, socklen_t *len) {
    int v = 0;
    if (getsockopt(fd, level, opt, &v, len) < 0) return -errno;
    return v;
}

static void tos(void) {
    printf("-- IP_TOS and IPV6_TCLASS\n");
    static const int values[] = {-1, -2, 256, 0x1ff, 0xff, 0xc0, 3};
    for (int fam = 0; fam < 2; fam++)
        for (int type = SOCK_STREAM; type <= SOCK_DGRAM; type++) {
            int domain = fam ? AF_INET6 : AF_INET;
            int level = fam ? IPPROTO_IPV6 : IPPROTO_IP, opt = fam ? IPV6_TCLASS : IP_TOS;
            for (unsigned i = 0; i < sizeof values / sizeof *values; i++) {
                int s = socket(domain, type, 0);
                int r = setsockopt(s, level, opt, &values[i], sizeof(int));
                int e = errno;
                socklen_t len = sizeof(int);
                int v = getint(s, level, opt, &len);
                printf("%s %s set %d: %s, reads %d\n", fam ? "v6" : "v4",
                       type == SOCK_STREAM ? "tcp" : "udp", values[i],
                       r < 0 ? errname(e) : "ok", v);
                close(s);
            }
            /* short option buffers */
            for (socklen_t n = 1; n < 4; n++) {
                int s = socket(domain, type, 0), set = 0xc0;
                int r = setsockopt(s, level, opt, &set, n);
                int e = errno;
                unsigned v = 0;
                socklen_t len = n;
                getsockopt(s, level, opt, &v, &len);
                printf("%s %s size %u: %s, reads %u bytes: %#x\n", fam ? "v6" : "v4",
                       type == SOCK_STREAM ? "tcp" : "udp", n, r < 0 ? errname(e) : "ok",
                       len, v & (len >= 4 ? ~0u : (1u << (len * 8)) - 1));
                close(s);
            }
        }
    fflush(stdout);
}

static void errqueue(void) {
    printf("-- UDP error queue\n");
    static char big[0x10000];
    for (int fam = 0; fam < 3; fam++) {
        /* 0: IPv4, 1: IPv6, 2: IPv6 socket to a v4-mapped peer */
        int srv = bound(fam == 0 ? V4LO : fam == 1 ? V6LO : MAPPED_LO, SOCK_DGRAM, 0, 0);
        int s = socket(fam == 0 ? AF_INET : AF_INET6, SOCK_DGRAM, 0), one = 1;
        struct sockaddr_storage to;
        socklen_t tl = make_addr(fam == 0 ? V4LO : fam == 1 ? V6LO : MAPPED_LO, port_of(srv), &to);
        T(connect(s, (struct sockaddr *)&to, tl));
        if (fam == 1) T(setsockopt(s, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof one));
        else T(setsockopt(s, IPPROTO_IP, IP_RECVERR, &one, sizeof one));
        size_t sizes[] = {sizeof big, 65510};
        for (int k = 0; k < 2; k++) {
            printf("%s send %zu:", fam == 0 ? "v4" : fam == 1 ? "v6" : "mapped", sizes[k]);
            check("", send(s, big, sizes[k], 0));
            struct pollfd p = {.fd = s, .events = POLLIN};
            poll(&p, 1, 0);
            printf("pollerr %d\n", !!(p.revents & POLLERR));
            char data[16], ctl[256];
            struct sockaddr_storage from;
            struct iovec iov = {data, sizeof data};
            struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
                               .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
            memset(&from, 0, sizeof from);
            long r = recvmsg(s, &m, MSG_ERRQUEUE);
            check("recvmsg(MSG_ERRQUEUE)", r);
            if (r < 0) continue;
            struct cmsghdr *c = CMSG_FIRSTHDR(&m);
            printf("flags errqueue %d, name is the peer %d, namelen %u\n",
                   !!(m.msg_flags & MSG_ERRQUEUE), m.msg_namelen == tl
                   && memcmp(&from, &to, tl) == 0, m.msg_namelen);
            if (c) {
                struct ext_err ee;
                memcpy(&ee, CMSG_DATA(c), sizeof ee);
                printf("cmsg level %d type %d len %zu: errno %s origin %d type %d code %d "
                       "info %u data %u; next %s\n", c->cmsg_level, c->cmsg_type,
                       (size_t)c->cmsg_len, errname(ee.ee_errno), ee.ee_origin, ee.ee_type,
                       ee.ee_code, ee.ee_info, ee.ee_data, CMSG_NXTHDR(&m, c) ? "yes" : "none");
            }
            int err = -1;
            socklen_t el = sizeof err;
            getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
            printf("so_error %d\n", err);
            check("again", recvmsg(s, &m, MSG_ERRQUEUE));
        }
        close(s);
        close(srv);
    }
    fflush(stdout);
}

static long proc_long(const char *path) {
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = -1;
        fclose(f);
    }
    return v;
}

static void buffer_limits(void) {
    printf("-- buffer limits\n");
    long wmax = proc_long("/proc/sys/net/core/wmem_max");
    long rmax = proc_long("/proc/sys/net/core/rmem_max");
    printf("wmem_default %ld rmem_default %ld\n", proc_long("/proc/sys/net/core/wmem_default"),
           proc_long("/proc/sys/net/core/rmem_default"));
    for (int d = 0; d < 2; d++) {
        int s = socket(d ? AF_UNIX : AF_INET, SOCK_DGRAM, 0), huge = 0x7fffffff;
        setsockopt(s, SOL_SOCKET, SO_SNDBUF, &huge, sizeof huge);
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &huge, sizeof huge);
        socklen_t len = sizeof(int);
        int snd = getint(s, SOL_SOCKET, SO_SNDBUF, &len);
        len = sizeof(int);
        int rcv = getint(s, SOL_SOCKET, SO_RCVBUF, &len);
        printf("%s: sndbuf is 2 * wmem_max %s, rcvbuf is 2 * rmem_max %s\n", d ? "unix" : "udp",
               snd == 2 * wmax ? "yes" : "no", rcv == 2 * rmax ? "yes" : "no");
        close(s);
    }
    fflush(stdout);
}

/* A blocking connect to a listener whose backlog is full waits; once the listener accepts, the
 * connect returns 0 (not EISCONN when the wait restarts it). */
static void backlog_wait(void) {
    printf("-- blocking connect into a full backlog\n");
    int l = bound(V4LO, SOCK_STREAM, 0, 0);
    listen(l, 0);
    struct sockaddr_storage to;
    socklen_t tl = make_addr(V4LO, port_of(l), &to);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        int ok = 0;
        for (int i = 0; i < 3; i++) {
            int c = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(c, (struct sockaddr *)&to, tl) == 0 && write(c, "k", 1) == 1) ok++;
            else printf("connect %d: %s\n", i, errname(errno));
            close(c);
        }
        printf("child connected %d\n", ok);
        fflush(stdout);
        _exit(0);
    }
    usleep(300000);
    for (int i = 0; i < 3; i++) {
        int a = accept(l, NULL, NULL);
        char ch = 0;
        if (a >= 0) {
            read(a, &ch, 1);
            close(a);
        }
    }
    int status;
    waitpid(child, &status, 0);
    printf("child status %d\n", WEXITSTATUS(status));
    close(l);
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : "";
    if (!*only || !strcmp(only, "dual")) dual_stack();
    if (!*only || !strcmp(only, "bind")) {
        bind_matrix(SOCK_STREAM);
        bind_matrix(SOCK_DGRAM);
    }
    if (!*only || !strcmp(only, "delivery")) delivery();
    if (!*only || !strcmp(only, "broadcast")) broadcast();
    if (!*only || !strcmp(only, "shutdown")) udp_shutdown();
    if (!*only || !strcmp(only, "tos")) tos();
    if (!*only || !strcmp(only, "errqueue")) errqueue();
    if (!*only || !strcmp(only, "limits")) buffer_limits();
    if (!*only || !strcmp(only, "backlog")) backlog_wait();
    return 0;
}
