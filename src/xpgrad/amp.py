"""Mixed precision: :class:`autocast` runs chosen ops in float16 or bfloat16, :class:`GradScaler` keeps
their small gradients from vanishing.

Half-precision products halve the memory traffic of the large matrix
multiplications and convolutions that dominate training, and run on the fast
units of GPUs; the rest of the computation stays in float32, where half
precision would lose too much. Inside ``with autocast("float16"):``

* ops of the **low** list (``matmul``, ``linear``, ``affine``, ``conv2d``,
  ``conv_transpose2d``, ``tensordot``, ``vecdot``, ``einsum``) cast their
  float32 and float64 inputs to the low dtype and compute in it;
* ops of the **float32** list (exp, log, pow and friends, every reduction
  such as ``sum``, ``mean``, ``var``, ``softmax`` and ``logsumexp``, norms,
  linear-algebra decompositions, FFTs and every loss) cast float16/bfloat16
  inputs to float32 — normalisation layers are built from ``mean``, so they
  compute in float32 too;
* every other op runs on its inputs as they are; Array API type promotion
  widens a float16 operand meeting a float32 one to float32.

Parameters stay float32 ("master weights"): the casts are recorded ``astype``
ops, so gradients flow back through them and arrive in each parameter's own
dtype. Within one region a parameter used by several ops is converted once (the
converted array is cached, and dropped when the parameter is updated in place,
as an optimizer step does). The choice is made per op call by an
:class:`~xpgrad.core.tape.Observer` that steers (``steers = True``), so
gradient checkpointing recomputes a region in the precision it first ran in.

float16 has 11 significant bits and a largest value of 65 504: gradients of a
float16 network often fall below its smallest subnormal (6·10⁻⁸) and become
zero. :class:`GradScaler` multiplies the loss by a large factor before
``backward``, divides the gradients by it before the optimizer step, skips steps
whose gradients overflowed to inf or NaN and adapts the factor (dynamic loss
scaling). bfloat16 keeps float32's exponent range, so it rarely needs scaling.

Devices: ``cpu`` runs float16 and bfloat16 (bfloat16 from ``ml_dtypes``;
NumPy has no BLAS for either, so its matrix products are slow there, though
correct: products of half-precision numbers accumulate in float32). ``fpga``
devices run float16 (the systolic array's own ``arithmetic="bfloat16"``
setting is its bfloat16 mode); ``cuda`` devices run float16 through CuPy, which
has no bfloat16. The OpenCL backend has no half-precision kernels: autocast
there raises :class:`~xpgrad.DTypeError` naming the device and what to do.

>>> import xpgrad as xg
>>> w = xg.ones((3, 2), dtype=xg.float32, requires_grad=True)
>>> with xg.autocast("float16"):
...     y = xg.ones((4, 3), dtype=xg.float32) @ w      # low list: computed in float16
...     p = xg.softmax(y, axis=-1)       # float32 list
>>> str(y.dtype), str(p.dtype)
('float16', 'float32')
>>> p.sum().backward()
>>> str(w.grad.dtype)                    # the master weight's gradient is float32
'float32'
"""

from __future__ import annotations

import difflib
import functools
import math
import numbers
import threading
import weakref
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np

from .core.device import _dtype_name, backend_of, is_array
from .core.errors import DeviceError, DTypeError, OpError, RegistryError, describe
from .core.registry import ops as _registered_ops
from .core.tape import Observer, apply, mark_written, no_grad, observe, observers
from .core.tensor import Tensor

__all__ = ["autocast", "GradScaler", "register", "policy", "is_autocast_enabled", "get_autocast_dtype",
           "float16", "bfloat16", "LOW", "FLOAT32"]

#: The cpu namespace's half-precision dtypes (``autocast`` also accepts their names).
float16 = np.float16
bfloat16 = ml_dtypes.bfloat16

LOW = "low"
FLOAT32 = "float32"
_KINDS = (LOW, FLOAT32)

