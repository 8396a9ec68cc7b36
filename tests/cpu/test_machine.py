"""The Machine: loading, the syscall hook, faults and exit statuses, on tiny static programs."""
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ecs_kernel.cpu.clock import VirtualClock
from ecs_kernel.cpu.scheduler import RoundRobin
from tests.guests.harness import run_guest

ASM_HEADER = ".intel_syntax noprefix\n.globl _start\n_start:\n"


@pytest.fixture(scope="module")
def asm_dir():
    d = Path(tempfile.mkdtemp(prefix="ecs-asm-", dir="/var/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def build_asm(d: Path, name: str, body: str) -> Path:
    src = d / f"{name}.s"
    src.write_text(ASM_HEADER + body + "\n")
    out = d / name
    subprocess.run(["gcc", "-nostdlib", "-static", "-o", str(out), str(src)], check=True,
                   capture_output=True)
    return out


def test_exit_group_status(asm_dir):
    p = build_asm(asm_dir, "exit7", "mov edi, 7\nmov eax, 231\nsyscall")
    assert run_guest([p]).status == 7


def test_write_then_exit(asm_dir):
    p = build_asm(asm_dir, "hello", """lea rsi, [rip+msg]
mov edi, 1
mov edx, 3
mov eax, 1
syscall
mov edi, eax
mov eax, 60
syscall
msg: .ascii "hi\\n"
""")
    r = run_guest([p])
    assert r.stdout == b"hi\n" and r.status == 3


def test_unknown_syscall_returns_enosys_and_is_counted(asm_dir):
    p = build_asm(asm_dir, "nosys", "mov eax, 1000\nsyscall\nneg eax\nmov edi, eax\nmov eax, 60\nsyscall")
    seen = {}
    r = run_guest([p], report=lambda m: seen.update(m.dispatcher.unimplemented))
    assert r.status == 38  # ENOSYS
    assert seen == {1000: 1}


def test_segfault_is_sigsegv(asm_dir):
    p = build_asm(asm_dir, "segv", "mov rax, [0]")
    assert run_guest([p]).status == 128 + 11


def test_invalid_instruction_is_sigill(asm_dir):
    p = build_asm(asm_dir, "ill", "ud2")
    assert run_guest([p]).status == 128 + 4


def test_divide_error_is_sigfpe(asm_dir):
    p = build_asm(asm_dir, "fpe", "xor ecx, ecx\nmov eax, 1\ncdq\nidiv ecx")
    assert run_guest([p]).status == 128 + 8


def test_int3_is_sigtrap(asm_dir):
    p = build_asm(asm_dir, "trap", "int3")
    assert run_guest([p]).status == 128 + 5


def test_hlt_in_user_mode_is_sigsegv(asm_dir):
    p = build_asm(asm_dir, "hlt", "hlt")
    assert run_guest([p]).status == 128 + 11


class EveryInstruction(RoundRobin):
    """A quantum of one instruction, even for a task alone."""

    def quantum(self, row, contended, default):
        return 1


def test_a_quantum_ending_after_a_byte_f4_is_no_hlt(asm_dir):
    """``mov r12, rsi`` encodes as 49 89 f4: a quantum that ends after it stops the engine right
    after a byte that is hlt's opcode. The guest runs at CPL 3, where a real hlt faults through
    the interrupt hook, so the end of a quantum needs no guess (it once killed the explorer's
    correct programs with SIGSEGV)."""
    p = build_asm(asm_dir, "f4", "mov rsi, 3\nmov r12, rsi\nmov r12, rsi\nmov edi, r12d\n"
                  "mov eax, 60\nsyscall")
    assert run_guest([p], scheduler=EveryInstruction()).status == 3


def test_a_jump_to_address_zero_is_sigsegv(asm_dir):
    p = build_asm(asm_dir, "null", "xor eax, eax\njmp rax")
    assert run_guest([p]).status == 128 + 11
    assert run_guest([p], scheduler=EveryInstruction()).status == 128 + 11


def test_write_to_readonly_text_is_sigsegv(asm_dir):
    p = build_asm(asm_dir, "wtext", "lea rax, [rip]\nmov byte ptr [rax], 1")
    assert run_guest([p]).status == 128 + 11


def test_fs_base_via_arch_prctl(asm_dir):
    # arch_prctl(ARCH_SET_FS, rsp-64); mov rax, fs:[0] after storing 42 there.
    p = build_asm(asm_dir, "fsbase", """lea rsi, [rsp-64]
mov qword ptr [rsi], 42
mov edi, 0x1002
mov eax, 158
syscall
mov rdi, qword ptr fs:[0]
mov eax, 60
syscall
""")
    assert run_guest([p]).status == 42


def test_missing_program_is_127():
    r = run_guest(["/nonexistent/prog"])
    assert r.status == 127
    assert r.stderr.count(b"\n") == 1 and b"No such file" in r.stderr


def test_directory_is_126():
    r = run_guest(["/usr"])
    assert r.status == 126 and r.stderr.count(b"\n") == 1


def test_non_elf_is_126(asm_dir):
    f = asm_dir / "text"
    f.write_text("just text\n")
    f.chmod(0o755)
    r = run_guest([f])
    assert r.status == 126 and r.stderr.count(b"\n") == 1 and b"Traceback" not in r.stderr


def test_truncated_elf_is_126(asm_dir):
    p = build_asm(asm_dir, "full", "mov eax, 60\nsyscall")
    f = asm_dir / "trunc"
    f.write_bytes(p.read_bytes()[:100])
    f.chmod(0o755)
    r = run_guest([f])
    assert r.status == 126 and r.stderr.count(b"\n") == 1


def test_32bit_elf_is_126(asm_dir):
    p = build_asm(asm_dir, "x", "mov eax, 60\nsyscall")
    data = bytearray(p.read_bytes())
    data[4] = 1  # ELFCLASS32
    f = asm_dir / "elf32"
    f.write_bytes(bytes(data))
    f.chmod(0o755)
    r = run_guest([f])
    assert r.status == 126 and r.stderr.count(b"\n") == 1


def test_shebang_script_runs_its_interpreter(asm_dir):
    p = build_asm(asm_dir, "argc", "mov rdi, [rsp]\nmov eax, 60\nsyscall")
    s = asm_dir / "script"
    s.write_text(f"#!{p} one-arg\n")
    s.chmod(0o755)
    # argv becomes: interp, "one-arg", script, extra
    assert run_guest([s, "extra"]).status == 4


def test_execve_releases_the_old_address_space(asm_dir):
    # The program execs itself once with argc 2 and exits with argc (2).
    p = build_asm(asm_dir, "reexec", f"""mov rax, [rsp]
cmp rax, 2
je done
lea rdi, [rip+path]
lea rsi, [rip+argv]
mov [rsi], rdi
mov [rsi+8], rdi
xor edx, edx
mov eax, 59
syscall
mov edi, 99
mov eax, 60
syscall
done:
mov edi, 2
mov eax, 60
syscall
path: .asciz "{asm_dir}/reexec"
.data
argv: .quad 0, 0, 0
""")
    seen = {}

    def report(m):
        seen["mm_rows"] = m.world.address_spaces.count
        seen["objects"] = len(m.world.index.address_spaces)
    r = run_guest([p], report=report)
    assert r.status == 2
    # after the exit nothing of the guest is left: the replaced image's row and engine were
    # released too; the one row left is the kernel's init's (the guest's parent), with no engine
    assert seen["mm_rows"] == 1 and seen["objects"] == 0


def test_failed_execve_returns_an_errno_and_keeps_running(asm_dir):
    p = build_asm(asm_dir, "badexec", """lea rdi, [rip+path]
xor esi, esi
xor edx, edx
mov eax, 59
syscall
neg eax
mov edi, eax
mov eax, 60
syscall
path: .asciz "/no/such/file"
""")
    assert run_guest([p]).status == 2  # ENOENT


def test_forked_memory_gets_its_own_engine_with_hooks(asm_dir):
    # components/resources.py calls .fork() on the address-space object when a process is copied.
    from ecs_kernel.cpu.task_run import Machine
    from ecs_kernel.fs.vfs import FileSystem
    from ecs_kernel.kernel import Kernel
    p = build_asm(asm_dir, "forkme", "mov edi, 9\nmov eax, 60\nsyscall")
    k = Kernel()
    m = Machine(k, FileSystem("/"), strict=True)
    row = k.task(k.init_task)
    m.exec_first(row, str(p), [str(p)], [])
    gm = m.memory_of(row)
    child = gm.fork()
    assert child.uc is not gm.uc and len(child.hooks) == len(gm.hooks)
    assert child.aspace.maps_text() == gm.aspace.maps_text()
    child.release()


def test_timeout_kills_a_runaway_guest(asm_dir):
    p = build_asm(asm_dir, "forever", "1: jmp 1b")
    assert run_guest([p], timeout=1.0).status == 128 + 9


def test_a_loop_translated_in_an_unbounded_run_still_ends_its_quantum(asm_dir):
    """Unicorn only counts instructions in code translated while its count hook is installed:
    the loop first runs with no quantum, then alarm(1) makes the run loop count quanta, and the
    same loop (the same translated block) must still be preempted for SIGALRM to kill it."""
    p = build_asm(asm_dir, "spin2", """mov rcx, 3000000
call spin
mov edi, 1
mov eax, 37
syscall
mov rcx, -1
call spin
mov edi, 3
mov eax, 60
syscall
spin:
1: dec rcx
jnz 1b
ret""")
    assert run_guest([p], timeout=30.0).status == 128 + 14


def test_sleeping_guest_wakes_on_time(asm_dir):
    # nanosleep({0, 300 ms}) then exit(5): the task blocks as data and is restarted.
    import time
    p = build_asm(asm_dir, "nap", """lea rdi, [rip+ts]
xor esi, esi
mov eax, 35
syscall
mov edi, 5
mov eax, 60
syscall
.data
ts: .quad 0, 300000000
""")
    t0 = time.monotonic()
    assert run_guest([p]).status == 5
    assert 0.3 <= time.monotonic() - t0 < 5


TIMESLICE_C = r"""
#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#define N 400
static volatile int order[2 * N], pos;
static void *run(void *arg) {
    for (int i = 0; i < N; i++) {
        getpriority(PRIO_PROCESS, 0);  /* a syscall the Python dispatcher serves */
        order[__sync_fetch_and_add(&pos, 1)] = (int)(long)arg;
    }
    return 0;
}
int main(void) {
    pthread_t t;
    pthread_create(&t, 0, run, (void *)1);
    run((void *)0);
    pthread_join(t, 0);
    int switches = 0;
    for (int i = 1; i < 2 * N; i++)
        switches += order[i] != order[i - 1];
    printf("%d\n", switches);
    return 0;
}
"""


class SlowHostClock(VirtualClock):
    """Kernel time that moves 1 ms at every look: a host where each syscall costs that much."""

    def monotonic_ns(self) -> int:
        self.now_ns += 1_000_000
        return self.now_ns


class NoSlice(RoundRobin):
    slice_ns = None


def test_a_turn_of_syscalls_ends_when_its_time_slice_is_spent(asm_dir):
    """Two threads making syscalls in a loop: a turn ends at a syscall once the scheduler's time
    slice of kernel time is spent (Linux preempts at the slice's end, on the way back to user
    mode), not only after a quantum of instructions, which a loop of slow syscalls takes long
    to run. Without the slice one thread makes all its calls in one turn."""
    src = asm_dir / "timeslice.c"
    src.write_text(TIMESLICE_C)
    prog = asm_dir / "timeslice"
    subprocess.run(["gcc", "-static", "-O1", "-pthread", "-o", str(prog), str(src)], check=True,
                   capture_output=True)
    sliced = run_guest([prog], clock=SlowHostClock(), scheduler=RoundRobin())
    unsliced = run_guest([prog], clock=SlowHostClock(), scheduler=NoSlice())
    assert sliced.status == unsliced.status == 0, sliced.stderr
    assert int(unsliced.stdout) <= 4
    assert int(sliced.stdout) >= 100, sliced.stdout
