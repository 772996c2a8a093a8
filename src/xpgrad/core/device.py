"""Devices and the backends behind them.

A :class:`Backend` is one device's array library: an Array API namespace
(``xp``), the array types it produces, and how to move arrays to and from the
host. Backends register themselves here (the NumPy one on import, others
through plugins); ``core`` never imports an array library by name.

Arrays of any other Array API library (array-api-strict, PyTorch, CuPy, ...)
are accepted too: :func:`backend_of` wraps their namespace on first sight in a
:class:`ForeignBackend`, whose device string is ``"<library>:<device>"``
(``"array_api_strict:CPU_DEVICE"``, ``"torch:cpu"``, ``"torch:cuda:0"``). Such a
device is not listed by :func:`devices` and has no kernels of its own: every op
runs its pure Array API forward and derivative rules on the library's
namespace, which is how the tests prove those rules use nothing else. Host
copies go through DLPack, so they work wherever the library can export memory.
"""

from __future__ import annotations

from collections.abc import Callable
import re
from typing import Any

from .errors import DeviceError

__all__ = ["Backend", "ForeignBackend", "register_backend", "register_loader", "on_register", "backend_of",
           "get_backend", "devices", "default_backend", "is_array"]


_FLOATING = ("real floating", "complex floating")
# Half-precision floats outside the Array API standard (ml_dtypes' bfloat16 on NumPy): some namespaces'
# isdtype refuses them, so they are recognised by name. Both carry gradients (mixed precision).
_LOW_FLOATS = ("float16", "bfloat16")


def _dtype_name(d: Any) -> str | None:
    """The plain name of a dtype object, a dtype class or a dtype name (``None`` if it has none)."""
    if isinstance(d, str):
        return d
    name = getattr(d, "name", None)
    if not isinstance(name, str):
        name = getattr(d, "__name__", None)
    return name.rsplit(".", 1)[-1] if isinstance(name, str) else None


