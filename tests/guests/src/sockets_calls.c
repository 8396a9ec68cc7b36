/* Socket calls at their edges, as gVisor's socket tests probe them: the netdevice ioctls any
 * socket answers about lo, recvmmsg's timeout, SO_RCVTIMEO/SO_SNDTIMEO on read(2) and write(2),
 * IP options' int-or-char arguments, sendto on connected UNIX sockets, large seqpackets.
 * Prints only what is the same on every run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static void check(const char *what, long r) {
    if (r < 0) printf("%s: -1 %s\n", what, errname(errno));
    else printf("%s: %ld\n", what, r);
    fflush(stdout);
}
#define T(x) check(#x, (long)(x))

static void netdevice(int family, int type) {
    printf("-- netdevice ioctls, family %d type %d\n", family, type);
    int s = socket(family, type, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    T(ioctl(s, SIOCGIFINDEX, &ifr));
    printf("lo index %d\n", ifr.ifr_ifindex);
    int lo = ifr.ifr_ifindex;
    T(ioctl(s, SIOCGIFFLAGS, &ifr));
    printf("lo up %d loopback %d running %d\n", !!(ifr.ifr_flags & IFF_UP),
           !!(ifr.ifr_flags & IFF_LOOPBACK), !!(ifr.ifr_flags & IFF_RUNNING));
    T(ioctl(s, SIOCGIFMTU, &ifr));
    printf("lo mtu positive %d\n", ifr.ifr_mtu > 0);
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_ifindex = lo;
    T(ioctl(s, SIOCGIFNAME, &ifr));
    printf("name of %d: %s\n", lo, ifr.ifr_name);
    ifr.ifr_ifindex = 0x7fff;
    T(ioctl(s, SIOCGIFNAME, &ifr));
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "ecsk-none0");
    T(ioctl(s, SIOCGIFINDEX, &ifr));
    T(ioctl(s, SIOCGIFINDEX, (void *)8));
    close(s);
}

static void recvmmsg_timeout(int type) {
    printf("-- recvmmsg timeout, type %d\n", type);
    int sv[2];
    socketpair(AF_UNIX, type, 0, sv);
    char buf[4][8];
    struct iovec iov[4];
    struct mmsghdr mm[4];
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < 4; i++) {
        iov[i].iov_base = buf[i]; iov[i].iov_len = sizeof buf[i];
        mm[i].msg_hdr.msg_iov = &iov[i]; mm[i].msg_hdr.msg_iovlen = 1;
    }
    struct timespec bad = {-1, -1}, bad2 = {0, 1000000000}, ok = {5, 0};
    T(recvmmsg(sv[0], mm, 1, 0, &bad));
    T(recvmmsg(sv[0], mm, 1, 0, &bad2));
    T(recvmmsg(-1, mm, 1, 0, &bad));        /* EINVAL before EBADF */
    T(recvmmsg(sv[0], mm, 1, 0, (struct timespec *)8));
    T(write(sv[1], "one", 3));
    T(write(sv[1], "two", 3));
    T(recvmmsg(sv[0], mm, 4, MSG_DONTWAIT, &ok));
    printf("left in (4s, 5s]: %d\n", ok.tv_sec == 4 || (ok.tv_sec == 5 && ok.tv_nsec == 0));
    T(recvmmsg(sv[0], mm, 4, MSG_DONTWAIT, &ok));
    close(sv[0]); close(sv[1]);
}

