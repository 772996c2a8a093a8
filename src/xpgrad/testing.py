"""Gradient checking, and the sample inputs the op table declares.

:func:`gradcheck` and :func:`gradgradcheck` are the public checks, with
PyTorch's signatures and behaviour: they compare xpgrad's first derivatives,
and the derivatives of those (the VJP differentiated with respect to the
inputs *and* the output cotangents), against central finite differences in
float64 — the whole Jacobian, or one random projection per input with
``fast_mode=True`` — and return ``True`` or raise :class:`GradcheckError`
saying which output and input disagree, by how much and where. Function
evaluations run on the inputs' device; differences are taken on the host.

:func:`check_grads`, which the op table's tests use, checks, in float64,

* the JVP against central finite differences (``fwd``),
* the VJP against that JVP by one random inner product, ⟨u, J v⟩ = ⟨Jᵀu, v⟩ (``rev``),

and recurses on the JVP and VJP functions up to ``order``, so order 2 covers
forward-over-forward, forward-over-reverse, reverse-over-forward and
reverse-over-reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .core.device import is_array
from .core.errors import DTypeError, NotDifferentiableError, ShapeError, XpgradError, describe
from .core.pytree import flatten, unflatten
from .core.registry import Sample
from .core.tape import no_grad
from .core.tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError", "check_grads", "check_jvp", "check_vjp",
           "materialize", "numerical_jvp"]


class GradcheckError(XpgradError, AssertionError):
    """A derivative xpgrad computes disagrees with finite differences.

    Raised by :func:`gradcheck`, :func:`gradgradcheck` and :func:`check_grads`;
    an ``AssertionError``, so test runners report it as a failed check.
    """


def _xg() -> Any:
    import xpgrad

    return xpgrad


def _host(x: Any) -> np.ndarray:
    return np.asarray(x.numpy() if isinstance(x, Tensor) else x, dtype=np.float64) \
        if not _is_complex(x) else np.asarray(x.numpy() if isinstance(x, Tensor) else x)


def _is_complex(x: Any) -> bool:
    return np.iscomplexobj(x.numpy() if isinstance(x, Tensor) else np.asarray(x))


def _diff_positions(args: Sequence[Any]) -> list[int]:
    out = []
    for i, a in enumerate(args):
        if isinstance(a, Tensor) and a._b.is_floating(a.dtype):
            out.append(i)
    return out


def _partial(f: Callable, args: Sequence[Any], pos: list[int]) -> Callable:
    def g(*d: Any) -> Any:
        full = list(args)
        for p, v in zip(pos, d):
            full[p] = v
        return f(*full)
    return g


def _outputs(y: Any) -> list[Tensor]:
    xg = _xg()
    return [v if isinstance(v, Tensor) else xg.asarray(v) for v in flatten(y)[0]]


def numerical_jvp(f: Callable, primals: Sequence[Tensor], tangents: Sequence[Tensor],
                  eps: float) -> list[np.ndarray]:
    """Central differences ``(f(x + εv) − f(x − εv)) / 2ε`` on the host, in float64."""
    with no_grad():
        plus = _outputs(f(*[p + eps * t for p, t in zip(primals, tangents)]))
        minus = _outputs(f(*[p - eps * t for p, t in zip(primals, tangents)]))
    return [(_host(a) - _host(b)) / (2 * eps) for a, b in zip(plus, minus)]


def _random_like(x: Tensor, rng: np.random.Generator) -> Tensor:
    xg = _xg()
    v = rng.standard_normal(x.shape)
    if xg.isdtype(x.dtype, "complex floating"):
        v = v + 1j * rng.standard_normal(x.shape)
    return xg.asarray(v, dtype=x.dtype, device=x.device)


def _inner(a: Sequence[Any], b: Sequence[Any]) -> float:
    """The real inner product Re Σ conj(a)·b: complex numbers as pairs of reals, so the VJP
    it checks is the adjoint PyTorch's conjugate-Wirtinger convention gives."""
    return float(sum(np.real(np.sum(np.conj(_host(x)) * _host(y))) for x, y in zip(a, b)))


