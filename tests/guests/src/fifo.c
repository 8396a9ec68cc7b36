/* mknod(2)/mknodat(2) and named pipes (fifo(7), pipe(7)).
 * Usage: fifo nodes|opens|block|signals|lifetime|held|ckpt. Output must match native (run as root:
 * CAP_MKNOD is dropped with capset for the EPERM cases). Works in a fresh directory under /tmp. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64];

static const char *err(long r) { return r < 0 ? strerror(errno) : "ok"; }

static char *at(const char *name) {
    static char buf[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static const char *kind(mode_t m) {
    switch (m & S_IFMT) {
    case S_IFREG: return "reg";
    case S_IFIFO: return "fifo";
    case S_IFSOCK: return "sock";
    case S_IFCHR: return "chr";
    case S_IFBLK: return "blk";
    case S_IFDIR: return "dir";
    }
    return "?";
}

static void show(const char *name) {
    struct stat st;
    if (lstat(at(name), &st) < 0) {
        printf("  stat %s: %s\n", name, strerror(errno));
        return;
    }
    printf("  %s: %s %04o nlink %ld size %ld", name, kind(st.st_mode), st.st_mode & 07777,
           (long)st.st_nlink, (long)st.st_size);
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        printf(" rdev %u:%u", major(st.st_rdev), minor(st.st_rdev));
    printf("\n");
}

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void reap(const char *what, pid_t c) {
    int st;
    waitpid(c, &st, 0);
    printf("%s: exit %d\n", what, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

/* linux/capability.h (musl-gcc has no kernel headers) */
struct __user_cap_header_struct { unsigned version; int pid; };
struct __user_cap_data_struct { unsigned effective, permitted, inheritable; };
#define _LINUX_CAPABILITY_VERSION_3 0x20080522
#define CAP_MKNOD 27

static void drop_cap_mknod(void) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0)
        printf("capget: %s\n", strerror(errno));
    d[0].effective &= ~(1u << CAP_MKNOD);
    if (syscall(SYS_capset, &h, d) < 0)
        printf("capset: %s\n", strerror(errno));
}

