"""Indexing OpenCL arrays with every key the Array API and NumPy allow.

Basic keys (ints, slices with any step, ``None``, ``Ellipsis``) make strided
views and cost no kernel. Keys with index arrays (device arrays, NumPy arrays
or lists) or boolean masks become a :class:`Selection`: a strided view of the
array plus, for the advanced axes, an int64 array of element offsets (index
arrays broadcast together, negative indices wrapped). Gather, scatter and
scatter-add kernels walk a selection.

Index arrays and masks that come from the host are checked on the host
(``IndexError`` for out-of-range indices, as NumPy). Index arrays already on
the device are not read back to check them (that would be a round trip per
indexing): out-of-range device indices are clamped to the axis. A boolean
mask on the device needs its count of true elements to size the result: that
is one counted device-to-host read.

``scatter_add`` (the VJP of getitem, take and embeddings) has two kernels, the
dispatcher choosing by the cost models below:

* **deterministic bucketed sum** — count the contributions per destination
  (atomic increments), scan the counts, fill a permutation (atomics again), then
  one work-item per destination sorts its bucket by selection index and sums it
  in that order: bitwise ``numpy.add.at``, every run. About nine launches; the
  sort walks each bucket serially, so few destinations with long buckets are slow.
* **atomic** — one pass: each contribution is added to its destination with a
  compare-and-swap loop on the float's bits. Three launches, no sort, but the
  order in which threads win the swap varies, and with it the rounding: not
  deterministic (``xpgrad.use_deterministic`` sets it aside). float32, and
  float64 where the device has 64-bit atomics.

Both models price launches, memory traffic and the serial walks in the units of
the reduction model (``reduce_lane_rate`` elements/s per work-item over
``reduce_lanes`` at once), plus ``atomic_time``, the seconds one contended atomic
on one address takes (contributions to one destination serialise); the step
counts per element were fit on a 2-core CPU device (see ``_BUCKET_STEPS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import kernels as K
from .array import OpenCLArray, c_strides, download, upload

__all__ = ["Selection", "select", "getitem", "setitem", "scatter_add", "nonzero", "scatter_add_sizes",
           "bucketed_cost", "atomic_cost", "atomic_supports"]


@dataclass
class Selection:
    """The elements ``key`` picks from an array.

    Result axis ``d`` runs over ``dims[d] = (size, view stride, offsets stride)``;
    the element at result coordinates ``c`` is
    ``view[offset + Σ c_d·view_stride_d + offsets[Σ c_d·offsets_stride_d]]``.
    """

    view: OpenCLArray                   # the indexed array after its basic (sliced) axes
    dims: list[tuple[int, int, int]]
    offsets: OpenCLArray | None         # None for basic keys: then ``view`` is the result
    unique: bool                        # no element is selected twice

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the selection (of the result of ``x[key]``)."""
        return tuple(d[0] for d in self.dims)


_GAP = object()   # an Ellipsis that stands for no axis


def _is_int(k: Any) -> bool:
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))


