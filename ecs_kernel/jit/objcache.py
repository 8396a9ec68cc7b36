"""The compiled hooks' machine code, kept beside numba's disk cache and loaded without numba.

Why. The syscall, TLB-fill and block-quantum hooks are numba ``cfunc``\\ s: C functions with no
Python objects in them. Loading one from numba's cache costs a process ~0.5 s before the first
call (``import numba``, ~0.2 s, then the CPU target's registries, which ``load_overload``
refreshes first, ~0.25 s: docs/measurements.md, "The tier-up"), although what the cache holds is
an ELF object of a few dozen KiB. A threaded guest tiers up at its first ``clone(CLONE_THREAD)``
(cpu/platform.py), so that load is paid by every threaded program.

What. When numba has made a hook (compiled, or loaded from its cache), :func:`save` writes the
library's object code (what numba's cache entry holds, ``serialize_using_object_code``) and the
C wrapper's symbol to ``<name>.<key>.ecsobj`` in the cache directory; :func:`load` maps such a
file as a small static linker would: its allocated sections in fresh pages (code and constants
read-only and executable, data and COMMON symbols writable, never both), its relocations applied,
its undefined symbols bound to what numba binds them to (``numba_*`` from numba's ``_helperlib``
and ``_dynfunc``, ``NRT_*`` from ``_nrt_python``, ``PyExc_*`` to the exception classes, the
rest to the process's own symbols: Python's C API). Numba's objects use the large code model
(absolute 64-bit addresses); a relocation of another kind, a symbol that does not resolve, or a
section of an unknown kind makes :func:`load` answer None, and the caller takes numba's way.

The key. A file is used only when its key matches: the hook's name and signature, the stamps
(mtime, size) of every module of ``ecs_kernel/jit`` and of ``ecs_kernel/abi.py`` (numba's own
cache sees only the file of the function), the numba and llvmlite installations, the Python
version and the host CPU (its model and flags, as numba's key has the CPU name and features).
Any change gives another key, hence numba's way and a new file (the old ones are removed).

Not kernel state: a process's code, like numba's cache; checkpoints never see it.
"""
from __future__ import annotations

import builtins
import ctypes
import glob
import mmap
import os
import struct
import sys

try:  # hashlib's own blake2b without importing hashlib, which loads OpenSSL (~3 ms of start-up)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

MAGIC = b"ECSOBJ1\n"
_SUFFIX = ".ecsobj"
_JIT_DIR = os.path.dirname(os.path.abspath(__file__))
_PKG_DIR = os.path.dirname(_JIT_DIR)

# ELF (x86-64) numbers: section types and flags, special section indexes, relocation types.
_SHT_PROGBITS, _SHT_SYMTAB, _SHT_STRTAB, _SHT_RELA, _SHT_NOBITS = 1, 2, 3, 4, 8
_SHT_X86_64_UNWIND = 0x70000001
_SHF_WRITE, _SHF_ALLOC = 0x1, 0x2
_SHN_UNDEF, _SHN_ABS, _SHN_COMMON = 0, 0xFFF1, 0xFFF2
_R_X86_64_64, _R_X86_64_PC32, _R_X86_64_PLT32, _R_X86_64_PC64 = 1, 2, 4, 24

_loaded: dict[str, int] = {}  # path -> the wrapper's address (a file is mapped once a process)
_key_cache: list = []


class NotLoadable(Exception):
    """The object uses something this loader does not do: numba's way instead."""


def cache_dir() -> str:
    """Where the files live: under NUMBA_CACHE_DIR when it is set (as numba's cache), else in
    ``__pycache__`` beside the jit package, else (an install the user cannot write, where numba
    keeps its own cache per user too) in ``$XDG_CACHE_HOME/ecs-kernel/objcache`` (default
    ``~/.cache``). Without one of them every threaded run would load numba for its hooks."""
    base = os.environ.get("NUMBA_CACHE_DIR")
    if base:
        return os.path.join(base, "ecs_kernel_objcache")
    beside = os.path.join(_JIT_DIR, "__pycache__")
    if _writable(beside):
        return beside
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(home, "ecs-kernel", "objcache")


