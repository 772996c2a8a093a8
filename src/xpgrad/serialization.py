"""Checkpoints in the safetensors format: ``save``, ``load`` and ``read_metadata``, with no pickle anywhere.

>>> import os, tempfile, xpgrad as xg
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
>>> xg.save({"model": {"0.weight": xg.ones((2, 2))}, "step": 3, "betas": (0.9, 0.999)}, path)
>>> ckpt = xg.load(path)
>>> ckpt["step"], ckpt["betas"], ckpt["model"]["0.weight"].tolist()
(3, (0.9, 0.999), [[1.0, 1.0], [1.0, 1.0]])

**The file.** A safetensors file is an 8-byte little-endian header length ``N``,
``N`` bytes of JSON header, then one byte buffer. The header maps each tensor
name to ``{"dtype", "shape", "data_offsets"}`` (a byte range of the buffer) and
may hold ``"__metadata__"``, a map of strings to strings.

**What is stored where.**

* Each tensor (an xpgrad Tensor on any device, or a NumPy array) is one entry
  of the tensor table; its bytes (C order, little-endian) are in the buffer. Its
  name is its path in ``obj``, joined by dots: ``{"0.weight": w}`` stores a
  tensor named ``"0.weight"``, ``{"model": {"0.weight": w}}`` one named
  ``"model.0.weight"``. So a model's ``state_dict`` is a plain safetensors file
  that other tools (``safetensors.numpy.load_file``) read under its own keys.
* Everything around the tensors (dicts with ``str`` or ``int`` keys, lists,
  tuples, ``int``, ``float`` including inf and nan, ``bool``, ``None``, ``str``)
  is JSON in the metadata key ``"xpgrad"``, each tensor replaced by a reference
  ``{"tensor": name}``, with the format version and the SHA-256 of the buffer.
  ``"xpgrad_header_sha256"`` holds the SHA-256 of the whole header.
* ``save(..., metadata={...})`` adds your own string pairs to ``__metadata__``;
  :func:`read_metadata` returns them (keys starting with ``xpgrad`` are ours).

**Why no pickle.** Unpickling runs whatever code the file names, so a
downloaded checkpoint could take over the machine. Reading this format only
parses JSON and copies bytes into arrays: a hostile file can at worst be refused.

**Integrity.** :func:`load` refuses, with :class:`~xpgrad.CheckpointError`
naming the file and the fault, any file that is not safetensors (empty, a
directory, a pickle, a zip such as a PyTorch ``.pt``, random bytes), is
truncated, has an absurd header length, a malformed header, tensors whose
byte ranges overlap, leave gaps or run past the end, a dtype and shape that
disagree with the byte count, or, for files xpgrad wrote, any changed byte:
the header must be byte-identical to what xpgrad writes for its content and
both checksums must match. It returns nothing until every check has passed.
The checksums catch accidents (a bad disk, a cut-off copy), not forgery.

**Dtypes.** F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL and C64
(complex64); the format has no complex128, so such a tensor is refused on
save. NumPy has no bfloat16: BF16 tensors load as float32 (exact).

Writes are atomic (:func:`xpgrad._atomic.atomic_write`): a crash mid-save
leaves the previous file as it was. Tensors are streamed into the file one at
a time, hashed on the way, so the checkpoint is never held in memory twice;
loading reads each tensor's bytes straight into its own fresh array.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np

from ._atomic import atomic_write
from .core.device import Backend, get_backend
from .core.errors import CheckpointError, XpgradError
from .core.tensor import Tensor

__all__ = ["save", "load", "read_metadata", "FORMAT_VERSION"]

FORMAT_VERSION = 1
MAX_HEADER_BYTES = 100 * 2**20  # the reference implementation's limit; real headers are far smaller
_KEY, _DIGEST_KEY = "xpgrad", "xpgrad_header_sha256"
_ZERO_DIGEST = "0" * 64

# safetensors dtype code -> (NumPy dtype name, bytes per element)
_DTYPES = {"F64": ("float64", 8), "F32": ("float32", 4), "F16": ("float16", 2), "BF16": ("bfloat16", 2),
           "C64": ("complex64", 8),
           "I64": ("int64", 8), "I32": ("int32", 4), "I16": ("int16", 2), "I8": ("int8", 1),
           "U64": ("uint64", 8), "U32": ("uint32", 4), "U16": ("uint16", 2), "U8": ("uint8", 1),
           "BOOL": ("bool", 1)}
_CODE = {name: code for code, (name, _) in _DTYPES.items()}
# Codes of the format that NumPy cannot hold; named so the error says "cannot load", not "unknown".
_FOREIGN = ("F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4")

_MAGIC = ((b"\x80", "a Python pickle (xpgrad never unpickles: loading a pickle can run any code)"),
          (b"PK\x03\x04", "a zip archive, such as a PyTorch .pt file (it holds pickles, which xpgrad "
                          "never loads: they can run any code)"),
          (b"\x93NUMPY", "a NumPy .npy file"),
          (b"\x1f\x8b", "gzip-compressed"),
          (b"\x89HDF\r\n\x1a\n", "an HDF5 file"))

_SUPPORTED = ("dict (str or int keys), list, tuple, str, int, float, bool, None, "
              "xpgrad Tensors and NumPy arrays of numbers")


# -- saving --------------------------------------------------------------------------------------------

class _Entry:
    """One tensor to store: its name, dtype code, shape, byte count and where its bytes come from."""

    __slots__ = ("name", "code", "shape", "nbytes", "source", "where")

    def __init__(self, name: str, code: str, shape: tuple[int, ...], source: Any, where: str) -> None:
        self.name, self.code, self.shape, self.source, self.where = name, code, shape, source, where
        self.nbytes = _DTYPES[code][1] * _prod(shape)


def save(obj: Any, path: str | os.PathLike, *, metadata: Mapping[str, str] | None = None) -> None:
    """Write ``obj`` (a state dict: tensors and plain Python values, nested) to ``path`` atomically.

    ``metadata`` is extra ``str`` → ``str`` information for the file's
    ``__metadata__`` (read it back with :func:`read_metadata`). Anything that
    cannot be stored raises :class:`~xpgrad.CheckpointError` naming where it
    sits in ``obj`` (``obj['opt']['x']: set is not supported``) before a byte
    is written; a failure while writing leaves a previous file untouched.

    >>> import os, tempfile, xpgrad as xg
    >>> path = os.path.join(tempfile.mkdtemp(), "weights.safetensors")
    >>> xg.save({"0.weight": xg.zeros((3, 2)), "0.bias": xg.zeros(3)}, path, metadata={"epoch": "7"})
    """
    user = _check_metadata(metadata)
    entries: list[_Entry] = []
    try:
        structure = _encode(obj, (), entries, set(), set())
        table = _table(entries)
        first = _header_bytes(table, user, structure, _ZERO_DIGEST)  # checksums filled in after the data
    except RecursionError:
        raise CheckpointError("save: obj is nested too deeply to be stored") from None
    if len(first) - 8 > MAX_HEADER_BYTES:
        raise CheckpointError(f"save: the header would be {len(first) - 8} bytes, more than the "
                              f"{MAX_HEADER_BYTES} that safetensors readers accept; store bulky values as "
                              "tensors (NumPy arrays), not as Python lists")

    def write(f: BinaryIO) -> None:
        f.write(first)
        digest = hashlib.sha256()
        for e in entries:
            buf = _host_bytes(e)
            digest.update(buf)
            f.write(buf)
        final = _header_bytes(table, user, structure, digest.hexdigest())
        assert len(final) == len(first)  # only fixed-length hex digits changed
        f.seek(0)
        f.write(final)

    atomic_write(path, write)


def _table(entries: list[_Entry]) -> dict[str, dict]:
    """The tensor table; sorts ``entries`` into buffer order, widest dtype first, so each one is aligned."""
    entries.sort(key=lambda e: -_DTYPES[e.code][1])
    table, offset = {}, 0
    for e in entries:
        table[e.name] = {"dtype": e.code, "shape": list(e.shape), "data_offsets": [offset, offset + e.nbytes]}
        offset += e.nbytes
    return table


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise CheckpointError(f"save: metadata must be a dict of str to str, got {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise CheckpointError(f"save: metadata must map str to str; got {k!r}: {v!r} "
                                  f"({type(k).__name__}: {type(v).__name__})")
        if k.startswith("xpgrad"):
            raise CheckpointError(f"save: metadata key {k!r} is reserved (keys starting with 'xpgrad' "
                                  "are xpgrad's own)")
    return dict(metadata)


def _where(path: tuple) -> str:
    return "obj" + "".join(f"[{k!r}]" for k in path)


def _encode(x: Any, path: tuple, entries: list[_Entry], names: set[str], active: set[int]) -> Any:
    """``x`` as JSON, tensors replaced by references and appended to ``entries``."""
    if x is None or isinstance(x, (bool, str)):
        return str(x) if isinstance(x, str) else x
    if isinstance(x, Tensor):
        return {"tensor": _add(entries, names, path, x, x.dtype, x.shape)}
    if isinstance(x, (np.ndarray, np.generic)):
        tag = "ndarray" if isinstance(x, np.ndarray) else "numpy_scalar"
        return {tag: _add(entries, names, path, x, x.dtype, x.shape)}
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        x = float(x)
        return x if x - x == 0 else {"float": "nan" if x != x else ("inf" if x > 0 else "-inf")}
    if isinstance(x, (dict, list, tuple)):
        if id(x) in active:
            raise CheckpointError(f"save: {_where(path)}: contains itself (a reference cycle)")
        active.add(id(x))
        try:
            if isinstance(x, dict):
                items = []
                for k, v in x.items():
                    if type(k) is not str and type(k) is not int:
                        raise CheckpointError(f"save: {_where(path)}: dict key {k!r} of type "
                                              f"{type(k).__name__} is not supported (use str or int keys)")
                    items.append([k, _encode(v, (*path, k), entries, names, active)])
                return {"dict": items}
            items = [_encode(v, (*path, i), entries, names, active) for i, v in enumerate(x)]
            return {"tuple": items} if isinstance(x, tuple) else items
        finally:
            active.discard(id(x))
    raise CheckpointError(f"save: {_where(path)}: {type(x).__name__} is not supported (save stores "
                          f"{_SUPPORTED})")


def _add(entries: list[_Entry], names: set[str], path: tuple, source: Any, dtype: Any, shape: Any) -> str:
    """Register a tensor under a fresh name derived from its path; returns the name."""
    try:
        dname = np.dtype(dtype).name
    except TypeError:
        dname = getattr(dtype, "name", str(dtype))
    code = _CODE.get(dname)
    if code is None:
        kind = "tensor" if isinstance(source, Tensor) else "NumPy array" if isinstance(source, np.ndarray) \
            else "NumPy scalar"
        hint = " (the format has complex64 but no complex128: convert with xg.astype)" \
            if dname == "complex128" else ""
        raise CheckpointError(f"save: {_where(path)}: a {kind} of dtype {dname} is not supported: "
                              f"safetensors has no code for it{hint}; it stores {', '.join(_CODE)}")
    base = ".".join(str(k) for k in path) if path else "tensor"
    name, i = base, 1
    while name in names or name == "__metadata__":
        name, i = f"{base}#{i}", i + 1
    names.add(name)
    entries.append(_Entry(name, code, tuple(int(n) for n in shape), source, _where(path)))
    return name


def _host_bytes(e: _Entry) -> np.ndarray:
    """The bytes of one tensor as a flat little-endian uint8 array (one host copy at a time)."""
    src = e.source
    host = np.asarray(src._b.to_host(src.data) if isinstance(src, Tensor) else src)
    if host.shape != e.shape or _CODE.get(host.dtype.name) != e.code:
        raise CheckpointError(f"save: {e.where}: the host copy has shape {host.shape} and dtype "
                              f"{host.dtype}, but the tensor reports {e.shape} and {_DTYPES[e.code][0]}")
    if host.dtype.byteorder == ">":
        host = host.astype(host.dtype.newbyteorder("<"))
    if not host.flags.c_contiguous:
        host = np.ascontiguousarray(host)
    return host.reshape(-1).view(np.uint8)


def _dumps(x: Any) -> str:
    """Canonical JSON: compact, ASCII, no NaN; what xpgrad writes is exactly this."""
    return json.dumps(x, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _header_bytes(table: dict, user: dict[str, str], structure: Any, data_digest: str) -> bytes:
    """Length prefix + header JSON (padded with spaces to a multiple of 8), both checksums inside."""
    payload = _dumps({"format_version": FORMAT_VERSION, "data_sha256": data_digest, "structure": structure})
    header = {"__metadata__": {**user, _KEY: payload, _DIGEST_KEY: _ZERO_DIGEST}, **table}
    header["__metadata__"][_DIGEST_KEY] = _sha256(_dumps(header))
    return _frame(_dumps(header))


def _frame(text: str) -> bytes:
    raw = text.encode("ascii")
    raw += b" " * (-(8 + len(raw)) % 8)  # the buffer starts 8-byte aligned
    return struct.pack("<Q", len(raw)) + raw


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# -- loading -------------------------------------------------------------------------------------------

class _Header:
    """A checked header: tensors in buffer order, user metadata, and our payload (None for foreign files)."""

    def __init__(self, entries: list[tuple[str, str, tuple[int, ...], int, int]], metadata: dict[str, str],
                 payload: dict | None) -> None:
        self.entries, self.metadata, self.payload = entries, metadata, payload


def load(path: str | os.PathLike, *, device: Any = None) -> Any:
    """Read a checkpoint written by :func:`save` (or any safetensors file) onto ``device`` (default cpu).

    Returns ``obj`` as saved: dicts (with their ``int`` keys), lists, tuples,
    numbers and strings as they were, xpgrad Tensors as new Tensors on
    ``device`` that do not require grad, NumPy arrays as NumPy arrays. A file
    written by another safetensors tool loads as a flat ``{name: Tensor}``
    dict, ordered as the tensors' data lies in the file; it carries no xpgrad checksums, so only its
    structure (lengths, offsets, dtypes, shapes) can be verified.

    Raises :class:`~xpgrad.CheckpointError` naming the file and the fault for
    anything that is not an intact safetensors file (see the module
    docstring); nothing is returned unless every check passes.

    >>> import os, tempfile, xpgrad as xg
    >>> path = os.path.join(tempfile.mkdtemp(), "opt.safetensors")
    >>> xg.save({"state": {0: {"step": 4}}, "lr": float("inf")}, path)
    >>> xg.load(path)
    {'state': {0: {'step': 4}}, 'lr': inf}
    """
    backend = get_backend(device)  # an unknown device fails before the file is read
    shown = repr(os.fspath(path))
    with _open(path, shown) as (f, size):
        header = _read_header(f, shown, size)
        arrays = _read_data(f, shown, header)
    if header.payload is None:
        return {name: _tensor(arrays.pop(name), backend, shown, name) for name, *_ in header.entries}
    refs: set[str] = set()
    try:
        out = _decode(header.payload["structure"], arrays, refs, backend, shown)
    except RecursionError:
        raise CheckpointError(f"{shown} is corrupted: its structure is nested too deeply") from None
    unused = [name for name, *_ in header.entries if name not in refs]
    if unused:
        raise _bad_structure(shown, f"tensor {unused[0]!r} is stored but never referenced")
    return out


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata`` given to :func:`save` (for another tool's file: its whole ``__metadata__``).

    Checks the header (and, for xpgrad's files, its checksum) but does not
    read the tensor data; :func:`load` verifies that.

    >>> import os, tempfile, xpgrad as xg
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    >>> xg.save({}, path, metadata={"epoch": "7"})
    >>> read_metadata(path)
    {'epoch': '7'}
    """
    shown = repr(os.fspath(path))
    with _open(path, shown) as (f, size):
        return dict(_read_header(f, shown, size).metadata)


