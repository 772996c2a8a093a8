"""The cost-model dispatcher: several kernels per op, the cheapest chosen per signature and device.

A :class:`Kernel` is one algorithm for one op on one backend family (``conv2d``
by FFT on ``cpu``). It declares which calls it handles (``supports(signature)``)
and what a call costs (``cost(signature, profile)``, in seconds, from the device
profile). For each op and backend with several kernels the engine holds a
:class:`Dispatcher`: on the first call with a new :class:`Signature` (shapes,
dtypes, layouts, static parameters) it ranks the kernels that support it, then
keeps the ranking, so later calls cost one dict lookup. A kernel that runs out
of memory or local resources (:class:`OutOfResourcesError` or ``MemoryError``)
hands the call to the next one.

Planning levels, in FFTW's sense (``XPGRAD_DISPATCH`` or :func:`set_level`):

* ``estimate`` (default): rank by the cost model; never time anything.
* ``measure``: the first time a signature is seen, time every candidate on the
  real inputs (a warm-up, then the minimum of a few repeats; a candidate 3×
  slower than the best so far is dropped early) and save the winner as *wisdom*.
* ``wisdom-only``: saved decisions, else the family's default kernel; never time.

Every level uses saved wisdom when it has a decision for the signature. Wisdom
lives in a JSON file in the user cache directory (``XPGRAD_WISDOM`` names the
file, ``XPGRAD_CACHE_DIR`` the directory), keyed by op, shapes, dtypes, layouts,
parameters, device identity, backend and driver versions and kernel versions;
a corrupt or stale file is ignored with a warning and rebuilt.

Determinism (:func:`set_deterministic`, the core of ``xpgrad.use_deterministic``):
kernels whose results may differ run to run (float atomics) declare
``Kernel.deterministic = False``, and an op whose own forward is not deterministic
on some backend families says so in ``Op.deterministic``. In deterministic mode
planning sets such kernels aside, never times candidates (``measure`` plans as
``estimate``) and ignores saved timings; a call with no deterministic candidate
raises :class:`~xpgrad.core.errors.DeterminismError` (or, with ``warn_only``, warns
once per op and runs). The check happens only when a signature is planned: the
cached path is the same dict lookup, and an op flagged nondeterministic gets a
dispatcher on the backends concerned only while the mode is on.

``core`` names no device and no array library: backends bring kernels, profiles
and their identity; this module only compares numbers.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import DeterminismError, OutOfResourcesError, RegistryError

__all__ = ["Kernel", "Signature", "Dispatcher", "Explanation", "register", "candidates", "registered",
           "install", "explain", "choose", "prefer", "stay_on_device", "set_level", "get_level", "LEVELS",
           "gemm_time", "peak_rate", "memory_time", "transfer_time", "launch_time", "compute_time",
           "fft_time",
           "wisdom_path", "export_wisdom", "import_wisdom", "forget", "cache_dir", "stats", "kernels_of",
           "save_profile", "load_profile", "itemsize", "set_deterministic", "deterministic_mode",
           "op_deterministic", "DeterminismWarning"]

LEVELS = ("estimate", "measure", "wisdom-only")
WISDOM_FORMAT = "xpgrad-wisdom"
WISDOM_VERSION = 1


# ================================================================ kernels


@dataclass
class Kernel:
    """One algorithm for an op on one backend family, as a plugin declares it.

    ``forward(xp, *arrays, **params)`` has the signature of the op's forward rule
    and returns what it returns, on the same device, without side effects (the
    dispatcher may run it several times to time it). ``supports(signature)``
    returns ``True``, or ``False`` / a string saying why not (a string always
    means "not supported"); ``cost(signature, profile)`` returns estimated
    seconds. A kernel without ``supports`` handles
    every call; one without ``cost`` is ranked before those with a cost model
    (it claims the op outright). ``version`` goes into the wisdom key: bump it
    when the kernel changes, and saved timings of the old one are no longer used.
    ``default`` marks the kernel ``wisdom-only`` planning uses with no wisdom;
    ``transfers`` declares a kernel that moves its operands to compute elsewhere
    (OpenCL's "host" matmul), so residency checks expect its round trips.
    ``deterministic=False`` declares a kernel whose result may differ from run to
    run (float atomics: the order of the additions, and so the rounding, varies);
    under ``xpgrad.use_deterministic`` the dispatcher sets it aside.

    >>> Kernel("softmax", "cuda", fused_softmax, name="cuda-fused")      # doctest: +SKIP
    """

    op: str
    family: str
    forward: Callable[..., Any]
    name: str = "default"
    supports: Callable[..., Any] | None = None
    cost: Callable[..., float] | None = None
    version: str = "1"
    default: bool = False
    transfers: bool = False   # computes elsewhere (on the host) by design: its transfers are not fallbacks
    deterministic: bool = True   # the same bits on every run (False: float atomics, order-dependent sums)
    plugin: str = field(default="", compare=False)   # filled in by register()

    def check(self, signature: "Signature") -> str | None:
        """``None`` when the kernel supports ``signature``, else the reason it does not."""
        if self.supports is None:
            return None
        try:
            ok = self.supports(signature)
        except Exception as exc:  # a supports() that fails on odd input declines it
            return f"supports() raised {type(exc).__name__}: {exc}"
        return _declined(ok)

    def estimate(self, signature: "Signature", profile: Any) -> float | None:
        """Estimated seconds, or ``None`` without a cost model (or when it fails)."""
        if self.cost is None or profile is None:
            return None
        try:
            return float(self.cost(signature, profile))
        except Exception:  # noqa: BLE001 - a broken cost model must not break the op
            return math.inf


def _declined(ok: Any) -> str | None:
    """What ``supports`` answered, as ``None`` (supported) or the reason: a string is a reason."""
    if isinstance(ok, str):
        return ok or "declines this signature"
    return None if ok else "declines this signature"


# ================================================================ signatures

_ITEMSIZE = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "float16": 2, "bfloat16": 2,
             "int32": 4, "uint32": 4, "float32": 4, "int64": 8, "uint64": 8, "float64": 8,
             "complex64": 8, "complex128": 16}


def _dtype_name(d: Any) -> str:
    name = getattr(d, "name", None)
    if not isinstance(name, str):
        name = str(d)
    return name.rsplit(".", 1)[-1]


def itemsize(dtype: Any) -> int:
    """Bytes per element of a dtype (of any library, or its name); 4 when unknown."""
    size = getattr(dtype, "itemsize", None)
    if isinstance(size, int):
        return size
    return _ITEMSIZE.get(_dtype_name(dtype), 4)


def _layout(a: Any) -> str:
    """``"C"`` (row-major contiguous), ``"F"`` (column-major), ``"strided"``, or ``"-"`` (unknown)."""
    flags = getattr(a, "flags", None)
    if flags is not None:
        try:
            return "C" if flags["C_CONTIGUOUS"] else "F" if flags["F_CONTIGUOUS"] else "strided"
        except (KeyError, TypeError):
            pass
    contiguous = getattr(a, "is_contiguous", None)
    if callable(contiguous):
        try:
            return "C" if contiguous() else "strided"
        except Exception:  # noqa: BLE001
            return "-"
    return "-"


def _frozen(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_frozen(e) for e in v)
    if isinstance(v, dict):
        return tuple(sorted((str(k), _frozen(e)) for k, e in v.items()))
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    shape = getattr(v, "shape", None)
    if shape is not None and hasattr(v, "dtype") and not isinstance(v, numbers.Number):
        # an array parameter (scatter_add's index arrays): decisions depend on its shape and dtype, and its
        # repr would read a device array back to the host
        return ("array", tuple(int(n) for n in shape), _dtype_name(v.dtype))
    return repr(v)


@dataclass(frozen=True)
class Signature:
    """What a dispatch decision depends on: op, device, shapes, dtypes, layouts, static parameters.

    Cost models read ``shapes``, ``dtypes`` (names such as ``"float32"``) and
    ``params``; :meth:`key` is the stable text wisdom is saved under.

    >>> s = Signature.of("matmul", [(4, 4), (4, 4)], ["float32", "float32"])
    >>> s.itemsize, s.shapes[0]
    (4, (4, 4))
    """

    op: str
    device: str
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]
    params: dict = field(default_factory=dict, hash=False, compare=False)
    layouts: tuple[str, ...] = ()

    @classmethod
    def of(cls, op: Any, shapes: Sequence[Sequence[int]], dtypes: Sequence[Any] | Any = "float32",
           params: dict | None = None, device: str = "cpu", layouts: Sequence[str] | None = None
           ) -> "Signature":
        """A signature from shapes and dtypes (no arrays needed): for cost models and tests."""
        shapes = tuple(tuple(int(n) for n in s) for s in shapes)
        if isinstance(dtypes, (str, type(None))) or not isinstance(dtypes, Sequence):
            dtypes = [dtypes] * len(shapes)
        return cls(getattr(op, "name", op), str(device), shapes, tuple(_dtype_name(d) for d in dtypes),
                   dict(params or {}), tuple(layouts or ("C",) * len(shapes)))

    @classmethod
    def from_call(cls, op: Any, device: str, args: Sequence[Any], params: dict) -> "Signature":
        """The signature of a call ``op(*args, **params)`` on backend arrays (scalars allowed)."""
        shapes, dtypes, layouts = [], [], []
        for a in args:
            shape = getattr(a, "shape", None)
            if shape is None:   # a Python scalar operand
                shapes.append(())
                dtypes.append(type(a).__name__)
                layouts.append("scalar")
            else:
                shapes.append(tuple(int(n) for n in shape))
                dtypes.append(_dtype_name(a.dtype))
                layouts.append(_layout(a))
        return cls(getattr(op, "name", op), str(device), tuple(shapes), tuple(dtypes), dict(params),
                   tuple(layouts))

    @property
    def itemsize(self) -> int:
        """Bytes per element of the widest operand dtype."""
        return max((_ITEMSIZE.get(d, 4) for d in self.dtypes), default=4)

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def key(self) -> str:
        """Stable text of everything but the device (the wisdom file adds device and versions)."""
        return json.dumps([self.op, [list(s) for s in self.shapes], list(self.dtypes), list(self.layouts),
                           _frozen(self.params)], separators=(",", ":"))

    def __str__(self) -> str:
        args = ", ".join(f"{d}{list(s)}" for s, d in zip(self.shapes, self.dtypes))
        ps = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{self.op}({args}{ps}) on {self.device}"


# ================================================================ cost-model helpers
#
# Cost functions are written against these, so that one device profile (peak
# FLOP/s, memory and host bandwidth, launch latency) prices every algorithm.
# A profile may refine each figure (``gemm_half``, ``fft_flops``...): calibration
# measures them; the defaults below are what a profile without them gets.


def peak_rate(profile: Any, isize: int) -> float:
    """The profile's peak FLOP/s for operands of ``isize`` bytes (float64 at half rate if unknown)."""
    if isize >= 8:
        return float(getattr(profile, "peak_flops_f64", 0.0) or profile.peak_flops / 2)
    return float(profile.peak_flops)


def launch_time(profile: Any, n: int = 1) -> float:
    """Seconds of fixed overhead for ``n`` kernel launches (or library calls on the host)."""
    return n * float(profile.launch_latency)


def memory_time(profile: Any, nbytes: float) -> float:
    """Seconds to stream ``nbytes`` through device memory (reads plus writes)."""
    return nbytes / float(profile.memory_bandwidth)


def transfer_time(profile: Any, nbytes: float) -> float:
    """Seconds to move ``nbytes`` between host and device (0 when the device is the host)."""
    bw = float(getattr(profile, "host_bandwidth", math.inf))
    return 0.0 if math.isinf(bw) or nbytes == 0 else nbytes / bw + launch_time(profile)


def gemm_efficiency(profile: Any, m: int, k: int, n: int) -> float:
    """Fraction of peak a GEMM of this shape reaches: ``∏ d / (d + h)`` over m, k, n.

    ``h`` is the profile's ``gemm_half`` (the size at which a dimension halves the
    rate; calibration fits it from timed GEMMs); small or skinny products run far
    below peak, as they do in every BLAS.
    """
    fn = getattr(profile, "gemm_efficiency", None)
    if callable(fn):
        return float(fn(m, k, n))
    h = float(getattr(profile, "gemm_half", 24.0))
    return (m / (m + h)) * (k / (k + h)) * (n / (n + h))


def gemm_time(profile: Any, m: int, k: int, n: int, *, batch: int = 1, itemsize: int = 4,
              launches: int = 1) -> float:
    """Seconds for ``batch`` products of (m×k)(k×n): compute or memory bound, plus launch overhead."""
    if m * k * n * batch == 0:
        return launch_time(profile, launches)
    flops = 2.0 * m * k * n * batch
    compute = flops / (peak_rate(profile, itemsize) * max(gemm_efficiency(profile, m, k, n), 1e-6))
    traffic = memory_time(profile, itemsize * batch * (m * k + k * n + m * n))
    per_matrix = float(getattr(profile, "gemm_overhead", 0.0)) * batch   # e.g. one BLAS call per matrix
    return max(compute, traffic) + per_matrix + launch_time(profile, launches)


def compute_time(profile: Any, flops: float, nbytes: float, *, itemsize: int = 4, launches: int = 1) -> float:
    """Seconds of elementwise-style work: ``flops`` at the profile's ``vector_efficiency`` of peak
    (default 0.25) or ``nbytes`` of memory traffic, whichever is slower, plus launches."""
    rate = peak_rate(profile, itemsize) * float(getattr(profile, "vector_efficiency", 0.25))
    return max(flops / rate, memory_time(profile, nbytes)) + launch_time(profile, launches)


def fft_time(profile: Any, points: int, batch: int = 1, *, itemsize: int = 4, launches: int = 1) -> float:
    """Seconds for ``batch`` complex FFTs of ``points`` points each (5·N·log2 N FLOPs each).

    Reads the profile's ``fft_flops`` (FLOP/s its FFT reaches; calibration measures
    it), else 5 % of peak, and the memory traffic of a read and a write per pass.
    """
    if points <= 1 or batch == 0:
        return launch_time(profile, launches)
    flops = 5.0 * points * math.log2(points) * batch
    rate = float(getattr(profile, "fft_flops", 0.0) or peak_rate(profile, itemsize) * 0.05)
    traffic = memory_time(profile, 2 * 2 * itemsize * points * batch)
    return max(flops / rate, traffic) + launch_time(profile, launches)


# ================================================================ registry of kernels

_REG: dict[tuple[str, str], list[Kernel]] = {}     # (op, family) -> kernels, in registration order
_INSTALLED = [False]
_DISPATCHERS: "weakref.WeakSet[Dispatcher]" = weakref.WeakSet()
_LOCK = threading.RLock()


def register(kernel: Kernel, plugin: str = "") -> Kernel:
    """Make ``kernel`` a candidate for its op on every backend of its family.

    A kernel with the name of one already registered for that op and family
    replaces it. Backends may register kernels before the ops exist; they are
    attached when both do (:func:`install`).
    """
    if not callable(kernel.forward):
        raise RegistryError(f"kernel {kernel.name!r} for op {kernel.op!r}: forward must be callable")
    if plugin:
        kernel.plugin = plugin
    with _LOCK:
        lst = _REG.setdefault((kernel.op, kernel.family), [])
        lst[:] = [k for k in lst if k.name != kernel.name] + [kernel]
        if _INSTALLED[0]:
            _attach(kernel.op, kernel.family)
    return kernel


def registered() -> list[Kernel]:
    """Every registered kernel, in registration order per op and family."""
    return [k for lst in list(_REG.values()) for k in lst]


def candidates(op: Any, family: str) -> list[Kernel]:
    """The kernels registered for ``op`` (an Op or its name) on ``family``."""
    return list(_REG.get((getattr(op, "name", op), family), ()))


def _attach(op_name: str, family: str, backend: Any = None) -> None:
    from .device import _BY_DEVICE
    from .registry import ops

    op = ops().get(op_name)
    cands = _REG.get((op_name, family))
    if op is None or not cands:
        return
    for b in ([backend] if backend is not None else list(_BY_DEVICE.values())):
        if b.family != family:
            continue
        one = cands[0]
        if len(cands) == 1 and one.supports is None and one.cost is None and one.deterministic:
            op.kernels[b] = one.forward    # one unconditional kernel: no dispatch cost at all
        else:
            d = Dispatcher(op, b, list(cands))
            _DISPATCHERS.add(d)
            op.kernels[b] = d


def install() -> None:
    """Attach every registered kernel to its op (once the built-in ops exist), and to later backends."""
    from .device import on_register

    with _LOCK:
        _INSTALLED[0] = True
        for op_name, fam in list(_REG):
            _attach(op_name, fam)
        for op in list(_FLAGGED):
            _sync_guards(op)
    on_register(_attach_all)


def _attach_all(b: Any) -> None:
    """A new backend: its family's kernels, and guards for ops not deterministic on it."""
    for o, f in list(_REG):
        if f == b.family:
            _attach(o, f, b)
    for op in list(_FLAGGED):
        _sync_guards(op, [b])


def _dispatcher(op: Any, backend: Any) -> "Dispatcher | None":
    d = op.kernels.get(backend)
    return d if isinstance(d, Dispatcher) else None


# ================================================================ planning state

_STATS = {"planned": 0, "timed": 0, "wisdom": 0, "fallbacks": 0}


def stats(reset: bool = False) -> dict[str, int]:
    """Counters since start (or the last reset): signatures ``planned``, candidate kernels ``timed``
    (under ``measure``), decisions taken from ``wisdom``, out-of-resources ``fallbacks``.

    >>> sorted(stats())
    ['fallbacks', 'planned', 'timed', 'wisdom']
    """
    out = dict(_STATS)
    if reset:
        for k in _STATS:
            _STATS[k] = 0
    return out


_LEVEL: list[str] = []
_PREFER: dict[tuple[str, str | None], str] = {}   # (op, device or None) -> kernel name


def get_level() -> str:
    """The planning level: ``estimate``, ``measure`` or ``wisdom-only`` (``XPGRAD_DISPATCH``)."""
    if not _LEVEL:
        env = os.environ.get("XPGRAD_DISPATCH", "estimate").strip().lower() or "estimate"
        if env not in LEVELS:
            warnings.warn(f"xpgrad: XPGRAD_DISPATCH={env!r} is not a planning level "
                          f"({', '.join(LEVELS)}); using 'estimate'", stacklevel=2)
            env = "estimate"
        _LEVEL.append(env)
    return _LEVEL[0]


class set_level:
    """Set the planning level globally, or for a ``with`` block.

    >>> with set_level("wisdom-only"):
    ...     get_level()
    'wisdom-only'
    """

    def __init__(self, level: str) -> None:
        if level not in LEVELS:
            raise ValueError(f"planning level must be one of {', '.join(LEVELS)}, not {level!r}")
        self._old = get_level()
        _LEVEL[:] = [level]
        _forget_decisions()

    def __enter__(self) -> "set_level":
        return self

    def __exit__(self, *exc: Any) -> None:
        _LEVEL[:] = [self._old]
        _forget_decisions()


class prefer:
    """Use kernel ``kernel`` for ``op`` whenever it supports the call: globally, or in a ``with`` block.

    ``device`` limits the preference to one device. ``prefer(op, None)`` removes a
    preference. A preferred kernel that does not support a call is passed over
    (``explain`` says why), so a preference never makes a call fail.

    >>> with prefer("conv2d", "fft"):              # doctest: +SKIP
    ...     y = xg.conv2d(x, w)
    """

    def __init__(self, op: Any, kernel: str | None, *, device: str | None = None) -> None:
        name = getattr(op, "name", op)
        if kernel is not None:
            known = sorted({k.name for (o, _), lst in _REG.items() if o == name for k in lst} | {"generic"})
            if kernel not in known:
                raise RegistryError(f"prefer: op {name!r} has no kernel {kernel!r}; its kernels are "
                                    f"{', '.join(known)}")
        self._key = (name, None if device is None else str(device))
        self._old = _PREFER.get(self._key)
        self._set(kernel)

    def _set(self, kernel: str | None) -> None:
        if kernel is None:
            _PREFER.pop(self._key, None)
        else:
            _PREFER[self._key] = kernel
        _forget_decisions(self._key[0])

    def __enter__(self) -> "prefer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._set(self._old)


_STAY = [False]


class stay_on_device:
    """Never choose kernels that compute elsewhere by design (``Kernel.transfers``): globally or in a block.

    On a CPU OpenCL device the cost model may run small products on the host;
    inside ``with stay_on_device():`` every op runs on the device's own kernels.

    >>> with stay_on_device():
    ...     pass
    """

    def __init__(self, on: bool = True) -> None:
        self._old = _STAY[0]
        _STAY[0] = bool(on)
        _forget_decisions()

    def __enter__(self) -> "stay_on_device":
        return self

    def __exit__(self, *exc: Any) -> None:
        _STAY[0] = self._old
        _forget_decisions()


def _preferred(op: str, device: str) -> str | None:
    return _PREFER.get((op, device)) or _PREFER.get((op, None))


def _forget_decisions(op: str | None = None) -> None:
    for d in list(_DISPATCHERS):
        if op is None or d.op.name == op:
            d.cache.clear()
            d.plans.clear()


# ================================================================ determinism

class DeterminismWarning(UserWarning):
    """Under ``use_deterministic(True, warn_only=True)``: a call ran a kernel that is not deterministic."""


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def _env_mode() -> list[bool]:
    """``[on, warn_only]`` from ``XPGRAD_DETERMINISTIC`` (``1``/``true``/``on``, ``warn``, ``0``/unset)."""
    env = os.environ.get("XPGRAD_DETERMINISTIC", "").strip().lower()
    if env == "warn":
        return [True, True]
    if env in _TRUE:
        return [True, False]
    if env not in _FALSE:
        warnings.warn(f"xpgrad: XPGRAD_DETERMINISTIC={env!r} is not understood (1, true, on, warn, 0, false, "
                      "off); determinism stays off", stacklevel=2)
    return [False, False]


_DET: list[bool] = _env_mode()          # [on, warn_only]: process-wide, as torch's flag
_WARNED: set[str] = set()               # ops warned about under warn_only since the mode was last set
_FLAGGED: "weakref.WeakSet[Any]" = weakref.WeakSet()   # ops whose forward is not deterministic somewhere
_SET_ASIDE = "set aside: not deterministic (use_deterministic)"


def deterministic_mode() -> tuple[bool, bool]:
    """``(on, warn_only)``: whether deterministic mode is on, and whether it only warns.

    >>> deterministic_mode()
    (False, False)
    """
    return _DET[0], _DET[1]


def set_deterministic(on: bool, warn_only: bool = False) -> None:
    """Turn deterministic mode on or off for the process (``xpgrad.use_deterministic`` calls this).

    Planning decisions made before are forgotten, and ops whose own forward is not
    deterministic on a family get a dispatcher there (so that the check happens at
    planning) while the mode is on, and lose it when it goes off.

    >>> set_deterministic(True); deterministic_mode(); set_deterministic(False)
    (True, False)
    """
    new = [bool(on), bool(on) and bool(warn_only)]
    with _LOCK:
        if new == _DET:
            return
        _DET[:] = new
        _WARNED.clear()
        for op in list(_FLAGGED):
            _sync_guards(op)
        _forget_decisions()


def op_deterministic(op: Any, family: str) -> bool:
    """Whether ``op``'s own (generic) forward gives the same bits every run on backends of ``family``.

    Reads ``op.deterministic``: ``True``, ``False``, a callable ``family -> bool``,
    or a set of the families where the forward is *not* deterministic.

    >>> from xpgrad.core.registry import get_op
    >>> op_deterministic(get_op("add"), "cpu")
    True
    """
    flag = getattr(op, "deterministic", True)
    if flag is True or flag is False:
        return flag
    if isinstance(flag, (set, frozenset)):
        return family not in flag
    try:
        return bool(flag(family))
    except Exception as exc:
        raise RegistryError(f"op {getattr(op, 'name', op)!r}: its deterministic flag raised "
                            f"{type(exc).__name__} for family {family!r}: {exc}") from exc


def flag_changed(op: Any) -> None:
    """``op.deterministic`` changed (``Op`` calls this): keep guards and decisions in step."""
    with _LOCK:
        if getattr(op, "deterministic", True) is True:
            _FLAGGED.discard(op)
        else:
            _FLAGGED.add(op)
        _sync_guards(op)
        _forget_decisions(op.name)


def _sync_guards(op: Any, backends: Sequence[Any] | None = None) -> None:
    """Give ``op`` a kernel-less dispatcher (a guard) on each backend where deterministic mode is on and
    its forward is not deterministic, so the check runs once per signature; remove guards elsewhere.

    Backends with kernels for the op already have a dispatcher (or one deterministic kernel that
    replaces the forward outright); with the mode off there is no guard at all: no cost."""
    from .device import _BY_DEVICE

    for b in (list(_BY_DEVICE.values()) if backends is None else backends):
        cur = op.kernels.get(b)
        need = _DET[0] and not op_deterministic(op, b.family)
        if need and cur is None:
            d = Dispatcher(op, b, [])
            d.guard = True
            _DISPATCHERS.add(d)
            op.kernels[b] = d
        elif not need and type(cur) is Dispatcher and cur.guard:
            del op.kernels[b]


def _warn_once(op: str, message: str) -> None:
    with _LOCK:
        if op in _WARNED:
            return
        _WARNED.add(op)
    warnings.warn(message, DeterminismWarning, stacklevel=2)


def _call_text(sig: "Signature") -> str:
    """``op(float32[4, 5], float32[8, 5], key=…) on opencl:0``: shapes and dtypes, parameters by name."""
    lay = sig.layouts or ("",) * len(sig.shapes)
    args = ", ".join(d if la == "scalar" else f"{d}{list(s)}"
                     for s, d, la in zip(sig.shapes, sig.dtypes, lay))
    ps = "".join(f", {k}=…" for k in sig.params)
    return f"{sig.op}({args}{ps}) on {sig.device}"


def forget() -> None:
    """Drop every in-memory decision and the loaded wisdom (the file stays): the next calls plan again."""
    _forget_decisions()
    _WISDOM.clear()


# ================================================================ the cache directory, wisdom, profiles


def cache_dir() -> str:
    """Where wisdom and calibrated profiles live: ``XPGRAD_CACHE_DIR``, else the user cache directory."""
    env = os.environ.get("XPGRAD_CACHE_DIR")
    if env:
        return env
    import platformdirs

    return platformdirs.user_cache_dir("xpgrad")


def wisdom_path() -> str:
    """The wisdom file: ``XPGRAD_WISDOM``, else ``wisdom.json`` in :func:`cache_dir`."""
    return os.environ.get("XPGRAD_WISDOM") or os.path.join(cache_dir(), "wisdom.json")


def _atomic_write_json(path: str, obj: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename: never half-written."""
    from .._atomic import atomic_write

    atomic_write(path, json.dumps(obj, indent=1, sort_keys=True), makedirs=True)


def _read_json(path: str, fmt: str, version: int, what: str) -> dict:
    """The entries of a cache file; ``{}`` with a warning when it is corrupt or of another version."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        warnings.warn(f"xpgrad: ignoring the {what} file {path}: it is not readable JSON ({exc}); "
                      "it will be rebuilt", stacklevel=3)
        return {}
    if not isinstance(data, dict) or data.get("format") != fmt or not isinstance(data.get("entries"), dict):
        warnings.warn(f"xpgrad: ignoring the {what} file {path}: it is not an xpgrad {what} file; "
                      "it will be rebuilt", stacklevel=3)
        return {}
    if data.get("version") != version:
        warnings.warn(f"xpgrad: ignoring the {what} file {path}: format version {data.get('version')!r}, "
                      f"this xpgrad writes {version}; it will be rebuilt", stacklevel=3)
        return {}
    return data["entries"]


class _Wisdom:
    """Saved decisions, loaded from the wisdom file on first use and written back after each new one."""

    def __init__(self) -> None:
        self.entries: dict[str, dict] | None = None
        self.path: str | None = None

    def load(self) -> dict[str, dict]:
        path = wisdom_path()
        if self.entries is None or path != self.path:
            self.path = path
            self.entries = _read_json(path, WISDOM_FORMAT, WISDOM_VERSION, "wisdom")
        return self.entries

    def get(self, key: str) -> dict | None:
        return self.load().get(key)

    def put(self, key: str, entry: dict) -> None:
        with _LOCK:
            entries = self.load()
            entries[key] = entry
            # merge what other processes saved meanwhile; ours wins on the same key
            on_disk = _read_json(self.path, WISDOM_FORMAT, WISDOM_VERSION, "wisdom") \
                if os.path.exists(self.path) else {}
            merged = {**on_disk, **entries}
            self.entries = merged
            try:
                _atomic_write_json(self.path, {"format": WISDOM_FORMAT, "version": WISDOM_VERSION,
                                               "entries": merged})
            except OSError as exc:
                warnings.warn(f"xpgrad: could not save dispatch wisdom to {self.path} ({exc}); "
                              "decisions are kept for this process only", stacklevel=4)

    def clear(self) -> None:
        self.entries = None


_WISDOM = _Wisdom()


def export_wisdom(path: str) -> int:
    """Write every saved decision to ``path`` (atomically); returns how many."""
    entries = dict(_WISDOM.load())
    _atomic_write_json(path, {"format": WISDOM_FORMAT, "version": WISDOM_VERSION, "entries": entries})
    return len(entries)


def import_wisdom(path: str) -> int:
    """Merge the decisions in ``path`` into the wisdom file; returns how many were read.

    A file that is not wisdom raises :class:`ValueError` (nothing is merged).
    """
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"import_wisdom: {path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != WISDOM_FORMAT \
            or data.get("version") != WISDOM_VERSION or not isinstance(data.get("entries"), dict):
        raise ValueError(f"import_wisdom: {path} is not an xpgrad wisdom file of version {WISDOM_VERSION}")
    entries = {k: v for k, v in data["entries"].items() if isinstance(v, dict) and "kernel" in v}
    for k, v in entries.items():
        _WISDOM.put(k, v)
    _forget_decisions()
    return len(entries)


def identity(backend: Any) -> str:
    """What makes decisions on ``backend`` valid: device, its name, driver and library versions."""
    ident = getattr(backend, "identity", None)
    if callable(ident):
        ident = ident()
    if ident:
        return str(ident)
    xp = backend.xp
    return f"{backend.device} {getattr(xp, '__name__', type(xp).__name__)} {getattr(xp, '__version__', '')}"


def _wisdom_key(sig: Signature, backend: Any, cands: Sequence[Kernel]) -> str:
    versions = ",".join(f"{k.name}@{k.version}" for k in cands)
    return f"{identity(backend)} | {sig.key()} | {versions}"


PROFILE_FORMAT = "xpgrad-profiles"
PROFILE_VERSION = 1
_PROFILES_APPLIED: "weakref.WeakSet[Any]" = weakref.WeakSet()


def _profiles_path() -> str:
    return os.path.join(cache_dir(), "profiles.json")


def save_profile(backend: Any) -> str:
    """Store what ``backend.profile.measured`` holds under the backend's identity; returns the file."""
    measured = dict(getattr(backend.profile, "measured", {}) or {})
    path = _profiles_path()
    with _LOCK:
        entries = _read_json(path, PROFILE_FORMAT, PROFILE_VERSION, "profile")
        entries[identity(backend)] = {"device": backend.device, "measured": measured, "when": time.time()}
        _atomic_write_json(path, {"format": PROFILE_FORMAT, "version": PROFILE_VERSION, "entries": entries})
    return path


# backend -> the keys of profile.measured last loaded from or written to the profiles file
_KEPT: "weakref.WeakKeyDictionary[Any, frozenset]" = weakref.WeakKeyDictionary()


def keep_measurements(backend: Any) -> None:
    """Write figures a profile measured on first use (launch latency, bandwidth) to the profiles file.

    Cost estimates read them; measured afresh in every process they would differ a little, and a
    near-tie between two kernels could then go one way in one run and the other way in the next,
    with results that differ in the last bits. Kept, every later process estimates with the same
    numbers and makes the same choices. A cache that cannot be written is left alone.
    """
    measured = getattr(backend.profile, "measured", None)
    if not isinstance(measured, dict):
        return
    keys = frozenset(measured)
    try:
        if _KEPT.get(backend) == keys:
            return
        _KEPT[backend] = keys
    except TypeError:   # a backend that cannot be weakly referenced: nothing to remember it by
        return
    with contextlib.suppress(OSError):
        path = _profiles_path()
        with _LOCK:
            entries = _read_json(path, PROFILE_FORMAT, PROFILE_VERSION, "profile")
            old = entries.get(identity(backend))
            stored = dict(old.get("measured", {})) if isinstance(old, dict) else {}
            if all(k in stored for k in measured):
                return
            entries[identity(backend)] = {"device": backend.device, "measured": {**measured, **stored},
                                          "when": time.time()}
            _atomic_write_json(path, {"format": PROFILE_FORMAT, "version": PROFILE_VERSION,
                                      "entries": entries})


def load_profile(backend: Any) -> bool:
    """Apply a stored calibration to ``backend.profile`` (once per backend); whether there was one."""
    if backend in _PROFILES_APPLIED:
        return False
    with contextlib.suppress(TypeError):
        _PROFILES_APPLIED.add(backend)
    prof = backend.profile
    if prof is None:
        return False
    entry = _read_json(_profiles_path(), PROFILE_FORMAT, PROFILE_VERSION, "profile").get(identity(backend))
    if not isinstance(entry, dict) or not isinstance(entry.get("measured"), dict):
        return False
    apply = getattr(prof, "apply_measured", None)
    if callable(apply):
        apply(entry["measured"])
    else:
        for k, v in entry["measured"].items():
            prof.measured[k] = v
            with contextlib.suppress(AttributeError):
                setattr(prof, k, v)
    with contextlib.suppress(TypeError):
        _KEPT[backend] = frozenset(getattr(prof, "measured", {}) or {})
    return True


# ================================================================ the dispatcher


RESOURCE_ERRORS = (OutOfResourcesError, MemoryError)


class Dispatcher:
    """The kernels of one op on one backend, and the decisions made so far (per call signature).

    The engine calls :meth:`select` with the call's backend arrays and params and
    runs the kernel it returns; a cached decision costs building a key of shapes,
    dtypes and params and one dict lookup (``benchmarks/dispatch_overhead.py``).
    Calling the dispatcher itself (``d(xp, *arrays, **params)``) does both.
    """

    def __init__(self, op: Any, backend: Any, kernels: list[Kernel]) -> None:
        self.op = op
        self.backend = backend
        self.kernels = kernels
        self.generic = Kernel(op.name, backend.family, op.forward, name="generic",
                              plugin="xpgrad (the op's Array API forward)")
        self.cache: dict[Any, Callable] = {}                # call key -> forward of the chosen kernel
        self.plans: dict[Any, tuple[Kernel, ...]] = {}      # call key -> kernels in the order to try
        self.measured: dict[str, dict[str, float]] = {}    # wisdom key -> kernel -> seconds (this process)
        self.guard = False   # no kernels: installed only to check determinism at planning (_sync_guards)

    def __repr__(self) -> str:
        names = ", ".join(k.name for k in self.kernels)
        return f"<Dispatcher {self.op.name} on {self.backend.device}: {names}>"

    def __call__(self, xp: Any, *args: Any, **params: Any) -> Any:
        fwd = self.select(args, params)
        try:
            return fwd(xp, *args, **params)
        except RESOURCE_ERRORS as exc:
            return self.fall_back(xp, args, params, fwd, exc)

    def select(self, args: tuple, params: dict) -> Callable:
        """The forward to run for this call: cached per shapes, dtypes and params; planned on a miss."""
        try:
            if len(args) == 2:
                a, b = args
                return self.cache[(a.shape, a.dtype, b.shape, b.dtype, *params.items())]
            if len(args) == 1:
                a = args[0]
                return self.cache[(a.shape, a.dtype, *params.items())]
            return self.cache[(*[(a.shape, a.dtype) for a in args], *params.items())]
        except (KeyError, AttributeError, TypeError):
            return self._miss(args, params)

    # -- planning --------------------------------------------------------
    @staticmethod
    def _key(args: tuple, params: dict) -> Any:
        """The cache key :meth:`select` builds, or a frozen one for scalars and unhashable params."""
        try:
            if len(args) == 2:
                a, b = args
                key = (a.shape, a.dtype, b.shape, b.dtype, *params.items())
            elif len(args) == 1:
                key = (args[0].shape, args[0].dtype, *params.items())
            else:
                key = (*[(a.shape, a.dtype) for a in args], *params.items())
            hash(key)
            return key
        except (AttributeError, TypeError):
            return ("frozen", tuple((getattr(a, "shape", None), str(getattr(a, "dtype", type(a))))
                                    for a in args), _frozen(params))

    def _miss(self, args: tuple, params: dict) -> Callable:
        key = self._key(args, params)
        fwd = self.cache.get(key)
        if fwd is not None:   # a frozen key seen before
            return fwd
        sig = Signature.from_call(self.op, self.backend.device, args, params)
        plan, _ = self.plan(sig, args=args, xp=self.backend.xp)
        self.plans[key] = plan
        self.cache[key] = plan[0].forward
        keep_measurements(self.backend)
        return plan[0].forward

    def fall_back(self, xp: Any, args: tuple, params: dict, failed: Callable, exc: BaseException) -> Any:
        """Run the call with the next kernels of its plan after ``failed`` ran out of resources."""
        _STATS["fallbacks"] += 1
        key = self._key(args, params)
        plan = self.plans.get(key) or (self.generic,)
        rest = [k for k in plan if k.forward is not failed]
        for k in rest:
            try:
                out = k.forward(xp, *args, **params)
            except RESOURCE_ERRORS:
                continue
            self.plans[key] = (k,) + tuple(c for c in rest if c is not k)   # this signature does not fit
            self.cache[key] = k.forward                                    # the first choice: remember
            return out
        raise OutOfResourcesError(
            f"{self.op.name} on {self.backend.device}: every kernel ran out of resources "
            f"({', '.join(k.name for k in plan)}); the first said: {exc}") from exc

    def profile(self) -> Any:
        load_profile(self.backend)
        return self.backend.profile

    def plan(self, sig: Signature, *, args: tuple | None = None, xp: Any = None, profile: Any = None,
             level: str | None = None, rows: list | None = None) -> tuple[tuple[Kernel, ...], str]:
        """The kernels to try in order for ``sig``, and why the first was chosen.

        ``rows`` (a list) receives one dict per candidate for :func:`explain`.
        Timing (level ``measure``) needs the call's ``args``.
        """
        level = level or get_level()
        det, warn_only = _DET
        if det and level == "measure":
            level = "estimate"   # timings differ from run to run, and so would the choice
        if rows is None:
            _STATS["planned"] += 1
        prof = self.profile() if profile is None else profile
        support = {k.name: "set aside: stay_on_device() is in effect" if _STAY[0] and k.transfers
                   else k.check(sig) for k in self.kernels}
        gen_det = op_deterministic(self.op, self.backend.family)
        why_not = dict(support)
        generic_ok = True
        note = ""
        if det:
            aside = [k.name for k in self.kernels if support[k.name] is None and not k.deterministic]
            for name in aside:
                why_not[name] = _SET_ASIDE
            generic_ok = gen_det
            if aside:
                note = f"; set aside as not deterministic: {', '.join(aside)}"
            if not gen_det and all(v is not None for v in why_not.values()):
                msg = self._no_deterministic(sig, support)
                if not warn_only:
                    if rows is not None:
                        self._rows(rows, support, why_not, {}, {}, None, gen_det)
                    raise DeterminismError(msg)
                _warn_once(self.op.name, msg.replace("Ways out:", "It runs anyway (warn_only=True); "
                                                     "ways out:", 1))
                why_not, generic_ok = dict(support), True
                note = "; warn_only: no deterministic kernel supports this call, it runs anyway"
        ok = [k for k in self.kernels if why_not[k.name] is None]
        est = {k.name: k.estimate(sig, prof) for k in ok}
        # no cost model first (it claims the op), then by estimated cost; ties in registration order
        ranked = sorted(ok, key=lambda k: (est[k.name] is not None, est[k.name] or 0.0))
        wkey = _wisdom_key(sig, self.backend, self.kernels)
        saved = _WISDOM.get(wkey)
        measured = dict(self.measured.get(wkey, {}))
        if saved and isinstance(saved.get("times"), dict):
            measured = {**saved["times"], **measured}
        pref = _preferred(self.op.name, self.backend.device)
        chosen: Kernel | None = None
        reason = ""
        if pref is not None:
            k = next((k for k in self.kernels + [self.generic] if k.name == pref
                      and (k is self.generic or support[k.name] is None)), None)
            if k is not None:
                chosen, reason = k, f"preferred (xpgrad.dispatch.prefer({self.op.name!r}, {pref!r}))"
                if det and not (gen_det if k is self.generic else k.deterministic):
                    det_ok = [c for c in ranked if c.deterministic] + ([self.generic] if gen_det else [])
                    msg = self._preferred_not_deterministic(sig, k, det_ok)
                    if not warn_only:
                        if rows is not None:
                            self._rows(rows, support, why_not, est, measured, None, gen_det)
                        raise DeterminismError(msg)
                    _warn_once(self.op.name, msg)
                    reason += " — not deterministic: runs anyway (warn_only=True)"
            else:
                why = support.get(pref) or "not a kernel on this device"
                reason = f"preferred kernel {pref!r} does not support this call ({why}); "
        if chosen is None and not ranked:
            chosen = self.generic
            reason += "no kernel supports this call: the op's generic Array API forward"
        if det and saved and ("times" in saved or saved.get("source", "measure") == "measure"):
            saved = None   # a decision that depends on timings, which differ from run to run
            note += "; saved timings set aside"
        if chosen is None and saved and saved.get("kernel") in {k.name for k in ranked}:
            chosen = next(k for k in ranked if k.name == saved["kernel"])
            reason += f"wisdom: measured fastest ({saved.get('source', 'measure')})"
            if rows is None:
                _STATS["wisdom"] += 1
        if chosen is None and level == "measure" and args is not None and len(ranked) > 1:
            times, winner = self._measure(ranked, args, sig.params, xp)
            self.measured[wkey] = times
            measured = {**measured, **times}
            chosen = winner
            _WISDOM.put(wkey, {"kernel": winner.name, "times": times, "source": "measure",
                               "signature": str(sig), "when": time.time()})
            reason += f"measured: fastest of {len(times)} timed"
        if chosen is None and level == "wisdom-only":
            chosen = next((k for k in ok if k.default), ok[0])   # registration order, not cost
            reason += "wisdom-only: no saved decision, the default kernel"
        if chosen is None:
            chosen = ranked[0]
            if est[chosen.name] is None:
                reason += "no cost model: the kernel claims the op"
            else:
                nxt = [k for k in ranked[1:] if est[k.name] is not None]
                reason += "estimate: lowest modelled cost"
                if nxt:
                    reason += f" ({_fmt_s(est[chosen.name])} vs {nxt[0].name} {_fmt_s(est[nxt[0].name])})"
        plan = (chosen,) + tuple(k for k in ranked if k is not chosen) + \
            (() if chosen is self.generic or not generic_ok else (self.generic,))
        if det:
            reason += f" (use_deterministic{note})"
        if rows is not None:
            self._rows(rows, support, why_not, est, measured, chosen, gen_det)
        return plan, reason

    def _rows(self, rows: list, support: dict, why_not: dict, est: dict, measured: dict,
              chosen: "Kernel | None", gen_det: bool) -> None:
        """One row per candidate, the generic forward last, for :func:`explain`."""
        for k in self.kernels + [self.generic]:
            generic = k is self.generic
            rows.append({"kernel": k.name, "plugin": k.plugin or "xpgrad", "version": k.version,
                         "supported": generic or why_not[k.name] is None,
                         "why_not": None if generic else why_not[k.name],
                         "estimate": None if generic else est.get(k.name),
                         "measured": measured.get(k.name), "chosen": k is chosen,
                         "deterministic": gen_det if generic else k.deterministic})

    def _where_deterministic(self) -> str:
        from .device import _BY_DEVICE

        devs = [d for d, b in _BY_DEVICE.items() if op_deterministic(self.op, b.family)
                and b is not self.backend]
        return f" ({', '.join(devs)})" if devs else ""

    def _no_deterministic(self, sig: Signature, support: dict) -> str:
        """The DeterminismError message for a call with no deterministic candidate."""
        parts = []
        for k in self.kernels:
            why = support[k.name]
            parts.append(f"{k.name!r} " + ("is not deterministic" if why is None
                                            else f"does not apply ({why})"))
        kernels = f"; its kernels: {'; '.join(parts)}" if parts else ""
        return (f"{self.op.name}: use_deterministic(True) is in effect and no deterministic kernel computes "
                f"{_call_text(sig)}: the op's own forward is not deterministic on {self.backend.family}"
                f"{kernels}. Ways out: run this call under xpgrad.use_deterministic(False); use "
                f"xpgrad.use_deterministic(True, warn_only=True) to warn once per op and run it anyway; or "
                f"run it on another device{self._where_deterministic()}.")

    def _preferred_not_deterministic(self, sig: Signature, k: "Kernel", det_ok: list) -> str:
        others = ", ".join(repr(c.name) for c in det_ok) or "none supports this call"
        return (f"{self.op.name}: xpgrad.dispatch.prefer({self.op.name!r}, {k.name!r}) names a kernel that "
                f"is not deterministic, and use_deterministic(True) is in effect ({_call_text(sig)}). Remove "
                f"the preference (prefer({self.op.name!r}, None)) or prefer a deterministic kernel "
                f"({others}); or run it with a warning under xpgrad.use_deterministic(True, warn_only=True).")

    def _measure(self, ranked: list[Kernel], args: tuple, params: dict, xp: Any
                 ) -> tuple[dict[str, float], Kernel]:
        """Time the candidates on the real inputs: a warm-up each, then rounds of one run each, keeping
        each one's minimum; a candidate 3× slower than the best so far is dropped after its round."""
        sync = getattr(self.backend, "synchronize", None) or (lambda: None)

        def run(k: Kernel) -> float:
            t0 = time.perf_counter()
            k.forward(xp, *args, **params)
            sync()
            return time.perf_counter() - t0

        alive: list[Kernel] = []
        for k in ranked:
            try:
                run(k)   # warm-up: compiles, caches, first touch of memory
            except RESOURCE_ERRORS:
                continue
            alive.append(k)
        if not alive:
            raise OutOfResourcesError(f"{self.op.name} on {self.backend.device}: every kernel ran out of "
                                      f"resources while being timed ({', '.join(k.name for k in ranked)})")
        times = {k.name: math.inf for k in alive}
        spent = 0.0
        for r in range(5):
            for k in alive:
                t = run(k)
                spent += t
                times[k.name] = min(times[k.name], t)
            _STATS["timed"] += len(alive) if r == 0 else 0
            best = min(times[k.name] for k in alive)
            alive = [k for k in alive if times[k.name] <= 3 * best]
            if len(alive) == 1 or (r >= 2 and spent > 0.25):   # three rounds suffice for slow calls
                break
        winner = min(alive, key=lambda k: times[k.name])
        return times, winner


def _fmt_s(t: float | None) -> str:
    if t is None:
        return "—"
    if math.isinf(t):
        return "inf"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t * 1e9:.3g} ns"


