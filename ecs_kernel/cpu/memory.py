"""Guest memory: the address space (``mm``) of one guest process.

gVisor names, so this file can be read beside ``pkg/sentry/mm``:

=============================  ================================================================
here                           gVisor (``pkg/sentry/mm`` unless noted)
=============================  ================================================================
:class:`AddressSpace`          ``MemoryManager`` (and its ``platform.AddressSpace``: the Uc)
rows of the range table        ``vma`` + ``pma`` fused: a run of pages with one host backing
:class:`HostBuffer`            a range of ``pgalloc.MemoryFile``
``mmap/munmap/mprotect/...``   ``MMap``, ``MUnmap``, ``MProtect``, ``MRemap``, ``Brk``,
                               ``Decommit`` (MADV_DONTNEED), ``MSync``
``copy_in/copy_out/...``       ``CopyIn``, ``CopyOut``, ``CopyInString``, ``CopyInIovecs``
:meth:`AddressSpace.fork`      ``MemoryManager.Fork``
``expand_stack``               Linux ``expand_stack`` (gVisor maps stacks whole instead)
:meth:`AddressSpace.maps_text` ``fs/proc``: ``/proc/[pid]/maps`` (``mm.ReadMapsDataInto``)
=============================  ================================================================

Design (and why)
----------------
*Host memory.* Guest pages live in page-aligned anonymous host mappings (:class:`HostBuffer`:
``mmap.mmap(-1, n, MAP_PRIVATE|MAP_NORESERVE)`` seen as a numpy ``uint8`` array). Each row of the
page table is mapped into Unicorn with ``mem_map_ptr`` at ``buffer base + offset``, so guest and
kernel touch the same bytes with no copies.

*Splitting.* A partial munmap/mprotect splits a row into rows that keep pointing into the *same*
buffer at different offsets; Unicorn gets the pieces as ``mem_map_ptr`` sub-ranges of that buffer.
Nothing is copied, so the cost does not grow with the mapping. Measured here (2 cores, noisy):
mprotect of one page in the middle of a resident 64 MiB mapping takes 1.4 ms, against 35 ms to
copy the three pieces into new buffers and map those (which also doubles resident memory for a
while). Host memory of an unmapped piece is returned at once with ``madvise(MADV_DONTNEED)``; the
buffer object goes when no row uses it. Adjacent rows contiguous in one buffer with equal
attributes are merged again, because Unicorn's cost per region operation grows with the number of
regions (measured: one unmap+map is ~7 us with 1 other region, ~11 us with 40, ~380 us with 400).

*Many small mappings.* Linux keeps gVisor's CreateFragmentedRegion (a PROT_NONE region, each
page mapped over MAP_FIXED, an unrelated page mapped between: 2,048 single-page mmaps) as one or
two VMAs (vma_merge); a row and an engine region per mmap made it cost ~110 s here (Unicorn's
region operations slow down with the regions). So private anonymous memory reuses buffers as
vma_merge reuses VMAs: MAP_FIXED over private anonymous rows zeroes their bytes in place and
relabels them (``_map_anon_over``: fresh zero pages either way), and a new mapping placed right
below or above a row it merges with grows that row into its buffer's zero slack, or into a new
buffer with as much slack again (``_map_anon_beside``): the pattern stays O(log n) rows, ~1 s
(docs/measurements.md, "Many small mappings"). What Unicorn still pays is proportional to the
bytes of the regions whose bounds move (its unmap walks every page).

*Unicorn sync.* The table is the truth; every operation edits the table, then :meth:`_sync` diffs
the rows of the address window it touched before and after and issues the fewest engine calls
(regions left alone when unchanged, ``mem_protect`` when only protection changed, otherwise
``mem_unmap`` then ``mem_map_ptr``). Rows and Unicorn regions stay one to one
(:meth:`check_sanity` asserts it), except that a PROT_NONE row has no region: the TLB-fill
hook refuses every access to it from our table (SEGV_ACCERR) before Unicorn would look for a
region, and the kernel reaches guest bytes through the host buffers, never the engine. Unicorn's
region operations slow with the regions, and PROT_NONE rows are many: a guard page beside every
thread stack, the 64 MiB a glibc malloc arena reserves (300 threads were created 2.2x faster).
Invariant: every byte of a *private* buffer is referenced by at most one row of one address space,
and unreferenced bytes are zero (fresh, or given back with MADV_DONTNEED); growth (brk, mremap) may
reuse the zero slack after a row's end, which makes a growing heap one row, not one per brk call.

*Page table.* A 47-bit address space is 2**35 pages: a flat per-page array is too big, and a
two-level table costs a walk per page. We keep a *range table*: one int64 array of shape
``(NCOLS, capacity)``, rows sorted by start and non-overlapping, each column contiguous (see
``ecs_kernel/jit/pagewalk.py`` for the columns). Lookups are a binary search (numba); a copy is one
kernel call however many pages or rows it crosses; a process has tens of rows, not millions.

*VMAs.* Rows carry the VMA attributes too (prot, VM_* flags, file + offset, special name). A Linux
VMA is a maximal run of adjacent rows with equal attributes (contiguous file offsets; for MAP_SHARED
anonymous memory, the same object): what ``maps_text`` prints and what mremap means by "one VMA".
That is Linux's merge rule (vma_merge) without its history: Linux also refuses some merges for
anon_vma reasons we do not model. The one such case a program meets every time, brk's heap next to
the bss (Linux 6.x never merges them), is kept apart by the internal VM_HEAP flag.

*Setup by the loader.* ``set_brk_base(end_of_bss)`` (and ``start_data``/``end_data`` for
RLIMIT_DATA), ``start_stack`` for the ``[stack]`` name, the stack itself as a MAP_GROWSDOWN
mapping; the run loop calls :meth:`AddressSpace.expand_stack` from Unicorn's unmapped-access hook.

*Protection.* The guest sees what x86 hardware grants: PROT_WRITE or PROT_EXEC imply read (as on
Linux/x86-64 without protection keys). Kernel copies check the same effective bits: reads need read,
writes need PROT_WRITE; PROT_NONE faults both ways. ``maps_text`` shows the protection as asked.

*Files.* A file is any object with ``read_at(offset, n) -> bytes``; optional ``write_at(offset, data)``,
``readable``/``writable`` (its open mode; default: readable, writable iff it has ``write_at``),
``path`` (for /proc/self/maps), ``dev`` ((major, minor)), ``ino``, ``file_size()`` and ``inode``
(fs/file.py ``FileMapping`` has them all). Private file mappings are copied in at map time (a
snapshot shared by every mapping of an unchanged host file: ``file_snapshot``); pages not yet
written do not follow later changes of the file, as Linux's would.

*The page cache.* A MAP_SHARED mapping of an in-memory regular file (a memfd, a tmpfs file, an
overlay file copied up: fs/inodes.py ``RegularFile``) maps the file's :class:`PageCache`: one
shared :class:`HostBuffer`, at buffer offset = file offset, made at the file's first shared
mapping, into which the file's bytes move for good (the inode's ``data`` is empty from then on
and its read_at/write_at/truncate go through the buffer). Every shared mapping of the file in
every process maps that one buffer, as MAP_SHARED anonymous memory does, so write(2), truncate
and stores through any mapping see each other at once, with nothing to write back; fork keeps
it shared and a checkpoint saves the buffer once (the inode and every address space refer to
it). The buffer reserves address space for twice what is needed (MAP_NORESERVE: only written
pages cost); a write or a mapping past it moves the bytes into a bigger buffer and every mapper
rebinds its rows (:meth:`PageCache.grow`, :meth:`_rebind`; the futex identity stays). Chosen
over keeping the bytes in a buffer from the file's creation because the common case, a small
file read and written and never mapped, stays a bytearray: its read/write paths only test
``inode.cache`` (``python -m bench.bench_file_io --baseline /work/main``: 4 KiB pread+pwrite
pairs under ``ecs-kernel run``, the copy-at-map-time checkout took 0.98-0.99 of this one's CPU
in the same rounds, the inode layer alone 0.91-1.03: noise of a shared 2-core machine; a mapped
file's reads and writes through the buffer cost 1.16-1.30x the bytearray's). Not done: a host file mapped MAP_SHARED through a
read-only description stays a copy made at map time (the overlay never writes the host, and
copying it up for a read-only mapping would hold it twice); a mapping reaching past
``PageCache.MAX_CAPACITY`` (64 GiB) of a file is a copy too (an in-memory file never grows
there: its pages are SIGBUS anyway); the inode keeps the buffer after the last mapping goes.

*SIGBUS.* The LIMIT column of a file row is the guest address of the first page wholly past
the file's end: the TLB-fill hook refuses such pages with TLB_BUSERR (the run loop delivers
SIGBUS, BUS_ADRERR, at the byte) and every kernel copy (jit/pagewalk) with EFAULT, for shared
and private file mappings alike. The file's ``PageCache.mappers`` (every address space mapping
it, joined at mmap, fork and restore) are told of every size change: their limits are computed
again and, when one went down, their engine's TLB is flushed (truncate's unmap_mapping_range).
A truncate down zeroes the rest of the new last page and everything after it (a truncate up
then shows zeros; a store past the end inside the last page survives a truncate up, as on
tmpfs). Pages past the end of a MAP_SHARED anonymous object that mremap grew or duplicated a
mapping over are SIGBUS the same way (LIMIT = their start).

Shared mappings of files that are not in-memory regular files are copied in at map time and
written back (clipped to the file size seen at map time) by msync and by munmap/mremap-away/
release. MAP_SHARED anonymous memory is one host buffer mapped by every address space that
shares it (fork keeps it shared).

Errors are raised as :class:`~ecs_kernel.errors.KernelError` with Linux's errno for the same call
(checked against mm/mmap.c, mm/mprotect.c, mm/mremap.c, mm/madvise.c, mm/msync.c of Linux 6.x and
the man pages), including the order in which Linux checks them. ``brk`` never raises: like Linux it
returns the current break on failure.

Not thread-safe: the kernel calls one address space from one place at a time.
"""
from __future__ import annotations

import mmap as _mmap
import struct
import weakref
from typing import NamedTuple

import numpy as np

from ecs_kernel.abi import (MADV_COLD, MADV_COLLAPSE, MADV_DODUMP, MADV_DOFORK, MADV_DONTDUMP,
                            MADV_DONTFORK, MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE,
                            MADV_HUGEPAGE, MADV_HWPOISON, MADV_KEEPONFORK, MADV_MERGEABLE,
                            MADV_NOHUGEPAGE, MADV_NORMAL, MADV_PAGEOUT, MADV_POPULATE_READ,
                            MADV_POPULATE_WRITE, MADV_RANDOM, MADV_REMOVE, MADV_SEQUENTIAL,
                            MADV_SOFT_OFFLINE, MADV_UNMERGEABLE, MADV_WILLNEED, MADV_WIPEONFORK,
                            MAP_32BIT, MAP_ANONYMOUS, MAP_DENYWRITE, MAP_EXECUTABLE, MAP_FIXED,
                            MAP_FIXED_NOREPLACE, MAP_GROWSDOWN, MAP_HUGE_1GB, MAP_HUGE_2MB,
                            MAP_HUGETLB, MAP_LOCKED, MAP_NONBLOCK, MAP_NORESERVE, MAP_POPULATE,
                            MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE, MAP_STACK, MAP_TYPE,
                            MAP_UNINITIALIZED, MMAP_MIN_ADDR, MREMAP_DONTUNMAP, MREMAP_FIXED,
                            MREMAP_MAYMOVE, MS_ASYNC, MS_INVALIDATE, MS_SYNC, PAGE_MASK,
                            PAGE_SHIFT, PAGE_SIZE, PATH_MAX, PROT_EXEC, PROT_GROWSDOWN,
                            PROT_GROWSUP, PROT_READ, PROT_SEM, PROT_WRITE, RLIM_INFINITY,
                            TASK_SIZE, UIO_MAXIOV)
from ecs_kernel.abi import KEY_SHARED_MM, KEY_SHARED_OBJ
from ecs_kernel.checkpoint_objects import state_class
from ecs_kernel.errors import E, KernelError
from ecs_kernel.jit import pagewalk as _pw
from ecs_kernel.jit.pagewalk import (BOFF, BRK_CURRENT, BRK_END_DATA, BRK_FIELDS, BRK_RLIMIT_DATA,
                                     BRK_START, BRK_START_DATA, BUF, END, FILE, FLAGS, FOFF, HOST,
                                     LIMIT, NAME, NCOLS, NO_LIMIT, PROT, START, TLB_ACCERR,
                                     TLB_BUSERR, TLB_MAPERR, UC_MEM_FETCH, UC_MEM_WRITE)
from ecs_kernel.jit.tlbfill import TLB_CAP, TLB_BYPASS, TLB_N, TLB_SIZE, TLB_T

from . import host_limits
from . import host_pages as _hp
from .host_pages import Snapshot, resident_pages  # noqa: F401 (resident_pages: re-exported)

# --- x86-64 defaults (PAGE_SIZE, TASK_SIZE and the mmap(2) flags are in ecs_kernel/abi.py) -------