def _items(x: OpenCLArray, key: Any) -> list:
    """The key as a list of ints, slices, None, ('idx', array) and ('mask', array), Ellipsis expanded."""
    keys = key if isinstance(key, tuple) else (key,)
    items: list = []
    for k in keys:
        if k is None or k is Ellipsis or isinstance(k, slice) or _is_int(k):
            items.append(int(k) if _is_int(k) else k)
        elif isinstance(k, (bool, np.bool_)):
            items.append(("mask", np.asarray(bool(k))))
        elif isinstance(k, OpenCLArray):
            if k._dev is not x._dev:
                raise IndexError(f"an index array on {k._dev} cannot index an array on {x._dev}")
            if k.dtype == np.bool_:
                items.append(("mask", k))
            elif k.dtype.kind in "iu":
                items.append(("idx", k))
            else:
                raise IndexError(f"arrays used as indices must be of integer or boolean type, got {k.dtype}")
        elif isinstance(k, (np.ndarray, list)):
            a = np.asarray(k)
            if a.dtype == np.bool_:
                items.append(("mask", a))
            elif a.dtype.kind in "iu" or a.size == 0:
                items.append(("idx", a.astype(np.int64)))
            else:
                raise IndexError(f"arrays used as indices must be of integer or boolean type, got {a.dtype}")
        elif hasattr(k, "__index__"):
            items.append(int(k.__index__()))
        else:
            raise IndexError(f"only integers, slices, None, Ellipsis and integer or boolean arrays are "
                             f"valid indices, got {type(k).__name__}")
    used = 0
    for it in items:
        if isinstance(it, tuple):
            used += it[1].ndim if it[0] == "mask" else 1
        elif it is not None and it is not Ellipsis:
            used += 1
    if used > x.ndim:
        raise IndexError(f"too many indices for an array of shape {x.shape}: {used} were given")
    ell = [i for i, it in enumerate(items) if it is Ellipsis]
    if len(ell) > 1:
        raise IndexError("an index can only have a single Ellipsis ('...')")
    fill = [slice(None)] * (x.ndim - used)
    if ell:
        # An Ellipsis standing for no axis still separates index arrays (NumPy then puts their axes first).
        items[ell[0]:ell[0] + 1] = fill or [_GAP]
    else:
        items += fill
    return items


def _basic(x: OpenCLArray, items: list) -> OpenCLArray:
    shape, strides, off = [], [], x._offset
    ax = 0
    for it in items:
        if it is _GAP:
            continue
        if it is None:
            shape.append(1)
            strides.append(0)
            continue
        n, st = x._shape[ax], x._strides[ax]
        ax += 1
        if isinstance(it, int):
            i = it + n if it < 0 else it
            if not 0 <= i < n:
                raise IndexError(f"index {it} is out of bounds for axis {ax - 1} with size {n}")
            off += i * st
        else:
            start, stop, step = it.indices(n)
            length = len(range(start, stop, step))
            if length:
                off += start * st
            shape.append(length)
            strides.append(st * step)
    return x._view(tuple(shape), tuple(strides), off)


def _mask_coords(x: OpenCLArray, mask: Any, ax: int) -> list:
    """The index arrays (one per mask axis) of the true elements of ``mask`` over axes ``ax...``."""
    span = x._shape[ax:ax + mask.ndim]
    if tuple(mask.shape) != tuple(span):
        raise IndexError(f"boolean index of shape {tuple(mask.shape)} does not match the indexed axes "
                         f"{tuple(span)} of an array of shape {x.shape}")
    if isinstance(mask, np.ndarray):
        return [c.astype(np.int64) for c in np.nonzero(mask)]
    return nonzero(mask)


def nonzero(a: OpenCLArray) -> list[OpenCLArray]:
    """Coordinates of the nonzero elements of ``a``, one int64 array per axis (one counted read)."""
    from . import namespace as ns

    dev = a._dev
    m = a if a.dtype == np.bool_ else ns.not_equal(a, 0)
    m = ns._copy(m)                                   # contiguous, C order
    flat = m._view((m.size,), (1,), m._offset)
    cs = K.scan(dev, flat, 0, np.dtype(np.int64), False)
    count = int(download(cs._view((1,), (1,), cs._offset + max(m.size - 1, 0)))[0]) if m.size else 0
    coords = K.mask_coords(dev, m, cs, count)
    return [coords._view((count,), (1,), coords._offset + d * count) for d in range(m.ndim)]