static void rw_timeouts(int family, int type, int writes) {
    printf("-- read/write under SO_RCVTIMEO/SO_SNDTIMEO, family %d type %d\n", family, type);
    int sv[2];
    if (family == AF_UNIX) {
        socketpair(AF_UNIX, type, 0, sv);
    } else {
        int l = socket(family, type, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t al = sizeof a;
        bind(l, (struct sockaddr *)&a, sizeof a);
        listen(l, 1);
        getsockname(l, (struct sockaddr *)&a, &al);
        sv[0] = socket(family, type, 0);
        connect(sv[0], (struct sockaddr *)&a, sizeof a);
        sv[1] = accept(l, NULL, NULL);
        close(l);
    }
    struct timeval tv = {0, 10};
    T(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    char buf[20];
    T(read(sv[0], buf, sizeof buf));
    struct iovec iov = {buf, sizeof buf};
    T(readv(sv[0], &iov, 1));
    T(recv(sv[0], buf, sizeof buf, 0));
    T(write(sv[1], "0123456789", 10));
    tv.tv_sec = 0; tv.tv_usec = 20000;
    T(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    T(recv(sv[0], buf, sizeof buf, MSG_WAITALL));   /* the timeout passes: what there is */
    struct timeval neg = {-1, 0}, got = {7, 7};
    socklen_t gl = sizeof got;
    T(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &neg, sizeof neg));   /* a zero timeout */
    T(getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &got, &gl));
    printf("negative timeout reads back as %ld.%06ld\n", (long)got.tv_sec, (long)got.tv_usec);
    T(read(sv[0], buf, sizeof buf));
    T(recv(sv[0], buf, sizeof buf, 0));
    neg.tv_usec = 1000000;
    T(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &neg, sizeof neg));   /* EDOM */
    if (!writes) {   /* TCP's buffers grow as the peer's window opens: counts vary natively */
        close(sv[0]); close(sv[1]);
        return;
    }
    tv.tv_usec = 20000;
    T(setsockopt(sv[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
    size_t big = 16 << 20;
    char *p = calloc(1, big);
    long n = write(sv[1], p, big);
    printf("write under SO_SNDTIMEO: %s\n", n > 0 && (size_t)n < big ? "partial" : n < 0 ? errname(errno) : "all");
    T(write(sv[1], p, big));
    struct iovec wv = {p, big};
    T(writev(sv[1], &wv, 1));
    free(p);
    close(sv[0]); close(sv[1]);
}

static void bool_options(int family, int type) {
    printf("-- boolean SOL_SOCKET options, family %d type %d\n", family, type);
    int opts[] = {SO_BROADCAST, SO_PASSCRED, SO_NO_CHECK, SO_REUSEADDR, SO_KEEPALIVE};
    const char *names[] = {"SO_BROADCAST", "SO_PASSCRED", "SO_NO_CHECK", "SO_REUSEADDR",
                           "SO_KEEPALIVE"};
    for (int i = 0; i < 5; i++) {
        int s = socket(family, type, 0), v = -1, one = 1;
        socklen_t l = sizeof v;
        printf("%s:", names[i]);
        long r = getsockopt(s, SOL_SOCKET, opts[i], &v, &l);
        if (r < 0) { printf(" get -1 %s", errname(errno)); }
        else printf(" get %d", v);
        r = setsockopt(s, SOL_SOCKET, opts[i], &one, sizeof one);
        if (r < 0) { printf(" set -1 %s", errname(errno)); }
        l = sizeof v; v = -1;
        if (getsockopt(s, SOL_SOCKET, opts[i], &v, &l) == 0) printf(" then %d", v);
        printf("\n");
        close(s);
    }
}

static void show_int(int s, int level, int opt, const char *name, socklen_t len) {
    int v = -7;
    socklen_t l = len;
    long r = getsockopt(s, level, opt, &v, &l);
    if (r < 0) printf("  get %s (len %u): -1 %s\n", name, len, errname(errno));
    else printf("  get %s (len %u): %d, len %u\n", name, len, len == 1 ? (v & 0xff) : v, l);
}

static void ip_options(int family) {
    printf("-- IP options, family %d\n", family);
    int s = socket(family, SOCK_DGRAM, 0);
    unsigned char c = 5;
    int v = -1;
    T(setsockopt(s, IPPROTO_IP, IP_MULTICAST_TTL, &c, 1));
    show_int(s, IPPROTO_IP, IP_MULTICAST_TTL, "IP_MULTICAST_TTL", 4);
    show_int(s, IPPROTO_IP, IP_MULTICAST_TTL, "IP_MULTICAST_TTL", 1);
    T(setsockopt(s, IPPROTO_IP, IP_MULTICAST_TTL, &v, sizeof v));
    show_int(s, IPPROTO_IP, IP_MULTICAST_TTL, "IP_MULTICAST_TTL", 4);
    T(setsockopt(s, IPPROTO_IP, IP_MULTICAST_TTL, &v, 0));
    v = 256;
    T(setsockopt(s, IPPROTO_IP, IP_MULTICAST_TTL, &v, sizeof v));
    c = 0;
    T(setsockopt(s, IPPROTO_IP, IP_MULTICAST_LOOP, &c, 1));
    show_int(s, IPPROTO_IP, IP_MULTICAST_LOOP, "IP_MULTICAST_LOOP", 4);
    c = 0x10;
    T(setsockopt(s, IPPROTO_IP, IP_TOS, &c, 1));
    show_int(s, IPPROTO_IP, IP_TOS, "IP_TOS", 4);
    T(setsockopt(s, IPPROTO_IP, IP_RECVTOS, &c, 0));
    show_int(s, IPPROTO_IP, IP_RECVTOS, "IP_RECVTOS", 4);
    show_int(s, IPPROTO_IP, IP_RECVORIGDSTADDR, "IP_RECVORIGDSTADDR", 4);
    v = 1;
    T(setsockopt(s, IPPROTO_IP, IP_RECVORIGDSTADDR, &v, sizeof v));
    show_int(s, IPPROTO_IP, IP_RECVORIGDSTADDR, "IP_RECVORIGDSTADDR", 4);
    if (family == AF_INET6) {
        show_int(s, IPPROTO_IPV6, IPV6_RECVTCLASS, "IPV6_RECVTCLASS", 4);
        show_int(s, IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, "IPV6_RECVORIGDSTADDR", 4);
        show_int(s, IPPROTO_IPV6, IPV6_RECVERR, "IPV6_RECVERR", 4);
        T(setsockopt(s, IPPROTO_IPV6, IPV6_RECVTCLASS, &v, sizeof v));
        T(setsockopt(s, IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, &v, sizeof v));
        T(setsockopt(s, IPPROTO_IPV6, IPV6_RECVERR, &v, sizeof v));
        show_int(s, IPPROTO_IPV6, IPV6_RECVTCLASS, "IPV6_RECVTCLASS", 4);
        show_int(s, IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, "IPV6_RECVORIGDSTADDR", 4);
        show_int(s, IPPROTO_IPV6, IPV6_RECVERR, "IPV6_RECVERR", 4);
    }
    struct ip_mreqn req;
    memset(&req, 0, sizeof req);
    T(setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &req, sizeof req));      /* not multicast */
    T(setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &req, 4));               /* short */
    int t = socket(family, SOCK_STREAM, 0);
    T(setsockopt(t, IPPROTO_IP, IP_ADD_MEMBERSHIP, &req, sizeof req));      /* EPROTO */
    close(t);
    close(s);
}

static void unix_sendto(void) {
    printf("-- sendto with an address on UNIX stream and seqpacket sockets; large seqpackets\n");
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, "/nonexistent-ecsk");
    int types[] = {SOCK_STREAM, SOCK_SEQPACKET};
    for (int i = 0; i < 2; i++) {
        int sv[2];
        socketpair(AF_UNIX, types[i], 0, sv);
        T(sendto(sv[0], "abc", 3, 0, (struct sockaddr *)&a, sizeof a));
        int u = socket(AF_UNIX, types[i], 0);
        T(sendto(u, "abc", 3, 0, (struct sockaddr *)&a, sizeof a));
        T(send(u, "abc", 3, MSG_NOSIGNAL));
        close(u); close(sv[0]); close(sv[1]);
    }
    int sv[2];
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    int rcvbuf = 0, sndbuf = 0;
    socklen_t l = sizeof rcvbuf;
    getsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &rcvbuf, &l);
    l = sizeof sndbuf;
    getsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, &l);
    size_t n = rcvbuf - 4096;
    char *p = calloc(1, sndbuf + 1);
    long w = write(sv[1], p, n);
    printf("write of rcvbuf - 4096: %s\n", w == (long)n ? "whole" : errname(errno));
    long r = recv(sv[0], p, 3 * rcvbuf, 0);
    printf("recv: %s\n", r == (long)n ? "whole" : errname(errno));
    T(send(sv[1], p, sndbuf - 31, MSG_DONTWAIT));
    free(p);
    close(sv[0]); close(sv[1]);
}

