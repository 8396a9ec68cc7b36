/* Supplementary groups: setgroups/getgroups (sorted, the count, EINVAL, EFAULT, EPERM), the
 * Groups: line of /proc/self/status, inheritance by fork, and file access through a
 * supplementary group. Run as root natively. Output must match native. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what) {
    gid_t g[16];
    int n = getgroups(16, g);
    printf("%s: %d [", what, n);
    for (int i = 0; i < n; i++)
        printf("%s%u", i ? " " : "", g[i]);
    printf("]\n");
}

static void status_line(void) {
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *p = strstr(buf, "\nGroups:");
    char *e = p ? strchr(p + 1, '\n') : 0;
    if (e)
        *e = 0;
    printf("status%s\n", p ? p : " no Groups line");
}

static const char *err(long r) { return r < 0 ? strerror(errno) : "ok"; }

int main(void) {
    setvbuf(stdout, 0, _IONBF, 0);
    gid_t list[] = {500, 123, 7};
    printf("setgroups: %d\n", setgroups(3, list));
    show("after setgroups");
    status_line();
    printf("count only: %d\n", getgroups(0, 0));
    gid_t small[2];
    printf("too small: %s\n", err(getgroups(2, small)));
    printf("bad list: %s\n", err(syscall(SYS_getgroups, 100, (gid_t *)-1)));
    printf("setgroups bad pointer: %s\n", err(syscall(SYS_setgroups, 2, (gid_t *)8)));
    show("unchanged");
    printf("setgroups too many: %s\n", err(syscall(SYS_setgroups, 65537, list)));
    char dir[] = "/tmp/groupsXXXXXX";
    mkdtemp(dir);
    chmod(dir, 0755);
    char path[64];
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0040);
    write(fd, "x", 1);
    close(fd);
    chown(path, 0, 123);
    chmod(path, 0040);  /* readable by group 123 only */
    pid_t c = fork();
    if (c == 0) {
        show("child");
        if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
            _exit(9);
        fd = open(path, O_RDONLY);
        printf("read through supplementary group 123: %s\n", fd < 0 ? strerror(errno) : "ok");
        printf("setgroups without CAP_SETGID: %s\n", err(syscall(SYS_setgroups, 0, 0)));
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("setgroups empty: %d\n", setgroups(0, 0));
    show("empty");
    status_line();
    c = fork();
    if (c == 0) {
        if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
            _exit(9);
        fd = open(path, O_RDONLY);
        printf("read without the group: %s\n", fd < 0 ? strerror(errno) : "ok");
        _exit(0);
    }
    waitpid(c, &st, 0);
    unlink(path);
    rmdir(dir);
    return 0;
}