def _writable(d: str) -> bool:
    """Can this user make files in ``d`` (or make ``d``)?"""
    target = d if os.path.isdir(d) else os.path.dirname(d)
    return os.access(target, os.W_OK | os.X_OK)


def _stamp_files() -> list[str]:
    files = sorted(glob.glob(os.path.join(_JIT_DIR, "**", "*.py"), recursive=True))
    return files + [os.path.join(_PKG_DIR, "abi.py")]


def _host_cpu() -> bytes:
    try:
        with open("/proc/cpuinfo", "rb") as f:
            text = f.read(1 << 16)
    except OSError:
        return b"?"
    keep = [line for line in text.split(b"\n")
            if line.startswith((b"model name", b"flags", b"vendor_id", b"cpu family", b"model\t"))]
    return b"\n".join(dict.fromkeys(keep))  # the first processor's lines (all are alike here)


def _package_stamp(name: str) -> str:
    import importlib.util  # (~10 ms of imports: only when a hook is loaded, never at start-up)
    spec = importlib.util.find_spec(name)  # finds, does not import
    if spec is None or spec.origin is None:
        return f"{name}:none"
    st = os.stat(spec.origin)
    return f"{name}:{spec.origin}:{st.st_mtime_ns}:{st.st_size}"


def key(name: str, signature: str) -> str:
    """The key of a hook's file (see the module's comment)."""
    if not _key_cache:
        h = blake2b(digest_size=16)
        for path in _stamp_files():
            st = os.stat(path)
            h.update(f"{os.path.relpath(path, _PKG_DIR)}:{st.st_mtime_ns}:{st.st_size}\n".encode())
        h.update(_package_stamp("numba").encode())
        h.update(_package_stamp("llvmlite").encode())
        h.update(sys.version.encode())
        h.update(_host_cpu())
        _key_cache.append(h)
    h = _key_cache[0].copy()
    h.update(f"\n{name}\n{signature}".encode())
    return h.hexdigest()


def _path(name: str, signature: str) -> str:
    return os.path.join(cache_dir(), f"{name}.{key(name, signature)}{_SUFFIX}")


def load(name: str, signature: str) -> int | None:
    """The address of hook ``name`` (a cfunc of C signature ``signature``) from its file, or None
    when there is no file for this key or the loader cannot map it."""
    path = _path(name, signature)
    if path in _loaded:
        return _loaded[path]
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError:
        return None
    if not blob.startswith(MAGIC):
        return None
    head, _, obj = blob[len(MAGIC):].partition(b"\n")
    try:
        addr = link(obj, head.decode())
    except (NotLoadable, ValueError, struct.error, OSError):
        return None
    _loaded[path] = addr
    return addr


def save(name: str, signature: str, made) -> bool:
    """Write the file of hook ``name`` from ``made``, the numba ``CFunc`` just compiled or loaded
    from numba's cache (numba is loaded). False when numba's cache has no entry to take the object
    code from, or the directory cannot be written; nothing fails because of it."""
    path = _path(name, signature)
    try:
        made_code = object_code(made)
        if made_code is None:
            return False
        entry, obj = made_code
        blob = MAGIC + entry.encode() + b"\n" + obj
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)  # whole or not at all, whoever else writes it
        for old in glob.glob(os.path.join(os.path.dirname(path), f"{name}.*{_SUFFIX}")):
            if old != path:
                try:
                    os.unlink(old)
                except OSError:
                    pass
        return True
    except Exception:  # noqa: BLE001 - a cache that cannot be written is no error
        return False


def object_code(made) -> tuple[str, bytes] | None:
    """(the C wrapper's symbol, the ELF object) of numba ``CFunc`` ``made``, from numba's cache
    entry for it (None when it has none)."""
    cache = made._cache
    from numba.core.registry import cpu_target
    data = cache._cache_file.load(cache._index_key(made._sig, cpu_target.target_context.codegen()))
    if data is None:
        return None
    _lib_name, kind, payload = data[0]
    if kind != "object":
        return None
    return made._wrapper_name, payload[0]


