"""Mixed precision: ``xpgrad.autocast`` (which op runs in which dtype, on every device) and
``xpgrad.GradScaler`` (dynamic loss scaling: skipped steps, back-off, growth, state)."""

import doctest
import math
import threading

import hypothesis.extra.numpy as hnp
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad import amp, nn, optim
from xpgrad.backends.numpy import namespace as cpu_ns
from xpgrad.nn import functional as F

F32 = np.dtype(np.float32)
BF16 = np.dtype(ml_dtypes.bfloat16)
LOW = {"float16": np.dtype(np.float16), "bfloat16": BF16}
# What each device family runs (the rest raise DTypeError): see xpgrad.amp's docstring.
SUPPORTED = {"cpu": {"float16", "bfloat16"}, "fpga": {"float16"}, "cuda": {"float16"}, "opencl": set()}


@pytest.fixture(params=["cpu", "fpga:0", "opencl:0", "cuda:0"])
def device(request):
    try:
        return xg.get_backend(request.param).device
    except xg.XpgradError as exc:
        pytest.skip(f"{request.param} is not usable here: {exc}")


def _f32(a, device="cpu", grad=False):
    return xg.asarray(np.asarray(a, dtype=np.float32), device=device, requires_grad=grad)


def _supported(device, dtype):
    return dtype in SUPPORTED[xg.get_backend(device).family]


# ---------------------------------------------------------------- which op runs in which dtype


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_listed_ops_run_in_their_dtype_on_every_device(device, dtype, rng):
    low = LOW[dtype]
    x = _f32(rng.standard_normal((4, 3)), device)
    w = _f32(rng.standard_normal((5, 3)), device, grad=True)
    b = _f32(rng.standard_normal(5), device, grad=True)
    img = _f32(rng.standard_normal((2, 3, 5, 5)), device)
    k = _f32(rng.standard_normal((4, 3, 3, 3)), device, grad=True)
    target = xg.asarray([0, 1, 2, 4], device=device)
    if not _supported(device, dtype):
        with pytest.raises(xg.DTypeError) as err:
            with xg.autocast(dtype):
                F.linear(x, w)
        msg = str(err.value)
        assert device in msg and dtype in msg and "enabled=False" in msg
        with xg.autocast(dtype):                  # float32-list ops and unlisted ops still run there
            assert F.relu(x).dtype == F32 and xg.sum(x).dtype == F32
        return
    with xg.autocast(dtype):
        lows = {"matmul": x @ w.mT, "linear": F.linear(x, w), "affine": F.linear(x, w, b),
                "conv2d": xg.conv2d(img, k, padding=1),
                "conv_transpose2d": xg.conv_transpose2d(img, xg.permute_dims(k, (1, 0, 2, 3))),
                "tensordot": xg.tensordot(x, w, axes=([1], [1])), "vecdot": xg.vecdot(x, x),
                "einsum": xg.einsum("ij,kj->ik", x, w)}
        h = lows["linear"]
        wides = {"softmax": xg.softmax(h, axis=-1), "log_softmax": F.log_softmax(h, dim=-1),
                 "logsumexp": xg.logsumexp(h, axis=-1), "exp": xg.exp(h), "log": xg.log(xg.abs(h) + 1),
                 "sum": xg.sum(h), "mean": xg.mean(h), "var": xg.var(h),
                 "vector_norm": xg.linalg.vector_norm(h),
                 "cross_entropy": F.cross_entropy(h, target), "mse_loss": F.mse_loss(h, h)}
        relu = F.relu(h)                          # unlisted: runs on its input as it is
        mixed = h + x @ xg.ones((3, 5), dtype=xg.float32, device=device)   # low + low
        promoted = h + _f32(np.ones(5), device)   # low + float32: Array API promotion
    assert {n: str(t.dtype) for n, t in lows.items()} == {n: dtype for n in lows}
    assert {n: str(t.dtype) for n, t in wides.items()} == {n: "float32" for n in wides}
    assert relu.dtype == low and mixed.dtype == low and promoted.dtype == F32
    assert all(t.device == device for t in (*lows.values(), *wides.values()))
    # outside the region nothing is cast, and the inputs themselves never were
    assert (x @ w.mT).dtype == F32 and F.linear(x, w).dtype == F32 and xg.softmax(lows["linear"]).dtype == low
    assert x.dtype == w.dtype == F32