def select(x: OpenCLArray, key: Any) -> Selection:
    """The :class:`Selection` ``x[key]`` denotes."""
    items = _items(x, key)
    if not any(isinstance(it, tuple) for it in items):
        v = _basic(x, items)
        return Selection(v, list(zip(v._shape, v._strides, [0] * v.ndim)), None, True)
    # Integers beside index arrays are index arrays too (NumPy): they take part in the broadcast
    # and in deciding where the advanced axes go.
    vshape: list[int] = []
    vstrides: list[int] = []
    adv: list[tuple[int, Any]] = []   # (view axis, index array)
    slots: list[int] = []             # position of each index array in the key: adjacency decides placement
    off = x._offset
    ax = 0
    for slot, it in enumerate(items):
        n_adv = len(adv)
        if it is _GAP:
            continue
        if it is None:
            vshape.append(1)
            vstrides.append(0)
        elif isinstance(it, slice):
            n, st = x._shape[ax], x._strides[ax]
            start, stop, step = it.indices(n)
            length = len(range(start, stop, step))
            if length:
                off += start * st
            vshape.append(length)
            vstrides.append(st * step)
            ax += 1
        elif isinstance(it, int):
            adv.append((len(vshape), np.asarray(it, dtype=np.int64)))
            vshape.append(x._shape[ax])
            vstrides.append(x._strides[ax])
            ax += 1
        elif it[0] == "idx":
            adv.append((len(vshape), it[1]))
            vshape.append(x._shape[ax])
            vstrides.append(x._strides[ax])
            ax += 1
        elif it[1].ndim == 0:  # x[True] / x[False]: a new axis of length 1, selected once or not at all
            m = it[1]
            keep = bool(download(m) if isinstance(m, OpenCLArray) else m)
            adv.append((len(vshape), np.zeros(1 if keep else 0, dtype=np.int64)))
            vshape.append(1)
            vstrides.append(0)
        else:
            for c in _mask_coords(x, it[1], ax):
                adv.append((len(vshape), c))
                vshape.append(x._shape[ax])
                vstrides.append(x._strides[ax])
                ax += 1
        slots += [slot] * (len(adv) - n_adv)
    B = K.broadcast_shapes(*(tuple(a.shape) for _, a in adv)) if adv else ()
    offsets, unique = _offsets(x, adv, vshape, vstrides, B)
    positions = [p for p, _ in adv]
    adjacent = all(b - a <= 1 for a, b in zip(slots, slots[1:]))
    basic = [(vshape[d], vstrides[d], 0) for d in range(len(vshape)) if d not in positions]
    bdims = list(zip(B, [0] * len(B), c_strides(B)))
    if adjacent:
        before = sum(1 for d in range(positions[0]) if d not in positions)
        dims = basic[:before] + bdims + basic[before:]
    else:
        dims = bdims + basic
    view = x._view(tuple(vshape), tuple(vstrides), off)
    return Selection(view, dims, offsets, unique)


def _offsets(x: OpenCLArray, adv: list, vshape: list, vstrides: list,
             B: tuple[int, ...]) -> tuple[OpenCLArray, bool]:
    """Σ index_j · stride_j over the broadcast index arrays, as a contiguous int64 device array."""
    dev = x._dev
    if all(isinstance(a, np.ndarray) for _, a in adv):
        total = np.zeros(B, dtype=np.int64)
        for p, a in adv:
            n = vshape[p]
            bad = (a < -n) | (a >= n)
            if bad.any():
                raise IndexError(f"index {int(a[bad].flat[0])} is out of bounds for an axis of size {n}")
            total = total + np.where(a < 0, a + n, a) * vstrides[p]
        unique = bool(np.unique(total).size == total.size)
        return upload(total, dev), unique
    operands, compute, terms = [], [], []
    i64 = np.dtype(np.int64)
    for p, a in adv:
        d = a if isinstance(a, OpenCLArray) else upload(np.asarray(a, dtype=np.int64), dev)
        j = len(operands)
        operands += [d, np.int64(vshape[p]), np.int64(vstrides[p])]
        compute += [i64, i64, i64]
        terms.append(f"xp_wrap_long(a{j}, a{j + 1}) * a{j + 2}")
    return K.elementwise(dev, " + ".join(terms), operands, compute, i64, shape=B), False


def getitem(x: OpenCLArray, key: Any) -> OpenCLArray:
    """``x[key]``: a view for basic keys, a gathered copy otherwise."""
    sel = select(x, key)
    if sel.offsets is None:
        return sel.view
    return K.gather(x._dev, sel)


