"""Inputs of one check case: an op's sample, in a dtype, in a variant, on a device — reproducibly.

A case is ``(op, sample index, dtype, variant)`` plus the run's seed. Its values
are drawn once, on the host, by :func:`xpgrad.testing.materialize` from a
generator seeded by ``(seed, op, sample, variant)``, rounded to ``dtype``, and

* moved to the device under test for the device run (:func:`inputs`);
* converted to float64 for the reference (:func:`reference`): the reference sees
  exactly the values the device saw, so the comparison measures the op's error,
  not the rounding of its inputs.

Variants (strings, so that a report can name them and a snippet rebuild them):

``sample``                 the sample as declared
``0-d``                    every array input 0-d
``empty``                  every array input with a first axis of length 0
``shapes=[(3, 1), (4,)]``  the array inputs with these shapes (broadcasting)
``scaled=4``               every array dimension longer than 1 multiplied by 4 (kernels, cost)
``transposed``             inputs of 2+ dimensions as transposed views of device arrays
``strided``                inputs of 1+ dimensions as ``[..., ::2]`` views of device arrays
``pyfloat=1``              array input 1 replaced by a Python float (type promotion)
``mixed=1``                array input 1 in float64, the others in ``dtype`` (type promotion)

>>> import xpgrad as xg
>>> args, params = inputs("exp", 0, "float32", "sample", device="cpu")
>>> args[0].dtype == xg.float32
True
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
import re
import warnings
import zlib
from typing import Any

import numpy as np

__all__ = ["Case", "inputs", "host_inputs", "reference", "run_reference", "array_positions",
           "spec_shapes", "with_shapes", "scale_shape", "SHAPED_SPECS"]

#: Sample specs whose second item is a shape (``("values", nested_list)`` has none).
SHAPED_SPECS = ("randn", "crandn", "rand", "pos", "away", "int", "bool", "spd")
_FLOAT_SPECS = ("randn", "rand", "pos", "away", "spd", "values")  # real: the promotion cases


@dataclass(frozen=True)
class Case:
    """One case: ``op``'s sample number ``sample``, floating inputs in ``dtype``, in ``variant``."""

    op: str
    sample: int
    dtype: str = "float32"
    variant: str = "sample"

    def describe(self) -> str:
        v = "" if self.variant == "sample" else f", {self.variant}"
        return f"sample {self.sample} ({self.dtype}{v})"


def _op(name: str) -> Any:
    import xpgrad as xg

    return xg.get_op(name)


def _is_spec(x: Any) -> bool:
    return isinstance(x, tuple) and bool(x) and isinstance(x[0], str)


def array_positions(sample: Any) -> list[int]:
    """Positions of the sample's arguments that are array specs with a shape."""
    return [i for i, a in enumerate(sample.args) if _is_spec(a) and a[0] in SHAPED_SPECS]


def float_positions(sample: Any) -> list[int]:
    """Positions of floating array specs."""
    return [i for i, a in enumerate(sample.args) if _is_spec(a) and a[0] in _FLOAT_SPECS]


def spec_shapes(sample: Any) -> list[tuple[int, ...]]:
    """Shapes of the sample's shaped array specs, in order."""
    return [tuple(sample.args[i][1]) for i in array_positions(sample)]


def scale_shape(shape: Sequence[int], k: int) -> tuple[int, ...]:
    """``shape`` with its dimensions longer than 1 multiplied by ``k`` (so broadcasting still works)."""
    return tuple(d * k if d > 1 else d for d in shape)


def _reshape_spec(spec: tuple, shape: tuple[int, ...]) -> tuple:
    return (spec[0], tuple(shape)) + tuple(spec[2:])


def with_shapes(sample: Any, shapes: Sequence[tuple[int, ...]]) -> Any:
    """The sample with its shaped array specs given ``shapes`` (same order as :func:`spec_shapes`)."""
    from ..core.registry import Sample

    args = list(sample.args)
    for i, shape in zip(array_positions(sample), shapes):
        args[i] = _reshape_spec(args[i], shape)
    return Sample(tuple(args), dict(sample.params), grad=sample.grad, note=sample.note)


def _variant_shapes(sample: Any, variant: str) -> list[tuple[int, ...]] | None:
    shapes = spec_shapes(sample)
    if variant == "0-d":
        return [() for _ in shapes]
    if variant == "empty":
        return [(0,) + s[1:] if s else s for s in shapes]
    if variant.startswith("shapes="):
        return [tuple(s) for s in ast.literal_eval(variant[len("shapes="):])]
    if variant.startswith("scaled="):
        k = int(variant[len("scaled="):])
        return [scale_shape(s, k) for s in shapes]
    return None


def _rng(seed: int, case: Case) -> np.random.Generator:
    key = zlib.crc32(f"{case.op}|{case.sample}|{case.variant}".encode())
    return np.random.default_rng([int(seed), key])


def _param_for(device: str, v: Any) -> Any:
    return device if isinstance(v, str) and v == "@device" else v


