/* System V IPC between processes: shared memory, semaphores, message queues.
 * Prints what does not depend on ids, pids or times, so native and emulated runs compare.
 * Usage: sysv shm|sem|semwait|semundo|msg|msgwait|limits */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

union semun { int val; struct semid_ds *buf; unsigned short *array; struct seminfo *__buf; };

static void say(const char *what, long r) {
    if (r < 0) printf("%s = -1 %s\n", what, errname(errno));
    else printf("%s = %ld\n", what, r);
    fflush(stdout);
}

static void nap(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int status_of(pid_t pid) {
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void on_usr1(int sig) { (void)sig; }

/* -- shared memory ------------------------------------------------------------------------ */
static void shm(void) {
    int id = shmget(IPC_PRIVATE, 10000, IPC_CREAT | 0600);
    say("shmget", id < 0 ? -1 : 0);
    struct shmid_ds ds;
    say("IPC_STAT", shmctl(id, IPC_STAT, &ds));
    printf("segsz=%zu nattch=%lu mode=%o\n", ds.shm_segsz, (unsigned long)ds.shm_nattch,
           ds.shm_perm.mode);
    char *p = shmat(id, NULL, 0);
    say("shmat", p == (void *)-1 ? -1 : 0);
    strcpy(p, "from parent");
    shmctl(id, IPC_STAT, &ds);
    printf("nattch after attach=%lu\n", (unsigned long)ds.shm_nattch);
    pid_t c = fork();
    if (c == 0) {
        shmctl(id, IPC_STAT, &ds);
        printf("child sees '%s' nattch=%lu\n", p, (unsigned long)ds.shm_nattch);
        fflush(stdout);
        strcpy(p + 5000, "written by the child");
        char *q = shmat(id, NULL, 0);  /* a second attach of the same segment */
        q[9999] = 'Z';
        nap(50);  /* attached in two processes for a while (a checkpoint sees it) */
        _exit(0);
    }
    printf("child exit %d\n", status_of(c));
    printf("parent reads '%s' last=%c\n", p + 5000, p[9999]);
    shmctl(id, IPC_STAT, &ds);
    printf("nattch after child=%lu\n", (unsigned long)ds.shm_nattch);
    say("shmdt middle", shmdt(p + 4096));
    say("shmdt", shmdt(p));
    say("shmdt again", shmdt(p));
    shmctl(id, IPC_STAT, &ds);
    printf("nattch after detach=%lu\n", (unsigned long)ds.shm_nattch);
    /* a read-only attach faults on a write */
    char *r = shmat(id, NULL, SHM_RDONLY);
    printf("rdonly reads '%.11s'\n", r);
    c = fork();
    if (c == 0) { r[0] = 'x'; _exit(0); }
    printf("write to rdonly: status %d\n", status_of(c));
    say("mprotect rdonly to write", mprotect(r, 4096, PROT_READ | PROT_WRITE));
    /* removal while attached: the segment stays until its last detach */
    say("IPC_RMID attached", shmctl(id, IPC_RMID, NULL));
    say("IPC_STAT after rmid", shmctl(id, IPC_STAT, &ds));
    printf("dest=%d key=%d nattch=%lu\n", !!(ds.shm_perm.mode & SHM_DEST), ds.shm_perm.__key,
           (unsigned long)ds.shm_nattch);
    say("shmdt last", shmdt(r));
    say("IPC_STAT destroyed", shmctl(id, IPC_STAT, &ds));
    /* munmap of an attach is a detach too (shm_close): shm_dtime and shm_lpid move */
    int m = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
    char *mp = shmat(m, NULL, 0);
    shmctl(m, IPC_STAT, &ds);
    printf("attached: nattch=%lu dtime set=%d\n", (unsigned long)ds.shm_nattch, ds.shm_dtime != 0);
    say("munmap its second page", munmap(mp + 4096, 4096));
    shmctl(m, IPC_STAT, &ds);
    printf("half: nattch=%lu dtime set=%d\n", (unsigned long)ds.shm_nattch, ds.shm_dtime != 0);
    say("munmap the rest", munmap(mp, 4096));
    shmctl(m, IPC_STAT, &ds);
    printf("munmapped: nattch=%lu dtime set=%d lpid mine=%d\n", (unsigned long)ds.shm_nattch,
           ds.shm_dtime != 0, ds.shm_lpid == getpid());
    shmctl(m, IPC_RMID, NULL);
    /* and a mapping over the attach: mmap MAP_FIXED, an mremap that shrinks it, SHM_REMAP */
    for (int how = 0; how < 3; how++) {
        static const char *what[] = {"MAP_FIXED over", "mremap shrink", "SHM_REMAP over"};
        m = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
        int other = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
        mp = shmat(m, NULL, 0);
        void *r2 = how == 0 ? mmap(mp, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
                 : how == 1 ? mremap(mp, 8192, 4096, 0)
                            : shmat(other, mp, SHM_REMAP);
        shmctl(m, IPC_STAT, &ds);
        printf("%s: %s, nattch=%lu dtime set=%d\n", what[how], r2 == mp ? "in place" : "moved",
               (unsigned long)ds.shm_nattch, ds.shm_dtime != 0);
        munmap(mp, 8192);
        shmctl(m, IPC_RMID, NULL);
        shmctl(other, IPC_RMID, NULL);
    }
    /* so is the end of a process that never detached: its exit, or its exec */
    for (int how = 0; how < 2; how++) {
        m = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
        pid_t k = fork();
        if (k == 0) {
            shmat(m, NULL, 0);
            if (how) execl("/bin/true", "true", (char *)0);
            _exit(0);
        }
        printf("%s: status %d", how ? "attached, then exec" : "attached, then exit", status_of(k));
        shmctl(m, IPC_STAT, &ds);
        printf(", nattch=%lu dtime set=%d lpid the child's=%d\n", (unsigned long)ds.shm_nattch,
               ds.shm_dtime != 0, ds.shm_lpid == k);
        shmctl(m, IPC_RMID, NULL);
    }
    /* errors */
    say("shmget size 0", shmget(IPC_PRIVATE, 0, 0600));
    key_t key = 0x5EC00000 | (getpid() & 0xFFFF);
    say("shmget missing key", shmget(key, 4096, 0600));
    int k = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
    say("shmget create key", k < 0 ? -1 : 0);
    say("shmget same key", shmget(key, 4096, 0600) == k ? 0 : -1);
    say("shmget excl", shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600));
    say("shmget bigger", shmget(key, 8192, 0600));
    say("shmat unaligned", (long)shmat(k, (void *)0x10000123, 0));
    void *a = shmat(k, (void *)0x10000123, SHM_RND);
    printf("shm_rnd at %p\n", a);
    void *b = shmat(k, (void *)0x10000000, 0);
    say("shmat over a mapping", b == (void *)-1 ? -1 : 0);
    b = shmat(k, (void *)0x10000000, SHM_REMAP);
    say("shmat SHM_REMAP", b == (void *)0x10000000 ? 0 : -1);
    say("shmctl bad cmd", shmctl(k, 99, &ds));
    say("shmctl bad id", shmctl(k + 1, IPC_STAT, &ds));
    say("shmctl negative id", shmctl(-1, IPC_STAT, &ds));
    say("shmctl efault", shmctl(k, IPC_STAT, (void *)8));
    ds.shm_perm.mode = 0640;
    shmctl(k, IPC_STAT, &ds);
    ds.shm_perm.mode = 0640;
    say("IPC_SET", shmctl(k, IPC_SET, &ds));
    shmctl(k, IPC_STAT, &ds);
    printf("mode after set=%o\n", ds.shm_perm.mode & 0777);
    struct shminfo info;
    say("IPC_INFO ok", shmctl(0, IPC_INFO, (struct shmid_ds *)&info) >= 0 ? 0 : -1);
    printf("shmmni=%lu shmmin=%lu\n", info.shmmni, info.shmmin);
    shmdt(b);
    say("IPC_RMID", shmctl(k, IPC_RMID, NULL));
    say("IPC_RMID again", shmctl(k, IPC_RMID, NULL));
}

/* -- semaphores ------------------------------------------------------------------------------ */
static void sem(void) {
    int id = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
    say("semget", id < 0 ? -1 : 0);
    union semun u;
    struct semid_ds ds;
    u.buf = &ds;
    say("IPC_STAT", semctl(id, 0, IPC_STAT, u));
    printf("nsems=%lu mode=%o\n", (unsigned long)ds.sem_nsems, ds.sem_perm.mode);
    u.val = 5;
    say("SETVAL", semctl(id, 1, SETVAL, u));
    say("GETVAL", semctl(id, 1, GETVAL));
    u.val = 32768;
    say("SETVAL too big", semctl(id, 1, SETVAL, u));
    u.val = -1;
    say("SETVAL negative", semctl(id, 1, SETVAL, u));
    say("GETVAL semnum 3", semctl(id, 3, GETVAL));
    unsigned short all[3] = {1, 0, 7};
    u.array = all;
    say("SETALL", semctl(id, 0, SETALL, u));
    unsigned short got[3] = {9, 9, 9};
    u.array = got;
    say("GETALL", semctl(id, 0, GETALL, u));
    printf("values %d %d %d\n", got[0], got[1], got[2]);
    say("GETPID is me", semctl(id, 0, GETPID) == getpid() ? 0 : -1);
    /* all or nothing: the second operation would block, so the first does not happen */
    struct sembuf two[2] = {{0, -1, IPC_NOWAIT}, {1, -1, IPC_NOWAIT}};
    say("semop atomic nowait", semop(id, two, 2));
    say("GETVAL 0 unchanged", semctl(id, 0, GETVAL));
    struct sembuf dec2[2] = {{2, -3, 0}, {2, -3, 0}};
    say("semop same sem twice", semop(id, dec2, 2));
    say("GETVAL 2", semctl(id, 2, GETVAL));
    struct sembuf over = {2, 32767, 0};
    say("semop ERANGE", semop(id, &over, 1));
    struct sembuf bad = {3, 1, 0};
    say("semop EFBIG", semop(id, &bad, 1));
    say("semop nsops 0", semop(id, &bad, 0));
    say("semop E2BIG", semop(id, &bad, 501));
    say("semop EFAULT", semop(id, (void *)8, 1));
    say("semop bad id", semop(id + 1, &bad, 1));
    struct sembuf zero = {1, 0, IPC_NOWAIT};
    say("wait for zero ok", semop(id, &zero, 1));
    struct sembuf wait0 = {0, -2, 0};
    struct timespec ts = {0, 50 * 1000 * 1000};
    say("semtimedop timeout", semtimedop(id, &wait0, 1, &ts));
    ts.tv_nsec = 1000000000;
    say("semtimedop bad timeout", semtimedop(id, &wait0, 1, &ts));
    struct seminfo si;
    u.__buf = &si;
    say("IPC_INFO ok", semctl(id, 0, IPC_INFO, u) >= 0 ? 0 : -1);
    printf("semmsl=%d semopm=%d semvmx=%d\n", si.semmsl, si.semopm, si.semvmx);
    say("bad cmd", semctl(id, 0, 99));
    say("IPC_RMID", semctl(id, 0, IPC_RMID));
    say("GETVAL removed", semctl(id, 0, GETVAL));
    say("semget nsems too big", semget(IPC_PRIVATE, 32001, 0600));
    say("semget nsems 0", semget(IPC_PRIVATE, 0, 0600));
}

/* blocking: a child waits for a value, for zero, is woken by IPC_RMID and by a signal */
static void semwait(void) {
    int id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    union semun u;
    signal(SIGUSR1, on_usr1);
    pid_t c = fork();
    if (c == 0) {
        struct sembuf down = {0, -1, 0};
        int r = semop(id, &down, 1);
        printf("child: semop down = %d\n", r);
        fflush(stdout);
        _exit(0);
    }
    while (semctl(id, 0, GETNCNT) != 1) nap(5);
    say("GETNCNT", semctl(id, 0, GETNCNT));
    struct sembuf up = {0, 1, 0};
    long upr = semop(id, &up, 1);
    printf("child exit %d\n", status_of(c));
    say("semop up", upr);
    say("GETVAL after handoff", semctl(id, 0, GETVAL));
    say("GETNCNT after", semctl(id, 0, GETNCNT));

    u.val = 2;
    semctl(id, 1, SETVAL, u);
    c = fork();
    if (c == 0) {
        struct sembuf z = {1, 0, 0};
        int r = semop(id, &z, 1);
        printf("child: wait for zero = %d\n", r);
        fflush(stdout);
        _exit(0);
    }
    while (semctl(id, 1, GETZCNT) != 1) nap(5);
    say("GETZCNT", semctl(id, 1, GETZCNT));
    struct sembuf d1 = {1, -1, 0};
    semop(id, &d1, 1);
    say("GETZCNT at 1", semctl(id, 1, GETZCNT));
    semop(id, &d1, 1);
    printf("child exit %d\n", status_of(c));

    /* several operations wait together: both semaphores must be available */
    c = fork();
    if (c == 0) {
        struct sembuf both[2] = {{0, -1, 0}, {1, -1, 0}};
        int r = semop(id, both, 2);
        printf("child: both = %d\n", r);
        fflush(stdout);
        _exit(0);
    }
    while (semctl(id, 0, GETNCNT) != 1) nap(5);
    semop(id, &up, 1);
    nap(50);
    say("GETVAL 0 while 1 is 0", semctl(id, 0, GETVAL));
    struct sembuf up1 = {1, 1, 0};
    semop(id, &up1, 1);
    printf("child exit %d\n", status_of(c));
    say("GETVAL 0", semctl(id, 0, GETVAL));
    say("GETVAL 1", semctl(id, 1, GETVAL));

    /* a signal with a handler ends the wait with EINTR */
    c = fork();
    if (c == 0) {
        struct sembuf down = {0, -1, 0};
        int r = semop(id, &down, 1);
        printf("child: semop = %d %s\n", r, r < 0 ? errname(errno) : "");
        fflush(stdout);
        _exit(0);
    }
    while (semctl(id, 0, GETNCNT) != 1) nap(5);
    kill(c, SIGUSR1);
    printf("child exit %d\n", status_of(c));
    say("GETNCNT after EINTR", semctl(id, 0, GETNCNT));

    /* IPC_RMID wakes every waiter with EIDRM */
    for (int i = 0; i < 2; i++) {
        if (fork() == 0) {
            struct sembuf down = {0, -1, 0};
            int r = semop(id, &down, 1);
            printf("child: semop = %d %s\n", r, r < 0 ? errname(errno) : "");
            fflush(stdout);
            _exit(0);
        }
        while (semctl(id, 0, GETNCNT) != i + 1) nap(5);
    }
    long rm = semctl(id, 0, IPC_RMID);
    int st, n = 0;
    while (wait(&st) > 0) n++;
    say("IPC_RMID", rm);
    printf("reaped %d\n", n);
}

/* SEM_UNDO: an exiting process's adjustments are undone */
static void semundo(void) {
    int id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    union semun u;
    u.val = 3;
    semctl(id, 1, SETVAL, u);
    pid_t c = fork();
    if (c == 0) {
        struct sembuf ops[2] = {{0, 2, SEM_UNDO}, {1, -1, SEM_UNDO}};
        printf("child: semop = %d\n", semop(id, ops, 2));
        struct sembuf more = {0, 1, SEM_UNDO};
        semop(id, &more, 1);
        struct sembuf plain = {0, 1, 0};
        semop(id, &plain, 1);
        printf("child: values %d %d\n", semctl(id, 0, GETVAL), semctl(id, 1, GETVAL));
        fflush(stdout);
        _exit(0);
    }
    printf("child exit %d\n", status_of(c));
    say("GETVAL 0 after undo", semctl(id, 0, GETVAL));
    say("GETVAL 1 after undo", semctl(id, 1, GETVAL));
    say("GETPID is the child", semctl(id, 0, GETPID) == c ? 0 : -1);

    /* SETVAL clears every process's adjustment of that semaphore */
    int go[2];
    pipe(go);
    c = fork();
    if (c == 0) {
        struct sembuf up = {0, 5, SEM_UNDO};
        semop(id, &up, 1);
        char ch;
        read(go[0], &ch, 1);
        _exit(0);
    }
    while (semctl(id, 0, GETVAL) != 6) nap(5);
    u.val = 2;
    semctl(id, 0, SETVAL, u);
    write(go[1], "g", 1);
    printf("child exit %d\n", status_of(c));
    say("GETVAL after SETVAL cleared the undo", semctl(id, 0, GETVAL));

    /* the undo is clamped at 0: the value went down meanwhile */
    c = fork();
    if (c == 0) {
        struct sembuf up = {0, 5, SEM_UNDO};
        semop(id, &up, 1);
        struct sembuf down = {0, -6, 0};
        semop(id, &down, 1);
        _exit(0);
    }
    printf("child exit %d\n", status_of(c));
    say("GETVAL clamped", semctl(id, 0, GETVAL));

    /* an undo that lets a waiter go */
    u.val = 0;
    semctl(id, 1, SETVAL, u);
    pid_t holder = fork();
    if (holder == 0) {
        struct sembuf up = {1, 1, 0}, down = {1, -1, SEM_UNDO};
        semop(id, &up, 1);
        semop(id, &down, 1);
        char ch;
        read(go[0], &ch, 1);
        _exit(0);
    }
    while (semctl(id, 1, GETVAL) != 0 || semctl(id, 1, GETPID) != holder) nap(5);
    c = fork();
    if (c == 0) {
        struct sembuf down = {1, -1, 0};
        printf("waiter: semop = %d\n", semop(id, &down, 1));
        fflush(stdout);
        _exit(0);
    }
    while (semctl(id, 1, GETNCNT) != 1) nap(5);
    write(go[1], "g", 1);
    int hs = status_of(holder), ws = status_of(c);
    printf("holder exit %d waiter exit %d\n", hs, ws);
    semctl(id, 0, IPC_RMID);
}

/* -- message queues ---------------------------------------------------------------------------- */
struct msg { long mtype; char text[64]; };

static void msg(void) {
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    say("msgget", id < 0 ? -1 : 0);
    struct msg m;
    for (int t = 3; t >= 1; t--) {
        m.mtype = t;
        snprintf(m.text, sizeof m.text, "type %d", t);
        say("msgsnd", msgsnd(id, &m, strlen(m.text) + 1, 0));
    }
    m.mtype = 2;
    strcpy(m.text, "second of type 2");
    msgsnd(id, &m, strlen(m.text) + 1, 0);
    struct msqid_ds ds;
    say("IPC_STAT", msgctl(id, IPC_STAT, &ds));
    printf("qnum=%lu cbytes=%lu qbytes=%lu mode=%o\n", (unsigned long)ds.msg_qnum,
           (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes, ds.msg_perm.mode);
    say("lspid is me", ds.msg_lspid == getpid() ? 0 : -1);
    long r = msgrcv(id, &m, sizeof m.text, 2, 0);
    printf("type 2: %ld %ld '%s'\n", r, m.mtype, m.text);
    r = msgrcv(id, &m, sizeof m.text, -3, 0);
    printf("type <= 3: %ld %ld '%s'\n", r, m.mtype, m.text);
    r = msgrcv(id, &m, sizeof m.text, 3, MSG_EXCEPT);
    printf("except 3: %ld %ld '%s'\n", r, m.mtype, m.text);
    say("E2BIG", msgrcv(id, &m, 2, 0, 0));
    memset(m.text, 0, sizeof m.text);
    r = msgrcv(id, &m, 2, 0, MSG_NOERROR);
    printf("noerror: %ld %ld '%s'\n", r, m.mtype, m.text);
    say("ENOMSG", msgrcv(id, &m, sizeof m.text, 0, IPC_NOWAIT));
    m.mtype = 0;
    say("msgsnd type 0", msgsnd(id, &m, 4, 0));
    m.mtype = 1;
    say("msgsnd too long", msgsnd(id, &m, 8193, 0));
    say("msgsnd EFAULT", msgsnd(id, (void *)8, 4, 0));
    say("msgrcv bad id", msgrcv(id + 1, &m, 4, 0, 0));
    say("msgsnd bad id", msgsnd(-1, &m, 4, 0));
    /* MSG_COPY peeks by position */
    m.mtype = 7;
    strcpy(m.text, "peek");
    msgsnd(id, &m, 5, 0);
    r = msgrcv(id, &m, sizeof m.text, 0, MSG_COPY | IPC_NOWAIT);
    printf("copy: %ld %ld '%s'\n", r, m.mtype, r >= 0 ? m.text : "");
    say("MSG_COPY without NOWAIT", msgrcv(id, &m, sizeof m.text, 0, MSG_COPY));
    msgrcv(id, &m, sizeof m.text, 0, IPC_NOWAIT);
    /* the queue's limit: a small qbytes makes IPC_NOWAIT senders fail */
    msgctl(id, IPC_STAT, &ds);
    ds.msg_qbytes = 10;
    say("IPC_SET qbytes", msgctl(id, IPC_SET, &ds));
    m.mtype = 1;
    say("send 8", msgsnd(id, &m, 8, IPC_NOWAIT));
    say("send 8 more", msgsnd(id, &m, 8, IPC_NOWAIT));
    ds.msg_qbytes = 1 << 30;
    say("IPC_SET qbytes too big as root?", msgctl(id, IPC_SET, &ds) < 0 && errno != EPERM ? -1 : 0);
    struct msginfo mi;
    say("IPC_INFO ok", msgctl(0, IPC_INFO, (struct msqid_ds *)&mi) >= 0 ? 0 : -1);
    printf("msgmax=%d msgmnb=%d msgssz=%d\n", mi.msgmax, mi.msgmnb, mi.msgssz);
    say("IPC_RMID", msgctl(id, IPC_RMID, NULL));
    say("IPC_STAT removed", msgctl(id, IPC_STAT, &ds));
}

/* blocking both ways, and IPC_RMID waking a receiver */
static void msgwait(void) {
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    int ready[2];
    pipe(ready);
    struct msg m;
    pid_t c = fork();
    if (c == 0) {
        write(ready[1], "r", 1);
        long r = msgrcv(id, &m, sizeof m.text, 5, 0);
        printf("child: got %ld type %ld '%s'\n", r, m.mtype, m.text);
        fflush(stdout);
        _exit(0);
    }
    char ch;
    read(ready[0], &ch, 1);
    nap(100);
    m.mtype = 4;
    strcpy(m.text, "not for the child");
    msgsnd(id, &m, strlen(m.text) + 1, 0);
    m.mtype = 5;
    strcpy(m.text, "for the child");
    msgsnd(id, &m, strlen(m.text) + 1, 0);
    printf("child exit %d\n", status_of(c));
    struct msqid_ds ds;
    msgctl(id, IPC_STAT, &ds);
    printf("qnum=%lu\n", (unsigned long)ds.msg_qnum);
    msgrcv(id, &m, sizeof m.text, 0, 0);

    /* a full queue blocks the sender until a receive makes room */
    msgctl(id, IPC_STAT, &ds);
    ds.msg_qbytes = 16;
    msgctl(id, IPC_SET, &ds);
    m.mtype = 1;
    msgsnd(id, &m, 12, 0);
    c = fork();
    if (c == 0) {
        write(ready[1], "s", 1);
        m.mtype = 2;
        int r = msgsnd(id, &m, 12, 0);
        printf("child: send = %d\n", r);
        fflush(stdout);
        _exit(0);
    }
    read(ready[0], &ch, 1);
    nap(100);
    msgctl(id, IPC_STAT, &ds);
    printf("qnum while the sender waits=%lu\n", (unsigned long)ds.msg_qnum);
    long r = msgrcv(id, &m, sizeof m.text, 0, 0);
    printf("child exit %d\n", status_of(c));
    printf("received %ld type %ld\n", r, m.mtype);
    msgctl(id, IPC_STAT, &ds);
    printf("qnum=%lu\n", (unsigned long)ds.msg_qnum);

    /* IPC_RMID wakes a waiting receiver with EIDRM */
    c = fork();
    if (c == 0) {
        write(ready[1], "r", 1);
        long r2 = msgrcv(id, &m, sizeof m.text, 9, 0);
        printf("child: msgrcv = %ld %s\n", r2, r2 < 0 ? errname(errno) : "");
        fflush(stdout);
        _exit(0);
    }
    read(ready[0], &ch, 1);
    nap(100);
    long rm = msgctl(id, IPC_RMID, NULL);
    printf("child exit %d\n", status_of(c));
    say("IPC_RMID", rm);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *what = argc > 1 ? argv[1] : "shm";
    if (!strcmp(what, "shm")) shm();
    else if (!strcmp(what, "sem")) sem();
    else if (!strcmp(what, "semwait")) semwait();
    else if (!strcmp(what, "semundo")) semundo();
    else if (!strcmp(what, "msg")) msg();
    else if (!strcmp(what, "msgwait")) msgwait();
    else return 2;
    return 0;
}