# Matrix products and convolutions: the ops half precision speeds up, and whose float32
# accumulation (on every backend here) keeps them accurate.
_LOW_OPS = ("matmul", "linear", "affine", "conv2d", "conv_transpose2d", "tensordot", "vecdot", "einsum")
# Ops whose results half precision would spoil: exponentials, logarithms and powers (range),
# reductions and scans (sums of many terms), norms, decompositions, FFTs and every loss.
_FLOAT32_OPS = (
    "exp", "expm1", "log", "log1p", "log2", "log10", "pow", "reciprocal", "logaddexp",
    "acos", "asin", "acosh", "atanh", "cosh", "sinh", "tan", "softplus",
    "softmax", "log_softmax", "logsumexp",
    "sum", "mean", "var", "std", "prod", "cumulative_sum", "cumulative_prod", "trace",
    "vector_norm", "matrix_norm",
    "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "kl_div", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "cross_entropy", "cross_entropy_probs", "nll_loss",
    "cholesky", "det", "slogdet", "inv", "pinv", "solve", "solve_triangular", "eig", "eigh", "eigvals",
    "eigvalsh", "qr", "svd", "svdvals", "lu", "matrix_exp", "matrix_log", "matrix_sqrt", "matrix_power",
    "matrix_rank",
)
_FFT_PREFIX = "fft."

_POLICY: dict[str, str] = {}
_POLICY_LOCK = threading.Lock()


def _defaults() -> None:
    known = _registered_ops()
    for name in _LOW_OPS:
        if name in known:
            _POLICY[name] = LOW
    for name in _FLOAT32_OPS:
        if name in known:
            _POLICY[name] = FLOAT32
    for name in known:
        if name.startswith(_FFT_PREFIX):
            _POLICY[name] = FLOAT32


_defaults()


def register(op_name: str, kind: str | None) -> None:
    """Put op ``op_name`` on autocast's ``"low"`` list, its ``"float32"`` list, or (``None``) neither.

    Plugins call this for their own ops: a fused attention kernel belongs on the
    low list, a custom loss on the float32 list. The op must be registered.

    >>> import xpgrad as xg
    >>> register("outer", "low")
    >>> with xg.autocast("float16"):
    ...     str(xg.linalg.outer(xg.ones(2), xg.ones(3)).dtype)
    'float16'
    >>> register("outer", None)          # back to running on its inputs as they are
    >>> policy("outer") is None
    True
    """
    if not isinstance(op_name, str):
        raise RegistryError(f"amp.register: op_name must be an op's name (a str), got {op_name!r}")
    if kind is not None and kind not in _KINDS:
        raise RegistryError(f"amp.register({op_name!r}, {kind!r}): kind must be 'low', 'float32' or None")
    known = _registered_ops()
    if op_name not in known:
        near = difflib.get_close_matches(op_name, list(known), n=3)
        hint = f"; did you mean {', '.join(map(repr, near))}?" if near else ""
        raise RegistryError(f"amp.register: no op named {op_name!r} is registered{hint} (define the op "
                            "before registering its autocast policy)")
    with _POLICY_LOCK:
        if kind is None:
            _POLICY.pop(op_name, None)
        else:
            _POLICY[op_name] = kind


def policy(op_name: str) -> str | None:
    """What autocast does with op ``op_name``: ``"low"``, ``"float32"`` or ``None`` (runs as given).

    >>> policy("matmul"), policy("softmax"), policy("relu")
    ('low', 'float32', None)
    """
    return _POLICY.get(op_name)


# ---------------------------------------------------------------------------- dtypes

_NAMES = {"float16": "float16", "half": "float16", "bfloat16": "bfloat16"}


def _low_name(dtype: Any) -> str:
    """``"float16"`` or ``"bfloat16"`` for what autocast was given, or a DTypeError."""
    name = _dtype_name(dtype)
    if name is None:   # a dtype object without a name (torch.float16): its printed name
        name = str(dtype).rsplit(".", 1)[-1]
    if name in _NAMES:
        return _NAMES[name]
    if name in ("float32", "float64", "float", "double"):
        raise DTypeError(
            f"autocast(dtype={dtype!r}): autocast runs the low list in a precision below float32; pass "
            "'float16' or 'bfloat16'. To compute in float32 or float64 throughout, leave autocast out (or "
            "pass enabled=False) and keep the model in that dtype")
    raise DTypeError(f"autocast(dtype={dtype!r}): unknown dtype; autocast takes 'float16' (or 'half', "
                     "xpgrad.float16) or 'bfloat16' (or xpgrad.amp.bfloat16)")