def test_float64_inputs_of_listed_ops_are_cast_too_and_bad_dtypes_are_refused():
    x = xg.ones((2, 2), dtype=xg.float64)
    with xg.autocast("float16"):
        assert (x @ x).dtype == np.float16
        assert xg.sum(x).dtype == np.float64        # float32 list: only half precision is widened
        assert (xg.ones((2, 2), dtype=xg.int64) @ xg.ones((2, 2), dtype=xg.int64)).dtype == np.int64
    for bad in ("float32", "float64", xg.float64):
        with pytest.raises(xg.DTypeError, match="below float32.*'float16' or 'bfloat16'"):
            xg.autocast(bad)
    for bad in ("int8", "float8", 3):
        with pytest.raises(xg.DTypeError, match="unknown dtype"):
            xg.autocast(bad)
    with pytest.raises(xg.OpError, match="enabled must be True or False"):
        xg.autocast("float16", enabled="yes")
    for ok in ("half", xg.float16, np.dtype(np.float16), amp.bfloat16, BF16):
        assert xg.autocast(ok).dtype in ("float16", "bfloat16")


def test_autocast_only_inserts_casts_through_the_astype_op():
    x = _f32([[1.0, 2.0], [3.0, 4.0]])
    w = _f32([[0.5, -1.0], [2.0, 0.25]], grad=True)
    with xg.autocast("float16"):
        y = x @ w
    node = y._edge[0]
    assert node.op.name == "matmul"
    casts = [e[0] for e in node.edges if e is not None]
    assert [c.op.name for c in casts] == ["astype"]           # only w requires grad
    assert casts[0].edges[0][0] is w._edge[0]                  # the cast feeds the master weight's leaf


def test_enabled_false_and_other_dtypes_nest_and_the_decorator_form():
    x = xg.ones((2, 3), dtype=xg.float32)
    w = xg.ones((4, 3), dtype=xg.float32)
    with xg.autocast("float16"):
        assert amp.is_autocast_enabled() and amp.get_autocast_dtype() == "float16"
        with xg.autocast(enabled=False):
            assert F.linear(x, w).dtype == F32 and not amp.is_autocast_enabled()
            with xg.autocast("bfloat16"):
                assert F.linear(x, w).dtype == BF16
        assert F.linear(x, w).dtype == np.float16
    assert not amp.is_autocast_enabled() and amp.get_autocast_dtype() is None

    @xg.autocast("bfloat16")
    def forward(a, b):
        return F.linear(a, b), amp.get_autocast_dtype()

    assert forward(x, w)[0].dtype == BF16 and forward(x, w)[1] == "bfloat16"
    assert F.linear(x, w).dtype == F32

    ctx = xg.autocast("float16")            # one instance entered twice (re-entrant, like a decorator)
    with ctx:
        with ctx:
            assert F.linear(x, w).dtype == np.float16
        assert F.linear(x, w).dtype == np.float16
    assert F.linear(x, w).dtype == F32


def test_autocast_is_thread_local():
    x = xg.ones((2, 3), dtype=xg.float32)
    w = xg.ones((4, 3), dtype=xg.float32)
    inside, outside = threading.Event(), threading.Event()
    seen = {}

    def other():
        inside.wait(10)
        seen["other"] = F.linear(x, w).dtype     # the main thread is inside autocast now
        with xg.autocast("bfloat16"):
            seen["other bf16"] = F.linear(x, w).dtype
        outside.set()

    t = threading.Thread(target=other)
    t.start()
    with xg.autocast("float16"):
        inside.set()
        outside.wait(10)
        seen["main"] = F.linear(x, w).dtype
    t.join(10)
    assert seen == {"other": F32, "other bf16": BF16, "main": np.dtype(np.float16)}


# ---------------------------------------------------------------- gradients


def _mlp_and_conv(rng, device="cpu"):
    xg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 8),
                          nn.Tanh(), nn.Linear(8, 3)).to_device(device)
    x = _f32(rng.standard_normal((6, 2, 5, 5)), device)
    y = xg.asarray([0, 1, 2, 0, 1, 2], device=device)
    return model, x, y


