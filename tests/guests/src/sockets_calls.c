/* Socket calls at their edges, as gVisor's socket tests probe them: the netdevice ioctls any
 * socket answers about lo, recvmmsg's timeout. Prints only what is the same on every run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e) {
    switch (e) {
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case ENODEV: return "ENODEV";
    case ENOTSOCK: return "ENOTSOCK";
    default: return "E?";
    }
}

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

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    netdevice(AF_UNIX, SOCK_STREAM);
    netdevice(AF_UNIX, SOCK_DGRAM);
    netdevice(AF_INET, SOCK_DGRAM);
    netdevice(AF_INET6, SOCK_STREAM);
    recvmmsg_timeout(SOCK_DGRAM);
    recvmmsg_timeout(SOCK_SEQPACKET);
    return 0;
}
