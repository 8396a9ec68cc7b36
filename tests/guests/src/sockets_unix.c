/* UNIX domain sockets between processes: paths, abstract names, autobind, stream/dgram/seqpacket,
 * SCM_RIGHTS and SCM_CREDENTIALS, peer credentials, shutdown, SIGPIPE, readiness, buffer sizes.
 * Prints only what is the same on every run (no pids, no inode numbers, no temp names). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* errno names (musl has no strerrorname_np) */
#include "errname.h"

static void check(const char *what, long r) {
    if (r < 0) printf("%s: -1 %s\n", what, errname(errno));
    else printf("%s: %ld\n", what, r);
    fflush(stdout);
}
#define T(x) check(#x, (long)(x))
#define B(x) do { printf("%s: %s\n", #x, (x) ? "yes" : "no"); fflush(stdout); } while (0)

static char dir[64];

static socklen_t path_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, name);
    return sizeof *a;
}

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path + 1, name, strlen(name));
    return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
}

static void stream_paths(void) {
    printf("-- stream over a path\n");
    struct sockaddr_un a, b;
    socklen_t len = path_addr(&a, "srv");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    umask(022);
    T(bind(s, (struct sockaddr *)&a, len));
    struct stat st;
    T(stat(a.sun_path, &st));
    B(S_ISSOCK(st.st_mode));
    printf("mode %o\n", st.st_mode & 0777);
    int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
    T(bind(s2, (struct sockaddr *)&a, len));            /* EADDRINUSE */
    path_addr(&b, "other");
    T(bind(s, (struct sockaddr *)&b, len));             /* EINVAL: bound already */
    T(connect(s2, (struct sockaddr *)&b, len));         /* ENOENT */
    T(connect(s2, (struct sockaddr *)&a, len));         /* ECONNREFUSED: not listening */
    int f = open(b.sun_path, O_CREAT | O_WRONLY, 0666);
    close(f);
    T(connect(s2, (struct sockaddr *)&b, len));         /* ECONNREFUSED: not a socket */
    T(open(a.sun_path, O_RDWR));                        /* ENXIO */
    T(listen(s, 1));
    int one = 0; socklen_t ol = sizeof one;
    T(getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &one, &ol)); printf("acceptconn %d\n", one);
    close(s); close(s2);
}

static void stream_fork(void) {
    printf("-- stream between processes\n");
    struct sockaddr_un a, got;
    socklen_t len = path_addr(&a, "echo");
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    T(bind(s, (struct sockaddr *)&a, len));
    T(listen(s, 4));
    pid_t child = fork();
    if (child == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, len) < 0) _exit(2);
        socklen_t gl = sizeof got;
        getpeername(c, (struct sockaddr *)&got, &gl);
        if (gl != offsetof(struct sockaddr_un, sun_path) + strlen(a.sun_path) + 1 ||
            strcmp(got.sun_path, a.sun_path)) _exit(3);
        struct ucred cr; socklen_t cl = sizeof cr;
        getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
        if (cr.pid != getppid() || cr.uid != getuid()) _exit(4);
        write(c, "hello", 5);
        char buf[16];
        ssize_t n = read(c, buf, sizeof buf);
        if (n != 5 || memcmp(buf, "HELLO", 5)) _exit(5);
        shutdown(c, SHUT_WR);
        long total = 0;
        while ((n = read(c, buf, sizeof buf)) > 0) total += n;  /* "more", then the close */
        _exit(n == 0 && total == 4 ? 0 : 6);
    }
    struct sockaddr_un peer;
    socklen_t pl = sizeof peer;
    int c = accept(s, (struct sockaddr *)&peer, &pl);
    T(c >= 0);
    printf("accepted peer addrlen %u\n", pl);
    socklen_t gl = sizeof got;
    T(getsockname(c, (struct sockaddr *)&got, &gl));
    B(strcmp(got.sun_path, a.sun_path) == 0);
    struct ucred cr; socklen_t cl = sizeof cr;
    T(getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl));
    B(cr.pid == child && cr.uid == getuid() && cr.gid == getgid());
    char buf[16];
    ssize_t n = read(c, buf, sizeof buf);
    T(n);
    for (int i = 0; i < n; i++) buf[i] -= 32;
    T(write(c, buf, n));
    struct pollfd p = {c, POLLIN | POLLRDHUP, 0};
    T(poll(&p, 1, -1));
    printf("revents after SHUT_WR: %#x\n", p.revents);
    T(read(c, buf, sizeof buf));
    T(send(c, "more", 4, MSG_NOSIGNAL));    /* the reader still reads: allowed */
    close(c);
    int status;
    waitpid(child, &status, 0);
    printf("child exit %d\n", WEXITSTATUS(status));
    close(s);
    T(unlink(a.sun_path));
}

