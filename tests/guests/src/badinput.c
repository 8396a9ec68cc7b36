/* Bad guest input gets Linux's errno: wild pointers, huge lengths, negative fds, unterminated
   strings, paths that try to leave the root. Raw syscalls, so libc cannot paper over anything. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define T(name, call) do { errno = 0; long r_ = (call); printf("%-28s %ld %d\n", name, r_, r_ < 0 ? errno : 0); } while (0)

int main(void) {
    char buf[64];
    T("write wild ptr", syscall(SYS_write, 1, (void *)16, 10));
    T("write kernel ptr", syscall(SYS_write, 1, (void *)0xffffffff81000000UL, 10));
    T("read wild ptr", syscall(SYS_read, 0, (void *)16, 10));
    T("read fd -1", syscall(SYS_read, -1, buf, 10));
    T("write fd 9999", syscall(SYS_write, 9999, buf, 1));
    T("close -5", syscall(SYS_close, -5));
    T("fstat wild", syscall(SYS_fstat, 1, (void *)8));
    T("open wild path", syscall(SYS_openat, AT_FDCWD, (void *)4096, O_RDONLY));
    T("open empty path", syscall(SYS_openat, AT_FDCWD, "", O_RDONLY));
    T("dup2 -1", syscall(SYS_dup2, -1, 5));
    T("dup3 same", syscall(SYS_dup3, 1, 1, 0));
    T("lseek bad whence", syscall(SYS_lseek, 1, 0, 99));
    T("mmap huge", (long)syscall(SYS_mmap, 0, 1UL << 62, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    T("munmap len 0", syscall(SYS_munmap, 0x10000, 0));
    T("mprotect unmapped", syscall(SYS_mprotect, 0x10000, 4096, PROT_READ));
    T("getcwd size 1", syscall(SYS_getcwd, buf, 1));
    T("getcwd wild", syscall(SYS_getcwd, (void *)16, 64));
    T("uname wild", syscall(SYS_uname, (void *)16));
    T("clock_gettime wild", syscall(SYS_clock_gettime, 0, (void *)16));
    T("rt_sigaction bad sig", syscall(SYS_rt_sigaction, 0, NULL, NULL, 8));
    T("rt_sigaction SIGKILL", syscall(SYS_rt_sigaction, 9, buf, NULL, 8));
    T("rt_sigaction bad size", syscall(SYS_rt_sigaction, 10, NULL, NULL, 4));
    T("rt_sigprocmask bad how", syscall(SYS_rt_sigprocmask, 7, buf, NULL, 8));
    T("prlimit bad resource", syscall(SYS_prlimit64, 0, 99, NULL, buf));
    T("getrandom bad flags", syscall(SYS_getrandom, buf, 8, 0x80));
    T("set_robust_list len", syscall(SYS_set_robust_list, buf, 7));
    T("pipe wild", syscall(SYS_pipe, (void *)16));
    T("poll too many", syscall(SYS_poll, buf, 1 << 30, 0));
    T("readv negative", syscall(SYS_readv, 0, buf, -1));
    T("writev too many", syscall(SYS_writev, 1, buf, 2000));
    T("arch_prctl bad code", syscall(SYS_arch_prctl, 0x9999, 0));
    T("prctl bad option", syscall(SYS_prctl, 999999, 0, 0, 0, 0));
    T("unknown syscall", syscall(1000));
    /* An unterminated string at the end of a mapping: EFAULT; a path longer than PATH_MAX. */
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(m + 4096, 4096);
    memset(m, 'a', 4096);
    T("open unterminated", syscall(SYS_openat, AT_FDCWD, m, O_RDONLY));
    m[4095] = 0;
    T("open too long", syscall(SYS_openat, AT_FDCWD, m, O_RDONLY));
    /* Leaving the root: /.. is /, symlinks resolve inside. */
    T("chdir /../..", syscall(SYS_chdir, "/../../.."));
    T("getcwd after", syscall(SYS_getcwd, buf, sizeof buf));
    printf("cwd %s\n", buf);
    T("open /../../etc/hostname", syscall(SYS_openat, AT_FDCWD, "/../../etc/hostname", O_RDONLY) >= 0);
    return 0;
}
