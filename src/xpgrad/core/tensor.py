"""``Tensor``: one backend array plus what autodiff needs to know about it.

A Tensor holds

* ``data``   the backend array (NumPy, pyopencl, CuPy, array-api-strict, ...),
* ``_b``     its :class:`~xpgrad.core.device.Backend` (namespace + device),
* ``_edge``  ``(node, output_index)`` into the reverse-mode graph, or ``None``
             when nothing upstream requires a gradient,
* ``_tan``   ``{level: tangent Tensor}`` for forward mode, or ``None``,
* ``_vc``    ``[epoch of last in-place write, shared-with-views flag]``, the
             version counter that catches in-place writes to saved values.

Python operators and Array API methods are attached by ``xpgrad.ops.methods``
(a table from dunder to op), so this file names no op.
"""

from __future__ import annotations

import weakref
from typing import Any

from .device import Backend, backend_of, get_backend, is_array
from .errors import BackwardError, NotDifferentiableError

__all__ = ["Tensor", "Leaf", "namespace", "unwrap", "API_VERSIONS"]

# The standard versions ``__array_namespace__(api_version=...)`` accepts; ``xpgrad.__array_api_version__``
# declares the newest complete one (2024.12).
API_VERSIONS = ("2023.12", "2024.12", "2025.12")

# The ``xpgrad`` module, set by ``xpgrad/__init__``; rules get it as ``xp`` in Tensor mode.
_NAMESPACE: list[Any] = [None]


def namespace() -> Any:
    return _NAMESPACE[0]


class Leaf:
    """The graph node of a leaf tensor that requires grad: where its gradient accumulates."""

    __slots__ = ("tensor", "hooks", "__weakref__")
    n_out = 1
    edges = ()
    op = None

    def __init__(self, tensor: "Tensor") -> None:
        self.tensor = weakref.ref(tensor)
        self.hooks: list | None = None

    def __repr__(self) -> str:
        return "<Leaf>"


