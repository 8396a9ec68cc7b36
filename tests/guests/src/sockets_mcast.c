/* IPv4 multicast over lo, the machine's one interface (what gVisor's udp_unbound tests probe):
 * joining a group on lo by index or address, IP_MULTICAST_IF, a socket bound to the group,
 * delivery to every member bound to the port (and, with IP_MULTICAST_ALL, to non-members once lo
 * is a member), nothing without a member, IP_MULTICAST_LOOP making no difference on lo, the
 * membership errors; the IP control messages a UDP receiver asks for (IP_PKTINFO, IP_TTL, IP_TOS,
 * IP_ORIGDSTADDR), for unicast and multicast. Ports are never printed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GROUP "224.0.2.1"

#include "errname.h"
#include "ports.h"

static void check(const char *what, long r) {
    if (r < 0) printf("%s: -1 %s\n", what, errname(errno));
    else printf("%s: %ld\n", what, r);
    fflush(stdout);
}
#define T(x) check(#x, (long)(x))

static int udp_bound(const char *addr, int port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = inet_addr(addr);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) printf("bind %s: %s\n", addr, errname(errno));
    return s;
}

/* What arrived: the datagram's text, or "nothing" after a wait. */
static void got(const char *who, int s, int wait_ms) {
    struct pollfd p = {s, POLLIN, 0};
    char buf[64];
    if (poll(&p, 1, wait_ms) <= 0) { printf("%s: nothing\n", who); return; }
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    long n = recvfrom(s, buf, sizeof buf - 1, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    if (n < 0) { printf("%s: %s\n", who, errname(errno)); return; }
    buf[n] = 0;
    printf("%s: \"%s\" from %s\n", who, buf, inet_ntoa(from.sin_addr));
}

static long send_group(int s, int port, const char *text) {
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = inet_addr(GROUP);
    return sendto(s, text, strlen(text), 0, (struct sockaddr *)&a, sizeof a);
}

static long join(int s, int by_index, int drop) {
    struct ip_mreqn m = {0};
    m.imr_multiaddr.s_addr = inet_addr(GROUP);
    if (by_index) m.imr_ifindex = if_nametoindex("lo");
    else m.imr_address.s_addr = htonl(INADDR_LOOPBACK);
    return setsockopt(s, IPPROTO_IP, drop ? IP_DROP_MEMBERSHIP : IP_ADD_MEMBERSHIP, &m, sizeof m);
}

static void set_if(int s) {
    struct in_addr lo = {htonl(INADDR_LOOPBACK)};
    T(setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof lo));
    struct in_addr back = {0};
    socklen_t l = sizeof back;
    T(getsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &back, &l));
    printf("IP_MULTICAST_IF reads back %s (len %u)\n", inet_ntoa(back), l);
}

static void show_cmsgs(int s, long room, int port) {
    char data[64];
    union { char buf[256]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {data, sizeof data};
    struct msghdr m = {0};
    m.msg_iov = &iov; m.msg_iovlen = 1;
    m.msg_control = room < 0 ? NULL : u.buf;
    m.msg_controllen = room < 0 ? 0 : (size_t)room;
    struct pollfd p = {s, POLLIN, 0};
    poll(&p, 1, 1000);
    long n = recvmsg(s, &m, MSG_DONTWAIT);
    printf("  recvmsg (room %ld): %ld controllen %zu ctrunc %d\n", room, n,
           (size_t)m.msg_controllen, !!(m.msg_flags & MSG_CTRUNC));
    if (n < 0 || room < (long)sizeof(struct cmsghdr)) return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        printf("    level %d type %d len %zu:", c->cmsg_level, c->cmsg_type, (size_t)c->cmsg_len);
        if (c->cmsg_type == IP_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            printf(" ifindex is lo %d spec_dst %s", pi.ipi_ifindex == (int)if_nametoindex("lo"),
                   inet_ntoa(pi.ipi_spec_dst));
            printf(" addr %s", inet_ntoa(pi.ipi_addr));
        } else if (c->cmsg_type == IP_TTL) {
            int ttl;
            memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
            printf(" ttl %d", ttl);
        } else if (c->cmsg_type == IP_TOS) {
            printf(" tos %#x", *(unsigned char *)CMSG_DATA(c));
        } else if (c->cmsg_type == IP_ORIGDSTADDR &&
                   c->cmsg_len >= CMSG_LEN(sizeof(struct sockaddr_in))) {
            struct sockaddr_in a;
            memcpy(&a, CMSG_DATA(c), sizeof a);
            printf(" family %d %s port is ours %d", a.sin_family, inet_ntoa(a.sin_addr),
                   ntohs(a.sin_port) == port);
        }
        printf("\n");
        if (c->cmsg_len > (size_t)room) break;
    }
}

