"""Linear algebra: matmul, linear and affine (nn.Linear's products), tensordot, einsum, vecdot.

``matmul`` follows the Array API: 1-D operands are promoted to a row (left) or
a column (right) vector and the added axis is dropped from the result; batch
dimensions broadcast, and the engine sums cotangents back over them.

``einsum`` is not in the Array API. Its generic forward is pure Array API:
subscripts are first made explicit (``...`` expanded, implicit output
derived as NumPy does), repeated indices within one operand become diagonals
(a strided slice of the flattened pair of axes), and operands are contracted
pairwise with ``matmul``. Backends may register a faster kernel (NumPy's
``np.einsum``). Its VJP for operand k is itself an einsum, with the output's
subscripts swapped for operand k's; its JVP is Σ_k einsum with operand k
replaced by its tangent. ``tensordot``'s rules are einsums too.

Complex operands follow the conjugate-Wirtinger convention (docs/design.md): every
product here is holomorphic and bilinear, so its JVP is the product with one factor
replaced by its tangent, and its VJP multiplies the cotangent by the *conjugate* of the
other factor — the adjoint under ``Re Σ conj(a)·b``: for ``matmul`` ``X̄ = Ḡ Yᴴ`` and
``Ȳ = Xᴴ Ḡ``. ``vecdot`` conjugates its first argument (``Σ conj(x1)·x2``, as the
standard says), so it is conjugate-linear there: ``x̄1 = conj(ḡ)·x2``, ``x̄2 = ḡ·x1``.

``LINALG`` lists the names ``xpgrad.linalg`` re-exports from here (the standard's
``linalg`` extension repeats ``matmul``, ``matrix_transpose``, ``tensordot`` and
``vecdot`` of the main namespace).
"""

from __future__ import annotations

import math
import string

from ..core.errors import OpError, ShapeError
from ..core.registry import ZERO, defop
from ..core.tape import broadcast_problem
from ..core.tensor import Tensor
from ._structure import S, call, conj, crandn, mm, promoted, randn
from .manipulation import matrix_transpose  # noqa: F401  (listed in LINALG)

LINALG = ("matmul", "matrix_transpose", "tensordot", "vecdot")

# ---------------------------------------------------------------- matmul


@defop("matmul", broadcasting=True)
def matmul(xp, x1, x2, /):
    if x1.dtype != x2.dtype:    # real @ complex: promote first (PyTorch's @ refuses mixed dtypes)
        x1, x2 = promoted(xp, x1, x2)
    return x1 @ x2


def _insert1(xp, a, axis):
    """``a`` with a size-1 axis inserted at negative position ``axis``."""
    shape = tuple(a.shape)
    cut = len(shape) + axis + 1
    return xp.reshape(a, shape[:cut] + (1,) + shape[cut:])


def _drop(xp, a, axis):
    shape = tuple(a.shape)
    return xp.reshape(a, shape[:axis % len(shape)] + shape[axis % len(shape) + 1:])


def _as_matrices(xp, g, x1, x2):
    """Promote 1-D operands (row on the left, column on the right) and the cotangent to match."""
    if x1.ndim == 1:
        x1, g = xp.reshape(x1, (1, x1.shape[0])), _insert1(xp, g, -1 if x2.ndim == 1 else -2)
    if x2.ndim == 1:
        x2, g = xp.reshape(x2, (x2.shape[0], 1)), _insert1(xp, g, -1)
    return g, x1, x2


def _matmul_vjp1(xp, g, out, x1, x2):
    g, a, b = _as_matrices(xp, g, x1, x2)
    r = mm(xp, g, conj(xp, xp.matrix_transpose(b)))      # X̄ = Ḡ Yᴴ
    return _drop(xp, r, -2) if x1.ndim == 1 else r


def _matmul_vjp2(xp, g, out, x1, x2):
    g, a, b = _as_matrices(xp, g, x1, x2)
    r = mm(xp, conj(xp, xp.matrix_transpose(a)), g)      # Ȳ = Xᴴ Ḡ
    return _drop(xp, r, -1) if x2.ndim == 1 else r


matmul.defvjp(_matmul_vjp1, _matmul_vjp2)
matmul.defjvp(lambda xp, t, out, x1, x2: mm(xp, t, x2),
              lambda xp, t, out, x1, x2: mm(xp, x1, t))


