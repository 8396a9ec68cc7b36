"""Page-table walks: the numba kernels behind CopyIn/CopyOut, strings, iovecs and mmap placement.

The kernel's page table for one address space is a *range table*: one int64 array ``t`` of shape
``(NCOLS, capacity)`` whose first ``n`` columns-of-rows are live, sorted by ``START`` and
non-overlapping. Each row is a run of guest pages ``[START, END)`` backed by one contiguous host
buffer; ``HOST`` is the host address of the byte that backs ``START``. Each column is one
contiguous array (``t[START]``, ``t[END]``, ...), hot columns first. See
``ecs_kernel/cpu/memory.py`` for who writes the table and why it is a range table.

Every kernel here is a pure function of ``(t, n, scalars, arrays)``; none compiles at import time
(``options.jit`` is lazy and cached on disk). Return conventions are plain ints so the fast path
(a numba ``cfunc`` syscall hook) can call them without Python objects:

* ``FAULT`` (-1): part of the range is unmapped or its protection forbids the access (EFAULT);
* ``NOT_FOUND`` (-2): no NUL within ``maxlen`` (strings), no gap big enough (placement).

Protection: x86 page tables cannot express write-only or exec-only pages, so a page with
PROT_WRITE or PROT_EXEC is readable too (:func:`effective_prot`), for the guest and for the kernel's
own copies, as on Linux/x86-64 without protection keys.
"""
from __future__ import annotations

from ecs_kernel.abi import PROT_EXEC, PROT_READ, PROT_WRITE
from ecs_kernel.jit.options import intrinsic, jit
from ecs_kernel.jit.options import numba_module as numba  # the numba module once kernels compile

# Columns of the range table. Hot (walked on every copy) first.
START = 0  # guest address of the first byte (page aligned)
END = 1  # guest address one past the last byte (page aligned)
PROT = 2  # PROT_READ | PROT_WRITE | PROT_EXEC as asked by the guest (what /proc/self/maps shows)
HOST = 3  # host address backing START (buffer base + BOFF)
FLAGS = 4  # VM_* bits (ecs_kernel.cpu.memory)
BUF = 5  # index of the host buffer in the AddressSpace's buffer list
BOFF = 6  # offset of START inside that buffer
FILE = 7  # index of the backing file object (0: none)
FOFF = 8  # file offset of START (file-backed rows)
NAME = 9  # index of a special name ("[vdso]"), 0: none
LIMIT = 10  # guest address of the first page wholly past the end of the mapped file (file rows:
# START - FOFF + PAGE_ALIGN(file size)); an access at or above it is SIGBUS, a kernel copy EFAULT.
# NO_LIMIT for rows without a file (and files whose size cannot change).
NCOLS = 11
NO_LIMIT = 1 << 62

# Slots of AddressSpace._brk (cpu/memory.py), the state brk(2) reads and writes; the fast path's
# brk reads and writes it too.
BRK_START, BRK_CURRENT, BRK_START_DATA, BRK_END_DATA, BRK_RLIMIT_DATA = range(5)
BRK_FIELDS = ("start_brk", "current_brk", "start_data", "end_data", "rlimit_data")


# FLAGS bit the placement kernels need (the rest are the AddressSpace's business).
VM_GROWSDOWN = 0x8
# The lock bits, which the mlock family's handlers (syscalls/sys_mm.py) read as well
VM_LOCKED = 0x400  # mlock, mlockall, MAP_LOCKED: VmLck; fork and exec do not pass it on
VM_LOCKONFAULT = 0x800  # mlock2's MLOCK_ONFAULT, MCL_ONFAULT: locked as pages are touched

FAULT = -1
NOT_FOUND = -2


@intrinsic(interpreted=int)  # interpreted kernels: the address itself (see options._carray)
def _host_ptr(typingctx, addr):
    """Reinterpret an int64 host address as a ``uint8*`` (for ``numba.carray``)."""
    from numba import types
    sig = types.CPointer(types.uint8)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(types.CPointer(types.uint8)))

    return sig, codegen


@jit
def effective_prot(prot):
    """What x86 hardware grants for ``prot``: write or exec imply read."""
    if prot & (PROT_WRITE | PROT_EXEC):
        return prot | PROT_READ
    return prot


@jit
def find_row(t, n, addr):
    """Index of the row containing ``addr``, or -1."""
    lo = 0
    hi = n
    starts = t[START]
    while lo < hi:
        mid = (lo + hi) >> 1
        if starts[mid] <= addr:
            lo = mid + 1
        else:
            hi = mid
    i = lo - 1
    if i >= 0 and addr < t[END, i]:
        return i
    return -1


