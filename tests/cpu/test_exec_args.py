"""#! scripts, execve argument limits and the initial stack, with the running Linux as the oracle."""
from __future__ import annotations

import errno
import os
import resource
import shutil
import stat
import struct
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ecs_kernel.abi import (AT_BASE, AT_CLKTCK, AT_EGID, AT_ENTRY, AT_EUID, AT_EXECFN, AT_FLAGS,
                            AT_GID, AT_HWCAP, AT_HWCAP2, AT_HWCAP3, AT_HWCAP4, AT_MINSIGSTKSZ,
                            AT_NULL, AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PLATFORM,
                            AT_RANDOM, AT_RSEQ_ALIGN, AT_RSEQ_FEATURE_SIZE, AT_SECURE,
                            AT_SYSINFO_EHDR, AT_UID, BINPRM_BUF_SIZE, MAX_ARG_STRLEN)
from ecs_kernel.cpu.elf import ExecError, parse_elf
from ecs_kernel.cpu.exec_args import (arg_strings_limit, build_initial_stack, check_arg_limits,
                                      check_script_depth, ExecCreds, layout_initial_stack,
                                      MAX_SCRIPT_DEPTH, parse_shebang, shebang_argv, standard_auxv)

PRINTARGS_C = r"""
#include <stdio.h>
int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++) { fputs(argv[i], stdout); putchar(0); }
    return 0;
}
"""

# Prints: "sp top", then getauxval() of AT_PAGESZ AT_PHNUM AT_ENTRY, then the AT_EXECFN string, then
# the whole initial stack from sp (rsp at entry: &argc) to the stack top as hex. The top is one
# pointer above the end of the execfn string (fs/exec.c: bprm->p = vm_end - sizeof(void *)).
STACKDUMP_C = r"""
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
int main(int argc, char **argv) {
    unsigned char *sp = (unsigned char *)argv - sizeof(long);
    const char *fn = (const char *)getauxval(AT_EXECFN);
    unsigned char *top = (unsigned char *)fn + strlen(fn) + 1 + sizeof(long);
    printf("%lu %lu\n", (unsigned long)sp, (unsigned long)top);
    printf("%lu %lu %lu\n", getauxval(AT_PAGESZ), getauxval(AT_PHNUM), getauxval(AT_ENTRY));
    printf("%s\n", fn);
    for (unsigned char *p = sp; p < top; p++) printf("%02x", *p);
    putchar('\n');
    return argc == 0;
}
"""

# execve(argv[1]) with an empty argv and envp (Python refuses to).
EXEC_EMPTY_C = r"""
#include <unistd.h>
int main(int argc, char **argv) {
    char *none[] = {0};
    execve(argv[1], none, none);
    return 127;
}
"""


def _gcc(d, name, source, *flags):
    (d / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-O1", "-o", str(d / name), str(d / f"{name}.c"), *flags],
                   check=True, capture_output=True)
    return str(d / name)


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    d = tmp_path_factory.mktemp("execargs")
    return {
        "dir": d,
        "printargs": _gcc(d, "printargs", PRINTARGS_C, "-static"),
        "stackdump": _gcc(d, "stackdump", STACKDUMP_C, "-static"),
        "exec_empty": _gcc(d, "exec_empty", EXEC_EMPTY_C),
    }


# --- #! scripts -----------------------------------------------------------------------------------

def native_script(path, argv, cwd=None):
    """Run ``path`` on Linux: ("ok", argv the interpreter got) or ("err", errno)."""
    try:
        r = subprocess.run(argv, executable=path, capture_output=True, cwd=cwd, timeout=10)
    except OSError as e:
        return ("err", e.errno)
    assert r.returncode == 0, r
    return ("ok", r.stdout.split(b"\0")[:-1])


def ours_script(content, path, argv, cwd=None):
    """parse_shebang + shebang_argv, plus what opening the interpreter would do."""
    try:
        res = parse_shebang(content)
    except ExecError as e:
        return ("err", e.errno)
    assert res is not None
    interp, arg = res
    try:  # open_exec(): the path must resolve, to a regular file
        mode = os.stat(os.path.join(cwd or os.getcwd(), interp)).st_mode
    except OSError as e:
        return ("err", e.errno)
    if not stat.S_ISREG(mode):
        return ("err", errno.EACCES)
    return ("ok", shebang_argv(interp, arg, path, argv))