static void closed_peer(void) {
    printf("-- closed peer: EOF, EPIPE, SIGPIPE\n");
    int sv[2];
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    T(write(sv[0], "unread", 6));
    close(sv[1]);                            /* with unread data: ECONNRESET at the peer */
    char buf[8];
    T(read(sv[0], buf, sizeof buf));
    T(read(sv[0], buf, sizeof buf));
    struct pollfd p = {sv[0], POLLIN | POLLOUT | POLLRDHUP, 0};
    T(poll(&p, 1, 0));
    printf("revents %#x\n", p.revents);
    T(send(sv[0], "x", 1, MSG_NOSIGNAL));
    signal(SIGPIPE, SIG_IGN);
    T(write(sv[0], "x", 1));
    signal(SIGPIPE, SIG_DFL);
    pid_t child = fork();
    if (child == 0) {
        write(sv[0], "x", 1);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("writer killed by %s\n", WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "nothing");
    close(sv[0]);
}

static void abstract_names(void) {
    printf("-- abstract names and autobind\n");
    struct sockaddr_un a, got;
    socklen_t len = abstract_addr(&a, "ecs-kernel-test");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    T(bind(s, (struct sockaddr *)&a, len));
    socklen_t gl = sizeof got;
    T(getsockname(s, (struct sockaddr *)&got, &gl));
    printf("addrlen %u first byte %d\n", gl, got.sun_path[0]);
    int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
    T(bind(s2, (struct sockaddr *)&a, len));     /* EADDRINUSE */
    T(connect(s2, (struct sockaddr *)&a, len));  /* ECONNREFUSED */
    T(listen(s, 0));
    T(connect(s2, (struct sockaddr *)&a, len));
    int c = accept(s, NULL, NULL);
    T(c >= 0);
    close(c); close(s2); close(s);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    T(bind(s, (struct sockaddr *)&a, len));      /* free again */
    close(s);
    int u = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un fam = {.sun_family = AF_UNIX};
    T(bind(u, (struct sockaddr *)&fam, sizeof(sa_family_t)));
    gl = sizeof got;
    T(getsockname(u, (struct sockaddr *)&got, &gl));
    int hex = 1;
    for (int i = 1; i < 6; i++) hex &= !!strchr("0123456789abcdef", got.sun_path[i]);
    printf("autobind addrlen %u abstract %d hex %d\n", gl, got.sun_path[0] == 0, hex);
    close(u);
    u = socket(AF_UNIX, SOCK_STREAM, 0);
    gl = sizeof got;
    T(getsockname(u, (struct sockaddr *)&got, &gl));
    printf("unbound addrlen %u\n", gl);
    T(getpeername(u, (struct sockaddr *)&got, &gl));  /* ENOTCONN */
    T(listen(u, 1));                                  /* EINVAL: unbound */
    close(u);
}

static void datagrams(void) {
    printf("-- datagrams\n");
    struct sockaddr_un a, b, from;
    socklen_t la = path_addr(&a, "dg-a"), lb = path_addr(&b, "dg-b");
    int x = socket(AF_UNIX, SOCK_DGRAM, 0), y = socket(AF_UNIX, SOCK_DGRAM, 0);
    T(bind(x, (struct sockaddr *)&a, la));
    T(bind(y, (struct sockaddr *)&b, lb));
    T(send(x, "nowhere", 7, 0));                        /* ENOTCONN */
    T(sendto(x, "one", 3, 0, (struct sockaddr *)&b, lb));
    T(sendto(x, "two!", 4, 0, (struct sockaddr *)&b, lb));
    char buf[16];
    socklen_t fl = sizeof from;
    T(recvfrom(y, buf, sizeof buf, MSG_PEEK, (struct sockaddr *)&from, &fl));
    B(strcmp(from.sun_path, a.sun_path) == 0);
    T(recvfrom(y, buf, 2, 0, NULL, NULL));             /* truncated: the rest is gone */
    T(recv(y, buf, 1, MSG_TRUNC));                     /* the real length */
    T(recv(y, buf, sizeof buf, MSG_DONTWAIT));         /* EAGAIN */
    T(connect(x, (struct sockaddr *)&b, lb));
    T(send(x, "c", 1, 0));
    int z = socket(AF_UNIX, SOCK_DGRAM, 0);
    T(connect(y, (struct sockaddr *)&a, la));          /* y takes only x's datagrams now */
    T(sendto(z, "z", 1, 0, (struct sockaddr *)&b, lb)); /* EPERM */
    struct msghdr m = {0};
    struct iovec iov = {buf, 1};
    m.msg_iov = &iov; m.msg_iovlen = 1;
    m.msg_name = &from; m.msg_namelen = sizeof from;
    T(recvmsg(y, &m, 0));
    printf("namelen ok %d flags %#x\n", m.msg_namelen == la - (sizeof a.sun_path - strlen(a.sun_path) - 1), m.msg_flags);
    T(send(x, "long message", 12, 0));
    m.msg_namelen = sizeof from;
    T(recvmsg(y, &m, 0));
    printf("flags %#x (MSG_TRUNC=%#x)\n", m.msg_flags, MSG_TRUNC);
    int sent = 0;
    fcntl(z, F_SETFL, O_NONBLOCK);
    int w = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un c3; socklen_t l3 = path_addr(&c3, "dg-c");
    T(bind(w, (struct sockaddr *)&c3, l3));
    while (sendto(z, "q", 1, 0, (struct sockaddr *)&c3, l3) == 1 && sent < 1000) sent++;
    printf("queued before EAGAIN: %d (%s)\n", sent, errname(errno));
    close(w);
    T(sendto(z, "q", 1, 0, (struct sockaddr *)&c3, l3));  /* ECONNREFUSED: closed */
    close(x); close(y); close(z);
}

static void seqpacket(void) {
    printf("-- seqpacket\n");
    int sv[2];
    T(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    T(write(sv[0], "abc", 3));
    T(write(sv[0], "defgh", 5));
    T(write(sv[0], "", 0));
    char buf[16];
    T(read(sv[1], buf, sizeof buf));
    struct msghdr m = {0};
    struct iovec iov = {buf, 2};
    m.msg_iov = &iov; m.msg_iovlen = 1;
    T(recvmsg(sv[1], &m, 0));
    printf("flags %#x\n", m.msg_flags);
    T(read(sv[1], buf, sizeof buf));                   /* the empty record */
    close(sv[0]);
    T(read(sv[1], buf, sizeof buf));                   /* EOF */
    close(sv[1]);
    struct sockaddr_un a;
    socklen_t la = path_addr(&a, "seq");
    int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    T(bind(s, (struct sockaddr *)&a, la));
    T(listen(s, 2));
    int st = socket(AF_UNIX, SOCK_STREAM, 0);
    T(connect(st, (struct sockaddr *)&a, la));         /* EPROTOTYPE */
    int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    T(connect(c, (struct sockaddr *)&a, la));
    int d = accept(s, NULL, NULL);
    T(send(c, "record", 6, 0));
    T(recv(d, buf, sizeof buf, 0));
    close(c); close(d); close(s); close(st);
}

static void pass_fds(void) {
    printf("-- SCM_RIGHTS\n");
    int sv[2], p[2];
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    T(pipe(p));
    pid_t child = fork();
    if (child == 0) {
        close(sv[0]);
        char data;
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {&data, 1};
        struct msghdr m = {0};
        m.msg_iov = &iov; m.msg_iovlen = 1;
        m.msg_control = cbuf; m.msg_controllen = sizeof cbuf;
        if (recvmsg(sv[1], &m, MSG_CMSG_CLOEXEC) != 1) _exit(2);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) _exit(3);
        int fd;
        memcpy(&fd, CMSG_DATA(cm), sizeof fd);
        if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC)) _exit(4);
        char buf[16];
        ssize_t n = read(fd, buf, sizeof buf);  /* the pipe's read end, written by the parent */
        if (n != 6 || memcmp(buf, "via fd", 6)) _exit(5);
        _exit(0);
    }
    close(sv[1]);
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {"!", 1};
    struct msghdr m = {0};
    m.msg_iov = &iov; m.msg_iovlen = 1;
    m.msg_control = cbuf; m.msg_controllen = sizeof cbuf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_RIGHTS; cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &p[0], sizeof(int));
    T(sendmsg(sv[0], &m, 0));
    close(p[0]);                                 /* in flight: the child's copy keeps it open */
    T(write(p[1], "via fd", 6));
    int status;
    waitpid(child, &status, 0);
    printf("child exit %d\n", WEXITSTATUS(status));
    close(p[1]); close(sv[0]);
    /* three fds, room for two: MSG_CTRUNC, the other closed */
    T(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    int fds[3] = {0, 1, 2};
    char big[CMSG_SPACE(3 * sizeof(int))];
    memset(big, 0, sizeof big);
    m.msg_control = big; m.msg_controllen = sizeof big;
    cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_RIGHTS; cm->cmsg_len = CMSG_LEN(3 * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, sizeof fds);
    T(sendmsg(sv[0], &m, 0));
    char small[CMSG_SPACE(sizeof(int))];
    char data;
    struct iovec riov = {&data, 1};
    struct msghdr r = {0};
    r.msg_iov = &riov; r.msg_iovlen = 1;
    r.msg_control = small; r.msg_controllen = sizeof small;
    T(recvmsg(sv[1], &r, 0));
    printf("ctrunc %d controllen %zu\n", !!(r.msg_flags & MSG_CTRUNC), (size_t)r.msg_controllen);
    cm = CMSG_FIRSTHDR(&r);
    printf("cmsg_len %zu\n", (size_t)cm->cmsg_len);
    int got2[2];
    memcpy(got2, CMSG_DATA(cm), sizeof got2);
    close(got2[0]); close(got2[1]);
    int bad = 999;
    cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &bad, sizeof bad);
    m.msg_controllen = CMSG_SPACE(sizeof(int));
    T(sendmsg(sv[0], &m, 0));                    /* EBADF */
    close(sv[0]); close(sv[1]);
}