def _matmul_diagnose(args, params):
    a, b = (tuple(getattr(v, "shape", ())) for v in args)
    if not a or not b:
        return ShapeError(f"matmul: {a} @ {b}: matmul needs at least 1-D operands; "
                          "use multiply (*) to scale by a scalar")
    k1, k2 = a[-1], (b[-2] if len(b) > 1 else b[0])
    if k1 != k2:
        if len(b) > 1 and b[-1] == k1:
            hint = "did you mean x1 @ matrix_transpose(x2)?"
        elif len(a) > 1 and a[-2] == k2:
            hint = "did you mean matrix_transpose(x1) @ x2?"
        else:
            hint = "x1's last dimension must equal x2's second-to-last (its only one when 1-D)"
        return ShapeError(f"matmul: {a} @ {b}: the inner dimensions differ ({k1} vs {k2}); {hint}")
    msg = broadcast_problem([a[:-2], b[:-2]])
    if msg:
        return ShapeError(f"matmul: {a} @ {b}: the batch dimensions do not broadcast: {msg}")
    return None


matmul.diagnose = _matmul_diagnose


# ---------------------------------------------------------------- linear
#
# x Wᵀ for a weight stored (out, in), as nn.Linear keeps it. Its own op, not
# matmul of a transposed view, so that the weight's gradient comes out in the
# weight's layout (Ḡᵀ X, contiguous) instead of as the transpose of X̄ᵀ Ḡ,
# which a leaf would then have to copy; and the batch axes of x fold into one.


@defop("linear")
def linear(xp, x, w, /):
    """``x @ wᵀ`` for ``x`` of shape (..., in) and ``w`` of shape (out, in)."""
    return call(matmul, xp, x, xp.matrix_transpose(w))


def _rows(xp, a):
    """``a`` as a matrix: every leading axis folded into the rows."""
    return xp.reshape(a, (1, a.shape[0])) if a.ndim == 1 else \
        a if a.ndim == 2 else xp.reshape(a, (-1, a.shape[-1]))


linear.defvjp(lambda xp, g, out, x, w: call(matmul, xp, g, conj(xp, w)),                # X̄ = Ḡ conj(W)
              lambda xp, g, out, x, w: call(matmul, xp, xp.matrix_transpose(_rows(xp, g)),
                                            conj(xp, _rows(xp, x))))                     # W̄ = Ḡᵀ conj(X)
linear.defjvp(lambda xp, t, out, x, w: call(linear, xp, t, w),
              lambda xp, t, out, x, w: call(linear, xp, x, t))


@defop("affine")
def affine(xp, x, w, b, /):
    """``x @ wᵀ + b``: :func:`linear` with the bias added into the product's fresh buffer."""
    if not x.dtype == w.dtype == b.dtype:    # mixed dtypes: compute in the promoted one throughout
        t = xp.result_type(x, w, b)
        x, w, b = xp.astype(x, t), xp.astype(w, t), xp.astype(b, t)
    out = call(matmul, xp, x, xp.matrix_transpose(w))
    out += b        # the product is a new array of our own: no second (N, out) allocation
    return out


affine.defvjp(lambda xp, g, out, x, w, b: call(matmul, xp, g, conj(xp, w)),
              lambda xp, g, out, x, w, b: call(matmul, xp, xp.matrix_transpose(_rows(xp, g)),
                                               conj(xp, _rows(xp, x))),
              lambda xp, g, out, x, w, b: xp.sum(_rows(xp, g), axis=0))                 # b̄ = Σ rows of Ḡ
affine.defjvp(lambda xp, t, out, x, w, b: call(linear, xp, t, w),
              lambda xp, t, out, x, w, b: call(linear, xp, x, t),
              lambda xp, t, out, x, w, b: xp.broadcast_to(t, out.shape))


def _linear_diagnose(args, params):
    x, w = (tuple(getattr(v, "shape", ())) for v in args[:2])
    if len(w) != 2:
        return ShapeError(f"linear: weight {w} must be 2-D, (out_features, in_features)")
    if not x or x[-1] != w[1]:
        return ShapeError(f"linear: input {x} does not match weight {w}: the last axis of input must "
                          f"be {w[1]} (in_features)")
    if len(args) > 2 and tuple(getattr(args[2], "shape", ())) != (w[0],):
        return ShapeError(f"linear: bias {tuple(getattr(args[2], 'shape', ()))} must have shape ({w[0]},), "
                          f"one entry per output feature of weight {w}")
    return None


