/* openat2: struct open_how's size and field checks, build_open_flags's rules, and the RESOLVE_*
   flags (NO_SYMLINKS, NO_MAGICLINKS, NO_XDEV, BENEATH, IN_ROOT, CACHED) on a tmpfs tree, /proc's
   magic links and mount crossings. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#define NR_openat2 437
#define R_NO_XDEV 0x01
#define R_NO_MAGICLINKS 0x02
#define R_NO_SYMLINKS 0x04
#define R_BENEATH 0x08
#define R_IN_ROOT 0x10
#define R_CACHED 0x20

struct how { uint64_t flags, mode, resolve; };

static char base_[64];

/* the result: an fd prints as "fd" and the target's name relative to base (readlink) */
static void O(const char *name, int dfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct how h = {flags, mode, resolve};
    errno = 0;
    long r = syscall(NR_openat2, dfd, path, &h, sizeof h);
    if (r < 0) { printf("%s -1 errno %d\n", name, errno); return; }
    char lnk[64], target[512] = "";
    snprintf(lnk, sizeof lnk, "/proc/self/fd/%ld", r);
    long n = readlink(lnk, target, sizeof target - 1);
    if (n > 0) target[n] = 0;
    const char *shown = strncmp(target, base_, strlen(base_)) == 0 ? target + strlen(base_) : target;
    if (strncmp(shown, "/proc/", 6) == 0 && shown[6] >= '0' && shown[6] <= '9') {
        printf("%s fd /proc/PID%s\n", name, strchr(shown + 6, '/'));  /* pids differ */
        close(r);
        return;
    }
    printf("%s fd %s\n", name, shown);
    close(r);
}

#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; printf("%s %ld errno %d\n", name, r_, r_ < 0 ? e_ : 0); } while (0)

