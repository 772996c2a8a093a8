"""Losses: values against hand-written references of the formulas (loops over samples, float64),
every reduction, weights, ignore_index, label smoothing, probability targets, extremes, dtypes,
errors, closed-form gradients, and a few losses on every device."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.ops import losses as L

RNG = np.random.default_rng(7)


def _log_softmax(v):
    m = max(v)
    s = math.log(sum(math.exp(a - m) for a in v))
    return [a - m - s for a in v]


def _rows(x, t=None):
    """The class axis last, everything else one axis of samples: (M, C) (and t as (M,))."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        return x[None], (None if t is None else np.asarray(t).reshape(1))
    xm = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    return xm, (None if t is None else np.asarray(t).reshape(-1))


def _reduced(losses, shape, reduction, denominator):
    if reduction == "none":
        return np.asarray(losses).reshape(shape)
    total = sum(losses)
    return total / denominator if reduction == "mean" else total


def ce_reference(x, t, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, logits=True):
    """PyTorch's cross_entropy (nll_loss when ``logits`` is False) for class indices, sample by sample."""
    xm, tm = _rows(x, t)
    c = xm.shape[1]
    w = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    losses, den = [], 0.0
    for row, k in zip(xm, tm):
        if k == ignore_index:
            losses.append(0.0)
            continue
        lp = _log_softmax(list(row)) if logits else list(row)
        nll = -w[k] * lp[k]
        smooth = -sum(w[j] * lp[j] for j in range(c))
        losses.append((1 - label_smoothing) * nll + label_smoothing / c * smooth)
        den += w[k]
    shape = np.asarray(t).shape
    return _reduced(losses, shape, reduction, den)


def ce_probs_reference(x, p, weight=None, reduction="mean", label_smoothing=0.0):
    xm, _ = _rows(x)
    pm, _ = _rows(p)
    c = xm.shape[1]
    w = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    losses = []
    for row, prow in zip(xm, pm):
        lp = _log_softmax(list(row))
        q = [(1 - label_smoothing) * a + label_smoothing / c for a in prow]
        losses.append(-sum(w[j] * q[j] * lp[j] for j in range(c)))
    shape = np.asarray(x).shape[:1] + np.asarray(x).shape[2:] if np.ndim(x) > 1 else ()
    return _reduced(losses, shape, reduction, len(losses))


def _elementwise(fn, reduction, *arrays, batch=None):
    arrays = [np.broadcast_to(np.asarray(a, dtype=np.float64), np.shape(arrays[0])) for a in arrays]
    flat = [fn(*vals) for vals in zip(*(a.reshape(-1) for a in arrays))]
    if reduction == "none":
        return np.asarray(flat).reshape(np.shape(arrays[0]))
    if reduction == "mean":
        return sum(flat) / len(flat)
    if reduction == "batchmean":
        return sum(flat) / (batch or 1)
    return sum(flat)


def _clog(v):
    return max(math.log(v), -100.0) if v > 0 else -100.0


def _softplus(v):
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


def _t(a, dtype=xg.float64, **kw):
    return xg.asarray(np.asarray(a), dtype=dtype, **kw)


def _close(got, want, rtol=1e-12, atol=1e-14):
    np.testing.assert_allclose(np.asarray(got.numpy() if isinstance(got, xg.Tensor) else got), want,
                               rtol=rtol, atol=atol)


# ---------------------------------------------------------------- cross_entropy and nll_loss

CE_CASES = [  # (x shape, C axis size, params)
    ((5, 4), {}),
    ((5, 4), {"reduction": "none"}),
    ((5, 4), {"reduction": "sum"}),
    ((5, 4), {"label_smoothing": 0.2}),
    ((5, 4), {"label_smoothing": 0.2, "reduction": "none"}),
    ((6, 3), {"weight": [0.5, 2.0, 1.5]}),
    ((6, 3), {"weight": [0.5, 2.0, 1.5], "reduction": "none"}),
    ((6, 3), {"weight": [0.5, 2.0, 1.5], "label_smoothing": 0.3}),
    ((6, 3), {"weight": [0.5, 2.0, 1.5], "label_smoothing": 0.3, "ignore_index": 1}),
    ((8, 3), {"ignore_index": 0}),
    ((8, 3), {"ignore_index": 2, "reduction": "none"}),
    ((8, 3), {"ignore_index": 1, "label_smoothing": 0.1}),
    ((2, 3, 4), {}),
    ((2, 3, 4), {"reduction": "none", "weight": [1.0, 2.0, 3.0]}),
    ((2, 3, 2, 2), {"label_smoothing": 0.1, "reduction": "sum"}),
    ((4,), {}),
    ((4,), {"reduction": "none", "weight": [1.0, 2.0, 3.0, 4.0]}),
]