def write_script(d, name, content):
    p = d / name
    p.write_bytes(content)
    p.chmod(0o755)
    return str(p)


def _cases(I):  # noqa: E741 - I is the interpreter path, as bytes
    long_tail = b"z" * 400
    return [
        # execve(2) EXAMPLES: "#!./myecho script-arg" (with an absolute interpreter here).
        ("man page example", b"#!" + I + b" script-arg\n"),
        ("no argument", b"#!" + I + b"\n"),
        ("no newline at EOF", b"#!" + I),
        ("space before interpreter", b"#! " + I + b"\n"),
        ("tabs and spaces around", b"#!\t \t" + I + b" \t \n"),
        ("argument keeps inner whitespace", b"#!" + I + b"   multi  word\targ   \t\n"),
        ("only one argument ever", b"#!" + I + b" -a -b -c\n"),
        ("CR before LF stays in the argument", b"#!" + I + b" arg\r\n"),
        ("CR after the interpreter is part of its name", b"#!" + I + b"\r\n"),
        ("second line ignored", b"#!" + I + b" a\n#!/bin/false b\n"),
        ("empty line", b"#!\n"),
        ("only blanks", b"#!  \t  \n"),
        ("bare #! at EOF", b"#!"),
        ("blanks at EOF", b"#!   "),
        ("NUL after the interpreter", b"#!" + I + b"\0 ignored\n"),
        ("NUL right after the separator: empty argument", b"#!" + I + b" \0x\n"),
        ("NUL inside the argument", b"#!" + I + b" ab\0cd\n"),
        ("argument truncated at the buffer end", b"#!" + I + b" " + long_tail),
        ("argument truncated, newline beyond the buffer", b"#!" + I + b" " + long_tail + b"\n"),
        ("interpreter too long for the buffer",
         b"#!" + b"/" * (BINPRM_BUF_SIZE - len(I)) + I + b"\n"),
        ("interpreter exactly fills the buffer",
         b"#!" + b"/" * (BINPRM_BUF_SIZE - 2 - len(I)) + I),
        ("interpreter fills all but one byte, then newline",
         b"#!" + b"/" * (BINPRM_BUF_SIZE - 3 - len(I)) + I + b"\n"),
        ("blanks fill the buffer", b"#!" + b" " * 300 + I + b"\n"),
        ("interpreter is a directory", b"#!/\n"),
        ("missing interpreter", b"#!/nonexistent/interp\n"),
    ]


def test_shebang_cases_match_linux(progs, tmp_path):
    interp = progs["printargs"].encode()
    for name, content in _cases(interp):
        path = write_script(tmp_path, "script", content)
        argv = [path, "a1", "a 2", ""]
        want = native_script(path, argv)
        got = ours_script(content, path, argv)
        if want[0] == "ok":
            got = (got[0], [os.fsdecode(a).encode() for a in got[1]]) if got[0] == "ok" else got
        assert got == want, name


def test_man_page_example_argv(progs, tmp_path):
    """execve(2): "#!./myecho script-arg", run as ./script hello world."""
    d = tmp_path
    shutil.copy(progs["printargs"], d / "myecho")
    write_script(d, "script", b"#!./myecho script-arg\n")
    want = native_script("./script", ["./script", "hello", "world"], cwd=d)
    assert want == ("ok", [b"./myecho", b"script-arg", b"./script", b"hello", b"world"])
    assert parse_shebang(b"#!./myecho script-arg\n") == ("./myecho", "script-arg")
    assert shebang_argv("./myecho", "script-arg", "./script", ["./script", "hello", "world"]) == \
        [b"./myecho", b"script-arg", b"./script", b"hello", b"world"]


def test_not_a_script():
    assert parse_shebang(b"\x7fELF\x02\x01\x01") is None
    assert parse_shebang(b"") is None
    assert parse_shebang(b"#") is None
    assert parse_shebang(b" #!/bin/sh\n") is None


def test_empty_interpreter_is_enoexec():
    for content in (b"#!\n", b"#! \t\n", b"#!" + b" " * 400):
        with pytest.raises(ExecError) as ei:
            parse_shebang(content)
        assert ei.value.errno == errno.ENOEXEC