linear.diagnose = affine.diagnose = _linear_diagnose


# ---------------------------------------------------------------- einsum

_LETTERS = string.ascii_letters


def _parse(subscripts, shapes):
    """Explicit einsum: per operand its letters (``...`` expanded; a size-1 dim broadcast
    against a larger one gets a letter of its own), the output letters, each letter's size."""
    s = subscripts.replace(" ", "")
    ins, arrow, out = s.partition("->")
    terms = ins.split(",")
    if len(terms) != len(shapes):
        raise OpError(f"einsum: '{subscripts}' names {len(terms)} operand(s) but {len(shapes)} "
                      "were given")
    bad = set(s) - set(_LETTERS) - set(",.->")
    if bad or any(t.replace("...", "").count(".") for t in terms + [out]):
        raise OpError(f"einsum: '{subscripts}': subscripts are letters, ',' , '->' and '...'")
    fresh = iter(c for c in _LETTERS if c not in s)
    named = [t.replace("...", "") for t in terms]
    nell = 0
    for t, n, shp in zip(terms, named, shapes):
        if ("..." in t and len(shp) < len(n)) or ("..." not in t and len(shp) != len(n)):
            raise ShapeError(f"einsum: '{subscripts}': operand '{t}' has shape {tuple(shp)}, "
                             f"which has {len(shp)} dimension(s)")
        if "..." in t:
            nell = max(nell, len(shp) - len(n))
    ell = [next(fresh) for _ in range(nell)]
    ell_size = [1] * nell
    for t, n, shp in zip(terms, named, shapes):
        if "..." in t:
            k, p = len(shp) - len(n), t.index("...")
            for j, d in enumerate(shp[p:p + k]):
                e = nell - k + j
                if d != 1 and ell_size[e] not in (1, d):
                    raise ShapeError(f"einsum: '{subscripts}': the '...' dimensions of shapes "
                                     f"{[tuple(x) for x in shapes]} do not broadcast")
                ell_size[e] = d if d != 1 else ell_size[e]
    subs, sizes = [], {}
    for t, n, shp in zip(terms, named, shapes):
        letters = list(t)
        if "..." in t:
            k, p = len(shp) - len(n), t.index("...")
            mid = [ell[nell - k + j] if d == ell_size[nell - k + j] else next(fresh)
                   for j, d in enumerate(shp[p:p + k])]
            letters = list(t[:p]) + mid + list(t[p + 3:])
        for c, d in zip(letters, shp):
            if sizes.setdefault(c, d) != d:
                raise ShapeError(f"einsum: '{subscripts}': index '{c}' has sizes {sizes[c]} and {d} "
                                 f"in shapes {[tuple(x) for x in shapes]}")
        subs.append(letters)
    if arrow:
        p = out.find("...")
        o = list(out) if p < 0 else list(out[:p]) + ell + list(out[p + 3:])
    else:
        once = [c for c in "".join(named) if "".join(named).count(c) == 1]
        o = ell + sorted(once)
    if len(set(o)) != len(o) or any(c not in sizes for c in o):
        raise OpError(f"einsum: '{subscripts}': output indices must be distinct and appear in an input")
    return subs, o, sizes


def _diagonals(xp, a, letters):
    """Repeated letters in one operand become one axis: the diagonal, as a strided slice."""
    while True:
        dup = next((c for c in letters if letters.count(c) > 1), None)
        if dup is None:
            return a, letters
        p = letters.index(dup)
        q = letters.index(dup, p + 1)
        rest = [i for i in range(len(letters)) if i not in (p, q)]
        n = a.shape[p]
        a = xp.permute_dims(a, tuple(rest) + (p, q))
        a = xp.reshape(a, tuple(a.shape[:-2]) + (n * n,))[..., ::n + 1]   # a[..., i, i]
        letters = [letters[i] for i in rest] + [dup]


def _sum_out(xp, a, letters, keep):
    axes = tuple(i for i, c in enumerate(letters) if c not in keep)
    if not axes:
        return a, letters
    return xp.sum(a, axis=axes), [c for c in letters if c in keep]


