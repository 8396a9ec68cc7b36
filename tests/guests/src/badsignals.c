/* Bad signal input from a guest: a handler at an unmapped address, an alternate stack that
   is not mapped, rt_sigreturn on garbage, a handler without sa_restorer. Linux kills each with
   SIGSEGV (status 139); so must we, with no traceback. */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
static void h(int s) { (void)s; }
int main(int argc, char **argv) {
    const char *w = argv[1];
    if (!strcmp(w, "badhandler")) { signal(SIGUSR1, (void (*)(int))0x1234); raise(SIGUSR1); return 1; }
    if (!strcmp(w, "badaltstack")) {
        stack_t ss = {.ss_sp = (void *)0x10000, .ss_size = 65536, .ss_flags = 0};
        sigaltstack(&ss, NULL);
        struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_handler = h; sa.sa_flags = SA_ONSTACK;
        sigaction(SIGUSR1, &sa, NULL); raise(SIGUSR1); return 2;
    }
    if (!strcmp(w, "sigreturn")) { char junk[512]; memset(junk, 0x41, sizeof junk);
        __asm__ volatile("mov %0, %%rsp; mov $15, %%eax; syscall" :: "r"(junk + 256) : "memory"); return 3; }
    if (!strcmp(w, "norestorer")) { syscall(SYS_rt_sigaction, SIGUSR1, &(unsigned long[4]){(unsigned long)h, 0, 0, 0}, NULL, 8); raise(SIGUSR1); puts("alive"); return 4; }
    return 0;
}
