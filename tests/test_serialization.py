"""``xpgrad.save`` / ``xpgrad.load``: round trips, safetensors interop, refusal of bad files, atomic writes.

Files are built by hand where a test needs a precise fault (``_raw`` writes a
safetensors header with no xpgrad metadata; ``_forge`` one with valid xpgrad
checksums around a structure of our choosing).
"""

import hashlib
import json
import os
import pickle
import re
import stat
import struct
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad import _atomic, serialization
from xpgrad._atomic import atomic_write
from xpgrad.serialization import read_metadata

sn = pytest.importorskip("safetensors.numpy")

CheckpointError = xg.CheckpointError
DEVICES = ["cpu", "opencl:0", "fpga:0"]
DTYPES = ["float64", "float32", "float16", "int64", "int32", "int16", "int8",
          "uint64", "uint32", "uint16", "uint8", "bool", "complex64"]


def _values(dtype):
    """A few values of ``dtype`` including its extremes (and -0.0, nan, inf for floats)."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return np.array([[True, False, True], [False, False, True]])
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return np.array([[info.min, 0, info.max], [1, 7, info.max - 1]], dtype=dt)
    if dt.kind == "c":
        return np.array([[1 + 2j, -0.0, complex(np.inf, np.nan)], [3.5, -1j, 1e30]], dtype=dt)
    info = np.finfo(dt)
    return np.array([[-np.inf, -0.0, np.nan], [info.tiny, info.max, 1.5]], dtype=dt)


def _same(a, b):
    """Bitwise equality of values, dtype and shape (so -0.0 and nan payloads count)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _usable(device):
    try:
        return xg.get_backend(device).device
    except xg.XpgradError as exc:
        pytest.skip(f"{device} is not usable here: {exc}")


@pytest.fixture(params=DEVICES)
def device(request):
    return _usable(request.param)


def _on(device):
    """The dtypes (and their values) that ``device`` can hold."""
    out = {}
    for name in DTYPES:
        try:
            out[name] = xg.asarray(_values(name), device=device)
        except xg.XpgradError:
            pass
    return out


def _raw(header, data=b"", *, length=None):
    """A safetensors file from a header dict (or raw header bytes) and the buffer."""
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(h) if length is None else length) + h + data


def _forge(table, structure, data=b"", user=None):
    """An xpgrad file with valid checksums around any structure: tests the decoder, not the digests."""
    return serialization._header_bytes(table, user or {}, structure, hashlib.sha256(data).hexdigest()) + data


def _write(path, blob):
    with open(path, "wb") as f:
        f.write(blob)
    return path


def _checkpoint():
    """A small checkpoint of model, optimizer, scheduler and random state, as a training loop saves it."""
    return {
        "model": {"0.weight": xg.asarray(np.arange(6.0).reshape(2, 3)), "0.bias": xg.zeros(2)},
        "optimizer": {"state": {0: {"step": 3, "exp_avg": xg.ones((2, 3))}, 1: {"step": 3}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1],
                                        "amsgrad": False, "eps": None}]},
        "scheduler": {"last_epoch": 4, "best": float("inf"), "milestones": (2, 5)},
        "rng": xg.random.get_state(),
        "note": "héllo ✓",
    }


