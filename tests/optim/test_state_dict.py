"""Optimizer state dicts: PyTorch's layout, exact resumption, and loads that refuse what does not fit."""

import copy
import json

import numpy as np
import pytest

import xpgrad as xg
from xpgrad.optim import SGD, Adagrad, Adam, AdamW, RMSprop

CONFIGS = {
    "sgd-momentum": (SGD, dict(lr=0.1, momentum=0.9, dampening=0.1)),
    "sgd-nesterov": (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    "adam-amsgrad": (Adam, dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    "adamw": (AdamW, dict(lr=0.05, betas=(0.8, 0.95))),
    "adagrad": (Adagrad, dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1)),
    "rmsprop-centered": (RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
}
RNG = np.random.default_rng(3)
INIT = [RNG.normal(size=(3, 2)), RNG.normal(size=(2,)), RNG.normal(size=(4,))]


def make(cls, hyper, values=INIT, **override):
    params = [xg.asarray(np.array(v, dtype=np.float64), requires_grad=True) for v in values]
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": hyper["lr"] / 2}]
    opt = cls(groups, **{**hyper, **override})
    return params, opt


def train(params, opt, steps, t0=0):
    for t in range(t0, t0 + steps):
        for i, p in enumerate(params):
            p.grad = xg.asarray(p.numpy() * (i + 1) + np.sin(t + np.arange(p.size)).reshape(p.shape))
        opt.step()


def as_saved(sd):
    """What a trip through safetensors + JSON metadata gives: NumPy-backed tensors, str keys, lists."""
    state = {str(k): {n: (xg.asarray(np.array(v.numpy())) if isinstance(v, xg.Tensor) else v)
                      for n, v in s.items()} for k, s in sd["state"].items()}
    return {"state": state, "param_groups": json.loads(json.dumps(sd["param_groups"]))}


def snapshot(opt):
    state = {id(p): {k: (v.numpy().copy() if isinstance(v, xg.Tensor) else v) for k, v in s.items()}
             for p, s in opt.state.items()}
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    return copy.deepcopy(groups), state


def same(a, b):
    ga, sa = a
    gb, sb = b
    assert ga == gb and sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].keys() == sb[k].keys()
        for n in sa[k]:
            assert np.array_equal(sa[k][n], sb[k][n])


def test_layout_is_pytorchs():
    params, opt = make(Adam, dict(lr=0.1, amsgrad=True))
    train(params, opt, 2)
    params[1].grad = None
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.05 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert sorted(sd["state"]) == [0, 1, 2]
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][0]["step"] == 2 and isinstance(sd["state"][0]["step"], int)
    assert all(isinstance(v, xg.Tensor) for k, v in sd["state"][2].items() if k != "step")


def test_parameters_without_state_are_left_out():
    params, opt = make(SGD, dict(lr=0.1, momentum=0.9))
    params[0].grad = xg.ones((3, 2), dtype=xg.float64)
    opt.step()
    assert list(opt.state_dict()["state"]) == [0]