class Tensor:
    """An Array API array that records what is needed to differentiate through it.

    >>> import xpgrad as xg
    >>> x = xg.asarray([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0, 6.0]
    """

    __slots__ = ("data", "_b", "_edge", "_tan", "_vc", "grad", "__weakref__")
    __array_priority__ = 1000  # NumPy defers mixed operators to us

    def __init__(self, data: Any, *, device: Any = None, dtype: Any = None,
                 requires_grad: bool = False) -> None:
        if isinstance(data, Tensor):
            b = data._b if device is None else get_backend(device)
            raw = data.data if b is data._b else b.from_host(data._b.to_host(data.data))
            if dtype is not None:
                raw = b.xp.astype(raw, b.dtype(dtype))
        else:
            b = _backend_for(data, device)
            raw = b.asarray(data, dtype=dtype) if not _owned(b, data) or dtype is not None else data
        self.data = raw
        self._b = b
        self._edge = None
        self._tan = None
        self._vc = None
        self.grad = None
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _make(cls, data: Any, b: Backend, edge: Any = None) -> "Tensor":
        t = object.__new__(cls)
        t.data = data
        t._b = b
        t._edge = edge
        t._tan = None
        t._vc = None
        t.grad = None
        return t

    def _alias(self, edge: Any, tan: Any) -> "Tensor":
        """Another Tensor object for the same data (and version counter), with this edge and these tangents.

        How the engine makes snapshots, strips or attaches forward-mode levels,
        and cuts results loose from a graph.
        """
        t = Tensor._make(self.data, self._b, edge)
        t._tan = tan
        t._vc = self._vc
        return t

    # -- autodiff state ----------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor (a leaf that asked for them, or a result of one)."""
        return self._edge is not None

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if not self.is_leaf:
            if value:
                return
            raise NotDifferentiableError(
                "requires_grad can only be changed on leaf tensors; use .detach() to cut a result "
                "out of the graph")
        if value:
            if self._edge is None:
                if not self._b.is_floating(self.data.dtype):
                    raise NotDifferentiableError(
                        f"only floating-point tensors can require gradients, got dtype "
                        f"{self.data.dtype}; convert with xpgrad.astype(x, xpgrad.float64) first")
                self._edge = (Leaf(self), 0)
        else:
            self._edge = None

    @property
    def is_leaf(self) -> bool:
        """True unless this tensor is the recorded result of an op."""
        return self._edge is None or type(self._edge[0]) is Leaf

    @property
    def grad_fn(self) -> Any:
        """The graph node that produced this tensor (``None`` for leaves)."""
        e = self._edge
        return None if e is None or type(e[0]) is Leaf else e[0]

    def detach(self) -> "Tensor":
        """The same data, cut out of every graph and every forward-mode level."""
        t = Tensor._make(self.data, self._b)
        t._vc = self._share_vc()
        return t

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    def register_hook(self, hook: Any) -> "_HookHandle":
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces it.

        ``grad`` is the whole gradient of this tensor (every use summed). The
        replacement must have the gradient's shape, dtype and device (anything
        else raises :class:`~xpgrad.BackwardError` naming the tensor); it is what
        flows on to the ops upstream and into the leaves' ``.grad``. Hooks run in
        the order they were registered, each on the previous one's result; under
        ``create_graph=True`` they run on recorded tensors, so what they compute is
        differentiated too. Returns a handle whose ``remove()`` unregisters the hook.

        >>> import xpgrad as xg
        >>> x = xg.asarray([1.0, -3.0], requires_grad=True)
        >>> y = x * 2.0
        >>> h = y.register_hook(lambda g: xg.clip(g, -1.0, 1.0))   # clip what reaches x
        >>> (y * y).sum().backward()                  # dL/dy = 2y = [4, -12], clipped to [1, -1]
        >>> x.grad.tolist()
        [2.0, -2.0]
        >>> h.remove()
        """
        if not callable(hook):
            raise TypeError(f"register_hook needs a callable hook(grad), got {type(hook).__name__}")
        hooks = self._hook_list()
        checked = _CheckedHook(hook, self)
        # retain_grad's hook stays last, so a retained .grad is the gradient after every hook (as PyTorch)
        if hooks and type(hooks[-1]) is _RetainGrad:
            hooks.insert(len(hooks) - 1, checked)
        else:
            hooks.append(checked)
        return _HookHandle(hooks, checked)

    def _hook_list(self) -> list:
        """The list of hooks run on this tensor's gradient, created on first use."""
        if self._edge is None:
            raise NotDifferentiableError(
                f"cannot register a hook on {_what(self)}: it does not require grad, so no gradient "
                "reaches it for a hook to see; set requires_grad=True on the inputs it is computed from")
        node, idx = self._edge
        if type(node) is Leaf:
            if node.hooks is None:
                node.hooks = []
            return node.hooks
        if node.hooks is None:
            node.hooks = {}
        return node.hooks.setdefault(idx, [])

    def retain_grad(self) -> None:
        """Keep ``.grad`` on a non-leaf tensor after ``backward`` (leaves always keep it).

        The kept gradient is the one after this tensor's hooks have run, and it
        accumulates over backward passes as a leaf's does. Calling it twice keeps one.

        >>> import xpgrad as xg
        >>> x = xg.asarray([1.0, 2.0], requires_grad=True)
        >>> y = x * x
        >>> y.retain_grad()
        >>> (y * 3.0).sum().backward()
        >>> y.grad.tolist()
        [3.0, 3.0]
        """
        if self._edge is None:
            raise NotDifferentiableError(
                f"retain_grad() on {_what(self)}: it does not require grad, so no gradient reaches it; "
                "set requires_grad=True on the inputs it is computed from")
        if self.is_leaf or self.retains_grad:
            return
        self._hook_list().append(_RetainGrad(self))

    @property
    def retains_grad(self) -> bool:
        """Whether :meth:`retain_grad` was called on this (non-leaf) tensor."""
        e = self._edge
        if e is None or type(e[0]) is Leaf or not e[0].hooks:
            return False
        return any(type(h) is _RetainGrad and h.ref() is self for h in e[0].hooks.get(e[1], ()))

    def _share_vc(self) -> list:
        vc = self._vc
        if vc is None:
            vc = self._vc = [0, 0]
        vc[1] = 1
        return vc

    # -- Array API attributes ---------------------------------------------
    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        n = 1
        for s in self.data.shape:
            n *= s
        return n

    @property
    def device(self) -> str:
        return self._b.device

    @property
    def backend(self) -> Backend:
        return self._b

    def __array_namespace__(self, /, *, api_version: str | None = None) -> Any:
        """The ``xpgrad`` module: the Array API namespace of this tensor.

        ``api_version`` may name any standard version xpgrad implements (2023.12, 2024.12, and
        2025.12 where its additions exist); the same namespace serves them all.
        """
        if api_version is not None and api_version not in API_VERSIONS:
            raise ValueError(f"__array_namespace__(api_version={api_version!r}): xpgrad implements the "
                             f"Array API standard versions {', '.join(API_VERSIONS)}")
        return _NAMESPACE[0]

    # -- host interop ------------------------------------------------------
    def numpy(self) -> Any:
        """The data as a NumPy array on the host (shares memory on the CPU, like PyTorch)."""
        import numpy as np

        return np.asarray(self._b.to_host(self.data))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Any:
        """The values as a NumPy array (``numpy.asarray(t)``), detached from the graph.

        Converting a tensor that is connected to the graph while gradients are recorded warns
        (a ``UserWarning``): NumPy code, such as SciPy's fallbacks for namespaces without a
        function of their own, computes on the values alone, so gradients through it are lost;
        the warning keeps that from passing silently. Detach first to say it is intended.
        """
        import numpy as np

        if self._edge is not None:
            from .tape import state

            if state.grad_enabled:
                import warnings

                warnings.warn(f"a tensor that requires grad ({self.dtype}, shape {tuple(self.shape)}) was "
                              "converted to NumPy: the result is cut off from the graph — gradients "
                              "through this call are lost (call .detach() first if that is intended)",
                              UserWarning, stacklevel=2)
        a = np.asarray(self._b.to_host(self.data), dtype=dtype)
        return a.copy() if copy else a

    def __dlpack__(self, /, *, stream: Any = None, max_version: tuple[int, int] | None = None,
                   dl_device: tuple[Any, int] | None = None, copy: bool | None = None) -> Any:
        """A DLPack capsule of the data (the standard's signature; arguments go to the backend array).

        Device memory that cannot be shared (OpenCL, the FPGA stub) is exported as a host copy
        when the consumer asks for the CPU (``dl_device=(kDLCPU, 0)``) and allows a copy.
        """
        kw = {k: v for k, v in (("stream", stream), ("max_version", max_version),
                                ("dl_device", dl_device), ("copy", copy)) if v is not None}
        try:
            return self.data.__dlpack__(**kw)
        except BufferError:
            if copy is False or dl_device is None or int(dl_device[0]) != 1:  # 1: kDLCPU
                raise
        import numpy as np

        host = np.array(self._b.to_host(self.data), copy=True)
        kw.pop("copy", None)
        return host.__dlpack__(**kw)

    def __dlpack_device__(self) -> tuple[Any, int]:
        """``(device type, index)`` of the data, as DLPack numbers devices."""
        return self.data.__dlpack_device__()

    def item(self) -> Any:
        """The single element as a Python scalar."""
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    # Conversions to Python scalars take 0-d tensors only, as the standard says (``item()`` also
    # takes any one-element tensor); a complex tensor has no int or float value.
    def _python_scalar(self, what: str, real_only: bool = False) -> Any:
        if self.data.ndim != 0:
            raise TypeError(f"{what}() of a tensor needs a 0-d tensor, got shape {self.shape}; index "
                            "one element first, or reduce with xpgrad.all / xpgrad.any")
        if real_only and self._b.is_complex(self.data.dtype):
            raise TypeError(f"{what}() of a complex tensor ({self.data.dtype}); take xpgrad.real or "
                            "xpgrad.abs first, or use complex()")
        return self.numpy().item()

    def __bool__(self) -> bool:
        return bool(self._python_scalar("bool"))

    def __int__(self) -> int:
        return int(self._python_scalar("int", real_only=True))

    def __float__(self) -> float:
        return float(self._python_scalar("float", real_only=True))

    def __complex__(self) -> complex:
        return complex(self._python_scalar("complex"))

    def __index__(self) -> int:
        if not self._b.xp.isdtype(self.data.dtype, "integral"):
            raise TypeError(f"only integer tensors can be used as an index, got {self.data.dtype}")
        return int(self._python_scalar("index"))

    def __len__(self) -> int:
        if not self.data.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self) -> Any:
        if not self.data.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        body = repr(self.numpy()).removeprefix("array")
        extra = []
        if self._b.device != "cpu":
            extra.append(f"device={self._b.device!r}")
        e = self._edge
        if e is not None:
            extra.append("requires_grad=True" if type(e[0]) is Leaf else f"grad_fn={e[0].op.name}")
        if self._tan:
            extra.append(f"tangent_levels={sorted(self._tan)}")
        if extra:
            body = body[:-1] + ", " + ", ".join(extra) + ")"
        return "tensor" + body

    def __reduce__(self) -> Any:
        raise TypeError("xpgrad tensors are not pickled; use xpgrad.save (safetensors) instead")


