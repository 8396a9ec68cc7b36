/* stdio: printf, puts, stderr, buffered and unbuffered writes, reading stdin, exit status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    printf("hello, %s!\n", "world");
    puts("puts line");
    fprintf(stderr, "to stderr\n");
    for (int i = 0; i < 1000; i++) printf("%d%c", i, i % 20 == 19 ? '\n' : ' ');
    fflush(stdout);
    write(1, "raw write\n", 10);
    char buf[256];
    size_t total = 0;
    while (fgets(buf, sizeof buf, stdin)) {
        total += strlen(buf);
        printf("stdin: %s", buf);
    }
    printf("stdin bytes %zu\n", total);
    return argc > 1 ? atoi(argv[1]) : 0;
}
