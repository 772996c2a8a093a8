"""The linalg extension's matrix and vector functions, with gradients.

Exported under ``xpgrad.linalg`` (the names in ``LINALG``), not in the main namespace:
``diagonal``, ``trace``, ``outer``, ``cross``, ``det``, ``slogdet``, ``inv``, ``solve``,
``matrix_power``, ``matrix_norm`` and ``vector_norm`` with the standard's signatures, and
beyond it ``adjugate``, ``matrix_exp``, ``matrix_log`` and ``matrix_sqrt``. Every function
takes stacks of matrices ``(..., M, N)``, real or complex.

Conventions (the math behind each rule is in the comments next to it):

* Complex inputs follow the conjugate-Wirtinger convention of docs/design.md: a JVP is the
  R-linear directional derivative, a VJP its adjoint under ``Re Σ conj(a)·b``, so a linear
  map's VJP is its conjugate transpose (``inv``: ``Ā = −Xᴴ Ḡ Xᴴ``).
* ``det``'s gradient is the adjugate, ``Ā = ḡ·adj(A)ᴴ``, never ``det(A)·A⁻ᴴ``: that is 0·∞
  at a singular matrix, while the adjugate is a polynomial in the entries and finite
  everywhere. It is computed from an SVD ``A = U S Vᴴ`` as
  ``adj(A) = det(U) det(Vᴴ) · V diag(p) Uᴴ`` with ``p_i = Π_{j≠i} s_j`` (products, no
  division), which is exact at any rank. Its derivative (``det``'s second) is finite
  everywhere too: ``d adj(A)[E] = φ V D(Uᴴ E V) Uᴴ`` with
  ``D(Ẽ) = diag(P·diag(Ẽ)) − Ẽ∘P`` and ``P_ij = Π_{k∉{i,j}} s_k`` (the first-order
  cofactor expansion of ``adj`` at a diagonal matrix). Only ``det``'s third derivative
  goes through the SVD's own derivative (degenerate at repeated singular values).
* ``slogdet``: ``d log det = tr(A⁻¹ dA) = w``; ``logabsdet`` moves by ``Re w`` and a complex
  ``sign`` by ``sign·i·Im w``; a real ``sign`` is piecewise constant (zero derivative).
* ``solve(x1, x2)`` follows the 2024.12 rule: ``x2`` is a vector only when it is 1-D
  (shape ``(M,)``, result ``x1.shape[:-2] + (M,)``); otherwise it is a stack of ``(M, K)``
  matrices whose batch dimensions broadcast against ``x1``'s.
* Singular matrices: ``inv``, ``solve`` and negative ``matrix_power`` raise
  :class:`~xpgrad.OpError` naming the function, shape and dtype (NumPy's
  ``LinAlgError``, reworded; ``OpError`` is a ``ValueError`` as ``LinAlgError`` is).
* Norms: the gradient of a norm at the zero vector or matrix is 0 (a subgradient), never
  nan, at every order (denominators are made safe before dividing). ``ord=inf``/``-inf``,
  ``1``/``-1`` and the spectral norms split the gradient evenly among tied extrema, like
  ``max``. An entry equal to 0 gets gradient 0 for every ``ord`` (a subgradient for
  ``ord ≥ 1``, a convention for ``ord < 1`` where the derivative is infinite); ``ord=0``
  counts nonzeros and has gradient 0. ``nuc``, ``2`` and ``-2`` use the SVD: their
  gradients are ``U Vᴴ`` and ``u₁ v₁ᴴ`` (``u_n v_nᴴ``), well defined when the singular
  values involved are distinct and nonzero; a singular value that is exactly 0 contributes
  nothing (``nuc`` at a rank-deficient matrix: the subgradient ``Σ_{s_i>0} u_i v_iᴴ``).
* ``matrix_exp``: scaling and squaring with a diagonal Padé approximant (Higham, SIAM J.
  Matrix Anal. Appl. 26, 2005: degree 3–13 chosen by the 1-norm, the θ_m bounds of that
  paper; degree ≤ 7 in single precision), one ``solve``; each matrix of a stack is scaled
  by its own 2^s. ``matrix_sqrt``: the product form of the Denman–Beavers iteration with
  determinant scaling (Higham, *Functions of Matrices*, 2008, §6.3). ``matrix_log``:
  inverse scaling and squaring — square roots until ``‖A^{1/2^k} − I‖₁ ≤ 1/4``, then the
  [8/8] Padé approximant of ``log(I + X)`` in partial fractions (Gauss–Legendre quadrature
  of ``∫₀¹ X (I + tX)⁻¹ dt``; the Gauss error bound at ‖X‖₁ = 1/4 is 3e-18), times 2^k.
  ``matrix_sqrt``/``matrix_log`` need every eigenvalue off the closed negative real axis
  (0 included), where the principal functions are smooth: a singular matrix, or a real
  matrix with a negative eigenvalue (its roots and logarithms are complex), or a complex
  one with an eigenvalue exactly on the cut, makes the iteration break down, which raises
  :class:`~xpgrad.OpError`; nothing is returned silently wrong. (SciPy's Schur-based
  ``sqrtm`` returns a complex root on the cut; the standard has no Schur decomposition.)
* Gradients of the three matrix functions use the block identity
  ``f([[B, E], [0, B]]) = [[f(B), L_f(B, E)], [0, f(B)]]`` for the Fréchet derivative
  ``L_f`` (Higham 2008, Thm 3.6). JVP ``L_f(A, T)``; VJP ``L_f(Aᴴ, Ḡ)``, its adjoint,
  because exp, the principal log and sqrt commute with conjugation. For ``matrix_sqrt`` this
  *is* the solution of the Sylvester equation ``X dX + dX X = dA`` (the upper-right block
  of the root of the block matrix). Cost: one function evaluation on a ``2n × 2n`` matrix
  per derivative order (8× the flops; ``4n × 4n`` for second derivatives), with ``E``
  scaled to ``B``'s size first for accuracy. Exact, and pure Array API, but the way to
  go for small and moderate ``n``; a Schur-based Sylvester solver would be cheaper for
  large ``n`` and the standard has no Schur decomposition.

Forwards call the backend's ``xp.linalg`` where the standard has the function (``det``,
``slogdet``, ``inv``, ``solve``, ``svd``, ``svdvals``) and are written in pure Array API
otherwise; rules call other ops through :func:`~xpgrad.ops._structure.call` and the
decompositions through ``xp.linalg.*`` (``xpgrad.linalg`` on Tensors).
"""

from __future__ import annotations

import math
import operator
from fractions import Fraction
from typing import Any, NamedTuple

from ..core.errors import DTypeError, OpError, ShapeError, XpgradError
from ..core.registry import ZERO, defop
from ..core.tape import broadcast_problem
from ._structure import S, call, conj, crandn, is_complex, mm, randn
from ._structure import mH as _H

LINALG = ("adjugate", "cross", "det", "diagonal", "inv", "matrix_exp", "matrix_log", "matrix_norm",
          "matrix_power", "matrix_sqrt", "outer", "slogdet", "solve", "trace", "vector_norm")


# ---------------------------------------------------------------- helpers


def _re(xp, a):
    return xp.real(a) if is_complex(xp, a) else a


def _desc(x):
    return f"{tuple(x.shape)} {x.dtype}"