def _pair(xp, a, la, b, lb, keep, sizes):
    """Contract two operands with one batched matmul: (batch, free_a, k) @ (batch, k, free_b)."""
    a, la = _sum_out(xp, a, la, set(lb) | keep)
    b, lb = _sum_out(xp, b, lb, set(la) | keep)
    batch = [c for c in la if c in lb and c in keep]
    inner = [c for c in la if c in lb and c not in keep]
    fa = [c for c in la if c not in lb]
    fb = [c for c in lb if c not in la]
    n = lambda cs: math.prod(sizes[c] for c in cs)
    a = xp.reshape(xp.permute_dims(a, tuple(la.index(c) for c in batch + fa + inner)),
                   (n(batch), n(fa), n(inner)))
    b = xp.reshape(xp.permute_dims(b, tuple(lb.index(c) for c in batch + inner + fb)),
                   (n(batch), n(inner), n(fb)))
    r = xp.reshape(mm(xp, a, b), tuple(sizes[c] for c in batch + fa + fb))
    return r, batch + fa + fb


@defop("einsum")
def einsum(xp, *operands, subscripts):
    """Einstein summation, ``einsum(*operands, subscripts='ij,jk->ik')``, in pure Array API."""
    subs, out, sizes = _parse(subscripts, [tuple(a.shape) for a in operands])
    terms = []
    for k, (a, letters) in enumerate(zip(operands, subs)):
        elsewhere = set(out).union(*(s for j, s in enumerate(subs) if j != k))
        terms.append(_sum_out(xp, *_diagonals(xp, a, list(letters)), elsewhere))
    acc, la = terms[0]
    for i in range(1, len(terms)):
        later = set(out).union(*(s for _, s in terms[i + 1:]))
        acc, la = _pair(xp, acc, la, *terms[i], later, sizes)
    acc, la = _sum_out(xp, acc, la, set(out))
    if la != out:
        acc = xp.permute_dims(acc, tuple(la.index(c) for c in out))
    return xp.asarray(acc, copy=True) if len(operands) == 1 else acc   # never a view of the input


def _contract(xp, subscripts, *arrays):
    """einsum on whatever the rule runs on: recorded on Tensors, the backend's kernel on raw arrays."""
    r = einsum(*arrays, subscripts=subscripts)
    return r if any(isinstance(a, Tensor) for a in arrays) else r.data


def _einsum_cotangent(xp, g, operands, subs, out, sizes, k):
    # x̄_k = einsum(ḡ, conj(x_j) (j≠k) -> subs_k); a repeated index goes on the diagonal
    # (× identity), an index seen nowhere else is broadcast (× ones)
    fresh = iter(c for c in _LETTERS if c not in sizes)
    elsewhere = set(out).union(*(s for j, s in enumerate(subs) if j != k))
    target, terms, extra = [], [], []
    for c in subs[k]:
        if c in target:
            f = next(fresh)
            target.append(f)
            terms.append(c + f)
            extra.append(xp.eye(sizes[c], dtype=g.dtype, device=g.device))
        else:
            target.append(c)
            if c not in elsewhere:
                terms.append(c)
                extra.append(xp.ones((sizes[c],), dtype=g.dtype, device=g.device))
    others = [j for j in range(len(subs)) if j != k]
    spec = ",".join(["".join(out)] + ["".join(subs[j]) for j in others] + terms)
    return _contract(xp, spec + "->" + "".join(target), g, *(conj(xp, operands[j]) for j in others),
                     *extra)


def _einsum_vjp(xp, g, out, *operands, subscripts):
    subs, o, sizes = _parse(subscripts, [tuple(a.shape) for a in operands])
    return tuple(_einsum_cotangent(xp, g, operands, subs, o, sizes, k) for k in range(len(operands)))


def _einsum_jvp(xp, tangents, out, *operands, subscripts):
    total = ZERO
    for k, t in enumerate(tangents):   # linear in each operand: Σ_k einsum(x_1, ..., t_k, ..., x_n)
        if t is not ZERO:
            total = total + _contract(xp, subscripts, *operands[:k], t, *operands[k + 1:])
    return total


