/* Prints "ready", then ticks: N sleeps of 1 ms, a line each. For checkpoints taken while it
   runs (run --checkpoint-on SIGNAL): the lines before and after add up to an uninterrupted run. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    unsigned long sum = 0;
    printf("ready\n");
    fflush(stdout);
    for (int i = 0; i < n; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        sum = sum * 31 + (unsigned long)i;
        printf("tick %d %lu\n", i, sum);
        fflush(stdout);
    }
    return 9;
}
