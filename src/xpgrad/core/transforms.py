"""Functional transforms with JAX's names and signatures, on an eager tape.

``grad, value_and_grad, vjp, jvp, linearize, jacrev, jacfwd, jacobian,
hessian, hvp, custom_vjp, custom_jvp``. Inputs may be Tensors, arrays of any
Array API library, Python floats, or nested tuples/lists/dicts of them;
results are Tensors. Transforms nest freely: each reverse-mode transform
records its backward pass when an outer transform (or a tensor that requires
grad) could differentiate it, and each forward-mode transform owns a tangent
level.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from .device import backend_of, get_backend, is_array
from .errors import DTypeError, NotDifferentiableError, ShapeError, describe
from .forward import attach, new_level, release_level, strip, tangent_of
from .pytree import flatten, unflatten
from .registry import Op
from .tape import apply, backward, is_grad_enabled, no_grad, set_grad_enabled, state
from .tensor import Leaf, Tensor, namespace

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "linearize", "jacrev", "jacfwd", "jacobian",
           "hessian", "hvp", "custom_vjp", "custom_jvp"]


# ---------------------------------------------------------------- helpers

class _depth:
    """Counts running transforms, so that inner ones know to record their backward pass."""

    def __enter__(self) -> None:
        state.depth += 1

    def __exit__(self, *exc: Any) -> None:
        state.depth -= 1


def _to_tensor(x: Any, what: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if is_array(x):
        b = backend_of(x)
        return Tensor._make(b.wrap(x), b)
    if isinstance(x, (int, float, complex)) and not isinstance(x, bool):
        b = get_backend(None)
        return Tensor._make(b.asarray(float(x) if isinstance(x, int) else x), b)
    if isinstance(x, (list, tuple)):
        return Tensor(x)
    raise DTypeError(f"{what}: expected an array, a Tensor or a Python number, got {type(x).__name__}")


def _check_float(t: Tensor, what: str) -> None:
    if not t._b.is_floating(t.dtype):
        raise NotDifferentiableError(
            f"{what} has dtype {t.dtype}; only floating-point inputs can be differentiated "
            "(convert with xpgrad.astype(x, xpgrad.float64))")


def _input(x: Any, what: str) -> Tensor:
    """A fresh differentiable stand-in for ``x``: connected to ``x``'s graph and tangents."""
    t = _to_tensor(x, what)
    _check_float(t, what)
    if t._edge is not None and state.grad_enabled:
        return apply(_ALIAS, (t,), {})  # identity, recorded: a node of our own
    s = t._alias(None, t._tan)
    s.requires_grad = True
    _private().add(s._edge[0])
    return s


# The engine's own identity op (not registered, not a user op): a stand-in for an input
# that already requires grad gets a node of its own, so its cotangent can be read apart
# from any other use of the same tensor, while gradients still flow on to outer levels.
_ALIAS = Op("alias", lambda xp, x, /: x)
_ALIAS.defvjp(lambda xp, g, out, x: g)
_ALIAS.defjvp(lambda xp, t, out, x: t)


def _argnums_tuple(argnums: int | Sequence[int]) -> tuple[tuple[int, ...], bool]:
    if isinstance(argnums, int):
        return (argnums,), False
    return tuple(argnums), True


def _outer_needs_graph(xs: Sequence[Tensor]) -> bool:
    """A gradient must itself be differentiable when an outer transform or tape watches it.

    Grad mode does not enter into it: forward-over-reverse under ``no_grad`` still
    needs the backward pass on Tensors, so that tangents flow through it.
    """
    return state.depth > 1 or any(x._edge is not None or x._tan is not None for x in xs)


def _private() -> weakref.WeakSet:
    """Leaves this thread's transforms created as stand-ins for inputs that required no grad."""
    ws = getattr(state, "private_leaves", None)
    if ws is None:
        ws = state.private_leaves = weakref.WeakSet()
    return ws


def _reaches_user_leaf(node: Any) -> bool:
    private = _private()
    seen = {node}
    stack = [node]
    while stack:
        n = stack.pop()
        if type(n) is Leaf:
            if n not in private:
                return True
            continue
        for e in n.edges:
            if e is not None and e[0] not in seen:
                seen.add(e[0])
                stack.append(e[0])
    return False