def _targets(shape, c, ignore_index=None):
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = RNG.integers(0, c, tshape)
    if ignore_index is not None and ignore_index < 0 and t.ndim:
        t.reshape(-1)[0] = ignore_index
    return t


@pytest.mark.parametrize("shape,params", CE_CASES)
def test_cross_entropy_matches_the_formula(shape, params):
    c = shape[1] if len(shape) > 1 else shape[0]
    x = RNG.standard_normal(shape)
    t = _targets(shape, c)
    p = dict(params)
    w = p.pop("weight", None)
    want = ce_reference(x, t, w, **p)
    got = L.cross_entropy(_t(x), xg.asarray(t), None if w is None else _t(w), **p)
    _close(got, want)


@pytest.mark.parametrize("shape,params", [(s, p) for s, p in CE_CASES if "label_smoothing" not in p])
def test_nll_loss_matches_the_formula(shape, params):
    c = shape[1] if len(shape) > 1 else shape[0]
    x = RNG.standard_normal(shape)
    t = _targets(shape, c)
    p = dict(params)
    w = p.pop("weight", None)
    want = ce_reference(x, t, w, logits=False, **p)
    _close(L.nll_loss(_t(x), xg.asarray(t), None if w is None else _t(w), **p), want)


def test_ignore_index_outside_the_classes():
    x = RNG.standard_normal((4, 3))
    t = np.array([0, -100, 2, -100])
    for red in ("mean", "none", "sum"):
        _close(L.cross_entropy(_t(x), xg.asarray(t), reduction=red), ce_reference(x, t, reduction=red))
        _close(L.cross_entropy(_t(x), xg.asarray(t), reduction=red, label_smoothing=0.25),
               ce_reference(x, t, reduction=red, label_smoothing=0.25))
    t = np.array([0, 7, 2, 7])
    _close(L.nll_loss(_t(x), xg.asarray(t), _t([1.0, 2.0, 3.0]), ignore_index=7),
           ce_reference(x, t, [1.0, 2.0, 3.0], ignore_index=7, logits=False))


def test_mean_of_only_ignored_targets_is_nan_like_pytorch():
    with np.errstate(invalid="ignore"):
        y = L.cross_entropy(_t(np.zeros((2, 3))), xg.asarray([-100, -100]))
    assert math.isnan(float(y))


@pytest.mark.parametrize("params", [{}, {"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.1},
                                    {"weight": [0.5, 2.0, 1.5]}])
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4)])
def test_cross_entropy_with_probabilities(shape, params):
    x = RNG.standard_normal(shape)
    prob = RNG.uniform(0, 1, shape)
    p = dict(params)
    w = p.pop("weight", None)
    got = L.cross_entropy(_t(x), _t(prob), None if w is None else _t(w), **p)
    _close(got, ce_probs_reference(x, prob, w, **p))


def test_cross_entropy_probabilities_of_one_hot_targets_equal_class_indices():
    x = RNG.standard_normal((6, 4))
    t = RNG.integers(0, 4, 6)
    onehot = np.eye(4)[t]
    for p in ({}, {"label_smoothing": 0.2}, {"reduction": "none"}):
        _close(L.cross_entropy(_t(x), _t(onehot), **p), L.cross_entropy(_t(x), xg.asarray(t), **p).numpy())