class Backend:
    """One device: its namespace, its array types and host transfers.

    ``Backend("cpu", xp, (numpy.ndarray,))`` is what the NumPy backend
    registers. Subclasses override :meth:`to_host` / :meth:`from_host` for
    devices whose memory is not the host's.
    """

    def __init__(self, device: str, xp: Any, array_types: tuple[type, ...], *,
                 native_device: Any = None, mutable: bool = True, base_xp: Any = None,
                 family: str | None = None, profile: Any = None) -> None:
        self.device = device
        self.family = family or device.split(":", 1)[0]  # "cpu", "opencl", "cuda", "fpga", ...
        self.profile = profile  # the device profile the cost model reads (see xpgrad.dispatch)
        self.xp = xp
        # The library namespace ``xp`` extends, if any: what array_api_compat reports for our arrays.
        self.base_xp = base_xp
        self.array_types = array_types
        self.native_device = native_device
        self.mutable = mutable  # arrays support __setitem__ / in-place operators
        self._dtype_cache: dict[Any, Any] = {}
        self._float_cache: dict[Any, bool] = {}
        self._complex_cache: dict[Any, bool] = {}

    def __repr__(self) -> str:
        return f"<Backend {self.device} xp={getattr(self.xp, '__name__', self.xp)}>"

    # -- arrays -----------------------------------------------------------
    def asarray(self, obj: Any, dtype: Any = None, copy: bool | None = None) -> Any:
        """A backend array from ``obj`` (nested lists, scalars, host arrays)."""
        if dtype is not None:
            dtype = self.dtype(dtype)
        kw: dict[str, Any] = {}
        if self.native_device is not None:
            kw["device"] = self.native_device
        if copy is not None:
            kw["copy"] = copy
        return self.wrap(self.xp.asarray(obj, dtype=dtype, **kw))

    def owns(self, x: Any) -> bool:
        """Whether array ``x`` lives on this device (for array types several devices share)."""
        return True

    def wrap(self, x: Any) -> Any:
        """Normalise what the namespace returned (e.g. NumPy scalars) to an array."""
        if type(x) in self.array_types:
            return x
        return self.xp.asarray(x)

    def to_host(self, x: Any) -> Any:
        """A host (NumPy-compatible) copy or view of ``x``."""
        return x

    def ones_like(self, x: Any) -> Any:
        return self.xp.ones_like(x)

    def copy(self, x: Any) -> Any:
        """A fresh array with ``x``'s values, sharing no memory with it."""
        return self.xp.asarray(x, copy=True)

    def adoptable(self, x: Any) -> bool:
        """Whether ``x`` owns its memory and is writeable, so a backward pass may keep it as a
        leaf's ``.grad`` without copying (it still copies an array it already gave to another leaf).
        Backends that cannot tell say ``False``: the engine then copies."""
        return False

    def from_host(self, x: Any) -> Any:
        return self.asarray(x)

    # -- for the dispatcher -------------------------------------------------
    def synchronize(self) -> None:
        """Wait until every kernel queued on this device has finished (timing needs it)."""

    def identity(self) -> str:
        """What decisions measured on this device depend on: the device, its driver, library versions.

        Saved dispatch wisdom and calibrations are keyed by it, so a new driver
        or library version plans afresh. Subclasses add what they know.
        """
        xp = self.xp
        name = getattr(xp, "__name__", type(xp).__name__)
        return f"{self.device} {name} {getattr(xp, '__version__', '')}".rstrip()

    # -- dtypes -----------------------------------------------------------
    def dtype(self, d: Any) -> Any:
        """This namespace's dtype for ``d`` (a dtype of any library, or its name)."""
        try:
            return self._dtype_cache[d]
        except (KeyError, TypeError):
            pass
        name = d if isinstance(d, str) else getattr(d, "name", None)
        if not isinstance(name, str):
            name = getattr(d, "__name__", None) or str(d)
        name = name.rsplit(".", 1)[-1]  # "array_api_strict.float64" -> "float64"
        name = {"bool_": "bool", "float": "float64", "int": "int64", "complex": "complex128"}.get(name, name)
        try:
            out = getattr(self.xp, name)
        except AttributeError:
            raise DeviceError(f"dtype {d!r} is not available on device {self.device!r}") from None
        try:
            self._dtype_cache[d] = out
        except TypeError:
            pass
        return out

    def is_complex(self, dtype: Any) -> bool:
        """True for complex floating dtypes (cached)."""
        try:
            return self._complex_cache[dtype]
        except KeyError:
            out = self._complex_cache[dtype] = self._isdtype(dtype, "complex floating")
            return out

    def is_floating(self, dtype: Any) -> bool:
        """True for real and complex floating dtypes: the ones that carry gradients."""
        try:
            return self._float_cache[dtype]
        except KeyError:
            out = self._float_cache[dtype] = self._isdtype(dtype, _FLOATING)
            return out

    def _isdtype(self, dtype: Any, kind: Any) -> bool:
        """``xp.isdtype``, knowing float16 and bfloat16 even where the namespace's check refuses them."""
        try:
            return bool(self.xp.isdtype(dtype, kind))
        except (TypeError, ValueError):   # e.g. array_api_compat.numpy on ml_dtypes' bfloat16
            if _dtype_name(dtype) in _LOW_FLOATS:
                return "real floating" in (kind if isinstance(kind, tuple) else (kind,))
            raise


_BY_DEVICE: dict[str, Backend] = {}
_BY_TYPE: dict[type, Backend] = {}
_FOREIGN: dict[tuple[int, str], ForeignBackend] = {}
_FOREIGN_BY_DEVICE: dict[str, ForeignBackend] = {}  # namespaces met through their arrays, not in devices()
_DEFAULT: list[Backend] = []
_SHARED: dict[type, list[Backend]] = {}
# Device prefixes whose backends load lazily (plugins register a loader here).
_LOADERS: dict[str, Callable[[], None]] = {}
# Called with every backend as it registers (kernels of its family get attached this way).
_ON_REGISTER: list[Callable[[Backend], None]] = []


def on_register(hook: Callable[[Backend], None]) -> None:
    """Call ``hook(backend)`` for every backend registered from now on, and for those already there."""
    _ON_REGISTER.append(hook)
    for b in list(_BY_DEVICE.values()):
        hook(b)


