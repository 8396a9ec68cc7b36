/* Control messages and credentials on UNIX sockets, the corners gVisor's socket tests probe:
 * how recvmsg fills a control buffer too small for a message (a cut body, MSG_CTRUNC, what
 * msg_controllen says), when a send carries credentials at all (only under SO_PASSCRED at either
 * end or an explicit SCM_CREDENTIALS; otherwise pid 0 and the overflow ids), an SCM_RIGHTS with no
 * descriptions, SCM_CREDENTIALS naming no process (ESRCH), a zero-length read that still takes
 * the descriptions, SO_PASSCRED inherited by accept, SO_PEERCRED of an unconnected socket.
 * Prints only what is the same on every run (no pids, no fd numbers beyond their validity). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "errname.h"

static void check(const char *what, long r) {
    if (r < 0) printf("%s: -1 %s\n", what, errname(errno));
    else printf("%s: %ld\n", what, r);
    fflush(stdout);
}
#define T(x) check(#x, (long)(x))

static const char *types[] = {"?", "stream", "dgram", "?", "?", "seqpacket"};
static const int socktypes[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};

/* Send "hello" with our own credentials spelled out. */
static void send_creds(int fd) {
    union { char buf[CMSG_SPACE(sizeof(struct ucred))]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {"hello", 5};
    struct msghdr m = {0};
    m.msg_iov = &iov; m.msg_iovlen = 1;
    m.msg_control = u.buf; m.msg_controllen = sizeof u.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_CREDENTIALS;
    cm->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred cr = {getpid(), getuid(), getgid()};
    memcpy(CMSG_DATA(cm), &cr, sizeof cr);
    T(sendmsg(fd, &m, 0));
}

/* Send "hello" and one descriptor. */
static void send_fd(int fd, int passed) {
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {"hello", 5};
    struct msghdr m = {0};
    m.msg_iov = &iov; m.msg_iovlen = 1;
    m.msg_control = u.buf; m.msg_controllen = sizeof u.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &passed, sizeof passed);
    T(sendmsg(fd, &m, 0));
}

/* recvmsg with a control buffer of `room` bytes (NULL when room < 0); prints what came. */
static void recv_show(int fd, long room, size_t want) {
    char data[64];
    union { char buf[256]; struct cmsghdr align; } u;
    memset(&u, 0xee, sizeof u);
    struct iovec iov = {data, want};
    struct msghdr m = {0};
    m.msg_iov = &iov; m.msg_iovlen = 1;
    m.msg_control = room < 0 ? NULL : u.buf;
    m.msg_controllen = room < 0 ? 0 : (size_t)room;
    long n = recvmsg(fd, &m, MSG_DONTWAIT);
    if (n < 0) { printf("  recvmsg(room %ld): -1 %s\n", room, errname(errno)); return; }
    printf("  recvmsg(room %ld): %ld controllen %zu ctrunc %d trunc %d\n", room, n,
           (size_t)m.msg_controllen, !!(m.msg_flags & MSG_CTRUNC), !!(m.msg_flags & MSG_TRUNC));
    if (room < (long)sizeof(struct cmsghdr))
        return;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
        printf("    cmsg level %d type %d len %zu", cm->cmsg_level, cm->cmsg_type,
               (size_t)cm->cmsg_len);
        size_t body = cm->cmsg_len - CMSG_LEN(0);
        if (cm->cmsg_type == SCM_CREDENTIALS && body >= sizeof(struct ucred)) {
            struct ucred cr;
            memcpy(&cr, CMSG_DATA(cm), sizeof cr);
            if (cr.pid == getpid())
                printf(" pid self uid %s", cr.uid == getuid() ? "self" : "other");
            else
                printf(" pid %d uid %u gid %u", cr.pid, cr.uid, cr.gid);
        } else if (cm->cmsg_type == SCM_CREDENTIALS && body >= sizeof(pid_t)) {
            pid_t pid;
            memcpy(&pid, CMSG_DATA(cm), sizeof pid);
            printf(" pid %s", pid == getpid() ? "self" : "other");
        } else if (cm->cmsg_type == SCM_RIGHTS) {
            for (size_t i = 0; i + sizeof(int) <= body; i += sizeof(int)) {
                int got;
                memcpy(&got, CMSG_DATA(cm) + i, sizeof got);
                printf(" fd %s", fcntl(got, F_GETFD) >= 0 ? "valid" : "bad");
                close(got);
            }
        }
        printf("\n");
        if (cm->cmsg_len < CMSG_LEN(0) || cm->cmsg_len > (size_t)room)
            break;
    }
}

