/* A handler that runs on the alternate signal stack and signals itself again (SA_NODEFER)
 * until the next frame would run off the stack's bottom: Linux does not write that frame and
 * kills the process with SIGSEGV (get_sigframe, force_sigsegv). Output must match native. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char *lo, *hi;
static volatile int below;

static void again(int sig) {
    char here;
    if (&here < lo || &here >= hi)
        below = 1;  /* a handler outside the stack: never on Linux */
    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

static int run(int onstack_first) {
    pid_t c = fork();
    if (c == 0) {
        size_t size = 4 * SIGSTKSZ;
        char *mem = malloc(size + 65536);
        stack_t ss = {.ss_sp = mem + 65536, .ss_size = size};  /* room below: a stray frame lands */
        lo = (char *)ss.ss_sp;
        hi = lo + size;
        sigaltstack(&ss, 0);
        struct sigaction sa = {.sa_handler = again, .sa_flags = SA_ONSTACK | SA_NODEFER};
        sigaction(SIGUSR1, &sa, 0);
        if (onstack_first) {
            struct sigaction sv = {.sa_handler = SIG_DFL};
            sigaction(SIGSEGV, &sv, 0);
        }
        syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
        _exit(below ? 3 : 4);
    }
    int st;
    waitpid(c, &st, 0);
    return WIFSIGNALED(st) ? WTERMSIG(st) : 100 + WEXITSTATUS(st);
}

int main(void) {
    printf("recursion on the alternate stack ends with signal %d\n", run(0));
    printf("again, SIGSEGV at its default: signal %d\n", run(1));
    return 0;
}
