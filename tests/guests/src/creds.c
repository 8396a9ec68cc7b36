/* Credentials: set*id rules, capabilities (capget/capset, their changes with the uids, prctl's
 * keepcaps, bounding and ambient sets), no_new_privs, what setuid does to dumpable and the
 * parent-death signal, and the per-user process count a setuid moves. Run as root.
 *   creds            the whole story (forks children for what cannot be undone)
 *   creds exec-nnp   (internal) report no_new_privs and capabilities after an exec */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

/* <linux/capability.h>, which musl's headers lack */
struct __user_cap_header_struct { uint32_t version; int pid; };
struct __user_cap_data_struct { uint32_t effective, permitted, inheritable; };
#define _LINUX_CAPABILITY_VERSION_1 0x19980330
#define _LINUX_CAPABILITY_VERSION_3 0x20080522
enum { CAP_CHOWN = 0, CAP_DAC_OVERRIDE = 1, CAP_FOWNER = 3, CAP_KILL = 5, CAP_SETGID = 6,
       CAP_SETUID = 7, CAP_SETPCAP = 8, CAP_NET_RAW = 13, CAP_SYS_ADMIN = 21, CAP_SYS_NICE = 23 };
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_IS_SET 1
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_LOWER 3
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld errno %d\n", name, r_, r_ < 0 ? e_ : 0); } while (0)
/* The host may withhold a capability or two (CAP_SYS_RESOURCE in some containers): compare
 * only the ones a root process here is sure to hold. */
#define KNOWN ((1ULL << CAP_CHOWN) | (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_FOWNER) | \
    (1ULL << CAP_KILL) | (1ULL << CAP_SETGID) | (1ULL << CAP_SETUID) | (1ULL << CAP_SETPCAP) | \
    (1ULL << CAP_SYS_ADMIN) | (1ULL << CAP_SYS_NICE) | (1ULL << CAP_NET_RAW))

static uint64_t caps[3];  /* effective, permitted, inheritable */

static long getcaps(pid_t pid) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, pid};
  struct __user_cap_data_struct d[2];
  long r = syscall(SYS_capget, &h, d);
  if (r == 0) {
    caps[0] = d[0].effective | (uint64_t)d[1].effective << 32;
    caps[1] = d[0].permitted | (uint64_t)d[1].permitted << 32;
    caps[2] = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
  }
  return r;
}

static long setcaps(uint64_t eff, uint64_t perm, uint64_t inh) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2] = {
      {(uint32_t)eff, (uint32_t)perm, (uint32_t)inh},
      {(uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32)}};
  return syscall(SYS_capset, &h, d);
}

static void show(const char *what) {
  getcaps(0);
  printf("%s: eff %llx perm %llx inh %llx\n", what, (unsigned long long)(caps[0] & KNOWN),
         (unsigned long long)(caps[1] & KNOWN), (unsigned long long)(caps[2] & KNOWN));
}

static void ids(const char *what) {
  uid_t r, e, s;
  gid_t gr, ge, gs;
  getresuid(&r, &e, &s);
  getresgid(&gr, &ge, &gs);
  printf("%s: uid %u %u %u fsuid %d gid %u %u %u fsgid %d\n", what, r, e, s,
         (int)syscall(SYS_setfsuid, -1), gr, ge, gs, (int)syscall(SYS_setfsgid, -1));
}

/* The /proc/self/status line "<key>:\t..." as printed (tabs kept), or "none". */
static void status_line(const char *key) {
  char line[256];
  FILE *f = fopen("/proc/self/status", "r");
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0 && line[n] == ':') {
      printf("status %s", line);
      fclose(f);
      return;
    }
  if (f) fclose(f);
  printf("status %s: none\n", key);
}

/* /proc/self/status's Cap<which> set, limited to the capabilities compared (KNOWN). */
static void status_caps(const char *key) {
  char line[256];
  FILE *f = fopen("/proc/self/status", "r");
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0 && line[n] == ':') {
      printf("status %s %llx\n", key, strtoull(line + n + 1, NULL, 16) & KNOWN);
      fclose(f);
      return;
    }
  if (f) fclose(f);
  printf("status %s: none\n", key);
}

