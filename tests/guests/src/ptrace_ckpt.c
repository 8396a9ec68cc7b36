/* A tracer and a seccomp-filtered tracee in flight for checkpoints (tests/guests/test_checkpoint.py):
 * the child installs an ERRNO filter for getppid, stops for its parent (PTRACE_TRACEME), then
 * calls getppid 300 times with short sleeps; the parent follows every syscall stop
 * (PTRACE_SYSCALL) and counts. A checkpoint lands with the tracee in a ptrace stop or the tracer
 * in its wait; the restored run must print what an uninterrupted one prints. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct sock_filter { unsigned short code; unsigned char jt, jf; unsigned int k; };
struct sock_fprog { unsigned short len; struct sock_filter *filter; };

int main(void) {
    pid_t c = fork();
    if (c == 0) {
        struct sock_filter f[] = {
            {0x20, 0, 0, 0}, {0x15, 0, 1, SYS_getppid}, {0x06, 0, 0, 0x00050000 | 13},
            {0x06, 0, 0, 0x7fff0000},
        };
        struct sock_fprog p = {4, f};
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        syscall(SYS_seccomp, 1, 0, &p);
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        int denied = 0;
        struct timespec ms = {0, 1000000};
        for (int i = 0; i < 300; i++) {
            denied += syscall(SYS_getppid) == -1 && errno == 13;
            if (i % 10 == 0) nanosleep(&ms, 0);
        }
        printf("child: denied %d\n", denied);
        fflush(stdout);
        _exit(0);
    }
    int st, stops = 0, getppid_exits = 0, eacces = 0;
    waitpid(c, &st, 0);
    ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACESYSGOOD);
    for (;;) {
        ptrace(PTRACE_SYSCALL, c, 0, 0);
        if (waitpid(c, &st, 0) < 0 || !WIFSTOPPED(st)) break;
        if (WSTOPSIG(st) != (SIGTRAP | 0x80)) continue;
        stops++;
        struct user_regs_struct r;
        ptrace(PTRACE_GETREGS, c, 0, &r);
        if (r.orig_rax == SYS_getppid && (long)r.rax != -ENOSYS) {
            getppid_exits++;
            eacces += (long)r.rax == -13;
        }
    }
    printf("tracer: exit %d, stops %d, getppid exits %d with EACCES %d\n", WEXITSTATUS(st),
           stops, getppid_exits, eacces);
    return 0;
}
