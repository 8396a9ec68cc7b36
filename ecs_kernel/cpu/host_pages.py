"""Host pages behind guest memory: frozen page images that several guest buffers map
copy-on-write, and what the host's page tables say about a buffer's pages.

gVisor keeps guest memory in one ``pgalloc.MemoryFile`` and shares pages between address spaces
by reference counts on its ranges; a write to a copy-on-write page faults in the sentry, which
copies it. Here guest memory is host memory seen through Unicorn (cpu/memory.py ``HostBuffer``),
and the host kernel already knows how to do that copy: a :class:`Snapshot` is a host memfd holding
a frozen image of a buffer; every buffer that shares it maps it ``MAP_PRIVATE``. A read of any of
them sees the memfd's page (held once, however many processes map it); the first write to a page
by any of them is a host page fault that gives that one buffer its own copy of that one page
(the host's copy-on-write), inside the guest's store instruction: the guest sees nothing, as on
Linux, where the copy-on-write fault is invisible too. Nobody ever writes a snapshot after it is
made, so what one buffer writes is never seen by another.

A snapshot is made by :meth:`HostBuffer.share <ecs_kernel.cpu.memory.HostBuffer.share>` (fork) and
by the file cache (a private file mapping of an unchanged host file: the same segment of the same
file mapped by many processes is one snapshot, cpu/memory.py ``file_snapshot``).

Which pages a buffer holds on its own comes from ``/proc/self/pagemap`` (bit 63: present in the
page table; bit 61: a page of a file, here a snapshot's, or shared; bit 62: swapped) read over the
pages ``mincore`` calls resident, so a huge sparse reservation costs its resident pages only.
"""
from __future__ import annotations

import ctypes
import errno
import mmap as _mmap
import os

import numpy as np

from ecs_kernel.checkpoint_objects import state_class
from ecs_kernel.abi import (MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE, MAP_PRIVATE, MFD_CLOEXEC,
                            PAGE_SHIFT, PAGE_SIZE, PROT_READ, PROT_WRITE)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                       ctypes.c_long)
_MAP_FAILED = ctypes.c_void_p(-1).value
_MINCORE_CHUNK = 1 << 30  # bytes asked of mincore at once (a 256 KiB vector)

PM_PRESENT = 1 << 63  # /proc/PID/pagemap: the page is in the page table
PM_SWAPPED = 1 << 62  # the page is in swap
PM_FILE = 1 << 61  # a page of a file (a snapshot's page not yet written) or shared anonymous

stats = {"snapshots": 0, "bytes_copied": 0, "reused": 0, "live_pages": 0}
"""Counters for benchmarks, tests and the memory limit: snapshots made, bytes copied into them,
forks that reused a clean snapshot without a copy, pages held by the snapshots alive now."""


def live_bytes() -> int:
    """Bytes the snapshots alive now hold (host shared memory, mapped or not)."""
    return stats["live_pages"] * PAGE_SIZE


def map_fixed(addr: int, length: int, fd: int, offset: int) -> None:
    """Replace the host pages ``[addr, addr+length)`` of our own mapping with a private mapping
    of ``fd`` at ``offset`` (``fd`` -1: fresh zero pages). MemoryError when the host refuses."""
    flags = MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE | (MAP_ANONYMOUS if fd < 0 else 0)
    r = _libc.mmap(ctypes.c_void_p(addr), length, PROT_READ | PROT_WRITE, flags, fd, offset)
    if r is None or r == _MAP_FAILED:
        err = ctypes.get_errno()
        raise MemoryError(f"host mmap of {length} bytes failed: {os.strerror(err)}")


_VEC: list = [np.zeros(4096, np.uint8), 0]  # mincore's vector, reused (and its address)
_VEC[1] = _VEC[0].__array_interface__["data"][0]


