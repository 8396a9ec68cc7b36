/* Processes: fork, pipes between processes, wait4/waitid, signals to children, exec in a child,
   vfork, orphans. argv[1] picks the scenario; output must match native Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int chld;
static void on_chld(int s) { (void)s; chld++; }
static int exec_true(void *arg) {
    (void)arg;
    char *args[] = {"/bin/true", NULL};
    execv(args[0], args);
    _exit(97);
}

int main(int argc, char **argv) {
    const char *w = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    int st;
    if (!strcmp(w, "pipe")) {
        int p[2];
        pipe(p);
        pid_t c = fork();
        if (c == 0) {
            close(p[0]);
            for (int i = 0; i < 1000; i++) dprintf(p[1], "line %d\n", i);
            _exit(7);
        }
        close(p[1]);
        char buf[65536];
        long total = 0, n;
        while ((n = read(p[0], buf, sizeof buf)) > 0) total += n;
        pid_t r = waitpid(c, &st, 0);
        printf("bytes %ld reaped %d exited %d code %d\n", total, r == c, WIFEXITED(st), WEXITSTATUS(st));
        return 0;
    }
    if (!strcmp(w, "signals")) {
        signal(SIGCHLD, on_chld);
        pid_t c = fork();
        if (c == 0) { pause(); _exit(1); }
        kill(c, SIGTERM);
        waitpid(c, &st, 0);
        printf("killed %d by %d chld %d\n", WIFSIGNALED(st), WTERMSIG(st), chld > 0);
        c = fork();
        if (c == 0) { for (;;) ; }
        kill(c, SIGSTOP);
        waitpid(c, &st, WUNTRACED);
        printf("stopped %d by %d\n", WIFSTOPPED(st), WSTOPSIG(st));
        kill(c, SIGCONT);
        waitpid(c, &st, WCONTINUED);
        printf("continued %d\n", WIFCONTINUED(st));
        kill(c, SIGKILL);
        waitpid(c, &st, 0);
        printf("killed %d by %d\n", WIFSIGNALED(st), WTERMSIG(st));
        return 0;
    }
    if (!strcmp(w, "waitid")) {
        pid_t c = fork();
        if (c == 0) _exit(42);
        siginfo_t si;
        memset(&si, 0, sizeof si);
        int r = waitid(P_PID, c, &si, WEXITED | WNOWAIT);
        printf("waitid %d code %d status %d pid_ok %d\n", r, si.si_code, si.si_status, si.si_pid == c);
        r = waitpid(c, &st, WNOHANG);
        printf("still reapable %d code %d\n", r == c, WEXITSTATUS(st));
        r = waitpid(-1, &st, WNOHANG);
        printf("none left %d errno %d\n", r, errno);
        return 0;
    }
    if (!strcmp(w, "exec")) {
        pid_t c = fork();
        if (c == 0) {
            char *args[] = {"/bin/echo", "from", "exec", NULL};
            execv(args[0], args);
            _exit(99);
        }
        waitpid(c, &st, 0);
        printf("child status %d\n", WEXITSTATUS(st));
        c = vfork();
        if (c == 0) {
            char *args[] = {"/bin/sh", "-c", "exit 4", NULL};
            execv(args[0], args);
            _exit(98);
        }
        waitpid(c, &st, 0);
        printf("vfork child status %d\n", WEXITSTATUS(st));
        return 0;
    }
    if (!strcmp(w, "exec-shared")) {
        /* A child sharing our handler table (CLONE_SIGHAND) and fd table (CLONE_FILES) execs:
           exec gives it copies first (unshare_sighand, unshare_files), so our caught handler
           and our close-on-exec fd stay ours. */
        signal(SIGUSR1, on_chld);
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        static char stack[65536];
        pid_t c = clone(exec_true, stack + sizeof stack,
                        CLONE_VM | CLONE_SIGHAND | CLONE_FILES | CLONE_VFORK | SIGCHLD, NULL);
        waitpid(c, &st, 0);
        struct sigaction sa;
        sigaction(SIGUSR1, NULL, &sa);
        printf("child status %d, our handler kept %d, our cloexec fd open %d\n",
               WEXITSTATUS(st), sa.sa_handler == on_chld, fcntl(fd, F_GETFD) >= 0);
        return 0;
    }
    if (!strcmp(w, "many")) {
        int n = 20;
        for (int i = 0; i < n; i++) {
            pid_t c = fork();
            if (c == 0) _exit(i);
        }
        int sum = 0;
        for (int i = 0; i < n; i++) {
            wait(&st);
            sum += WEXITSTATUS(st);
        }
        printf("sum %d\n", sum);
        return 0;
    }
    if (!strcmp(w, "rusage")) {  /* CPU time is per process, and a reaped child's goes to us */
        pid_t c = fork();
        if (c == 0) { for (volatile long i = 0; i < 100000000L; i++) ; _exit(0); }
        struct rusage ru, self, kids;
        wait4(c, &st, 0, &ru);
        double child = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
        getrusage(RUSAGE_SELF, &self);
        getrusage(RUSAGE_CHILDREN, &kids);
        double me = self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6;
        double k = kids.ru_utime.tv_sec + kids.ru_utime.tv_usec / 1e6;
        struct tms t;
        times(&t);
        printf("child used cpu %d, parent less %d, children total %d, times cutime %d\n",
               child > 0.02, me < child, k >= child * 0.99, t.tms_cutime > 0);
        /* the raw waitid's fifth argument (a Linux extension): the reaped child's rusage */
        c = fork();
        if (c == 0) { for (volatile long i = 0; i < 10000000L; i++) ; _exit(0); }
        siginfo_t si;
        struct rusage ru2;
        memset(&ru2, 0, sizeof ru2);
        long r = syscall(SYS_waitid, P_PID, c, &si, WEXITED, &ru2);
        double c2 = ru2.ru_utime.tv_sec + ru2.ru_utime.tv_usec / 1e6;
        printf("waitid %ld pid ok %d, rusage utime %d\n", r, si.si_pid == c, c2 > 0.001);
        return 0;
    }
    if (!strcmp(w, "fdshare")) {  /* a shared file offset after fork */
        FILE *f = tmpfile();
        int fd = fileno(f);
        pid_t c = fork();
        if (c == 0) { write(fd, "child ", 6); _exit(0); }
        waitpid(c, &st, 0);
        write(fd, "parent", 6);
        lseek(fd, 0, SEEK_SET);
        char buf[32] = {0};
        read(fd, buf, sizeof buf - 1);
        printf("%s\n", buf);
        return 0;
    }
    return 99;
}
