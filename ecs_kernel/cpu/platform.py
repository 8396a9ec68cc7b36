"""The CPU platform: Unicorn engines, their hooks, and running guest code until it stops.

gVisor: ``pkg/sentry/platform`` (an address space and a way to run an application until it
traps). Here one Unicorn engine serves one address space (:class:`GuestMemory`, the object behind
an ``address_spaces`` row); threads sharing it are CPU contexts the run loop switches.

Hooks on every engine: the syscall hook (``UC_HOOK_INSN`` + ``UC_X86_INS_SYSCALL`` through
``uc_hook_add`` on the engine handle) is either the Python dispatcher (syscalls/dispatch.py) or
the compiled fast path (jit/fastpath, a numba ``cfunc`` that calls the dispatcher for what it does
not answer); an interrupt hook turns CPU exceptions into fault signals; a TLB-fill hook
(``UC_TLB_VIRTUAL`` mode, jit/tlbfill) answers the engine's MMU from the address space's page
table, grows stacks, and records what a SIGSEGV handler's siginfo reports (no memory hook covers
guest memory: one would send every store down Unicorn's slow path). Tiering: the first
``fast_path_after`` syscalls of the kinds the compiled hook answers take the Python syscall hook
(other calls do not count) and the first ``tlb_fills_before_compile`` TLB fills the Python fill
hook (a short program never loads numba); then every engine gets the compiled ones.

Unicorn hazards (DESIGN.md) and how they are met here:

- the engine is stopped only from inside a hook (:meth:`Platform.stop`: a blocking syscall, an
  exit, an exec, a fault, a tier-up), never from another thread and never with a timeout, except
  to end a task that never runs again: :meth:`Platform.interrupt` (the host killing the guest)
  and cpu/host_signals.py (a host signal whose default action kills the task running unbounded,
  decided under ``run_lock``);
- Unicorn adds 2 to rip after a syscall hook returns: a rip written in the hook is ``target - 2``;
- unknown or unimplemented syscalls get -ENOSYS (the dispatcher).
"""
from __future__ import annotations

import ctypes
import gc
import struct
import threading

import numpy as np
from unicorn import (UC_ARCH_X86, UC_HOOK_BLOCK, UC_HOOK_INSN, UC_HOOK_INTR, UC_HOOK_MEM_FETCH,
                     UC_HOOK_MEM_INVALID, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE,
                     UC_HOOK_TLB_FILL, UC_MODE_64, UC_TLB_VIRTUAL, Uc, UcError)
from unicorn import unicorn_const as _ucc
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from ..abi import (BUS_ADRALN, BUS_ADRERR, ENOSYS, FPE_INTDIV, ILL_ILLOPN, PAGE_SIZE, PROT_EXEC, PROT_READ,
                   PROT_WRITE, SEGV_ACCERR, SEGV_MAPERR, SI_KERNEL, SIGBUS, SIGFPE, SIGILL, SIGSEGV,
                   SIGTRAP, USER_CS, USER_SS)
from ..checkpoint_objects import state_class
from ..errors import E, KernelError
from ..jit import blockquantum, tlbfill
from ..jit.blockquantum import BQ_BUDGET, BQ_ENDED, BQ_SIZE, BQ_STOP
from ..jit.fastpath import FAST_SYSCALLS, FastPath
from ..jit.fastpath.layout import C_HANDOFF_OK, C_UNBOUNDED
from ..jit.options import is_promoted, promote
from ..jit.tlbfill import (TLB_BYPASS, TLB_FAULT_ACCESS, TLB_FAULT_ADDR, TLB_FAULT_CODE,
                           TLB_FAULT_SIGBUS, TLB_MISS_HOOK, TLB_MISSES)
from ..jit.pagewalk import TLB_BUSERR, TLB_MAPERR
from ..syscalls.table import MAX_NR, number_of
from . import host_limits
from .memory import AddressSpace

MASK64 = (1 << 64) - 1

HOOK_INSN_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
HOOK_TSC_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)  # 1: skip the insn


class RawRegs:
    """``uc_reg_read``/``uc_reg_write`` of one 64-bit register through ctypes, without the
    binding's per-call choice of register class: ~0.3 us a call against ~2 us for
    ``Uc.reg_read``. For the run loop's reads and writes of rip and rax on every task switch."""

    def __init__(self):
        raw = ctypes.CDLL(uclib._name)  # fresh function objects: no argtypes, no conversion
        self._read, self._write = raw.uc_reg_read, raw.uc_reg_write
        self._read.restype = self._write.restype = ctypes.c_int
        self._buf = ctypes.c_uint64()
        self._ref = ctypes.byref(self._buf)

    def read(self, uc: Uc, reg: int) -> int:
        status = self._read(uc._uch, reg, self._ref)
        if status:
            raise UcError(status, reg)
        return self._buf.value

    def write(self, uc: Uc, reg: int, value: int) -> None:
        self._buf.value = value & MASK64
        status = self._write(uc._uch, reg, self._ref)
        if status:
            raise UcError(status, reg)


class TlbEntry(ctypes.Structure):
    """Unicorn's ``uc_tlb_entry``: what a TLB-fill hook answers."""
    _fields_ = [("paddr", ctypes.c_uint64), ("perms", ctypes.c_int)]


HOOK_TLB_FILL_CB = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int,
                                    ctypes.POINTER(TlbEntry), ctypes.c_void_p)
TLB_MISS_CB = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ctypes.c_int64)
# A quantum counted in translated blocks (jit/blockquantum) is the instruction quantum over this
# (a translated block of guest code is a few instructions).
INSNS_PER_BLOCK = 4
# count= quanta before numba is loaded for the block hook (see Platform.__init__)
COUNT_QUANTA_BEFORE_BLOCKS = 24
# Unbounded runs an engine makes with the block-quantum hook installed but disarmed before the
# hook is removed. Installing or removing it flushes all translated code, so an engine that
# alternates (a shell whose child runs beside it, then is waited for: two changes a fork) would
# translate its loop again every time; a disarmed hook costs a call per block (~3.5 ns a block
# on a one-block loop, docs/measurements.md), which a run pays only until the next few stops.
BLOCK_HOOK_IDLE_RUNS = 8