def resident_pages(arr: np.ndarray) -> np.ndarray:
    """Indices of the pages of ``arr`` (a page-aligned host mapping) that the host has backed
    (mincore: in our page table, or a file page in the page cache): the only ones that can hold
    anything but zeros or a snapshot's page. A 1 TiB reservation costs its page tables' walk,
    not a read of every page."""
    base = arr.__array_interface__["data"][0]
    out = []
    for off in range(0, len(arr), _MINCORE_CHUNK):
        n = min(_MINCORE_CHUNK, len(arr) - off)
        k = (n + PAGE_SIZE - 1) // PAGE_SIZE
        if k > len(_VEC[0]):
            _VEC[0] = np.zeros(k, np.uint8)
            _VEC[1] = _VEC[0].__array_interface__["data"][0]
        vec = _VEC[0][:k]
        if _libc.mincore(ctypes.c_void_p(base + off), ctypes.c_size_t(n),
                         ctypes.c_void_p(_VEC[1])) != 0:
            if ctypes.get_errno() == errno.ENOMEM:  # not mapped (any more): nothing there
                return np.zeros(0, np.int64)
            return np.arange(len(arr) // PAGE_SIZE)  # cannot ask: look at every page
        out.append(np.flatnonzero(vec & 1) + off // PAGE_SIZE)
    return np.concatenate(out) if out else np.zeros(0, np.int64)


_RUNS_IN_PYTHON = 64


def runs(pages: np.ndarray) -> list[tuple[int, int]]:
    """Sorted page indices as ``(first, count)`` runs of consecutive pages."""
    if not len(pages):
        return []
    if len(pages) <= _RUNS_IN_PYTHON:  # numpy's calls cost more than a loop over a few pages
        pl = pages.tolist()
        out = []
        first = prev = pl[0]
        for p in pl[1:]:
            if p != prev + 1:
                out.append((first, prev - first + 1))
                first = p
            prev = p
        out.append((first, prev - first + 1))
        return out
    cut = np.flatnonzero(np.diff(pages) != 1) + 1
    starts = np.concatenate(([0], cut))
    ends = np.concatenate((cut, [len(pages)]))
    return [(int(pages[a]), int(b - a)) for a, b in zip(starts.tolist(), ends.tolist())]


_PAGEMAP: list = [None]


def pagemap(addr: int, pages: np.ndarray) -> np.ndarray:
    """The pagemap entries (uint64) of the pages ``addr + PAGE_SIZE * pages`` of our own
    memory, ``pages`` sorted. Zeros where the host will not say (no /proc)."""
    out = np.zeros(len(pages), np.uint64)
    if not len(pages):
        return out
    if _PAGEMAP[0] is None:
        try:
            _PAGEMAP[0] = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            _PAGEMAP[0] = -1
    fd = _PAGEMAP[0]
    if fd < 0:
        return out
    first = addr >> PAGE_SHIFT
    pos = 0
    for p0, k in runs(pages):
        raw = os.pread(fd, 8 * k, 8 * (first + p0))
        out[pos:pos + len(raw) // 8] = np.frombuffer(raw, np.uint64)
        pos += k
    return out


@state_class
class Snapshot:
    """A frozen page image in a host memfd, mapped MAP_PRIVATE by the buffers that share it.

    ``pages``: how many of its pages hold data (the rest are holes, which cost nothing). The fd
    closes when the last buffer (or cache entry) lets the object go."""

    __slots__ = ("fd", "size", "pages", "__weakref__")

    def __init__(self, size: int):
        self.fd = -1
        self.fd = os.memfd_create("ecs-kernel-pages", MFD_CLOEXEC)
        self.size = size
        self.pages = 0
        try:
            os.ftruncate(self.fd, size)
        except OSError:
            os.close(self.fd)
            self.fd = -1
            raise
        stats["snapshots"] += 1

    def write_pages(self, src: memoryview, pages: np.ndarray, packed: bool = False) -> None:
        """Copy the pages ``pages`` (sorted indices) of ``src`` (a buffer of the same layout, or
        with ``packed`` those pages one after another) into the image."""
        pos = 0
        for p0, k in runs(pages):
            off = p0 * PAGE_SIZE
            n = min(k * PAGE_SIZE, self.size - off)
            at = pos if packed else off
            done = 0
            while done < n:  # pwrite may write less than asked (signals, huge counts)
                done += os.pwrite(self.fd, src[at + done:at + n], off + done)
            pos += k * PAGE_SIZE
        self.pages += len(pages)
        stats["live_pages"] += len(pages)
        stats["bytes_copied"] += len(pages) * PAGE_SIZE

    def write_at(self, off: int, data: bytes) -> None:
        """Copy ``data`` to byte ``off`` (filling an image from a file)."""
        done = 0
        while done < len(data):
            done += os.pwrite(self.fd, data[done:], off + done)
        k = (len(data) + PAGE_SIZE - 1) // PAGE_SIZE
        self.pages += k
        stats["live_pages"] += k
        stats["bytes_copied"] += len(data)

    def read_pages(self) -> tuple[np.ndarray, np.ndarray]:
        """(indices, bytes) of the image's pages that are not all zero (for a checkpoint)."""
        m = _mmap.mmap(self.fd, self.size, flags=_mmap.MAP_SHARED, prot=_mmap.PROT_READ)
        try:
            arr = np.frombuffer(m, np.uint8)
            pages = resident_pages(arr)
            if len(pages):
                nz = arr.view(np.uint64).reshape(-1, PAGE_SIZE // 8)[pages].any(axis=1)
                pages = pages[nz]
            data = arr.reshape(-1, PAGE_SIZE)[pages].reshape(-1).copy()
            del arr  # no view may outlive the mapping
        finally:
            m.close()
        return pages.astype(np.int64), data

    # -- checkpoint: the image once, however many buffers map it ----------------------------------
    def to_state(self, w, name: str) -> dict:
        pages, data = self.read_pages()
        w.array(f"{name}.pages", pages)
        w.array(f"{name}.data", data)
        return {"size": self.size}

    @classmethod
    def from_state(cls, r, name: str, meta) -> "Snapshot":
        size = r.int(meta, "size", PAGE_SIZE, 1 << 47)
        if size % PAGE_SIZE:
            r.fail(f"{name}: a bad snapshot size")
        pages = r.array(f"{name}.pages", np.dtype(np.int64), (None,))
        data = r.array(f"{name}.data", np.dtype(np.uint8), (len(pages) * PAGE_SIZE,))
        if len(pages) and (pages[0] < 0 or pages[-1] >= size // PAGE_SIZE
                           or (len(pages) > 1 and (np.diff(pages) <= 0).any())):
            r.fail(f"{name}: pages out of order or outside the snapshot")
        snap = cls(size)
        snap.write_pages(memoryview(np.ascontiguousarray(data)).cast("B"),
                         pages, packed=True)
        return snap

    def __del__(self):
        stats["live_pages"] -= self.pages
        self.pages = 0
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


_ZERO_PFN: list = [None]
_PFN_MASK = (1 << 55) - 1


def zero_pfn() -> int:
    """The host's zero page frame (what a read of untouched private anonymous memory maps:
    present, not a file page), or 0 when pagemap hides frame numbers (no CAP_SYS_ADMIN)."""
    if _ZERO_PFN[0] is None:
        m = _mmap.mmap(-1, PAGE_SIZE, flags=_mmap.MAP_PRIVATE)
        try:
            arr = np.frombuffer(m, np.uint8)
            _ = int(arr[0])  # a read fault: the zero page
            e = int(pagemap(int(arr.ctypes.data), np.zeros(1, np.int64))[0])
            del arr
        finally:
            m.close()
        _ZERO_PFN[0] = e & _PFN_MASK if e & PM_PRESENT and not e & PM_FILE else 0
    return _ZERO_PFN[0]


def mapped_pages(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the host holds of ``arr`` (a page-aligned piece of our own mapping), as page indices:
    (pages it holds on its own, written or copied; pages of the snapshot under it that its page
    table maps; every page with data for it: its own and the snapshot's, mapped or not). The
    zero page (a read of an untouched private page maps the host's zero page: its frame number,
    :func:`zero_pfn`) is none of them; a page in swap is an own page."""
    cand = resident_pages(arr)
    if not len(cand):
        return cand, cand, cand
    pm = pagemap(int(arr.ctypes.data), cand)
    present = (pm & np.uint64(PM_PRESENT | PM_SWAPPED)) != 0
    filebit = (pm & np.uint64(PM_FILE)) != 0
    zpfn = zero_pfn()
    if zpfn:
        zero = present & ((pm & np.uint64(_PFN_MASK)) == np.uint64(zpfn))
    else:  # frame numbers hidden (no CAP_SYS_ADMIN): a zero-page read counts as a page
        zero = np.zeros(len(cand), bool)
    return cand[present & ~filebit & ~zero], cand[present & filebit & ~zero], cand[~zero]