static void nodes(void) {
    umask(022);
    printf("fifo: %s\n", err(mknod(at("f"), S_IFIFO | 0666, 0)));
    printf("fifo again: %s\n", err(mknod(at("f"), S_IFIFO | 0666, 0)));
    printf("mkfifo: %s\n", err(mkfifo(at("f2"), 0640)));
    printf("reg: %s\n", err(mknod(at("r"), S_IFREG | 0604, 0)));
    printf("type 0: %s\n", err(mknod(at("z"), 0644, 0)));
    printf("sock: %s\n", err(mknod(at("s"), S_IFSOCK | 0777, 0)));
    printf("dir: %s\n", err(mknod(at("d"), S_IFDIR | 0755, 0)));
    printf("bad type: %s\n", err(mknod(at("b"), 0170000 | 0644, 0)));
    printf("bad type over a name: %s\n", err(mknod(at("f"), 0110000 | 0644, 0)));
    printf("no parent: %s\n", err(mknod(at("none/f"), S_IFIFO | 0644, 0)));
    printf("empty path: %s\n", err(mknod("", S_IFIFO | 0644, 0)));
    printf("bad pointer: %s\n", err(syscall(SYS_mknod, (char *)8, S_IFIFO | 0644, 0)));
    umask(0);
    printf("umask 0: %s\n", err(mknod(at("u"), S_IFIFO | 0666, 0)));
    umask(077);
    printf("umask 077: %s\n", err(mknod(at("v"), S_IFIFO | 0666, 0)));
    umask(022);
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    printf("mknodat dirfd: %s\n", err(mknodat(d, "af", S_IFIFO | 0600, 0)));
    printf("mknodat AT_FDCWD: %s\n", err(mknodat(AT_FDCWD, at("ag"), S_IFIFO | 0600, 0)));
    printf("mknodat bad dirfd: %s\n", err(mknodat(999, "ah", S_IFIFO | 0600, 0)));
    int r = open(at("r"), O_RDONLY);
    printf("mknodat file dirfd: %s\n", err(mknodat(r, "ai", S_IFIFO | 0600, 0)));
    close(r);
    printf("chr 1:3: %s\n", err(mknod(at("null"), S_IFCHR | 0666, makedev(1, 3))));
    printf("chr 1:5: %s\n", err(mknod(at("zero"), S_IFCHR | 0666, makedev(1, 5))));
    printf("chr 99:99: %s\n", err(mknod(at("c99"), S_IFCHR | 0600, makedev(99, 99))));
    printf("blk 240:1: %s\n", err(mknod(at("b240"), S_IFBLK | 0600, makedev(240, 1))));
    const char *names[] = {"f", "f2", "r", "z", "s", "u", "v", "af", "ag", "null", "zero", "c99",
                           "b240"};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
        show(names[i]);
    int fd = open(at("null"), O_RDWR);
    printf("open null node: %s\n", err(fd));
    char buf[8] = "xxxxxxx";
    long wn = write(fd, "abc", 3);
    printf("  write %ld read %ld\n", wn, (long)read(fd, buf, 8));
    close(fd);
    fd = open(at("zero"), O_RDONLY);
    printf("open zero node: %s\n", err(fd));
    long rn = read(fd, buf, 4);
    printf("  read %ld first %d\n", rn, buf[0]);
    struct stat st;
    fstat(fd, &st);
    printf("  fstat %s rdev %u:%u\n", kind(st.st_mode), major(st.st_rdev), minor(st.st_rdev));
    close(fd);
    printf("open chr 99:99: %s\n", err(open(at("c99"), O_RDONLY)));
    printf("open blk 240:1: %s\n", err(open(at("b240"), O_RDONLY)));
    printf("open sock node: %s\n", err(open(at("s"), O_RDONLY)));
    int sk = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", at("s"));
    printf("connect sock node: %s\n", err(connect(sk, (struct sockaddr *)&sa, sizeof sa)));
    close(sk);
    printf("bind over the node: %s\n",
           err(bind(socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&sa, sizeof sa)));
    fd = open(at("r"), O_RDWR);
    printf("open reg node: %s write %ld\n", err(fd), (long)write(fd, "hello", 5));
    close(fd);
    show("r");
    drop_cap_mknod();
    printf("no CAP_MKNOD chr: %s\n", err(mknod(at("c2"), S_IFCHR | 0600, makedev(1, 3))));
    printf("no CAP_MKNOD blk: %s\n", err(mknod(at("b2"), S_IFBLK | 0600, makedev(240, 2))));
    printf("no CAP_MKNOD whiteout 0:0: %s\n", err(mknod(at("w"), S_IFCHR | 0600, 0)));
    printf("no CAP_MKNOD existing: %s\n", err(mknod(at("f"), S_IFCHR | 0600, makedev(1, 3))));
    printf("no CAP_MKNOD fifo: %s\n", err(mknod(at("f3"), S_IFIFO | 0600, 0)));
    show("w");
    printf("open whiteout: %s\n", err(open(at("w"), O_RDONLY)));
    printf("link into /dev/shm: %s\n", err(link(at("f"), "/dev/shm/newfile")));
    printf("rename into /dev/shm: %s\n", err(rename(at("f"), "/dev/shm/newfile")));
    printf("link from /dev: %s\n", err(link("/dev/null", at("devnull"))));
    printf("unlink fifo: %s\n", err(unlink(at("f"))));
    printf("rename fifo: %s\n", err(rename(at("f2"), at("f4"))));
    show("f4");
}

static void show_poll(const char *what, int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, 0);
    printf("  poll %s: %d revents %#x\n", what, n, p.revents);
}