def _close(actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float, what: str) -> None:
    if actual.shape != expected.shape:
        raise GradcheckError(f"{what}: shape {actual.shape} != expected {expected.shape}")
    if not np.allclose(actual, expected, atol=atol, rtol=rtol, equal_nan=True):
        err = np.max(np.abs(actual - expected)) if actual.size else 0.0
        raise GradcheckError(f"{what}: max abs error {err:.3g} (atol={atol}, rtol={rtol})\n"
                             f"  got      {np.array2string(actual, precision=6, threshold=20)}\n"
                             f"  expected {np.array2string(expected, precision=6, threshold=20)}")


def check_jvp(f: Callable, args: Sequence[Tensor], *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-5, rng: np.random.Generator | None = None) -> None:
    """JVP of ``f`` at ``args`` against central finite differences along a random direction."""
    xg = _xg()
    rng = rng or np.random.default_rng(0)
    tangents = [_random_like(a, rng) for a in args]
    _, t_ad = xg.jvp(f, tuple(args), tuple(tangents))
    t_num = numerical_jvp(f, args, tangents, eps)
    for k, (a, n) in enumerate(zip(_outputs(t_ad), t_num)):
        _close(_host(a), n, atol, rtol, f"JVP vs finite differences (output {k})")


def check_vjp(f: Callable, args: Sequence[Tensor], *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-5, rng: np.random.Generator | None = None) -> None:
    """VJP of ``f`` against the finite-difference JVP: ⟨u, J v⟩ = ⟨Jᵀu, v⟩ for random u, v."""
    xg = _xg()
    rng = rng or np.random.default_rng(1)
    out, f_vjp = xg.vjp(f, *args)
    outs = _outputs(out)
    us = [_random_like(o, rng) for o in outs]
    tree = flatten(out)[1]
    cts = f_vjp(unflatten(tree, us))
    vs = [_random_like(a, rng) for a in args]
    jv = numerical_jvp(f, args, vs, eps)
    lhs = _inner(us, jv)
    rhs = _inner(cts, vs)
    if not np.isclose(lhs, rhs, atol=atol, rtol=rtol):
        raise GradcheckError(f"VJP vs JVP: <u, J v> = {lhs:.10g} but <J^T u, v> = {rhs:.10g}")


def check_grads(f: Callable, args: Sequence[Any], order: int = 2,
                modes: Sequence[str] = ("fwd", "rev"), *, eps: float = 1e-6,
                atol: float | None = None, rtol: float | None = None, seed: int = 0) -> None:
    """Check ``f``'s derivatives at ``args`` up to ``order`` in the given modes; raise AssertionError.

    Floating-point Tensor arguments are differentiated (converted to float64);
    anything else is held fixed.

    >>> import xpgrad as xg
    >>> check_grads(xg.sin, (xg.asarray([0.5, 1.0]),), order=3)
    """
    xg = _xg()
    args = list(args)
    # Python numbers and lists become tensors on the device of the other arguments.
    device = next((a.device for a in args if isinstance(a, Tensor)), None)
    for i, a in enumerate(args):
        if isinstance(a, (float, list)):
            args[i] = xg.asarray(a, device=device)
        elif not isinstance(a, Tensor) and is_array(a):
            args[i] = xg.asarray(a)
        a = args[i]
        if isinstance(a, Tensor) and a._b.is_floating(a.dtype):
            # this library's float64 (complex128), not NumPy's
            f64 = a._b.dtype("complex128" if _is_complex(a) else "float64")
            if a.dtype != f64:
                args[i] = xg.astype(a.detach(), f64)
    pos = _diff_positions(args)
    if not pos:
        raise ValueError("check_grads: no floating-point Tensor argument to differentiate")
    g = _partial(f, args, pos)
    prim = [args[p] for p in pos]
    atol = 1e-5 if atol is None else atol
    rtol = 1e-5 if rtol is None else rtol
    rng = np.random.default_rng(seed)
    _check(g, prim, order, tuple(modes), eps, atol, rtol, rng)


