/* SIGCHLD's siginfo, as an SA_SIGINFO handler sees it, for each way a child changes state:
   exit, killed by SIGTERM, a core-dump signal (RLIMIT_CORE 0, so no core is written), stop and
   continue; and the wait status each reports. argv[1] picks the scenario ("all": every one).
   si_utime and si_stime are not printed (they vary natively). Output must match native Linux. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static volatile int g_signo, g_code, g_pid, g_status;
static volatile unsigned g_uid;
static sigset_t waitmask;  /* the parent's mask without SIGCHLD: sigsuspend's */

static void on_chld(int signo, siginfo_t *si, void *uc) {
    (void)uc;
    g_signo = signo == si->si_signo ? si->si_signo : -1;
    g_code = si->si_code;
    g_pid = si->si_pid;
    g_uid = si->si_uid;
    g_status = si->si_status;
    got = 1;
}

static const char *code_name(int code) {
    switch (code) {
    case CLD_EXITED: return "CLD_EXITED";
    case CLD_KILLED: return "CLD_KILLED";
    case CLD_DUMPED: return "CLD_DUMPED";
    case CLD_STOPPED: return "CLD_STOPPED";
    case CLD_CONTINUED: return "CLD_CONTINUED";
    default: return "other";
    }
}

/* Wait (SIGCHLD blocked outside sigsuspend) for the next SIGCHLD and print its siginfo. */
static void report(const char *what, pid_t child) {
    while (!got) sigsuspend(&waitmask);
    got = 0;
    printf("%s: si_signo %d si_code %d %s si_pid_is_child %d si_uid %u si_status %d\n", what,
           g_signo, g_code, code_name(g_code), g_pid == child, g_uid, g_status);
}

static void reap(pid_t child) {
    int st;
    pid_t r = waitpid(child, &st, 0);
    printf("  wait: reaped %d exited %d code %d signaled %d sig %d core %d\n", r == child,
           WIFEXITED(st), WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st),
           WIFSIGNALED(st) ? WTERMSIG(st) : -1, WIFSIGNALED(st) ? WCOREDUMP(st) != 0 : -1);
}

static pid_t child_pausing(void) {
    pid_t c = fork();
    if (c == 0) {
        sigprocmask(SIG_SETMASK, &waitmask, NULL);
        for (;;) pause();
    }
    return c;
}

static void exit3(void) {
    pid_t c = fork();
    if (c == 0) exit(3);
    report("exit(3)", c);
    reap(c);
}

static void term(void) {
    pid_t c = child_pausing();
    kill(c, SIGTERM);
    report("SIGTERM", c);
    reap(c);
}

static void core(int signo, const char *what) {
    pid_t c = fork();
    if (c == 0) {
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);  /* no core file: the native result is deterministic */
        sigprocmask(SIG_SETMASK, &waitmask, NULL);
        if (signo == SIGABRT) abort();
        raise(signo);
        _exit(99);
    }
    report(what, c);
    reap(c);
}

static void stopcont(void) {
    pid_t c = child_pausing();
    kill(c, SIGSTOP);
    report("SIGSTOP", c);
    kill(c, SIGCONT);
    report("SIGCONT", c);
    kill(c, SIGKILL);
    report("SIGKILL", c);
    reap(c);
}

/* A process that stops itself stops at once: the syscall returns only once it is continued. */
static void selfstop(void) {
    pid_t c = fork();
    if (c == 0) {
        sigprocmask(SIG_SETMASK, &waitmask, NULL);
        raise(SIGSTOP);
        _exit(5);
    }
    report("raise(SIGSTOP)", c);
    kill(c, SIGCONT);
    report("SIGCONT", c);
    reap(c);
}

static void *late_group_exit(void *arg) {
    (void)arg;
    usleep(20000);
    exit(4);  /* exit_group(4) after the main thread has ended with exit(2) */
}

static void leader_first(void) {
    pid_t c = fork();
    if (c == 0) {
        pthread_t th;
        pthread_create(&th, NULL, late_group_exit, NULL);
        syscall(SYS_exit, 6);  /* only the main thread: the process lives on */
    }
    report("leader exit(6), then exit_group(4)", c);
    reap(c);
}

int main(int argc, char **argv) {
    const char *w = argc > 1 ? argv[1] : "all";
    int all = !strcmp(w, "all");
    setvbuf(stdout, NULL, _IONBF, 0);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &waitmask);
    sigdelset(&waitmask, SIGCHLD);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_chld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    printf("uid %u\n", (unsigned)getuid());
    if (all || !strcmp(w, "exit")) exit3();
    if (all || !strcmp(w, "term")) term();
    if (all || !strcmp(w, "abort")) core(SIGABRT, "abort()");
    if (all || !strcmp(w, "quit")) core(SIGQUIT, "SIGQUIT");
    if (all || !strcmp(w, "stop")) stopcont();
    if (all || !strcmp(w, "leader")) leader_first();
    if (all || !strcmp(w, "selfstop")) selfstop();
    return 0;
}
