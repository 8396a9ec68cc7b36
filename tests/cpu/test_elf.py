"""parse_elf / choose_load_bias, with readelf and the running Linux kernel as oracles."""
from __future__ import annotations

import errno
import os
import re
import resource
import shutil
import struct
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ecs_kernel.abi import ET_DYN, ET_EXEC, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE, TASK_SIZE
from ecs_kernel.cpu.elf import choose_load_bias, ELF_ET_DYN_BASE, ElfImage, ExecError, parse_elf
from ecs_kernel.errors import KernelError

LD_SO = "/lib64/ld-linux-x86-64.so.2"

PROBE_C = r"""
#include <stdio.h>
#include <sys/auxv.h>
int main(void) {
    printf("%lu %lu %lu\n", getauxval(AT_PHDR), getauxval(AT_BASE), getauxval(AT_ENTRY));
    return 0;
}
"""


def _gcc(src_dir, name, source, *flags):
    c = src_dir / f"{name}.c"
    c.write_text(source)
    out = src_dir / name
    subprocess.run(["gcc", "-O1", "-o", str(out), str(c), *flags], check=True, capture_output=True)
    return str(out)


@pytest.fixture(scope="module")
def bins(tmp_path_factory):
    """Tiny programs built with the host gcc: static, static-pie, PIE, no-PIE, odd link flags."""
    d = tmp_path_factory.mktemp("elfbins")
    return {
        "static": _gcc(d, "static", PROBE_C, "-static"),
        "static_pie": _gcc(d, "static_pie", PROBE_C, "-static-pie"),
        "pie": _gcc(d, "pie", PROBE_C, "-pie", "-fPIE"),
        "nopie": _gcc(d, "nopie", PROBE_C, "-no-pie"),
        "execstack": _gcc(d, "execstack", PROBE_C, "-static", "-z", "execstack"),
        "bigalign_pie": _gcc(d, "bigalign_pie", PROBE_C, "-pie", "-fPIE",
                             "-Wl,-z,max-page-size=0x200000"),
        "bigalign_static_pie": _gcc(d, "bigalign_static_pie", PROBE_C, "-static-pie",
                                    "-Wl,-z,max-page-size=0x200000"),
        "tls": _gcc(d, "tls", "__thread int t = 3; int main(void) { return t - 3; }\n", "-static"),
        "object": _obj(d),
    }


def _obj(d):
    c = d / "obj.c"
    c.write_text("int f(void) { return 1; }\n")
    subprocess.run(["gcc", "-c", "-o", str(d / "obj.o"), str(c)], check=True)
    return str(d / "obj.o")


