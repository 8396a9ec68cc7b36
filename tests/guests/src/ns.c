/* Namespaces: unshare and clone of UTS, IPC, PID and mount namespaces, setns through
 * /proc/PID/ns and through a pidfd. Needs CAP_SYS_ADMIN (run as root, natively too).
 * Usage: ns uts|ipc|pid|mnt|setns|pidfd|errors */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "errname.h"

static void say(const char *what, long r) {
    if (r < 0) printf("%s = -1 %s\n", what, errname(errno));
    else printf("%s = %ld\n", what, r);
    fflush(stdout);
}

static int status_of(pid_t pid) {
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static unsigned long ns_ino(const char *pid, const char *name) {
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%s/ns/%s", pid, name);
    if (stat(path, &st) < 0) return 0;
    return st.st_ino;
}

static void uts(void) {
    struct utsname u;
    char before[65];
    uname(&u);
    strcpy(before, u.nodename);
    pid_t c = fork();
    if (c == 0) {
        unsigned long old = ns_ino("self", "uts");
        say("unshare uts", unshare(CLONE_NEWUTS));
        printf("child: ns changed %d\n", ns_ino("self", "uts") != old);
        say("sethostname", sethostname("inside-ns", 9));
        uname(&u);
        printf("child: nodename %s\n", u.nodename);
        _exit(0);
    }
    printf("child exit %d\n", status_of(c));
    uname(&u);
    printf("parent: nodename unchanged %d\n", strcmp(before, u.nodename) == 0);
}

static key_t ipc_key;
static int ipc_child(void *arg) {
    (void)arg;
    say("clone child: msgget", msgget(ipc_key, 0));
    return 5;
}

static void ipc(void) {
    key_t key = 0x5EC10000 | (getpid() & 0xFFFF);
    int id = msgget(key, IPC_CREAT | 0600);
    pid_t c = fork();
    if (c == 0) {
        say("child: msgget before unshare", msgget(key, 0) == id ? 0 : -1);
        say("unshare ipc", unshare(CLONE_NEWIPC));
        say("child: msgget after unshare", msgget(key, 0));
        int mine = msgget(key, IPC_CREAT | 0600);
        say("child: own queue", mine < 0 ? -1 : 0);
        _exit(0);
    }
    printf("child exit %d\n", status_of(c));
    say("parent's queue still here", msgget(key, 0) == id ? 0 : -1);
    /* clone with CLONE_NEWIPC: the same from birth */
    char *stack = malloc(65536);
    ipc_key = key;
    c = clone(ipc_child, stack + 65536, CLONE_NEWIPC | SIGCHLD, NULL);
    printf("clone child exit %d\n", status_of(c));
    free(stack);
    msgctl(id, IPC_RMID, NULL);
}

static int clone_child(void *arg) {
    (void)arg;
    printf("clone child: getpid %d getppid %d\n", getpid(), getppid());
    fflush(stdout);
    return 7;
}

static void pid(void) {
    pid_t c = fork();
    if (c == 0) {
        unsigned long own = ns_ino("self", "pid");
        say("unshare pid", unshare(CLONE_NEWPID));
        printf("getpid unchanged %d\n", getpid() > 1);
        printf("pid ns same %d, pid_for_children differs %d\n", ns_ino("self", "pid") == own,
               ns_ino("self", "pid_for_children") != own);
        pid_t g = fork();
        if (g == 0) {
            printf("grandchild: getpid %d getppid %d\n", getpid(), getppid());
            fflush(stdout);
            pid_t gg = fork();
            if (gg == 0) {
                printf("great-grandchild: getpid %d getppid %d\n", getpid(), getppid());
                fflush(stdout);
                _exit(0);
            }
            printf("great-grandchild exit %d\n", status_of(gg));
            _exit(3);
        }
        printf("grandchild exit %d\n", status_of(g));
        say("second unshare pid", unshare(CLONE_NEWPID));
        say("fork after init died", fork());
        _exit(0);
    }
    printf("child exit %d\n", status_of(c));
    /* clone(CLONE_NEWPID) */
    char *stack = malloc(65536);
    c = clone(clone_child, stack + 65536, CLONE_NEWPID | SIGCHLD, NULL);
    int cst = status_of(c);
    say("clone newpid", c > 0 ? 0 : -1);
    printf("clone child exit %d\n", cst);
    free(stack);
}

static void list_proc(const char *who) {
    DIR *d = opendir("/proc");
    int n = 0, one = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9') {
            n++;
            if (!strcmp(e->d_name, "1")) one = 1;
        }
    }
    if (d) closedir(d);
    char self[32] = {0};
    readlink("/proc/self", self, sizeof self - 1);
    printf("%s: processes %d, has 1: %d, self %s\n", who, n, one, self);
}

static void mnt(void) {
    pid_t c = fork();
    if (c == 0) {
        say("unshare pid+mnt", unshare(CLONE_NEWPID | CLONE_NEWNS));
        pid_t g = fork();
        if (g == 0) {
            say("make-rprivate", mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL));
            say("mount proc", mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
            list_proc("new proc");
            pid_t gg = fork();
            if (gg == 0) { list_proc("grandchild"); _exit(0); }
            status_of(gg);
            say("umount proc", umount2("/proc", 0));
            say("mount bad type", mount("x", "/proc", "nosuchfs", 0, NULL));
            say("mount propagation not a mount point", mount("none", "/usr", NULL, MS_PRIVATE, NULL));
            _exit(0);
        }
        printf("grandchild exit %d\n", status_of(g));
        _exit(0);
    }
    printf("child exit %d\n", status_of(c));
}