static int wait_child(pid_t p) {
  int st;
  waitpid(p, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* setuid from one thread, which then exits: the process goes on (the per-user count moved). */
static void *setuid_thread(void *arg) {
  (void)arg;
  T("thread setuid 4242", syscall(SYS_setuid, 4242));
  return NULL;
}

static void uid_rules(void) {
  T("setuid -1", syscall(SYS_setuid, -1));
  T("setgid -1", syscall(SYS_setgid, -1));
  T("setreuid -1 -1", syscall(SYS_setreuid, -1, -1));
  T("setresuid -1 -1 -1", syscall(SYS_setresuid, -1, -1, -1));
  ids("start");
  pid_t p = fork();
  if (p == 0) {  /* setreuid: the saved uid follows a new real uid or a foreign euid */
    T("setreuid 1000 2000", syscall(SYS_setreuid, 1000, 2000));
    ids("after setreuid");
    show("caps after setreuid");
    T("setreuid -1 1000", syscall(SYS_setreuid, -1, 1000));
    ids("euid back to ruid");
    T("setreuid 3000 -1", syscall(SYS_setreuid, 3000, -1));
    T("setreuid -1 2000", syscall(SYS_setreuid, -1, 2000));
    T("setuid 0", syscall(SYS_setuid, 0));
    T("setuid 1000", syscall(SYS_setuid, 1000));
    ids("unprivileged setuid");
    T("setresuid 0 -1 -1", syscall(SYS_setresuid, 0, -1, -1));
    T("setfsuid 77 (old)", syscall(SYS_setfsuid, 77));
    T("setfsuid 2000 (old)", syscall(SYS_setfsuid, 2000));
    ids("fsuid");
    status_line("Uid");
    status_line("Gid");
    fflush(stdout);
    _exit(0);
  }
  printf("child %d\n", wait_child(p));
  p = fork();
  if (p == 0) {  /* euid only: capabilities come back with euid 0 */
    T("setresuid -1 1000 -1", syscall(SYS_setresuid, -1, 1000, -1));
    show("caps euid 1000");
    status_caps("CapEff");
    status_caps("CapPrm");
    T("setfsuid 0 (old)", syscall(SYS_setfsuid, 0));
    show("caps fsuid 0");
    T("setresuid -1 0 -1", syscall(SYS_setresuid, -1, 0, -1));
    show("caps euid 0");
    T("setregid 10 20", syscall(SYS_setregid, 10, 20));
    ids("after setregid");
    T("setresgid 1 2 3", syscall(SYS_setresgid, 1, 2, 3));
    T("setgid 5", syscall(SYS_setgid, 5));
    ids("after setgid");
    fflush(stdout);
    _exit(0);
  }
  printf("child %d\n", wait_child(p));
  p = fork();
  if (p == 0) {  /* a thread changes its own uid and exits; the process forks on */
    pthread_t t;
    pthread_create(&t, NULL, setuid_thread, NULL);
    pthread_join(t, NULL);
    ids("main thread after the thread's setuid");
    T("setuid 4343 (all threads)", setuid(4343));
    pid_t q = fork();
    if (q == 0) {
      ids("grandchild");
      fflush(stdout);
      _exit(7);
    }
    printf("grandchild %d\n", wait_child(q));
    fflush(stdout);
    _exit(0);
  }
  printf("child %d\n", wait_child(p));
  p = fork();
  if (p == 0) {  /* RLIMIT_NPROC counts the processes of the real uid the count moved to */
    struct rlimit rl = {1, 1};
    setrlimit(RLIMIT_NPROC, &rl);
    T("setuid 5151", syscall(SYS_setuid, 5151));
    T("fork over RLIMIT_NPROC", fork());
    fflush(stdout);
    _exit(0);
  }
  printf("child %d\n", wait_child(p));
}

static void cap_rules(void) {
  show("root");
  struct __user_cap_header_struct h = {0x12345678, 0};
  T("capget bad version", syscall(SYS_capget, &h, NULL));
  printf("version written back %x\n", h.version);
  h.version = 0x12345678;
  struct __user_cap_data_struct d[2];
  T("capget bad version with data", syscall(SYS_capget, &h, d));
  h.version = _LINUX_CAPABILITY_VERSION_3;
  h.pid = -1;
  T("capget pid -1", syscall(SYS_capget, &h, d));
  h.pid = 0;
  T("capget NULL data", syscall(SYS_capget, &h, NULL));
  h.version = _LINUX_CAPABILITY_VERSION_1;
  T("capget v1", syscall(SYS_capget, &h, d));
  T("capget bad pointer", syscall(SYS_capget, (void *)8, d));
  pid_t p = fork();
  if (p == 0) {
    getcaps(0);
    uint64_t all = caps[1];
    T("drop CAP_DAC_OVERRIDE from effective",
      setcaps(all & ~(1ULL << CAP_DAC_OVERRIDE), all, 0));
    show("dropped");
    T("raise it again", setcaps(all, all, 0));
    T("effective beyond permitted", setcaps(all, all & ~(1ULL << CAP_KILL), 0));
    T("drop CAP_KILL from permitted",
      setcaps(all & ~(1ULL << CAP_KILL), all & ~(1ULL << CAP_KILL), 0));
    T("raise permitted back", setcaps(all, all, 0));
    T("inheritable", setcaps(all & ~(1ULL << CAP_KILL), all & ~(1ULL << CAP_KILL),
                             1ULL << CAP_CHOWN));
    show("inheritable set");
    struct __user_cap_header_struct h2 = {_LINUX_CAPABILITY_VERSION_3, getppid()};
    struct __user_cap_data_struct d2[2] = {{0}};
    T("capset another pid", syscall(SYS_capset, &h2, d2));
    T("capget parent", getcaps(getppid()));
    printf("parent has CAP_KILL %d\n", (int)(caps[0] >> CAP_KILL & 1));
    T("capbset read CAP_CHOWN", prctl(PR_CAPBSET_READ, CAP_CHOWN));
    T("capbset read 64", prctl(PR_CAPBSET_READ, 64));
    T("capbset drop CAP_CHOWN", prctl(PR_CAPBSET_DROP, CAP_CHOWN));
    T("capbset read CAP_CHOWN", prctl(PR_CAPBSET_READ, CAP_CHOWN));
    T("ambient raise CAP_CHOWN", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHOWN, 0, 0));
    T("ambient is set", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_CHOWN, 0, 0));
    T("ambient raise CAP_KILL", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0));
    T("ambient clear with arg", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 1, 0, 0));
    T("ambient lower", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_CHOWN, 0, 0));
    T("ambient is set", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_CHOWN, 0, 0));
    T("ambient bad op", prctl(PR_CAP_AMBIENT, 9, 0, 0, 0));
    T("get keepcaps", prctl(PR_GET_KEEPCAPS));
    T("set keepcaps 2", prctl(PR_SET_KEEPCAPS, 2));
    T("get securebits", prctl(PR_GET_SECUREBITS));
    T("set securebits unknown", prctl(PR_SET_SECUREBITS, 1 << 30));
    fflush(stdout);
    _exit(0);
  }
  printf("child %d\n", wait_child(p));
  p = fork();
  if (p == 0) {  /* leaving uid 0: permitted and effective go, unless keepcaps */
    T("set keepcaps 1", prctl(PR_SET_KEEPCAPS, 1));
    T("get keepcaps", prctl(PR_GET_KEEPCAPS));
    T("setresuid 1000 1000 1000", syscall(SYS_setresuid, 1000, 1000, 1000));
    show("keepcaps after setuid");
    T("raise effective from permitted", setcaps(caps[1], caps[1], 0));
    show("raised");
    T("setuid 1234 with CAP_SETUID", syscall(SYS_setuid, 1234));
    ids("after");
    T("setgroups (CAP_SETGID raised)", setgroups(0, NULL));
    fflush(stdout);
    _exit(0);
  }
  printf("child %d\n", wait_child(p));
  p = fork();
  if (p == 0) {
    T("setuid 1000", syscall(SYS_setuid, 1000));
    show("after setuid");
    T("capset raise", setcaps(1ULL << CAP_KILL, 1ULL << CAP_KILL, 0));
    T("kill parent without CAP_KILL", kill(getppid(), 0));
    T("setuid 0", syscall(SYS_setuid, 0));
    fflush(stdout);
    _exit(0);
  }
  printf("child %d\n", wait_child(p));
}