def _value(x: OpenCLArray, value: Any) -> Any:
    """A value to write into ``x``: a device array of ``x``'s device, or a scalar of ``x``'s dtype."""
    from .array import _operand

    if isinstance(value, list):
        value = upload(np.asarray(value), x._dev, x.dtype)
    v = _operand(x, value)
    if v is NotImplemented:
        raise TypeError(f"cannot assign a {type(value).__name__} into an OpenCL array")
    if isinstance(v, OpenCLArray) and v._buf is x._buf:
        from .namespace import _copy

        v = _copy(v)  # the value overlaps the destination: read it all before writing
    return v


def setitem(x: OpenCLArray, key: Any, value: Any) -> None:
    """``x[key] = value`` in place; with repeated indices the last value wins, as in NumPy."""
    if not x._writeable:
        raise ValueError("assignment destination is read-only: a broadcast view aliases its elements; "
                         "copy it first")
    dev = x._dev
    v = _value(x, value)
    sel = select(x, key)
    shape = sel.shape
    if isinstance(v, OpenCLArray) and K.broadcast_shapes(v.shape, shape) != shape:
        raise ValueError(f"could not broadcast a value of shape {v.shape} into the selection of shape "
                         f"{shape}")
    if sel.offsets is None:
        K.elementwise(dev, "a0", [v], [x.dtype], x.dtype, out=sel.view)
        return
    if not isinstance(v, OpenCLArray):
        v = K.elementwise(dev, "a0", [v], [x.dtype], x.dtype, shape=())
    K.scatter(dev, sel, v, K.broadcast_strides(v.shape, v.strides, shape), sel.unique)


def scatter_add(z: OpenCLArray, key: Any, g: Any, *, atomic: bool = False) -> OpenCLArray:
    """A copy of ``z`` with ``g`` added at ``z[key]``; repeated indices accumulate.

    By default deterministically (bucketed by destination, summed in selection
    order); ``atomic=True`` adds with one pass of float atomics (float32/float64),
    whose sum order, and so rounding, varies from run to run where indices repeat.
    """
    from .namespace import _copy

    dev = z._dev
    out = _copy(z)
    g = _value(out, g)
    sel = select(out, key)
    shape = sel.shape
    if isinstance(g, OpenCLArray) and K.broadcast_shapes(g.shape, shape) != shape:
        raise ValueError(f"could not broadcast an addend of shape {g.shape} to the selection of shape "
                         f"{shape}")
    if sel.offsets is None:   # a basic key selects every element once: add in place, elementwise
        K.elementwise(dev, "a0 + a1", [sel.view, g], [out.dtype, out.dtype], out.dtype, out=sel.view)
        return out
    if not isinstance(g, OpenCLArray):
        g = K.elementwise(dev, "a0", [g], [out.dtype], out.dtype, shape=())
    add = K.scatter_add_atomic if atomic else K.scatter_add
    add(dev, out, sel, g, K.broadcast_strides(g.shape, g.strides, shape))
    return out


# ---------------------------------------------------------------- scatter_add's cost models

# Serial steps (at reduce_lane_rate) per contribution, fit on a 2-core CPU device (PoCL-like runtime):
# the bucketed kernel's count, fill and sorted sum take _BUCKET_STEPS + _SORT_STEPS · log2(bucket + 1);
# the atomic kernel's decode and compare-and-swap _ATOMIC_STEPS.
_BUCKET_STEPS, _SORT_STEPS, _ATOMIC_STEPS = 30.0, 10.0, 12.0
_LAUNCHES_BUCKETED, _LAUNCHES_ATOMIC = 9, 3


def _num(profile: Any, name: str, default: float) -> float:
    v = getattr(profile, name, None)
    return float(default if v is None else v)


