/* Port I/O in user mode (IOPL 0, no I/O permission bitmap): in and out raise #GP, which Linux
 * delivers as SIGSEGV with si_code SI_KERNEL and no address, the saved rip on the instruction.
 * argv[1]: in (in al, dx), out (out dx, al), inl (in eax, imm8), outw (out dx, ax). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

extern char io_in[], io_out[], io_inl[], io_outw[];
static char *io_insn;

static void on_segv(int s, siginfo_t *si, void *u) {
    ucontext_t *uc = u;
    unsigned long rip = uc->uc_mcontext.gregs[REG_RIP];
    printf("signal %d code %d addr %p rip on the instruction %d\n", s, si->si_code, si->si_addr,
           rip == (unsigned long)io_insn);
    fflush(stdout);
    _exit(0);
}

int main(int argc, char **argv) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, 0);
    const char *w = argc > 1 ? argv[1] : "";
    io_insn = !strcmp(w, "in") ? io_in : !strcmp(w, "out") ? io_out : !strcmp(w, "inl") ? io_inl
        : io_outw;
    if (!strcmp(w, "in"))
        __asm__ volatile(".globl io_in\nio_in: inb %%dx, %%al" :: "d"(0x80) : "eax");
    else if (!strcmp(w, "out"))
        __asm__ volatile(".globl io_out\nio_out: outb %%al, %%dx" :: "d"(0x80), "a"(0));
    else if (!strcmp(w, "inl"))
        __asm__ volatile(".globl io_inl\nio_inl: inl $0x40, %%eax" ::: "eax");
    else if (!strcmp(w, "outw"))
        __asm__ volatile(".globl io_outw\nio_outw: outw %%ax, %%dx" :: "d"(0x3f8), "a"(0));
    else
        return 2;
    printf("survived\n");
    return 1;
}
