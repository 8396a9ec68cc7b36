/* inotify around unlinked files and times (inotify(7)): IN_DELETE_SELF waits for the last
 * close of a file still open, IN_EXCL_UNLINK hides I/O through an unlinked name but not inode
 * changes, utimensat reports IN_ACCESS / IN_MODIFY / IN_ATTRIB by which times it sets, and
 * reading a directory's entries is IN_ACCESS on it. Events print in the order they are read. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int ino;
static int dir_wd, file_wd;

static const char *who(int wd) {
    return wd == dir_wd ? "dir" : wd == file_wd ? "file" : "other";
}

static void drain(const char *what) {
    char buf[4096] __attribute__((aligned(8)));
    printf("%s:", what);
    for (;;) {
        ssize_t n = read(ino, buf, sizeof buf);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN)
                printf(" read error %d", errno);
            break;
        }
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            printf(" [%s %x%s%s]", who(e->wd), e->mask, e->len ? " " : "", e->len ? e->name : "");
            p += sizeof *e + e->len;
        }
    }
    printf("\n");
}

static void setup(const char *dir, const char *file, unsigned extra) {
    dir_wd = inotify_add_watch(ino, dir, IN_ALL_EVENTS | extra);
    file_wd = inotify_add_watch(ino, file, IN_ALL_EVENTS | extra);
    printf("watches %d %d\n", dir_wd > 0, file_wd > 0);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char dir[] = "/tmp/inotify_unlink_XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char file[256], sub[256];
    snprintf(file, sizeof file, "%s/f", dir);
    snprintf(sub, sizeof sub, "%s/d", dir);
    ino = inotify_init1(IN_NONBLOCK);
    int v = 7;

    /* 1. unlink with the file open: no IN_DELETE_SELF until the close; I/O still reported,
     * to the directory too, under the old name */
    int fd = open(file, O_CREAT | O_RDWR, 0644);
    setup(dir, file, 0);
    unlink(file);
    drain("unlinked while open");
    write(fd, &v, sizeof v);
    pread(fd, &v, sizeof v, 0);
    drain("io after unlink");
    close(fd);
    drain("closed");
    inotify_rm_watch(ino, dir_wd);
    drain("dir watch removed");

    /* 2. the same with IN_EXCL_UNLINK: I/O through the unlinked name is hidden, an inode
     * change (ftruncate) is not; the close is hidden, IN_DELETE_SELF is not */
    fd = open(file, O_CREAT | O_RDWR, 0644);
    setup(dir, file, IN_EXCL_UNLINK);
    unlink(file);
    drain("excl: unlinked while open");
    write(fd, &v, sizeof v);
    pread(fd, &v, sizeof v, 0);
    drain("excl: io after unlink");
    ftruncate(fd, 100);
    fchmod(fd, 0600);
    drain("excl: inode changes after unlink");
    close(fd);
    drain("excl: closed");
    inotify_rm_watch(ino, dir_wd);
    drain("excl: dir watch removed");

    /* 3. two opens: IN_DELETE_SELF after the second close */
    fd = open(file, O_CREAT | O_RDWR, 0644);
    int fd2 = open(file, O_RDONLY);
    setup(dir, file, 0);
    unlink(file);
    close(fd);
    drain("two opens: first closed");
    close(fd2);
    drain("two opens: second closed");
    inotify_rm_watch(ino, dir_wd);
    drain("two opens: dir watch removed");

    /* 4. rmdir of a directory held open */
    mkdir(sub, 0755);
    int dfd = open(sub, O_RDONLY | O_DIRECTORY);
    setup(dir, sub, 0);
    rmdir(sub);
    drain("rmdir while open");
    close(dfd);
    drain("rmdir: closed");
    inotify_rm_watch(ino, dir_wd);
    drain("rmdir: dir watch removed");

    /* 5. utimensat: which times decide the event */
    fd = open(file, O_CREAT | O_RDWR, 0644);
    setup(dir, file, 0);
    struct timespec ts[2];
    ts[0].tv_nsec = UTIME_NOW; ts[1].tv_nsec = UTIME_OMIT;
    utimensat(AT_FDCWD, file, ts, 0);
    drain("atime only");
    ts[0].tv_nsec = UTIME_OMIT; ts[1].tv_nsec = UTIME_NOW;
    utimensat(AT_FDCWD, file, ts, 0);
    drain("mtime only");
    ts[0].tv_nsec = UTIME_NOW; ts[1].tv_nsec = UTIME_NOW;
    utimensat(AT_FDCWD, file, ts, 0);
    drain("both");
    ts[0].tv_nsec = UTIME_NOW; ts[1].tv_nsec = UTIME_OMIT;
    futimens(fd, ts);
    drain("futimens atime");
    ts[0].tv_nsec = UTIME_OMIT; ts[1].tv_nsec = UTIME_OMIT;
    utimensat(AT_FDCWD, file, ts, 0);
    drain("neither");
    close(fd);
    drain("closed");

    /* 6. reading a directory's entries: IN_OPEN, IN_ACCESS, IN_CLOSE_NOWRITE on the directory */
    dfd = open(dir, O_RDONLY | O_DIRECTORY);
    char ents[4096];
    while (syscall(217, dfd, ents, sizeof ents) > 0)
        ;
    close(dfd);
    drain("getdents");

    /* 7. executing a #! script: IN_OPEN, IN_ACCESS, IN_CLOSE_NOWRITE on the script */
    char script[256];
    snprintf(script, sizeof script, "%s/s", dir);
    int sfd = open(script, O_CREAT | O_WRONLY, 0755);
    write(sfd, "#!/bin/true\n", 12);
    close(sfd);
    int swd = inotify_add_watch(ino, script, IN_ALL_EVENTS);
    file_wd = swd;
    pid_t child = fork();
    if (child == 0) {
        char *argv[] = {script, NULL};
        execve(script, argv, NULL);
        _exit(127);
    }
    int status;
    waitpid(child, &status, 0);
    printf("script exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    drain("exec of a script");
    unlink(script);
    drain("script unlinked");

    /* 8. a /proc file: IN_OPEN, IN_ACCESS, IN_CLOSE_NOWRITE; /proc/filesystems names proc */
    file_wd = inotify_add_watch(ino, "/proc/filesystems", IN_ALL_EVENTS);
    int pfd = open("/proc/filesystems", O_RDONLY);
    char fs[8192] = {0};
    int got = 0, n;
    while ((n = read(pfd, fs + got, sizeof fs - 1 - got)) > 0)
        got += n;
    close(pfd);
    printf("filesystems: proc %d tmpfs %d sysfs %d\n", strstr(fs, "nodev\tproc\n") != NULL,
           strstr(fs, "nodev\ttmpfs\n") != NULL, strstr(fs, "nodev\tsysfs\n") != NULL);
    drain("/proc/filesystems read");
    inotify_rm_watch(ino, file_wd);
    drain("/proc watch removed");

    unlink(file);
    drain("last unlink");
    inotify_rm_watch(ino, dir_wd);
    rmdir(dir);
    return 0;
}