# Unicorn's access types (uc_mem_type) as a TLB-fill hook sees them.
UC_MEM_READ = 16
UC_MEM_WRITE = 17
UC_MEM_FETCH = 18
# What tlb_fill answers when it refuses an access: Linux's si_code for the SIGSEGV, negated.
TLB_MAPERR = -1  # no mapping at the address (SEGV_MAPERR)
TLB_ACCERR = -2  # a mapping whose protection forbids the access (SEGV_ACCERR)
TLB_BUSERR = -3  # a page of a file mapping wholly past the file's end (SIGBUS, BUS_ADRERR)


@jit
def tlb_fill(t, n, addr, access):
    """The page walk behind Unicorn's TLB (cpu/platform.py installs it as a UC_HOOK_TLB_FILL):
    the protection the MMU may cache for the page of ``addr`` (``effective_prot`` of its row:
    UC_PROT_* has PROT_*'s values), or TLB_MAPERR / TLB_ACCERR when ``access`` (UC_MEM_READ,
    UC_MEM_WRITE, UC_MEM_FETCH) must fault. Data pages come back without PROT_EXEC, which is what
    lets Unicorn 2.1.4 keep stores to them on its fast path (see docs/measurements.md)."""
    i = find_row(t, n, addr)
    if i < 0:
        return TLB_MAPERR
    p = effective_prot(t[PROT, i])
    if access == UC_MEM_WRITE:
        need = PROT_WRITE
    elif access == UC_MEM_FETCH:
        need = PROT_EXEC
    else:
        need = PROT_READ
    if not p & need:
        return TLB_ACCERR
    if addr >= t[LIMIT, i]:
        return TLB_BUSERR
    return p


@jit
def first_row_ending_after(t, n, addr):
    """Linux ``find_vma``: index of the first row with ``END > addr`` (``n`` if none)."""
    lo = 0
    hi = n
    ends = t[END]
    while lo < hi:
        mid = (lo + hi) >> 1
        if ends[mid] <= addr:
            lo = mid + 1
        else:
            hi = mid
    return lo


@jit
def check_range(t, n, addr, length, need):
    """0 if every byte of ``[addr, addr+length)`` is mapped with ``need`` granted, else FAULT."""
    if length <= 0:
        return 0
    end = addr + length
    i = find_row(t, n, addr)
    if i < 0:
        return FAULT
    while True:
        if (effective_prot(t[PROT, i]) & need) != need:
            return FAULT
        e = t[END, i]
        if t[LIMIT, i] < e and end > t[LIMIT, i]:
            return FAULT  # pages past the end of the mapped file
        if e >= end:
            return 0
        i += 1
        if i >= n or t[START, i] != e:
            return FAULT


@jit
def locate(t, n, addr, length, need):
    """Fast path for a small access: ``(BUF, offset in buffer, PROT)`` when ``[addr, addr+length)``
    lies in one row and ``need`` is granted; ``(FAULT, 0, 0)`` if any byte is unmapped or
    forbidden; ``(NOT_FOUND, 0, 0)`` if the range is valid but spans several rows."""
    i = find_row(t, n, addr)
    if i < 0:
        return FAULT, 0, 0
    if addr + length <= t[END, i]:
        if (effective_prot(t[PROT, i]) & need) != need or addr + length > t[LIMIT, i]:
            return FAULT, 0, 0
        return t[BUF, i], t[BOFF, i] + (addr - t[START, i]), t[PROT, i]
    if check_range(t, n, addr, length, need) != 0:
        return FAULT, 0, 0
    return NOT_FOUND, 0, 0


@jit
def translate(t, n, addr, length, need, out):
    """Split ``[addr, addr+length)`` into host pieces, checking ``need`` on every byte.

    Writes ``out[k] = (BUF, offset in that buffer, piece length)`` and returns the number of pieces,
    FAULT if any byte is unmapped or forbidden, or NOT_FOUND if ``out`` has too few rows.
    """
    if length <= 0:
        return 0
    if check_range(t, n, addr, length, need) != 0:
        return FAULT
    i = find_row(t, n, addr)
    cur = addr
    end = addr + length
    k = 0
    while cur < end:
        if k >= out.shape[0]:
            return NOT_FOUND
        stop = min(end, t[END, i])
        out[k, 0] = t[BUF, i]
        out[k, 1] = t[BOFF, i] + (cur - t[START, i])
        out[k, 2] = stop - cur
        k += 1
        cur = stop
        i += 1
    return k


@jit
def copy_in(t, n, addr, dst):
    """Copy ``dst.size`` guest bytes at ``addr`` into ``dst`` (uint8). 0 or FAULT (nothing copied).

    Safety: rows are only dereferenced inside ``[HOST, HOST + END - START)``, and the AddressSpace
    keeps each row's host buffer alive for as long as the row exists.
    """
    length = dst.size
    if length == 0:
        return 0
    if check_range(t, n, addr, length, PROT_READ) != 0:
        return FAULT
    i = find_row(t, n, addr)
    cur = addr
    end = addr + length
    pos = 0
    while cur < end:
        stop = min(end, t[END, i])
        m = stop - cur
        src = numba.carray(_host_ptr(t[HOST, i] + (cur - t[START, i])), (m,))
        dst[pos:pos + m] = src
        pos += m
        cur = stop
        i += 1
    return 0


