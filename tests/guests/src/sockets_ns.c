/* Sockets and namespaces: SO_PEERCRED and SCM_CREDENTIALS name a process by its id in the
 * reader's PID namespace; a network namespace (unshare(CLONE_NEWNET), setns) has its own
 * abstract UNIX names, lo and ports, and a socket stays in the namespace it was made in. Run as
 * root (CLONE_NEWPID and CLONE_NEWNET need CAP_SYS_ADMIN). Pids are printed only as how they
 * compare. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

static void check(const char *what, long r) {
    if (r < 0) printf("%s: -1 %s\n", what, errname(errno));
    else printf("%s: %ld\n", what, r);
    fflush(stdout);
}
#define T(x) check(#x, (long)(x))

static struct sockaddr_un path_addr;

static int child_connects(void *arg) {
    (void)arg;
    int pipefd = *(int *)arg;
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&path_addr, sizeof path_addr) < 0) _exit(2);
    /* what the child sees of the listener's process: not in its namespace, so 0 */
    struct ucred cr;
    socklen_t l = sizeof cr;
    getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &l);
    pid_t me = getpid();
    write(pipefd, &me, sizeof me);
    write(pipefd, &cr.pid, sizeof cr.pid);
    /* a message with credentials: the parent sees our pid in its namespace */
    int on = 1;
    setsockopt(c, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    write(c, "m", 1);
    char b;
    read(c, &b, 1); /* wait for the parent to be done */
    _exit(0);
}