def _check(f: Callable, args: list, order: int, modes: tuple, eps: float, atol: float,
           rtol: float, rng: np.random.Generator) -> None:
    xg = _xg()
    if "fwd" in modes:
        check_jvp(f, args, eps=eps, atol=atol, rtol=rtol, rng=rng)
        if order > 1:
            v = [_random_like(a, rng) for a in args]

            def f_jvp(*xs: Any) -> Any:
                return xg.jvp(f, tuple(xs), tuple(v))[1]
            _check(f_jvp, args, order - 1, modes, eps, atol * 10, rtol * 10, rng)
    if "rev" in modes:
        check_vjp(f, args, eps=eps, atol=atol, rtol=rtol, rng=rng)
        if order > 1:
            out = f(*args)
            leaves, tree = flatten(out)
            u = unflatten(tree, [_random_like(o, rng) for o in _outputs(out)])

            def f_vjp(*xs: Any) -> Any:
                return xg.vjp(f, *xs)[1](u)
            _check(f_vjp, args, order - 1, modes, eps, atol * 10, rtol * 10, rng)


# ---------------------------------------------------------------- gradcheck, gradgradcheck

def gradcheck(fn: Callable, inputs: Any, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, fast_mode: bool = False) -> bool:
    """Check ``fn``'s first derivatives at ``inputs`` against central finite differences.

    ``inputs`` is a Tensor or a tuple of arguments; the Tensors with
    ``requires_grad=True`` are differentiated (they must be float64 or
    complex128: in float32 a difference quotient's rounding error swamps the
    comparison), the other arguments are held fixed. ``fn`` returns a Tensor or
    a tuple (any pytree) of them; its floating outputs are checked.

    The full check (``fast_mode=False``) builds both Jacobians of every
    output with respect to every differentiated input: analytically, one VJP
    per output element; numerically, two evaluations of ``fn`` per input
    element, ``(f(x + eps e) - f(x - eps e)) / 2 eps``. They must agree
    elementwise: ``|analytical - numerical| <= atol + rtol |numerical|``.
    ``fast_mode=True`` compares one random projection per input instead,
    ``<u, J v>`` (finite differences along ``v``) with ``<J^T u, v>`` (one VJP).
    Complex numbers count as pairs of reals, with the conjugate-Wirtinger
    convention :func:`check_vjp` describes.

    Returns ``True``; on a mismatch raises :class:`GradcheckError` naming the
    output and input, the largest difference and where it is (or returns
    ``False`` with ``raise_exception=False``).

    >>> import xpgrad as xg
    >>> x = xg.asarray([0.5, 1.0, 2.0], requires_grad=True)
    >>> gradcheck(lambda v: xg.sin(v) * v, (x,))
    True
    """
    return _gradcheck(fn, _as_args(inputs), "gradcheck", _fn_name(fn), eps, atol, rtol,
                      raise_exception, fast_mode, _Labels())


class _Labels:
    """How a message names an output and an input of the checked function."""

    def output(self, k: int, n: int) -> str:
        return "the output" if n == 1 else f"output {k}"

    def input(self, p: int) -> str:
        return f"input {p}"


class _VJPLabels(_Labels):
    """gradgradcheck's names: the checked function is the VJP, (inputs, grad_outputs) -> gradients."""

    def __init__(self, pos: list[int], n: int) -> None:
        self.pos, self.n = pos, n

    def output(self, k: int, n: int) -> str:
        return f"the gradient for input {self.pos[k]}"

    def input(self, p: int) -> str:
        return f"input {p}" if p < self.n else f"grad_outputs[{p - self.n}]"


