"""nn.init: exact bounds of uniform schemes, spreads of normal ones, orthogonality, gains, seeding."""

import math

import numpy as np
import pytest

import xpgrad as xg
from xpgrad import nn
from xpgrad.nn import init


def empty(*shape, dtype=xg.float64, device=None):
    return xg.zeros(shape, dtype=dtype, device=device)


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1.0 and init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(xg.OpError, match="unknown nonlinearity 'swish'"):
        init.calculate_gain("swish")


# ------------------------------------------------------------------ uniform schemes: exact bounds

def _assert_fills(w, bound):
    v = np.abs(w.numpy())
    assert v.max() <= bound            # never beyond the bound
    assert v.max() > 0.98 * bound      # and the whole range is used
    assert abs(w.numpy().mean()) < 0.05 * bound


@pytest.mark.parametrize("shape", [(300, 200), (64, 16, 3, 3)])
def test_xavier_uniform_bound(shape):
    w = init.xavier_uniform_(empty(*shape), gain=2.0)
    fan_in, fan_out = shape[1] * math.prod(shape[2:]), shape[0] * math.prod(shape[2:])
    _assert_fills(w, 2.0 * math.sqrt(6 / (fan_in + fan_out)))


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_uniform_bound(mode):
    w = init.kaiming_uniform_(empty(200, 50, 3), mode=mode, nonlinearity="relu")
    fan = 150 if mode == "fan_in" else 600
    _assert_fills(w, math.sqrt(2) * math.sqrt(3 / fan))


def test_uniform_bounds_and_constants():
    w = init.uniform_(empty(10000), -0.25, 0.75)
    assert w.numpy().min() >= -0.25 and w.numpy().max() < 0.75
    assert init.constant_(empty(3), 2.5).tolist() == [2.5] * 3
    assert init.zeros_(xg.ones((2,))).tolist() == [0.0, 0.0]
    assert init.ones_(empty(2)).tolist() == [1.0, 1.0]


def test_layer_defaults_match_pytorch_bounds():
    lin = nn.Linear(400, 300)
    assert lin.weight.dtype == xg.float32 and lin.bias.dtype == xg.float32
    _assert_fills(lin.weight, 1 / math.sqrt(400))
    assert np.abs(lin.bias.numpy()).max() <= 1 / math.sqrt(400)
    conv = nn.Conv2d(16, 32, 3)
    _assert_fills(conv.weight, 1 / math.sqrt(16 * 9))
    assert np.abs(conv.bias.numpy()).max() <= 1 / math.sqrt(16 * 9)
    tconv = nn.ConvTranspose2d(8, 32, 3)   # weight (in, out, kh, kw): fan_in is out·kh·kw
    assert tconv.weight.shape == (8, 32, 3, 3)
    _assert_fills(tconv.weight, 1 / math.sqrt(32 * 9))
    mha = nn.MultiheadAttention(64, 4)
    _assert_fills(mha.in_proj_weight, math.sqrt(6 / (64 + 192)))
    assert not np.any(mha.in_proj_bias.numpy()) and not np.any(mha.out_proj.bias.numpy())
    bn = nn.BatchNorm2d(5)
    assert bn.weight.tolist() == [1.0] * 5 and bn.bias.tolist() == [0.0] * 5
    assert bn.running_var.tolist() == [1.0] * 5 and int(bn.num_batches_tracked) == 0
    ln = nn.LayerNorm((2, 3))
    assert ln.weight.shape == (2, 3) and np.all(ln.weight.numpy() == 1) and not np.any(ln.bias.numpy())


def test_factory_kwargs():
    lin = nn.Linear(3, 2, dtype=xg.float64)
    assert lin.weight.dtype == xg.float64 and lin.bias.dtype == xg.float64
    bn = nn.BatchNorm1d(3, dtype=xg.float64)
    assert bn.running_mean.dtype == xg.float64 and bn.num_batches_tracked.dtype == xg.int64


# ------------------------------------------------------------------ normal schemes: spread