static void peercred_across_pid_namespaces(void) {
    printf("-- credentials across PID namespaces\n");
    snprintf(path_addr.sun_path, sizeof path_addr.sun_path, "/tmp/sockets_ns.%d", getpid());
    path_addr.sun_family = AF_UNIX;
    unlink(path_addr.sun_path);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    T(bind(l, (struct sockaddr *)&path_addr, sizeof path_addr));
    T(listen(l, 4));
    int p[2];
    pipe(p);
    size_t stack_size = 1 << 16;
    char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    pid_t child = clone(child_connects, stack + stack_size, CLONE_NEWPID | SIGCHLD, &p[1]);
    if (child < 0) {
        printf("clone: %s\n", errname(errno));
        return;
    }
    pid_t inside = 0, seen_by_child = -1;
    read(p[0], &inside, sizeof inside);
    read(p[0], &seen_by_child, sizeof seen_by_child);
    printf("child is 1 in its namespace: %s; sees the listener's pid as %d\n",
           inside == 1 ? "yes" : "no", seen_by_child);
    int a = accept(l, NULL, NULL);
    int on = 1;
    setsockopt(a, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    struct ucred cr;
    socklen_t cl = sizeof cr;
    getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
    printf("SO_PEERCRED pid is the child's here: %s, uid %d\n", cr.pid == child ? "yes" : "no",
           cr.uid);
    char buf[4], ctl[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                       .msg_controllen = sizeof ctl};
    recvmsg(a, &m, 0);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (c && c->cmsg_type == SCM_CREDENTIALS) {
        memcpy(&cr, CMSG_DATA(c), sizeof cr);
        printf("SCM_CREDENTIALS pid is the child's here: %s\n", cr.pid == child ? "yes" : "no");
    } else {
        printf("no SCM_CREDENTIALS\n");
    }
    write(a, "x", 1);
    int status;
    waitpid(child, &status, 0);
    /* the peer is gone: its pid is still what SO_PEERCRED says */
    cl = sizeof cr;
    getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
    printf("after its exit: %s; child status %d\n", cr.pid == child ? "same pid" : "changed",
           WEXITSTATUS(status));
    close(a);
    close(l);
    unlink(path_addr.sun_path);
}

static socklen_t abstract(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strcpy(a->sun_path + 1, name);
    return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
}

static void link_of(const char *path, char *out, size_t n) {
    ssize_t k = readlink(path, out, n - 1);
    out[k < 0 ? 0 : k] = 0;
}

static void network_namespaces(void) {
    printf("-- network namespaces\n");
    char first[64], now[64];
    link_of("/proc/self/ns/net", first, sizeof first);
    int home = open("/proc/self/ns/net", O_RDONLY);
    struct sockaddr_un an;
    socklen_t al = abstract(&an, "sockets_ns_test");
    int old = socket(AF_UNIX, SOCK_STREAM, 0);
    T(bind(old, (struct sockaddr *)&an, al));
    T(listen(old, 4));
    int tcp = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    /* a port of its own, away from the ephemeral range (each namespace has its own) */
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(29517),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    T(bind(tcp, (struct sockaddr *)&in, sizeof in));
    T(listen(tcp, 4));
    int made_before = socket(AF_UNIX, SOCK_STREAM, 0);

    T(unshare(CLONE_NEWNET));
    link_of("/proc/self/ns/net", now, sizeof now);
    printf("ns/net changed: %s\n", strcmp(first, now) ? "yes" : "no");
    /* a socket made before the unshare is still in the first namespace */
    T(connect(made_before, (struct sockaddr *)&an, al));
    /* new sockets are in the new one: the name is free there, the listener unknown */
    int fresh = socket(AF_UNIX, SOCK_STREAM, 0);
    T(connect(fresh, (struct sockaddr *)&an, al));
    int again = socket(AF_UNIX, SOCK_STREAM, 0);
    T(bind(again, (struct sockaddr *)&an, al));
    /* the new namespace's lo is down until brought up; its ports are its own */
    int tcp2 = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(tcp2, (struct sockaddr *)&in, sizeof in));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    T(ioctl(tcp2, SIOCGIFFLAGS, &ifr));
    printf("lo flags %#x\n", ifr.ifr_flags & (IFF_UP | IFF_LOOPBACK | IFF_RUNNING));
    ifr.ifr_flags |= IFF_UP;
    T(ioctl(tcp2, SIOCSIFFLAGS, &ifr));
    T(ioctl(tcp2, SIOCGIFFLAGS, &ifr));
    printf("lo flags %#x\n", ifr.ifr_flags & (IFF_UP | IFF_LOOPBACK | IFF_RUNNING));
    int tcp3 = socket(AF_INET, SOCK_STREAM, 0);
    T(bind(tcp3, (struct sockaddr *)&in, sizeof in));
    int tcp5 = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(tcp5, (struct sockaddr *)&in, sizeof in)); /* nobody listens here */
    T(listen(tcp3, 1));
    int tcp6 = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(tcp6, (struct sockaddr *)&in, sizeof in));
    /* autobind names a socket in its own namespace */
    int auto1 = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un unnamed = {.sun_family = AF_UNIX};
    T(bind(auto1, (struct sockaddr *)&unnamed, sizeof(sa_family_t)));
    /* back home with setns: new sockets see the first namespace's names again */
    T(setns(home, CLONE_NEWNET));
    link_of("/proc/self/ns/net", now, sizeof now);
    printf("back home: %s\n", strcmp(first, now) ? "no" : "yes");
    int back = socket(AF_UNIX, SOCK_STREAM, 0);
    T(connect(back, (struct sockaddr *)&an, al));
    int tcp4 = socket(AF_INET, SOCK_STREAM, 0);
    T(connect(tcp4, (struct sockaddr *)&in, sizeof in));
    T(setns(home, CLONE_NEWUTS)); /* EINVAL: the file is a network namespace */
    /* a child cloned into a new network namespace does not see the parent's names */
    pid_t c = fork();
    if (c == 0) {
        if (unshare(CLONE_NEWNET) < 0) _exit(3);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        _exit(connect(s, (struct sockaddr *)&an, al) < 0 && errno == ECONNREFUSED ? 0 : 1);
    }
    int status;
    waitpid(c, &status, 0);
    printf("child in its own namespace: status %d\n", WEXITSTATUS(status));
    int fds[] = {old, tcp, made_before, fresh, again, tcp2, tcp3, tcp5, tcp6, auto1, back, tcp4,
                 home};
    for (unsigned i = 0; i < sizeof fds / sizeof *fds; i++) close(fds[i]);
}

int main(void) {
    peercred_across_pid_namespaces();
    network_namespaces();
    return 0;
}
