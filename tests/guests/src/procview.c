/* What /proc, /sys and the CPU calls say about a small process tree: a parent with a second
   thread, a child that exec'd itself and sleeps, a zombie. Ids are printed as roles (P, A, Z, T),
   so the output is the same natively and under ecs-kernel. argv[1] picks the scenario:
   "tree" (the /proc view), "cpus" (every way to count CPUs), "affinity" (sched_setaffinity). */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t P, A, Z, T;
static int q[2];

static const char *role(long id) {
    static char buf[32];
    if (id == P) return "P";
    if (id == A) return "A";
    if (id == Z) return "Z";
    if (id == T) return "T";
    snprintf(buf, sizeof buf, "%s", id == 0 ? "0" : id == getppid() ? "parent" : "other");
    return buf;
}

static int slurp(const char *path, char *buf, int size) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -errno;
    int n = 0, r;
    while (n < size - 1 && (r = read(fd, buf + n, size - 1 - n)) > 0) n += r;
    close(fd);
    buf[n] = 0;
    return n;
}

/* Field k (1-based) of /proc/<path>/stat, as a string; the comm field is 2. */
static int stat_field(const char *path, int k, char *out, int size) {
    char buf[2048];
    if (slurp(path, buf, sizeof buf) < 0) return -1;
    char *close_paren = strrchr(buf, ')');
    if (k == 2) {
        char *open_paren = strchr(buf, '(');
        snprintf(out, size, "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
        return 0;
    }
    if (k == 1) { sscanf(buf, "%s", out); return 0; }
    char *s = close_paren + 2;
    for (int i = 3; i < k; i++) s = strchr(s, ' ') + 1;
    int n = strcspn(s, " \n");
    snprintf(out, size, "%.*s", n, s);
    return 0;
}

static long stat_num(const char *path, int k) {
    char f[64];
    if (stat_field(path, k, f, sizeof f) < 0) return -1;
    return atol(f);
}

static const char *status_line(const char *path, const char *key, char *out, int size) {
    char buf[8192];
    out[0] = 0;
    if (slurp(path, buf, sizeof buf) < 0) return out;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':') {
            char *v = line + strlen(key) + 1;
            while (*v == '\t' || *v == ' ') v++;
            snprintf(out, size, "%s", v);
        }
    }
    return out;
}

static void wait_state(pid_t pid, char want) {
    char path[64], st[8];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    for (int i = 0; i < 20000; i++) {
        if (stat_field(path, 3, st, sizeof st) == 0 && st[0] == want) return;
        usleep(1000);
    }
    printf("timed out waiting for %c\n", want);
}

static void show_process(pid_t pid, const char *dir) {
    char path[128], buf[4096], f[64];
    printf("[%s]\n", role(pid));
    snprintf(path, sizeof path, "%s/stat", dir);
    stat_field(path, 1, f, sizeof f);
    printf("stat: pid=%s", role(atol(f)));
    stat_field(path, 2, f, sizeof f);
    printf(" comm=%s", f);
    stat_field(path, 3, f, sizeof f);
    printf(" state=%s ppid=%s", f, role(stat_num(path, 4)));
    printf(" pgrp=%s", stat_num(path, 5) == getpgrp() ? "same" : "other");
    printf(" session=%s", stat_num(path, 6) == getsid(0) ? "same" : "other");
    printf(" threads=%ld exit_signal=%ld", stat_num(path, 20), stat_num(path, 38));
    printf(" started=%s\n", stat_num(path, 22) >= stat_num("/proc/self/stat", 22) ? "after-P" : "before-P");
    snprintf(path, sizeof path, "%s/status", dir);
    const char *keys[] = {"Name", "State", "Tgid", "Pid", "PPid", "Threads", "SigBlk", "SigIgn",
                          "SigCgt", "Cpus_allowed_list"};
    for (unsigned i = 0; i < sizeof keys / sizeof *keys; i++) {
        if (pid == Z && !strncmp(keys[i], "Sig", 3) && strcmp(keys[i], "SigBlk"))
            continue;  /* a zombie's handlers: Linux keeps them until it is reaped */
        status_line(path, keys[i], buf, sizeof buf);
        if (!strcmp(keys[i], "Tgid") || !strcmp(keys[i], "Pid") || !strcmp(keys[i], "PPid"))
            printf("status %s: %s\n", keys[i], role(atol(buf)));
        else
            printf("status %s: %s\n", keys[i], buf);
    }
    snprintf(path, sizeof path, "%s/cmdline", dir);
    int n = slurp(path, buf, sizeof buf);
    for (int i = 0; i < n; i++) if (!buf[i]) buf[i] = '|';
    printf("cmdline: %s\n", n > 0 ? strstr(buf, "procview") ? strstr(buf, "procview") : buf : "");
    snprintf(path, sizeof path, "%s/comm", dir);
    slurp(path, buf, sizeof buf);
    printf("comm: %s", buf);
    snprintf(path, sizeof path, "%s/exe", dir);
    n = readlink(path, buf, sizeof buf - 1);
    printf("exe: %s\n", n < 0 ? strerror(errno) : strstr((buf[n] = 0, buf), "procview") ? "procview" : buf);
    snprintf(path, sizeof path, "%s/cwd", dir);
    n = readlink(path, buf, sizeof buf - 1);
    printf("cwd: %s\n", n < 0 ? strerror(errno) : (buf[n] = 0, buf));
    snprintf(path, sizeof path, "%s/maps", dir);
    n = slurp(path, buf, sizeof buf);
    printf("maps name the program: %d\n", n > 0 && strstr(buf, "procview") != NULL);
}