static void pair(int type, int sv[2]) {
    if (socketpair(AF_UNIX, type, 0, sv) < 0) { perror("socketpair"); exit(1); }
}

static void set_passcred(int fd) {
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
}

/* A control buffer too small for the credentials: no header, a cut body, just the pid. */
static void cut_credentials(int type) {
    static const long rooms[] = {-1, 0, 8, CMSG_LEN(0), CMSG_LEN(0) + 2,
                                 CMSG_SPACE(0) + sizeof(pid_t), CMSG_SPACE(sizeof(struct ucred))};
    for (unsigned i = 0; i < sizeof rooms / sizeof *rooms; i++) {
        int sv[2];
        pair(type, sv);
        send_creds(sv[0]);
        set_passcred(sv[1]);
        recv_show(sv[1], rooms[i], 5);
        close(sv[0]); close(sv[1]);
    }
}

/* Credentials and a descriptor together, in buffers of every interesting size. */
static void creds_and_fds(int type) {
    static const long rooms[] = {CMSG_LEN(0), CMSG_SPACE(sizeof(struct ucred)),
                                 CMSG_SPACE(sizeof(struct ucred)) + CMSG_LEN(0),
                                 CMSG_SPACE(sizeof(struct ucred)) + CMSG_LEN(sizeof(int)),
                                 CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int))};
    for (unsigned i = 0; i < sizeof rooms / sizeof *rooms; i++) {
        int sv[2];
        pair(type, sv);
        set_passcred(sv[1]);
        send_fd(sv[0], 0);
        recv_show(sv[1], rooms[i], 5);
        close(sv[0]); close(sv[1]);
    }
    /* descriptors only: a buffer of one header takes none */
    int sv[2];
    pair(type, sv);
    send_fd(sv[0], 0);
    recv_show(sv[1], CMSG_LEN(0), 5);
    send_fd(sv[0], 0);
    recv_show(sv[1], CMSG_LEN(0) + 2, 5);
    close(sv[0]); close(sv[1]);
}

/* Who attaches credentials: a send before the receiver asked for them carries none. */
static void when_credentials(int type) {
    int sv[2];
    pair(type, sv);
    T(write(sv[0], "hello", 5));
    set_passcred(sv[1]);
    recv_show(sv[1], CMSG_SPACE(sizeof(struct ucred)), 5);   /* pid 0, overflow ids */
    T(write(sv[0], "hello", 5));
    recv_show(sv[1], CMSG_SPACE(sizeof(struct ucred)), 5);   /* ours */
    close(sv[0]); close(sv[1]);
    pair(type, sv);
    set_passcred(sv[0]);                                       /* the sender's option */
    T(write(sv[0], "hello", 5));
    set_passcred(sv[1]);
    recv_show(sv[1], CMSG_SPACE(sizeof(struct ucred)), 5);
    close(sv[0]); close(sv[1]);
    pair(type, sv);
    send_fd(sv[0], 1);                                         /* a descriptor, no credentials */
    set_passcred(sv[1]);
    recv_show(sv[1], CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int)), 5);
    close(sv[0]); close(sv[1]);
}