static void setns_test(void) {
    int ready[2], go[2];
    pipe(ready);
    pipe(go);
    pid_t c = fork();
    if (c == 0) {
        unshare(CLONE_NEWUTS | CLONE_NEWIPC);
        sethostname("other", 5);
        msgget(0x5EC20000 | (getppid() & 0xFFFF), IPC_CREAT | 0600);
        write(ready[1], "r", 1);
        char ch;
        read(go[0], &ch, 1);
        _exit(0);
    }
    char ch;
    read(ready[0], &ch, 1);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/uts", c);
    int fd = open(path, O_RDONLY);
    say("open ns/uts", fd < 0 ? -1 : 0);
    say("setns wrong type", setns(fd, CLONE_NEWIPC));
    pid_t g = fork();
    if (g == 0) {
        say("setns uts", setns(fd, CLONE_NEWUTS));
        struct utsname u;
        uname(&u);
        printf("joined nodename %s\n", u.nodename);
        snprintf(path, sizeof path, "/proc/%d/ns/ipc", c);
        int ifd = open(path, O_RDONLY);
        say("setns ipc", setns(ifd, 0));
        say("their queue", msgget(0x5EC20000 | (getppid() & 0xFFFF), 0) >= 0 ? 0 : -1);
        _exit(0);
    }
    printf("joiner exit %d\n", status_of(g));
    say("setns not a ns", setns(0, 0));
    say("setns bad fd", setns(99, 0));
    write(go[1], "g", 1);
    printf("child exit %d\n", status_of(c));
    int id = msgget(0x5EC20000 | (getpid() & 0xFFFF), 0);
    say("their queue invisible here", id);
}

/* setns(pidfd, flags): several namespaces of a process at once, all or none */
static void pidfd_setns(void) {
    int self = syscall(434, getpid(), 0);  /* pidfd_open */
    say("pidfd flags 0", setns(self, 0));
    say("pidfd flags -1", setns(self, -1));
    say("pidfd CLONE_VM", setns(self, CLONE_VM));
    say("pidfd own net", setns(self, CLONE_NEWNET));
    say("pidfd own user", setns(self, CLONE_NEWUSER));
    int ready[2], go[2];
    pipe(ready);
    pipe(go);
    pid_t c = fork();
    if (c == 0) {
        unshare(CLONE_NEWUTS | CLONE_NEWIPC);
        sethostname("viapidfd", 8);
        msgget(0x5EC30000 | (getppid() & 0xFFFF), IPC_CREAT | 0600);
        write(ready[1], "r", 1);
        char ch;
        read(go[0], &ch, 1);
        _exit(0);
    }
    char ch;
    read(ready[0], &ch, 1);
    int pfd = syscall(434, c, 0);
    pid_t g = fork();
    if (g == 0) {
        say("setns pidfd uts|ipc", setns(pfd, CLONE_NEWUTS | CLONE_NEWIPC));
        struct utsname u;
        uname(&u);
        printf("joined nodename %s\n", u.nodename);
        say("their queue", msgget(0x5EC30000 | (getppid() & 0xFFFF), 0) >= 0 ? 0 : -1);
        _exit(0);
    }
    printf("joiner exit %d\n", status_of(g));
    g = fork();
    if (g == 0) {  /* a user namespace it shares: EINVAL, and nothing joined */
        say("setns pidfd uts|user", setns(pfd, CLONE_NEWUTS | CLONE_NEWUSER));
        struct utsname u;
        uname(&u);
        printf("still nodename %d\n", strcmp(u.nodename, "viapidfd") != 0);
        _exit(0);
    }
    printf("joiner exit %d\n", status_of(g));
    write(go[1], "g", 1);
    siginfo_t info;
    waitid(P_PID, c, &info, WEXITED | WNOWAIT);
    say("setns pidfd of a zombie", setns(pfd, CLONE_NEWUTS));
    printf("child exit %d\n", status_of(c));
    say("setns pidfd of a reaped child", setns(pfd, CLONE_NEWUTS));
}

static void errors(void) {
    say("unshare bad flag", unshare(0x1));
    say("unshare CLONE_THREAD single", unshare(CLONE_THREAD));
    say("clone NEWIPC|SYSVSEM", syscall(56, CLONE_NEWIPC | CLONE_SYSVSEM | SIGCHLD, 0, 0, 0, 0));
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *what = argc > 1 ? argv[1] : "uts";
    if (!strcmp(what, "uts")) uts();
    else if (!strcmp(what, "ipc")) ipc();
    else if (!strcmp(what, "pid")) pid();
    else if (!strcmp(what, "mnt")) mnt();
    else if (!strcmp(what, "setns")) setns_test();
    else if (!strcmp(what, "pidfd")) pidfd_setns();
    else if (!strcmp(what, "errors")) errors();
    else return 2;
    return 0;
}
