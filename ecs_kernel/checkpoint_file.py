"""The checkpoint file format: named numpy arrays and a JSON manifest, checksummed, saved
atomically, loaded without running code.

Layout (all integers little-endian)::

    header    MAGIC (8 bytes) | format version (u32) | manifest length (u32)
              | BLAKE2b-256 of the manifest (32 bytes)
    manifest  UTF-8 JSON: {"ecs_kernel": version, "meta": {...},
                           "arrays": [{"name", "dtype", "shape", "enc", "offset", "nbytes",
                                       "blake2b"}]}
    data      each array's stored bytes at its offset (64-byte aligned), in manifest order
    trailer   MAGIC (8 bytes) | total file length (u64) | BLAKE2b-256 of everything before it

An array is stored in one of four encodings (``enc``), chosen per array by :func:`dumps` for the
fewest bytes; ``dtype`` and ``shape`` are always the array's own (what loading returns)::

    "raw"                   its bytes
    {"fill": HEX}           every item is the item whose bytes are HEX: nothing stored
    {"narrow": DTYPE}       an integer array's items as a narrower integer dtype that converts
                            back exactly (int64 columns of small numbers)
    {"patch": {"fill": HEX, "index": "<u4" or "<u8", "values": DTYPE, "count": K}}
                            every item is HEX but K of them: their flat indices (strictly
                            increasing, in range), then their values (the array's dtype or, for
                            integers, a narrower one that converts back exactly)

Most columns of a simulation's tables are at their default or nearly (a signal mask, a pending
set, a wait status), or hold small numbers in wide integers (CPU times in ns of few ticks): these
encodings take a 10^6-task simulation from 387 to well under 200 bytes per task, in numpy passes
(no compressor: zlib costs seconds per 100 MB, the save would cost more than it saves).

Loading checks everything before returning anything: the magic at both ends and the length
(truncation), the format version, the manifest's digest and shape (a JSON object with exactly the
keys above), and for each array a plain name, a dtype of booleans, integers, floats or fixed-length
bytes (never objects: nothing is unpickled, no code runs), an encoding of the kinds above whose
stored byte count agrees with the shape, a range inside the data area that overlaps no other, its
digest, and for a patch its indices; then the whole file's digest (a changed byte of padding is a
damaged file too), and that the arrays, decoded, fit in this machine's memory (a fill of 10^15
items is refused, not attempted). Only then is any array built. Any failure raises
:class:`CheckpointError` with one line naming what is wrong. Saving writes a temporary file beside
the target, fsyncs it and renames it over the target, so a reader never sees half a file.
"""
from __future__ import annotations

import os
import re
import struct
import tempfile

try:  # hashlib's own blake2b without importing hashlib, which loads OpenSSL (~3 ms of start-up)
    from _blake2 import blake2b
except ImportError:  # an interpreter without CPython's builtin module
    from hashlib import blake2b

import numpy as np

MAGIC = b"ECSKCKPT"
FORMAT_VERSION = 2  # 2: arrays carry an encoding ("enc")
ALIGN = 64
MAX_MANIFEST = 64 << 20  # bytes of JSON
MAX_ARRAYS = 1 << 20
SMALL = 64  # arrays of at most this many bytes are stored raw: an encoding would save nothing
_HEAD = struct.Struct("<8sII32s")
_TAIL = struct.Struct("<8sQ32s")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\[\]-]{0,199}$")  # a key, never a path
_KEYS = {"ecs_kernel", "meta", "arrays"}
_ARRAY_KEYS = {"name", "dtype", "shape", "enc", "offset", "nbytes", "blake2b"}
_PATCH_KEYS = {"fill", "index", "values", "count"}
_KINDS = "biuf"  # bool, signed, unsigned, float; plus fixed-length bytes ("S")
_INDEX_DTYPES = {"<u4": np.dtype("<u4"), "<u8": np.dtype("<u8")}
# narrower integer dtypes to try, smallest first (one that converts back exactly is kept)
_NARROW = [np.dtype(d) for d in ("|i1", "|u1", "<i2", "<u2", "<i4", "<u4")]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read: the message is one line naming what is wrong."""


def _digest(data) -> str:
    return blake2b(data, digest_size=32).hexdigest()


def _version() -> str:
    # importlib.metadata costs ~15 ms to import: only a written checkpoint needs it
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("ecs-kernel")
    except PackageNotFoundError:  # a source tree on sys.path, not installed
        return "unknown"


# -- saving --------------------------------------------------------------------------------------

def dumps(meta: dict, arrays: dict[str, np.ndarray], encode: bool = True) -> bytes:
    """The file's bytes for ``meta`` (JSON-serialisable) and ``arrays`` (name -> array).
    ``encode=False`` stores every array raw."""
    pieces, _ = _pieces(meta, arrays, encode)
    return b"".join(pieces)


def write(path, meta: dict, arrays: dict[str, np.ndarray], encode: bool = True) -> int:
    """Save atomically (temporary file, fsync, rename). Returns the file's size."""
    pieces, size = _pieces(meta, arrays, encode)
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            for p in pieces:
                f.write(p)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # the rename itself survives a crash once the directory is synced
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return size


