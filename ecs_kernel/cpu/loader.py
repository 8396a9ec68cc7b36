"""execve(2)'s loading half: read a program through the guest's file system and map it.

gVisor: ``pkg/sentry/loader/loader.go`` (Load, loadExecutable) and ``elf.go`` (mapSegment,
loadInterpreter). Linux: ``fs/exec.c`` (do_execveat_common) and ``fs/binfmt_elf.c``
(load_elf_binary, elf_map, padzero, set_brk).

:func:`load` resolves the path inside the guest root (``#!`` scripts rewritten up to
MAX_SCRIPT_DEPTH times), parses the ELF with :mod:`ecs_kernel.cpu.elf`, maps each PT_LOAD into an
:class:`~ecs_kernel.cpu.memory.AddressSpace` as a private file mapping (the bss tail of the last file
page zeroed, further bss pages anonymous), loads the PT_INTERP interpreter from the same guest root,
sets the brk base, maps the stack (RLIMIT_STACK bytes below STACK_TOP, MAP_GROWSDOWN) and writes
the initial stack of :mod:`ecs_kernel.cpu.exec_args` into it. Addresses are Linux's without ASLR.

Every failure a guest or a user can cause is an :class:`~ecs_kernel.cpu.elf.ExecError` (a
KernelError) with a one-line message; nothing is mapped into the address space before the
program and its interpreter have both been read and parsed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..abi import (BINPRM_BUF_SIZE, IN_ACCESS, MAP_ANONYMOUS, MAP_FIXED, MAP_GROWSDOWN, MAP_PRIVATE,
                   PAGE_SIZE, PROT_READ, PROT_WRITE, TASK_SIZE)
from ..errors import E, KernelError
from ..fs import notify
from ..fs.file import FileMapping
from .elf import ElfImage, ExecError, parse_elf, choose_load_bias
from .exec_args import (check_arg_limits, check_script_depth, ExecCreds, layout_initial_stack,
                        parse_shebang, shebang_argv, standard_auxv)
from .memory import AddressSpace, page_align

STACK_TOP = TASK_SIZE  # no ASLR: the stack ends at the top of the user address space
# CPUID.01H:EDX of Unicorn's default x86-64 CPU model; Linux puts it in AT_HWCAP on x86.
HWCAP_X86_64 = 0x078BFBFD
MAX_EXEC_FILE = 1 << 30  # refuse to read a bigger "program" into memory (ENOMEM)


@dataclass
class LoadedProgram:
    """What the new image starts with (the registers and what /proc and the mm remember)."""

    entry: int  # rip at the first instruction (the interpreter's entry if there is one)
    sp: int  # rsp
    exe_path: str  # the guest path of the ELF that was finally loaded (/proc/self/exe)
    argv: list[bytes]  # after #! rewriting
    envp: list[bytes]
    image: ElfImage
    load_bias: int
    interp_base: int
    auxv: tuple
    arg_start: int = 0
    arg_end: int = 0
    env_start: int = 0
    env_end: int = 0


STACK_EXPAND = 128 << 10  # Linux setup_arg_pages: the stack below the argument pages at exec


def _b(s) -> bytes:
    return s if isinstance(s, bytes) else os.fsencode(s)


def _read_whole(desc, path: str) -> bytes:
    inode = desc.inode
    size = inode.size
    if size > MAX_EXEC_FILE:
        raise ExecError(E.ENOMEM, f"{path}: file too large to execute ({size} bytes)")
    data = inode.read_at(0, size)
    return data


def open_program(fs, path, cwd, creds=None):
    """open_exec: a read description of a regular, executable file (ENOENT/EACCES/ENOTDIR...)."""
    try:
        return fs.open_exec(path, cwd=cwd, creds=creds)
    except KernelError as e:
        raise ExecError(e.errno, f"{os.fsdecode(_b(path))}: {os.strerror(e.errno)}") from None


def resolve(fs, path, argv, cwd=None, creds=None):
    """Follow ``#!`` lines: ``(description, file bytes, argv, guest path)`` of the ELF to load."""
    path_b = _b(path)
    argv = [_b(a) for a in argv]
    rewrites = 0
    while True:
        desc = open_program(fs, path_b, cwd, creds)
        data = _read_whole(desc, os.fsdecode(path_b))
        if data:
            notify.file_event(desc, IN_ACCESS)  # prepare_binprm's kernel_read: fsnotify_access
        sb = parse_shebang(data[:BINPRM_BUF_SIZE])
        if sb is None:
            return desc, data, argv, desc.path or os.fsdecode(path_b)
        notify.closed(desc)  # the script's file is put once its interpreter is open
        rewrites += 1
        check_script_depth(rewrites)
        interp, arg = sb
        argv = shebang_argv(interp, arg, path_b, argv if argv else [b""])
        path_b = _b(interp)