static void opens(void) {
    mkfifo(at("f"), 0600);
    printf("w nonblock, no reader: %s\n", err(open(at("f"), O_WRONLY | O_NONBLOCK)));
    int r = open(at("f"), O_RDONLY | O_NONBLOCK);
    printf("r nonblock: %s\n", err(r));
    char buf[64];
    printf("  read with no writer: %ld\n", (long)read(r, buf, sizeof buf));
    show_poll("before a writer", r);
    int w = open(at("f"), O_WRONLY | O_NONBLOCK);
    printf("w nonblock with a reader: %s\n", err(w));
    printf("  write %ld\n", (long)write(w, "fifo data", 9));
    show_poll("with data", r);
    ssize_t n = read(r, buf, sizeof buf);
    printf("  read %ld '%.*s'\n", (long)n, (int)(n > 0 ? n : 0), buf);
    n = read(r, buf, sizeof buf);
    printf("  read empty: %ld %s\n", (long)n, n < 0 ? strerror(errno) : "");
    close(w);
    show_poll("after the writer left", r);
    printf("  read after the writer left: %ld\n", (long)read(r, buf, sizeof buf));
    struct stat st;
    fstat(r, &st);
    printf("  fstat %s size %ld\n", kind(st.st_mode), (long)st.st_size);
    printf("  F_GETPIPE_SZ %d\n", fcntl(r, F_GETPIPE_SZ));
    printf("  F_GETFL %#x\n", fcntl(r, F_GETFL) & ~0100000);
    printf("  lseek: %s\n", err(lseek(r, 0, SEEK_SET)));
    close(r);
    int rw = open(at("f"), O_RDWR);
    printf("rdwr: %s\n", err(rw));
    printf("  write %ld\n", (long)write(rw, "both", 4));
    n = read(rw, buf, sizeof buf);
    printf("  read %ld '%.*s'\n", (long)n, (int)(n > 0 ? n : 0), buf);
    int w2 = open(at("f"), O_WRONLY | O_NONBLOCK);
    printf("w nonblock beside rdwr: %s\n", err(w2));
    close(w2);
    close(rw);
    printf("O_PATH: %s\n", err(open(at("f"), O_PATH)));
    printf("O_TRUNC|O_WRONLY|O_NONBLOCK: %s\n", err(open(at("f"), O_WRONLY | O_TRUNC | O_NONBLOCK)));
    printf("O_DIRECTORY: %s\n", err(open(at("f"), O_RDONLY | O_DIRECTORY)));
    printf("O_CREAT over it: %s\n", err(open(at("f"), O_RDONLY | O_CREAT | O_NONBLOCK, 0600)));
    printf("O_CREAT|O_EXCL over it: %s\n", err(open(at("f"), O_RDONLY | O_CREAT | O_EXCL, 0600)));
    chmod(at("f"), 0);
    drop_cap_mknod();
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2] = {{0, 0, 0}, {0, 0, 0}};
    syscall(SYS_capset, &h, d);
    printf("no permission: %s\n", err(open(at("f"), O_RDONLY | O_NONBLOCK)));
}

static void block(void) {
    mkfifo(at("f"), 0600);
    /* a writer blocks until a reader comes */
    pid_t c = fork();
    if (c == 0) {
        int w = open(at("f"), O_WRONLY);
        write(w, "from the writer", 15);
        _exit(w < 0);
    }
    msleep(100);
    int r = open(at("f"), O_RDONLY);
    char buf[64];
    ssize_t n, all = 0;
    while ((n = read(r, buf + all, sizeof buf - all)) > 0)
        all += n;
    printf("reader got '%.*s'\n", (int)all, buf);
    close(r);
    reap("writer", c);
    /* a reader blocks until a writer comes; the writer's data and EOF */
    c = fork();
    if (c == 0) {
        int r2 = open(at("f"), O_RDONLY);
        char b[64];
        ssize_t m, got = 0;
        while ((m = read(r2, b + got, sizeof b - got)) > 0)
            got += m;
        printf("child reader got '%.*s'\n", (int)got, b);
        fflush(stdout);
        _exit(0);
    }
    msleep(100);
    int w = open(at("f"), O_WRONLY);
    write(w, "to the reader", 13);
    close(w);
    reap("reader", c);
    /* a reader blocked in open counts: a non-blocking writer's open succeeds */
    c = fork();
    if (c == 0) {
        int r2 = open(at("f"), O_RDONLY);
        char b[16];
        ssize_t m = read(r2, b, sizeof b);
        printf("blocked reader read %ld\n", (long)m);
        fflush(stdout);
        _exit(0);
    }
    int tries = 0, w3;
    while ((w3 = open(at("f"), O_WRONLY | O_NONBLOCK)) < 0 && errno == ENXIO && tries < 2000) {
        tries++;
        msleep(1);
    }
    printf("nonblocking writer found the blocked reader: %s\n", err(w3));
    write(w3, "x", 1);
    close(w3);
    reap("blocked reader", c);
    /* a writer that opens and closes at once still wakes the reader, which then reads EOF */
    c = fork();
    if (c == 0) {
        int r2 = open(at("f"), O_RDONLY);
        char b[4];
        long m = read(r2, b, sizeof b);
        printf("reader woken by a writer that left: %s, read %ld\n", err(r2), m);
        fflush(stdout);
        _exit(0);
    }
    msleep(100);
    int w4 = open(at("f"), O_WRONLY);
    close(w4);
    reap("reader of a vanished writer", c);
    /* through an unlinked name, the open ends still talk */
    int rw = open(at("f"), O_RDWR);
    unlink(at("f"));
    write(rw, "gone", 4);
    n = read(rw, buf, sizeof buf);
    printf("unlinked fifo read %ld '%.*s'\n", (long)n, (int)(n > 0 ? n : 0), buf);
    close(rw);
}

