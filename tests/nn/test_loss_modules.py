"""Loss modules: values against NumPy formulas for every reduction, gradients on cpu and fpga:0,
class weights as buffers, option checks."""

import numpy as np
import pytest

import xpgrad as xg
from xpgrad import nn
from xpgrad.testing import check_grads

F64 = xg.float64
REDUCTIONS = ["mean", "sum", "none"]


@pytest.fixture(params=["cpu", "fpga:0"])
def device(request):
    try:
        xg.get_backend(request.param)
        xg.zeros((1,), dtype=F64, device=request.param)
    except xg.XpgradError as exc:
        pytest.skip(f"{request.param} is not usable here: {exc}")
    return request.param


def t(a, device="cpu"):
    a = np.asarray(a)
    return xg.asarray(a, dtype=F64 if a.dtype.kind == "f" else xg.int64, device=device)


def reduce(v, reduction, denom=None):
    if reduction == "none":
        return v
    if reduction == "sum":
        return v.sum()
    return v.sum() / (v.size if denom is None else denom)


def log_softmax(x, axis=1):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


rng = np.random.default_rng(0)
X = rng.standard_normal((5, 4))
Y = rng.standard_normal((5, 4)) * 2
P = 1 / (1 + np.exp(-X))
T01 = rng.uniform(size=(5, 4))
LABELS = np.array([0, 3, 1, 3, 2])
W = np.array([0.5, 1.0, 2.0, 1.5])


# ------------------------------------------------------------------ regression losses

@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_against_numpy(reduction):
    d = X - Y
    cases = [
        (nn.MSELoss(reduction=reduction), d ** 2),
        (nn.L1Loss(reduction=reduction), np.abs(d)),
        (nn.HuberLoss(reduction=reduction, delta=1.5),
         np.where(np.abs(d) < 1.5, 0.5 * d ** 2, 1.5 * (np.abs(d) - 0.75))),
        (nn.SmoothL1Loss(reduction=reduction, beta=0.5),
         np.where(np.abs(d) < 0.5, 0.5 * d ** 2 / 0.5, np.abs(d) - 0.25)),
    ]
    for loss, ref in cases:
        np.testing.assert_allclose(loss(t(X), t(Y)).numpy(), reduce(ref, reduction), rtol=1e-12,
                                   err_msg=repr(loss))


@pytest.mark.parametrize("loss", [nn.MSELoss(), nn.L1Loss(reduction="sum"), nn.HuberLoss(delta=0.7),
                                  nn.SmoothL1Loss(beta=0.3)], ids=repr)
def test_regression_loss_gradients(loss, device):
    check_grads(lambda a, b: loss(a, b), [t(X, device), t(Y, device)], order=2)


# ------------------------------------------------------------------ classification losses

def _np_cross_entropy(x, y, weight=None, ignore_index=-100, smoothing=0.0, reduction="mean"):
    n, c = x.shape
    w = np.ones(c) if weight is None else weight
    lp = log_softmax(x)
    keep = y != ignore_index
    ys = np.where(keep, y, 0)
    nll = -w[ys] * lp[np.arange(n), ys] * keep
    smooth = -(lp * w).sum(axis=1) / c * keep
    v = (1 - smoothing) * nll + smoothing * smooth
    return reduce(v, reduction, denom=(w[ys] * keep).sum())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, W])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_with_labels(reduction, weight, smoothing):
    y = LABELS.copy()
    y[2] = -1
    loss = nn.CrossEntropyLoss(weight=None if weight is None else t(weight), ignore_index=-1,
                               reduction=reduction, label_smoothing=smoothing)
    ref = _np_cross_entropy(X, y, weight, -1, smoothing, reduction)
    np.testing.assert_allclose(loss(t(X), t(y)).numpy(), ref, rtol=1e-10)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_with_probabilities(smoothing):
    probs = np.exp(log_softmax(Y))
    soft = probs * (1 - smoothing) + smoothing / 4
    ref = -(soft * log_softmax(X) * W).sum(axis=1)
    loss = nn.CrossEntropyLoss(weight=t(W), label_smoothing=smoothing, reduction="none")
    np.testing.assert_allclose(loss(t(X), t(probs)).numpy(), ref, rtol=1e-10)
    np.testing.assert_allclose(nn.CrossEntropyLoss()(t(X), t(probs)).numpy(),
                               -(probs * log_softmax(X)).sum(axis=1).mean(), rtol=1e-10)


def test_cross_entropy_is_stable_for_huge_logits():
    x = t([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]])
    out = nn.CrossEntropyLoss(reduction="none")(x, t([1, 1]))
    np.testing.assert_allclose(out.numpy(), [2e4, 0.0], atol=1e-6)
    assert np.all(np.isfinite(out.numpy()))


