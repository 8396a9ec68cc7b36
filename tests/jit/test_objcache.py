"""jit/objcache.py: the compiled hooks' machine code mapped without numba gives numba's answers,
refuses what it cannot link, follows the sources, and spares a threaded command numba's load."""
from __future__ import annotations

import ctypes
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecs_kernel.abi import BUS_ADRERR, PROT_EXEC, PROT_READ, PROT_WRITE, SEGV_ACCERR, SEGV_MAPERR
from ecs_kernel.cpu.platform import HOOK_TLB_FILL_CB, TlbEntry
from ecs_kernel.jit import objcache, tlbfill
from ecs_kernel.jit import pagewalk as pw
from ecs_kernel.jit.options import cfunc_address
from tests.tools import installed

ROOT = Path(__file__).resolve().parents[2]
PAGE = 4096
BASE = 0x10_0000


@pytest.fixture(scope="module")
def fill_hooks():
    """numba's TLB-fill cfunc, and the same machine code mapped by objcache.link."""
    from ecs_kernel.jit.tlbfill import kernel
    made = kernel.compile_hook()
    code = objcache.object_code(made)
    assert code is not None, "numba's cache holds the hook's object code"
    entry, obj = code
    mapped = objcache.link(obj, entry)
    assert mapped != made.address
    return {"numba": HOOK_TLB_FILL_CB(made.address), "mapped": HOOK_TLB_FILL_CB(mapped)}


_BUF = np.zeros(8 * PAGE, np.uint8)  # the pages' host memory (the hook only passes it on)


def _table(prots, eof):
    """A page table (cpu/memory.py's range rows) of one page per protection, from BASE; rows
    whose index is in ``eof`` lie past the end of their file (SIGBUS)."""
    t = np.zeros((pw.NCOLS, max(len(prots), 1)), np.int64)
    for i, p in enumerate(prots):
        start = BASE + i * PAGE
        t[:, i] = (start, start + PAGE, p, _BUF.ctypes.data + i * PAGE, 0, i, 0, 0, 0, 0,
                   start if i in eof else pw.NO_LIMIT)
    return t


def _answer(hook, t, n, addr, access):
    ctl = np.zeros(tlbfill.TLB_SIZE, np.int64)
    ctl[tlbfill.TLB_T], ctl[tlbfill.TLB_CAP], ctl[tlbfill.TLB_N] = t.ctypes.data, t.shape[1], n
    entry = TlbEntry(0, -1)
    ok = hook(None, addr, access, ctypes.byref(entry), ctypes.c_void_p(ctl.ctypes.data))
    return (bool(ok), entry.paddr, entry.perms, int(ctl[tlbfill.TLB_FAULT_ADDR]),
            int(ctl[tlbfill.TLB_FAULT_ACCESS]), int(ctl[tlbfill.TLB_FAULT_CODE]),
            int(ctl[tlbfill.TLB_MISSES]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([0, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC,
                                 PROT_READ | PROT_WRITE | PROT_EXEC]), max_size=6),
       st.sets(st.integers(0, 5)), st.integers(-2, 8), st.integers(0, PAGE - 1),
       st.sampled_from([pw.UC_MEM_READ, pw.UC_MEM_WRITE, pw.UC_MEM_FETCH]))
def test_mapped_fill_hook_answers_as_numbas(fill_hooks, prots, eof, page, off, access):
    t = _table(prots, eof)
    addr = BASE + page * PAGE + off
    a = _answer(fill_hooks["numba"], t, len(prots), addr, access)
    b = _answer(fill_hooks["mapped"], t, len(prots), addr, access)
    assert a == b
    if not a[0]:
        assert a[5] in (SEGV_MAPERR, SEGV_ACCERR, tlbfill.TLB_FAULT_SIGBUS | BUS_ADRERR)


def _object(made_hook=None):
    from ecs_kernel.jit.tlbfill import kernel
    return objcache.object_code(made_hook or kernel.compile_hook())


def test_a_relocation_it_does_not_know_is_refused():
    entry, obj = _object()
    obj = bytearray(obj)
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum, _ = struct.unpack_from("<HHH", obj, 0x3A)
    for i in range(shnum):
        s = struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize)
        if s[1] == 4 and s[5]:  # SHT_RELA: make its first relocation an R_X86_64_GOTPCREL (9)
            info, = struct.unpack_from("<Q", obj, s[4] + 8)
            struct.pack_into("<Q", obj, s[4] + 8, (info >> 32) << 32 | 9)
            break
    else:
        pytest.fail("no relocations")
    with pytest.raises(objcache.NotLoadable):
        objcache.link(bytes(obj), entry)
    with pytest.raises(objcache.NotLoadable):
        objcache.link(b"not an object", entry)
    with pytest.raises(objcache.NotLoadable):
        objcache.link(_object()[1], "no_such_symbol")


