/* User namespaces: unshare and clone of CLONE_NEWUSER, /proc/PID/uid_map, gid_map and setgroups
 * with the rules of user_namespaces(7), ids seen through the maps, capabilities in the new
 * namespace, setns into a user namespace, nesting. Run as root (natively too): unprivileged
 * cases drop to uid/gid 1000 first.
 * Usage: userns basic|rules|parent|nesting|clone|setns|owners|exec|ckpt|scm
 * (ckpt sleeps 300 ms inside a user namespace, a gid_map open for writing: a checkpoint there
 * must bring both back) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

/* linux/capability.h's, which musl's headers lack */
#define _LINUX_CAPABILITY_VERSION_3 0x20080522
struct __user_cap_header_struct { unsigned version; int pid; };
struct __user_cap_data_struct { unsigned effective, permitted, inheritable; };
#include <sys/prctl.h>

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

static long write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    long r = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

static void show_file(const char *label, const char *path) {
    char buf[512];
    int fd = open(path, O_RDONLY);
    if (fd < 0) { printf("%s: open -1 %s\n", label, errname(errno)); return; }
    long n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) { printf("%s: read -1 %s\n", label, errname(errno)); return; }
    buf[n] = 0;
    printf("%s: [%s]\n", label, buf);
    fflush(stdout);
}

static void status_lines(const char *label) {
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    long n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
        if (!strncmp(l, "Uid:", 4) || !strncmp(l, "Gid:", 4) || !strncmp(l, "CapEff:", 7)
                || !strncmp(l, "CapPrm:", 7) || !strncmp(l, "CapBnd:", 7))
            printf("%s %s\n", label, l);
    fflush(stdout);
}

static void ids(const char *label) {
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    printf("%s: uid %u euid %u suid %u gid %u egid %u sgid %u\n", label, r, e, s, gr, ge, gs);
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    syscall(SYS_capget, &h, d);
    printf("%s: cap_effective %08x%08x permitted %08x%08x\n", label, d[1].effective,
           d[0].effective, d[1].permitted, d[0].permitted);
    struct stat st;
    stat("/", &st);
    printf("%s: / owned by %u:%u\n", label, st.st_uid, st.st_gid);
    fflush(stdout);
}

static void become_1000(void) {
    setgroups(0, NULL);
    if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000)) {
        perror("drop");
        exit(2);
    }
    /* a credential change made us not dumpable, and /proc/self root's: be ours again */
    prctl(PR_SET_DUMPABLE, 1);
}

static unsigned long ns_ino(const char *pid, const char *name) {
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%s/ns/%s", pid, name);
    if (stat(path, &st) < 0) return 0;
    return st.st_ino;
}

/* unshare as an unprivileged user, then maps written by the process itself */
static void basic(void) {
    pid_t c = fork();
    if (c == 0) {
        become_1000();
        unsigned long old = ns_ino("self", "user");
        ids("before");
        say("unshare user", unshare(CLONE_NEWUSER));
        printf("ns changed %d\n", ns_ino("self", "user") != old);
        ids("unmapped");
        status_lines("unmapped");
        show_file("uid_map", "/proc/self/uid_map");
        show_file("setgroups", "/proc/self/setgroups");
        say("gid_map before deny", write_file("/proc/self/gid_map", "0 1000 1"));
        say("uid_map", write_file("/proc/self/uid_map", "0 1000 1"));
        say("uid_map again", write_file("/proc/self/uid_map", "0 1000 1"));
        say("setgroups deny", write_file("/proc/self/setgroups", "deny"));
        show_file("setgroups", "/proc/self/setgroups");
        say("gid_map", write_file("/proc/self/gid_map", "0 1000 1\n"));
        say("setgroups allow", write_file("/proc/self/setgroups", "allow"));
        show_file("uid_map", "/proc/self/uid_map");
        show_file("gid_map", "/proc/self/gid_map");
        ids("mapped");
        status_lines("mapped");
        say("open /etc/shadow", open("/etc/shadow", O_RDONLY) < 0 ? -1 : 0);
        say("access /root", access("/root", R_OK));
        say("setgroups(0)", setgroups(0, NULL));
        say("setuid(0)", setuid(0));
        say("setuid(5)", setuid(5));
        say("setresuid(-1,0,-1)", setresuid(-1, 0, -1));
        say("setgid(7)", setgid(7));
        say("sethostname", sethostname("x", 1));
        say("unshare uts", unshare(CLONE_NEWUTS));
        say("sethostname in own uts", sethostname("userns-host", 11));
        say("unshare ipc|mnt", unshare(CLONE_NEWIPC | CLONE_NEWNS));
        say("kill init", kill(1, 0));
        say("setuid(0) again", setuid(0));
        exit(0);
    }
    printf("child %d\n", status_of(c));
}