def host_inputs(case: Case, seed: int = 0) -> tuple[list[Any], dict[str, Any]]:
    """The case's arguments as host values (NumPy arrays in their final dtype, Python scalars...).

    Params are returned unresolved: ``"@device"`` still stands for the device.
    """
    import xpgrad as xg
    from ..testing import materialize

    op = _op(case.op)
    sample = op.all_samples()[case.sample]
    shapes = _variant_shapes(sample, case.variant)
    if shapes is not None:
        sample = with_shapes(sample, shapes)
    targs, params = materialize(sample, dtype=xg.float64, device="cpu", rng=_rng(seed, case))
    dt = np.dtype(case.dtype)

    def host(a: Any) -> Any:
        if isinstance(a, list):
            return [host(v) for v in a]
        if isinstance(a, xg.Tensor):
            v = np.array(a.numpy(), copy=True)
            if v.dtype.kind == "c":  # complex inputs follow the case's precision
                return v.astype(np.complex64 if dt == np.float32 else np.complex128)
            return v.astype(dt) if v.dtype.kind == "f" else v
        return a
    args = [host(a) for a in targs]
    if case.variant.startswith("pyfloat="):
        p = int(case.variant.split("=", 1)[1])
        v = args[p]
        args[p] = float(v.reshape(-1)[0]) if v.size else 0.75
    elif case.variant.startswith("mixed="):
        p = int(case.variant.split("=", 1)[1])
        args[p] = np.asarray(targs[p].numpy(), dtype=np.float64)
    return args, dict(sample.params)


def _place(a: np.ndarray, layout: str, b: Any) -> Any:
    """Host array ``a`` on backend ``b`` (a raw device array), as a view if ``layout`` asks for one."""
    dtype = b.dtype(a.dtype.name)
    if layout == "transposed" and a.ndim >= 2:
        rev = tuple(range(a.ndim))[::-1]
        raw = b.asarray(np.ascontiguousarray(a.transpose(rev)), dtype=dtype)
        return b.xp.permute_dims(raw, rev)
    if layout == "strided" and a.ndim >= 1:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), dtype=a.dtype)
        big[..., 1::2] = a
        raw = b.asarray(big, dtype=dtype)
        return raw[(Ellipsis, slice(1, None, 2))]
    return b.asarray(a, dtype=dtype)


def to_device(args: list[Any], device: str, layout: str = "sample") -> list[Any]:
    """Host arguments as Tensors on ``device`` (Python scalars and ``None`` stay as they are)."""
    import xpgrad as xg

    b = xg.get_backend(device)

    def put(a: Any) -> Any:
        if isinstance(a, list):
            return [put(v) for v in a]
        if isinstance(a, np.ndarray):
            return xg.Tensor(_place(a, layout, b), device=b.device)
        return a
    return [put(a) for a in args]


def resolve(params: dict[str, Any], device: str) -> dict[str, Any]:
    return {k: _param_for(device, v) for k, v in params.items()}


def inputs(op: str, sample: int, dtype: str = "float32", variant: str = "sample", *, device: str = "cpu",
           seed: int = 0) -> tuple[list[Any], dict[str, Any]]:
    """The case's arguments as Tensors on ``device`` and its params: what the device run calls the op with.

    >>> import xpgrad as xg
    >>> args, params = inputs("add", 1, device="cpu")
    >>> [tuple(a.shape) for a in args]
    [(3, 1), (1, 4)]
    """
    case = Case(op, sample, dtype, variant)
    args, params = host_inputs(case, seed)
    layout = variant if variant in ("transposed", "strided") else "sample"
    return to_device(args, device, layout), resolve(params, device)


def _to64(a: Any) -> Any:
    if isinstance(a, list):
        return [_to64(v) for v in a]
    if isinstance(a, np.ndarray) and a.dtype.kind in "fc":
        return a.astype(np.float64 if a.dtype.kind == "f" else np.complex128)
    return a


def run_reference(op_name: str, args: list[Any], params: dict[str, Any]) -> Any:
    """The op's generic forward with the CPU backend's namespace (no kernel), on host arrays."""
    import xpgrad as xg

    op = _op(op_name)
    cpu = xg.get_backend("cpu")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return op.forward(cpu.xp, *args, **resolve(params, "cpu"))


def reference(op: str, sample: int, dtype: str = "float32", variant: str = "sample", *, seed: int = 0,
              in_dtype: bool = False) -> list[np.ndarray]:
    """The float64 CPU reference of the case: generic forward, float64, on the values the device saw.

    With ``in_dtype=True`` the inputs keep the case's dtype (what the result's dtype should be).

    >>> reference("exp", 0)[0].dtype
    dtype('float64')
    """
    args, params = host_inputs(Case(op, sample, dtype, variant), seed)
    out = run_reference(op, args if in_dtype else _to64(args), params)
    return outputs(out)


def outputs(out: Any) -> list[np.ndarray]:
    """A result (array, Tensor, tuple of them) as a list of host NumPy arrays."""
    import xpgrad as xg
    from ..core.pytree import flatten

    leaves = flatten(out)[0] if not isinstance(out, (list, tuple)) else list(out)
    res = []
    for v in leaves:
        if isinstance(v, xg.Tensor):
            res.append(np.asarray(v.numpy()))
        else:
            b = xg.get_backend("cpu")
            try:
                from ..core.device import backend_of

                b = backend_of(v)
            except Exception:
                pass
            res.append(np.asarray(b.to_host(v)))
    return res


def dtype_name(d: Any) -> str:
    """``"float32"`` for any library's float32 (NumPy dtype, array-api-strict dtype, ...)."""
    try:
        return np.dtype(d).name
    except TypeError:
        pass
    name = getattr(d, "name", None) or str(d)
    return re.sub(r".*[.]", "", str(name))
