"""The fft extension: signatures, values against array-api-strict, round trips, Parseval,
gradients against hand-derived formulas and PyTorch, the rules on other namespaces, errors.

The op table (tests/ops/test_op_table.py) already checks every sample's JVP against finite
differences and its VJP against the JVP, to order 2; here the gradients are checked against
independent references (closed forms, torch.autograd), over hypothesis-drawn shapes and
lengths, and the raw rules are run with array-api-strict as the namespace.
"""

import inspect
import math

import array_api_strict as strict
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.ops import fft as F
from xpgrad.testing import check_grads, check_vjp

NORMS = ("backward", "ortho", "forward")
C2C = ("fft", "ifft")
C2CN = ("fftn", "ifftn")
ONE_AXIS = ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft")
REAL_IN = ("rfft", "ihfft")           # real signal in, half spectrum out
HALF_IN = ("irfft", "hfft")           # half spectrum in, real signal out


def _rng(seed=0):
    return np.random.default_rng(seed)


def _crandn(rng, *shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def _input(name, rng, shape):
    """An input of the kind the transform takes: real for rfft/ihfft/rfftn, complex otherwise."""
    return rng.standard_normal(shape) if name in REAL_IN + ("rfftn",) else _crandn(rng, *shape)


def _strict(name, x, **kw):
    return np.asarray(getattr(strict.fft, name)(strict.asarray(x), **kw))


# ---------------------------------------------------------------- the namespace


def test_exports_the_standard_names():
    assert sorted(xg.fft.__all__) == sorted(strict.fft.__all__)
    assert set(F.FFT) == set(strict.fft.__all__)


@pytest.mark.parametrize("name", sorted(strict.fft.__all__))
def test_signature_matches_the_standard(name):
    ours = inspect.signature(getattr(xg.fft, name))
    theirs = inspect.signature(getattr(strict.fft, name))
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == \
           [(p.name, p.kind, p.default) for p in theirs.parameters.values()]


def test_registered_under_fft_names():
    ops = xg.registered_ops()
    for name in F.FFT:
        if name.endswith("freq"):
            assert f"fft.{name}" not in ops     # creation functions, not ops
        else:
            assert ops[f"fft.{name}"] is getattr(xg.fft, name)
    assert not hasattr(xg, "rfft")              # only under xpgrad.fft


# ---------------------------------------------------------------- values


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", ONE_AXIS)
@pytest.mark.parametrize("n", [None, 3, 4, 9, 10])
def test_one_axis_matches_strict(name, n, norm):
    rng = _rng(1)
    x = _input(name, rng, (3, 6))
    for axis in (-1, 0):
        kw = {"n": n, "axis": axis, "norm": norm}
        got = getattr(xg.fft, name)(xg.asarray(x), **kw)
        np.testing.assert_allclose(got.numpy(), _strict(name, x, **kw), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", ("fftn", "ifftn", "rfftn", "irfftn"))
@pytest.mark.parametrize("s,axes", [(None, None), (None, (0, 2)), ((4, 5), (2, 0)), ((3, 2, 7), (0, 1, 2)),
                                    ((-1, 6), (1, 2))])
def test_n_axes_matches_strict(name, s, axes, norm):
    x = _input(name, _rng(2), (3, 4, 5))
    kw = {"s": s, "axes": axes, "norm": norm}
    if name == "irfftn" and s is not None and s[-1] == -1:
        return
    ref_kw = dict(kw)
    if s is not None and -1 in s:  # spell out what -1 means for references that predate it
        ref_kw["s"] = tuple(x.shape[a] if k == -1 else k for k, a in zip(s, axes))
    got = getattr(xg.fft, name)(xg.asarray(x), **kw)
    np.testing.assert_allclose(got.numpy(), _strict(name, x, **ref_kw), rtol=1e-12, atol=1e-12)


def test_irfftn_minus_one_on_the_half_axis_means_the_default_length():
    x = _crandn(_rng(3), 3, 4)
    got = xg.fft.irfftn(xg.asarray(x), s=(3, -1), axes=(0, 1))
    assert got.shape == (3, 6)
    np.testing.assert_allclose(got.numpy(), np.fft.irfftn(x, s=(3, 6), axes=(0, 1)), atol=1e-12)


@pytest.mark.parametrize("dtype,cdtype", [(xg.float32, xg.complex64), (xg.float64, xg.complex128)])
def test_dtypes_keep_their_precision(dtype, cdtype):
    r = xg.asarray(_rng(4).standard_normal((2, 6)), dtype=dtype)
    c = xg.asarray(_crandn(_rng(4), 2, 4), dtype=cdtype)
    for name in C2C + C2CN:
        assert getattr(xg.fft, name)(c).dtype == cdtype
        assert getattr(xg.fft, name)(r).dtype == cdtype     # real input is promoted to complex
    assert xg.fft.rfft(r).dtype == xg.fft.ihfft(r).dtype == xg.fft.rfftn(r).dtype == cdtype
    assert xg.fft.irfft(c).dtype == xg.fft.hfft(c).dtype == xg.fft.irfftn(c).dtype == dtype
    assert xg.fft.irfft(r).dtype == dtype                   # a real "spectrum" is promoted too
    assert xg.fft.fftshift(c).dtype == cdtype and xg.fft.fftshift(r).dtype == dtype


@pytest.mark.parametrize("name", ("fftshift", "ifftshift"))
@pytest.mark.parametrize("axes", [None, 0, -1, (0, 2), (2, 1)])
def test_shifts_match_strict(name, axes):
    x = _rng(5).standard_normal((3, 4, 5))
    got = getattr(xg.fft, name)(xg.asarray(x), axes=axes)
    np.testing.assert_array_equal(got.numpy(), _strict(name, x, axes=axes))


@pytest.mark.parametrize("name", ("fftfreq", "rfftfreq"))
@pytest.mark.parametrize("n", [1, 2, 7, 8])
@pytest.mark.parametrize("d", [1.0, 0.25, 3])
def test_freqs_match_strict(name, n, d):
    got = getattr(xg.fft, name)(n, d=d)
    assert got.dtype == xg.float64 and not got.requires_grad and got.device == "cpu"
    np.testing.assert_allclose(got.numpy(), np.asarray(getattr(strict.fft, name)(n, d=d)), rtol=1e-15)
    g32 = getattr(xg.fft, name)(n, d=d, dtype=xg.float32, device="cpu")
    assert g32.dtype == xg.float32
    np.testing.assert_allclose(g32.numpy(), got.numpy(), rtol=1e-6)


def test_freqs_label_the_bins():
    n, d = 8, 0.1
    x = xg.asarray(np.cos(2 * np.pi * 2.5 * np.arange(n) * d))   # 2.5 Hz sampled at 10 Hz
    peak = int(np.argmax(np.abs(xg.fft.rfft(x).numpy())))
    assert float(xg.fft.rfftfreq(n, d=d)[peak]) == 2.5
    shifted = xg.fft.fftshift(xg.fft.fftfreq(n, d=d)).numpy()
    assert np.all(np.diff(shifted) > 0) and shifted[0] == -5.0


# ---------------------------------------------------------------- identities


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n", [1, 2, 5, 6, 7, 8])
def test_round_trips(n, norm):
    rng = _rng(n)
    z = _crandn(rng, 3, n)
    x = rng.standard_normal((3, n))
    zt, xt = xg.asarray(z), xg.asarray(x)
    np.testing.assert_allclose(xg.fft.ifft(xg.fft.fft(zt, norm=norm), norm=norm).numpy(), z, atol=1e-12)
    np.testing.assert_allclose(xg.fft.fft(xg.fft.ifft(zt, norm=norm), norm=norm).numpy(), z, atol=1e-12)
    np.testing.assert_allclose(xg.fft.irfft(xg.fft.rfft(xt, norm=norm), n=n, norm=norm).numpy(), x,
                               atol=1e-12)
    np.testing.assert_allclose(xg.fft.hfft(xg.fft.ihfft(xt, norm=norm), n=n, norm=norm).numpy(), x,
                               atol=1e-12)
    zz = _crandn(rng, 2, 3, n)
    np.testing.assert_allclose(xg.fft.ifftn(xg.fft.fftn(xg.asarray(zz), norm=norm), norm=norm).numpy(),
                               zz, atol=1e-12)
    xx = rng.standard_normal((2, 3, n))
    back = xg.fft.irfftn(xg.fft.rfftn(xg.asarray(xx), norm=norm), s=(2, 3, n), axes=(0, 1, 2), norm=norm)
    np.testing.assert_allclose(back.numpy(), xx, atol=1e-12)
    np.testing.assert_array_equal(xg.fft.ifftshift(xg.fft.fftshift(xt)).numpy(), x)


@pytest.mark.parametrize("n", [5, 8])
def test_parseval(n):
    z = _crandn(_rng(6), 4, n)
    energy = np.sum(np.abs(z) ** 2)
    spec = lambda norm: np.sum(np.abs(xg.fft.fft(xg.asarray(z), norm=norm).numpy()) ** 2)  # noqa: E731
    assert spec("backward") == pytest.approx(n * energy, rel=1e-12)
    assert spec("ortho") == pytest.approx(energy, rel=1e-12)
    assert spec("forward") == pytest.approx(energy / n, rel=1e-12)
    # the half spectrum of a real signal: the interior bins stand for two bins each
    x = _rng(7).standard_normal(n)
    y = np.abs(xg.fft.rfft(xg.asarray(x), norm="ortho").numpy()) ** 2
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    assert np.sum(w * y) == pytest.approx(np.sum(x ** 2), rel=1e-12)
    zz = _crandn(_rng(8), 3, n)
    assert np.sum(np.abs(xg.fft.fftn(xg.asarray(zz), norm="ortho").numpy()) ** 2) == \
        pytest.approx(np.sum(np.abs(zz) ** 2), rel=1e-12)


# ---------------------------------------------------------------- gradients


def _vjp(fn, x, u):
    _, pull = xg.vjp(fn, xg.asarray(x))
    (g,) = pull(xg.asarray(u))
    return g.numpy()


@pytest.mark.parametrize("norm", NORMS)
def test_fft_vjp_is_the_adjoint_dft(norm):
    n = 6
    z = _crandn(_rng(9), n)
    u = _crandn(_rng(10), n)
    scale = {"backward": 1.0, "ortho": 1 / math.sqrt(n), "forward": 1 / n}[norm]
    dft = scale * np.exp(-2j * np.pi * np.outer(np.arange(n), np.arange(n)) / n)
    got = _vjp(lambda t: xg.fft.fft(t, norm=norm), z, u)
    np.testing.assert_allclose(got, dft.conj().T @ u, atol=1e-12)          # Fᴴ u
    got = _vjp(lambda t: xg.fft.ifft(t, norm=norm), z, u)
    inv = {"backward": 1 / n, "ortho": 1 / math.sqrt(n), "forward": 1.0}[norm] * \
        np.exp(2j * np.pi * np.outer(np.arange(n), np.arange(n)) / n)
    np.testing.assert_allclose(got, inv.conj().T @ u, atol=1e-12)


def test_gradient_of_spectral_energy_follows_the_wirtinger_convention():
    # L = Σ|fft(z)|² = n Σ|z|²: PyTorch's convention gives ∂L/∂x + i ∂L/∂y = 2 n z
    z = xg.asarray(_crandn(_rng(11), 5), requires_grad=True)
    y = xg.fft.fft(z)
    xg.sum(xg.abs(y) ** 2).backward()
    np.testing.assert_allclose(z.grad.numpy(), 2 * 5 * z.detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("n", [None, 4, 5, 9, 10])
@pytest.mark.parametrize("norm", NORMS)
def test_rfft_gradient_by_hand(n, norm):
    # L = Σ_j c_j·Re(y_j) + d_j·Im(y_j) on the kept bins: ∂L/∂x_k = Re Σ_j (c_j + i d_j) e^{2πijk/N}·scale
    m = 7
    x = _rng(12).standard_normal(m)
    N = m if n is None else n
    h = N // 2 + 1
    u = _crandn(_rng(13), h)
    got = _vjp(lambda t: xg.fft.rfft(t, n=n, norm=norm), x, u)
    scale = {"backward": 1.0, "ortho": 1 / math.sqrt(N), "forward": 1 / N}[norm]
    k = np.arange(min(m, N))
    expected = np.zeros(m)
    expected[:len(k)] = scale * np.real(np.exp(2j * np.pi * np.outer(k, np.arange(h)) / N) @ u)
    np.testing.assert_allclose(got, expected, atol=1e-12)


TORCH_CASES = [("fft", {}), ("fft", {"n": 4, "norm": "ortho"}), ("fft", {"n": 9, "norm": "forward"}),
               ("ifft", {"n": 7}), ("rfft", {}), ("rfft", {"n": 5, "norm": "ortho"}),
               ("rfft", {"n": 10, "norm": "forward"}), ("irfft", {}), ("irfft", {"n": 7, "norm": "ortho"}),
               ("irfft", {"n": 3}), ("irfft", {"n": 16, "norm": "forward"}), ("hfft", {}),
               ("hfft", {"n": 9, "norm": "ortho"}), ("hfft", {"n": 4, "norm": "forward"}),
               ("ihfft", {}), ("ihfft", {"n": 5}), ("ihfft", {"n": 12, "norm": "ortho"}),
               ("fftn", {"s": (3, 5), "axes": (0, 1)}), ("ifftn", {"norm": "ortho"}),
               ("rfftn", {}), ("rfftn", {"s": (4, 5), "axes": (1, 0), "norm": "ortho"}),
               ("irfftn", {}), ("irfftn", {"s": (2, 7), "axes": (0, 1), "norm": "forward"}),
               ("fftshift", {}), ("ifftshift", {"axes": (1,)})]


@pytest.mark.parametrize("name,kw", TORCH_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(TORCH_CASES)])
def test_vjp_matches_torch(name, kw):
    torch = pytest.importorskip("torch")
    rng = _rng(14)
    x = _input(name, rng, (3, 6))
    tkw = dict(kw)
    if "s" in tkw or "axes" in tkw:
        tkw["dim"] = tkw.pop("axes", None)
    if name.endswith("shift"):
        tkw = {"dim": kw.get("axes")}
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch.fft, name)(xt, **tkw)
    u = _crandn(rng, *yt.shape) if yt.is_complex() else rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(u))
    got = _vjp(lambda t: getattr(xg.fft, name)(t, **kw), x, u)
    np.testing.assert_allclose(got, xt.grad.resolve_conj().numpy(), atol=1e-11)
    y = getattr(xg.fft, name)(xg.asarray(x), **kw)
    np.testing.assert_allclose(y.numpy(), yt.detach().resolve_conj().numpy(), atol=1e-11)