/* the rules of a map write */
static void rules(void) {
    static const char *bad[] = {"0 1000 2", "0 0 1", "0 1000 1\n1 1001 1", "x", "0 1000 0",
                                "0 1000", "0 1000 1 junk", "-1 1000 1", "4294967295 1000 1",
                                "4294967295 1000 1", "", NULL};
    pid_t c = fork();
    if (c == 0) {
        become_1000();
        say("unshare user", unshare(CLONE_NEWUSER));
        for (int i = 0; bad[i]; i++) {
            char label[64];
            snprintf(label, sizeof label, "uid_map [%s]", bad[i]);
            for (char *p = label; *p; p++) if (*p == '\n') *p = '|';
            say(label, write_file("/proc/self/uid_map", bad[i]));
        }
        int fd = open("/proc/self/uid_map", O_WRONLY);
        say("pwrite at 1", pwrite(fd, "0 1000 1", 8, 1));
        close(fd);
        say("setgroups junk", write_file("/proc/self/setgroups", "maybe"));
        say("setgroups deny\\n", write_file("/proc/self/setgroups", "deny\n"));
        say("gid_map other gid", write_file("/proc/self/gid_map", "0 5 1"));
        say("gid_map", write_file("/proc/self/gid_map", "0 1000 1"));
        say("uid_map", write_file("/proc/self/uid_map", " 0   1000  1 "));
        show_file("uid_map", "/proc/self/uid_map");
        /* a new namespace below: its uid 0 is our 0 (kuid 1000) */
        say("unshare nested", unshare(CLONE_NEWUSER));
        say("nested uid_map outside", write_file("/proc/self/uid_map", "0 1 1"));
        say("nested uid_map", write_file("/proc/self/uid_map", "5 0 1"));
        show_file("nested uid_map", "/proc/self/uid_map");
        ids("nested");
        exit(0);
    }
    printf("child %d\n", status_of(c));
    /* privileged writer: many lines, overlaps */
    c = fork();
    if (c == 0) {
        say("unshare user (root)", unshare(CLONE_NEWUSER));
        say("overlap", write_file("/proc/self/uid_map", "0 0 10\n5 100 10"));
        say("lower overlap", write_file("/proc/self/uid_map", "0 0 10\n20 5 10"));
        say("wrap", write_file("/proc/self/uid_map", "4294967200 0 200"));
        say("three lines", write_file("/proc/self/uid_map", "0 0 1\n1 100000 100\n500 3000 2\n"));
        show_file("uid_map", "/proc/self/uid_map");
        say("setgroups deny after map", write_file("/proc/self/setgroups", "deny"));
        say("gid_map", write_file("/proc/self/gid_map", "0 0 1\n10 10 5"));
        say("setgroups deny after gid_map", write_file("/proc/self/setgroups", "deny"));
        show_file("setgroups", "/proc/self/setgroups");
        ids("root mapped");
        say("open /etc/shadow", open("/etc/shadow", O_RDONLY) < 0 ? -1 : 0);
        say("access /root", access("/root", R_OK));
        say("setuid(100)", setuid(100));
        ids("uid 100");
        exit(0);
    }
    printf("child %d\n", status_of(c));
}

/* a parent writes its child's maps */
static void parent_writes(void) {
    int go[2], done[2];
    pipe(go);
    pipe(done);
    pid_t c = fork();
    if (c == 0) {
        char b;
        close(go[1]);
        say("child unshare", unshare(CLONE_NEWUSER));
        write(done[1], "u", 1);
        read(go[0], &b, 1);
        ids("child");
        show_file("child sees uid_map", "/proc/self/uid_map");
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/uid_map", getppid());
        show_file("child sees parent's uid_map", path);
        exit(0);
    }
    char b, path[64];
    read(done[0], &b, 1);
    snprintf(path, sizeof path, "/proc/%d/uid_map", c);
    show_file("parent sees child's empty uid_map", path);
    say("parent writes uid_map", write_file(path, "0 100000 65536\n65536 0 1"));
    snprintf(path, sizeof path, "/proc/%d/gid_map", c);
    say("parent writes gid_map", write_file(path, "0 100000 65536"));
    snprintf(path, sizeof path, "/proc/%d/uid_map", c);
    show_file("parent sees child's uid_map", path);
    write(go[1], "g", 1);
    printf("child %d\n", status_of(c));
}

