/* Tasks that only make progress if the scheduler preempts a loop without syscalls: quanta.
   1. threads: a thread spins (no syscalls) until main, computing, sets a flag; then main
      spins until the thread answers (whichever ran first, one of them must be preempted).
   2. alone again (no quanta: the engine runs unbounded), a compute loop prints a checksum.
   3. fork: the child spins on a MAP_SHARED word until the parent, spinning, sets it; the
      child answers in another word and exits; the parent waits.
   4. alarm: a loop without syscalls is interrupted by SIGALRM's handler, which ends it.
   Each phase prints what it computed; Linux is the oracle (every line is deterministic). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static _Atomic int flag, answer;
static volatile sig_atomic_t rang;

static unsigned long work(unsigned long n) {
    unsigned long x = 1;
    for (unsigned long i = 0; i < n; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    return x;
}

static void *spinner(void *arg) {
    (void)arg;
    while (!atomic_load(&flag)) ;
    atomic_store(&answer, 1);
    return NULL;
}

static void on_alarm(int sig) { (void)sig; rang = 1; }

int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, spinner, NULL);
    unsigned long x = work(3000000);
    atomic_store(&flag, 1);
    while (!atomic_load(&answer)) x ^= 1;
    pthread_join(t, NULL);
    printf("threads: answer %d\n", atomic_load(&answer));
    printf("alone: %lx\n", work(5000000));
    fflush(stdout);

    _Atomic int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pid = fork();
    if (pid == 0) {
        while (!atomic_load(&shared[0])) ;
        atomic_store(&shared[1], 7);
        _exit(3);
    }
    x ^= work(2000000);
    atomic_store(&shared[0], 1);
    while (atomic_load(&shared[1]) != 7) ;
    int status;
    waitpid(pid, &status, 0);
    printf("fork: child said %d, status %d\n", atomic_load(&shared[1]), WEXITSTATUS(status));

    signal(SIGALRM, on_alarm);
    alarm(1);
    unsigned long loops = 0;
    while (!rang) loops++;
    printf("alarm: rang %d after some loops %d\n", (int)rang, loops > 0);
    printf("after: %lx\n", work(1000000) ^ (x & 0));
    return 0;
}
