/* TCP behaviour and options over loopback, as gVisor's socket tests probe them: MSG_WAITALL that
 * waits for the whole buffer (TCP and UNIX streams), splice from a large pipe into a socket that
 * fills, TCP_INFO's state through a connection's life, TCP_CONGESTION, TCP_LINGER2,
 * TCP_WINDOW_CLAMP, TCP_DEFER_ACCEPT (held until data, or its timeout), a reset (SO_LINGER 0)
 * before accept, TCP_CORK (held until uncorked, or 200 ms), MSG_TRUNC|MSG_PEEK on TCP.
 * Prints only what is the same on every run and on any Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef TCP_CONGESTION
#define TCP_CONGESTION 13
#endif

#include "errname.h"

static void check(const char *what, long r) {
    if (r < 0) printf("%s: -1 %s\n", what, errname(errno));
    else printf("%s: %ld\n", what, r);
    fflush(stdout);
}
#define T(x) check(#x, (long)(x))

static long ms_since(const struct timespec *a) {
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

static int listener(struct sockaddr_in *a) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t al = sizeof *a;
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(l, (struct sockaddr *)a, sizeof *a);
    listen(l, 16);
    getsockname(l, (struct sockaddr *)a, &al);
    return l;
}

static void tcp_pair(int sv[2]) {
    struct sockaddr_in a;
    int l = listener(&a);
    sv[0] = socket(AF_INET, SOCK_STREAM, 0);
    connect(sv[0], (struct sockaddr *)&a, sizeof a);
    sv[1] = accept(l, NULL, NULL);
    close(l);
}

/* tcp_info by offset (the first 104 bytes every libc's struct has) */
struct info { int state, ca_state, options, rto_pos, cwnd_pos; unsigned len; };

static struct info tcp_info(int fd) {
    unsigned char b[104];
    socklen_t len = sizeof b;
    struct info i = {-1, -1, -1, -1, -1, 0};
    memset(b, 0xee, sizeof b);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, b, &len) < 0) return i;
    unsigned rto, cwnd;
    memcpy(&rto, b + 8, 4);
    memcpy(&cwnd, b + 80, 4);
    i.state = b[0];
    i.ca_state = b[1];
    i.options = b[5];
    i.rto_pos = rto > 0;
    i.cwnd_pos = cwnd > 0;
    i.len = len;
    return i;
}

static void show_info(const char *what, int fd) {
    struct info i = tcp_info(fd);
    printf("%s: state %d ca_state %d len %u rto>0 %d cwnd>0 %d\n", what, i.state, i.ca_state,
           i.len, i.rto_pos, i.cwnd_pos);
    fflush(stdout);
}

/* -- MSG_WAITALL ------------------------------------------------------------------------------- */
static int late_fd;
static void *late_writer(void *arg) {
    (void)arg;
    usleep(200 * 1000);
    char buf[100];
    memset(buf, 'b', sizeof buf);
    if (write(late_fd, buf, sizeof buf) != sizeof buf) printf("late write failed\n");
    return NULL;
}

static void waitall(const char *kind, int sv[2]) {
    char buf[100], got[200];
    memset(buf, 'a', sizeof buf);
    printf("-- MSG_WAITALL on %s\n", kind);
    T(write(sv[0], buf, sizeof buf));
    late_fd = sv[0];
    pthread_t th;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_create(&th, NULL, late_writer, NULL);
    T(recv(sv[1], got, sizeof got, MSG_WAITALL));
    printf("waited for the second write: %d\n", ms_since(&t0) >= 150);
    printf("bytes: %c..%c\n", got[0], got[199]);
    pthread_join(th, NULL);
    /* SO_RCVTIMEO bounds it: what is there comes back */
    struct timeval tv = {0, 100 * 1000};
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    T(write(sv[0], buf, 10));
    T(recv(sv[1], got, sizeof got, MSG_WAITALL));
    /* the peer's shutdown ends it with what there is */
    T(write(sv[0], buf, 7));
    T(shutdown(sv[0], SHUT_WR));
    T(recv(sv[1], got, sizeof got, MSG_WAITALL));
    close(sv[0]);
    close(sv[1]);
}

