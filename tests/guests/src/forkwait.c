/* A parent that forks a child, which writes and exits 3, and waits for it: the program that
 * host strace -f traces inside a guest (tests/guests/test_ptrace_strace.py). */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    printf("parent %d\n", getpid() > 0);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        write(1, "child\n", 6);
        _exit(3);
    }
    int st;
    waitpid(c, &st, 0);
    printf("child status %d\n", WEXITSTATUS(st));
    return 0;
}
