"""The op registry: one row per op — forward, VJP, JVP and sample inputs.

Rules take the namespace ``xp`` first and are written against the Array API,
never against a particular library::

    @defop("multiply", broadcasting=True)
    def multiply(xp, x, y, /):
        return x * y

    multiply.defvjp(lambda xp, g, out, x, y: g * y,      # one rule per input, or
                    lambda xp, g, out, x, y: g * x)      # one rule returning a tuple
    multiply.defjvp(lambda xp, dx, out, x, y: dx * y,
                    lambda xp, dy, out, x, y: x * dy)

Positional-only parameters of the forward rule (before ``/``), or ``*arrays``,
are the op's array inputs; the others are static parameters (axis, shape...).

* A VJP given per input is called only for inputs that need a gradient; a
  ``None`` in its place declares the op not differentiable in that input.
* A JVP given per input gets that input's tangent and is skipped when the
  tangent is zero (``None``); the engine adds the contributions. A single JVP
  function gets every tangent, with :data:`ZERO` standing for absent ones.
* An op with only a JVP gets its VJP by transposing the JVP (reverse mode over
  the linear map), and one with only a VJP gets its JVP by the double-VJP trick:
  both are exact, just slower than hand-written rules.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from .errors import RegistryError
from .tape import apply
from .zero import ZERO  # noqa: F401  (re-exported: rules import it from here)

__all__ = ["Op", "defop", "get_op", "ops", "Sample", "ZERO", "register_op"]

_OPS: dict[str, "Op"] = {}




class Sample:
    """One sample input of an op: positional arrays (as nested lists or arrays) and params.

    ``Sample((x, y), {"axis": 0})``; ``dtype`` defaults to the test's float dtype.
    Arrays given as ``("randn", shape)`` / ``("rand", shape, lo, hi)`` /
    ``("int", shape, lo, hi)`` / ``("bool", shape)`` are drawn by the test
    harness from a seeded generator; ``("pos", shape)`` draws from (0.5, 2),
    ``("away", shape, eps)`` draws |x| >= eps (away from a kink at 0), ``("spd", (n, n))``
    a symmetric positive-definite matrix, and
    ``("values", nested_list)`` gives fixed numbers (ties, zeros, extremes). A param
    ``"@device"`` stands for the device the sample runs on.
    """

    __slots__ = ("args", "params", "grad", "note")

    def __init__(self, args: tuple, params: dict | None = None, *, grad: bool = True,
                 note: str = "") -> None:
        self.args = tuple(args)
        self.params = dict(params or {})
        self.grad = grad   # whether gradient checks apply to this sample
        self.note = note

    def __repr__(self) -> str:
        return f"Sample({self.args!r}, {self.params!r})"


class Op:
    """A registered op. Calling it applies it: ``op(*arrays, **params)``."""

    def __init__(self, name: str, forward: Callable, *, broadcasting: bool = False,
                 differentiable: bool = True, view: bool | Callable[[dict], bool] = False, order: int = 2,
                 doc: str | None = None, deterministic: Any = True) -> None:
        self.name = name
        self.forward = forward
        self.broadcasting = broadcasting
        self.differentiable = differentiable
        # The output may share memory with the first input: True, or params -> bool (getitem:
        # basic keys give views, integer-array and boolean keys give copies).
        self.view = view
        self.order = order          # highest derivative order the rules support (for checks)
        self.vjp: Callable | None = None
        self.vjps: tuple | None = None
        self.jvp: Callable | None = None
        self.jvps: tuple | None = None
        self.samples: list[Sample] = []
        self.sample_fn: Callable | None = None
        self.derived: str | None = None  # which rule, if any, was derived from the other
        self.kernels: dict = {}     # backend -> forward implementation chosen for it
        # (args, params) -> exception or None: explains a failed forward (called on failure only)
        self.diagnose: Callable | None = None
        self.out_backend: Callable | None = None  # params -> backend of the result, if not the input's
        self._deterministic: Any = True
        self.__doc__ = doc or forward.__doc__
        sig = inspect.signature(forward)
        params = list(sig.parameters.values())[1:]
        self.variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
        self.nin = sum(p.kind is p.POSITIONAL_ONLY for p in params)
        self.param_names = [p.name for p in params
                            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        self.__signature__ = sig.replace(parameters=params)
        self.__name__ = name
        self.__qualname__ = name
        self.__module__ = getattr(forward, "__module__", __name__)
        if not self.__doc__:
            self.__doc__ = (f"``{name}{self.__signature__}``: the Array API function of that name, "
                            + ("differentiable (VJP and JVP rules in its op table row)."
                               if differentiable else "not differentiable: its result never requires grad."))
        if deterministic is not True:
            self.deterministic = deterministic

    def __repr__(self) -> str:
        return f"<op {self.name}>"

    @property
    def deterministic(self) -> Any:
        """Whether the op's own forward gives the same bits on every run, per backend family.

        ``True`` (the default), ``False`` (nowhere), a set of the families where it
        is *not* deterministic (``{"cuda"}``: it uses float atomics there), or a
        callable ``family -> bool``. Under ``xpgrad.use_deterministic`` a call where
        neither this forward nor a deterministic kernel applies raises
        :class:`~xpgrad.core.errors.DeterminismError`. Kernels declare their own
        ``Kernel.deterministic``.

        >>> get_op("add").deterministic
        True
        """
        return self._deterministic

    @deterministic.setter
    def deterministic(self, flag: Any) -> None:
        if not (flag is True or flag is False or callable(flag)):
            names = (flag,) if isinstance(flag, str) else flag
            try:
                names = frozenset(names)
            except TypeError:
                names = None
            if names is None or not all(isinstance(f, str) for f in names):
                raise RegistryError(f"op '{self.name}': deterministic must be True, False, a set of backend "
                                    f"family names where the forward is not deterministic, or a callable "
                                    f"family -> bool; got {flag!r}")
            flag = names
        self._deterministic = flag
        from .dispatch import flag_changed

        flag_changed(self)   # keeps the determinism guards and planning decisions in step

    def __call__(self, *args: Any, **params: Any) -> Any:
        nin = self.nin
        if not self.variadic and len(args) > nin:
            extra = args[nin:]
            args = args[:nin]
            if len(extra) > len(self.param_names):
                raise TypeError(f"{self.name}() takes at most {nin + len(self.param_names)} "
                                f"positional arguments ({nin + len(extra)} given)")
            for k, v in zip(self.param_names, extra):
                if k in params:
                    raise TypeError(f"{self.name}() got multiple values for argument {k!r}")
                params[k] = v
        elif not self.variadic and len(args) < nin:
            raise TypeError(f"{self.name}() takes {nin} array argument(s) ({len(args)} given)")
        return apply(self, args, params)

    # -- rules -------------------------------------------------------------
    def defvjp(self, *rules: Callable | None) -> "Op":
        """Set the VJP: one function per input (``None``: not differentiable there), or one for all."""
        if not rules:
            raise RegistryError(f"defvjp of '{self.name}' needs at least one rule")
        if len(rules) == 1 and (self.nin != 1 or self.variadic) and rules[0] is not None:
            self.vjp, self.vjps = rules[0], None
        else:
            self.vjps, self.vjp = tuple(rules), None
        return self

    def defjvp(self, *rules: Callable | None) -> "Op":
        """Set the JVP: one linear map per input, or one function of all tangents."""
        if not rules:
            raise RegistryError(f"defjvp of '{self.name}' needs at least one rule")
        if len(rules) == 1 and (self.nin != 1 or self.variadic):
            self.jvp, self.jvps = rules[0], None
        else:
            self.jvps, self.jvp = tuple(rules), None
        return self

    def deflinear(self) -> "Op":
        """The op is linear in its (single) array input: its JVP is the op itself."""
        fwd = self.forward
        self.jvps = (lambda xp, t, out, x, **p: fwd(xp, t, **p),)
        self.jvp = None
        return self

    def defsamples(self, *samples: Sample | Callable) -> "Op":
        """Declare sample inputs: :class:`Sample` objects, or a function returning them."""
        for s in samples:
            if callable(s) and not isinstance(s, Sample):
                self.sample_fn = s
            else:
                self.samples.append(s)
        return self

    def all_samples(self) -> list[Sample]:
        out = list(self.samples)
        if self.sample_fn is not None:
            out.extend(self.sample_fn())
        return out

    @property
    def has_vjp(self) -> bool:
        return self.vjp is not None or self.vjps is not None

    @property
    def has_jvp(self) -> bool:
        return self.jvp is not None or self.jvps is not None

    def _complete(self) -> None:
        """Derive a missing rule from the other (exact, through the engine)."""
        if not self.differentiable:
            return
        if not self.has_vjp and not self.has_jvp:
            raise RegistryError(
                f"op '{self.name}' has neither a VJP nor a JVP rule; give one with "
                f".defvjp/.defjvp, or declare it with differentiable=False")
        from . import derived

        if not self.has_vjp:
            self.vjp, self.vjps = derived.vjp_from_jvp(self), None
            self.derived = "vjp"
        elif not self.has_jvp:
            self.jvp, self.jvps = derived.jvp_from_vjp(self), None
            self.derived = "jvp"


def defop(name: str, *, broadcasting: bool = False, differentiable: bool = True,
          view: bool | Callable[[dict], bool] = False, order: int = 2, replace: bool = False,
          registry: dict | None = None, deterministic: Any = True) -> Callable[[Callable], Op]:
    """Decorator: register ``forward(xp, *arrays, **params)`` as op ``name``.

    ``deterministic`` is :attr:`Op.deterministic` (``{"cuda"}``: not deterministic there).

    >>> table = {}                      # (a registry of our own: the global one is left alone)
    >>> @defop("cube", registry=table)
    ... def cube(xp, x, /):
    ...     return x * x * x
    >>> _ = cube.defvjp(lambda xp, g, out, x: 3 * g * x * x)
    >>> _ = cube.defjvp(lambda xp, t, out, x: 3 * t * x * x)
    """
    def deco(forward: Callable) -> Op:
        op = Op(name, forward, broadcasting=broadcasting, differentiable=differentiable,
                view=view, order=order, deterministic=deterministic)
        register_op(op, replace=replace, registry=registry)
        return op
    return deco


def register_op(op: Op, *, replace: bool = False, registry: dict | None = None) -> Op:
    reg = _OPS if registry is None else registry
    if op.name in reg and not replace:
        raise RegistryError(f"an op named '{op.name}' is already registered "
                            f"({reg[op.name].forward.__module__}); pass replace=True to override it")
    reg[op.name] = op
    return op


def get_op(name: str) -> Op:
    try:
        return _OPS[name]
    except KeyError:
        raise RegistryError(f"no op named '{name}' is registered") from None


def ops() -> dict[str, Op]:
    """Every registered op by name (a copy)."""
    return dict(_OPS)


def complete_all(names: Iterable[str] | None = None) -> None:
    """Check every op has its rules, deriving a missing VJP or JVP from the other."""
    for name in (names or list(_OPS)):
        _OPS[name]._complete()
