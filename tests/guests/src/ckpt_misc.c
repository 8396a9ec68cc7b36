/* State this branch added, across a checkpoint taken while the program sleeps: an mqueue mount
 * and a queue, a pidfd, a file's opener credentials (linkat AT_EMPTY_PATH), a custom
 * scheduling slice and changed resource limits. Run as root. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct attr { uint32_t size, policy; uint64_t flags; int32_t nice; uint32_t prio;
              uint64_t runtime, deadline, period; uint32_t umin, umax; };

static const char *res(int r) { return r == 0 ? "ok" : strerror(errno); }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char dir[] = "/tmp/ckpt_misc.XXXXXX";
    mkdtemp(dir);
    char qname[64], path[160], file[160];
    snprintf(qname, sizeof qname, "/ckpt_misc_%d", getpid());
    mqd_t q = mq_open(qname, O_RDWR | O_CREAT | O_EXCL, 0600, NULL);
    mq_send(q, "hi", 2, 1);
    char mnt[96];
    snprintf(mnt, sizeof mnt, "%s/mq", dir);
    mkdir(mnt, 0755);
    printf("mount: %s\n", res(mount("none", mnt, "mqueue", 0, "")));
    snprintf(file, sizeof file, "%s/f", dir);
    close(open(file, O_CREAT | O_WRONLY, 0644));
    int ffd = open(file, O_RDONLY);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    int pidfd = syscall(SYS_pidfd_open, child, 0);
    struct attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.runtime = 2500000;
    syscall(SYS_sched_setattr, 0, &a, 0);
    struct rlimit rl = {300, 400};
    setrlimit(RLIMIT_NOFILE, &rl);

    struct timespec ts = {0, 400 * 1000 * 1000};
    nanosleep(&ts, NULL);  /* the checkpoint lands here */

    snprintf(path, sizeof path, "%s%s", mnt, qname);
    int qfd = open(path, O_RDONLY);
    char buf[64] = {0};
    read(qfd, buf, 59);
    printf("queue through the mount: [%s]\n", buf);
    printf("linkat of the opened file: %s\n", res(linkat(ffd, "", dfd, "g", AT_EMPTY_PATH)));
    memset(&a, 0, sizeof a);
    syscall(SYS_sched_getattr, 0, &a, sizeof a, 0);
    printf("slice %llu\n", (unsigned long long)a.runtime);
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("nofile %llu %llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    struct pollfd p = {pidfd, POLLIN, 0};
    printf("pidfd before the kill: %d\n", poll(&p, 1, 0));
    kill(child, SIGKILL);
    printf("pidfd after: %d\n", poll(&p, 1, 5000));
    waitpid(child, NULL, 0);
    close(qfd);
    printf("umount: %s\n", res(umount(mnt)));
    mq_unlink(qname);
    snprintf(path, sizeof path, "%s/g", dir);
    unlink(path);
    unlink(file);
    rmdir(mnt);
    printf("rmdir: %s\n", res(rmdir(dir)));
    return 0;
}