# ================================================================ explain


@dataclass
class Explanation:
    """What the dispatcher would do for one call: every candidate, the choice and the reason.

    ``rows`` holds one dict per candidate (``kernel``, ``plugin``, ``supported``,
    ``why_not``, ``estimate`` and ``measured`` in seconds, ``chosen``,
    ``deterministic``); ``str()`` prints them as a table. Under
    ``use_deterministic`` a call that would raise :class:`DeterminismError` is
    explained with choice ``"none"`` and the error's message as the reason.
    """

    signature: Signature
    level: str
    choice: str
    reason: str
    rows: list[dict] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"signature": str(self.signature), "op": self.signature.op, "device": self.signature.device,
                "level": self.level, "choice": self.choice, "reason": self.reason, "order": list(self.order),
                "candidates": [dict(r) for r in self.rows]}

    def __str__(self) -> str:
        head = ["kernel", "plugin", "supports", "estimate", "measured", ""]
        body = []
        for r in self.rows:
            sup = "yes" if r["supported"] else f"no: {r['why_not']}"
            body.append([r["kernel"], r["plugin"], sup, _fmt_s(r["estimate"]), _fmt_s(r["measured"]),
                         "← chosen" if r["chosen"] else ""])
        widths = [max(len(str(row[i])) for row in [head] + body) for i in range(len(head))]
        lines = [f"{self.signature}  [planning: {self.level}]",
                 "  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(),
                 "  ".join("-" * w for w in widths[:-1])]
        lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in body]
        lines.append(f"choice: {self.choice} — {self.reason}")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython
        p.text(str(self))