def _gradcheck(fn: Callable, args: tuple, who: str, name: str, eps: float, atol: float, rtol: float,
               raise_exception: bool, fast_mode: bool, labels: _Labels) -> bool:
    pos = _checked_positions(args, who, labels)
    prim = [args[p].detach() for p in pos]
    g = _partial(fn, args, pos)
    head = f"{who}({name}{', fast_mode=True' if fast_mode else ''})"
    try:
        if fast_mode:
            _fast_check(g, prim, pos, head, eps, atol, rtol, labels)
        else:
            _full_check(g, prim, pos, head, eps, atol, rtol, labels)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def gradgradcheck(fn: Callable, inputs: Any, grad_outputs: Any = None, *, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
                  fast_mode: bool = False) -> bool:
    """Check ``fn``'s second derivatives: :func:`gradcheck` of its VJP, ``(x, u) -> J(x)^T u``.

    The VJP is differentiated with respect to the inputs that require grad
    *and* the output cotangents ``grad_outputs`` (one per floating output) that
    require grad. With ``grad_outputs=None`` they are random (normal, seeded,
    float64 or complex128 like the outputs, on the outputs' device) and
    require grad. Arguments, tolerances and the result are :func:`gradcheck`'s;
    in an error message, inputs past ``inputs`` are ``grad_outputs[k]``.

    >>> import xpgrad as xg
    >>> x = xg.asarray([0.5, 1.0, 2.0], requires_grad=True)
    >>> gradgradcheck(lambda v: xg.sin(v) * v, (x,))
    True
    """
    xg = _xg()
    args = _as_args(inputs)
    pos = _checked_positions(args, "gradgradcheck")
    name = _fn_name(fn)
    with no_grad():
        out = fn(*args)
    leaves, tree = flatten(out)
    outs = _outputs(out)
    diff = [k for k, o in enumerate(outs) if o._b.is_floating(o.dtype)]
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        gos = []
        for k in diff:
            o = outs[k]
            f64 = o._b.dtype("complex128" if _is_complex(o) else "float64")
            v = rng.standard_normal(o.shape) + (1j * rng.standard_normal(o.shape) if _is_complex(o) else 0)
            gos.append(xg.asarray(np.asarray(v), dtype=f64, device=o.device).requires_grad_())
    else:
        gos = list(_as_args(grad_outputs))
        if len(gos) != len(diff):
            raise ShapeError(f"gradgradcheck({name}): {len(gos)} grad_outputs for {len(diff)} floating "
                             "outputs; give one cotangent per floating output, in order")
        for j, (k, u) in enumerate(zip(diff, gos)):
            if not isinstance(u, Tensor) or tuple(u.shape) != tuple(outs[k].shape):
                raise ShapeError(f"gradgradcheck({name}): grad_outputs[{j}] is {describe(u)} but output "
                                 f"{k} is {describe(outs[k])}; they must have the same shape")
    n = len(args)

    def vjp_of_fn(*all_args: Any) -> tuple:
        ins, us = all_args[:n], list(all_args[n:])
        value, f_vjp = xg.vjp(_partial(fn, ins, pos), *[ins[p] for p in pos])
        vals = flatten(value)[0]
        cts = []
        for v in vals:
            v = v if isinstance(v, Tensor) else xg.asarray(v)
            cts.append(us.pop(0) if v._b.is_floating(v.dtype) else xg.zeros_like(v))
        return tuple(f_vjp(unflatten(tree, cts)))

    if not leaves:
        return True
    return _gradcheck(vjp_of_fn, tuple(args) + tuple(gos), "gradgradcheck", name, eps, atol, rtol,
                      raise_exception, fast_mode, _VJPLabels(pos, n))


def _as_args(inputs: Any) -> tuple:
    if isinstance(inputs, Tensor):
        return (inputs,)
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs)
    raise DTypeError(f"expected a Tensor or a tuple of arguments, got {type(inputs).__name__}")


def _fn_name(fn: Callable) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


