#define _GNU_SOURCE
/* Signal handlers in the guest: frames, masks, siginfo, sigreturn, restarts, timers.
   argv[1] picks the scenario; every line printed must match native Linux. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static volatile sig_atomic_t count, last, depth, maxdepth;
static volatile int info_code, info_value, info_pid_ok, mask_had_usr2;
static sigjmp_buf jb;

static void on(int sig, void (*fn)(int, siginfo_t *, void *), int flags, int also_block) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    if (also_block) sigaddset(&sa.sa_mask, also_block);
    if (sigaction(sig, &sa, NULL)) { perror("sigaction"); exit(90); }
}

static void counting(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    count++;
    last = sig;
    info_code = si->si_code;
    info_value = si->si_value.sival_int;
    info_pid_ok = si->si_pid == getpid();
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    mask_had_usr2 = sigismember(&cur, SIGUSR2);
}

static void nesting(int sig, siginfo_t *si, void *uc) {
    (void)si; (void)uc;
    depth++;
    if (depth > maxdepth) maxdepth = depth;
    if (sig == SIGUSR1) raise(SIGUSR2);  /* delivered inside this handler: nested frames */
    count++;
    depth--;
}

static void fpu_clobber(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)si; (void)uc;
    volatile double x = 123.456;
    for (int i = 0; i < 10; i++) x = x * 1.5 + 0.25;
    count++;
}

static void segv_jump(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    info_code = si->si_code;
    last = sig;
    siglongjmp(jb, 1);
}

static char *page;
static void segv_fix(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    if ((char *)si->si_addr == page + 100) mprotect(page, 4096, PROT_READ | PROT_WRITE);
    count++;
}

static void skip_ud2(int sig, siginfo_t *si, void *ucv) {
    (void)sig; (void)si;
    ucontext_t *uc = ucv;
    uc->uc_mcontext.gregs[REG_RIP] += 2;  /* past the ud2: the restored rip is honoured */
    count++;
}

static unsigned char hlt_insn[] = {0xf4, 0xc3};  /* hlt; ret (copied to an executable page) */
static void *hlt_page;

static void skip_hlt(int sig, siginfo_t *si, void *ucv) {
    ucontext_t *uc = ucv;
    /* #GP in user mode: SIGSEGV, SI_KERNEL, si_addr 0, rip at the hlt itself */
    printf("sig %d code %#x addr %p at-hlt %d\n", sig, si->si_code, si->si_addr,
           uc->uc_mcontext.gregs[REG_RIP] == (greg_t)hlt_page);
    uc->uc_mcontext.gregs[REG_RIP] += 1;
    count++;
}

/* Faulting instructions at known addresses, each followed by `ret` (for "again"). */
__asm__(".text\n"
        ".globl do_div0\ndo_div0: xor %ecx, %ecx\n mov $1, %eax\n xor %edx, %edx\n"
        ".globl div_at\ndiv_at: div %rcx\n ret\n"
        ".globl do_cli\ndo_cli:\n.globl cli_at\ncli_at: cli\n ret\n"
        ".globl do_hlt\ndo_hlt:\n.globl hlt_at\nhlt_at: hlt\n ret\n"
        ".globl do_wild\ndo_wild:\n.globl wild_at\nwild_at: movl 0x10, %eax\n ret\n"
        ".globl do_int3\ndo_int3:\n.globl int3_at\nint3_at: int3\n ret\n"
        ".globl do_kernel\ndo_kernel: movabs $0xffff800000001000, %rax\n jmp *%rax\n");