class _open:
    """Open a regular file for reading; a directory or device node is refused as not safetensors."""

    def __init__(self, path: str | os.PathLike, shown: str) -> None:
        self.path, self.shown, self.f = path, shown, None

    def __enter__(self) -> tuple[BinaryIO, int]:
        if os.path.isdir(self.path):
            raise _not_safetensors(self.shown, "it is a directory")
        try:
            self.f = open(self.path, "rb")  # noqa: SIM115 (closed in __exit__)
        except IsADirectoryError:
            raise _not_safetensors(self.shown, "it is a directory") from None
        st = os.fstat(self.f.fileno())
        if not stat.S_ISREG(st.st_mode):
            self.f.close()
            raise _not_safetensors(self.shown, "it is not a regular file")
        return self.f, st.st_size

    def __exit__(self, *exc: Any) -> None:
        self.f.close()


def _not_safetensors(shown: str, why: str) -> CheckpointError:
    return CheckpointError(f"{shown} is not a safetensors file: {why}")


def _corrupted(shown: str, why: str) -> CheckpointError:
    return CheckpointError(f"{shown} is corrupted: {why}")


def _bad_structure(shown: str, why: str) -> CheckpointError:
    return _corrupted(shown, f"the structure in its metadata key {_KEY!r} is invalid: {why}")


