"""ELF executables: parse and validate an x86-64 ELF image, choose its load bias.

This is the pure half of program loading (gVisor: ``pkg/sentry/loader/elf.go``; Linux:
``fs/binfmt_elf.c`` ``load_elf_binary``). It takes the file's bytes and returns plain data
(:class:`ElfImage`); mapping the segments into guest memory is the address-space code's job.

Everything a guest can get wrong is reported as :class:`ExecError` (a :class:`KernelError` with the
errno execve(2) returns), with a one-line message that names the file. A corrupt ELF never escapes
as a struct exception.

Errnos follow Linux where Linux rejects the file (checked against Linux 6.18 in the tests). Where
Linux fails only after the point of no return (it then kills the new process with SIGSEGV), we
report its retval (EINVAL) before anything is mapped. We are stricter than Linux in three places,
each said at its check: a segment whose file bytes run past the end of the file (Linux maps it and
the first touch faults), PT_LOADs out of address order, and an EI_CLASS/EI_DATA byte that
contradicts the 64-bit little-endian header (Linux looks only at e_machine).
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from ..abi import (ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, EM_X86_64, ET_DYN, ET_EXEC,
                   MMAP_MIN_ADDR, PAGE_SIZE, PATH_MAX, PF_R, PF_W, PF_X, PROT_EXEC, PROT_READ,
                   PROT_WRITE, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_PHDR, PT_TLS, TASK_SIZE)
from ..errors import E, KernelError

__all__ = [
    "ExecError", "ElfImage", "LoadSegment", "parse_elf", "choose_load_bias",
    "ELF_ET_DYN_BASE", "ELF64_PHDR_SIZE",
]


class ExecError(KernelError):
    """execve(2) cannot load this file; ``errno`` is what execve returns (ENOEXEC, EINVAL, ...)."""


# --- constants (arch/x86; the ELF numbers of include/uapi/linux/elf.h are in ecs_kernel/abi.py) ---

ELF64_EHDR_SIZE = 64
ELF64_PHDR_SIZE = 56              # sizeof(struct elf64_phdr); Linux rejects any other e_phentsize
ELF_MIN_ALIGN = PAGE_SIZE
# arch/x86/include/asm/elf.h: ELF_ET_DYN_BASE = DEFAULT_MAP_WINDOW / 3 * 2 for 64-bit tasks, where
# DEFAULT_MAP_WINDOW == TASK_SIZE here. Page-aligned it is the familiar 0x555555554000.
ELF_ET_DYN_BASE = TASK_SIZE // 3 * 2

# load_elf_phdrs(): "If the size of this structure has changed, then punt, since we will be doing
# the wrong thing" / "Sanity check the number of program headers..." (size > 64 KiB -> fail).
_MAX_PHDR_TABLE = 65536

_MACHINE_NAMES = {
    0: "EM_NONE", 2: "EM_SPARC", 3: "EM_386", 8: "EM_MIPS", 20: "EM_PPC", 21: "EM_PPC64",
    22: "EM_S390", 40: "EM_ARM", 43: "EM_SPARCV9", 50: "EM_IA_64", 62: "EM_X86_64",
    183: "EM_AARCH64", 243: "EM_RISCV", 258: "EM_LOONGARCH",
}
_TYPE_NAMES = {0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}


def _page_start(x: int) -> int:
    return x & ~(PAGE_SIZE - 1)


def _page_align(x: int) -> int:
    return (x + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def _is_power_of_2(x: int) -> bool:
    return x > 0 and x & (x - 1) == 0


# --- the parsed image ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LoadSegment:
    """One PT_LOAD, in the file's own addresses (add the load bias for ET_DYN)."""

    vaddr: int
    memsz: int
    filesz: int
    offset: int       # file offset of the first byte at vaddr
    prot: int         # PROT_READ | PROT_WRITE | PROT_EXEC, from p_flags
    align: int        # p_align as written (not necessarily a power of two)
    flags: int        # raw p_flags (PF_R/PF_W/PF_X)

    @property
    def page_start(self) -> int:
        return _page_start(self.vaddr)

    @property
    def page_end(self) -> int:
        """End of the last page the segment touches (memsz, so the bss included)."""
        return _page_align(self.vaddr + self.memsz)

    @property
    def file_end_vaddr(self) -> int:
        """First address past the file-backed bytes; from here to vaddr+memsz is zero (bss)."""
        return self.vaddr + self.filesz


