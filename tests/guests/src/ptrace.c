/* ptrace(2): a tracer and its tracees. Scenarios (argv[1]):
 *   count     TRACEME + exec of ourselves ("child" mode): every syscall stop's number, in order
 *   peekpoke  PEEKDATA/POKEDATA of a variable, PEEKUSER/POKEUSER of the user area
 *   regs      GETREGS/SETREGS: a syscall's number changed at entry, its result at exit
 *   signal    signal-delivery stops: one suppressed, one delivered, one changed; GETSIGINFO
 *   fork      PTRACE_O_TRACEFORK: the event, GETEVENTMSG, the auto-attached grandchild, its exit
 *             seen by the tracer and then by its real parent
 *   seize     SEIZE + INTERRUPT (PTRACE_EVENT_STOP), GET_SYSCALL_INFO, /proc TracerPid, KILL
 *   attach    ATTACH (SIGSTOP), DETACH, EPERM cases, EXITKILL
 *   sysemu    PTRACE_SYSEMU: entry stops whose calls are skipped (rax as the tracer leaves it),
 *             PTRACE_SYSCALL from such a stop (still skipped, then an exit stop), DETACH from one
 *   restart   PTRACE_SYSCALL over a pause() a signal interrupts: the exit stop (rax -ERESTARTNOHAND)
 *             before the signal-delivery stop; suppressed, the call restarts (a new entry stop);
 *             delivered to a handler, it fails with EINTR; rax set to 0 at the exit stop: no restart
 *   detachsig SETSIGINFO changing the signal, then DETACH with it: the new signal is delivered
 *   vforkdone PTRACE_O_TRACEVFORKDONE: the vfork parent waits while its child is stopped, then
 *             PTRACE_EVENT_VFORK_DONE (the child's pid), the vfork's exit stop; its wait4 blocks
 *             until the tracer has reaped the traced child
 *   listen    SEIZE, INTERRUPT, a group stop, PTRACE_LISTEN (ptrace requests fail with ESRCH,
 *             SIGTERM waits), SIGCONT re-traps, DETACH lets SIGTERM kill it
 *   thread    PTRACE_O_TRACECLONE: a thread's clone event, its first stop, its exit (SYS_exit 3)
 *             reported to the tracer's wait, then a second thread killed by the group's exit
 *   peeksiginfo PTRACE_PEEKSIGINFO of the thread's queue and (SHARED) the process's: counts,
 *             offsets, real-time instances with their values, the EINVAL cases
 *   getfilter PTRACE_SECCOMP_GET_FILTER: EINVAL without filters, each filter's length and
 *             instructions as installed (a LEN load included), oldest first, ENOENT past them
 *   threadexec an exec from a non-leader thread: untraced, the new image's tid is the pid; traced
 *             (TRACECLONE|TRACEEXIT[|TRACEEXEC]), the leader's exit stop (status 0) while the exec
 *             waits, then the exec event (the old tid) or SIGTRAP under the leader's pid, then
 *             SIGKILL's exit stop
 *   wclone    a TRACEME child that exits is reaped by its tracer-parent with __WCLONE (tracees
 *             are eligible whatever __WCLONE says); an untraced one is not (ECHILD)
 * Each prints what it saw; run natively and under ecs-kernel, the outputs must match. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <pthread.h>
#include <unistd.h>

#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#ifndef __WALL
#define __WALL 0x40000000
#endif

static long pt(long req, pid_t pid, void *addr, void *data) {
    return syscall(SYS_ptrace, req, pid, addr, data);
}

static void show(const char *what, pid_t pid, int st) {
    (void)pid;
    if (WIFEXITED(st)) printf("%s: exited %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) printf("%s: killed by %d\n", what, WTERMSIG(st));
    else if (WIFSTOPPED(st)) printf("%s: stopped sig %d event %d\n", what, WSTOPSIG(st), st >> 16);
    else printf("%s: status %#x\n", what, st);
    fflush(stdout);
}

static pid_t wait_for(pid_t pid, const char *what) {
    int st;
    pid_t r = waitpid(pid, &st, __WALL);
    if (r < 0) { printf("%s: waitpid errno %d\n", what, errno); fflush(stdout); return r; }
    show(what, r, st);
    return r;
}

/* ---- count ---- */
static int child_mode(void) {
    char buf[] = "child runs\n";
    syscall(SYS_gettid);  /* the marker: what the dynamic loader did before main may differ */
    syscall(SYS_write, 1, buf, sizeof buf - 1);
    syscall(SYS_getpid);
    syscall(SYS_getppid);
    syscall(SYS_exit_group, 3);
    return 0;
}

static int scenario_count(char *self) {
    pid_t c = fork();
    if (c == 0) {
        pt(PTRACE_TRACEME, 0, 0, 0);
        execl(self, self, "child", (char *)0);
        _exit(127);
    }
    wait_for(c, "after exec");
    int st, stops = 0, inside = 0, main_started = 0;
    long nrs[512];
    int n = 0;
    for (;;) {
        pt(PTRACE_SYSCALL, c, 0, 0);
        if (waitpid(c, &st, 0) < 0) break;
        if (!WIFSTOPPED(st)) { show("end", c, st); break; }
        if (WSTOPSIG(st) != SIGTRAP) { show("other stop", c, st); continue; }
        struct user_regs_struct r;
        pt(PTRACE_GETREGS, c, 0, &r);
        main_started |= r.orig_rax == SYS_gettid;
        stops += main_started;
        if (main_started && !inside && n < 512) nrs[n++] = (long)r.orig_rax;
        if (inside && r.orig_rax == SYS_getpid) printf("getpid exit rax == pid: %d\n", (pid_t)r.rax == c);
        inside = !inside;
    }
    printf("syscall stops: %d\nentries:", stops);
    for (int i = 0; i < n; i++) printf(" %ld", nrs[i]);
    printf("\n");
    return 0;
}