def _read_header(f: BinaryIO, shown: str, size: int) -> _Header:
    """Parse and check everything but the data: framing, JSON, tensor table, offsets, checksum."""
    if size == 0:
        raise _not_safetensors(shown, "it is empty (0 bytes)")
    start = f.read(9)
    if size < 8:
        raise _not_safetensors(shown, f"it has only {size} bytes, fewer than the 8-byte header length the "
                                      "format starts with (or it is truncated)")
    (n,) = struct.unpack("<Q", start[:8])
    if len(start) == 9 and start[8:9] != b"{":  # not shaped like safetensors: say what it looks like instead
        for magic, what in _MAGIC:
            if start.startswith(magic):
                raise _not_safetensors(shown, f"it is {what}")
    if n > MAX_HEADER_BYTES:
        raise _not_safetensors(shown, f"its first 8 bytes give an absurd header length of {n} bytes "
                                      f"(the limit is {MAX_HEADER_BYTES})")
    if len(start) == 9 and start[8:9] != b"{":
        raise _not_safetensors(shown, f"its JSON header must start with '{{' at byte 8, found {start[8:9]!r}")
    if 8 + n > size:
        raise CheckpointError(f"{shown} is truncated: the header says it ends at byte {8 + n} but the file "
                              f"has {size} bytes")
    raw = start[8:8 + n]
    raw += f.read(n - len(raw))
    if len(raw) != n:
        raise CheckpointError(f"{shown} is truncated: it ended while its header was being read")
    f.seek(8 + n)  # the data follows (we may have read one byte past a header of length 0)
    try:
        text = raw.decode("utf-8")
        header = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except UnicodeDecodeError as exc:
        raise _not_safetensors(shown, f"its header is not UTF-8 text ({exc})") from None
    except (ValueError, RecursionError) as exc:
        raise _corrupted(shown, f"its header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise _not_safetensors(shown, f"its header is a JSON {type(header).__name__}, not an object")
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _corrupted(shown, "its '__metadata__' must map strings to strings")
    entries = _check_table(header, shown, size - 8 - n, 8 + n)
    if _KEY not in metadata and _DIGEST_KEY not in metadata:
        return _Header(entries, metadata, None)
    return _Header(entries, {k: v for k, v in metadata.items() if not k.startswith("xpgrad")},
                   _check_ours(header, metadata, raw, shown))


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"duplicate key {dup!r}")
    return out


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _check_table(header: dict, shown: str, available: int, data_start: int) -> list:
    """Tensor entries sorted by offset, each checked, together covering the buffer exactly."""
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise _corrupted(shown, f"tensor {name!r} must have exactly 'dtype', 'shape' and 'data_offsets', "
                                    f"got {info!r:.200}")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(code, str) or code not in _DTYPES:
            why = "which xpgrad cannot represent" if code in _FOREIGN or str(code).startswith("F8") \
                else "which is not a safetensors dtype"
            raise CheckpointError(f"{shown}: tensor {name!r} has dtype {code!r}, {why} "
                                  f"(xpgrad reads {', '.join(_DTYPES)})")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape) or len(shape) > 32:
            raise _corrupted(shown, f"tensor {name!r} has an invalid shape {shape!r:.200}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)
                and offsets[0] <= offsets[1]):
            raise _corrupted(shown, f"tensor {name!r} has invalid data_offsets {offsets!r:.200}")
        nbytes = _prod(shape) * _DTYPES[code][1]
        if offsets[1] - offsets[0] != nbytes:
            raise _corrupted(shown, f"tensor {name!r} of dtype {code} and shape {shape} needs {nbytes} "
                                    f"bytes, but its data_offsets {offsets} span {offsets[1] - offsets[0]}")
        entries.append((name, code, tuple(shape), offsets[0], offsets[1]))
    entries.sort(key=lambda e: (e[3], e[4]))
    end, last = 0, None
    for name, _, _, begin, stop in entries:
        if begin < end:
            raise _corrupted(shown, f"the bytes of tensors {last!r} and {name!r} overlap "
                                    f"({name!r} starts at {begin}, before {last!r} ends at {end})")
        if begin > end:
            after = f"after tensor {last!r}" if last is not None else "before the first tensor"
            raise _corrupted(shown, f"there is a gap of {begin - end} bytes {after} (tensor {name!r} "
                                    f"starts at {begin}, not {end})")
        end, last = stop, name
    if end > available:
        raise CheckpointError(f"{shown} is truncated: the header says the data ends at byte "
                              f"{data_start + end} but the file has {data_start + available} bytes")
    if end < available:
        raise _corrupted(shown, f"it has {available - end} unexpected bytes after the end of the data "
                                f"(byte {data_start + end})")
    return entries


