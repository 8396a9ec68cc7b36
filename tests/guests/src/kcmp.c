/* kcmp: every type between a process, its thread, a forked child and an unprivileged child;
   files shared by dup and fork; KCMP_EPOLL_TFD; ESRCH, EPERM, EBADF, EINVAL, ENOENT, EFAULT.
   An order (1 or 2) is printed only as "differ" with its antisymmetry checked. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long K(pid_t a, pid_t b, int type, unsigned long i1, unsigned long i2) {
    return syscall(SYS_kcmp, a, b, type, i1, i2);
}

static void C(const char *what, pid_t a, pid_t b, int type, unsigned long i1, unsigned long i2) {
    errno = 0;
    long r = K(a, b, type, i1, i2);
    if (r < 0) { printf("%s -1 errno %d\n", what, errno); return; }
    if (r == 0) { printf("%s same\n", what); return; }
    long back = type == 7 ? r ^ 3 : K(b, a, type, i2, i1);  /* EPOLL_TFD's arguments are not symmetric */
    printf("%s differ antisymmetric %d\n", what, r + back == 3);
}

static const char *names[] = {"FILE", "VM", "FILES", "FS", "SIGHAND", "IO", "SYSVSEM"};
static pid_t me;
static volatile pid_t thread_tid;
static int go[2];

static void *thread_fn(void *arg) {
    (void)arg;
    thread_tid = syscall(SYS_gettid);
    char c;
    read(go[0], &c, 1);
    return NULL;
}

static pid_t waiting_child(int uid) {
    int p[2];
    pipe(p);
    pid_t c = fork();
    if (c == 0) {
        if (uid && (setresgid(uid, uid, uid) || setresuid(uid, uid, uid))) _exit(1);
        close(p[1]);
        char ch;
        read(p[0], &ch, 1);
        _exit(0);
    }
    close(p[0]);
    return c;
}

int main(void) {
    me = getpid();
    int a = open("/proc/self/status", O_RDONLY);
    int b = open("/proc/self/status", O_RDONLY);
    int a2 = dup(a);
    for (int ty = 1; ty <= 6; ty++) {
        char w[64];
        snprintf(w, sizeof w, "self %s", names[ty]);
        C(w, me, me, ty, 0, 0);
    }
    C("FILE dup", me, me, 0, a, a2);
    C("FILE two opens", me, me, 0, a, b);
    C("FILE bad fd", me, me, 0, a, 999);
    C("FILE huge fd", me, me, 0, (unsigned long)1 << 40, a);
    C("bad type", me, me, 8, 0, 0);
    C("negative type", me, me, -1, 0, 0);
    C("no such pid", me, 999999, 1, 0, 0);
    C("pid 0", 0, me, 1, 0, 0);

    /* a thread shares everything */
    pipe(go);
    pthread_t th;
    pthread_create(&th, NULL, thread_fn, NULL);
    while (!thread_tid) usleep(1000);
    for (int ty = 1; ty <= 6; ty++) {
        char w[64];
        snprintf(w, sizeof w, "thread %s", names[ty]);
        C(w, me, thread_tid, ty, 0, 0);
    }
    C("thread FILE", me, thread_tid, 0, a, a);

    /* a forked child shares the open files, nothing else */
    fflush(stdout);
    pid_t c1 = waiting_child(0);
    for (int ty = 1; ty <= 6; ty++) {
        char w[64];
        snprintf(w, sizeof w, "child %s", names[ty]);
        C(w, me, c1, ty, 0, 0);
    }
    C("child FILE inherited", me, c1, 0, a, a);
    C("child FILE other", me, c1, 0, a, b);

    /* an undo list and an io_context are made on first use */
    int sem = semget(IPC_PRIVATE, 1, 0600);
    struct sembuf op = {0, 1, SEM_UNDO};
    printf("semop %d\n", semop(sem, &op, 1));
    C("after SEM_UNDO thread SYSVSEM", me, thread_tid, 6, 0, 0);
    C("after SEM_UNDO child SYSVSEM", me, c1, 6, 0, 0);
    printf("ioprio_set %ld\n", syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 4));
    C("after ioprio_set self IO", me, me, 5, 0, 0);
    C("after ioprio_set thread IO", me, thread_tid, 5, 0, 0);
    C("after ioprio_set child IO", me, c1, 5, 0, 0);
    fflush(stdout);
    pid_t c2 = waiting_child(0);
    C("later child IO", me, c2, 5, 0, 0);
    C("later child SYSVSEM", me, c2, 6, 0, 0);
    C("children SYSVSEM", c1, c2, 6, 0, 0);

    /* KCMP_EPOLL_TFD */
    int ep = epoll_create1(0);
    struct epoll_event ev = {EPOLLIN, {0}};
    int pp[2];
    pipe(pp);
    a = pp[0];  /* an epoll target: a pipe (a /proc file takes no epoll) */
    a2 = dup(a);
    b = pp[1];
    printf("epoll_ctl %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev));
    struct { uint32_t efd, tfd, toff; } slot = {ep, a, 0};
    C("EPOLL_TFD same", me, me, 7, a, (unsigned long)&slot);
    C("EPOLL_TFD dup", me, me, 7, a2, (unsigned long)&slot);
    C("EPOLL_TFD other", me, me, 7, b, (unsigned long)&slot);
    
    slot.toff = 1;
    C("EPOLL_TFD toff 1", me, me, 7, a, (unsigned long)&slot);
    slot.toff = 0; slot.tfd = b;
    C("EPOLL_TFD not registered", me, me, 7, a, (unsigned long)&slot);
    slot.tfd = a; slot.efd = b;
    C("EPOLL_TFD not epoll", me, me, 7, a, (unsigned long)&slot);
    slot.efd = 999;
    C("EPOLL_TFD bad efd", me, me, 7, a, (unsigned long)&slot);
    slot.efd = ep;
    C("EPOLL_TFD bad idx1", me, me, 7, 999, (unsigned long)&slot);
    C("EPOLL_TFD bad slot", me, me, 7, a, 8);

    /* permission: an unprivileged child may not look at root's processes */
    fflush(stdout);
    pid_t c3 = fork();
    if (c3 == 0) {
        if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) _exit(1);
        C("unprivileged self", getpid(), getpid(), 1, 0, 0);
        C("unprivileged vs root", getpid(), me, 1, 0, 0);
        C("unprivileged vs root bad type", getpid(), me, 99, 0, 0);
        C("unprivileged no such pid", getpid(), 999999, 1, 0, 0);
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(c3, &st, 0);
    pid_t c4 = waiting_child(65534);
    usleep(100000);
    C("root vs unprivileged child VM", me, c4, 1, 0, 0);

    kill(c1, SIGKILL); kill(c2, SIGKILL); kill(c4, SIGKILL);
    waitpid(c1, &st, 0); waitpid(c2, &st, 0); waitpid(c4, &st, 0);
    write(go[1], "x", 1);
    pthread_join(th, NULL);
    semctl(sem, 0, IPC_RMID);
    return 0;
}
