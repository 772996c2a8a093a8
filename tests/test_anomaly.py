"""xpgrad.detect_anomaly: names the op (and the line calling it) whose forward or VJP made NaN/Inf."""

import pathlib
import threading
import traceback

import numpy as np
import pytest

import xpgrad as xg
from xpgrad import anomaly, nn, optim
from xpgrad.core.tape import observers
from xpgrad.nn import functional as F

# NumPy warns (RuntimeWarning) where a kernel divides by zero; pytest.ini turns those into errors for
# xpgrad's modules. The planted log(0) and sqrt'(0) are the point here, so NumPy's warning is not.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

HERE = pathlib.Path(__file__).resolve()
SOURCE = HERE.read_text().splitlines()


def line_of(marker: str) -> int:
    """The line number of the one source line of this file that ends with ``# <marker>``."""
    hits = [i + 1 for i, text in enumerate(SOURCE) if text.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, marker
    return hits[0]




def deep_net(device: str) -> nn.Module:
    """Ten Linear + tanh layers, float32 on ``device``."""
    xg.manual_seed(0)
    layers = []
    for _ in range(10):
        layers += [nn.Linear(6, 6), nn.Tanh()]
    return nn.Sequential(*layers).to(device=device)


def inputs(device: str) -> xg.Tensor:
    return xg.asarray(np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32), device=device)


def with_planted_log(net: nn.Module, x: xg.Tensor) -> xg.Tensor:
    h = net(x)
    r = F.relu(h - 0.5)   # tanh < 1: many entries are exactly 0 (and some may not be)
    r = r * xg.astype(xg.arange(6, device=x.device) != 3, r.dtype)  # column 3 is 0 for certain
    y = xg.log(r)  # PLANTED-LOG
    return xg.sum(y * 0.0 + 1.0)


def with_planted_sqrt(net: nn.Module, x: xg.Tensor) -> xg.Tensor:
    h = net(x)
    r = F.relu(h) * xg.astype(xg.arange(6, device=x.device) != 2, h.dtype)  # column 2 is exactly 0
    y = xg.sqrt(r)  # PLANTED-SQRT
    return xg.sum(y * y + y)   # finite forward: sqrt(0) = 0; but d sqrt/dx = 1 / (2 sqrt(0)) = inf


def frames_in_this_file(stack):
    return [f for f in stack if pathlib.Path(f.filename).resolve() == HERE]


# ---------------------------------------------------------------- forward

def test_forward_names_log_and_the_line_that_called_it(device):
    net, x = deep_net(device), inputs(device)
    assert np.isnan(float(with_planted_log(net, x)))   # undetected, the planted log(0) makes the loss NaN
    with xg.detect_anomaly(), pytest.raises(xg.AnomalyError) as info:
        with_planted_log(net, x)
    e = info.value
    assert e.op == "log" and e.phase == "forward"
    line = line_of("PLANTED-LOG")
    msg = str(e)
    assert "forward of 'log' produced -Inf" in msg
    assert f"'log' was called at {HERE}:{line}, in with_planted_log" in msg
    assert "y = xg.log(r)" in msg                                 # the source line is shown
    assert "All its inputs were finite, so 'log' itself made" in msg
    assert f"{device}" in msg and "float32" in msg
    assert frames_in_this_file(e.stack)[-1].lineno == line       # .stack holds the whole stack
    assert isinstance(e, FloatingPointError) and isinstance(e, xg.XpgradError)


def test_a_nan_already_in_the_input_data_is_reported_as_coming_from_the_input(device):
    net = deep_net(device)
    data = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    data[2, 4] = np.nan
    x = xg.asarray(data, device=device)
    with xg.detect_anomaly(), pytest.raises(xg.AnomalyError) as info:
        net(x)  # NAN-INPUT
    e = info.value
    assert e.phase == "forward" and e.op == "affine"          # the first op of the first Linear
    msg = str(e)
    assert "input 0: (5, 6) float32" in msg and "NOT finite: 1 of 30 values are non-finite (1 NaN)" in msg
    assert "the first at index (2, 4)" in msg
    assert "the culprit is upstream" in msg and "did not make them" in msg
    assert f"was called at {HERE}:{line_of('NAN-INPUT')}" in msg


def test_a_nan_python_number_operand_is_named():
    x = xg.asarray([1.0, 2.0])
    with xg.detect_anomaly(), pytest.raises(xg.AnomalyError, match=r"input 1: float nan, NOT finite"):
        x * float("nan")


# ---------------------------------------------------------------- backward