void do_div0(void), do_cli(void), do_hlt(void), do_wild(void), do_int3(void), do_kernel(void);
extern char div_at[], cli_at[], hlt_at[], wild_at[], int3_at[];
static void report_and_skip(int sig, siginfo_t *si, void *ucv) {
    /* Linux's answer for each fault, then resume at the `ret` after the instruction (a
       handler returning at the instruction would fault again), or jump out (the kernel jump). */
    ucontext_t *uc = ucv;
    char *rip = (char *)uc->uc_mcontext.gregs[REG_RIP];
    const char *at = rip == div_at ? "div" : rip == cli_at ? "cli" : rip == hlt_at ? "hlt"
        : rip == wild_at ? "wild" : rip == int3_at + 1 ? "int3+1" : "elsewhere";
    if (si->si_addr == rip)  /* a position-independent build puts the code anywhere */
        printf("sig %d code %d addr rip at %s\n", sig, si->si_code, at);
    else
        printf("sig %d code %d addr %#lx at %s\n", sig, si->si_code, (unsigned long)si->si_addr, at);
    count++;
    if (!strcmp(at, "elsewhere")) siglongjmp(jb, 1);
    if (!strcmp(at, "int3+1")) return;  /* a trap: rip is past it already */
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(rip + (rip == div_at ? 3 : rip == wild_at ? 7 : 1));
}
static void on_alt(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)si; (void)uc;
    char here;
    stack_t ss;
    sigaltstack(NULL, &ss);
    info_code = (ss.ss_flags & SS_ONSTACK) != 0;
    info_value = (char *)ss.ss_sp <= &here && &here < (char *)ss.ss_sp + ss.ss_size;
    count++;
}

static void plain(int sig) { count++; last = sig; }

