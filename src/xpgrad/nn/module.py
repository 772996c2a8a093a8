"""``Module`` and ``Parameter``: the building blocks of a network, as in ``torch.nn``.

A Module owns parameters (tensors an optimizer trains), buffers (state such as
BatchNorm's running statistics) and child modules, each registered by plain
attribute assignment. Registered tensors and children also live in the
instance ``__dict__``, so ``self.weight`` in ``forward`` is an ordinary
attribute read, and ``module(x)`` calls ``forward`` directly unless a hook is
registered: the per-call cost of a layer is one Python call.

>>> import xpgrad as xg
>>> from xpgrad import nn
>>> class Affine(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.scale = nn.Parameter(xg.ones((3,)))
...         self.register_buffer("shift", xg.zeros((3,)))
...     def forward(self, x):
...         return x * self.scale + self.shift
>>> m = Affine()
>>> [name for name, _ in m.named_parameters()], list(m.state_dict())
(['scale'], ['scale', 'shift'])
"""

from __future__ import annotations

import copy as _copy
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

from ..core.errors import DTypeError, XpgradError, describe
from ..core.tape import no_grad
from ..core.tensor import Tensor

__all__ = ["Module", "Parameter", "StateDictError", "IncompatibleKeys", "functional_call"]


class StateDictError(XpgradError, ValueError):
    """``load_state_dict`` got missing, unexpected, mis-shaped or dtype-incompatible entries.

    The attributes ``missing_keys``, ``unexpected_keys`` and ``mismatched``
    (``[(key, reason), ...]``) list every problem found.
    """

    def __init__(self, message: str, missing_keys: list[str], unexpected_keys: list[str],
                 mismatched: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.missing_keys = missing_keys
        self.unexpected_keys = unexpected_keys
        self.mismatched = mismatched


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` did not load."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Parameter(Tensor):
    """A tensor that a Module registers as trainable: a leaf that requires grad.

    ``Parameter(data)`` shares ``data``'s memory, as PyTorch's does.

    >>> import xpgrad as xg
    >>> p = Parameter(xg.zeros((2,)))
    >>> p.requires_grad, p.is_leaf
    (True, True)
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = Tensor([], dtype="float32")
        elif isinstance(data, Tensor):
            data = data.detach()
        super().__init__(data)
        if requires_grad:
            self.requires_grad = True

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> "Parameter":
        p = Parameter(Tensor._make(self._b.copy(self.data), self._b), requires_grad=self.requires_grad)
        if self.grad is not None:
            p.grad = Tensor._make(self._b.copy(self.grad.data), self.grad._b)
        memo[id(self)] = p
        return p


class _HookHandle:
    """Returned by ``register_forward_hook``; ``remove()`` unregisters the hook."""

    __slots__ = ("_module", "_kind", "_hook")

    def __init__(self, module: "Module", kind: str, hook: Callable) -> None:
        self._module, self._kind, self._hook = module, kind, hook

    def remove(self) -> None:
        hooks = self._module.__dict__["_hooks"]
        if hooks is not None and self._hook in hooks[self._kind]:
            hooks[self._kind].remove(self._hook)
            if not hooks["pre"] and not hooks["post"]:
                self._module.__dict__["_hooks"] = None


def _check_name(kind: str, name: Any) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name must be a string, got {type(name).__name__}")
    if not name or "." in name:
        raise KeyError(f"{kind} name must be a non-empty string without '.', got {name!r}")


class Module:
    """Base class of every layer and model: subclass it, assign parts in ``__init__``, write ``forward``.

    Assigning a :class:`Parameter` registers a parameter, a Module registers a
    child, and :meth:`register_buffer` registers a buffer; ``named_parameters``,
    ``state_dict``, ``to``, ``train``/``eval`` then walk them in definition order.
    """

    training: bool

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent"] = set()
        d["_modules"] = {}
        d["_hooks"] = None  # {"pre": [...], "post": [...]} once a forward hook is registered

    # -- calling -----------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define it in the subclass")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._hooks is None:
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        hooks = self._hooks
        for hook in list(hooks["pre"]):
            res = hook(self, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        for hook in list(hooks["post"]):
            res = hook(self, args, out)
            if res is not None:
                out = res
        return out

    def register_forward_pre_hook(self, hook: Callable) -> _HookHandle:
        """Call ``hook(module, args)`` before ``forward``; a returned value replaces the arguments."""
        return self._add_hook("pre", hook)

    def register_forward_hook(self, hook: Callable) -> _HookHandle:
        """Call ``hook(module, args, output)`` after ``forward``; a returned value replaces the output."""
        return self._add_hook("post", hook)

    def _add_hook(self, kind: str, hook: Callable) -> _HookHandle:
        d = self.__dict__
        if d["_hooks"] is None:
            d["_hooks"] = {"pre": [], "post": []}
        d["_hooks"][kind].append(hook)
        return _HookHandle(self, kind, hook)

    # -- registration --------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, (Parameter, Module)):
            if params is None:
                raise AttributeError(f"cannot assign {type(value).__name__} {name!r} before "
                                     f"Module.__init__() is called; call super().__init__() first")
            table = params if isinstance(value, Parameter) else d["_modules"]
            if name not in table:  # a new name goes last; a reassigned one keeps its place
                self._forget(name)
            table[name] = value
        elif params is not None:
            if name in params:
                if value is not None:
                    raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} of "
                                    f"{type(self).__name__} (an nn.Parameter or None is expected); "
                                    f"wrap it: nn.Parameter(value)")
                params[name] = None
            elif name in d["_buffers"]:
                if value is not None and not isinstance(value, Tensor):
                    raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} of "
                                    f"{type(self).__name__} (a Tensor or None is expected)")
                d["_buffers"][name] = value
            elif name in d["_modules"]:
                if value is not None:
                    raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} of "
                                    f"{type(self).__name__} (a Module or None is expected)")
                d["_modules"][name] = None
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._forget(name)
        object.__delattr__(self, name)

    def _forget(self, name: str) -> None:
        d = self.__dict__
        d["_parameters"].pop(name, None)
        d["_buffers"].pop(name, None)
        d["_non_persistent"].discard(name)
        d["_modules"].pop(name, None)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or ``None``, a declared but absent parameter such as a disabled bias)."""
        _check_name("parameter", name)
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot register a parameter before Module.__init__() is called")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot register {type(param).__name__} as parameter {name!r} "
                            f"(an nn.Parameter or None is expected)")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        self._forget(name)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register state that is not trained: saved in ``state_dict`` unless ``persistent=False``.

        Buffers follow the module in ``to``/``to_device``, like parameters.
        """
        _check_name("buffer", name)
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot register a buffer before Module.__init__() is called")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot register {type(tensor).__name__} as buffer {name!r} "
                            f"(a Tensor or None is expected)")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Register ``module`` as a child called ``name``."""
        _check_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module")
        if "_modules" not in self.__dict__:
            raise AttributeError("cannot add a module before Module.__init__() is called")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        self._forget(name)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        """The descendant at dotted path ``target`` (``""`` is this module)."""
        mod = self
        for part in target.split(".") if target else []:
            child = mod._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule {part!r} (in {target!r})")
            mod = child
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target``."""
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._parameters:
            raise AttributeError(f"{type(mod).__name__} has no parameter {name!r} (in {target!r})")
        return mod._parameters[name]

    # -- walking ------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """``(dotted name, module)`` for this module and every descendant, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        """This module and every descendant."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """``(name, module)`` for each direct child."""
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator["Module"]:
        """Each direct child."""
        for _, child in self.named_children():
            yield child

    def _named_members(self, table: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else iter([(prefix, self)])
        for mod_prefix, mod in mods:
            for name, value in mod.__dict__[table].items():
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` in definition order; a shared parameter appears once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter, in definition order (what an optimizer takes)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, buffer)`` in definition order."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # -- modes and gradients ---------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (``True``) or evaluation mode on this module and every descendant."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode) expects a bool, got {type(mode).__name__}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> "Module":
        """Evaluation mode: Dropout is the identity, BatchNorm uses its running statistics."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Switch gradient tracking of every parameter on or off (freezing layers)."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget accumulated gradients: ``.grad = None`` (default), or fill them with zeros."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            elif p.grad.requires_grad or p.grad._tan is not None:
                p.grad = Tensor._make(p.grad._b.xp.zeros_like(p.grad.data), p.grad._b)
            else:
                with no_grad():
                    p.grad[...] = 0

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call ``fn`` on every descendant (children first) and on this module; returns ``self``."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- devices and dtypes ------------------------------------------------------
    def _tensors(self) -> Iterator[Tensor]:
        seen: set[int] = set()
        for m in self.modules():
            for table in ("_parameters", "_buffers"):
                for t in m.__dict__[table].values():
                    if t is not None and id(t) not in seen:
                        seen.add(id(t))
                        yield t

    def _convert(self, device: Any, dtype: Any, floating_only: bool = True) -> "Module":
        from ..core.device import get_backend
        from ..ops.creation import to_device

        dst = None if device is None else get_backend(device)

        def moved(t: Tensor) -> Tensor:
            out = t.detach()
            if dtype is not None and (not floating_only or t._b.is_floating(t.dtype)):
                want = t._b.dtype(dtype)
                if t.dtype != want:
                    out = Tensor._make(t._b.xp.astype(out.data, want), t._b)
            if dst is not None and dst is not t._b:
                out = to_device(out, dst.device)
            return out

        with no_grad():
            for t in list(self._tensors()):
                new = moved(t)
                if new.data is not t.data:
                    t.data, t._b = new.data, new._b  # same object: optimizers keep their references
                g = t.grad
                if g is not None:
                    ng = moved(g)
                    if ng.data is not g.data or ng._b is not g._b:
                        t.grad = ng
        return self

    def to_device(self, device: Any) -> "Module":
        """Move every parameter and buffer to ``device`` in place (same objects); returns ``self``."""
        return self._convert(device, None)

    def to(self, *args: Any, device: Any = None, dtype: Any = None) -> "Module":
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(tensor)``, in place; returns ``self``.

        A dtype converts floating-point parameters and buffers only (integer
        buffers such as ``num_batches_tracked`` keep theirs), as in PyTorch.
        """
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, str) and (":" in a or a in ("cpu", "cuda", "opencl", "fpga")):
                device = a
            elif a is not None and (isinstance(a, str) or hasattr(a, "itemsize") or isinstance(a, type)):
                dtype = a
            elif a is not None:
                device = a
        if dtype is not None:
            from ..core.device import get_backend

            b = get_backend("cpu")
            if not b.is_floating(b.dtype(dtype)):
                name = getattr(dtype, "__name__", dtype)
                raise DTypeError(f"{type(self).__name__}.to: dtype {name} is not a floating-point dtype; "
                                 "parameters can only be converted to float32 or float64")
        return self._convert(device, dtype)

    def cpu(self) -> "Module":
        """Move every parameter and buffer to ``cpu``."""
        return self._convert("cpu", None)

    def float(self) -> "Module":
        """Floating-point parameters and buffers to float32."""
        return self._convert(None, "float32")

    def double(self) -> "Module":
        """Floating-point parameters and buffers to float64."""
        return self._convert(None, "float64")

    # -- state dicts ---------------------------------------------------------------
    def state_dict(self, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> dict[str, Tensor]:
        """Parameters and persistent buffers by dotted name, detached (sharing memory, as in PyTorch).

        Copy the values (or save them with ``xpgrad.save``) to keep a snapshot
        that later training steps will not change.
        """
        out: dict[str, Tensor] = OrderedDict() if destination is None else destination
        for mod_prefix, mod in self.named_modules(prefix=prefix.rstrip(".")):
            dot = f"{mod_prefix}." if mod_prefix else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    out[dot + name] = p if keep_vars else p.detach()
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out[dot + name] = b if keep_vars else b.detach()
        return out

    def _state_targets(self) -> dict[str, Tensor]:
        return self.state_dict(keep_vars=True)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy ``state_dict``'s values into this module's parameters and buffers.

        Everything is checked before anything is written: missing keys,
        unexpected keys (both only with ``strict=True``), shapes and dtypes
        (always). One :class:`StateDictError` lists every problem, and the
        module is left untouched. Values are cast to each target's dtype and
        device and copied into the existing tensors, so optimizers holding
        them keep working. Returns ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict expects a mapping of names to tensors, "
                            f"got {type(state_dict).__name__}")
        targets = self._state_targets()
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        mismatched: list[tuple[str, str]] = []
        plan: list[tuple[Tensor, Tensor]] = []
        for key, target in targets.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            problem, value = _compatible(value, target)
            if problem:
                mismatched.append((key, problem))
            else:
                plan.append((target, value))
        if mismatched or (strict and (missing or unexpected)):
            lines = [f"load_state_dict into {type(self).__name__} found "
                     f"{_count(len(missing) if strict else 0, 'missing key')}, "
                     f"{_count(len(unexpected) if strict else 0, 'unexpected key')} and "
                     f"{_count(len(mismatched), 'mismatched value')}; nothing was loaded:"]
            if strict:
                lines += [f"  missing:    {k!r} (expected {describe(targets[k])})" for k in missing]
                lines += [f"  unexpected: {k!r}" for k in unexpected]
            lines += [f"  mismatched: {k!r}: {why}" for k, why in mismatched]
            if strict and (missing or unexpected) and not mismatched:
                lines.append("  pass strict=False to load the matching keys and ignore the rest")
            raise StateDictError("\n".join(lines), missing if strict else [],
                                 unexpected if strict else [], mismatched)
        # Convert every value before writing any, so a failed transfer leaves the module untouched.
        with no_grad():
            ready = [(t, _cast(v, t)) for t, v in plan]
            for target, value in ready:
                target[...] = value
        return IncompatibleKeys(missing, unexpected)

    # -- copying and printing ---------------------------------------------------------
    def __deepcopy__(self, memo: dict) -> "Module":
        for t in self._tensors():
            if id(t) not in memo:
                _copy.deepcopy(t, memo) if isinstance(t, Parameter) else \
                    memo.setdefault(id(t), Tensor._make(t._b.copy(t.data), t._b))
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            new.__dict__[k] = _copy.deepcopy(v, memo)
        return new

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr``; layers override it."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [(n, m) for n, m in self._modules.items()]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        if not children:
            return f"{self._get_name()}({extra})"
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _kind(b: Any, dtype: Any) -> str:
    xp = b.xp
    if xp.isdtype(dtype, "bool"):
        return "bool"
    if xp.isdtype(dtype, "integral"):
        return "int"
    if xp.isdtype(dtype, "real floating"):
        return "float"
    return "complex"