def _grads(model, x, y, dtype=None):
    model.zero_grad()
    if dtype is None:
        loss = F.cross_entropy(model(x), y)
    else:
        with xg.autocast(dtype):
            loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss, [p.grad for p in model.parameters()]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_gradients_reach_float32_master_weights_close_to_float32_training(device, dtype, rng):
    if not _supported(device, dtype):
        pytest.skip(f"{device} runs no {dtype} (the error it raises is tested above)")
    model, x, y = _mlp_and_conv(rng, device)
    loss32, g32 = _grads(model, x, y)
    loss, g = _grads(model, x, y, dtype)
    assert loss.dtype == F32 and all(p.dtype == F32 for p in model.parameters())
    assert all(t.dtype == F32 and t.device == device for t in g)
    # Each low-precision op rounds its inputs and its result (relative error eps/2 each, eps = 2^-10 for
    # float16, 2^-7 for bfloat16); through three such layers and back the gradient's relative error
    # (in norm) stays within a few eps: 0.5 to 1.6 eps here, so 4 eps is the bound; and it is not zero:
    # the low precision really ran.
    eps = float(xg.finfo(LOW[dtype]).eps)
    assert abs(float(loss) - float(loss32)) <= 4 * eps * abs(float(loss32))
    for a, b in zip(g, g32):
        a, b = a.numpy().astype(np.float64), b.numpy().astype(np.float64)
        err = np.linalg.norm(a - b)
        assert 0 < err <= 4 * eps * np.linalg.norm(b), err / np.linalg.norm(b)


def test_one_weight_used_twice_is_converted_once_per_region_until_it_is_updated():
    w = _f32(np.arange(6.0).reshape(2, 3), grad=True)
    x = xg.ones((4, 3), dtype=xg.float32)
    with xg.autocast("float16"):
        y1 = F.linear(x, w)
        y2 = F.linear(x, w)
        n1, n2 = y1._edge[0], y2._edge[0]
        low = n1.raw[1]
        assert low is n2.raw[1] and low.dtype == np.float16    # one converted array...
        assert n1.edges[1][0] is not n2.edges[1][0]            # ...in two recorded casts
        y1.sum().backward()            # each graph frees its own cast: the second backward still works
        y2.sum().backward()
        assert w.grad.tolist() == [[8.0] * 3, [8.0] * 3]
        with xg.no_grad():
            w -= 1.0                   # an in-place update (an optimizer step) invalidates the cache
        y3 = F.linear(x, w)
        assert y3._edge[0].raw[1] is not low
        assert y3.tolist() == [[0.0, 9.0]] * 4
        with xg.autocast("float16", cache_enabled=False):
            y4, y5 = F.linear(x, w), F.linear(x, w)
        assert y4._edge[0].raw[1] is not y5._edge[0].raw[1]
    with xg.autocast("float16"):       # a new region converts afresh
        assert F.linear(x, w)._edge[0].raw[1] is not y3._edge[0].raw[1]


def test_checkpointed_regions_recompute_in_the_precision_they_ran_in(rng):
    model, x, y = _mlp_and_conv(rng)
    _, plain = _grads(model, x, y, "float16")
    model.zero_grad()
    with xg.autocast("float16"):
        loss = F.cross_entropy(xg.checkpoint(model, x), y)
    loss.backward()                    # the recomputation runs outside the region, with autocast reinstalled
    for a, b in zip([p.grad for p in model.parameters()], plain):
        assert a.dtype == F32
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 5)),
                  elements=st.floats(-100, 100, width=32)),
       st.integers(1, 4), st.sampled_from(["float16", "bfloat16"]))
def test_autocast_equals_casting_by_hand(a, n, dtype):
    """Autocast computes exactly what the same casts written by hand compute (it only inserts them)."""
    x = xg.asarray(a)
    w = xg.asarray(np.linspace(-2, 2, a.shape[1] * n, dtype=np.float32).reshape(a.shape[1], n))
    with xg.autocast(dtype):
        y = x @ w
        p = xg.softmax(y, axis=-1)
    by_hand = xg.astype(x, dtype) @ xg.astype(w, dtype)
    assert y.dtype == by_hand.dtype == LOW[dtype]
    np.testing.assert_array_equal(y.numpy().astype(np.float32), by_hand.numpy().astype(np.float32))
    np.testing.assert_array_equal(p.numpy(), xg.softmax(xg.astype(by_hand, "float32"), axis=-1).numpy())


# ---------------------------------------------------------------- registration


