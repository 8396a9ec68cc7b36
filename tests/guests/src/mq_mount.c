/* The mqueue filesystem: mount -t mqueue (several times) shows the IPC namespace's queues as
 * files; stat, statfs (MQUEUE_MAGIC), readdir, open and read (the status line) and unlink (as
 * mq_unlink) work on them; umount brings back the directory. Run as root. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

static const char *res(int r) { return r == 0 ? "ok" : strerror(errno); }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char qname[64];
    snprintf(qname, sizeof qname, "/mq_mount_%d", getpid());
    mqd_t q = mq_open(qname, O_RDWR | O_CREAT | O_EXCL, 0640, NULL);
    printf("mq_open: %s\n", q == (mqd_t)-1 ? strerror(errno) : "ok");
    char dirs[3][32];
    for (int i = 0; i < 3; i++) {
        snprintf(dirs[i], sizeof dirs[i], "/tmp/mq_mount.XXXXXX");
        mkdtemp(dirs[i]);
        printf("mount %d: %s\n", i, res(mount("none", dirs[i], "mqueue", 0, "")));
    }
    char path[128];
    for (int i = 0; i < 3; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s%s", dirs[i], qname);
        int r = stat(path, &st);
        printf("stat the queue in mount %d: %s regular %d mode %o\n", i, res(r),
               S_ISREG(st.st_mode), st.st_mode & 07777);
    }
    struct stat ds;
    stat(dirs[0], &ds);
    printf("the mount's root: directory %d mode %o\n", S_ISDIR(ds.st_mode), ds.st_mode & 07777);
    struct statfs sf;
    statfs(dirs[0], &sf);
    printf("statfs f_type %#lx\n", (unsigned long)sf.f_type);
    DIR *dir = opendir(dirs[0]);
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        if (strcmp(e->d_name, qname + 1) == 0) seen = e->d_type == DT_REG;
    closedir(dir);
    printf("listed as a regular file: %d\n", seen);
    FILE *m = fopen("/proc/self/mounts", "r");
    char line[512];
    int mounted = 0;
    while (m && fgets(line, sizeof line, m)) {
        char src[128], point[256], type[64];
        if (sscanf(line, "%127s %255s %63s", src, point, type) == 3 && strcmp(type, "mqueue") == 0
            && strcmp(point, dirs[1]) == 0)
            mounted = 1;
    }
    if (m) fclose(m);
    printf("in /proc/self/mounts: %d\n", mounted);

    snprintf(path, sizeof path, "%s%s", dirs[0], qname);
    int fd = open(path, O_RDONLY);
    printf("open: %s\n", fd < 0 ? strerror(errno) : "ok");
    char buf[64] = {0};
    printf("read %zd: [%s]\n", read(fd, buf, 59), buf);
    close(fd);
    const char msg[] = "hello";
    mq_send(q, msg, sizeof msg, 3);
    fd = open(path, O_RDONLY);
    memset(buf, 0, sizeof buf);
    read(fd, buf, 59);
    printf("after a send: [%s]\n", buf);
    close(fd);
    printf("rmdir of a mount point: %s\n", res(rmdir(dirs[2])));
    printf("unlink: %s\n", res(unlink(path)));
    printf("mq_unlink after it: %s\n", res(mq_unlink(qname)));
    snprintf(path, sizeof path, "%s%s", dirs[1], qname);
    printf("gone from the other mounts: %d\n", access(path, F_OK) != 0 && errno == ENOENT);
    char buf2[16];
    unsigned prio = 0;
    printf("the open queue still works: %zd prio %u\n", mq_receive(q, buf2, 8192, &prio), prio);
    for (int i = 0; i < 3; i++) {
        printf("umount %d: %s\n", i, res(umount(dirs[i])));
        printf("rmdir %d: %s\n", i, res(rmdir(dirs[i])));
    }
    return 0;
}