# Which value kinds may be loaded into which target kinds (casting never loses meaning).
_LOADABLE = {"float": {"float", "int"}, "int": {"int"}, "bool": {"bool"},
             "complex": {"complex", "float", "int"}}


def _compatible(value: Any, target: Tensor) -> tuple[str | None, Any]:
    """``(problem or None, value as a Tensor)`` for loading ``value`` into ``target``."""
    if not isinstance(value, Tensor):
        if not hasattr(value, "shape") or not hasattr(value, "dtype"):
            return f"expected a tensor of shape {target.shape}, got {type(value).__name__}", value
        try:
            from .. import asarray

            value = asarray(value)
        except XpgradError as exc:
            return f"cannot be read as a tensor ({exc})", value
    if tuple(value.shape) != target.shape:
        return f"shape {tuple(value.shape)} in the state dict, {target.shape} in the module", value
    got, want = _kind(value._b, value.dtype), _kind(target._b, target.dtype)
    if got not in _LOADABLE[want]:
        return f"dtype {value.dtype} in the state dict cannot be loaded into {target.dtype}", value
    return None, value


def _cast(value: Tensor, target: Tensor) -> Tensor:
    from ..ops.creation import to_device

    v = value.detach()
    if v._b is not target._b:
        v = to_device(v, target.device)
    if v.dtype != target.dtype:
        v = Tensor._make(v._b.xp.astype(v.data, target.dtype), v._b)
    return v


