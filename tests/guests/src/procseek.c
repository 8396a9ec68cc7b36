/* lseek on /proc and /sys: a /proc file seeks from its start or its position only (seq_lseek:
 * SEEK_END is EINVAL), /proc and /sys directories take SEEK_END too (generic_file_llseek), a
 * tmpfs directory does not; a /proc file read after a change shows it (made at read time). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void seek(const char *path, int flags) {
    int fd = open(path, flags);
    if (fd < 0) {
        printf("%s: open %s\n", path, strerror(errno));
        return;
    }
    long cur = lseek(fd, 0, SEEK_CUR);
    long end = lseek(fd, 0, SEEK_END);
    int e = errno;
    long fwd = lseek(fd, 1000, SEEK_CUR);
    long neg = lseek(fd, -5000, SEEK_SET);
    int e2 = errno;
    printf("%s: cur %ld, end %s, cur+1000 %s, set -5000 %ld %s\n", path, cur,
           end < 0 ? strerror(e) : "ok", fwd < 0 ? "fails" : "ok", neg, neg < 0 ? strerror(e2) : "");
    close(fd);
}

static long vmsize(int fd) {
    char buf[4096];
    long kb = -1;
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    char *p = strstr(buf, "VmSize:");
    if (p)
        sscanf(p + 7, "%ld", &kb);
    return kb;
}

int main(void) {
    seek("/proc/meminfo", O_RDONLY);
    seek("/proc/stat", O_RDONLY);
    seek("/proc/self", O_RDONLY | O_DIRECTORY);
    seek("/proc", O_RDONLY | O_DIRECTORY);
    seek("/sys/devices", O_RDONLY | O_DIRECTORY);
    seek("/dev/shm", O_RDONLY | O_DIRECTORY);
    int fd = open("/proc/self/status", O_RDONLY);
    long before = vmsize(fd);
    mmap(NULL, 64 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    long after = vmsize(fd);
    printf("status opened before a 64 MB mmap, read after: grew %d\n", after - before >= 65536);
    return 0;
}
