"""Matrix decompositions of the linalg extension, with hand-written VJP and JVP rules.

Exported under ``xpgrad.linalg`` (the names in ``LINALG``), not in the main namespace:
``cholesky``, ``eigh``, ``eigvalsh``, ``svd``, ``svdvals``, ``qr``, ``pinv``, ``matrix_rank``
(the standard's), ``eig`` and ``eigvals`` (standard 2025.12), and ``lu``, ``lstsq`` and
``solve_triangular`` (beyond the standard). Every function takes a stack of matrices
``(..., M, N)``, real or complex.

Conventions (the derivations are in the comments above each rule):

* **Hermitian input.** ``cholesky``, ``eigh`` and ``eigvalsh`` read the Hermitian part
  ``(x + xᴴ)/2`` of their argument (for the Hermitian input the standard asks for, that is
  ``x`` itself, bit for bit). The function is then defined, and smooth, for every square
  ``x``, and its gradient is Hermitian: a gradient step keeps a symmetric matrix symmetric.
* **Gauges.** Eigenvectors and singular vectors are unique only up to a unit factor per
  vector (a sign when real, a phase when complex). xpgrad fixes it: every eigenvector of
  ``eigh`` and ``eig``, and every left singular vector of ``svd`` (with its right partner,
  which shares the factor), is scaled so that its entry of largest magnitude (the first, on
  exact ties) is real and positive; ``eig``'s eigenvectors have unit 2-norm. ``qr``'s ``R``
  has a real, non-negative diagonal (the unique QR of a full-rank matrix). The vectors are
  then smooth functions of the input wherever the decomposition is, and the rules
  differentiate the gauge too (the "phase term" of the complex rules), so gradients are exact
  for *any* loss, not only for gauge-invariant ones. For gauge-invariant losses they agree with
  the usual formulas. (Where two entries tie for the largest magnitude the gauge jumps: the
  vectors are not differentiable there; random inputs never tie.)
* **Repeated eigenvalues and singular values.** The rules divide by gaps ``λⱼ − λᵢ`` (``svd``:
  by ``σⱼ − σᵢ`` and ``σⱼ + σᵢ``). A gap with ``|λⱼ − λᵢ| ≤ 16·n·ε·max|λ|`` (``ε`` the dtype's
  machine epsilon) counts as zero and its coefficient ``1/(λⱼ − λᵢ)`` is replaced by ``0``
  (``1/(σⱼ + σᵢ)`` only when both singular values count as zero). Exactly repeated values then
  give finite gradients for every loss, and exact first derivatives for the losses that are
  differentiable there without knowing how the repeated values split: symmetric functions of
  the eigenvalues or singular values (``eigvalsh``, ``svdvals``, ``Σ f(λᵢ)``), projectors onto
  a whole repeated eigenspace, the polar factor ``U Vᴴ``. A matrix function ``V f(Λ) Vᴴ`` with
  a non-linear ``f`` is smooth too, but its within-block term ``f'(λ)·(Vᴴ Ā V)ᵢⱼ`` (i ≠ j in the
  block) depends on that splitting, which no rule sees: it is dropped (use ``matrix_exp`` and
  its kin for such functions). Close but distinct values are not touched, so their gradients
  stay exact. Second derivatives at exactly repeated values are finite but not exact (they
  would need degenerate perturbation theory). Reciprocals of singular values (non-square or
  complex ``svd``) follow the same rule: a singular value ``≤ max(M, N)·ε·σ_max`` counts as zero and
  contributes ``0``.
* **Complex numbers** follow the conjugate-Wirtinger convention of the rest of xpgrad: a JVP
  is the R-linear directional derivative and a VJP its adjoint under ``Re Σ conj(a)·b``.
  ``eig`` and ``eigvals`` always return complex arrays; a real input gets the real part of its
  complex cotangent.
* **Extra columns.** ``svd(full_matrices=True)`` of a non-square matrix and ``qr(mode="complete")``
  of a tall one return extra orthonormal columns ``Q₂`` that are only determined up to a
  unitary ``Q₂ ↦ Q₂ W``. The rules use the tangent with ``Q₂ᴴ dQ₂ = 0`` (the others follow from
  orthogonality): exact for losses that depend on ``Q₂`` only through ``Q₂ Q₂ᴴ`` — the finite
  differences of the backend's arbitrary ``Q₂`` are not.
* ``pinv``'s rule is the derivative at constant rank (the rank the ``rtol`` cut-off gives),
  exact on that manifold; ``matrix_rank`` is not differentiable.

The forwards call the backend's ``xp.linalg`` (OpenCL falls back to the host); ``lu`` is a
column loop of vectorised Array API operations (partial pivoting, batched), as the standard
has no LU. The rules are pure Array API: triangular solves go through the
``solve_triangular`` op defined here (its forward is the backend's ``linalg.solve``),
general solves through ``xp.linalg.solve``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..core.errors import DTypeError, OpError, ShapeError
from ..core.tensor import Tensor
from ..core.registry import defop
from ._structure import S, call, conj, crandn, is_complex, randn
from ._structure import mH as _mH

LINALG: tuple[str, ...] = (
    "cholesky", "eigh", "eigvalsh", "svd", "svdvals", "qr", "pinv", "matrix_rank",
    "eig", "eigvals", "lu", "lstsq", "solve_triangular",
    "EighResult", "SVDResult", "QRResult", "EigResult", "LUResult", "LstsqResult",
)

_GAP = 16   # gaps below _GAP·n·ε·scale count as zero (module docstring)


class EighResult(NamedTuple):
    """``eigh``'s result: ascending real eigenvalues and the eigenvectors as columns."""

    eigenvalues: Any
    eigenvectors: Any


class EigResult(NamedTuple):
    """``eig``'s result: complex eigenvalues and unit eigenvectors as columns (``x V = V Λ``)."""

    eigenvalues: Any
    eigenvectors: Any


class SVDResult(NamedTuple):
    """``svd``'s result: ``x = U diag(S) Vh`` with descending singular values ``S``."""

    U: Any
    S: Any
    Vh: Any


class QRResult(NamedTuple):
    """``qr``'s result: ``x = Q R`` with orthonormal columns ``Q`` and upper-triangular ``R``."""

    Q: Any
    R: Any


class LUResult(NamedTuple):
    """``lu``'s result: ``x = P L U`` (``P`` a permutation, ``L`` unit lower, ``U`` upper triangular)."""

    P: Any
    L: Any
    U: Any


class LstsqResult(NamedTuple):
    """``lstsq``'s result, the fields of ``numpy.linalg.lstsq`` / ``torch.linalg.lstsq``."""

    solution: Any
    residuals: Any
    rank: Any
    singular_values: Any


# ---------------------------------------------------------------- helpers (raw arrays and Tensors alike)


def _check(xp: Any, name: str, x: Any, *, square: bool = False) -> None:
    """A floating-point stack of matrices (square when asked), or a clear error naming ``name``."""
    shape = tuple(x.shape)
    if len(shape) < 2:
        raise ShapeError(f"linalg.{name}: expected a stack of matrices of shape (..., M, N), "
                         f"got shape {shape} ({len(shape)}-D)")
    if square and shape[-1] != shape[-2]:
        raise ShapeError(f"linalg.{name}: expected square matrices (..., M, M), got shape {shape}")
    if not xp.isdtype(x.dtype, ("real floating", "complex floating")):
        raise DTypeError(f"linalg.{name}: x has dtype {x.dtype}; it needs a floating-point dtype "
                         f"(convert with astype(x, float64))")


def _mT(xp: Any, a: Any) -> Any:
    return xp.matrix_transpose(a)


def _herm(xp: Any, a: Any) -> Any:
    """The Hermitian part ``(a + aᴴ)/2``; exactly ``a`` when ``a`` is Hermitian."""
    return (a + _mH(xp, a)) * 0.5