# What each dtype object is: "float16", "bfloat16", "wide" (other real floating: float32, float64) or
# None (integers, bool, complex: never cast).
_CLASS: dict[Any, str | None] = {}


def _class_of(b: Any, dtype: Any) -> str | None:
    try:
        return _CLASS[dtype]
    except KeyError:
        pass
    except TypeError:   # an unhashable dtype object
        return _classify(b, dtype)
    out = _CLASS[dtype] = _classify(b, dtype)
    return out


def _classify(b: Any, dtype: Any) -> str | None:
    name = _dtype_name(dtype)
    if name in ("float16", "bfloat16"):
        return name
    try:
        real = b.is_floating(dtype) and not b.is_complex(dtype)
    except (TypeError, ValueError):
        return None
    return "wide" if real else None


# Per (backend, "float16"/"bfloat16"): the backend's dtype object, or the DTypeError to raise.
_SUPPORT: dict[tuple[Any, str], Any] = {}
_SUPPORT_LOCK = threading.Lock()

_HINTS = {
    "opencl": "the OpenCL backend has no half-precision kernels (its element-wise, reduction, matmul and "
              "convolution kernels are generated for float, double and the integer types only)",
    "cuda": "CuPy has no bfloat16 dtype; use autocast('float16') on CUDA devices",
    "fpga": "the fpga namespace holds float16 but not bfloat16 arrays; use autocast('float16'), or set the "
            "systolic array's own bfloat16 arithmetic (xpgrad.backends.fpga.configure(arithmetic='bfloat16') "
            "or XPGRAD_FPGA_CONFIG='arithmetic=bfloat16') on float32 data",
}


def _low_dtype(b: Any, name: str) -> Any:
    """Backend ``b``'s dtype object for ``name``, checked once per backend: it must hold arrays of it."""
    key = (b, name)
    got = _SUPPORT.get(key)
    if got is None:
        got = _probe(b, name)
        with _SUPPORT_LOCK:
            _SUPPORT[key] = got
    if isinstance(got, DTypeError):
        raise DTypeError(str(got))
    return got


def _probe(b: Any, name: str) -> Any:
    why = ""
    if b.family == "opencl":   # no half-precision kernels, whatever the device reports
        why = _HINTS["opencl"] + _opencl_fp16_note(b)
    else:
        try:
            dt = b.dtype(name)
            b.asarray([0.0], dtype=dt)   # the device must hold one (made as xpgrad.asarray makes it)
            return dt
        except (DeviceError, DTypeError, TypeError, ValueError, AttributeError) as exc:
            why = _HINTS.get(b.family) if name == "bfloat16" and b.family in _HINTS else str(exc)
    return DTypeError(
        f"autocast(dtype={name!r}) cannot run on device {b.device!r}: {why}. Run this region without "
        f"autocast (autocast(enabled=False), float32 throughout), or on a device that has {name} "
        f"(cpu has float16 and bfloat16{', cuda float16' if name == 'float16' else ''})")


def _opencl_fp16_note(b: Any) -> str:
    try:
        ext = b.cl_device.cl_device.extensions
    except AttributeError:
        return ""
    has = "cl_khr_fp16" in ext.split()
    return f"; {b.device} {'reports' if has else 'does not report'} the cl_khr_fp16 extension"


# ---------------------------------------------------------------------------- autocast

_ASTYPE: list = []


def _astype_op() -> Any:
    if not _ASTYPE:
        _ASTYPE.append(_registered_ops()["astype"])
    return _ASTYPE[0]


class _Region:
    """One outermost autocast region on one thread: its cache of converted leaf tensors."""

    __slots__ = ("cache", "live")

    def __init__(self) -> None:
        self.cache: dict[tuple[int, str], tuple] = {}
        self.live = True

    def close(self) -> None:
        self.live = False
        self.cache.clear()