@jit
def copy_out(t, n, addr, src):
    """Copy ``src`` (uint8) to guest ``addr``. FAULT (nothing written), else 1 if an executable
    row was written (the caller must drop translated code there), else 0. Safety as copy_in."""
    length = src.size
    if length == 0:
        return 0
    if check_range(t, n, addr, length, PROT_WRITE) != 0:
        return FAULT
    i = find_row(t, n, addr)
    cur = addr
    end = addr + length
    pos = 0
    wrote_exec = 0
    while cur < end:
        stop = min(end, t[END, i])
        m = stop - cur
        dst = numba.carray(_host_ptr(t[HOST, i] + (cur - t[START, i])), (m,))
        dst[:] = src[pos:pos + m]
        if t[PROT, i] & PROT_EXEC:
            wrote_exec = 1
        pos += m
        cur = stop
        i += 1
    return wrote_exec


@jit
def strnlen(t, n, addr, maxlen):
    """Length of the NUL-terminated guest string at ``addr`` (NUL not counted).

    FAULT if the walk reaches an unmapped or unreadable byte before finding a NUL within the first
    ``maxlen`` bytes; NOT_FOUND if those ``maxlen`` bytes are all readable and none is NUL.
    """
    if maxlen <= 0:
        return NOT_FOUND
    end = addr + maxlen
    i = find_row(t, n, addr)
    if i < 0:
        return FAULT
    cur = addr
    while True:
        if (effective_prot(t[PROT, i]) & PROT_READ) == 0 or cur >= t[LIMIT, i]:
            return FAULT
        stop = min(end, t[END, i], t[LIMIT, i])
        m = stop - cur
        src = numba.carray(_host_ptr(t[HOST, i] + (cur - t[START, i])), (m,))
        for j in range(m):
            if src[j] == 0:
                return cur + j - addr
        cur = stop
        if cur >= end:
            return NOT_FOUND
        if cur < t[END, i]:
            return FAULT  # stopped at the end of the mapped file
        e = t[END, i]
        i += 1
        if i >= n or t[START, i] != e:
            return FAULT


@jit
def _start_gap(t, i, guard):
    """Linux ``vm_start_gap``: a grows-down row keeps ``guard`` bytes free below it."""
    s = t[START, i]
    if t[FLAGS, i] & VM_GROWSDOWN:
        g = s - guard
        if g < 0:
            return 0
        return g
    return s


@jit
def find_gap_topdown(t, n, length, low, high, guard):
    """Highest ``addr`` with ``[addr, addr+length)`` free, ``low <= addr``, ``addr+length <= high``,
    honouring stack guard gaps (Linux ``unmapped_area_topdown``). NOT_FOUND if none."""
    hi = high
    if hi - low < length:
        return NOT_FOUND
    for i in range(n - 1, -1, -1):
        row_lo = _start_gap(t, i, guard)
        if row_lo >= hi:
            continue
        row_hi = t[END, i]
        if row_hi < hi:
            lo = max(row_hi, low)
            if hi - lo >= length:
                return hi - length
        hi = min(hi, row_lo)
        if hi - low < length:
            return NOT_FOUND
    return hi - length


@jit
def find_gap_bottomup(t, n, length, low, high, guard):
    """Lowest free ``addr`` in ``[low, high - length]`` (Linux ``unmapped_area``). NOT_FOUND if none.

    As in Linux, only the guard gap of the mapping directly above the candidate is checked."""
    lo = low
    if high - lo < length:
        return NOT_FOUND
    for i in range(n):
        row_hi = t[END, i]
        if row_hi <= lo:
            continue
        row_lo = _start_gap(t, i, guard)
        if row_lo - lo >= length:
            return lo
        lo = max(lo, row_hi)
        if high - lo < length:
            return NOT_FOUND
    return lo


@jit
def overlaps(t, n, start, end):
    """True if any row intersects ``[start, end)`` (Linux ``find_vma_intersection``)."""
    if end <= start:
        return False
    i = first_row_ending_after(t, n, start)
    return i < n and t[START, i] < end


@jit
def mapped_bytes(t, n, start, end, data_mask, data_value):
    """Bytes of ``[start, end)`` covered by rows: ``(all rows, rows whose data test holds)``.

    The data test is ``(FLAGS & data_mask) == data_value and PROT & PROT_WRITE`` (Linux
    ``is_data_mapping``: private, writable, not a stack), used for RLIMIT_AS / RLIMIT_DATA.
    """
    total = 0
    data = 0
    i = first_row_ending_after(t, n, start)
    while i < n and t[START, i] < end:
        s = max(start, t[START, i])
        e = min(end, t[END, i])
        total += e - s
        if (t[FLAGS, i] & data_mask) == data_value and (t[PROT, i] & PROT_WRITE):
            data += e - s
        i += 1
    return total, data
