/* sysinfo(2) and /proc/meminfo on the machine ecs-kernel run --memory sizes: the total is the
 * limit, memory the program touches leaves free memory, MAP_SHARED memory counts as shared, and
 * the two views agree. Prints the figures in MiB (rounded) for the test to check. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>

static long meminfo(const char *key) {
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    long kb = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':')
            sscanf(line + n + 1, "%ld", &kb);
    if (f)
        fclose(f);
    return kb;
}

int main(void) {
    struct sysinfo a, b;
    sysinfo(&a);
    size_t n = 64 << 20;
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 1, n);
    char *s = mmap(NULL, 8 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(s, 1, 8 << 20);
    sysinfo(&b);
    printf("unit %u total %lu free_drop %ld shared_growth %ld swap %lu\n", b.mem_unit,
           b.totalram >> 20, ((long)a.freeram - (long)b.freeram) >> 20,
           ((long)b.sharedram - (long)a.sharedram) >> 20, b.totalswap);
    printf("meminfo total %ld shmem_at_least_8 %d\n", meminfo("MemTotal") >> 10,
           meminfo("Shmem") >= 8 << 10);
    return 0;
}