def _assert_tree_equal(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)  # keys, their types and their order
        for k in a:
            _assert_tree_equal(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _assert_tree_equal(u, v)
    elif isinstance(a, xg.Tensor):
        assert _same(a.numpy(), b.numpy())
        assert not b.requires_grad
    elif isinstance(a, (np.ndarray, np.generic)):
        assert _same(a, b)
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert a == b


# -- round trips ------------------------------------------------------------------------------------

def test_checkpoint_round_trip(tmp_path):
    ckpt = _checkpoint()
    xg.save(ckpt, tmp_path / "ckpt.safetensors")
    _assert_tree_equal(ckpt, xg.load(tmp_path / "ckpt.safetensors"))


def test_every_dtype_round_trips_bitwise(tmp_path):
    obj = {"tensors": {name: xg.asarray(_values(name)) for name in DTYPES},
           "arrays": [_values(name) for name in DTYPES]}
    xg.save(obj, tmp_path / "all.safetensors")
    back = xg.load(tmp_path / "all.safetensors")
    for name in DTYPES:
        t = back["tensors"][name]
        assert isinstance(t, xg.Tensor) and t.device == "cpu" and not t.requires_grad
        assert _same(t.numpy(), _values(name)), name
    for name, a in zip(DTYPES, back["arrays"]):
        assert isinstance(a, np.ndarray) and _same(a, _values(name)), name


def test_plain_values_keep_their_types(tmp_path):
    obj = {"ints": {0: "zero", -1: "minus one", 2**100: "big"}, "mixed": {1: 1, "1": 1.0, "t": True},
           "tuple": (1, (2.0, [3, (None,)]), ()), "list": [], "dict": {},
           "floats": [0.1, -0.0, 1e-308, 5e-324], "special": (float("inf"), float("-inf"), float("nan")),
           "none": None, "s": "", "u": "\u00e9\ud83d"}
    xg.save(obj, tmp_path / "p")
    back = xg.load(tmp_path / "p")
    _assert_tree_equal(obj, back)
    assert str(back["floats"][1]) == "-0.0" and back["mixed"]["t"] is True and type(back["mixed"][1]) is int


def test_top_level_values_other_than_dicts(tmp_path):
    for obj in (3, [1, 2], (xg.ones(2),), "x", None, xg.asarray(7.0)):
        xg.save(obj, tmp_path / "x")
        _assert_tree_equal(obj, xg.load(tmp_path / "x"))


def test_empty_and_zero_d_tensors_and_numpy_scalars(tmp_path):
    obj = {"empty": xg.zeros((0, 3)), "empty_int": xg.asarray(np.zeros((2, 0), np.int32)),
           "scalar": xg.asarray(2.5), "np_scalar": np.float32(1.25), "np_int": np.int64(-3),
           "np_bool": np.bool_(1)}
    xg.save(obj, tmp_path / "e")
    back = xg.load(tmp_path / "e")
    _assert_tree_equal(obj, back)
    assert back["scalar"].shape == () and back["empty"].shape == (0, 3)
    assert type(back["np_scalar"]) is np.float32 and type(back["np_int"]) is np.int64


def test_non_contiguous_and_big_endian_sources(tmp_path):
    a = np.arange(12.0).reshape(3, 4)
    obj = {"t": a.T, "be": np.arange(4, dtype=">i4"), "view": xg.asarray(a)[:, 1]}
    xg.save(obj, tmp_path / "nc")
    back = xg.load(tmp_path / "nc")
    np.testing.assert_array_equal(back["t"], a.T)
    np.testing.assert_array_equal(back["be"], [0, 1, 2, 3])
    assert back["view"].tolist() == [1.0, 5.0, 9.0]


def test_loaded_tensors_are_independent_and_writable(tmp_path):
    w = xg.ones(3)
    xg.save({"w": w, "w_again": w}, tmp_path / "w")
    back = xg.load(tmp_path / "w")
    assert back["w"] is not back["w_again"]  # a tensor met twice is stored twice
    with xg.no_grad():
        back["w"] += 1
    assert back["w"].tolist() == [2.0, 2.0, 2.0] and back["w_again"].tolist() == [1.0, 1.0, 1.0]
    p = xg.asarray([1.0], requires_grad=True)
    xg.save({"p": p}, tmp_path / "p")
    assert not xg.load(tmp_path / "p")["p"].requires_grad


def test_random_state_resumes_bitwise(tmp_path):
    xg.manual_seed(123)
    xg.random.normal((5,))
    xg.save({"rng": xg.random.get_state()}, tmp_path / "rng")
    expected = xg.random.normal((1000,)).numpy()
    xg.random.normal((7,))
    xg.random.set_state(xg.load(tmp_path / "rng")["rng"])
    assert _same(xg.random.normal((1000,)).numpy(), expected)


def test_save_accepts_str_and_pathlike_and_overwrites(tmp_path):
    xg.save({"a": 1}, str(tmp_path / "f"))
    xg.save({"a": 2}, tmp_path / "f")
    assert xg.load(str(tmp_path / "f")) == {"a": 2}
    assert os.listdir(tmp_path) == ["f"]


def test_round_trip_on_devices(tmp_path, device):
    tensors = _on(device)
    assert "float32" in tensors
    obj = {"model": tensors, "state": {0: (tensors["float32"], 3)}}
    xg.save(obj, tmp_path / "d")
    for target in {device, "cpu", "fpga:0"}:
        target = _usable(target)
        back = xg.load(tmp_path / "d", device=target)
        supported = _on(target)
        for name, t in back["model"].items():
            assert name in supported  # anything saved from device loads wherever the dtype exists
            assert t.device == target and not t.requires_grad
            assert _same(t.numpy(), _values(name)), (device, target, name)
        assert back["state"][0][1] == 3 and back["state"][0][0].device == target


def test_load_to_a_device_missing_a_dtype_names_the_tensor(tmp_path, device):
    missing = [name for name in DTYPES if name not in _on(device)]
    if not missing:
        pytest.skip(f"{device} holds every dtype")
    xg.save({"x": xg.asarray(_values(missing[0]))}, tmp_path / "m")
    with pytest.raises(xg.XpgradError, match=f"tensor 'x' cannot be placed on {re.escape(device)}"):
        xg.load(tmp_path / "m", device=device)


def test_unknown_device_fails_before_reading(tmp_path):
    with pytest.raises(xg.DeviceError):
        xg.load(tmp_path / "does-not-exist", device="nonsense:3")
    with pytest.raises(FileNotFoundError):
        xg.load(tmp_path / "does-not-exist")


# -- layout and interop -----------------------------------------------------------------------------

def test_flat_state_dict_is_a_plain_safetensors_file(tmp_path):
    sd = {"0.weight": xg.asarray(np.arange(6.0, dtype=np.float32).reshape(2, 3)),
          "0.bias": xg.asarray(np.array([1, 2], np.int64)), "2.weight": xg.ones((1, 2))}
    xg.save(sd, tmp_path / "sd.safetensors", metadata={"epoch": "7"})
    theirs = sn.load_file(tmp_path / "sd.safetensors")
    assert set(theirs) == set(sd)
    for k, t in sd.items():
        assert _same(theirs[k], t.numpy())
    assert list(xg.load(tmp_path / "sd.safetensors")) == list(sd)
    assert read_metadata(tmp_path / "sd.safetensors") == {"epoch": "7"}


def test_nested_tensors_are_named_by_their_path(tmp_path):
    xg.save(_checkpoint(), tmp_path / "c")
    names = {"model.0.weight", "model.0.bias", "optimizer.state.0.exp_avg"}
    assert set(sn.load_file(tmp_path / "c")) == names


def test_name_collisions_get_distinct_names(tmp_path):
    obj = {"a.b": xg.ones(1), "a": {"b": xg.zeros(1)}, "__metadata__": xg.full((1,), 2.0)}
    xg.save(obj, tmp_path / "n")
    _assert_tree_equal(obj, xg.load(tmp_path / "n"))
    assert len(sn.load_file(tmp_path / "n")) == 3


def test_every_tensor_is_aligned_to_its_item_size(tmp_path):
    obj = {"u8": np.zeros(3, np.uint8), "f64": np.zeros(3), "i16": np.zeros(1, np.int16),
           "f32": np.zeros(5, "f4")}
    xg.save(obj, tmp_path / "al")
    blob = (tmp_path / "al").read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    assert (8 + n) % 8 == 0
    for name, info in header.items():
        if name != "__metadata__":
            assert (8 + n + info["data_offsets"][0]) % np.dtype(obj[name].dtype).itemsize == 0


def test_files_of_other_tools_load_as_flat_dicts(tmp_path):
    arrays = {"b": np.arange(6, dtype=np.int16).reshape(2, 3), "a": np.array([1.5, -2.0], np.float16),
              "c": np.array([1 + 1j], np.complex64), "e": np.zeros((0,), np.float32), "z": np.array(True)}
    sn.save_file(arrays, tmp_path / "theirs.safetensors", metadata={"format": "np"})
    back = xg.load(tmp_path / "theirs.safetensors")
    assert set(back) == set(arrays)
    for k, a in arrays.items():
        assert isinstance(back[k], xg.Tensor) and _same(back[k].numpy(), a)
    assert read_metadata(tmp_path / "theirs.safetensors") == {"format": "np"}
    sn.save_file({"x": np.ones(2)}, tmp_path / "nometa")
    assert read_metadata(tmp_path / "nometa") == {}


def test_bf16_loads_as_float32_exactly(tmp_path):
    f32 = np.array([1.0, -2.5, 3.140625, np.inf], np.float32)  # all exact in bfloat16
    bf16 = (f32.view(np.uint32) >> 16).astype("<u2").tobytes()
    _write(tmp_path / "bf", _raw({"w": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}, bf16))
    w = xg.load(tmp_path / "bf")["w"]
    assert w.dtype == xg.float32 and _same(w.numpy(), f32)


# -- refused objects (nothing written) ------------------------------------------------------------------

class _Thing:
    pass


def _cycle():
    x = {"a": []}
    x["a"].append(x)
    return x


@pytest.mark.parametrize("obj, message", [
    ({"opt": {"x": {1, 2}}}, "obj['opt']['x']: set is not supported"),
    ({"f": lambda: 0}, "obj['f']: function is not supported"),
    ({"a": [np.array([1, "x"], dtype=object)]},
     "obj['a'][0]: a NumPy array of dtype object is not supported"),
    ({"k": {(1, 2): 3}}, "obj['k']: dict key (1, 2) of type tuple is not supported"),
    ({"k": {True: 3}}, "obj['k']: dict key True of type bool is not supported"),
    ({"k": {1.5: 3}}, "obj['k']: dict key 1.5 of type float is not supported"),
    ({"t": xg.asarray(np.zeros(2, np.complex128))},
     "obj['t']: a tensor of dtype complex128 is not supported"),
    ({"s": np.str_("x"), "b": b"bytes"}, "obj['b']: bytes is not supported"),
    ([0, (1, _Thing())], "obj[1][1]: _Thing is not supported"),
    (_cycle(), "obj['a'][0]: contains itself"),
])
def test_unsupported_objects_are_refused_before_writing(tmp_path, obj, message):
    path = tmp_path / "ckpt"
    with pytest.raises(CheckpointError, match=re.escape(message)):
        xg.save(obj, path)
    assert os.listdir(tmp_path) == []
    xg.save({"old": 1}, path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError):
        xg.save(obj, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt"]


def test_complex128_message_says_what_to_do(tmp_path):
    with pytest.raises(CheckpointError, match="no complex128: convert with xg.astype"):
        xg.save(xg.asarray(np.zeros(1, np.complex128)), tmp_path / "c")


@pytest.mark.parametrize("metadata, message", [
    ({"a": 1}, "metadata must map str to str"),
    ({2: "b"}, "metadata must map str to str"),
    ("epoch=1", "metadata must be a dict"),
    ({"xpgrad": "mine"}, "'xpgrad' is reserved"),
])
def test_bad_metadata_is_refused(tmp_path, metadata, message):
    with pytest.raises(CheckpointError, match=message):
        xg.save({}, tmp_path / "m", metadata=metadata)
    assert os.listdir(tmp_path) == []


# -- refused files --------------------------------------------------------------------------------------

@pytest.fixture
def good(tmp_path):
    """A valid xpgrad checkpoint: (path, its bytes)."""
    path = tmp_path / "good.safetensors"
    xg.save(_checkpoint(), path, metadata={"epoch": "3"})
    return path, path.read_bytes()


def _refused(path, blob, pattern):
    _write(path, blob)
    with pytest.raises(CheckpointError, match=pattern) as info:
        xg.load(path)
    assert repr(str(path)) in str(info.value)  # the message names the file
    return str(info.value)


def test_truncated_files(good):
    path, blob = good
    (n,) = struct.unpack("<Q", blob[:8])
    for size in (1, 7):
        _refused(path, blob[:size], f"is not a safetensors file: it has only {size} bytes.*truncated")
    for size in (8, 9, 8 + n // 2, 8 + n - 1):
        _refused(path, blob[:size], f"is truncated: the header says it ends at byte {8 + n} but the file has "
                                    f"{size} bytes")
    for size in (8 + n, 8 + n + 5, len(blob) - 1):
        _refused(path, blob[:size], f"is truncated: the header says the data ends at byte {len(blob)} but "
                                    f"the file has {size} bytes")
    _refused(path, b"", "is not a safetensors file: it is empty")


def test_flipped_byte_in_the_data(good):
    path, blob = good
    _refused(path, blob[:-3] + bytes([blob[-3] ^ 0x10]) + blob[-2:],
             "is corrupted: the SHA-256 of its tensor data does not match")


def test_flipped_byte_in_the_metadata(good):
    path, blob = good
    i = blob.index(b'"epoch":"3"') + len('"epoch":"')
    _refused(path, blob[:i] + b"4" + blob[i + 1:], "is corrupted: the SHA-256 of its header does not match")
    i = blob.index(b'\\"step\\",3') + len('\\"step\\",')
    _refused(path, blob[:i] + b"4" + blob[i + 1:], "is corrupted: the SHA-256 of its header does not match")


def test_flipped_byte_in_the_tensor_table(good):
    path, blob = good
    i = blob.index(b'"shape":[2,3]') + len('"shape":[2,')
    _refused(path, blob[:i] + b"4" + blob[i + 1:],
             r"tensor 'model.0.weight' of dtype F64 and shape \[2, 4\] needs 64 bytes, but its data_offsets "
             r".* span 48")
    i = blob.index(b'"model.0.bias"') + 2
    _refused(path, blob[:i] + b"n" + blob[i + 1:], "is corrupted: the SHA-256 of its header does not match")
    i = blob.index(b'"dtype":"F64"') + len('"dtype":"')
    _refused(path, blob[:i] + b"X" + blob[i + 1:], "has dtype 'X64', which is not a safetensors dtype")


def test_changed_padding_and_whitespace_are_caught(tmp_path):
    path = tmp_path / "pad"
    for extra in range(8):  # find metadata that makes the header need padding
        xg.save({"w": xg.ones(2)}, path, metadata={"k": "v" * extra})
        blob = path.read_bytes()
        (n,) = struct.unpack("<Q", blob[:8])
        if blob[8 + n - 1:8 + n] == b" ":
            break
    _refused(path, blob[:8 + n - 1] + b"\n" + blob[8 + n:], "is corrupted: its header is not byte-identical")
    longer = struct.pack("<Q", n + 1) + blob[8:8 + n] + b" " + blob[8 + n:]
    _refused(path, longer, "is corrupted: its header is not byte-identical")


def test_header_length_2_63(good):
    path, blob = good
    _refused(path, struct.pack("<Q", 2**63) + blob[8:],
             f"is not a safetensors file: .*absurd header length of {2**63} bytes")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_is_refused_and_never_run(tmp_path, protocol):
    marker = str(tmp_path / "pwned")
    blob = pickle.dumps({"w": _Evil(marker), "pad": "x" * 64}, protocol=protocol)
    message = _refused(tmp_path / "model.pkl", blob, "is not a safetensors file")
    if protocol >= 2:
        assert "pickle" in message
    assert not os.path.exists(marker)


def test_zip_archive_like_a_pytorch_file_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "model.pt", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": [1.0]}))
    _refused(tmp_path / "model.pt", (tmp_path / "model.pt").read_bytes(),
             "is not a safetensors file: it is a zip archive, such as a PyTorch .pt file")


def test_random_bytes_and_other_formats_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    for seed in range(20):
        blob = np.random.default_rng(seed).bytes(int(rng.integers(1, 5000)))
        _refused(tmp_path / "r", blob, "is not a safetensors file|is truncated|is corrupted")
    blob = struct.pack("<Q", 100) + b"\x00" * 200
    _refused(tmp_path / "r", blob, "is not a safetensors file: its JSON header must start with '{'")
    np.save(tmp_path / "a.npy", np.zeros(3))
    _refused(tmp_path / "r", (tmp_path / "a.npy").read_bytes(),
             "is not a safetensors file: it is a NumPy .npy")


def test_directory_and_special_files_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="is not a safetensors file: it is a directory"):
        xg.load(tmp_path)
    if os.path.exists("/dev/zero"):
        with pytest.raises(CheckpointError, match="is not a regular file"):
            xg.load("/dev/zero")
    with pytest.raises(CheckpointError, match="is a directory"):
        read_metadata(tmp_path)


F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize("header, data, message", [
    ({"a": F32x2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12),
     "is corrupted: the bytes of tensors 'a' and 'b' overlap"),
    ({"a": F32x2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}}, bytes(20),
     "is corrupted: there is a gap of 4 bytes after tensor 'a'"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12),
     "there is a gap of 4 bytes before the first tensor"),
    ({"a": F32x2}, bytes(4), "is truncated: the header says the data ends at byte"),
    ({"a": F32x2}, bytes(12), "is corrupted: it has 4 unexpected bytes after the end of the data"),
    ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8),
     r"tensor 'a' of dtype F32 and shape \[3\] needs 12 bytes, but its data_offsets \[0, 8\] span 8"),
    ({"a": {"dtype": "F32", "shape": [], "data_offsets": [0, 8]}}, bytes(8), "needs 4 bytes"),
    ({"a": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, bytes(2),
     "has dtype 'F8_E4M3', which xpgrad cannot represent"),
    ({"a": {"dtype": ["F32"], "shape": [2], "data_offsets": [0, 8]}}, bytes(8),
     "which is not a safetensors dtype"),
    ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8), "invalid shape"),
    ({"a": {"dtype": "F32", "shape": [True, 2], "data_offsets": [0, 8]}}, bytes(8), "invalid shape"),
    ({"a": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}}, bytes(8), "invalid shape"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, bytes(8), "invalid data_offsets"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 2**64]}}, bytes(8), "invalid data_offsets"),
    ({"a": {"dtype": "F32", "shape": [2]}}, bytes(8),
     "must have exactly 'dtype', 'shape' and 'data_offsets'"),
    ({"a": [1, 2]}, bytes(8), "must have exactly"),
    ({"a": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}, b"\x01\x02",
     "holds bytes other than 0 and 1"),
    ({"__metadata__": {"k": 1}}, b"", "'__metadata__' must map strings to strings"),
    ({"__metadata__": ["k"]}, b"", "'__metadata__' must map strings to strings"),
    ({"a": {"dtype": "F32", "shape": [0] * 40, "data_offsets": [0, 0]}}, b"", "invalid shape"),
    ({"a": {"dtype": "F32", "shape": [0, 2**62], "data_offsets": [0, 0]}}, b"", "cannot be created"),
])
def test_malformed_tensor_tables(tmp_path, header, data, message):
    _refused(tmp_path / "bad", _raw(header, data), message)