@pytest.mark.parametrize("saved", [False, True], ids=["live", "saved-form"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_resuming_mid_trajectory_gives_identical_numbers(name, saved):
    cls, hyper = CONFIGS[name]
    params, opt = make(cls, hyper)
    train(params, opt, 3)
    sd = opt.state_dict()
    # a fresh run from the saved values, built with other hyper-parameters that the load replaces
    params2, opt2 = make(cls, hyper, values=[p.numpy().copy() for p in params], lr=0.9)
    opt2.load_state_dict(as_saved(sd) if saved else sd)
    assert opt2.param_groups[1]["lr"] == hyper["lr"] / 2
    train(params, opt, 4, t0=3)
    train(params2, opt2, 4, t0=3)
    for p, q in zip(params, params2):
        assert np.array_equal(p.numpy(), q.numpy())
    # the loaded state is a copy: the two optimizers never share a buffer
    for p, q in zip(params, params2):
        for k, v in opt.state[p].items():
            if isinstance(v, xg.Tensor):
                assert opt2.state[q][k] is not v and opt2.state[q][k].data is not v.data


def test_load_puts_state_on_the_parameters_dtype():
    params, opt = make(Adam, dict(lr=0.1))
    train(params, opt, 2)
    sd = opt.state_dict()
    p32 = [xg.asarray(p.numpy().astype(np.float32), requires_grad=True) for p in params]
    opt32 = Adam([{"params": p32[:2]}, {"params": p32[2:]}], lr=0.1)
    opt32.load_state_dict(sd)
    for p in p32:
        for k, v in opt32.state[p].items():
            if k != "step":
                assert v.dtype == xg.float32 and v.device == "cpu"


def test_xpgrad_save_round_trip(tmp_path):
    serialization = pytest.importorskip("xpgrad.serialization")
    cls, hyper = CONFIGS["adam-amsgrad"]
    params, opt = make(cls, hyper)
    train(params, opt, 3)
    path = tmp_path / "opt.safetensors"
    serialization.save(opt.state_dict(), path)
    params2, opt2 = make(cls, hyper, values=[p.numpy().copy() for p in params])
    opt2.load_state_dict(serialization.load(path))
    train(params, opt, 2, t0=3)
    train(params2, opt2, 2, t0=3)
    for p, q in zip(params, params2):
        assert np.array_equal(p.numpy(), q.numpy())


# ---------------------------------------------------------------------------
# loads that do not fit: a clear error, and nothing changes
# ---------------------------------------------------------------------------

def _trained(cls=Adam, hyper=None):
    params, opt = make(cls, hyper or dict(lr=0.1, amsgrad=True))
    train(params, opt, 2)
    return params, opt


def _bad_state_dicts():
    _, src = _trained()
    good = src.state_dict()
    sgd_params, sgd = _trained(SGD, dict(lr=0.1, momentum=0.9))
    out = {}
    out["group count"] = ({"state": good["state"], "param_groups": good["param_groups"][:1]},
                          xg.OpError, "2 parameter group")
    groups = copy.deepcopy(good["param_groups"])
    groups[0]["params"] = [0]
    out["group size"] = ({"state": good["state"], "param_groups": groups}, xg.OpError, "has 2 parameter")
    state = dict(good["state"])
    state[1] = {**state[1], "exp_avg": xg.zeros((5,), dtype=xg.float64)}
    out["state shape"] = ({"state": state, "param_groups": good["param_groups"]}, xg.ShapeError,
                          r"'exp_avg' of parameter 1 has shape \(5,\).*shape \(2,\)")
    out["other optimizer"] = (sgd.state_dict(), xg.OpError, "momentum_buffer.*Adam keeps.*another kind")
    state = dict(good["state"])
    state[7] = state[0]
    out["unknown index"] = ({"state": state, "param_groups": good["param_groups"]}, xg.OpError, "parameter 7")
    groups = copy.deepcopy(good["param_groups"])
    groups[1]["lr"] = -1.0
    out["bad hyper-parameter"] = ({"state": good["state"], "param_groups": groups}, xg.OpError, "lr=-1")
    state = dict(good["state"])
    state[2] = {**state[2], "step": -3}
    out["bad step"] = ({"state": state, "param_groups": good["param_groups"]}, xg.OpError, "step count")
    out["not a state dict"] = ({"params": []}, xg.OpError, "'state' and 'param_groups'")
    return out


BAD = _bad_state_dicts()


def test_adam_state_is_refused_by_sgd():
    _, adam = _trained()
    _, sgd = _trained(SGD, dict(lr=0.1, momentum=0.9))
    before = snapshot(sgd)
    with pytest.raises(xg.OpError, match=r"SGD keeps \['momentum_buffer'\]"):
        sgd.load_state_dict(adam.state_dict())
    same(before, snapshot(sgd))


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_state_dict_that_does_not_fit_is_refused_and_changes_nothing(case):
    sd, err, pattern = BAD[case]
    params, opt = _trained()
    before = snapshot(opt)
    values = [p.numpy().copy() for p in params]
    with pytest.raises(err, match=pattern):
        opt.load_state_dict(sd)
    same(before, snapshot(opt))
    assert all(np.array_equal(p.numpy(), v) for p, v in zip(params, values))
    # and it still trains as before
    train(params, opt, 1)


def test_group_dicts_are_updated_in_place():
    params, opt = _trained()
    group = opt.param_groups[0]
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.123
    opt.load_state_dict(sd)
    assert opt.param_groups[0] is group and group["lr"] == 0.123 and group["params"] == params[:2]