@dataclass(frozen=True)
class ElfImage:
    """What the loader needs from an x86-64 ELF executable or shared object, validated.

    Addresses are the file's own; for ``ET_DYN`` (``is_pie``) add the load bias.
    """

    path: str
    e_type: int                         # ET_EXEC or ET_DYN
    entry: int                          # e_entry
    segments: tuple[LoadSegment, ...]   # the PT_LOADs, ascending vaddr, non-overlapping
    phoff: int                          # e_phoff
    phent: int                          # e_phentsize (always 56 once validated)
    phnum: int                          # e_phnum (AT_PHNUM)
    phdr_vaddr: int | None              # where the program headers are in memory (AT_PHDR - bias)
    interp: str | None                  # PT_INTERP path (os.fsdecode'd), or None
    has_gnu_stack: bool                 # a PT_GNU_STACK header is present
    exec_stack: bool                    # the stack must be executable (PT_GNU_STACK has PF_X)
    has_tls: bool                       # a PT_TLS header is present
    span_start: int                     # lowest PT_LOAD page
    span_end: int                       # end of the highest PT_LOAD page (page aligned)
    max_align: int                      # largest power-of-two PT_LOAD p_align, at least a page

    @property
    def is_pie(self) -> bool:
        """ET_DYN: position independent, needs a load bias (PIE, static-pie, ld.so itself)."""
        return self.e_type == ET_DYN

    @property
    def span_size(self) -> int:
        """Bytes of address space the PT_LOADs need, page to page (Linux: total_mapping_size)."""
        return self.span_end - self.span_start


# --- parsing ------------------------------------------------------------------------------------