def _check(who, xp, x, *, square=True, floating=True):
    shape = tuple(x.shape)
    if len(shape) < 2:
        raise ShapeError(f"{who}: expected a matrix or a stack of matrices (..., M, "
                         f"{'M' if square else 'N'}), got shape {shape}")
    if square and shape[-1] != shape[-2]:
        raise ShapeError(f"{who}: expected square matrices (..., M, M), got shape {shape}")
    if floating and not xp.isdtype(x.dtype, ("real floating", "complex floating")):
        raise DTypeError(f"{who}: expected a floating-point array, got {_desc(x)}; convert it first, "
                         "e.g. astype(x, float64)")


def _lapack(who, what, fn, *arrays):
    """Call a backend solver; reword its singular-matrix failure as an xpgrad error."""
    try:
        return fn(*arrays)
    except (XpgradError, MemoryError, Warning):    # a warning turned error (overflow) is no singularity
        raise
    except Exception as exc:
        raise OpError(f"{who}: {' and '.join(_desc(a) for a in arrays)}: {what} is singular (not "
                      f"invertible) to working precision — {type(exc).__name__}: {exc}") from exc


def _eye(xp, n, like):
    return xp.eye(n, dtype=like.dtype, device=like.device)


def _mat(xp, g):
    """A batch of scalars ``(...)`` as ``(..., 1, 1)``: broadcasts against the matrices."""
    return xp.reshape(g, tuple(g.shape) + (1, 1))


# ---------------------------------------------------------------- diagonal, trace


def _diag_len(m, n, k):
    return max(0, min(m, n - k) if k >= 0 else min(m + k, n))


@defop("diagonal")
def diagonal(xp, x, /, *, offset=0):
    """The ``offset``-th diagonal of each matrix of ``x`` (..., M, N), as (..., K).

    >>> import xpgrad as xg
    >>> xg.linalg.diagonal(xg.asarray([[1.0, 2.0], [3.0, 4.0]]), offset=1).tolist()
    [2.0]
    """
    _check("diagonal", xp, x, square=False, floating=False)
    offset = operator.index(offset)
    m, n = x.shape[-2:]
    k = _diag_len(m, n, offset)
    flat = xp.reshape(x, tuple(x.shape[:-2]) + (m * n,))
    start = offset if offset >= 0 else -offset * n     # element (i, i + offset) is at start + i·(n + 1)
    d = flat[..., start:start + (k - 1) * (n + 1) + 1:n + 1] if k else flat[..., 0:0]
    return xp.asarray(d, copy=True)                    # never a view of the input


def _diag_embed(xp, d, m, n, offset):
    """``d`` (..., K) on the ``offset``-th diagonal of zeros (..., m, n): diagonal's adjoint.

    Rows ``[d_i, 0 × n]`` flattened put ``d_i`` every ``n + 1`` elements; zeros before
    (the diagonal's start) and after fill the flat matrix. Memory O(m·n), no scatter.
    """
    batch = tuple(d.shape[:-1])
    k = d.shape[-1]
    zeros = lambda *s: xp.zeros(batch + s, dtype=d.dtype, device=d.device)  # noqa: E731
    if k == 0 or m * n == 0:
        return zeros(m, n)
    rows = xp.concat([xp.reshape(d, batch + (k, 1)), zeros(k, n)], axis=-1)
    rows = xp.reshape(rows, batch + (k * (n + 1),))
    start = offset if offset >= 0 else -offset * n
    parts = ([zeros(start)] if start else []) + [rows]
    length = start + k * (n + 1)
    if length < m * n:
        parts.append(zeros(m * n - length))
    flat = xp.concat(parts, axis=-1) if len(parts) > 1 else rows
    return xp.reshape(flat[..., :m * n], batch + (m, n))


diagonal.defvjp(lambda xp, g, out, x, offset=0: _diag_embed(xp, g, x.shape[-2], x.shape[-1], offset))
diagonal.defjvp(lambda xp, t, out, x, offset=0: call(diagonal, xp, t, offset=offset))


@defop("trace")
def trace(xp, x, /, *, offset=0, dtype=None):
    """The sum of the ``offset``-th diagonal of each matrix (``dtype`` as in ``sum``).

    >>> import xpgrad as xg
    >>> float(xg.linalg.trace(xg.asarray([[1.0, 2.0], [3.0, 4.0]])))
    5.0
    """
    _check("trace", xp, x, square=False, floating=False)
    return xp.sum(call(diagonal, xp, x, offset=offset), axis=-1, dtype=dtype)


def _trace_vjp(xp, g, out, x, offset=0, dtype=None):
    k = _diag_len(x.shape[-2], x.shape[-1], offset)
    d = xp.broadcast_to(xp.reshape(g, tuple(g.shape) + (1,)), tuple(g.shape) + (k,))
    return _diag_embed(xp, d, x.shape[-2], x.shape[-1], offset)


trace.defvjp(_trace_vjp)
trace.defjvp(lambda xp, t, out, x, offset=0, dtype=None: call(trace, xp, t, offset=offset, dtype=dtype))


# ---------------------------------------------------------------- outer, cross


@defop("outer")
def outer(xp, x1, x2, /):
    """``x1[i]·x2[j]`` for 1-D ``x1`` (M,) and ``x2`` (N,): an (M, N) matrix (no conjugation).

    >>> import xpgrad as xg
    >>> xg.linalg.outer(xg.asarray([1.0, 2.0]), xg.asarray([3.0, 4.0, 5.0])).shape
    (2, 3)
    """
    if x1.ndim != 1 or x2.ndim != 1:
        raise ShapeError(f"outer: both inputs must be 1-D vectors, got shapes {tuple(x1.shape)} and "
                         f"{tuple(x2.shape)}; for stacks use x1[..., :, None] * x2[..., None, :]")
    return xp.reshape(x1, (x1.shape[0], 1)) * xp.reshape(x2, (1, x2.shape[0]))


outer.defvjp(lambda xp, g, out, x1, x2: mm(xp, g, conj(xp, x2)),     # x̄1 = Ḡ conj(x2)
             lambda xp, g, out, x1, x2: mm(xp, conj(xp, x1), g))     # x̄2 = Ḡᵀ conj(x1)
outer.defjvp(lambda xp, t, out, x1, x2: call(outer, xp, t, x2),
             lambda xp, t, out, x1, x2: call(outer, xp, x1, t))


def _cross_axis(x1, x2, axis):
    s1, s2 = tuple(x1.shape), tuple(x2.shape)
    n = min(len(s1), len(s2))
    if axis >= 0 and len(s1) == len(s2):
        axis -= len(s1)
    if n == 0 or not -n <= axis <= -1:
        raise ShapeError(f"cross: axis {axis} is out of range for inputs of shapes {s1} and {s2}; it must "
                         f"be negative, in [-{max(n, 1)}, -1]")
    if s1[axis] != 3 or s2[axis] != 3:
        raise ShapeError(f"cross: {s1} and {s2}: both inputs need 3 components along axis {axis}")
    msg = broadcast_problem([s1, s2])
    if msg:
        raise ShapeError(f"cross: {s1} and {s2}: {msg}")
    return axis


def _component(a, i, axis):
    return a[(Ellipsis, i) + (slice(None),) * (-axis - 1)]