def _map_image(mm: AddressSpace, image: ElfImage, bias: int, desc) -> tuple[int, int, int, int]:
    """elf_map + padzero + set_brk for every PT_LOAD. Returns (start_data, end_data, elf_bss,
    elf_brk) as load_elf_binary computes them (biased)."""
    fm = FileMapping(desc)
    start_data, end_data, elf_brk = 0, 0, 0
    end_code = 0
    for seg in image.segments:
        vaddr = seg.vaddr + bias
        page = vaddr & ~(PAGE_SIZE - 1)
        file_end = vaddr + seg.filesz
        mem_end = vaddr + seg.memsz
        # The pages holding file bytes: a private file mapping from the page-aligned offset.
        off = seg.offset - (vaddr - page)
        map_end = page_align(file_end) if seg.filesz else page
        if map_end > page:
            mm.mmap(page, map_end - page, seg.prot, MAP_PRIVATE | MAP_FIXED, file=fm, offset=off)
            # padzero: the rest of the last file page is bss (or other file bytes): zero it.
            if seg.memsz > seg.filesz and file_end < map_end:
                mm.copy_out(file_end, bytes(min(map_end, page_align(mem_end)) - file_end), force=True)
        # Whole bss pages past the file bytes: anonymous.
        bss_end = page_align(mem_end)
        if bss_end > max(map_end, page):
            lo = max(map_end, page)
            mm.mmap(lo, bss_end - lo, seg.prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        if seg.prot & 4:  # PROT_EXEC
            end_code = max(end_code, file_end)
        elif not start_data or vaddr < start_data:
            start_data = vaddr
        end_data = max(end_data, file_end)
        elf_brk = max(elf_brk, mem_end)
    return start_data, end_data, end_code, elf_brk


def load(fs, mm: AddressSpace, path, argv, envp, *, cwd=None, creds=None,
         exec_creds: ExecCreds = ExecCreds(0, 0, 0, 0), random16: bytes = bytes(16),
         rlimit_stack: int = 8 << 20) -> LoadedProgram:
    """Load ``path`` (a guest path) into the empty address space ``mm``; see the module doc."""
    desc, data, argv, exe_path = resolve(fs, path, argv, cwd, creds)
    image = parse_elf(data, exe_path)
    interp_desc = interp_image = None
    if image.interp is not None:
        interp_desc = open_program(fs, image.interp, None, creds)
        interp_data = _read_whole(interp_desc, image.interp)
        interp_image = parse_elf(interp_data, image.interp)
        if interp_image.interp is not None:
            raise ExecError(E.ELIBBAD, f"{image.interp}: the interpreter has an interpreter")
    envp = [_b(e) for e in envp]
    execfn = _b(path)
    # The argument limits before anything is mapped.
    check_arg_limits(argv, envp, execfn, rlimit_stack)

    bias = choose_load_bias(image, mm.mmap_base)
    start_data, end_data, end_code, elf_brk = _map_image(mm, image, bias, desc)
    interp_base = 0
    entry = image.entry + bias
    if interp_image is not None:
        ibias = choose_load_bias(interp_image, mm.mmap_base)
        _map_image(mm, interp_image, ibias, interp_desc)
        interp_base = ibias + interp_image.span_start
        entry = interp_image.entry + ibias
    mm.start_data, mm.end_data = start_data, end_data
    mm.set_brk_base(elf_brk)

    auxv = standard_auxv(image, bias, interp_base, exec_creds, HWCAP_X86_64)
    st = layout_initial_stack(STACK_TOP, argv, envp, auxv, execfn, random16=random16,
                              rlimit_stack=rlimit_stack)
    # The stack (Linux setup_arg_pages): the argument pages and 128 KiB below them, at most
    # RLIMIT_STACK; it grows on demand (expand_stack). mmap_base already keeps the whole
    # RLIMIT_STACK and the guard gap free below STACK_TOP, so the images mapped above do not
    # depend on its size.
    arg_pages = STACK_TOP - (st.sp & ~(PAGE_SIZE - 1))
    stack_size = arg_pages + STACK_EXPAND
    if stack_size > rlimit_stack:
        stack_size = max(arg_pages, min(rlimit_stack, 1 << 30) & ~(PAGE_SIZE - 1))
    mm.mmap(STACK_TOP - stack_size, stack_size, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN)
    mm.copy_out(st.sp, st.data)
    mm.start_stack = st.sp
    return LoadedProgram(entry=entry, sp=st.sp, exe_path=exe_path, argv=list(argv), envp=envp,
                         image=image, load_bias=bias, interp_base=interp_base, auxv=st.auxv,
                         arg_start=st.arg_start, arg_end=st.arg_end, env_start=st.env_start,
                         env_end=st.env_end)


__all__ = ["load", "resolve", "LoadedProgram", "STACK_TOP", "HWCAP_X86_64",
           "ExecError"]
