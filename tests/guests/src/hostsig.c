/* Host signals: what a program sees of signals sent to its foreground process group, natively
 * (os.killpg on its session) and under `ecs-kernel run` (os.kill on the ecs-kernel process).
 * Each mode prints "ready ..." when it waits for the next signal; the test sends one then. A
 * signal that comes between "ready" and the blocking call runs the handler before the call
 * blocks: where the output must not show it, the handler is quiet and the test sends again
 * until the call has returned.
 *
 *   hostsig pause SIG     handler for SIG (none: "none"), pause() until it has run, exit 3
 *   hostsig calls         a quiet SIGUSR1 handler without SA_RESTART; each blocking call in turn
 *                         is interrupted: nanosleep, read of a pipe, wait4, futex wait,
 *                         sigsuspend; SIGWINCH (default: ignored) is sent before one of them
 *   hostsig ignore        SIGINT ignored, SIGUSR1 handled, sigsuspend() in a loop
 *   hostsig fork          parent and child in one process group, both wait in sigsuspend
 *   hostsig fastpath      SIGINT handler; a loop of getppid() until it has run
 *   hostsig spin          a compute loop without syscalls
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void out(const char *s) { write(1, s, strlen(s)); }

static void out_int(const char *what, long v) {
    char buf[64], num[24];
    int n = 0, neg = v < 0;
    unsigned long u = neg ? -(unsigned long)v : (unsigned long)v;
    do { num[n++] = '0' + u % 10; u /= 10; } while (u);
    size_t k = strlen(what);
    memcpy(buf, what, k);
    buf[k++] = ' ';
    if (neg) buf[k++] = '-';
    while (n) buf[k++] = num[--n];
    buf[k++] = '\n';
    write(1, buf, k);
}

static void result(const char *what, long r) {
    out_int(what, r < 0 ? -errno : r);
}

static void on_signal(int sig) {
    got = sig;
    out_int("handler", sig);
}

static void quiet(int sig) { got = sig; }

static void catch(int sig, void (*fn)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigaction(sig, &sa, NULL);
}

static int signo(const char *name) {
    static const char *names[] = {"none", "HUP", "INT", "QUIT", 0, 0, 0, 0, 0, 0, "USR1", 0,
                                  "USR2", 0, 0, "TERM"};
    for (int i = 0; i < 16; i++)
        if (names[i] && !strcmp(names[i], name)) return i;
    return 0;
}

static int mode_pause(const char *sig) {
    int s = signo(sig);
    if (s) catch(s, on_signal, 0);
    out("ready\n");
    while (!got) pause();
    out_int("got", got);
    return 3;
}

static int mode_calls(void) {
    catch(SIGUSR1, quiet, 0);
    int p[2];
    pipe(p);
    char c;
    struct timespec ts = {60, 0};
    out("ready nanosleep\n");
    result("nanosleep", nanosleep(&ts, NULL));
    out("ready read\n");
    result("read", read(p[0], &c, 1));
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    pid_t child = fork();
    if (child == 0) {  /* keeps SIGUSR1 blocked: only its parent is interrupted */
        pause();
        _exit(1);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    out("ready wait4\n");
    int status = 0;
    result("wait4", wait4(child, &status, 0, NULL));
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    out_int("child killed by", WTERMSIG(status));
    int word = 0;
    out("ready futex\n");
    result("futex", syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0));
    sigprocmask(SIG_BLOCK, &usr1, &old);
    out("ready sigsuspend\n");
    sigset_t none;
    sigemptyset(&none);
    result("sigsuspend", sigsuspend(&none));
    return 0;
}

static _Noreturn void mode_ignore(void) {
    sigset_t usr1, none;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&none);
    signal(SIGINT, SIG_IGN);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    catch(SIGUSR1, on_signal, 0);
    for (;;) {
        out("ready\n");
        result("sigsuspend", sigsuspend(&none));
    }
}

static int mode_fork(void) {
    sigset_t intr, none;
    sigemptyset(&intr);
    sigaddset(&intr, SIGINT);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &intr, NULL);
    catch(SIGINT, quiet, 0);
    int p[2];
    pipe(p);
    pid_t child = fork();
    if (child == 0) {
        write(p[1], "x", 1);
        sigsuspend(&none);
        _exit(10 + got);
    }
    char c;
    read(p[0], &c, 1);
    out("ready\n");
    result("sigsuspend", sigsuspend(&none));
    out_int("parent got", got);
    int status = 0;
    waitpid(child, &status, 0);
    out_int("child exit", WEXITSTATUS(status));
    return 0;
}

static int mode_fastpath(void) {
    catch(SIGINT, quiet, 0);
    for (int i = 0; i < 20000; i++) getppid();  /* past the emulator's tier-up to compiled calls */
    out("ready\n");
    while (!got) getppid();
    out_int("got", got);
    return 6;
}

static _Noreturn void mode_spin(void) {
    out("ready\n");
    volatile unsigned long n = 0;
    for (;;) n++;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "pause")) return mode_pause(argc > 2 ? argv[2] : "none");
    if (!strcmp(argv[1], "calls")) return mode_calls();
    if (!strcmp(argv[1], "ignore")) mode_ignore();
    if (!strcmp(argv[1], "fork")) return mode_fork();
    if (!strcmp(argv[1], "fastpath")) return mode_fastpath();
    if (!strcmp(argv[1], "spin")) mode_spin();
    return 2;
}