/* ---- peekpoke ---- */
static volatile long shared_word = 0x1122334455667788L;

static int scenario_peekpoke(void) {
    pid_t c = fork();
    if (c == 0) {
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        printf("child sees %#lx\n", shared_word);
        fflush(stdout);
        _exit(0);
    }
    wait_for(c, "child");
    errno = 0;
    long w = ptrace(PTRACE_PEEKDATA, c, (void *)&shared_word, 0);
    printf("peek %#lx errno %d\n", w, errno);
    printf("poke %ld\n", pt(PTRACE_POKEDATA, c, (void *)&shared_word, (void *)0x0badcafe0badcafeL));
    errno = 0;
    w = ptrace(PTRACE_PEEKTEXT, c, (void *)&shared_word, 0);
    printf("peek again %#lx\n", w);
    errno = 0;
    ptrace(PTRACE_PEEKDATA, c, (void *)8, 0);
    printf("peek unmapped errno %d\n", errno);
    errno = 0;
    { long r_ = pt(PTRACE_POKEDATA, c, (void *)8, 0); printf("poke unmapped %ld errno %d\n", r_, errno); }
    errno = 0;
    long rip = ptrace(PTRACE_PEEKUSER, c, (void *)offsetof(struct user_regs_struct, rip), 0);
    printf("peekuser rip nonzero %d errno %d\n", rip != 0, errno);
    long cs = ptrace(PTRACE_PEEKUSER, c, (void *)offsetof(struct user_regs_struct, cs), 0);
    printf("peekuser cs %#lx\n", cs);
    errno = 0;
    ptrace(PTRACE_PEEKUSER, c, (void *)3, 0);
    printf("peekuser unaligned errno %d\n", errno);
    errno = 0;
    ptrace(PTRACE_PEEKUSER, c, (void *)4096, 0);
    printf("peekuser past the end errno %d\n", errno);
    errno = 0;
    { long r_ = pt(PTRACE_POKEUSER, c, (void *)offsetof(struct user_regs_struct, cs), (void *)0x10); printf("pokeuser cs %ld errno %d\n", r_, errno); }
    pt(PTRACE_CONT, c, 0, 0);
    wait_for(c, "child");
    return 0;
}

/* ---- regs ---- */
static int scenario_regs(void) {
    pid_t c = fork();
    if (c == 0) {
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        long a = syscall(SYS_getppid);
        long b = syscall(SYS_getuid);
        long d = syscall(SYS_gettid);
        printf("child: getppid %ld, getuid==getpid %d, gettid %ld errno %d\n", a, b == getpid(),
               d, errno);
        fflush(stdout);
        _exit(0);
    }
    wait_for(c, "child");
    int st;
    for (;;) {
        pt(PTRACE_SYSCALL, c, 0, 0);
        waitpid(c, &st, 0);
        if (!WIFSTOPPED(st)) { show("end", c, st); return 0; }
        struct user_regs_struct r;
        pt(PTRACE_GETREGS, c, 0, &r);
        if (r.orig_rax == SYS_getppid && (long)r.rax != -ENOSYS) {  /* exit stop */
            r.rax = 4242;
            printf("setregs at getppid exit: %ld\n", pt(PTRACE_SETREGS, c, 0, &r));
        } else if (r.orig_rax == SYS_getuid && (long)r.rax == -ENOSYS) {  /* entry stop */
            r.orig_rax = SYS_getpid;
            printf("entry rax is -ENOSYS; turn getuid into getpid: %ld\n", pt(PTRACE_SETREGS, c, 0, &r));
        } else if (r.orig_rax == SYS_gettid && (long)r.rax == -ENOSYS) {
            r.orig_rax = -1;  /* skip the call: the result is what rax holds */
            r.rax = -EPERM;
            printf("skip gettid: %ld\n", pt(PTRACE_SETREGS, c, 0, &r));
        } else if (r.orig_rax == SYS_exit_group) {
            pt(PTRACE_CONT, c, 0, 0);
            waitpid(c, &st, 0);
            show("end", c, st);
            return 0;
        }
    }
}

/* ---- signal ---- */
static volatile int got_usr1, got_usr2;
static void on_usr1(int s) { (void)s; got_usr1++; }
static void on_usr2(int s) { (void)s; got_usr2++; }

static int scenario_signal(void) {
    pid_t c = fork();
    if (c == 0) {
        signal(SIGUSR1, on_usr1);
        signal(SIGUSR2, on_usr2);
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        raise(SIGUSR1);  /* suppressed by the tracer */
        raise(SIGUSR1);  /* delivered */
        raise(SIGUSR1);  /* turned into SIGUSR2 */
        printf("child: usr1 %d usr2 %d\n", got_usr1, got_usr2);
        fflush(stdout);
        raise(SIGTERM);  /* delivered: kills */
        _exit(0);
    }
    wait_for(c, "child");
    int round = 0, st;
    pt(PTRACE_CONT, c, 0, 0);
    while (waitpid(c, &st, 0) == c && WIFSTOPPED(st)) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        long r = pt(PTRACE_GETSIGINFO, c, 0, &si);
        printf("stop %d: sig %d getsiginfo %ld signo %d code %d pid_ok %d\n", round,
               WSTOPSIG(st), r, si.si_signo, si.si_code, si.si_pid == c);
        long deliver = 0;
        if (WSTOPSIG(st) == SIGUSR1) deliver = round == 0 ? 0 : round == 1 ? SIGUSR1 : SIGUSR2;
        else deliver = WSTOPSIG(st);
        round++;
        pt(PTRACE_CONT, c, 0, (void *)deliver);
    }
    show("child", c, st);
    return 0;
}