static void buffer_sizes(int family, int type) {
    /* the maximum is the host's net.core.[rw]mem_max: print only how values compare with it */
    printf("-- SO_RCVBUF/SO_SNDBUF extremes, family %d type %d\n", family, type);
    int s = socket(family, type, 0);
    int vals[] = {-1, 0, 1, 1 << 30, 5000};
    int rcv[5], snd[5];
    for (int i = 0; i < 5; i++) {
        int v = vals[i];
        socklen_t l = sizeof rcv[i];
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
        getsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcv[i], &l);
        setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
        l = sizeof snd[i];
        getsockopt(s, SOL_SOCKET, SO_SNDBUF, &snd[i], &l);
    }
    printf("-1 is the maximum: %d %d\n", rcv[0] == rcv[3], snd[0] == snd[3]);
    printf("maximum above 10000: %d %d\n", rcv[0] > 10000, snd[0] > 10000);
    printf("0 and 1: %d %d %d %d\n", rcv[1], rcv[2], snd[1], snd[2]);
    printf("5000: %d %d\n", rcv[4], snd[4]);
    close(s);
}

static void socket_files(void) {
    printf("-- a path socket's mode; sockfs\n");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    T(fchmod(s, 0765));
    mode_t old = umask(0123);
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "/tmp/ecsk-calls-%d", getpid());
    T(bind(s, (struct sockaddr *)&a, sizeof a));
    umask(old);
    struct stat st;
    T(stat(a.sun_path, &st));
    printf("mode %o\n", st.st_mode);
    unlink(a.sun_path);
    struct statfs fs;
    T(fstatfs(s, &fs));
    printf("f_type %#lx bsize %ld namelen %ld blocks %ld\n", (long)fs.f_type, (long)fs.f_bsize,
           (long)fs.f_namelen, (long)fs.f_blocks);
    close(s);
}

