/* personality(2): the value kept, returned, inherited by fork, and what exec keeps; UNAME26 and
 * PER_LINUX32 in uname, READ_IMPLIES_EXEC in mmap and mprotect (/proc/self/maps), and
 * STICKY_TIMEOUTS in select. With an argument it is the exec'd image: it prints what it got. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/select.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static void perms_of(void *p) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long lo, hi, a = (unsigned long)p;
    char perms[8];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && lo <= a && a < hi)
            printf("  perms %s\n", perms);
    fclose(f);
}

static void show_uname(void) {
    struct utsname u;
    uname(&u);
    /* the release after the version numbers is the kernel's own: print the numbers' shape */
    int a = 0, b = 0, c = 0;
    sscanf(u.release, "%d.%d.%d", &a, &b, &c);
    printf("  uname %s, release %s\n", u.machine,
           a == 2 && b == 6 ? (c >= 60 ? "2.6.60+" : "2.6.<60") : "not 2.6");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1) {
        printf("after exec: %#x\n", personality(0xffffffff));
        void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        perms_of(p);
        return 0;
    }
    printf("start: %#x\n", personality(0xffffffff));
    printf("set UNAME26 returns %#x\n", personality(UNAME26));
    show_uname();
    printf("set PER_LINUX32 returns %#x\n", personality(PER_LINUX32));
    show_uname();
    printf("set weird returns %#x\n", personality(0x42));
    printf("now %#x\n", personality(0xffffffff));
    personality(READ_IMPLIES_EXEC);
    void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("READ_IMPLIES_EXEC mmap PROT_READ:\n");
    perms_of(p);
    void *q = mmap(NULL, 4096, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("READ_IMPLIES_EXEC mmap PROT_WRITE:\n");
    perms_of(q);
    mprotect(q, 4096, PROT_READ | PROT_WRITE);
    printf("READ_IMPLIES_EXEC mprotect READ|WRITE:\n");
    perms_of(q);
    personality(STICKY_TIMEOUTS);
    struct timeval tv = {0, 20000};
    select(0, NULL, NULL, NULL, &tv);
    printf("STICKY_TIMEOUTS select left %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
    personality(PER_LINUX);
    tv.tv_sec = 0;
    tv.tv_usec = 20000;
    select(0, NULL, NULL, NULL, &tv);
    printf("plain select left %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
    personality(READ_IMPLIES_EXEC | UNAME26 | ADDR_NO_RANDOMIZE);
    pid_t pid = fork();
    if (pid == 0) {
        printf("child: %#x\n", personality(0xffffffff));
        execl("/proc/self/exe", argv[0], "exec", (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("child status %d\n", WEXITSTATUS(st));
    return 0;
}