def _pieces(meta: dict, arrays: dict[str, np.ndarray], encode: bool) -> tuple[list, int]:
    """The file as a list of byte buffers (the arrays' stored bytes are not copied into one
    string), and its length."""
    entries = []
    blobs: list = []
    offset = 0
    for name, arr in arrays.items():
        if not _NAME.match(name):
            raise ValueError(f"array name {name!r} is not plain")
        a = np.asarray(arr)
        if not a.flags.c_contiguous:
            a = a.copy(order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        _check_dtype(a.dtype, name)
        enc, data = _encode(a) if encode else ("raw", _bytes_of(a))
        pad = (-offset) % ALIGN
        offset += pad
        blobs.append(b"\0" * pad)
        entries.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "enc": enc,
                        "offset": offset, "nbytes": len(data), "blake2b": _digest(data)})
        blobs.append(data)
        offset += len(data)
    import json  # only when a checkpoint is written or read (~1.5 ms of every run's start-up)
    manifest = json.dumps({"ecs_kernel": _version(), "meta": meta, "arrays": entries},
                          separators=(",", ":")).encode()
    head = _HEAD.pack(MAGIC, FORMAT_VERSION, len(manifest), blake2b(manifest, digest_size=32).digest())
    body = head + manifest
    pieces = [body, b"\0" * ((-len(body)) % ALIGN), *blobs]
    size = sum(len(p) for p in pieces) + _TAIL.size
    h = blake2b(digest_size=32)
    for p in pieces:
        h.update(p)
    h.update(struct.pack("<8sQ", MAGIC, size))
    pieces.append(_TAIL.pack(MAGIC, size, h.digest()))
    return pieces, size


def _bytes_of(a: np.ndarray) -> memoryview:
    """A C-contiguous array's bytes, without a copy."""
    return memoryview(a.reshape(-1).view(np.uint8))