# Syscall numbers the compiled hook (jit/fastpath) answers itself, at least in some cases: only
# these count down to the tier-up (Platform._counting_hook).
_TIER_UP_CALLS = bytearray(MAX_NR)
for _name in FAST_SYSCALLS:
    _TIER_UP_CALLS[number_of(_name)] = 1

# CPU exceptions (interrupt vectors) and the signal Linux sends for each, and its si_code (Linux
# do_trap / do_error_trap: FPE_INTDIV, ILL_ILLOPN, ...).
_VECTOR_SIGNALS = {0: SIGFPE, 1: SIGTRAP, 3: SIGTRAP, 4: SIGSEGV, 5: SIGSEGV, 6: SIGILL,
                   7: SIGFPE, 8: SIGSEGV, 13: SIGSEGV, 14: SIGSEGV, 16: SIGFPE, 17: SIGBUS,
                   19: SIGFPE}
_VECTOR_CODES = {0: FPE_INTDIV, 4: SI_KERNEL, 5: SI_KERNEL, 6: ILL_ILLOPN, 7: SI_KERNEL,
                 8: SI_KERNEL, 13: SI_KERNEL, 16: SI_KERNEL, 17: BUS_ADRALN, 19: SI_KERNEL}
# #GP (and #DF, which a guest cannot raise on its own: clear_exception_in_flight keeps Unicorn
# from turning a second #GP into one): Linux's si_addr is 0, not the instruction.
_NO_FAULT_ADDR = (8, 13)
_UC_ERR_SIGNALS = {
    _ucc.UC_ERR_READ_UNMAPPED: SIGSEGV, _ucc.UC_ERR_WRITE_UNMAPPED: SIGSEGV,
    _ucc.UC_ERR_FETCH_UNMAPPED: SIGSEGV, _ucc.UC_ERR_READ_PROT: SIGSEGV,
    _ucc.UC_ERR_WRITE_PROT: SIGSEGV, _ucc.UC_ERR_FETCH_PROT: SIGSEGV,
    _ucc.UC_ERR_INSN_INVALID: SIGILL, _ucc.UC_ERR_READ_UNALIGNED: SIGBUS,
    _ucc.UC_ERR_WRITE_UNALIGNED: SIGBUS, _ucc.UC_ERR_FETCH_UNALIGNED: SIGBUS,
    _ucc.UC_ERR_EXCEPTION: SIGSEGV, _ucc.UC_ERR_MAP: SIGSEGV,
}
INT80 = 0x80  # int $0x80 from 64-bit code: the i386 table, which we do not have

GENERAL_REGS = (X.UC_X86_REG_RAX, X.UC_X86_REG_RBX, X.UC_X86_REG_RCX, X.UC_X86_REG_RDX,
                X.UC_X86_REG_RSI, X.UC_X86_REG_RDI, X.UC_X86_REG_RBP, X.UC_X86_REG_R8,
                X.UC_X86_REG_R9, X.UC_X86_REG_R10, X.UC_X86_REG_R11, X.UC_X86_REG_R12,
                X.UC_X86_REG_R13, X.UC_X86_REG_R14, X.UC_X86_REG_R15)


# A GDT that holds the selectors Linux gives 64-bit user code (abi.USER_CS, abi.USER_SS).
_GDT = b"".join(struct.pack("<HHBBBB", 0xFFFF, 0, 0, access, flags << 4 | 0xF, 0) for access, flags in (
    (0, 0), (0x9A, 0xA), (0x92, 0xC), (0x00, 0x0), (0x00, 0x0), (0xF2, 0xC), (0xFA, 0xA)))
_SCRATCH = 0x10000  # a page used only while the engine is empty (see new_engine)


def new_engine(tb_size: int | None = None) -> Uc:
    """A fresh x86-64 Unicorn engine (long mode, flat segments) running at CPL 3, as user code
    does on Linux. Unicorn starts at CPL 0, where ``hlt`` silently ends emu_start (and cannot be
    told from the end of an instruction quantum) and privileged instructions run; at CPL 3 they
    raise #GP like on Linux (SIGSEGV, SI_KERNEL). The only way down is an ``iretq`` through a
    GDT, done once on a scratch page before anything is mapped (loaded descriptors stay
    cached; nothing the guest runs reloads CS or SS from the table; Unicorn never delivers an
    exception through the IDT/GDT: the interrupt hook gets it instead, see _on_interrupt).

    The ``iretq`` runs up to an ``until`` address, not with ``count=1``: a count leaves Unicorn's
    count hook installed, and the next run without a count deletes it, which looks up the code
    TLB of every page the hook saw (here the scratch page, gone by then): in UC_TLB_VIRTUAL mode
    the fill hook refuses it and that run fails with UC_ERR_EXCEPTION (see Platform.run)."""
    host_limits.current().check_engine()  # ENOMEM here, not Unicorn's exit(1) in uc_init
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    # before the first map: Unicorn's 1 GiB default does not let thousands of engines fit
    uc.ctl_set_tcg_buffer_size(host_limits.TB_SIZE if tb_size is None else tb_size)
    uc.mem_map(_SCRATCH, 0x1000)
    uc.mem_write(_SCRATCH, _GDT)
    uc.reg_write(X.UC_X86_REG_GDTR, (0, _SCRATCH, len(_GDT) - 1, 0))
    iret_at, land_at, frame_at = _SCRATCH + 0x800, _SCRATCH + 0x900, _SCRATCH + 0xF00
    uc.mem_write(iret_at, b"\x48\xcf")  # iretq
    uc.mem_write(frame_at, struct.pack("<5Q", land_at, USER_CS | 3, 0x202, 0, USER_SS | 3))
    uc.reg_write(X.UC_X86_REG_RSP, frame_at)
    uc.emu_start(iret_at, land_at)
    uc.mem_unmap(_SCRATCH, 0x1000)
    uc.reg_write(X.UC_X86_REG_RIP, 0)
    uc.reg_write(X.UC_X86_REG_RSP, 0)
    return uc


# Unicorn never delivers an exception (its cpu_exec hands it to the interrupt hook instead of
# do_interrupt), so QEMU's "exception in flight" (CPUX86State.old_exception, the double-fault
# logic of check_exception) is never cleared: the second #DE/#GP of an engine's life arrives as a
# double fault (vector 8) and the third is a triple fault that stops the engine silently (no
# hook, no error). Vectors that set it: #DE, #DF, #TS, #NP, #SS, #GP, #PF.
_SETS_EXCEPTION_IN_FLIGHT = frozenset((0, 8, 10, 11, 12, 13, 14))
_old_exception_at: int | None = None  # its byte offset in a uc_context (found by probing)