class _Caster(Observer):
    """The observer one ``autocast`` block installs: casts the inputs of listed ops.

    Its settings are its own (not read from thread state), so checkpointing can
    reinstall it during backward and recompute exactly what the forward did.
    Only the innermost autocast observer of a thread acts.
    """

    steers = True

    def __init__(self, name: str, enabled: bool, region: _Region | None) -> None:
        self.name = name
        self.enabled = enabled
        self.region = region

    def __repr__(self) -> str:
        return f"<autocast observer {self.name}{'' if self.enabled else ' (disabled)'}>"

    def before(self, op: Any, args: tuple, params: dict) -> tuple | None:
        kind = _POLICY.get(op.name)      # most ops are on neither list: one dict lookup
        if kind is None or not self.enabled:
            return None
        for o in reversed(observers()):   # an inner autocast (enabled or not) decides instead
            if type(o) is _Caster:
                if o is not self:
                    return None
                break
        out = None
        for i, a in enumerate(args):
            c = self._cast(a, kind)
            if c is not a:
                if out is None:
                    out = list(args)
                out[i] = c
        return None if out is None else tuple(out)

    def _cast(self, a: Any, kind: str) -> Any:
        if isinstance(a, Tensor):
            b = a._b
            dtype = a.data.dtype
        elif a is None or isinstance(a, (bool, int, float, complex, str)) or not is_array(a):
            return a
        else:
            b = backend_of(a)
            dtype = a.dtype
        cls = _class_of(b, dtype)
        if cls is None:
            return a
        if kind == LOW:
            if cls == self.name:
                return a
            return self._to_low(a, b, _low_dtype(b, self.name))
        if cls == "wide":
            return a
        return _astype_op()(a, dtype=b.dtype("float32"))

    def _to_low(self, a: Any, b: Any, dt: Any) -> Any:
        region = self.region
        leaf = isinstance(a, Tensor) and a._edge is not None and a.is_leaf
        if region is None or not region.live or not leaf:
            return _astype_op()(a, dtype=dt)
        key = (id(a), self.name)
        version = a._vc[0] if a._vc is not None else 0
        hit = region.cache.get(key)
        if hit is not None:
            ref, src, ver, low = hit
            if ref() is a and src is a.data and ver == version:
                # a fresh node per use (each graph frees its own), the converted array shared
                return apply(_astype_op(), (a,), {"dtype": dt}, lambda xp, x, **p: low, True)
        out = _astype_op()(a, dtype=dt)
        cache = region.cache
        ref = weakref.ref(a, lambda _r, cache=cache, key=key: cache.pop(key, None))
        cache[key] = (ref, a.data, version, out.data)
        return out


class _Local(threading.local):
    def __init__(self) -> None:
        self.stack: list = []   # (autocast, observe context, observer, region) per open block


_LOCAL = _Local()