/* ---- fork ---- */
static int scenario_fork(void) {
    pid_t c = fork();
    if (c == 0) {
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        pid_t g = fork();
        if (g == 0) _exit(7);
        int st;
        pid_t r = waitpid(g, &st, 0);
        printf("real parent: waitpid %d exited %d\n", r == g, WEXITSTATUS(st));
        fflush(stdout);
        _exit(5);
    }
    wait_for(c, "child");
    printf("setoptions %ld\n", pt(PTRACE_SETOPTIONS, c, 0,
                                   (void *)(PTRACE_O_TRACEFORK | PTRACE_O_TRACESYSGOOD)));
    pt(PTRACE_CONT, c, 0, 0);
    int st;
    waitpid(c, &st, 0);
    show("child", c, st);
    unsigned long msg = 0;
    pt(PTRACE_GETEVENTMSG, c, 0, &msg);
    pid_t g = (pid_t)msg;
    printf("event fork: %d, message is a pid %d\n", st >> 8 == (SIGTRAP | PTRACE_EVENT_FORK << 8), g > 0);
    int gst;
    pid_t r = waitpid(g, &gst, __WALL);
    printf("grandchild first stop: found %d sigstop %d\n", r == g, WIFSTOPPED(gst) && WSTOPSIG(gst) == SIGSTOP);
    pt(PTRACE_CONT, g, 0, 0);
    r = waitpid(g, &gst, __WALL);
    printf("tracer sees the grandchild exit: %d status %d\n", r == g, WEXITSTATUS(gst));
    errno = 0;
    r = waitpid(g, &gst, __WALL | WNOHANG);
    printf("tracer waits again for it: %d errno %d\n", r, errno);
    for (;;) {  /* the child's SIGCHLD (a signal-delivery stop), then its exit */
        pt(PTRACE_CONT, c, 0, 0);
        waitpid(c, &st, 0);
        show("child", c, st);
        if (!WIFSTOPPED(st)) break;
    }
    return 0;
}

/* ---- seize ---- */
static int scenario_seize(void) {
    int p[2];
    pipe(p);
    pid_t c = fork();
    if (c == 0) {
        char x;
        close(p[1]);
        read(p[0], &x, 1);  /* blocked in read while it is seized and interrupted */
        syscall(SYS_getpid);
        _exit(9);
    }
    close(p[0]);
    usleep(100000);
    printf("seize %ld\n", pt(PTRACE_SEIZE, c, 0, (void *)(long)PTRACE_O_TRACESYSGOOD));
    int st;
    printf("nohang before interrupt: %d\n", waitpid(c, &st, __WALL | WNOHANG));
    printf("interrupt %ld\n", pt(PTRACE_INTERRUPT, c, 0, 0));
    waitpid(c, &st, __WALL);
    printf("stopped %d sig %d event-stop %d\n", WIFSTOPPED(st), WSTOPSIG(st), st >> 16 == PTRACE_EVENT_STOP);
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", c);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "TracerPid:", 10)) printf("tracer pid is ours %d\n", atoi(line + 10) == getpid());
        if (!strncmp(line, "State:", 6)) printf("%s", line);
    }
    if (f) fclose(f);
    write(p[1], "x", 1);
    int entries = 0;
    for (;;) {
        pt(PTRACE_SYSCALL, c, 0, 0);
        if (waitpid(c, &st, __WALL) < 0) break;
        if (!WIFSTOPPED(st)) break;
        if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
            struct { uint8_t op, pad[3]; uint32_t arch; uint64_t ip, sp; uint64_t a[7]; } info;
            memset(&info, 0, sizeof info);
            long n = pt(PTRACE_GET_SYSCALL_INFO, c, (void *)sizeof info, &info);
            if (info.op == 1) {
                entries++;
                if (info.a[0] == SYS_getpid)
                    printf("get_syscall_info entry: size %ld arch %#x getpid\n", n, info.arch);
            } else if (info.op == 2 && entries == 2) {
                printf("get_syscall_info exit: size %ld rval==pid %d is_error %d\n", n,
                       (pid_t)info.a[0] == c, (int)(info.a[1] & 0xff));
            }
        }
    }
    show("child", c, st);
    return 0;
}

/* ---- seccomp: SECCOMP_RET_TRACE and PTRACE_O_TRACESECCOMP ---- */
struct sock_filter_ { unsigned short code; unsigned char jt, jf; unsigned int k; };
struct sock_fprog_ { unsigned short len; struct sock_filter_ *filter; };

static int scenario_seccomp(void) {
    pid_t c = fork();
    if (c == 0) {
        struct sock_filter_ f[] = {
            {0x20, 0, 0, 0},
            {0x15, 0, 1, SYS_getppid}, {0x06, 0, 0, 0x7ff00000 | 0x42},
            {0x15, 0, 1, SYS_getuid}, {0x06, 0, 0, 0x7ff00000 | 0x43},
            {0x06, 0, 0, 0x7fff0000},
        };
        struct sock_fprog_ p = {6, f};
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        syscall(SYS_prctl, 38, 1, 0, 0, 0);  /* PR_SET_NO_NEW_PRIVS */
        syscall(SYS_seccomp, 1, 0, &p);
        long a = syscall(SYS_getppid);
        long b = syscall(SYS_getuid);
        printf("child: getppid is the parent %d, getuid %ld\n", a == getppid(), b);
        fflush(stdout);
        _exit(0);
    }
    wait_for(c, "child");
    pt(PTRACE_SETOPTIONS, c, 0, (void *)(long)0x80 /* PTRACE_O_TRACESECCOMP */);
    int st;
    for (;;) {
        pt(PTRACE_CONT, c, 0, 0);
        if (waitpid(c, &st, 0) < 0 || !WIFSTOPPED(st)) break;
        if (st >> 8 != (SIGTRAP | 7 << 8)) { show("other stop", c, st); continue; }
        unsigned long msg = 0;
        pt(PTRACE_GETEVENTMSG, c, 0, &msg);
        struct { uint8_t op, pad[3]; uint32_t arch; uint64_t ip, sp; uint64_t a[7]; uint32_t ret; } info;
        memset(&info, 0, sizeof info);
        long n = pt(PTRACE_GET_SYSCALL_INFO, c, (void *)sizeof info, &info);
        printf("seccomp event: data %#lx info size %ld op %d nr %ld\n", msg, n, info.op, (long)info.a[0]);
        if (msg == 0x43) {
            struct user_regs_struct r;
            pt(PTRACE_GETREGS, c, 0, &r);
            r.orig_rax = -1;
            r.rax = 77;
            pt(PTRACE_SETREGS, c, 0, &r);
        }
    }
    show("child", c, st);
    /* a seccomp kill is not the tracer's to cancel: no signal-delivery stop, the tracee dies */
    c = fork();
    if (c == 0) {
        struct sock_filter_ f[] = {
            {0x20, 0, 0, 0}, {0x15, 0, 1, SYS_getuid}, {0x06, 0, 0, 0x80000000U},
            {0x06, 0, 0, 0x7fff0000},
        };
        struct sock_fprog_ p = {4, f};
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        syscall(SYS_prctl, 38, 1, 0, 0, 0);
        syscall(SYS_seccomp, 1, 0, &p);
        syscall(SYS_getuid);
        _exit(0);
    }
    wait_for(c, "killed child");
    for (;;) {
        pt(PTRACE_CONT, c, 0, 0);
        if (waitpid(c, &st, 0) < 0) break;
        show("killed child", c, st);
        if (!WIFSTOPPED(st)) break;
    }
    return 0;
}