def _resolve(op: Any) -> Any:
    from .registry import get_op

    return get_op(op) if isinstance(op, str) else op


def choose(signature: Signature, *, profile: Any = None, level: str | None = None,
           backend: Any = None) -> Explanation:
    """Explain the decision for a :class:`Signature` without arrays (no timing: ``measure`` plans as
    ``estimate``). ``profile`` replaces the device's profile, e.g. a fixed fake one in tests.

    >>> e = choose(Signature.of("conv2d", [(8, 16, 32, 32), (16, 16, 3, 3)], params={"padding": 1}))
    >>> e.choice in {r["kernel"] for r in e.rows}
    True
    """
    from .device import get_backend

    b = get_backend(backend if backend is not None else signature.device)
    op = _resolve(signature.op)
    return _explain(op, b, signature, None, None, profile, level)


def explain(op: Any, *args: Any, profile: Any = None, level: str | None = None, **params: Any) -> Explanation:
    """Every candidate kernel for ``op(*args, **params)``: support, estimated and measured cost, choice.

    ``args`` are Tensors or backend arrays; the call is not run (with
    ``level="measure"`` the candidates are timed on them now, and the decision saved).

    >>> import xpgrad as xg
    >>> e = xg.dispatch.explain("matmul", xg.ones((4, 4)), xg.ones((4, 4)))
    >>> e.choice in xg.dispatch.kernels_of("matmul", "cpu")
    True
    """
    from .device import backend_of, default_backend, is_array
    from .tensor import Tensor

    op = _resolve(op)
    raw = tuple(a.data if isinstance(a, Tensor) else a for a in args)
    b = next((a._b for a in args if isinstance(a, Tensor)), None) or \
        next((backend_of(r) for r in raw if is_array(r)), None) or default_backend()
    sig = Signature.from_call(op, b.device, raw, params)
    return _explain(op, b, sig, raw, b.xp, profile, level)