def test_normal_schemes_std():
    w = init.normal_(empty(200, 500), mean=1.0, std=0.5)
    assert w.numpy().mean() == pytest.approx(1.0, abs=0.01)
    assert w.numpy().std() == pytest.approx(0.5, rel=0.02)
    w = init.xavier_normal_(empty(200, 500), gain=3.0)
    assert w.numpy().std() == pytest.approx(3.0 * math.sqrt(2 / 700), rel=0.02)
    w = init.kaiming_normal_(empty(400, 50, 5), mode="fan_out", nonlinearity="relu")
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / 2000), rel=0.02)
    emb = nn.Embedding(1000, 100, padding_idx=3)
    assert emb.weight.numpy().std() == pytest.approx(1.0, rel=0.02)
    assert not np.any(emb.weight.numpy()[3])


# ------------------------------------------------------------------ orthogonal

@pytest.mark.parametrize("shape", [(20, 8), (8, 20), (6, 2, 3, 3)])
def test_orthogonal(shape):
    w = init.orthogonal_(empty(*shape), gain=2.0).numpy().reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w.T @ w if rows >= cols else w @ w.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-12)


def test_orthogonal_float32_on_device():
    w = init.orthogonal_(empty(5, 5, dtype=xg.float32))
    assert w.dtype == xg.float32
    np.testing.assert_allclose(w.numpy().T @ w.numpy(), np.eye(5), atol=1e-6)


# ------------------------------------------------------------------ in place, seeding, errors

def test_in_place_on_parameters():
    p = nn.Parameter(empty(3, 4))
    assert init.kaiming_uniform_(p) is p
    assert p.requires_grad and p.is_leaf and np.any(p.numpy())


def test_seeded_construction_is_bitwise_reproducible():
    def build():
        xg.manual_seed(123)
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(36, 5), nn.Embedding(7, 2),
                             nn.MultiheadAttention(4, 2))

    a, b = build().state_dict(), build().state_dict()
    assert all(a[k].numpy().tobytes() == b[k].numpy().tobytes() for k in a)
    xg.manual_seed(124)
    c = nn.Linear(36, 5).weight
    assert c.numpy().tobytes() != a["2.weight"].numpy().tobytes()


def test_generator_argument():
    g1, g2 = xg.random.Generator(5), xg.random.Generator(5)
    xg.manual_seed(0)
    state = xg.random.get_state()
    a = init.xavier_uniform_(empty(4, 4), generator=g1)
    b = init.xavier_uniform_(empty(4, 4), generator=g2)
    assert a.numpy().tobytes() == b.numpy().tobytes()
    assert xg.random.get_state() == state   # the default stream was not touched
    c = init.orthogonal_(empty(3, 3), generator=xg.random.Generator(9))
    d = init.orthogonal_(empty(3, 3), generator=xg.random.Generator(9))
    assert c.numpy().tobytes() == d.numpy().tobytes()


def test_draws_do_not_depend_on_device():
    try:
        xg.get_backend("fpga:0")
    except xg.XpgradError as exc:
        pytest.skip(f"fpga:0 is not usable here: {exc}")
    xg.manual_seed(3)
    cpu = nn.Linear(5, 4)
    xg.manual_seed(3)
    dev = nn.Linear(5, 4, device="fpga:0")
    assert dev.weight.device == "fpga:0"
    np.testing.assert_array_equal(cpu.weight.numpy(), dev.weight.numpy())


def test_errors():
    with pytest.raises(xg.ShapeError, match="at least 2 dimensions"):
        init.xavier_uniform_(empty(5))
    with pytest.raises(xg.OpError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal_(empty(2, 2), mode="fan_avg")
    with pytest.raises(xg.OpError, match="dtype int64"):
        init.normal_(xg.zeros((2,), dtype=xg.int64))
    with pytest.raises(TypeError, match="got list"):
        init.uniform_([1.0, 2.0])


def test_aliases():
    assert init.glorot_uniform_ is init.xavier_uniform_ and init.glorot_normal_ is init.xavier_normal_
    assert init.he_uniform_ is init.kaiming_uniform_ and init.he_normal_ is init.kaiming_normal_