def test_shebang_argv_drops_argv0_and_handles_empty_argv():
    assert shebang_argv("/bin/sh", None, "s", ["s", "x"]) == [b"/bin/sh", b"s", b"x"]
    assert shebang_argv(b"/bin/sh", b"-e", b"s", []) == [b"/bin/sh", b"-e", b"s"]
    assert shebang_argv("/bin/sh", "", "s", ["whatever"]) == [b"/bin/sh", b"", b"s"]


_blank = st.sampled_from([b" ", b"\t"])
_tail_byte = st.sampled_from([b" ", b"\t", b"\0", b"\n", b"\r", b"a", b"-", b"/", b"#!"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lead=st.lists(_blank, max_size=4), slashes=st.integers(0, 260),
       tail=st.lists(_tail_byte, max_size=300))
def test_random_shebang_lines_match_linux(progs, tmp_path, lead, slashes, tail):
    content = b"#!" + b"".join(lead) + b"/" * slashes + progs["printargs"].encode() + b"".join(tail)
    path = write_script(tmp_path, "rscript", content)
    argv = [path, "x"]
    assert ours_script(content, path, argv) == native_script(path, argv)


def _resolve(path, argv):
    """What an execve implementation does with the helpers: follow #! until a non-script."""
    rewrites = 0
    while True:
        with open(path, "rb") as f:
            head = f.read(BINPRM_BUF_SIZE)
        res = parse_shebang(head)
        if res is None:
            return argv
        rewrites += 1
        check_script_depth(rewrites)
        interp, arg = res
        argv = shebang_argv(interp, arg, path, argv)
        path = interp


@pytest.mark.parametrize("depth", range(1, MAX_SCRIPT_DEPTH + 3))
def test_nested_scripts_depth_limit_matches_linux(progs, tmp_path, depth):
    prev = progs["printargs"]
    for i in range(depth):
        prev = write_script(tmp_path, f"level{i}", f"#!{prev}\n".encode())
    want = native_script(prev, [prev, "arg"])
    try:
        got = ("ok", _resolve(prev, [prev.encode(), b"arg"]))
    except ExecError as e:
        got = ("err", e.errno)
    assert got == want
    assert (want[0] == "ok") == (depth <= MAX_SCRIPT_DEPTH)
    if depth > MAX_SCRIPT_DEPTH:
        assert want == ("err", errno.ELOOP)


# --- argument limits --------------------------------------------------------------------------

def native_exec_errno(path, argv, env, rlimit_stack=8 << 20):
    def set_stack():
        hard = resource.getrlimit(resource.RLIMIT_STACK)[1]
        resource.setrlimit(resource.RLIMIT_STACK, (rlimit_stack, hard))
    try:
        subprocess.run(argv, executable=path, env=env, capture_output=True, preexec_fn=set_stack,
                       timeout=20)
    except OSError as e:
        return e.errno
    return 0


def ours_errno(path, argv, env, rlimit_stack=8 << 20):
    envp = [f"{k}={v}" for k, v in env.items()]
    try:
        check_arg_limits(argv, envp, path, rlimit_stack)
    except ExecError as e:
        return e.errno
    return 0


def _fill_to(limit, path, extra, chunk=100_000):
    """argv whose strings + pointers total exactly ``limit + extra`` bytes (env: A=b)."""
    argv = [path]
    used = (len(path) + 1) * 2 + len("A=b") + 1 + 8 * 2   # execfn + argv[0] + env + 2 pointers
    while used + chunk + 1 + 8 <= limit:
        argv.append("y" * chunk)
        used += chunk + 1 + 8
    rem = limit - used - 1 - 8 + extra
    argv.append("z" * rem)
    return argv


@pytest.mark.parametrize("rlimit_stack", [8 << 20, 1 << 20, 256 << 10, 64 << 20])
@pytest.mark.parametrize("extra", [0, 1])
def test_total_argument_size_limit_matches_linux(progs, rlimit_stack, extra):
    path = progs["printargs"]
    limit = arg_strings_limit(rlimit_stack)
    argv = _fill_to(limit, path, extra)
    env = {"A": "b"}
    want = native_exec_errno(path, argv, env, rlimit_stack)
    assert want == (0 if extra == 0 else errno.E2BIG)
    assert ours_errno(path, argv, env, rlimit_stack) == want


def test_limit_values():
    assert arg_strings_limit(8 << 20) == 2 << 20          # a quarter of the default stack
    assert arg_strings_limit(1 << 40) == 6 << 20          # capped at 3/4 of _STK_LIM
    assert arg_strings_limit(4096) == 128 << 10           # never below ARG_MAX


@pytest.mark.parametrize("where", ["argv", "env", "execfn"])
@pytest.mark.parametrize("length,ok", [(MAX_ARG_STRLEN - 1, True), (MAX_ARG_STRLEN, False)])
def test_single_string_limit_matches_linux(progs, tmp_path, where, length, ok):
    path, argv, env = progs["printargs"], [progs["printargs"]], {}
    if where == "argv":
        argv.append("x" * length)
    elif where == "env":
        env["E"] = "x" * (length - 2)
    else:
        # A path of `length` bytes: many slashes lead to the real file.
        path = "/" * (length - len(path)) + path
    want = native_exec_errno(path, argv, env) if where != "execfn" else None
    got = ours_errno(path, argv, env)
    if want is not None:
        assert got == want
    assert got == (0 if ok else errno.E2BIG)


def test_many_empty_strings_count_their_pointers(progs):
    path = progs["printargs"]
    limit = arg_strings_limit()
    per = 1 + 8                                   # "" and its pointer
    n = (limit - (len(path) + 1) * 2 - 8) // per
    for count, expect in ((n, 0), (n + 1, errno.E2BIG)):
        argv = [path] + [""] * count
        assert native_exec_errno(path, argv, {}) == expect
        assert ours_errno(path, argv, {}) == expect


# --- the initial stack ------------------------------------------------------------------------

def parse_stack(data: bytes, sp: int) -> dict:
    """Read an initial stack image back the way a libc's _start does."""
    def word(addr):
        return struct.unpack_from("<Q", data, addr - sp)[0]

    def cstr(addr):
        off = addr - sp
        return data[off:data.index(b"\0", off)]

    argc = word(sp)
    argv_ptrs = [word(sp + 8 + 8 * i) for i in range(argc)]
    assert word(sp + 8 + 8 * argc) == 0
    a = sp + 8 + 8 * (argc + 1)
    envp_ptrs = []
    while word(a):
        envp_ptrs.append(word(a))
        a += 8
    a += 8
    auxv = []
    while True:
        t, v = word(a), word(a + 8)
        a += 16
        if t == AT_NULL:
            break
        auxv.append((t, v))
    return dict(argc=argc, argv_ptrs=argv_ptrs, envp_ptrs=envp_ptrs, auxv=auxv, auxv_end=a,
                argv=[cstr(p) for p in argv_ptrs], envp=[cstr(p) for p in envp_ptrs],
                cstr=cstr, word=word)


def _image(progs):
    with open(progs["stackdump"], "rb") as f:
        return parse_elf(f.read(), progs["stackdump"])


def _creds():
    return ExecCreds(os.getuid(), os.geteuid(), os.getgid(), os.getegid())


RANDOM = bytes(range(0xA0, 0xB0))
TOP = 0x7FFF_FFFF_F000


def test_stack_round_trip(progs):
    img = _image(progs)
    argv = ["/bin/prog", "one", "", "two words", "ünï".encode()]
    envp = ["A=1", "EMPTY=", "PATH=/bin"]
    auxv = standard_auxv(img, 0, 0, _creds(), hwcap=0x1234)
    sp, data = build_initial_stack(TOP, argv, envp, auxv, "/bin/prog", random16=RANDOM)
    assert sp % 16 == 0, "x86-64 psABI: rsp is 16-byte aligned at process entry"
    assert sp + len(data) == TOP
    s = parse_stack(data, sp)
    assert s["argc"] == 5
    assert s["argv"] == [a.encode() if isinstance(a, str) else a for a in argv]
    assert s["envp"] == [e.encode() for e in envp]
    aux = dict(s["auxv"])
    assert data[aux[AT_RANDOM] - sp:aux[AT_RANDOM] - sp + 16] == RANDOM
    assert s["cstr"](aux[AT_EXECFN]) == b"/bin/prog"
    assert s["cstr"](aux[AT_PLATFORM]) == b"x86_64"
    assert aux[AT_PHDR] == img.phdr_vaddr and aux[AT_ENTRY] == img.entry
    assert aux[AT_PHNUM] == img.phnum and aux[AT_PHENT] == 56 and aux[AT_PAGESZ] == 4096
    assert aux[AT_HWCAP] == 0x1234 and aux[AT_CLKTCK] == 100 and aux[AT_BASE] == 0
    # Linux's order of the regions, bottom to top.
    assert s["auxv_end"] <= aux[AT_RANDOM] < s["auxv_end"] + 16
    assert aux[AT_RANDOM] + 16 == aux[AT_PLATFORM]
    assert aux[AT_PLATFORM] + 7 <= s["argv_ptrs"][0] < aux[AT_PLATFORM] + 7 + 16
    assert s["argv_ptrs"][-1] < s["envp_ptrs"][0] < aux[AT_EXECFN]
    assert aux[AT_EXECFN] + len(b"/bin/prog") + 1 + 8 == TOP
    assert data[-8:] == bytes(8)


def test_layout_reports_mm_fields(progs):
    img = _image(progs)
    lay = layout_initial_stack(TOP, ["p", "a"], ["E=1"], standard_auxv(img, 0, 0, _creds(), 0),
                               "p", random16=RANDOM)
    assert (lay.sp, lay.data) == build_initial_stack(TOP, ["p", "a"], ["E=1"],
                                                     standard_auxv(img, 0, 0, _creds(), 0), "p",
                                                     random16=RANDOM)
    off = lambda a: a - lay.sp  # noqa: E731
    assert lay.data[off(lay.arg_start):off(lay.arg_end)] == b"p\0a\0"
    assert lay.data[off(lay.env_start):off(lay.env_end)] == b"E=1\0"
    assert lay.argv_ptrs == (lay.arg_start, lay.arg_start + 2)
    assert dict(lay.auxv)[AT_EXECFN] == lay.execfn_addr == lay.env_end


def test_empty_argv_becomes_one_empty_string(progs):
    sp, data = build_initial_stack(TOP, [], [], [], "/p", random16=RANDOM)
    s = parse_stack(data, sp)
    assert s["argc"] == 1 and s["argv"] == [b""]


def test_auxv_placeholders_are_filled_or_appended():
    sp, data = build_initial_stack(TOP, ["a"], [], [(AT_PAGESZ, 4096), (AT_NULL, 0)], "a",
                                   random16=RANDOM)
    types = [t for t, _ in parse_stack(data, sp)["auxv"]]
    assert types == [AT_PAGESZ, AT_RANDOM, AT_EXECFN, AT_PLATFORM]
    sp, data = build_initial_stack(TOP, ["a"], [], [(AT_EXECFN, 0), (AT_PLATFORM, 0), (AT_RANDOM, 0)],
                                   "a", platform=None, random16=RANDOM)
    s = parse_stack(data, sp)
    assert [t for t, _ in s["auxv"]] == [AT_EXECFN, AT_RANDOM]
    assert s["cstr"](dict(s["auxv"])[AT_EXECFN]) == b"a"


def test_standard_auxv_order_and_secure_flag(progs):
    img = _image(progs)
    auxv = standard_auxv(img, 0x1000, 0x7000, (1000, 0, 1000, 1000), hwcap=1, sysinfo_ehdr=0x9000)
    types = [t for t, _ in auxv]
    assert types == [AT_SYSINFO_EHDR, AT_MINSIGSTKSZ, AT_HWCAP, AT_PAGESZ, AT_CLKTCK, AT_PHDR,
                     AT_PHENT, AT_PHNUM, AT_BASE, AT_FLAGS, AT_ENTRY, AT_UID, AT_EUID, AT_GID,
                     AT_EGID, AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN, AT_PLATFORM,
                     AT_RSEQ_FEATURE_SIZE, AT_RSEQ_ALIGN]
    d = dict(auxv)
    assert d[AT_SECURE] == 1 and d[AT_UID] == 1000 and d[AT_EUID] == 0 and d[AT_FLAGS] == 0
    assert d[AT_BASE] == 0x7000 and d[AT_ENTRY] == img.entry + 0x1000
    assert d[AT_PHDR] == img.phdr_vaddr + 0x1000
    assert dict(standard_auxv(img, 0, 0, ExecCreds(5, 5, 6, 6), 0))[AT_SECURE] == 0


def test_build_initial_stack_raises_e2big():
    with pytest.raises(ExecError) as ei:
        build_initial_stack(TOP, ["a", "x" * MAX_ARG_STRLEN], [], [], "a", random16=RANDOM)
    assert ei.value.errno == errno.E2BIG
    with pytest.raises(ExecError):
        build_initial_stack(TOP, ["a"] + ["y" * 100_000] * 30, [], [], "a", random16=RANDOM)
    # A bigger stack rlimit allows more, as on Linux.
    build_initial_stack(TOP, ["a"] + ["y" * 100_000] * 30, [], [], "a", random16=RANDOM,
                        rlimit_stack=64 << 20)


def test_bad_arguments_are_programming_errors():
    with pytest.raises(ValueError):
        build_initial_stack(TOP + 8, ["a"], [], [], "a", random16=RANDOM)
    with pytest.raises(ValueError):
        build_initial_stack(TOP, ["a"], [], [], "a", random16=b"short")
    with pytest.raises(ValueError):
        build_initial_stack(TOP, ["a\0b"], [], [], "a", random16=RANDOM)


_cstring = st.binary(max_size=40).map(lambda b: b.replace(b"\0", b"@"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.lists(_cstring, max_size=12), envp=st.lists(_cstring, max_size=12),
       execfn=_cstring, top_pages=st.integers(16, 1 << 30), random16=st.binary(min_size=16, max_size=16),
       platform=st.one_of(st.none(), st.just(b"x86_64"), _cstring))
def test_random_stacks_parse_back(progs, argv, envp, execfn, top_pages, random16, platform):
    top = top_pages * 4096
    img = _image(progs)
    lay = layout_initial_stack(top, argv, envp, standard_auxv(img, 0, 0, _creds(), 0), execfn,
                               platform=platform, random16=random16)
    assert lay.sp % 16 == 0 and lay.sp + len(lay.data) == top
    s = parse_stack(lay.data, lay.sp)
    assert s["argv"] == (argv or [b""]) and s["envp"] == envp
    aux = dict(s["auxv"])
    assert s["cstr"](aux[AT_EXECFN]) == execfn
    assert lay.data[aux[AT_RANDOM] - lay.sp:][:16] == random16
    assert (AT_PLATFORM in aux) == (platform is not None)
    if platform is not None:
        assert s["cstr"](aux[AT_PLATFORM]) == platform
    assert tuple(s["auxv"]) == lay.auxv


# --- against the stack Linux builds -------------------------------------------------------------

NATIVE_ARGV_TAIL = ["one", "", "two words", "ünï", "x" * 100]
NATIVE_ENV = {"FOO": "bar", "EMPTY": "", "WITH SPACE": "a b", "LONG": "y" * 77}
# Auxv entries Linux 6.x adds that we do not send (see standard_auxv).
NOT_SENT = {AT_HWCAP3, AT_HWCAP4}


def run_stackdump(progs, prefix=(), argv=None, env=None, via_exec_empty=False):
    path = progs["stackdump"]
    if via_exec_empty:
        cmd = [*prefix, progs["exec_empty"], path]
    else:
        cmd = [*prefix, path, *(NATIVE_ARGV_TAIL if argv is None else argv)]
    r = subprocess.run(cmd, capture_output=True, env=NATIVE_ENV if env is None else env, timeout=10)
    if prefix and r.returncode != 0 and b"setarch" in r.stderr:
        pytest.skip(f"setarch -R does not work here: {r.stderr.decode().strip()}")
    assert r.returncode == 0, r
    lines = r.stdout.split(b"\n")
    sp, top = map(int, lines[0].split())
    pagesz, phnum, entry = map(int, lines[1].split())
    return dict(sp=sp, top=top, pagesz=pagesz, phnum=phnum, entry=entry, execfn=lines[2],
                data=bytes.fromhex(lines[3].decode()), path=path)


def _ours_like(progs, native, s, argv, envp):
    """Our stack for the same inputs, with the host-specific values copied from Linux's auxv."""
    img = _image(progs)
    n = dict(s["auxv"])
    auxv = standard_auxv(img, 0, 0, _creds(), hwcap=n[AT_HWCAP], hwcap2=n.get(AT_HWCAP2, 0),
                         sysinfo_ehdr=n.get(AT_SYSINFO_EHDR), minsigstksz=n[AT_MINSIGSTKSZ])
    auxv += [(t, v) for t, v in s["auxv"] if t in NOT_SENT]
    random16 = native["data"][n[AT_RANDOM] - native["sp"]:][:16]
    return layout_initial_stack(native["top"], argv, envp, auxv, native["path"], random16=random16)


def test_native_stack_has_the_same_strings_and_auxv_types(progs):
    """With ASLR on: same strings, same auxv types (minus NOT_SENT), same region order."""
    native = run_stackdump(progs)
    assert native["sp"] % 16 == 0 and native["top"] % 4096 == 0
    s = parse_stack(native["data"], native["sp"])
    argv = [native["path"], *NATIVE_ARGV_TAIL]
    envp = [f"{k}={v}" for k, v in NATIVE_ENV.items()]
    assert s["argv"] == [a.encode() for a in argv] and s["envp"] == [e.encode() for e in envp]
    assert native["execfn"] == native["path"].encode()

    ours = _ours_like(progs, native, s, argv, envp)
    o = parse_stack(ours.data, ours.sp)
    assert o["argv"] == s["argv"] and o["envp"] == s["envp"]
    assert [t for t, _ in o["auxv"]] == [t for t, _ in s["auxv"]]
    n, a = dict(s["auxv"]), dict(o["auxv"])
    # getauxval() in the program agrees with the values we computed from the ELF file.
    assert (native["pagesz"], native["phnum"], native["entry"]) == (a[AT_PAGESZ], a[AT_PHNUM], a[AT_ENTRY])
    for t in (AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, AT_ENTRY, AT_UID, AT_EUID,
              AT_GID, AT_EGID, AT_SECURE, AT_CLKTCK):
        assert a[t] == n[t], t
    for stack in (s, o):  # the same relative layout
        aux = dict(stack["auxv"])
        assert stack["auxv_end"] <= aux[AT_RANDOM] < stack["auxv_end"] + 16
        assert aux[AT_RANDOM] + 16 == aux[AT_PLATFORM]
        assert aux[AT_PLATFORM] + 7 <= stack["argv_ptrs"][0]
        assert stack["argv_ptrs"][-1] < stack["envp_ptrs"][0] < aux[AT_EXECFN]
    # Everything from the argv strings to the top is identical, ASLR or not.
    assert native["top"] - s["argv_ptrs"][0] == ours.sp + len(ours.data) - o["argv_ptrs"][0]
    assert native["data"][s["argv_ptrs"][0] - native["sp"]:] == ours.data[o["argv_ptrs"][0] - ours.sp:]


@pytest.mark.skipif(shutil.which("setarch") is None, reason="setarch (util-linux) is not installed")
@pytest.mark.parametrize("case", ["args", "no-args-no-env", "empty-argv"])
def test_stack_is_byte_identical_to_linux_without_aslr(progs, case):
    """Under setarch -R, arch_align_stack() adds no random gap: the images must be identical."""
    if case == "args":
        native = run_stackdump(progs, prefix=["setarch", "-R"])
        argv = [native["path"], *NATIVE_ARGV_TAIL]
        envp = [f"{k}={v}" for k, v in NATIVE_ENV.items()]
    elif case == "no-args-no-env":
        native = run_stackdump(progs, prefix=["setarch", "-R"], argv=[], env={})
        argv, envp = [native["path"]], []
    else:
        native = run_stackdump(progs, prefix=["setarch", "-R"], via_exec_empty=True, env={})
        argv, envp = [], []
    s = parse_stack(native["data"], native["sp"])
    ours = _ours_like(progs, native, s, argv, envp)
    assert ours.sp == native["sp"]
    assert ours.data == native["data"]