@pytest.mark.parametrize("header, message", [
    (b"{", "is corrupted: its header is not valid JSON"),
    (b'{"a":1,"a":2}', "duplicate key 'a'"),
    (b'{"a":NaN}', "not valid JSON"),
    (b"{\xff}", "is not a safetensors file: its header is not UTF-8"),
    (b"[1]", "must start with '{'"),
    (b"{" + b'"a":[' * 100_000, "not valid JSON"),
    (b"{}   \x00", "not valid JSON"),
    (b"", "not valid JSON"),
])
def test_malformed_headers(tmp_path, header, message):
    _refused(tmp_path / "bad", _raw(header), message)


@pytest.mark.parametrize("blob, message", [
    (struct.pack("<Q", 0) + b"{}", "is corrupted: its header is not valid JSON"),
    (struct.pack("<Q", 1) + b"{}", "is corrupted: its header is not valid JSON"),
    (struct.pack("<Q", 3) + b"{}", "is truncated: the header says it ends at byte 11 but the file has 10"),
])
def test_wrong_header_lengths(tmp_path, blob, message):
    _refused(tmp_path / "bad", blob, message)


def test_a_file_without_tensors_is_valid(tmp_path):
    path = _write(tmp_path / "empty", _raw(b"{}"))
    assert xg.load(path) == {} and read_metadata(path) == {}


