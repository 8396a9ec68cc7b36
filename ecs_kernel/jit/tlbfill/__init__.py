"""Unicorn's TLB, filled from the kernel's page table (a ``UC_HOOK_TLB_FILL`` in ``UC_TLB_VIRTUAL``
mode): why, and the control block the hook reads.

Why not the engine's own MMU. Unicorn 2.1.4 (the PyPI wheel) without guest paging treats every
page as executable, and its softmmu then sends every store through the slow ``notdirty_write``
helper; an UNMAPPED/PROT memory hook covering an address does the same. Real x86-64 page tables
(CR0.PG, CR4.PAE, EFER.LME|NXE) with NX on data pages fix that, but that CPU model refuses page-table
entries above 40 physical address bits, so guest pages at 0x7fff... cannot be identity mapped and
every buffer would need a second, physical, address. In ``UC_TLB_VIRTUAL`` mode the engine asks a
hook instead: :func:`ecs_kernel.jit.pagewalk.tlb_fill` walks the range table (the kernel's page
table, cpu/memory.py) and answers with the row's protection, without PROT_EXEC on data pages. The
same bare-engine store loop runs at the speed of real page tables that way (docs/measurements.md,
"Real-program speed"), guest addresses stay physical addresses, and no memory hook covers guest
memory: a refused access ends ``emu_start`` with UC_ERR_EXCEPTION after the hook has written the
fault (page, access, SEGV_MAPERR or SEGV_ACCERR) here. The hook sees only the page; for si_addr the
run loop runs the faulting instruction once more with the hook out of the way (``TLB_BYPASS``) and
a memory hook on that one page, and Unicorn's own region checks name the byte.

Two hooks answer the same question: a Python one (``AddressSpace.tlb_fill_py``, through ctypes:
~2 us a fill, no numba needed, so a short program starts fast) and the compiled one
(:mod:`.kernel`, a numba ``cfunc``), installed once numba is loaded (cpu/platform.py's tiering).
A refused access first asks the Python *miss handler* (``TLB_MISS_HOOK``), which grows a
MAP_GROWSDOWN stack into the page (Linux's page-fault path, ``expand_stack``) and says whether to
look again.

The control block (int64 slots) belongs to one AddressSpace, which writes the table's address,
capacity and row count after every change (``AddressSpace._publish``); only Python changes the
table, and only while no guest code runs or from inside a hook.
"""
from __future__ import annotations

from ..options import cfunc_address
from .layout import (TLB_BYPASS, TLB_CAP, TLB_FAULT_ACCESS, TLB_FAULT_ADDR, TLB_FAULT_CODE,
                     TLB_FAULT_SIGBUS,
                     TLB_FILLS, TLB_MISS_HOOK, TLB_MISSES, TLB_N, TLB_SIZE, TLB_T)

_COMPILED = []  # (address, what keeps it alive)
HOOK_SIGNATURE = "uint8(voidptr, uint64, int32, voidptr, voidptr)"


def _build_hook():
    from . import kernel  # numba loads here, never at import time
    return kernel.compile_hook()


def hook_address() -> int:
    """C address of the compiled fill hook, ``bool fill(uc_engine *, uint64_t addr, uc_mem_type,
    uc_tlb_entry *, void *ctl)`` (its machine code mapped from the last build, jit/objcache.py,
    or numba's cfunc, compiled or loaded from numba's disk cache, on first call)."""
    if not _COMPILED:
        _COMPILED.append(cfunc_address("tlbfill_hook", HOOK_SIGNATURE, _build_hook))
    return _COMPILED[0][0]


__all__ = [
    "TLB_BYPASS",
    "TLB_CAP",
    "TLB_FAULT_ACCESS",
    "TLB_FAULT_ADDR",
    "TLB_FAULT_CODE",
    "TLB_FAULT_SIGBUS",
    "TLB_FILLS",
    "TLB_MISSES",
    "TLB_MISS_HOOK",
    "TLB_N",
    "TLB_SIZE",
    "TLB_T",
    "hook_address",
]