def _grid(xp: Any, m: int, n: int, like: Any) -> tuple:
    """Row and column indices, shaped (m, 1) and (1, n), for masks."""
    return (xp.reshape(xp.arange(m, device=like.device), (m, 1)),
            xp.reshape(xp.arange(n, device=like.device), (1, n)))


def _tril(xp: Any, a: Any, k: int = 0) -> Any:
    """Entries on and below diagonal ``k`` (others zero): the standard's ``tril``."""
    return xp.tril(a, k=k)


def _triu(xp: Any, a: Any, k: int = 0) -> Any:
    """Entries on and above diagonal ``k`` (others zero): the standard's ``triu``."""
    return xp.triu(a, k=k)


def _diag(xp: Any, a: Any) -> Any:
    """The main diagonal of square matrices, shape (..., n)."""
    r, c = _grid(xp, a.shape[-2], a.shape[-1], a)
    return xp.sum(xp.where(r == c, a, 0), axis=-1)


def _row(xp: Any, v: Any) -> Any:
    """(..., n) -> (..., 1, n): multiplies the columns of a matrix (``X diag(v)``)."""
    return xp.expand_dims(v, axis=-2)


def _col(xp: Any, v: Any) -> Any:
    """(..., n) -> (..., n, 1): multiplies the rows of a matrix (``diag(v) X``)."""
    return xp.expand_dims(v, axis=-1)


def _diag_embed(xp: Any, v: Any) -> Any:
    n = v.shape[-1]
    return xp.eye(n, dtype=v.dtype, device=v.device) * _row(xp, v)


def _cast(xp: Any, r: Any, like: Any) -> Any:
    """A real array in ``like``'s complex dtype when ``like`` is complex (no mixed-kind arithmetic)."""
    if is_complex(xp, like) and not is_complex(xp, r):
        return xp.astype(r, like.dtype)
    return r


def _re(xp: Any, z: Any) -> Any:
    """``Re z`` kept in ``z``'s dtype: ``(z + z̄)/2``."""
    return (z + conj(xp, z)) * 0.5 if is_complex(xp, z) else z


def _iim(xp: Any, z: Any) -> Any:
    """``i·Im z`` in ``z``'s dtype: ``(z − z̄)/2``."""
    return (z - conj(xp, z)) * 0.5


def _onehot_max(xp: Any, v: Any) -> Any:
    """(..., m, n) bool: the entry of largest magnitude in each column (the first on ties)."""
    if v.shape[-2] == 0:                      # empty columns: nothing to mark (argmax has no answer)
        return xp.zeros(tuple(v.shape), dtype=xp.bool, device=v.device)
    k = xp.argmax(xp.abs(v), axis=-2, keepdims=True)
    r = xp.reshape(xp.arange(v.shape[-2], device=v.device), (v.shape[-2], 1))
    return r == k


def _pick(xp: Any, v: Any, onehot: Any) -> Any:
    """The entries ``onehot`` marks, one per column: shape (..., n)."""
    return xp.sum(xp.where(onehot, v, 0), axis=-2)


def _gauge(xp: Any, v: Any) -> Any:
    """Unit factors ``p`` (..., n) such that ``v · conj(p)`` has its largest entries real and ≥ 0."""
    p = xp.sign(_pick(xp, v, _onehot_max(xp, v)))
    return xp.where(p == 0, 1, p)


def _phase_term(xp: Any, v: Any, dv: Any) -> Any:
    """``i·Im(dv_k)/v_k`` per column (k: the gauge entry): the tangent of the gauge condition.

    A gauge-fixed column has ``v_k`` real and positive; keeping it so along a tangent ``dv``
    means removing ``v · i·Im(dv_k)/v_k``.
    """
    onehot = _onehot_max(xp, v)
    return _iim(xp, _pick(xp, dv, onehot)) / _pick(xp, v, onehot)


def _gauge_cotangent(xp: Any, v: Any, beta_i: Any) -> Any:
    """The adjoint of :func:`_phase_term`'s correction: ``onehot · (i·β/v_k)`` for ``β_i = i·β``."""
    onehot = _onehot_max(xp, v)
    return xp.where(onehot, _row(xp, beta_i / _pick(xp, v, onehot)), 0)


def _eps(xp: Any, a: Any) -> float:
    return float(xp.finfo(a).eps)   # of the array, not its dtype: foreign dtypes need their namespace


def _inv_gaps(xp: Any, w: Any) -> Any:
    """``F[..., i, j] = 1/(w_j − w_i)``, with ``0`` where the gap counts as zero (module docstring).

    The reciprocal is taken of a safe value, so that no ``inf`` appears even in the branch
    ``where`` discards (its derivative would be ``nan``).
    """
    n = w.shape[-1]
    if n == 0:
        return xp.zeros(tuple(w.shape) + (0,), dtype=w.dtype, device=w.device)
    scale = xp.max(xp.abs(w), axis=-1, keepdims=True)
    tol = _col(xp, scale * (_GAP * n * _eps(xp, w)))
    d = _row(xp, w) - _col(xp, w)
    close = xp.abs(d) <= tol
    return xp.where(close, 0, 1 / xp.where(close, 1, d))


def _trsolve(xp: Any, a: Any, b: Any, *, upper: bool, left: bool = True,
             unitriangular: bool = False) -> Any:
    return call(solve_triangular, xp, a, b, upper=upper, left=left, unitriangular=unitriangular)


# ---------------------------------------------------------------- solve_triangular
#
# X = T⁻¹B (left) or B T⁻¹ (right), T the lower (upper) triangle of a, with a unit diagonal when
# unitriangular. Left: dX = T⁻¹(dB − dT X); B̄ = T⁻ᴴ X̄, T̄ = −B̄ Xᴴ restricted to the triangle
# (strictly, when the diagonal is implicit). Right: dX = (dB − X dT) T⁻¹; B̄ = X̄ T⁻ᴴ, T̄ = −Xᴴ B̄.


def _triangle(xp: Any, a: Any, upper: bool, unitriangular: bool) -> Any:
    r, c = _grid(xp, a.shape[-2], a.shape[-1], a)
    keep = (c - r > 0) if upper else (c - r < 0)
    if not unitriangular:
        return xp.where(keep | (r == c), a, 0)
    return xp.where(keep, a, xp.where(r == c, xp.ones_like(a), 0))


@defop("solve_triangular", broadcasting=True)
def solve_triangular(xp, a, b, /, *, upper=False, left=True, unitriangular=False):
    """Solve ``T X = B`` (``left=True``) or ``X T = B`` for a triangular ``T``.

    ``T`` is the lower (``upper=False``) or upper triangle of ``a`` (…, n, n); the other
    triangle is never read. ``unitriangular=True`` takes the diagonal to be ones. ``b`` is a
    stack of matrices (…, n, k) (left) or (…, k, n) (right); batch dimensions broadcast.
    Differentiable in ``a`` (its triangle) and ``b``.

    >>> import xpgrad as xg
    >>> t = xg.asarray([[2.0, 0.0], [1.0, 1.0]])
    >>> xg.linalg.solve_triangular(t, xg.asarray([[2.0], [3.0]]), upper=False).tolist()
    [[1.0], [2.0]]
    """
    _check(xp, "solve_triangular", a, square=True)
    if b.ndim < 2:
        raise ShapeError(f"linalg.solve_triangular: b must be a stack of matrices (..., n, k), got shape "
                         f"{tuple(b.shape)}; for a vector use b[:, None]")
    n = a.shape[-1]
    if (b.shape[-2] if left else b.shape[-1]) != n:
        side = "rows" if left else "columns"
        raise ShapeError(f"linalg.solve_triangular: a {tuple(a.shape)} and b {tuple(b.shape)}: b needs "
                         f"{n} {side} (left={left})")
    t = _triangle(xp, a, upper, unitriangular)
    if left:
        return xp.linalg.solve(t, b)
    return _mT(xp, xp.linalg.solve(_mT(xp, t), _mT(xp, b)))


