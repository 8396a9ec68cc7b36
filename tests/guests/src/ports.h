/* Ports for the socket guests: the port a socket is bound to, and a port free in both families.
 *
 * A program that binds a port in one family and then uses that port in the other (a v6-only
 * listener and a v4 socket beside it) takes the port from free_port(). An ephemeral port of
 * one family may be one a host socket of the other family holds: natively, the second bind or
 * connect then meets that host socket, and the output is no longer a function of the program.
 * Under ecs-kernel no host socket is in sight, so only the native run would flake. */
#ifndef ECS_GUEST_PORTS_H
#define ECS_GUEST_PORTS_H
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int port_of(int fd) {
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &l);
    return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                   : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* a port no socket of ``type`` holds in IPv4 or IPv6, from a dual-stack bind to port 0
 * (IPV6_V6ONLY off whatever net.ipv6.bindv6only says) */
static inline int free_port(int type) {
    int s = socket(AF_INET6, type, 0), off = 0;
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    struct sockaddr_in6 any = {.sin6_family = AF_INET6};
    bind(s, (struct sockaddr *)&any, sizeof any);
    int port = port_of(s);
    close(s);
    return port;
}
#endif