@defop("cross", broadcasting=True)
def cross(xp, x1, x2, /, *, axis=-1):
    """The cross product of 3-vectors along ``axis``, broadcasting the other dimensions.

    >>> import xpgrad as xg
    >>> xg.linalg.cross(xg.asarray([1.0, 0.0, 0.0]), xg.asarray([0.0, 1.0, 0.0])).tolist()
    [0.0, 0.0, 1.0]
    """
    axis = _cross_axis(x1, x2, axis)
    a0, a1, a2 = (_component(x1, i, axis) for i in range(3))
    b0, b1, b2 = (_component(x2, i, axis) for i in range(3))
    return xp.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=axis)


# ⟨Ḡ, dx1 × x2⟩ = Re Σ conj(Ḡ)·(dx1 × x2) = Re Σ dx1·(x2 × conj(Ḡ)): x̄1 = conj(x2) × Ḡ;
# likewise x̄2 = Ḡ × conj(x1). The engine sums them back over broadcast dimensions.
cross.defvjp(lambda xp, g, out, x1, x2, axis=-1: call(cross, xp, conj(xp, x2), g, axis=axis),
             lambda xp, g, out, x1, x2, axis=-1: call(cross, xp, g, conj(xp, x1), axis=axis))
cross.defjvp(lambda xp, t, out, x1, x2, axis=-1: call(cross, xp, t, x2, axis=axis),
             lambda xp, t, out, x1, x2, axis=-1: call(cross, xp, x1, t, axis=axis))


# ---------------------------------------------------------------- det, adjugate


@defop("det")
def det(xp, x, /):
    """The determinant of each square matrix; its gradient is the adjugate (finite when singular).

    >>> import xpgrad as xg
    >>> round(float(xg.linalg.det(xg.asarray([[2.0, 1.0], [1.0, 3.0]]))), 12)
    5.0
    """
    _check("det", xp, x)
    return xp.linalg.det(x)


def _svd(xp, x):
    u, s, vh = xp.linalg.svd(x, full_matrices=False)
    return u, s, vh


def _mask(xp, n, like):
    return _eye(xp, n, like) == 1


def _others(xp, s):
    """``p_i = Π_{j≠i} s_j`` by products of masked copies (no division: exact when some s_j = 0)."""
    n = s.shape[-1]
    return xp.prod(xp.where(_mask(xp, n, s), xp.ones_like(s)[..., None, :], s[..., None, :]), axis=-1)


def _pairs(xp, s, p):
    """``P_ij = Π_{k∉{i,j}} s_k`` (i ≠ j), ``P_ii = 0``, in O(n²) memory.

    ``P_ij = p_i / s_j`` dividing by the larger of ``s_i``, ``s_j`` (then the quotient is a
    product of the others to rounding, and the smaller one never enters); when both are 0,
    ``P_ij`` is the product of the nonzero ``s`` if they are the only zeros, else 0.
    """
    si, sj = s[..., :, None], s[..., None, :]
    den = xp.maximum(si, sj)
    num = xp.where(sj >= si, p[..., :, None], p[..., None, :])
    ok = den > 0
    zero = s == 0
    nzero = xp.sum(xp.astype(zero, s.dtype), axis=-1)
    rest = xp.prod(xp.where(zero, xp.ones_like(s), s), axis=-1)
    both = _mat(xp, xp.where(nzero == 2, rest, xp.zeros_like(rest)))
    pm = xp.where(ok, num / xp.where(ok, den, xp.ones_like(den)), both)
    return xp.where(_mask(xp, s.shape[-1], s), xp.zeros_like(pm), pm)


def _phase(xp, u, vh):
    """``det(U)·det(Vᴴ)``: ±1 for real matrices, of modulus 1 for complex ones."""
    return call(det, xp, u) * call(det, xp, vh)


def _dadj(xp, e, s):
    """The derivative of ``adj`` at ``diag(s)`` in direction ``e``: ``diag(P·diag(e)) − e∘P``."""
    p = _pairs(xp, s, _others(xp, s))
    n = s.shape[-1]
    d = call(diagonal, xp, e)
    return _eye(xp, n, e) * mm(xp, p, d[..., :, None]) - e * p     # p is real, e may be complex


@defop("adjugate")
def adjugate(xp, x, /):
    """The adjugate (classical adjoint) ``adj(A)``, with ``A·adj(A) = det(A)·I``, at any rank.

    ``adj(A) = det(U) det(Vᴴ) · V diag(Π_{j≠i} s_j) Uᴴ`` from the SVD ``A = U S Vᴴ``: exact
    for singular matrices, where ``det(A)·A⁻¹`` is 0·∞. ``det``'s gradient is ``adj(A)ᴴ``.

    >>> import xpgrad as xg
    >>> adj = xg.linalg.adjugate(xg.asarray([[1.0, 2.0], [2.0, 4.0]]))        # singular
    >>> [[round(v, 12) + 0.0 for v in row] for row in adj.tolist()]
    [[4.0, -2.0], [-2.0, 1.0]]
    """
    _check("adjugate", xp, x)
    if x.shape[-1] == 0:
        return xp.zeros_like(x)
    u, s, vh = _svd(xp, x)
    p = _others(xp, s)
    return _mat(xp, _phase(xp, u, vh)) * (_H(xp, vh) @ (p[..., :, None] * _H(xp, u)))


# adj(A + E) = adj(Vᴴ) adj(S + Uᴴ E V) adj(U) exactly, so d adj(A)[E] = φ V D(Uᴴ E V) Uᴴ with D the
# derivative at the diagonal S (module docstring); D is self-adjoint, which gives the VJP
# Ā = U D(conj(φ) Vᴴ Ḡ U) Vᴴ. Neither needs the SVD's own derivative.
def _adjugate_vjp(xp, g, out, x):
    u, s, vh = _svd(xp, x)
    h = _mat(xp, conj(xp, _phase(xp, u, vh))) * (vh @ g @ u)
    return u @ _dadj(xp, h, s) @ vh


def _adjugate_jvp(xp, t, out, x):
    u, s, vh = _svd(xp, x)
    e = _H(xp, u) @ t @ _H(xp, vh)
    return _mat(xp, _phase(xp, u, vh)) * (_H(xp, vh) @ _dadj(xp, e, s) @ _H(xp, u))


adjugate.defvjp(_adjugate_vjp)
adjugate.defjvp(_adjugate_jvp)

# d det = tr(adj(A) dA): JVP Σ adj_ij T_ji; VJP Ā = ḡ·adj(A)ᴴ.
det.defvjp(lambda xp, g, out, x: _mat(xp, g) * _H(xp, call(adjugate, xp, x)))
det.defjvp(lambda xp, t, out, x: xp.sum(xp.matrix_transpose(call(adjugate, xp, x)) * t, axis=(-2, -1)))


# ---------------------------------------------------------------- slogdet


class SlogdetResult(NamedTuple):
    """``slogdet``'s result: ``sign`` (±1 or 0; of modulus 1 or 0 when complex) and ``logabsdet``."""

    sign: Any
    logabsdet: Any


@defop("slogdet")
def _slogdet(xp, x, /):
    _check("slogdet", xp, x)
    sign, logabsdet = xp.linalg.slogdet(x)
    return sign, logabsdet


