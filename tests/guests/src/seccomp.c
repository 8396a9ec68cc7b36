/* seccomp(2): strict mode, filters (ERRNO, TRAP with its siginfo, KILL_PROCESS, KILL_THREAD,
 * LOG, ALLOW), the checks on programs (EINVAL), no_new_privs (EACCES), inheritance by fork and
 * across exec, TSYNC, /proc/self/status. Each case runs in a child; the parent prints what it
 * saw. Run natively and under ecs-kernel: the outputs must match. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* the uapi definitions (linux/filter.h, seccomp.h, audit.h): musl-gcc has no kernel headers */
struct sock_filter { unsigned short code; unsigned char jt, jf; unsigned int k; };
struct sock_fprog { unsigned short len; struct sock_filter *filter; };
struct seccomp_data { int nr; unsigned arch; unsigned long long instruction_pointer, args[6]; };
#define BPF_LD 0x00
#define BPF_LDX 0x01
#define BPF_ST 0x02
#define BPF_STX 0x03
#define BPF_ALU 0x04
#define BPF_JMP 0x05
#define BPF_RET 0x06
#define BPF_MISC 0x07
#define BPF_W 0x00
#define BPF_B 0x10
#define BPF_ABS 0x20
#define BPF_MEM 0x60
#define BPF_LEN 0x80
#define BPF_ADD 0x00
#define BPF_OR 0x40
#define BPF_LSH 0x60
#define BPF_DIV 0x30
#define BPF_MOD 0x90
#define BPF_JA 0x00
#define BPF_JEQ 0x10
#define BPF_JGE 0x30
#define BPF_K 0x00
#define BPF_X 0x08
#define BPF_A 0x10
#define BPF_TAX 0x00
#define BPF_STMT(code, k) { (unsigned short)(code), 0, 0, k }
#define BPF_JUMP(code, k, jt, jf) { (unsigned short)(code), jt, jf, k }
#define SECCOMP_MODE_STRICT 1
#define SECCOMP_SET_MODE_STRICT 0
#define SECCOMP_SET_MODE_FILTER 1
#define SECCOMP_GET_ACTION_AVAIL 2
#define SECCOMP_FILTER_FLAG_TSYNC 1
#define SECCOMP_FILTER_FLAG_LOG 2
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#define SECCOMP_RET_KILL_THREAD 0x00000000U
#define SECCOMP_RET_TRAP 0x00030000U
#define SECCOMP_RET_ERRNO 0x00050000U
#define SECCOMP_RET_LOG 0x7ffc0000U
#define SECCOMP_RET_ALLOW 0x7fff0000U
#define AUDIT_ARCH_X86_64 0xc000003eU
#ifndef PR_SET_SECCOMP
#define PR_GET_SECCOMP 21
#define PR_SET_SECCOMP 22
#endif
#ifndef SYS_seccomp
#define SYS_seccomp 317
#endif

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define LOAD_ARCH BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch))

static long sc(long op, long flags, void *args) { return syscall(SYS_seccomp, op, flags, args); }

/* nr == target -> ret, else ALLOW */
static int install_one(int target, unsigned ret, unsigned flags) {
    struct sock_filter f[] = {
        LOAD_ARCH,
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        LOAD_NR,
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, target, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, ret),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog p = {sizeof f / sizeof f[0], f};
    return sc(SECCOMP_SET_MODE_FILTER, flags, &p);
}

static void report(const char *name, int st) {
    if (WIFEXITED(st)) printf("%s: exit %d\n", name, WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) printf("%s: signal %d\n", name, WTERMSIG(st));
    else printf("%s: status %#x\n", name, st);
    fflush(stdout);
}

static void status_line(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    if (!f) return;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key))) printf("  %s", line);
    fclose(f);
}

static volatile siginfo_t got;
static void on_sys(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    memcpy((void *)&got, si, sizeof got);
}

static int case_errno(void) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (install_one(SYS_getppid, SECCOMP_RET_ERRNO | 42, 0)) return 10;
    errno = 0;
    long r = syscall(SYS_getppid);
    printf("  getppid -> %ld errno %d\n", r, errno);
    errno = 0;
    if (install_one(SYS_getppid, SECCOMP_RET_ERRNO | 5000, 0)) return 11;  /* capped at 4095 */
    r = syscall(SYS_getppid);
    printf("  getppid -> %ld errno %d (two filters: the newer's data of equal actions)\n", r, errno);
    printf("  getpid ok %d\n", getpid() > 0);
    printf("  PR_GET_SECCOMP %d\n", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
    status_line("Seccomp");
    return 0;
}