static void nesting(void) {
    pid_t c = fork();
    if (c == 0) {
        int depth = 0;
        for (;;) {
            if (unshare(CLONE_NEWUSER) < 0) {
                printf("unshare failed at depth %d: %s\n", depth, errname(errno));
                break;
            }
            depth++;
            if (write_file("/proc/self/uid_map", "0 0 1") < 0) {
                printf("uid_map at depth %d: %s\n", depth, errname(errno));
                break;
            }
            write_file("/proc/self/setgroups", "deny");
            if (write_file("/proc/self/gid_map", "0 0 1") < 0) {
                printf("gid_map at depth %d: %s\n", depth, errname(errno));
                break;
            }
        }
        ids("deepest");
        /* unmapped: a further namespace cannot be made */
        say("unshare again", unshare(CLONE_NEWUSER));
        exit(0);
    }
    printf("child %d\n", status_of(c));
    c = fork();
    if (c == 0) {
        say("unshare", unshare(CLONE_NEWUSER));
        say("unshare without a map", unshare(CLONE_NEWUSER));
        exit(0);
    }
    printf("child %d\n", status_of(c));
}

static int clone_child(void *arg) {
    (void)arg;
    char b;
    int *fds = arg;
    read(fds[0], &b, 1);
    ids("clone child");
    printf("clone child ns differs %d\n", ns_ino("self", "user") != ns_ino("1", "user"));
    say("clone child unshare pid", unshare(CLONE_NEWPID));
    return 3;
}

static void *spin(void *arg) {
    (void)arg;
    pause();
    return NULL;
}

struct clone_args_v0 {
    unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static void clones(void) {
    static char stack[65536];
    int fds[2];
    pipe(fds);
    pid_t c = clone(clone_child, stack + sizeof stack, CLONE_NEWUSER | SIGCHLD, fds);
    say("clone newuser", c > 0 ? 0 : -1);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/uid_map", c);
    say("map child", write_file(path, "0 0 1000"));
    write(fds[1], "x", 1);
    printf("child %d\n", status_of(c));
    errno = 0;
    c = clone(clone_child, stack + sizeof stack, CLONE_NEWUSER | CLONE_FS | SIGCHLD, fds);
    say("clone newuser|fs", c);
    c = clone(clone_child, stack + sizeof stack,
              CLONE_NEWUSER | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM, fds);
    say("clone newuser|thread", c);
    /* unprivileged: a new PID namespace with a new user namespace is allowed */
    pid_t k = fork();
    if (k == 0) {
        become_1000();
        pid_t g = clone(clone_child, stack + sizeof stack, CLONE_NEWPID | SIGCHLD, fds);
        say("clone newpid unprivileged", g);
        g = clone(clone_child, stack + sizeof stack, CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD, fds);
        say("clone newuser|newpid unprivileged", g > 0 ? 0 : -1);
        write(fds[1], "x", 1);
        printf("grandchild %d\n", status_of(g));
        exit(0);
    }
    printf("child %d\n", status_of(k));
    /* clone3 with CLONE_NEWUSER (a fork-like child), and its EINVAL with CLONE_FS */
    struct clone_args_v0 ca = {0};
    ca.flags = CLONE_NEWUSER;
    ca.exit_signal = SIGCHLD;
    long p3 = syscall(SYS_clone3, &ca, sizeof ca);
    if (p3 == 0) {
        ids("clone3 child");
        _exit(4);
    }
    siginfo_t si;
    memset(&si, 0, sizeof si);
    waitid(P_PID, p3, &si, WEXITED);
    printf("clone3 child status %d si_uid %u\n", si.si_status, si.si_uid);
    fflush(stdout);
    ca.flags = CLONE_NEWUSER | CLONE_FS;
    say("clone3 newuser|fs", syscall(SYS_clone3, &ca, sizeof ca));
    /* waitid's si_uid is the child's uid as the waiter's namespace sees it */
    k = fork();
    if (k == 0) {
        become_1000();
        unshare(CLONE_NEWUSER);
        write_file("/proc/self/uid_map", "0 1000 1");
        pid_t g = fork();
        if (g == 0) _exit(0);
        memset(&si, 0, sizeof si);
        waitid(P_PID, g, &si, WEXITED);
        printf("waitid in the namespace: si_uid %u\n", si.si_uid);
        g = fork();
        if (g == 0) { setuid(0); unshare(CLONE_NEWUSER); _exit(0); }
        memset(&si, 0, sizeof si);
        waitid(P_PID, g, &si, WEXITED);
        printf("waitid of a child gone further down: si_uid %u\n", si.si_uid);
        exit(0);
    }
    memset(&si, 0, sizeof si);
    waitid(P_PID, k, &si, WEXITED);
    printf("waitid from outside: si_uid %u status %d\n", si.si_uid, si.si_status);
    fflush(stdout);
    /* a multithreaded caller cannot unshare a user namespace */
    k = fork();
    if (k == 0) {
        pthread_t th;
        pthread_create(&th, NULL, spin, NULL);
        say("unshare user with threads", unshare(CLONE_NEWUSER));
        exit(0);
    }
    printf("child %d\n", status_of(k));
}

static void setns_cases(void) {
    int go[2], done[2];
    pipe(go);
    pipe(done);
    pid_t c = fork();
    if (c == 0) {
        char b;
        unshare(CLONE_NEWUSER);
        write_file("/proc/self/uid_map", "0 2000 10");
        write_file("/proc/self/setgroups", "deny");
        write_file("/proc/self/gid_map", "0 2000 10");
        write(done[1], "u", 1);
        read(go[0], &b, 1);
        exit(0);
    }
    char b, path[64];
    read(done[0], &b, 1);
    snprintf(path, sizeof path, "/proc/%d/ns/user", c);
    int own = open("/proc/self/ns/user", O_RDONLY);
    say("setns own user ns", setns(own, CLONE_NEWUSER));
    int fd = open(path, O_RDONLY);
    say("setns wrong type", setns(fd, CLONE_NEWUTS));
    pid_t k = fork();
    if (k == 0) {
        become_1000();
        say("setns unprivileged", setns(fd, CLONE_NEWUSER));
        exit(0);
    }
    printf("child %d\n", status_of(k));
    k = fork();
    if (k == 0) {
        pthread_t th;
        pthread_create(&th, NULL, spin, NULL);
        say("setns with threads", setns(fd, CLONE_NEWUSER));
        exit(0);
    }
    printf("child %d\n", status_of(k));
    k = fork();
    if (k == 0) {
        setresgid(2003, 2003, 2003);
        setresuid(2005, 2005, 2005);
        say("setns user", setns(fd, 0));
        ids("after setns");
        say("open /etc/shadow", open("/etc/shadow", O_RDONLY) < 0 ? -1 : 0);
        say("setns back to init", setns(own, CLONE_NEWUSER));
        exit(0);
    }
    printf("child %d\n", status_of(k));
    write(go[1], "g", 1);
    printf("child %d\n", status_of(c));
}

/* a mode-0 segment: attaching it needs CAP_IPC_OWNER over the IPC namespace */
static void shm_mode0(const char *label) {
    int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0);
    void *p = shmat(id, NULL, SHM_RDONLY);
    say(label, p == (void *)-1 ? -1 : 0);
    if (p != (void *)-1) shmdt(p);
    say("shm rmid", shmctl(id, IPC_RMID, NULL));
}

