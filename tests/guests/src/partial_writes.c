/* A blocking write larger than the buffer, cut short by the reader closing: it returns the bytes
 * it wrote, SIGPIPE comes anyway, and the next write fails with EPIPE (pipe_write,
 * unix_stream_sendmsg). For a pipe and a UNIX stream socket. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile int sigs;
static int fds[2];
static long first, second;
static int second_errno;
static char buf[1 << 20];

static void on_sigpipe(int s) { (void)s; sigs++; }

static void *writer(void *arg) {
    long size = (long)arg;
    first = write(fds[1], buf, size);
    second = write(fds[1], buf, size);
    second_errno = errno;
    return NULL;
}

static void run(const char *what, long size) {
    sigs = 0;
    pthread_t t;
    pthread_create(&t, NULL, writer, (void *)size);
    usleep(200000);
    close(fds[0]);
    pthread_join(t, NULL);
    printf("%s: first wrote some %d, all %d; second %ld %s; SIGPIPEs %d\n", what, first > 0,
           first == size, second, second < 0 ? strerror(second_errno) : "", sigs);
    close(fds[1]);
}

int main(void) {
    signal(SIGPIPE, on_sigpipe);
    pipe(fds);
    run("pipe", 2 * 65536);
    socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
    int tmp = fds[0]; fds[0] = fds[1]; fds[1] = tmp;
    run("socket", sizeof buf);
    return 0;
}
