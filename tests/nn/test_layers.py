"""Layers: gradients (first and second order, forward and reverse) with respect to inputs and parameters
on cpu and fpga:0, BatchNorm's modes and running statistics, Dropout, MultiheadAttention against NumPy,
bad-input messages, and opencl:0 agreeing with cpu."""

import copy
import math

import numpy as np
import pytest

import xpgrad as xg
from xpgrad import nn
from xpgrad.testing import check_grads

F64 = xg.float64


def _usable(device):
    try:
        xg.get_backend(device)
        xg.zeros((1,), dtype=F64, device=device)
    except xg.XpgradError as exc:
        pytest.skip(f"{device} is not usable here: {exc}")
    return device


@pytest.fixture(params=["cpu", "fpga:0"])
def device(request):
    return _usable(request.param)


@pytest.fixture
def opencl():
    try:
        xg.get_backend("opencl:0")
    except xg.XpgradError as exc:
        pytest.skip(f"opencl:0 is not usable here: {exc}")
    return "opencl:0"


def randn(*shape, device="cpu", seed=0, dtype=F64):
    return xg.asarray(np.random.default_rng(seed).standard_normal(shape), dtype=dtype, device=device)


def check_layer(layer, inputs, *, order=2, before_call=None, pick=None, **kwargs):
    """Gradient-check ``layer`` with respect to its floating inputs and every parameter.

    The layer becomes ``f(*inputs, *params)`` by substituting the parameters
    (``nn.functional_call``); ``before_call`` runs before each evaluation (to
    reseed dropout, say); ``pick`` selects one of several outputs.
    """
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach() for _, p in layer.named_parameters()]
    k = len(inputs)

    def f(*args):
        if before_call is not None:
            before_call()
        out = nn.functional_call(layer, dict(zip(names, args[k:])), tuple(args[:k]), kwargs)
        return out if pick is None else out[pick]

    check_grads(f, [*inputs, *params], order=order, modes=("fwd", "rev"))


# ------------------------------------------------------------------ gradient checks

LAYERS = {  # name: (build(device), input shape)
    "linear": (lambda d: nn.Linear(3, 2, dtype=F64, device=d), (4, 3)),
    "linear-nobias-3d": (lambda d: nn.Linear(3, 2, bias=False, dtype=F64, device=d), (2, 2, 3)),
    "conv1d": (lambda d: nn.Conv1d(2, 3, 3, stride=2, padding=1, dtype=F64, device=d), (2, 2, 7)),
    "conv2d": (lambda d: nn.Conv2d(2, 4, 3, padding=1, groups=2, dtype=F64, device=d), (2, 2, 4, 4)),
    "conv1d-same": (lambda d: nn.Conv1d(2, 2, 4, padding="same", dtype=F64, device=d), (1, 2, 5)),
    "conv2d-unbatched": (lambda d: nn.Conv2d(2, 2, 2, dilation=2, stride=(1, 2), dtype=F64, device=d),
                         (2, 5, 5)),
    "conv_transpose2d": (lambda d: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1,
                                                      dtype=F64, device=d), (1, 2, 3, 3)),
    "max_pool2d": (lambda d: nn.MaxPool2d(2), (1, 2, 4, 4)),
    "avg_pool2d": (lambda d: nn.AvgPool2d(3, stride=2, padding=1), (1, 2, 5, 5)),
    "avg_pool2d-nopad": (lambda d: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
                         (1, 1, 5, 5)),
    "adaptive_avg_pool2d": (lambda d: nn.AdaptiveAvgPool2d((2, 3)), (1, 2, 5, 7)),
    "batch_norm1d": (lambda d: nn.BatchNorm1d(3, dtype=F64, device=d), (4, 3)),
    "batch_norm1d-ncl": (lambda d: nn.BatchNorm1d(3, momentum=None, dtype=F64, device=d), (3, 3, 2)),
    "batch_norm2d": (lambda d: nn.BatchNorm2d(2, dtype=F64, device=d), (3, 2, 2, 2)),
    "batch_norm2d-eval": (lambda d: _trained_bn(d).eval(), (3, 2, 2, 2)),
    "batch_norm2d-nostats": (lambda d: nn.BatchNorm2d(2, affine=False, track_running_stats=False,
                                                      dtype=F64, device=d), (3, 2, 2, 2)),
    "layer_norm": (lambda d: nn.LayerNorm((3, 4), dtype=F64, device=d), (2, 3, 4)),
    "group_norm": (lambda d: nn.GroupNorm(2, 4, dtype=F64, device=d), (2, 4, 3)),
    "dropout-eval": (lambda d: nn.Dropout(0.3).eval(), (3, 4)),
    "flatten": (lambda d: nn.Flatten(), (2, 3, 2)),
    "identity": (lambda d: nn.Identity(), (2, 3)),
}