def parse_elf(data: bytes, path: str) -> ElfImage:
    """Parse and validate an x86-64 ELF executable; raise :class:`ExecError` if it cannot run.

    ``path`` only names the file in error messages and in the result.
    """
    data = bytes(data)
    _check_ident(data, path)
    hdr = _read_header(data, path)
    e_type, e_machine = hdr["e_type"], hdr["e_machine"]
    # load_elf_binary(): "First of all, some simple consistency checks".
    if e_type not in (ET_EXEC, ET_DYN):
        name = _TYPE_NAMES.get(e_type, "unknown type")
        raise ExecError(E.ENOEXEC, f"{path}: ELF type {name} ({e_type}) is not an executable")
    if e_machine != EM_X86_64:  # elf_check_arch(): e_machine == EM_X86_64
        name = _MACHINE_NAMES.get(e_machine, "unknown machine")
        raise ExecError(E.ENOEXEC, f"{path}: ELF machine {name} ({e_machine}) is not x86-64")
    phoff, phent, phnum, entry = hdr["e_phoff"], hdr["e_phentsize"], hdr["e_phnum"], hdr["e_entry"]
    if phent != ELF64_PHDR_SIZE:
        raise ExecError(E.ENOEXEC, f"{path}: e_phentsize is {phent}, expected {ELF64_PHDR_SIZE}")
    if phnum < 1 or phnum * phent > _MAX_PHDR_TABLE:
        raise ExecError(E.ENOEXEC, f"{path}: bad program header count {phnum}")
    if phoff + phnum * phent > len(data):
        raise ExecError(E.ENOEXEC, f"{path}: truncated: program headers at {phoff:#x}+"
                                   f"{phnum * phent:#x} run past the end of the file ({len(data):#x})")
    phdrs = _read_phdrs(data, phoff, phnum)

    loads: list[LoadSegment] = []
    interp: str | None = None
    seen_interp = False
    pt_phdr: int | None = None
    has_gnu_stack = exec_stack = has_tls = False
    for p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz, p_align in phdrs:
        if p_type == PT_LOAD:
            loads.append(_check_load(path, len(loads), p_flags, p_offset, p_vaddr, p_filesz,
                                     p_memsz, p_align, len(data)))
        elif p_type == PT_INTERP and not seen_interp:   # Linux uses the first PT_INTERP only
            seen_interp = True
            interp = _read_interp(data, path, p_offset, p_filesz)
        elif p_type == PT_PHDR and pt_phdr is None:
            pt_phdr = p_vaddr
        elif p_type == PT_GNU_STACK:
            # load_elf_binary(): the last PT_GNU_STACK decides EXSTACK_ENABLE_X / _DISABLE_X.
            # Without one, x86-64 defaults to a non-executable stack (elf_read_implies_exec is
            # only true for ia32), so exec_stack stays False.
            has_gnu_stack = True
            exec_stack = bool(p_flags & PF_X)
        elif p_type == PT_TLS:
            has_tls = True

    if not loads:
        raise ExecError(E.ENOEXEC, f"{path}: no PT_LOAD segments")
    for prev, seg in zip(loads, loads[1:]):
        # ELF gABI: "Loadable segment entries in the program header table appear in ascending
        # order, sorted on the p_vaddr member." Linux sizes the whole mapping from the first and
        # last PT_LOAD (total_mapping_size), so out-of-order segments break it. Two segments may
        # share a page (the later mapping wins, as with MAP_FIXED); they may not share bytes.
        if seg.vaddr < prev.vaddr:
            raise ExecError(E.ENOEXEC, f"{path}: PT_LOAD segments are not sorted by address "
                                       f"({seg.vaddr:#x} after {prev.vaddr:#x})")
        if seg.vaddr < prev.vaddr + prev.memsz:
            raise ExecError(E.ENOEXEC, f"{path}: PT_LOAD segments overlap ({seg.vaddr:#x} is "
                                       f"inside [{prev.vaddr:#x}, {prev.vaddr + prev.memsz:#x}))")
    span_start = loads[0].page_start
    span_end = max(s.page_end for s in loads)
    if span_end > TASK_SIZE:
        raise ExecError(E.EINVAL, f"{path}: PT_LOAD segments end at {span_end:#x}, past the "
                                  f"user address space ({TASK_SIZE:#x})")
    if entry >= TASK_SIZE:  # load_elf_binary(): BAD_ADDR(e_entry) -> -EINVAL
        raise ExecError(E.EINVAL, f"{path}: entry point {entry:#x} is outside the user address space")

    # AT_PHDR: PT_PHDR if present; else, like fs/binfmt_elf.c since 5.18 ("Fix AT_PHDR for unusual
    # ELF files"), the PT_LOAD whose file bytes hold e_phoff.
    phdr_vaddr = pt_phdr
    if phdr_vaddr is None:
        for seg in loads:
            if seg.offset <= phoff < seg.offset + seg.filesz:
                phdr_vaddr = phoff - seg.offset + seg.vaddr
                break

    # maximum_alignment(): the largest power-of-two p_align, at least a page.
    max_align = max([PAGE_SIZE] + [s.align for s in loads if _is_power_of_2(s.align)])
    return ElfImage(
        path=path, e_type=e_type, entry=entry, segments=tuple(loads), phoff=phoff, phent=phent,
        phnum=phnum, phdr_vaddr=phdr_vaddr, interp=interp, has_gnu_stack=has_gnu_stack,
        exec_stack=exec_stack, has_tls=has_tls, span_start=span_start, span_end=span_end,
        max_align=max_align)