def test_backward_names_sqrt_and_its_forward_stack(device):
    net, x = deep_net(device), inputs(device)
    with xg.detect_anomaly():
        loss = with_planted_sqrt(net, x)
        assert np.isfinite(float(loss))                    # the forward is fine: nothing raised
        with pytest.raises(xg.AnomalyError) as info:
            loss.backward()  # THE-BACKWARD
    e = info.value
    assert e.op == "sqrt" and e.phase == "backward"
    msg = str(e)
    assert "the backward (VJP) of 'sqrt' produced Inf in the gradient of its input 0 ((5, 6) float32" in msg
    assert "The incoming gradient (the cotangent of its output) was finite" in msg
    line = line_of("PLANTED-SQRT")
    assert f"The forward call was at:\n'sqrt' was called at {HERE}:{line}, in with_planted_sqrt" in msg
    assert frames_in_this_file(e.stack)[-1].lineno == line   # .stack: the forward call's stack
    # and Python's own traceback shows where backward() was called
    assert any(f.lineno == line_of("THE-BACKWARD") for f in traceback.extract_tb(info.tb))


def test_backward_without_detection_silently_gives_nan_gradients(device):
    net, x = deep_net(device), inputs(device)
    with_planted_sqrt(net, x).backward()
    w = net[0].weight.grad.numpy()
    assert not np.all(np.isfinite(w))


def test_backward_overflow_of_log_in_float32_is_named():
    # log(1e-39) = -89.8 is finite; its gradient 1/x = 1e39 overflows float32
    x = xg.asarray(np.array([1e-39, 1.0], dtype=np.float32), requires_grad=True)
    with xg.detect_anomaly():
        y = xg.log(x * 1.0)
        assert np.all(np.isfinite(y.numpy()))
        with pytest.raises(xg.AnomalyError, match=r"the backward \(VJP\) of 'log' produced Inf") as info:
            xg.sum(y).backward()
    assert "1 of 2 values are non-finite (1 +Inf), the first at index (0,)" in str(info.value)


def test_backward_under_create_graph_names_the_op_whose_vjp_failed():
    x = xg.asarray([0.0, 4.0], requires_grad=True)
    with xg.detect_anomaly():
        y = xg.sum(xg.sqrt(x * 1.0))
        with pytest.raises(xg.AnomalyError) as info:
            xg.autograd.grad(y, x, create_graph=True)
    e = info.value
    assert e.op == "sqrt" and e.phase == "backward"
    assert "the backward (VJP) of 'sqrt' produced Inf while computing 'divide'" in str(e)


def test_a_non_finite_cotangent_given_to_backward_is_reported_as_given():
    x = xg.asarray([1.0, 2.0], requires_grad=True)
    with xg.detect_anomaly():
        y = x * 2.0
        with pytest.raises(xg.AnomalyError) as info:
            y.backward(xg.asarray([np.nan, 1.0]))
    msg = str(info.value)
    assert info.value.op == "multiply"
    assert "The incoming gradient (the cotangent of its output) was already non-finite" in msg
    assert "given to backward()" in msg


def test_forward_outside_the_block_backward_inside_says_the_stack_is_missing():
    x = xg.asarray([0.0, 1.0], requires_grad=True)
    loss = xg.sum(xg.sqrt(x * 1.0))
    with xg.detect_anomaly(), pytest.raises(xg.AnomalyError) as info:
        loss.backward()
    assert info.value.stack is None
    assert "the forward pass ran outside detect_anomaly" in str(info.value)


def test_forward_mode_names_the_op_whose_jvp_failed():
    with xg.detect_anomaly(), pytest.raises(xg.AnomalyError) as info:
        xg.jvp(xg.sqrt, (xg.asarray([0.0, 1.0]),), (xg.asarray([1.0, 1.0]),))
    assert info.value.op == "sqrt"
    assert "forward-mode derivative (JVP) of 'sqrt'" in str(info.value)


# ---------------------------------------------------------------- no false positives, same numbers

def small_cnn(device: str) -> nn.Module:
    xg.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.25), nn.Linear(4 * 4 * 4, 10),
    ).to(device=device)


def train_steps(device: str, anomaly_on: bool, steps: int = 2) -> list:
    model = small_cnn(device)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    x = xg.asarray(rng.random((8, 1, 8, 8)).astype(np.float32), device=device)
    y = xg.asarray(rng.integers(0, 10, 8), device=device)
    xg.manual_seed(4)   # the dropout masks
    with xg.set_detect_anomaly(anomaly_on):
        for _ in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
    return [p.numpy().copy() for p in model.parameters()]


def test_a_normal_training_step_raises_nothing_and_computes_the_same_numbers(device):
    with_detection = train_steps(device, True)
    without = train_steps(device, False)
    for a, b in zip(with_detection, without):
        assert np.all(np.isfinite(a))
        np.testing.assert_array_equal(a, b)       # detection only reads: bit for bit the same step