/* ---- step: PTRACE_SINGLESTEP over three instructions after a breakpoint ---- */
static int scenario_step(void) {
    pid_t c = fork();
    if (c == 0) {
        int out;
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        __asm__ volatile("int3\n\tnop\n\tnop\n\tmov $42, %%eax\n\tmov %%eax, %0" : "=r"(out) : : "eax");
        printf("child: out %d\n", out);
        fflush(stdout);
        _exit(0);
    }
    wait_for(c, "child");
    pt(PTRACE_CONT, c, 0, 0);
    wait_for(c, "child at int3");
    struct user_regs_struct r;
    pt(PTRACE_GETREGS, c, 0, &r);
    unsigned long long rip = r.rip;
    for (int i = 0; i < 3; i++) {
        int st;
        long res = pt(PTRACE_SINGLESTEP, c, 0, 0);
        waitpid(c, &st, 0);
        siginfo_t si;
        pt(PTRACE_GETSIGINFO, c, 0, &si);
        pt(PTRACE_GETREGS, c, 0, &r);
        printf("step %d: %ld, stopped %d sig %d code %d, rip +%llu, eax %llu\n", i, res,
               WIFSTOPPED(st), WSTOPSIG(st), si.si_code, r.rip - rip, r.rax & 0xffffffff);
        rip = r.rip;
    }
    pt(PTRACE_CONT, c, 0, 0);
    wait_for(c, "child");
    return 0;
}

/* ---- attach ---- */
static int scenario_attach(void) {
    errno = 0;
    { long r_ = pt(PTRACE_ATTACH, getpid(), 0, 0); printf("attach self: %ld errno %d\n", r_, errno); }
    errno = 0;
    { long r_ = pt(PTRACE_ATTACH, 999999, 0, 0); printf("attach nobody: %ld errno %d\n", r_, errno); }
    errno = 0;
    { long r_ = pt(PTRACE_CONT, getppid(), 0, 0); printf("cont a non-tracee: %ld errno %d\n", r_, errno); }
    pid_t c = fork();
    if (c == 0) {
        for (;;) pause();
    }
    usleep(50000);
    printf("attach %ld\n", pt(PTRACE_ATTACH, c, 0, 0));
    wait_for(c, "child");
    errno = 0;
    { long r_ = pt(PTRACE_ATTACH, c, 0, 0); printf("attach twice: %ld errno %d\n", r_, errno); }
    printf("detach %ld\n", pt(PTRACE_DETACH, c, 0, 0));
    errno = 0;
    { long r_ = pt(PTRACE_CONT, c, 0, 0); printf("cont after detach: %ld errno %d\n", r_, errno); }
    kill(c, SIGTERM);
    wait_for(c, "child");
    /* EXITKILL: a tracer that exits takes its tracee with it */
    pid_t victim = fork();
    if (victim == 0) {
        for (;;) pause();
    }
    pid_t tracer = fork();
    if (tracer == 0) {
        pt(PTRACE_SEIZE, victim, 0, (void *)(long)PTRACE_O_EXITKILL);
        _exit(0);
    }
    wait_for(tracer, "tracer");
    wait_for(victim, "victim");
    return 0;
}

/* ---- wclone: the tracer's wait sees a zombie tracee whatever __WCLONE says ---- */
static int scenario_wclone(void) {
    int fds[2];
    pipe(fds);
    pid_t c = fork();
    if (c == 0) {
        close(fds[0]);
        pt(PTRACE_TRACEME, 0, 0, 0);
        close(fds[1]);
        _exit(3);
    }
    close(fds[1]);
    char x;
    printf("read after TRACEME: %zd\n", read(fds[0], &x, 1));
    close(fds[0]);
    int st = 0;
    errno = 0;
    pid_t r = wait4(c, &st, 0x80000000 /* __WCLONE */, 0);
    printf("tracee: wait4 __WCLONE found %d errno %d\n", r == c, errno);
    if (r == c) show("tracee", c, st);
    pid_t u = fork();
    if (u == 0) _exit(4);
    usleep(20000);
    errno = 0;
    r = wait4(u, &st, 0x80000000 | WNOHANG, 0);
    printf("untraced: wait4 __WCLONE %d errno %d\n", r, errno);
    wait_for(u, "untraced");
    return 0;
}

