/* Sockets with something in flight all the time, for checkpoint/restore: a TCP connection over
 * loopback with records queued both ways, a UNIX stream pair carrying a descriptor (SCM_RIGHTS)
 * that the child takes only at the end, a UDP datagram waiting in a queue, an abstract-named
 * listener with an unaccepted connection. Prints checksums at the end. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define REC 64
#define ROUNDS 60
#define AHEAD 4

static int full_read(int fd, void *buf, size_t n) {
    size_t off = 0;
    while (off < n) {
        ssize_t r = read(fd, (char *)buf + off, n - off);
        if (r <= 0) return -1;
        off += r;
    }
    return 0;
}

static int full_write(int fd, const void *buf, size_t n) {
    size_t off = 0;
    while (off < n) {
        ssize_t r = write(fd, (const char *)buf + off, n - off);
        if (r <= 0) return -1;
        off += r;
    }
    return 0;
}

static void record(unsigned char *r, int i) {
    for (int k = 0; k < REC; k++) r[k] = (unsigned char)(i * 31 + k);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(l, (struct sockaddr *)&a, sizeof a);
    listen(l, 1);
    socklen_t al = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &al);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua = {.sin_family = AF_INET};
    ua.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(u, (struct sockaddr *)&ua, sizeof ua);
    al = sizeof ua;
    getsockname(u, (struct sockaddr *)&ua, &al);
    int us = socket(AF_INET, SOCK_DGRAM, 0);
    sendto(us, "datagram in the queue", 21, 0, (struct sockaddr *)&ua, sizeof ua);
    struct sockaddr_un abs = {.sun_family = AF_UNIX};
    memcpy(abs.sun_path + 1, "ckpt-listener", 13);
    socklen_t absl = offsetof(struct sockaddr_un, sun_path) + 14;
    int al2 = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(al2, (struct sockaddr *)&abs, absl);
    listen(al2, 2);
    int waiting = socket(AF_UNIX, SOCK_STREAM, 0);
    connect(waiting, (struct sockaddr *)&abs, absl);
    write(waiting, "unaccepted", 10);
    pid_t child = fork();
    if (child == 0) {
        close(sv[0]);
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) _exit(2);
        unsigned char r[REC];
        for (int i = 0; i < ROUNDS; i++) {
            if (full_read(c, r, REC)) _exit(3);
            for (int k = 0; k < REC; k++) r[k] ^= 0x5a;
            if (full_write(c, r, REC)) _exit(4);
        }
        char data;
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {&data, 1};
        struct msghdr m = {0};
        m.msg_iov = &iov; m.msg_iovlen = 1;
        m.msg_control = cbuf; m.msg_controllen = sizeof cbuf;
        if (recvmsg(sv[1], &m, 0) != 1) _exit(5);
        int fd;
        memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
        char buf[32] = {0};
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (full_write(c, buf, n)) _exit(6);
        _exit(0);
    }
    close(sv[1]);
    int c = accept(l, NULL, NULL);
    int p[2];
    pipe(p);
    write(p[1], "through the pipe", 16);
    close(p[1]);
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {"!", 1};
    struct msghdr m = {0};
    m.msg_iov = &iov; m.msg_iovlen = 1;
    m.msg_control = cbuf; m.msg_controllen = sizeof cbuf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_RIGHTS; cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &p[0], sizeof(int));
    sendmsg(sv[0], &m, 0);
    close(p[0]);                                  /* only the message holds it now */
    unsigned char r[REC], want[REC];
    unsigned long sum = 0;
    for (int i = 0; i < AHEAD; i++) {
        record(r, i);
        full_write(c, r, REC);
    }
    for (int i = 0; i < ROUNDS; i++) {
        if (full_read(c, r, REC)) return 3;
        record(want, i);
        for (int k = 0; k < REC; k++) {
            if ((r[k] ^ 0x5a) != want[k]) { printf("round %d differs\n", i); return 4; }
            sum += r[k];
        }
        if (i + AHEAD < ROUNDS) {
            record(r, i + AHEAD);
            full_write(c, r, REC);
        }
    }
    char buf[64] = {0};
    ssize_t n = read(c, buf, sizeof buf - 1);
    printf("rounds %d sum %lu tail %zd \"%s\"\n", ROUNDS, sum, n, buf);
    int status;
    waitpid(child, &status, 0);
    printf("child exit %d\n", WEXITSTATUS(status));
    memset(buf, 0, sizeof buf);
    n = recv(u, buf, sizeof buf - 1, 0);
    printf("udp %zd \"%s\"\n", n, buf);
    int late = accept(al2, NULL, NULL);
    memset(buf, 0, sizeof buf);
    n = read(late, buf, sizeof buf - 1);
    printf("abstract %zd \"%s\"\n", n, buf);
    return 0;
}