def _probe_old_exception_offset() -> int:
    """Where old_exception lies in a saved context: the one int32 that is -1 on a fresh
    engine, 0 after a #DE and 8 after a second contributory exception (the double fault)."""
    uc = new_engine()
    uc.mem_map(0x1000, 0x1000)
    uc.mem_write(0x1000, b"\x31\xc9\x48\xf7\xf1\xfa")  # xor ecx,ecx; div rcx; cli

    def on_intr(uc_, intno, _user_data):
        uc_.emu_stop()

    uc.hook_add(UC_HOOK_INTR, on_intr)
    snaps = []
    for begin in (None, 0x1000, 0x1005):
        if begin is not None:
            uc.emu_start(begin, 0)
        ctx = uc.context_save()
        snaps.append(ctypes.string_at(ctx.context, ctx.size))
    a, b, c = (memoryview(s).cast("i") for s in snaps)
    hits = [i * 4 for i in range(len(a)) if (a[i], b[i], c[i]) == (-1, 0, 8)]
    if len(hits) != 1:
        raise RuntimeError(f"cannot find Unicorn's old_exception in a context: {hits}")
    return hits[0]


def clear_exception_in_flight(gm: "GuestMemory") -> None:
    """Forget the exception the CPU last raised (what delivering it would do), so the next one
    is reported as itself (see _SETS_EXCEPTION_IN_FLIGHT)."""
    global _old_exception_at
    if _old_exception_at is None:
        _old_exception_at = _probe_old_exception_offset()
    uc = gm.uc
    if gm.scratch_ctx is None:
        gm.scratch_ctx = uc.context_save()
    else:
        uc.context_update(gm.scratch_ctx)
    ctypes.c_int32.from_address(gm.scratch_ctx.context.value + _old_exception_at).value = -1
    uc.context_restore(gm.scratch_ctx)


@state_class
class GuestMemory:
    """The object behind an ``address_spaces`` row: one Unicorn engine and the AddressSpace mapped
    into it. ``fork()``/``release()`` are what components/resources.py calls on copy and on the
    last unref. ``loaded_row`` is the task whose registers the engine holds now."""

    def __init__(self, aspace: AddressSpace | None = None, uc: Uc | None = None):
        self.uc = uc if uc is not None else new_engine()
        self.aspace = aspace if aspace is not None else AddressSpace(self.uc)
        self.hooks: list = []  # keep ctypes callbacks alive as long as the engine
        self.install_hooks = None  # the platform's hook installer, applied to forked engines too
        self.syscall_hook = None
        self.tlb_hook = None  # the TLB-fill hook's handle and whether it is the compiled one
        self.tlb_compiled = False
        self.loaded_row = -1
        # Unicorn's count hook is installed (the last emu_start had count=): see Platform.run.
        self.counted = False
        # The block-quantum hook (jit/blockquantum): its handle while installed, and its
        # control block (blocks left, uc_emu_stop's address, whether it ended the last run).
        self.block_hook = None
        self.bq_ctl = None
        self.hook_idle_runs = 0  # unbounded runs since the block hook was last armed
        self.scratch_ctx = None  # a context object reused by clear_exception_in_flight
        self.pool = None  # the platform's EnginePool: where this engine goes when the memory dies
        # the callbacks of the hooks that read this address space (replaced on recycling)
        self.tlb_cbs: list = []
        self.syscall_cb = None

    def fork(self) -> "GuestMemory":
        """A child's memory: an engine and the address space shared copy-on-write. The engine
        is a dead process's of the same program when the pool has one (its translated code
        is kept where the child's code is the same bytes: EnginePool), else a new one. ENOMEM
        (KernelError) when the host limits leave no room (cpu/host_limits.py), checked before
        the engine is made: Unicorn ends the whole process when it cannot allocate one."""
        pool = self.pool
        parked = pool.take(self.aspace.exe_path) if pool is not None else None
        if parked is not None:
            return pool.recycle(parked, self.aspace)
        limits = host_limits.current()
        try:
            uc = new_engine(limits.tb_size)  # checks that an engine fits first
            child = GuestMemory(self.aspace.fork(uc), uc)
        except (MemoryError, OSError, UcError) as e:
            raise KernelError(E.ENOMEM, f"fork: the host refused memory ({e})") from None
        if self.install_hooks is not None:
            self.install_hooks(child)
        return child

    def release(self) -> None:
        """The last task using this memory is gone (it never runs again): unmap everything and
        drop the hooks, whose Python closures refer back to this object, so the engine (its
        translation buffer and QEMU's state, a few MB) goes as soon as the last reference does,
        not at the next full garbage collection: a fork-heavy guest would otherwise hold
        hundreds of dead engines. Or, when the platform's pool takes it, park the engine for a
        later fork child of the same program (EnginePool)."""
        pool = self.pool
        parked = self.aspace.park() if pool is not None and pool.wants(self) else None
        self.aspace.release()
        if parked is not None:
            pool.park(self, parked)
            return
        self.drop_engine()

    def drop_engine(self) -> None:
        """Let the engine go (see release)."""
        self.hooks.clear()
        self.tlb_cbs = []
        self.syscall_cb = None
        self.install_hooks = None
        self.scratch_ctx = None
        self.pool = None

    # -- checkpoint: the address space; the engine is new, its hooks the restoring platform's ---
    def to_state(self, w, name: str) -> dict:
        return {"aspace": self.aspace.save_state(w, name)}

    @classmethod
    def from_state(cls, r, name: str, meta) -> "GuestMemory":
        uc = new_engine()
        gm = cls(AddressSpace.load_state(uc, r, name, meta.get("aspace") if isinstance(meta, dict) else None), uc)
        platform = r.context.get("platform")
        if platform is not None:
            platform.add_hooks(gm)
        return gm


def _forget(gm: GuestMemory, cbs) -> None:
    """Drop the callbacks of deleted hooks from ``gm.hooks`` (their closures may hold a dead
    address space)."""
    gone = {id(c) for c in cbs if c is not None}
    if gone:
        gm.hooks[:] = [c for c in gm.hooks if id(c) not in gone]