/* ---- sysemu: the tracer emulates the calls ---- */
#ifndef PTRACE_SYSEMU
#define PTRACE_SYSEMU 31
#endif
static int scenario_sysemu(void) {
    pid_t c = fork();
    if (c == 0) {
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        long a = syscall(SYS_getppid);
        long b = syscall(SYS_write, 1, "not written\n", 12);
        long d = syscall(SYS_getpid);
        long e = syscall(SYS_exit_group, 9);
        printf("child: getppid %ld write %ld getpid %ld exit_group %ld\n", a, b, d, e);
        fflush(stdout);
        _exit(0);
    }
    wait_for(c, "child");
    struct user_regs_struct r;
    int st;
    long req = PTRACE_SYSEMU;
    for (int i = 0; i < 5; i++) {
        printf("resume %ld\n", pt(req, c, 0, 0));
        waitpid(c, &st, 0);
        pt(PTRACE_GETREGS, c, 0, &r);
        printf("stop %d: sig %d orig_rax %lld rax %lld\n", i, WSTOPSIG(st), (long long)r.orig_rax,
               (long long)r.rax);
        if (i < 2) {
            r.rax = 1000 + i;
            pt(PTRACE_SETREGS, c, 0, &r);
            req = i == 1 ? PTRACE_SYSCALL : PTRACE_SYSEMU;
        } else if (i < 4) {
            pt(PTRACE_POKEUSER, c, (void *)offsetof(struct user_regs_struct, rax), (void *)(77L + i));
            req = PTRACE_SYSEMU;
        }
    }
    pt(PTRACE_POKEUSER, c, (void *)offsetof(struct user_regs_struct, rax), (void *)42L);
    printf("detach %ld\n", pt(PTRACE_DETACH, c, 0, 0));
    wait_for(c, "child");
    return 0;
}

/* ---- restart: a blocked call's exit stop comes before the signal's stop ---- */
static volatile int handled;
static void on_usr2_count(int s) { (void)s; handled++; }

static void regs_line(pid_t c, const char *what, int st) {
    struct user_regs_struct r;
    pt(PTRACE_GETREGS, c, 0, &r);
    printf("%s: sig %d orig_rax %lld rax %lld\n", what, WIFSTOPPED(st) ? WSTOPSIG(st) : -1,
           (long long)r.orig_rax, (long long)r.rax);
    fflush(stdout);
}

/* PTRACE_SYSCALL (the first with ``sig``) until the entry stop of a pause */
static void pause_entry(pid_t c, long sig, const char *what) {
    int st;
    for (int i = 0; i < 16; i++) {
        pt(PTRACE_SYSCALL, c, 0, (void *)(i ? 0 : sig));
        if (waitpid(c, &st, 0) != c || !WIFSTOPPED(st)) break;
        struct user_regs_struct r;
        pt(PTRACE_GETREGS, c, 0, &r);
        if (r.orig_rax == SYS_pause && (long long)r.rax == -ENOSYS) {
            regs_line(c, what, st);
            return;
        }
    }
    printf("%s: no pause\n", what);
}

static int scenario_restart(void) {
    pid_t c = fork();
    if (c == 0) {
        signal(SIGUSR1, SIG_IGN);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr2_count;
        sigaction(SIGUSR2, &sa, 0);
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        errno = 0;
        long a = syscall(SYS_pause);
        int ea = errno;
        errno = 0;
        long b = syscall(SYS_pause);
        int eb = errno;
        printf("child: pause %ld errno %d, pause %ld errno %d, handled %d\n", a, ea, b, eb, handled);
        fflush(stdout);
        _exit(0);
    }
    int st;
    wait_for(c, "child");
    pause_entry(c, 0, "entry");  /* (musl's raise restores its mask first) */
    pt(PTRACE_SYSCALL, c, 0, 0);
    usleep(100000);
    printf("blocked: %d\n", waitpid(c, &st, WNOHANG));
    kill(c, SIGUSR1);
    waitpid(c, &st, 0);
    regs_line(c, "exit", st);
    pt(PTRACE_SYSCALL, c, 0, 0);
    waitpid(c, &st, 0);
    regs_line(c, "signal", st);
    pt(PTRACE_SYSCALL, c, 0, 0);  /* suppressed: pause restarts */
    waitpid(c, &st, 0);
    regs_line(c, "restarted entry", st);
    pt(PTRACE_SYSCALL, c, 0, 0);
    usleep(100000);
    kill(c, SIGUSR2);
    waitpid(c, &st, 0);
    regs_line(c, "exit again", st);
    pt(PTRACE_SYSCALL, c, 0, 0);
    waitpid(c, &st, 0);
    regs_line(c, "signal again", st);
    /* delivered: the handler runs, EINTR; then its rt_sigreturn, and the second pause */
    pause_entry(c, SIGUSR2, "second pause");
    pt(PTRACE_SYSCALL, c, 0, 0);
    usleep(100000);
    kill(c, SIGUSR1);
    waitpid(c, &st, 0);
    regs_line(c, "second exit", st);
    pt(PTRACE_POKEUSER, c, (void *)offsetof(struct user_regs_struct, rax), 0);
    pt(PTRACE_DETACH, c, 0, 0);
    wait_for(c, "child");
    return 0;
}

/* ---- detachsig: the signal a detach delivers, its siginfo set by the tracer ---- */
static void on_sig_exit(int s, siginfo_t *si, void *u) {
    (void)u;
    printf("child: handler signal %d si_signo %d si_code %d\n", s, si->si_signo, si->si_code);
    fflush(stdout);
    _exit(s);
}

static int scenario_detachsig(void) {
    pid_t c = fork();
    if (c == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sig_exit;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGUSR1, &sa, 0);
        sigaction(SIGUSR2, &sa, 0);
        sigaction(SIGWINCH, &sa, 0);
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGUSR1);
        _exit(0);
    }
    int st;
    wait_for(c, "child");
    siginfo_t si;
    memset(&si, 0, sizeof si);
    pt(PTRACE_GETSIGINFO, c, 0, &si);
    printf("siginfo: signo %d code %d\n", si.si_signo, si.si_code);
    si.si_signo = SIGUSR2;
    si.si_code = -42;
    printf("setsiginfo %ld\n", pt(PTRACE_SETSIGINFO, c, 0, &si));
    printf("detach %ld\n", pt(PTRACE_DETACH, c, 0, (void *)SIGUSR2));
    waitpid(c, &st, 0);
    show("child", c, st);
    (void)st;
    return 0;
}

