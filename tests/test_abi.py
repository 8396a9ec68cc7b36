"""ecs_kernel/abi.py is the one home of Linux's numbers, and its numbers are Linux's.

- No other module restates a constant abi.py defines, or a literal that looks like a Linux ABI
  constant (the ast of every module is read, nothing is imported).
- abi's values equal the host's where Python exposes them (signal, errno, os, ...), and the
  C headers' where a C compiler and Linux's uapi headers are at hand (clone, futex, wait, mman,
  ...): this machine is Linux x86-64, so a typo in abi.py shows up as a difference.
"""
from __future__ import annotations

import ast
import errno
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ecs_kernel import abi

PACKAGE = Path(abi.__file__).resolve().parent
ABI_FILE = PACKAGE / "abi.py"

# "path:Name" -> why: module-level literals whose names look like Linux ABI names (the prefixes
# below) but are not Linux constants. Empty today; keep it short: a Linux constant belongs in abi.py.
ALLOWED: dict[str, str] = {}

# Prefixes of Linux ABI names: a module-level literal under one of these belongs in abi.py.
_ABI_NAME = re.compile(
    r"(SIG[A-Z0-9_]*|SA_[A-Z_]+|SI_[A-Z]+|CLD_[A-Z]+|SS_[A-Z]+|CLONE_[A-Z_]+|FUTEX_[A-Z_0-9]+"
    r"|CLOCK_[A-Z_]+|O_[A-Z]+|AT_[A-Z_0-9]+|POLL[A-Z]+|EPOLL[A-Z_]+|PROT_[A-Z]+|MAP_[A-Z_0-9]+"
    r"|RLIMIT_[A-Z]+|RLIM_[A-Z]+|WNOHANG|WEXITED|WSTOPPED|WCONTINUED|WUNTRACED|WNOWAIT"
    r"|P_ALL|P_PID|P_PGID|ERESTART[A-Z_]*|NR_[A-Z_0-9]+)")
_ERRNO_NAMES = set(errno.errorcode.values()) | {k for k in vars(abi) if k.startswith("ERESTART")}


def _abi_names() -> set[str]:
    """Names abi.py binds at module level, and ``Class.attr`` of its namespaces."""
    names = set()
    for node in ast.parse(ABI_FILE.read_text()).body:
        if isinstance(node, ast.Assign):
            for tgt in node.targets:
                names.update(n.id for n in _target_names(tgt))
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.Assign):
                    names.update(f"{node.name}.{n.id}" for t in sub.targets for n in _target_names(t))
    return {n for n in names if not n.startswith("_")}


def _target_names(tgt) -> list[ast.Name]:
    if isinstance(tgt, ast.Name):
        return [tgt]
    if isinstance(tgt, (ast.Tuple, ast.List)):
        return [n for e in tgt.elts for n in _target_names(e)]
    return []


def _is_literal(v) -> bool:
    """A number written out: a constant, or arithmetic, a tuple, a set or a call (``range``,
    ``np.uint64``, ``frozenset``) of nothing but constants. ``X = abi.X``, ``Y = X | Z`` are not."""
    if isinstance(v, ast.Constant):
        return isinstance(v.value, (int, float)) and not isinstance(v.value, bool)
    if isinstance(v, ast.UnaryOp):
        return _is_literal(v.operand)
    if isinstance(v, ast.BinOp):
        return _is_literal(v.left) and _is_literal(v.right)
    if isinstance(v, (ast.Tuple, ast.List, ast.Set)):
        return bool(v.elts) and all(_is_literal(e) for e in v.elts)
    if isinstance(v, ast.Call):
        return bool(v.args) and not v.keywords and all(_is_literal(a) for a in v.args)
    return False


def _bindings(value, targets):
    """(name, value) pairs of one assignment; ``A, B = 1, 2`` pairs element by element."""
    for tgt in targets:
        if isinstance(tgt, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
                and len(tgt.elts) == len(value.elts):
            for t, v in zip(tgt.elts, value.elts):
                yield from _bindings(v, [t])
        else:
            for n in _target_names(tgt):
                yield n, value


def _assignments(body, owner=""):
    """(line, qualified name, value, at module level) of every assignment in module and class
    bodies (also under a module-level ``if``/``try``)."""
    for node in body:
        if isinstance(node, ast.ClassDef):
            yield from _assignments(node.body, f"{owner}{node.name}.")
        elif isinstance(node, (ast.If, ast.Try)):
            for part in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])):
                yield from _assignments(part, owner)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for name, value in _bindings(node.value, targets):
                yield node.lineno, owner + name.id, value, not owner


