/* Programs that would take a host down: a fork bomb, a memory hog, an fd leak. Each must end
 * with the error Linux gives at a limit (EAGAIN, ENOMEM or an OOM kill, EMFILE).
 * Usage: hog forkbomb | memory | touch | fds */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* Every process forks until fork fails, then waits for its children and exits: the tree grows
 * until the limit, and ends. The first process reports the errno its children and it saw. */
static int forkbomb(void) {
    int errs[2];
    if (pipe(errs)) return 1;
    int depth = 0, kids = 0, err = 0;
    for (;;) {
        pid_t pid = fork();
        if (pid < 0) {
            err = errno;
            break;
        }
        if (pid == 0) {
            depth++;
            kids = 0;
            if (depth > 6) _exit(0);
            continue;
        }
        kids++;
        if (kids >= 64) break;
    }
    if (err) write(errs[1], &err, sizeof err);
    while (wait(NULL) > 0) {
    }
    if (depth) _exit(0);
    close(errs[1]);
    int e, eagain = 0, other = 0;
    while (read(errs[0], &e, sizeof e) == sizeof e) {
        if (e == EAGAIN) eagain++;
        else other++;
    }
    printf("fork failed with EAGAIN %s, with another errno %d times\n", eagain ? "yes" : "no",
           other);
    return 0;
}

/* Take 32 MiB at a time and write every page, until mmap fails (ENOMEM) or we are killed. */
static int memory(void) {
    size_t chunk = 32 << 20, total = 0;
    for (;;) {
        char *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            printf("mmap failed after %zu MiB: %s\n", total >> 20, strerror(errno));
            return 0;
        }
        for (size_t i = 0; i < chunk; i += 4096) p[i] = 1;
        total += chunk;
        if (total >= ((size_t)64 << 30)) {
            printf("64 GiB and still going\n");
            return 1;
        }
    }
}

/* One 4 GiB reservation, every page written in a loop with no syscall in it. */
static int touch(void) {
    size_t n = (size_t)4 << 30;
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap failed: %s\n", strerror(errno));
        return 0;
    }
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    printf("wrote 4 GiB\n");
    return 1;
}

/* Open until open fails. */
static int fds(void) {
    int n = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) {
            printf("open failed after %d fds: %s\n", n, strerror(errno));
            return 0;
        }
        n++;
        if (n > 10000000) return 1;
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "forkbomb")) return forkbomb();
    if (!strcmp(argv[1], "memory")) return memory();
    if (!strcmp(argv[1], "fds")) return fds();
    if (!strcmp(argv[1], "touch")) return touch();
    return 2;
}