def _settle(tree: Any) -> Any:
    """At the outermost transform, cut results loose from graphs that lead only to stand-ins.

    Inner transforms record their work so that outer ones can differentiate it;
    once the outermost transform returns, a result whose graph reaches no leaf of
    the user's would only keep saved arrays alive and claim ``requires_grad``.
    """
    if state.depth != 0:
        return tree
    leaves, td = flatten(tree)
    out = []
    cut_all = not state.grad_enabled  # under no_grad, nothing a transform returns is recorded
    for t in leaves:
        if isinstance(t, Tensor) and t._edge is not None and (
                cut_all or not _reaches_user_leaf(t._edge[0])):
            t = t._alias(None, t._tan)
        out.append(t)
    return unflatten(td, out)


def _zeros_like(t: Tensor) -> Tensor:
    return Tensor._make(t._b.xp.zeros_like(t.data), t._b)


# ---------------------------------------------------------------- reverse mode

def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """``fun``'s value and its gradient with respect to the arguments in ``argnums``.

    >>> import xpgrad as xg
    >>> v, g = xg.value_and_grad(lambda x: (x ** 2).sum())(xg.asarray([1.0, 2.0]))
    >>> g.tolist()
    [2.0, 4.0]
    """
    nums, multi = _argnums_tuple(argnums)

    @functools.wraps(fun)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with _depth():
            args = list(args)
            trees = []
            originals = []
            for n in nums:
                if n >= len(args):
                    raise TypeError(f"argnums={argnums} but {fun.__name__} got {len(args)} arguments")
                leaves, td = flatten(args[n])
                ins = [_input(x, f"argument {n} of {getattr(fun, '__name__', 'f')}") for x in leaves]
                originals.append([_to_tensor(x, "argument") for x in leaves])
                trees.append((td, ins))
                args[n] = unflatten(td, ins)
            with set_grad_enabled(True):
                res = fun(*args, **kwargs)
            if has_aux:
                if not (isinstance(res, (tuple, list)) and len(res) == 2):
                    raise TypeError("has_aux=True needs fun to return a pair (output, aux)")
                out, aux = res
            else:
                out, aux = res, None
            out = _to_tensor(out, "the output")
            if out.size != 1:
                raise ShapeError(f"grad needs a function with a scalar output, got shape {out.shape}; "
                                 "use jacrev or vjp for non-scalar outputs")
            flat_in = [t for _, ins in trees for t in ins]
            outer = _outer_needs_graph([o for os in originals for o in os])
            if out._edge is None:
                gs = [None] * len(flat_in)
            else:
                gs = backward([out], None, inputs=flat_in, create_graph=True if outer else None,
                              retain_graph=outer)
            gs = [_zeros_like(t) if g is None else g for t, g in zip(flat_in, gs)]
            it = iter(gs)
            grads = [unflatten(td, [next(it) for _ in ins]) for td, ins in trees]
            g = tuple(grads) if multi else grads[0]
            value = out if out._edge is None or outer else out.detach()
            result = ((value, aux), g) if has_aux else (value, g)
        return _settle(result)
    return wrapped


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient of a scalar function: ``grad(f)(x)`` has ``x``'s shape.

    >>> import xpgrad as xg
    >>> float(xg.grad(lambda x: x ** 3)(2.0))
    12.0
    """
    vg = value_and_grad(fun, argnums, has_aux)

    @functools.wraps(fun)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        (value, aux), g = vg(*args, **kwargs) if has_aux else ((None, None), vg(*args, **kwargs)[1])
        return (g, aux) if has_aux else g
    return wrapped


def vjp(fun: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """``(fun(*primals), vjp_fn)``; ``vjp_fn(cotangent)`` returns one cotangent per primal.

    >>> import xpgrad as xg
    >>> y, f_vjp = xg.vjp(lambda x: x * 3.0, xg.asarray([1.0, 2.0]))
    >>> f_vjp(xg.asarray([1.0, 1.0]))[0].tolist()
    [3.0, 3.0]
    """
    with _depth():
        trees = []
        originals = []
        args = []
        for i, p in enumerate(primals):
            leaves, td = flatten(p)
            ins = [_input(x, f"primal {i}") for x in leaves]
            originals += [_to_tensor(x, "primal") for x in leaves]
            trees.append((td, ins))
            args.append(unflatten(td, ins))
        with set_grad_enabled(True):
            res = fun(*args)
        out, aux = res if has_aux else (res, None)
        out_leaves, out_td = flatten(out)
        out_leaves = [_to_tensor(o, "output") for o in out_leaves]
    flat_in = [t for _, ins in trees for t in ins]
    outer = _outer_needs_graph(originals)

    def vjp_fn(cotangent: Any) -> tuple:
        with _depth():
            ct_leaves, ct_td = flatten(cotangent)
            if len(ct_leaves) != len(out_leaves):
                raise ShapeError(f"vjp_fn: the cotangent has {len(ct_leaves)} arrays but the output "
                                 f"has {len(out_leaves)}")
            roots, cts = [], []
            for o, c in zip(out_leaves, ct_leaves):
                c = _to_tensor(c, "cotangent")
                if c.shape != o.shape:
                    raise ShapeError(f"vjp_fn: cotangent {describe(c)} does not match output "
                                     f"{describe(o)}")
                if o._edge is not None:
                    roots.append(o)
                    cts.append(c)
            need = outer or _outer_needs_graph(cts)
            if roots:
                gs = backward(roots, cts, inputs=flat_in, retain_graph=True,
                              create_graph=True if need else None)
            else:
                gs = [None] * len(flat_in)
            gs = [_zeros_like(t) if g is None else g for t, g in zip(flat_in, gs)]
            it = iter(gs)
            result = tuple(unflatten(td, [next(it) for _ in ins]) for td, ins in trees)
        return _settle(result)

    out_value = _settle(unflatten(out_td, out_leaves if outer else [o.detach() for o in out_leaves]))
    return (out_value, vjp_fn, aux) if has_aux else (out_value, vjp_fn)


# ---------------------------------------------------------------- forward mode

def jvp(fun: Callable, primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False) -> tuple:
    """``(fun(*primals), J·tangents)`` by forward mode.

    >>> import xpgrad as xg
    >>> y, t = xg.jvp(xg.sin, (0.0,), (1.0,))
    >>> float(t)
    1.0
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp(fun, primals, tangents): primals and tangents must be tuples or lists")
    if len(primals) != len(tangents):
        raise ShapeError(f"jvp got {len(primals)} primals but {len(tangents)} tangents")
    level = new_level()
    try:
        with _depth():
            args = []
            for i, (p, t) in enumerate(zip(primals, tangents)):
                pl, ptd = flatten(p)
                tl, _ = flatten(t)
                if len(pl) != len(tl):
                    raise ShapeError(f"jvp: primal {i} and its tangent have different structures")
                duals = []
                for x, dx in zip(pl, tl):
                    x = _to_tensor(x, f"primal {i}")
                    _check_float(x, f"primal {i}")
                    dx = _to_tensor(dx, f"tangent {i}")
                    if dx.shape != x.shape:
                        raise ShapeError(f"jvp: tangent {describe(dx)} does not match primal {describe(x)}")
                    if dx.dtype != x.dtype:
                        dx = namespace().astype(dx, x.dtype)
                    duals.append(attach(x, level, dx))
                args.append(unflatten(ptd, duals))
            res = fun(*args)
            out, aux = res if has_aux else (res, None)
            leaves, td = flatten(out)
            prim, tans = [], []
            for o in leaves:
                o = _to_tensor(o, "output")
                t = tangent_of(o, level)
                prim.append(strip(o, level))
                tans.append(_zeros_like(o) if t is None else t)
    finally:
        release_level(level)
    result = _settle((unflatten(td, prim), unflatten(td, tans)))
    return (*result, aux) if has_aux else result