def _load(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


# --- readelf as the oracle ------------------------------------------------------------------------

_PH_RE = re.compile(r"^\s+(\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)"
                    r"\s+0x([0-9a-f]+)\s+([RWE ]+?)\s+0x([0-9a-f]+)\s*$")


def readelf(path):
    out = subprocess.run(["readelf", "-lhW", path], check=True, capture_output=True, text=True).stdout
    hdr = {
        "type": re.search(r"Type:\s+(\w+)", out).group(1),
        "entry": int(re.search(r"Entry point address:\s+0x([0-9a-f]+)", out).group(1), 16),
        "phoff": int(re.search(r"Start of program headers:\s+(\d+)", out).group(1)),
        "phent": int(re.search(r"Size of program headers:\s+(\d+)", out).group(1)),
        "phnum": int(re.search(r"Number of program headers:\s+(\d+)", out).group(1)),
    }
    m = re.search(r"\[Requesting program interpreter: (.*)\]", out)
    hdr["interp"] = m.group(1) if m else None
    phdrs = []
    for line in out.splitlines():
        m = _PH_RE.match(line)
        if m:
            t, off, va, _pa, fs, ms, flg, al = m.groups()
            phdrs.append(dict(type=t, offset=int(off, 16), vaddr=int(va, 16), filesz=int(fs, 16),
                              memsz=int(ms, 16), flags=flg.replace(" ", ""), align=int(al, 16)))
    assert len(phdrs) == hdr["phnum"], out
    hdr["phdrs"] = phdrs
    return hdr


def _prot(flags: str) -> int:
    return ((PROT_READ if "R" in flags else 0) | (PROT_WRITE if "W" in flags else 0)
            | (PROT_EXEC if "E" in flags else 0))


def check_against_readelf(path) -> ElfImage:
    img = parse_elf(_load(path), path)
    ref = readelf(path)
    assert img.e_type == {"EXEC": ET_EXEC, "DYN": ET_DYN}[ref["type"]]
    assert img.is_pie == (ref["type"] == "DYN")
    assert img.entry == ref["entry"]
    assert (img.phoff, img.phent, img.phnum) == (ref["phoff"], ref["phent"], ref["phnum"])
    assert img.interp == ref["interp"]
    loads = [p for p in ref["phdrs"] if p["type"] == "LOAD"]
    assert [(s.vaddr, s.offset, s.filesz, s.memsz, s.prot, s.align) for s in img.segments] == \
        [(p["vaddr"], p["offset"], p["filesz"], p["memsz"], _prot(p["flags"]), p["align"])
         for p in loads]
    stacks = [p for p in ref["phdrs"] if p["type"] == "GNU_STACK"]
    assert img.has_gnu_stack == bool(stacks)
    assert img.exec_stack == bool(stacks and "E" in stacks[-1]["flags"])
    assert img.has_tls == any(p["type"] == "TLS" for p in ref["phdrs"])
    assert img.span_start == loads[0]["vaddr"] & ~(PAGE_SIZE - 1)
    assert img.span_end == max(-(-(p["vaddr"] + p["memsz"]) // PAGE_SIZE) * PAGE_SIZE for p in loads)
    # AT_PHDR: PT_PHDR when present, and the PT_LOAD holding e_phoff must agree with it.
    covering = [p["vaddr"] + img.phoff - p["offset"] for p in loads
                if p["offset"] <= img.phoff < p["offset"] + p["filesz"]]
    pt_phdr = [p["vaddr"] for p in ref["phdrs"] if p["type"] == "PHDR"]
    if pt_phdr:
        assert img.phdr_vaddr == pt_phdr[0]
    if covering:
        assert img.phdr_vaddr == covering[0]
    return img


def test_static_binary_matches_readelf(bins):
    img = check_against_readelf(bins["static"])
    assert img.e_type == ET_EXEC and img.interp is None and not img.is_pie
    assert img.has_tls  # static glibc carries a PT_TLS


def test_static_pie_matches_readelf(bins):
    img = check_against_readelf(bins["static_pie"])
    assert img.e_type == ET_DYN and img.interp is None


def test_dynamic_pie_names_the_glibc_interpreter(bins):
    img = check_against_readelf(bins["pie"])
    assert img.e_type == ET_DYN and img.interp == LD_SO


def test_dynamic_non_pie_is_et_exec_with_interpreter(bins):
    img = check_against_readelf(bins["nopie"])
    assert img.e_type == ET_EXEC and img.interp == LD_SO


def test_execstack_flag_is_seen(bins):
    assert check_against_readelf(bins["execstack"]).exec_stack
    assert not check_against_readelf(bins["static"]).exec_stack


def test_tls_program(bins):
    assert check_against_readelf(bins["tls"]).has_tls


def test_large_p_align_is_reported(bins):
    assert check_against_readelf(bins["bigalign_pie"]).max_align == 0x200000


@pytest.mark.parametrize("path", ["/bin/ls", "/usr/bin/python3", LD_SO, "/bin/sh"])
def test_system_binaries_match_readelf(path):
    real = os.path.realpath(path)
    if not os.path.exists(real):
        pytest.skip(f"{path} is not installed on this host")
    check_against_readelf(real)


def test_bin_ls_is_dynamic():
    img = parse_elf(_load("/bin/ls"), "/bin/ls")
    assert img.interp == LD_SO


# --- load bias ------------------------------------------------------------------------------------

# Without ASLR (setarch -R) and with an 8 MiB stack rlimit, Linux's x86-64 mmap_base() is
# PAGE_ALIGN(TASK_SIZE - gap) with gap clamped up to 128 MiB (arch/x86/mm/mmap.c).
NO_ASLR_MMAP_BASE = TASK_SIZE - 128 * 1024 * 1024


def test_et_exec_has_zero_bias(bins):
    img = parse_elf(_load(bins["static"]), "static")
    assert choose_load_bias(img, NO_ASLR_MMAP_BASE) == 0


def test_pie_goes_to_two_thirds_of_the_address_space(bins):
    img = parse_elf(_load(bins["pie"]), "pie")
    assert choose_load_bias(img, NO_ASLR_MMAP_BASE) == 0x555555554000
    assert ELF_ET_DYN_BASE & ~(PAGE_SIZE - 1) == 0x555555554000


def test_pie_bias_honours_large_alignment(bins):
    img = parse_elf(_load(bins["bigalign_pie"]), "bigalign_pie")
    assert choose_load_bias(img, NO_ASLR_MMAP_BASE) == 0x555555400000


@pytest.mark.parametrize("name", ["static_pie", "bigalign_static_pie"])
def test_loader_style_et_dyn_goes_below_the_mmap_base(bins, name):
    img = parse_elf(_load(bins[name]), name)
    bias = choose_load_bias(img, NO_ASLR_MMAP_BASE)
    assert bias % img.max_align == 0
    assert bias + img.span_end <= NO_ASLR_MMAP_BASE
    assert NO_ASLR_MMAP_BASE - (bias + img.span_end) < img.max_align


def test_load_bias_is_random_offset_aware(bins):
    img = parse_elf(_load(bins["pie"]), "pie")
    assert choose_load_bias(img, NO_ASLR_MMAP_BASE, random_offset=0x10000) == 0x555555564000


def test_load_bias_too_big_for_mmap_area_is_enomem(bins):
    img = parse_elf(_load(bins["static_pie"]), "static_pie")
    with pytest.raises(ExecError) as ei:
        choose_load_bias(img, 0x20000)
    assert ei.value.errno == errno.ENOMEM


def _run_no_aslr(path):
    def limit_stack():
        resource.setrlimit(resource.RLIMIT_STACK, (8 << 20, resource.getrlimit(resource.RLIMIT_STACK)[1]))
    r = subprocess.run(["setarch", "-R", path], capture_output=True, text=True, preexec_fn=limit_stack)
    if r.returncode != 0:
        pytest.skip(f"setarch -R does not work here: {r.stderr.strip()}")
    return [int(x) for x in r.stdout.split()]


@pytest.mark.skipif(shutil.which("setarch") is None, reason="setarch (util-linux) is not installed")
@pytest.mark.parametrize("name", ["pie", "static_pie", "bigalign_pie", "static", "nopie"])
def test_load_addresses_match_linux_without_aslr(bins, name):
    """AT_PHDR, AT_ENTRY and AT_BASE seen by the program natively under setarch -R."""
    at_phdr, at_base, at_entry = _run_no_aslr(bins[name])
    img = parse_elf(_load(bins[name]), name)
    bias = choose_load_bias(img, NO_ASLR_MMAP_BASE)
    assert at_phdr == img.phdr_vaddr + bias
    assert at_entry == img.entry + bias
    if img.interp is not None:
        # ld.so has no PT_INTERP, so it goes below the mmap base, the first thing mapped there.
        ld = parse_elf(_load(img.interp), img.interp)
        assert at_base == choose_load_bias(ld, NO_ASLR_MMAP_BASE) + ld.span_start
    else:
        assert at_base == 0


# --- malformed files --------------------------------------------------------------------------

def _ph(i):
    return 64 + 56 * i


def _patch(data, fmt, off, *vals):
    d = bytearray(data)
    struct.pack_into(fmt, d, off, *vals)
    return bytes(d)


def _swap_phdrs(data, i, j):
    d = bytearray(data)
    a, b = d[_ph(i):_ph(i) + 56], d[_ph(j):_ph(j) + 56]
    d[_ph(i):_ph(i) + 56], d[_ph(j):_ph(j) + 56] = b, a
    return bytes(d)


def _load_index(data, n):
    """Program header index of the n-th PT_LOAD."""
    phnum = struct.unpack_from("<H", data, 56)[0]
    loads = [i for i in range(phnum) if struct.unpack_from("<I", data, _ph(i))[0] == 1]
    return loads[n]


def _interp_index(data):
    phnum = struct.unpack_from("<H", data, 56)[0]
    return next(i for i in range(phnum) if struct.unpack_from("<I", data, _ph(i))[0] == 3)


def _last_load(data):
    phnum = struct.unpack_from("<H", data, 56)[0]
    return [i for i in range(phnum) if struct.unpack_from("<I", data, _ph(i))[0] == 1][-1]


def _vaddr(data, i):
    return struct.unpack_from("<Q", data, _ph(i) + 16)[0]


def _set_vaddr(data, i, vaddr):
    return _patch(data, "<QQ", _ph(i) + 16, vaddr, vaddr)   # p_vaddr, p_paddr


def _interp_last_byte(data):
    i = _interp_index(data)
    off, = struct.unpack_from("<Q", data, _ph(i) + 8)
    fs, = struct.unpack_from("<Q", data, _ph(i) + 32)
    d = bytearray(data)
    d[off + fs - 1] = ord("x")
    return bytes(d)


# (name, which binary, corruption, our errno, message fragment, what Linux does natively):
#   an int: execve fails with that errno; "SIGSEGV": the kernel fails past the point of no
#   return (our errno is its retval) and kills the process; "runs": we are stricter than Linux.
CORRUPTIONS = [
    ("arm machine", "static", lambda d: _patch(d, "<H", 18, 40), errno.ENOEXEC, "EM_ARM", errno.ENOEXEC),
    ("aarch64 machine", "static", lambda d: _patch(d, "<H", 18, 183), errno.ENOEXEC, "EM_AARCH64", errno.ENOEXEC),
    ("ET_REL", "static", lambda d: _patch(d, "<H", 16, 1), errno.ENOEXEC, "ET_REL", errno.ENOEXEC),
    ("ET_CORE", "static", lambda d: _patch(d, "<H", 16, 4), errno.ENOEXEC, "ET_CORE", errno.ENOEXEC),
    ("32-bit class byte", "static", lambda d: d[:4] + b"\x01" + d[5:], errno.ENOEXEC, "32-bit ELF is not supported", "runs"),
    ("big-endian", "static", lambda d: d[:5] + b"\x02" + d[6:], errno.ENOEXEC, "big-endian", "runs"),
    ("bad class", "static", lambda d: d[:4] + b"\x07" + d[5:], errno.ENOEXEC, "class", "runs"),
    ("phentsize", "static", lambda d: _patch(d, "<H", 54, 32), errno.ENOEXEC, "e_phentsize", errno.ENOEXEC),
    ("no phdrs", "static", lambda d: _patch(d, "<H", 56, 0), errno.ENOEXEC, "program header count", errno.ENOEXEC),
    ("PN_XNUM phdrs", "static", lambda d: _patch(d, "<H", 56, 0xFFFF), errno.ENOEXEC, "program header count", errno.ENOEXEC),
    ("phoff past EOF", "static", lambda d: _patch(d, "<Q", 32, len(d) - 10), errno.ENOEXEC, "truncated", errno.ENOEXEC),
    ("phoff huge", "static", lambda d: _patch(d, "<Q", 32, 2**64 - 8), errno.ENOEXEC, "truncated", errno.ENOEXEC),
    ("filesz > memsz", "static", lambda d: _patch(d, "<Q", _ph(_last_load(d)) + 32, 1 << 28), errno.EINVAL, "p_filesz", "SIGSEGV"),
    ("memsz wraps", "static", lambda d: _patch(d, "<Q", _ph(_last_load(d)) + 40, 2**64 - 4096), errno.EINVAL, "address space", "SIGSEGV"),
    ("memsz past 2^47", "static", lambda d: _patch(d, "<Q", _ph(_last_load(d)) + 40, 1 << 47), errno.EINVAL, "address space", "SIGSEGV"),
    ("entry past 2^47", "static", lambda d: _patch(d, "<Q", 24, 1 << 47), errno.EINVAL, "entry point", "SIGSEGV"),
    ("unsorted PT_LOAD", "static", lambda d: _swap_phdrs(d, _load_index(d, 1), _load_index(d, 2)), errno.ENOEXEC, "not sorted", "runs"),
    ("overlapping PT_LOAD", "static", lambda d: _set_vaddr(d, _load_index(d, 1), _vaddr(d, _load_index(d, 0))),
     errno.ENOEXEC, "overlap", "SIGSEGV"),
    ("offset/vaddr not congruent", "static", lambda d: _set_vaddr(d, _last_load(d), _vaddr(d, _last_load(d)) + 1),
     errno.EINVAL, "congruent", "SIGSEGV"),
    ("segment past EOF", "static", lambda d: _patch(d, "<Q", _ph(_last_load(d)) + 8, len(d)), errno.ENOEXEC, "truncated", "SIGSEGV"),
    ("PT_INTERP without NUL", "pie", _interp_last_byte, errno.ENOEXEC, "NUL-terminated", errno.ENOEXEC),
    ("PT_INTERP longer than PATH_MAX", "pie", lambda d: _patch(d, "<Q", _ph(_interp_index(d)) + 32, 5000), errno.ENOEXEC, "PATH_MAX", errno.ENOEXEC),
    ("PT_INTERP of 1 byte", "pie", lambda d: _patch(d, "<Q", _ph(_interp_index(d)) + 32, 1), errno.ENOEXEC, "PATH_MAX", errno.ENOEXEC),
    ("PT_INTERP past EOF", "pie", lambda d: _patch(d, "<Q", _ph(_interp_index(d)) + 8, len(d) - 5), errno.EIO, "truncated", errno.EIO),
]


@pytest.mark.parametrize("name,binary,corrupt,want_errno,fragment,linux", CORRUPTIONS,
                         ids=[c[0] for c in CORRUPTIONS])
def test_corrupt_elf_is_rejected_like_linux(bins, tmp_path, name, binary, corrupt, want_errno,
                                            fragment, linux):
    data = corrupt(_load(bins[binary]))
    with pytest.raises(ExecError) as ei:
        parse_elf(data, "prog")
    assert ei.value.errno == want_errno
    msg = str(ei.value)
    assert fragment in msg and "prog" in msg and "\n" not in msg
    # The running kernel as the oracle.
    exe = tmp_path / "corrupt"
    exe.write_bytes(data)
    exe.chmod(0o755)
    try:
        r = subprocess.run([str(exe)], capture_output=True, timeout=10)
    except OSError as e:
        assert linux == e.errno, f"Linux failed execve with {errno.errorcode[e.errno]}"
        return
    if linux == "SIGSEGV":
        assert r.returncode == -11
    else:
        assert linux == "runs", f"Linux ran it (status {r.returncode})"


def test_exec_error_is_a_kernel_error():
    with pytest.raises(KernelError) as ei:
        parse_elf(b"", "empty")
    assert ei.value.errno == errno.ENOEXEC
    assert str(ei.value) == "ENOEXEC: empty: not an ELF file"


@pytest.mark.parametrize("data", [
    b"", b"\x7f", b"\x7fEL", b"\x7fELF", b"hello world\n", b"#!/bin/sh\necho hi\n",
    b"MZ" + bytes(200), bytes(64), b"\x7fELF" + bytes(60), b"\x7fELF\x02\x01\x01" + bytes(20),
    b"\x7fELF\x02\x01\x01" + bytes(57),
], ids=lambda d: f"{len(d)}-bytes")
def test_non_elf_and_tiny_files_are_enoexec(data):
    with pytest.raises(ExecError) as ei:
        parse_elf(data, "f")
    assert ei.value.errno == errno.ENOEXEC
    msg = str(ei.value)
    assert any(f in msg for f in ("not an ELF file", "invalid ELF class", "ET_NONE")), msg


def test_handmade_32bit_elf_header():
    ehdr = b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, 0x8048000,
                                                            52, 0, 0, 52, 32, 1, 40, 0, 0)
    with pytest.raises(ExecError, match="32-bit ELF is not supported"):
        parse_elf(ehdr + bytes(64), "x86")


def test_object_file_is_enoexec(bins):
    with pytest.raises(ExecError, match="ET_REL") as ei:
        parse_elf(_load(bins["object"]), "obj.o")
    assert ei.value.errno == errno.ENOEXEC


def test_empty_pt_interp_path_is_kept_for_the_opener(bins):
    """A PT_INTERP of b"\\0\\0" is the empty path: Linux passes it to open_exec and fails there."""
    d = _load(bins["pie"])
    i = _interp_index(d)
    off, = struct.unpack_from("<Q", d, _ph(i) + 8)
    d = d[:off] + b"\0" + d[off + 1:]
    assert parse_elf(d, "p").interp == ""


def test_section_headers_are_ignored_like_linux(bins):
    """Linux never reads section headers; garbage there must not matter."""
    d = _patch(_load(bins["static"]), "<Q", 40, 2**63)                  # e_shoff
    d = _patch(d, "<HHH", 58, 0x7777, 0xFFFF, 0xFFFF)                      # shentsize, shnum, shstrndx
    assert parse_elf(d, "p").segments == parse_elf(_load(bins["static"]), "p").segments


def _check_invariants(img: ElfImage, size: int):
    assert img.e_type in (ET_EXEC, ET_DYN)
    assert img.segments
    for a, b in zip(img.segments, img.segments[1:]):
        assert a.vaddr + a.memsz <= b.vaddr
    for s in img.segments:
        assert s.filesz <= s.memsz and s.vaddr + s.memsz <= TASK_SIZE
        assert s.filesz == 0 or s.offset + s.filesz <= size
    assert img.span_start % PAGE_SIZE == 0 and img.span_end % PAGE_SIZE == 0
    assert img.span_end <= TASK_SIZE
    try:  # whatever parsed, a bias is chosen or refused cleanly
        bias = choose_load_bias(img, NO_ASLR_MMAP_BASE)
    except ExecError as e:
        assert e.errno == errno.ENOMEM
    else:
        assert bias % PAGE_SIZE == 0
        assert bias + img.span_end <= TASK_SIZE


def test_truncation_at_many_offsets(bins):
    for name in ("static", "pie", "static_pie"):
        data = _load(bins[name])
        img = parse_elf(data, name)
        file_end = max(s.offset + s.filesz for s in img.segments)
        offsets = sorted(set(range(0, 1200, 7)) | set(range(0, len(data), max(1, len(data) // 150)))
                         | {file_end - 1, file_end, len(data) - 1})
        for n in offsets:
            if n >= file_end:
                # Only section headers and the like are cut: Linux would run it.
                _check_invariants(parse_elf(data[:n], name), n)
                continue
            with pytest.raises(ExecError) as ei:
                parse_elf(data[:n], name)
            assert ei.value.errno in (errno.ENOEXEC, errno.EIO), (n, str(ei.value))


@pytest.fixture(scope="module")
def small_static(bins):
    return _load(bins["static"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_byte_flips_never_escape_as_other_exceptions(small_static, data):
    buf = bytearray(small_static)
    phnum = struct.unpack_from("<H", buf, 56)[0]
    header_end = 64 + 56 * phnum
    n = data.draw(st.integers(1, 12))
    for _ in range(n):
        # Mostly the headers (where parsing happens), sometimes anywhere.
        hi = header_end - 1 if data.draw(st.booleans()) else len(buf) - 1
        pos = data.draw(st.integers(0, hi))
        buf[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(buf))))
    blob = bytes(buf if cut is None else buf[:cut])
    try:
        img = parse_elf(blob, "fuzz")
    except ExecError as e:
        assert e.errno in (errno.ENOEXEC, errno.EINVAL, errno.EIO)
        assert "\n" not in str(e)
        return
    _check_invariants(img, len(blob))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=600))
def test_random_bytes_after_the_magic(tail):
    for prefix in (b"\x7fELF", b"\x7fELF\x02\x01\x01" + bytes(9)):
        try:
            img = parse_elf(prefix + tail, "fuzz")
        except ExecError:
            continue
        _check_invariants(img, len(prefix + tail))


@pytest.mark.parametrize("binary", ["static", "pie"])
def test_section_headers_are_never_read_as_on_linux(bins, tmp_path, binary):
    """binfmt_elf looks at the ELF header and the program headers only: a file whose section
    header fields are garbage (table past the end of the file, bad entry size, string-table index
    out of range) runs natively, and parses here to the same image as the intact file."""
    data = _load(bins[binary])
    # e_shoff, then e_shentsize, e_shnum, e_shstrndx
    bad = _patch(_patch(data, "<Q", 40, 2**63 + 5), "<HHH", 58, 3, 0xFFF0, 0xFFF1)
    assert parse_elf(bad, "prog") == parse_elf(data, "prog")
    exe = tmp_path / "noshdr"
    exe.write_bytes(bad)
    exe.chmod(0o755)
    r = subprocess.run([str(exe)], capture_output=True, timeout=10)
    native = subprocess.run([str(bins[binary])], capture_output=True, timeout=10)
    # (the binaries print addresses, which ASLR moves)
    assert r.returncode == native.returncode == 0
    assert len(r.stdout.split()) == len(native.stdout.split()) > 0