def _trained_bn(device):
    """A BatchNorm2d whose scale, shift and running statistics are not the trivial ones."""
    bn = nn.BatchNorm2d(2, dtype=F64, device=device)
    bn(randn(5, 2, 3, 3, device=device, seed=7) * 3 + 1)
    with xg.no_grad():
        bn.weight[...] = randn(2, device=device, seed=8)
        bn.bias[...] = randn(2, device=device, seed=9)
    return bn


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_gradients(name, device):
    build, shape = LAYERS[name]
    layer = build(device)
    check_layer(layer, [randn(*shape, device=device)])


def test_dropout_training_gradients(device):
    layer = nn.Dropout(0.4)
    check_layer(layer, [randn(3, 5, device=device)], before_call=lambda: xg.manual_seed(11))


def test_embedding_gradients(device):
    idx = xg.asarray([[0, 1, 4], [4, 2, 1]], device=device)
    check_layer(nn.Embedding(5, 3, dtype=F64, device=device), [idx])
    # With padding_idx the padding row is cut out of the graph on purpose (it is not the true derivative).
    emb = nn.Embedding(5, 3, padding_idx=1, dtype=F64, device=device)
    out = emb(idx)
    out.sum().backward()
    grad = emb.weight.grad.numpy()
    assert grad[1].tolist() == [0.0, 0.0, 0.0]   # the padding row learns nothing
    assert grad[4].tolist() == [2.0, 2.0, 2.0]   # repeated indices accumulate
    np.testing.assert_array_equal(out.numpy()[0, 2], emb.weight.numpy()[4])


@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_gradients(device, batch_first):
    mha = nn.MultiheadAttention(4, 2, batch_first=batch_first, dtype=F64, device=device)
    q, k = randn(3, 2, 4, device=device, seed=1), randn(2, 2, 4, device=device, seed=2)
    if batch_first:
        q, k = xg.permute_dims(q, (1, 0, 2)), xg.permute_dims(k, (1, 0, 2))
    mask = xg.asarray([[False, True], [False, False], [False, False]], device=device)
    # The output and the attention weights together (the weights feed the output), then each alone.
    for pick in (None, 0, 1):
        check_layer(mha, [q, k, k], attn_mask=mask, average_attn_weights=batch_first, pick=pick)