class EnginePool:
    """Engines of dead processes, kept for the next fork child of the same program.

    A fork child on a new engine translates every block it runs again (~14 us a block, ~2 ms
    to make the engine: docs/measurements.md); qemu-user's child inherits its parent's
    translated code through the host fork. Here a process's engine, when its memory is released,
    is parked with what its address space was (AddressSpace.park); a later fork of a process
    running the same executable takes it: the child's private buffers are made at the dead
    ones' host ranges (MAP_FIXED, HostBuffer.over), so the engine's regions stay mapped, and the
    code translated from bytes the child holds too (the same snapshot at the same offset) stays
    valid; every other region kept has its code removed (AddressSpace._adopt_engine). The engine's
    hooks that read the dead address space are replaced (Platform.rehook); the child's registers
    are loaded whole by clone, as on a new engine.

    Not kernel state: a checkpoint never sees the pool (a restored run starts with none).
    ``capacity`` 0 turns it off. Parked engines count in the memory limit's usage (they are
    ecs-kernel's memory): the OOM path drains the pool before it kills anyone."""

    def __init__(self, platform, capacity: int = 2):
        self.platform = platform
        self.capacity = capacity
        self.parked: list[tuple[GuestMemory, object]] = []
        self.stats = {"parked": 0, "recycled": 0, "regions_kept": 0, "regions_flushed": 0}

    def wants(self, gm: GuestMemory) -> bool:
        return self.capacity > 0 and gm.tlb_hook is not None and gm.syscall_hook is not None

    def drain(self) -> bool:
        """Let every parked engine go; True if there was one."""
        had = bool(self.parked)
        while self.parked:
            self.parked.pop()[0].drop_engine()
        return had

    def park(self, gm: GuestMemory, parked) -> None:
        self.parked.append((gm, parked))
        self.stats["parked"] += 1
        while len(self.parked) > self.capacity:
            old, _ = self.parked.pop(0)
            old.drop_engine()

    def take(self, exe_path: str):
        """A parked entry of a process that ran ``exe_path``, or None. Never the engine that is
        running now (a process that exits inside its own syscall hook parks its engine before
        that emu_start has returned)."""
        running = self.platform.current_uch
        for i in range(len(self.parked) - 1, -1, -1):
            gm, parked = self.parked[i]
            if parked.exe_path == exe_path and gm.uc._uch != running:
                del self.parked[i]
                return gm, parked
        return None

    def recycle(self, entry, parent) -> GuestMemory:
        """The child's memory on the parked engine of ``entry``: ``parent`` (an AddressSpace)
        forked into it. ENOMEM as GuestMemory.fork; the engine is dropped then."""
        old, parked = entry
        uc = old.uc
        try:
            aspace = parent.fork(uc, parked)
        except (MemoryError, OSError, UcError) as e:
            old.drop_engine()
            raise KernelError(E.ENOMEM, f"fork: the host refused memory ({e})") from None
        child = GuestMemory(aspace, uc)
        for k in ("hooks", "tlb_hook", "tlb_compiled", "counted", "block_hook", "bq_ctl",
                  "hook_idle_runs",
                  "scratch_ctx", "tlb_cbs", "syscall_cb", "syscall_hook", "install_hooks", "pool"):
            setattr(child, k, getattr(old, k))
        old.hooks, old.tlb_cbs, old.pool = [], [], None
        self.platform.rehook(child)
        self.stats["recycled"] += 1
        self.stats["regions_kept"] += parked.kept
        self.stats["regions_flushed"] += parked.flushed
        return child