def _slogdet_vjp(xp, g, out, x):
    # ⟨ḡs, sign·i·Im w⟩ + ⟨ḡl, Re w⟩ = ⟨α, w⟩ with α = ḡl + i·Im(ḡs·conj(sign)), w = tr(A⁻¹ dA),
    # so Ā = α·A⁻ᴴ
    gs, gl = g
    alpha = gl
    if gs is not None and is_complex(xp, out[0]):
        w = gs * conj(xp, out[0])
        alpha = (w - conj(xp, w)) / 2 if alpha is None else alpha + (w - conj(xp, w)) / 2
    if alpha is None:           # a real sign is piecewise constant
        return xp.zeros_like(x)
    return _mat(xp, alpha) * _H(xp, call(inv, xp, x))


def _slogdet_jvp(xp, t, out, x):
    w = xp.sum(xp.matrix_transpose(call(inv, xp, x)) * t, axis=(-2, -1))      # tr(A⁻¹ T)
    sign = out[0]
    ts = sign * ((w - conj(xp, w)) / 2) if is_complex(xp, sign) else None
    return ts, _re(xp, w)


_slogdet.defvjp(_slogdet_vjp)
_slogdet.defjvp(_slogdet_jvp)


def slogdet(x: Any, /) -> SlogdetResult:
    """``SlogdetResult(sign, logabsdet)`` with ``det(x) = sign·exp(logabsdet)``, differentiable.

    A singular matrix gives ``sign = 0`` and ``logabsdet = -inf`` (its gradient is infinite:
    computing it raises).

    >>> import xpgrad as xg
    >>> r = xg.linalg.slogdet(xg.asarray([[-2.0, 0.0], [0.0, 3.0]]))
    >>> float(r.sign), round(float(r.logabsdet), 6)
    (-1.0, 1.791759)
    """
    return SlogdetResult(*_slogdet(x))


# ---------------------------------------------------------------- inv, solve


