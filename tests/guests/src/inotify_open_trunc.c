/* open(O_TRUNC) of a non-empty file: IN_OPEN comes before IN_MODIFY (Linux 6.5 on: fsnotify_open
 * in do_dentry_open, then handle_truncate), on the directory's watch and the file's; a new file
 * made by O_CREAT|O_TRUNC gets no IN_MODIFY. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

static void drain(int fd, int dwd) {
    char buf[4096] __attribute__((aligned(8)));
    ssize_t n = read(fd, buf, sizeof buf);
    for (ssize_t pos = 0; pos < n;) {
        struct inotify_event *e = (struct inotify_event *)(buf + pos);
        printf("  %s %#x%s%s\n", e->wd == dwd ? "dir " : "file", e->mask, e->len ? " " : "",
               e->len ? e->name : "");
        pos += sizeof *e + e->len;
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char dir[] = "/tmp/inotify_open_trunc.XXXXXX";
    mkdtemp(dir);
    char path[96], path2[96];
    snprintf(path, sizeof path, "%s/f", dir);
    snprintf(path2, sizeof path2, "%s/g", dir);
    int w = open(path, O_CREAT | O_WRONLY, 0644);
    write(w, "some content", 12);
    close(w);
    int in = inotify_init1(IN_NONBLOCK);
    int dwd = inotify_add_watch(in, dir, IN_ALL_EVENTS);
    inotify_add_watch(in, path, IN_ALL_EVENTS);
    printf("open(O_TRUNC):\n");
    int t = open(path, O_WRONLY | O_TRUNC);
    drain(in, dwd);
    close(t);
    drain(in, dwd);
    printf("open(O_CREAT|O_TRUNC) of a new file:\n");
    t = open(path2, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    drain(in, dwd);
    close(t);
    unlink(path);
    unlink(path2);
    rmdir(dir);
    return 0;
}