# -- the loader ----------------------------------------------------------------------------------

def _extension(module: str, pattern: str):
    """One of numba's C extension modules, loaded without importing numba (its package's import
    costs ~0.2 s); a later ``import numba`` gets the same extension."""
    mod = sys.modules.get(module)
    if mod is not None:
        return mod
    import importlib.machinery
    import importlib.util
    spec = importlib.util.find_spec("numba")
    if spec is None or not spec.submodule_search_locations:
        raise NotLoadable("numba is not installed")
    found = glob.glob(os.path.join(spec.submodule_search_locations[0], pattern))
    if not found:
        raise NotLoadable(f"{module}: not found")
    loader = importlib.machinery.ExtensionFileLoader(module, found[0])
    return importlib.util.module_from_spec(
        importlib.util.spec_from_file_location(module, found[0], loader=loader))


def _resolver():
    """Symbol name -> address, as numba binds them (numba/core/base.py, runtime/nrt.py)."""
    table = {"_Py_NoneStruct": id(None)}
    for module, pattern, prefix in (("numba._helperlib", "_helperlib*.so", "numba_"),
                                    ("numba._dynfunc", "_dynfunc*.so", "numba_"),
                                    ("numba.core.runtime._nrt_python",
                                     "core/runtime/_nrt_python*.so", "NRT_")):
        for py_name, address in _extension(module, pattern).c_helpers.items():
            c_name = py_name if prefix == "NRT_" and py_name.startswith("_") else prefix + py_name
            table[c_name] = address
    for obj in vars(builtins).values():
        if isinstance(obj, type) and issubclass(obj, BaseException):
            table[f"PyExc_{obj.__name__}"] = id(obj)
    process = ctypes.CDLL(None)

    def resolve(sym: str) -> int:
        if sym in table:
            return table[sym]
        try:
            return ctypes.cast(getattr(process, sym), ctypes.c_void_p).value
        except AttributeError:
            raise NotLoadable(f"undefined symbol {sym}") from None
    return resolve


_libc_cell: list = []


def _libc():
    """libc's mmap and mprotect through ctypes (set up on first use, not at import)."""
    if not _libc_cell:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long)
        _libc_cell.append(libc)
    return _libc_cell[0]