/* SCM_RIGHTS with no descriptors, a bad one, SCM_CREDENTIALS naming nobody. */
static void odd_sends(int type) {
    int sv[2];
    pair(type, sv);
    union { char buf[CMSG_SPACE(sizeof(struct ucred))]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {"hello", 5};
    struct msghdr m = {0};
    m.msg_iov = &iov; m.msg_iovlen = 1;
    m.msg_control = u.buf; m.msg_controllen = CMSG_SPACE(0);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_RIGHTS; cm->cmsg_len = CMSG_LEN(0);
    T(sendmsg(sv[0], &m, 0));                                  /* no descriptors: fine */
    recv_show(sv[1], 64, 5);
    m.msg_controllen = CMSG_SPACE(sizeof(int));
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    int bad = 999;
    memcpy(CMSG_DATA(cm), &bad, sizeof bad);
    T(sendmsg(sv[0], &m, 0));                                  /* EBADF */
    m.msg_controllen = CMSG_SPACE(sizeof(struct ucred));
    cm->cmsg_type = SCM_CREDENTIALS; cm->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred cr = {0x7ffffff0, getuid(), getgid()};
    memcpy(CMSG_DATA(cm), &cr, sizeof cr);
    T(sendmsg(sv[0], &m, 0));                                  /* ESRCH (as root; else EPERM) */
    cr.pid = 0;
    memcpy(CMSG_DATA(cm), &cr, sizeof cr);
    T(sendmsg(sv[0], &m, 0));
    close(sv[0]); close(sv[1]);
}

/* A zero-length recvmsg still takes the descriptors (stream sockets included). */
static void zero_length_read(int type) {
    int sv[2];
    pair(type, sv);
    send_fd(sv[0], 0);
    recv_show(sv[1], CMSG_SPACE(sizeof(int)), 0);
    recv_show(sv[1], CMSG_SPACE(sizeof(int)), 5);
    close(sv[0]); close(sv[1]);
}

static void accept_inherits(void) {
    printf("-- accept inherits SO_PASSCRED; SO_PEERCRED of an unconnected socket\n");
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "ecsk-cmsg-%d", getpid());
    socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct ucred pc;
    socklen_t pl = sizeof pc;
    T(getsockopt(l, SOL_SOCKET, SO_PEERCRED, &pc, &pl));
    printf("peercred pid %d uid %d gid %d len %u\n", pc.pid, (int)pc.uid, (int)pc.gid, pl);
    set_passcred(l);
    T(bind(l, (struct sockaddr *)&a, len));
    T(listen(l, 4));
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    T(connect(c, (struct sockaddr *)&a, len));
    T(write(c, "hello", 5));   /* sent before accept: the embryo takes credentials */
    int s = accept(l, NULL, NULL);
    int opt = 0;
    socklen_t ol = sizeof opt;
    T(getsockopt(s, SOL_SOCKET, SO_PASSCRED, &opt, &ol));
    printf("accepted passcred %d\n", opt);
    recv_show(s, CMSG_SPACE(sizeof(struct ucred)), 5);
    close(c); close(s); close(l);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    pl = sizeof pc;
    T(getsockopt(t, SOL_SOCKET, SO_PEERCRED, &pc, &pl));
    printf("tcp peercred pid %d uid %d gid %d\n", pc.pid, (int)pc.uid, (int)pc.gid);
    close(t);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (unsigned i = 0; i < 3; i++) {
        int type = socktypes[i];
        printf("-- %s: cut credentials\n", types[type]);
        cut_credentials(type);
        printf("-- %s: credentials and descriptors\n", types[type]);
        creds_and_fds(type);
        printf("-- %s: when credentials are attached\n", types[type]);
        when_credentials(type);
        printf("-- %s: odd sends\n", types[type]);
        odd_sends(type);
        printf("-- %s: zero-length reads\n", types[type]);
        zero_length_read(type);
    }
    accept_inherits();
    return 0;
}
