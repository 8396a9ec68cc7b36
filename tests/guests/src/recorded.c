/* A program whose output depends on its host input: a file of the root, a directory listing, a
   link, stdin; and on what a deterministic run fixes: time, randomness, the schedule of two
   threads. `run --deterministic --record` then `replay` must print the same where the host files
   and stdin have changed (test_record.py). */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long counter;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg) {
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&lock);
        counter += (long)arg;
        pthread_mutex_unlock(&lock);
        if (i % 500 == 0) sched_yield();
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *dir = argv[1];
    char path[4096], buf[256];
    snprintf(path, sizeof path, "%s/data.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) { perror("data.txt"); return 1; }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    struct stat st;
    stat(path, &st);
    printf("data (%ld bytes, mode %o): %s", (long)st.st_size, st.st_mode & 0777, buf);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') printf("entry %s\n", e->d_name);
    if (d) closedir(d);
    snprintf(path, sizeof path, "%s/link", dir);
    ssize_t k = readlink(path, buf, sizeof buf - 1);
    if (k >= 0) { buf[k] = 0; printf("link -> %s\n", buf); }
    char line[256];
    while (fgets(line, sizeof line, stdin)) printf("stdin: %s", line);
    unsigned char r[4];
    getrandom(r, sizeof r, 0);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    pthread_t a, b;
    pthread_create(&a, NULL, worker, (void *)1);
    pthread_create(&b, NULL, worker, (void *)2);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("random %02x%02x%02x%02x time %ld.%09ld counter %ld\n", r[0], r[1], r[2], r[3],
           (long)ts.tv_sec, ts.tv_nsec, counter);
    return 0;
}