def _st_mask(xp, g, a, upper, unitriangular):
    r, c = _grid(xp, a.shape[-2], a.shape[-1], a)
    keep = (c - r > 0) if upper else (c - r < 0)
    return xp.where(keep if unitriangular else keep | (r == c), g, 0)


def _st_vjp_b(xp, g, out, a, b, *, upper=False, left=True, unitriangular=False):
    return _trsolve(xp, _mH(xp, a), g, upper=not upper, left=left, unitriangular=unitriangular)


def _st_vjp_a(xp, g, out, a, b, *, upper=False, left=True, unitriangular=False):
    bb = _st_vjp_b(xp, g, out, a, b, upper=upper, left=left, unitriangular=unitriangular)
    ta = -(bb @ _mH(xp, out)) if left else -(_mH(xp, out) @ bb)
    return _st_mask(xp, ta, a, upper, unitriangular)


def _st_jvp_a(xp, t, out, a, b, *, upper=False, left=True, unitriangular=False):
    dt = _st_mask(xp, t, a, upper, unitriangular)   # an implicit unit diagonal does not move
    rhs = -(dt @ out) if left else -(out @ dt)
    return _trsolve(xp, a, rhs, upper=upper, left=left, unitriangular=unitriangular)


solve_triangular.defvjp(_st_vjp_a, _st_vjp_b)
solve_triangular.defjvp(_st_jvp_a,
                        lambda xp, t, out, a, b, *, upper=False, left=True, unitriangular=False:
                        _trsolve(xp, a, t, upper=upper, left=left, unitriangular=unitriangular))


# ---------------------------------------------------------------- cholesky
#
# A = L Lᴴ (A the Hermitian part of x). With Φ(X) = the lower triangle of X with its diagonal's
# real part halved: dL = L Φ(L⁻¹ dA L⁻ᴴ) (L⁻¹dL is lower triangular with a real diagonal, and
# L⁻¹dA L⁻ᴴ is its Hermitian sum). Φ is self-adjoint under Re⟨·,·⟩, so
# Ā = herm(L⁻ᴴ Φ(Lᴴ L̄) L⁻¹) (the Hermitian part: the forward reads herm(x)).


def _phi(xp, a):
    r, c = _grid(xp, a.shape[-2], a.shape[-1], a)
    return xp.where(c < r, a, 0) + xp.where(r == c, _re(xp, a) * 0.5, 0)


@defop("cholesky")
def cholesky(xp, x, /, *, upper=False):
    """The Cholesky factor of a Hermitian positive-definite ``x``: ``x = L Lᴴ`` (or ``Uᴴ U``).

    Returns the lower-triangular ``L`` (``upper=False``) or ``U = Lᴴ``, with a real positive
    diagonal. Reads the Hermitian part ``(x + xᴴ)/2``; its gradient is Hermitian.

    >>> import xpgrad as xg
    >>> xg.linalg.cholesky(xg.asarray([[4.0, 2.0], [2.0, 5.0]])).tolist()
    [[2.0, 0.0], [1.0, 2.0]]
    """
    _check(xp, "cholesky", x, square=True)
    low = xp.linalg.cholesky(_herm(xp, x))
    return _mH(xp, low) if upper else low


def _chol_jvp(xp, t, out, x, *, upper=False):
    low = _mH(xp, out) if upper else out
    y = _trsolve(xp, low, _herm(xp, t), upper=False)                 # L⁻¹ dA
    s = _mH(xp, _trsolve(xp, low, _mH(xp, y), upper=False))          # L⁻¹ dA L⁻ᴴ
    dl = low @ _phi(xp, s)
    return _mH(xp, dl) if upper else dl


def _chol_vjp(xp, g, out, x, *, upper=False):
    low = _mH(xp, out) if upper else out
    gl = _mH(xp, g) if upper else g
    p = _phi(xp, _mH(xp, low) @ gl)
    lh = _mH(xp, low)
    y = _trsolve(xp, lh, p, upper=True)                              # L⁻ᴴ P
    z = _mH(xp, _trsolve(xp, lh, _mH(xp, y), upper=True))            # L⁻ᴴ P L⁻¹
    return _herm(xp, z)


cholesky.defvjp(_chol_vjp)
cholesky.defjvp(_chol_jvp)


# ---------------------------------------------------------------- eigh, eigvalsh
#
# A = V Λ Vᴴ. With M = Vᴴ dA V: dλ = Re diag(M); dV = V (F∘M) − V·i·Im(dv_k)/v_k, where
# F_ij = 1/(λ_j − λ_i) off the diagonal (0 on it, and for gaps that count as zero) and the last
# term keeps each column's gauge entry v_k real (complex only). Adjoint: with c = diag(Vᴴ V̄),
# V̄' = V̄ − onehot_k·(i·Im c / v_k), B = diag(λ̄) + F∘(Vᴴ V̄'), Ā = herm(V B Vᴴ).


@defop("eigh")
def _eigh(xp, x, /):
    """Eigenvalues (ascending) and eigenvectors of the Hermitian part of ``x``; gauge-fixed."""
    _check(xp, "eigh", x, square=True)
    w, v = xp.linalg.eigh(_herm(xp, x))
    return w, v * _row(xp, conj(xp, _gauge(xp, v)))


def _eigh_jvp(xp, t, out, x):
    w, v = out
    m = _mH(xp, v) @ _herm(xp, t) @ v
    dw = _diag(xp, m)
    dw = xp.real(dw) if is_complex(xp, dw) else dw
    dv = v @ (_cast(xp, _inv_gaps(xp, w), v) * m)
    if is_complex(xp, v):
        dv = dv - v * _row(xp, _phase_term(xp, v, dv))
    return dw, dv


def _eigh_vjp(xp, g, out, x):
    gw, gv = g
    w, v = out
    vh = _mH(xp, v)
    b = None
    if gv is not None:
        if is_complex(xp, v):
            gv = gv - _gauge_cotangent(xp, v, _iim(xp, _diag(xp, vh @ gv)))
        b = _cast(xp, _inv_gaps(xp, w), v) * (vh @ gv)
    if gw is not None:
        d = _diag_embed(xp, _cast(xp, gw, v))
        b = d if b is None else b + d
    if b is None:
        return None
    return _herm(xp, v @ b @ vh)


_eigh.defvjp(_eigh_vjp)
_eigh.defjvp(_eigh_jvp)


def eigh(x: Any, /) -> EighResult:
    """Eigenvalues (ascending, real) and orthonormal eigenvectors of a Hermitian matrix.

    ``x = V diag(λ) Vᴴ``. Reads the Hermitian part ``(x + xᴴ)/2``. Each eigenvector's entry of
    largest magnitude is real and positive. Differentiable; at repeated eigenvalues gradients
    stay finite, and are exact for losses that do not depend on how the repeated eigenvalues
    split (functions of the eigenvalues, projectors onto whole eigenspaces): module docstring.

    >>> import xpgrad as xg
    >>> w, v = xg.linalg.eigh(xg.asarray([[2.0, 1.0], [1.0, 2.0]]))
    >>> w.tolist()
    [1.0, 3.0]
    """
    return EighResult(*_eigh(x))


@defop("eigvalsh")
def eigvalsh(xp, x, /):
    """The eigenvalues (ascending) of the Hermitian part of ``x``.

    Its rules recompute the eigenvectors: ``Ā = V diag(λ̄) Vᴴ``, ``dλ = Re diag(Vᴴ dA V)``.

    >>> import xpgrad as xg
    >>> xg.linalg.eigvalsh(xg.asarray([[2.0, 0.0], [0.0, 1.0]])).tolist()
    [1.0, 2.0]
    """
    _check(xp, "eigvalsh", x, square=True)
    return xp.linalg.eigvalsh(_herm(xp, x))


