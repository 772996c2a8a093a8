"""Each optimizer's trajectory against a hand-written NumPy reference of the published algorithm.

Problem: three parameters of different shapes in two parameter groups with
different hyper-parameters; the gradient at step t is ``a·θ + c·cos(t)``
(a quadratic whose linear term drifts). Six steps, float64.
"""

import math

import numpy as np
import pytest

import xpgrad as xg
from xpgrad.optim import SGD, Adagrad, Adam, AdamW, RMSprop

STEPS = 6
TOL = 1e-9  # float64 against float64: far inside the 1e-6 asked of the trajectories

# ---------------------------------------------------------------------------
# NumPy references: the published formulas, one function each
# ---------------------------------------------------------------------------


def ref_sgd(th, grad, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    b, out = None, []
    for t in range(STEPS):
        g = grad(th, t)
        g = -g if maximize else g
        g = g + weight_decay * th
        if momentum:
            b = g.copy() if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        th = th - lr * g
        out.append(th)
    return out


def ref_adam(th, grad, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             maximize=False, decoupled=False):
    b1, b2 = betas
    m = v = vmax = np.zeros_like(th)
    out = []
    for t in range(1, STEPS + 1):
        g = grad(th, t - 1)
        g = -g if maximize else g
        if decoupled:
            th = th - lr * weight_decay * th
        else:
            g = g + weight_decay * th
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        if amsgrad:
            vmax = np.maximum(vmax, v)
            v_hat = vmax / (1 - b2**t)
        else:
            v_hat = v / (1 - b2**t)
        th = th - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(th)
    return out


def ref_adamw(th, grad, weight_decay=1e-2, **kw):
    return ref_adam(th, grad, weight_decay=weight_decay, decoupled=True, **kw)


def ref_adagrad(th, grad, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                maximize=False):
    s = np.full_like(th, initial_accumulator_value)
    out = []
    for t in range(1, STEPS + 1):
        g = grad(th, t - 1)
        g = -g if maximize else g
        clr = lr / (1 + (t - 1) * lr_decay)
        g = g + weight_decay * th
        s = s + g**2
        th = th - clr * g / (np.sqrt(s) + eps)
        out.append(th)
    return out


def ref_rmsprop(th, grad, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                maximize=False):
    v = g_ave = b = np.zeros_like(th)
    out = []
    for t in range(STEPS):
        g = grad(th, t)
        g = -g if maximize else g
        g = g + weight_decay * th
        v = alpha * v + (1 - alpha) * g**2
        v_tilde = v
        if centered:
            g_ave = alpha * g_ave + (1 - alpha) * g
            v_tilde = v_tilde - g_ave**2
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            th = th - lr * b
        else:
            th = th - lr * g / (np.sqrt(v_tilde) + eps)
        out.append(th)
    return out


# ---------------------------------------------------------------------------
# the problem
# ---------------------------------------------------------------------------

RNG = np.random.default_rng(7)
SHAPES = [(2, 3), (3,), (4,)]          # the first two in group 0, the last in group 1
THETA0 = [RNG.normal(size=s) for s in SHAPES]
CURV = [RNG.uniform(0.2, 2.0, size=s) for s in SHAPES]
LIN = [RNG.normal(size=s) for s in SHAPES]


def make_grad(i):
    return lambda th, t: CURV[i] * th + LIN[i] * math.cos(t)


def run(cls, group0, group1, dtype=xg.float64, device="cpu"):
    """The optimizer's trajectory: per step, the parameters as NumPy arrays."""
    params = [xg.asarray(x.copy(), dtype=dtype, device=device, requires_grad=True) for x in THETA0]
    opt = cls([{"params": params[:2]}, {"params": params[2:], **group1}], **group0)
    out = []
    for t in range(STEPS):
        for i, p in enumerate(params):
            p.grad = xg.asarray(make_grad(i)(p.numpy().astype(np.float64), t), dtype=dtype, device=device)
        opt.step()
        out.append([p.numpy().copy() for p in params])
    return out, params, opt


# (optimizer, reference, hyper-parameters of group 0 (the defaults), overrides of group 1)
CASES = {
    "sgd":                  (SGD, ref_sgd, dict(lr=0.1), dict(lr=0.05)),
    "sgd-momentum":         (SGD, ref_sgd, dict(lr=0.1, momentum=0.9), dict(momentum=0.5, dampening=0.5)),
    "sgd-nesterov-decay":   (SGD, ref_sgd, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
                             dict(lr=0.2, weight_decay=0.0)),
    "sgd-dampening-max":    (SGD, ref_sgd, dict(lr=0.05, momentum=0.8, dampening=0.3, maximize=True),
                             dict(maximize=False, weight_decay=0.3)),
    "adam":                 (Adam, ref_adam, dict(lr=0.1), dict(betas=(0.5, 0.6))),
    "adam-amsgrad-decay":   (Adam, ref_adam, dict(lr=0.05, amsgrad=True, weight_decay=0.2),
                             dict(amsgrad=False, eps=1e-3)),
    "adam-maximize":        (Adam, ref_adam, dict(lr=0.1, betas=(0.8, 0.9), maximize=True),
                             dict(maximize=False, weight_decay=0.1, amsgrad=True)),
    "adamw":                (AdamW, ref_adamw, dict(lr=0.1, weight_decay=0.1),
                             dict(weight_decay=0.5, amsgrad=True)),
    "adamw-amsgrad-max":    (AdamW, ref_adamw, dict(lr=0.1, amsgrad=True, maximize=True), dict(lr=0.3)),
    "adagrad":              (Adagrad, ref_adagrad, dict(lr=0.1), dict(lr_decay=0.1)),
    "adagrad-all":          (Adagrad, ref_adagrad, dict(lr=0.2, lr_decay=0.05, initial_accumulator_value=0.3,
                                                         weight_decay=0.1), dict(eps=1e-2, maximize=True)),
    "rmsprop":              (RMSprop, ref_rmsprop, dict(lr=0.01), dict(alpha=0.5)),
    "rmsprop-centered":     (RMSprop, ref_rmsprop, dict(lr=0.01, centered=True), dict(momentum=0.9)),
    "rmsprop-momentum":     (RMSprop, ref_rmsprop, dict(lr=0.01, momentum=0.5, weight_decay=0.1),
                             dict(centered=True, alpha=0.8, maximize=True)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_trajectory_matches_numpy_reference(case):
    cls, ref, group0, group1 = CASES[case]
    got, _, _ = run(cls, group0, group1)
    for i in range(len(SHAPES)):
        hyper = group0 if i < 2 else {**group0, **group1}
        want = ref(THETA0[i], make_grad(i), **hyper)
        for t in range(STEPS):
            np.testing.assert_allclose(got[t][i], want[t], rtol=0, atol=TOL,
                                       err_msg=f"{case}: parameter {i}, step {t + 1}")
    # the parameters moved, and each group by its own rule
    assert not np.allclose(got[-1][0], THETA0[0])


def test_reference_is_sensitive_to_every_option():
    """Guard against a reference that ignores an option: each one changes the trajectory."""
    g = make_grad(2)
    base = {ref_sgd: dict(lr=0.1, momentum=0.5), ref_adam: dict(lr=0.1), ref_adagrad: dict(lr=0.1),
            ref_rmsprop: dict(lr=0.01, momentum=0.5)}
    options = {ref_sgd: dict(dampening=0.5, weight_decay=0.1, nesterov=True, maximize=True),
               ref_adam: dict(amsgrad=True, weight_decay=0.1, maximize=True, decoupled=True),
               ref_adagrad: dict(lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.5,
                                 maximize=True),
               ref_rmsprop: dict(centered=True, weight_decay=0.1, maximize=True, alpha=0.5)}
    for ref, opts in options.items():
        plain = ref(THETA0[2], g, **base[ref])[-1]
        for k, v in opts.items():
            kw = {**base[ref], k: v}
            if k == "decoupled":
                kw["weight_decay"] = 0.1
                plain_k = ref(THETA0[2], g, **{**base[ref], "weight_decay": 0.1})[-1]
            else:
                plain_k = plain
            assert not np.allclose(ref(THETA0[2], g, **kw)[-1], plain_k), (ref.__name__, k)


# Values printed by PyTorch 2.13.0+cpu (torch.float64, single-tensor path) for parameter
# θ0 = [0.5, -1, 2, 1.5] and gradient a·θ + c, a = [1, 0.5, 2, 0.25], c = [0.3, -0.2, 0.1, 0.05]:
# θ after each of six steps.
TORCH_2_13 = {
    "sgd_nesterov": [
        [0.3385, -0.848, 1.183, 1.39075],
        [0.1419035, -0.648528, 0.343683, 1.242190125],
        [-0.0611796815, -0.420863008, -0.335244817, 1.0646892191875],
        [-0.2471195449165, -0.183006644288, -0.757561083317, 0.868265559817781],
        [-0.398874225572302, 0.049200238069632, -0.908740121171817, 0.662282317061558],
        [-0.506553559964645, 0.262695246260011, -0.83539299164051, 0.455205989630624],
    ],
    "sgd_dampening_maximize": [
        [0.535, -1.025, 2.185, 1.50625],
        [0.58848, -1.0627625, 2.474155, 1.5156359375],
        [0.65824144, -1.11113150625, 2.864850765, 1.527547050390625],
        [0.74298135232, -1.168493592065625, 3.361392975195, 1.541499148041309],
        [0.84207676004096, -1.233652443434814, 3.973894500788285, 1.557108449670928],
        [0.955431235498875, -1.30573287518623, 4.717751074812575, 1.574070830761547],
    ],
    "adam_amsgrad": [
        [0.400000001176471, -0.90000000125, 1.900000000232558, 1.400000001739131],
        [0.300644614996878, -0.800304052447756, 1.800177826276236, 1.300233041648836],
        [0.202529158595115, -0.701151976897194, 1.700663828664224, 1.200875729034188],
        [0.106419937935939, -0.602815076647835, 1.601596657458044, 1.102121268043692],
        [0.013302437867229, -0.505599806851985, 1.503122887804566, 1.004180221251704],
        [-0.073828874122892, -0.409852193656242, 1.405396759538206, 0.907281552216333],
    ],
    "adamw_amsgrad_maximize": [
        [0.58499999875, -1.069999998571429, 2.039999999756097, 1.554999997647059],
        [0.668082331410568, -1.138237860886868, 2.07894102383244, 1.608577322411691],
        [0.74961767339044, -1.204949061941827, 2.116935621287913, 1.660901643225847],
        [0.829888179294263, -1.270327882575235, 2.154081201631536, 1.712116770956874],
        [0.909096622494428, -1.334528854405154, 2.190459809078366, 1.762340852468407],
        [0.987376930648048, -1.397669580120922, 2.22613855098845, 1.811667574514963],
    ],
    "rmsprop_centered_momentum": [
        [0.466666667973856, -0.966666668055555, 1.966666666925065, 1.466666668599034],
        [0.425049806844044, -0.92481774044587, 1.92470867329108, 1.424758635293927],
        [0.382878889543877, -0.882035455190736, 1.881642964194251, 1.381822439396645],
        [0.342443273386358, -0.840540095129114, 1.839663471963532, 1.340063593834497],
        [0.304138020520564, -0.800692995860916, 1.799122746604398, 1.299838104258147],
        [0.267744468634295, -0.762248788661143, 1.759770516166075, 1.260897316815055],
    ],
    "adagrad_decay": [
        [0.411501534939004, -0.912712843915127, 1.900536484559567, 1.42106420435956],
        [0.35275805865627, -0.852512991200323, 1.835075205010574, 1.363851641592259],
        [0.30810758091919, -0.805651320265329, 1.784774808259058, 1.318314198316858],
        [0.272023211190731, -0.767068462172708, 1.743545172070419, 1.280318849118952],
        [0.241799030031402, -0.734235312074181, 1.70850315601754, 1.247685841919682],
        [0.215872722078216, -0.705671552785042, 1.678010744554947, 1.219097638336184],
    ],
}

TORCH_CASES = {
    "sgd_nesterov": (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    "sgd_dampening_maximize": (SGD, dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.2,
                                         maximize=True)),
    "adam_amsgrad": (Adam, dict(lr=0.1, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True)),
    "adamw_amsgrad_maximize": (AdamW, dict(lr=0.1, betas=(0.7, 0.95), weight_decay=0.3, amsgrad=True,
                                           maximize=True)),
    "rmsprop_centered_momentum": (RMSprop, dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True,
                                                weight_decay=0.1)),
    "adagrad_decay": (Adagrad, dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.2, weight_decay=0.1)),
}
TORCH_A = np.array([1.0, 0.5, 2.0, 0.25])
TORCH_C = np.array([0.3, -0.2, 0.1, 0.05])


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_trajectory_matches_pytorch(case):
    cls, hyper = TORCH_CASES[case]
    p = xg.asarray([0.5, -1.0, 2.0, 1.5], dtype=xg.float64, requires_grad=True)
    opt = cls([p], **hyper)
    for t, want in enumerate(TORCH_2_13[case]):
        p.grad = xg.asarray(TORCH_A * p.numpy() + TORCH_C)
        opt.step()
        np.testing.assert_allclose(p.numpy(), want, rtol=0, atol=1e-12, err_msg=f"{case}, step {t + 1}")


# ---------------------------------------------------------------------------
# behaviour
# ---------------------------------------------------------------------------

ALL = [SGD, Adam, AdamW, Adagrad, RMSprop]
RICH = {SGD: dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        Adam: dict(lr=0.1, amsgrad=True, weight_decay=0.01), AdamW: dict(lr=0.1, amsgrad=True),
        Adagrad: dict(lr=0.1, lr_decay=0.01, weight_decay=0.01),
        RMSprop: dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01)}


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_training_through_backward_reduces_the_loss(cls):
    xg.manual_seed(0)
    w = xg.asarray(THETA0[0].copy(), requires_grad=True)
    target = xg.asarray(np.ones((2, 3)))
    opt = cls([w], **RICH[cls])
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((w - target) ** 2).sum()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_parameters_without_gradient_are_skipped(cls):
    a = xg.asarray([1.0, 2.0], requires_grad=True)
    b = xg.asarray([3.0, 4.0], requires_grad=True)
    opt = cls([a, b], **RICH[cls])
    a.grad = xg.asarray([0.5, -0.5])
    opt.step()
    assert b.tolist() == [3.0, 4.0]
    assert not opt.state[b]
    assert a.tolist() != [1.0, 2.0]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_update_keeps_identity_dtype_and_buffer(cls):
    p = xg.asarray(np.array([1.0, -2.0, 3.0], dtype=np.float32), requires_grad=True)
    buf = p.data
    opt = cls([p], **RICH[cls])
    for _ in range(3):
        p.grad = xg.asarray(np.array([0.1, 0.2, -0.3], dtype=np.float32))
        opt.step()
    assert p.dtype == xg.float32 and p.data is buf  # updated in place, no float64 upcast
    assert p.data.dtype == np.float32
    for v in opt.state[p].values():
        if isinstance(v, xg.Tensor):
            assert v.dtype == xg.float32 and v.shape == p.shape and v.device == p.device
        else:
            assert isinstance(v, int)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_update_writes_into_the_buffer(cls):
    host = np.array([1.0, 2.0])
    p = xg.asarray(host, requires_grad=True)  # on the cpu, shares host's memory
    assert p.data is host
    opt = cls([p], **RICH[cls])
    p.grad = xg.asarray([1.0, 1.0])
    opt.step()
    assert host.tolist() != [1.0, 2.0] and np.array_equal(host, p.numpy())