static int case_trap(void) {
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, 0);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (install_one(SYS_getuid, SECCOMP_RET_TRAP | 0x1234, 0)) return 10;
    long r = syscall(SYS_getuid, 7, 8);
    printf("  getuid -> %ld (the syscall number)\n", r);
    printf("  signo %d code %d errno %#x syscall %d arch %#x call_addr_set %d\n", got.si_signo,
           got.si_code, got.si_errno, got.si_syscall, got.si_arch, got.si_call_addr != 0);
    return 0;
}

static int case_kill(void) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (install_one(SYS_getuid, SECCOMP_RET_KILL_PROCESS, 0)) return 10;
    printf("  before\n");
    fflush(stdout);
    syscall(SYS_getuid);
    printf("  after (not reached)\n");
    return 0;
}

static int case_kill_blocked_ignored(void) {
    /* a kill cannot be caught, blocked or ignored */
    signal(SIGSYS, SIG_IGN);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGSYS);
    sigprocmask(SIG_BLOCK, &s, 0);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (install_one(SYS_getuid, SECCOMP_RET_KILL_PROCESS, 0)) return 10;
    syscall(SYS_getuid);
    return 0;
}

static void *thread_main(void *arg) {
    (void)arg;
    syscall(SYS_getuid);  /* KILL_THREAD: only this thread ends */
    return (void *)1;
}

static int case_kill_thread(void) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    pthread_t th;
    if (pthread_create(&th, 0, thread_main, 0)) return 9;
    /* the thread installs nothing: the main thread's filter before the thread is created */
    return 0;
}

static int case_kill_thread2(void) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (install_one(SYS_getuid, SECCOMP_RET_KILL_THREAD, 0)) return 10;
    pthread_t th;
    if (pthread_create(&th, 0, thread_main, 0)) return 9;
    sleep(1);
    printf("  main thread still runs\n");
    fflush(stdout);
    syscall(SYS_exit_group, 3);
    return 0;
}

static int case_strict(void) {
    static const char msg[] = "  strict: write works\n";
    fflush(stdout);
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0)) return 10;
    syscall(SYS_write, 1, msg, sizeof msg - 1);
    syscall(SYS_getpid);  /* SIGKILL */
    syscall(SYS_exit, 5);
    return 0;
}

static int case_strict_exit(void) {
    static const char msg[] = "  strict: exit works\n";
    fflush(stdout);
    if (sc(SECCOMP_SET_MODE_STRICT, 0, 0)) return 10;
    syscall(SYS_write, 1, msg, sizeof msg - 1);
    syscall(SYS_exit, 6);
    return 0;
}

static int case_inherit(void) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (install_one(SYS_getppid, SECCOMP_RET_ERRNO | 7, 0)) return 10;
    pid_t c = fork();
    if (c == 0) {
        errno = 0;
        long r = syscall(SYS_getppid);
        printf("  child getppid -> %ld errno %d\n", r, errno);
        status_line("Seccomp");
        fflush(stdout);
        char *argv[] = {"/bin/sh", "-c", "exec cat /proc/self/status", 0};
        /* exec keeps the filter: cat's status shows it (grep would need more processes) */
        int p[2];
        pipe(p);
        if (fork() == 0) {
            dup2(p[1], 1);
            close(p[0]);
            execv("/bin/cat", (char *[]){"cat", "/proc/self/status", 0});
            _exit(127);
        }
        close(p[1]);
        char buf[8192];
        int n = 0, k;
        while ((k = read(p[0], buf + n, sizeof buf - 1 - n)) > 0) n += k;
        buf[n] = 0;
        wait(0);
        char *s = strstr(buf, "Seccomp:");
        char *e = s ? strchr(s, '\n') : 0;
        if (e) e = strchr(e + 1, '\n');
        if (s && e) printf("  after exec: %.*s\n", (int)(e - s), s);
        (void)argv;
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    report("  child", st);
    return 0;
}

