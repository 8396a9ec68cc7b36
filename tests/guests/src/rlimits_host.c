/* Resource limits: a program starts with those of the process that ran it (ecs-kernel passes
 * its own on, as a native child inherits them); /proc/PID/limits shows them; setrlimit within
 * the hard limit needs no privilege, above it CAP_SYS_RESOURCE (dropped here: the host's root
 * may lack it), above fs.nr_open nothing helps. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAP_SYS_RESOURCE 24
struct cap_header { uint32_t version; int pid; };
struct cap_data { uint32_t effective, permitted, inheritable; };

static int drop_effective(int cap) {
    struct cap_header h = {0x20080522, 0};
    struct cap_data d[2];
    if (syscall(SYS_capget, &h, d) < 0) return -errno;
    d[cap / 32].effective &= ~(1u << (cap % 32));
    return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static const char *res(int r) { return r == 0 ? "ok" : strerror(errno); }

static void show_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("%s: %s\n", path, strerror(errno));
        return;
    }
    char line[256];
    while (fgets(line, sizeof line, f)) fputs(line, stdout);
    fclose(f);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int r = 0; r < RLIM_NLIMITS; r++) {
        struct rlimit rl;
        getrlimit(r, &rl);
        printf("limit %d: %llu %llu\n", r, (unsigned long long)rl.rlim_cur,
               (unsigned long long)rl.rlim_max);
    }
    show_file("/proc/self/limits");

    struct rlimit nofile, rl;
    getrlimit(RLIMIT_NOFILE, &nofile);
    rl.rlim_cur = rl.rlim_max = nofile.rlim_max;
    printf("soft up to hard: %s\n", res(setrlimit(RLIMIT_NOFILE, &rl)));
    rl.rlim_cur = rl.rlim_max + 1;
    printf("soft above hard: %s\n", res(setrlimit(RLIMIT_NOFILE, &rl)));
    rl.rlim_cur = rl.rlim_max = (1 << 20) + 1;
    printf("above fs.nr_open: %s\n", res(setrlimit(RLIMIT_NOFILE, &rl)));

    printf("drop CAP_SYS_RESOURCE: %d\n", drop_effective(CAP_SYS_RESOURCE));
    rl.rlim_cur = 1000;
    rl.rlim_max = nofile.rlim_max - 1;
    printf("unprivileged, within the hard limit: %s\n", res(setrlimit(RLIMIT_NOFILE, &rl)));
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("now %llu (the hard limit less one: %d)\n", (unsigned long long)rl.rlim_cur,
           rl.rlim_max == nofile.rlim_max - 1);
    rl.rlim_max = nofile.rlim_max;
    printf("unprivileged, raising the hard limit: %s\n", res(setrlimit(RLIMIT_NOFILE, &rl)));

    int p[2];
    pipe(p);
    pid_t child = fork();
    if (child == 0) {
        struct rlimit core = {4096, 8192};
        setrlimit(RLIMIT_CORE, &core);
        write(p[1], "x", 1);
        pause();
        _exit(0);
    }
    char c;
    read(p[0], &c, 1);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/limits", child);
    FILE *f = fopen(path, "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Max core", 8) == 0) printf("child's: %s", line);
    if (f) fclose(f);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return 0;
}