/* -- splice from a pipe into a socket that fills ---------------------------------------------- */
#define PIPE_BYTES (1 << 20)
static int splice_pipe, splice_sock;
static long spliced;
static void *splicer(void *arg) {
    (void)arg;
    while (spliced < PIPE_BYTES) {
        ssize_t n = splice(splice_pipe, NULL, splice_sock, NULL, PIPE_BYTES - spliced, 0);
        if (n <= 0) {
            printf("splice: %zd %s\n", n, errname(errno));
            break;
        }
        spliced += n;
    }
    return NULL;
}

static void large_splice(void) {
    printf("-- splice 1 MiB from a pipe into TCP\n");
    int sv[2], p[2];
    tcp_pair(sv);
    pipe(p);
    T(fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES) >= PIPE_BYTES);
    char *data = malloc(PIPE_BYTES), *back = malloc(PIPE_BYTES);
    for (long i = 0; i < PIPE_BYTES; i++) data[i] = (char)(i * 7 + (i >> 12));
    long w = 0;
    while (w < PIPE_BYTES) w += write(p[1], data + w, PIPE_BYTES - w);
    splice_pipe = p[0];
    splice_sock = sv[0];
    pthread_t th;
    pthread_create(&th, NULL, splicer, NULL);
    long r = 0;
    while (r < PIPE_BYTES) {
        ssize_t n = read(sv[1], back + r, PIPE_BYTES - r);
        if (n <= 0) break;
        r += n;
    }
    pthread_join(th, NULL);
    printf("spliced %ld read %ld same %d\n", spliced, r, memcmp(data, back, PIPE_BYTES) == 0);
    free(data);
    free(back);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

/* -- TCP_INFO ------------------------------------------------------------------------------------ */
static void info(void) {
    printf("-- TCP_INFO\n");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    show_info("fresh", s);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    show_info("bound", s);
    listen(s, 8);
    getsockname(s, (struct sockaddr *)&a, &al);
    show_info("listening", s);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, (struct sockaddr *)&a, sizeof a);
    show_info("connected", c);
    int acc = accept(s, NULL, NULL);
    show_info("accepted", acc);
    struct info i = tcp_info(c);
    printf("options timestamps|sack|wscale: %d\n", i.options & 7);
    unsigned char b[8];
    socklen_t len = 1;
    T(getsockopt(c, IPPROTO_TCP, TCP_INFO, b, &len));
    printf("short: len %u state %d\n", len, b[0]);
    len = 0;
    T(getsockopt(c, IPPROTO_TCP, TCP_INFO, b, &len));
    printf("zero: len %u\n", len);
    close(acc);
    struct pollfd pfd = {.fd = c, .events = POLLIN | POLLRDHUP};
    T(poll(&pfd, 1, 2000));
    printf("revents POLLIN|POLLRDHUP: %d\n", pfd.revents == (POLLIN | POLLRDHUP));
    show_info("peer closed", c);
    close(c);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    len = sizeof b;
    T(getsockopt(u, IPPROTO_TCP, TCP_INFO, b, &len));
    close(u);
    close(s);
}