def _eigvalsh_vjp(xp, g, out, x):
    v = call(_eigh, xp, x)[1]
    return (v * _row(xp, _cast(xp, g, v))) @ _mH(xp, v)


def _eigvalsh_jvp(xp, t, out, x):
    v = call(_eigh, xp, x)[1]
    dw = _diag(xp, _mH(xp, v) @ _herm(xp, t) @ v)
    return xp.real(dw) if is_complex(xp, dw) else dw


eigvalsh.defvjp(_eigvalsh_vjp)
eigvalsh.defjvp(_eigvalsh_jvp)


# ---------------------------------------------------------------- svd, svdvals
#
# A = U S Vᴴ (reduced: K = min(M, N) columns). With dP = Uᴴ dA V, H = dP + dPᴴ, Q = dP − dPᴴ,
# F⁻_ij = 1/(s_j − s_i) and F⁺_ij = 1/(s_j + s_i) off the diagonal:
#   dS  = Re diag(dP)
#   Ω_U = Uᴴ dU = ½(F⁻∘H + F⁺∘Q) + i·Im diag(dP)/S          (the last: the relative phase of u_i, v_i)
#   Ω_V = Vᴴ dV = ½(F⁻∘H − F⁺∘Q)
#   dU  = U Ω_U + (I − U Uᴴ) dA V S⁻¹     (M > K),    dV = V Ω_V + (I − V Vᴴ) dAᴴ U S⁻¹   (N > K)
# (the usual (dP S + S dPᴴ)/(s_j² − s_i²), split so that only the F⁻ half — a joint rotation of
# u_i, u_j and v_i, v_j, which leaves A unchanged when s_i = s_j — is zeroed at repeated singular
# values; the F⁺ half, a relative rotation, is what the polar factor U Vᴴ needs there). Then the
# gauge (u's largest entry real) adds −i·Im(du_k)/u_k to both u and v. The VJP is the adjoint of
# each step in reverse: β = Im diag(UᴴŪ) + Im diag(VᴴV̄), Ū' = Ū − onehot·iβ/u_k, J_U = UᴴŪ',
# J_V = VᴴV̄, X = J_U + J_V, Y = J_U − J_V:
#   P̄ = diag(S̄) + ½F⁻∘(X − Xᴴ) + ½F⁺∘(Y − Yᴴ) + i·Im diag(J_U)/S − [M>K] J_U S⁻¹ − [N>K] S⁻¹ J_Vᴴ
#   Ā = U P̄ Vᴴ + [M>K] Ū' S⁻¹ Vᴴ + [N>K] U S⁻¹ V̄ᴴ.


def _complement_tangent(xp, q1, dq1, q2):
    """Tangent of the extra orthonormal columns q2 ⟂ q1 with q2ᴴ dq2 = 0: ``−q1 (dq1ᴴ q2)``."""
    return -(q1 @ (_mH(xp, dq1) @ q2))


def _complement_cotangent(xp, q1, q2, g2):
    """Adjoint of :func:`_complement_tangent` in ``dq1``: ``−q2 (g2ᴴ q1)``."""
    return -(q2 @ (_mH(xp, g2) @ q1))


@defop("svd")
def _svd(xp, x, /, *, full_matrices=True):
    """``U, S, Vh`` of ``x``; each left singular vector's largest entry real positive."""
    _check(xp, "svd", x)
    u, s, vh = xp.linalg.svd(x, full_matrices=full_matrices)
    k = s.shape[-1]
    p = _gauge(xp, u[..., :k] if u.shape[-1] > k else u)
    pu, pv = conj(xp, p), p
    if u.shape[-1] > k:
        pu = xp.concat([pu, xp.ones(tuple(p.shape[:-1]) + (u.shape[-1] - k,), dtype=p.dtype,
                                    device=p.device)], axis=-1)
    if vh.shape[-2] > k:
        pv = xp.concat([pv, xp.ones(tuple(p.shape[:-1]) + (vh.shape[-2] - k,), dtype=p.dtype,
                                    device=p.device)], axis=-1)
    return u * _row(xp, pu), s, vh * _col(xp, pv)


def _svd_parts(xp, out):
    u, s, vh = out
    k = s.shape[-1]
    u1, u2 = (u[..., :k], u[..., k:]) if u.shape[-1] > k else (u, None)
    v = _mH(xp, vh)
    v1, v2 = (v[..., :k], v[..., k:]) if v.shape[-1] > k else (v, None)
    m, n = u.shape[-2], vh.shape[-1]
    return u1, u2, s, v1, v2, m, n, k


def _safe_inv_s(xp, s, m, n):
    """``1/s``, with ``0`` for singular values that count as zero (``≤ max(M, N)·ε·σ_max``)."""
    if s.shape[-1] == 0:
        return s
    tol = xp.max(s, axis=-1, keepdims=True) * (max(m, n) * _eps(xp, s))
    small = s <= tol
    return xp.where(small, 0, 1 / xp.where(small, 1, s))


def _inv_sums(xp, s):
    """``1/(s_j + s_i)`` off the diagonal; ``0`` on it and where both values count as zero."""
    n = s.shape[-1]
    if n == 0:
        return xp.zeros(tuple(s.shape) + (0,), dtype=s.dtype, device=s.device)
    tol = _col(xp, xp.max(s, axis=-1, keepdims=True) * (_GAP * n * _eps(xp, s)))
    tot = _row(xp, s) + _col(xp, s)
    r, c = _grid(xp, n, n, s)
    skip = (tot <= tol) | (r == c)
    return xp.where(skip, 0, 1 / xp.where(skip, 1, tot))


def _svd_gaps(xp, s, like):
    return _cast(xp, _inv_gaps(xp, s), like), _cast(xp, _inv_sums(xp, s), like)


def _svd_jvp(xp, t, out, x, *, full_matrices=True):
    u1, u2, s, v1, v2, m, n, k = _svd_parts(xp, out)
    cplx = is_complex(xp, u1)
    dp = _mH(xp, u1) @ t @ v1
    ds = xp.real(_diag(xp, dp)) if cplx else _diag(xp, dp)
    fm, fp = _svd_gaps(xp, s, u1)
    dph = _mH(xp, dp)
    hs, ks = fm * (dp + dph), fp * (dp - dph)
    om_u = (hs + ks) * 0.5
    om_v = (hs - ks) * 0.5
    if cplx:
        om_u = om_u + _diag_embed(xp, _iim(xp, _diag(xp, dp)) * _cast(xp, _safe_inv_s(xp, s, m, n), u1))
    du = u1 @ om_u
    dv = v1 @ om_v
    if m > k or n > k:
        si = _row(xp, _cast(xp, _safe_inv_s(xp, s, m, n), u1))
        if m > k:
            du = du + (t @ v1 - u1 @ dp) * si
        if n > k:
            dv = dv + (_mH(xp, t) @ u1 - v1 @ dph) * si
    if cplx:
        ph = _row(xp, _phase_term(xp, u1, du))
        du, dv = du - u1 * ph, dv - v1 * ph
    if u2 is not None:
        du = xp.concat([du, _complement_tangent(xp, u1, du, u2)], axis=-1)
    if v2 is not None:
        dv = xp.concat([dv, _complement_tangent(xp, v1, dv, v2)], axis=-1)
    return du, ds, _mH(xp, dv)