static void *worker(void *arg) {
    (void)arg;
    T = syscall(SYS_gettid);
    pthread_setname_np(pthread_self(), "worker");
    char c;
    read(q[0], &c, 1);
    return NULL;
}

static int listed(pid_t pid) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)))
        if (atol(e->d_name) == pid) found = 1;
    closedir(d);
    return found;
}

static int has_mount(const char *table, const char *mountpoint, const char *fstype) {
    char buf[65536];
    if (slurp(table, buf, sizeof buf) < 0) return 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char src[512], mp[512], type[64];
        if (sscanf(line, "%511s %511s %63s", src, mp, type) == 3 && !strcmp(mp, mountpoint)
            && (!fstype || !strcmp(type, fstype)))
            return 1;
    }
    return 0;
}

/* The "major:minor" mountinfo gives the mount at ``mountpoint`` equals stat's st_dev there. */
static int mountinfo_dev_matches(const char *mountpoint) {
    char buf[65536];
    struct stat st;
    if (stat(mountpoint, &st) < 0 || slurp("/proc/self/mountinfo", buf, sizeof buf) < 0) return 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned id, parent, ma, mi;
        char root[512], mp[512];
        if (sscanf(line, "%u %u %u:%u %511s %511s", &id, &parent, &ma, &mi, root, mp) == 6
            && !strcmp(mp, mountpoint))
            return ma == major(st.st_dev) && mi == minor(st.st_dev);
    }
    return 0;
}

static void on_usr1(int s) { (void)s; }

