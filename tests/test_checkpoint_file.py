"""The checkpoint file format: arrays round-trip (in every encoding: raw, fill, narrow, patch),
and every damaged, forged or hostile file is refused with CheckpointError (one line), never a
silent load, never code run, never an allocation the file asked for without bound."""
import json
import os
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ecs_kernel import checkpoint_file as CF

DTYPES = st.sampled_from([np.bool_, np.int8, np.uint8, np.int32, np.uint32, np.int64, np.uint64,
                          np.float64, np.dtype("S16")])


def sample():
    """Arrays that take every encoding: raw (small, or nothing to gain), fill, narrow, patch
    (of integers narrowed, floats, booleans, fixed-length bytes, rows of a 2-D column)."""
    pending = np.zeros(300, np.uint64)
    pending[[3, 77, 299]] = [1 << 63, 5, 2]
    deadline = np.full(200, -1, np.int64)
    deadline[[0, 150]] = [10**15, 7]
    floats = np.zeros(64, np.float64)
    floats[[1, 2, 3]] = [-0.0, np.nan, 1.5]
    comm = np.zeros(40, "S16")
    comm[5] = b"a" * 16
    tids = np.zeros((50, 2), np.int32)
    tids[7] = [1, 2]
    return {"answer": 42, "name": "x"}, {
        "tasks.parent": np.array([-1, 0, 0, 1], np.int32),
        "tasks.sig_mask": np.array([0, 1 << 63, 5, 0], np.uint64),
        "tasks.comm": np.array([b"init", b"sh", b"", b"a" * 15], "S16"),
        "pages": np.arange(5000, dtype=np.uint8).reshape(2, 2500),
        "empty": np.zeros((0, 3), np.int64),
        "fill.i8": np.full(100, -7, np.int64),
        "fill.S16": np.full((10, 3), b"x", "S16"),
        "narrow.utime": (np.arange(300, dtype=np.int64) * 3) % 1000,
        "narrow.big_endian": np.arange(100, dtype=">i4"),
        "patch.pending": pending,
        "patch.deadline": deadline,
        "patch.floats": floats,
        "patch.bool": np.arange(500) == 250,
        "patch.comm": comm,
        "patch.tids": tids,
    }


def entries(blob) -> dict:
    """The manifest's array entries by name."""
    manifest = json.loads(blob[48:48 + struct.unpack_from("<I", blob, 12)[0]])
    return {e["name"]: e for e in manifest["arrays"]}


def encodings(blob) -> dict:
    return {k: e["enc"] if isinstance(e["enc"], str) else next(iter(e["enc"]))
            for k, e in entries(blob).items()}


def test_every_encoding_is_used_and_round_trips():
    meta, arrays = sample()
    blob = CF.dumps(meta, arrays)
    enc = encodings(blob)
    for name in arrays:
        want = name.split(".")[0] if name.split(".")[0] in ("fill", "narrow", "patch") else "raw"
        assert enc[name] == want, (name, enc[name])
    _, back = CF.loads(blob)
    for k, a in arrays.items():
        assert back[k].dtype == a.dtype and back[k].shape == a.shape and back[k].flags.writeable
        assert back[k].tobytes() == a.tobytes(), k  # bytes: NaN and -0.0 included
    stored = sum(e["nbytes"] for k, e in entries(blob).items() if enc[k] != "raw")
    assert stored < sum(arrays[k].nbytes for k in enc if enc[k] != "raw") / 4


def test_round_trip_keeps_every_array_and_the_meta(tmp_path):
    meta, arrays = sample()
    path = tmp_path / "c.ckpt"
    n = CF.write(path, meta, arrays)
    assert n == os.path.getsize(path)
    meta2, arrays2 = CF.read(path)
    assert meta2 == meta
    assert list(arrays2) == list(arrays)
    for k, a in arrays.items():
        assert arrays2[k].dtype == a.dtype and arrays2[k].shape == a.shape
        assert arrays2[k].tobytes() == a.tobytes()
    assert not [p for p in os.listdir(tmp_path) if p != "c.ckpt"], "a temporary file was left"


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_.]{0,20}", fullmatch=True),
                       DTYPES.flatmap(lambda d: hnp.arrays(d, hnp.array_shapes(min_dims=0, max_dims=3,
                                                                               max_side=20))),
                       max_size=6))
def test_any_arrays_round_trip(arrays):
    for encode in (True, False):
        meta, back = CF.loads(CF.dumps({"k": [1, 2]}, arrays, encode=encode))
        assert meta == {"k": [1, 2]} and list(back) == list(arrays)
        for k, a in arrays.items():
            assert back[k].dtype == a.dtype and back[k].shape == a.shape
            assert a.tobytes() == back[k].tobytes()