def test_a_missing_or_damaged_file_takes_numbas_way(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    from ecs_kernel.jit.tlbfill import kernel
    built = []

    def build():
        built.append(1)
        return kernel.compile_hook()

    name, sig = "test_hook", tlbfill.HOOK_SIGNATURE
    assert objcache.load(name, sig) is None
    addr, keep = cfunc_address(name, sig, build)  # numba's, and the file written
    assert built and keep is not None and addr == keep.address
    files = list((tmp_path / "ecs_kernel_objcache").iterdir())
    assert len(files) == 1 and files[0].read_bytes().startswith(objcache.MAGIC)
    mapped, keep = cfunc_address(name, sig, build)
    assert len(built) == 1 and keep is None and mapped != addr
    files[0].write_bytes(b"ECSOBJ1\n" + b"x" * 100)  # damaged: numba's way again
    objcache._loaded.clear()
    addr2, keep = cfunc_address(name, sig, build)
    assert len(built) == 2 and keep is not None


def test_an_install_it_cannot_write_keeps_the_files_in_the_users_cache(tmp_path, monkeypatch):
    """Beside the package when it can write there; else under $XDG_CACHE_HOME (numba's own cache
    does the same), where a hook's file is written and then mapped."""
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    assert objcache.cache_dir() == os.path.join(objcache._JIT_DIR, "__pycache__")
    monkeypatch.setattr(objcache, "_writable", lambda d: False)  # (root may write anywhere)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert objcache.cache_dir() == str(tmp_path / "ecs-kernel" / "objcache")
    from ecs_kernel.jit.tlbfill import kernel
    name, sig = "test_hook_user_cache", tlbfill.HOOK_SIGNATURE
    addr, keep = cfunc_address(name, sig, kernel.compile_hook)
    assert keep is not None  # numba's, and its file written in the user's cache
    files = list((tmp_path / "ecs-kernel" / "objcache").iterdir())
    assert len(files) == 1 and files[0].name.startswith(name + ".")
    mapped, keep = cfunc_address(name, sig, kernel.compile_hook)
    assert keep is None and mapped != addr  # mapped from that file


def test_the_key_follows_the_sources(tmp_path, monkeypatch):
    src = tmp_path / "k.py"
    src.write_text("x = 1\n")
    monkeypatch.setattr(objcache, "_stamp_files", lambda: [str(src)])
    monkeypatch.setattr(objcache, "_key_cache", [])
    k1 = objcache.key("h", "void(voidptr)")
    assert objcache.key("h", "void(voidptr)") == k1
    assert objcache.key("h", "void(voidptr, voidptr)") != k1
    assert objcache.key("g", "void(voidptr)") != k1
    st_ = os.stat(src)
    os.utime(src, ns=(st_.st_atime_ns, st_.st_mtime_ns + 10**9))
    objcache._key_cache.clear()
    assert objcache.key("h", "void(voidptr)") != k1


def test_a_threaded_command_runs_its_hooks_without_numba():
    """``ecs-kernel run`` of a futex ping-pong tiers up at its clone: the first run may build the
    hooks with numba (and keeps their code); the next maps them and never imports numba."""
    d = Path(tempfile.mkdtemp(prefix="ecs-objcache-", dir="/var/tmp"))
    try:
        subprocess.run([installed("gcc", "gcc"), "-O1", "-static", "-pthread", "-o", str(d / "pingpong"),
                        str(ROOT / "tests" / "guests" / "src" / "pingpong.c")],
                       check=True, capture_output=True)
        # the command's tiering (cli_run: kernels interpreted first, the Python hook for the
        # first FAST_PATH_AFTER syscalls, more than the run makes before and after its clone)
        script = ("import sys\nfrom ecs_kernel import cli_run\nms = []\n"
                  "from ecs_kernel.jit.options import interpret_first\n"
                  "interpret_first(cli_run.KERNEL_CALLS_INTERPRETED)\n"
                  f"rc = cli_run.run({str(d / 'pingpong')!r}, [{str(d / 'pingpong')!r}, '3000'], [], "
                  "fast_path_after=cli_run.FAST_PATH_AFTER, report=ms.append)\n"
                  "print('numba' in sys.modules, rc, ms[0].fastpath.fx_counts[2], file=sys.stderr)")
        runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               cwd=str(ROOT), timeout=600) for _ in range(2)]
        for r in runs:
            assert r.stdout.strip().isdigit(), r.stderr  # ns per round trip
            # two hand-offs a round trip, all but the first few compiled
            assert int(r.stderr.split()[-1]) > 5900, r.stderr
        assert " ".join(runs[1].stderr.split()[-3:-1]) == "False 0", runs[1].stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)