def _einsum_diagnose(args, params):
    try:
        _parse(params["subscripts"], [tuple(getattr(a, "shape", ())) for a in args])
    except (OpError, ShapeError) as exc:   # a kernel failed: say why in the op's words
        return exc
    return None


einsum.diagnose = _einsum_diagnose
einsum.defvjp(_einsum_vjp)
einsum.defjvp(_einsum_jvp)


# ---------------------------------------------------------------- tensordot


@defop("tensordot")
def tensordot(xp, x1, x2, /, *, axes=2):
    return xp.tensordot(x1, x2, axes=axes)


def _tensordot_subscripts(n1, n2, axes):
    """tensordot as an einsum: letters of x1, of x2 (shared on contracted axes) and of the result."""
    if isinstance(axes, int):
        a1, a2 = list(range(n1 - axes, n1)), list(range(axes))
    else:
        a1, a2 = [a % n1 for a in axes[0]], [a % n2 for a in axes[1]]
    s1 = list(_LETTERS[:n1])
    rest = iter(_LETTERS[n1:])
    s2 = [None] * n2
    for i, j in zip(a1, a2):
        s2[j] = s1[i]
    s2 = [c if c is not None else next(rest) for c in s2]
    so = [c for i, c in enumerate(s1) if i not in a1] + [c for j, c in enumerate(s2) if j not in a2]
    return "".join(s1), "".join(s2), "".join(so)


def _tensordot_vjp(xp, g, out, x1, x2, axes=2):
    s1, s2, so = _tensordot_subscripts(x1.ndim, x2.ndim, axes)
    return (_contract(xp, f"{so},{s2}->{s1}", g, conj(xp, x2)),
            _contract(xp, f"{s1},{so}->{s2}", conj(xp, x1), g))


tensordot.defvjp(_tensordot_vjp)
tensordot.defjvp(lambda xp, t, out, x1, x2, axes=2: xp.tensordot(t, x2, axes=axes),
                 lambda xp, t, out, x1, x2, axes=2: xp.tensordot(x1, t, axes=axes))


# ---------------------------------------------------------------- vecdot


def _vec_axis(who, axis, s1, s2):
    """``axis`` as the standard reads it: negative, counted from the end, in [-N, -1] for
    N = min(x1.ndim, x2.ndim); a non-negative axis is accepted when both have the same rank."""
    n = min(len(s1), len(s2))
    if n == 0:
        raise ShapeError(f"{who}: {s1} and {s2}: both inputs must have at least one dimension")
    if axis >= 0 and len(s1) == len(s2):
        axis -= len(s1)
    if not -n <= axis <= -1:
        raise ShapeError(f"{who}: axis {axis} is out of range for inputs of shapes {s1} and {s2}; it must be "
                         f"negative, in [-{n}, -1] (non-negative axes only when both have the same rank)")
    if s1[axis] != s2[axis]:
        raise ShapeError(f"{who}: {s1} and {s2}: the vectors along axis {axis} have different lengths "
                         f"({s1[axis]} vs {s2[axis]})")
    msg = broadcast_problem([s1[:axis] + s1[len(s1) + axis + 1:], s2[:axis] + s2[len(s2) + axis + 1:]])
    if msg:
        raise ShapeError(f"{who}: {s1} and {s2}: the other dimensions do not broadcast: {msg}")
    return axis


@defop("vecdot", broadcasting=True)
def vecdot(xp, x1, x2, /, *, axis=-1):
    """``Σ conj(x1)·x2`` along ``axis`` (negative, counted from the end), broadcasting elsewhere.

    >>> import xpgrad as xg
    >>> float(xg.vecdot(xg.asarray([1.0, 2.0]), xg.asarray([3.0, 4.0])))
    11.0
    """
    axis = _vec_axis("vecdot", axis, tuple(x1.shape), tuple(x2.shape))
    return xp.vecdot(x1, x2, axis=axis)


def _vecdot_vjp(xp, g, out, x1, x2, axis=-1):
    axis = _vec_axis("vecdot", axis, tuple(x1.shape), tuple(x2.shape))
    g = _insert1(xp, g, axis)                       # the vector axis back, size 1: broadcasts
    return conj(xp, g) * x2, g * x1                  # x̄1 = conj(ḡ)·x2, x̄2 = ḡ·x1