def _explain(op: Any, b: Any, sig: Signature, raw: tuple | None, xp: Any, profile: Any,
             level: str | None) -> Explanation:
    level = level or get_level()
    d = _dispatcher(op, b)
    if d is None:   # one unconditional kernel, or none: nothing to choose
        fwd = op.kernels.get(b)
        k = next((k for k in candidates(op, b.family)), None) if fwd is not None else None
        name = k.name if k is not None else "generic"
        row = {"kernel": name, "plugin": (k.plugin or "xpgrad") if k is not None else "xpgrad",
               "version": k.version if k is not None else "1", "supported": True, "why_not": None,
               "estimate": None, "measured": None, "chosen": True,
               "deterministic": k.deterministic if k is not None else op_deterministic(op, b.family)}
        why = "the only kernel for this op on this device" if k is not None else \
            "no kernel registered for this op on this device: the op's generic Array API forward"
        return Explanation(sig, level, name, why, [row], [name])
    rows: list[dict] = []
    if (raw is None or _DET[0]) and level == "measure":
        level = "estimate"
    try:
        plan, reason = d.plan(sig, args=raw, xp=xp, profile=profile, level=level, rows=rows)
    except DeterminismError as exc:   # explain says what the call would raise, rather than raising
        return Explanation(sig, level, "none", f"DeterminismError: {exc}", rows, [])
    return Explanation(sig, level, plan[0].name, reason, rows, [k.name for k in plan])


def kernels_of(op: Any, device: Any = None) -> list[str]:
    """Names of the kernels ``op`` can run on ``device`` (default device if ``None``), generic included."""
    from .device import get_backend

    b = get_backend(device)
    return [k.name for k in candidates(_resolve(op), b.family)] + ["generic"]
