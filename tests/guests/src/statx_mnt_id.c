/* statx reports STATX_MNT_ID always, and stx_mnt_id is the id /proc/self/mountinfo gives the
 * mount the path lies in (a directory's own mount, a file its directory's); also through
 * AT_EMPTY_PATH on an fd. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* struct statx as the kernel lays it out (musl's headers may not have it) */
struct kstatx {
    uint32_t mask, blksize;
    uint64_t attributes;
    uint32_t nlink, uid, gid;
    uint16_t mode, pad0;
    uint64_t ino, size, blocks, attributes_mask;
    struct { int64_t sec; uint32_t nsec; int32_t pad; } atime, btime, ctime, mtime;
    uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
    uint64_t mnt_id;
    uint64_t spare[14];
};
#define K_STATX_MNT_ID 0x1000U
#define K_STATX_BASIC_STATS 0x7ffU
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

static int kstatx(int dirfd, const char *path, int flags, unsigned mask, struct kstatx *s) {
    return syscall(SYS_statx, dirfd, path, flags, mask, s);
}

static unsigned long long mountinfo_id(const char *path) {
    /* the mount whose point is the longest prefix of path (paths here have no symlinks) */
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[1024], point[512];
    unsigned long long id, best = 0;
    size_t best_len = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long parent;
        char devno[64], root[512];
        if (sscanf(line, "%llu %llu %63s %511s %511s", &id, &parent, devno, root, point) != 5)
            continue;
        size_t n = strlen(point);
        int under = strcmp(point, "/") == 0 ||
                    (strncmp(path, point, n) == 0 && (path[n] == '/' || path[n] == 0));
        if (under && n >= best_len) {
            best = id;
            best_len = n;
        }
    }
    fclose(f);
    return best;
}

static void check(const char *path, unsigned mask) {
    struct kstatx s;
    memset(&s, 0, sizeof s);
    int r = kstatx(AT_FDCWD, path, 0, mask, &s);
    printf("%s (mask %#x): %d mnt_id bit %d matches mountinfo %d\n", path, mask, r,
           !!(s.mask & K_STATX_MNT_ID), s.mnt_id == mountinfo_id(path));
}

int main(void) {
    const char *paths[] = {"/", "/etc", "/etc/passwd", "/proc", "/proc/self/status", "/dev",
                           "/dev/null", "/sys/devices", "/proc/sys/kernel/osrelease"};
    for (unsigned i = 0; i < sizeof paths / sizeof *paths; i++) {
        check(paths[i], K_STATX_MNT_ID);
        check(paths[i], K_STATX_BASIC_STATS);
    }
    struct kstatx a, b, c;
    kstatx(AT_FDCWD, "/proc", 0, K_STATX_MNT_ID, &a);
    kstatx(AT_FDCWD, "/etc", 0, K_STATX_MNT_ID, &b);
    printf("/proc and /etc differ: %d\n", a.mnt_id != b.mnt_id);
    int fd = open("/proc/self/status", O_RDONLY);
    kstatx(fd, "", AT_EMPTY_PATH, K_STATX_MNT_ID, &c);
    printf("an fd of /proc/self/status: same as /proc: %d\n", c.mnt_id == a.mnt_id);
    int dfd = open("/etc", O_RDONLY | O_DIRECTORY);
    kstatx(dfd, "passwd", 0, K_STATX_MNT_ID, &c);
    printf("passwd through a dirfd: same as /etc: %d\n", c.mnt_id == b.mnt_id);
    return 0;
}
