/* The legacy vsyscall page (vsyscall=xonly): calls at its fixed addresses run the syscall the
 * kernel emulates; seccomp filters them. Scenarios (argv[1]):
 *   calls   time, gettimeofday and getcpu through the page agree with the syscalls; the page's
 *           line in /proc/self/maps
 *   errno   a filter's SECCOMP_RET_ERRNO for time: the page returns -errno in rax
 *   trap    SECCOMP_RET_TRAP: SIGSYS with si_call_addr the entry, si_syscall time, rax time's
 *   kill    SECCOMP_RET_KILL_PROCESS: the process dies of SIGSYS
 *   bad     a call into the page off an entry point, a read of it, a bad pointer given to
 *           gettimeofday: SIGSEGV (the last at the entry, rax -ENOSYS) */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#define VSYS 0xffffffffff600000UL
typedef long (*fn1)(void *);
typedef long (*fn2)(void *, void *);
typedef long (*fn3)(void *, void *, void *);

struct sock_filter_ { unsigned short code; unsigned char jt, jf; unsigned int k; };
struct sock_fprog_ { unsigned short len; struct sock_filter_ *filter; };

static void filter_time(unsigned int verdict) {
    struct sock_filter_ f[] = {
        {0x20, 0, 0, 0},              /* ld [nr] */
        {0x15, 0, 1, SYS_time},       /* jeq time */
        {0x06, 0, 0, verdict},
        {0x06, 0, 0, 0x7fff0000},     /* ALLOW */
    };
    struct sock_fprog_ p = {4, f};
    syscall(SYS_prctl, 38, 1, 0, 0, 0);  /* PR_SET_NO_NEW_PRIVS */
    if (syscall(SYS_seccomp, 1, 0, &p)) perror("seccomp");
}

static void on_sys(int s, siginfo_t *si, void *uc_) {
    ucontext_t *uc = uc_;
    printf("SIGSYS %d: code %d errno %#x call_addr-is-entry %d syscall %d rax %lld\n", s,
           si->si_code, si->si_errno, (unsigned long)si->si_call_addr == VSYS + 0x400,
           si->si_syscall, (long long)uc->uc_mcontext.gregs[REG_RAX]);
    fflush(stdout);
    _exit(0);
}


static int child(const char *what, void (*body)(void)) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) { body(); _exit(9); }
    int st;
    waitpid(c, &st, 0);
    if (WIFSIGNALED(st)) printf("%s: killed by %d\n", what, WTERMSIG(st));
    else printf("%s: exited %d\n", what, WEXITSTATUS(st));
    return 0;
}

static void do_errno(void) {
    filter_time(0x50000 | 13);
    long t = 0;
    long r = ((fn1)(VSYS + 0x400))(&t);
    printf("time through the page: %ld, t untouched %d\n", r, t == 0);
    fflush(stdout);
}

static void on_segv_info(int s, siginfo_t *si, void *uc_) {
    ucontext_t *uc = uc_;
    unsigned long rip = uc->uc_mcontext.gregs[REG_RIP];
    printf("SIGSEGV %d: code %d addr %#lx rip %s%#lx rax %lld\n", s, si->si_code,
           (unsigned long)si->si_addr, rip >= VSYS ? "vsyscall+" : "(program)",
           rip >= VSYS ? rip - VSYS : 0,
           (long long)uc->uc_mcontext.gregs[REG_RAX]);
    fflush(stdout);
    _exit(0);
}

static void catch_segv(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv_info;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, 0);
}

static void do_badptr(void) {
    catch_segv();
    ((fn2)(VSYS))((void *)8, 0);
    printf("survived a bad pointer\n");
}

static void do_trap(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, 0);
    filter_time(0x30000 | 0xbeef);
    ((fn1)(VSYS + 0x400))(0);
    printf("survived the trap\n");
}

static void do_kill(void) {
    filter_time(0x80000000);
    ((fn1)(VSYS + 0x400))(0);
    printf("survived the kill\n");
}

static void do_misaligned(void) {
    catch_segv();
    ((fn1)(VSYS + 0x100))(0);
    printf("survived a misaligned call\n");
}

static void do_read(void) {
    catch_segv();
    volatile unsigned char *p = (volatile unsigned char *)VSYS;
    printf("read %d\n", p[0]);
}

int main(int argc, char **argv) {
    const char *s = argc > 1 ? argv[1] : "";
    if (!strcmp(s, "calls")) {
        long t1 = 0;
        long r = ((fn1)(VSYS + 0x400))(&t1);
        long t2 = syscall(SYS_time, 0);
        printf("time: returned==stored %d, within a second of the syscall's %d\n", r == t1,
               t2 - r <= 1 && t2 >= r);
        struct timeval tv;
        long g = ((fn2)(VSYS))(&tv, 0);
        printf("gettimeofday: %ld, seconds agree %d\n", g, tv.tv_sec - t2 <= 1 && tv.tv_sec >= t2);
        unsigned cpu = 99, node = 99;
        long c = ((fn3)(VSYS + 0x800))(&cpu, &node, 0);
        printf("getcpu: %ld, a cpu %d node %u\n", c, cpu < 99, node);
        FILE *f = fopen("/proc/self/maps", "r");
        char line[512], last[512] = "";
        while (f && fgets(line, sizeof line, f)) strcpy(last, line);
        printf("last maps line: %s", last);
    } else if (!strcmp(s, "errno")) {
        child("errno", do_errno);
    } else if (!strcmp(s, "trap")) {
        child("trap", do_trap);
    } else if (!strcmp(s, "kill")) {
        child("kill", do_kill);
    } else if (!strcmp(s, "bad")) {
        child("misaligned", do_misaligned);
        child("read", do_read);
        child("bad pointer", do_badptr);
    } else {
        return 2;
    }
    return 0;
}