def test_cross_entropy_by_hand():
    # two equal logits: log 2; logits (0, log 3): −log(1/4) for class 0
    assert float(L.cross_entropy(_t([[0.0, 0.0]]), xg.asarray([1]))) == pytest.approx(math.log(2))
    assert float(L.cross_entropy(_t([0.0, math.log(3.0)]), xg.asarray(0))) == pytest.approx(math.log(4))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(2, 5), seed=st.integers(0, 10 ** 6),
       reduction=st.sampled_from(["none", "mean", "sum"]), weighted=st.booleans(),
       ignore=st.sampled_from([-100, 0, 1]))
def test_cross_entropy_is_nll_of_log_softmax(n, c, seed, reduction, weighted, ignore):
    rng = np.random.default_rng(seed)
    x = _t(rng.standard_normal((n, c)) * 3)
    t = rng.integers(0, c, n)
    t[0] = 0 if ignore == 1 else 1   # one target that is not ignored, so the mean is defined
    w = _t(rng.uniform(0.2, 2.0, c)) if weighted else None
    ce = L.cross_entropy(x, xg.asarray(t), w, ignore_index=ignore, reduction=reduction)
    nll = L.nll_loss(xg.log_softmax(x, axis=1), xg.asarray(t), w, ignore_index=ignore, reduction=reduction)
    np.testing.assert_allclose(ce.numpy(), nll.numpy(), rtol=1e-13, atol=1e-14)


def test_cross_entropy_gradient_is_softmax_minus_targets():
    x = RNG.standard_normal((5, 4))
    t = RNG.integers(0, 4, 5)
    sm = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    onehot = np.eye(4)[t]
    xt = _t(x, requires_grad=True)
    L.cross_entropy(xt, xg.asarray(t)).backward()
    _close(xt.grad, (sm - onehot) / 5)
    # weighted mean: w[t]·(softmax − onehot) / Σ w[t]; smoothing: targets (1 − ε)·onehot + ε/C
    w = np.array([0.5, 1.0, 2.0, 4.0])
    xt = _t(x, requires_grad=True)
    L.cross_entropy(xt, xg.asarray(t), _t(w)).backward()
    _close(xt.grad, w[t][:, None] * (sm - onehot) / w[t].sum())
    xt = _t(x, requires_grad=True)
    L.cross_entropy(xt, xg.asarray(t), label_smoothing=0.2, reduction="sum").backward()
    _close(xt.grad, sm - (0.8 * onehot + 0.05))


def test_gradient_of_the_class_weights():
    # mean = Σ w[t]·ℓ / Σ w[t]: ∂/∂w_c = (Σ_{t=c} ℓ − mean·#{t = c}) / Σ w[t]
    x = RNG.standard_normal((6, 3))
    t = np.array([0, 1, 1, 2, 2, 2])
    w = np.array([0.5, 2.0, 1.5])
    wt = _t(w, requires_grad=True)
    loss = L.cross_entropy(_t(x), xg.asarray(t), wt)
    loss.backward()
    nll = np.array([-_log_softmax(list(r))[k] for r, k in zip(x, t)])
    den = w[t].sum()
    want = [(nll[t == c].sum() - float(loss) * (t == c).sum()) / den for c in range(3)]
    _close(wt.grad, want)
    xg.testing.check_grads(lambda a, b: L.cross_entropy(a, xg.asarray(t), b, label_smoothing=0.1),
                           (_t(x), _t(w)), order=2)


def test_probability_targets_are_differentiable():
    x, p = RNG.standard_normal((3, 4)), RNG.uniform(0, 1, (3, 4))
    xg.testing.check_grads(lambda a, b: L.cross_entropy(a, b, label_smoothing=0.1), (_t(x), _t(p)), order=2)
    pt = _t(p, requires_grad=True)
    L.cross_entropy(_t(x), pt, reduction="sum").backward()
    _close(pt.grad, -np.array([_log_softmax(list(r)) for r in x]))