def restated_constants(root: Path = PACKAGE) -> list[str]:
    """``file:line: NAME`` of every literal that restates abi.py or looks like a Linux constant."""
    defined = _abi_names()
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.resolve() == ABI_FILE:
            continue
        rel = path.relative_to(root.parent)
        for line, qual, value, module_level in _assignments(ast.parse(path.read_text()).body):
            if not _is_literal(value):
                continue
            owner, _, name = qual.rpartition(".")
            bare = name.lstrip("_")
            key = f"{owner}.{bare}" if owner else bare
            if key in defined or bare in defined:
                found.append(f"{rel}:{line}: {qual} restates abi.{key if key in defined else bare}")
            elif module_level and (_ABI_NAME.fullmatch(bare) or bare in _ERRNO_NAMES) \
                    and f"{rel}:{qual}" not in ALLOWED:
                found.append(f"{rel}:{line}: {qual} looks like a Linux constant: put it in abi.py")
    return found


def test_no_module_restates_an_abi_constant():
    found = restated_constants()
    assert not found, "constants restated outside ecs_kernel/abi.py:\n" + "\n".join(found)


def test_the_check_catches_a_restated_constant(tmp_path):
    pkg = tmp_path / "ecs_kernel"
    (pkg / "jit").mkdir(parents=True)
    (pkg / "jit" / "k.py").write_text(
        "from ..abi import SIGKILL\n"
        "ALIAS = SIGKILL\n"               # an alias: fine
        "_SIGCHLD = 17\n"                 # restates abi.SIGCHLD
        "EINTR, EAGAIN = 4, 11\n"         # restates two errnos
        "class RunState:\n    blocked = 7\n"  # restates abi.RunState.blocked
        "class Sig:\n    SIGKILL = 9\n"  # a class attribute named like abi.SIGKILL
        "CLONE_NEWFOO = 1 << 40\n"        # not in abi, but a Linux-looking name
        "DONE = 0\n")                     # a local protocol code: fine
    found = restated_constants(pkg)
    assert [f.split(": ")[1].split()[0] for f in found] == [
        "_SIGCHLD", "EINTR", "EAGAIN", "RunState.blocked", "Sig.SIGKILL", "CLONE_NEWFOO"], found


def test_allow_list_names_only_existing_bindings():
    """A stale allow-list entry would hide the next real restatement of that name."""
    for entry in ALLOWED:
        rel, qual = entry.split(":")
        text = (PACKAGE.parent / rel).read_text()
        assert re.search(rf"^\s*{re.escape(qual.rpartition('.')[2])}\b.*=", text, re.M), entry