def test_register_extends_the_lists_and_refuses_what_it_cannot_use():
    a, b = xg.ones(2, dtype=xg.float32), xg.ones(3, dtype=xg.float32)
    assert amp.policy("outer") is None
    try:
        amp.register("outer", "low")
        with xg.autocast("float16"):
            assert xg.linalg.outer(a, b).dtype == np.float16
        amp.register("outer", "float32")
        with xg.autocast("float16"):
            assert xg.linalg.outer(xg.astype(a, "float16"), b).dtype == F32
    finally:
        amp.register("outer", None)
    assert amp.policy("outer") is None
    with pytest.raises(xg.RegistryError, match="did you mean 'matmul'"):
        amp.register("matmull", "low")
    with pytest.raises(xg.RegistryError, match="'low', 'float32' or None"):
        amp.register("matmul", "half")
    with pytest.raises(xg.RegistryError, match="a str"):
        amp.register(xg.matmul, "low")


# ---------------------------------------------------------------- the cpu namespace's half precision


def test_cpu_namespace_knows_bfloat16_and_multiplies_half_precision_exactly():
    assert cpu_ns.isdtype(BF16, "real floating") and cpu_ns.isdtype(BF16, ("integral", "numeric"))
    assert not cpu_ns.isdtype(BF16, "complex floating") and not cpu_ns.isdtype(np.float32, BF16)
    assert cpu_ns.isdtype(BF16, cpu_ns.bfloat16) and xg.isdtype(BF16, "real floating")
    assert cpu_ns.finfo(BF16).eps == 2.0 ** -7 and xg.finfo(np.float16).eps == 2.0 ** -10
    assert cpu_ns.result_type(BF16, np.float16) == F32
    cpu = xg.get_backend("cpu")
    assert cpu.is_floating(BF16) and not cpu.is_complex(BF16) and cpu.dtype("bfloat16") is ml_dtypes.bfloat16
    a = xg.asarray([[1.0, 2.0], [3.0, 4.0]], dtype="bfloat16")
    b = xg.asarray([[5.0, 6.0], [7.0, 8.0]], dtype="bfloat16")
    for y in (a @ b, xg.einsum("ij,jk->ik", a, b), xg.tensordot(a, b, axes=1)):
        assert y.dtype == BF16 and y.tolist() == [[19.0, 22.0], [43.0, 50.0]]
    assert xg.vecdot(a, b).dtype == BF16 and xg.vecdot(a, b).tolist() == [17.0, 53.0]   # 1·5 + 2·6, 3·7 + 4·8
    # one rounding of the float32 sum: 2048 + 1 + 1 is 2050 in float16 (2049 is not representable, and
    # a float16 accumulator would round 2048 + 1 back to 2048 twice)
    u = xg.asarray([[2048.0, 1.0, 1.0]], dtype="float16")
    assert (u @ xg.ones((3, 1), dtype=xg.float16)).tolist() == [[2050.0]]
    # the same arithmetic as NumPy's own float16 loop (which accumulates in float32)
    rng = np.random.default_rng(1)
    p, q = rng.standard_normal((6, 40)).astype(np.float16), rng.standard_normal((40, 5)).astype(np.float16)
    ulp = np.spacing(np.abs(np.matmul(p, q)))
    assert np.all(np.abs(cpu_ns.matmul(p, q).astype(np.float32) - np.matmul(p, q)) <= ulp)
    img = rng.standard_normal((2, 3, 6, 6)).astype(np.float16)
    ker = rng.standard_normal((4, 3, 3, 3)).astype(np.float16)
    y = xg.conv2d(xg.asarray(img), xg.asarray(ker), padding=1)
    ref = xg.conv2d(xg.asarray(img.astype(np.float32)), xg.asarray(ker.astype(np.float32)), padding=1)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y.numpy(), ref.numpy().astype(np.float16))


# ---------------------------------------------------------------- GradScaler


def _step(model, x, y, scaler, opt, dtype="float16"):
    with xg.autocast(dtype):
        loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    scaler.scale(loss).backward()
    out = scaler.step(opt)
    scaler.update()
    return out