def test_classification_gradients(device):
    x, y = t(X, device), t(LABELS, device)
    check_grads(lambda a: nn.CrossEntropyLoss(weight=t(W, device), label_smoothing=0.1)(a, y), [x], order=2)
    probs = t(np.exp(log_softmax(Y)), device)
    check_grads(lambda a, p: nn.CrossEntropyLoss()(a, p), [x, probs], order=2)
    lp = t(log_softmax(X), device)
    check_grads(lambda a: nn.NLLLoss(reduction="sum")(a, y), [lp], order=2)
    check_grads(lambda p, q: nn.BCELoss()(p, q), [t(P, device), t(T01, device)], order=2)
    check_grads(lambda a, q: nn.BCEWithLogitsLoss(pos_weight=t(W, device))(a, q),
                [x, t(T01, device)], order=2)
    check_grads(lambda a, q: nn.KLDivLoss(reduction="batchmean")(a, q), [lp, t(T01, device)], order=2)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction):
    lp = log_softmax(X)
    y = LABELS.copy()
    y[0] = -100
    keep = y != -100
    ys = np.where(keep, y, 0)
    v = -W[ys] * lp[np.arange(5), ys] * keep
    out = nn.NLLLoss(weight=t(W), reduction=reduction)(t(lp), t(y))
    np.testing.assert_allclose(out.numpy(), reduce(v, reduction, denom=(W[ys] * keep).sum()), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction):
    w = W[None, :]
    ref = -w * (T01 * np.log(P) + (1 - T01) * np.log(1 - P))
    np.testing.assert_allclose(nn.BCELoss(weight=t(w), reduction=reduction)(t(P), t(T01)).numpy(),
                               reduce(ref, reduction), rtol=1e-10)
    # log(0) is clamped at -100, as in PyTorch: a confident wrong answer costs 100, not inf.
    np.testing.assert_allclose(nn.BCELoss()(t([0.0, 1.0]), t([1.0, 0.0])).numpy(), 100.0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(reduction):
    pw = np.array([1.0, 2.0, 0.5, 3.0])
    logsig, log1msig = -np.logaddexp(0, -X), -np.logaddexp(0, X)
    ref = -(pw * T01 * logsig + (1 - T01) * log1msig)
    out = nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=t(pw))(t(X), t(T01))
    np.testing.assert_allclose(out.numpy(), reduce(ref, reduction), rtol=1e-10)
    big = nn.BCEWithLogitsLoss(reduction="none")(t([1e4, -1e4]), t([0.0, 1.0]))
    np.testing.assert_allclose(big.numpy(), [1e4, 1e4], rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    lp = log_softmax(X)
    q = np.exp(log_softmax(Y))
    target = np.log(q) if log_target else q
    ref = q * (np.log(q) - lp)
    out = nn.KLDivLoss(reduction=reduction, log_target=log_target)(t(lp), t(target))
    want = ref.sum() / 5 if reduction == "batchmean" else reduce(ref, reduction)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-10)


# ------------------------------------------------------------------ module mechanics

def test_weights_are_buffers_that_travel():
    loss = nn.CrossEntropyLoss(weight=t(W))
    assert [n for n, _ in loss.named_buffers()] == ["weight"]
    assert list(loss.state_dict()) == ["weight"] and list(loss.parameters()) == []
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    bce = nn.BCEWithLogitsLoss(pos_weight=t(W))
    assert [n for n, _ in bce.named_buffers()] == ["pos_weight"]
    try:
        xg.get_backend("fpga:0")
    except xg.XpgradError:
        return
    loss.to_device("fpga:0")
    assert loss.weight.device == "fpga:0"
    out = loss(t(X, "fpga:0"), t(LABELS, "fpga:0"))
    np.testing.assert_allclose(out.numpy(), _np_cross_entropy(X, LABELS, W), rtol=1e-10)


def test_options_are_checked_and_printed():
    with pytest.raises(xg.OpError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(xg.OpError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(xg.OpError, match="delta must be positive"):
        nn.HuberLoss(delta=0.0)
    assert repr(nn.MSELoss()) == "MSELoss()"
    assert repr(nn.L1Loss(reduction="sum")) == "L1Loss(reduction='sum')"
    assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"


def test_loss_drives_training():
    xg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 4))
    loss_fn = nn.CrossEntropyLoss()
    x, y = xg.asarray(X, dtype=xg.float32), t(LABELS)
    first = None
    for _ in range(60):
        loss = loss_fn(model(x), y)
        first = first if first is not None else loss.item()
        model.zero_grad()
        loss.backward()
        with xg.no_grad():
            for p in model.parameters():
                p -= 0.3 * p.grad
    assert loss.item() < 0.2 * first