def test_graph_that_saved_a_parameter_refuses_backward_after_the_step():
    w = xg.asarray([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    opt = SGD([w], lr=0.1)
    w.grad = xg.asarray([1.0, 1.0])
    opt.step()
    with pytest.raises(xg.InplaceError, match="modified in place"):
        loss.backward()
    # a graph recorded after the step is fine
    w.grad = None
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * w.numpy())


def test_zero_grad_to_none_and_in_place():
    a = xg.asarray([1.0, 2.0], requires_grad=True)
    b = xg.asarray([3.0], requires_grad=True)
    opt = SGD([a, b], lr=0.1)
    (a.sum() * 3 + b.sum()).backward()
    g = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is g and a.grad.tolist() == [0.0, 0.0] and b.grad.tolist() == [0.0]
    # accumulation then starts from zero
    (a.sum() * 3).backward()
    assert a.grad.tolist() == [3.0, 3.0]
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    opt.zero_grad(set_to_none=False)  # nothing to zero: no error
    assert a.grad is None


def test_zero_grad_in_place_clears_nan():
    a = xg.asarray([1.0, 2.0], requires_grad=True)
    a.grad = xg.asarray([float("nan"), float("inf")])
    SGD([a]).zero_grad(set_to_none=False)
    assert a.grad.tolist() == [0.0, 0.0]


def test_zero_grad_in_place_detaches_a_recorded_gradient():
    x = xg.asarray([1.0, 2.0], requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    SGD([x]).zero_grad(set_to_none=False)
    assert not x.grad.requires_grad and x.grad.tolist() == [0.0, 0.0]


def test_step_with_closure_returns_the_loss_and_records_it():
    w = xg.asarray([2.0], requires_grad=True)
    opt = SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with xg.no_grad():  # the closure records even when the caller does not
        loss = opt.step(closure)
    assert float(loss) == 4.0
    assert w.tolist() == [1.0]


def test_add_param_group_uses_defaults_and_own_values():
    a = xg.asarray([1.0], requires_grad=True)
    b = xg.asarray([1.0], requires_grad=True)
    opt = Adam([a], lr=0.1, betas=(0.8, 0.9))
    opt.add_param_group({"params": b, "lr": 0.5})
    g = opt.param_groups[1]
    assert g["params"] == [b] and g["lr"] == 0.5 and g["betas"] == (0.8, 0.9) and g["eps"] == 1e-8
    assert "Parameter Group 1" in repr(opt) and "lr: 0.5" in repr(opt)


def test_changing_lr_in_a_group_takes_effect():
    w = xg.asarray([1.0], requires_grad=True)
    opt = SGD([w], lr=0.1)
    opt.param_groups[0]["lr"] = 0.5
    w.grad = xg.asarray([1.0])
    opt.step()
    assert w.tolist() == [0.5]


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------

BAD = [
    (SGD, dict(lr=-0.1), "lr"),
    (SGD, dict(momentum=-1), "momentum"),
    (SGD, dict(weight_decay=-1e-3), "weight_decay"),
    (SGD, dict(nesterov=True), "Nesterov"),
    (SGD, dict(momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (SGD, dict(lr=float("nan")), "lr"),
    (SGD, dict(lr="0.1"), "lr"),
    (Adam, dict(betas=(1.0, 0.9)), "betas"),
    (Adam, dict(betas=(0.9, -0.1)), "betas"),
    (Adam, dict(betas=0.9), "pair"),
    (Adam, dict(eps=-1.0), "eps"),
    (AdamW, dict(weight_decay=-1.0), "weight_decay"),
    (Adagrad, dict(lr_decay=-1.0), "lr_decay"),
    (Adagrad, dict(initial_accumulator_value=-1.0), "accumulator"),
    (RMSprop, dict(alpha=-0.1), "alpha"),
    (RMSprop, dict(alpha=1.5), "alpha"),
    (RMSprop, dict(momentum=-1), "momentum"),
]


@pytest.mark.parametrize("cls, kw, word", BAD, ids=lambda v: getattr(v, "__name__", str(v)))
def test_invalid_hyper_parameters_are_refused(cls, kw, word):
    w = xg.asarray([1.0], requires_grad=True)
    with pytest.raises(xg.OpError, match=word):
        cls([w], **kw)
    with pytest.raises(ValueError):  # OpError is a ValueError
        cls([w], **kw)


def test_invalid_hyper_parameter_in_a_group_is_refused():
    a = xg.asarray([1.0], requires_grad=True)
    b = xg.asarray([1.0], requires_grad=True)
    with pytest.raises(xg.OpError, match=r"lr=-1.*group 1"):
        SGD([{"params": [a]}, {"params": [b], "lr": -1}], lr=0.1)


def test_bad_parameter_lists_are_refused():
    a = xg.asarray([1.0], requires_grad=True)
    b = xg.asarray([2.0], requires_grad=True)
    with pytest.raises(xg.OpError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(xg.OpError, match="single Tensor"):
        SGD(a, lr=0.1)
    with pytest.raises(xg.OpError, match="set"):
        SGD({a, b}, lr=0.1)
    with pytest.raises(xg.OpError, match="another parameter group"):
        SGD([{"params": [a, b]}, {"params": [b]}], lr=0.1)
    with pytest.raises(xg.OpError, match="twice"):
        SGD([a, a], lr=0.1)
    with pytest.raises(xg.NotDifferentiableError, match="not an xpgrad Tensor"):
        SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(xg.OpError, match="not a leaf"):
        SGD([a * 2], lr=0.1)
    with pytest.raises(xg.DTypeError, match="int64"):
        SGD([xg.asarray([1, 2])], lr=0.1)
    with pytest.raises(xg.OpError, match="'params'"):
        SGD([{"lr": 0.1}], lr=0.1)
    opt = SGD([a], lr=0.1)
    with pytest.raises(xg.OpError, match="another parameter group"):
        opt.add_param_group({"params": [a]})
    assert len(opt.param_groups) == 1  # a refused group is not added


def test_gradient_of_wrong_shape_is_refused():
    w = xg.asarray([1.0, 2.0, 3.0], requires_grad=True)
    w.grad = xg.asarray([1.0])  # would broadcast silently
    with pytest.raises(xg.ShapeError, match=r"\(1,\).*parameter's shape"):
        SGD([w], lr=0.1).step()
    assert w.tolist() == [1.0, 2.0, 3.0]
    w.grad = xg.asarray([1.0, 2.0, 3.0], dtype=xg.float32)
    with pytest.raises(xg.DTypeError, match="float32.*parameter's dtype"):
        SGD([w], lr=0.1).step()
    assert w.tolist() == [1.0, 2.0, 3.0]


def test_state_follows_a_model_moved_or_cast_after_a_step():
    from xpgrad import nn

    try:
        xg.get_backend("opencl:0")
    except xg.XpgradError as exc:
        pytest.skip(f"opencl:0 is not usable here: {exc}")
    m = nn.Linear(3, 2)
    opt = xg.optim.Adam(m.parameters())
    m(xg.ones((4, 3), dtype=xg.float32)).sum().backward()
    opt.step()
    m.to_device("opencl:0")
    opt.zero_grad()
    m(xg.ones((4, 3), dtype=xg.float32, device="opencl:0")).sum().backward()
    opt.step()
    assert opt.state[m.weight]["exp_avg"].device == "opencl:0"
    m.double()
    opt.zero_grad()
    m(xg.ones((4, 3), dtype=xg.float64, device="opencl:0")).sum().backward()
    opt.step()
    assert opt.state[m.weight]["exp_avg_sq"].dtype == xg.float64


def test_clip_grad_norm_over_gradients_on_two_devices():
    try:
        xg.get_backend("opencl:0")
    except xg.XpgradError as exc:
        pytest.skip(f"opencl:0 is not usable here: {exc}")
    a = xg.asarray(np.ones(3, np.float32), requires_grad=True)
    b = xg.asarray(np.ones(3, np.float32), device="opencl:0", requires_grad=True)
    a.grad, b.grad = xg.ones(3, dtype=xg.float32), xg.ones(3, dtype=xg.float32, device="opencl:0")
    assert abs(float(xg.optim.clip_grad_norm_([a, b], 1.0)) - 6 ** 0.5) < 1e-6
    assert abs(float(xg.sum(a.grad * a.grad)) + float(xg.sum(b.grad * b.grad)) - 1.0) < 1e-5