def linearize(fun: Callable, *primals: Any) -> tuple:
    """``(fun(*primals), jvp_fn)``: ``jvp_fn(*tangents)`` is J·tangents, without re-running ``fun``.

    ``fun`` is evaluated once and its graph kept; each ``jvp_fn`` call transposes
    the recorded VJP (J t = ∇ᵤ⟨Jᵀu, t⟩, two backward passes).
    """
    out, f_vjp = vjp(fun, *primals)
    out_leaves, out_td = flatten(out)

    def jvp_fn(*tangents: Any) -> Any:
        if len(tangents) != len(primals):
            raise ShapeError(f"jvp_fn takes {len(primals)} tangents, got {len(tangents)}")
        with _depth(), set_grad_enabled(True):
            us = [_input(_zeros_like(o), "u") for o in out_leaves]
            cts = f_vjp(unflatten(out_td, us))
            ns = namespace()
            s = None
            for c, t in zip(flatten(cts)[0], flatten(list(tangents))[0]):
                t = _to_tensor(t, "tangent")
                term = ns.sum(c * t)
                s = term if s is None else s + term
            if s is None or s._edge is None:
                outs = [_zeros_like(o) for o in out_leaves]
            else:
                outs = backward([s], None, inputs=us, create_graph=None)
                outs = [_zeros_like(o) if g is None else g for o, g in zip(out_leaves, outs)]
            result = unflatten(out_td, outs)
        return _settle(result)
    return out, jvp_fn