def _map(size: int):
    """Fresh read-write pages for ``size`` bytes, never unmapped (a hook may be called until the
    process ends, interpreter shutdown included), and a writable view of them."""
    size = (max(size, 1) + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
    addr = _libc().mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE,
                      mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        raise OSError(ctypes.get_errno(), "mmap")
    return (ctypes.c_char * size).from_address(addr), addr


def link(obj: bytes, entry: str) -> int:
    """Map the relocatable ELF object ``obj`` and return the address of its symbol ``entry``."""
    if obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1 or struct.unpack_from("<H", obj, 18)[0] != 62:
        raise NotLoadable("not an ELF64 little-endian x86-64 object")
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum, _shstrndx = struct.unpack_from("<HHH", obj, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize) for i in range(shnum)]
    # (name, type, flags, addr, offset, size, link, info, addralign, entsize)
    code, data = [], []  # (index, alignment, size) of the sections each mapping holds
    for i, s in enumerate(secs):
        kind, flags, size = s[1], s[2], s[5]
        if not flags & _SHF_ALLOC or size == 0:
            continue
        if kind not in (_SHT_PROGBITS, _SHT_NOBITS, _SHT_X86_64_UNWIND):
            raise NotLoadable(f"section type {kind:#x}")
        (data if flags & _SHF_WRITE or kind == _SHT_NOBITS else code).append((i, max(s[8], 1), size))
    symtab = next((s for s in secs if s[1] == _SHT_SYMTAB), None)
    if symtab is None:
        raise NotLoadable("no symbol table")
    strtab = secs[symtab[6]]
    nsyms = symtab[5] // 24
    syms = [struct.unpack_from("<IBBHQQ", obj, symtab[4] + j * 24) for j in range(nsyms)]

    def name_of(off: int) -> str:
        start = strtab[4] + off
        return obj[start:obj.index(b"\0", start)].decode()

    commons = [(j, max(s[4], 1), s[5]) for j, s in enumerate(syms) if s[3] == _SHN_COMMON]

    def layout(items):
        offs, end = {}, 0
        for key_, align, size in items:
            end = (end + align - 1) // align * align
            offs[key_] = end
            end += size
        return offs, end

    code_offs, code_size = layout(code)
    data_offs, data_size = layout([(("s", i), a, n) for i, a, n in data]
                                  + [(("c", j), a, n) for j, a, n in commons])
    cmap, cbase = _map(code_size)
    dmap, dbase = _map(data_size)
    base = {i: cbase + off for i, off in code_offs.items()}
    base.update({k[1]: dbase + off for k, off in data_offs.items() if k[0] == "s"})
    common_at = {k[1]: dbase + off for k, off in data_offs.items() if k[0] == "c"}
    for i, _a, size in code:
        s = secs[i]
        if s[1] != _SHT_NOBITS:
            cmap[code_offs[i]:code_offs[i] + size] = obj[s[4]:s[4] + size]
    for i, _a, size in data:
        s = secs[i]
        if s[1] != _SHT_NOBITS:
            off = data_offs[("s", i)]
            dmap[off:off + size] = obj[s[4]:s[4] + size]
    resolve = None
    values: dict[int, int] = {}

    def value(j: int) -> int:
        nonlocal resolve
        if j in values:
            return values[j]
        st_name, _info, _other, shndx, st_value, _size = syms[j]
        if shndx == _SHN_UNDEF:
            if resolve is None:
                resolve = _resolver()
            v = resolve(name_of(st_name))
        elif shndx == _SHN_ABS:
            v = st_value
        elif shndx == _SHN_COMMON:
            v = common_at[j]
        elif shndx in base:
            v = base[shndx] + st_value
        else:
            raise NotLoadable(f"symbol {name_of(st_name)} in a section not mapped")
        values[j] = v
        return v

    for s in secs:
        if s[1] != _SHT_RELA or s[7] not in base:
            continue  # relocations of sections not mapped (none we need)
        target = s[7]
        in_code = target in code_offs
        buf = cmap if in_code else dmap
        boff = code_offs[target] if in_code else data_offs[("s", target)]
        for r in range(s[5] // 24):
            r_offset, r_info, addend = struct.unpack_from("<QQq", obj, s[4] + r * 24)
            kind, j = r_info & 0xFFFFFFFF, r_info >> 32
            where = base[target] + r_offset
            v = value(j) + addend
            if kind == _R_X86_64_64:
                struct.pack_into("<Q", buf, boff + r_offset, v & (1 << 64) - 1)
            elif kind == _R_X86_64_PC64:
                struct.pack_into("<q", buf, boff + r_offset, v - where)
            elif kind in (_R_X86_64_PC32, _R_X86_64_PLT32):
                d = v - where
                if not -(1 << 31) <= d < 1 << 31:
                    raise NotLoadable("a 32-bit relative relocation out of range")
                struct.pack_into("<i", buf, boff + r_offset, d)
            else:
                raise NotLoadable(f"relocation type {kind}")
    entry_sym = next((j for j, s in enumerate(syms)
                      if s[3] != _SHN_UNDEF and name_of(s[0]) == entry), None)
    if entry_sym is None:
        raise NotLoadable(f"no symbol {entry}")
    addr = value(entry_sym)
    if code_size and _libc().mprotect(cbase, (code_size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE,
                                    mmap.PROT_READ | mmap.PROT_EXEC) != 0:
        raise OSError(ctypes.get_errno(), "mprotect")
    return addr