static void prctl_rules(const char *self) {
  T("get dumpable", prctl(PR_GET_DUMPABLE));
  T("get no_new_privs", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
  T("get no_new_privs with arg", prctl(PR_GET_NO_NEW_PRIVS, 1, 0, 0, 0));
  T("set no_new_privs 2", prctl(PR_SET_NO_NEW_PRIVS, 2, 0, 0, 0));
  pid_t p = fork();
  if (p == 0) {
    status_line("NoNewPrivs");
    T("set no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    status_line("NoNewPrivs");
    T("set dumpable 0", prctl(PR_SET_DUMPABLE, 0));
    pid_t q = fork();
    if (q == 0) {
      T("fork child: no_new_privs", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
      T("fork child: dumpable", prctl(PR_GET_DUMPABLE));
      T("fork child: pdeathsig cleared", ({ int s = -1; prctl(PR_GET_PDEATHSIG, &s); s; }));
      fflush(stdout);
      execl(self, self, "exec-nnp", (char *)NULL);
      _exit(99);
    }
    printf("grandchild %d\n", wait_child(q));
    T("set pdeathsig", prctl(PR_SET_PDEATHSIG, SIGUSR1));
    T("seteuid 1000", syscall(SYS_setresuid, -1, 1000, -1));
    T("dumpable after an euid change", prctl(PR_GET_DUMPABLE));
    T("pdeathsig after an euid change", ({ int s = -1; prctl(PR_GET_PDEATHSIG, &s); s; }));
    fflush(stdout);
    _exit(0);
  }
  printf("child %d\n", wait_child(p));
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1 && strcmp(argv[1], "exec-nnp") == 0) {
    T("after exec: no_new_privs", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    T("after exec: dumpable", prctl(PR_GET_DUMPABLE));
    show("after exec");
    return 3;
  }
  if (getuid() != 0) {
    printf("not root\n");
    return 0;
  }
  uid_rules();
  cap_rules();
  prctl_rules(argv[0]);
  return 0;
}