class autocast:
    """Run the ops of the low list in ``dtype`` and those of the float32 list in float32.

    A context manager and a decorator; it applies to the thread that enters it
    and nests: an inner ``autocast(enabled=False)`` turns casting off for its
    block, an inner ``autocast("bfloat16")`` changes the dtype. Backward needs no
    autocast: each op's gradient runs in the dtype its forward ran in, and
    reaches every parameter in the parameter's dtype. ``cache_enabled=False``
    converts parameters afresh at every use.

    >>> import xpgrad as xg
    >>> x, w = xg.ones((2, 3), dtype=xg.float32), xg.ones((4, 3), dtype=xg.float32)
    >>> with autocast("bfloat16"):
    ...     a = xg.nn.functional.linear(x, w)
    ...     with autocast(enabled=False):
    ...         b = xg.nn.functional.linear(x, w)
    >>> str(a.dtype), str(b.dtype)
    ('bfloat16', 'float32')
    >>> @autocast("float16")
    ... def forward(x, w):
    ...     return x @ w.mT
    >>> str(forward(x, w).dtype)
    'float16'
    """

    def __init__(self, dtype: Any = "float16", enabled: bool = True, cache_enabled: bool = True) -> None:
        if not isinstance(enabled, bool):
            raise OpError(f"autocast(enabled={enabled!r}): enabled must be True or False")
        if not isinstance(cache_enabled, bool):
            raise OpError(f"autocast(cache_enabled={cache_enabled!r}): cache_enabled must be True or False")
        self.dtype = _low_name(dtype)
        self.enabled = enabled
        self.cache_enabled = cache_enabled

    def __repr__(self) -> str:
        return f"autocast({self.dtype!r}, enabled={self.enabled})"

    def __enter__(self) -> "autocast":
        stack = _LOCAL.stack
        region = stack[0][3] if stack else _Region()
        caster = _Caster(self.dtype, self.enabled, region if self.cache_enabled else None)
        ctx = observe(caster)
        ctx.__enter__()
        stack.append((self, ctx, caster, region))
        return self

    def __exit__(self, *exc: Any) -> None:
        stack = _LOCAL.stack
        i = max(j for j, entry in enumerate(stack) if entry[0] is self)
        _, ctx, _, region = stack.pop(i)
        ctx.__exit__(*exc)
        if not stack:
            region.close()

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)
        return wrapper


def _innermost() -> _Caster | None:
    for o in reversed(observers()):
        if type(o) is _Caster:
            return o
    return None


def is_autocast_enabled() -> bool:
    """Whether ops called on this thread now are cast (the innermost ``autocast`` is enabled).

    Also true while checkpointing recomputes a region that ran under autocast.
    Layers that check their operands' dtypes ask this: under autocast a float16
    activation meets a float32 weight by design.

    >>> with autocast("float16"):
    ...     is_autocast_enabled()
    True
    >>> is_autocast_enabled()
    False
    """
    o = _innermost()
    return o is not None and o.enabled


def get_autocast_dtype() -> str | None:
    """The dtype name the innermost enabled ``autocast`` of this thread casts to, or ``None``.

    >>> with autocast("bfloat16"):
    ...     get_autocast_dtype()
    'bfloat16'
    """
    o = _innermost()
    return o.name if o is not None and o.enabled else None


# ---------------------------------------------------------------------------- GradScaler

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"
_STATE_KEYS = ("scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker")


class _OptState:
    __slots__ = ("stage", "flags", "found")

    def __init__(self) -> None:
        self.stage = _READY
        self.flags: dict = {}      # backend -> 0-d device array: every gradient there is finite
        self.found: bool | None = None