def _svd_vjp(xp, g, out, x, *, full_matrices=True):
    gu, gs, gvh = g
    u1, u2, s, v1, v2, m, n, k = _svd_parts(xp, out)
    cplx = is_complex(xp, u1)
    gv = None if gvh is None else _mH(xp, gvh)
    if gu is not None and u2 is not None:
        gu = gu[..., :k] + _complement_cotangent(xp, u1, u2, gu[..., k:])
    if gv is not None and v2 is not None:
        gv = gv[..., :k] + _complement_cotangent(xp, v1, v2, gv[..., k:])
    pbar = None if gs is None else _diag_embed(xp, _cast(xp, gs, u1))
    if gu is None and gv is None:
        return None if pbar is None else u1 @ pbar @ _mH(xp, v1)
    if gu is None:
        gu = xp.zeros_like(u1)
    if gv is None:
        gv = xp.zeros_like(v1)
    if cplx:
        beta = _iim(xp, _diag(xp, _mH(xp, u1) @ gu)) + _iim(xp, _diag(xp, _mH(xp, v1) @ gv))
        gu = gu - _gauge_cotangent(xp, u1, beta)
    ju, jv = _mH(xp, u1) @ gu, _mH(xp, v1) @ gv
    fm, fp = _svd_gaps(xp, s, u1)
    xs, ys = ju + jv, ju - jv
    core = (fm * (xs - _mH(xp, xs)) + fp * (ys - _mH(xp, ys))) * 0.5
    inv = _cast(xp, _safe_inv_s(xp, s, m, n), u1)
    if cplx:
        core = core + _diag_embed(xp, _iim(xp, _diag(xp, ju)) * inv)
    if m > k:
        core = core - ju * _row(xp, inv)
    if n > k:
        core = core - _col(xp, inv) * _mH(xp, jv)
    if pbar is not None:
        core = core + pbar
    grad = u1 @ core @ _mH(xp, v1)
    if m > k:
        grad = grad + (gu * _row(xp, inv)) @ _mH(xp, v1)
    if n > k:
        grad = grad + u1 @ (_col(xp, inv) * _mH(xp, gv))
    return grad


_svd.defvjp(_svd_vjp)
_svd.defjvp(_svd_jvp)


def svd(x: Any, /, *, full_matrices: bool = True) -> SVDResult:
    """The singular value decomposition ``x = U diag(S) Vh``, ``S`` descending.

    ``full_matrices=False`` gives the reduced factors (K = min(M, N) columns). Each left
    singular vector's entry of largest magnitude is real and positive, its right partner
    scaled alike. Differentiable; with ``full_matrices=True`` and M ≠ N the extra columns
    are differentiated in the gauge ``Q₂ᴴ dQ₂ = 0`` (exact for losses that use them only
    through ``Q₂ Q₂ᴴ``).

    >>> import xpgrad as xg
    >>> xg.linalg.svd(xg.asarray([[3.0, 0.0], [0.0, -2.0]])).S.tolist()
    [3.0, 2.0]
    """
    return SVDResult(*_svd(x, full_matrices=full_matrices))


@defop("svdvals")
def svdvals(xp, x, /):
    """The singular values of ``x``, descending, shape (..., min(M, N)).

    Its rules recompute the singular vectors: ``Ā = U diag(S̄) Vᴴ``, ``dS = Re diag(Uᴴ dA V)``.

    >>> import xpgrad as xg
    >>> xg.linalg.svdvals(xg.asarray([[0.0, 2.0], [1.0, 0.0]])).tolist()
    [2.0, 1.0]
    """
    _check(xp, "svdvals", x)
    return xp.linalg.svdvals(x)


def _svdvals_vjp(xp, g, out, x):
    u, _, vh = call(_svd, xp, x, full_matrices=False)
    return (u * _row(xp, _cast(xp, g, u))) @ vh


def _svdvals_jvp(xp, t, out, x):
    u, _, vh = call(_svd, xp, x, full_matrices=False)
    ds = _diag(xp, _mH(xp, u) @ t @ _mH(xp, vh))
    return xp.real(ds) if is_complex(xp, ds) else ds


svdvals.defvjp(_svdvals_vjp)
svdvals.defjvp(_svdvals_jvp)


# ---------------------------------------------------------------- qr
#
# M ≥ N (Q is M×N): A = Q R. With B = dA R⁻¹ and C = Qᴴ B, Qᴴ dQ is skew-Hermitian and dR R⁻¹
# upper triangular with a real diagonal (the gauge), so dR R⁻¹ = Π(C) = triu(C, 1) + tril(C, −1)ᴴ
# + Re diag(C): dR = Π(C) R, dQ = B − Q Π(C). Adjoint: W = R̄ Rᴴ − Qᴴ Q̄,
# Π*(W) = triu(W, 1) + tril(Wᴴ, −1) + Re diag(W), Ā = (Q̄ + Q Π*(W)) R⁻ᴴ.
# M < N: A = [X Y] with X = Q R₁ square and R₂ = Qᴴ Y: dR₂ = dQᴴ Y + Qᴴ dY; Ȳ = Q R̄₂ and
# X gets the square rule with Q̄ + Y R̄₂ᴴ.


def _pi(xp, c):
    r, cc = _grid(xp, c.shape[-2], c.shape[-1], c)
    return xp.where(cc > r, c, 0) + xp.where(cc > r, _mH(xp, c), 0) + xp.where(r == cc, _re(xp, c), 0)


def _pi_adjoint(xp, w):
    r, c = _grid(xp, w.shape[-2], w.shape[-1], w)
    return xp.where(c > r, w, 0) + xp.where(c < r, _mH(xp, w), 0) + xp.where(r == c, _re(xp, w), 0)


@defop("qr")
def _qr(xp, x, /, *, mode="reduced"):
    """``Q, R`` of ``x`` with ``R``'s diagonal real and non-negative."""
    _check(xp, "qr", x)
    if mode not in ("reduced", "complete"):
        raise OpError(f"linalg.qr: mode must be 'reduced' or 'complete', got {mode!r}")
    q, r = xp.linalg.qr(x, mode=mode)
    k = min(x.shape[-2], x.shape[-1])
    p = _diag(xp, r[..., :k, :k])
    p = xp.sign(p)
    p = xp.where(p == 0, 1, p)
    pq = p
    if q.shape[-1] > k:
        pq = xp.concat([p, xp.ones(tuple(p.shape[:-1]) + (q.shape[-1] - k,), dtype=p.dtype,
                                   device=p.device)], axis=-1)
    pr = conj(xp, pq) if r.shape[-2] > k else conj(xp, p)
    return q * _row(xp, pq), r * _col(xp, pr)


def _qr_square_jvp(xp, q, r, da):
    """(dQ, dR) for A = Q R with Q M×N (M ≥ N) and R N×N."""
    b = _trsolve(xp, r, da, upper=True, left=False)                   # dA R⁻¹
    x = _pi(xp, _mH(xp, q) @ b)
    return b - q @ x, x @ r


def _qr_square_vjp(xp, q, r, gq, gr):
    w = (gr @ _mH(xp, r) if gr is not None else 0) - (_mH(xp, q) @ gq if gq is not None else 0)
    bbar = q @ _pi_adjoint(xp, w)
    if gq is not None:
        bbar = bbar + gq
    return _trsolve(xp, _mH(xp, r), bbar, upper=False, left=False)    # B̄ R⁻ᴴ


def _qr_jvp(xp, t, out, x, *, mode="reduced"):
    q, r = out
    m, n = x.shape[-2], x.shape[-1]
    if m >= n:
        q1 = q[..., :n] if q.shape[-1] > n else q
        dq, dr = _qr_square_jvp(xp, q1, r[..., :n, :], t)
        if q.shape[-1] > n:
            dq = xp.concat([dq, _complement_tangent(xp, q1, dq, q[..., n:])], axis=-1)
            dr = xp.concat([dr, xp.zeros_like(r[..., n:, :])], axis=-2)
        return dq, dr
    dq, dr1 = _qr_square_jvp(xp, q, r[..., :m], t[..., :m])
    dr2 = _mH(xp, dq) @ x[..., m:] + _mH(xp, q) @ t[..., m:]
    return dq, xp.concat([dr1, dr2], axis=-1)