vecdot.defvjp(_vecdot_vjp)
vecdot.defjvp(lambda xp, t, out, x1, x2, axis=-1: call(vecdot, xp, t, x2, axis=axis),
              lambda xp, t, out, x1, x2, axis=-1: call(vecdot, xp, x1, t, axis=axis))


# ---------------------------------------------------------------- samples

linear.defsamples(S((randn(4, 3), randn(5, 3))), S((randn(3,), randn(2, 3))),
                  S((randn(2, 4, 3), randn(5, 3))), S((crandn(4, 3), crandn(5, 3))),
                  S((randn(4, 3), crandn(5, 3))))
affine.defsamples(S((randn(4, 3), randn(5, 3), randn(5))), S((randn(3,), randn(2, 3), randn(2))),
                  S((randn(2, 4, 3), randn(5, 3), randn(5))), S((crandn(4, 3), crandn(5, 3), crandn(5))),
                  S((crandn(2, 4, 3), randn(5, 3), randn(5))))
matmul.defsamples(S((randn(3, 4), randn(4, 2))), S((randn(4,), randn(4, 2))),
                  S((randn(3, 4), randn(4,))), S((randn(4,), randn(4,))),
                  S((randn(2, 3, 4), randn(4, 5))), S((randn(2, 1, 3, 4), randn(5, 4, 2))),
                  S((randn(4,), randn(2, 4, 3))), S((randn(2, 3, 4), randn(4,))),
                  S((crandn(3, 4), crandn(4, 2))), S((crandn(2, 3, 4), crandn(4,))),
                  S((randn(3, 4), crandn(4, 2))), S((crandn(4,), randn(4, 2))))
tensordot.defsamples(S((randn(3, 4, 5), randn(4, 5, 2))), S((randn(3, 4), randn(4, 5)), {"axes": 1}),
                     S((randn(2, 3), randn(4,)), {"axes": 0}),
                     S((randn(3, 4, 5), randn(5, 2, 3)), {"axes": ((0, 2), (2, 0))}),
                     S((randn(3, 4), randn(2, 3)), {"axes": ([0], [1])}),
                     S((crandn(3, 4, 5), crandn(4, 5, 2))),
                     S((crandn(3, 4), randn(2, 3)), {"axes": ([0], [1])}))
_EINSUM = [("ij,jk->ik", (3, 4), (4, 5)), ("ii->i", (3, 3)), ("ii", (3, 3)),
           ("bij,bjk->bik", (2, 3, 4), (2, 4, 5)), ("...ij,...jk", (2, 1, 3, 4), (5, 4, 2)),
           ("i,i", (4,), (4,)), ("ij->", (3, 4)), ("ijk->kji", (2, 3, 4)), ("i,j->ij", (3,), (4,)),
           ("ij,jk,kl->il", (2, 3), (3, 4), (4, 2)), ("iij->ji", (3, 3, 2)), (",ij->ji", (), (2, 3)),
           ("ij,ij->i", (3, 4), (3, 4)), ("bii,bi->b", (2, 3, 3), (2, 3))]
einsum.defsamples(*(S(tuple(randn(*s) for s in shapes), {"subscripts": sub}) for sub, *shapes in _EINSUM))
_CEINSUM = [("ij,jk->ik", (3, 4), (4, 5)), ("bii,bi->b", (2, 3, 3), (2, 3)), ("i,j->ij", (3,), (4,)),
            ("ij,jk,kl->il", (2, 3), (3, 4), (4, 2))]
einsum.defsamples(*(S(tuple(crandn(*s) for s in shapes), {"subscripts": sub}) for sub, *shapes in _CEINSUM),
                  S((randn(3, 4), crandn(4, 5)), {"subscripts": "ij,jk->ik"}))
vecdot.defsamples(S((randn(4,), randn(4,))), S((randn(3, 4), randn(4,))),
                  S((randn(2, 1, 4), randn(3, 4))), S((randn(4, 3), randn(4, 3)), {"axis": -2}),
                  S((randn(2, 4, 3), randn(4, 1)), {"axis": -2}), S((randn(3, 4), randn(3, 4)), {"axis": 1}),
                  S((crandn(3, 4), crandn(3, 4))), S((crandn(2, 4), randn(4,))),
                  S((randn(3, 4), crandn(2, 1, 4))))