static int case_checks(void) {
    long r;
    struct sock_filter ok[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog p = {1, ok};
    errno = 0;
    r = sc(SECCOMP_SET_MODE_FILTER, 0, &p);
    printf("  no NO_NEW_PRIVS: %ld errno %d\n", r, errno);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    struct { const char *name; struct sock_filter f[4]; int n; } bad[] = {
        {"empty", {{0}}, 0},
        {"no ret", {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0)}, 1},
        {"unaligned load", {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2), BPF_STMT(BPF_RET | BPF_A, 0)}, 2},
        {"load past data", {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64), BPF_STMT(BPF_RET | BPF_A, 0)}, 2},
        {"byte load", {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0), BPF_STMT(BPF_RET | BPF_A, 0)}, 2},
        {"jump out", {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 3, 0), BPF_STMT(BPF_RET | BPF_K, 0)}, 2},
        {"ja out", {BPF_STMT(BPF_JMP | BPF_JA, 1), BPF_STMT(BPF_RET | BPF_K, 0)}, 2},
        {"div 0", {BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), BPF_STMT(BPF_RET | BPF_A, 0)}, 2},
        {"mod", {BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 3), BPF_STMT(BPF_RET | BPF_A, 0)}, 2},
        {"shift 32", {BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 32), BPF_STMT(BPF_RET | BPF_A, 0)}, 2},
        {"mem unset", {BPF_STMT(BPF_LD | BPF_MEM, 3), BPF_STMT(BPF_RET | BPF_A, 0)}, 2},
        {"mem 16", {BPF_STMT(BPF_ST, 16), BPF_STMT(BPF_RET | BPF_A, 0)}, 2},
        {"ret x", {BPF_STMT(BPF_RET | BPF_X, 0)}, 1},
        {"bad code", {BPF_STMT(0xffff, 0), BPF_STMT(BPF_RET | BPF_K, 0)}, 2},
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sock_fprog b = {bad[i].n, bad[i].f};
        errno = 0;
        long r = sc(SECCOMP_SET_MODE_FILTER, 0, &b);
        printf("  %s: %ld errno %d\n", bad[i].name, r, errno);
    }
    errno = 0;
    r = sc(SECCOMP_SET_MODE_FILTER, 1 << 30, &p);
    printf("  bad flags: %ld errno %d\n", r, errno);
    errno = 0;
    r = sc(99, 0, &p);
    printf("  bad op: %ld errno %d\n", r, errno);
    errno = 0;
    r = sc(SECCOMP_SET_MODE_STRICT, 1, 0);
    printf("  strict with args: %ld errno %d\n", r, errno);
    errno = 0;
    r = sc(SECCOMP_SET_MODE_FILTER, 0, (void *)8);
    printf("  efault: %ld errno %d\n", r, errno);
    unsigned act = SECCOMP_RET_LOG;
    errno = 0;
    printf("  action log avail: %ld\n", sc(SECCOMP_GET_ACTION_AVAIL, 0, &act));
    act = 0x12340000;
    r = sc(SECCOMP_GET_ACTION_AVAIL, 0, &act);
    printf("  action bogus: %ld errno %d\n", r, errno);
    errno = 0;
    r = prctl(PR_SET_SECCOMP, 7, 0, 0, 0);
    printf("  prctl bad mode: %ld errno %d\n", r, errno);
    /* a program using scratch memory, X, ALU and every jump: ERRNO(nr * 2 + 1) for getppid */
    struct sock_filter prog[] = {
        LOAD_NR,
        BPF_STMT(BPF_ST, 0),
        BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
        BPF_STMT(BPF_ALU | BPF_OR | BPF_K, 1),
        BPF_STMT(BPF_STX, 1),
        BPF_STMT(BPF_LD | BPF_MEM, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 64, 0, 3),
        BPF_STMT(BPF_LD | BPF_MEM, 0),
        BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 1),
        BPF_STMT(BPF_ALU | BPF_OR | BPF_K, SECCOMP_RET_ERRNO | 1),
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    struct sock_fprog pp = {sizeof prog / sizeof prog[0], prog};
    printf("  arith filter: %ld\n", sc(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG, &pp));
    errno = 0;
    r = syscall(SYS_getppid);
    printf("  getppid -> %ld errno %d\n", r, errno);
    errno = 0;
    r = sc(SECCOMP_SET_MODE_STRICT, 0, 0);
    printf("  strict after filter: %ld errno %d\n", r, errno);
    return 0;
}

static void *idle_thread(void *arg) {
    (void)arg;
    sleep(1);
    errno = 0;
    long r = syscall(SYS_getppid);
    printf("  thread getppid -> %ld errno %d\n", r, errno);
    fflush(stdout);
    return 0;
}

static int case_tsync(void) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    pthread_t th;
    pthread_create(&th, 0, idle_thread, 0);
    printf("  tsync: %d\n", install_one(SYS_getppid, SECCOMP_RET_ERRNO | 9, SECCOMP_FILTER_FLAG_TSYNC));
    fflush(stdout);
    pthread_join(th, 0);
    return 0;
}

int main(void) {
    struct { const char *name; int (*fn)(void); } cases[] = {
        {"errno", case_errno}, {"trap", case_trap}, {"kill", case_kill},
        {"kill-blocked-ignored", case_kill_blocked_ignored}, {"kill-thread", case_kill_thread2},
        {"strict", case_strict}, {"strict-exit", case_strict_exit}, {"inherit", case_inherit},
        {"checks", case_checks}, {"tsync", case_tsync},
    };
    (void)case_kill_thread;
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        printf("%s\n", cases[i].name);
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) {
            int r = cases[i].fn();
            fflush(stdout);
            _exit(r);
        }
        int st;
        waitpid(c, &st, 0);
        report(cases[i].name, st);
    }
    return 0;
}