def _qr_vjp(xp, g, out, x, *, mode="reduced"):
    gq, gr = g
    q, r = out
    m, n = x.shape[-2], x.shape[-1]
    if gq is None and gr is None:
        return None
    if m >= n:
        q1 = q[..., :n] if q.shape[-1] > n else q
        if gq is not None and q.shape[-1] > n:
            gq = gq[..., :n] + _complement_cotangent(xp, q1, q[..., n:], gq[..., n:])
        if gr is not None and r.shape[-2] > n:
            gr = gr[..., :n, :]       # R's extra rows are identically zero
        return _qr_square_vjp(xp, q1, r[..., :n, :], gq, gr)
    gr1 = gr2 = None
    if gr is not None:
        gr1, gr2 = gr[..., :m], gr[..., m:]
        y = x[..., m:]
        extra = y @ _mH(xp, gr2)
        gq = extra if gq is None else gq + extra
    gx = _qr_square_vjp(xp, q, r[..., :m], gq, gr1)
    gy = q @ gr2 if gr2 is not None else xp.zeros_like(x[..., m:])
    return xp.concat([gx, gy], axis=-1)


_qr.defvjp(_qr_vjp)
_qr.defjvp(_qr_jvp)


def qr(x: Any, /, *, mode: str = "reduced") -> QRResult:
    """The QR decomposition ``x = Q R``; ``mode`` is ``"reduced"`` or ``"complete"``.

    ``R``'s diagonal is real and non-negative (unique for full-rank ``x``). Differentiable where
    the leading min(M, N) columns have full rank; ``mode="complete"`` of a tall matrix
    differentiates the extra columns of ``Q`` in the gauge ``Q₂ᴴ dQ₂ = 0``.

    >>> import xpgrad as xg
    >>> q, r = xg.linalg.qr(xg.asarray([[3.0, 1.0], [4.0, 2.0]]))
    >>> [round(v, 6) for v in r[0].tolist()], float(r[1, 0])
    ([5.0, 2.2], 0.0)
    """
    return QRResult(*_qr(x, mode=mode))


# ---------------------------------------------------------------- lu
#
# Partial pivoting, column by column, as vectorised Array API operations over the whole batch:
# each step finds the pivot (the first largest |x| — |Re x| + |Im x| when complex, as LAPACK's
# getrf — on and below the diagonal), swaps two rows by
# masks, and subtracts the outer product of the multipliers and the pivot row. Pᵀ A = L U.
# Rules (square core, K = min(M, N)): F = L₁⁻¹ Pᵀ dA₁ U₁⁻¹, dL₁ = L₁ tril(F, −1), dU₁ = triu(F) U₁;
# a tall A's extra rows: dL₂ = (dB₂ − L₂ dU₁) U₁⁻¹; a wide A's extra columns: dU₂ = L₁⁻¹(dB₂ − dL₁ U₂).
# Adjoint: F̄ = tril(L₁ᴴ L̄₁, −1) + triu(Ū₁ U₁ᴴ), B̄₁ = L₁⁻ᴴ F̄ U₁⁻ᴴ (after folding in the extra
# blocks: tall Ū₁ −= L₂ᴴ B̄₂ with B̄₂ = L̄₂ U₁⁻ᴴ; wide L̄₁ −= B̄₂ U₂ᴴ with B̄₂ = L₁⁻ᴴ Ū₂), Ā = P B̄.


@defop("lu")
def _lu(xp, x, /):
    """``P, L, U`` with ``x = P L U`` by Gaussian elimination with partial pivoting."""
    _check(xp, "lu", x)
    m, n = x.shape[-2], x.shape[-1]
    k = min(m, n)
    batch = tuple(x.shape[:-2])
    rows = xp.arange(m, device=x.device)
    cols = xp.arange(n, device=x.device)
    rows_c = xp.reshape(rows, (m, 1))
    cols_r = xp.reshape(cols, (1, n))
    w = x
    perm = xp.broadcast_to(rows, batch + (m,))
    cplx = is_complex(xp, x)
    for j in range(k):
        col = w[..., :, j]
        # LAPACK's pivot measure: |x| for real, |Re x| + |Im x| for complex (so P matches getrf's)
        size = xp.abs(xp.real(col)) + xp.abs(xp.imag(col)) if cplx else xp.abs(col)
        mag = xp.where(rows >= j, size, -1)
        p = xp.argmax(mag, axis=-1, keepdims=True)                      # (..., 1)
        is_p = rows == p                                                 # (..., m)
        is_j = rows == j
        row_j = w[..., j:j + 1, :]
        row_p = xp.sum(xp.where(xp.expand_dims(is_p, axis=-1), w, 0), axis=-2, keepdims=True)
        w = xp.where(rows_c == j, row_p, xp.where(xp.expand_dims(is_p, axis=-1), row_j, w))
        perm_p = xp.sum(xp.where(is_p, perm, 0), axis=-1, keepdims=True)
        perm = xp.where(is_j, perm_p, xp.where(is_p, perm[..., j:j + 1], perm))
        piv = w[..., j:j + 1, j:j + 1]
        # a zero pivot means the whole column below is zero: nothing to eliminate (U[j, j] = 0)
        mult = xp.where(rows_c > j, w[..., :, j:j + 1] / xp.where(piv == 0, 1, piv), 0)
        w = w - mult * xp.where(cols_r > j, w[..., j:j + 1, :], 0)
        w = xp.where((rows_c > j) & (cols_r == j), mult, w)
    r, c = _grid(xp, m, k, x)
    low = xp.where(c < r, w[..., :, :k], 0) + xp.eye(m, k, dtype=x.dtype, device=x.device)
    up = _triu(xp, w[..., :k, :])
    pmat = xp.astype(rows_c == xp.expand_dims(perm, axis=-2), x.dtype)
    return pmat, low, up


def _lu_blocks(xp, out):
    pm, low, up = out
    m, n, k = low.shape[-2], up.shape[-1], low.shape[-1]
    return pm, low, up, m, n, k


def _lu_jvp(xp, t, out, x):
    pm, low, up, m, n, k = _lu_blocks(xp, out)
    db = _mT(xp, pm) @ t
    l1, u1 = low[..., :k, :], up[..., :, :k]
    f = _trsolve(xp, l1, db[..., :k, :k], upper=False, unitriangular=True)
    f = _trsolve(xp, u1, f, upper=True, left=False)
    dl, du = l1 @ _tril(xp, f, -1), _triu(xp, f) @ u1
    if m > k:
        dl2 = _trsolve(xp, u1, db[..., k:, :] - low[..., k:, :] @ du, upper=True, left=False)
        dl = xp.concat([dl, dl2], axis=-2)
    if n > k:
        du2 = _trsolve(xp, l1, db[..., :, k:] - dl @ up[..., :, k:], upper=False, unitriangular=True)
        du = xp.concat([du, du2], axis=-1)
    return xp.zeros_like(pm), dl, du