/* -- TCP_CONGESTION, TCP_LINGER2, TCP_WINDOW_CLAMP ------------------------------------------------ */
static void options(void) {
    printf("-- TCP_CONGESTION\n");
    int sv[2];
    tcp_pair(sv);
    char cc[21];
    socklen_t len = sizeof cc;
    T(setsockopt(sv[0], IPPROTO_TCP, TCP_CONGESTION, "reno", 4));
    memset(cc, '1', sizeof cc);
    T(getsockopt(sv[0], IPPROTO_TCP, TCP_CONGESTION, cc, &len));
    printf("name %s len %u\n", cc, len);
    T(setsockopt(sv[0], IPPROTO_TCP, TCP_CONGESTION, "cubic", 5));
    len = 3;
    memset(cc, 0, sizeof cc);
    T(getsockopt(sv[0], IPPROTO_TCP, TCP_CONGESTION, cc, &len));
    printf("short: %s len %u\n", cc, len);
    T(setsockopt(sv[0], IPPROTO_TCP, TCP_CONGESTION, "invalid_ca_cc", 13));
    T(setsockopt(sv[0], IPPROTO_TCP, TCP_CONGESTION, "cubic", 0));
    len = sizeof cc;
    T(getsockopt(sv[0], IPPROTO_TCP, TCP_CONGESTION, cc, &len));
    printf("still %s\n", cc);

    printf("-- TCP_LINGER2\n");
    int v, sets[] = {-1234, 0, 121, 59, 120};
    len = sizeof v;
    T(getsockopt(sv[0], IPPROTO_TCP, TCP_LINGER2, &v, &len));
    printf("default %d\n", v);
    for (unsigned k = 0; k < sizeof sets / sizeof sets[0]; k++) {
        setsockopt(sv[0], IPPROTO_TCP, TCP_LINGER2, &sets[k], sizeof sets[k]);
        len = sizeof v;
        getsockopt(sv[0], IPPROTO_TCP, TCP_LINGER2, &v, &len);
        printf("set %d -> %d\n", sets[k], v);
    }

    printf("-- TCP_WINDOW_CLAMP\n");
    int zero = 0, small = 10, minbuf;
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &zero, sizeof zero);
    len = sizeof minbuf;
    getsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &minbuf, &len);
    T(setsockopt(sv[0], IPPROTO_TCP, TCP_WINDOW_CLAMP, &zero, sizeof zero));
    T(setsockopt(sv[0], IPPROTO_TCP, TCP_WINDOW_CLAMP, &small, sizeof small));
    len = sizeof v;
    getsockopt(sv[0], IPPROTO_TCP, TCP_WINDOW_CLAMP, &v, &len);
    printf("clamp is half the smallest SO_RCVBUF: %d\n", v == minbuf / 2);
    int fresh = socket(AF_INET, SOCK_STREAM, 0);
    T(setsockopt(fresh, IPPROTO_TCP, TCP_WINDOW_CLAMP, &zero, sizeof zero));
    close(fresh);
    close(sv[0]);
    close(sv[1]);
}

/* -- TCP_DEFER_ACCEPT ------------------------------------------------------------------------------ */
static void defer_accept(void) {
    printf("-- TCP_DEFER_ACCEPT\n");
    struct sockaddr_in a;
    int l = listener(&a), v, secs[] = {3, 5, 0, -4};
    socklen_t len;
    for (unsigned k = 0; k < sizeof secs / sizeof secs[0]; k++) {
        T(setsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs[k], sizeof secs[k]));
        len = sizeof v;
        getsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &v, &len);
        printf("set %d -> %d\n", secs[k], v);
    }
    v = 1;
    setsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &v, sizeof v);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&a, sizeof a));
    fcntl(l, F_SETFL, O_NONBLOCK);
    T(accept(l, NULL, NULL));
    int data = 42, got = 0;
    T(write(c, &data, sizeof data));
    int acc = accept(l, NULL, NULL);
    printf("accepted after data: %d\n", acc >= 0);
    T(recv(acc, &got, sizeof got, 0));
    printf("got %d\n", got);
    close(acc);
    close(c);
    /* no data: held until the timeout (1 s: one retransmission) */
    c = socket(AF_INET, SOCK_STREAM, 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    T(connect(c, (struct sockaddr *)&a, sizeof a));
    usleep(300 * 1000);
    T(accept(l, NULL, NULL));
    struct pollfd pfd = {.fd = l, .events = POLLIN};
    T(poll(&pfd, 1, 5000));
    printf("ready after the timeout: %d\n", ms_since(&t0) >= 900);
    acc = accept(l, NULL, NULL);
    printf("accepted without data: %d\n", acc >= 0);
    close(acc);
    close(c);
    close(l);
}