static void tree(const char *self) {
    signal(SIGUSR1, on_usr1);
    signal(SIGUSR2, SIG_IGN);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, NULL);
    P = getpid();
    pipe(q);
    A = fork();
    if (A == 0) {
        execl(self, self, "sleeper", "arg two", (char *)NULL);
        _exit(99);
    }
    Z = fork();
    if (Z == 0) _exit(7);
    pthread_t th;
    pthread_create(&th, NULL, worker, NULL);
    while (!T) usleep(1000);
    char path[128], buf[4096];
    wait_state(A, 'S');
    wait_state(Z, 'Z');
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", P, T);
    for (int i = 0; i < 20000; i++) {
        char st[8];
        if (stat_field(path, 3, st, sizeof st) == 0 && st[0] == 'S') break;
        usleep(1000);
    }
    int fd = open("/etc/passwd", O_RDONLY);

    show_process(P, "/proc/self");
    snprintf(path, sizeof path, "/proc/%d", A);
    show_process(A, path);
    snprintf(path, sizeof path, "/proc/%d", Z);
    show_process(Z, path);

    /* the thread: in task/, found as /proc/<tid>, not listed */
    printf("[T]\n");
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    char tasks[256] = "";
    int ids[8], k = 0;
    while ((e = readdir(d)))
        if (isdigit(e->d_name[0]) && k < 8) ids[k++] = atoi(e->d_name);
    closedir(d);
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++)
            if (ids[j] < ids[i]) { int x = ids[i]; ids[i] = ids[j]; ids[j] = x; }
    for (int i = 0; i < k; i++) { strcat(tasks, role(ids[i])); strcat(tasks, " "); }
    printf("task/: %s\n", tasks);
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", T);
    slurp(path, buf, sizeof buf);
    printf("comm: %s", buf);
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", T);
    char f[64];
    stat_field(path, 1, f, sizeof f);
    printf("stat: pid=%s state=", role(atol(f)));
    stat_field(path, 3, f, sizeof f);
    printf("%s\n", f);
    snprintf(path, sizeof path, "/proc/self/task/%d/status", T);
    printf("status Pid: %s Tgid: %s\n", role(atol(status_line(path, "Pid", buf, sizeof buf))),
           role(atol(status_line(path, "Tgid", buf, sizeof buf))));
    snprintf(path, sizeof path, "/proc/%d/comm", T);
    slurp(path, buf, sizeof buf);
    printf("/proc/<tid> is found: %s", buf);
    printf("listed: P=%d A=%d Z=%d T=%d\n", listed(P), listed(A), listed(Z), listed(T));

    /* fds */
    d = opendir("/proc/self/fd");
    int nfd = 0;
    while ((e = readdir(d))) nfd += isdigit(e->d_name[0]) != 0;
    closedir(d);
    printf("fds: %d (0-2, two pipe ends, the directory, passwd)\n", nfd);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int n = readlink(path, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("fd link: %s\n", buf);
    snprintf(path, sizeof path, "/proc/self/fd/%d", q[0]);
    n = readlink(path, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("pipe link: %.6s\n", buf);

    /* mounts */
    printf("mounts: / %d, /proc proc %d, /sys sysfs %d\n", has_mount("/proc/mounts", "/", NULL),
           has_mount("/proc/self/mounts", "/proc", "proc"), has_mount("/proc/mounts", "/sys", "sysfs"));
    printf("mountinfo devices match stat: / %d, /proc %d\n", mountinfo_dev_matches("/"),
           mountinfo_dev_matches("/proc"));

    /* times agree: btime + starttime is now; uptime is CLOCK_BOOTTIME */
    long hz = sysconf(_SC_CLK_TCK);
    slurp("/proc/stat", buf, sizeof buf);
    long btime = atol(strstr(buf, "\nbtime ") + 7);
    long start = btime + stat_num("/proc/self/stat", 22) / hz;
    long ago = time(NULL) - start;  /* seconds (a minute at most under a slow emulator) */
    printf("started just now: %d\n", ago >= -1 && ago <= 60);
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    slurp("/proc/uptime", buf, sizeof buf);
    double up = atof(buf);
    printf("uptime is CLOCK_BOOTTIME: %d\n", up >= ts.tv_sec - 1 && up <= ts.tv_sec + 2);
    slurp("/proc/loadavg", buf, sizeof buf);
    double l1, l5, l15;
    int running, total, last;
    int got = sscanf(buf, "%lf %lf %lf %d/%d %d", &l1, &l5, &l15, &running, &total, &last);
    printf("loadavg: fields %d running>=1 %d total>=4 %d last>=Z %d\n", got, running >= 1,
           total >= 4, last >= Z);
    slurp("/proc/sys/kernel/pid_max", buf, sizeof buf);
    printf("pid_max > Z: %d\n", atol(buf) > Z);

    write(q[1], "x", 1);
    pthread_join(th, NULL);
    kill(A, SIGKILL);
    int st;
    waitpid(A, &st, 0);
    printf("A killed by %d\n", WTERMSIG(st));
    waitpid(Z, &st, 0);
    printf("Z exited %d\n", WEXITSTATUS(st));
    snprintf(path, sizeof path, "/proc/%d", Z);
    printf("reaped Z gone: %d\n", access(path, F_OK) < 0 && !listed(Z));
}

static int count_lines(const char *path, const char *prefix, int digit_after) {
    char buf[1 << 16];
    if (slurp(path, buf, sizeof buf) < 0) return -1;
    int n = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        if (!strncmp(line, prefix, strlen(prefix)) &&
            (!digit_after || isdigit(line[strlen(prefix)])))
            n++;
    return n;
}

static void cpus(void) {
    cpu_set_t set;
    sched_getaffinity(0, sizeof set, &set);
    char online[64] = "", possible[64] = "";
    slurp("/sys/devices/system/cpu/online", online, sizeof online);
    slurp("/sys/devices/system/cpu/possible", possible, sizeof possible);
    printf("sysconf onln %ld conf %ld\n", sysconf(_SC_NPROCESSORS_ONLN), sysconf(_SC_NPROCESSORS_CONF));
    printf("get_nprocs %d conf %d\n", get_nprocs(), get_nprocs_conf());
    printf("affinity %d\n", CPU_COUNT(&set));
    printf("cpuinfo processors %d\n", count_lines("/proc/cpuinfo", "processor", 0));
    printf("stat cpuN lines %d\n", count_lines("/proc/stat", "cpu", 1));
    printf("online %spossible %s", online, possible);
    char status[64];
    printf("Cpus_allowed_list %s\n", status_line("/proc/self/status", "Cpus_allowed_list", status, sizeof status));
}

static void affinity(void) {
    cpu_set_t one, got;
    CPU_ZERO(&one);
    CPU_SET(1, &one);
    printf("set {1}: %d\n", sched_setaffinity(0, sizeof one, &one));
    sched_getaffinity(0, sizeof got, &got);
    printf("count %d has1 %d getcpu %d\n", CPU_COUNT(&got), CPU_ISSET(1, &got), sched_getcpu());
    char status[64];
    printf("Cpus_allowed_list %s\n", status_line("/proc/self/status", "Cpus_allowed_list", status, sizeof status));
    pid_t c = fork();
    if (c == 0) {
        sched_getaffinity(0, sizeof got, &got);
        printf("child inherits: count %d has1 %d\n", CPU_COUNT(&got), CPU_ISSET(1, &got));
        _exit(0);
    }
    waitpid(c, NULL, 0);
    cpu_set_t none;
    CPU_ZERO(&none);
    long r = sched_setaffinity(0, sizeof none, &none);
    printf("set {}: %ld %s\n", r, r < 0 ? strerror(errno) : "");
    CPU_SET(1000, &none);
    r = sched_setaffinity(0, sizeof none, &none);
    printf("set {1000}: %ld %s\n", r, r < 0 ? strerror(errno) : "");
    r = syscall(SYS_sched_getaffinity, 999999999, sizeof got, &got);
    printf("get of no such pid: %ld %s\n", r, r < 0 ? strerror(errno) : "");
    r = syscall(SYS_sched_getaffinity, 0, 4, &got);
    printf("get into 4 bytes: %ld %s\n", r, r < 0 ? strerror(errno) : "");
    r = syscall(SYS_sched_getaffinity, 0, 7, &got);
    printf("get into 7 bytes: %ld %s\n", r, r < 0 ? strerror(errno) : "");
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    CPU_SET(1, &one);
    printf("set {0,1} again: %d\n", sched_setaffinity(0, sizeof one, &one));
}

/* sysinfo(2) and /proc/loadavg count the same tasks and give the same averages (a guest-only
   check: natively other processes come and go between the two reads). */
static void load(void) {
    pid_t kids[2];
    for (int i = 0; i < 2; i++)
        if ((kids[i] = fork()) == 0) { for (;;) pause(); }
    char buf[256];
    struct sysinfo si;
    sysinfo(&si);
    slurp("/proc/loadavg", buf, sizeof buf);
    double l[3];
    int running, total, last;
    sscanf(buf, "%lf %lf %lf %d/%d %d", &l[0], &l[1], &l[2], &running, &total, &last);
    printf("tasks: loadavg %d sysinfo %d\n", total, si.procs);
    for (int i = 0; i < 3; i++)
        printf("load %d agrees: %d\n", i, (long)(l[i] * 100 + 0.5) == (long)(si.loads[i] * 100.0 / 65536 + 0.5));
    slurp("/proc/uptime", buf, sizeof buf);
    printf("uptime agrees: %d\n", (long)atof(buf) - si.uptime <= 1 && si.uptime - (long)atof(buf) <= 1);
    printf("last pid is the newest child: %d\n", last == kids[1]);
    for (int i = 0; i < 2; i++) { kill(kids[i], SIGKILL); waitpid(kids[i], NULL, 0); }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *w = argc > 1 ? argv[1] : "";
    if (!strcmp(w, "sleeper")) { for (;;) pause(); }
    if (!strcmp(w, "tree")) tree(argv[0]);
    if (!strcmp(w, "cpus")) cpus();
    if (!strcmp(w, "affinity")) affinity();
    if (!strcmp(w, "load")) load();
    return 0;
}