def register_loader(prefix: str, loader: Callable[[], str | None]) -> None:
    """Load the backends of device family ``prefix`` (``"opencl"``) on first use of one of its devices.

    ``loader()`` registers the family's backends; it may be called again and must then
    return at once. It raises :class:`DeviceError` when the family cannot be used here
    (its library is missing, no device works), and may return a note, such as the
    devices it found unusable and why, that errors about this family quote.
    """
    _LOADERS[prefix] = loader


def register_backend(backend: Backend, *, default: bool = False) -> Backend:
    """Make ``backend`` reachable by its device string and by its array types.

    Backends of a family that several devices share (``opencl:0``, ``opencl:1``)
    may share array types; an array then finds its backend through
    ``backend.owns(array)`` (see :func:`backend_of`).
    """
    _BY_DEVICE[backend.device] = backend
    for t in backend.array_types:
        _BY_TYPE.setdefault(t, backend)
        _SHARED.setdefault(t, []).append(backend)
    if default or not _DEFAULT:
        _DEFAULT[:] = [backend]
    for hook in _ON_REGISTER:
        hook(backend)
    return backend


def default_backend() -> Backend:
    if not _DEFAULT:
        raise DeviceError("no backend is registered; is the NumPy backend importable?")
    return _DEFAULT[0]


def devices() -> list[str]:
    """Every device string usable here, e.g. ``['cpu', 'opencl:0']``: loads every device family first."""
    for loader in list(_LOADERS.values()):
        try:
            loader()
        except DeviceError:  # a family that cannot be used here simply has no devices
            pass
    return list(_BY_DEVICE)


def get_backend(device: Any = None) -> Backend:
    """The backend for a device string (``"cpu"``, ``"opencl:0"``) or ``None`` (default)."""
    if device is None:
        return default_backend()
    if isinstance(device, Backend):
        return device
    key = str(device)
    try:
        return _BY_DEVICE[key]
    except KeyError:
        pass
    if key in _FOREIGN_BY_DEVICE:
        return _FOREIGN_BY_DEVICE[key]
    prefix = key.split(":", 1)[0]
    loader = _LOADERS.get(prefix)
    note = None
    if loader is not None:
        try:
            note = loader()
        except DeviceError as exc:  # the family's library is missing, or none of its devices works
            raise DeviceError(f"device {key!r} is not available: {exc}") from None
        if key in _BY_DEVICE:
            return _BY_DEVICE[key]
    family = [d for d, b in _BY_DEVICE.items() if b.family == prefix]
    if family or loader is not None:
        raise DeviceError(
            f"no device {key!r}: the {prefix!r} family has {len(family)} device(s) here: "
            f"{', '.join(family) or 'none'}" + (f" ({note})" if note else ""))
    families = sorted({b.family for b in _BY_DEVICE.values()} | set(_LOADERS))
    raise DeviceError(
        f"unknown device {key!r}: no device family {prefix!r} is installed; known families: "
        f"{', '.join(families) or 'none'}; devices available here: {', '.join(devices()) or 'none'}. "
        "Device strings look like 'cpu', 'opencl:0', 'cuda:0', 'fpga:0'; a plugin package may add others.")


class ForeignBackend(Backend):
    """The backend of an Array API library met through its arrays (array-api-strict, PyTorch, ...).

    Everything runs on the library's own namespace (as ``array_api_compat``
    wraps it); host transfers use DLPack, the one exchange protocol every
    compliant library implements, with ``numpy.asarray`` as the fallback.
    """

    def to_host(self, x: Any) -> Any:
        """A NumPy array with ``x``'s values: a zero-copy DLPack view when ``x`` is in host memory.

        For device memory it asks the exporter for a host copy (DLPack's ``dl_device``
        request, Array API 2023.12); an array DLPack cannot describe is copied by its
        library first; ``numpy.asarray`` comes last. A library that allows none of these
        gets a :class:`DeviceError` naming the device and each refusal.
        """
        import numpy as np

        errors = []
        for attempt in (lambda: np.from_dlpack(x), lambda: np.from_dlpack(x, device="cpu"),
                        # a fresh copy made by the library itself exports what a view cannot
                        # (PyTorch's lazily conjugated tensors, for one)
                        lambda: np.from_dlpack(self.xp.asarray(x, copy=True)),
                        lambda: np.asarray(x)):
            try:
                return attempt()
            except Exception as exc:  # BufferError, TypeError, RuntimeError...: each library differs
                errors.append(f"{type(exc).__name__}: {exc}")
        raise DeviceError(f"cannot copy an array on device {self.device!r} to the host: "
                          + "; ".join(errors))

    def from_host(self, x: Any) -> Any:
        """Host array ``x`` on this device: ``asarray``, or DLPack for libraries that refuse NumPy arrays."""
        try:
            return self.asarray(x)
        except (TypeError, ValueError):
            kw = {} if self.native_device is None else {"device": self.native_device}
            return self.wrap(self.xp.from_dlpack(x, **kw))