TASK_UNMAPPED_BASE = (TASK_SIZE // 3 + PAGE_SIZE - 1) & PAGE_MASK  # legacy bottom-up base
STACK_GUARD_GAP = 256 << PAGE_SHIFT  # stack_guard_gap default (1 MiB)
MAX_MAP_COUNT = 65530  # vm.max_map_count default
_U64 = 1 << 64

LEGACY_MAP_MASK = (MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE
                   | MAP_EXECUTABLE | MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED
                   | MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB
                   | MAP_32BIT | MAP_HUGE_2MB | MAP_HUGE_1GB)

_MADV_VALID = frozenset({
    MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED, MADV_FREE,
    MADV_REMOVE, MADV_DONTFORK, MADV_DOFORK, MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_HUGEPAGE,
    MADV_NOHUGEPAGE, MADV_DONTDUMP, MADV_DODUMP, MADV_WIPEONFORK, MADV_KEEPONFORK, MADV_COLD,
    MADV_PAGEOUT, MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_DONTNEED_LOCKED, MADV_COLLAPSE,
    MADV_HWPOISON, MADV_SOFT_OFFLINE})

# --- VM_* flags of a row (FLAGS column) ----------------------------------------------------------

VM_SHARED = 0x1  # writes reach the shared object (Linux VM_SHARED; off for read-only shared files)
VM_MAYSHARE = 0x2  # mapped MAP_SHARED ('s' in /proc/self/maps)
VM_MAYWRITE = 0x4  # mprotect may add PROT_WRITE
VM_GROWSDOWN = _pw.VM_GROWSDOWN  # 0x8: a stack; keeps a guard gap below it
VM_DONTFORK = 0x20  # MADV_DONTFORK: not inherited by fork
VM_WIPEONFORK = 0x40  # MADV_WIPEONFORK: the child sees zeros
VM_PRISTINE = 0x80  # internal: never writable since created zero-filled (fork need not copy)
VM_DONTEXPAND = 0x100  # special mappings ([vdso], [vvar]): mremap may not grow them
VM_HEAP = 0x200  # internal: made by brk; Linux 6.x never merges the heap with the bss below it
VM_LOCKED = _pw.VM_LOCKED  # 0x400: mlock, mlockall, MAP_LOCKED (VmLck)
VM_LOCKONFAULT = _pw.VM_LOCKONFAULT  # 0x800: MLOCK_ONFAULT, MCL_ONFAULT
_VM_MERGE_IGNORE = VM_PRISTINE

# Unicorn's UC_PROT_* have the same values as PROT_*.
_UC_PERM = tuple(_pw.effective_prot.py_func(p) for p in range(8))

_UC_CTL_TLB_FLUSH = 11  # unicorn_const.UC_CTL_TLB_FLUSH (the 2.1.4 binding has no method for it)
_UC_CTL_IO_WRITE = 1
_UC_CTL_TB_FLUSH = 10  # unicorn_const.UC_CTL_TB_FLUSH

_MAP_NORESERVE_HOST = MAP_NORESERVE  # the host is Linux too; Python's mmap module lacks it


_COMMIT: tuple[int, int] | None = None


def _host_commit_limit() -> tuple[int, int]:
    """(vm.overcommit_memory, RAM + swap in bytes) of the host, read once."""
    global _COMMIT
    if _COMMIT is None:
        mode, total = 0, 1 << 62
        try:
            with open("/proc/sys/vm/overcommit_memory") as f:
                mode = int(f.read())
            kb = {}
            with open("/proc/meminfo") as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    kb[key] = int(rest.split()[0])
            total = (kb["MemTotal"] + kb.get("SwapTotal", 0)) * 1024
        except (OSError, ValueError, KeyError):
            pass  # not Linux-like: no heuristic limit
        _COMMIT = (mode, total)
    return _COMMIT


_FILE_SNAPSHOTS: "weakref.WeakValueDictionary[tuple, Snapshot]" = weakref.WeakValueDictionary()
FILE_SNAPSHOT_MIN = 4 * PAGE_SIZE  # smaller private file mappings are copied (no memfd each)


def file_snapshot(file, offset: int, length: int) -> Snapshot | None:
    """The snapshot of ``length`` bytes of ``file`` from ``offset`` (zeros past its end) that
    every private mapping of that segment maps copy-on-write, made on first use and dropped when
    the last mapping goes; None when the file cannot name its contents (``content_key``: a file
    the guest may write) or the segment is small. Linux holds such pages once in the page cache;
    this holds them once in a memfd."""
    key_of = getattr(file, "content_key", None)
    if length < FILE_SNAPSHOT_MIN or key_of is None:
        return None
    key = key_of()
    if key is None:
        return None
    key = (key, offset, length)
    snap = _FILE_SNAPSHOTS.get(key)
    if snap is None:
        data = file.read_at(offset, length)
        try:
            snap = Snapshot(length)
        except OSError:  # no memfd (the host's fd limit): copy, as for any other file
            return None
        snap.write_at(0, data[:length])
        _FILE_SNAPSHOTS[key] = snap
    return snap


def page_align(n: int) -> int:
    """PAGE_ALIGN: round ``n`` up to a page multiple (as an unbounded Python int)."""
    return (n + PAGE_SIZE - 1) & PAGE_MASK


def default_mmap_base(stack_rlimit: int = 8 << 20, task_size: int = TASK_SIZE) -> int:
    """Linux's ``mmap_base`` for a non-randomised x86-64 process: below the stack's rlimit, the
    guard gap, at least 128 MiB and at most 5/6 of the address space."""
    gap = min(stack_rlimit, RLIM_INFINITY) + STACK_GUARD_GAP
    gap = max(gap, 128 << 20)
    gap = min(gap, task_size // 6 * 5)
    return (task_size - gap) & PAGE_MASK


DEFAULT_MMAP_BASE = default_mmap_base()  # 0x7ffff7fff000, where ld.so's first mmap lands

_next_shared_ino = [1 << 20]  # the identity of the next shared buffer (futex keys use it)


@state_class
class HostBuffer:
    """One page-aligned anonymous host mapping backing guest pages (gVisor: a MemoryFile range).

    ``shared`` buffers back MAP_SHARED memory and may be mapped by several address spaces;
    ``file``/``foff``/``flen`` say where a shared file mapping writes back (``flen``: bytes of the
    file present at map time, the write-back limit).

    A private buffer may sit on a ``base`` :class:`~ecs_kernel.cpu.host_pages.Snapshot`: its host
    mapping is then the snapshot mapped MAP_PRIVATE, so its pages are the snapshot's (held once
    for every buffer on it) until written (see cpu/host_pages.py). ``holes``: some ranges were
    zeroed since (fresh anonymous pages over the snapshot), so the buffer no longer equals its
    base plus the pages it wrote.
    """

    __slots__ = ("mm", "arr", "addr", "size", "shared", "file", "foff", "flen", "ino", "base",
                 "holes")

    def __init__(self, size: int, shared: bool = False):
        self.mm = _mmap.mmap(-1, size, flags=_mmap.MAP_PRIVATE | _MAP_NORESERVE_HOST)
        self.arr = np.frombuffer(self.mm, dtype=np.uint8)
        self.addr = int(self.arr.ctypes.data)
        self.size = size
        self.shared = shared
        self.file = None
        self.foff = 0
        self.flen = 0
        self.ino = 0
        self.base: Snapshot | None = None
        self.holes = False
        if shared:
            self.ino = _next_shared_ino[0]
            _next_shared_ino[0] += 1

    @classmethod
    def on_snapshot(cls, snap: Snapshot, into: "HostBuffer | None" = None) -> "HostBuffer":
        """A private buffer whose pages are ``snap``'s until written (at ``into``'s host range:
        see :meth:`over`)."""
        if into is not None:
            return cls.over(into, snap)
        hb = cls(snap.size)
        hb.rebase(snap)
        return hb

    @classmethod
    def over(cls, old: "HostBuffer", snap: Snapshot | None) -> "HostBuffer":
        """A private buffer at the host range of ``old`` (a dead process's buffer of the same
        size, which nothing uses any more): ``snap``'s pages, or fresh zero pages. A recycled
        engine's regions point at that range (cpu/platform.py EnginePool), so they stay valid;
        whatever ``old`` held is replaced (MAP_FIXED), never seen."""
        hb = cls.__new__(cls)
        hb.mm, hb.arr, hb.addr, hb.size = old.mm, old.arr, old.addr, old.size
        hb.shared = False
        hb.file = None
        hb.foff = hb.flen = hb.ino = 0
        hb.base = None
        hb.holes = False
        if snap is None:
            _hp.map_fixed(hb.addr, hb.size, -1, 0)
        else:
            hb.rebase(snap)
        return hb

    def clean(self, off: int, length: int) -> bool:
        """``[off, off+length)`` holds its base snapshot's bytes at the same offsets: a private
        buffer on a snapshot, with no holes made since and no page of the range written."""
        if self.shared or self.base is None or self.holes:
            return False
        pages = _hp.resident_pages(self.arr[off:off + length])
        if not len(pages):
            return True
        pm = _hp.pagemap(self.addr + off, pages)
        own = ((pm & np.uint64(_hp.PM_PRESENT | _hp.PM_SWAPPED)) != 0) \
            & ((pm & np.uint64(_hp.PM_FILE)) == 0)
        return not own.any()

    def rebase(self, snap: Snapshot) -> None:
        """Put this (private) buffer on ``snap``, which must hold its current contents."""
        _hp.map_fixed(self.addr, self.size, snap.fd, 0)
        self.base = snap
        self.holes = False

    def own_pages(self) -> np.ndarray:
        """Indices of the pages this buffer holds on its own (written since it was put on its
        base, or all its resident pages without a base): what a snapshot must copy."""
        pages = _hp.resident_pages(self.arr)
        if self.base is None or not len(pages):
            return pages
        pm = _hp.pagemap(self.addr, pages)
        own = ((pm & np.uint64(_hp.PM_PRESENT | _hp.PM_SWAPPED)) != 0) \
            & ((pm & np.uint64(_hp.PM_FILE)) == 0)
        return pages[own]

    def fork_copy(self, into: "HostBuffer | None" = None) -> "HostBuffer":
        """Fork's half of copy-on-write: the child's buffer, on a snapshot of this private
        buffer's contents that both then map MAP_PRIVATE. A buffer already on a snapshot that
        wrote nothing since hands out that one (no copy); otherwise the pages not all zero go
        into a new snapshot and, once the child's buffer is made (what may fail: MemoryError,
        OSError, with nothing changed here), this buffer moves onto it in place (its own pages
        go back to the host; the same host address, so Unicorn's regions stay valid).
        ``into``: a dead buffer of the same size whose host range the child's takes (:meth:`over`)."""
        if self.base is not None and not self.holes and not len(self.own_pages()):
            _hp.stats["reused"] += 1
            return HostBuffer.on_snapshot(self.base, into)
        snap = Snapshot(self.size)
        pages = _hp.resident_pages(self.arr)
        if len(pages):
            words = self.arr.view(np.uint64).reshape(-1, PAGE_SIZE // 8)
            pages = pages[words[pages].any(axis=1)]
        snap.write_pages(memoryview(self.mm), pages)
        child = HostBuffer.on_snapshot(snap, into)
        self.rebase(snap)
        return child

    # -- checkpoint: the pages that are not zero, each buffer once however many map it ----------
    def to_state(self, w, name: str) -> dict:
        """The base by reference (saved once however many buffers share it) and the pages that
        differ from it; a buffer without a base: its pages that are not zero."""
        holes = self.holes and self.base is not None
        if self.base is None or holes:
            pages = _hp.resident_pages(self.arr)
            if len(pages):
                words = self.arr.view(np.uint64).reshape(-1, PAGE_SIZE // 8)
                pages = pages[words[pages].any(axis=1)]
        else:
            pages = self.own_pages()
        w.array(f"{name}.pages", pages.astype(np.int64))
        w.array(f"{name}.data", self.arr.reshape(-1, PAGE_SIZE)[pages].reshape(-1))
        return {"size": self.size, "shared": self.shared, "file": w.ref(self.file),
                "foff": self.foff, "flen": self.flen, "ino": self.ino,
                "base": None if self.base is None or holes else w.ref(self.base)}

    @classmethod
    def from_state(cls, r, name: str, meta) -> "HostBuffer":
        size = r.int(meta, "size", PAGE_SIZE, TASK_SIZE)
        if size % PAGE_SIZE or type(meta.get("shared")) is not bool:
            r.fail(f"{name}: a bad host buffer")
        pages = r.array(f"{name}.pages", np.dtype(np.int64), (None,))
        data = r.array(f"{name}.data", np.dtype(np.uint8), (len(pages) * PAGE_SIZE,))
        if len(pages) and (pages[0] < 0 or pages[-1] >= size // PAGE_SIZE
                           or (len(pages) > 1 and (np.diff(pages) <= 0).any())):
            r.fail(f"{name}: pages out of order or outside the buffer")
        hb = cls(size, meta["shared"])
        hb.file = r.obj(meta.get("file"), ("FileMapping",)) if meta.get("file") is not None else None
        hb.foff = r.int(meta, "foff", 0, 1 << 63)
        hb.flen = r.int(meta, "flen", 0, 1 << 63)
        hb.ino = r.int(meta, "ino", 0, 1 << 62)
        _next_shared_ino[0] = max(_next_shared_ino[0], hb.ino + 1)
        if meta.get("base") is not None:
            base = r.obj(meta["base"], ("Snapshot",))
            if meta["shared"] or base.size != size:
                r.fail(f"{name}: a base of the wrong size or under shared memory")
            hb.rebase(base)
        if len(pages):
            hb.arr.reshape(-1, PAGE_SIZE)[pages] = data.reshape(-1, PAGE_SIZE)
        return hb

    def zero(self, off: int, length: int) -> None:
        """Zero ``[off, off+length)`` (page aligned), giving the host pages back."""
        if length <= 0:
            return
        if self.base is None:
            self.mm.madvise(_mmap.MADV_DONTNEED, off, length)
        else:  # MADV_DONTNEED would bring the snapshot's pages back: fresh zero pages instead
            _hp.map_fixed(self.addr + off, length, -1, 0)
            self.holes = True

    def fill_from(self, file, file_off: int, off: int, length: int) -> int:
        """Read ``length`` bytes of ``file`` at ``file_off`` into ``[off, ...)``; return bytes read."""
        data = file.read_at(file_off, length) if length > 0 else b""
        k = min(len(data), length)
        if k:
            self.arr[off:off + k] = np.frombuffer(data, dtype=np.uint8, count=k)
        return k

    def writeback(self, off: int, length: int) -> None:
        """Write ``[off, off+length)`` of a shared file mapping back to its file."""
        if self.file is None:
            return
        write_at = getattr(self.file, "write_at", None)
        end = min(off + length, self.flen)
        if write_at is None or end <= off:
            return
        write_at(self.foff + off, bytes(self.arr[off:end]))


def _distinct_sorted(a: np.ndarray) -> int:
    """How many distinct values the sorted array ``a`` holds."""
    return int(np.count_nonzero(a[1:] != a[:-1])) + 1 if len(a) else 0


def _just_made(hb: HostBuffer, off: int, n: int) -> bool:
    """A child's buffer fork just put on its snapshot holds the snapshot's bytes but where it
    was zeroed since (``holes``, which :meth:`AddressSpace._code_tag` checks first)."""
    return True


# Bytes of kept regions whose translated code is removed page by page (Unicorn looks up each
# page); above it one flush of all translated code is cheaper.
_REMOVE_CACHE_MAX = 256 << 20


class ParkedSpace:
    """What an engine parked for recycling keeps of its dead address space (AddressSpace.park):
    ``regions`` ``{start: (end, uc_perm, host, code_tag)}`` as mapped in the engine, ``bufs``
    the private buffers (by index) whose host ranges they point into, and the dead address
    space itself (its TLB control block is what the engine's fill hook reads until re-hooked).
    ``kept``/``flushed``: after a fork, the regions kept and those whose code was removed."""

    __slots__ = ("aspace", "regions", "bufs", "exe_path", "kept", "flushed")

    def __init__(self, aspace, regions: dict, bufs: dict):
        self.aspace = aspace
        self.regions = regions
        self.bufs = bufs
        self.exe_path = aspace.exe_path
        self.kept = self.flushed = 0

    def take_buffer(self, b: int, size: int) -> HostBuffer | None:
        """The dead private buffer ``b`` if it has ``size`` bytes (its host range is the child's
        buffer ``b``'s now: each is given once)."""
        hb = self.bufs.get(b)
        if hb is None or hb.size != size:
            return None
        del self.bufs[b]
        return hb


@state_class
class PageCache:
    """The page cache of one in-memory regular file (fs/inodes.py ``RegularFile.cache``; gVisor:
    a regular file's ``memmap.MappingSet`` and its cached ``MemoryFile`` ranges).

    ``mappers``: the address spaces mapping the file (shared or private), told when its size
    changes so pages past the end fault with SIGBUS (not saved: address spaces join again when
    they are restored, forked or map the file). ``buf``: once the file is mapped MAP_SHARED, the
    shared :class:`HostBuffer` that *is* the file's bytes from then on, at file offset = buffer
    offset: every shared mapping of the file in every process maps it, and the inode's
    read_at/write_at/truncate go through it. Its first ``buf.size`` bytes are held there (zero
    past the file's size); the rest of a larger (sparse) file reads as zeros, and a write there
    grows the buffer first (:meth:`grow`)."""

    __slots__ = ("buf", "mappers", "__weakref__")

    MIN_CAPACITY = 1 << 20  # address space reserved for a first buffer (MAP_NORESERVE: free)
    MAX_CAPACITY = 1 << 36  # a shared mapping reaching further into the file is a copy instead

    def __init__(self):
        self.buf: HostBuffer | None = None
        self.mappers: weakref.WeakSet = weakref.WeakSet()

    @staticmethod
    def of(inode) -> "PageCache":
        c = inode.cache
        if c is None:
            c = inode.cache = PageCache()
        return c

    @staticmethod
    def buffer_for(file, need: int) -> "HostBuffer | None":
        """The shared buffer behind a MAP_SHARED mapping of ``file`` up to file offset ``need``
        (made on the first shared mapping: the file's bytes move into it), or None when the file
        is not an in-memory regular file: a host file mapped shared through a read-only
        description stays a copy made at map time (the overlay never writes the host; a writable
        description copies the file up first), nor for a mapping ending past MAX_CAPACITY (an
        in-memory file never grows there: its pages stay SIGBUS)."""
        inode = getattr(file, "inode", None)
        if inode is None or not hasattr(type(inode), "cache") or need > PageCache.MAX_CAPACITY:
            return None
        if inode.data is None:
            if not getattr(file, "writable", False):
                return None
            inode.copy_up()
        c = PageCache.of(inode)
        if c.buf is None:
            data = inode.data
            cap = page_align(max(need, len(data), 1) * 2)
            buf = HostBuffer(max(cap, PageCache.MIN_CAPACITY), shared=True)
            if data:
                buf.arr[:len(data)] = np.frombuffer(data, np.uint8)
            c.buf = buf
            inode.data = bytearray()  # the buffer holds the bytes now
        elif need > c.buf.size:
            c.grow(need)
        return c.buf

    def read(self, offset: int, n: int, size: int) -> bytes:
        end = min(size, offset + n)
        if offset >= end:
            return b""
        cap = self.buf.size
        out = self.buf.arr[offset:min(end, cap)].tobytes()
        if end > cap:
            out += bytes(end - max(offset, cap))
        return out

    def write(self, offset: int, data) -> None:
        end = offset + len(data)
        if end > self.buf.size:
            self.grow(end)
        self.buf.arr[offset:end] = np.frombuffer(data, np.uint8)

    def grow(self, need: int) -> None:
        """Move the bytes into a buffer of at least ``need`` bytes and rebind every mapper's rows
        (the futex identity, ``ino``, stays). ENOMEM when the host refuses."""
        old = self.buf
        try:
            new = HostBuffer(page_align(max(need, 2 * old.size)), shared=True)
        except (MemoryError, OSError) as e:
            raise _err(E.ENOMEM, f"the host refused a page cache of {need} bytes: {e}") from None
        new.ino = old.ino
        for p0, k in _hp.runs(_hp.resident_pages(old.arr)):
            new.arr[p0 * PAGE_SIZE:(p0 + k) * PAGE_SIZE] = old.arr[p0 * PAGE_SIZE:(p0 + k) * PAGE_SIZE]
        self.buf = new
        for a in list(self.mappers):
            a._rebind(old, new)

    def resized(self, inode, old: int, new: int) -> None:
        """The file's size went from ``old`` to ``new``: zero what a shrink cut off (so a later
        growth reads zeros, as on Linux) and tell every mapper."""
        buf = self.buf
        if buf is not None and new < old:
            # shmem_truncate_range: the rest of the new last page too (stores past the old end
            # in its last page go; a truncate up shows what is left, as tmpfs does).
            end = min(page_align(old), buf.size)
            if new < end:
                mid = min(page_align(new), end)
                buf.arr[new:mid] = 0
                if end > mid:
                    buf.zero(mid, min(page_align(end), buf.size) - mid)
        for a in list(self.mappers):
            a.file_resized(inode)

    def to_state(self, w, name: str) -> dict:
        return {"buf": None if self.buf is None else w.ref(self.buf)}

    @classmethod
    def from_state(cls, r, name: str, meta) -> "PageCache":
        c = cls()
        if not isinstance(meta, dict):
            r.fail(f"{name}: a bad page cache")
        if meta.get("buf") is not None:
            c.buf = r.obj(meta["buf"], ("HostBuffer",))
            if not c.buf.shared:
                r.fail(f"{name}: a page cache on private memory")
        return c


class MemoryUsage(NamedTuple):
    """A process's memory as /proc reports it, in bytes (:meth:`AddressSpace.memory_usage`)."""

    size: int  # VmSize: every mapped byte
    peak: int  # VmPeak
    rss: int  # VmRSS = anon + file + shmem
    hwm: int  # VmHWM: the highest VmRSS
    anon: int  # RssAnon
    file: int  # RssFile
    shmem: int  # RssShmem
    data: int  # VmData: private writable, not stack
    stack: int  # VmStk
    exe: int  # VmExe: the executable's text
    lib: int  # VmLib: other executable mappings
    pte: int  # VmPTE: page tables mapping the resident pages


class Vma(NamedTuple):
    """One Linux VMA as /proc/self/maps shows it."""

    start: int
    end: int
    prot: int
    flags: int  # VM_* bits
    offset: int  # file offset of start (offset into the shared object for MAP_SHARED anonymous)
    name: str
    file: object


def _err(errno: int, msg: str = ""):
    return KernelError(errno, msg)


def machine_memory(aspaces) -> tuple[int, int]:
    """(bytes the guests hold, of which shared memory) over ``aspaces``, every host buffer
    counted once however many processes map it: the resident pages of each (host mincore), what
    sysinfo and /proc/meminfo take from the machine's memory."""
    used = shared = 0
    seen: set[int] = set()
    for a in aspaces:
        for hb in a._bufs:
            if hb is None or id(hb) in seen:
                continue
            seen.add(id(hb))
            n = len(_hp.resident_pages(hb.arr)) * PAGE_SIZE
            used += n
            shared += n if hb.shared else 0
    return used, shared


class AddressSpace:
    """The memory of one guest process, mapped into one Unicorn engine (gVisor: MemoryManager).

    The kernel sets ``rlimit_as``, ``rlimit_data``, ``rlimit_stack`` (bytes, ``RLIM_INFINITY`` =
    none), ``start_brk``/
    ``current_brk`` (via :meth:`set_brk_base`), ``start_data``/``end_data`` and ``start_stack`` (for brk's
    RLIMIT_DATA check and the ``[heap]``/``[stack]`` names) from the ELF loader.
    """

    start_brk = property(lambda self: int(self._brk[BRK_START]),
                         lambda self, v: self._brk.__setitem__(BRK_START, v))
    current_brk = property(lambda self: int(self._brk[BRK_CURRENT]),
                           lambda self, v: self._brk.__setitem__(BRK_CURRENT, v))
    start_data = property(lambda self: int(self._brk[BRK_START_DATA]),
                          lambda self, v: self._brk.__setitem__(BRK_START_DATA, v))
    end_data = property(lambda self: int(self._brk[BRK_END_DATA]),
                        lambda self, v: self._brk.__setitem__(BRK_END_DATA, v))
    rlimit_data = property(lambda self: int(self._brk[BRK_RLIMIT_DATA]),
                           lambda self, v: self._brk.__setitem__(BRK_RLIMIT_DATA, v))

    def __init__(self, uc, *, mmap_base: int = DEFAULT_MMAP_BASE, task_size: int = TASK_SIZE):
        self.uc = uc
        self.task_size = task_size
        self.mmap_base = mmap_base
        self.mmap_legacy_base = TASK_UNMAPPED_BASE
        self.mmap_min_addr = MMAP_MIN_ADDR
        self.stack_guard_gap = STACK_GUARD_GAP
        self.max_map_count = MAX_MAP_COUNT
        # brk's state is one uint64 array (BRK_FIELDS) so the compiled syscall fast path
        # (jit/fastpath) reads and moves the break in place; the attributes are views of it.
        self._brk = np.zeros(len(BRK_FIELDS), dtype=np.uint64)
        self.rlimit_as = RLIM_INFINITY
        self.rlimit_data = RLIM_INFINITY
        self.rlimit_data_max = RLIM_INFINITY
        self.rlimit_stack = 8 << 20
        self.start_stack = 0
        self.hiwater_rss = 0  # VmHWM: the highest RSS seen (memory_usage)
        self.hiwater_vm = 0  # VmPeak
        self.def_flags = 0  # mm->def_flags: VM_LOCKED (| VM_LOCKONFAULT) after mlockall(MCL_FUTURE)
        self.legacy_layout = 0  # 1: mappings go bottom-up from TASK_UNMAPPED_BASE (personality's
        # ADDR_COMPAT_LAYOUT at exec: x86 mmap_is_legacy)
        # What the image was started as (Linux mm->exe_file and the argv/envp areas /proc shows)
        self.exe_path = "/"
        self.argv: list[bytes] = []
        self.envp: list[bytes] = []
        self._t = np.zeros((NCOLS, 64), dtype=np.int64)
        self._n = 0
        self._pieces = np.zeros((64, 3), dtype=np.int64)
        self._bufs: list[HostBuffer | None] = []
        self._free_buf_ids: list[int] = []
        self._files: list = [None]
        self._names: list[str] = [""]
        # What Unicorn's TLB-fill hook reads (jit/tlbfill): the table's address, capacity, rows.
        self.tlb_ctl = np.zeros(TLB_SIZE, dtype=np.int64)
        self._publish()

    # ------------------------------------------------- what compiled code reads (jit/fastpath)

    @property
    def range_array(self) -> np.ndarray:
        """The whole range table, ``int64 [NCOLS, capacity]`` in C order, as jit/pagewalk walks
        it. A new array when the table grows: compare identities to notice."""
        return self._t

    @property
    def range_count(self) -> int:
        """Live rows of :attr:`range_array` (mmap and munmap change it)."""
        return self._n

    def _publish(self) -> None:
        """Tell the TLB-fill hook where the table is now (after any change to it)."""
        ctl = self.tlb_ctl
        ctl[TLB_T] = self._t.ctypes.data
        ctl[TLB_CAP] = self._t.shape[1]
        ctl[TLB_N] = self._n

    def tlb_fill_py(self, addr: int, access: int) -> int:
        """jit/pagewalk.tlb_fill in plain numpy (the Python TLB-fill hook, before numba loads):
        the protection to cache for ``addr``'s page, or TLB_MAPERR / TLB_ACCERR."""
        t = self._t
        n = self._n
        i = int(t[START, :n].searchsorted(addr, side="right")) - 1
        if i < 0 or addr >= int(t[END, i]):
            return TLB_MAPERR
        p = _UC_PERM[int(t[PROT, i]) & 7]
        need = PROT_WRITE if access == UC_MEM_WRITE else PROT_EXEC if access == UC_MEM_FETCH \
            else PROT_READ
        if not p & need:
            return TLB_ACCERR
        return TLB_BUSERR if addr >= int(t[LIMIT, i]) else p

    def tlb_miss(self, addr: int, access: int) -> int:
        """The page-fault path for an access the TLB-fill hook refused: grow a MAP_GROWSDOWN
        stack down to ``addr`` (Linux ``expand_stack``). 1 if the access may now go ahead (look
        again), 0 to fault."""
        if self._find(addr) >= 0 or not self.expand_stack(addr):
            return 0
        return 1 if self.tlb_fill_py(addr, access) >= 0 else 0

    @property
    def brk_state(self) -> np.ndarray:
        """brk's state, ``uint64 [BRK_FIELDS]`` (jit/pagewalk's BRK_* slots): compiled code moves
        the break in place."""
        return self._brk

    # ------------------------------------------------------------------ table primitives

    @property
    def table(self) -> np.ndarray:
        """The live rows of the range table, ``(NCOLS, n)`` (a view: do not write)."""
        return self._t[:, :self._n]

    def _row(self, i: int) -> list[int]:
        """Row ``i``'s columns up to NAME (LIMIT is derived: :meth:`_limit_of`)."""
        return self._t[:LIMIT, i].tolist()

    def _find(self, addr: int) -> int:
        if addr < 0 or addr >= self.task_size:
            return -1
        return int(_pw.find_row(self._t, self._n, addr))

    def _first_after(self, addr: int) -> int:
        """Index of the first row with END > addr (Linux find_vma)."""
        return int(self._t[END, :self._n].searchsorted(addr, side="right"))

    def _first_at_or_after(self, addr: int) -> int:
        """Index of the first row with START >= addr."""
        return int(self._t[START, :self._n].searchsorted(addr, side="left"))

    def _overlaps(self, start: int, end: int) -> bool:
        if end <= start:
            return False
        i = self._first_after(start)
        return i < self._n and int(self._t[START, i]) < end

    def _start_gap(self, i: int) -> int:
        s = int(self._t[START, i])
        if int(self._t[FLAGS, i]) & VM_GROWSDOWN:
            return max(0, s - self.stack_guard_gap)
        return s

    def _ensure_capacity(self, extra: int) -> None:
        need = self._n + extra
        cap = self._t.shape[1]
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        t = np.zeros((NCOLS, cap), dtype=np.int64)
        t[:, :self._n] = self._t[:, :self._n]
        self._t = t
        self._pieces = np.zeros((cap, 3), dtype=np.int64)
        self._publish()  # the hook must never read the array just dropped

    def _insert_blank(self, pos: int, k: int) -> None:
        self._ensure_capacity(k)
        n = self._n
        t = self._t
        if pos < n:
            t[:, pos + k:n + k] = t[:, pos:n]
        self._n = n + k

    def _delete_rows(self, lo: int, hi: int) -> None:
        if hi <= lo:
            return
        n = self._n
        t = self._t
        t[:, lo:n - (hi - lo)] = t[:, hi:n]
        t[:, n - (hi - lo):n] = 0
        self._n = n - (hi - lo)

    # ------------------------------------------------------------------ Unicorn sync

    def _uc_map(self, i: int) -> None:
        s, e, p, h = (int(x) for x in self._t[[START, END, PROT, HOST], i])
        if _UC_PERM[p & 7]:  # (a PROT_NONE row has no region: see the module's doc)
            self.uc.mem_map_ptr(s, e - s, _UC_PERM[p & 7], h)

    def _snap(self, lo: int, hi: int, touching: bool = True) -> dict:
        """Unicorn's view of the rows touching ``[lo, hi]`` (or, ``touching=False``, meeting
        ``(lo, hi)`` in at least one byte): ``{start: (end, perm, host)}``."""
        t = self._t
        n = self._n
        i = int(t[END, :n].searchsorted(lo, side="left" if touching else "right"))
        j = int(t[START, :n].searchsorted(hi, side="right" if touching else "left"))
        if j <= i:
            return {}
        rows = t[:, i:j]
        return {s: (e, _UC_PERM[p], h) for s, e, p, h in zip(
            rows[START].tolist(), rows[END].tolist(), rows[PROT].tolist(), rows[HOST].tolist())
            if _UC_PERM[p]}

    def _sync(self, before: dict, lo: int, hi: int) -> None:
        """Bring Unicorn from ``before`` (a :meth:`_snap` of ``[lo, hi]`` taken before a change
        to the table) to the table's current rows, with as few engine calls as possible:
        untouched regions stay, a protection change is one mem_protect, the rest unmap/map.

        Every row a change can touch lies in the window: rows change only inside ``[lo, hi]``
        and merge only with rows touching it, which the before-snapshot includes; so the rows
        now meeting the span of ``before`` and ``[lo, hi)`` are all the rows to compare.
        """
        if before:
            lo = min(lo, min(before))
            hi = max(hi, max(v[0] for v in before.values()))
        after = self._snap(lo, hi, touching=False)
        uc = self.uc
        changed = False
        self.tlb_ctl[TLB_BYPASS] = 1  # mem_unmap looks up the code TLB of what it unmaps
        try:
            for s, (e, p, h) in before.items():
                a = after.get(s)
                if a == (e, p, h):
                    del after[s]
                    continue
                changed = True
                if a is not None and a[0] == e and a[2] == h:
                    uc.mem_protect(s, e - s, a[1])
                    del after[s]
                else:
                    uc.mem_unmap(s, e - s)
            for s, (e, p, h) in after.items():
                uc.mem_map_ptr(s, e - s, p, h)
                changed = True
        finally:
            self.tlb_ctl[TLB_BYPASS] = 0
        self._publish()
        if changed:
            # The TLB caches what the fill hook answered (and the kernel's own lookups): forget.
            uc.ctl(_UC_CTL_TLB_FLUSH, _UC_CTL_IO_WRITE)

    def _uc_flush_code(self, start: int, end: int) -> None:
        """Drop translated code for guest bytes the kernel rewrote behind Unicorn's back."""
        self.tlb_ctl[TLB_BYPASS] = 1  # Unicorn finds the code through the code TLB
        try:
            self.uc.ctl_remove_cache(start, end)
        finally:
            self.tlb_ctl[TLB_BYPASS] = 0
        self.uc.ctl(_UC_CTL_TLB_FLUSH, _UC_CTL_IO_WRITE)

    # ------------------------------------------------------------------ buffers, files, names

    def _new_buffer(self, size: int, shared: bool = False) -> int:
        """A fresh buffer's index; ENOMEM when the host refuses the mapping."""
        try:
            hb = HostBuffer(size, shared)
        except (MemoryError, OSError) as e:
            raise _err(E.ENOMEM, f"the host refused {size} bytes: {e}") from None
        return self._add_buffer(hb)

    def _add_buffer(self, hb: HostBuffer) -> int:
        if self._free_buf_ids:
            b = self._free_buf_ids.pop()
            self._bufs[b] = hb
        else:
            b = len(self._bufs)
            self._bufs.append(hb)
        return b

    def _buffer_id_of(self, hb: HostBuffer) -> int:
        for b, x in enumerate(self._bufs):
            if x is hb:
                return b
        return self._add_buffer(hb)

    def _file_id(self, file) -> int:
        if file is None:
            return 0
        for k, f in enumerate(self._files):
            if f is file:
                return k
        self._files.append(file)
        return len(self._files) - 1

    def _name_id(self, name: str | None) -> int:
        if not name:
            return 0
        try:
            return self._names.index(name)
        except ValueError:
            self._names.append(name)
            return len(self._names) - 1

    def _gc(self) -> None:
        """Forget buffers and files no row references any more."""
        used = set(self._t[BUF, :self._n].tolist())
        for b, hb in enumerate(self._bufs):
            if hb is not None and b not in used:
                self._bufs[b] = None
                self._free_buf_ids.append(b)
        used_f = set(self._t[FILE, :self._n].tolist())
        for k in range(1, len(self._files)):
            if self._files[k] is not None and k not in used_f:
                self._files[k] = None

    # ------------------------------------------------------------------ row surgery

    def _split_at(self, addr: int) -> None:
        """Make ``addr`` a row boundary (no-op if it is one or lies in a hole)."""
        i = self._find(addr)
        if i < 0 or int(self._t[START, i]) == addr:
            return
        self._insert_blank(i + 1, 1)
        t = self._t
        t[:, i + 1] = t[:, i]
        d = addr - int(t[START, i])
        t[END, i] = addr
        t[START, i + 1] = addr
        t[HOST, i + 1] += d
        t[BOFF, i + 1] += d
        t[FOFF, i + 1] += d

    def _carve(self, start: int, end: int) -> tuple[int, int]:
        """Split rows at ``start`` and ``end``; return the row range lying inside."""
        self._split_at(start)
        self._split_at(end)
        return self._first_after(start), self._first_at_or_after(end)

    def _mergeable(self, i: int) -> bool:
        """Can rows ``i`` and ``i+1`` become one row (same buffer, contiguous, same attributes)?"""
        a, b = self._t[:, i:i + 2].T.tolist()
        return bool(a[END] == b[START] and a[BUF] == b[BUF]
                    and a[BOFF] + (a[END] - a[START]) == b[BOFF]
                    and a[PROT] == b[PROT]
                    and (a[FLAGS] | _VM_MERGE_IGNORE) == (b[FLAGS] | _VM_MERGE_IGNORE)
                    and a[FILE] == b[FILE] and a[NAME] == b[NAME]
                    and (a[FILE] == 0 or a[FOFF] + (a[END] - a[START]) == b[FOFF]))

    def _merge_window(self, lo: int, hi: int) -> None:
        """Merge mergeable neighbours among rows ``lo-1 .. hi`` (indices before any merge)."""
        i = max(lo - 1, 0)
        while i < min(hi, self._n - 1):
            if self._mergeable(i):
                t = self._t
                t[END, i] = t[END, i + 1]
                t[FLAGS, i] &= t[FLAGS, i + 1] | ~VM_PRISTINE
                self._delete_rows(i + 1, i + 2)
                hi -= 1
            else:
                i += 1

    def _insert_row(self, start, end, prot, flags, buf, boff, file_id=0, foff=0, name_id=0) -> int:
        """Insert one row into a free range; returns its index (before merging)."""
        pos = self._first_at_or_after(start)
        self._insert_blank(pos, 1)
        hb = self._bufs[buf]
        self._t[:, pos] = (start, end, prot, hb.addr + boff, flags, buf, boff, file_id, foff,
                           name_id, self._limit_of(file_id, foff, start))
        return pos

    # ------------------------------------------------------------------ files' ends (SIGBUS)

    def _limit_of(self, f: int, foff: int, start: int) -> int:
        """The LIMIT column of a row of file ``f`` (index) at file offset ``foff`` starting at
        ``start``: the guest address of the first page wholly past the file's end."""
        if f == 0:
            return NO_LIMIT
        size_of = getattr(self._files[f], "file_size", None)
        if size_of is None:
            return NO_LIMIT
        return min(NO_LIMIT, max(0, start - foff + page_align(size_of())))

    def _refresh_limits(self, lo: int = 0, hi: int | None = None, inode=None) -> bool:
        """Recompute the LIMIT column of rows ``[lo, hi)`` (of ``inode``'s mappings only, when
        given); True if some row's limit went down (what the TLB may hold must go)."""
        t = self._t
        hi = self._n if hi is None else hi
        lowered = False
        for i in range(lo, hi):
            f = int(t[FILE, i])
            if f == 0 or (inode is not None
                          and getattr(self._files[f], "inode", None) is not inode):
                continue
            new = self._limit_of(f, int(t[FOFF, i]), int(t[START, i]))
            lowered |= new < int(t[LIMIT, i])
            t[LIMIT, i] = new
        return lowered

    def file_resized(self, inode) -> None:
        """``inode``'s size changed (truncate, a write past its end): pages past the new end of
        every mapping of it here fault with SIGBUS from now on (Linux: truncate's
        unmap_mapping_range), and pages before it are mapped again."""
        if self._refresh_limits(inode=inode):
            self.uc.ctl(_UC_CTL_TLB_FLUSH, _UC_CTL_IO_WRITE)

    def page_view(self, page: int) -> "np.ndarray | None":
        """The host bytes behind the guest page at ``page`` (a view), or None if unmapped."""
        i = self._find(page)
        if i < 0:
            return None
        off = int(self._t[BOFF, i]) + (page - int(self._t[START, i]))
        return self._bufs[int(self._t[BUF, i])].arr[off:off + PAGE_SIZE]

    def _note_mapper(self, file) -> None:
        """Join the mapper set of ``file``'s inode (a regular file: its size matters)."""
        inode = getattr(file, "inode", None)
        if inode is not None and hasattr(type(inode), "cache"):
            PageCache.of(inode).mappers.add(self)

    def _page_cache_of(self, b: int, f: int) -> "PageCache | None":
        """The page cache whose buffer row buffer ``b`` is (file ``f``'s), or None."""
        c = getattr(getattr(self._files[f], "inode", None), "cache", None) if f else None
        return c if c is not None and c.buf is self._bufs[b] else None

    def _past_object_end(self, start: int, length: int, prot: int, vm: int, f: int, foff: int,
                         nm: int) -> None:
        """Map ``[start, start+length)`` as pages past the end of a shared object (a mapping
        grown or duplicated by mremap beyond it): every access is SIGBUS (its LIMIT is its
        start), backed by a fresh buffer nobody can reach."""
        nb = self._new_buffer(length)
        pos = self._insert_row(start, start + length, prot, vm, nb, 0, f, foff, nm)
        self._t[LIMIT, pos] = start

    def _rebind(self, old: "HostBuffer", new: "HostBuffer") -> None:
        """Every row on buffer ``old`` is now on ``new`` at the same offsets (a page cache that
        grew: :meth:`PageCache.grow`); Unicorn's regions follow."""
        b = next((k for k, x in enumerate(self._bufs) if x is old), -1)
        if b < 0:
            return
        self._bufs[b] = new
        t = self._t
        uc = self.uc
        self.tlb_ctl[TLB_BYPASS] = 1  # mem_unmap looks up the code TLB of what it unmaps
        try:
            for i in np.flatnonzero(t[BUF, :self._n] == b).tolist():
                s, e = int(t[START, i]), int(t[END, i])
                t[HOST, i] = new.addr + int(t[BOFF, i])
                if _UC_PERM[int(t[PROT, i]) & 7]:
                    uc.mem_unmap(s, e - s)
                    self._uc_map(i)
        finally:
            self.tlb_ctl[TLB_BYPASS] = 0
        self._publish()
        uc.ctl(_UC_CTL_TLB_FLUSH, _UC_CTL_IO_WRITE)

    def _release_rows(self, lo: int, hi: int) -> None:
        """Drop rows ``[lo, hi)``: write shared files back, return private host pages, forget."""
        t = self._t
        for i in range(lo, hi):
            s, e, b, boff = int(t[START, i]), int(t[END, i]), int(t[BUF, i]), int(t[BOFF, i])
            hb = self._bufs[b]
            if hb.shared:
                hb.writeback(boff, e - s)
            else:
                hb.zero(boff, e - s)
        self._delete_rows(lo, hi)
        self._gc()

    def _unmap_range(self, start: int, end: int) -> None:
        """do_munmap: remove every mapping in ``[start, end)`` (holes are fine). Table only."""
        if not self._overlaps(start, end):
            return
        lo, hi = self._carve(start, end)
        self._release_rows(lo, hi)

    def _unmap_range_sync(self, start: int, end: int) -> None:
        before = self._snap(start, end)
        self._unmap_range(start, end)
        self._sync(before, start, end)

    # ------------------------------------------------------------------ accounting

    def _usage(self, start: int = 0, end: int = TASK_SIZE) -> tuple[int, int]:
        total, data = _pw.mapped_bytes(self._t, self._n, start, end, VM_SHARED | VM_GROWSDOWN, 0)
        return int(total), int(data)

    def mapped_bytes(self) -> tuple[int, int]:
        """(every mapped byte, the private writable ones): /proc's VmSize and VmData."""
        return self._usage()

    def resident_estimate(self) -> int:
        """Bytes of host memory behind this address space's buffers (mincore: own pages and
        its snapshots' pages, shared ones counted whole): the OOM killer's quick measure, a
        walk of the host's page tables without pagemap."""
        n = 0
        for hb in {id(x): x for x in self._bufs if x is not None}.values():
            n += len(_hp.resident_pages(hb.arr))
        return n * PAGE_SIZE

    def memory_usage(self) -> "MemoryUsage":
        """What /proc/PID/status, statm and stat report (fs/proc/task_mmu.c task_mem), in
        bytes, from the host's page tables (cpu/host_pages.py ``mapped_pages``):

        - RssAnon: pages of private rows that this process wrote (its own host pages), and for
          anonymous rows also the pages still shared copy-on-write with a parent or child,
          touched since the fork or not (Linux's fork copies those page table entries, and
          counts the pages anonymous in each process);
        - RssFile: pages of private file rows not yet written (a snapshot's page, shared with
          every process mapping the segment), and resident pages of shared file rows;
        - RssShmem: resident pages of MAP_SHARED anonymous memory.

        A MAP_SHARED buffer is one host mapping for every process that maps it, so its resident
        pages count in each of them whether or not that process touched them. The zero page
        (reads of untouched memory) is not counted, as Linux does not. VmHWM and VmPeak are the
        highest values seen by a read (Linux updates them at every change)."""
        t = self._t
        anon = filed = shmem = 0
        stk = exe_b = exec_b = 0
        touched = []
        for i in range(self._n):
            s, e, p, _h, vm, b, boff, f = (int(x) for x in t[:FOFF, i])
            hb = self._bufs[b]
            view = hb.arr[boff:boff + (e - s)]
            if hb.shared:
                pages = _hp.resident_pages(view)
                if f:
                    filed += len(pages)
                else:
                    shmem += len(pages)
                touched.append(pages + (s >> PAGE_SHIFT))
            else:
                own, under, held = _hp.mapped_pages(view)
                if f:  # Linux maps a private file's pages as they are touched (fault-around)
                    anon += len(own)
                    filed += len(under)
                    touched += [own + (s >> PAGE_SHIFT), under + (s >> PAGE_SHIFT)]
                else:  # fork copies the page table entries of anonymous memory: all count
                    anon += len(held)
                    touched.append(held + (s >> PAGE_SHIFT))
            if vm & VM_GROWSDOWN:
                stk += e - s
            elif p & PROT_EXEC and not p & PROT_WRITE:
                exec_b += e - s
                if f and getattr(self._files[f], "path", None) == self.exe_path:
                    exe_b += e - s
        total, data = self._usage()
        rss = (anon + filed + shmem) * PAGE_SIZE
        self.hiwater_rss = max(self.hiwater_rss, rss)
        self.hiwater_vm = max(self.hiwater_vm, total)
        pg = np.sort(np.concatenate(touched)) if touched else np.zeros(0, np.int64)
        # x86-64 page tables that map them: a PTE page per 2 MiB, a PMD page per GiB, a PUD page
        # per 512 GiB touched, and the PGD (Linux's mm_pgtables_bytes). (Distinct values of a
        # sorted array by hand: np.unique imports numpy.ma at its first call, ~8 ms of the
        # start-up of every run, whose first exit comes here.)
        pte = sum(_distinct_sorted(pg >> k) for k in (9, 18, 27)) + 1 if len(pg) else 1
        return MemoryUsage(size=total, peak=self.hiwater_vm, rss=rss, hwm=self.hiwater_rss,
                           anon=anon * PAGE_SIZE, file=filed * PAGE_SIZE,
                           shmem=shmem * PAGE_SIZE, data=data, stack=stk, exe=exe_b,
                           lib=exec_b - exe_b, pte=pte * PAGE_SIZE)

    def _may_expand_vm(self, is_data: bool, nbytes: int, total=None, data=None) -> bool:
        """Linux may_expand_vm: RLIMIT_AS always, RLIMIT_DATA for private writable non-stack."""
        if total is None:
            total, data = self._usage()
        npages = nbytes >> PAGE_SHIFT
        if (total >> PAGE_SHIFT) + npages > (self.rlimit_as >> PAGE_SHIFT):
            return False
        if is_data and (data >> PAGE_SHIFT) + npages > (self.rlimit_data >> PAGE_SHIFT):
            if (self.rlimit_data == 0
                    and (data >> PAGE_SHIFT) + npages <= (self.rlimit_data_max >> PAGE_SHIFT)):
                return True
            return False
        return True

    @staticmethod
    def _vm_enough_memory(nbytes: int) -> bool:
        """__vm_enough_memory under the host's overcommit policy: in the default heuristic mode a
        single request larger than RAM + swap fails (what the same program gets natively here);
        ``vm.overcommit_memory = 1`` never refuses. Under ``run --memory`` the limit is the
        machine's memory, and a request while ecs-kernel holds more than it fails too
        (cpu/host_limits.py)."""
        limits = host_limits.current()
        if limits.memory is not None and (nbytes > limits.memory or limits.over()):
            return False  # larger than the machine, or the machine is full (the OOM killer's)
        mode, limit = _host_commit_limit()
        return mode == 1 or nbytes <= limit

    @staticmethod
    def _is_data(prot: int, vm_flags: int) -> bool:
        return bool(prot & PROT_WRITE) and not (vm_flags & (VM_SHARED | VM_GROWSDOWN))

    def _map_count(self) -> int:
        """Number of Linux VMAs (rows merged by attribute)."""
        n = self._n
        if n <= 1:
            return n
        return sum(1 for i in range(n) if i == 0 or not self._same_vma(i - 1))

    # ------------------------------------------------------------------ VMAs (merged rows)

    def _same_vma(self, i: int) -> bool:
        """Would Linux show rows ``i`` and ``i+1`` as one VMA?"""
        a, b = self._t[:, i:i + 2].T.tolist()
        if not (a[END] == b[START] and a[PROT] == b[PROT]
                and (a[FLAGS] | _VM_MERGE_IGNORE) == (b[FLAGS] | _VM_MERGE_IGNORE)
                and a[FILE] == b[FILE] and a[NAME] == b[NAME]):
            return False
        length = a[END] - a[START]
        if a[FILE] != 0:
            return a[FOFF] + length == b[FOFF]
        if a[FLAGS] & VM_MAYSHARE:  # one shmem object each
            return a[BUF] == b[BUF] and a[BOFF] + length == b[BOFF]
        return True

    def _vma_rows(self, i: int) -> tuple[int, int]:
        """Row range ``[lo, hi)`` of the VMA containing row ``i``."""
        lo = i
        while lo > 0 and self._same_vma(lo - 1):
            lo -= 1
        hi = i + 1
        while hi < self._n and self._same_vma(hi - 1):
            hi += 1
        return lo, hi

    def _vma_name(self, lo: int, hi: int) -> str:
        t = self._t
        start, end = int(t[START, lo]), int(t[END, hi - 1])
        f = int(t[FILE, lo])
        if f:
            return str(getattr(self._files[f], "path", "") or "")
        if int(t[FLAGS, lo]) & VM_MAYSHARE:
            return "/dev/zero (deleted)"
        if int(t[NAME, lo]):
            return self._names[int(t[NAME, lo])]
        if start < self.current_brk and end > self.start_brk:  # vma_is_initial_heap
            return "[heap]"
        if self.start_stack and start <= self.start_stack <= end:
            return "[stack]"
        return ""

    def _vma(self, lo: int, hi: int) -> Vma:
        t = self._t
        f = int(t[FILE, lo])
        if f:
            off = int(t[FOFF, lo])
        elif int(t[FLAGS, lo]) & VM_MAYSHARE:
            off = int(t[BOFF, lo])
        else:
            off = 0
        return Vma(int(t[START, lo]), int(t[END, hi - 1]), int(t[PROT, lo]), int(t[FLAGS, lo]),
                   off, self._vma_name(lo, hi), self._files[f])

    def writably_maps(self, inode) -> bool:
        """Is a shared writable mapping of ``inode`` here (memfd's F_SEAL_WRITE asks)?"""
        # mapping_writably_mapped: shared mappings that may become writable, whatever their
        # protection now (VM_SHARED is off for a description not open for writing).
        return any(v.file is not None and getattr(v.file, "inode", None) is inode
                   and v.flags & VM_SHARED and v.flags & VM_MAYWRITE for v in self.vmas())

    def vmas(self) -> list[Vma]:
        """The VMAs in address order, as Linux would show them."""
        out = []
        i = 0
        while i < self._n:
            lo, hi = self._vma_rows(i)
            out.append(self._vma(lo, hi))
            i = hi
        return out

    def files_in(self, start: int, end: int) -> list:
        """The distinct files mapped by the rows meeting ``[start, end)`` (the table's columns:
        no VMA is built)."""
        t, n = self._t, self._n
        i = int(t[END, :n].searchsorted(start, side="right"))
        j = int(t[START, :n].searchsorted(end, side="left"))
        return [self._files[f] for f in np.unique(t[FILE, i:j]).tolist() if f]

    def vma_at(self, addr: int) -> Vma | None:
        """The VMA containing ``addr``, or None (e.g. to tell SEGV_MAPERR from SEGV_ACCERR)."""
        i = self._find(addr)
        if i < 0:
            return None
        return self._vma(*self._vma_rows(i))

    def maps_text(self) -> str:
        """``/proc/self/maps`` in Linux's format."""
        lines = []
        for v in self.vmas():
            perms = ("r" if v.prot & PROT_READ else "-") + ("w" if v.prot & PROT_WRITE else "-") \
                + ("x" if v.prot & PROT_EXEC else "-") + ("s" if v.flags & VM_MAYSHARE else "p")
            if v.file is not None:
                major, minor = getattr(v.file, "dev", (0, 0))
                ino = int(getattr(v.file, "ino", 0))
            elif v.flags & VM_MAYSHARE:
                major, minor = 0, 1
                i = self._find(v.start)
                ino = self._bufs[int(self._t[BUF, i])].ino
            else:
                major, minor, ino = 0, 0, 0
            line = f"{v.start:08x}-{v.end:08x} {perms} {v.offset:08x} {major:02x}:{minor:02x} {ino} "
            if v.name:
                line = line.ljust(72) + " " + v.name
            lines.append(line)
        return "".join(s + "\n" for s in lines)

    # ------------------------------------------------------------------ placement

    def _get_unmapped_area(self, addr: int, length: int, flags: int) -> int:
        """get_unmapped_area + x86-64 arch_get_unmapped_area_topdown. Raises ENOMEM/EINVAL/EPERM."""
        if length > self.task_size:
            raise _err(E.ENOMEM, "length beyond the address space")
        if flags & MAP_FIXED:
            a = addr
        elif flags & MAP_32BIT:
            a = self._area_bottomup(addr, length, flags)
        else:
            a = -1
            if addr:
                hint = addr & PAGE_MASK
                if self.task_size - length >= hint:
                    i = self._first_after(hint)
                    if i == self._n or hint + length <= self._start_gap(i):
                        a = hint
            if a < 0 and self.legacy_layout:  # mmap_is_legacy: ADDR_COMPAT_LAYOUT
                a = self._area_bottomup(0, length, flags)
            if a < 0:
                low = max(PAGE_SIZE, self.mmap_min_addr)
                a = int(_pw.find_gap_topdown(self._t, self._n, length, low, self.mmap_base,
                                             self.stack_guard_gap))
                if a < 0:
                    a = self._area_bottomup(addr, length, flags)
        if a > self.task_size - length:
            raise _err(E.ENOMEM, "mapping beyond the address space")
        if a & ~PAGE_MASK:
            raise _err(E.EINVAL, "unaligned fixed address")
        if a < self.mmap_min_addr:
            raise _err(E.EPERM, "below vm.mmap_min_addr")
        return a

    def _area_bottomup(self, addr: int, length: int, flags: int) -> int:
        """x86-64 arch_get_unmapped_area (the bottom-up fallback and MAP_32BIT)."""
        if flags & MAP_32BIT:
            begin, end = 0x40000000, 0x80000000
        else:
            begin, end = self.mmap_legacy_base, self.task_size
        if length > end:
            raise _err(E.ENOMEM)
        if addr:
            hint = page_align(addr)
            i = self._first_after(hint)
            if end - length >= hint and (i == self._n or hint + length <= self._start_gap(i)):
                return hint
        a = int(_pw.find_gap_bottomup(self._t, self._n, length, max(begin, self.mmap_min_addr),
                                      end, self.stack_guard_gap))
        if a < 0:
            raise _err(E.ENOMEM, "no free range")
        return a

    # ------------------------------------------------------------------ mmap

    def mmap(self, addr: int, length: int, prot: int, flags: int, file=None, offset: int = 0,
             *, name: str | None = None) -> int:
        """Implements mmap(2). Returns the mapped address.

        ``file`` (for non-MAP_ANONYMOUS) is the object behind the fd (see the module docstring);
        ``None`` without MAP_ANONYMOUS is EBADF. ``name`` is for kernel-made special mappings
        ("[vdso]", "[vvar]"): shown in /proc/self/maps, never merged, not growable by mremap.
        """
        # sys_mmap / ksys_mmap_pgoff
        if offset & ~PAGE_MASK:
            raise _err(E.EINVAL, "unaligned offset")
        offset &= _U64 - 1
        anonymous = bool(flags & MAP_ANONYMOUS)
        if anonymous:
            file = None
        elif file is None:
            raise _err(E.EBADF)
        if flags & MAP_HUGETLB:
            # No hugetlbfs: a file is never a hugetlb file; anonymous huge pages: none reserved.
            raise _err(E.EINVAL if file is not None else E.ENOMEM, "MAP_HUGETLB")
        # do_mmap
        if length == 0:
            raise _err(E.EINVAL, "zero length")
        if flags & MAP_FIXED_NOREPLACE:
            flags |= MAP_FIXED
        if not flags & MAP_FIXED:
            addr &= PAGE_MASK
            if addr and addr < self.mmap_min_addr:
                addr = page_align(self.mmap_min_addr)
        length = page_align(length)
        if length >= _U64:
            raise _err(E.ENOMEM, "length overflows")
        if (offset >> PAGE_SHIFT) + (length >> PAGE_SHIFT) >= _U64 >> PAGE_SHIFT:
            raise _err(E.EOVERFLOW)
        if self._n > self.max_map_count and self._map_count() > self.max_map_count:
            raise _err(E.ENOMEM, "too many mappings")
        addr = self._get_unmapped_area(addr, length, flags)
        if flags & MAP_FIXED_NOREPLACE and self._overlaps(addr, addr + length):
            raise _err(E.EEXIST)
        prot &= PROT_READ | PROT_WRITE | PROT_EXEC
        vm = VM_MAYWRITE
        if flags & MAP_GROWSDOWN:
            vm |= VM_GROWSDOWN
        mtype = flags & MAP_TYPE
        if file is not None:
            if offset + length > (1 << 63) - 1:  # file_mmap_ok: MAX_LFS_FILESIZE
                raise _err(E.EOVERFLOW)
            readable = bool(getattr(file, "readable", True))
            writable = bool(getattr(file, "writable", hasattr(file, "write_at")))
            if mtype in (MAP_SHARED, MAP_SHARED_VALIDATE):
                vflags = flags & LEGACY_MAP_MASK if mtype == MAP_SHARED else flags
                if vflags & ~LEGACY_MAP_MASK:
                    raise _err(E.EOPNOTSUPP)
                if prot & PROT_WRITE and not writable:
                    raise _err(E.EACCES, "shared writable mapping of a file not open for writing")
                vm |= VM_SHARED | VM_MAYSHARE
                if not writable:
                    vm &= ~(VM_MAYWRITE | VM_SHARED)
            elif mtype != MAP_PRIVATE:
                raise _err(E.EINVAL, "bad mapping type")
            if not readable:
                raise _err(E.EACCES, "file not open for reading")
            if vm & VM_GROWSDOWN:
                raise _err(E.EINVAL)
        else:
            if mtype == MAP_SHARED:
                if vm & VM_GROWSDOWN:
                    raise _err(E.EINVAL)
                vm |= VM_SHARED | VM_MAYSHARE
            elif mtype != MAP_PRIVATE:
                raise _err(E.EINVAL, "bad mapping type")
        # mmap_region: address-space limits, counting what MAP_FIXED replaces.
        is_data = self._is_data(prot, vm)
        if not self._may_expand_vm(is_data, length):
            replaced, _ = self._usage(addr, addr + length)
            if not self._may_expand_vm(is_data, length - replaced):
                raise _err(E.ENOMEM, "RLIMIT_AS/RLIMIT_DATA")
        # accountable_mapping: private writable memory is committed unless MAP_NORESERVE.
        if (prot & PROT_WRITE and not vm & VM_SHARED and not flags & MAP_NORESERVE
                and not self._vm_enough_memory(length)):
            raise _err(E.ENOMEM, "more than the host's RAM + swap (overcommit heuristic)")
        if file is None and not prot & PROT_WRITE:
            vm |= VM_PRISTINE
        if name:
            vm |= VM_DONTEXPAND
        vm |= self.def_flags | (VM_LOCKED if flags & MAP_LOCKED else 0)
        shared = bool(vm & VM_MAYSHARE)
        if file is None and not shared and not name and (
                self._map_anon_over(addr, length, prot, vm, offset)
                or self._map_anon_beside(addr, length, prot, vm)):
            if (vm & (VM_LOCKED | VM_LOCKONFAULT) == VM_LOCKED
                    or flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE):
                self._populate(addr, addr + length)
            return addr
        # The host memory first (ENOMEM leaves the address space as it was), then commit:
        # nothing after the unmap fails.
        boff = 0
        try:
            cached = PageCache.buffer_for(file, offset + length) if shared and file is not None \
                else None
            snap = file_snapshot(file, offset, length) if file is not None and not shared \
                else None
            if cached is not None:  # the file's page cache itself, at the file offset
                hb, boff = cached, offset
            elif snap is not None:  # the same file segment in every process: its pages held once
                hb = HostBuffer.on_snapshot(snap)
            else:
                hb = HostBuffer(length, shared)
                if file is not None:
                    got = hb.fill_from(file, offset, 0, length)
                    if vm & VM_SHARED:  # a read-only shared mapping never writes back
                        hb.file, hb.foff, hb.flen = file, offset, got
        except (MemoryError, OSError) as e:
            raise _err(E.ENOMEM, f"the host refused {length} bytes: {e}") from None
        before = self._snap(addr, addr + length)
        self._unmap_range(addr, addr + length)
        b = self._buffer_id_of(hb) if cached is not None else self._add_buffer(hb)
        self._note_mapper(file)
        # A new buffer never merges with a neighbour row (the VMA may: see _same_vma).
        self._insert_row(addr, addr + length, prot, vm, b, boff, self._file_id(file), offset,
                         self._name_id(name))
        self._sync(before, addr, addr + length)
        if (vm & (VM_LOCKED | VM_LOCKONFAULT) == VM_LOCKED
                or flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE):
            self._populate(addr, addr + length)
        return addr

    # -- private anonymous memory without a new buffer (Linux's vma_merge, as cost) --------------

    def _map_anon_over(self, addr: int, length: int, prot: int, vm: int, foff: int) -> bool:
        """MAP_FIXED private anonymous memory over ``[addr, addr+length)`` when private
        anonymous rows cover all of it: the same as fresh zero pages in the buffers already
        there, so their bytes are zeroed in place (given back to the host) and the rows take
        the new mapping's attributes, merging with their neighbours in the same buffer. No new
        buffer, and no new engine region when the pieces merge (a page mapped over the middle
        of a mapping with its attributes changes nothing in the engine). False (nothing done)
        when a hole, a file, a shared object or a special mapping lies in the range."""
        end = addr + length
        t = self._t
        lo, hi = self._first_after(addr), self._first_at_or_after(end)
        if hi <= lo or int(t[START, lo]) > addr or int(t[END, hi - 1]) < end:
            return False
        rows = t[:, lo:hi]
        if (rows[START, 1:] != rows[END, :-1]).any() or rows[FILE].any() or rows[NAME].any() \
                or (rows[LIMIT] != NO_LIMIT).any():
            return False
        if any(self._bufs[b].shared for b in set(rows[BUF].tolist())):
            return False
        code = bool((rows[PROT] & PROT_EXEC).any())
        before = self._snap(addr, end)
        lo, hi = self._carve(addr, end)
        t = self._t
        for i in range(lo, hi):
            s, e, b, boff = (int(x) for x in t[[START, END, BUF, BOFF], i])
            self._bufs[b].zero(boff, e - s)  # the only row on these bytes: fresh zeros
            t[FOFF, i] = foff + (s - addr)
        t[PROT, lo:hi] = prot
        t[FLAGS, lo:hi] = vm
        self._merge_window(lo, hi)
        self._sync(before, addr, end)
        if code:  # the engine's code made from the old bytes (a region kept as it was)
            self._uc_flush_code(addr, end)
        return True

    def _joins(self, i: int, prot: int, vm: int) -> bool:
        """Could a new private anonymous mapping of ``prot``/``vm`` share row ``i``'s buffer and
        merge with it (vma_merge's is_mergeable_vma, without anon_vma)?"""
        t = self._t
        return (int(t[FILE, i]) == 0 and int(t[NAME, i]) == 0 and int(t[PROT, i]) == prot
                and (int(t[FLAGS, i]) | _VM_MERGE_IGNORE) == (vm | _VM_MERGE_IGNORE)
                and int(t[LIMIT, i]) == NO_LIMIT and not self._bufs[int(t[BUF, i])].shared)

    def _map_anon_beside(self, addr: int, length: int, prot: int, vm: int) -> bool:
        """A new private anonymous mapping in the free range ``[addr, addr+length)`` right below
        (top-down placement: the usual case) or above a row it would merge with: that row grows
        over it (:meth:`_extend_down`, :meth:`_extend`), into the zero slack of its buffer, or
        into a new buffer with slack for as much again, so a run of n such mappings is O(log n)
        rows and engine regions, not n. False (nothing done) when no neighbour joins."""
        end = addr + length
        if self._overlaps(addr, end):
            return False  # not free (MAP_FIXED over mappings and holes)
        t = self._t
        j = self._first_at_or_after(addr)
        above = j if j < self._n and int(t[START, j]) == end and self._joins(j, prot, vm) else -1
        below = j - 1 if j > 0 and int(t[END, j - 1]) == addr and self._joins(j - 1, prot, vm) \
            else -1
        if above < 0 and below < 0:
            return False
        before = self._snap(addr, end)
        if above >= 0 and (below < 0 or self._slack_below(above, length)
                           or not self._slack_above(below, length)):
            self._extend_down(above, length)
        else:
            self._extend(below, length)
        self._sync(before, addr, end)
        return True

    def _slack_below(self, i: int, delta: int) -> bool:
        """Are the ``delta`` bytes before row ``i`` in its (private) buffer free?"""
        b, boff = int(self._t[BUF, i]), int(self._t[BOFF, i])
        return boff >= delta and not self._buffer_range_used(b, boff - delta, boff)

    def _slack_above(self, i: int, delta: int) -> bool:
        """Are the ``delta`` bytes after row ``i`` in its (private) buffer free?"""
        b = int(self._t[BUF, i])
        off = int(self._t[BOFF, i]) + int(self._t[END, i]) - int(self._t[START, i])
        return off + delta <= self._bufs[b].size and not self._buffer_range_used(b, off, off + delta)

    def attach_shared(self, addr: int, prot: int, segment, *, fixed: bool, replace: bool) -> int:
        """shmat's do_mmap of System V segment ``segment`` (an object with ``size``, ``buf``: its
        shared HostBuffer, made here at its first attach, and the ``path``/``dev``/``ino`` maps
        shows): ``segment.size`` bytes at ``addr`` (``fixed``: exactly there; ``replace``:
        SHM_REMAP, else EINVAL over an existing mapping), readable, writable unless ``prot`` lacks
        PROT_WRITE (then mprotect cannot add it). Returns the address."""
        length = page_align(segment.size)
        if segment.buf is None:
            segment.buf = HostBuffer(length, shared=True)
        if fixed and not replace and self._overlaps(addr, addr + length):
            raise _err(E.EINVAL, "shmat over an existing mapping without SHM_REMAP")
        addr = self._get_unmapped_area(addr, length, MAP_SHARED | (MAP_FIXED if fixed else 0))
        prot &= PROT_READ | PROT_WRITE | PROT_EXEC
        vm = VM_SHARED | VM_MAYSHARE | (VM_MAYWRITE if prot & PROT_WRITE else 0)
        if not self._may_expand_vm(False, length):
            replaced, _ = self._usage(addr, addr + length)
            if not self._may_expand_vm(False, length - replaced):
                raise _err(E.ENOMEM, "RLIMIT_AS")
        before = self._snap(addr, addr + length)
        self._unmap_range(addr, addr + length)
        b = self._buffer_id_of(segment.buf)
        self._insert_row(addr, addr + length, prot, vm, b, 0, self._file_id(segment), 0)
        self._sync(before, addr, addr + length)
        return addr

    # ------------------------------------------------------------------ munmap

    def munmap(self, addr: int, length: int) -> int:
        """Implements munmap(2)."""
        if addr & ~PAGE_MASK or addr > self.task_size or length > self.task_size - addr:
            raise _err(E.EINVAL)
        length = page_align(length)
        if length == 0:
            raise _err(E.EINVAL, "zero length")
        self._unmap_range_sync(addr, addr + length)
        return 0

    # ------------------------------------------------------------------ mprotect

    def mprotect(self, addr: int, length: int, prot: int) -> int:
        """Implements mprotect(2), including Linux's partial application before a hole or an
        EACCES (the pages before it keep their new protection)."""
        grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP)
        prot &= ~grows
        if grows == (PROT_GROWSDOWN | PROT_GROWSUP):
            raise _err(E.EINVAL)
        if addr & ~PAGE_MASK:
            raise _err(E.EINVAL, "unaligned address")
        if length == 0:
            return 0
        length = page_align(length)
        end = addr + length
        if end >= _U64 or end <= addr:
            raise _err(E.ENOMEM)
        if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM):
            raise _err(E.EINVAL, "unknown protection bits")
        prot &= PROT_READ | PROT_WRITE | PROT_EXEC
        i = self._first_after(addr)
        if i >= self._n:
            raise _err(E.ENOMEM)
        t = self._t
        if grows & PROT_GROWSDOWN:
            if int(t[START, i]) >= end:
                raise _err(E.ENOMEM)
            lo, _ = self._vma_rows(i)
            addr = int(t[START, lo])
            if not int(t[FLAGS, i]) & VM_GROWSDOWN:
                raise _err(E.EINVAL)
        else:
            if int(t[START, i]) > addr:
                raise _err(E.ENOMEM)
            if grows & PROT_GROWSUP:  # x86 has no grows-up mappings
                raise _err(E.EINVAL)
        cur = addr
        while cur < end:
            i = self._find(cur)
            if i < 0:
                raise _err(E.ENOMEM, "range has unmapped pages")
            s, e, old, _h, vm = t[:FLAGS + 1, i].tolist()
            piece_end = min(e, end)
            if prot & PROT_WRITE and not vm & VM_MAYWRITE:
                raise _err(E.EACCES, "mapping may not become writable")
            if prot != old:
                if self._is_data(prot, vm) and not self._is_data(old, vm):
                    total, data = self._usage()
                    n = piece_end - cur
                    if (not self._may_expand_vm(True, n, total, data)
                            and self._may_expand_vm(False, n, total, data)):
                        raise _err(E.ENOMEM, "RLIMIT_DATA")
                self._set_prot(cur, piece_end, prot)
                t = self._t
            cur = piece_end
        return 0

    def _set_prot(self, start: int, end: int, prot: int) -> None:
        before = self._snap(start, end)
        lo, hi = self._carve(start, end)
        t = self._t
        t[PROT, lo:hi] = prot
        if prot & PROT_WRITE:
            t[FLAGS, lo:hi] &= ~VM_PRISTINE
        self._merge_window(lo, hi)
        self._sync(before, start, end)

    # ------------------------------------------------------------------ mremap

    def mremap(self, addr: int, old_len: int, new_len: int, flags: int, new_addr: int = 0) -> int:
        """Implements mremap(2) (MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP). Returns the
        new address. Moving re-points rows at new addresses: no guest byte is copied."""
        if flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP):
            raise _err(E.EINVAL, "unknown flags")
        if addr & ~PAGE_MASK:
            raise _err(E.EINVAL, "unaligned address")
        if page_align(new_len) % _U64 == 0:
            raise _err(E.EINVAL, "zero new length")
        implies_new = bool(flags & (MREMAP_FIXED | MREMAP_DONTUNMAP))
        if implies_new:
            if new_addr & ~PAGE_MASK:
                raise _err(E.EINVAL, "unaligned new address")
            if not flags & MREMAP_MAYMOVE:
                raise _err(E.EINVAL, "MREMAP_FIXED/DONTUNMAP without MREMAP_MAYMOVE")
            if flags & MREMAP_DONTUNMAP and old_len != new_len:
                raise _err(E.EINVAL, "MREMAP_DONTUNMAP cannot resize")
        old_len = page_align(old_len) % _U64
        new_len = page_align(new_len) % _U64
        if self._find(addr) < 0:
            raise _err(E.EFAULT, "no mapping at old address")
        if implies_new:
            return self._mremap_to(addr, old_len, new_len, flags, new_addr)
        if old_len == new_len:
            return addr
        if old_len > new_len:
            self._unmap_range_sync(addr + new_len, addr + old_len)
            return addr
        lo, hi = self._remap_is_valid(addr, old_len, new_len)
        vma_end = int(self._t[END, hi - 1])
        delta = new_len - old_len
        if (vma_end - addr == old_len and not self._overlaps(vma_end, vma_end + delta)
                and vma_end + delta <= self.task_size):
            self._extend_sync(hi - 1, delta)
            return addr
        if not flags & MREMAP_MAYMOVE:
            raise _err(E.ENOMEM, "cannot grow in place")
        vm = int(self._t[FLAGS, lo])
        dest = self._get_unmapped_area(0, new_len, MAP_SHARED if vm & VM_MAYSHARE else 0)
        return self._move(addr, old_len, new_len, dest, flags)

    def _remap_is_valid(self, addr: int, old_len: int, new_len: int) -> tuple[int, int]:
        """Linux remap_is_valid; returns the VMA's row range."""
        i = self._find(addr)
        lo, hi = self._vma_rows(i)
        t = self._t
        vm = int(t[FLAGS, lo])
        if old_len == 0 and not vm & VM_MAYSHARE:
            raise _err(E.EINVAL, "cannot duplicate a private mapping")
        if old_len > int(t[END, hi - 1]) - addr:
            raise _err(E.EFAULT, "old range crosses VMAs")
        if new_len == old_len:
            return lo, hi
        if vm & VM_DONTEXPAND:
            raise _err(E.EFAULT)
        if new_len > old_len and not self._may_expand_vm(self._is_data(int(t[PROT, lo]), vm),
                                                         new_len - old_len):
            raise _err(E.ENOMEM, "RLIMIT_AS/RLIMIT_DATA")
        return lo, hi

    def _mremap_to(self, addr, old_len, new_len, flags, new_addr) -> int:
        if new_len > self.task_size or new_addr > self.task_size - new_len:
            raise _err(E.EINVAL, "new range beyond the address space")
        if addr + old_len > new_addr and new_addr + new_len > addr:
            raise _err(E.EINVAL, "old and new ranges overlap")
        if flags & MREMAP_FIXED:
            self._unmap_range_sync(new_addr, new_addr + new_len)
            if self._find(addr) < 0:
                raise _err(E.EFAULT)  # pragma: no cover (overlap was refused above)
        if old_len > new_len:
            self._unmap_range_sync(addr + new_len, addr + old_len)
            old_len = new_len
        lo, _ = self._remap_is_valid(addr, old_len, new_len)
        vm = int(self._t[FLAGS, lo])
        if flags & MREMAP_DONTUNMAP and not self._may_expand_vm(
                self._is_data(int(self._t[PROT, lo]), vm), old_len):
            raise _err(E.ENOMEM)
        map_flags = (MAP_FIXED if flags & MREMAP_FIXED else 0) | \
            (MAP_SHARED if vm & VM_MAYSHARE else 0)
        dest = self._get_unmapped_area(new_addr, new_len, map_flags)
        return self._move(addr, old_len, new_len, dest, flags)

    def _move(self, addr: int, old_len: int, new_len: int, dest: int, flags: int) -> int:
        """move_vma: rows of ``[addr, addr+old_len)`` now live at ``dest``; grow to new_len."""
        if old_len == 0:
            return self._duplicate_shared(addr, new_len, dest)
        before = self._snap(addr, addr + old_len)
        lo, hi = self._carve(addr, addr + old_len)
        rows = self._t[:, lo:hi].copy()
        self._delete_rows(lo, hi)  # the buffers move with the rows: nothing is released
        if flags & MREMAP_DONTUNMAP:
            self._refill_after_dontunmap(rows)
        self._sync(before, addr, addr + old_len)
        before = self._snap(dest, dest + new_len)
        rows[START] += dest - addr
        rows[END] += dest - addr
        rows[LIMIT] = np.where(rows[LIMIT] < NO_LIMIT, rows[LIMIT] + (dest - addr), NO_LIMIT)
        pos = self._first_at_or_after(dest)
        self._insert_blank(pos, rows.shape[1])
        self._t[:, pos:pos + rows.shape[1]] = rows
        self._refresh_limits(pos, pos + rows.shape[1])
        if new_len > old_len:
            self._extend(pos + rows.shape[1] - 1, new_len - old_len)
        self._merge_window(pos, self._first_at_or_after(dest + new_len))
        self._sync(before, dest, dest + new_len)
        self._gc()
        return dest

    def _refill_after_dontunmap(self, rows: np.ndarray) -> None:
        """MREMAP_DONTUNMAP leaves the old range mapped: shared rows keep the shared object,
        private anonymous rows become fresh zero pages, private file rows re-read the file."""
        for j in range(rows.shape[1]):
            s, e, p, _h, vm, b, boff, f, foff, nm = (int(x) for x in rows[:LIMIT, j])
            hb = self._bufs[b]
            if hb.shared:
                self._insert_row(s, e, p, vm, b, boff, f, foff, nm)
                continue
            nb = self._new_buffer(e - s)
            if f:
                self._bufs[nb].fill_from(self._files[f], foff, 0, e - s)
            self._insert_row(s, e, p, vm & ~VM_PRISTINE if f else vm, nb, 0, f, foff, nm)

    def _duplicate_shared(self, addr: int, new_len: int, dest: int) -> int:
        """mremap(old_len=0) of a shared mapping: map the same shared object again at ``dest``."""
        i = self._find(addr)
        s, e, p, _h, vm, b, boff, f, foff, nm = self._row(i)
        hb = self._bufs[b]
        off = boff + (addr - s)
        n = min(new_len, hb.size - off)
        before = self._snap(dest, dest + new_len)
        self._unmap_range(dest, dest + new_len)
        pos = self._insert_row(dest, dest + n, p, vm, b, off, f, foff + (addr - s), nm)
        if n < new_len:  # past the object's end: SIGBUS, as on Linux
            self._extend(pos, new_len - n)
        self._sync(before, dest, dest + new_len)
        return dest

    def _extend_sync(self, i: int, delta: int) -> None:
        s, e = int(self._t[START, i]), int(self._t[END, i])
        before = self._snap(s, e + delta)
        self._extend(i, delta)
        self._sync(before, s, e + delta)

    def _extend(self, i: int, delta: int) -> None:
        """Grow row ``i`` upwards by ``delta`` bytes (the range above it is free).

        Reuses zero slack of the row's private buffer when there is some (the row then stays one
        row); otherwise adds a row on a new buffer with as much slack again (amortised growth).
        """
        s, e, p, _h, vm, b, boff, f, foff, nm = self._row(i)
        hb = self._bufs[b]
        ext_off = boff + (e - s)
        new_foff = foff + (e - s)
        cache = self._page_cache_of(b, f)
        if cache is not None:  # the file's page cache: the same buffer, grown if need be
            if ext_off + delta > cache.buf.size:
                cache.grow(ext_off + delta)
            pos = self._insert_row(e, e + delta, p, vm, b, ext_off, f, new_foff, nm)
            self._merge_window(pos, pos + 1)
            return
        if hb.shared and hb.file is None:
            # A shared object (MAP_SHARED anonymous memory, a System V segment) keeps its size:
            # the row grows over what the object holds; pages past its end are SIGBUS.
            inside = max(0, min(delta, hb.size - ext_off))
            if inside:
                pos = self._insert_row(e, e + inside, p, vm, b, ext_off, f, new_foff, nm)
                self._merge_window(pos, pos + 1)
            if delta > inside:
                self._past_object_end(e + inside, delta - inside, p, vm, f, new_foff + inside, nm)
            return
        if not hb.shared and ext_off + delta <= hb.size and not self._buffer_range_used(
                b, ext_off, ext_off + delta):
            nb, noff = b, ext_off
        else:
            # Slack of twice the grown VMA: a VMA grown step by step stays O(log n) rows.
            vma_len = e - int(self._t[START, self._vma_rows(i)[0]])
            cap = page_align(max(delta, min(2 * (vma_len + delta), 1 << 30)))
            nb, noff = self._new_buffer(cap, shared=hb.shared), 0
            if hb.shared and hb.file is not None:
                nhb = self._bufs[nb]
                nhb.file, nhb.foff = hb.file, hb.foff + ext_off
        if f:
            got = self._bufs[nb].fill_from(self._files[f], new_foff, noff, delta)
            if self._bufs[nb].shared and nb != b:
                self._bufs[nb].flen = got
        pos = self._insert_row(e, e + delta, p, vm, nb, noff, f, new_foff, nm)
        self._merge_window(pos, pos + 1)

    # ------------------------------------------------------------------ stack growth

    def expand_stack(self, addr: int) -> bool:
        """The page-fault path for grows-down VMAs (Linux ``expand_stack``/``expand_downwards``).

        The run loop calls this when the guest touches unmapped ``addr`` (Unicorn's
        UC_HOOK_MEM_*_UNMAPPED); if the next VMA above is MAP_GROWSDOWN it grows down to
        ``addr``'s page and this returns True (retry the access), else False (SIGSEGV). Refused
        like Linux: below mmap_min_addr, within ``stack_guard_gap`` of an accessible mapping
        below, beyond RLIMIT_STACK (whole VMA) or RLIMIT_AS.
        """
        if addr < 0 or addr >= self.task_size:
            return False
        if self._find(addr) >= 0:
            return True
        i = self._first_after(addr)
        if i >= self._n or not int(self._t[FLAGS, i]) & VM_GROWSDOWN:
            return False
        a = addr & PAGE_MASK
        if a < self.mmap_min_addr:
            return False
        t = self._t
        if i > 0:
            pflags, pprot, pend = int(t[FLAGS, i - 1]), int(t[PROT, i - 1]), int(t[END, i - 1])
            if not pflags & VM_GROWSDOWN and pprot and a - pend < self.stack_guard_gap:
                return False
        _, hi = self._vma_rows(i)
        start = int(t[START, i])
        if int(t[END, hi - 1]) - a > self.rlimit_stack:
            return False
        if not self._may_expand_vm(self._is_data(int(t[PROT, i]), int(t[FLAGS, i])), start - a):
            return False
        before = self._snap(a, start)
        try:
            self._extend_down(i, start - a)
        except KernelError:  # the host refused the memory: the fault stands (SIGSEGV)
            return False
        self._sync(before, a, start)
        return True

    def _extend_down(self, i: int, delta: int) -> None:
        """Grow row ``i`` downwards by ``delta`` bytes (the range below it is free); the mirror of
        :meth:`_extend`, with the slack placed below."""
        s, e, p, _h, vm, b, boff, f, foff, nm = self._row(i)
        hb = self._bufs[b]
        if not hb.shared and boff >= delta and not self._buffer_range_used(b, boff - delta, boff):
            nb, noff = b, boff - delta
        else:
            vma_len = int(self._t[END, self._vma_rows(i)[1] - 1]) - s
            cap = page_align(max(delta, min(2 * (vma_len + delta), 1 << 30)))
            nb, noff = self._new_buffer(cap, shared=hb.shared), cap - delta
        pos = self._insert_row(s - delta, s, p, vm, nb, noff, f, foff - delta, nm)
        self._merge_window(pos, pos + 1)

    def _buffer_range_used(self, b: int, off: int, end: int) -> bool:
        n = self._n
        t = self._t
        mask = t[BUF, :n] == b
        lo = t[BOFF, :n][mask]
        hi = lo + (t[END, :n][mask] - t[START, :n][mask])
        return bool(np.any((lo < end) & (hi > off)))

    # ------------------------------------------------------------------ brk

    def set_brk_base(self, addr: int) -> None:
        """Set ``start_brk = brk = PAGE_ALIGN(addr)`` (the loader: end of bss)."""
        self.start_brk = self.current_brk = page_align(addr)

    def brk(self, new: int) -> int:
        """Implements brk(2): returns the new break, or the current one on any failure."""
        origbrk = self.current_brk
        if new < self.start_brk:
            return origbrk
        if self.rlimit_data < RLIM_INFINITY and \
                (new - self.start_brk) + (self.end_data - self.start_data) > self.rlimit_data:
            return origbrk
        newbrk = page_align(new)
        oldbrk = page_align(self.current_brk)
        if oldbrk == newbrk:
            self.current_brk = new
            return new
        if new <= self.current_brk:
            if not self._overlaps(newbrk, oldbrk):
                return origbrk
            self.current_brk = new
            self._unmap_range_sync(newbrk, oldbrk)
            return new
        if newbrk > self.task_size or oldbrk < self.mmap_min_addr:
            return origbrk
        i = self._first_after(oldbrk)
        limit = newbrk + PAGE_SIZE + self.stack_guard_gap
        if i < self._n and int(self._t[START, i]) < limit and newbrk + PAGE_SIZE > self._start_gap(i):
            return origbrk
        if not self._may_expand_vm(True, newbrk - oldbrk):
            return origbrk
        if not self._vm_enough_memory(newbrk - oldbrk):
            return origbrk
        if self._n > self.max_map_count and self._map_count() > self.max_map_count:
            return origbrk
        try:
            self._brk_grow(oldbrk, newbrk)
        except KernelError:  # the host refused the memory: brk fails, as Linux's when full
            return origbrk
        self.current_brk = new
        if self.def_flags & (VM_LOCKED | VM_LOCKONFAULT) == VM_LOCKED:
            self._populate(oldbrk, newbrk)
        return new

    def _brk_grow(self, oldbrk: int, newbrk: int) -> None:
        vm = VM_MAYWRITE | VM_HEAP | self.def_flags  # do_brk_flags: mm->def_flags (MCL_FUTURE)
        prot = PROT_READ | PROT_WRITE
        j = self._find(oldbrk - 1)
        if (j >= 0 and int(self._t[START, j]) >= self.start_brk
                and int(self._t[END, j]) == oldbrk and int(self._t[FILE, j]) == 0
                and int(self._t[PROT, j]) == prot and int(self._t[FLAGS, j]) == vm
                and int(self._t[NAME, j]) == 0):
            self._extend_sync(j, newbrk - oldbrk)
        else:
            cap = page_align(max(newbrk - oldbrk, 32 << 20))
            b = self._new_buffer(cap)
            before = self._snap(oldbrk, newbrk)
            self._insert_row(oldbrk, newbrk, prot, vm, b, 0)
            self._sync(before, oldbrk, newbrk)

    # ------------------------------------------------------------------ madvise / msync

    def madvise(self, addr: int, length: int, advice: int) -> int:
        """Implements madvise(2). MADV_DONTNEED zeroes private anonymous pages and reverts private
        file pages to the file; advice about paging/THP/KSM is accepted and ignored; MADV_FREE
        frees nothing (allowed: the kernel need not reclaim)."""
        if advice not in _MADV_VALID:
            raise _err(E.EINVAL, "unknown advice")
        if advice in (MADV_HWPOISON, MADV_SOFT_OFFLINE):
            raise _err(E.EPERM)
        if addr & ~PAGE_MASK:
            raise _err(E.EINVAL, "unaligned address")
        alen = page_align(length)
        if length and alen >= _U64:
            raise _err(E.EINVAL)
        end = addr + alen
        if end >= _U64:
            raise _err(E.EINVAL)
        if end == addr:
            return 0
        unmapped = False
        cur = addr
        while cur < end:
            i = self._first_after(cur)
            if i >= self._n:
                raise _err(E.ENOMEM, "range has unmapped pages")
            s = int(self._t[START, i])
            if s > cur:
                unmapped = True
                cur = s
                if cur >= end:
                    break
            piece_end = min(int(self._t[END, i]), end)
            self._advise_piece(i, cur, piece_end, advice)
            cur = piece_end
        if unmapped:
            raise _err(E.ENOMEM, "range has unmapped pages")
        return 0

    def _advise_piece(self, i: int, start: int, end: int, advice: int) -> None:
        s, e, p, _h, vm, b, boff, f, foff, nm = self._row(i)
        hb = self._bufs[b]
        if advice in (MADV_DONTNEED, MADV_FREE) and vm & VM_LOCKED:
            raise _err(E.EINVAL, "locked memory")  # madvise_dontneed_free_valid_vma
        if advice in (MADV_DONTNEED, MADV_DONTNEED_LOCKED):
            if hb.shared:
                return
            off = boff + (start - s)
            hb.zero(off, end - start)
            if f:
                hb.fill_from(self._files[f], foff + (start - s), off, end - start)
            if p & PROT_EXEC:
                self._uc_flush_code(start, end)
        elif advice == MADV_FREE:
            if f or vm & VM_MAYSHARE:
                raise _err(E.EINVAL)
        elif advice == MADV_REMOVE:
            if not vm & VM_MAYSHARE:
                raise _err(E.EINVAL)
            if not (vm & VM_SHARED and vm & VM_MAYWRITE):
                raise _err(E.EACCES)
            off = boff + (start - s)
            hb.arr[off:off + (end - start)] = 0
            if p & PROT_EXEC:
                self._uc_flush_code(start, end)
        elif advice in (MADV_DONTFORK, MADV_DOFORK, MADV_WIPEONFORK, MADV_KEEPONFORK):
            if advice == MADV_WIPEONFORK and (f or vm & VM_MAYSHARE):
                raise _err(E.EINVAL)
            bit = VM_DONTFORK if advice in (MADV_DONTFORK, MADV_DOFORK) else VM_WIPEONFORK
            on = advice in (MADV_DONTFORK, MADV_WIPEONFORK)
            if bool(vm & bit) == on:
                return
            before = self._snap(start, end)
            lo, hi = self._carve(start, end)
            for j in range(lo, hi):
                if on:
                    self._t[FLAGS, j] |= bit
                else:
                    self._t[FLAGS, j] &= ~bit
            self._merge_window(lo, hi)
            self._sync(before, start, end)
        elif advice in (MADV_POPULATE_READ, MADV_POPULATE_WRITE):
            need = PROT_WRITE if advice == MADV_POPULATE_WRITE else PROT_READ
            if (_UC_PERM[p] & need) != need:
                raise _err(E.EFAULT)

    # ------------------------------------------------------------------ mlock

    def locked_bytes(self, start: int = 0, end: int = TASK_SIZE) -> int:
        """Bytes of VM_LOCKED mappings in ``[start, end)``: VmLck, and what RLIMIT_MEMLOCK
        counts (mm->locked_vm)."""
        t, n = self._t, self._n
        lo, hi = t[START, :n].clip(start, end), t[END, :n].clip(start, end)
        return int(((hi - lo) * ((t[FLAGS, :n] & VM_LOCKED) != 0)).sum())

    def mlock_range(self, start: int, end: int, flags: int) -> bool:
        """apply_vma_lock_flags: set the rows of ``[start, end)`` (page-aligned) to lock
        ``flags`` (0, VM_LOCKED or VM_LOCKED | VM_LOCKONFAULT), then fault in what a lock
        without ONFAULT locks. ENOMEM if part of the range is unmapped (the mappings before the
        hole keep the change, as on Linux). Returns False if a page could not be faulted in (a
        PROT_NONE mapping: locked all the same; mlock(2) then fails with ENOMEM)."""
        if end == start:
            return True
        mask = VM_LOCKED | VM_LOCKONFAULT
        faulted = True
        cur = start
        while cur < end:
            i = self._first_after(cur)
            if i >= self._n or int(self._t[START, i]) > cur:
                raise _err(E.ENOMEM, "range has unmapped pages")
            piece_end = min(int(self._t[END, i]), end)
            if int(self._t[FLAGS, i]) & mask != flags:
                before = self._snap(cur, piece_end)
                lo, hi = self._carve(cur, piece_end)
                for j in range(lo, hi):
                    self._t[FLAGS, j] = (int(self._t[FLAGS, j]) & ~mask) | flags
                self._merge_window(lo, hi)
                self._sync(before, cur, piece_end)
            if flags == VM_LOCKED:
                faulted &= bool(int(self._t[PROT, i]) & (PROT_READ | PROT_WRITE | PROT_EXEC))
                self._populate(cur, piece_end)
            cur = piece_end
        return faulted

    def mlock_all(self, flags: int, current: bool) -> None:
        """mlockall/munlockall: every mapping to lock ``flags`` when ``current``; and
        ``def_flags`` (MCL_FUTURE) as the caller set it."""
        if current:
            for v in self.vmas():
                self.mlock_range(v.start, v.end, flags)

    def _populate(self, start: int, end: int) -> None:
        """__mm_populate: fault the pages in, as mlock, MAP_LOCKED and MAP_POPULATE do (what
        mincore then reports): a write fault per page of private writable memory (its own page,
        as populate_vma_page_range's FOLL_WRITE), a read fault elsewhere; PROT_NONE stays."""
        cur = start
        while cur < end:
            i = self._first_after(cur)
            if i >= self._n:
                return
            s, e = max(int(self._t[START, i]), cur), min(int(self._t[END, i]), end)
            if s >= end:
                return
            if int(self._t[PROT, i]) & (PROT_READ | PROT_WRITE | PROT_EXEC):
                hb = self._bufs[int(self._t[BUF, i])]
                off = int(self._t[BOFF, i]) + (s - int(self._t[START, i]))
                pages = hb.arr[off:off + (e - s):PAGE_SIZE]
                if int(self._t[PROT, i]) & PROT_WRITE and not hb.shared:
                    pages[:] = pages.copy()  # the same bytes: a page of its own
                else:
                    int(pages.sum())
            cur = e

    def msync(self, addr: int, length: int, flags: int) -> int:
        """Implements msync(2): checks the range and writes back the shared file mappings that
        are copies (see the module docstring; a page-cache mapping has nothing to write back),
        for MS_ASYNC too, since that is when others see them."""
        if flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC):
            raise _err(E.EINVAL)
        if addr & ~PAGE_MASK:
            raise _err(E.EINVAL)
        if flags & MS_ASYNC and flags & MS_SYNC:
            raise _err(E.EINVAL)
        end = addr + page_align(length)
        if end >= _U64:
            raise _err(E.ENOMEM)
        if end == addr:
            return 0
        unmapped = False
        cur = addr
        while True:
            i = self._first_after(cur)
            if i >= self._n:
                raise _err(E.ENOMEM)
            s, e = int(self._t[START, i]), int(self._t[END, i])
            if cur < s:
                if flags == MS_ASYNC:
                    raise _err(E.ENOMEM)
                cur = s
                if cur >= end:
                    raise _err(E.ENOMEM)
                unmapped = True
            if flags & MS_INVALIDATE and int(self._t[FLAGS, i]) & VM_LOCKED:
                raise _err(E.EBUSY, "MS_INVALIDATE of locked memory")
            piece_end = min(e, end)
            hb = self._bufs[int(self._t[BUF, i])]
            if hb.shared and hb.file is not None:
                boff = int(self._t[BOFF, i])
                hb.writeback(boff + (cur - s), piece_end - cur)
            cur = e
            if cur >= end:
                break
        if unmapped:
            raise _err(E.ENOMEM)
        return 0

    def mincore(self, addr: int, length: int, owns=None) -> bytes:
        """mincore(2)'s vector for ``[addr, addr + length)``: a byte per page, 1 where the page
        is resident. Our guest memory is host memory, so the host's own mincore of the buffer
        behind each row answers as Linux's page tables would: a written page, a page read once
        (the zero page is mapped), a page fork shares, a file page we hold. A private mapping of
        a file the caller could not write and does not own is reported resident throughout, as
        Linux's can_do_mincore does (``owns(file)`` says whether it could; None: it could).
        EINVAL for an unaligned ``addr``; ENOMEM if a page of the range is unmapped (PROT_NONE
        pages are mapped)."""
        if addr & ~PAGE_MASK:
            raise _err(E.EINVAL)
        n = page_align(length) // PAGE_SIZE
        if n and addr + n * PAGE_SIZE > self.task_size:
            raise _err(E.ENOMEM)
        end = addr + n * PAGE_SIZE
        vec = np.zeros(n, np.uint8)
        cur = addr
        while cur < end:
            i = self._first_after(cur)
            if i >= self._n or int(self._t[START, i]) > cur:
                raise _err(E.ENOMEM, "range has unmapped pages")
            s, e, _p, _h, _vm, b, boff, f = (int(x) for x in self._t[:FOFF, i])
            piece_end = min(e, end)
            at = (cur - addr) // PAGE_SIZE
            if f and owns is not None and not owns(self._files[f]):
                vec[at:at + (piece_end - cur) // PAGE_SIZE] = 1
            else:
                off = boff + (cur - s)
                pages = _hp.resident_pages(self._bufs[b].arr[off:off + (piece_end - cur)])
                vec[at + pages] = 1
            cur = piece_end
        return vec.tobytes()

    # ------------------------------------------------------------------ futex keys

    def futex_shared_key(self, mm: int, addr: int, write: bool = False) -> tuple[int, int, int]:
        """get_futex_key for a shared futex op on the word at ``addr`` (systems/futex.py; its
        ``SimMemory`` answers the same question for synthetic tasks): MAP_SHARED memory is keyed
        by its buffer's identity and offset, so processes mapping it anywhere meet; private
        memory by ``(mm, addr)``. EFAULT if the word is unmapped or not accessible (writable, for
        ``write``), or is read-only anonymous memory."""
        i = self._find(addr)
        if i < 0:
            raise _err(E.EFAULT, f"futex word {addr:#x} is not mapped")
        prot = int(self._t[PROT, i])
        if not prot & PROT_READ or (write and not prot & PROT_WRITE):
            raise _err(E.EFAULT, f"futex word {addr:#x} is not accessible")
        hb = self._bufs[int(self._t[BUF, i])]
        if hb.shared:
            off = int(self._t[BOFF, i]) + addr - int(self._t[START, i])
            return (KEY_SHARED_OBJ, int(hb.ino), off)
        if not prot & PROT_WRITE and int(self._t[FILE, i]) == 0:
            raise _err(E.EFAULT, "shared futex on read-only anonymous memory")
        return (KEY_SHARED_MM, mm, addr)

    # ------------------------------------------------------------------ checkpoint

    _SCALARS = ("task_size", "mmap_base", "mmap_legacy_base", "mmap_min_addr", "stack_guard_gap",
                "max_map_count", "rlimit_as", "rlimit_data_max", "rlimit_stack", "start_stack",
                "def_flags", "legacy_layout")

    def save_state(self, w, name: str) -> dict:
        """The address space into checkpoint writer ``w``: the range table without its host
        addresses, brk, the buffers (by reference: shared memory is saved once) and files."""
        meta = {k: int(getattr(self, k)) for k in self._SCALARS}
        meta.update(hiwater=[int(self.hiwater_rss), int(self.hiwater_vm)])
        meta.update(exe_path=self.exe_path, argv=[a.hex() for a in self.argv],
                    envp=[e.hex() for e in self.envp], names=list(self._names),
                    bufs=[w.ref(b) for b in self._bufs], files=[w.ref(f) for f in self._files])
        t = self._t[:, :self._n].copy()
        t[HOST] = 0
        w.array(f"{name}.ranges", t)
        w.array(f"{name}.brk", self._brk)
        return meta

    @classmethod
    def load_state(cls, uc, r, name: str, meta) -> "AddressSpace":
        """The address space :meth:`save_state` wrote, mapped into the fresh engine ``uc``; every
        row is checked against the buffers and the address space's bounds first."""
        if not isinstance(meta, dict):
            r.fail(f"{name}: no address space")
        a = cls(uc)
        for k in cls._SCALARS:
            setattr(a, k, r.int(meta, k, 0, (1 << 64) - 1))
        if not 0 < a.task_size <= TASK_SIZE or not 0 <= a.mmap_min_addr < a.task_size:
            r.fail(f"{name}: a bad address space size")
        hw = meta.get("hiwater", [0, 0])
        if not (isinstance(hw, list) and len(hw) == 2 and all(type(x) is int and x >= 0
                                                              for x in hw)):
            r.fail(f"{name}: a bad memory high-water mark")
        a.hiwater_rss, a.hiwater_vm = hw
        try:
            a.exe_path = str(meta["exe_path"])
            a.argv = [bytes.fromhex(x) for x in meta["argv"]]
            a.envp = [bytes.fromhex(x) for x in meta["envp"]]
            names = meta["names"]
            if not all(isinstance(x, str) for x in names) or names[:1] != [""]:
                raise ValueError
            a._names = list(names)
            bufs, files = list(meta["bufs"]), list(meta["files"])
        except (KeyError, TypeError, ValueError):
            r.fail(f"{name}: a malformed address space")
        a._bufs = [r.obj(b, ("HostBuffer",)) for b in bufs]
        a._free_buf_ids = [b for b, x in enumerate(a._bufs) if x is None]
        if not files or files[0] is not None:
            r.fail(f"{name}: a malformed file list")
        a._files = [None] + [r.obj(f, ("FileMapping", "FileDescription", "ShmSegment"))
                             for f in files[1:]]
        a._brk[:] = r.array(f"{name}.brk", np.dtype(np.uint64), (len(BRK_FIELDS),))
        t = r.array(f"{name}.ranges", np.dtype(np.int64), (None, None))
        old_format = t.shape[0] == LIMIT  # written before the LIMIT column: computed below
        if old_format:
            t = np.vstack([t, np.full((1, t.shape[1]), NO_LIMIT, np.int64)])
        elif t.shape[0] != NCOLS:
            r.fail(f"{name}: a range table of {t.shape[0]} columns, not {NCOLS}")
        n = t.shape[1]
        if n:
            s_, e_, p_, b_, o_ = t[START], t[END], t[PROT], t[BUF], t[BOFF]
            sizes = np.array([0 if x is None else x.size for x in a._bufs] + [0], np.int64)
            bi = np.where((b_ >= 0) & (b_ < len(a._bufs)), b_, len(a._bufs))
            if ((s_ | e_ | o_) % PAGE_SIZE).any() or (s_ >= e_).any() or (s_ < 0).any() \
                    or (e_ > a.task_size).any() or (n > 1 and (s_[1:] < e_[:-1]).any()) \
                    or ((p_ < 0) | (p_ > 7)).any() or (o_ < 0).any() \
                    or (o_ + (e_ - s_) > sizes[bi]).any() \
                    or ((t[FILE] < 0) | (t[FILE] >= len(a._files))).any() \
                    or ((t[NAME] < 0) | (t[NAME] >= len(a._names))).any():
                r.fail(f"{name}: a mapping outside its buffer or the address space")
        a._ensure_capacity(n)
        a._t[:, :n] = t
        a._n = n
        for j in range(n):
            a._t[HOST, j] = a._bufs[int(t[BUF, j])].addr + int(t[BOFF, j])
            a._uc_map(j)
        for f in a._files:
            a._note_mapper(f)
        if old_format:
            a._refresh_limits()
        a._publish()
        return a

    # ------------------------------------------------------------------ fork / release

    def fork(self, uc_new, parked: "ParkedSpace | None" = None) -> "AddressSpace":
        """MemoryManager.Fork: a child address space in ``uc_new`` sharing the private memory
        copy-on-write (MAP_SHARED memory stays shared; MADV_DONTFORK rows are left out;
        MADV_WIPEONFORK rows are zero in the child).

        Each private buffer a child row needs goes onto a snapshot (:meth:`HostBuffer.fork_copy`)
        that parent and child both map MAP_PRIVATE: no page is copied for the child, and the
        first write to a page by either copies that page (cpu/host_pages.py). A buffer whose
        rows were never writable since they were made zero is not shared (a fresh one). MemoryError
        if the host refuses (the caller's ENOMEM); the parent is unchanged then but for buffers
        moved onto snapshots, which hold the same bytes.

        ``parked``: ``uc_new`` is a dead process's engine (cpu/platform.py EnginePool) and this
        is what :meth:`park` kept of its address space: the child's private buffers take the
        host ranges of the dead buffers of the same index and size, and :meth:`_adopt_engine`
        keeps the regions (and the translated code) that match."""
        child = AddressSpace(uc_new, mmap_base=self.mmap_base, task_size=self.task_size)
        for k in ("mmap_legacy_base", "legacy_layout", "mmap_min_addr", "stack_guard_gap",
                  "max_map_count",
                  "rlimit_as", "rlimit_data", "rlimit_data_max", "rlimit_stack", "start_brk",
                  "current_brk", "start_data", "end_data", "start_stack", "exe_path", "argv",
                  "envp"):
            setattr(child, k, getattr(self, k))
        child._files = list(self._files)
        child._names = list(self._names)
        n = self._n
        t = self._t
        keep = np.flatnonzero((t[FLAGS, :n] & VM_DONTFORK) == 0)
        rows = t[:, keep].copy()
        rows[FLAGS] &= ~(VM_LOCKED | VM_LOCKONFAULT)  # dup_mmap: locks are not inherited
        # Buffers whose contents the child needs: a row that is neither pristine nor wiped.
        need = set(rows[BUF, (rows[FLAGS] & (VM_PRISTINE | VM_WIPEONFORK)) == 0].tolist())
        child._bufs = [None] * len(self._bufs)
        for b in set(rows[BUF].tolist()):
            hb = self._bufs[b]
            old = parked.take_buffer(b, hb.size) if parked is not None and not hb.shared else None
            if hb.shared:
                child._bufs[b] = hb
            elif b in need:
                child._bufs[b] = hb.fork_copy(old)
            elif old is not None:
                child._bufs[b] = HostBuffer.over(old, None)
            else:
                child._bufs[b] = HostBuffer(hb.size)
        # Bytes the child's rows do not cover must be zero in its buffers (growth reuses them):
        # the parent's rows left out (MADV_DONTFORK) and wiped (MADV_WIPEONFORK).
        for i in range(n):
            vm, b = int(t[FLAGS, i]), int(t[BUF, i])
            nb = child._bufs[b]
            if (vm & (VM_DONTFORK | VM_WIPEONFORK) and nb is not None and nb.base is not None
                    and not vm & VM_PRISTINE):
                nb.zero(int(t[BOFF, i]), int(t[END, i]) - int(t[START, i]))
        rows[HOST] = [child._bufs[b].addr + boff
                      for b, boff in zip(rows[BUF].tolist(), rows[BOFF].tolist())]
        child._free_buf_ids = [b for b, x in enumerate(child._bufs) if x is None]
        child._ensure_capacity(rows.shape[1])
        child._t[:, :rows.shape[1]] = rows
        child._n = rows.shape[1]
        if parked is None:
            for j in range(child._n):
                child._uc_map(j)
        else:
            child._adopt_engine(parked)
        child._gc()
        for f in child._files:
            child._note_mapper(f)
        child._publish()
        return child

    def _code_tag(self, i: int, clean=None):
        """What the translated code of row ``i`` was (or will be) made from when that is known
        without reading it: ``(snapshot, offset)`` for an executable row whose bytes are still
        its private buffer's base snapshot's (``clean(hb, off, n)``: default
        :meth:`HostBuffer.clean`); else None."""
        s, e, p, b, boff = (int(x) for x in self._t[[START, END, PROT, BUF, BOFF], i])
        if not p & PROT_EXEC:
            return None
        hb = self._bufs[b]
        if hb is None or hb.shared or hb.base is None or hb.holes:
            return None
        if not (hb.clean(boff, e - s) if clean is None else clean(hb, boff, e - s)):
            return None
        return (hb.base, boff)

    def park(self) -> "ParkedSpace":
        """What a recycled engine must know of this address space, which is dying (taken before
        :meth:`release`): Unicorn's regions (one per row), the code tag of each
        (:meth:`_code_tag`) and the private buffers their host ranges belong to."""
        regions = {}
        t = self._t
        for i in range(self._n):
            s, e, p, h = (int(x) for x in t[[START, END, PROT, HOST], i])
            if _UC_PERM[p & 7]:
                regions[s] = (e, _UC_PERM[p & 7], h, self._code_tag(i))
        bufs = {b: hb for b, hb in enumerate(self._bufs) if hb is not None and not hb.shared}
        return ParkedSpace(self, regions, bufs)

    def _adopt_engine(self, parked: "ParkedSpace") -> None:
        """Make the regions of ``self.uc`` (a recycled engine, whose regions are ``parked``'s)
        this address space's rows. A region whose range, protection and host address are the
        same stays mapped, and so keeps its translated code, if that code was made from the bytes
        this row holds: both are the same snapshot at the same offset (code tags); any other
        region that stays has its translated code removed (uc_ctl_remove_cache: the code a dead
        process translated, or rewrote, is not this process's), and the rest are unmapped
        (which drops their code) and mapped anew. A translation exists only for bytes the
        engine fetched; a guest store to a page with code invalidates it in Unicorn, and the
        kernel's own writes flush it (_uc_flush_code): so a code tag's snapshot bytes are what
        every translation kept was made from."""
        want = {}
        t = self._t
        for i in range(self._n):
            s, e, p, h = (int(x) for x in t[[START, END, PROT, HOST], i])
            if _UC_PERM[p & 7]:
                want[s] = (e, _UC_PERM[p & 7], h, self._code_tag(i, _just_made))
        uc = self.uc
        dead = parked.aspace.tlb_ctl  # what the engine's fill hook still reads
        flush = []
        dead[TLB_BYPASS] = self.tlb_ctl[TLB_BYPASS] = 1  # unmap and remove_cache look up code
        try:
            for s, (e, p, h, tag) in parked.regions.items():
                w = want.get(s)
                if w is not None and w[:3] == (e, p, h):
                    del want[s]
                    if tag is None or w[3] is None or tag[0] is not w[3][0] or tag[1] != w[3][1]:
                        flush.append((s, e))
                else:
                    uc.mem_unmap(s, e - s)
            for s, (e, p, h, _tag) in want.items():
                uc.mem_map_ptr(s, e - s, p, h)
            if sum(e - s for s, e in flush) > _REMOVE_CACHE_MAX:
                uc.ctl(_UC_CTL_TB_FLUSH, _UC_CTL_IO_WRITE)  # cheaper than a walk of every page
            else:
                for s, e in flush:  # one region at a time: Unicorn's range is one RAM block's
                    uc.ctl_remove_cache(s, e)
        finally:
            dead[TLB_BYPASS] = self.tlb_ctl[TLB_BYPASS] = 0
        uc.ctl(_UC_CTL_TLB_FLUSH, _UC_CTL_IO_WRITE)
        parked.kept = len(parked.regions) - len(want)
        parked.flushed = len(flush)

    def release(self) -> None:
        """exit_mmap: unmap everything (writing shared files back) and forget the buffers.

        The engine is not told: it dies with the address space (no task runs it again), and
        Unicorn's mem_unmap walks every page (a 1 TiB MAP_NORESERVE region took ~47 s)."""
        if self._n:
            self._release_rows(0, self._n)
        self._publish()

    # ------------------------------------------------------------------ copies (CopyIn/CopyOut)

    def _check_user(self, addr: int, n: int) -> None:
        if n < 0 or addr < 0 or addr + n > self.task_size:
            raise _err(E.EFAULT)

    def access_ok(self, addr: int, n: int, write: bool = False) -> bool:
        """True if the kernel may read (or write) all of ``[addr, addr+n)``."""
        if n < 0 or addr < 0 or addr + n > self.task_size:
            return False
        need = PROT_WRITE if write else PROT_READ
        return _pw.check_range(self._t, self._n, addr, n, need) == 0

    def accessible_prefix(self, addr: int, n: int, write: bool = False) -> int:
        """How many bytes of ``[addr, addr+n)`` the kernel may read (or write) before the first
        that faults (unmapped, forbidden, or past the end of a mapped file): what a copy that
        stops at a fault moves (copy_from_user's partial count; writev and readv return it)."""
        if n <= 0 or addr < 0 or addr >= self.task_size:
            return 0
        end = min(addr + n, self.task_size)
        need = PROT_WRITE if write else PROT_READ
        t = self._t
        i = self._find(addr)
        cur = addr
        while 0 <= i < self._n and int(t[START, i]) <= cur < end:
            if _UC_PERM[int(t[PROT, i]) & 7] & need != need:
                break
            row_end = int(t[END, i])
            stop = min(row_end, int(t[LIMIT, i]))
            if stop <= cur:
                break
            cur = min(stop, end)
            if stop < row_end:
                break
            i += 1
        return cur - addr

    def copy_in(self, addr: int, n: int) -> bytes:
        """CopyIn: ``n`` guest bytes at ``addr`` as bytes. EFAULT if any is unreadable."""
        if n <= 0:
            if n == 0:
                return b""
            raise _err(E.EFAULT)
        self._check_user(addr, n)
        b, off, _p = _pw.locate(self._t, self._n, addr, n, PROT_READ)
        if b >= 0:
            return self._bufs[b].mm[off:off + n]
        if b == _pw.FAULT:
            raise _err(E.EFAULT)
        out = np.empty(n, dtype=np.uint8)
        if _pw.copy_in(self._t, self._n, addr, out) < 0:
            raise _err(E.EFAULT)  # pragma: no cover (locate checked)
        return out.tobytes()

    def copy_in_array(self, addr: int, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """CopyIn into a uint8 array (``out`` reused if given, so nothing is allocated)."""
        if out is None:
            out = np.empty(n, dtype=np.uint8)
        elif out.size < n:
            raise ValueError(f"out has {out.size} bytes, {n} needed")
        else:
            out = out[:n]
        self._check_user(addr, n)
        if _pw.copy_in(self._t, self._n, addr, out) < 0:
            raise _err(E.EFAULT)
        return out

    def copy_out(self, addr: int, data, *, force: bool = False) -> int:
        """CopyOut: write ``data`` (bytes-like or uint8 array) at ``addr``; returns its length.

        EFAULT (and nothing written) if any byte is unmapped or not writable. ``force`` ignores
        protection (the loader, ptrace POKE: Linux FOLL_FORCE) but not holes.
        """
        mv = memoryview(data).cast("B") if not isinstance(data, np.ndarray) else None
        n = len(mv) if mv is not None else int(data.nbytes)
        if n == 0:
            return 0
        self._check_user(addr, n)
        if force:
            return self._copy_out_force(addr, data, n)
        b, off, p = _pw.locate(self._t, self._n, addr, n, PROT_WRITE)
        if b >= 0:
            if mv is not None:
                self._bufs[b].mm[off:off + n] = mv
            else:
                self._bufs[b].arr[off:off + n] = data.reshape(-1).view(np.uint8)
            if p & PROT_EXEC:
                self._uc_flush_code(addr, addr + n)
            return n
        if b == _pw.FAULT:
            raise _err(E.EFAULT)
        src = np.frombuffer(mv, dtype=np.uint8) if mv is not None else \
            np.ascontiguousarray(data).reshape(-1).view(np.uint8)
        r = _pw.copy_out(self._t, self._n, addr, src)
        if r < 0:
            raise _err(E.EFAULT)  # pragma: no cover (locate checked)
        if r:
            self._uc_flush_code(addr, addr + n)
        return n

    def _copy_out_force(self, addr: int, data, n: int) -> int:
        src = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8) \
            if not isinstance(data, np.ndarray) else data.reshape(-1).view(np.uint8)
        k = _pw.translate(self._t, self._n, addr, n, 0, self._pieces)
        if k < 0:
            raise _err(E.EFAULT)
        pos = 0
        for b, off, m in self._pieces[:k].tolist():
            self._bufs[b].arr[off:off + m] = src[pos:pos + m]
            pos += m
        lo, hi = self._first_after(addr), self._first_at_or_after(addr + n)
        self._t[FLAGS, lo:hi] &= ~VM_PRISTINE
        self._uc_flush_code(addr, addr + n)
        return n

    def io_views(self, addr: int, n: int, *, write: bool = False) -> list[memoryview]:
        """Host views of ``[addr, addr+n)`` for zero-copy I/O (``readinto``/``writev``), one per
        row crossed. EFAULT as copy_in/copy_out. Do not keep them across an mm change."""
        if n == 0:
            return []
        self._check_user(addr, n)
        need = PROT_WRITE if write else PROT_READ
        k = _pw.translate(self._t, self._n, addr, n, need, self._pieces)
        if k < 0:
            raise _err(E.EFAULT)
        out = [memoryview(self._bufs[b].mm)[off:off + m] for b, off, m in self._pieces[:k].tolist()]
        if write and np.any(self._t[PROT, self._first_after(addr):
                                    self._first_at_or_after(addr + n)] & PROT_EXEC):
            self._uc_flush_code(addr, addr + n)
        return out

    def copy_in_string(self, addr: int, maxlen: int = PATH_MAX) -> bytes:
        """CopyInString: the NUL-terminated string at ``addr`` without its NUL. ENAMETOOLONG if
        no NUL within ``maxlen`` bytes; EFAULT if an unreadable byte comes first."""
        if addr < 0 or addr >= self.task_size:
            raise _err(E.EFAULT)
        maxlen = min(maxlen, 1 << 62)  # rows end below TASK_SIZE: the walk faults there
        r = int(_pw.strnlen(self._t, self._n, addr, maxlen))
        if r == _pw.FAULT:
            raise _err(E.EFAULT)
        if r == _pw.NOT_FOUND:
            raise _err(E.ENAMETOOLONG)
        return self.copy_in(addr, r)

    def copy_in_iovecs(self, addr: int, count: int) -> list[tuple[int, int]]:
        """CopyInIovecs: ``count`` ``struct iovec`` at ``addr`` as ``(base, len)`` pairs.
        EINVAL if ``count`` exceeds UIO_MAXIOV or a length is negative as ssize_t."""
        if count < 0 or count > UIO_MAXIOV:
            raise _err(E.EINVAL)
        if count == 0:
            return []
        raw = np.frombuffer(self.copy_in(addr, 16 * count), dtype="<u8").reshape(count, 2)
        if np.any(raw[:, 1] >= (1 << 63)):
            raise _err(E.EINVAL)
        return [(b, n) for b, n in raw.tolist()]

    _U32 = struct.Struct("<I")
    _U64S = struct.Struct("<Q")

    def copy_in_struct(self, addr: int, st: struct.Struct) -> tuple:
        """CopyIn of a ``struct.Struct`` layout, unpacked (no intermediate copy when it lies in
        one row)."""
        n = st.size
        self._check_user(addr, n)
        b, off, _p = _pw.locate(self._t, self._n, addr, n, PROT_READ)
        if b >= 0:
            return st.unpack_from(self._bufs[b].mm, off)
        if b == _pw.FAULT:
            raise _err(E.EFAULT)
        return st.unpack(self.copy_in(addr, n))

    def copy_out_struct(self, addr: int, st: struct.Struct, *values) -> int:
        """CopyOut of ``values`` packed with ``st``."""
        return self.copy_out(addr, st.pack(*values))

    def copy_in_u32(self, addr: int) -> int:
        return self.copy_in_struct(addr, self._U32)[0]

    def copy_in_u64(self, addr: int) -> int:
        return self.copy_in_struct(addr, self._U64S)[0]

    def copy_out_u32(self, addr: int, value: int) -> int:
        return self.copy_out(addr, self._U32.pack(value & 0xFFFF_FFFF))

    def copy_out_u64(self, addr: int, value: int) -> int:
        return self.copy_out(addr, self._U64S.pack(value & (_U64 - 1)))

    def copy_in_dtype(self, addr: int, dtype, count: int = 1) -> np.ndarray:
        """CopyIn of ``count`` items of a numpy (structured) dtype."""
        dt = np.dtype(dtype)
        return np.frombuffer(self.copy_in(addr, dt.itemsize * count), dtype=dt, count=count)

    # ------------------------------------------------------------------ checks

    def check_sanity(self) -> None:
        """Assert the invariants: rows sorted, page aligned, disjoint, backed inside their
        buffers, HOST consistent, and Unicorn's regions exactly the rows."""
        t = self._t
        n = self._n
        prev_end = 0
        expect = []
        for i in range(n):
            s, e, p, h, vm, b, boff, f, foff, nm = self._row(i)
            assert s % PAGE_SIZE == 0 and e % PAGE_SIZE == 0 and s < e, (i, s, e)
            assert s >= prev_end, ("overlap", i)
            prev_end = e
            hb = self._bufs[b]
            assert hb is not None, ("row without buffer", i)
            assert 0 <= boff and boff + (e - s) <= hb.size, ("row outside buffer", i)
            assert h == hb.addr + boff, ("host address", i)
            assert f == 0 or self._files[f] is not None, ("file", i)
            if _UC_PERM[p]:
                expect.append((s, e - 1, _UC_PERM[p]))
        got = sorted(self.uc.mem_regions())
        assert got == expect, ("unicorn regions differ", got, expect)
        assert not np.any(t[:, n:]), "rows past n must be blank"
        # Private buffers: every byte referenced by at most one row, the others zero.
        for b, hb in enumerate(self._bufs):
            if hb is None or hb.shared:
                continue
            rows = np.flatnonzero(t[BUF, :n] == b)
            lo = t[BOFF, rows]
            order = np.argsort(lo)
            lo, hi = lo[order], (lo + t[END, rows] - t[START, rows])[order]
            assert not (hi[:-1] > lo[1:]).any(), ("rows share buffer bytes", b)
            pages = _hp.resident_pages(hb.arr)
            k = np.searchsorted(lo // PAGE_SIZE, pages, side="right") - 1
            inside = (k >= 0) & (pages < (hi // PAGE_SIZE)[np.maximum(k, 0)]) if len(lo) \
                else np.zeros(len(pages), bool)
            pages = pages[~inside]
            if len(pages):
                words = hb.arr.view(np.uint64).reshape(-1, PAGE_SIZE // 8)
                assert not words[pages].any(), ("bytes no row references are not zero", b)