def _is_count(x: Any) -> bool:
    return type(x) is int and 0 <= x < 2**63


def _prod(shape: Any) -> int:
    p = 1
    for d in shape:
        p *= d
    return p


def _check_ours(header: dict, metadata: dict, raw: bytes, shown: str) -> dict:
    """The payload of a file xpgrad wrote, after checking that not one byte of the header changed."""
    digest = metadata.get(_DIGEST_KEY)
    if _KEY not in metadata or not isinstance(digest, str):
        raise _corrupted(shown, f"it has only one of the metadata keys {_KEY!r} and {_DIGEST_KEY!r}")
    try:
        canonical = _frame(_dumps(header))[8:]
        unsigned = _dumps({**header, "__metadata__": {**metadata, _DIGEST_KEY: _ZERO_DIGEST}})
    except (ValueError, UnicodeEncodeError) as exc:  # a string xpgrad would have escaped, say
        raise _corrupted(shown, f"its header is not as xpgrad writes it ({exc})") from None
    if canonical != raw:
        raise _corrupted(shown, "its header is not byte-identical to what xpgrad writes for its content "
                                "(bytes were changed, added or removed)")
    if _sha256(unsigned) != digest:
        raise _corrupted(shown, "the SHA-256 of its header does not match the one recorded when it was saved")
    try:
        payload = json.loads(metadata[_KEY], object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise _bad_structure(shown, f"not valid JSON ({exc})") from None
    if not isinstance(payload, dict) or set(payload) != {"format_version", "data_sha256", "structure"}:
        raise _bad_structure(shown, "it must hold 'format_version', 'data_sha256' and 'structure'")
    version = payload["format_version"]
    if version != FORMAT_VERSION:
        if type(version) is int and version > FORMAT_VERSION:
            raise CheckpointError(f"{shown} was written by a newer xpgrad (checkpoint format {version}); "
                                  f"this xpgrad reads format {FORMAT_VERSION}: upgrade xpgrad to load it")
        raise _bad_structure(shown, f"unknown format_version {version!r}")
    if not isinstance(payload["data_sha256"], str):
        raise _bad_structure(shown, "'data_sha256' must be a string")
    return payload


def _read_data(f: BinaryIO, shown: str, header: _Header) -> dict[str, np.ndarray]:
    """Each tensor's bytes read into a fresh host array, in file order; the buffer's checksum verified."""
    digest = hashlib.sha256()
    arrays = {}
    for name, code, shape, begin, stop in header.entries:
        # little-endian as in the file; BF16 and BOOL are read as raw integers and converted below
        stored = np.dtype({"BF16": "u2", "BOOL": "u1"}.get(code, _DTYPES[code][0])).newbyteorder("<")
        try:
            arr = np.empty(shape, dtype=stored)
        except (ValueError, MemoryError) as exc:  # more than NumPy's 32 dimensions, say
            raise CheckpointError(f"{shown}: tensor {name!r} of shape {list(shape)} cannot be created "
                                  f"({exc})") from None
        buf = arr.reshape(-1).view(np.uint8)
        if f.readinto(buf) != stop - begin:
            raise CheckpointError(f"{shown} is truncated: it ended while the data of tensor {name!r} "
                                  "was being read (was it changed while loading?)")
        digest.update(buf)
        if code == "BOOL":
            if arr.size and arr.max() > 1:
                raise _corrupted(shown, f"the bool tensor {name!r} holds bytes other than 0 and 1")
            arr = arr.view(np.bool_)
        elif code == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)  # bfloat16 is the top half of a float32
        elif not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        arrays[name] = arr
    if header.payload is not None and digest.hexdigest() != header.payload["data_sha256"]:
        raise _corrupted(shown, "the SHA-256 of its tensor data does not match the one recorded when it "
                                "was saved (a byte of the data changed)")
    return arrays