static int pfd[2];
static void feed_third(int sig) {  /* SA_RESTART: the read restarts until the third tick feeds it */
    last = sig;
    if (count >= 3)
        return;  /* a tick between the read's return and the timer's end: not the read's business */
    if (++count == 3) write(pfd[1], "x", 1);
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(what, "basic")) {
        on(SIGUSR1, counting, 0, SIGUSR2);
        raise(SIGUSR1);
        printf("count %d last %d code %d pid_ok %d usr2_blocked_in_handler %d\n", count, last,
               info_code, info_pid_ok, mask_had_usr2);
        sigset_t cur;
        sigprocmask(SIG_BLOCK, NULL, &cur);
        printf("usr2 blocked after %d\n", sigismember(&cur, SIGUSR2));
        kill(getpid(), SIGUSR1);
        printf("count %d code %d\n", count, info_code);
        union sigval v = {.sival_int = 77};
        sigqueue(getpid(), SIGRTMIN + 1, v);  /* default action of a real-time signal: terminate */
        return 1;
    }
    if (!strcmp(what, "queue")) {
        on(SIGRTMIN, counting, 0, 0);
        union sigval v = {.sival_int = 4242};
        sigqueue(getpid(), SIGRTMIN, v);
        printf("count %d code %d value %d\n", count, info_code, info_value);
        return 0;
    }
    if (!strcmp(what, "blocked")) {
        on(SIGUSR1, counting, 0, 0);
        sigset_t s, old;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        sigprocmask(SIG_BLOCK, &s, &old);
        raise(SIGUSR1);
        raise(SIGUSR1);  /* a standard signal is pending once */
        sigset_t pend;
        sigpending(&pend);
        printf("pending %d count %d\n", sigismember(&pend, SIGUSR1), count);
        sigprocmask(SIG_SETMASK, &old, NULL);
        printf("after unblock count %d\n", count);
        return 0;
    }
    if (!strcmp(what, "nested")) {
        on(SIGUSR1, nesting, 0, 0);
        on(SIGUSR2, nesting, 0, 0);
        raise(SIGUSR1);
        printf("count %d maxdepth %d\n", count, maxdepth);
        return 0;
    }
    if (!strcmp(what, "resethand")) {
        on(SIGUSR1, counting, SA_RESETHAND, 0);
        raise(SIGUSR1);
        printf("count %d\n", count);
        raise(SIGUSR1);  /* now SIG_DFL: terminate */
        return 2;
    }
    if (!strcmp(what, "fpu")) {
        on(SIGUSR1, fpu_clobber, 0, 0);
        double a = 1.0 / 3.0, b = 2.5;
        for (int i = 0; i < 3; i++) {
            raise(SIGUSR1);
            a = a * b + 1.0;
        }
        printf("count %d a %.12f\n", count, a);
        return 0;
    }
    if (!strcmp(what, "segv")) {
        on(SIGSEGV, segv_jump, 0, 0);
        if (!sigsetjmp(jb, 1)) {
            *(volatile int *)16 = 1;
            printf("not reached\n");
        }
        printf("caught %d code %d\n", last, info_code);
        page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        on(SIGSEGV, segv_fix, 0, 0);
        page[100] = 7;  /* faults once; the handler makes it writable and the store re-runs */
        printf("fixed %d value %d\n", count, page[100]);
        return 0;
    }
    if (!strcmp(what, "ud2")) {
        on(SIGILL, skip_ud2, 0, 0);
        __asm__ volatile("ud2");
        printf("resumed count %d\n", count);
        return 0;
    }
    if (!strcmp(what, "hlt")) {
        hlt_page = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
        memcpy(hlt_page, hlt_insn, sizeof hlt_insn);
        on(SIGSEGV, skip_hlt, 0, 0);
        ((void (*)(void))hlt_page)();
        printf("resumed count %d\n", count);
        return 0;
    }
    if (!strcmp(what, "again")) {  /* the same faults over and over: each reported as itself */
        on(SIGSEGV, report_and_skip, SA_NODEFER, 0);
        on(SIGFPE, report_and_skip, SA_NODEFER, 0);
        on(SIGTRAP, report_and_skip, SA_NODEFER, 0);
        for (int i = 0; i < 3; i++) {
            do_div0();
            do_cli();
            do_hlt();
            do_div0();
            do_wild();
            do_int3();
            if (!sigsetjmp(jb, 1)) do_kernel();
        }
        printf("count %d\n", count);
        return 0;
    }
    if (!strcmp(what, "unmap-after-quanta")) {
        /* Code runs in timer quanta, is unmapped, then other code runs with no timer armed. */
        static const unsigned char spin[] = {0x48, 0x89, 0xf8, 0x48, 0xff, 0xc8, 0x75, 0xfb, 0xc3};
        void *code = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        memcpy(code, spin, sizeof spin);
        on(SIGALRM, counting, SA_RESTART, 0);
        struct itimerval it = {{0, 2000}, {0, 2000}};
        setitimer(ITIMER_REAL, &it, NULL);
        while (count < 3) ((void (*)(long))code)(1000000);
        memset(&it, 0, sizeof it);
        setitimer(ITIMER_REAL, &it, NULL);
        munmap(code, 4096);
        usleep(1000);  /* a blocking call: the engine stops, the next run has no quantum */
        volatile long x = 0;
        for (long i = 0; i < 3000000; i++) x += i;
        usleep(1000);  /* the run ends here: it must end with no fault */
        printf("ticks>=3 %d x %ld\n", count >= 3, x);
        return 0;
    }
    if (!strcmp(what, "altstack")) {
        stack_t ss = {.ss_sp = malloc(65536), .ss_size = 65536, .ss_flags = 0};
        sigaltstack(&ss, NULL);
        on(SIGUSR1, on_alt, SA_ONSTACK, 0);
        raise(SIGUSR1);
        printf("count %d onstack %d within %d\n", count, info_code, info_value);
        stack_t now;
        sigaltstack(NULL, &now);
        printf("after: flags %d\n", now.ss_flags);
        return 0;
    }
    if (!strcmp(what, "alarm-pause")) {
        signal(SIGALRM, plain);
        alarm(1);
        int r = pause();
        printf("pause %d errno %d count %d last %d\n", r, errno, count, last);
        return 0;
    }
    if (!strcmp(what, "alarm-kill")) {
        alarm(1);
        pause();
        return 1;
    }
    if (!strcmp(what, "itimer")) {
        signal(SIGALRM, plain);
        struct itimerval it = {{0, 20000}, {0, 20000}};
        setitimer(ITIMER_REAL, &it, NULL);
        while (count < 5) pause();
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
        printf("ticks %d\n", count >= 5);
        return 0;
    }
    if (!strcmp(what, "sleep-eintr")) {
        signal(SIGALRM, plain);
        struct itimerval it = {{0, 0}, {0, 100000}};
        setitimer(ITIMER_REAL, &it, NULL);
        struct timespec req = {5, 0}, rem = {0, 0};
        int r = nanosleep(&req, &rem);
        printf("nanosleep %d errno %d rem_ok %d\n", r, errno, rem.tv_sec >= 3 && rem.tv_sec < 5);
        return 0;
    }
    if (!strcmp(what, "read-eintr") || !strcmp(what, "read-restart")) {
        int restart = !strcmp(what, "read-restart");
        pipe(pfd);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = restart ? feed_third : plain;
        sa.sa_flags = restart ? SA_RESTART : 0;
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval it = {{0, restart ? 30000 : 0}, {0, 30000}};
        setitimer(ITIMER_REAL, &it, NULL);
        char c = 0;
        errno = 0;
        ssize_t r = read(pfd[0], &c, 1);
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
        printf("read %zd errno %d count %d byte %c\n", r, errno, count, c ? c : '-');
        return 0;
    }
    if (!strcmp(what, "spin-alarm")) {  /* no syscall in the loop: the timer still fires */
        alarm(1);
        for (;;) ;
    }
    if (!strcmp(what, "spin-virtual") || !strcmp(what, "spin-prof")) {
        int prof = !strcmp(what, "spin-prof");
        signal(prof ? SIGPROF : SIGVTALRM, plain);
        struct itimerval it = {{0, 10000}, {0, 10000}};
        setitimer(prof ? ITIMER_PROF : ITIMER_VIRTUAL, &it, NULL);
        while (count < 3) ;
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(prof ? ITIMER_PROF : ITIMER_VIRTUAL, &off, NULL);
        printf("cpu timer fired %d times at least, last %d\n", 3, last);
        return 0;
    }
    if (!strcmp(what, "exec-timers")) {  /* POSIX timers die at execve, alarm() survives */
        timer_t id;
        struct sigevent sev;
        memset(&sev, 0, sizeof sev);
        sev.sigev_notify = SIGEV_NONE;
        if (timer_create(CLOCK_MONOTONIC, &sev, &id)) { perror("timer_create"); return 91; }
        struct itimerspec its = {{0, 0}, {30, 0}};
        timer_settime(id, 0, &its, NULL);
        alarm(30);
        signal(SIGUSR1, SIG_IGN);
        char arg0[] = "handlers", arg1[] = "exec-check";
        char *args[] = {arg0, arg1, NULL};
        execv("/proc/self/exe", args);
        perror("execv");
        return 92;
    }
    if (!strcmp(what, "exec-check")) {
        struct itimerspec cur;
        int r = timer_gettime((timer_t)0, &cur);
        printf("timer_gettime after exec %d errno %d\n", r, r ? errno : 0);
        unsigned left = alarm(0);
        printf("alarm survived %d\n", left > 20 && left <= 30);
        struct sigaction sa;
        sigaction(SIGUSR1, NULL, &sa);
        printf("ignored survived %d\n", sa.sa_handler == SIG_IGN);
        return 0;
    }
    if (!strcmp(what, "sigsuspend")) {
        on(SIGUSR1, counting, 0, 0);
        sigset_t block, old, wait;
        sigemptyset(&block);
        sigaddset(&block, SIGUSR1);
        sigaddset(&block, SIGALRM);
        sigprocmask(SIG_BLOCK, &block, &old);
        signal(SIGALRM, plain);
        alarm(1);
        sigemptyset(&wait);
        int r = sigsuspend(&wait);
        sigset_t cur;
        sigprocmask(SIG_BLOCK, NULL, &cur);
        printf("sigsuspend %d errno %d last %d mask_restored %d\n", r, errno, last,
               sigismember(&cur, SIGALRM));
        return 0;
    }
    if (!strcmp(what, "sigtimedwait")) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        sigprocmask(SIG_BLOCK, &s, NULL);
        union sigval v = {.sival_int = 9};
        sigqueue(getpid(), SIGUSR1, v);
        siginfo_t si;
        struct timespec ts = {0, 50000000};
        int r = sigtimedwait(&s, &si, &ts);
        printf("got %d code %d value %d\n", r, si.si_code, si.si_value.sival_int);
        r = sigtimedwait(&s, &si, &ts);
        printf("again %d errno %d\n", r, errno);
        return 0;
    }
    if (!strcmp(what, "ignore-pending")) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        sigprocmask(SIG_BLOCK, &s, NULL);
        raise(SIGUSR1);
        signal(SIGUSR1, SIG_IGN);  /* discards the pending signal */
        sigset_t pend;
        sigpending(&pend);
        printf("pending after SIG_IGN %d\n", sigismember(&pend, SIGUSR1));
        signal(SIGUSR1, SIG_DFL);
        sigprocmask(SIG_UNBLOCK, &s, NULL);
        printf("alive\n");
        return 0;
    }
    return 99;
}