def _checked_positions(args: tuple, who: str, labels: "_Labels | None" = None) -> list[int]:
    """Indices of the Tensors that require grad; they must be float64 or complex128."""
    pos = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    if not pos:
        raise NotDifferentiableError(
            f"{who}: no input requires grad ({', '.join(describe(a) for a in args) or 'no inputs'}); "
            "create the inputs to differentiate with requires_grad=True")
    for i in pos:
        a = args[i]
        want = "complex128" if _is_complex(a) else "float64"
        if a.dtype != a._b.dtype(want):
            name = (labels or _Labels()).input(i)
            raise DTypeError(
                f"{who}: {name} is {describe(a)}; finite differences need {want} inputs (in lower "
                "precision the rounding error of (f(x + eps) - f(x - eps)) / 2 eps swamps the comparison); "
                f"convert with xpgrad.astype(x, xpgrad.{want})")
    return pos


def _coords(h: Any, complex_: bool) -> np.ndarray:
    """An array's values as real coordinates: the elements, or all real parts then all imaginary parts."""
    h = np.asarray(h).ravel()
    if complex_:
        return np.concatenate([h.real, h.imag]).astype(np.float64)
    return np.real(h).astype(np.float64)


def _unit(x: Tensor, c: int) -> Tensor:
    """A tangent or cotangent: one at real coordinate ``c`` of ``x`` (``1j`` past the real parts)."""
    xg = _xg()
    cplx = _is_complex(x)
    e = np.zeros(x.size, dtype=np.complex128 if cplx else np.float64)
    e[c % x.size] = 1j if c >= x.size else 1.0
    return xg.asarray(e.reshape(x.shape), dtype=x.dtype, device=x.device)


def _where(x: Tensor, c: int) -> str:
    """Real coordinate ``c`` of ``x`` as an element index (and which part, for complex numbers)."""
    k = c % x.size if x.size else 0
    idx = tuple(int(i) for i in np.unravel_index(k, x.shape)) if x.shape else ()
    part = "" if not _is_complex(x) else (" (imaginary part)" if c >= x.size else " (real part)")
    return f"{idx}{part}"


def _full_check(g: Callable, prim: list, pos: list[int], head: str, eps: float, atol: float,
                rtol: float, labels: _Labels) -> None:
    xg = _xg()
    value, f_vjp = xg.vjp(g, *prim)
    leaves, tree = flatten(value)
    outs = _outputs(value)
    checked = [k for k, o in enumerate(outs) if o._b.is_floating(o.dtype)]
    out_cplx = [_is_complex(o) for o in outs]
    in_cplx = [_is_complex(p) for p in prim]
    n_out = [o.size * (2 if c else 1) for o, c in zip(outs, out_cplx)]
    n_in = [p.size * (2 if c else 1) for p, c in zip(prim, in_cplx)]
    # analytical: row r of output k's Jacobian is the VJP of a unit cotangent there
    analytical = {(k, i): np.zeros((n_out[k], n_in[i])) for k in checked for i in range(len(prim))}
    zeros = [xg.zeros_like(o) for o in outs]
    for k in checked:
        for r in range(n_out[k]):
            cts = list(zeros)
            cts[k] = _unit(outs[k], r)
            grads = f_vjp(unflatten(tree, cts))
            for i, gi in enumerate(grads):
                analytical[(k, i)][r] = _coords(_host(gi), in_cplx[i])
    # numerical: column c of every output's Jacobian by central differences along unit direction c
    numerical = {(k, i): np.zeros((n_out[k], n_in[i])) for k in checked for i in range(len(prim))}
    for i, p in enumerate(prim):
        for c in range(n_in[i]):
            tangents = [xg.zeros_like(q) for q in prim]
            tangents[i] = _unit(p, c)
            cols = numerical_jvp(g, prim, tangents, eps)
            for k in checked:
                numerical[(k, i)][:, c] = _coords(cols[k], out_cplx[k])
    for k in checked:
        for i in range(len(prim)):
            a, num = analytical[(k, i)], numerical[(k, i)]
            if a.size and not np.allclose(a, num, atol=atol, rtol=rtol):
                diff = np.abs(a - num)
                diff[np.isnan(diff)] = np.inf
                r, c = np.unravel_index(int(np.argmax(diff)), diff.shape)
                raise GradcheckError(
                    f"{head}: the Jacobian of {labels.output(k, len(outs))} with respect to "
                    f"{labels.input(pos[i])} disagrees with finite differences: max abs difference "
                    f"{diff[r, c]:.6g} at output element {_where(outs[k], r)}, input element "
                    f"{_where(prim[i], c)}: analytical (xpgrad) {a[r, c]:.10g}, numerical {num[r, c]:.10g} "
                    f"(eps={eps}, atol={atol}, rtol={rtol})\n"
                    f"  analytical {np.array2string(a, precision=6, threshold=50)}\n"
                    f"  numerical  {np.array2string(num, precision=6, threshold=50)}")