def _check_ident(data: bytes, path: str) -> None:
    """e_ident checks done on raw bytes, before the header is read.

    Stricter than Linux: binfmt_elf checks only the magic and e_machine, so a 64-bit file whose
    EI_CLASS or EI_DATA byte says otherwise still runs there. We refuse what we would misparse.
    """
    if len(data) < 4 or data[:4] != b"\x7fELF":
        raise ExecError(E.ENOEXEC, f"{path}: not an ELF file")
    if len(data) < ELF64_EHDR_SIZE:
        raise ExecError(E.ENOEXEC, f"{path}: not an ELF file (truncated ELF header, "
                                   f"{len(data)} bytes)")
    ei_class, ei_data = data[4], data[5]
    if ei_class == ELFCLASS32:
        raise ExecError(E.ENOEXEC, f"{path}: 32-bit ELF is not supported")
    if ei_class != ELFCLASS64:
        raise ExecError(E.ENOEXEC, f"{path}: invalid ELF class {ei_class}")
    if ei_data == ELFDATA2MSB:
        raise ExecError(E.ENOEXEC, f"{path}: big-endian ELF is not supported (x86-64 is little-endian)")
    if ei_data != ELFDATA2LSB:
        raise ExecError(E.ENOEXEC, f"{path}: invalid ELF data encoding {ei_data}")


_EHDR = struct.Struct("<HHIQQQIHHHHHH")  # e_type .. e_shstrndx, after the 16 bytes of e_ident
_PHDR = struct.Struct("<IIQQQQQQ")       # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align


def _read_header(data: bytes, path: str) -> dict[str, int]:
    """The ELF64 header's fields (the caller checked e_ident and that ``data`` holds a whole
    header). Read with struct, as binfmt_elf reads it: the section headers are never looked at."""
    (e_type, e_machine, _version, e_entry, e_phoff, _shoff, _flags, _ehsize, e_phentsize,
     e_phnum, _shentsize, _shnum, _shstrndx) = _EHDR.unpack_from(data, 16)
    return {"e_type": e_type, "e_machine": e_machine, "e_entry": e_entry, "e_phoff": e_phoff,
            "e_phentsize": e_phentsize, "e_phnum": e_phnum}


def _read_phdrs(data: bytes, phoff: int, phnum: int) -> list[tuple[int, ...]]:
    """The program headers as (type, flags, offset, vaddr, filesz, memsz, align). The caller has
    checked that the table lies inside ``data``."""
    rows = []
    for i in range(phnum):
        p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, p_align = \
            _PHDR.unpack_from(data, phoff + i * ELF64_PHDR_SIZE)
        rows.append((p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz, p_align))
    return rows


def _check_load(path: str, index: int, p_flags: int, p_offset: int, p_vaddr: int, p_filesz: int,
                p_memsz: int, p_align: int, file_size: int) -> LoadSegment:
    what = f"{path}: PT_LOAD #{index} at {p_vaddr:#x}"
    # load_elf_binary(): "p_filesz must always be <= p_memsz" / "Check to see if the section's
    # size will overflow the allowed task size" -> -EINVAL.
    if p_filesz > p_memsz:
        raise ExecError(E.EINVAL, f"{what}: p_filesz {p_filesz:#x} > p_memsz {p_memsz:#x}")
    if p_vaddr >= TASK_SIZE or p_memsz > TASK_SIZE or TASK_SIZE - p_memsz < p_vaddr:
        raise ExecError(E.EINVAL, f"{what}: p_memsz {p_memsz:#x} runs past the user address "
                                  f"space ({TASK_SIZE:#x})")
    if p_filesz:
        # Stricter than Linux, which maps past EOF and lets the first touch fault.
        if p_offset > file_size or p_filesz > file_size - p_offset:
            raise ExecError(E.ENOEXEC, f"{what}: truncated: file bytes [{p_offset:#x}, "
                                       f"{p_offset + p_filesz:#x}) run past the end of the file "
                                       f"({file_size:#x})")
        # elf_map() mmaps from p_offset - PAGEOFFSET(p_vaddr); mmap needs that page aligned.
        if (p_offset - p_vaddr) % PAGE_SIZE:
            raise ExecError(E.EINVAL, f"{what}: p_offset {p_offset:#x} and p_vaddr are not "
                                      f"congruent modulo the page size")
    prot = ((PROT_READ if p_flags & PF_R else 0) | (PROT_WRITE if p_flags & PF_W else 0)
            | (PROT_EXEC if p_flags & PF_X else 0))
    return LoadSegment(vaddr=p_vaddr, memsz=p_memsz, filesz=p_filesz, offset=p_offset, prot=prot,
                       align=p_align, flags=p_flags)