def is_array(x: Any) -> bool:
    """Whether ``x`` is an array of some Array API library (a Tensor counts; Python scalars and lists do not).

    True for objects with ``__array_namespace__`` and for the arrays
    ``array_api_compat`` adds a namespace to (PyTorch, CuPy, JAX, Dask, ...), which
    do not all define that method: code that looks for arrays among arguments must
    ask this, not ``hasattr(x, "__array_namespace__")``.

    >>> import numpy
    >>> is_array(numpy.ones(2)), is_array(numpy.float64(2.0)), is_array(2.0), is_array([1.0])
    (True, True, False, False)
    """
    if type(x) in _BY_TYPE or type(x) in _MET or hasattr(x, "__array_namespace__"):
        return True  # NumPy scalars count: they have a namespace, and 0-d reductions return them
    if isinstance(x, (bool, int, float, complex, str, list, tuple, dict)) or x is None:
        return False
    import array_api_compat

    return bool(array_api_compat.is_array_api_obj(x))


# Array types resolved through array_api_compat so far (foreign arrays, NumPy scalars)
# -> {device string of the array -> its backend}: later calls cost two dict lookups.
_MET: dict[type, dict[str, Backend]] = {}


def _device_key(x: Any) -> str:
    dev = getattr(x, "device", None)
    if dev is None or callable(dev):  # e.g. a library whose device is a method: ask array_api_compat
        import array_api_compat

        dev = array_api_compat.device(x)
    return str(dev)


def backend_of(x: Any) -> Backend:
    """The backend that owns array ``x``; arrays of unknown Array API libraries get one on first sight.

    >>> import array_api_strict
    >>> backend_of(array_api_strict.ones(2)).device
    'array_api_strict:CPU_DEVICE'
    """
    try:
        b = _BY_TYPE[type(x)]
    except KeyError:
        pass
    else:
        shared = _SHARED[type(x)]
        if len(shared) == 1:
            return b
        for c in shared:  # one array type, several devices: ask each
            if c.owns(x):
                return c
        return b
    by_dev = _MET.get(type(x))
    if by_dev is not None:
        b = by_dev.get(_device_key(x))
        if b is not None:
            return b
    import array_api_compat

    try:
        xp = array_api_compat.array_namespace(x)
    except TypeError:
        raise DeviceError(f"{type(x).__name__} is not an array of any Array API library") from None
    b = next((b for b in _BY_DEVICE.values() if b.xp is xp or b.base_xp is xp), None)
    if b is None:  # a library of its own, not a registered device's (a NumPy scalar is the cpu's)
        dev = array_api_compat.device(x)
        key = (id(xp), str(dev))
        b = _FOREIGN.get(key)
        if b is None:
            name = getattr(xp, "__name__", type(xp).__name__).split(".")[-1]
            m = re.search(r"\('?([^')]*)'?\)$", str(dev))  # "Device('CPU_DEVICE')" -> "CPU_DEVICE"
            b = _FOREIGN[key] = ForeignBackend(
                f"{name}:{m.group(1) if m else dev}", xp, (type(x),), native_device=dev,
                # JAX arrays cannot be written in place; the engine then never tries
                mutable=not array_api_compat.is_jax_array(x))
            _FOREIGN_BY_DEVICE[b.device] = b
    _MET.setdefault(type(x), {})[_device_key(x)] = b
    return b
