/* getdents/getdents64's buffer rules (a count above INT_MAX is EINVAL after ENOTDIR, a buffer
 * outside user space EFAULT, one too small for a record EINVAL, records are written one by one
 * so a buffer that runs into an unwritable page takes what fits and the rest comes next), and
 * lseek on /proc and /sys: directories take SEEK_END, /proc's seq files do not, sysfs and
 * sysctl files seek from their size (a sysfs file's is a page). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int count_all(long nr, int fd, char *buf, unsigned claim) {
    int n = 0;
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        long r = syscall(nr, fd, buf, claim);
        if (r < 0) return -errno;
        if (r == 0) return n;
        for (long pos = 0; pos < r;) {
            pos += *(unsigned short *)(buf + pos + 16);  /* d_reclen in both layouts */
            n++;
        }
    }
}

static void seeks(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("%s: open %s\n", path, strerror(errno));
        return;
    }
    errno = 0;
    long cur = lseek(fd, 0, SEEK_CUR);
    int ecur = errno;
    errno = 0;
    long end = lseek(fd, 0, SEEK_END);
    int eend = errno;
    errno = 0;
    long end5 = lseek(fd, 5, SEEK_END);
    int eend5 = errno;
    errno = 0;
    long set = lseek(fd, 3, SEEK_SET);
    printf("%s: cur %ld/%d end %ld/%d end+5 %ld/%d set %ld/%d\n", path, cur, ecur, end, eend,
           end5, eend5, set, errno);
    close(fd);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char b[512];
    long r;
    errno = 0;
    r = syscall(SYS_getdents64, 999, b, 0x80000000u);
    printf("bad fd, huge count: %ld %s\n", r, strerror(errno));
    int f = open("/proc/self/status", O_RDONLY);
    errno = 0;
    r = syscall(SYS_getdents64, f, b, 0x80000000u);
    printf("not a directory, huge count: %ld %s\n", r, strerror(errno));
    int d = open("/proc/self", O_RDONLY | O_DIRECTORY);
    long nrs[2] = {SYS_getdents64, SYS_getdents};
    for (int i = 0; i < 2; i++) {
        long nr = nrs[i];
        printf("%s\n", nr == SYS_getdents ? "getdents" : "getdents64");
        errno = 0;
        r = syscall(nr, d, b, 0x80000000u);
        printf("  count INT_MAX + 1: %ld %s\n", r, strerror(errno));
        errno = 0;
        r = syscall(nr, d, b, 0xffffffffu);
        printf("  count -1: %ld %s\n", r, strerror(errno));
        errno = 0;
        r = syscall(nr, d, (void *)0x10, 100);
        printf("  unmapped buffer: %ld %s\n", r, strerror(errno));
        errno = 0;
        r = syscall(nr, d, (void *)0xffffffffffff0000ull, 0x7fffffff);
        printf("  kernel buffer: %ld %s\n", r, strerror(errno));
        errno = 0;
        r = syscall(nr, d, b, 10);
        printf("  too small for a record: %ld %s\n", r, strerror(errno));
    }

    /* a directory of 100 files read through 256 bytes before a PROT_NONE page, claimed as 4096 */
    char dir[] = "/tmp/dirents_seek.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[128];
    for (int i = 0; i < 100; i++) {
        snprintf(path, sizeof path, "%s/file_with_a_longish_name_%03d", dir, i);
        close(open(path, O_CREAT | O_WRONLY, 0644));
    }
    long pg = sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(map + pg, pg, PROT_NONE);
    int dd = open(dir, O_RDONLY | O_DIRECTORY);
    printf("all entries through a short buffer (getdents64): %d\n",
           count_all(SYS_getdents64, dd, map + pg - 256, pg));
    printf("all entries through a short buffer (getdents): %d\n",
           count_all(SYS_getdents, dd, map + pg - 256, pg));
    printf("a buffer with no room before the guard page: %d\n",
           count_all(SYS_getdents64, dd, map + pg - 8, pg));
    printf("and then all entries: %d\n", count_all(SYS_getdents64, dd, b, sizeof b));
    for (int i = 0; i < 100; i++) {
        snprintf(path, sizeof path, "%s/file_with_a_longish_name_%03d", dir, i);
        unlink(path);
    }
    rmdir(dir);

    const char *paths[] = {"/proc", "/proc/self", "/proc/self/fd", "/proc/self/task",
                           "/proc/sys", "/proc/sys/kernel", "/sys", "/sys/devices",
                           "/sys/devices/system/cpu", "/proc/self/ns", "/proc/self/fdinfo",
                           "/proc/meminfo", "/proc/stat", "/proc/self/status",
                           "/sys/devices/system/cpu/online", "/proc/sys/kernel/osrelease"};
    for (unsigned i = 0; i < sizeof paths / sizeof *paths; i++) seeks(paths[i]);
    int pd = open("/proc/self", O_RDONLY | O_DIRECTORY);
    lseek(pd, 0, SEEK_END);
    errno = 0;
    r = syscall(SYS_getdents64, pd, b, sizeof b);
    printf("getdents after SEEK_END on /proc/self: %s\n", r >= 0 ? "ok" : strerror(errno));
    struct stat st;
    stat("/sys/devices/system/cpu/online", &st);
    printf("a sysfs file's size %ld blocks %ld\n", (long)st.st_size, (long)st.st_blocks);
    return 0;
}