def test_a_forced_overflow_skips_the_step_and_backs_off_then_clean_steps_grow_the_scale(rng):
    model, x, y = _mlp_and_conv(rng)
    opt = optim.SGD(model.parameters(), lr=0.1)
    scaler = xg.GradScaler(init_scale=2.0 ** 40, growth_interval=3)
    before = [p.numpy().copy() for p in model.parameters()]
    # loss · 2^40 sends cotangents past float16's 65504 in the float16 layers: inf/NaN gradients
    # (NumPy warns as they appear: expected here)
    with np.errstate(over="ignore", invalid="ignore"):
        _step(model, x, y, scaler, opt)
    assert [p.numpy().tobytes() for p in model.parameters()] == [b.tobytes() for b in before]   # skipped
    assert scaler.get_scale() == 2.0 ** 39                                                        # halved
    scaler.update(new_scale=2.0 ** 10)
    assert scaler.get_scale() == 2.0 ** 10
    for _ in range(2):
        _step(model, x, y, scaler, opt)
        assert scaler.get_scale() == 2.0 ** 10          # clean steps, fewer than growth_interval
    assert any(not np.array_equal(p.numpy(), b) for p, b in zip(model.parameters(), before))
    _step(model, x, y, scaler, opt)
    assert scaler.get_scale() == 2.0 ** 11              # the third clean step in a row: grown
    assert scaler.state_dict()["_growth_tracker"] == 0