def test_real_input_to_fft_gets_the_real_part():
    x = xg.asarray(_rng(15).standard_normal(6), requires_grad=True)
    u = _crandn(_rng(16), 6)
    y = xg.fft.fft(x)
    y.backward(xg.asarray(u))
    assert x.grad.dtype == xg.float64
    n = 6
    np.testing.assert_allclose(x.grad.numpy(), np.real(n * np.fft.ifft(u)), atol=1e-12)


def test_imaginary_dc_and_nyquist_of_irfft_get_zero_gradient():
    y = xg.asarray(_crandn(_rng(17), 2, 5), requires_grad=True)
    out = xg.fft.irfft(y)                  # n = 8: bins 0 and 4 are DC and Nyquist
    out.backward(xg.asarray(_rng(18).standard_normal((2, 8))))
    g = y.grad.numpy()
    assert np.all(g[:, [0, 4]].imag == 0) and np.all(g[:, 1:4].imag != 0)
    y2 = xg.asarray(_crandn(_rng(17), 2, 5), requires_grad=True)
    xg.fft.irfft(y2, n=9).backward(xg.asarray(_rng(18).standard_normal((2, 9))))
    assert np.all(y2.grad.numpy()[:, 0].imag == 0) and np.all(y2.grad.numpy()[:, 4].imag != 0)