static int tcp_listener(struct sockaddr_in *a) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof *a;
    bind(l, (struct sockaddr *)a, sizeof *a);
    listen(l, 8);
    getsockname(l, (struct sockaddr *)a, &al);
    return l;
}

static void tcp_edges(void) {
    printf("-- shutdown of a listener; abortive close (SO_LINGER 0)\n");
    struct sockaddr_in a;
    int l = tcp_listener(&a);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&a, sizeof a));   /* queued, never accepted */
    T(shutdown(l, SHUT_WR));
    char b;
    struct pollfd p = {c, POLLIN, 0};
    T(poll(&p, 1, 100));
    T(shutdown(l, SHUT_RD));
    T(poll(&p, 1, 1000));
    printf("revents %#x\n", p.revents);
    T(recv(c, &b, 1, MSG_DONTWAIT));
    close(c);
    c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&a, sizeof a));   /* nobody listens now */
    close(c);
    int old_port = a.sin_port;
    T(listen(l, 8));              /* the ephemeral port went back: listen takes another */
    socklen_t al = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &al);
    printf("listening again on another port: %d\n", a.sin_port != old_port);
    /* a port bind named stays through the shutdown */
    int l2 = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in bb = a;
    bb.sin_port = old_port;
    T(bind(l2, (struct sockaddr *)&bb, sizeof bb));
    T(listen(l2, 1));
    T(shutdown(l2, SHUT_RDWR));
    T(listen(l2, 1));
    al = sizeof bb;
    getsockname(l2, (struct sockaddr *)&bb, &al);
    printf("same port: %d\n", bb.sin_port == old_port);
    close(l2);
    c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&a, sizeof a));
    int s = accept(l, NULL, NULL);
    struct linger lg = {1, 0};
    T(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    close(c);
    struct pollfd q = {s, POLLIN, 0};
    T(poll(&q, 1, 1000));
    printf("revents %#x\n", q.revents);
    int err = 0;
    socklen_t el = sizeof err;
    T(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el));
    printf("so_error %s\n", errname(err));
    close(s);
    int u = socket(AF_INET, SOCK_STREAM, 0);
    T(shutdown(u, SHUT_RDWR));
    close(u); close(l);
}