ACTIVATIONS = {
    "ReLU": nn.ReLU(), "LeakyReLU": nn.LeakyReLU(0.2), "ELU": nn.ELU(0.7), "GELU": nn.GELU(),
    "GELU-tanh": nn.GELU("tanh"), "SiLU": nn.SiLU(), "Mish": nn.Mish(), "Softplus": nn.Softplus(2.0, 5.0),
    "Sigmoid": nn.Sigmoid(), "Tanh": nn.Tanh(), "Softmax": nn.Softmax(dim=1),
    "LogSoftmax": nn.LogSoftmax(dim=0),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_gradients(name, device):
    x = randn(3, 4, device=device, seed=3)
    x = x + xg.sign(x) * 0.1    # away from the kinks at zero
    check_layer(ACTIVATIONS[name], [x])


def test_activation_values():
    x = xg.asarray([[-2.0, -0.5, 0.0, 1.5]], dtype=F64)
    v = x.numpy()
    sig = 1 / (1 + np.exp(-v))
    np.testing.assert_allclose(nn.ReLU()(x).numpy(), np.maximum(v, 0))
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x).numpy(), np.where(v > 0, v, 0.1 * v))
    np.testing.assert_allclose(nn.ELU(2.0)(x).numpy(), np.where(v > 0, v, 2.0 * np.expm1(v)))
    np.testing.assert_allclose(nn.SiLU()(x).numpy(), v * sig)
    assert nn.Swish is nn.SiLU
    np.testing.assert_allclose(nn.Mish()(x).numpy(), v * np.tanh(np.log1p(np.exp(v))))
    np.testing.assert_allclose(nn.Softplus(2.0)(x).numpy(), np.log1p(np.exp(2 * v)) / 2)
    np.testing.assert_allclose(nn.Sigmoid()(x).numpy(), sig)
    np.testing.assert_allclose(nn.Tanh()(x).numpy(), np.tanh(v))
    from math import erf
    np.testing.assert_allclose(nn.GELU()(x).numpy(), [[a * 0.5 * (1 + erf(a / math.sqrt(2))) for a in v[0]]])
    e = np.exp(v - v.max())
    np.testing.assert_allclose(nn.Softmax(dim=-1)(x).numpy(), e / e.sum())
    np.testing.assert_allclose(nn.LogSoftmax()(x).numpy(), np.log(e / e.sum()))
    assert repr(nn.Softmax()) == "Softmax(dim=None)"
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"


# ------------------------------------------------------------------ BatchNorm

def _np_bn_reference(batches, momentum):
    mean, var = np.zeros(batches[0].shape[1]), np.ones(batches[0].shape[1])
    for t, x in enumerate(batches, 1):
        axes = (0,) + tuple(range(2, x.ndim))
        n = x.size // x.shape[1]
        bm, bv = x.mean(axis=axes), x.var(axis=axes) * n / (n - 1)
        f = 1 / t if momentum is None else momentum
        mean, var = (1 - f) * mean + f * bm, (1 - f) * var + f * bv
    return mean, var


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                       (nn.BatchNorm2d, (4, 3, 2, 3))])
def test_batch_norm_running_stats_against_numpy(cls, shape, momentum):
    bn = cls(3, momentum=momentum, dtype=F64)
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal(shape) * 2 + 3 for _ in range(4)]
    for x in batches:
        y = bn(xg.asarray(x)).numpy()
        axes = (0,) + tuple(range(2, x.ndim))
        ref = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)
        np.testing.assert_allclose(y, ref, atol=1e-10)
    mean, var = _np_bn_reference(batches, momentum)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-12)
    assert int(bn.num_batches_tracked) == 4
    # Evaluation normalises with the running statistics and changes nothing.
    bn.eval()
    with xg.no_grad():
        bn.weight[...] = xg.asarray([1.0, 2.0, 3.0])
        bn.bias[...] = xg.asarray([0.0, -1.0, 1.0])
    x = batches[0]
    cshape = (1, 3) + (1,) * (x.ndim - 2)
    w, b = np.array([1, 2, 3.]).reshape(cshape), np.array([0, -1, 1.]).reshape(cshape)
    ref = (x - mean.reshape(cshape)) / np.sqrt(var.reshape(cshape) + 1e-5) * w + b
    np.testing.assert_allclose(bn(xg.asarray(x)).numpy(), ref, atol=1e-10)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12)
    assert int(bn.num_batches_tracked) == 4


def test_batch_norm_without_running_stats_uses_batch_in_eval():
    bn = nn.BatchNorm1d(2, track_running_stats=False, dtype=F64).eval()
    assert bn.running_mean is None and list(bn.state_dict()) == ["weight", "bias"]
    x = randn(5, 2) * 3 + 2
    np.testing.assert_allclose(bn(x).numpy().mean(axis=0), [0, 0], atol=1e-12)