# ---------------------------------------------------------------- Jacobians

def _stack_rows(rows: list[Tensor], out_shape: tuple, in_shape: tuple) -> Tensor:
    ns = namespace()
    if not rows:
        return ns.zeros(out_shape + in_shape)
    return ns.reshape(ns.stack(rows, axis=0), out_shape + in_shape)


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian by reverse mode, one VJP per output element: shape ``out.shape + in.shape``."""
    nums, multi = _argnums_tuple(argnums)

    @functools.wraps(fun)
    def wrapped(*args: Any) -> Any:
        # A composition of vjp/jvp calls: it counts no transform depth of its own.
        def partial(*diff: Any) -> Any:
            full = list(args)
            for n, d in zip(nums, diff):
                full[n] = d
            return fun(*full)
        diff = [args[n] for n in nums]
        out, f_vjp = vjp(partial, *diff)
        out_leaves, out_td = flatten(out)
        in_leaves = [flatten(d)[0] for d in diff]
        in_tds = [flatten(d)[1] for d in diff]
        per_out = []
        ns = namespace()
        for k, o in enumerate(out_leaves):
            rows = []
            for i in range(o.size):
                cts = []
                for j, oo in enumerate(out_leaves):
                    z = ns.zeros((oo.size,), dtype=oo.dtype, device=oo.device)
                    if j == k:
                        z = ns.reshape(ns.astype(ns.arange(oo.size, device=oo.device) == i,
                                                 oo.dtype), oo.shape)
                    else:
                        z = ns.reshape(z, oo.shape)
                    cts.append(z)
                rows.append(f_vjp(unflatten(out_td, cts)))
            per_arg = []
            for a, (leaves, td) in enumerate(zip(in_leaves, in_tds)):
                jac_leaves = []
                for li, x in enumerate(leaves):
                    x = _to_tensor(x, "input")
                    r = [flatten(row[a])[0][li] for row in rows]
                    jac_leaves.append(_stack_rows(r, o.shape, x.shape))
                per_arg.append(unflatten(td, jac_leaves))
            per_out.append(tuple(per_arg) if multi else per_arg[0])
        return _settle(unflatten(out_td, per_out))
    return wrapped


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian by forward mode, one JVP per input element: shape ``out.shape + in.shape``."""
    nums, multi = _argnums_tuple(argnums)

    @functools.wraps(fun)
    def wrapped(*args: Any) -> Any:
        # A composition of vjp/jvp calls: it counts no transform depth of its own.
        ns = namespace()
        diff = [args[n] for n in nums]
        flat = [flatten(d) for d in diff]
        all_in = [(a, li, _to_tensor(x, "input")) for a, (leaves, _) in enumerate(flat)
                  for li, x in enumerate(leaves)]

        def partial(*d: Any) -> Any:
            full = list(args)
            for n, v in zip(nums, d):
                full[n] = v
            return fun(*full)

        cols: dict = {}
        out_leaves = out_td = None
        for a, li, x in all_in:
            cols[(a, li)] = []
            for j in range(x.size):
                tangents = []
                for b, (leaves, td) in enumerate(flat):
                    tl = []
                    for lj, y in enumerate(leaves):
                        y = _to_tensor(y, "input")
                        if (b, lj) == (a, li):
                            e = ns.reshape(ns.astype(ns.arange(y.size, device=y.device) == j,
                                                     y.dtype), y.shape)
                        else:
                            e = ns.zeros(y.shape, dtype=y.dtype, device=y.device)
                        tl.append(e)
                    tangents.append(unflatten(td, tl))
                out, tan = jvp(partial, tuple(diff), tuple(tangents))
                out_leaves, out_td = flatten(out)
                cols[(a, li)].append(flatten(tan)[0])
        if out_leaves is None:
            out_leaves, out_td = flatten(fun(*args))
            out_leaves = [_to_tensor(o, "output") for o in out_leaves]
        per_out = []
        for k, o in enumerate(out_leaves):
            per_arg = []
            for a, (leaves, td) in enumerate(flat):
                jl = []
                for li, x in enumerate(leaves):
                    x = _to_tensor(x, "input")
                    c = [col[k] for col in cols[(a, li)]]
                    if c:
                        m = ns.stack([ns.reshape(v, (o.size,)) for v in c], axis=-1)
                        jl.append(ns.reshape(m, o.shape + x.shape))
                    else:
                        jl.append(ns.zeros(o.shape + x.shape, dtype=o.dtype))
                per_arg.append(unflatten(td, jl))
            per_out.append(tuple(per_arg) if multi else per_arg[0])
        return _settle(unflatten(out_td, per_out))
    return wrapped