@defop("inv")
def inv(xp, x, /):
    """The inverse of each square matrix; a singular one raises :class:`~xpgrad.OpError`.

    >>> import xpgrad as xg
    >>> xg.linalg.inv(xg.asarray([[2.0, 0.0], [0.0, 4.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    _check("inv", xp, x)
    return _lapack("inv", "the matrix", xp.linalg.inv, x)


# X = A⁻¹: dX = −X dA X, so Ā = −Xᴴ Ḡ Xᴴ.
inv.defvjp(lambda xp, g, out, x: -(_H(xp, out) @ g @ _H(xp, out)))
inv.defjvp(lambda xp, t, out, x: -(out @ t @ out))


def _solve_shapes(x1, x2):
    s1, s2 = tuple(x1.shape), tuple(x2.shape)
    if len(s2) == 0:
        raise ShapeError(f"solve: x2 must be a vector (M,) or a stack of matrices (..., M, K), "
                         f"got shape {s2}")
    m = s1[-1]
    rows = s2[0] if len(s2) == 1 else s2[-2]
    if rows != m:
        where = "its length" if len(s2) == 1 else "its second-to-last dimension"
        raise ShapeError(f"solve: x1 {s1} and x2 {s2}: x2 must have {m} rows ({where} is {rows}); a 1-D x2 "
                         "is one right-hand side, an (..., M, K) x2 holds K of them as columns")
    if len(s2) > 1:
        msg = broadcast_problem([s1[:-2], s2[:-2]])
        if msg:
            raise ShapeError(f"solve: x1 {s1} and x2 {s2}: the batch dimensions do not broadcast: {msg}")


@defop("solve", broadcasting=True)
def solve(xp, x1, x2, /):
    """The solution ``X`` of ``x1 @ X = x2``.

    ``x2`` of shape ``(M,)`` is one right-hand side (the result has shape
    ``x1.shape[:-2] + (M,)``); otherwise ``x2`` is ``(..., M, K)`` and its batch dimensions
    broadcast against ``x1``'s.

    >>> import xpgrad as xg
    >>> xg.linalg.solve(xg.asarray([[2.0, 0.0], [0.0, 4.0]]), xg.asarray([1.0, 1.0])).tolist()
    [0.5, 0.25]
    """
    _check("solve", xp, x1)
    _solve_shapes(x1, x2)
    if x1.dtype != x2.dtype:
        t = xp.result_type(x1, x2)
        x1, x2 = xp.astype(x1, t), xp.astype(x2, t)
    m = x1.shape[-1]
    if x2.ndim == 1:
        r = _lapack("solve", "x1", xp.linalg.solve, x1, xp.reshape(x2, (m, 1)))
        return xp.reshape(r, tuple(r.shape[:-1]))
    # equal ranks, batch dimensions broadcast explicitly: every backend reads x2 as matrices then
    batch = tuple(_broadcast_shape(tuple(x1.shape[:-2]), tuple(x2.shape[:-2])))
    a = xp.broadcast_to(x1, batch + (m, m))
    b = xp.broadcast_to(x2, batch + tuple(x2.shape[-2:]))
    return _lapack("solve", "x1", xp.linalg.solve, a, b)


def _broadcast_shape(a, b):
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    return [max(i, j) if min(i, j) != 0 else 0 for i, j in zip(a, b)]


def _col(xp, v):
    return xp.reshape(v, tuple(v.shape) + (1,))


def _uncol(xp, v):
    return xp.reshape(v, tuple(v.shape[:-1]))


# X = A⁻¹B: dX = A⁻¹(dB − dA X), so B̄ = A⁻ᴴ Ḡ and Ā = −B̄ Xᴴ (a vector x2 as one column).
def _solve_vjp(xp, g, out, a, b):
    vec = b.ndim == 1
    gm, xm = (_col(xp, g), _col(xp, out)) if vec else (g, out)
    bbar = call(solve, xp, _H(xp, a), gm)
    return -(bbar @ _H(xp, xm)), (_uncol(xp, bbar) if vec else bbar)


def _solve_jvp(xp, ta, tb, out, a, b):
    vec = b.ndim == 1
    rhs = ZERO if tb is ZERO else (_col(xp, tb) if vec else tb)
    if ta is not ZERO:
        rhs = rhs - ta @ (_col(xp, out) if vec else out)
    r = call(solve, xp, a, rhs)
    return _uncol(xp, r) if vec else r


solve.defvjp(_solve_vjp)
solve.defjvp(_solve_jvp)


# ---------------------------------------------------------------- matrix_power


def _chain(n):
    """Binary powering of ``A^n`` (n ≥ 1) from ``Y = A``: "sq" is ``Y ← Y·Y``, "mul" ``Y ← Y·A``."""
    steps = []
    for bit in bin(n)[3:]:
        steps.append("sq")
        if bit == "1":
            steps.append("mul")
    return steps


def _power(xp, a, n):
    y = a
    for step in _chain(n):
        y = y @ y if step == "sq" else y @ a
    return y


def _power_jvp(xp, a, t, n):
    y, dy = a, t
    for step in _chain(n):
        y, dy = (y @ y, dy @ y + y @ dy) if step == "sq" else (y @ a, dy @ a + y @ t)
    return dy


def _power_vjp(xp, a, g, n):
    """Reverse of :func:`_power`: ``Y·Y`` sends ``Ḡ`` to ``Ḡ Yᴴ + Yᴴ Ḡ``, ``Y·A`` to ``Ḡ Aᴴ`` (and
    ``Yᴴ Ḡ`` to ``Ā``). O(log n) products."""
    ys, y = [], a
    steps = _chain(n)
    for step in steps:
        ys.append(y)
        y = y @ y if step == "sq" else y @ a
    abar = None
    for step, y in zip(reversed(steps), reversed(ys)):
        yh = _H(xp, y)
        if step == "sq":
            g = g @ yh + yh @ g
        else:
            abar = yh @ g if abar is None else abar + yh @ g
            g = g @ _H(xp, a)
    return g if abar is None else abar + g


def _power_n(n):
    try:
        return operator.index(n)
    except TypeError:
        raise DTypeError(f"matrix_power: n must be an integer, got {n!r}") from None


@defop("matrix_power")
def _matrix_power(xp, x, /, n):
    _check("matrix_power", xp, x, floating=False)
    n = _power_n(n)
    m = x.shape[-1]
    if n == 0:
        return xp.zeros_like(x) + _eye(xp, m, x)
    if n < 0:
        _check("matrix_power", xp, x)
        x = _lapack("matrix_power", f"the matrix (raised to n={n})", xp.linalg.inv, x)
    return xp.asarray(x, copy=True) if abs(n) == 1 else _power(xp, x, abs(n))


def _matrix_power_vjp(xp, g, out, x, n):
    if n == 0:
        return xp.zeros_like(x)
    if n > 0:
        return _power_vjp(xp, x, g, n)
    b = call(inv, xp, x)                       # A^n = B^|n|, B = A⁻¹: Ā = −Bᴴ B̄ Bᴴ
    bh = _H(xp, b)
    return -(bh @ _power_vjp(xp, b, g, -n) @ bh)


def _matrix_power_jvp(xp, t, out, x, n):
    if n == 0:
        return ZERO
    if n > 0:
        return _power_jvp(xp, x, t, n)
    b = call(inv, xp, x)
    return _power_jvp(xp, b, -(b @ t @ b), -n)


_matrix_power.defvjp(_matrix_power_vjp)
_matrix_power.defjvp(_matrix_power_jvp)


def matrix_power(x: Any, n: int, /) -> Any:
    """``x`` raised to the integer power ``n`` (``n = 0``: the identity; ``n < 0``: of the inverse).

    Binary powering: O(log |n|) matrix products, also in the gradient.

    >>> import xpgrad as xg
    >>> xg.linalg.matrix_power(xg.asarray([[1.0, 1.0], [0.0, 1.0]]), 3).tolist()
    [[1.0, 3.0], [0.0, 1.0]]
    """
    return _matrix_power(x, n=n)


# ---------------------------------------------------------------- vector_norm, matrix_norm


def _red_axes(who, axis, shape):
    nd = len(shape)
    if axis is None:
        return tuple(range(nd))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -nd <= a < max(nd, 1) or (nd == 0 and a not in (0, -1)):
            raise ShapeError(f"{who}: axis {a} is out of range for an input of shape {tuple(shape)}")
    out = tuple(a % nd if nd else 0 for a in axes)
    if len(set(out)) != len(out):
        raise ShapeError(f"{who}: repeated axis in {axis!r} (input shape {tuple(shape)})")
    return out if nd else ()


def _restore(xp, g, shape, axes, keepdims):
    """The reduced axes of ``g`` back as size-1 axes, so that it broadcasts against the input."""
    if keepdims or not axes:
        return g
    return xp.reshape(g, tuple(1 if i in axes else d for i, d in enumerate(shape)))


def _safe(xp, d):
    """``d`` with zeros replaced by ones: a denominator that never makes inf or nan."""
    return xp.where(d == 0, xp.ones_like(d), d)


def _sgn(xp, x, a):
    """``x/|x|`` (``sign`` for reals), 0 at 0; ``a = |x|``."""
    return x / _safe(xp, a) if is_complex(xp, x) else xp.sign(x)


@defop("vector_norm")
def vector_norm(xp, x, /, *, axis=None, keepdims=False, ord=2):
    """The ``ord``-norm over ``axis`` (all axes when None): ``(Σ |x|^ord)^(1/ord)``, ``max |x|``
    (``inf``), ``min |x|`` (``-inf``), the count of nonzeros (``0``). Real for complex ``x``.

    >>> import xpgrad as xg
    >>> float(xg.linalg.vector_norm(xg.asarray([3.0, -4.0])))
    5.0
    >>> float(xg.linalg.vector_norm(xg.asarray([3.0, -4.0]), ord=1))
    7.0
    """
    if not xp.isdtype(x.dtype, ("real floating", "complex floating")):
        raise DTypeError(f"vector_norm: expected a floating-point array, got {_desc(x)}")
    if isinstance(ord, (str, bool)) or not isinstance(ord, (int, float)) or math.isnan(ord):
        raise OpError(f"vector_norm: ord must be a real number, inf or -inf, got {ord!r}")
    axes = _red_axes("vector_norm", axis, x.shape)
    a = xp.abs(x)
    if ord == 2:
        return xp.sqrt(xp.sum(a * a, axis=axes, keepdims=keepdims))
    if ord == 1:
        return xp.sum(a, axis=axes, keepdims=keepdims)
    if ord in (math.inf, -math.inf) and math.prod(x.shape[i] for i in axes) == 0:
        raise ShapeError(f"vector_norm: ord={ord!r} of {_desc(x)} over axes {axes}: an empty vector has "
                         "no largest or smallest entry")
    if ord == math.inf:
        return xp.max(a, axis=axes, keepdims=keepdims)
    if ord == -math.inf:
        return xp.min(a, axis=axes, keepdims=keepdims)
    if ord == 0:
        return xp.sum(xp.astype(a != 0, a.dtype), axis=axes, keepdims=keepdims)
    if math.prod(x.shape[i] for i in axes) == 0:
        return xp.sum(a, axis=axes, keepdims=keepdims)      # an empty vector has norm 0
    # scaled by max|x| (ord > 0) or min|x| (ord < 0), so |x|^ord neither overflows nor underflows
    # to 0/0: ‖x‖ = m·‖x/m‖
    # (a zero entry with ord < 0 makes Σ = inf and the norm 0)
    m = xp.max(a, axis=axes, keepdims=True) if ord > 0 else xp.min(a, axis=axes, keepdims=True)
    q = a / _safe(xp, m)
    if ord < 0:
        q = xp.where(a == 0, xp.full_like(a, math.inf), xp.where(a == 0, xp.ones_like(a), q) ** float(ord))
    else:
        q = q ** float(ord)
    r = xp.sum(q, axis=axes, keepdims=True) ** (1.0 / ord) * m
    return r if keepdims else xp.reshape(r, tuple(d for i, d in enumerate(x.shape) if i not in axes))


def _vector_weights(xp, out, x, axis, keepdims, ord):
    """``∂‖x‖/∂x`` as the complex convention has it (``x/‖x‖`` for ord 2), 0 where undefined."""
    axes = _red_axes("vector_norm", axis, x.shape)
    n = _restore(xp, out, x.shape, axes, keepdims)
    if ord == 2:
        return x / _safe(xp, n)
    a = xp.abs(x)
    if ord == 0:
        return xp.zeros_like(x)
    sg = _sgn(xp, x, a)
    if ord == 1:
        return sg
    if ord in (math.inf, -math.inf):
        hit = xp.astype(a == n, a.dtype)
        return sg * (hit / xp.sum(hit, axis=axes, keepdims=True))
    # d‖x‖/dx_i = sgn(x_i)·(|x_i|/‖x‖)^(ord−1); 0 where x_i = 0 or ‖x‖ = 0
    skip = (a == 0) | (n == 0)
    r = xp.where(skip, xp.ones_like(a), a / _safe(xp, n))
    return xp.where(skip, xp.zeros_like(sg), sg * r ** float(ord - 1))


vector_norm.defvjp(lambda xp, g, out, x, axis=None, keepdims=False, ord=2:
                   _restore(xp, g, x.shape, _red_axes("vector_norm", axis, x.shape), keepdims)
                   * _vector_weights(xp, out, x, axis, keepdims, ord))
vector_norm.defjvp(lambda xp, t, out, x, axis=None, keepdims=False, ord=2:
                   xp.sum(_re(xp, conj(xp, _vector_weights(xp, out, x, axis, keepdims, ord)) * t),
                          axis=_red_axes("vector_norm", axis, x.shape), keepdims=keepdims))

_MATRIX_ORDS = ("fro", "nuc", 1.0, -1.0, 2.0, -2.0, math.inf, -math.inf)


def _matrix_ord(ord):
    if ord is None:
        return "fro"
    if not isinstance(ord, bool) and (ord in ("fro", "nuc") or (isinstance(ord, (int, float))
                                                                and float(ord) in _MATRIX_ORDS)):
        return ord if isinstance(ord, str) else float(ord)
    raise OpError(f"matrix_norm: ord must be one of 'fro', 'nuc', 1, -1, 2, -2, inf, -inf; got {ord!r}")


@defop("matrix_norm")
def matrix_norm(xp, x, /, *, keepdims=False, ord="fro"):
    """The ``ord``-norm of each matrix of ``x`` (..., M, N): Frobenius, nuclear (Σ singular values),
    max/min absolute column sum (1/−1), largest/smallest singular value (2/−2), max/min absolute
    row sum (inf/−inf). ``keepdims`` keeps the matrix axes as (..., 1, 1).

    >>> import xpgrad as xg
    >>> float(xg.linalg.matrix_norm(xg.asarray([[3.0, 0.0], [0.0, -4.0]]), ord=2))
    4.0
    """
    _check("matrix_norm", xp, x, square=False)
    o = _matrix_ord(ord)
    if o not in ("fro", "nuc") and 0 in tuple(x.shape[-2:]):
        raise ShapeError(f"matrix_norm: ord={ord!r} of {_desc(x)}: an empty matrix has no largest or "
                         "smallest column sum, row sum or singular value")
    if o == "fro":
        a = xp.abs(x)
        return xp.sqrt(xp.sum(a * a, axis=(-2, -1), keepdims=keepdims))
    if o in ("nuc", 2.0, -2.0):
        s = xp.linalg.svdvals(x)
        r = xp.sum(s, axis=-1) if o == "nuc" else xp.max(s, axis=-1) if o == 2.0 else xp.min(s, axis=-1)
    else:
        sums = xp.sum(xp.abs(x), axis=-2 if abs(o) == 1.0 else -1)
        r = xp.max(sums, axis=-1) if o > 0 else xp.min(sums, axis=-1)
    return _mat(xp, r) if keepdims else r


def _matrix_weights(xp, out, x, keepdims, ord):
    o = _matrix_ord(ord)
    n = out if keepdims else _mat(xp, out)
    if o == "fro":
        return x / _safe(xp, n)
    if o in ("nuc", 2.0, -2.0):
        u, s, vh = _svd(xp, x)
        live = xp.astype(s > 0, s.dtype)              # a zero singular value contributes 0
        if o == "nuc":
            return (u * live[..., None, :]) @ vh      # d Σ s_i = Re tr(Uᴴ dA V)
        ext = xp.max(s, axis=-1, keepdims=True) if o == 2.0 else xp.min(s, axis=-1, keepdims=True)
        hit = xp.astype(s == ext, s.dtype)            # ties share: the mean of the u_i v_iᴴ
        w = live * hit / xp.sum(hit, axis=-1, keepdims=True)
        return (u * w[..., None, :]) @ vh
    a = xp.abs(x)
    axis = -2 if abs(o) == 1.0 else -1
    sums = xp.sum(a, axis=axis, keepdims=True)
    hit = xp.astype(sums == n, a.dtype)
    return _sgn(xp, x, a) * (hit / xp.sum(hit, axis=-1 if axis == -2 else -2, keepdims=True))


matrix_norm.defvjp(lambda xp, g, out, x, keepdims=False, ord="fro":
                   (g if keepdims else _mat(xp, g)) * _matrix_weights(xp, out, x, keepdims, ord))
matrix_norm.defjvp(lambda xp, t, out, x, keepdims=False, ord="fro":
                   xp.sum(_re(xp, conj(xp, _matrix_weights(xp, out, x, keepdims, ord)) * t),
                          axis=(-2, -1), keepdims=keepdims))


# ---------------------------------------------------------------- matrix functions: shared parts


def _onenorm(xp, a):
    """‖a‖₁ (max absolute column sum) of each matrix: shape (...)."""
    return xp.max(xp.sum(xp.abs(a), axis=-2), axis=-1)


def _single(xp, x):
    return xp.finfo(x.dtype).eps > 1e-10


def _frechet(op, xp, a, e):
    """``L_f(a, e)``, the Fréchet derivative of the matrix function ``op`` at ``a`` in direction
    ``e``: the upper-right block of ``f([[a, c·e], [0, a]])``, divided by ``c``. The scale ``c``
    (a number, not part of the derivative) brings ``e`` to ``a``'s size for accuracy."""
    if a.dtype != e.dtype:
        t = xp.result_type(a, e)
        a, e = xp.astype(a, t), xp.astype(e, t)
    shape = tuple(_broadcast_shape(tuple(a.shape), tuple(e.shape)))
    a, e = xp.broadcast_to(a, shape), xp.broadcast_to(e, shape)
    n = shape[-1]
    if math.prod(shape) == 0:
        return xp.zeros_like(e)
    na, ne = float(xp.max(xp.abs(a))), float(xp.max(xp.abs(e)))
    c = na / ne if na > 0 and ne > 0 and math.isfinite(na / ne) else 1.0
    block = xp.concat([xp.concat([a, e * c], axis=-1), xp.concat([xp.zeros_like(a), a], axis=-1)],
                      axis=-2)
    return call(op, xp, block)[..., :n, n:] * (1.0 / c)