static void on_alarm(int s) { (void)s; }

static void signals(void) {
    mkfifo(at("f"), 0600);
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, 0);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, 0);
    printf("reader open, handler without SA_RESTART: %s\n", err(open(at("f"), O_RDONLY)));
    setitimer(ITIMER_REAL, &it, 0);
    printf("writer open, handler without SA_RESTART: %s\n", err(open(at("f"), O_WRONLY)));
    printf("w nonblock after the interrupted reader: %s\n",
           err(open(at("f"), O_WRONLY | O_NONBLOCK)));
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, 0);
    pid_t c = fork();
    if (c == 0) {
        msleep(200);
        int w = open(at("f"), O_WRONLY);
        write(w, "restarted", 9);
        _exit(0);
    }
    setitimer(ITIMER_REAL, &it, 0);
    int r = open(at("f"), O_RDONLY);
    char buf[16];
    ssize_t n = read(r, buf, sizeof buf);
    printf("reader open under SA_RESTART: %s, read '%.*s'\n", err(r), (int)(n > 0 ? n : 0), buf);
    reap("writer", c);
    close(r);
    /* SIGKILL while blocked in open */
    c = fork();
    if (c == 0) {
        open(at("f"), O_WRONLY);
        _exit(7);
    }
    msleep(100);
    kill(c, SIGKILL);
    reap("killed opener", c);
    printf("reader nonblock after the killed writer: ");
    r = open(at("f"), O_RDONLY | O_NONBLOCK);
    long rn = read(r, buf, sizeof buf);
    printf("%s, read %ld\n", err(r), rn);
    close(r);
    /* SIGSTOP / SIGCONT while blocked in open, then a partner */
    c = fork();
    if (c == 0) {
        int r2 = open(at("f"), O_RDONLY);
        ssize_t m = read(r2, buf, sizeof buf);
        printf("stopped and continued reader read '%.*s'\n", (int)(m > 0 ? m : 0), buf);
        fflush(stdout);
        _exit(0);
    }
    msleep(50);
    kill(c, SIGSTOP);
    msleep(50);
    kill(c, SIGCONT);
    msleep(50);
    int w = open(at("f"), O_WRONLY);
    write(w, "cont", 4);
    close(w);
    reap("stopped reader", c);
}

static void lifetime(void) {
    mkfifo(at("f"), 0600);
    int rw = open(at("f"), O_RDWR);
    write(rw, "kept", 4);
    int r = open(at("f"), O_RDONLY | O_NONBLOCK);
    close(rw);
    char buf[16];
    ssize_t n = read(r, buf, sizeof buf);
    printf("data kept while an end is open: %ld '%.*s'\n", (long)n, (int)(n > 0 ? n : 0), buf);
    rw = open(at("f"), O_RDWR);
    write(rw, "lost", 4);
    fcntl(rw, F_SETPIPE_SZ, 8192);
    close(rw);
    close(r);
    rw = open(at("f"), O_RDWR | O_NONBLOCK);
    n = read(rw, buf, sizeof buf);
    printf("after every end closed: %ld %s, size %d\n", (long)n, n < 0 ? strerror(errno) : "",
           fcntl(rw, F_GETPIPE_SZ));
    close(rw);
    /* writing with the reader gone: EPIPE (SIGPIPE ignored) */
    signal(SIGPIPE, SIG_IGN);
    r = open(at("f"), O_RDONLY | O_NONBLOCK);
    int w = open(at("f"), O_WRONLY);
    close(r);
    printf("write without a reader: %s\n", err(write(w, "x", 1)));
    close(w);
    /* a second reader and writer pair on the same inode from two names */
    link(at("f"), at("g"));
    r = open(at("g"), O_RDONLY | O_NONBLOCK);
    w = open(at("f"), O_WRONLY);
    write(w, "by link", 7);
    n = read(r, buf, sizeof buf);
    printf("through a hard link: %ld '%.*s'\n", (long)n, (int)(n > 0 ? n : 0), buf);
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", w);
    int w2 = open(p, O_WRONLY);
    printf("reopen through /proc/self/fd: %s\n", err(w2));
    write(w2, "proc", 4);
    n = read(r, buf, sizeof buf);
    printf("  read %ld '%.*s'\n", (long)n, (int)(n > 0 ? n : 0), buf);
}

