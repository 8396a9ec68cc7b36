"""execve(2)'s kernel half: what the process keeps and loses at the point of no return.

Linux: fs/exec.c (begin_new_exec: de_thread, exec_mm_release, unshare_files, unshare_sighand,
do_close_on_exec, flush_signal_handlers, exit_itimers; bprm_stack_limits); gVisor:
kernel/task_exec.go. Loading the
image (an ELF into a new address space, the initial stack, the registers) is the CPU driver's
part (cpu/loader.py and the run loop); this module is what happens to the kernel's rows, for any
driver.
"""
from __future__ import annotations

from ..abi import (ARG_MAX, CAP_SYS_RAWIO, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MMAP_PAGE_ZERO,
                   PAGE_SIZE, PROT_EXEC, PROT_READ, READ_IMPLIES_EXEC, Block, ExitState, RunState,
                   STK_LIM)
from ..errors import KernelError
from ..components import links, resources, sigactions
from . import (cpu_clocks, fd_table, futex, ipc_shm, task_clone, task_exit, task_identity,
               task_signals, timers)


def arg_strings_limit(rlimit_stack: int = STK_LIM) -> int:
    """Bytes allowed for argv+envp strings and pointers (fs/exec.c bprm_stack_limits()).

    "Limit to 1/4 of the max stack size or 3/4 of _STK_LIM (whichever is smaller)", but never
    below ARG_MAX ("We've historically supported up to 32 pages (ARG_MAX) of argument strings even
    with small stacks"). 2 MiB for the default 8 MiB stack.
    """
    return max(min(STK_LIM // 4 * 3, rlimit_stack // 4), ARG_MAX)


def zap_other_threads(world, row: int) -> None:
    """de_thread: every other thread of ``row``'s process exits now with status 0 (it never runs
    again; the EXIT system finishes it at the next tick; a tracee with PTRACE_O_TRACEEXIT stops
    first). A non-leader that execs waits for the old leader to be a zombie, then takes its
    place and its ids (:func:`wait_for_leader`, task_exit.promote_exec)."""
    T, G = world.tasks, world.thread_groups
    tg = int(T.tg[row])
    for r in links.members(G.task_head, tg, T.tg_next):
        if r != row and T.exit_state[r] == ExitState.NONE:
            task_exit.exit_task(world, r, 0)
            if T.ptracer[r] >= 0:
                task_signals.ptrace_exit_event(world, r)  # do_exit's PTRACE_EVENT_EXIT
    if int(G.leader[tg]) != row:
        G.exec_task[tg] = row


def wait_for_leader(world, row: int) -> bool:
    """The end of de_thread for an exec from a non-leader thread ``row``: if the old leader is
    already a zombie, ``row`` takes its place now (False); otherwise ``row`` waits, killable only
    (Block.EXEC: True), and the old leader's exit_notify promotes it."""
    T, G = world.tasks, world.thread_groups
    tg = int(T.tg[row])
    if int(G.exec_task[tg]) != row:
        return False
    if int(T.exit_state[int(G.leader[tg])]) >= ExitState.ZOMBIE:
        task_exit.promote_exec(world, row)
        return False
    T.run_state[row] = RunState.blocked
    T.block[row] = Block.EXEC
    return True


def begin_new_exec(world, row: int, memory) -> int:
    """Past the point of no return: ``row``'s process gets ``memory`` (the new image's address
    space object) as its address space, its other threads die, the old mm is released as at exit
    (robust list, clear_child_tid, a vfork parent goes on), shared fd and handler tables are
    unshared, close-on-exec fds close, caught signals go back to SIG_DFL, POSIX timers are
    deleted (setitimer's timers carry over), the rseq registration is dropped, the credentials
    become what an exec gives (systems/task_identity.exec_creds; the nice value and scheduling
    policy stay). Returns the old ``address_spaces`` row, for the
    caller to release once nothing runs on it (-1 if there was none)."""
    T = world.tasks
    zap_other_threads(world, row)
    futex.futex_exec_release(world, row)
    task_clone.vfork_release(world, row)
    objs = world.index.address_spaces
    old = int(T.mm[row])
    if old >= 0 and old in objs:  # exec_mmap: the group keeps the old image's highest RSS
        cpu_clocks.keep_maxrss(world, row, objs[old], fresh=True)
        if world.tables["address_spaces"].refs[old] == 1:  # (a vfork child's is its parent's)
            ipc_shm.exit_mm(world, row, old)  # the old image's shm attaches close
    if old >= 0 and old in objs:
        new = resources.new(world, "address_spaces")
        T.mm[row] = new
        objs[new] = memory
        world.address_spaces.thp_disable[new] = world.address_spaces.thp_disable[old]
    else:
        objs[old] = memory
        old = -1
    # unshare_files, unshare_sighand: tables another process shares (CLONE_FILES, CLONE_SIGHAND
    # without CLONE_THREAD) are copied first, so the exec changes only ours
    for kind in ("fd_tables", "signal_handlers"):
        col = getattr(T, resources.KINDS[kind])
        r = int(col[row])
        if r >= 0 and world.tables[kind].refs[r] > 1:
            col[row] = resources.copy(world, kind, r)
            resources.release(world, kind, r)
    fd_table.do_close_on_exec(world, row)
    sh = int(T.sighand[row])
    if sh >= 0:
        sigactions.flush_handlers(world, sh)
    T.clear_child_tid[row] = 0
    T.robust_list[row] = 0
    T.rseq_addr[row] = T.rseq_len[row] = T.rseq_sig[row] = T.rseq_watch[row] = 0  # rseq_execve
    task_identity.exec_creds(world, row)
    # the new image's address space: dumpable unless the ids differ (suid_dumpable 0 then), no
    # membarrier registrations
    mm = int(T.mm[row])
    if mm >= 0:
        A = world.address_spaces
        A.dumpable[mm] = int(T.euid[row] == T.ruid[row] and T.egid[row] == T.rgid[row])
        A.membarrier_state[mm] = 0
    task_signals.set_altstack(world, row, None)
    tg = int(T.tg[row])
    world.thread_groups.did_exec[tg] = True
    timers.delete_posix_timers(world, tg)
    exec_personality(world, row, memory.aspace)
    return old


def exec_personality(world, row: int, aspace) -> None:
    """What exec does with the personality: a 64-bit image never keeps READ_IMPLIES_EXEC
    (set_personality_64bit), and MMAP_PAGE_ZERO maps page 0 read-only and executable as SVr4 did
    (load_elf_binary), which vm_mmap quietly refuses without CAP_SYS_RAWIO (below
    mmap_min_addr). ADDR_COMPAT_LAYOUT was applied to ``aspace`` when the image was loaded."""
    T = world.tasks
    T.personality[row] = int(T.personality[row]) & ~READ_IMPLIES_EXEC
    if T.personality[row] & MMAP_PAGE_ZERO and task_identity.capable(world, row, CAP_SYS_RAWIO):
        floor, aspace.mmap_min_addr = aspace.mmap_min_addr, 0
        try:
            aspace.mmap(0, PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS)
        except KernelError:
            pass
        finally:
            aspace.mmap_min_addr = floor


__all__ = ["begin_new_exec", "exec_personality", "zap_other_threads", "wait_for_leader"]
