/* chroot: the errnos (ENOENT, ENOTDIR, EFAULT, EACCES before EPERM), the walk from the new root
   (absolute paths, "..", absolute symlinks), the working directory left outside
   ("(unreachable)"), an fd kept from before, a nested chroot, fork and exec inside it, and
   /proc/PID/root seen from outside. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; printf("%s %ld errno %d\n", name, r_, r_ < 0 ? e_ : 0); } while (0)

static char B[256];

static void cat(const char *what, int dfd, const char *path) {
    char buf[64] = {0};
    int fd = openat(dfd, path, O_RDONLY);
    if (fd < 0) { printf("%s open -1 errno %d\n", what, errno); return; }
    long n = read(fd, buf, sizeof buf - 1);
    printf("%s [%.*s]\n", what, (int)(n > 0 ? n : 0), buf);
    close(fd);
}

static void cwd(const char *what) {
    char buf[512];
    long n = syscall(SYS_getcwd, buf, sizeof buf);
    if (n < 0) { printf("%s getcwd -1 errno %d\n", what, errno); return; }
    if (strncmp(buf, "(unreachable)", 13) == 0)
        printf("%s (unreachable) under base %d\n", what, strncmp(buf + 13, B, strlen(B)) == 0);
    else
        printf("%s %s\n", what, buf);
}

static void put(const char *path, const char *text) {
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0755);
    write(fd, text, strlen(text));
    close(fd);
}

static void cleanup(void) {  /* no shell in the guest: by hand */
    const char *rm[] = {"root/sub/f2", "root/sub", "root/file", "root/abs", "root/prog", "root", "closed",
                        "afile"};
    char p[512];
    for (unsigned i = 0; i < sizeof rm / sizeof rm[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", B, rm[i]);
        if (unlink(p)) rmdir(p);
    }
    rmdir(B);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "inside")) {  /* exec'd inside the chroot */
        cat("exec'd reads /file", AT_FDCWD, "/file");
        cwd("exec'd cwd");
        return 0;
    }
    struct statfs sf;
    const char *base = (statfs("/tmp", &sf) == 0 && sf.f_type == 0x01021994) ? "/tmp" : "/dev/shm";
    snprintf(B, sizeof B, "%s/ecs_chroot", base);
    char p[512];
    cleanup();
    mkdir(B, 0755); chmod(B, 0755);
    snprintf(p, sizeof p, "%s/root", B); mkdir(p, 0755); chmod(p, 0755);
    snprintf(p, sizeof p, "%s/root/sub", B); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/root/file", B); put(p, "inside");
    snprintf(p, sizeof p, "%s/root/sub/f2", B); put(p, "nested");
    snprintf(p, sizeof p, "%s/root/abs", B); symlink("/file", p);
    snprintf(p, sizeof p, "%s/closed", B); mkdir(p, 0700); chmod(p, 0700);
    snprintf(p, sizeof p, "%s/afile", B); put(p, "outside");
    /* the program itself, copied into the new root */
    int in = open("/proc/self/exe", O_RDONLY);
    snprintf(p, sizeof p, "%s/root/prog", B);
    int out = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0755);
    char buf[65536];
    long n;
    while ((n = read(in, buf, sizeof buf)) > 0) write(out, buf, n);
    close(in); close(out);

    snprintf(p, sizeof p, "%s/nope", B);
    T("chroot missing", chroot(p));
    snprintf(p, sizeof p, "%s/afile", B);
    T("chroot a file", chroot(p));
    T("chroot NULL", syscall(SYS_chroot, NULL));
    T("chroot empty", chroot(""));

    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) _exit(1);
        snprintf(p, sizeof p, "%s/root", B);
        T("unprivileged chroot", chroot(p));
        snprintf(p, sizeof p, "%s/closed", B);
        T("unprivileged chroot no search", chroot(p));
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);

    int pp[2], back[2];
    pipe(pp);
    pipe(back);
    fflush(stdout);
    c = fork();
    if (c == 0) {
        int outside = open(B, O_RDONLY | O_DIRECTORY);
        snprintf(p, sizeof p, "%s/root", B);
        T("chroot", chroot(p));
        cwd("cwd after chroot");
        cat("/file", AT_FDCWD, "/file");
        cat("/../../file", AT_FDCWD, "/../../file");
        cat("/abs", AT_FDCWD, "/abs");
        cat("/etc/passwd", AT_FDCWD, "/etc/passwd");
        cat("outside fd afile", outside, "afile");
        cat("outside fd ../ecs_chroot/afile", outside, "../ecs_chroot/afile");
        T("chdir /", chdir("/"));
        cwd("cwd /");
        T("chdir ..", chdir(".."));
        cwd("cwd after ..");
        cat("relative file", AT_FDCWD, "file");
        T("fchdir outside", fchdir(outside));
        cwd("cwd after fchdir outside");
        cat("relative afile outside", AT_FDCWD, "afile");
        T("chdir / again", chdir("/"));
        T("chroot sub (nested)", chroot("sub"));
        cat("nested /f2", AT_FDCWD, "/f2");
        cat("nested /file", AT_FDCWD, "/file");
        cwd("cwd after nested");
        T("chroot . back", chroot("/"));
        fflush(stdout);
        pid_t g = fork();
        if (g == 0) {
            cat("grandchild /f2", AT_FDCWD, "/f2");
            fflush(stdout);
            _exit(0);
        }
        waitpid(g, &st, 0);
        close(outside);
        write(pp[1], "r", 1);  /* the parent looks at /proc/PID/root now */
        char ch;
        read(back[0], &ch, 1);
        _exit(0);
    }
    char ch;
    read(pp[0], &ch, 1);
    snprintf(p, sizeof p, "/proc/%d/root", c);
    char target[512] = {0};
    n = readlink(p, target, sizeof target - 1);
    char want[300];
    snprintf(want, sizeof want, "%s/root/sub", B);
    printf("proc root readlink is the nested root %d\n", n > 0 && strcmp(target, want) == 0);
    snprintf(p, sizeof p, "/proc/%d/root/f2", c);
    cat("through /proc/PID/root", AT_FDCWD, p);
    write(back[1], "x", 1);
    waitpid(c, &st, 0);

    fflush(stdout);
    c = fork();
    if (c == 0) {
        snprintf(p, sizeof p, "%s/root", B);
        chroot(p);
        chdir("/");
        char *args[] = {"/prog", "inside", NULL};
        execv("/prog", args);
        printf("execv failed %d\n", errno);
        _exit(1);
    }
    waitpid(c, &st, 0);
    printf("exec child status %d\n", st);
    cleanup();
    return 0;
}