def test_abi_imports_nothing_from_the_package():
    for node in ast.walk(ast.parse(ABI_FILE.read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("ecs_kernel"), node.module
            assert node.module == "__future__", node.module
        assert not isinstance(node, ast.Import), "abi.py imports nothing"


def test_namespaces_are_the_module_level_codes():
    assert abi.RunState.runApp is abi.RUN_APP and abi.RunState.blocked is abi.RUN_BLOCKED
    assert abi.Block.FUTEX is abi.BLOCK_FUTEX and abi.ExitState.ZOMBIE is abi.TASK_EXIT_ZOMBIE
    for cls, prefix in ((abi.RunState, "RUN_"), (abi.Block, "BLOCK_"), (abi.ExitState, "TASK_EXIT_")):
        values = [v for k, v in vars(cls).items() if not k.startswith("_")]
        module = [v for k, v in vars(abi).items() if k.startswith(prefix)]
        assert sorted(values) == sorted(module) == list(range(len(module)))


def test_syscall_numbers_match_the_table():
    from ecs_kernel.syscalls.table import NAMES
    for name, nr in vars(abi).items():
        if name.startswith("NR_"):
            assert NAMES[nr] == name[3:].lower(), (name, nr, NAMES[nr])


def test_signal_masks():
    assert abi.UNBLOCKABLE == (1 << 8) | (1 << 18)
    assert abi.FULL_MASK == 2 ** 64 - 1
    assert abi.SYNCHRONOUS_MASK == sum(1 << (s - 1) for s in (4, 5, 7, 8, 11, 31))
    assert abi.FUTEX_CMD_MASK & 0xFFFFFFFF == 0xFFFFFE7F


# --- against the host ---------------------------------------------------------------------------

linux_x86_64 = pytest.mark.skipif(
    not (sys.platform == "linux" and platform.machine() == "x86_64"), reason="needs Linux x86-64")

# Where the host's user-space value is not the kernel's, or not a constant.
HOST_DIFFERS = {
    "SIGRTMIN": "glibc reserves two real-time signals: signal.SIGRTMIN is 34",
    "SIGRTMAX": "a glibc function in C",
    "NSIG": "signal.NSIG is the highest signal + 1 (65); the kernel's _NSIG is 64",
    "O_LARGEFILE": "glibc defines it as 0 on 64-bit targets; the kernel's bit is 0o100000",
    "RLIM_INFINITY": "resource.RLIM_INFINITY is -1 (the same bits as ~0UL)",
    "MINSIGSTKSZ": "glibc >= 2.34 makes it sysconf(_SC_MINSIGSTKSZ) under _GNU_SOURCE",
}


def _host_modules():
    import fcntl
    import mmap
    import resource
    import select
    import signal
    import socket
    import stat
    import termios
    import time
    return (signal, errno, os, fcntl, mmap, resource, select, socket, stat, termios, time)


@linux_x86_64
def test_values_equal_the_hosts_python_modules():
    compared, wrong = set(), []
    for mod in _host_modules():
        for name, value in vars(abi).items():
            if name.startswith("_") or name in HOST_DIFFERS or not isinstance(value, int):
                continue
            host = getattr(mod, name, None)
            if isinstance(host, int):
                compared.add(name)
                if int(host) != value:
                    wrong.append(f"abi.{name} = {value:#x}, {mod.__name__}.{name} = {int(host):#x}")
    assert not wrong, "\n".join(wrong)
    # The families the host's Python exposes are all compared.
    for name in ("SIGKILL", "SIGCHLD", "SIG_SETMASK", "EAGAIN", "ENOSYS", "O_CLOEXEC", "O_TMPFILE",
                 "WNOHANG", "WNOWAIT", "P_PGID", "CLD_CONTINUED", "SEEK_HOLE", "POLLRDNORM",
                 "EPOLLET", "PROT_EXEC", "MAP_ANONYMOUS", "RLIMIT_RTTIME", "CLOCK_TAI", "S_IFSOCK",
                 "MSG_NOSIGNAL", "F_SETPIPE_SZ", "TIOCGWINSZ"):
        assert name in compared, name


# C headers that define abi's names in user space; glibc's where it has them, so the two do not
# clash. A name none of them defines (RUN_APP, NSEC_PER_SEC, ...) is simply not compared.
_C_HEADERS = """
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <asm/prctl.h>
#include <linux/close_range.h>
#include <linux/futex.h>
#include <linux/limits.h>
"""


@linux_x86_64
@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc and Linux's uapi headers")
def test_values_equal_the_c_headers(tmp_path):
    names = [k for k, v in vars(abi).items()
             if isinstance(v, int) and not k.startswith("_") and k not in HOST_DIFFERS]
    lines = [_C_HEADERS, "int main(void) {"]
    for name in names:
        c = f"SYS_{name[3:].lower()}" if name.startswith("NR_") else name
        if name in ("WALL", "WCLONE", "WNOTHREAD"):
            c = "__" + name
        lines += [f"#ifdef {c}", f'  printf("{name} %lld\\n", (long long)({c}));', "#endif"]
    lines += ["  return 0;", "}"]
    src = tmp_path / "abi.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "abi"
    subprocess.run(["gcc", "-w", "-o", str(exe), str(src)], check=True, capture_output=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    host = {k: int(v) for k, v in (line.split() for line in out.splitlines())}
    wrong = [f"abi.{k} = {getattr(abi, k)}, C: {v}" for k, v in host.items()
             if v != getattr(abi, k) and (v & (2 ** 64 - 1)) != getattr(abi, k)]
    assert not wrong, "\n".join(wrong)
    for name in ("CLONE_NEWPID", "CLONE_IO", "FUTEX_CMP_REQUEUE_PI", "FUTEX_CLOCK_REALTIME",
                 "WALL", "SA_RESETHAND", "SS_DISABLE", "MAP_FIXED_NOREPLACE", "MADV_DONTFORK",
                 "NR_FUTEX", "NR_RESTART_SYSCALL", "PR_SET_NO_NEW_PRIVS", "ARCH_SET_FS",
                 "AT_EXECFN", "PT_GNU_STACK", "SI_TKILL", "TIMER_ABSTIME", "ENODATA"):
        assert name in host, name


def test_errno_names_are_linux_and_name_the_constants():
    """ERRNO_NAMES (what --strace prints) agrees with abi's errno constants and with the host's
    errno names, where the host spells an alias the other way round."""
    for name, value in vars(abi).items():
        if name in abi.ERRNO_NAMES and name:
            assert abi.ERRNO_NAMES[value] == name, name
    aliases = {"EWOULDBLOCK", "EDEADLOCK", "ENOTSUP"}
    for value, name in errno.errorcode.items():
        if value < len(abi.ERRNO_NAMES) and name not in aliases:
            assert abi.ERRNO_NAMES[value] == name, (value, name)
    assert abi.ERRNO_NAMES[errno.EAGAIN] == "EAGAIN" and abi.ERRNO_NAMES[95] == "EOPNOTSUPP"