def _read_interp(data: bytes, path: str, p_offset: int, p_filesz: int) -> str:
    # load_elf_binary(): "if (elf_ppnt->p_filesz > PATH_MAX || elf_ppnt->p_filesz < 2) goto
    # out_free_ph" (-ENOEXEC), then "make sure path is NULL terminated" (-ENOEXEC).
    if p_filesz > PATH_MAX or p_filesz < 2:
        raise ExecError(E.ENOEXEC, f"{path}: PT_INTERP size {p_filesz} is not in [2, PATH_MAX]")
    if p_offset > len(data) or p_filesz > len(data) - p_offset:
        # elf_read(): a short read is -EIO (checked on Linux 6.18).
        raise ExecError(E.EIO, f"{path}: truncated: PT_INTERP at {p_offset:#x} runs past the "
                               f"end of the file")
    raw = data[p_offset:p_offset + p_filesz]
    if raw[-1] != 0:
        raise ExecError(E.ENOEXEC, f"{path}: PT_INTERP is not NUL-terminated")
    # Linux opens it as a C string: an embedded NUL ends the path.
    return os.fsdecode(raw[:raw.index(0)])


# --- load bias ----------------------------------------------------------------------------------

def choose_load_bias(image: ElfImage, mmap_base_hint: int, *, random_offset: int = 0) -> int:
    """The load bias for ``image``: 0 for ET_EXEC; for ET_DYN, what Linux picks without ASLR.

    Linux's load_elf_binary() distinguishes two kinds of ET_DYN:

    * a program with a PT_INTERP (a PIE): loaded at ``ELF_ET_DYN_BASE`` (2/3 of the 47-bit
      address space, 0x555555554000 once page-aligned), plus ``random_offset`` (Linux:
      arch_mmap_rnd() under ASLR; 0 here unless the caller randomises), aligned down to the
      largest PT_LOAD p_align;
    * a loader without PT_INTERP (ld.so as an interpreter, ld.so run directly, a static-pie): placed
      like an mmap(NULL, span) in the top-down mmap area, i.e. just below ``mmap_base_hint``
      (the mmap base; the caller passes the top of the free area it wants used), aligned down to
      the largest p_align.

    Either way the result is page-aligned and already lowered by the first segment's page
    (``load_bias = ELF_PAGESTART(base - vaddr)``), so segment addresses are ``vaddr + bias``.
    Raises ExecError(ENOMEM) if the image does not fit.
    """
    if image.e_type == ET_EXEC:
        return 0
    align = max(image.max_align, PAGE_SIZE)
    if random_offset % PAGE_SIZE:
        raise ValueError(f"random_offset {random_offset:#x} is not page aligned")
    if image.interp is not None:
        base = (ELF_ET_DYN_BASE + random_offset) & ~(align - 1)
    else:
        top = _page_start(mmap_base_hint)
        if image.span_size > top:
            raise ExecError(E.ENOMEM, f"{image.path}: {image.span_size:#x} bytes do not fit "
                                      f"below the mmap base {top:#x}")
        base = (top - image.span_size) & ~(align - 1)
    bias = _page_start(base - image.span_start)
    lo, hi = bias + image.span_start, bias + image.span_end
    if lo < MMAP_MIN_ADDR or hi > TASK_SIZE:
        raise ExecError(E.ENOMEM, f"{image.path}: no room for [{lo:#x}, {hi:#x}) in the user "
                                  f"address space")
    return bias
