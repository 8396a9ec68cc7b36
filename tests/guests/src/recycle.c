/* Fork children that run code their parent or an earlier child rewrote (a JIT's pattern).
 * Under ecs-kernel a fork child may run on a dead child's engine with that child's translated
 * code (cpu/platform.py EnginePool): a stale translation shows here as a wrong value.
 *
 * recycle N: N rounds; in each the parent rewrites its code page (a stub returning
 * 1000 + round), forks a child that calls the stub (must see the parent's code), rewrites it
 * with a store (returns 2000 + round) and calls it, rewrites it through read() from a pipe (the
 * kernel's write: 3000 + round) and calls it, and exits with a status that says which call saw
 * what; a second child forked after that one died calls the parent's code only. The parent
 * calls its own code after each child. Prints one line a round. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

typedef int (*stub_fn)(void);

static void emit(unsigned char *page, int value) {
    /* mov eax, imm32; ret */
    page[0] = 0xb8;
    memcpy(page + 1, &value, 4);
    page[5] = 0xc3;
}

static int child_status(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid) {
        perror("waitpid");
        exit(2);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    stub_fn stub = (stub_fn)page;
    for (int r = 0; r < rounds; r++) {
        emit(page, 1000 + r);
        if (stub() != 1000 + r) {
            printf("round %d: the parent ran stale code\n", r);
            return 1;
        }
        int fds[2];
        if (pipe(fds) < 0) {
            perror("pipe");
            return 2;
        }
        unsigned char code[6];
        emit(code, 3000 + r);
        if (write(fds[1], code, sizeof code) != sizeof code) {
            perror("write");
            return 2;
        }
        pid_t pid = fork();
        if (pid == 0) {
            int bad = 0;
            if (stub() != 1000 + r)
                bad |= 1;
            emit(page, 2000 + r);
            if (stub() != 2000 + r)
                bad |= 2;
            if (read(fds[0], page, sizeof code) != sizeof code)
                bad |= 8;
            if (stub() != 3000 + r)
                bad |= 4;
            _exit(bad);
        }
        close(fds[0]);
        close(fds[1]);
        int first = child_status(pid);
        pid = fork();
        if (pid == 0)
            _exit(stub() == 1000 + r ? 0 : 16);
        int second = child_status(pid);
        printf("round %d: child %d, second child %d, parent %d\n", r, first, second,
               stub() - 1000);
    }
    return 0;
}