def _lu_vjp(xp, g, out, x):
    _, gl, gu = g
    pm, low, up, m, n, k = _lu_blocks(xp, out)
    if gl is None and gu is None:
        return None
    gl = xp.zeros_like(low) if gl is None else gl
    gu = xp.zeros_like(up) if gu is None else gu
    l1, u1 = low[..., :k, :], up[..., :, :k]
    extra = None
    if m > k:
        extra = _trsolve(xp, _mH(xp, u1), gl[..., k:, :], upper=False, left=False)     # L̄₂ U₁⁻ᴴ
        gl, gu = gl[..., :k, :], gu - _mH(xp, low[..., k:, :]) @ extra
    if n > k:
        extra = _trsolve(xp, _mH(xp, l1), gu[..., :, k:], upper=True, unitriangular=True)  # L₁⁻ᴴ Ū₂
        gl, gu = gl - extra @ _mH(xp, up[..., :, k:]), gu[..., :, :k]
    fbar = _tril(xp, _mH(xp, l1) @ gl, -1) + _triu(xp, gu @ _mH(xp, u1))
    b1 = _trsolve(xp, _mH(xp, l1), fbar, upper=True, unitriangular=True)
    b1 = _trsolve(xp, _mH(xp, u1), b1, upper=False, left=False)
    if m > k:
        b1 = xp.concat([b1, extra], axis=-2)
    elif n > k:
        b1 = xp.concat([b1, extra], axis=-1)
    return pm @ b1


_lu.defvjp(_lu_vjp)
_lu.defjvp(_lu_jvp)


def lu(x: Any, /) -> LUResult:
    """The LU decomposition with partial pivoting: ``x = P L U``.

    For ``x`` of shape (..., M, N) and K = min(M, N): ``P`` (..., M, M) is a permutation matrix
    (in ``x``'s dtype; its gradient is zero), ``L`` (..., M, K) is unit lower triangular with
    ``|L| ≤ 1``, ``U`` (..., K, N) upper triangular. The pivot is the first entry of largest
    magnitude in its column (measured as ``|Re| + |Im|`` when complex, as LAPACK does, so ``P``
    is the one ``scipy.linalg.lu`` and ``torch.linalg.lu`` give). Differentiable where ``U``'s
    leading K×K block is nonsingular.

    >>> import xpgrad as xg
    >>> p, l, u = xg.linalg.lu(xg.asarray([[1.0, 2.0], [4.0, 4.0]]))
    >>> (p @ l @ u).tolist()
    [[1.0, 2.0], [4.0, 4.0]]
    """
    return LUResult(*_lu(x))


# ---------------------------------------------------------------- pinv, matrix_rank
#
# At constant rank (X = A⁺):  dX = −X dA X + X Xᴴ dAᴴ (I − A X) + (I − X A) dAᴴ Xᴴ X,
# so Ā = −Xᴴ X̄ Xᴴ + (I − A X) X̄ᴴ X Xᴴ + Xᴴ X X̄ᴴ (I − X A). With the cut-off, A X and X A are
# the projectors onto the kept singular subspaces exactly, so the same formulas hold for the
# truncated pseudo-inverse.


def _rtol(xp, x, rtol):
    if isinstance(rtol, Tensor):
        rtol = rtol.data
    return max(x.shape[-2], x.shape[-1]) * _eps(xp, x) if rtol is None else rtol


@defop("pinv")
def pinv(xp, x, /, *, rtol=None):
    """The Moore–Penrose pseudo-inverse, shape (..., N, M).

    Singular values ``≤ rtol·σ_max`` count as zero; ``rtol`` defaults to ``max(M, N)·ε`` and may be
    an array broadcasting against the batch dimensions. Differentiable at constant rank.

    >>> import xpgrad as xg
    >>> xg.linalg.pinv(xg.asarray([[2.0, 0.0], [0.0, 0.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.0]]
    """
    _check(xp, "pinv", x)
    return xp.linalg.pinv(x, rtol=_rtol(xp, x, rtol))


def _pinv_jvp(xp, t, out, x, *, rtol=None):
    xx = out
    th = _mH(xp, t)
    xxh = xx @ _mH(xp, xx)
    a = xxh @ th
    b = th @ (_mH(xp, xx) @ xx)
    return -(xx @ t @ xx) + a - (a @ x) @ xx + b - xx @ (x @ b)


def _pinv_vjp(xp, g, out, x, *, rtol=None):
    xx = out
    xh, gh = _mH(xp, xx), _mH(xp, g)
    t2 = (gh @ xx) @ xh
    t3 = (xh @ xx) @ gh
    return -(xh @ g @ xh) + t2 - x @ (xx @ t2) + t3 - (t3 @ xx) @ x


pinv.defvjp(_pinv_vjp)
pinv.defjvp(_pinv_jvp)


@defop("matrix_rank", differentiable=False)
def matrix_rank(xp, x, /, *, rtol=None):
    """The number of singular values ``> rtol·σ_max`` (``rtol`` defaults to ``max(M, N)·ε``).

    >>> import xpgrad as xg
    >>> int(xg.linalg.matrix_rank(xg.asarray([[1.0, 2.0], [2.0, 4.0]])))
    1
    """
    _check(xp, "matrix_rank", x)
    if min(x.shape[-2], x.shape[-1]) == 0:
        return xp.zeros(tuple(x.shape[:-2]), dtype=xp.int64, device=x.device)
    s = xp.linalg.svdvals(x)
    rt = _rtol(xp, x, rtol)
    if hasattr(rt, "shape"):
        rt = xp.expand_dims(xp.astype(rt, s.dtype), axis=-1)
    tol = xp.max(s, axis=-1, keepdims=True) * rt
    return xp.sum(xp.astype(s > tol, xp.int64), axis=-1)


# ---------------------------------------------------------------- lstsq


def lstsq(a: Any, b: Any, /, *, rcond: float | None = None) -> LstsqResult:
    """The minimum-norm least-squares solution of ``a x = b``, as ``numpy.linalg.lstsq`` gives it.

    ``a`` is (..., M, N); ``b`` is (..., M, K), or a vector (M,) (then ``solution`` is (..., N)).
    Singular values ``≤ rcond·σ_max`` count as zero (default ``max(M, N)·ε``, NumPy's). Returns
    ``LstsqResult(solution, residuals, rank, singular_values)``:

    * ``solution`` = ``pinv(a) @ b``, differentiable in ``a`` (at constant rank) and ``b``;
    * ``residuals``: the squared 2-norm of each column of ``b − a x``, shape (..., K) ((..., 1)
      for a vector ``b``), when M > N and every matrix of ``a`` has rank N; otherwise an empty
      array of shape (0,), as in NumPy and PyTorch;
    * ``rank``: ``matrix_rank(a, rtol=rcond)`` (integer); ``singular_values``: ``svdvals(a)``.

    >>> import xpgrad as xg
    >>> r = xg.linalg.lstsq(xg.asarray([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), xg.asarray([1.0, 2.0, 3.0]))
    >>> r.solution.tolist(), r.residuals.tolist(), int(r.rank)
    ([1.0, 2.0], [9.0], 2)
    """
    from ..core.tensor import namespace
    from .linalg import matmul

    xg = namespace()
    a = a if isinstance(a, Tensor) else xg.asarray(a)
    b = b if isinstance(b, Tensor) else xg.asarray(b, device=a.device)
    if a.ndim < 2:
        raise ShapeError(f"linalg.lstsq: a must be a stack of matrices (..., M, N), got shape {a.shape}")
    m, n = a.shape[-2], a.shape[-1]
    vec = b.ndim == 1
    if (b.shape[0] if vec else b.shape[-2]) != m:
        raise ShapeError(f"linalg.lstsq: a {a.shape} and b {b.shape}: b needs {m} rows "
                         "(one per row of a)")
    bm = xg.reshape(b, (m, 1)) if vec else b
    x = matmul(pinv(a, rtol=rcond), bm)
    rank = matrix_rank(a, rtol=rcond)
    sv = svdvals(a)
    if m > n and bool(xg.all(rank == n)):
        r = matmul(a, x) - bm
        res = xg.sum(xg.real(r * xg.conj(r)) if xg.isdtype(r.dtype, "complex floating") else r * r, axis=-2)
    else:
        res = xg.zeros((0,), dtype=sv.dtype, device=a.device)
    if vec:
        x = x[..., 0]
    return LstsqResult(x, res, rank, sv)