def _frechet_rules(op):
    op.defvjp(lambda xp, g, out, x: _frechet(op, xp, _H(xp, x), g))   # L_f(A)* = L_f(Aᴴ)
    op.defjvp(lambda xp, t, out, x: _frechet(op, xp, x, t))


# ---------------------------------------------------------------- matrix_exp


def _pade_exp(m):
    """Coefficients of the [m/m] Padé approximant of exp: b_j = (2m−j)! m! / ((2m)! j! (m−j)!)."""
    f = math.factorial
    return [float(Fraction(f(2 * m - j) * f(m), f(2 * m) * f(j) * f(m - j))) for j in range(m + 1)]


_PADE_EXP = {m: _pade_exp(m) for m in (3, 5, 7, 9, 13)}
# θ_m: the largest ‖A‖₁ for which the [m/m] approximant is accurate to unit roundoff (Higham 2005).
_THETA_EXP = {"double": ((3, 1.495585217958292e-2), (5, 2.539398330063230e-1), (7, 9.504178996162932e-1),
                         (9, 2.097847961257068e0), (13, 5.371920351148152e0)),
              "single": ((3, 4.258730016922831e-1), (5, 1.880152677804762e0), (7, 3.925724783138660e0))}


def _pade(xp, a, m):
    b = _PADE_EXP[m]
    eye = _eye(xp, a.shape[-1], a)
    a2 = a @ a
    if m == 13:
        a4 = a2 @ a2
        a6 = a4 @ a2
        u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
        v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    else:
        powers = [eye, a2]                           # A^0, A^2, A^4, ...
        while len(powers) <= m // 2:
            powers.append(powers[-1] @ a2)
        u = a @ sum(b[j] * powers[j // 2] for j in range(1, m + 1, 2))
        v = sum(b[j] * powers[j // 2] for j in range(0, m + 1, 2))
    return _lapack("matrix_exp", "the Padé denominator", xp.linalg.solve, v - u, v + u)


@defop("matrix_exp")
def matrix_exp(xp, x, /):
    """The matrix exponential ``Σ x^k / k!`` of each square matrix (scaling and squaring, Padé).

    >>> import xpgrad as xg
    >>> xg.linalg.matrix_exp(xg.asarray([[0.0, 1.0], [0.0, 0.0]])).tolist()
    [[1.0, 1.0], [0.0, 1.0]]
    """
    _check("matrix_exp", xp, x)
    if math.prod(x.shape) == 0:
        return xp.zeros_like(x)
    norm = _onenorm(xp, x)
    thetas = _THETA_EXP["single" if _single(xp, x) else "double"]
    top = float(xp.max(norm))
    for m, theta in thetas:
        if top <= theta:
            return _pade(xp, x, m)
    # A/2^s with s = ⌈log2(‖A‖₁/θ)⌉ for each matrix of the stack, then s squarings (a matrix
    # that needs fewer keeps its value through the extra ones)
    m, theta = thetas[-1]
    big = norm > theta
    s = xp.where(big, xp.ceil(xp.log2(xp.where(big, norm / theta, xp.ones_like(norm)))), xp.zeros_like(norm))
    s = xp.where(xp.isfinite(s), s, xp.zeros_like(s))
    r = _pade(xp, x * _mat(xp, 2.0 ** (-s)), m)
    s = _mat(xp, s)
    for k in range(int(float(xp.max(s)))):
        r = xp.where(s > k, r @ r, r)
    return r


_frechet_rules(matrix_exp)


# ---------------------------------------------------------------- matrix_sqrt


def _no_root(who, x, why):
    return OpError(f"{who}: {_desc(x)}: {why}; the principal square root and logarithm are computed "
                   "for matrices with no eigenvalue on the closed negative real axis (0 included) — a real "
                   "matrix with a negative eigenvalue has no real square root or logarithm")


def _sqrtm(xp, a, who):
    """Product Denman–Beavers: ``M ← (I + (μ²M + μ⁻²M⁻¹)/2)/2``, ``Y ← μY(I + μ⁻²M⁻¹)/2``
    from ``M = Y = A``, with ``μ = |det M|^(−1/2n)`` while ‖M − I‖₁ > 1e-2; ``Y → A^(1/2)``."""
    n = a.shape[-1]
    eye = _eye(xp, n, a)
    eps = float(xp.finfo(a.dtype).eps)
    m, y = a, a
    prev, scale = math.inf, True
    for _ in range(100):
        try:
            minv = xp.linalg.inv(m)
        except (XpgradError, MemoryError, Warning):
            raise
        except Exception as exc:
            raise _no_root(who, a, "the Denman–Beavers iteration met a singular matrix") from exc
        if scale:
            mu2 = _mat(xp, xp.exp(xp.linalg.slogdet(m)[1] * (-1.0 / n)))      # μ²
            m = (eye + (mu2 * m + minv / mu2) * 0.5) * 0.5
            y = xp.sqrt(mu2) * (y @ (eye + minv / mu2)) * 0.5
        else:
            m = (eye + (m + minv) * 0.5) * 0.5
            y = (y @ (eye + minv)) * 0.5
        d = float(xp.max(_onenorm(xp, m - eye)))
        if not math.isfinite(d):
            raise _no_root(who, a, "the Denman–Beavers iteration diverged")
        if d <= n * eps or (d < eps ** 0.5 and d > prev / 2):   # converged, or at rounding level
            return y
        scale = d > 1e-2
        prev = d
    raise _no_root(who, a, "the Denman–Beavers iteration did not converge in 100 steps")


@defop("matrix_sqrt")
def matrix_sqrt(xp, x, /):
    """The principal square root ``X`` (``X @ X = x``, eigenvalues in the right half-plane).

    >>> import xpgrad as xg
    >>> r = xg.linalg.matrix_sqrt(xg.asarray([[4.0, 0.0], [0.0, 9.0]]))
    >>> [[round(v, 12) + 0.0 for v in row] for row in r.tolist()]
    [[2.0, 0.0], [0.0, 3.0]]
    """
    _check("matrix_sqrt", xp, x)
    if math.prod(x.shape) == 0:
        return xp.zeros_like(x)
    return _sqrtm(xp, x, "matrix_sqrt")


_frechet_rules(matrix_sqrt)


# ---------------------------------------------------------------- matrix_log


def _gauss_legendre(m):
    """Nodes and weights of m-point Gauss–Legendre quadrature on [0, 1] (Newton on P_m)."""

    def legendre(z):                                   # P_m(z) and P_m'(z) by the three-term recurrence
        p0, p1 = 1.0, z
        for k in range(2, m + 1):
            p0, p1 = p1, ((2 * k - 1) * z * p1 - (k - 1) * p0) / k
        return p1, m * (z * p1 - p0) / (z * z - 1)

    nodes, weights = [], []
    for i in range(1, m + 1):
        z = math.cos(math.pi * (i - 0.25) / (m + 0.5))
        for _ in range(100):
            p, dp = legendre(z)
            z, old = z - p / dp, z
            if abs(z - old) < 1e-16:
                break
        dp = legendre(z)[1]
        nodes.append((1 - z) / 2)
        weights.append(1 / ((1 - z * z) * dp * dp))   # 2/((1−z²)P'²) on [−1, 1], halved on [0, 1]
    return nodes, weights


_LOG_NODES = _gauss_legendre(8)
_LOG_THETA = 0.25


@defop("matrix_log")
def matrix_log(xp, x, /):
    """The principal logarithm ``L`` (``matrix_exp(L) = x``, eigenvalues with |Im| < π).

    >>> import xpgrad as xg
    >>> r = xg.linalg.matrix_log(xg.asarray([[1.0, 1.0], [0.0, 1.0]]))
    >>> [[round(v, 12) + 0.0 for v in row] for row in r.tolist()]
    [[0.0, 1.0], [0.0, 0.0]]
    """
    _check("matrix_log", xp, x)
    if math.prod(x.shape) == 0:
        return xp.zeros_like(x)
    n = x.shape[-1]
    eye = _eye(xp, n, x)
    r = x
    k = None
    for _ in range(64):       # inverse scaling: A^(1/2^k) with ‖A^(1/2^k) − I‖₁ ≤ 1/4, per matrix
        norm = _onenorm(xp, r - eye)
        need = norm > _LOG_THETA
        if not bool(xp.any(need)):
            break
        r = xp.where(_mat(xp, need), _sqrtm(xp, r, "matrix_log"), r)
        k = xp.astype(need, norm.dtype) if k is None else k + xp.astype(need, norm.dtype)
    else:
        raise _no_root("matrix_log", x, "64 square roots did not bring it near the identity")
    e = r - eye
    nodes, weights = _LOG_NODES
    # log(I + E) = ∫₀¹ E (I + tE)⁻¹ dt, by m-point Gauss–Legendre: the [m/m] Padé approximant
    out = sum(w * _lapack("matrix_log", "I + tX", xp.linalg.solve, eye + t * e, e)
              for t, w in zip(nodes, weights))
    return out if k is None else out * _mat(xp, 2.0 ** k)


_frechet_rules(matrix_log)


# ---------------------------------------------------------------- samples

_NILPOTENT = [[0.0, 1.0, 2.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]]
_SINGULAR = [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]        # rank 2
_RANK1 = [[1.0, 2.0, 0.5], [2.0, 4.0, 1.0], [-1.0, -2.0, -0.5]]
_POSITIVE = [[2.0, 0.5, -0.3], [0.4, 1.5, 0.2], [-0.1, 0.3, 1.8]]       # eigenvalues near 1.5–2.2
_ROTATION = [[0.5, -1.2, 0.0], [1.2, 0.5, 0.0], [0.0, 0.0, 2.0]]       # complex eigenvalues, real log
_BIG = [[1.0, 4.0, -2.0], [3.0, -2.0, 5.0], [0.5, 1.0, 2.0]]            # ‖A‖₁ > θ13: squarings

INF = math.inf
diagonal.defsamples(S((randn(3, 4),)), S((randn(3, 4),), {"offset": 1}), S((randn(4, 3),), {"offset": -2}),
                    S((randn(2, 3, 3),), {"offset": 0}), S((randn(3, 4),), {"offset": 5}),
                    S((crandn(2, 3, 3),), {"offset": -1}))
trace.defsamples(S((randn(3, 3),)), S((randn(2, 3, 4),), {"offset": 1}), S((randn(4, 3),), {"offset": -1}),
                 S((crandn(2, 3, 3),)))
outer.defsamples(S((randn(3), randn(4))), S((crandn(3), crandn(2))), S((randn(3), crandn(2))))
cross.defsamples(S((randn(3), randn(3))), S((randn(2, 3), randn(3))),
                 S((randn(3, 4), randn(3, 1)), {"axis": -2}), S((randn(2, 1, 3), randn(4, 3))),
                 S((crandn(2, 3), crandn(2, 3))), S((randn(3), crandn(3))))
det.defsamples(S((randn(3, 3),)), S((randn(2, 3, 3),)), S((("spd", (4, 4)),)), S((crandn(3, 3),)),
               S((("values", _SINGULAR),)), S((("values", _RANK1),)), S((randn(1, 1),)))
adjugate.defsamples(S((randn(3, 3),)), S((randn(2, 3, 3),)), S((crandn(3, 3),)), S((("values", _SINGULAR),)))
_slogdet.defsamples(S((randn(3, 3),)), S((randn(2, 3, 3),)), S((("spd", (3, 3)),)), S((crandn(3, 3),)),
                    S((crandn(2, 2, 2),)))
inv.defsamples(S((randn(3, 3),)), S((randn(2, 3, 3),)), S((("spd", (4, 4)),)), S((crandn(3, 3),)))
solve.defsamples(S((randn(3, 3), randn(3))), S((randn(3, 3), randn(3, 2))), S((randn(2, 3, 3), randn(3))),
                 S((randn(2, 3, 3), randn(3, 2))), S((randn(3, 3), randn(2, 3, 2))),
                 S((randn(2, 1, 3, 3), randn(4, 3, 1))), S((crandn(3, 3), crandn(3))),
                 S((crandn(2, 3, 3), crandn(3, 2))), S((randn(3, 3), crandn(3, 2))))
_matrix_power.defsamples(*(S((randn(3, 3),), {"n": n}) for n in (0, 1, 2, 3, 5, 6)),
                         S((randn(2, 3, 3),), {"n": 4}), S((("spd", (3, 3)),), {"n": -1}),
                         S((("spd", (3, 3)),), {"n": -3}), S((crandn(3, 3),), {"n": 3}),
                         S((crandn(2, 2, 2),), {"n": -2}))
vector_norm.defsamples(*(S((randn(3, 4),), {"ord": o}) for o in (2, 1, INF, -INF, 3, 1.5)),
                       S((randn(3, 4),), {"ord": 0}), S((("away", (3, 4), 0.5),), {"ord": 0.5}),
                       S((("away", (5,), 0.5),), {"ord": -1}), S((("away", (5,), 0.5),), {"ord": -INF}),
                       S((randn(2, 3, 4),), {"axis": 1}),
                       S((randn(2, 3, 4),), {"axis": (0, 2), "keepdims": True}),
                       S((randn(2, 3, 4),), {"axis": -1, "ord": 1}),
                       S((randn(2, 3, 4),), {"axis": (1, 2), "ord": 3}),
                       S((crandn(3, 4),),), S((crandn(3, 4),), {"axis": 0, "ord": 1}),
                       S((crandn(3, 4),), {"ord": INF}), S((crandn(2, 3),), {"ord": 3, "keepdims": True}),
                       S((("values", [0.0, 0.0, 0.0]),), {"ord": 2}, grad=False, note="a kink at 0"),
                       S((("values", [0.0, 0.0]),), {"ord": 3}, grad=False, note="0 at 0, no nan"),
                       S((("values", [3.0, -3.0, 1.0]),), {"ord": INF}, grad=False, note="tie"))
matrix_norm.defsamples(*(S((randn(3, 4),), {"ord": o}) for o in ("fro", "nuc", 1, -1, 2, -2, INF, -INF)),
                       S((randn(2, 3, 3),), {"keepdims": True}),
                       S((randn(2, 4, 3),), {"ord": 2, "keepdims": True}),
                       S((randn(2, 3, 4),), {"ord": "nuc"}), S((randn(2, 3, 4),), {"ord": INF}),
                       *(S((crandn(3, 4),), {"ord": o}) for o in ("fro", "nuc", 1, 2, -2, -INF)),
                       S((("values", [[0.0, 0.0], [0.0, 0.0]]),), grad=False, note="a kink at 0"))
matrix_exp.defsamples(S((randn(3, 3),)), S((randn(2, 3, 3),)), S((("values", _NILPOTENT),)),
                      S((("values", _BIG),)), S((crandn(3, 3),)),
                      S((("values", [[0.1, 0.2], [-0.3, 0.05]]),)))
matrix_sqrt.defsamples(S((("spd", (3, 3)),)), S((("spd", (2, 3, 3)),)), S((("values", _POSITIVE),)),
                       S((("values", _ROTATION),)), S((crandn(3, 3),)))
matrix_log.defsamples(S((("spd", (3, 3)),)), S((("spd", (2, 3, 3)),)), S((("values", _POSITIVE),)),
                      S((("values", _ROTATION),)), S((crandn(3, 3),)))
