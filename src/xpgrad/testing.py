"""Gradient checking, and the sample inputs the op table declares.

:func:`check_grads` checks, in float64,

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
from .core.pytree import flatten
from .core.registry import Sample
from .core.tape import no_grad
from .core.tensor import Tensor

__all__ = ["check_grads", "check_jvp", "check_vjp", "materialize", "numerical_jvp"]


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
        raise AssertionError(f"{what}: shape {actual.shape} != expected {expected.shape}")
    if not np.allclose(actual, expected, atol=atol, rtol=rtol, equal_nan=True):
        err = np.max(np.abs(actual - expected)) if actual.size else 0.0
        raise AssertionError(f"{what}: max abs error {err:.3g} (atol={atol}, rtol={rtol})\n"
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
    from .core.pytree import unflatten

    cts = f_vjp(unflatten(tree, us))
    vs = [_random_like(a, rng) for a in args]
    jv = numerical_jvp(f, args, vs, eps)
    lhs = _inner(us, jv)
    rhs = _inner(cts, vs)
    if not np.isclose(lhs, rhs, atol=atol, rtol=rtol):
        raise AssertionError(f"VJP vs JVP: <u, J v> = {lhs:.10g} but <J^T u, v> = {rhs:.10g}")


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
            from .core.pytree import unflatten

            leaves, tree = flatten(out)
            u = unflatten(tree, [_random_like(o, rng) for o in _outputs(out)])

            def f_vjp(*xs: Any) -> Any:
                return xg.vjp(f, *xs)[1](u)
            _check(f_vjp, args, order - 1, modes, eps, atol * 10, rtol * 10, rng)


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