def test_batch_norm_float32_on_opencl_matches_cpu(opencl):
    xg.manual_seed(0)
    cpu = nn.BatchNorm2d(3)
    dev = copy.deepcopy(cpu).to_device(opencl)
    x = randn(4, 3, 2, 2, dtype=xg.float32)
    np.testing.assert_allclose(dev(x.to_device(opencl)).numpy(), cpu(x).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dev.running_var.numpy(), cpu.running_var.numpy(), rtol=1e-5)
    cpu.eval(), dev.eval()
    np.testing.assert_allclose(dev(x.to_device(opencl)).numpy(), cpu(x).numpy(), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ Dropout

def test_dropout_identity_in_eval_and_scaled_in_training():
    x = xg.ones((200, 100), dtype=xg.float32)
    d = nn.Dropout(0.25)
    assert d.eval()(x) is x
    d.train()
    xg.manual_seed(4)
    y = d(x).numpy()
    assert set(np.unique(y).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert (y == 0).mean() == pytest.approx(0.25, abs=0.01)
    xg.manual_seed(4)
    assert d(x).numpy().tobytes() == y.tobytes()   # seeded masks repeat
    assert nn.Dropout(0.0)(x) is x
    with pytest.raises(xg.OpError, match="probability"):
        nn.Dropout(1.5)


# ------------------------------------------------------------------ MultiheadAttention vs NumPy

def _np_mha(q, k, v, w_in, b_in, w_out, b_out, heads, attn_mask=None, key_padding_mask=None, average=True):
    """Reference for batch-second inputs (L, N, E); boolean masks are True where attention is blocked."""
    L, N, E = q.shape
    S = k.shape[0]
    d = E // heads
    wq, wk, wv = np.split(w_in, 3)
    bq, bk, bv = np.split(b_in, 3)
    outs = np.zeros((N, L, E))
    weights = np.zeros((N, heads, L, S))
    for n in range(N):
        Q, K, V = q[:, n] @ wq.T + bq, k[:, n] @ wk.T + bk, v[:, n] @ wv.T + bv
        heads_out = []
        for h in range(heads):
            sl = slice(h * d, (h + 1) * d)
            scores = Q[:, sl] @ K[:, sl].T / np.sqrt(d)
            if attn_mask is not None:
                scores = (np.where(attn_mask, -np.inf, scores) if attn_mask.dtype == bool
                          else scores + attn_mask)
            if key_padding_mask is not None:
                scores = np.where(key_padding_mask[n][None, :], -np.inf, scores)
            p = np.exp(scores - scores.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            weights[n, h] = p
            heads_out.append(p @ V[:, sl])
        outs[n] = np.concatenate(heads_out, axis=1) @ w_out.T + b_out
    return outs.transpose(1, 0, 2), weights.mean(axis=1) if average else weights


def _mha_case(seed=0, L=3, S=4, N=2, E=6, H=3):
    xg.manual_seed(seed)
    mha = nn.MultiheadAttention(E, H, dtype=F64)
    with xg.no_grad():   # non-zero biases, so that their slicing is tested too
        mha.in_proj_bias[...] = randn(3 * E, seed=seed + 1)
        mha.out_proj.bias[...] = randn(E, seed=seed + 2)
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((L, N, E)), rng.standard_normal((S, N, E)), rng.standard_normal((S, N, E))
    params = [p.numpy() for p in (mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight,
                                  mha.out_proj.bias)]
    return mha, q, k, v, params


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("average", [True, False])
@pytest.mark.parametrize("masks", ["none", "bool", "float", "padding", "both"])
def test_multihead_attention_against_numpy(batch_first, average, masks):
    mha, q, k, v, params = _mha_case()
    mha.batch_first = batch_first
    L, S, N = q.shape[0], k.shape[0], q.shape[1]
    rng = np.random.default_rng(5)
    attn = kpm = None
    if masks in ("bool", "both"):
        attn = np.triu(np.ones((L, S), dtype=bool), k=2)
    elif masks == "float":
        attn = rng.standard_normal((L, S))
    if masks in ("padding", "both"):
        kpm = np.zeros((N, S), dtype=bool)
        kpm[0, -1] = kpm[1, 0] = True
    ref_out, ref_w = _np_mha(q, k, v, *params, heads=3, attn_mask=attn, key_padding_mask=kpm, average=average)

    def t(a):
        return xg.asarray(a.transpose(1, 0, 2) if batch_first else a)

    out, w = mha(t(q), t(k), t(v), key_padding_mask=None if kpm is None else xg.asarray(kpm),
                 attn_mask=None if attn is None else xg.asarray(attn), average_attn_weights=average)
    out = out.numpy().transpose(1, 0, 2) if batch_first else out.numpy()
    np.testing.assert_allclose(out, ref_out, atol=1e-10)
    np.testing.assert_allclose(w.numpy(), ref_w, atol=1e-12)
    assert w.shape == ((N, L, S) if average else (N, 3, L, S))


def test_multihead_attention_self_unbatched_and_no_weights():
    mha, q, _, _, params = _mha_case(seed=3)
    x = q[:, 0]
    ref, ref_w = _np_mha(x[:, None], x[:, None], x[:, None], *params, heads=3)
    xt = xg.asarray(x)
    out, w = mha(xt, xt, xt)
    np.testing.assert_allclose(out.numpy(), ref[:, 0], atol=1e-10)
    np.testing.assert_allclose(w.numpy(), ref_w[0], atol=1e-12)
    out2, none = mha(xt, xt, xt, need_weights=False)
    assert none is None
    np.testing.assert_allclose(out2.numpy(), out.numpy(), atol=1e-12)
    causal, _ = mha(xt, xt, xt, is_causal=True)
    ref_c, _ = _np_mha(x[:, None], x[:, None], x[:, None], *params, heads=3,
                       attn_mask=np.triu(np.ones((3, 3), dtype=bool), k=1))
    np.testing.assert_allclose(causal.numpy(), ref_c[:, 0], atol=1e-10)


def test_multihead_attention_structure():
    mha = nn.MultiheadAttention(8, 2)
    assert [n for n, _ in mha.named_parameters()] == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                                                     "out_proj.bias"]
    assert mha.in_proj_weight.shape == (24, 8) and mha.head_dim == 4
    assert [n for n, _ in nn.MultiheadAttention(8, 2, bias=False).named_parameters()] == \
        ["in_proj_weight", "out_proj.weight"]
    with pytest.raises(xg.OpError, match="divisible by num_heads"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(xg.OpError, match="kdim=3"):
        nn.MultiheadAttention(4, 2, kdim=3)


def test_multihead_attention_dropout_only_in_training():
    mha = nn.MultiheadAttention(4, 2, dropout=0.5, dtype=F64)
    x = randn(3, 1, 4)
    mha.eval()
    a, b = mha(x, x, x)[0], mha(x, x, x)[0]
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    mha.train()
    xg.manual_seed(1)
    c = mha(x, x, x)[0]
    assert not np.allclose(c.numpy(), a.numpy())


# ------------------------------------------------------------------ forward values of the parametrised layers

def test_linear_and_conv_values():
    lin = nn.Linear(3, 2, dtype=F64)
    x = randn(4, 3)
    np.testing.assert_allclose(lin(x).numpy(), x.numpy() @ lin.weight.numpy().T + lin.bias.numpy())
    conv = nn.Conv1d(2, 3, 2, dtype=F64)
    x = randn(1, 2, 4)
    w, b, xv = conv.weight.numpy(), conv.bias.numpy(), x.numpy()
    ref = np.stack([np.einsum("oik,ik->o", w, xv[0, :, i:i + 2]) + b for i in range(3)], axis=-1)
    np.testing.assert_allclose(conv(x).numpy()[0], ref, atol=1e-12)
    same = nn.Conv1d(1, 1, 2, padding="same", bias=False, dtype=F64)   # PyTorch pads the odd zero at the end
    x = randn(1, 1, 4)
    xv, w = np.append(x.numpy()[0, 0], 0.0), same.weight.numpy()[0, 0]
    np.testing.assert_allclose(same(x).numpy()[0, 0], [w @ xv[i:i + 2] for i in range(4)], atol=1e-12)
    conv2 = nn.Conv2d(2, 3, 2, padding="same", dtype=F64)
    assert conv2(randn(1, 2, 5, 4)).shape == (1, 3, 5, 4)
    assert nn.Conv2d(2, 3, 3, padding="valid", dtype=F64)(randn(2, 5, 4)).shape == (3, 3, 2)
    tc = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, dtype=F64)
    assert tc(randn(1, 4, 5, 5)).shape == (1, 2, 10, 10)
    assert nn.Flatten()(randn(2, 3, 4)).shape == (2, 12)
    assert nn.Flatten(0, 1)(randn(2, 3, 4)).shape == (6, 4)
    assert nn.AdaptiveAvgPool2d(1)(randn(2, 3, 5, 5)).shape == (2, 3, 1, 1)


# ------------------------------------------------------------------ bad input

def test_bad_input_messages_name_the_layer_and_the_expected_shape():
    x = xg.ones((32, 100), dtype=xg.float32)
    with pytest.raises(xg.ShapeError, match=r"^Linear\(in_features=784, out_features=10\): expected input of "
                                            r"shape \(\*, 784\), got \(32, 100\)"):
        nn.Linear(784, 10)(x)
    with pytest.raises(xg.ShapeError, match=r"^Conv2d\(3, 16, kernel_size=\(3, 3\)\): expected input of "
                                            r"shape \(N, 3, H, W\) or \(3, H, W\), got \(8, 1, 28, 28\)"):
        nn.Conv2d(3, 16, 3)(xg.ones((8, 1, 28, 28), dtype=xg.float32))
    with pytest.raises(xg.ShapeError, match=r"Conv2d.*got \(28, 28\); a 2-d input"):
        nn.Conv2d(3, 16, 3)(xg.ones((28, 28), dtype=xg.float32))
    with pytest.raises(xg.ShapeError, match=r"^Conv1d\(2, 4, kernel_size=\(3,\)\): expected input of shape "
                                            r"\(N, 2, L\) or \(2, L\), got \(1, 3, 9\)"):
        nn.Conv1d(2, 4, 3)(xg.ones((1, 3, 9), dtype=xg.float32))
    with pytest.raises(xg.ShapeError, match=r"^ConvTranspose2d\(4, 2, kernel_size=\(3, 3\)\): expected"):
        nn.ConvTranspose2d(4, 2, 3)(xg.ones((1, 2, 5, 5), dtype=xg.float32))
    with pytest.raises(xg.ShapeError, match=r"^BatchNorm1d\(3\): expected input of shape \(N, C\) or "
                                            r"\(N, C, L\) with C = num_features, got \(4, 5\)"):
        nn.BatchNorm1d(3)(xg.ones((4, 5), dtype=xg.float32))
    with pytest.raises(xg.ShapeError, match=r"^BatchNorm2d\(3\): .*got \(4, 3, 5\)"):
        nn.BatchNorm2d(3)(xg.ones((4, 3, 5), dtype=xg.float32))
    with pytest.raises(xg.ShapeError, match=r"^LayerNorm\(\(4,\)\): expected input of shape \(\*, 4\), got "
                                            r"\(2, 5\)"):
        nn.LayerNorm(4)(xg.ones((2, 5), dtype=xg.float32))
    with pytest.raises(xg.ShapeError, match=r"^GroupNorm\(2, 4\): expected input of shape \(N, 4, \*\)"):
        nn.GroupNorm(2, 4)(xg.ones((2, 6, 3), dtype=xg.float32))
    with pytest.raises(xg.ShapeError, match=r"^MaxPool2d\(kernel_size=2.*\(N, C, H, W\) or \(C, H, W\), "
                                            r"got \(4, 4\)"):
        nn.MaxPool2d(2)(xg.ones((4, 4), dtype=xg.float32))
    with pytest.raises(xg.ShapeError, match=r"^MultiheadAttention\(embed_dim=4, num_heads=2\): expected .*"
                                            r"got query \(3, 1, 5\)"):
        x5 = xg.ones((3, 1, 5), dtype=xg.float32)
        nn.MultiheadAttention(4, 2)(x5, x5, x5)
    with pytest.raises(xg.DTypeError, match=r"^Embedding\(5, 2\): expected integer indices, "
                                            r"got dtype float32"):
        nn.Embedding(5, 2)(xg.ones((3,), dtype=xg.float32))


def test_bad_construction():
    with pytest.raises(xg.OpError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(xg.OpError, match="kernel_size must be"):
        nn.Conv2d(3, 4, (3, 3, 3))
    with pytest.raises(xg.OpError, match="in_features must be a positive int"):
        nn.Linear(0, 3)
    with pytest.raises(xg.OpError, match="divisible by num_groups"):
        nn.GroupNorm(3, 4)
    with pytest.raises(xg.OpError, match="ceil_mode=True is not supported"):
        nn.MaxPool2d(2, ceil_mode=True)
    with pytest.raises(xg.OpError, match="output_padding"):
        nn.ConvTranspose2d(2, 2, 3, stride=1, output_padding=1)


# ------------------------------------------------------------------ opencl:0 agrees with cpu

OPENCL_LAYERS = {
    "linear": (lambda: nn.Linear(6, 5), (4, 6)),
    "conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1, stride=2), (2, 2, 5, 5)),
    "layer_norm": (lambda: nn.LayerNorm(6), (3, 6)),
    "group_norm": (lambda: nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    "mlp": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 2)), (3, 3, 4)),
}


@pytest.mark.parametrize("name", list(OPENCL_LAYERS))
def test_opencl_forward_and_backward_match_cpu(name, opencl):
    build, shape = OPENCL_LAYERS[name]
    xg.manual_seed(0)
    cpu = build()
    dev = copy.deepcopy(cpu).to_device(opencl)
    x = randn(*shape, dtype=xg.float32)
    y_cpu, y_dev = cpu(x), dev(x.to_device(opencl))
    assert y_dev.device == opencl
    np.testing.assert_allclose(y_dev.numpy(), y_cpu.numpy(), rtol=1e-4, atol=1e-5)
    y_cpu.sum().backward()
    y_dev.sum().backward()
    for (n, a), b in zip(cpu.named_parameters(), dev.parameters()):
        assert b.grad.device == opencl
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=n)


def test_multihead_attention_on_opencl_matches_cpu(opencl):
    xg.manual_seed(0)
    cpu = nn.MultiheadAttention(4, 2, batch_first=True)
    dev = copy.deepcopy(cpu).to_device(opencl)
    x = randn(2, 3, 4, dtype=xg.float32)
    (a, wa), (b, wb) = cpu(x, x, x), dev(*(x.to_device(opencl),) * 3)
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(wb.numpy(), wa.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer, x", [
    (lambda: nn.Linear(4, 2), lambda: xg.ones((3, 4))),
    (lambda: nn.Conv2d(1, 2, 3), lambda: xg.ones((1, 1, 5, 5))),
    (lambda: nn.Conv1d(1, 2, 3), lambda: xg.ones((1, 1, 5))),
])
def test_an_input_of_another_dtype_names_the_layer_and_both_dtypes(layer, x):
    with pytest.raises(xg.DTypeError, match=r"^(Linear|Conv[12]d)\(.*the input is float64 but the "
                                            r"layer's parameters are float32"):
        layer()(x())