def _keys(flat: np.ndarray) -> np.ndarray:
    """A flat array's items as what compares by bytes: the integers themselves, other items of
    1, 2, 4 or 8 bytes as unsigned integers (floats: -0.0 and 0.0, NaN payloads stay apart), longer
    ones as rows of them (a view, 2-D)."""
    dt = flat.dtype
    if dt.kind in "iu":
        return flat
    s = dt.itemsize
    if s in (1, 2, 4, 8):
        return flat.view(f"<u{s}")
    unit = 8 if s % 8 == 0 else 1
    return flat.view(f"<u{unit}").reshape(len(flat), s // unit)


def _narrowest(x: np.ndarray, dt: np.dtype) -> np.dtype:
    """The smallest integer dtype that holds every value of ``x`` and converts back to ``dt``
    exactly (``dt`` itself if none is smaller)."""
    if x.size == 0:
        return next((c for c in _NARROW if np.can_cast(c, dt, "safe")), dt)
    lo, hi = int(x.min()), int(x.max())
    for c in _NARROW:
        if c.itemsize >= dt.itemsize:
            break
        info = np.iinfo(c)
        if info.min <= lo and hi <= info.max and np.can_cast(c, dt, "safe"):
            return c
    return dt


def _most_common(keys: np.ndarray):
    """The most common item among ~257 evenly spaced ones: the likely fill of a column."""
    sample = keys[:: max(len(keys) // 257, 1)]
    if keys.ndim == 1:
        vals, counts = np.unique(sample, return_counts=True)
    else:
        vals, counts = np.unique(sample, axis=0, return_counts=True)
    return vals[int(np.argmax(counts))]


def _encode(a: np.ndarray) -> tuple:
    """``(enc, stored bytes)`` for ``a``: the encoding of the fewest bytes."""
    if a.nbytes <= SMALL:
        return "raw", _bytes_of(a)
    flat = a.reshape(-1)
    n, w = len(flat), a.dtype.itemsize
    keys = _keys(flat)
    v = _most_common(keys)
    ne = keys != v
    if ne.ndim == 2:
        ne = ne.any(axis=1)
    k = int(np.count_nonzero(ne))
    j = int(np.argmin(ne))  # an item equal to the fill (the sample came from the array)
    fill = flat[j:j + 1].tobytes().hex()  # its bytes, in the array's own dtype and byte order
    if k == 0:
        return {"fill": fill}, b""
    best, data, cost = "raw", None, n * w
    integer = a.dtype.kind in "iu"
    if integer:
        nd = _narrowest(flat, a.dtype)
        if nd.itemsize < w:
            best, cost = {"narrow": nd.str}, n * nd.itemsize
    iw = 4 if n <= 1 << 32 else 8
    if k * (iw + 1) < cost:
        idx = np.flatnonzero(ne)
        vals = flat[idx]
        vd = _narrowest(vals, a.dtype) if integer else a.dtype
        if k * (iw + vd.itemsize) < cost:
            idt = _INDEX_DTYPES["<u4" if iw == 4 else "<u8"]
            best = {"patch": {"fill": fill, "index": idt.str, "values": vd.str, "count": k}}
            data = idx.astype(idt).tobytes() + vals.astype(vd).tobytes()
            return best, data
    if best == "raw":
        return "raw", _bytes_of(a)
    return best, flat.astype(np.dtype(best["narrow"])).tobytes()


# -- loading -------------------------------------------------------------------------------------

def read(path) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a checkpoint file; CheckpointError for anything wrong with it."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise CheckpointError(f"cannot read {os.fspath(path)}: {e.strerror}") from None
    return loads(blob)


def memory_limit() -> int:
    """The most bytes a checkpoint's arrays may decode to: this machine's memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not Linux-like
        return 1 << 40


def loads(blob: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Validate ``blob`` as a whole, then return ``(meta, arrays)`` (arrays are copies)."""
    blob = memoryview(blob)
    if len(blob) < _HEAD.size + _TAIL.size:
        raise CheckpointError(f"not a checkpoint: {len(blob)} bytes is too short")
    magic, version, mlen, mdigest = _HEAD.unpack_from(blob, 0)
    if magic != MAGIC:
        raise CheckpointError("not a checkpoint: bad magic (is this an ecs-kernel checkpoint?)")
    tail_magic, total, file_digest = _TAIL.unpack_from(blob, len(blob) - _TAIL.size)
    if tail_magic != MAGIC or total != len(blob):
        raise CheckpointError(f"truncated or extended checkpoint: {len(blob)} bytes, the trailer "
                              f"says {total if tail_magic == MAGIC else 'nothing'}")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint format version {version}; this ecs-kernel reads "
                              f"version {FORMAT_VERSION}")
    if mlen > MAX_MANIFEST or _HEAD.size + mlen > len(blob) - _TAIL.size:
        raise CheckpointError(f"corrupt checkpoint: manifest length {mlen} out of range")
    mbytes = bytes(blob[_HEAD.size:_HEAD.size + mlen])
    if blake2b(mbytes, digest_size=32).digest() != mdigest:
        raise CheckpointError("corrupt checkpoint: the manifest's checksum does not match")
    try:
        import json  # (as in _pieces)
        manifest = json.loads(mbytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CheckpointError("corrupt checkpoint: the manifest is not JSON") from None
    if not isinstance(manifest, dict) or set(manifest) != _KEYS:
        raise CheckpointError("corrupt checkpoint: the manifest has the wrong fields")
    if not isinstance(manifest["meta"], dict) or not isinstance(manifest["arrays"], list):
        raise CheckpointError("corrupt checkpoint: the manifest has the wrong fields")
    entries = manifest["arrays"]
    if len(entries) > MAX_ARRAYS:
        raise CheckpointError(f"corrupt checkpoint: {len(entries)} arrays")
    data_start = _HEAD.size + mlen + ((-(_HEAD.size + mlen)) % ALIGN)
    data_end = len(blob) - _TAIL.size
    checked: dict[str, tuple] = {}
    end_prev = 0
    decoded = 0
    for e in entries:
        name, arr_dtype, shape, enc, offset, nbytes = _entry(e)
        if name in checked:
            raise CheckpointError(f"corrupt checkpoint: array {name!r} twice")
        start = data_start + offset
        if offset < end_prev or start + nbytes > data_end:
            raise CheckpointError(f"corrupt checkpoint: array {name!r} lies outside the data")
        chunk = blob[start:start + nbytes]
        if _digest(chunk) != e["blake2b"]:
            raise CheckpointError(f"corrupt checkpoint: array {name!r} does not match its checksum")
        if "patch" in enc:
            _check_patch(name, enc, chunk, _count(shape))
        checked[name] = (arr_dtype, shape, enc, chunk)
        decoded += _count(shape) * arr_dtype.itemsize
        end_prev = offset + nbytes
    if blake2b(blob[:len(blob) - 32], digest_size=32).digest() != file_digest:
        raise CheckpointError("corrupt checkpoint: bytes outside the arrays changed "
                              "(the file's checksum does not match)")
    limit = memory_limit()
    if decoded > limit:
        raise CheckpointError(f"checkpoint too large: its arrays take {decoded} bytes, more than "
                              f"this machine's {limit}")
    return manifest["meta"], {name: _decode(*c) for name, c in checked.items()}


def _count(shape) -> int:
    count = 1
    for x in shape:
        count *= x
    return count


def _entry(e) -> tuple[str, np.dtype, tuple[int, ...], dict, int, int]:
    """An array entry's fields, each checked; ``enc`` comes back as a dict of parsed parts."""
    if not isinstance(e, dict) or set(e) != _ARRAY_KEYS:
        raise CheckpointError("corrupt checkpoint: an array entry has the wrong fields")
    name = e["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise CheckpointError("corrupt checkpoint: an array has no plain name")
    dt = _dtype(e["dtype"], name)
    _check_dtype(dt, name, CheckpointError)
    shape, offset, nbytes = e["shape"], e["offset"], e["nbytes"]
    ints = [*shape, offset, nbytes] if isinstance(shape, list) else None
    if ints is None or not all(type(x) is int and x >= 0 for x in ints) or len(shape) > 8 \
            or not isinstance(e["blake2b"], str):
        raise CheckpointError(f"corrupt checkpoint: array {name!r} has a bad shape or range")
    count = _count(shape)
    enc, stored = _encoding(e["enc"], dt, count, name)
    if stored != nbytes:
        raise CheckpointError(f"corrupt checkpoint: array {name!r}'s shape does not fit its bytes")
    return name, dt, tuple(shape), enc, offset, nbytes


def _dtype(s, name: str) -> np.dtype:
    try:
        if not isinstance(s, str):
            raise TypeError
        return np.dtype(s)
    except (TypeError, ValueError):
        raise CheckpointError(f"corrupt checkpoint: array {name!r} has an unknown dtype") from None


def _fill(h, dt: np.dtype, name: str) -> bytes:
    if not isinstance(h, str) or len(h) != 2 * dt.itemsize or not re.fullmatch(r"[0-9a-f]*", h):
        raise CheckpointError(f"corrupt checkpoint: array {name!r} has a bad fill value")
    return bytes.fromhex(h)


def _exact_int(d: np.dtype, dt: np.dtype, name: str) -> None:
    """``d`` must be a plain integer dtype that converts to integer ``dt`` exactly."""
    if dt.kind not in "iu" or d.kind not in "iu" or d.fields or d.subdtype \
            or not np.can_cast(d, dt, "safe"):
        raise CheckpointError(f"corrupt checkpoint: array {name!r}: {d.str!r} cannot hold "
                              f"its {dt.str!r} values")


def _encoding(enc, dt: np.dtype, count: int, name: str) -> tuple[dict, int]:
    """``(parsed encoding, stored byte count)``; CheckpointError for an encoding that is not one
    of the module docstring's."""
    if enc == "raw":
        return {"raw": None}, count * dt.itemsize
    if not isinstance(enc, dict) or len(enc) != 1:
        raise CheckpointError(f"corrupt checkpoint: array {name!r} has an unknown encoding")
    (kind, arg), = enc.items()
    if kind == "fill":
        return {"fill": _fill(arg, dt, name)}, 0
    if kind == "narrow":
        nd = _dtype(arg, name)
        _exact_int(nd, dt, name)
        return {"narrow": nd}, count * nd.itemsize
    if kind == "patch":
        if not isinstance(arg, dict) or set(arg) != _PATCH_KEYS:
            raise CheckpointError(f"corrupt checkpoint: array {name!r} has a malformed patch")
        idt = _INDEX_DTYPES.get(arg["index"]) if isinstance(arg["index"], str) else None
        k = arg["count"]
        if idt is None or type(k) is not int or not 0 <= k <= count:
            raise CheckpointError(f"corrupt checkpoint: array {name!r} has a malformed patch")
        vd = _dtype(arg["values"], name)
        if vd != dt:
            _exact_int(vd, dt, name)
        return {"patch": (_fill(arg["fill"], dt, name), idt, vd, k)}, k * (idt.itemsize + vd.itemsize)
    raise CheckpointError(f"corrupt checkpoint: array {name!r} has an unknown encoding")


def _check_patch(name: str, enc: dict, chunk, count: int) -> None:
    _, idt, _, k = enc["patch"]
    idx = np.frombuffer(chunk[: k * idt.itemsize], dtype=idt)
    if k and (int(idx[-1]) >= count or not (idx[1:] > idx[:-1]).all()):
        raise CheckpointError(f"corrupt checkpoint: array {name!r}'s patch indices are out of "
                              f"order or range")


def _decode(dt: np.dtype, shape: tuple, enc: dict, chunk) -> np.ndarray:
    """The array an entry checked by :func:`loads` describes (a new array)."""
    if "raw" in enc:
        return np.frombuffer(chunk, dtype=dt).reshape(shape).copy()
    if "narrow" in enc:
        return np.frombuffer(chunk, dtype=enc["narrow"]).astype(dt).reshape(shape)
    out = np.empty(_count(shape), dt)
    keys = _keys(out)
    fill, idt, vd, k = enc["patch"] if "patch" in enc else (enc["fill"], None, None, 0)
    keys[...] = np.frombuffer(fill, dtype=keys.dtype).reshape(keys.shape[1:])
    if k:
        idx = np.frombuffer(chunk[: k * idt.itemsize], dtype=idt)
        vals = np.frombuffer(chunk[k * idt.itemsize:], dtype=vd)
        if dt.kind in "iu":
            out[idx] = vals
        else:
            keys[idx] = _keys(vals)
    return out.reshape(shape)


def _check_dtype(dt: np.dtype, name: str, err=ValueError) -> None:
    ok = (dt.kind in _KINDS and not dt.fields and not dt.subdtype) or \
        (dt.kind == "S" and 0 < dt.itemsize <= 256)
    if not ok or dt.hasobject:
        raise err(f"array {name!r} has dtype {dt.str!r}: only plain numbers and bytes are stored")


__all__ = ["FORMAT_VERSION", "CheckpointError", "dumps", "loads", "memory_limit", "read", "write"]