class _HookHandle:
    """What :meth:`Tensor.register_hook` returns: ``remove()`` unregisters the hook (also on leaving a
    ``with`` block)."""

    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list, hook: Any) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        # by identity: each registration has its own wrapper, so a hook registered twice is removed once
        for i, h in enumerate(self._hooks):
            if h is self._hook:
                del self._hooks[i]
                return

    def __enter__(self) -> "_HookHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def _what(t: "Tensor") -> str:
    """"the tensor (2, 3) float64 on cpu computed by 'multiply'": which tensor a hook message is about."""
    e = t._edge
    desc = f"{tuple(t.shape)} {t.dtype} on {t.device}"
    if e is None:
        return f"the tensor {desc}"
    if type(e[0]) is Leaf:
        return f"the leaf tensor {desc}"
    if e[0].n_out > 1:
        return f"the tensor {desc}, output {e[1]} of '{e[0].op.name}'"
    return f"the tensor {desc} computed by '{e[0].op.name}'"


class _CheckedHook:
    """A user's gradient hook, with its result checked: a gradient of the wrong shape, dtype or device
    would otherwise fail deep in a VJP rule, or be accumulated silently in the wrong precision."""

    __slots__ = ("fn", "what")

    def __init__(self, fn: Any, t: "Tensor") -> None:
        self.fn = fn
        self.what = _what(t)

    def __call__(self, g: "Tensor") -> "Tensor | None":
        r = self.fn(g)
        if r is None:
            return None
        if not isinstance(r, Tensor):
            bad = None
            if isinstance(r, (int, float, complex)) or is_array(r):
                try:
                    r = Tensor(r, device=g.device)
                except Exception as exc:
                    bad = exc
            else:
                bad = "return a tensor or an array"
            if bad is not None:
                raise BackwardError(f"the gradient hook {_hook_name(self.fn)} on {self.what} returned a "
                                    f"{type(r).__name__}, which is not a gradient: {bad}")
        if r.shape != g.shape or r.dtype != g.dtype or r.device != g.device:
            raise BackwardError(
                f"the gradient hook {_hook_name(self.fn)} on {self.what} returned "
                f"{tuple(r.shape)} {r.dtype} on {r.device}, but the gradient it was given is "
                f"{tuple(g.shape)} {g.dtype} on {g.device}; return a tensor of the same shape, dtype and "
                "device (or None to keep the gradient)")
        return r