static void ip_cmsgs(void) {
    printf("-- IP control messages on a UDP receiver\n");
    int r = udp_bound("0.0.0.0", 0), port = port_of(r), one = 1;
    int opts[] = {IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVORIGDSTADDR};
    for (int i = 0; i < 4; i++) setsockopt(r, IPPROTO_IP, opts[i], &one, sizeof one);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int ttl = 33, tos = 0x10;
    T(setsockopt(s, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl));
    T(setsockopt(s, IPPROTO_IP, IP_TOS, &tos, sizeof tos));
    struct sockaddr_in to = {0};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = inet_addr("127.0.0.3");
    long rooms[] = {-1, 256, CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_LEN(2), 20};
    for (int i = 0; i < 4; i++) {
        sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof to);
        show_cmsgs(r, rooms[i], port);
    }
    printf("-- multicast: the group's TTL, lo's address as spec_dst\n");
    T(join(r, 1, 0));
    set_if(s);
    T(send_group(s, port, "m"));
    show_cmsgs(r, 256, port);
    close(r); close(s);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("-- no member: nothing arrives\n");
    int r1 = udp_bound("0.0.0.0", 0), port = port_of(r1);
    int s = udp_bound("127.0.0.1", 0);   /* bound to lo's address: multicast goes out of lo */
    T(send_group(s, port, "none"));
    got("r1", r1, 200);

    printf("-- a member by index, one by address, a non-member under IP_MULTICAST_ALL\n");
    int one = 1;
    close(r1);
    r1 = socket(AF_INET, SOCK_DGRAM, 0);
    int r2 = socket(AF_INET, SOCK_DGRAM, 0);
    int r3 = socket(AF_INET, SOCK_DGRAM, 0);
    int all0 = 0;
    T(setsockopt(r3, IPPROTO_IP, IP_MULTICAST_ALL, &all0, sizeof all0));
    int rs[] = {r1, r2, r3};
    struct sockaddr_in any = {0};
    any.sin_family = AF_INET;
    for (int i = 0; i < 3; i++) {
        setsockopt(rs[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        any.sin_port = htons(i ? port : 0);
        bind(rs[i], (struct sockaddr *)&any, sizeof any);
        if (!i) port = port_of(r1);
    }
    T(join(r1, 1, 0));
    T(join(r1, 1, 0));                   /* EADDRINUSE */
    T(join(r2, 0, 1));                   /* not a member: EADDRNOTAVAIL */
    int t = socket(AF_INET, SOCK_DGRAM, 0);
    set_if(t);
    T(send_group(t, port, "hello"));
    got("r1 (member)", r1, 1000);
    got("r2 (IP_MULTICAST_ALL)", r2, 200);
    got("r3 (IP_MULTICAST_ALL off)", r3, 200);
    T(join(r2, 0, 0));
    T(send_group(t, port, "again"));
    got("r1", r1, 1000);
    got("r2", r2, 1000);
    T(join(r1, 1, 1));
    T(join(r2, 0, 1));
    T(send_group(t, port, "left"));
    got("r1 (left)", r1, 200);

    printf("-- IP_MULTICAST_LOOP off: lo still brings it back, to the sender too\n");
    int self = udp_bound("0.0.0.0", 0);
    set_if(self);
    int off = 0;
    T(setsockopt(self, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof off));
    T(join(self, 0, 0));
    T(send_group(self, port_of(self), "self"));
    got("self", self, 1000);

    printf("-- bound to the group\n");
    int g = udp_bound(GROUP, 0);
    T(send_group(t, port_of(g), "to group"));
    got("g (not joined)", g, 200);
    T(join(g, 1, 0));
    T(send_group(t, port_of(g), "to group"));
    got("g (joined)", g, 1000);
    int u = udp_bound("127.0.0.1", port_of(g));
    printf("unicast to the same port reaches the group socket: ");
    struct sockaddr_in lo = {0};
    lo.sin_family = AF_INET;
    lo.sin_port = htons(port_of(g));
    lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sendto(t, "uni", 3, 0, (struct sockaddr *)&lo, sizeof lo);
    struct pollfd p = {g, POLLIN, 0};
    printf("%s\n", poll(&p, 1, 200) > 0 ? "yes" : "no");
    got("u", u, 1000);

    ip_cmsgs();
    printf("-- bad memberships\n");
    struct ip_mreqn m = {0};
    m.imr_multiaddr.s_addr = inet_addr("10.0.0.1");
    T(setsockopt(t, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m));   /* not multicast */
    m.imr_multiaddr.s_addr = inet_addr(GROUP);
    m.imr_ifindex = 0x7fff;
    T(setsockopt(t, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m));   /* no such interface */
    return 0;
}