def _fast_check(g: Callable, prim: list, pos: list[int], head: str, eps: float, atol: float,
                rtol: float, labels: _Labels) -> None:
    rng = np.random.default_rng(0)
    for i in range(len(prim)):
        def only_i(x: Tensor, i: int = i) -> Any:
            return g(*prim[:i], x, *prim[i + 1:])
        try:
            check_vjp(only_i, [prim[i]], eps=eps, atol=atol, rtol=rtol, rng=rng)
        except GradcheckError as exc:
            raise GradcheckError(
                f"{head}: the derivative with respect to "
                f"{labels.input(pos[i])} ({describe(prim[i])}) disagrees with finite differences along a "
                f"random direction v and cotangent u: {exc} (eps={eps}, atol={atol}, rtol={rtol}); "
                "run with fast_mode=False to see which elements") from None


# ---------------------------------------------------------------- op samples

def materialize(sample: Sample, *, dtype: Any = None, device: Any = None,
                rng: np.random.Generator | None = None) -> tuple[list, dict]:
    """Turn a :class:`Sample`'s specs into Tensors on ``device`` (floats in ``dtype``)."""
    xg = _xg()
    rng = rng or np.random.default_rng(0)
    dtype = dtype or xg.float64

    def param(v: Any) -> Any:  # "@device" in a sample's params stands for the device under test
        return (device or "cpu") if isinstance(v, str) and v == "@device" else v

    def make(spec: Any) -> Any:
        if isinstance(spec, tuple) and spec and isinstance(spec[0], str):
            kind, shape = spec[0], spec[1]
            if kind == "randn":
                v = rng.standard_normal(shape)
            elif kind == "rand":
                v = rng.uniform(spec[2], spec[3], shape)
            elif kind == "pos":
                v = rng.uniform(0.5, 2.0, shape)
            elif kind == "values":  # fixed numbers: ties, zeros, extremes
                v = np.asarray(spec[1], dtype=np.float64)
            elif kind == "away":  # |v| >= spec[2]: away from a kink at zero
                v = rng.uniform(spec[2], 2.0, shape) * rng.choice([-1.0, 1.0], shape)
            elif kind == "crandn":  # complex: complex128 in float64 tests, complex64 in float32 ones
                v = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
                cdt = xg.complex64 if dtype == xg.float32 else xg.complex128
                return xg.asarray(np.asarray(v), dtype=cdt, device=device)
            elif kind == "int":
                return xg.asarray(rng.integers(spec[2], spec[3], shape), dtype=xg.int64, device=device)
            elif kind == "bool":
                return xg.asarray(rng.random(shape) < 0.5, device=device)
            elif kind == "spd":  # symmetric positive definite (n, n)
                a = rng.standard_normal(shape)
                v = a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])
            else:
                raise ValueError(f"unknown sample spec {spec!r}")
            return xg.asarray(np.asarray(v), dtype=dtype, device=device)
        if isinstance(spec, list) and spec and isinstance(spec[0], tuple):
            return [make(s) for s in spec]
        return spec
    return [make(a) for a in sample.args], {k: param(v) for k, v in sample.params.items()}