SHAPES = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)


@settings(max_examples=30, deadline=None)
@given(shape=SHAPES, data=st.data())
def test_hypothesis_one_axis(shape, data):
    name = data.draw(st.sampled_from(ONE_AXIS))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = data.draw(st.one_of(st.none(), st.integers(1, 9)))
    if n is None and name in HALF_IN and shape[axis] < 2:
        n = 3
    norm = data.draw(st.sampled_from(NORMS))
    x = _input(name, _rng(sum(shape)), shape)
    kw = {"n": n, "axis": axis, "norm": norm}
    fn = getattr(xg.fft, name)
    np.testing.assert_allclose(fn(xg.asarray(x), **kw).numpy(), _strict(name, x, **kw), atol=1e-10)
    check_vjp(lambda t: fn(t, **kw), [xg.asarray(x)], rng=_rng(1))


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), data=st.data())
def test_hypothesis_n_dim(shape, data):
    name = data.draw(st.sampled_from(("fftn", "ifftn", "rfftn", "irfftn")))
    axes = data.draw(st.permutations(range(len(shape))).flatmap(
        lambda p: st.integers(1, len(p)).map(lambda k: tuple(p[:k]))))
    s = data.draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 6) for _ in axes])))
    if s is None and name == "irfftn" and shape[axes[-1]] < 2:
        s = tuple(shape[a] for a in axes[:-1]) + (3,)
    norm = data.draw(st.sampled_from(NORMS))
    x = _input(name, _rng(len(shape)), shape)
    kw = {"s": s, "axes": axes, "norm": norm}
    fn = getattr(xg.fft, name)
    np.testing.assert_allclose(fn(xg.asarray(x), **kw).numpy(), _strict(name, x, **kw), atol=1e-10)
    check_vjp(lambda t: fn(t, **kw), [xg.asarray(x)], rng=_rng(2))