def jacobian(fun: Callable, argnums: int | Sequence[int] = 0, mode: str = "auto") -> Callable:
    """The Jacobian, by forward mode when inputs are fewer than outputs and reverse otherwise.

    ``mode="auto"`` evaluates ``fun`` once to learn the output size (the seeds'
    hybrid scheduler); ``"fwd"`` and ``"rev"`` force a mode.
    """
    if mode not in ("auto", "fwd", "rev"):
        raise ValueError(f"jacobian: mode must be 'auto', 'fwd' or 'rev', got {mode!r}")
    nums, _ = _argnums_tuple(argnums)

    @functools.wraps(fun)
    def wrapped(*args: Any) -> Any:
        m = mode
        if m == "auto":
            n_in = sum(_to_tensor(x, "input").size for n in nums for x in flatten(args[n])[0])
            with no_grad():
                n_out = sum(_to_tensor(o, "output").size for o in flatten(fun(*args))[0])
            m = "fwd" if n_in <= n_out else "rev"
        return (jacfwd if m == "fwd" else jacrev)(fun, argnums)(*args)
    wrapped.mode = mode  # type: ignore[attr-defined]
    return wrapped


def hessian(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """``jacfwd(jacrev(fun))``: forward-over-reverse, shape ``in.shape + in.shape``."""
    return jacfwd(jacrev(fun, argnums), argnums)


def hvp(fun: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple:
    """``(fun(*primals), H·tangents)`` by forward-over-reverse, without forming H.

    >>> import xpgrad as xg
    >>> v, h = xg.hvp(lambda x: (x ** 3).sum(), (xg.asarray([1.0, 2.0]),), (xg.asarray([1.0, 0.0]),))
    >>> h.tolist()
    [6.0, 0.0]
    """
    nums = tuple(range(len(primals)))

    def g(*xs: Any) -> Any:
        value, gr = value_and_grad(fun, argnums=nums)(*xs)
        return gr, value
    (_, value), (h, _) = jvp(g, tuple(primals), tuple(tangents))
    return value, (h[0] if len(primals) == 1 else h)


# ---------------------------------------------------------------- custom rules

class custom_vjp:
    """A function with a hand-written VJP, as in JAX.

    >>> import xpgrad as xg
    >>> @xg.custom_vjp
    ... def clip_grad(x):
    ...     return x
    >>> clip_grad.defvjp(lambda x: (x, None), lambda res, g: (xg.clip(g, -1.0, 1.0),))
    >>> float(xg.grad(lambda x: clip_grad(x) * 5.0)(2.0))
    1.0

    ``fwd(*args) -> (out, residuals)`` and ``bwd(residuals, g) -> tuple`` (one
    cotangent per argument, ``None`` for none) receive and return Tensors.
    Forward mode through the function transposes ``bwd``.
    """

    def __init__(self, fun: Callable) -> None:
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None
        self._op: Op | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        self.fwd, self.bwd = fwd, bwd
        fun_name = getattr(self.fun, "__name__", "custom_vjp")

        def forward(xp: Any, *raw: Any, _res: list, _out: Any) -> Any:
            return _out  # computed by fwd in __call__, as raw arrays

        def vjp_rule(xp: Any, g: Any, out: Any, *raw: Any, _res: list, _out: Any) -> tuple:
            tensor_mode = xp is namespace()
            gt = g if tensor_mode else _wrap_raw(g)
            with set_grad_enabled(tensor_mode):
                cts = bwd(_res[0], gt)
            if not isinstance(cts, (tuple, list)) or len(cts) != len(raw):
                raise TypeError(f"custom_vjp {fun_name}: bwd must return a tuple of {len(raw)} "
                                f"cotangents, got {cts!r}")
            return tuple(None if c is None else (c if tensor_mode else _unwrap(c)) for c in cts)

        forward.__signature__ = None  # type: ignore[attr-defined]
        op = Op(f"custom_vjp:{fun_name}", _variadic(forward))
        op.defvjp(vjp_rule)
        op._complete()
        self._op = op

    def __call__(self, *args: Any) -> Any:
        if self._op is None:
            return self.fun(*args)
        # fwd runs on the Tensors themselves: residuals stay connected to the inputs, so
        # differentiating bwd (second order) differentiates through them too.
        with set_grad_enabled(is_grad_enabled() or any(
                isinstance(a, Tensor) and a._tan is not None for a in args)):
            out, res = self.fwd(*[_wrap_raw(a) for a in args])
        return apply(self._op, args, {"_res": [res], "_out": _unwrap(out)})


class custom_jvp:
    """A function with a hand-written JVP, as in JAX.

    ``@f.defjvp def f_jvp(primals, tangents): return primal_out, tangent_out``.
    Reverse mode through the function transposes the JVP rule.
    """

    def __init__(self, fun: Callable) -> None:
        functools.update_wrapper(self, fun)
        self.fun = fun
        self._op: Op | None = None

    def defjvp(self, jvp_rule: Callable) -> Callable:
        fun = self.fun

        def forward(xp: Any, *raw: Any) -> Any:
            with no_grad():
                return _unwrap(fun(*[_wrap_raw(r) for r in raw]))

        def jvp_fn(xp: Any, tangents: tuple, out: Any, *primals: Any) -> Any:
            from .registry import ZERO

            ts = tuple(_zeros_like(p) if (t is ZERO and isinstance(p, Tensor)) else t
                       for t, p in zip(tangents, primals))
            _, t_out = jvp_rule(tuple(primals), ts)
            return t_out

        op = Op(f"custom_jvp:{getattr(fun, '__name__', 'f')}", _variadic(forward))
        op.defjvp(jvp_fn)
        op._complete()
        self._op = op
        return jvp_rule

    def __call__(self, *args: Any) -> Any:
        if self._op is None:
            return self.fun(*args)
        return apply(self._op, args, {})


def _variadic(forward: Callable) -> Callable:
    def fwd(xp: Any, *arrays: Any, **params: Any) -> Any:
        return forward(xp, *arrays, **params)
    return fwd


def _wrap_raw(r: Any) -> Any:
    if not isinstance(r, Tensor) and is_array(r):
        b = backend_of(r)
        return Tensor._make(b.wrap(r), b)
    return r


def _unwrap(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, tuple):
        return tuple(_unwrap(v) for v in x)
    return x