def test_extreme_logits_give_finite_losses_and_gradients():
    x = _t([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], requires_grad=True)
    t = xg.asarray([0, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = L.cross_entropy(x, t, reduction="none")
        xg.sum(loss).backward()
    _close(loss, [0.0, 2e4 + math.log(2)])
    _close(x.grad, [[0.0, 0.0, 0.0], [-1.0, 0.5, 0.5]])
    for dtype in (xg.float32, xg.float64):
        xs = _t([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=dtype, requires_grad=True)
        probs = _t([[0.2, 0.3, 0.5]] * 2, dtype=dtype)
        for loss in (L.cross_entropy(xs, t, label_smoothing=0.1), L.cross_entropy(xs, probs)):
            xs.grad = None
            loss.backward()
            assert np.isfinite(float(loss)) and np.isfinite(xs.grad.numpy()).all()


def test_cross_entropy_hot_path_stays_float32():
    x = _t(RNG.standard_normal((128, 10)), dtype=xg.float32, requires_grad=True)
    t = xg.asarray(RNG.integers(0, 10, 128))
    loss = L.cross_entropy(x, t)
    loss.backward()
    assert loss.dtype == xg.float32 and x.grad.dtype == xg.float32
    x64 = _t(x.numpy(), requires_grad=True)
    L.cross_entropy(x64, t).backward()
    np.testing.assert_allclose(float(loss), ce_reference(x.numpy(), t.numpy()), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), x64.grad.numpy(), rtol=1e-5, atol=1e-8)


# ---------------------------------------------------------------- binary cross-entropy


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_matches_the_formula(reduction):
    x, y, w = RNG.uniform(0.01, 0.99, (3, 4)), RNG.uniform(0, 1, (3, 4)), RNG.uniform(0.5, 2, (4,))
    ref = _elementwise(lambda a, b, c: -c * (b * _clog(a) + (1 - b) * _clog(1 - a)), reduction, x, y, w)
    _close(L.binary_cross_entropy(_t(x), _t(y), _t(w), reduction=reduction), ref)
    ref = _elementwise(lambda a, b: -(b * _clog(a) + (1 - b) * _clog(1 - a)), reduction, x, y)
    _close(L.binary_cross_entropy(_t(x), _t(y), reduction=reduction), ref)


def test_binary_cross_entropy_clamps_the_log_at_minus_100():
    x = _t([0.0, 1.0, 1e-50, 0.0], requires_grad=True)
    y = _t([1.0, 0.0, 1.0, 0.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = L.binary_cross_entropy(x, y, reduction="none")
        xg.sum(loss).backward()
    _close(loss, [100.0, 100.0, 100.0, 0.0])
    assert np.isfinite(x.grad.numpy()).all()
    _close(x.grad, [-1e12, 1e12, -1e12, 0.0])   # (x − y)/max(x(1 − x), 1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits_matches_the_formula(reduction):
    x, y = RNG.standard_normal((3, 4)) * 4, RNG.uniform(0, 1, (3, 4))
    w, pw = RNG.uniform(0.5, 2, (3, 4)), RNG.uniform(0.5, 3, (4,))
    ref = _elementwise(lambda a, b, c, p: c * (p * b * _softplus(-a) + (1 - b) * _softplus(a)), reduction,
                       x, y, w, pw)
    got = L.binary_cross_entropy_with_logits(_t(x), _t(y), _t(w), reduction=reduction, pos_weight=_t(pw))
    _close(got, ref)
    ref = _elementwise(lambda a, b: b * _softplus(-a) + (1 - b) * _softplus(a), reduction, x, y)
    _close(L.binary_cross_entropy_with_logits(_t(x), _t(y), reduction=reduction), ref)


def test_binary_cross_entropy_with_logits_is_stable():
    x = _t([1e4, -1e4, 1e4, -1e4, 40.0], requires_grad=True)
    y = _t([1.0, 1.0, 0.0, 0.0, 1.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = L.binary_cross_entropy_with_logits(x, y, reduction="none")
        xg.sum(loss).backward()
    _close(loss, [0.0, 1e4, 1e4, 0.0, math.exp(-40.0)], rtol=1e-12, atol=0)   # no cancellation at x = 40
    _close(x.grad, [0.0, -1.0, 1.0, 0.0, -math.exp(-40.0)], atol=1e-30)


@settings(max_examples=50, deadline=None)
@given(st.floats(-10, 10), st.floats(0, 1), st.floats(0.5, 3))
def test_binary_cross_entropy_with_logits_is_bce_of_the_sigmoid(v, y, pw):
    a = L.binary_cross_entropy_with_logits(_t([v]), _t([y]), pos_weight=_t([pw]))
    s = 1 / (1 + math.exp(-v))
    assert float(a) == pytest.approx(-(pw * y * math.log(s) + (1 - y) * math.log(1 - s)), rel=1e-10)
    b = L.binary_cross_entropy(xg.sigmoid(_t([v])), _t([y]))
    assert float(b) == pytest.approx(float(L.binary_cross_entropy_with_logits(_t([v]), _t([y]))), rel=1e-9)


def test_binary_cross_entropy_gradients_by_hand():
    x, y = RNG.standard_normal(6), RNG.uniform(0, 1, 6)
    xt, yt = _t(x, requires_grad=True), _t(y, requires_grad=True)
    L.binary_cross_entropy_with_logits(xt, yt).backward()
    _close(xt.grad, (1 / (1 + np.exp(-x)) - y) / 6)
    _close(yt.grad, -x / 6)
    xg.testing.check_grads(lambda a, b, c, d: L.binary_cross_entropy_with_logits(a, b, c, pos_weight=d),
                           (_t(x), _t(y), _t(RNG.uniform(0.5, 2, 6)), _t(RNG.uniform(0.5, 2, 6))), order=2)
    p = RNG.uniform(0.1, 0.9, 6)
    xg.testing.check_grads(lambda a, b, c: L.binary_cross_entropy(a, b, c, reduction="sum"),
                           (_t(p), _t(y), _t(RNG.uniform(0.5, 2, 6))), order=2)


# ---------------------------------------------------------------- regression losses and kl_div

ELEMENTWISE = [
    ("mse_loss", {}, lambda a, b: (a - b) ** 2),
    ("l1_loss", {}, lambda a, b: abs(a - b)),
    ("huber_loss", {}, lambda a, b: 0.5 * (a - b) ** 2 if abs(a - b) <= 1 else abs(a - b) - 0.5),
    ("huber_loss", {"delta": 0.5}, lambda a, b: 0.5 * (a - b) ** 2 if abs(a - b) <= 0.5
     else 0.5 * (abs(a - b) - 0.25)),
    ("smooth_l1_loss", {}, lambda a, b: 0.5 * (a - b) ** 2 if abs(a - b) < 1 else abs(a - b) - 0.5),
    ("smooth_l1_loss", {"beta": 0.5}, lambda a, b: (a - b) ** 2 if abs(a - b) < 0.5 else abs(a - b) - 0.25),
    ("smooth_l1_loss", {"beta": 0.0}, lambda a, b: abs(a - b)),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,params,fn", ELEMENTWISE)
def test_regression_losses_match_the_formula(name, params, fn, reduction):
    x, y = RNG.standard_normal((4, 5)) * 2, RNG.standard_normal((4, 5))
    got = getattr(L, name)(_t(x), _t(y), reduction=reduction, **params)
    _close(got, _elementwise(fn, reduction, x, y))


@pytest.mark.parametrize("name,params,fn", ELEMENTWISE)
def test_regression_losses_differentiate_both_sides(name, params, fn):
    x, y = RNG.standard_normal(5) * 2, RNG.standard_normal(5)
    xg.testing.check_grads(lambda a, b: getattr(L, name)(a, b, **params), (_t(x), _t(y)), order=2)


def test_huber_gradient_by_hand():
    x = _t([0.3, -2.0, 4.0], requires_grad=True)
    L.huber_loss(x, _t([0.0, 0.0, 0.0]), reduction="sum", delta=1.5).backward()
    _close(x.grad, [0.3, -1.5, 1.5])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
def test_kl_div_matches_the_formula(reduction):
    x = np.log(RNG.dirichlet(np.ones(4), 3))
    p = RNG.dirichlet(np.ones(4), 3)
    p[0, 1] = 0.0   # a zero probability contributes nothing
    ref = _elementwise(lambda a, b: b * (math.log(b) - a) if b > 0 else 0.0, reduction, x, p, batch=3)
    _close(L.kl_div(_t(x), _t(p), reduction=reduction), ref)
    ref = _elementwise(lambda a, b: math.exp(b) * (b - a), reduction, x, x[::-1], batch=3)
    _close(L.kl_div(_t(x), _t(x[::-1]), reduction=reduction, log_target=True), ref)


def test_kl_div_of_a_distribution_with_itself_is_zero_and_target_gradient():
    logq = np.log(np.array([[0.2, 0.3, 0.5]]))
    assert float(L.kl_div(_t(logq), _t(np.exp(logq)), reduction="batchmean")) == pytest.approx(0, abs=1e-16)
    p = _t([[0.5, 0.0, 0.5]], requires_grad=True)
    L.kl_div(_t(logq), p, reduction="sum").backward()
    _close(p.grad, [[math.log(0.5) + 1 - logq[0, 0], 0.0, math.log(0.5) + 1 - logq[0, 2]]])


# ---------------------------------------------------------------- dtypes, legacy arguments, errors

FLOAT32_CALLS = [
    ("cross_entropy", lambda x: L.cross_entropy(x, xg.asarray([0, 2, 1]), _t([1.0, 2.0, 0.5], xg.float32),
                                                label_smoothing=0.1)),
    ("cross_entropy probs", lambda x: L.cross_entropy(x, xg.softmax(x * 2))),
    ("nll_loss", lambda x: L.nll_loss(x, xg.asarray([0, 2, 1]))),
    ("binary_cross_entropy", lambda x: L.binary_cross_entropy(xg.sigmoid(x), xg.sigmoid(-x))),
    ("binary_cross_entropy_with_logits",
     lambda x: L.binary_cross_entropy_with_logits(x, xg.sigmoid(-x), pos_weight=_t([2.0] * 3, xg.float32))),
    ("mse_loss", lambda x: L.mse_loss(x, x * 0.5)),
    ("l1_loss", lambda x: L.l1_loss(x, x * 0.5)),
    ("huber_loss", lambda x: L.huber_loss(x, x * 0.5)),
    ("smooth_l1_loss", lambda x: L.smooth_l1_loss(x, x * 0.5, beta=0.5)),
    ("kl_div", lambda x: L.kl_div(xg.log_softmax(x, axis=1), xg.softmax(x * 2, axis=1),
                                  reduction="batchmean")),
]


@pytest.mark.parametrize("name,fn", FLOAT32_CALLS, ids=[n for n, _ in FLOAT32_CALLS])
def test_float32_stays_float32(name, fn):
    x = _t(RNG.standard_normal((3, 3)), dtype=xg.float32, requires_grad=True)
    loss = fn(x)
    assert loss.dtype == xg.float32
    loss.backward()
    assert x.grad.dtype == xg.float32 and np.isfinite(x.grad.numpy()).all()


def test_legacy_size_average_and_reduce():
    x, y = _t([1.0, 2.0]), _t([0.0, 0.0])
    with pytest.warns(DeprecationWarning, match="size_average and reduce are deprecated"):
        assert float(L.mse_loss(x, y, size_average=False)) == 5.0
    with pytest.warns(DeprecationWarning):
        assert L.mse_loss(x, y, reduce=False).tolist() == [1.0, 4.0]
    with pytest.warns(DeprecationWarning):
        assert float(L.nll_loss(_t([[-1.0, -2.0]]), xg.asarray([1]), None, True)) == 2.0


def test_lists_and_arrays_are_accepted():
    assert float(L.cross_entropy([[0.0, 0.0]], [1])) == pytest.approx(math.log(2))
    assert float(L.mse_loss(np.array([1.0, 3.0]), [1.0, 1.0])) == 2.0


ERRORS = [
    (lambda: L.cross_entropy(_t(np.zeros((4, 3))), xg.asarray([0, 1, 2])), xg.ShapeError,
     r"cross_entropy: input of shape \(4, 3\) \(class axis 1, C = 3\) needs a target of class indices of "
     r"shape \(4,\), got \(3,\)"),
    (lambda: L.cross_entropy(_t(np.zeros((2, 3, 5))), xg.asarray(np.zeros((2, 3), int))), xg.ShapeError,
     r"needs a target of class indices of shape \(2, 5\)"),
    (lambda: L.cross_entropy(_t(np.zeros((4, 3))), _t(np.zeros((4,)))), xg.ShapeError,
     r"cross_entropy: a target of class probabilities must have the input's shape \(4, 3\), got \(4,\) "
     r"\(class indices would have shape \(4,\) and an integer dtype\)"),
    (lambda: L.cross_entropy(_t(np.zeros((4, 3))), xg.asarray([0, 1, 3, 1])), xg.IndexOutOfBoundsError,
     r"cross_entropy: target holds class index 3 \(1 target\(s\) out of range\), but the input has C = 3 "
     r"classes \(valid indices 0 to 2, or ignore_index=-100\)"),
    (lambda: L.nll_loss(_t(np.zeros((4, 3))), xg.asarray([0, -1, -100, 1])), xg.IndexOutOfBoundsError,
     r"nll_loss: target holds class index -1"),
    (lambda: L.nll_loss(_t(np.zeros((4, 3))), _t([0.0, 1.0, 2.0, 1.0])), xg.DTypeError,
     r"nll_loss: target must hold integer class indices, got dtype float64"),
    (lambda: L.cross_entropy(_t(np.zeros((4, 3))), xg.asarray([True, False, True, True])), xg.DTypeError,
     r"cross_entropy: target must hold integer class indices, got dtype bool"),
    (lambda: L.cross_entropy(_t(np.zeros((4, 3))), xg.asarray([0, 1, 2, 1]), _t([1.0, 2.0])), xg.ShapeError,
     r"cross_entropy: weight must have one entry per class, shape \(3,\), got \(2,\)"),
    (lambda: L.cross_entropy(_t(np.zeros((4, 3))), xg.asarray([0, 1, 2, 1]), label_smoothing=1.5), xg.OpError,
     r"cross_entropy: label_smoothing must be in \[0, 1\], got 1.5"),
    (lambda: L.cross_entropy(_t(np.zeros((4, 3))), xg.asarray([0, 1, 2, 1]), reduction="avg"), xg.OpError,
     r"cross_entropy: reduction must be one of 'none', 'mean', 'sum', got 'avg'"),
    (lambda: L.cross_entropy(_t(np.zeros(())), xg.asarray(0)), xg.ShapeError,
     r"cross_entropy: input of shape \(\) has no class axis"),
    (lambda: L.mse_loss(_t(np.zeros((4, 1))), _t(np.zeros((4,)))), xg.ShapeError,
     r"mse_loss: target of shape \(4,\) must have the input's shape \(4, 1\)"),
    (lambda: L.l1_loss(_t([1.0]), _t([1.0]), reduction="batchmean"), xg.OpError,
     r"l1_loss: reduction must be one of 'none', 'mean', 'sum', got 'batchmean'"),
    (lambda: L.huber_loss(_t([1.0]), _t([1.0]), delta=0.0), xg.OpError,
     r"huber_loss: delta must be positive"),
    (lambda: L.smooth_l1_loss(_t([1.0]), _t([1.0]), beta=-1.0), xg.OpError,
     r"smooth_l1_loss: beta must be non-negative"),
    (lambda: L.binary_cross_entropy(_t([0.5, 0.5]), _t([1.0])), xg.ShapeError,
     r"binary_cross_entropy: target of shape \(1,\) must have the input's shape \(2,\)"),
    (lambda: L.binary_cross_entropy(_t([[0.5, 0.5]]), _t([[1.0, 0.0]]), _t([1.0, 2.0, 3.0])), xg.ShapeError,
     r"binary_cross_entropy: weight of shape \(3,\) must broadcast to the input's shape \(1, 2\)"),
    (lambda: L.binary_cross_entropy_with_logits(_t([[0.5, 0.5]]), _t([[1.0, 0.0]]), pos_weight=_t([1.0] * 3)),
     xg.ShapeError, r"binary_cross_entropy_with_logits: pos_weight of shape \(3,\) must broadcast"),
    (lambda: L.binary_cross_entropy(_t([0.5, 1.25]), _t([1.0, 0.0])), xg.OpError,
     r"binary_cross_entropy: input must hold probabilities in \[0, 1\], got 1.25 among \(2,\) float64 "
     r"on cpu; for logits use binary_cross_entropy_with_logits"),
    (lambda: L.binary_cross_entropy(_t([-0.5, 0.5]), _t([1.0, 0.0])), xg.OpError, r"got -0.5 among"),
    (lambda: L.binary_cross_entropy(_t([math.nan, 0.5]), _t([1.0, 0.0])), xg.OpError, r"got nan among"),
    (lambda: L.kl_div(_t([0.5]), _t([0.5]), reduction="batch"), xg.OpError,
     r"kl_div: reduction must be one of"),
    (lambda: L.mse_loss(_t([1.0]), None), xg.DTypeError, r"mse_loss: target must be a tensor, got NoneType"),
]


@pytest.mark.parametrize("call,exc,message", ERRORS)
def test_errors_name_the_function_and_the_expectation(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_ignore_index_may_be_out_of_range_values():
    # an ignored target outside [0, C) is not an error, an unignored one is
    L.cross_entropy(_t(np.zeros((2, 3))), xg.asarray([5, 1]), ignore_index=5)
    with pytest.raises(xg.IndexOutOfBoundsError, match="target holds class index 5"):
        L.cross_entropy(_t(np.zeros((2, 3))), xg.asarray([5, 1]))


def test_public_names():
    assert L.__all__ == ["cross_entropy", "nll_loss", "binary_cross_entropy",
                         "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "huber_loss",
                         "smooth_l1_loss", "kl_div"]
    ops = xg.registered_ops()
    for name in (*L.__all__, "cross_entropy_probs"):
        assert name in ops


def test_integer_targets_are_not_differentiable():
    t = xg.asarray([0, 1])
    assert not t.requires_grad
    x = _t(np.zeros((2, 3)), requires_grad=True)
    gx, = xg.grad(lambda a: L.cross_entropy(a, t), argnums=(0,))(x)
    assert gx.shape == (2, 3)


# ---------------------------------------------------------------- other devices


@pytest.fixture(params=["opencl:0", "fpga:0"])
def device(request):
    try:
        return xg.get_backend(request.param).device
    except xg.XpgradError as exc:
        pytest.skip(f"{request.param} is not usable here: {exc}")


DEVICE_CALLS = [
    ("cross_entropy", lambda x, d: L.cross_entropy(x, xg.asarray([0, 3, 1], device=d))),
    ("cross_entropy weighted", lambda x, d: L.cross_entropy(
        x, xg.asarray([0, 3, 1], device=d), _t([1.0, 2.0, 0.5, 1.5], xg.float32, device=d),
        label_smoothing=0.1, ignore_index=1)),
    ("cross_entropy probs", lambda x, d: L.cross_entropy(x, xg.softmax(x * 0.5, axis=1), reduction="sum")),
    ("binary_cross_entropy_with_logits", lambda x, d: L.binary_cross_entropy_with_logits(
        x, xg.sigmoid(-x), pos_weight=_t([2.0, 1.0, 0.5, 1.0], xg.float32, device=d))),
    ("smooth_l1_loss", lambda x, d: L.smooth_l1_loss(x, x * 0.25, reduction="none")),
]


@pytest.mark.parametrize("name,fn", DEVICE_CALLS, ids=[n for n, _ in DEVICE_CALLS])
def test_on_other_devices(device, name, fn):
    xs = RNG.standard_normal((3, 4)) * 3
    x = _t(xs, xg.float32, device=device, requires_grad=True)
    loss = fn(x, device)
    xg.sum(loss).backward()
    assert loss.device == device and x.grad.device == device and loss.dtype == xg.float32
    c = _t(xs, xg.float32, requires_grad=True)
    lc = fn(c, "cpu")
    xg.sum(lc).backward()
    np.testing.assert_allclose(loss.numpy(), lc.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), c.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_out_of_range_class_is_caught_on_other_devices(device):
    with pytest.raises(xg.IndexOutOfBoundsError, match="class index 4"):
        L.cross_entropy(_t(np.zeros((2, 4)), xg.float32, device=device), xg.asarray([0, 4], device=device))