ANY_DTYPE = st.sampled_from([np.bool_, np.int8, np.uint16, ">i4", np.int32, np.uint32, np.int64,
                             ">u8", np.uint64, np.float32, np.float64, "S3", "S16", "S24"])


@st.composite
def mostly_alike(draw):
    """An array most of whose items are one value, with a few others: what fill, narrow and
    patch are for (integers of any range, floats with NaN and -0.0, bytes)."""
    dt = np.dtype(draw(ANY_DTYPE))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=40))
    elems = hnp.from_dtype(dt, allow_nan=True) if dt.kind == "f" else hnp.from_dtype(dt)
    fill = draw(elems)
    a = np.full(shape, fill, dt)
    if a.size:
        flat = a.reshape(-1)
        idx = draw(st.lists(st.integers(0, a.size - 1), max_size=12))
        for i in idx:
            flat[i] = draw(elems)
    return a


@settings(max_examples=200, deadline=None)
@given(st.lists(mostly_alike(), min_size=1, max_size=5))
def test_mostly_alike_arrays_round_trip_byte_for_byte(arrs):
    arrays = {f"a{i}": a for i, a in enumerate(arrs)}
    _, back = CF.loads(CF.dumps({}, arrays))
    for k, a in arrays.items():
        assert back[k].dtype == a.dtype and back[k].shape == a.shape
        assert a.tobytes() == back[k].tobytes()


def _refused(blob) -> str:
    with pytest.raises(CF.CheckpointError) as e:
        CF.loads(blob)
    msg = str(e.value)
    assert msg and "\n" not in msg
    return msg


def test_every_single_byte_flip_is_refused():
    meta, arrays = sample()
    blob = CF.dumps(meta, arrays)
    for i in range(len(blob)):
        damaged = bytearray(blob)
        damaged[i] ^= 0x5A
        _refused(bytes(damaged))


def test_every_truncation_and_extension_is_refused():
    blob = CF.dumps(*sample())
    for n in range(len(blob)):
        _refused(blob[:n])
    _refused(blob + b"\0")
    _refused(blob + blob)


def test_splices_are_refused_or_are_one_whole_file():
    a = CF.dumps(*sample())
    b = CF.dumps({"other": True}, {"x": np.arange(100, dtype=np.int64)})
    for cut in range(1, min(len(a), len(b))):
        for blob in (a[:cut] + b[cut:], b[:cut] + a[cut:]):
            if blob in (a, b):  # the cut fell where the two files agree (the magic)
                continue
            _refused(blob)


def test_a_pickle_is_refused_without_running_it(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))
    payload = pickle.dumps(Boom())
    assert "magic" in _refused(payload)
    # a pickle dressed as an array entry: the dtype says object, which is never loaded
    assert not (tmp_path / "pwned").exists()


def _forge(manifest: dict, data: bytes = b"") -> bytes:
    """A well-formed file (right magic, lengths and manifest digest) around ``manifest``."""
    import hashlib
    mbytes = json.dumps(manifest).encode()
    head = struct.pack("<8sII32s", CF.MAGIC, CF.FORMAT_VERSION, len(mbytes),
                       hashlib.blake2b(mbytes, digest_size=32).digest())
    body = head + mbytes
    body += b"\0" * ((-len(body)) % CF.ALIGN) + data
    tail = struct.pack("<8sQ", CF.MAGIC, len(body) + 48)
    return body + tail + hashlib.blake2b(body + tail, digest_size=32).digest()


def _entry(**kw):
    import hashlib
    e = {"name": "x", "dtype": "<i8", "shape": [2], "enc": "raw", "offset": 0, "nbytes": 16,
         "blake2b": hashlib.blake2b(bytes(16), digest_size=32).hexdigest()}
    e.update(kw)
    return e


@pytest.mark.parametrize("entry,why", [
    (_entry(dtype="|O"), "dtype"),
    (_entry(dtype="<V16", nbytes=16, shape=[1]), "dtype"),
    (_entry(dtype=[["a", "<i8"]]), "dtype"),
    (_entry(dtype="{'x': 1}"), "dtype"),
    (_entry(shape=[-2]), "shape"),
    (_entry(shape=[3]), "shape"),
    (_entry(shape=[2.0]), "shape"),
    (_entry(offset=-64), "range"),
    (_entry(offset=1 << 40), "outside"),
    (_entry(nbytes=1 << 40, shape=[1 << 37]), "outside"),
    (_entry(name="../../etc/passwd"), "name"),
    (_entry(name=""), "name"),
    (_entry(blake2b="0" * 64), "checksum"),
])
def test_forged_manifests_are_refused(entry, why):
    msg = _refused(_forge({"ecs_kernel": "x", "meta": {}, "arrays": [entry]}, bytes(16)))
    assert why in msg, msg