/* ---- vforkdone ---- */
#ifndef PTRACE_EVENT_VFORK_DONE
#define PTRACE_EVENT_VFORK_DONE 5
#endif
static int scenario_vforkdone(void) {
    pid_t c = fork();
    if (c == 0) {
        sigset_t m;
        sigemptyset(&m);
        sigaddset(&m, SIGCHLD);
        sigprocmask(SIG_SETMASK, &m, 0);
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        pid_t g = vfork();
        if (g == 0) _exit(7);
        int st;
        pid_t r = wait4(g, &st, 0, 0);
        _exit(r == g && WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : 1);
    }
    int st;
    wait_for(c, "child");
    printf("setoptions %ld\n", pt(PTRACE_SETOPTIONS, c, 0, (void *)(long)(PTRACE_O_TRACEVFORK |
           PTRACE_O_TRACEVFORKDONE | PTRACE_O_TRACESYSGOOD)));
    pt(PTRACE_CONT, c, 0, 0);
    waitpid(c, &st, 0);
    printf("vfork event %d\n", st >> 8 == (SIGTRAP | PTRACE_EVENT_VFORK << 8));
    unsigned long msg = 0;
    pt(PTRACE_GETEVENTMSG, c, 0, &msg);
    pid_t g = (pid_t)msg;
    printf("grandchild stopped: %d\n", waitpid(g, &st, __WALL) == g && WSTOPSIG(st) == SIGSTOP);
    pt(PTRACE_SYSCALL, c, 0, 0);
    usleep(100000);
    printf("vfork parent waits: %d\n", waitpid(c, &st, WNOHANG));
    pt(PTRACE_CONT, g, 0, 0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    waitid(P_PID, g, &si, WEXITED | WNOWAIT);
    printf("grandchild exited: code %d status %d\n", si.si_code, si.si_status);
    waitpid(c, &st, 0);
    msg = 0;
    pt(PTRACE_GETEVENTMSG, c, 0, &msg);
    printf("vfork done event %d, message is the grandchild %d\n",
           st >> 8 == (SIGTRAP | PTRACE_EVENT_VFORK_DONE << 8), (pid_t)msg == g);
    struct user_regs_struct r;
    pt(PTRACE_SYSCALL, c, 0, 0);
    waitpid(c, &st, 0);
    pt(PTRACE_GETREGS, c, 0, &r);
    printf("vfork exit stop: sig %#x vfork-or-clone %d returns the grandchild %d\n", WSTOPSIG(st),
           r.orig_rax == SYS_vfork || r.orig_rax == SYS_clone, (pid_t)r.rax == g);
    pt(PTRACE_SYSCALL, c, 0, 0);
    waitpid(c, &st, 0);
    pt(PTRACE_GETREGS, c, 0, &r);
    printf("wait4 entry: %d\n", r.orig_rax == SYS_wait4);
    pt(PTRACE_SYSCALL, c, 0, 0);
    usleep(100000);
    printf("wait4 blocks: %d\n", waitpid(c, &st, WNOHANG));
    printf("tracer reaps the grandchild: %d\n", waitpid(g, &st, __WALL) == g);
    waitpid(c, &st, 0);
    pt(PTRACE_GETREGS, c, 0, &r);
    printf("wait4 exit stop: %d returns the grandchild %d\n", r.orig_rax == SYS_wait4,
           (pid_t)r.rax == g);
    pt(PTRACE_DETACH, c, 0, 0);
    wait_for(c, "child");
    return 0;
}

/* ---- listen ---- */
#ifndef PTRACE_LISTEN
#define PTRACE_LISTEN 0x4208
#endif
static int scenario_listen(void) {
    pid_t c = fork();
    if (c == 0) {
        for (;;) usleep(50000);
    }
    int st;
    printf("seize %ld\n", pt(PTRACE_SEIZE, c, 0, 0));
    printf("interrupt %ld\n", pt(PTRACE_INTERRUPT, c, 0, 0));
    waitpid(c, &st, 0);
    printf("event stop %d\n", st >> 8 == (SIGTRAP | PTRACE_EVENT_STOP << 8));
    kill(c, SIGSTOP);
    pt(PTRACE_CONT, c, 0, 0);
    wait_for(c, "child");
    pt(PTRACE_CONT, c, 0, (void *)SIGSTOP);
    waitpid(c, &st, 0);
    printf("group stop %d\n", st >> 8 == (SIGSTOP | PTRACE_EVENT_STOP << 8));
    printf("listen %ld\n", pt(PTRACE_LISTEN, c, 0, 0));
    errno = 0;
    { long r_ = pt(PTRACE_CONT, c, 0, 0); printf("cont while listening: %ld errno %d\n", r_, errno); }
    errno = 0;
    { long r_ = pt(PTRACE_LISTEN, c, 0, 0); printf("listen again: %ld errno %d\n", r_, errno); }
    printf("nohang: %d\n", waitpid(c, &st, WNOHANG));
    kill(c, SIGTERM);
    usleep(100000);
    printf("nohang after SIGTERM: %d\n", waitpid(c, &st, WNOHANG));
    kill(c, SIGCONT);
    waitpid(c, &st, 0);
    printf("re-trapped %d\n", st >> 8 == (SIGTRAP | PTRACE_EVENT_STOP << 8));
    printf("detach %ld\n", pt(PTRACE_DETACH, c, 0, 0));
    wait_for(c, "child");
    return 0;
}

/* ---- thread: a traced thread's exit is its tracer's to reap ---- */
static void *thread_exits(void *a) { (void)a; syscall(SYS_exit, 3); return 0; }
static void *thread_sleeps(void *a) { (void)a; for (;;) pause(); return 0; }

static pid_t clone_event(pid_t c, const char *what) {
    int st;
    waitpid(c, &st, __WALL);
    unsigned long msg = 0;
    pt(PTRACE_GETEVENTMSG, c, 0, &msg);
    printf("%s: clone event %d\n", what, st >> 8 == (SIGTRAP | PTRACE_EVENT_CLONE << 8));
    pid_t t = (pid_t)msg;
    int tst;
    printf("%s: thread's first stop %d\n", what, waitpid(t, &tst, __WALL) == t &&
           WIFSTOPPED(tst) && WSTOPSIG(tst) == SIGSTOP);
    return t;
}

static int scenario_thread(void) {
    pid_t c = fork();
    if (c == 0) {
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        pthread_t th;
        pthread_create(&th, 0, thread_exits, 0);
        usleep(200000);  /* (its exit is not joined: the tracer holds the zombie) */
        pthread_create(&th, 0, thread_sleeps, 0);
        usleep(100000);
        _exit(6);
    }
    int st;
    wait_for(c, "child");
    pt(PTRACE_SETOPTIONS, c, 0, (void *)(long)PTRACE_O_TRACECLONE);
    pt(PTRACE_CONT, c, 0, 0);
    pid_t t1 = clone_event(c, "first");
    pt(PTRACE_CONT, t1, 0, 0);
    pt(PTRACE_CONT, c, 0, 0);
    pid_t r = waitpid(t1, &st, __WALL);
    printf("first thread: reaped %d\n", r == t1);
    show("first thread", r, st);
    errno = 0;
    r = waitpid(t1, &st, __WALL | WNOHANG);
    printf("first thread again: %d errno %d\n", r, errno);
    pid_t t2 = clone_event(c, "second");
    pt(PTRACE_CONT, t2, 0, 0);
    pt(PTRACE_CONT, c, 0, 0);
    int seen = 0;
    for (int i = 0; i < 4; i++) {  /* the group's exit: both the thread's and the leader's */
        r = waitpid(-1, &st, __WALL);
        if (r < 0) break;
        if (r == t2) { seen |= 1; show("second thread", r, st); }
        else if (r == c) { seen |= 2; show("child", r, st); }
        if (seen == 3) break;
    }
    return 0;
}

/* ---- peeksiginfo ---- */
#ifndef PTRACE_PEEKSIGINFO
#define PTRACE_PEEKSIGINFO 0x4209
#endif
struct peek_args { uint64_t off; uint32_t flags; int32_t nr; };

static void peek(pid_t c, uint64_t off, uint32_t flags, int32_t nr, const char *what) {
    siginfo_t si[8];
    memset(si, 0, sizeof si);
    struct peek_args a = {off, flags, nr};
    errno = 0;
    long n = pt(PTRACE_PEEKSIGINFO, c, &a, si);
    printf("%s: %ld errno %d", what, n, errno);
    for (long i = 0; i < n && i < 8; i++)
        printf(" [signo %d code %d value %d pid-ok %d]", si[i].si_signo, si[i].si_code,
               si[i].si_value.sival_int, si[i].si_pid == c);
    printf("\n");
}

static int scenario_peeksiginfo(void) {
    pid_t c = fork();
    if (c == 0) {
        sigset_t m;
        sigemptyset(&m);
        sigaddset(&m, SIGUSR1);
        sigaddset(&m, SIGRTMIN + 1);
        sigprocmask(SIG_BLOCK, &m, 0);
        union sigval v;
        v.sival_int = 5;
        sigqueue(getpid(), SIGRTMIN + 1, v);
        v.sival_int = 6;
        sigqueue(getpid(), SIGRTMIN + 1, v);
        syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        _exit(0);
    }
    wait_for(c, "child");
    peek(c, 0, 0, 4, "thread queue");
    peek(c, 0, 1, 8, "shared queue");
    peek(c, 1, 1, 8, "shared from 1");
    peek(c, 2, 1, 8, "shared from 2");
    peek(c, 0, 1, 1, "shared, one");
    peek(c, 0, 1, 0, "none asked");
    peek(c, 0, 2, 1, "bad flags");
    peek(c, 0, 0, -1, "negative count");
    kill(c, SIGKILL);
    wait_for(c, "child");
    return 0;
}

/* ---- getfilter ---- */
#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
static void get_filter(pid_t c, long index) {
    struct sock_filter_ f[8];
    memset(f, 0xee, sizeof f);
    errno = 0;
    long n = pt(PTRACE_SECCOMP_GET_FILTER, c, (void *)index, 0);
    printf("filter %ld: length %ld errno %d", index, n, errno);
    if (n > 0 && n <= 8 && pt(PTRACE_SECCOMP_GET_FILTER, c, (void *)index, f) == n)
        for (long i = 0; i < n; i++)
            printf(" {%#x %u %u %#x}", f[i].code, f[i].jt, f[i].jf, f[i].k);
    printf("\n");
}

static int scenario_getfilter(void) {
    pid_t c = fork();
    if (c == 0) {
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        struct sock_filter_ a[] = {
            {0x80, 0, 0, 0},            /* ld len */
            {0x06, 0, 0, 0x7fff0000},   /* ret ALLOW */
        };
        struct sock_filter_ b[] = {
            {0x20, 0, 0, 0},            /* ld [nr] */
            {0x15, 0, 1, SYS_getppid},  /* jeq getppid */
            {0x06, 0, 0, 0x50005},      /* ret ERRNO(5) */
            {0x06, 0, 0, 0x7fff0000},
        };
        struct sock_fprog_ pa = {2, a}, pb = {4, b};
        syscall(SYS_prctl, 38, 1, 0, 0, 0);
        syscall(SYS_seccomp, 1, 0, &pa);
        syscall(SYS_seccomp, 1, 0, &pb);
        raise(SIGSTOP);
        _exit(syscall(SYS_getppid) == -1 && errno == 5 ? 0 : 1);
    }
    wait_for(c, "child");
    get_filter(c, 0);
    pt(PTRACE_CONT, c, 0, 0);
    wait_for(c, "child");
    get_filter(c, 0);
    get_filter(c, 1);
    get_filter(c, 2);
    pt(PTRACE_CONT, c, 0, 0);
    wait_for(c, "child");
    return 0;
}

/* ---- threadexec ---- */
static char *self_path;
static void *exec_from_thread(void *a) {
    char *argv[] = {self_path, "execd", a, 0};
    execv(self_path, argv);
    _exit(99);
}

static int execd_mode(const char *how) {
    long tid = syscall(SYS_gettid);
    if (!strcmp(how, "plain")) {
        printf("new image: tid is the pid %d\n", tid == getpid());
        fflush(stdout);
        _exit(0);
    }
    for (;;) pause();  /* the tracer kills it */
}

static int threadexec_child(const char *how) {
    if (strcmp(how, "plain")) {
        pt(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
    }
    pthread_t th;
    pthread_create(&th, 0, exec_from_thread, (void *)how);
    pthread_join(th, 0);
    _exit(98);
}

static int scenario_threadexec(char *self) {
    self_path = self;
    int st;
    pid_t c = fork();
    if (c == 0) threadexec_child("plain");
    waitpid(c, &st, 0);
    show("untraced", c, st);
    for (int traceexec = 0; traceexec < 2; traceexec++) {
        printf("-- PTRACE_O_TRACEEXEC %d\n", traceexec);
        fflush(stdout);
        c = fork();
        if (c == 0) threadexec_child("traced");
        wait_for(c, "child");
        long opts = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXIT | (traceexec ? PTRACE_O_TRACEEXEC : 0);
        pt(PTRACE_SETOPTIONS, c, 0, (void *)opts);
        pt(PTRACE_CONT, c, 0, 0);
        waitpid(c, &st, __WALL);
        unsigned long msg = 0;
        pt(PTRACE_GETEVENTMSG, c, 0, &msg);
        pid_t t = (pid_t)msg;
        printf("clone event %d\n", st >> 8 == (SIGTRAP | PTRACE_EVENT_CLONE << 8));
        printf("thread's first stop %d\n", waitpid(t, &st, __WALL) == t && WSTOPSIG(st) == SIGSTOP);
        pt(PTRACE_CONT, c, 0, 0);
        pt(PTRACE_CONT, t, 0, 0);
        waitpid(c, &st, __WALL);
        pt(PTRACE_GETEVENTMSG, c, 0, &msg);
        printf("leader's exit stop %d, status exited %d code %d\n",
               st >> 8 == (SIGTRAP | PTRACE_EVENT_EXIT << 8), WIFEXITED(msg), WEXITSTATUS(msg));
        printf("the exec waits: %d\n", waitpid(t, &st, __WALL | WNOHANG));
        pt(PTRACE_CONT, c, 0, 0);
        pid_t r = waitpid(c, &st, __WALL);
        pt(PTRACE_GETEVENTMSG, c, 0, &msg);
        if (traceexec)
            printf("exec event under the pid %d, message the old tid %d\n",
                   r == c && st >> 8 == (SIGTRAP | PTRACE_EVENT_EXEC << 8), (pid_t)msg == t);
        else
            printf("SIGTRAP under the pid %d\n", r == c && WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP);
        errno = 0;
        r = waitpid(t, &st, __WALL | WNOHANG);
        printf("the old tid: %d errno %d\n", r, errno);
        unsigned long cs = 0;
        pt(PTRACE_PEEKUSER, c, (void *)offsetof(struct user_regs_struct, cs), &cs);
        printf("cs %#lx\n", cs);
        kill(c, SIGKILL);
        waitpid(c, &st, __WALL);
        pt(PTRACE_GETEVENTMSG, c, 0, &msg);
        printf("SIGKILL: exit stop %d, status killed %d by %d\n",
               st >> 8 == (SIGTRAP | PTRACE_EVENT_EXIT << 8), WIFSIGNALED(msg), WTERMSIG(msg));
        pt(PTRACE_CONT, c, 0, 0);
        wait_for(c, "child");
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "child")) return child_mode();
    if (argc > 2 && !strcmp(argv[1], "execd")) return execd_mode(argv[2]);
    const char *s = argc > 1 ? argv[1] : "";
    int r = 2;
    if (!strcmp(s, "count")) r = scenario_count(argv[0]);
    else if (!strcmp(s, "peekpoke")) r = scenario_peekpoke();
    else if (!strcmp(s, "regs")) r = scenario_regs();
    else if (!strcmp(s, "signal")) r = scenario_signal();
    else if (!strcmp(s, "fork")) r = scenario_fork();
    else if (!strcmp(s, "seize")) r = scenario_seize();
    else if (!strcmp(s, "attach")) r = scenario_attach();
    else if (!strcmp(s, "seccomp")) r = scenario_seccomp();
    else if (!strcmp(s, "step")) r = scenario_step();
    else if (!strcmp(s, "wclone")) r = scenario_wclone();
    else if (!strcmp(s, "sysemu")) r = scenario_sysemu();
    else if (!strcmp(s, "restart")) r = scenario_restart();
    else if (!strcmp(s, "thread")) r = scenario_thread();
    else if (!strcmp(s, "threadexec")) r = scenario_threadexec(argv[0]);
    else if (!strcmp(s, "getfilter")) r = scenario_getfilter();
    else if (!strcmp(s, "peeksiginfo")) r = scenario_peeksiginfo();
    else if (!strcmp(s, "vforkdone")) r = scenario_vforkdone();
    else if (!strcmp(s, "listen")) r = scenario_listen();
    else if (!strcmp(s, "detachsig")) r = scenario_detachsig();
    fflush(stdout);
    return r;
}