def test_a_planted_inf_or_nan_skips_the_step_on_every_device(device):
    w = _f32([1.0, 2.0], device, grad=True)
    v = _f32([3.0], device, grad=True)
    opt = optim.Adam([w, v], lr=0.1)
    scaler = xg.GradScaler(init_scale=4.0, growth_interval=1)
    for bad in (math.inf, math.nan):
        scaler.scale((w * w).sum() + v.sum()).backward()
        v.grad = _f32([bad], device)
        assert scaler.step(opt) is None
        scaler.update()
        assert w.tolist() == [1.0, 2.0] and v.tolist() == [3.0] and not opt.state
        w.grad = v.grad = None
    assert scaler.get_scale() == 1.0                     # 4 → 2 → 1
    scaler.scale((w * w).sum()).backward()
    assert w.grad.tolist() == [2.0, 4.0]                 # d/dw of w² = [2, 4], scaled by 1
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 2.0 and w.tolist() != [1.0, 2.0]


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: optim.Adam(ps, lr=0.01), lambda ps: optim.AdamW(ps, lr=0.01),
                                  lambda ps: optim.RMSprop(ps, lr=0.01),
                                  lambda ps: optim.Adagrad(ps, lr=0.1)],
                         ids=["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_a_scaled_step_is_bitwise_the_unscaled_step_with_every_optimizer(make, rng):
    """Scaling by a power of two and back is exact in float32: the same updates, bit for bit."""
    (m1, x, y), (m2, _, _) = _mlp_and_conv(rng), _mlp_and_conv(rng)
    o1, o2 = make(m1.parameters()), make(m2.parameters())
    scaler = xg.GradScaler(init_scale=2.0 ** 12)
    for _ in range(3):
        o1.zero_grad()
        F.cross_entropy(m1(x), y).backward()
        o1.step()
        o2.zero_grad()
        scaler.scale(F.cross_entropy(m2(x), y)).backward()
        scaler.step(o2)
        scaler.update()
    assert [p.numpy().tobytes() for p in m1.parameters()] == [p.numpy().tobytes() for p in m2.parameters()]


def test_unscale_before_clipping_and_the_order_of_calls():
    w = _f32([0.0, 0.0], grad=True)
    opt = optim.SGD([w], lr=1.0)
    scaler = xg.GradScaler(init_scale=1024.0)
    scaler.scale((w * _f32([3.0, 4.0])).sum()).backward()
    assert w.grad.tolist() == [3072.0, 4096.0]
    scaler.unscale_(opt)
    assert w.grad.tolist() == [3.0, 4.0]
    assert float(optim.clip_grad_norm_([w], max_norm=1.0)) == pytest.approx(5.0)
    with pytest.raises(xg.OpError, match="already called on this optimizer"):
        scaler.unscale_(opt)
    scaler.step(opt)                                     # does not unscale a second time
    assert w.tolist() == pytest.approx([-0.6, -0.8])
    with pytest.raises(xg.OpError, match="already called for this optimizer since the last update"):
        scaler.step(opt)
    with pytest.raises(xg.OpError, match="after step"):
        scaler.unscale_(opt)
    scaler.update()
    with pytest.raises(xg.OpError, match="no optimizer was stepped"):
        scaler.update()
    with pytest.raises(xg.OpError, match="no parameter of this optimizer has a gradient"):
        opt.zero_grad()
        scaler.step(opt)
    with pytest.raises(xg.OpError, match="closure"):
        scaler.step(opt, lambda: 0.0)
    with pytest.raises(xg.OpError, match="xpgrad optimizer"):
        scaler.unscale_([w])
    with pytest.raises(xg.DTypeError, match="Tensor"):
        scaler.scale(3.0)
    h = xg.asarray([1.0], dtype="float16", requires_grad=True)
    h.grad = xg.asarray([1.0], dtype="float16")
    with pytest.raises(xg.DTypeError, match="float16 gradient.*master weights"):
        xg.GradScaler().unscale_(optim.SGD([h], lr=0.1))


def test_the_overflow_check_reads_the_device_once_per_step(device):
    """One reduction per parameter stays on the device; step() reads one flag back."""
    b = xg.get_backend(device)
    if b.family == "opencl":
        from xpgrad.backends.opencl import host_transfers as reads
    elif b.family == "fpga":
        def reads():
            return b.native_device.transfers["to_host"]
    else:
        pytest.skip(f"{device} does not count host reads")
    ws = [_f32(np.ones(4) * (i + 1), device, grad=True) for i in range(5)]
    opt = optim.SGD(ws, lr=0.1)
    scaler = xg.GradScaler(init_scale=8.0)
    scaler.scale(sum((w * w).sum() for w in ws)).backward()
    n0 = reads()
    scaler.step(opt)
    scaler.update()
    assert reads() - n0 == 1
    assert ws[0].tolist() == pytest.approx([0.8] * 4)


def test_state_dict_round_trips_through_save_and_load(tmp_path):
    s = xg.GradScaler(init_scale=2.0 ** 8, growth_factor=4.0, backoff_factor=0.25, growth_interval=7)
    w = _f32([1.0], grad=True)
    opt = optim.SGD([w], lr=0.1)
    for _ in range(3):
        s.scale(w.sum()).backward()
        s.step(opt)
        s.update()
    xg.save({"scaler": s.state_dict()}, tmp_path / "s.safetensors")
    state = xg.load(tmp_path / "s.safetensors")["scaler"]
    assert state == {"scale": 256.0, "growth_factor": 4.0, "backoff_factor": 0.25, "growth_interval": 7,
                     "_growth_tracker": 3}
    assert type(state["growth_interval"]) is int and type(state["scale"]) is float
    t = xg.GradScaler()
    t.load_state_dict(state)
    assert t.state_dict() == state and t.get_growth_factor() == 4.0 and t.get_growth_interval() == 7
    for bad, match in (({}, "empty"), ({"scale": 2.0}, "missing"), ({**state, "extra": 1}, "unknown"),
                       ({**state, "scale": -1.0}, "scale=-1.0"), ({**state, "growth_interval": 0}, ">= 1"),
                       ({**state, "backoff_factor": 2.0}, r"\(0, 1\)"), ([1], "expects the dict")):
        with pytest.raises(xg.OpError, match=match):
            t.load_state_dict(bad)
        assert t.state_dict() == state                 # a refused load changes nothing
    for kw, match in (({"init_scale": 0.0}, "init_scale"), ({"growth_factor": 1.0}, "growth_factor"),
                      ({"backoff_factor": 1.0}, "backoff_factor"),
                      ({"growth_interval": 1.5}, "growth_interval"), ({"enabled": 1}, "enabled")):
        with pytest.raises(xg.OpError, match=match):
            xg.GradScaler(**kw)


def test_a_disabled_scaler_passes_everything_through():
    s = xg.GradScaler(enabled=False)
    w = _f32([1.0], grad=True)
    opt = optim.SGD([w], lr=0.5)
    loss = (w * w).sum()
    assert s.scale(loss) is loss and s.get_scale() == 1.0 and s.state_dict() == {} and not s.is_enabled()
    loss.backward()
    s.unscale_(opt)
    s.step(opt)
    s.update()
    assert w.tolist() == [0.0]


def test_the_module_examples_run():
    for mod in (amp, cpu_ns):
        result = doctest.testmod(mod)
        assert result.failed == 0 and result.attempted > 0, mod.__name__