def _hook_name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


class _RetainGrad:
    """The hook :meth:`Tensor.retain_grad` adds: stores the gradient in ``.grad`` (always run last)."""

    __slots__ = ("ref",)

    def __init__(self, t: "Tensor") -> None:
        self.ref = weakref.ref(t)

    def __call__(self, g: "Tensor") -> None:
        t = self.ref()
        if t is None:
            return None
        from .tape import state

        if not state.grad_enabled:
            # a plain backward: the array flows on and may become a leaf's .grad; keep a copy of our own
            g = Tensor._make(g._b.copy(g.data), g._b)
        if t.grad is None:
            t.grad = g
        else:
            t.grad = t.grad + g
        return None


def unwrap(obj: Any) -> Any:
    """``obj`` with Tensors replaced by their backend arrays, also inside a tuple (an index key).

    For static parameters that may hold arrays, such as getitem's and
    scatter_add's ``key``, which kernels receive as given.
    """
    if isinstance(obj, Tensor):
        return obj.data
    if isinstance(obj, tuple):
        return tuple(k.data if isinstance(k, Tensor) else k for k in obj)
    return obj


def _owned(b: Backend, data: Any) -> bool:
    return type(data) in b.array_types


def _backend_for(data: Any, device: Any) -> Backend:
    if device is not None:
        return get_backend(device)
    if not isinstance(data, (int, float, complex, bool)) and is_array(data):  # torch tensors lack the method
        return backend_of(data)
    return get_backend(None)