def _tensor(host: np.ndarray, backend: Backend, shown: str, name: str) -> Tensor:
    try:
        return Tensor(host, device=backend.device)
    except XpgradError as exc:
        raise type(exc)(f"load({shown}): tensor {name!r} cannot be placed on {backend.device}: {exc}") \
            from exc


def _decode(node: Any, arrays: dict, refs: set[str], backend: Backend, shown: str) -> Any:
    """The inverse of :func:`_encode`; anything it would not have written is refused."""
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(v, arrays, refs, backend, shown) for v in node]
    if isinstance(node, dict) and len(node) == 1:
        ((tag, value),) = node.items()
        if tag == "tuple" and isinstance(value, list):
            return tuple(_decode(v, arrays, refs, backend, shown) for v in value)
        if tag == "dict" and isinstance(value, list):
            out: dict = {}
            for item in value:
                if not (isinstance(item, list) and len(item) == 2 and type(item[0]) in (str, int)):
                    raise _bad_structure(shown, f"a dict item must be [key, value], got {item!r:.100}")
                if item[0] in out:
                    raise _bad_structure(shown, f"dict key {item[0]!r} appears twice")
                out[item[0]] = _decode(item[1], arrays, refs, backend, shown)
            return out
        if tag == "float" and value in ("inf", "-inf", "nan"):
            return float(value)
        if tag in ("tensor", "ndarray", "numpy_scalar") and isinstance(value, str):
            if value not in arrays:
                raise _bad_structure(shown, f"it refers to tensor {value!r}, which the file does not have")
            if value in refs:
                raise _bad_structure(shown, f"it refers to tensor {value!r} twice")
            refs.add(value)
            host = arrays[value]
            if tag == "tensor":
                return _tensor(host, backend, shown, value)
            return host if tag == "ndarray" else host[()]
    raise _bad_structure(shown, f"unexpected {node!r:.100}")