@pytest.mark.parametrize("structure, message", [
    ({"tensor": "missing"}, "it refers to tensor 'missing', which the file does not have"),
    ([{"tensor": "w"}, {"tensor": "w"}], "it refers to tensor 'w' twice"),
    (1, "tensor 'w' is stored but never referenced"),
    ({"dict": [[1.5, 2]]}, "a dict item must be \\[key, value\\]"),
    ({"dict": [["a", 1], ["a", 2]]}, "dict key 'a' appears twice"),
    ({"set": [1]}, "unexpected"),
    ({"float": "1e9"}, "unexpected"),
    ({"tensor": "w", "extra": 1}, "unexpected"),
])
def test_malformed_structures_are_refused(tmp_path, structure, message):
    table = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    _refused(tmp_path / "bad", _forge(table, structure, bytes(8)), message)
    if message.startswith("tensor 'w'"):
        return
    assert xg.load(_write(tmp_path / "ok", _forge(table, {"tensor": "w"}, bytes(8)))).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("depth", [sys.getrecursionlimit() * 3 // 4, 100_000])
def test_deeply_nested_structure_is_refused(tmp_path, depth):
    empty = hashlib.sha256(b"").hexdigest()
    payload = f'{{"format_version":1,"data_sha256":"{empty}","structure":{"[" * depth + "]" * depth}}}'
    header = {"__metadata__": {"xpgrad": payload, "xpgrad_header_sha256": "0" * 64}}
    header["__metadata__"]["xpgrad_header_sha256"] = serialization._sha256(serialization._dumps(header))
    _refused(tmp_path / "deep", serialization._frame(serialization._dumps(header)), "is corrupted")


def test_deeply_nested_objects_are_refused_on_save(tmp_path):
    obj = []
    for _ in range(100_000):
        obj = [obj]
    with pytest.raises(CheckpointError, match="nested too deeply"):
        xg.save(obj, tmp_path / "deep")
    assert os.listdir(tmp_path) == []


def test_newer_format_version_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(serialization, "FORMAT_VERSION", 2)
    xg.save({"a": 1}, tmp_path / "new")
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="written by a newer xpgrad .*format 2.*upgrade"):
        xg.load(tmp_path / "new")


def test_every_single_byte_change_and_truncation_is_caught(good):
    path, blob = good
    for i in range(len(blob)):
        _write(path, blob[:i] + bytes([blob[i] ^ 0x01]) + blob[i + 1:])
        with pytest.raises(CheckpointError):
            xg.load(path)
    for size in range(0, len(blob), 7):
        _write(path, blob[:size])
        with pytest.raises(CheckpointError):
            xg.load(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_corruption_always_raises_checkpoint_error(good, data):
    path, blob = good
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
    i = data.draw(st.integers(0, len(blob) - 1))
    if kind == "flip":
        value = data.draw(st.integers(0, 255).filter(lambda v: v != blob[i]))
        bad = blob[:i] + bytes([value]) + blob[i + 1:]
    elif kind == "truncate":
        bad = blob[:i]
    elif kind == "insert":
        bad = blob[:i] + data.draw(st.binary(min_size=1, max_size=16)) + blob[i:]
    else:
        bad = blob[:i] + blob[i + data.draw(st.integers(1, 16)):]
    _write(path, bad)
    with pytest.raises(CheckpointError):
        xg.load(path)


# -- atomic writes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("exc", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_failure_mid_write_leaves_previous_file(tmp_path, monkeypatch, exc):
    path = tmp_path / "ckpt.safetensors"
    xg.save({"a": xg.ones(3), "b": xg.ones(4)}, path)
    before = path.read_bytes()
    real, calls = serialization._host_bytes, []

    def failing(entry):
        calls.append(entry.name)
        if len(calls) == 2:
            raise exc
        return real(entry)

    monkeypatch.setattr(serialization, "_host_bytes", failing)
    with pytest.raises(type(exc)):
        xg.save({"a": xg.zeros(300), "b": xg.zeros(4)}, path)
    assert len(calls) == 2
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_header_over_the_limit_is_refused_on_save(tmp_path, monkeypatch):
    monkeypatch.setattr(serialization, "MAX_HEADER_BYTES", 1000)
    xg.save(list(range(10)), tmp_path / "small")
    with pytest.raises(CheckpointError, match="the header would be .* bytes, more than the 1000"):
        xg.save(list(range(1000)), tmp_path / "big")
    assert os.listdir(tmp_path) == ["small"]


def test_saving_onto_a_directory_fails_cleanly(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError):
        xg.save({"a": xg.ones(2)}, tmp_path / "d")
    assert os.listdir(tmp_path) == ["d"] and os.listdir(tmp_path / "d") == []


def test_failure_at_rename_leaves_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt"
    xg.save({"a": 1}, path)
    before = path.read_bytes()

    def refuse(src, dst):
        raise OSError("rename refused")

    monkeypatch.setattr(_atomic.os, "replace", refuse)
    with pytest.raises(OSError, match="rename refused"):
        xg.save({"a": 2}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt"]


def test_atomic_write_content_kinds(tmp_path):
    atomic_write(tmp_path / "b", b"\x00\x01")
    atomic_write(tmp_path / "s", "é")
    atomic_write(tmp_path / "f", lambda f: (f.write(b"xxcd"), f.seek(0), f.write(b"ab")))
    assert (tmp_path / "b").read_bytes() == b"\x00\x01"
    assert (tmp_path / "s").read_bytes() == "é".encode()
    assert (tmp_path / "f").read_bytes() == b"abcd"
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "new" / "dir" / "x", b"1")
    atomic_write(tmp_path / "new" / "dir" / "x", b"1", makedirs=True)
    assert (tmp_path / "new" / "dir" / "x").read_bytes() == b"1"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_write_permissions(tmp_path):
    atomic_write(tmp_path / "new", b"1")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o666 & ~mask
    os.chmod(tmp_path / "new", 0o640)
    atomic_write(tmp_path / "new", b"2")
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o640


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_atomic_write_follows_symlinks(tmp_path):
    (tmp_path / "real").write_bytes(b"old")
    os.symlink(tmp_path / "real", tmp_path / "link")
    atomic_write(tmp_path / "link", b"new")
    assert os.path.islink(tmp_path / "link") and (tmp_path / "real").read_bytes() == b"new"


def test_atomic_write_cleans_up_after_a_failing_writer(tmp_path):
    (tmp_path / "x").write_bytes(b"keep")

    def boom(f):
        f.write(b"partial")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        atomic_write(tmp_path / "x", boom)
    assert (tmp_path / "x").read_bytes() == b"keep" and os.listdir(tmp_path) == ["x"]


def test_serialization_never_imports_pickle_or_safetensors():
    import ast
    import inspect

    for module in (serialization, _atomic):
        names = {a.name.split(".")[0] for node in ast.walk(ast.parse(inspect.getsource(module)))
                 if isinstance(node, (ast.Import, ast.ImportFrom)) for a in node.names}
        names |= {node.module.split(".")[0] for node in ast.walk(ast.parse(inspect.getsource(module)))
                  if isinstance(node, ast.ImportFrom) and node.module}
        assert not names & {"pickle", "safetensors", "marshal", "shelve", "dill", "cloudpickle"}, module