/* namespaces made inside a user namespace belong to it */
static void owners(void) {
    pid_t c = fork();
    if (c == 0) {
        become_1000();
        say("unshare uts unprivileged", unshare(CLONE_NEWUTS));
        say("unshare user|uts|ipc|mnt", unshare(CLONE_NEWUSER | CLONE_NEWUTS | CLONE_NEWIPC
                                                 | CLONE_NEWNS));
        say("sethostname", sethostname("owned", 5));
        shm_mode0("shmat mode 0 in an owned IPC namespace");
        say("unshare pid", unshare(CLONE_NEWPID));
        pid_t g = fork();
        if (g == 0) {
            printf("pid in new ns %d\n", getpid());
            say("mount proc", mount("proc", "/proc", "proc", 0, NULL));
            show_file("status via new proc", "/proc/1/comm");
            exit(0);
        }
        printf("grandchild %d\n", status_of(g));
        exit(0);
    }
    printf("child %d\n", status_of(c));
    c = fork();
    if (c == 0) {
        become_1000();
        say("unshare user", unshare(CLONE_NEWUSER));
        say("mount proc in init mnt ns", mount("proc", "/proc", "proc", 0, NULL));
        say("sethostname in init uts", sethostname("nope", 4));
        shm_mode0("shmat mode 0 in the initial IPC namespace");
        exit(0);
    }
    printf("child %d\n", status_of(c));
}