int main(void) {
    struct statfs sf;
    const char *base = (statfs("/tmp", &sf) == 0 && sf.f_type == 0x01021994) ? "/tmp" : "/dev/shm";
    snprintf(base_, sizeof base_, "%s/ecs_openat2", base);
    char p[512];
    const char *rm[] = {"a/b/file", "a/link_rel", "a/link_abs", "a/link_abs2", "a/link_up", "a/link_esc",
                        "a/new", "a/b/new2", "a/b", "a"};
    for (unsigned i = 0; i < sizeof rm / sizeof rm[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", base_, rm[i]);
        if (unlink(p)) rmdir(p);
    }
    rmdir(base_);
    umask(022);
    mkdir(base_, 0755);
    snprintf(p, sizeof p, "%s/a", base_); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/a/b", base_); mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/a/b/file", base_); close(open(p, O_CREAT | O_WRONLY, 0644));
    char t[512];
    snprintf(p, sizeof p, "%s/a/link_rel", base_); symlink("b/file", p);
    snprintf(p, sizeof p, "%s/a/link_abs", base_); snprintf(t, sizeof t, "%s/a/b/file", base_); symlink(t, p);
    snprintf(p, sizeof p, "%s/a/link_abs2", base_); symlink("/b/file", p);
    snprintf(p, sizeof p, "%s/a/link_up", base_); symlink("../a/b/file", p);
    snprintf(p, sizeof p, "%s/a/link_esc", base_); symlink("../../../../..", p);
    snprintf(p, sizeof p, "%s/a", base_);
    int a = open(p, O_RDONLY | O_DIRECTORY);
    int bfd = open(base, O_RDONLY | O_DIRECTORY);

    /* open_how */
    O("plain", a, "b/file", O_RDONLY, 0, 0);
    struct how h = {O_RDONLY, 0, 0};
    T("size 0", syscall(NR_openat2, a, "b/file", &h, 0));
    T("size 23", syscall(NR_openat2, a, "b/file", &h, 23));
    T("size 4097", syscall(NR_openat2, a, "b/file", &h, 4097));
    struct { struct how h; uint64_t more; } big = {{O_RDONLY, 0, 0}, 0};
    long fd = syscall(NR_openat2, a, "b/file", &big, sizeof big);
    printf("size 32 zero tail %d\n", fd >= 0);
    if (fd >= 0) close(fd);
    big.more = 1;
    T("size 32 non-zero tail", syscall(NR_openat2, a, "b/file", &big, sizeof big));
    T("how NULL", syscall(NR_openat2, a, "b/file", NULL, sizeof h));
    T("path NULL", syscall(NR_openat2, a, NULL, &h, sizeof h));
    O("empty path", a, "", O_RDONLY, 0, 0);
    O("unknown flag bit 40", a, "b/file", (uint64_t)1 << 40, 0, 0);
    O("unknown flag 0x80000000", a, "b/file", 0x80000000u, 0, 0);
    O("unknown resolve", a, "b/file", O_RDONLY, 0, 0x40);
    O("BENEATH|IN_ROOT", a, "b/file", O_RDONLY, 0, R_BENEATH | R_IN_ROOT);
    O("mode without O_CREAT", a, "b/file", O_RDONLY, 0644, 0);
    O("mode 010000 with O_CREAT", a, "new", O_CREAT | O_WRONLY, 010000, 0);
    O("O_DIRECTORY|O_CREAT", a, "new", O_DIRECTORY | O_CREAT, 0644, 0);
    O("O_PATH|O_RDWR", a, "b/file", O_PATH | O_RDWR, 0, 0);
    O("O_PATH|O_CLOEXEC|O_NOFOLLOW", a, "link_rel", O_PATH | O_CLOEXEC | O_NOFOLLOW, 0, 0);
    O("O_TMPFILE read-only", a, "b", O_TMPFILE | O_RDONLY, 0600, 0);
    O("O_CREAT", a, "new", O_CREAT | O_WRONLY, 0640, 0);
    snprintf(p, sizeof p, "%s/a/new", base_);
    struct stat st;
    stat(p, &st);
    printf("created mode %o\n", st.st_mode & 07777);
    h.flags = O_RDONLY | O_CLOEXEC;
    fd = syscall(NR_openat2, a, "b/file", &h, sizeof h);
    printf("O_CLOEXEC in how: FD_CLOEXEC %d\n", fcntl((int)fd, F_GETFD));
    close(fd);
    O("bad dirfd", 99, "b/file", O_RDONLY, 0, 0);
    O("absolute ignores dirfd", 99, p, O_RDONLY, 0, 0);
    O("dirfd not a dir", 0, "x", O_RDONLY, 0, 0);

    /* RESOLVE_NO_SYMLINKS */
    O("NO_SYMLINKS plain", a, "b/file", O_RDONLY, 0, R_NO_SYMLINKS);
    O("NO_SYMLINKS last", a, "link_rel", O_RDONLY, 0, R_NO_SYMLINKS);
    O("NO_SYMLINKS O_PATH|O_NOFOLLOW", a, "link_rel", O_PATH | O_NOFOLLOW, 0, R_NO_SYMLINKS);
    O("NO_SYMLINKS /proc/self", AT_FDCWD, "/proc/self/status", O_RDONLY, 0, R_NO_SYMLINKS);
    O("NO_SYMLINKS O_CREAT through link", a, "link_rel", O_CREAT | O_WRONLY, 0644, R_NO_SYMLINKS);

    /* RESOLVE_BENEATH */
    O("BENEATH plain", a, "b/file", O_RDONLY, 0, R_BENEATH);
    O("BENEATH dotdot inside", a, "b/../b/file", O_RDONLY, 0, R_BENEATH);
    O("BENEATH dotdot out", a, "../a/b/file", O_RDONLY, 0, R_BENEATH);
    O("BENEATH absolute", a, p, O_RDONLY, 0, R_BENEATH);
    O("BENEATH link_rel", a, "link_rel", O_RDONLY, 0, R_BENEATH);
    O("BENEATH link_abs", a, "link_abs", O_RDONLY, 0, R_BENEATH);
    O("BENEATH link_up", a, "link_up", O_RDONLY, 0, R_BENEATH);
    O("BENEATH dot", a, ".", O_RDONLY, 0, R_BENEATH);
    O("BENEATH dotdot", a, "..", O_RDONLY, 0, R_BENEATH);
    O("BENEATH O_CREAT", a, "b/new2", O_CREAT | O_WRONLY | O_EXCL, 0644, R_BENEATH);

    /* RESOLVE_IN_ROOT */
    O("IN_ROOT absolute", a, "/b/file", O_RDONLY, 0, R_IN_ROOT);
    O("IN_ROOT dotdot stays", a, "../../../b/file", O_RDONLY, 0, R_IN_ROOT);
    O("IN_ROOT link_abs2", a, "link_abs2", O_RDONLY, 0, R_IN_ROOT);
    O("link_abs2 without IN_ROOT", a, "link_abs2", O_RDONLY, 0, 0);
    O("IN_ROOT link_abs", a, "link_abs", O_RDONLY, 0, R_IN_ROOT);
    O("IN_ROOT link_esc", a, "link_esc", O_RDONLY | O_DIRECTORY, 0, R_IN_ROOT);
    O("IN_ROOT bad dirfd absolute", 99, "/b/file", O_RDONLY, 0, R_IN_ROOT);
    O("IN_ROOT root itself", a, "/", O_RDONLY | O_DIRECTORY, 0, R_IN_ROOT);

    /* magic links */
    int keep = open(p, O_RDONLY);
    char mp[64];
    snprintf(mp, sizeof mp, "/proc/self/fd/%d", keep);
    O("magic link", AT_FDCWD, mp, O_RDONLY, 0, 0);
    O("NO_MAGICLINKS magic link", AT_FDCWD, mp, O_RDONLY, 0, R_NO_MAGICLINKS);
    O("NO_MAGICLINKS O_PATH|O_NOFOLLOW", AT_FDCWD, mp, O_PATH | O_NOFOLLOW, 0, R_NO_MAGICLINKS);
    O("NO_MAGICLINKS plain symlink", a, "link_rel", O_RDONLY, 0, R_NO_MAGICLINKS);
    O("NO_MAGICLINKS /proc/self/status", AT_FDCWD, "/proc/self/status", O_RDONLY, 0, R_NO_MAGICLINKS);
    O("NO_SYMLINKS magic link", AT_FDCWD, mp, O_RDONLY, 0, R_NO_SYMLINKS);
    O("NO_MAGICLINKS /proc/self/exe", AT_FDCWD, "/proc/self/exe", O_RDONLY, 0, R_NO_MAGICLINKS);
    int pfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
    char num[16];
    snprintf(num, sizeof num, "%d", keep);
    O("BENEATH magic link", pfd, num, O_RDONLY, 0, R_BENEATH);
    O("IN_ROOT magic link", pfd, num, O_RDONLY, 0, R_IN_ROOT);

    /* RESOLVE_NO_XDEV */
    O("NO_XDEV inside", a, "b/file", O_RDONLY, 0, R_NO_XDEV);
    O("NO_XDEV absolute into a mount", AT_FDCWD, p, O_RDONLY, 0, R_NO_XDEV);
    O("NO_XDEV /proc", AT_FDCWD, "/proc/self/status", O_RDONLY, 0, R_NO_XDEV);
    O("NO_XDEV dotdot out of a mount", bfd, "..", O_RDONLY, 0, R_NO_XDEV);
    O("NO_XDEV dotdot inside", a, "b/..", O_RDONLY, 0, R_NO_XDEV);
    O("NO_XDEV magic link", AT_FDCWD, mp, O_RDONLY, 0, R_NO_XDEV);

    /* RESOLVE_CACHED */
    O("CACHED plain", a, "b/file", O_RDONLY, 0, R_CACHED);
    O("CACHED O_CREAT", a, "b/file", O_CREAT | O_RDONLY, 0644, R_CACHED);
    O("CACHED O_TRUNC", a, "b/file", O_TRUNC | O_WRONLY, 0, R_CACHED);

    close(keep); close(pfd); close(a); close(bfd);
    for (unsigned i = 0; i < sizeof rm / sizeof rm[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", base_, rm[i]);
        if (unlink(p)) rmdir(p);
    }
    rmdir(base_);
    return 0;
}
