/* Faults become fatal signals: the exit status is 128+N. argv[1] picks the fault. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "segv")) return *(volatile int *)8;
    if (!strcmp(what, "abort")) abort();
    if (!strcmp(what, "kill")) kill(getpid(), SIGTERM);
    if (!strcmp(what, "raise")) raise(SIGUSR1);
    if (!strcmp(what, "ignored")) { signal(SIGTERM, SIG_IGN); raise(SIGTERM); return 5; }
    if (!strcmp(what, "blocked")) {
        sigset_t s; sigemptyset(&s); sigaddset(&s, SIGTERM);
        sigprocmask(SIG_BLOCK, &s, NULL);
        raise(SIGTERM);
        write(1, "still alive\n", 12);
        sigprocmask(SIG_UNBLOCK, &s, NULL);
        return 6;
    }
    if (!strcmp(what, "pipe")) {
        int p[2]; pipe(p); close(p[0]);
        write(p[1], "x", 1);
        return 7;
    }
    return 0;
}
