"""Optimizers and clipping on opencl:0 and fpga:0: same numbers as the cpu, on the device, no host reads."""

import numpy as np
import pytest

import xpgrad as xg
from xpgrad.optim import SGD, Adagrad, Adam, AdamW, RMSprop, clip_grad_norm_, clip_grad_value_

CASES = {
    "sgd-nesterov": (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "sgd-maximize": (SGD, dict(lr=0.1, momentum=0.5, dampening=0.2, maximize=True)),
    "adam-amsgrad": (Adam, dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    "adamw": (AdamW, dict(lr=0.05, maximize=True)),
    "adagrad": (Adagrad, dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1, weight_decay=0.1)),
    "rmsprop-centered": (RMSprop, dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
}
RNG = np.random.default_rng(5)
INIT = [RNG.normal(size=(4, 3)).astype(np.float32), RNG.normal(size=(3,)).astype(np.float32)]
GRADS = [[RNG.normal(size=x.shape).astype(np.float32) for x in INIT] for _ in range(4)]


def host_reads(device):
    """How many device-to-host reads happened so far on ``device``."""
    if device.startswith("opencl"):
        from xpgrad.backends.opencl.array import host_transfers

        return host_transfers()
    from xpgrad.backends.fpga.array import get_device

    return get_device(int(device.split(":")[1])).transfers["to_host"]


def run(cls, hyper, device, count=False):
    params = [xg.asarray(x.copy(), device=device, requires_grad=True) for x in INIT]
    opt = cls([{"params": params[:1]}, {"params": params[1:], "lr": hyper["lr"] * 2}], **hyper)
    reads = 0
    for grads in GRADS:
        for p, g in zip(params, grads):
            p.grad = xg.asarray(g.copy(), device=device)
        before = host_reads(device) if count else 0
        opt.step()
        reads += (host_reads(device) - before) if count else 0
    return params, opt, reads


@pytest.mark.parametrize("case", sorted(CASES))
def test_steps_agree_with_cpu_and_stay_on_device(case, accel):
    cls, hyper = CASES[case]
    want, _, _ = run(cls, hyper, "cpu")
    got, opt, reads = run(cls, hyper, accel, count=True)
    assert reads == 0, f"{case} read {reads} value(s) back from {accel} during step()"
    for p, q in zip(got, want):
        assert p.device == accel and p.dtype == xg.float32
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-5, atol=1e-6)
    for p in got:
        for k, v in opt.state[p].items():
            assert k == "step" or (v.device == accel and v.dtype == xg.float32)


def test_state_saved_on_cpu_loads_onto_the_device(accel):
    cls, hyper = CASES["adam-amsgrad"]
    cpu_params, cpu_opt, _ = run(cls, hyper, "cpu")
    params = [xg.asarray(p.numpy().copy(), device=accel, requires_grad=True) for p in cpu_params]
    opt = cls([{"params": params[:1]}, {"params": params[1:]}], **hyper)
    opt.load_state_dict(cpu_opt.state_dict())
    for p in params:
        assert all(k == "step" or v.device == accel for k, v in opt.state[p].items())
    for ps, o in ((cpu_params, cpu_opt), (params, opt)):
        for p, g in zip(ps, GRADS[0]):
            p.grad = xg.asarray(g.copy(), device=p.device)
        o.step()
    for p, q in zip(params, cpu_params):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-5, atol=1e-6)


def test_step_raises_in_place_error_for_a_saved_graph(accel):
    w = xg.asarray([1.0, 2.0], device=accel, dtype=xg.float32, requires_grad=True)
    loss = (w * w).sum()
    opt = SGD([w], lr=0.1)
    w.grad = xg.ones(2, device=accel, dtype=xg.float32)
    data = w.data
    opt.step()
    assert w.data is data  # updated in place on the device
    with pytest.raises(xg.InplaceError):
        loss.backward()


def test_clipping_on_device(accel):
    grads = GRADS[0]
    ps = []
    for g in grads:
        p = xg.zeros(g.shape, dtype=xg.float32, device=accel, requires_grad=True)
        p.grad = xg.asarray(g, device=accel)
        ps.append(p)
    before = host_reads(accel)
    total = clip_grad_norm_(ps, 0.5)
    clip_grad_value_(ps, 0.05)
    assert host_reads(accel) == before  # neither reads the norm back
    assert total.device == accel
    want = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads))
    assert float(total) == pytest.approx(want, rel=1e-5)
    for p, g in zip(ps, grads):
        np.testing.assert_allclose(p.grad.numpy(), np.clip(g * 0.5 / (want + 1e-6), -0.05, 0.05),
                                   rtol=1e-5, atol=1e-7)
    inf = clip_grad_norm_(ps, 1.0, norm_type="inf")
    assert float(inf) == pytest.approx(0.05, rel=1e-6)


def test_zero_grad_in_place_on_device(accel):
    w = xg.asarray([1.0, 2.0], device=accel, dtype=xg.float32, requires_grad=True)
    w.grad = xg.asarray([3.0, float("nan")], device=accel, dtype=xg.float32)
    SGD([w]).zero_grad(set_to_none=False)
    assert w.grad.device == accel and w.grad.tolist() == [0.0, 0.0]


def test_gradient_on_another_device_is_refused(accel):
    w = xg.asarray([1.0, 2.0], device=accel, dtype=xg.float32, requires_grad=True)
    w.grad = xg.asarray([1.0, 1.0], dtype=xg.float32)
    with pytest.raises(xg.DeviceMismatchError, match="device"):
        Adam([w]).step()
    assert w.tolist() == [1.0, 2.0]