@pytest.mark.parametrize("n", [4, 5])
def test_second_order_through_a_nonlinear_loss(n):
    # Hessian-vector products of Σ|rfft(x)|⁴ and Σ irfft(z)³: the rules differentiate through each other
    x = xg.asarray(_rng(19).standard_normal((2, n)))
    check_grads(lambda t: xg.sum(xg.abs(xg.fft.rfft(t, norm="ortho")) ** 4), [x], order=2)
    z = xg.asarray(_crandn(_rng(20), 2, 3))
    check_grads(lambda t: xg.sum(xg.fft.irfft(t, n=n) ** 3), [z], order=2)
    check_grads(lambda t: xg.sum(xg.abs(xg.fft.fftn(xg.fft.fftshift(t), s=(3, n), axes=(0, 1))) ** 3),
                [z], order=2)


def test_rules_run_on_array_api_strict():
    # The same forward and VJP rules with xp = array_api_strict on its own arrays (no NumPy inside)
    rng = _rng(21)
    for op, x, kw in [(F.rfft, rng.standard_normal((3, 5)), {"n": 8, "norm": "ortho"}),
                      (F.irfft, _crandn(rng, 3, 4), {"n": 5}),
                      (F.hfft, _crandn(rng, 3, 4), {"n": 6, "axis": 0, "norm": "forward"}),
                      (F.ihfft, rng.standard_normal((3, 5)), {"n": 4}),
                      (F.fft, rng.standard_normal((3, 5)), {"n": 7}),
                      (F.rfftn, rng.standard_normal((3, 5)), {"s": (4, 4), "axes": (1, 0)}),
                      (F.irfftn, _crandn(rng, 3, 5), {"s": (2, 7), "axes": (0, 1)}),
                      (F.fftshift, rng.standard_normal((3, 5)), {"axes": 1})]:
        out = op.forward(strict, strict.asarray(x), **kw)
        u = _crandn(rng, *out.shape) if np.iscomplexobj(np.asarray(out)) else rng.standard_normal(out.shape)
        g = op.vjp(strict, strict.asarray(u), out, strict.asarray(x), **kw) if op.vjp else \
            op.vjps[0](strict, strict.asarray(u), out, strict.asarray(x), **kw)
        ref = _vjp(lambda t, op=op, kw=kw: op(t, **kw), x, u)
        g = np.asarray(g)
        np.testing.assert_allclose(np.real(g) if not np.iscomplexobj(x) else g, ref, atol=1e-12)
        np.testing.assert_allclose(np.asarray(out), op(xg.asarray(x), **kw).numpy(), atol=1e-12)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("call,err,words", [
    (lambda: xg.fft.fft(xg.ones(4), norm="unitary"), xg.OpError, ["fft.fft", "norm='unitary'"]),
    (lambda: xg.fft.fft(xg.ones((2, 3)), axis=2), xg.ShapeError, ["fft.fft", "axis 2", "(2, 3)"]),
    (lambda: xg.fft.ifft(xg.ones(4), n=0), xg.OpError, ["fft.ifft", "n=0", "positive"]),
    (lambda: xg.fft.rfft(xg.ones(4), n=2.5), xg.OpError, ["fft.rfft", "n=2.5"]),
    (lambda: xg.fft.fft(xg.asarray(3.0)), xg.ShapeError, ["fft.fft", "0-d"]),
    (lambda: xg.fft.fft(xg.arange(4)), xg.DTypeError, ["fft.fft", "int64", "floating"]),
    (lambda: xg.fft.rfft(xg.asarray([1 + 1j, 2.0])), xg.DTypeError, ["fft.rfft", "complex128", "real"]),
    (lambda: xg.fft.ihfft(xg.asarray([1 + 1j, 2.0])), xg.DTypeError, ["fft.ihfft", "complex"]),
    (lambda: xg.fft.irfft(xg.ones((3, 1))), xg.ShapeError, ["fft.irfft", "give n"]),
    (lambda: xg.fft.fftn(xg.ones((2, 3)), s=(2, 2)), xg.OpError, ["fft.fftn", "axes="]),
    (lambda: xg.fft.fftn(xg.ones((2, 3)), axes=(0, -2)), xg.OpError, ["fft.fftn", "repeats"]),
    (lambda: xg.fft.rfftn(xg.ones((2, 3)), s=(2,), axes=(0, 1)), xg.OpError, ["fft.rfftn", "same length"]),
    (lambda: xg.fft.irfftn(xg.ones((2, 3)), axes=()), xg.OpError, ["fft.irfftn", "axes=()"]),
    (lambda: xg.fft.fftshift(xg.ones((2, 3)), axes=(3,)), xg.ShapeError, ["fft.fftshift", "axis 3"]),
    (lambda: xg.fft.fftn(xg.ones((2, 3)), axes=1.5), xg.OpError, ["fft.fftn", "axes=1.5"]),
    (lambda: xg.fft.fft(xg.ones((2, 3)), axis=(0,)), xg.OpError, ["fft.fft", "axis=(0,)"]),
    (lambda: xg.fft.fftfreq(0), xg.OpError, ["fft.fftfreq", "n=0"]),
    (lambda: xg.fft.rfftfreq(4, d=0.0), xg.OpError, ["fft.rfftfreq", "d=0.0"]),
    (lambda: xg.fft.fftfreq(4, dtype=xg.int32), xg.DTypeError, ["fft.fftfreq", "real floating"]),
])
def test_errors_name_the_function(call, err, words):
    with pytest.raises(err) as info:
        call()
    for w in words:
        assert w in str(info.value)


