/* epoll keys an interest by (file, fd), not by the fd alone (struct epitem's ffd): closing an fd
 * whose file stays open through a dup leaves its interest in place, still reporting; the fd number
 * reused for another file may be added beside it; EPOLL_CTL_MOD/DEL through the fd reach only the
 * file the fd now holds; the old interest goes when its file's last fd closes. Prints what it
 * sees; must match Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, int r) {
    if (r < 0) printf("%s: -1 %s\n", what, strerror(errno));
    else printf("%s: %d\n", what, r);
}

static void ready(const char *what, int ep) {
    struct epoll_event ev[8];
    int n = epoll_wait(ep, ev, 8, 0);
    unsigned long seen = 0;
    for (int i = 0; i < n; i++) seen |= 1ul << ev[i].data.u64;  /* order is the kernel's own */
    printf("%s: %d ready, data mask %#lx\n", what, n, seen);
}

static int add(int ep, int op, int fd, unsigned long data) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = data};
    return epoll_ctl(ep, op, fd, &ev);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int ep = epoll_create1(0);
    int p1[2], p2[2];
    pipe(p1);
    int keep = dup(p1[0]);
    int a = p1[0];
    show("add the first pipe", add(ep, EPOLL_CTL_ADD, a, 1));
    write(p1[1], "x", 1);
    ready("first pipe readable", ep);
    close(a);  /* the file stays open through `keep`: its interest stays */
    ready("after closing its fd", ep);
    pipe(p2);
    printf("the fd number was reused: %d\n", p2[0] == a);
    show("MOD through the reused fd (another file)", add(ep, EPOLL_CTL_MOD, a, 2));
    show("DEL through the reused fd (another file)", epoll_ctl(ep, EPOLL_CTL_DEL, a, NULL));
    show("add the second pipe at the same fd", add(ep, EPOLL_CTL_ADD, a, 2));
    show("add it again", add(ep, EPOLL_CTL_ADD, a, 2));
    write(p2[1], "y", 1);
    ready("both report", ep);
    /* (a checkpoint taken here must keep both interests: tests/guests/test_checkpoint.py) */
    struct timespec nap = {0, 200 * 1000 * 1000};
    nanosleep(&nap, NULL);
    ready("both still report", ep);
    show("MOD the second pipe's interest", add(ep, EPOLL_CTL_MOD, a, 3));
    ready("the first keeps its data", ep);
    show("DEL the second pipe's interest", epoll_ctl(ep, EPOLL_CTL_DEL, a, NULL));
    ready("only the first reports", ep);
    /* the first pipe's file back at fd `a`: its old interest is reachable again */
    close(a);
    show("dup2 the first pipe back to the old fd", dup2(keep, a) == a ? 0 : -1);
    show("add it again", add(ep, EPOLL_CTL_ADD, a, 4));
    show("MOD the old interest", add(ep, EPOLL_CTL_MOD, a, 5));
    ready("the old interest with its new data", ep);
    close(a);
    close(keep);  /* the first pipe's last fd: its interest goes */
    ready("after the first pipe's last close", ep);
    return 0;
}