static void credentials(void) {
    printf("-- SCM_CREDENTIALS\n");
    int sv[2], on = 1;
    T(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    T(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    T(send(sv[0], "c", 1, 0));
    char data;
    union { char buf[CMSG_SPACE(sizeof(struct ucred))]; struct cmsghdr align; } u;
    struct iovec iov = {&data, 1};
    struct msghdr m = {0};
    m.msg_iov = &iov; m.msg_iovlen = 1;
    m.msg_control = u.buf; m.msg_controllen = sizeof u.buf;
    T(recvmsg(sv[1], &m, 0));
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    struct ucred cr;
    memcpy(&cr, CMSG_DATA(cm), sizeof cr);
    printf("type %d pid ok %d uid ok %d gid ok %d\n", cm->cmsg_type, cr.pid == getpid(),
           cr.uid == getuid(), cr.gid == getgid());
    /* explicit credentials: our own are fine */
    struct msghdr s = {0};
    union { char buf[CMSG_SPACE(sizeof(struct ucred))]; struct cmsghdr align; } v;
    memset(&v, 0, sizeof v);
    s.msg_iov = &iov; s.msg_iovlen = 1;
    s.msg_control = v.buf; s.msg_controllen = sizeof v.buf;
    cm = CMSG_FIRSTHDR(&s);
    cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_CREDENTIALS;
    cm->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    cr.pid = getpid(); cr.uid = getuid(); cr.gid = getgid();
    memcpy(CMSG_DATA(cm), &cr, sizeof cr);
    T(sendmsg(sv[0], &s, 0));
    m.msg_controllen = sizeof u.buf;
    T(recvmsg(sv[1], &m, 0));
    int opt = 0; socklen_t ol = sizeof opt;
    T(getsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &opt, &ol)); printf("passcred %d\n", opt);
    close(sv[0]); close(sv[1]);
}

static void readiness_and_buffers(void) {
    printf("-- readiness, buffers, backlog\n");
    int sv[2];
    T(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.fd = sv[1]};
    T(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev));
    struct epoll_event out[4];
    T(epoll_wait(ep, out, 4, 0));
    printf("events %#x\n", out[0].events);
    T(write(sv[0], "ab", 2));
    T(epoll_wait(ep, out, 4, 0));
    printf("events %#x\n", out[0].events);
    T(shutdown(sv[0], SHUT_WR));
    T(epoll_wait(ep, out, 4, 0));
    printf("events %#x\n", out[0].events);
    T(shutdown(sv[0], 7));                       /* EINVAL */
    close(ep); close(sv[0]); close(sv[1]);
    T(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    int v = 8192; socklen_t l = sizeof v;
    T(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
    T(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, &l)); printf("sndbuf %d\n", v);
    static char chunk[512];
    long total = 0;
    while (write(sv[0], chunk, sizeof chunk) > 0) total += sizeof chunk;
    printf("bounded: %d (%s)\n", total > 0 && total <= 16384, errname(errno));
    struct pollfd p = {sv[0], POLLOUT, 0};
    T(poll(&p, 1, 0));
    char sink[4096];
    while (read(sv[1], sink, sizeof sink) > 0) {}
    T(poll(&p, 1, 0));
    close(sv[0]); close(sv[1]);
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    l = sizeof v;
    T(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &l)); printf("type %d\n", v);
    T(getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &l)); printf("domain %d\n", v);
    struct iovec w[2] = {{"vec", 3}, {"tor", 3}};
    T(writev(sv[0], w, 2));
    char r1[2], r2[8];
    struct iovec rv[2] = {{r1, 2}, {r2, 8}};
    T(readv(sv[1], rv, 2));
    printf("%.2s|%.4s\n", r1, r2);
    T(recv(sv[1], r2, 1, MSG_DONTWAIT));        /* EAGAIN */
    close(sv[0]); close(sv[1]);
    /* backlog: listen(1) queues two connections, then a non-blocking connect says EAGAIN */
    struct sockaddr_un a;
    socklen_t la = path_addr(&a, "backlog");
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    T(bind(s, (struct sockaddr *)&a, la));
    T(accept(s, NULL, NULL));                    /* EINVAL: not listening */
    T(listen(s, 1));
    T(accept(s, NULL, NULL));                    /* EAGAIN */
    int n = 0;
    for (int i = 0; i < 5; i++) {
        int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(c, (struct sockaddr *)&a, la) == 0) n++;
        else { printf("connect %d: %s\n", i, errname(errno)); break; }
    }
    printf("connected %d\n", n);
    struct pollfd lp = {s, POLLIN, 0};
    T(poll(&lp, 1, 0));
    T(accept4(s, NULL, NULL, SOCK_CLOEXEC) >= 0);
    T(socket(AF_UNIX, SOCK_STREAM, 5));          /* EPROTONOSUPPORT */
    T(socket(AF_UNIX, 9, 0));                    /* ESOCKTNOSUPPORT */
    T(socket(AF_UNIX, SOCK_STREAM | 0x100000, 0)); /* EINVAL */
    T(socket(999, SOCK_STREAM, 0));              /* EAFNOSUPPORT */
    T(accept(0, NULL, NULL) < 0 && errno == ENOTSOCK);
}