static void level_errors(void) {
    printf("-- options of another protocol's level\n");
    int s4 = socket(AF_INET, SOCK_DGRAM, 0), t4 = socket(AF_INET, SOCK_STREAM, 0);
    int s6 = socket(AF_INET6, SOCK_DGRAM, 0), one = 1, v;
    socklen_t l = sizeof v;
    T(setsockopt(s4, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    T(getsockopt(s4, IPPROTO_IPV6, IPV6_V6ONLY, &v, &l));
    T(setsockopt(t4, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    T(setsockopt(s4, IPPROTO_TCP, 1, &one, sizeof one));
    T(getsockopt(s4, IPPROTO_TCP, 1, &v, &l));
    T(setsockopt(s6, IPPROTO_TCP, 1, &one, sizeof one));
    T(getsockopt(s6, IPPROTO_TCP, 1, &v, &l));
    close(s4); close(t4); close(s6);
}

static void v6_udp_v4_dest(void) {
    printf("-- an IPv6 UDP socket given a sockaddr_in\n");
    int r = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    bind(r, (struct sockaddr *)&a, sizeof a);
    getsockname(r, (struct sockaddr *)&a, &al);
    int s = socket(AF_INET6, SOCK_DGRAM, 0);
    T(sendto(s, "v4", 2, 0, (struct sockaddr *)&a, sizeof a));
    char buf[8];
    struct pollfd p = {r, POLLIN, 0};
    poll(&p, 1, 1000);
    T(recv(r, buf, sizeof buf, MSG_DONTWAIT));
    T(connect(s, (struct sockaddr *)&a, sizeof a));
    struct sockaddr_in6 peer;
    socklen_t pl = sizeof peer;
    T(getpeername(s, (struct sockaddr *)&peer, &pl));
    char txt[64];
    inet_ntop(AF_INET6, &peer.sin6_addr, txt, sizeof txt);
    printf("peer %s family %d len %u\n", txt, peer.sin6_family, pl);
    T(bind(s, (struct sockaddr *)&a, sizeof a));          /* EINVAL: too short for IPv6 */
    T(connect(s, (struct sockaddr *)&a, 8));               /* EINVAL */
    /* what glibc's getaddrinfo does to sort addresses: connect, read the source, dissolve */
    int g = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 six = {0};
    six.sin6_family = AF_INET6;
    six.sin6_port = htons(9);
    six.sin6_addr = in6addr_loopback;
    struct sockaddr_in6 me;
    socklen_t ml;
    struct sockaddr unspec = {0};
    unspec.sa_family = AF_UNSPEC;
    for (int i = 0; i < 2; i++) {
        if (i == 0) T(connect(g, (struct sockaddr *)&six, sizeof six));
        else T(connect(g, (struct sockaddr *)&a, sizeof a));
        ml = sizeof me;
        T(getsockname(g, (struct sockaddr *)&me, &ml));
        inet_ntop(AF_INET6, &me.sin6_addr, txt, sizeof txt);
        printf("source %s\n", txt);
        T(connect(g, &unspec, sizeof unspec));
        ml = sizeof me;
        T(getsockname(g, (struct sockaddr *)&me, &ml));
        inet_ntop(AF_INET6, &me.sin6_addr, txt, sizeof txt);
        printf("after AF_UNSPEC %s port %d\n", txt, ntohs(me.sin6_port));
    }
    close(g);
    int o = socket(AF_INET6, SOCK_DGRAM, 0), one = 1;
    setsockopt(o, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    T(connect(o, (struct sockaddr *)&a, sizeof a));
    T(sendto(o, "v4", 2, 0, (struct sockaddr *)&a, sizeof a));
    int t = socket(AF_INET6, SOCK_STREAM, 0);
    T(connect(t, (struct sockaddr *)&a, sizeof a));        /* TCP: EINVAL */
    close(r); close(s); close(o); close(t);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    netdevice(AF_UNIX, SOCK_STREAM);
    netdevice(AF_UNIX, SOCK_DGRAM);
    netdevice(AF_INET, SOCK_DGRAM);
    netdevice(AF_INET6, SOCK_STREAM);
    recvmmsg_timeout(SOCK_DGRAM);
    recvmmsg_timeout(SOCK_SEQPACKET);
    tcp_edges();
    level_errors();
    v6_udp_v4_dest();
    socket_files();
    unix_sendto();
    buffer_sizes(AF_INET, SOCK_DGRAM);
    buffer_sizes(AF_UNIX, SOCK_STREAM);
    ip_options(AF_INET);
    ip_options(AF_INET6);
    bool_options(AF_UNIX, SOCK_STREAM);
    bool_options(AF_INET, SOCK_STREAM);
    bool_options(AF_INET6, SOCK_DGRAM);
    rw_timeouts(AF_UNIX, SOCK_STREAM, 1);
    rw_timeouts(AF_UNIX, SOCK_SEQPACKET, 0);
    rw_timeouts(AF_INET, SOCK_STREAM, 0);
    return 0;
}