def scatter_add_sizes(signature: Any) -> tuple[int, int, int]:
    """``(destinations, contributions, itemsize)`` of a scatter_add signature ``(z, g, key=...)``.

    Contributions are the addend's elements, or, for a broadcast scalar addend, the
    largest index array of the key (the selection is at least that large).
    """
    zshape = signature.shapes[0] if signature.shapes else ()
    gshape = signature.shapes[1] if len(signature.shapes) > 1 else ()
    nout = int(np.prod(zshape, dtype=np.int64)) if zshape else 1
    n = int(np.prod(gshape, dtype=np.int64)) if gshape else 1
    if n <= 1:
        key = signature.params.get("key")
        for k in (key if isinstance(key, tuple) else (key,)):
            shape = getattr(k, "shape", None)
            size = int(np.prod(shape, dtype=np.int64)) if shape is not None else \
                (int(np.size(k)) if isinstance(k, list) else 1)
            n = max(n, size)
    isize = int(np.dtype(signature.dtypes[0]).itemsize) if signature.dtypes else 4
    return nout, n, isize


def _walks(profile: Any) -> tuple[float, float]:
    return max(_num(profile, "reduce_lane_rate", 1.5e9), 1.0), max(_num(profile, "reduce_lanes", 1.0), 1.0)


def _atomic_time(profile: Any) -> float:
    """Seconds one contended atomic on one address takes (a cache line bouncing between cores on a CPU)."""
    return _num(profile, "atomic_time", 5e-9 if getattr(profile, "is_gpu", False) else 2e-8)


def bucketed_cost(signature: Any, profile: Any) -> float:
    """Seconds for the deterministic bucketed scatter-add: nine launches, the traffic of counts, starts,
    permutation and addend, the atomic increments (serialised per destination), and each destination's
    sort-and-sum walked by one work-item (at most ``reduce_lanes`` at once; the longest bucket bounds it)."""
    from ...core.dispatch import launch_time, memory_time

    nout, n, isz = scatter_add_sizes(signature)
    bucket = n / max(nout, 1)
    rate, lanes = _walks(profile)
    per = _BUCKET_STEPS + _SORT_STEPS * float(np.log2(bucket + 1.0))
    walk = max(n * per / (rate * min(lanes, max(nout, 1))), bucket * per / rate)
    contended = 2.0 * bucket * _atomic_time(profile)
    traffic = memory_time(profile, 2 * nout * isz + 24 * nout + n * (28 + isz))
    return launch_time(profile, _LAUNCHES_BUCKETED) + traffic + max(walk, contended)


def atomic_cost(signature: Any, profile: Any) -> float:
    """Seconds for the one-pass atomic scatter-add: three launches, the traffic of the offsets, addend and
    read-modify-writes, every lane busy with one contribution each, or the compare-and-swaps on the most
    contended destination one after another, whichever is slower."""
    from ...core.dispatch import launch_time, memory_time

    nout, n, isz = scatter_add_sizes(signature)
    rate, lanes = _walks(profile)
    walk = n * _ATOMIC_STEPS / (rate * lanes)
    contended = (n / max(nout, 1)) * _atomic_time(profile)
    traffic = memory_time(profile, 2 * nout * isz + n * (8 + 3 * isz))
    return launch_time(profile, _LAUNCHES_ATOMIC) + traffic + max(walk, contended)


def _basic_key(key: Any) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, slice) or _is_int(k) for k in keys)


def atomic_supports(signature: Any) -> bool | str:
    """Whether the atomic kernel takes this call: float32 (float64 with 64-bit atomics) destinations,
    a key with index arrays or masks (a basic key selects every element once: no atomics to race)."""
    from .device import get_device

    if _basic_key(signature.params.get("key")):
        return "a basic key selects each element once: no atomics needed"
    try:
        dev = get_device(signature.device)
    except Exception:  # noqa: BLE001 - a signature made for another device: judge the dtype alone
        dev = None
    dt = signature.dtypes[0] if signature.dtypes else "?"
    if dev is None:
        return True if dt in ("float32", "float64") else \
            f"atomics here add float32 and float64 only, not {dt}"
    try:
        why = K.atomic_add_support(dev, np.dtype(dt))
    except TypeError:
        why = f"dtype {dt} is not an OpenCL dtype"
    return True if why is None else why