/* -- a reset before accept -------------------------------------------------------------------------- */
static void reset_before_accept(void) {
    printf("-- reset before accept\n");
    struct sockaddr_in a, peer;
    int l = listener(&a);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&a, sizeof a));
    struct linger lg = {1, 0};
    T(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    T(close(c));
    socklen_t al = sizeof peer;
    int acc = accept(l, (struct sockaddr *)&peer, &al);
    printf("accepted: %d addrlen %u family %d\n", acc >= 0, al, peer.sin_family);
    struct pollfd pfd = {.fd = acc, .events = POLLIN};
    T(poll(&pfd, 1, 2000));
    printf("revents POLLIN|POLLHUP|POLLERR: %d\n", pfd.revents == (POLLIN | POLLHUP | POLLERR));
    int err;
    socklen_t len = sizeof err;
    getsockopt(acc, SOL_SOCKET, SO_ERROR, &err, &len);
    printf("SO_ERROR %s\n", err ? errname(err) : "0");
    getsockopt(acc, SOL_SOCKET, SO_ERROR, &err, &len);
    printf("SO_ERROR again %d\n", err);
    al = sizeof peer;
    T(getpeername(acc, (struct sockaddr *)&peer, &al));
    show_info("reset", acc);
    char b[4];
    T(read(acc, b, sizeof b));
    close(acc);
    close(l);
}

/* -- TCP_CORK ------------------------------------------------------------------------------------------ */
static void cork(void) {
    printf("-- TCP_CORK\n");
    int sv[2], on = 1, off = 0;
    tcp_pair(sv);
    char buf[600] = {0}, got[1200];
    T(setsockopt(sv[0], IPPROTO_TCP, TCP_CORK, &on, sizeof on));
    T(write(sv[0], "abc", 4));
    T(recv(sv[1], got, sizeof got, MSG_DONTWAIT));
    T(setsockopt(sv[0], IPPROTO_TCP, TCP_CORK, &off, sizeof off));
    T(recv(sv[1], got, sizeof got, 0));
    printf("got %s\n", got);
    /* held until 200 ms pass: a blocking recv waits for them */
    T(setsockopt(sv[0], IPPROTO_TCP, TCP_CORK, &on, sizeof on));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    T(send(sv[0], buf, 512, 0));
    T(recv(sv[1], got, sizeof got, 0));
    printf("held about 200 ms: %d\n", ms_since(&t0) >= 150);
    /* a FIN pushes what is held */
    T(send(sv[0], buf, 100, 0));
    T(shutdown(sv[0], SHUT_WR));
    T(recv(sv[1], got, sizeof got, MSG_DONTWAIT));
    close(sv[0]);
    close(sv[1]);
}

/* -- MSG_TRUNC|MSG_PEEK on TCP ------------------------------------------------------------------------ */
static void trunc_peek(void) {
    printf("-- MSG_TRUNC|MSG_PEEK\n");
    int sv[2];
    tcp_pair(sv);
    char sent[512], half[256], all[512], zeros[256] = {0};
    for (int i = 0; i < 512; i++) sent[i] = (char)(i | 1);
    T(send(sv[0], sent, sizeof sent, 0));
    memset(half, 0, sizeof half);
    T(recv(sv[1], half, sizeof half, MSG_TRUNC | MSG_PEEK));
    printf("nothing copied: %d\n", memcmp(half, zeros, sizeof half) == 0);
    T(recv(sv[1], all, sizeof all, 0));
    printf("all still there: %d\n", memcmp(all, sent, sizeof all) == 0);
    T(send(sv[0], sent, 100, 0));
    T(recv(sv[1], half, 40, MSG_TRUNC));
    T(recv(sv[1], all, sizeof all, 0));
    printf("rest from 40: %d\n", memcmp(all, sent + 40, 60) == 0);
    close(sv[0]);
    close(sv[1]);
}

/* -- a blocking connect that waits for room in a full backlog ---------------------------------------- */
static struct sockaddr_in full_addr;
static long late_connect;
static void *connector(void *arg) {
    (void)arg;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    late_connect = connect(c, (struct sockaddr *)&full_addr, sizeof full_addr);
    if (late_connect < 0) late_connect = -errno;
    close(c);
    return NULL;
}

