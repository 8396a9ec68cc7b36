/* argv, envp and the auxiliary vector. */
#include <elf.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>

extern char **environ;

int main(int argc, char **argv) {
    printf("argc %d\n", argc);
    for (int i = 0; i < argc; i++) printf("argv[%d] = '%s'\n", i, argv[i]);
    for (char **e = environ; *e; e++) printf("env '%s'\n", *e);
    printf("AT_PAGESZ %lu\n", getauxval(AT_PAGESZ));
    printf("AT_PHENT %lu\n", getauxval(AT_PHENT));
    printf("AT_UID %lu AT_EUID %lu AT_GID %lu AT_EGID %lu\n", getauxval(AT_UID),
           getauxval(AT_EUID), getauxval(AT_GID), getauxval(AT_EGID));
    printf("AT_SECURE %lu\n", getauxval(AT_SECURE));
    printf("AT_CLKTCK %lu\n", getauxval(AT_CLKTCK));
    printf("AT_RANDOM set %d\n", getauxval(AT_RANDOM) != 0);
    printf("AT_ENTRY set %d\n", getauxval(AT_ENTRY) != 0);
    printf("AT_PHDR set %d\n", getauxval(AT_PHDR) != 0);
    const char *plat = (const char *)getauxval(AT_PLATFORM);
    printf("AT_PLATFORM %s\n", plat ? plat : "(null)");
    const char *fn = (const char *)getauxval(AT_EXECFN);
    printf("AT_EXECFN is argv[0] %d\n", fn && strcmp(fn, argv[0]) == 0);
    /* The stack layout: argv strings are contiguous and followed by the environment. */
    if (argc > 1) printf("argv contiguous %d\n", argv[1] == argv[0] + strlen(argv[0]) + 1);
    return 0;
}