# ---------------------------------------------------------------- eig, eigvals
#
# A = V Λ V⁻¹ (distinct eigenvalues). With M = V⁻¹ dA V: dλ = diag(M); dV = V (F∘M) with
# F_ij = 1/(λ_j − λ_i), then the gauge (unit 2-norm, largest entry real): δ ↦ δ − v Re(vᴴδ) −
# v·i·Im(δ_k)/v_k. Adjoint: c = diag(Vᴴ V̄), V̄' = V̄ − V Re(c) − onehot·i·Im(c)/v_k,
# Ā = V⁻ᴴ (diag(λ̄) + F̄∘(Vᴴ V̄')) Vᴴ (F̄ the complex conjugate; a real A keeps the real part).


def _complex_dtype(xp, x):
    if is_complex(xp, x):
        return x.dtype
    return xp.complex64 if x.dtype == xp.float32 else xp.complex128


def _has_eig(xp, name, x):
    if not hasattr(xp.linalg, name):
        raise OpError(f"linalg.{name}: the namespace of {getattr(x, 'device', '?')} arrays has no "
                      f"linalg.{name} (a function of the standard's 2025.12 revision)")


def _solve(xp, a, b):
    return xp.linalg.solve(a, b)


@defop("eig")
def _eig(xp, x, /):
    """Eigenvalues and unit eigenvectors of a general square ``x``, complex, gauge-fixed."""
    _check(xp, "eig", x, square=True)
    _has_eig(xp, "eig", x)
    w, v = xp.linalg.eig(x)
    cdt = _complex_dtype(xp, x)
    w, v = xp.astype(w, cdt), xp.astype(v, cdt)
    return w, v * _row(xp, conj(xp, _gauge(xp, v)))


def _as_complex(xp, t, like):
    return t if is_complex(xp, t) else xp.astype(t, like.dtype)


def _eig_jvp(xp, t, out, x):
    w, v = out
    m = _solve(xp, v, _as_complex(xp, t, v) @ v)
    dw = _diag(xp, m)
    dv = v @ (_inv_gaps(xp, w) * m)
    dv = dv - v * _row(xp, _re(xp, _diag(xp, _mH(xp, v) @ dv)))
    dv = dv - v * _row(xp, _phase_term(xp, v, dv))
    return dw, dv


def _eig_vjp(xp, g, out, x):
    gw, gv = g
    w, v = out
    vh = _mH(xp, v)
    mbar = None
    if gv is not None:
        c = _diag(xp, vh @ gv)
        gv = gv - v * _row(xp, _re(xp, c)) - _gauge_cotangent(xp, v, _iim(xp, c))
        mbar = conj(xp, _inv_gaps(xp, w)) * (vh @ gv)
    if gw is not None:
        d = _diag_embed(xp, gw)
        mbar = d if mbar is None else mbar + d
    if mbar is None:
        return None
    return _solve(xp, vh, mbar @ vh)


_eig.defvjp(_eig_vjp)
_eig.defjvp(_eig_jvp)


def eig(x: Any, /) -> EigResult:
    """Eigenvalues and eigenvectors of a general square matrix: ``x V = V diag(λ)``.

    Always complex (complex64 for float32 input, complex128 for float64). Eigenvectors have
    unit 2-norm and their entry of largest magnitude real and positive. Differentiable where
    the eigenvalues are distinct (at repeated ones, see the module docstring).

    >>> import xpgrad as xg
    >>> xg.linalg.eig(xg.asarray([[2.0, 0.0], [0.0, 3.0]])).eigenvalues.tolist()
    [(2+0j), (3+0j)]
    """
    return EigResult(*_eig(x))


@defop("eigvals")
def eigvals(xp, x, /):
    """The eigenvalues of a general square matrix (complex).

    >>> import xpgrad as xg
    >>> xg.linalg.eigvals(xg.asarray([[0.0, -1.0], [1.0, 0.0]])).tolist()
    [1j, -1j]
    """
    _check(xp, "eigvals", x, square=True)
    _has_eig(xp, "eigvals", x)
    return xp.astype(xp.linalg.eigvals(x), _complex_dtype(xp, x))


def _eigvals_vjp(xp, g, out, x):
    v = call(_eig, xp, x)[1]
    vh = _mH(xp, v)
    return _solve(xp, vh, _diag_embed(xp, g) @ vh)


def _eigvals_jvp(xp, t, out, x):
    v = call(_eig, xp, x)[1]
    return _diag(xp, _solve(xp, v, _as_complex(xp, t, v) @ v))


eigvals.defvjp(_eigvals_vjp)
eigvals.defjvp(_eigvals_jvp)


# ---------------------------------------------------------------- samples

def _spd(*shape: int) -> tuple:
    return ("spd", shape)


solve_triangular.defsamples(
    S((_spd(3, 3), randn(3, 2)), {"upper": False}),
    S((_spd(3, 3), randn(3, 2)), {"upper": True}),
    S((_spd(3, 3), randn(2, 3)), {"upper": True, "left": False}),
    S((_spd(3, 3), randn(2, 3, 2)), {"upper": False, "unitriangular": True}),
    S((_spd(2, 3, 3), randn(3, 1)), {"upper": False}),
)
cholesky.defsamples(S((_spd(3, 3),)), S((_spd(3, 3),), {"upper": True}), S((_spd(2, 3, 3),)),
                    S((("values", [[2.0, 1.0], [0.0, 3.0]]),), note="reads the Hermitian part"))
_eigh.defsamples(S((randn(4, 4),)), S((randn(2, 3, 3),)), S((crandn(3, 3),)),
                 S((("values", [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]]),), grad=False,
                   note="a repeated eigenvalue: eigenvectors in the block are not differentiable"))
eigvalsh.defsamples(S((randn(4, 4),)), S((randn(2, 3, 3),)), S((crandn(3, 3),)),
                    S((("values", [[1.0, 0.0], [0.0, 1.0]]),), grad=False,
                      note="repeated: only symmetric functions of the pair are differentiable"))
_svd.defsamples(S((randn(4, 3),), {"full_matrices": False}), S((randn(3, 4),), {"full_matrices": False}),
                S((randn(3, 3),)), S((randn(2, 4, 3),), {"full_matrices": False}),
                S((crandn(4, 3),), {"full_matrices": False}), S((crandn(3, 3),)),
                S((randn(4, 3),), grad=False, note="full_matrices with M > N: the extra columns' gauge"))
svdvals.defsamples(S((randn(4, 3),)), S((randn(3, 5),)), S((randn(2, 3, 3),)), S((crandn(3, 4),)))
_qr.defsamples(S((randn(4, 3),)), S((randn(3, 3),), {"mode": "complete"}), S((randn(3, 5),)),
               S((randn(2, 4, 2),)), S((crandn(4, 3),)), S((crandn(2, 4),)),
               S((randn(4, 2),), {"mode": "complete"}, grad=False,
                 note="complete with M > N: the extra columns' gauge"))
_lu.defsamples(S((randn(4, 4),)), S((randn(4, 3),)), S((randn(3, 5),)), S((randn(2, 3, 3),)),
               S((crandn(3, 3),)),
               S((("values", [[1.0, 2.0], [2.0, 4.0]]),), grad=False, note="singular: U[1, 1] = 0"))
pinv.defsamples(S((randn(3, 4),)), S((randn(4, 3),)), S((randn(2, 3, 3),)), S((crandn(3, 2),)),
                S((("values", [[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]]),), grad=False,
                  note="rank 1: a generic perturbation changes the rank"))
matrix_rank.defsamples(S((randn(4, 3),)), S((("values", [[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]),)),
                       S((randn(2, 3, 3),), {"rtol": 0.5}))
_eig.defsamples(S((crandn(3, 3),)), S((crandn(2, 3, 3),)))
eigvals.defsamples(S((crandn(3, 3),)), S((crandn(2, 4, 4),)))
