"""The one tolerance table of the conformance suite.

Every numerical comparison the suite makes reads :data:`TOLERANCES` through
:func:`tolerance`. A comparison passes when, element by element,

    |got − expected| <= atol + rtol · |expected|            (elementwise entries)
    |got − expected| <= atol + rtol · max |expected|        (entries marked norm=True)

where ``expected`` comes from the float64 reference on the CPU (forward results),
from the op's generic forward on the same device (kernels) or from central
differences (derivatives); NaN equals NaN and equal infinities are equal.
Integer and boolean results are compared exactly.

Norm-wise bounds are the usual accuracy statement for sums of products (BLAS,
convolutions, reductions): an output that cancels to nearly zero carries the
absolute rounding error of its large terms, which no elementwise relative
bound can promise.

Keys are ``(kind, op)``: ``kind`` is the dtype of the result for forward
results and kernel comparisons (``"float32"``, ``"float64"``), or the
derivative check (``"jvp"``, ``"vjp"``, ``"order2"``, each with a ``-float32``
variant used on devices without float64); ``op`` is an op name, or ``"*"`` for
every op not listed. A third-party op that needs a looser bound adds its own
entry (``TOLERANCES[("float32", "my_op")] = Tol(1e-4, 1e-5)``) before the run,
with a comment saying why, as below.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["TOLERANCES", "FD_EPS", "Tol", "tolerance", "table_rows", "assert_close"]


class Tol(NamedTuple):
    """A bound: ``|got − expected| <= atol + rtol · (|expected|, or max |expected| when norm)``."""

    rtol: float
    atol: float
    norm: bool = False

#: Step of the central differences ``(f(x + εv) − f(x − εv)) / 2ε``, in float64 on the CPU.
#: Truncation error ~ε²·|f'''| ≈ 1e-12, rounding error ~1e-16·|f| / ε ≈ 1e-10·|f|.
FD_EPS = 1e-6

#: (kind, op) -> Tol(rtol, atol, norm). ``"*"``: every op not listed. One comment per entry says why.
TOLERANCES: dict[tuple[str, str], Tol] = {
    # -- float32 results (forward and kernels) against the float64 reference ------------------------
    # Default: 1e-5 is ~84 float32 ulps (2^-23 ≈ 1.2e-7): correctly rounded arithmetic or a libm /
    # OpenCL built-in within a few ulps, plus the rounding of the result; atol 1e-6 covers results
    # that cancel to ~0 (sin near π, x − y with x ≈ y), where a relative bound means nothing.
    ("float32", "*"): Tol(1e-5, 1e-6),                      # every other op: see the note above
    # float16 kernels (half-precision products) against the generic forward in float16: eps 2^-11 ≈ 4.9e-4,
    # and the generic forward may accumulate in float16 where a kernel accumulates in float32
    ("float16", "*"): Tol(1e-2, 1e-3, norm=True),           # ~20 float16 ulps, norm-wise: see above
    # Sums of products ("contractions"): K roundings in whatever order the device sums (tiles of a
    # systolic array, a tree on OpenCL); bounded norm-wise, relative to the largest output, as BLAS
    # states its accuracy. The kernel checks scale samples up to 16x (K up to ~2000).
    ("float32", "matmul"): Tol(1e-5, 1e-6, norm=True),      # sum of products, a contraction
    ("float32", "tensordot"): Tol(1e-5, 1e-6, norm=True),   # sum of products, a contraction
    ("float32", "einsum"): Tol(1e-5, 1e-6, norm=True),      # sums of products, chained (3 operands)
    ("float32", "conv2d"): Tol(1e-5, 1e-6, norm=True),      # im2col sum of products, K = C·kh·kw
    ("float32", "sum"): Tol(1e-5, 1e-6, norm=True),         # a sum of N terms of either sign cancels
    ("float32", "mean"): Tol(1e-5, 1e-6, norm=True),        # a sum, divided by N
    ("float32", "cumulative_sum"): Tol(1e-5, 1e-6, norm=True),  # running sums cancel like sums
    ("float32", "var"): Tol(3e-5, 3e-6),    # subtracts the mean: relative error grows by |x|²/var
    ("float32", "std"): Tol(3e-5, 3e-6),    # sqrt(var): half var's relative error, plus the sqrt
    ("float32", "prod"): Tol(3e-5, 3e-6),   # N factors: N relative roundings add up
    ("float32", "logsumexp"): Tol(3e-5, 3e-6),    # exp of shifted values, a sum, a log
    ("float32", "softmax"): Tol(3e-5, 3e-6),      # exp, a sum, a division
    ("float32", "log_softmax"): Tol(3e-5, 3e-6),  # x − logsumexp(x): cancels when one term dominates
    ("float32", "tan"): Tol(3e-5, 3e-6),    # condition number |2x / sin 2x| reaches ~3 at ±1.2 rad
    ("float32", "pow"): Tol(3e-5, 3e-6),    # x^y: a relative error of y·log x on top of exp/log's
    # Matrix functions: repeated square roots / squarings and Padé solves each add rounding errors
    # amplified by the function's condition number (κ_log grows like 1/min|1 − λ| after the roots).
    ("float32", "matrix_log"): Tol(1e-4, 1e-5),   # inverse scaling and squaring: k square roots, Padé
    ("float32", "matrix_sqrt"): Tol(1e-4, 1e-5),  # Denman–Beavers: inverses at every iteration
    ("float32", "matrix_exp"): Tol(1e-4, 1e-5),   # scaling and squaring: s squarings amplify rounding
    # -- float64 results --------------------------------------------------------------------------
    # Default: 1e-11 is ~45 000 float64 ulps (2^-52 ≈ 2.2e-16): generous for any correct float64
    # computation, yet far below float32's precision, so a backend that claims float64 but computes in
    # float32 (relative error ~1e-8) fails.
    ("float64", "*"): Tol(1e-11, 1e-13),                    # every other op: see the note above
    # Contractions and sums, norm-wise as in float32.
    ("float64", "matmul"): Tol(1e-11, 1e-13, norm=True),     # sum of products, a contraction
    ("float64", "tensordot"): Tol(1e-11, 1e-13, norm=True),  # sum of products, a contraction
    ("float64", "einsum"): Tol(1e-11, 1e-13, norm=True),     # sums of products, chained
    ("float64", "conv2d"): Tol(1e-11, 1e-13, norm=True),     # im2col sum of products
    ("float64", "sum"): Tol(1e-11, 1e-13, norm=True),        # a sum of N terms cancels
    ("float64", "mean"): Tol(1e-11, 1e-13, norm=True),       # a sum, divided by N
    ("float64", "cumulative_sum"): Tol(1e-11, 1e-13, norm=True),  # running sums
    # -- derivatives, in float64 on the device, against float64 central differences on the CPU ----------
    # Derivatives of the samples are O(1) and FD_EPS makes the differences good to ~1e-9, so 1e-5 only
    # absorbs the sample's conditioning (the bound of xpgrad.testing.check_grads).
    ("jvp", "*"): Tol(1e-5, 1e-5),      # J·v (forward mode) against central differences along v
    ("vjp", "*"): Tol(1e-5, 1e-5),      # <J^T u, v> (reverse mode) against <u, J v> (differences)
    ("order2", "*"): Tol(1e-4, 1e-4),   # the same on the first derivative: 10x, as check_grads recurses
    # -- derivatives on devices without float64: AD in float32 against float64 differences -------------
    ("jvp-float32", "*"): Tol(2e-4, 2e-5),     # float32 rounding of every intermediate: ~1e-6 each
    ("vjp-float32", "*"): Tol(2e-4, 2e-5),     # an inner product of float32 cotangents
    ("order2-float32", "*"): Tol(2e-3, 2e-4),  # rounding errors differentiated once more
}


def tolerance(kind: str, op: str) -> Tol:
    """The :class:`Tol` for ``kind`` (a dtype name or a derivative check) and op ``op``.

    >>> tolerance("float32", "exp")
    Tol(rtol=1e-05, atol=1e-06, norm=False)
    >>> tolerance("float32", "matmul").norm
    True
    """
    # A complex result is compared as its real and imaginary parts: the bounds of its real precision.
    kind = {"complex64": "float32", "complex128": "float64"}.get(kind, kind)
    for key in ((kind, op), (kind, "*")):
        if key in TOLERANCES:
            return TOLERANCES[key]
    if kind.startswith("float"):  # float16, bfloat16...: a relative bound from the dtype's precision
        import numpy as np

        try:
            eps = float(np.finfo(kind).eps)
        except TypeError:
            eps = 2.0 ** -7
        return Tol(100 * eps, 10 * eps)
    raise KeyError(f"no tolerance for {kind!r} (op {op!r}); add ({kind!r}, '*') to TOLERANCES")


def table_rows() -> list[dict[str, Any]]:
    """The table as rows, for the reports."""
    return [{"kind": k, "op": o, "rtol": t.rtol, "atol": t.atol, "norm": t.norm}
            for (k, o), t in TOLERANCES.items()]


def bound(expected: Any, tol: Tol) -> Any:
    """The allowed absolute error for each element of ``expected`` (a NumPy array)."""
    import numpy as np

    mag = np.abs(np.where(np.isfinite(expected), expected, 0))
    if tol.norm:
        mag = np.full(mag.shape, float(np.max(mag)) if mag.size else 0.0)
    return tol.atol + tol.rtol * mag


def assert_close(got: Any, expected: Any, kind: str, op: str) -> None:
    """Raise AssertionError unless ``got`` is within the table's bound of ``expected`` (as the suite does)."""
    import numpy as np

    g, e = np.asarray(got), np.asarray(expected)
    if g.shape != e.shape:
        raise AssertionError(f"shape {g.shape}, expected {e.shape}")
    if not (g.dtype.kind in "fc" or e.dtype.kind in "fc"):
        np.testing.assert_array_equal(g, e)
        return
    tol = tolerance(kind, op)
    g64, e64 = g.astype(np.complex128 if g.dtype.kind == "c" else np.float64), \
        e.astype(np.complex128 if e.dtype.kind == "c" else np.float64)
    same = (g64 == e64) | (np.isnan(g64) & np.isnan(e64))
    with np.errstate(all="ignore"):
        err = np.where(same, 0.0, np.abs(g64 - e64))
    err = np.where(np.isnan(err), np.inf, err)
    lim = bound(e64, tol)
    if np.any(err > lim):
        j = tuple(int(i) for i in np.unravel_index(int(np.argmax(err / lim)), err.shape)) if err.ndim else ()
        how = ", norm-wise" if tol.norm else ""
        raise AssertionError(f"max abs error {float(np.max(err)):.3g} ({kind} bound: rtol={tol.rtol:g}, "
                             f"atol={tol.atol:g}{how}); worst at {j}: got {g[j]}, expected {e[j]}")