static int held_fd;

static void *held_reader(void *arg) {
    (void)arg;
    char buf[16];
    ssize_t n = read(held_fd, buf, sizeof buf);
    printf("reader blocked before the close read %ld '%.*s'\n", (long)n, (int)(n > 0 ? n : 0), buf);
    return 0;
}

/* A call blocked on a file holds it: a read blocked on a pipe (anonymous, then named) whose fd
 * another thread closes goes on, and the pipe keeps its reader until it returns. */
static void held(void) {
    mkfifo(at("f"), 0600);
    for (int named = 0; named < 2; named++) {
        int p[2];
        if (named) {
            p[0] = open(at("f"), O_RDONLY | O_NONBLOCK);
            p[1] = open(at("f"), O_WRONLY);
            fcntl(p[0], F_SETFL, 0);
        } else {
            pipe(p);
        }
        held_fd = p[0];
        pthread_t th;
        pthread_create(&th, 0, held_reader, 0);
        msleep(100);
        printf("close the read end: %s\n", err(close(p[0])));
        printf("read on the closed fd: %s\n", err(read(p[0], &th, 1)));
        const char *wr = err(write(p[1], "still read", 10));
        pthread_join(th, 0);
        printf("write: %s\n", wr);
        signal(SIGPIPE, SIG_IGN);
        printf("write after the reader returned: %s\n", err(write(p[1], "x", 1)));
        close(p[1]);
    }
}

/* Processes blocked in opening FIFOs for most of the run (a checkpoint falls there). */
static void ckpt(void) {
    mkfifo(at("a"), 0600);
    mkfifo(at("b"), 0600);
    pid_t r = fork();
    if (r == 0) {
        int fd = open(at("a"), O_RDONLY);
        char buf[32];
        ssize_t n = read(fd, buf, sizeof buf);
        printf("reader: '%.*s'\n", (int)(n > 0 ? n : 0), buf);
        fflush(stdout);
        _exit(0);
    }
    pid_t w = fork();
    if (w == 0) {
        int fd = open(at("b"), O_WRONLY);
        write(fd, "from b", 6);
        _exit(0);
    }
    msleep(300);
    int fa = open(at("a"), O_WRONLY);
    write(fa, "to a", 4);
    close(fa);
    reap("reader", r);
    int fb = open(at("b"), O_RDONLY);
    char buf[32];
    ssize_t n = read(fb, buf, sizeof buf);
    printf("parent: '%.*s'\n", (int)(n > 0 ? n : 0), buf);
    reap("writer", w);
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    snprintf(dir, sizeof dir, "/tmp/fifoXXXXXX");
    if (!mkdtemp(dir))
        return 2;
    const char *what = argc > 1 ? argv[1] : "ckpt";
    if (!strcmp(what, "nodes"))
        nodes();
    else if (!strcmp(what, "opens"))
        opens();
    else if (!strcmp(what, "block"))
        block();
    else if (!strcmp(what, "signals"))
        signals();
    else if (!strcmp(what, "lifetime"))
        lifetime();
    else if (!strcmp(what, "held"))
        held();
    else
        ckpt();
    char cmd[96];
    snprintf(cmd, sizeof cmd, "%s", dir);
    /* clean up natively (the guest's /tmp is its own) */
    const char *left[] = {"f", "f2", "f3", "f4", "g", "r", "z", "s", "u", "v", "af", "ag", "null",
                          "zero", "c99", "b240", "w", "a", "b", "devnull"};
    for (unsigned i = 0; i < sizeof left / sizeof *left; i++)
        unlink(at(left[i]));
    rmdir(cmd);
    return 0;
}
