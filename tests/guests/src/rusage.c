/* getrusage, wait4 and waitid's rusage: what Linux fixes about them, printed as facts that
 * hold on any machine (the counts themselves differ from run to run): ru_maxrss follows the
 * memory a process touches, children's figures reach the parent only once waited for, page
 * faults grow with first touches, a blocking wait counts a voluntary switch, RUSAGE_THREAD is
 * the thread's own, wait4's rusage is the child's, WNOWAIT and stopped children report theirs. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MB (1 << 20)

static void touch(size_t n) {
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 1, n);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct rusage self0, self1, ch, th, w;
    getrusage(RUSAGE_SELF, &self0);
    touch(32 * MB);
    getrusage(RUSAGE_SELF, &self1);
    printf("maxrss at least 30 MB: %d\n", self1.ru_maxrss >= 30 * 1024);  /* (exec keeps the old image's) */
    printf("minflt grew by at least 8000: %d\n", self1.ru_minflt - self0.ru_minflt >= 8000);
    printf("majflt %ld inblock %ld oublock %ld\n", self1.ru_majflt, self1.ru_inblock,
           self1.ru_oublock);
    getrusage(RUSAGE_THREAD, &th);
    getrusage(RUSAGE_SELF, &self1);
    printf("thread minflt <= self: %d\n", th.ru_minflt <= self1.ru_minflt);
    getrusage(RUSAGE_CHILDREN, &ch);
    printf("children before: maxrss %ld minflt %ld nvcsw %ld\n", ch.ru_maxrss, ch.ru_minflt,
           ch.ru_nvcsw);
    pid_t pid = fork();
    if (pid == 0) {
        touch(48 * MB);
        usleep(20000);  /* blocks: a voluntary switch */
        _exit(3);
    }
    int st;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    struct rusage peek;
    memset(&peek, 0, sizeof peek);
    /* wait for it to be a zombie, then look without reaping */
    syscall(SYS_waitid, P_PID, pid, &si, WEXITED | WNOWAIT, &peek);
    printf("WNOWAIT: maxrss >= 48 MB %d, nvcsw >= 1 %d\n", peek.ru_maxrss >= 48 * 1024,
           peek.ru_nvcsw >= 1);
    getrusage(RUSAGE_CHILDREN, &ch);
    printf("children after WNOWAIT: maxrss %ld\n", ch.ru_maxrss);
    memset(&w, 0, sizeof w);
    wait4(pid, &st, 0, &w);
    printf("wait4: status %d, maxrss >= 48 MB %d, minflt >= 12000 %d, nvcsw >= 1 %d\n",
           WEXITSTATUS(st), w.ru_maxrss >= 48 * 1024, w.ru_minflt >= 12000, w.ru_nvcsw >= 1);
    getrusage(RUSAGE_CHILDREN, &ch);
    printf("children after wait: maxrss = wait4's %d, minflt = wait4's %d, nvcsw = wait4's %d\n",
           ch.ru_maxrss == w.ru_maxrss, ch.ru_minflt == w.ru_minflt, ch.ru_nvcsw == w.ru_nvcsw);
    /* a stopped child reports its own usage too */
    pid = fork();
    if (pid == 0) {
        touch(16 * MB);
        raise(SIGSTOP);
        _exit(0);
    }
    memset(&w, 0, sizeof w);
    wait4(pid, &st, WUNTRACED, &w);
    printf("stopped: %d, maxrss >= 16 MB %d\n", WIFSTOPPED(st), w.ru_maxrss >= 16 * 1024);
    kill(pid, SIGCONT);
    wait4(pid, &st, 0, NULL);
    getrusage(RUSAGE_CHILDREN, &ch);
    printf("children maxrss is the largest child's (the first, 32 + 48 MB): %d\n",
           ch.ru_maxrss >= 78 * 1024 && ch.ru_maxrss < 100 * 1024);
    int rc = getrusage(7, &ch);
    printf("getrusage bad who: %d %s\n", rc, strerror(errno));
    return 0;
}