def _number(fn: str, name: str, value: Any) -> float:
    if isinstance(value, Tensor):
        if value.size != 1:
            raise OpError(f"{fn}: {name} must be a number, got a tensor {describe(value)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise OpError(f"{fn}: {name} must be a number, got {value!r}")
    return float(value)


class GradScaler:
    """Dynamic loss scaling: scale the loss up for backward, the gradients down before the step.

    Each step: ``scaler.scale(loss).backward()``, then ``scaler.step(optimizer)``
    (which unscales the gradients, unless :meth:`unscale_` already did, and skips
    the update when any gradient is inf or NaN), then ``scaler.update()``: the
    scale is multiplied by ``backoff_factor`` after a skipped step, and by
    ``growth_factor`` after ``growth_interval`` steps in a row without one. To clip
    or inspect gradients, call :meth:`unscale_` first. ``enabled=False`` makes
    every method a pass-through, so one training loop serves both precisions.

    The overflow check costs one reduction per parameter on its device and one
    host read per device per step (in :meth:`step`).

    >>> import xpgrad as xg
    >>> w = xg.asarray([1.0, 2.0], requires_grad=True)
    >>> opt = xg.optim.SGD([w], lr=0.5)
    >>> scaler = GradScaler(init_scale=1024.0, growth_interval=1)
    >>> scaler.scale((w * w).sum()).backward()
    >>> w.grad.tolist()                  # scaled gradients
    [2048.0, 4096.0]
    >>> scaler.step(opt)                 # unscales to [2, 4], then steps
    >>> w.tolist()
    [0.0, 0.0]
    >>> scaler.update(); scaler.get_scale()
    2048.0
    """

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        if not isinstance(enabled, bool):
            raise OpError(f"GradScaler(enabled={enabled!r}): enabled must be True or False")
        self._enabled = enabled
        self._scale = self._check_scale("GradScaler", init_scale, "init_scale")
        self._growth_factor = self._check_growth(growth_factor)
        self._backoff_factor = self._check_backoff(backoff_factor)
        self._growth_interval = self._check_interval(growth_interval)
        self._growth_tracker = 0
        self._per_opt: dict[int, tuple[Any, _OptState]] = {}

    # -- checks ---------------------------------------------------------------
    @staticmethod
    def _check_scale(fn: str, value: Any, name: str = "scale") -> float:
        v = _number(fn, name, value)
        if not (v > 0 and math.isfinite(v)):
            raise OpError(f"{fn}: {name}={value!r} must be a finite number > 0")
        return v

    @staticmethod
    def _check_growth(value: Any, fn: str = "GradScaler") -> float:
        v = _number(fn, "growth_factor", value)
        if not (v > 1 and math.isfinite(v)):
            raise OpError(f"{fn}: growth_factor={value!r} must be a finite number > 1")
        return v

    @staticmethod
    def _check_backoff(value: Any, fn: str = "GradScaler") -> float:
        v = _number(fn, "backoff_factor", value)
        if not 0 < v < 1:
            raise OpError(f"{fn}: backoff_factor={value!r} must be a number in (0, 1)")
        return v

    @staticmethod
    def _check_interval(value: Any, fn: str = "GradScaler") -> int:
        if isinstance(value, Tensor):
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != int(value) or value < 1:
            raise OpError(f"{fn}: growth_interval={value!r} must be a whole number >= 1")
        return int(value)

    def _state(self, optimizer: Any, fn: str) -> _OptState:
        if not hasattr(optimizer, "param_groups") or not callable(getattr(optimizer, "step", None)):
            raise OpError(f"GradScaler.{fn} expects an xpgrad optimizer (with param_groups and step()), got "
                          f"{type(optimizer).__name__}")
        got = self._per_opt.get(id(optimizer))
        if got is None or got[0]() is not optimizer:
            st = _OptState()
            self._per_opt[id(optimizer)] = (weakref.ref(optimizer), st)
            return st
        return got[1]

    # -- the step ----------------------------------------------------------------
    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a Tensor, or lists, tuples and dicts of them) multiplied by the current scale.

        >>> import xpgrad as xg
        >>> GradScaler(init_scale=8.0).scale(xg.asarray(0.5)).item()
        4.0
        """
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        if isinstance(outputs, dict):
            return {k: self.scale(v) for k, v in outputs.items()}
        raise DTypeError(f"GradScaler.scale takes a Tensor (the loss) or lists, tuples or dicts of Tensors, "
                         f"got {type(outputs).__name__}")

    def unscale_(self, optimizer: Any) -> None:
        """Divide the gradients of ``optimizer``'s parameters by the scale, in place, and note overflows.

        Call it once per step, after ``backward`` and before ``step``, when the
        gradients must be seen unscaled (``optim.clip_grad_norm_``).

        >>> import xpgrad as xg
        >>> w = xg.asarray([1.0], requires_grad=True)
        >>> opt, scaler = xg.optim.SGD([w], lr=0.1), GradScaler(init_scale=4.0)
        >>> scaler.scale(3.0 * w.sum()).backward()
        >>> scaler.unscale_(opt); w.grad.tolist()
        [3.0]
        """
        if not self._enabled:
            return
        st = self._state(optimizer, "unscale_")
        if st.stage == _UNSCALED:
            raise OpError("GradScaler.unscale_() was already called on this optimizer since the last "
                          "update(); call it once per step, between backward() and step()")
        if st.stage == _STEPPED:
            raise OpError("GradScaler.unscale_() after step(): the step already unscaled the gradients; call "
                          "scaler.update() to finish the step first")
        inv = 1.0 / self._scale
        flags: dict = {}
        with no_grad():
            for gi, group in enumerate(optimizer.param_groups):
                for pi, p in enumerate(group["params"]):
                    g = p.grad
                    if g is None:
                        continue
                    b = g._b
                    if _class_of(b, g.dtype) in ("float16", "bfloat16"):
                        raise DTypeError(
                            f"GradScaler.unscale_: parameter {pi} of group {gi} has a {g.dtype} gradient "
                            f"({describe(p)}); keep parameters (master weights) in float32 and let autocast "
                            "cast them for the low-precision ops: unscaling in half precision loses the "
                            "small gradients loss scaling exists to keep")
                    d = _unscale(p, g, inv)
                    xp = b.xp
                    ok = xp.all(xp.isfinite(d))     # one reduction per parameter, on its device
                    prev = flags.get(b)
                    flags[b] = ok if prev is None else xp.logical_and(prev, ok)
        st.flags = flags
        st.found = None
        st.stage = _UNSCALED

    def _found_inf(self, st: _OptState) -> bool:
        if st.found is None:   # one host read per device
            st.found = not all(bool(b.to_host(v)) for b, v in st.flags.items())
        return st.found

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """Unscale (unless done), then run ``optimizer.step()`` unless a gradient is inf or NaN.

        Returns what ``optimizer.step`` returns, or ``None`` when the step was skipped.

        >>> import xpgrad as xg
        >>> w = xg.asarray([1.0], requires_grad=True)
        >>> opt, scaler = xg.optim.SGD([w], lr=0.1), GradScaler()
        >>> w.grad = xg.asarray([float("inf")])
        >>> scaler.step(opt); w.tolist()     # skipped: the parameter is unchanged
        [1.0]
        """
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if args or "closure" in kwargs:
            raise OpError("GradScaler.step does not take a closure: the closure's backward would run on an "
                          "unscaled loss; compute the loss, call scaler.scale(loss).backward(), then step")
        st = self._state(optimizer, "step")
        if st.stage == _STEPPED:
            raise OpError("GradScaler.step() was already called for this optimizer since the last update(); "
                          "call scaler.update() once after the step(s) of each iteration")
        if st.stage == _READY:
            self.unscale_(optimizer)
        if not st.flags:
            raise OpError("GradScaler.step: no parameter of this optimizer has a gradient; call "
                          "scaler.scale(loss).backward() before scaler.step(optimizer)")
        skip = self._found_inf(st)
        st.stage = _STEPPED
        if skip:
            return None
        return optimizer.step(**kwargs)

    def update(self, new_scale: float | None = None) -> None:
        """Adapt the scale after this iteration's step(s), or set it to ``new_scale``.

        >>> s = GradScaler(init_scale=4.0)
        >>> s.update(new_scale=2.0); s.get_scale()
        2.0
        """
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = self._check_scale("GradScaler.update", new_scale, "new_scale")
        else:
            seen = [st for _, st in self._per_opt.values() if st.stage != _READY]
            if not seen:
                raise OpError("GradScaler.update(): no optimizer was stepped (or unscaled) since the last "
                              "update(); call scaler.step(optimizer) first")
            if any([self._found_inf(st) for st in seen]):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker >= self._growth_interval:
                    grown = self._scale * self._growth_factor
                    if math.isfinite(grown):
                        self._scale = grown
                    self._growth_tracker = 0
        self._per_opt.clear()

    # -- inspection and settings -----------------------------------------------------
    def get_scale(self) -> float:
        """The current scale (1.0 when disabled).

        >>> GradScaler().get_scale()
        65536.0
        """
        return self._scale if self._enabled else 1.0

    def is_enabled(self) -> bool:
        """Whether scaling is on.

        >>> GradScaler(enabled=False).is_enabled()
        False
        """
        return self._enabled

    def get_growth_factor(self) -> float:
        """The factor the scale grows by after ``growth_interval`` clean steps.

        >>> GradScaler().get_growth_factor()
        2.0
        """
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        """Set the growth factor (a number > 1).

        >>> s = GradScaler(); s.set_growth_factor(4.0); s.get_growth_factor()
        4.0
        """
        self._growth_factor = self._check_growth(new_factor, "GradScaler.set_growth_factor")

    def get_backoff_factor(self) -> float:
        """The factor the scale shrinks by after a skipped step.

        >>> GradScaler().get_backoff_factor()
        0.5
        """
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        """Set the back-off factor (a number in (0, 1)).

        >>> s = GradScaler(); s.set_backoff_factor(0.25); s.get_backoff_factor()
        0.25
        """
        self._backoff_factor = self._check_backoff(new_factor, "GradScaler.set_backoff_factor")

    def get_growth_interval(self) -> int:
        """How many clean steps in a row make the scale grow.

        >>> GradScaler().get_growth_interval()
        2000
        """
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        """Set the growth interval (a whole number >= 1).

        >>> s = GradScaler(); s.set_growth_interval(100); s.get_growth_interval()
        100
        """
        self._growth_interval = self._check_interval(new_interval, "GradScaler.set_growth_interval")

    def state_dict(self) -> dict[str, Any]:
        """The scale, the factors, the interval and the count of clean steps, as plain numbers
        (``{}`` when disabled), ready for :func:`xpgrad.save`.

        >>> GradScaler(init_scale=8.0).state_dict()["scale"]
        8.0
        """
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; nothing changes if anything is missing or invalid.

        >>> a = GradScaler(init_scale=8.0); b = GradScaler()
        >>> b.load_state_dict(a.state_dict()); b.get_scale()
        8.0
        """
        fn = "GradScaler.load_state_dict"
        if not isinstance(state_dict, dict):
            raise OpError(f"{fn} expects the dict state_dict() returns, got {type(state_dict).__name__}")
        if not state_dict:
            raise OpError(f"{fn}: the state dict is empty, as a disabled GradScaler's is; there is no scale "
                          "to load")
        missing = [k for k in _STATE_KEYS if k not in state_dict]
        unknown = sorted(str(k) for k in state_dict if k not in _STATE_KEYS)
        if missing or unknown:
            raise OpError(f"{fn}: the state dict has {sorted(map(str, state_dict))}; a GradScaler's has "
                          f"{list(_STATE_KEYS)} (missing {missing}, unknown {unknown})")
        scale = self._check_scale(fn, state_dict["scale"])
        growth = self._check_growth(state_dict["growth_factor"], fn)
        backoff = self._check_backoff(state_dict["backoff_factor"], fn)
        interval = self._check_interval(state_dict["growth_interval"], fn)
        tracker = state_dict["_growth_tracker"]
        if isinstance(tracker, Tensor):
            tracker = tracker.item()
        if isinstance(tracker, bool) or not isinstance(tracker, numbers.Real) or tracker != int(tracker) \
                or tracker < 0:
            raise OpError(f"{fn}: _growth_tracker={tracker!r} must be a whole number >= 0")
        self._scale, self._growth_factor, self._backoff_factor = scale, growth, backoff
        self._growth_interval, self._growth_tracker = interval, int(tracker)

    def __repr__(self) -> str:
        if not self._enabled:
            return "GradScaler(enabled=False)"
        return (f"GradScaler(scale={self._scale}, growth_factor={self._growth_factor}, "
                f"backoff_factor={self._backoff_factor}, growth_interval={self._growth_interval})")


def _unscale(p: Tensor, g: Tensor, inv: float) -> Any:
    """``p.grad ← p.grad · inv``, in place when the buffer allows it; returns the new raw array."""
    d = g.data
    if g._edge is None:     # a gradient recorded with create_graph is replaced, never written into
        try:
            d *= inv
        except (TypeError, ValueError):   # read-only or immutable buffers, dtypes that refuse in place
            pass
        else:
            g.data = d      # for namespaces whose in-place operators return a new array
            mark_written(g)
            return d
    b = g._b
    new = d * inv
    if new.dtype != d.dtype:
        new = b.xp.astype(new, d.dtype)
    p.grad = Tensor._make(b.wrap(new), b)
    return p.grad.data