/* exec in a user namespace: root in it keeps its capabilities, an unmapped uid loses them */
static void exec_case(int argc, char **argv) {
    if (argc > 2) {
        char exe[512];
        long n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = 0;
        printf("%s: re-executed, exe is %s\n", argv[2], strstr(exe, "/proc/") ? exe : "its file");
        ids(argv[2]);
        status_lines(argv[2]);
        exit(0);
    }
    pid_t c = fork();
    if (c == 0) {
        unshare(CLONE_NEWUSER);
        execl("/proc/self/exe", argv[0], "exec", "unmapped", (char *)NULL);
        exit(9);
    }
    printf("child %d\n", status_of(c));
    c = fork();
    if (c == 0) {
        become_1000();
        unshare(CLONE_NEWUSER);
        write_file("/proc/self/uid_map", "0 1000 1");
        execl("/proc/self/exe", argv[0], "exec", "root-in-ns", (char *)NULL);
        exit(9);
    }
    printf("child %d\n", status_of(c));
}

static void ckpt(void) {
    pid_t c = fork();
    if (c == 0) {
        become_1000();
        say("unshare user", unshare(CLONE_NEWUSER));
        say("uid_map", write_file("/proc/self/uid_map", "0 1000 1"));
        say("setgroups deny", write_file("/proc/self/setgroups", "deny"));
        int gfd = open("/proc/self/gid_map", O_WRONLY);
        struct timespec ts = {0, 300000000};
        nanosleep(&ts, NULL);
        say("gid_map through an fd opened before", write(gfd, "0 1000 1", 8));
        close(gfd);
        ids("after");
        status_lines("after");
        show_file("uid_map", "/proc/self/uid_map");
        show_file("gid_map", "/proc/self/gid_map");
        say("setuid(0)", setuid(0));
        say("unshare user|uts", unshare(CLONE_NEWUSER | CLONE_NEWUTS));
        say("sethostname", sethostname("ck", 2));
        say("setuid(0) unmapped", setuid(0));
        ids("nested");
        exit(0);
    }
    printf("child %d\n", status_of(c));
}

/* SCM_CREDENTIALS and SO_PEERCRED are seen through the receiver's maps */
static void recv_creds(int fd, const char *label) {
    char data[8], ctl[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = {data, sizeof data};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    long n = recvmsg(fd, &m, 0);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (n < 0 || !c || c->cmsg_type != SCM_CREDENTIALS) { printf("%s: no credentials\n", label); return; }
    struct ucred u;
    memcpy(&u, CMSG_DATA(c), sizeof u);
    printf("%s: uid %u gid %u pid-is-sender %d\n", label, u.uid, u.gid, u.pid > 0);
    fflush(stdout);
}

static long send_creds(int fd, int uid, int gid) {
    char ctl[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = {"x", 1};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (uid >= 0) {
        memset(ctl, 0, sizeof ctl);
        m.msg_control = ctl;
        m.msg_controllen = sizeof ctl;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_CREDENTIALS;
        c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
        struct ucred u = {getpid(), uid, gid};
        memcpy(CMSG_DATA(c), &u, sizeof u);
    }
    return sendmsg(fd, &m, 0);
}

static void scm(void) {
    int sv[2], one = 1, go[2];
    pipe(go);
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    pid_t c = fork();
    if (c == 0) {
        char b;
        become_1000();
        unshare(CLONE_NEWUSER);
        write_file("/proc/self/uid_map", "0 1000 1");
        write_file("/proc/self/setgroups", "deny");
        write_file("/proc/self/gid_map", "0 1000 1");
        say("child sends", send_creds(sv[1], -1, -1));
        say("child sends as uid 0", send_creds(sv[1], 0, 0));
        say("child sends as unmapped 5", send_creds(sv[1], 5, 0));
        write(go[1], "s", 1);
        recv_creds(sv[1], "child receives");
        struct ucred u;
        socklen_t len = sizeof u;
        getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &u, &len);
        printf("child SO_PEERCRED: uid %u gid %u\n", u.uid, u.gid);
        exit(0);
    }
    char b;
    read(go[0], &b, 1);
    recv_creds(sv[0], "parent receives");
    recv_creds(sv[0], "parent receives");
    long r = send_creds(sv[0], -1, -1);
    int st = status_of(c);
    say("parent sent", r);
    printf("child %d\n", st);
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "basic";
    if (!strcmp(what, "basic")) basic();
    else if (!strcmp(what, "rules")) rules();
    else if (!strcmp(what, "parent")) parent_writes();
    else if (!strcmp(what, "nesting")) nesting();
    else if (!strcmp(what, "clone")) clones();
    else if (!strcmp(what, "setns")) setns_cases();
    else if (!strcmp(what, "owners")) owners();
    else if (!strcmp(what, "exec")) exec_case(argc, argv);
    else if (!strcmp(what, "ckpt")) ckpt();
    else if (!strcmp(what, "scm")) scm();
    else return 2;
    return 0;
}