static void big_writes(void) {
    printf("-- blocking writes move everything\n");
    static char buf[1 << 20];
    for (int i = 0; i < (int)sizeof buf; i++) buf[i] = (char)(i * 13);
    int sv[2], p[2];
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    T(pipe(p));
    pid_t child = fork();
    if (child == 0) {
        unsigned long sum = 0, total = 0;
        char r[3000];
        ssize_t n;
        close(sv[0]); close(p[1]);
        while ((n = read(sv[1], r, sizeof r)) > 0) {
            for (ssize_t i = 0; i < n; i++) sum += (unsigned char)r[i];
            total += n;
        }
        while ((n = read(p[0], r, sizeof r)) > 0) {
            for (ssize_t i = 0; i < n; i++) sum += (unsigned char)r[i];
            total += n;
        }
        printf("child read %lu sum %lu\n", total, sum);
        _exit(0);
    }
    close(sv[1]); close(p[0]);
    T(write(sv[0], buf, sizeof buf));
    T(send(sv[0], buf, sizeof buf / 2, 0));
    close(sv[0]);
    T(write(p[1], buf, sizeof buf));
    close(p[1]);
    int status;
    waitpid(child, &status, 0);
    printf("child exit %d\n", WEXITSTATUS(status));
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    strcpy(dir, "/tmp/ecsk-sockXXXXXX");
    if (!mkdtemp(dir)) return 1;
    stream_paths();
    stream_fork();
    closed_peer();
    abstract_names();
    datagrams();
    seqpacket();
    pass_fds();
    credentials();
    readiness_and_buffers();
    big_writes();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "%s", dir);
    /* clean up the directory (natively it is the host's /tmp) */
    const char *names[] = {"srv", "other", "echo", "dg-a", "dg-b", "dg-c", "seq", "backlog"};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    T(rmdir(cmd));
    return 0;
}