def test_integer_and_boolean_outputs_are_not_checked():
    x = xg.asarray([1.0, -2.0, 3.0])
    with xg.detect_anomaly():
        assert int(xg.argmax(x)) == 2
        assert (x > 0).tolist() == [True, False, True]


def test_complex_outputs_are_checked():
    z = xg.asarray(np.array([1 + 1j, 0j]))
    with xg.detect_anomaly(), pytest.raises(xg.AnomalyError, match="'log' produced"):
        xg.log(z)


# ---------------------------------------------------------------- modes, scope, threads

def test_check_inf_off_lets_inf_through_but_not_nan():
    x = xg.asarray([0.0, 1.0])
    with xg.detect_anomaly(check_inf=False):
        assert xg.log(x).tolist()[0] == -np.inf
        with pytest.raises(xg.AnomalyError, match="produced NaN"):
            xg.sqrt(x - 1.0)
    with xg.detect_anomaly(check_nan=False):
        assert np.isnan(xg.sqrt(x - 1.0).tolist()[0])
        with pytest.raises(xg.AnomalyError, match="produced -Inf"):
            xg.log(x)


def test_context_restores_and_nests():
    x = xg.asarray([0.0])
    assert not anomaly.is_anomaly_enabled() and observers() == ()
    with xg.detect_anomaly():
        assert anomaly.is_anomaly_enabled() and len(observers()) == 1
        with xg.detect_anomaly(check_inf=False):
            assert len(observers()) == 1             # one observer; the inner block changed its checks
            xg.log(x)
        with pytest.raises(xg.AnomalyError):
            xg.log(x)                                 # the outer block's checks are back
    assert not anomaly.is_anomaly_enabled() and observers() == ()
    xg.log(x)                                         # off again: no error
    with pytest.raises(KeyError):                     # an exception leaving the block still restores
        with xg.detect_anomaly():
            raise KeyError("boom")
    assert observers() == ()


def test_set_detect_anomaly_as_a_call_and_as_a_context():
    x = xg.asarray([0.0])
    xg.set_detect_anomaly(True)
    try:
        assert anomaly.is_anomaly_enabled()
        with pytest.raises(xg.AnomalyError):
            xg.log(x)
        with xg.set_detect_anomaly(False):
            xg.log(x)
        assert anomaly.is_anomaly_enabled()
    finally:
        xg.set_detect_anomaly(False)
    assert observers() == ()


def test_decorator_form():
    @xg.detect_anomaly()
    def step(v):
        return xg.sum(xg.log(v))

    assert step(xg.asarray([1.0, 1.0])).tolist() == 0.0
    with pytest.raises(xg.AnomalyError, match="'log'"):
        step(xg.asarray([0.0]))
    assert not anomaly.is_anomaly_enabled()
    assert step.__name__ == "step"
    with pytest.raises(TypeError, match="with parentheses"):
        xg.detect_anomaly(lambda v: v)


def test_detection_is_thread_local():
    x = xg.asarray([0.0])
    seen = {}

    def other():
        seen["enabled"] = anomaly.is_anomaly_enabled()
        seen["value"] = xg.log(x).tolist()            # not checked in this thread

    with xg.detect_anomaly():
        t = threading.Thread(target=other)
        t.start()
        t.join(30)
    assert seen == {"enabled": False, "value": [-np.inf]}

    errors = []

    def checked():
        try:
            with xg.detect_anomaly():
                xg.log(x)
        except xg.AnomalyError as e:
            errors.append(e.op)

    t = threading.Thread(target=checked)
    t.start()
    t.join(30)
    assert errors == ["log"] and not anomaly.is_anomaly_enabled()
    xg.log(x)   # the other thread's block left this thread alone


def test_public_names():
    assert xg.detect_anomaly is anomaly.detect_anomaly
    assert xg.set_detect_anomaly is anomaly.set_detect_anomaly


def test_composes_with_checkpointing():
    # the region is recomputed during backward; the recomputed sqrt is checked, with the region's line
    x = xg.asarray([0.0, 4.0], requires_grad=True)

    def region(v):
        return xg.sqrt(v * 1.0)  # SQRT-IN-REGION

    with xg.detect_anomaly():
        loss = xg.sum(xg.checkpoint(region, x))
        with pytest.raises(xg.AnomalyError) as info:
            loss.backward()
    assert info.value.op == "sqrt" and info.value.phase == "backward"
    assert f"'sqrt' was called at {HERE}:{line_of('SQRT-IN-REGION')}, in region" in str(info.value)
