/* linkat(AT_EMPTY_PATH) as Linux 6.10 rules it: the file's opener must still have the caller's
 * credentials, else CAP_DAC_READ_SEARCH in the opener's user namespace is needed (ENOENT
 * without); AT_FDCWD and a path need neither. Run as root. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAP_DAC_READ_SEARCH 2
struct cap_header { uint32_t version; int pid; };
struct cap_data { uint32_t effective, permitted, inheritable; };

static int set_cap(int cap, int on) {
    struct cap_header h = {0x20080522, 0};
    struct cap_data d[2];
    if (syscall(SYS_capget, &h, d) < 0) return -errno;
    if (on) d[0].effective |= 1u << cap;
    else d[0].effective &= ~(1u << cap);
    return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static const char *res(int r) { return r == 0 ? "ok" : strerror(errno); }
static int file_fd, dir_fd, serial;

static const char *try_link(void) {
    char name[32];
    snprintf(name, sizeof name, "l%d", serial++);
    int r = linkat(file_fd, "", dir_fd, name, AT_EMPTY_PATH);
    return res(r);
}

static void *in_thread(void *arg) {
    (void)arg;
    printf("from a thread: %s\n", try_link());
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char dir[] = "/tmp/link_empty.XXXXXX";
    mkdtemp(dir);
    char path[96];
    snprintf(path, sizeof path, "%s/f", dir);
    close(open(path, O_CREAT | O_WRONLY, 0644));
    printf("drop CAP_DAC_READ_SEARCH: %d\n", set_cap(CAP_DAC_READ_SEARCH, 0));
    file_fd = open(path, O_RDONLY);
    dir_fd = open(dir, O_RDONLY | O_DIRECTORY);
    printf("same creds, no capability: %s\n", try_link());
    pthread_t th;
    pthread_create(&th, NULL, in_thread, NULL);
    pthread_join(th, NULL);
    pid_t c = fork();
    if (c == 0) {
        printf("from a forked child: %s\n", try_link());
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("take it back: %d\n", set_cap(CAP_DAC_READ_SEARCH, 1));
    printf("new creds, with the capability: %s\n", try_link());
    c = fork();
    if (c == 0) {
        printf("a child with it: %s\n", try_link());
        printf("  unshare(CLONE_NEWUSER): %s\n", res(unshare(CLONE_NEWUSER)));
        printf("  then (it only in its own namespace): %s\n", try_link());
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("drop it again: %d\n", set_cap(CAP_DAC_READ_SEARCH, 0));
    printf("new creds, no capability: %s\n", try_link());
    chdir(dir);
    printf("AT_FDCWD and a path: %s\n", res(linkat(AT_FDCWD, "f", dir_fd, "byname", AT_EMPTY_PATH)));
    printf("AT_FDCWD and an empty path: %s\n", res(linkat(AT_FDCWD, "", dir_fd, "cwd", AT_EMPTY_PATH)));
    int o_path = open(path, O_PATH);
    printf("an O_PATH fd opened with these creds: %s\n",
           res(linkat(o_path, "", dir_fd, "opath", AT_EMPTY_PATH)));
    set_cap(CAP_DAC_READ_SEARCH, 1);
    for (int i = 0; i < serial; i++) {
        snprintf(path, sizeof path, "%s/l%d", dir, i);
        unlink(path);
    }
    const char *rest[] = {"byname", "opath", "f"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, rest[i]);
        unlink(path);
    }
    chdir("/");
    printf("rmdir: %s\n", res(rmdir(dir)));
    return 0;
}
