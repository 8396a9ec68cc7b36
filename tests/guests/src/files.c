/* Files in /tmp: create, write, seek, stat, directories, rename, links, pipes, dup, errnos. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#define T(name, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; printf("%s %ld errno %d\n", name, r_, r_ < 0 || r_ == 1 ? e_ : 0); } while (0)
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void listdir(const char *path) {
    DIR *d = opendir(path);
    if (!d) { printf("opendir %s errno %d\n", path, errno); return; }
    char *names[64]; int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("%s:", path);
    for (int i = 0; i < n; i++) { printf(" %s", names[i]); free(names[i]); }
    printf("\n");
}

int main(void) {
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/ecs_files_%d", 12345);
    /* leftovers of an interrupted native run */
    unlink("/tmp/ecs_files_12345/a.txt"); unlink("/tmp/ecs_files_12345/b.txt");
    unlink("/tmp/ecs_files_12345/link"); rmdir("/tmp/ecs_files_12345/sub"); rmdir(dir);
    printf("mkdir %d\n", mkdir(dir, 0755));
    T("mkdir again", mkdir(dir, 0755));
    printf("chdir %d\n", chdir(dir));
    char cwd[256];
    printf("getcwd %s\n", getcwd(cwd, sizeof cwd));

    int fd = open("a.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    printf("open fd %d\n", fd);
    printf("write %zd\n", write(fd, "0123456789", 10));
    struct iovec iov[2] = {{"abc", 3}, {"defg", 4}};
    printf("writev %zd\n", writev(fd, iov, 2));
    printf("lseek %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    printf("pwrite %zd\n", pwrite(fd, "XY", 2, 3));
    T("read on O_WRONLY", read(fd, cwd, 1));
    close(fd);

    struct stat st;
    int rc = stat("a.txt", &st);
    printf("stat %d size %ld reg %d mode %o\n", rc, (long)st.st_size, S_ISREG(st.st_mode),
           st.st_mode & 0777);
    fd = open("a.txt", O_RDONLY);
    char buf[64] = {0};
    printf("read %zd '%s'\n", read(fd, buf, sizeof buf - 1), buf);
    printf("lseek end %ld\n", (long)lseek(fd, -3, SEEK_END));
    memset(buf, 0, sizeof buf);
    printf("read tail %zd '%s'\n", read(fd, buf, 10), buf);
    memset(buf, 0, sizeof buf);
    printf("pread %zd '%s'\n", pread(fd, buf, 4, 2), buf);
    T("write on O_RDONLY", write(fd, "x", 1));
    printf("fstat size %ld\n", (fstat(fd, &st), (long)st.st_size));

    int d2 = dup(fd);
    printf("dup %d shares offset %ld\n", d2 > fd, (long)lseek(d2, 0, SEEK_CUR));
    printf("dup2 %d\n", dup2(fd, 20));
    printf("fcntl getfd %d\n", fcntl(20, F_GETFD));
    printf("fcntl setfd %d getfd %d\n", fcntl(20, F_SETFD, FD_CLOEXEC), fcntl(20, F_GETFD));
    printf("fcntl dupfd %d\n", fcntl(fd, F_DUPFD, 30));
    printf("fcntl getfl %o\n", fcntl(fd, F_GETFL) & 03);
    close(20); close(30); close(d2); close(fd);
    T("close twice", close(fd));

    printf("symlink %d\n", symlink("a.txt", "link"));
    memset(buf, 0, sizeof buf);
    printf("readlink %zd '%s'\n", readlink("link", buf, sizeof buf), buf);
    printf("lstat link %d\n", (lstat("link", &st), S_ISLNK(st.st_mode)));
    rc = link("a.txt", "hard");
    stat("a.txt", &st);
    printf("link %d nlink %ld\n", rc, (long)st.st_nlink);
    printf("rename %d\n", rename("hard", "b.txt"));
    printf("mkdir sub %d\n", mkdir("sub", 0700));
    listdir(".");
    T("rmdir nonempty parent", rmdir(dir));
    T("unlink dir", unlink("sub"));
    printf("rmdir %d\n", rmdir("sub"));
    rc = access("a.txt", R_OK);
    printf("access R %d X %d\n", rc, access("a.txt", X_OK) == 0);
    rc = truncate("a.txt", 4);
    stat("a.txt", &st);
    printf("truncate %d size %ld\n", rc, (long)st.st_size);

    int p[2];
    printf("pipe %d\n", pipe(p));
    printf("pipe write %zd\n", write(p[1], "through the pipe", 16));
    memset(buf, 0, sizeof buf);
    printf("pipe read %zd '%s'\n", read(p[0], buf, sizeof buf), buf);
    T("lseek pipe", (long)lseek(p[0], 0, SEEK_SET));
    close(p[1]);
    printf("pipe eof %zd\n", read(p[0], buf, sizeof buf));
    close(p[0]);
    T("pipe2 bad flags", pipe2(p, 0x12345));

    T("open missing", open("missing", O_RDONLY));
    T("open dir for write", open(".", O_WRONLY));
    T("open O_EXCL existing", open("a.txt", O_CREAT | O_EXCL | O_WRONLY, 0600));
    T("open ENOTDIR", open("a.txt/x", O_RDONLY));
    T("unlink missing", unlink("missing"));

    /* the root cannot be left through .. */
    printf("chdir up %d\n", chdir("../../../../../../.."));
    printf("getcwd at root %s\n", getcwd(cwd, sizeof cwd));
    unlink("/tmp/ecs_files_12345/a.txt");
    unlink("/tmp/ecs_files_12345/b.txt");
    unlink("/tmp/ecs_files_12345/link");
    printf("rmdir %d\n", rmdir("/tmp/ecs_files_12345"));
    FILE *fp = fopen("/etc/hostname", "r");
    printf("fopen host file %d\n", fp != NULL);
    if (fp) fclose(fp);
    return 0;
}
