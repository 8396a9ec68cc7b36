/* ptrace_may_access behind pidfd_getfd, setns by pidfd and process_vm_readv: the same user may,
 * a process in another user namespace may not (commoncap), nor one without every permitted
 * capability of its target, nor anyone without CAP_SYS_PTRACE for a non-dumpable process.
 * And pidfds name pids: after an exec from a non-leader thread the leader's PIDFD_THREAD pidfd
 * follows the thread that exec'd, the thread's own reports its end (Linux 6.15). Run as root. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#include <fcntl.h>

#define CAP_SYS_PTRACE 19
struct cap_header { uint32_t version; int pid; };
struct cap_data { uint32_t effective, permitted, inheritable; };

static int drop_cap(int cap, int from_permitted) {
    struct cap_header h = {0x20080522, 0};
    struct cap_data d[2];
    if (syscall(SYS_capget, &h, d) < 0) return -errno;
    d[cap / 32].effective &= ~(1u << (cap % 32));
    if (from_permitted) d[cap / 32].permitted &= ~(1u << (cap % 32));
    return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static const char *err(long r) { return r >= 0 ? "ok" : strerror(errno); }

static int pidfd_open(pid_t pid, unsigned flags) { return syscall(SYS_pidfd_open, pid, flags); }

static pid_t pauser(void) {
    pid_t p = fork();
    if (p == 0) {
        pause();
        _exit(0);
    }
    return p;
}

/* run fn in a child; print what it printed (unbuffered) and its status */
static void in_child(const char *what, void (*fn)(int), int arg) {
    pid_t c = fork();
    if (c == 0) {
        fn(arg);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("%s: status %d\n", what, st);
}

static int g_pidfd;
static long g_vm_target;

static void getfd_after_newuser(int unused) {
    (void)unused;
    printf("  unshare(CLONE_NEWUSER): %s\n", err(unshare(CLONE_NEWUSER)));
    printf("  pidfd_getfd: %s\n", err(syscall(SYS_pidfd_getfd, g_pidfd, 0, 0)));
}

static void getfd_without_a_permitted_cap(int unused) {
    (void)unused;
    printf("  drop CAP_SYS_PTRACE from permitted: %d\n", drop_cap(CAP_SYS_PTRACE, 1));
    printf("  pidfd_getfd: %s\n", err(syscall(SYS_pidfd_getfd, g_pidfd, 0, 0)));
    char buf[8];
    struct iovec l = {buf, sizeof buf}, r = {(void *)&g_vm_target, sizeof buf};
    printf("  process_vm_readv: %s\n", err(process_vm_readv(getppid(), &l, 1, &r, 1, 0)));
}

static void setns_nondumpable(int unused) {
    (void)unused;
    printf("  setns(pidfd, CLONE_NEWNET): %s\n", err(setns(g_pidfd, CLONE_NEWNET)));
    printf("  setns(pidfd, CLONE_NEWUTS): %s\n", err(setns(g_pidfd, CLONE_NEWUTS)));
}

/* -- exec from a non-leader thread ------------------------------------------------------------ */
static int go_pipe[2], tid_pipe[2];

static void *exec_thread(void *arg) {
    char **argv0 = arg;
    pid_t tid = syscall(SYS_gettid);
    write(tid_pipe[1], &tid, sizeof tid);
    char c;
    read(go_pipe[0], &c, 1);
    char *args[] = {argv0[0], "revived", NULL};
    execv("/proc/self/exe", args);
    _exit(99);
}

static void exec_revival(char **argv) {
    pipe(go_pipe);
    pipe(tid_pipe);
    pid_t child = fork();
    if (child == 0) {
        pthread_t th;
        pthread_create(&th, NULL, exec_thread, argv);
        for (;;) pause();
    }
    pid_t tid;
    read(tid_pipe[0], &tid, sizeof tid);
    int leader = pidfd_open(child, PIDFD_THREAD);
    int sub = pidfd_open(tid, PIDFD_THREAD);
    printf("thread pidfds: %s %s\n", err(leader), err(sub));
    write(go_pipe[1], "a", 1);
    struct pollfd p = {sub, POLLIN, 0};
    int n = poll(&p, 1, 10000);
    printf("the exec'ing thread's pidfd: %d %s\n", n, p.revents & POLLIN ? "POLLIN" : "-");
    struct pollfd q = {leader, POLLIN, 0};
    printf("the leader's pidfd after the exec: %d\n", poll(&q, 1, 300));
    printf("signal 0 by the leader's pidfd: %s\n", err(syscall(SYS_pidfd_send_signal, leader, 0, NULL, 0)));
    kill(child, SIGKILL);
    n = poll(&q, 1, 10000);
    printf("after SIGKILL: %d %s\n", n, q.revents & POLLIN ? "POLLIN" : "-");
    int st;
    waitpid(child, &st, 0);
    printf("child status %#x\n", st);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "revived") == 0) {
        for (;;) pause();
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    g_vm_target = 0x1234;
    pid_t a = pauser();
    g_pidfd = pidfd_open(a, 0);
    int dup = syscall(SYS_pidfd_getfd, g_pidfd, 0, 0);
    printf("pidfd_getfd of a child's fd 0: %s\n", err(dup));
    if (dup >= 0) close(dup);
    in_child("in a new user namespace", getfd_after_newuser, 0);
    in_child("without a permitted capability of the target", getfd_without_a_permitted_cap, 0);
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    close(g_pidfd);

    /* a non-dumpable process: setns by its pidfd needs CAP_SYS_PTRACE over it */
    printf("drop CAP_SYS_PTRACE from effective: %d\n", drop_cap(CAP_SYS_PTRACE, 0));
    prctl(PR_SET_DUMPABLE, 0);
    g_pidfd = pidfd_open(getpid(), 0);
    in_child("setns by the pidfd of a non-dumpable process", setns_nondumpable, 0);
    prctl(PR_SET_DUMPABLE, 1);
    in_child("setns by the pidfd of a dumpable process", setns_nondumpable, 0);
    close(g_pidfd);

    exec_revival(argv);
    return 0;
}