class Platform:
    """The engines of one Machine: hooks, tier-up, running guest code, and why it stopped.

    ``stop_reason`` says why the engine last stopped from a hook ("blocked", "exit", "exec",
    "killed", "requantum", "tier-up", or None when it ran out its quantum or faulted);
    ``fault_signal``/``fault_addr``/``fault_code`` describe a CPU exception."""

    def __init__(self, machine, *, fast_path: bool = True, fast_path_after: int = 0,
                 clock_gettime: int = 0, cpu0_ns: int = 0,
                 tlb_fills_before_compile: int | None = None):
        self.machine = machine  # its dispatcher is the Python syscall hook
        self.regs = RawRegs()  # the run loop's register reads and writes
        self.use_fast_path = fast_path
        self.fastpath = None
        self.hooks_compiled = False  # tier_up ran: every hook compiled from now on
        self.early_tier_up = False  # tier_up_soon: the hooks before the countdown ran out
        self.clock_gettime = clock_gettime
        self.cpu0_ns = cpu0_ns
        # Tiering: the first ``fast_path_after`` syscalls of the kinds the compiled hook answers
        # (_TIER_UP_CALLS) take the Python hook, so a short program never loads numba; then
        # every engine gets the compiled hook.
        self.tier_up_countdown = fast_path_after if fast_path else 0
        # TLB fills the Python fill hook answers before the compiled one replaces it (default:
        # as many as syscalls before the compiled syscall hook; 0: compiled from the start).
        self.tlb_fill_countdown = (fast_path_after if tlb_fills_before_compile is None
                                   else tlb_fills_before_compile)
        self.current_uch = None  # the engine handle of the running task
        self.stop_reason = None
        self.stop_requested = False  # a handler asks the run loop to stop the task after the call
        self.running_unbounded = False  # emu_start runs without count= quanta
        # Held while ``running_unbounded`` goes back to False after a run: another thread that
        # holds it and sees True knows the task whose run it is (cpu/host_signals.py).
        self.run_lock = threading.Lock()
        self.host_signal = 0  # a signal the host got for the guest (see interrupt())
        self.fault_signal = 0
        self.fault_addr = 0
        self.fault_code = SI_KERNEL
        self.exception_in_flight = False  # the interrupt hook saw an exception QEMU keeps "in flight"
        self.port_fault_rip = None  # an in/out's #GP: where the instruction starts
        # Quanta in translated blocks (jit/blockquantum) need numba: until it is loaded, quanta
        # are Unicorn's count=, and after this many of them numba is loaded for the block hook
        # (a count= quantum costs a fresh engine ~2x its translation: a fork-heavy guest pays
        # numba's load back within a few dozen children; a program that runs a few quanta
        # never loads it).
        self.count_quanta_before_blocks = COUNT_QUANTA_BEFORE_BLOCKS
        self.block_quanta_runs = 0  # runs bounded by the block hook (a statistic for tests)
        self.engine_pool = EnginePool(self)

    # -- hooks ------------------------------------------------------------------------------------
    def add_hooks(self, gm: GuestMemory) -> None:
        self._add_syscall_hook(gm)
        gm.hooks.append(gm.uc.hook_add(UC_HOOK_INTR, self._on_interrupt))
        # in/out at CPL 3 with IOPL 0 and no I/O bitmap: #GP (Unicorn runs them, asking these)
        gm.hooks.append(gm.uc.hook_add(UC_HOOK_INSN, self._on_port_in, None, 1, 0,
                                       X.UC_X86_INS_IN))
        gm.hooks.append(gm.uc.hook_add(UC_HOOK_INSN, self._on_port_out, None, 1, 0,
                                       X.UC_X86_INS_OUT))
        self._add_tlb_hook(gm)
        if getattr(self.machine, "deterministic", False):
            self._add_tsc_hooks(gm)
        gm.install_hooks = self.add_hooks
        gm.pool = self.engine_pool

    def rehook(self, gm: GuestMemory) -> None:
        """A recycled engine (EnginePool) serves ``gm.aspace`` now: its TLB-fill and miss hooks
        answer from that address space, and its syscall hook is this moment's (the tier-up may
        have come while it was parked). Both hooks are called as code runs, never compiled into
        it, so no translated code is lost."""
        self._set_miss_hook(gm)
        self._add_tlb_hook(gm)
        self._add_syscall_hook(gm)
        gm.loaded_row = -1

    def _add_tsc_hooks(self, gm: GuestMemory) -> None:
        """rdtsc and rdtscp read the virtual clock (Go seeds its scheduler's randomness from the
        TSC). Unicorn's C API hooks them; its Python binding does not offer it."""
        uc = gm.uc

        def on_rdtsc(uch, user_data):
            tsc = self.machine.clock.tsc()
            uc.reg_write(X.UC_X86_REG_RAX, tsc & 0xFFFF_FFFF)
            uc.reg_write(X.UC_X86_REG_RDX, tsc >> 32)
            return 1  # the instruction is done: do not run it

        def on_rdtscp(uch, user_data):
            uc.reg_write(X.UC_X86_REG_RCX, 0)  # IA32_TSC_AUX: CPU 0
            return on_rdtsc(uch, user_data)

        for insn, fn in ((X.UC_X86_INS_RDTSC, on_rdtsc), (X.UC_X86_INS_RDTSCP, on_rdtscp)):
            cb = HOOK_TSC_CB(fn)
            h = ctypes.c_size_t()
            status = uclib.uc_hook_add(uc._uch, ctypes.byref(h), UC_HOOK_INSN, cb, None,
                                       ctypes.c_uint64(1), ctypes.c_uint64(0), ctypes.c_int(insn))
            if status != 0:
                raise UcError(status)
            gm.hooks.append(cb)

    def _add_tlb_hook(self, gm: GuestMemory) -> None:
        """Put the engine's MMU in UC_TLB_VIRTUAL mode and answer it from ``gm.aspace``'s page
        table: the compiled hook once numba is loaded (or the countdown is spent), else Python."""
        uc = gm.uc
        aspace = gm.aspace
        if gm.tlb_hook is None:
            uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
            self._set_miss_hook(gm)
        else:
            uclib.uc_hook_del(uc._uch, ctypes.c_size_t(gm.tlb_hook))
            _forget(gm, gm.tlb_cbs[1:])
        compiled = self.tlb_fill_countdown <= 0 or self.hooks_compiled or is_promoted()
        if compiled:
            cb = ctypes.c_void_p(tlbfill.hook_address())
            user_data = ctypes.c_void_p(aspace.tlb_ctl.ctypes.data)
        else:
            cb = HOOK_TLB_FILL_CB(self._python_fill(gm))
            user_data = None
        h = ctypes.c_size_t()
        status = uclib.uc_hook_add(uc._uch, ctypes.byref(h), UC_HOOK_TLB_FILL, cb, user_data,
                                   ctypes.c_uint64(1), ctypes.c_uint64(0))
        if status != 0:
            raise UcError(status)
        gm.hooks.append(cb)
        gm.tlb_cbs[1:] = [cb]
        gm.tlb_hook = h.value
        gm.tlb_compiled = compiled

    def _set_miss_hook(self, gm: GuestMemory) -> None:
        """The page-fault path the fill hooks call (through ``gm.aspace.tlb_ctl``)."""
        miss = TLB_MISS_CB(self._guarded_miss(gm.aspace))
        if gm.tlb_cbs:
            _forget(gm, gm.tlb_cbs[:1])
            gm.tlb_cbs[0] = miss
        else:
            gm.tlb_cbs = [miss]
        gm.hooks.append(miss)
        gm.aspace.tlb_ctl[TLB_MISS_HOOK] = ctypes.cast(miss, ctypes.c_void_p).value

    def _guarded_miss(self, aspace: AddressSpace):
        """The miss handler as a C callback: an exception in it is a fault, never a traceback
        through Unicorn."""
        def miss(addr, access):
            try:
                return aspace.tlb_miss(addr, access)
            except Exception as e:  # noqa: BLE001 - reported, and the access faults
                report = getattr(self.machine, "report_internal_error", None)
                if report is not None:
                    report(-1, "page fault", e)
                return 0
        return miss

    def _python_fill(self, gm: GuestMemory):
        """jit/tlbfill's hook in Python: the same answers, through ctypes (no numba)."""
        aspace = gm.aspace
        ctl = aspace.tlb_ctl
        miss = self._guarded_miss(aspace)

        def fill(uch, addr, access, entry, user_data):
            if ctl[TLB_BYPASS]:  # the kernel's own lookup (see jit/tlbfill): granted, flushed after
                entry[0].paddr = addr
                entry[0].perms = PROT_READ | PROT_WRITE | PROT_EXEC
                return True
            p = aspace.tlb_fill_py(addr, access)
            if p < 0 and miss(addr, access):
                p = aspace.tlb_fill_py(addr, access)
            if p < 0:
                ctl[TLB_MISSES] += 1
                ctl[TLB_FAULT_ADDR] = addr - (1 << 64) if addr >> 63 else addr  # int64 slot
                ctl[TLB_FAULT_ACCESS] = access
                ctl[TLB_FAULT_CODE] = (TLB_FAULT_SIGBUS | BUS_ADRERR if p == TLB_BUSERR
                                       else SEGV_MAPERR if p == TLB_MAPERR else SEGV_ACCERR)
                return False
            entry[0].paddr = addr
            entry[0].perms = p
            self.tlb_fill_countdown -= 1
            if self.tlb_fill_countdown <= 0 and not gm.tlb_compiled:
                # Enough fills to pay for numba: the compiled hook answers from the next fill
                # on (Unicorn defers deleting a hook that is running).
                self._add_tlb_hook(gm)
            return True
        return fill

    def _add_syscall_hook(self, gm: GuestMemory) -> None:
        """Install the syscall hook of the moment (replacing ``gm``'s, if it has one)."""
        if gm.syscall_hook is not None:
            uclib.uc_hook_del(gm.uc._uch, ctypes.c_size_t(gm.syscall_hook))
            _forget(gm, [gm.syscall_cb])
            gm.syscall_hook = None
        h = ctypes.c_size_t()
        if self.use_fast_path and self.tier_up_countdown <= 0:
            # The compiled hook (a C function) with the control block as user data; it calls
            # the Python hook itself for what it does not handle.
            fp = self.fastpath
            if fp is None:
                fp = self.fastpath = FastPath(self.machine, self.machine.dispatcher.hook_with,
                                              clock_gettime=self.clock_gettime,
                                              cpu0_ns=self.cpu0_ns)
            cb = ctypes.c_void_p(fp.hook_address)
            user_data = fp.user_data
        elif self.use_fast_path:
            cb = HOOK_INSN_CB(self._counting_hook(self.machine.dispatcher.hook))
            user_data = None
        else:
            cb = HOOK_INSN_CB(self.machine.dispatcher.hook)
            user_data = None
        status = uclib.uc_hook_add(gm.uc._uch, ctypes.byref(h), UC_HOOK_INSN, cb, user_data,
                                   ctypes.c_uint64(1), ctypes.c_uint64(0),
                                   ctypes.c_int(X.UC_X86_INS_SYSCALL))
        if status != 0:
            raise UcError(status)
        gm.hooks.append(cb)
        gm.syscall_cb = cb
        gm.syscall_hook = h.value

    def _counting_hook(self, hook):
        """The Python hook, counting down to the tier-up: at zero it stops the engine (after the
        syscall, from inside the hook: a safe stop) and the run loop installs the compiled hook.

        Only calls the compiled hook may answer itself count (``_TIER_UP_CALLS``): the rest
        (reads of files, mmap, ...) go to this same Python hook through it anyway, so a program
        making only those (busybox sha256sum's 16,000 reads) would pay for loading the compiled
        hook (~0.4 s of numba's cache loads) and gain nothing. A call that asked for the tier-up
        (:meth:`tier_up_soon`, a first clone(CLONE_THREAD)) counts whatever its number."""
        regs = self.machine.dispatcher.entry_regs  # [0]: the number of the call just served

        def counting(uch, user_data):
            hook(uch, user_data)
            nr = regs[0]
            if nr < MAX_NR and _TIER_UP_CALLS[nr] or self.early_tier_up:
                self.tier_up_countdown -= 1
                if self.tier_up_countdown == 0:
                    self.stop("tier-up")
        return counting

    def tier_up_soon(self) -> None:
        """Tier up at the end of the syscall being served (call from the Python hook): the
        compiled hook from the next syscall on, whatever the countdown still had."""
        if self.use_fast_path and self.tier_up_countdown > 1:
            self.early_tier_up = True
            self.tier_up_countdown = 1  # the counting hook reaches 0 after this call: a stop

    def tier_up(self, memories) -> None:
        """Replace the Python syscall hook of every engine (``memories``: the live GuestMemory
        objects) by the compiled one."""
        # The hooks' machine code is mapped from the last build when there is one (jit/objcache.py:
        # a few ms, numba not loaded); else numba loads here.
        self.hooks_compiled = True
        if not self.early_tier_up:
            # The countdown ran out: a program that made that many syscalls pays numba's load
            # back, the kernels go compiled with the hooks (as before objcache). After an early
            # tier-up (a second thread) kernels called from Python stay interpreted until their
            # budget is spent (jit/options.py): a ping-pong's Python calls are a few dozen.
            promote()
        # numba, llvmlite and the kernel's modules (when loaded) are hundreds of thousands of
        # objects that live as long as the process: out of the collector's sight, its full passes
        # no longer walk them (they were ~7% of a futex ping-pong's time, perf). Nothing frozen is
        # freed later.
        gc.freeze()
        for gm in memories:
            self._add_syscall_hook(gm)
            if gm.tlb_hook is not None and not gm.tlb_compiled:
                self._add_tlb_hook(gm)

    # -- stopping ---------------------------------------------------------------------------------
    def stop(self, reason: str, uch=None) -> None:
        """Stop the running engine (``uch``, default the current task's) after the current hook
        returns (call only from a hook). The first reason given wins, except that a stop of the
        task outranks a re-quantum."""
        if self.stop_reason is None or self.stop_reason in ("requantum", "tier-up"):
            self.stop_reason = reason
        uch = self.current_uch if uch is None else uch
        if self.fastpath is not None:
            self.fastpath.ctl[C_HANDOFF_OK] = 0  # no turn is taken in the hook after a stop
        if uch is not None:
            uclib.uc_emu_stop(uch)

    def interrupt(self, signo: int) -> None:
        """From another thread: the host got ``signo`` (SIGINT, SIGTERM, SIGHUP) and the guest
        must die of it. Stopping Unicorn asynchronously can re-execute one instruction (DESIGN's
        hazard), which is harmless here because the guest never runs again."""
        self.host_signal = signo
        if self.fastpath is not None:
            self.fastpath.ctl[C_HANDOFF_OK] = 0
        uch = self.current_uch
        if uch is not None:
            uclib.uc_emu_stop(uch)

    # -- running ----------------------------------------------------------------------------------
    def run(self, gm: GuestMemory, quantum: int, blocks: bool = False) -> None:
        """runApp: execute guest code of the loaded task until a hook stops the engine, the
        quantum of instructions ends (0: no quantum) or the guest faults (``fault_signal``).
        ``blocks``: the quantum may be counted in translated blocks (about ``quantum`` /
        INSNS_PER_BLOCK of them, jit/blockquantum) rather than instructions: the caller allows it
        when the quantum is a fairness bound only (not deterministic time, not a single step)."""
        uc = gm.uc
        self.fault_signal = 0
        self.fault_addr = 0
        self.fault_code = SI_KERNEL
        self.stop_reason = None
        self.stop_requested = False
        if self.fastpath is not None:
            self.fastpath.sync()  # Python ran since the last syscall: tables may have grown
        self.running_unbounded = not quantum
        if self.fastpath is not None:
            self.fastpath.ctl[C_UNBOUNDED] = 1 if self.running_unbounded else 0
        tlb = gm.aspace.tlb_ctl
        tlb[TLB_FAULT_CODE] = 0
        if gm.tlb_hook is not None and not gm.tlb_compiled and (self.hooks_compiled or is_promoted()):
            self._add_tlb_hook(gm)  # tiered up, or numba is loaded anyway: the compiled fill hook
        by_blocks = blocks and quantum > 1 and self._block_quanta_ready()
        if by_blocks:
            self._set_counting(gm, False)
            self._set_block_hook(gm, True)
            gm.bq_ctl[BQ_BUDGET] = max(1, quantum // INSNS_PER_BLOCK)
            gm.bq_ctl[BQ_ENDED] = 0
            self.block_quanta_runs += 1
        else:
            if quantum or gm.hook_idle_runs >= BLOCK_HOOK_IDLE_RUNS:
                self._set_block_hook(gm, False)
            self._set_counting(gm, bool(quantum))
        if gm.block_hook is not None and not by_blocks:
            gm.hook_idle_runs += 1  # installed, disarmed (budget 0): see BLOCK_HOOK_IDLE_RUNS
        else:
            gm.hook_idle_runs = 0
        self.exception_in_flight = False
        try:
            uc.emu_start(self.regs.read(uc, X.UC_X86_REG_RIP), 0, count=0 if by_blocks else quantum)
        except UcError as e:
            if self.fastpath is not None:
                self.fastpath.catch_up()  # (before anything reads the Machine's current task)
            if self.fault_signal:
                pass  # the interrupt hook saw the exception first
            elif e.errno == _ucc.UC_ERR_EXCEPTION and tlb[TLB_FAULT_CODE]:
                # The TLB-fill hook refused an access: a page fault (Linux's si_code, si_addr).
                code = int(tlb[TLB_FAULT_CODE])
                if code & TLB_FAULT_SIGBUS:
                    # A page past the end of a mapped file: SIGBUS.
                    self.fault_signal = SIGBUS
                    self.fault_code = code & ~TLB_FAULT_SIGBUS
                    self.fault_addr = self.precise_fault_addr(
                        gm, int(tlb[TLB_FAULT_ADDR]) & MASK64, past_eof=True)
                else:
                    self.fault_signal = SIGSEGV
                    self.fault_code = code
                    self.fault_addr = self.precise_fault_addr(gm, int(tlb[TLB_FAULT_ADDR]) & MASK64)
            else:
                self.fault_signal = _UC_ERR_SIGNALS.get(e.errno, SIGSEGV)
                if self.fault_signal == SIGILL:
                    self.fault_addr, self.fault_code = uc.reg_read(X.UC_X86_REG_RIP), ILL_ILLOPN
                elif self.fault_signal == SIGBUS:
                    self.fault_code = BUS_ADRALN
        if self.fastpath is not None:
            self.fastpath.catch_up()  # what compiled futex calls and hand-offs changed
        if self.port_fault_rip is not None:
            uc.reg_write(X.UC_X86_REG_RIP, self.port_fault_rip)
            self.port_fault_rip = None
        if by_blocks:
            gm.bq_ctl[BQ_BUDGET] = 0  # disarmed until the next bounded run
        if self.exception_in_flight:
            clear_exception_in_flight(gm)
        with self.run_lock:
            self.running_unbounded = False

    def _block_quanta_ready(self) -> bool:
        """numba is loaded for the block hook (or may be now: see count_quanta_before_blocks)."""
        if self.hooks_compiled or is_promoted():
            return True
        if not self.use_fast_path:
            return False  # --no-fast-path: numba stays unloaded
        self.count_quanta_before_blocks -= 1
        if self.count_quanta_before_blocks > 0:
            return False
        promote()
        return True

    @staticmethod
    def _set_block_hook(gm: GuestMemory, on: bool) -> None:
        """Install or remove the block-quantum hook of ``gm``'s engine. Code is translated with
        or without a call to the hook (as with the count hook), hence the flush of translated code
        either way; removing the hook invalidates the code of every page it saw, which looks each
        page up in the code TLB outside any guest instruction, so the fill hook grants the
        kernel's lookups meanwhile (TLB_BYPASS) and what it granted is dropped after (see
        _set_counting)."""
        if on == (gm.block_hook is not None):
            return
        uc = gm.uc
        if on:
            if gm.bq_ctl is None:
                gm.bq_ctl = np.zeros(BQ_SIZE, np.int64)
                gm.bq_ctl[BQ_STOP] = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
            h = ctypes.c_size_t()
            status = uclib.uc_hook_add(uc._uch, ctypes.byref(h), UC_HOOK_BLOCK,
                                       ctypes.c_void_p(blockquantum.hook_address()),
                                       ctypes.c_void_p(gm.bq_ctl.ctypes.data),
                                       ctypes.c_uint64(1), ctypes.c_uint64(0))
            if status != 0:
                raise UcError(status)
            gm.block_hook = h.value
            uc.ctl(_ucc.UC_CTL_TB_FLUSH, _ucc.UC_CTL_IO_WRITE)
            return
        ctl = gm.aspace.tlb_ctl
        ctl[TLB_BYPASS] = 1
        try:
            uclib.uc_hook_del(uc._uch, ctypes.c_size_t(gm.block_hook))
        finally:
            uc.ctl(_ucc.UC_CTL_TB_FLUSH, _ucc.UC_CTL_IO_WRITE)
            ctl[TLB_BYPASS] = 0
            ctl[TLB_FAULT_CODE] = 0
            uc.ctl(_ucc.UC_CTL_TLB_FLUSH, _ucc.UC_CTL_IO_WRITE)
        gm.block_hook = None

    @staticmethod
    def _set_counting(gm: GuestMemory, counted: bool) -> None:
        """Make the engine's count hook (Unicorn's ``count=``) match the run about to start.

        Unicorn 2.1.4 adds its count hook at an emu_start with ``count=`` but translated code
        keeps what it was translated with: code translated in a run without a count never calls
        the hook, so such a loop would never end its quantum (and precise_fault_addr's one
        instruction would never end). Hence a flush of translated code when counting starts.
        When counting stops, the next emu_start deletes the hook, and Unicorn then drops the
        translated code of every page the hook saw by looking each page up in the code TLB
        (outside any guest instruction): a page the guest has unmapped since is refused by the
        TLB-fill hook and that run would end in UC_ERR_EXCEPTION, a fault of nobody's. So the
        hook is deleted here, by an emu_start that runs nothing (``until`` = its start) while the
        fill hook grants the kernel's lookups (TLB_BYPASS); then the exit block Unicorn made
        for ``until``, and the TLB entries the bypass granted, are dropped."""
        if counted == gm.counted:
            return
        uc = gm.uc
        if counted:
            uc.ctl(_ucc.UC_CTL_TB_FLUSH, _ucc.UC_CTL_IO_WRITE)
        else:
            ctl = gm.aspace.tlb_ctl
            rip = uc.reg_read(X.UC_X86_REG_RIP)
            ctl[TLB_BYPASS] = 1
            try:
                uc.emu_start(rip, rip)
            except UcError:
                pass  # nothing ran: only the kernel's lookups, which the bypass grants
            finally:
                uc.ctl(_ucc.UC_CTL_TB_FLUSH, _ucc.UC_CTL_IO_WRITE)
                ctl[TLB_BYPASS] = 0
                ctl[TLB_FAULT_CODE] = 0
                uc.ctl(_ucc.UC_CTL_TLB_FLUSH, _ucc.UC_CTL_IO_WRITE)
                uc.reg_write(X.UC_X86_REG_RIP, rip)
        gm.counted = counted

    @staticmethod
    def precise_fault_addr(gm: GuestMemory, page: int, past_eof: bool = False) -> int:
        """The byte whose access faulted in ``page`` (the TLB-fill hook sees pages only): run
        the faulting instruction once more with the hook granting everything and a memory hook
        on that page alone, so Unicorn's own region checks (the regions carry the same
        protections as the page table) name the address; then put the registers back. An
        access that starts on the page below reports ``page``, as the CPU's CR2 does.

        ``past_eof``: a page past the end of a mapped file (SIGBUS), which Unicorn's regions
        allow: the access is watched by a read/write/fetch hook instead and the page's bytes are
        put back after (a store must not reach the file past its end)."""
        uc = gm.uc
        ctl = gm.aspace.tlb_ctl
        found = []

        def on_invalid(_uc, _access, address, _size, _value, _user_data):
            if not found:
                found.append(address)
            return False

        def on_access(_uc, _access, address, _size, _value, _user_data):
            if not found and page <= address < page + PAGE_SIZE:
                found.append(address)
                _uc.emu_stop()

        saved = gm.aspace.page_view(page) if past_eof else None
        if saved is not None:
            saved = (saved, saved.copy())
        ctx = uc.context_save()
        # count=1 is a bound only over code translated with the count hook (see _set_counting):
        # else a `1: jmp 1b` would run here forever.
        Platform._set_counting(gm, True)
        ctl[TLB_BYPASS] = 1
        if past_eof:
            h = uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE | UC_HOOK_MEM_FETCH, on_access,
                            begin=page, end=page + PAGE_SIZE - 1)
        else:
            h = uc.hook_add(UC_HOOK_MEM_INVALID, on_invalid, begin=page,
                            end=page + PAGE_SIZE - 1)
        try:
            uc.emu_start(uc.reg_read(X.UC_X86_REG_RIP), 0, count=1)
        except UcError:
            pass  # the fault again, as expected
        finally:
            uc.hook_del(h)
            if saved is not None:
                saved[0][:] = saved[1]
            ctl[TLB_BYPASS] = 0
            uc.ctl(_ucc.UC_CTL_TLB_FLUSH, _ucc.UC_CTL_IO_WRITE)  # what the bypass granted
            uc.context_restore(ctx)
        return found[0] if found and page <= found[0] < page + PAGE_SIZE else page

    def _port_fault(self, uc) -> None:
        """A user-mode in/out: the general protection fault Linux turns into SIGSEGV
        (SI_KERNEL, no address)."""
        if not self.fault_signal:
            self.fault_signal, self.fault_addr, self.fault_code = SIGSEGV, 0, SI_KERNEL
            # the engine finishes the instruction after the stop: the fault is at its start
            self.port_fault_rip = uc.reg_read(X.UC_X86_REG_RIP)
        uc.emu_stop()

    def _on_port_in(self, uc, port, size, user_data):
        self._port_fault(uc)
        return 0

    def _on_port_out(self, uc, port, size, value, user_data):
        self._port_fault(uc)

    def _on_interrupt(self, uc, intno, user_data):
        if intno == INT80:
            uc.reg_write(X.UC_X86_REG_RAX, (-ENOSYS) & MASK64)
            return
        if intno in _SETS_EXCEPTION_IN_FLIGHT:
            self.exception_in_flight = True  # run() clears it: see clear_exception_in_flight
        if self.fault_signal:
            uc.emu_stop()  # (not seen: the first one stopped the engine) the first one counts
            return
        self.fault_signal = _VECTOR_SIGNALS.get(intno, SIGSEGV)
        self.fault_addr = 0 if intno in _NO_FAULT_ADDR else uc.reg_read(X.UC_X86_REG_RIP)
        self.fault_code = _VECTOR_CODES.get(intno, SI_KERNEL)
        uc.emu_stop()


__all__ = ["Platform", "GuestMemory", "new_engine", "GENERAL_REGS", "HOOK_INSN_CB"]