def _coded(enc, data: bytes, **kw) -> bytes:
    """A file of one array ``x`` with encoding ``enc`` over ``data``, every digest right."""
    import hashlib
    e = _entry(enc=enc, nbytes=len(data), blake2b=hashlib.blake2b(data, digest_size=32).hexdigest())
    e.update(kw)
    return _forge({"ecs_kernel": "x", "meta": {}, "arrays": [e]}, data)


def _patch(index: list, values: list, index_dtype="<u4", values_dtype="<i2", fill="00" * 8,
           count=None) -> tuple[dict, bytes]:
    data = np.array(index, index_dtype).tobytes() + np.array(values, values_dtype).tobytes()
    return ({"patch": {"fill": fill, "index": index_dtype, "values": values_dtype,
                       "count": len(index) if count is None else count}}, data)


def test_well_formed_encodings_load():
    assert list(CF.loads(_coded({"fill": "ff" * 8}, b"", shape=[3]))[1]["x"]) == [-1, -1, -1]
    assert list(CF.loads(_coded({"narrow": "|i1"}, bytes([1, 255]), shape=[2]))[1]["x"]) == [1, -1]
    enc, data = _patch([0, 4], [5, -6])
    assert list(CF.loads(_coded(enc, data, shape=[5]))[1]["x"]) == [5, 0, 0, 0, -6]


@pytest.mark.parametrize("blob,why", [
    (_coded("zlib", bytes(16)), "encoding"),
    (_coded({"zlib": 6}, bytes(16)), "encoding"),
    (_coded({"fill": "ff", "narrow": "|i1"}, b""), "encoding"),
    (_coded({"fill": "ff"}, b""), "fill"),  # one byte for an 8-byte item
    (_coded({"fill": "zz" * 8}, b""), "fill"),
    (_coded({"fill": 0}, b""), "fill"),
    (_coded({"fill": "00" * 8}, bytes(8)), "bytes"),  # a fill stores nothing
    (_coded({"narrow": "<u8"}, bytes(16)), "cannot hold"),  # not exact for int64
    (_coded({"narrow": "<f4"}, bytes(8)), "cannot hold"),
    (_coded({"narrow": "|O"}, bytes(16)), "cannot hold"),
    (_coded({"narrow": "|i1"}, bytes(16)), "bytes"),
    (_coded({"narrow": "|i1"}, bytes(4), dtype="<f4", shape=[4]), "cannot hold"),
    (_coded({"narrow": 7}, bytes(2)), "dtype"),
    (_coded({"patch": {"fill": "00" * 8}}, b""), "patch"),
    (_coded(*_patch([0], [1], index_dtype="<i4")), "patch"),
    (_coded(*_patch([0], [1], count=-1)), "patch"),
    (_coded(*_patch([0, 1, 1], [1, 2, 3]), shape=[2]), "patch"),  # more than the items
    (_coded(*_patch([0], [1], values_dtype="<u8")), "cannot hold"),
    (_coded(*_patch([0], [1], fill="00")), "fill"),
    (_coded(*_patch([1, 0], [1, 2])), "order"),
    (_coded(*_patch([1, 1], [1, 2])), "order"),
    (_coded(*_patch([2], [1])), "range"),
    (_coded(*_patch([0], [1], count=2)), "bytes"),
    (_coded({"fill": "00" * 8}, b"", shape=[1 << 40]), "too large"),
    (_coded({"fill": "00" * 8}, b"", shape=[1 << 30, 1 << 30, 1 << 30]), "too large"),
])
def test_forged_encodings_are_refused(blob, why):
    msg = _refused(blob)
    assert why in msg, msg


def test_forged_manifest_shapes_are_refused():
    _refused(_forge({"ecs_kernel": "x", "meta": {}}))
    _refused(_forge({"ecs_kernel": "x", "meta": {}, "arrays": [], "extra": 1}))
    _refused(_forge({"ecs_kernel": "x", "meta": [], "arrays": []}))
    _refused(_forge([1, 2, 3]))
    two = [_entry(), _entry()]
    assert "twice" in _refused(_forge({"ecs_kernel": "x", "meta": {}, "arrays": two}, bytes(16)))


def test_another_format_version_is_named():
    blob = bytearray(CF.dumps(*sample()))
    struct.pack_into("<I", blob, 8, CF.FORMAT_VERSION + 1)
    assert "version" in _refused(bytes(blob))


def test_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(CF.CheckpointError) as e:
        CF.read(tmp_path / "nope")
    assert "cannot read" in str(e.value)
