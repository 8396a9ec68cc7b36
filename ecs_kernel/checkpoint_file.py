"""The checkpoint file format: named numpy arrays and a JSON manifest, checksummed, saved
atomically, loaded without running code.

Layout (all integers little-endian)::

    header    MAGIC (8 bytes) | format version (u32) | manifest length (u32)
              | BLAKE2b-256 of the manifest (32 bytes)
    manifest  UTF-8 JSON: {"ecs_kernel": version, "meta": {...},
                           "arrays": [{"name", "dtype", "shape", "offset", "nbytes", "blake2b"}]}
    data      each array's bytes at its offset (64-byte aligned), in manifest order
    trailer   MAGIC (8 bytes) | total file length (u64) | BLAKE2b-256 of everything before it

Loading checks everything before returning anything: the magic at both ends and the length
(truncation), the format version, the manifest's digest and shape (a JSON object with exactly the
keys above), and for each array a plain name, a dtype of booleans, integers, floats or fixed-length
bytes (never objects: nothing is unpickled, no code runs), a shape and a byte count that agree, a
range inside the data area that overlaps no other, and its digest; last the whole file's digest
(a changed byte of padding is a damaged file too). Any failure raises
:class:`CheckpointError` with one line naming what is wrong. Saving writes a temporary file beside
the target, fsyncs it and renames it over the target, so a reader never sees half a file.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
from importlib.metadata import PackageNotFoundError, version

import numpy as np

MAGIC = b"ECSKCKPT"
FORMAT_VERSION = 1
ALIGN = 64
MAX_MANIFEST = 64 << 20  # bytes of JSON
MAX_ARRAYS = 1 << 20
_HEAD = struct.Struct("<8sII32s")
_TAIL = struct.Struct("<8sQ32s")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\[\]-]{0,199}$")  # a key, never a path
_KEYS = {"ecs_kernel", "meta", "arrays"}
_ARRAY_KEYS = {"name", "dtype", "shape", "offset", "nbytes", "blake2b"}
_KINDS = "biuf"  # bool, signed, unsigned, float; plus fixed-length bytes ("S")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read: the message is one line naming what is wrong."""


def _digest(data) -> str:
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def _version() -> str:
    try:
        return version("ecs-kernel")
    except PackageNotFoundError:  # a source tree on sys.path, not installed
        return "unknown"


def dumps(meta: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """The file's bytes for ``meta`` (JSON-serialisable) and ``arrays`` (name -> array)."""
    entries = []
    blobs = []
    offset = 0
    for name, arr in arrays.items():
        if not _NAME.match(name):
            raise ValueError(f"array name {name!r} is not plain")
        a = np.asarray(arr)
        if not a.flags.c_contiguous:
            a = a.copy(order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        _check_dtype(a.dtype, name)
        data = a.tobytes()
        pad = (-offset) % ALIGN
        offset += pad
        blobs.append(b"\0" * pad)
        entries.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape),
                        "offset": offset, "nbytes": len(data), "blake2b": _digest(data)})
        blobs.append(data)
        offset += len(data)
    manifest = json.dumps({"ecs_kernel": _version(), "meta": meta, "arrays": entries},
                          separators=(",", ":")).encode()
    head = _HEAD.pack(MAGIC, FORMAT_VERSION, len(manifest), hashlib.blake2b(manifest, digest_size=32).digest())
    body = head + manifest
    pad = (-len(body)) % ALIGN
    out = b"".join([body, b"\0" * pad, *blobs])
    h = hashlib.blake2b(out, digest_size=32)
    h.update(struct.pack("<8sQ", MAGIC, len(out) + _TAIL.size))
    return out + _TAIL.pack(MAGIC, len(out) + _TAIL.size, h.digest())


def write(path, meta: dict, arrays: dict[str, np.ndarray]) -> int:
    """Save atomically (temporary file, fsync, rename). Returns the file's size."""
    blob = dumps(meta, arrays)
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
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
    return len(blob)


def read(path) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a checkpoint file; CheckpointError for anything wrong with it."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise CheckpointError(f"cannot read {os.fspath(path)}: {e.strerror}") from None
    return loads(blob)


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
    if hashlib.blake2b(mbytes, digest_size=32).digest() != mdigest:
        raise CheckpointError("corrupt checkpoint: the manifest's checksum does not match")
    try:
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
    arrays: dict[str, np.ndarray] = {}
    end_prev = 0
    for e in entries:
        name, arr_dtype, shape, offset, nbytes = _entry(e)
        if name in arrays:
            raise CheckpointError(f"corrupt checkpoint: array {name!r} twice")
        start = data_start + offset
        if offset < end_prev or start + nbytes > data_end:
            raise CheckpointError(f"corrupt checkpoint: array {name!r} lies outside the data")
        chunk = blob[start:start + nbytes]
        if _digest(chunk) != e["blake2b"]:
            raise CheckpointError(f"corrupt checkpoint: array {name!r} does not match its checksum")
        arrays[name] = np.frombuffer(chunk, dtype=arr_dtype).reshape(shape).copy()
        end_prev = offset + nbytes
    if hashlib.blake2b(blob[:len(blob) - 32], digest_size=32).digest() != file_digest:
        raise CheckpointError("corrupt checkpoint: bytes outside the arrays changed "
                              "(the file's checksum does not match)")
    return manifest["meta"], arrays


def _entry(e) -> tuple[str, np.dtype, tuple[int, ...], int, int]:
    if not isinstance(e, dict) or set(e) != _ARRAY_KEYS:
        raise CheckpointError("corrupt checkpoint: an array entry has the wrong fields")
    name = e["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise CheckpointError("corrupt checkpoint: an array has no plain name")
    try:
        if not isinstance(e["dtype"], str):
            raise TypeError
        dt = np.dtype(e["dtype"])
    except (TypeError, ValueError):
        raise CheckpointError(f"corrupt checkpoint: array {name!r} has an unknown dtype") from None
    _check_dtype(dt, name, CheckpointError)
    shape, offset, nbytes = e["shape"], e["offset"], e["nbytes"]
    ints = [*shape, offset, nbytes] if isinstance(shape, list) else None
    if ints is None or not all(type(x) is int and x >= 0 for x in ints) or len(shape) > 8 \
            or not isinstance(e["blake2b"], str):
        raise CheckpointError(f"corrupt checkpoint: array {name!r} has a bad shape or range")
    count = 1
    for x in shape:
        count *= x
    if count * dt.itemsize != nbytes:
        raise CheckpointError(f"corrupt checkpoint: array {name!r}'s shape does not fit its bytes")
    return name, dt, tuple(shape), offset, nbytes


def _check_dtype(dt: np.dtype, name: str, err=ValueError) -> None:
    ok = (dt.kind in _KINDS and not dt.fields and not dt.subdtype) or \
        (dt.kind == "S" and 0 < dt.itemsize <= 256)
    if not ok or dt.hasobject:
        raise err(f"array {name!r} has dtype {dt.str!r}: only plain numbers and bytes are stored")


__all__ = ["CheckpointError", "FORMAT_VERSION", "dumps", "loads", "read", "write"]
