"""What execve(2) hands the new program: #! script rewriting, argument limits, the initial stack.

gVisor: ``pkg/sentry/loader`` (``interpreter.go`` and the stack setup in ``loader.go``). Linux:
``fs/binfmt_script.c`` (load_script), ``fs/exec.c`` (bprm_stack_limits, copy_strings, exec_binprm)
and ``fs/binfmt_elf.c`` (create_elf_tables).

All functions are pure: they take bytes and numbers and return bytes and numbers. The caller reads
the files and writes the returned stack image into guest memory.

Strings (argv, envp, paths) may be given as ``str`` (encoded with :func:`os.fsencode`) or ``bytes``;
what lands on the guest stack is bytes.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

from .. import abi
from ..abi import (AT_BASE, AT_CLKTCK, AT_EGID, AT_ENTRY, AT_EUID, AT_EXECFN, AT_FLAGS,
                   AT_GID, AT_HWCAP, AT_HWCAP2, AT_MINSIGSTKSZ, AT_NULL, AT_PAGESZ, AT_PHDR,
                   AT_PHENT, AT_PHNUM, AT_PLATFORM, AT_RANDOM, AT_RSEQ_ALIGN, AT_RSEQ_FEATURE_SIZE,
                   AT_SECURE, AT_SYSINFO_EHDR, AT_UID, RSEQ_ALIGN, RSEQ_FEATURE_SIZE,
                   BINPRM_BUF_SIZE, MAX_ARG_STRINGS, MAX_ARG_STRLEN, MINSIGSTKSZ, PAGE_SIZE,
                   STK_LIM)
from ..errors import E
from ..systems.task_exec import arg_strings_limit
from .elf import ELF64_PHDR_SIZE, ElfImage, ExecError

__all__ = [
    "MAX_SCRIPT_DEPTH", "STK_LIM", "DEFAULT_STACK_RLIMIT",
    "parse_shebang", "shebang_argv", "check_script_depth",
    "arg_strings_limit", "check_arg_limits",
    "ExecCreds", "standard_auxv", "build_initial_stack", "layout_initial_stack", "InitialStack",
    "AT_NAMES",
]

# The auxiliary vector types (AT_NULL .. AT_MINSIGSTKSZ), the exec limits (BINPRM_BUF_SIZE,
# MAX_ARG_STRLEN, MAX_ARG_STRINGS, ARG_MAX, STK_LIM) and MINSIGSTKSZ are ecs_kernel/abi.py's;
# arg_strings_limit is the kernel's (systems/task_exec.py), which execve's syscall uses too.

# auxv type -> name, for messages. The *at(2) flags that share the AT_ prefix are AT_FDCWD (< 0)
# and bits from 0x100 up; auxv types are below 0x100.
AT_NAMES = {v: k for k, v in vars(abi).items() if k.startswith("AT_") and 0 <= v < 0x100}

# --- limits -------------------------------------------------------------------------------------

# fs/exec.c exec_binprm(): "for (depth = 0;; depth++) { if (depth > 5) return -ELOOP; ...}". Each
# #! rewrite uses one depth and the final binary one more, so at most 5 nested scripts; the 6th
# gets ELOOP (checked on Linux 6.18: a chain of 5 scripts runs, 6 fail with ELOOP).
MAX_SCRIPT_DEPTH = 5
DEFAULT_STACK_RLIMIT = STK_LIM

_WORD = 8


def _b(s: str | bytes) -> bytes:
    b = os.fsencode(s) if isinstance(s, str) else bytes(s)
    if b"\0" in b:
        raise ValueError(f"string contains a NUL byte: {b[:40]!r}")
    return b


# --- #! scripts ---------------------------------------------------------------------------------

def _spacetab(c: int) -> bool:
    return c == 0x20 or c == 0x09


def _next_non_spacetab(buf: bytes, first: int, last: int) -> int | None:
    for i in range(first, last + 1):
        if not _spacetab(buf[i]):
            return i
    return None


def _next_terminator(buf: bytes, first: int, last: int) -> int | None:
    for i in range(first, last + 1):
        if _spacetab(buf[i]) or buf[i] == 0:
            return i
    return None


def _cstr(buf: bytes, start: int, end: int) -> bytes:
    s = buf[start:end]
    nul = s.find(b"\0")
    return s if nul < 0 else s[:nul]


def parse_shebang(data: bytes) -> tuple[str, str | None] | None:
    """The ``#!`` line of a script: ``(interpreter, optional_arg)``, or None if not a script.

    Follows Linux's fs/binfmt_script.c load_script() byte for byte, on the first
    BINPRM_BUF_SIZE (256) bytes of the file (NUL-padded when the file is shorter):

    * the line ends at the first newline (a newline after a NUL byte is not seen: strnchr stops
      at NUL); without a newline in the buffer the interpreter must be followed by a space, tab
      or NUL inside it, else the path may be truncated and execve fails with ENOEXEC;
    * trailing spaces/tabs are trimmed, leading ones skipped; no interpreter -> ENOEXEC;
    * the interpreter ends at the first space, tab or NUL; if that was a space or tab, the rest of
      the line after further blanks is ONE argument, inner whitespace included (execve(2):
      "the entire string following the interpreter name is passed as a single argument"), cut at
      a NUL, possibly empty (``#!/bin/x \\0`` passes ""), and truncated at 255 bytes without
      complaint (the interpreter re-reads the script).

    One Linux oddity kept: an interpreter that ends at a NUL before any character (``#!`` alone
    at the end of a file) is the empty path, which Linux opens as the working directory and
    fails with EACCES; we raise that EACCES here.
    """
    data = bytes(data[:BINPRM_BUF_SIZE])
    if data[:2] != b"#!":
        return None
    buf = data.ljust(BINPRM_BUF_SIZE, b"\0")
    buf_end = BINPRM_BUF_SIZE - 1
    # i_end = strnchr(bprm->buf, sizeof(bprm->buf), '\n'): stops at the first NUL.
    nul = buf.find(b"\0")
    i_end: int | None = buf.find(b"\n", 0, nul if nul >= 0 else len(buf))
    if i_end < 0:
        start = _next_non_spacetab(buf, 2, buf_end)
        if start is None:
            raise ExecError(E.ENOEXEC, "#! line has no interpreter")  # entire buf is spaces/tabs
        # "If there is no later space/tab/NUL we must assume the interpreter path is truncated."
        if _next_terminator(buf, start, buf_end) is None:
            raise ExecError(E.ENOEXEC, f"#! interpreter path is longer than {BINPRM_BUF_SIZE - 3} bytes")
        i_end = buf_end
    while _spacetab(buf[i_end - 1]):  # trim trailing spaces/tabs (buf[1] is '!', so this stops)
        i_end -= 1
    i_name = _next_non_spacetab(buf, 2, i_end)
    if i_name is None or i_name == i_end:
        raise ExecError(E.ENOEXEC, "#! line has no interpreter")  # "No interpreter name found"
    i_sep = _next_terminator(buf, i_name, i_end)
    i_arg = None
    if i_sep is not None and buf[i_sep] != 0:
        i_arg = _next_non_spacetab(buf, i_sep, i_end)
    # Linux NUL-terminates at i_end and (with an argument) at i_sep, then copies C strings.
    name = _cstr(buf, i_name, i_sep if i_sep is not None else i_end)
    if not name:
        raise ExecError(E.EACCES, "#! interpreter is the empty path (Linux opens the working "
                                  "directory, which is not a regular file)")
    arg = _cstr(buf, i_arg, i_end) if i_arg is not None else None
    return os.fsdecode(name), (os.fsdecode(arg) if arg is not None else None)


def shebang_argv(interp: str | bytes, arg: str | bytes | None, script_path: str | bytes,
                 argv: Sequence[str | bytes]) -> list[bytes]:
    """The interpreter's argv, as load_script() splices it: ``interp [arg] script_path argv[1:]``.

    ``script_path`` is the pathname given to execve (Linux: bprm->interp, which is bprm->filename
    here; for fexecve/execveat it is the "/dev/fd/N" form). argv[0] is dropped (remove_arg_zero).
    An empty argv counts as [""] (Linux >= 5.18 inserts an empty argv[0]), so the result is
    the same as for a one-element argv.
    """
    out = [_b(interp)]
    if arg is not None:
        out.append(_b(arg))
    out.append(_b(script_path))
    out.extend(_b(a) for a in list(argv)[1:])
    return out


def check_script_depth(rewrites: int) -> None:
    """Raise ELOOP if ``rewrites`` #! rewrites are more than Linux allows (MAX_SCRIPT_DEPTH).

    The caller loops: read the file, ``parse_shebang``; if it is a script, count one rewrite,
    call this, switch to the interpreter, repeat; an ELF ends the loop.
    """
    if rewrites > MAX_SCRIPT_DEPTH:
        raise ExecError(E.ELOOP, f"more than {MAX_SCRIPT_DEPTH} levels of #! interpreters")


# --- argument limits ----------------------------------------------------------------------------

def check_arg_limits(argv: Sequence[str | bytes], envp: Sequence[str | bytes],
                     execfn: str | bytes, rlimit_stack: int = DEFAULT_STACK_RLIMIT) -> None:
    """Raise ExecError(E2BIG) where Linux's execve would.

    fs/exec.c: each string, NUL included, must be at most MAX_ARG_STRLEN (valid_arg_len); and
    the execfn, envp and argv strings (NULs included) plus one pointer per argv/envp entry
    (at least one argv entry; an empty argv gets "") must fit in :func:`arg_strings_limit` (bprm_stack_limits, then
    copy_string_kernel / copy_strings failing when bprm->p drops below bprm->argmin). Checked on
    Linux 6.18: exactly at the limit runs, one byte more gets E2BIG.
    """
    argc, envc = len(argv), len(envp)
    if argc > MAX_ARG_STRINGS or envc > MAX_ARG_STRINGS:
        raise ExecError(E.E2BIG, "too many argv/envp strings")
    limit = arg_strings_limit(rlimit_stack)
    ptr_size = (max(argc, 1) + envc) * _WORD
    if limit <= ptr_size:
        raise ExecError(E.E2BIG, f"{argc} arguments and {envc} environment strings need "
                                 f"{ptr_size} bytes of pointers, over the {limit}-byte limit")
    total = 0
    for what, strings in (("execfn", [execfn]), ("environment string", envp), ("argument", argv)):
        for s in strings:
            n = len(_b(s)) + 1
            if n > MAX_ARG_STRLEN:
                raise ExecError(E.E2BIG, f"{what} of {n - 1} bytes is longer than "
                                         f"MAX_ARG_STRLEN ({MAX_ARG_STRLEN} with its NUL)")
            total += n
    if argc == 0:
        total += 1  # the "" Linux >= 5.18 copies in as argv[0], after the same check
    if total > limit - ptr_size:
        raise ExecError(E.E2BIG, f"argument list too long: {total} bytes of strings and {ptr_size} "
                                 f"of pointers exceed {limit}")


# --- the auxiliary vector -----------------------------------------------------------------------

class ExecCreds(NamedTuple):
    """The credentials the new image runs with (after set-user-ID handling)."""

    uid: int
    euid: int
    gid: int
    egid: int


def standard_auxv(image: ElfImage, load_bias: int, interp_base: int, creds, hwcap: int,
                  clktck: int = 100, *, hwcap2: int = 0, sysinfo_ehdr: int | None = None,
                  minsigstksz: int = MINSIGSTKSZ, secure: bool | None = None,
                  flags: int = 0) -> list[tuple[int, int]]:
    """The auxv Linux's create_elf_tables() writes for x86-64, in its order, without AT_NULL.

    ``image``/``load_bias`` describe the main program (not the interpreter); ``interp_base`` is
    the interpreter's load address (AT_BASE), 0 without one. ``creds`` is an :class:`ExecCreds`
    or any object with uid/euid/gid/egid, or a (uid, euid, gid, egid) tuple. ``secure``
    (AT_SECURE) defaults to "uid != euid or gid != egid". AT_SYSINFO_EHDR is included only when
    the caller maps a vDSO (``sysinfo_ehdr``).

    AT_RANDOM, AT_EXECFN and AT_PLATFORM appear with value 0: :func:`build_initial_stack` places
    those strings and fills them in. AT_RSEQ_FEATURE_SIZE/AT_RSEQ_ALIGN follow as Linux >= 6.3
    sends them (CONFIG_RSEQ); newer kernels' AT_HWCAP3/4 are left out.
    """
    if isinstance(creds, tuple) and not hasattr(creds, "uid"):
        creds = ExecCreds(*creds)
    uid, euid, gid, egid = creds.uid, creds.euid, creds.gid, creds.egid
    if secure is None:
        secure = uid != euid or gid != egid
    auxv: list[tuple[int, int]] = []
    # ARCH_DLINFO (arch/x86/include/asm/elf.h) comes first: vDSO if enabled, then AT_MINSIGSTKSZ.
    if sysinfo_ehdr is not None:
        auxv.append((AT_SYSINFO_EHDR, sysinfo_ehdr))
    auxv += [
        (AT_MINSIGSTKSZ, minsigstksz),
        (AT_HWCAP, hwcap),
        (AT_PAGESZ, PAGE_SIZE),                 # ELF_EXEC_PAGESIZE
        (AT_CLKTCK, clktck),                    # CLOCKS_PER_SEC (USER_HZ)
        # AT_PHDR: Linux adds the bias to 0 when the headers are not in any PT_LOAD.
        (AT_PHDR, (image.phdr_vaddr or 0) + load_bias),
        (AT_PHENT, ELF64_PHDR_SIZE),            # sizeof(struct elf_phdr), not e_phentsize
        (AT_PHNUM, image.phnum),
        (AT_BASE, interp_base),
        (AT_FLAGS, flags),
        (AT_ENTRY, image.entry + load_bias),    # the program's entry, even with an interpreter
        (AT_UID, uid),
        (AT_EUID, euid),
        (AT_GID, gid),
        (AT_EGID, egid),
        (AT_SECURE, int(bool(secure))),
        (AT_RANDOM, 0),
        (AT_HWCAP2, hwcap2),
        (AT_EXECFN, 0),
        (AT_PLATFORM, 0),
        # CONFIG_RSEQ: what rseq(2) accepts (syscalls/sys_rseq.py)
        (AT_RSEQ_FEATURE_SIZE, RSEQ_FEATURE_SIZE),
        (AT_RSEQ_ALIGN, RSEQ_ALIGN),
    ]
    return auxv


# --- the initial stack --------------------------------------------------------------------------

@dataclass(frozen=True)
class InitialStack:
    """The new program's stack, from ``sp`` (rsp at entry) up to the stack top.

    ``data`` is exactly ``stack_top - sp`` bytes to write at ``sp``. The other fields are the
    addresses the kernel keeps (Linux: mm->arg_start/arg_end/env_start/env_end, for
    /proc/self/cmdline and /proc/self/environ; mm->saved_auxv for /proc/self/auxv).
    """

    sp: int
    data: bytes
    argc: int
    argv_ptrs: tuple[int, ...]
    envp_ptrs: tuple[int, ...]
    arg_start: int
    arg_end: int
    env_start: int
    env_end: int
    execfn_addr: int
    platform_addr: int | None
    random_addr: int
    auxv: tuple[tuple[int, int], ...]   # as written, values filled in, without AT_NULL


def _fill_auxv(auxv: Iterable[tuple[int, int]], filled: dict[int, int]) -> list[tuple[int, int]]:
    """Put the placed strings' addresses into the caller's auxv; add what is missing at the end."""
    out = []
    pending = dict(filled)
    for a_type, value in auxv:
        a_type, value = int(a_type), int(value)
        if a_type == AT_NULL:
            break
        if a_type in (AT_RANDOM, AT_EXECFN, AT_PLATFORM):
            if a_type not in pending:
                continue  # AT_PLATFORM with platform=None, or a duplicate
            value = pending.pop(a_type)
        out.append((a_type, value))
    # Missing ones go in Linux's relative order: AT_RANDOM, AT_EXECFN, AT_PLATFORM.
    for a_type in (AT_RANDOM, AT_EXECFN, AT_PLATFORM):
        if a_type in pending:
            out.append((a_type, pending.pop(a_type)))
    return out


def layout_initial_stack(stack_top: int, argv: Sequence[str | bytes], envp: Sequence[str | bytes],
                         auxv: Iterable[tuple[int, int]], execfn: str | bytes, *,
                         platform: bytes | str | None = b"x86_64", random16: bytes,
                         rlimit_stack: int = DEFAULT_STACK_RLIMIT) -> InitialStack:
    """Lay out the initial stack as Linux does; see :func:`build_initial_stack`."""
    if stack_top % 16:
        raise ValueError(f"stack_top {stack_top:#x} is not 16-byte aligned")
    random16 = bytes(random16)
    if len(random16) != 16:
        raise ValueError(f"random16 must be 16 bytes, got {len(random16)}")
    argv_b = [_b(a) for a in argv]
    envp_b = [_b(e) for e in envp]
    execfn_b = _b(execfn)
    platform_b = _b(platform) if platform is not None else None
    check_arg_limits(argv_b, envp_b, execfn_b, rlimit_stack)
    if not argv_b:
        # do_execveat_common() (Linux >= 5.18): "When argv is empty, add an empty string ("") as
        # argv[0] to ensure confused userspace programs that start processing from argv[1] won't
        # end up walking envp."
        argv_b = [b""]

    # fs/exec.c: bprm->p starts one pointer below the top (the top word stays 0), then
    # copy_string_kernel(filename), copy_strings(envp), copy_strings(argv) each copy downwards,
    # last string first, so the strings ascend argv[0] ... argv[n], envp[0] ... envp[m], execfn.
    p = stack_top - _WORD
    p -= len(execfn_b) + 1
    execfn_addr = p
    env_end = p
    p -= sum(len(e) + 1 for e in envp_b)
    env_start = p
    arg_end = p
    p -= sum(len(a) + 1 for a in argv_b)
    arg_start = p

    # fs/binfmt_elf.c create_elf_tables(): p = arch_align_stack(p) (x86: minus a random amount
    # under ASLR, which we do not add, then & ~0xf); then STACK_ALLOC the platform string and
    # the 16 AT_RANDOM bytes.
    p &= ~15
    platform_addr = None
    if platform_b is not None:
        p -= len(platform_b) + 1
        platform_addr = p
    p -= 16
    random_addr = p

    filled = {AT_RANDOM: random_addr, AT_EXECFN: execfn_addr}
    if platform_addr is not None:
        filled[AT_PLATFORM] = platform_addr
    final_auxv = _fill_auxv(auxv, filled)
    ei_words = 2 * (len(final_auxv) + 1)          # + the AT_NULL pair
    argc, envc = len(argv_b), len(envp_b)
    items = (argc + 1) + (envc + 1) + 1
    # sp = STACK_ADD(p, ei_index); bprm->p = STACK_ROUND(sp, items): x86 rounds down to 16, so
    # rsp % 16 == 0 at the entry point, as the x86-64 psABI requires.
    sp = (p - ei_words * _WORD - items * _WORD) & ~15

    argv_ptrs, q = [], arg_start
    for a in argv_b:
        argv_ptrs.append(q)
        q += len(a) + 1
    envp_ptrs, q = [], env_start
    for e in envp_b:
        envp_ptrs.append(q)
        q += len(e) + 1

    buf = bytearray(stack_top - sp)

    def put(addr: int, blob: bytes) -> None:
        buf[addr - sp:addr - sp + len(blob)] = blob

    words = [argc, *argv_ptrs, 0, *envp_ptrs, 0]
    for a_type, value in final_auxv:
        words += [a_type, value]
    words += [AT_NULL, 0]
    put(sp, struct.pack(f"<{len(words)}Q", *(w & 0xFFFF_FFFF_FFFF_FFFF for w in words)))
    put(random_addr, random16)
    if platform_b is not None:
        put(platform_addr, platform_b + b"\0")
    put(arg_start, b"".join(a + b"\0" for a in argv_b))
    put(env_start, b"".join(e + b"\0" for e in envp_b))
    put(execfn_addr, execfn_b + b"\0")
    return InitialStack(
        sp=sp, data=bytes(buf), argc=argc, argv_ptrs=tuple(argv_ptrs), envp_ptrs=tuple(envp_ptrs),
        arg_start=arg_start, arg_end=arg_end, env_start=env_start, env_end=env_end,
        execfn_addr=execfn_addr, platform_addr=platform_addr, random_addr=random_addr,
        auxv=tuple(final_auxv))


def build_initial_stack(stack_top: int, argv: Sequence[str | bytes], envp: Sequence[str | bytes],
                        auxv: Iterable[tuple[int, int]], execfn: str | bytes, *,
                        platform: bytes | str | None = b"x86_64", random16: bytes,
                        rlimit_stack: int = DEFAULT_STACK_RLIMIT) -> tuple[int, bytes]:
    """The initial process stack: ``(sp, bytes to write at sp)``; rsp = sp at the entry point.

    Linux's layout (fs/exec.c + fs/binfmt_elf.c create_elf_tables()), from ``stack_top`` down::

        stack_top - 8   8 zero bytes
                        execfn string (AT_EXECFN points here)
                        envp strings, then below them argv strings (each NUL-terminated,
                        argv[0] lowest)
                        0-15 bytes to align to 16
                        platform string "x86_64" (AT_PLATFORM)
                        16 random bytes (AT_RANDOM)
                        0-15 bytes of padding, so that sp below ends 16-aligned
                        auxv pairs ..., AT_NULL 0
                        envp pointers ..., NULL
                        argv pointers ..., NULL
        sp  ->          argc

    ``auxv`` is the caller's list of (type, value) (e.g. :func:`standard_auxv`); a trailing
    AT_NULL is optional. The values of AT_RANDOM, AT_EXECFN and AT_PLATFORM are filled in here;
    if the list lacks them they are appended (AT_PLATFORM only when ``platform`` is not None).
    Raises ExecError(E2BIG) as Linux's execve would (:func:`check_arg_limits`). An empty argv
    becomes [""] as on Linux >= 5.18. Unlike Linux under ASLR, nothing random is added between
    the strings and the platform string.
    """
    st = layout_initial_stack(stack_top, argv, envp, auxv, execfn, platform=platform,
                              random16=random16, rlimit_stack=rlimit_stack)
    return st.sp, st.data
