"""The checkpoint file format: arrays round-trip, and every damaged, forged or hostile file is
refused with CheckpointError (one line), never a silent load, never code run."""
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
    return {"answer": 42, "name": "x"}, {
        "tasks.parent": np.array([-1, 0, 0, 1], np.int32),
        "tasks.sig_mask": np.array([0, 1 << 63, 5, 0], np.uint64),
        "tasks.comm": np.array([b"init", b"sh", b"", b"a" * 15], "S16"),
        "pages": np.arange(5000, dtype=np.uint8).reshape(2, 2500),
        "empty": np.zeros((0, 3), np.int64),
    }


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
        assert np.array_equal(arrays2[k], a)
    assert not [p for p in os.listdir(tmp_path) if p != "c.ckpt"], "a temporary file was left"


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_.]{0,20}", fullmatch=True),
                       DTYPES.flatmap(lambda d: hnp.arrays(d, hnp.array_shapes(min_dims=0, max_dims=3,
                                                                               max_side=20))),
                       max_size=6))
def test_any_arrays_round_trip(arrays):
    meta, back = CF.loads(CF.dumps({"k": [1, 2]}, arrays))
    assert meta == {"k": [1, 2]} and list(back) == list(arrays)
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
    e = {"name": "x", "dtype": "<i8", "shape": [2], "offset": 0, "nbytes": 16,
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