def test_numpy_integers_are_accepted_as_lengths_and_axes():
    x = _rng(23).standard_normal((3, 8))
    got = xg.fft.rfft(xg.asarray(x), n=np.int64(6), axis=np.int32(0))
    np.testing.assert_allclose(got.numpy(), np.fft.rfft(x, n=6, axis=0), atol=1e-12)
    got = xg.fft.irfftn(xg.fft.rfftn(xg.asarray(x)), s=[np.int64(3), np.int64(8)], axes=[0, np.int8(1)])
    np.testing.assert_allclose(got.numpy(), x, atol=1e-12)
    assert xg.fft.fftfreq(np.int64(4), d=np.float32(0.5)).shape == (4,)


def _opencl():
    try:
        return xg.get_backend("opencl:0").device
    except xg.XpgradError as exc:
        pytest.skip(f"opencl:0 is not usable here: {exc}")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_opencl_refuses_complex_results_clearly():
    dev = _opencl()
    x = xg.asarray(_rng(22).standard_normal((2, 4)), dtype=xg.float32, device=dev, requires_grad=True)
    for name in ("fft", "ifft", "rfft", "ihfft", "irfft", "hfft", "fftn", "rfftn", "irfftn"):
        with pytest.raises(xg.DTypeError) as info:
            getattr(xg.fft, name)(x)
        msg = str(info.value)
        assert f"fft.{name}" in msg and "no complex dtypes" in msg and "(2, 4)" in msg
    # the real-valued functions work there
    y = xg.fft.fftshift(x, axes=1)
    assert y.device == dev
    np.testing.assert_array_equal(y.numpy(), np.fft.fftshift(x.detach().numpy(), axes=1))
    xg.sum(y * xg.arange(4, dtype=xg.float32, device=dev)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(np.fft.ifftshift(np.arange(4.0)), (2, 4)))
    f = xg.fft.fftfreq(5, d=0.5, device=dev)
    assert f.device == dev
    np.testing.assert_allclose(f.numpy(), np.fft.fftfreq(5, d=0.5))