def functional_call(module: Module, values: Mapping[str, Tensor], args: Any = (),
                    kwargs: Mapping[str, Any] | None = None) -> Any:
    """Call ``module`` with some parameters or buffers replaced by ``values`` (dotted names).

    The module's own tensors are put back afterwards, even on error. This is
    how a layer becomes a function of its parameters, for ``xpgrad.grad`` or
    the gradient checker:

    >>> import xpgrad as xg
    >>> from xpgrad import nn
    >>> lin = nn.Linear(2, 1, bias=False)
    >>> w = xg.ones((1, 2))
    >>> functional_call(lin, {"weight": w}, (xg.asarray([[1.0, 2.0]]),)).tolist()
    [[3.0]]
    """
    if not isinstance(args, tuple):
        args = (args,)
    saved: list[tuple[Module, str, Any]] = []
    try:
        for key, value in values.items():
            mod_path, _, name = key.rpartition(".")
            mod = module.get_submodule(mod_path)
            table = "_parameters" if name in mod._parameters else "_buffers" if name in mod._buffers else None
            if table is None:
                raise KeyError(f"functional_call: {type(mod).__name__} has no parameter or buffer "
                               f"{name!r} (in {key!r})")
            saved.append((mod, name, mod.__dict__[name]))
            mod.__dict__[name] = value  # plain attribute: forward reads it, the registry is not touched
        return module(*args, **dict(kwargs or {}))
    finally:
        for mod, name, old in reversed(saved):
            mod.__dict__[name] = old