static void full_backlog(void) {
    printf("-- a connect waiting for a full backlog\n");
    int l = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t al = sizeof full_addr;
    full_addr.sin_family = AF_INET;
    full_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    full_addr.sin_port = 0;
    bind(l, (struct sockaddr *)&full_addr, sizeof full_addr);
    listen(l, 0);
    getsockname(l, (struct sockaddr *)&full_addr, &al);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&full_addr, sizeof full_addr));
    pthread_t th;
    pthread_create(&th, NULL, connector, NULL);
    usleep(100 * 1000);
    int a = accept(l, NULL, NULL);
    pthread_join(th, NULL);
    printf("the waiting connect: %ld\n", late_connect);
    int b = accept(l, NULL, NULL);
    printf("accepted both: %d\n", a >= 0 && b >= 0);
    close(a);
    close(b);
    close(c);
    close(l);
}

/* -- SO_REUSEPORT listeners share the connections ------------------------------------------------------ */
static void reuseport(void) {
    printf("-- SO_REUSEPORT listeners\n");
    int l[3], on = 1, counts[3] = {0, 0, 0};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    for (int i = 0; i < 3; i++) {
        l[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        setsockopt(l[i], SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
        if (bind(l[i], (struct sockaddr *)&a, sizeof a) < 0) printf("bind %d failed\n", i);
        listen(l[i], 512);
        if (i == 0) getsockname(l[0], (struct sockaddr *)&a, &al);
    }
    for (int k = 0; k < 300; k++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) printf("connect %d failed\n", k);
        close(c);
    }
    for (int i = 0; i < 3; i++) {
        int fd;
        while ((fd = accept(l[i], NULL, NULL)) >= 0) {
            counts[i]++;
            close(fd);
        }
        close(l[i]);
    }
    printf("total %d, each more than 50: %d\n", counts[0] + counts[1] + counts[2],
           counts[0] > 50 && counts[1] > 50 && counts[2] > 50);
}

/* -- UDP: SO_REUSEPORT sockets share the flows; shutdown of an unbound-peer socket wakes a reader -- */
static int udp_blocked;
static long udp_got = 99;
static void *udp_reader(void *arg) {
    (void)arg;
    char b[8];
    udp_got = recvfrom(udp_blocked, b, sizeof b, 0, NULL, NULL);
    return NULL;
}

static void udp(void) {
    printf("-- UDP SO_REUSEPORT and shutdown\n");
    int r[3], on = 1, counts[3] = {0, 0, 0};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    for (int i = 0; i < 3; i++) {
        r[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        setsockopt(r[i], SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
        if (bind(r[i], (struct sockaddr *)&a, sizeof a) < 0) printf("bind %d failed\n", i);
        if (i == 0) getsockname(r[0], (struct sockaddr *)&a, &al);
    }
    for (int k = 0; k < 300; k++) {  /* a new socket (a new source port) for each datagram */
        int c = socket(AF_INET, SOCK_DGRAM, 0);
        sendto(c, &k, sizeof k, 0, (struct sockaddr *)&a, sizeof a);
        close(c);
    }
    for (int i = 0; i < 3; i++) {
        int v;
        while (recv(r[i], &v, sizeof v, 0) == sizeof v) counts[i]++;
        close(r[i]);
    }
    printf("total %d, each more than 50: %d\n", counts[0] + counts[1] + counts[2],
           counts[0] > 50 && counts[1] > 50 && counts[2] > 50);
    udp_blocked = socket(AF_INET, SOCK_DGRAM, 0);
    a.sin_port = 0;
    bind(udp_blocked, (struct sockaddr *)&a, sizeof a);
    pthread_t th;
    pthread_create(&th, NULL, udp_reader, NULL);
    usleep(100 * 1000);
    T(shutdown(udp_blocked, SHUT_RDWR));
    pthread_join(th, NULL);
    printf("the blocked recvfrom: %ld\n", udp_got);
    T(send(udp_blocked, "x", 1, MSG_NOSIGNAL));
    close(udp_blocked);
}

int main(void) {
    int sv[2];
    tcp_pair(sv);
    waitall("TCP", sv);
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    waitall("a UNIX stream", sv);
    large_splice();
    info();
    options();
    defer_accept();
    reset_before_accept();
    cork();
    trunc_peek();
    full_backlog();
    reuseport();
    udp();
    return 0;
}
